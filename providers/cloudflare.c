#include "providers/cloudflare.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "agent/evtimer.h"
#include "agent/http.h"
#include "agent/log.h"

#define CF_TTL            60            /* the smallest TTL Cloudflare accepts (1 = auto) */
#define CF_RETRIES        5
#define CF_BACKOFF_MS     1000
#define CF_ZONES_MAX      1000
#define CF_ZONE_REFRESH   600
#define CF_DUPLICATE      81058         /* "An identical record already exists." */

enum cf_kind { CF_PRESENT, CF_CLEANUP, CF_ZONES };
enum cf_stage { CS_ZONES, CS_CREATE, CS_FIND, CS_DELETE, CS_FAIL };

struct cf_zone {
	char name[256];
	char id[64];
};

struct cf_op {
	struct evtimer tm;              /* first */
	struct cf_op *next, *prev;
	struct cloudflare *cf;
	enum cf_kind kind;
	enum cf_stage stage;
	char rrname[300];
	char value[128];
	char zone_id[64];
	char record_id[64];
	unsigned tries, page;
	char why[400];
	dns01_cb cb;
	void *arg;
};

/* Records we created, so cleanup deletes exactly those by id. */
struct cf_record {
	char rrname[300], value[128], zone_id[64], id[64];
};

struct cloudflare {
	struct dns01 base;              /* first */
	struct http *http;
	struct timer_heap *timers;
	char endpoint[256];
	char auth[512];                 /* "Authorization: Bearer …" */
	struct cf_zone *zones, *loading;
	size_t nzones, nloading;
	struct cf_record *recs;
	size_t nrecs;
	int healthy;
	char last_error[320];
	struct cf_op *ops;
	struct evtimer refresh;
	int zones_known, zones_busy;
};

static void cf_step(struct evtimer *t);

void
cf_error_message(json_t *j, long status, int *code, char *out, size_t len)
{
	json_t *e = json_array_get(json_object_get(j, "errors"), 0);
	const char *m = json_string_value(json_object_get(e, "message"));
	char esc[200] = "";

	*code = (int)json_integer_value(json_object_get(e, "code"));
	if (m)
		log_escape(esc, sizeof(esc), m, strlen(m));
	switch (*code) {
	case 10000:
	case 9109:
	case 6003:
	case 6111:
		snprintf(out, len, "authentication failed (code %d: %s): check the API token and "
		    "that it may edit DNS in this zone", *code, esc);
		return;
	case 7003:
	case 7000:
		snprintf(out, len, "zone not found (code %d: %s)", *code, esc);
		return;
	case CF_DUPLICATE:
		snprintf(out, len, "the record already exists");
		return;
	default:
		break;
	}
	if (status == 429)
		snprintf(out, len, "rate limited (HTTP 429%s%s)", *esc ? ": " : "", esc);
	else if (*code)
		snprintf(out, len, "HTTP %ld, code %d: %s", status, *code, esc);
	else
		snprintf(out, len, "HTTP %ld without a usable error", status);
}

static void
op_done(struct cf_op *op, int ok, const char *why)
{
	struct cloudflare *cf = op->cf;

	if (op->kind == CF_ZONES) {
		cf->zones_busy = 0;
		free(cf->loading);
		cf->loading = NULL;
		cf->nloading = 0;
		if (!ok) {
			log_warn("cloudflare: cannot list the zones: %s", why ? why : "?");
			timer_arm(cf->timers, &cf->refresh.t, now_ms() + 5000);
		}
	}
	if (op->prev)
		op->prev->next = op->next;
	else
		cf->ops = op->next;
	if (op->next)
		op->next->prev = op->prev;
	timer_disarm(cf->timers, &op->tm.t);
	if (ok)
		cf->healthy = 1;
	else if (why) {
		snprintf(cf->last_error, sizeof(cf->last_error), "%s", why);
		cf->healthy = 0;
	}
	if (op->cb)
		op->cb(op->arg, ok, why);
	free(op);
}

