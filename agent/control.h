/* The control socket: `jfe status` asks, the daemon answers with one JSON document. The
 * socket is 0660 so root and the jfe group may ask; nobody else. */
#ifndef JFE_CONTROL_H
#define JFE_CONTROL_H

#include <jansson.h>
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
};

/* Listening socket at <path> (a stale one is replaced), or -1 with the reason logged. */
int control_open(const char *path);
/* Serves one client of the listening socket <lfd>. Never blocks for long: the peer gets a
 * one-second budget for its request and for reading the answer. */
void control_serve(int lfd, const struct daemon_state *ds);
json_t *control_status_json(const struct daemon_state *ds);

#endif
