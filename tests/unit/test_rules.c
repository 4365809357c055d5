/* proxy/rules.c and proxy/route.c against the kernel. Run as root: every case that touches
 * the kernel runs in a forked child inside a new, empty network namespace, so the host's
 * ruleset and routes are never read or changed and everything vanishes with the child.
 * Needs the nft and ip commands (used only to inspect). */
#include "tests/unit/unit_netns.h"

#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>

#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include <libmnl/libmnl.h>
#include <libnftnl/common.h>

#include "agent/log.h"
#include "agent/options.h"
#include "proxy/route.h"
#include "proxy/rules.h"

#define MARK    0x6a6665u
#define UMARK   0x6a6666u
#define TABLE   6776u
#define LPORT   15001u

/* Runs a shell command and returns what it wrote to stdout and stderr (malloc'd). */
static char *
run(const char *cmd, int *status)
{
	char *out = NULL, line[4096];
	size_t len = 0;
	FILE *p, *m;
	int st;

	m = open_memstream(&out, &len);
	p = popen(cmd, "r");
	if (m == NULL || p == NULL) {
		perror("popen");
		exit(2);
	}
	while (fgets(line, sizeof(line), p))
		fputs(line, m);
	st = pclose(p);
	fclose(m);
	if (status)
		*status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	return out;
}

/* Writes <text> to a shell command's stdin; returns its exit status. */
static int
run_with_input(const char *cmd, const char *text)
{
	FILE *p = popen(cmd, "w");
	int st;

	if (p == NULL)
		return -1;
	fputs(text, p);
	st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int
count(const char *hay, const char *needle)
{
	int n = 0;

	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
		n++;
	return n;
}

/* The effective default: --ports 23-65535 without 22 and without the listener port. */
static void
ports_default(struct port_set *ps)
{
	if (ports_parse(ps, "23-65535") != 0)
		exit(2);
	ps->bits[LPORT / 64] &= ~(1ULL << (LPORT % 64));
}

static struct rules_config
config(const struct port_set *ps, int fail_closed)
{
	struct rules_config rc = {
		.ports = ps, .listen_port = LPORT, .fwmark = MARK, .upstream_mark = UMARK,
		.fail_closed = fail_closed,
	};

	return rc;
}

static char *
printed(const struct rules_config *rc)
{
	char *out = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&out, &len);

	UNIT_CHECK(rules_print(rc, m) == 0);
	fclose(m);
	return out;
}

/* ---------------------------------------------------------------- rules_print, no kernel */

static void
test_print_default_ports(void)
{
	struct port_set ps;
	struct rules_config rc;
	char *s;

	ports_default(&ps);
	rc = config(&ps, 0);
	s = printed(&rc);
	UNIT_CHECK(strstr(s, "table inet jfe\ndelete table inet jfe\ntable inet jfe {\n"));
	UNIT_CHECK(strstr(s, "\t\telements = { 23-15000, 15002-65535 }\n"));
	UNIT_CHECK(strstr(s, "type filter hook prerouting priority mangle; policy accept;"));
	UNIT_CHECK(strstr(s, "\t\tiif \"lo\" accept\n"));
	UNIT_CHECK(strstr(s, "\t\tmeta l4proto tcp tcp flags & (syn | ack) != syn socket "
	    "transparent 1 meta mark set 0x006a6665 accept\n"));
	UNIT_CHECK(strstr(s, "\t\tmeta nfproto ipv4 tcp dport @ports tproxy ip to 127.0.0.1:15001 "
	    "meta mark set 0x006a6665 accept\n"));
	UNIT_CHECK(strstr(s, "\t\tmeta nfproto ipv6 tcp dport @ports tproxy ip6 to [::1]:15001 "
	    "meta mark set 0x006a6665 accept\n"));
	/* socket-mark return path: no connection tracking at all */
	UNIT_CHECK(strstr(s, "type filter hook input priority mangle; policy accept;"));
	UNIT_CHECK(strstr(s, "\t\tiif != \"lo\" meta mark 0x006a6665 meta mark set 0x00000000\n"));
	UNIT_CHECK(strstr(s, "type route hook output priority mangle; policy accept;"));
	UNIT_CHECK(strstr(s, "\t\tmeta mark 0x006a6666 fib saddr type local meta mark set "
	    "0x006a6665\n"));
	UNIT_CHECK(strstr(s, "ct ") == NULL);
	UNIT_CHECK(strstr(s, "reject") == NULL);
	/* The prerouting rules come in the recipe's order. */
	UNIT_CHECK(strstr(s, "iif \"lo\"") < strstr(s, "socket transparent 1 meta mark"));
	UNIT_CHECK(strstr(s, "socket transparent 1 meta mark") < strstr(s, "tproxy ip to"));
	UNIT_CHECK(strstr(s, "tproxy ip to") < strstr(s, "tproxy ip6 to"));
	free(s);
}

