#include "agent/acme_cert.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "agent/b64.h"
#include "agent/log.h"

/* id-pe-acmeIdentifier, RFC 8737 §6.1 (id-pe 31). */
#define OID_ACME_IDENTIFIER "1.3.6.1.5.5.7.1.31"
/* ub-common-name, RFC 5280 Appendix A. */
#define CN_MAX 64
#define DNS_NAME_MAX 253
#define SERIAL_BYTES 16
#define ALPN_CERT_DAYS 7

/* 1 when <s> looks like a DNS name we may put in a certificate: 1 to 253 characters of
 * letters, digits, '-' and '.', and '*' only as a whole leftmost label when <wild>. The CA
 * checks the rest; this keeps control characters and spaces out of the ASN.1 (and of the
 * logs, so a refused name can be printed with log_escape()). */
static int
dns_name_ok(const char *s, int wild)
{
	size_t i, len;

	if (s == NULL || (len = strlen(s)) == 0 || len > DNS_NAME_MAX)
		return 0;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '*' && wild && i == 0 && len > 2 && s[1] == '.')
			continue;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.'))
			return 0;
	}
	return 1;
}

static void
log_bad_name(const char *what, const char *name)
{
	char esc[128];

	if (name == NULL)
		log_err("%s: no name", what);
	else
		log_err("%s: \"%s\" is not a DNS name", what,
		    log_escape(esc, sizeof(esc), name, strlen(name)));
}

/* A GENERAL_NAMES holding one dNSName per entry of <names>, or NULL (logged). */
static GENERAL_NAMES *
dns_general_names(const char *const *names, size_t n)
{
	GENERAL_NAMES *gens;
	GENERAL_NAME *gn = NULL;
	ASN1_IA5STRING *ia5 = NULL;
	size_t i;

	if ((gens = sk_GENERAL_NAME_new_null()) == NULL)
		goto fail;
	for (i = 0; i < n; i++) {
		if ((gn = GENERAL_NAME_new()) == NULL || (ia5 = ASN1_IA5STRING_new()) == NULL ||
		    !ASN1_STRING_set(ia5, names[i], -1))
			goto fail;
		GENERAL_NAME_set0_value(gn, GEN_DNS, ia5);
		ia5 = NULL;
		if (!sk_GENERAL_NAME_push(gens, gn))
			goto fail;
		gn = NULL;
	}
	return gens;
fail:
	log_openssl("building subjectAltName");
	ASN1_IA5STRING_free(ia5);
	GENERAL_NAME_free(gn);
	GENERAL_NAMES_free(gens);
	return NULL;
}

/* A subject (or issuer) name CN=<cn>, or an empty one when <cn> is too long for a CN. */
static X509_NAME *
cn_name(const char *cn)
{
	X509_NAME *nm;

	if ((nm = X509_NAME_new()) == NULL)
		goto fail;
	if (strlen(cn) <= CN_MAX && !X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC,
	    (const unsigned char *)cn, -1, -1, 0))
		goto fail;
	return nm;
fail:
	log_openssl("building the subject name");
	X509_NAME_free(nm);
	return NULL;
}

int
csr_make(EVP_PKEY *key, const char *const *names, size_t n, uint8_t **der, size_t *len)
{
	X509_REQ *req = NULL;
	X509_NAME *subj = NULL;
	GENERAL_NAMES *gens = NULL;
	STACK_OF(X509_EXTENSION) *exts = NULL;
	unsigned char *p;
	int dlen, rc = -1;
	size_t i;

	*der = NULL;
	*len = 0;
	if (key == NULL || names == NULL || n == 0) {
		log_err("csr: a key and at least one name are required");
		return -1;
	}
	for (i = 0; i < n; i++)
		if (!dns_name_ok(names[i], 1)) {
			log_bad_name("csr", names[i]);
			return -1;
		}
	if ((req = X509_REQ_new()) == NULL ||
	    !X509_REQ_set_version(req, X509_REQ_VERSION_1) ||
	    (subj = cn_name(names[0])) == NULL ||
	    !X509_REQ_set_subject_name(req, subj) ||
	    !X509_REQ_set_pubkey(req, key)) {
		log_openssl("csr: building the request");
		goto fail;
	}
	if ((gens = dns_general_names(names, n)) == NULL)
		goto fail;
	if (X509V3_add1_i2d(&exts, NID_subject_alt_name, gens, 0, X509V3_ADD_APPEND) != 1 ||
	    !X509_REQ_add_extensions(req, exts)) {
		log_openssl("csr: adding subjectAltName");
		goto fail;
	}
	if (X509_REQ_sign(req, key, EVP_sha256()) <= 0) {
		log_openssl("csr: signing");
		goto fail;
	}
	/* Into malloc'd memory, so the caller frees it like everything else here. */
	if ((dlen = i2d_X509_REQ(req, NULL)) <= 0) {
		log_openssl("csr: encoding");
		goto fail;
	}
	if ((*der = malloc((size_t)dlen)) == NULL) {
		log_err("csr: out of memory");
		goto fail;
	}
	p = *der;
	if (i2d_X509_REQ(req, &p) != dlen) {
		log_openssl("csr: encoding");
		free(*der);
		*der = NULL;
		goto fail;
	}
	*len = (size_t)dlen;
	rc = 0;
fail:
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	GENERAL_NAMES_free(gens);
	X509_NAME_free(subj);
	X509_REQ_free(req);
	return rc;
}

