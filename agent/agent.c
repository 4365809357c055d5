#include "agent/agent.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "agent/acme.h"
#include "agent/cloud.h"
#include "agent/admission.h"
#include "agent/acme_cert.h"
#include "agent/acme_parse.h"
#include "agent/evtimer.h"
#include "agent/http.h"
#include "agent/jws.h"
#include "agent/limits.h"
#include "agent/log.h"
#include "agent/options.h"
#include "agent/store.h"
#include "agent/version.h"
#include "providers/cloudflare.h"
#include "providers/dns01.h"
#include "providers/route53.h"
#include "providers/resolve.h"
#include "proxy/certs.h"
#include "proxy/names.h"
#include "proxy/challenge.h"
#include "proxy/sockaddr.h"

#define INBOX_MAX          4096
#define RENEW_SCAN_MS      30000
#define REFUSE_BACKOFF_S   600          /* a name that does not point here */
#define FAIL_BACKOFF_MIN_S 60
#define FAIL_BACKOFF_MAX_S (6 * 3600)
#define DNS_TIMEOUT_MS     1000

struct inbox_item {
	char *name;
	char client[INET6_ADDRSTRLEN];
};

struct agent {
	const struct jfe_options *opt;
	pthread_t thread;
	_Atomic int stop;
	struct http *http;
	struct resolver *res;
	struct store *store;
	struct acme *acme;
	struct timer_heap timers;
	struct evtimer renew;
	struct admission *adm;
	struct limits *limits;
	pthread_mutex_t inbox_lock;
	struct inbox_item inbox[INBOX_MAX];
	unsigned ninbox;
	struct cloud *cloud;
	struct dns01 *dns;
	json_t *backoff;                /* name → {"failures":n,"until":epoch} (persisted) */
	json_t *ari;                    /* name → {"id":certID,"next":epoch,"busy":bool} */
	void (*wake_workers)(void);
	int issuing;
	const struct jfe_options *_Atomic reload;       /* set by agent_reload */
};

static struct agent ag;

static void renew_schedule(time_t at);
static void wildcards_ensure(void);

/* ---- certificates in the registry */

static void
issuer_cn(X509 *x, char *out, size_t len)
{
	X509_NAME *n = X509_get_issuer_name(x);

	out[0] = '\0';
	if (X509_NAME_get_text_by_NID(n, NID_commonName, out, (int)len) < 0)
		X509_NAME_oneline(n, out, (int)len);
}

/* When to renew: a third of the lifetime before expiry, minus up to 1/20 of it at random so
 * that a fleet issued together does not renew together. */
static time_t
renew_time(time_t nb, time_t na)
{
	time_t life = na > nb ? na - nb : 0;
	uint32_t r = 0;

	RAND_bytes((unsigned char *)&r, sizeof(r));
	return na - life / 3 - (life >= 20 ? (time_t)(r % (uint32_t)(life / 20 + 1)) : 0);
}

/* Builds the context for a stored or new certificate and publishes it. */
static int
cert_publish(const char *name, const char *key_pem, const char *chain_pem)
{
	SSL_CTX *ctx = NULL;
	X509 *leaf = NULL;
	STACK_OF(X509) *chain = NULL;
	EVP_PKEY *key = NULL;
	struct cert_meta m;
	int rc = -1;

	memset(&m, 0, sizeof(m));
	if (chain_load_pem(chain_pem, strlen(chain_pem), &leaf, &chain) != 0 ||
	    (key = key_from_pem(key_pem)) == NULL || cert_key_match(leaf, key) != 0)
		goto out;
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL || tls_ctx_policy(ctx) != 0 ||
	    SSL_CTX_use_certificate(ctx, leaf) != 1 || SSL_CTX_use_PrivateKey(ctx, key) != 1)
		goto out;
	for (int i = 0; i < sk_X509_num(chain); i++)
		if (SSL_CTX_add1_chain_cert(ctx, sk_X509_value(chain, i)) != 1)
			goto out;
	cert_not_before(leaf, &m.not_before);
	cert_not_after(leaf, &m.not_after);
	m.renew_at = renew_time(m.not_before, m.not_after);
	issuer_cn(leaf, m.issuer, sizeof(m.issuer));
	rc = certs_set_ready(name, ctx, &m);
	if (rc == 0) {
		char *id = NULL;

		/* The renewal information of the new certificate is asked for at the next
		 * scan; a certificate without AKI simply has none. */
		if (ari_cert_id(leaf, &id) == 0)
			json_object_set_new(ag.ari, name, json_pack("{s:s, s:I, s:b}", "id", id,
			    "next", (json_int_t)0, "busy", 0));
		else
			json_object_del(ag.ari, name);
		free(id);
	}
