/* The interception ruleset: nftables table `inet jfe`, installed through libnftnl in one
 * netlink transaction. It is the verified test-bed recipe (testbed.md, "3 + 4. nftables
 * ruleset"), with jfe's mark, listener port and port set.
 *
 * prerouting (filter, priority mangle):
 *   iif "lo" accept
 *   meta l4proto tcp socket transparent 1 meta mark set M accept
 *   meta nfproto ipv4 tcp dport @ports tproxy ip to 127.0.0.1:LP meta mark set M accept
 *   meta nfproto ipv6 tcp dport @ports tproxy ip6 to [::1]:LP meta mark set M accept
 *   [fail-closed] tcp dport @ports tcp flags & (syn | ack) == syn reject with tcp reset
 * output (route, priority mangle):
 *   meta l4proto tcp ct state new socket transparent 1 ct mark set M
 *   ct direction reply ct mark M meta mark set M
 * set ports: type inet_service, flags interval, filled from rules_config.ports.
 *
 * Nothing outside table inet jfe is ever read, changed or flushed. Needs CAP_NET_ADMIN in
 * the network namespace and the kernel's nf_tables, nft_tproxy, nft_socket, nft_ct and
 * nft_reject_inet (autoloaded). */
#ifndef JFE_RULES_H
#define JFE_RULES_H

#include <stdint.h>
#include <stdio.h>

#include "agent/options.h"

struct rules_config {
	const struct port_set *ports;   /* intercepted destination ports (22 and the listener
	                                 * port already removed) */
	unsigned listen_port;           /* TPROXY target: 127.0.0.1:listen_port, [::1]:listen_port */
	uint32_t fwmark;                /* mark of the return path (default 0x6a6665); not 0 */
	uint32_t upstream_mark;         /* SO_MARK of jfe's upstream sockets (socket-mark mode) */
	int return_conntrack;           /* services' replies found by conntrack, not by the
	                                 * mark their sockets inherit */
	int fail_closed;                /* add the SYN-only reject rule */
};

/* Creates table inet jfe with its set, chains and rules in one transaction; a table left
 * by an earlier run is deleted in the same transaction, so the switch is atomic and there
 * is never a moment without interception. Every message is acknowledged by the kernel;
 * the first refusal is logged with the object it concerned. 0, or -1 (nothing changed). */
int rules_install(const struct rules_config *rc);
/* Deletes table inet jfe. An absent table is not an error. 0/-1. */
int rules_remove(void);
/* 1 if table inet jfe exists, 0 if not, -1 on error (logged). */
int rules_present(void);
/* Writes the ruleset rules_install() installs, as an `nft -f` file (idempotent: it deletes
 * an existing table inet jfe first). 0, or -1 on a write error or a bad config. */
int rules_print(const struct rules_config *rc, FILE *f);

#endif
