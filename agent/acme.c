#include "agent/acme.h"

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/acme_cert.h"
#include "agent/acme_parse.h"
#include "agent/b64.h"
#include "agent/evtimer.h"
#include "agent/http.h"
#include "agent/jws.h"
#include "agent/log.h"
#include "agent/store.h"
#include "providers/dns01.h"
#include "proxy/challenge.h"
#include "proxy/tls.h"

#define NONCE_POOL        16
#define BADNONCE_RETRIES  16
#define POLL_MAX          90            /* authorization / order polls per order */
#define ACCOUNT_RETRY_S   60

enum acct_state { ACCT_NONE, ACCT_BUSY, ACCT_READY, ACCT_FAILED };

enum order_step {
	OS_WAIT_ACCOUNT, OS_NEW_ORDER, OS_AUTHZ, OS_CHALLENGE, OS_POLL_AUTHZ, OS_FINALIZE,
	OS_POLL_ORDER, OS_DOWNLOAD, OS_REVOKE,
};

static const char *const step_names[] = {
	"waiting-for-account", "new-order", "authorization", "challenge", "validating",
	"finalizing", "processing", "downloading", "revoking",
};

enum chal_type { CH_HTTP01, CH_TLSALPN01, CH_DNS01, CH_MAX };
static const char *const chal_names[] = { "http-01", "tls-alpn-01", "dns-01" };

struct order {
	struct evtimer tm;
	struct acme *a;
	struct order *next;
	char name[256];
	enum order_step step;
	enum chal_type chal;
	enum chal_type prefs[CH_MAX];   /* the types that can work for this name, in order */
	unsigned nprefs, ipref;
	char rrname[300];               /* dns-01: _acme-challenge.<identifier> */
	char txt[64];
	char *order_url, *finalize_url, *cert_url;
	json_t *authz;                  /* array of URLs */
	size_t iauthz;
	char *chal_url, *token, *keyauth;
	int published;
	EVP_PKEY *cert_key;
	unsigned polls;
	unsigned step_polls;            /* polls in the current step: the back-off */
	int resume_tried;               /* a stored order URL was tried (see inflight_*) */
	time_t started;
	unsigned char *revoke_der;
	size_t revoke_len;
	acme_done_cb done;
	void *arg;
};

/* One signed POST, re-signed with a fresh nonce on badNonce. */
struct acme_req {
	struct acme *a;
	struct order *o;                /* NULL: the account */
	char *url, *payload;
	const char *accept;
	int use_jwk;
	unsigned tries;
	void (*on)(struct acme *, struct order *, struct http_resp *);
};

struct acme {
	struct acme_config cfg;
	struct http *http;
	struct store *store;
	struct timer_heap *timers;
	json_t *dir;
	enum acct_state acct;
	time_t acct_retry_at;
	char acct_why[200];
	EVP_PKEY *acct_key;
	char *kid;
	char *nonces[NONCE_POOL];
	unsigned nnonces;
	pthread_mutex_t lock;           /* guards <orders> links and steps for status readers */
	int closing;
	char kid_copy[512];             /* for readers on other threads, under <lock> */
	struct order *orders;
	json_t *inflight;               /* name -> {url, at}: orders placed and not settled */
};

static void order_next(struct order *o);
static void order_fail(struct order *o, const char *why, long retry_after);
static void acct_start(struct acme *a);

/* ---- helpers */

static const char *
dir_url(const struct acme *a, const char *key)
{
	return acme_directory_url(a->dir, key);
}

/* ---- orders in flight, persisted: a jfe killed while an order is pending resumes that order
 * on its next start instead of placing another one (a crash loop would otherwise place one
 * order per due name per restart). One state blob for every directory, keyed by its URL. */

#define INFLIGHT_KEY    "acme-orders"
#define INFLIGHT_MAX_S  (24 * 3600)     /* older orders are not worth resuming */

static void
inflight_save(struct acme *a)
{
	char *old = NULL, *out = NULL;
	json_t *all = NULL;

	if (a->store == NULL || a->cfg.directory == NULL)
		return;
	if (store_state_load(a->store, INFLIGHT_KEY, &old) == 0 && old)
		all = json_loads(old, 0, NULL);
	free(old);
	if (!json_is_object(all)) {
		json_decref(all);
		all = json_object();
	}
	if (json_object_size(a->inflight))
		json_object_set(all, a->cfg.directory, a->inflight);
	else
		json_object_del(all, a->cfg.directory);
	if ((out = json_dumps(all, JSON_COMPACT)) == NULL ||
	    store_state_save(a->store, INFLIGHT_KEY, out) != 0)
		log_warn("acme: cannot record the orders in flight; a restart may order again");
	free(out);
	json_decref(all);
}

static void
inflight_load(struct acme *a)
{
	char *s = NULL;
	json_t *all = NULL, *mine, *v;
	const char *name;
	void *tmp;
	time_t now = time(NULL);

	a->inflight = json_object();
	if (a->store == NULL || a->cfg.directory == NULL || store_state_load(a->store, INFLIGHT_KEY, &s) != 0 || s == NULL)
		return;
	all = json_loads(s, 0, NULL);
	free(s);
	mine = json_object_get(all, a->cfg.directory);
	json_object_foreach_safe(mine, tmp, name, v) {
		json_int_t at = json_integer_value(json_object_get(v, "at"));

		if (json_string_value(json_object_get(v, "url")) && at > 0 &&
		    now - (time_t)at < INFLIGHT_MAX_S)
			json_object_set(a->inflight, name, v);
	}
	json_decref(all);
}

