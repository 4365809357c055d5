#include "agent/http.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "agent/log.h"

struct http_req;

struct http {
	CURLM *multi;
	char *ca_bundle;
	char *ua;
	unsigned in_flight;
	struct http_req *reqs;          /* in flight, for teardown */
};

struct http_req {
	struct http_req *next, *prev;
	CURL *easy;
	struct curl_slist *hdrs;
	char *body_out;
	http_cb cb;
	void *arg;
	struct http_resp r;
	int too_big;
};

struct http *
http_new(const char *ca_bundle, const char *user_agent)
{
	struct http *h = calloc(1, sizeof(*h));

	if (h == NULL)
		return NULL;
	if ((h->multi = curl_multi_init()) == NULL ||
	    (ca_bundle && (h->ca_bundle = strdup(ca_bundle)) == NULL) ||
	    (h->ua = strdup(user_agent)) == NULL) {
		http_free(h);
		return NULL;
	}
	return h;
}

static void
resp_clear(struct http_resp *r)
{
	free(r->body);
	free(r->location);
	free(r->nonce);
	free(r->content_type);
	memset(r, 0, sizeof(*r));
}

static void
req_free(struct http_req *q)
{
	curl_easy_cleanup(q->easy);
	curl_slist_free_all(q->hdrs);
	free(q->body_out);
	resp_clear(&q->r);
	free(q);
}

void
http_free(struct http *h)
{
	if (h == NULL)
		return;
	if (h->multi) {
		http_cancel_all(h);
		curl_multi_cleanup(h->multi);
	}
	free(h->ca_bundle);
	free(h->ua);
	free(h);
}

static size_t
on_body(char *p, size_t sz, size_t n, void *arg)
{
	struct http_req *q = arg;
	size_t len = sz * n;
	char *nb;

	if (q->r.body_len + len > HTTP_BODY_MAX) {
		q->too_big = 1;
		return 0;       /* aborts the transfer */
	}
	if ((nb = realloc(q->r.body, q->r.body_len + len + 1)) == NULL)
		return 0;
	memcpy(nb + q->r.body_len, p, len);
	q->r.body = nb;
	q->r.body_len += len;
	nb[q->r.body_len] = '\0';
	return len;
}

static char *
header_value(const char *p, size_t len)
{
	size_t s = 0, e = len;

	while (s < e && isspace((unsigned char)p[s]))
		s++;
	while (e > s && isspace((unsigned char)p[e - 1]))
		e--;
	return strndup(p + s, e - s);
}

/* Seconds, at most HTTP_RETRY_AFTER_MAX: callers add it to the time and multiply it into
 * milliseconds, and a CA (or anything in between) may send any number. */
static long
parse_retry_after(const char *v)
{
	char *end;
	long n;
	struct tm tm;

	if (*v >= '0' && *v <= '9') {
		n = strtol(v, &end, 10);        /* LONG_MAX when out of range */
		if (*end != '\0' || n < 0)
			return -1;
		return n > HTTP_RETRY_AFTER_MAX ? HTTP_RETRY_AFTER_MAX : n;
	}
	memset(&tm, 0, sizeof(tm));
	/* RFC 9110 IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" */
	if (strptime(v, "%a, %d %b %Y %H:%M:%S GMT", &tm) != NULL) {
		time_t t = timegm(&tm), now = time(NULL);

		if (t <= now)
			return 0;
		return t - now > HTTP_RETRY_AFTER_MAX ? HTTP_RETRY_AFTER_MAX : (long)(t - now);
	}
	return -1;
}

void
http_resp_header(struct http_resp *r, const char *p, size_t len)
{
	const char *colon = memchr(p, ':', len);
	size_t klen;
	char **slot = NULL;

	if (colon == NULL)
		return;
	klen = (size_t)(colon - p);
	if (klen == 8 && strncasecmp(p, "Location", 8) == 0)
		slot = &r->location;
	else if (klen == 12 && strncasecmp(p, "Replay-Nonce", 12) == 0)
		slot = &r->nonce;
	else if (klen == 12 && strncasecmp(p, "Content-Type", 12) == 0)
		slot = &r->content_type;
	else if (klen == 11 && strncasecmp(p, "Retry-After", 11) == 0) {
		char *v = header_value(colon + 1, len - klen - 1);

		if (v)
			r->retry_after_s = parse_retry_after(v);
		free(v);
		return;
	}
	if (slot) {
		free(*slot);
		*slot = header_value(colon + 1, len - klen - 1);
	}
}

static size_t
on_header(char *p, size_t sz, size_t n, void *arg)
{
	struct http_req *q = arg;

	http_resp_header(&q->r, p, sz * n);
	return sz * n;
}

int
http_request(struct http *h, const char *method, const char *url, const char *ctype,
    const char *body, const char *accept, http_cb cb, void *arg)
{
	char ct[256] = "", ac[256] = "";
	const char *hdrs[3];
	struct http_opts o = { .headers = hdrs };
	int n = 0;

	if (ctype) {
		snprintf(ct, sizeof(ct), "Content-Type: %s", ctype);
		hdrs[n++] = ct;
	}
	if (accept) {
		snprintf(ac, sizeof(ac), "Accept: %s", accept);
		hdrs[n++] = ac;
	}
	hdrs[n] = NULL;
	return http_request_ex(h, method, url, &o, body, cb, arg);
}

