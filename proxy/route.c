/* fwmark rule and local default route of jfe's return path, through rtnetlink. */
#include "proxy/route.h"

#include <sys/socket.h>
#include <errno.h>
#include <net/if.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <linux/fib_rules.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include <libmnl/libmnl.h>

#include "agent/log.h"

/* More copies than this of one rule or route are not stale leftovers but a loop. */
#define DELETE_MAX      64
#define ACK_WAIT_MS     2000

struct rtnl {
	struct mnl_socket *nl;
	uint32_t seq;
	uint32_t lo_ifindex;
};

static const char *
family_name(int af)
{
	return af == AF_INET6 ? "IPv6" : "IPv4";
}

static int
table_usable(uint32_t table)
{
	/* Our table holds "local default": in main, default or local it would take over
	 * every packet's route. */
	return table != RT_TABLE_UNSPEC && table != RT_TABLE_DEFAULT &&
	    table != RT_TABLE_MAIN && table != RT_TABLE_LOCAL;
}

static int
rtnl_open(struct rtnl *r)
{
	int one = 1;

	memset(r, 0, sizeof(*r));
	r->seq = (uint32_t)time(NULL);
	r->lo_ifindex = if_nametoindex("lo");
	if (r->lo_ifindex == 0) {
		log_err("route: no loopback interface: %s", strerror(errno));
		return -1;
	}
	r->nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (r->nl == NULL) {
		log_err("route: netlink socket: %s", strerror(errno));
		return -1;
	}
	if (mnl_socket_bind(r->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		log_err("route: netlink bind: %s", strerror(errno));
		mnl_socket_close(r->nl);
		r->nl = NULL;
		return -1;
	}
	/* Best effort: short acks, and the kernel's reason with an error. */
	mnl_socket_setsockopt(r->nl, NETLINK_CAP_ACK, &one, sizeof(one));
	mnl_socket_setsockopt(r->nl, NETLINK_EXT_ACK, &one, sizeof(one));
	return 0;
}

static void
rtnl_close(struct rtnl *r)
{
	if (r->nl != NULL)
		mnl_socket_close(r->nl);
	r->nl = NULL;
}

static int
extack_attr_cb(const struct nlattr *attr, void *data)
{
	const struct nlattr **tb = data;

	if (mnl_attr_type_valid(attr, NLMSGERR_ATTR_MAX) < 0)
		return MNL_CB_OK;
	tb[mnl_attr_get_type(attr)] = attr;
	return MNL_CB_OK;
}

/* Copies the kernel's explanation of an error (NETLINK_EXT_ACK) into <why>, or "". */
static void
extack_copy(const struct nlmsghdr *nlh, char *why, size_t whylen)
{
	const struct nlattr *tb[NLMSGERR_ATTR_MAX + 1] = { 0 };
	const struct nlmsgerr *err = mnl_nlmsg_get_payload(nlh);
	size_t off = sizeof(*err);

	why[0] = '\0';
	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
		return;
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
		off += mnl_nlmsg_get_payload_len(&err->msg);
	if (mnl_attr_parse(nlh, (unsigned)off, extack_attr_cb, tb) != MNL_CB_OK ||
	    tb[NLMSGERR_ATTR_MSG] == NULL ||
	    mnl_attr_validate(tb[NLMSGERR_ATTR_MSG], MNL_TYPE_NUL_STRING) < 0)
		return;
	snprintf(why, whylen, ": %s", mnl_attr_get_str(tb[NLMSGERR_ATTR_MSG]));
}

/* The kernel's errno as text, with the likely cause where there is one. */
static void
kernel_reason(int err, char *why, size_t whylen)
{
	char ext[200];

	snprintf(ext, sizeof(ext), "%s", why);
	snprintf(why, whylen, "%s%s%s", strerror(err),
	    err == EPERM ? " (needs CAP_NET_ADMIN)" : "", ext);
}

/* Sends one request and waits for its acknowledgement. Returns 0, the kernel's errno (> 0)
 * with the reason as text in <why>, or -1 if the exchange itself failed (logged). */
static int
rtnl_talk(struct rtnl *r, struct nlmsghdr *nlh, char *why, size_t whylen)
{
	struct pollfd pfd = { .fd = mnl_socket_get_fd(r->nl), .events = POLLIN };
	char buf[MNL_SOCKET_BUFFER_SIZE];
	uint32_t seq = nlh->nlmsg_seq;
	ssize_t n;
	int len;

	why[0] = '\0';
	if (mnl_socket_sendto(r->nl, nlh, nlh->nlmsg_len) < 0) {
		log_err("route: netlink send: %s", strerror(errno));
		return -1;
	}
	for (;;) {
		const struct nlmsghdr *m;

		n = mnl_socket_recvfrom(r->nl, buf, sizeof(buf));
		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			if (poll(&pfd, 1, ACK_WAIT_MS) == 0) {
				log_err("route: no answer from the kernel");
				return -1;
			}
			continue;
		}
		if (n < 0) {
			log_err("route: netlink receive: %s", strerror(errno));
			return -1;
		}
		len = (int)n;
		for (m = (const struct nlmsghdr *)buf; mnl_nlmsg_ok(m, len);
		    m = mnl_nlmsg_next(m, &len)) {
			const struct nlmsgerr *err;

			if (m->nlmsg_type != NLMSG_ERROR || m->nlmsg_seq != seq)
				continue;
			if (m->nlmsg_len < mnl_nlmsg_size(sizeof(*err))) {
				log_err("route: malformed acknowledgement");
				return -1;
			}
			err = mnl_nlmsg_get_payload(m);
			if (err->error != 0) {
				extack_copy(m, why, whylen);
				kernel_reason(-err->error, why, whylen);
			}
			return -err->error;
		}
	}
}

