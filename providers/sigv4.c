/* AWS Signature Version 4: canonical request, string to sign, signing key, signature.
 * See providers/sigv4.h for the canonicalisation rules and their source (aws-c-auth). */
#include "providers/sigv4.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "agent/log.h"

#define SHA256_LEN		32
#define SIGV4_ALGORITHM		"AWS4-HMAC-SHA256"
#define SIGV4_MAX_EXPIRES	604800	/* 7 days: AWS refuses longer presigned URLs */
/* Bounds on what is signed. Route 53 requests are a few hundred bytes; the limits only keep
 * a bad caller from making the signer allocate without bound. */
#define SIGV4_MAX_HEADERS	128
#define SIGV4_MAX_FIELD		65536		/* path, query, one header line */
#define SIGV4_MAX_NAME		63		/* region, service */

/* A growable byte string. An allocation failure is sticky (<failed>) so that a run of
 * appends is checked once. Growing copies and cleanses instead of realloc(), because these
 * buffers may hold the session token. */
struct buf {
	char	*p;
	size_t	 len;
	size_t	 cap;
	int	 failed;
};

struct hdr {
	const char	*name;
	size_t		 nlen;
	const char	*val;
	size_t		 vlen;
	size_t		 idx;	/* order in the request, kept for repeated names */
};

/* A query parameter, encoded, as it appears in the canonical query string. */
struct qparam {
	char	*key;
	size_t	 klen;
	char	*val;
	size_t	 vlen;
};

/* Never signed, as in aws-c-auth's s_skipped_headers (plus transfer-encoding, which botocore
 * also skips): proxies and HTTP libraries add, drop or rewrite them in transit. */
static const char *const skipped_headers[] = {
	"connection", "expect", "sec-websocket-key", "sec-websocket-protocol",
	"sec-websocket-version", "transfer-encoding", "upgrade", "user-agent",
	"x-amzn-trace-id",
};

/* The signer's own output: a request that already has them was signed before. */
static const char *const forbidden_headers[] = {
	"authorization", "x-amz-content-sha256", "x-amz-date", "x-amz-security-token",
};

static const char *const forbidden_params[] = {
	"x-amz-algorithm", "x-amz-credential", "x-amz-date", "x-amz-expires",
	"x-amz-security-token", "x-amz-signature", "x-amz-signedheaders",
};

static const char hexdigits[] = "0123456789abcdef";
static const char hexdigits_upper[] = "0123456789ABCDEF";

/* Frees a string that may hold a credential, cleansing it first. */
static void
free_cleanse(char *s)
{
	if (s == NULL)
		return;
	OPENSSL_cleanse(s, strlen(s));
	free(s);
}

