#include "proxy/upstream.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <arpa/inet.h>
#include <string.h>
#include <unistd.h>

#include "proxy/sockaddr.h"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

/* Source ports of connections made with the client's address. They share the client's port
 * space on this host, so a port the client later picks for a new connection to the same
 * service would collide with one held (or in TIME-WAIT) here, and that client's connection
 * would hang; clients' ephemeral ports are 32768-60999 (Linux) or 49152-65535 (Windows,
 * macOS), so jfe picks its own below them. The kernel's per-socket range cannot leave the
 * system's ephemeral range, hence an explicit bind. */
#define UPSTREAM_PORT_LO   10000
#define UPSTREAM_PORT_HI   32767
#define UPSTREAM_PORT_TRIES 16

static unsigned
upstream_port_pick(void)
{
	static _Thread_local uint32_t x;

	if (x == 0)
		x = (uint32_t)getpid() * 2654435761u ^ (uint32_t)(uintptr_t)&x;
	/* xorshift32: spread, not secrecy (the client chose its own port in the open) */
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return UPSTREAM_PORT_LO + x % (UPSTREAM_PORT_HI - UPSTREAM_PORT_LO + 1);
}

static int
upstream_try(const struct sockaddr_storage *client, const struct sockaddr_storage *dst,
    int preserve_source, uint32_t mark, int *collided, unsigned port)
{
	struct sockaddr_storage src, local;
	socklen_t sl = sizeof(local);
	int fd, one = 1, saved;

	*collided = 0;
	fd = socket(dst->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
	if (fd < 0)
		return -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (mark != 0 && setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)) != 0)
		goto fail;
	if (preserve_source) {
		int lvl = dst->ss_family == AF_INET6 ? IPPROTO_IPV6 : IPPROTO_IP;
		int opt = dst->ss_family == AF_INET6 ? IPV6_TRANSPARENT : IP_TRANSPARENT;

		memcpy(&src, client, sizeof(src));
		if (src.ss_family == AF_INET6)
			((struct sockaddr_in6 *)&src)->sin6_port = htons((uint16_t)port);
		else
			((struct sockaddr_in *)&src)->sin_port = htons((uint16_t)port);
		/* Several upstream connections may share a source port towards different
		 * services; connect() refuses (EADDRNOTAVAIL) an exact 4-tuple clash. */
		if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
		    setsockopt(fd, lvl, opt, &one, sizeof(one)) != 0)
			goto fail;
		if (bind(fd, (struct sockaddr *)&src, sa_len(&src)) != 0) {
			*collided = errno == EADDRINUSE;
			goto fail;
		}
	}
	if (connect(fd, (const struct sockaddr *)dst, sa_len(dst)) != 0 && errno != EINPROGRESS) {
		if (preserve_source && (errno == EADDRNOTAVAIL || errno == EADDRINUSE))
			*collided = 1;
		goto fail;
	}
	/* The port picked may be the client's own (a client using low ports): the upstream
	 * 4-tuple then mirrors the client's, conntrack merges them and the connect never
	 * completes. */
	if (preserve_source && getsockname(fd, (struct sockaddr *)&local, &sl) == 0 &&
	    sa_port(&local) == sa_port(client)) {
		*collided = 1;
		close(fd);
		return -1;
	}
	return fd;
fail:
	saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

int
upstream_connect(const struct sockaddr_storage *client, const struct sockaddr_storage *dst,
    int preserve_source, uint32_t mark)
{
	int collided, fd = -1;

	for (int i = 0; i < UPSTREAM_PORT_TRIES; i++) {
		fd = upstream_try(client, dst, preserve_source, mark, &collided,
		    upstream_port_pick());
		if (!collided)
			break;
	}
	return fd;
}
