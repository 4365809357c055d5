/* TLS termination: server contexts, the fallback certificate, session-ticket keys rotated in
 * memory, the certificate lookup the ACME engine plugs into, and the BIO that replays the bytes
 * we read while sniffing before it reads the socket. */
#ifndef JFE_TLS_H
#define JFE_TLS_H

#include <openssl/ssl.h>
#include <stddef.h>
#include <stdint.h>

struct hello_info;

/* name → certificate | pending | none. READY hands out a referenced SSL_CTX (SSL_CTX_free it). */
enum cert_status { CERT_READY, CERT_PENDING, CERT_NONE };

struct tls_front {
	SSL_CTX *fallback;              /* self-signed, made at start */
	char fallback_name[256];
};

int tls_front_init(struct tls_front *t, const char *hostname);
void tls_front_free(struct tls_front *t);
/* Applies jfe's protocol policy (TLS 1.2–1.3, modern ciphers, tickets, no renegotiation) to a
 * server context. Every certificate's context goes through here. */
int tls_ctx_policy(SSL_CTX *ctx);
/* Rotates the in-memory ticket keys; called periodically from the main thread. */
void tls_ticket_rotate(void);

/* A new server SSL for client socket <fd> that first replays sniff[0..len). The SSL object does
 * not own the buffer: tls_replay_consumed() says when it may be freed. <app> is stored as the
 * SSL's app data (the connection). */
SSL *tls_session_new(struct tls_front *t, int fd, const uint8_t *sniff, size_t len, void *app);
/* 1 when OpenSSL has read all of the replayed bytes. */
int tls_replay_consumed(SSL *ssl);
/* 1 when the client socket was read empty and OpenSSL holds nothing unread: edge-triggered
 * epoll will report new data, so no read() is spent to learn EAGAIN. */
int tls_socket_drained(SSL *ssl);

/* Implemented by the connection layer (<app> is the SSL's app data): which certificate this
 * handshake gets, and which ALPN protocol to select (NULL: none). */
enum cert_status tls_conn_select(void *app, SSL_CTX **ctx);
const char *tls_conn_alpn(void *app);

#endif
