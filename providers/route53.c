#include "providers/route53.h"

#include <libxml/parser.h>
#include <openssl/crypto.h>
#include <libxml/tree.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "agent/evtimer.h"
#include "agent/http.h"
#include "agent/log.h"

#define R53_API          "/2013-04-01"
#define R53_TTL          10
#define R53_RETRIES      6              /* throttling and PriorRequestNotComplete */
#define R53_BACKOFF_MS   400
#define R53_POLL_MS      2000
#define R53_ZONES_MAX    1000
#define R53_ZONE_REFRESH 600            /* seconds */
#define R53_ZONE_RETRY   5              /* seconds, after a failed listing */
#define R53_VALUES_MAX   32

enum r53_kind { R53_PRESENT, R53_CLEANUP, R53_ZONES };
enum r53_stage { ST_LIST, ST_CHANGE, ST_POLL, ST_FAIL };

struct r53_op {
	struct evtimer tm;              /* first: retries and polls */
	struct r53_op *next, *prev;
	struct route53 *r;
	enum r53_kind kind;
	enum r53_stage stage;
	char rrname[300];               /* with the trailing dot */
	char value[128];
	char zone_id[64];
	char change_id[128];
	char next_name[256], next_id[64];
	unsigned tries, polls;
	char why[400];                  /* ST_FAIL: reported from the loop, never inline */
	dns01_cb cb;
	void *arg;
};

struct route53 {
	struct dns01 base;              /* first */
	struct http *http;
	struct timer_heap *timers;
	char endpoint[256];
	char host[256];
	aws_creds_fn creds;
	void *creds_arg;
	struct r53_zone *zones, *loading;
	size_t nzones, nloading;
	time_t zones_at;
	int healthy;
	char last_error[320];
	struct r53_op *ops;
	struct evtimer refresh;
	unsigned max_polls;             /* GetChange polls before giving up */
	int zones_known;                /* one listing succeeded */
	int zones_busy;
};

static void r53_step(struct r53_op *op);

/* ---------------------------------------------------------------- XML */

static xmlDocPtr
xml_read(const char *xml, size_t len)
{
	if (xml == NULL || len == 0 || len > HTTP_BODY_MAX)
		return NULL;
	/* No network, no entities: the answer is data, not a document to act on. */
	return xmlReadMemory(xml, (int)len, NULL, NULL, XML_PARSE_NONET | XML_PARSE_NOERROR |
	    XML_PARSE_NOWARNING | XML_PARSE_NOBLANKS);
}

static int
is_elem(xmlNodePtr n, const char *name)
{
	return n && n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0;
}

static xmlNodePtr
child(xmlNodePtr n, const char *name)
{
	for (xmlNodePtr c = n ? n->children : NULL; c; c = c->next)
		if (is_elem(c, name))
			return c;
	return NULL;
}

/* The text of <n>'s child <name> into <out>; "" when absent. */
static void
child_text(xmlNodePtr n, const char *name, char *out, size_t len)
{
	xmlNodePtr c = child(n, name);
	xmlChar *t = c ? xmlNodeGetContent(c) : NULL;

	snprintf(out, len, "%s", t ? (const char *)t : "");
	xmlFree(t);
}

int
r53_parse_error(const char *xml, size_t len, char *code, size_t clen, char *msg, size_t mlen)
{
	xmlDocPtr d = xml_read(xml, len);
	xmlNodePtr root = d ? xmlDocGetRootElement(d) : NULL, e;

	snprintf(code, clen, "?");
	snprintf(msg, mlen, "%s", "");
	if (root == NULL) {
		xmlFreeDoc(d);
		return -1;
	}
	if (is_elem(root, "ErrorResponse") && (e = child(root, "Error")) != NULL) {
		child_text(e, "Code", code, clen);
		child_text(e, "Message", msg, mlen);
	} else if (is_elem(root, "InvalidChangeBatch")) {
		snprintf(code, clen, "InvalidChangeBatch");
		child_text(child(root, "Messages"), "Message", msg, mlen);
	} else {
		xmlFreeDoc(d);
		return -1;
	}
	xmlFreeDoc(d);
	return 0;
}

