/* The connection to the original destination. */
#ifndef JFE_UPSTREAM_H
#define JFE_UPSTREAM_H

#include <stdint.h>
#include <sys/socket.h>

/* Starts a non-blocking connect to <dst>, the address the client asked for (never 127.0.0.1
 * in its place: a service bound to loopback must stay private). With <preserve_source> the
 * socket is transparent and bound to the client's address, so the service sees the real
 * client; a non-zero <mark> goes on the socket (SO_MARK), for the service's socket to
 * inherit (proxy/returnpath.h). Returns the socket (connect in progress or done) or -1 with
 * errno set. */
int upstream_connect(const struct sockaddr_storage *client, const struct sockaddr_storage *dst,
    int preserve_source, uint32_t mark);

#endif
