/* agent/acme_parse.c and agent/http.c's header reading on what a CA answers: Pebble-shaped
 * documents, wrong types and missing fields, and the regressions tests/fuzz/fuzz_acme.c and
 * review found (a huge Retry-After overflowing, a 2^32-second ARI window dividing by zero). */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/acme_parse.h"
#include "agent/http.h"
#include "tests/unit/unit.h"

static const char pebble_order[] =
    "{\"status\":\"pending\",\"expires\":\"2026-12-05T19:50:00Z\","
    "\"identifiers\":[{\"type\":\"dns\",\"value\":\"www.example.com\"}],"
    "\"finalize\":\"https://ca/finalize-order/Cm3\","
    "\"authorizations\":[\"https://ca/authZ/a1\",\"https://ca/authZ/a2\"]}";

static const char pebble_authz[] =
    "{\"status\":\"invalid\",\"identifier\":{\"type\":\"dns\",\"value\":\"example.com\"},"
    "\"challenges\":["
    "{\"type\":\"http-01\",\"url\":\"https://ca/chalZ/1\",\"token\":\"tok1\","
    "\"error\":{\"detail\":\"first\"}},"
    "{\"type\":\"dns-01\",\"url\":\"https://ca/chalZ/2\",\"token\":\"tok2\"},"
    "{\"type\":\"http-01\",\"url\":\"https://ca/chalZ/3\",\"token\":\"tok3\"}]}";

static void
test_problem(void)
{
	char type[64], detail[256], t4[4], d8[8];

	acme_problem("{\"type\":\"urn:ietf:params:acme:error:badNonce\",\"detail\":\"bad \\\"n\\\"\\n\"}",
	    400, NULL, type, sizeof(type), detail, sizeof(detail));
	UNIT_CHECK_STR(type, "badNonce");
	UNIT_CHECK_STR(detail, "bad \\x22n\\x22\\x0a");
	/* Another namespace is kept whole; no detail: the status, or the transport error. */
	acme_problem("{\"type\":\"about:blank\"}", 404, "x", type, sizeof(type), detail,
	    sizeof(detail));
	UNIT_CHECK_STR(type, "about:blank");
	UNIT_CHECK_STR(detail, "HTTP 404");
	acme_problem(NULL, 0, "Connection refused", type, sizeof(type), detail, sizeof(detail));
	UNIT_CHECK_STR(type, "");
	UNIT_CHECK_STR(detail, "Connection refused");
	acme_problem(NULL, 0, NULL, type, sizeof(type), detail, sizeof(detail));
	UNIT_CHECK_STR(detail, "");
	/* Wrong types count as absent; short buffers truncate. */
	acme_problem("{\"type\":7,\"detail\":[]}", 500, NULL, type, sizeof(type), detail,
	    sizeof(detail));
	UNIT_CHECK_STR(type, "");
	UNIT_CHECK_STR(detail, "HTTP 500");
	acme_problem("{\"type\":\"urn:ietf:params:acme:error:rateLimited\",\"detail\":\"\\u00e9\"}",
	    429, NULL, t4, sizeof(t4), d8, sizeof(d8));
	UNIT_CHECK(strlen(t4) < sizeof(t4));
	UNIT_CHECK_STR(d8, "\\xc3...");
	acme_problem("not json \xff", 503, NULL, type, sizeof(type), detail, sizeof(detail));
	UNIT_CHECK_STR(detail, "HTTP 503");
}

static void
test_nonce(void)
{
	char big[258];

	UNIT_CHECK(acme_nonce_ok("TqtZq0DCWcmOl9drAx7ZtQ"));
	UNIT_CHECK(acme_nonce_ok("a-b_c"));
	UNIT_CHECK(!acme_nonce_ok(NULL));
	UNIT_CHECK(!acme_nonce_ok(""));
	UNIT_CHECK(!acme_nonce_ok("a+b/c="));
	UNIT_CHECK(!acme_nonce_ok("a b"));
	memset(big, 'A', 256);
	big[256] = '\0';
	UNIT_CHECK(acme_nonce_ok(big));
	big[256] = 'A';
	big[257] = '\0';
	UNIT_CHECK(!acme_nonce_ok(big));
}

