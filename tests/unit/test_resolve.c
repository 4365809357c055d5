/* providers/resolve.c, and the DNS-01 confirmation on top of it (providers/dns01.c), against
 * three kinds of server, all on loopback:
 * - nothing (a closed port) and a socket that never answers: timeouts, errors, cancellation;
 * - a scripted DNS server in this process (fake_*): NXDOMAIN, malformed and spoofed answers,
 *   too many records, TXT edge cases — what a hostile or broken server could send;
 * - pebble-challtestsrv, forked here on random ports (a failure when it is not installed):
 *   default A/AAAA, /add-a, /set-txt, /set-servfail, as the integration tests will use it.
 * The resolver is driven by a poll() loop as the agent's curl_multi_poll loop drives it. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent/evtimer.h"
#include "agent/log.h"
#include "providers/dns01.h"
#include "providers/resolve.h"
#include "tests/unit/unit.h"

/* ---- results recorded by the callbacks ---- */

struct got {
	int			 calls;
	int			 in_submit;	/* a callback ran inside resolve_*() */
	char			 name[300];
	enum resolve_status	 st;
	size_t			 n;
	struct sockaddr_storage	 addr[RESOLVE_MAX_ADDRS];
	char			*txt[RESOLVE_MAX_TXT];
	int			*counter;
	/* what the callback does next */
	struct resolver		*free_r;	/* resolver_free() it */
	struct resolver		*chain_r;	/* resolve_txt(chain_name) on it */
	const char		*chain_name;
	struct got		*chain_got;
};

static int submitting;

static void resolve_txt_done(void *, const char *, enum resolve_status, char **, size_t);

static void
got_reset(struct got *g, int *counter)
{
	size_t i;

	for (i = 0; i < RESOLVE_MAX_TXT; i++)
		free(g->txt[i]);
	memset(g, 0, sizeof(*g));
	g->st = (enum resolve_status)-1;
	g->counter = counter;
}

static void
got_after(struct got *g)
{
	if (submitting)
		g->in_submit = 1;
	if (g->counter != NULL)
		(*g->counter)++;
	if (g->chain_r != NULL)
		UNIT_CHECK(resolve_txt(g->chain_r, g->chain_name, resolve_txt_done,
		    g->chain_got) == 0);
	if (g->free_r != NULL)
		resolver_free(g->free_r);
}

static void
resolve_addrs_done(void *arg, const char *name, const struct resolve_result *res)
{
	struct got *g = arg;

	g->calls++;
	snprintf(g->name, sizeof(g->name), "%s", name);
	g->st = res->status;
	g->n = res->n;
	UNIT_CHECK(res->n <= RESOLVE_MAX_ADDRS);
	memcpy(g->addr, res->addr, sizeof(g->addr));
	got_after(g);
}

static void
resolve_txt_done(void *arg, const char *name, enum resolve_status st, char **txt, size_t n)
{
	struct got *g = arg;
	size_t i;

	g->calls++;
	snprintf(g->name, sizeof(g->name), "%s", name);
	g->st = st;
	g->n = n;
	UNIT_CHECK(n <= RESOLVE_MAX_TXT);
	UNIT_CHECK(st == RESOLVE_OK ? n > 0 && txt != NULL : n == 0);
	for (i = 0; txt != NULL && i < n && i < RESOLVE_MAX_TXT; i++) {
		free(g->txt[i]);
		g->txt[i] = strdup(txt[i]);
	}
	got_after(g);
}

static int
got_has(const struct got *g, const char *ip)
{
	unsigned char bin[16];
	size_t i;

	for (i = 0; i < g->n; i++) {
		const struct sockaddr_storage *ss = &g->addr[i];

		if (ss->ss_family == AF_INET && inet_pton(AF_INET, ip, bin) == 1 &&
		    memcmp(&((const struct sockaddr_in *)ss)->sin_addr, bin, 4) == 0)
			return 1;
		if (ss->ss_family == AF_INET6 && inet_pton(AF_INET6, ip, bin) == 1 &&
		    memcmp(&((const struct sockaddr_in6 *)ss)->sin6_addr, bin, 16) == 0)
			return 1;
	}
	return 0;
}

static size_t
got_count(const struct got *g, int family)
{
	size_t i, c = 0;

	for (i = 0; i < g->n; i++)
		if (g->addr[i].ss_family == family)
			c++;
	return c;
}

static int
addrs(struct resolver *r, const char *name, struct got *g)
{
	int rc;

	submitting = 1;
	rc = resolve_addrs(r, name, resolve_addrs_done, g);
	submitting = 0;
	return rc;
}

static int
txt(struct resolver *r, const char *name, struct got *g)
{
	int rc;

	submitting = 1;
	rc = resolve_txt(r, name, resolve_txt_done, g);
	submitting = 0;
	return rc;
}

static long long
clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the scripted DNS server ---- */

enum fake_mode {
	FAKE_DROP,	/* read and never answer */
	FAKE_NXDOMAIN,
	FAKE_NODATA,
	FAKE_SERVFAIL,
	FAKE_REFUSED,
	FAKE_GARBAGE,	/* claims 3 answers, carries none */
	FAKE_WRONGID,	/* a correct answer with another query id: a spoofing attempt */
	FAKE_WRONGQ,	/* a correct answer to another question: likewise */
	FAKE_TWO,	/* two records */
	FAKE_MANY,	/* 40 records: more than 512 bytes, so truncated over UDP */
	FAKE_TXT_EDGE,	/* TXT: plain, multi-string, embedded NUL, empty, oversized */
	FAKE_ZONE,	/* NS: the fake's zone apex has its nsnames; names below it starting with
			 * '_' do not exist, others have no NS; names outside it have no NS */
	FAKE_CNAME,	/* NS: every name is an alias of other.test, whose NS follow */
	FAKE_MAP,	/* A: the address map[][1] of the name map[][0], else NXDOMAIN */
	FAKE_VALUE	/* TXT: one record holding value, none when value is NULL */
};

#define FAKE_MAX	4
#define FAKE_CONNS	4

struct fake_conn {
	int		 fd;
	size_t		 len;
	unsigned char	 buf[1024];
};

/* One server: UDP and TCP on the same loopback port, answering per query type. */
static struct fake {
	int		 ufd, tfd;
	enum fake_mode	 a, aaaa, txt;
	enum fake_mode	 ns;		/* FAKE_NODATA unless set after fake_add() */
	const char	*zone;
	const char	*nsnames[3];
	const char	*map[4][2];
	const char	*value;
	int		 queries, tcp_queries;
	int		 rd, nord;	/* queries with and without recursion desired */
	unsigned	 port;
	char		 server[64];
	struct fake_conn conns[FAKE_CONNS];
} fakes[FAKE_MAX];
static int nfakes;

static size_t
put16(unsigned char *p, unsigned v)
{
	p[0] = (unsigned char)(v >> 8);
	p[1] = (unsigned char)v;
	return 2;
}

/* Appends an answer RR whose owner is the question name (pointer to offset 12). */
static size_t
put_rr(unsigned char *p, unsigned type, const unsigned char *rdata, size_t rdlen)
{
	size_t o = 0;

	p[o++] = 0xc0;
	p[o++] = 0x0c;
	o += put16(p + o, type);
	o += put16(p + o, 1);
	o += put16(p + o, 0);
	o += put16(p + o, 60);
	o += put16(p + o, (unsigned)rdlen);
	memcpy(p + o, rdata, rdlen);
	return o + rdlen;
}

/* <name> ("ns1.z.test") in DNS wire form in <out>; its length. */
static size_t
put_name(unsigned char *out, const char *name)
{
	size_t o = 0;
	const char *p = name, *dot;

	while (*p != '\0') {
		size_t l = (dot = strchr(p, '.')) != NULL ? (size_t)(dot - p) : strlen(p);

		out[o++] = (unsigned char)l;
		memcpy(out + o, p, l);
		o += l;
		p += l + (dot != NULL);
	}
	out[o++] = 0;
	return o;
}

/* <name> ends with ".<zone>" (case-insensitively). */
static int
below(const char *name, const char *zone)
{
	size_t n = strlen(name), z = strlen(zone);

	return n > z + 1 && name[n - z - 1] == '.' && strcasecmp(name + n - z, zone) == 0;
}

/* The answer of <f> to the query <q> in <out> (8 KiB), its length, or 0 for none. Over UDP
 * an answer over 512 bytes becomes an empty one with TC set, as a real server does. */
static size_t
fake_answer(struct fake *f, const unsigned char *q, size_t qlen, int tcp, unsigned char *out)
{
	unsigned char rd[2400];
	char qname[300];
	size_t o, qend = 12, rdl, nl = 0;
	unsigned qtype, i, an = 0, rcode = 0;
	enum fake_mode m;

	if (qlen < 12 + 5)
		return 0;
	while (qend < qlen && q[qend] != 0) {
		size_t l = q[qend];

		if (nl + l + 1 >= sizeof(qname) || qend + 1 + l > qlen)
			return 0;
		if (nl > 0)
			qname[nl++] = '.';
		memcpy(qname + nl, q + qend + 1, l);
		nl += l;
		qend += l + 1;
	}
	qname[nl] = '\0';
	if (qend + 5 > qlen)
		return 0;
	qtype = (unsigned)q[qend + 1] << 8 | q[qend + 2];
	qend += 5;
	if (q[2] & 0x01)
		f->rd++;
	else
		f->nord++;
	m = qtype == 1 ? f->a : qtype == 28 ? f->aaaa : qtype == 16 ? f->txt :
	    qtype == 2 ? f->ns : FAKE_NODATA;
	if (m == FAKE_DROP)
		return 0;
	memcpy(out, q, qend);
	out[2] = 0x81;	/* QR, RD */
	o = qend;
	switch (m) {
	case FAKE_NXDOMAIN:
		rcode = 3;
		break;
	case FAKE_SERVFAIL:
		rcode = 2;
		break;
	case FAKE_REFUSED:
		rcode = 5;
		break;
	case FAKE_GARBAGE:
		an = 3;
		break;
	case FAKE_WRONGID:
		out[1] ^= 0x55;
		/* FALLTHROUGH */
	case FAKE_WRONGQ:
		if (m == FAKE_WRONGQ)
			out[13] = out[13] == 'z' ? 'y' : 'z';	/* first letter of the name */
		/* FALLTHROUGH */
	case FAKE_TWO:
	case FAKE_MANY:
		for (i = 0; i < (m == FAKE_MANY ? 40u : 2u); i++) {
			if (qtype == 1) {
				unsigned char a4[4] = { 10, 0, 0, (unsigned char)(i + 1) };

				o += put_rr(out + o, 1, a4, 4);
			} else if (qtype == 28) {
				unsigned char a6[16] = { 0xfd, 0, [15] = (unsigned char)(i + 1) };

				o += put_rr(out + o, 28, a6, 16);
			} else {
				rd[0] = 4;
				rd[1] = 't';
				rd[2] = (unsigned char)('0' + i / 100 % 10);
				rd[3] = (unsigned char)('0' + i / 10 % 10);
				rd[4] = (unsigned char)('0' + i % 10);
				o += put_rr(out + o, 16, rd, 5);
			}
			an++;
		}
		break;
	case FAKE_ZONE:
		if (f->zone != NULL && strcasecmp(qname, f->zone) == 0) {
			for (i = 0; i < 3 && f->nsnames[i] != NULL; i++) {
				rdl = put_name(rd, f->nsnames[i]);
				o += put_rr(out + o, 2, rd, rdl);
				an++;
			}
		} else if (f->zone != NULL && below(qname, f->zone) && qname[0] == '_')
			rcode = 3;
		break;
	case FAKE_CNAME:
		/* www CNAME other.test; other.test NS ns.other.test */
		rdl = put_name(rd, "other.test");
		o += put_rr(out + o, 5, rd, rdl);
		memcpy(out + o, rd, rdl);	/* owner other.test, written out */
		o += rdl;
		o += put16(out + o, 2);
		o += put16(out + o, 1);
		o += put16(out + o, 0);
		o += put16(out + o, 60);
		rdl = put_name(rd, "ns.other.test");
		o += put16(out + o, (unsigned)rdl);
		memcpy(out + o, rd, rdl);
		o += rdl;
		an = 2;
		break;
	case FAKE_MAP:
		rcode = 3;
		for (i = 0; i < 4 && f->map[i][0] != NULL; i++) {
			unsigned char a4[4];

			if (strcasecmp(qname, f->map[i][0]) != 0 ||
			    inet_pton(AF_INET, f->map[i][1], a4) != 1)
				continue;
			o += put_rr(out + o, 1, a4, 4);
			an = 1;
			rcode = 0;
			break;
		}
		break;
	case FAKE_VALUE:
		if (f->value != NULL) {
			rdl = strlen(f->value);
			rd[0] = (unsigned char)rdl;
			memcpy(rd + 1, f->value, rdl);
			o += put_rr(out + o, 16, rd, rdl + 1);
			an = 1;
		}
		break;
	case FAKE_TXT_EDGE:
		o += put_rr(out + o, 16, (const unsigned char *)"\5hello", 6);
		o += put_rr(out + o, 16, (const unsigned char *)"\2ab\2cd", 6);
		o += put_rr(out + o, 16, (const unsigned char *)"\5ev\0il", 6);
		o += put_rr(out + o, 16, (const unsigned char *)"\0", 1);
		/* 9 strings of 255 bytes: 2295 > RESOLVE_TXT_MAXLEN */
		for (rdl = 0, i = 0; i < 9; i++) {
			rd[rdl++] = 255;
			memset(rd + rdl, 'x', 255);
			rdl += 255;
		}
		o += put_rr(out + o, 16, rd, rdl);
		an = 5;
		break;
	default:
		break;
	}
	if (!tcp && o > 512) {
		out[2] |= 0x02;	/* TC */
		o = qend;
		an = 0;
	}
	out[3] = (unsigned char)(0x80 | rcode);	/* RA */
	put16(out + 4, 1);
	put16(out + 6, an);
	put16(out + 8, 0);
	put16(out + 10, 0);
	return o;
}