/* "fwmark M lookup T": the request names exactly jfe's rule. The priority is given
 * only when adding, so that a delete matches a copy at any priority. */
static struct nlmsghdr *
rule_msg(struct rtnl *r, char *buf, uint16_t type, uint16_t flags, int af, uint32_t fwmark,
    uint32_t table)
{
	struct nlmsghdr *nlh;
	struct fib_rule_hdr *frh;

	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
	nlh->nlmsg_seq = ++r->seq;
	frh = mnl_nlmsg_put_extra_header(nlh, sizeof(*frh));
	frh->family = (uint8_t)af;
	frh->action = FR_ACT_TO_TBL;
	frh->table = table < 256 ? (uint8_t)table : RT_TABLE_UNSPEC;
	mnl_attr_put_u32(nlh, FRA_FWMARK, fwmark);
	mnl_attr_put_u32(nlh, FRA_FWMASK, UINT32_MAX);
	mnl_attr_put_u32(nlh, FRA_TABLE, table);
	if (type == RTM_NEWRULE)
		mnl_attr_put_u32(nlh, FRA_PRIORITY, ROUTE_RULE_PREF);
	return nlh;
}

/* "local default dev lo table T". A delete leaves protocol and scope open, so that it also
 * matches a copy added by hand with `ip route add`. */
static struct nlmsghdr *
route_msg(struct rtnl *r, char *buf, uint16_t type, uint16_t flags, int af, uint32_t table)
{
	struct nlmsghdr *nlh;
	struct rtmsg *rtm;

	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
	nlh->nlmsg_seq = ++r->seq;
	rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	rtm->rtm_family = (uint8_t)af;
	rtm->rtm_dst_len = 0;
	rtm->rtm_table = table < 256 ? (uint8_t)table : RT_TABLE_UNSPEC;
	rtm->rtm_type = RTN_LOCAL;
	if (type == RTM_NEWROUTE) {
		rtm->rtm_protocol = RTPROT_BOOT;
		rtm->rtm_scope = RT_SCOPE_HOST;
	} else {
		rtm->rtm_protocol = RTPROT_UNSPEC;
		rtm->rtm_scope = RT_SCOPE_NOWHERE;
	}
	mnl_attr_put_u32(nlh, RTA_TABLE, table);
	mnl_attr_put_u32(nlh, RTA_OIF, r->lo_ifindex);
	return nlh;
}

static int
family_unsupported(int af, int err)
{
	/* Without IPv6 in the kernel rtnetlink has no AF_INET6 handlers. */
	return af == AF_INET6 && (err == EAFNOSUPPORT || err == EOPNOTSUPP);
}

/* Deletes every copy of jfe's rule (a crash or an older run may have left several).
 * 0 when none is left, the errno the kernel gave, or -1. */
static int
fwmark_rules_delete_all(struct rtnl *r, int af, uint32_t fwmark, uint32_t table)
{
	char buf[MNL_SOCKET_BUFFER_SIZE], why[256];
	int err = 0;

	for (int i = 0; i < DELETE_MAX; i++) {
		err = rtnl_talk(r, rule_msg(r, buf, RTM_DELRULE, 0, af, fwmark, table), why,
		    sizeof(why));
		if (err == ENOENT)
			return 0;
		if (err != 0)
			break;
	}
	if (err > 0 && !family_unsupported(af, err))
		log_err("route: deleting %s rule fwmark 0x%x lookup %u: %s", family_name(af),
		    fwmark, table, why);
	else if (err == 0)
		log_err("route: more than %d %s rules fwmark 0x%x lookup %u", DELETE_MAX,
		    family_name(af), fwmark, table);
	return err == 0 ? -1 : err;
}