static void
test_print_conntrack_return_path(void)
{
	struct port_set ps;
	struct rules_config rc;
	char *s;

	ports_default(&ps);
	rc = config(&ps, 0);
	rc.return_conntrack = 1;
	s = printed(&rc);
	UNIT_CHECK(strstr(s, "chain input") == NULL);
	UNIT_CHECK(strstr(s, "fib ") == NULL);
	UNIT_CHECK(strstr(s, "type route hook output priority mangle; policy accept;"));
	UNIT_CHECK(strstr(s, "\t\tmeta l4proto tcp ct state new socket transparent 1 ct mark set "
	    "0x006a6665\n"));
	UNIT_CHECK(strstr(s, "\t\tct direction reply ct mark 0x006a6665 meta mark set "
	    "0x006a6665\n"));
	free(s);
}

static void
test_print_gappy_ports(void)
{
	struct port_set ps;
	struct rules_config rc;
	char *s;

	UNIT_CHECK(ports_parse(&ps, "80,443,8000-8080,65535") == 0);
	rc = config(&ps, 1);
	rc.fwmark = 0x10;
	rc.listen_port = 1;
	s = printed(&rc);
	UNIT_CHECK(strstr(s, "\t\telements = { 80, 443, 8000-8080, 65535 }\n"));
	UNIT_CHECK(strstr(s, "tproxy ip to 127.0.0.1:1 meta mark set 0x00000010 accept"));
	UNIT_CHECK(strstr(s, "\t\ttcp dport @ports tcp flags & (syn | ack) == syn reject with tcp "
	    "reset\n"));
	/* After the tproxy rules, or it would reset connections the proxy should get. */
	UNIT_CHECK(strstr(s, "tproxy ip6 to") < strstr(s, "reject with"));
	free(s);
}

static void
test_print_empty_set(void)
{
	struct port_set ps;
	struct rules_config rc;
	char *s;

	memset(&ps, 0, sizeof(ps));
	rc = config(&ps, 0);
	s = printed(&rc);
	/* nft rejects "elements = { }": an empty set has no elements line at all. */
	UNIT_CHECK(strstr(s, "elements") == NULL);
	UNIT_CHECK(strstr(s, "\t\tflags interval\n\t}\n"));
	free(s);
}

/* In a namespace all the same: if a check were missing, the host would be touched. */
NETNS_CASE(test_bad_config_refused)
{
	struct port_set ps;
	struct rules_config rc;
	FILE *null = fopen("/dev/null", "w");

	ports_default(&ps);
	rc = config(&ps, 0);
	rc.fwmark = 0;
	UNIT_CHECK(rules_print(&rc, null) == -1);
	UNIT_CHECK(rules_install(&rc) == -1);
	rc = config(&ps, 0);
	rc.listen_port = 0;
	UNIT_CHECK(rules_print(&rc, null) == -1);
	rc.listen_port = 65536;
	UNIT_CHECK(rules_install(&rc) == -1);
	rc = config(NULL, 0);
	UNIT_CHECK(rules_install(&rc) == -1);
	/* The upstream mark must not be the return path's own (every upstream packet would be
	 * routed to lo) nor 0 (every unmarked local packet would match). */
	rc = config(&ps, 0);
	rc.upstream_mark = MARK;
	UNIT_CHECK(rules_print(&rc, null) == -1);
	UNIT_CHECK(rules_install(&rc) == -1);
	rc.upstream_mark = 0;
	UNIT_CHECK(rules_install(&rc) == -1);
	rc.return_conntrack = 1;                /* not used there */
	UNIT_CHECK(rules_print(&rc, null) == 0);
	UNIT_CHECK(route_install(0, TABLE) == -1);
	UNIT_CHECK(route_install(MARK, 0) == -1);
	UNIT_CHECK(route_install(MARK, 253) == -1);
	UNIT_CHECK(route_install(MARK, 254) == -1);
	UNIT_CHECK(route_remove(MARK, 255) == -1);
	fclose(null);
}

/* ---------------------------------------------------------------- nftables, in a netns */

