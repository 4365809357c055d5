/* TLS ClientHello parser: reads the first bytes a client sent and tells whether they are a TLS
 * ClientHello, and if so its versions, SNI and ALPN offers. Pure: no I/O, no allocation, no
 * globals, no state kept between calls.
 *
 * Feeding bytes: the parser keeps no state, so the caller accumulates everything the client sent
 * since the connection opened and calls hello_parse() again on the whole buffer (always from the
 * first byte) after every read, until the result is not HELLO_NEED_MORE. Results are monotonic:
 * once a prefix gives NOT_TLS or MALFORMED, every longer buffer gives the same; once it gives OK,
 * every longer buffer gives OK with the same info (bytes past <consumed> are never looked at).
 * The caller must cap its buffer: a hello may legally be up to 64 KiB plus record headers, and a
 * client splitting it into tiny records makes the wire form up to six times that. */
#ifndef JFE_HELLO_H
#define JFE_HELLO_H

#include <stddef.h>
#include <stdint.h>

enum hello_result { HELLO_NEED_MORE, HELLO_OK, HELLO_NOT_TLS, HELLO_MALFORMED };

#define HELLO_MAX_ALPN		16
#define HELLO_ALPN_NAME_MAX	64	/* bytes stored per ALPN name, NUL included */
#define HELLO_MAX_RECORD	16384	/* RFC 8446 §5.1: TLSPlaintext.length limit */
#define HELLO_MAX_HANDSHAKE	65536	/* our bound on the ClientHello body */

/* Filled when hello_parse() returns HELLO_OK; all zero after any other result. */
struct hello_info {
	uint16_t record_version;	/* of the first record */
	uint16_t legacy_version;	/* client_version field */
	uint16_t max_version;		/* highest of supported_versions (ignoring GREASE),
					 * else legacy_version */
	int sni_present;		/* server_name extension with a host_name entry */
	char sni[256];			/* NUL-terminated raw bytes, length 1..255, no NUL inside;
					 * not checked for hostname syntax, trailing dot kept */
	size_t sni_len;
	int alpn_present;		/* the ALPN extension was sent (with at least one name) */
	unsigned alpn_count;		/* names stored in alpn[], at most HELLO_MAX_ALPN */
	char alpn[HELLO_MAX_ALPN][HELLO_ALPN_NAME_MAX];	/* NUL-terminated, cut to 63 bytes */
	uint8_t alpn_len[HELLO_MAX_ALPN];	/* the real length of each stored name */
	int alpn_truncated;		/* a name was longer than 63 bytes (stored cut), or more
					 * than HELLO_MAX_ALPN names were offered (rest dropped) */
	unsigned alpn_total;		/* names offered, stored or not */
	size_t consumed;		/* bytes of all records that carried the whole hello */
};

/* Parses a ClientHello from the first <len> bytes a client sent.
 * HELLO_NEED_MORE: a valid prefix, more bytes needed (also for len 0).
 * HELLO_OK: <out> is filled; the hello ended exactly at the end of record <out->consumed>.
 * HELLO_NOT_TLS: the first bytes are not a TLS handshake record (content type 22, major
 * version 3); decided from the first byte that differs (e.g. "GET " after 1 byte).
 * HELLO_MALFORMED: looks like TLS but violates the format or a bound. */
enum hello_result hello_parse(const uint8_t *buf, size_t len, struct hello_info *out);

/* 1 if the hello offered ALPN protocol <proto> (exact byte match), else 0. A name that was cut
 * or dropped (see alpn_truncated) never matches. */
int hello_alpn_offers(const struct hello_info *h, const char *proto);

#endif