static int
cf_send(struct cf_op *op, const char *method, const char *path, const char *body, http_cb cb)
{
	struct cloudflare *cf = op->cf;
	const char *hdrs[] = { cf->auth, "Content-Type: application/json",
	    "Accept: application/json", NULL };
	struct http_opts ho = { .headers = hdrs, .timeout_ms = 20000 };
	char url[1024];

	snprintf(url, sizeof(url), "%s%s", cf->endpoint, path);
	if (http_request_ex(cf->http, method, url, &ho, body, cb, op) != 0) {
		op_done(op, 0, "cannot send the request");
		return -1;
	}
	return 0;
}

/* Parses the answer; on failure retries throttling or ends the op. Returns the JSON on a
 * successful v4 answer (caller decrefs), NULL when the op is dealt with. <dup_ok>: a
 * duplicate record counts as success. */
static json_t *
cf_answer(struct cf_op *op, struct http_resp *r, const char *what, int dup_ok, int *dup)
{
	json_t *j = r->body ? json_loads(r->body, 0, NULL) : NULL;
	char msg[300], why[400];
	int code = 0;

	if (dup)
		*dup = 0;
	if (r->status == 200 && json_is_true(json_object_get(j, "success")))
		return j;
	if (r->status == 0) {
		snprintf(why, sizeof(why), "%s: %s", what, r->error);
		json_decref(j);
		op_done(op, 0, why);
		return NULL;
	}
	cf_error_message(j, r->status, &code, msg, sizeof(msg));
	if (dup_ok && code == CF_DUPLICATE) {
		if (dup)
			*dup = 1;
		return j;
	}
	json_decref(j);
	if ((r->status == 429 || r->status >= 500) && op->tries < CF_RETRIES) {
		unsigned ms = CF_BACKOFF_MS << op->tries;

		if (r->retry_after_s > 0 && r->retry_after_s < 300)
			ms = (unsigned)r->retry_after_s * 1000;
		op->tries++;
		log_info("cloudflare: %s: %s; retrying in %u ms", what, msg, ms);
		timer_arm(op->cf->timers, &op->tm.t, now_ms() + ms);
		return NULL;
	}
	snprintf(why, sizeof(why), "%s: %s", what, msg);
	op_done(op, 0, why);
	return NULL;
}

static void
record_remember(struct cloudflare *cf, const struct cf_op *op, const char *id)
{
	struct cf_record *n = realloc(cf->recs, (cf->nrecs + 1) * sizeof(*n));

	if (n == NULL)
		return;
	cf->recs = n;
	snprintf(n[cf->nrecs].rrname, sizeof(n->rrname), "%s", op->rrname);
	snprintf(n[cf->nrecs].value, sizeof(n->value), "%s", op->value);
	snprintf(n[cf->nrecs].zone_id, sizeof(n->zone_id), "%s", op->zone_id);
	snprintf(n[cf->nrecs].id, sizeof(n->id), "%s", id);
	cf->nrecs++;
}

static void
record_forget(struct cloudflare *cf, const char *id)
{
	for (size_t i = 0; i < cf->nrecs; i++)
		if (strcmp(cf->recs[i].id, id) == 0) {
			cf->recs[i] = cf->recs[--cf->nrecs];
			return;
		}
}

static void cf_find(struct cf_op *op);

static void
on_created(void *arg, struct http_resp *r)
{
	struct cf_op *op = arg;
	int dup = 0;
	json_t *j = cf_answer(op, r, "create TXT record", 1, &dup);
	const char *id;

	if (j == NULL)
		return;
	if (dup) {
		/* Already there (a retry, or a crash before cleanup): find its id. */
		json_decref(j);
		cf_find(op);
		return;
	}
	id = json_string_value(json_object_get(json_object_get(j, "result"), "id"));
	if (id == NULL) {
		json_decref(j);
		op_done(op, 0, "create TXT record: no record id in the answer");
		return;
	}
	record_remember(op->cf, op, id);
	json_decref(j);
	op_done(op, 1, NULL);
}

