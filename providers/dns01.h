/* DNS-01 providers: put a TXT value at _acme-challenge.<name>, say when the provider has
 * applied it, and remove exactly that value afterwards. Each provider (route53.c,
 * cloudflare.c) fills the ops table; the ACME engine only sees this interface. All calls run
 * on the agent thread and never block. */
#ifndef JFE_DNS01_H
#define JFE_DNS01_H

#include <jansson.h>

struct resolver;
struct timer_heap;

#define DNS01_POLL_MS 1000

typedef void (*dns01_cb)(void *arg, int ok, const char *why);

struct dns01;

struct dns01_ops {
	const char *name;
	/* 1 when one of the provider's zones covers <name> (from its cached zone list), 0 when
	 * none does, -1 when the list is not known yet (then present() says why it fails). */
	int (*manages)(struct dns01 *d, const char *name);
	/* Adds <value> to the TXT set at <rrname> (merging with what is there) and calls <cb>
	 * once the provider says the change is live on its servers. */
	int (*present)(struct dns01 *d, const char *rrname, const char *value, dns01_cb cb,
	    void *arg);
	/* Removes exactly <value> from <rrname>, leaving other values. */
	int (*cleanup)(struct dns01 *d, const char *rrname, const char *value, dns01_cb cb,
	    void *arg);
	/* {"provider", "zones", "healthy", "last_error"} for `jfe status`. */
	json_t *(*status)(struct dns01 *d);
	void (*free)(struct dns01 *d);
};

struct dns01 {
	const struct dns01_ops *ops;
};

/* How dns01_wait_visible() confirms a record. */
struct dns01_check {
	unsigned timeout_ms;	/* --dns-propagation-timeout */
	/* --dns-propagation-check resolver: ask only the configured resolver, as before the
	 * authoritative check existed (for hosts whose outbound DNS may reach nothing else). */
	int resolver_only;
	/* Port of the authoritative nameservers; 0 means 53, the only one NS records can name.
	 * The unit tests point it at their own servers. */
	unsigned port;
};

/* Calls <cb> once a TXT record at <rrname> holds <value> where the CA will look, or with why
 * not after <chk>->timeout_ms: done before the CA is told to validate (RFC 8555 §8.2: respond
 * only once validation should succeed; the CA does not retry a failed validation).
 *
 * Where the CA looks is the zone's authoritative nameservers: <res> finds the zone of
 * <rrname> (NS lookups walking up from it) and the nameservers' addresses, then each address
 * is asked directly, with recursion off, every DNS01_POLL_MS until every nameserver has
 * answered with <value> from at least one of its addresses and no address still answers
 * without it. Addresses that cannot be reached are not waited for when another address of
 * the same nameserver has answered. A nameserver without any address is left out (logged).
 * When the configured resolver cannot tell the zone's nameservers (an NS lookup fails, no
 * zone is found, or none of its nameservers has an address), the check falls back to asking
 * <res> for the record (warned once per run), as it does with <chk>->resolver_only.
 * Timers on <timers> (the agent loop's). 0: <cb> will be called (never from inside this
 * call); -1 otherwise. */
int dns01_wait_visible(struct resolver *res, struct timer_heap *timers, const char *rrname,
    const char *value, const struct dns01_check *chk, dns01_cb cb, void *arg);
/* Ends every wait in progress with "cancelled" (jfe is stopping). Call it after
 * resolver_free(), which has ended the waits that had a query in flight. */
void dns01_cancel_all(void);

#endif
