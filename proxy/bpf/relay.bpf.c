/* The kernel half of pass-through relaying (proxy/sockmap.c, proxy/relay_kernel.c): an
 * sk_skb verdict program on the sockets of established pass-through connections. Each skb a
 * socket receives is redirected to the egress of its peer socket, so the kernel forwards
 * without waking jfe; jfe still sees FIN and RST on the sockets (epoll) and passes them on.
 *
 * Back-pressure: see RELAY_CREDIT (relay_bpf.h).
 *
 * Built with `clang -target bpf` and embedded in the jfe binary (nothing is installed). The
 * maps' sizes are set by jfe before loading. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "proxy/bpf/relay_bpf.h"

/* Redirect targets: every socket in kernel mode, keyed by its socket cookie. No program is
 * attached here, so being a target changes nothing about how a socket receives. */
struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, 1);
	__type(key, __u64);
	__type(value, __u64);
} relay_socks SEC(".maps");

/* Sources: the same sockets, inserted last. The verdict program is attached to this map. */
struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, 1);
	__type(key, __u64);
	__type(value, __u64);
} relay_srcs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 1);
	__type(key, __u64);
	__type(value, struct relay_peer);
} relay_peers SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 1);
	__type(key, __u64);
	__type(value, struct relay_ctl);
} relay_ctl SEC(".maps");

SEC("sk_skb")
int
relay_verdict(struct __sk_buff *skb)
{
	__u64 cookie, peer;
	struct relay_peer *p;
	struct relay_ctl *ctl;

	/* An empty skb is a bare FIN, already taken into account by TCP (jfe sees it through
	 * epoll and passes it on). Redirected, the kernel's sender would take its zero-length
	 * send for a broken pipe and put an error on the peer socket. */
	if (skb->len == 0)
		return SK_DROP;
	cookie = bpf_get_socket_cookie(skb);
	p = bpf_map_lookup_elem(&relay_peers, &cookie);
	ctl = bpf_map_lookup_elem(&relay_ctl, &cookie);
	/* Not ours (never inserted without both entries): keep the bytes for recv(). */
	if (p == NULL || ctl == NULL)
		return SK_PASS;
	/* One socket's skbs are judged one at a time (under its lock): no atomics needed. */
	p->last_ns = bpf_ktime_get_ns();
	/* Bytes passed up and not yet written by jfe come first; past the credit, jfe
	 * decides. */
	if ((p->paused && ctl->consumed != p->passed) || p->bytes + skb->len > ctl->credit) {
		p->paused = 1;
		p->passed += skb->len;
		return SK_PASS;
	}
	p->paused = 0;
	p->bytes += skb->len;
	peer = p->peer;
	return bpf_sk_redirect_hash(skb, &relay_socks, &peer, 0);
}

/* Only helpers that are not GPL-only are used (the project has chosen no licence yet). */
char LICENSE[] SEC("license") = "Proprietary";
