#include "providers/imds.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>

#include "agent/http.h"
#include "agent/log.h"

#define ENDPOINT_MAX	256
#define REL_PATH_MAX	256	/* a path under /latest/ */
#define TOKEN_MAX	1024	/* AWS's tokens are about 56 characters */
#define TOKEN_TTL_DEFAULT 21600
#define RENEW_MARGIN_MAX_MS 60000
#define DOC_MAX		16384	/* real documents are about 500 bytes */
#define SIG_MAX		16384	/* base64 of a PKCS#7 holding the document: a few KiB */
#define LIST_MAX	8192	/* a listing or a single value */
#define CREDS_MAX	16384	/* JSON with a session token of 1-2 KiB */
#define LINE_MAX_LEN	64	/* one address, MAC or role name per line */
#define ROLE_MAX	64	/* IAM role names: 1..64 characters */
#define WHY_MAX		1024

#define TOKEN_HEADER	"X-aws-ec2-metadata-token"
#define TTL_HEADER	"X-aws-ec2-metadata-token-ttl-seconds"

enum job_kind { JOB_IDENTITY, JOB_ADDRS, JOB_CREDS };

/* One imds_get_*() request: a chain of GETs, one in flight at a time. */
struct job {
	struct imds		*m;
	struct job		*next, *prev;		/* m->jobs */
	enum job_kind		 kind;
	int			 step;
	char			 path[REL_PATH_MAX];	/* of the current GET */
	int			 want_token;		/* waits for token fetch <token_gen> */
	unsigned		 token_gen;
	unsigned		 token_serial;		/* of the token the GET carries */
	int			 retried;		/* this GET renewed the token after a 401 */
	int			 in_flight;
	int			 cancelled;		/* imds_free() ended it while in flight */
	int			 unreachable;		/* it failed for want of any answer */
	imds_identity_cb	 id_cb;
	imds_addrs_cb		 addrs_cb;
	imds_creds_cb		 creds_cb;
	void			*arg;
	/* JOB_IDENTITY */
	char			*doc;
	size_t			 doc_len;
	/* JOB_ADDRS */
	char			*addrs[IMDS_MAX_ADDRS];
	size_t			 naddrs;
	char			 macs[IMDS_MAX_IFACES][18];
	size_t			 nmacs, mac_i;
	/* JOB_CREDS */
	char			 role[ROLE_MAX + 1];
};

struct token_req {
	struct imds		*m;
	unsigned		 gen;
	unsigned		 ttl;
	int64_t			 started_ms;
};

struct imds {
	struct http		*h;
	char			 endpoint[ENDPOINT_MAX];
	char			*cert_file;
	STACK_OF(X509)		*certs;			/* NULL: documents are not verified */
	long			 timeout_ms;
	unsigned		 token_ttl;
	char			 token[TOKEN_MAX + 1];	/* "" when there is none */
	unsigned		 token_serial;		/* bumped for every new token */
	int64_t			 token_expiry_ms;	/* monotonic */
	int			 token_pending;
	unsigned		 token_gen;		/* token fetches started */
	struct job		*jobs;
	/* The owner's reference plus one per HTTP request in flight: http.c keeps calling back
	 * into abandoned requests after imds_free(), so the struct outlives it until then. */
	unsigned		 refs;
	int			 dead;			/* imds_free() was called */
};

static int job_send(struct job *, int, char *, size_t);

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
imds_unref(struct imds *m)
{
	if (--m->refs > 0)
		return;
	OPENSSL_cleanse(m->token, sizeof(m->token));
	sk_X509_pop_free(m->certs, X509_free);
	free(m->cert_file);
	free(m);
}

/* ---- small validators ---- */

static int
all_of(const char *s, size_t len, const char *set)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (s[i] == '\0' || strchr(set, s[i]) == NULL)
			return 0;
	return 1;
}

#define LOWER	"abcdefghijklmnopqrstuvwxyz"
#define DIGITS	"0123456789"
#define HEXLOW	"0123456789abcdef"

/* "i-" and 8 (older) or 17 lowercase hex digits; lengths in between are accepted too. */
static int
valid_instance_id(const char *s)
{
	size_t n = strlen(s);

	return n >= 10 && n <= 19 && strncmp(s, "i-", 2) == 0 && all_of(s + 2, n - 2, HEXLOW);
}

static int
valid_account_id(const char *s)
{
	return strlen(s) == 12 && all_of(s, 12, DIGITS);
}

/* "us-east-1", "us-gov-west-1", "eusc-de-east-1": lowercase words joined by '-', ending in a
 * number. Loose on purpose: new partitions and regions keep appearing. */
static int
valid_region(const char *s)
{
	size_t n = strlen(s);

	return n >= 4 && n < 32 && islower((unsigned char)s[0]) &&
	    isdigit((unsigned char)s[n - 1]) && all_of(s, n, LOWER DIGITS "-") &&
	    strstr(s, "--") == NULL && strchr(s, '-') != NULL;
}

/* The region followed by a zone suffix: "us-east-1a", "us-west-2-lax-1a". */
static int
valid_az(const char *az, const char *region)
{
	size_t n = strlen(az), r = strlen(region);

	return n > r && n < 32 && strncmp(az, region, r) == 0 &&
	    all_of(az + r, n - r, LOWER DIGITS "-") && az[n - 1] != '-';
}

