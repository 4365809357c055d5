#include "providers/dns01.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "agent/evtimer.h"
#include "agent/log.h"
#include "providers/resolve.h"

/* An NS host whose addresses could not be looked up (SERVFAIL, timeout) is looked up again
 * this many times before it is left out: the CA's resolver may well find it. */
#define DISCOVER_TRIES	3
#define MAX_ADDRS	(RESOLVE_MAX_NS * RESOLVE_NS_MAX_ADDRS)

enum wait_mode {
	W_DISCOVER,	/* finding the zone's nameservers */
	W_AUTH,		/* asking each of them */
	W_RESOLVER	/* asking the configured resolver */
};

struct visible_wait;

/* One address of one authoritative nameserver. */
struct auth_addr {
	struct visible_wait	*w;
	struct sockaddr_storage	 addr;		/* port set */
	size_t			 ns;		/* index in w->ns */
	int			 confirmed;	/* answered with the value (not asked again) */
	enum resolve_status	 last;		/* the latest answer without the value */
};

struct visible_wait {
	struct evtimer tm;              /* first: the timer hands back the wait */
	struct visible_wait *next, *prev;
	struct resolver *res;
	struct timer_heap *timers;
	char rrname[300];
	char value[128];
	uint64_t started, deadline;
	unsigned port;
	enum wait_mode mode;
	unsigned busy;                  /* queries in flight */
	int cancelled;
	int discoveries;
	int reached;                    /* some nameserver answered at all */
	char zone[RESOLVE_NAME_SIZE];
	size_t nns;
	char ns[RESOLVE_MAX_NS][RESOLVE_NAME_SIZE];
	size_t naddr;
	struct auth_addr addr[MAX_ADDRS];
	char lag[400];                  /* the last "waiting for" list logged */
	dns01_cb cb;
	void *arg;
};

/* Waits in progress (agent thread only), so a stop can end them. */
static struct visible_wait *waits;
/* The fallback to the configured resolver is logged as a warning once per run. */
static int fallback_warned;

static void
wait_unlink(struct visible_wait *w)
{
	if (w->prev)
		w->prev->next = w->next;
	else
		waits = w->next;
	if (w->next)
		w->next->prev = w->prev;
}

static void
visible_done(struct visible_wait *w, int ok, const char *why)
{
	wait_unlink(w);
	timer_disarm(w->timers, &w->tm.t);
	w->cb(w->arg, ok, why);
	free(w);
}

void
dns01_cancel_all(void)
{
	while (waits)
		visible_done(waits, 0, "cancelled");
}

static void
wait_later(struct visible_wait *w)
{
	timer_arm(w->timers, &w->tm.t, now_ms() + DNS01_POLL_MS);
}

static int
has_value(const struct visible_wait *w, char **txt, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(txt[i], w->value) == 0)
			return 1;
	return 0;
}

/* ---- the configured resolver ---- */

static void
resolver_answer(void *arg, const char *name, enum resolve_status st, char **txt, size_t n)
{
	struct visible_wait *w = arg;

	(void)name;
	w->busy--;
	if (st == RESOLVE_CANCELLED) {
		visible_done(w, 0, "cancelled");
		return;
	}
	if (has_value(w, txt, n)) {
		visible_done(w, 1, NULL);
		return;
	}
	if (now_ms() >= w->deadline) {
		char why[120];

		snprintf(why, sizeof(why), "the TXT record is not visible in DNS yet (%s)",
		    resolve_status_str(st));
		visible_done(w, 0, why);
		return;
	}
	wait_later(w);
}

static int
resolver_query(struct visible_wait *w)
{
	if (resolve_txt(w->res, w->rrname, resolver_answer, w) != 0)
		return -1;
	w->busy++;
	return 0;
}

/* The zone's nameservers are not known: the configured resolver is all there is to ask. */
static int
fall_back(struct visible_wait *w, const char *why)
{
	char esc[128];

	log_escape(esc, sizeof(esc), w->rrname, strlen(w->rrname));
	if (!fallback_warned)
		log_warn("dns01: %s: cannot find the zone's authoritative nameservers (%s); "
		    "confirming DNS-01 records through the configured resolver instead "
		    "(warned once)", esc, why);
	else
		log_debug("dns01: %s: no authoritative nameservers (%s), asking the resolver",
		    esc, why);
	fallback_warned = 1;
	w->mode = W_RESOLVER;
	return resolver_query(w);
}

/* ---- every authoritative nameserver ---- */

static const char *
answer_str(enum resolve_status st)
{
	switch (st) {
	case RESOLVE_OK:
		return "other values only";
	case RESOLVE_NODATA:
		return "no TXT record";
	case RESOLVE_NXDOMAIN:
		return "no such name";
	default:
		return resolve_status_str(st);
	}
}

