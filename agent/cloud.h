/* What this host is and where it is reachable: the instance identity (AWS IMDSv2 with a
 * verified signature, else /etc/machine-id), its public addresses (--public-ip, else IMDS plus
 * the interfaces' global addresses, refreshed), and AWS credentials for the DNS provider
 * (environment, shared files, else the instance role, refreshed before they expire). Agent
 * thread, except cloud_status_json. */
#ifndef JFE_CLOUD_H
#define JFE_CLOUD_H

#include <jansson.h>
#include <sys/socket.h>

#include "providers/sigv4.h"

struct jfe_options;
struct http;
struct timer_heap;

struct cloud_hooks {
	void (*identity)(const char *identity);          /* changed */
	void (*addrs)(const struct sockaddr_storage *a, size_t n);
};

struct cloud;

/* The machine-id identity and the interfaces' addresses are known when this returns; IMDS
 * answers later (or, off AWS, fails within a second and changes nothing). */
struct cloud *cloud_new(const struct jfe_options *o, struct http *h, struct timer_heap *timers,
    const struct cloud_hooks *hooks);
void cloud_free(struct cloud *c);
const char *cloud_identity(struct cloud *c);
/* Hands the current addresses to the hook again (after the hook's owner was set up). */
void cloud_refresh_now(struct cloud *c);
/* For the Route53 provider (aws_creds_fn). */
int cloud_aws_credentials(void *c, struct aws_credentials *out);
json_t *cloud_status_json(struct cloud *c);

#endif
