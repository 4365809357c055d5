/* MySQL / MariaDB TLS (client/server protocol, connection phase) for a server without it.
 *
 * Packets are a 3-byte little-endian payload length, a sequence id, and the payload. The
 * server's protocol-10 greeting is held whole; if its capability flags lack CLIENT_SSL, jfe sets
 * it (same length, same sequence id) and relays the greeting. A client that then sends an
 * SSLRequest (the first 32 bytes of a HandshakeResponse41, CLIENT_SSL set, sequence id 1) gets
 * TLS from jfe: the SSLRequest is not forwarded, and since the client starts its handshake at
 * once without waiting for an answer, the bytes after it are already TLS.
 *
 * The server never sees the SSLRequest, so from the HandshakeResponse on its sequence ids are
 * one lower than the client's: jfe rewrites them (client to server -1, server to client +1) and
 * clears CLIENT_SSL in the HandshakeResponse (a server without TLS must not believe it is on),
 * until the server's final OK (0x00) or ERR (0xff) of the authentication exchange. The command
 * phase restarts sequence ids at 0, so from there on everything passes untouched. Packets are
 * streamed, never held: only headers wait in the machine.
 *
 * Caveat for the operator: the server sees an unencrypted TCP connection. Methods that take a
 * clear password only over a secure transport (caching_sha2_password's full authentication,
 * sha256_password) will want it RSA-encrypted, while the client, believing it is on TLS, sends
 * it in clear: expect those logins to fail (not tested here: no MySQL 8 server on the dev
 * machine). Cached caching_sha2 logins, mysql_native_password and MariaDB's ed25519 (with its
 * authentication switch) work: checked by hand with MariaDB 10.11 and its client. */
#include "proxy/starttls/common.h"

#include <string.h>

enum { MY_GREETING, MY_RESPONSE, MY_SSL_SKIP, MY_TLS_RESPONSE, MY_AUTH };

#define MY_HEADER_LEN		4
#define MY_PROTOCOL_10		0x0a
#define MY_CAP1_PROTOCOL_41	0x02	/* CLIENT_PROTOCOL_41 (0x0200), in the second flags byte */
#define MY_CAP1_SSL		0x08	/* CLIENT_SSL (0x0800), in the second flags byte */
#define MY_SSL_REQUEST_LEN	32
#define MY_RESPONSE_MIN		33	/* the SSLRequest part plus an empty user name's NUL */
#define MY_GREETING_MIN		34	/* a 1-byte version and no data after the reserved bytes */
#define MY_GREETING_MAX		1024	/* real greetings are about 80 to 130 bytes */
#define MY_VERSION_MAX		64
#define MY_OK			0x00
#define MY_ERR			0xff

static uint32_t
my_len(const uint8_t *h)
{
	return (uint32_t)h[0] | (uint32_t)h[1] << 8 | (uint32_t)h[2] << 16;
}

/* Parses a HandshakeV10 at the start of buf[0..len): 1 with the offset of the lower capability
 * flags in *cap_at and the packet's size in *total; 0 if buf cannot start one; -1 while the
 * bytes so far are a valid prefix. Each field is checked as soon as it is in, so that other
 * binary greetings are refused early; past the fields checked, the packet only has to be
 * complete. */
static int
my_greeting(const uint8_t *buf, size_t len, size_t *cap_at, size_t *total)
{
	size_t plen, end, i, fixed, reserved;

	if (len < 2)
		return -1;
	if (buf[1] > (MY_GREETING_MAX >> 8))
		return 0;
	if (len < 3)
		return -1;
	if (buf[2] != 0)
		return 0;
	plen = my_len(buf);
	if (plen < MY_GREETING_MIN || plen > MY_GREETING_MAX)
		return 0;
	end = MY_HEADER_LEN + plen;
	if (len < 4)
		return -1;
	if (buf[3] != 0)
		return 0;
	if (len < 5)
		return -1;
	if (buf[4] != MY_PROTOCOL_10)
		return 0;
	/* The server version: "8.0.36", "5.5.5-10.11.6-MariaDB"... printable, digit first. */
	for (i = 5;; i++) {
		if (i >= end || i - 5 > MY_VERSION_MAX)
			return 0;
		if (i >= len)
			return -1;
		if (buf[i] == '\0')
			break;
		if (buf[i] < 0x20 || buf[i] > 0x7e || (i == 5 && !st_is_digit(buf[i])))
			return 0;
	}
	if (i == 5)
		return 0;
	/* NUL, connection id (4), scramble part 1 (8), then the 0 filler. */
	fixed = i + 1 + 4 + 8;
	/* filler, capabilities (2), charset, status (2), capabilities (2), auth data length,
	 * reserved (10: MySQL zeros; MariaDB 6 zeros and its own capabilities) */
	reserved = fixed + 1 + 2 + 1 + 2 + 2 + 1;
	if (reserved + 10 > end)
		return 0;
	if (len <= fixed)
		return -1;
	if (buf[fixed] != 0)
		return 0;
	if (len < fixed + 3)
		return -1;
	if (!(buf[fixed + 2] & MY_CAP1_PROTOCOL_41))
		return 0;
	for (i = reserved; i < reserved + 6; i++) {
		if (i >= len)
			return -1;
		if (buf[i] != 0)
			return 0;
	}
	if (len < end)
		return -1;
	*cap_at = fixed + 1;
	*total = end;
	return 1;
}

