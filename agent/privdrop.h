/* Dropping root (`jfe run --user NAME`): jfe starts as root, does everything that needs more
 * than CAP_NET_ADMIN (the transparent listeners on a low port, the control socket owned by
 * root and NAME's group, the state directory handed to NAME), then becomes NAME keeping only
 * CAP_NET_ADMIN: nftables and policy routes (installed after the drop, removed at stop) and
 * IP_TRANSPARENT on upstream sockets (the kernel takes CAP_NET_ADMIN or CAP_NET_RAW for it, so
 * CAP_NET_RAW is not kept). Everything else goes from the effective, permitted, inheritable,
 * ambient and bounding sets, and no_new_privs is set.
 *
 * Credentials are per thread in Linux, and libcap's cap_set_proc() changes only the calling
 * thread: the drop therefore refuses to run unless the process has a single thread, and every
 * thread started afterwards inherits the reduced set. */
#ifndef JFE_PRIVDROP_H
#define JFE_PRIVDROP_H

#include <sys/types.h>

struct privdrop {
	char *user;             /* NULL: no --user, nothing changes */
	uid_t uid;
	gid_t gid;              /* NAME's primary group: the control socket's group */
	gid_t *groups;          /* NAME's supplementary groups (as initgroups(3) would set) */
	int ngroups;
	int switch_ids;         /* running as root: uids and gids change at privdrop_apply() */
};

/* Looks up <user> (NULL or "": no drop). Fails, logged, when the user is unknown, is root, or
 * when jfe is neither root nor already running as <user>. */
int privdrop_init(struct privdrop *pd, const char *user);
/* The group the control socket is handed to, or (gid_t)-1 when there is no drop. */
gid_t privdrop_group(const struct privdrop *pd);
/* Makes <dir> (the store) belong to the user, creating it (0700) when missing. A directory
 * still owned by root (jfe ran as root before) is handed over with everything in it, provided
 * no directory in it is writable by group or others; one owned by the user is left alone
 * (root never walks a tree the user could have prepared); anything else is refused. 0, or -1
 * logged. No-op without a drop. */
int privdrop_own_dir(const struct privdrop *pd, const char *dir);
/* Becomes the user with CAP_NET_ADMIN only (see above). 0, or -1 logged: the caller must not
 * go on with more privilege than it asked to keep. No-op without a drop. */
int privdrop_apply(const struct privdrop *pd);
/* A short description for the start-up line: "user jfe (CAP_NET_ADMIN)" or "user root". */
const char *privdrop_describe(const struct privdrop *pd, char *buf, size_t len);
void privdrop_free(struct privdrop *pd);

/* For `jfe certs` and `jfe revoke` run by root on a store that belongs to another user (the
 * daemon's, after --user): becomes that user, with no capabilities, so that nothing in the
 * store ends up owned by root. 0 (also when there is nothing to do), or -1 logged. */
int privdrop_become_owner(const char *dir);

/* Parses the "Threads:" line of a /proc/<pid>/status text: the count, or -1. */
int privdrop_status_threads(const char *status_text);

#endif
