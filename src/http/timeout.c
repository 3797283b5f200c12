/*
 * timeout.c — goc_http_timeout_handler, Go's TimeoutHandler.
 *
 * The life of a request through it:
 *   1. The wrapper derives ctx = with_timeout(request ctx, dt) and builds,
 *      on its own stack, a buffering writer (tbuf) and a shallow copy of
 *      the request whose private part is a copy of the original's with
 *      ctx and arena replaced.
 *   2. The inner handler runs on a goroutine of its own and writes into
 *      the tbuf: status and body are kept (header and trailer are the
 *      tbuf's own maps), nothing reaches the connection.
 *   3. The wrapper selects on the inner's done channel and ctx's done:
 *      - done first, and no write of the inner refused: under the
 *        tbuf's lock, the header, trailer, status (200 if none) and body
 *        are copied to the real writer;
 *      - ctx first (dt passed, or the client went away): under the lock,
 *        the tbuf is marked failed, so every later write of the inner
 *        fails with GOC_EHTTP_HANDLER_TIMEOUT (-ECANCELED when the client
 *        went away), and a 503 goes out with msg as body (none when the
 *        client went away, as Go). Then ctx is cancelled.
 *      Each write of the inner also looks at ctx itself, so a write after
 *      the deadline fails even before the wrapper has woken up (Go lets
 *      such a write succeed into a buffer it then drops); if one was
 *      refused, the answer is the 503 even when done won the select.
 *   4. Unlike Go, which returns at once and leaves the inner goroutine
 *      running, the wrapper then waits for the inner handler to return:
 *      the layer's rule is that no goroutine outlives its request, and
 *      the inner one still holds the request, its arena and this stack.
 *      A handler that ignores its ctx thus holds the connection until it
 *      returns, though its client already has the 503.
 *   The inner's body reads run under tbuf.mu too (priv.bodymu): they touch
 *   the connection as the wrapper's answer does, so a 503 waits for a body
 *   read in progress to return (its read timeout bounds that).
 *
 * Locking: tbuf.mu orders the inner's writes against the wrapper's
 * copy or 503 (fields marked "mu"). The inner's header map is touched
 * without the lock, by the inner alone until done is closed, and by the
 * wrapper alone after it. Memory the inner allocates from "the request"
 * comes from the tbuf's own arena (the request's arena is not locked and
 * the wrapper's 503 allocates from it), freed when the inner has returned.
 * Flush and hijack are not supported (-ENOTSUP), as Go's timeoutWriter
 * offers neither; sendfile goes through write.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "http/http.h"

static const char default_msg[] =
    "<html><head><title>Timeout</title></head><body><h1>Timeout</h1></body></html>";

typedef struct timeout_arg {
    goc_http_handler next;
    goc_duration dt;
    char *msg;
} timeout_arg;

typedef struct tbuf {
    goc_http_response_writer w; /* first: the ops get a tbuf through it;
                                   w.status and w.written under mu */
    goc_mutex mu;
    int err;         /* mu: nonzero once timed out: what writes return */
    bool aborted;    /* mu: the inner called goc_http_abort */
    char *body;      /* mu: malloc'ed */
    size_t len, cap; /* mu */
    goc_http_handler next;
    goc_http_request req;      /* the inner's copy of the request */
    struct goc__http_req priv; /* its private part, with ctx and arena */
    goc__arena arena;
    goc_chan *done; /* closed by the inner when its handler returned */
    _Alignas(16) char first[512];
} tbuf;

/* What the inner's writes return once ctx ended with err. */
static int write_error(int err)
{
    return err == -ETIMEDOUT ? GOC_EHTTP_HANDLER_TIMEOUT : err ? err : -ECANCELED;
}

/* Whether the inner's time is up: b->err, set on the first look after ctx
 * ended. Checked at every write (not only once the wrapper saw ctx end),
 * so that no write after the deadline succeeds, however the wakeups of
 * the two goroutines fall. Caller holds b->mu. */
static int tbuf_expired(tbuf *b)
{
    if (!b->err && goc_ctx_err(b->priv.ctx))
        b->err = write_error(goc_ctx_err(b->priv.ctx));
    return b->err;
}

static int tbuf_write_header(goc_http_response_writer *w, int code)
{
    tbuf *b = (tbuf *)w;
    goc_mutex_lock(&b->mu);
    int err = tbuf_expired(b);
    /* Informational codes cannot be buffered: they would follow the final
     * response; the first final code wins, as on a real writer. */
    if (!err && w->status == 0 && code >= 200)
        w->status = code;
    goc_mutex_unlock(&b->mu);
    return err;
}

static int body_grow(tbuf *b, size_t n)
{
    if (b->cap - b->len >= n)
        return 0;
    size_t cap = b->cap ? b->cap : 1024;
    while (cap - b->len < n) {
        if (cap > SIZE_MAX / 2)
            return -ENOMEM;
        cap *= 2;
    }
    char *p = realloc(b->body, cap);
    if (!p)
        return -ENOMEM;
    b->body = p;
    b->cap = cap;
    return 0;
}

static ssize_t tbuf_write(goc_http_response_writer *w, const void *p, size_t n)
{
    tbuf *b = (tbuf *)w;
    goc_mutex_lock(&b->mu);
    ssize_t rc = tbuf_expired(b);
    if (!rc) {
        if (w->status == 0)
            w->status = 200;
        rc = body_grow(b, n);
    }
    if (!rc) {
        memcpy(b->body + b->len, p, n);
        b->len += n;
        w->written += (int64_t)n;
        rc = (ssize_t)n;
    }
    goc_mutex_unlock(&b->mu);
    return rc;
}

