/*
 * conn.c — the life of a connection, on its own goroutine.
 *
 *   accept (server.c) → NEW
 *   loop:
 *     wait for a request's first byte: under the read-header timeout for
 *       the first request, under the idle timeout between requests
 *       (IDLE: shutdown may close the connection now, and nothing is lost)
 *     first byte → ACTIVE; read until the head parses, under the
 *       read-header timeout counted from that byte; a refused head gets
 *       its status (400, 408, 417, 431, 501, 505) and the connection
 *       closes — but only after the responses before it are out, so a
 *       bad request behind good pipelined ones costs them nothing
 *     build the request over the head in place (names and values are
 *       NUL-terminated inside rbuf), run the handler
 *     finish the response (writer.c), read what the handler left of the
 *       body (up to 256 KiB, else close), end the request's context
 *     write the responses out, unless another pipelined request is
 *       already in rbuf (its answer then joins this one in one write;
 *       if that request's head is not all there, they go out before
 *       the read that waits for the rest)
 *     close if the request or response said so, or the server is
 *       shutting down
 *   close: lingering (shut the write side, read what the peer still
 *   sends for up to a second) after a refused request or an unread body,
 *   so the kernel does not answer the peer's bytes with a reset that
 *   destroys the response in flight; then the fd, the buffers, the conn.
 *
 * Ownership: the conn, its fd, buffers and any goroutine it starts (the
 * client-gone watcher) end here, before the goroutine returns; a hijacked
 * fd is the handler's.
 */
#include "http/conn.h"
#include "http/chars.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define RBUF_INIT                                                                                  \
    1024 /* most request heads fit; a bigger one grows it, and idle shrinks it back                \
          */
#define PIPELINE_WBUF_MAX (32 * 1024)

/* ---- request state, pooled ---------------------------------------------------- */

static goc_pool *rstate_pool;
static goc_once rstate_once;

static void *rstate_new(void *arg)
{
    (void)arg;
    return malloc(sizeof(goc__http_rstate));
}

static void rstate_free(void *obj, void *arg)
{
    (void)arg;
    free(obj);
}

static void rstate_init(void *arg)
{
    (void)arg;
    rstate_pool = goc_pool_new(rstate_new, rstate_free, NULL);
}

/* Take a request state for the request about to be read. false: ENOMEM. */
static bool rstate_get(goc__http_conn *c)
{
    if (c->rs)
        return true;
    goc_once_do(&rstate_once, rstate_init, NULL);
    c->rs = rstate_pool ? goc_pool_get(rstate_pool) : malloc(sizeof *c->rs);
    if (!c->rs)
        return false;
    c->bbuf = c->rs->bbuf;
    c->wbuf = c->rs->wbuf0;
    c->wcap = sizeof c->rs->wbuf0;
    goc__arena_init(&c->arena, c->rs->arena0, sizeof c->rs->arena0);
    return true;
}

/* Give it back while the connection waits (nothing is buffered to send). */
static void rstate_put(goc__http_conn *c)
{
    if (!c->rs) {
        free(c->wbuf); /* a rejection's answer, written without one */
        c->wbuf = NULL;
        c->wcap = 0;
        return;
    }
    GOC_ASSERT(c->wlen == 0 && c->blen == 0);
    if (c->wbuf != c->rs->wbuf0)
        free(c->wbuf);
    if (rstate_pool)
        goc_pool_put(rstate_pool, c->rs);
    else
        free(c->rs);
    c->rs = NULL;
    c->wbuf = c->bbuf = NULL;
    c->wcap = 0;
}

static void notify_state(goc__http_conn *c, goc_http_conn_state st)
{
    goc_http_server *s = c->srv;
    if (s->opts.conn_state)
        s->opts.conn_state(c->fd, st, s->opts.conn_state_arg);
}

void goc__http_set_state(goc__http_conn *c, goc_http_conn_state st)
{
    goc_mutex_lock(&c->srv->mu);
    c->state = st;
    goc_mutex_unlock(&c->srv->mu);
    notify_state(c, st);
}

