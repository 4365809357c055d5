#include "agent/limits.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

#include "agent/log.h"
#include "agent/store.h"

#define CLIENTS_MAX 4096

struct bucket {
	double tokens;
	time_t last;
};

struct limits {
	pthread_mutex_t lock;           /* the agent spends, `jfe status` reads */
	struct limits_config cfg;
	struct store *store;
	char identity[128];
	char key[32];                   /* the state blob: one per identity */
	struct bucket hour, day;
	json_t *domains;                /* registered domain → {"t":tokens,"l":last} */
	json_t *clients;                /* address → {"t","l"}, memory only */
};

/* Refills <b> (capacity <cap> per <period> seconds) up to <now>. */
static void
bucket_refill(struct bucket *b, double cap, double period, time_t now)
{
	if (b->last == 0 || now < b->last) {
		if (b->last == 0)
			b->tokens = cap;
		b->last = now;
		return;
	}
	b->tokens = fmin(cap, b->tokens + (double)(now - b->last) * cap / period);
	b->last = now;
}

static unsigned
bucket_wait(const struct bucket *b, double cap, double period)
{
	return (unsigned)ceil((1.0 - b->tokens) * period / cap);
}

static void
bucket_from_json(struct bucket *b, json_t *j)
{
	b->tokens = json_number_value(json_object_get(j, "t"));
	b->last = (time_t)json_integer_value(json_object_get(j, "l"));
}

static json_t *
bucket_to_json(const struct bucket *b)
{
	return json_pack("{s:f, s:I}", "t", b->tokens, "l", (json_int_t)b->last);
}

