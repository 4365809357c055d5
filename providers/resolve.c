#include "providers/resolve.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* ares_query and ares_parse_* are marked deprecated from 1.28 on but remain supported; they
 * are what 1.18 (Debian 12) offers. */
#define CARES_NO_DEPRECATED
#include <ares.h>

#include "agent/log.h"

#define NAME_MAX_LEN	253
#define LABEL_MAX_LEN	63
/* c-ares 1.18 keeps one UDP and one TCP socket per server; later versions may briefly hold
 * an old and a new one while reconnecting. */
#define MAX_SOCKS	RESOLVE_MAX_FDS

enum req_kind { REQ_ADDRS, REQ_TXT, REQ_NS };

struct req;
struct resolver;

/* A c-ares channel: the resolver's own (its configured servers), or a direct one asking a
 * single server with recursion off (resolve_txt_at). Sockets remember their channel. */
struct chan {
	struct resolver		*r;
	ares_channel		 ch;
	int			 inited;
	int			 direct;
	struct sockaddr_storage	 server;	/* direct: the server, port set */
	unsigned		 pending;	/* queries in flight on it */
	long long		 idle_since;	/* ms (monotonic) when pending fell to 0 */
};

/* One c-ares query of a request: the callback needs to know its request, family and
 * channel. */
struct subq {
	struct req	*req;
	struct chan	*c;
	int		 family;
};

struct req {
	struct resolver		*r;
	struct req		*next;		/* on r->done */
	enum req_kind		 kind;
	unsigned		 pending;	/* c-ares queries still running */
	char			 name[NAME_MAX_LEN + 2];
	resolve_cb		 addrs_cb;
	resolve_txt_cb		 txt_cb;
	resolve_ns_cb		 ns_cb;
	void			*arg;
	struct subq		 sub[2];
	enum resolve_status	 st[2];		/* A, AAAA; TXT and NS use st[0] */
	struct ares_addrttl	 a[RESOLVE_MAX_ADDRS];
	int			 na;
	struct ares_addr6ttl	 a6[RESOLVE_MAX_ADDRS];
	int			 na6;
	char			*txt[RESOLVE_MAX_TXT];	/* TXT records, or NS names */
	size_t			 ntxt;
};

struct rsock {
	int		 fd;
	unsigned	 events;
	struct chan	*c;
};

struct resolver {
	struct chan	 main;
	struct chan	 direct[RESOLVE_MAX_DIRECT];
	unsigned	 timeout_ms, tries;
	int		 libinit;
	struct rsock	 socks[MAX_SOCKS];
	int		 nsocks;
	/* Completed requests waiting for resolver_process(): a completion that happens inside
	 * resolve_addrs()/resolve_txt() (c-ares may fail a query synchronously) is parked here
	 * so that callers never see their callback run before the submitting call returns. */
	struct req	*done;
	struct req	**done_tail;
	unsigned	 nreqs;
	unsigned	 submitting;	/* inside ares_query() */
	unsigned	 depth;		/* inside resolver_process() */
	int		 closing;	/* resolver_free() was called: all is cancelled */
};

static void destroy(struct resolver *);
static void sock_state(void *, ares_socket_t, int, int);

static long long
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *
resolve_addr_str(const struct sockaddr *sa, char *buf, size_t len)
{
	const void *a = NULL;

	if (sa != NULL && sa->sa_family == AF_INET)
		a = &((const struct sockaddr_in *)sa)->sin_addr;
	else if (sa != NULL && sa->sa_family == AF_INET6)
		a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
	if (a == NULL || inet_ntop(sa->sa_family, a, buf, (socklen_t)len) == NULL)
		snprintf(buf, len, "?");
	return buf;
}

const char *
resolve_status_str(enum resolve_status st)
{
	switch (st) {
	case RESOLVE_OK:
		return "ok";
	case RESOLVE_NXDOMAIN:
		return "nxdomain";
	case RESOLVE_NODATA:
		return "nodata";
	case RESOLVE_SERVFAIL:
		return "servfail";
	case RESOLVE_TIMEOUT:
		return "timeout";
	case RESOLVE_ERROR:
		return "error";
	case RESOLVE_CANCELLED:
		return "cancelled";
	}
	return "unknown";
}

static enum resolve_status
map_status(int status)
{
	switch (status) {
	case ARES_SUCCESS:
		return RESOLVE_OK;
	case ARES_ENOTFOUND:	/* ares_query's NXDOMAIN */
		return RESOLVE_NXDOMAIN;
	case ARES_ENODATA:
		return RESOLVE_NODATA;
	case ARES_ESERVFAIL:
		return RESOLVE_SERVFAIL;
	case ARES_ETIMEOUT:
		return RESOLVE_TIMEOUT;
	case ARES_ECANCELLED:
	case ARES_EDESTRUCTION:
		return RESOLVE_CANCELLED;
	default:
		return RESOLVE_ERROR;
	}
}

/* Names come from TLS clients. Only hostname characters (and '_' for labels such as
 * _jfe-consent) pass, so nothing reaches c-ares' escape handling ('\\', '.' inside labels)
 * or could be read differently by it and by us. */
static int
name_ok(const char *name)
{
	size_t len, label = 0, i;

	if (name == NULL)
		return 0;
	len = strnlen(name, NAME_MAX_LEN + 2);
	if (len > 0 && name[len - 1] == '.')
		len--;
	if (len == 0 || len > NAME_MAX_LEN)
		return 0;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c == '.') {
			if (label == 0)
				return 0;
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_'))
			return 0;
		if (++label > LABEL_MAX_LEN)
			return 0;
	}
	return label > 0;	/* "a.." leaves an empty last label */
}

