#include "agent/options.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum opt_type { OPT_STR, OPT_FLAG, OPT_UINT, OPT_LIST, OPT_PORTS };
enum opt_check { CHK_NONE, CHK_IP, CHK_HOSTPORT, CHK_URL, CHK_FILE, CHK_PROVIDER, CHK_SECRET,
	CHK_DNSCHECK, CHK_RETURNPATH };

struct opt_def {
	const char *name;
	char short_name;
	enum opt_type type;
	size_t off;
	const char *def;
	const char *arg;
	enum opt_check check;
	unsigned min, max;
	const char *help;
};

#define OFF(f) offsetof(struct jfe_options, f)

static const struct opt_def opt_table[] = {
	{ "cache", 'c', OPT_STR, OFF(cache_dir), "/var/lib/jfe", "DIR", CHK_NONE, 0, 0,
	  "state: ACME account, certificates, limits" },
	{ "config", 'f', OPT_STR, OFF(config_file), NULL, "FILE", CHK_FILE, 0, 0,
	  "options file (default /etc/jfe/jfe.conf when it exists)" },
	{ "staging", 's', OPT_FLAG, OFF(staging), NULL, NULL, CHK_NONE, 0, 0,
	  "use the Let's Encrypt staging directory" },
	{ "acme-directory", 0, OPT_STR, OFF(acme_directory), NULL, "URL", CHK_URL, 0, 0,
	  "ACME directory URL; \"none\" turns issuance off" },
	{ "acme-ca-bundle", 0, OPT_STR, OFF(acme_ca_bundle), NULL, "FILE", CHK_FILE, 0, 0,
	  "CA file to trust for the ACME server's HTTPS" },
	{ "acme-profile", 0, OPT_STR, OFF(acme_profile), NULL, "NAME", CHK_NONE, 0, 0,
	  "ACME certificate profile, when the directory offers profiles" },
	{ "email", 0, OPT_STR, OFF(email), NULL, "ADDR", CHK_NONE, 0, 0,
	  "ACME account contact" },
	{ "eab-kid", 0, OPT_STR, OFF(eab_kid), NULL, "KID", CHK_NONE, 0, 0,
	  "External Account Binding key id" },
	{ "eab-hmac-key", 0, OPT_STR, OFF(eab_hmac_key), NULL, "B64URL", CHK_SECRET, 0, 0,
	  "External Account Binding HMAC key" },
	{ "public-ip", 0, OPT_LIST, OFF(public_ip), NULL, "ADDR", CHK_IP, 0, 0,
	  "repeatable: this host's public addresses (default: discovered)" },
	{ "dns-server", 0, OPT_LIST, OFF(dns_server), NULL, "ADDR[:P]", CHK_HOSTPORT, 0, 0,
	  "repeatable: resolver for name checks (default: /etc/resolv.conf)" },
	{ "allow-domain", 0, OPT_LIST, OFF(allow_domain), NULL, "SUFFIX", CHK_NONE, 0, 0,
	  "repeatable: only names under these suffixes are issued" },
	{ "deny-domain", 0, OPT_LIST, OFF(deny_domain), NULL, "SUFFIX", CHK_NONE, 0, 0,
	  "repeatable: names under these suffixes are never issued" },
	{ "wildcard", 0, OPT_LIST, OFF(wildcard), NULL, "DOMAIN", CHK_NONE, 0, 0,
	  "repeatable: obtain *.DOMAIN and DOMAIN through DNS-01" },
	{ "hostname", 0, OPT_STR, OFF(hostname), NULL, "NAME", CHK_NONE, 0, 0,
	  "the host's name: STARTTLS clients without SNI get its certificate, other clients "
	  "without SNI a self-signed one for it (default: the system's)" },
	{ "require-consent", 0, OPT_FLAG, OFF(require_consent), NULL, NULL, CHK_NONE, 0, 0,
	  "issue only for names with a _jfe-consent TXT record naming our account" },
	{ "names-per-hour", 0, OPT_UINT, OFF(names_per_hour), "20", "N", CHK_NONE, 0, 10000,
	  "new names ordered per hour by this instance" },
	{ "names-per-day", 0, OPT_UINT, OFF(names_per_day), "100", "N", CHK_NONE, 0, 100000,
	  "new names ordered per day by this instance" },
	{ "names-per-domain-week", 0, OPT_UINT, OFF(names_per_domain_week), "20", "N", CHK_NONE, 0,
	  10000, "new names per registered domain per week" },
	{ "names-per-client-hour", 0, OPT_UINT, OFF(names_per_client_hour), "10", "N", CHK_NONE, 0,
	  10000, "issuance-triggering handshakes per client address per hour" },
	{ "max-orders", 0, OPT_UINT, OFF(max_orders), "5", "N", CHK_NONE, 1, 1000,
	  "orders in flight at once" },
	{ "imds-endpoint", 0, OPT_STR, OFF(imds_endpoint), NULL, "URL", CHK_URL, 0, 0,
	  "EC2 instance metadata endpoint" },
	{ "imds-cert", 0, OPT_STR, OFF(imds_cert), "/usr/share/jfe/aws-rsa2048.pem", "FILE",
	  CHK_NONE, 0, 0, "AWS certificates that verify the instance identity signature" },
	{ "dns-provider", 0, OPT_STR, OFF(dns_provider), NULL, "NAME", CHK_PROVIDER, 0, 0,
	  "DNS-01 provider: route53 or cloudflare" },
	{ "route53-endpoint", 0, OPT_STR, OFF(route53_endpoint), NULL, "URL", CHK_URL, 0, 0,
	  "Route53 API endpoint" },
	{ "cloudflare-endpoint", 0, OPT_STR, OFF(cloudflare_endpoint), NULL, "URL", CHK_URL, 0, 0,
	  "Cloudflare API endpoint" },
	{ "cloudflare-token-file", 0, OPT_STR, OFF(cloudflare_token_file), NULL, "FILE", CHK_FILE,
	  0, 0, "file holding the Cloudflare API token (else CLOUDFLARE_API_TOKEN)" },
	{ "dns-propagation-timeout", 0, OPT_UINT, OFF(dns_visible_timeout_s), "120", "S", CHK_NONE,
	  1, 3600, "how long a DNS-01 record may take to become visible" },
	{ "dns-propagation-check", 0, OPT_STR, OFF(dns_check), "authoritative", "WHERE", CHK_DNSCHECK,
	  0, 0, "DNS-01 records must show on: authoritative (every NS of the zone) or resolver" },
	{ "ports", 0, OPT_PORTS, OFF(ports_spec), "23-65535", "RANGES", CHK_NONE, 0, 0,
	  "intercepted ports" },
	{ "exclude-ports", 0, OPT_PORTS, OFF(exclude_ports_spec), NULL, "LIST", CHK_NONE, 0, 0,
	  "never intercepted (22 is never intercepted)" },
	{ "listen-port", 0, OPT_UINT, OFF(listen_port), "1", "N", CHK_NONE, 1, 65535,
	  "port of the transparent listener on 127.0.0.1 and ::1" },
	{ "control-socket", 0, OPT_STR, OFF(control_socket), "/run/jfe/control.sock", "PATH",
	  CHK_NONE, 0, 0, "control socket" },
	{ "user", 0, OPT_STR, OFF(user), NULL, "NAME", CHK_NONE, 0, 0,
	  "after set-up, run as NAME with CAP_NET_ADMIN only (default: stay as started)" },
	{ "verbose", 'v', OPT_FLAG, OFF(verbose), NULL, NULL, CHK_NONE, 0, 0,
	  "one log line per connection (twice: debug)" },
	{ "no-preserve-source", 0, OPT_FLAG, OFF(no_preserve_source), NULL, NULL, CHK_NONE, 0, 0,
	  "connect to services from the host address, not the client's" },
	{ "no-starttls", 0, OPT_FLAG, OFF(no_starttls), NULL, NULL, CHK_NONE, 0, 0,
	  "pass SMTP, IMAP, POP3, PostgreSQL and MySQL sessions through unchanged" },
	{ "fail-closed", 0, OPT_FLAG, OFF(fail_closed), NULL, NULL, CHK_NONE, 0, 0,
	  "while the rules are installed and jfe is down, reset new connections" },
	{ "workers", 0, OPT_UINT, OFF(workers), "0", "N", CHK_NONE, 0, 1024,
	  "worker threads (0: one per online CPU)" },
	{ "sniff-timeout", 0, OPT_UINT, OFF(sniff_timeout_ms), "10000", "MS", CHK_NONE, 10, 3600000,
	  "both sides silent this long: pass through" },
	{ "connect-timeout", 0, OPT_UINT, OFF(connect_timeout_ms), "10000", "MS", CHK_NONE, 10,
	  600000, "upstream connect timeout" },
	{ "handshake-timeout", 0, OPT_UINT, OFF(handshake_timeout_ms), "30000", "MS", CHK_NONE, 10,
	  600000, "TLS handshake timeout (after the ClientHello)" },
	{ "idle-timeout", 0, OPT_UINT, OFF(idle_timeout_s), "3600", "S", CHK_NONE, 1, 604800,
	  "a connection with no traffic either way this long is closed" },
	{ "issue-timeout", 0, OPT_UINT, OFF(issue_timeout_s), "30", "S", CHK_NONE, 0, 600,
	  "longest a first handshake waits for issuance" },
	{ "max-conns", 0, OPT_UINT, OFF(max_conns), "100000", "N", CHK_NONE, 1, 10000000,
	  "connections held at once; beyond it accepting pauses" },
	{ "tls-probe-timeout", 0, OPT_UINT, OFF(tls_probe_ms), "1000", "MS", CHK_NONE, 0, 60000,
	  "how long the first TLS client of a service waits to learn if it speaks TLS itself "
	  "(0: never ask, always terminate)" },
	{ "drain-timeout", 0, OPT_UINT, OFF(drain_timeout_ms), "5000", "MS", CHK_NONE, 0, 600000,
	  "on stop, how long live connections may finish" },
	{ "fwmark", 0, OPT_UINT, OFF(fwmark), "0x6a6665", "MARK", CHK_NONE, 1, 0xffffffffu,
	  "packet mark of jfe's return path" },
	{ "upstream-mark", 0, OPT_UINT, OFF(upstream_mark), "0x6a6666", "MARK", CHK_NONE, 1,
	  0xffffffffu, "mark of jfe's connections to services (socket-mark return path)" },
	{ "return-path", 0, OPT_STR, OFF(return_path), "socket-mark", "HOW", CHK_RETURNPATH, 0, 0,
	  "how services' replies to a preserved client address find jfe: socket-mark (the "
	  "service's socket inherits jfe's mark; no connection tracking) or conntrack" },
	{ "route-table", 0, OPT_UINT, OFF(route_table), "6776", "N", CHK_NONE, 1, 0xfffffffeu,
	  "routing table of jfe's return path" },
};

