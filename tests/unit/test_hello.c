/* Unit tests for proxy/hello.c: real ClientHellos captured on loopback from curl, wget (GnuTLS),
 * openssl s_client, Python, Node and Java (tests/data/hello/README.md), their prefixes,
 * re-fragmentations and corruptions, plus hand-built hellos for every bound. */
#include "proxy/hello.h"
#include "tests/unit/unit.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DATA_DIR	"tests/data/hello/"
#define WIRE_MAX	(1 << 19)	/* room for a 64 KiB hello cut into 1-byte records */

static uint8_t wire[WIRE_MAX], wire2[WIRE_MAX], hs[WIRE_MAX];

/* ---- helpers -------------------------------------------------------------------------------- */

static size_t
load(const char *name, uint8_t *buf, size_t cap)
{
	char path[256];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), DATA_DIR "%s", name);
	f = fopen(path, "rb");
	if (f == NULL) {
		fprintf(stderr, "cannot open %s (run from the repo root)\n", path);
		return 0;
	}
	n = fread(buf, 1, cap, f);
	fclose(f);
	return n;
}

static int
info_equal_but_consumed(const struct hello_info *a, const struct hello_info *b)
{
	return a->record_version == b->record_version &&
	    a->legacy_version == b->legacy_version &&
	    a->max_version == b->max_version &&
	    a->sni_present == b->sni_present &&
	    a->sni_len == b->sni_len &&
	    memcmp(a->sni, b->sni, sizeof(a->sni)) == 0 &&
	    a->alpn_present == b->alpn_present &&
	    a->alpn_count == b->alpn_count &&
	    a->alpn_total == b->alpn_total &&
	    a->alpn_truncated == b->alpn_truncated &&
	    memcmp(a->alpn, b->alpn, sizeof(a->alpn)) == 0 &&
	    memcmp(a->alpn_len, b->alpn_len, sizeof(a->alpn_len)) == 0;
}

/* Concatenates the payloads of the records in wire[0..len): the handshake stream. */
static size_t
handshake_of(const uint8_t *w, size_t len, uint8_t *out)
{
	size_t off = 0, n = 0, rl;

	while (off + 5 <= len) {
		rl = (size_t)w[off + 3] << 8 | w[off + 4];
		memcpy(out + n, w + off + 5, rl);
		n += rl;
		off += 5 + rl;
	}
	return n;
}

/* Wraps the handshake stream h[0..n) into records whose payload sizes are drawn from 1..maxfrag
 * by a small LCG seeded with <seed>, so each call gives a different but reproducible split. */
static size_t
fragment(const uint8_t *h, size_t n, size_t maxfrag, uint32_t seed, uint16_t recver,
    uint8_t *out)
{
	size_t off = 0, o = 0, k;

	while (off < n) {
		seed = seed * 1103515245u + 12345u;
		k = 1 + (seed >> 8) % maxfrag;
		if (k > n - off)
			k = n - off;
		if (k > HELLO_MAX_RECORD)
			k = HELLO_MAX_RECORD;
		out[o++] = 22;
		out[o++] = (uint8_t)(recver >> 8);
		out[o++] = (uint8_t)recver;
		out[o++] = (uint8_t)(k >> 8);
		out[o++] = (uint8_t)k;
		memcpy(out + o, h + off, k);
		o += k;
		off += k;
	}
	return o;
}

/* A tiny byte builder with back-patched length prefixes. */
struct bld {
	uint8_t	b[WIRE_MAX];
	size_t	n;
};

static void
put8(struct bld *b, unsigned v)
{
	b->b[b->n++] = (uint8_t)v;
}

static void
put16(struct bld *b, unsigned v)
{
	put8(b, v >> 8);
	put8(b, v);
}

static void
putmem(struct bld *b, const void *p, size_t n)
{
	memcpy(b->b + b->n, p, n);
	b->n += n;
}

static size_t
open16(struct bld *b)
{
	b->n += 2;
	return b->n;
}

static void
close16(struct bld *b, size_t mark)
{
	size_t len = b->n - mark;

	b->b[mark - 2] = (uint8_t)(len >> 8);
	b->b[mark - 1] = (uint8_t)len;
}

static struct bld ext, msg;

static void
ext_sni(struct bld *b, const char *name, size_t len)
{
	size_t e, l;

	put16(b, 0);
	e = open16(b);
	l = open16(b);
	put8(b, 0);
	put16(b, (unsigned)len);
	putmem(b, name, len);
	close16(b, l);
	close16(b, e);
}

/* names: NUL-separated, ends with an empty name. */
static void
ext_alpn(struct bld *b, const char *names)
{
	size_t e, l, k;

	put16(b, 16);
	e = open16(b);
	l = open16(b);
	for (; *names != '\0'; names += k + 1) {
		k = strlen(names);
		put8(b, (unsigned)k);
		putmem(b, names, k);
	}
	close16(b, l);
	close16(b, e);
}

static void
ext_versions(struct bld *b, const unsigned *v, size_t n)
{
	size_t e, i;

	put16(b, 43);
	e = open16(b);
	put8(b, (unsigned)(2 * n));
	for (i = 0; i < n; i++)
		put16(b, v[i]);
	close16(b, e);
}

static void
ext_raw(struct bld *b, unsigned type, const void *data, size_t len)
{
	put16(b, type);
	put16(b, (unsigned)len);
	putmem(b, data, len);
}

/* Builds a handshake message with the given cipher_suites and compression_methods bytes around
 * the extensions in <e> (none at all if e is NULL) into msg, then a single-record wire form
 * into wire. Returns the wire length. */
