/* Pass-through relayed by the kernel (BPF sockmap, proxy/sockmap.c, proxy/bpf/relay.bpf.c):
 * the hand-off of an established pass-through connection, and what jfe still does for it
 * afterwards:
 *   - a side's FIN (EPOLLRDHUP, then recv() returns 0) is passed on once everything before it
 *     has reached the other socket (the kernel's sender works from a queue jfe cannot see:
 *     tcp_written() of the destination against the program's count of forwarded bytes);
 *   - a reset (EPOLLERR) resets both sides, as in user space;
 *   - flow control (RELAY_CREDIT, proxy/bpf/relay_bpf.h): jfe grants the program credit as
 *     destinations make room (EPOLLOUT); past it the program passes bytes up (EPOLLIN), jfe
 *     writes them itself once the kernel's queue for that destination has emptied, and lets
 *     the program forward again when it has caught up;
 *   - idleness is judged from the program's clock, bytes are counted from its counters. */
#include "proxy/relay_kernel.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "agent/log.h"
#include "proxy/conn.h"
#include "proxy/sockmap.h"
#include "proxy/worker.h"

/* Reads relayed in user space before the kernel takes over: a one-request connection (the
 * hand-off costs about 25 system calls) stays in user space, a long one moves. */
#define KERNEL_AFTER_READS 8
#define KERNEL_BACKOFF_MAX_MS 256

int
relay_kernel_ready(const struct conn *c)
{
	/* Nothing of jfe's own in flight (sniffed bytes, a greeting, a blocked write, a pipe):
	 * from the hand-off on, every byte goes through the kernel, in order. */
	return sockmap_on() && !c->no_kernel && !c->kernel && c->ssl == NULL && c->st == NULL &&
	    c->reads >= KERNEL_AFTER_READS && c->up_connected && !c->c2u.eof && !c->u2c.eof &&
	    c->c2u.pend_len == 0 && c->u2c.pend_len == 0 && c->c2u.pipe_bytes == 0 &&
	    c->u2c.pipe_bytes == 0 && !((c->cli.ready | c->up.ready) & (EP_ERR | EP_HUP));
}

enum relay_result
relay_kernel_start(struct conn *c)
{
	uint64_t ck_cli, ck_up, wcli, wup;
	int r;

	if (sockmap_cookie(c->cli.fd, &ck_cli) != 0 || sockmap_cookie(c->up.fd, &ck_up) != 0 ||
	    tcp_written(c->cli.fd, &wcli, NULL) != 0 || tcp_written(c->up.fd, &wup, NULL) != 0)
		goto refused;
	r = sockmap_link(c->cli.fd, ck_cli, RELAY_CREDIT, c->up.fd, ck_up, RELAY_CREDIT);
	if (r == -1)
		goto refused;
	c->kernel = 1;
	c->ck_cli = ck_cli;
	c->ck_up = ck_up;
	if (r == -2) {
		/* Half linked: bytes may be queued for a socket that will never send them. */
		log_debug("kernel relay: link: %s; resetting", strerror(errno));
		return RELAY_RESET;
	}
	c->c2u.k_base = wup;
	c->u2c.k_base = wcli;
	c->c2u.k_read = c->c2u.k_told = c->u2c.k_read = c->u2c.k_told = 0;
	c->c2u.k_fwd = c->u2c.k_fwd = 0;
	c->c2u.k_clear = c->u2c.k_clear = 0;
	c->c2u.k_credit = c->u2c.k_credit = RELAY_CREDIT;
	c->t_active = c->w->now;
	atomic_fetch_add_explicit(&c->w->st.kernel_relayed, 1, memory_order_relaxed);
	/* epoll interest stays as it was (EPOLLIN, EPOLLOUT, EPOLLRDHUP): forwarded bytes leave
	 * nothing readable, so epoll reports nothing for them; EPOLLIN is bytes passed up,
	 * EPOLLOUT room in a destination, the moment to grant more credit.
	 * Whatever arrived since jfe's last read is still in the receive queues: a recv() makes
	 * the verdict take it (in order, before anything newer), and finds a FIN if one came. */
	c->cli.ready |= EP_R;
	c->up.ready |= EP_R;
	return relay_kernel_step(c);
refused:
	/* The map is full, or the kernel will not take this socket: user space to the end. */
	log_debug("kernel relay: not taken: %s", strerror(errno));
	c->no_kernel = 1;
	return RELAY_AGAIN;
}

