/* The Route53 DNS-01 provider (REST/XML API, SigV4-signed). */
#ifndef JFE_ROUTE53_H
#define JFE_ROUTE53_H

#include "providers/dns01.h"
#include "providers/sigv4.h"

struct http;
struct timer_heap;

/* Fills <out> with current credentials; 0 when there are usable ones. The agent keeps them
 * fresh (environment, shared file, or the instance role through IMDS). */
typedef int (*aws_creds_fn)(void *arg, struct aws_credentials *out);

/* <endpoint>: "https://route53.amazonaws.com" unless --route53-endpoint says otherwise. The
 * zone list is fetched at once and refreshed; manages() answers from it. A change not INSYNC
 * within <change_timeout_ms> fails. */
struct dns01 *route53_new(struct http *h, struct timer_heap *timers, const char *endpoint,
    aws_creds_fn creds, void *creds_arg, unsigned change_timeout_ms);

/* Parsing, exposed for the unit tests. Each returns 0 / -1. */
struct r53_zone {
	char name[256];                 /* lower case, no trailing dot */
	char id[64];                    /* without "/hostedzone/" */
	int private_zone;
};
int r53_parse_zones(const char *xml, size_t len, struct r53_zone **zones, size_t *n,
    int *truncated, char *next_name, size_t nlen, char *next_id, size_t idlen);
/* The TXT values (unquoted) at exactly <rrname> and their TTL; *n = 0 when there is none. */
int r53_parse_txt(const char *xml, size_t len, const char *rrname, char ***values, size_t *n,
    long *ttl);
int r53_parse_change(const char *xml, size_t len, char *id, size_t idlen, char *status,
    size_t slen);
/* The Code and Message of an error answer (either root element). */
int r53_parse_error(const char *xml, size_t len, char *code, size_t clen, char *msg,
    size_t mlen);

#endif
