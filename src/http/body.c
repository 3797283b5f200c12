/*
 * body.c — the request body reader and the request's context.
 *
 * The body's bytes come first from what the head's read brought along
 * (rbuf[rpos, rlen)), then from the socket: a length-delimited body is
 * read straight into the handler's buffer when it asks for much, so a
 * large upload is copied once; a chunked body goes through rbuf and the
 * decoder (parse.h), which hands back spans of data. Bytes are never
 * moved below body_base while the handler runs: the request's strings
 * point into the head there.
 *
 * The context is made on first use. It is cancelled when the handler
 * returns, and when the client goes away: once the body has been read to
 * its end, a watcher goroutine waits for the socket to become readable
 * and peeks; end of file or an error cancels the context, and bytes (a
 * pipelined request) end the watch. The watcher is stopped (a read
 * deadline in the past wakes it) and waited for before the request ends.
 */
#include "http/conn.h"
#include "net/poll.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define DRAIN_MAX (256 * 1024)

/* Before a read that may wait for the client: what the connection has
 * queued for it (answers to earlier pipelined requests) goes out, as the
 * client may wait for them before it sends more. 0 or a negative errno. */
static int flush_before_read(goc__http_conn *c)
{
    return c->wlen > 0 && !c->werr ? goc__http_flush_wbuf(c) : 0;
}

ssize_t goc__http_fill(goc__http_conn *c)
{
    int rc = flush_before_read(c);
    if (rc < 0)
        return rc;
    if (c->rpos == c->rlen && c->dlen == 0) {
        c->rpos = c->rlen = c->body_base; /* all consumed: reuse the space */
    } else if (c->rlen == c->rcap && c->rpos > c->body_base && c->dlen == 0) {
        memmove(c->rbuf + c->body_base, c->rbuf + c->rpos, c->rlen - c->rpos);
        c->rlen -= c->rpos - c->body_base;
        c->rpos = c->body_base;
    }
    if (c->rlen == c->rcap) {
        /* Full of bytes the decoder needs (a long trailer section). The
         * head's strings point into rbuf, so it cannot move: the rest
         * goes to a bigger buffer, and the old one stays until the
         * request ends (conn.c frees rbuf_old). */
        size_t cap = c->rcap * 2;
        if (cap > 4 * c->srv->max_header_bytes + 65536)
            return -EMSGSIZE;
        char *b = malloc(cap);
        if (!b)
            return -ENOMEM;
        memcpy(b, c->rbuf + c->rpos, c->rlen - c->rpos);
        if (c->rbuf_old)
            free(c->rbuf);
        else
            c->rbuf_old = c->rbuf;
        c->rbuf = b;
        c->rcap = cap;
        c->rlen -= c->rpos;
        c->rpos = c->body_base = 0;
    }
    ssize_t n = goc__http_conn_read(c, c->rbuf + c->rlen, c->rcap - c->rlen);
    if (n > 0) {
        c->rlen += (size_t)n;
        c->bytes_in += (uint64_t)n;
    }
    return n;
}

void goc__http_body_start(goc__http_conn *c, const goc__hreq *hr)
{
    c->expect_continue = hr->expect_continue;
    c->sent_continue = false;
    c->too_large = false;
    c->body_read = 0;
    c->max_bytes = -1;
    c->dpos = c->dlen = 0;
    switch (hr->body) {
    case GOC__HBODY_LENGTH:
        c->body = hr->content_length > 0 ? CBODY_LENGTH : CBODY_DONE;
        c->body_left = hr->content_length;
        break;
    case GOC__HBODY_CHUNKED:
        c->body = CBODY_CHUNKED;
        memset(&c->rs->chunked, 0, sizeof c->rs->chunked);
        c->rs->chunked.fields = c->rs->tfields;
        c->rs->chunked.fields_cap = sizeof c->rs->tfields / sizeof c->rs->tfields[0];
        break;
    default:
        c->body = CBODY_DONE;
        c->body_left = 0;
    }
    if (c->body == CBODY_DONE)
        c->expect_continue = false; /* nothing to continue to */
}

static int send_continue(goc__http_conn *c)
{
    c->sent_continue = true;
    if (c->header_sent || c->rs->w.status != 0)
        return 0;
    static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
    int rc = goc__http_wbuf_put(c, cont, sizeof cont - 1);
    return rc < 0 ? rc : goc__http_flush_wbuf(c);
}

static void start_watch(goc__http_conn *c);

static ssize_t body_error(goc__http_conn *c, int err, const char *msg)
{
    c->body = CBODY_ERROR;
    c->close_after = true;
    return goc__errset(err, msg);
}

