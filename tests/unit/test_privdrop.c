/* Unit tests of --user (agent/privdrop.c) and of the journal prefixes of agent/log.c. The drop
 * itself cannot be undone, so each case that drops runs in a child process (as root, like the
 * rest of tests/run's netns cases); the child reports through its exit status. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <pwd.h>
#include <stdlib.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/log.h"
#include "agent/privdrop.h"
#include "tests/unit/unit.h"

/* Every case needs a user that is not root: Debian's "nobody" always exists. */
#define USER "nobody"

static void
test_journal_stream(void)
{
	struct stat st;

	memset(&st, 0, sizeof(st));
	st.st_dev = 2049;
	st.st_ino = 123456789;
	UNIT_CHECK(log_journal_stream_is("2049:123456789", &st) == 1);
	UNIT_CHECK(log_journal_stream_is("2049:123456788", &st) == 0);
	UNIT_CHECK(log_journal_stream_is("2048:123456789", &st) == 0);
	UNIT_CHECK(log_journal_stream_is(NULL, &st) == 0);
	UNIT_CHECK(log_journal_stream_is("", &st) == 0);
	UNIT_CHECK(log_journal_stream_is("2049:", &st) == 0);
	UNIT_CHECK(log_journal_stream_is(":123456789", &st) == 0);
	UNIT_CHECK(log_journal_stream_is("2049:123456789x", &st) == 0);
	UNIT_CHECK(log_journal_stream_is("2049:-1", &st) == 0);
	UNIT_CHECK(log_journal_stream_is(" 2049:123456789", &st) == 0);
}

static void
test_log_prefix(void)
{
	struct timespec ts = { .tv_sec = 3600 * 25 + 60 * 2 + 3, .tv_nsec = 45000000 };
	char buf[64];

	/* the journal: sd-daemon.h's priorities, no time, no program */
	UNIT_CHECK(log_prefix(buf, sizeof(buf), 1, LOG_LVL_ERR, "jfe", &ts) == 10);
	UNIT_CHECK_STR(buf, "<3>error: ");
	log_prefix(buf, sizeof(buf), 1, LOG_LVL_WARN, "jfe", &ts);
	UNIT_CHECK_STR(buf, "<4>warning: ");
	log_prefix(buf, sizeof(buf), 1, LOG_LVL_INFO, "jfe", &ts);
	UNIT_CHECK_STR(buf, "<6>info: ");
	log_prefix(buf, sizeof(buf), 1, LOG_LVL_DEBUG, "jfe", &ts);
	UNIT_CHECK_STR(buf, "<7>debug: ");
	/* a terminal or a file: the time (UTC) and the program, as before */
	log_prefix(buf, sizeof(buf), 0, LOG_LVL_WARN, "jfe", &ts);
	UNIT_CHECK_STR(buf, "01:02:03.045 jfe warning: ");
	/* truncated, still terminated, the length is what is in the buffer */
	UNIT_CHECK(log_prefix(buf, 4, 1, LOG_LVL_ERR, "jfe", &ts) == 3);
	UNIT_CHECK_STR(buf, "<3>");
}

static void
test_status_threads(void)
{
	UNIT_CHECK(privdrop_status_threads("Name:\tjfe\nUmask:\t0022\nThreads:\t5\nSigQ:\t0/1\n") == 5);
	UNIT_CHECK(privdrop_status_threads("Threads:\t1\n") == 1);
	UNIT_CHECK(privdrop_status_threads("Name:\tThreads:\t3\n") == -1);
	UNIT_CHECK(privdrop_status_threads("Threads:\t\n") == -1);
	UNIT_CHECK(privdrop_status_threads("Name:\tjfe\n") == -1);
	UNIT_CHECK(privdrop_status_threads("") == -1);
}

static void
test_init_refusals(void)
{
	struct privdrop pd;

	UNIT_CHECK(privdrop_init(&pd, NULL) == 0 && pd.user == NULL);
	UNIT_CHECK(privdrop_group(&pd) == (gid_t)-1);
	UNIT_CHECK(privdrop_apply(&pd) == 0);      /* nothing to do */
	privdrop_free(&pd);
	UNIT_CHECK(privdrop_init(&pd, "") == 0 && pd.user == NULL);
	UNIT_CHECK(privdrop_init(&pd, "root") == -1);
	UNIT_CHECK(privdrop_init(&pd, "no-such-user-jfe-test") == -1);
	UNIT_CHECK(privdrop_init(&pd, USER) == 0);
	UNIT_CHECK(pd.user != NULL && pd.uid != 0 && privdrop_group(&pd) == pd.gid);
	UNIT_CHECK(pd.switch_ids == (geteuid() == 0));
	privdrop_free(&pd);
}

