/* The nftables table inet jfe, built with libnftnl and sent as one nf_tables transaction.
 *
 * The expression encodings are those nft 1.0.6 produces for the verified ruleset (compare
 * `nft --debug=netlink -f`): tests/unit/test_rules.c checks that the kernel holds the same
 * bytecode after rules_install() as after `nft -f` of rules_print()'s output. */
#include "proxy/rules.h"

#include <netinet/in.h>
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>

#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_conntrack_tuple_common.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include <libmnl/libmnl.h>
#include <libnftnl/batch.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>

#include "agent/log.h"

#define TABLE_NAME		"jfe"
#define SET_NAME		"ports"
/* Lets the lookups find the set created earlier in the same transaction. */
#define SET_ID			1
#define PRIO_MANGLE		(-150)	/* NF_IP_PRI_MANGLE, nft's "priority mangle" */
/* nft's own type and byte-order codes: stored in the set so that `nft list` shows ports. */
#define NFT_TYPE_INET_SERVICE	13
#define NFT_BYTEORDER_BIG	2
#define PORT_MAX		65535u
#define TCP_DPORT_OFFSET	2
#define TCP_FLAGS_OFFSET	13
#define TCP_FLAG_SYN		0x02
#define TCP_FLAG_ACK		0x10

/* An element list must fit one 16-bit netlink attribute; 1024 intervals of at most two
 * elements of about 24 bytes each stay well below 64 KiB. */
#define INTERVALS_PER_MSG	1024
/* 65536 ports make at most 32768 intervals: 32 element messages plus about 15 others. */
#define BATCH_MSGS_MAX		64
#define BATCH_PAGE_SIZE		(256 * 1024)
#define NFT_MSG_SIZE_MAX	(UINT16_MAX + 4096)
#define ACK_WAIT_MS		2000

/* One message of the transaction and what it was for, to name it when the kernel refuses. */
struct batch_msg {
	uint32_t seq;
	char what[200];
};

struct batch {
	struct nftnl_batch *nb;
	uint32_t seq;                   /* sequence number of the next message */
	size_t n;                       /* messages so far, begin and end included */
	size_t n_acked;                 /* messages that asked for an acknowledgement */
	int failed;                     /* a message could not be built */
	struct batch_msg msgs[BATCH_MSGS_MAX];
};

struct rule_builder {
	struct nftnl_rule *r;
	uint32_t lo_ifindex;
	int failed;                     /* out of memory: the rule is incomplete */
};

/* One rule: its chain, its nft text ($M: the mark, $P: the listener port), why it is
 * there (printed by rules_print) and the function that builds the same expressions. */
enum rule_when {
	RULE_ALWAYS,
	RULE_FAIL_CLOSED,               /* only with --fail-closed */
	RULE_CONNTRACK,                 /* only with --return-path conntrack */
	RULE_SOCKET_MARK,               /* only with --return-path socket-mark */
};

struct rule_def {
	const char *chain;
	enum rule_when when;
	const char *why;
	const char *text;
	void (*build)(struct rule_builder *rb, const struct rules_config *rc);
};

/* ---------------------------------------------------------------- expressions */

static struct nftnl_expr *
expr_add(struct rule_builder *rb, const char *name)
{
	struct nftnl_expr *e;

	e = nftnl_expr_alloc(name);
	if (e == NULL) {
		rb->failed = 1;
		return NULL;
	}
	/* The rule owns the expression from here on, also on later failures. */
	nftnl_rule_add_expr(rb->r, e);
	return e;
}

static void
load_meta(struct rule_builder *rb, uint32_t key)
{
	struct nftnl_expr *e = expr_add(rb, "meta");

	if (e == NULL)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, NFT_REG_1);
}

static void
load_socket(struct rule_builder *rb, uint32_t key)
{
	struct nftnl_expr *e = expr_add(rb, "socket");

	if (e == NULL)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_SOCKET_KEY, key);
	nftnl_expr_set_u32(e, NFTNL_EXPR_SOCKET_DREG, NFT_REG_1);
}

static void
load_ct(struct rule_builder *rb, uint32_t key)
{
	struct nftnl_expr *e = expr_add(rb, "ct");

	if (e == NULL)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, key);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_DREG, NFT_REG_1);
}

static void
load_transport(struct rule_builder *rb, uint32_t offset, uint32_t len)
{
	struct nftnl_expr *e = expr_add(rb, "payload");

	if (e == NULL)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, NFT_PAYLOAD_TRANSPORT_HEADER);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, offset);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, len);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, NFT_REG_1);
}

/* Compares register 1 with <len> bytes of <data>; the rule stops here unless it matches. */
static void
cmp_reg1(struct rule_builder *rb, uint32_t op, const void *data, uint32_t len)
{
	struct nftnl_expr *e = expr_add(rb, "cmp");

	if (e == NULL)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, op);
	nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, data, len);
}

static void
cmp_eq_u8(struct rule_builder *rb, uint8_t v)
{
	cmp_reg1(rb, NFT_CMP_EQ, &v, sizeof(v));
}

static void
cmp_eq_u32(struct rule_builder *rb, uint32_t v)
{
	cmp_reg1(rb, NFT_CMP_EQ, &v, sizeof(v));
}

/* reg1 = reg1 & mask (nft encodes "& mask" as a bitwise with a zero xor). */
static void
mask_reg1(struct rule_builder *rb, uint32_t mask, uint32_t len)
{
	struct nftnl_expr *e = expr_add(rb, "bitwise");
	uint32_t zero = 0;

	if (e == NULL)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, len);
	nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, &mask, len);
	nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, &zero, len);
}

