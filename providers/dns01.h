/* DNS-01 providers: put a TXT value at _acme-challenge.<name>, say when the provider has
 * applied it, and remove exactly that value afterwards. Each provider (route53.c,
 * cloudflare.c) fills the ops table; the ACME engine only sees this interface. All calls run
 * on the agent thread and never block. */
#ifndef JFE_DNS01_H
#define JFE_DNS01_H

#include <jansson.h>

struct resolver;
struct timer_heap;

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

/* Polls <res> until a TXT record at <rrname> holds <value> or <timeout_ms> passes: the check
 * the CA's resolver will make, done before the CA is told to look (RFC 8555 §8.2: respond
 * only once validation should succeed). Timers on <timers> (the agent loop's). */
int dns01_wait_visible(struct resolver *res, struct timer_heap *timers, const char *rrname,
    const char *value, unsigned timeout_ms, dns01_cb cb, void *arg);
/* Ends every wait in progress with "cancelled" (jfe is stopping). */
void dns01_cancel_all(void);

#endif