static void
inflight_remember(struct acme *a, const struct order *o)
{
	if (a->inflight == NULL || o->order_url == NULL)
		return;
	json_object_set_new(a->inflight, o->name, json_pack("{s:s, s:I}", "url", o->order_url,
	    "at", (json_int_t)time(NULL)));
	inflight_save(a);
}

static void
inflight_forget(struct acme *a, const char *name)
{
	if (a->inflight == NULL || json_object_get(a->inflight, name) == NULL)
		return;
	json_object_del(a->inflight, name);
	inflight_save(a);
}

const char *
acme_renewal_info_url(const struct acme *a)
{
	return dir_url(a, "renewalInfo");
}

static void
set_str(char **slot, const char *v)
{
	free(*slot);
	*slot = v ? strdup(v) : NULL;
}

static void
order_set_step(struct order *o, enum order_step s)
{
	pthread_mutex_lock(&o->a->lock);
	if (o->step != s)
		o->step_polls = 0;
	o->step = s;
	pthread_mutex_unlock(&o->a->lock);
}

/* The problem document's type without the ACME prefix, and its detail, escaped for logs. */
static void
problem_of(const struct http_resp *r, char *type, size_t tlen, char *detail, size_t dlen)
{
	acme_problem(r->body, r->status, r->error, type, tlen, detail, dlen);
}

static void
nonce_keep(struct acme *a, const char *n)
{
	if (!acme_nonce_ok(n))
		return;
	if (a->nnonces == NONCE_POOL) {
		free(a->nonces[0]);
		memmove(a->nonces, a->nonces + 1, (NONCE_POOL - 1) * sizeof(char *));
		a->nnonces--;
	}
	a->nonces[a->nnonces++] = strdup(n);
}

static char *
nonce_take(struct acme *a)
{
	return a->nnonces ? a->nonces[--a->nnonces] : NULL;
}

/* ---- signed requests */

static void req_send(struct acme_req *q);

static void
req_free(struct acme_req *q)
{
	free(q->url);
	free(q->payload);
	free(q);
}

static void
req_done(void *arg, struct http_resp *r)
{
	struct acme_req *q = arg;
	struct acme *a = q->a;

	nonce_keep(a, r->nonce);
	if (r->status == 400) {
		char type[64], detail[256];

		problem_of(r, type, sizeof(type), detail, sizeof(detail));
		/* The CA may reject any nonce (Pebble: a set share of them); sign again with
		 * the fresh one it sent back. */
		if (strcmp(type, "badNonce") == 0 && q->tries < BADNONCE_RETRIES) {
			q->tries++;
			log_debug("acme: badNonce, retrying (%u)", q->tries);
			req_send(q);
			return;
		}
	}
	q->on(a, q->o, r);
	req_free(q);
}

static void
nonce_done(void *arg, struct http_resp *r)
{
	struct acme_req *q = arg;

	nonce_keep(q->a, r->nonce);
	if (q->a->nnonces == 0) {
		if (r->status == 0 || r->status >= 400)
			q->on(q->a, q->o, r);
		else {
			struct http_resp fake = *r;

			fake.status = 0;
			snprintf(fake.error, sizeof(fake.error), "the CA's newNonce gave no Replay-Nonce");
			q->on(q->a, q->o, &fake);
		}
		req_free(q);
		return;
	}
	req_send(q);
}

static void
req_send(struct acme_req *q)
{
	struct acme *a = q->a;
	char *nonce, *jws;
	struct http_resp fail = { .retry_after_s = -1 };

	if ((nonce = nonce_take(a)) == NULL) {
		const char *nu = dir_url(a, "newNonce");

		if (nu && http_request(a->http, "HEAD", nu, NULL, NULL, NULL, nonce_done, q) == 0)
			return;
		snprintf(fail.error, sizeof(fail.error), "cannot get a nonce");
		goto fail;
	}
	jws = jws_flattened(a->acct_key, NULL, q->use_jwk ? NULL : a->kid, nonce, q->url,
	    q->payload);
	free(nonce);
	if (jws == NULL) {
		snprintf(fail.error, sizeof(fail.error), "cannot sign the request");
		goto fail;
	}
	if (http_request(a->http, "POST", q->url, "application/jose+json", jws, q->accept,
	    req_done, q) != 0) {
		free(jws);
		snprintf(fail.error, sizeof(fail.error), "cannot send the request");
		goto fail;
	}
	free(jws);
	return;
fail:
	q->on(a, q->o, &fail);
	req_free(q);
}

static int
acme_post(struct acme *a, struct order *o, const char *url, const char *payload, int use_jwk,
    const char *accept, void (*on)(struct acme *, struct order *, struct http_resp *))
{
	struct acme_req *q = calloc(1, sizeof(*q));

	if (q == NULL || url == NULL || (q->url = strdup(url)) == NULL ||
	    (payload && (q->payload = strdup(payload)) == NULL)) {
		if (q)
			req_free(q);
		return -1;
	}
	q->a = a;
	q->o = o;
	q->use_jwk = use_jwk;
	q->accept = accept;
	q->on = on;
	req_send(q);
	return 0;
}

