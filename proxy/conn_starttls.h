/* The connection side of the STARTTLS machines (proxy/starttls.h): which sessions get one, the
 * plaintext phase, the switch to the client's TLS handshake, and the first exchange inside
 * TLS until the machine lets go. Everything here runs on the connection's worker. */
#ifndef JFE_CONN_STARTTLS_H
#define JFE_CONN_STARTTLS_H

struct conn;

/* SNIFF, the service spoke first and the client has said nothing: reads its greeting (held
 * in c->greet, bounded) and, when it is one a machine knows, starts that machine. Returns -1
 * when the connection was closed, 0 otherwise (waiting for more, a machine started, or
 * handed to pass-through). */
int conn_starttls_server_first(struct conn *c);

/* SNIFF, the client's first bytes are not a TLS hello: 1 when they are a PostgreSQL
 * SSLRequest or GSSENCRequest and the machine started (or the connection was closed:
 * c->state says), -1 while they may still become one, 0 when they are not one. */
int conn_starttls_client_first(struct conn *c);

/* CS_STARTTLS, and CS_RELAY while c->st is set (the first exchange inside TLS): moves bytes
 * through the machine. Returns -1 when the connection was closed. */
int conn_starttls_step(struct conn *c);

#endif