/* IAM role names: 1..64 of letters, digits and "+=,.@_-". Also what keeps the name from
 * changing the path it is put into. */
static int
valid_role(const char *s)
{
	size_t n = strlen(s);

	return n >= 1 && n <= ROLE_MAX &&
	    all_of(s, n, LOWER "ABCDEFGHIJKLMNOPQRSTUVWXYZ" DIGITS "+=,.@_-");
}

/* "0e:1a:2b:3c:4d:5e" */
static int
valid_mac(const char *s)
{
	int i;

	if (strlen(s) != 17)
		return 0;
	for (i = 0; i < 17; i++)
		if (i % 3 == 2 ? s[i] != ':' : !isxdigit((unsigned char)s[i]))
			return 0;
	return 1;
}

/* A token is put into a request header: visible ASCII only, so it can never end the header
 * or add another. */
static int
valid_token(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > TOKEN_MAX)
		return 0;
	for (i = 0; i < len; i++)
		if (s[i] < 0x21 || s[i] > 0x7e)
			return 0;
	return 1;
}

/* Next non-empty line of <s> (<len> bytes) from *<pos>, without surrounding blanks, into
 * <out>. 1: a line; 0: no more; -1: a line too long for <out>. */
static int
next_line(const char *s, size_t len, size_t *pos, char *out, size_t outsz)
{
	size_t b, e;

	while (*pos < len) {
		b = *pos;
		while (*pos < len && s[*pos] != '\n')
			(*pos)++;
		e = *pos;
		if (*pos < len)
			(*pos)++;
		while (b < e && isspace((unsigned char)s[b]))
			b++;
		while (e > b && isspace((unsigned char)s[e - 1]))
			e--;
		if (b == e)
			continue;
		if (e - b >= outsz)
			return -1;
		memcpy(out, s + b, e - b);
		out[e - b] = '\0';
		return 1;
	}
	return 0;
}

/* ---- jobs ---- */

static void
job_unlink(struct job *j)
{
	struct imds *m = j->m;

	if (j->prev)
		j->prev->next = j->next;
	else if (m->jobs == j)
		m->jobs = j->next;
	if (j->next)
		j->next->prev = j->prev;
	j->next = j->prev = NULL;
}

static void
job_free(struct job *j)
{
	size_t i;

	free(j->doc);
	j->doc = NULL;
	for (i = 0; i < j->naddrs; i++) {
		free(j->addrs[i]);
		j->addrs[i] = NULL;
	}
	free(j);
}

static const char *
job_what(const struct job *j)
{
	switch (j->kind) {
	case JOB_IDENTITY:
		return "identity";
	case JOB_ADDRS:
		return "public addresses";
	case JOB_CREDS:
		return "role credentials";
	}
	return "?";
}

/* Delivers the result (or failure: <why>) of <j> and frees it. <result> is the identity or
 * the credentials for those kinds. The callback may call imds_free(). */
static void
job_end(struct job *j, int ok, const void *result, const char *why)
{
	job_unlink(j);
	/* Off AWS there is no IMDS at all, and the caller falls back: not worth a warning. */
	if (!ok && j->unreachable)
		log_info("imds: %s: %s", job_what(j), why);
	else if (!ok)
		log_warn("imds: %s: %s", job_what(j), why);
	switch (j->kind) {
	case JOB_IDENTITY:
		j->id_cb(j->arg, ok, ok ? result : NULL, ok ? NULL : why);
		break;
	case JOB_ADDRS:
		j->addrs_cb(j->arg, ok, ok ? j->addrs : NULL, ok ? j->naddrs : 0, ok ? NULL : why);
		break;
	case JOB_CREDS:
		j->creds_cb(j->arg, ok, ok ? result : NULL, ok ? NULL : why);
		break;
	}
	job_free(j);
}

static void job_fail(struct job *, const char *, ...) __attribute__((format(printf, 2, 3)));

