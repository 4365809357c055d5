/* Pending ACME challenges that the proxy answers itself: HTTP-01 tokens on intercepted port
 * 80 and TLS-ALPN-01 certificates on 443. The agent adds and removes; workers look up. */
#ifndef JFE_CHALLENGE_H
#define JFE_CHALLENGE_H

#include <openssl/ssl.h>
#include <stddef.h>

int challenge_http_add(const char *token, const char *keyauth);
void challenge_http_remove(const char *token);
/* Copies the key authorization for <token> (length <len>) into <out>; 0 found, -1 not. */
int challenge_http_lookup(const char *token, size_t len, char *out, size_t outsz);
/* 1 while any HTTP-01 challenge is pending: port 80 then waits for a request even when no
 * service listens there. */
int challenge_http_any(void);

/* Takes a reference to <ctx>. */
int challenge_alpn_add(const char *name, SSL_CTX *ctx);
void challenge_alpn_remove(const char *name);
/* A referenced context for <name>, or NULL. */
SSL_CTX *challenge_alpn_lookup(const char *name);

/* Parses "GET /.well-known/acme-challenge/<token> HTTP/1.x\r\n..." in <buf>: 1 with the token's
 * position when it is such a request, 0 when it is not, -1 when more bytes are needed. */
int challenge_http_request(const char *buf, size_t len, const char **token, size_t *toklen);

void challenge_clear(void);

#endif