/* Has everything the kernel forwarded from <src_ck> reached <dst>'s socket? 1 yes, 0 not yet,
 * -1 error. jfe's own writes to it since the hand-off are k_read less what it still holds. */
static int
kernel_drained(struct flow *f, uint64_t src_ck, struct endpoint *dst)
{
	struct relay_peer p;
	uint64_t written;

	if (sockmap_stats(src_ck, &p) != 0 || tcp_written(dst->fd, &written, NULL) != 0)
		return -1;
	f->k_fwd = p.bytes;
	return written - f->k_base >= p.bytes + (f->k_read - f->pend_len);
}

/* Room in the destination: if the program is past half its credit, grant it enough for
 * RELAY_CREDIT in its queue again, so a stream whose destination keeps up never stops. */
static int
kernel_refresh(struct flow *f, uint64_t src_ck, struct endpoint *dst)
{
	struct relay_peer p;
	uint64_t written, mine = f->k_read - f->pend_len, queued, credit;

	/* EPOLLOUT is edge-triggered: the next room reports again. */
	dst->ready &= (uint8_t)~EP_W;
	if (sockmap_stats(src_ck, &p) != 0)
		return -1;
	if (p.bytes + RELAY_CREDIT / 2 <= f->k_credit)
		return 0;
	if (tcp_written(dst->fd, &written, NULL) != 0)
		return -1;
	/* Forwarded (and written by jfe) less what reached the socket: the queue. */
	queued = p.bytes + mine - (written - f->k_base);
	if (written - f->k_base > p.bytes + mine)
		queued = 0;
	credit = p.bytes + (queued < RELAY_CREDIT ? RELAY_CREDIT - queued : 0);
	if (credit <= f->k_credit)
		return 0;
	if (sockmap_grant(src_ck, f->k_told, credit) != 0)
		return -1;
	f->k_credit = credit;
	return 0;
}

static int
flush_own(struct conn *c, struct flow *f)
{
	return f == &c->c2u ? relay_flush_upstream(c) : relay_flush_client(c);
}

/* One direction in kernel mode. 1: something is owed to the destination (bytes passed up, a
 * FIN) that must wait for the kernel's queue: look again later; 0: nothing to do until an
 * event; -1: reset. */
static int
kernel_flow(struct conn *c, struct flow *f, struct endpoint *src, uint64_t src_ck,
    struct endpoint *dst)
{
	int r;