int
r53_parse_zones(const char *xml, size_t len, struct r53_zone **zones, size_t *n, int *truncated,
    char *next_name, size_t nlen, char *next_id, size_t idlen)
{
	xmlDocPtr d = xml_read(xml, len);
	xmlNodePtr root = d ? xmlDocGetRootElement(d) : NULL, list, z;
	char buf[300];

	*zones = NULL;
	*n = 0;
	*truncated = 0;
	if (root == NULL || (list = child(root, "HostedZones")) == NULL)
		goto fail;
	for (z = list->children; z; z = z->next) {
		struct r53_zone *nz, *zz;
		size_t l;

		if (!is_elem(z, "HostedZone") || *n >= R53_ZONES_MAX)
			continue;
		if ((nz = realloc(*zones, (*n + 1) * sizeof(*nz))) == NULL)
			goto fail;
		*zones = nz;
		zz = &nz[*n];
		memset(zz, 0, sizeof(*zz));
		child_text(z, "Name", buf, sizeof(buf));
		l = strlen(buf);
		if (l && buf[l - 1] == '.')
			buf[--l] = '\0';
		for (size_t i = 0; i < l; i++)
			if (buf[i] >= 'A' && buf[i] <= 'Z')
				buf[i] = (char)(buf[i] - 'A' + 'a');
		snprintf(zz->name, sizeof(zz->name), "%.255s", buf);
		child_text(z, "Id", buf, sizeof(buf));
		snprintf(zz->id, sizeof(zz->id), "%.63s", strncmp(buf, "/hostedzone/", 12) == 0 ?
		    buf + 12 : buf);
		child_text(child(z, "Config"), "PrivateZone", buf, sizeof(buf));
		zz->private_zone = strcmp(buf, "true") == 0;
		if (zz->name[0] && zz->id[0])
			(*n)++;
	}
	child_text(root, "IsTruncated", buf, sizeof(buf));
	*truncated = strcmp(buf, "true") == 0;
	child_text(root, "NextDNSName", next_name, nlen);
	child_text(root, "NextHostedZoneId", next_id, idlen);
	xmlFreeDoc(d);
	return 0;
fail:
	free(*zones);
	*zones = NULL;
	*n = 0;
	xmlFreeDoc(d);
	return -1;
}

/* A TXT Value is one or more quoted strings: "a" "b". Joined, unescaped. */
static char *
txt_unquote(const char *v)
{
	size_t len = strlen(v), o = 0;
	char *out = malloc(len + 1);
	int in = 0;

	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		char c = v[i];

		if (c == '"') {
			in = !in;
			continue;
		}
		if (!in)
			continue;
		if (c == '\\' && i + 1 < len)
			c = v[++i];
		out[o++] = c;
	}
	out[o] = '\0';
	return out;
}

int
r53_parse_txt(const char *xml, size_t len, const char *rrname, char ***values, size_t *n,
    long *ttl)
{
	xmlDocPtr d = xml_read(xml, len);
	xmlNodePtr root = d ? xmlDocGetRootElement(d) : NULL, list, rs, rr;
	char name[300], type[16], buf[600];

	*values = NULL;
	*n = 0;
	*ttl = R53_TTL;
	if (root == NULL || (list = child(root, "ResourceRecordSets")) == NULL) {
		xmlFreeDoc(d);
		return -1;
	}
	for (rs = list->children; rs; rs = rs->next) {
		if (!is_elem(rs, "ResourceRecordSet"))
			continue;
		child_text(rs, "Name", name, sizeof(name));
		child_text(rs, "Type", type, sizeof(type));
		/* The listing starts at the name and runs on: only an exact match is ours. */
		if (strcasecmp(name, rrname) != 0 || strcmp(type, "TXT") != 0)
			continue;
		child_text(rs, "TTL", buf, sizeof(buf));
		if (buf[0])
			*ttl = strtol(buf, NULL, 10);
		for (rr = child(rs, "ResourceRecords") ? child(rs, "ResourceRecords")->children :
		    NULL; rr; rr = rr->next) {
			char **nv, *v;

			if (!is_elem(rr, "ResourceRecord") || *n >= R53_VALUES_MAX)
				continue;
			child_text(rr, "Value", buf, sizeof(buf));
			if ((v = txt_unquote(buf)) == NULL ||
			    (nv = realloc(*values, (*n + 1) * sizeof(*nv))) == NULL) {
				free(v);
				continue;
			}
			*values = nv;
			nv[(*n)++] = v;
		}
		break;
	}
	xmlFreeDoc(d);
	return 0;
}