static void
fake_udp(struct fake *f)
{
	unsigned char q[1500], a[8192];
	struct sockaddr_storage from;
	socklen_t fl;
	ssize_t n;
	size_t alen;

	for (;;) {
		fl = sizeof(from);
		n = recvfrom(f->ufd, q, sizeof(q), MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
		if (n <= 0)
			return;
		f->queries++;
		if ((alen = fake_answer(f, q, (size_t)n, 0, a)) > 0)
			(void)sendto(f->ufd, a, alen, 0, (struct sockaddr *)&from, fl);
	}
}

static void
fake_conn_close(struct fake_conn *c)
{
	close(c->fd);
	c->fd = -1;
	c->len = 0;
}

/* Reads what the client sent; answers every complete length-prefixed query in it. */
static void
fake_tcp(struct fake *f, struct fake_conn *c)
{
	unsigned char a[8194];
	size_t qlen, alen;
	ssize_t n;

	n = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
	if (n <= 0) {
		if (n == 0 || (errno != EAGAIN && errno != EINTR))
			fake_conn_close(c);
		return;
	}
	c->len += (size_t)n;
	while (c->len >= 2 && c->len >= 2 + (qlen = (size_t)c->buf[0] << 8 | c->buf[1])) {
		f->queries++;
		f->tcp_queries++;
		if ((alen = fake_answer(f, c->buf + 2, qlen, 1, a + 2)) > 0) {
			put16(a, (unsigned)alen);
			if (write(c->fd, a, alen + 2) != (ssize_t)(alen + 2)) {
				fake_conn_close(c);
				return;
			}
		}
		memmove(c->buf, c->buf + 2 + qlen, c->len - 2 - qlen);
		c->len -= 2 + qlen;
	}
	if (c->len == sizeof(c->buf))
		fake_conn_close(c);
}

/* The loopback address fakes bind to: 127.0.0.1 unless set (127.0.0.2, ... are loopback too). */
static const char *lo_ip4 = "127.0.0.1";

/* A socket of <type> on <family> loopback, port <*port> or (0) one the kernel picks. */
static int
lo_socket(int family, int type, unsigned *port)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int fd, on = 1;

	memset(&ss, 0, sizeof(ss));
	ss.ss_family = (sa_family_t)family;
	if (family == AF_INET) {
		inet_pton(AF_INET, lo_ip4, &((struct sockaddr_in *)&ss)->sin_addr);
		((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)*port);
	} else {
		((struct sockaddr_in6 *)&ss)->sin6_addr = in6addr_loopback;
		((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)*port);
	}
	if ((fd = socket(family, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) == -1)
		return -1;
	if (type == SOCK_STREAM)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	if (bind(fd, (struct sockaddr *)&ss, family == AF_INET ? sizeof(struct sockaddr_in) :
	    sizeof(struct sockaddr_in6)) == -1 ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl) == -1 ||
	    (type == SOCK_STREAM && listen(fd, 8) == -1)) {
		close(fd);
		return -1;
	}
	*port = ntohs(family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port :
	    ((struct sockaddr_in6 *)&ss)->sin6_port);
	return fd;
}

static int
udp_socket(int family, unsigned *port)
{
	*port = 0;
	return lo_socket(family, SOCK_DGRAM, port);
}

/* The port fake_add() binds: 0 for one the kernel picks. */
static unsigned fixed_port;

/* Starts one more scripted server; -1 when the sockets cannot be had. */
static int
fake_add(int family, enum fake_mode a, enum fake_mode aaaa, enum fake_mode t)
{
	struct fake *f;
	unsigned port;
	int i, attempt;

	if (nfakes == FAKE_MAX)
		return -1;
	f = &fakes[nfakes];
	memset(f, 0, sizeof(*f));
	f->ufd = f->tfd = -1;
	for (i = 0; i < FAKE_CONNS; i++)
		f->conns[i].fd = -1;
	f->a = a;
	f->aaaa = aaaa;
	f->txt = t;
	f->ns = FAKE_NODATA;
	for (attempt = 0; attempt < 5 && f->tfd == -1; attempt++) {
		if (f->ufd != -1)
			close(f->ufd);
		port = fixed_port;
		if ((f->ufd = lo_socket(family, SOCK_DGRAM, &port)) == -1)
			return -1;
		f->tfd = lo_socket(family, SOCK_STREAM, &port);
	}
	if (f->tfd == -1) {
		close(f->ufd);
		return -1;
	}
	f->port = port;
	if (family == AF_INET)
		snprintf(f->server, sizeof(f->server), "%s:%u", lo_ip4, port);
	else
		snprintf(f->server, sizeof(f->server), "[::1]:%u", port);
	return nfakes++;
}

static struct resolver *
fake_resolver(unsigned timeout_ms, unsigned tries)
{
	const char *servers[FAKE_MAX];
	int i;

	for (i = 0; i < nfakes; i++)
		servers[i] = fakes[i].server;
	return resolver_new(servers, (size_t)nfakes, timeout_ms, tries);
}

static struct resolver *
fake_start(int family, enum fake_mode a, enum fake_mode aaaa, enum fake_mode t,
    unsigned timeout_ms, unsigned tries)
{
	if (fake_add(family, a, aaaa, t) == -1)
		return NULL;
	return fake_resolver(timeout_ms, tries);
}

static void
fake_stop(void)
{
	int i, k;

	for (i = 0; i < nfakes; i++) {
		for (k = 0; k < FAKE_CONNS; k++)
			if (fakes[i].conns[k].fd != -1)
				fake_conn_close(&fakes[i].conns[k]);
		close(fakes[i].ufd);
		close(fakes[i].tfd);
		fakes[i].ufd = fakes[i].tfd = -1;
	}
	nfakes = 0;
}

#define FAKE_POLLFDS	(FAKE_MAX * (2 + FAKE_CONNS))

/* Adds the fake servers' sockets to <p>; returns how many. */
static int
fake_pollfds(struct pollfd *p)
{
	int i, k, n = 0;

	for (i = 0; i < nfakes; i++) {
		p[n].fd = fakes[i].ufd;
		p[n++].events = POLLIN;
		p[n].fd = fakes[i].tfd;
		p[n++].events = POLLIN;
		for (k = 0; k < FAKE_CONNS; k++) {
			p[n].fd = fakes[i].conns[k].fd;	/* -1 is ignored by poll */
			p[n++].events = POLLIN;
		}
	}
	for (i = 0; i < n; i++)
		p[i].revents = 0;
	return n;
}

static void
fake_serve(const struct pollfd *p)
{
	struct fake *f;
	int i, k, n = 0, fd;

	for (i = 0; i < nfakes; i++) {
		f = &fakes[i];
		if (p[n++].revents != 0)
			fake_udp(f);
		if (p[n++].revents != 0 && (fd = accept4(f->tfd, NULL, NULL,
		    SOCK_CLOEXEC | SOCK_NONBLOCK)) != -1) {
			for (k = 0; k < FAKE_CONNS && f->conns[k].fd != -1; k++)
				;
			if (k < FAKE_CONNS)
				f->conns[k].fd = fd;
			else
				close(fd);
		}
		for (k = 0; k < FAKE_CONNS; k++)
			if (p[n++].revents != 0 && f->conns[k].fd != -1)
				fake_tcp(f, &f->conns[k]);
	}
}

/* ---- the event loop ---- */

/* Runs <r> until <*counter> reaches <want> or <limit_ms> passes; -1 on the latter. With
 * <sweep>, readiness is never passed in: resolver_process(r, -1, 0) must find it. */
static int
drive(struct resolver *r, int *counter, int want, int limit_ms, int sweep)
{
	long long deadline = clock_ms() + limit_ms, left;
	struct pollfd pfd[RESOLVE_MAX_FDS + FAKE_POLLFDS];
	int fds[RESOLVE_MAX_FDS];
	unsigned ev[RESOLVE_MAX_FDS];
	int n, i, t, nf, handled;

	while (*counter < want) {
		n = resolver_fds(r, fds, ev, RESOLVE_MAX_FDS);
		for (i = 0; i < n; i++) {
			pfd[i].fd = fds[i];
			pfd[i].events = (short)(((ev[i] & RESOLVE_WANT_READ) ? POLLIN : 0) |
			    ((ev[i] & RESOLVE_WANT_WRITE) ? POLLOUT : 0));
			pfd[i].revents = 0;
		}
		nf = fake_pollfds(pfd + n);
		t = resolver_timeout_ms(r);
		if ((left = deadline - clock_ms()) <= 0)
			return -1;
		if (t < 0 || t > left)
			t = (int)left;
		if (poll(pfd, (nfds_t)(n + nf), t) == -1 && errno != EINTR)
			return -1;
		fake_serve(pfd + n);
		handled = 0;
		for (i = 0; !sweep && i < n && *counter < want; i++) {
			unsigned re = 0;

			if (pfd[i].revents & (POLLIN | POLLERR | POLLHUP))
				re |= RESOLVE_WANT_READ;
			if (pfd[i].revents & POLLOUT)
				re |= RESOLVE_WANT_WRITE;
			if (re != 0) {
				resolver_process(r, fds[i], re);
				handled = 1;
			}
		}
		/* a callback may have freed r: stop touching it once everything arrived */
		if (!handled && *counter < want)
			resolver_process(r, -1, 0);
	}
	return 0;
}