out:
	if (rc != 0)
		log_warn("agent: %s: certificate unusable", name);
	SSL_CTX_free(ctx);
	X509_free(leaf);
	sk_X509_pop_free(chain, X509_free);
	EVP_PKEY_free(key);
	return rc;
}

static void
store_load_all(void)
{
	char **names = NULL;
	size_t n = 0, ok = 0;

	if (store_cert_list(ag.store, &names, &n) != 0)
		return;
	for (size_t i = 0; i < n; i++) {
		char *key = NULL, *chain = NULL, *meta = NULL;

		if (store_cert_load(ag.store, names[i], &key, &chain, &meta) == 0 &&
		    cert_publish(names[i], key, chain) == 0)
			ok++;
		store_secret_free(key);
		free(chain);
		free(meta);
	}
	if (n)
		log_info("agent: %zu of %zu stored certificates loaded", ok, n);
	store_names_free(names, n);
}

/* ---- failure back-off, persisted so a restart does not retry a failing name at once */

static void
backoff_save(void)
{
	char *s = json_dumps(ag.backoff, JSON_COMPACT);

	if (s == NULL || store_state_save(ag.store, "backoff", s) != 0)
		log_warn("agent: cannot save the back-off state");
	free(s);
}

static long
backoff_remaining(const char *name)
{
	json_t *e = json_object_get(ag.backoff, name);
	json_int_t until = json_integer_value(json_object_get(e, "until"));

	return until > time(NULL) ? (long)(until - time(NULL)) : 0;
}

static long
backoff_record(const char *name, long retry_after)
{
	json_t *e = json_object_get(ag.backoff, name);
	json_int_t fails = json_integer_value(json_object_get(e, "failures")) + 1;
	long wait = FAIL_BACKOFF_MIN_S;

	for (json_int_t i = 1; i < fails && wait < FAIL_BACKOFF_MAX_S; i++)
		wait *= 2;
	if (wait > FAIL_BACKOFF_MAX_S)
		wait = FAIL_BACKOFF_MAX_S;
	if (retry_after > wait)
		wait = retry_after;
	json_object_set_new(ag.backoff, name, json_pack("{s:I, s:I}", "failures", fails,
	    "until", (json_int_t)(time(NULL) + wait)));
	backoff_save();
	return wait;
}

static void
backoff_clear(const char *name)
{
	if (json_object_get(ag.backoff, name)) {
		json_object_del(ag.backoff, name);
		backoff_save();
	}
}

/* ---- issuing */

struct issue {
	char name[256];
	struct store_lock *lock;
};

