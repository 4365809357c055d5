/* Known-answer tests for agent/acme_cert.c: the RFC 9773 certificate identifier (from the
 * RFC's bytes and from its Appendix A certificate), the RFC 8737 extension value against an
 * independent `openssl dgst -sha256`, CSRs and challenge certificates parsed back. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "agent/acme_cert.h"
#include "agent/b64.h"
#include "agent/jws.h"
#include "agent/log.h"
#include "tests/unit/unit.h"

/* RFC 9773 §4.1: AKI keyIdentifier, serial DER content octets, and the identifier. */
static const uint8_t rfc9773_aki[] = {
	0x69, 0x88, 0x5b, 0x6b, 0x87, 0x46, 0x40, 0x41, 0xe1, 0xb3,
	0x7b, 0x84, 0x7b, 0xa0, 0xae, 0x2c, 0xde, 0x01, 0xc8, 0xd4,
};
static const uint8_t rfc9773_serial[] = { 0x00, 0x87, 0x65, 0x43, 0x21 };
static const char rfc9773_id[] = "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE";

/* RFC 9773 Appendix A: the example end-entity certificate. */
static const char rfc9773_cert[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBQzCB66ADAgECAgUAh2VDITAKBggqhkjOPQQDAjAVMRMwEQYDVQQDEwpFeGFt\n"
    "cGxlIENBMCIYDzAwMDEwMTAxMDAwMDAwWhgPMDAwMTAxMDEwMDAwMDBaMBYxFDAS\n"
    "BgNVBAMTC2V4YW1wbGUuY29tMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEeBZu\n"
    "7cbpAYNXZLbbh8rNIzuOoqOOtmxA1v7cRm//AwyMwWxyHz4zfwmBhcSrf47NUAFf\n"
    "qzLQ2PPQxdTXREYEnKMjMCEwHwYDVR0jBBgwFoAUaYhba4dGQEHhs3uEe6CuLN4B\n"
    "yNQwCgYIKoZIzj0EAwIDRwAwRAIge09+S5TZAlw5tgtiVvuERV6cT4mfutXIlwTb\n"
    "+FYN/8oCIClDsqBklhB9KAelFiYt9+6FDj3z4KGVelYM5MdsO3pK\n"
    "-----END CERTIFICATE-----\n";

/* The key authorization of RFC 8555's example token with the RFC 7638 key, and its SHA-256
 * from `printf '%s' "$KA" | openssl dgst -sha256`. */
static const char example_keyauth[] =
    "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";
static const uint8_t example_keyauth_sha256[] = {
	0x65, 0x34, 0x71, 0xd4, 0x29, 0x25, 0xd7, 0xeb, 0x4c, 0xd3, 0x9a, 0x39, 0xcd, 0xa8, 0xb3,
	0x4d, 0x30, 0x34, 0xc9, 0x4c, 0xb9, 0x00, 0x67, 0xab, 0x78, 0xc8, 0x12, 0x35, 0x60, 0xba,
	0x2e, 0x5f,
};

/* Makes a certificate signed by <key> with the given serial (big-endian magnitude) and, when
 * <aki> is not NULL, that AKI keyIdentifier, valid from <nb> to <na>; returned after a DER
 * round trip so nothing cached while building it survives. */
static X509 *
make_cert(EVP_PKEY *key, const uint8_t *serial, size_t serlen, const uint8_t *aki,
    size_t akilen, time_t nb, time_t na)
{
	X509 *x = X509_new(), *back = NULL;
	BIGNUM *bn = BN_bin2bn(serial, (int)serlen, NULL);
	AUTHORITY_KEYID *akid = NULL;
	unsigned char *der = NULL;
	const unsigned char *p;
	int len;

	if (x == NULL || bn == NULL || !X509_set_version(x, X509_VERSION_3) ||
	    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL ||
	    ASN1_TIME_set(X509_getm_notBefore(x), nb) == NULL ||
	    ASN1_TIME_set(X509_getm_notAfter(x), na) == NULL ||
	    !X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
	    (const unsigned char *)"test", -1, -1, 0) ||
	    !X509_set_issuer_name(x, X509_get_subject_name(x)) || !X509_set_pubkey(x, key))
		goto out;
	if (aki != NULL) {
		if ((akid = AUTHORITY_KEYID_new()) == NULL ||
		    (akid->keyid = ASN1_OCTET_STRING_new()) == NULL ||
		    !ASN1_OCTET_STRING_set(akid->keyid, aki, (int)akilen) ||
		    X509_add1_ext_i2d(x, NID_authority_key_identifier, akid, 0, 0) != 1)
			goto out;
	}
	if (X509_sign(x, key, EVP_sha256()) <= 0 || (len = i2d_X509(x, &der)) <= 0)
		goto out;
	p = der;
	back = d2i_X509(NULL, &p, len);
out:
	OPENSSL_free(der);
	AUTHORITY_KEYID_free(akid);
	BN_free(bn);
	X509_free(x);
	return back;
}

