/* Moving bytes once a connection is classified: recv()/send() through the worker's scratch
 * buffer for pass-through, switching to splice() through pooled pipes for streams, and
 * SSL_read/SSL_write through the same buffer for TLS. With back-pressure (a side is read only
 * when the other can take what is read), half-close and reset propagation. */
#ifndef JFE_RELAY_H
#define JFE_RELAY_H

#include <stddef.h>
#include <stdint.h>

struct conn;

enum relay_result { RELAY_AGAIN, RELAY_DONE, RELAY_RESET };

enum relay_result relay_step(struct conn *c);
/* When the connection's current wait ends (connect, sniff, handshake or idle). */
uint64_t relay_deadline(const struct conn *c);
void relay_update_timer(struct conn *c);

/* For the STARTTLS driver (proxy/conn_starttls.c), which writes what its machine emits:
 * relay_queue appends bytes to a flow's pending output (0, or -1 out of memory); the flushes
 * write that output to the service (plaintext) or to the client (through TLS once the
 * handshake is done) and return 1 when all is written, 0 when blocked, -1 on a reset. */
struct flow;
int relay_queue(struct flow *f, const uint8_t *p, size_t n);
int relay_flush_upstream(struct conn *c);
int relay_flush_client(struct conn *c);

#endif