/* Appends the canonical c-ares form ("a.b.c.d:port" or "[v6]:port") of the server string <s>
 * to <out> (size <outsz>, used <*used>). Parsed strictly here because c-ares 1.18 reads ports
 * with atoi-like leniency and treats ',' as a separator. */
static int
server_append(const char *s, char *out, size_t outsz, size_t *used)
{
	char host[INET6_ADDRSTRLEN + 1], canon[INET6_ADDRSTRLEN];
	unsigned char bin[sizeof(struct in6_addr)];
	const char *port = NULL, *end;
	unsigned long p = 53;
	size_t hlen;
	int af, n;

	if (s == NULL)
		return -1;
	if (s[0] == '[') {
		if ((end = strchr(s, ']')) == NULL)
			return -1;
		hlen = (size_t)(end - s - 1);
		if (end[1] == ':')
			port = end + 2;
		else if (end[1] != '\0')
			return -1;
		s++;
		af = AF_INET6;
	} else if ((end = strchr(s, ':')) != NULL && strchr(end + 1, ':') != NULL) {
		hlen = strlen(s);	/* bare IPv6, no port */
		af = AF_INET6;
	} else {
		hlen = end != NULL ? (size_t)(end - s) : strlen(s);
		if (end != NULL)
			port = end + 1;
		af = AF_INET;
	}
	if (hlen == 0 || hlen >= sizeof(host))
		return -1;
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	if (inet_pton(af, host, bin) != 1 || inet_ntop(af, bin, canon, sizeof(canon)) == NULL)
		return -1;
	if (port != NULL) {
		char *ep;

		if (port[0] < '0' || port[0] > '9' || strlen(port) > 5)
			return -1;
		errno = 0;
		p = strtoul(port, &ep, 10);
		if (errno != 0 || *ep != '\0' || p == 0 || p > 65535)
			return -1;
	}
	n = snprintf(out + *used, outsz - *used, "%s%s%s%s:%lu", *used > 0 ? "," : "",
	    af == AF_INET6 ? "[" : "", canon, af == AF_INET6 ? "]" : "", p);
	if (n < 0 || (size_t)n >= outsz - *used)
		return -1;
	*used += (size_t)n;
	return 0;
}

/* How many servers the channel has, or -1 (logged). */
static int
server_count(struct resolver *r)
{
	struct ares_addr_port_node *list = NULL, *node;
	int rc, count = 0;

	if ((rc = ares_get_servers_ports(r->main.ch, &list)) != ARES_SUCCESS) {
		log_err("resolver: ares_get_servers_ports: %s", ares_strerror(rc));
		return -1;
	}
	for (node = list; node != NULL; node = node->next)
		count++;
	ares_free_data(list);
	return count;
}

/* c-ares reads every nameserver line of resolv.conf; keeping the first few bounds the
 * socket table. */
static int
cap_servers(struct resolver *r)
{
	struct ares_addr_port_node *list = NULL, *node, *rest;
	int rc, i;

	if ((rc = ares_get_servers_ports(r->main.ch, &list)) != ARES_SUCCESS) {
		log_err("resolver: ares_get_servers_ports: %s", ares_strerror(rc));
		return -1;
	}
	for (node = list, i = 1; node != NULL && i < RESOLVE_MAX_SERVERS; node = node->next)
		i++;
	if (node != NULL && node->next != NULL) {
		log_warn("resolver: using only the first %d nameservers of resolv.conf",
		    RESOLVE_MAX_SERVERS);
		rest = node->next;
		node->next = NULL;
		rc = ares_set_servers_ports(r->main.ch, list);
		node->next = rest;
		if (rc != ARES_SUCCESS) {
			log_err("resolver: ares_set_servers_ports: %s", ares_strerror(rc));
			ares_free_data(list);
			return -1;
		}
	}
	ares_free_data(list);
	return 0;
}

/* Creates c->ch. With a single server there is nobody to fail over to, and c-ares 1.18
 * reports a query whose only server kept answering SERVFAIL or REFUSED as ECONNREFUSED
 * ("could not contact"), the same as a dead server. ARES_FLAG_NOCHECKRESP hands such an
 * answer to ares_query instead, which reports its rcode (ESERVFAIL, EREFUSED); the query id
 * and question are still checked. <norecurse> clears RD in the queries: a direct channel asks
 * an authoritative server what it holds itself. */
static int
channel_init(struct chan *c, unsigned timeout_ms, unsigned tries, int single, int norecurse)
{
	struct ares_options opts;
	int rc, optmask;

	memset(&opts, 0, sizeof(opts));
	/* ares_query never applies search domains or the hosts file; the flags also keep
	 * HOSTALIASES and search lists out should a later change use ares_search. */
	opts.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES;
	if (single)
		opts.flags |= ARES_FLAG_NOCHECKRESP;
	if (norecurse)
		opts.flags |= ARES_FLAG_NORECURSE;
	opts.timeout = (int)timeout_ms;
	opts.tries = (int)tries;
	opts.sock_state_cb = sock_state;
	opts.sock_state_cb_data = c;
	optmask = ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_SOCK_STATE_CB;
#if ARES_VERSION >= 0x011700
	/* 1.31+ caches answers by default (up to an hour): a consent record or an address
	 * the owner just changed would not be seen. */
	opts.qcache_max_ttl = 0;
	optmask |= ARES_OPT_QUERY_CACHE;
#endif
	if ((rc = ares_init_options(&c->ch, &opts, optmask)) != ARES_SUCCESS) {
		log_err("resolver: ares_init_options: %s", ares_strerror(rc));
		return -1;
	}
	c->inited = 1;
	return 0;
}

static int
sock_find(struct resolver *r, int fd)
{
	int i;

	for (i = 0; i < r->nsocks; i++)
		if (r->socks[i].fd == fd)
			return i;
	return -1;
}

/* c-ares tells us about every socket it opens, changes or closes (readable == writable == 0);
 * the table is what resolver_fds() hands to the caller's poll. */