static size_t
make_hello_with(const void *suites, size_t suites_len, const void *comp, size_t comp_len,
    const struct bld *e)
{
	size_t body, x, i;

	msg.n = 0;
	put8(&msg, 1);
	msg.n += 3;
	body = msg.n;
	put16(&msg, 0x0303);
	for (i = 0; i < 32; i++)
		put8(&msg, (unsigned)i);
	put8(&msg, 32);
	for (i = 0; i < 32; i++)
		put8(&msg, 0xa0 + (unsigned)i);
	put16(&msg, (unsigned)suites_len);
	putmem(&msg, suites, suites_len);
	put8(&msg, (unsigned)comp_len);
	putmem(&msg, comp, comp_len);
	if (e != NULL) {
		x = open16(&msg);
		putmem(&msg, e->b, e->n);
		close16(&msg, x);
	}
	msg.b[1] = (uint8_t)((msg.n - body) >> 16);
	msg.b[2] = (uint8_t)((msg.n - body) >> 8);
	msg.b[3] = (uint8_t)(msg.n - body);
	return fragment(msg.b, msg.n, HELLO_MAX_RECORD, 1, 0x0301, wire);
}

static size_t
make_hello(const struct bld *e)
{
	return make_hello_with("\x13\x01\x13\x02\xc0\x2f", 6, "\x00", 1, e);
}

static enum hello_result
parse_exts(struct hello_info *h)
{
	return hello_parse(wire, make_hello(&ext), h);
}

/* Checks the contract on every prefix of buf[0..len): NEED_MORE until a decision, and the
 * decision (and its info, on OK) never changes once made. Returns the full-length result. */
static enum hello_result
check_prefixes(const uint8_t *buf, size_t len)
{
	struct hello_info full, h;
	enum hello_result rf, r, first_decision = HELLO_NEED_MORE;
	size_t k, decided_at = 0;

	rf = hello_parse(buf, len, &full);
	for (k = 0; k <= len; k++) {
		r = hello_parse(buf, k, &h);
		if (first_decision == HELLO_NEED_MORE) {
			if (r != HELLO_NEED_MORE) {
				first_decision = r;
				decided_at = k;
			}
		} else
			UNIT_CHECK(r == first_decision);
		if (r == HELLO_OK) {
			UNIT_CHECK(h.consumed == decided_at);
			UNIT_CHECK(info_equal_but_consumed(&h, &full));
		}
		if (unit_case_failed) {
			fprintf(stderr, "  prefix %zu of %zu: %d\n", k, len, r);
			break;
		}
	}
	UNIT_CHECK(first_decision == rf);
	return rf;
}

/* ---- real captured hellos ------------------------------------------------------------------- */

struct real_hello {
	const char	*file;
	uint16_t	 record_version, legacy_version, max_version;
	const char	*sni;		/* NULL: no SNI */
	const char	*alpn;		/* comma-separated names stored; NULL: no ALPN extension */
	unsigned	 alpn_total;
	int		 alpn_truncated;
	size_t		 consumed;	/* 0: the whole file */
};

static const struct real_hello real[] = {
	{ "curl.bin", 0x0301, 0x0303, 0x0304, "www.example.com", "h2,http/1.1", 2, 0, 0 },
	{ "curl_http11.bin", 0x0301, 0x0303, 0x0304, "api.example.org", "http/1.1", 1, 0, 0 },
	{ "wget.bin", 0x0301, 0x0303, 0x0304, "localhost", NULL, 0, 0, 0 },
	{ "openssl_alpn.bin", 0x0301, 0x0303, 0x0304, "x", "h2,http/1.1", 2, 0, 0 },
	{ "openssl_tls12.bin", 0x0301, 0x0303, 0x0303, "tls12.example.net", NULL, 0, 0, 0 },
	{ "openssl_tls10.bin", 0x0301, 0x0301, 0x0301, "old.example", NULL, 0, 0, 0 },
	{ "openssl_nosni.bin", 0x0301, 0x0303, 0x0304, NULL, NULL, 0, 0, 0 },
	{ "openssl_trailingdot.bin", 0x0301, 0x0303, 0x0304, "host.example.com.", NULL, 0, 0, 0 },
	{ "openssl_frag512.bin", 0x0301, 0x0303, 0x0304, "frag.example",
	    "proto-00-xxxxxxxxxxxxxxxxxxxx,proto-01-xxxxxxxxxxxxxxxxxxxx,"
	    "proto-02-xxxxxxxxxxxxxxxxxxxx,proto-03-xxxxxxxxxxxxxxxxxxxx,"
	    "proto-04-xxxxxxxxxxxxxxxxxxxx,proto-05-xxxxxxxxxxxxxxxxxxxx,"
	    "proto-06-xxxxxxxxxxxxxxxxxxxx,proto-07-xxxxxxxxxxxxxxxxxxxx,"
	    "proto-08-xxxxxxxxxxxxxxxxxxxx,proto-09-xxxxxxxxxxxxxxxxxxxx,"
	    "proto-10-xxxxxxxxxxxxxxxxxxxx,proto-11-xxxxxxxxxxxxxxxxxxxx,"
	    "proto-12-xxxxxxxxxxxxxxxxxxxx,proto-13-xxxxxxxxxxxxxxxxxxxx,"
	    "proto-14-xxxxxxxxxxxxxxxxxxxx,proto-15-xxxxxxxxxxxxxxxxxxxx", 20, 1, 0 },
	{ "openssl_early_data.bin", 0x0301, 0x0303, 0x0304, "early.example", NULL, 0, 0,
	    5 + 413 },
	{ "python.bin", 0x0301, 0x0303, 0x0304, "py.example.com", "h2,http/1.1", 2, 0, 0 },
	{ "python_manyalpn.bin", 0x0301, 0x0303, 0x0304, "many.example",
	    "h2,http/1.1,p00,p01,p02,p03,p04,p05,p06,p07,p08,p09,p10,p11,p12,p13", 21, 1, 0 },
	{ "node.bin", 0x0301, 0x0303, 0x0304, "node.example.com", "h2,http/1.1", 2, 0, 0 },
	{ "java.bin", 0x0303, 0x0303, 0x0304, "java.example.com", "h2,http/1.1", 2, 0, 0 },
};
#define NREAL (sizeof(real) / sizeof(real[0]))

/* Loads real hello <i> into wire; returns the length of the hello's records. */
static size_t
load_real(size_t i, size_t *filelen)
{
	size_t n = load(real[i].file, wire, sizeof(wire));

	*filelen = n;
	return real[i].consumed != 0 ? real[i].consumed : n;
}

