/* Options: one table (name, type, default, help) drives the flag parser, the options file,
 * --help and the effective-configuration echo in `jfe status`. */
#ifndef JFE_OPTIONS_H
#define JFE_OPTIONS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* A set of TCP ports, one bit per port. */
struct port_set {
	uint64_t bits[65536 / 64];
};

static inline int
port_set_has(const struct port_set *ps, unsigned port)
{
	return port < 65536 && (ps->bits[port / 64] >> (port % 64)) & 1;
}

/* A growable list of strings (repeatable options). */
struct str_list {
	char **v;
	size_t n;
};

struct jfe_options {
	char *cache_dir;
	char *config_file;
	int staging;
	char *acme_directory;
	char *acme_ca_bundle;
	char *acme_profile;
	char *email;
	char *eab_kid;
	char *eab_hmac_key;
	struct str_list public_ip;
	struct str_list dns_server;
	struct str_list allow_domain;
	struct str_list deny_domain;
	struct str_list wildcard;
	char *hostname;
	int require_consent;
	char *imds_endpoint;
	char *imds_cert;
	char *cloudflare_token_file;
	unsigned dns_visible_timeout_s;
	char *dns_check;                /* "authoritative" or "resolver" */
	char *dns_provider;
	char *route53_endpoint;
	char *cloudflare_endpoint;
	struct port_set ports;          /* effective: --ports minus --exclude-ports minus 22 */
	char *ports_spec;
	char *exclude_ports_spec;
	unsigned listen_port;
	char *control_socket;
	char *user;                     /* --user: drop to it after set-up (NULL: no) */
	int verbose;
	int no_preserve_source;
	int no_starttls;
	int fail_closed;
	unsigned workers;               /* 0 = online CPUs */
	unsigned sniff_timeout_ms;      /* client and server both silent: then pass through */
	unsigned connect_timeout_ms;
	unsigned idle_timeout_s;
	unsigned handshake_timeout_ms;
	unsigned issue_timeout_s;
	unsigned max_conns;
	unsigned drain_timeout_ms;
	unsigned tls_probe_ms;
	unsigned names_per_hour, names_per_day, names_per_domain_week, names_per_client_hour;
	unsigned max_orders;
	unsigned fwmark;
	unsigned upstream_mark;         /* SO_MARK of upstream sockets (socket-mark return path) */
	char *return_path;              /* "socket-mark" or "conntrack" */
	int return_conntrack;           /* return_path is "conntrack" */
	unsigned route_table;
};

/* Parses `jfe run`'s arguments (argv[0] is "run"): the options file first, then flags, which
 * override it. On error prints one line naming the option to stderr and returns -1. */
int options_parse(struct jfe_options *o, int argc, char **argv);
/* Fills <o> with the defaults only (for `jfe rules` and tests). */
int options_defaults(struct jfe_options *o);
void options_free(struct jfe_options *o);
void options_usage(FILE *f);
/* Parses a port range list such as "23-79,81,443-8080" into <ps> (cleared first). */
int ports_parse(struct port_set *ps, const char *spec);
/* Writes the effective options as "name value" lines (secrets shown as "(set)"). */
void options_dump(const struct jfe_options *o, FILE *f);

#endif
