/* The control socket: `jfe status` asks, the daemon answers with one JSON document. The
 * socket is 0660, owned by root and by the group of the --user jfe runs as (jfe under the
 * unit), so root and that group may ask; nobody else. */
#ifndef JFE_CONTROL_H
#define JFE_CONTROL_H

#include <jansson.h>
#include <sys/types.h>
#include <time.h>

struct jfe_options;
struct worker;

struct daemon_state {
	const struct jfe_options *opt;
	struct worker *workers;
	unsigned nworkers;
	time_t started;
	int rules_installed;
	int routes_installed;
	const char *run_as;             /* "user jfe (CAP_NET_ADMIN only)", "user root (no --user)" */
};

/* Listening socket at <path> (a stale one is replaced), its group <group> unless that is
 * (gid_t)-1, or -1 with the reason logged. */
int control_open(const char *path, gid_t group);
/* Serves one client of the listening socket <lfd>. Never blocks for long: the peer gets a
 * one-second budget for its request and for reading the answer. */
void control_serve(int lfd, const struct daemon_state *ds);
json_t *control_status_json(const struct daemon_state *ds);

#endif
