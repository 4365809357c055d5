/* POP3 STLS (RFC 2595 §4) for a service that does not offer it, announced in the answer to CAPA
 * (RFC 2449 §5).
 *
 * Before authentication a POP3 client only needs CAPA and STLS (RFC 2595: STLS is allowed in the
 * AUTHORIZATION state only); every other command (USER, PASS, APOP, AUTH, QUIT...) means the
 * client goes on in plaintext, and jfe stops inspecting. So the only multi-line answer ever
 * inspected is CAPA's, and a queue of the answers owed keeps single- and multi-line answers apart
 * even when the client pipelines (RFC 2449 PIPELINING). */
#include "proxy/starttls/common.h"

#include <string.h>

enum { POP3_SINGLE, POP3_MULTI };

static const char pop3_ready[] = "+OK Begin TLS negotiation\r\n";
static const char pop3_stls[] = "STLS\r\n";

int
st_pop3_detect(const uint8_t *buf, size_t len)
{
	int r = st_match_prefix(buf, len, "+OK", 0);

	if (r != 1)
		return r;
	if (len == 3)
		return -1;
	return buf[3] == ' ' || buf[3] == '\r' || buf[3] == '\n';
}

void
st_pop3_init(struct starttls *s)
{
	st_fifo_push(&s->u.pop3.pending, POP3_SINGLE);
}

static enum st_verdict
pop3_start_tls(struct starttls *s, enum st_dir dir, size_t rest, struct st_out *out)
{
	st_discard(s, dir, rest);
	st_fifo_clear(&s->u.pop3.pending);
	s->u.pop3.in_multi = 0;
	if (st_to_client(out, pop3_ready, sizeof(pop3_ready) - 1) == -1)
		return st_fail(s, "output full");
	return ST_START_TLS;
}

/* An answer of <kind> has been relayed whole. */
static enum st_verdict
pop3_answered(struct starttls *s, int kind, const uint8_t *rest, size_t n, struct st_out *out)
{
	/* Inside TLS only the first CAPA is inspected, to hide STLS. */
	if (s->phase == ST_PH_TLS && kind == POP3_MULTI)
		return st_passthrough(s, ST_FROM_SERVER, rest, n, out);
	if (s->phase == ST_PH_WAIT && s->u.pop3.pending.len == 0)
		return pop3_start_tls(s, ST_FROM_SERVER, n, out);
	return ST_CONTINUE;
}

/* A line of CAPA's multi-line answer, held in s->srv. */
static enum st_verdict
pop3_capa_line(struct starttls *s, const uint8_t *rest, size_t n, struct st_out *out)
{
	struct st_buf *b = &s->srv;
	size_t body = st_body_len(b->data, b->len);

	if (body == 1 && b->data[0] == '.') {
		if (s->phase == ST_PH_PLAIN) {
			if (st_to_client(out, pop3_stls, sizeof(pop3_stls) - 1) == -1)
				return st_fail(s, "output full");
			s->rewritten = 1;
		}
		if (st_emit_buf(out, ST_FROM_SERVER, b) == -1)
			return st_fail(s, "output full");
		s->u.pop3.in_multi = 0;
		return pop3_answered(s, POP3_MULTI, rest, n, out);
	}
	if (st_word_is(b->data, body, "STLS")) {
		if (s->phase == ST_PH_PLAIN) {
			st_log(s, "the service offers STLS itself", NULL, 0);
			return st_passthrough(s, ST_FROM_SERVER, rest, n, out);
		}
		if (s->phase == ST_PH_TLS) {
			st_buf_reset(b);
			return ST_CONTINUE;
		}
	}
	if (st_emit_buf(out, ST_FROM_SERVER, b) == -1)
		return st_fail(s, "output full");
	return ST_CONTINUE;
}

/* A status line ("+OK ..." or "-ERR ..."), held in s->srv. */
static enum st_verdict
pop3_status_line(struct starttls *s, const uint8_t *rest, size_t n, struct st_out *out)
{
	struct st_buf *b = &s->srv;
	int kind = st_fifo_pop(&s->u.pop3.pending);

	if (b->data[0] != '+' && b->data[0] != '-')
		return st_malformed(s, ST_FROM_SERVER, rest, n, out, "malformed status");
	if (kind == POP3_MULTI && st_prefix_ci(b->data, b->len, "+OK"))
		s->u.pop3.in_multi = 1;
	if (st_emit_buf(out, ST_FROM_SERVER, b) == -1)
		return st_fail(s, "output full");
	if (s->u.pop3.in_multi)
		return ST_CONTINUE;
	return pop3_answered(s, kind, rest, n, out);
}

static enum st_verdict
pop3_from_server(struct starttls *s, const uint8_t *in, size_t n, struct st_out *out)
{
	size_t off = 0, used;
	enum st_verdict v;
	int r;

	while (off < n) {
		r = st_take_line(&s->srv, in + off, n - off, &used);
		off += used;
		if (r == 0)
			break;
		if (r < 0)
			return st_malformed(s, ST_FROM_SERVER, in + off, n - off, out,
			    "over-long line");
		v = s->u.pop3.in_multi ? pop3_capa_line(s, in + off, n - off, out) :
		    pop3_status_line(s, in + off, n - off, out);
		if (v != ST_CONTINUE)
			return v;
	}
	return ST_CONTINUE;
}

/* A whole command line, held in s->cli. */
static enum st_verdict
pop3_command(struct starttls *s, const uint8_t *rest, size_t n, struct st_out *out)
{
	struct st_buf *b = &s->cli;
	size_t body = st_body_len(b->data, b->len);

	if (s->phase == ST_PH_PLAIN && st_word_is(b->data, body, "STLS") &&
	    st_word_alone(b->data, body)) {
		st_buf_reset(b);
		if (s->u.pop3.pending.len == 0)
			return pop3_start_tls(s, ST_FROM_CLIENT, n, out);
		st_log(s, "STLS waits for earlier answers", NULL, 0);
		/* The server will never see this command: from here on jfe must answer it. */
		s->rewritten = 1;
		s->phase = ST_PH_WAIT;
		return ST_CONTINUE;
	}
	if (!st_word_is(b->data, body, "CAPA"))
		return st_passthrough(s, ST_FROM_CLIENT, rest, n, out);
	if (st_fifo_push(&s->u.pop3.pending, POP3_MULTI) == -1)
		return st_malformed(s, ST_FROM_CLIENT, rest, n, out, "too many commands in flight");
	if (st_emit_buf(out, ST_FROM_CLIENT, b) == -1)
		return st_fail(s, "output full");
	return ST_CONTINUE;
}

static enum st_verdict
pop3_from_client(struct starttls *s, const uint8_t *in, size_t n, struct st_out *out)
{
	return st_client_lines(s, in, n, out, pop3_command);
}

enum st_verdict
st_pop3_feed(struct starttls *s, enum st_dir dir, const uint8_t *in, size_t n, struct st_out *out)
{
	return dir == ST_FROM_SERVER ? pop3_from_server(s, in, n, out) :
	    pop3_from_client(s, in, n, out);
}
