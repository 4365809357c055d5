/* TLS ClientHello parser (RFC 8446 §4.1.2, §5.1; RFC 6066 §3; RFC 7301 §3.1).
 *
 * The hello is read as one stream of handshake bytes that a reader pulls out of the records in
 * the buffer, so a hello split over several records needs no reassembly copy. The stream is
 * parsed strictly in order, and every length is checked against its enclosing vector before any
 * byte under it is read: a violation is reported as soon as the field showing it is in, and
 * running out of buffer (NEED_MORE) is told apart from running out of the enclosing vector
 * (MALFORMED). Since every decision depends only on bytes already read, results on growing
 * prefixes of the same input are monotonic, which the caller's re-parse-on-every-read relies on.
 */
#include "proxy/hello.h"

#include <string.h>

#define TLS_CONTENT_HANDSHAKE	22
#define TLS_HANDSHAKE_CLIENT_HELLO 1
#define TLS_RECORD_HEADER_LEN	5
#define TLS_HANDSHAKE_HEADER_LEN 4
#define TLS_RANDOM_LEN		32
#define TLS_SESSION_ID_MAX	32

#define EXT_SERVER_NAME		0
#define EXT_ALPN		16
#define EXT_SUPPORTED_VERSIONS	43
#define SNI_NAME_TYPE_HOST_NAME	0
#define SNI_HOST_NAME_MAX	255

/* Internally HELLO_OK means "so far so good, go on"; any other value stops the parse and is
 * returned to the caller as is. */
#define TRY(expr) do { \
	enum hello_result try_res_ = (expr); \
	if (try_res_ != HELLO_OK) \
		return try_res_; \
} while (0)

struct hs_reader {
	const uint8_t	*buf;
	size_t		 len;
	size_t		 off;		/* next unread byte of buf */
	size_t		 rec_left;	/* payload bytes of the current record not read yet */
	size_t		 pos;		/* handshake-stream bytes read so far */
	struct hello_info *out;
};

/* Reads the record header at r->off. Checks one byte at a time so that a non-TLS first byte is
 * rejected without waiting for the rest of a header that will never come. */
static enum hello_result
reader_next_record(struct hs_reader *r)
{
	size_t avail = r->len - r->off;
	int first = r->off == 0;
	const uint8_t *h;
	size_t rec_len;

	if (avail < 1)
		return HELLO_NEED_MORE;
	h = r->buf + r->off;
	if (h[0] != TLS_CONTENT_HANDSHAKE)
		/* Later records must not interleave other content types (RFC 8446 §5.1). */
		return first ? HELLO_NOT_TLS : HELLO_MALFORMED;
	if (avail < 2)
		return HELLO_NEED_MORE;
	if (h[1] != 3)
		return first ? HELLO_NOT_TLS : HELLO_MALFORMED;
	if (avail < 4)
		return HELLO_NEED_MORE;
	/* A high length byte over 0x40 is over 2^14 whatever the low byte says. */
	if (h[3] > (HELLO_MAX_RECORD >> 8))
		return HELLO_MALFORMED;
	if (avail < TLS_RECORD_HEADER_LEN)
		return HELLO_NEED_MORE;
	rec_len = (size_t)h[3] << 8 | h[4];
	if (rec_len == 0 || rec_len > HELLO_MAX_RECORD)
		return HELLO_MALFORMED;
	if (first)
		r->out->record_version = (uint16_t)(h[1] << 8 | h[2]);
	r->off += TLS_RECORD_HEADER_LEN;
	r->rec_left = rec_len;
	return HELLO_OK;
}

/* Reads <n> handshake bytes into <dst> (or skips them if dst is NULL). <end> is the stream
 * offset where the enclosing vector ends: reading past it is a format violation, whereas
 * reaching the end of the buffer only means the client has not sent the rest yet. */
static enum hello_result
reader_read(struct hs_reader *r, size_t end, uint8_t *dst, size_t n)
{
	size_t chunk;

	if (n > end - r->pos)
		return HELLO_MALFORMED;
	while (n > 0) {
		if (r->rec_left == 0)
			TRY(reader_next_record(r));
		if (r->off == r->len)
			return HELLO_NEED_MORE;
		chunk = n;
		if (chunk > r->rec_left)
			chunk = r->rec_left;
		if (chunk > r->len - r->off)
			chunk = r->len - r->off;
		if (dst != NULL) {
			memcpy(dst, r->buf + r->off, chunk);
			dst += chunk;
		}
		r->off += chunk;
		r->rec_left -= chunk;
		r->pos += chunk;
		n -= chunk;
	}
	return HELLO_OK;
}

static enum hello_result
reader_u8(struct hs_reader *r, size_t end, size_t *v)
{
	uint8_t b[1];

	TRY(reader_read(r, end, b, sizeof(b)));
	*v = b[0];
	return HELLO_OK;
}

