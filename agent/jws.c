#include "agent/jws.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "agent/b64.h"
#include "agent/log.h"

enum key_kind { KEY_EC_P256, KEY_RSA };

#define ES256_COORD 32
#define ES256_SIGLEN (2 * ES256_COORD)
#define SHA256_LEN 32

/* What <key> is, or -1 (logged) for anything jfe does not sign with. */
static int
key_kind_of(EVP_PKEY *key)
{
	char group[64];
	size_t glen;

	if (key == NULL) {
		log_err("jws: no key");
		return -1;
	}
	if (EVP_PKEY_is_a(key, "RSA"))
		return KEY_RSA;
	if (EVP_PKEY_is_a(key, "EC")) {
		if (!EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group,
		    sizeof(group), &glen)) {
			log_openssl("jws: EC key group");
			return -1;
		}
		if (strcmp(group, SN_X9_62_prime256v1) == 0)
			return KEY_EC_P256;
		log_err("jws: EC curve %s is not supported (P-256 only)", group);
		return -1;
	}
	log_err("jws: key type %s is not supported", EVP_PKEY_get0_type_name(key));
	return -1;
}

/* base64url of the big-endian <bn>: left-padded to <pad> bytes when <pad> is non-zero (EC
 * coordinates must be full size, RFC 7518 §6.2.1.2), minimal otherwise (RSA n and e,
 * RFC 7518 §6.3.1: leading zeros are stripped). */
static char *
bn_b64url(EVP_PKEY *key, const char *param, size_t pad)
{
	BIGNUM *bn = NULL;
	uint8_t *buf = NULL;
	char *out = NULL;
	size_t len;

	if (!EVP_PKEY_get_bn_param(key, param, &bn)) {
		log_openssl("jwk: reading the public key");
		goto fail;
	}
	len = pad ? pad : (size_t)BN_num_bytes(bn);
	if (len == 0) {
		log_err("jwk: %s is zero", param);
		goto fail;
	}
	if ((buf = malloc(len)) == NULL) {
		log_err("jwk: out of memory");
		goto fail;
	}
	if (BN_bn2binpad(bn, buf, (int)len) != (int)len) {
		log_err("jwk: %s does not fit in %zu bytes", param, len);
		goto fail;
	}
	out = b64url_encode_alloc(buf, len);
fail:
	free(buf);
	BN_free(bn);
	return out;
}

int
jwk_public_json(EVP_PKEY *key, char **out)
{
	char *a = NULL, *b = NULL;
	int kind, n = -1;

	*out = NULL;
	if ((kind = key_kind_of(key)) == -1)
		return -1;
	/* Formatted by hand rather than with jansson: RFC 7638 fixes member order and bans
	 * whitespace, and the values are base64url, which never needs escaping. */
	if (kind == KEY_EC_P256) {
		if ((a = bn_b64url(key, OSSL_PKEY_PARAM_EC_PUB_X, ES256_COORD)) == NULL ||
		    (b = bn_b64url(key, OSSL_PKEY_PARAM_EC_PUB_Y, ES256_COORD)) == NULL)
			goto fail;
		n = asprintf(out, "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}",
		    a, b);
	} else {
		if ((a = bn_b64url(key, OSSL_PKEY_PARAM_RSA_E, 0)) == NULL ||
		    (b = bn_b64url(key, OSSL_PKEY_PARAM_RSA_N, 0)) == NULL)
			goto fail;
		n = asprintf(out, "{\"e\":\"%s\",\"kty\":\"RSA\",\"n\":\"%s\"}", a, b);
	}
	if (n == -1) {
		*out = NULL;
		log_err("jwk: out of memory");
	}
fail:
	free(a);
	free(b);
	return *out ? 0 : -1;
}

/* base64url(SHA-256(<data>)) into <out> (44 bytes). */
static int
sha256_b64url(const void *data, size_t len, char out[JWK_THUMBPRINT_LEN + 1])
{
	unsigned char md[SHA256_LEN];
	unsigned int mdlen = 0;

	if (!EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) || mdlen != SHA256_LEN) {
		log_openssl("SHA-256");
		return -1;
	}
	b64url_encode(md, mdlen, out);
	return 0;
}

int
jwk_thumbprint(EVP_PKEY *key, char out[JWK_THUMBPRINT_LEN + 1])
{
	char *jwk = NULL;
	int rc;

	out[0] = '\0';
	if (jwk_public_json(key, &jwk) == -1)
		return -1;
	rc = sha256_b64url(jwk, strlen(jwk), out);
	free(jwk);
	return rc;
}

/* Signs <input> with <key> (SHA-256; ECDSA or RSASSA-PKCS1-v1_5 by key type) and stores the
 * base64url of the JWS signature in <*sig_b64>. */