int
tls_alpn01_extension(const char *keyauth, uint8_t out[ACME_IDENT_EXT_LEN])
{
	unsigned int mdlen = 0;

	if (keyauth == NULL || *keyauth == '\0') {
		log_err("tls-alpn-01: no key authorization");
		return -1;
	}
	/* The extension holds acmeValidation-v1 ::= OCTET STRING (SIZE (32)), and extnValue is
	 * itself the DER of that value: tag and length come first. */
	out[0] = V_ASN1_OCTET_STRING;
	out[1] = ACME_IDENT_EXT_LEN - 2;
	if (!EVP_Digest(keyauth, strlen(keyauth), out + 2, &mdlen, EVP_sha256(), NULL) ||
	    mdlen != ACME_IDENT_EXT_LEN - 2) {
		log_openssl("tls-alpn-01: SHA-256");
		return -1;
	}
	return 0;
}

/* Sets a random positive non-zero 128-bit serial: RFC 5280 wants serials unique per issuer,
 * and a self-signed throwaway has no counter to draw from. */
static int
random_serial(X509 *x)
{
	unsigned char buf[SERIAL_BYTES];
	BIGNUM *bn = NULL;
	int rc = -1;

	if (RAND_bytes(buf, sizeof(buf)) != 1)
		goto fail;
	/* Top bit clear keeps it positive; the next one set keeps it non-zero and 16 bytes. */
	buf[0] = (unsigned char)((buf[0] & 0x7f) | 0x40);
	if ((bn = BN_bin2bn(buf, sizeof(buf), NULL)) == NULL ||
	    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL)
		goto fail;
	rc = 0;
fail:
	if (rc == -1)
		log_openssl("tls-alpn-01: serial number");
	BN_free(bn);
	return rc;
}

int
tls_alpn01_cert(const char *name, const char *keyauth, X509 **cert, EVP_PKEY **key)
{
	uint8_t val[ACME_IDENT_EXT_LEN];
	X509 *x = NULL;
	EVP_PKEY *k = NULL;
	X509_NAME *nm = NULL;
	GENERAL_NAMES *gens = NULL;
	ASN1_OBJECT *obj = NULL;
	ASN1_OCTET_STRING *os = NULL;
	X509_EXTENSION *ext = NULL;
	int rc = -1;

	*cert = NULL;
	*key = NULL;
	if (!dns_name_ok(name, 0)) {
		log_bad_name("tls-alpn-01", name);
		return -1;
	}
	if (tls_alpn01_extension(keyauth, val) == -1)
		return -1;
	if ((k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")) == NULL) {
		log_openssl("tls-alpn-01: generating the key");
		goto fail;
	}
	if ((x = X509_new()) == NULL || !X509_set_version(x, X509_VERSION_3) ||
	    (nm = cn_name(name)) == NULL ||
	    !X509_set_subject_name(x, nm) || !X509_set_issuer_name(x, nm) ||
	    X509_gmtime_adj(X509_getm_notBefore(x), -3600) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(x), 86400L * ALPN_CERT_DAYS) == NULL ||
	    !X509_set_pubkey(x, k)) {
		log_openssl("tls-alpn-01: building the certificate");
		goto fail;
	}
	if (random_serial(x) == -1)
		goto fail;
	/* Exactly one dNSName: the validator refuses any other entry (RFC 8737 §3). */
	if ((gens = dns_general_names(&name, 1)) == NULL)
		goto fail;
	if (X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, X509V3_ADD_DEFAULT) != 1) {
		log_openssl("tls-alpn-01: adding subjectAltName");
		goto fail;
	}
	/* Critical, so nothing mistakes the certificate for one to trust; Pebble and Boulder
	 * only look at the extension when the critical flag is set. */
	if ((obj = OBJ_txt2obj(OID_ACME_IDENTIFIER, 1)) == NULL ||
	    (os = ASN1_OCTET_STRING_new()) == NULL ||
	    !ASN1_OCTET_STRING_set(os, val, sizeof(val)) ||
	    (ext = X509_EXTENSION_create_by_OBJ(NULL, obj, 1, os)) == NULL ||
	    !X509_add_ext(x, ext, -1)) {
		log_openssl("tls-alpn-01: adding acmeIdentifier");
		goto fail;
	}
	if (X509_sign(x, k, EVP_sha256()) <= 0) {
		log_openssl("tls-alpn-01: signing");
		goto fail;
	}
	*cert = x;
	*key = k;
	x = NULL;
	k = NULL;
	rc = 0;
fail:
	X509_EXTENSION_free(ext);
	ASN1_OCTET_STRING_free(os);
	ASN1_OBJECT_free(obj);
	GENERAL_NAMES_free(gens);
	X509_NAME_free(nm);
	X509_free(x);
	EVP_PKEY_free(k);
	return rc;
}

