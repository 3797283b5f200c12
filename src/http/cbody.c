/*
 * cbody.c — the response body as the caller reads it: framed by length,
 * by chunks or by the connection's end (RFC 9112 section 6.3), decoded
 * from gzip when the client asked for it, and never ending early without
 * an error: a length-delimited body cut short or a chunked one without its
 * last chunk is GOC_EHTTP_UNEXPECTED_EOF.
 *
 * Once the body's end is read the connection goes back to the pool (or
 * is closed when the response said so); a body abandoned before its end
 * closes the connection unless the rest is already buffered.
 *
 * Not locked: a response belongs to one goroutine (client.h).
 */
#include "http/client.h"
#include "http/gunzip.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_CHUNK_BUF (1u << 20) /* a chunk line or trailer section fits */

int64_t goc__cresp_read_deadline(const struct goc__http_cresp *r)
{
    int64_t d = r->stall > 0 ? goc_now() + r->stall : 0;
    if (r->deadline > 0 && (d == 0 || r->deadline < d))
        d = r->deadline;
    return d;
}

/* A read error of the connection, named (the ctx's own error if it was
 * cancelled: the wake-up shows as a timeout). */
static int read_err(struct goc__http_cresp *r, ssize_t n)
{
    int err = goc_ctx_err(r->ctx);
    if (err && n == -ETIMEDOUT)
        return goc__errorf(err, "http: request %s while reading the body",
                           err == -ECANCELED ? "canceled" : "deadline exceeded");
    if (n == 0)
        return goc__errorf(GOC_EHTTP_UNEXPECTED_EOF, "http: unexpected EOF reading the body");
    return (int)n;
}

static ssize_t fail(struct goc__http_cresp *r, int err)
{
    r->err = err;
    goc__cresp_release_conn(r, false);
    return err;
}

/* The body's end: keep the connection if the response allows and
 * nothing follows it unasked. */
static ssize_t at_end(struct goc__http_cresp *r)
{
    r->eof = true;
    goc__pconn *pc = r->pc;
    goc__cresp_release_conn(r, pc && r->keep_alive && pc->rpos == pc->rlen);
    return 0;
}

/* Fill the connection's buffer for the body (nothing to read when
 * no_fill: the caller only drains what is buffered). */
static ssize_t body_fill(struct goc__http_cresp *r, size_t max)
{
    if (r->no_fill)
        return -EAGAIN;
    goc__pconn *pc = r->pc;
    goc_set_read_deadline(pc->fd, goc__cresp_read_deadline(r));
    if (__atomic_load_n(&r->cancelled, __ATOMIC_ACQUIRE))
        return -ETIMEDOUT; /* the wake-up may have been overwritten */
    return goc__pconn_fill(pc, max);
}

static ssize_t read_length(struct goc__http_cresp *r, void *buf, size_t n, bool to_eof)
{
    goc__pconn *pc = r->pc;
    if (!to_eof && (uint64_t)n > (uint64_t)r->left)
        n = (size_t)r->left;
    if (n == 0)
        return to_eof ? 0 : at_end(r);
    size_t avail = pc->rlen - pc->rpos;
    if (avail == 0 && n >= 4096 && !r->no_fill) { /* large reads skip the buffer */
        goc_set_read_deadline(pc->fd, goc__cresp_read_deadline(r));
        if (__atomic_load_n(&r->cancelled, __ATOMIC_ACQUIRE))
            return fail(r, read_err(r, -ETIMEDOUT));
        ssize_t got = goc__pconn_read(pc, buf, n);
        if (got > 0) {
            r->left -= got;
            return got;
        }
        if (got == 0 && to_eof)
            return at_end(r);
        return got == -EAGAIN ? got : fail(r, read_err(r, got));
    }
    if (avail == 0) {
        ssize_t got = body_fill(r, pc->rcap > 0 ? pc->rcap : 4096);
        if (got == 0 && to_eof)
            return at_end(r);
        if (got <= 0)
            return got == -EAGAIN ? got : fail(r, read_err(r, got));
        avail = pc->rlen - pc->rpos;
    }
    if (n > avail)
        n = avail;
    memcpy(buf, pc->rbuf + pc->rpos, n);
    pc->rpos += n;
    r->left -= (int64_t)n;
    return (ssize_t)n;
}

/* The trailer fields, copied out of the connection's buffer. */
static int keep_trailer(struct goc__http_cresp *r, const char *base)
{
    for (uint32_t i = 0; i < r->chunked.nfields; i++) {
        goc__hfield *f = &r->tfields[i];
        char *name = goc__arena_strndup(&r->arena, base + f->name.off, f->name.len);
        char *value = goc__arena_strndup(&r->arena, base + f->value.off, f->value.len);
        if (!name || !value ||
            goc__http_header_push(&r->trailer, name, f->name.len, value, f->value.len) < 0)
            return -ENOMEM;
    }
    return 0;
}

