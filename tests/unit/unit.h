/* A minimal unit-test harness: each test binary calls UNIT_RUN(fn) for every case and returns
 * unit_summary(). Each case prints "PASS: file:case" or "FAIL: file:case"; tests/run counts them. */
#ifndef JFE_UNIT_H
#define JFE_UNIT_H

#include <stdio.h>
#include <string.h>

static int unit_case_failed, unit_passed, unit_failed;

#define UNIT_CHECK(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
		unit_case_failed = 1; \
	} \
} while (0)

#define UNIT_CHECK_MEM(a, b, n) UNIT_CHECK(memcmp((a), (b), (n)) == 0)
#define UNIT_CHECK_STR(a, b) do { \
	const char *unit_a_ = (a), *unit_b_ = (b); \
	if (unit_a_ == NULL || unit_b_ == NULL || strcmp(unit_a_, unit_b_) != 0) { \
		fprintf(stderr, "%s:%d: \"%s\" != \"%s\"\n", __FILE__, __LINE__, \
		    unit_a_ ? unit_a_ : "(null)", unit_b_ ? unit_b_ : "(null)"); \
		unit_case_failed = 1; \
	} \
} while (0)

#define UNIT_RUN(fn) unit_run(__FILE__, #fn, fn)

static inline void
unit_run(const char *file, const char *name, void (*fn)(void))
{
	const char *base = strrchr(file, '/');

	unit_case_failed = 0;
	fn();
	printf("%s: %s:%s\n", unit_case_failed ? "FAIL" : "PASS", base ? base + 1 : file, name);
	fflush(stdout);
	if (unit_case_failed)
		unit_failed++;
	else
		unit_passed++;
}

static inline int
unit_summary(void)
{
	return unit_failed ? 1 : 0;
}

#endif
