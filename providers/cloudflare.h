/* The Cloudflare DNS-01 provider (API v4, JSON, Bearer token). */
#ifndef JFE_CLOUDFLARE_H
#define JFE_CLOUDFLARE_H

#include <jansson.h>

#include "providers/dns01.h"

struct http;
struct timer_heap;

/* <endpoint>: "https://api.cloudflare.com/client/v4" unless --cloudflare-endpoint says
 * otherwise. <token> is copied and never logged. */
struct dns01 *cloudflare_new(struct http *h, struct timer_heap *timers, const char *endpoint,
    const char *token);

/* A clear message for a v4 error answer ({"success":false,"errors":[{"code","message"}]}):
 * *code gets the first error code (0 if none); exposed for the unit tests. */
void cf_error_message(json_t *j, long status, int *code, char *out, size_t len);

#endif