/* ---- cases: arguments ---- */

static void
test_new_bad_args(void)
{
	static const char *const bad[] = { "", "foo", "1.2.3", "1.2.3.4:", "1.2.3.4:0",
	    "1.2.3.4:65536", "1.2.3.4:53x", "1.2.3.4:+53", "1.2.3.4: 53", "1.2.3.4:123456",
	    "1.2.3.4,5.6.7.8", " 1.2.3.4", "[::1]:", "[::1]x", "[::1", "::1]:53",
	    "[1.2.3.4]:53", "[::1]:0", "fe80::1%eth0", "::1:53:", "256.1.1.1" };
	static const char *const good[] = { "1.2.3.4", "1.2.3.4:5353", "::1", "[::1]:53",
	    "[2001:db8::1]", "10.0.0.1:65535", "[::ffff:10.0.0.1]:5353" };
	const char *one[1], *many[RESOLVE_MAX_SERVERS + 1];
	struct resolver *r;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		one[0] = bad[i];
		r = resolver_new(one, 1, 1000, 2);
		if (r != NULL)
			fprintf(stderr, "  # accepted bad server \"%s\"\n", bad[i]);
		UNIT_CHECK(r == NULL);
		resolver_free(r);
	}
	one[0] = NULL;
	UNIT_CHECK(resolver_new(one, 1, 1000, 2) == NULL);
	UNIT_CHECK(resolver_new(NULL, 1, 1000, 2) == NULL);
	for (i = 0; i < RESOLVE_MAX_SERVERS + 1; i++)
		many[i] = "127.0.0.1";
	UNIT_CHECK(resolver_new(many, RESOLVE_MAX_SERVERS + 1, 1000, 2) == NULL);
	one[0] = "127.0.0.1";
	UNIT_CHECK(resolver_new(one, 1, 0, 2) == NULL);
	UNIT_CHECK(resolver_new(one, 1, RESOLVE_MAX_TIMEOUT_MS + 1, 2) == NULL);
	UNIT_CHECK(resolver_new(one, 1, 1000, 0) == NULL);
	UNIT_CHECK(resolver_new(one, 1, 1000, RESOLVE_MAX_TRIES + 1) == NULL);

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		one[0] = good[i];
		r = resolver_new(one, 1, 1000, 2);
		if (r == NULL)
			fprintf(stderr, "  # refused good server \"%s\"\n", good[i]);
		UNIT_CHECK(r != NULL);
		resolver_free(r);
	}
	r = resolver_new(good, sizeof(good) / sizeof(good[0]), 1000, 2);
	UNIT_CHECK(r != NULL);
	resolver_free(r);
	r = resolver_new(many, RESOLVE_MAX_SERVERS, 1000, 2);
	UNIT_CHECK(r != NULL);
	resolver_free(r);
	/* resolv.conf; nothing is queried */
	r = resolver_new(NULL, 0, 1000, 2);
	UNIT_CHECK(r != NULL);
	UNIT_CHECK(resolver_timeout_ms(r) == -1);
	resolver_free(r);
	resolver_free(NULL);
	resolver_process(NULL, -1, 0);
	UNIT_CHECK(resolver_fds(NULL, NULL, NULL, 4) == 0);
	UNIT_CHECK(resolver_timeout_ms(NULL) == -1);
}

static void
test_bad_names(void)
{
	char long_label[70], long_name[300], max_name[300];
	const char *bad[] = { NULL, "", ".", "..", "a..b", ".a", "a b", "a\\065", "a\\.b",
	    "*.example.com", "ex\x01mple.com", "a/b", "a,b", "ex\xc3\xa9.com", "a.b..",
	    long_label, long_name };
	const char *const servers[] = { "127.0.0.1:9" };
	struct resolver *r;
	struct got g;
	int count = 0;
	size_t i;

	memset(&g, 0, sizeof(g));
	got_reset(&g, &count);
	memset(long_label, 'a', 64);
	strcpy(long_label + 64, ".com");
	/* 127 "a." = 254 characters before the final "a" */
	for (i = 0; i < 127; i++)
		memcpy(long_name + 2 * i, "a.", 2);
	strcpy(long_name + 254, "a");
	/* 63 + 1 + 63 + 1 + 63 + 1 + 61 = 253, the longest name */
	memset(max_name, 'b', 253);
	max_name[63] = max_name[127] = max_name[191] = '.';
	max_name[253] = '\0';

	UNIT_CHECK((r = resolver_new(servers, 1, 1000, 1)) != NULL);
	if (r == NULL)
		return;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		UNIT_CHECK(addrs(r, bad[i], &g) == -1);
		UNIT_CHECK(txt(r, bad[i], &g) == -1);
	}
	UNIT_CHECK(resolve_addrs(r, "example.com", NULL, NULL) == -1);
	UNIT_CHECK(resolve_txt(r, "example.com", NULL, NULL) == -1);
	UNIT_CHECK(resolve_addrs(NULL, "example.com", resolve_addrs_done, &g) == -1);
	UNIT_CHECK(g.calls == 0);

	/* the longest name, a 63-octet label, '_' and a trailing dot are fine */
	UNIT_CHECK(addrs(r, max_name, &g) == 0);
	long_label[63] = '\0';
	UNIT_CHECK(addrs(r, long_label, &g) == 0);
	UNIT_CHECK(txt(r, "_jfe-consent.Example-1.COM.", &g) == 0);
	resolver_free(r);
	UNIT_CHECK(g.calls == 3);
	UNIT_CHECK(count == 3);
	UNIT_CHECK(g.st == RESOLVE_CANCELLED);
	UNIT_CHECK(g.in_submit == 0);
	got_reset(&g, NULL);
}

static void
test_status_str(void)
{
	UNIT_CHECK_STR(resolve_status_str(RESOLVE_OK), "ok");
	UNIT_CHECK_STR(resolve_status_str(RESOLVE_NXDOMAIN), "nxdomain");
	UNIT_CHECK_STR(resolve_status_str(RESOLVE_NODATA), "nodata");
	UNIT_CHECK_STR(resolve_status_str(RESOLVE_SERVFAIL), "servfail");
	UNIT_CHECK_STR(resolve_status_str(RESOLVE_TIMEOUT), "timeout");
	UNIT_CHECK_STR(resolve_status_str(RESOLVE_ERROR), "error");
	UNIT_CHECK_STR(resolve_status_str(RESOLVE_CANCELLED), "cancelled");
	UNIT_CHECK_STR(resolve_status_str((enum resolve_status)99), "unknown");
}

/* ---- cases: no answer ---- */

static void
test_closed_port(void)
{
	char server[32];
	const char *servers[1] = { server };
	struct resolver *r;
	unsigned port;
	struct got g, g2;
	int fd, count = 0, sweep;
	long long t0, el;

	memset(&g, 0, sizeof(g));
	memset(&g2, 0, sizeof(g2));
	/* a port that was free a moment ago: nothing listens there */
	UNIT_CHECK((fd = udp_socket(AF_INET, &port)) != -1);
	if (fd == -1)
		return;
	close(fd);
	snprintf(server, sizeof(server), "127.0.0.1:%u", port);
	/* both ways of driving: readiness passed in, and the self-polling sweep */
	for (sweep = 0; sweep < 2; sweep++) {
		count = 0;
		got_reset(&g, &count);
		got_reset(&g2, &count);
		UNIT_CHECK((r = resolver_new(servers, 1, 300, 2)) != NULL);
		if (r == NULL)
			return;
		t0 = clock_ms();
		UNIT_CHECK(addrs(r, "closed.test", &g) == 0);
		UNIT_CHECK(txt(r, "closed.test", &g2) == 0);
		UNIT_CHECK(resolver_timeout_ms(r) > 0);
		/* 300 ms, then 600 ms for the second round: 900 ms at most, plus slack */
		UNIT_CHECK(drive(r, &count, 2, 3000, sweep) == 0);
		el = clock_ms() - t0;
		UNIT_CHECK(g.calls == 1 && g2.calls == 1);
		UNIT_CHECK(g.st == RESOLVE_TIMEOUT || g.st == RESOLVE_ERROR);
		UNIT_CHECK(g2.st == RESOLVE_TIMEOUT || g2.st == RESOLVE_ERROR);
		UNIT_CHECK(g.n == 0 && g2.n == 0);
		UNIT_CHECK(el < 1400);
		UNIT_CHECK(g.in_submit == 0 && g2.in_submit == 0);
		UNIT_CHECK(resolver_timeout_ms(r) == -1);
		fprintf(stderr, "  # closed port (%s): %s/%s after %lld ms\n",
		    sweep ? "sweep" : "fds", resolve_status_str(g.st), resolve_status_str(g2.st),
		    el);
		resolver_free(r);
	}
	got_reset(&g, NULL);
	got_reset(&g2, NULL);
}

static void
test_no_answer_timeout(void)
{
	struct resolver *r;
	struct got g;
	int count = 0;
	long long t0, el;

	memset(&g, 0, sizeof(g));
	got_reset(&g, &count);
	UNIT_CHECK((r = fake_start(AF_INET, FAKE_DROP, FAKE_DROP, FAKE_DROP, 200, 2)) != NULL);
	if (r == NULL)
		goto out;
	t0 = clock_ms();
	UNIT_CHECK(addrs(r, "silent.test", &g) == 0);
	UNIT_CHECK(drive(r, &count, 1, 3000, 0) == 0);
	el = clock_ms() - t0;
	fprintf(stderr, "  # no answer: %s after %lld ms, %d queries\n", resolve_status_str(g.st),
	    el, fakes[0].queries);
	UNIT_CHECK(g.st == RESOLVE_TIMEOUT);
	UNIT_CHECK(el >= 200 && el < 200 + 400 + 500);
	UNIT_CHECK(fakes[0].queries == 4);	/* A and AAAA, two tries each */
	resolver_free(r);
out:
	fake_stop();
	got_reset(&g, NULL);
}

/* Answers with the wrong id or to another question are dropped, also with the single-server
 * ARES_FLAG_NOCHECKRESP. */
