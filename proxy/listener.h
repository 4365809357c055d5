/* The transparent listeners nftables' tproxy hands connections to: 127.0.0.1:PORT and
 * [::1]:PORT with IP_TRANSPARENT. getsockname() of an accepted socket is the address the client
 * asked for. Each worker opens its own pair with SO_REUSEPORT so the kernel spreads accepts. */
#ifndef JFE_LISTENER_H
#define JFE_LISTENER_H

/* Returns a listening, non-blocking socket, or -1 with the reason logged. */
int listener_open(int family, unsigned port);

#endif
