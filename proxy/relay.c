#include "proxy/relay.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent/options.h"
#include "proxy/conn.h"
#include "proxy/tls.h"
#include "proxy/worker.h"

#define SPLICE_CHUNK (1 << 20)  /* asked per splice(); the pipe's capacity is the real cap */
#define SPLICE_SMALL 4096       /* a splice that moves less: back to recv()/send() */

enum flow_result { FLOW_IDLE, FLOW_RESET };

static int
is_reset_errno(int e)
{
	return e == ECONNRESET || e == EPIPE || e == ETIMEDOUT || e == EHOSTUNREACH ||
	    e == ENETUNREACH;
}

static void flow_drop_pend(struct flow *f);

/* Keeps bytes the destination could not take yet. */
static int
flow_keep(struct flow *f, const uint8_t *p, size_t n)
{
	if ((f->pend = malloc(n)) == NULL)
		return -1;
	memcpy(f->pend, p, n);
	f->pend_off = 0;
	f->pend_len = (uint32_t)n;
	return 0;
}

int
relay_queue(struct flow *f, const uint8_t *p, size_t n)
{
	uint8_t *nb;

	if (n == 0)
		return 0;
	if (f->pend_len == 0) {
		flow_drop_pend(f);
		return flow_keep(f, p, n);
	}
	if ((size_t)f->pend_len + n > UINT32_MAX)
		return -1;
	if (f->pend_off) {
		memmove(f->pend, f->pend + f->pend_off, f->pend_len);
		f->pend_off = 0;
	}
	if ((nb = realloc(f->pend, f->pend_len + n)) == NULL)
		return -1;
	memcpy(nb + f->pend_len, p, n);
	f->pend = nb;
	f->pend_len += (uint32_t)n;
	return 0;
}

static void
flow_drop_pend(struct flow *f)
{
	free(f->pend);
	f->pend = NULL;
	f->pend_off = f->pend_len = 0;
}

/* Writes pending plain bytes to <dst>. 1: all written, 0: blocked, -1: reset. */
static int
flow_flush_plain(struct flow *f, struct endpoint *dst)
{
	while (f->pend_len) {
		ssize_t n = send(dst->fd, f->pend + f->pend_off, f->pend_len, MSG_NOSIGNAL);

		if (n > 0) {
			f->pend_off += (uint32_t)n;
			f->pend_len -= (uint32_t)n;
			f->bytes += (uint64_t)n;
		} else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			dst->ready &= (uint8_t)~EP_W;
			return 0;
		} else
			return -1;
	}
	flow_drop_pend(f);
	return 1;
}

/* Pass-through, one direction. Small messages go through the worker's scratch buffer, one
 * recv() and one send() each (splice() would take three calls: socket → pipe, pipe → socket
 * and a read that finds the socket empty). A read that fills the buffer means a stream: that
 * direction switches to splice() through a pooled pipe, never holding more than a pipe's
 * worth, and stays with it until a splice moves only a small message again. */
