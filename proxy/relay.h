/* Moving bytes once a connection is classified: splice() through pooled pipes for pass-through,
 * SSL_read/SSL_write through the worker's scratch buffer for TLS, with back-pressure (a side
 * is read only when the other can take what is read), half-close and reset propagation. */
#ifndef JFE_RELAY_H
#define JFE_RELAY_H

#include <stdint.h>

struct conn;

enum relay_result { RELAY_AGAIN, RELAY_DONE, RELAY_RESET };

enum relay_result relay_step(struct conn *c);
/* When the connection's current wait ends (connect, sniff, handshake or idle). */
uint64_t relay_deadline(const struct conn *c);
void relay_update_timer(struct conn *c);

#endif