/* ---- account */

static void
acct_finish(struct acme *a, int ok, const char *why)
{
	struct order *o, *next;

	a->acct = ok ? ACCT_READY : ACCT_FAILED;
	if (!ok) {
		snprintf(a->acct_why, sizeof(a->acct_why), "%s", why);
		a->acct_retry_at = time(NULL) + ACCOUNT_RETRY_S;
		log_warn("acme: account: %s", why);
	}
	for (o = a->orders; o; o = next) {
		next = o->next;
		if (o->step != OS_WAIT_ACCOUNT)
			continue;
		if (ok)
			order_next(o);
		else
			order_fail(o, why, ACCOUNT_RETRY_S);
	}
}

static void
acct_created(struct acme *a, struct order *unused, struct http_resp *r)
{
	char type[64], detail[256], *pem = NULL, *acct_json = NULL;
	json_t *j;

	(void)unused;
	if ((r->status != 200 && r->status != 201) || r->location == NULL) {
		char why[400];

		problem_of(r, type, sizeof(type), detail, sizeof(detail));
		if ((r->status == 200 || r->status == 201) && r->location == NULL)
			snprintf(why, sizeof(why), "newAccount answered HTTP %ld without a Location",
			    r->status);
		else
			snprintf(why, sizeof(why), "newAccount failed: %s%s%s", type, *type ? " " : "",
			    detail);
		acct_finish(a, 0, why);
		return;
	}
	set_str(&a->kid, r->location);
	pthread_mutex_lock(&a->lock);
	snprintf(a->kid_copy, sizeof(a->kid_copy), "%s", a->kid);
	pthread_mutex_unlock(&a->lock);
	j = json_pack("{s:s, s:s}", "url", a->kid, "directory", a->cfg.directory);
	acct_json = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (acct_json == NULL || key_to_pem(a->acct_key, &pem) != 0 ||
	    store_account_save(a->store, a->cfg.directory, pem, acct_json) != 0) {
		/* Without a saved key the account would be lost at the next start. */
		acct_finish(a, 0, "cannot save the ACME account");
	} else {
		log_info("acme: account ready (%s)", r->status == 201 ? "created" : "existing");
		acct_finish(a, 1, NULL);
	}
	free(acct_json);
	key_pem_free(pem);
}

static void
acct_register(struct acme *a)
{
	json_t *p = json_pack("{s:b}", "termsOfServiceAgreed", 1);
	const char *url = dir_url(a, "newAccount");
	char *payload = NULL;

	if (a->cfg.email) {
		char mail[300];

		snprintf(mail, sizeof(mail), "mailto:%s", a->cfg.email);
		json_object_set_new(p, "contact", json_pack("[s]", mail));
	}
	if (a->cfg.eab_kid && a->cfg.eab_hmac_key) {
		uint8_t *k = NULL;
		size_t klen = 0;
		char *eab = NULL;
		json_t *je;

		if (b64url_decode_alloc(a->cfg.eab_hmac_key, strlen(a->cfg.eab_hmac_key), &k,
		    &klen) != 0 || (eab = jws_eab(a->cfg.eab_kid, k, klen, a->acct_key, url)) == NULL ||
		    (je = json_loads(eab, 0, NULL)) == NULL) {
			if (k)
				OPENSSL_clear_free(k, klen);
			free(eab);
			json_decref(p);
			acct_finish(a, 0, "--eab-hmac-key is not valid base64url");
			return;
		}
		OPENSSL_clear_free(k, klen);
		free(eab);
		json_object_set_new(p, "externalAccountBinding", je);
	}
	payload = json_dumps(p, JSON_COMPACT);
	json_decref(p);
	if (payload == NULL || acme_post(a, NULL, url, payload, 1, NULL, acct_created) != 0)
		acct_finish(a, 0, "cannot send newAccount");
	free(payload);
}

static void
dir_loaded(void *arg, struct http_resp *r)
{
	struct acme *a = arg;
	char *key_pem = NULL, *acct_json = NULL;
	json_t *j = NULL;
	int rc;

	if (r->status != 200 || acme_directory_parse(r->body, &j) != 0) {
		char why[300];

		snprintf(why, sizeof(why), "directory %s unusable: %s", a->cfg.directory,
		    r->status ? "not an ACME directory" : r->error);
		acct_finish(a, 0, why);
		return;
	}
	json_decref(a->dir);
	a->dir = j;
	if (a->cfg.profile && !acme_directory_has_profile(j, a->cfg.profile))
		log_warn("acme: the directory does not offer profile \"%s\"; ordering without",
		    a->cfg.profile);
	rc = store_account_load(a->store, a->cfg.directory, &key_pem, &acct_json);
	if (rc == 0) {
		json_t *aj = json_loads(acct_json, 0, NULL);
		const char *url = json_string_value(json_object_get(aj, "url"));

		EVP_PKEY_free(a->acct_key);
		a->acct_key = key_from_pem(key_pem);
		set_str(&a->kid, url);
		json_decref(aj);
		key_pem_free(key_pem);
		free(acct_json);
		if (a->acct_key && a->kid) {
			pthread_mutex_lock(&a->lock);
			snprintf(a->kid_copy, sizeof(a->kid_copy), "%s", a->kid);
			pthread_mutex_unlock(&a->lock);
			acct_finish(a, 1, NULL);
			return;
		}
		acct_finish(a, 0, "the stored ACME account is unreadable");
		return;
	}
	if (rc < 0) {
		acct_finish(a, 0, "cannot read the account store");
		return;
	}
	if ((a->acct_key = key_generate_p256()) == NULL) {
		acct_finish(a, 0, "cannot generate an account key");
		return;
	}
	acct_register(a);
}