static void
issued(void *arg, const char *name, int ok, const char *why, long retry_after,
    const char *key_pem, const char *chain_pem)
{
	struct issue *is = arg;

	if (retry_after == ACME_CANCELLED) {
		store_unlock(is->lock);
		free(is);
		return;
	}
	if (ok) {
		char meta[128];

		snprintf(meta, sizeof(meta), "{\"issued\":%lld}", (long long)time(NULL));
		/* Stored before it is served: a crash now loses nothing the CA counted. */
		if (store_cert_save(ag.store, name, key_pem, chain_pem, meta) != 0)
			log_warn("agent: %s: issued but not stored; serving it anyway", name);
		if (cert_publish(name, key_pem, chain_pem) == 0) {
			backoff_clear(name);
			renew_schedule(time(NULL));     /* ask for its ARI window now */
		}
		else
			certs_set_failed(name, (unsigned)backoff_record(name, -1), "unusable");
	} else {
		long wait = backoff_record(name, retry_after);

		log_warn("agent: %s: not issued (%s); next try in %lds", name, why, wait);
		certs_set_failed(name, (unsigned)wait, why);
	}
	store_unlock(is->lock);
	free(is);
}

static void
issue_start(const char *name)
{
	struct issue *is = calloc(1, sizeof(*is));
	int r;

	if (is == NULL) {
		certs_set_failed(name, FAIL_BACKOFF_MIN_S, "out of memory");
		return;
	}
	snprintf(is->name, sizeof(is->name), "%s", name);
	if ((r = store_lock(ag.store, name, &is->lock)) != 0) {
		/* Another process holds the name: it will store the result; try later. */
		certs_set_failed(name, FAIL_BACKOFF_MIN_S, r > 0 ? "being issued elsewhere" :
		    "store lock failed");
		free(is);
		return;
	}
	certs_set_pending(name);
	if (acme_order(ag.acme, name, issued, is) != 0) {
		store_unlock(is->lock);
		free(is);
		certs_set_failed(name, FAIL_BACKOFF_MIN_S, "cannot start the order");
	}
}

static void
admitted(void *arg, const char *name, int ok, const char *why, unsigned backoff_s)
{
	(void)arg;
	if (ok)
		issue_start(name);
	else
		certs_set_failed(name, backoff_s, why);
}

/* A name a worker saw for the first time: admit it, then order it. */
static void
name_requested(const char *name, const char *client)
{
	long wait = backoff_remaining(name);

	if (wait > 0) {
		certs_set_failed(name, (unsigned)wait, "backing off after failures");
		return;
	}
	if (admission_check(ag.adm, name, client, acme_orders_active(ag.acme),
	    acme_account_url(ag.acme), admitted, NULL) != 0)
		certs_set_failed(name, REFUSE_BACKOFF_S, "out of memory");
}

/* Called by workers (certs_lookup) for a new name: queue it and wake the agent. */
static void
agent_request(const char *name, const char *client)
{
	char *n = strdup(name);

	pthread_mutex_lock(&ag.inbox_lock);
	if (n && ag.ninbox < INBOX_MAX) {
		ag.inbox[ag.ninbox].name = n;
		snprintf(ag.inbox[ag.ninbox].client, sizeof(ag.inbox[0].client), "%s",
		    client ? client : "");
		ag.ninbox++;
		n = NULL;
	}
	pthread_mutex_unlock(&ag.inbox_lock);
	if (n) {
		free(n);
		certs_set_failed(name, 10, "agent busy");
		return;
	}
	http_wakeup(ag.http);
}

/* Moves the renewal scan earlier, never later: to <at> (epoch seconds), at once if past. */
static void
renew_schedule(time_t at)
{
	time_t now = time(NULL);
	uint64_t when = now_ms() + (at > now ? (uint64_t)(at - now) * 1000 : 0) + 100;

	if (ag.issuing && (ag.renew.t.at == 0 || when < ag.renew.t.at))
		timer_arm(&ag.timers, &ag.renew.t, when);
}

struct ari_req {
	char name[256];
};

