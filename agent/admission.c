#include "agent/admission.h"

#include <ctype.h>
#include <libpsl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "agent/limits.h"
#include "agent/log.h"
#include "agent/options.h"
#include "providers/resolve.h"
#include "proxy/sockaddr.h"

#define ADDRS_MAX          64
#define BACKOFF_POLICY_S   3600
#define BACKOFF_DNS_S      600
#define BACKOFF_BUSY_S     30
#define BACKOFF_CLIENT_S   60
#define LOG_PER_MINUTE     20

enum refusal {
	RF_DENIED, RF_NOT_ALLOWED, RF_PUBLIC_SUFFIX, RF_CLIENT, RF_BUSY, RF_DNS, RF_ELSEWHERE,
	RF_CONSENT, RF_BUDGET, RF_MAX
};

static const char *const refusal_names[RF_MAX] = {
	"denied", "not_allowed", "public_suffix", "client_budget", "orders_in_flight",
	"dns_failure", "resolves_elsewhere", "no_consent", "budget",
};

struct admission {
	struct admission_config cfg;
	struct resolver *res;
	struct limits *limits;
	const psl_ctx_t *psl;
	int psl_owned;
	struct sockaddr_storage addrs[ADDRS_MAX];
	size_t naddrs;
	pthread_mutex_t lock;           /* counters and addresses: `jfe status` reads them */
	unsigned long refused[RF_MAX];
	unsigned long admitted;
	time_t log_minute;
	unsigned log_count, log_suppressed;
};

/* One name going through the asynchronous checks. */
struct check {
	struct admission *a;
	char name[256];
	char regdom[256];
	char account[512];
	int consent_step;               /* 0: <name>, 1: the registered domain */
	admission_cb cb;
	void *arg;
};

int
admission_suffix_match(const char *name, const char *suffix)
{
	size_t nl = strlen(name), sl;
	int sub_only = 0;

	if (suffix[0] == '*' && suffix[1] == '.') {
		suffix += 2;
		sub_only = 1;
	} else if (suffix[0] == '.') {
		suffix++;
		sub_only = 1;
	}
	sl = strlen(suffix);
	if (sl && suffix[sl - 1] == '.')
		sl--;
	if (sl == 0 || nl < sl)
		return 0;
	if (strncasecmp(name + nl - sl, suffix, sl) != 0)
		return 0;
	if (nl == sl)
		return !sub_only;
	return name[nl - sl - 1] == '.';
}

static int
list_match(const struct str_list *l, const char *name)
{
	for (size_t i = 0; l && i < l->n; i++)
		if (admission_suffix_match(name, l->v[i]))
			return 1;
	return 0;
}

struct admission *
admission_new(const struct admission_config *cfg, struct resolver *r, struct limits *l)
{
	struct admission *a = calloc(1, sizeof(*a));

	if (a == NULL)
		return NULL;
	a->cfg = *cfg;
	a->res = r;
	a->limits = l;
	pthread_mutex_init(&a->lock, NULL);
	/* The system's list (package publicsuffix) when present: newer than the built-in. */
	if ((a->psl = psl_latest(NULL)) != NULL)
		a->psl_owned = 1;
	else
		a->psl = psl_builtin();
	if (a->psl == NULL)
		log_warn("admission: no public suffix list; names are grouped by themselves");
	return a;
}

void
admission_free(struct admission *a)
{
	if (a == NULL)
		return;
	if (a->psl_owned)
		psl_free((psl_ctx_t *)a->psl);
	pthread_mutex_destroy(&a->lock);
	free(a);
}

void
admission_set_config(struct admission *a, const struct admission_config *cfg)
{
	a->cfg = *cfg;
}

void
admission_set_addrs(struct admission *a, const struct sockaddr_storage *addrs, size_t n)
{
	pthread_mutex_lock(&a->lock);
	a->naddrs = n < ADDRS_MAX ? n : ADDRS_MAX;
	memcpy(a->addrs, addrs, a->naddrs * sizeof(*addrs));
	pthread_mutex_unlock(&a->lock);
}

void
admission_registered_domain(struct admission *a, const char *name, char *out, size_t len)
{
	const char *r = a->psl ? psl_registrable_domain(a->psl, name) : NULL;

	snprintf(out, len, "%s", r ? r : name);
}

static void
finish(struct check *c, int ok, enum refusal rf, const char *why, unsigned backoff)
{
	struct admission *a = c->a;
	time_t now = time(NULL);
	int say = 0;

	pthread_mutex_lock(&a->lock);
	if (ok)
		a->admitted++;
	else {
		a->refused[rf]++;
		/* Every refusal is counted; the log gets at most LOG_PER_MINUTE lines a minute,
		 * so a flood of names cannot flood the journal. */
		if (now / 60 != a->log_minute) {
			if (a->log_suppressed)
				log_info("admission: %u more refusals not logged in the last minute",
				    a->log_suppressed);
			a->log_minute = now / 60;
			a->log_count = a->log_suppressed = 0;
		}
		if (a->log_count < LOG_PER_MINUTE) {
			a->log_count++;
			say = 1;
		} else
			a->log_suppressed++;
	}
	pthread_mutex_unlock(&a->lock);
	if (say)
		log_info("admission: %s refused: %s", c->name, why);
	c->cb(c->arg, c->name, ok, why, backoff);
	free(c);
}

