/* Known-answer tests for agent/b64.c and agent/jws.c: RFC 4648 base64 vectors, the RFC 7638
 * thumbprint example, the RFC 7515 A.3 ES256 example, and values computed independently with
 * the openssl command line (noted next to each constant). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

#include "agent/b64.h"
#include "agent/jws.h"
#include "agent/log.h"
#include "tests/unit/unit.h"

/* RFC 7638 §3.1 example RSA key and its thumbprint. */
static const char rfc7638_n[] =
    "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECP"
    "ebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY"
    "368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0f"
    "M4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
static const char rfc7638_e[] = "AQAB";
static const char rfc7638_thumbprint[] = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";

/* RFC 7515 Appendix A.3: the ES256 example key, signing input and signature. */
static const char rfc7515_x[] = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
static const char rfc7515_y[] = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";
static const char rfc7515_d[] = "jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI";
static const char rfc7515_input[] =
    "eyJhbGciOiJFUzI1NiJ9"
    "."
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ";
static const char rfc7515_sig[] =
    "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";

/* The canonical JWK of the RFC 7515 key, and its thumbprint from
 * printf '%s' "$JWK" | openssl dgst -sha256 -binary | openssl base64 -A | tr '+/' '-_' | tr -d = */
static const char rfc7515_jwk[] =
    "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
    "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}";
static const char rfc7515_thumbprint[] = "oKIywvGUpTVTyxMQ3bwIIeQUudfr_CkLMjCE19ECD-U";

/* RFC 8555 §8.3's example token with the RFC 7638 key; the TXT value from
 * printf '%s' "$KA" | openssl dgst -sha256 -binary | base64url as above. */
static const char example_token[] = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA";
static const char example_keyauth[] =
    "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";
static const char example_dns01[] = "ZTRx1Ckl1-tM05o5zaizTTA0yUy5AGereMgSNWC6Ll8";

/* EAB: a fixed key id, MAC key (base64url, as a CA hands it out) and newAccount URL; the
 * expected protected header is what the RFC prescribes, and the signature was computed with
 * printf '%s.%s' "$PROT" "$PAYLOAD" | openssl dgst -sha256 -mac HMAC -macopt hexkey:$KEY -binary
 * over base64url of eab_protected and of rfc7515_jwk. */
static const char eab_kid[] = "kid-1";
static const char eab_key_b64[] = "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W";
static const char eab_url[] = "https://acme.example.test/sign-me-up";
static const char eab_protected[] =
    "{\"alg\":\"HS256\",\"kid\":\"kid-1\",\"url\":\"https://acme.example.test/sign-me-up\"}";
static const char eab_signature[] = "4RwsPuTNaNEjsFNBXt58qjZktbv1Ojsuduu8XmKJFxA";

/* Decodes base64url test constants; aborts the case on bad input. */
static size_t
unb64(const char *s, uint8_t *out, size_t outsz)
{
	size_t n = 0;

	UNIT_CHECK(b64url_decode(s, strlen(s), out, outsz, &n) == 0);
	return n;
}

/* An EC P-256 key from JWK coordinates (and d, when given), built with OSSL_PARAM. */
static EVP_PKEY *
ec_key_from_jwk(const char *x, const char *y, const char *d)
{
	uint8_t pub[65], priv[32];
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *key = NULL;
	BIGNUM *bd = NULL;

	pub[0] = POINT_CONVERSION_UNCOMPRESSED;
	if (unb64(x, pub + 1, 32) != 32 || unb64(y, pub + 33, 32) != 32)
		return NULL;
	if ((bld = OSSL_PARAM_BLD_new()) == NULL ||
	    !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) ||
	    !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof(pub)))
		goto out;
	if (d != NULL) {
		if (unb64(d, priv, sizeof(priv)) != 32 ||
		    (bd = BN_bin2bn(priv, sizeof(priv), NULL)) == NULL ||
		    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, bd))
			goto out;
	}
	if ((params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
	    (ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, &key, d ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, params) <= 0)
		key = NULL;
out:
	OPENSSL_cleanse(priv, sizeof(priv));
	BN_clear_free(bd);
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	return key;
}

/* An RSA public key from JWK n and e. */
static EVP_PKEY *
rsa_key_from_jwk(const char *n, const char *e)
{
	uint8_t nb[512], eb[8];
	size_t nl, el;
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *key = NULL;
	BIGNUM *bn = NULL, *be = NULL;

	nl = unb64(n, nb, sizeof(nb));
	el = unb64(e, eb, sizeof(eb));
	if ((bn = BN_bin2bn(nb, (int)nl, NULL)) == NULL ||
	    (be = BN_bin2bn(eb, (int)el, NULL)) == NULL ||
	    (bld = OSSL_PARAM_BLD_new()) == NULL ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be) ||
	    (params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
	    (ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params) <= 0)
		key = NULL;
	BN_free(bn);
	BN_free(be);
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	return key;
}

/* Verifies a raw r || s signature by a path that shares no code with jws.c: ECDSA_SIG ->
 * DER -> EVP_DigestVerify. Returns 1 when it verifies. */
