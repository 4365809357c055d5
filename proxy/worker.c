#include "proxy/worker.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "agent/log.h"
#include "agent/options.h"
#include "proxy/listener.h"

#define ACCEPT_BATCH     64
#define ACCEPT_PAUSE_MS  100
#define EVENTS_MAX       256

int
worker_pipe_get(struct worker *w, int *r, int *wr)
{
	int p[2];

	if (w->npipes > 0) {
		w->npipes--;
		*r = w->pipes[w->npipes][0];
		*wr = w->pipes[w->npipes][1];
		return 0;
	}
	if (pipe2(p, O_NONBLOCK | O_CLOEXEC) != 0) {
		log_warn("worker %d: pipe: %s", w->id, strerror(errno));
		return -1;
	}
	*r = p[0];
	*wr = p[1];
	return 0;
}

void
worker_pipe_put(struct worker *w, int r, int wr)
{
	if (w->npipes < WORKER_PIPE_POOL) {
		w->pipes[w->npipes][0] = r;
		w->pipes[w->npipes][1] = wr;
		w->npipes++;
		return;
	}
	close(r);
	close(wr);
}

void
worker_conn_unlink(struct worker *w, struct conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->next = c->prev = NULL;
	atomic_fetch_sub_explicit(&w->st.current, 1, memory_order_relaxed);
}

static struct worker *all_workers;
static unsigned all_nworkers;

void
worker_wait_add(struct worker *w, struct conn *c)
{
	c->wprev = NULL;
	c->wnext = w->waiting;
	if (w->waiting)
		w->waiting->wprev = c;
	w->waiting = c;
}

void
worker_wait_remove(struct worker *w, struct conn *c)
{
	if (c->wprev)
		c->wprev->wnext = c->wnext;
	else if (w->waiting == c)
		w->waiting = c->wnext;
	if (c->wnext)
		c->wnext->wprev = c->wprev;
	c->wnext = c->wprev = NULL;
}