static void
job_fail(struct job *j, const char *fmt, ...)
{
	char why[WHY_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	job_end(j, 0, NULL, why);
}

static int
token_usable(const struct imds *m)
{
	int64_t margin = (int64_t)m->token_ttl * 1000 / 4;

	if (margin > RENEW_MARGIN_MAX_MS)
		margin = RENEW_MARGIN_MAX_MS;
	return m->token[0] != '\0' && now_ms() + margin < m->token_expiry_ms;
}

static struct job *
first_waiting(struct imds *m, unsigned gen)
{
	struct job *j;

	for (j = m->jobs; j != NULL; j = j->next)
		if (j->want_token && j->token_gen == gen)
			return j;
	return NULL;
}

static void
on_token(void *arg, struct http_resp *r)
{
	struct token_req *tr = arg;
	struct imds *m = tr->m;
	char why[WHY_MAX] = "";
	struct job *j;
	size_t len = r->body_len;

	m->token_pending = 0;
	if (m->dead)
		goto out;
	while (len > 0 && isspace((unsigned char)r->body[len - 1]))
		len--;
	if (r->status == 0 && strcmp(r->error, "cancelled") == 0)
		snprintf(why, sizeof(why), "cancelled");
	else if (r->status == 0)
		snprintf(why, sizeof(why), "no IMDS at %s (token request: %s)", m->endpoint,
		    r->error);
	else if (r->status != 200)
		snprintf(why, sizeof(why), "IMDS at %s refused a session token: HTTP %ld%s",
		    m->endpoint, r->status,
		    r->status == 403 ? " (IMDS disabled for this instance?)" : "");
	else if (r->body == NULL || memchr(r->body, '\0', len) != NULL ||
	    !valid_token(r->body, len))
		snprintf(why, sizeof(why), "IMDS at %s sent a malformed session token (%zu bytes)",
		    m->endpoint, r->body_len);
	else {
		memcpy(m->token, r->body, len);
		m->token[len] = '\0';
		m->token_serial++;
		/* Counted from when it was asked for: the service's clock started no earlier. */
		m->token_expiry_ms = tr->started_ms + (int64_t)tr->ttl * 1000;
		log_debug("imds: new session token, %u s", tr->ttl);
	}
	/* Every job that waited for this fetch, one at a time: a callback may start new jobs
	 * (they wait for a later fetch) or call imds_free(). */
	while (!m->dead && (j = first_waiting(m, tr->gen)) != NULL) {
		char jwhy[WHY_MAX];

		j->want_token = 0;
		if (why[0] != '\0') {
			j->unreachable = r->status == 0;
			job_end(j, 0, NULL, why);
		} else if (job_send(j, 1, jwhy, sizeof(jwhy)) == -1)
			job_end(j, 0, NULL, jwhy);
	}
out:
	if (r->body != NULL)
		OPENSSL_cleanse(r->body, r->body_len);
	free(tr);
	imds_unref(m);
}

/* Starts a token fetch unless one is under way. 0 or -1 (<why> set). */
static int
token_fetch(struct imds *m, char *why, size_t whysz)
{
	char url[ENDPOINT_MAX + 32], ttl[64];
	const char *hdrs[2] = { ttl, NULL };
	struct http_opts o = { .headers = hdrs, .timeout_ms = m->timeout_ms,
	    .connect_timeout_ms = m->timeout_ms, .no_proxy = 1 };
	struct token_req *tr;

	if (m->token_pending)
		return 0;
	if ((tr = calloc(1, sizeof(*tr))) == NULL) {
		snprintf(why, whysz, "out of memory");
		return -1;
	}
	tr->m = m;
	tr->gen = m->token_gen + 1;
	tr->ttl = m->token_ttl;
	tr->started_ms = now_ms();
	snprintf(url, sizeof(url), "%s/latest/api/token", m->endpoint);
	snprintf(ttl, sizeof(ttl), TTL_HEADER ": %u", tr->ttl);
	if (http_request_ex(m->h, "PUT", url, &o, "", on_token, tr) == -1) {
		free(tr);
		snprintf(why, whysz, "cannot start the token request");
		return -1;
	}
	m->token_gen = tr->gen;
	m->token_pending = 1;
	m->refs++;
	return 0;
}

static void on_get(void *, struct http_resp *);

/* Sends the GET of j->path with the current token, or queues <j> for a new token.
 * <fresh>: the token was just fetched, use it even if its lifetime is short. 0 or -1 (<why>
 * set; <j> untouched otherwise). */
static int
job_send(struct job *j, int fresh, char *why, size_t whysz)
{
	struct imds *m = j->m;
	char url[ENDPOINT_MAX + REL_PATH_MAX + 16], hdr[TOKEN_MAX + 64];
	const char *hdrs[2] = { hdr, NULL };
	struct http_opts o = { .headers = hdrs, .timeout_ms = m->timeout_ms,
	    .connect_timeout_ms = m->timeout_ms, .no_proxy = 1 };
	int rc;

	if (m->token[0] == '\0' || (!fresh && !token_usable(m))) {
		if (token_fetch(m, why, whysz) == -1)
			return -1;
		j->want_token = 1;
		j->token_gen = m->token_gen;
		return 0;
	}
	snprintf(url, sizeof(url), "%s/latest/%s", m->endpoint, j->path);
	snprintf(hdr, sizeof(hdr), TOKEN_HEADER ": %s", m->token);
	rc = http_request_ex(m->h, "GET", url, &o, NULL, on_get, j);
	OPENSSL_cleanse(hdr, sizeof(hdr));
	if (rc == -1) {
		snprintf(why, whysz, "cannot start an HTTP request");
		return -1;
	}
	j->token_serial = m->token_serial;
	j->in_flight = 1;
	m->refs++;
	return 0;
}

/* Moves <j> on to GET <path> (under /latest/). Ends <j> on failure. */
static void
job_next(struct job *j, const char *path)
{
	char why[WHY_MAX];

	snprintf(j->path, sizeof(j->path), "%s", path);
	j->retried = 0;
	if (job_send(j, 0, why, sizeof(why)) == -1)
		job_end(j, 0, NULL, why);
}

/* 1: a 200 with a body of at most <max> bytes and no NUL; 0: a 404 and <allow_404>;
 * -1: anything else, and <j> was ended. An empty body is "" (never NULL) after 1. */
static int
check_resp(struct job *j, struct http_resp *r, size_t max, int allow_404)
{
	struct imds *m = j->m;

	if (r->status == 0) {
		j->unreachable = 1;
		/* http_cancel_all(): jfe is stopping */
		if (strcmp(r->error, "cancelled") == 0)
			job_end(j, 0, NULL, "cancelled");
		else
			job_fail(j, "no IMDS at %s (%s: %s)", m->endpoint, j->path, r->error);
		return -1;
	}
	if (r->status == 404 && allow_404)
		return 0;
	if (r->status != 200) {
		job_fail(j, "%s/latest/%s: HTTP %ld", m->endpoint, j->path, r->status);
		return -1;
	}
	if (r->body_len > max) {
		job_fail(j, "%s/latest/%s: answer of %zu bytes, more than the %zu expected",
		    m->endpoint, j->path, r->body_len, max);
		return -1;
	}
	if (r->body == NULL) {
		/* http.c allocates only when bytes arrive */
		if ((r->body = strdup("")) == NULL) {
			job_fail(j, "out of memory");
			return -1;
		}
		r->body_len = 0;
	}
	if (memchr(r->body, '\0', r->body_len) != NULL) {
		job_fail(j, "%s/latest/%s: answer contains a NUL byte", m->endpoint, j->path);
		return -1;
	}
	return 1;
}

/* ---- identity ---- */

/* Copies the string member <name> of <o> into <out>: -1 when it is missing, not a string,
 * too long or holds a NUL. */
static int
doc_str(json_t *o, const char *name, char *out, size_t outsz)
{
	json_t *v = json_object_get(o, name);

	if (!json_is_string(v) || json_string_length(v) >= outsz ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return -1;
	memcpy(out, json_string_value(v), json_string_length(v) + 1);
	return 0;
}

static int
parse_document(const char *doc, size_t len, struct imds_identity *id, char *why, size_t whysz)
{
	json_error_t e;
	json_t *o = NULL;
	int rc = -1;

	memset(id, 0, sizeof(*id));
	if ((o = json_loadb(doc, len, JSON_REJECT_DUPLICATES, &e)) == NULL ||
	    !json_is_object(o)) {
		snprintf(why, whysz, "the identity document is not a JSON object");
		goto fail;
	}
	if (doc_str(o, "instanceId", id->instance_id, sizeof(id->instance_id)) == -1 ||
	    !valid_instance_id(id->instance_id)) {
		snprintf(why, whysz, "the identity document has no valid instanceId");
		goto fail;
	}
	if (doc_str(o, "accountId", id->account_id, sizeof(id->account_id)) == -1 ||
	    !valid_account_id(id->account_id)) {
		snprintf(why, whysz, "the identity document has no valid accountId");
		goto fail;
	}
	if (doc_str(o, "region", id->region, sizeof(id->region)) == -1 ||
	    !valid_region(id->region)) {
		snprintf(why, whysz, "the identity document has no valid region");
		goto fail;
	}
	if (doc_str(o, "availabilityZone", id->availability_zone,
	    sizeof(id->availability_zone)) == -1 ||
	    !valid_az(id->availability_zone, id->region)) {
		snprintf(why, whysz, "the identity document has no valid availabilityZone for its "
		    "region");
		goto fail;
	}
	snprintf(id->source, sizeof(id->source), "aws-imds");
	rc = 0;
fail:
	json_decref(o);
	if (rc == -1)
		memset(id, 0, sizeof(*id));
	return rc;
}

static size_t
trimmed_len(const char *s, size_t len)
{
	while (len > 0 && isspace((unsigned char)s[len - 1]))
		len--;
	return len;
}

/* Base64 (line breaks allowed) to bytes; NULL when malformed. */
static unsigned char *
b64_decode(const char *in, size_t len, size_t *outlen)
{
	char *clean = NULL;
	unsigned char *out = NULL;
	size_t i, n = 0, pad = 0;
	int dl;

	if ((clean = malloc(len + 1)) == NULL)
		return NULL;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c == '\n' || c == '\r' || c == ' ' || c == '\t')
			continue;
		if (!isalnum(c) && c != '+' && c != '/' && c != '=')
			goto fail;
		clean[n++] = (char)c;
	}
	if (n == 0 || n % 4 != 0)
		goto fail;
	/* '=' only as padding: "xx==" or "xxx=" at the very end */
	for (i = 0; i < n - 2; i++)
		if (clean[i] == '=')
			goto fail;
	if (clean[n - 2] == '=' && clean[n - 1] != '=')
		goto fail;
	if (clean[n - 1] == '=')
		pad = clean[n - 2] == '=' ? 2 : 1;
	if ((out = malloc(n / 4 * 3)) == NULL)
		goto fail;
	if ((dl = EVP_DecodeBlock(out, (unsigned char *)clean, (int)n)) < 0 ||
	    (size_t)dl < pad)
		goto fail;
	/* EVP_DecodeBlock counts the padding as zero bytes */
	*outlen = (size_t)dl - pad;
	free(clean);
	return out;
fail:
	free(clean);
	free(out);
	return NULL;
}

