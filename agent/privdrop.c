#include "agent/privdrop.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/log.h"

/* What jfe keeps after the drop: see privdrop.h. */
static const cap_value_t keep_caps[] = { CAP_NET_ADMIN };
#define NKEEP (sizeof(keep_caps) / sizeof(keep_caps[0]))

/* The store is four levels deep (certs/<name>/v-<hex>/key.pem); anything much deeper is not
 * jfe's, and the hand-over refuses to walk it. */
#define TREE_DEPTH_MAX 8

static int
kept(cap_value_t c)
{
	for (size_t i = 0; i < NKEEP; i++)
		if (keep_caps[i] == c)
			return 1;
	return 0;
}

int
privdrop_status_threads(const char *text)
{
	const char *p = text;

	while (p && *p) {
		if (strncmp(p, "Threads:", 8) == 0) {
			char *end;
			long n = strtol(p + 8, &end, 10);

			return (end != p + 8 && n > 0 && n < 1000000) ? (int)n : -1;
		}
		if ((p = strchr(p, '\n')) != NULL)
			p++;
	}
	return -1;
}

/* The number of threads of this process, or -1. */
static int
thread_count(void)
{
	char buf[4096];
	ssize_t n;
	int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);

	if (fd == -1)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	return privdrop_status_threads(buf);
}

/* The supplementary groups initgroups(3) would give <user> (with <gid>), in <pd>. */
static int
groups_of(struct privdrop *pd, const char *user, gid_t gid)
{
	int n = 16;

	for (int tries = 0; tries < 4; tries++) {
		gid_t *g = realloc(pd->groups, (size_t)n * sizeof(*g));
		int want = n;

		if (g == NULL)
			return -1;
		pd->groups = g;
		if (getgrouplist(user, gid, pd->groups, &want) >= 0) {
			pd->ngroups = want;
			return 0;
		}
		if (want <= n)
			return -1;
		n = want;
	}
	return -1;
}

int
privdrop_init(struct privdrop *pd, const char *user)
{
	struct passwd pw, *res = NULL;
	long bufsz = sysconf(_SC_GETPW_R_SIZE_MAX);
	char *buf = NULL;
	int err;

	memset(pd, 0, sizeof(*pd));
	pd->uid = (uid_t)-1;
	pd->gid = (gid_t)-1;
	if (user == NULL || *user == '\0')
		return 0;
	if (bufsz < 16384)
		bufsz = 16384;
	if ((buf = malloc((size_t)bufsz)) == NULL)
		goto fail;
	if ((err = getpwnam_r(user, &pw, buf, (size_t)bufsz, &res)) != 0 || res == NULL) {
		log_err("--user %s: %s", user, err ? strerror(err) : "no such user");
		goto fail;
	}
	if (pw.pw_uid == 0) {
		log_err("--user %s: that is root; name the unprivileged user jfe should become",
		    user);
		goto fail;
	}
	pd->uid = pw.pw_uid;
	pd->gid = pw.pw_gid;
	if (groups_of(pd, user, pw.pw_gid) != 0) {
		log_err("--user %s: cannot list its groups", user);
		goto fail;
	}
	if (geteuid() == 0)
		pd->switch_ids = 1;
	else if (geteuid() != pd->uid || getuid() != pd->uid) {
		log_err("--user %s: jfe runs as uid %u; only root can become another user", user,
		    (unsigned)geteuid());
		goto fail;
	}
	if ((pd->user = strdup(user)) == NULL)
		goto fail;
	free(buf);
	return 0;
fail:
	free(buf);
	privdrop_free(pd);
	return -1;
}

gid_t
privdrop_group(const struct privdrop *pd)
{
	return pd->user ? pd->gid : (gid_t)-1;
}

void
privdrop_free(struct privdrop *pd)
{
	free(pd->user);
	pd->user = NULL;
	free(pd->groups);
	pd->groups = NULL;
	pd->ngroups = 0;
}

const char *
privdrop_describe(const struct privdrop *pd, char *buf, size_t len)
{
	if (pd->user)
		snprintf(buf, len, "user %s (CAP_NET_ADMIN only)", pd->user);
	else if (geteuid() == 0)
		snprintf(buf, len, "user root (no --user)");
	else
		snprintf(buf, len, "uid %u", (unsigned)geteuid());
	return buf;
}

/* With <apply>, hands every entry under <dfd> still owned by root to the user, depth first,
 * never following a symbolic link (a link itself is handed over, not what it points to).
 * Without, only checks the tree first, so that a refusal changes nothing: like the store
 * itself, it refuses a directory that group or others may write to, or that is somebody
 * else's (what is in it may have been put there to be handed over). */