static void
test_directory(void)
{
	json_t *dir = (json_t *)1;

	UNIT_CHECK(acme_directory_parse("{\"newNonce\":\"https://ca/n\",\"newAccount\":"
	    "\"https://ca/a\",\"newOrder\":\"https://ca/o\",\"renewalInfo\":\"https://ca/ri/\","
	    "\"meta\":{\"profiles\":{\"shortlived\":\"6 days\"}}}", &dir) == 0);
	UNIT_CHECK_STR(acme_directory_url(dir, "newOrder"), "https://ca/o");
	UNIT_CHECK_STR(acme_directory_url(dir, "renewalInfo"), "https://ca/ri/");
	UNIT_CHECK(acme_directory_url(dir, "revokeCert") == NULL);
	UNIT_CHECK(acme_directory_has_profile(dir, "shortlived"));
	UNIT_CHECK(!acme_directory_has_profile(dir, "tlsserver"));
	UNIT_CHECK(!acme_directory_has_profile(dir, NULL));
	json_decref(dir);
	UNIT_CHECK(acme_directory_url(NULL, "newOrder") == NULL);
	UNIT_CHECK(!acme_directory_has_profile(NULL, "x"));
	/* Each of the three URLs required, as strings; an object at the top. */
	UNIT_CHECK(acme_directory_parse("{\"newNonce\":\"n\",\"newAccount\":\"a\"}", &dir) == -1);
	UNIT_CHECK(dir == NULL);
	UNIT_CHECK(acme_directory_parse("{\"newNonce\":\"n\",\"newAccount\":\"a\",\"newOrder\":1}",
	    &dir) == -1);
	UNIT_CHECK(acme_directory_parse("[\"newNonce\",\"newAccount\",\"newOrder\"]", &dir) == -1);
	UNIT_CHECK(acme_directory_parse("<html>502</html>", &dir) == -1);
	UNIT_CHECK(acme_directory_parse(NULL, &dir) == -1);
	UNIT_CHECK(dir == NULL);
}

static void
test_order(void)
{
	struct acme_order_doc d;

	acme_order_parse(pebble_order, &d);
	UNIT_CHECK(d.json != NULL);
	UNIT_CHECK_STR(d.status, "pending");
	UNIT_CHECK_STR(d.finalize, "https://ca/finalize-order/Cm3");
	UNIT_CHECK(d.certificate == NULL);
	UNIT_CHECK(json_array_size(d.authorizations) == 2);
	UNIT_CHECK_STR(json_string_value(json_array_get(d.authorizations, 1)), "https://ca/authZ/a2");
	acme_order_doc_clear(&d);
	UNIT_CHECK(d.json == NULL && d.status == NULL);

	acme_order_parse("{\"status\":\"valid\",\"certificate\":\"https://ca/certZ/1\"}", &d);
	UNIT_CHECK_STR(d.certificate, "https://ca/certZ/1");
	UNIT_CHECK(d.authorizations == NULL);
	acme_order_doc_clear(&d);

	acme_order_parse("{\"status\":1,\"finalize\":[],\"certificate\":{},\"authorizations\":"
	    "\"https://ca/authZ/a1\"}", &d);
	UNIT_CHECK(d.json != NULL);
	UNIT_CHECK(d.status == NULL && d.finalize == NULL && d.certificate == NULL);
	UNIT_CHECK(d.authorizations == NULL);
	acme_order_doc_clear(&d);

	acme_order_parse("not JSON", &d);
	UNIT_CHECK(d.json == NULL && d.status == NULL);
	acme_order_doc_clear(&d);
	acme_order_parse(NULL, &d);
	UNIT_CHECK(d.json == NULL);
	acme_order_doc_clear(&d);
}

