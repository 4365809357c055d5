/* The certificate registry: name → certificate | pending | refused, shared by the workers
 * (readers, in the client-hello callback) and the agent (the only writer). Certificates are
 * immutable SSL_CTX objects, reference-counted and swapped by pointer: a handshake holds its
 * own reference, so a renewal never touches a live connection. */
#ifndef JFE_CERTS_H
#define JFE_CERTS_H

#include <jansson.h>
#include <openssl/ssl.h>
#include <time.h>

#include "proxy/tls.h"

struct cert_meta {
	time_t not_before, not_after, renew_at;
	char issuer[128];
};

/* <request> is called (under no lock) for a name seen for the first time, with the address of
 * the client that asked, so the agent can admit and order it; <changed> after every change, so the workers resume waiting handshakes. */
void certs_init(int issuance_enabled, void (*request)(const char *name, const char *client),
    void (*changed)(void));
void certs_shutdown(void);

/* Worker side. <name> is normalised (names.h). READY: *ctx holds a reference. PENDING: an
 * order is in flight (requested now if the name was new and <may_request>). NONE: refused,
 * backing off, or issuance is off: serve the fallback. */
enum cert_status certs_lookup(const char *name, const char *client, int may_request,
    SSL_CTX **ctx);
/* 1 when <name> has no certificate, no order in flight and no refusal in force. */
int certs_wants_order(const char *name);
/* Same, without side effects: for resuming parked handshakes. */
enum cert_status certs_peek(const char *name);

/* Agent side. certs_set_ready takes its own reference to <ctx>. */
int certs_set_ready(const char *name, SSL_CTX *ctx, const struct cert_meta *m);
void certs_set_pending(const char *name);
/* Ends a pending order without a (new) certificate: a name that has one keeps it; a name
 * without is refused for <backoff_s> seconds. */
void certs_set_failed(const char *name, unsigned backoff_s, const char *why);
void certs_set_meta(const char *name, const struct cert_meta *m);
/* The CA's suggestion (ARI) replaces the lifetime-based renewal time. */
void certs_set_renew_at(const char *name, time_t t);
/* Names whose renew_at has passed and that are not pending (at most <max>), for the renewal
 * scheduler. Caller frees each string and the array. */
size_t certs_due(time_t now, char ***names, size_t max);

/* The earliest renew_at of a certificate not being renewed nor backing off, 0 when none. */
time_t certs_next_renewal(void);

/* {"certificates":[...], "refused":[...]} entries for `jfe status`. */
json_t *certs_status_json(void);

#endif