static int
independent_es256_verify(EVP_PKEY *key, const char *input, const uint8_t raw[64])
{
	ECDSA_SIG *sig = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(raw, 32, NULL), *s = BN_bin2bn(raw + 32, 32, NULL);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char *der = NULL;
	int dlen, ok = 0;

	if (sig == NULL || r == NULL || s == NULL || ctx == NULL || !ECDSA_SIG_set0(sig, r, s)) {
		BN_free(r);
		BN_free(s);
		goto out;
	}
	if ((dlen = i2d_ECDSA_SIG(sig, &der)) > 0 &&
	    EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, key) == 1)
		ok = EVP_DigestVerify(ctx, der, (size_t)dlen, (const unsigned char *)input,
		    strlen(input)) == 1;
out:
	ERR_clear_error();
	OPENSSL_free(der);
	EVP_MD_CTX_free(ctx);
	ECDSA_SIG_free(sig);
	return ok;
}

/* The base64url-decoded string member <name> of <obj> (malloc'd), or NULL. */
static char *
member_decoded(json_t *obj, const char *name)
{
	const char *s = json_string_value(json_object_get(obj, name));
	uint8_t *out = NULL;
	size_t n;

	if (s == NULL || b64url_decode_alloc(s, strlen(s), &out, &n) == -1)
		return NULL;
	return (char *)out;
}

/* Checks that <jws> is a flattened JWS with exactly protected, payload and signature, that
 * the signature (ES256 or RS256 by key type) verifies over "protected.payload" with <key>,
 * and returns the decoded protected header (json_decref) and payload (free). */
static json_t *
check_flattened(const char *jws, EVP_PKEY *key, char **payload)
{
	json_t *obj, *hdr = NULL;
	const char *prot, *pay, *sig;
	char *input = NULL, *hdr_str = NULL;
	uint8_t *raw = NULL;
	size_t rawlen = 0;
	EVP_MD_CTX *ctx = NULL;

	*payload = NULL;
	UNIT_CHECK((obj = json_loads(jws, 0, NULL)) != NULL);
	if (obj == NULL)
		return NULL;
	UNIT_CHECK(json_object_size(obj) == 3);
	prot = json_string_value(json_object_get(obj, "protected"));
	pay = json_string_value(json_object_get(obj, "payload"));
	sig = json_string_value(json_object_get(obj, "signature"));
	UNIT_CHECK(prot != NULL && pay != NULL && sig != NULL);
	if (prot == NULL || pay == NULL || sig == NULL)
		goto out;
	UNIT_CHECK(asprintf(&input, "%s.%s", prot, pay) > 0);
	UNIT_CHECK(b64url_decode_alloc(sig, strlen(sig), &raw, &rawlen) == 0);
	if (EVP_PKEY_is_a(key, "EC")) {
		UNIT_CHECK(rawlen == 64);
		UNIT_CHECK(jws_verify_es256(key, input, strlen(input), raw, rawlen) == 0);
		UNIT_CHECK(rawlen == 64 && independent_es256_verify(key, input, raw));
	} else {
		UNIT_CHECK((ctx = EVP_MD_CTX_new()) != NULL);
		UNIT_CHECK(EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, key) == 1);
		UNIT_CHECK(EVP_DigestVerify(ctx, raw, rawlen, (const unsigned char *)input,
		    strlen(input)) == 1);
	}
	UNIT_CHECK((hdr_str = member_decoded(obj, "protected")) != NULL);
	UNIT_CHECK(hdr_str != NULL && (hdr = json_loads(hdr_str, 0, NULL)) != NULL);
	UNIT_CHECK((*payload = member_decoded(obj, "payload")) != NULL);
out:
	EVP_MD_CTX_free(ctx);
	free(raw);
	free(input);
	free(hdr_str);
	json_decref(obj);
	return hdr;
}

static void
test_b64url_rfc4648_vectors(void)
{
	/* RFC 4648 §10, with the padding dropped as base64url in ACME requires. */
	static const struct {
		const char *in, *out;
	} v[] = {
		{ "", "" }, { "f", "Zg" }, { "fo", "Zm8" }, { "foo", "Zm9v" },
		{ "foob", "Zm9vYg" }, { "fooba", "Zm9vYmE" }, { "foobar", "Zm9vYmFy" },
	};
	static const uint8_t urlbytes[] = { 0xfb, 0xff, 0xbf, 0x3e };
	char enc[64];
	uint8_t dec[64];
	size_t i, n;
	char *s;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		UNIT_CHECK(b64url_encode(v[i].in, strlen(v[i].in), enc) == strlen(v[i].out));
		UNIT_CHECK_STR(enc, v[i].out);
		UNIT_CHECK(B64URL_LEN(strlen(v[i].in)) == strlen(v[i].out));
		UNIT_CHECK(b64url_decode(v[i].out, strlen(v[i].out), dec, sizeof(dec), &n) == 0);
		UNIT_CHECK(n == strlen(v[i].in) && memcmp(dec, v[i].in, n) == 0);
	}
	/* The URL-safe symbols: 62 is '-', 63 is '_' (RFC 4648 §5). */
	b64url_encode(urlbytes, sizeof(urlbytes), enc);
	UNIT_CHECK_STR(enc, "-_-_Pg");
	UNIT_CHECK(b64url_decode("-_-_Pg", 6, dec, sizeof(dec), &n) == 0);
	UNIT_CHECK(n == sizeof(urlbytes) && memcmp(dec, urlbytes, n) == 0);
	UNIT_CHECK((s = b64url_encode_alloc("foobar", 6)) != NULL);
	UNIT_CHECK_STR(s, "Zm9vYmFy");
	free(s);
	/* An exact-size output buffer is enough. */
	UNIT_CHECK(b64url_decode("Zm9vYmE", 7, dec, 5, &n) == 0 && n == 5);
}

