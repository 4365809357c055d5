/* AWS Signature Version 4 (AWS4-HMAC-SHA256), the request signing the Route 53 API needs.
 *
 * Pure and synchronous: no I/O, no clock (the signing time is a parameter), no global state.
 * Canonicalisation follows aws-c-auth, whose test suite (38 cases, both signing styles) is the
 * known-answer test in tests/unit/test_sigv4.c:
 *   - the path, when <normalize_path>: empty and "." segments dropped, ".." pops a segment, a
 *     trailing '/' kept; then URI-encoded with unreserved characters and '/' left alone. The
 *     path is taken as sent on the wire, so a "%XX" in it is encoded again ("%25XX"): the
 *     "double encoding" every service but S3 expects;
 *   - the query: split on '&' (empty pieces skipped), "name=value" (no '=': empty value),
 *     percent-decoded then re-encoded with only A-Z a-z 0-9 - _ . ~ left alone ('+' is a
 *     literal plus, never a space), sorted by encoded name then encoded value;
 *   - headers: names lower-cased, values trimmed with every inner whitespace run (folded
 *     lines included) collapsed to one space, repeated names joined with ',' in the order
 *     given, sorted by name. Headers proxies and HTTP stacks rewrite are never signed:
 *     user-agent, connection, expect, transfer-encoding, upgrade, x-amzn-trace-id and
 *     sec-websocket-key/-protocol/-version.
 * Refused (-1, logged): a request that already carries the headers or query parameters the
 * signer adds (X-Amz-Date, Authorization, X-Amz-Security-Token, X-Amz-Content-Sha256,
 * X-Amz-Signature, ...), as aws-c-auth does, rather than signing a request twice; no Host
 * header; a header value with a line break that is not a fold (CRLF or LF followed by a
 * space or tab), which would smuggle an unsigned header; a malformed %-escape in the query;
 * more than 128 headers or a path, query or header line over 64 KiB.
 *
 * Secrets: the signing key and every intermediate key are cleansed before returning;
 * nothing secret is ever logged. The session token does appear in the result (it is sent in
 * clear by design), and sigv4_result_free() cleanses every string before freeing it. */
#ifndef JFE_SIGV4_H
#define JFE_SIGV4_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Static or temporary credentials. access_key_id: 1..127 of [A-Za-z0-9]; secret_access_key:
 * 1..127 visible ASCII; session_token: empty (long-term keys) or visible ASCII. Anything
 * else is refused, since these values end up in HTTP headers. */
struct aws_credentials {
	char	access_key_id[128];
	char	secret_access_key[128];
	char	session_token[4096];
	time_t	expiration;		/* 0: none; not checked here, refreshing is the caller's */
};

struct sigv4_request {
	const char		*method;	/* "GET", "POST", ... */
	const char		*path;		/* as sent: starts with '/', may have %XX */
	const char		*query;		/* raw query without '?', or NULL */
	const char *const	*headers;	/* "Name:value" lines as sent, Host included */
	size_t			 nheaders;
	const uint8_t		*body;		/* may be NULL when body_len is 0 */
	size_t			 body_len;
};

struct sigv4_params {
	const char	*region;		/* "us-east-1" ([a-z0-9-]) */
	const char	*service;		/* "route53" ([a-z0-9-]) */
	time_t		 when;			/* signing time, UTC */
	int		 normalize_path;	/* 1 for every service but S3 */
	int		 sign_body;		/* header style: sign x-amz-content-sha256 */
	int		 omit_session_token;	/* add the token after signing, unsigned */
};

/* <canonical_request> and <string_to_sign> are kept for tests and debugging; <signature> is
 * 64 lower-case hex digits. <add_headers> (<nadd> strings):
 *   - header style: "Name: value" lines to add to the request, in this order:
 *     X-Amz-Security-Token (when the credentials have a token, signed or not), X-Amz-Date,
 *     X-Amz-Content-Sha256 (sign_body), Authorization;
 *   - query style: "name=value" query parameters, already encoded, to append to the
 *     request's own query (with '&'): X-Amz-Algorithm, X-Amz-Credential, X-Amz-Date,
 *     X-Amz-SignedHeaders, X-Amz-Expires, X-Amz-Security-Token (with a token), and last
 *     X-Amz-Signature. */
struct sigv4_result {
	char	 *canonical_request;
	char	 *string_to_sign;
	char	  signature[65];
	char	**add_headers;
	size_t	  nadd;
};

/* Signs <r> for an Authorization header. 0, or -1 (logged, <out> left empty) on invalid
 * credentials, parameters or request, or out of memory. Caller frees <out> with
 * sigv4_result_free(), also after a failure. */
int sigv4_sign_headers(const struct aws_credentials *c, const struct sigv4_params *p,
    const struct sigv4_request *r, struct sigv4_result *out);

/* Signs <r> as a presigned URL valid <expires_s> seconds (1..604800, AWS's limit): the
 * request's own headers are signed, X-Amz-Date travels in the query, the payload hash is
 * that of the body and <sign_body> is ignored. Same return convention as above. */
int sigv4_sign_query(const struct aws_credentials *c, const struct sigv4_params *p,
    unsigned expires_s, const struct sigv4_request *r, struct sigv4_result *out);

/* Cleanses and frees what <out> holds and zeroes it; safe on a zeroed or failed result. */
void sigv4_result_free(struct sigv4_result *out);

#endif