static void
buf_add(struct buf *b, const void *data, size_t n)
{
	char *np;
	size_t ncap;

	if (b->failed)
		return;
	if (n > SIZE_MAX / 2 - b->len - 1) {
		b->failed = 1;
		return;
	}
	if (b->len + n + 1 > b->cap) {
		ncap = b->cap ? b->cap : 256;
		while (ncap < b->len + n + 1)
			ncap *= 2;
		if ((np = malloc(ncap)) == NULL) {
			b->failed = 1;
			return;
		}
		if (b->p != NULL) {
			memcpy(np, b->p, b->len);
			OPENSSL_cleanse(b->p, b->cap);
			free(b->p);
		}
		b->p = np;
		b->cap = ncap;
	}
	if (n > 0)
		memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
buf_adds(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

static void
buf_addc(struct buf *b, char c)
{
	buf_add(b, &c, 1);
}

static void
buf_free(struct buf *b)
{
	if (b->p != NULL) {
		OPENSSL_cleanse(b->p, b->cap);
		free(b->p);
	}
	memset(b, 0, sizeof(*b));
}

/* Hands the string over to the caller (never NULL unless failed: an empty buffer gives ""). */
static char *
buf_take(struct buf *b)
{
	char *s;

	if (b->p == NULL)
		buf_add(b, "", 0);
	if (b->failed) {
		buf_free(b);
		return NULL;
	}
	s = b->p;
	memset(b, 0, sizeof(*b));
	return s;
}

/* ASCII only, on purpose: ctype.h depends on the locale, the signature must not. */
static char
lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* aws-c-auth's aws_isspace: what header value trimming and collapsing treat as space. */
static int
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

static int
is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static int
is_unreserved(char c)
{
	return is_alnum(c) || c == '-' || c == '_' || c == '.' || c == '~';
}

/* RFC 9110 tchar: what a header name or a method may consist of. */
static int
is_tchar(char c)
{
	return is_alnum(c) || (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Case-insensitive comparison of two header names, as lower-cased bytes. */
static int
name_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t i;
	unsigned char ca, cb;

	for (i = 0; i < alen && i < blen; i++) {
		ca = (unsigned char)lower(a[i]);
		cb = (unsigned char)lower(b[i]);
		if (ca != cb)
			return ca < cb ? -1 : 1;
	}
	if (alen == blen)
		return 0;
	return alen < blen ? -1 : 1;
}

static int
in_list(const char *name, size_t nlen, const char *const *list, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (name_cmp(name, nlen, list[i], strlen(list[i])) == 0)
			return 1;
	return 0;
}

/* Appends <n> bytes of <s> percent-encoded: unreserved characters (and '/' when <keep_slash>)
 * as they are, every other byte as %XX with upper-case hex, as SigV4 requires. */
static void
uri_encode(struct buf *b, const char *s, size_t n, int keep_slash)
{
	char e[3];
	size_t i;

	for (i = 0; i < n; i++) {
		if (is_unreserved(s[i]) || (keep_slash && s[i] == '/'))
			buf_addc(b, s[i]);
		else {
			e[0] = '%';
			e[1] = hexdigits_upper[(unsigned char)s[i] >> 4];
			e[2] = hexdigits_upper[(unsigned char)s[i] & 0xf];
			buf_add(b, e, 3);
		}
	}
}

/* Percent-decodes <n> bytes of <s> into <b> (which may then hold NUL bytes). '+' stays a
 * plus: SigV4 is not form encoding. -1 on a '%' not followed by two hex digits. */
static int
uri_decode(struct buf *b, const char *s, size_t n)
{
	size_t i;
	int hi, lo;

	for (i = 0; i < n; i++) {
		if (s[i] != '%') {
			buf_addc(b, s[i]);
			continue;
		}
		if (n - i < 3)
			return -1;
		if ((hi = hexval(s[i + 1])) < 0 || (lo = hexval(s[i + 2])) < 0)
			return -1;
		buf_addc(b, (char)(hi << 4 | lo));
		i += 2;
	}
	return 0;
}

static void
hex(const uint8_t *in, size_t n, char *out)
{
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = hexdigits[in[i] >> 4];
		out[2 * i + 1] = hexdigits[in[i] & 0xf];
	}
	out[2 * n] = '\0';
}

/* <out>: 65 bytes, the lower-case hex SHA-256 of <data>. */
static int
sha256_hex(const void *data, size_t n, char *out)
{
	uint8_t md[SHA256_LEN];
	unsigned int mdlen = 0;

	if (!EVP_Digest(data, n, md, &mdlen, EVP_sha256(), NULL) || mdlen != SHA256_LEN) {
		log_openssl("sigv4: SHA-256");
		return -1;
	}
	hex(md, SHA256_LEN, out);
	return 0;
}

static int
hmac_sha256(EVP_MAC *mac, const void *key, size_t klen, const void *data, size_t dlen,
    uint8_t out[SHA256_LEN])
{
	EVP_MAC_CTX *ctx = NULL;
	OSSL_PARAM params[2];
	char digest[] = "SHA256";
	size_t olen = 0;
	int rc = -1;

	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0);
	params[1] = OSSL_PARAM_construct_end();
	if ((ctx = EVP_MAC_CTX_new(mac)) == NULL || !EVP_MAC_init(ctx, key, klen, params) ||
	    !EVP_MAC_update(ctx, data, dlen) || !EVP_MAC_final(ctx, out, &olen, SHA256_LEN) ||
	    olen != SHA256_LEN) {
		log_openssl("sigv4: HMAC-SHA256");
		goto fail;
	}
	rc = 0;
fail:
	EVP_MAC_CTX_free(ctx);
	return rc;
}

/* The signature (hex into <sig>, 65 bytes) of <sts> with the key derived per SigV4:
 * kDate = HMAC("AWS4" + secret, date), kRegion, kService, kSigning = HMAC(.., "aws4_request").
 * Every intermediate key is cleansed, whatever happens. */
static int
compute_signature(const char *secret, const char *date, const char *region, const char *service,
    const char *sts, char *sig)
{
	EVP_MAC *mac = NULL;
	char seed[4 + sizeof(((struct aws_credentials *)0)->secret_access_key)];
	uint8_t k1[SHA256_LEN], k2[SHA256_LEN];
	size_t slen = strlen(secret);
	int rc = -1;

	memcpy(seed, "AWS4", 4);
	memcpy(seed + 4, secret, slen);
	if ((mac = EVP_MAC_fetch(NULL, "HMAC", NULL)) == NULL) {
		log_openssl("sigv4: fetching HMAC");
		goto fail;
	}
	if (hmac_sha256(mac, seed, 4 + slen, date, strlen(date), k1) == -1 ||
	    hmac_sha256(mac, k1, SHA256_LEN, region, strlen(region), k2) == -1 ||
	    hmac_sha256(mac, k2, SHA256_LEN, service, strlen(service), k1) == -1 ||
	    hmac_sha256(mac, k1, SHA256_LEN, "aws4_request", 12, k2) == -1 ||
	    hmac_sha256(mac, k2, SHA256_LEN, sts, strlen(sts), k1) == -1)
		goto fail;
	hex(k1, SHA256_LEN, sig);
	rc = 0;
fail:
	OPENSSL_cleanse(seed, sizeof(seed));
	OPENSSL_cleanse(k1, sizeof(k1));
	OPENSSL_cleanse(k2, sizeof(k2));
	EVP_MAC_free(mac);
	return rc;
}

static int
check_charset(const char *what, const char *s, size_t maxlen, int (*ok)(char), int allow_empty)
{
	size_t i, n = strnlen(s, maxlen + 1);

	if (n > maxlen || (n == 0 && !allow_empty)) {
		log_err("sigv4: %s: %s", what, n == 0 ? "empty" : "too long");
		return -1;
	}
	for (i = 0; i < n; i++)
		if (!ok(s[i])) {
			log_err("sigv4: %s: invalid character at offset %zu", what, i);
			return -1;
		}
	return 0;
}

static int
is_visible(char c)
{
	return c > 0x20 && c < 0x7f;
}

static int
is_scope_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

/* Path and query as sent: no control bytes (they would never reach AWS intact), no '#'. */
static int
is_target_char(char c)
{
	return (unsigned char)c >= 0x20 && c != 0x7f && c != '#';
}

static int
check_inputs(const struct aws_credentials *c, const struct sigv4_params *p,
    const struct sigv4_request *r)
{
	size_t i;

	if (c == NULL || p == NULL || r == NULL || p->region == NULL || p->service == NULL ||
	    r->method == NULL || r->path == NULL || (r->headers == NULL && r->nheaders > 0) ||
	    (r->body == NULL && r->body_len > 0)) {
		log_err("sigv4: missing argument");
		return -1;
	}
	/* The credentials are printed into headers: refuse what could break them (a secret is
	 * never printed, but a non-printable one is a sign of a corrupt source). */
	if (check_charset("access key id", c->access_key_id, sizeof(c->access_key_id) - 1,
	    is_alnum, 0) == -1 ||
	    check_charset("secret access key", c->secret_access_key,
	    sizeof(c->secret_access_key) - 1, is_visible, 0) == -1 ||
	    check_charset("session token", c->session_token, sizeof(c->session_token) - 1,
	    is_visible, 1) == -1 ||
	    check_charset("region", p->region, SIGV4_MAX_NAME, is_scope_char, 0) == -1 ||
	    check_charset("service", p->service, SIGV4_MAX_NAME, is_scope_char, 0) == -1 ||
	    check_charset("method", r->method, 32, is_tchar, 0) == -1 ||
	    check_charset("path", r->path, SIGV4_MAX_FIELD, is_target_char, 0) == -1 ||
	    (r->query != NULL &&
	    check_charset("query", r->query, SIGV4_MAX_FIELD, is_target_char, 1) == -1))
		return -1;
	if (r->path[0] != '/' || strchr(r->path, '?') != NULL) {
		log_err("sigv4: the path must start with '/' and hold no query");
		return -1;
	}
	if (r->nheaders > SIGV4_MAX_HEADERS) {
		log_err("sigv4: %zu headers, at most %d are signed", r->nheaders,
		    SIGV4_MAX_HEADERS);
		return -1;
	}
	for (i = 0; i < r->nheaders; i++)
		if (r->headers[i] == NULL ||
		    strnlen(r->headers[i], SIGV4_MAX_FIELD + 1) > SIGV4_MAX_FIELD) {
			log_err("sigv4: header %zu missing or too long", i);
			return -1;
		}
	return 0;
}

/* Splits the "Name:value" line <line> into <h>; -1 (logged) if it is not one. */
static int
parse_header(const char *line, size_t idx, struct hdr *h)
{
	const char *colon = strchr(line, ':'), *v;
	char esc[64];
	size_t i;

	if (colon == NULL || colon == line) {
		log_err("sigv4: header %zu is not \"Name:value\"", idx);
		return -1;
	}
	for (i = 0; line + i < colon; i++)
		if (!is_tchar(line[i])) {
			log_err("sigv4: header \"%s\": invalid name",
			    log_escape(esc, sizeof(esc), line, (size_t)(colon - line)));
			return -1;
		}
	/* Line breaks only as folds (followed by a space or tab), which the canonical form
	 * collapses: a bare one would let the value smuggle in a header that is not signed. */
	for (v = colon + 1; *v != '\0'; v++)
		if ((*v == '\r' && v[1] != '\n') ||
		    (*v == '\n' && v[1] != ' ' && v[1] != '\t')) {
			log_err("sigv4: header \"%s\": line break in the value",
			    log_escape(esc, sizeof(esc), line, (size_t)(colon - line)));
			return -1;
		}
	h->name = line;
	h->nlen = (size_t)(colon - line);
	h->val = colon + 1;
	h->vlen = strlen(colon + 1);
	h->idx = idx;
	return 0;
}

static int
hdr_cmp(const void *a, const void *b)
{
	const struct hdr *x = a, *y = b;
	int c;

	if ((c = name_cmp(x->name, x->nlen, y->name, y->nlen)) != 0)
		return c;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Appends <v> trimmed, with every whitespace run inside it (line folds included) collapsed
 * to one space. */
static void
add_header_value(struct buf *b, const char *v, size_t n)
{
	size_t i;
	int in_space = 0;

	while (n > 0 && is_space(v[0])) {
		v++;
		n--;
	}
	while (n > 0 && is_space(v[n - 1]))
		n--;
	for (i = 0; i < n; i++) {
		if (is_space(v[i])) {
			if (!in_space)
				buf_addc(b, ' ');
			in_space = 1;
		} else {
			buf_addc(b, v[i]);
			in_space = 0;
		}
	}
}

/* Builds the canonical header block (each line ending in '\n') and the signed-header list
 * from the request's headers plus <extra> (<nextra> entries the signer adds). */
static int
canonical_headers(const struct sigv4_request *r, const struct hdr *extra, size_t nextra,
    struct buf *block, struct buf *signed_hdrs)
{
	struct hdr *h = NULL;
	char esc[64];
	size_t i, j, n = 0;
	int has_host = 0, rc = -1;

	if ((h = calloc(r->nheaders + nextra + 1, sizeof(*h))) == NULL) {
		log_err("sigv4: out of memory");
		return -1;
	}
	for (i = 0; i < r->nheaders; i++) {
		if (parse_header(r->headers[i], i, &h[n]) == -1)
			goto fail;
		if (in_list(h[n].name, h[n].nlen, forbidden_headers,
		    sizeof(forbidden_headers) / sizeof(forbidden_headers[0]))) {
			log_err("sigv4: the request already has a \"%s\" header",
			    log_escape(esc, sizeof(esc), h[n].name, h[n].nlen));
			goto fail;
		}
		if (in_list(h[n].name, h[n].nlen, skipped_headers,
		    sizeof(skipped_headers) / sizeof(skipped_headers[0])))
			continue;
		if (name_cmp(h[n].name, h[n].nlen, "host", 4) == 0)
			has_host = 1;
		n++;
	}
	/* SigV4 requires host to be signed; without it the signature would not be accepted. */
	if (!has_host) {
		log_err("sigv4: the request has no Host header");
		goto fail;
	}
	for (i = 0; i < nextra; i++) {
		h[n] = extra[i];
		h[n].idx = r->nheaders + i;
		n++;
	}
	qsort(h, n, sizeof(*h), hdr_cmp);
	for (i = 0; i < n; i++) {
		if (i > 0 && name_cmp(h[i - 1].name, h[i - 1].nlen, h[i].name, h[i].nlen) == 0) {
			/* A repeated name: one line, values joined in request order. */
			buf_addc(block, ',');
		} else {
			if (i > 0) {
				buf_addc(block, '\n');
				buf_addc(signed_hdrs, ';');
			}
			for (j = 0; j < h[i].nlen; j++) {
				buf_addc(block, lower(h[i].name[j]));
				buf_addc(signed_hdrs, lower(h[i].name[j]));
			}
			buf_addc(block, ':');
		}
		add_header_value(block, h[i].val, h[i].vlen);
	}
	buf_addc(block, '\n');
	if (block->failed || signed_hdrs->failed) {
		log_err("sigv4: out of memory");
		goto fail;
	}
	rc = 0;
fail:
	free(h);
	return rc;
}

static void
qparams_free(struct qparam *q, size_t n)
{
	size_t i;

	if (q == NULL)
		return;
	for (i = 0; i < n; i++) {
		free_cleanse(q[i].key);
		free_cleanse(q[i].val);
	}
	free(q);
}

/* Appends the parameter <key>=<val> (both decoded, with lengths) to <q>, encoded. */
static int
qparam_add(struct qparam *q, size_t *n, const char *key, size_t klen, const char *val,
    size_t vlen)
{
	struct buf k = { 0 }, v = { 0 };

	uri_encode(&k, key, klen, 0);
	uri_encode(&v, val, vlen, 0);
	q[*n].klen = k.len;
	q[*n].vlen = v.len;
	q[*n].key = buf_take(&k);
	q[*n].val = buf_take(&v);
	(*n)++;			/* even when incomplete, so that qparams_free() sees it */
	if (q[*n - 1].key == NULL || q[*n - 1].val == NULL) {
		log_err("sigv4: out of memory");
		return -1;
	}
	return 0;
}

static int
qparam_cmp(const void *a, const void *b)
{
	const struct qparam *x = a, *y = b;
	size_t n;
	int c;

	n = x->klen < y->klen ? x->klen : y->klen;
	if ((c = memcmp(x->key, y->key, n)) != 0)
		return c;
	if (x->klen != y->klen)
		return x->klen < y->klen ? -1 : 1;
	n = x->vlen < y->vlen ? x->vlen : y->vlen;
	if ((c = memcmp(x->val, y->val, n)) != 0)
		return c;
	if (x->vlen != y->vlen)
		return x->vlen < y->vlen ? -1 : 1;
	return 0;
}

/* Parses the request's raw query into <q> (room for all of it plus the signer's own), decoded
 * then re-encoded, so that the canonical form does not depend on how the caller encoded it. */
static int
parse_query(const char *query, struct qparam *q, size_t *n)
{
	const char *s = query, *amp, *eq;
	struct buf k = { 0 }, v = { 0 };
	size_t len, klen;
	char esc[64];
	int rc = -1;

	while (s != NULL && *s != '\0') {
		amp = strchr(s, '&');
		len = amp ? (size_t)(amp - s) : strlen(s);
		if (len == 0) {		/* "a&&b": blank pieces are not parameters */
			s = amp + 1;
			continue;
		}
		eq = memchr(s, '=', len);
		klen = eq ? (size_t)(eq - s) : len;
		k.len = v.len = 0;
		if (uri_decode(&k, s, klen) == -1 ||
		    (eq != NULL && uri_decode(&v, eq + 1, len - klen - 1) == -1)) {
			log_err("sigv4: malformed %%-escape in the query");
			goto fail;
		}
		buf_add(&k, "", 0);
		buf_add(&v, "", 0);
		if (k.failed || v.failed) {
			log_err("sigv4: out of memory");
			goto fail;
		}
		if (in_list(k.p, k.len, forbidden_params,
		    sizeof(forbidden_params) / sizeof(forbidden_params[0]))) {
			log_err("sigv4: the query already has \"%s\"",
			    log_escape(esc, sizeof(esc), k.p, k.len));
			goto fail;
		}
		if (qparam_add(q, n, k.p, k.len, v.p, v.len) == -1)
			goto fail;
		s = amp ? amp + 1 : NULL;
	}
	rc = 0;
fail:
	buf_free(&k);
	buf_free(&v);
	return rc;
}

/* The canonical URI: the path, normalised when asked (empty and "." segments dropped, ".."
 * removing the one before, a trailing '/' kept), then URI-encoded with '/' kept. */
static int
canonical_uri(const char *path, int normalize, struct buf *out)
{
	struct { const char *p; size_t len; } *seg = NULL;
	struct buf norm = { 0 };
	const char *s, *e;
	size_t nseg = 0, maxseg = 1, i, len, plen = strlen(path);
	int rc = -1;

	if (!normalize) {
		uri_encode(out, path, plen, 1);
		return out->failed ? -1 : 0;
	}
	for (s = path; *s != '\0'; s++)
		if (*s == '/')
			maxseg++;
	if ((seg = calloc(maxseg, sizeof(*seg))) == NULL)
		goto fail;
	for (s = path; s != NULL; s = e ? e + 1 : NULL) {
		e = strchr(s, '/');
		len = e ? (size_t)(e - s) : strlen(s);
		if (len == 0 || (len == 1 && s[0] == '.'))
			continue;
		if (len == 2 && s[0] == '.' && s[1] == '.') {
			if (nseg > 0)
				nseg--;
			continue;
		}
		seg[nseg].p = s;
		seg[nseg].len = len;
		nseg++;
	}
	buf_addc(&norm, '/');
	for (i = 0; i < nseg; i++) {
		buf_add(&norm, seg[i].p, seg[i].len);
		if (i + 1 < nseg || path[plen - 1] == '/')
			buf_addc(&norm, '/');
	}
	if (norm.failed)
		goto fail;
	uri_encode(out, norm.p, norm.len, 1);
	if (out->failed)
		goto fail;
	rc = 0;
fail:
	if (rc == -1)
		log_err("sigv4: out of memory");
	buf_free(&norm);
	free(seg);
	return rc;
}

/* Appends a copy of <s> (or of the printf result) to the result's list of additions. */
static int
add_line(struct sigv4_result *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
add_line(struct sigv4_result *out, const char *fmt, ...)
{
	va_list ap;
	char **n, *s = NULL;
	int len;

	va_start(ap, fmt);
	len = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (len < 0) {
		log_err("sigv4: out of memory");
		return -1;
	}
	if ((n = reallocarray(out->add_headers, out->nadd + 1, sizeof(*n))) == NULL) {
		free_cleanse(s);
		log_err("sigv4: out of memory");
		return -1;
	}
	out->add_headers = n;
	out->add_headers[out->nadd++] = s;
	return 0;
}

static int
sign(const struct aws_credentials *c, const struct sigv4_params *p, const struct sigv4_request *r,
    int query_style, unsigned expires_s, struct sigv4_result *out)
{
	struct buf hblock = { 0 }, shdrs = { 0 }, cquery = { 0 }, curi = { 0 }, cr = { 0 };
	struct buf sts = { 0 }, enc = { 0 };
	struct qparam *q = NULL;
	struct hdr extra[3];
	struct tm tm;
	char amzdate[17], date[9], payload[65], crhash[65], expires[16];
	char *scope = NULL, *cred = NULL;
	const char *s;
	size_t nq = 0, maxq = 1, nextra = 0, i;
	int token, sign_token, rc = -1;

	if (out == NULL) {
		log_err("sigv4: no result");
		return -1;
	}
	memset(out, 0, sizeof(*out));
	if (check_inputs(c, p, r) == -1)
		goto fail;
	if (query_style && (expires_s == 0 || expires_s > SIGV4_MAX_EXPIRES)) {
		log_err("sigv4: presigned URL lifetime %u s out of 1..%d", expires_s,
		    SIGV4_MAX_EXPIRES);
		goto fail;
	}
	/* The date format is fixed width: refuse times whose year is not four digits. */
	if (gmtime_r(&p->when, &tm) == NULL || tm.tm_year < 1000 - 1900 ||
	    tm.tm_year > 9999 - 1900) {
		log_err("sigv4: signing time out of range");
		goto fail;
	}
	strftime(amzdate, sizeof(amzdate), "%Y%m%dT%H%M%SZ", &tm);
	strftime(date, sizeof(date), "%Y%m%d", &tm);
	snprintf(expires, sizeof(expires), "%u", expires_s);
	/* The credential, "AKID/scope", in Authorization or X-Amz-Credential. */
	if (asprintf(&scope, "%s/%s/%s/aws4_request", date, p->region, p->service) < 0) {
		scope = NULL;		/* undefined after a failure */
		log_err("sigv4: out of memory");
		goto fail;
	}
	if (asprintf(&cred, "%s/%s", c->access_key_id, scope) < 0) {
		cred = NULL;
		log_err("sigv4: out of memory");
		goto fail;
	}
	if (sha256_hex(r->body_len ? (const void *)r->body : "", r->body_len, payload) == -1)
		goto fail;
	token = c->session_token[0] != '\0';
	sign_token = token && !p->omit_session_token;

	/* Header style: the signer's own headers are signed with the request's. */
	if (!query_style) {
		if (sign_token)
			extra[nextra++] = (struct hdr){ "x-amz-security-token", 20,
			    c->session_token, strlen(c->session_token), 0 };
		extra[nextra++] = (struct hdr){ "x-amz-date", 10, amzdate, strlen(amzdate), 0 };
		if (p->sign_body)
			extra[nextra++] = (struct hdr){ "x-amz-content-sha256", 20, payload,
			    strlen(payload), 0 };
	}
	if (canonical_headers(r, extra, nextra, &hblock, &shdrs) == -1)
		goto fail;

	for (s = r->query; s != NULL && *s != '\0'; s++)
		if (*s == '&')
			maxq++;
	if ((q = calloc(maxq + 6, sizeof(*q))) == NULL) {
		log_err("sigv4: out of memory");
		goto fail;
	}
	if (r->query != NULL && parse_query(r->query, q, &nq) == -1)
		goto fail;
	if (query_style) {
		if (qparam_add(q, &nq, "X-Amz-Algorithm", 15, SIGV4_ALGORITHM,
		    strlen(SIGV4_ALGORITHM)) == -1 ||
		    qparam_add(q, &nq, "X-Amz-Credential", 16, cred, strlen(cred)) == -1 ||
		    qparam_add(q, &nq, "X-Amz-Date", 10, amzdate, strlen(amzdate)) == -1 ||
		    qparam_add(q, &nq, "X-Amz-SignedHeaders", 19, shdrs.p, shdrs.len) == -1 ||
		    qparam_add(q, &nq, "X-Amz-Expires", 13, expires, strlen(expires)) == -1 ||
		    (sign_token && qparam_add(q, &nq, "X-Amz-Security-Token", 20,
		    c->session_token, strlen(c->session_token)) == -1))
			goto fail;
	}
	/* Equal keys and values are equal bytes, so qsort's instability cannot show. */
	qsort(q, nq, sizeof(*q), qparam_cmp);
	for (i = 0; i < nq; i++) {
		if (i > 0)
			buf_addc(&cquery, '&');
		buf_add(&cquery, q[i].key, q[i].klen);
		buf_addc(&cquery, '=');
		buf_add(&cquery, q[i].val, q[i].vlen);
	}
	if (canonical_uri(r->path, p->normalize_path, &curi) == -1)
		goto fail;

	buf_adds(&cr, r->method);
	buf_addc(&cr, '\n');
	buf_add(&cr, curi.p, curi.len);
	buf_addc(&cr, '\n');
	buf_add(&cr, cquery.p, cquery.len);
	buf_addc(&cr, '\n');
	buf_add(&cr, hblock.p, hblock.len);	/* ends in '\n': the blank line is deliberate */
	buf_addc(&cr, '\n');
	buf_add(&cr, shdrs.p, shdrs.len);
	buf_addc(&cr, '\n');
	buf_adds(&cr, payload);
	if (cr.failed || cquery.failed) {
		log_err("sigv4: out of memory");
		goto fail;
	}
	if (sha256_hex(cr.p, cr.len, crhash) == -1)
		goto fail;
	buf_adds(&sts, SIGV4_ALGORITHM "\n");
	buf_adds(&sts, amzdate);
	buf_addc(&sts, '\n');
	buf_adds(&sts, scope);
	buf_addc(&sts, '\n');
	buf_adds(&sts, crhash);
	if (sts.failed) {
		log_err("sigv4: out of memory");
		goto fail;
	}
	if (compute_signature(c->secret_access_key, date, p->region, p->service, sts.p,
	    out->signature) == -1)
		goto fail;

	if (!query_style) {
		if ((token && add_line(out, "X-Amz-Security-Token: %s", c->session_token) == -1) ||
		    add_line(out, "X-Amz-Date: %s", amzdate) == -1 ||
		    (p->sign_body && add_line(out, "X-Amz-Content-Sha256: %s", payload) == -1) ||
		    add_line(out, "Authorization: " SIGV4_ALGORITHM " Credential=%s/%s, "
		    "SignedHeaders=%s, Signature=%s", c->access_key_id, scope, shdrs.p,
		    out->signature) == -1)
			goto fail;
	} else {
		/* The parameters as they go on the wire, encoded as in the canonical query; the
		 * token is sent even when it is not signed (omit_session_token). */
		const char *names[] = { "X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date",
		    "X-Amz-SignedHeaders", "X-Amz-Expires", "X-Amz-Security-Token" };
		const char *vals[] = { SIGV4_ALGORITHM, cred, amzdate, shdrs.p, expires,
		    c->session_token };

		for (i = 0; i < (token ? 6u : 5u); i++) {
			enc.len = 0;
			uri_encode(&enc, vals[i], strlen(vals[i]), 0);
			buf_add(&enc, "", 0);
			if (enc.failed) {
				log_err("sigv4: out of memory");
				goto fail;
			}
			if (add_line(out, "%s=%s", names[i], enc.p) == -1)
				goto fail;
		}
		if (add_line(out, "X-Amz-Signature=%s", out->signature) == -1)
			goto fail;
	}
	if ((out->canonical_request = buf_take(&cr)) == NULL ||
	    (out->string_to_sign = buf_take(&sts)) == NULL) {
		log_err("sigv4: out of memory");
		goto fail;
	}
	rc = 0;
fail:
	if (rc == -1)
		sigv4_result_free(out);
	qparams_free(q, nq);
	free(scope);
	free(cred);
	buf_free(&enc);
	buf_free(&hblock);
	buf_free(&shdrs);
	buf_free(&cquery);
	buf_free(&curi);
	buf_free(&cr);
	buf_free(&sts);
	return rc;
}

int
sigv4_sign_headers(const struct aws_credentials *c, const struct sigv4_params *p,
    const struct sigv4_request *r, struct sigv4_result *out)
{
	return sign(c, p, r, 0, 0, out);
}

int
sigv4_sign_query(const struct aws_credentials *c, const struct sigv4_params *p,
    unsigned expires_s, const struct sigv4_request *r, struct sigv4_result *out)
{
	return sign(c, p, r, 1, expires_s, out);
}

void
sigv4_result_free(struct sigv4_result *out)
{
	size_t i;

	if (out == NULL)
		return;
	free_cleanse(out->canonical_request);
	free_cleanse(out->string_to_sign);
	for (i = 0; i < out->nadd; i++)
		free_cleanse(out->add_headers[i]);
	free(out->add_headers);
	memset(out, 0, sizeof(*out));
}
