/* `jfe run`: set-up in an order that never leaves a half-working interception, the main loop
 * (signals, control socket, periodic chores) and a stop that removes everything jfe added. */
#ifndef JFE_DAEMON_H
#define JFE_DAEMON_H

struct jfe_options;

/* Returns the process exit code. <argc>/<argv> (starting at "run") are parsed again on
 * SIGHUP to reload the options file. */
int daemon_run(struct jfe_options *o, int argc, char **argv);

#endif
