/* jfe: every TCP service on this host answers TLS to clients that ask for it. */
#include <stdio.h>
#include <string.h>

#include "agent/certcmd.h"
#include "agent/daemon.h"
#include "agent/log.h"
#include "agent/options.h"
#include "agent/status.h"
#include "agent/version.h"
#include "proxy/returnpath.h"
#include "proxy/rules.h"

static int
cmd_rules(int argc, char **argv)
{
	struct jfe_options o;
	struct rules_config rc;
	int r;

	if (options_parse(&o, argc, argv) != 0)
		return 2;
	rc.ports = &o.ports;
	rc.listen_port = o.listen_port;
	rc.fwmark = o.fwmark;
	rc.upstream_mark = o.upstream_mark;
	rc.return_conntrack = o.return_conntrack;
	rc.fail_closed = o.fail_closed;
	r = rules_print(&rc, stdout);
	options_free(&o);
	return r == 0 ? 0 : 1;
}

/* `jfe return-path set|restore [options]`: the kernel settings of the socket-mark return
 * path (proxy/returnpath.h), for a service manager that runs jfe where /proc/sys is
 * read-only: it calls this as root before starting jfe and after it has stopped. */
static int
cmd_return_path(int argc, char **argv)
{
	struct jfe_options o;
	int r = 0, set;

	if (argc < 2 || (strcmp(argv[1], "set") != 0 && strcmp(argv[1], "restore") != 0)) {
		fprintf(stderr, "usage: jfe return-path set|restore [options]\n");
		return 2;
	}
	set = strcmp(argv[1], "set") == 0;
	if (options_parse(&o, argc - 1, argv + 1) != 0)
		return 2;
	log_init("jfe", o.verbose);
	if (!set)
		r = returnpath_restore(o.cache_dir);
	else if (!o.no_preserve_source && !o.return_conntrack)
		r = returnpath_set(o.cache_dir);
	options_free(&o);
	return r == 0 ? 0 : 1;
}

int
main(int argc, char **argv)
{
	struct jfe_options o;
	int r;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		options_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
		printf("jfe %s\n", JFE_VERSION);
		return 0;
	}
	if (strcmp(argv[1], "status") == 0)
		return status_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "certs") == 0)
		return certs_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "revoke") == 0)
		return revoke_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "rules") == 0)
		return cmd_rules(argc - 1, argv + 1);
	if (strcmp(argv[1], "return-path") == 0)
		return cmd_return_path(argc - 1, argv + 1);
	if (strcmp(argv[1], "run") == 0) {
		for (int i = 2; i < argc; i++)
			if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
				options_usage(stdout);
				return 0;
			}
		if (options_parse(&o, argc - 1, argv + 1) != 0)
			return 2;
		r = daemon_run(&o, argc - 1, argv + 1);
		options_free(&o);
		return r;
	}
	fprintf(stderr, "jfe: unknown command '%s' (commands: run, status, certs, revoke, rules, "
	    "return-path, version)\n",
	    argv[1]);
	return 2;
}
