#include "agent/daemon.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <systemd/sd-daemon.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/control.h"
#include "agent/log.h"
#include "agent/memory.h"
#include "agent/options.h"
#include "agent/privdrop.h"
#include "agent/version.h"
#include "proxy/returnpath.h"
#include "proxy/route.h"
#include "proxy/rules.h"
#include "proxy/tls.h"
#include "proxy/worker.h"

#define TICKET_ROTATE_S 3600
/* Housekeeping: how often the live connections are counted to release memory after a burst
 * (a burst shorter than this may be seen one round late, when the next one is). */
#define HOUSEKEEP_MS    2000

static void
raise_fd_limit(void)
{
	struct rlimit rl;

	/* Each connection holds two sockets, and a pipe pair while splicing. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			log_warn("cannot raise the descriptor limit: %s", strerror(errno));
	}
}

static unsigned
worker_count(const struct jfe_options *o)
{
	long n;

	if (o->workers)
		return o->workers;
	n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (unsigned)n : 1;
}

static void
fallback_hostname(const struct jfe_options *o, char *buf, size_t len)
{
	if (o->hostname) {
		snprintf(buf, len, "%s", o->hostname);
		return;
	}
	if (gethostname(buf, len) != 0 || buf[0] == '\0')
		snprintf(buf, len, "localhost");
	buf[len - 1] = '\0';
}

static void reload(const struct jfe_options *cur);

/* systemd's watchdog: a timerfd at half the interval it asks for, or -1. */
static int
watchdog_timer(void)
{
	uint64_t usec = 0;
	struct itimerspec its;
	int fd;

	if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0)
		return -1;
	if ((fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC)) < 0)
		return -1;
	memset(&its, 0, sizeof(its));
	its.it_interval.tv_sec = (time_t)(usec / 2 / 1000000);
	its.it_interval.tv_nsec = (long)(usec / 2 % 1000000) * 1000;
	its.it_value = its.it_interval;
	if (timerfd_settime(fd, 0, &its, NULL) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* A periodic timerfd every <ms>, or -1. */
static int
periodic_timer(unsigned ms)
{
	struct itimerspec its;
	int fd;

	if ((fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC)) < 0)
		return -1;
	memset(&its, 0, sizeof(its));
	its.it_interval.tv_sec = ms / 1000;
	its.it_interval.tv_nsec = (long)(ms % 1000) * 1000000;
	its.it_value = its.it_interval;
	if (timerfd_settime(fd, 0, &its, NULL) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static uint64_t
live_connections(const struct daemon_state *ds)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < ds->nworkers; i++)
		n += atomic_load_explicit(&ds->workers[i].st.current, memory_order_relaxed);
	return n;
}

static int
main_loop(struct daemon_state *ds, int sfd, int cfd, int tfd)
{
	struct epoll_event ev;
	int ep = epoll_create1(EPOLL_CLOEXEC), wfd = watchdog_timer(), hfd;

	if (ep < 0)
		return -1;
	hfd = periodic_timer(HOUSEKEEP_MS);
	if (wfd >= 0) {
		ev.events = EPOLLIN;
		ev.data.fd = wfd;
		epoll_ctl(ep, EPOLL_CTL_ADD, wfd, &ev);
	}
	/* Without it jfe runs on; memory freed after a burst then stays with the allocator. */
	if (hfd >= 0) {
		ev.events = EPOLLIN;
		ev.data.fd = hfd;
		epoll_ctl(ep, EPOLL_CTL_ADD, hfd, &ev);
	}
	ev.events = EPOLLIN;
	ev.data.fd = sfd;
	epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev);
	ev.data.fd = cfd;
	epoll_ctl(ep, EPOLL_CTL_ADD, cfd, &ev);
	ev.data.fd = tfd;
	epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev);
	for (;;) {
		struct epoll_event evs[8];
		int n = epoll_wait(ep, evs, 8, -1);

		if (n < 0 && errno != EINTR)
			break;
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;

			if (fd == sfd) {
				struct signalfd_siginfo si;

				if (read(sfd, &si, sizeof(si)) != sizeof(si))
					continue;
				if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
					log_info("signal %s: stopping",
					    si.ssi_signo == SIGTERM ? "TERM" : "INT");
					sd_notify(0, "STOPPING=1\nSTATUS=stopping: new connections go "
					    "straight to the services");
					close(ep);
					if (wfd >= 0)
						close(wfd);
					if (hfd >= 0)
						close(hfd);
					return 0;
				}
				if (si.ssi_signo == SIGHUP) {
					log_info("SIGHUP: reloading the options file and certificates");
					reload(ds->opt);
				}
			} else if (fd == cfd) {
				control_serve(cfd, ds);
			} else if (fd == tfd) {
				uint64_t x;

				if (read(tfd, &x, sizeof(x)) == sizeof(x))
					tls_ticket_rotate();
			} else if (fd == wfd) {
				uint64_t x;

				if (read(wfd, &x, sizeof(x)) == sizeof(x))
					sd_notify(0, "WATCHDOG=1");
			} else if (fd == hfd) {
				uint64_t x, live;

				if (read(hfd, &x, sizeof(x)) != sizeof(x))
					continue;
				live = live_connections(ds);
				if (mem_tick(live))
					log_debug("memory: released what the allocator kept after a "
					    "burst (%llu connections now); RSS %ld KiB",
					    (unsigned long long)live, mem_rss_kib());
			}
		}
	}
	close(ep);
	if (wfd >= 0)
		close(wfd);
	if (hfd >= 0)
		close(hfd);
	return -1;
}