static void
sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
	struct chan *c = data;
	struct resolver *r = c->r;
	unsigned ev = (readable ? RESOLVE_WANT_READ : 0) | (writable ? RESOLVE_WANT_WRITE : 0);
	int i = sock_find(r, fd);

	if (ev == 0) {
		if (i >= 0)
			r->socks[i] = r->socks[--r->nsocks];
		return;
	}
	if (i >= 0) {
		r->socks[i].events = ev;
		r->socks[i].c = c;
		return;
	}
	if (r->nsocks == MAX_SOCKS) {
		/* Cannot happen with the server cap; the query on it will time out. */
		log_err("resolver: more than %d sockets, fd %d is not polled", MAX_SOCKS, fd);
		return;
	}
	r->socks[r->nsocks].fd = fd;
	r->socks[r->nsocks].events = ev;
	r->socks[r->nsocks].c = c;
	r->nsocks++;
}

struct resolver *
resolver_new(const char *const *servers, size_t n, unsigned timeout_ms, unsigned tries)
{
	struct resolver *r = NULL;
	char csv[RESOLVE_MAX_SERVERS * (INET6_ADDRSTRLEN + 10)];
	size_t used = 0, i;
	int rc, count;

	if (n > 0 && servers == NULL) {
		log_err("resolver: no server list");
		goto fail;
	}
	if (n > RESOLVE_MAX_SERVERS) {
		log_err("resolver: %zu servers, at most %d", n, RESOLVE_MAX_SERVERS);
		goto fail;
	}
	if (timeout_ms < 1 || timeout_ms > RESOLVE_MAX_TIMEOUT_MS) {
		log_err("resolver: timeout %u ms out of range 1..%d", timeout_ms,
		    RESOLVE_MAX_TIMEOUT_MS);
		goto fail;
	}
	if (tries < 1 || tries > RESOLVE_MAX_TRIES) {
		log_err("resolver: tries %u out of range 1..%d", tries, RESOLVE_MAX_TRIES);
		goto fail;
	}
	for (i = 0; i < n; i++) {
		if (server_append(servers[i], csv, sizeof(csv), &used) == -1) {
			char esc[128];

			log_err("resolver: bad server \"%s\" (want 1.2.3.4, 1.2.3.4:53, ::1 or "
			    "[::1]:53)", servers[i] == NULL ? "(null)" :
			    log_escape(esc, sizeof(esc), servers[i], strlen(servers[i])));
			goto fail;
		}
	}
	if ((r = calloc(1, sizeof(*r))) == NULL) {
		log_err("resolver: out of memory");
		goto fail;
	}
	r->done_tail = &r->done;
	r->main.r = r;
	for (i = 0; i < RESOLVE_MAX_DIRECT; i++) {
		r->direct[i].r = r;
		r->direct[i].direct = 1;
	}
	r->timeout_ms = timeout_ms;
	r->tries = tries;
	if ((rc = ares_library_init(ARES_LIB_INIT_ALL)) != ARES_SUCCESS) {
		log_err("resolver: ares_library_init: %s", ares_strerror(rc));
		goto fail;
	}
	r->libinit = 1;

	if (channel_init(&r->main, timeout_ms, tries, n == 1, 0) == -1)
		goto fail;
	if (n == 0) {
		/* resolv.conf: only now do we know how many servers there are */
		if ((count = server_count(r)) == -1)
			goto fail;
		if (count == 1) {
			ares_destroy(r->main.ch);
			r->main.inited = 0;
			if (channel_init(&r->main, timeout_ms, tries, 1, 0) == -1)
				goto fail;
		} else if (count > RESOLVE_MAX_SERVERS && cap_servers(r) == -1)
			goto fail;
		return r;
	}
	if ((rc = ares_set_servers_ports_csv(r->main.ch, csv)) != ARES_SUCCESS) {
		log_err("resolver: ares_set_servers_ports_csv \"%s\": %s", csv, ares_strerror(rc));
		goto fail;
	}
	/* Make sure c-ares understood the list as we wrote it. */
	if ((count = server_count(r)) == -1)
		goto fail;
	if (count != (int)n) {
		log_err("resolver: c-ares took %d of the %zu servers \"%s\"", count, n, csv);
		goto fail;
	}
	return r;

fail:
	if (r != NULL) {
		if (r->main.inited)
			ares_destroy(r->main.ch);
		if (r->libinit)
			ares_library_cleanup();
		free(r);
		r = NULL;
	}
	return NULL;
}

static void
req_free(struct req *q)
{
	size_t i;

	for (i = 0; i < q->ntxt; i++) {
		free(q->txt[i]);
		q->txt[i] = NULL;
	}
	free(q);
}

/* The merged status of a request without addresses: a transient failure of either family
 * first (the caller may retry), then "exists without addresses", then "does not exist". */
static enum resolve_status
merge_status(enum resolve_status a, enum resolve_status b)
{
	static const enum resolve_status order[] = { RESOLVE_CANCELLED, RESOLVE_SERVFAIL,
	    RESOLVE_TIMEOUT, RESOLVE_ERROR, RESOLVE_NODATA, RESOLVE_NXDOMAIN };
	size_t i;

	for (i = 0; i < sizeof(order) / sizeof(order[0]); i++)
		if (a == order[i] || b == order[i])
			return order[i];
	return RESOLVE_NODATA;	/* both "OK" without a single address */
}

