/*
 * mwutil.h — a real server on a loopback port and a raw client, for the
 * tests of the request helpers, replies and middleware (header-only, all
 * static). The client sends bytes as written and reads the whole answer
 * (requests carry "Connection: close", so the answer ends at EOF), then
 * picks the status, a header field and the body out of it by hand: the
 * tests check what goes over the wire, not what a client library makes
 * of it.
 */
#ifndef GOC_TESTS_HTTP_MWUTIL_H
#define GOC_TESTS_HTTP_MWUTIL_H

#include <criterion/criterion.h>
#include <strings.h>

#include <goc/http.h>

#include "net/netutil.h"

typedef struct test_srv {
    goc_http_server *s;
    int lfd;
    char addr[64];
    goc_waitgroup wg;
    int serve_rc;
} test_srv;

static void test_srv_serve(void *arg)
{
    test_srv *t = arg;
    t->serve_rc = goc_http_server_serve(t->s, t->lfd);
    goc_waitgroup_done(&t->wg);
}

/* Serve h on 127.0.0.1:<ephemeral>; false (and a failed check) if not. */
static inline bool srv_start(test_srv *t, goc_http_handler h)
{
    memset(t, 0, sizeof *t);
    t->s = goc_http_server_new(h, NULL);
    t->lfd = goc_listen("tcp", "127.0.0.1:0");
    GO_CHECK(t->s && t->lfd >= 0, "server: %s", goc_strerror(t->lfd));
    if (!t->s || t->lfd < 0)
        return false;
    snprintf(t->addr, sizeof t->addr, "127.0.0.1:%d", sock_port(t->lfd));
    goc_waitgroup_add(&t->wg, 1);
    GO_SPAWN(test_srv_serve, t);
    return true;
}

static inline void srv_stop(test_srv *t)
{
    goc_http_server_close(t->s);
    goc_waitgroup_wait(&t->wg);
    GO_CHECK(t->serve_rc == GOC_EHTTP_SERVER_CLOSED, "serve: %s", goc_strerror(t->serve_rc));
    goc_http_server_free(t->s);
}

/* An answer as read off the wire, NUL-terminated. */
typedef struct reply {
    char buf[65536];
    size_t len;
    int status;
    const char *body; /* after the blank line */
    size_t body_len;
    bool closed; /* the server closed the connection after it */
} reply;

/* Send req (n bytes) on a new connection and read until EOF (at most
 * 5 s). */
static inline int roundtrip_n(const char *addr, const char *req, size_t n, reply *out)
{
    memset(out, 0, sizeof *out);
    int fd = goc_dial("tcp", addr, 2 * GOC_SECOND);
    GO_CHECK(fd >= 0, "dial %s: %s", addr, goc_strerror(fd));
    if (fd < 0)
        return fd;
    ssize_t w = goc_write(fd, req, n);
    GO_CHECK(w == (ssize_t)n, "write: %zd", w);
    /* A server that keeps the connection open is seen as not closing it
     * (after 5 s), never as a hung test. */
    goc_set_read_deadline(fd, goc_now() + 5 * GOC_SECOND);
    size_t got = 0;
    for (;;) {
        ssize_t k = goc_read(fd, out->buf + got, sizeof out->buf - 1 - got);
        if (k <= 0) {
            out->closed = k == 0 || k == -ECONNRESET;
            break;
        }
        got += (size_t)k;
        if (got == sizeof out->buf - 1)
            break;
    }
    goc_close(fd);
    out->len = got;
    out->buf[got] = '\0';
    sscanf(out->buf, "HTTP/1.%*d %d", &out->status);
    char *end = strstr(out->buf, "\r\n\r\n");
    if (end) {
        out->body = end + 4;
        out->body_len = out->len - (size_t)(out->body - out->buf);
    }
    return 0;
}

static inline int roundtrip(const char *addr, const char *req, reply *out)
{
    return roundtrip_n(addr, req, strlen(req), out);
}

/* The value of field name in the answer's head (copied into val), or
 * NULL. */
static inline const char *reply_header(const reply *r, const char *name, char *val, size_t cap)
{
    size_t n = strlen(name);
    const char *end = r->body ? r->body : r->buf + r->len;
    for (const char *p = strstr(r->buf, "\r\n"); p && p + 2 < end; p = strstr(p + 2, "\r\n")) {
        const char *line = p + 2;
        if (strncasecmp(line, name, n) == 0 && line[n] == ':') {
            const char *v = line + n + 1;
            while (*v == ' ')
                v++;
            size_t vl = strcspn(v, "\r");
            if (vl >= cap)
                vl = cap - 1;
            memcpy(val, v, vl);
            val[vl] = '\0';
            return val;
        }
    }
    return NULL;
}

/* Whether the body is exactly want. */
static inline bool body_is(const reply *r, const char *want)
{
    return r->body && r->body_len == strlen(want) && memcmp(r->body, want, r->body_len) == 0;
}

#endif /* GOC_TESTS_HTTP_MWUTIL_H */