static void
acct_start(struct acme *a)
{
	if (a->acct == ACCT_BUSY || a->acct == ACCT_READY)
		return;
	a->acct = ACCT_BUSY;
	if (http_request(a->http, "GET", a->cfg.directory, NULL, NULL, "application/json",
	    dir_loaded, a) != 0)
		acct_finish(a, 0, "cannot fetch the directory");
}

/* ---- orders */

static void
dns_cleaned(void *arg, int ok, const char *why)
{
	char *rr = arg;

	if (!ok)
		log_warn("acme: %s: the challenge record was not removed: %s", rr, why);
	free(rr);
}

static void
order_unpublish(struct order *o)
{
	if (!o->published)
		return;
	if (o->chal == CH_HTTP01)
		challenge_http_remove(o->token);
	else if (o->chal == CH_TLSALPN01)
		challenge_alpn_remove(o->name);
	else {
		/* Exactly the value we added goes; the order may be gone before it is done. */
		char *rr = strdup(o->rrname);

		if (rr == NULL || o->a->cfg.dns->ops->cleanup(o->a->cfg.dns, o->rrname, o->txt,
		    dns_cleaned, rr) != 0) {
			log_warn("acme: %s: cannot remove the challenge record", o->rrname);
			free(rr);
		}
	}
	o->published = 0;
}

static void
order_free(struct order *o)
{
	struct acme *a = o->a;
	struct order **pp;

	order_unpublish(o);
	timer_disarm(a->timers, &o->tm.t);
	pthread_mutex_lock(&a->lock);
	for (pp = &a->orders; *pp; pp = &(*pp)->next)
		if (*pp == o) {
			*pp = o->next;
			break;
		}
	pthread_mutex_unlock(&a->lock);
	free(o->order_url);
	free(o->finalize_url);
	free(o->cert_url);
	json_decref(o->authz);
	free(o->chal_url);
	free(o->token);
	free(o->keyauth);
	EVP_PKEY_free(o->cert_key);
	free(o->revoke_der);
	free(o);
}

/* The owner logs the outcome once (agent: "NAME: not issued (WHY)"). */
static void
order_fail(struct order *o, const char *why, long retry_after)
{
	if (o->a->closing) {
		o->done(o->arg, o->name, 0, "cancelled", ACME_CANCELLED, NULL, NULL);
		order_free(o);
		return;
	}
	/* Settled: a cancelled order (jfe stopping) stays recorded, to be resumed. */
	inflight_forget(o->a, o->name);
	o->done(o->arg, o->name, 0, why, retry_after, NULL, NULL);
	order_free(o);
}

static void
order_fail_resp(struct order *o, const char *what, struct http_resp *r)
{
	char type[64], detail[256], why[400];

	problem_of(r, type, sizeof(type), detail, sizeof(detail));
	snprintf(why, sizeof(why), "%s: %s%s%s", what, type, *type ? " " : "", detail);
	order_fail(o, why, r->retry_after_s);
}

/* Waits (the CA's Retry-After, bounded, else the step's back-off) and runs the step again. */
static void
order_later(struct order *o, struct http_resp *r)
{
	unsigned shift = o->step_polls < 5 ? o->step_polls : 5;
	unsigned ms = ACME_POLL_MIN_MS << shift;

	o->step_polls++;
	ms = acme_poll_ms(r ? r->retry_after_s : -1, ms < ACME_POLL_STEP_MS ? ms :
	    ACME_POLL_STEP_MS);
	if (++o->polls > POLL_MAX) {
		order_fail(o, "the CA took too long", -1);
		return;
	}
	timer_arm(o->a->timers, &o->tm.t, now_ms() + ms);
}

static void order_restart(struct order *o);

static void
on_certificate(struct acme *a, struct order *o, struct http_resp *r)
{
	X509 *leaf = NULL;
	STACK_OF(X509) *chain = NULL;
	char *key_pem = NULL;

	(void)a;
	if (r->status != 200 || r->body == NULL) {
		order_fail_resp(o, "certificate download", r);
		return;
	}
	if (chain_load_pem(r->body, r->body_len, &leaf, &chain) != 0 ||
	    cert_key_match(leaf, o->cert_key) != 0 || key_to_pem(o->cert_key, &key_pem) != 0) {
		X509_free(leaf);
		sk_X509_pop_free(chain, X509_free);
		order_fail(o, "the CA sent a certificate that does not match our key", -1);
		return;
	}
	X509_free(leaf);
	sk_X509_pop_free(chain, X509_free);
	log_info("acme: %s: certificate issued", o->name);
	inflight_forget(o->a, o->name);
	o->done(o->arg, o->name, 1, NULL, -1, key_pem, r->body);
	key_pem_free(key_pem);
	order_free(o);
}