static void
check_real_info(const struct real_hello *e, const struct hello_info *h)
{
	char names[HELLO_MAX_ALPN * HELLO_ALPN_NAME_MAX];
	size_t o = 0;
	unsigned i;

	UNIT_CHECK(h->record_version == e->record_version);
	UNIT_CHECK(h->legacy_version == e->legacy_version);
	UNIT_CHECK(h->max_version == e->max_version);
	UNIT_CHECK(h->sni_present == (e->sni != NULL));
	if (e->sni != NULL) {
		UNIT_CHECK_STR(h->sni, e->sni);
		UNIT_CHECK(h->sni_len == strlen(e->sni));
	} else
		UNIT_CHECK(h->sni_len == 0 && h->sni[0] == '\0');
	UNIT_CHECK(h->alpn_present == (e->alpn != NULL));
	UNIT_CHECK(h->alpn_total == e->alpn_total);
	UNIT_CHECK(h->alpn_truncated == e->alpn_truncated);
	names[0] = '\0';
	for (i = 0; i < h->alpn_count; i++)
		o += (size_t)snprintf(names + o, sizeof(names) - o, "%s%s", i ? "," : "",
		    h->alpn[i]);
	if (e->alpn != NULL)
		UNIT_CHECK_STR(names, e->alpn);
	if (unit_case_failed)
		fprintf(stderr, "  in %s\n", e->file);
}

static void
test_real_hellos(void)
{
	struct hello_info h;
	size_t i, n, filelen;

	for (i = 0; i < NREAL; i++) {
		n = load_real(i, &filelen);
		UNIT_CHECK(n > 0);
		UNIT_CHECK(hello_parse(wire, filelen, &h) == HELLO_OK);
		UNIT_CHECK(h.consumed == n);
		check_real_info(&real[i], &h);
	}
}

static void
test_real_alpn_offers(void)
{
	struct hello_info h;
	size_t n;

	n = load("curl.bin", wire, sizeof(wire));
	UNIT_CHECK(hello_parse(wire, n, &h) == HELLO_OK);
	UNIT_CHECK(hello_alpn_offers(&h, "h2"));
	UNIT_CHECK(hello_alpn_offers(&h, "http/1.1"));
	UNIT_CHECK(!hello_alpn_offers(&h, "h2c"));
	UNIT_CHECK(!hello_alpn_offers(&h, "h"));
	UNIT_CHECK(!hello_alpn_offers(&h, "http/1.0"));
	UNIT_CHECK(!hello_alpn_offers(&h, ""));

	n = load("curl_http11.bin", wire, sizeof(wire));
	UNIT_CHECK(hello_parse(wire, n, &h) == HELLO_OK);
	UNIT_CHECK(!hello_alpn_offers(&h, "h2"));
	UNIT_CHECK(hello_alpn_offers(&h, "http/1.1"));

	n = load("openssl_nosni.bin", wire, sizeof(wire));
	UNIT_CHECK(hello_parse(wire, n, &h) == HELLO_OK);
	UNIT_CHECK(!hello_alpn_offers(&h, "http/1.1"));

	/* 21 names offered: the 16 first are kept, the 100-byte one is past them. */
	n = load("python_manyalpn.bin", wire, sizeof(wire));
	UNIT_CHECK(hello_parse(wire, n, &h) == HELLO_OK);
	UNIT_CHECK(h.alpn_count == HELLO_MAX_ALPN);
	UNIT_CHECK(hello_alpn_offers(&h, "p13"));
	UNIT_CHECK(!hello_alpn_offers(&h, "p14"));
}

static void
test_real_prefixes_need_more(void)
{
	struct hello_info h;
	size_t i, k, n, filelen;

	for (i = 0; i < NREAL; i++) {
		n = load_real(i, &filelen);
		for (k = 0; k < n; k++) {
			if (hello_parse(wire, k, &h) != HELLO_NEED_MORE) {
				UNIT_CHECK(!"prefix decided early");
				fprintf(stderr, "  %s: prefix %zu of %zu\n", real[i].file, k, n);
				break;
			}
		}
		UNIT_CHECK(hello_parse(wire, n, &h) == HELLO_OK);
	}
}

static void
test_real_refragmented(void)
{
	static const size_t maxfrags[] = { 1, 2, 3, 4, 5, 7, 8, 13, 16, 31, 64, 100, 255, 512,
	    16384 };
	struct hello_info orig, h;
	size_t i, j, n, filelen, hn, wn;
	uint32_t seed;

	for (i = 0; i < NREAL; i++) {
		n = load_real(i, &filelen);
		UNIT_CHECK(hello_parse(wire, filelen, &orig) == HELLO_OK);
		hn = handshake_of(wire, n, hs);
		for (j = 0; j < sizeof(maxfrags) / sizeof(maxfrags[0]); j++) {
			for (seed = 1; seed <= 4; seed++) {
				wn = fragment(hs, hn, maxfrags[j], seed, orig.record_version, wire2);
				UNIT_CHECK(hello_parse(wire2, wn, &h) == HELLO_OK);
				UNIT_CHECK(h.consumed == wn);
				UNIT_CHECK(info_equal_but_consumed(&h, &orig));
				/* Bytes after the last record are the caller's, never ours. */
				memcpy(wire2 + wn, "\x17\x03\x03\x00\x01X", 6);
				UNIT_CHECK(hello_parse(wire2, wn + 6, &h) == HELLO_OK);
				UNIT_CHECK(h.consumed == wn);
			}
		}
		/* Every prefix of a hello cut into 1..3-byte records still waits for more. */
		wn = fragment(hs, hn, 3, 7, orig.record_version, wire2);
		UNIT_CHECK(check_prefixes(wire2, wn) == HELLO_OK);
		if (unit_case_failed) {
			fprintf(stderr, "  in %s\n", real[i].file);
			break;
		}
	}
}

/* Every truncation and many single-byte corruptions of every real hello: no crash (ASan/UBSan
 * watch), only the allowed results, and results consistent across prefixes. */
