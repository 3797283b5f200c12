/*
 * serverutil.h — helpers for tests that run the HTTP server on loopback
 * (header-only, all static): start a server on 127.0.0.1 port 0 on its
 * own goroutine, talk to it over raw sockets, and read responses framed
 * by goc's own response parser (so a test sees exactly the bytes the
 * server sent: status, fields in order, the body de-chunked).
 *
 * Use inside goc_run, with GO_CHECK (runtime/util.h) for checks.
 */
#ifndef GOC_TESTS_HTTP_SERVERUTIL_H
#define GOC_TESTS_HTTP_SERVERUTIL_H

#include <goc/http.h>

#include "../../src/http/parse.h"
#include "net/netutil.h"

typedef struct test_server {
    goc_http_server *srv;
    int port;
    char addr[64];  /* "127.0.0.1:PORT" */
    goc_chan *done; /* serve's result (int) */
} test_server;

static void test_server_run_(void *arg)
{
    test_server *ts = arg;
    int lfd = goc_listen("tcp", "127.0.0.1:0");
    /* the port is published through ts->port before accepting */
    ts->port = lfd >= 0 ? sock_port(lfd) : -1;
    snprintf(ts->addr, sizeof ts->addr, "127.0.0.1:%d", ts->port);
    goc_chan *ready = ts->done;
    int one = 1;
    goc_chan_send(ready, &one);
    int rc = lfd >= 0 ? goc_http_server_serve(ts->srv, lfd) : lfd;
    goc_chan_send(ts->done, &rc);
}

/* Start serving h with opts (NULL: defaults). false if it did not start. */
static inline bool test_server_start(test_server *ts, goc_http_handler h,
                                     const goc_http_server_opts *opts)
{
    memset(ts, 0, sizeof *ts);
    ts->srv = goc_http_server_new(h, opts);
    ts->done = goc_chan_make(sizeof(int), 1);
    if (!ts->srv || !ts->done || goc_go(test_server_run_, ts) < 0)
        return false;
    int v;
    goc_chan_recv(ts->done, &v);
    return ts->port > 0;
}

/* Close the server (every connection cut), check serve returned
 * GOC_EHTTP_SERVER_CLOSED, free it. */
static inline void test_server_stop(test_server *ts)
{
    goc_http_server_close(ts->srv);
    int rc = 0;
    goc_chan_recv(ts->done, &rc);
    GO_CHECK(rc == GOC_EHTTP_SERVER_CLOSED, "serve returned %d (%s)", rc, goc_strerror(rc));
    goc_chan_release(ts->done);
    goc_http_server_free(ts->srv);
}

static inline int test_dial(test_server *ts)
{
    int fd = goc_dial("tcp", ts->addr, 2 * GOC_SECOND);
    GO_CHECK(fd >= 0, "dial %s: %s", ts->addr, goc_strerror(fd));
    if (fd >= 0)
        goc_set_deadline(fd, goc_now() + 10 * GOC_SECOND * test_slack());
    return fd;
}

static inline bool test_send(int fd, const char *s)
{
    size_t n = strlen(s);
    return goc_write(fd, s, n) == (ssize_t)n;
}

/* A response as read off the wire. */
typedef struct test_resp {
    int status;      /* 0: none (the connection closed or failed) */
    char head[8192]; /* the raw head, NUL-terminated */
    char *body;      /* malloc'ed, NUL-terminated, de-chunked */
    size_t body_len;
    bool chunked, keep_alive;
    bool closed;        /* test_roundtrip: the server closed the connection after it */
    char trailer[1024]; /* raw trailer lines, "Name: value\r\n"... */
} test_resp;

/* The value of field name in r's head (first one), copied into out. */
static inline const char *test_field(const test_resp *r, const char *name, char *out, size_t n)
{
    size_t nl = strlen(name);
    for (const char *p = strstr(r->head, "\r\n"); p && p[2]; p = strstr(p + 2, "\r\n")) {
        const char *line = p + 2;
        if (strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
            const char *v = line + nl + 1;
            while (*v == ' ')
                v++;
            size_t len = strcspn(v, "\r");
            if (len >= n)
                len = n - 1;
            memcpy(out, v, len);
            out[len] = 0;
            return out;
        }
    }
    return NULL;
}

/* Per-connection read buffer, so pipelined responses can be read one by
 * one. */
typedef struct test_conn {
    int fd;
    char buf[1 << 16];
    size_t len;
} test_conn;

static inline ssize_t test_conn_more_(test_conn *c)
{
    if (c->len == sizeof c->buf)
        return -ENOBUFS;
    ssize_t n = goc_read(c->fd, c->buf + c->len, sizeof c->buf - c->len);
    if (n > 0)
        c->len += (size_t)n;
    return n;
}

static inline void test_conn_drop_(test_conn *c, size_t n)
{
    memmove(c->buf, c->buf + n, c->len - n);
    c->len -= n;
}

