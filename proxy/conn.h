/* One intercepted connection: the client socket, the upstream socket to the original
 * destination, and the state machine between them (sniff → TLS handshake → relay, or sniff →
 * pass-through). Owned by exactly one worker; never touched by another thread. */
#ifndef JFE_CONN_H
#define JFE_CONN_H

#include <netinet/in.h>
#include <openssl/ssl.h>
#include <stdint.h>
#include <sys/socket.h>

#include "proxy/hello.h"
#include "proxy/starttls-t.h"
#include "proxy/timer.h"

struct worker;

enum conn_state {
	CS_SNIFF,         /* reading the client's first bytes; upstream connecting */
	CS_PROBE,         /* the hello went to an unknown service: does it answer in TLS? */
	CS_STARTTLS,      /* plaintext STARTTLS negotiation, inspected (proxy/conn_starttls.c) */
	CS_HANDSHAKE,     /* TLS handshake with the client */
	CS_RELAY,         /* relaying (TLS-terminated or pass-through) */
	CS_CLOSED,
};

/* CK_TLS_BACKEND: a TLS client of a service that does TLS itself, passed through.
 * CK_STARTTLS: TLS begun inside a plaintext session (STARTTLS, STLS, SSLRequest, MySQL). */
enum conn_kind { CK_UNKNOWN, CK_PLAIN, CK_TLS, CK_TLS_BACKEND, CK_STARTTLS, CK_KIND_MAX };

/* Readiness bits, kept per socket: edge-triggered epoll tells us when a socket becomes
 * readable or writable; we keep the bit until an operation returns EAGAIN. */
#define EP_R    0x01
#define EP_W    0x02
#define EP_HUP  0x04
#define EP_ERR  0x08
#define EP_RDHUP 0x10   /* the peer's FIN was seen: reads must go on until they return 0 */

/* What epoll_event.data.ptr points to: the first member tells its type. */
enum ep_tag { EPT_LISTENER, EPT_CLIENT, EPT_UPSTREAM, EPT_WAKE };

struct endpoint {
	uint8_t tag;        /* enum ep_tag */
	uint8_t ready;      /* EP_* */
	int fd;
};

/* One direction of the relay. Pass-through moves small messages through the worker's scratch
 * buffer and streams with splice() through a pipe taken from the worker's pool only while data
 * is in flight; TLS moves them through the scratch buffer. Either keeps only what the
 * destination could not take yet in <pend>. */
struct flow {
	int pipe_r, pipe_w;     /* -1 when no pipe is held */
	uint32_t pipe_bytes;
	uint8_t *pend;
	uint32_t pend_off, pend_len;
	uint8_t eof;            /* the source has ended (FIN or close_notify) */
	uint8_t shut;           /* the end has been passed on to the destination */
	uint8_t splicing;       /* pass-through: a stream, moved with splice() */
	uint64_t bytes;
};

struct conn {
	struct endpoint cli;            /* must stay first: container_of-free casts from endpoint */
	struct endpoint up;
	struct worker *w;
	struct timer timer;
	uint8_t state;                  /* enum conn_state */
	uint8_t kind;                   /* enum conn_kind */
	uint8_t up_connecting;          /* connect() in progress */
	uint8_t up_connected;
	uint8_t tls_ready;              /* handshake done */
	uint8_t server_spoke;
	uint8_t up_dead;                /* upstream refused, kept open for an HTTP-01 answer */
	uint8_t cert_wait;              /* handshake parked until the name's certificate */
	uint8_t cert_fallback;          /* waited long enough: serve the fallback */
	uint8_t acme_alpn;              /* a TLS-ALPN-01 validation handshake */
	uint8_t probe_sent;
	uint8_t st_tls;                 /* STARTTLS asked: the client's next bytes are TLS */
	uint8_t st_tls_next;            /* ...once jfe's plaintext answer has reached it */
	uint64_t t_wait;
	uint64_t t_start, t_state, t_active;
	struct sockaddr_storage client, dst;
	/* The client's first bytes, read before we know what they are; replayed to OpenSSL or
	 * forwarded upstream, then freed. */
	uint8_t *sniff;
	uint32_t sniff_len, sniff_off;
	/* A server's first bytes while they may still be a STARTTLS-capable greeting. */
	uint8_t *greet;
	uint32_t greet_len;
	struct starttls *st;            /* the STARTTLS machine while it inspects, else NULL */
	SSL *ssl;
	struct flow c2u, u2c;
	struct hello_info *hello;       /* freed once the handshake is done */
	char *sni;                      /* as sent, for the log */
	char *cname;                    /* normalised name, NULL if not a valid host name */
	struct conn *wnext, *wprev;     /* the worker's parked handshakes */
	const char *close_reason;
	struct conn *next, *prev;       /* the worker's list of live connections */
};

#define CONN_SNIFF_MAX  (16384 + 5 + 16384)

/* Takes an accepted client socket: starts the upstream connection and the sniffing. */
int conn_start(struct worker *w, int cfd);
/* Handles readiness on one of the connection's sockets. */
void conn_event(struct endpoint *ep, uint32_t events);
void conn_timeout(struct conn *c);
/* A parked handshake's name changed state: resume it if its wait is over. */
void conn_cert_changed(struct conn *c);
/* Closes both sockets at once (worker shutdown). */
void conn_abort(struct conn *c, const char *why);

/* For proxy/conn_starttls.c. conn_close() always returns -1, so that a step can end with
 * `return conn_close(...)`; <reset> closes both sides with RST. */
int conn_close(struct conn *c, int reset, const char *why);
void conn_set_kind(struct conn *c, enum conn_kind k);
void conn_set_state(struct conn *c, enum conn_state s);

static inline struct conn *
conn_of_timer(struct timer *t)
{
	return (struct conn *)((char *)t - offsetof(struct conn, timer));
}

#endif
