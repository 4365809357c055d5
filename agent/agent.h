/* The agent thread: everything slow about names — admission, DNS, ACME, the store, renewal —
 * runs here, on one event loop (libcurl's poll with the resolver's sockets), never on a
 * worker. Workers ask for a name through the certificate registry; the agent answers by
 * publishing the certificate (or a refusal) there and waking them. */
#ifndef JFE_AGENT_H
#define JFE_AGENT_H

#include <jansson.h>

struct jfe_options;

/* Loads the stored certificates into the registry, then starts the thread. <wake_workers>
 * is called whenever a name's state changes. With issuance off (--acme-directory none) only
 * stored certificates are served. */
int agent_start(const struct jfe_options *o, void (*wake_workers)(void));
void agent_stop(void);
/* SIGHUP: the agent takes the admission settings and budgets of <o> (which must stay valid
 * until agent_stop) and reloads the certificates from the store, on its own thread. */
void agent_reload(const struct jfe_options *o);
/* {"orders":[...]} for `jfe status` (thread-safe). */
json_t *agent_orders_json(void);
/* {"identity", "refused": {reason: count}, "budgets": {...}} (thread-safe). */
json_t *agent_admission_json(void);

#endif
