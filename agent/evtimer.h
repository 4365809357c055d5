/* Timers of the agent loop: a proxy/timer.h heap entry with the function to run. */
#ifndef JFE_EVTIMER_H
#define JFE_EVTIMER_H

#include "proxy/timer.h"

struct evtimer {
	struct timer t;                 /* first: the heap hands back &t */
	void (*fn)(struct evtimer *);
};

#endif
