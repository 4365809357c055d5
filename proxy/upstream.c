#include "proxy/upstream.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <unistd.h>

#include "proxy/sockaddr.h"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

static int
upstream_try(const struct sockaddr_storage *client, const struct sockaddr_storage *dst,
    int preserve_source, int *collided)
{
	struct sockaddr_storage src, local;
	socklen_t sl = sizeof(local);
	int fd, one = 1, saved;

	*collided = 0;
	fd = socket(dst->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
	if (fd < 0)
		return -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (preserve_source) {
		int lvl = dst->ss_family == AF_INET6 ? IPPROTO_IPV6 : IPPROTO_IP;
		int opt = dst->ss_family == AF_INET6 ? IPV6_TRANSPARENT : IP_TRANSPARENT;

		memcpy(&src, client, sizeof(src));
		if (src.ss_family == AF_INET6)
			((struct sockaddr_in6 *)&src)->sin6_port = 0;
		else
			((struct sockaddr_in *)&src)->sin_port = 0;
		/* The port is chosen at connect() time, per 4-tuple, so a busy client address
		 * does not exhaust the ephemeral range. */
		(void)setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
		if (setsockopt(fd, lvl, opt, &one, sizeof(one)) != 0 ||
		    bind(fd, (struct sockaddr *)&src, sa_len(&src)) != 0)
			goto fail;
	}
	if (connect(fd, (const struct sockaddr *)dst, sa_len(dst)) != 0 && errno != EINPROGRESS)
		goto fail;
	/* The kernel may, rarely, pick the client's own source port: the upstream 4-tuple then
	 * mirrors the client's, conntrack merges them and the connect never completes. */
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
    int preserve_source)
{
	int collided, fd = -1;

	for (int i = 0; i < 4; i++) {
		fd = upstream_try(client, dst, preserve_source, &collided);
		if (!collided)
			break;
	}
	return fd;
}
