/* `jfe certs` and `jfe revoke NAME`: work on the store directly, so they also work while the
 * daemon is stopped. */
#ifndef JFE_CERTCMD_H
#define JFE_CERTCMD_H

int certs_main(int argc, char **argv);
int revoke_main(int argc, char **argv);

#endif