static void
test_b64url_rejects(void)
{
	static const char *const bad[] = {
		"Zg==",  /* padding */
		"Zm8=",  /* padding */
		"Z",     /* 4k+1 characters */
		"Zm9vY", /* 4k+1 characters */
		"Zh",    /* non-canonical: 'h' leaves 0001 in the unused bits */
		"Zm9",   /* non-canonical: '9' leaves 01 in the unused bits */
		"Zm+v",  /* standard alphabet */
		"Zm/v",  /* standard alphabet */
		"Zm9v\n", /* whitespace */
		"Zm 9v", /* whitespace */
		"Zm9v.",  /* separator */
	};
	uint8_t dec[16], *p = NULL;
	size_t i, n;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (b64url_decode(bad[i], strlen(bad[i]), dec, sizeof(dec), &n) != -1) {
			fprintf(stderr, "accepted \"%s\"\n", bad[i]);
			UNIT_CHECK(0);
		}
	}
	/* An embedded NUL is a character outside the alphabet, not an end. */
	UNIT_CHECK(b64url_decode("Zm\0v", 4, dec, sizeof(dec), &n) == -1);
	/* Too small an output buffer. */
	UNIT_CHECK(b64url_decode("Zm9vYmE", 7, dec, 4, &n) == -1);
	UNIT_CHECK(b64url_decode("Zm9v", 4, dec, 2, &n) == -1);
	UNIT_CHECK(b64url_decode_alloc("Zg==", 4, &p, &n) == -1 && p == NULL);
	/* Alloc variant NUL-terminates for text payloads. */
	UNIT_CHECK(b64url_decode_alloc("Zm9v", 4, &p, &n) == 0 && n == 3);
	UNIT_CHECK_STR((char *)p, "foo");
	free(p);
	UNIT_CHECK(b64url_alphabet_ok("abcXYZ019-_", 11));
	UNIT_CHECK(!b64url_alphabet_ok("", 0));
	UNIT_CHECK(!b64url_alphabet_ok("ab=", 3));
	UNIT_CHECK(!b64url_alphabet_ok("a.b", 3));
	UNIT_CHECK(!b64url_alphabet_ok("a/b", 3));
}

static void
test_b64_standard(void)
{
	static const uint8_t bytes[] = { 0xfb, 0xff, 0xbf };
	uint8_t dec[32];
	size_t n;

	UNIT_CHECK(b64_decode("Zm9vYmE=", 8, dec, sizeof(dec), &n) == 0);
	UNIT_CHECK(n == 5 && memcmp(dec, "fooba", 5) == 0);
	UNIT_CHECK(b64_decode("Zg==", 4, dec, sizeof(dec), &n) == 0 && n == 1 && dec[0] == 'f');
	UNIT_CHECK(b64_decode("+/+/", 4, dec, sizeof(dec), &n) == 0);
	UNIT_CHECK(n == 3 && memcmp(dec, bytes, 3) == 0);
	UNIT_CHECK(b64_decode("Zm9v\r\nYmFy\n", 11, dec, sizeof(dec), &n) == 0);
	UNIT_CHECK(n == 6 && memcmp(dec, "foobar", 6) == 0);
	UNIT_CHECK(b64_decode("", 0, dec, sizeof(dec), &n) == 0 && n == 0);
	UNIT_CHECK(b64_decode("Zm9vYmE", 7, dec, sizeof(dec), &n) == -1);   /* no padding */
	UNIT_CHECK(b64_decode("Zm9vYg=", 7, dec, sizeof(dec), &n) == -1);   /* short padding */
	UNIT_CHECK(b64_decode("Zm9v====", 8, dec, sizeof(dec), &n) == -1);  /* extra padding */
	UNIT_CHECK(b64_decode("Zg==Zg==", 8, dec, sizeof(dec), &n) == -1);  /* data after it */
	UNIT_CHECK(b64_decode("-_-_", 4, dec, sizeof(dec), &n) == -1);      /* url alphabet */
	UNIT_CHECK(b64_decode("Zh==", 4, dec, sizeof(dec), &n) == -1);      /* non-canonical */
}