int
http_request_ex(struct http *h, const char *method, const char *url,
    const struct http_opts *opts, const char *body, http_cb cb, void *arg)
{
	struct http_req *q = calloc(1, sizeof(*q));

	if (q == NULL || (q->easy = curl_easy_init()) == NULL)
		goto fail;
	q->cb = cb;
	q->arg = arg;
	q->r.retry_after_s = -1;
	curl_easy_setopt(q->easy, CURLOPT_URL, url);
	curl_easy_setopt(q->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(q->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(q->easy, CURLOPT_CONNECTTIMEOUT_MS,
	    opts && opts->connect_timeout_ms ? opts->connect_timeout_ms : 10000L);
	curl_easy_setopt(q->easy, CURLOPT_TIMEOUT_MS,
	    opts && opts->timeout_ms ? opts->timeout_ms : 30000L);
	curl_easy_setopt(q->easy, CURLOPT_USERAGENT, h->ua);
	curl_easy_setopt(q->easy, CURLOPT_ERRORBUFFER, q->r.error);
	curl_easy_setopt(q->easy, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(q->easy, CURLOPT_WRITEDATA, q);
	curl_easy_setopt(q->easy, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(q->easy, CURLOPT_HEADERDATA, q);
	curl_easy_setopt(q->easy, CURLOPT_PRIVATE, q);
	if (h->ca_bundle)
		curl_easy_setopt(q->easy, CURLOPT_CAINFO, h->ca_bundle);
	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(q->easy, CURLOPT_NOBODY, 1L);
	else if (strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 ||
	    (strcmp(method, "DELETE") == 0 && body)) {
		if ((q->body_out = strdup(body ? body : "")) == NULL)
			goto fail;
		curl_easy_setopt(q->easy, CURLOPT_POSTFIELDS, q->body_out);
		curl_easy_setopt(q->easy, CURLOPT_POSTFIELDSIZE, (long)strlen(q->body_out));
		if (strcmp(method, "POST") != 0)
			curl_easy_setopt(q->easy, CURLOPT_CUSTOMREQUEST, method);
	} else if (strcmp(method, "GET") != 0)
		curl_easy_setopt(q->easy, CURLOPT_CUSTOMREQUEST, method);
	if (opts && opts->no_proxy)
		curl_easy_setopt(q->easy, CURLOPT_NOPROXY, "*");
	for (size_t i = 0; opts && opts->headers && opts->headers[i]; i++)
		q->hdrs = curl_slist_append(q->hdrs, opts->headers[i]);
	q->hdrs = curl_slist_append(q->hdrs, "Accept-Language: en");
	curl_easy_setopt(q->easy, CURLOPT_HTTPHEADER, q->hdrs);
	if (curl_multi_add_handle(h->multi, q->easy) != CURLM_OK)
		goto fail;
	q->next = h->reqs;
	if (h->reqs)
		h->reqs->prev = q;
	h->reqs = q;
	h->in_flight++;
	return 0;
fail:
	log_err("http: cannot start a request");
	if (q)
		req_free(q);
	return -1;
}

int
http_poll(struct http *h, struct curl_waitfd *extra, unsigned n, int timeout_ms)
{
	int running, left;
	CURLMsg *m;

	if (curl_multi_poll(h->multi, extra, n, timeout_ms, NULL) != CURLM_OK)
		return -1;
	curl_multi_perform(h->multi, &running);
	while ((m = curl_multi_info_read(h->multi, &left)) != NULL) {
		struct http_req *q = NULL;

		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&q);
		if (m->data.result == CURLE_OK)
			curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &q->r.status);
		else {
			q->r.status = 0;
			if (q->too_big)
				snprintf(q->r.error, sizeof(q->r.error), "response larger than %d bytes",
				    HTTP_BODY_MAX);
			else if (q->r.error[0] == '\0')
				snprintf(q->r.error, sizeof(q->r.error), "%s",
				    curl_easy_strerror(m->data.result));
		}
		curl_multi_remove_handle(h->multi, m->easy_handle);
		if (q->prev)
			q->prev->next = q->next;
		else
			h->reqs = q->next;
		if (q->next)
			q->next->prev = q->prev;
		h->in_flight--;
		q->cb(q->arg, &q->r);
		req_free(q);
	}
	return 0;
}

void
http_cancel_all(struct http *h)
{
	while (h->reqs) {
		struct http_req *q = h->reqs;

		h->reqs = q->next;
		if (h->reqs)
			h->reqs->prev = NULL;
		curl_multi_remove_handle(h->multi, q->easy);
		h->in_flight--;
		q->r.status = 0;
		snprintf(q->r.error, sizeof(q->r.error), "cancelled");
		/* Owners free what they attached to the request. */
		q->cb(q->arg, &q->r);
		req_free(q);
	}
}

void
http_wakeup(struct http *h)
{
	curl_multi_wakeup(h->multi);
}

unsigned
http_in_flight(const struct http *h)
{
	return h->in_flight;
}
