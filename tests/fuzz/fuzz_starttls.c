/* libFuzzer target for proxy/starttls/. The input is a session: byte 0 picks the protocol, then
 * records of [header][payload]: header bit 7 set for bytes from the client, clear for bytes from
 * the server; the low 7 bits are the payload length, 127 meaning that the next two bytes
 * (little-endian, capped at ST_FEED_MAX) are. The session is played twice, each record fed whole
 * and then one byte at a time, routed as proxy/conn.c routes it (starttls.h). Besides what
 * ASan/UBSan catch, it checks: outputs within their capacity (guard bytes), the verdict contract
 * (nothing out on ST_CLOSE, tls_early only with ST_START_TLS, one ST_START_TLS at most), the
 * same transcript however the bytes are cut, a wire-transparent machine while nothing was
 * rewritten or dropped, and detectors monotonic over prefixes.
 * Seeds in tests/fuzz/corpus/starttls/, written by tests/fuzz/starttls_seeds.py: the unit
 * tests' scripted sessions in this format.
 * Build: clang -g -O1 -fsanitize=fuzzer,address,undefined -I. tests/fuzz/fuzz_starttls.c \
 *            proxy/starttls/[a-z]*.c agent/log.c
 * Run:   mkdir -p /tmp/starttls-corpus && ./a.out -max_total_time=60 /tmp/starttls-corpus \
 *            tests/fuzz/corpus/starttls    (new inputs go to the first, scratch, directory) */
#include "proxy/starttls.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define STREAM_MAX	(1 << 20)
#define GUARD		32

struct stream {
	uint8_t		buf[STREAM_MAX];
	size_t		len;
	int		overflow;
};

struct transcript {
	struct stream	cli_plain, cli_tls, srv, early;
	struct stream	in_cli, in_srv;		/* everything fed or relayed, per side */
	uint64_t	lost;			/* discarded by the machine or dropped by us */
	int		tls, passthrough, closed, rewritten;
	unsigned	events[4];
};

static struct transcript ta, tb;
static struct starttls st;
static uint8_t oc[ST_OUT_MIN + GUARD], os[ST_OUT_MIN + GUARD];

static void
check(int cond)
{
	if (!cond)
		abort();
}

static void
put(struct stream *s, const uint8_t *p, size_t n)
{
	if (s->overflow || n > STREAM_MAX - s->len) {
		s->overflow = 1;
		return;
	}
	if (n > 0)
		memcpy(s->buf + s->len, p, n);
	s->len += n;
}

static void
guards_check(void)
{
	size_t i;

	for (i = ST_OUT_MIN; i < ST_OUT_MIN + GUARD; i++)
		check(oc[i] == 0x5a && os[i] == 0x5a);
}

static void
relay_raw(struct transcript *t, int from_client, const uint8_t *p, size_t n)
{
	put(from_client ? &t->in_cli : &t->in_srv, p, n);
	if (from_client)
		put(&t->srv, p, n);
	else
		put(t->tls ? &t->cli_tls : &t->cli_plain, p, n);
}

/* One feed of p[0..n) (n <= ST_FEED_MAX); returns how many bytes of the record it used up. */
static size_t
feed(struct transcript *t, int from_client, const uint8_t *p, size_t n, size_t rec_left)
{
	struct st_out out;
	enum st_verdict v;

	memset(&out, 0, sizeof(out));
	out.to_client = oc;
	out.to_server = os;
	out.cap = ST_OUT_MIN;
	v = from_client ? starttls_from_client(&st, p, n, &out) :
	    starttls_from_server(&st, p, n, &out);
	guards_check();
	check(v == ST_CONTINUE || v == ST_START_TLS || v == ST_PASSTHROUGH || v == ST_CLOSE);
	check(out.to_client_len <= out.cap && out.to_server_len <= out.cap);
	check(out.tls_early <= n);
	check(out.tls_early == 0 || (v == ST_START_TLS && out.client_rest_is_tls));
	check(!out.client_rest_is_tls || (v == ST_START_TLS && from_client));
	put(from_client ? &t->in_cli : &t->in_srv, p, n);
	put(&t->srv, os, out.to_server_len);
	put(t->tls ? &t->cli_tls : &t->cli_plain, oc, out.to_client_len);
	t->events[v]++;
	switch (v) {
	case ST_CONTINUE:
		return n;
	case ST_START_TLS:
		check(!t->tls);
		t->tls = 1;
		if (out.client_rest_is_tls) {
			put(&t->early, p + n - out.tls_early, out.tls_early);
			put(&t->early, p + n, rec_left - n);
		} else
			t->lost += rec_left - n;
		return rec_left;
	case ST_PASSTHROUGH:
		t->passthrough = 1;
		return n;
	case ST_CLOSE:
		check(out.to_client_len == 0 && out.to_server_len == 0);
		t->closed = 1;
		return rec_left;
	}
	return n;
}

