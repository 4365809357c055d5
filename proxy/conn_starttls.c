/* The connection side of the STARTTLS machines: reading each side, feeding the machine,
 * writing what it emits, and acting on its verdicts (the contract is in proxy/starttls.h).
 *
 * Back-pressure is kept simple because these exchanges are short and line-sized: nothing more
 * is read from either side while anything the machine emitted is still waiting for a
 * destination. Reads are at most ST_FEED_MAX bytes, so every read is fed whole and no read
 * byte is ever left unfed. */
#include "proxy/conn_starttls.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/log.h"
#include "proxy/conn.h"
#include "proxy/relay.h"
#include "proxy/sockaddr.h"
#include "proxy/starttls.h"
#include "proxy/worker.h"

/* The worker's scratch buffer holds one feed's input, then the machine's two outputs. */
#define CST_IN		ST_FEED_MAX
_Static_assert(CST_IN + 2 * ST_OUT_MIN <= WORKER_SCRATCH, "scratch too small for STARTTLS");

/* Most bytes of a server's greeting held while deciding what it is: more than any greeting a
 * machine knows needs (a MySQL handshake packet is about a hundred bytes). */
#define CST_GREET_MAX	ST_MAX_LINE

enum { CST_CLIENT, CST_SERVER };

/* What cst_read() returns besides a byte count or 0 (end of stream). */
#define CST_NOTHING	(-1)
#define CST_RESET	(-2)

static struct st_out
cst_out(struct worker *w)
{
	struct st_out o;

	memset(&o, 0, sizeof(o));
	o.to_client = w->scratch + CST_IN;
	o.to_server = w->scratch + CST_IN + ST_OUT_MIN;
	o.cap = ST_OUT_MIN;
	return o;
}

static void
cst_log(const struct conn *c, const char *what)
{
	char cl[SA_STRLEN], ds[SA_STRLEN];

	if (log_verbose() < 2)
		return;
	log_debug("starttls %s %s -> %s: %s", starttls_proto_name(c->st->proto),
	    sa_str(&c->client, cl, sizeof(cl)), sa_str(&c->dst, ds, sizeof(ds)), what);
}

/* The machine let go: from here on everything is relayed untouched (through TLS on the
 * client's side when it was started). */
static int
cst_done(struct conn *c)
{
	cst_log(c, "relaying untouched from now on");
	free(c->st);
	c->st = NULL;
	if (!c->tls_ready) {
		conn_set_kind(c, CK_PLAIN);
		conn_set_state(c, CS_RELAY);
	}
	return 0;
}

/* ST_START_TLS: once jfe's answer is out, the client's bytes are its TLS hello, read and
 * parsed like any other (SNI, ALPN, fragments). <early>: bytes already read that belong to it
 * (a MySQL client starts the handshake without waiting for an answer). */
static int
cst_start_tls(struct conn *c, const uint8_t *early, size_t n1, const uint8_t *rest, size_t n2)
{
	if (c->st_tls)
		return conn_close(c, 0, "starttls-violation");
	cst_log(c, "TLS requested");
	conn_set_kind(c, CK_STARTTLS);
	c->st_tls = c->st_tls_next = 1;
	if (n1 + n2 > 0) {
		if ((c->sniff = malloc(n1 + n2)) == NULL)
			return conn_close(c, 1, "no-memory");
		if (n1)
			memcpy(c->sniff, early, n1);
		if (n2)
			memcpy(c->sniff + n1, rest, n2);
		c->sniff_len = (uint32_t)(n1 + n2);
	}
	return 0;
}

/* Acts on one feed's verdict. <in, n>: that feed's input; <rest, restn>: bytes read from the
 * same side and not fed (only when a buffer is fed in slices). */
