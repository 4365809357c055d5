/* Pass-through relayed by the kernel: for proxy/relay.c only (see proxy/relay_kernel.c). */
#ifndef JFE_RELAY_KERNEL_H
#define JFE_RELAY_KERNEL_H

#include "proxy/relay.h"

struct conn;

/* The connection may be handed to the kernel now. */
int relay_kernel_ready(const struct conn *c);
enum relay_result relay_kernel_start(struct conn *c);
/* FINs and resets of a connection in kernel mode. */
enum relay_result relay_kernel_step(struct conn *c);
/* Moves t_active to the last byte the kernel forwarded. */
void relay_kernel_activity(struct conn *c);
/* Adds the kernel's byte counts to the flows and forgets the connection's map entries. */
void relay_kernel_release(struct conn *c);

#endif