static enum hello_result
reader_u16(struct hs_reader *r, size_t end, size_t *v)
{
	uint8_t b[2];

	TRY(reader_read(r, end, b, sizeof(b)));
	*v = (size_t)b[0] << 8 | b[1];
	return HELLO_OK;
}

static enum hello_result
reader_u24(struct hs_reader *r, size_t end, size_t *v)
{
	uint8_t b[3];

	TRY(reader_read(r, end, b, sizeof(b)));
	*v = (size_t)b[0] << 16 | (size_t)b[1] << 8 | b[2];
	return HELLO_OK;
}

/* server_name (RFC 6066 §3). Stores the host_name as raw bytes: judging hostname syntax is the
 * admission code's job, here we only make sure it is a usable C string. */
static enum hello_result
parse_server_name(struct hs_reader *r, size_t ext_end)
{
	struct hello_info *out = r->out;
	size_t list_len, name_type, name_len;

	TRY(reader_u16(r, ext_end, &list_len));
	if (list_len == 0 || list_len != ext_end - r->pos)
		return HELLO_MALFORMED;
	while (r->pos < ext_end) {
		TRY(reader_u8(r, ext_end, &name_type));
		/* Every name type ever defined carries a 16-bit length, so other types can be
		 * skipped; only host_name is meaningful to us. */
		TRY(reader_u16(r, ext_end, &name_len));
		if (name_type != SNI_NAME_TYPE_HOST_NAME) {
			TRY(reader_read(r, ext_end, NULL, name_len));
			continue;
		}
		/* RFC 6066 forbids two names of one type; accepting them would let us route on
		 * one name while the backend's TLS stack picks the other. */
		if (out->sni_present)
			return HELLO_MALFORMED;
		if (name_len == 0 || name_len > SNI_HOST_NAME_MAX)
			return HELLO_MALFORMED;
		TRY(reader_read(r, ext_end, (uint8_t *)out->sni, name_len));
		/* An embedded NUL would make the C string differ from what the client asked for. */
		if (memchr(out->sni, '\0', name_len) != NULL)
			return HELLO_MALFORMED;
		out->sni[name_len] = '\0';
		out->sni_len = name_len;
		out->sni_present = 1;
	}
	return HELLO_OK;
}

/* application_layer_protocol_negotiation (RFC 7301 §3.1). */
static enum hello_result
parse_alpn(struct hs_reader *r, size_t ext_end)
{
	struct hello_info *out = r->out;
	size_t list_len, name_len, keep;

	TRY(reader_u16(r, ext_end, &list_len));
	if (list_len < 2 || list_len != ext_end - r->pos)
		return HELLO_MALFORMED;
	while (r->pos < ext_end) {
		TRY(reader_u8(r, ext_end, &name_len));
		if (name_len == 0)
			return HELLO_MALFORMED;
		out->alpn_total++;
		if (out->alpn_count == HELLO_MAX_ALPN) {
			out->alpn_truncated = 1;
			TRY(reader_read(r, ext_end, NULL, name_len));
			continue;
		}
		keep = name_len;
		if (keep > HELLO_ALPN_NAME_MAX - 1) {
			keep = HELLO_ALPN_NAME_MAX - 1;
			out->alpn_truncated = 1;
		}
		TRY(reader_read(r, ext_end, (uint8_t *)out->alpn[out->alpn_count], keep));
		TRY(reader_read(r, ext_end, NULL, name_len - keep));
		out->alpn[out->alpn_count][keep] = '\0';
		out->alpn_len[out->alpn_count] = (uint8_t)name_len;
		out->alpn_count++;
	}
	out->alpn_present = 1;
	return HELLO_OK;
}

/* GREASE values (RFC 8701) are there to be ignored; match the whole 0x?a?a family so that no
 * future GREASE value can pose as the highest version. */
static int
version_is_grease(size_t v)
{
	return (v & 0x0f0f) == 0x0a0a;
}

/* supported_versions in a ClientHello (RFC 8446 §4.2.1). */
static enum hello_result
parse_supported_versions(struct hs_reader *r, size_t ext_end)
{
	size_t list_len, v, best = 0;

	TRY(reader_u8(r, ext_end, &list_len));
	if (list_len < 2 || list_len % 2 != 0 || list_len != ext_end - r->pos)
		return HELLO_MALFORMED;
	while (r->pos < ext_end) {
		TRY(reader_u16(r, ext_end, &v));
		if (!version_is_grease(v) && v > best)
			best = v;
	}
	/* A list of nothing but GREASE says nothing, so legacy_version stays the answer. */
	if (best != 0)
		r->out->max_version = (uint16_t)best;
	return HELLO_OK;
}

