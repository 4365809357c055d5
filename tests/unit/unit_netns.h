/* Unit-test cases that need a network namespace of their own (nftables, routes, the
 * network sysctls): NETNS_CASE(name) { body } runs the body in a forked child that has
 * unshared its network namespace, so nothing of the host's is touched. Needs root. */
#ifndef JFE_UNIT_NETNS_H
#define JFE_UNIT_NETNS_H

#include <sched.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/unit/unit.h"

#define NETNS_CASE(name) \
	static void name##_body(void); \
	static void name(void) { in_netns(name##_body); } \
	static void name##_body(void)

static inline void
in_netns(void (*body)(void))
{
	pid_t pid;
	int status;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		perror("fork");
		unit_case_failed = 1;
		return;
	}
	if (pid == 0) {
		if (unshare(CLONE_NEWNET) != 0) {
			perror("unshare(CLONE_NEWNET) (run as root)");
			exit(2);
		}
		if (system("ip link set lo up") != 0)
			exit(2);
		body();
		fflush(stdout);
		exit(unit_case_failed ? 1 : 0);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		unit_case_failed = 1;
}

#endif