static int
addr_is_ours(struct admission *a, const struct sockaddr_storage *s)
{
	int found = 0;

	pthread_mutex_lock(&a->lock);
	for (size_t i = 0; i < a->naddrs && !found; i++) {
		struct sockaddr_storage p = a->addrs[i];

		if (p.ss_family != s->ss_family)
			continue;
		if (p.ss_family == AF_INET6)
			((struct sockaddr_in6 *)&p)->sin6_port =
			    ((const struct sockaddr_in6 *)s)->sin6_port;
		else
			((struct sockaddr_in *)&p)->sin_port = ((const struct sockaddr_in *)s)->sin_port;
		found = sa_equal(&p, s);
	}
	pthread_mutex_unlock(&a->lock);
	return found;
}

static void
budgets(struct check *c)
{
	const char *why = NULL;
	unsigned retry = 0;

	if (c->a->limits && limits_take(c->a->limits, c->regdom, time(NULL), &why, &retry) != 0) {
		char msg[320];

		snprintf(msg, sizeof(msg), "%s (%s)", why, c->regdom);
		finish(c, 0, RF_BUDGET, msg, retry > 60 ? retry : 60);
		return;
	}
	finish(c, 1, RF_MAX, NULL, 0);
}

static void consent_ask(struct check *c);

static void
consent_answer(void *arg, const char *qname, enum resolve_status st, char **txt, size_t n)
{
	struct check *c = arg;

	(void)qname;
	if (st == RESOLVE_CANCELLED) {
		free(c);
		return;
	}
	for (size_t i = 0; i < n; i++)
		if (strcmp(txt[i], c->account) == 0) {
			budgets(c);
			return;
		}
	if (c->consent_step == 0 && strcmp(c->name, c->regdom) != 0) {
		c->consent_step = 1;
		consent_ask(c);
		return;
	}
	finish(c, 0, RF_CONSENT, "no _jfe-consent TXT record naming this ACME account",
	    BACKOFF_DNS_S);
}

static void
consent_ask(struct check *c)
{
	char q[300];

	snprintf(q, sizeof(q), "_jfe-consent.%s", c->consent_step ? c->regdom : c->name);
	if (resolve_txt(c->a->res, q, consent_answer, c) != 0)
		finish(c, 0, RF_CONSENT, "cannot query the consent record", BACKOFF_DNS_S);
}

static void
resolved(void *arg, const char *qname, const struct resolve_result *res)
{
	struct check *c = arg;
	size_t i;

	(void)qname;
	if (res->status == RESOLVE_CANCELLED) {
		free(c);
		return;
	}
	for (i = 0; i < res->n; i++)
		if (addr_is_ours(c->a, &res->addr[i]))
			break;
	if (res->status != RESOLVE_OK) {
		char why[96];

		snprintf(why, sizeof(why), "DNS: %s", resolve_status_str(res->status));
		finish(c, 0, RF_DNS, why, BACKOFF_DNS_S);
		return;
	}
	if (i == res->n) {
		finish(c, 0, RF_ELSEWHERE, "does not resolve to this host", BACKOFF_DNS_S);
		return;
	}
	if (c->a->cfg.require_consent) {
		if (c->account[0] == '\0') {
			finish(c, 0, RF_CONSENT, "ACME account not ready for the consent check",
			    BACKOFF_BUSY_S);
			return;
		}
		consent_ask(c);
		return;
	}
	budgets(c);
}

int
admission_check(struct admission *a, const char *name, const char *client,
    unsigned orders_in_flight, const char *account, admission_cb cb, void *arg)
{
	struct check *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return -1;
	c->a = a;
	c->cb = cb;
	c->arg = arg;
	snprintf(c->name, sizeof(c->name), "%s", name);
	snprintf(c->account, sizeof(c->account), "%s", account ? account : "");
	admission_registered_domain(a, name, c->regdom, sizeof(c->regdom));
	if (list_match(a->cfg.deny, name)) {
		finish(c, 0, RF_DENIED, "matches --deny-domain", BACKOFF_POLICY_S);
		return 0;
	}
	if (a->cfg.allow && a->cfg.allow->n && !list_match(a->cfg.allow, name)) {
		finish(c, 0, RF_NOT_ALLOWED, "not under any --allow-domain", BACKOFF_POLICY_S);
		return 0;
	}
	if (a->psl && psl_is_public_suffix2(a->psl, name, PSL_TYPE_ANY | PSL_TYPE_NO_STAR_RULE)) {
		finish(c, 0, RF_PUBLIC_SUFFIX, "a public suffix", BACKOFF_POLICY_S);
		return 0;
	}
	if (client && a->limits && limits_client(a->limits, client, time(NULL)) != 0) {
		finish(c, 0, RF_CLIENT, "the client's hourly budget of new names is spent",
		    BACKOFF_CLIENT_S);
		return 0;
	}
	if (orders_in_flight >= a->cfg.max_orders) {
		finish(c, 0, RF_BUSY, "too many orders in flight", BACKOFF_BUSY_S);
		return 0;
	}
	if (resolve_addrs(a->res, name, resolved, c) != 0)
		finish(c, 0, RF_DNS, "cannot resolve", BACKOFF_DNS_S);
	return 0;
}

json_t *
admission_status_json(struct admission *a)
{
	json_t *r = json_object();

	pthread_mutex_lock(&a->lock);
	for (int i = 0; i < RF_MAX; i++)
		json_object_set_new(r, refusal_names[i], json_integer((json_int_t)a->refused[i]));
	json_object_set_new(r, "admitted", json_integer((json_int_t)a->admitted));
	pthread_mutex_unlock(&a->lock);
	return r;
}