#define OPT_COUNT (sizeof(opt_table) / sizeof(opt_table[0]))

static void
list_clear(struct str_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static int
list_add(struct str_list *l, const char *s)
{
	char **nv = realloc(l->v, (l->n + 1) * sizeof(*nv));

	if (nv == NULL)
		return -1;
	l->v = nv;
	if ((l->v[l->n] = strdup(s)) == NULL)
		return -1;
	l->n++;
	return 0;
}

static int
parse_uint(const char *s, unsigned long long *out)
{
	char *end;

	if (*s == '\0' || *s == '-' || isspace((unsigned char)*s))
		return -1;
	errno = 0;
	*out = strtoull(s, &end, 0);
	return (errno || *end) ? -1 : 0;
}

int
ports_parse(struct port_set *ps, const char *spec)
{
	const char *p = spec;

	memset(ps, 0, sizeof(*ps));
	if (*p == '\0')
		return -1;
	while (*p) {
		char *end;
		unsigned long lo, hi;

		if (!isdigit((unsigned char)*p))
			return -1;
		lo = strtoul(p, &end, 10);
		hi = lo;
		p = end;
		if (*p == '-') {
			p++;
			if (!isdigit((unsigned char)*p))
				return -1;
			hi = strtoul(p, &end, 10);
			p = end;
		}
		if (lo < 1 || hi > 65535 || lo > hi)
			return -1;
		for (unsigned long i = lo; i <= hi; i++)
			ps->bits[i / 64] |= 1ULL << (i % 64);
		if (*p == ',')
			p++;
		else if (*p)
			return -1;
	}
	return 0;
}

static int
check_value(const struct opt_def *d, const char *v)
{
	struct in6_addr a6;
	struct in_addr a4;

	switch (d->check) {
	case CHK_IP:
		return (inet_pton(AF_INET, v, &a4) == 1 || inet_pton(AF_INET6, v, &a6) == 1) ? 0 : -1;
	case CHK_HOSTPORT: {
		char buf[128];
		const char *host = v, *port = NULL;

		if (strlen(v) >= sizeof(buf))
			return -1;
		strcpy(buf, v);
		if (buf[0] == '[') {
			char *rb = strchr(buf, ']');

			if (rb == NULL)
				return -1;
			*rb = '\0';
			host = buf + 1;
			if (rb[1] == ':')
				port = rb + 2;
			else if (rb[1])
				return -1;
		} else if (strchr(buf, ':') == strrchr(buf, ':') && strchr(buf, ':')) {
			char *c = strchr(buf, ':');

			*c = '\0';
			host = buf;
			port = c + 1;
		} else
			host = buf;
		if (inet_pton(AF_INET, host, &a4) != 1 && inet_pton(AF_INET6, host, &a6) != 1)
			return -1;
		if (port) {
			unsigned long long p;

			if (parse_uint(port, &p) || p < 1 || p > 65535)
				return -1;
		}
		return 0;
	}
	case CHK_URL:
		if (strcmp(d->name, "acme-directory") == 0 && strcmp(v, "none") == 0)
			return 0;
		return (strncmp(v, "https://", 8) == 0 || strncmp(v, "http://", 7) == 0) ? 0 : -1;
	case CHK_FILE:
		return access(v, R_OK);
	case CHK_PROVIDER:
		return (strcmp(v, "route53") == 0 || strcmp(v, "cloudflare") == 0) ? 0 : -1;
	case CHK_DNSCHECK:
		return (strcmp(v, "authoritative") == 0 || strcmp(v, "resolver") == 0) ? 0 : -1;
	case CHK_RETURNPATH:
		return (strcmp(v, "socket-mark") == 0 || strcmp(v, "conntrack") == 0) ? 0 : -1;
	default:
		return 0;
	}
}

static const struct opt_def *
opt_find_long(const char *name, size_t len)
{
	for (size_t i = 0; i < OPT_COUNT; i++)
		if (strlen(opt_table[i].name) == len && strncmp(opt_table[i].name, name, len) == 0)
			return &opt_table[i];
	return NULL;
}

static const struct opt_def *
opt_find_short(char c)
{
	for (size_t i = 0; i < OPT_COUNT; i++)
		if (opt_table[i].short_name == c)
			return &opt_table[i];
	return NULL;
}

/* Applies one option. <from_cli> marks list options given on the command line, which replace
 * the options file's values rather than adding to them. */
static int
opt_apply(struct jfe_options *o, const struct opt_def *d, const char *v, const char *where,
    unsigned char *cli_seen)
{
	char *base = (char *)o;

	if (d->type != OPT_FLAG && check_value(d, v) != 0) {
		fprintf(stderr, "jfe: %s--%s: invalid value '%s'%s\n", where, d->name, v,
		    d->check == CHK_FILE ? " (not a readable file)" : "");
		return -1;
	}
	switch (d->type) {
	case OPT_FLAG:
		if (d->short_name == 'v')
			(*(int *)(base + d->off))++;
		else
			*(int *)(base + d->off) = 1;
		return 0;
	case OPT_STR:
	case OPT_PORTS: {
		char **slot = (char **)(base + d->off);
		char *nv = strdup(v);

		if (nv == NULL)
			return -1;
		if (d->type == OPT_PORTS) {
			struct port_set tmp;

			if (ports_parse(&tmp, v) != 0) {
				fprintf(stderr, "jfe: %s--%s: bad port range list '%s' "
				    "(expected e.g. 23-79,81-65535)\n", where, d->name, v);
				free(nv);
				return -1;
			}
		}
		free(*slot);
		*slot = nv;
		return 0;
	}
	case OPT_UINT: {
		unsigned long long n;

		if (parse_uint(v, &n) || n < d->min || n > d->max) {
			fprintf(stderr, "jfe: %s--%s: '%s' is not a number from %u to %u\n", where,
			    d->name, v, d->min, d->max);
			return -1;
		}
		*(unsigned *)(base + d->off) = (unsigned)n;
		return 0;
	}
	case OPT_LIST: {
		struct str_list *l = (struct str_list *)(base + d->off);

		if (cli_seen && !cli_seen[d - opt_table]) {
			list_clear(l);
			cli_seen[d - opt_table] = 1;
		}
		return list_add(l, v);
	}
	}
	return -1;
}

int
options_defaults(struct jfe_options *o)
{
	memset(o, 0, sizeof(*o));
	for (size_t i = 0; i < OPT_COUNT; i++) {
		const struct opt_def *d = &opt_table[i];

		if (d->def && opt_apply(o, d, d->def, "default ", NULL) != 0)
			return -1;
	}
	return 0;
}

static int
options_file_load(struct jfe_options *o, const char *path)
{
	char line[4096], where[512];
	FILE *f = fopen(path, "r");
	unsigned lineno = 0;

	if (f == NULL) {
		fprintf(stderr, "jfe: --config: cannot read %s: %s\n", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		char *p = line, *name, *val, *end;
		const struct opt_def *d;

		lineno++;
		if (strchr(line, '\n') == NULL && !feof(f)) {
			fprintf(stderr, "jfe: %s:%u: line too long\n", path, lineno);
			goto fail;
		}
		while (isspace((unsigned char)*p))
			p++;
		if (*p == '#' || *p == '\0')
			continue;
		name = p;
		while (*p && !isspace((unsigned char)*p))
			p++;
		if (*p)
			*p++ = '\0';
		while (isspace((unsigned char)*p))
			p++;
		val = p;
		end = val + strlen(val);
		while (end > val && isspace((unsigned char)end[-1]))
			*--end = '\0';
		if (strncmp(name, "--", 2) == 0)
			name += 2;
		snprintf(where, sizeof(where), "%s:%u: ", path, lineno);
		d = opt_find_long(name, strlen(name));
		if (d == NULL || strcmp(d->name, "config") == 0) {
			fprintf(stderr, "jfe: %sunknown option '%s'\n", where, name);
			goto fail;
		}
		if (d->type == OPT_FLAG) {
			if (*val && strcmp(val, "yes") && strcmp(val, "true") && strcmp(val, "1")) {
				if (strcmp(val, "no") == 0 || strcmp(val, "false") == 0 ||
				    strcmp(val, "0") == 0)
					continue;
				fprintf(stderr, "jfe: %s--%s: expected yes or no, got '%s'\n", where,
				    name, val);
				goto fail;
			}
		} else if (*val == '\0') {
			fprintf(stderr, "jfe: %s--%s: missing value\n", where, name);
			goto fail;
		}
		if (opt_apply(o, d, val, where, NULL) != 0)
			goto fail;
	}
	if (ferror(f)) {
		fprintf(stderr, "jfe: --config: error reading %s\n", path);
		goto fail;
	}
	fclose(f);
	return 0;
fail:
	fclose(f);
	return -1;
}

static int
options_finish(struct jfe_options *o)
{
	struct port_set ex;

	if (ports_parse(&o->ports, o->ports_spec) != 0)
		return -1;
	if (o->exclude_ports_spec) {
		if (ports_parse(&ex, o->exclude_ports_spec) != 0)
			return -1;
		for (size_t i = 0; i < 65536 / 64; i++)
			o->ports.bits[i] &= ~ex.bits[i];
	}
	if (o->route_table >= 253 && o->route_table <= 255) {
		fprintf(stderr, "jfe: --route-table: %u is one of the kernel's own tables\n",
		    o->route_table);
		return -1;
	}
	if (o->upstream_mark == o->fwmark) {
		fprintf(stderr, "jfe: --upstream-mark must differ from --fwmark (0x%x)\n", o->fwmark);
		return -1;
	}
	o->return_conntrack = strcmp(o->return_path, "conntrack") == 0;
	o->ports.bits[0] &= ~(1ULL << 22);
	/* The listener's own port is never intercepted: that would loop. */
	o->ports.bits[o->listen_port / 64] &= ~(1ULL << (o->listen_port % 64));
	if (o->staging && o->acme_directory == NULL)
		o->acme_directory = strdup("https://acme-staging-v02.api.letsencrypt.org/directory");
	if (o->acme_directory == NULL)
		o->acme_directory = strdup("https://acme-v02.api.letsencrypt.org/directory");
	if (o->imds_endpoint == NULL) {
		const char *env = getenv("AWS_EC2_METADATA_SERVICE_ENDPOINT");

		o->imds_endpoint = strdup(env && *env ? env : "http://169.254.169.254");
	}
	return 0;
}

static int options_parse_all(struct jfe_options *o, int argc, char **argv);

int
options_parse(struct jfe_options *o, int argc, char **argv)
{
	if (options_parse_all(o, argc, argv) == 0)
		return 0;
	options_free(o);        /* the caller owns nothing after a failure */
	return -1;
}

static int
options_parse_all(struct jfe_options *o, int argc, char **argv)
{
	unsigned char cli_seen[OPT_COUNT] = { 0 };
	const char *cfg = NULL;
	int i;

	if (options_defaults(o) != 0)
		return -1;
	/* The options file is read first so that flags override it. */
	for (i = 1; i < argc; i++) {
		if ((strcmp(argv[i], "-f") == 0 || strcmp(argv[i], "--config") == 0) && i + 1 < argc)
			cfg = argv[++i];
		else if (strncmp(argv[i], "--config=", 9) == 0)
			cfg = argv[i] + 9;
	}
	if (cfg == NULL && access("/etc/jfe/jfe.conf", F_OK) == 0)
		cfg = "/etc/jfe/jfe.conf";
	if (cfg && options_file_load(o, cfg) != 0)
		return -1;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *val = NULL;
		const struct opt_def *d;

		if (strncmp(a, "--", 2) == 0) {
			const char *eq = strchr(a + 2, '=');
			size_t len = eq ? (size_t)(eq - a - 2) : strlen(a + 2);

			d = opt_find_long(a + 2, len);
			if (eq)
				val = eq + 1;
		} else if (a[0] == '-' && a[1] && a[2] == '\0')
			d = opt_find_short(a[1]);
		else {
			fprintf(stderr, "jfe: unexpected argument '%s'\n", a);
			return -1;
		}
		if (d == NULL) {
			fprintf(stderr, "jfe: unknown option '%s' (see jfe --help)\n", a);
			return -1;
		}
		if (d->type == OPT_FLAG) {
			if (val) {
				fprintf(stderr, "jfe: --%s takes no value\n", d->name);
				return -1;
			}
			opt_apply(o, d, "", "", cli_seen);
			continue;
		}
		if (val == NULL) {
			if (i + 1 >= argc) {
				fprintf(stderr, "jfe: --%s needs a value (%s)\n", d->name, d->arg);
				return -1;
			}
			val = argv[++i];
		}
		if (strcmp(d->name, "config") == 0) {
			if (check_value(d, val) != 0) {
				fprintf(stderr, "jfe: --config: cannot read '%s'\n", val);
				return -1;
			}
			free(o->config_file);
			o->config_file = strdup(val);
			continue;
		}
		if (opt_apply(o, d, val, "", cli_seen) != 0)
			return -1;
	}
	if (cfg && o->config_file == NULL)
		o->config_file = strdup(cfg);
	return options_finish(o);
}

void
options_free(struct jfe_options *o)
{
	char *base = (char *)o;

	for (size_t i = 0; i < OPT_COUNT; i++) {
		const struct opt_def *d = &opt_table[i];

		if (d->type == OPT_STR || d->type == OPT_PORTS) {
			char **slot = (char **)(base + d->off);

			free(*slot);
			*slot = NULL;
		} else if (d->type == OPT_LIST)
			list_clear((struct str_list *)(base + d->off));
	}
}

void
options_usage(FILE *f)
{
	fprintf(f,
	    "usage: jfe run [options]            run in the foreground, log to stderr\n"
	    "       jfe status [--json] [--control-socket PATH]\n"
	    "       jfe certs [-c DIR]           certificates in the store\n"
	    "       jfe revoke NAME [options]    revoke NAME's certificate and forget it\n"
	    "       jfe rules [options]          print the nftables ruleset jfe would install\n"
	    "       jfe return-path set|restore [options]\n"
	    "                                    the kernel settings of --return-path socket-mark\n"
	    "       jfe version\n\noptions of jfe run:\n");
	for (size_t i = 0; i < OPT_COUNT; i++) {
		const struct opt_def *d = &opt_table[i];
		char left[64];

		if (d->short_name)
			snprintf(left, sizeof(left), "-%c, --%s %s", d->short_name, d->name,
			    d->arg ? d->arg : "");
		else
			snprintf(left, sizeof(left), "    --%s %s", d->name, d->arg ? d->arg : "");
		fprintf(f, "  %-32s %s", left, d->help);
		if (d->def && strcmp(d->def, "0") != 0)
			fprintf(f, " (default %s)", d->def);
		fputc('\n', f);
	}
}

void
options_dump(const struct jfe_options *o, FILE *f)
{
	const char *base = (const char *)o;

	for (size_t i = 0; i < OPT_COUNT; i++) {
		const struct opt_def *d = &opt_table[i];

		switch (d->type) {
		case OPT_FLAG:
			fprintf(f, "%s %s\n", d->name, *(const int *)(base + d->off) ? "yes" : "no");
			break;
		case OPT_UINT:
			fprintf(f, "%s %u\n", d->name, *(const unsigned *)(base + d->off));
			break;
		case OPT_STR:
		case OPT_PORTS: {
			const char *s = *(char *const *)(base + d->off);

			if (s)
				fprintf(f, "%s %s\n", d->name, d->check == CHK_SECRET ? "(set)" : s);
			break;
		}
		case OPT_LIST: {
			const struct str_list *l = (const struct str_list *)(base + d->off);

			for (size_t j = 0; j < l->n; j++)
				fprintf(f, "%s %s\n", d->name, l->v[j]);
			break;
		}
		}
	}
}
