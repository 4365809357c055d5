/* IMAP STARTTLS (RFC 9051 §6.2.1, RFC 3501 §6.2.1) for a service that does not offer it.
 *
 * Before TLS, STARTTLS is added to every capability list the server sends: the untagged
 * "* CAPABILITY ..." response and the [CAPABILITY ...] response code of an OK (greetings and
 * Dovecot-style tagged OKs). A list that already has STARTTLS means the service does TLS itself:
 * pass through. Inside TLS the lists lose STARTTLS and LOGINDISABLED: the service still sees a
 * plaintext connection and may announce LOGINDISABLED to it, but the client is now encrypted;
 * whether the service then accepts the login is its own configuration (see the tests).
 *
 * Literals ("{n}" or "{n+}" ending a line, RFC 9051 §4.3, RFC 7888) are followed on both sides,
 * so that bytes inside a literal are never taken for a command or a response. Commands are
 * counted until their tagged answer so that a pipelined STARTTLS is answered in order.
 * LOGIN and AUTHENTICATE end the inspection: the client chose to authenticate in plaintext, and
 * STARTTLS is not allowed once authenticated. */
#include "proxy/starttls/common.h"

#include <string.h>

static const char *const imap_drop_in_tls[] = { "STARTTLS", "LOGINDISABLED", NULL };

int
st_imap_detect(const uint8_t *buf, size_t len)
{
	return st_match_prefix(buf, len, "* OK ", 1);
}

void
st_imap_init(struct starttls *s)
{
	/* A STARTTLS sent before the greeting is answered after it. */
	s->u.imap.outstanding = 1;
}

/* If the line ends with a literal announcement, returns 1 and its size in *size; 0 if it does
 * not; -1 for one too large to be real. */
static int
imap_literal(const uint8_t *p, size_t body, uint32_t *size)
{
	size_t end, i;
	uint64_t v = 0;

	if (body == 0 || p[body - 1] != '}')
		return 0;
	end = body - 1;
	if (end > 0 && p[end - 1] == '+')
		end--;
	for (i = end; i > 0 && st_is_digit(p[i - 1]); i--)
		;
	if (i == end || i == 0 || p[i - 1] != '{')
		return 0;
	if (end - i > 10)
		return -1;
	for (; i < end; i++)
		v = v * 10 + (uint64_t)(p[i] - '0');
	if (v > UINT32_MAX)
		return -1;
	*size = (uint32_t)v;
	return 1;
}

/* tag = 1*<ASTRING-CHAR except "+"> (RFC 9051 §9): no controls, SP, ( ) { % * " \ or +. */
static int
imap_tag_char(uint8_t c)
{
	return c > ' ' && c < 0x7f && strchr("(){%*\"\\+", c) == NULL;
}

/* The tag of a line and the word after it. */
static int
imap_tag_and_word(const uint8_t *p, size_t body, size_t *tag_len, size_t *word)
{
	size_t t;

	for (t = 0; t < body && imap_tag_char(p[t]); t++)
		;
	if (t == 0 || t + 1 >= body || p[t] != ' ')
		return -1;
	*tag_len = t;
	*word = t + 1;
	return 0;
}

/* Finds the capability list of a server line: "* CAPABILITY a b" or "x OK [CAPABILITY a b] text".
 * 1 with the list at p[*start, *end). */
static int
imap_caps_find(const uint8_t *p, size_t body, size_t *start, size_t *end)
{
	static const char untagged[] = "* CAPABILITY", code[] = "OK [CAPABILITY";
	const uint8_t *close;
	size_t i;

	if (st_prefix_ci(p, body, untagged)) {
		i = sizeof(untagged) - 1;
		if (i < body && p[i] != ' ')
			return 0;
		*start = i < body ? i + 1 : i;
		*end = body;
		return 1;
	}
	for (i = 0; i < body && p[i] != ' '; i++)
		;
	if (i == 0 || i == body)
		return 0;
	i++;
	if (!st_prefix_ci(p + i, body - i, code))
		return 0;
	i += sizeof(code) - 1;
	if ((close = memchr(p + i, ']', body - i)) == NULL)
		return 0;
	if (p[i] != ' ' && p + i != close)
		return 0;
	*start = p + i == close ? i : i + 1;
	*end = (size_t)(close - p);
	return 1;
}

static int
imap_caps_has(const uint8_t *p, size_t start, size_t end, const char *cap)
{
	size_t i = start, w;

	while (i < end) {
		for (w = i; w < end && p[w] != ' '; w++)
			;
		if (w - i == strlen(cap) && st_prefix_ci(p + i, w - i, cap))
			return 1;
		i = w + 1;
	}
	return 0;
}

static int
imap_dropped(const uint8_t *p, size_t n, const char *const *drop)
{
	for (; *drop != NULL; drop++)
		if (n == strlen(*drop) && st_prefix_ci(p, n, *drop))
			return 1;
	return 0;
}