static void
test_real_corruptions(void)
{
	static const uint8_t xors[] = { 0xff, 0x01, 0x80, 0x10 };
	struct hello_info h, h2;
	enum hello_result r, rk;
	size_t i, pos, n, filelen, x, counts[4] = { 0 };

	for (i = 0; i < NREAL; i++) {
		n = load_real(i, &filelen);
		for (pos = 0; pos < n; pos++) {
			for (x = 0; x < sizeof(xors); x++) {
				memcpy(wire2, wire, n);
				wire2[pos] ^= xors[x];
				if (x == 0) {
					/* The full prefix sweep, for one corruption per byte. */
					r = check_prefixes(wire2, n);
				} else {
					/* Up to the corrupted byte it is a real hello's prefix; with
					 * it, it is undecided or already what the whole gives. */
					r = hello_parse(wire2, n, &h);
					UNIT_CHECK(hello_parse(wire2, pos, &h2) == HELLO_NEED_MORE);
					rk = hello_parse(wire2, pos + 1, &h2);
					UNIT_CHECK(rk == HELLO_NEED_MORE || rk == r);
				}
				UNIT_CHECK(r == HELLO_NEED_MORE || r == HELLO_OK ||
				    r == HELLO_NOT_TLS || r == HELLO_MALFORMED);
				if (r == HELLO_OK) {
					hello_parse(wire2, n, &h);
					UNIT_CHECK(h.consumed <= n);
					UNIT_CHECK(h.sni_len < 256);
					UNIT_CHECK(hello_parse(wire2, h.consumed, &h2) == HELLO_OK);
					UNIT_CHECK(info_equal_but_consumed(&h, &h2));
				}
				/* Only the first two bytes can make it "not TLS". */
				if (r == HELLO_NOT_TLS)
					UNIT_CHECK(pos < 2);
				counts[r]++;
				if (unit_case_failed) {
					fprintf(stderr, "  %s: byte %zu ^ %02x\n", real[i].file, pos,
					    xors[x]);
					return;
				}
			}
		}
	}
	fprintf(stderr, "  corruptions: %zu need-more, %zu ok, %zu not-tls, %zu malformed\n",
	    counts[HELLO_NEED_MORE], counts[HELLO_OK], counts[HELLO_NOT_TLS],
	    counts[HELLO_MALFORMED]);
	/* Sanity: the sweep did reach each decision. Whole corrupted hellos almost never come
	 * out NEED_MORE: every length is checked against its enclosing one. */
	UNIT_CHECK(counts[HELLO_OK] > 0 && counts[HELLO_MALFORMED] > 0 &&
	    counts[HELLO_NOT_TLS] > 0);
}

/* The first flight of a resumed TLS 1.3 connection with 0-RTT: hello, then a
 * change_cipher_spec record and an early-data record that are not part of the hello. */
static void
test_real_trailing_early_data(void)
{
	struct hello_info h;
	size_t n, k;

	n = load("openssl_early_data.bin", wire, sizeof(wire));
	UNIT_CHECK(n == 485);
	for (k = 418; k <= n; k++) {
		UNIT_CHECK(hello_parse(wire, k, &h) == HELLO_OK);
		UNIT_CHECK(h.consumed == 418);
	}
	UNIT_CHECK(wire[418] == 20 && wire[424] == 23);
}

/* ---- plaintext and the record layer -------------------------------------------------------- */

static void
test_not_tls(void)
{
	static const uint8_t pg_sslrequest[] = { 0x00, 0x00, 0x00, 0x08, 0x04, 0xd2, 0x16, 0x2f };
	static const uint8_t sslv2_hello[] = { 0x80, 0x2e, 0x01, 0x03, 0x01 };
	static const char *const texts[] = { "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
	    "SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
	    "EHLO mail.example\r\n", "\x15\x03\x03\x00\x02\x02\x28", "\x16\x02\x00\x00" };
	struct hello_info h;
	size_t i, k;

	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		for (k = i < 5 ? 1 : 2; k <= strlen(texts[i]); k++)
			UNIT_CHECK(hello_parse((const uint8_t *)texts[i], k, &h) == HELLO_NOT_TLS);
	}
	/* Decided on the very first byte. */
	UNIT_CHECK(hello_parse((const uint8_t *)"G", 1, &h) == HELLO_NOT_TLS);
	for (k = 1; k <= sizeof(pg_sslrequest); k++)
		UNIT_CHECK(hello_parse(pg_sslrequest, k, &h) == HELLO_NOT_TLS);
	UNIT_CHECK(hello_parse(sslv2_hello, sizeof(sslv2_hello), &h) == HELLO_NOT_TLS);
	UNIT_CHECK(hello_parse((const uint8_t *)"\x16", 1, &h) == HELLO_NEED_MORE);
	UNIT_CHECK(hello_parse((const uint8_t *)"\x16\x03", 2, &h) == HELLO_NEED_MORE);
	UNIT_CHECK(hello_parse((const uint8_t *)"\x16\x03\x01", 3, &h) == HELLO_NEED_MORE);
	UNIT_CHECK(hello_parse((const uint8_t *)"\x16\x04", 2, &h) == HELLO_NOT_TLS);
	UNIT_CHECK(hello_parse((const uint8_t *)"", 0, &h) == HELLO_NEED_MORE);
	UNIT_CHECK(hello_parse(NULL, 0, &h) == HELLO_NEED_MORE);
}