	for (;;) {
		ssize_t n, m;

		if (f->pend_len) {
			/* Bytes passed up: only after the kernel's own, which went first. */
			if (!f->k_clear) {
				if ((r = kernel_drained(f, src_ck, dst)) <= 0)
					return r < 0 ? -1 : 1;
				f->k_clear = 1;
			}
			if ((r = flush_own(c, f)) < 0)
				return -1;
			if (r == 0)
				return 0;       /* EPOLLOUT on dst */
			c->t_active = c->w->now;
		}
		if (f->eof || !(src->ready & EP_R))
			break;
		n = recv(src->fd, c->w->scratch, WORKER_SCRATCH, 0);
		if (n == 0) {
			f->eof = 1;     /* everything before the FIN went through the verdict */
			break;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			src->ready &= (uint8_t)~EP_R;
			break;
		}
		if (n < 0)
			return -1;
		/* Passed up by the program (its destination is behind). */
		c->t_active = c->w->now;
		f->k_read += (uint64_t)n;
		m = 0;
		if (f->k_clear) {
			m = send(dst->fd, c->w->scratch, (size_t)n, MSG_NOSIGNAL);
			if (m < 0 && errno != EAGAIN && errno != EINTR)
				return -1;
			if (m < 0)
				m = 0;
			f->bytes += (uint64_t)m;
		}
		if (m < n && relay_queue(f, c->w->scratch + m, (size_t)(n - m)) != 0)
			return -1;
	}
	/* Caught up: the program may forward again (it checks that it was told of every byte
	 * it passed up, so none of them can be overtaken), another RELAY_CREDIT: its queue for
	 * the destination was empty when last looked at, and nothing was forwarded since. */
	if (f->pend_len == 0 && f->k_told != f->k_read) {
		f->k_credit = f->k_fwd + RELAY_CREDIT;
		if (sockmap_grant(src_ck, f->k_read, f->k_credit) != 0)
			return -1;
		f->k_told = f->k_read;
		f->k_clear = 0;
	} else if (f->pend_len == 0 && (dst->ready & EP_W) && !f->eof &&
	    kernel_refresh(f, src_ck, dst) != 0)
		return -1;
	if (!f->eof || f->shut || f->pend_len)
		return 0;
	/* The FIN may follow only once every byte before it is in the destination's socket. */
	if (!f->k_clear) {
		if ((r = kernel_drained(f, src_ck, dst)) <= 0)
			return r < 0 ? -1 : 1;
		f->k_clear = 1;
	}
	shutdown(dst->fd, SHUT_WR);
	f->shut = 1;
	return 0;
}

enum relay_result
relay_kernel_step(struct conn *c)
{
	int a, b;

	if ((a = kernel_flow(c, &c->c2u, &c->cli, c->ck_cli, &c->up)) < 0 ||
	    (b = kernel_flow(c, &c->u2c, &c->up, c->ck_up, &c->cli)) < 0)
		return RELAY_RESET;
	if (a || b) {
		/* No event tells when the kernel's queue is empty: look again, at once the first
		 * times (it is usually a matter of microseconds), then backing off. */
		unsigned t = c->k_tries < 3 ? 0 : 1u << (c->k_tries - 3);

		c->k_retry = c->w->now + (t < KERNEL_BACKOFF_MAX_MS ? t : KERNEL_BACKOFF_MAX_MS);
		if (c->k_tries < 16)
			c->k_tries++;
	} else {
		c->k_retry = 0;
		c->k_tries = 0;
	}
	return RELAY_AGAIN;
}

void
relay_kernel_activity(struct conn *c)
{
	struct relay_peer p;
	uint64_t ms;

	/* The kernel forwards without telling jfe: the program's clock of the last skb either
	 * way is the connection's activity (both clocks are CLOCK_MONOTONIC). */
	if (sockmap_stats(c->ck_cli, &p) == 0 && (ms = p.last_ns / 1000000) > c->t_active)
		c->t_active = ms;
	if (sockmap_stats(c->ck_up, &p) == 0 && (ms = p.last_ns / 1000000) > c->t_active)
		c->t_active = ms;
}

void
relay_kernel_release(struct conn *c)
{
	uint64_t b;

	if (!c->kernel)
		return;
	if (sockmap_unlink(c->ck_cli, &b) == 0) {
		log_debug("kernel relay: client->service %llu bytes by the kernel, %llu by jfe",
		    (unsigned long long)b, (unsigned long long)c->c2u.k_read);
		c->c2u.bytes += b;
	}
	if (sockmap_unlink(c->ck_up, &b) == 0) {
		log_debug("kernel relay: service->client %llu bytes by the kernel, %llu by jfe",
		    (unsigned long long)b, (unsigned long long)c->u2c.k_read);
		c->u2c.bytes += b;
	}
	c->kernel = 0;
}