static void
load_immediate(struct rule_builder *rb, uint32_t reg, const void *data, uint32_t len)
{
	struct nftnl_expr *e = expr_add(rb, "immediate");

	if (e == NULL)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, reg);
	nftnl_expr_set(e, NFTNL_EXPR_IMM_DATA, data, len);
}

static void
verdict(struct rule_builder *rb, uint32_t code)
{
	struct nftnl_expr *e = expr_add(rb, "immediate");

	if (e == NULL)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, code);
}

/* "meta mark set M": the packet mark that selects jfe's routing table. */
static void
set_meta_mark(struct rule_builder *rb, uint32_t mark)
{
	struct nftnl_expr *e;

	load_immediate(rb, NFT_REG_1, &mark, sizeof(mark));
	e = expr_add(rb, "meta");
	if (e == NULL)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, NFT_META_MARK);
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_SREG, NFT_REG_1);
}

static void
set_ct_mark(struct rule_builder *rb, uint32_t mark)
{
	struct nftnl_expr *e;

	load_immediate(rb, NFT_REG_1, &mark, sizeof(mark));
	e = expr_add(rb, "ct");
	if (e == NULL)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, NFT_CT_MARK);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_SREG, NFT_REG_1);
}

/* "fib saddr type local": the source address is one of this host's. */
static void
match_saddr_local(struct rule_builder *rb)
{
	struct nftnl_expr *e = expr_add(rb, "fib");

	if (e == NULL)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_FLAGS, NFTA_FIB_F_SADDR);
	nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_RESULT, NFT_FIB_RESULT_ADDRTYPE);
	nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_DREG, NFT_REG_1);
	cmp_eq_u32(rb, RTN_LOCAL);
}

static void
match_tcp(struct rule_builder *rb)
{
	load_meta(rb, NFT_META_L4PROTO);
	cmp_eq_u8(rb, IPPROTO_TCP);
}

static void
match_socket_transparent(struct rule_builder *rb)
{
	load_socket(rb, NFT_SOCKET_TRANSPARENT);
	cmp_eq_u8(rb, 1);
}

/* "tcp dport @ports"; the l4proto test is the dependency nft adds in an inet table, without
 * which UDP ports would match too. */
static void
match_tcp_dport_in_ports(struct rule_builder *rb)
{
	struct nftnl_expr *e;

	match_tcp(rb);
	load_transport(rb, TCP_DPORT_OFFSET, 2);
	e = expr_add(rb, "lookup");
	if (e == NULL)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, NFT_REG_1);
	if (nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, SET_NAME) < 0)
		rb->failed = 1;
	nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SET_ID, SET_ID);
}

/* "tproxy ip to ADDR:PORT": hands the packet to the transparent listener without
 * rewriting it, so the accepted socket's getsockname() is the original destination. */
static void
tproxy_to(struct rule_builder *rb, uint32_t nfproto, const void *addr, uint32_t addrlen,
    unsigned port)
{
	struct nftnl_expr *e;
	uint16_t nport = htons((uint16_t)port);

	load_immediate(rb, NFT_REG_1, addr, addrlen);
	load_immediate(rb, NFT_REG_2, &nport, sizeof(nport));
	e = expr_add(rb, "tproxy");
	if (e == NULL)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_TPROXY_FAMILY, nfproto);
	nftnl_expr_set_u32(e, NFTNL_EXPR_TPROXY_REG_ADDR, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_TPROXY_REG_PORT, NFT_REG_2);
}

static void
reject_tcp_reset(struct rule_builder *rb)
{
	struct nftnl_expr *e = expr_add(rb, "reject");

	if (e == NULL)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_REJECT_TYPE, NFT_REJECT_TCP_RST);
	nftnl_expr_set_u8(e, NFTNL_EXPR_REJECT_CODE, 0);
}

/* ---------------------------------------------------------------- the rules */

static void
build_loopback_accept(struct rule_builder *rb, const struct rules_config *rc)
{
	(void)rc;
	load_meta(rb, NFT_META_IIF);
	cmp_eq_u32(rb, rb->lo_ifindex);
	verdict(rb, NF_ACCEPT);
}

static void
build_owned_accept(struct rule_builder *rb, const struct rules_config *rc)
{
	uint8_t syn = TCP_FLAG_SYN;

	match_tcp(rb);
	/* Not a new connection's SYN: one that reuses the port of a connection jfe closed
	 * would match jfe's TIME-WAIT socket, skip tproxy and reach the service directly. */
	load_transport(rb, TCP_FLAGS_OFFSET, 1);
	mask_reg1(rb, TCP_FLAG_SYN | TCP_FLAG_ACK, 1);
	cmp_reg1(rb, NFT_CMP_NEQ, &syn, sizeof(syn));
	match_socket_transparent(rb);
	set_meta_mark(rb, rc->fwmark);
	verdict(rb, NF_ACCEPT);
}

static void
build_tproxy_ipv4(struct rule_builder *rb, const struct rules_config *rc)
{
	struct in_addr lo = { .s_addr = htonl(INADDR_LOOPBACK) };

	load_meta(rb, NFT_META_NFPROTO);
	cmp_eq_u8(rb, NFPROTO_IPV4);
	match_tcp_dport_in_ports(rb);
	tproxy_to(rb, NFPROTO_IPV4, &lo, sizeof(lo), rc->listen_port);
	set_meta_mark(rb, rc->fwmark);
	verdict(rb, NF_ACCEPT);
}

static void
build_tproxy_ipv6(struct rule_builder *rb, const struct rules_config *rc)
{
	load_meta(rb, NFT_META_NFPROTO);
	cmp_eq_u8(rb, NFPROTO_IPV6);
	match_tcp_dport_in_ports(rb);
	tproxy_to(rb, NFPROTO_IPV6, &in6addr_loopback, sizeof(in6addr_loopback),
	    rc->listen_port);
	set_meta_mark(rb, rc->fwmark);
	verdict(rb, NF_ACCEPT);
}

