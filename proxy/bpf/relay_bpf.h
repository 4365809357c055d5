/* What the relay BPF program (proxy/bpf/relay.bpf.c) and jfe (proxy/sockmap.c) share. */
#ifndef JFE_RELAY_BPF_H
#define JFE_RELAY_BPF_H

#include <linux/types.h>

/* Flow control. A redirected skb no longer counts against the receiving socket's buffer (nor
 * against TCP's memory limits) while it waits for the kernel's sender, so TCP's own
 * back-pressure is gone: the sender's window stays open however slowly the other side drains.
 * The program therefore forwards only up to a credit that jfe grants, RELAY_CREDIT at a time,
 * and only when it has seen that queue empty. Past it, the program passes bytes up (SK_PASS:
 * they count against the receive buffer again, the window closes) and jfe, woken by EPOLLIN,
 * writes them itself once the queue has emptied, then grants more. At most RELAY_CREDIT waits
 * in that queue, beyond the destination's send buffer. */
#define RELAY_CREDIT (4u << 20)

/* relay_peers, keyed by a socket's cookie (SO_COOKIE): written by the program (jfe sets it up
 * before the socket is a source, then only reads it). */
struct relay_peer {
	__u64 peer;             /* the cookie of the socket its bytes go to */
	__u64 bytes;            /* received and redirected by the kernel */
	__u64 passed;           /* received and passed up to jfe */
	__u64 last_ns;          /* bpf_ktime_get_ns() (CLOCK_MONOTONIC) of the last skb */
	__u32 paused;           /* passing up: bytes are waiting in the socket for jfe */
	__u32 pad;
};

/* relay_ctl, same key: written by jfe only. */
struct relay_ctl {
	/* How many passed-up bytes jfe has read and written to the destination in full: the
	 * program forwards again only when that is all of them, so nothing it forwards can
	 * overtake bytes jfe still holds. */
	__u64 consumed;
	__u64 credit;           /* forward while bytes (redirected) stays within it */
};

#endif
