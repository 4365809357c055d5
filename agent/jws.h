/* JOSE for ACME: the account key's JWK and thumbprint (RFC 7638), flattened JWS with ES256 or
 * RS256 (RFC 7515, RFC 8555 §6.2), the HS256 External Account Binding (RFC 8555 §7.3.4), key
 * authorizations and dns-01 TXT values (RFC 8555 §8.1, §8.4), and account-key storage.
 *
 * Account keys are EC P-256 (what jfe generates) or RSA (imported keys). Every function
 * returns 0 / non-NULL on success and -1 / NULL with the reason logged; none logs key
 * material. */
#ifndef JFE_JWS_H
#define JFE_JWS_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

/* base64url(SHA-256) is 43 characters. */
#define JWK_THUMBPRINT_LEN 43

/* Stores in <*out> (malloc'd, free()) the public JWK of <key> in RFC 7638 canonical form:
 * required members only, in lexicographic order, no whitespace —
 * {"crv":"P-256","kty":"EC","x":"…","y":"…"} with 32-byte coordinates, or
 * {"e":"…","kty":"RSA","n":"…"} with minimal big-endian integers. The same string is what
 * goes into a "jwk" header, so the thumbprint and the header can never disagree. */
int jwk_public_json(EVP_PKEY *key, char **out);

/* base64url(SHA-256(canonical JWK)) of <key> in <out> (43 characters + NUL). */
int jwk_thumbprint(EVP_PKEY *key, char out[JWK_THUMBPRINT_LEN + 1]);

/* Signs ASCII(<protected_b64> "." <payload_b64>) with the EC P-256 <key> and stores in
 * <*sig_b64> (malloc'd) the base64url of the JWS signature: raw r || s, each left-padded to
 * 32 bytes (RFC 7518 §3.4), not the DER that OpenSSL produces. */
int jws_sign_es256(EVP_PKEY *key, const char *protected_b64, const char *payload_b64,
    char **sig_b64);

/* Verifies the raw r || s ES256 signature <sig> (<siglen> must be 64) over <signing_input>
 * with the EC P-256 <pub>. 0 when it verifies; -1 otherwise. A mismatch or a signature of
 * the wrong length is an answer and is not logged; a wrong key type or a library failure is. */
int jws_verify_es256(EVP_PKEY *pub, const char *signing_input, size_t len, const uint8_t *sig,
    size_t siglen);

/* Returns the flattened JSON serialization {"protected":…,"payload":…,"signature":…}
 * (malloc'd, free()) of <payload_json> signed with <key>.
 * <alg>: "ES256" (EC P-256 key) or "RS256" (RSA key); NULL picks the one for <key>.
 * Protected header: alg, then "kid":<kid_or_null> or, when it is NULL, "jwk":<public JWK>
 * (newAccount, revocation by certificate key, the inner keyChange JWS), then "nonce" unless
 * <nonce> is NULL (only the inner keyChange JWS has none), then "url":<url> exactly as given.
 * <payload_json> NULL or "" gives the empty payload of POST-as-GET (RFC 8555 §6.3); "{}" is
 * what a challenge response sends. */
char *jws_flattened(EVP_PKEY *key, const char *alg, const char *kid_or_null, const char *nonce,
    const char *url, const char *payload_json);

/* Returns (malloc'd) the externalAccountBinding object for newAccount (RFC 8555 §7.3.4): a
 * flattened JWS with protected {"alg":"HS256","kid":<eab_kid>,"url":<url>} (no nonce), the
 * public JWK of <account_key> as payload, HMAC-SHA256 under <hmac_key> as signature. <url> is
 * the newAccount URL; <hmac_key> is the CA-issued key already base64url-decoded. */
char *jws_eab(const char *eab_kid, const uint8_t *hmac_key, size_t keylen,
    EVP_PKEY *account_key, const char *url);

/* Stores in <*out> (malloc'd) the key authorization <token> "." thumbprint(<account_key>).
 * The token must be non-empty base64url (RFC 8555 §8.1): it ends up in file names, HTTP
 * bodies and DNS records, so anything else from the server is refused. */
int key_authorization(EVP_PKEY *account_key, const char *token, char **out);

/* The dns-01 TXT record value: base64url(SHA-256(<keyauth>)), 43 characters + NUL. */
int dns01_txt_value(const char *keyauth, char out[JWK_THUMBPRINT_LEN + 1]);

/* A new EC P-256 key (NULL on failure). */
EVP_PKEY *key_generate_p256(void);

/* Stores in <*pem> the unencrypted PKCS#8 PEM of the private <key>; release it with
 * key_pem_free(), which wipes it. */
int key_to_pem(EVP_PKEY *key, char **pem);

/* Wipes and frees a string from key_to_pem() (NULL is fine). */
void key_pem_free(char *pem);

/* Reads a private key (PKCS#8 or traditional PEM, unencrypted; an encrypted one is refused
 * rather than prompting on a terminal). NULL on failure. */
EVP_PKEY *key_from_pem(const char *pem);

#endif