static int
nft_check(const struct rules_config *rc)
{
	char *s = printed(rc);
	int st = run_with_input("nft -c -f -", s);

	free(s);
	return st;
}

NETNS_CASE(test_print_passes_nft_check)
{
	struct port_set ps;
	struct rules_config rc;
	char *s;

	ports_default(&ps);
	rc = config(&ps, 0);
	UNIT_CHECK(nft_check(&rc) == 0);
	rc.fail_closed = 1;
	UNIT_CHECK(nft_check(&rc) == 0);
	UNIT_CHECK(ports_parse(&ps, "80,443,8000-8080,65535") == 0);
	UNIT_CHECK(nft_check(&rc) == 0);
	/* More ranges than fit one printed line. */
	UNIT_CHECK(ports_parse(&ps, "1,3,5,7,9,11,13,15,17,19,100-200,300-400") == 0);
	s = printed(&rc);
	UNIT_CHECK(strstr(s, "15,\n"));
	free(s);
	UNIT_CHECK(nft_check(&rc) == 0);
	memset(&ps, 0, sizeof(ps));
	UNIT_CHECK(nft_check(&rc) == 0);
	/* Check mode changes nothing. */
	s = run("nft list ruleset", NULL);
	UNIT_CHECK_STR(s, "");
	free(s);
}

NETNS_CASE(test_install_lists_expected)
{
	struct port_set ps;
	struct rules_config rc;
	char *s;
	int st;

	ports_default(&ps);
	rc = config(&ps, 0);
	UNIT_CHECK(rules_install(&rc) == 0);
	s = run("nft list table inet jfe", &st);
	UNIT_CHECK(st == 0);
	UNIT_CHECK(strstr(s, "\tset ports {\n\t\ttype inet_service\n\t\tflags interval\n"
	    "\t\telements = { 23-15000, 15002-65535 }\n\t}\n"));
	UNIT_CHECK(strstr(s, "\tchain prerouting {\n\t\ttype filter hook prerouting priority "
	    "mangle; policy accept;\n"
	    "\t\tiif \"lo\" accept\n"
	    "\t\ttcp flags != syn / syn,ack socket transparent 1 meta mark set 0x006a6665 accept\n"
	    "\t\tmeta nfproto ipv4 tcp dport @ports tproxy ip to 127.0.0.1:15001 meta mark set "
	    "0x006a6665 accept\n"
	    "\t\tmeta nfproto ipv6 tcp dport @ports tproxy ip6 to [::1]:15001 meta mark set "
	    "0x006a6665 accept\n\t}\n"));
	UNIT_CHECK(strstr(s, "\tchain input {\n\t\ttype filter hook input priority mangle; "
	    "policy accept;\n"
	    "\t\tiif != \"lo\" meta mark 0x006a6665 meta mark set 0x00000000\n\t}\n"));
	UNIT_CHECK(strstr(s, "\tchain output {\n\t\ttype route hook output priority mangle; "
	    "policy accept;\n"
	    "\t\tmeta mark 0x006a6666 fib saddr type local meta mark set 0x006a6665\n\t}\n"));
	free(s);
	/* --return-path conntrack */
	rc.return_conntrack = 1;
	UNIT_CHECK(rules_install(&rc) == 0);
	s = run("nft list table inet jfe", &st);
	UNIT_CHECK(strstr(s, "chain input") == NULL);
	UNIT_CHECK(strstr(s, "\tchain output {\n\t\ttype route hook output priority mangle; "
	    "policy accept;\n"
	    "\t\tmeta l4proto tcp ct state new socket transparent 1 ct mark set 0x006a6665\n"
	    "\t\tct direction reply ct mark 0x006a6665 meta mark set 0x006a6665\n\t}\n"));
	UNIT_CHECK(strstr(s, "reject") == NULL);
	free(s);
}

struct dump_ctx {
	FILE *f;
	uint16_t type;
};

/* Handles, positions and use counts name an object or count its users; they do not
 * describe it. */
static int
dump_attr_skipped(uint16_t msg, uint16_t attr)
{
	switch (msg) {
	case NFT_MSG_NEWCHAIN:
		return attr == NFTA_CHAIN_HANDLE || attr == NFTA_CHAIN_USE ||
		    attr == NFTA_CHAIN_COUNTERS;
	case NFT_MSG_NEWSET:
		return attr == NFTA_SET_HANDLE;
	case NFT_MSG_NEWRULE:
		return attr == NFTA_RULE_HANDLE || attr == NFTA_RULE_POSITION;
	default:
		return 0;
	}
}

