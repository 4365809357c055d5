/* Asynchronous DNS lookups on c-ares, driven by the caller's poll loop (the agent thread's
 * curl_multi_poll). jfe uses them to check, before ordering a certificate, that a name a
 * client sent in its SNI resolves to this host, to read owner-consent TXT records, and to find
 * a zone's authoritative nameservers and ask each of them directly for a DNS-01 TXT record.
 *
 * Lookups always ask DNS: no hosts file, no search domains, no c-ares query cache, so a
 * record the owner just changed is seen as soon as the servers see it.
 *
 * Driving it, once per loop iteration:
 *	n = resolver_fds(r, fds, events, max);      -> poll these (READ = POLLIN, WRITE = POLLOUT)
 *	t = resolver_timeout_ms(r);                 -> cap the poll timeout (-1: no limit)
 *	...poll...
 *	resolver_process(r, fd, revents) for each ready fd (POLLERR/POLLHUP count as READ),
 *	or simply resolver_process(r, -1, 0), which polls the resolver's own sockets without
 *	blocking and then handles timeouts (needed when the poller drops POLLERR/POLLHUP, as
 *	curl_multi_poll does for extra fds).
 *
 * Callbacks run only from resolver_process() and resolver_free(), never from inside
 * resolve_addrs()/resolve_txt(), and exactly once for every request that was accepted
 * (0 returned). A callback may start new lookups and may call resolver_free(); it must not
 * call resolver_process(). One resolver belongs to one thread. */
#ifndef JFE_RESOLVE_H
#define JFE_RESOLVE_H

#include <stddef.h>
#include <sys/socket.h>

#define RESOLVE_MAX_ADDRS	32	/* addresses in one result, A and AAAA together */
#define RESOLVE_MAX_TXT		32	/* TXT records in one result */
#define RESOLVE_TXT_MAXLEN	2048	/* bytes of one TXT record (its strings joined) */
#define RESOLVE_MAX_SERVERS	8
#define RESOLVE_MAX_PENDING	256	/* requests in flight per resolver */
#define RESOLVE_MAX_TIMEOUT_MS	30000
#define RESOLVE_MAX_TRIES	8
#define RESOLVE_MAX_DIRECT	32	/* servers asked directly (resolve_txt_at) at once */
#define RESOLVE_DIRECT_IDLE_MS	30000	/* a direct server's channel outlives its last query */
/* Sockets resolver_fds() may hand out: a UDP and a TCP socket per server, and room for a
 * reconnection on each. */
#define RESOLVE_MAX_FDS		(4 * RESOLVE_MAX_SERVERS + 3 * RESOLVE_MAX_DIRECT)
#define RESOLVE_MAX_NS		8	/* nameservers of one zone kept (resolve_zone_servers) */
#define RESOLVE_NS_MAX_ADDRS	4	/* addresses kept per nameserver */
#define RESOLVE_NAME_SIZE	256	/* a DNS name in text, with its NUL */

#define RESOLVE_WANT_READ	0x1u
#define RESOLVE_WANT_WRITE	0x2u

struct resolver;

/* A resolver asking <servers> (<n> strings "1.2.3.4", "1.2.3.4:5353", "::1", "[::1]:53"; at
 * most RESOLVE_MAX_SERVERS), or, when <n> is 0, the nameservers of /etc/resolv.conf (the
 * first RESOLVE_MAX_SERVERS of them). Each server gets <timeout_ms> (1..30000) to answer the
 * first try; c-ares 1.18 doubles it on every later round, so one query gives up after about
 * timeout_ms * (2^tries - 1) with one server (tries 1..8). With several servers, one that
 * answers SERVFAIL or REFUSED is skipped for the next; when all do, c-ares 1.18 reports
 * RESOLVE_ERROR (newer versions RESOLVE_SERVFAIL). With one server, its SERVFAIL is reported
 * as RESOLVE_SERVFAIL at once. NULL, logged, on bad arguments. */
struct resolver *resolver_new(const char *const *servers, size_t n, unsigned timeout_ms,
    unsigned tries);

/* Cancels every pending request (callbacks get RESOLVE_CANCELLED, before this returns or, when
 * called from a callback, before the resolver_process() that ran it returns) and frees <r>.
 * NULL is a no-op. */
void resolver_free(struct resolver *r);

/* Stores up to <max> sockets with the events wanted (RESOLVE_WANT_READ / RESOLVE_WANT_WRITE
 * bits) in <fds>/<events>; returns the count. The set changes after every call into the
 * resolver, so ask again each iteration. */
int resolver_fds(struct resolver *r, int *fds, unsigned *events, int max);

/* Milliseconds until resolver_process() must run for timeouts (0: results are waiting to be
 * delivered), -1 when nothing is pending. */
int resolver_timeout_ms(struct resolver *r);

/* Handles <revents> (RESOLVE_WANT_* bits) on <fd>, then timeouts, then delivers results.
 * <fd> -1 polls the resolver's own sockets without blocking instead. Unknown fds are
 * ignored. */
void resolver_process(struct resolver *r, int fd, unsigned revents);

enum resolve_status {
	RESOLVE_OK,		/* at least one address / TXT record */
	RESOLVE_NXDOMAIN,	/* the name does not exist */
	RESOLVE_NODATA,		/* the name exists without such records */
	RESOLVE_SERVFAIL,	/* the server answered SERVFAIL (see resolver_new) */
	RESOLVE_TIMEOUT,	/* no answer in time */
	RESOLVE_ERROR,		/* anything else: refused, malformed answer, out of memory */
	RESOLVE_CANCELLED	/* resolver_free() */
};