static int
sign_input(EVP_PKEY *key, enum key_kind kind, const char *input, size_t len, char **sig_b64)
{
	EVP_MD_CTX *ctx = NULL;
	ECDSA_SIG *esig = NULL;
	unsigned char *der = NULL;
	const unsigned char *p;
	const BIGNUM *r, *s;
	uint8_t raw[ES256_SIGLEN];
	size_t derlen = 0;
	int rc = -1;

	*sig_b64 = NULL;
	if ((ctx = EVP_MD_CTX_new()) == NULL ||
	    !EVP_DigestSignInit_ex(ctx, NULL, "SHA256", NULL, NULL, key, NULL) ||
	    !EVP_DigestSign(ctx, NULL, &derlen, (const unsigned char *)input, len)) {
		log_openssl("jws: sign init");
		goto fail;
	}
	if ((der = malloc(derlen)) == NULL) {
		log_err("jws: out of memory");
		goto fail;
	}
	if (!EVP_DigestSign(ctx, der, &derlen, (const unsigned char *)input, len)) {
		log_openssl("jws: sign");
		goto fail;
	}
	if (kind == KEY_RSA) {
		/* RS256 signatures are the PKCS#1 octet string as is. */
		*sig_b64 = b64url_encode_alloc(der, derlen);
	} else {
		/* OpenSSL yields a DER ECDSA-Sig-Value; JWS wants r and s as fixed 32-byte
		 * integers. Without the padding 1 signature in ~128 would be rejected. */
		p = der;
		if ((esig = d2i_ECDSA_SIG(NULL, &p, (long)derlen)) == NULL) {
			log_openssl("jws: parsing the ECDSA signature");
			goto fail;
		}
		ECDSA_SIG_get0(esig, &r, &s);
		if (BN_bn2binpad(r, raw, ES256_COORD) != ES256_COORD ||
		    BN_bn2binpad(s, raw + ES256_COORD, ES256_COORD) != ES256_COORD) {
			log_err("jws: ECDSA r or s longer than 32 bytes");
			goto fail;
		}
		*sig_b64 = b64url_encode_alloc(raw, sizeof(raw));
	}
	if (*sig_b64 != NULL)
		rc = 0;
fail:
	ECDSA_SIG_free(esig);
	free(der);
	EVP_MD_CTX_free(ctx);
	return rc;
}

int
jws_sign_es256(EVP_PKEY *key, const char *protected_b64, const char *payload_b64,
    char **sig_b64)
{
	char *input = NULL;
	int kind, rc = -1, n;

	*sig_b64 = NULL;
	if ((kind = key_kind_of(key)) != KEY_EC_P256) {
		if (kind != -1)
			log_err("jws: ES256 needs an EC P-256 key");
		return -1;
	}
	if ((n = asprintf(&input, "%s.%s", protected_b64, payload_b64)) == -1) {
		log_err("jws: out of memory");
		return -1;
	}
	rc = sign_input(key, KEY_EC_P256, input, (size_t)n, sig_b64);
	free(input);
	return rc;
}

int
jws_verify_es256(EVP_PKEY *pub, const char *signing_input, size_t len, const uint8_t *sig,
    size_t siglen)
{
	EVP_MD_CTX *ctx = NULL;
	ECDSA_SIG *esig = NULL;
	BIGNUM *r = NULL, *s = NULL;
	unsigned char *der = NULL;
	int kind, derlen, rc = -1, v;

	if ((kind = key_kind_of(pub)) != KEY_EC_P256) {
		if (kind != -1)
			log_err("jws: ES256 needs an EC P-256 key");
		return -1;
	}
	/* Exactly 64 bytes: a DER signature or a stripped one is not a JWS signature. */
	if (sig == NULL || siglen != ES256_SIGLEN)
		return -1;
	if ((esig = ECDSA_SIG_new()) == NULL ||
	    (r = BN_bin2bn(sig, ES256_COORD, NULL)) == NULL ||
	    (s = BN_bin2bn(sig + ES256_COORD, ES256_COORD, NULL)) == NULL ||
	    !ECDSA_SIG_set0(esig, r, s)) {
		log_openssl("jws: building the ECDSA signature");
		BN_free(r);
		BN_free(s);
		goto fail;
	}
	/* esig owns r and s now. */
	if ((derlen = i2d_ECDSA_SIG(esig, &der)) <= 0) {
		log_openssl("jws: encoding the ECDSA signature");
		goto fail;
	}
	if ((ctx = EVP_MD_CTX_new()) == NULL ||
	    !EVP_DigestVerifyInit_ex(ctx, NULL, "SHA256", NULL, NULL, pub, NULL)) {
		log_openssl("jws: verify init");
		goto fail;
	}
	v = EVP_DigestVerify(ctx, der, (size_t)derlen, (const unsigned char *)signing_input,
	    len);
	if (v == 1)
		rc = 0;
	/* A mismatch leaves an error on the queue; it is an answer, not a failure. */
	ERR_clear_error();
fail:
	EVP_MD_CTX_free(ctx);
	OPENSSL_free(der);
	ECDSA_SIG_free(esig);
	return rc;
}