static int
dump_attr_cb(const struct nlattr *attr, void *data)
{
	const unsigned char *p = mnl_attr_get_payload(attr);
	const struct dump_ctx *dc = data;
	uint16_t type = mnl_attr_get_type(attr);

	if (dump_attr_skipped(dc->type, type))
		return MNL_CB_OK;
	fprintf(dc->f, " %u:", type);
	for (uint16_t i = 0; i < mnl_attr_get_payload_len(attr); i++)
		fprintf(dc->f, "%02x", p[i]);
	return MNL_CB_OK;
}

static int
dump_msg_cb(const struct nlmsghdr *nlh, void *data)
{
	struct dump_ctx dc = { .f = data, .type = nlh->nlmsg_type & 0xff };

	fprintf(dc.f, "msg %u", dc.type);
	mnl_attr_parse(nlh, sizeof(struct nfgenmsg), dump_attr_cb, &dc);
	fputc('\n', dc.f);
	return MNL_CB_OK;
}

/* The kernel's own netlink description of table inet jfe, byte for byte: unlike
 * `nft list`, it shows every attribute and every data length. */
static char *
kernel_table_bytes(void)
{
	static const uint16_t types[] = { NFT_MSG_GETCHAIN, NFT_MSG_GETSET, NFT_MSG_GETSETELEM,
	    NFT_MSG_GETRULE };
	struct mnl_socket *nl = mnl_socket_open(NETLINK_NETFILTER);
	char *out = NULL, *buf = malloc(1 << 17);
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	if (nl == NULL || buf == NULL || f == NULL || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID))
		exit(2);
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		struct nlmsghdr *nlh;
		ssize_t n;
		int ret = MNL_CB_OK;

		nlh = nftnl_nlmsg_build_hdr(buf, types[i], NFPROTO_INET, NLM_F_DUMP, (uint32_t)i + 1);
		/* The table attribute is number 1 in all four requests. */
		mnl_attr_put_strz(nlh, NFTA_CHAIN_TABLE, "jfe");
		if (types[i] == NFT_MSG_GETSETELEM)
			mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, "ports");
		if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
			exit(2);
		while (ret > MNL_CB_STOP && (n = mnl_socket_recvfrom(nl, buf, 1 << 17)) > 0)
			ret = mnl_cb_run(buf, (size_t)n, (uint32_t)i + 1, mnl_socket_get_portid(nl),
			    dump_msg_cb, f);
	}
	fclose(f);
	free(buf);
	mnl_socket_close(nl);
	return out;
}

/* rules_install() and `nft -f` of rules_print()'s output leave identical kernel state. */
static void
check_same_as_nft(const struct rules_config *rc)
{
	char *ours, *nfts, *text;

	UNIT_CHECK(rules_install(rc) == 0);
	ours = kernel_table_bytes();
	text = printed(rc);
	UNIT_CHECK(run_with_input("nft -f -", text) == 0);
	nfts = kernel_table_bytes();
	UNIT_CHECK(count(ours, "msg 6 ") >= 6);        /* rules were dumped */
	UNIT_CHECK_STR(ours, nfts);
	free(ours);
	free(nfts);
	free(text);
}

NETNS_CASE(test_install_same_as_nft)
{
	struct port_set ps;
	struct rules_config rc;

	ports_default(&ps);
	rc = config(&ps, 0);
	check_same_as_nft(&rc);
	UNIT_CHECK(ports_parse(&ps, "1,3,80,443,8000-8080,65535") == 0);
	rc = config(&ps, 1);
	rc.fwmark = 0x80000001u;
	check_same_as_nft(&rc);
	rc.return_conntrack = 1;
	check_same_as_nft(&rc);
}

NETNS_CASE(test_install_twice_replaces)
{
	struct port_set ps;
	struct rules_config rc;
	char *s;

	ports_default(&ps);
	rc = config(&ps, 1);
	UNIT_CHECK(rules_install(&rc) == 0);
	UNIT_CHECK(rules_install(&rc) == 0);
	s = run("nft list tables", NULL);
	UNIT_CHECK_STR(s, "table inet jfe\n");
	free(s);
	s = run("nft list table inet jfe", NULL);
	UNIT_CHECK(count(s, "iif \"lo\" accept") == 1);
	UNIT_CHECK(count(s, "tproxy ip to") == 1);
	UNIT_CHECK(count(s, "reject with tcp reset") == 1);
	UNIT_CHECK(count(s, "fib saddr type local") == 1);
	free(s);
	/* A changed configuration replaces the old one completely. */
	UNIT_CHECK(ports_parse(&ps, "443") == 0);
	rc = config(&ps, 0);
	rc.listen_port = 16000;
	UNIT_CHECK(rules_install(&rc) == 0);
	s = run("nft list table inet jfe", NULL);
	UNIT_CHECK(strstr(s, "elements = { 443 }"));
	UNIT_CHECK(count(s, "127.0.0.1:16000") == 1);
	UNIT_CHECK(strstr(s, "15001") == NULL);
	UNIT_CHECK(strstr(s, "reject") == NULL);
	free(s);
}