/* Emits the line with the listed capabilities taken out of p[start, end). */
static int
imap_emit_caps_without(struct st_out *out, const uint8_t *p, size_t len, size_t start,
    size_t end, const char *const *drop)
{
	size_t i = start, w;
	int first = 1;

	if (st_to_client(out, p, start) == -1)
		return -1;
	while (i < end) {
		for (w = i; w < end && p[w] != ' '; w++)
			;
		if (w > i && !imap_dropped(p + i, w - i, drop)) {
			if ((!first && st_to_client(out, " ", 1) == -1) ||
			    st_to_client(out, p + i, w - i) == -1)
				return -1;
			first = 0;
		}
		i = w + 1;
	}
	return st_to_client(out, p + end, len - end);
}

static int
imap_caps_need_drop(const uint8_t *p, size_t start, size_t end, const char *const *drop)
{
	for (; *drop != NULL; drop++)
		if (imap_caps_has(p, start, end, *drop))
			return 1;
	return 0;
}

static enum st_verdict
imap_start_tls(struct starttls *s, enum st_dir dir, size_t rest, struct st_out *out)
{
	static const char ok[] = " OK Begin TLS negotiation now\r\n";
	struct st_imap *m = &s->u.imap;

	st_discard(s, dir, rest);
	if (st_to_client(out, m->tag, m->tag_len) == -1 ||
	    st_to_client(out, ok, sizeof(ok) - 1) == -1)
		return st_fail(s, "output full");
	m->outstanding = 0;
	m->literal[0] = m->literal[1] = 0;
	m->cont[0] = m->cont[1] = 0;
	m->tag_len = 0;
	return ST_START_TLS;
}

/* Rewrites the capability list of a response (held in s->srv) for the phase, or passes through
 * when the service offers STARTTLS itself. ST_CONTINUE once the line is emitted. */
static enum st_verdict
imap_server_caps(struct starttls *s, size_t start, size_t end, const uint8_t *rest, size_t n,
    struct st_out *out)
{
	static const char add[] = " STARTTLS";
	struct st_buf *b = &s->srv;
	int r;

	if (s->phase == ST_PH_TLS)
		r = imap_caps_need_drop(b->data, start, end, imap_drop_in_tls) ?
		    imap_emit_caps_without(out, b->data, b->len, start, end, imap_drop_in_tls) :
		    st_to_client(out, b->data, b->len);
	else if (imap_caps_has(b->data, start, end, "STARTTLS")) {
		if (s->phase == ST_PH_PLAIN) {
			st_log(s, "the service offers STARTTLS itself", NULL, 0);
			return st_passthrough(s, ST_FROM_SERVER, rest, n, out);
		}
		r = st_to_client(out, b->data, b->len);
	} else if (s->phase == ST_PH_PLAIN) {
		r = st_to_client(out, b->data, end) == -1 ||
		    st_to_client(out, add, sizeof(add) - 1) == -1 ||
		    st_to_client(out, b->data + end, b->len - end) == -1 ? -1 : 0;
		s->rewritten = 1;
	} else
		r = st_to_client(out, b->data, b->len);
	if (r == -1)
		return st_fail(s, "output full");
	st_buf_reset(b);
	return ST_CONTINUE;
}

/* A whole server line (or segment between literals) is held in s->srv. */
static enum st_verdict
imap_server_line(struct starttls *s, const uint8_t *rest, size_t n, struct st_out *out)
{
	struct st_imap *m = &s->u.imap;
	struct st_buf *b = &s->srv;
	size_t body = st_body_len(b->data, b->len), start, end, tag_len, word;
	int cont = m->cont[ST_FROM_SERVER], lit, tagged;
	uint32_t size = 0;
	enum st_verdict v;

	if ((lit = imap_literal(b->data, body, &size)) == -1)
		return st_malformed(s, ST_FROM_SERVER, rest, n, out, "literal too large");
	m->cont[ST_FROM_SERVER] = (uint8_t)lit;
	m->literal[ST_FROM_SERVER] = size;
	/* Capability lists and status responses carry no literals: relay those lines as is. */
	if (cont || lit) {
		if (st_emit_buf(out, ST_FROM_SERVER, b) == -1)
			return st_fail(s, "output full");
		return ST_CONTINUE;
	}
	tagged = body > 0 && b->data[0] != '*' && b->data[0] != '+' &&
	    imap_tag_and_word(b->data, body, &tag_len, &word) == 0;
	if (tagged && s->phase == ST_PH_TLS)
		tagged = m->first_sent && tag_len == m->tag_len &&
		    memcmp(b->data, m->tag, tag_len) == 0;
	if (imap_caps_find(b->data, body, &start, &end)) {
		if ((v = imap_server_caps(s, start, end, rest, n, out)) != ST_CONTINUE)
			return v;
	} else if (st_emit_buf(out, ST_FROM_SERVER, b) == -1)
		return st_fail(s, "output full");
	if (s->phase == ST_PH_TLS)
		return tagged ? st_passthrough(s, ST_FROM_SERVER, rest, n, out) : ST_CONTINUE;
	if ((tagged || !m->greeted) && m->outstanding > 0)
		m->outstanding--;
	m->greeted = 1;
	if (s->phase == ST_PH_WAIT && m->outstanding == 0)
		return imap_start_tls(s, ST_FROM_SERVER, n, out);
	return ST_CONTINUE;
}