static void
on_deleted(void *arg, struct http_resp *r)
{
	struct cf_op *op = arg;
	json_t *j;

	if (r->status == 404) {
		record_forget(op->cf, op->record_id);
		op_done(op, 1, NULL);   /* already gone */
		return;
	}
	if ((j = cf_answer(op, r, "delete TXT record", 0, NULL)) == NULL)
		return;
	json_decref(j);
	record_forget(op->cf, op->record_id);
	op_done(op, 1, NULL);
}

static void
cf_delete(struct cf_op *op)
{
	char path[256];

	op->stage = CS_DELETE;
	snprintf(path, sizeof(path), "/zones/%s/dns_records/%s", op->zone_id, op->record_id);
	cf_send(op, "DELETE", path, NULL, on_deleted);
}

static void
on_found(void *arg, struct http_resp *r)
{
	struct cf_op *op = arg;
	json_t *j = cf_answer(op, r, "list TXT records", 0, NULL), *rec;
	size_t i;

	if (j == NULL)
		return;
	op->record_id[0] = '\0';
	json_array_foreach(json_object_get(j, "result"), i, rec) {
		const char *c = json_string_value(json_object_get(rec, "content"));
		const char *id = json_string_value(json_object_get(rec, "id"));
		char q[140];

		snprintf(q, sizeof(q), "\"%s\"", op->value);
		/* Cloudflare may hand TXT content back quoted. */
		if (c && id && (strcmp(c, op->value) == 0 || strcmp(c, q) == 0)) {
			snprintf(op->record_id, sizeof(op->record_id), "%s", id);
			break;
		}
	}
	json_decref(j);
	if (op->kind == CF_PRESENT) {
		if (op->record_id[0])
			record_remember(op->cf, op, op->record_id);
		op_done(op, op->record_id[0] != 0, op->record_id[0] ? NULL :
		    "create TXT record: reported as existing but not found");
	} else if (op->record_id[0])
		cf_delete(op);
	else
		op_done(op, 1, NULL);   /* nothing to remove */
}

static void
cf_find(struct cf_op *op)
{
	char path[600];

	op->stage = CS_FIND;
	snprintf(path, sizeof(path), "/zones/%s/dns_records?type=TXT&name=%s&per_page=100",
	    op->zone_id, op->rrname);
	cf_send(op, "GET", path, NULL, on_found);
}

static void
cf_create(struct cf_op *op)
{
	json_t *b = json_pack("{s:s, s:s, s:s, s:i}", "type", "TXT", "name", op->rrname,
	    "content", op->value, "ttl", CF_TTL);
	char *body = b ? json_dumps(b, JSON_COMPACT) : NULL;
	char path[128];

	json_decref(b);
	op->stage = CS_CREATE;
	snprintf(path, sizeof(path), "/zones/%s/dns_records", op->zone_id);
	if (body == NULL)
		op_done(op, 0, "out of memory");
	else
		cf_send(op, "POST", path, body, on_created);
	free(body);
}

/* ---- zones */

static void cf_zones_page(struct cf_op *op);

