/* STARTTLS machines: detection, dispatch, and the pieces every protocol shares (line buffering,
 * bounded output, the pass-through / malformed / discard paths).
 *
 * Every feed starts by checking its arguments against the bounds of proxy/starttls-t.h, so
 * that no protocol file has to: an input of at most ST_FEED_MAX bytes plus at most ST_MAX_LINE
 * held bytes always fits in ST_OUT_MIN, and each emit is still checked (a flood of tiny replies
 * each earning an insertion closes the session instead of overflowing). */
#include "proxy/starttls/common.h"
#include "agent/log.h"

#include <string.h>

struct st_ops {
	const char	*name;
	void		(*init)(struct starttls *);
	enum st_verdict	(*feed)(struct starttls *, enum st_dir, const uint8_t *, size_t,
			    struct st_out *);
};

static const struct st_ops st_ops[] = {
	[ST_PROTO_NONE] =	{ "none", NULL, NULL },
	[ST_PROTO_SMTP] =	{ "smtp", st_smtp_init, st_smtp_feed },
	[ST_PROTO_IMAP] =	{ "imap", st_imap_init, st_imap_feed },
	[ST_PROTO_POP3] =	{ "pop3", st_pop3_init, st_pop3_feed },
	[ST_PROTO_PG] =		{ "postgresql", st_pg_init, st_pg_feed },
	[ST_PROTO_MYSQL] =	{ "mysql", st_mysql_init, st_mysql_feed },
};

#define ST_NPROTO	(sizeof(st_ops) / sizeof(st_ops[0]))

const char *
starttls_proto_name(enum st_proto p)
{
	if ((unsigned)p >= ST_NPROTO)
		return "unknown";
	return st_ops[p].name;
}

size_t
starttls_size(void)
{
	return sizeof(struct starttls);
}

/* ---- detection ---------------------------------------------------------------------------- */

int
st_match_prefix(const uint8_t *buf, size_t len, const char *lit, int ci)
{
	size_t i;

	for (i = 0; lit[i] != '\0'; i++) {
		uint8_t a, b;

		if (i == len)
			return -1;
		a = buf[i];
		b = (uint8_t)lit[i];
		if (ci && a >= 'a' && a <= 'z')
			a = (uint8_t)(a - 'a' + 'A');
		if (a != b)
			return 0;
	}
	return 1;
}

int
starttls_detect_server(const uint8_t *buf, size_t len, enum st_proto *proto)
{
	static const struct {
		enum st_proto	proto;
		int		(*detect)(const uint8_t *, size_t);
	} detectors[] = {
		{ ST_PROTO_SMTP, st_smtp_detect },
		{ ST_PROTO_IMAP, st_imap_detect },
		{ ST_PROTO_POP3, st_pop3_detect },
		{ ST_PROTO_MYSQL, st_mysql_detect },
	};
	size_t i;
	int need = 0;

	*proto = ST_PROTO_NONE;
	for (i = 0; i < sizeof(detectors) / sizeof(detectors[0]); i++) {
		int r = detectors[i].detect(buf, len);

		if (r == 1) {
			*proto = detectors[i].proto;
			return 1;
		}
		if (r == -1)
			need = 1;
	}
	return need ? -1 : 0;
}

int
starttls_detect_client(const uint8_t *buf, size_t len, enum st_proto *proto)
{
	int r = st_pg_detect(buf, len);

	*proto = r == 1 ? ST_PROTO_PG : ST_PROTO_NONE;
	return r;
}

/* ---- output ------------------------------------------------------------------------------- */

static int
st_emit(uint8_t *buf, size_t *len, size_t cap, const void *p, size_t n)
{
	if (n == 0)
		return 0;
	if (n > cap - *len)
		return -1;
	memcpy(buf + *len, p, n);
	*len += n;
	return 0;
}

int
st_to_client(struct st_out *out, const void *p, size_t n)
{
	return st_emit(out->to_client, &out->to_client_len, out->cap, p, n);
}

int
st_to_server(struct st_out *out, const void *p, size_t n)
{
	return st_emit(out->to_server, &out->to_server_len, out->cap, p, n);
}

int
st_forward(struct st_out *out, enum st_dir dir, const void *p, size_t n)
{
	return dir == ST_FROM_SERVER ? st_to_client(out, p, n) : st_to_server(out, p, n);
}

int
st_forward_str(struct st_out *out, enum st_dir dir, const char *str)
{
	return st_forward(out, dir, str, strlen(str));
}

/* ---- held bytes --------------------------------------------------------------------------- */

void
st_buf_reset(struct st_buf *b)
{
	b->len = 0;
	b->line = 0;
}

