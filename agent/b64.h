/* base64url without padding (RFC 4648 §5, as ACME and JOSE use it: RFC 8555 §6.1, RFC 7515 §2)
 * and standard padded base64 (RFC 4648 §4) for bodies that are not PEM.
 *
 * The decoders are strict: anything that does not re-encode to the same text is refused, so a
 * value the server sent can be compared byte for byte after a round trip. They do not log: a
 * failed decode of untrusted input is the caller's to report (with log_escape()). */
#ifndef JFE_B64_H
#define JFE_B64_H

#include <stddef.h>
#include <stdint.h>

/* Length of the base64url text (no padding, no NUL) for <n> input bytes. */
#define B64URL_LEN(n) (((n) / 3) * 4 + ((n) % 3 ? (n) % 3 + 1 : 0))
/* Upper bound of the bytes decoded from <n> characters of either alphabet. */
#define B64_DECODED_MAX(n) (((n) / 4) * 3 + 2)

/* Writes base64url(<in>, <len>) without padding to <out>, which must hold B64URL_LEN(len) + 1
 * bytes, NUL-terminates it and returns its length. */
size_t b64url_encode(const void *in, size_t len, char *out);

/* Same, in a malloc'd string (free()). NULL (logged) when out of memory. */
char *b64url_encode_alloc(const void *in, size_t len);

/* Decodes the <len> characters at <in> as unpadded base64url into <out> (room for <outsz>
 * bytes) and stores the byte count in <*outlen>. Returns 0, or -1 on padding, a character
 * outside [A-Za-z0-9_-] (whitespace and NUL included), a length of 4k+1, non-zero trailing
 * bits (a non-canonical encoding), or too small an <out>. */
int b64url_decode(const char *in, size_t len, uint8_t *out, size_t outsz, size_t *outlen);

/* Same, into a malloc'd buffer (free(); cleanse first when it holds a secret). The buffer has
 * one extra byte set to NUL so text payloads can be used as strings. -1 as above, or (logged)
 * when out of memory. */
int b64url_decode_alloc(const char *in, size_t len, uint8_t **out, size_t *outlen);

/* 1 when the <len> characters at <in> are all in the base64url alphabet and there is at least
 * one, else 0. For tokens and nonces (RFC 8555 §8.1: 1*base64url), which need not decode. */
int b64url_alphabet_ok(const char *in, size_t len);

/* Decodes standard base64 ([A-Za-z0-9+/], '=' padding to a multiple of 4 required). ASCII
 * space, tab, CR and LF are skipped anywhere, for line-wrapped bodies; anything else outside
 * the alphabet, data after padding, wrong padding, or non-zero trailing bits is -1. */
int b64_decode(const char *in, size_t len, uint8_t *out, size_t outsz, size_t *outlen);

#endif