/* The server answered, with or without the value: it is reachable and serves the zone. */
static int
answered(enum resolve_status st)
{
	return st == RESOLVE_OK || st == RESOLVE_NODATA || st == RESOLVE_NXDOMAIN;
}

static void
auth_evaluate(struct visible_wait *w)
{
	int ns_ok[RESOLVE_MAX_NS] = { 0 };
	char list[sizeof(w->lag)], ip[INET6_ADDRSTRLEN], esc[128];
	size_t i, have = 0, used = 0, waiting = 0;

	if (w->cancelled) {
		visible_done(w, 0, "cancelled");
		return;
	}
	for (i = 0; i < w->naddr; i++)
		if (w->addr[i].confirmed)
			ns_ok[w->addr[i].ns] = 1;
	for (i = 0; i < w->nns; i++)
		have += (size_t)ns_ok[i];
	/* Still to wait for: an address that answers without the value (the CA's resolver may
	 * ask it), and every address of a nameserver none of whose addresses has the value. */
	list[0] = '\0';
	for (i = 0; i < w->naddr; i++) {
		struct auth_addr *a = &w->addr[i];
		int n;

		if (a->confirmed || (ns_ok[a->ns] && !answered(a->last)))
			continue;
		waiting++;
		n = snprintf(list + used, sizeof(list) - used, "%s%s %s (%s)", used ? ", " : "",
		    w->ns[a->ns], resolve_addr_str((struct sockaddr *)&a->addr, ip, sizeof(ip)),
		    answer_str(a->last));
		if (n < 0 || (size_t)n >= sizeof(list) - used) {
			snprintf(list + used, sizeof(list) - used, "%s...", used ? ", " : "");
			used = strlen(list);
			break;
		}
		used += (size_t)n;
	}
	log_escape(esc, sizeof(esc), w->rrname, strlen(w->rrname));
	if (waiting == 0) {
		log_info("dns01: %s: the value is on all %zu nameservers of %s (%.1f s)", esc,
		    w->nns, w->zone, (double)(now_ms() - w->started) / 1000);
		visible_done(w, 1, NULL);
		return;
	}
	if (now_ms() >= w->deadline) {
		char why[1024];

		snprintf(why, sizeof(why), "not on every nameserver of %s after %llu s: %zu of %zu "
		    "have it; waiting for %s%s", w->zone,
		    (unsigned long long)(now_ms() - w->started) / 1000, have, w->nns, list,
		    w->reached ? "" : " (no nameserver answered at all: if this host may not send "
		    "DNS queries to them, use --dns-propagation-check resolver)");
		visible_done(w, 0, why);
		return;
	}
	/* One line when the set of lagging servers changes, not one per poll. */
	if (strcmp(list, w->lag) != 0) {
		log_info("dns01: %s: %zu of %zu nameservers of %s have the value; waiting for %s",
		    esc, have, w->nns, w->zone, list);
		memcpy(w->lag, list, sizeof(w->lag));
	}
	wait_later(w);
}

static void
auth_answer(void *arg, const char *name, enum resolve_status st, char **txt, size_t n)
{
	struct auth_addr *a = arg;
	struct visible_wait *w = a->w;

	(void)name;
	w->busy--;
	if (st == RESOLVE_CANCELLED)
		w->cancelled = 1;
	else if (has_value(w, txt, n))
		a->confirmed = 1;
	else
		a->last = st;
	if (answered(st) || st == RESOLVE_SERVFAIL)
		w->reached = 1;
	if (w->busy == 0)
		auth_evaluate(w);
}

/* Asks every address that has not shown the value yet. Runs from a resolver callback or a
 * timer, so the evaluation may end the wait at once. */
static void
auth_round(struct visible_wait *w)
{
	size_t i;

	w->busy++;	/* no evaluation before every query of the round is out */
	for (i = 0; i < w->naddr; i++) {
		struct auth_addr *a = &w->addr[i];

		if (a->confirmed)
			continue;
		if (resolve_txt_at(w->res, (struct sockaddr *)&a->addr, w->rrname, auth_answer,
		    a) == 0)
			w->busy++;
		else
			a->last = RESOLVE_ERROR;
	}
	if (--w->busy == 0)
		auth_evaluate(w);
}

