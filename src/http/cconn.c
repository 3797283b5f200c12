/*
 * cconn.c — one client connection (Go's persistConn without its
 * goroutines): dialling the host or its proxy, the CONNECT tunnel, TLS on
 * top, buffered reads, and the liveness check of an idle connection.
 *
 * A connection belongs to one goroutine at a time (client.h), so nothing
 * here is locked. Deadlines are the fd's (goc_set_*_deadline): the caller
 * sets them before each blocking step.
 *
 * The request's ctx ends a dial early: goc_dial_ctx while connecting;
 * then, for the TLS handshake and the CONNECT exchange, a
 * goc_ctx_after_func (dial_wake) that marks the dial cancelled and sets a
 * passed deadline on the fd, which wakes the parked call with
 * -ETIMEDOUT. A step that sets the fd's deadline itself checks the mark
 * after (the new deadline may have hidden the wake-up). The registration
 * is stopped before goc__pconn_dial returns.
 */
#include "http/client.h"
#include "net/poll.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define RBUF0 4096

ssize_t goc__pconn_read(goc__pconn *pc, void *buf, size_t n)
{
    if (pc->ops)
        return pc->ops->read(pc->stream, buf, n);
    return goc_read(pc->fd, buf, n);
}

ssize_t goc__pconn_writev(goc__pconn *pc, const struct iovec *iov, int iovcnt)
{
    if (pc->ops)
        return pc->ops->writev(pc->stream, iov, iovcnt);
    return goc_writev(pc->fd, iov, iovcnt);
}

ssize_t goc__pconn_fill(goc__pconn *pc, size_t max)
{
    if (pc->rpos == pc->rlen)
        pc->rpos = pc->rlen = 0;
    if (pc->rlen == pc->rcap) {
        if (pc->rpos > 0) { /* slide the unconsumed bytes down */
            memmove(pc->rbuf, pc->rbuf + pc->rpos, pc->rlen - pc->rpos);
            pc->rlen -= pc->rpos;
            pc->rpos = 0;
        }
        if (pc->rlen == pc->rcap) {
            if (pc->rcap >= max)
                return -EMSGSIZE;
            size_t cap = pc->rcap * 2 < max ? pc->rcap * 2 : max;
            char *nb = realloc(pc->rbuf, cap);
            if (!nb)
                return -ENOMEM;
            pc->rbuf = nb;
            pc->rcap = cap;
        }
    }
    ssize_t n = goc__pconn_read(pc, pc->rbuf + pc->rlen, pc->rcap - pc->rlen);
    if (n > 0)
        pc->rlen += (size_t)n;
    return n;
}