static char *
cert_pem(X509 *x)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data, *out = NULL;
	long len;

	if (bio != NULL && PEM_write_bio_X509(bio, x) == 1 &&
	    (len = BIO_get_mem_data(bio, &data)) > 0)
		out = strndup(data, (size_t)len);
	BIO_free(bio);
	return out;
}

/* The dNSName entries of a SAN extension, as a newline-joined string (malloc'd), and
 * whether any entry is not a dNSName. */
static char *
san_dns_list(GENERAL_NAMES *gens, int *other)
{
	char *out = strdup(""), *tmp;
	int i;

	*other = 0;
	for (i = 0; out != NULL && i < sk_GENERAL_NAME_num(gens); i++) {
		GENERAL_NAME *gn = sk_GENERAL_NAME_value(gens, i);

		if (gn->type != GEN_DNS) {
			*other = 1;
			continue;
		}
		if (asprintf(&tmp, "%s%s%.*s", out, *out ? "\n" : "",
		    ASN1_STRING_length(gn->d.dNSName),
		    (const char *)ASN1_STRING_get0_data(gn->d.dNSName)) == -1)
			tmp = NULL;
		free(out);
		out = tmp;
	}
	return out;
}

static void
test_ari_rfc9773_bytes(void)
{
	char *id = NULL;

	UNIT_CHECK(ari_cert_id_raw(rfc9773_aki, sizeof(rfc9773_aki), rfc9773_serial,
	    sizeof(rfc9773_serial), &id) == 0);
	UNIT_CHECK_STR(id, rfc9773_id);
	free(id);
	id = NULL;
	UNIT_CHECK(ari_cert_id_raw(rfc9773_aki, 0, rfc9773_serial, 5, &id) == -1 && id == NULL);
	UNIT_CHECK(ari_cert_id_raw(rfc9773_aki, 20, NULL, 0, &id) == -1 && id == NULL);
}

static void
test_ari_rfc9773_certificate(void)
{
	X509 *leaf = NULL;
	STACK_OF(X509) *chain = NULL;
	char *id = NULL;
	time_t t = 0;

	UNIT_CHECK(chain_load_pem(rfc9773_cert, strlen(rfc9773_cert), &leaf, &chain) == 0);
	UNIT_CHECK(leaf != NULL && chain != NULL && sk_X509_num(chain) == 0);
	if (leaf == NULL)
		goto out;
	UNIT_CHECK(ari_cert_id(leaf, &id) == 0);
	UNIT_CHECK_STR(id, rfc9773_id);
	/* Its validity is 0001-01-01T00:00:00Z both ways (GeneralizedTime, before 1950). */
	UNIT_CHECK(cert_not_before(leaf, &t) == 0 && t == (time_t)-62135596800LL);
	UNIT_CHECK(cert_not_after(leaf, &t) == 0 && t == (time_t)-62135596800LL);
out:
	free(id);
	X509_free(leaf);
	sk_X509_pop_free(chain, X509_free);
}