static int
cst_verdict(struct conn *c, enum st_verdict v, const struct st_out *o, int side,
    const uint8_t *in, size_t n, const uint8_t *rest, size_t restn)
{
	if (v == ST_CLOSE) {
		cst_log(c, "protocol violation");
		return conn_close(c, 0, "starttls-violation");
	}
	if (relay_queue(&c->c2u, o->to_server, o->to_server_len) != 0 ||
	    relay_queue(&c->u2c, o->to_client, o->to_client_len) != 0)
		return conn_close(c, 1, "no-memory");
	switch (v) {
	case ST_PASSTHROUGH:
		if (relay_queue(side == CST_SERVER ? &c->u2c : &c->c2u, rest, restn) != 0)
			return conn_close(c, 1, "no-memory");
		return cst_done(c);
	case ST_START_TLS:
		if (side == CST_CLIENT && o->client_rest_is_tls)
			return cst_start_tls(c, in + n - o->tls_early, o->tls_early, rest, restn);
		/* Plaintext sent before the handshake never reaches anyone (CVE-2011-0411). */
		c->st->discarded += restn;
		return cst_start_tls(c, NULL, 0, NULL, 0);
	default:
		return 0;
	}
}

/* Feeds a buffer, in slices the machine accepts, until a verdict other than ST_CONTINUE.
 * <p> must not lie in the output part of the worker's scratch buffer. */
static int
cst_feed(struct conn *c, int side, const uint8_t *p, size_t n)
{
	struct st_out o = cst_out(c->w);

	while (n > 0) {
		size_t k = n < ST_FEED_MAX ? n : ST_FEED_MAX;
		enum st_verdict v = side == CST_SERVER ? starttls_from_server(c->st, p, k, &o) :
		    starttls_from_client(c->st, p, k, &o);

		if (cst_verdict(c, v, &o, side, p, k, p + k, n - k) != 0)
			return -1;
		if (v != ST_CONTINUE)
			break;
		p += k;
		n -= k;
	}
	return 0;
}

/* One side ended while the machine was deciding: it hands back what it holds. */
static int
cst_eof(struct conn *c, int side)
{
	struct st_out o = cst_out(c->w);

	(side == CST_SERVER ? &c->u2c : &c->c2u)->eof = 1;
	return cst_verdict(c, starttls_flush(c->st, &o), &o, side, NULL, 0, NULL, 0);
}

static ssize_t
cst_read_tls(struct conn *c, uint8_t *buf)
{
	int n;

	if (!(c->cli.ready & EP_R) && !SSL_has_pending(c->ssl))
		return CST_NOTHING;
	ERR_clear_error();
	if ((n = SSL_read(c->ssl, buf, CST_IN)) > 0)
		return n;
	switch (SSL_get_error(c->ssl, n)) {
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	case SSL_ERROR_WANT_READ:
		c->cli.ready &= (uint8_t)~EP_R;
		return CST_NOTHING;
	case SSL_ERROR_WANT_WRITE:
		c->cli.ready &= (uint8_t)~EP_W;
		return CST_NOTHING;
	case SSL_ERROR_SYSCALL:
		/* A FIN without close_notify ends the stream, as in the relay. */
		if (ERR_peek_error() == 0 && (errno == 0 || errno == EAGAIN))
			return 0;
		return CST_RESET;
	default:
		return CST_RESET;
	}
}

/* Up to CST_IN bytes from one side: a count, 0 at its end, CST_NOTHING or CST_RESET. */
static ssize_t
cst_read(struct conn *c, int side, uint8_t *buf)
{
	struct endpoint *ep = side == CST_SERVER ? &c->up : &c->cli;
	ssize_t n;

	if (side == CST_CLIENT && c->tls_ready)
		return cst_read_tls(c, buf);
	if ((side == CST_SERVER && !c->up_connected) || !(ep->ready & EP_R))
		return CST_NOTHING;
	if ((n = read(ep->fd, buf, CST_IN)) >= 0)
		return n;
	if (errno == EAGAIN || errno == EINTR) {
		ep->ready &= (uint8_t)~EP_R;
		return CST_NOTHING;
	}
	return CST_RESET;
}