int
r53_parse_change(const char *xml, size_t len, char *id, size_t idlen, char *status, size_t slen)
{
	xmlDocPtr d = xml_read(xml, len);
	xmlNodePtr root = d ? xmlDocGetRootElement(d) : NULL, ci;
	char buf[200];

	if (root == NULL || (ci = child(root, "ChangeInfo")) == NULL) {
		xmlFreeDoc(d);
		return -1;
	}
	child_text(ci, "Id", buf, sizeof(buf));
	snprintf(id, idlen, "%s", strncmp(buf, "/change/", 8) == 0 ? buf + 8 : buf);
	child_text(ci, "Status", status, slen);
	xmlFreeDoc(d);
	return id[0] ? 0 : -1;
}

static void
values_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* ---------------------------------------------------------------- requests */

static void
r53_error(struct route53 *r, const char *why)
{
	snprintf(r->last_error, sizeof(r->last_error), "%s", why);
	r->healthy = 0;
}

static void
op_done(struct r53_op *op, int ok, const char *why)
{
	struct route53 *r = op->r;

	if (op->kind == R53_ZONES) {
		r->zones_busy = 0;
		free(r->loading);
		r->loading = NULL;
		r->nloading = 0;
		if (!ok) {
			/* Credentials may still be on their way (instance role): soon again. */
			log_warn("route53: cannot list the hosted zones: %s", why ? why : "?");
			timer_arm(r->timers, &r->refresh.t, now_ms() + R53_ZONE_RETRY * 1000ULL);
		}
	}
	if (op->prev)
		op->prev->next = op->next;
	else
		r->ops = op->next;
	if (op->next)
		op->next->prev = op->prev;
	timer_disarm(r->timers, &op->tm.t);
	if (ok)
		r->healthy = 1;
	if (op->cb)
		op->cb(op->arg, ok, why);
	free(op);
}

/* Signs and sends one API call; the answer goes to r53_answer. */
static int
r53_send(struct r53_op *op, const char *method, const char *path, const char *query,
    const char *body, http_cb cb)
{
	struct route53 *r = op->r;
	struct aws_credentials cr;
	struct sigv4_result sr = { 0 };
	struct sigv4_params sp = { .region = "us-east-1", .service = "route53",
	    .when = time(NULL), .normalize_path = 1 };
	char hosth[300], cth[64], url[1024];
	const char *sh[2], *hdrs[12];
	struct http_opts ho = { .headers = hdrs, .timeout_ms = 20000 };
	struct sigv4_request rq = { .method = method, .path = path, .query = query,
	    .headers = sh, .body = (const uint8_t *)body, .body_len = body ? strlen(body) : 0 };
	size_t nh = 0;
	int rc;

	if (r->creds(r->creds_arg, &cr) != 0) {
		op_done(op, 0, "no AWS credentials");
		return -1;
	}
	/* Host is signed, so it is sent exactly as signed. */
	snprintf(hosth, sizeof(hosth), "Host:%s", r->host);
	sh[rq.nheaders++] = hosth;
	if (body) {
		snprintf(cth, sizeof(cth), "Content-Type:text/xml");
		sh[rq.nheaders++] = cth;
	}
	rc = sigv4_sign_headers(&cr, &sp, &rq, &sr);
	OPENSSL_cleanse(&cr, sizeof(cr));
	if (rc != 0) {
		sigv4_result_free(&sr);
		op_done(op, 0, "cannot sign the request");
		return -1;
	}
	hdrs[nh++] = hosth;
	if (body)
		hdrs[nh++] = cth;
	for (size_t i = 0; i < sr.nadd && nh < 10; i++)
		hdrs[nh++] = sr.add_headers[i];
	hdrs[nh] = NULL;
	snprintf(url, sizeof(url), "%s%s%s%s", r->endpoint, path, query ? "?" : "",
	    query ? query : "");
	rc = http_request_ex(r->http, method, url, &ho, body, cb, op);
	sigv4_result_free(&sr);
	if (rc != 0) {
		op_done(op, 0, "cannot send the request");
		return -1;
	}
	return 0;
}