static void
test_record_layer(void)
{
	struct hello_info h;
	size_t n, hn, k;

	/* Record length 0, and over 2^14 (decided from the high byte alone when it can be). */
	UNIT_CHECK(hello_parse((const uint8_t *)"\x16\x03\x01\x00\x00", 5, &h) == HELLO_MALFORMED);
	UNIT_CHECK(hello_parse((const uint8_t *)"\x16\x03\x01\x40\x01", 5, &h) == HELLO_MALFORMED);
	UNIT_CHECK(hello_parse((const uint8_t *)"\x16\x03\x01\x40\x00", 5, &h) == HELLO_NEED_MORE);
	UNIT_CHECK(hello_parse((const uint8_t *)"\x16\x03\x01\x41", 4, &h) == HELLO_MALFORMED);
	UNIT_CHECK(hello_parse((const uint8_t *)"\x16\x03\x01\xff\xff", 5, &h) == HELLO_MALFORMED);
	/* Not a client_hello (server_hello, finished...). */
	UNIT_CHECK(hello_parse((const uint8_t *)"\x16\x03\x01\x00\x04\x02", 6, &h) ==
	    HELLO_MALFORMED);
	UNIT_CHECK(hello_parse((const uint8_t *)"\x16\x03\x01\x00\x04\x00", 6, &h) ==
	    HELLO_MALFORMED);
	/* Handshake length over 64 KiB is refused as soon as it is known. */
	UNIT_CHECK(hello_parse((const uint8_t *)"\x16\x03\x01\x00\x04\x01\x01\x00\x01", 9, &h) ==
	    HELLO_MALFORMED);
	UNIT_CHECK(hello_parse((const uint8_t *)"\x16\x03\x01\x00\x04\x01\xff\xff\xff", 9, &h) ==
	    HELLO_MALFORMED);
	UNIT_CHECK(hello_parse((const uint8_t *)"\x16\x03\x01\x00\x04\x01\x01\x00\x00", 9, &h) ==
	    HELLO_NEED_MORE);
	/* A handshake header split across records, and a hello too short for its fields. */
	UNIT_CHECK(hello_parse((const uint8_t *)"\x16\x03\x01\x00\x01\x01\x16\x03\x01\x00\x03"
	    "\x00\x00\x00", 14, &h) == HELLO_MALFORMED);
	UNIT_CHECK(hello_parse((const uint8_t *)"\x16\x03\x01\x00\x01\x01\x16\x03\x01\x00\x03"
	    "\x00\x00\x30", 14, &h) == HELLO_NEED_MORE);

	n = load("curl.bin", wire, sizeof(wire));
	hn = handshake_of(wire, n, hs);
	/* A change_cipher_spec, alert or application-data record in the middle of the hello. */
	n = fragment(hs, 100, 16384, 1, 0x0301, wire);
	UNIT_CHECK(n == 105);
	memcpy(wire + n, "\x14\x03\x03\x00\x01\x01", 6);
	n += 6;
	n += fragment(hs + 100, hn - 100, 16384, 1, 0x0301, wire + n);
	UNIT_CHECK(check_prefixes(wire, n) == HELLO_MALFORMED);
	UNIT_CHECK(hello_parse(wire, 105, &h) == HELLO_NEED_MORE);
	UNIT_CHECK(hello_parse(wire, 106, &h) == HELLO_MALFORMED);
	wire[105] = 0x15;
	UNIT_CHECK(hello_parse(wire, n, &h) == HELLO_MALFORMED);
	wire[105] = 0x17;
	UNIT_CHECK(hello_parse(wire, n, &h) == HELLO_MALFORMED);
	/* A later record with a bad major version, or a zero length. */
	wire[105] = 0x16;
	wire[106] = 0x02;
	UNIT_CHECK(hello_parse(wire, n, &h) == HELLO_MALFORMED);
	n = fragment(hs, 100, 16384, 1, 0x0301, wire);
	memcpy(wire + n, "\x16\x03\x01\x00\x00", 5);
	n += 5;
	n += fragment(hs + 100, hn - 100, 16384, 1, 0x0301, wire + n);
	UNIT_CHECK(hello_parse(wire, n, &h) == HELLO_MALFORMED);

	/* The hello's last record goes on with more handshake bytes: no client does that. */
	memcpy(hs + hn, "\x14\x00\x00\x00", 4);
	n = fragment(hs, hn + 4, 16384, 1, 0x0301, wire);
	UNIT_CHECK(check_prefixes(wire, n) == HELLO_MALFORMED);
	n = fragment(hs, hn + 1, 16384, 1, 0x0301, wire);
	UNIT_CHECK(hello_parse(wire, n, &h) == HELLO_MALFORMED);

	/* Application bytes right after the hello, in the same TCP read. */
	n = fragment(hs, hn, 16384, 1, 0x0301, wire);
	memcpy(wire + n, "\x17\x03\x03\x00\x05hello", 10);
	UNIT_CHECK(hello_parse(wire, n + 10, &h) == HELLO_OK);
	UNIT_CHECK(h.consumed == n);
	memcpy(wire + n, "GET / HTTP/1.1\r\n", 16);
	for (k = n; k <= n + 16; k++) {
		UNIT_CHECK(hello_parse(wire, k, &h) == HELLO_OK);
		UNIT_CHECK(h.consumed == n);
	}
}

/* A hello of exactly 64 KiB passes, one byte more does not. */
static void
test_handshake_size_bound(void)
{
	static uint8_t pad[65536];
	struct hello_info h;
	size_t base, n;

	ext.n = 0;
	ext_sni(&ext, "big.example", 11);
	make_hello(&ext);
	base = msg.n - 4 + 4;	/* body plus the padding extension's header */
	ext_raw(&ext, 21, pad, 65536 - base);
	make_hello(&ext);
	UNIT_CHECK(msg.n == 4 + 65536);
	n = fragment(msg.b, msg.n, 16384, 1, 0x0301, wire);
	UNIT_CHECK(hello_parse(wire, n, &h) == HELLO_OK);
	UNIT_CHECK(h.consumed == n && h.sni_present);
	UNIT_CHECK_STR(h.sni, "big.example");
	n = fragment(msg.b, msg.n, 1, 1, 0x0301, wire);
	UNIT_CHECK(n == 6 * (4 + 65536));
	UNIT_CHECK(hello_parse(wire, n, &h) == HELLO_OK);

	ext.n = 0;
	ext_sni(&ext, "big.example", 11);
	ext_raw(&ext, 21, pad, 65536 - base + 1);
	make_hello(&ext);
	n = fragment(msg.b, msg.n, 16384, 1, 0x0301, wire);
	UNIT_CHECK(hello_parse(wire, n, &h) == HELLO_MALFORMED);
	UNIT_CHECK(hello_parse(wire, 9, &h) == HELLO_MALFORMED);
}

