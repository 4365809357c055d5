#include "agent/b64.h"

#include <stdint.h>
#include <stdlib.h>

#include "agent/log.h"

static const char b64url_chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Value of <c> in the base64url (std == 0) or standard (std == 1) alphabet, or -1. Written
 * out rather than as a table so that the two alphabets cannot drift apart. */
static int
sym_value(unsigned char c, int std)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == (std ? '+' : '-'))
		return 62;
	if (c == (std ? '/' : '_'))
		return 63;
	return -1;
}

size_t
b64url_encode(const void *in, size_t len, char *out)
{
	const uint8_t *p = in;
	size_t i, o = 0;

	for (i = 0; i + 3 <= len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];

		out[o++] = b64url_chars[v >> 18 & 63];
		out[o++] = b64url_chars[v >> 12 & 63];
		out[o++] = b64url_chars[v >> 6 & 63];
		out[o++] = b64url_chars[v & 63];
	}
	if (len - i == 1) {
		uint32_t v = (uint32_t)p[i] << 16;

		out[o++] = b64url_chars[v >> 18 & 63];
		out[o++] = b64url_chars[v >> 12 & 63];
	} else if (len - i == 2) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;

		out[o++] = b64url_chars[v >> 18 & 63];
		out[o++] = b64url_chars[v >> 12 & 63];
		out[o++] = b64url_chars[v >> 6 & 63];
	}
	out[o] = '\0';
	return o;
}

char *
b64url_encode_alloc(const void *in, size_t len)
{
	char *out;

	/* B64URL_LEN(len) + 1 must not wrap. */
	if (len > (SIZE_MAX - 4) / 4 * 3) {
		log_err("b64url_encode: %zu bytes is too large", len);
		return NULL;
	}
	if ((out = malloc(B64URL_LEN(len) + 1)) == NULL) {
		log_err("b64url_encode: out of memory");
		return NULL;
	}
	b64url_encode(in, len, out);
	return out;
}

/* The one decoder behind both alphabets. <std> selects the standard alphabet, '=' padding
 * (required) and skipping of whitespace; otherwise padding and whitespace are errors. */
static int
decode(const char *in, size_t len, int std, uint8_t *out, size_t outsz, size_t *outlen)
{
	uint32_t acc = 0;
	size_t i, nsym = 0, npad = 0, o = 0, rem;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];
		int v;

		if (std && (c == ' ' || c == '\t' || c == '\r' || c == '\n'))
			continue;
		if (std && c == '=') {
			npad++;
			continue;
		}
		/* Symbols after padding would decode to bytes the padding said were absent. */
		if (npad != 0 || (v = sym_value(c, std)) < 0)
			return -1;
		acc = acc << 6 | (uint32_t)v;
		if (++nsym % 4 == 0) {
			if (outsz - o < 3)
				return -1;
			out[o++] = (uint8_t)(acc >> 16);
			out[o++] = (uint8_t)(acc >> 8);
			out[o++] = (uint8_t)acc;
			acc = 0;
		}
	}
	rem = nsym % 4;
	/* One symbol carries 6 bits: less than a byte, so no encoder produces it. */
	if (rem == 1)
		return -1;
	if (std && npad != (rem == 0 ? 0 : 4 - rem))
		return -1;
	/* The bits beyond the last whole byte must be zero, else two texts decode to the same
	 * bytes (RFC 4648 §3.5) and a value would not survive a round trip unchanged. */
	if (rem == 2) {
		if ((acc & 0xf) != 0 || outsz - o < 1)
			return -1;
		out[o++] = (uint8_t)(acc >> 4);
	} else if (rem == 3) {
		if ((acc & 0x3) != 0 || outsz - o < 2)
			return -1;
		out[o++] = (uint8_t)(acc >> 10);
		out[o++] = (uint8_t)(acc >> 2);
	}
	*outlen = o;
	return 0;
}

int
b64url_decode(const char *in, size_t len, uint8_t *out, size_t outsz, size_t *outlen)
{
	return decode(in, len, 0, out, outsz, outlen);
}

int
b64url_decode_alloc(const char *in, size_t len, uint8_t **out, size_t *outlen)
{
	size_t max = B64_DECODED_MAX(len);
	uint8_t *buf;

	*out = NULL;
	if ((buf = malloc(max + 1)) == NULL) {
		log_err("b64url_decode: out of memory");
		return -1;
	}
	if (decode(in, len, 0, buf, max, outlen) == -1) {
		free(buf);
		return -1;
	}
	buf[*outlen] = '\0';
	*out = buf;
	return 0;
}

int
b64url_alphabet_ok(const char *in, size_t len)
{
	size_t i;

	if (len == 0)
		return 0;
	for (i = 0; i < len; i++)
		if (sym_value((unsigned char)in[i], 0) < 0)
			return 0;
	return 1;
}

int
b64_decode(const char *in, size_t len, uint8_t *out, size_t outsz, size_t *outlen)
{
	return decode(in, len, 1, out, outsz, outlen);
}