static int tbuf_flush(goc_http_response_writer *w)
{
    (void)w;
    return -ENOTSUP;
}

static void tbuf_abort(goc_http_response_writer *w)
{
    tbuf *b = (tbuf *)w;
    goc_mutex_lock(&b->mu);
    b->aborted = true; /* passed on instead of the buffered answer */
    goc_mutex_unlock(&b->mu);
}

static const goc__http_rw_ops tbuf_ops = {
    .write_header = tbuf_write_header,
    .write = tbuf_write,
    .flush = tbuf_flush,
    .abort = tbuf_abort,
};

static void inner_main(void *arg)
{
    tbuf *b = arg;
    goc_chan *done = goc_chan_retain(b->done);
    goc_http_serve_http(b->next, &b->w, &b->req);
    /* After the close the wrapper may return and b (on its stack) be gone:
     * only our own reference to done is used from here. */
    goc_chan_close(done);
    goc_chan_release(done);
}

/* Copy every field of src into dst, replacing the values dst had for
 * each name (Go copies the map key by key). */
static void copy_header(goc_http_header *dst, const goc_http_header *src)
{
    size_t n = goc_http_header_len(src);
    for (size_t i = 0; i < n; i++) {
        const char *name, *value;
        goc_http_header_at(src, i, &name, &value);
        if (goc__http_header_find(src, name, strlen(name)) == (int)i)
            goc_http_header_del(dst, name);
        goc_http_header_add(dst, name, value);
    }
}

/* The inner handler returned in time: its answer goes out. Caller holds
 * b->mu. */
static void pass_through(goc_http_response_writer *w, tbuf *b)
{
    copy_header(goc_http_response_header(w), &b->w.header);
    copy_header(goc_http_response_trailer(w), &b->w.trailer);
    goc_http_write_header(w, b->w.status ? b->w.status : 200);
    if (b->len)
        goc_http_write(w, b->body, b->len);
}

/* ctx ended first: from now on the inner writes into nothing. Caller
 * holds b->mu. */
static void time_out(goc_http_response_writer *w, tbuf *b, goc_ctx *ctx, const char *msg)
{
    int err = goc_ctx_err(ctx);
    b->err = write_error(err);
    goc_http_write_header(w, 503);
    if (err == -ETIMEDOUT)
        goc_http_write(w, msg, strlen(msg));
}

/* Set up b for the inner handler of request r with context ctx. */
static void tbuf_init(tbuf *b, goc_http_request *r, goc_ctx *ctx, goc_http_handler next)
{
    memset(b, 0, offsetof(tbuf, first));
    b->next = next;
    goc__arena_init(&b->arena, b->first, sizeof b->first);
    b->priv = *r->priv_;
    b->priv.ctx = ctx;
    b->priv.ctx_override = NULL;
    b->priv.arena = &b->arena;
    /* The inner's body reads touch the connection (a 100-continue, queued
     * answers, the trailers' memory) as the 503 below does: both under mu. */
    b->priv.bodymu = &b->mu;
    b->priv.pub = &b->req;
    b->req = *r;
    b->req.priv_ = &b->priv;
    goc__http_rw_init(&b->w, &b->req, &tbuf_ops);
}

static void timeout_serve(goc_http_response_writer *w, goc_http_request *r, void *arg)
{
    const timeout_arg *a = arg;
    goc_ctx *ctx = goc_ctx_with_timeout(goc_http_request_ctx(r), a->dt);
    goc_chan *done = goc_chan_make(0, 0);
    tbuf b;
    if (!ctx || !done)
        goto out_unavailable;
    tbuf_init(&b, r, ctx, a->next);
    b.done = done;
    if (goc_go(inner_main, &b) < 0) {
        goc__arena_reset(&b.arena);
        goto out_unavailable;
    }

    goc_case cases[2] = {GOC_RECV(done, NULL), GOC_RECV(goc_ctx_done(ctx), NULL)};
    int first = goc_select(cases, 2, GOC_FOREVER);
    goc_mutex_lock(&b.mu);
    /* b.err set: the inner saw its deadline (a write refused) before it
     * returned, so its answer is incomplete and the 503 goes out. */
    if (first == 0 && !b.err && b.aborted)
        goc_http_abort(w); /* the inner gave up: no answer that looks whole */
    else if (first == 0 && !b.err)
        pass_through(w, &b);
    else
        time_out(w, &b, ctx, a->msg ? a->msg : default_msg);
    goc_mutex_unlock(&b.mu);
    goc_ctx_cancel(ctx);
    goc_chan_recv(done, NULL); /* the inner has returned: b is ours again */

    free(b.body);
    goc__arena_reset(&b.arena);
    goc_chan_release(done);
    goc_ctx_release(ctx);
    return;

out_unavailable:
    /* No goroutine (or context) for the handler: shed the request rather
     * than run it without its deadline. */
    goc_chan_release(done);
    goc_ctx_release(ctx);
    goc_http_error(w, "http: no memory for the handler", 503);
}

goc_http_handler goc_http_timeout_handler(goc_http_handler h, goc_duration dt, const char *msg)
{
    timeout_arg *a = malloc(sizeof *a);
    char *m = msg ? strdup(msg) : NULL;
    if (!a || (msg && !m)) {
        free(a);
        free(m);
        return (goc_http_handler){NULL, NULL};
    }
    *a = (timeout_arg){h, dt, m};
    return (goc_http_handler){timeout_serve, a};
}