static ssize_t read_chunked(struct goc__http_cresp *r, void *buf, size_t n)
{
    goc__pconn *pc = r->pc;
    for (;;) {
        if (r->dlen > 0) {
            size_t k = n < r->dlen ? n : r->dlen;
            memcpy(buf, pc->rbuf + r->dpos, k);
            r->dpos += k;
            r->dlen -= k;
            return (ssize_t)k;
        }
        size_t used = 0;
        goc__hspan data;
        const char *base = pc->rbuf + pc->rpos;
        int rc = goc__http_chunked(&r->chunked, base, pc->rlen - pc->rpos, &used, &data, NULL);
        if (rc < 0)
            return fail(r, goc__errorf(GOC_EHTTP_MALFORMED, "http: malformed chunked body: %s",
                                       r->chunked.why ? r->chunked.why : "bad encoding"));
        if (rc == GOC__HCHUNK_DATA) {
            r->dpos = pc->rpos + data.off;
            r->dlen = data.len;
            pc->rpos += used;
            continue;
        }
        if (rc == GOC__HCHUNK_END) {
            int err = keep_trailer(r, base);
            pc->rpos += used;
            if (err < 0)
                return fail(r, err);
            return at_end(r);
        }
        pc->rpos += used;
        ssize_t got = body_fill(r, MAX_CHUNK_BUF);
        if (got <= 0)
            return got == -EAGAIN ? got : fail(r, read_err(r, got));
    }
}

ssize_t goc__cresp_read_raw(struct goc__http_cresp *r, void *buf, size_t n)
{
    if (r->err)
        return r->err;
    if (r->eof || n == 0)
        return 0;
    switch (r->body) {
    case GOC__HBODY_LENGTH:
        return read_length(r, buf, n, false);
    case GOC__HBODY_CHUNKED:
        return read_chunked(r, buf, n);
    case GOC__HBODY_CLOSE:
        return read_length(r, buf, n, true);
    default:
        return at_end(r);
    }
}

static ssize_t gz_source(void *arg, void *buf, size_t n)
{
    return goc__cresp_read_raw(arg, buf, n);
}

ssize_t goc_http_response_read(goc_http_response *resp, void *buf, size_t n)
{
    struct goc__http_cresp *r = resp->priv_;
    if (!r->gz)
        return goc__cresp_read_raw(r, buf, n);
    ssize_t got = goc__gunzip_read(r->gz, buf, n);
    if (got < 0 && !r->err)
        r->err = (int)got, goc__cresp_release_conn(r, false);
    return got;
}

int goc__cresp_finish_head(struct goc__http_cresp *r, bool gzip)
{
    if (r->tunnel)
        return 0; /* the connection is no longer HTTP: kept for take_conn */
    if (r->body == GOC__HBODY_NONE) {
        at_end(r);
        return 0;
    }
    const char *ce = goc_http_header_get(&r->header, "Content-Encoding");
    if (!gzip || !ce || strcasecmp(ce, "gzip") != 0)
        return 0;
    r->gz = goc__gunzip_new(gz_source, r);
    if (!r->gz)
        return -ENOMEM;
    goc_http_header_del(&r->header, "Content-Encoding");
    goc_http_header_del(&r->header, "Content-Length");
    r->pub.content_length = -1;
    r->pub.uncompressed = true;
    return 0;
}

static ssize_t resp_read_fn(void *resp, void *buf, size_t n)
{
    return goc_http_response_read(resp, buf, n);
}

int goc_http_response_read_all(goc_http_response *resp, char **data, size_t *len, size_t max)
{
    int rc = goc__http_read_all(resp_read_fn, resp, resp->content_length, max, data, len);
    if (rc == GOC_EHTTP_BODY_TOO_LARGE)
        return goc__errorf(rc, "http: response body larger than %zu bytes", max);
    return rc;
}

void goc__cresp_release_conn(struct goc__http_cresp *r, bool reusable)
{
    goc__pconn *pc = r->pc;
    if (!pc)
        return;
    r->pc = NULL;
    if (r->wake) {
        /* false: the ctx was cancelled and the fd's deadline moved: the
         * connection cannot be trusted with another request. */
        if (!goc_ctx_after_func_stop(r->wake))
            reusable = false;
        r->wake = NULL;
    }
    if (reusable) {
        goc_set_deadline(pc->fd, 0);
        goc__transport_put(r->client, pc);
    } else {
        goc__transport_drop(r->client, pc);
    }
}

int goc__http_response_take_conn(goc_http_response *resp, int *fd, char **buf, size_t *n)
{
    struct goc__http_cresp *r = resp->priv_;
    goc__pconn *pc = r->pc;
    *buf = NULL;
    *n = 0;
    if (!r->tunnel || !pc)
        return -EINVAL;
    if (pc->ops)
        return -ENOTSUP;
    size_t left = pc->rlen - pc->rpos;
    if (left && !(*buf = malloc(left)))
        return -ENOMEM;
    if (left)
        memcpy(*buf, pc->rbuf + pc->rpos, left);
    *n = left;
    /* Detach: the fd leaves the client (its slot is freed), the rest of
     * the connection's state goes. */
    r->pc = NULL;
    if (r->wake) {
        goc_ctx_after_func_stop(r->wake);
        r->wake = NULL;
    }
    goc_set_deadline(pc->fd, 0);
    *fd = pc->fd;
    pc->fd = -1;
    goc__transport_drop(r->client, pc);
    return 0;
}

void goc_http_response_free(goc_http_response *resp)
{
    if (!resp)
        return;
    struct goc__http_cresp *r = resp->priv_;
    if (r->pc && !r->eof && !r->err) {
        /* What is left of the body may already be here: take it, without
         * waiting for more, to keep the connection. */
        char sink[4096];
        r->no_fill = true;
        size_t total = 0;
        ssize_t got;
        while ((got = goc__cresp_read_raw(r, sink, sizeof sink)) > 0 && total < (256u << 10))
            total += (size_t)got;
        if (r->pc)
            goc__cresp_release_conn(r, false);
    }
    goc__cresp_release_conn(r, false);
    if (r->gz)
        goc__gunzip_free(r->gz);
    goc_ctx_release(r->ctx);
    goc__arena_reset(&r->arena);
    goc__http_cresp_free(r);
}