static void
on_zones(void *arg, struct http_resp *r)
{
	struct cf_op *op = arg;
	struct cloudflare *cf = op->cf;
	json_t *j = cf_answer(op, r, "list zones", 0, NULL), *z;
	size_t i;
	json_int_t pages;

	if (j == NULL)
		return;
	json_array_foreach(json_object_get(j, "result"), i, z) {
		const char *name = json_string_value(json_object_get(z, "name"));
		const char *id = json_string_value(json_object_get(z, "id"));
		struct cf_zone *nz;

		if (!name || !id || cf->nloading >= CF_ZONES_MAX ||
		    (nz = realloc(cf->loading, (cf->nloading + 1) * sizeof(*nz))) == NULL)
			continue;
		cf->loading = nz;
		snprintf(nz[cf->nloading].name, sizeof(nz->name), "%s", name);
		snprintf(nz[cf->nloading].id, sizeof(nz->id), "%s", id);
		cf->nloading++;
	}
	pages = json_integer_value(json_object_get(json_object_get(j, "result_info"),
	    "total_pages"));
	json_decref(j);
	if (op->page < (unsigned)pages && op->page < 50) {
		op->page++;
		cf_zones_page(op);
		return;
	}
	free(cf->zones);
	cf->zones = cf->loading;
	cf->nzones = cf->nloading;
	cf->loading = NULL;
	cf->nloading = 0;
	cf->zones_known = 1;
	log_info("cloudflare: %zu zones", cf->nzones);
	op_done(op, 1, NULL);
}

static void
cf_zones_page(struct cf_op *op)
{
	char path[128];

	op->stage = CS_ZONES;
	snprintf(path, sizeof(path), "/zones?status=active&per_page=50&page=%u", op->page);
	cf_send(op, "GET", path, NULL, on_zones);
}

static struct cf_op *
op_new(struct cloudflare *cf, enum cf_kind kind, dns01_cb cb, void *arg)
{
	struct cf_op *op = calloc(1, sizeof(*op));

	if (op == NULL)
		return NULL;
	op->cf = cf;
	op->kind = kind;
	op->cb = cb;
	op->arg = arg;
	op->page = 1;
	op->tm.fn = cf_step;
	op->next = cf->ops;
	if (cf->ops)
		cf->ops->prev = op;
	cf->ops = op;
	return op;
}

/* A retry timer fired: the current stage again. */
static void
cf_step(struct evtimer *t)
{
	struct cf_op *op = (struct cf_op *)t;

	switch (op->stage) {
	case CS_ZONES:
		cf_zones_page(op);
		break;
	case CS_CREATE:
		cf_create(op);
		break;
	case CS_FIND:
		cf_find(op);
		break;
	case CS_DELETE:
		cf_delete(op);
		break;
	case CS_FAIL:
		op_done(op, 0, op->why);
		break;
	}
}

static void
zones_refresh(struct evtimer *t)
{
	struct cloudflare *cf = (struct cloudflare *)((char *)t -
	    offsetof(struct cloudflare, refresh));
	struct cf_op *op;

	timer_arm(cf->timers, &cf->refresh.t, now_ms() + CF_ZONE_REFRESH * 1000ULL);
	if (cf->zones_busy || (op = op_new(cf, CF_ZONES, NULL, NULL)) == NULL)
		return;
	cf->zones_busy = 1;
	cf_zones_page(op);
}

/* The zone for <name>: walk up its labels until one is a zone the token can see. */
static const struct cf_zone *
zone_for(struct cloudflare *cf, const char *name)
{
	for (const char *p = name; p; p = strchr(p, '.') ? strchr(p, '.') + 1 : NULL)
		for (size_t i = 0; i < cf->nzones; i++)
			if (strcasecmp(cf->zones[i].name, p) == 0)
				return &cf->zones[i];
	return NULL;
}

static int
cf_manages(struct dns01 *d, const char *name)
{
	struct cloudflare *cf = (struct cloudflare *)d;

	if (!cf->zones_known)
		return -1;
	return zone_for(cf, name) != NULL;
}