static void
test_ari_generated_certificates(void)
{
	static const uint8_t aki[20] = {
		0x00, 0x01, 0x02, 0x03, 0xfc, 0xfd, 0xfe, 0xff, 0x10, 0x20,
		0x30, 0x40, 0x50, 0x60, 0x70, 0x80, 0x90, 0xa0, 0xb0, 0xc0,
	};
	static const uint8_t high[] = { 0xff, 0x00 };        /* top bit set: DER 00 ff 00 */
	static const uint8_t low[] = { 0x01, 0x02 };         /* DER 01 02 */
	static const uint8_t rfc[] = { 0x87, 0x65, 0x43, 0x21 };
	/* The same 0x8765... serial in a long (128-bit, top bit set) form. */
	static const uint8_t big[16] = {
		0x80, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
		0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff,
	};
	uint8_t bigder[17];
	char akib64[B64URL_LEN(sizeof(aki)) + 1], serb64[32], *want = NULL, *id = NULL;
	EVP_PKEY *key = key_generate_p256();
	X509 *x = NULL;

	UNIT_CHECK(key != NULL);
	if (key == NULL)
		return;
	b64url_encode(aki, sizeof(aki), akib64);
	UNIT_CHECK_STR(akib64, "AAECA_z9_v8QIDBAUGBwgJCgsMA");

	UNIT_CHECK((x = make_cert(key, high, sizeof(high), aki, sizeof(aki), 0, 1)) != NULL);
	UNIT_CHECK(ari_cert_id(x, &id) == 0);
	UNIT_CHECK_STR(id, "AAECA_z9_v8QIDBAUGBwgJCgsMA.AP8A");
	free(id);
	id = NULL;
	X509_free(x);

	UNIT_CHECK((x = make_cert(key, low, sizeof(low), aki, sizeof(aki), 0, 1)) != NULL);
	UNIT_CHECK(ari_cert_id(x, &id) == 0);
	UNIT_CHECK_STR(id, "AAECA_z9_v8QIDBAUGBwgJCgsMA.AQI");
	free(id);
	id = NULL;
	X509_free(x);

	/* The RFC's AKI and serial on a certificate of our own give the RFC's identifier. */
	UNIT_CHECK((x = make_cert(key, rfc, sizeof(rfc), rfc9773_aki, sizeof(rfc9773_aki), 0,
	    1)) != NULL);
	UNIT_CHECK(ari_cert_id(x, &id) == 0);
	UNIT_CHECK_STR(id, rfc9773_id);
	free(id);
	id = NULL;
	X509_free(x);

	bigder[0] = 0x00;
	memcpy(bigder + 1, big, sizeof(big));
	b64url_encode(bigder, sizeof(bigder), serb64);
	UNIT_CHECK(asprintf(&want, "%s.%s", akib64, serb64) > 0);
	UNIT_CHECK((x = make_cert(key, big, sizeof(big), aki, sizeof(aki), 0, 1)) != NULL);
	UNIT_CHECK(ari_cert_id(x, &id) == 0);
	UNIT_CHECK_STR(id, want);
	free(id);
	id = NULL;
	X509_free(x);

	/* No AKI: no identifier. */
	UNIT_CHECK((x = make_cert(key, low, sizeof(low), NULL, 0, 0, 1)) != NULL);
	UNIT_CHECK(ari_cert_id(x, &id) == -1 && id == NULL);
	X509_free(x);
	free(want);
	EVP_PKEY_free(key);
}

static void
test_cert_times(void)
{
	static const uint8_t serial[] = { 0x01 };
	EVP_PKEY *key = key_generate_p256();
	X509 *x = NULL;
	time_t nb = 1700000000, na = 1700000000 + 90 * 86400, t = 0;
	/* 2050-12-31T23:59:59Z: a GeneralizedTime, used from 2050 on (RFC 5280 §4.1.2.5). */
	time_t far = 2556143999;

	UNIT_CHECK(key != NULL && (x = make_cert(key, serial, 1, NULL, 0, nb, na)) != NULL);
	UNIT_CHECK(cert_not_before(x, &t) == 0 && t == nb);
	UNIT_CHECK(cert_not_after(x, &t) == 0 && t == na);
	X509_free(x);
	UNIT_CHECK((x = make_cert(key, serial, 1, NULL, 0, nb, far)) != NULL);
	UNIT_CHECK(cert_not_after(x, &t) == 0 && t == far);
	X509_free(x);
	EVP_PKEY_free(key);
}

static void
test_tls_alpn01_extension(void)
{
	uint8_t ext[ACME_IDENT_EXT_LEN];

	UNIT_CHECK(tls_alpn01_extension(example_keyauth, ext) == 0);
	UNIT_CHECK(ext[0] == 0x04 && ext[1] == 0x20);
	UNIT_CHECK_MEM(ext + 2, example_keyauth_sha256, 32);
	UNIT_CHECK(tls_alpn01_extension("", ext) == -1);
	UNIT_CHECK(tls_alpn01_extension(NULL, ext) == -1);
}