/* Between requests: IDLE, unless the server is shutting down (false). */
static bool enter_idle(goc__http_conn *c)
{
    goc_mutex_lock(&c->srv->mu);
    bool ok = !c->srv->shutting;
    if (ok)
        c->state = GOC_HTTP_STATE_IDLE;
    goc_mutex_unlock(&c->srv->mu);
    if (ok) {
        goc__hstat_idle(+1);
        notify_state(c, GOC_HTTP_STATE_IDLE);
    }
    return ok;
}

/* Set the read deadline to t (0: none), lazily: a deadline at most a
 * second earlier than asked is kept, so a busy keep-alive connection
 * moves its idle deadline about once a second, not once a request. */
static void set_rdeadline(goc__http_conn *c, int64_t t)
{
    int64_t cur = c->rdeadline;
    if (t == 0 ? cur == 0 : (cur != 0 && cur <= t && cur > t - GOC_SECOND))
        return;
    goc_set_read_deadline(c->fd, t);
    c->rdeadline = t;
}

static int64_t after(goc_duration d)
{
    return d > 0 ? goc_now() + d : 0;
}

/* Make room in rbuf for more of a head (nothing points into it yet). */
static int make_room(goc__http_conn *c)
{
    if (c->rlen < c->rcap)
        return 0;
    if (c->rpos > 0) {
        memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
        c->rlen -= c->rpos;
        c->rpos = 0;
        return 0;
    }
    size_t cap = c->rcap * 2, max = c->srv->max_header_bytes + 4096;
    if (cap > max)
        cap = max;
    if (cap <= c->rcap)
        return -EMSGSIZE; /* the parser has said 431 before this */
    char *b = realloc(c->rbuf, cap);
    if (!b)
        return -ENOMEM;
    c->rbuf = b;
    c->rcap = cap;
    return 0;
}

/* An incomplete head whose first bytes cannot begin a request line (a
 * TLS ClientHello, binary junk): refused now, not at the header timeout
 * (the parser judges a head only once it is complete). Empty lines before
 * it are allowed, as the parser skips them; then a method is a token
 * followed by a space. */
static bool bad_start(const char *p, size_t n)
{
    size_t i = 0;
    while (i < n && (p[i] == '\r' || p[i] == '\n'))
        i++;
    size_t t = goc__http_run(p + i, n - i, GOC__HC_TCHAR);
    return i + t < n && (t == 0 || p[i + t] != ' ');
}

/* Read and parse the next request's head: its length, 0 if the
 * connection ends quietly (EOF, idle timeout, shutdown), -1 if refused
 * (already answered). */
static int read_head(goc__http_conn *c, goc__hreq *hr, bool first)
{
    goc__hlimits lim = {.max_head = (uint32_t)c->srv->max_header_bytes};
    size_t scanned = 0;
    bool started = false;
    for (;;) {
        if (c->rpos < c->rlen) {
            if (!started) {
                started = true;
                c->t0 = goc_now();
                goc__http_set_state(c, GOC_HTTP_STATE_ACTIVE);
                if (!rstate_get(c)) {
                    goc__http_reject(c, 503, "out of memory");
                    return -1;
                }
                hr->fields = c->rs->fields;
            }
            int rc =
                goc__http_parse_request(c->rbuf + c->rpos, c->rlen - c->rpos, &scanned, hr, &lim);
            if (rc > 0)
                return rc;
            if (rc < 0) {
                goc__hstat_rejected(hr->status);
                goc__http_reject(c, hr->status, hr->why);
                return -1;
            }
            if (bad_start(c->rbuf + c->rpos, c->rlen - c->rpos)) {
                goc__hstat_rejected(400);
                goc__http_reject(c, 400, "malformed request line");
                return -1;
            }
        }
        int room = make_room(c);
        if (room < 0) {
            int st = room == -ENOMEM ? 503 : 431;
            goc__hstat_rejected(st);
            goc__http_reject(c, st, st == 503 ? "out of memory" : "request head too large");
            return -1;
        }
        if (!started) {
            rstate_put(c); /* waiting, maybe long: hold only rbuf */
            if (c->rcap > RBUF_INIT && c->rlen == 0) {
                char *b = realloc(c->rbuf, RBUF_INIT); /* a big head or body grew it */
                if (b) {
                    c->rbuf = b;
                    c->rcap = RBUF_INIT;
                }
            }
            if (!first && !enter_idle(c))
                return 0;
            set_rdeadline(c, after(first ? c->srv->read_header_timeout : c->srv->idle_timeout));
        } else if (c->srv->read_header_timeout > 0) {
            set_rdeadline(c, c->t0 + c->srv->read_header_timeout);
        }
        /* Answers held back for a pipelined request go out before waiting
         * for the rest of it: they must not wait on a slow client. */
        if (c->wlen > 0 && goc__http_flush_wbuf(c) < 0)
            return 0;
        ssize_t n = goc__http_conn_read(c, c->rbuf + c->rlen, c->rcap - c->rlen);
        if (!started && !first)
            goc__hstat_idle(-1);
        if (n > 0) {
            c->rlen += (size_t)n;
            c->bytes_in += (uint64_t)n;
            continue;
        }
        if (n == -ETIMEDOUT && started) {
            goc__http_reject(c, 408, "timeout reading the request head");
            return -1;
        }
        return 0;
    }
}

