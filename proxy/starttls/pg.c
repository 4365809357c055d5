/* PostgreSQL SSLRequest (frontend/backend protocol, "SSL Session Encryption") for a server
 * without TLS.
 *
 * The client's SSLRequest goes to the server, so that a server with TLS of its own answers 'S'
 * and is passed through untouched. A server without answers 'N' and then waits for the
 * StartupMessage: jfe tells the client 'S' instead, runs the handshake, and the StartupMessage
 * arrives inside TLS; from there on everything passes. A GSSENCRequest is refused by jfe ('N',
 * as a server without GSSAPI would), so that libpq falls back to an SSLRequest.
 *
 * Bytes the client sends after its SSLRequest, before the answer, are discarded: a client must
 * wait for the answer byte, and a server that read them would take plaintext as if it had come
 * through TLS (CVE-2021-23214). */
#include "proxy/starttls/common.h"

#include <string.h>

enum { PG_FIRST, PG_ASKED, PG_TLS };

#define PG_REQUEST_LEN	8

static const uint8_t pg_ssl_request[PG_REQUEST_LEN] = { 0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f };
static const uint8_t pg_gssenc_request[PG_REQUEST_LEN] = { 0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x30 };

/* 1 if buf[0..len) is req, -1 if it is a proper prefix of it, else 0. */
static int
pg_match(const uint8_t *buf, size_t len, const uint8_t *req)
{
	size_t n = len < PG_REQUEST_LEN ? len : PG_REQUEST_LEN;

	if (memcmp(buf, req, n) != 0)
		return 0;
	return n == PG_REQUEST_LEN ? 1 : -1;
}

int
st_pg_detect(const uint8_t *buf, size_t len)
{
	int ssl = pg_match(buf, len, pg_ssl_request), gss = pg_match(buf, len, pg_gssenc_request);

	if (ssl == 1 || gss == 1)
		return 1;
	return ssl == -1 || gss == -1 ? -1 : 0;
}

void
st_pg_init(struct starttls *s)
{
	s->u.pg.state = PG_FIRST;
}

/* The client's first 8 bytes (of each request, after a refused GSSENCRequest) are held in
 * s->cli until they tell an SSLRequest, a GSSENCRequest or anything else. */
static enum st_verdict
pg_from_client(struct starttls *s, const uint8_t *in, size_t n, struct st_out *out)
{
	struct st_buf *b = &s->cli;
	size_t off = 0, used;
	int done;

	while (off < n) {
		switch (s->u.pg.state) {
		case PG_ASKED:
			st_discard(s, ST_FROM_CLIENT, n - off);
			return ST_CONTINUE;
		case PG_TLS:
			/* The StartupMessage (or CancelRequest), now inside TLS. */
			return st_passthrough(s, ST_FROM_CLIENT, in + off, n - off, out);
		}
		done = st_take_exact(b, PG_REQUEST_LEN, in + off, n - off, &used);
		off += used;
		if (pg_match(b->data, b->len, pg_ssl_request) == 0 &&
		    pg_match(b->data, b->len, pg_gssenc_request) == 0)
			return st_passthrough(s, ST_FROM_CLIENT, in + off, n - off, out);
		if (!done)
			break;
		if (pg_match(b->data, b->len, pg_ssl_request) == 1) {
			if (st_emit_buf(out, ST_FROM_CLIENT, b) == -1)
				return st_fail(s, "output full");
			s->u.pg.state = PG_ASKED;
			continue;
		}
		/* A GSSENCRequest: refused once, as a server does; a second one is a violation. */
		if (s->u.pg.gss_refused)
			return st_fail(s, "second GSSENCRequest");
		st_buf_reset(b);
		if (st_to_client(out, "N", 1) == -1)
			return st_fail(s, "output full");
		s->u.pg.gss_refused = 1;
		s->rewritten = 1;
	}
	return ST_CONTINUE;
}

static enum st_verdict
pg_from_server(struct starttls *s, const uint8_t *in, size_t n, struct st_out *out)
{
	if (n == 0)
		return ST_CONTINUE;
	switch (s->u.pg.state) {
	case PG_FIRST:
		/* The server speaks first: not the protocol we thought. */
		return st_malformed(s, ST_FROM_SERVER, in, n, out, "server spoke first");
	case PG_TLS:
		return st_passthrough(s, ST_FROM_SERVER, in, n, out);
	}
	if (in[0] != 'N') {
		/* 'S': the server does TLS itself; 'E' (a server older than SSL) and anything else
		 * go to the client untouched too, it knows what to do with them. */
		if (in[0] == 'S')
			st_log(s, "the service accepts SSLRequest itself", NULL, 0);
		return st_passthrough(s, ST_FROM_SERVER, in, n, out);
	}
	/* After 'N' the server waits for the StartupMessage: anything more is not its to send. */
	st_discard(s, ST_FROM_SERVER, n - 1);
	if (st_to_client(out, "S", 1) == -1)
		return st_fail(s, "output full");
	s->u.pg.state = PG_TLS;
	return ST_START_TLS;
}

enum st_verdict
st_pg_feed(struct starttls *s, enum st_dir dir, const uint8_t *in, size_t n, struct st_out *out)
{
	return dir == ST_FROM_SERVER ? pg_from_server(s, in, n, out) :
	    pg_from_client(s, in, n, out);
}
