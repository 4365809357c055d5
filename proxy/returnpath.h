/* The kernel settings of the socket-mark return path (--return-path socket-mark).
 *
 * jfe connects to a service with the client's address as source and its upstream mark on
 * the socket. The service's reply to that address must come back to jfe, not go out to the
 * client. Rather than tracking every connection of the host (conntrack) to recognise those
 * replies, jfe lets the service's socket carry the mark itself:
 *
 *   net.ipv4.tcp_fwmark_accept = 1   a socket accepted from a marked SYN keeps its mark
 *   net.ipv4.fwmark_reflect = 1      the kernel's own replies (a reset from a closed port)
 *   net.ipv6.fwmark_reflect = 1      carry the mark of the packet they answer
 *
 * and an output rule (proxy/rules.c) turns the upstream mark on a local service's packets
 * into the return-path mark. Only SYNs that carry a mark are affected; table inet jfe
 * clears the mark of what it delivers to jfe's own sockets, so jfe's client connections
 * are unmarked. Another program's marks on incoming SYNs are now kept by the sockets that
 * accept them too (see docs/operations.md, "Return path").
 *
 * The settings are per network namespace. The values found before the first change are
 * recorded in <dir>/return-path.saved, written before anything is changed and kept over a crash,
 * so that a restart after kill -9 does not take jfe's own values for the originals.
 * Needs CAP_NET_ADMIN and a writable /proc/sys (systemd's ProtectKernelTunables= makes it
 * read-only: the unit sets them with `jfe return-path set` as root, see packaging/). */
#ifndef JFE_RETURNPATH_H
#define JFE_RETURNPATH_H

/* 1 if every setting has the value the socket-mark return path needs, 0 if not, -1 if
 * one cannot be read (reason logged). */
int returnpath_ready(void);
/* Puts every setting in place, recording the values found in <dir> first (added to a
 * record already there). Settings already in place are neither written nor recorded.
 * 0, or -1 (reason logged; what was changed is changed back). */
int returnpath_set(const char *dir);
/* Writes back the values recorded in <dir>, then removes the record. No record: nothing
 * to do. 0/-1 (reason logged; the record stays for the next try). */
int returnpath_restore(const char *dir);

#endif
