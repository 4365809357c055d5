/* Workers: one thread per CPU, each with its own epoll loop, transparent listeners
 * (SO_REUSEPORT, so the kernel spreads new connections), connections, timers and pipe pool.
 * Nothing a worker does blocks. */
#ifndef JFE_WORKER_H
#define JFE_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "proxy/backend.h"
#include "proxy/conn.h"
#include "proxy/timer.h"

struct jfe_options;
struct tls_front;

/* Counters a worker updates and the control thread reads (relaxed: they are statistics). */
struct worker_stats {
	_Atomic uint64_t active[CK_KIND_MAX];
	_Atomic uint64_t total[CK_KIND_MAX];
	_Atomic uint64_t bytes_c2u, bytes_u2c;
	_Atomic uint64_t handshake_failures;
	_Atomic uint64_t ktls_tx;       /* handshakes after which the kernel encrypts (kTLS) */
	_Atomic uint64_t upstream_failures;
	_Atomic uint64_t accepted;
	_Atomic uint64_t accept_errors;
	_Atomic uint64_t current;
};

#define WORKER_PIPE_POOL 64
#define WORKER_SCRATCH   (64 * 1024)

struct worker {
	int id;
	int epfd;
	struct endpoint wake;           /* eventfd: stop request */
	struct endpoint lst[2];         /* IPv4 and IPv6 listeners */
	int nlst;
	pthread_t thread;
	const struct jfe_options *opt;
	struct tls_front *tls;
	struct timer_heap timers;
	struct timer accept_pause;      /* armed while accepting is paused (EMFILE, max-conns) */
	uint64_t now;
	struct conn *conns;             /* live connections */
	struct conn *waiting;           /* handshakes parked for a certificate */
	struct conn *dead;              /* closed during this batch, freed after it */
	int pipes[WORKER_PIPE_POOL][2];
	int npipes;
	uint8_t *scratch;
	struct backend_cache *backends;
	_Atomic int stopping;           /* 0 running, 1 stop accepting, 2 drain and exit */
	unsigned drain_ms;              /* written before stopping becomes 2 */
	struct worker_stats st;
};

/* Sets up <n> workers with their listeners bound (the privileged part: a low port and
 * IP_TRANSPARENT), without starting them; *out is NULL after a failure. */
int workers_init(struct worker **out, unsigned n, const struct jfe_options *opt,
    struct tls_front *tls);
/* Starts the threads of workers_init()'s workers. On failure the ones started are joined
 * again; the caller still frees <ws>. */
int workers_run(struct worker *ws, unsigned n);
/* Closes the listeners of every worker: from now on nftables' tproxy finds no transparent
 * socket and new connections go straight to the services (fail-open). */
void workers_stop_accepting(struct worker *ws, unsigned n);
/* Waits up to <drain_ms> for live connections to end, then aborts the rest and joins. */
void workers_join(struct worker *ws, unsigned n, unsigned drain_ms);
void workers_free(struct worker *ws, unsigned n);

/* For conn.c: a pipe from the pool (or a new one), and back. */
int worker_pipe_get(struct worker *w, int *r, int *wr);
void worker_pipe_put(struct worker *w, int r, int wr);
void worker_conn_unlink(struct worker *w, struct conn *c);
/* Stops accepting for a moment (out of descriptors or memory); a timer resumes it. */
void worker_accept_pause(struct worker *w);
void worker_wait_add(struct worker *w, struct conn *c);
void worker_wait_remove(struct worker *w, struct conn *c);
/* Wakes every worker to look at its parked handshakes (the certificate registry changed). */
void workers_notify(void);

#endif