/* "limits-" + 64-bit FNV-1a of the identity: each identity keeps its own budgets. */
static void
limits_key(struct limits *l)
{
	uint64_t h = 14695981039346656037ULL;

	for (const char *p = l->identity; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	snprintf(l->key, sizeof(l->key), "limits-%016llx", (unsigned long long)h);
}

static void
limits_save(struct limits *l)
{
	json_t *j = json_pack("{s:s, s:o, s:o, s:O}", "identity", l->identity,
	    "hour", bucket_to_json(&l->hour), "day", bucket_to_json(&l->day),
	    "domains", l->domains);
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;

	if (s == NULL || store_state_save(l->store, l->key, s) != 0)
		log_warn("limits: cannot save the issuance budgets");
	free(s);
	json_decref(j);
}

static void
limits_reset(struct limits *l)
{
	memset(&l->hour, 0, sizeof(l->hour));
	memset(&l->day, 0, sizeof(l->day));
	json_decref(l->domains);
	l->domains = json_object();
}

static void limits_load(struct limits *l);

struct limits *
limits_new(const struct limits_config *cfg, struct store *s, const char *identity)
{
	struct limits *l = calloc(1, sizeof(*l));

	if (l == NULL)
		return NULL;
	pthread_mutex_init(&l->lock, NULL);
	l->cfg = *cfg;
	l->store = s;
	l->clients = json_object();
	snprintf(l->identity, sizeof(l->identity), "%s", identity);
	limits_key(l);
	limits_reset(l);
	limits_load(l);
	return l;
}

/* The budgets saved under this identity, if any (a hash collision is told apart by the
 * identity written inside). */
static void
limits_load(struct limits *l)
{
	char *saved = NULL;
	json_t *j = NULL;

	if (store_state_load(l->store, l->key, &saved) == 0)
		j = json_loads(saved, 0, NULL);
	free(saved);
	if (j && strcmp(json_string_value(json_object_get(j, "identity")) ?: "", l->identity) == 0) {
		bucket_from_json(&l->hour, json_object_get(j, "hour"));
		bucket_from_json(&l->day, json_object_get(j, "day"));
		if (json_is_object(json_object_get(j, "domains"))) {
			json_decref(l->domains);
			l->domains = json_incref(json_object_get(j, "domains"));
		}
	}
	json_decref(j);
}

void
limits_set_identity(struct limits *l, const char *identity)
{
	pthread_mutex_lock(&l->lock);
	if (strcmp(l->identity, identity) != 0) {
		snprintf(l->identity, sizeof(l->identity), "%s", identity);
		limits_key(l);
		limits_reset(l);
		limits_load(l);
	}
	pthread_mutex_unlock(&l->lock);
}

void
limits_set_config(struct limits *l, const struct limits_config *cfg)
{
	pthread_mutex_lock(&l->lock);
	l->cfg = *cfg;
	pthread_mutex_unlock(&l->lock);
}

void
limits_free(struct limits *l)
{
	if (l == NULL)
		return;
	json_decref(l->domains);
	json_decref(l->clients);
	pthread_mutex_destroy(&l->lock);
	free(l);
}

static int
limits_take_locked(struct limits *l, const char *domain, time_t now, const char **why,
    unsigned *retry_s)
{
	struct bucket dom = { 0 };
	json_t *dj = json_object_get(l->domains, domain);

	bucket_refill(&l->hour, l->cfg.per_hour, 3600, now);
	bucket_refill(&l->day, l->cfg.per_day, 86400, now);
	if (dj)
		bucket_from_json(&dom, dj);
	bucket_refill(&dom, l->cfg.per_domain_week, 7 * 86400, now);
	if (l->hour.tokens < 1) {
		*why = "hourly budget of new names spent";
		*retry_s = bucket_wait(&l->hour, l->cfg.per_hour, 3600);
		return -1;
	}
	if (l->day.tokens < 1) {
		*why = "daily budget of new names spent";
		*retry_s = bucket_wait(&l->day, l->cfg.per_day, 86400);
		return -1;
	}
	if (dom.tokens < 1) {
		*why = "weekly budget of the registered domain spent";
		*retry_s = bucket_wait(&dom, l->cfg.per_domain_week, 7 * 86400);
		return -1;
	}
	l->hour.tokens -= 1;
	l->day.tokens -= 1;
	dom.tokens -= 1;
	json_object_set_new(l->domains, domain, bucket_to_json(&dom));
	limits_save(l);
	return 0;
}

int
limits_take(struct limits *l, const char *domain, time_t now, const char **why,
    unsigned *retry_s)
{
	int r;

	pthread_mutex_lock(&l->lock);
	r = limits_take_locked(l, domain, now, why, retry_s);
	pthread_mutex_unlock(&l->lock);
	return r;
}

static int
limits_client_locked(struct limits *l, const char *client, time_t now)
{
	struct bucket b = { 0 };
	json_t *cj = json_object_get(l->clients, client);

	if (cj)
		bucket_from_json(&b, cj);
	else if (json_object_size(l->clients) >= CLIENTS_MAX)
		json_object_clear(l->clients);  /* bounded: forget everyone rather than grow */
	bucket_refill(&b, l->cfg.per_client_hour, 3600, now);
	if (b.tokens < 1)
		return -1;
	b.tokens -= 1;
	json_object_set_new(l->clients, client, bucket_to_json(&b));
	return 0;
}

int
limits_client(struct limits *l, const char *client, time_t now)
{
	int r;

	pthread_mutex_lock(&l->lock);
	r = limits_client_locked(l, client, now);
	pthread_mutex_unlock(&l->lock);
	return r;
}

json_t *
limits_status_json(struct limits *l, time_t now)
{
	json_t *j;

	pthread_mutex_lock(&l->lock);
	bucket_refill(&l->hour, l->cfg.per_hour, 3600, now);
	bucket_refill(&l->day, l->cfg.per_day, 86400, now);
	j = json_pack("{s:s, s:{s:i, s:i}, s:{s:i, s:i}, s:i, s:i}", "identity", l->identity,
	    "hour", "left", (int)floor(l->hour.tokens), "of", (int)l->cfg.per_hour,
	    "day", "left", (int)floor(l->day.tokens), "of", (int)l->cfg.per_day,
	    "per_domain_week", (int)l->cfg.per_domain_week,
	    "per_client_hour", (int)l->cfg.per_client_hour);
	pthread_mutex_unlock(&l->lock);
	return j;
}