static void
test_thumbprint_rfc7638(void)
{
	EVP_PKEY *key = rsa_key_from_jwk(rfc7638_n, rfc7638_e);
	char tp[JWK_THUMBPRINT_LEN + 1], *jwk = NULL, *expect = NULL;

	UNIT_CHECK(key != NULL);
	if (key == NULL)
		return;
	UNIT_CHECK(jwk_public_json(key, &jwk) == 0);
	UNIT_CHECK(asprintf(&expect, "{\"e\":\"%s\",\"kty\":\"RSA\",\"n\":\"%s\"}", rfc7638_e,
	    rfc7638_n) > 0);
	UNIT_CHECK_STR(jwk, expect);
	UNIT_CHECK(jwk_thumbprint(key, tp) == 0);
	UNIT_CHECK_STR(tp, rfc7638_thumbprint);
	free(expect);
	free(jwk);
	EVP_PKEY_free(key);
}

static void
test_jwk_ec_rfc7515_key(void)
{
	EVP_PKEY *key = ec_key_from_jwk(rfc7515_x, rfc7515_y, rfc7515_d);
	char tp[JWK_THUMBPRINT_LEN + 1], *jwk = NULL;

	UNIT_CHECK(key != NULL);
	if (key == NULL)
		return;
	UNIT_CHECK(jwk_public_json(key, &jwk) == 0);
	UNIT_CHECK_STR(jwk, rfc7515_jwk);
	UNIT_CHECK(jwk_thumbprint(key, tp) == 0);
	UNIT_CHECK_STR(tp, rfc7515_thumbprint);
	free(jwk);
	EVP_PKEY_free(key);
}

/* Checks that the JWK of <key> carries x and y as exactly the 32-byte big-endian
 * coordinates; sets *short_x / *short_y when a coordinate is below 2^248. 1 when fine. */
static int
jwk_coordinates_full(EVP_PKEY *key, int *short_x, int *short_y)
{
	static const char *const names[2] = { OSSL_PKEY_PARAM_EC_PUB_X, OSSL_PKEY_PARAM_EC_PUB_Y };
	static const char *const members[2] = { "x", "y" };
	uint8_t want[32], got[40];
	BIGNUM *bn = NULL;
	json_t *obj = NULL;
	char *jwk = NULL;
	const char *v;
	size_t n;
	int i, ok = 0;

	if (jwk_public_json(key, &jwk) == -1 || (obj = json_loads(jwk, 0, NULL)) == NULL)
		goto out;
	for (i = 0; i < 2; i++) {
		BN_free(bn);
		bn = NULL;
		if (EVP_PKEY_get_bn_param(key, names[i], &bn) != 1 ||
		    BN_bn2binpad(bn, want, 32) != 32 ||
		    (v = json_string_value(json_object_get(obj, members[i]))) == NULL ||
		    strlen(v) != 43 || b64url_decode(v, 43, got, sizeof(got), &n) == -1 ||
		    n != 32 || memcmp(got, want, 32) != 0)
			goto out;
		if (want[0] == 0)
			*(i == 0 ? short_x : short_y) = 1;
	}
	ok = 1;
out:
	BN_free(bn);
	json_decref(obj);
	free(jwk);
	return ok;
}

static void
test_jwk_coordinates_keep_leading_zeros(void)
{
	EVP_PKEY *key;
	int tries, ok = 1, short_x = 0, short_y = 0;

	/* About 1 key in 256 has x (or y) below 2^248; a minimal encoding would make that
	 * coordinate 31 bytes and every signature by the key unverifiable. 16384 keys miss
	 * either case with probability ~e^-64. */
	for (tries = 0; tries < 16384 && ok && !(short_x && short_y); tries++) {
		if ((key = key_generate_p256()) == NULL) {
			ok = 0;
			break;
		}
		ok = jwk_coordinates_full(key, &short_x, &short_y);
		EVP_PKEY_free(key);
	}
	UNIT_CHECK(ok);
	UNIT_CHECK(short_x);
	UNIT_CHECK(short_y);
}

static void
test_es256_rfc7515_a3_verify(void)
{
	EVP_PKEY *pub = ec_key_from_jwk(rfc7515_x, rfc7515_y, NULL);
	uint8_t sig[64];
	char input[sizeof(rfc7515_input)];

	UNIT_CHECK(pub != NULL);
	if (pub == NULL)
		return;
	UNIT_CHECK(unb64(rfc7515_sig, sig, sizeof(sig)) == 64);
	UNIT_CHECK(jws_verify_es256(pub, rfc7515_input, strlen(rfc7515_input), sig, 64) == 0);
	/* One flipped bit in r, then in s, then in the signed text. */
	sig[5] ^= 0x01;
	UNIT_CHECK(jws_verify_es256(pub, rfc7515_input, strlen(rfc7515_input), sig, 64) == -1);
	sig[5] ^= 0x01;
	sig[40] ^= 0x80;
	UNIT_CHECK(jws_verify_es256(pub, rfc7515_input, strlen(rfc7515_input), sig, 64) == -1);
	sig[40] ^= 0x80;
	memcpy(input, rfc7515_input, sizeof(input));
	input[3] ^= 0x01;
	UNIT_CHECK(jws_verify_es256(pub, input, strlen(input), sig, 64) == -1);
	/* Only exactly 64 bytes is a JWS ES256 signature. */
	UNIT_CHECK(jws_verify_es256(pub, rfc7515_input, strlen(rfc7515_input), sig, 63) == -1);
	UNIT_CHECK(jws_verify_es256(pub, rfc7515_input, strlen(rfc7515_input), sig, 64) == 0);
	EVP_PKEY_free(pub);
}

