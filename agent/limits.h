/* Issuance budgets: token buckets for new names per hour and per day for this instance, per
 * registered domain per week, and per client address per hour, with defaults well under the
 * CA's own limits. The instance and domain budgets are persisted under the identity they were
 * spent by: a cache baked into an image and booted as another instance starts fresh, and never
 * spends or refills the original's budget. */
#ifndef JFE_LIMITS_H
#define JFE_LIMITS_H

#include <jansson.h>
#include <time.h>

struct limits_config {
	unsigned per_hour, per_day, per_domain_week, per_client_hour;
};

struct limits;
struct store;

/* Loads the budgets saved under <identity>; other identities' budgets are ignored. */
struct limits *limits_new(const struct limits_config *cfg, struct store *s, const char *identity);
void limits_free(struct limits *l);
/* New budget sizes (SIGHUP); what was spent stays spent. */
void limits_set_config(struct limits *l, const struct limits_config *cfg);
/* Switches to another identity (e.g. IMDS answered after start): its own saved budgets, or
 * fresh ones. */
void limits_set_identity(struct limits *l, const char *identity);

/* 0 when a new name may be ordered now, spending one token of each budget (and saving);
 * -1 with <why> (static text) and <retry_s>, the wait until a token is back, otherwise.
 * Nothing is spent when any budget is empty. */
int limits_take(struct limits *l, const char *domain, time_t now, const char **why,
    unsigned *retry_s);
/* Issuance-triggering handshakes per client address (not persisted). */
int limits_client(struct limits *l, const char *client, time_t now);

json_t *limits_status_json(struct limits *l, time_t now);

#endif
