/* Policy routing of jfe's return path, through rtnetlink (libmnl), IPv4 and IPv6:
 *
 *   ip rule add fwmark M lookup T pref ROUTE_RULE_PREF
 *   ip route add local 0.0.0.0/0 dev lo table T
 *   (and the same with ip -6, local ::/0)
 *
 * Packets marked M by table inet jfe (proxy/rules.h) are delivered locally: the proxy's
 * own connections, and a local service's replies to the proxy's spoofed-source upstream.
 * Needs CAP_NET_ADMIN in the network namespace. */
#ifndef JFE_ROUTE_H
#define JFE_ROUTE_H

#include <stdint.h>

/* Priority of the fwmark rule. It must come before any rule whose table could send the
 * marked packets elsewhere: the main table (32766) and the default-route rules of VPN
 * clients (wg-quick 32764-32765, tailscale 5210-5270). It matches only packets carrying
 * jfe's mark, so coming early costs nothing. The value is otherwise arbitrary; a fixed one
 * makes jfe's rule easy to spot in `ip rule`. */
#define ROUTE_RULE_PREF 1776

/* Installs the rule and the route for both families; an earlier copy is replaced, never
 * duplicated. If the kernel has no IPv6, the IPv6 half is skipped with a warning.
 * <table> must not be 0 or a reserved table (253 default, 254 main, 255 local); <fwmark>
 * must not be 0. 0/-1 (reason logged). */
int route_install(uint32_t fwmark, uint32_t table);
/* Removes exactly what route_install() adds (every copy of it); absent is fine. 0/-1. */
int route_remove(uint32_t fwmark, uint32_t table);

#endif