static void
test_es256_sign_roundtrip(void)
{
	EVP_PKEY *key = ec_key_from_jwk(rfc7515_x, rfc7515_y, rfc7515_d);
	EVP_PKEY *pub = ec_key_from_jwk(rfc7515_x, rfc7515_y, NULL);
	EVP_PKEY *other = key_generate_p256();
	char *sig = NULL;
	uint8_t raw[72];
	size_t n = 0;

	UNIT_CHECK(key != NULL && pub != NULL && other != NULL);
	if (key == NULL || pub == NULL || other == NULL)
		goto out;
	UNIT_CHECK(jws_sign_es256(key, "eyJhbGciOiJFUzI1NiJ9",
	    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ",
	    &sig) == 0);
	UNIT_CHECK(sig != NULL && strlen(sig) == 86);
	UNIT_CHECK(sig != NULL && b64url_decode(sig, strlen(sig), raw, sizeof(raw), &n) == 0);
	UNIT_CHECK(n == 64);
	/* ECDSA is randomized: a fresh signature differs from the RFC's but verifies. */
	UNIT_CHECK(jws_verify_es256(pub, rfc7515_input, strlen(rfc7515_input), raw, n) == 0);
	UNIT_CHECK(independent_es256_verify(pub, rfc7515_input, raw));
	UNIT_CHECK(jws_verify_es256(other, rfc7515_input, strlen(rfc7515_input), raw, n) == -1);
	free(sig);
	sig = NULL;
	/* The empty payload of POST-as-GET signs "protected." */
	UNIT_CHECK(jws_sign_es256(key, "eyJhbGciOiJFUzI1NiJ9", "", &sig) == 0);
	UNIT_CHECK(sig != NULL && b64url_decode(sig, strlen(sig), raw, sizeof(raw), &n) == 0);
	UNIT_CHECK(jws_verify_es256(pub, "eyJhbGciOiJFUzI1NiJ9.", 21, raw, n) == 0);
	free(sig);
	sig = NULL;
	/* Not with an RSA key. */
	EVP_PKEY_free(other);
	other = rsa_key_from_jwk(rfc7638_n, rfc7638_e);
	UNIT_CHECK(jws_sign_es256(other, "e30", "e30", &sig) == -1 && sig == NULL);
out:
	free(sig);
	EVP_PKEY_free(key);
	EVP_PKEY_free(pub);
	EVP_PKEY_free(other);
}

static void
test_es256_short_r_s_left_padded(void)
{
	static const char input[] = "eyJhbGciOiJFUzI1NiJ9.e30";
	EVP_PKEY *key = key_generate_p256();
	uint8_t raw[72];
	char *sig = NULL;
	size_t n = 0;
	int tries, bad = 0, short_r = 0, short_s = 0;

	UNIT_CHECK(key != NULL);
	if (key == NULL)
		return;
	/* r (or s) has a zero top byte, so under 32 bytes in the DER, in about 1 signature in
	 * 256; 16384 tries miss either with probability ~e^-64. Every signature is verified,
	 * so one with a short value moved to the wrong offset fails even if unnoticed. */
	for (tries = 0; tries < 16384 && !(short_r && short_s) && !bad; tries++) {
		free(sig);
		sig = NULL;
		if (jws_sign_es256(key, "eyJhbGciOiJFUzI1NiJ9", "e30", &sig) == -1 ||
		    strlen(sig) != 86 ||
		    b64url_decode(sig, strlen(sig), raw, sizeof(raw), &n) == -1 || n != 64 ||
		    jws_verify_es256(key, input, strlen(input), raw, n) == -1 ||
		    !independent_es256_verify(key, input, raw)) {
			bad = 1;
			break;
		}
		short_r |= raw[0] == 0;
		short_s |= raw[32] == 0;
	}
	UNIT_CHECK(!bad);
	UNIT_CHECK(short_r);
	UNIT_CHECK(short_s);
	free(sig);
	EVP_PKEY_free(key);
}

static void
test_flattened_with_jwk(void)
{
	static const char payload[] = "{\"termsOfServiceAgreed\":true,\"contact\":[\"mailto:a@b.c\"]}";
	EVP_PKEY *key = key_generate_p256();
	json_t *hdr = NULL, *want = NULL;
	char *jws = NULL, *pay = NULL, *jwk = NULL;

	UNIT_CHECK(key != NULL);
	UNIT_CHECK((jws = jws_flattened(key, "ES256", NULL, "nonce-1_x", "https://ca.test/new-acct",
	    payload)) != NULL);
	if (jws == NULL)
		goto out;
	UNIT_CHECK((hdr = check_flattened(jws, key, &pay)) != NULL);
	UNIT_CHECK_STR(pay, payload);
	UNIT_CHECK(jwk_public_json(key, &jwk) == 0);
	UNIT_CHECK((want = json_loads(jwk, 0, NULL)) != NULL);
	UNIT_CHECK(json_object_size(hdr) == 4);
	UNIT_CHECK_STR(json_string_value(json_object_get(hdr, "alg")), "ES256");
	UNIT_CHECK(json_equal(json_object_get(hdr, "jwk"), want));
	UNIT_CHECK(json_object_get(hdr, "kid") == NULL);
	UNIT_CHECK_STR(json_string_value(json_object_get(hdr, "nonce")), "nonce-1_x");
	UNIT_CHECK_STR(json_string_value(json_object_get(hdr, "url")), "https://ca.test/new-acct");
out:
	json_decref(want);
	json_decref(hdr);
	free(jwk);
	free(pay);
	free(jws);
	EVP_PKEY_free(key);
}