static void
ari_done(void *arg, struct http_resp *r)
{
	struct ari_req *q = arg;
	json_t *e = json_object_get(ag.ari, q->name);
	time_t now = time(NULL), start, end, next;
	long retry = r->retry_after_s;

	if (e == NULL)
		goto out;
	json_object_set_new(e, "busy", json_false());
	if (r->status != 200 || acme_renewal_info_parse(r->body, &start, &end) != 0) {
		/* RFC 9773 §4.3: temporary trouble retries soon, anything else in six hours. */
		next = now + ((r->status == 0 || r->status >= 500) ? 300 : 6 * 3600);
		log_warn("agent: %s: no usable renewal information (HTTP %ld)", q->name, r->status);
	} else {
		uint32_t rnd = 0;
		time_t at;

		RAND_bytes((unsigned char *)&rnd, sizeof(rnd));
		at = acme_renewal_pick(start, end, rnd);
		certs_set_renew_at(q->name, at);
		renew_schedule(at);
		log_info("agent: %s: the CA suggests renewing in %llds", q->name,
		    (long long)(at - now));
		if (retry < 60)
			retry = retry < 0 ? 6 * 3600 : 60;
		if (retry > 24 * 3600)
			retry = 24 * 3600;
		next = now + retry;
	}
	json_object_set_new(e, "next", json_integer((json_int_t)next));
out:
	free(q);
}

/* ARI (RFC 9773): an unauthenticated GET of renewalInfo/<certID> per certificate. */
static void
ari_scan(void)
{
	const char *base = acme_renewal_info_url(ag.acme), *name;
	time_t now = time(NULL);
	json_t *e;

	if (base == NULL)
		return;
	json_object_foreach(ag.ari, name, e) {
		struct ari_req *q;
		char url[1024];

		if (json_is_true(json_object_get(e, "busy")) ||
		    json_integer_value(json_object_get(e, "next")) > now)
			continue;
		snprintf(url, sizeof(url), "%s%s%s", base, base[strlen(base) - 1] == '/' ? "" : "/",
		    json_string_value(json_object_get(e, "id")));
		if ((q = calloc(1, sizeof(*q))) == NULL)
			return;
		snprintf(q->name, sizeof(q->name), "%s", name);
		if (http_request(ag.http, "GET", url, NULL, NULL, "application/json", ari_done,
		    q) != 0) {
			free(q);
			return;
		}
		json_object_set_new(e, "busy", json_true());
	}
}

static void
renew_scan(struct evtimer *t)
{
	char **names = NULL;
	size_t n;

	/* The directory says whether ARI exists; the account is needed for consent checks and
	 * is better made before the first client waits on it. */
	if (acme_renewal_info_url(ag.acme) == NULL || acme_account_url(ag.acme) == NULL)
		acme_prepare(ag.acme);
	wildcards_ensure();
	ari_scan();
	n = certs_due(time(NULL), &names, 16);
	for (size_t i = 0; i < n; i++) {
		long wait = backoff_remaining(names[i]);

		/* The persisted back-off holds across restarts for renewals too: the certificate
		 * in hand is served meanwhile. */
		if (wait > 0)
			certs_set_failed(names[i], (unsigned)wait, "backing off after failures");
		else {
			log_info("agent: %s: renewing", names[i]);
			issue_start(names[i]);
		}
		free(names[i]);
	}
	free(names);
	timer_arm(&ag.timers, &t->t, now_ms() + RENEW_SCAN_MS);
	/* A certificate due before the next regular scan is renewed on time. */
	if (certs_next_renewal())
		renew_schedule(certs_next_renewal());
}

static struct limits_config
limits_config_of(const struct jfe_options *o)
{
	struct limits_config lc = {
		.per_hour = o->names_per_hour, .per_day = o->names_per_day,
		.per_domain_week = o->names_per_domain_week,
		.per_client_hour = o->names_per_client_hour,
	};

	return lc;
}

static struct admission_config
admission_config_of(const struct jfe_options *o)
{
	struct admission_config adc = {
		.allow = &o->allow_domain, .deny = &o->deny_domain,
		.require_consent = o->require_consent, .max_orders = o->max_orders,
	};

	return adc;
}

static void
reload_apply(const struct jfe_options *o)
{
	struct limits_config lc = limits_config_of(o);
	struct admission_config adc = admission_config_of(o);

	limits_set_config(ag.limits, &lc);
	admission_set_config(ag.adm, &adc);
	/* Certificates put in the store by hand (or by another instance) are served now. */
	store_load_all();
	log_info("agent: reloaded the admission settings and the certificates");
}

