/* Admission: names come from attackers (SNI), so a name is ordered only if every check passes,
 * cheapest first: allow/deny lists, not a public suffix (grouped by registered domain with
 * libpsl), the client's own budget, orders in flight, DNS (it must resolve to this host's
 * public addresses), optional owner consent in DNS, then the instance and domain budgets. */
#ifndef JFE_ADMISSION_H
#define JFE_ADMISSION_H

#include <jansson.h>
#include <sys/socket.h>

struct resolver;
struct limits;
struct str_list;

struct admission_config {
	const struct str_list *allow, *deny;
	int require_consent;
	unsigned max_orders;
};

/* <ok>: order it. Otherwise <why> says why and <backoff_s> how long the refusal stands. */
typedef void (*admission_cb)(void *arg, const char *name, int ok, const char *why,
    unsigned backoff_s);

struct admission;

struct admission *admission_new(const struct admission_config *cfg, struct resolver *r,
    struct limits *l);
void admission_free(struct admission *a);
/* New lists and switches (SIGHUP); <cfg>'s lists must outlive the admission. */
void admission_set_config(struct admission *a, const struct admission_config *cfg);
/* This host's public addresses (from --public-ip, IMDS or the interfaces). */
void admission_set_addrs(struct admission *a, const struct sockaddr_storage *addrs, size_t n);
/* Starts the checks for <name> (normalised) asked by <client> (an address string). <account>
 * is the ACME account URL the consent record must name (NULL until known). <cb> is called
 * exactly once, possibly before this returns. */
int admission_check(struct admission *a, const char *name, const char *client,
    unsigned orders_in_flight, const char *account, admission_cb cb, void *arg);
/* The registered domain of <name> (libpsl), or <name> itself. */
void admission_registered_domain(struct admission *a, const char *name, char *out, size_t len);
/* 1 when <name> is covered by <suffix>: "example.com" covers itself and its subdomains,
 * "*.example.com" and ".example.com" only the subdomains. */
int admission_suffix_match(const char *name, const char *suffix);
/* Refusal counts by reason, for `jfe status` (thread-safe). */
json_t *admission_status_json(struct admission *a);

#endif