/* The payload member of the flattened JWS <jws> as sent (still base64url), or NULL. */
static char *
raw_payload(const char *jws)
{
	json_t *obj = jws ? json_loads(jws, 0, NULL) : NULL;
	const char *p = json_string_value(json_object_get(obj, "payload"));
	char *out = p ? strdup(p) : NULL;

	json_decref(obj);
	return out;
}

static void
test_flattened_kid_post_as_get(void)
{
	EVP_PKEY *key = key_generate_p256();
	json_t *hdr = NULL;
	char *jws = NULL, *pay = NULL, *raw = NULL;

	UNIT_CHECK(key != NULL);
	/* alg NULL: chosen from the key. */
	UNIT_CHECK((jws = jws_flattened(key, NULL, "https://ca.test/acct/1", "n0nce",
	    "https://ca.test/order/7", "")) != NULL);
	UNIT_CHECK_STR((raw = raw_payload(jws)), "");
	UNIT_CHECK(jws != NULL && (hdr = check_flattened(jws, key, &pay)) != NULL);
	UNIT_CHECK_STR(pay, "");
	UNIT_CHECK_STR(json_string_value(json_object_get(hdr, "alg")), "ES256");
	UNIT_CHECK_STR(json_string_value(json_object_get(hdr, "kid")), "https://ca.test/acct/1");
	UNIT_CHECK(json_object_get(hdr, "jwk") == NULL);
	UNIT_CHECK_STR(json_string_value(json_object_get(hdr, "nonce")), "n0nce");
	UNIT_CHECK_STR(json_string_value(json_object_get(hdr, "url")), "https://ca.test/order/7");
	json_decref(hdr);
	free(pay);
	free(raw);
	free(jws);
	/* NULL payload is POST-as-GET too. */
	jws = jws_flattened(key, NULL, "k", "n", "u", NULL);
	UNIT_CHECK_STR((raw = raw_payload(jws)), "");
	free(raw);
	free(jws);
	/* A challenge response is "{}", base64url "e30" (RFC 8555 §7.5.1). */
	jws = jws_flattened(key, NULL, "k", "n", "u", "{}");
	UNIT_CHECK_STR((raw = raw_payload(jws)), "e30");
	free(raw);
	free(jws);
	EVP_PKEY_free(key);
}

static void
test_flattened_keychange_inner_and_escaping(void)
{
	static const char url[] = "https://ca.test/key-change?a=\"b\"\\c";
	EVP_PKEY *key = key_generate_p256(), *newkey = key_generate_p256();
	json_t *hdr = NULL, *ohdr = NULL, *payload = NULL;
	char *inner = NULL, *outer = NULL, *pay = NULL, *opay = NULL;

	UNIT_CHECK(key != NULL && newkey != NULL);
	/* The inner keyChange JWS: new key, jwk, no nonce. */
	UNIT_CHECK((inner = jws_flattened(newkey, "ES256", NULL, NULL, url,
	    "{\"account\":\"https://ca.test/acct/1\",\"oldKey\":{}}")) != NULL);
	if (inner == NULL)
		goto out;
	UNIT_CHECK((hdr = check_flattened(inner, newkey, &pay)) != NULL);
	UNIT_CHECK(json_object_get(hdr, "nonce") == NULL);
	UNIT_CHECK(json_object_size(hdr) == 3);
	/* Quotes and backslashes in a server-supplied URL survive JSON escaping. */
	UNIT_CHECK_STR(json_string_value(json_object_get(hdr, "url")), url);
	/* The outer JWS carries the inner one as its payload, an object. */
	UNIT_CHECK((outer = jws_flattened(key, "ES256", "https://ca.test/acct/1", "n", url,
	    inner)) != NULL);
	UNIT_CHECK(outer != NULL && (ohdr = check_flattened(outer, key, &opay)) != NULL);
	UNIT_CHECK_STR(opay, inner);
	UNIT_CHECK(opay != NULL && (payload = json_loads(opay, 0, NULL)) != NULL);
	UNIT_CHECK(json_is_object(payload));
out:
	json_decref(payload);
	json_decref(ohdr);
	json_decref(hdr);
	free(opay);
	free(pay);
	free(outer);
	free(inner);
	EVP_PKEY_free(key);
	EVP_PKEY_free(newkey);
}