static void
order_handle_status(struct order *o, struct http_resp *r, const struct acme_order_doc *d)
{
	const char *st = d->status, *cert = d->certificate;

	if (st && strcmp(st, "valid") == 0 && cert) {
		set_str(&o->cert_url, cert);
		order_set_step(o, OS_DOWNLOAD);
		if (acme_post(o->a, o, o->cert_url, "", 0, "application/pem-certificate-chain",
		    on_certificate) != 0)
			order_fail(o, "cannot request the certificate", -1);
	} else if (st && (strcmp(st, "processing") == 0 || strcmp(st, "valid") == 0)) {
		order_set_step(o, OS_POLL_ORDER);
		order_later(o, r);
	} else if (st && strcmp(st, "ready") == 0) {
		order_set_step(o, OS_FINALIZE);
		order_next(o);
	} else {
		char why[200], s[40];

		log_escape(s, sizeof(s), st ? st : "?", st ? strlen(st) : 1);
		snprintf(why, sizeof(why), "order became %s", s);
		order_fail(o, why, -1);
	}
}

static void
on_order_polled(struct acme *a, struct order *o, struct http_resp *r)
{
	struct acme_order_doc d;

	(void)a;
	acme_order_parse(r->body, &d);
	if (r->status != 200 || d.json == NULL)
		order_fail_resp(o, "order poll", r);
	else
		order_handle_status(o, r, &d);
	acme_order_doc_clear(&d);
}

static void
on_finalized(struct acme *a, struct order *o, struct http_resp *r)
{
	struct acme_order_doc d;

	(void)a;
	acme_order_parse(r->body, &d);
	if (r->status != 200 || d.json == NULL)
		order_fail_resp(o, "finalize", r);
	else
		order_handle_status(o, r, &d);
	acme_order_doc_clear(&d);
}

static void
order_finalize(struct order *o)
{
	const char *names[2] = { o->name, o->name + 2 };
	size_t nnames = strncmp(o->name, "*.", 2) == 0 ? 2 : 1;
	uint8_t *der = NULL;
	size_t len = 0;
	char *b64 = NULL, *payload = NULL;
	json_t *p;

	/* A fresh key per certificate: a leaked old key never signs for a new one. */
	EVP_PKEY_free(o->cert_key);
	if ((o->cert_key = key_generate_p256()) == NULL ||
	    csr_make(o->cert_key, names, nnames, &der, &len) != 0 ||
	    (b64 = b64url_encode_alloc(der, len)) == NULL) {
		free(der);
		order_fail(o, "cannot make the CSR", -1);
		return;
	}
	p = json_pack("{s:s}", "csr", b64);
	payload = json_dumps(p, JSON_COMPACT);
	json_decref(p);
	if (payload == NULL || acme_post(o->a, o, o->finalize_url, payload, 0, NULL,
	    on_finalized) != 0)
		order_fail(o, "cannot send finalize", -1);
	free(der);
	free(b64);
	free(payload);
}

static void
on_authz_polled(struct acme *a, struct order *o, struct http_resp *r)
{
	struct acme_authz_doc d;
	const char *st;

	(void)a;
	acme_authz_parse(r->body, chal_names[o->chal], &d);
	st = d.status;
	if (r->status != 200 || st == NULL) {
		order_fail_resp(o, "authorization poll", r);
	} else if (strcmp(st, "valid") == 0) {
		order_unpublish(o);
		o->iauthz++;
		order_set_step(o, OS_AUTHZ);
		order_next(o);
	} else if (strcmp(st, "pending") == 0 || strcmp(st, "processing") == 0) {
		order_later(o, r);
	} else {
		/* invalid: the CA could not reach us this way; another type may work. */
		char detail[300] = "";

		if (d.chal_error)
			log_escape(detail, sizeof(detail), d.chal_error, strlen(d.chal_error));
		log_warn("acme: %s: %s validation failed: %s", o->name, chal_names[o->chal],
		    detail);
		order_unpublish(o);
		order_restart(o);
	}
	acme_authz_doc_clear(&d);
}

static void
on_challenge_answered(struct acme *a, struct order *o, struct http_resp *r)
{
	(void)a;
	if (r->status != 200) {
		order_fail_resp(o, "challenge", r);
		return;
	}
	order_set_step(o, OS_POLL_AUTHZ);
	order_later(o, NULL);
}

static void
order_answer_challenge(struct order *o)
{
	log_debug("acme: %s: answering %s", o->name, chal_names[o->chal]);
	order_set_step(o, OS_CHALLENGE);
	/* "{}" tells the CA to validate now (RFC 8555 §7.5.1). */
	if (acme_post(o->a, o, o->chal_url, "{}", 0, NULL, on_challenge_answered) != 0)
		order_fail(o, "cannot answer the challenge", -1);
}

static void
dns_visible(void *arg, int ok, const char *why)
{
	struct order *o = arg;
	char msg[300];

	if (ok) {
		order_answer_challenge(o);
		return;
	}
	snprintf(msg, sizeof(msg), "dns-01 record %.200s: %s", o->rrname, why);
	order_fail(o, msg, -1);
}

