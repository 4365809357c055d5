/* Unit tests for proxy/starttls/: scripted sessions per protocol (Postfix-like SMTP, Dovecot-like
 * IMAP and POP3, PostgreSQL, MySQL 8 and MariaDB 10.11 greetings), each fed whole, one byte at a
 * time and split at random points with the same result; the STARTTLS injection probes; services
 * that already offer TLS; over-long lines, garbage, and thousands of random and mutated sessions
 * checked for bounds (output canaries), transparency while nothing was rewritten, and sanity of
 * every verdict. Run under ASan/UBSan (make check). */
#include "proxy/starttls.h"
#include "tests/unit/unit.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- scripted sessions ----------------------------------------------------------------------- */

enum { FROM_S, FROM_C };

struct step {
	int		 from;
	const uint8_t	*p;
	size_t		 n;
};

#define S_(str)		{ FROM_S, (const uint8_t *)(str), sizeof(str) - 1 }
#define C_(str)		{ FROM_C, (const uint8_t *)(str), sizeof(str) - 1 }
#define NSTEPS(a)	(sizeof(a) / sizeof((a)[0]))

#define T_MAX		(1 << 16)
#define GUARD		64

/* What each side ends up receiving, as the caller of the machine would route it. */
struct transcript {
	uint8_t		cli_plain[T_MAX];	/* to the client before the TLS handshake */
	size_t		cli_plain_len;
	uint8_t		cli_tls[T_MAX];		/* to the client through TLS */
	size_t		cli_tls_len;
	uint8_t		srv[T_MAX];		/* to the server */
	size_t		srv_len;
	uint8_t		early[T_MAX];		/* client bytes handed to the TLS engine as is */
	size_t		early_len;
	size_t		dropped;		/* unfed bytes the caller drops at ST_START_TLS */
	char		events[256];		/* "T3 P5": verdicts with the step they ended */
	uint64_t	discarded;
	int		rewritten;
	int		tls, passthrough, closed;
};