static void
test_authz(void)
{
	struct acme_authz_doc d;

	/* The last challenge of the type; the last error detail among them. */
	acme_authz_parse(pebble_authz, "http-01", &d);
	UNIT_CHECK_STR(d.status, "invalid");
	UNIT_CHECK_STR(d.identifier, "example.com");
	UNIT_CHECK(d.chal_found);
	UNIT_CHECK_STR(d.chal_token, "tok3");
	UNIT_CHECK_STR(d.chal_url, "https://ca/chalZ/3");
	UNIT_CHECK_STR(d.chal_error, "first");
	acme_authz_doc_clear(&d);

	acme_authz_parse(pebble_authz, "dns-01", &d);
	UNIT_CHECK(d.chal_found);
	UNIT_CHECK_STR(d.chal_token, "tok2");
	UNIT_CHECK(d.chal_error == NULL);
	acme_authz_doc_clear(&d);

	acme_authz_parse(pebble_authz, "tls-alpn-01", &d);
	UNIT_CHECK(!d.chal_found && d.chal_token == NULL && d.chal_url == NULL);
	acme_authz_doc_clear(&d);

	/* Offered but malformed: found, with no token or URL (acme.c then fails the order). */
	acme_authz_parse("{\"status\":\"pending\",\"identifier\":[],\"challenges\":[1,null,"
	    "{\"type\":\"http-01\",\"token\":5,\"url\":[],\"error\":\"x\"}]}", "http-01", &d);
	UNIT_CHECK(d.chal_found);
	UNIT_CHECK(d.chal_token == NULL && d.chal_url == NULL && d.chal_error == NULL);
	UNIT_CHECK(d.identifier == NULL);
	acme_authz_doc_clear(&d);

	acme_authz_parse("{\"status\":\"pending\",\"challenges\":{\"type\":\"http-01\"}}",
	    "http-01", &d);
	UNIT_CHECK(!d.chal_found);
	acme_authz_doc_clear(&d);
}

static void
test_renewal_info(void)
{
	time_t s, e;

	UNIT_CHECK(acme_rfc3339("2025-01-02T04:00:00Z") == 1735790400);
	UNIT_CHECK(acme_rfc3339("2025-01-02T04:00:00.123456z") == 1735790400);
	UNIT_CHECK(acme_rfc3339("2025-01-02T04:00:00+01:00") == -1);
	UNIT_CHECK(acme_rfc3339("2025-01-02T04:00:00Z junk") == -1);
	UNIT_CHECK(acme_rfc3339("2025-13-02T04:00:00Z") == -1);
	UNIT_CHECK(acme_rfc3339(NULL) == -1);

	UNIT_CHECK(acme_renewal_info_parse("{\"suggestedWindow\":{\"start\":"
	    "\"2025-01-02T04:00:00Z\",\"end\":\"2025-01-03T04:00:00Z\"},\"explanationURL\":\"x\"}",
	    &s, &e) == 0);
	UNIT_CHECK(s == 1735790400 && e == 1735790400 + 86400);
	/* An empty or inverted window, a missing end, no JSON: unusable. */
	UNIT_CHECK(acme_renewal_info_parse("{\"suggestedWindow\":{\"start\":"
	    "\"2025-01-02T04:00:00Z\",\"end\":\"2025-01-02T04:00:00Z\"}}", &s, &e) == -1);
	UNIT_CHECK(acme_renewal_info_parse("{\"suggestedWindow\":{\"start\":"
	    "\"2025-01-03T04:00:00Z\",\"end\":\"2025-01-02T04:00:00Z\"}}", &s, &e) == -1);
	UNIT_CHECK(acme_renewal_info_parse("{\"suggestedWindow\":{\"start\":"
	    "\"2025-01-02T04:00:00Z\"}}", &s, &e) == -1);
	UNIT_CHECK(acme_renewal_info_parse("{\"suggestedWindow\":[1,2]}", &s, &e) == -1);
	UNIT_CHECK(acme_renewal_info_parse(NULL, &s, &e) == -1);
}

/* Regression: a window of exactly 2^32 seconds made the pick a division by zero (SIGFPE). */
static void
test_renewal_pick(void)
{
	time_t s, e;

	UNIT_CHECK(acme_renewal_info_parse("{\"suggestedWindow\":{\"start\":"
	    "\"1970-01-01T00:00:00Z\",\"end\":\"2106-02-07T06:28:16Z\"}}", &s, &e) == 0);
	UNIT_CHECK(e - s == (time_t)1 << 32);
	UNIT_CHECK(acme_renewal_pick(s, e, 0) == s);
	UNIT_CHECK(acme_renewal_pick(s, e, UINT32_MAX) == s + UINT32_MAX);
	UNIT_CHECK(acme_renewal_pick(100, 101, UINT32_MAX) == 100);
	UNIT_CHECK(acme_renewal_pick(100, 110, 25) == 105);
}