static enum flow_result
flow_pass(struct conn *c, struct flow *f, struct endpoint *src, struct endpoint *dst,
    int dst_ready)
{
	struct worker *w = c->w;
	ssize_t n, m;

	for (;;) {
		if (!dst_ready)
			return FLOW_IDLE;
		if (f->pend_len) {
			int r = flow_flush_plain(f, dst);

			if (r < 0)
				return FLOW_RESET;
			if (r == 0)
				return FLOW_IDLE;
			c->t_active = w->now;
		}
		if (f->pipe_bytes) {
			n = splice(f->pipe_r, NULL, dst->fd, NULL, f->pipe_bytes,
			    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
			if (n > 0) {
				f->pipe_bytes -= (uint32_t)n;
				f->bytes += (uint64_t)n;
				c->t_active = w->now;
				continue;
			}
			if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
				dst->ready &= (uint8_t)~EP_W;
				return FLOW_IDLE;
			}
			return FLOW_RESET;
		}
		if (f->eof) {
			if (!f->shut) {
				shutdown(dst->fd, SHUT_WR);
				f->shut = 1;
			}
			break;
		}
		if (!(src->ready & EP_R))
			break;
		if (f->splicing) {
			if (f->pipe_r < 0 && worker_pipe_get(w, &f->pipe_r, &f->pipe_w) != 0)
				return FLOW_RESET;
			n = splice(src->fd, NULL, f->pipe_w, NULL, SPLICE_CHUNK,
			    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
			if (n > 0) {
				f->pipe_bytes = (uint32_t)n;
				c->t_active = w->now;
				/* A stream keeps splicing even when jfe keeps up with it (each
				 * wake-up then finds less than a buffer); a small message ends it. */
				if (n < SPLICE_SMALL)
					f->splicing = 0;
			} else if (n == 0)
				f->eof = 1;
			else if (errno == EAGAIN || errno == EINTR) {
				/* The pipe is empty (we only fill an empty one), so the socket is. */
				src->ready &= (uint8_t)~EP_R;
				break;
			} else
				return FLOW_RESET;
			continue;
		}
		n = recv(src->fd, w->scratch, WORKER_SCRATCH, 0);
		if (n > 0) {
			c->t_active = w->now;
			/* A full buffer: more is probably waiting, splice it. A short read emptied
			 * the socket, and epoll (edge) reports the next data; after the peer's FIN
			 * reads go on until they return 0. */
			if (n == WORKER_SCRATCH)
				f->splicing = 1;
			else if (!(src->ready & EP_RDHUP))
				src->ready &= (uint8_t)~EP_R;
			m = send(dst->fd, w->scratch, (size_t)n, MSG_NOSIGNAL);
			if (m < 0 && errno != EAGAIN && errno != EINTR)
				return FLOW_RESET;
			if (m < 0)
				m = 0;
			f->bytes += (uint64_t)m;
			if (m < n) {
				/* Straight from scratch; a copy is kept only on back-pressure. */
				dst->ready &= (uint8_t)~EP_W;
				if (flow_keep(f, w->scratch + m, (size_t)(n - m)) != 0)
					return FLOW_RESET;
				break;
			}
			continue;
		}
		if (n == 0) {
			f->eof = 1;
			continue;
		}
		if (errno == EAGAIN || errno == EINTR) {
			src->ready &= (uint8_t)~EP_R;
			break;
		}
		return FLOW_RESET;
	}
	/* Idle: give the pipe back so an idle connection holds none. */
	if (f->pipe_r >= 0 && f->pipe_bytes == 0) {
		worker_pipe_put(w, f->pipe_r, f->pipe_w);
		f->pipe_r = f->pipe_w = -1;
	}
	return FLOW_IDLE;
}

/* TLS, client → upstream: SSL_read, then write to the service. */
static enum flow_result
flow_tls_c2u(struct conn *c)
{
	struct flow *f = &c->c2u;
	struct worker *w = c->w;

	for (;;) {
		int n, err;

		if (f->pend_len) {
			int r;

			if (!c->up_connected)
				return FLOW_IDLE;
			if ((r = flow_flush_plain(f, &c->up)) < 0)
				return FLOW_RESET;
			if (r == 0)
				return FLOW_IDLE;
			c->t_active = w->now;
		}
		if (f->eof) {
			if (!f->shut && c->up_connected) {
				shutdown(c->up.fd, SHUT_WR);
				f->shut = 1;
			}
			return FLOW_IDLE;
		}
		if (!(c->cli.ready & EP_R) && !SSL_has_pending(c->ssl))
			return FLOW_IDLE;
		ERR_clear_error();
		n = SSL_read(c->ssl, w->scratch, WORKER_SCRATCH);
		if (n > 0) {
			ssize_t m = 0;

			c->t_active = w->now;
			if (c->up_connected) {
				m = send(c->up.fd, w->scratch, (size_t)n, MSG_NOSIGNAL);
				if (m < 0 && errno != EAGAIN && errno != EINTR)
					return FLOW_RESET;
				if (m < 0)
					m = 0;
				if (m < n)
					c->up.ready &= (uint8_t)~EP_W;
				f->bytes += (uint64_t)m;
			}
			if (m < n && flow_keep(f, w->scratch + m, (size_t)(n - m)) != 0)
				return FLOW_RESET;
			if (!(c->cli.ready & EP_RDHUP) && tls_socket_drained(c->ssl)) {
				c->cli.ready &= (uint8_t)~EP_R;
				return FLOW_IDLE;
			}
			continue;
		}
		err = SSL_get_error(c->ssl, n);
		if (err == SSL_ERROR_ZERO_RETURN) {
			f->eof = 1;     /* close_notify, or a FIN (unexpected EOF is tolerated) */
			continue;
		}
		if (err == SSL_ERROR_WANT_READ) {
			c->cli.ready &= (uint8_t)~EP_R;
			return FLOW_IDLE;
		}
		if (err == SSL_ERROR_WANT_WRITE) {
			c->cli.ready &= (uint8_t)~EP_W;
			return FLOW_IDLE;
		}
		if (err == SSL_ERROR_SYSCALL && (errno == 0 || !is_reset_errno(errno)) &&
		    ERR_peek_error() == 0) {
			f->eof = 1;
			continue;
		}
		return FLOW_RESET;
	}
}

/* SSL_write of pending bytes. 1: all written, 0: blocked, -1: fatal. */
static int
flow_flush_tls(struct conn *c, struct flow *f)
{
	while (f->pend_len) {
		int n, err;

		ERR_clear_error();
		n = SSL_write(c->ssl, f->pend + f->pend_off, (int)f->pend_len);
		if (n > 0) {
			f->pend_off += (uint32_t)n;
			f->pend_len -= (uint32_t)n;
			f->bytes += (uint64_t)n;
			continue;
		}
		err = SSL_get_error(c->ssl, n);
		if (err == SSL_ERROR_WANT_WRITE) {
			c->cli.ready &= (uint8_t)~EP_W;
			return 0;
		}
		if (err == SSL_ERROR_WANT_READ) {
			c->cli.ready &= (uint8_t)~EP_R;
			return 0;
		}
		return -1;
	}
	flow_drop_pend(f);
	return 1;
}

/* TLS, upstream → client: read from the service, then SSL_write. */
static enum flow_result
flow_tls_u2c(struct conn *c)
{
	struct flow *f = &c->u2c;
	struct worker *w = c->w;

	for (;;) {
		ssize_t n;
		int r;

		if (f->pend_len) {
			if ((r = flow_flush_tls(c, f)) < 0)
				return FLOW_RESET;
			if (r == 0)
				return FLOW_IDLE;
			c->t_active = w->now;
		}
		if (f->eof) {
			if (!f->shut) {
				ERR_clear_error();
				r = SSL_shutdown(c->ssl);
				if (r < 0 && SSL_get_error(c->ssl, r) == SSL_ERROR_WANT_WRITE) {
					c->cli.ready &= (uint8_t)~EP_W;
					return FLOW_IDLE;
				}
				/* close_notify then FIN: the client's read side ends, its write
				 * side stays open (half-close). */
				shutdown(c->cli.fd, SHUT_WR);
				f->shut = 1;
			}
			return FLOW_IDLE;
		}
		if (!c->up_connected || !(c->up.ready & EP_R))
			return FLOW_IDLE;
		n = read(c->up.fd, w->scratch, WORKER_SCRATCH);
		if (n > 0) {
			int m, err;

			c->t_active = w->now;
			/* Straight from scratch; a copy is kept only on back-pressure. */
			ERR_clear_error();
			m = SSL_write(c->ssl, w->scratch, (int)n);
			if (m > 0)
				f->bytes += (uint64_t)m;
			/* A short read emptied the socket; epoll (edge) reports the next data. */
			if (n < WORKER_SCRATCH && !(c->up.ready & EP_RDHUP))
				c->up.ready &= (uint8_t)~EP_R;
			if (m == n)
				continue;
			if (m <= 0) {
				err = SSL_get_error(c->ssl, m);
				if (err != SSL_ERROR_WANT_WRITE && err != SSL_ERROR_WANT_READ)
					return FLOW_RESET;
				m = 0;
			}
			if (flow_keep(f, w->scratch + m, (size_t)(n - m)) != 0)
				return FLOW_RESET;
			continue;
		}
		if (n == 0) {
			f->eof = 1;
			continue;
		}
		if (errno == EAGAIN || errno == EINTR) {
			c->up.ready &= (uint8_t)~EP_R;
			return FLOW_IDLE;
		}
		return FLOW_RESET;
	}
}

int
relay_flush_upstream(struct conn *c)
{
	if (c->c2u.pend_len == 0)
		return 1;
	if (!c->up_connected)
		return 0;
	return flow_flush_plain(&c->c2u, &c->up);
}

int
relay_flush_client(struct conn *c)
{
	if (c->u2c.pend_len == 0)
		return 1;
	return c->tls_ready ? flow_flush_tls(c, &c->u2c) : flow_flush_plain(&c->u2c, &c->cli);
}

static int
relay_done(const struct conn *c)
{
	return c->c2u.eof && c->c2u.shut && c->u2c.eof && c->u2c.shut &&
	    c->c2u.pend_len == 0 && c->u2c.pend_len == 0 && c->c2u.pipe_bytes == 0 &&
	    c->u2c.pipe_bytes == 0;
}

enum relay_result
relay_step(struct conn *c)
{
	/* A peer's reset ends both sides with a reset. */
	if ((c->cli.ready & EP_ERR) || (c->up.ready & EP_ERR))
		return RELAY_RESET;
	if (c->up_connecting) {
		int err = 0;
		socklen_t len = sizeof(err);

		if (!(c->up.ready & EP_W))
			return RELAY_AGAIN;
		if (getsockopt(c->up.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err)
			return RELAY_RESET;
		c->up_connecting = 0;
		c->up_connected = 1;
	}
	if (c->ssl != NULL) {
		if (flow_tls_c2u(c) == FLOW_RESET || flow_tls_u2c(c) == FLOW_RESET)
			return RELAY_RESET;
	} else {
		if (flow_pass(c, &c->c2u, &c->cli, &c->up, c->up_connected) == FLOW_RESET ||
		    flow_pass(c, &c->u2c, &c->up, &c->cli, 1) == FLOW_RESET)
			return RELAY_RESET;
	}
	return relay_done(c) ? RELAY_DONE : RELAY_AGAIN;
}

uint64_t
relay_deadline(const struct conn *c)
{
	const struct jfe_options *o = c->w->opt;
	uint64_t d;

	switch (c->state) {
	case CS_SNIFF:
		d = c->t_state + o->sniff_timeout_ms;
		break;
	case CS_PROBE:
		d = c->t_state + o->tls_probe_ms + (c->probe_sent ? 0 : o->connect_timeout_ms);
		break;
	case CS_HANDSHAKE:
		d = c->t_state + o->handshake_timeout_ms;
		/* Parked for a certificate: --issue-timeout bounds the wait instead. */
		if (c->cert_wait)
			d = c->t_wait + (uint64_t)o->issue_timeout_s * 1000;
		break;
	default:
		d = c->t_active + (uint64_t)o->idle_timeout_s * 1000;
		break;
	}
	if (c->up_connecting && c->t_start + o->connect_timeout_ms < d)
		d = c->t_start + o->connect_timeout_ms;
	return d;
}

void
relay_update_timer(struct conn *c)
{
	uint64_t d = relay_deadline(c);

	/* Deadlines that moved later are left armed early and re-armed when they fire:
	 * traffic then costs no heap operation. */
	if (c->timer.at == 0 || d < c->timer.at ||
	    (c->state != CS_RELAY && d != c->timer.at))
		timer_arm(&c->w->timers, &c->timer, d);
}
