/* A binary min-heap of deadlines (milliseconds, CLOCK_MONOTONIC), one per worker. Entries are
 * embedded in their owners; deadlines that move later (idle timeouts) are re-armed lazily when
 * they fire, so activity on a connection costs no heap operation. */
#ifndef JFE_TIMER_H
#define JFE_TIMER_H

#include <stddef.h>
#include <stdint.h>

struct timer {
	uint64_t at;          /* 0: not armed */
	size_t idx;
};

struct timer_heap {
	struct timer **v;
	size_t n, cap;
};

uint64_t now_ms(void);
int timer_arm(struct timer_heap *h, struct timer *t, uint64_t at);  /* (re)arm; 0/-1 */
void timer_disarm(struct timer_heap *h, struct timer *t);
/* The earliest timer if it is due at <now>, removed from the heap; else NULL. */
struct timer *timer_pop_due(struct timer_heap *h, uint64_t now);
/* Milliseconds until the earliest deadline (for epoll_wait), -1 when the heap is empty. */
int timer_next_wait(const struct timer_heap *h, uint64_t now, int cap_ms);
void timer_heap_free(struct timer_heap *h);

#endif
