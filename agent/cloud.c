#include "agent/cloud.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "agent/evtimer.h"
#include "agent/log.h"
#include "agent/options.h"
#include "providers/aws_credentials.h"
#include "providers/imds.h"
#include "proxy/sockaddr.h"

#define ADDRS_MAX        64
#define REFRESH_S        600
#define IMDS_TIMEOUT_MS  1000
#define CREDS_MARGIN_S   300             /* renew role credentials this long before expiry */

struct cloud {
	const struct jfe_options *opt;
	struct cloud_hooks hooks;
	struct imds *imds;
	struct timer_heap *timers;
	struct evtimer refresh;
	pthread_mutex_t lock;           /* identity and addresses: `jfe status` reads them */
	struct imds_identity id;
	char identity[96];
	struct sockaddr_storage ifaddrs[ADDRS_MAX], imdsaddrs[ADDRS_MAX];
	size_t nif, nimds;
	int fixed;                      /* --public-ip given */
	struct aws_credentials creds;
	enum aws_cred_source creds_source;
	int creds_role, creds_busy;
	char creds_error[200];
};

static int
parse_addr(const char *s, struct sockaddr_storage *out)
{
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, s, &((struct sockaddr_in *)out)->sin_addr) == 1) {
		out->ss_family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, s, &((struct sockaddr_in6 *)out)->sin6_addr) == 1) {
		out->ss_family = AF_INET6;
		return 0;
	}
	return -1;
}

/* The addresses names must resolve to: --public-ip, or IMDS's and the interfaces'. */
static void
addrs_publish(struct cloud *c)
{
	struct sockaddr_storage all[ADDRS_MAX * 2];
	size_t n = 0;

	pthread_mutex_lock(&c->lock);
	memcpy(all, c->ifaddrs, c->nif * sizeof(all[0]));
	n = c->nif;
	for (size_t i = 0; i < c->nimds; i++) {
		size_t j;

		for (j = 0; j < n && !sa_equal(&all[j], &c->imdsaddrs[i]); j++)
			;
		if (j == n)
			all[n++] = c->imdsaddrs[i];
	}
	pthread_mutex_unlock(&c->lock);
	if (c->hooks.addrs)
		c->hooks.addrs(all, n);
}

static void
interfaces_read(struct cloud *c)
{
	struct ifaddrs *ifa = NULL;
	size_t n = 0;
	struct sockaddr_storage tmp[ADDRS_MAX];

	if (getifaddrs(&ifa) != 0)
		return;
	for (struct ifaddrs *i = ifa; i && n < ADDRS_MAX; i = i->ifa_next) {
		struct sockaddr_storage s;

		if (i->ifa_addr == NULL || (i->ifa_addr->sa_family != AF_INET &&
		    i->ifa_addr->sa_family != AF_INET6))
			continue;
		memset(&s, 0, sizeof(s));
		memcpy(&s, i->ifa_addr, i->ifa_addr->sa_family == AF_INET6 ?
		    sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
		if (sa_is_loopback(&s) || (s.ss_family == AF_INET6 &&
		    IN6_IS_ADDR_LINKLOCAL(&((struct sockaddr_in6 *)&s)->sin6_addr)))
			continue;
		tmp[n++] = s;
	}
	freeifaddrs(ifa);
	pthread_mutex_lock(&c->lock);
	memcpy(c->ifaddrs, tmp, n * sizeof(tmp[0]));
	c->nif = n;
	pthread_mutex_unlock(&c->lock);
}

static void
on_imds_addrs(void *arg, int ok, char **addrs, size_t n, const char *why)
{
	struct cloud *c = arg;
	size_t k = 0;

	if (!ok) {
		log_debug("cloud: no public addresses from IMDS: %s", why);
		return;
	}
	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < n && k < ADDRS_MAX; i++)
		if (parse_addr(addrs[i], &c->imdsaddrs[k]) == 0)
			k++;
	c->nimds = k;
	pthread_mutex_unlock(&c->lock);
	log_info("cloud: %zu public address(es) from the instance metadata", k);
	addrs_publish(c);
}

static void
on_identity(void *arg, int ok, const struct imds_identity *id, const char *why)
{
	struct cloud *c = arg;
	char ident[96];

	if (!ok) {
		/* Off AWS this is the normal case: the machine-id identity stays. */
		log_info("cloud: no instance identity from IMDS (%s); using %s", why, c->identity);
		return;
	}
	snprintf(ident, sizeof(ident), "aws:%s:%s", id->account_id, id->instance_id);
	pthread_mutex_lock(&c->lock);
	c->id = *id;
	snprintf(c->identity, sizeof(c->identity), "%s", ident);
	pthread_mutex_unlock(&c->lock);
	log_info("cloud: instance %s in account %s, region %s (signature %s)", id->instance_id,
	    id->account_id, id->region, id->signature_verified ? "verified" : "NOT verified");
	if (c->hooks.identity)
		c->hooks.identity(ident);
	if (!c->fixed)
		imds_get_public_addrs(c->imds, on_imds_addrs, c);
}

static void
on_role_creds(void *arg, int ok, const struct imds_credentials *ic, const char *why)
{
	struct cloud *c = arg;

	c->creds_busy = 0;
	if (!ok) {
		snprintf(c->creds_error, sizeof(c->creds_error), "instance role: %s", why);
		log_warn("cloud: no AWS credentials from the instance role: %s", why);
		return;
	}
	OPENSSL_cleanse(&c->creds, sizeof(c->creds));
	snprintf(c->creds.access_key_id, sizeof(c->creds.access_key_id), "%s", ic->access_key_id);
	snprintf(c->creds.secret_access_key, sizeof(c->creds.secret_access_key), "%s",
	    ic->secret_access_key);
	snprintf(c->creds.session_token, sizeof(c->creds.session_token), "%s", ic->token);
	c->creds.expiration = ic->expiration;
	c->creds_role = 1;
	c->creds_error[0] = '\0';
}

