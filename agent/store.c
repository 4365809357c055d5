#include "agent/store.h"

#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>

#include "agent/log.h"

/* A wildcard's directory name: '*' is awkward in a shell, and '_' cannot start an LDH name,
 * so "_wildcard.example.com" can never be the directory of a plain name. */
#define WILDCARD_DIR "_wildcard."
#define CURRENT "current"
#define VERSION_PREFIX "v-"
#define TMP_PREFIX ".tmp-"
#define RAND_HEX 16
#define VERSION_LEN (sizeof(VERSION_PREFIX) - 1 + RAND_HEX)
#define TMP_LEN (sizeof(TMP_PREFIX) - 1 + RAND_HEX)
#define ACCOUNT_HASH_HEX 16
#define LOCK_HASH_HEX 32
#define URL_MAX 4096
#define LABEL_MAX 63
/* Room for "certs/<255-byte name>/v-<16>/fullchain.pem" and the like. */
#define WHERE_MAX 512
/* How often a load follows `current` when a concurrent save keeps moving it. */
#define LOAD_TRIES 16

struct store_fs {
	struct store base;	/* first: a struct store * is a struct store_fs * */
	char *root;		/* for messages only; every access goes through the fds */
	int rootfd, accountfd, certsfd, statefd, locksfd;
};

/* One file of a unit (a set of files saved and loaded together). */
struct unit_file {
	const char *name;
	mode_t mode;
};

static const struct unit_file cert_files[] = {
	{ "key.pem", 0600 },
	{ "fullchain.pem", 0644 },
	{ "meta.json", 0644 },
};
#define CERT_NFILES (sizeof(cert_files) / sizeof(cert_files[0]))

/* The URL is kept next to the key so that a hash-prefix collision is detected, and so that an
 * operator can tell which directory an account belongs to. */
static const struct unit_file account_files[] = {
	{ "directory_url", 0600 },
	{ "key.pem", 0600 },
	{ "account.json", 0600 },
};
#define ACCOUNT_NFILES (sizeof(account_files) / sizeof(account_files[0]))

static const struct store_ops fs_ops;

/* Logs "store <root>/<where>[/<file>]: <what>: <reason>". Only paths go in: never contents. */
static void
fs_log(enum log_level lvl, const struct store_fs *fs, const char *where, const char *file,
    const char *what, int err)
{
	const char *why = strerror(err);

	/* What O_NOFOLLOW (and O_DIRECTORY) make of a symbolic link. */
	if (err == ELOOP)
		why = "is a symbolic link, not followed";
	else if (err == ENOTDIR)
		why = "not a directory (symbolic links are not followed)";
	log_msg(lvl, "store %s/%s%s%s: %s: %s", fs->root, where, file ? "/" : "", file ? file : "",
	    what, why);
}

static void
log_bad_name(const char *what, const char *name)
{
	char esc[96];

	log_err("store: %s: refusing \"%s\"", what,
	    log_escape(esc, sizeof(esc), name, strnlen(name, sizeof(esc))));
}

int
store_name_ok(const char *name)
{
	const char *p;
	size_t len, label = 0;

	if (name == NULL)
		return 0;
	len = strnlen(name, STORE_NAME_MAX + 1);
	if (len == 0 || len > STORE_NAME_MAX)
		return 0;
	p = name;
	if (p[0] == '*') {
		if (p[1] != '.')
			return 0;
		p += 2;
		/* The directory name must fit in NAME_MAX. */
		if (sizeof(WILDCARD_DIR) - 1 + (len - 2) > NAME_MAX)
			return 0;
	}
	for (;; p++) {
		char c = *p;

		if (c == '.' || c == '\0') {
			/* No empty label (leading, trailing, double dot), no hyphen at its end. */
			if (label == 0 || p[-1] == '-')
				return 0;
			if (c == '\0')
				return 1;
			label = 0;
			continue;
		}
		if (c == '-') {
			if (label == 0)
				return 0;
		} else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
			return 0;
		if (++label > LABEL_MAX)
			return 0;
	}
}