static const char foreign_table[] =
    "table inet other {\n"
    "\tset s {\n\t\ttype ipv4_addr\n\t\telements = { 10.1.2.3 }\n\t}\n"
    "\tchain input {\n"
    "\t\ttype filter hook input priority 0; policy accept;\n"
    "\t\ttcp dport 1234 ip saddr @s counter accept\n"
    "\t}\n"
    "\tchain prerouting {\n"
    "\t\ttype filter hook prerouting priority -150; policy accept;\n"
    "\t\tmeta mark 0x006a6665 counter\n"
    "\t}\n"
    "}\n";

NETNS_CASE(test_foreign_table_untouched)
{
	struct port_set ps;
	struct rules_config rc;
	char *before, *after;

	UNIT_CHECK(run_with_input("nft -f -", foreign_table) == 0);
	before = run("nft list ruleset", NULL);
	UNIT_CHECK(strstr(before, "tcp dport 1234"));
	ports_default(&ps);
	rc = config(&ps, 1);
	UNIT_CHECK(rules_install(&rc) == 0);
	after = run("nft list table inet other", NULL);
	UNIT_CHECK_STR(after, before);
	free(after);
	UNIT_CHECK(rules_remove() == 0);
	after = run("nft list ruleset", NULL);
	UNIT_CHECK_STR(after, before);
	free(after);
	free(before);
}

NETNS_CASE(test_remove_and_present)
{
	struct port_set ps;
	struct rules_config rc;
	char *s;

	UNIT_CHECK(rules_present() == 0);
	UNIT_CHECK(rules_remove() == 0);               /* absent is fine */
	ports_default(&ps);
	rc = config(&ps, 0);
	UNIT_CHECK(rules_install(&rc) == 0);
	UNIT_CHECK(rules_present() == 1);
	UNIT_CHECK(rules_remove() == 0);
	UNIT_CHECK(rules_present() == 0);
	s = run("nft list tables", NULL);
	UNIT_CHECK(strstr(s, "jfe") == NULL);
	free(s);
	UNIT_CHECK(rules_remove() == 0);
}

NETNS_CASE(test_fail_closed_rule)
{
	struct port_set ps;
	struct rules_config rc;
	char *s;

	ports_default(&ps);
	rc = config(&ps, 1);
	UNIT_CHECK(rules_install(&rc) == 0);
	s = run("nft list chain inet jfe prerouting", NULL);
	/* nft prints the SYN-only match back in its own syntax. */
	UNIT_CHECK(strstr(s, "\t\tmeta nfproto ipv6 tcp dport @ports tproxy ip6 to [::1]:15001 "
	    "meta mark set 0x006a6665 accept\n"
	    "\t\ttcp dport @ports tcp flags syn / syn,ack reject with tcp reset\n\t}\n"));
	free(s);
}

/* Every other port: the most intervals a port set can have (32768), which needs several
 * element messages and a transaction larger than the default socket buffer. */
NETNS_CASE(test_install_worst_case_ports)
{
	struct port_set ps;
	struct rules_config rc;
	char *s;

	memset(&ps, 0, sizeof(ps));
	for (unsigned p = 1; p <= 65535; p += 2)
		ps.bits[p / 64] |= 1ULL << (p % 64);
	rc = config(&ps, 0);
	rc.listen_port = 2;
	UNIT_CHECK(rules_install(&rc) == 0);
	s = run("nft list set inet jfe ports | tr -d ' \\t\\n'", NULL);
	UNIT_CHECK(strstr(s, "elements={1,3,5,7,"));
	UNIT_CHECK(strstr(s, ",65533,65535}"));
	UNIT_CHECK(count(s, ",") == 32767);
	free(s);
}