/* ---- the hello body ------------------------------------------------------------------------ */

static void
test_no_extensions(void)
{
	struct hello_info h;
	size_t n;

	n = make_hello(NULL);
	UNIT_CHECK(check_prefixes(wire, n) == HELLO_OK);
	UNIT_CHECK(hello_parse(wire, n, &h) == HELLO_OK);
	UNIT_CHECK(h.consumed == n);
	UNIT_CHECK(h.legacy_version == 0x0303 && h.max_version == 0x0303);
	UNIT_CHECK(!h.sni_present && !h.alpn_present && h.alpn_count == 0);
	/* An empty extensions block is fine too. */
	ext.n = 0;
	UNIT_CHECK(parse_exts(&h) == HELLO_OK);
}

static void
test_body_bounds(void)
{
	struct hello_info h;
	size_t n;

	ext.n = 0;
	ext_sni(&ext, "a.example", 9);
	n = make_hello(&ext);
	UNIT_CHECK(hello_parse(wire, n, &h) == HELLO_OK);
	/* Offsets in wire: 5 record + 4 handshake + 2 version + 32 random = 43: session_id. */
	wire[43] = 33;
	UNIT_CHECK(hello_parse(wire, n, &h) == HELLO_MALFORMED);
	UNIT_CHECK(hello_parse(wire, 44, &h) == HELLO_MALFORMED);
	wire[43] = 32;
	/* 44 + 32 = 76: cipher_suites length (6). Odd, zero, or past the message. */
	wire[77] = 5;
	UNIT_CHECK(hello_parse(wire, n, &h) == HELLO_MALFORMED);
	wire[77] = 0;
	UNIT_CHECK(hello_parse(wire, n, &h) == HELLO_MALFORMED);
	wire[76] = 0xff;
	wire[77] = 0xfe;
	UNIT_CHECK(hello_parse(wire, n, &h) == HELLO_MALFORMED);
	wire[76] = 0;
	wire[77] = 6;
	/* 78 + 6 = 84: compression methods length (1). */
	wire[84] = 0;
	UNIT_CHECK(hello_parse(wire, n, &h) == HELLO_MALFORMED);
	wire[84] = 1;
	UNIT_CHECK(hello_parse(wire, n, &h) == HELLO_OK);
	/* 86: extensions length: one short, one long. */
	wire[87]--;
	UNIT_CHECK(hello_parse(wire, n, &h) == HELLO_MALFORMED);
	wire[87] += 2;
	UNIT_CHECK(hello_parse(wire, n, &h) == HELLO_MALFORMED);
	wire[87]--;
	/* An extension whose length runs past the block. */
	wire[91]++;
	UNIT_CHECK(hello_parse(wire, n, &h) == HELLO_MALFORMED);
	wire[91]--;
	UNIT_CHECK(hello_parse(wire, n, &h) == HELLO_OK);

	/* cipher_suites and compression_methods of bad sizes in an otherwise consistent hello. */
	ext.n = 0;
	ext_sni(&ext, "a.example", 9);
	UNIT_CHECK(hello_parse(wire, make_hello_with("\x13\x01\x13", 3, "\x00", 1, &ext), &h) ==
	    HELLO_MALFORMED);
	UNIT_CHECK(hello_parse(wire, make_hello_with("\x13", 1, "\x00", 1, &ext), &h) ==
	    HELLO_MALFORMED);
	UNIT_CHECK(hello_parse(wire, make_hello_with("", 0, "\x00", 1, &ext), &h) ==
	    HELLO_MALFORMED);
	UNIT_CHECK(hello_parse(wire, make_hello_with("\x13\x01", 2, "", 0, &ext), &h) ==
	    HELLO_MALFORMED);
	UNIT_CHECK(hello_parse(wire, make_hello_with("\x13\x01", 2, "\x01\x00", 2, &ext), &h) ==
	    HELLO_OK);
	UNIT_CHECK_STR(h.sni, "a.example");

	/* A lone byte where the extensions length should be. */
	n = make_hello(NULL);
	msg.b[3]++;
	msg.b[msg.n++] = 0;
	n = fragment(msg.b, msg.n, 16384, 1, 0x0301, wire);
	UNIT_CHECK(hello_parse(wire, n, &h) == HELLO_MALFORMED);
	/* Trailing bytes after the extensions, inside the handshake message. */
	ext.n = 0;
	ext_sni(&ext, "a.example", 9);
	make_hello(&ext);
	msg.b[3] += 2;
	msg.b[msg.n++] = 0;
	msg.b[msg.n++] = 0;
	n = fragment(msg.b, msg.n, 16384, 1, 0x0301, wire);
	UNIT_CHECK(hello_parse(wire, n, &h) == HELLO_MALFORMED);
	/* A handshake length shorter than its fields. */
	make_hello(&ext);
	msg.b[3] -= 1;
	n = fragment(msg.b, msg.n - 1, 16384, 1, 0x0301, wire);
	UNIT_CHECK(hello_parse(wire, n, &h) == HELLO_MALFORMED);
}

static void
test_duplicate_extensions(void)
{
	struct hello_info h;

	ext.n = 0;
	ext_sni(&ext, "a.example", 9);
	ext_sni(&ext, "b.example", 9);
	UNIT_CHECK(parse_exts(&h) == HELLO_MALFORMED);
	ext.n = 0;
	ext_raw(&ext, 0xff01, "\x00", 1);
	ext_sni(&ext, "a.example", 9);
	ext_raw(&ext, 0xff01, "\x00", 1);
	UNIT_CHECK(parse_exts(&h) == HELLO_MALFORMED);
	ext.n = 0;
	ext_alpn(&ext, "h2\0");
	ext_alpn(&ext, "h2\0");
	UNIT_CHECK(parse_exts(&h) == HELLO_MALFORMED);
	ext.n = 0;
	ext_raw(&ext, 0xffff, "", 0);
	ext_raw(&ext, 0xffff, "", 0);
	UNIT_CHECK(parse_exts(&h) == HELLO_MALFORMED);
	/* Distinct GREASE types, as BoringSSL sends them, are fine. */
	ext.n = 0;
	ext_raw(&ext, 0x0a0a, "", 0);
	ext_sni(&ext, "a.example", 9);
	ext_raw(&ext, 0xfafa, "\x00", 1);
	ext_raw(&ext, 0xffff, "", 0);
	UNIT_CHECK(parse_exts(&h) == HELLO_OK);
	UNIT_CHECK_STR(h.sni, "a.example");
}

