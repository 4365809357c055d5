/* The EC2 instance metadata service (IMDSv2) for the agent thread, on agent/http.h: the
 * instance identity that jfe's admission rules are tied to (a signed identity document, or
 * /etc/machine-id off AWS), this host's public addresses, and the instance role's
 * credentials for the DNS provider.
 *
 * Only IMDSv2: a session token (PUT /latest/api/token) is fetched once, cached and renewed
 * before it expires; every GET carries it, and a 401 renews it and retries that GET once.
 * Every answer is bounded and validated before use; nothing the service sends is trusted
 * further than that.
 *
 * The identity document counts as the instance's only when its rsa2048 PKCS#7 signature
 * verifies against the AWS certificate file given to imds_new() (the certificates in the
 * PKCS#7 itself are ignored, so a forged signature carrying its own certificate fails) and
 * the signed content is the document served. Without a certificate file the document is
 * read unverified (signature_verified 0): the caller decides whether that is acceptable.
 *
 * Callbacks run only from http_poll() (or from http_free()/http_cancel_all(), with ok 0),
 * never from inside an imds_get_*() call, and exactly once for every request that was
 * accepted (0 returned). Their pointer arguments are valid only during the call. A callback
 * may start new requests and may call imds_free(). One struct imds belongs to one thread.
 *
 * Note: requests go through agent/http.c, which lets libcurl honour http_proxy/no_proxy
 * from the environment; a proxy must never see IMDS traffic (see data/aws/README.md). */
#ifndef JFE_IMDS_H
#define JFE_IMDS_H

#include <stddef.h>
#include <time.h>

struct http;

#define IMDS_MAX_ADDRS		64	/* addresses in one imds_get_public_addrs() result */
#define IMDS_MAX_IFACES		16	/* network interfaces looked at */
#define IMDS_TOKEN_TTL_MAX	21600	/* seconds, AWS's limit */

struct imds_identity {
	char	instance_id[32];
	char	account_id[16];
	char	region[32];
	char	availability_zone[32];
	char	source[16];		/* "aws-imds" or "machine-id" */
	int	signature_verified;
};

struct imds;

/* <endpoint>: "http://169.254.169.254", "http://[fd00:ec2::254]" or a test address (http or
 * https, no path; a trailing '/' is ignored). <aws_cert_pem_file_or_NULL>: one or more PEM
 * certificates, any of which may have signed the rsa2048 signature (AWS publishes one per
 * region; see data/aws/README.md). <timeout_ms> bounds each HTTP request, connecting
 * included (the agent passes about 1000). NULL, logged, on bad arguments or an unreadable
 * certificate file. */
struct imds *imds_new(struct http *h, const char *endpoint, const char *aws_cert_pem_file_or_NULL,
    unsigned timeout_ms);

/* Ends every pending request (callbacks get ok 0 and "cancelled", before this returns) and
 * frees <m>; HTTP requests still in flight are abandoned and cleaned up when http.c finishes
 * them. The token is cleansed. NULL is a no-op. */
void imds_free(struct imds *m);

/* The lifetime asked for new tokens, 1..IMDS_TOKEN_TTL_MAX seconds (default 21600). A token
 * is renewed when less than a quarter of its lifetime (at most 60 s) is left. 0 or -1. */
int imds_set_token_ttl(struct imds *m, unsigned seconds);

/* The identity document and its rsa2048 signature. <ok> 0: <id> is NULL and <why> says what
 * failed: no IMDS at all (connection refused, timeout: fast, so the caller can fall back to
 * identity_from_machine_id()), an HTTP error, a malformed document, or a signature that does
 * not verify (then the document must not be used: "tampered" is in <why>). */
typedef void (*imds_identity_cb)(void *arg, int ok, const struct imds_identity *id,
    const char *why);
int imds_get_identity(struct imds *m, imds_identity_cb cb, void *arg);

/* This host's public addresses: meta-data/public-ipv4 (404: none) and the IPv6 addresses of
 * every network interface (meta-data/network/interfaces/macs/, then .../<mac>/ipv6s; 404:
 * none), as canonical text (inet_ntop), without duplicates, at most IMDS_MAX_ADDRS. <ok> 1
 * with <n> 0 is a host with no public address. */
typedef void (*imds_addrs_cb)(void *arg, int ok, char **addrs, size_t n, const char *why);
int imds_get_public_addrs(struct imds *m, imds_addrs_cb cb, void *arg);

/* The instance role's temporary credentials: meta-data/iam/security-credentials/ (the role
 * name), then .../<role> (JSON). Never logged; the response and every copy this module makes
 * are cleansed. The receiver cleanses its own copy when done (OPENSSL_cleanse). */
struct imds_credentials {
	char	access_key_id[128];
	char	secret_access_key[128];
	char	token[4096];
	time_t	expiration;
};
typedef void (*imds_creds_cb)(void *arg, int ok, const struct imds_credentials *c,
    const char *why);
int imds_get_role_credentials(struct imds *m, imds_creds_cb cb, void *arg);

/* Off AWS: instance_id "mid-" + the first 16 hex digits of the machine ID in <path>
 * (normally /etc/machine-id: 32 lowercase hex digits and a newline), source "machine-id",
 * other fields empty. 0, or -1 (logged) when the file is missing or malformed. */
int identity_from_machine_id(const char *path, struct imds_identity *id);

#endif