/* Nice value of the agent thread. Issuance (key generation, signatures, the ACME and DNS
 * exchanges) is work nobody waits for except the one first handshake of a new name; the
 * workers serve every other connection and must not queue behind it for a CPU. */
#define AGENT_NICE 10

static void *
agent_main(void *arg)
{
	(void)arg;
	/* setpriority() on a thread id changes that thread alone (Linux). Lowering one's own
	 * priority needs no privilege; a failure only costs latency. */
	if (setpriority(PRIO_PROCESS, (id_t)gettid(), AGENT_NICE) != 0)
		log_debug("agent: setpriority: %s", strerror(errno));
	while (!atomic_load(&ag.stop)) {
		const struct jfe_options *ro = atomic_exchange(&ag.reload, NULL);

		if (ro)
			reload_apply(ro);
		struct curl_waitfd wfd[RESOLVE_MAX_FDS];
		int fds[RESOLVE_MAX_FDS], n, wait, rt;
		unsigned ev[RESOLVE_MAX_FDS];
		struct inbox_item batch[64];
		unsigned nb;
		struct timer *t;

		n = resolver_fds(ag.res, fds, ev, RESOLVE_MAX_FDS);
		for (int i = 0; i < n; i++) {
			wfd[i].fd = fds[i];
			wfd[i].events = (short)(((ev[i] & RESOLVE_WANT_READ) ? CURL_WAIT_POLLIN : 0) |
			    ((ev[i] & RESOLVE_WANT_WRITE) ? CURL_WAIT_POLLOUT : 0));
			wfd[i].revents = 0;
		}
		wait = timer_next_wait(&ag.timers, now_ms(), 1000);
		rt = resolver_timeout_ms(ag.res);
		if (rt >= 0 && rt < wait)
			wait = rt;
		http_poll(ag.http, wfd, (unsigned)n, wait);
		for (int i = 0; i < n; i++) {
			unsigned re = 0;

			if (wfd[i].revents & (CURL_WAIT_POLLIN | CURL_WAIT_POLLPRI))
				re |= RESOLVE_WANT_READ;
			if (wfd[i].revents & CURL_WAIT_POLLOUT)
				re |= RESOLVE_WANT_WRITE;
			if (re)
				resolver_process(ag.res, wfd[i].fd, re);
		}
		resolver_process(ag.res, -1, 0);
		/* A bounded batch per turn: a flood of names never starves HTTP and DNS. */
		pthread_mutex_lock(&ag.inbox_lock);
		nb = ag.ninbox < 64 ? ag.ninbox : 64;
		memcpy(batch, ag.inbox, nb * sizeof(batch[0]));
		memmove(ag.inbox, ag.inbox + nb, (ag.ninbox - nb) * sizeof(batch[0]));
		ag.ninbox -= nb;
		pthread_mutex_unlock(&ag.inbox_lock);
		if (ag.ninbox)
			http_wakeup(ag.http);
		for (unsigned i = 0; i < nb; i++) {
			name_requested(batch[i].name, batch[i].client);
			free(batch[i].name);
		}
		while ((t = timer_pop_due(&ag.timers, now_ms())) != NULL)
			((struct evtimer *)t)->fn((struct evtimer *)t);
	}
	return NULL;
}

static void
identity_changed(const char *identity)
{
	/* Budgets are spent under the instance they belong to. */
	if (ag.limits)
		limits_set_identity(ag.limits, identity);
}

static void
addrs_changed(const struct sockaddr_storage *a, size_t n)
{
	if (ag.adm)
		admission_set_addrs(ag.adm, a, n);
}