/* Verifies the rsa2048 PKCS#7 over the document against m->certs only, and that what it
 * signs is the document served (line ends at the very end aside). 0 or -1 (<why>). */
static int
verify_rsa2048(struct imds *m, const char *b64, size_t b64len, const char *doc, size_t doclen,
    char *why, size_t whysz)
{
	unsigned char *der = NULL;
	const unsigned char *p;
	size_t derlen = 0;
	PKCS7 *p7 = NULL;
	BIO *in = NULL, *out = NULL;
	X509_STORE *store = NULL;
	char *signed_doc;
	long signed_len;
	unsigned long e;
	int rc = -1;

	ERR_clear_error();
	if ((der = b64_decode(b64, b64len, &derlen)) == NULL || derlen > LONG_MAX) {
		snprintf(why, whysz, "the rsa2048 signature is not base64");
		goto fail;
	}
	p = der;
	if ((p7 = d2i_PKCS7(NULL, &p, (long)derlen)) == NULL || p != der + derlen ||
	    !PKCS7_type_is_signed(p7)) {
		snprintf(why, whysz, "the rsa2048 signature is not a PKCS#7 SignedData");
		goto fail;
	}
	if ((out = BIO_new(BIO_s_mem())) == NULL || (store = X509_STORE_new()) == NULL ||
	    (PKCS7_get_detached(p7) &&
	    (in = BIO_new_mem_buf(doc, (int)doclen)) == NULL)) {
		snprintf(why, whysz, "out of memory");
		goto fail;
	}
	/* NOVERIFY: AWS's certificates are self-signed leaves, pinned by the operator, with no
	 * chain to check. NOINTERN: only they count, never a certificate the PKCS#7 carries
	 * (which would let anyone sign with a key of their own). */
	if (PKCS7_verify(p7, m->certs, store, in, out, PKCS7_NOVERIFY | PKCS7_NOINTERN) != 1) {
		e = ERR_peek_last_error();
		snprintf(why, whysz, "the identity document's rsa2048 signature does not verify "
		    "against %s (%s): tampered with, or not signed by that certificate's key",
		    m->cert_file, e != 0 ? ERR_reason_error_string(e) : "unknown error");
		goto fail;
	}
	signed_len = BIO_get_mem_data(out, &signed_doc);
	if (signed_len < 0 || trimmed_len(signed_doc, (size_t)signed_len) !=
	    trimmed_len(doc, doclen) ||
	    memcmp(signed_doc, doc, trimmed_len(doc, doclen)) != 0) {
		snprintf(why, whysz, "the identity document served differs from the one its rsa2048 "
		    "signature covers: tampered with");
		goto fail;
	}
	rc = 0;
fail:
	ERR_clear_error();
	X509_STORE_free(store);
	BIO_free(in);
	BIO_free(out);
	PKCS7_free(p7);
	free(der);
	return rc;
}