static void
dns_presented(void *arg, int ok, const char *why)
{
	struct order *o = arg;
	char msg[300];

	if (!ok) {
		/* Still published: the change may have landed after all; cleanup is exact and
		 * harmless when nothing is there. */
		snprintf(msg, sizeof(msg), "%s: %s", o->a->cfg.dns->ops->name, why);
		order_fail(o, msg, -1);
		return;
	}
	/* The provider says its servers have it; check that every authoritative nameserver
	 * answers with it, since the CA may ask any of them. */
	struct dns01_check chk = { .timeout_ms = o->a->cfg.dns_visible_ms,
	    .resolver_only = o->a->cfg.dns_check_resolver };

	if (dns01_wait_visible(o->a->cfg.res, o->a->timers, o->rrname, o->txt, &chk,
	    dns_visible, o) != 0)
		order_fail(o, "cannot check the challenge record", -1);
}

static int
order_publish(struct order *o)
{
	if (o->chal == CH_DNS01) {
		if (dns01_txt_value(o->keyauth, o->txt) != 0)
			return -1;
		o->published = 1;
		if (o->a->cfg.dns->ops->present(o->a->cfg.dns, o->rrname, o->txt, dns_presented,
		    o) != 0) {
			o->published = 0;
			return -1;
		}
		return 0;
	}
	if (o->chal == CH_HTTP01) {
		if (challenge_http_add(o->token, o->keyauth) != 0)
			return -1;
	} else {
		X509 *x = NULL;
		EVP_PKEY *k = NULL;
		SSL_CTX *ctx = NULL;
		int rc = -1;

		if (tls_alpn01_cert(o->name, o->keyauth, &x, &k) == 0 &&
		    (ctx = SSL_CTX_new(TLS_server_method())) != NULL && tls_ctx_policy(ctx) == 0 &&
		    SSL_CTX_use_certificate(ctx, x) == 1 && SSL_CTX_use_PrivateKey(ctx, k) == 1 &&
		    challenge_alpn_add(o->name, ctx) == 0)
			rc = 0;
		SSL_CTX_free(ctx);
		X509_free(x);
		EVP_PKEY_free(k);
		if (rc != 0)
			return -1;
	}
	o->published = 1;
	return 0;
}

static void
on_authz(struct acme *a, struct order *o, struct http_resp *r)
{
	struct acme_authz_doc d;
	const char *st;

	acme_authz_parse(r->body, chal_names[o->chal], &d);
	st = d.status;
	if (r->status != 200 || st == NULL) {
		order_fail_resp(o, "authorization", r);
		goto out;
	}
	if (strcmp(st, "valid") == 0) {
		o->iauthz++;
		order_next(o);
		goto out;
	}
	if (strcmp(st, "pending") != 0) {
		order_fail(o, "authorization is not pending", -1);
		goto out;
	}
	if (!d.chal_found) {
		log_info("acme: %s: the CA does not offer %s", o->name, chal_names[o->chal]);
		order_restart(o);
		goto out;
	}
	set_str(&o->token, d.chal_token);
	set_str(&o->chal_url, d.chal_url);
	free(o->keyauth);
	o->keyauth = NULL;
	/* A wildcard's authorization names the base domain: the record lives there. */
	snprintf(o->rrname, sizeof(o->rrname), "_acme-challenge.%s",
	    d.identifier ? d.identifier : o->name);
	if (o->token == NULL || o->chal_url == NULL ||
	    key_authorization(a->acct_key, o->token, &o->keyauth) != 0 ||
	    order_publish(o) != 0) {
		order_fail(o, "cannot prepare the challenge", -1);
		goto out;
	}
	/* dns-01 answers once the record is visible (dns_presented → dns_visible). */
	if (o->chal != CH_DNS01)
		order_answer_challenge(o);
out:
	acme_authz_doc_clear(&d);
}

static void
on_new_order(struct acme *a, struct order *o, struct http_resp *r)
{
	struct acme_order_doc d;
	const char *fin, *st;

	acme_order_parse(r->body, &d);
	fin = d.finalize;
	st = d.status;
	if (r->status != 201 || r->location == NULL || fin == NULL || st == NULL ||
	    d.authorizations == NULL) {
		if (r->status == 201 || r->status == 200) {
			char why[200];

			snprintf(why, sizeof(why), "new order: HTTP %ld answer lacks %s", r->status,
			    r->location == NULL ? "a Location" : d.json == NULL ? "a JSON body" :
			    "status, finalize or authorizations");
			order_fail(o, why, -1);
		} else
			order_fail_resp(o, "new order", r);
		acme_order_doc_clear(&d);
		return;
	}
	set_str(&o->order_url, r->location);
	set_str(&o->finalize_url, fin);
	json_decref(o->authz);
	o->authz = json_incref(d.authorizations);
	o->iauthz = 0;
	inflight_remember(a, o);
	if (strcmp(st, "pending") == 0) {
		order_set_step(o, OS_AUTHZ);
		order_next(o);
	} else
		order_handle_status(o, r, &d);
	acme_order_doc_clear(&d);
}

/* A stored order fetched again after a restart. Only one whose finalize was not sent yet is
 * worth taking up: past that, the certificate's key died with the old process. */
