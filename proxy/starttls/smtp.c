/* SMTP STARTTLS (RFC 3207) for a service that does not offer it.
 *
 * Server replies (RFC 5321 §4.2: "ddd-text" lines, then a last "ddd text" or "ddd" line) are
 * held whole, so the answer to EHLO can be checked for STARTTLS before the client sees any of
 * it and rewritten as one piece. Every command forwarded while inspecting is one the server
 * answers with exactly one reply, which keeps the queue of expected replies exact: EHLO, HELO,
 * NOOP, RSET. Anything else (MAIL, AUTH, DATA, QUIT, an FTP client's USER...) means the client
 * is going on in plaintext, and jfe stops inspecting. Inside TLS, the reply to the client's new
 * EHLO loses any STARTTLS line (RFC 3207 §4.2), and then everything passes.
 *
 * A STARTTLS that arrives while replies are still owed (a pipelining client) is answered only
 * after them, so that the client reads its replies in order before the TLS handshake. */
#include "proxy/starttls/common.h"

#include <string.h>

enum { SMTP_GREETING, SMTP_EHLO, SMTP_OTHER };

static const char smtp_ready[] = "220 2.0.0 Ready to start TLS\r\n";

int
st_smtp_detect(const uint8_t *buf, size_t len)
{
	int r = st_match_prefix(buf, len, "220", 0);

	if (r != 1)
		return r;
	if (len == 3)
		return -1;
	return buf[3] == ' ' || buf[3] == '-';
}

void
st_smtp_init(struct starttls *s)
{
	st_fifo_push(&s->u.smtp.pending, SMTP_GREETING);
}

/* Checks one reply line: three digits, then '-' (more lines follow) or SP or nothing (last). */
static int
smtp_reply_line(const uint8_t *p, size_t n, int *last)
{
	size_t body = st_body_len(p, n);

	if (body < 3 || !st_is_digit(p[0]) || !st_is_digit(p[1]) || !st_is_digit(p[2]))
		return -1;
	if (body == 3 || p[3] == ' ')
		*last = 1;
	else if (p[3] == '-')
		*last = 0;
	else
		return -1;
	return 0;
}

/* The EHLO keyword of a reply line, as in "250-STARTTLS" or "250 STARTTLS". */
static int
smtp_line_is_starttls(const uint8_t *p, size_t n)
{
	size_t body = st_body_len(p, n);

	return body > 4 && st_word_is(p + 4, body - 4, "STARTTLS");
}

static size_t
smtp_line_end(const uint8_t *data, size_t len, size_t at)
{
	const uint8_t *nl = memchr(data + at, '\n', len - at);

	return nl != NULL ? (size_t)(nl - data) + 1 : len;
}

/* Any line but the first (which names the server) listing STARTTLS. */
static int
smtp_reply_has_starttls(const struct st_buf *b)
{
	size_t at = smtp_line_end(b->data, b->len, 0), next;

	for (; at < b->len; at = next) {
		next = smtp_line_end(b->data, b->len, at);
		if (smtp_line_is_starttls(b->data + at, next - at))
			return 1;
	}
	return 0;
}

/* Adds STARTTLS to a 250 reply to EHLO. The first line must stay the server's name (RFC 5321
 * §4.1.1.1), so a one-line reply becomes two; otherwise the keyword goes before the last line. */
static int
smtp_emit_with_starttls(struct st_buf *b, struct st_out *out)
{
	static const char line[] = "250-STARTTLS\r\n", last[] = "250 STARTTLS\r\n";
	size_t after_code = b->len > 3 && b->data[3] == ' ' ? 4 : 3;

	if (b->line > 0)
		return st_to_client(out, b->data, b->line) == -1 ||
		    st_to_client(out, line, sizeof(line) - 1) == -1 ||
		    st_to_client(out, b->data + b->line, b->len - b->line) == -1 ? -1 : 0;
	return st_to_client(out, "250-", 4) == -1 ||
	    st_to_client(out, b->data + after_code, b->len - after_code) == -1 ||
	    st_to_client(out, last, sizeof(last) - 1) == -1 ? -1 : 0;
}

/* Removes STARTTLS lines from a reply to EHLO sent inside TLS (RFC 3207 §4.2: the server must
 * not offer it again). The separators are rebuilt so that the last line kept ends the reply. */
static int
smtp_emit_without_starttls(struct st_buf *b, struct st_out *out)
{
	size_t at, next, keep_last = 0;

	for (at = 0; at < b->len; at = next) {
		next = smtp_line_end(b->data, b->len, at);
		if (at == 0 || !smtp_line_is_starttls(b->data + at, next - at))
			keep_last = at;
	}
	for (at = 0; at < b->len; at = next) {
		const uint8_t *p = b->data + at;
		size_t n, rest;

		next = smtp_line_end(b->data, b->len, at);
		n = next - at;
		if (at != 0 && smtp_line_is_starttls(p, n))
			continue;
		rest = st_body_len(p, n) > 3 ? 4 : 3;
		if (st_to_client(out, p, 3) == -1 ||
		    st_to_client(out, at == keep_last ? " " : "-", 1) == -1 ||
		    st_to_client(out, p + rest, n - rest) == -1)
			return -1;
	}
	return 0;
}