static int
key_ok(const char *key)
{
	size_t i, len;

	if (key == NULL || (len = strnlen(key, STORE_KEY_MAX + 1)) == 0 || len > STORE_KEY_MAX)
		return 0;
	for (i = 0; i < len; i++) {
		char c = key[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

/* The directory name for the valid certificate name <name>, in <out> (NAME_MAX + 1). */
static void
name_to_dir(const char *name, char *out)
{
	if (name[0] == '*')
		snprintf(out, NAME_MAX + 1, "%s%s", WILDCARD_DIR, name + 2);
	else
		snprintf(out, NAME_MAX + 1, "%s", name);
}

/* The certificate name stored in directory <dir>, in <out> (STORE_NAME_MAX + 1), or -1 when
 * <dir> is not one of ours. */
static int
dir_to_name(const char *dir, char *out)
{
	size_t wl = sizeof(WILDCARD_DIR) - 1;
	int n;

	if (strncmp(dir, WILDCARD_DIR, wl) == 0)
		n = snprintf(out, STORE_NAME_MAX + 1, "*.%s", dir + wl);
	else
		n = snprintf(out, STORE_NAME_MAX + 1, "%s", dir);
	if (n < 0 || n > STORE_NAME_MAX || !store_name_ok(out))
		return -1;
	return 0;
}

static int
hex_ok(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return s[n] == '\0';
}

/* 1 when <s> is a version directory name we made: "v-" and 16 lowercase hex digits. */
static int
version_ok(const char *s)
{
	return strncmp(s, VERSION_PREFIX, sizeof(VERSION_PREFIX) - 1) == 0 &&
	    hex_ok(s + sizeof(VERSION_PREFIX) - 1, RAND_HEX);
}

static int
is_tmp(const char *s)
{
	return strncmp(s, TMP_PREFIX, sizeof(TMP_PREFIX) - 1) == 0;
}

/* <prefix> and 16 hex digits in <out> (<outsz>). The names only need to be unique (creation is
 * exclusive and a clash fails cleanly), so without entropy early at boot a pid/time/counter mix
 * does. */
static void
rand_name(const char *prefix, char *out, size_t outsz)
{
	static atomic_uint_fast64_t counter;
	uint64_t v;

	if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != (ssize_t)sizeof(v)) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		v = ((uint64_t)getpid() << 40) ^ ((uint64_t)ts.tv_sec << 30) ^
		    (uint64_t)ts.tv_nsec ^ (uint64_t)atomic_fetch_add(&counter, 1);
	}
	snprintf(out, outsz, "%s%016llx", prefix, (unsigned long long)v);
}

/* The first <nhex> (even, <= 64) hex digits of SHA-256(<s>) in <out> (nhex + 1). */
static int
sha256_hex(const char *s, char *out, size_t nhex)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen;
	size_t i;

	if (!EVP_Digest(s, strlen(s), md, &mdlen, EVP_sha256(), NULL) || nhex > 2 * mdlen) {
		log_err("store: SHA-256 failed");
		ERR_clear_error();
		return -1;
	}
	for (i = 0; i < nhex / 2; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[nhex] = '\0';
	return 0;
}

static int
fsync_fd(int fd)
{
	while (fsync(fd) == -1)
		if (errno != EINTR)
			return -1;
	return 0;
}

static int
write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Opens the directory <name> in <dirfd>, which must not be a symbolic link. */
static int
dir_open(int dirfd, const char *name)
{
	return openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

/* Refuses a directory someone else could plant links or files in. */
static int
dir_check(const struct store_fs *fs, int fd, const char *where)
{
	struct stat st;

	if (fstat(fd, &st) == -1) {
		fs_log(LOG_LVL_ERR, fs, where, NULL, "stat", errno);
		return -1;
	}
	if (st.st_uid != geteuid()) {
		log_err("store %s/%s: owned by uid %u, not by us (uid %u)", fs->root, where,
		    (unsigned)st.st_uid, (unsigned)geteuid());
		return -1;
	}
	if (st.st_mode & 022) {
		log_err("store %s/%s: writable by group or others (mode %04o)", fs->root, where,
		    (unsigned)(st.st_mode & 07777));
		return -1;
	}
	return 0;
}

/* A flock(2)ed file in locks/. */
struct lockfile {
	int fd;
	char file[64];
};

struct store_fs_lock {
	struct store_lock base;	/* first, as for struct store */
	const struct store_fs *fs;
	struct lockfile lock;
};

/* Opens locks/<file> (creating it when <create>) and flock()s it with <op>. A holder of an
 * exclusive lock removes the file when it lets go, so that lock files do not pile up (one per
 * name ever seen); a locker that waited on the old file then finds it unlinked or replaced
 * and starts over with the new one, so two processes never both "hold" one name.
 * 0 with <lf->fd> set, 1 when LOCK_NB and held elsewhere (or, without <create>, when the file
 * is gone), -1 logged. */
static int
lock_open(const struct store_fs *fs, struct lockfile *lf, int op, int create)
{
	struct stat held, linked;
	const char *what;
	int tries, fd = -1;

	lf->fd = -1;
	for (tries = 0; tries < 100; tries++) {
		what = "open";
		fd = openat(fs->locksfd, lf->file, O_RDWR | O_NOFOLLOW | O_CLOEXEC |
		    (create ? O_CREAT : 0), 0600);
		if (fd == -1) {
			if (!create && errno == ENOENT)
				return 1;
			goto fail;
		}
		what = "flock";
		while (flock(fd, op) == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EWOULDBLOCK) {
				close(fd);
				return 1;
			}
			goto fail;
		}
		what = "stat";
		if (fstat(fd, &held) == -1)
			goto fail;
		if (fstatat(fs->locksfd, lf->file, &linked, AT_SYMLINK_NOFOLLOW) == 0) {
			if (held.st_ino == linked.st_ino && held.st_dev == linked.st_dev) {
				lf->fd = fd;
				return 0;
			}
		} else if (errno != ENOENT)
			goto fail;
		/* Removed by its previous holder while we waited: that one locks nothing. */
		close(fd);
		fd = -1;
		if (!create)
			return 1;
	}
	log_err("store %s/locks/%s: keeps being replaced", fs->root, lf->file);
	return -1;
fail:
	fs_log(LOG_LVL_ERR, fs, "locks", lf->file, what, errno);
	if (fd != -1)
		close(fd);
	return -1;
}

/* Takes the lock locks/<kind>-<hash of what>.lock. The names are hashes because a certificate
 * name can already take all of NAME_MAX; they live apart from the units because a unit
 * directory comes and goes. */
static int
lock_take(const struct store_fs *fs, const char *kind, const char *what, int op,
    struct lockfile *lf)
{
	char hash[LOCK_HASH_HEX + 1];

	lf->fd = -1;
	if (sha256_hex(what, hash, LOCK_HASH_HEX) == -1)
		return -1;
	snprintf(lf->file, sizeof(lf->file), "%s-%s.lock", kind, hash);
	return lock_open(fs, lf, op, 1);
}

/* Releases <lf>; <remove> (only for an exclusive lock: a shared holder is not alone) unlinks
 * the file first, while it is still ours. */
static void
lock_release(const struct store_fs *fs, struct lockfile *lf, int remove)
{
	struct stat held, linked;

	if (lf->fd == -1)
		return;
	/* Only the file we hold: should a forked child that shares the lock have released it
	 * already, the file under that name may now be someone else's. */
	if (remove && fstat(lf->fd, &held) == 0 &&
	    fstatat(fs->locksfd, lf->file, &linked, AT_SYMLINK_NOFOLLOW) == 0 &&
	    held.st_ino == linked.st_ino && held.st_dev == linked.st_dev &&
	    unlinkat(fs->locksfd, lf->file, 0) == -1 && errno != ENOENT)
		fs_log(LOG_LVL_WARN, fs, "locks", lf->file, "unlink", errno);
	/* LOCK_UN, not just close(): a child forked while the lock was held shares the open
	 * file description, and would otherwise keep the lock alive after we let go. */
	flock(lf->fd, LOCK_UN);
	close(lf->fd);
	lf->fd = -1;
}

/* Creates <file> in <dirfd> (it must not exist) holding the <len> bytes at <data>, with exactly
 * <mode>, and fsyncs it (not its directory entry). On failure nothing is left behind. */
static int
file_create(const struct store_fs *fs, int dirfd, const char *where, const char *file,
    const char *data, size_t len, mode_t mode)
{
	const char *what = "create";
	int fd, made = 0;

	fd = openat(dirfd, file, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd == -1)
		goto fail;
	made = 1;
	/* The umask must neither loosen a key nor hide a chain. */
	what = "chmod";
	if (fchmod(fd, mode) == -1)
		goto fail;
	what = "write";
	if (write_all(fd, data, len) == -1)
		goto fail;
	what = "fsync";
	if (fsync_fd(fd) == -1)
		goto fail;
	/* Some filesystems (NFS) report a failed write only here. */
	what = "close";
	if (close(fd) == -1) {
		fd = -1;
		goto fail;
	}
	return 0;
fail:
	fs_log(LOG_LVL_ERR, fs, where, file, what, errno);
	if (fd != -1)
		close(fd);
	/* Only what we created: with O_EXCL, an existing file is someone else's. */
	if (made)
		unlinkat(dirfd, file, 0);
	return -1;
}

/* Replaces <file> in <dirfd> atomically: a temporary file, fsync, rename, fsync of the
 * directory. On failure the old file is untouched and no temporary file is left behind. */
static int
file_replace(const struct store_fs *fs, int dirfd, const char *where, const char *file,
    const char *data, size_t len, mode_t mode)
{
	char tmp[TMP_LEN + 1];

	rand_name(TMP_PREFIX, tmp, sizeof(tmp));
	if (file_create(fs, dirfd, where, tmp, data, len, mode) == -1)
		goto fail;
	if (renameat(dirfd, tmp, dirfd, file) == -1) {
		fs_log(LOG_LVL_ERR, fs, where, file, "rename", errno);
		unlinkat(dirfd, tmp, 0);
		goto fail;
	}
	if (fsync_fd(dirfd) == -1) {
		fs_log(LOG_LVL_ERR, fs, where, file,
		    "fsync of the directory (the new file is in place but may not survive a crash)",
		    errno);
		return -1;
	}
	return 0;
fail:
	log_err("store %s/%s/%s: not saved; what was there before is untouched", fs->root, where,
	    file);
	return -1;
}

/* Reads the regular file <file> in <dirfd> (never through a symbolic link, at most
 * STORE_MAX_FILE bytes, no NUL byte) into <*out>, malloc'd and NUL-terminated. 0, 1 when it
 * does not exist (not logged: whether that is an error is the caller's call), -1 logged.
 * The buffer is sized once from fstat() so that no stale copy of a key is left in freed
 * memory by a realloc(). */
static int
file_read(const struct store_fs *fs, int dirfd, const char *where, const char *file, char **out)
{
	const char *what = "open";
	struct stat st;
	char *buf = NULL, extra;
	size_t len = 0, size = 0;
	ssize_t n;
	int fd, err = 0;

	*out = NULL;
	/* O_NONBLOCK: a FIFO planted here must not hang us before the S_ISREG check. */
	fd = openat(dirfd, file, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd == -1) {
		if (errno == ENOENT)
			return 1;
		err = errno;
		goto fail;
	}
	what = "stat";
	if (fstat(fd, &st) == -1) {
		err = errno;
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		what = "not a regular file";
		goto fail;
	}
	if (st.st_size > STORE_MAX_FILE) {
		what = "larger than the limit of 1 MiB";
		goto fail;
	}
	size = (size_t)st.st_size;
	what = "out of memory";
	if ((buf = malloc(size + 1)) == NULL)
		goto fail;
	what = "read";
	while (len < size) {
		n = read(fd, buf + len, size - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			err = errno;
			goto fail;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	while ((n = read(fd, &extra, 1)) == -1 && errno == EINTR)
		;
	if (n == -1) {
		err = errno;
		goto fail;
	}
	if (len != size || n != 0) {
		what = "changed size while being read";
		goto fail;
	}
	if (memchr(buf, '\0', len) != NULL) {
		what = "holds a NUL byte";
		goto fail;
	}
	buf[len] = '\0';
	close(fd);
	*out = buf;
	return 0;
fail:
	if (err != 0)
		fs_log(LOG_LVL_ERR, fs, where, file, what, err);
	else
		log_err("store %s/%s/%s: %s", fs->root, where, file, what);
	if (buf != NULL) {
		explicit_bzero(buf, size + 1);
		free(buf);
		buf = NULL;
	}
	if (fd != -1)
		close(fd);
	return -1;
}

static void
strings_clear(char **s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		store_secret_free(s[i]);
		s[i] = NULL;
	}
}

/* Removes the version directory <ver> in <ufd> and the files in it. Best effort: a failure is
 * a warning, as a leftover only costs space and the next open retries. */
static int
version_remove(const struct store_fs *fs, int ufd, const char *where, const char *ver)
{
	struct dirent *de;
	DIR *d;
	int vfd, rc = 0;

	if ((vfd = dir_open(ufd, ver)) == -1) {
		if (errno == ENOENT)
			return 0;
		fs_log(LOG_LVL_WARN, fs, where, ver, "open", errno);
		return -1;
	}
	if ((d = fdopendir(vfd)) == NULL) {
		fs_log(LOG_LVL_WARN, fs, where, ver, "opendir", errno);
		close(vfd);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) == -1 && errno != ENOENT) {
			log_warn("store %s/%s/%s/%s: unlink: %s", fs->root, where, ver, de->d_name,
			    strerror(errno));
			rc = -1;
		}
	}
	closedir(d);
	if (unlinkat(ufd, ver, AT_REMOVEDIR) == -1 && errno != ENOENT) {
		fs_log(LOG_LVL_WARN, fs, where, ver, "rmdir", errno);
		rc = -1;
	}
	return rc;
}