static void
test_spoofed_ignored(void)
{
	static const enum fake_mode modes[] = { FAKE_WRONGID, FAKE_WRONGQ };
	struct resolver *r;
	struct got g;
	int count;
	size_t i;

	memset(&g, 0, sizeof(g));
	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		count = 0;
		got_reset(&g, &count);
		UNIT_CHECK((r = fake_start(AF_INET, modes[i], modes[i], modes[i], 150, 1)) != NULL);
		if (r == NULL)
			break;
		UNIT_CHECK(addrs(r, "spoof.test", &g) == 0);
		UNIT_CHECK(drive(r, &count, 1, 2000, 0) == 0);
		UNIT_CHECK(g.st == RESOLVE_TIMEOUT);
		UNIT_CHECK(g.n == 0);
		UNIT_CHECK(fakes[0].queries == 2);
		resolver_free(r);
		fake_stop();
	}
	fake_stop();
	got_reset(&g, NULL);
}

/* With two servers a failing one is skipped; when both fail, c-ares 1.18 reports
 * "could not contact" (RESOLVE_ERROR), later versions SERVFAIL. */
static void
test_failover(void)
{
	static const struct {
		enum fake_mode		 first, second;
		enum resolve_status	 want, or;
	} tc[] = {
		{ FAKE_SERVFAIL, FAKE_TWO, RESOLVE_OK, RESOLVE_OK },
		{ FAKE_REFUSED, FAKE_TWO, RESOLVE_OK, RESOLVE_OK },
		{ FAKE_DROP, FAKE_TWO, RESOLVE_OK, RESOLVE_OK },
		{ FAKE_SERVFAIL, FAKE_SERVFAIL, RESOLVE_SERVFAIL, RESOLVE_ERROR },
		{ FAKE_NXDOMAIN, FAKE_TWO, RESOLVE_NXDOMAIN, RESOLVE_NXDOMAIN },
	};
	struct resolver *r;
	struct got g;
	int count;
	size_t i;

	memset(&g, 0, sizeof(g));
	for (i = 0; i < sizeof(tc) / sizeof(tc[0]); i++) {
		count = 0;
		got_reset(&g, &count);
		UNIT_CHECK(fake_add(AF_INET, tc[i].first, tc[i].first, tc[i].first) == 0);
		UNIT_CHECK(fake_add(AF_INET, tc[i].second, tc[i].second, tc[i].second) == 1);
		UNIT_CHECK((r = fake_resolver(200, 2)) != NULL);
		if (r == NULL)
			break;
		UNIT_CHECK(addrs(r, "failover.test", &g) == 0);
		UNIT_CHECK(drive(r, &count, 1, 3000, 0) == 0);
		if (g.st != tc[i].want && g.st != tc[i].or)
			fprintf(stderr, "  # failover case %zu: %s\n", i, resolve_status_str(g.st));
		UNIT_CHECK(g.st == tc[i].want || g.st == tc[i].or);
		UNIT_CHECK(g.st != RESOLVE_OK || (g.n == 4 && got_has(&g, "10.0.0.2")));
		resolver_free(r);
		fake_stop();
	}
	fake_stop();
	got_reset(&g, NULL);
}

/* ---- cases: cancellation and re-entrancy ---- */

static void
test_cancel_on_free(void)
{
	struct resolver *r;
	struct got g[4];
	int count = 0, i;

	memset(g, 0, sizeof(g));
	for (i = 0; i < 4; i++)
		got_reset(&g[i], &count);
	UNIT_CHECK((r = fake_start(AF_INET, FAKE_DROP, FAKE_DROP, FAKE_DROP, 5000, 2)) != NULL);
	if (r == NULL)
		goto out;
	UNIT_CHECK(addrs(r, "a.test", &g[0]) == 0);
	UNIT_CHECK(txt(r, "b.test", &g[1]) == 0);
	UNIT_CHECK(addrs(r, "c.test", &g[2]) == 0);
	/* let the queries go out, then free with them in flight */
	UNIT_CHECK(drive(r, &count, 1, 200, 0) == -1);
	UNIT_CHECK(count == 0);
	UNIT_CHECK(fakes[0].queries == 5);
	UNIT_CHECK(addrs(r, "d.test", &g[3]) == 0);	/* never even sent */
	resolver_free(r);
	UNIT_CHECK(count == 4);
	for (i = 0; i < 4; i++) {
		UNIT_CHECK(g[i].calls == 1);
		UNIT_CHECK(g[i].st == RESOLVE_CANCELLED);
		UNIT_CHECK(g[i].n == 0);
	}
	UNIT_CHECK_STR(g[1].name, "b.test");
out:
	fake_stop();
	for (i = 0; i < 4; i++)
		got_reset(&g[i], NULL);
}

static void
test_free_from_callback(void)
{
	struct resolver *r;
	struct got g1, g2, g3;
	int count = 0;

	memset(&g1, 0, sizeof(g1));
	memset(&g2, 0, sizeof(g2));
	memset(&g3, 0, sizeof(g3));
	got_reset(&g1, &count);
	got_reset(&g2, &count);
	got_reset(&g3, &count);
	UNIT_CHECK((r = fake_start(AF_INET, FAKE_TWO, FAKE_TWO, FAKE_DROP, 5000, 2)) != NULL);
	if (r == NULL)
		goto out;
	g1.free_r = r;
	UNIT_CHECK(addrs(r, "free.test", &g1) == 0);
	UNIT_CHECK(txt(r, "pending.test", &g2) == 0);
	UNIT_CHECK(txt(r, "pending2.test", &g3) == 0);
	UNIT_CHECK(drive(r, &count, 3, 2000, 0) == 0);
	/* r is gone now */
	UNIT_CHECK(g1.st == RESOLVE_OK && g1.n == 4);
	UNIT_CHECK(g2.calls == 1 && g2.st == RESOLVE_CANCELLED);
	UNIT_CHECK(g3.calls == 1 && g3.st == RESOLVE_CANCELLED);
out:
	fake_stop();
	got_reset(&g1, NULL);
	got_reset(&g2, NULL);
	got_reset(&g3, NULL);
}

static void
test_chain_from_callback(void)
{
	struct resolver *r;
	struct got g1, g2;
	int count = 0;

	memset(&g1, 0, sizeof(g1));
	memset(&g2, 0, sizeof(g2));
	got_reset(&g1, &count);
	got_reset(&g2, &count);
	UNIT_CHECK((r = fake_start(AF_INET, FAKE_TWO, FAKE_NODATA, FAKE_TWO, 1000, 2)) != NULL);
	if (r == NULL)
		goto out;
	g1.chain_r = r;
	g1.chain_name = "_jfe-consent.chain.test";
	g1.chain_got = &g2;
	UNIT_CHECK(addrs(r, "chain.test", &g1) == 0);
	UNIT_CHECK(drive(r, &count, 2, 2000, 0) == 0);
	UNIT_CHECK(g1.st == RESOLVE_OK && g1.n == 2);
	UNIT_CHECK(got_has(&g1, "10.0.0.1") && got_has(&g1, "10.0.0.2"));
	UNIT_CHECK(g2.st == RESOLVE_OK && g2.n == 2);
	UNIT_CHECK_STR(g2.txt[0], "t000");
	UNIT_CHECK_STR(g2.txt[1], "t001");
	UNIT_CHECK_STR(g2.name, "_jfe-consent.chain.test");
	resolver_free(r);
out:
	fake_stop();
	got_reset(&g1, NULL);
	got_reset(&g2, NULL);
}

/* Out of file descriptors (a busy proxy): c-ares cannot open a socket and fails the query
 * inside ares_query(). The callback must still come later, from resolver_process(). */
static void
test_no_fds(void)
{
	static int held[1024];
	struct resolver *r;
	struct rlimit old, low;
	struct got g, g2;
	int count = 0, nheld = 0, fd, lowered = 0;

	memset(&g, 0, sizeof(g));
	memset(&g2, 0, sizeof(g2));
	got_reset(&g, &count);
	got_reset(&g2, &count);
	UNIT_CHECK((r = fake_start(AF_INET, FAKE_TWO, FAKE_TWO, FAKE_TWO, 200, 1)) != NULL);
	if (r == NULL)
		goto out;
	UNIT_CHECK(getrlimit(RLIMIT_NOFILE, &old) == 0);
	low = old;
	if (low.rlim_cur > 512)
		low.rlim_cur = 512;
	UNIT_CHECK(setrlimit(RLIMIT_NOFILE, &low) == 0);
	lowered = 1;
	while (nheld < 1024 && (fd = dup(fakes[0].ufd)) != -1)
		held[nheld++] = fd;
	UNIT_CHECK(errno == EMFILE);
	UNIT_CHECK(addrs(r, "nofd.test", &g) == 0);
	UNIT_CHECK(txt(r, "nofd.test", &g2) == 0);
	UNIT_CHECK(count == 0);
	UNIT_CHECK(resolver_timeout_ms(r) == 0);
	while (nheld > 0)
		close(held[--nheld]);
	UNIT_CHECK(drive(r, &count, 2, 1000, 0) == 0);
	UNIT_CHECK(g.in_submit == 0 && g2.in_submit == 0);
	UNIT_CHECK(g.st == RESOLVE_ERROR && g2.st == RESOLVE_ERROR);
	/* and it recovers */
	got_reset(&g, &count);
	count = 0;
	UNIT_CHECK(addrs(r, "nofd.test", &g) == 0);
	UNIT_CHECK(drive(r, &count, 1, 1000, 0) == 0);
	UNIT_CHECK(g.st == RESOLVE_OK && g.n == 4);
	resolver_free(r);
out:
	while (nheld > 0)
		close(held[--nheld]);
	if (lowered)
		setrlimit(RLIMIT_NOFILE, &old);
	fake_stop();
	got_reset(&g, NULL);
	got_reset(&g2, NULL);
}

static void
test_pending_cap(void)
{
	static struct got g[RESOLVE_MAX_PENDING + 1];
	struct resolver *r;
	char name[32];
	int count = 0, i, ok = 1;

	for (i = 0; i <= RESOLVE_MAX_PENDING; i++)
		got_reset(&g[i], &count);
	UNIT_CHECK((r = fake_start(AF_INET, FAKE_DROP, FAKE_DROP, FAKE_DROP, 5000, 1)) != NULL);
	if (r == NULL)
		goto out;
	for (i = 0; i < RESOLVE_MAX_PENDING; i++) {
		snprintf(name, sizeof(name), "n%d.test", i);
		if (addrs(r, name, &g[i]) != 0)
			ok = 0;
	}
	UNIT_CHECK(ok);
	UNIT_CHECK(txt(r, "one-too-many.test", &g[RESOLVE_MAX_PENDING]) == -1);
	resolver_free(r);
	UNIT_CHECK(count == RESOLVE_MAX_PENDING);
	UNIT_CHECK(g[RESOLVE_MAX_PENDING].calls == 0);
out:
	fake_stop();
	for (i = 0; i <= RESOLVE_MAX_PENDING; i++)
		got_reset(&g[i], NULL);
}

/* ---- cases: what servers answer ---- */

struct addr_case {
	enum fake_mode		 a, aaaa;
	enum resolve_status	 want;
	size_t			 n4, n6;
};

