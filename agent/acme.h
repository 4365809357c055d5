/* The ACME (RFC 8555) client: directory, account, and one explicit state machine per order
 * (new order → authorizations → challenge → finalize → download), driven by HTTP completions
 * and timers on the agent thread. Nothing here blocks. */
#ifndef JFE_ACME_H
#define JFE_ACME_H

#include <jansson.h>

struct http;
struct store;
struct timer_heap;
struct dns01;
struct resolver;

struct acme_config {
	const char *directory;
	const char *email;
	const char *eab_kid;
	const char *eab_hmac_key;       /* base64url, as the CA hands it out */
	const char *profile;
	int http01, tlsalpn01;          /* challenge types that can work here */
	struct dns01 *dns;              /* DNS-01 provider, or NULL */
	struct resolver *res;           /* to see a DNS-01 record before the CA looks */
	unsigned dns_visible_ms;
	int dns_check_resolver;         /* confirm through the resolver, not every nameserver */
};

/* <ok>: <key_pem> and <chain_pem> hold the new certificate (valid during the call only).
 * Otherwise <why> says what failed and <retry_after_s> (>= 0) is the CA's requested wait;
 * ACME_CANCELLED when jfe is stopping (not a failure of the name). */
#define ACME_CANCELLED (-2)
typedef void (*acme_done_cb)(void *arg, const char *name, int ok, const char *why,
    long retry_after_s, const char *key_pem, const char *chain_pem);

struct acme;

struct acme *acme_new(const struct acme_config *cfg, struct http *h, struct store *s,
    struct timer_heap *timers);
/* Stopping: from now on orders end with ACME_CANCELLED (call before http_cancel_all). */
void acme_shutdown(struct acme *a);
void acme_free(struct acme *a);
/* Starts obtaining a certificate for <name>; <done> is called exactly once. */
int acme_order(struct acme *a, const char *name, acme_done_cb done, void *arg);
/* Revokes <cert_der> (reason 0); <done> gets ok/why. */
int acme_revoke(struct acme *a, const unsigned char *cert_der, size_t len, acme_done_cb done,
    void *arg);
/* Orders in flight, for `jfe status` (thread-safe). */
json_t *acme_orders_json(struct acme *a);
/* {"directory", "account": URL or null} (thread-safe). */
json_t *acme_account_json(struct acme *a);
/* The directory's renewalInfo URL, or NULL (ARI not offered / directory not loaded yet). */
const char *acme_renewal_info_url(const struct acme *a);
unsigned acme_orders_active(struct acme *a);
/* The account URL once the account is ready, else NULL (agent thread only). */
const char *acme_account_url(const struct acme *a);
/* Loads the directory and the account ahead of the first order (ARI needs the directory). */
void acme_prepare(struct acme *a);

#endif