NETNS_CASE(test_unprivileged_fails_cleanly)
{
	struct port_set ps;
	struct rules_config rc;

	ports_default(&ps);
	rc = config(&ps, 0);
	/* Leaving uid 0 drops every capability: the kernel refuses, we must say so. */
	if (setresgid(65534, 65534, 65534) != 0 || setresuid(65534, 65534, 65534) != 0) {
		perror("setresuid");
		exit(2);
	}
	UNIT_CHECK(rules_install(&rc) == -1);
	UNIT_CHECK(rules_remove() == -1);
	UNIT_CHECK(rules_present() == -1);
	UNIT_CHECK(route_install(MARK, TABLE) == -1);
	UNIT_CHECK(route_remove(MARK, TABLE) == -1);
}

/* ---------------------------------------------------------------- routes, in a netns */

NETNS_CASE(test_route_install_idempotent)
{
	char *s;

	/* A stale copy at another priority, as a crash or a hand-made rule would leave. */
	UNIT_CHECK(system("ip rule add fwmark 0x6a6665 lookup 6776 pref 30000") == 0);
	UNIT_CHECK(system("ip -6 rule add fwmark 0x6a6665 lookup 6776") == 0);
	UNIT_CHECK(route_install(MARK, TABLE) == 0);
	UNIT_CHECK(route_install(MARK, TABLE) == 0);
	s = run("ip rule", NULL);
	UNIT_CHECK(count(s, "fwmark 0x6a6665 lookup 6776") == 1);
	UNIT_CHECK(strstr(s, "1776:\tfrom all fwmark 0x6a6665 lookup 6776"));
	free(s);
	s = run("ip -6 rule", NULL);
	UNIT_CHECK(count(s, "fwmark 0x6a6665 lookup 6776") == 1);
	UNIT_CHECK(strstr(s, "1776:\tfrom all fwmark 0x6a6665 lookup 6776"));
	free(s);
	s = run("ip route show table 6776", NULL);
	UNIT_CHECK_STR(s, "local default dev lo scope host \n");
	free(s);
	s = run("ip -6 route show table 6776", NULL);
	UNIT_CHECK(count(s, "local default dev lo") == 1);
	UNIT_CHECK(count(s, "\n") == 1);
	free(s);
}

NETNS_CASE(test_route_remove)
{
	char *s;

	/* Someone else's policy routing, which must survive. */
	UNIT_CHECK(system("ip rule add fwmark 0x1 lookup 100 && "
	    "ip route add local 0.0.0.0/0 dev lo table 100 && "
	    "ip -6 rule add fwmark 0x6a6665 lookup 101") == 0);
	UNIT_CHECK(route_install(MARK, TABLE) == 0);
	UNIT_CHECK(route_remove(MARK, TABLE) == 0);
	s = run("ip rule; ip -6 rule", NULL);
	UNIT_CHECK(strstr(s, "lookup 6776") == NULL);
	UNIT_CHECK(strstr(s, "fwmark 0x1 lookup 100"));
	UNIT_CHECK(strstr(s, "fwmark 0x6a6665 lookup 101"));
	free(s);
	s = run("ip route show table 6776; ip -6 route show table 6776", NULL);
	UNIT_CHECK_STR(s, "");
	free(s);
	s = run("ip route show table 100", NULL);
	UNIT_CHECK(strstr(s, "local default dev lo"));
	free(s);
	UNIT_CHECK(route_remove(MARK, TABLE) == 0);   /* absent is fine */
}

int
main(void)
{
	log_init("test_rules", 0);
	if (geteuid() != 0)
		fprintf(stderr, "test_rules: the kernel cases need root (network namespaces)\n");
	UNIT_RUN(test_print_default_ports);
	UNIT_RUN(test_print_conntrack_return_path);
	UNIT_RUN(test_print_gappy_ports);
	UNIT_RUN(test_print_empty_set);
	UNIT_RUN(test_bad_config_refused);
	UNIT_RUN(test_print_passes_nft_check);
	UNIT_RUN(test_install_lists_expected);
	UNIT_RUN(test_install_same_as_nft);
	UNIT_RUN(test_install_twice_replaces);
	UNIT_RUN(test_foreign_table_untouched);
	UNIT_RUN(test_remove_and_present);
	UNIT_RUN(test_fail_closed_rule);
	UNIT_RUN(test_install_worst_case_ports);
	UNIT_RUN(test_unprivileged_fails_cleanly);
	UNIT_RUN(test_route_install_idempotent);
	UNIT_RUN(test_route_remove);
	return unit_summary();
}