static void
build_reject_syn(struct rule_builder *rb, const struct rules_config *rc)
{
	(void)rc;
	match_tcp_dport_in_ports(rb);
	load_transport(rb, TCP_FLAGS_OFFSET, 1);
	mask_reg1(rb, TCP_FLAG_SYN | TCP_FLAG_ACK, 1);
	cmp_eq_u8(rb, TCP_FLAG_SYN);
	reject_tcp_reset(rb);
}

static void
build_mark_spoofed_conn(struct rule_builder *rb, const struct rules_config *rc)
{
	uint32_t zero = 0;

	match_tcp(rb);
	load_ct(rb, NFT_CT_STATE);
	mask_reg1(rb, NF_CT_STATE_BIT(IP_CT_NEW), sizeof(uint32_t));
	cmp_reg1(rb, NFT_CMP_NEQ, &zero, sizeof(zero));
	match_socket_transparent(rb);
	set_ct_mark(rb, rc->fwmark);
}

static void
build_reroute_replies(struct rule_builder *rb, const struct rules_config *rc)
{
	load_ct(rb, NFT_CT_DIRECTION);
	cmp_eq_u8(rb, IP_CT_DIR_REPLY);
	load_ct(rb, NFT_CT_MARK);
	cmp_eq_u32(rb, rc->fwmark);
	set_meta_mark(rb, rc->fwmark);
}

/* socket-mark return path: jfe's upstream SYN carries the upstream mark; the service's
 * socket inherits it (tcp_fwmark_accept) and so do the kernel's resets (fwmark_reflect).
 * Such a packet from one of this host's addresses is a service answering jfe: the table's
 * mark routes it back. jfe's own upstream packets (a client's address as source) keep
 * the upstream mark, which no rule routes: they go where the destination is, local or
 * not (a container behind a bridge). */
static void
build_reroute_service_replies(struct rule_builder *rb, const struct rules_config *rc)
{
	load_meta(rb, NFT_META_MARK);
	cmp_eq_u32(rb, rc->upstream_mark);
	match_saddr_local(rb);
	set_meta_mark(rb, rc->fwmark);
}

/* The mark on a packet delivered to jfe's listener or sockets only chose the route. Left
 * on, the accepted socket would inherit it (tcp_fwmark_accept) and send its replies to the
 * client back into the table's local route. */
static void
build_unmark_delivered(struct rule_builder *rb, const struct rules_config *rc)
{
	uint32_t zero = 0;

	load_meta(rb, NFT_META_IIF);
	cmp_reg1(rb, NFT_CMP_NEQ, &rb->lo_ifindex, sizeof(rb->lo_ifindex));
	load_meta(rb, NFT_META_MARK);
	cmp_eq_u32(rb, rc->fwmark);
	set_meta_mark(rb, zero);
}

static const struct rule_def rule_defs[] = {
	{ "prerouting", RULE_ALWAYS,
	  "loopback: the proxy->backend hop and replies looped back to us; never intercept",
	  "iif \"lo\" accept",
	  build_loopback_accept },
	{ "prerouting", RULE_ALWAYS,
	  "packets of connections the proxy owns (accepted sockets inherit IP_TRANSPARENT)",
	  "meta l4proto tcp tcp flags & (syn | ack) != syn socket transparent 1 "
	  "meta mark set $M accept",
	  build_owned_accept },
	{ "prerouting", RULE_ALWAYS,
	  "new inbound TCP -> the transparent listener; falls through when it is not there",
	  "meta nfproto ipv4 tcp dport @ports tproxy ip to 127.0.0.1:$P meta mark set $M accept",
	  build_tproxy_ipv4 },
	{ "prerouting", RULE_ALWAYS,
	  NULL,
	  "meta nfproto ipv6 tcp dport @ports tproxy ip6 to [::1]:$P meta mark set $M accept",
	  build_tproxy_ipv6 },
	{ "prerouting", RULE_FAIL_CLOSED,
	  "fail closed: a new connection's SYN that no listener took gets a reset; SYN only,\n"
	  "\t\t# or the replies to this host's own outbound connections die too",
	  "tcp dport @ports tcp flags & (syn | ack) == syn reject with tcp reset",
	  build_reject_syn },
	{ "output", RULE_CONNTRACK,
	  "first packet of a connection opened by a transparent socket (the proxy's upstream\n"
	  "\t\t# with the client's address as source)",
	  "meta l4proto tcp ct state new socket transparent 1 ct mark set $M",
	  build_mark_spoofed_conn },
	{ "output", RULE_CONNTRACK,
	  "a local service answering that spoofed peer: mark -> jfe's table (local default\n"
	  "\t\t# dev lo) -> back to the proxy instead of out to the real client",
	  "ct direction reply ct mark $M meta mark set $M",
	  build_reroute_replies },
	{ "input", RULE_SOCKET_MARK,
	  "a packet for jfe's sockets carried the mark only to be routed to them; cleared, so\n"
	  "\t\t# that the accepted socket does not inherit it (net.ipv4.tcp_fwmark_accept)",
	  "iif != \"lo\" meta mark $M meta mark set 0x00000000",
	  build_unmark_delivered },
	{ "output", RULE_SOCKET_MARK,
	  "a local service answering jfe's upstream connection (its socket inherited the\n"
	  "\t\t# upstream mark from jfe's SYN): -> jfe's table -> back to jfe",
	  "meta mark $U fib saddr type local meta mark set $M",
	  build_reroute_service_replies },
};

#define RULE_COUNT (sizeof(rule_defs) / sizeof(rule_defs[0]))

/* Writes <tmpl> into <out> with $M replaced by the mark, $U by the upstream mark and $P by
 * the listener port. */
