/* The daemon's memory: what the heap holds, and handing freed memory back to the system after a
 * burst of connections.
 *
 * glibc's malloc keeps the memory it gets from the system: after 10 000 connections come and
 * go, the per-thread arenas of the workers hold tens of MiB of free chunks that stay resident
 * (measured: 34 MiB before, 96 MiB at the peak, still 96 MiB once every connection was closed,
 * with 1.8 MiB in use), and are reused only by the same arena. malloc_trim() gives the free
 * pages back. Under AddressSanitizer the same goes for its quarantine and caches. */
#ifndef JFE_MEMORY_H
#define JFE_MEMORY_H

#include <stddef.h>
#include <stdint.h>

/* Below this many live connections at the peak, a burst is too small to release after. */
#define MEM_RELEASE_PEAK_MIN 256

/* Bytes the allocator has handed out and not yet had back: what a leak grows, whatever the
 * allocator keeps mapped for reuse. */
size_t mem_heap_in_use(void);

/* The resident set in KiB (/proc/self/statm), or -1. */
long mem_rss_kib(void);

/* Gives the free memory the allocator keeps back to the system. */
void mem_release(void);

/* Called now and then (the main loop's housekeeping tick) with the number of live connections:
 * calls mem_release() once the count has fallen to a quarter of its peak since the last release,
 * when that peak was MEM_RELEASE_PEAK_MIN or more. Returns 1 when it released, else 0. Main
 * thread only. */
int mem_tick(uint64_t live);

#endif