/* The percent-decoded path, in the arena (raw itself if it has no
 * escape); NULL for a malformed escape or an escaped NUL. */
static const char *decode_path(goc__http_conn *c, const char *raw)
{
    if (!strchr(raw, '%'))
        return raw;
    size_t n = strlen(raw);
    char *out = goc__arena_alloc(&c->arena, n + 1);
    if (!out)
        return NULL;
    ssize_t k = goc__http_unescape(raw, n, out, false);
    if (k < 0 || memchr(out, 0, (size_t)k))
        return NULL;
    out[k] = 0;
    return out;
}

/* r->raw_path, r->raw_query, r->path (and r->host for absolute-form)
 * from the target. false: a malformed target (400). */
static bool split_target(goc__http_conn *c, const goc__hreq *hr)
{
    goc_http_request *r = &c->rs->req;
    const char *t = r->target;
    r->raw_query = "";
    if (hr->form == GOC__HFORM_ASTERISK || hr->form == GOC__HFORM_AUTHORITY) {
        r->raw_path = r->path = hr->form == GOC__HFORM_ASTERISK ? "*" : "";
        if (hr->form == GOC__HFORM_AUTHORITY)
            r->host = t;
        return true;
    }
    if (hr->form == GOC__HFORM_ABSOLUTE) {
        const char *auth = strstr(t, "://") + 3;
        size_t alen = strcspn(auth, "/?");
        char *host = goc__arena_strndup(&c->arena, auth, alen);
        if (!host)
            return false;
        r->host = host;
        t = auth + alen;
    }
    const char *q = strchr(t, '?');
    size_t plen = q ? (size_t)(q - t) : strlen(t);
    if (q)
        r->raw_query = q + 1;
    if (plen == 0) {
        r->raw_path = "/";
    } else if (q || t != r->target) {
        char *p = goc__arena_strndup(&c->arena, t, plen);
        if (!p)
            return false;
        r->raw_path = p;
    } else {
        r->raw_path = t;
    }
    r->path = decode_path(c, r->raw_path);
    return r->path != NULL;
}

/* Make room after the head for the body before any string points in. */
static int room_for_body(goc__http_conn *c, size_t hl)
{
    if (c->rcap - (c->rpos + hl) >= 4096)
        return 0;
    if (c->rpos > 0) {
        memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
        c->rlen -= c->rpos;
        c->rpos = 0;
    }
    if (c->rcap - hl >= 4096)
        return 0;
    char *b = realloc(c->rbuf, hl + 16384);
    if (!b)
        return -ENOMEM;
    c->rbuf = b;
    c->rcap = hl + 16384;
    return 0;
}

/* NUL-terminate the head's pieces in place and fill c->rs->req. false: the
 * target is malformed or memory ran out (answered 400 / 503). */
