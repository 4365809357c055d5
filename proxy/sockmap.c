#include "proxy/sockmap.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <linux/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "agent/log.h"
#include "proxy/bpf/relay_bpf.h"

/* The BPF object built from proxy/bpf/relay.bpf.c (Makefile: RELAY_BPF_OBJ), in .rodata. */
__asm__(".section .rodata\n"
    ".balign 8\n"
    ".global jfe_relay_bpf_obj\n"
    "jfe_relay_bpf_obj:\n"
    ".incbin \"" RELAY_BPF_OBJ "\"\n"
    ".global jfe_relay_bpf_obj_end\n"
    "jfe_relay_bpf_obj_end:\n"
    ".previous\n");
extern const char jfe_relay_bpf_obj[], jfe_relay_bpf_obj_end[];

/* Cap on the maps (each socket of a pair is one entry in each): beyond it new connections
 * stay in user space. 64 Ki entries cost the kernel about 1 MiB of buckets per map. */
#define SOCKMAP_MAX_ENTRIES 65536

static struct bpf_object *obj;
static int fd_socks = -1, fd_srcs = -1, fd_peers = -1, fd_ctl = -1;

static int
libbpf_log(enum libbpf_print_level lvl, const char *fmt, va_list ap)
{
	char line[512];
	size_t n;

	/* libbpf explains a failed load at length: kept for -vv, never on a normal log. */
	if (lvl == LIBBPF_DEBUG || log_verbose() < 2)
		return 0;
	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	if (n && line[n - 1] == '\n')
		line[n - 1] = '\0';
	log_msg(LOG_LVL_DEBUG, "%s", line);     /* libbpf names itself */
	return 0;
}

int
sockmap_on(void)
{
	return fd_srcs >= 0;
}

int
sockmap_init(unsigned max_pairs)
{
	LIBBPF_OPTS(bpf_object_open_opts, oo, .object_name = "jfe_relay");
	struct bpf_program *prog;
	unsigned entries = max_pairs >= SOCKMAP_MAX_ENTRIES / 2 ? SOCKMAP_MAX_ENTRIES :
	    max_pairs * 2;
	const char *step = "open";
	int err;

	libbpf_set_print(libbpf_log);
	obj = bpf_object__open_mem(jfe_relay_bpf_obj,
	    (size_t)(jfe_relay_bpf_obj_end - jfe_relay_bpf_obj), &oo);
	if (obj == NULL) {
		err = -errno;
		goto fail;
	}
	step = "size";
	if ((err = bpf_map__set_max_entries(bpf_object__find_map_by_name(obj, "relay_socks"),
	    entries)) != 0 ||
	    (err = bpf_map__set_max_entries(bpf_object__find_map_by_name(obj, "relay_srcs"),
	    entries)) != 0 ||
	    (err = bpf_map__set_max_entries(bpf_object__find_map_by_name(obj, "relay_peers"),
	    entries)) != 0 ||
	    (err = bpf_map__set_max_entries(bpf_object__find_map_by_name(obj, "relay_ctl"),
	    entries)) != 0)
		goto fail;
	step = "load";
	if ((err = bpf_object__load(obj)) != 0)
		goto fail;
	step = "attach";
	prog = bpf_object__find_program_by_name(obj, "relay_verdict");
	fd_socks = bpf_object__find_map_fd_by_name(obj, "relay_socks");
	fd_peers = bpf_object__find_map_fd_by_name(obj, "relay_peers");
	fd_srcs = bpf_object__find_map_fd_by_name(obj, "relay_srcs");
	fd_ctl = bpf_object__find_map_fd_by_name(obj, "relay_ctl");
	if (prog == NULL || fd_socks < 0 || fd_peers < 0 || fd_srcs < 0 || fd_ctl < 0) {
		err = -ENOENT;
		goto fail;
	}
	/* The verdict without a stream parser (Linux 5.13+: whole skbs); the older stream
	 * verdict otherwise. */
	if (bpf_prog_attach(bpf_program__fd(prog), fd_srcs, BPF_SK_SKB_VERDICT, 0) != 0 &&
	    bpf_prog_attach(bpf_program__fd(prog), fd_srcs, BPF_SK_SKB_STREAM_VERDICT, 0) != 0) {
		err = -errno;
		goto fail;
	}
	log_info("pass-through: kernel relaying (BPF sockmap) on, up to %u connections",
	    entries / 2);
	return 0;
fail:
	log_warn("pass-through: kernel relaying (BPF sockmap) unavailable (%s: %s); relaying in "
	    "user space", step, strerror(err < 0 ? -err : err));
	sockmap_free();
	return -1;
}