static void
on_resumed_order(struct acme *a, struct order *o, struct http_resp *r)
{
	struct acme_order_doc d;
	const char *st;

	acme_order_parse(r->body, &d);
	st = d.status;
	if (r->status == 200 && st && d.finalize && json_is_array(d.authorizations) &&
	    (strcmp(st, "pending") == 0 || strcmp(st, "ready") == 0)) {
		log_info("acme: %s: resuming the order placed before the restart (%s)", o->name,
		    st);
		set_str(&o->finalize_url, d.finalize);
		json_decref(o->authz);
		o->authz = json_incref(d.authorizations);
		o->iauthz = 0;
		if (strcmp(st, "pending") == 0) {
			order_set_step(o, OS_AUTHZ);
			order_next(o);
		} else
			order_handle_status(o, r, &d);
	} else {
		log_info("acme: %s: the order placed before the restart is %s; ordering anew",
		    o->name, st ? st : "gone");
		inflight_forget(a, o->name);
		order_set_step(o, OS_NEW_ORDER);
		order_next(o);
	}
	acme_order_doc_clear(&d);
}

static void
on_revoked(struct acme *a, struct order *o, struct http_resp *r)
{
	(void)a;
	if (r->status != 200) {
		order_fail_resp(o, "revocation", r);
		return;
	}
	o->done(o->arg, o->name, 1, NULL, -1, NULL, NULL);
	order_free(o);
}

static void
revoke_send(struct order *o)
{
	char *b64 = b64url_encode_alloc(o->revoke_der, o->revoke_len), *payload = NULL;
	json_t *p = json_pack("{s:s, s:i}", "certificate", b64 ? b64 : "", "reason", 0);

	payload = json_dumps(p, JSON_COMPACT);
	json_decref(p);
	free(b64);
	order_set_step(o, OS_REVOKE);
	if (payload == NULL || acme_post(o->a, o, dir_url(o->a, "revokeCert"), payload, 0, NULL,
	    on_revoked) != 0)
		order_fail(o, "cannot send the revocation", -1);
	free(payload);
}

/* Runs the current step. */
static void
order_next(struct order *o)
{
	struct acme *a = o->a;

	switch (o->step) {
	case OS_WAIT_ACCOUNT:
		if (a->acct == ACCT_FAILED && time(NULL) >= a->acct_retry_at)
			a->acct = ACCT_NONE;
		if (a->acct == ACCT_FAILED) {
			order_fail(o, a->acct_why, (long)(a->acct_retry_at - time(NULL)));
			return;
		}
		if (a->acct != ACCT_READY) {
			acct_start(a);
			return;
		}
		if (o->revoke_der) {
			revoke_send(o);
			return;
		}
		order_set_step(o, OS_NEW_ORDER);
		/* fall through */
	case OS_NEW_ORDER: {
		json_t *p, *prev = a->inflight ? json_object_get(a->inflight, o->name) : NULL;
		char *payload;

		if (prev && !o->resume_tried) {
			o->resume_tried = 1;
			set_str(&o->order_url, json_string_value(json_object_get(prev, "url")));
			if (acme_post(a, o, o->order_url, "", 0, NULL, on_resumed_order) == 0)
				return;
			inflight_forget(a, o->name);
		}
		p = json_pack("{s:[{s:s, s:s}]}", "identifiers", "type", "dns", "value", o->name);

		/* "*.example.com" is ordered with "example.com": one certificate serves both. */
		if (strncmp(o->name, "*.", 2) == 0)
			json_array_append_new(json_object_get(p, "identifiers"),
			    json_pack("{s:s, s:s}", "type", "dns", "value", o->name + 2));
		if (acme_directory_has_profile(a->dir, a->cfg.profile))
			json_object_set_new(p, "profile", json_string(a->cfg.profile));
		payload = json_dumps(p, JSON_COMPACT);
		json_decref(p);
		o->polls = 0;
		if (payload == NULL || acme_post(a, o, dir_url(a, "newOrder"), payload, 0, NULL,
		    on_new_order) != 0)
			order_fail(o, "cannot send the new order", -1);
		free(payload);
		return;
	}
	case OS_AUTHZ:
		if (o->iauthz >= json_array_size(o->authz)) {
			/* Every authorization is valid: the order becomes ready. */
			order_set_step(o, OS_POLL_ORDER);
			if (acme_post(a, o, o->order_url, "", 0, NULL, on_order_polled) != 0)
				order_fail(o, "cannot poll the order", -1);
			return;
		}
		if (acme_post(a, o, json_string_value(json_array_get(o->authz, o->iauthz)), "", 0,
		    NULL, on_authz) != 0)
			order_fail(o, "cannot fetch the authorization", -1);
		return;
	case OS_POLL_AUTHZ:
		if (acme_post(a, o, json_string_value(json_array_get(o->authz, o->iauthz)), "", 0,
		    NULL, on_authz_polled) != 0)
			order_fail(o, "cannot poll the authorization", -1);
		return;
	case OS_FINALIZE:
		order_finalize(o);
		return;
	case OS_POLL_ORDER:
		if (acme_post(a, o, o->order_url, "", 0, NULL, on_order_polled) != 0)
			order_fail(o, "cannot poll the order", -1);
		return;
	default:
		return;
	}
}

static void
order_timer(struct evtimer *t)
{
	order_next((struct order *)t);
}

/* The challenge type failed: a new order with the next type that can work here. */
static void
order_restart(struct order *o)
{
	if (++o->ipref < o->nprefs) {
		o->chal = o->prefs[o->ipref];
		order_set_step(o, OS_NEW_ORDER);
		order_next(o);
		return;
	}
	order_fail(o, "no challenge type succeeded", -1);
}