static bool build_request(goc__http_conn *c, const goc__hreq *hr, size_t hl)
{
    if (hr->body != GOC__HBODY_NONE && room_for_body(c, hl) < 0) {
        goc__http_reject(c, 503, "out of memory");
        return false;
    }
    char *base = c->rbuf + c->rpos;
    goc_http_request *r = &c->rs->req;
    memset(r, 0, sizeof *r);
    memset(&c->rs->priv, 0, sizeof c->rs->priv);
    c->rs->priv.conn = c;
    c->rs->priv.arena = &c->arena;
    c->rs->priv.pub = r;
    r->priv_ = &c->rs->priv;
    base[hr->method.off + hr->method.len] = 0;
    base[hr->target.off + hr->target.len] = 0;
    r->method = base + hr->method.off;
    r->target = base + hr->target.off;
    r->proto = hr->minor ? "HTTP/1.1" : "HTTP/1.0";
    r->proto_major = 1;
    r->proto_minor = hr->minor;
    r->remote_addr = c->remote;
    r->content_length = hr->body == GOC__HBODY_CHUNKED  ? -1
                        : hr->body == GOC__HBODY_LENGTH ? hr->content_length
                                                        : 0;
    r->pattern = "";
    goc_http_header *h = goc__arena_alloc(&c->arena, 2 * sizeof *h);
    if (!h) {
        goc__http_reject(c, 503, "out of memory");
        return false;
    }
    goc__http_header_init(&h[0], &c->arena);
    goc__http_header_init(&h[1], &c->arena);
    r->header = &h[0];
    r->trailer = &h[1];
    if (hr->nfields) {
        h->v = goc__arena_alloc(&c->arena, hr->nfields * sizeof *h->v);
        h->cap = h->v ? hr->nfields : 0;
    }
    for (uint32_t i = 0; i < hr->nfields; i++) {
        const goc__hfield *f = &hr->fields[i];
        base[f->name.off + f->name.len] = 0;
        base[f->value.off + f->value.len] = 0;
        if (goc__http_header_push(h, base + f->name.off, f->name.len, base + f->value.off,
                                  f->value.len) < 0) {
            goc__http_reject(c, 503, "out of memory");
            return false;
        }
    }
    r->host = hr->has_host ? base + hr->host.off : "";
    c->rpos += hl;
    c->body_base = c->rpos;
    if (!split_target(c, hr)) {
        goc__http_reject(c, 400, "malformed request target");
        return false;
    }
    c->head_req = hr->method.len == 4 && memcmp(r->method, "HEAD", 4) == 0;
    c->close_after = !hr->keep_alive;
    c->linger = false;
    goc__http_writer_reset(c);
    goc__http_body_start(c, hr);
    return true;
}

/* After the handler: the response completed, the body consumed, the
 * request's memory and context gone. false: close the connection. */
static bool end_request(goc__http_conn *c)
{
    int rc = goc__http_finish_response(c);
    if (rc == 0 && !goc__http_body_drain(c))
        c->close_after = true;
    goc__http_request_end_ctx(c);
    int64_t now = goc_now();
    goc__hstat_request(c->rs->w.status, now - c->t0, c->bytes_in - c->in0,
                       c->bytes_out + c->wlen - c->out0);
    goc__arena_reset(&c->arena);
    free(c->rbuf_old);
    c->rbuf_old = NULL;
    c->body_base = 0;
    if (rc < 0 || c->close_after)
        return false;
    if (c->rpos == c->rlen)
        c->rpos = c->rlen = 0;
    if (c->rpos == c->rlen || c->wlen >= PIPELINE_WBUF_MAX)
        return goc__http_flush_wbuf(c) == 0;
    return true; /* a pipelined request waits: its answer joins this one */
}

