/* `jfe status`: asks the running daemon over the control socket and prints what it says. */
#ifndef JFE_STATUS_H
#define JFE_STATUS_H

/* Exit codes: 0 answered, 3 not running, 1 other errors, 2 usage. */
int status_main(int argc, char **argv);

#endif