void
sockmap_free(void)
{
	/* Closing the maps takes the sockets still in them out of kernel mode. */
	bpf_object__close(obj);
	obj = NULL;
	fd_socks = fd_srcs = fd_peers = fd_ctl = -1;
}

int
sockmap_cookie(int fd, uint64_t *cookie)
{
	socklen_t len = sizeof(*cookie);

	return getsockopt(fd, SOL_SOCKET, SO_COOKIE, cookie, &len);
}

int
sockmap_link(int fda, uint64_t cka, uint64_t credit_a, int fdb, uint64_t ckb, uint64_t credit_b)
{
	struct relay_peer pa = { .peer = ckb }, pb = { .peer = cka };
	struct relay_ctl ca = { .credit = credit_a }, cb = { .credit = credit_b };
	uint64_t va = (uint64_t)fda, vb = (uint64_t)fdb;
	int e;

	/* Order matters. Entries first, then both sockets as targets (no program: nothing
	 * changes for them), and only then as sources: the first skb redirected finds its
	 * destination in place, so none is dropped. Bytes that arrived before are still in the
	 * receive queues, and the verdict takes them first, in order. */
	if (bpf_map_update_elem(fd_ctl, &cka, &ca, BPF_NOEXIST) != 0)
		return -1;
	if (bpf_map_update_elem(fd_ctl, &ckb, &cb, BPF_NOEXIST) != 0)
		goto undo_ca;
	if (bpf_map_update_elem(fd_peers, &cka, &pa, BPF_NOEXIST) != 0)
		goto undo_cb;
	if (bpf_map_update_elem(fd_peers, &ckb, &pb, BPF_NOEXIST) != 0)
		goto undo_pa;
	if (bpf_map_update_elem(fd_socks, &cka, &va, BPF_NOEXIST) != 0)
		goto undo_pb;
	if (bpf_map_update_elem(fd_socks, &ckb, &vb, BPF_NOEXIST) != 0)
		goto undo_sa;
	if (bpf_map_update_elem(fd_srcs, &cka, &va, BPF_NOEXIST) != 0)
		goto undo_sb;
	if (bpf_map_update_elem(fd_srcs, &ckb, &vb, BPF_NOEXIST) != 0)
		return -2;
	return 0;
	/* Each step keeps the first failure's errno. */
undo_sb:
	e = errno;
	bpf_map_delete_elem(fd_socks, &ckb);
	errno = e;
undo_sa:
	e = errno;
	bpf_map_delete_elem(fd_socks, &cka);
	errno = e;
undo_pb:
	e = errno;
	bpf_map_delete_elem(fd_peers, &ckb);
	errno = e;
undo_pa:
	e = errno;
	bpf_map_delete_elem(fd_peers, &cka);
	errno = e;
undo_cb:
	e = errno;
	bpf_map_delete_elem(fd_ctl, &ckb);
	errno = e;
undo_ca:
	e = errno;
	bpf_map_delete_elem(fd_ctl, &cka);
	errno = e;
	return -1;
}

int
sockmap_stats(uint64_t cookie, struct relay_peer *p)
{
	return bpf_map_lookup_elem(fd_peers, &cookie, p);
}

int
sockmap_grant(uint64_t cookie, uint64_t consumed, uint64_t credit)
{
	struct relay_ctl ctl = { .consumed = consumed, .credit = credit };

	return bpf_map_update_elem(fd_ctl, &cookie, &ctl, BPF_EXIST);
}

int
sockmap_unlink(uint64_t cookie, uint64_t *bytes)
{
	struct relay_peer p;
	int r;

	bpf_map_delete_elem(fd_ctl, &cookie);
	if ((r = bpf_map_lookup_and_delete_elem(fd_peers, &cookie, &p)) == 0)
		*bytes = p.bytes;
	return r;
}

int
tcp_written(int fd, uint64_t *out, uint64_t *unacked)
{
	/* acked + queued, read with two calls: an ACK between them would move bytes from one
	 * to the other. Read acked again and accept only when it did not move. */
	for (int i = 0; i < 8; i++) {
		struct tcp_info a, b;
		socklen_t la = sizeof(a), lb = sizeof(b);
		int q;

		if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &a, &la) != 0 ||
		    ioctl(fd, SIOCOUTQ, &q) != 0 ||
		    getsockopt(fd, IPPROTO_TCP, TCP_INFO, &b, &lb) != 0)
			return -1;
		if (a.tcpi_bytes_acked == b.tcpi_bytes_acked) {
			*out = a.tcpi_bytes_acked + (uint64_t)q;
			if (unacked)
				*unacked = (uint64_t)q;
			return 0;
		}
	}
	errno = EAGAIN;
	return -1;
}