static void
identity_step(struct job *j, struct http_resp *r)
{
	struct imds *m = j->m;
	struct imds_identity id;
	char why[WHY_MAX];

	switch (j->step) {
	case 0:		/* the document */
		if (check_resp(j, r, DOC_MAX, 0) != 1)
			return;
		if ((j->doc = malloc(r->body_len + 1)) == NULL) {
			job_fail(j, "out of memory");
			return;
		}
		memcpy(j->doc, r->body, r->body_len + 1);
		j->doc_len = r->body_len;
		if (m->certs == NULL)
			break;
		j->step = 1;
		job_next(j, "dynamic/instance-identity/rsa2048");
		return;
	case 1:		/* its signature */
		if (check_resp(j, r, SIG_MAX, 0) != 1)
			return;
		if (verify_rsa2048(m, r->body, r->body_len, j->doc, j->doc_len, why,
		    sizeof(why)) == -1) {
			job_end(j, 0, NULL, why);
			return;
		}
		break;
	}
	/* After verification the served document is the signed one, so it can be parsed. */
	if (parse_document(j->doc, j->doc_len, &id, why, sizeof(why)) == -1) {
		job_end(j, 0, NULL, why);
		return;
	}
	id.signature_verified = m->certs != NULL;
	log_debug("imds: identity %s, account %s, %s (%s)", id.instance_id, id.account_id,
	    id.availability_zone, id.signature_verified ? "signature verified" : "unverified");
	job_end(j, 1, &id, NULL);
}

/* ---- public addresses ---- */

static int
add_addr(struct job *j, int af, const char *text)
{
	unsigned char bin[16];
	char canon[INET6_ADDRSTRLEN];
	size_t i;

	if (inet_pton(af, text, bin) != 1 || inet_ntop(af, bin, canon, sizeof(canon)) == NULL)
		return -1;
	for (i = 0; i < j->naddrs; i++)
		if (strcmp(j->addrs[i], canon) == 0)
			return 0;
	if (j->naddrs == IMDS_MAX_ADDRS) {
		log_warn("imds: more than %d public addresses, ignoring %s", IMDS_MAX_ADDRS, canon);
		return 0;
	}
	if ((j->addrs[j->naddrs] = strdup(canon)) == NULL)
		return -1;
	j->naddrs++;
	return 0;
}

static void
addrs_next_mac(struct job *j)
{
	char path[REL_PATH_MAX];

	if (j->mac_i == j->nmacs) {
		log_debug("imds: %zu public address(es)", j->naddrs);
		job_end(j, 1, NULL, NULL);
		return;
	}
	snprintf(path, sizeof(path), "meta-data/network/interfaces/macs/%s/ipv6s",
	    j->macs[j->mac_i++]);
	job_next(j, path);
}