static void
deliver_addrs(struct req *q)
{
	struct resolve_result res;
	int take4 = q->na, take6 = q->na6, i;

	memset(&res, 0, sizeof(res));
	if (q->r->closing) {
		res.status = RESOLVE_CANCELLED;
		goto out;
	}
	if (take4 + take6 > RESOLVE_MAX_ADDRS) {
		if (take4 >= RESOLVE_MAX_ADDRS / 2 && take6 >= RESOLVE_MAX_ADDRS / 2)
			take4 = take6 = RESOLVE_MAX_ADDRS / 2;
		else if (take4 < RESOLVE_MAX_ADDRS / 2)
			take6 = RESOLVE_MAX_ADDRS - take4;
		else
			take4 = RESOLVE_MAX_ADDRS - take6;
	}
	for (i = 0; i < take4; i++) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&res.addr[res.n++];

		sin->sin_family = AF_INET;
		memcpy(&sin->sin_addr, &q->a[i].ipaddr, sizeof(sin->sin_addr));
	}
	for (i = 0; i < take6; i++) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&res.addr[res.n++];

		sin6->sin6_family = AF_INET6;
		memcpy(&sin6->sin6_addr, &q->a6[i].ip6addr, sizeof(sin6->sin6_addr));
	}
	res.status = res.n > 0 ? RESOLVE_OK : merge_status(q->st[0], q->st[1]);
out:
	q->addrs_cb(q->arg, q->name, &res);
}

static void
deliver(struct req *q)
{
	struct resolver *r = q->r;
	char esc[128];

	char at[INET6_ADDRSTRLEN + 8] = "";
	enum resolve_status st = r->closing ? RESOLVE_CANCELLED : q->st[0];

	if (q->sub[0].c != NULL && q->sub[0].c->direct) {
		at[0] = '@';
		resolve_addr_str((struct sockaddr *)&q->sub[0].c->server, at + 1, sizeof(at) - 1);
	}
	log_debug("resolver: %s %s%s: %s%s%s%s", q->kind == REQ_ADDRS ? "A/AAAA" :
	    q->kind == REQ_NS ? "NS" : "TXT",
	    log_escape(esc, sizeof(esc), q->name, strlen(q->name)), at,
	    resolve_status_str(q->st[0]), q->kind == REQ_ADDRS ? "/" : "",
	    q->kind == REQ_ADDRS ? resolve_status_str(q->st[1]) : "",
	    r->closing ? " (cancelled)" : "");
	if (q->kind == REQ_ADDRS)
		deliver_addrs(q);
	else if (q->kind == REQ_NS)
		q->ns_cb(q->arg, q->name, st, st == RESOLVE_OK ? q->txt : NULL,
		    st == RESOLVE_OK ? q->ntxt : 0);
	else
		q->txt_cb(q->arg, q->name, st, st == RESOLVE_OK ? q->txt : NULL,
		    st == RESOLVE_OK ? q->ntxt : 0);
	r->nreqs--;
	req_free(q);
}

/* Delivers the requests parked so far; ones parked by these callbacks wait for the next
 * resolver_process(), so a callback that resubmits cannot keep us here forever. */
static void
drain(struct resolver *r)
{
	struct req *list = r->done, *q;

	r->done = NULL;
	r->done_tail = &r->done;
	while ((q = list) != NULL) {
		list = q->next;
		q->next = NULL;
		deliver(q);
	}
}

static void
complete(struct req *q)
{
	struct resolver *r = q->r;

	if (r->closing || (r->depth > 0 && r->submitting == 0)) {
		deliver(q);
		return;
	}
	*r->done_tail = q;
	r->done_tail = &q->next;
}

/* Joins the character-strings of each TXT record (RFC 7208 §3.3 reading). */
static enum resolve_status
parse_txt(struct req *q, const unsigned char *abuf, int alen)
{
	struct ares_txt_ext *list = NULL, *t, *rec;
	enum resolve_status st = RESOLVE_OK;
	size_t len, dropped = 0, off;
	int rc, bad;

	if ((rc = ares_parse_txt_reply_ext(abuf, alen, &list)) != ARES_SUCCESS)
		return map_status(rc);
	for (t = list; t != NULL;) {
		rec = t;
		len = 0;
		bad = 0;
		do {
			if (t->length > RESOLVE_TXT_MAXLEN - len)
				bad = 1;
			else if (t->length > 0 && memchr(t->txt, '\0', t->length) != NULL)
				bad = 1;
			else
				len += t->length;
			t = t->next;
		} while (t != NULL && !t->record_start);
		if (bad || q->ntxt == RESOLVE_MAX_TXT) {
			dropped++;
			continue;
		}
		if ((q->txt[q->ntxt] = malloc(len + 1)) == NULL) {
			log_err("resolver: out of memory");
			st = RESOLVE_ERROR;
			break;
		}
		for (off = 0; rec != t; rec = rec->next) {
			if (off + rec->length > len)
				break;	/* cannot happen: the first pass dropped it */
			memcpy(q->txt[q->ntxt] + off, rec->txt, rec->length);
			off += rec->length;
		}
		q->txt[q->ntxt][off] = '\0';
		q->ntxt++;
	}
	ares_free_data(list);
	if (dropped > 0)
		log_debug("resolver: left out %zu TXT records (NUL byte, too long or too many)",
		    dropped);
	if (st == RESOLVE_OK && q->ntxt == 0)
		st = RESOLVE_NODATA;
	return st;
}

/* The names of the NS records owned by the question name, in <q>->txt. Read here rather than
 * with ares_parse_ns_reply, which takes NS records of any owner: a resolver following a CNAME
 * at the name would hand us the alias target's nameservers. */