static void
test_tls_alpn01_cert(void)
{
	static const char name[] = "www.example.test";
	uint8_t want[ACME_IDENT_EXT_LEN];
	X509 *cert = NULL;
	EVP_PKEY *key = NULL;
	ASN1_OBJECT *oid = NULL;
	X509_EXTENSION *ext;
	const ASN1_OCTET_STRING *val;
	GENERAL_NAMES *gens = NULL;
	char *names = NULL;
	int idx, other = 1;
	time_t nb = 0, na = 0, now = time(NULL);

	UNIT_CHECK(tls_alpn01_cert(name, example_keyauth, &cert, &key) == 0);
	UNIT_CHECK(cert != NULL && key != NULL);
	if (cert == NULL || key == NULL)
		goto out;
	/* Self-signed with its own new P-256 key. */
	UNIT_CHECK(X509_verify(cert, key) == 1);
	UNIT_CHECK(cert_key_match(cert, key) == 0);
	UNIT_CHECK(EVP_PKEY_is_a(key, "EC"));
	UNIT_CHECK(X509_get_version(cert) == X509_VERSION_3);
	/* Exactly one SAN entry, the dNSName. */
	UNIT_CHECK((gens = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL)) != NULL);
	UNIT_CHECK(sk_GENERAL_NAME_num(gens) == 1);
	UNIT_CHECK_STR((names = san_dns_list(gens, &other)), name);
	UNIT_CHECK(other == 0);
	/* The acmeIdentifier extension: once, critical, value 04 20 SHA-256(keyauth). */
	UNIT_CHECK((oid = OBJ_txt2obj("1.3.6.1.5.5.7.1.31", 1)) != NULL);
	UNIT_CHECK((idx = X509_get_ext_by_OBJ(cert, oid, -1)) >= 0);
	UNIT_CHECK(X509_get_ext_by_OBJ(cert, oid, idx) == -1);
	if (idx >= 0) {
		ext = X509_get_ext(cert, idx);
		UNIT_CHECK(X509_EXTENSION_get_critical(ext) == 1);
		val = X509_EXTENSION_get_data(ext);
		UNIT_CHECK(ASN1_STRING_length(val) == ACME_IDENT_EXT_LEN);
		want[0] = 0x04;
		want[1] = 0x20;
		memcpy(want + 2, example_keyauth_sha256, 32);
		UNIT_CHECK(ASN1_STRING_length(val) == ACME_IDENT_EXT_LEN &&
		    memcmp(ASN1_STRING_get0_data(val), want, ACME_IDENT_EXT_LEN) == 0);
	}
	/* Valid now. */
	UNIT_CHECK(cert_not_before(cert, &nb) == 0 && nb <= now);
	UNIT_CHECK(cert_not_after(cert, &na) == 0 && na > now + 86400);
	/* Two certificates never share a serial. */
	{
		X509 *c2 = NULL;
		EVP_PKEY *k2 = NULL;

		UNIT_CHECK(tls_alpn01_cert(name, example_keyauth, &c2, &k2) == 0);
		UNIT_CHECK(c2 != NULL && ASN1_INTEGER_cmp(X509_get0_serialNumber(cert),
		    X509_get0_serialNumber(c2)) != 0);
		UNIT_CHECK(c2 != NULL && cert_key_match(c2, key) == -1);
		X509_free(c2);
		EVP_PKEY_free(k2);
	}
out:
	free(names);
	GENERAL_NAMES_free(gens);
	ASN1_OBJECT_free(oid);
	X509_free(cert);
	EVP_PKEY_free(key);
}

static void
test_tls_alpn01_cert_rejects(void)
{
	X509 *cert = NULL;
	EVP_PKEY *key = NULL;

	UNIT_CHECK(tls_alpn01_cert("*.example.test", example_keyauth, &cert, &key) == -1);
	UNIT_CHECK(tls_alpn01_cert("a b.test", example_keyauth, &cert, &key) == -1);
	UNIT_CHECK(tls_alpn01_cert("", example_keyauth, &cert, &key) == -1);
	UNIT_CHECK(tls_alpn01_cert(NULL, example_keyauth, &cert, &key) == -1);
	UNIT_CHECK(tls_alpn01_cert("x.test", "", &cert, &key) == -1);
	UNIT_CHECK(cert == NULL && key == NULL);
}

