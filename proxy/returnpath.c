#include "proxy/returnpath.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/log.h"

#define SETTING_COUNT 3
#define VALUE_MAX     16

static const char *const setting_names[SETTING_COUNT] = {
	"net.ipv4.tcp_fwmark_accept",
	"net.ipv4.fwmark_reflect",
	"net.ipv6.fwmark_reflect",
};

#define RECORD_NAME "return-path.saved"

/* What every setting must read for the socket-mark return path. */
#define SETTING_WANTED "1"

/* The values found before jfe changed them; "" = not recorded (not changed by jfe). */
struct record {
	char value[SETTING_COUNT][VALUE_MAX];
};

static void
setting_path(char *buf, size_t len, const char *name)
{
	size_t n = (size_t)snprintf(buf, len, "/proc/sys/%s", name);

	for (size_t i = sizeof("/proc/sys/") - 1; i < n && i < len; i++)
		if (buf[i] == '.')
			buf[i] = '/';
}

/* Reads one setting into <value> (trimmed). An IPv6 setting of a kernel without IPv6
 * reads as absent: 1 read, 0 absent, -1 error (logged). */
static int
setting_read(const char *name, char *value, size_t len)
{
	char path[128];
	FILE *f;
	int ok;

	setting_path(path, sizeof(path), name);
	f = fopen(path, "re");
	if (f == NULL) {
		if (errno == ENOENT && strncmp(name, "net.ipv6.", 9) == 0)
			return 0;
		log_err("return path: reading %s: %s", path, strerror(errno));
		return -1;
	}
	ok = fgets(value, (int)len, f) != NULL;
	fclose(f);
	if (!ok) {
		log_err("return path: %s is empty", path);
		return -1;
	}
	value[strcspn(value, " \t\n")] = '\0';
	return 1;
}

/* 0, or -1 with errno set (the caller says what it was doing). */
static int
setting_write(const char *name, const char *value)
{
	char path[128];
	int fd, saved;
	size_t len = strlen(value);

	setting_path(path, sizeof(path), name);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		goto fail;
	if (write(fd, value, len) != (ssize_t)len) {
		saved = errno;
		close(fd);
		errno = saved;
		goto fail;
	}
	if (close(fd) != 0)
		goto fail;
	return 0;
fail:
	return -1;
}

/* 1 if a record was read, 0 if there is none, -1 on a malformed or unreadable one. */
static int
record_load(const char *saved, struct record *rec)
{
	char line[128];
	FILE *f;
	int rc = 1;

	memset(rec, 0, sizeof(*rec));
	f = fopen(saved, "re");
	if (f == NULL) {
		if (errno == ENOENT)
			return 0;
		log_err("return path: reading %s: %s", saved, strerror(errno));
		return -1;
	}
	while (rc == 1 && fgets(line, sizeof(line), f) != NULL) {
		char *eq = strchr(line, '=');
		size_t i;

		line[strcspn(line, "\n")] = '\0';
		if (line[0] == '\0' || line[0] == '#')
			continue;
		for (i = 0; eq != NULL && i < SETTING_COUNT; i++)
			if ((size_t)(eq - line) == strlen(setting_names[i]) &&
			    strncmp(line, setting_names[i], (size_t)(eq - line)) == 0)
				break;
		if (eq == NULL || i == SETTING_COUNT || eq[1] == '\0' ||
		    strlen(eq + 1) >= VALUE_MAX || strspn(eq + 1, "0123456789") != strlen(eq + 1)) {
			log_err("return path: %s: unexpected line '%s'", saved, line);
			rc = -1;
			break;
		}
		strcpy(rec->value[i], eq + 1);
	}
	fclose(f);
	return rc;
}

/* Replaces <saved> atomically: a crash leaves the old record or the new one. */
static int
record_store(const char *saved, const struct record *rec)
{
	char tmp[4096];
	FILE *f = NULL;
	int fd = -1;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", saved) >= sizeof(tmp)) {
		log_err("return path: path too long: %s", saved);
		return -1;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || (f = fdopen(fd, "w")) == NULL)
		goto fail;
	fd = -1;
	fputs("# kernel settings as they were before jfe changed them (jfe restores them)\n", f);
	for (size_t i = 0; i < SETTING_COUNT; i++)
		if (rec->value[i][0] != '\0')
			fprintf(f, "%s=%s\n", setting_names[i], rec->value[i]);
	if (fflush(f) != 0 || fsync(fileno(f)) != 0)
		goto fail;
	if (fclose(f) != 0) {
		f = NULL;
		goto fail;
	}
	f = NULL;
	if (rename(tmp, saved) != 0)
		goto fail;
	return 0;