/* Runs <body> in a child; its return value is the child's exit status (0: pass). */
static void
in_child(int (*body)(void))
{
	pid_t pid;
	int status;

	fflush(stdout);
	fflush(stderr);
	if ((pid = fork()) < 0) {
		perror("fork");
		unit_case_failed = 1;
		return;
	}
	if (pid == 0)
		_exit(body());
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "child: status %d\n", status);
		unit_case_failed = 1;
	}
}

/* A "/proc/self/status" line's value, e.g. "CapEff" → "0000000000001000". */
static int
status_field(const char *name, char *out, size_t outsz)
{
	char line[256];
	size_t len = strlen(name);
	FILE *f = fopen("/proc/self/status", "r");
	int found = -1;

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, name, len) == 0 && line[len] == ':') {
			snprintf(out, outsz, "%s", line + len + 2);
			out[strcspn(out, "\n")] = '\0';
			found = 0;
			break;
		}
	fclose(f);
	return found;
}

#define CHILD_CHECK(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
		return 1; \
	} \
} while (0)

static int
drop_body(void)
{
	struct privdrop pd;
	char v[128], want_uid[64];
	struct passwd *pw = getpwnam(USER);
	int fd;

	CHILD_CHECK(pw != NULL);
	CHILD_CHECK(privdrop_init(&pd, USER) == 0);
	CHILD_CHECK(privdrop_apply(&pd) == 0);
	snprintf(want_uid, sizeof(want_uid), "%u\t%u\t%u\t%u", (unsigned)pw->pw_uid,
	    (unsigned)pw->pw_uid, (unsigned)pw->pw_uid, (unsigned)pw->pw_uid);
	CHILD_CHECK(status_field("Uid", v, sizeof(v)) == 0 && strcmp(v, want_uid) == 0);
	/* CAP_NET_ADMIN is bit 12: 0x1000, and nothing else anywhere */
	CHILD_CHECK(status_field("CapEff", v, sizeof(v)) == 0 && strcmp(v, "0000000000001000") == 0);
	CHILD_CHECK(status_field("CapPrm", v, sizeof(v)) == 0 && strcmp(v, "0000000000001000") == 0);
	CHILD_CHECK(status_field("CapBnd", v, sizeof(v)) == 0 && strcmp(v, "0000000000001000") == 0);
	CHILD_CHECK(status_field("CapInh", v, sizeof(v)) == 0 && strcmp(v, "0000000000000000") == 0);
	CHILD_CHECK(status_field("CapAmb", v, sizeof(v)) == 0 && strcmp(v, "0000000000000000") == 0);
	CHILD_CHECK(status_field("NoNewPrivs", v, sizeof(v)) == 0 && strcmp(v, "1") == 0);
	/* no way back, and root's files are out of reach */
	CHILD_CHECK(setuid(0) == -1 && errno == EPERM);
	CHILD_CHECK((fd = open("/etc/shadow", O_RDONLY)) == -1 && errno == EACCES);
	/* a thread started now inherits exactly this */
	CHILD_CHECK(cap_get_bound(CAP_SYS_ADMIN) == 0 && cap_get_bound(CAP_NET_ADMIN) == 1);
	privdrop_free(&pd);
	return 0;
}

static void
test_drop(void)
{
	in_child(drop_body);
}

static void *
idle_thread(void *arg)
{
	pause();
	return arg;
}

/* With a second thread the drop refuses (it would leave that thread root's sets). */
static int
threads_body(void)
{
	struct privdrop pd;
	pthread_t t;

	CHILD_CHECK(privdrop_init(&pd, USER) == 0);
	CHILD_CHECK(pthread_create(&t, NULL, idle_thread, NULL) == 0);
	CHILD_CHECK(privdrop_apply(&pd) == -1);
	CHILD_CHECK(geteuid() == 0);
	privdrop_free(&pd);
	return 0;
}

static void
test_refuses_with_threads(void)
{
	in_child(threads_body);
}

static char tmpdir[64];

static void
mkfile(const char *path, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);

	UNIT_CHECK(fd >= 0);
	if (fd >= 0)
		close(fd);
}

static void
owner_is(const char *path, uid_t uid)
{
	struct stat st;

	UNIT_CHECK(lstat(path, &st) == 0 && st.st_uid == uid);
	if (lstat(path, &st) == 0 && st.st_uid != uid)
		fprintf(stderr, "%s: owned by %u, not %u\n", path, (unsigned)st.st_uid,
		    (unsigned)uid);
}

