#include "agent/memory.h"

#include <malloc.h>
#include <stdio.h>
#include <unistd.h>

/* GCC defines __SANITIZE_ADDRESS__ under -fsanitize=address; clang says it with
 * __has_feature. */
#if defined(__SANITIZE_ADDRESS__)
#define JFE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define JFE_ASAN 1
#endif
#endif

#ifdef JFE_ASAN
/* From <sanitizer/allocator_interface.h>, which GCC does not install. */
size_t __sanitizer_get_current_allocated_bytes(void);
void __sanitizer_purge_allocator(void);
#endif

size_t
mem_heap_in_use(void)
{
#ifdef JFE_ASAN
	return __sanitizer_get_current_allocated_bytes();
#else
	struct mallinfo2 mi = mallinfo2();

	/* Chunks in use in every arena, plus the large blocks malloc mmaps on their own. */
	return mi.uordblks + mi.hblkhd;
#endif
}

long
mem_rss_kib(void)
{
	unsigned long size, rss;
	FILE *f = fopen("/proc/self/statm", "re");
	int n;

	if (f == NULL)
		return -1;
	n = fscanf(f, "%lu %lu", &size, &rss);
	fclose(f);
	if (n != 2)
		return -1;
	return (long)(rss * (unsigned long)sysconf(_SC_PAGESIZE) / 1024);
}

void
mem_release(void)
{
#ifdef JFE_ASAN
	/* Empties the quarantine too: freed blocks are then no longer watched for a use after
	 * free, which the next burst's frees start again. */
	__sanitizer_purge_allocator();
#else
	malloc_trim(0);
#endif
}

int
mem_tick(uint64_t live)
{
	static uint64_t peak;

	if (live > peak)
		peak = live;
	if (peak < MEM_RELEASE_PEAK_MIN || live > peak / 4)
		return 0;
	mem_release();
	peak = live;
	return 1;
}