/* A whole client line (or segment between literals) is held in s->cli. */
static enum st_verdict
imap_client_line(struct starttls *s, const uint8_t *rest, size_t n, struct st_out *out)
{
	struct st_imap *m = &s->u.imap;
	struct st_buf *b = &s->cli;
	size_t body = st_body_len(b->data, b->len), tag_len, word;
	int cont = m->cont[ST_FROM_CLIENT], lit, command;
	uint32_t size = 0;

	if ((lit = imap_literal(b->data, body, &size)) == -1)
		return st_malformed(s, ST_FROM_CLIENT, rest, n, out, "literal too large");
	m->cont[ST_FROM_CLIENT] = (uint8_t)lit;
	m->literal[ST_FROM_CLIENT] = size;
	command = !cont && imap_tag_and_word(b->data, body, &tag_len, &word) == 0;
	if (command && tag_len > ST_TAG_MAX)
		return st_malformed(s, ST_FROM_CLIENT, rest, n, out, "tag too long");
	if (command && s->phase == ST_PH_TLS) {
		/* The first command inside TLS: its tagged answer ends the inspection. */
		memcpy(m->tag, b->data, tag_len);
		m->tag_len = (uint8_t)tag_len;
		m->first_sent = 1;
	} else if (command && st_word_is(b->data + word, body - word, "STARTTLS") &&
	    st_word_alone(b->data + word, body - word)) {
		memcpy(m->tag, b->data, tag_len);
		m->tag_len = (uint8_t)tag_len;
		st_buf_reset(b);
		if (m->outstanding == 0)
			return imap_start_tls(s, ST_FROM_CLIENT, n, out);
		st_log(s, "STARTTLS waits for earlier answers", NULL, 0);
		/* The server will never see this command: from here on jfe must answer it. */
		s->rewritten = 1;
		s->phase = ST_PH_WAIT;
		return ST_CONTINUE;
	} else if (command && (st_word_is(b->data + word, body - word, "LOGIN") ||
	    st_word_is(b->data + word, body - word, "AUTHENTICATE")))
		return st_passthrough(s, ST_FROM_CLIENT, rest, n, out);
	/* A command is answered once its last segment is in; a line without a tag gets an
	 * untagged BAD, so it is not counted. */
	if (!lit && (command || cont) && s->phase == ST_PH_PLAIN)
		m->outstanding++;
	if (st_emit_buf(out, ST_FROM_CLIENT, b) == -1)
		return st_fail(s, "output full");
	return ST_CONTINUE;
}

/* Relays the literal bytes <dir> still owes from in[0..n); *used is how many. 0, or -1 when the
 * output is full. */
static int
imap_relay_literal(struct starttls *s, enum st_dir dir, const uint8_t *in, size_t n,
    size_t *used, struct st_out *out)
{
	uint32_t *left = &s->u.imap.literal[dir];
	size_t take = n < *left ? n : *left;

	*used = take;
	*left -= (uint32_t)take;
	return st_forward(out, dir, in, take);
}

enum st_verdict
st_imap_feed(struct starttls *s, enum st_dir dir, const uint8_t *in, size_t n, struct st_out *out)
{
	struct st_imap *m = &s->u.imap;
	struct st_buf *b = dir == ST_FROM_SERVER ? &s->srv : &s->cli;
	size_t off = 0, used;
	enum st_verdict v;
	int r;

	while (off < n) {
		if (dir == ST_FROM_CLIENT && s->phase == ST_PH_WAIT) {
			st_discard(s, dir, n - off);
			break;
		}
		if (dir == ST_FROM_CLIENT && s->phase == ST_PH_TLS && m->first_sent) {
			/* Only the server's answer is still inspected. */
			if (st_to_server(out, in + off, n - off) == -1)
				return st_fail(s, "output full");
			break;
		}
		if (m->literal[dir] > 0) {
			if (imap_relay_literal(s, dir, in + off, n - off, &used, out) == -1)
				return st_fail(s, "output full");
			off += used;
			continue;
		}
		r = st_take_line(b, in + off, n - off, &used);
		off += used;
		if (r == 0)
			break;
		if (r < 0)
			return st_malformed(s, dir, in + off, n - off, out, "over-long line");
		v = dir == ST_FROM_SERVER ? imap_server_line(s, in + off, n - off, out) :
		    imap_client_line(s, in + off, n - off, out);
		if (v != ST_CONTINUE)
			return v;
	}
	return ST_CONTINUE;
}
