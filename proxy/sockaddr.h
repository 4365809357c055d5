/* Small helpers for IPv4/IPv6 socket addresses. */
#ifndef JFE_SOCKADDR_H
#define JFE_SOCKADDR_H

#include <netinet/in.h>
#include <stddef.h>
#include <sys/socket.h>

#define SA_STRLEN (INET6_ADDRSTRLEN + 8)

socklen_t sa_len(const struct sockaddr_storage *ss);
unsigned sa_port(const struct sockaddr_storage *ss);
/* "1.2.3.4:80" or "[::1]:80" */
char *sa_str(const struct sockaddr_storage *ss, char *buf, size_t len);
/* Address only, no port. */
char *sa_addr_str(const struct sockaddr_storage *ss, char *buf, size_t len);
int sa_equal(const struct sockaddr_storage *a, const struct sockaddr_storage *b); /* addr+port */
int sa_is_loopback(const struct sockaddr_storage *ss);

#endif