static int
chown_tree(const struct privdrop *pd, int dfd, const char *root, int depth, int apply)
{
	struct dirent *de;
	DIR *d;
	int nfd, rc = -1;

	if (depth > TREE_DEPTH_MAX) {
		log_err("store %s: deeper than %d levels: not jfe's store, not handed over", root,
		    TREE_DEPTH_MAX);
		return -1;
	}
	if ((nfd = fcntl(dfd, F_DUPFD_CLOEXEC, 0)) == -1)
		goto fail;
	if ((d = fdopendir(nfd)) == NULL) {
		close(nfd);
		goto fail;
	}
	rewinddir(d);   /* the duplicate shares its offset with <dfd>: an earlier pass moved it */
	for (;;) {
		struct stat st;

		errno = 0;
		if ((de = readdir(d)) == NULL)
			break;
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1)
			goto fail_dir;
		if (S_ISDIR(st.st_mode)) {
			int cfd, r;

			if ((st.st_mode & 022) || (st.st_uid != 0 && st.st_uid != pd->uid)) {
				log_err("store %s: %s is uid %u's, mode %04o: not handing it over",
				    root, de->d_name, (unsigned)st.st_uid,
				    (unsigned)(st.st_mode & 07777));
				closedir(d);
				return -1;
			}
			cfd = openat(dfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (cfd == -1)
				goto fail_dir;
			r = chown_tree(pd, cfd, root, depth + 1, apply);
			close(cfd);
			if (r != 0) {
				closedir(d);
				return -1;
			}
		}
		if (apply && st.st_uid == 0 && fchownat(dfd, de->d_name, pd->uid, pd->gid,
		    AT_SYMLINK_NOFOLLOW) == -1)
			goto fail_dir;
	}
	if (errno == 0)
		rc = 0;
fail_dir:
	if (rc != 0)
		log_err("store %s: handing %s over to %s: %s", root, de ? de->d_name : "a directory",
		    pd->user, strerror(errno));
	closedir(d);
	return rc;
fail:
	log_err("store %s: handing it over to %s: %s", root, pd->user, strerror(errno));
	return -1;
}

int
privdrop_own_dir(const struct privdrop *pd, const char *dir)
{
	struct stat st;
	int fd = -1, pfd, made = 0;

	/* Not root: nothing to hand over; the store checks that it owns its directory. */
	if (pd->user == NULL || !pd->switch_ids)
		return 0;
	if (mkdir(dir, 0700) == 0)
		made = 1;
	else if (errno != EEXIST) {
		log_err("store %s: mkdir: %s", dir, strerror(errno));
		return -1;
	}
	/* Already the user's (the package makes /var/lib/jfe so): nothing to open, which root
	 * could not do anyway without CAP_DAC_OVERRIDE. The directory itself may be a symbolic
	 * link: it comes from the configuration. */
	if (!made && stat(dir, &st) == 0 && st.st_uid == pd->uid)
		return 0;
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 || fstat(fd, &st) == -1) {
		log_err("store %s: open: %s", dir, strerror(errno));
		goto fail;
	}
	if (st.st_uid == pd->uid) {
		close(fd);
		return 0;
	}
	if (st.st_uid != 0 || (st.st_mode & 022)) {
		log_err("store %s: uid %u's, mode %04o; not root's alone, nor %s's (uid %u): not "
		    "taking it over", dir, (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777),
		    pd->user, (unsigned)pd->uid);
		goto fail;
	}
	/* Root's tree, written by root alone (checked on the way): walking it as root is safe.
	 * The top directory goes last: once it is the user's, root (without CAP_DAC_OVERRIDE
	 * under systemd) could no longer look inside. */
	if (!made && (chown_tree(pd, fd, dir, 0, 0) != 0 || chown_tree(pd, fd, dir, 0, 1) != 0))
		goto fail;
	if (fchown(fd, pd->uid, pd->gid) == -1 || (made && fchmod(fd, 0700) == -1)) {
		log_err("store %s: chown to %s: %s", dir, pd->user, strerror(errno));
		goto fail;
	}
	if (made) {
		/* A new directory must survive a crash along with the account key saved in it. */
		if ((pfd = openat(fd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) != -1) {
			if (fsync(pfd) == -1)
				log_warn("store %s: fsync of the parent directory: %s", dir,
				    strerror(errno));
			close(pfd);
		}
	} else
		log_info("store %s: handed over to %s (it belonged to root)", dir, pd->user);
	close(fd);
	return 0;
fail:
	if (fd != -1)
		close(fd);
	return -1;
}

/* Every capability outside keep_caps leaves the bounding set; ambient ones go too. Root's
 * bounding set may already be cut (systemd's CapabilityBoundingSet=): only what is still
 * there is dropped, which needs CAP_SETPCAP. Without <strict> (jfe was started as the user
 * already) a bounding set that cannot be cut is left as it is: with no_new_privs and a uid
 * other than 0, no execve() can raise anything up to it. */