static void
test_answers(void)
{
	static const struct addr_case cases[] = {
		{ FAKE_TWO, FAKE_TWO, RESOLVE_OK, 2, 2 },
		{ FAKE_TWO, FAKE_NODATA, RESOLVE_OK, 2, 0 },
		{ FAKE_NODATA, FAKE_TWO, RESOLVE_OK, 0, 2 },
		{ FAKE_TWO, FAKE_SERVFAIL, RESOLVE_OK, 2, 0 },
		{ FAKE_GARBAGE, FAKE_TWO, RESOLVE_OK, 0, 2 },
		{ FAKE_NXDOMAIN, FAKE_NXDOMAIN, RESOLVE_NXDOMAIN, 0, 0 },
		{ FAKE_NODATA, FAKE_NODATA, RESOLVE_NODATA, 0, 0 },
		{ FAKE_NODATA, FAKE_NXDOMAIN, RESOLVE_NODATA, 0, 0 },
		{ FAKE_SERVFAIL, FAKE_SERVFAIL, RESOLVE_SERVFAIL, 0, 0 },
		{ FAKE_NXDOMAIN, FAKE_SERVFAIL, RESOLVE_SERVFAIL, 0, 0 },
		{ FAKE_NODATA, FAKE_DROP, RESOLVE_TIMEOUT, 0, 0 },
		{ FAKE_REFUSED, FAKE_REFUSED, RESOLVE_ERROR, 0, 0 },
		{ FAKE_GARBAGE, FAKE_GARBAGE, RESOLVE_ERROR, 0, 0 },
		{ FAKE_MANY, FAKE_MANY, RESOLVE_OK, 16, 16 },
		{ FAKE_MANY, FAKE_TWO, RESOLVE_OK, 30, 2 },
		{ FAKE_TWO, FAKE_MANY, RESOLVE_OK, 2, 30 },
		{ FAKE_MANY, FAKE_NODATA, RESOLVE_OK, 32, 0 },
	};
	struct resolver *r;
	struct got g;
	size_t i;
	int count;

	memset(&g, 0, sizeof(g));
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		count = 0;
		got_reset(&g, &count);
		r = fake_start(AF_INET, cases[i].a, cases[i].aaaa, FAKE_DROP, 150, 1);
		UNIT_CHECK(r != NULL);
		if (r == NULL) {
			fake_stop();
			continue;
		}
		UNIT_CHECK(addrs(r, "case.test", &g) == 0);
		UNIT_CHECK(drive(r, &count, 1, 2000, (int)(i & 1)) == 0);
		if (g.st != cases[i].want || got_count(&g, AF_INET) != cases[i].n4 ||
		    got_count(&g, AF_INET6) != cases[i].n6) {
			fprintf(stderr, "  # case %zu: %s %zu+%zu, want %s %zu+%zu\n", i,
			    resolve_status_str(g.st), got_count(&g, AF_INET),
			    got_count(&g, AF_INET6), resolve_status_str(cases[i].want),
			    cases[i].n4, cases[i].n6);
			unit_case_failed = 1;
		}
		if (cases[i].a == FAKE_MANY || cases[i].aaaa == FAKE_MANY)
			UNIT_CHECK(fakes[0].tcp_queries > 0);
		if (cases[i].n4 > 0)
			UNIT_CHECK(got_has(&g, "10.0.0.1"));
		if (cases[i].n6 > 0)
			UNIT_CHECK(got_has(&g, "fd00::1"));
		resolver_free(r);
		fake_stop();
	}
	got_reset(&g, NULL);
}

static void
test_txt_answers(void)
{
	static const struct {
		enum fake_mode		 m;
		enum resolve_status	 want;
	} tc[] = { { FAKE_NODATA, RESOLVE_NODATA }, { FAKE_NXDOMAIN, RESOLVE_NXDOMAIN },
	    { FAKE_SERVFAIL, RESOLVE_SERVFAIL }, { FAKE_GARBAGE, RESOLVE_ERROR },
	    { FAKE_TWO, RESOLVE_OK } };
	struct resolver *r;
	struct got g;
	int count = 0;
	size_t i;

	memset(&g, 0, sizeof(g));
	got_reset(&g, &count);
	UNIT_CHECK((r = fake_start(AF_INET, FAKE_DROP, FAKE_DROP, FAKE_TXT_EDGE, 500, 1)) != NULL);
	if (r == NULL)
		goto out;
	UNIT_CHECK(txt(r, "edge.test", &g) == 0);
	UNIT_CHECK(drive(r, &count, 1, 2000, 0) == 0);
	/* "hello", "ab"+"cd", the empty record; not "ev\0il", not the 2295-byte one */
	UNIT_CHECK(g.st == RESOLVE_OK);
	UNIT_CHECK(g.n == 3);
	UNIT_CHECK_STR(g.txt[0], "hello");
	UNIT_CHECK_STR(g.txt[1], "abcd");
	UNIT_CHECK_STR(g.txt[2], "");
	resolver_free(r);
	fake_stop();

	count = 0;
	got_reset(&g, &count);
	UNIT_CHECK((r = fake_start(AF_INET, FAKE_DROP, FAKE_DROP, FAKE_MANY, 500, 1)) != NULL);
	if (r == NULL)
		goto out;
	UNIT_CHECK(txt(r, "many.test", &g) == 0);
	UNIT_CHECK(drive(r, &count, 1, 2000, 1) == 0);
	UNIT_CHECK(g.st == RESOLVE_OK && g.n == RESOLVE_MAX_TXT);
	UNIT_CHECK_STR(g.txt[31], "t031");
	resolver_free(r);
	fake_stop();

	for (i = 0; i < sizeof(tc) / sizeof(tc[0]); i++) {
		count = 0;
		got_reset(&g, &count);
		/* the A answers must not be taken for TXT */
		r = fake_start(AF_INET, FAKE_TWO, FAKE_TWO, tc[i].m, 300, 1);
		UNIT_CHECK(r != NULL);
		if (r == NULL)
			goto out;
		UNIT_CHECK(txt(r, "t.test", &g) == 0);
		UNIT_CHECK(drive(r, &count, 1, 2000, 0) == 0);
		if (g.st != tc[i].want)
			fprintf(stderr, "  # TXT case %zu: %s\n", i, resolve_status_str(g.st));
		UNIT_CHECK(g.st == tc[i].want);
		resolver_free(r);
		fake_stop();
	}
out:
	fake_stop();
	got_reset(&g, NULL);
}

static void
test_ipv6_server(void)
{
	struct resolver *r;
	struct got g;
	int count = 0, fd;
	unsigned port;

	memset(&g, 0, sizeof(g));
	got_reset(&g, &count);
	if ((fd = udp_socket(AF_INET6, &port)) == -1) {
		fprintf(stderr, "  # no IPv6 loopback here: skipped\n");
		return;
	}
	close(fd);
	UNIT_CHECK((r = fake_start(AF_INET6, FAKE_TWO, FAKE_TWO, FAKE_DROP, 500, 1)) != NULL);
	if (r == NULL)
		goto out;
	UNIT_CHECK(addrs(r, "v6.test", &g) == 0);
	UNIT_CHECK(drive(r, &count, 1, 2000, 0) == 0);
	UNIT_CHECK(g.st == RESOLVE_OK && g.n == 4);
	resolver_free(r);
out:
	fake_stop();
	got_reset(&g, NULL);
}

/* ---- cases: NS lookups, the zone's nameservers, direct queries ---- */

struct got_ns {
	int			 calls;
	int			 in_submit;
	enum resolve_status	 st;
	size_t			 n;
	char			 host[4][64];
	int			*counter;
};

static void
ns_done(void *arg, const char *name, enum resolve_status st, char **hosts, size_t n)
{
	struct got_ns *g = arg;
	size_t i;

	(void)name;
	g->calls++;
	g->in_submit |= submitting;
	g->st = st;
	g->n = n;
	UNIT_CHECK(st == RESOLVE_OK ? n > 0 && hosts != NULL : n == 0);
	for (i = 0; i < n && i < 4; i++)
		snprintf(g->host[i], sizeof(g->host[i]), "%s", hosts[i]);
	if (g->counter != NULL)
		(*g->counter)++;
}

static int
ns(struct resolver *r, const char *name, struct got_ns *g)
{
	int rc;

	submitting = 1;
	rc = resolve_ns(r, name, ns_done, g);
	submitting = 0;
	return rc;
}

struct got_zone {
	int			 calls;
	int			 in_submit;
	struct resolve_zone	 z;
	int			*counter;
};

static void
zone_done(void *arg, const char *name, const struct resolve_zone *z)
{
	struct got_zone *g = arg;

	(void)name;
	g->calls++;
	g->in_submit |= submitting;
	g->z = *z;
	if (g->counter != NULL)
		(*g->counter)++;
}

static int
zone(struct resolver *r, const char *name, struct got_zone *g)
{
	int rc;

	submitting = 1;
	rc = resolve_zone_servers(r, name, zone_done, g);
	submitting = 0;
	return rc;
}

static size_t
ns_count(const struct resolve_nameserver *ns, int family)
{
	size_t i, c = 0;

	for (i = 0; i < ns->naddr; i++)
		if (ns->addr[i].ss_family == family)
			c++;
	return c;
}

static void
test_ns(void)
{
	struct resolver *r;
	struct got_ns g;
	int count = 0;

	memset(&g, 0, sizeof(g));
	g.counter = &count;
	if (fake_add(AF_INET, FAKE_DROP, FAKE_DROP, FAKE_DROP) == -1 ||
	    (r = fake_resolver(500, 1)) == NULL) {
		UNIT_CHECK(0);
		fake_stop();
		return;
	}
	fakes[0].ns = FAKE_ZONE;
	fakes[0].zone = "z.test";
	fakes[0].nsnames[0] = "ns1.z.test";
	fakes[0].nsnames[1] = "ns2.elsewhere.test";
	UNIT_CHECK(ns(r, "Z.TEST.", &g) == 0);
	UNIT_CHECK(drive(r, &count, 1, 2000, 0) == 0);
	UNIT_CHECK(g.calls == 1 && g.in_submit == 0);
	UNIT_CHECK(g.st == RESOLVE_OK && g.n == 2);
	UNIT_CHECK_STR(g.host[0], "ns1.z.test");
	UNIT_CHECK_STR(g.host[1], "ns2.elsewhere.test");
	/* below the apex: no such name / no NS there */
	UNIT_CHECK(ns(r, "_acme-challenge.z.test", &g) == 0);
	UNIT_CHECK(drive(r, &count, 2, 2000, 0) == 0);
	UNIT_CHECK(g.st == RESOLVE_NXDOMAIN && g.n == 0);
	UNIT_CHECK(ns(r, "www.z.test", &g) == 0);
	UNIT_CHECK(drive(r, &count, 3, 2000, 0) == 0);
	UNIT_CHECK(g.st == RESOLVE_NODATA && g.n == 0);
	/* an alias is no zone apex, whatever NS the answer carries for its target */
	fakes[0].ns = FAKE_CNAME;
	UNIT_CHECK(ns(r, "www.z.test", &g) == 0);
	UNIT_CHECK(drive(r, &count, 4, 2000, 0) == 0);
	UNIT_CHECK(g.st == RESOLVE_NODATA && g.n == 0);
	/* a resolver that will not answer NS */
	fakes[0].ns = FAKE_REFUSED;
	UNIT_CHECK(ns(r, "z.test", &g) == 0);
	UNIT_CHECK(drive(r, &count, 5, 2000, 0) == 0);
	UNIT_CHECK(g.st == RESOLVE_ERROR);
	fakes[0].ns = FAKE_GARBAGE;
	UNIT_CHECK(ns(r, "z.test", &g) == 0);
	UNIT_CHECK(drive(r, &count, 6, 2000, 0) == 0);
	UNIT_CHECK(g.st == RESOLVE_ERROR);
	/* the resolver asks with recursion desired */
	UNIT_CHECK(fakes[0].rd == 6 && fakes[0].nord == 0);
	UNIT_CHECK(resolve_ns(r, "z.test", NULL, NULL) == -1);
	UNIT_CHECK(ns(r, "bad name", &g) == -1);
	resolver_free(r);
	fake_stop();
}