/* Reads a secret file: the first line, trimmed. */
static char *
read_secret_file(const char *path)
{
	char buf[1024] = "";
	FILE *f = fopen(path, "r");

	if (f == NULL) {
		log_err("agent: %s: %s", path, strerror(errno));
		return NULL;
	}
	if (fgets(buf, sizeof(buf), f) == NULL)
		buf[0] = '\0';
	fclose(f);
	buf[strcspn(buf, "\r\n")] = '\0';
	{
		char *s = strdup(buf);

		OPENSSL_cleanse(buf, sizeof(buf));
		return s;
	}
}

static int
dns_provider_start(const struct jfe_options *o)
{
	if (o->dns_provider == NULL)
		return 0;
	if (strcmp(o->dns_provider, "route53") == 0)
		ag.dns = route53_new(ag.http, &ag.timers, o->route53_endpoint, cloud_aws_credentials,
		    ag.cloud, o->dns_visible_timeout_s * 1000);
	else {
		char *tok = o->cloudflare_token_file ? read_secret_file(o->cloudflare_token_file) :
		    (getenv("CLOUDFLARE_API_TOKEN") ? strdup(getenv("CLOUDFLARE_API_TOKEN")) : NULL);

		ag.dns = cloudflare_new(ag.http, &ag.timers, o->cloudflare_endpoint, tok);
		if (tok) {
			OPENSSL_cleanse(tok, strlen(tok));
			free(tok);
		}
	}
	return ag.dns ? 0 : -1;
}

/* --wildcard DOMAIN: *.DOMAIN (with DOMAIN) once, by DNS-01, outside the per-name budgets:
 * the operator asked for it. */
static void
wildcards_ensure(void)
{
	for (size_t i = 0; i < ag.opt->wildcard.n; i++) {
		char name[NAME_MAX_LEN + 3], norm[NAME_MAX_LEN + 3];
		const char *d = ag.opt->wildcard.v[i];

		if (strncmp(d, "*.", 2) == 0)
			d += 2;
		snprintf(name, sizeof(name), "*.%s", d);
		if (name_normalize(name, strlen(name), norm, 1) != 0) {
			log_warn("agent: --wildcard %s: not a domain name", ag.opt->wildcard.v[i]);
			continue;
		}
		if (certs_wants_order(norm) && backoff_remaining(norm) == 0)
			issue_start(norm);
	}
}

static void
backoff_load(void)
{
	char *s = NULL;

	ag.backoff = NULL;
	if (store_state_load(ag.store, "backoff", &s) == 0)
		ag.backoff = json_loads(s, 0, NULL);
	free(s);
	if (!json_is_object(ag.backoff)) {
		json_decref(ag.backoff);
		ag.backoff = json_object();
	}
}

