/* What a destination speaks, learnt once: a service that already terminates TLS itself is
 * left alone (its own certificate reaches the client), one that speaks plaintext gets jfe's
 * TLS. The first TLS client of an unknown destination is the probe: its hello goes to the
 * service, and the answer decides. Per worker, so no locking; entries expire. */
#ifndef JFE_BACKEND_H
#define JFE_BACKEND_H

#include <stdint.h>
#include <sys/socket.h>

enum backend_verdict { BV_UNKNOWN, BV_TLS, BV_PLAIN };

#define BACKEND_CACHE_SIZE 1024
#define BACKEND_TTL_MS     (10 * 60 * 1000)

struct backend_entry {
	struct sockaddr_storage dst;
	uint64_t expires;
	uint8_t verdict;
};

struct backend_cache {
	struct backend_entry e[BACKEND_CACHE_SIZE];
};

enum backend_verdict backend_verdict(const struct backend_cache *bc,
    const struct sockaddr_storage *dst, uint64_t now);
void backend_learn(struct backend_cache *bc, const struct sockaddr_storage *dst,
    enum backend_verdict v, uint64_t now);

#endif
