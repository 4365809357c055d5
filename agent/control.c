#include "agent/control.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/log.h"
#include "agent/memory.h"
#include "agent/options.h"
#include "agent/version.h"
#include "proxy/certs.h"
#include "proxy/worker.h"

/* Creates the socket's directory (0750) when it is missing, handed to <group> when that is
 * not (gid_t)-1; one that exists is the operator's (or systemd's RuntimeDirectory=) and is
 * left as it is. */
static int
mkdir_parent(const char *path, gid_t group)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	if ((slash = strrchr(dir, '/')) == NULL || slash == dir)
		return 0;
	*slash = '\0';
	if (mkdir(dir, 0750) != 0)
		return errno == EEXIST ? 0 : -1;
	/* the umask must not shut the group out */
	return (chmod(dir, 0750) != 0 || (group != (gid_t)-1 && chown(dir, (uid_t)-1, group) != 0))
	    ? -1 : 0;
}

/* The socket's group becomes <group> (when it is not already: under systemd's Group= it is,
 * and jfe needs no CAP_CHOWN for it). */
static int
socket_group(const char *path, gid_t group)
{
	struct stat st;

	if (group == (gid_t)-1)
		return 0;
	if (lstat(path, &st) != 0)
		return -1;
	return st.st_gid == group ? 0 : lchown(path, (uid_t)-1, group);
}

int
control_open(const char *path, gid_t group)
{
	struct sockaddr_un sun;
	int fd = -1;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		log_err("control: socket path too long: %s", path);
		return -1;
	}
	strcpy(sun.sun_path, path);
	if (mkdir_parent(path, group) != 0)
		goto fail;
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0)
		goto fail;
	(void)unlink(path);     /* a stale socket from a killed run */
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0 || chmod(path, 0660) != 0 ||
	    socket_group(path, group) != 0 || listen(fd, 16) != 0)
		goto fail;
	return fd;
fail:
	log_err("control: %s: %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
	return -1;
}

static json_t *
traffic_json(const struct daemon_state *ds)
{
	static const char *const kinds[CK_KIND_MAX] = {
		"sniffing", "plain", "tls", "tls_passthrough", "starttls"
	};
	uint64_t active[CK_KIND_MAX] = { 0 }, total[CK_KIND_MAX] = { 0 };
	uint64_t c2u = 0, u2c = 0, hsf = 0, upf = 0, acc = 0, accerr = 0, cur = 0, ktls = 0;
	json_t *j, *ja, *jt;

	for (unsigned i = 0; i < ds->nworkers; i++) {
		const struct worker_stats *st = &ds->workers[i].st;

		for (int k = 0; k < CK_KIND_MAX; k++) {
			active[k] += atomic_load_explicit(&st->active[k], memory_order_relaxed);
			total[k] += atomic_load_explicit(&st->total[k], memory_order_relaxed);
		}
		c2u += atomic_load_explicit(&st->bytes_c2u, memory_order_relaxed);
		u2c += atomic_load_explicit(&st->bytes_u2c, memory_order_relaxed);
		hsf += atomic_load_explicit(&st->handshake_failures, memory_order_relaxed);
		ktls += atomic_load_explicit(&st->ktls_tx, memory_order_relaxed);
		upf += atomic_load_explicit(&st->upstream_failures, memory_order_relaxed);
		acc += atomic_load_explicit(&st->accepted, memory_order_relaxed);
		accerr += atomic_load_explicit(&st->accept_errors, memory_order_relaxed);
		cur += atomic_load_explicit(&st->current, memory_order_relaxed);
	}
	/* Connections still sniffing have no kind yet. */
	active[CK_UNKNOWN] = cur - active[CK_PLAIN] - active[CK_TLS] - active[CK_TLS_BACKEND] -
	    active[CK_STARTTLS];
	ja = json_object();
	jt = json_object();
	for (int k = 0; k < CK_KIND_MAX; k++) {
		json_object_set_new(ja, kinds[k], json_integer((json_int_t)active[k]));
		if (k != CK_UNKNOWN)
			json_object_set_new(jt, kinds[k], json_integer((json_int_t)total[k]));
	}
	j = json_pack("{s:o, s:o, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
	    "active", ja, "total", jt,
	    "accepted", (json_int_t)acc, "accept_errors", (json_int_t)accerr,
	    "bytes_client_to_service", (json_int_t)c2u,
	    "bytes_service_to_client", (json_int_t)u2c,
	    "handshake_failures", (json_int_t)hsf, "upstream_failures", (json_int_t)upf,
	    "ktls_tx", (json_int_t)ktls);
	return j;
}