int
agent_start(const struct jfe_options *o, void (*wake_workers)(void))
{
	struct acme_config ac = {
		.directory = o->acme_directory, .email = o->email, .eab_kid = o->eab_kid,
		.eab_hmac_key = o->eab_hmac_key, .profile = o->acme_profile,
		.http01 = port_set_has(&o->ports, 80), .tlsalpn01 = port_set_has(&o->ports, 443),
		.dns_visible_ms = o->dns_visible_timeout_s * 1000,
		.dns_check_resolver = o->dns_check != NULL && strcmp(o->dns_check, "resolver") == 0,
	};
	struct cloud_hooks hooks = { .identity = identity_changed, .addrs = addrs_changed };
	char ua[64];

	memset(&ag, 0, sizeof(ag));
	ag.opt = o;
	ag.wake_workers = wake_workers;
	pthread_mutex_init(&ag.inbox_lock, NULL);
	ag.issuing = strcmp(o->acme_directory, "none") != 0;
	snprintf(ua, sizeof(ua), "jfe/%s", JFE_VERSION);
	if ((ag.store = store_fs_open(o->cache_dir)) == NULL)
		return -1;
	if ((ag.http = http_new(o->acme_ca_bundle, ua)) == NULL ||
	    (ag.res = resolver_new((const char *const *)o->dns_server.v, o->dns_server.n,
	    DNS_TIMEOUT_MS, 2)) == NULL ||
	    (ag.cloud = cloud_new(o, ag.http, &ag.timers, &hooks)) == NULL ||
	    dns_provider_start(o) != 0) {
		log_err("agent: set-up failed");
		agent_stop();
		return -1;
	}
	ac.dns = ag.dns;
	ac.res = ag.res;
	if ((ag.acme = acme_new(&ac, ag.http, ag.store, &ag.timers)) == NULL) {
		agent_stop();
		return -1;
	}
	backoff_load();
	ag.ari = json_object();
	{
		struct limits_config lc = limits_config_of(o);
		struct admission_config adc = admission_config_of(o);

		if ((ag.limits = limits_new(&lc, ag.store, cloud_identity(ag.cloud))) == NULL ||
		    (ag.adm = admission_new(&adc, ag.res, ag.limits)) == NULL) {
			agent_stop();
			return -1;
		}
		/* The addresses known so far; IMDS adds its own when it answers. */
		cloud_refresh_now(ag.cloud);
	}
	certs_init(ag.issuing, agent_request, wake_workers);
	store_load_all();
	ag.renew.fn = renew_scan;
	if (ag.issuing)
		timer_arm(&ag.timers, &ag.renew.t, now_ms() + 1000);
	if ((errno = pthread_create(&ag.thread, NULL, agent_main, NULL)) != 0) {
		log_err("agent: thread: %s", strerror(errno));
		ag.thread = 0;
		agent_stop();
		return -1;
	}
	return 0;
}

void
agent_stop(void)
{
	if (ag.thread) {
		atomic_store(&ag.stop, 1);
		http_wakeup(ag.http);
		pthread_join(ag.thread, NULL);
		ag.thread = 0;
	}
	/* In-flight work ends through its callbacks, so everything it holds is released. */
	acme_shutdown(ag.acme);
	if (ag.http)
		http_cancel_all(ag.http);
	/* The resolver first: its callbacks end the admission checks and DNS-01 waits that
	 * were querying; then the waits that were between two queries. */
	resolver_free(ag.res);
	ag.res = NULL;
	dns01_cancel_all();
	if (ag.dns)
		ag.dns->ops->free(ag.dns);
	ag.dns = NULL;
	acme_free(ag.acme);
	ag.acme = NULL;
	cloud_free(ag.cloud);
	ag.cloud = NULL;
	admission_free(ag.adm);
	ag.adm = NULL;
	limits_free(ag.limits);
	ag.limits = NULL;
	http_free(ag.http);
	ag.http = NULL;
	for (unsigned i = 0; i < ag.ninbox; i++)
		free(ag.inbox[i].name);
	ag.ninbox = 0;
	json_decref(ag.backoff);
	ag.backoff = NULL;
	json_decref(ag.ari);
	ag.ari = NULL;
	store_close(ag.store);
	ag.store = NULL;
	timer_heap_free(&ag.timers);
	certs_shutdown();
	challenge_clear();
}

void
agent_reload(const struct jfe_options *o)
{
	atomic_store(&ag.reload, o);
	if (ag.http)
		http_wakeup(ag.http);
}

json_t *
agent_orders_json(void)
{
	return ag.acme ? acme_orders_json(ag.acme) : json_array();
}

json_t *
agent_admission_json(void)
{
	json_t *j = json_object();

	if (ag.cloud)
		json_object_set_new(j, "identity", cloud_status_json(ag.cloud));
	if (ag.dns)
		json_object_set_new(j, "dns_provider", ag.dns->ops->status(ag.dns));
	if (ag.acme && ag.issuing)
		json_object_set_new(j, "acme", acme_account_json(ag.acme));
	if (ag.adm)
		json_object_set_new(j, "refused", admission_status_json(ag.adm));
	if (ag.limits)
		json_object_set_new(j, "budgets", limits_status_json(ag.limits, time(NULL)));
	return j;
}
