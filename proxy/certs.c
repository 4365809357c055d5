#include "proxy/certs.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "agent/log.h"
#include "proxy/names.h"
#include "proxy/timer.h"

#define CERTS_BUCKETS 4096
#define CERTS_MAX     200000    /* names tracked at once, refused ones included */

enum name_state { NS_IDLE, NS_PENDING, NS_REFUSED };

struct cert_entry {
	struct cert_entry *next;
	SSL_CTX *ctx;
	enum name_state state;
	uint64_t refused_until;         /* monotonic ms */
	struct cert_meta meta;
	char why[256];
	char name[];
};

static struct {
	pthread_rwlock_t lock;
	struct cert_entry *b[CERTS_BUCKETS];
	size_t n;
	int enabled;
	void (*request)(const char *, const char *);
	void (*changed)(void);
} reg = { .lock = PTHREAD_RWLOCK_INITIALIZER };

static unsigned
name_hash(const char *s)
{
	unsigned h = 2166136261u;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h % CERTS_BUCKETS;
}

static struct cert_entry *
entry_find(const char *name)
{
	struct cert_entry *e;

	for (e = reg.b[name_hash(name)]; e; e = e->next)
		if (strcmp(e->name, name) == 0)
			return e;
	return NULL;
}

/* Under the write lock. */
static struct cert_entry *
entry_get(const char *name)
{
	struct cert_entry *e = entry_find(name);
	size_t len = strlen(name);
	unsigned h;

	if (e)
		return e;
	if (reg.n >= CERTS_MAX || (e = calloc(1, sizeof(*e) + len + 1)) == NULL)
		return NULL;
	memcpy(e->name, name, len + 1);
	h = name_hash(name);
	e->next = reg.b[h];
	reg.b[h] = e;
	reg.n++;
	return e;
}

void
certs_init(int issuance_enabled, void (*request)(const char *name, const char *client),
    void (*changed)(void))
{
	reg.enabled = issuance_enabled;
	reg.request = request;
	reg.changed = changed;
}

void
certs_shutdown(void)
{
	pthread_rwlock_wrlock(&reg.lock);
	for (size_t i = 0; i < CERTS_BUCKETS; i++) {
		struct cert_entry *e = reg.b[i], *n;

		for (; e; e = n) {
			n = e->next;
			SSL_CTX_free(e->ctx);
			free(e);
		}
		reg.b[i] = NULL;
	}
	reg.n = 0;
	reg.request = NULL;
	reg.changed = NULL;
	pthread_rwlock_unlock(&reg.lock);
}

/* The wildcard that would cover <name>: "*.rest". */
static int
wildcard_of(const char *name, char *out, size_t len)
{
	const char *dot = strchr(name, '.');

	if (dot == NULL || strchr(dot + 1, '.') == NULL)
		return -1;
	return snprintf(out, len, "*%s", dot) < (int)len ? 0 : -1;
}

static enum cert_status
status_of(struct cert_entry *e, uint64_t now)
{
	if (e->ctx)
		return CERT_READY;
	if (e->state == NS_PENDING)
		return CERT_PENDING;
	if (e->state == NS_REFUSED && now < e->refused_until)
		return CERT_NONE;
	return (enum cert_status)-1;    /* unknown: may be requested */
}

/* The wildcard entry that covers <name> ("*.<parent>" for a subdomain, "*.<name>" for the
 * base name a wildcard certificate also carries), if any. Under the lock. */
static struct cert_entry *
wildcard_entry(const char *name)
{
	char wild[NAME_MAX_LEN + 3];
	struct cert_entry *w = NULL;

	if (wildcard_of(name, wild, sizeof(wild)) == 0)
		w = entry_find(wild);
	if ((w == NULL || (w->ctx == NULL && w->state != NS_PENDING)) &&
	    snprintf(wild, sizeof(wild), "*.%s", name) < (int)sizeof(wild))
		w = entry_find(wild);
	return w;
}

/* The name's status under the lock: its own entry, else a wildcard that covers it; a pending
 * wildcard makes the name wait for it rather than order a certificate of its own. */
static enum cert_status
status_locked(const char *name, uint64_t now, struct cert_entry **out)
{
	struct cert_entry *e = entry_find(name), *w;
	enum cert_status st = e ? status_of(e, now) : (enum cert_status)-1;

	*out = e;
	if (st == CERT_READY || name[0] == '*')
		return st;
	if ((w = wildcard_entry(name)) != NULL) {
		if (w->ctx) {
			*out = w;
			return CERT_READY;
		}
		if (w->state == NS_PENDING)
			return CERT_PENDING;
	}
	return st;
}

enum cert_status
certs_lookup(const char *name, const char *client, int may_request, SSL_CTX **ctx)
{
	struct cert_entry *e;
	enum cert_status st;
	uint64_t now = now_ms();
	void (*req)(const char *, const char *) = NULL;

	*ctx = NULL;
	pthread_rwlock_rdlock(&reg.lock);
	st = status_locked(name, now, &e);
	if (st == CERT_READY) {
		SSL_CTX_up_ref(e->ctx);
		*ctx = e->ctx;
	}
	pthread_rwlock_unlock(&reg.lock);
	if (st != (enum cert_status)-1)
		return st;
	if (!reg.enabled || !may_request)
		return CERT_NONE;

	pthread_rwlock_wrlock(&reg.lock);
	st = status_locked(name, now, &e);
	if (st == (enum cert_status)-1) {
		if ((e = entry_get(name)) == NULL)
			st = CERT_NONE;         /* table full: serve the fallback */
		else {
			/* First sight (or back-off over): exactly one requester asks the agent. */
			e->state = NS_PENDING;
			st = CERT_PENDING;
			req = reg.request;
		}
	} else if (st == CERT_READY) {
		SSL_CTX_up_ref(e->ctx);
		*ctx = e->ctx;
	}
	pthread_rwlock_unlock(&reg.lock);
	if (req)
		req(name, client);
	return st;
}