json_t *
control_status_json(const struct daemon_state *ds)
{
	const struct jfe_options *o = ds->opt;
	json_t *j, *icpt, *opts, *certs;
	char *dump = NULL;
	size_t dumplen = 0;
	FILE *f;

	icpt = json_pack("{s:b, s:b, s:s, s:s?, s:i, s:i, s:b, s:s, s:b, s:I, s:I, s:I, s:s?}",
	    "rules_installed", ds->rules_installed, "routes_installed", ds->routes_installed,
	    "ports", o->ports_spec, "exclude_ports", o->exclude_ports_spec,
	    "listen_port", (int)o->listen_port, "workers", (int)ds->nworkers,
	    "preserve_source", !o->no_preserve_source,
	    "return_path", o->no_preserve_source ? "none" : o->return_conntrack ? "conntrack" :
	    "socket-mark", "fail_closed", o->fail_closed,
	    "fwmark", (json_int_t)o->fwmark, "upstream_mark", (json_int_t)o->upstream_mark,
	    "route_table", (json_int_t)o->route_table, "run_as", ds->run_as);
	/* The effective options, secrets masked, as the options file would spell them. */
	opts = json_object();
	if ((f = open_memstream(&dump, &dumplen)) != NULL) {
		char *line, *save = NULL;

		options_dump(o, f);
		fclose(f);
		for (line = strtok_r(dump, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
			char *sp = strchr(line, ' ');
			json_t *prev;

			if (sp == NULL)
				continue;
			*sp = '\0';
			prev = json_object_get(opts, line);
			if (prev && json_is_array(prev))
				json_array_append_new(prev, json_string(sp + 1));
			else if (prev) {
				json_t *arr = json_pack("[O, s]", prev, sp + 1);

				json_object_set_new(opts, line, arr);
			} else
				json_object_set_new(opts, line, json_string(sp + 1));
		}
		free(dump);
	}
	certs = certs_status_json();
	j = json_pack("{s:s, s:i, s:I, s:I, s:o, s:o, s:{s:I, s:I}, s:O, s:O, s:o, s:o, s:o}",
	    "version", JFE_VERSION, "pid", (int)getpid(),
	    "started", (json_int_t)ds->started,
	    "uptime_s", (json_int_t)(time(NULL) - ds->started),
	    "interception", icpt, "traffic", traffic_json(ds),
	    "memory", "rss_kib", (json_int_t)mem_rss_kib(),
	    "heap_bytes", (json_int_t)mem_heap_in_use(),
	    "certificates", json_object_get(certs, "certificates"),
	    "refused", json_object_get(certs, "refused"),
	    "orders", agent_orders_json(), "admission", agent_admission_json(),
	    "options", opts);
	json_decref(certs);
	return j;
}

void
control_serve(int lfd, const struct daemon_state *ds)
{
	struct timeval tv = { .tv_sec = 1 };
	char req[256];
	ssize_t n;
	size_t got = 0;
	int fd;

	if ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) < 0)
		return;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	while (got < sizeof(req) - 1 && (n = read(fd, req + got, sizeof(req) - 1 - got)) > 0) {
		got += (size_t)n;
		if (memchr(req, '\n', got))
			break;
	}
	req[got] = '\0';
	if (strncmp(req, "status", 6) == 0) {
		json_t *j = control_status_json(ds);
		char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;

		if (s) {
			size_t len = strlen(s), off = 0;

			while (off < len && (n = write(fd, s + off, len - off)) > 0)
				off += (size_t)n;
			if (write(fd, "\n", 1) < 0)
				log_debug("control: peer left early");
		}
		free(s);
		json_decref(j);
	} else {
		static const char err[] = "{\"error\":\"unknown request\"}\n";

		if (write(fd, err, sizeof(err) - 1) < 0)
			log_debug("control: peer left early");
	}
	close(fd);
}
