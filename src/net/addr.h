/*
 * addr.h — network names and addresses (addr.c), shared by dial.c.
 */
#ifndef GOC_NET_ADDR_H
#define GOC_NET_ADDR_H

#include <goc.h>
#include <stdbool.h>
#include <sys/socket.h>

#define GOC__MAX_ADDRS 16

typedef struct goc__net {
    int family;   /* AF_UNSPEC (both), AF_INET, AF_INET6, AF_UNIX */
    int socktype; /* SOCK_STREAM, SOCK_DGRAM */
} goc__net;

/* What ends a dial early (dial.h); NULL where nothing does. */
typedef struct goc__dialstop goc__dialstop;

typedef struct goc__addrs {
    const char *why; /* out: why a malformed address was refused (static) */
    int n;
    struct sockaddr_storage a[GOC__MAX_ADDRS];
    socklen_t len[GOC__MAX_ADDRS];
} goc__addrs;

/* "tcp", "tcp4", "tcp6", "unix", "udp", "udp4", "udp6", "unixgram";
 * -EINVAL for anything else. */
int goc__parse_network(const char *network, goc__net *out);
/* The addresses for address on net, in the order to try them. passive:
 * for listening (an empty host is every local address, not loopback).
 * -EINVAL if malformed; GOC_ENOTFOUND / GOC_ETEMPFAIL if a name does not
 * resolve, -ETIMEDOUT if it did not by deadline (0: none), stop's why if
 * stop (may be NULL) was stopped first. */
int goc__resolve(const goc__net *net, const char *address, bool passive, int64_t deadline,
                 goc__dialstop *stop, goc__addrs *out);

/* Resolve a host name with c-ares (dns.c): /etc/hosts, then the
 * nameservers of /etc/resolv.conf, giving up at deadline (a goc_now()
 * time; 0: c-ares' own timeouts) or when stop (may be NULL) is stopped.
 * 0 with out filled (port set), or GOC_ENOTFOUND, GOC_ETEMPFAIL,
 * -ETIMEDOUT, -ENOMEM, or stop's why. */
int goc__dns_lookup(const char *host, int family, uint16_t port, int64_t deadline,
                    goc__dialstop *stop, goc__addrs *out);

/* The port of a service name for socktype (SOCK_STREAM: tcp, SOCK_DGRAM:
 * udp) from /etc/services or Go's short built-in table (services.c): 0, or
 * GOC_ENOSERVICE. */
int goc__lookup_port(const char *name, int socktype, uint16_t *port);

#endif /* GOC_NET_ADDR_H */