static ssize_t read_length(goc__http_conn *c, char *buf, size_t n)
{
    if ((int64_t)n > c->body_left)
        n = (size_t)c->body_left;
    size_t avail = c->rlen - c->rpos;
    ssize_t got;
    if (avail > 0) {
        got = (ssize_t)(avail < n ? avail : n);
        memcpy(buf, c->rbuf + c->rpos, (size_t)got);
        c->rpos += (size_t)got;
    } else if (n >= 2048) {
        got = flush_before_read(c);
        if (got == 0)
            got = goc__http_conn_read(c, buf, n); /* straight into the handler's buffer */
        if (got > 0)
            c->bytes_in += (uint64_t)got;
    } else {
        got = goc__http_fill(c);
        if (got > 0)
            return read_length(c, buf, n);
    }
    if (got == 0)
        return body_error(c, GOC_EHTTP_MALFORMED, "http: unexpected EOF reading the body");
    if (got < 0)
        return body_error(c, (int)got, "http: reading the body");
    c->body_left -= got;
    if (c->body_left == 0)
        c->body = CBODY_DONE;
    return got;
}

/* The chunked body's trailer fields, into r->trailer. */
static void take_trailers(goc__http_conn *c, const char *base)
{
    for (uint32_t i = 0; i < c->rs->chunked.nfields; i++) {
        goc__hfield *f = &c->rs->tfields[i];
        char *name = goc__arena_strndup(&c->arena, base + f->name.off, f->name.len);
        char *value = goc__arena_strndup(&c->arena, base + f->value.off, f->value.len);
        if (name && value)
            goc__http_header_push(c->rs->req.trailer, name, f->name.len, value, f->value.len);
    }
}

static ssize_t read_chunked(goc__http_conn *c, char *buf, size_t n)
{
    for (;;) {
        if (c->dlen > 0) {
            size_t k = c->dlen < n ? c->dlen : n;
            memcpy(buf, c->rbuf + c->dpos, k);
            c->dpos += k;
            c->dlen -= k;
            return (ssize_t)k;
        }
        size_t used = 0;
        goc__hspan data;
        const char *base = c->rbuf + c->rpos;
        int rc = goc__http_chunked(&c->rs->chunked, base, c->rlen - c->rpos, &used, &data, NULL);
        if (rc == GOC__HCHUNK_DATA) {
            c->dpos = c->rpos + data.off;
            c->dlen = data.len;
            c->rpos += used;
            continue;
        }
        if (rc == GOC__HCHUNK_END) {
            take_trailers(c, base);
            c->rpos += used;
            c->body = CBODY_DONE;
            return 0;
        }
        if (rc < 0)
            return body_error(c, GOC_EHTTP_MALFORMED, c->rs->chunked.why);
        c->rpos += used;
        ssize_t got = goc__http_fill(c);
        if (got == 0)
            return body_error(c, GOC_EHTTP_MALFORMED, "http: unexpected EOF reading the body");
        if (got < 0)
            return body_error(c, (int)got, "http: reading the body");
    }
}

static ssize_t read_body(goc__http_conn *c, char *buf, size_t n)
{
    if (c->body == CBODY_DONE)
        return 0;
    if (c->body == CBODY_ERROR)
        return goc__errset(GOC_EHTTP_MALFORMED, "http: the body could not be read");
    if (c->expect_continue && !c->sent_continue) {
        int rc = send_continue(c);
        if (rc < 0)
            return rc;
    }
    ssize_t r = c->body == CBODY_LENGTH ? read_length(c, buf, n) : read_chunked(c, buf, n);
    if (c->body == CBODY_DONE && c->ctx && !c->watching)
        start_watch(c);
    return r;
}

static ssize_t body_read(goc_http_request *r, void *buf, size_t n);

GOC_API ssize_t goc_http_body_read(goc_http_request *r, void *buf, size_t n)
{
    goc_mutex *mu = r->priv_->bodymu;
    if (!mu)
        return body_read(r, buf, n);
    goc_mutex_lock(mu);
    ssize_t k = body_read(r, buf, n);
    goc_mutex_unlock(mu);
    return k;
}

static ssize_t body_read(goc_http_request *r, void *buf, size_t n)
{
    goc__http_conn *c = r->priv_->conn;
    if (n == 0)
        return 0;
    if (c->max_bytes >= 0) {
        int64_t allowed = c->max_bytes - c->body_read;
        if (allowed <= 0) {
            /* At the limit: one more byte says whether the body goes on. */
            char probe;
            ssize_t k = read_body(c, &probe, 1);
            if (k <= 0)
                return k;
            c->too_large = true;
            c->close_after = true;
            return goc__errset(GOC_EHTTP_BODY_TOO_LARGE, "http: request body too large");
        }
        if ((int64_t)n > allowed)
            n = (size_t)allowed;
    }
    ssize_t k = read_body(c, buf, n);
    if (k > 0)
        c->body_read += k;
    return k;
}

