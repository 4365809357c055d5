#include "agent/certcmd.h"

#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/acme.h"
#include "agent/acme_cert.h"
#include "agent/evtimer.h"
#include "agent/http.h"
#include "agent/log.h"
#include "agent/options.h"
#include "agent/privdrop.h"
#include "agent/store.h"
#include "agent/version.h"
#include "proxy/names.h"
#include "proxy/timer.h"

static void
rfc3339(time_t t, char *buf, size_t len)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int
certs_main(int argc, char **argv)
{
	struct jfe_options o;
	struct store *s = NULL;
	char **names = NULL;
	size_t n = 0;

	if (options_parse(&o, argc, argv) != 0)
		return 2;
	log_init("jfe", o.verbose);
	/* root on the store of a daemon run with --user: read it as its owner. */
	if (privdrop_become_owner(o.cache_dir) != 0 || (s = store_fs_open(o.cache_dir)) == NULL ||
	    store_cert_list(s, &names, &n) != 0) {
		store_close(s);
		options_free(&o);
		return 1;
	}
	printf("%-40s %-32s %-21s %s\n", "NAME", "ISSUER", "NOT AFTER", "RENEWS FROM");
	for (size_t i = 0; i < n; i++) {
		char *key = NULL, *chain = NULL, *meta = NULL, issuer[128] = "?", na[32] = "?",
		    ra[32] = "?";
		X509 *leaf = NULL;
		STACK_OF(X509) *rest = NULL;
		time_t nb, nat;

		if (store_cert_load(s, names[i], &key, &chain, &meta) == 0 &&
		    chain_load_pem(chain, strlen(chain), &leaf, &rest) == 0) {
			X509_NAME_get_text_by_NID(X509_get_issuer_name(leaf), NID_commonName, issuer,
			    sizeof(issuer));
			if (cert_not_before(leaf, &nb) == 0 && cert_not_after(leaf, &nat) == 0) {
				rfc3339(nat, na, sizeof(na));
				/* The daemon renews a third of the lifetime before expiry (minus
				 * up to 1/20 of jitter). */
				rfc3339(nat - (nat - nb) / 3 - (nat - nb) / 20, ra, sizeof(ra));
			}
		}
		printf("%-40s %-32s %-21s %s\n", names[i], issuer, na, ra);
		X509_free(leaf);
		sk_X509_pop_free(rest, X509_free);
		store_secret_free(key);
		free(chain);
		free(meta);
	}
	store_names_free(names, n);
	store_close(s);
	options_free(&o);
	return 0;
}

struct revoke_state {
	int done, ok;
};

static void
revoke_done(void *arg, const char *name, int ok, const char *why, long retry_after,
    const char *key_pem, const char *chain_pem)
{
	struct revoke_state *rs = arg;

	(void)name; (void)retry_after; (void)key_pem; (void)chain_pem;
	rs->done = 1;
	rs->ok = ok;
	if (!ok)
		fprintf(stderr, "jfe revoke: %s\n", why);
}

int
revoke_main(int argc, char **argv)
{
	struct jfe_options o;
	struct acme_config ac;
	struct store *s = NULL;
	struct http *h = NULL;
	struct acme *a = NULL;
	struct timer_heap timers = { 0 };
	struct revoke_state rs = { 0 };
	char name[NAME_MAX_LEN + 1], *key = NULL, *chain = NULL, *meta = NULL, ua[64];
	X509 *leaf = NULL;
	STACK_OF(X509) *rest = NULL;
	unsigned char *der = NULL;
	int len, rc = 1;
	uint64_t deadline;

	/* jfe revoke NAME [options]: the name first, the options as for jfe run. */
	if (argc < 2 || argv[1][0] == '-') {
		fprintf(stderr, "usage: jfe revoke NAME [options]\n");
		return 2;
	}
	if (name_normalize(argv[1], strlen(argv[1]), name, 1) != 0) {
		fprintf(stderr, "jfe revoke: '%s' is not a host name\n", argv[1]);
		return 2;
	}
	argv[1] = argv[0];
	if (options_parse(&o, argc - 1, argv + 1) != 0)
		return 2;
	log_init("jfe", o.verbose);
	if (strcmp(o.acme_directory, "none") == 0) {
		fprintf(stderr, "jfe revoke: --acme-directory none: no CA to ask\n");
		goto out;
	}
	/* root on the store of a daemon run with --user: nothing in it may become root's. */
	if (privdrop_become_owner(o.cache_dir) != 0 || (s = store_fs_open(o.cache_dir)) == NULL)
		goto out;
	if (store_cert_load(s, name, &key, &chain, &meta) != 0) {
		fprintf(stderr, "jfe revoke: no certificate for %s in %s\n", name, o.cache_dir);
		goto out;
	}
	if (chain_load_pem(chain, strlen(chain), &leaf, &rest) != 0 ||
	    (len = i2d_X509(leaf, &der)) <= 0) {
		fprintf(stderr, "jfe revoke: the stored certificate for %s is unreadable\n", name);
		goto out;
	}
	memset(&ac, 0, sizeof(ac));
	ac.directory = o.acme_directory;
	ac.email = o.email;
	ac.http01 = ac.tlsalpn01 = 1;
	snprintf(ua, sizeof(ua), "jfe/%s", JFE_VERSION);
	if ((h = http_new(o.acme_ca_bundle, ua)) == NULL ||
	    (a = acme_new(&ac, h, s, &timers)) == NULL ||
	    acme_revoke(a, der, (size_t)len, revoke_done, &rs) != 0)
		goto out;
	deadline = now_ms() + 60000;
	while (!rs.done && now_ms() < deadline) {
		struct timer *t;

		http_poll(h, NULL, 0, 200);
		while ((t = timer_pop_due(&timers, now_ms())) != NULL)
			((struct evtimer *)t)->fn((struct evtimer *)t);
	}
	if (!rs.done)
		fprintf(stderr, "jfe revoke: no answer from the CA in 60 s\n");
	else if (rs.ok) {
		/* Revoked: the daemon must not load it again; the next handshake orders anew. */
		store_cert_remove(s, name);
		printf("revoked %s\n", name);
		rc = 0;
	}
out:
	acme_shutdown(a);
	if (h)
		http_cancel_all(h);
	acme_free(a);
	http_free(h);
	timer_heap_free(&timers);
	OPENSSL_free(der);
	X509_free(leaf);
	sk_X509_pop_free(rest, X509_free);
	store_secret_free(key);
	free(chain);
	free(meta);
	store_close(s);
	options_free(&o);
	return rc;
}