static enum resolve_status
parse_ns(struct req *q, const unsigned char *abuf, int alen)
{
	const unsigned char *p = abuf + 12, *end = abuf + alen;
	char qname[NAME_MAX_LEN + 2], *owner = NULL, *target = NULL;
	unsigned an, i, type, class, rdlen;
	int cname = 0;
	long len;
	size_t ql;

	if (alen < 12)
		return RESOLVE_ERROR;
	snprintf(qname, sizeof(qname), "%s", q->name);
	ql = strlen(qname);
	if (ql > 0 && qname[ql - 1] == '.')
		qname[ql - 1] = '\0';
	an = (unsigned)abuf[6] << 8 | abuf[7];
	if (((unsigned)abuf[4] << 8 | abuf[5]) != 1)
		return RESOLVE_ERROR;
	if (ares_expand_name(p, abuf, alen, &owner, &len) != ARES_SUCCESS)
		return RESOLVE_ERROR;
	ares_free_string(owner);
	owner = NULL;
	if (len < 0 || end - p < len + 4)
		return RESOLVE_ERROR;
	p += len + 4;
	for (i = 0; i < an; i++) {
		if (ares_expand_name(p, abuf, alen, &owner, &len) != ARES_SUCCESS)
			goto bad;
		if (len < 0 || end - p < len + 10)
			goto bad;
		p += len;
		type = (unsigned)p[0] << 8 | p[1];
		class = (unsigned)p[2] << 8 | p[3];
		rdlen = (unsigned)p[8] << 8 | p[9];
		p += 10;
		if (end - p < (long)rdlen)
			goto bad;
		if (type == ns_t_cname)
			cname = 1;
		else if (type == ns_t_ns && class == ns_c_in && strcasecmp(owner, qname) == 0 &&
		    q->ntxt < RESOLVE_MAX_TXT) {
			if (ares_expand_name(p, abuf, alen, &target, &len) != ARES_SUCCESS)
				goto bad;
			q->txt[q->ntxt] = strdup(target);
			ares_free_string(target);
			target = NULL;
			if (q->txt[q->ntxt] == NULL) {
				log_err("resolver: out of memory");
				ares_free_string(owner);
				return RESOLVE_ERROR;
			}
			q->ntxt++;
		}
		ares_free_string(owner);
		owner = NULL;
		p += rdlen;
	}
	return cname || q->ntxt == 0 ? RESOLVE_NODATA : RESOLVE_OK;
bad:
	ares_free_string(owner);
	return RESOLVE_ERROR;
}

/* Stores the A or AAAA records of the answer <abuf> in <q>; c-ares keeps at most
 * RESOLVE_MAX_ADDRS of them and follows CNAMEs within the answer. */
static enum resolve_status
parse_addrs(struct req *q, int family, const unsigned char *abuf, int alen)
{
	int rc, n = RESOLVE_MAX_ADDRS;

	if (family == AF_INET) {
		if ((rc = ares_parse_a_reply(abuf, alen, NULL, q->a, &n)) != ARES_SUCCESS)
			return map_status(rc);
		q->na = n > 0 ? n : 0;
	} else {
		if ((rc = ares_parse_aaaa_reply(abuf, alen, NULL, q->a6, &n)) != ARES_SUCCESS)
			return map_status(rc);
		q->na6 = n > 0 ? n : 0;
	}
	return n > 0 ? RESOLVE_OK : RESOLVE_NODATA;
}

static void
on_answer(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct subq *sq = arg;
	struct req *q = sq->req;
	enum resolve_status st;
	char esc[128];

	(void)timeouts;
	if (sq->c != NULL && sq->c->pending > 0 && --sq->c->pending == 0)
		sq->c->idle_since = mono_ms();
	if (status != ARES_SUCCESS)
		log_debug("resolver: %s %s: %s", q->kind == REQ_TXT ? "TXT" :
		    q->kind == REQ_NS ? "NS" : sq->family == AF_INET ? "A" : "AAAA",
		    log_escape(esc, sizeof(esc), q->name, strlen(q->name)), ares_strerror(status));
	if (status != ARES_SUCCESS)
		st = map_status(status);
	else if (abuf == NULL || alen <= 0)
		st = RESOLVE_ERROR;
	else if (q->kind == REQ_TXT)
		st = parse_txt(q, abuf, alen);
	else if (q->kind == REQ_NS)
		st = parse_ns(q, abuf, alen);
	else
		st = parse_addrs(q, sq->family, abuf, alen);
	q->st[sq == &q->sub[1] ? 1 : 0] = st;
	if (q->pending == 0 || --q->pending > 0)
		return;
	complete(q);
}

static struct req *
req_new(struct resolver *r, enum req_kind kind, const char *name, int has_cb)
{
	struct req *q;
	char esc[128];

	if (r == NULL || !has_cb) {
		log_err("resolver: %s", r == NULL ? "no resolver" : "no callback");
		return NULL;
	}
	if (r->closing) {
		log_err("resolver: lookup after resolver_free");
		return NULL;
	}
	if (!name_ok(name)) {
		log_warn("resolver: refusing to look up \"%s\"", name == NULL ? "(null)" :
		    log_escape(esc, sizeof(esc), name, strnlen(name, NAME_MAX_LEN + 2)));
		return NULL;
	}
	if (r->nreqs >= RESOLVE_MAX_PENDING) {
		log_warn("resolver: %d lookups pending, refusing more", RESOLVE_MAX_PENDING);
		return NULL;
	}
	if ((q = calloc(1, sizeof(*q))) == NULL) {
		log_err("resolver: out of memory");
		return NULL;
	}
	q->r = r;
	q->kind = kind;
	/* name_ok() bounded it to NAME_MAX_LEN + 1 with the dot. */
	memcpy(q->name, name, strlen(name) + 1);
	q->st[0] = q->st[1] = RESOLVE_ERROR;
	q->sub[0].req = q->sub[1].req = q;
	q->sub[0].family = AF_INET;
	q->sub[1].family = AF_INET6;
	r->nreqs++;
	return q;
}

/* Runs one c-ares query of <sq>'s request on <c>. */
static void
submit(struct chan *c, struct subq *sq, int type)
{
	sq->c = c;
	c->pending++;
	ares_query(c->ch, sq->req->name, ns_c_in, type, on_answer, sq);
}