/* The base64url of <payload> (malloc'd; "" for NULL or ""). */
static char *
payload_to_b64(const char *payload)
{
	char *out;

	if (payload == NULL || *payload == '\0') {
		if ((out = strdup("")) == NULL)
			log_err("jws: out of memory");
		return out;
	}
	return b64url_encode_alloc(payload, strlen(payload));
}

/* Assembles {"protected":…,"payload":…,"signature":…}. The three parts are base64url, so no
 * escaping is needed. */
static char *
flattened(const char *prot, const char *payload, const char *sig)
{
	char *out;

	if (asprintf(&out, "{\"protected\":\"%s\",\"payload\":\"%s\",\"signature\":\"%s\"}",
	    prot, payload, sig) == -1) {
		log_err("jws: out of memory");
		return NULL;
	}
	return out;
}

/* Adds the string <val> to <obj> under <name>. jansson refuses text that is not UTF-8,
 * which is the right answer for a header value too. */
static int
header_set(json_t *obj, const char *name, const char *val)
{
	json_t *s;

	if ((s = json_string(val)) == NULL || json_object_set_new(obj, name, s) == -1) {
		log_err("jws: cannot put %s in the protected header (not UTF-8?)", name);
		return -1;
	}
	return 0;
}

char *
jws_flattened(EVP_PKEY *key, const char *alg, const char *kid_or_null, const char *nonce,
    const char *url, const char *payload_json)
{
	json_t *hdr = NULL, *jwk = NULL;
	json_error_t jerr;
	char *jwk_str = NULL, *hdr_str = NULL, *prot = NULL, *pay = NULL, *sig = NULL;
	char *input = NULL, *out = NULL;
	int kind, n;

	if ((kind = key_kind_of(key)) == -1)
		goto fail;
	if (alg == NULL)
		alg = kind == KEY_EC_P256 ? "ES256" : "RS256";
	if (!((kind == KEY_EC_P256 && strcmp(alg, "ES256") == 0) ||
	    (kind == KEY_RSA && strcmp(alg, "RS256") == 0))) {
		log_err("jws: alg %s does not fit the %s key", alg,
		    kind == KEY_EC_P256 ? "EC P-256" : "RSA");
		goto fail;
	}
	if (url == NULL) {
		log_err("jws: no url for the protected header");
		goto fail;
	}

	if ((hdr = json_object()) == NULL || header_set(hdr, "alg", alg) == -1)
		goto fail;
	if (kid_or_null != NULL) {
		if (header_set(hdr, "kid", kid_or_null) == -1)
			goto fail;
	} else {
		/* The header's jwk is parsed from the canonical string, so it carries exactly
		 * the members the thumbprint is computed over. */
		if (jwk_public_json(key, &jwk_str) == -1)
			goto fail;
		if ((jwk = json_loads(jwk_str, 0, &jerr)) == NULL ||
		    json_object_set_new(hdr, "jwk", jwk) == -1) {
			jwk = NULL;
			log_err("jws: cannot put jwk in the protected header");
			goto fail;
		}
	}
	if (nonce != NULL && header_set(hdr, "nonce", nonce) == -1)
		goto fail;
	if (header_set(hdr, "url", url) == -1)
		goto fail;
	/* The serialized string is encoded once and those exact bytes are signed. */
	if ((hdr_str = json_dumps(hdr, JSON_COMPACT)) == NULL) {
		log_err("jws: serializing the protected header");
		goto fail;
	}
	if ((prot = b64url_encode_alloc(hdr_str, strlen(hdr_str))) == NULL ||
	    (pay = payload_to_b64(payload_json)) == NULL)
		goto fail;
	if ((n = asprintf(&input, "%s.%s", prot, pay)) == -1) {
		input = NULL;
		log_err("jws: out of memory");
		goto fail;
	}
	if (sign_input(key, (enum key_kind)kind, input, (size_t)n, &sig) == -1)
		goto fail;
	out = flattened(prot, pay, sig);
fail:
	free(input);
	free(sig);
	free(pay);
	free(prot);
	free(hdr_str);
	free(jwk_str);
	json_decref(hdr);
	return out;
}