/* Throttling and PriorRequestNotComplete come back as 400s: wait and try again. Returns 1
 * when a retry was scheduled. */
static int
r53_retry(struct r53_op *op, struct http_resp *resp, const char *code)
{
	unsigned ms;

	if (resp->status != 400 || (strcmp(code, "Throttling") != 0 &&
	    strcmp(code, "PriorRequestNotComplete") != 0) || op->tries >= R53_RETRIES)
		return 0;
	ms = R53_BACKOFF_MS << op->tries;
	if (ms > 5000)
		ms = 5000;
	op->tries++;
	log_info("route53: %s, retrying in %u ms", code, ms);
	timer_arm(op->r->timers, &op->tm.t, now_ms() + ms);
	return 1;
}

/* Common handling of a non-200 answer. */
static void
r53_failed(struct r53_op *op, struct http_resp *resp, const char *what)
{
	char code[64], msg[200], why[300];

	if (resp->status == 0) {
		snprintf(why, sizeof(why), "%s: %s", what, resp->error);
		r53_error(op->r, why);
		op_done(op, 0, why);
		return;
	}
	r53_parse_error(resp->body, resp->body_len, code, sizeof(code), msg, sizeof(msg));
	if (r53_retry(op, resp, code))
		return;
	{
		char m[200];

		log_escape(m, sizeof(m), msg, strlen(msg));
		snprintf(why, sizeof(why), "%s: HTTP %ld %s: %s", what, resp->status, code, m);
	}
	r53_error(op->r, why);
	op_done(op, 0, why);
}

static void r53_change(struct r53_op *op, char **values, size_t n, long ttl);

static void
on_listed(void *arg, struct http_resp *resp)
{
	struct r53_op *op = arg;
	char **v = NULL;
	size_t n = 0;
	long ttl = R53_TTL;

	if (resp->status != 200) {
		r53_failed(op, resp, "ListResourceRecordSets");
		return;
	}
	if (r53_parse_txt(resp->body, resp->body_len, op->rrname, &v, &n, &ttl) != 0) {
		op_done(op, 0, "ListResourceRecordSets: unreadable answer");
		return;
	}
	r53_change(op, v, n, ttl);
	values_free(v, n);
}

static void
on_change_polled(void *arg, struct http_resp *resp)
{
	struct r53_op *op = arg;
	char id[128], status[32];

	if (resp->status != 200) {
		r53_failed(op, resp, "GetChange");
		return;
	}
	if (r53_parse_change(resp->body, resp->body_len, id, sizeof(id), status,
	    sizeof(status)) != 0) {
		op_done(op, 0, "GetChange: unreadable answer");
		return;
	}
	if (strcmp(status, "INSYNC") == 0) {
		op_done(op, 1, NULL);
		return;
	}
	if (++op->polls >= op->r->max_polls) {
		r53_error(op->r, "a change never reached INSYNC");
		op_done(op, 0, "the change never reached INSYNC");
		return;
	}
	timer_arm(op->r->timers, &op->tm.t, now_ms() + R53_POLL_MS);
}

static void
on_changed(void *arg, struct http_resp *resp)
{
	struct r53_op *op = arg;
	char status[32];

	if (resp->status != 200) {
		r53_failed(op, resp, "ChangeResourceRecordSets");
		return;
	}
	if (r53_parse_change(resp->body, resp->body_len, op->change_id, sizeof(op->change_id),
	    status, sizeof(status)) != 0) {
		op_done(op, 0, "ChangeResourceRecordSets: unreadable answer");
		return;
	}
	if (op->kind == R53_CLEANUP || strcmp(status, "INSYNC") == 0) {
		op_done(op, 1, NULL);
		return;
	}
	/* Wait for every Route53 server to have it before the CA is told to look. */
	op->stage = ST_POLL;
	op->tries = 0;
	timer_arm(op->r->timers, &op->tm.t, now_ms() + R53_POLL_MS);
}

