/* proxy/returnpath.c: the kernel settings of the socket-mark return path, set, recorded and
 * restored. Every case runs in a network namespace of its own (the settings are per
 * namespace), so the host's values are never read or changed. Run as root. */
#include "tests/unit/unit_netns.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/log.h"
#include "proxy/returnpath.h"

static const char *const knobs[] = {
	"/proc/sys/net/ipv4/tcp_fwmark_accept",
	"/proc/sys/net/ipv4/fwmark_reflect",
	"/proc/sys/net/ipv6/fwmark_reflect",
};
#define KNOBS (sizeof(knobs) / sizeof(knobs[0]))

static char dir[64];

static int
knob_get(size_t i)
{
	FILE *f = fopen(knobs[i], "re");
	int v = -1;

	if (f != NULL) {
		if (fscanf(f, "%d", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

static void
knob_put(size_t i, int v)
{
	FILE *f = fopen(knobs[i], "we");

	UNIT_CHECK(f != NULL);
	if (f != NULL) {
		fprintf(f, "%d", v);
		UNIT_CHECK(fclose(f) == 0);
	}
}

/* The record's text, or "" when there is none (malloc'd). */
static char *
record_text(void)
{
	char path[128], *buf = calloc(1, 4096);
	FILE *f;

	snprintf(path, sizeof(path), "%s/return-path.saved", dir);
	if (buf != NULL && (f = fopen(path, "re")) != NULL) {
		size_t n = fread(buf, 1, 4095, f);

		buf[n] = '\0';
		fclose(f);
	}
	return buf;
}

/* 1 if the record of old values is in <d>. */
static int
returnpath_recorded(const char *d)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/return-path.saved", d);
	return access(path, F_OK) == 0;
}

static void
fresh_dir(void)
{
	snprintf(dir, sizeof(dir), "/tmp/jfe-returnpath.XXXXXX");
	UNIT_CHECK(mkdtemp(dir) != NULL);
}

static void
drop_dir(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	UNIT_CHECK(system(cmd) == 0);
}

/* A new namespace starts with all three at 0: set puts them at 1 and records the 0s;
 * restore puts the 0s back and removes the record. */
NETNS_CASE(test_set_then_restore)
{
	char *t;

	fresh_dir();
	for (size_t i = 0; i < KNOBS; i++)
		UNIT_CHECK(knob_get(i) == 0);
	UNIT_CHECK(returnpath_ready() == 0);
	UNIT_CHECK(returnpath_recorded(dir) == 0);
	UNIT_CHECK(returnpath_set(dir) == 0);
	UNIT_CHECK(returnpath_ready() == 1);
	for (size_t i = 0; i < KNOBS; i++)
		UNIT_CHECK(knob_get(i) == 1);
	UNIT_CHECK(returnpath_recorded(dir) == 1);
	t = record_text();
	UNIT_CHECK(strstr(t, "\nnet.ipv4.tcp_fwmark_accept=0\n") != NULL);
	UNIT_CHECK(strstr(t, "\nnet.ipv4.fwmark_reflect=0\n") != NULL);
	UNIT_CHECK(strstr(t, "\nnet.ipv6.fwmark_reflect=0\n") != NULL);
	free(t);
	UNIT_CHECK(returnpath_restore(dir) == 0);
	for (size_t i = 0; i < KNOBS; i++)
		UNIT_CHECK(knob_get(i) == 0);
	UNIT_CHECK(returnpath_recorded(dir) == 0);
	UNIT_CHECK(returnpath_restore(dir) == 0);       /* nothing recorded: nothing to do */
	drop_dir();
}

/* After a crash (the settings are jfe's, the record is there), a second set must not take
 * jfe's own 1s for the originals: the restore still writes back the 0s. */
NETNS_CASE(test_set_after_crash_keeps_originals)
{
	char *before, *after;

	fresh_dir();
	UNIT_CHECK(returnpath_set(dir) == 0);
	before = record_text();
	UNIT_CHECK(returnpath_set(dir) == 0);
	after = record_text();
	UNIT_CHECK_STR(before, after);
	free(before);
	free(after);
	UNIT_CHECK(returnpath_restore(dir) == 0);
	for (size_t i = 0; i < KNOBS; i++)
		UNIT_CHECK(knob_get(i) == 0);
	drop_dir();
}

/* A setting the administrator had already put at 1 is neither recorded nor restored. */
NETNS_CASE(test_admin_value_left_alone)
{
	char *t;

	fresh_dir();
	knob_put(0, 1);
	UNIT_CHECK(returnpath_set(dir) == 0);
	t = record_text();
	UNIT_CHECK(strstr(t, "tcp_fwmark_accept") == NULL);
	UNIT_CHECK(strstr(t, "net.ipv4.fwmark_reflect=0") != NULL);
	free(t);
	UNIT_CHECK(returnpath_restore(dir) == 0);
	UNIT_CHECK(knob_get(0) == 1);
	UNIT_CHECK(knob_get(1) == 0);
	UNIT_CHECK(knob_get(2) == 0);
	/* All in place already: no record at all. */
	for (size_t i = 0; i < KNOBS; i++)
		knob_put(i, 1);
	UNIT_CHECK(returnpath_ready() == 1);
	UNIT_CHECK(returnpath_set(dir) == 0);
	UNIT_CHECK(returnpath_recorded(dir) == 0);
	drop_dir();
}

/* A damaged record is refused: nothing is changed, nothing restored from it. */
NETNS_CASE(test_bad_record_refused)
{
	static const char *const bad[] = {
		"net.ipv4.tcp_fwmark_accept=1; rm -rf /\n",
		"net.ipv4.ip_forward=1\n",
		"net.ipv4.fwmark_reflect=\n",
		"no equals sign\n",
	};
	char path[128];

	fresh_dir();
	snprintf(path, sizeof(path), "%s/return-path.saved", dir);
	for (size_t b = 0; b < sizeof(bad) / sizeof(bad[0]); b++) {
		FILE *f = fopen(path, "we");

		UNIT_CHECK(f != NULL);
		if (f == NULL)
			break;
		fputs(bad[b], f);
		fclose(f);
		UNIT_CHECK(returnpath_set(dir) == -1);
		UNIT_CHECK(returnpath_restore(dir) == -1);
		UNIT_CHECK(returnpath_recorded(dir) == 1);     /* kept for a human to look at */
		for (size_t i = 0; i < KNOBS; i++)
			UNIT_CHECK(knob_get(i) == 0);
	}
	drop_dir();
}

/* The record cannot be written (its directory is a file): nothing is changed. */
NETNS_CASE(test_unwritable_record_changes_nothing)
{
	char file[96];
	int fd;

	fresh_dir();
	snprintf(file, sizeof(file), "%s/not-a-dir", dir);
	fd = open(file, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	UNIT_CHECK(fd >= 0);
	if (fd >= 0)
		close(fd);
	UNIT_CHECK(returnpath_set(file) == -1);
	for (size_t i = 0; i < KNOBS; i++)
		UNIT_CHECK(knob_get(i) == 0);
	drop_dir();
}

int
main(void)
{
	log_init("test_returnpath", 0);
	if (geteuid() != 0) {
		fprintf(stderr, "test_returnpath: needs root (network namespaces)\n");
		return 1;
	}
	UNIT_RUN(test_set_then_restore);
	UNIT_RUN(test_set_after_crash_keeps_originals);
	UNIT_RUN(test_admin_value_left_alone);
	UNIT_RUN(test_bad_record_refused);
	UNIT_RUN(test_unwritable_record_changes_nothing);
	return unit_summary();
}