static void
test_sni(void)
{
	char name[300];
	struct hello_info h;
	size_t e, l;

	memset(name, 'a', sizeof(name));
	ext.n = 0;
	ext_sni(&ext, name, 255);
	UNIT_CHECK(parse_exts(&h) == HELLO_OK);
	UNIT_CHECK(h.sni_present && h.sni_len == 255 && strlen(h.sni) == 255);
	ext.n = 0;
	ext_sni(&ext, name, 256);
	UNIT_CHECK(parse_exts(&h) == HELLO_MALFORMED);
	UNIT_CHECK(!h.sni_present);
	ext.n = 0;
	ext_sni(&ext, name, 0);
	UNIT_CHECK(parse_exts(&h) == HELLO_MALFORMED);
	ext.n = 0;
	ext_sni(&ext, "evil.example\0.good.example", 26);
	UNIT_CHECK(parse_exts(&h) == HELLO_MALFORMED);
	ext.n = 0;
	ext_sni(&ext, "\0", 1);
	UNIT_CHECK(parse_exts(&h) == HELLO_MALFORMED);

	/* Raw bytes are kept as sent: no case folding, no syntax check, trailing dot kept. */
	ext.n = 0;
	ext_sni(&ext, "\xff\x80" "Ab_c.", 7);
	UNIT_CHECK(parse_exts(&h) == HELLO_OK);
	UNIT_CHECK_STR(h.sni, "\xff\x80" "Ab_c.");
	UNIT_CHECK(h.sni_len == 7);

	/* An empty extension, an empty list, a list length that is off. */
	ext.n = 0;
	ext_raw(&ext, 0, "", 0);
	UNIT_CHECK(parse_exts(&h) == HELLO_MALFORMED);
	ext.n = 0;
	ext_raw(&ext, 0, "\x00\x00", 2);
	UNIT_CHECK(parse_exts(&h) == HELLO_MALFORMED);
	ext.n = 0;
	ext_raw(&ext, 0, "\x00\x05\x00\x00\x01x", 6);
	UNIT_CHECK(parse_exts(&h) == HELLO_MALFORMED);
	ext.n = 0;
	ext_raw(&ext, 0, "\x00\x03\x00\x00\x01x", 6);
	UNIT_CHECK(parse_exts(&h) == HELLO_MALFORMED);
	ext.n = 0;
	ext_raw(&ext, 0, "\x00\x04\x00\x00\x02x", 6);
	UNIT_CHECK(parse_exts(&h) == HELLO_MALFORMED);
	ext.n = 0;
	ext_raw(&ext, 0, "\x00\x04\x00\x00\x01xy", 7);
	UNIT_CHECK(parse_exts(&h) == HELLO_MALFORMED);

	/* Two host_names: refused, so that nobody can route on one and serve the other. */
	ext.n = 0;
	ext_raw(&ext, 0, "\x00\x08\x00\x00\x01x\x00\x00\x01y", 10);
	UNIT_CHECK(parse_exts(&h) == HELLO_MALFORMED);
	/* Another name type before the host_name is skipped; alone it means no SNI. */
	ext.n = 0;
	ext_raw(&ext, 0, "\x00\x0a\x07\x00\x03" "abc\x00\x00\x01y", 12);
	UNIT_CHECK(parse_exts(&h) == HELLO_OK);
	UNIT_CHECK(h.sni_present);
	UNIT_CHECK_STR(h.sni, "y");
	ext.n = 0;
	ext_raw(&ext, 0, "\x00\x06\x07\x00\x03" "abc", 8);
	UNIT_CHECK(parse_exts(&h) == HELLO_OK);
	UNIT_CHECK(!h.sni_present && h.sni_len == 0);

	/* The SNI split over many records and read in pieces. */
	ext.n = 0;
	put16(&ext, 0);
	e = open16(&ext);
	l = open16(&ext);
	put8(&ext, 0);
	put16(&ext, 5);
	putmem(&ext, "x.dev", 5);
	close16(&ext, l);
	close16(&ext, e);
	make_hello(&ext);
	l = fragment(msg.b, msg.n, 2, 3, 0x0303, wire);
	UNIT_CHECK(check_prefixes(wire, l) == HELLO_OK);
	UNIT_CHECK(hello_parse(wire, l, &h) == HELLO_OK);
	UNIT_CHECK_STR(h.sni, "x.dev");
	UNIT_CHECK(h.record_version == 0x0303);
}