static void
test_zone_servers(void)
{
	struct resolver *r;
	struct got_zone g;
	int count = 0;

	memset(&g, 0, sizeof(g));
	g.counter = &count;
	if (fake_add(AF_INET, FAKE_MAP, FAKE_NODATA, FAKE_DROP) == -1 ||
	    (r = fake_resolver(500, 1)) == NULL) {
		UNIT_CHECK(0);
		fake_stop();
		return;
	}
	fakes[0].ns = FAKE_ZONE;
	fakes[0].zone = "z.test";
	fakes[0].nsnames[0] = "ns1.z.test";
	fakes[0].nsnames[1] = "ns2.z.test";
	fakes[0].nsnames[2] = "NS1.z.test";	/* the same host again */
	fakes[0].map[0][0] = "ns1.z.test";
	fakes[0].map[0][1] = "10.0.0.53";

	/* walks up: _acme-challenge.a.www.z.test (NXDOMAIN), a.www.z.test and www.z.test (no
	 * NS), z.test (NS); then A/AAAA of each nameserver once */
	UNIT_CHECK(zone(r, "_acme-challenge.a.www.z.test.", &g) == 0);
	UNIT_CHECK(drive(r, &count, 1, 3000, 0) == 0);
	UNIT_CHECK(g.calls == 1 && g.in_submit == 0);
	UNIT_CHECK(g.z.status == RESOLVE_OK);
	UNIT_CHECK_STR(g.z.zone, "z.test");
	UNIT_CHECK(g.z.nns == 2);
	UNIT_CHECK_STR(g.z.ns[0].host, "ns1.z.test");
	UNIT_CHECK(g.z.ns[0].status == RESOLVE_OK && g.z.ns[0].naddr == 1);
	UNIT_CHECK(g.z.ns[0].addr[0].ss_family == AF_INET);
	{
		char ip[INET6_ADDRSTRLEN];

		UNIT_CHECK_STR(resolve_addr_str((struct sockaddr *)&g.z.ns[0].addr[0], ip,
		    sizeof(ip)), "10.0.0.53");
	}
	UNIT_CHECK_STR(g.z.ns[1].host, "ns2.z.test");
	/* A: no such name, AAAA: no data; the name exists after all */
	UNIT_CHECK(g.z.ns[1].status == RESOLVE_NODATA && g.z.ns[1].naddr == 0);
	UNIT_CHECK(fakes[0].queries == 4 + 2 * 2);

	/* many addresses: two of each family kept */
	fakes[0].a = FAKE_MANY;
	fakes[0].aaaa = FAKE_MANY;
	UNIT_CHECK(zone(r, "z.test", &g) == 0);
	UNIT_CHECK(drive(r, &count, 2, 3000, 0) == 0);
	UNIT_CHECK(g.z.status == RESOLVE_OK && g.z.nns == 2);
	UNIT_CHECK(g.z.ns[0].naddr == RESOLVE_NS_MAX_ADDRS);
	UNIT_CHECK(ns_count(&g.z.ns[0], AF_INET) == 2 && ns_count(&g.z.ns[0], AF_INET6) == 2);
	/* one family only: it fills every place */
	fakes[0].aaaa = FAKE_NODATA;
	UNIT_CHECK(zone(r, "z.test", &g) == 0);
	UNIT_CHECK(drive(r, &count, 3, 3000, 0) == 0);
	UNIT_CHECK(g.z.ns[1].naddr == RESOLVE_NS_MAX_ADDRS);
	UNIT_CHECK(ns_count(&g.z.ns[1], AF_INET) == RESOLVE_NS_MAX_ADDRS);

	/* no zone anywhere: stops before the top-level domain */
	fakes[0].ns = FAKE_NODATA;
	fakes[0].queries = 0;
	UNIT_CHECK(zone(r, "_acme-challenge.www.z.test", &g) == 0);
	UNIT_CHECK(drive(r, &count, 4, 3000, 0) == 0);
	UNIT_CHECK(g.z.status == RESOLVE_NODATA && g.z.nns == 0);
	UNIT_CHECK(fakes[0].queries == 3);
	/* aliases all the way up */
	fakes[0].ns = FAKE_CNAME;
	UNIT_CHECK(zone(r, "www.z.test", &g) == 0);
	UNIT_CHECK(drive(r, &count, 5, 3000, 0) == 0);
	UNIT_CHECK(g.z.status == RESOLVE_NODATA);
	/* a resolver that cannot answer NS: its failure, no walking */
	fakes[0].ns = FAKE_SERVFAIL;
	fakes[0].queries = 0;
	UNIT_CHECK(zone(r, "_acme-challenge.www.z.test", &g) == 0);
	UNIT_CHECK(drive(r, &count, 6, 3000, 0) == 0);
	UNIT_CHECK(g.z.status == RESOLVE_SERVFAIL && fakes[0].queries == 1);
	fakes[0].ns = FAKE_DROP;
	UNIT_CHECK(zone(r, "www.z.test", &g) == 0);
	UNIT_CHECK(drive(r, &count, 7, 3000, 0) == 0);
	UNIT_CHECK(g.z.status == RESOLVE_TIMEOUT);

	/* cancelled, once, by resolver_free() in the middle of the address lookups */
	fakes[0].ns = FAKE_ZONE;
	fakes[0].a = FAKE_DROP;
	UNIT_CHECK(zone(r, "z.test", &g) == 0);
	UNIT_CHECK(drive(r, &count, 8, 300, 0) == -1);	/* the A lookups hang */
	resolver_free(r);
	UNIT_CHECK(count == 8 && g.calls == 8);
	UNIT_CHECK(g.z.status == RESOLVE_CANCELLED);
	UNIT_CHECK(resolve_zone_servers(NULL, "z.test", zone_done, &g) == -1);
	fake_stop();
}

static void
test_txt_at(void)
{
	struct sockaddr_in sin[RESOLVE_MAX_DIRECT + 1];
	int ufd[RESOLVE_MAX_DIRECT + 1];
	const char *const servers[] = { "127.0.0.1:9" };
	struct resolver *r = NULL;
	struct sockaddr_un sun;
	struct got g, g2;
	unsigned port;
	int count = 0, i;

	memset(&g, 0, sizeof(g));
	memset(&g2, 0, sizeof(g2));
	got_reset(&g, &count);
	got_reset(&g2, &count);
	for (i = 0; i <= RESOLVE_MAX_DIRECT; i++)
		ufd[i] = -1;
	/* two servers; the resolver's own (a closed port) is never asked */
	if (fake_add(AF_INET, FAKE_DROP, FAKE_DROP, FAKE_TWO) == -1 ||
	    fake_add(AF_INET, FAKE_DROP, FAKE_DROP, FAKE_SERVFAIL) == -1 ||
	    (r = resolver_new(servers, 1, 300, 1)) == NULL) {
		UNIT_CHECK(0);
		goto out;
	}
	memset(sin, 0, sizeof(sin));
	for (i = 0; i < 2; i++) {
		sin[i].sin_family = AF_INET;
		sin[i].sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sin[i].sin_port = htons((uint16_t)fakes[i].port);
	}
	submitting = 1;
	UNIT_CHECK(resolve_txt_at(r, (struct sockaddr *)&sin[0], "_acme-challenge.z.test",
	    resolve_txt_done, &g) == 0);
	UNIT_CHECK(resolve_txt_at(r, (struct sockaddr *)&sin[1], "_acme-challenge.z.test",
	    resolve_txt_done, &g2) == 0);
	submitting = 0;
	UNIT_CHECK(drive(r, &count, 2, 2000, 0) == 0);
	UNIT_CHECK(g.in_submit == 0 && g2.in_submit == 0);
	UNIT_CHECK(g.st == RESOLVE_OK && g.n == 2);
	UNIT_CHECK_STR(g.txt[0], "t000");
	UNIT_CHECK(g2.st == RESOLVE_SERVFAIL);
	/* recursion off: what the server itself holds */
	UNIT_CHECK(fakes[0].nord == 1 && fakes[0].rd == 0);
	UNIT_CHECK(fakes[1].nord == 1 && fakes[1].rd == 0);
	/* again on the open channel; a dropped query times out */
	fakes[0].txt = FAKE_DROP;
	UNIT_CHECK(resolve_txt_at(r, (struct sockaddr *)&sin[0], "x.z.test", resolve_txt_done,
	    &g) == 0);
	UNIT_CHECK(drive(r, &count, 3, 2000, 0) == 0);
	UNIT_CHECK(g.st == RESOLVE_TIMEOUT);
	UNIT_CHECK(fakes[0].nord == 2);

	/* bad servers */
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	UNIT_CHECK(resolve_txt_at(r, (struct sockaddr *)&sun, "z.test", resolve_txt_done,
	    &g) == -1);
	UNIT_CHECK(resolve_txt_at(r, NULL, "z.test", resolve_txt_done, &g) == -1);
	UNIT_CHECK(resolve_txt_at(r, (struct sockaddr *)&sin[0], "bad name", resolve_txt_done,
	    &g) == -1);

	/* RESOLVE_MAX_DIRECT servers that never answer keep their channels busy: one more is
	 * refused; once they are done, idle channels make room */
	for (i = 0; i <= RESOLVE_MAX_DIRECT; i++) {
		if ((ufd[i] = udp_socket(AF_INET, &port)) == -1)
			break;
		sin[i].sin_family = AF_INET;
		sin[i].sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sin[i].sin_port = htons((uint16_t)port);
	}
	UNIT_CHECK(i == RESOLVE_MAX_DIRECT + 1);
	count = 0;
	for (i = 0; i < RESOLVE_MAX_DIRECT; i++)
		UNIT_CHECK(resolve_txt_at(r, (struct sockaddr *)&sin[i], "z.test",
		    resolve_txt_done, &g) == 0);
	UNIT_CHECK(resolve_txt_at(r, (struct sockaddr *)&sin[RESOLVE_MAX_DIRECT], "z.test",
	    resolve_txt_done, &g) == -1);
	UNIT_CHECK(drive(r, &count, RESOLVE_MAX_DIRECT, 3000, 0) == 0);
	UNIT_CHECK(g.st == RESOLVE_TIMEOUT);
	UNIT_CHECK(resolve_txt_at(r, (struct sockaddr *)&sin[RESOLVE_MAX_DIRECT], "z.test",
	    resolve_txt_done, &g) == 0);
	/* and resolver_free() cancels a direct query */
	resolver_free(r);
	r = NULL;
	UNIT_CHECK(count == RESOLVE_MAX_DIRECT + 1 && g.st == RESOLVE_CANCELLED);
out:
	resolver_free(r);
	for (i = 0; i <= RESOLVE_MAX_DIRECT; i++)
		if (ufd[i] != -1)
			close(ufd[i]);
	fake_stop();
	got_reset(&g, NULL);
	got_reset(&g2, NULL);
}