int
conn_starttls_step(struct conn *c)
{
	uint8_t *buf = c->w->scratch;
	int first = CST_SERVER;

	for (;;) {
		int ru = relay_flush_upstream(c), rc = relay_flush_client(c), side = -1;
		ssize_t n = CST_NOTHING;

		if (ru < 0 || rc < 0)
			return conn_close(c, 1, NULL);
		if (c->st_tls_next) {
			/* jfe's go-ahead must reach the client before the handshake begins. */
			if (rc == 0)
				return 0;
			c->st_tls_next = 0;
			conn_set_state(c, CS_SNIFF);
			return 0;
		}
		if (ru == 0 || rc == 0)
			return 0;
		/* Both sides in turn, so that neither can starve the other. */
		for (int i = 0; i < 2 && n == CST_NOTHING; i++) {
			side = i == 0 ? first : !first;
			n = cst_read(c, side, buf);
		}
		if (n == CST_NOTHING)
			return 0;
		if (n == CST_RESET)
			return conn_close(c, 1, side == CST_SERVER ? "upstream-reset" :
			    "client-reset");
		first = !side;
		c->t_active = c->w->now;
		if ((n == 0 ? cst_eof(c, side) : cst_feed(c, side, buf, (size_t)n)) != 0)
			return -1;
		if (c->st == NULL || c->state == CS_CLOSED)
			return 0;
	}
}

/* Takes over the bytes already read from <side> and starts the machine with them. */
static int
cst_start(struct conn *c, enum st_proto proto, int side)
{
	uint8_t *p;
	size_t n;
	int r;

	if ((c->st = malloc(sizeof(*c->st))) == NULL)
		return conn_close(c, 1, "no-memory");
	starttls_init(c->st, proto);
	conn_set_kind(c, CK_PLAIN);
	conn_set_state(c, CS_STARTTLS);
	cst_log(c, side == CST_SERVER ? "greeting recognised" : "request recognised");
	if (side == CST_SERVER) {
		p = c->greet;
		n = c->greet_len;
		c->greet = NULL;
		c->greet_len = 0;
	} else {
		p = c->sniff;
		n = c->sniff_len;
		c->sniff = NULL;
		c->sniff_len = 0;
	}
	r = cst_feed(c, side, p, n);
	free(p);
	return r;
}

int
conn_starttls_server_first(struct conn *c)
{
	enum st_proto proto = ST_PROTO_NONE;
	int eof = 0, d;

	while ((c->up.ready & EP_R) && c->greet_len < CST_GREET_MAX) {
		ssize_t n = read(c->up.fd, c->w->scratch, CST_GREET_MAX - c->greet_len);
		uint8_t *nb;

		if (n > 0) {
			if ((nb = realloc(c->greet, c->greet_len + (size_t)n)) == NULL)
				return conn_close(c, 1, "no-memory");
			memcpy(nb + c->greet_len, c->w->scratch, (size_t)n);
			c->greet = nb;
			c->greet_len += (uint32_t)n;
		} else if (n == 0) {
			/* EP_R stays set: the relay reads the end again. */
			eof = 1;
			break;
		} else if (errno == EAGAIN || errno == EINTR) {
			c->up.ready &= (uint8_t)~EP_R;
		} else
			return conn_close(c, 1, "upstream-reset");
	}
	d = starttls_detect_server(c->greet, c->greet_len, &proto);
	/* A prefix of a known greeting: wait, bounded by the sniff timeout. */
	if (d < 0 && !eof && c->greet_len < CST_GREET_MAX)
		return 0;
	if (d != 1)
		return 1;
	return cst_start(c, proto, CST_SERVER);
}

int
conn_starttls_client_first(struct conn *c)
{
	enum st_proto proto = ST_PROTO_NONE;
	int d = starttls_detect_client(c->sniff, c->sniff_len, &proto);

	if (d != 1)
		return d;
	(void)cst_start(c, proto, CST_CLIENT);
	return 1;
}