int
resolve_addrs(struct resolver *r, const char *name, resolve_cb cb, void *arg)
{
	struct req *q;

	if ((q = req_new(r, REQ_ADDRS, name, cb != NULL)) == NULL)
		return -1;
	q->addrs_cb = cb;
	q->arg = arg;
	q->pending = 2;
	r->submitting++;
	submit(&r->main, &q->sub[0], ns_t_a);
	submit(&r->main, &q->sub[1], ns_t_aaaa);
	r->submitting--;
	return 0;
}

int
resolve_txt(struct resolver *r, const char *name, resolve_txt_cb cb, void *arg)
{
	struct req *q;

	if ((q = req_new(r, REQ_TXT, name, cb != NULL)) == NULL)
		return -1;
	q->txt_cb = cb;
	q->arg = arg;
	q->pending = 1;
	r->submitting++;
	submit(&r->main, &q->sub[0], ns_t_txt);
	r->submitting--;
	return 0;
}

int
resolve_ns(struct resolver *r, const char *name, resolve_ns_cb cb, void *arg)
{
	struct req *q;

	if ((q = req_new(r, REQ_NS, name, cb != NULL)) == NULL)
		return -1;
	q->ns_cb = cb;
	q->arg = arg;
	q->pending = 1;
	r->submitting++;
	submit(&r->main, &q->sub[0], ns_t_ns);
	r->submitting--;
	return 0;
}

/* ---- direct channels: one server each, recursion off ---- */

static int
same_server(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return 0;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;

		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;

	return x->sin6_port == y->sin6_port &&
	    memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
}

/* Closes direct channels without queries: those idle for RESOLVE_DIRECT_IDLE_MS, or all of
 * them with <all>. Only where no c-ares call is on the stack (a channel cannot be destroyed
 * from inside its own processing). */
static void
reap(struct resolver *r, int all)
{
	long long now = mono_ms();
	int i;

	for (i = 0; i < RESOLVE_MAX_DIRECT; i++) {
		struct chan *c = &r->direct[i];

		if (!c->inited || c->pending > 0 ||
		    (!all && now - c->idle_since < RESOLVE_DIRECT_IDLE_MS))
			continue;
		ares_destroy(c->ch);
		c->inited = 0;
	}
}

/* The direct channel of <sa> (port 53 when 0): the open one, or a new one. */
static struct chan *
direct_chan(struct resolver *r, const struct sockaddr *sa)
{
	char csv[INET6_ADDRSTRLEN + 10], host[INET6_ADDRSTRLEN];
	struct sockaddr_storage ss;
	struct chan *c = NULL;
	unsigned port;
	int i, rc;

	memset(&ss, 0, sizeof(ss));
	if (sa->sa_family == AF_INET) {
		memcpy(&ss, sa, sizeof(struct sockaddr_in));
		if (((struct sockaddr_in *)&ss)->sin_port == 0)
			((struct sockaddr_in *)&ss)->sin_port = htons(53);
		port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	} else {
		memcpy(&ss, sa, sizeof(struct sockaddr_in6));
		if (((struct sockaddr_in6 *)&ss)->sin6_port == 0)
			((struct sockaddr_in6 *)&ss)->sin6_port = htons(53);
		port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
		/* a scope would be lost in the CSV form: link-local servers are not supported */
		((struct sockaddr_in6 *)&ss)->sin6_scope_id = 0;
		((struct sockaddr_in6 *)&ss)->sin6_flowinfo = 0;
	}
	for (i = 0; i < RESOLVE_MAX_DIRECT; i++) {
		if (r->direct[i].inited && same_server(&r->direct[i].server, &ss))
			return &r->direct[i];
		if (!r->direct[i].inited && c == NULL)
			c = &r->direct[i];
	}
	if (c == NULL && r->depth == 0) {
		reap(r, 1);
		for (i = 0; i < RESOLVE_MAX_DIRECT && c == NULL; i++)
			if (!r->direct[i].inited)
				c = &r->direct[i];
	}
	if (c == NULL) {
		log_warn("resolver: %d servers are being asked directly, refusing another",
		    RESOLVE_MAX_DIRECT);
		return NULL;
	}
	resolve_addr_str((struct sockaddr *)&ss, host, sizeof(host));
	snprintf(csv, sizeof(csv), ss.ss_family == AF_INET6 ? "[%s]:%u" : "%s:%u", host, port);
	if (channel_init(c, r->timeout_ms, r->tries, 1, 1) == -1)
		return NULL;
	if ((rc = ares_set_servers_ports_csv(c->ch, csv)) != ARES_SUCCESS) {
		log_err("resolver: ares_set_servers_ports_csv \"%s\": %s", csv, ares_strerror(rc));
		ares_destroy(c->ch);
		c->inited = 0;
		return NULL;
	}
	c->server = ss;
	c->pending = 0;
	c->idle_since = mono_ms();
	return c;
}

int
resolve_txt_at(struct resolver *r, const struct sockaddr *server, const char *name,
    resolve_txt_cb cb, void *arg)
{
	struct chan *c;
	struct req *q;

	if (server == NULL || (server->sa_family != AF_INET && server->sa_family != AF_INET6)) {
		log_err("resolver: no server address to ask");
		return -1;
	}
	if ((q = req_new(r, REQ_TXT, name, cb != NULL)) == NULL)
		return -1;
	if ((c = direct_chan(r, server)) == NULL) {
		r->nreqs--;
		req_free(q);
		return -1;
	}
	q->txt_cb = cb;
	q->arg = arg;
	q->pending = 1;
	r->submitting++;
	submit(c, &q->sub[0], ns_t_txt);
	r->submitting--;
	return 0;
}

/* ---- the authoritative nameservers of a name's zone ---- */

struct zone_req;