static bool serve_one(goc__http_conn *c, bool first)
{
    goc__hreq hr = {.fields_cap = GOC__HTTP_MAX_FIELDS}; /* fields: set by read_head */
    c->in0 = c->bytes_in;
    c->out0 = c->bytes_out + c->wlen; /* sent, or queued behind a pipelined answer */
    int hl = read_head(c, &hr, first);
    if (hl <= 0)
        return false;
    if (!build_request(c, &hr, (size_t)hl))
        return false;
    goc_http_server *s = c->srv;
    if (hr.body != GOC__HBODY_NONE)
        set_rdeadline(c, s->read_timeout > 0 ? c->t0 + s->read_timeout : 0);
    if (s->write_timeout > 0)
        goc_set_write_deadline(c->fd, goc_now() + s->write_timeout);
    goc__hstat_active(+1);
    s->h.fn(&c->rs->w, &c->rs->req, s->h.arg);
    goc__hstat_active(-1);
    if (c->hijacked) {
        goc_set_deadline(c->fd, 0);
        goc__hstat_request(101, goc_now() - c->t0, c->bytes_in - c->in0, 0);
        goc__arena_reset(&c->arena);
        return false;
    }
    return end_request(c);
}

/* HTTPS: the handshake, on this goroutine while the connection is NEW,
 * under the read-header timeout. false: close (plain HTTP got Go's 400 in
 * plain text; another failure is logged, unless the server is closing). */
static bool tls_start(goc__http_conn *c)
{
    static const char not_tls[] = "HTTP/1.0 400 Bad Request\r\n\r\n"
                                  "Client sent an HTTP request to an HTTPS server.\n";
    goc_http_server *s = c->srv;
    c->tls = goc_tls_server(c->fd, s->tls);
    if (!c->tls)
        return false;
    int64_t dl = after(s->read_header_timeout);
    goc_set_deadline(c->fd, dl);
    c->rdeadline = dl;
    int rc = goc_tls_handshake(c->tls);
    if (rc == 0) {
        goc_set_write_deadline(c->fd, 0);
        return true;
    }
    if (rc == GOC_ETLS_NOT_TLS) {
        goc_tls_free(c->tls);
        c->tls = NULL;
        goc_write(c->fd, not_tls, sizeof not_tls - 1);
        c->linger = true; /* the request is unread: no reset over the answer */
    } else if (!__atomic_load_n(&s->shutting, __ATOMIC_RELAXED)) {
        goc__http_logf(s, "http: TLS handshake error from %s: %s", c->remote, goc_errmsg());
    }
    return false;
}

/* Close softly: see the top of the file. */
static void linger_close(goc__http_conn *c)
{
    shutdown(c->fd, SHUT_WR);
    goc_set_read_deadline(c->fd, goc_now() + GOC_SECOND);
    char buf[4096];
    size_t total = 0;
    while (total < 256 * 1024) {
        ssize_t n = goc_read(c->fd, buf, sizeof buf);
        if (n <= 0)
            break;
        total += (size_t)n;
    }
}

static void conn_end(goc__http_conn *c)
{
    goc_http_server *s = c->srv;
    if (!c->hijacked)
        goc__http_flush_wbuf(c);
    goc_mutex_lock(&s->mu);
    /* Out of the list first: close and shutdown touch only listed fds,
     * so none of them can reach this fd number once it is reused. */
    goc__http_conn_unlink(s, c);
    c->state = c->hijacked ? GOC_HTTP_STATE_HIJACKED : GOC_HTTP_STATE_CLOSED;
    goc_mutex_unlock(&s->mu);
    if (!c->hijacked) {
        if (c->tls && !c->werr) { /* close_notify, without waiting long */
            goc_set_write_deadline(c->fd, goc_now() + GOC_SECOND);
            goc_tls_close_notify(c->tls);
        }
        if (c->linger)
            linger_close(c);
        notify_state(c, GOC_HTTP_STATE_CLOSED);
        goc_close(c->fd);
    }
    goc_tls_free(c->tls);
    c->wlen = c->blen = 0;
    rstate_put(c);
    free(c->rbuf);
    free(c->rbuf_old);
    free(c);
    goc__hstat_conn_close();
    goc__http_conn_done(s);
}

void goc__http_conn_serve(void *arg)
{
    goc__http_conn *c = arg;
    c->rbuf = malloc(RBUF_INIT);
    if (c->rbuf) {
        c->rcap = RBUF_INIT;
        notify_state(c, GOC_HTTP_STATE_NEW);
        bool ok = !c->srv->tls || tls_start(c);
        for (bool first = true; ok && serve_one(c, first); first = false) {
        }
    }
    conn_end(c);
}