int
ari_cert_id_raw(const uint8_t *aki, size_t akilen, const uint8_t *serial, size_t serlen,
    char **out)
{
	char *a = NULL, *s = NULL;
	int rc = -1;

	*out = NULL;
	if (aki == NULL || akilen == 0 || serial == NULL || serlen == 0) {
		log_err("ari: empty key identifier or serial");
		return -1;
	}
	if ((a = b64url_encode_alloc(aki, akilen)) == NULL ||
	    (s = b64url_encode_alloc(serial, serlen)) == NULL)
		goto fail;
	if (asprintf(out, "%s.%s", a, s) == -1) {
		*out = NULL;
		log_err("ari: out of memory");
		goto fail;
	}
	rc = 0;
fail:
	free(a);
	free(s);
	return rc;
}

int
ari_cert_id(X509 *cert, char **out)
{
	AUTHORITY_KEYID *akid = NULL;
	unsigned char *der = NULL;
	size_t hdr;
	int dlen, rc = -1;

	*out = NULL;
	/* Decoded here rather than through X509_get0_authority_key_id(), which answers NULL
	 * for a certificate with any extension OpenSSL finds invalid. */
	if ((akid = X509_get_ext_d2i(cert, NID_authority_key_identifier, NULL, NULL)) == NULL ||
	    akid->keyid == NULL || ASN1_STRING_length(akid->keyid) <= 0) {
		log_err("ari: the certificate has no authority key identifier");
		ERR_clear_error();
		goto fail;
	}
	/* The serial's DER content octets, taken from the encoder rather than rebuilt from
	 * the value: BN_bn2bin-style conversions drop the 00 that keeps a serial with its top
	 * bit set positive, and the CA then sees another certificate. */
	if ((dlen = i2d_ASN1_INTEGER(X509_get0_serialNumber(cert), &der)) < 3 ||
	    der[0] != V_ASN1_INTEGER) {
		log_openssl("ari: encoding the serial number");
		goto fail;
	}
	/* Skip the tag and the length, short form or long form. */
	hdr = der[1] < 0x80 ? 2 : 2 + (size_t)(der[1] & 0x7f);
	if (hdr >= (size_t)dlen) {
		log_err("ari: malformed serial number");
		goto fail;
	}
	rc = ari_cert_id_raw(ASN1_STRING_get0_data(akid->keyid),
	    (size_t)ASN1_STRING_length(akid->keyid), der + hdr, (size_t)dlen - hdr, out);
fail:
	OPENSSL_free(der);
	AUTHORITY_KEYID_free(akid);
	return rc;
}

static int
asn1_time_to_time_t(const ASN1_TIME *at, time_t *t, const char *what)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	if (at == NULL || !ASN1_TIME_to_tm(at, &tm)) {
		log_openssl(what);
		return -1;
	}
	/* ASN1_TIME_to_tm gives UTC; timegm (not mktime) keeps it UTC. */
	*t = timegm(&tm);
	return 0;
}

int
cert_not_after(X509 *cert, time_t *t)
{
	return asn1_time_to_time_t(X509_get0_notAfter(cert), t, "certificate notAfter");
}

int
cert_not_before(X509 *cert, time_t *t)
{
	return asn1_time_to_time_t(X509_get0_notBefore(cert), t, "certificate notBefore");
}

int
chain_load_pem(const char *pem, size_t len, X509 **leaf, STACK_OF(X509) **chain)
{
	BIO *bio = NULL;
	X509 *x = NULL;
	STACK_OF(X509) *all = NULL;
	unsigned long e;
	int rc = -1;

	*leaf = NULL;
	*chain = NULL;
	if (pem == NULL || len == 0 || len > INT_MAX) {
		log_err("chain: no PEM, or too large");
		return -1;
	}
	ERR_clear_error();
	if ((bio = BIO_new_mem_buf(pem, (int)len)) == NULL ||
	    (all = sk_X509_new_null()) == NULL) {
		log_openssl("chain");
		goto fail;
	}
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		if (!sk_X509_push(all, x)) {
			log_openssl("chain");
			X509_free(x);
			goto fail;
		}
	}
	/* The loop ends at the first failure; only "no more BEGIN lines" means the end. */
	e = ERR_peek_last_error();
	if (!(ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE)) {
		log_openssl("chain: a certificate in the PEM does not parse");
		goto fail;
	}
	ERR_clear_error();
	if (sk_X509_num(all) == 0) {
		log_err("chain: no certificate in the PEM");
		goto fail;
	}
	*leaf = sk_X509_shift(all);
	*chain = all;
	all = NULL;
	rc = 0;
fail:
	sk_X509_pop_free(all, X509_free);
	BIO_free(bio);
	return rc;
}

int
cert_key_match(X509 *cert, EVP_PKEY *key)
{
	if (cert == NULL || key == NULL || X509_check_private_key(cert, key) != 1) {
		ERR_clear_error();
		log_err("the certificate does not match the key");
		return -1;
	}
	return 0;
}