static inline bool test_read_body_(test_conn *c, test_resp *r, const goc__hresp *h)
{
    size_t cap = 1 << 16;
    r->body = malloc(cap);
    if (h->body == GOC__HBODY_CHUNKED) {
        goc__hfield tf[16];
        goc__hchunked ck = {.fields = tf, .fields_cap = 16};
        for (;;) {
            size_t used = 0;
            goc__hspan d;
            int rc = goc__http_chunked(&ck, c->buf, c->len, &used, &d, NULL);
            if (rc == GOC__HCHUNK_DATA) {
                while (r->body_len + d.len + 1 > cap)
                    r->body = realloc(r->body, cap *= 2);
                memcpy(r->body + r->body_len, c->buf + d.off, d.len);
                r->body_len += d.len;
            } else if (rc == GOC__HCHUNK_END) {
                for (uint32_t i = 0; i < ck.nfields; i++) {
                    size_t tl = strlen(r->trailer);
                    snprintf(r->trailer + tl, sizeof r->trailer - tl, "%.*s: %.*s\r\n",
                             (int)tf[i].name.len, c->buf + tf[i].name.off, (int)tf[i].value.len,
                             c->buf + tf[i].value.off);
                }
                test_conn_drop_(c, used);
                break;
            } else if (rc < 0) {
                return false;
            }
            test_conn_drop_(c, used);
            if (rc == GOC__HCHUNK_MORE && test_conn_more_(c) <= 0)
                return false;
        }
    } else {
        int64_t want = h->body == GOC__HBODY_LENGTH ? h->content_length
                       : h->body == GOC__HBODY_NONE ? 0
                                                    : INT64_MAX;
        while ((int64_t)r->body_len < want) {
            if (c->len == 0) {
                ssize_t n = test_conn_more_(c);
                if (n <= 0)
                    break; /* close-delimited: the end; else short */
            }
            size_t k = c->len;
            if ((int64_t)k > want - (int64_t)r->body_len)
                k = (size_t)(want - (int64_t)r->body_len);
            while (r->body_len + k + 1 > cap)
                r->body = realloc(r->body, cap *= 2);
            memcpy(r->body + r->body_len, c->buf, k);
            r->body_len += k;
            test_conn_drop_(c, k);
        }
        if (h->body == GOC__HBODY_LENGTH && (int64_t)r->body_len != want)
            return false;
    }
    r->body[r->body_len] = 0;
    return true;
}

/* Read one final response (1xx heads are skipped, their count returned
 * in *informational if not NULL). head_req: the request was HEAD. true if
 * a whole response was read. */
static inline bool test_read_resp(test_conn *c, test_resp *r, bool head_req)
{
    memset(r, 0, sizeof *r);
    for (;;) {
        goc__hfield f[128];
        goc__hresp h = {.fields = f, .fields_cap = 128};
        size_t scanned = 0;
        int rc;
        while ((rc = goc__http_parse_response(c->buf, c->len, &scanned, &h,
                                              head_req ? GOC__HRESP_HEAD : 0, NULL)) == 0)
            if (test_conn_more_(c) <= 0)
                return false;
        if (rc < 0)
            return false;
        size_t hl = (size_t)rc < sizeof r->head ? (size_t)rc : sizeof r->head - 1;
        memcpy(r->head, c->buf, hl);
        r->head[hl] = 0;
        test_conn_drop_(c, (size_t)rc);
        if (h.code >= 100 && h.code < 200 && h.code != 101)
            continue;
        r->status = h.code;
        r->chunked = h.body == GOC__HBODY_CHUNKED;
        r->keep_alive = h.keep_alive;
        return test_read_body_(c, r, &h);
    }
}

static inline void test_resp_free(test_resp *r)
{
    free(r->body);
    r->body = NULL;
}

/* Whether r's body is exactly want. */
static inline bool test_body_is(const test_resp *r, const char *want)
{
    return r->body && r->body_len == strlen(want) && memcmp(r->body, want, r->body_len) == 0;
}

/* Read until the peer closes (0) or errors: true if it closed cleanly
 * within the deadline set by test_dial. */
static inline bool test_wait_closed(int fd)
{
    char b[4096];
    for (;;) {
        ssize_t n = goc_read(fd, b, sizeof b);
        if (n == 0 || n == -ECONNRESET)
            return true;
        if (n < 0)
            return false;
    }
}

/* One request (n bytes) on a new connection: send it, read the response
 * (r->body to free with test_resp_free, also when false). When the
 * response does not keep the connection alive, wait for the server to
 * close it: r->closed. */
static inline bool test_roundtrip_n(test_server *ts, const char *req, size_t n, test_resp *r)
{
    test_conn *c = calloc(1, sizeof *c);
    memset(r, 0, sizeof *r);
    c->fd = test_dial(ts);
    bool ok = c->fd >= 0 && goc_write(c->fd, req, n) == (ssize_t)n &&
              test_read_resp(c, r, n >= 5 && strncmp(req, "HEAD ", 5) == 0);
    if (ok && !r->keep_alive)
        r->closed = c->len == 0 && test_wait_closed(c->fd);
    if (c->fd >= 0)
        goc_close(c->fd);
    free(c);
    return ok;
}

static inline bool test_roundtrip(test_server *ts, const char *req, test_resp *r)
{
    return test_roundtrip_n(ts, req, strlen(req), r);
}

#endif /* GOC_TESTS_HTTP_SERVERUTIL_H */