static void
rule_text(char *out, size_t outsz, const char *tmpl, const struct rules_config *rc)
{
	size_t o = 0;
	int n;

	for (const char *p = tmpl; *p && o + 1 < outsz; p++) {
		if (p[0] == '$' && p[1] == 'M')
			n = snprintf(out + o, outsz - o, "0x%08x", (unsigned)rc->fwmark);
		else if (p[0] == '$' && p[1] == 'U')
			n = snprintf(out + o, outsz - o, "0x%08x", (unsigned)rc->upstream_mark);
		else if (p[0] == '$' && p[1] == 'P')
			n = snprintf(out + o, outsz - o, "%u", rc->listen_port);
		else {
			out[o++] = *p;
			continue;
		}
		p++;
		o += (n > 0 && (size_t)n < outsz - o) ? (size_t)n : outsz - o - 1;
	}
	out[o] = '\0';
}

static int
rule_wanted(const struct rule_def *d, const struct rules_config *rc)
{
	switch (d->when) {
	case RULE_FAIL_CLOSED:
		return rc->fail_closed;
	case RULE_CONNTRACK:
		return rc->return_conntrack;
	case RULE_SOCKET_MARK:
		return !rc->return_conntrack;
	default:
		return 1;
	}
}

/* ---------------------------------------------------------------- port ranges */

/* Finds the next run of set ports at or after *pos: [*lo, *hi]. 1 found, 0 none left. */
static int
next_port_range(const struct port_set *ps, unsigned *pos, unsigned *lo, unsigned *hi)
{
	unsigned p = *pos;

	while (p <= PORT_MAX && !port_set_has(ps, p)) {
		if (p % 64 == 0 && ps->bits[p / 64] == 0)
			p += 64;
		else
			p++;
	}
	if (p > PORT_MAX)
		return 0;
	*lo = p;
	while (p + 1 <= PORT_MAX && port_set_has(ps, p + 1))
		p++;
	*hi = p;
	*pos = p + 1;
	return 1;
}

static int
config_check(const struct rules_config *rc)
{
	if (rc == NULL || rc->ports == NULL) {
		log_err("nftables: no port set given");
		return -1;
	}
	if (rc->listen_port < 1 || rc->listen_port > PORT_MAX) {
		log_err("nftables: listener port %u out of range", rc->listen_port);
		return -1;
	}
	/* Mark 0 is every unmarked packet: the ip rule would send all traffic to lo. */
	if (rc->fwmark == 0) {
		log_err("nftables: fwmark 0 is not usable (it is the mark of unmarked packets)");
		return -1;
	}
	if (!rc->return_conntrack && (rc->upstream_mark == 0 || rc->upstream_mark == rc->fwmark)) {
		log_err("nftables: upstream mark 0x%x must be neither 0 nor the fwmark",
		    (unsigned)rc->upstream_mark);
		return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------- the transaction */

static void
batch_free(struct batch *bt)
{
	if (bt == NULL)
		return;
	if (bt->nb)
		nftnl_batch_free(bt->nb);
	free(bt);
}

/* Records the purpose of the message about to be built and returns its sequence number. */
static uint32_t
batch_note(struct batch *bt, int acked, const char *what)
{
	struct batch_msg *m;

	if (bt->n == BATCH_MSGS_MAX) {
		/* Only a change to this file can get here; the limit is computed above. */
		bt->failed = 1;
		return bt->seq;
	}
	m = &bt->msgs[bt->n++];
	m->seq = bt->seq;
	snprintf(m->what, sizeof(m->what), "%s", what);
	if (acked)
		bt->n_acked++;
	return bt->seq++;
}

/* Closes the message just written into the batch buffer. */
static void
batch_next(struct batch *bt)
{
	if (nftnl_batch_update(bt->nb) < 0)
		bt->failed = 1;
}

static struct nlmsghdr *
batch_msg_start(struct batch *bt, uint16_t type, uint16_t flags, const char *what)
{
	uint32_t seq = batch_note(bt, 1, what);

	return nftnl_nlmsg_build_hdr(nftnl_batch_buffer(bt->nb), type, NFPROTO_INET,
	    flags | NLM_F_ACK, seq);
}

static struct batch *
batch_new(void)
{
	struct batch *bt;

	bt = calloc(1, sizeof(*bt));
	if (bt == NULL)
		goto fail;
	bt->seq = (uint32_t)time(NULL);
	bt->nb = nftnl_batch_alloc(BATCH_PAGE_SIZE, NFT_MSG_SIZE_MAX);
	if (bt->nb == NULL)
		goto fail;
	nftnl_batch_begin(nftnl_batch_buffer(bt->nb),
	    batch_note(bt, 0, "start the nf_tables transaction"));
	batch_next(bt);
	return bt;
fail:
	log_err("nftables: out of memory");
	batch_free(bt);
	return NULL;
}

static void
batch_finish(struct batch *bt)
{
	nftnl_batch_end(nftnl_batch_buffer(bt->nb),
	    batch_note(bt, 0, "commit the nf_tables transaction"));
	batch_next(bt);
}

static const struct batch_msg *
batch_msg_by_seq(const struct batch *bt, uint32_t seq)
{
	for (size_t i = 0; i < bt->n; i++)
		if (bt->msgs[i].seq == seq)
			return &bt->msgs[i];
	return NULL;
}

static void
add_table_msg(struct batch *bt, uint16_t type, uint16_t flags, const char *what)
{
	struct nftnl_table *t;
	struct nlmsghdr *nlh;

	t = nftnl_table_alloc();
	if (t == NULL) {
		bt->failed = 1;
		return;
	}
	nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, NFPROTO_INET);
	if (nftnl_table_set_str(t, NFTNL_TABLE_NAME, TABLE_NAME) < 0)
		bt->failed = 1;
	if (type == NFT_MSG_NEWTABLE)
		nftnl_table_set_u32(t, NFTNL_TABLE_FLAGS, 0);
	nlh = batch_msg_start(bt, type, flags, what);
	nftnl_table_nlmsg_build_payload(nlh, t);
	nftnl_table_free(t);
	batch_next(bt);
}

/* "table inet jfe" then "delete table inet jfe": the delete cannot fail on a missing
 * table, and nothing but our own table is named. */
static void
add_table_delete(struct batch *bt)
{
	add_table_msg(bt, NFT_MSG_NEWTABLE, NLM_F_CREATE, "make sure table inet jfe exists");
	add_table_msg(bt, NFT_MSG_DELTABLE, 0, "delete table inet jfe");
}

static void
add_chain(struct batch *bt, const char *name, const char *type, uint32_t hooknum)
{
	struct nftnl_chain *c;
	struct nlmsghdr *nlh;
	char what[96];

	c = nftnl_chain_alloc();
	if (c == NULL) {
		bt->failed = 1;
		return;
	}
	nftnl_chain_set_u32(c, NFTNL_CHAIN_FAMILY, NFPROTO_INET);
	if (nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, TABLE_NAME) < 0 ||
	    nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, name) < 0 ||
	    nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, type) < 0)
		bt->failed = 1;
	nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, hooknum);
	nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, PRIO_MANGLE);
	nftnl_chain_set_u32(c, NFTNL_CHAIN_POLICY, NF_ACCEPT);
	snprintf(what, sizeof(what), "create chain %s (type %s, priority mangle)", name, type);
	nlh = batch_msg_start(bt, NFT_MSG_NEWCHAIN, NLM_F_CREATE, what);
	nftnl_chain_nlmsg_build_payload(nlh, c);
	nftnl_chain_free(c);
	batch_next(bt);
}