static void
addrs_step(struct job *j, struct http_resp *r)
{
	char line[LINE_MAX_LEN], extra[LINE_MAX_LEN], esc[LINE_MAX_LEN * 4];
	size_t pos = 0;
	int rc, lr;

	switch (j->step) {
	case 0:		/* public-ipv4: one address, or 404 */
		if ((rc = check_resp(j, r, LIST_MAX, 1)) == -1)
			return;
		if (rc == 1) {
			if (next_line(r->body, r->body_len, &pos, line, sizeof(line)) != 1 ||
			    next_line(r->body, r->body_len, &pos, extra, sizeof(extra)) != 0 ||
			    add_addr(j, AF_INET, line) == -1) {
				job_fail(j, "meta-data/public-ipv4 is not one IPv4 address: \"%s\"",
				    log_escape(esc, sizeof(esc), r->body, r->body_len));
				return;
			}
		}
		j->step = 1;
		job_next(j, "meta-data/network/interfaces/macs/");
		return;
	case 1:		/* the interfaces: "0e:1a:2b:3c:4d:5e/" per line */
		if ((rc = check_resp(j, r, LIST_MAX, 1)) == -1)
			return;
		while (rc == 1 &&
		    (lr = next_line(r->body, r->body_len, &pos, line, sizeof(line))) != 0) {
			size_t n = lr == 1 ? strlen(line) : 0;

			if (n > 0 && line[n - 1] == '/')
				line[--n] = '\0';
			if (lr == -1 || !valid_mac(line)) {
				job_fail(j, "meta-data/network/interfaces/macs/ lists \"%s\", not a MAC",
				    log_escape(esc, sizeof(esc), line, lr == 1 ? strlen(line) : 0));
				return;
			}
			if (j->nmacs == IMDS_MAX_IFACES) {
				log_warn("imds: more than %d network interfaces, ignoring the rest",
				    IMDS_MAX_IFACES);
				break;
			}
			memcpy(j->macs[j->nmacs++], line, 18);
		}
		j->step = 2;
		addrs_next_mac(j);
		return;
	case 2:		/* .../<mac>/ipv6s: one address per line, or 404 */
		if ((rc = check_resp(j, r, LIST_MAX, 1)) == -1)
			return;
		while (rc == 1 &&
		    (lr = next_line(r->body, r->body_len, &pos, line, sizeof(line))) != 0) {
			if (lr == -1 || add_addr(j, AF_INET6, line) == -1) {
				job_fail(j, "%s: \"%s\" is not an IPv6 address", j->path,
				    log_escape(esc, sizeof(esc), line, lr == 1 ? strlen(line) : 0));
				return;
			}
		}
		addrs_next_mac(j);
		return;
	}
}

/* ---- role credentials ---- */

/* Overwrites every string value of <o> (jansson's copies of the secrets) before it is freed.
 * jansson's parser frees its own scratch buffers uncleansed; those are out of reach here. */
static void
cleanse_json(json_t *o)
{
	const char *k;
	json_t *v;

	json_object_foreach(o, k, v)
		if (json_is_string(v))
			OPENSSL_cleanse((char *)json_string_value(v), json_string_length(v));
}

static int
creds_str(json_t *o, const char *name, char *out, size_t outsz, const char *set)
{
	json_t *v = json_object_get(o, name);
	size_t n;

	if (!json_is_string(v) || (n = json_string_length(v)) == 0 || n >= outsz)
		return -1;
	if (set != NULL ? !all_of(json_string_value(v), n, set) :
	    !valid_token(json_string_value(v), n))
		return -1;
	memcpy(out, json_string_value(v), n + 1);
	return 0;
}

/* "2026-12-04T19:00:00Z" */
static int
parse_expiration(const char *s, time_t *t)
{
	struct tm tm;
	const char *end;

	memset(&tm, 0, sizeof(tm));
	if (strlen(s) != 20 || (end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm)) == NULL ||
	    *end != '\0')
		return -1;
	*t = timegm(&tm);
	return *t == (time_t)-1 ? -1 : 0;
}

static void
creds_parse(struct job *j, struct http_resp *r)
{
	struct imds_credentials *c = NULL;
	json_error_t e;
	json_t *o = NULL, *code;
	char exp[32], esc[128], why[WHY_MAX] = "";

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		snprintf(why, sizeof(why), "out of memory");
		goto fail;
	}
	if ((o = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &e)) == NULL ||
	    !json_is_object(o)) {
		/* no detail from <e>: its text quotes the answer */
		snprintf(why, sizeof(why), "%s: not a JSON object", j->path);
		goto fail;
	}
	code = json_object_get(o, "Code");
	if (code != NULL && (!json_is_string(code) ||
	    strcmp(json_string_value(code), "Success") != 0)) {
		snprintf(why, sizeof(why), "%s: Code \"%s\"", j->path, json_is_string(code) ?
		    log_escape(esc, sizeof(esc), json_string_value(code),
		    json_string_length(code)) : "?");
		goto fail;
	}
	if (creds_str(o, "AccessKeyId", c->access_key_id, sizeof(c->access_key_id),
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ" DIGITS) == -1 || strlen(c->access_key_id) < 16 ||
	    creds_str(o, "SecretAccessKey", c->secret_access_key,
	    sizeof(c->secret_access_key), NULL) == -1 ||
	    creds_str(o, "Token", c->token, sizeof(c->token), NULL) == -1 ||
	    creds_str(o, "Expiration", exp, sizeof(exp), DIGITS "-:TZ") == -1 ||
	    parse_expiration(exp, &c->expiration) == -1) {
		/* which field, never its value */
		snprintf(why, sizeof(why), "%s: AccessKeyId, SecretAccessKey, Token or "
		    "Expiration missing or malformed", j->path);
		goto fail;
	}
	log_debug("imds: credentials of role %s, expiring %s", j->role, exp);
	cleanse_json(o);
	json_decref(o);
	o = NULL;
	job_end(j, 1, c, NULL);
	OPENSSL_cleanse(c, sizeof(*c));
	free(c);
	return;
fail:
	if (o != NULL)
		cleanse_json(o);
	json_decref(o);
	if (c != NULL)
		OPENSSL_cleanse(c, sizeof(*c));
	free(c);
	job_end(j, 0, NULL, why);
}