enum split { SPLIT_WHOLE, SPLIT_BYTES, SPLIT_RANDOM };

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t
rng(void)
{
	/* xorshift64*: fixed seed, so every run tests the same inputs. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dULL;
}

static size_t
rng_below(size_t n)
{
	return n == 0 ? 0 : (size_t)(rng() % n);
}

static uint8_t out_client[ST_OUT_MIN + GUARD], out_server[ST_OUT_MIN + GUARD];

static void
out_setup(struct st_out *out)
{
	memset(out, 0, sizeof(*out));
	memset(out_client + ST_OUT_MIN, 0xa5, GUARD);
	memset(out_server + ST_OUT_MIN, 0xa5, GUARD);
	out->to_client = out_client;
	out->to_server = out_server;
	out->cap = ST_OUT_MIN;
}

static int
out_guards_intact(void)
{
	size_t i;

	for (i = ST_OUT_MIN; i < ST_OUT_MIN + GUARD; i++)
		if (out_client[i] != 0xa5 || out_server[i] != 0xa5)
			return 0;
	return 1;
}

static void
append(uint8_t *dst, size_t *len, const uint8_t *p, size_t n)
{
	if (*len + n > T_MAX) {
		UNIT_CHECK(!"transcript overflow");
		return;
	}
	memcpy(dst + *len, p, n);
	*len += n;
}

static void
add_event(struct transcript *t, char kind, size_t step)
{
	size_t l = strlen(t->events);

	snprintf(t->events + l, sizeof(t->events) - l, "%s%c%zu", l ? " " : "", kind, step);
}

static size_t
chunk_size(enum split how, size_t left)
{
	size_t max = left < ST_FEED_MAX ? left : ST_FEED_MAX;

	switch (how) {
	case SPLIT_BYTES:
		return 1;
	case SPLIT_RANDOM:
		return 1 + rng_below(rng_below(4) == 0 ? max : (max < 16 ? max : 16));
	default:
		return max;
	}
}

/* Relays bytes untouched, as the caller does after ST_PASSTHROUGH. */
static void
relay_raw(struct transcript *t, int from, const uint8_t *p, size_t n)
{
	if (from == FROM_C)
		append(t->srv, &t->srv_len, p, n);
	else if (t->tls)
		append(t->cli_tls, &t->cli_tls_len, p, n);
	else
		append(t->cli_plain, &t->cli_plain_len, p, n);
}

/* Plays <steps> through a fresh machine the way proxy/conn.c is told to drive it. */
static void
run(enum st_proto proto, const struct step *steps, size_t nsteps, enum split how,
    struct transcript *t)
{
	static struct starttls s;
	struct st_out out;
	size_t i, off, n;
	enum st_verdict v;

	memset(t, 0, sizeof(*t));
	out_setup(&out);
	starttls_init(&s, proto);
	for (i = 0; i < nsteps && !t->closed; i++) {
		const uint8_t *p = steps[i].p;

		for (off = 0; off < steps[i].n;) {
			if (t->passthrough) {
				relay_raw(t, steps[i].from, p + off, steps[i].n - off);
				break;
			}
			n = chunk_size(how, steps[i].n - off);
			v = steps[i].from == FROM_S ? starttls_from_server(&s, p + off, n, &out) :
			    starttls_from_client(&s, p + off, n, &out);
			UNIT_CHECK(out_guards_intact());
			UNIT_CHECK(out.to_client_len <= out.cap && out.to_server_len <= out.cap);
			UNIT_CHECK(out.tls_early <= n);
			append(t->srv, &t->srv_len, out_server, out.to_server_len);
			if (t->tls)
				append(t->cli_tls, &t->cli_tls_len, out_client, out.to_client_len);
			else
				append(t->cli_plain, &t->cli_plain_len, out_client, out.to_client_len);
			off += n;
			switch (v) {
			case ST_CONTINUE:
				UNIT_CHECK(out.tls_early == 0 && !out.client_rest_is_tls);
				break;
			case ST_START_TLS:
				UNIT_CHECK(!t->tls);
				add_event(t, 'T', i);
				t->tls = 1;
				if (steps[i].from == FROM_C && out.client_rest_is_tls) {
					append(t->early, &t->early_len, p + off - out.tls_early,
					    out.tls_early);
					append(t->early, &t->early_len, p + off, steps[i].n - off);
				} else {
					UNIT_CHECK(out.tls_early == 0);
					t->dropped += steps[i].n - off;
				}
				off = steps[i].n;
				break;
			case ST_PASSTHROUGH:
				add_event(t, 'P', i);
				t->passthrough = 1;
				break;
			case ST_CLOSE:
				UNIT_CHECK(out.to_client_len == 0 && out.to_server_len == 0);
				add_event(t, 'X', i);
				t->closed = 1;
				off = steps[i].n;
				break;
			default:
				UNIT_CHECK(!"bad verdict");
			}
		}
	}
	t->discarded = s.discarded;
	t->rewritten = s.rewritten;
}

/* Equal streams; or, when both runs ended in ST_CLOSE, one a prefix of the other: the feed that
 * closes sends nothing, so what got out before depends on where the input was cut. */
static int
stream_equal(const uint8_t *a, size_t al, const uint8_t *b, size_t bl, int closed)
{
	if (closed)
		return memcmp(a, b, al < bl ? al : bl) == 0;
	return al == bl && memcmp(a, b, al) == 0;
}

static int
transcripts_equal(const struct transcript *a, const struct transcript *b)
{
	int closed = a->closed && b->closed;

	return stream_equal(a->cli_plain, a->cli_plain_len, b->cli_plain, b->cli_plain_len,
	    closed) &&
	    stream_equal(a->cli_tls, a->cli_tls_len, b->cli_tls, b->cli_tls_len, closed) &&
	    stream_equal(a->srv, a->srv_len, b->srv, b->srv_len, closed) &&
	    stream_equal(a->early, a->early_len, b->early, b->early_len, closed) &&
	    (closed || a->dropped + a->discarded == b->dropped + b->discarded) &&
	    strcmp(a->events, b->events) == 0 && a->rewritten == b->rewritten;
}

static void
dump(const char *what, const uint8_t *p, size_t n)
{
	size_t i;

	fprintf(stderr, "%s (%zu): \"", what, n);
	for (i = 0; i < n && i < 600; i++)
		fprintf(stderr, p[i] >= 0x20 && p[i] < 0x7f && p[i] != '"' ? "%c" : "\\x%02x", p[i]);
	fprintf(stderr, "%s\"\n", i < n ? "..." : "");
}

static void
dump_transcript(const struct transcript *t)
{
	dump("to client, plain", t->cli_plain, t->cli_plain_len);
	dump("to client, TLS", t->cli_tls, t->cli_tls_len);
	dump("to server", t->srv, t->srv_len);
	dump("TLS early", t->early, t->early_len);
	fprintf(stderr, "events \"%s\" discarded %llu dropped %zu rewritten %d\n", t->events,
	    (unsigned long long)t->discarded, t->dropped, t->rewritten);
}

static struct transcript t_whole, t_other;

/* Runs the session whole, byte by byte and with 50 random splittings; every run must give the
 * transcript of the whole run. Leaves the whole run in t_whole. */
static void
run_all_splits(enum st_proto proto, const struct step *steps, size_t nsteps)
{
	int k;

	run(proto, steps, nsteps, SPLIT_WHOLE, &t_whole);
	run(proto, steps, nsteps, SPLIT_BYTES, &t_other);
	if (!transcripts_equal(&t_whole, &t_other)) {
		UNIT_CHECK(!"byte-at-a-time run differs from the whole run");
		dump_transcript(&t_whole);
		dump_transcript(&t_other);
	}
	for (k = 0; k < 50; k++) {
		run(proto, steps, nsteps, SPLIT_RANDOM, &t_other);
		if (!transcripts_equal(&t_whole, &t_other)) {
			UNIT_CHECK(!"randomly split run differs from the whole run");
			dump_transcript(&t_whole);
			dump_transcript(&t_other);
			break;
		}
	}
}

static int
stream_is(const uint8_t *got, size_t got_len, const char *want, size_t want_len)
{
	if (got_len == want_len && memcmp(got, want, want_len) == 0)
		return 1;
	dump("got", got, got_len);
	dump("want", (const uint8_t *)want, want_len);
	return 0;
}

#define CHECK_STREAM(field, lit) \
	UNIT_CHECK(stream_is(t_whole.field, t_whole.field##_len, (lit), sizeof(lit) - 1))

static void
check_events(const char *want)
{
	UNIT_CHECK_STR(t_whole.events, want);
}

static int
contains(const uint8_t *p, size_t n, const char *needle)
{
	size_t l = strlen(needle), i;

	for (i = 0; i + l <= n; i++)
		if (memcmp(p + i, needle, l) == 0)
			return 1;
	return 0;
}

/* ---- detection ------------------------------------------------------------------------------- */

static int
detect_s(const char *s, size_t n, enum st_proto *p)
{
	return starttls_detect_server((const uint8_t *)s, n, p);
}

static void
test_detect_text(void)
{
	enum st_proto p;

	UNIT_CHECK(detect_s("", 0, &p) == -1);
	UNIT_CHECK(detect_s("2", 1, &p) == -1);
	UNIT_CHECK(detect_s("22", 2, &p) == -1);
	UNIT_CHECK(detect_s("220", 3, &p) == -1);
	UNIT_CHECK(detect_s("220 mx ESMTP\r\n", 14, &p) == 1 && p == ST_PROTO_SMTP);
	UNIT_CHECK(detect_s("220-mx ESMTP\r\n", 14, &p) == 1 && p == ST_PROTO_SMTP);
	UNIT_CHECK(detect_s("220x", 4, &p) == 0 && p == ST_PROTO_NONE);
	UNIT_CHECK(detect_s("221 ", 4, &p) == 0);
	UNIT_CHECK(detect_s("554 no\r\n", 8, &p) == 0);
	UNIT_CHECK(detect_s("* ", 2, &p) == -1);
	UNIT_CHECK(detect_s("* OK", 4, &p) == -1);
	UNIT_CHECK(detect_s("* OK [CAPABILITY IMAP4rev1] hi\r\n", 32, &p) == 1 &&
	    p == ST_PROTO_IMAP);
	UNIT_CHECK(detect_s("* ok IMAP4rev1 ready\r\n", 22, &p) == 1 && p == ST_PROTO_IMAP);
	/* Already authenticated: no STARTTLS possible, pass through. */
	UNIT_CHECK(detect_s("* PREAUTH [CAPABILITY IMAP4rev1] hi\r\n", 37, &p) == 0 &&
	    p == ST_PROTO_NONE);
	UNIT_CHECK(detect_s("* BYE go away\r\n", 15, &p) == 0);
	UNIT_CHECK(detect_s("+", 1, &p) == -1);
	UNIT_CHECK(detect_s("+OK", 3, &p) == -1);
	UNIT_CHECK(detect_s("+OK\r\n", 5, &p) == 1 && p == ST_PROTO_POP3);
	UNIT_CHECK(detect_s("+OK Dovecot ready.\r\n", 20, &p) == 1 && p == ST_PROTO_POP3);
	UNIT_CHECK(detect_s("+OKAY", 5, &p) == 0);
	UNIT_CHECK(detect_s("SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n", 32, &p) == 0);
	UNIT_CHECK(detect_s("-ERR unknown command\r\n", 22, &p) == 0);
	UNIT_CHECK(detect_s("200 news.example.org NNTP\r\n", 27, &p) == 0);
}

static void
test_detect_client(void)
{
	static const uint8_t ssl[] = { 0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f, 'x' };
	static const uint8_t gss[] = { 0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x30 };
	static const uint8_t startup[] = { 0, 0, 0, 0x29, 0, 3, 0, 0, 'u', 's', 'e', 'r', 0 };
	static const uint8_t cancel[] = { 0, 0, 0, 16, 0x04, 0xd2, 0x16, 0x2e, 1, 2, 3, 4 };
	static const uint8_t hello[] = { 0x16, 0x03, 0x01, 0x02, 0x00 };
	enum st_proto p;
	size_t i;

	for (i = 0; i < 8; i++) {
		UNIT_CHECK(starttls_detect_client(ssl, i, &p) == -1);
		UNIT_CHECK(starttls_detect_client(gss, i, &p) == -1);
	}
	UNIT_CHECK(starttls_detect_client(ssl, 8, &p) == 1 && p == ST_PROTO_PG);
	UNIT_CHECK(starttls_detect_client(ssl, sizeof(ssl), &p) == 1 && p == ST_PROTO_PG);
	UNIT_CHECK(starttls_detect_client(gss, 8, &p) == 1 && p == ST_PROTO_PG);
	UNIT_CHECK(starttls_detect_client(startup, sizeof(startup), &p) == 0 &&
	    p == ST_PROTO_NONE);
	UNIT_CHECK(starttls_detect_client(startup, 4, &p) == 0);
	UNIT_CHECK(starttls_detect_client(cancel, sizeof(cancel), &p) == 0);
	UNIT_CHECK(starttls_detect_client(hello, sizeof(hello), &p) == 0);
	UNIT_CHECK(starttls_detect_client(hello, 1, &p) == 0);
	UNIT_CHECK(starttls_detect_client((const uint8_t *)"GET / HTTP/1.1\r\n", 16, &p) == 0);
}

/* ---- MySQL packets --------------------------------------------------------------------------- */

#define MY_SSL		0x00000800u
#define MY_PROTO41	0x00000200u
#define MY_CLIENT_CAPS	(0x00000001u | 0x00000004u | 0x00000008u | MY_PROTO41 | 0x00002000u | \
			 0x00008000u | 0x00010000u | 0x00020000u | 0x00080000u | 0x00100000u | \
			 0x00200000u | 0x01000000u)

static void
put_le(uint8_t *p, uint32_t v, int n)
{
	int i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static size_t
my_packet(uint8_t *dst, uint8_t seq, const uint8_t *payload, size_t n)
{
	put_le(dst, (uint32_t)n, 3);
	dst[3] = seq;
	memcpy(dst + 4, payload, n);
	return n + 4;
}

/* A HandshakeV10 as MySQL 8 (MariaDB: <maria> set, version prefixed "5.5.5-", its extended
 * capabilities in the last 4 reserved bytes) sends it. */
static size_t
my_greeting(uint8_t *dst, const char *version, uint32_t caps, int maria, const char *plugin)
{
	uint8_t p[512];
	size_t n = 0;

	p[n++] = 0x0a;
	memcpy(p + n, version, strlen(version) + 1);
	n += strlen(version) + 1;
	put_le(p + n, 0x2f, 4);				/* connection id */
	n += 4;
	memcpy(p + n, "\x12\x34\x56\x78\x1a\x2b\x3c\x4d", 8);	/* scramble, part 1 */
	n += 8;
	p[n++] = 0;					/* filler */
	put_le(p + n, caps & 0xffff, 2);
	n += 2;
	p[n++] = maria ? 0x2d : 0xff;			/* charset */
	put_le(p + n, 0x0002, 2);			/* status: autocommit */
	n += 2;
	put_le(p + n, caps >> 16, 2);
	n += 2;
	p[n++] = 21;					/* auth data length */
	memset(p + n, 0, 10);
	if (maria)
		put_le(p + n + 6, 0x1d, 4);		/* MariaDB's own capabilities */
	n += 10;
	memcpy(p + n, "\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c", 12);
	n += 12;
	p[n++] = 0;
	memcpy(p + n, plugin, strlen(plugin) + 1);
	n += strlen(plugin) + 1;
	return my_packet(dst, 0, p, n);
}

#define MY8_CAPS	(0xdfffffffu & ~MY_SSL)		/* a MySQL 8 server with TLS off */
#define MARIA_CAPS	(0x81fff7feu & ~MY_SSL)		/* MariaDB 10.11, no TLS configured */

static size_t
my_client_caps_packet(uint8_t *dst, uint8_t seq, uint32_t caps, int full)
{
	uint8_t p[256];
	size_t n = 0;

	put_le(p, caps, 4);
	put_le(p + 4, 0x01000000, 4);			/* max packet size */
	p[8] = 0xff;					/* utf8mb4 */
	memset(p + 9, 0, 23);
	n = 32;
	if (full) {
		memcpy(p + n, "root", 5);
		n += 5;
		p[n++] = 32;
		memset(p + n, 0x5a, 32);		/* scrambled password */
		n += 32;
		memcpy(p + n, "caching_sha2_password", 22);
		n += 22;
	}
	return my_packet(dst, seq, p, n);
}

static void
test_detect_mysql(void)
{
	uint8_t g[512], bad[512];
	size_t n, i;
	enum st_proto p;

	n = my_greeting(g, "8.0.36", MY8_CAPS, 0, "caching_sha2_password");
	for (i = 0; i < n; i++)
		UNIT_CHECK(starttls_detect_server(g, i, &p) == -1);
	UNIT_CHECK(starttls_detect_server(g, n, &p) == 1 && p == ST_PROTO_MYSQL);
	n = my_greeting(g, "5.5.5-10.11.6-MariaDB-0+deb12u1", MARIA_CAPS, 1,
	    "mysql_native_password");
	UNIT_CHECK(starttls_detect_server(g, n, &p) == 1 && p == ST_PROTO_MYSQL);
	/* Each checked field broken: sequence id, protocol, version, filler, 4.1 flag, reserved. */
	{
		static const size_t at[] = { 3, 4, 5 };

		for (i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
			memcpy(bad, g, n);
			bad[at[i]] ^= 0x40;
			UNIT_CHECK(starttls_detect_server(bad, n, &p) == 0 && p == ST_PROTO_NONE);
		}
	}
	n = my_greeting(g, "8.0.36", MY8_CAPS, 0, "caching_sha2_password");
	memcpy(bad, g, n);
	bad[4 + 1 + 7 + 12] = 1;			/* filler */
	UNIT_CHECK(starttls_detect_server(bad, n, &p) == 0);
	memcpy(bad, g, n);
	bad[4 + 1 + 7 + 12 + 2] &= (uint8_t)~0x02;	/* CLIENT_PROTOCOL_41 */
	UNIT_CHECK(starttls_detect_server(bad, n, &p) == 0);
	memcpy(bad, g, n);
	bad[4 + 1 + 7 + 12 + 1 + 8 + 2] = 7;		/* reserved */
	UNIT_CHECK(starttls_detect_server(bad, n, &p) == 0);
	n = my_greeting(g, "beta", MY8_CAPS, 0, "x");	/* version must start with a digit */
	UNIT_CHECK(starttls_detect_server(g, n, &p) == 0);
	/* Binary greetings that are not MySQL are refused as soon as a byte disagrees. */
	UNIT_CHECK(starttls_detect_server((const uint8_t *)"\x4a\x00\x00\x01\x0a", 5, &p) == 0);
	UNIT_CHECK(starttls_detect_server((const uint8_t *)"\x4a\x00\x01", 3, &p) == 0);
	UNIT_CHECK(starttls_detect_server((const uint8_t *)"\x00\x10", 2, &p) == 0);
	UNIT_CHECK(starttls_detect_server((const uint8_t *)"\x4a\x00\x00\x00\x09", 5, &p) == 0);
	/* An ERR packet instead of a greeting ("Host is not allowed to connect"). */
	UNIT_CHECK(starttls_detect_server((const uint8_t *)"\x17\x00\x00\x00\xff\x6a\x04Host",
	    11, &p) == 0);
}

/* ---- SMTP ------------------------------------------------------------------------------------ */

#define SMTP_GREETING	"220 mail.example.org ESMTP Postfix (Debian/GNU)\r\n"
#define SMTP_EHLO_HEAD	"250-mail.example.org\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n" \
			"250-VRFY\r\n250-ETRN\r\n250-AUTH PLAIN LOGIN\r\n250-ENHANCEDSTATUSCODES\r\n" \
			"250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n"
#define SMTP_EHLO_LAST	"250 CHUNKING\r\n"
#define SMTP_READY	"220 2.0.0 Ready to start TLS\r\n"

static void
test_smtp_session(void)
{
	static const struct step steps[] = {
		S_(SMTP_GREETING),
		C_("EHLO client.example.net\r\n"),
		S_(SMTP_EHLO_HEAD SMTP_EHLO_LAST),
		C_("STARTTLS\r\n"),
		C_("EHLO client.example.net\r\n"),
		S_(SMTP_EHLO_HEAD SMTP_EHLO_LAST),
		C_("MAIL FROM:<alice@example.net>\r\n"),
		S_("250 2.1.0 Ok\r\n"),
	};

	run_all_splits(ST_PROTO_SMTP, steps, NSTEPS(steps));
	CHECK_STREAM(cli_plain, SMTP_GREETING SMTP_EHLO_HEAD "250-STARTTLS\r\n" SMTP_EHLO_LAST
	    SMTP_READY);
	CHECK_STREAM(cli_tls, SMTP_EHLO_HEAD SMTP_EHLO_LAST "250 2.1.0 Ok\r\n");
	CHECK_STREAM(srv, "EHLO client.example.net\r\nEHLO client.example.net\r\n"
	    "MAIL FROM:<alice@example.net>\r\n");
	check_events("T3 P5");
	UNIT_CHECK(t_whole.discarded == 0 && t_whole.dropped == 0);
}

/* CVE-2011-0411: a command pipelined after STARTTLS must never reach the server. */
static void
test_smtp_injection(void)
{
	static const struct step steps[] = {
		S_(SMTP_GREETING),
		C_("EHLO x\r\n"),
		S_("250-mail.example.org\r\n250 8BITMIME\r\n"),
		C_("STARTTLS\r\nRSET\r\n"),
		C_("EHLO x\r\n"),
	};
	static const struct step pipelined[] = {
		S_(SMTP_GREETING),
		C_("EHLO x\r\nSTARTTLS\r\nRSET\r\nMAIL FROM:<evil@example.com>\r\n"),
		S_("250-mail.example.org\r\n250 8BITMIME\r\n"),
		C_("EHLO x\r\n"),
	};

	run_all_splits(ST_PROTO_SMTP, steps, NSTEPS(steps));
	CHECK_STREAM(srv, "EHLO x\r\nEHLO x\r\n");
	CHECK_STREAM(cli_plain, SMTP_GREETING
	    "250-mail.example.org\r\n250-STARTTLS\r\n250 8BITMIME\r\n" SMTP_READY);
	check_events("T3");
	UNIT_CHECK(t_whole.discarded + t_whole.dropped == 6);
	/* STARTTLS pipelined behind EHLO: answered after the EHLO reply, the rest dropped. */
	run_all_splits(ST_PROTO_SMTP, pipelined, NSTEPS(pipelined));
	CHECK_STREAM(srv, "EHLO x\r\nEHLO x\r\n");
	CHECK_STREAM(cli_plain, SMTP_GREETING "250-mail.example.org\r\n250 8BITMIME\r\n"
	    SMTP_READY);
	check_events("T2");
	UNIT_CHECK(!contains(t_whole.srv, t_whole.srv_len, "RSET"));
	UNIT_CHECK(!contains(t_whole.srv, t_whole.srv_len, "MAIL"));
}

static void
test_smtp_service_has_tls(void)
{
	static const struct step steps[] = {
		S_(SMTP_GREETING),
		C_("EHLO x\r\n"),
		S_("250-mail.example.org\r\n250-STARTTLS\r\n250 8BITMIME\r\n"),
		C_("STARTTLS\r\n"),
		S_("220 2.0.0 Ready to start TLS\r\n"),
	};

	run_all_splits(ST_PROTO_SMTP, steps, NSTEPS(steps));
	check_events("P2");
	CHECK_STREAM(srv, "EHLO x\r\nSTARTTLS\r\n");
	CHECK_STREAM(cli_plain, SMTP_GREETING
	    "250-mail.example.org\r\n250-STARTTLS\r\n250 8BITMIME\r\n"
	    "220 2.0.0 Ready to start TLS\r\n");
	UNIT_CHECK(!t_whole.rewritten);
}

static void
test_smtp_variants(void)
{
	/* Multi-line greeting, one-line EHLO reply, bare LF line ends, lower case. */
	static const struct step oneline[] = {
		S_("220-mail.example.org ESMTP\n220 welcome\n"),
		C_("ehlo x\n"),
		S_("250 mail.example.org\n"),
		C_("starttls\n"),
	};
	/* EHLO refused, HELO, then STARTTLS anyway; 4xx replies relayed as they are. */
	static const struct step helo[] = {
		S_(SMTP_GREETING),
		C_("EHLO x\r\n"),
		S_("502 5.5.2 Error: command not recognized\r\n"),
		C_("HELO x\r\nNOOP\r\n"),
		S_("250 mail.example.org\r\n450 4.7.1 try later\r\n"),
		C_("STARTTLS\r\n"),
	};
	/* A client that never asks: inspection stops at MAIL. */
	static const struct step plain[] = {
		S_(SMTP_GREETING),
		C_("EHLO x\r\n"),
		S_("250-mail.example.org\r\n250 8BITMIME\r\n"),
		C_("MAIL FROM:<a@example.net>\r\nRCPT TO:<b@example.org>\r\n"),
		S_("250 2.1.0 Ok\r\n"),
	};
	/* STARTTLS straight after the greeting, to a service that (only inside TLS, as it
	 * sees it) turns out to offer STARTTLS: removed from the reply, separators fixed. */
	static const struct step hide[] = {
		S_(SMTP_GREETING),
		C_("STARTTLS\r\n"),
		C_("EHLO x\r\n"),
		S_("250-mail.example.org\r\n250-STARTTLS\r\n250-SIZE 100\r\n250 STARTTLS\r\n"),
	};

	run_all_splits(ST_PROTO_SMTP, oneline, NSTEPS(oneline));
	CHECK_STREAM(cli_plain, "220-mail.example.org ESMTP\n220 welcome\n"
	    "250-mail.example.org\n250 STARTTLS\r\n" SMTP_READY);
	check_events("T3");
	run_all_splits(ST_PROTO_SMTP, helo, NSTEPS(helo));
	CHECK_STREAM(cli_plain, SMTP_GREETING "502 5.5.2 Error: command not recognized\r\n"
	    "250 mail.example.org\r\n450 4.7.1 try later\r\n" SMTP_READY);
	CHECK_STREAM(srv, "EHLO x\r\nHELO x\r\nNOOP\r\n");
	check_events("T5");
	run_all_splits(ST_PROTO_SMTP, plain, NSTEPS(plain));
	CHECK_STREAM(srv, "EHLO x\r\nMAIL FROM:<a@example.net>\r\nRCPT TO:<b@example.org>\r\n");
	check_events("P3");
	CHECK_STREAM(cli_plain, SMTP_GREETING "250-mail.example.org\r\n250-STARTTLS\r\n"
	    "250 8BITMIME\r\n250 2.1.0 Ok\r\n");
	run_all_splits(ST_PROTO_SMTP, hide, NSTEPS(hide));
	CHECK_STREAM(cli_tls, "250-mail.example.org\r\n250 SIZE 100\r\n");
	check_events("T1 P3");
}

static void
test_smtp_bounds(void)
{
	static uint8_t longline[5000];
	struct step steps[4];

	/* Over-long before any rewrite: pass through, bytes intact. */
	memset(longline, 'a', sizeof(longline));
	memcpy(longline, "220-", 4);
	steps[0] = (struct step){ FROM_S, longline, sizeof(longline) };
	run_all_splits(ST_PROTO_SMTP, steps, 1);
	check_events("P0");
	UNIT_CHECK(t_whole.cli_plain_len == sizeof(longline) &&
	    memcmp(t_whole.cli_plain, longline, sizeof(longline)) == 0);
	/* After STARTTLS was advertised: close. */
	steps[0] = (struct step)S_(SMTP_GREETING);
	steps[1] = (struct step)C_("EHLO x\r\n");
	steps[2] = (struct step)S_("250-mail.example.org\r\n250 8BITMIME\r\n");
	steps[3] = (struct step){ FROM_C, longline, sizeof(longline) };
	run_all_splits(ST_PROTO_SMTP, steps, 4);
	check_events("X3");
	/* A line of exactly ST_MAX_LINE bytes is still a line. */
	memset(longline, 'b', ST_MAX_LINE);
	memcpy(longline, "220 ", 4);
	memcpy(longline + ST_MAX_LINE - 2, "\r\n", 2);
	steps[0] = (struct step){ FROM_S, longline, ST_MAX_LINE };
	steps[1] = (struct step)C_("STARTTLS\r\n");
	run_all_splits(ST_PROTO_SMTP, steps, 2);
	check_events("T1");
	/* Garbage in place of a reply, nothing rewritten yet: pass through untouched. */
	steps[0] = (struct step)S_(SMTP_GREETING);
	steps[1] = (struct step)C_("EHLO x\r\n");
	steps[2] = (struct step)S_("hello there\r\n250 ok\r\n");
	run_all_splits(ST_PROTO_SMTP, steps, 3);
	check_events("P2");
	CHECK_STREAM(cli_plain, SMTP_GREETING "hello there\r\n250 ok\r\n");
	/* Mixed codes inside one reply. */
	steps[2] = (struct step)S_("250-mail.example.org\r\n550 8BITMIME\r\n");
	run_all_splits(ST_PROTO_SMTP, steps, 3);
	check_events("P2");
}

static void
test_smtp_pipeline_flood(void)
{
	static char cmds[64 * 8 + 1];
	static char replies[64 * 8 + 1];
	struct step steps[4];
	int i;

	cmds[0] = replies[0] = '\0';
	for (i = 0; i < 40; i++) {
		strcat(cmds, "EHLO a\r\n");
		strcat(replies, "250 x\r\n");
	}
	steps[0] = (struct step)S_(SMTP_GREETING);
	steps[1] = (struct step){ FROM_C, (const uint8_t *)cmds, strlen(cmds) };
	steps[2] = (struct step){ FROM_S, (const uint8_t *)replies, strlen(replies) };
	run_all_splits(ST_PROTO_SMTP, steps, 3);
	/* More commands in flight than tracked, nothing rewritten yet: pass through. */
	check_events("P1");
	UNIT_CHECK(t_whole.srv_len == strlen(cmds));
	/* 31 EHLOs in flight, each answered by a one-line reply that grows by 14 bytes. */
	cmds[31 * 8] = replies[31 * 7] = '\0';
	steps[1].n = strlen(cmds);
	steps[2].n = strlen(replies);
	run_all_splits(ST_PROTO_SMTP, steps, 3);
	check_events("");
	UNIT_CHECK(t_whole.cli_plain_len == sizeof(SMTP_GREETING) - 1 + 31 * (7 + 14));
}

/* ---- IMAP ------------------------------------------------------------------------------------ */

#define IMAP_CAPS	"IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ AUTH=PLAIN"
#define IMAP_GREETING	"* OK [CAPABILITY " IMAP_CAPS "] Dovecot (Debian) ready.\r\n"
#define IMAP_CAPA_OK	" OK Pre-login capabilities listed, post-login capabilities have more.\r\n"

static void
test_imap_session(void)
{
	static const struct step steps[] = {
		S_(IMAP_GREETING),
		C_("a1 CAPABILITY\r\n"),
		S_("* CAPABILITY " IMAP_CAPS "\r\na1" IMAP_CAPA_OK),
		C_("a2 STARTTLS\r\n"),
		C_("a3 CAPABILITY\r\n"),
		S_("* CAPABILITY " IMAP_CAPS " LOGINDISABLED\r\na3" IMAP_CAPA_OK),
		C_("a4 LOGIN alice secret\r\n"),
		S_("a4 OK [CAPABILITY IMAP4rev1 STARTTLS] Logged in\r\n"),
	};

	run_all_splits(ST_PROTO_IMAP, steps, NSTEPS(steps));
	CHECK_STREAM(cli_plain, "* OK [CAPABILITY " IMAP_CAPS " STARTTLS] Dovecot (Debian) ready.\r\n"
	    "* CAPABILITY " IMAP_CAPS " STARTTLS\r\na1" IMAP_CAPA_OK
	    "a2 OK Begin TLS negotiation now\r\n");
	CHECK_STREAM(cli_tls, "* CAPABILITY " IMAP_CAPS "\r\na3" IMAP_CAPA_OK
	    "a4 OK [CAPABILITY IMAP4rev1 STARTTLS] Logged in\r\n");
	CHECK_STREAM(srv, "a1 CAPABILITY\r\na3 CAPABILITY\r\na4 LOGIN alice secret\r\n");
	check_events("T3 P5");
}

static void
test_imap_injection_and_literals(void)
{
	static const struct step inject[] = {
		S_(IMAP_GREETING),
		C_("a2 STARTTLS\r\na3 LOGIN mallory x\r\n"),
		C_("b1 CAPABILITY\r\n"),
		S_("* CAPABILITY IMAP4rev1 STARTTLS\r\nb1 OK done\r\n"),
	};
	/* A literal carrying "STARTTLS" lines is data, not a command. */
	static const struct step literal[] = {
		S_("* OK IMAP4rev1 ready\r\n"),
		C_("a1 ID (\"name\" {15+}\r\n\r\na9 STARTTLS\r\n)\r\n"),
		S_("* ID NIL\r\na1 OK ID completed\r\n"),
		C_("a2 STARTTLS\r\n"),
	};
	/* The server's literal too ("* CAPABILITY" inside it is not a capability response),
	 * and a STARTTLS pipelined behind a command is answered after that command's answer. */
	static const struct step srvlit[] = {
		S_("* OK IMAP4rev1 ready\r\n"),
		C_("a1 ID NIL\r\na2 STARTTLS\r\na3 NOOP\r\n"),
		S_("* ID (\"x\" {16}\r\n* CAPABILITY X\r\n)\r\na1 OK ID done\r\n"),
	};

	/* A client that asks before the greeting line is whole gets its answer after it. */
	static const struct step early[] = {
		S_("* OK [CAPABILITY IMAP4rev1] Dovecot"),
		C_("a1 STARTTLS\r\n"),
		S_(" ready.\r\n"),
	};

	run_all_splits(ST_PROTO_IMAP, early, NSTEPS(early));
	CHECK_STREAM(cli_plain, "* OK [CAPABILITY IMAP4rev1] Dovecot ready.\r\n"
	    "a1 OK Begin TLS negotiation now\r\n");
	check_events("T2");
	run_all_splits(ST_PROTO_IMAP, inject, NSTEPS(inject));
	CHECK_STREAM(srv, "b1 CAPABILITY\r\n");
	check_events("T1 P3");
	CHECK_STREAM(cli_tls, "* CAPABILITY IMAP4rev1\r\nb1 OK done\r\n");
	run_all_splits(ST_PROTO_IMAP, literal, NSTEPS(literal));
	CHECK_STREAM(srv, "a1 ID (\"name\" {15+}\r\n\r\na9 STARTTLS\r\n)\r\n");
	check_events("T3");
	CHECK_STREAM(cli_plain, "* OK IMAP4rev1 ready\r\n* ID NIL\r\na1 OK ID completed\r\n"
	    "a2 OK Begin TLS negotiation now\r\n");
	run_all_splits(ST_PROTO_IMAP, srvlit, NSTEPS(srvlit));
	CHECK_STREAM(srv, "a1 ID NIL\r\n");
	CHECK_STREAM(cli_plain, "* OK IMAP4rev1 ready\r\n"
	    "* ID (\"x\" {16}\r\n* CAPABILITY X\r\n)\r\na1 OK ID done\r\n"
	    "a2 OK Begin TLS negotiation now\r\n");
	check_events("T2");
	UNIT_CHECK(t_whole.discarded + t_whole.dropped == 9);
}

static void
test_imap_service_has_tls(void)
{
	static const struct step greeting[] = {
		S_("* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] ready\r\n"),
		C_("a1 STARTTLS\r\n"),
	};
	static const struct step later[] = {
		S_("* OK ready\r\n"),
		C_("a1 CAPABILITY\r\n"),
		S_("* CAPABILITY IMAP4rev1 starttls\r\na1 OK done\r\n"),
		C_("a2 STARTTLS\r\n"),
	};

	run_all_splits(ST_PROTO_IMAP, greeting, NSTEPS(greeting));
	check_events("P0");
	CHECK_STREAM(srv, "a1 STARTTLS\r\n");
	UNIT_CHECK(!t_whole.rewritten);
	run_all_splits(ST_PROTO_IMAP, later, NSTEPS(later));
	check_events("P2");
	CHECK_STREAM(srv, "a1 CAPABILITY\r\na2 STARTTLS\r\n");
}

static void
test_imap_login_in_plaintext(void)
{
	static const struct step steps[] = {
		S_(IMAP_GREETING),
		C_("a1 LOGIN {5}\r\n"),
		S_("+ OK\r\n"),
		C_("alice {6}\r\n"),
	};

	run_all_splits(ST_PROTO_IMAP, steps, NSTEPS(steps));
	check_events("P1");
	CHECK_STREAM(srv, "a1 LOGIN {5}\r\nalice {6}\r\n");
}

static void
test_imap_bounds(void)
{
	static uint8_t longline[6000];
	struct step steps[3];

	memset(longline, 'x', sizeof(longline));
	memcpy(longline, "a1 NOOP ", 8);
	steps[0] = (struct step)S_("* OK ready\r\n");
	steps[1] = (struct step){ FROM_C, longline, sizeof(longline) };
	run_all_splits(ST_PROTO_IMAP, steps, 2);
	check_events("P1");
	UNIT_CHECK(t_whole.srv_len == sizeof(longline));
	steps[0] = (struct step)S_(IMAP_GREETING);
	run_all_splits(ST_PROTO_IMAP, steps, 2);
	check_events("X1");
	/* Absurd literal sizes. */
	steps[1] = (struct step)C_("a1 ID {99999999999}\r\n");
	run_all_splits(ST_PROTO_IMAP, steps, 2);
	check_events("X1");
	/* A tag too long to echo. */
	memset(longline, 't', 300);
	memcpy(longline + 300, " STARTTLS\r\n", 11);
	steps[1] = (struct step){ FROM_C, longline, 311 };
	run_all_splits(ST_PROTO_IMAP, steps, 2);
	check_events("X1");
}

/* ---- POP3 ------------------------------------------------------------------------------------ */

#define POP3_GREETING	"+OK Dovecot (Debian) ready.\r\n"
#define POP3_CAPA_HEAD	"+OK\r\nCAPA\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\n" \
			"AUTH-RESP-CODE\r\nUSER\r\nSASL PLAIN\r\n"

static void
test_pop3_session(void)
{
	static const struct step steps[] = {
		S_(POP3_GREETING),
		C_("CAPA\r\n"),
		S_(POP3_CAPA_HEAD ".\r\n"),
		C_("STLS\r\n"),
		C_("CAPA\r\n"),
		S_(POP3_CAPA_HEAD "STLS\r\n.\r\n"),
		C_("USER bob\r\n"),
		S_("+OK\r\n"),
	};

	run_all_splits(ST_PROTO_POP3, steps, NSTEPS(steps));
	CHECK_STREAM(cli_plain, POP3_GREETING POP3_CAPA_HEAD "STLS\r\n.\r\n"
	    "+OK Begin TLS negotiation\r\n");
	CHECK_STREAM(cli_tls, POP3_CAPA_HEAD ".\r\n+OK\r\n");
	CHECK_STREAM(srv, "CAPA\r\nCAPA\r\nUSER bob\r\n");
	check_events("T3 P5");
}

static void
test_pop3_injection_and_tls(void)
{
	static const struct step inject[] = {
		S_(POP3_GREETING),
		C_("CAPA\r\nSTLS\r\nUSER evil\r\nPASS x\r\n"),
		S_(POP3_CAPA_HEAD ".\r\n"),
		C_("USER bob\r\n"),
	};
	static const struct step has[] = {
		S_(POP3_GREETING),
		C_("CAPA\r\n"),
		S_("+OK\r\nTOP\r\nSTLS\r\nUSER\r\n.\r\n"),
		C_("STLS\r\n"),
	};
	static const struct step nocapa[] = {
		S_(POP3_GREETING),
		C_("CAPA\r\n"),
		S_("-ERR unknown command\r\n"),
		C_("STLS\r\n"),
		C_("CAPA\r\n"),
		S_("-ERR unknown command\r\n"),
	};

	run_all_splits(ST_PROTO_POP3, inject, NSTEPS(inject));
	CHECK_STREAM(srv, "CAPA\r\nUSER bob\r\n");
	check_events("T2 P3");
	UNIT_CHECK(!contains(t_whole.srv, t_whole.srv_len, "evil"));
	run_all_splits(ST_PROTO_POP3, has, NSTEPS(has));
	check_events("P2");
	CHECK_STREAM(srv, "CAPA\r\nSTLS\r\n");
	run_all_splits(ST_PROTO_POP3, nocapa, NSTEPS(nocapa));
	check_events("T3 P5");
	CHECK_STREAM(cli_plain, POP3_GREETING "-ERR unknown command\r\n"
	    "+OK Begin TLS negotiation\r\n");
}

static void
test_pop3_bounds(void)
{
	static uint8_t longline[5000];
	struct step steps[4];

	memset(longline, 'z', sizeof(longline));
	steps[0] = (struct step)S_(POP3_GREETING);
	steps[1] = (struct step)C_("CAPA\r\n");
	steps[2] = (struct step){ FROM_S, longline, sizeof(longline) };
	run_all_splits(ST_PROTO_POP3, steps, 3);
	check_events("P2");
	steps[2] = (struct step)S_("hello\r\n");
	run_all_splits(ST_PROTO_POP3, steps, 3);
	check_events("P2");
	steps[2] = (struct step)S_(POP3_CAPA_HEAD ".\r\n");
	steps[3] = (struct step){ FROM_S, longline, sizeof(longline) };
	run_all_splits(ST_PROTO_POP3, steps, 4);
	check_events("X3");
}

/* ---- PostgreSQL ------------------------------------------------------------------------------ */

#define PG_SSL		"\x00\x00\x00\x08\x04\xd2\x16\x2f"
#define PG_GSS		"\x00\x00\x00\x08\x04\xd2\x16\x30"
#define PG_STARTUP	"\x00\x00\x00\x29\x00\x03\x00\x00user\x00postgres\x00" \
			"database\x00postgres\x00\x00"
#define PG_AUTH_OK	"R\x00\x00\x00\x08\x00\x00\x00\x00"

static void
test_pg_sessions(void)
{
	static const struct step plain_server[] = {
		C_(PG_SSL),
		S_("N"),
		C_(PG_STARTUP),
		S_(PG_AUTH_OK),
	};
	static const struct step tls_server[] = {
		C_(PG_SSL),
		S_("S"),
		C_("\x16\x03\x01\x00\x05hello"),
	};
	static const struct step gss[] = {
		C_(PG_GSS),
		C_(PG_SSL),
		S_("N"),
		C_(PG_STARTUP),
	};
	static const struct step gss_then_plain[] = {
		C_(PG_GSS PG_STARTUP),
		S_(PG_AUTH_OK),
	};
	static const struct step inject[] = {
		C_(PG_SSL "Q\x00\x00\x00\x0dselect 1\x00"),
		C_("X\x00\x00\x00\x04"),
		S_("N"),
		C_(PG_STARTUP),
	};
	static const struct step old_server[] = {
		C_(PG_SSL),
		S_("EFATAL unsupported frontend protocol\x00"),
	};

	run_all_splits(ST_PROTO_PG, plain_server, NSTEPS(plain_server));
	CHECK_STREAM(cli_plain, "S");
	CHECK_STREAM(srv, PG_SSL PG_STARTUP);
	CHECK_STREAM(cli_tls, PG_AUTH_OK);
	check_events("T1 P2");
	run_all_splits(ST_PROTO_PG, tls_server, NSTEPS(tls_server));
	check_events("P1");
	CHECK_STREAM(srv, PG_SSL "\x16\x03\x01\x00\x05hello");
	UNIT_CHECK(!t_whole.rewritten);
	run_all_splits(ST_PROTO_PG, gss, NSTEPS(gss));
	CHECK_STREAM(cli_plain, "NS");
	CHECK_STREAM(srv, PG_SSL PG_STARTUP);
	check_events("T2 P3");
	run_all_splits(ST_PROTO_PG, gss_then_plain, NSTEPS(gss_then_plain));
	CHECK_STREAM(cli_plain, "N" PG_AUTH_OK);
	CHECK_STREAM(srv, PG_STARTUP);
	check_events("P0");
	run_all_splits(ST_PROTO_PG, inject, NSTEPS(inject));
	CHECK_STREAM(srv, PG_SSL PG_STARTUP);
	check_events("T2 P3");
	UNIT_CHECK(t_whole.discarded + t_whole.dropped == 14 + 5);
	run_all_splits(ST_PROTO_PG, old_server, NSTEPS(old_server));
	check_events("P1");
	CHECK_STREAM(cli_plain, "EFATAL unsupported frontend protocol\x00");
}

static void
test_pg_violations(void)
{
	static const struct step two_gss[] = { C_(PG_GSS PG_GSS) };
	static const struct step server_first[] = { C_(PG_GSS), S_("E") };

	run_all_splits(ST_PROTO_PG, two_gss, NSTEPS(two_gss));
	check_events("X0");
	run_all_splits(ST_PROTO_PG, server_first, NSTEPS(server_first));
	check_events("X1");
}

/* ---- MySQL ----------------------------------------------------------------------------------- */

static uint8_t my_g[512], my_g_ssl[512], my_req[64], my_resp[256], my_resp_fwd[256];
static uint8_t my_more[16], my_ok[16], my_query[64], my_switch[64], my_switch_resp[64];
static uint8_t my_tls_bytes[80], my_expect_cli[1024];
static size_t my_g_len, my_req_len, my_resp_len, my_more_len, my_ok_len, my_query_len;
static size_t my_switch_len, my_switch_resp_len, my_tls_len;

static void
my_build(const char *version, uint32_t caps, int maria, const char *plugin)
{
	static const uint8_t more[] = { 0x01, 0x03 };		/* fast auth success */
	static const uint8_t ok[] = { 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00 };
	static const uint8_t query[] = "\x03select @@version_comment limit 1";
	uint8_t sw[64];
	size_t n;

	my_g_len = my_greeting(my_g, version, caps, maria, plugin);
	my_greeting(my_g_ssl, version, caps | MY_SSL, maria, plugin);
	/* SSLRequest then, in the same segment, the start of a TLS ClientHello. */
	my_req_len = my_client_caps_packet(my_req, 1, MY_CLIENT_CAPS | MY_SSL, 0);
	memcpy(my_tls_bytes, my_req, my_req_len);
	memcpy(my_tls_bytes + my_req_len, "\x16\x03\x01\x00\x05hello", 10);
	my_tls_len = my_req_len + 10;
	my_resp_len = my_client_caps_packet(my_resp, 2, MY_CLIENT_CAPS | MY_SSL, 1);
	my_client_caps_packet(my_resp_fwd, 1, MY_CLIENT_CAPS, 1);
	my_more_len = my_packet(my_more, 2, more, sizeof(more));
	my_ok_len = my_packet(my_ok, 3, ok, sizeof(ok));
	my_query_len = my_packet(my_query, 0, query, sizeof(query) - 1);
	sw[0] = 0xfe;
	memcpy(sw + 1, "mysql_native_password\0abcdefghijklmnopqrst\0", 43);
	n = 44;
	my_switch_len = my_packet(my_switch, 2, sw, n);
	my_switch_resp_len = my_packet(my_switch_resp, 3, (const uint8_t *)"01234567890123456789",
	    20);
}

static void
test_mysql_session(void)
{
	static const char *const versions[] = { "8.0.36", "5.5.5-10.11.6-MariaDB-0+deb12u1" };
	struct step steps[6];
	uint8_t fwd[64];
	size_t n, k;
	int v;

	for (v = 0; v < 2; v++) {
		my_build(versions[v], v ? MARIA_CAPS : MY8_CAPS, v, v ? "mysql_native_password" :
		    "caching_sha2_password");
		steps[0] = (struct step){ FROM_S, my_g, my_g_len };
		steps[1] = (struct step){ FROM_C, my_tls_bytes, my_tls_len };
		steps[2] = (struct step){ FROM_C, my_resp, my_resp_len };
		steps[3] = (struct step){ FROM_S, my_more, my_more_len };
		steps[4] = (struct step){ FROM_S, my_ok, my_ok_len };
		steps[5] = (struct step){ FROM_C, my_query, my_query_len };
		run_all_splits(ST_PROTO_MYSQL, steps, 6);
		check_events("T1 P4");
		/* The greeting gains CLIENT_SSL and nothing else. */
		UNIT_CHECK(t_whole.cli_plain_len == my_g_len);
		UNIT_CHECK(memcmp(t_whole.cli_plain, my_g_ssl, my_g_len) == 0);
		/* The SSLRequest never reaches the server; the response arrives as seq 1. */
		n = 0;
		memcpy(my_expect_cli, my_resp_fwd, my_resp_len);
		n += my_resp_len;
		memcpy(my_expect_cli + n, my_query, my_query_len);
		n += my_query_len;
		UNIT_CHECK(stream_is(t_whole.srv, t_whole.srv_len, (const char *)my_expect_cli, n));
		UNIT_CHECK(stream_is(t_whole.early, t_whole.early_len, "\x16\x03\x01\x00\x05hello",
		    10));
		/* Server packets inside TLS: seq + 1. */
		memcpy(fwd, my_more, my_more_len);
		fwd[3]++;
		memcpy(fwd + my_more_len, my_ok, my_ok_len);
		fwd[my_more_len + 3]++;
		UNIT_CHECK(stream_is(t_whole.cli_tls, t_whole.cli_tls_len, (const char *)fwd,
		    my_more_len + my_ok_len));
	}
	/* An authentication switch: client packets inside TLS get seq - 1. */
	steps[3] = (struct step){ FROM_S, my_switch, my_switch_len };
	steps[4] = (struct step){ FROM_C, my_switch_resp, my_switch_resp_len };
	my_ok[3] = 4;
	steps[5] = (struct step){ FROM_S, my_ok, my_ok_len };
	run_all_splits(ST_PROTO_MYSQL, steps, 6);
	check_events("T1 P5");
	k = t_whole.srv_len - my_switch_resp_len;
	UNIT_CHECK(t_whole.srv[k + 3] == 2);
	UNIT_CHECK(t_whole.cli_tls[3] == 3 && t_whole.cli_tls[my_switch_len + 3] == 5);
	my_ok[3] = 3;
}

static void
test_mysql_other_paths(void)
{
	struct step steps[4];
	uint8_t plain_resp[256];
	size_t n;

	my_build("8.0.36", MY8_CAPS, 0, "caching_sha2_password");
	/* The service has TLS itself. */
	n = my_greeting(my_g_ssl, "8.0.36", MY8_CAPS | MY_SSL, 0, "caching_sha2_password");
	steps[0] = (struct step){ FROM_S, my_g_ssl, n };
	steps[1] = (struct step){ FROM_C, my_tls_bytes, my_tls_len };
	run_all_splits(ST_PROTO_MYSQL, steps, 2);
	check_events("P0");
	UNIT_CHECK(!t_whole.rewritten);
	UNIT_CHECK(t_whole.srv_len == my_tls_len);
	/* A client that does not want TLS: forwarded untouched, then pass through. */
	n = my_client_caps_packet(plain_resp, 1, MY_CLIENT_CAPS, 1);
	steps[0] = (struct step){ FROM_S, my_g, my_g_len };
	steps[1] = (struct step){ FROM_C, plain_resp, n };
	steps[2] = (struct step){ FROM_S, my_ok, my_ok_len };
	run_all_splits(ST_PROTO_MYSQL, steps, 3);
	check_events("P1");
	UNIT_CHECK(t_whole.srv_len == n && memcmp(t_whole.srv, plain_resp, n) == 0);
	UNIT_CHECK(t_whole.cli_plain_len == my_g_len + my_ok_len);
	/* CLIENT_SSL in a full HandshakeResponse without the TLS step: close. */
	steps[1] = (struct step){ FROM_C, my_resp, my_resp_len };
	my_resp[3] = 1;
	run_all_splits(ST_PROTO_MYSQL, steps, 2);
	check_events("X1");
	my_resp[3] = 2;
	/* Inside TLS, a response with the wrong sequence id: close. */
	steps[1] = (struct step){ FROM_C, my_tls_bytes, my_tls_len };
	steps[2] = (struct step){ FROM_C, my_query, my_query_len };
	run_all_splits(ST_PROTO_MYSQL, steps, 3);
	check_events("T1 X2");
	/* Not a greeting after all (detected on a prefix by a careless caller). */
	steps[0] = (struct step)S_("\x4a\x00\x00\x00\x0a" "8.0\x00garbagegarbage");
	steps[1] = (struct step)S_("more");
	run_all_splits(ST_PROTO_MYSQL, steps, 2);
	check_events("P0");
	/* Headers announcing a payload too short for a greeting (found by the fuzzer: the
	 * machine once waited for bytes it would never take). */
	steps[0] = (struct step)S_("\x00\x00\x00\x00\xff\x2d");
	run_all_splits(ST_PROTO_MYSQL, steps, 1);
	check_events("P0");
	steps[0] = (struct step)S_("\x05\x00\x00\x00\x0a" "8.0\x00\x00" "abcdef");
	run_all_splits(ST_PROTO_MYSQL, steps, 1);
	check_events("P0");
	/* A client that speaks before the greeting. */
	steps[0] = (struct step)C_("hello");
	run_all_splits(ST_PROTO_MYSQL, steps, 1);
	check_events("P0");
}

/* ---- API edges ------------------------------------------------------------------------------- */

static void
test_api_edges(void)
{
	static struct starttls s;
	static uint8_t big[ST_FEED_MAX + 1];
	struct st_out out;

	UNIT_CHECK(starttls_size() == sizeof(struct starttls));
	UNIT_CHECK_STR(starttls_proto_name(ST_PROTO_SMTP), "smtp");
	UNIT_CHECK_STR(starttls_proto_name(ST_PROTO_MYSQL), "mysql");
	UNIT_CHECK_STR(starttls_proto_name((enum st_proto)99), "unknown");
	out_setup(&out);
	starttls_init(&s, ST_PROTO_SMTP);
	UNIT_CHECK(starttls_from_server(&s, big, sizeof(big), &out) == ST_CLOSE);
	UNIT_CHECK(starttls_from_server(&s, big, 1, &out) == ST_CLOSE);	/* stays closed */
	starttls_init(&s, ST_PROTO_SMTP);
	out.cap = ST_OUT_MIN - 1;
	UNIT_CHECK(starttls_from_server(&s, (const uint8_t *)"220 x\r\n", 7, &out) == ST_CLOSE);
	out_setup(&out);
	/* NONE passes everything through. */
	starttls_init(&s, ST_PROTO_NONE);
	UNIT_CHECK(starttls_from_client(&s, (const uint8_t *)"abc", 3, &out) == ST_PASSTHROUGH);
	UNIT_CHECK(out.to_server_len == 3);
	/* Flush on EOF hands back what is held, from both sides. */
	starttls_init(&s, ST_PROTO_SMTP);
	UNIT_CHECK(starttls_from_server(&s, (const uint8_t *)"220 x\r\n220", 10, &out) ==
	    ST_CONTINUE);
	UNIT_CHECK(out.to_client_len == 7);
	UNIT_CHECK(starttls_from_client(&s, (const uint8_t *)"QUI", 3, &out) == ST_CONTINUE);
	UNIT_CHECK(out.to_server_len == 0);
	UNIT_CHECK(starttls_flush(&s, &out) == ST_PASSTHROUGH);
	UNIT_CHECK(out.to_client_len == 3 && memcmp(out_client, "220", 3) == 0);
	UNIT_CHECK(out.to_server_len == 3 && memcmp(out_server, "QUI", 3) == 0);
	UNIT_CHECK(starttls_from_client(&s, (const uint8_t *)"T\r\n", 3, &out) == ST_PASSTHROUGH);
	UNIT_CHECK(out.to_server_len == 3);
	/* Empty feeds are harmless. */
	starttls_init(&s, ST_PROTO_IMAP);
	UNIT_CHECK(starttls_from_server(&s, NULL, 0, &out) == ST_CONTINUE);
	UNIT_CHECK(starttls_from_client(&s, NULL, 0, &out) == ST_CONTINUE);
}

/* ---- random and mutated sessions ------------------------------------------------------------- */

struct corpus_session {
	enum st_proto		proto;
	const struct step	*steps;
	size_t			nsteps;
};

static const struct step c_smtp[] = {
	S_(SMTP_GREETING), C_("EHLO client.example.net\r\n"), S_(SMTP_EHLO_HEAD SMTP_EHLO_LAST),
	C_("STARTTLS\r\n"), C_("EHLO client.example.net\r\n"), S_(SMTP_EHLO_HEAD SMTP_EHLO_LAST),
	C_("MAIL FROM:<a@b>\r\n"),
};
static const struct step c_imap[] = {
	S_(IMAP_GREETING), C_("a1 CAPABILITY\r\n"), S_("* CAPABILITY " IMAP_CAPS "\r\na1 OK x\r\n"),
	C_("a2 ID (\"x\" {3}\r\n"), S_("+ go\r\n"), C_("abc)\r\n"), S_("* ID NIL\r\na2 OK x\r\n"),
	C_("a3 STARTTLS\r\n"), C_("a4 CAPABILITY\r\n"),
	S_("* CAPABILITY " IMAP_CAPS " LOGINDISABLED\r\na4 OK x\r\n"),
};
static const struct step c_pop3[] = {
	S_(POP3_GREETING), C_("CAPA\r\n"), S_(POP3_CAPA_HEAD ".\r\n"), C_("STLS\r\n"),
	C_("CAPA\r\n"), S_(POP3_CAPA_HEAD ".\r\n"), C_("USER bob\r\n"),
};
static const struct step c_pg[] = {
	C_(PG_GSS), C_(PG_SSL), S_("N"), C_(PG_STARTUP), S_(PG_AUTH_OK),
};
static struct step c_mysql[6];

static const struct corpus_session corpus[] = {
	{ ST_PROTO_SMTP, c_smtp, NSTEPS(c_smtp) },
	{ ST_PROTO_IMAP, c_imap, NSTEPS(c_imap) },
	{ ST_PROTO_POP3, c_pop3, NSTEPS(c_pop3) },
	{ ST_PROTO_PG, c_pg, NSTEPS(c_pg) },
	{ ST_PROTO_MYSQL, c_mysql, NSTEPS(c_mysql) },
};

#define MUT_MAX		8192
#define MUT_STEPS	24

static uint8_t mut_buf[MUT_STEPS][MUT_MAX];
static struct step mut_steps[MUT_STEPS];

static const char *const dictionary[] = {
	"\r\n", "\n", "STARTTLS", "STLS", "CAPA", "EHLO x", "250-", "250 ", "220 ", "{5}\r\n",
	"{4294967296}\r\n", "{3+}\r\n", "* CAPABILITY ", "[CAPABILITY ", "a1 ", "+OK", "-ERR", ".\r\n",
	"LOGINDISABLED", "]", "\x00\x00\x00\x08\x04\xd2\x16\x2f", "N", "S", "\xff\xff\xff\x02",
	"\x00", "\xfe", "LOGIN", "AUTHENTICATE",
};

/* One mutated copy of a corpus session: steps dropped, duplicated, cut, bytes flipped, inserted
 * or taken from the dictionary, directions swapped. */
static size_t
mutate(const struct corpus_session *c)
{
	size_t i, n = 0, k, len, ops;

	for (i = 0; i < c->nsteps && n < MUT_STEPS; i++) {
		const struct step *src = &c->steps[i];

		if (rng_below(10) == 0)
			continue;
		len = src->n < MUT_MAX ? src->n : MUT_MAX;
		memcpy(mut_buf[n], src->p, len);
		for (ops = rng_below(4); ops > 0; ops--) {
			switch (rng_below(6)) {
			case 0:
				if (len > 0)
					mut_buf[n][rng_below(len)] ^= (uint8_t)(1 + rng_below(255));
				break;
			case 1:
				len = rng_below(len + 1);
				break;
			case 2: {
				const char *d = dictionary[rng_below(sizeof(dictionary) /
				    sizeof(dictionary[0]))];
				size_t dl = strlen(d) ? strlen(d) : 1, at = rng_below(len + 1);

				if (len + dl <= MUT_MAX) {
					memmove(mut_buf[n] + at + dl, mut_buf[n] + at, len - at);
					memcpy(mut_buf[n] + at, d, dl);
					len += dl;
				}
				break;
			}
			case 3:
				for (k = rng_below(64); k > 0 && len < MUT_MAX; k--)
					mut_buf[n][len++] = (uint8_t)rng();
				break;
			case 4:
				if (len > 0 && len * 2 <= MUT_MAX) {
					memcpy(mut_buf[n] + len, mut_buf[n], len);
					len *= 2;
				}
				break;
			default:
				break;
			}
		}
		mut_steps[n].from = rng_below(12) == 0 ? !src->from : src->from;
		mut_steps[n].p = mut_buf[n];
		mut_steps[n].n = len;
		n++;
		if (rng_below(12) == 0 && n < MUT_STEPS) {
			memcpy(mut_buf[n], mut_buf[n - 1], len);
			mut_steps[n] = mut_steps[n - 1];
			mut_steps[n].p = mut_buf[n];
			n++;
		}
	}
	return n;
}

static void
concat_side(const struct step *steps, size_t n, int from, uint8_t *dst, size_t *len)
{
	size_t i;

	*len = 0;
	for (i = 0; i < n; i++)
		if (steps[i].from == from && *len + steps[i].n <= T_MAX) {
			memcpy(dst + *len, steps[i].p, steps[i].n);
			*len += steps[i].n;
		}
}

static uint8_t all_client[T_MAX], all_server[T_MAX];

/* While nothing was rewritten or dropped, the machine is a wire: what reached each side is a
 * prefix of what the other sent (all of it once passed through). */
static void
check_transparent(const struct step *steps, size_t n)
{
	size_t lc, ls;

	if (t_other.rewritten || t_other.discarded || t_other.dropped || t_other.tls)
		return;
	concat_side(steps, n, FROM_C, all_client, &lc);
	concat_side(steps, n, FROM_S, all_server, &ls);
	if (t_other.srv_len > lc || memcmp(t_other.srv, all_client, t_other.srv_len) != 0 ||
	    t_other.cli_plain_len > ls ||
	    memcmp(t_other.cli_plain, all_server, t_other.cli_plain_len) != 0 ||
	    (t_other.passthrough && (t_other.srv_len != lc || t_other.cli_plain_len != ls))) {
		UNIT_CHECK(!"not transparent although nothing was rewritten");
		dump("client sent", all_client, lc);
		dump("server sent", all_server, ls);
		dump_transcript(&t_other);
	}
}

static void
test_mutated_sessions(void)
{
	size_t i, n, c;

	my_build("8.0.36", MY8_CAPS, 0, "caching_sha2_password");
	c_mysql[0] = (struct step){ FROM_S, my_g, my_g_len };
	c_mysql[1] = (struct step){ FROM_C, my_tls_bytes, my_tls_len };
	c_mysql[2] = (struct step){ FROM_C, my_resp, my_resp_len };
	c_mysql[3] = (struct step){ FROM_S, my_more, my_more_len };
	c_mysql[4] = (struct step){ FROM_S, my_ok, my_ok_len };
	c_mysql[5] = (struct step){ FROM_C, my_query, my_query_len };
	for (i = 0; i < 6000 && !unit_case_failed; i++) {
		c = i % (sizeof(corpus) / sizeof(corpus[0]));
		n = mutate(&corpus[c]);
		run(corpus[c].proto, mut_steps, n, i % 3 == 0 ? SPLIT_BYTES : SPLIT_RANDOM,
		    &t_other);
		check_transparent(mut_steps, n);
		/* Same input, another splitting: same outcome. */
		run(corpus[c].proto, mut_steps, n, SPLIT_WHOLE, &t_whole);
		if (!transcripts_equal(&t_whole, &t_other)) {
			UNIT_CHECK(!"mutated session depends on how it was split");
			dump_transcript(&t_whole);
			dump_transcript(&t_other);
		}
	}
}

static void
test_random_bytes(void)
{
	static const enum st_proto protos[] = { ST_PROTO_SMTP, ST_PROTO_IMAP, ST_PROTO_POP3,
	    ST_PROTO_PG, ST_PROTO_MYSQL };
	size_t i, j, k, n, len;
	int printable;

	for (i = 0; i < 4000 && !unit_case_failed; i++) {
		printable = rng_below(2);
		n = 1 + rng_below(MUT_STEPS);
		for (k = 0; k < n; k++) {
			len = rng_below(rng_below(8) == 0 ? MUT_MAX : 200);
			for (j = 0; j < len; j++) {
				uint8_t b = (uint8_t)rng();

				mut_buf[k][j] = printable ? (rng_below(10) == 0 ? '\n' :
				    (uint8_t)(' ' + b % 95)) : b;
			}
			mut_steps[k] = (struct step){ (int)rng_below(2), mut_buf[k], len };
		}
		run(protos[i % 5], mut_steps, n, SPLIT_RANDOM, &t_other);
		check_transparent(mut_steps, n);
	}
}

/* Truncating a session anywhere never crashes, and leaves a state the flush can always empty. */
static void
test_truncated(void)
{
	static struct starttls s;
	struct st_out out;
	size_t c, i, cut, off, n;
	enum st_verdict v;

	for (c = 0; c < sizeof(corpus) / sizeof(corpus[0]); c++) {
		for (cut = 0; cut < 64; cut++) {
			size_t budget = rng_below(400);

			out_setup(&out);
			starttls_init(&s, corpus[c].proto);
			v = ST_CONTINUE;
			for (i = 0; i < corpus[c].nsteps && v != ST_CLOSE &&
			    v != ST_PASSTHROUGH && budget > 0; i++) {
				const struct step *st = &corpus[c].steps[i];

				for (off = 0; off < st->n && budget > 0; off += n) {
					n = st->n - off < budget ? st->n - off : budget;
					if (n > ST_FEED_MAX)
						n = ST_FEED_MAX;
					budget -= n;
					v = st->from == FROM_S ?
					    starttls_from_server(&s, st->p + off, n, &out) :
					    starttls_from_client(&s, st->p + off, n, &out);
					UNIT_CHECK(out_guards_intact());
					if (v != ST_CONTINUE)
						break;
				}
			}
			v = starttls_flush(&s, &out);
			UNIT_CHECK(v == ST_PASSTHROUGH || v == ST_CLOSE);
			UNIT_CHECK(out_guards_intact());
		}
	}
}

int
main(void)
{
	UNIT_RUN(test_detect_text);
	UNIT_RUN(test_detect_client);
	UNIT_RUN(test_detect_mysql);
	UNIT_RUN(test_smtp_session);
	UNIT_RUN(test_smtp_injection);
	UNIT_RUN(test_smtp_service_has_tls);
	UNIT_RUN(test_smtp_variants);
	UNIT_RUN(test_smtp_bounds);
	UNIT_RUN(test_smtp_pipeline_flood);
	UNIT_RUN(test_imap_session);
	UNIT_RUN(test_imap_injection_and_literals);
	UNIT_RUN(test_imap_service_has_tls);
	UNIT_RUN(test_imap_login_in_plaintext);
	UNIT_RUN(test_imap_bounds);
	UNIT_RUN(test_pop3_session);
	UNIT_RUN(test_pop3_injection_and_tls);
	UNIT_RUN(test_pop3_bounds);
	UNIT_RUN(test_pg_sessions);
	UNIT_RUN(test_pg_violations);
	UNIT_RUN(test_mysql_session);
	UNIT_RUN(test_mysql_other_paths);
	UNIT_RUN(test_api_edges);
	UNIT_RUN(test_mutated_sessions);
	UNIT_RUN(test_random_bytes);
	UNIT_RUN(test_truncated);
	return unit_summary();
}