/* The set object without elements; also names the set in element messages. */
static struct nftnl_set *
ports_set_alloc(void)
{
	struct nftnl_set *s;

	s = nftnl_set_alloc();
	if (s == NULL)
		return NULL;
	nftnl_set_set_u32(s, NFTNL_SET_FAMILY, NFPROTO_INET);
	nftnl_set_set_u32(s, NFTNL_SET_ID, SET_ID);
	if (nftnl_set_set_str(s, NFTNL_SET_TABLE, TABLE_NAME) < 0 ||
	    nftnl_set_set_str(s, NFTNL_SET_NAME, SET_NAME) < 0) {
		nftnl_set_free(s);
		return NULL;
	}
	return s;
}

static void
add_ports_set(struct batch *bt)
{
	struct nftnl_udata_buf *ud = NULL;
	struct nftnl_set *s;
	struct nlmsghdr *nlh;

	s = ports_set_alloc();
	ud = nftnl_udata_buf_alloc(64);
	if (s == NULL || ud == NULL ||
	    !nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_KEYBYTEORDER, NFT_BYTEORDER_BIG))
		goto fail;
	nftnl_set_set_u32(s, NFTNL_SET_FLAGS, NFT_SET_INTERVAL);
	nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, NFT_TYPE_INET_SERVICE);
	nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, sizeof(uint16_t));
	if (nftnl_set_set_data(s, NFTNL_SET_USERDATA, nftnl_udata_buf_data(ud),
	    nftnl_udata_buf_len(ud)) < 0)
		goto fail;
	nlh = batch_msg_start(bt, NFT_MSG_NEWSET, NLM_F_CREATE,
	    "create set ports (type inet_service, flags interval)");
	nftnl_set_nlmsg_build_payload(nlh, s);
	batch_next(bt);
	nftnl_udata_buf_free(ud);
	nftnl_set_free(s);
	return;
fail:
	bt->failed = 1;
	nftnl_udata_buf_free(ud);
	if (s != NULL)                  /* nftnl_set_free(NULL) crashes */
		nftnl_set_free(s);
}

/* One interval-set element: a port where a range starts, or (end) the first port after it. */
static int
ports_elem_add(struct nftnl_set *s, unsigned port, int end, int open)
{
	struct nftnl_udata_buf *ud = NULL;
	struct nftnl_set_elem *e;
	uint16_t key = htons((uint16_t)port);

	e = nftnl_set_elem_alloc();
	if (e == NULL)
		return -1;
	nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, &key, sizeof(key));
	if (end)
		nftnl_set_elem_set_u32(e, NFTNL_SET_ELEM_FLAGS, NFT_SET_ELEM_INTERVAL_END);
	if (open) {
		/* A range up to 65535 has no end element; nft marks its start so that
		 * `nft list` prints "N-65535" rather than a bare start. */
		ud = nftnl_udata_buf_alloc(16);
		if (ud == NULL ||
		    !nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_ELEM_FLAGS,
		    NFTNL_SET_ELEM_F_INTERVAL_OPEN) ||
		    nftnl_set_elem_set(e, NFTNL_SET_ELEM_USERDATA, nftnl_udata_buf_data(ud),
		    nftnl_udata_buf_len(ud)) < 0) {
			nftnl_udata_buf_free(ud);
			nftnl_set_elem_free(e);
			return -1;
		}
		nftnl_udata_buf_free(ud);
	}
	nftnl_set_elem_add(s, e);
	return 0;
}

static void
flush_ports_elems(struct batch *bt, struct nftnl_set *s, unsigned first, unsigned last,
    unsigned nranges)
{
	struct nlmsghdr *nlh;
	char what[96];

	snprintf(what, sizeof(what), "add %u port range%s %u..%u to set ports", nranges,
	    nranges == 1 ? "" : "s", first, last);
	nlh = batch_msg_start(bt, NFT_MSG_NEWSETELEM, NLM_F_CREATE, what);
	nftnl_set_elems_nlmsg_build_payload(nlh, s);
	batch_next(bt);
}