/* A and AAAA together; port 0. At most RESOLVE_MAX_ADDRS: when both families have more than
 * half, each gets half, so neither can crowd out the other. */
struct resolve_result {
	enum resolve_status	status;
	size_t			n;
	struct sockaddr_storage	addr[RESOLVE_MAX_ADDRS];
};

/* <name> and <res> are valid only during the call. */
typedef void (*resolve_cb)(void *arg, const char *name, const struct resolve_result *res);

/* Queries A and AAAA of <name> exactly as given (no search domains; a trailing dot is
 * allowed), both at once, and calls <cb> once with both merged: RESOLVE_OK when either had
 * addresses (a failure of the other family is then not reported); otherwise a transient
 * failure of either (SERVFAIL, TIMEOUT, ERROR) before NODATA before NXDOMAIN. <name> must be
 * a DNS name of letters, digits, '-' and '_' in labels of 1..63, 253 characters at most.
 * 0 when <cb> will be called; -1, logged, and no callback otherwise. */
int resolve_addrs(struct resolver *r, const char *name, resolve_cb cb, void *arg);

/* <txt> holds <n> NUL-terminated TXT records, the character-strings of each record joined
 * (as SPF and lego read them); <n> is 0 unless <st> is RESOLVE_OK. Records containing a NUL
 * byte or longer than RESOLVE_TXT_MAXLEN are left out, since a C string could not hold them
 * faithfully; RESOLVE_NODATA when nothing is left. Valid only during the call. */
typedef void (*resolve_txt_cb)(void *arg, const char *name, enum resolve_status st, char **txt,
    size_t n);

/* Queries TXT of <name>; same rules as resolve_addrs(). */
int resolve_txt(struct resolver *r, const char *name, resolve_txt_cb cb, void *arg);

/* Queries TXT of <name> at the single server <server> (AF_INET or AF_INET6; port 53 when its
 * port is 0) with recursion off, so the answer is what that server itself holds: the question
 * an authoritative nameserver is asked. The resolver's timeout and tries apply; the server's
 * SERVFAIL is RESOLVE_SERVFAIL, REFUSED or an unreachable server RESOLVE_ERROR. The resolver
 * keeps one c-ares channel per server, shared by all queries to it and closed
 * RESOLVE_DIRECT_IDLE_MS after its last one; -1 (logged) also when RESOLVE_MAX_DIRECT servers
 * are busy. Otherwise the rules of resolve_txt(). */
int resolve_txt_at(struct resolver *r, const struct sockaddr *server, const char *name,
    resolve_txt_cb cb, void *arg);

/* <hosts> holds the <n> nameserver names (no trailing dot) of the NS records owned by the
 * queried name; <n> is 0 unless <st> is RESOLVE_OK. An answer that holds a CNAME is
 * RESOLVE_NODATA: the name is an alias, not a zone apex. Valid only during the call. */
typedef void (*resolve_ns_cb)(void *arg, const char *name, enum resolve_status st, char **hosts,
    size_t n);

/* Queries NS of <name> through the resolver's servers; rules of resolve_txt(). At most
 * RESOLVE_MAX_TXT names are kept. */
int resolve_ns(struct resolver *r, const char *name, resolve_ns_cb cb, void *arg);

struct resolve_nameserver {
	char			host[RESOLVE_NAME_SIZE];
	enum resolve_status	status;		/* of its A/AAAA lookup */
	size_t			naddr;		/* both families when it has both */
	struct sockaddr_storage	addr[RESOLVE_NS_MAX_ADDRS];	/* port 0 */
};

struct resolve_zone {
	/* RESOLVE_OK: <zone> and its nameservers are filled in (some may have no address:
	 * see their status). RESOLVE_NODATA: no NS records at <name> or any parent of at least
	 * two labels. Otherwise an NS lookup failed with that status (a resolver that cannot
	 * answer NS queries gives RESOLVE_ERROR), or RESOLVE_CANCELLED. */
	enum resolve_status		status;
	char				zone[RESOLVE_NAME_SIZE];
	size_t				nns;
	struct resolve_nameserver	ns[RESOLVE_MAX_NS];
};

/* <z> is valid only during the call. */
typedef void (*resolve_zone_cb)(void *arg, const char *name, const struct resolve_zone *z);

/* Finds the zone holding <name> and its authoritative nameservers with their addresses, all
 * through the resolver's servers: NS of <name>, then of each parent in turn while the answer
 * is NXDOMAIN or NODATA (never of a top-level domain: no zone jfe can change is one), then A
 * and AAAA of each nameserver (the first RESOLVE_MAX_NS distinct names), at once. <cb> is
 * called once, as for resolve_txt(). */
int resolve_zone_servers(struct resolver *r, const char *name, resolve_zone_cb cb, void *arg);

/* "1.2.3.4" or "2001:db8::1" for <sa> in <buf> (at least INET6_ADDRSTRLEN), "?" for another
 * family; returns <buf>. */
const char *resolve_addr_str(const struct sockaddr *sa, char *buf, size_t len);

/* A fixed lowercase word for <st> ("ok", "nxdomain", ...), "unknown" for anything else. */
const char *resolve_status_str(enum resolve_status st);

#endif