static int
routes_delete_all(struct rtnl *r, int af, uint32_t table)
{
	char buf[MNL_SOCKET_BUFFER_SIZE], why[256];
	int err = 0;

	for (int i = 0; i < DELETE_MAX; i++) {
		err = rtnl_talk(r, route_msg(r, buf, RTM_DELROUTE, 0, af, table), why,
		    sizeof(why));
		/* ESRCH: no such route; ENOENT: no such table (IPv6). */
		if (err == ESRCH || err == ENOENT)
			return 0;
		if (err != 0)
			break;
	}
	if (err > 0 && !family_unsupported(af, err))
		log_err("route: deleting %s route local default dev lo table %u: %s",
		    family_name(af), table, why);
	else if (err == 0)
		log_err("route: more than %d %s local default routes in table %u", DELETE_MAX,
		    family_name(af), table);
	return err == 0 ? -1 : err;
}

/* One family: the route first (NLM_F_REPLACE keeps a single copy), then the rule that
 * points at it, so the rule never sends packets to an empty table. */
static int
install_family(struct rtnl *r, int af, uint32_t fwmark, uint32_t table)
{
	char buf[MNL_SOCKET_BUFFER_SIZE], why[256];
	int err;

	err = rtnl_talk(r, route_msg(r, buf, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, af,
	    table), why, sizeof(why));
	if (err != 0) {
		if (err > 0 && !family_unsupported(af, err))
			log_err("route: adding %s route local default dev lo table %u: %s",
			    family_name(af), table, why);
		return err;
	}
	err = fwmark_rules_delete_all(r, af, fwmark, table);
	if (err != 0)
		return err;
	err = rtnl_talk(r, rule_msg(r, buf, RTM_NEWRULE, NLM_F_CREATE | NLM_F_EXCL, af, fwmark,
	    table), why, sizeof(why));
	if (err > 0)
		log_err("route: adding %s rule fwmark 0x%x lookup %u pref %u: %s",
		    family_name(af), fwmark, table, ROUTE_RULE_PREF, why);
	return err;
}

static int
remove_family(struct rtnl *r, int af, uint32_t fwmark, uint32_t table)
{
	int err;

	err = fwmark_rules_delete_all(r, af, fwmark, table);
	if (err == 0)
		err = routes_delete_all(r, af, table);
	return err;
}

static int
args_check(const char *what, uint32_t fwmark, uint32_t table)
{
	if (fwmark == 0) {
		/* fwmark 0 matches every unmarked packet. */
		log_err("route: %s: fwmark 0 is not usable", what);
		return -1;
	}
	if (!table_usable(table)) {
		log_err("route: %s: routing table %u is reserved", what, table);
		return -1;
	}
	return 0;
}

int
route_install(uint32_t fwmark, uint32_t table)
{
	struct rtnl r;
	int err;

	if (args_check("install", fwmark, table) < 0)
		return -1;
	if (rtnl_open(&r) < 0)
		goto fail;
	if (install_family(&r, AF_INET, fwmark, table) != 0)
		goto fail;
	err = install_family(&r, AF_INET6, fwmark, table);
	if (family_unsupported(AF_INET6, err))
		log_warn("route: the kernel has no IPv6; IPv6 return path not installed");
	else if (err != 0)
		goto fail;
	rtnl_close(&r);
	log_debug("route: fwmark 0x%x -> table %u (local default dev lo), pref %u", fwmark,
	    table, ROUTE_RULE_PREF);
	return 0;
fail:
	rtnl_close(&r);
	return -1;
}

int
route_remove(uint32_t fwmark, uint32_t table)
{
	struct rtnl r;
	int err;

	if (args_check("remove", fwmark, table) < 0)
		return -1;
	if (rtnl_open(&r) < 0)
		goto fail;
	if (remove_family(&r, AF_INET, fwmark, table) != 0)
		goto fail;
	err = remove_family(&r, AF_INET6, fwmark, table);
	if (err != 0 && !family_unsupported(AF_INET6, err))
		goto fail;
	rtnl_close(&r);
	return 0;
fail:
	rtnl_close(&r);
	return -1;
}
