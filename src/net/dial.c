/*
 * dial.c — goc_listen, goc_dial and goc_dial_ctx (Go's net.Listen,
 * net.DialTimeout and Dialer.DialContext).
 *
 * A dial with a ctx that can be cancelled registers a goc_ctx_after_func
 * for its length: run by whoever cancels the ctx (or its deadline's
 * timer), it stops the dial's goc__dialstop (dial.h), which wakes the
 * resolver or the connects with a passed deadline on the socket each
 * waits on. The registration is stopped before goc_dial_ctx returns
 * (waiting for a running after-func), so nothing touches the dial's
 * stack afterwards.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/addr.h"
#include "net/neterr.h"
#include "net/dial.h"
#include "net/poll.h"

static int new_socket(int family, int socktype)
{
    int fd = socket(family, socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int err = goc__pd_open(fd);
    if (err) {
        close(fd);
        return err;
    }
    return fd;
}

static int setopt(int fd, int level, int name, int v)
{
    return setsockopt(fd, level, name, &v, sizeof v) == 0 ? 0 : -errno;
}

static int listen_one(const goc__net *net, const struct sockaddr_storage *sa, socklen_t len,
                      const goc_listen_opts *o)
{
    int family = sa->ss_family;
    int fd = new_socket(family, net->socktype);
    if (fd < 0)
        return fd;
    int err = 0;
    if (family != AF_UNIX) {
        err = setopt(fd, SOL_SOCKET, SO_REUSEADDR, 1);
        if (!err && o->reuseport)
            err = setopt(fd, SOL_SOCKET, SO_REUSEPORT, 1);
        /* "tcp" on [::] takes IPv4 too; "tcp6" only IPv6, as in Go. */
        if (!err && family == AF_INET6)
            err = setopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, net->family == AF_INET6);
    }
    if (!err && bind(fd, (const struct sockaddr *)sa, len) < 0)
        err = -errno;
    if (!err && net->socktype == SOCK_STREAM && family != AF_UNIX)
        goc__tcp_conn_opts(fd); /* inherited by every accepted connection */
    if (!err && net->socktype == SOCK_STREAM &&
        listen(fd, o->backlog > 0 ? o->backlog : SOMAXCONN) < 0)
        err = -errno;
    if (err) {
        goc_close(fd);
        return err;
    }
    return fd;
}

GOC_API int goc_listen_with(const char *network, const char *address, const goc_listen_opts *opts)
{
    static const goc_listen_opts none = {0};
    goc__net net;
    goc__addrs addrs;
    if (goc__parse_network(network, &net) != 0)
        return goc__net_unknown_network("listen", network);
    int rc = goc__resolve(&net, address, true, 0, NULL, &addrs);
    if (rc)
        return goc__net_resolve_failed(rc, "listen", network, address, addrs.why);
    /* The first address that works (the rest are fallbacks: [::] where
     * the kernel has no IPv6 falls back to 0.0.0.0). */
    for (int i = 0; i < addrs.n; i++) {
        rc = listen_one(&net, &addrs.a[i], addrs.len[i], opts ? opts : &none);
        if (rc >= 0 || (rc != -EAFNOSUPPORT && rc != -EADDRNOTAVAIL))
            break;
    }
    return rc < 0 ? goc__net_op_failed(rc, "listen", network, address) : rc;
}

GOC_API int goc_listen(const char *network, const char *address)
{
    return goc_listen_with(network, address, NULL);
}

int goc__dial_one(const goc__net *net, const struct sockaddr_storage *sa, socklen_t len,
                  int64_t deadline, goc__dialstop *stop, int slot)
{
    int fd = new_socket(sa->ss_family, net->socktype);
    if (fd < 0)
        return fd;
    if (sa->ss_family != AF_UNIX && net->socktype == SOCK_STREAM)
        goc__tcp_conn_opts(fd);
    int err = stop ? goc__dialstop_enter(stop, slot, fd) : 0;
    if (!err && connect(fd, (const struct sockaddr *)sa, len) < 0) {
        err = -errno;
        if (err == -EINPROGRESS || err == -EINTR) {
            goc_duration left = GOC_FOREVER;
            if (deadline) {
                left = deadline - goc_now();
                if (left <= 0)
                    left = 1;
            }
            int w = goc_wait_fd(fd, GOC_WRITE, left);
            if (w < 0) {
                err = w;
            } else {
                int soerr = 0;
                socklen_t sl = sizeof soerr;
                err = getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0 ? -errno : -soerr;
            }
        }
    }
    if (stop)
        err = goc__dialstop_leave(stop, slot, err);
    if (err) {
        goc_close(fd);
        return err;
    }
    return fd;
}

/* The ctx is done: stop the dial (on the cancelling goroutine). */
static void ctx_done(void *arg)
{
    goc__dialstop *s = arg;
    goc__dialstop_stop(s, goc_ctx_err(s->ctx));
}

/* Resolve and connect; stop (NULL: nothing but the deadline) ends it
 * early. The fd, or the error with its message recorded. */
static int dial(const goc__net *net, const char *network, const char *address, int64_t deadline,
                goc__dialstop *stop)
{
    goc__addrs addrs;
    int rc = goc__resolve(net, address, false, deadline, stop, &addrs);
    int why = rc && stop ? goc__dialstop_why(stop) : 0;
    if (rc)
        return goc__net_resolve_failed(why ? why : rc, "dial", network, address, addrs.why);
    rc = goc__dial_addrs(net, &addrs, deadline, stop);
    why = rc < 0 && stop ? goc__dialstop_why(stop) : 0;
    return rc < 0 ? goc__net_op_failed(why ? why : rc, "dial", network, address) : rc;
}

GOC_API int goc_dial_ctx(goc_ctx *ctx, const char *network, const char *address,
                         goc_duration timeout)
{
    int64_t deadline = timeout > 0 ? goc_now() + timeout : 0;
    goc__net net;
    if (goc__parse_network(network, &net) != 0)
        return goc__net_unknown_network("dial", network);
    if (!ctx || !goc_ctx_done(ctx)) /* can never be cancelled */
        return dial(&net, network, address, deadline, NULL);
    int err = goc_ctx_err(ctx);
    if (err)
        return goc__net_op_failed(err, "dial", network, address);
    int64_t cd = goc_ctx_deadline(ctx);
    if (cd > 0 && (deadline == 0 || cd < deadline))
        deadline = cd;
    goc__dialstop stop;
    goc__dialstop_init(&stop, ctx);
    goc_ctx_stop *reg;
    err = goc_ctx_after_func(ctx, ctx_done, &stop, &reg);
    if (err)
        return goc__net_op_failed(err, "dial", network, address);
    int rc = dial(&net, network, address, deadline, &stop);
    goc_ctx_after_func_stop(reg); /* waits for a running ctx_done */
    return rc;
}

GOC_API int goc_dial(const char *network, const char *address, goc_duration timeout)
{
    return goc_dial_ctx(NULL, network, address, timeout);
}