/* The ports as interval elements, encoded as nft does: [lo, hi + 1) with the end flagged,
 * and a leading end element at 0 when the first range does not start there. */
static void
add_ports_elems(struct batch *bt, const struct port_set *ps)
{
	struct nftnl_set *s = NULL;
	unsigned pos = 0, lo, hi, first = 0, n = 0;
	int leading = 1;

	while (next_port_range(ps, &pos, &lo, &hi)) {
		if (s == NULL) {
			s = ports_set_alloc();
			if (s == NULL)
				goto fail;
			first = lo;
		}
		if (leading && lo > 0 && ports_elem_add(s, 0, 1, 0) < 0)
			goto fail;
		leading = 0;
		if (ports_elem_add(s, lo, 0, hi == PORT_MAX) < 0)
			goto fail;
		if (hi < PORT_MAX && ports_elem_add(s, hi + 1, 1, 0) < 0)
			goto fail;
		if (++n == INTERVALS_PER_MSG) {
			flush_ports_elems(bt, s, first, hi, n);
			nftnl_set_free(s);
			s = NULL;
			n = 0;
		}
	}
	if (s != NULL) {
		flush_ports_elems(bt, s, first, hi, n);
		nftnl_set_free(s);
	}
	return;
fail:
	bt->failed = 1;
	if (s != NULL)
		nftnl_set_free(s);
}

static void
add_rule(struct batch *bt, const struct rule_def *d, const struct rules_config *rc,
    uint32_t lo_ifindex)
{
	struct rule_builder rb = { .lo_ifindex = lo_ifindex };
	struct nlmsghdr *nlh;
	char text[160], what[200];

	rb.r = nftnl_rule_alloc();
	if (rb.r == NULL) {
		bt->failed = 1;
		return;
	}
	nftnl_rule_set_u32(rb.r, NFTNL_RULE_FAMILY, NFPROTO_INET);
	if (nftnl_rule_set_str(rb.r, NFTNL_RULE_TABLE, TABLE_NAME) < 0 ||
	    nftnl_rule_set_str(rb.r, NFTNL_RULE_CHAIN, d->chain) < 0)
		rb.failed = 1;
	d->build(&rb, rc);
	if (rb.failed) {
		bt->failed = 1;
		goto done;
	}
	rule_text(text, sizeof(text), d->text, rc);
	snprintf(what, sizeof(what), "add rule to chain %s: %s", d->chain, text);
	nlh = batch_msg_start(bt, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND, what);
	nftnl_rule_nlmsg_build_payload(nlh, rb.r);
	batch_next(bt);
done:
	nftnl_rule_free(rb.r);
}

/* ---------------------------------------------------------------- talking to the kernel */

static int
extack_attr_cb(const struct nlattr *attr, void *data)
{
	const struct nlattr **tb = data;

	if (mnl_attr_type_valid(attr, NLMSGERR_ATTR_MAX) < 0)
		return MNL_CB_OK;
	tb[mnl_attr_get_type(attr)] = attr;
	return MNL_CB_OK;
}

/* The kernel's explanation attached to an error (NETLINK_EXT_ACK), or NULL. */
static const char *
extack_msg(const struct nlmsghdr *nlh)
{
	const struct nlattr *tb[NLMSGERR_ATTR_MAX + 1] = { 0 };
	const struct nlmsgerr *err = mnl_nlmsg_get_payload(nlh);
	size_t off = sizeof(*err);

	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
		return NULL;
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
		off += mnl_nlmsg_get_payload_len(&err->msg);
	if (mnl_attr_parse(nlh, (unsigned)off, extack_attr_cb, tb) != MNL_CB_OK)
		return NULL;
	if (tb[NLMSGERR_ATTR_MSG] == NULL ||
	    mnl_attr_validate(tb[NLMSGERR_ATTR_MSG], MNL_TYPE_NUL_STRING) < 0)
		return NULL;
	return mnl_attr_get_str(tb[NLMSGERR_ATTR_MSG]);
}

static const char *
errno_hint(int err)
{
	switch (err) {
	case EPERM:
		return " (needs CAP_NET_ADMIN)";
	case EOPNOTSUPP:
	case ENOENT:
		return " (kernel without nf_tables tproxy/socket/ct/reject support?)";
	default:
		return "";
	}
}

static struct mnl_socket *
nft_socket_open(void)
{
	struct mnl_socket *nl;
	int one = 1;

	nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (nl == NULL) {
		log_err("nftables: netlink socket: %s", strerror(errno));
		return NULL;
	}
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		log_err("nftables: netlink bind: %s", strerror(errno));
		mnl_socket_close(nl);
		return NULL;
	}
	/* Best effort: acks without a copy of our message, errors with the kernel's text. */
	mnl_socket_setsockopt(nl, NETLINK_CAP_ACK, &one, sizeof(one));
	mnl_socket_setsockopt(nl, NETLINK_EXT_ACK, &one, sizeof(one));
	return nl;
}