static void
cloud_refresh(struct evtimer *t)
{
	struct cloud *c = (struct cloud *)((char *)t - offsetof(struct cloud, refresh));

	interfaces_read(c);
	if (!c->fixed)
		addrs_publish(c);
	if (c->imds) {
		imds_get_identity(c->imds, on_identity, c);
		if (c->creds_role && !c->creds_busy) {
			c->creds_busy = 1;
			imds_get_role_credentials(c->imds, on_role_creds, c);
		}
	}
	timer_arm(c->timers, &c->refresh.t, now_ms() + REFRESH_S * 1000ULL);
}

int
cloud_aws_credentials(void *arg, struct aws_credentials *out)
{
	struct cloud *c = arg;
	time_t now = time(NULL);

	/* Role credentials renew in the background before they expire. */
	if (c->creds_role && c->imds && !c->creds_busy &&
	    c->creds.expiration && c->creds.expiration - now < CREDS_MARGIN_S) {
		c->creds_busy = 1;
		imds_get_role_credentials(c->imds, on_role_creds, c);
	}
	if (c->creds.access_key_id[0] == '\0' ||
	    (c->creds.expiration && c->creds.expiration <= now))
		return -1;
	*out = c->creds;
	return 0;
}

struct cloud *
cloud_new(const struct jfe_options *o, struct http *h, struct timer_heap *timers,
    const struct cloud_hooks *hooks)
{
	struct cloud *c = calloc(1, sizeof(*c));
	struct aws_env env = { aws_env_getenv, NULL };
	struct aws_cred_info info;
	const char *disabled = getenv("AWS_EC2_METADATA_DISABLED");

	if (c == NULL)
		return NULL;
	c->opt = o;
	c->hooks = *hooks;
	c->timers = timers;
	pthread_mutex_init(&c->lock, NULL);
	if (identity_from_machine_id("/etc/machine-id", &c->id) == 0)
		snprintf(c->identity, sizeof(c->identity), "machine-id:%s", c->id.instance_id);
	else
		snprintf(c->identity, sizeof(c->identity), "machine-id:unknown");
	for (size_t i = 0; i < o->public_ip.n && c->nif < ADDRS_MAX; i++)
		if (parse_addr(o->public_ip.v[i], &c->ifaddrs[c->nif]) == 0)
			c->nif++;
	c->fixed = c->nif > 0;
	if (!c->fixed)
		interfaces_read(c);
	addrs_publish(c);
	if (disabled == NULL || strcasecmp(disabled, "true") != 0) {
		c->imds = imds_new(h, o->imds_endpoint, o->imds_cert && access(o->imds_cert, R_OK) == 0 ?
		    o->imds_cert : NULL, IMDS_TIMEOUT_MS);
	}
	/* AWS credentials: only when a provider will sign with them. */
	if (o->dns_provider && strcmp(o->dns_provider, "route53") == 0) {
		if (aws_credentials_load(&env, &c->creds, &info) == 0) {
			c->creds_source = info.source;
			if (info.source == AWS_CRED_NONE && c->imds) {
				c->creds_role = 1;
				c->creds_busy = 1;
				imds_get_role_credentials(c->imds, on_role_creds, c);
			}
		} else
			snprintf(c->creds_error, sizeof(c->creds_error),
			    "the AWS credentials configured are unusable (see the log)");
	}
	c->refresh.fn = cloud_refresh;
	timer_arm(timers, &c->refresh.t, now_ms() + REFRESH_S * 1000ULL);
	if (c->imds)
		imds_get_identity(c->imds, on_identity, c);
	return c;
}

void
cloud_refresh_now(struct cloud *c)
{
	addrs_publish(c);
}

const char *
cloud_identity(struct cloud *c)
{
	return c->identity;
}

void
cloud_free(struct cloud *c)
{
	if (c == NULL)
		return;
	imds_free(c->imds);
	timer_disarm(c->timers, &c->refresh.t);
	OPENSSL_cleanse(&c->creds, sizeof(c->creds));
	pthread_mutex_destroy(&c->lock);
	free(c);
}

json_t *
cloud_status_json(struct cloud *c)
{
	json_t *addrs = json_array(), *j;
	char buf[INET6_ADDRSTRLEN];

	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < c->nif; i++)
		json_array_append_new(addrs, json_string(sa_addr_str(&c->ifaddrs[i], buf,
		    sizeof(buf))));
	for (size_t i = 0; i < c->nimds; i++)
		json_array_append_new(addrs, json_string(sa_addr_str(&c->imdsaddrs[i], buf,
		    sizeof(buf))));
	j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:o}", "identity", c->identity,
	    "source", c->id.source[0] ? c->id.source : "machine-id",
	    "instance_id", c->id.instance_id, "account_id", c->id.account_id,
	    "region", c->id.region, "signature_verified", c->id.signature_verified,
	    "public_addresses", addrs);
	pthread_mutex_unlock(&c->lock);
	if (c->opt->dns_provider && strcmp(c->opt->dns_provider, "route53") == 0)
		json_object_set_new(j, "aws_credentials", json_pack("{s:s, s:s}", "source",
		    c->creds_role ? "instance-role" : aws_cred_source_name(c->creds_source),
		    "error", c->creds_error));
	return j;
}