int
st_mysql_detect(const uint8_t *buf, size_t len)
{
	size_t cap_at, total;

	return my_greeting(buf, len, &cap_at, &total);
}

void
st_mysql_init(struct starttls *s)
{
	s->u.mysql.state = MY_GREETING;
}

/* Holds the greeting whole, then relays it with CLIENT_SSL set, or passes through if it has it. */
static enum st_verdict
my_server_greeting(struct starttls *s, const uint8_t *in, size_t n, struct st_out *out)
{
	struct st_buf *b = &s->srv;
	size_t off = 0, used, want, cap_at = 0, total = 0;
	int r;

	while ((r = my_greeting(b->data, b->len, &cap_at, &total)) == -1 && off < n) {
		want = b->len < MY_HEADER_LEN ? MY_HEADER_LEN : MY_HEADER_LEN + my_len(b->data);
		/* my_greeting() decides every packet it has whole; never spin on one. */
		if (want <= b->len) {
			r = 0;
			break;
		}
		st_take_exact(b, want, in + off, n - off, &used);
		off += used;
	}
	if (r == -1)
		return ST_CONTINUE;
	if (r == 0)
		return st_malformed(s, ST_FROM_SERVER, in + off, n - off, out, "not a v10 greeting");
	if (b->data[cap_at + 1] & MY_CAP1_SSL) {
		st_log(s, "the service offers TLS itself", NULL, 0);
		return st_passthrough(s, ST_FROM_SERVER, in + off, n - off, out);
	}
	b->data[cap_at + 1] |= MY_CAP1_SSL;
	s->rewritten = 1;
	s->u.mysql.state = MY_RESPONSE;
	/* Nothing else is expected before the client answers; relay whatever it is. */
	if (st_emit_buf(out, ST_FROM_SERVER, b) == -1 ||
	    st_to_client(out, in + off, n - off) == -1)
		return st_fail(s, "output full");
	return ST_CONTINUE;
}

/* Server packets inside TLS: sequence id + 1, until the final OK or ERR has been relayed. */
static enum st_verdict
my_server_packets(struct starttls *s, const uint8_t *in, size_t n, struct st_out *out)
{
	struct st_mysql *m = &s->u.mysql;
	struct st_buf *b = &s->srv;
	size_t off = 0, used, take;
	uint32_t plen;

	while (off < n) {
		if (m->srv_left == 0) {
			if (!st_take_exact(b, MY_HEADER_LEN, in + off, n - off, &used)) {
				off += used;
				break;
			}
			off += used;
			if ((plen = my_len(b->data)) > ST_MAX_PACKET)
				return st_fail(s, "server packet too large");
			b->data[3]++;
			if (st_emit_buf(out, ST_FROM_SERVER, b) == -1)
				return st_fail(s, "output full");
			m->srv_left = plen;
			m->srv_first = plen > 0;
			m->srv_final = 0;
			continue;
		}
		take = n - off < m->srv_left ? n - off : m->srv_left;
		if (m->srv_first) {
			m->srv_final = in[off] == MY_OK || in[off] == MY_ERR;
			m->srv_first = 0;
		}
		if (st_to_client(out, in + off, take) == -1)
			return st_fail(s, "output full");
		off += take;
		m->srv_left -= (uint32_t)take;
		if (m->srv_left == 0 && m->srv_final)
			return st_passthrough(s, ST_FROM_SERVER, in + off, n - off, out);
	}
	return ST_CONTINUE;
}

static enum st_verdict
my_from_server(struct starttls *s, const uint8_t *in, size_t n, struct st_out *out)
{
	switch (s->u.mysql.state) {
	case MY_GREETING:
		return my_server_greeting(s, in, n, out);
	case MY_RESPONSE:
	case MY_SSL_SKIP:
		/* Plaintext and before TLS: nothing to rewrite (an ERR on a timeout, say). */
		if (st_to_client(out, in, n) == -1)
			return st_fail(s, "output full");
		return ST_CONTINUE;
	}
	return my_server_packets(s, in, n, out);
}

/* The client's first packet, its header and capability flags held in s->cli: an SSLRequest is
 * taken by jfe, anything without CLIENT_SSL goes on in plaintext. */