/* Parses <der> as a CSR and checks signature, key, SANs and signature algorithm. */
static void
check_csr(const uint8_t *der, size_t len, EVP_PKEY *key, const char *sans, int sig_nid,
    const char *cn)
{
	const unsigned char *p = der;
	X509_REQ *req = d2i_X509_REQ(NULL, &p, (long)len);
	STACK_OF(X509_EXTENSION) *exts = NULL;
	GENERAL_NAMES *gens = NULL;
	EVP_PKEY *pub;
	char *names = NULL, buf[256];
	int other = 1, n;

	UNIT_CHECK(req != NULL && p == der + len);
	if (req == NULL)
		return;
	UNIT_CHECK((pub = X509_REQ_get0_pubkey(req)) != NULL);
	UNIT_CHECK(X509_REQ_verify(req, pub) == 1);
	UNIT_CHECK(EVP_PKEY_eq(pub, key) == 1);
	UNIT_CHECK(X509_REQ_get_version(req) == X509_REQ_VERSION_1);
	UNIT_CHECK(X509_REQ_get_signature_nid(req) == sig_nid);
	UNIT_CHECK((exts = X509_REQ_get_extensions(req)) != NULL);
	UNIT_CHECK((gens = X509V3_get_d2i(exts, NID_subject_alt_name, NULL, NULL)) != NULL);
	UNIT_CHECK_STR((names = san_dns_list(gens, &other)), sans);
	UNIT_CHECK(other == 0);
	n = X509_NAME_get_text_by_NID(X509_REQ_get_subject_name(req), NID_commonName, buf,
	    sizeof(buf));
	if (cn != NULL)
		UNIT_CHECK(n > 0 && strcmp(buf, cn) == 0);
	else
		UNIT_CHECK(n == -1);
	ERR_clear_error();
	free(names);
	GENERAL_NAMES_free(gens);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	X509_REQ_free(req);
}

static void
test_csr_roundtrip(void)
{
	static const char *const names[] = { "example.test", "www.example.test", "*.example.org" };
	static const char long_label[] =
	    "a-label-long-enough-that-the-whole-name-exceeds-the-cn-limit.example.test";
	const char *const one[] = { long_label };
	EVP_PKEY *ec = key_generate_p256();
	EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	uint8_t *der = NULL;
	size_t len = 0;

	UNIT_CHECK(ec != NULL && rsa != NULL);
	UNIT_CHECK(csr_make(ec, names, 3, &der, &len) == 0);
	UNIT_CHECK(der != NULL && len > 0);
	if (der != NULL)
		check_csr(der, len, ec, "example.test\nwww.example.test\n*.example.org",
		    NID_ecdsa_with_SHA256, "example.test");
	free(der);
	der = NULL;
	UNIT_CHECK(csr_make(rsa, names + 1, 1, &der, &len) == 0);
	if (der != NULL)
		check_csr(der, len, rsa, "www.example.test", NID_sha256WithRSAEncryption,
		    "www.example.test");
	free(der);
	der = NULL;
	/* A first name over 64 characters goes in the SAN only. */
	UNIT_CHECK(strlen(long_label) > 64);
	UNIT_CHECK(csr_make(ec, one, 1, &der, &len) == 0);
	if (der != NULL)
		check_csr(der, len, ec, long_label, NID_ecdsa_with_SHA256, NULL);
	free(der);
	EVP_PKEY_free(ec);
	EVP_PKEY_free(rsa);
}

static void
test_csr_rejects(void)
{
	static const char *const spaced[] = { "ok.test", "bad name.test" };
	static const char *const ctl[] = { "ok.test\n" };
	static const char *const empty[] = { "" };
	static const char *const null[] = { NULL };
	static const char *const midstar[] = { "a.*.test" };
	EVP_PKEY *key = key_generate_p256();
	uint8_t *der = NULL;
	size_t len = 0;

	UNIT_CHECK(key != NULL);
	UNIT_CHECK(csr_make(key, spaced, 2, &der, &len) == -1);
	UNIT_CHECK(csr_make(key, ctl, 1, &der, &len) == -1);
	UNIT_CHECK(csr_make(key, empty, 1, &der, &len) == -1);
	UNIT_CHECK(csr_make(key, null, 1, &der, &len) == -1);
	UNIT_CHECK(csr_make(key, midstar, 1, &der, &len) == -1);
	UNIT_CHECK(csr_make(key, spaced, 0, &der, &len) == -1);
	UNIT_CHECK(csr_make(NULL, spaced, 1, &der, &len) == -1);
	UNIT_CHECK(der == NULL && len == 0);
	EVP_PKEY_free(key);
}