/* ---- cases: DNS-01 confirmation on every authoritative nameserver ---- */

struct wait_result {
	int	calls;
	int	ok;
	char	why[1024];
};

static void
wait_done(void *arg, int ok, const char *why)
{
	struct wait_result *w = arg;

	w->calls++;
	w->ok = ok;
	snprintf(w->why, sizeof(w->why), "%s", why != NULL ? why : "");
}

static struct timer_heap heap;

/* Runs <r> and the timers until <*flag> >= <want> or <limit_ms> passes (-1). */
static int
drive_wait(struct resolver *r, const int *flag, int want, int limit_ms)
{
	long long deadline = clock_ms() + limit_ms;
	struct pollfd pfd[RESOLVE_MAX_FDS + FAKE_POLLFDS];
	int fds[RESOLVE_MAX_FDS], n, i, t, tt, nf;
	unsigned ev[RESOLVE_MAX_FDS];
	struct timer *tm;

	while (*flag < want) {
		if (clock_ms() >= deadline)
			return -1;
		n = resolver_fds(r, fds, ev, RESOLVE_MAX_FDS);
		for (i = 0; i < n; i++) {
			pfd[i].fd = fds[i];
			pfd[i].events = (short)(((ev[i] & RESOLVE_WANT_READ) ? POLLIN : 0) |
			    ((ev[i] & RESOLVE_WANT_WRITE) ? POLLOUT : 0));
			pfd[i].revents = 0;
		}
		nf = fake_pollfds(pfd + n);
		t = timer_next_wait(&heap, now_ms(), 50);
		tt = resolver_timeout_ms(r);
		if (tt >= 0 && tt < t)
			t = tt;
		if (poll(pfd, (nfds_t)(n + nf), t) == -1 && errno != EINTR)
			return -1;
		fake_serve(pfd + n);
		for (i = 0; i < n; i++) {
			unsigned re = 0;

			if (pfd[i].revents & (POLLIN | POLLERR | POLLHUP))
				re |= RESOLVE_WANT_READ;
			if (pfd[i].revents & POLLOUT)
				re |= RESOLVE_WANT_WRITE;
			if (re != 0)
				resolver_process(r, fds[i], re);
		}
		resolver_process(r, -1, 0);
		while ((tm = timer_pop_due(&heap, now_ms())) != NULL)
			((struct evtimer *)tm)->fn((struct evtimer *)tm);
	}
	return 0;
}

#define TXT_VALUE "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0"

/* The resolver (127.0.0.1) knows zone z.test: ns1.z.test at 127.0.0.2 and ns2.z.test at
 * 127.0.0.3, both authoritative fakes on one port (NS records cannot name a port); fakes[1]
 * and fakes[2]. NULL when the sockets cannot be had. */
static struct resolver *
auth_bed(unsigned *port)
{
	struct resolver *r = NULL;
	int attempt;

	for (attempt = 0; attempt < 10 && r == NULL; attempt++) {
		fake_stop();
		fixed_port = 0;
		lo_ip4 = "127.0.0.1";
		if (fake_add(AF_INET, FAKE_MAP, FAKE_NODATA, FAKE_VALUE) == -1)
			break;
		fakes[0].ns = FAKE_ZONE;
		fakes[0].zone = "z.test";
		fakes[0].nsnames[0] = "ns1.z.test";
		fakes[0].nsnames[1] = "ns2.z.test";
		fakes[0].map[0][0] = "ns1.z.test";
		fakes[0].map[0][1] = "127.0.0.2";
		fakes[0].map[1][0] = "ns2.z.test";
		fakes[0].map[1][1] = "127.0.0.3";
		lo_ip4 = "127.0.0.2";
		if (fake_add(AF_INET, FAKE_DROP, FAKE_DROP, FAKE_VALUE) == -1)
			continue;
		fixed_port = fakes[1].port;
		lo_ip4 = "127.0.0.3";
		if (fake_add(AF_INET, FAKE_DROP, FAKE_DROP, FAKE_VALUE) == -1)
			continue;	/* that port is taken there: another one */
		lo_ip4 = "127.0.0.1";
		fixed_port = 0;
		*port = fakes[1].port;
		/* only the resolver's address: resolver_new gets fakes[0] alone */
		{
			const char *one[1] = { fakes[0].server };

			r = resolver_new(one, 1, 300, 2);
		}
	}
	lo_ip4 = "127.0.0.1";
	fixed_port = 0;
	return r;
}

static void
test_dns01_every_nameserver(void)
{
	struct dns01_check chk = { .timeout_ms = 10000 };
	struct wait_result w;
	struct resolver *r;

	memset(&w, 0, sizeof(w));
	if ((r = auth_bed(&chk.port)) == NULL) {
		UNIT_CHECK(0);
		fake_stop();
		return;
	}
	/* ns1 has the value, ns2 lags */
	fakes[1].value = TXT_VALUE;
	UNIT_CHECK(dns01_wait_visible(r, &heap, "_acme-challenge.www.z.test", TXT_VALUE, &chk,
	    wait_done, &w) == 0);
	UNIT_CHECK(w.calls == 0);
	/* ns2 is asked again and again while it lags; no verdict meanwhile */
	UNIT_CHECK(drive_wait(r, &fakes[2].nord, 2, 5000) == 0);
	UNIT_CHECK(w.calls == 0);
	UNIT_CHECK(fakes[1].nord == 1);		/* ns1 had it: not asked again */
	UNIT_CHECK(fakes[1].rd == 0 && fakes[2].rd == 0);
	fakes[2].value = TXT_VALUE;
	UNIT_CHECK(drive_wait(r, &w.calls, 1, 5000) == 0);
	UNIT_CHECK(w.calls == 1 && w.ok == 1);
	/* the resolver itself was never asked for the TXT record */
	UNIT_CHECK(fakes[0].nord == 0);
	resolver_free(r);
	fake_stop();
}

static void
test_dns01_lagging_times_out(void)
{
	struct dns01_check chk = { .timeout_ms = 1500 };
	struct wait_result w;
	struct resolver *r;

	memset(&w, 0, sizeof(w));
	if ((r = auth_bed(&chk.port)) == NULL) {
		UNIT_CHECK(0);
		fake_stop();
		return;
	}
	/* ns2 holds an old value only: the CA could be told that one */
	fakes[1].value = TXT_VALUE;
	fakes[2].value = "an-older-value";
	/* the resolver has it, so did the old check: not enough */
	UNIT_CHECK(dns01_wait_visible(r, &heap, "_acme-challenge.z.test", TXT_VALUE, &chk,
	    wait_done, &w) == 0);
	UNIT_CHECK(drive_wait(r, &w.calls, 1, 5000) == 0);
	UNIT_CHECK(w.calls == 1 && w.ok == 0);
	if (strstr(w.why, "ns2.z.test 127.0.0.3 (other values only)") == NULL ||
	    strstr(w.why, "1 of 2") == NULL || strstr(w.why, "ns1.z.test") != NULL)
		fprintf(stderr, "  # why: %s\n", w.why);
	UNIT_CHECK(strstr(w.why, "ns2.z.test 127.0.0.3 (other values only)") != NULL);
	UNIT_CHECK(strstr(w.why, "1 of 2") != NULL && strstr(w.why, "ns1.z.test") == NULL);

	/* a nameserver that does not answer at all is waited for too */
	memset(&w, 0, sizeof(w));
	fakes[2].txt = FAKE_DROP;
	UNIT_CHECK(dns01_wait_visible(r, &heap, "_acme-challenge.z.test", TXT_VALUE, &chk,
	    wait_done, &w) == 0);
	UNIT_CHECK(drive_wait(r, &w.calls, 1, 5000) == 0);
	UNIT_CHECK(w.calls == 1 && w.ok == 0);
	UNIT_CHECK(strstr(w.why, "ns2.z.test 127.0.0.3 (timeout)") != NULL);
	resolver_free(r);
	fake_stop();
}

static void
test_dns01_fallback(void)
{
	struct dns01_check chk = { .timeout_ms = 3000 };
	struct wait_result w;
	struct resolver *r;

	memset(&w, 0, sizeof(w));
	if ((r = auth_bed(&chk.port)) == NULL) {
		UNIT_CHECK(0);
		fake_stop();
		return;
	}
	fakes[0].value = TXT_VALUE;	/* the resolver has it; ns2 does not */
	fakes[1].value = TXT_VALUE;

	/* --dns-propagation-check resolver: only the resolver is asked */
	chk.resolver_only = 1;
	UNIT_CHECK(dns01_wait_visible(r, &heap, "_acme-challenge.z.test", TXT_VALUE, &chk,
	    wait_done, &w) == 0);
	UNIT_CHECK(drive_wait(r, &w.calls, 1, 5000) == 0);
	UNIT_CHECK(w.calls == 1 && w.ok == 1);
	UNIT_CHECK(fakes[1].queries == 0 && fakes[2].queries == 0);
	chk.resolver_only = 0;

	/* a resolver that cannot answer NS: the resolver's word is taken */
	memset(&w, 0, sizeof(w));
	fakes[0].ns = FAKE_REFUSED;
	UNIT_CHECK(dns01_wait_visible(r, &heap, "_acme-challenge.z.test", TXT_VALUE, &chk,
	    wait_done, &w) == 0);
	UNIT_CHECK(drive_wait(r, &w.calls, 1, 5000) == 0);
	UNIT_CHECK(w.calls == 1 && w.ok == 1);
	UNIT_CHECK(fakes[1].queries == 0 && fakes[2].queries == 0);

	/* nameservers without any address: likewise */
	memset(&w, 0, sizeof(w));
	fakes[0].ns = FAKE_ZONE;
	fakes[0].map[0][0] = fakes[0].map[1][0] = NULL;
	UNIT_CHECK(dns01_wait_visible(r, &heap, "_acme-challenge.z.test", TXT_VALUE, &chk,
	    wait_done, &w) == 0);
	UNIT_CHECK(drive_wait(r, &w.calls, 1, 5000) == 0);
	UNIT_CHECK(w.calls == 1 && w.ok == 1);
	UNIT_CHECK(fakes[1].queries == 0 && fakes[2].queries == 0);

	/* and when the resolver does not have it either, the deadline still holds */
	memset(&w, 0, sizeof(w));
	fakes[0].value = NULL;
	chk.timeout_ms = 500;
	UNIT_CHECK(dns01_wait_visible(r, &heap, "_acme-challenge.z.test", TXT_VALUE, &chk,
	    wait_done, &w) == 0);
	UNIT_CHECK(drive_wait(r, &w.calls, 1, 5000) == 0);
	UNIT_CHECK(w.calls == 1 && w.ok == 0 && strstr(w.why, "not visible") != NULL);
	resolver_free(r);
	fake_stop();
}