fail:
	log_err("return path: writing %s: %s", saved, strerror(errno));
	if (f != NULL)
		fclose(f);
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return -1;
}

int
returnpath_ready(void)
{
	char v[VALUE_MAX];

	for (size_t i = 0; i < SETTING_COUNT; i++) {
		int r = setting_read(setting_names[i], v, sizeof(v));

		if (r < 0)
			return -1;
		if (r == 1 && strcmp(v, SETTING_WANTED) != 0)
			return 0;
	}
	return 1;
}

static int
record_path(char *buf, size_t len, const char *dir)
{
	if ((size_t)snprintf(buf, len, "%s/" RECORD_NAME, dir) >= len) {
		log_err("return path: directory name too long: %s", dir);
		return -1;
	}
	return 0;
}

int
returnpath_set(const char *dir)
{
	char saved[4096];
	struct record rec;
	char cur[SETTING_COUNT][VALUE_MAX];
	int present[SETTING_COUNT], added = 0;
	size_t i;

	if (record_path(saved, sizeof(saved), dir) < 0 || record_load(saved, &rec) < 0)
		return -1;
	for (i = 0; i < SETTING_COUNT; i++) {
		if ((present[i] = setting_read(setting_names[i], cur[i], VALUE_MAX)) < 0)
			return -1;
		if (present[i] && strcmp(cur[i], SETTING_WANTED) != 0 && rec.value[i][0] == '\0') {
			strcpy(rec.value[i], cur[i]);
			added = 1;
		}
	}
	/* A value written back unchanged first: where the settings cannot be written (a
	 * read-only /proc/sys) nothing is recorded either. */
	for (i = 0; i < SETTING_COUNT; i++) {
		if (!present[i] || strcmp(cur[i], SETTING_WANTED) == 0)
			continue;
		if (setting_write(setting_names[i], cur[i]) < 0) {
			log_err("return path: %s cannot be written: %s", setting_names[i],
			    strerror(errno));
			return -1;
		}
		break;
	}
	/* The record exists before the first change: a crash in between leaves it naming
	 * values that are still in place, which a restore writes back harmlessly. */
	if (added && ((mkdir(dir, 0700) != 0 && errno != EEXIST) || record_store(saved, &rec) < 0))
		return -1;
	for (i = 0; i < SETTING_COUNT; i++) {
		if (!present[i] || strcmp(cur[i], SETTING_WANTED) == 0)
			continue;
		if (setting_write(setting_names[i], SETTING_WANTED) < 0) {
			log_err("return path: setting %s = %s: %s", setting_names[i],
			    SETTING_WANTED, strerror(errno));
			/* Everything changed so far is in the record. */
			returnpath_restore(dir);
			return -1;
		}
		log_info("return path: %s = %s (was %s)", setting_names[i], SETTING_WANTED, cur[i]);
	}
	return 0;
}

int
returnpath_restore(const char *dir)
{
	char saved[4096];
	struct record rec;
	int r, failed = 0;

	if (record_path(saved, sizeof(saved), dir) < 0)
		return -1;
	if ((r = record_load(saved, &rec)) <= 0)
		return r;
	for (size_t i = 0; i < SETTING_COUNT; i++) {
		if (rec.value[i][0] == '\0')
			continue;
		if (setting_write(setting_names[i], rec.value[i]) < 0) {
			/* Under systemd's ProtectKernelTunables= the unit's `jfe return-path
			 * restore` does it as root once jfe has stopped. */
			if (errno == EROFS) {
				log_debug("return path: /proc/sys is read-only; %s stays for `jfe "
				    "return-path restore`", saved);
				return -1;
			}
			log_err("return path: setting %s = %s: %s", setting_names[i],
			    rec.value[i], strerror(errno));
			failed = 1;
		} else
			log_info("return path: %s = %s restored", setting_names[i], rec.value[i]);
	}
	if (failed)
		return -1;
	if (unlink(saved) != 0 && errno != ENOENT) {
		log_err("return path: removing %s: %s", saved, strerror(errno));
		return -1;
	}
	return 0;
}