/* Options read again on SIGHUP stay allocated until the end: other threads point into them. */
#define RELOADS_MAX 64
static struct jfe_options *reloaded[RELOADS_MAX];
static unsigned nreloaded;
static int run_argc;
static char **run_argv;

static void
reload(const struct jfe_options *cur)
{
	struct jfe_options *n;

	if (nreloaded >= RELOADS_MAX) {
		log_warn("SIGHUP: too many reloads in this run; restart jfe to apply changes");
		return;
	}
	if ((n = calloc(1, sizeof(*n))) == NULL)
		return;
	if (options_parse(n, run_argc, run_argv) != 0) {
		log_warn("SIGHUP: the options are invalid (see above); nothing changed");
		free(n);
		return;
	}
	/* What the interception is made of only changes with a restart. */
	if (strcmp(n->ports_spec, cur->ports_spec) != 0 || memcmp(&n->ports, &cur->ports,
	    sizeof(n->ports)) != 0 || n->listen_port != cur->listen_port ||
	    n->fwmark != cur->fwmark || n->route_table != cur->route_table ||
	    n->upstream_mark != cur->upstream_mark || strcmp(n->return_path, cur->return_path) != 0 ||
	    n->no_preserve_source != cur->no_preserve_source ||
	    strcmp(n->acme_directory, cur->acme_directory) != 0 ||
	    strcmp(n->user ? n->user : "", cur->user ? cur->user : "") != 0)
		log_warn("SIGHUP: ports, listener, marks, source mode, the ACME directory and the "
		    "user change only with a restart");
	log_init("jfe", n->verbose);
	reloaded[nreloaded++] = n;
	agent_reload(n);
	sd_notify(0, "STATUS=options reloaded");
}

/* The socket-mark return path needs three kernel settings; when they cannot be had (a
 * read-only /proc/sys), conntrack finds the services' replies instead. */
static void
return_path_setup(struct jfe_options *o)
{
	int ready;

	if (o->no_preserve_source || o->return_conntrack)
		return;
	ready = returnpath_ready();
	if (ready == 1 || (ready == 0 && returnpath_set(o->cache_dir) == 0))
		return;
	log_warn("return path: the kernel settings of --return-path socket-mark are not in place "
	    "(see `jfe return-path set`); using conntrack");
	o->return_conntrack = 1;
}

