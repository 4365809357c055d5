/* Kernel relaying of pass-through connections: a BPF sk_skb verdict program
 * (proxy/bpf/relay.bpf.c, embedded in the binary) that redirects what one socket of a pair
 * receives to the egress of the other, loaded once with libbpf. Where BPF is unavailable (no
 * CAP_BPF, a system-call filter, an old kernel) it stays off and pass-through is relayed in
 * user space. Thread-safe after sockmap_init: the workers share the maps. */
#ifndef JFE_SOCKMAP_H
#define JFE_SOCKMAP_H

#include <stdint.h>

#include "proxy/bpf/relay_bpf.h"

/* Loads the program and its maps for up to <max_pairs> connections at once. 0: on; -1: off
 * (the reason is logged once). Before the workers start. */
int sockmap_init(unsigned max_pairs);
void sockmap_free(void);
int sockmap_on(void);

/* The socket's cookie (SO_COOKIE), the key of every map. */
int sockmap_cookie(int fd, uint64_t *cookie);

/* Puts the pair (a, b) in kernel mode: from now on what a receives goes out of b and back,
 * a's bytes up to <credit_a> (b's up to <credit_b>; see RELAY_CREDIT). 0: done; -1: nothing
 * changed (errno; the map is full, ...); -2: half done and unsafe to undo (a's bytes may
 * already be on their way to b): the connection must be reset. */
int sockmap_link(int fda, uint64_t cka, uint64_t credit_a, int fdb, uint64_t ckb,
    uint64_t credit_b);
/* The program's record of the socket <cookie> (proxy/bpf/relay_bpf.h). 0 or -1. */
int sockmap_stats(uint64_t cookie, struct relay_peer *p);
/* Tells the program how many passed-up bytes of <cookie> jfe has written in full, and up to
 * where it may forward from now on. */
int sockmap_grant(uint64_t cookie, uint64_t consumed, uint64_t credit);
/* Forgets the socket's entries, returning what the kernel forwarded from it. The sockets
 * themselves leave the maps when they are closed. */
int sockmap_unlink(uint64_t cookie, uint64_t *bytes);

/* Everything written to a TCP socket since it was created, as far as its send side knows
 * (acknowledged + still queued), up to a constant: differences are exact. <unacked> (may be
 * NULL): the part still queued. 0 or -1. */
int tcp_written(int fd, uint64_t *out, uint64_t *unacked);

#endif