struct zone_sub {
	struct zone_req	*zr;
	size_t		 i;
};

struct zone_req {
	struct resolver		*r;
	resolve_zone_cb		 cb;
	void			*arg;
	char			 name[NAME_MAX_LEN + 2];	/* as asked */
	char			 cur[NAME_MAX_LEN + 2];		/* the name whose NS we ask */
	unsigned		 pending;	/* address lookups in flight */
	int			 cancelled;
	struct zone_sub		 sub[RESOLVE_MAX_NS];
	struct resolve_zone	 z;
};

static void
zone_finish(struct zone_req *zr, enum resolve_status st)
{
	char esc[128];

	zr->z.status = zr->cancelled ? RESOLVE_CANCELLED : st;
	log_debug("resolver: zone of %s: %s%s%s (%zu nameservers)",
	    log_escape(esc, sizeof(esc), zr->name, strlen(zr->name)),
	    resolve_status_str(zr->z.status), zr->z.status == RESOLVE_OK ? " " : "",
	    zr->z.status == RESOLVE_OK ? zr->z.zone : "", zr->z.nns);
	zr->cb(zr->arg, zr->name, &zr->z);
	free(zr);
}

/* Keeps up to RESOLVE_NS_MAX_ADDRS addresses, half of each family when both have that many:
 * a host without IPv6 can still check the nameserver over IPv4, and the other way round. */
static void
zone_keep_addrs(struct resolve_nameserver *ns, const struct resolve_result *res)
{
	size_t n4 = 0, n6 = 0, want4, want6, i;

	for (i = 0; i < res->n; i++) {
		if (res->addr[i].ss_family == AF_INET)
			n4++;
		else
			n6++;
	}
	want4 = n4 < RESOLVE_NS_MAX_ADDRS / 2 ? n4 : RESOLVE_NS_MAX_ADDRS / 2;
	want6 = n6 < RESOLVE_NS_MAX_ADDRS - want4 ? n6 : RESOLVE_NS_MAX_ADDRS - want4;
	if (want4 + want6 < RESOLVE_NS_MAX_ADDRS)
		want4 = n4 < RESOLVE_NS_MAX_ADDRS - want6 ? n4 : RESOLVE_NS_MAX_ADDRS - want6;
	ns->naddr = 0;
	for (i = 0; i < res->n; i++) {
		size_t *left = res->addr[i].ss_family == AF_INET ? &want4 : &want6;

		if (*left == 0)
			continue;
		(*left)--;
		ns->addr[ns->naddr++] = res->addr[i];
	}
}

static void
zone_addrs(void *arg, const char *name, const struct resolve_result *res)
{
	struct zone_sub *sub = arg;
	struct zone_req *zr = sub->zr;
	struct resolve_nameserver *ns = &zr->z.ns[sub->i];

	(void)name;
	ns->status = res->status;
	if (res->status == RESOLVE_CANCELLED)
		zr->cancelled = 1;
	else if (res->status == RESOLVE_OK)
		zone_keep_addrs(ns, res);
	if (--zr->pending == 0)
		zone_finish(zr, RESOLVE_OK);
}

/* <cur> without its first label; 0 when what is left has fewer than two labels. */
static int
zone_parent(struct zone_req *zr)
{
	char *dot = strchr(zr->cur, '.');

	if (dot == NULL || strchr(dot + 1, '.') == NULL)
		return 0;
	memmove(zr->cur, dot + 1, strlen(dot + 1) + 1);
	return 1;
}

static void
zone_ns(void *arg, const char *name, enum resolve_status st, char **hosts, size_t n)
{
	struct zone_req *zr = arg;
	struct resolve_zone *z = &zr->z;
	size_t i, k;

	(void)name;
	if (st == RESOLVE_NXDOMAIN || st == RESOLVE_NODATA) {
		if (!zone_parent(zr)) {
			zone_finish(zr, RESOLVE_NODATA);
			return;
		}
		if (resolve_ns(zr->r, zr->cur, zone_ns, zr) != 0)
			zone_finish(zr, zr->r->closing ? RESOLVE_CANCELLED : RESOLVE_ERROR);
		return;
	}
	if (st != RESOLVE_OK) {
		zone_finish(zr, st);
		return;
	}
	snprintf(z->zone, sizeof(z->zone), "%s", zr->cur);
	for (i = 0; i < n && z->nns < RESOLVE_MAX_NS; i++) {
		for (k = 0; k < z->nns; k++)
			if (strcasecmp(z->ns[k].host, hosts[i]) == 0)
				break;
		if (k < z->nns || strlen(hosts[i]) >= sizeof(z->ns[0].host))
			continue;
		memcpy(z->ns[z->nns].host, hosts[i], strlen(hosts[i]) + 1);
		z->ns[z->nns].status = RESOLVE_ERROR;
		z->nns++;
	}
	/* Count them all first: a lookup's callback never runs inside resolve_addrs(), but one
	 * that cannot start must not end the request while others are still to start. */
	zr->pending = (unsigned)z->nns + 1;
	for (i = 0; i < z->nns; i++) {
		zr->sub[i].zr = zr;
		zr->sub[i].i = i;
		if (resolve_addrs(zr->r, z->ns[i].host, zone_addrs, &zr->sub[i]) != 0) {
			z->ns[i].status = zr->r->closing ? RESOLVE_CANCELLED : RESOLVE_ERROR;
			if (zr->r->closing)
				zr->cancelled = 1;
			zr->pending--;
		}
	}
	if (--zr->pending == 0)
		zone_finish(zr, RESOLVE_OK);
}