static void
test_alpn(void)
{
	char names[2048], name64[65];
	struct hello_info h;
	size_t o, i;

	/* 16 names fit; a 17th is counted and dropped. */
	for (o = 0, i = 0; i < 17; i++)
		o += (size_t)sprintf(names + o, "n%zu", i) + 1;
	names[o] = '\0';
	ext.n = 0;
	ext_alpn(&ext, names);
	UNIT_CHECK(parse_exts(&h) == HELLO_OK);
	UNIT_CHECK(h.alpn_present && h.alpn_count == 16 && h.alpn_total == 17);
	UNIT_CHECK(h.alpn_truncated);
	UNIT_CHECK_STR(h.alpn[15], "n15");
	UNIT_CHECK(hello_alpn_offers(&h, "n15") && !hello_alpn_offers(&h, "n16"));
	names[o - 4] = '\0';	/* drop "n16" */
	ext.n = 0;
	ext_alpn(&ext, names);
	UNIT_CHECK(parse_exts(&h) == HELLO_OK);
	UNIT_CHECK(h.alpn_count == 16 && h.alpn_total == 16 && !h.alpn_truncated);

	/* 63 bytes are kept whole, 64 are cut and never match. */
	memset(name64, 'z', 64);
	name64[63] = '\0';
	memcpy(names, name64, 64);
	memcpy(names + 64, "h2\0", 4);
	ext.n = 0;
	ext_alpn(&ext, names);
	UNIT_CHECK(parse_exts(&h) == HELLO_OK);
	UNIT_CHECK(!h.alpn_truncated && hello_alpn_offers(&h, name64));
	name64[63] = 'z';
	name64[64] = '\0';
	memcpy(names, name64, 65);
	memcpy(names + 65, "h2\0", 4);
	ext.n = 0;
	ext_alpn(&ext, names);
	UNIT_CHECK(parse_exts(&h) == HELLO_OK);
	UNIT_CHECK(h.alpn_truncated && h.alpn_count == 2 && h.alpn_len[0] == 64);
	UNIT_CHECK(strlen(h.alpn[0]) == 63);
	UNIT_CHECK(!hello_alpn_offers(&h, name64));
	name64[63] = '\0';
	UNIT_CHECK(!hello_alpn_offers(&h, name64));
	UNIT_CHECK(hello_alpn_offers(&h, "h2"));

	/* A NUL inside a name does not make it match its prefix. */
	ext.n = 0;
	ext_raw(&ext, 16, "\x00\x04\x03h2\x00", 6);
	UNIT_CHECK(parse_exts(&h) == HELLO_OK);
	UNIT_CHECK(!hello_alpn_offers(&h, "h2"));

	/* Format violations. */
	ext.n = 0;
	ext_raw(&ext, 16, "\x00\x03\x02h2", 5);
	UNIT_CHECK(parse_exts(&h) == HELLO_OK);
	ext.n = 0;
	ext_raw(&ext, 16, "\x00\x04\x00\x02h2", 6);
	UNIT_CHECK(parse_exts(&h) == HELLO_MALFORMED);
	ext.n = 0;
	ext_raw(&ext, 16, "\x00\x03\x03h2", 5);
	UNIT_CHECK(parse_exts(&h) == HELLO_MALFORMED);
	ext.n = 0;
	ext_raw(&ext, 16, "\x00\x04\x02h2", 5);
	UNIT_CHECK(parse_exts(&h) == HELLO_MALFORMED);
	ext.n = 0;
	ext_raw(&ext, 16, "\x00\x02\x02h2", 5);
	UNIT_CHECK(parse_exts(&h) == HELLO_MALFORMED);
	ext.n = 0;
	ext_raw(&ext, 16, "\x00\x00", 2);
	UNIT_CHECK(parse_exts(&h) == HELLO_MALFORMED);
	ext.n = 0;
	ext_raw(&ext, 16, "", 0);
	UNIT_CHECK(parse_exts(&h) == HELLO_MALFORMED);
	ext.n = 0;
	ext_raw(&ext, 16, "\x00\x01\x00", 3);
	UNIT_CHECK(parse_exts(&h) == HELLO_MALFORMED);
}

static void
test_supported_versions(void)
{
	static const unsigned grease_first[] = { 0x3a3a, 0x0304, 0x0303 };
	static const unsigned grease_only[] = { 0xdada };
	static const unsigned low_first[] = { 0x0301, 0x0303, 0x0302 };
	static const unsigned tls12[] = { 0x0303 };
	struct hello_info h;

	ext.n = 0;
	ext_versions(&ext, grease_first, 3);
	UNIT_CHECK(parse_exts(&h) == HELLO_OK);
	UNIT_CHECK(h.max_version == 0x0304 && h.legacy_version == 0x0303);
	ext.n = 0;
	ext_versions(&ext, grease_only, 1);
	UNIT_CHECK(parse_exts(&h) == HELLO_OK);
	UNIT_CHECK(h.max_version == 0x0303);
	ext.n = 0;
	ext_versions(&ext, low_first, 3);
	UNIT_CHECK(parse_exts(&h) == HELLO_OK);
	UNIT_CHECK(h.max_version == 0x0303);
	ext.n = 0;
	ext_versions(&ext, tls12, 1);
	UNIT_CHECK(parse_exts(&h) == HELLO_OK);
	UNIT_CHECK(h.max_version == 0x0303);

	ext.n = 0;
	ext_raw(&ext, 43, "\x00", 1);
	UNIT_CHECK(parse_exts(&h) == HELLO_MALFORMED);
	ext.n = 0;
	ext_raw(&ext, 43, "", 0);
	UNIT_CHECK(parse_exts(&h) == HELLO_MALFORMED);
	ext.n = 0;
	ext_raw(&ext, 43, "\x03\x03\x04\x03", 4);
	UNIT_CHECK(parse_exts(&h) == HELLO_MALFORMED);
	ext.n = 0;
	ext_raw(&ext, 43, "\x04\x03\x04", 3);
	UNIT_CHECK(parse_exts(&h) == HELLO_MALFORMED);
	ext.n = 0;
	ext_raw(&ext, 43, "\x02\x03\x04\x03\x03", 5);
	UNIT_CHECK(parse_exts(&h) == HELLO_MALFORMED);
}

int
main(void)
{
	UNIT_RUN(test_real_hellos);
	UNIT_RUN(test_real_alpn_offers);
	UNIT_RUN(test_real_prefixes_need_more);
	UNIT_RUN(test_real_refragmented);
	UNIT_RUN(test_real_corruptions);
	UNIT_RUN(test_real_trailing_early_data);
	UNIT_RUN(test_not_tls);
	UNIT_RUN(test_record_layer);
	UNIT_RUN(test_handshake_size_bound);
	UNIT_RUN(test_no_extensions);
	UNIT_RUN(test_body_bounds);
	UNIT_RUN(test_duplicate_extensions);
	UNIT_RUN(test_sni);
	UNIT_RUN(test_alpn);
	UNIT_RUN(test_supported_versions);
	return unit_summary();
}