/* Receives one datagram, waiting up to <ms>. Bytes, 0 on timeout, -1 on error. */
static ssize_t
nft_recv(struct mnl_socket *nl, void *buf, size_t len, int ms)
{
	struct pollfd pfd = { .fd = mnl_socket_get_fd(nl), .events = POLLIN };
	ssize_t n;

	for (;;) {
		n = mnl_socket_recvfrom(nl, buf, len);
		if (n >= 0)
			return n;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -1;
		n = poll(&pfd, 1, ms);
		if (n == 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return -1;
		/* Woken without a datagram (should not happen): wait less each time, so the
		 * total stays below 2 * ms. */
		ms /= 2;
	}
}

/* The whole batch must go in one datagram: that is what makes it one transaction. */
static int
batch_send(struct batch *bt, struct mnl_socket *nl)
{
	struct sockaddr_nl snl = { .nl_family = AF_NETLINK };
	struct iovec *iov = NULL;
	struct msghdr msg = { 0 };
	size_t total = 0;
	int iovlen, sz, fd = mnl_socket_get_fd(nl);
	socklen_t szlen = sizeof(sz);
	ssize_t n;

	iovlen = nftnl_batch_iovec_len(bt->nb);
	iov = calloc((size_t)iovlen, sizeof(*iov));
	if (iov == NULL) {
		log_err("nftables: out of memory");
		return -1;
	}
	nftnl_batch_iovec(bt->nb, iov, (uint32_t)iovlen);
	for (int i = 0; i < iovlen; i++)
		total += iov[i].iov_len;
	/* A datagram larger than the send buffer is refused (EMSGSIZE); a long port list
	 * can exceed the default. */
	if (getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, &szlen) == 0 && (size_t)sz < total * 2) {
		sz = (int)(total * 2);
		if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz)) < 0)
			setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	}
	msg.msg_name = &snl;
	msg.msg_namelen = sizeof(snl);
	msg.msg_iov = iov;
	msg.msg_iovlen = (size_t)iovlen;
	n = sendmsg(fd, &msg, 0);
	free(iov);
	iov = NULL;
	if (n < 0 || (size_t)n != total) {
		log_err("nftables: sending the transaction (%zu bytes): %s", total,
		    n < 0 ? strerror(errno) : "short write");
		return -1;
	}
	return 0;
}

struct ack_tally {
	const struct batch *bt;
	size_t ok;
	size_t refused;
};

static int
ack_cb(const struct nlmsghdr *nlh, void *data)
{
	struct ack_tally *t = data;
	const struct nlmsgerr *err;
	const struct batch_msg *m;
	const char *ext;

	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*err)))
		return MNL_CB_ERROR;
	err = mnl_nlmsg_get_payload(nlh);
	if (err->error == 0) {
		t->ok++;
		return MNL_CB_OK;
	}
	t->refused++;
	m = batch_msg_by_seq(t->bt, nlh->nlmsg_seq);
	ext = extack_msg(nlh);
	log_err("nftables: kernel refused \"%s\": %s%s%s%s", m ? m->what : "(unknown message)",
	    strerror(-err->error), errno_hint(-err->error), ext ? ": " : "", ext ? ext : "");
	/* Keep going: the kernel reports every refused message of the batch. */
	return MNL_CB_OK;
}

/* Reads the acknowledgements: one per message (all asked for NLM_F_ACK). The kernel
 * processes the batch inside sendmsg(), so they are queued by now; the wait only
 * covers a message the kernel never answers, which is then an error too. */
static int
batch_read_acks(const struct batch *bt, struct mnl_socket *nl)
{
	mnl_cb_t ctl[NLMSG_MIN_TYPE] = { [NLMSG_ERROR] = ack_cb };
	struct ack_tally t = { .bt = bt };
	uint32_t portid = mnl_socket_get_portid(nl);
	char *buf = NULL;
	ssize_t n;

	/* Room for a whole message: a kernel without NETLINK_CAP_ACK echoes it in the ack. */
	buf = malloc(NFT_MSG_SIZE_MAX);
	if (buf == NULL) {
		log_err("nftables: out of memory");
		goto fail;
	}
	while (t.ok + t.refused < bt->n_acked) {
		/* After a refusal the kernel may leave the rest unanswered: only drain. */
		n = nft_recv(nl, buf, NFT_MSG_SIZE_MAX, t.refused ? 0 : ACK_WAIT_MS);
		if (n < 0) {
			log_err("nftables: reading acknowledgements: %s", strerror(errno));
			goto fail;
		}
		if (n == 0)
			break;
		/* Sequence 0: any; ack_cb maps each sequence number to its message. */
		if (mnl_cb_run2(buf, (size_t)n, 0, portid, NULL, &t, ctl, NLMSG_MIN_TYPE) < 0) {
			log_err("nftables: malformed acknowledgement");
			goto fail;
		}
	}
	if (t.refused > 0)
		goto fail;
	if (t.ok < bt->n_acked) {
		log_err("nftables: the kernel acknowledged %zu of %zu messages; transaction state "
		    "unknown", t.ok, bt->n_acked);
		goto fail;
	}
	free(buf);
	return 0;
fail:
	free(buf);
	return -1;
}

/* Sends the finished batch and checks every acknowledgement. */
static int
batch_commit(struct batch *bt)
{
	struct mnl_socket *nl = NULL;

	if (bt->failed) {
		log_err("nftables: out of memory building the transaction");
		goto fail;
	}
	nl = nft_socket_open();
	if (nl == NULL)
		goto fail;
	if (batch_send(bt, nl) < 0 || batch_read_acks(bt, nl) < 0)
		goto fail;
	mnl_socket_close(nl);
	return 0;
fail:
	if (nl != NULL)
		mnl_socket_close(nl);
	return -1;
}

/* ---------------------------------------------------------------- public */