char *
jws_eab(const char *eab_kid, const uint8_t *hmac_key, size_t keylen, EVP_PKEY *account_key,
    const char *url)
{
	json_t *hdr = NULL;
	char *hdr_str = NULL, *jwk = NULL, *prot = NULL, *pay = NULL, *input = NULL;
	char *out = NULL;
	unsigned char mac[SHA256_LEN];
	char sig[B64URL_LEN(SHA256_LEN) + 1];
	size_t maclen = 0;
	int n;

	if (eab_kid == NULL || url == NULL || hmac_key == NULL || keylen == 0) {
		log_err("eab: key id, HMAC key and url are all required");
		goto fail;
	}
	/* The payload is the account's public JWK, the same one the outer JWS carries. */
	if (jwk_public_json(account_key, &jwk) == -1)
		goto fail;
	/* No nonce: the outer JWS carries it (RFC 8555 §7.3.4). */
	if ((hdr = json_object()) == NULL || header_set(hdr, "alg", "HS256") == -1 ||
	    header_set(hdr, "kid", eab_kid) == -1 || header_set(hdr, "url", url) == -1)
		goto fail;
	if ((hdr_str = json_dumps(hdr, JSON_COMPACT)) == NULL) {
		log_err("eab: serializing the protected header");
		goto fail;
	}
	if ((prot = b64url_encode_alloc(hdr_str, strlen(hdr_str))) == NULL ||
	    (pay = b64url_encode_alloc(jwk, strlen(jwk))) == NULL)
		goto fail;
	if ((n = asprintf(&input, "%s.%s", prot, pay)) == -1) {
		input = NULL;
		log_err("eab: out of memory");
		goto fail;
	}
	if (EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, hmac_key, keylen,
	    (const unsigned char *)input, (size_t)n, mac, sizeof(mac), &maclen) == NULL ||
	    maclen != sizeof(mac)) {
		log_openssl("eab: HMAC-SHA256");
		goto fail;
	}
	b64url_encode(mac, maclen, sig);
	out = flattened(prot, pay, sig);
fail:
	OPENSSL_cleanse(mac, sizeof(mac));
	free(input);
	free(pay);
	free(prot);
	free(hdr_str);
	free(jwk);
	json_decref(hdr);
	return out;
}

int
key_authorization(EVP_PKEY *account_key, const char *token, char **out)
{
	char tp[JWK_THUMBPRINT_LEN + 1];

	*out = NULL;
	if (token == NULL || !b64url_alphabet_ok(token, strlen(token))) {
		log_err("key authorization: the challenge token is not base64url");
		return -1;
	}
	if (jwk_thumbprint(account_key, tp) == -1)
		return -1;
	if (asprintf(out, "%s.%s", token, tp) == -1) {
		*out = NULL;
		log_err("key authorization: out of memory");
		return -1;
	}
	return 0;
}

int
dns01_txt_value(const char *keyauth, char out[JWK_THUMBPRINT_LEN + 1])
{
	out[0] = '\0';
	if (keyauth == NULL) {
		log_err("dns-01: no key authorization");
		return -1;
	}
	return sha256_b64url(keyauth, strlen(keyauth), out);
}

EVP_PKEY *
key_generate_p256(void)
{
	EVP_PKEY *key;

	if ((key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")) == NULL)
		log_openssl("generating a P-256 key");
	return key;
}

int
key_to_pem(EVP_PKEY *key, char **pem)
{
	BIO *bio = NULL;
	char *data;
	long len;
	int rc = -1;

	*pem = NULL;
	/* A secure-memory BIO wipes its buffer when freed, so the only copy of the PEM that
	 * outlives this function is the caller's. */
	if ((bio = BIO_new(BIO_s_secmem())) == NULL ||
	    !PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL)) {
		log_openssl("writing the private key");
		goto fail;
	}
	if ((len = BIO_get_mem_data(bio, &data)) <= 0) {
		log_openssl("writing the private key");
		goto fail;
	}
	if ((*pem = malloc((size_t)len + 1)) == NULL) {
		log_err("writing the private key: out of memory");
		goto fail;
	}
	memcpy(*pem, data, (size_t)len);
	(*pem)[len] = '\0';
	rc = 0;
fail:
	BIO_free(bio);
	return rc;
}

void
key_pem_free(char *pem)
{
	if (pem == NULL)
		return;
	OPENSSL_cleanse(pem, strlen(pem));
	free(pem);
}

/* A passphrase callback that supplies none: without it OpenSSL would prompt on the
 * controlling terminal for an encrypted key, and a daemon must fail instead. */
static int
no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

EVP_PKEY *
key_from_pem(const char *pem)
{
	BIO *bio;
	EVP_PKEY *key = NULL;

	if (pem == NULL) {
		log_err("reading the private key: no PEM");
		return NULL;
	}
	if ((bio = BIO_new_mem_buf(pem, -1)) == NULL) {
		log_openssl("reading the private key");
		return NULL;
	}
	if ((key = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL)) == NULL)
		log_openssl("reading the private key (unencrypted PEM expected)");
	BIO_free(bio);
	return key;
}