static enum hello_result
parse_extensions(struct hs_reader *r, size_t end)
{
	/* One bit per extension type: catches duplicates (RFC 8446 §4.2) in O(1) each, without
	 * allocating and without a quadratic scan over up to 16383 extensions. */
	uint8_t seen[65536 / 8];
	size_t type, ext_len, ext_end;

	memset(seen, 0, sizeof(seen));
	while (r->pos < end) {
		TRY(reader_u16(r, end, &type));
		TRY(reader_u16(r, end, &ext_len));
		if (ext_len > end - r->pos)
			return HELLO_MALFORMED;
		if (seen[type / 8] & (1u << (type % 8)))
			return HELLO_MALFORMED;
		seen[type / 8] |= (uint8_t)(1u << (type % 8));
		ext_end = r->pos + ext_len;
		switch (type) {
		case EXT_SERVER_NAME:
			TRY(parse_server_name(r, ext_end));
			break;
		case EXT_ALPN:
			TRY(parse_alpn(r, ext_end));
			break;
		case EXT_SUPPORTED_VERSIONS:
			TRY(parse_supported_versions(r, ext_end));
			break;
		default:
			TRY(reader_read(r, ext_end, NULL, ext_len));
			break;
		}
	}
	return HELLO_OK;
}

/* The ClientHello body (RFC 8446 §4.1.2, same layout back to SSL 3.0). <end> is where the
 * handshake message ends. */
static enum hello_result
parse_client_hello(struct hs_reader *r, size_t end)
{
	struct hello_info *out = r->out;
	size_t v, n;

	TRY(reader_u16(r, end, &v));
	out->legacy_version = (uint16_t)v;
	out->max_version = (uint16_t)v;
	TRY(reader_read(r, end, NULL, TLS_RANDOM_LEN));

	TRY(reader_u8(r, end, &n));
	if (n > TLS_SESSION_ID_MAX)
		return HELLO_MALFORMED;
	TRY(reader_read(r, end, NULL, n));

	TRY(reader_u16(r, end, &n));
	if (n < 2 || n % 2 != 0)
		return HELLO_MALFORMED;
	TRY(reader_read(r, end, NULL, n));

	TRY(reader_u8(r, end, &n));
	if (n < 1)
		return HELLO_MALFORMED;
	TRY(reader_read(r, end, NULL, n));

	/* Extensions may be absent altogether only in pre-TLS-1.2-era hellos. */
	if (r->pos == end)
		return HELLO_OK;
	TRY(reader_u16(r, end, &n));
	if (n != end - r->pos)
		return HELLO_MALFORMED;
	return parse_extensions(r, end);
}

/* The whole parse; hello_parse() wraps it so that every exit leaves <out> in a defined state. */
static enum hello_result
parse_hello(const uint8_t *buf, size_t len, struct hello_info *out)
{
	struct hs_reader r;
	size_t type, body_len, end;

	memset(out, 0, sizeof(*out));
	memset(&r, 0, sizeof(r));
	r.buf = buf;
	r.len = buf != NULL ? len : 0;
	r.out = out;

	TRY(reader_u8(&r, TLS_HANDSHAKE_HEADER_LEN, &type));
	if (type != TLS_HANDSHAKE_CLIENT_HELLO)
		return HELLO_MALFORMED;
	TRY(reader_u24(&r, TLS_HANDSHAKE_HEADER_LEN, &body_len));
	if (body_len > HELLO_MAX_HANDSHAKE)
		return HELLO_MALFORMED;
	end = TLS_HANDSHAKE_HEADER_LEN + body_len;
	TRY(parse_client_hello(&r, end));
	/* The client cannot send another handshake message before our ServerHello, so a record
	 * that goes on past the hello is not a TLS client talking. */
	if (r.rec_left != 0)
		return HELLO_MALFORMED;
	out->consumed = r.off;
	return HELLO_OK;
}

enum hello_result
hello_parse(const uint8_t *buf, size_t len, struct hello_info *out)
{
	enum hello_result res;

	res = parse_hello(buf, len, out);
	/* Half-read fields of a rejected or unfinished hello must not be mistaken for data. */
	if (res != HELLO_OK)
		memset(out, 0, sizeof(*out));
	return res;
}

int
hello_alpn_offers(const struct hello_info *h, const char *proto)
{
	size_t len = strlen(proto);
	unsigned i;

	if (!h->alpn_present || len == 0 || len > HELLO_ALPN_NAME_MAX - 1)
		return 0;
	for (i = 0; i < h->alpn_count; i++) {
		/* alpn_len catches names that were cut or that hold a NUL. */
		if (h->alpn_len[i] == len && memcmp(h->alpn[i], proto, len) == 0)
			return 1;
	}
	return 0;
}