static void
test_chain_load_pem(void)
{
	static const uint8_t s1[] = { 0x01 }, s2[] = { 0x02 };
	EVP_PKEY *key = key_generate_p256();
	X509 *a = NULL, *b = NULL, *leaf = NULL;
	STACK_OF(X509) *chain = NULL;
	char *pa = NULL, *pb = NULL, *full = NULL, *bad = NULL, *p;

	UNIT_CHECK(key != NULL);
	UNIT_CHECK((a = make_cert(key, s1, 1, NULL, 0, 0, 1)) != NULL);
	UNIT_CHECK((b = make_cert(key, s2, 1, NULL, 0, 0, 1)) != NULL);
	UNIT_CHECK((pa = cert_pem(a)) != NULL && (pb = cert_pem(b)) != NULL);
	if (pa == NULL || pb == NULL)
		goto out;
	/* Leaf first, then issuers, with stray text between blocks as some CAs send. */
	UNIT_CHECK(asprintf(&full, "%s\n%s# comment\n%s", pa, pb, rfc9773_cert) > 0);
	UNIT_CHECK(chain_load_pem(full, strlen(full), &leaf, &chain) == 0);
	UNIT_CHECK(leaf != NULL && X509_cmp(leaf, a) == 0);
	UNIT_CHECK(chain != NULL && sk_X509_num(chain) == 2);
	if (chain != NULL && sk_X509_num(chain) == 2)
		UNIT_CHECK(X509_cmp(sk_X509_value(chain, 0), b) == 0);
	X509_free(leaf);
	sk_X509_pop_free(chain, X509_free);
	leaf = NULL;
	chain = NULL;
	/* No certificate, nothing at all, a corrupted block. */
	UNIT_CHECK(chain_load_pem("hello\n", 6, &leaf, &chain) == -1);
	UNIT_CHECK(chain_load_pem("", 0, &leaf, &chain) == -1);
	UNIT_CHECK((bad = strdup(full)) != NULL);
	if (bad != NULL) {
		/* Damage the second block's body. */
		p = strstr(bad + strlen(pa), "-----BEGIN CERTIFICATE-----\n") + 28;
		p[10] = '!';
		UNIT_CHECK(chain_load_pem(bad, strlen(bad), &leaf, &chain) == -1);
		/* A truncated last block. */
		strcpy(bad, full);
		bad[strlen(bad) - 40] = '\0';
		UNIT_CHECK(chain_load_pem(bad, strlen(bad), &leaf, &chain) == -1);
	}
	UNIT_CHECK(leaf == NULL && chain == NULL);
	/* A leaf alone gives an empty chain. */
	UNIT_CHECK(chain_load_pem(pa, strlen(pa), &leaf, &chain) == 0);
	UNIT_CHECK(chain != NULL && sk_X509_num(chain) == 0);
	UNIT_CHECK(leaf != NULL && cert_key_match(leaf, key) == 0);
out:
	X509_free(leaf);
	sk_X509_pop_free(chain, X509_free);
	free(bad);
	free(full);
	free(pa);
	free(pb);
	X509_free(a);
	X509_free(b);
	EVP_PKEY_free(key);
}

int
main(void)
{
	log_init("test_acme_cert", 0);
	UNIT_RUN(test_ari_rfc9773_bytes);
	UNIT_RUN(test_ari_rfc9773_certificate);
	UNIT_RUN(test_ari_generated_certificates);
	UNIT_RUN(test_cert_times);
	UNIT_RUN(test_tls_alpn01_extension);
	UNIT_RUN(test_tls_alpn01_cert);
	UNIT_RUN(test_tls_alpn01_cert_rejects);
	UNIT_RUN(test_csr_roundtrip);
	UNIT_RUN(test_csr_rejects);
	UNIT_RUN(test_chain_load_pem);
	return unit_summary();
}
