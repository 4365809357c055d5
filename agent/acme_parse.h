/* Reading what an ACME CA answers (RFC 8555, RFC 9773): each function takes one response
 * body as received (NUL-terminated, any bytes) and returns plain values. No I/O and no state,
 * so the whole surface a CA controls can be fuzzed (tests/fuzz/fuzz_acme.c); agent/acme.c
 * and agent/agent.c act on the results. */
#ifndef JFE_ACME_PARSE_H
#define JFE_ACME_PARSE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>

/* Polling bounds for authorizations and orders. Without a Retry-After, a step's polls start
 * at ACME_POLL_MIN_MS and double up to ACME_POLL_STEP_MS: a CA that validates at once (most
 * do, in tens of milliseconds) is seen at once, a slow one is asked about every 2 s. */
#define ACME_POLL_MIN_MS  100
#define ACME_POLL_STEP_MS 2000
#define ACME_POLL_MAX_MS  10000

/* A problem document (RFC 7807, RFC 8555 §6.7): its type without the
 * "urn:ietf:params:acme:error:" prefix ("" when none) into <type>, and into <detail> its
 * detail, else <error> when <status> is 0 (transport error), else "HTTP <status>". Both are
 * escaped for logs and always NUL-terminated. <body> and <error> may be NULL. */
void acme_problem(const char *body, long status, const char *error, char *type, size_t tlen,
    char *detail, size_t dlen);

/* 1 when a Replay-Nonce value can be used: 1 to 256 base64url characters. */
int acme_nonce_ok(const char *nonce);

/* The directory (RFC 8555 §7.1.1): 0 and the object in <*dir> (the caller's reference) when
 * it is an object with newNonce, newAccount and newOrder strings; else -1 and NULL. */
int acme_directory_parse(const char *body, json_t **dir);
/* The URL under <key> of a parsed directory, or NULL. */
const char *acme_directory_url(const json_t *dir, const char *key);
/* 1 when the directory's meta.profiles offers <profile>. */
int acme_directory_has_profile(const json_t *dir, const char *profile);

/* An order (RFC 8555 §7.1.3). Pointers are into <json> (borrowed) and NULL when absent or
 * of the wrong type; <json> is NULL when the body is not JSON. */
struct acme_order_doc {
	json_t *json;
	const char *status, *finalize, *certificate;
	json_t *authorizations;         /* an array (elements unchecked) */
};
void acme_order_parse(const char *body, struct acme_order_doc *d);
void acme_order_doc_clear(struct acme_order_doc *d);

/* An authorization (RFC 8555 §7.1.4) and, of its challenges, the last one of type
 * <chal_type>. Pointers as for orders. */
struct acme_authz_doc {
	json_t *json;
	const char *status;
	const char *identifier;         /* identifier.value */
	int chal_found;                 /* a challenge of <chal_type> is offered */
	const char *chal_token, *chal_url;
	const char *chal_error;         /* the last error.detail among those challenges */
};
void acme_authz_parse(const char *body, const char *chal_type, struct acme_authz_doc *d);
void acme_authz_doc_clear(struct acme_authz_doc *d);

/* "2025-01-02T04:00:00Z", fractional seconds allowed; -1 when not of that form. */
time_t acme_rfc3339(const char *s);
/* renewalInfo (RFC 9773 §4.2): 0 with the suggestedWindow in <*start>, <*end> when both
 * parse and end > start; else -1. */
int acme_renewal_info_parse(const char *body, time_t *start, time_t *end);
/* A moment in [start, end) chosen by <rnd> (uniform random bits), for end > start. */
time_t acme_renewal_pick(time_t start, time_t end, uint32_t rnd);

/* The wait before polling again: the CA's Retry-After (<retry_after_s> >= 0) or <dflt_ms>,
 * kept within ACME_POLL_MIN_MS..ACME_POLL_MAX_MS. */
unsigned acme_poll_ms(long retry_after_s, unsigned dflt_ms);

#endif