static void
test_flattened_rs256_and_rejects(void)
{
	EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	EVP_PKEY *ec = key_generate_p256();
	json_t *hdr = NULL, *jwk = NULL;
	char *jws = NULL, *pay = NULL, *want = NULL;

	UNIT_CHECK(rsa != NULL && ec != NULL);
	UNIT_CHECK((jws = jws_flattened(rsa, NULL, NULL, "n", "https://ca.test/new-acct",
	    "{}")) != NULL);
	if (jws != NULL) {
		UNIT_CHECK((hdr = check_flattened(jws, rsa, &pay)) != NULL);
		UNIT_CHECK_STR(json_string_value(json_object_get(hdr, "alg")), "RS256");
		UNIT_CHECK(jwk_public_json(rsa, &want) == 0);
		UNIT_CHECK((jwk = json_loads(want, 0, NULL)) != NULL);
		UNIT_CHECK(json_equal(json_object_get(hdr, "jwk"), jwk));
		UNIT_CHECK_STR(pay, "{}");
	}
	/* Mismatched or unsupported alg, missing url, invalid UTF-8, no key. */
	UNIT_CHECK(jws_flattened(ec, "RS256", "k", "n", "u", "") == NULL);
	UNIT_CHECK(jws_flattened(rsa, "ES256", "k", "n", "u", "") == NULL);
	UNIT_CHECK(jws_flattened(ec, "HS256", "k", "n", "u", "") == NULL);
	UNIT_CHECK(jws_flattened(ec, "none", "k", "n", "u", "") == NULL);
	UNIT_CHECK(jws_flattened(ec, NULL, "k", "n", NULL, "") == NULL);
	UNIT_CHECK(jws_flattened(ec, NULL, "k", "n", "https://x/\xff", "") == NULL);
	UNIT_CHECK(jws_flattened(NULL, NULL, "k", "n", "u", "") == NULL);
	json_decref(jwk);
	json_decref(hdr);
	free(want);
	free(pay);
	free(jws);
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(ec);
}

static void
test_eab_hs256(void)
{
	EVP_PKEY *acct = ec_key_from_jwk(rfc7515_x, rfc7515_y, rfc7515_d);
	uint8_t mac_key[64];
	size_t keylen;
	json_t *obj = NULL;
	char *eab = NULL, *prot = NULL, *pay = NULL;

	keylen = unb64(eab_key_b64, mac_key, sizeof(mac_key));
	UNIT_CHECK(acct != NULL && keylen == 48);
	UNIT_CHECK((eab = jws_eab(eab_kid, mac_key, keylen, acct, eab_url)) != NULL);
	if (eab == NULL)
		goto out;
	UNIT_CHECK((obj = json_loads(eab, 0, NULL)) != NULL);
	UNIT_CHECK(json_object_size(obj) == 3);
	UNIT_CHECK((prot = member_decoded(obj, "protected")) != NULL);
	UNIT_CHECK_STR(prot, eab_protected);
	UNIT_CHECK((pay = member_decoded(obj, "payload")) != NULL);
	UNIT_CHECK_STR(pay, rfc7515_jwk);
	UNIT_CHECK_STR(json_string_value(json_object_get(obj, "signature")), eab_signature);
	/* A missing key, key id or url is refused. */
	UNIT_CHECK(jws_eab(eab_kid, mac_key, 0, acct, eab_url) == NULL);
	UNIT_CHECK(jws_eab(NULL, mac_key, keylen, acct, eab_url) == NULL);
	UNIT_CHECK(jws_eab(eab_kid, mac_key, keylen, acct, NULL) == NULL);
out:
	OPENSSL_cleanse(mac_key, sizeof(mac_key));
	json_decref(obj);
	free(prot);
	free(pay);
	free(eab);
	EVP_PKEY_free(acct);
}

static void
test_key_authorization_and_dns01(void)
{
	EVP_PKEY *key = rsa_key_from_jwk(rfc7638_n, rfc7638_e);
	char txt[JWK_THUMBPRINT_LEN + 1], *ka = NULL;

	UNIT_CHECK(key != NULL);
	UNIT_CHECK(key_authorization(key, example_token, &ka) == 0);
	UNIT_CHECK_STR(ka, example_keyauth);
	UNIT_CHECK(dns01_txt_value(ka, txt) == 0);
	UNIT_CHECK_STR(txt, example_dns01);
	UNIT_CHECK(strlen(txt) == 43);
	free(ka);
	ka = NULL;
	/* Tokens that would escape a path, a header or a record are refused. */
	UNIT_CHECK(key_authorization(key, "", &ka) == -1 && ka == NULL);
	UNIT_CHECK(key_authorization(key, "../../etc/passwd", &ka) == -1 && ka == NULL);
	UNIT_CHECK(key_authorization(key, "abc=", &ka) == -1 && ka == NULL);
	UNIT_CHECK(key_authorization(key, "ab c", &ka) == -1 && ka == NULL);
	UNIT_CHECK(key_authorization(key, "ab\ncd", &ka) == -1 && ka == NULL);
	UNIT_CHECK(key_authorization(key, NULL, &ka) == -1 && ka == NULL);
	EVP_PKEY_free(key);
}