bool goc__pconn_alive(goc__pconn *pc)
{
    if (pc->rpos != pc->rlen)
        return false; /* bytes nobody asked for */
    /* Drained by the last response and no edge since: the poller would
     * have seen a close or a byte (as Go's read loop would), so no peek.
     * (Under load the poller often reports the response's own edge after
     * it was read, which looks like a close: then the peek decides.) */
    if (!pc->ops && goc__fd_quiet(pc->fd))
        return true;
    char b;
    ssize_t n = recv(pc->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    /* EOF, an error, or bytes: a close or a TLS alert (or something
     * unasked). Over TLS a readable socket may also be a session ticket;
     * such a connection is given up too: a redial costs less than a
     * request sent into a closing one. */
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

void goc__pconn_close(goc__pconn *pc)
{
    if (!pc)
        return;
    if (pc->ops)
        pc->ops->close(pc->stream);
    if (pc->fd >= 0)
        goc_close(pc->fd);
    free(pc->rbuf);
    free(pc);
}

/* A dial's wake-up by its ctx (see the top of the file). */
typedef struct dial_wake {
    int fd;
    int cancelled; /* atomic: release by wake_fn, acquire by the dialler */
} dial_wake;

/* On the goroutine that cancels the ctx: must not block. */
static void wake_fn(void *arg)
{
    dial_wake *w = arg;
    __atomic_store_n(&w->cancelled, 1, __ATOMIC_RELEASE);
    goc_set_deadline(w->fd, 1); /* long past: the parked call returns */
}

/* CONNECT t->authority through the proxy pc is connected to (RFC 9110
 * 9.3.6): 0 once the tunnel is up, GOC_EHTTP_PROXY if the proxy refused;
 * -ETIMEDOUT once wake's ctx is cancelled. */
static int connect_tunnel(goc_http_client *c, goc__pconn *pc, const goc__htarget *t,
                          int64_t deadline, dial_wake *wake)
{
    char head[1024];
    int n = snprintf(head, sizeof head, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n%s%s%s\r\n",
                     t->authority, t->authority, t->proxy_auth[0] ? "Proxy-Authorization: " : "",
                     t->proxy_auth, t->proxy_auth[0] ? "\r\n" : "");
    if (n < 0 || (size_t)n >= sizeof head)
        return -EINVAL;
    struct iovec iov = {head, (size_t)n};
    ssize_t w = goc__pconn_writev(pc, &iov, 1);
    if (w < 0)
        return (int)w;
    goc__hfield fields[64];
    goc__hresp resp = {.fields = fields, .fields_cap = 64};
    size_t scanned = 0;
    for (;;) {
        int rc = goc__http_parse_response(pc->rbuf + pc->rpos, pc->rlen - pc->rpos, &scanned, &resp,
                                          GOC__HRESP_CONNECT, NULL);
        if (rc < 0)
            return goc__errorf(GOC_EHTTP_MALFORMED, "proxyconnect tcp: malformed response: %s",
                               resp.why);
        if (rc > 0) {
            pc->rpos += (size_t)rc;
            if (resp.code >= 100 && resp.code < 200 && !resp.tunnel)
                continue; /* an interim response */
            if (resp.code < 200 || resp.code > 299)
                return goc__errorf(GOC_EHTTP_PROXY, "proxyconnect tcp: proxy answered %u",
                                   (unsigned)resp.code);
            return 0;
        }
        /* The answer is a response: the stall timeout holds for it too. */
        int64_t d = c->opts.stall_timeout > 0 ? goc_now() + c->opts.stall_timeout : 0;
        if (deadline > 0 && (d == 0 || deadline < d))
            d = deadline;
        goc_set_read_deadline(pc->fd, d);
        if (__atomic_load_n(&wake->cancelled, __ATOMIC_ACQUIRE))
            return -ETIMEDOUT; /* the wake-up's deadline was just replaced */
        ssize_t r = goc__pconn_fill(pc, 64 * 1024);
        if (r == 0)
            return goc__errorf(GOC_EHTTP_UNEXPECTED_EOF, "proxyconnect tcp: unexpected EOF");
        if (r == -EMSGSIZE)
            return goc__errorf(GOC_EHTTP_HEADER_TOO_LARGE,
                               "proxyconnect tcp: the proxy's response headers exceeded 64 KiB");
        if (r < 0)
            return (int)r;
    }
}

/* The dial failed with rc: Go's words for it if ctx is done (its
 * wake-up, not the step's own timeout, ended it). */
static int dial_failed(goc_ctx *ctx, int rc)
{
    int err = goc_ctx_err(ctx);
    if (!err)
        return rc;
    return goc__errorf(err, "context %s", err == -ECANCELED ? "canceled" : "deadline exceeded");
}

/* The steps after the TCP connection: TLS to the proxy, CONNECT, TLS to
 * the host, before hs (0: no deadline). 0 or a negative errno. */
static int handshakes(goc_http_client *c, goc__pconn *pc, const goc__htarget *t, int64_t hs,
                      dial_wake *w)
{
    int rc = 0;
    if (t->proxy[0] && t->proxy_tls && t->tls)
        rc = goc__errorf(-ENOTSUP, "http: TLS through an https proxy is not supported");
    else if (t->proxy[0] && t->proxy_tls)
        rc = goc__pconn_start_tls(c, pc, t->proxy_host);
    if (rc == 0 && t->proxy[0] && t->tls)
        rc = connect_tunnel(c, pc, t, hs, w);
    if (rc == 0 && pc->rpos != pc->rlen) /* the server speaks after our hello */
        rc = goc__errorf(GOC_EHTTP_MALFORMED, "proxyconnect tcp: bytes after the proxy's answer");
    if (rc == 0 && t->tls)
        rc = goc__pconn_start_tls(c, pc, t->host);
    return rc;
}

int goc__pconn_dial(goc_http_client *c, const goc__htarget *t, goc_ctx *ctx, int64_t deadline,
                    goc__pconn **out)
{
    *out = NULL;
    goc__pconn *pc = calloc(1, sizeof *pc);
    if (!pc)
        return -ENOMEM;
    pc->fd = -1;
    pc->rbuf = malloc(RBUF0);
    if (!pc->rbuf) {
        free(pc);
        return -ENOMEM;
    }
    pc->rcap = RBUF0;
    goc_duration dt = c->opts.dial_timeout;
    if (deadline > 0) {
        goc_duration left = deadline - goc_now();
        if (left <= 0) {
            goc__pconn_close(pc);
            return goc__errorf(-ETIMEDOUT, "dial tcp %s: i/o timeout",
                               t->proxy[0] ? t->proxy : t->authority);
        }
        if (dt <= 0 || left < dt)
            dt = left;
    }
    int fd =
        goc_dial_ctx(ctx, "tcp", t->proxy[0] ? t->proxy : t->authority, dt > 0 ? dt : GOC_FOREVER);
    if (fd < 0) {
        goc__pconn_close(pc);
        return dial_failed(ctx, fd);
    }
    pc->fd = fd;
    int64_t hs = c->opts.tls_handshake_timeout > 0 ? goc_now() + c->opts.tls_handshake_timeout : 0;
    if (deadline > 0 && (hs == 0 || deadline < hs))
        hs = deadline;
    goc_set_deadline(fd, hs);
    dial_wake w = {.fd = fd};
    goc_ctx_stop *reg = NULL;
    int rc = 0;
    if ((t->tls || t->proxy_tls) && goc_ctx_done(ctx)) /* a step that waits on the server */
        rc = goc_ctx_after_func(ctx, wake_fn, &w, &reg);
    if (rc == 0)
        rc = handshakes(c, pc, t, hs, &w);
    goc_ctx_after_func_stop(reg);           /* waits for a running wake_fn */
    pc->via_proxy = t->proxy[0] && !t->tls; /* a tunnel carries origin-form requests */
    if (rc < 0) {
        goc__pconn_close(pc);
        return dial_failed(ctx, rc);
    }
    goc_set_deadline(fd, 0); /* after the stop: a late wake-up's deadline goes too */
    *out = pc;
    return 0;
}
