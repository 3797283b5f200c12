/*
 * addr.c — parsing "network" and "address" as Go's net package does, and
 * resolving host names without blocking a worker.
 *
 * Numeric hosts are parsed here; names go to c-ares (dns.c), driven by
 * the netpoller, so a slow resolver parks one goroutine, not a P.
 */
#include "net/addr.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

int goc__parse_network(const char *network, goc__net *out)
{
    static const struct {
        const char *name;
        int family, socktype;
    } nets[] = {
        {"tcp", AF_UNSPEC, SOCK_STREAM}, {"tcp4", AF_INET, SOCK_STREAM},
        {"tcp6", AF_INET6, SOCK_STREAM}, {"unix", AF_UNIX, SOCK_STREAM},
        {"udp", AF_UNSPEC, SOCK_DGRAM},  {"udp4", AF_INET, SOCK_DGRAM},
        {"udp6", AF_INET6, SOCK_DGRAM},  {"unixgram", AF_UNIX, SOCK_DGRAM},
    };
    if (!network)
        return -EINVAL;
    for (size_t i = 0; i < sizeof nets / sizeof nets[0]; i++) {
        if (strcmp(network, nets[i].name) == 0) {
            *out = (goc__net){nets[i].family, nets[i].socktype};
            return 0;
        }
    }
    return -EINVAL; /* unknown network */
}

/* A port: a number of 0-65535 or a service name ("http"), looked up for
 * socktype (services.c). -EINVAL when malformed, GOC_ENOSERVICE when the
 * name is unknown. */
static int parse_port(const char *p, int socktype, uint16_t *port, const char **why)
{
    size_t plen = strlen(p);
    if (plen == 0) {
        *why = "missing port in address"; /* "localhost:" */
        return -EINVAL;
    }
    *why = "invalid port";
    if (!isalpha((unsigned char)p[0])) {
        if (strspn(p, "0123456789") != plen || plen > 5)
            return -EINVAL; /* "host:-1", "host:8a", "host:123456" */
        unsigned v = (unsigned)strtoul(p, NULL, 10);
        if (v > 65535)
            return -EINVAL;
        *port = (uint16_t)v;
        *why = NULL;
        return 0;
    }
    if (strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_+.") != plen)
        return -EINVAL;
    int rc = goc__lookup_port(p, socktype, port);
    *why = rc ? "unknown port" : NULL;
    return rc;
}

/* "host:port", "[host]:port": split into host (copied into buf) and the
 * port text (*port points into address); -EINVAL when malformed (no
 * port, stray brackets or colons). */
static int split_host_port(const char *address, char *host, size_t hostcap, const char **port,
                           const char **why)
{
    const char *colon, *h = address, *hend;
    if (address[0] == '[') {
        hend = strchr(address, ']');
        if (!hend) {
            *why = "missing ']' in address"; /* "[::1" */
            return -EINVAL;
        }
        if (hend[1] != ':') {
            *why = "missing port in address"; /* "[::1]80" */
            return -EINVAL;
        }
        h = address + 1;
        colon = hend + 1;
    } else {
        colon = strrchr(address, ':');
        if (!colon) {
            *why = "missing port in address";
            return -EINVAL;
        }
        hend = colon;
        if (memchr(address, ':', (size_t)(colon - address))) {
            *why = "too many colons in address"; /* "::1:80": IPv6 needs brackets */
            return -EINVAL;
        }
        if (memchr(address, '[', (size_t)(colon - address)) ||
            memchr(address, ']', (size_t)(colon - address))) {
            *why = "unexpected bracket in address";
            return -EINVAL;
        }
    }
    size_t hlen = (size_t)(hend - h);
    if (hlen >= hostcap) {
        *why = "host name too long";
        return -EINVAL;
    }
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    *port = colon + 1;
    return 0;
}

static void add(goc__addrs *out, const void *sa, socklen_t len)
{
    if (out->n >= GOC__MAX_ADDRS)
        return;
    memcpy(&out->a[out->n], sa, len);
    out->len[out->n++] = len;
}

static void add_v4(goc__addrs *out, const struct in_addr *ip, uint16_t port)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr = *ip};
    add(out, &sin, sizeof sin);
}

static void add_v6(goc__addrs *out, const struct in6_addr *ip, uint16_t port, uint32_t scope)
{
    struct sockaddr_in6 s6 = {.sin6_family = AF_INET6, .sin6_port = htons(port), .sin6_addr = *ip};
    s6.sin6_scope_id = scope;
    add(out, &s6, sizeof s6);
}

/* A numeric host (with an optional IPv6 %zone): 1 if it was one, 0 if it
 * is a name, -EINVAL if its family does not fit the network. */
static int numeric(const char *host, int family, uint16_t port, goc__addrs *out)
{
    struct in_addr v4;
    struct in6_addr v6;
    char buf[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
    if (inet_pton(AF_INET, host, &v4) == 1) {
        if (family == AF_INET6) {
            out->why = "no suitable address (an IPv4 address on an IPv6 network)";
            return -EINVAL;
        }
        add_v4(out, &v4, port);
        return 1;
    }
    uint32_t scope = 0;
    const char *zone = strchr(host, '%');
    if (zone) {
        size_t n = (size_t)(zone - host);
        if (n >= sizeof buf)
            return 0;
        memcpy(buf, host, n);
        buf[n] = '\0';
        scope = if_nametoindex(zone + 1);
        if (!scope)
            scope = (uint32_t)strtoul(zone + 1, NULL, 10);
        host = buf;
    }
    if (inet_pton(AF_INET6, host, &v6) == 1) {
        if (family == AF_INET) {
            out->why = "no suitable address (an IPv6 address on an IPv4 network)";
            return -EINVAL;
        }
        add_v6(out, &v6, port, scope);
        return 1;
    }
    return 0;
}

static int unix_addr(const char *path, goc__addrs *out)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof sun.sun_path) {
        out->why = n ? "socket path too long" : "missing socket path";
        return -EINVAL;
    }
    memcpy(sun.sun_path, path, n);
    if (path[0] == '@') /* Linux abstract namespace, as Go spells it */
        sun.sun_path[0] = '\0';
    add(out, &sun, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (path[0] != '@')));
    return 0;
}

int goc__resolve(const goc__net *net, const char *address, bool passive, int64_t deadline,
                 goc__dialstop *stop, goc__addrs *out)
{
    out->n = 0;
    out->why = NULL;
    if (!address) {
        out->why = "missing address";
        return -EINVAL;
    }
    if (net->family == AF_UNIX)
        return unix_addr(address, out);
    char host[256];
    const char *ptext;
    uint16_t port;
    int rc = split_host_port(address, host, sizeof host, &ptext, &out->why);
    if (rc == 0)
        rc = parse_port(ptext, net->socktype, &port, &out->why);
    if (rc)
        return rc;
    if (host[0] == '\0') {
        /* ":port": every local address to listen on; loopback to dial,
         * as Go does. */
        struct in_addr v4 = {htonl(passive ? INADDR_ANY : INADDR_LOOPBACK)};
        if (!passive && net->family != AF_INET6)
            add_v4(out, &v4, port); /* dial: IPv4 loopback first */
        if (net->family != AF_INET) /* listen: [::] takes IPv4 too */
            add_v6(out, passive ? &in6addr_any : &in6addr_loopback, port, 0);
        if (passive && net->family != AF_INET6)
            add_v4(out, &v4, port);
        return 0;
    }
    rc = numeric(host, net->family, port, out);
    if (rc < 0)
        return rc;
    if (rc == 1)
        return 0;
    return goc__dns_lookup(host, net->family, port, deadline, stop, out);
}