/* A store jfe wrote as root is handed over whole; a link is handed over, not its target. */
static void
test_own_dir(void)
{
	struct privdrop pd;
	char p[256], store[128];
	struct stat st;

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/jfe-privdrop.XXXXXX");
	UNIT_CHECK(mkdtemp(tmpdir) != NULL);
	UNIT_CHECK(privdrop_init(&pd, USER) == 0);
	snprintf(store, sizeof(store), "%s/store", tmpdir);
	/* a new one: created 0700, the user's */
	UNIT_CHECK(privdrop_own_dir(&pd, store) == 0);
	UNIT_CHECK(stat(store, &st) == 0 && st.st_uid == pd.uid && st.st_gid == pd.gid &&
	    (st.st_mode & 07777) == 0700);
	/* the user's already: left alone, even what is inside */
	snprintf(p, sizeof(p), "%s/rootfile", store);
	mkfile(p, 0600);
	UNIT_CHECK(privdrop_own_dir(&pd, store) == 0);
	owner_is(p, 0);
	UNIT_CHECK(unlink(p) == 0 && rmdir(store) == 0);
	/* root's: every entry handed over, modes kept */
	UNIT_CHECK(mkdir(store, 0700) == 0);
	snprintf(p, sizeof(p), "%s/certs", store);
	UNIT_CHECK(mkdir(p, 0700) == 0);
	snprintf(p, sizeof(p), "%s/certs/a.example", store);
	UNIT_CHECK(mkdir(p, 0700) == 0);
	snprintf(p, sizeof(p), "%s/certs/a.example/v-1", store);
	UNIT_CHECK(mkdir(p, 0700) == 0);
	snprintf(p, sizeof(p), "%s/certs/a.example/v-1/key.pem", store);
	mkfile(p, 0600);
	snprintf(p, sizeof(p), "%s/certs/a.example/current", store);
	UNIT_CHECK(symlink("v-1", p) == 0);
	snprintf(p, sizeof(p), "%s/outside", tmpdir);
	mkfile(p, 0600);
	snprintf(p, sizeof(p), "%s/link-out", store);
	UNIT_CHECK(symlink("../outside", p) == 0);
	UNIT_CHECK(privdrop_own_dir(&pd, store) == 0);
	owner_is(store, pd.uid);
	snprintf(p, sizeof(p), "%s/certs/a.example/v-1/key.pem", store);
	owner_is(p, pd.uid);
	UNIT_CHECK(stat(p, &st) == 0 && (st.st_mode & 07777) == 0600);
	snprintf(p, sizeof(p), "%s/certs/a.example/current", store);
	owner_is(p, pd.uid);
	snprintf(p, sizeof(p), "%s/link-out", store);
	owner_is(p, pd.uid);
	snprintf(p, sizeof(p), "%s/outside", tmpdir);
	owner_is(p, 0);                         /* the link's target was not followed */
	/* somebody else's: refused */
	snprintf(p, sizeof(p), "%s/other", tmpdir);
	UNIT_CHECK(mkdir(p, 0700) == 0 && chown(p, 1, 1) == 0);
	UNIT_CHECK(privdrop_own_dir(&pd, p) == -1);
	owner_is(p, 1);
	/* root's, but others could write in it (the top, or a directory inside): refused */
	snprintf(p, sizeof(p), "%s/open", tmpdir);
	UNIT_CHECK(mkdir(p, 0700) == 0 && chmod(p, 0777) == 0);
	UNIT_CHECK(privdrop_own_dir(&pd, p) == -1);
	owner_is(p, 0);
	snprintf(p, sizeof(p), "%s/deep", tmpdir);
	UNIT_CHECK(mkdir(p, 0755) == 0);
	snprintf(p, sizeof(p), "%s/deep/a", tmpdir);
	mkfile(p, 0600);
	snprintf(p, sizeof(p), "%s/deep/z", tmpdir);
	UNIT_CHECK(mkdir(p, 0700) == 0 && chmod(p, 0773) == 0);
	snprintf(p, sizeof(p), "%s/deep", tmpdir);
	UNIT_CHECK(privdrop_own_dir(&pd, p) == -1);
	owner_is(p, 0);
	snprintf(p, sizeof(p), "%s/deep/a", tmpdir);
	owner_is(p, 0);                         /* a refusal changes nothing */
	privdrop_free(&pd);
	{
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
		UNIT_CHECK(system(cmd) == 0);
	}
}

int
main(void)
{
	UNIT_RUN(test_journal_stream);
	UNIT_RUN(test_log_prefix);
	UNIT_RUN(test_status_threads);
	UNIT_RUN(test_init_refusals);
	if (geteuid() != 0) {
		/* The rest changes users: like the netns cases elsewhere, it needs root. */
		printf("FAIL: test_privdrop.c:root_cases (run as root)\n");
		return 1;
	}
	UNIT_RUN(test_drop);
	UNIT_RUN(test_refuses_with_threads);
	UNIT_RUN(test_own_dir);
	return unit_summary();
}