int
resolve_zone_servers(struct resolver *r, const char *name, resolve_zone_cb cb, void *arg)
{
	struct zone_req *zr;
	size_t len;

	if (cb == NULL || name == NULL) {
		log_err("resolver: %s", cb == NULL ? "no callback" : "no name");
		return -1;
	}
	if ((zr = calloc(1, sizeof(*zr))) == NULL) {
		log_err("resolver: out of memory");
		return -1;
	}
	zr->r = r;
	zr->cb = cb;
	zr->arg = arg;
	snprintf(zr->name, sizeof(zr->name), "%s", name);
	snprintf(zr->cur, sizeof(zr->cur), "%s", name);
	if ((len = strlen(zr->cur)) > 0 && zr->cur[len - 1] == '.')
		zr->cur[len - 1] = '\0';
	if (resolve_ns(r, zr->cur, zone_ns, zr) != 0) {
		free(zr);
		return -1;
	}
	return 0;
}

int
resolver_fds(struct resolver *r, int *fds, unsigned *events, int max)
{
	int i;

	if (r == NULL || r->closing || fds == NULL || events == NULL || max <= 0)
		return 0;
	for (i = 0; i < r->nsocks && i < max; i++) {
		fds[i] = r->socks[i].fd;
		events[i] = r->socks[i].events;
	}
	return i;
}

/* ms until <c> needs resolver_process() for a timeout, -1 when it has nothing pending. */
static long long
chan_timeout_ms(struct chan *c)
{
	struct timeval tv, *tvp;
	long long ms;

	if (!c->inited || (tvp = ares_timeout(c->ch, NULL, &tv)) == NULL)
		return -1;
	/* Round up: waking a millisecond early would find nothing to do and spin. */
	ms = (long long)tvp->tv_sec * 1000 + (tvp->tv_usec + 999) / 1000;
	return ms < 0 ? 0 : ms;
}

int
resolver_timeout_ms(struct resolver *r)
{
	long long ms, best;
	int i;

	if (r == NULL || r->closing)
		return -1;
	if (r->done != NULL)
		return 0;
	best = chan_timeout_ms(&r->main);
	for (i = 0; i < RESOLVE_MAX_DIRECT; i++)
		if ((ms = chan_timeout_ms(&r->direct[i])) >= 0 && (best < 0 || ms < best))
			best = ms;
	if (best < 0)
		return -1;
	return best > INT_MAX ? INT_MAX : (int)best;
}

/* For callers whose poller loses POLLERR/POLLHUP (an ICMP error on a UDP socket shows up
 * only as POLLERR): look at our own sockets without blocking. */
static void
sweep(struct resolver *r)
{
	struct pollfd pfd[MAX_SOCKS];
	int n, i, k;

	for (n = 0; n < r->nsocks; n++) {
		pfd[n].fd = r->socks[n].fd;
		pfd[n].events = (short)(((r->socks[n].events & RESOLVE_WANT_READ) ? POLLIN : 0) |
		    ((r->socks[n].events & RESOLVE_WANT_WRITE) ? POLLOUT : 0));
		pfd[n].revents = 0;
	}
	if (n == 0 || poll(pfd, (nfds_t)n, 0) <= 0)
		return;
	for (i = 0; i < n; i++) {
		int rd = pfd[i].revents & (POLLIN | POLLERR | POLLHUP);
		int wr = pfd[i].revents & POLLOUT;

		if (r->closing)
			break;	/* a callback called resolver_free() */
		/* An earlier fd's processing may have closed this one. */
		if ((!rd && !wr) || (k = sock_find(r, pfd[i].fd)) == -1)
			continue;
		ares_process_fd(r->socks[k].c->ch, rd ? pfd[i].fd : ARES_SOCKET_BAD,
		    wr && (r->socks[k].events & RESOLVE_WANT_WRITE) ? pfd[i].fd : ARES_SOCKET_BAD);
	}
}

void
resolver_process(struct resolver *r, int fd, unsigned revents)
{
	int i, k;

	if (r == NULL || r->closing || r->depth > 0)
		return;
	r->depth++;
	if (fd < 0)
		sweep(r);
	else if ((k = sock_find(r, fd)) >= 0 &&
	    (revents & (RESOLVE_WANT_READ | RESOLVE_WANT_WRITE)))
		ares_process_fd(r->socks[k].c->ch,
		    (revents & RESOLVE_WANT_READ) ? fd : ARES_SOCKET_BAD,
		    (revents & RESOLVE_WANT_WRITE) ? fd : ARES_SOCKET_BAD);
	/* Timeouts, on every channel. ares_process_fd() on a ready fd runs them too, but
	 * nothing may have been ready; a second pass finds nothing and costs nothing. */
	if (!r->closing)
		ares_process_fd(r->main.ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	for (i = 0; i < RESOLVE_MAX_DIRECT && !r->closing; i++)
		if (r->direct[i].inited)
			ares_process_fd(r->direct[i].ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	drain(r);
	/* No c-ares call is running any more: idle direct channels can go. */
	if (!r->closing)
		reap(r, 0);
	r->depth--;
	/* resolver_free() from one of the callbacks: c-ares could not be destroyed from
	 * inside its own processing. */
	if (r->closing)
		destroy(r);
}

static void
destroy(struct resolver *r)
{
	int i;

	/* ares_destroy() runs every outstanding query's callback with ARES_EDESTRUCTION;
	 * closing makes complete() deliver them at once as cancelled. */
	if (r->main.inited)
		ares_destroy(r->main.ch);
	r->main.inited = 0;
	for (i = 0; i < RESOLVE_MAX_DIRECT; i++) {
		if (r->direct[i].inited)
			ares_destroy(r->direct[i].ch);
		r->direct[i].inited = 0;
	}
	drain(r);
	if (r->libinit)
		ares_library_cleanup();
	free(r);
}

void
resolver_free(struct resolver *r)
{
	if (r == NULL || r->closing)
		return;
	r->closing = 1;
	if (r->depth > 0)
		return;	/* resolver_process() finishes the job */
	destroy(r);
}