static void
set_port(struct sockaddr_storage *ss, unsigned port)
{
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
	else
		((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
}

static void
zone_found(void *arg, const char *name, const struct resolve_zone *z)
{
	struct visible_wait *w = arg;
	char why[400], esc[128], ip[INET6_ADDRSTRLEN];
	size_t i, k, usable = 0, transient = 0;

	(void)name;
	w->busy--;
	w->discoveries++;
	if (z->status == RESOLVE_CANCELLED) {
		visible_done(w, 0, "cancelled");
		return;
	}
	if (z->status != RESOLVE_OK) {
		snprintf(why, sizeof(why), "NS lookup: %s", resolve_status_str(z->status));
		goto fallback;
	}
	for (i = 0; i < z->nns; i++) {
		if (z->ns[i].naddr > 0)
			usable++;
		else if (!answered(z->ns[i].status))
			transient++;
	}
	if (transient > 0 && w->discoveries < DISCOVER_TRIES && now_ms() < w->deadline) {
		log_debug("dns01: %s: %zu nameservers of %s without an address yet, looking again",
		    log_escape(esc, sizeof(esc), w->rrname, strlen(w->rrname)), transient, z->zone);
		wait_later(w);
		return;
	}
	if (usable == 0) {
		snprintf(why, sizeof(why), "none of the %zu nameservers of %s has an address",
		    z->nns, z->zone);
		goto fallback;
	}
	snprintf(w->zone, sizeof(w->zone), "%s", z->zone);
	w->nns = 0;
	w->naddr = 0;
	for (i = 0; i < z->nns; i++) {
		const struct resolve_nameserver *ns = &z->ns[i];

		if (ns->naddr == 0) {
			/* Nobody can ask it without an address; a resolver that finds it by glue
			 * would, but that is beyond what we can see. */
			log_warn("dns01: nameserver %s of %s has no address (%s): not checked",
			    log_escape(esc, sizeof(esc), ns->host, strlen(ns->host)), z->zone,
			    resolve_status_str(ns->status));
			continue;
		}
		snprintf(w->ns[w->nns], sizeof(w->ns[0]), "%s", ns->host);
		for (k = 0; k < ns->naddr && w->naddr < MAX_ADDRS; k++) {
			struct auth_addr *a = &w->addr[w->naddr++];

			memset(a, 0, sizeof(*a));
			a->w = w;
			a->ns = w->nns;
			a->addr = ns->addr[k];
			a->last = RESOLVE_TIMEOUT;	/* until it answers */
			set_port(&a->addr, w->port);
			log_debug("dns01: %s: zone %s, nameserver %s at %s",
			    log_escape(esc, sizeof(esc), w->rrname, strlen(w->rrname)), z->zone,
			    ns->host, resolve_addr_str((struct sockaddr *)&a->addr, ip, sizeof(ip)));
		}
		w->nns++;
	}
	w->mode = W_AUTH;
	auth_round(w);
	return;

fallback:
	if (fall_back(w, why) != 0)
		visible_done(w, 0, "cannot query DNS");
}

static int
discover(struct visible_wait *w)
{
	if (resolve_zone_servers(w->res, w->rrname, zone_found, w) != 0)
		return -1;
	w->busy++;
	return 0;
}

/* The next poll, from the timer. */
static void
wait_step(struct visible_wait *w)
{
	int rc;

	switch (w->mode) {
	case W_DISCOVER:
		rc = discover(w);
		break;
	case W_AUTH:
		auth_round(w);
		return;
	default:
		rc = resolver_query(w);
		break;
	}
	if (rc != 0)
		visible_done(w, 0, "cannot query DNS");
}

static void
visible_timer(struct evtimer *t)
{
	wait_step((struct visible_wait *)t);
}

int
dns01_wait_visible(struct resolver *res, struct timer_heap *timers, const char *rrname,
    const char *value, const struct dns01_check *chk, dns01_cb cb, void *arg)
{
	struct visible_wait *w = calloc(1, sizeof(*w));
	int rc;

	if (w == NULL)
		return -1;
	w->tm.fn = visible_timer;
	w->res = res;
	w->timers = timers;
	snprintf(w->rrname, sizeof(w->rrname), "%s", rrname);
	snprintf(w->value, sizeof(w->value), "%s", value);
	w->started = now_ms();
	w->deadline = w->started + chk->timeout_ms;
	w->port = chk->port != 0 ? chk->port : 53;
	w->cb = cb;
	w->arg = arg;
	if (chk->resolver_only) {
		w->mode = W_RESOLVER;
		rc = resolver_query(w);
	} else {
		w->mode = W_DISCOVER;
		if ((rc = discover(w)) != 0)
			rc = fall_back(w, "the NS lookup could not start");
	}
	if (rc != 0) {
		free(w);
		return -1;
	}
	w->next = waits;
	if (waits)
		waits->prev = w;
	waits = w;
	return 0;
}
