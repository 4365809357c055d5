#include "proxy/timer.h"

#include <stdlib.h>
#include <time.h>

uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void
heap_swap(struct timer_heap *h, size_t a, size_t b)
{
	struct timer *t = h->v[a];

	h->v[a] = h->v[b];
	h->v[b] = t;
	h->v[a]->idx = a;
	h->v[b]->idx = b;
}

static void
heap_up(struct timer_heap *h, size_t i)
{
	while (i > 0) {
		size_t p = (i - 1) / 2;

		if (h->v[p]->at <= h->v[i]->at)
			break;
		heap_swap(h, p, i);
		i = p;
	}
}

static void
heap_down(struct timer_heap *h, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < h->n && h->v[l]->at < h->v[m]->at)
			m = l;
		if (r < h->n && h->v[r]->at < h->v[m]->at)
			m = r;
		if (m == i)
			return;
		heap_swap(h, i, m);
		i = m;
	}
}

void
timer_disarm(struct timer_heap *h, struct timer *t)
{
	size_t i = t->idx;

	if (t->at == 0)
		return;
	t->at = 0;
	h->n--;
	if (i != h->n) {
		h->v[i] = h->v[h->n];
		h->v[i]->idx = i;
		heap_down(h, i);
		heap_up(h, i);
	}
}

int
timer_arm(struct timer_heap *h, struct timer *t, uint64_t at)
{
	if (at == 0)
		at = 1;
	if (t->at != 0) {
		uint64_t old = t->at;

		t->at = at;
		if (at < old)
			heap_up(h, t->idx);
		else
			heap_down(h, t->idx);
		return 0;
	}
	if (h->n == h->cap) {
		size_t ncap = h->cap ? h->cap * 2 : 256;
		struct timer **nv = realloc(h->v, ncap * sizeof(*nv));

		if (nv == NULL)
			return -1;
		h->v = nv;
		h->cap = ncap;
	}
	t->at = at;
	t->idx = h->n;
	h->v[h->n++] = t;
	heap_up(h, t->idx);
	return 0;
}

struct timer *
timer_pop_due(struct timer_heap *h, uint64_t now)
{
	struct timer *t;

	if (h->n == 0 || h->v[0]->at > now)
		return NULL;
	t = h->v[0];
	timer_disarm(h, t);
	return t;
}

int
timer_next_wait(const struct timer_heap *h, uint64_t now, int cap_ms)
{
	uint64_t d;

	if (h->n == 0)
		return cap_ms;
	if (h->v[0]->at <= now)
		return 0;
	d = h->v[0]->at - now;
	return d > (uint64_t)cap_ms && cap_ms >= 0 ? cap_ms : (int)d;
}

void
timer_heap_free(struct timer_heap *h)
{
	free(h->v);
	h->v = NULL;
	h->n = h->cap = 0;
}