int
st_take_line(struct st_buf *b, const uint8_t *in, size_t n, size_t *used)
{
	const uint8_t *nl = memchr(in, '\n', n);
	size_t take = nl != NULL ? (size_t)(nl - in) + 1 : n;

	*used = 0;
	if (take > sizeof(b->data) - b->len)
		return -1;
	memcpy(b->data + b->len, in, take);
	b->len += take;
	*used = take;
	return nl != NULL;
}

int
st_take_exact(struct st_buf *b, size_t want, const uint8_t *in, size_t n, size_t *used)
{
	size_t take = 0;

	if (want > sizeof(b->data))
		want = sizeof(b->data);
	if (b->len < want) {
		take = want - b->len;
		if (take > n)
			take = n;
		memcpy(b->data + b->len, in, take);
		b->len += take;
	}
	*used = take;
	return b->len == want;
}

int
st_emit_buf(struct st_out *out, enum st_dir dir, struct st_buf *b)
{
	if (st_forward(out, dir, b->data, b->len) == -1)
		return -1;
	st_buf_reset(b);
	return 0;
}

/* ---- line parsing ------------------------------------------------------------------------- */

size_t
st_body_len(const uint8_t *p, size_t n)
{
	if (n > 0 && p[n - 1] == '\n')
		n--;
	if (n > 0 && p[n - 1] == '\r')
		n--;
	return n;
}

int
st_is_digit(uint8_t c)
{
	return c >= '0' && c <= '9';
}

int
st_prefix_ci(const uint8_t *p, size_t n, const char *prefix)
{
	return st_match_prefix(p, n, prefix, 1) == 1;
}

static size_t
st_word_len(const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n && p[i] != ' ' && p[i] != '\t'; i++)
		;
	return i;
}

int
st_word_is(const uint8_t *p, size_t n, const char *word)
{
	size_t w = st_word_len(p, n);

	return w == strlen(word) && st_prefix_ci(p, w, word);
}

int
st_word_alone(const uint8_t *p, size_t n)
{
	size_t i;

	for (i = st_word_len(p, n); i < n; i++)
		if (p[i] != ' ' && p[i] != '\t')
			return 0;
	return 1;
}

/* ---- reply queues ------------------------------------------------------------------------- */

void
st_fifo_clear(struct st_fifo *f)
{
	f->len = 0;
}

int
st_fifo_push(struct st_fifo *f, uint8_t kind)
{
	if (f->len >= ST_MAX_PENDING)
		return -1;
	f->kind[f->len++] = kind;
	return 0;
}

int
st_fifo_pop(struct st_fifo *f)
{
	int k;

	if (f->len == 0)
		return -1;
	k = f->kind[0];
	f->len--;
	memmove(f->kind, f->kind + 1, f->len);
	return k;
}

/* ---- verdict paths ------------------------------------------------------------------------ */

void
st_log(const struct starttls *s, const char *what, const uint8_t *data, size_t n)
{
	char esc[160];

	if (log_verbose() < 2)
		return;
	log_escape(esc, sizeof(esc), (const char *)data, n);
	log_msg(LOG_LVL_DEBUG, "starttls %s: %s%s%s%s", starttls_proto_name(s->proto), what,
	    n > 0 ? " \"" : "", n > 0 ? esc : "", n > 0 ? "\"" : "");
}

enum st_verdict
st_fail(struct starttls *s, const char *why)
{
	st_log(s, why, NULL, 0);
	return ST_CLOSE;
}

enum st_verdict
st_passthrough(struct starttls *s, enum st_dir dir, const uint8_t *rest, size_t n,
    struct st_out *out)
{
	if (st_emit_buf(out, ST_FROM_SERVER, &s->srv) == -1 ||
	    st_emit_buf(out, ST_FROM_CLIENT, &s->cli) == -1 ||
	    st_forward(out, dir, rest, n) == -1)
		return st_fail(s, "output full at pass-through");
	return ST_PASSTHROUGH;
}

enum st_verdict
st_malformed(struct starttls *s, enum st_dir dir, const uint8_t *rest, size_t n,
    struct st_out *out, const char *why)
{
	const struct st_buf *b = dir == ST_FROM_SERVER ? &s->srv : &s->cli;

	st_log(s, why, b->data + b->line, b->len - b->line);
	if (s->rewritten)
		return st_fail(s, "closing: the session was already rewritten");
	return st_passthrough(s, dir, rest, n, out);
}

void
st_discard(struct starttls *s, enum st_dir dir, size_t n)
{
	if (n == 0)
		return;
	s->discarded += n;
	if (log_verbose() >= 2)
		log_msg(LOG_LVL_DEBUG, "starttls %s: discarding %zu byte(s) the %s sent before "
		    "the TLS handshake", starttls_proto_name(s->proto), n,
		    dir == ST_FROM_SERVER ? "server" : "client");
}

/* ---- entry points ------------------------------------------------------------------------- */