/* Removes from the unit directory <ufd> every version but <keep> (all of them when NULL) and
 * every temporary link. Only under the unit's write lock: another writer's new version would
 * look exactly like a leftover. <report>: log what goes (at startup, after a crash). */
static void
unit_prune(const struct store_fs *fs, int ufd, const char *where, const char *keep, int report)
{
	struct dirent *de;
	DIR *d;
	int fd;

	/* A new open file description: a dup() would share the directory offset with <ufd>. */
	if ((fd = openat(ufd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 ||
	    (d = fdopendir(fd)) == NULL) {
		fs_log(LOG_LVL_WARN, fs, where, NULL, "opendir", errno);
		if (fd != -1)
			close(fd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (is_tmp(de->d_name)) {
			if (report)
				log_info("store %s/%s: removing leftover %s", fs->root, where,
				    de->d_name);
			if (unlinkat(ufd, de->d_name, 0) == -1 && errno != ENOENT)
				fs_log(LOG_LVL_WARN, fs, where, de->d_name, "unlink", errno);
		} else if (version_ok(de->d_name) && (keep == NULL ||
		    strcmp(de->d_name, keep) != 0)) {
			if (report)
				log_info("store %s/%s: removing unused version %s", fs->root, where,
				    de->d_name);
			version_remove(fs, ufd, where, de->d_name);
		}
	}
	closedir(d);
}

/* Reads `current` in <ufd> into <target> (VERSION_LEN + 1): 0, 1 when there is none, -1 logged
 * when it is anything but a link to a plain "v-<hex>" name (the one link we ever follow). */
static int
current_read(const struct store_fs *fs, int ufd, const char *where, char *target)
{
	char buf[VERSION_LEN + 2], esc[64];
	ssize_t n;

	n = readlinkat(ufd, CURRENT, buf, sizeof(buf) - 1);
	if (n == -1) {
		if (errno == ENOENT)
			return 1;
		fs_log(LOG_LVL_ERR, fs, where, CURRENT,
		    errno == EINVAL ? "readlink (not a symbolic link)" : "readlink", errno);
		return -1;
	}
	buf[n] = '\0';
	if ((size_t)n != VERSION_LEN || !version_ok(buf)) {
		log_err("store %s/%s/%s: points at \"%s\", not at a version of ours", fs->root,
		    where, CURRENT, log_escape(esc, sizeof(esc), buf, (size_t)n));
		return -1;
	}
	memcpy(target, buf, VERSION_LEN + 1);
	return 0;
}

/* Saves the unit <unit> in <parentfd> (<where> is "<parent>/<unit>"): the <n> <files> with
 * the contents <data>, into a new version directory that `current` is then switched to by a
 * rename. A crash at any point leaves `current` at a complete version: the new files and
 * their directory are durable before the switch, and the switch is one rename. */
static int
unit_save(struct store_fs *fs, int parentfd, const char *where, const char *unit,
    const struct unit_file *files, const char *const *data, size_t n)
{
	char ver[VERSION_LEN + 1], tmp[TMP_LEN + 1], vwhere[WHERE_MAX + VERSION_LEN + 2];
	struct lockfile lock = { .fd = -1 };
	int ufd = -1, vfd = -1, rc = -1;
	int made_unit = 0, made_ver = 0, made_tmp = 0, switched = 0;
	size_t i;

	/* One writer per unit: pruning must never see another writer's version in progress. */
	if (lock_take(fs, "write", where, LOCK_EX, &lock) != 0)
		goto fail;
	if (mkdirat(parentfd, unit, 0700) == 0)
		made_unit = 1;
	else if (errno != EEXIST) {
		fs_log(LOG_LVL_ERR, fs, where, NULL, "mkdir", errno);
		goto fail;
	}
	if ((ufd = dir_open(parentfd, unit)) == -1) {
		fs_log(LOG_LVL_ERR, fs, where, NULL, "open", errno);
		goto fail;
	}
	/* A new unit directory must be durable before anything in it can be. */
	if (made_unit && (fchmod(ufd, 0700) == -1 || fsync_fd(parentfd) == -1)) {
		fs_log(LOG_LVL_ERR, fs, where, NULL, "chmod/fsync", errno);
		goto fail;
	}

	rand_name(VERSION_PREFIX, ver, sizeof(ver));
	snprintf(vwhere, sizeof(vwhere), "%s/%s", where, ver);
	if (mkdirat(ufd, ver, 0700) == -1) {
		fs_log(LOG_LVL_ERR, fs, vwhere, NULL, "mkdir", errno);
		goto fail;
	}
	made_ver = 1;
	if ((vfd = dir_open(ufd, ver)) == -1) {
		fs_log(LOG_LVL_ERR, fs, vwhere, NULL, "open", errno);
		goto fail;
	}
	if (fchmod(vfd, 0700) == -1) {
		fs_log(LOG_LVL_ERR, fs, vwhere, NULL, "chmod", errno);
		goto fail;
	}
	for (i = 0; i < n; i++)
		if (file_create(fs, vfd, vwhere, files[i].name, data[i], strlen(data[i]),
		    files[i].mode) == -1)
			goto fail;
	if (fsync_fd(vfd) == -1) {
		fs_log(LOG_LVL_ERR, fs, vwhere, NULL, "fsync", errno);
		goto fail;
	}
	/* The version's own entry, before a link to it can be durable. */
	if (fsync_fd(ufd) == -1) {
		fs_log(LOG_LVL_ERR, fs, where, NULL, "fsync", errno);
		goto fail;
	}

	rand_name(TMP_PREFIX, tmp, sizeof(tmp));
	if (symlinkat(ver, ufd, tmp) == -1) {
		fs_log(LOG_LVL_ERR, fs, where, tmp, "symlink", errno);
		goto fail;
	}
	made_tmp = 1;
	if (renameat(ufd, tmp, ufd, CURRENT) == -1) {
		fs_log(LOG_LVL_ERR, fs, where, CURRENT, "rename", errno);
		goto fail;
	}
	made_tmp = 0;
	switched = 1;
	if (fsync_fd(ufd) == -1) {
		/* Keep the old versions: after a crash `current` may still name one. */
		fs_log(LOG_LVL_ERR, fs, where, NULL,
		    "fsync (the new version is in place but may not survive a crash)", errno);
		goto fail;
	}
	unit_prune(fs, ufd, where, ver, 0);
	rc = 0;
fail:
	if (vfd != -1)
		close(vfd);
	if (!switched && ufd != -1) {
		if (made_tmp)
			unlinkat(ufd, tmp, 0);
		if (made_ver)
			version_remove(fs, ufd, where, ver);
		/* Fails harmlessly (ENOTEMPTY) unless this was the unit's first save. */
		if (made_unit)
			unlinkat(parentfd, unit, AT_REMOVEDIR);
		if (lock.fd != -1)
			log_err("store %s/%s: not saved; what was there before is untouched",
			    fs->root, where);
	}
	if (ufd != -1)
		close(ufd);
	lock_release(fs, &lock, 1);
	return rc;
}

/* Loads the unit <unit> of <parentfd> into <out> (<n> strings, the <files> in order): 0, 1
 * absent, -1 logged. Versions never change once `current` names them, so reading every file
 * through one version directory gives one consistent unit; a save racing with us may remove
 * that version after we read `current`, and then we follow the new one. */
static int
unit_load(const struct store_fs *fs, int parentfd, const char *where, const char *unit,
    const struct unit_file *files, char **out, size_t n)
{
	char target[VERSION_LEN + 1], prev[VERSION_LEN + 1] = "";
	char vwhere[WHERE_MAX + VERSION_LEN + 2];
	int ufd, vfd = -1, rc = -1, r = 0, tries;
	size_t i;

	for (i = 0; i < n; i++)
		out[i] = NULL;
	if ((ufd = dir_open(parentfd, unit)) == -1) {
		if (errno == ENOENT)
			return 1;
		fs_log(LOG_LVL_ERR, fs, where, NULL, "open", errno);
		return -1;
	}
	for (tries = 0; tries < LOAD_TRIES; tries++) {
		if ((r = current_read(fs, ufd, where, target)) != 0) {
			rc = r;
			goto fail;
		}
		snprintf(vwhere, sizeof(vwhere), "%s/%s", where, target);
		if ((vfd = dir_open(ufd, target)) == -1) {
			if (errno != ENOENT) {
				fs_log(LOG_LVL_ERR, fs, vwhere, NULL, "open", errno);
				goto fail;
			}
		} else {
			for (i = 0; i < n; i++)
				if ((r = file_read(fs, vfd, vwhere, files[i].name, &out[i])) != 0)
					break;
			close(vfd);
			vfd = -1;
			if (r == -1)
				goto fail;
			if (i == n) {
				close(ufd);
				return 0;
			}
			strings_clear(out, n);
		}
		/* Missing twice from the same version: no race, a damaged unit. */
		if (strcmp(prev, target) == 0) {
			log_err("store %s/%s: incomplete (a file or the directory is missing)",
			    fs->root, vwhere);
			goto fail;
		}
		memcpy(prev, target, sizeof(prev));
	}
	log_err("store %s/%s: `current` keeps changing under us", fs->root, where);
fail:
	strings_clear(out, n);
	if (vfd != -1)
		close(vfd);
	close(ufd);
	return rc;
}

/* Startup: removes the leftovers of interrupted saves and removals of the unit <unit> in
 * <parentfd>, unless another process is writing it right now. */
static void
unit_clean(const struct store_fs *fs, int parentfd, const char *parent, const char *unit)
{
	char where[WHERE_MAX], target[VERSION_LEN + 1];
	struct lockfile lock;
	int ufd, r;

	snprintf(where, sizeof(where), "%s/%s", parent, unit);
	if (lock_take(fs, "write", where, LOCK_EX | LOCK_NB, &lock) != 0)
		return;
	if ((ufd = dir_open(parentfd, unit)) == -1) {
		if (errno != ENOENT)
			fs_log(LOG_LVL_WARN, fs, where, NULL, "open", errno);
		goto out;
	}
	r = current_read(fs, ufd, where, target);
	if (r == 0) {
		unit_prune(fs, ufd, where, target, 1);
		if (faccessat(ufd, target, F_OK, AT_SYMLINK_NOFOLLOW) == -1)
			log_warn("store %s/%s: `current` names the missing %s; the unit will not "
			    "load until it is saved again", fs->root, where, target);
	} else if (r == 1) {
		/* Never completed a first save, or a removal was cut short: nothing to keep. */
		unit_prune(fs, ufd, where, NULL, 1);
		if (unlinkat(parentfd, unit, AT_REMOVEDIR) == 0)
			log_info("store %s/%s: removed the empty unit directory", fs->root, where);
	}
	/* r == -1 (logged): leave everything as it is for a human to look at. */
	close(ufd);
out:
	lock_release(fs, &lock, 1);
}

/* Calls <fn> for every entry of <dirfd> but "." and "..". */
static int
dir_each(const struct store_fs *fs, int dirfd, const char *where,
    void (*fn)(const struct store_fs *, int, const char *, const char *))
{
	struct dirent *de;
	DIR *d;
	int fd;

	if ((fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 ||
	    (d = fdopendir(fd)) == NULL) {
		fs_log(LOG_LVL_ERR, fs, where, NULL, "opendir", errno);
		if (fd != -1)
			close(fd);
		return -1;
	}
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			fn(fs, dirfd, where, de->d_name);
	closedir(d);
	return 0;
}

static void
clean_cert(const struct store_fs *fs, int dirfd, const char *where, const char *entry)
{
	char name[STORE_NAME_MAX + 1];

	/* Anything not named like one of ours was put there by someone else: leave it. */
	if (dir_to_name(entry, name) == 0)
		unit_clean(fs, dirfd, where, entry);
}

static void
clean_account(const struct store_fs *fs, int dirfd, const char *where, const char *entry)
{
	if (hex_ok(entry, ACCOUNT_HASH_HEX))
		unit_clean(fs, dirfd, where, entry);
}

static void
clean_state(const struct store_fs *fs, int dirfd, const char *where, const char *entry)
{
	if (!is_tmp(entry))
		return;
	log_info("store %s/%s: removing leftover %s", fs->root, where, entry);
	if (unlinkat(dirfd, entry, 0) == -1 && errno != ENOENT)
		fs_log(LOG_LVL_WARN, fs, where, entry, "unlink", errno);
}

/* A lock file nobody holds (its holder died without removing it) goes. */
static void
clean_lock(const struct store_fs *fs, int dirfd, const char *where, const char *entry)
{
	struct lockfile lf;
	size_t len = strlen(entry);

	(void)dirfd;
	(void)where;
	if (len < sizeof(".lock") || len >= sizeof(lf.file) ||
	    strcmp(entry + len - (sizeof(".lock") - 1), ".lock") != 0)
		return;
	memcpy(lf.file, entry, len + 1);
	if (lock_open(fs, &lf, LOCK_EX | LOCK_NB, 0) == 0)
		lock_release(fs, &lf, 1);
}

static void
fs_clean(struct store_fs *fs)
{
	struct lockfile lock;

	dir_each(fs, fs->certsfd, "certs", clean_cert);
	dir_each(fs, fs->accountfd, "account", clean_account);
	/* State writers hold this lock shared while their temporary file exists. */
	if (lock_take(fs, "write", "state", LOCK_EX | LOCK_NB, &lock) == 0) {
		dir_each(fs, fs->statefd, "state", clean_state);
		lock_release(fs, &lock, 1);
	}
	dir_each(fs, fs->locksfd, "locks", clean_lock);
}

/* Creates (when missing) and opens the subdirectory <name> of the root into <*fdp>. */
static int
subdir_open(struct store_fs *fs, const char *name, int *fdp, int *created)
{
	int made = 0;

	if (mkdirat(fs->rootfd, name, 0700) == 0)
		made = *created = 1;
	else if (errno != EEXIST) {
		fs_log(LOG_LVL_ERR, fs, name, NULL, "mkdir", errno);
		return -1;
	}
	if ((*fdp = dir_open(fs->rootfd, name)) == -1) {
		fs_log(LOG_LVL_ERR, fs, name, NULL, "open", errno);
		return -1;
	}
	if (made && fchmod(*fdp, 0700) == -1) {
		fs_log(LOG_LVL_ERR, fs, name, NULL, "chmod", errno);
		return -1;
	}
	return dir_check(fs, *fdp, name);
}

static void
fs_close(struct store *s)
{
	struct store_fs *fs = (struct store_fs *)s;
	int *fds[] = { &fs->rootfd, &fs->accountfd, &fs->certsfd, &fs->statefd, &fs->locksfd };
	size_t i;

	for (i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		if (*fds[i] != -1) {
			close(*fds[i]);
			*fds[i] = -1;
		}
	free(fs->root);
	fs->root = NULL;
	free(fs);
}

struct store *
store_fs_open(const char *dir)
{
	struct store_fs *fs = NULL;
	int created = 0, made_root = 0, pfd;

	if (dir == NULL || *dir == '\0') {
		log_err("store: no directory");
		return NULL;
	}
	if ((fs = calloc(1, sizeof(*fs))) == NULL || (fs->root = strdup(dir)) == NULL) {
		log_err("store %s: out of memory", dir);
		goto fail;
	}
	fs->base.ops = &fs_ops;
	fs->rootfd = fs->accountfd = fs->certsfd = fs->statefd = fs->locksfd = -1;
	if (mkdir(dir, 0700) == 0)
		made_root = 1;
	else if (errno != EEXIST) {
		log_err("store %s: mkdir: %s", dir, strerror(errno));
		goto fail;
	}
	/* The root itself may be a symbolic link: it comes from the configuration. */
	if ((fs->rootfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		log_err("store %s: open: %s", dir, strerror(errno));
		goto fail;
	}
	if (made_root) {
		/* A new root must survive a crash along with the account key saved in it. */
		if (fchmod(fs->rootfd, 0700) == -1 ||
		    (pfd = openat(fs->rootfd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
			log_err("store %s: chmod/open parent: %s", dir, strerror(errno));
			goto fail;
		}
		if (fsync_fd(pfd) == -1)
			log_warn("store %s: fsync of the parent directory: %s", dir,
			    strerror(errno));
		close(pfd);
	}
	if (dir_check(fs, fs->rootfd, ".") == -1 ||
	    subdir_open(fs, "account", &fs->accountfd, &created) == -1 ||
	    subdir_open(fs, "certs", &fs->certsfd, &created) == -1 ||
	    subdir_open(fs, "state", &fs->statefd, &created) == -1 ||
	    subdir_open(fs, "locks", &fs->locksfd, &created) == -1)
		goto fail;
	if (created && fsync_fd(fs->rootfd) == -1) {
		log_err("store %s: fsync: %s", dir, strerror(errno));
		goto fail;
	}
	fs_clean(fs);
	return &fs->base;
fail:
	if (fs != NULL && fs->root != NULL)
		fs_close(&fs->base);
	else
		free(fs);
	return NULL;
}

/* The unit directory of the account for <url> in <unit> (ACCOUNT_HASH_HEX + 1) and its
 * "account/<unit>" in <where>. */
static int
account_unit(const char *url, char *unit, char *where, size_t wheresz)
{
	if (sha256_hex(url, unit, ACCOUNT_HASH_HEX) == -1)
		return -1;
	snprintf(where, wheresz, "account/%s", unit);
	return 0;
}

static int
fs_account_load(struct store *s, const char *url, char **key_pem, char **account_json)
{
	struct store_fs *fs = (struct store_fs *)s;
	char unit[ACCOUNT_HASH_HEX + 1], where[WHERE_MAX], *out[ACCOUNT_NFILES];
	int r;

	if (account_unit(url, unit, where, sizeof(where)) == -1)
		return -1;
	r = unit_load(fs, fs->accountfd, where, unit, account_files, out, ACCOUNT_NFILES);
	if (r != 0)
		return r;
	if (strcmp(out[0], url) != 0) {
		log_err("store %s/%s: holds the account of another ACME directory", fs->root,
		    where);
		strings_clear(out, ACCOUNT_NFILES);
		return -1;
	}
	free(out[0]);
	*key_pem = out[1];
	*account_json = out[2];
	return 0;
}

static int
fs_account_save(struct store *s, const char *url, const char *key_pem, const char *account_json)
{
	struct store_fs *fs = (struct store_fs *)s;
	char unit[ACCOUNT_HASH_HEX + 1], where[WHERE_MAX];
	const char *data[ACCOUNT_NFILES] = { url, key_pem, account_json };

	if (account_unit(url, unit, where, sizeof(where)) == -1)
		return -1;
	return unit_save(fs, fs->accountfd, where, unit, account_files, data, ACCOUNT_NFILES);
}

/* The unit directory of certificate <name> in <dir> (NAME_MAX + 1) and "certs/<dir>" in
 * <where>; -1 for a name that must not reach the filesystem. */
static int
cert_unit(const char *name, char *dir, char *where, size_t wheresz)
{
	if (!store_name_ok(name)) {
		log_bad_name("certificate name", name);
		return -1;
	}
	name_to_dir(name, dir);
	snprintf(where, wheresz, "certs/%s", dir);
	return 0;
}

static int
fs_cert_save(struct store *s, const char *name, const char *key_pem, const char *chain_pem,
    const char *meta_json)
{
	struct store_fs *fs = (struct store_fs *)s;
	char dir[NAME_MAX + 1], where[WHERE_MAX];
	const char *data[CERT_NFILES] = { key_pem, chain_pem, meta_json };

	if (cert_unit(name, dir, where, sizeof(where)) == -1)
		return -1;
	return unit_save(fs, fs->certsfd, where, dir, cert_files, data, CERT_NFILES);
}

static int
fs_cert_load(struct store *s, const char *name, char **key_pem, char **chain_pem,
    char **meta_json)
{
	struct store_fs *fs = (struct store_fs *)s;
	char dir[NAME_MAX + 1], where[WHERE_MAX], *out[CERT_NFILES];
	int r;

	if (cert_unit(name, dir, where, sizeof(where)) == -1)
		return -1;
	if ((r = unit_load(fs, fs->certsfd, where, dir, cert_files, out, CERT_NFILES)) != 0)
		return r;
	*key_pem = out[0];
	*chain_pem = out[1];
	*meta_json = out[2];
	return 0;
}

static int
names_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
fs_cert_list(struct store *s, char ***namesp, size_t *np)
{
	struct store_fs *fs = (struct store_fs *)s;
	char name[STORE_NAME_MAX + 1], target[VERSION_LEN + 1], **names = NULL, **nn;
	struct dirent *de;
	size_t n = 0, cap = 0;
	DIR *d = NULL;
	ssize_t r;
	int fd, ufd;

	if ((fd = openat(fs->certsfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 ||
	    (d = fdopendir(fd)) == NULL) {
		fs_log(LOG_LVL_ERR, fs, "certs", NULL, "opendir", errno);
		if (fd != -1)
			close(fd);
		goto fail;
	}
	for (;;) {
		errno = 0;
		if ((de = readdir(d)) == NULL) {
			if (errno != 0) {
				fs_log(LOG_LVL_ERR, fs, "certs", NULL, "readdir", errno);
				goto fail;
			}
			break;
		}
		if (dir_to_name(de->d_name, name) == -1)
			continue;
		/* Only complete units: a first save still in progress has no `current` yet. */
		if ((ufd = dir_open(fs->certsfd, de->d_name)) == -1)
			continue;
		r = readlinkat(ufd, CURRENT, target, sizeof(target));
		close(ufd);
		if (r == -1)
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 16;
			if ((nn = reallocarray(names, cap, sizeof(*names))) == NULL) {
				log_err("store: listing certificates: out of memory");
				goto fail;
			}
			names = nn;
		}
		if ((names[n] = strdup(name)) == NULL) {
			log_err("store: listing certificates: out of memory");
			goto fail;
		}
		n++;
	}
	closedir(d);
	if (n > 0)
		qsort(names, n, sizeof(*names), names_cmp);
	*namesp = names;
	*np = n;
	return 0;
fail:
	if (d != NULL)
		closedir(d);
	store_names_free(names, n);
	return -1;
}

static int
fs_cert_remove(struct store *s, const char *name)
{
	struct store_fs *fs = (struct store_fs *)s;
	char dir[NAME_MAX + 1], where[WHERE_MAX];
	struct lockfile lock = { .fd = -1 };
	int ufd = -1, rc = -1;

	if (cert_unit(name, dir, where, sizeof(where)) == -1)
		return -1;
	if (lock_take(fs, "write", where, LOCK_EX, &lock) != 0)
		goto fail;
	if ((ufd = dir_open(fs->certsfd, dir)) == -1) {
		if (errno == ENOENT)
			rc = 1;
		else
			fs_log(LOG_LVL_ERR, fs, where, NULL, "open", errno);
		goto fail;
	}
	/* Unlinking `current` is the atomic step; the rest is cleanup a later open would redo. */
	if (unlinkat(ufd, CURRENT, 0) == 0) {
		if (fsync_fd(ufd) == -1) {
			fs_log(LOG_LVL_ERR, fs, where, NULL,
			    "fsync (removed, but may come back after a crash)", errno);
			goto fail;
		}
		rc = 0;
	} else if (errno == ENOENT)
		rc = 1;
	else {
		fs_log(LOG_LVL_ERR, fs, where, CURRENT, "unlink", errno);
		goto fail;
	}
	unit_prune(fs, ufd, where, NULL, 0);
	if (unlinkat(fs->certsfd, dir, AT_REMOVEDIR) == -1)
		fs_log(LOG_LVL_WARN, fs, where, NULL, "rmdir", errno);
	else
		fsync_fd(fs->certsfd);
fail:
	if (ufd != -1)
		close(ufd);
	lock_release(fs, &lock, 1);
	return rc;
}

static int
fs_lock(struct store *s, const char *name, struct store_lock **out)
{
	struct store_fs *fs = (struct store_fs *)s;
	struct store_fs_lock *l;
	char dir[NAME_MAX + 1], where[WHERE_MAX];
	int r;

	if (cert_unit(name, dir, where, sizeof(where)) == -1)
		return -1;
	if ((l = calloc(1, sizeof(*l))) == NULL) {
		log_err("store: lock %s: out of memory", name);
		return -1;
	}
	if ((r = lock_take(fs, "issue", where, LOCK_EX | LOCK_NB, &l->lock)) != 0) {
		free(l);
		return r;
	}
	l->base.ops = &fs_ops;
	l->fs = fs;
	*out = &l->base;
	return 0;
}

static void
fs_unlock(struct store_lock *sl)
{
	struct store_fs_lock *l = (struct store_fs_lock *)sl;

	lock_release(l->fs, &l->lock, 1);
	free(l);
}

static int
fs_state_load(struct store *s, const char *key, char **json)
{
	struct store_fs *fs = (struct store_fs *)s;
	char file[STORE_KEY_MAX + sizeof(".json")];

	if (!key_ok(key)) {
		log_bad_name("state key", key);
		return -1;
	}
	snprintf(file, sizeof(file), "%s.json", key);
	return file_read(fs, fs->statefd, "state", file, json);
}

static int
fs_state_save(struct store *s, const char *key, const char *json)
{
	struct store_fs *fs = (struct store_fs *)s;
	char file[STORE_KEY_MAX + sizeof(".json")];
	struct lockfile lock;
	int rc;

	if (!key_ok(key)) {
		log_bad_name("state key", key);
		return -1;
	}
	snprintf(file, sizeof(file), "%s.json", key);
	/* Shared: writers of different keys do not wait for one another, only the startup
	 * cleanup of temporary files waits for (or skips) them. */
	if (lock_take(fs, "write", "state", LOCK_SH, &lock) != 0)
		return -1;
	rc = file_replace(fs, fs->statefd, "state", file, json, strlen(json), 0644);
	lock_release(fs, &lock, 0);
	return rc;
}

static const struct store_ops fs_ops = {
	.close = fs_close,
	.account_load = fs_account_load,
	.account_save = fs_account_save,
	.cert_save = fs_cert_save,
	.cert_load = fs_cert_load,
	.cert_list = fs_cert_list,
	.cert_remove = fs_cert_remove,
	.lock = fs_lock,
	.unlock = fs_unlock,
	.state_load = fs_state_load,
	.state_save = fs_state_save,
};

/* The wrappers: argument policy shared by every backend. */

/* 0 when <s> is a non-empty string of at most STORE_MAX_FILE bytes (what a load accepts). */
static int
content_ok(const char *what, const char *s)
{
	size_t len;

	if (s == NULL || (len = strnlen(s, STORE_MAX_FILE + 1)) == 0) {
		log_err("store: %s: empty", what);
		return -1;
	}
	if (len > STORE_MAX_FILE) {
		log_err("store: %s: larger than the limit of 1 MiB", what);
		return -1;
	}
	return 0;
}

static int
url_ok(const char *url)
{
	if (url == NULL || *url == '\0' || strnlen(url, URL_MAX + 1) > URL_MAX) {
		log_err("store: missing or overlong ACME directory URL");
		return 0;
	}
	return 1;
}

void
store_close(struct store *s)
{
	if (s != NULL)
		s->ops->close(s);
}

int
store_account_load(struct store *s, const char *directory_url, char **key_pem,
    char **account_json)
{
	if (key_pem != NULL)
		*key_pem = NULL;
	if (account_json != NULL)
		*account_json = NULL;
	if (s == NULL || key_pem == NULL || account_json == NULL) {
		log_err("store: account load: bad arguments");
		return -1;
	}
	if (!url_ok(directory_url))
		return -1;
	return s->ops->account_load(s, directory_url, key_pem, account_json);
}

int
store_account_save(struct store *s, const char *directory_url, const char *key_pem,
    const char *account_json)
{
	if (s == NULL || !url_ok(directory_url) || content_ok("account key", key_pem) == -1 ||
	    content_ok("account JSON", account_json) == -1)
		return -1;
	return s->ops->account_save(s, directory_url, key_pem, account_json);
}

int
store_cert_save(struct store *s, const char *name, const char *key_pem, const char *chain_pem,
    const char *meta_json)
{
	if (s == NULL || name == NULL) {
		log_err("store: certificate save: bad arguments");
		return -1;
	}
	if (!store_name_ok(name)) {
		log_bad_name("certificate name", name);
		return -1;
	}
	if (content_ok("certificate key", key_pem) == -1 ||
	    content_ok("certificate chain", chain_pem) == -1 ||
	    content_ok("certificate metadata", meta_json) == -1)
		return -1;
	return s->ops->cert_save(s, name, key_pem, chain_pem, meta_json);
}

int
store_cert_load(struct store *s, const char *name, char **key_pem, char **chain_pem,
    char **meta_json)
{
	if (key_pem != NULL)
		*key_pem = NULL;
	if (chain_pem != NULL)
		*chain_pem = NULL;
	if (meta_json != NULL)
		*meta_json = NULL;
	if (s == NULL || name == NULL || key_pem == NULL || chain_pem == NULL ||
	    meta_json == NULL) {
		log_err("store: certificate load: bad arguments");
		return -1;
	}
	if (!store_name_ok(name)) {
		log_bad_name("certificate name", name);
		return -1;
	}
	return s->ops->cert_load(s, name, key_pem, chain_pem, meta_json);
}

int
store_cert_list(struct store *s, char ***names, size_t *n)
{
	if (names != NULL)
		*names = NULL;
	if (n != NULL)
		*n = 0;
	if (s == NULL || names == NULL || n == NULL) {
		log_err("store: certificate list: bad arguments");
		return -1;
	}
	return s->ops->cert_list(s, names, n);
}

void
store_names_free(char **names, size_t n)
{
	size_t i;

	if (names == NULL)
		return;
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

int
store_cert_remove(struct store *s, const char *name)
{
	if (s == NULL || name == NULL) {
		log_err("store: certificate remove: bad arguments");
		return -1;
	}
	if (!store_name_ok(name)) {
		log_bad_name("certificate name", name);
		return -1;
	}
	return s->ops->cert_remove(s, name);
}

int
store_lock(struct store *s, const char *name, struct store_lock **out)
{
	if (out != NULL)
		*out = NULL;
	if (s == NULL || name == NULL || out == NULL) {
		log_err("store: lock: bad arguments");
		return -1;
	}
	if (!store_name_ok(name)) {
		log_bad_name("lock name", name);
		return -1;
	}
	return s->ops->lock(s, name, out);
}

void
store_unlock(struct store_lock *l)
{
	if (l != NULL)
		l->ops->unlock(l);
}

int
store_state_load(struct store *s, const char *key, char **json)
{
	if (json != NULL)
		*json = NULL;
	if (s == NULL || json == NULL || key == NULL) {
		log_err("store: state load: bad arguments");
		return -1;
	}
	if (!key_ok(key)) {
		log_bad_name("state key", key);
		return -1;
	}
	return s->ops->state_load(s, key, json);
}

int
store_state_save(struct store *s, const char *key, const char *json)
{
	if (s == NULL || key == NULL) {
		log_err("store: state save: bad arguments");
		return -1;
	}
	if (!key_ok(key)) {
		log_bad_name("state key", key);
		return -1;
	}
	if (content_ok("state", json) == -1)
		return -1;
	return s->ops->state_save(s, key, json);
}

void
store_secret_free(char *p)
{
	if (p == NULL)
		return;
	explicit_bzero(p, strlen(p));
	free(p);
}
