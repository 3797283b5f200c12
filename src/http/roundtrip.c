/*
 * roundtrip.c — one request and its response head (Go's
 * Transport.RoundTrip): the target and proxy for the URL, a connection
 * from the pool, the request written (head, then the body from memory, a
 * reader or a file, chunked when its length is unknown, after "100
 * Continue" when asked), the response head read and parsed strictly, and
 * the body's framing handed to cbody.c.
 *
 * Retries as Go's: only when a reused connection fails before any byte
 * of the response arrived (the server closed it while it idled), and
 * only for a request that is idempotent and whose body can be sent again.
 */
#include "http/client.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define HEAD_FIELDS                                                                                \
    128 /* on the stack; more grow on the heap (Go has no                                          \
           limit on a response's fields but its bytes) */
#define BODY_BUF (32u << 10)

/* ---- the request head --------------------------------------------------- */

typedef struct hbuf {
    char *p;
    size_t n, cap;
    bool heap;
    int err;
} hbuf;

static void put(hbuf *b, const char *s, size_t n)
{
    if (b->err)
        return;
    if (b->n + n > b->cap) {
        size_t cap = b->cap * 2;
        while (cap < b->n + n)
            cap *= 2;
        char *np = b->heap ? realloc(b->p, cap) : malloc(cap);
        if (!np) {
            b->err = -ENOMEM;
            return;
        }
        if (!b->heap)
            memcpy(np, b->p, b->n);
        b->p = np;
        b->cap = cap;
        b->heap = true;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
}

static void puts_(hbuf *b, const char *s)
{
    put(b, s, strlen(s));
}

static void field(hbuf *b, const char *name, const char *value)
{
    puts_(b, name);
    put(b, ": ", 2);
    puts_(b, value);
    put(b, "\r\n", 2);
}

int goc__http_basic_auth(const char *user, const char *pass, char *out, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t ul = strlen(user), pl = pass ? strlen(pass) : 0, len = ul + 1 + pl;
    if ((len + 2) / 3 * 4 + 7 > n)
        return -ENOSPC;
    char *o = out + sprintf(out, "Basic ");
    for (size_t i = 0; i < len; i += 3) {
        unsigned char in[3] = {0};
        size_t k = 0;
        for (; k < 3 && i + k < len; k++) {
            size_t j = i + k;
            in[k] = (unsigned char)(j < ul ? user[j] : j == ul ? ':' : pass[j - ul - 1]);
        }
        uint32_t v = (uint32_t)in[0] << 16 | (uint32_t)in[1] << 8 | in[2];
        *o++ = tab[v >> 18 & 63];
        *o++ = tab[v >> 12 & 63];
        *o++ = k > 1 ? tab[v >> 6 & 63] : '=';
        *o++ = k > 2 ? tab[v & 63] : '=';
    }
    *o = 0;
    return 0;
}

static bool has(const goc_http_header *h, const char *name)
{
    return goc__http_header_find(h, name, strlen(name)) >= 0;
}

/* Fields the transport writes itself from the request's state. */
static bool own_field(const char *name, uint32_t len)
{
    static const char *const own[] = {"Host", "Content-Length", "Transfer-Encoding", "Connection",
                                      "Trailer"};
    for (size_t i = 0; i < sizeof own / sizeof *own; i++)
        if (strlen(own[i]) == len && goc__http_token_eq(name, own[i], len))
            return true;
    return false;
}

static bool method_is(const char *m, const char *want)
{
    return strcmp(m, want) == 0;
}

/* The head of hop as it goes to t (absolute-form through a plain proxy). */
static void build_head(goc_http_client *c, const goc__hop *hop, const goc__htarget *t,
                       bool via_proxy, bool gzip, hbuf *b)
{
    const goc_url *u = hop->url;
    puts_(b, hop->method);
    put(b, " ", 1);
    char *uri = goc_url_request_uri(u);
    if (!uri) {
        b->err = -ENOMEM;
        return;
    }
    if (via_proxy) {
        puts_(b, u->scheme);
        put(b, "://", 3);
        puts_(b, u->host);
    }
    puts_(b, uri);
    free(uri);
    put(b, " HTTP/1.1\r\n", 11);
    const char *host = goc_http_header_get(hop->header, "Host");
    field(b, "Host", host ? host : u->host);
    const char *ua = goc_http_header_get(hop->header, "User-Agent");
    if (!ua)
        field(b, "User-Agent", c->user_agent);
    if (u->user && !has(hop->header, "Authorization")) {
        char auth[768];
        if (goc__http_basic_auth(u->user, u->password, auth, sizeof auth) == 0)
            field(b, "Authorization", auth);
    }
    if (via_proxy && t->proxy_auth[0])
        field(b, "Proxy-Authorization", t->proxy_auth);
    for (uint32_t i = 0; i < hop->header->n; i++) {
        const goc__hentry *e = &hop->header->v[i];
        if (own_field(e->name, e->name_len) ||
            (e->name_len == 10 && goc__http_token_eq(e->name, "User-Agent", 10) && !e->value[0]))
            continue;
        field(b, e->name, e->value);
    }
    const goc__hbody_src *body = hop->body;
    if (body && body->kind != SRC_NONE && body->length < 0) {
        field(b, "Transfer-Encoding", "chunked");
    } else if (body && body->kind != SRC_NONE) {
        char num[24];
        snprintf(num, sizeof num, "%lld", (long long)body->length);
        field(b, "Content-Length", num);
    } else if (method_is(hop->method, "POST") || method_is(hop->method, "PUT") ||
               method_is(hop->method, "PATCH")) {
        field(b, "Content-Length", "0"); /* as Go: servers may want one */
    }
    const char *conn = goc_http_header_get(hop->header, "Connection");
    if (c->opts.disable_keep_alives)
        field(b, "Connection", "close");
    else if (conn)
        field(b, "Connection", conn);
    if (gzip)
        field(b, "Accept-Encoding", "gzip");
    if (hop->cookie)
        field(b, "Cookie", hop->cookie);
    if (hop->referer && !has(hop->header, "Referer"))
        field(b, "Referer", hop->referer);
    put(b, "\r\n", 2);
}

/* ---- the target ----------------------------------------------------------- */

static int target_for(goc_http_client *c, const goc_url *u, goc__htarget *t)
{
    memset(t, 0, sizeof *t);
    if (strcmp(u->scheme, "https") == 0)
        t->tls = true;
    else if (strcmp(u->scheme, "http") != 0)
        return goc__errorf(GOC_EHTTP_UNSUPPORTED_SCHEME, "unsupported protocol scheme \"%s\"",
                           u->scheme);
    if (goc_url_hostname(u, t->host, sizeof t->host) <= 0)
        return goc__errorf(-EINVAL, "http: no Host in request URL");
    int port = goc_url_port(u);
    if (port < 0)
        return goc__errorf(-EINVAL, "http: invalid port in \"%s\"", u->host);
    t->port = port ? port : t->tls ? 443 : 80;
    bool v6 = strchr(t->host, ':') != NULL;
    snprintf(t->authority, sizeof t->authority, v6 ? "[%s]:%d" : "%s:%d", t->host, t->port);

    goc_url *pu = NULL;
    int rc = goc__client_proxy_for(c, u, &pu);
    if (rc < 0 || !pu)
        return rc;
    if (strcmp(pu->scheme, "https") == 0)
        t->proxy_tls = true;
    else if (strcmp(pu->scheme, "http") != 0)
        rc = goc__errorf(-ENOTSUP, "http: proxy scheme \"%s\" not supported", pu->scheme);
    int pport = goc_url_port(pu);
    if (rc == 0 && (goc_url_hostname(pu, t->proxy_host, sizeof t->proxy_host) <= 0 || pport < 0))
        rc = goc__errorf(-EINVAL, "http: invalid proxy URL");
    if (rc == 0) {
        t->proxy_port = pport ? pport : t->proxy_tls ? 443 : 80;
        v6 = strchr(t->proxy_host, ':') != NULL;
        snprintf(t->proxy, sizeof t->proxy, v6 ? "[%s]:%d" : "%s:%d", t->proxy_host, t->proxy_port);
        if (pu->user)
            goc__http_basic_auth(pu->user, pu->password, t->proxy_auth, sizeof t->proxy_auth);
    }
    goc_url_free(pu);
    return rc;
}

/* ---- the body --------------------------------------------------------------- */

/* Set the deadline of the next write: now + stall, bounded by the
 * exchange's. -ETIMEDOUT if the ctx was cancelled: its wake-up (a past
 * deadline on the fd) may just have been overwritten. */
static int write_deadline(struct goc__http_cresp *r, goc__pconn *pc, const goc__hop *hop,
                          goc_duration stall)
{
    int64_t d = stall > 0 ? goc_now() + stall : 0;
    if (hop->deadline > 0 && (d == 0 || hop->deadline < d))
        d = hop->deadline;
    goc_set_write_deadline(pc->fd, d);
    return __atomic_load_n(&r->cancelled, __ATOMIC_ACQUIRE) ? -ETIMEDOUT : 0;
}

static ssize_t write_all(goc__pconn *pc, const void *p, size_t n)
{
    struct iovec iov = {(void *)p, n};
    return goc__pconn_writev(pc, &iov, 1);
}

/* The body of a reader or a file, after the head. 0 or a negative errno. */
static int write_body(goc_http_client *c, struct goc__http_cresp *r, goc__pconn *pc,
                      const goc__hop *hop, bool *src_failed)
{
    goc__hbody_src *b = hop->body;
    bool chunked = b->length < 0;
    int64_t sent = 0;
    if (b->kind == SRC_FD && !pc->ops) {
        off_t off = b->off;
        while (sent < b->length) {
            int rc = write_deadline(r, pc, hop, c->opts.stall_timeout);
            ssize_t n = rc < 0 ? rc : goc_sendfile(pc->fd, b->fd, &off, (size_t)(b->length - sent));
            if (n <= 0)
                return n == 0 ? goc__errorf(-EIO, "http: request body file shorter than %lld",
                                            (long long)b->length)
                              : (int)n;
            sent += n;
        }
        return 0;
    }
    char *buf = malloc(BODY_BUF + 16);
    if (!buf)
        return -ENOMEM;
    int rc = 0;
    b->used = true;
    for (;;) {
        size_t want = BODY_BUF;
        if (!chunked && (int64_t)want > b->length - sent)
            want = (size_t)(b->length - sent);
        if (!chunked && want == 0)
            break;
        ssize_t n = b->kind == SRC_FD ? goc_pread(b->fd, buf + 10, want, b->off + sent)
                                      : b->read(b->arg, buf + 10, want);
        if (n < 0) {
            /* The body's source failed (a proxied client that reset its
             * connection: -ECONNRESET too), not the server: nothing to
             * wait for from it. */
            *src_failed = true;
            rc = (int)n;
            break;
        }
        if (n == 0) {
            if (!chunked)
                rc = goc__errorf(-EIO, "http: ContentLength=%lld with Body length %lld",
                                 (long long)b->length, (long long)sent);
            else if ((rc = write_deadline(r, pc, hop, c->opts.stall_timeout)) == 0)
                rc = write_all(pc, "0\r\n\r\n", 5) < 0 ? -EPIPE : 0; /* the last chunk */
            break;
        }
        sent += n;
        char *p = buf + 10;
        size_t len = (size_t)n;
        if (chunked) { /* "%zx\r\n" before, "\r\n" after, in place */
            char line[12];
            int k = snprintf(line, sizeof line, "%zx\r\n", (size_t)n);
            p -= k;
            memcpy(p, line, (size_t)k);
            memcpy(buf + 10 + n, "\r\n", 2);
            len += (size_t)k + 2;
        }
        rc = write_deadline(r, pc, hop, c->opts.stall_timeout);
        ssize_t w = rc < 0 ? rc : write_all(pc, p, len);
        if (w < 0) {
            rc = (int)w;
            break;
        }
    }
    free(buf);
    return rc;
}

/* ---- the response head ----------------------------------------------------- */

/* NUL-terminate the span's string in the head copy (the byte after it is
 * ':', whitespace or CR: never part of it). */
static const char *cstr(char *head, goc__hspan s)
{
    head[s.off + s.len] = 0;
    return head + s.off;
}

/* Build the response from a parsed head at pc->rbuf + pc->rpos. */
static int make_response(struct goc__http_cresp *r, goc__pconn *pc, const goc__hresp *hr,
                         size_t len, bool head_req)
{
    char *head = goc__arena_alloc(&r->arena, len + 1);
    if (!head)
        return -ENOMEM;
    memcpy(head, pc->rbuf + pc->rpos, len);
    head[len] = 0;
    goc_http_response *p = &r->pub;
    p->status_code = hr->code;
    p->proto_major = 1;
    p->proto_minor = hr->minor;
    p->proto = hr->minor ? "HTTP/1.1" : "HTTP/1.0";
    /* "HTTP/1.x 200 OK": the status is from the code to the line's end. */
    char *eol = strchr(head, '\r');
    if (eol)
        *eol = 0;
    p->status = head + 9;
    for (uint32_t i = 0; i < hr->nfields; i++) {
        const goc__hfield *f = &hr->fields[i];
        const char *name = cstr(head, f->name), *value = cstr(head, f->value);
        if (goc__http_header_push(&r->header, name, f->name.len, value, f->value.len) < 0)
            return -ENOMEM;
    }
    p->content_length = hr->body == GOC__HBODY_LENGTH ? hr->content_length
                        : head_req                    ? hr->content_length /* Go: as for GET */
                        : hr->body == GOC__HBODY_NONE ? 0
                                                      : -1;
    r->body = hr->body;
    r->left = hr->content_length;
    r->keep_alive = hr->keep_alive;
    return 0;
}

static int head_read_err(struct goc__http_cresp *r, ssize_t n, bool any)
{
    int err = goc_ctx_err(r->ctx);
    if (err && n == -ETIMEDOUT)
        return goc__errorf(err, "http: request %s while awaiting headers",
                           err == -ECANCELED ? "canceled" : "deadline exceeded");
    if (n == -ETIMEDOUT)
        return goc__errorf(-ETIMEDOUT, "http: timeout awaiting response headers");
    if (n == -EMSGSIZE)
        return goc__errorf(GOC_EHTTP_HEADER_TOO_LARGE,
                           "http: server response headers exceeded %zu bytes",
                           r->client->opts.max_response_header_bytes);
    if (n == 0)
        return goc__errorf(any ? GOC_EHTTP_UNEXPECTED_EOF : -ECONNRESET,
                           any ? "http: unexpected EOF in the response head"
                               : "http: server closed the connection before answering");
    return (int)n;
}

/* A complete head with more fields than hr holds: twice the room, on the
 * heap (stack: the caller's array, never freed here). -ENOMEM. */
static int grow_fields(goc__hresp *hr, const goc__hfield *stack)
{
    uint32_t cap = hr->fields_cap * 2;
    goc__hfield *f = malloc(cap * sizeof *f);
    if (!f)
        return -ENOMEM;
    if (hr->fields != stack)
        free(hr->fields);
    hr->fields = f;
    hr->fields_cap = cap;
    return 0;
}

static void free_fields(goc__hresp *hr, goc__hfield *stack)
{
    if (hr->fields != stack)
        free(hr->fields);
    hr->fields = stack;
}

/* Read and parse the next response head. *got: some byte of it arrived.
 * continue_ok: return a "100 Continue" (code 100) instead of skipping it.
 * hr->fields starts as stack; past it, grown (free_fields frees). */
static int read_head(struct goc__http_cresp *r, goc__pconn *pc, unsigned flags, int64_t hdeadline,
                     goc__hresp *hr, bool *got, bool continue_ok, const goc__hfield *stack)
{
    size_t max = r->client->opts.max_response_header_bytes;
    goc__hlimits lim = {.max_head = (uint32_t)(max < UINT32_MAX ? max : UINT32_MAX)};
    size_t scanned = 0, interim = 0;
    for (;;) {
        lim.max_fields = hr->fields_cap;
        hr->nfields = 0;
        int rc = goc__http_parse_response(pc->rbuf + pc->rpos, pc->rlen - pc->rpos, &scanned, hr,
                                          flags, &lim);
        if (rc == -EMSGSIZE && hr->nfields == hr->fields_cap) {
            /* Too many fields, not bytes (the head is all here): parse again. */
            if ((rc = grow_fields(hr, stack)) < 0)
                return rc;
            scanned = 0;
            continue;
        }
        if (rc > 0 && hr->code >= 100 && hr->code < 200 && !hr->tunnel) {
            if (hr->code == 100 && continue_ok) {
                pc->rpos += (size_t)rc;
                return 100;
            }
            pc->rpos += (size_t)rc; /* 1xx: informational, skipped (as Go) */
            scanned = 0;
            /* ... their bytes counted against the limit (as Go 1.24): a
             * server sending interim responses forever is cut off. */
            interim += (size_t)rc;
            if (interim >= lim.max_head)
                return head_read_err(r, -EMSGSIZE, true);
            lim.max_head -= (uint32_t)rc;
            continue;
        }
        if (rc > 0)
            return rc;
        if (rc == -EMSGSIZE)
            return head_read_err(r, -EMSGSIZE, true);
        if (rc < 0)
            return goc__errorf(GOC_EHTTP_MALFORMED, "http: malformed response: %s",
                               hr->why ? hr->why : "bad head");
        int64_t d = goc__cresp_read_deadline(r);
        if (hdeadline > 0 && (d == 0 || hdeadline < d))
            d = hdeadline;
        goc_set_read_deadline(pc->fd, d);
        if (__atomic_load_n(&r->cancelled, __ATOMIC_ACQUIRE))
            return head_read_err(r, -ETIMEDOUT, *got);
        ssize_t n = goc__pconn_fill(pc, max + 1);
        if (n <= 0)
            return head_read_err(r, n, *got || pc->rlen > pc->rpos);
        *got = true;
    }
}

/* ---- the exchange ---------------------------------------------------------- */

static void wake(void *arg)
{
    struct goc__http_cresp *r = arg;
    __atomic_store_n(&r->cancelled, 1, __ATOMIC_RELEASE);
    goc_set_deadline(r->wake_fd, 1); /* in the past: parked calls return */
}

static bool idempotent(const goc__hop *hop)
{
    const char *m = hop->method;
    return method_is(m, "GET") || method_is(m, "HEAD") || method_is(m, "OPTIONS") ||
           method_is(m, "TRACE") || has(hop->header, "Idempotency-Key") ||
           has(hop->header, "X-Idempotency-Key");
}

/* One attempt's state, from the request's first byte to the response
 * head. */
typedef struct attempt {
    goc__hfield stack[HEAD_FIELDS]; /* hr.fields until it must grow */
    goc__hresp hr;
    unsigned flags;    /* GOC__HRESP_* */
    bool expect;       /* Expect: 100-continue with a body to send */
    bool sent_body;    /* the whole body went out */
    bool write_failed; /* the server stopped reading (EPIPE, ECONNRESET) */
    bool got;          /* some byte of the response arrived */
    int hlen;          /* the final head's length once read, else 0 */
} attempt;

/* The head, with a body from memory in the same write unless it waits
 * for "100 Continue". 0 or a negative errno. */
static int send_head(goc_http_client *c, struct goc__http_cresp *r, goc__pconn *pc,
                     const goc__hop *hop, const goc__htarget *t, bool gzip, attempt *a)
{
    hbuf hb = {.cap = 2048};
    char stack[2048];
    hb.p = stack;
    build_head(c, hop, t, pc->via_proxy, gzip, &hb);
    int rc = hb.err;
    const goc__hbody_src *b = hop->body;
    bool has_body = b && b->kind != SRC_NONE;
    const char *ex = goc_http_header_get(hop->header, "Expect");
    a->expect = has_body && b->length != 0 && ex && strcasecmp(ex, "100-continue") == 0;
    struct iovec iov[2] = {{hb.p, hb.n}, {NULL, 0}};
    int niov = 1;
    if (has_body && b->kind == SRC_MEM && !a->expect)
        iov[niov++] = (struct iovec){(void *)b->data, b->len};
    if (rc == 0)
        rc = write_deadline(r, pc, hop, c->opts.stall_timeout);
    if (rc == 0 && (rc = (int)goc__pconn_writev(pc, iov, niov)) > 0)
        rc = 0;
    if (hb.heap)
        free(hb.p);
    a->sent_body = !has_body || niov == 2;
    return rc;
}

/* Expect: 100-continue: wait a little for the server's "100 Continue"
 * (or its final answer, which the body then never follows). */
static int await_continue(goc_http_client *c, struct goc__http_cresp *r, goc__pconn *pc,
                          const goc__hop *hop, attempt *a)
{
    int64_t ect = goc_now() + c->opts.expect_continue_timeout;
    int hlen = read_head(r, pc, a->flags, ect, &a->hr, &a->got, true, a->stack);
    if (hlen == -ETIMEDOUT && !a->got && !goc_ctx_err(hop->ctx))
        return 0; /* no answer: send the body anyway */
    if (hlen == 100)
        return 0;
    if (hlen > 0) {
        a->hlen = hlen;
        r->keep_alive_veto = true; /* answered without the body: it was never sent */
        return 0;
    }
    return hlen;
}

/* Send the request: head, then what is left of the body. A write the
 * server refused (it answered early and closed) is not an error yet: its
 * answer may be waiting (a->write_failed). 0 or a negative errno. */
static int send_request(goc_http_client *c, struct goc__http_cresp *r, goc__pconn *pc,
                        const goc__hop *hop, const goc__htarget *t, bool gzip, attempt *a)
{
    bool src_failed = false;
    int rc = send_head(c, r, pc, hop, t, gzip, a);
    if (rc == 0 && a->expect)
        rc = await_continue(c, r, pc, hop, a);
    const goc__hbody_src *b = hop->body;
    if (rc == 0 && !a->sent_body && a->hlen == 0) {
        if (b->kind == SRC_MEM) {
            rc = write_deadline(r, pc, hop, c->opts.stall_timeout);
            ssize_t w = rc < 0 ? rc : write_all(pc, b->data, b->len);
            rc = w < 0 ? (int)w : 0;
        } else {
            rc = write_body(c, r, pc, hop, &src_failed);
        }
        a->sent_body = rc == 0;
    }
    a->write_failed = !src_failed && (rc == -EPIPE || rc == -ECONNRESET);
    int ctx_err = goc_ctx_err(hop->ctx);
    if (rc == -ETIMEDOUT && ctx_err && ctx_err != rc) /* the wake-up, not the stall */
        rc = goc__errorf(ctx_err, "http: request canceled while sending the request");
    return a->write_failed ? 0 : rc;
}

static int try_once(goc_http_client *c, const goc__hop *hop, const goc__htarget *t, bool gzip,
                    struct goc__http_cresp *r, bool *retry)
{
    *retry = false;
    goc__pconn *pc;
    int rc = goc__transport_get(c, t, hop->ctx, hop->deadline, &pc);
    if (rc < 0)
        return rc;
    r->pc = pc;
    r->wake_fd = pc->fd;
    __atomic_store_n(&r->cancelled, 0, __ATOMIC_RELAXED);
    if (goc_ctx_done(hop->ctx) && (rc = goc_ctx_after_func(hop->ctx, wake, r, &r->wake)) < 0)
        goto fail;
    attempt at = {.flags = method_is(hop->method, "HEAD") ? GOC__HRESP_HEAD : 0}, *a = &at;
    a->hr = (goc__hresp){.fields = a->stack, .fields_cap = HEAD_FIELDS};
    rc = send_request(c, r, pc, hop, t, gzip, a);
    /* The response: after a refused write too, since a server may answer
     * (413, 401) and close before reading the whole body. */
    if (rc == 0 && a->hlen == 0) {
        int64_t hdeadline =
            c->opts.response_header_timeout > 0 ? goc_now() + c->opts.response_header_timeout : 0;
        rc = read_head(r, pc, a->flags, hdeadline, &a->hr, &a->got, false, a->stack);
        a->hlen = rc > 0 ? rc : 0;
        /* Nothing of a response on a connection that had idled: the
         * server closed it meanwhile; try again on another. */
        *retry = rc < 0 && pc->reused && !a->got &&
                 (a->write_failed || rc == -ECONNRESET || rc == -EPIPE);
        if (*retry && !goc_ctx_err(hop->ctx))
            goc__errorf(rc, "http: server closed idle connection");
    }
    if (rc >= 0)
        rc = make_response(r, pc, &a->hr, (size_t)a->hlen, a->flags & GOC__HRESP_HEAD);
    free_fields(&a->hr, a->stack);
    if (rc < 0)
        goto fail;
    pc->rpos += (size_t)a->hlen;
    if (r->keep_alive_veto || !a->sent_body || a->write_failed || a->hr.tunnel)
        r->keep_alive = false;
    r->tunnel = a->hr.tunnel;
    return 0;
fail:
    goc__cresp_release_conn(r, false);
    return rc;
}

int goc__roundtrip(goc_http_client *c, const goc__hop *hop, struct goc__http_cresp **out)
{
    *out = NULL;
    goc__htarget t;
    int rc = target_for(c, hop->url, &t);
    if (rc < 0)
        return rc;
    bool gzip = !c->opts.disable_compression && !has(hop->header, "Accept-Encoding") &&
                !has(hop->header, "Range") && !method_is(hop->method, "HEAD");
    for (int attempt = 0;; attempt++) {
        struct goc__http_cresp *r = goc__http_cresp_alloc();
        if (!r)
            return -ENOMEM;
        memset(r, 0, offsetof(struct goc__http_cresp, tfields));
        r->client = c;
        r->ctx = goc_ctx_retain(hop->ctx);
        r->deadline = hop->deadline;
        r->stall = c->opts.stall_timeout;
        goc__arena_init(&r->arena, r->arena0, sizeof r->arena0);
        goc__http_header_init(&r->header, &r->arena);
        goc__http_header_init(&r->trailer, &r->arena);
        r->chunked.fields = r->tfields;
        r->chunked.fields_cap = sizeof r->tfields / sizeof *r->tfields;
        r->pub.header = &r->header;
        r->pub.trailer = &r->trailer;
        r->pub.priv_ = r;
        bool retry;
        rc = try_once(c, hop, &t, gzip, r, &retry);
        if (rc == 0) {
            rc = goc__cresp_finish_head(r, gzip);
            if (rc == 0) {
                *out = r;
                return 0;
            }
        }
        goc_http_response_free(&r->pub);
        if (!retry || attempt >= 3 || !idempotent(hop) || goc_ctx_err(hop->ctx))
            return rc;
        if (hop->body && hop->body->kind == SRC_READER && hop->body->used) {
            if (!hop->body->rewind)
                return rc;
            if (hop->body->rewind(hop->body->arg) < 0)
                return rc;
            hop->body->used = false;
        }
    }
}