static void
test_key_pem_roundtrip(void)
{
	EVP_PKEY *key = key_generate_p256(), *back = NULL, *rsa = NULL;
	char *pem = NULL, tp1[JWK_THUMBPRINT_LEN + 1], tp2[JWK_THUMBPRINT_LEN + 1];
	BIO *bio = NULL;
	char *enc = NULL;
	long len;

	UNIT_CHECK(key != NULL);
	UNIT_CHECK(key_to_pem(key, &pem) == 0);
	UNIT_CHECK(pem != NULL && strncmp(pem, "-----BEGIN PRIVATE KEY-----\n", 28) == 0);
	UNIT_CHECK((back = key_from_pem(pem)) != NULL);
	UNIT_CHECK(EVP_PKEY_eq(key, back) == 1);
	UNIT_CHECK(jwk_thumbprint(key, tp1) == 0 && jwk_thumbprint(back, tp2) == 0);
	UNIT_CHECK_STR(tp1, tp2);
	/* The reloaded key signs what the original verifies. */
	UNIT_CHECK(back != NULL);
	if (back != NULL) {
		char *sig = NULL;
		uint8_t raw[64];
		size_t n = 0;

		UNIT_CHECK(jws_sign_es256(back, "e30", "e30", &sig) == 0);
		UNIT_CHECK(sig && b64url_decode(sig, strlen(sig), raw, sizeof(raw), &n) == 0);
		UNIT_CHECK(jws_verify_es256(key, "e30.e30", 7, raw, n) == 0);
		free(sig);
	}
	/* Garbage, a public key, and an encrypted key (which must fail, not prompt). */
	UNIT_CHECK(key_from_pem("not a key") == NULL);
	UNIT_CHECK(key_from_pem(NULL) == NULL);
	UNIT_CHECK((bio = BIO_new(BIO_s_mem())) != NULL);
	UNIT_CHECK(PEM_write_bio_PUBKEY(bio, key) == 1);
	UNIT_CHECK((len = BIO_get_mem_data(bio, &enc)) > 0);
	enc = strndup(enc, (size_t)len);
	UNIT_CHECK(key_from_pem(enc) == NULL);
	free(enc);
	BIO_free(bio);
	UNIT_CHECK((bio = BIO_new(BIO_s_mem())) != NULL);
	UNIT_CHECK(PEM_write_bio_PrivateKey(bio, key, EVP_aes_256_cbc(),
	    (unsigned char *)"secret", 6, NULL, NULL) == 1);
	UNIT_CHECK((len = BIO_get_mem_data(bio, &enc)) > 0);
	enc = strndup(enc, (size_t)len);
	UNIT_CHECK(strstr(enc, "ENCRYPTED") != NULL);
	UNIT_CHECK(key_from_pem(enc) == NULL);
	free(enc);
	BIO_free(bio);
	/* RSA account keys round-trip too. */
	UNIT_CHECK((rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048)) != NULL);
	key_pem_free(pem);
	pem = NULL;
	EVP_PKEY_free(back);
	back = NULL;
	UNIT_CHECK(key_to_pem(rsa, &pem) == 0);
	UNIT_CHECK((back = key_from_pem(pem)) != NULL);
	UNIT_CHECK(EVP_PKEY_eq(rsa, back) == 1);
	key_pem_free(pem);
	key_pem_free(NULL);
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(back);
	EVP_PKEY_free(key);
}

static void
test_unsupported_keys(void)
{
	EVP_PKEY *p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	char tp[JWK_THUMBPRINT_LEN + 1], *s = NULL;

	UNIT_CHECK(p384 != NULL && ed != NULL);
	UNIT_CHECK(jwk_public_json(p384, &s) == -1 && s == NULL);
	UNIT_CHECK(jwk_thumbprint(ed, tp) == -1);
	UNIT_CHECK(jws_flattened(p384, NULL, "k", "n", "u", "") == NULL);
	UNIT_CHECK(jws_sign_es256(p384, "e30", "e30", &s) == -1 && s == NULL);
	EVP_PKEY_free(p384);
	EVP_PKEY_free(ed);
}

int
main(void)
{
	log_init("test_jws", 0);
	UNIT_RUN(test_b64url_rfc4648_vectors);
	UNIT_RUN(test_b64url_rejects);
	UNIT_RUN(test_b64_standard);
	UNIT_RUN(test_thumbprint_rfc7638);
	UNIT_RUN(test_jwk_ec_rfc7515_key);
	UNIT_RUN(test_jwk_coordinates_keep_leading_zeros);
	UNIT_RUN(test_es256_rfc7515_a3_verify);
	UNIT_RUN(test_es256_sign_roundtrip);
	UNIT_RUN(test_es256_short_r_s_left_padded);
	UNIT_RUN(test_flattened_with_jwk);
	UNIT_RUN(test_flattened_kid_post_as_get);
	UNIT_RUN(test_flattened_keychange_inner_and_escaping);
	UNIT_RUN(test_flattened_rs256_and_rejects);
	UNIT_RUN(test_eab_hs256);
	UNIT_RUN(test_key_authorization_and_dns01);
	UNIT_RUN(test_key_pem_roundtrip);
	UNIT_RUN(test_unsupported_keys);
	return unit_summary();
}