void
starttls_init(struct starttls *s, enum st_proto proto)
{
	memset(s, 0, sizeof(*s));
	if ((unsigned)proto >= ST_NPROTO)
		proto = ST_PROTO_NONE;
	s->proto = proto;
	s->phase = proto == ST_PROTO_NONE ? ST_PH_DONE : ST_PH_PLAIN;
	if (st_ops[proto].init != NULL)
		st_ops[proto].init(s);
}

static int
st_out_usable(const struct st_out *out)
{
	return out != NULL && out->to_client != NULL && out->to_server != NULL &&
	    out->cap >= ST_OUT_MIN;
}

static enum st_verdict
st_feed(struct starttls *s, enum st_dir dir, const uint8_t *in, size_t n, struct st_out *out)
{
	enum st_verdict v;

	if (!st_out_usable(out)) {
		log_err("starttls: output buffers missing or under %d bytes", ST_OUT_MIN);
		if (s != NULL)
			s->phase = ST_PH_DEAD;
		return ST_CLOSE;
	}
	out->to_client_len = out->to_server_len = 0;
	out->tls_early = 0;
	out->client_rest_is_tls = 0;
	if (s == NULL || (in == NULL && n > 0) || n > ST_FEED_MAX) {
		log_err("starttls: feed of %zu bytes over the %d-byte bound", n, ST_FEED_MAX);
		if (s != NULL)
			s->phase = ST_PH_DEAD;
		return ST_CLOSE;
	}
	switch (s->phase) {
	case ST_PH_DEAD:
		return ST_CLOSE;
	case ST_PH_DONE:
		/* A caller that goes on feeding after pass-through gets its bytes back. */
		if (st_forward(out, dir, in, n) == -1)
			break;
		return ST_PASSTHROUGH;
	default:
		v = st_ops[s->proto].feed(s, dir, in, n, out);
		if (out->to_client_len > out->cap || out->to_server_len > out->cap ||
		    out->tls_early > n)
			v = st_fail(s, "internal bound violated");
		switch (v) {
		case ST_CONTINUE:
			return v;
		case ST_START_TLS:
			/* Nothing sent in plaintext before the handshake survives into TLS. */
			s->phase = ST_PH_TLS;
			s->rewritten = 1;
			st_buf_reset(&s->srv);
			st_buf_reset(&s->cli);
			st_log(s, "starting TLS with the client", NULL, 0);
			return v;
		case ST_PASSTHROUGH:
			s->phase = ST_PH_DONE;
			st_log(s, "passing through", NULL, 0);
			return v;
		case ST_CLOSE:
			break;
		}
	}
	s->phase = ST_PH_DEAD;
	out->to_client_len = out->to_server_len = 0;
	out->tls_early = 0;
	out->client_rest_is_tls = 0;
	return ST_CLOSE;
}

enum st_verdict
starttls_from_server(struct starttls *s, const uint8_t *in, size_t len, struct st_out *out)
{
	return st_feed(s, ST_FROM_SERVER, in, len, out);
}

enum st_verdict
starttls_from_client(struct starttls *s, const uint8_t *in, size_t len, struct st_out *out)
{
	return st_feed(s, ST_FROM_CLIENT, in, len, out);
}

enum st_verdict
starttls_flush(struct starttls *s, struct st_out *out)
{
	if (!st_out_usable(out) || s == NULL)
		return ST_CLOSE;
	out->to_client_len = out->to_server_len = 0;
	out->tls_early = 0;
	out->client_rest_is_tls = 0;
	if (s->phase == ST_PH_DEAD)
		return ST_CLOSE;
	if (st_passthrough(s, ST_FROM_SERVER, NULL, 0, out) != ST_PASSTHROUGH) {
		s->phase = ST_PH_DEAD;
		out->to_client_len = out->to_server_len = 0;
		return ST_CLOSE;
	}
	s->phase = ST_PH_DONE;
	return ST_PASSTHROUGH;
}

enum st_verdict
st_client_lines(struct starttls *s, const uint8_t *in, size_t n, struct st_out *out,
    st_command_fn command)
{
	size_t off = 0, used;
	enum st_verdict v;
	int r;

	while (off < n) {
		/* Waiting for the handshake: whatever the client pipelined is dropped. */
		if (s->phase == ST_PH_WAIT) {
			st_discard(s, ST_FROM_CLIENT, n - off);
			break;
		}
		r = st_take_line(&s->cli, in + off, n - off, &used);
		off += used;
		if (r == 0)
			break;
		if (r < 0)
			return st_malformed(s, ST_FROM_CLIENT, in + off, n - off, out,
			    "over-long command");
		if ((v = command(s, in + off, n - off, out)) != ST_CONTINUE)
			return v;
	}
	return ST_CONTINUE;
}
