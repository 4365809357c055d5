/* Experiment (bench/experiments/sk-msg-local-leg/README.md), not part of jfe: every local
 * TCP connection whose client port is in jfe's upstream range (10000-32767) goes into a
 * SOCKHASH when it is established, on both ends (a sockops program on the root cgroup);
 * an sk_msg program then hands what one end sends straight to the other end's receive
 * queue (BPF_F_INGRESS), so jfe <-> service bytes skip the TCP/IP stack. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct key { __u32 lip, rip; __u32 lport, rport; };

struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, 65536);
	__type(key, struct key);
	__type(value, __u64);
} socks SEC(".maps");

SEC("sockops")
int ops(struct bpf_sock_ops *s)
{
	struct key k;
	__u32 rport;
	if (s->family != 2) return 1;
	if (s->op != BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB && s->op != BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB)
		return 1;
	rport = bpf_ntohs((__u16)(s->remote_port >> 16));
	k.lip = s->local_ip4; k.rip = s->remote_ip4; k.lport = s->local_port; k.rport = rport;
	if (s->op == BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB && !(k.lport >= 10000 && k.lport <= 32767))
		return 1;
	if (s->op == BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB && !(k.rport >= 10000 && k.rport <= 32767))
		return 1;
	bpf_sock_hash_update(s, &socks, &k, BPF_NOEXIST);
	return 1;
}

SEC("sk_msg")
int msg(struct sk_msg_md *m)
{
	struct key k;
	k.lip = m->remote_ip4; k.rip = m->local_ip4;
	k.lport = bpf_ntohs((__u16)(m->remote_port >> 16)); k.rport = m->local_port;
	return bpf_msg_redirect_hash(m, &socks, &k, BPF_F_INGRESS);
}
char _license[] SEC("license") = "GPL";