static ssize_t body_read_fn(void *r, void *buf, size_t n)
{
    return goc_http_body_read(r, buf, n);
}

GOC_API int goc_http_body_read_all(goc_http_request *r, char **data, size_t *len, size_t max)
{
    int rc = goc__http_read_all(body_read_fn, r, -1, max, data, len);
    if (rc == GOC_EHTTP_BODY_TOO_LARGE) {
        r->priv_->conn->too_large = true;
        r->priv_->conn->close_after = true;
        return goc__errset(GOC_EHTTP_BODY_TOO_LARGE, "http: request body too large");
    }
    return rc;
}

GOC_API void goc_http_max_bytes(goc_http_request *r, int64_t n)
{
    goc__http_conn *c = r->priv_->conn;
    c->max_bytes = n < 0 ? 0 : c->body_read + n;
}

bool goc__http_body_drain(goc__http_conn *c)
{
    if (c->body == CBODY_DONE)
        return true;
    if (c->body == CBODY_ERROR || c->too_large)
        return false;
    if (c->expect_continue && !c->sent_continue)
        return false; /* the client may or may not send it: can't frame */
    char buf[8192];
    size_t drained = 0;
    c->max_bytes = -1;
    while (drained < DRAIN_MAX) {
        ssize_t k = read_body(c, buf, sizeof buf);
        if (k == 0)
            return true;
        if (k < 0)
            return false;
        drained += (size_t)k;
    }
    c->linger = true;
    return false;
}

/* ---- the request's context ------------------------------------------------------ */

static void watch(void *arg)
{
    goc__http_conn *c = arg;
    for (;;) {
        int rc = goc__fd_wait_read(c->fd); /* no poll(2) if the request drained it */
        if (rc < 0)
            break; /* stopped (deadline) or closed */
        char b;
        ssize_t k = recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
        if (k > 0)
            break; /* a pipelined request: the client is there */
        if (k == 0 || (errno != EAGAIN && errno != EINTR)) {
            goc_ctx_cancel(c->rs->priv.ctx);
            break;
        }
    }
    goc_chan_close(c->watch_done);
}

static void start_watch(goc__http_conn *c)
{
    if (c->rpos < c->rlen)
        return; /* a pipelined request is already here */
    c->watch_done = goc_chan_make(0, 0);
    if (!c->watch_done)
        return;
    c->watching = true;
    if (goc_go(watch, c) < 0) {
        goc_chan_release(c->watch_done);
        c->watch_done = NULL;
        c->watching = false;
    }
}

void goc__http_request_end_ctx(goc__http_conn *c)
{
    if (c->watching) {
        goc_set_read_deadline(c->fd, 1); /* wakes the watcher's wait */
        goc_chan_recv(c->watch_done, NULL);
        goc_chan_release(c->watch_done);
        c->watch_done = NULL;
        c->watching = false;
        goc_set_read_deadline(c->fd, 0);
        c->rdeadline = 0;
    }
    goc_ctx *ctx = c->rs->priv.ctx;
    if (!ctx)
        return;
    goc_mutex_lock(&c->srv->mu);
    c->ctx = NULL;
    goc_mutex_unlock(&c->srv->mu);
    goc_ctx_cancel(ctx);
    goc_ctx_release(ctx);
    c->rs->priv.ctx = NULL;
}

GOC_API void goc_http_request_set_ctx(goc_http_request *r, goc_ctx *ctx)
{
    struct goc__http_req *p = r->priv_;
    if (ctx)
        goc_http_request_ctx(r); /* the request's own exists (and its watcher runs) */
    p->ctx_override = ctx;
}

GOC_API goc_ctx *goc_http_request_ctx(goc_http_request *r)
{
    struct goc__http_req *p = r->priv_;
    if (p->ctx_override)
        return p->ctx_override;
    if (p->ctx)
        return p->ctx;
    goc__http_conn *c = p->conn;
    goc_ctx *ctx = goc_ctx_with_cancel(goc_ctx_background());
    if (!ctx)
        return goc_ctx_background(); /* ENOMEM: a context that never ends */
    p->ctx = ctx;
    goc_mutex_lock(&c->srv->mu);
    c->ctx = ctx;
    bool closed = c->srv->closed;
    goc_mutex_unlock(&c->srv->mu);
    if (closed)
        goc_ctx_cancel(ctx);
    if (c->body == CBODY_DONE && !c->hijacked)
        start_watch(c);
    return ctx;
}

GOC_API void *goc_http_request_alloc(goc_http_request *r, size_t n)
{
    return goc__arena_alloc(r->priv_->arena, n);
}
