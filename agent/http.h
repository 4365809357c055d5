/* HTTP for the agent thread: libcurl's multi interface, polled by the agent loop together with
 * its other descriptors (curl_multi_poll with extra fds), so no request ever blocks. */
#ifndef JFE_HTTP_H
#define JFE_HTTP_H

#include <curl/curl.h>
#include <stddef.h>

#define HTTP_BODY_MAX (1024 * 1024)
/* A longer Retry-After counts as this many seconds (30 days). */
#define HTTP_RETRY_AFTER_MAX (30L * 24 * 3600)

struct http_resp {
	long status;                    /* 0: transport error, see <error> */
	char *body;                     /* NUL-terminated */
	size_t body_len;
	char *location;
	char *nonce;                    /* Replay-Nonce */
	char *content_type;
	long retry_after_s;             /* -1 when absent; HTTP-date converted to a delta;
	                                 * at most HTTP_RETRY_AFTER_MAX */
	char error[CURL_ERROR_SIZE];
};

typedef void (*http_cb)(void *arg, struct http_resp *r);

/* Takes one response header line (<len> bytes, "Name: value\r\n", any bytes) into <r>:
 * Location, Replay-Nonce and Content-Type (the last of each wins), Retry-After (seconds or an
 * HTTP-date, as a delay from now; -1 when unreadable). Other lines are ignored. */
void http_resp_header(struct http_resp *r, const char *line, size_t len);

struct http;

struct http *http_new(const char *ca_bundle, const char *user_agent);
void http_free(struct http *h);
/* Ends every request in flight: each callback runs once with status 0 and "cancelled". */
void http_cancel_all(struct http *h);
/* <method> "GET", "HEAD", "POST", "PUT" or "DELETE". <body> is copied. The callback runs
 * from http_poll(). */
int http_request(struct http *h, const char *method, const char *url, const char *ctype,
    const char *body, const char *accept, http_cb cb, void *arg);

/* The same with extra request headers ("Name: value", NULL-terminated list) and a total
 * timeout (0: the default 30 s). */
struct http_opts {
	const char *const *headers;
	long timeout_ms;
	long connect_timeout_ms;
	int no_proxy;                   /* never through a proxy (instance metadata) */
};
int http_request_ex(struct http *h, const char *method, const char *url,
    const struct http_opts *opts, const char *body, http_cb cb, void *arg);
/* Waits up to <timeout_ms> for HTTP progress or readiness of <extra> fds, then runs callbacks
 * of finished requests. */
int http_poll(struct http *h, struct curl_waitfd *extra, unsigned n, int timeout_ms);
/* Thread-safe: makes a concurrent http_poll() return at once. */
void http_wakeup(struct http *h);
unsigned http_in_flight(const struct http *h);

#endif
