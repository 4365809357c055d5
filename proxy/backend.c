#include "proxy/backend.h"

#include <string.h>

#include "proxy/sockaddr.h"

static unsigned
dst_hash(const struct sockaddr_storage *d)
{
	const unsigned char *p;
	size_t n;
	unsigned h = 2166136261u ^ sa_port(d);

	if (d->ss_family == AF_INET6) {
		p = (const unsigned char *)&((const struct sockaddr_in6 *)d)->sin6_addr;
		n = 16;
	} else {
		p = (const unsigned char *)&((const struct sockaddr_in *)d)->sin_addr;
		n = 4;
	}
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	return h % BACKEND_CACHE_SIZE;
}

enum backend_verdict
backend_verdict(const struct backend_cache *bc, const struct sockaddr_storage *dst, uint64_t now)
{
	const struct backend_entry *e = &bc->e[dst_hash(dst)];

	if (e->verdict == BV_UNKNOWN || e->expires <= now || !sa_equal(&e->dst, dst))
		return BV_UNKNOWN;
	return (enum backend_verdict)e->verdict;
}

void
backend_learn(struct backend_cache *bc, const struct sockaddr_storage *dst,
    enum backend_verdict v, uint64_t now)
{
	struct backend_entry *e = &bc->e[dst_hash(dst)];

	/* Direct-mapped: a collision forgets the older destination, which is then probed again. */
	memcpy(&e->dst, dst, sizeof(*dst));
	e->verdict = (uint8_t)v;
	e->expires = now + BACKEND_TTL_MS;
}