static enum st_verdict
my_client_first(struct starttls *s, const uint8_t *rest, size_t n, struct st_out *out)
{
	const uint8_t *h = s->cli.data;
	uint32_t plen = my_len(h);

	if (!(h[MY_HEADER_LEN + 1] & MY_CAP1_SSL))
		return st_passthrough(s, ST_FROM_CLIENT, rest, n, out);
	if (plen != MY_SSL_REQUEST_LEN || !(h[MY_HEADER_LEN + 1] & MY_CAP1_PROTOCOL_41))
		return st_malformed(s, ST_FROM_CLIENT, rest, n, out, "CLIENT_SSL outside an SSLRequest");
	st_buf_reset(&s->cli);
	s->u.mysql.cli_left = MY_SSL_REQUEST_LEN - 4;
	s->u.mysql.state = MY_SSL_SKIP;
	return ST_CONTINUE;
}

/* Relays one chunk of a client payload; in the HandshakeResponse, CLIENT_SSL is cleared. */
static int
my_client_chunk(struct starttls *s, const uint8_t *p, size_t take, struct st_out *out)
{
	struct st_mysql *m = &s->u.mysql;
	size_t at;
	uint8_t flags;

	if (!m->cli_first || m->cli_off > 1 || m->cli_off + take <= 1)
		return st_to_server(out, p, take);
	at = 1 - m->cli_off;
	flags = p[at];
	if (!(flags & MY_CAP1_PROTOCOL_41))
		return -2;
	flags &= (uint8_t)~MY_CAP1_SSL;
	return st_to_server(out, p, at) == -1 || st_to_server(out, &flags, 1) == -1 ||
	    st_to_server(out, p + at + 1, take - at - 1) == -1 ? -1 : 0;
}

/* Client packets inside TLS: the HandshakeResponse (sequence id 2) and the authentication
 * packets after it, all sequence id - 1. */
static enum st_verdict
my_client_packets(struct starttls *s, const uint8_t *in, size_t n, struct st_out *out)
{
	struct st_mysql *m = &s->u.mysql;
	struct st_buf *b = &s->cli;
	size_t off = 0, used, take;
	uint32_t plen;
	int r;

	while (off < n) {
		if (m->cli_left == 0) {
			if (!st_take_exact(b, MY_HEADER_LEN, in + off, n - off, &used)) {
				off += used;
				break;
			}
			off += used;
			if ((plen = my_len(b->data)) > ST_MAX_PACKET)
				return st_fail(s, "client packet too large");
			m->cli_first = m->state == MY_TLS_RESPONSE;
			if (m->cli_first && (b->data[3] != 2 || plen < MY_RESPONSE_MIN))
				return st_fail(s, "not a HandshakeResponse after the SSLRequest");
			m->state = MY_AUTH;
			b->data[3]--;
			if (st_emit_buf(out, ST_FROM_CLIENT, b) == -1)
				return st_fail(s, "output full");
			m->cli_left = plen;
			m->cli_off = 0;
			continue;
		}
		take = n - off < m->cli_left ? n - off : m->cli_left;
		if ((r = my_client_chunk(s, in + off, take, out)) != 0)
			return st_fail(s, r == -2 ? "HandshakeResponse without CLIENT_PROTOCOL_41" :
			    "output full");
		off += take;
		m->cli_left -= (uint32_t)take;
		m->cli_off += (uint32_t)take;
	}
	return ST_CONTINUE;
}

static enum st_verdict
my_from_client(struct starttls *s, const uint8_t *in, size_t n, struct st_out *out)
{
	struct st_mysql *m = &s->u.mysql;
	size_t off = 0, used, take;
	enum st_verdict v;

	while (off < n) {
		switch (m->state) {
		case MY_GREETING:
			return st_malformed(s, ST_FROM_CLIENT, in + off, n - off, out,
			    "client spoke before the greeting");
		case MY_RESPONSE:
			/* The header first, so that a packet too short to hold flags is refused
			 * rather than waited for. */
			if (!st_take_exact(&s->cli, s->cli.len < MY_HEADER_LEN ? MY_HEADER_LEN :
			    MY_HEADER_LEN + 4, in + off, n - off, &used)) {
				off += used;
				break;
			}
			off += used;
			if (s->cli.len == MY_HEADER_LEN) {
				if (s->cli.data[3] != 1 || my_len(s->cli.data) < 4)
					return st_malformed(s, ST_FROM_CLIENT, in + off, n - off,
					    out, "unexpected first client packet");
				break;
			}
			if ((v = my_client_first(s, in + off, n - off, out)) != ST_CONTINUE)
				return v;
			break;
		case MY_SSL_SKIP:
			take = n - off < m->cli_left ? n - off : m->cli_left;
			off += take;
			m->cli_left -= (uint32_t)take;
			if (m->cli_left == 0) {
				m->state = MY_TLS_RESPONSE;
				out->tls_early = n - off;
				out->client_rest_is_tls = 1;
				return ST_START_TLS;
			}
			break;
		default:
			return my_client_packets(s, in + off, n - off, out);
		}
	}
	return ST_CONTINUE;
}

enum st_verdict
st_mysql_feed(struct starttls *s, enum st_dir dir, const uint8_t *in, size_t n,
    struct st_out *out)
{
	return dir == ST_FROM_SERVER ? my_from_server(s, in, n, out) :
	    my_from_client(s, in, n, out);
}