int
daemon_run(struct jfe_options *o, int argc, char **argv)
{
	struct daemon_state ds = { .opt = o, .started = time(NULL) };
	struct rules_config rc = {
		.ports = &o->ports, .listen_port = o->listen_port, .fwmark = o->fwmark,
		.upstream_mark = o->upstream_mark, .fail_closed = o->fail_closed,
	};
	struct itimerspec its = { .it_interval.tv_sec = TICKET_ROTATE_S,
	    .it_value.tv_sec = TICKET_ROTATE_S };
	struct tls_front tls;
	struct privdrop pd;
	struct worker *ws = NULL;
	char host[256], who[128];
	sigset_t ss;
	int sfd = -1, cfd = -1, tfd = -1, rc_exit = 1, tls_ok = 0, agent_ok = 0, workers_up = 0;
	unsigned nw = worker_count(o);

	log_init("jfe", o->verbose);
	run_argc = argc;
	run_argv = argv;
	/* Signals go to the main loop only; workers never see them. */
	sigemptyset(&ss);
	sigaddset(&ss, SIGTERM);
	sigaddset(&ss, SIGINT);
	sigaddset(&ss, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &ss, NULL);
	signal(SIGPIPE, SIG_IGN);
	raise_fd_limit();
	if (privdrop_init(&pd, o->user) != 0)
		return 1;

	fallback_hostname(o, host, sizeof(host));
	if (tls_front_init(&tls, host) != 0)
		goto out;
	tls_ok = 1;
	if ((sfd = signalfd(-1, &ss, SFD_CLOEXEC)) < 0 ||
	    (tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC)) < 0 ||
	    timerfd_settime(tfd, 0, &its, NULL) != 0) {
		log_err("signalfd/timerfd: %s", strerror(errno));
		goto out;
	}
	/* Privileged set-up, while jfe is still one thread: the control socket (root and the
	 * user's group), the return path, the listeners (a low port), the store handed to the
	 * user. Then the drop (--user), and only then any thread: each inherits the reduced
	 * credentials. Return path first, then listeners, then the rules that send traffic to
	 * them: each step only takes effect once the one before it is in place. */
	if ((cfd = control_open(o->control_socket, privdrop_group(&pd))) < 0)
		goto out;
	if (route_install(o->fwmark, o->route_table) != 0)
		goto out;
	ds.routes_installed = 1;
	if (workers_init(&ws, nw, o, &tls) != 0)
		goto out;
	if (privdrop_own_dir(&pd, o->cache_dir) != 0 || privdrop_apply(&pd) != 0)
		goto out;
	/* After the drop: CAP_NET_ADMIN is enough for the network settings, and the record
	 * of the old values is the user's, for the same user to restore at stop. */
	return_path_setup(o);
	rc.return_conntrack = o->return_conntrack;
	/* Stored certificates are in the registry before the first connection arrives. */
	if (agent_start(o, workers_notify) != 0)
		goto out;
	agent_ok = 1;
	if (workers_run(ws, nw) != 0)
		goto out;
	workers_up = 1;
	ds.workers = ws;
	ds.nworkers = nw;
	if (rules_install(&rc) != 0)
		goto out;
	ds.rules_installed = 1;
	ds.run_as = privdrop_describe(&pd, who, sizeof(who));
	log_info("jfe %s running: ports %s%s%s, listener port %u, %u workers, source %s, %s",
	    JFE_VERSION, o->ports_spec, o->exclude_ports_spec ? " except " : "",
	    o->exclude_ports_spec ? o->exclude_ports_spec : "", o->listen_port, nw,
	    o->no_preserve_source ? "host address" : o->return_conntrack ?
	    "preserved (return path: conntrack)" : "preserved (return path: socket mark)",
	    ds.run_as);
	sd_notifyf(0, "READY=1\nSTATUS=intercepting ports %s with %u workers", o->ports_spec, nw);
	if (main_loop(&ds, sfd, cfd, tfd) == 0)
		rc_exit = 0;
out:
	/* Stop: close the listeners first, so tproxy finds no transparent socket and new
	 * connections reach the services directly; let live ones finish; then remove the
	 * rules and routes (live spoofed connections need the return path until the end). */
	if (workers_up) {
		workers_stop_accepting(ws, nw);
		workers_join(ws, nw, rc_exit == 0 ? o->drain_timeout_ms : 0);
	}
	if (agent_ok)
		agent_stop();
	if (ds.rules_installed || rc_exit != 0)
		rules_remove();
	if (ds.routes_installed) {
		route_remove(o->fwmark, o->route_table);
		/* What jfe changed, in this run or in one that died (nothing: no record). */
		returnpath_restore(o->cache_dir);
	}
	workers_free(ws, nw);
	if (cfd >= 0) {
		close(cfd);
		/* After --user the socket's directory may be root's: systemd's RuntimeDirectory=
		 * goes away at stop anyway, and the next start replaces a stale socket. */
		if (unlink(o->control_socket) != 0 && errno != ENOENT)
			log_debug("control: %s left behind: %s", o->control_socket, strerror(errno));
	}
	if (sfd >= 0)
		close(sfd);
	if (tfd >= 0)
		close(tfd);
	if (tls_ok)
		tls_front_free(&tls);
	for (unsigned i = 0; i < nreloaded; i++) {
		options_free(reloaded[i]);
		free(reloaded[i]);
		reloaded[i] = NULL;
	}
	nreloaded = 0;
	privdrop_free(&pd);
	if (rc_exit == 0)
		log_info("stopped; interception removed");
	return rc_exit;
}