static void
play(struct transcript *t, enum st_proto proto, const uint8_t *data, size_t size, int bytewise)
{
	size_t off = 1, len, used, n;
	int from_client;

	memset(t, 0, sizeof(*t));
	starttls_init(&st, proto);
	while (off < size && !t->closed) {
		from_client = data[off] >> 7;
		len = data[off++] & 0x7f;
		if (len == 0x7f) {
			if (size - off < 2)
				break;
			len = (size_t)data[off] | (size_t)data[off + 1] << 8;
			off += 2;
			if (len > ST_FEED_MAX)
				len = ST_FEED_MAX;
		}
		if (len > size - off)
			len = size - off;
		for (used = 0; used < len && !t->closed;) {
			if (t->passthrough) {
				relay_raw(t, from_client, data + off + used, len - used);
				break;
			}
			n = bytewise ? 1 : len - used;
			used += feed(t, from_client, data + off + used, n, len - used);
		}
		off += len;
	}
	t->lost += st.discarded;
	t->rewritten = st.rewritten;
	/* A caller that goes on after pass-through gets its bytes back untouched. */
	if (t->passthrough && !t->closed) {
		struct st_out out = { oc, 0, os, 0, ST_OUT_MIN, 0, 0 };

		check(starttls_from_client(&st, (const uint8_t *)"x", 1, &out) == ST_PASSTHROUGH);
		check(out.to_server_len == 1 && os[0] == 'x' && out.to_client_len == 0);
	}
}

static int
stream_equal(const struct stream *a, const struct stream *b, int closed)
{
	if (a->overflow || b->overflow)
		return 1;
	if (closed)
		return memcmp(a->buf, b->buf, a->len < b->len ? a->len : b->len) == 0;
	return a->len == b->len && memcmp(a->buf, b->buf, a->len) == 0;
}

static void
check_same(const struct transcript *a, const struct transcript *b)
{
	int closed = a->closed && b->closed;

	check(a->closed == b->closed && a->passthrough == b->passthrough && a->tls == b->tls);
	check(a->rewritten == b->rewritten);
	check(stream_equal(&a->cli_plain, &b->cli_plain, closed));
	check(stream_equal(&a->cli_tls, &b->cli_tls, closed));
	check(stream_equal(&a->srv, &b->srv, closed));
	check(stream_equal(&a->early, &b->early, closed));
	if (!closed)
		check(a->lost == b->lost);
}

static int
is_prefix(const struct stream *p, const struct stream *of)
{
	return p->len <= of->len && memcmp(p->buf, of->buf, p->len) == 0;
}

static void
check_transparent(const struct transcript *t)
{
	if (t->rewritten || t->lost || t->tls || t->in_cli.overflow || t->in_srv.overflow ||
	    t->srv.overflow || t->cli_plain.overflow)
		return;
	check(is_prefix(&t->srv, &t->in_cli));
	check(is_prefix(&t->cli_plain, &t->in_srv));
	if (t->passthrough)
		check(t->srv.len == t->in_cli.len && t->cli_plain.len == t->in_srv.len);
}

static void
check_detectors(const uint8_t *data, size_t size)
{
	enum st_proto full, part;
	int r, rp;
	size_t cut;

	r = starttls_detect_server(data, size, &full);
	check(r >= -1 && r <= 1 && (r == 1) == (full != ST_PROTO_NONE));
	cut = size > 0 ? (size_t)data[size - 1] * 131 % size : 0;
	rp = starttls_detect_server(data, cut, &part);
	check(rp == -1 || (rp == r && part == full));
	if (r == -1)
		check(rp == -1);
	r = starttls_detect_client(data, size, &full);
	check(r >= -1 && r <= 1 && (r == 1) == (full == ST_PROTO_PG));
	rp = starttls_detect_client(data, cut, &part);
	check(rp == -1 || (rp == r && part == full));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum st_proto proto;

	check_detectors(data, size);
	if (size < 1)
		return 0;
	memset(oc + ST_OUT_MIN, 0x5a, GUARD);
	memset(os + ST_OUT_MIN, 0x5a, GUARD);
	proto = (enum st_proto)(1 + data[0] % 5);
	play(&ta, proto, data, size, 0);
	check_transparent(&ta);
	play(&tb, proto, data, size, 1);
	check_transparent(&tb);
	check_same(&ta, &tb);
	return 0;
}