int
certs_wants_order(const char *name)
{
	struct cert_entry *e;
	int want;

	pthread_rwlock_rdlock(&reg.lock);
	e = entry_find(name);
	want = e == NULL || status_of(e, now_ms()) == (enum cert_status)-1;
	pthread_rwlock_unlock(&reg.lock);
	return want;
}

enum cert_status
certs_peek(const char *name)
{
	struct cert_entry *e;
	enum cert_status st = CERT_NONE;

	pthread_rwlock_rdlock(&reg.lock);
	if (status_locked(name, now_ms(), &e) == CERT_PENDING)
		st = CERT_PENDING;
	pthread_rwlock_unlock(&reg.lock);
	return st;
}

static void
notify(void)
{
	if (reg.changed)
		reg.changed();
}

int
certs_set_ready(const char *name, SSL_CTX *ctx, const struct cert_meta *m)
{
	struct cert_entry *e;
	SSL_CTX *old = NULL;

	pthread_rwlock_wrlock(&reg.lock);
	if ((e = entry_get(name)) == NULL) {
		pthread_rwlock_unlock(&reg.lock);
		return -1;
	}
	SSL_CTX_up_ref(ctx);
	old = e->ctx;
	e->ctx = ctx;
	e->state = NS_IDLE;
	e->why[0] = '\0';
	if (m)
		e->meta = *m;
	pthread_rwlock_unlock(&reg.lock);
	/* Handshakes that took a reference to the old context keep it alive until they end. */
	SSL_CTX_free(old);
	notify();
	return 0;
}

void
certs_set_pending(const char *name)
{
	struct cert_entry *e;

	pthread_rwlock_wrlock(&reg.lock);
	if ((e = entry_get(name)) != NULL)
		e->state = NS_PENDING;
	pthread_rwlock_unlock(&reg.lock);
}

void
certs_set_failed(const char *name, unsigned backoff_s, const char *why)
{
	struct cert_entry *e;

	pthread_rwlock_wrlock(&reg.lock);
	if ((e = entry_get(name)) != NULL) {
		e->state = NS_REFUSED;
		e->refused_until = now_ms() + (uint64_t)backoff_s * 1000;
		snprintf(e->why, sizeof(e->why), "%s", why ? why : "");
	}
	pthread_rwlock_unlock(&reg.lock);
	notify();
}

void
certs_set_meta(const char *name, const struct cert_meta *m)
{
	struct cert_entry *e;

	pthread_rwlock_wrlock(&reg.lock);
	if ((e = entry_find(name)) != NULL)
		e->meta = *m;
	pthread_rwlock_unlock(&reg.lock);
}

void
certs_set_renew_at(const char *name, time_t t)
{
	struct cert_entry *e;

	pthread_rwlock_wrlock(&reg.lock);
	if ((e = entry_find(name)) != NULL)
		e->meta.renew_at = t;
	pthread_rwlock_unlock(&reg.lock);
}

size_t
certs_due(time_t now, char ***names, size_t max)
{
	char **v = calloc(max ? max : 1, sizeof(*v));
	size_t n = 0;

	*names = v;
	if (v == NULL)
		return 0;
	pthread_rwlock_rdlock(&reg.lock);
	for (size_t i = 0; i < CERTS_BUCKETS && n < max; i++)
		for (struct cert_entry *e = reg.b[i]; e && n < max; e = e->next)
			if (e->ctx && e->state != NS_PENDING && e->meta.renew_at &&
			    e->meta.renew_at <= now && (e->state != NS_REFUSED ||
			    now_ms() >= e->refused_until))
				if ((v[n] = strdup(e->name)) != NULL)
					n++;
	pthread_rwlock_unlock(&reg.lock);
	return n;
}

time_t
certs_next_renewal(void)
{
	time_t best = 0;

	pthread_rwlock_rdlock(&reg.lock);
	for (size_t i = 0; i < CERTS_BUCKETS; i++)
		for (struct cert_entry *e = reg.b[i]; e; e = e->next)
			if (e->ctx && e->state != NS_PENDING && e->meta.renew_at &&
			    !(e->state == NS_REFUSED && now_ms() < e->refused_until) &&
			    (best == 0 || e->meta.renew_at < best))
				best = e->meta.renew_at;
	pthread_rwlock_unlock(&reg.lock);
	return best;
}

static void
rfc3339(time_t t, char *buf, size_t len)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

json_t *
certs_status_json(void)
{
	json_t *certs = json_array(), *refused = json_array();
	uint64_t now = now_ms();
	char a[32], b[32];

	pthread_rwlock_rdlock(&reg.lock);
	for (size_t i = 0; i < CERTS_BUCKETS; i++)
		for (struct cert_entry *e = reg.b[i]; e; e = e->next) {
			if (e->ctx) {
				rfc3339(e->meta.not_after, a, sizeof(a));
				rfc3339(e->meta.renew_at, b, sizeof(b));
				json_array_append_new(certs, json_pack("{s:s, s:s, s:s, s:s, s:b}",
				    "name", e->name, "issuer", e->meta.issuer, "not_after", a,
				    "renew_at", b, "renewing", e->state == NS_PENDING));
			} else if (e->state == NS_REFUSED && now < e->refused_until)
				json_array_append_new(refused, json_pack("{s:s, s:s, s:I}",
				    "name", e->name, "reason", e->why,
				    "retry_in_s", (json_int_t)((e->refused_until - now) / 1000)));
		}
	pthread_rwlock_unlock(&reg.lock);
	return json_pack("{s:o, s:o}", "certificates", certs, "refused", refused);
}