int
rules_install(const struct rules_config *rc)
{
	struct batch *bt = NULL;
	uint32_t lo_ifindex;

	if (config_check(rc) < 0)
		return -1;
	lo_ifindex = if_nametoindex("lo");
	if (lo_ifindex == 0) {
		log_err("nftables: no loopback interface: %s", strerror(errno));
		return -1;
	}
	bt = batch_new();
	if (bt == NULL)
		goto fail;
	add_table_delete(bt);
	add_table_msg(bt, NFT_MSG_NEWTABLE, NLM_F_CREATE | NLM_F_EXCL, "create table inet jfe");
	add_chain(bt, "prerouting", "filter", NF_INET_PRE_ROUTING);
	if (!rc->return_conntrack)
		add_chain(bt, "input", "filter", NF_INET_LOCAL_IN);
	add_chain(bt, "output", "route", NF_INET_LOCAL_OUT);
	add_ports_set(bt);
	add_ports_elems(bt, rc->ports);
	for (size_t i = 0; i < RULE_COUNT; i++)
		if (rule_wanted(&rule_defs[i], rc))
			add_rule(bt, &rule_defs[i], rc, lo_ifindex);
	batch_finish(bt);
	if (batch_commit(bt) < 0)
		goto fail;
	log_debug("nftables: table inet jfe installed (%zu messages)", bt->n);
	batch_free(bt);
	return 0;
fail:
	log_err("nftables: table inet jfe not installed; the previous state is unchanged");
	batch_free(bt);
	return -1;
}

int
rules_remove(void)
{
	struct batch *bt;

	bt = batch_new();
	if (bt == NULL)
		goto fail;
	add_table_delete(bt);
	batch_finish(bt);
	if (batch_commit(bt) < 0)
		goto fail;
	batch_free(bt);
	return 0;
fail:
	log_err("nftables: table inet jfe not removed");
	batch_free(bt);
	return -1;
}

static int
table_seen_cb(const struct nlmsghdr *nlh, void *data)
{
	(void)nlh;
	*(int *)data = 1;
	return MNL_CB_OK;
}

int
rules_present(void)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct mnl_socket *nl = NULL;
	struct nftnl_table *t = NULL;
	struct nlmsghdr *nlh;
	uint32_t seq = (uint32_t)time(NULL);
	ssize_t n;
	int seen = 0, ret = MNL_CB_OK;

	t = nftnl_table_alloc();
	if (t == NULL || nftnl_table_set_str(t, NFTNL_TABLE_NAME, TABLE_NAME) < 0) {
		log_err("nftables: out of memory");
		goto fail;
	}
	nl = nft_socket_open();
	if (nl == NULL)
		goto fail;
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETTABLE, NFPROTO_INET, NLM_F_ACK, seq);
	nftnl_table_nlmsg_build_payload(nlh, t);
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
		log_err("nftables: asking for table inet jfe: %s", strerror(errno));
		goto fail;
	}
	/* The table (if any), then the acknowledgement or ENOENT. */
	while (ret > MNL_CB_STOP) {
		n = nft_recv(nl, buf, sizeof(buf), ACK_WAIT_MS);
		if (n <= 0) {
			log_err("nftables: asking for table inet jfe: %s",
			    n == 0 ? "no answer" : strerror(errno));
			goto fail;
		}
		ret = mnl_cb_run(buf, (size_t)n, seq, mnl_socket_get_portid(nl), table_seen_cb,
		    &seen);
	}
	if (ret < 0 && errno != ENOENT) {
		log_err("nftables: asking for table inet jfe: %s%s", strerror(errno),
		    errno_hint(errno));
		goto fail;
	}
	mnl_socket_close(nl);
	nftnl_table_free(t);
	return ret < 0 ? 0 : seen;
fail:
	if (nl != NULL)
		mnl_socket_close(nl);
	if (t != NULL)
		nftnl_table_free(t);
	return -1;
}

static void
print_elements(const struct port_set *ps, FILE *f)
{
	unsigned pos = 0, lo, hi, n = 0;

	while (next_port_range(ps, &pos, &lo, &hi)) {
		if (n == 0)
			fputs("\t\telements = { ", f);
		else if (n % 8 == 0)
			fputs(",\n\t\t\t     ", f);
		else
			fputs(", ", f);
		if (lo == hi)
			fprintf(f, "%u", lo);
		else
			fprintf(f, "%u-%u", lo, hi);
		n++;
	}
	if (n > 0)
		fputs(" }\n", f);
}

static void
print_chain(const struct rules_config *rc, FILE *f, const char *name, const char *head)
{
	char text[160];

	fprintf(f, "\tchain %s {\n\t\t%s\n", name, head);
	for (size_t i = 0; i < RULE_COUNT; i++) {
		const struct rule_def *d = &rule_defs[i];

		if (strcmp(d->chain, name) != 0 || !rule_wanted(d, rc))
			continue;
		if (d->why)
			fprintf(f, "\t\t# %s\n", d->why);
		rule_text(text, sizeof(text), d->text, rc);
		fprintf(f, "\t\t%s\n", text);
	}
	fputs("\t}\n", f);
}

int
rules_print(const struct rules_config *rc, FILE *f)
{
	if (config_check(rc) < 0)
		return -1;
	fputs("#!/usr/sbin/nft -f\n"
	    "# jfe's interception ruleset, as `jfe run` installs it (through netlink, in one\n"
	    "# transaction). The first two lines replace an existing table inet jfe.\n"
	    "table inet jfe\n"
	    "delete table inet jfe\n"
	    "table inet jfe {\n"
	    "\tset ports {\n"
	    "\t\ttype inet_service\n"
	    "\t\tflags interval\n", f);
	print_elements(rc->ports, f);
	fputs("\t}\n\n", f);
	print_chain(rc, f, "prerouting",
	    "type filter hook prerouting priority mangle; policy accept;");
	fputs("\n", f);
	if (!rc->return_conntrack) {
		print_chain(rc, f, "input",
		    "type filter hook input priority mangle; policy accept;");
		fputs("\n", f);
	}
	print_chain(rc, f, "output",
	    "# 'type route': a changed mark makes the kernel route the packet again\n"
	    "\t\ttype route hook output priority mangle; policy accept;");
	fputs("}\n", f);
	if (fflush(f) != 0 || ferror(f)) {
		log_err("rules: writing the ruleset: %s", strerror(errno));
		return -1;
	}
	return 0;
}