/* XML-escapes <s> into <out>. */
static void
xml_escape(const char *s, char *out, size_t len)
{
	size_t o = 0;

	for (; *s && o + 7 < len; s++) {
		const char *e = NULL;

		switch (*s) {
		case '&': e = "&amp;"; break;
		case '<': e = "&lt;"; break;
		case '>': e = "&gt;"; break;
		default: break;
		}
		if (e) {
			memcpy(out + o, e, strlen(e));
			o += strlen(e);
		} else
			out[o++] = *s;
	}
	out[o] = '\0';
}

static void
append_rrset(char *body, size_t len, const char *action, const char *rrname, long ttl,
    char **values, size_t n)
{
	char name[700];
	size_t l = strlen(body);

	xml_escape(rrname, name, sizeof(name));
	l += (size_t)snprintf(body + l, len - l, "<Change><Action>%s</Action><ResourceRecordSet>"
	    "<Name>%s</Name><Type>TXT</Type><TTL>%ld</TTL><ResourceRecords>", action, name, ttl);
	for (size_t i = 0; i < n && l < len; i++) {
		char v[300];

		/* ACME values are base64url: quoting is all they need. */
		xml_escape(values[i], v, sizeof(v));
		l += (size_t)snprintf(body + l, len - l,
		    "<ResourceRecord><Value>\"%s\"</Value></ResourceRecord>", v);
	}
	if (l < len)
		snprintf(body + l, len - l, "</ResourceRecords></ResourceRecordSet></Change>");
}

/* Present: UPSERT the set with our value added (a wildcard and its base name share the
 * name). Cleanup: UPSERT the set without it, or DELETE exactly what is there when ours was
 * the last. */
static void
r53_change(struct r53_op *op, char **have, size_t n, long ttl)
{
	char *keep[R53_VALUES_MAX + 1], path[200], *body;
	size_t nk = 0, blen = 16384;
	int found = 0;

	for (size_t i = 0; i < n && nk < R53_VALUES_MAX; i++) {
		if (strcmp(have[i], op->value) == 0) {
			found = 1;
			if (op->kind == R53_CLEANUP)
				continue;
		}
		keep[nk++] = have[i];
	}
	if (op->kind == R53_PRESENT && !found)
		keep[nk++] = op->value;
	if (op->kind == R53_CLEANUP && !found) {
		op_done(op, 1, NULL);           /* already gone */
		return;
	}
	if ((body = malloc(blen)) == NULL) {
		op_done(op, 0, "out of memory");
		return;
	}
	snprintf(body, blen, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	    "<ChangeResourceRecordSetsRequest xmlns=\"https://route53.amazonaws.com/doc/2013-04-01/\">"
	    "<ChangeBatch><Comment>jfe acme</Comment><Changes>");
	if (op->kind == R53_CLEANUP && nk == 0)
		append_rrset(body, blen, "DELETE", op->rrname, ttl, have, n);
	else
		append_rrset(body, blen, "UPSERT", op->rrname, op->kind == R53_PRESENT ? R53_TTL :
		    ttl, keep, nk);
	strncat(body, "</Changes></ChangeBatch></ChangeResourceRecordSetsRequest>",
	    blen - strlen(body) - 1);
	snprintf(path, sizeof(path), R53_API "/hostedzone/%s/rrset", op->zone_id);
	op->stage = ST_CHANGE;
	op->tries = 0;
	r53_send(op, "POST", path, NULL, body, on_changed);
	free(body);
}

static void
r53_list(struct r53_op *op)
{
	char path[200], query[400];

	op->stage = ST_LIST;
	snprintf(path, sizeof(path), R53_API "/hostedzone/%s/rrset", op->zone_id);
	/* name is the first query parameter's value; the dot-terminated name needs no
	 * encoding beyond its LDH characters. */
	snprintf(query, sizeof(query), "maxitems=1&name=%s&type=TXT", op->rrname);
	r53_send(op, "GET", path, query, NULL, on_listed);
}

/* ---------------------------------------------------------------- zones */

static void r53_zones_page(struct r53_op *op);