/* Regression: a Retry-After near LONG_MAX overflowed in the poll delay (UBSan) and in the
 * back-off (the time plus it); 4294968 s wrapped to 704 ms. */
static void
test_poll_ms(void)
{
	UNIT_CHECK(acme_poll_ms(-1, 1000) == 1000);
	UNIT_CHECK(acme_poll_ms(-1, 0) == ACME_POLL_MIN_MS);
	UNIT_CHECK(acme_poll_ms(-1, 60000) == ACME_POLL_MAX_MS);
	UNIT_CHECK(acme_poll_ms(0, 1000) == ACME_POLL_MIN_MS);
	UNIT_CHECK(acme_poll_ms(3, 1000) == 3000);
	UNIT_CHECK(acme_poll_ms(10, 1000) == ACME_POLL_MAX_MS);
	UNIT_CHECK(acme_poll_ms(4294968, 1000) == ACME_POLL_MAX_MS);
	UNIT_CHECK(acme_poll_ms(LONG_MAX, 1000) == ACME_POLL_MAX_MS);
}

static long
retry_after(const char *line)
{
	struct http_resp r = { .retry_after_s = -1 };

	http_resp_header(&r, line, strlen(line));
	return r.retry_after_s;
}

static void
test_headers(void)
{
	struct http_resp r = { .retry_after_s = -1 };
	static const char *const lines[] = {
		"HTTP/1.1 201 Created\r\n", "location:  https://ca/my-order/1 \r\n",
		"Replay-Nonce: first\r\n", "REPLAY-NONCE:\tTqtZq0DCWcmOl9drAx7ZtQ\r\n",
		"Locations: https://wrong\r\n", "Content-Type: application/json\r\n", "\r\n",
	};

	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		http_resp_header(&r, lines[i], strlen(lines[i]));
	UNIT_CHECK_STR(r.location, "https://ca/my-order/1");
	UNIT_CHECK_STR(r.nonce, "TqtZq0DCWcmOl9drAx7ZtQ");
	UNIT_CHECK_STR(r.content_type, "application/json");
	UNIT_CHECK(r.retry_after_s == -1);
	free(r.location);
	free(r.nonce);
	free(r.content_type);

	UNIT_CHECK(retry_after("Retry-After: 30\r\n") == 30);
	UNIT_CHECK(retry_after("retry-after:0") == 0);
	UNIT_CHECK(retry_after("Retry-After: 30s\r\n") == -1);
	UNIT_CHECK(retry_after("Retry-After: -5\r\n") == -1);
	UNIT_CHECK(retry_after("Retry-After: Sun, 06 Nov 1994 08:49:37 GMT\r\n") == 0);
	UNIT_CHECK(retry_after("Retry-After: soon\r\n") == -1);
	/* Bounded, however far the CA says. */
	UNIT_CHECK(retry_after("Retry-After: 2592001\r\n") == HTTP_RETRY_AFTER_MAX);
	UNIT_CHECK(retry_after("Retry-After: 99999999999999999999\r\n") == HTTP_RETRY_AFTER_MAX);
	UNIT_CHECK(retry_after("Retry-After: Fri, 31 Dec 9999 23:59:59 GMT\r\n") ==
	    HTTP_RETRY_AFTER_MAX);
}

int
main(void)
{
	UNIT_RUN(test_problem);
	UNIT_RUN(test_nonce);
	UNIT_RUN(test_directory);
	UNIT_RUN(test_order);
	UNIT_RUN(test_authz);
	UNIT_RUN(test_renewal_info);
	UNIT_RUN(test_renewal_pick);
	UNIT_RUN(test_poll_ms);
	UNIT_RUN(test_headers);
	return unit_summary();
}