static void
creds_step(struct job *j, struct http_resp *r)
{
	char path[REL_PATH_MAX], line[LINE_MAX_LEN + 2], esc[LINE_MAX_LEN * 4];
	size_t pos = 0;
	int rc, lr;

	switch (j->step) {
	case 0:		/* the role's name */
		if ((rc = check_resp(j, r, LIST_MAX, 1)) == -1)
			return;
		if (rc == 0) {
			job_fail(j, "no IAM role is attached to this instance");
			return;
		}
		lr = next_line(r->body, r->body_len, &pos, line, sizeof(line));
		if (lr != 1 || !valid_role(line)) {
			job_fail(j, "meta-data/iam/security-credentials/ does not name a role: \"%s\"",
			    log_escape(esc, sizeof(esc), r->body, r->body_len));
			return;
		}
		memcpy(j->role, line, strlen(line) + 1);
		snprintf(path, sizeof(path), "meta-data/iam/security-credentials/%s", j->role);
		j->step = 1;
		job_next(j, path);
		return;
	case 1:		/* its credentials */
		if ((rc = check_resp(j, r, CREDS_MAX, 0)) == -1)
			return;
		creds_parse(j, r);
		return;
	}
}

static void
on_get(void *arg, struct http_resp *r)
{
	struct job *j = arg;
	struct imds *m = j->m;
	int secret = j->kind == JOB_CREDS;

	j->in_flight = 0;
	if (j->cancelled) {
		job_free(j);
		goto out;
	}
	if (r->status == 401) {
		char why[WHY_MAX];

		if (j->retried) {
			job_fail(j, "%s/latest/%s: HTTP 401 even with a new session token",
			    m->endpoint, j->path);
			goto out;
		}
		/* The token expired or the service forgot it (a restart): renew it once, unless
		 * another job did already. */
		j->retried = 1;
		if (j->token_serial == m->token_serial) {
			OPENSSL_cleanse(m->token, sizeof(m->token));
			m->token[0] = '\0';
		}
		log_info("imds: session token rejected (401), renewing it");
		if (job_send(j, 0, why, sizeof(why)) == -1)
			job_end(j, 0, NULL, why);
		goto out;
	}
	switch (j->kind) {
	case JOB_IDENTITY:
		identity_step(j, r);
		break;
	case JOB_ADDRS:
		addrs_step(j, r);
		break;
	case JOB_CREDS:
		creds_step(j, r);
		break;
	}
out:
	/* the credentials (and the role listing) are not left in freed memory */
	if (secret && r->body != NULL)
		OPENSSL_cleanse(r->body, r->body_len);
	imds_unref(m);
}

/* ---- API ---- */

struct imds *
imds_new(struct http *h, const char *endpoint, const char *aws_cert_pem_file_or_NULL,
    unsigned timeout_ms)
{
	struct imds *m = NULL;
	BIO *b = NULL;
	X509 *x;
	unsigned long e;
	size_t n, host, i;

	if (h == NULL || endpoint == NULL || timeout_ms == 0 || timeout_ms > 600000) {
		log_err("imds: bad arguments");
		return NULL;
	}
	n = strlen(endpoint);
	while (n > 0 && endpoint[n - 1] == '/')
		n--;
	host = strncmp(endpoint, "http://", 7) == 0 ? 7 :
	    strncmp(endpoint, "https://", 8) == 0 ? 8 : 0;
	/* a scheme and an authority, nothing after: paths are appended to it */
	for (i = host; host != 0 && i < n; i++)
		if (endpoint[i] <= 0x20 || endpoint[i] >= 0x7f || strchr("/?#@\\", endpoint[i]))
			host = 0;
	if (host == 0 || n <= host || n >= ENDPOINT_MAX) {
		log_err("imds: the endpoint must be http://HOST[:PORT] or https://HOST[:PORT]");
		return NULL;
	}
	if ((m = calloc(1, sizeof(*m))) == NULL) {
		log_err("imds: out of memory");
		return NULL;
	}
	m->h = h;
	memcpy(m->endpoint, endpoint, n);
	m->endpoint[n] = '\0';
	m->timeout_ms = (long)timeout_ms;
	m->token_ttl = TOKEN_TTL_DEFAULT;
	m->refs = 1;
	if (aws_cert_pem_file_or_NULL != NULL) {
		if ((m->cert_file = strdup(aws_cert_pem_file_or_NULL)) == NULL ||
		    (m->certs = sk_X509_new_null()) == NULL) {
			log_err("imds: out of memory");
			goto fail;
		}
		if ((b = BIO_new_file(m->cert_file, "r")) == NULL) {
			log_err("imds: cannot read %s: %s", m->cert_file, strerror(errno));
			goto fail;
		}
		while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL)
			if (sk_X509_push(m->certs, x) <= 0) {
				X509_free(x);
				log_err("imds: out of memory");
				goto fail;
			}
		/* The loop ends on "no start line" at the end of the file; anything else is a
		 * damaged certificate, which must not be skipped silently. */
		e = ERR_peek_last_error();
		if (e != 0 && !(ERR_GET_LIB(e) == ERR_LIB_PEM &&
		    ERR_GET_REASON(e) == PEM_R_NO_START_LINE)) {
			log_err("imds: a damaged certificate in %s: %s", m->cert_file,
			    ERR_reason_error_string(e));
			goto fail;
		}
		ERR_clear_error();
		if (sk_X509_num(m->certs) == 0) {
			log_err("imds: no PEM certificate in %s", m->cert_file);
			goto fail;
		}
		BIO_free(b);
		b = NULL;
	}
	return m;