static void
on_zones(void *arg, struct http_resp *resp)
{
	struct r53_op *op = arg;
	struct route53 *r = op->r;
	struct r53_zone *z = NULL, *nz;
	size_t n = 0;
	int trunc = 0;

	if (resp->status != 200) {
		r53_failed(op, resp, "ListHostedZonesByName");
		return;
	}
	if (r53_parse_zones(resp->body, resp->body_len, &z, &n, &trunc, op->next_name,
	    sizeof(op->next_name), op->next_id, sizeof(op->next_id)) != 0) {
		r53_error(r, "ListHostedZonesByName: unreadable answer");
		op_done(op, 0, "ListHostedZonesByName: unreadable answer");
		return;
	}
	if (r->nloading + n <= R53_ZONES_MAX &&
	    (nz = realloc(r->loading, (r->nloading + n + 1) * sizeof(*nz))) != NULL) {
		r->loading = nz;
		memcpy(nz + r->nloading, z, n * sizeof(*z));
		r->nloading += n;
	}
	free(z);
	if (trunc && op->next_name[0] && ++op->polls < 50) {
		r53_zones_page(op);
		return;
	}
	free(r->zones);
	r->zones = r->loading;
	r->nzones = r->nloading;
	r->loading = NULL;
	r->nloading = 0;
	r->zones_at = time(NULL);
	r->zones_known = 1;
	log_info("route53: %zu hosted zones", r->nzones);
	op_done(op, 1, NULL);
}

static void
r53_zones_page(struct r53_op *op)
{
	char query[400];

	if (op->next_name[0])
		snprintf(query, sizeof(query), "dnsname=%s&hostedzoneid=%s&maxitems=100",
		    op->next_name, op->next_id);
	else
		snprintf(query, sizeof(query), "maxitems=100");
	r53_send(op, "GET", R53_API "/hostedzonesbyname", query, NULL, on_zones);
}

static struct r53_op *
op_new(struct route53 *r, enum r53_kind kind, dns01_cb cb, void *arg)
{
	struct r53_op *op = calloc(1, sizeof(*op));

	if (op == NULL)
		return NULL;
	op->r = r;
	op->kind = kind;
	op->cb = cb;
	op->arg = arg;
	op->tm.fn = (void (*)(struct evtimer *))r53_step;
	op->next = r->ops;
	if (r->ops)
		r->ops->prev = op;
	r->ops = op;
	return op;
}

/* A timer fired: run the op's current stage again (retry or poll). */
static void
r53_step(struct r53_op *op)
{
	char path[200];

	switch (op->stage) {
	case ST_LIST:
		if (op->kind == R53_ZONES)
			r53_zones_page(op);
		else
			r53_list(op);
		break;
	case ST_POLL:
		snprintf(path, sizeof(path), R53_API "/change/%s", op->change_id);
		r53_send(op, "GET", path, NULL, NULL, on_change_polled);
		break;
	case ST_CHANGE:
		/* A throttled change is recomputed from a fresh listing. */
		r53_list(op);
		break;
	case ST_FAIL:
		op_done(op, 0, op->why);
		break;
	}
}

static void
zones_refresh(struct evtimer *t)
{
	struct route53 *r = (struct route53 *)((char *)t - offsetof(struct route53, refresh));
	struct r53_op *op;

	timer_arm(r->timers, &r->refresh.t, now_ms() + R53_ZONE_REFRESH * 1000ULL);
	if (r->zones_busy || (op = op_new(r, R53_ZONES, NULL, NULL)) == NULL)
		return;
	r->zones_busy = 1;
	op->stage = ST_LIST;
	r53_zones_page(op);
}

/* The longest public zone that covers <name>, or NULL. */
static const struct r53_zone *
zone_for(struct route53 *r, const char *name)
{
	const struct r53_zone *best = NULL;
	size_t nl = strlen(name);

	for (size_t i = 0; i < r->nzones; i++) {
		const struct r53_zone *z = &r->zones[i];
		size_t zl = strlen(z->name);

		if (z->private_zone || zl > nl || strcasecmp(name + nl - zl, z->name) != 0 ||
		    (nl > zl && name[nl - zl - 1] != '.'))
			continue;
		if (best == NULL || zl > strlen(best->name))
			best = z;
	}
	return best;
}