static int
bound_drop(int strict)
{
	cap_value_t max = cap_max_bits();

	for (cap_value_t c = 0; c < max; c++) {
		if (kept(c) || cap_get_bound(c) != 1)
			continue;
		if (cap_drop_bound(c) == -1) {
			int err = errno;
			char *name;

			if (!strict && err == EPERM) {
				log_debug("privileges: the bounding set stays as it is (no CAP_SETPCAP)");
				break;
			}
			name = cap_to_name(c);
			log_err("privileges: cannot drop %s from the bounding set: %s (dropping needs "
			    "CAP_SETPCAP)", name ? name : "?", strerror(err));
			cap_free(name);
			return -1;
		}
	}
	/* EINVAL: a kernel without ambient capabilities, so there are none. */
	if (cap_reset_ambient() == -1 && errno != EINVAL) {
		log_err("privileges: clearing the ambient set: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* After the drop: the ids are the user's for good and the capability sets hold keep_caps. */
static int
check_dropped(const struct privdrop *pd, cap_t want)
{
	uid_t r, e, s;
	gid_t rg, eg, sg;
	cap_t now = cap_get_proc();
	int same = now ? cap_compare(now, want) : -1;

	cap_free(now);
	if (same != 0) {
		log_err("privileges: the capability sets are not the ones asked for");
		return -1;
	}
	if (getresuid(&r, &e, &s) == -1 || getresgid(&rg, &eg, &sg) == -1 ||
	    r != pd->uid || e != pd->uid || s != pd->uid || (pd->switch_ids &&
	    (rg != pd->gid || eg != pd->gid || sg != pd->gid))) {
		log_err("privileges: user and group ids are not %s's", pd->user);
		return -1;
	}
	/* The classic check: the way back to root must be closed. */
	if (pd->switch_ids && setresuid((uid_t)-1, 0, (uid_t)-1) == 0) {
		log_err("privileges: root could be regained after the drop");
		return -1;
	}
	if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1) {
		log_err("privileges: no_new_privs is not set");
		return -1;
	}
	return 0;
}

int
privdrop_apply(const struct privdrop *pd)
{
	cap_t caps = NULL;
	int n;

	if (pd->user == NULL)
		return 0;
	if ((n = thread_count()) != 1) {
		/* cap_set_proc() would reduce this thread only; the others would keep root's. */
		log_err("privileges: %d threads when dropping to %s; the drop must come first", n,
		    pd->user);
		return -1;
	}
	if (pd->switch_ids && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) == -1) {
		log_err("privileges: PR_SET_KEEPCAPS: %s", strerror(errno));
		return -1;
	}
	if (bound_drop(pd->switch_ids) != 0)
		return -1;
	if (pd->switch_ids && (setgroups((size_t)pd->ngroups, pd->groups) == -1 ||
	    setresgid(pd->gid, pd->gid, pd->gid) == -1 ||
	    setresuid(pd->uid, pd->uid, pd->uid) == -1)) {
		log_err("privileges: becoming %s (uid %u, gid %u): %s", pd->user, (unsigned)pd->uid,
		    (unsigned)pd->gid, strerror(errno));
		return -1;
	}
	/* With keep-caps the permitted set survived the change of uid (the effective set did
	 * not): from it, keep_caps only, effective and permitted, nothing inheritable. */
	if ((caps = cap_init()) == NULL ||
	    cap_set_flag(caps, CAP_PERMITTED, (int)NKEEP, keep_caps, CAP_SET) == -1 ||
	    cap_set_flag(caps, CAP_EFFECTIVE, (int)NKEEP, keep_caps, CAP_SET) == -1 ||
	    cap_set_proc(caps) == -1) {
		log_err("privileges: keeping CAP_NET_ADMIN as %s: %s", pd->user, strerror(errno));
		goto fail;
	}
	if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) == -1 ||
	    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1) {
		log_err("privileges: prctl: %s", strerror(errno));
		goto fail;
	}
	if (check_dropped(pd, caps) != 0)
		goto fail;
	cap_free(caps);
	return 0;
fail:
	cap_free(caps);
	return -1;
}

int
privdrop_become_owner(const char *dir)
{
	struct privdrop pd;
	struct passwd *pw;
	struct stat st;
	cap_t none = NULL;
	int rc = -1;

	if (geteuid() != 0 || stat(dir, &st) == -1 || st.st_uid == 0)
		return 0;
	memset(&pd, 0, sizeof(pd));
	pd.uid = st.st_uid;
	pd.gid = st.st_gid;
	if ((pw = getpwuid(st.st_uid)) != NULL) {
		pd.gid = pw->pw_gid;
		if (groups_of(&pd, pw->pw_name, pw->pw_gid) != 0)
			goto out;
	}
	if (setgroups((size_t)pd.ngroups, pd.groups) == -1 ||
	    setresgid(pd.gid, pd.gid, pd.gid) == -1 || setresuid(pd.uid, pd.uid, pd.uid) == -1) {
		log_err("store %s: becoming its owner (uid %u): %s", dir, (unsigned)pd.uid,
		    strerror(errno));
		goto out;
	}
	/* Without keep-caps the change of uid cleared every set; make sure of it. */
	if ((none = cap_init()) == NULL || cap_set_proc(none) == -1) {
		log_err("store %s: clearing capabilities: %s", dir, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	cap_free(none);
	privdrop_free(&pd);
	return rc;
}