/* Answers STARTTLS; the <rest> bytes left in this feed from <dir> were sent before the
 * handshake and are dropped. */
static enum st_verdict
smtp_start_tls(struct starttls *s, enum st_dir dir, size_t rest, struct st_out *out)
{
	st_discard(s, dir, rest);
	st_fifo_clear(&s->u.smtp.pending);
	if (st_to_client(out, smtp_ready, sizeof(smtp_ready) - 1) == -1)
		return st_fail(s, "output full");
	return ST_START_TLS;
}

/* A whole reply is held in s->srv. */
static enum st_verdict
smtp_reply(struct starttls *s, const uint8_t *rest, size_t n, struct st_out *out)
{
	struct st_buf *b = &s->srv;
	int kind = st_fifo_pop(&s->u.smtp.pending);
	int ehlo_ok = kind == SMTP_EHLO && memcmp(b->data, "250", 3) == 0;
	int r;

	if (ehlo_ok && s->phase == ST_PH_TLS) {
		r = smtp_reply_has_starttls(b) ? smtp_emit_without_starttls(b, out) :
		    st_to_client(out, b->data, b->len);
		if (r == -1)
			return st_fail(s, "output full");
		st_buf_reset(b);
		return st_passthrough(s, ST_FROM_SERVER, rest, n, out);
	}
	if (ehlo_ok && s->phase == ST_PH_PLAIN) {
		if (smtp_reply_has_starttls(b)) {
			st_log(s, "the service offers STARTTLS itself", NULL, 0);
			return st_passthrough(s, ST_FROM_SERVER, rest, n, out);
		}
		if (smtp_emit_with_starttls(b, out) == -1)
			return st_fail(s, "output full");
		s->rewritten = 1;
		st_buf_reset(b);
	} else if (st_emit_buf(out, ST_FROM_SERVER, b) == -1)
		return st_fail(s, "output full");
	if (s->phase == ST_PH_WAIT && s->u.smtp.pending.len == 0)
		return smtp_start_tls(s, ST_FROM_SERVER, n, out);
	return ST_CONTINUE;
}

static enum st_verdict
smtp_from_server(struct starttls *s, const uint8_t *in, size_t n, struct st_out *out)
{
	struct st_buf *b = &s->srv;
	size_t off = 0, used;
	enum st_verdict v;
	int r, last;

	while (off < n) {
		r = st_take_line(b, in + off, n - off, &used);
		off += used;
		if (r == 0)
			break;
		if (r < 0)
			return st_malformed(s, ST_FROM_SERVER, in + off, n - off, out,
			    "over-long reply");
		/* All lines of one reply carry the same code (RFC 5321 §4.2.1). */
		if (smtp_reply_line(b->data + b->line, b->len - b->line, &last) == -1 ||
		    (b->line > 0 && memcmp(b->data, b->data + b->line, 3) != 0))
			return st_malformed(s, ST_FROM_SERVER, in + off, n - off, out,
			    "malformed reply");
		if (!last) {
			b->line = b->len;
			continue;
		}
		if ((v = smtp_reply(s, in + off, n - off, out)) != ST_CONTINUE)
			return v;
	}
	return ST_CONTINUE;
}

/* A whole command line is held in s->cli. */
static enum st_verdict
smtp_command(struct starttls *s, const uint8_t *rest, size_t n, struct st_out *out)
{
	struct st_buf *b = &s->cli;
	size_t body = st_body_len(b->data, b->len);
	int kind;

	if (s->phase == ST_PH_PLAIN && st_word_is(b->data, body, "STARTTLS") &&
	    st_word_alone(b->data, body)) {
		st_buf_reset(b);
		if (s->u.smtp.pending.len == 0)
			return smtp_start_tls(s, ST_FROM_CLIENT, n, out);
		st_log(s, "STARTTLS waits for earlier replies", NULL, 0);
		/* The server will never see this command: from here on jfe must answer it. */
		s->rewritten = 1;
		s->phase = ST_PH_WAIT;
		return ST_CONTINUE;
	}
	if (st_word_is(b->data, body, "EHLO"))
		kind = SMTP_EHLO;
	else if (st_word_is(b->data, body, "HELO") || st_word_is(b->data, body, "NOOP") ||
	    st_word_is(b->data, body, "RSET"))
		kind = SMTP_OTHER;
	else
		return st_passthrough(s, ST_FROM_CLIENT, rest, n, out);
	if (st_fifo_push(&s->u.smtp.pending, (uint8_t)kind) == -1)
		return st_malformed(s, ST_FROM_CLIENT, rest, n, out, "too many commands in flight");
	if (st_emit_buf(out, ST_FROM_CLIENT, b) == -1)
		return st_fail(s, "output full");
	return ST_CONTINUE;
}

static enum st_verdict
smtp_from_client(struct starttls *s, const uint8_t *in, size_t n, struct st_out *out)
{
	return st_client_lines(s, in, n, out, smtp_command);
}

enum st_verdict
st_smtp_feed(struct starttls *s, enum st_dir dir, const uint8_t *in, size_t n, struct st_out *out)
{
	return dir == ST_FROM_SERVER ? smtp_from_server(s, in, n, out) :
	    smtp_from_client(s, in, n, out);
}