fail:
	ERR_clear_error();
	BIO_free(b);
	imds_unref(m);
	return NULL;
}

void
imds_free(struct imds *m)
{
	struct job *j;

	if (m == NULL || m->dead)
		return;
	m->dead = 1;
	while ((j = m->jobs) != NULL) {
		int in_flight = j->in_flight;

		/* A GET in flight still points at <j>: its completion frees it. */
		j->cancelled = in_flight;
		job_unlink(j);
		switch (j->kind) {
		case JOB_IDENTITY:
			j->id_cb(j->arg, 0, NULL, "cancelled");
			break;
		case JOB_ADDRS:
			j->addrs_cb(j->arg, 0, NULL, 0, "cancelled");
			break;
		case JOB_CREDS:
			j->creds_cb(j->arg, 0, NULL, "cancelled");
			break;
		}
		if (!in_flight)
			job_free(j);
	}
	OPENSSL_cleanse(m->token, sizeof(m->token));
	m->token[0] = '\0';
	imds_unref(m);
}

int
imds_set_token_ttl(struct imds *m, unsigned seconds)
{
	if (m == NULL || seconds == 0 || seconds > IMDS_TOKEN_TTL_MAX) {
		log_err("imds: token lifetime must be 1..%d s", IMDS_TOKEN_TTL_MAX);
		return -1;
	}
	m->token_ttl = seconds;
	return 0;
}

/* A new job for <kind>, sending its first GET (or waiting for a token). */
static struct job *
job_start(struct imds *m, enum job_kind kind, const char *path)
{
	struct job *j;
	char why[WHY_MAX];

	if (m == NULL || m->dead)
		return NULL;
	if ((j = calloc(1, sizeof(*j))) == NULL) {
		log_err("imds: out of memory");
		return NULL;
	}
	j->m = m;
	j->kind = kind;
	snprintf(j->path, sizeof(j->path), "%s", path);
	if (job_send(j, 0, why, sizeof(why)) == -1) {
		log_err("imds: %s: %s", job_what(j), why);
		free(j);
		return NULL;
	}
	j->next = m->jobs;
	if (m->jobs)
		m->jobs->prev = j;
	m->jobs = j;
	return j;
}

int
imds_get_identity(struct imds *m, imds_identity_cb cb, void *arg)
{
	struct job *j;

	if (cb == NULL || (j = job_start(m, JOB_IDENTITY,
	    "dynamic/instance-identity/document")) == NULL)
		return -1;
	j->id_cb = cb;
	j->arg = arg;
	return 0;
}

int
imds_get_public_addrs(struct imds *m, imds_addrs_cb cb, void *arg)
{
	struct job *j;

	if (cb == NULL || (j = job_start(m, JOB_ADDRS, "meta-data/public-ipv4")) == NULL)
		return -1;
	j->addrs_cb = cb;
	j->arg = arg;
	return 0;
}

int
imds_get_role_credentials(struct imds *m, imds_creds_cb cb, void *arg)
{
	struct job *j;

	if (cb == NULL || (j = job_start(m, JOB_CREDS,
	    "meta-data/iam/security-credentials/")) == NULL)
		return -1;
	j->creds_cb = cb;
	j->arg = arg;
	return 0;
}

int
identity_from_machine_id(const char *path, struct imds_identity *id)
{
	char buf[64];
	ssize_t n;
	size_t len;
	int fd;

	if (path == NULL || id == NULL) {
		log_err("imds: bad arguments");
		return -1;
	}
	memset(id, 0, sizeof(*id));
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		log_warn("imds: cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	do
		n = read(fd, buf, sizeof(buf) - 1);
	while (n == -1 && errno == EINTR);
	close(fd);
	if (n == -1) {
		log_warn("imds: cannot read %s: %s", path, strerror(errno));
		return -1;
	}
	len = (size_t)n;
	if (len > 0 && buf[len - 1] == '\n')
		len--;
	/* systemd's format: 32 lowercase hex digits ("uninitialized" early in the first boot) */
	if (len != 32 || !all_of(buf, 32, HEXLOW)) {
		log_warn("imds: %s does not hold a machine ID (32 lowercase hex digits)", path);
		return -1;
	}
	snprintf(id->instance_id, sizeof(id->instance_id), "mid-%.16s", buf);
	snprintf(id->source, sizeof(id->source), "machine-id");
	id->signature_verified = 0;
	return 0;
}
