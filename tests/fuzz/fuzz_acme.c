/* libFuzzer target for everything an ACME CA answers: each input is read as every kind of
 * response body (problem document, directory, order, authorization with each challenge type,
 * renewalInfo: agent/acme_parse.c), as a full-chain PEM (agent/acme_cert.c), and line by line
 * as response headers (Location, Replay-Nonce, Retry-After: agent/http.c) whose values then
 * go where acme.c puts them. No crash, leak or UB; outputs bounded and consistent.
 * Seeds: tests/fuzz/corpus/acme/. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#include "agent/acme_cert.h"
#include "agent/acme_parse.h"
#include "agent/http.h"
#include "agent/log.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const chal_types[] = { "http-01", "tls-alpn-01", "dns-01" };
static const long statuses[] = { 0, 200, 201, 400, 403, 404, 429, 500, 503 };

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	FILE *null = fopen("/dev/null", "w");

	(void)argc;
	(void)argv;
	/* jfe logs every refused PEM through stdio's stderr: at thousands of runs a second that
	 * floods the run log. Sanitizer and libFuzzer reports write to fd 2 themselves and still
	 * show. */
	if (null)
		stderr = null;
	return 0;
}

static void
fuzz_problem(const char *body, long status)
{
	char type[64], detail[256], t1[1], d1[5];

	acme_problem(body, status, "transport error", type, sizeof(type), detail, sizeof(detail));
	if (strlen(type) >= sizeof(type) || strlen(detail) >= sizeof(detail))
		abort();
	acme_problem(body, status, NULL, t1, sizeof(t1), d1, sizeof(d1));
	if (t1[0] != '\0' || strlen(d1) >= sizeof(d1))
		abort();
}

static void
fuzz_directory(const char *body)
{
	json_t *dir = NULL;

	if (acme_directory_parse(body, &dir) != 0) {
		if (dir != NULL)
			abort();
		return;
	}
	if (acme_directory_url(dir, "newNonce") == NULL || acme_directory_url(dir, "newOrder") ==
	    NULL || acme_directory_url(dir, "newAccount") == NULL)
		abort();
	(void)acme_directory_url(dir, "renewalInfo");
	(void)acme_directory_url(dir, "revokeCert");
	(void)acme_directory_has_profile(dir, "tlsserver");
	(void)acme_directory_has_profile(dir, NULL);
	json_decref(dir);
}

static void
fuzz_order(const char *body)
{
	struct acme_order_doc d;
	json_t *authz, *u;
	size_t i;

	acme_order_parse(body, &d);
	if (d.json == NULL && (d.status || d.finalize || d.certificate || d.authorizations))
		abort();
	if (d.authorizations && !json_is_array(d.authorizations))
		abort();
	/* acme.c keeps the array beyond the document and takes each element as a URL. */
	authz = json_incref(d.authorizations);
	acme_order_doc_clear(&d);
	json_array_foreach(authz, i, u)
		(void)json_string_value(u);
	json_decref(authz);
}

static void
fuzz_authz(const char *body)
{
	for (size_t i = 0; i < sizeof(chal_types) / sizeof(chal_types[0]); i++) {
		struct acme_authz_doc d;
		char rr[300], esc[300];

		acme_authz_parse(body, chal_types[i], &d);
		if (!d.chal_found && (d.chal_token || d.chal_url))
			abort();
		snprintf(rr, sizeof(rr), "_acme-challenge.%s", d.identifier ? d.identifier : "x");
		if (d.chal_error)
			log_escape(esc, sizeof(esc), d.chal_error, strlen(d.chal_error));
		acme_authz_doc_clear(&d);
	}
}

static void
fuzz_renewal(const char *body, const uint8_t *data, size_t size)
{
	time_t start, end, at;
	uint32_t rnd = 0;

	memcpy(&rnd, data, size < sizeof(rnd) ? size : sizeof(rnd));
	if (acme_renewal_info_parse(body, &start, &end) == 0) {
		if (start < 0 || end <= start)
			abort();
		at = acme_renewal_pick(start, end, rnd);
		if (at < start || at >= end)
			abort();
		at = acme_renewal_pick(start, end, UINT32_MAX);
		if (at < start || at >= end)
			abort();
	}
	(void)acme_rfc3339(body);
}

/* Every line as a response header, then what acme.c does with the values. */
static void
fuzz_headers(const char *data, size_t size)
{
	struct http_resp r = { .retry_after_s = -1 };
	size_t i = 0;

	while (i < size) {
		const char *nl = memchr(data + i, '\n', size - i);
		size_t len = nl ? (size_t)(nl - (data + i)) + 1 : size - i;

		http_resp_header(&r, data + i, len);
		i += len;
	}
	/* agent.c adds it to the time: bounded, or that sum overflows. */
	if (r.retry_after_s < -1 || r.retry_after_s > HTTP_RETRY_AFTER_MAX)
		abort();
	{
		unsigned ms = acme_poll_ms(r.retry_after_s, 1000);

		if (ms < ACME_POLL_MIN_MS || ms > ACME_POLL_MAX_MS)
			abort();
	}
	if (r.nonce && acme_nonce_ok(r.nonce) && strlen(r.nonce) > 256)
		abort();
	free(r.location);
	free(r.nonce);
	free(r.content_type);
}

static void
fuzz_chain(const char *body, size_t size)
{
	X509 *leaf = NULL;
	STACK_OF(X509) *chain = NULL;

	if (chain_load_pem(body, size, &leaf, &chain) == 0) {
		if (leaf == NULL || chain == NULL)
			abort();
		(void)X509_get0_pubkey(leaf);
	} else if (leaf != NULL || chain != NULL)
		abort();
	X509_free(leaf);
	sk_X509_pop_free(chain, X509_free);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* As http.c hands a body over: NUL-terminated, possibly with NULs inside. */
	char *body = malloc(size + 1);
	long status = statuses[(size ? data[size - 1] : 0) % (sizeof(statuses) /
	    sizeof(statuses[0]))];

	if (body == NULL)
		return 0;
	memcpy(body, data, size);
	body[size] = '\0';
	fuzz_problem(body, status);
	(void)acme_nonce_ok(body);
	fuzz_directory(body);
	fuzz_order(body);
	fuzz_authz(body);
	fuzz_renewal(body, data, size);
	fuzz_headers(body, size);
	fuzz_chain(body, size);
	free(body);
	return 0;
}
