#include "providers/dns01.h"

#include <stdlib.h>
#include <string.h>

#include "agent/evtimer.h"
#include "agent/log.h"
#include "providers/resolve.h"

#define VISIBLE_POLL_MS 1000

struct visible_wait {
	struct evtimer tm;              /* first: the timer hands back the wait */
	struct visible_wait *next, *prev;
	struct resolver *res;
	struct timer_heap *timers;
	char rrname[300];
	char value[128];
	uint64_t deadline;
	dns01_cb cb;
	void *arg;
};

static void visible_query(struct visible_wait *w);

/* Waits in progress (agent thread only), so a stop can end them. */
static struct visible_wait *waits;

static void
visible_done(struct visible_wait *w, int ok, const char *why)
{
	if (w->prev)
		w->prev->next = w->next;
	else
		waits = w->next;
	if (w->next)
		w->next->prev = w->prev;
	timer_disarm(w->timers, &w->tm.t);
	w->cb(w->arg, ok, why);
	free(w);
}

void
dns01_cancel_all(void)
{
	while (waits)
		visible_done(waits, 0, "cancelled");
}

static void
visible_answer(void *arg, const char *name, enum resolve_status st, char **txt, size_t n)
{
	struct visible_wait *w = arg;

	(void)name;
	if (st == RESOLVE_CANCELLED) {
		visible_done(w, 0, "cancelled");
		return;
	}
	for (size_t i = 0; i < n; i++)
		if (strcmp(txt[i], w->value) == 0) {
			visible_done(w, 1, NULL);
			return;
		}
	if (now_ms() >= w->deadline) {
		char why[120];

		snprintf(why, sizeof(why), "the TXT record is not visible in DNS yet (%s)",
		    resolve_status_str(st));
		visible_done(w, 0, why);
		return;
	}
	timer_arm(w->timers, &w->tm.t, now_ms() + VISIBLE_POLL_MS);
}

static void
visible_timer(struct evtimer *t)
{
	visible_query((struct visible_wait *)t);
}

static void
visible_query(struct visible_wait *w)
{
	if (resolve_txt(w->res, w->rrname, visible_answer, w) != 0)
		visible_done(w, 0, "cannot query DNS");
}

int
dns01_wait_visible(struct resolver *res, struct timer_heap *timers, const char *rrname,
    const char *value, unsigned timeout_ms, dns01_cb cb, void *arg)
{
	struct visible_wait *w = calloc(1, sizeof(*w));

	if (w == NULL)
		return -1;
	w->tm.fn = visible_timer;
	w->res = res;
	w->timers = timers;
	snprintf(w->rrname, sizeof(w->rrname), "%s", rrname);
	snprintf(w->value, sizeof(w->value), "%s", value);
	w->deadline = now_ms() + timeout_ms;
	w->cb = cb;
	w->arg = arg;
	w->next = waits;
	if (waits)
		waits->prev = w;
	waits = w;
	visible_query(w);
	return 0;
}