/* Which challenge types can work for <name>, best first: wildcards only by DNS-01; a name in
 * a zone the DNS provider manages by DNS-01 first when neither port 80 nor 443 is
 * intercepted (the CA could not reach us), last otherwise. */
static unsigned
order_prefs(const struct acme *a, const char *name, enum chal_type *out)
{
	struct dns01 *d = a->cfg.dns;
	/* An unknown zone list counts as managed: present() then fails with the reason. */
	int dns = d && d->ops->manages(d, strncmp(name, "*.", 2) == 0 ? name + 2 : name) != 0;
	unsigned n = 0;

	if (strncmp(name, "*.", 2) == 0) {
		if (dns)
			out[n++] = CH_DNS01;
		return n;
	}
	if (dns && !a->cfg.http01 && !a->cfg.tlsalpn01)
		out[n++] = CH_DNS01;
	if (a->cfg.http01)
		out[n++] = CH_HTTP01;
	if (a->cfg.tlsalpn01)
		out[n++] = CH_TLSALPN01;
	if (dns && (a->cfg.http01 || a->cfg.tlsalpn01))
		out[n++] = CH_DNS01;
	return n;
}

static struct order *
order_new(struct acme *a, const char *name, acme_done_cb done, void *arg)
{
	struct order *o = calloc(1, sizeof(*o));

	if (o == NULL)
		return NULL;
	o->a = a;
	o->tm.fn = order_timer;
	snprintf(o->name, sizeof(o->name), "%s", name);
	o->done = done;
	o->arg = arg;
	o->started = time(NULL);
	o->nprefs = order_prefs(a, name, o->prefs);
	o->chal = o->nprefs ? o->prefs[0] : CH_HTTP01;
	pthread_mutex_lock(&a->lock);
	o->next = a->orders;
	a->orders = o;
	pthread_mutex_unlock(&a->lock);
	return o;
}

int
acme_order(struct acme *a, const char *name, acme_done_cb done, void *arg)
{
	enum chal_type prefs[CH_MAX];
	struct order *o;

	if (order_prefs(a, name, prefs) == 0) {
		done(arg, name, 0, strncmp(name, "*.", 2) == 0 ?
		    "a wildcard needs a DNS provider managing its zone" :
		    "no challenge type can work (ports 80 and 443 not intercepted, no DNS provider "
		    "for the zone)", -1, NULL, NULL);
		return 0;
	}
	if ((o = order_new(a, name, done, arg)) == NULL)
		return -1;
	order_next(o);
	return 0;
}

int
acme_revoke(struct acme *a, const unsigned char *der, size_t len, acme_done_cb done, void *arg)
{
	struct order *o = order_new(a, "revocation", done, arg);

	if (o == NULL || (o->revoke_der = malloc(len)) == NULL) {
		if (o)
			order_free(o);
		return -1;
	}
	memcpy(o->revoke_der, der, len);
	o->revoke_len = len;
	order_next(o);          /* the account first, then the revocation */
	return 0;
}

const char *
acme_account_url(const struct acme *a)
{
	return a->acct == ACCT_READY ? a->kid : NULL;
}

void
acme_prepare(struct acme *a)
{
	if (a->acct == ACCT_FAILED && time(NULL) >= a->acct_retry_at)
		a->acct = ACCT_NONE;
	acct_start(a);
}

/* ---- lifecycle */

struct acme *
acme_new(const struct acme_config *cfg, struct http *h, struct store *s,
    struct timer_heap *timers)
{
	struct acme *a = calloc(1, sizeof(*a));

	if (a == NULL)
		return NULL;
	a->cfg = *cfg;
	a->http = h;
	a->store = s;
	a->timers = timers;
	pthread_mutex_init(&a->lock, NULL);
	inflight_load(a);
	return a;
}

void
acme_shutdown(struct acme *a)
{
	if (a)
		a->closing = 1;
}

void
acme_free(struct acme *a)
{
	if (a == NULL)
		return;
	a->closing = 1;
	while (a->orders)
		order_fail(a->orders, "cancelled", ACME_CANCELLED);
	json_decref(a->dir);
	json_decref(a->inflight);
	EVP_PKEY_free(a->acct_key);
	free(a->kid);
	for (unsigned i = 0; i < a->nnonces; i++)
		free(a->nonces[i]);
	pthread_mutex_destroy(&a->lock);
	free(a);
}

unsigned
acme_orders_active(struct acme *a)
{
	unsigned n = 0;

	pthread_mutex_lock(&a->lock);
	for (struct order *o = a->orders; o; o = o->next)
		n++;
	pthread_mutex_unlock(&a->lock);
	return n;
}

json_t *
acme_account_json(struct acme *a)
{
	json_t *j;

	pthread_mutex_lock(&a->lock);
	j = json_pack("{s:s, s:s?}", "directory", a->cfg.directory, "account",
	    a->kid_copy[0] ? a->kid_copy : NULL);
	pthread_mutex_unlock(&a->lock);
	return j;
}

json_t *
acme_orders_json(struct acme *a)
{
	json_t *arr = json_array();

	pthread_mutex_lock(&a->lock);
	for (struct order *o = a->orders; o; o = o->next)
		json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:I}", "name", o->name,
		    "state", step_names[o->step], "challenge", chal_names[o->chal],
		    "age_s", (json_int_t)(time(NULL) - o->started)));
	pthread_mutex_unlock(&a->lock);
	return arr;
}