static int
cf_start(struct dns01 *d, enum cf_kind kind, const char *rrname, const char *value,
    dns01_cb cb, void *arg)
{
	struct cloudflare *cf = (struct cloudflare *)d;
	const struct cf_zone *z = zone_for(cf, rrname);
	struct cf_op *op;

	if ((op = op_new(cf, kind, cb, arg)) == NULL)
		return -1;
	if (z == NULL) {
		snprintf(op->why, sizeof(op->why), "no zone for %.100s (%.250s)", rrname,
		    cf->zones_known ? "not among the token's zones" : cf->last_error[0] ?
		    cf->last_error : "zone list not loaded yet");
		op->stage = CS_FAIL;
		timer_arm(cf->timers, &op->tm.t, now_ms());
		return 0;
	}
	snprintf(op->rrname, sizeof(op->rrname), "%s", rrname);
	snprintf(op->value, sizeof(op->value), "%s", value);
	snprintf(op->zone_id, sizeof(op->zone_id), "%s", z->id);
	if (kind == CF_PRESENT) {
		cf_create(op);
		return 0;
	}
	for (size_t i = 0; i < cf->nrecs; i++)
		if (strcmp(cf->recs[i].rrname, rrname) == 0 &&
		    strcmp(cf->recs[i].value, value) == 0) {
			snprintf(op->record_id, sizeof(op->record_id), "%s", cf->recs[i].id);
			cf_delete(op);
			return 0;
		}
	cf_find(op);                    /* not ours in memory (a restart): look it up */
	return 0;
}

static int
cf_present(struct dns01 *d, const char *rrname, const char *value, dns01_cb cb, void *arg)
{
	return cf_start(d, CF_PRESENT, rrname, value, cb, arg);
}

static int
cf_cleanup(struct dns01 *d, const char *rrname, const char *value, dns01_cb cb, void *arg)
{
	return cf_start(d, CF_CLEANUP, rrname, value, cb, arg);
}

static json_t *
cf_status(struct dns01 *d)
{
	struct cloudflare *cf = (struct cloudflare *)d;
	json_t *zones = json_array();

	for (size_t i = 0; i < cf->nzones; i++)
		json_array_append_new(zones, json_string(cf->zones[i].name));
	return json_pack("{s:s, s:s, s:o, s:b, s:s}", "provider", "cloudflare", "endpoint",
	    cf->endpoint, "zones", zones, "healthy", cf->healthy, "last_error", cf->last_error);
}

static void
cf_free(struct dns01 *d)
{
	struct cloudflare *cf = (struct cloudflare *)d;

	while (cf->ops)
		op_done(cf->ops, 0, "cancelled");
	timer_disarm(cf->timers, &cf->refresh.t);
	free(cf->zones);
	free(cf->loading);
	free(cf->recs);
	OPENSSL_cleanse(cf->auth, sizeof(cf->auth));
	free(cf);
}

static const struct dns01_ops cf_ops = {
	.name = "cloudflare",
	.manages = cf_manages,
	.present = cf_present,
	.cleanup = cf_cleanup,
	.status = cf_status,
	.free = cf_free,
};

struct dns01 *
cloudflare_new(struct http *h, struct timer_heap *timers, const char *endpoint,
    const char *token)
{
	struct cloudflare *cf;

	if (token == NULL || *token == '\0' || strlen(token) > 400 ||
	    strpbrk(token, "\r\n") != NULL) {
		log_err("cloudflare: no usable API token (CLOUDFLARE_API_TOKEN or "
		    "--cloudflare-token-file)");
		return NULL;
	}
	if ((cf = calloc(1, sizeof(*cf))) == NULL)
		return NULL;
	cf->base.ops = &cf_ops;
	cf->http = h;
	cf->timers = timers;
	snprintf(cf->endpoint, sizeof(cf->endpoint), "%s", endpoint ? endpoint :
	    "https://api.cloudflare.com/client/v4");
	if (cf->endpoint[strlen(cf->endpoint) - 1] == '/')
		cf->endpoint[strlen(cf->endpoint) - 1] = '\0';
	snprintf(cf->auth, sizeof(cf->auth), "Authorization: Bearer %s", token);
	cf->refresh.fn = zones_refresh;
	zones_refresh(&cf->refresh);
	return &cf->base;
}