void
workers_notify(void)
{
	uint64_t one = 1;

	for (unsigned i = 0; i < all_nworkers; i++)
		if (write(all_workers[i].wake.fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
			log_warn("worker %u: wake: %s", i, strerror(errno));
}

static void
worker_resume_waiting(struct worker *w)
{
	struct conn *c = w->waiting, *next;

	for (; c; c = next) {
		next = c->wnext;
		conn_cert_changed(c);
	}
}

static void
listener_interest(struct worker *w, int on)
{
	for (int i = 0; i < w->nlst; i++) {
		struct epoll_event ev = { .events = on ? EPOLLIN : 0, .data.ptr = &w->lst[i] };

		if (w->lst[i].fd >= 0)
			epoll_ctl(w->epfd, EPOLL_CTL_MOD, w->lst[i].fd, &ev);
	}
}

void
worker_accept_pause(struct worker *w)
{
	if (w->accept_pause.at)
		return;
	listener_interest(w, 0);
	timer_arm(&w->timers, &w->accept_pause, w->now + ACCEPT_PAUSE_MS);
}

static void
worker_accept(struct worker *w, struct endpoint *l)
{
	unsigned limit = w->opt->max_conns;

	for (int i = 0; i < ACCEPT_BATCH; i++) {
		int fd;

		if (atomic_load_explicit(&w->st.current, memory_order_relaxed) >= limit) {
			/* Full: leave new connections in the backlog until some end. */
			worker_accept_pause(w);
			return;
		}
		fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			if (errno == ECONNABORTED || errno == EPROTO)
				continue;
			/* Out of descriptors or memory: back off instead of spinning on a
			 * listener that stays readable. */
			atomic_fetch_add_explicit(&w->st.accept_errors, 1, memory_order_relaxed);
			log_warn("worker %d: accept: %s; pausing %d ms", w->id, strerror(errno),
			    ACCEPT_PAUSE_MS);
			worker_accept_pause(w);
			return;
		}
		atomic_fetch_add_explicit(&w->st.accepted, 1, memory_order_relaxed);
		conn_start(w, fd);
	}
}

static void
worker_close_listeners(struct worker *w)
{
	for (int i = 0; i < w->nlst; i++) {
		if (w->lst[i].fd >= 0) {
			close(w->lst[i].fd);
			w->lst[i].fd = -1;
		}
	}
	timer_disarm(&w->timers, &w->accept_pause);
}

static void
worker_reap(struct worker *w)
{
	while (w->dead) {
		struct conn *c = w->dead;

		w->dead = c->next;
		free(c);
	}
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	struct epoll_event ev[EVENTS_MAX];
	uint64_t drain_until = 0;

	for (;;) {
		int n, wait_ms, stop;
		struct timer *t;

		stop = atomic_load(&w->stopping);
		if (stop >= 1 && w->nlst) {
			worker_close_listeners(w);
			w->nlst = 0;
		}
		if (stop >= 2) {
			if (drain_until == 0)
				drain_until = now_ms() + w->drain_ms;
			if (w->conns == NULL)
				break;
			if (now_ms() >= drain_until) {
				while (w->conns)
					conn_abort(w->conns, "shutdown");
				break;
			}
		}
		wait_ms = timer_next_wait(&w->timers, now_ms(), drain_until ? 100 : 1000);
		n = epoll_wait(w->epfd, ev, EVENTS_MAX, wait_ms);
		if (n < 0 && errno != EINTR) {
			log_err("worker %d: epoll_wait: %s", w->id, strerror(errno));
			break;
		}
		w->now = now_ms();
		for (int i = 0; i < n; i++) {
			struct endpoint *ep = ev[i].data.ptr;

			switch (ep->tag) {
			case EPT_LISTENER:
				if (ep->fd >= 0)
					worker_accept(w, ep);
				break;
			case EPT_WAKE: {
				uint64_t v;

				if (read(ep->fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
					log_warn("worker %d: eventfd: %s", w->id, strerror(errno));
				worker_resume_waiting(w);
				break;
			}
			default:
				conn_event(ep, ev[i].events);
				break;
			}
		}
		while ((t = timer_pop_due(&w->timers, w->now)) != NULL) {
			if (t == &w->accept_pause) {
				if (w->nlst)
					listener_interest(w, 1);
			} else
				conn_timeout(conn_of_timer(t));
		}
		worker_reap(w);
	}
	worker_reap(w);
	return NULL;
}

static int
worker_init(struct worker *w, int id, const struct jfe_options *opt, struct tls_front *tls)
{
	struct epoll_event ev;
	int fams[2] = { AF_INET, AF_INET6 };

	memset(w, 0, sizeof(*w));
	w->id = id;
	w->opt = opt;
	w->tls = tls;
	w->wake.tag = EPT_WAKE;
	w->wake.fd = -1;
	w->epfd = -1;
	w->lst[0].fd = w->lst[1].fd = -1;
	w->now = now_ms();
	if ((w->scratch = malloc(WORKER_SCRATCH)) == NULL ||
	    (w->backends = calloc(1, sizeof(*w->backends))) == NULL)
		return -1;
	if ((w->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0)
		goto fail;
	if ((w->wake.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0)
		goto fail;
	ev.events = EPOLLIN;
	ev.data.ptr = &w->wake;
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->wake.fd, &ev) != 0)
		goto fail;
	for (int i = 0; i < 2; i++) {
		w->lst[i].tag = EPT_LISTENER;
		if ((w->lst[i].fd = listener_open(fams[i], opt->listen_port)) < 0) {
			if (fams[i] == AF_INET6) {
				/* A host without IPv6 still gets IPv4 interception. */
				log_warn("worker %d: no IPv6 listener; IPv6 is not intercepted", id);
				continue;
			}
			goto fail;
		}
		ev.events = EPOLLIN;
		ev.data.ptr = &w->lst[i];
		if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->lst[i].fd, &ev) != 0)
			goto fail;
	}
	w->nlst = 2;
	return 0;
fail:
	log_err("worker %d: set-up failed: %s", id, strerror(errno));
	return -1;
}

static void
worker_release(struct worker *w)
{
	worker_close_listeners(w);
	for (int i = 0; i < w->npipes; i++) {
		close(w->pipes[i][0]);
		close(w->pipes[i][1]);
	}
	w->npipes = 0;
	if (w->wake.fd >= 0)
		close(w->wake.fd);
	if (w->epfd >= 0)
		close(w->epfd);
	w->wake.fd = w->epfd = -1;
	timer_heap_free(&w->timers);
	free(w->scratch);
	w->scratch = NULL;
	free(w->backends);
	w->backends = NULL;
}

int
workers_init(struct worker **out, unsigned n, const struct jfe_options *opt,
    struct tls_front *tls)
{
	struct worker *ws = calloc(n, sizeof(*ws));
	unsigned i;

	*out = NULL;
	if (ws == NULL)
		return -1;
	for (i = 0; i < n; i++)
		ws[i].epfd = ws[i].wake.fd = ws[i].lst[0].fd = ws[i].lst[1].fd = -1;
	for (i = 0; i < n; i++)
		if (worker_init(&ws[i], (int)i, opt, tls) != 0) {
			workers_free(ws, n);
			return -1;
		}
	*out = ws;
	return 0;
}

int
workers_run(struct worker *ws, unsigned n)
{
	unsigned i, started = 0;

	for (i = 0; i < n; i++) {
		if ((errno = pthread_create(&ws[i].thread, NULL, worker_main, &ws[i])) != 0) {
			log_err("worker %u: thread: %s", i, strerror(errno));
			goto fail;
		}
		started++;
	}
	all_workers = ws;
	all_nworkers = n;
	return 0;
fail:
	workers_stop_accepting(ws, started);
	workers_join(ws, started, 0);
	return -1;
}

static void
workers_poke(struct worker *ws, unsigned n, int level, unsigned drain_ms)
{
	uint64_t one = 1;

	for (unsigned i = 0; i < n; i++) {
		int cur = atomic_load(&ws[i].stopping);

		ws[i].drain_ms = drain_ms;
		if (level > cur)
			atomic_store(&ws[i].stopping, level);
		if (write(ws[i].wake.fd, &one, sizeof(one)) < 0)
			log_warn("worker %u: wake: %s", i, strerror(errno));
	}
}

void
workers_stop_accepting(struct worker *ws, unsigned n)
{
	workers_poke(ws, n, 1, 0);
}

void
workers_join(struct worker *ws, unsigned n, unsigned drain_ms)
{
	workers_poke(ws, n, 2, drain_ms);
	for (unsigned i = 0; i < n; i++)
		pthread_join(ws[i].thread, NULL);
}

void
workers_free(struct worker *ws, unsigned n)
{
	if (ws == NULL)
		return;
	if (ws == all_workers) {
		all_workers = NULL;
		all_nworkers = 0;
	}
	for (unsigned i = 0; i < n; i++)
		worker_release(&ws[i]);
	free(ws);
}
