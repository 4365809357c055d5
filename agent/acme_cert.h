/* X.509 pieces of ACME: the finalize CSR (RFC 8555 §7.4), the tls-alpn-01 challenge
 * certificate (RFC 8737), the ARI certificate identifier (RFC 9773 §4.1), and reading what
 * the CA returns (validity, full-chain PEM).
 *
 * Names are DNS names only (no IP identifiers). Every function returns 0 on success and -1
 * with the reason logged. */
#ifndef JFE_ACME_CERT_H
#define JFE_ACME_CERT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

/* DER of the acmeIdentifier extension value: OCTET STRING (04 20) + 32 bytes of SHA-256. */
#define ACME_IDENT_EXT_LEN 34

/* Stores in <*der> (malloc'd, free()) and <*len> a PKCS#10 CSR for the <n> (>= 1) DNS names
 * at <names>, signed with <key> (EC P-256 or RSA, SHA-256). Every name goes into the
 * subjectAltName extension request in the given order (the identifiers of the order; a
 * wildcard "*.example.com" is fine); the first also becomes the subject CN when it fits the
 * 64-character limit, for the old software that still reads it. Send base64url(DER). */
int csr_make(EVP_PKEY *key, const char *const *names, size_t n, uint8_t **der, size_t *len);

/* Writes to <out> the extnValue of the acmeIdentifier extension for <keyauth>: the DER
 * OCTET STRING 04 20 || SHA-256(keyauth) (RFC 8737 §3), not the bare digest. */
int tls_alpn01_extension(const char *keyauth, uint8_t out[ACME_IDENT_EXT_LEN]);

/* Makes the tls-alpn-01 certificate for <name> and <keyauth>: self-signed with a new P-256
 * key, valid from an hour ago for 7 days, exactly one subjectAltName dNSName <name>, and the
 * critical id-pe-acmeIdentifier (1.3.6.1.5.5.7.1.31) extension. Serve it with the key, only
 * to a ClientHello with ALPN "acme-tls/1" and SNI <name>. The caller owns both (X509_free,
 * EVP_PKEY_free). <name> cannot be a wildcard: those are validated by dns-01 only. */
int tls_alpn01_cert(const char *name, const char *keyauth, X509 **cert, EVP_PKEY **key);

/* Stores in <*out> (malloc'd) the RFC 9773 certificate identifier of <cert>, for the
 * renewalInfo URL and newOrder "replaces": base64url(AKI keyIdentifier) "." base64url(DER
 * content octets of the serial number, keeping the leading 00 of a serial whose top bit is
 * set). -1 when <cert> has no AKI keyIdentifier. */
int ari_cert_id(X509 *cert, char **out);

/* The same from the raw parts: <aki> the keyIdentifier bytes, <serial> the DER content
 * octets of the serial. */
int ari_cert_id_raw(const uint8_t *aki, size_t akilen, const uint8_t *serial, size_t serlen,
    char **out);

/* The certificate's notAfter / notBefore as a time_t. */
int cert_not_after(X509 *cert, time_t *t);
int cert_not_before(X509 *cert, time_t *t);

/* Splits the full-chain PEM (<len> bytes at <pem>, as the CA served it: leaf first, then
 * issuers) into <*leaf> and <*chain> (the issuers in order, possibly none). Text between
 * the certificate blocks is ignored; a block that does not parse, or no certificate at all,
 * is -1. The caller owns both (X509_free, sk_X509_pop_free(chain, X509_free)). */
int chain_load_pem(const char *pem, size_t len, X509 **leaf, STACK_OF(X509) **chain);

/* 0 when <key> is the private key of <cert>'s public key, else -1. */
int cert_key_match(X509 *cert, EVP_PKEY *key);

#endif