static void
test_dns01_cancel(void)
{
	struct dns01_check chk = { .timeout_ms = 10000 };
	struct wait_result w1, w2;
	struct resolver *r;
	int rd0;

	memset(&w1, 0, sizeof(w1));
	memset(&w2, 0, sizeof(w2));
	if ((r = auth_bed(&chk.port)) == NULL) {
		UNIT_CHECK(0);
		fake_stop();
		return;
	}
	fakes[1].value = TXT_VALUE;
	fakes[2].txt = FAKE_DROP;	/* a query to ns2 is always in flight */
	UNIT_CHECK(dns01_wait_visible(r, &heap, "_acme-challenge.z.test", TXT_VALUE, &chk,
	    wait_done, &w1) == 0);
	UNIT_CHECK(drive_wait(r, &fakes[2].nord, 1, 5000) == 0);
	/* another between two polls (through the resolver, which lacks the value): waiting
	 * on its timer when jfe stops */
	fakes[0].ns = FAKE_REFUSED;
	rd0 = fakes[0].rd;
	UNIT_CHECK(dns01_wait_visible(r, &heap, "_acme-challenge.www.z.test", TXT_VALUE, &chk,
	    wait_done, &w2) == 0);
	UNIT_CHECK(drive_wait(r, &fakes[0].rd, 10000, 300) == -1);	/* w2 sleeps */
	UNIT_CHECK(fakes[0].rd == rd0 + 2);	/* its NS and TXT queries */
	UNIT_CHECK(w1.calls == 0 && w2.calls == 0);
	/* agent_stop(): the resolver first, then the waits between polls */
	resolver_free(r);
	UNIT_CHECK(w1.calls == 1 && w1.ok == 0 && strcmp(w1.why, "cancelled") == 0);
	UNIT_CHECK(w2.calls == 0);
	dns01_cancel_all();
	UNIT_CHECK(w2.calls == 1 && w2.ok == 0 && strcmp(w2.why, "cancelled") == 0);
	UNIT_CHECK(timer_next_wait(&heap, now_ms(), 1000) == 1000);	/* nothing left armed */
	fake_stop();
}

/* ---- cases: pebble-challtestsrv ---- */

static pid_t cts_pid = -1;
static unsigned cts_dns, cts_mgmt;

static void
cts_stop(void)
{
	int i, status;

	if (cts_pid <= 0)
		return;
	kill(cts_pid, SIGTERM);
	for (i = 0; i < 200; i++) {	/* 2 s */
		if (waitpid(cts_pid, &status, WNOHANG) != 0)
			break;
		usleep(10000);
	}
	if (i == 200) {
		kill(cts_pid, SIGKILL);
		waitpid(cts_pid, &status, 0);
	}
	cts_pid = -1;
}

static int
tcp_connect(unsigned port)
{
	struct sockaddr_in sin;
	int fd;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

/* A port free for both UDP and TCP on 127.0.0.1 (it may be taken again before use; the
 * caller retries). */
static unsigned
free_port(int udp_too)
{
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	unsigned port = 0;
	int t, u = -1;

	if ((t = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return 0;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(t, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
	    getsockname(t, (struct sockaddr *)&sin, &sl) == 0) {
		port = ntohs(sin.sin_port);
		if (udp_too && ((u = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1 ||
		    bind(u, (struct sockaddr *)&sin, sizeof(sin)) == -1))
			port = 0;
	}
	close(t);
	if (u != -1)
		close(u);
	return port;
}

static const char *
cts_path(void)
{
	const char *p = getenv("JFE_CHALLTESTSRV");

	if (p != NULL && *p != '\0')
		return p;
	return "/usr/bin/pebble-challtestsrv";
}

static int
cts_start(void)
{
	char dns[32], mgmt[32];
	int attempt, i, fd, status, devnull;

	if (access(cts_path(), X_OK) != 0)
		return -1;
	for (attempt = 0; attempt < 3; attempt++) {
		if ((cts_dns = free_port(1)) == 0 || (cts_mgmt = free_port(0)) == 0 ||
		    cts_dns == cts_mgmt)
			continue;
		snprintf(dns, sizeof(dns), "127.0.0.1:%u", cts_dns);
		snprintf(mgmt, sizeof(mgmt), "127.0.0.1:%u", cts_mgmt);
		if ((cts_pid = fork()) == -1)
			return -1;
		if (cts_pid == 0) {
			/* dies with us even if we crash or abort */
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			if ((devnull = open("/dev/null", O_RDWR)) != -1) {
				dup2(devnull, 0);
				if (getenv("JFE_TEST_VERBOSE") == NULL)
					dup2(devnull, 1);
			}
			execl(cts_path(), "pebble-challtestsrv", "-dns01", dns, "-http01", "",
			    "-https01", "", "-tlsalpn01", "", "-management", mgmt,
			    "-defaultIPv4", "10.77.0.1", "-defaultIPv6", "fd77::1", (char *)NULL);
			_exit(127);
		}
		/* up when the management port accepts (it starts after the DNS server) */
		for (i = 0; i < 500; i++) {	/* 5 s */
			if ((fd = tcp_connect(cts_mgmt)) != -1) {
				close(fd);
				return 0;
			}
			if (waitpid(cts_pid, &status, WNOHANG) == cts_pid) {
				cts_pid = -1;
				break;
			}
			usleep(10000);
		}
		cts_stop();
	}
	return -1;
}

/* POSTs <body> to the management API path <path>; 0 on "200". */
static int
cts_post(const char *path, const char *body)
{
	char req[1024], resp[512];
	struct timeval tv = { 2, 0 };
	ssize_t n;
	size_t got = 0;
	int fd, len, rc = -1;

	if ((fd = tcp_connect(cts_mgmt)) == -1)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	len = snprintf(req, sizeof(req), "POST %s HTTP/1.0\r\nHost: 127.0.0.1\r\n"
	    "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s", path,
	    strlen(body), body);
	if (len > 0 && (size_t)len < sizeof(req) && write(fd, req, (size_t)len) == len) {
		while (got < sizeof(resp) - 1 &&
		    (n = read(fd, resp + got, sizeof(resp) - 1 - got)) > 0)
			got += (size_t)n;
		resp[got] = '\0';
		if (strncmp(resp, "HTTP/1.", 7) == 0 && strncmp(resp + 8, " 200", 4) == 0)
			rc = 0;
	}
	close(fd);
	if (rc != 0)
		fprintf(stderr, "  # challtestsrv %s %s failed\n", path, body);
	return rc;
}

static void
test_challtestsrv(void)
{
	char server[32];
	const char *servers[1] = { server };
	struct resolver *r = NULL;
	struct got g, g2;
	int count, i;

	memset(&g, 0, sizeof(g));
	memset(&g2, 0, sizeof(g2));
	/* tests/deps.sh installs it: a missing server is a failure, not a skip. */
	if (access(cts_path(), X_OK) != 0) {
		fprintf(stderr, "  # %s not installed (apt-get install pebble)\n", cts_path());
		UNIT_CHECK(0);
		return;
	}
	UNIT_CHECK(cts_start() == 0);
	if (cts_pid <= 0)
		goto out;
	snprintf(server, sizeof(server), "127.0.0.1:%u", cts_dns);
	UNIT_CHECK((r = resolver_new(servers, 1, 1000, 2)) != NULL);
	if (r == NULL)
		goto out;

	/* any name: the defaults (the DNS listener may come up just after the management one) */
	for (i = 0; i < 20; i++) {
		count = 0;
		got_reset(&g, &count);
		UNIT_CHECK(addrs(r, "anything.test", &g) == 0);
		UNIT_CHECK(drive(r, &count, 1, 5000, 0) == 0);
		if (g.st == RESOLVE_OK)
			break;
		usleep(100000);
	}
	UNIT_CHECK(g.st == RESOLVE_OK && g.n == 2);
	UNIT_CHECK(got_has(&g, "10.77.0.1") && got_has(&g, "fd77::1"));

	/* /add-a replaces the default A of that name */
	UNIT_CHECK(cts_post("/add-a", "{\"host\":\"x.test.\",\"addresses\":[\"10.77.0.9\"]}") == 0);
	count = 0;
	got_reset(&g, &count);
	UNIT_CHECK(addrs(r, "x.test.", &g) == 0);
	UNIT_CHECK(drive(r, &count, 1, 5000, 1) == 0);
	UNIT_CHECK(g.st == RESOLVE_OK && g.n == 2);
	UNIT_CHECK(got_has(&g, "10.77.0.9") && got_has(&g, "fd77::1"));
	UNIT_CHECK(!got_has(&g, "10.77.0.1"));
	UNIT_CHECK_STR(g.name, "x.test.");

	/* TXT, and seen at once the second time (no cache) */
	count = 0;
	got_reset(&g, &count);
	got_reset(&g2, &count);
	UNIT_CHECK(txt(r, "_jfe-consent.x.test", &g) == 0);
	UNIT_CHECK(drive(r, &count, 1, 5000, 0) == 0);
	UNIT_CHECK(g.st == RESOLVE_NODATA && g.n == 0);
	UNIT_CHECK(cts_post("/set-txt",
	    "{\"host\":\"_jfe-consent.x.test.\",\"value\":\"hello\"}") == 0);
	UNIT_CHECK(txt(r, "_jfe-consent.x.test", &g2) == 0);
	UNIT_CHECK(drive(r, &count, 2, 5000, 0) == 0);
	UNIT_CHECK(g2.st == RESOLVE_OK && g2.n == 1);
	UNIT_CHECK_STR(g2.txt[0], "hello");

	/* SERVFAIL for both families and for TXT */
	UNIT_CHECK(cts_post("/set-servfail", "{\"host\":\"bad.test.\"}") == 0);
	count = 0;
	got_reset(&g, &count);
	got_reset(&g2, &count);
	UNIT_CHECK(addrs(r, "bad.test", &g) == 0);
	UNIT_CHECK(txt(r, "bad.test", &g2) == 0);
	UNIT_CHECK(drive(r, &count, 2, 5000, 0) == 0);
	UNIT_CHECK(g.st == RESOLVE_SERVFAIL && g.n == 0);
	UNIT_CHECK(g2.st == RESOLVE_SERVFAIL && g2.n == 0);
out:
	resolver_free(r);
	cts_stop();
	got_reset(&g, NULL);
	got_reset(&g2, NULL);
}

int
main(void)
{
	log_init("test_resolve", getenv("JFE_TEST_VERBOSE") != NULL ? 2 : 0);
	/* a failed check must not leave challtestsrv behind (PDEATHSIG covers crashes) */
	atexit(cts_stop);
	signal(SIGPIPE, SIG_IGN);
	UNIT_RUN(test_status_str);
	UNIT_RUN(test_new_bad_args);
	UNIT_RUN(test_bad_names);
	UNIT_RUN(test_closed_port);
	UNIT_RUN(test_no_answer_timeout);
	UNIT_RUN(test_spoofed_ignored);
	UNIT_RUN(test_failover);
	UNIT_RUN(test_cancel_on_free);
	UNIT_RUN(test_free_from_callback);
	UNIT_RUN(test_chain_from_callback);
	UNIT_RUN(test_no_fds);
	UNIT_RUN(test_pending_cap);
	UNIT_RUN(test_answers);
	UNIT_RUN(test_txt_answers);
	UNIT_RUN(test_ipv6_server);
	UNIT_RUN(test_ns);
	UNIT_RUN(test_zone_servers);
	UNIT_RUN(test_txt_at);
	UNIT_RUN(test_dns01_every_nameserver);
	UNIT_RUN(test_dns01_lagging_times_out);
	UNIT_RUN(test_dns01_fallback);
	UNIT_RUN(test_dns01_cancel);
	UNIT_RUN(test_challtestsrv);
	timer_heap_free(&heap);
	return unit_summary();
}