/* 1 yes, 0 no, -1 unknown yet (no zone listing has succeeded). */
static int
r53_manages(struct dns01 *d, const char *name)
{
	struct route53 *r = (struct route53 *)d;

	if (!r->zones_known)
		return -1;
	return zone_for(r, name) != NULL;
}

static int
r53_start(struct dns01 *d, enum r53_kind kind, const char *rrname, const char *value,
    dns01_cb cb, void *arg)
{
	struct route53 *r = (struct route53 *)d;
	const struct r53_zone *z = zone_for(r, strncmp(rrname, "_acme-challenge.", 16) == 0 ?
	    rrname + 16 : rrname);
	struct r53_op *op;

	if ((op = op_new(r, kind, cb, arg)) == NULL)
		return -1;
	if (z == NULL) {
		/* Unknown zones: say why (from the loop), the owner backs off and comes again. */
		snprintf(op->why, sizeof(op->why), "no hosted zone for %.100s (%.250s)", rrname,
		    r->zones_known ? "not among the account's public zones" : r->last_error[0] ?
		    r->last_error : "zone list not loaded yet");
		op->stage = ST_FAIL;
		timer_arm(r->timers, &op->tm.t, now_ms());
		return 0;
	}
	snprintf(op->rrname, sizeof(op->rrname), "%s.", rrname);
	snprintf(op->value, sizeof(op->value), "%s", value);
	snprintf(op->zone_id, sizeof(op->zone_id), "%s", z->id);
	r53_list(op);
	return 0;
}

static int
r53_present(struct dns01 *d, const char *rrname, const char *value, dns01_cb cb, void *arg)
{
	return r53_start(d, R53_PRESENT, rrname, value, cb, arg);
}

static int
r53_cleanup(struct dns01 *d, const char *rrname, const char *value, dns01_cb cb, void *arg)
{
	return r53_start(d, R53_CLEANUP, rrname, value, cb, arg);
}

static json_t *
r53_status(struct dns01 *d)
{
	struct route53 *r = (struct route53 *)d;
	json_t *zones = json_array();

	for (size_t i = 0; i < r->nzones; i++)
		if (!r->zones[i].private_zone)
			json_array_append_new(zones, json_string(r->zones[i].name));
	return json_pack("{s:s, s:s, s:o, s:b, s:s}", "provider", "route53", "endpoint",
	    r->endpoint, "zones", zones, "healthy", r->healthy, "last_error", r->last_error);
}

static void
r53_free(struct dns01 *d)
{
	struct route53 *r = (struct route53 *)d;

	while (r->ops)
		op_done(r->ops, 0, "cancelled");
	timer_disarm(r->timers, &r->refresh.t);
	free(r->zones);
	free(r->loading);
	free(r);
}

static const struct dns01_ops r53_ops = {
	.name = "route53",
	.manages = r53_manages,
	.present = r53_present,
	.cleanup = r53_cleanup,
	.status = r53_status,
	.free = r53_free,
};

struct dns01 *
route53_new(struct http *h, struct timer_heap *timers, const char *endpoint, aws_creds_fn creds,
    void *creds_arg, unsigned change_timeout_ms)
{
	struct route53 *r = calloc(1, sizeof(*r));
	const char *hs;

	if (r == NULL)
		return NULL;
	r->base.ops = &r53_ops;
	r->http = h;
	r->timers = timers;
	r->creds = creds;
	r->creds_arg = creds_arg;
	r->max_polls = change_timeout_ms / R53_POLL_MS ? change_timeout_ms / R53_POLL_MS : 1;
	snprintf(r->endpoint, sizeof(r->endpoint), "%s", endpoint ? endpoint :
	    "https://route53.amazonaws.com");
	if (r->endpoint[strlen(r->endpoint) - 1] == '/')
		r->endpoint[strlen(r->endpoint) - 1] = '\0';
	hs = strstr(r->endpoint, "://");
	snprintf(r->host, sizeof(r->host), "%s", hs ? hs + 3 : r->endpoint);
	r->host[strcspn(r->host, "/")] = '\0';
	r->refresh.fn = zones_refresh;
	zones_refresh(&r->refresh);
	return &r->base;
}
