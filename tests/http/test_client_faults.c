/*
 * test_client_faults.c — the HTTP client against servers that misbehave,
 * written here on raw goc sockets (one goroutine per connection): broken
 * status lines, chunking and framing; bodies cut short; endless headers;
 * servers that never answer or trickle; keep-alive connections closed
 * under the client (the retry rules); an early 413; interim responses;
 * bytes nobody asked for; ctx cancellation and the per-host limit; the
 * idle pool; credentials in the URL; a forward proxy (absolute-form,
 * CONNECT to a TLS server, a refused CONNECT) and the environment's proxy
 * with loopback going direct. Each case checks the exact error, that
 * nothing hangs (a short stall_timeout), and the fake's connection count.
 */
#include <stdatomic.h>
#include <sys/socket.h>

#include <criterion/criterion.h>
#include <strings.h>

#include "http/serverutil.h"
#include "http/tlsutil.h"

/* Every failed check is printed, not only the first. */
#undef GO_CHECK
#define GO_CHECK(cond, ...)                                                                        \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                                        \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            test_fail_(__FILE__, __LINE__, #cond, __VA_ARGS__);                                    \
        }                                                                                          \
    } while (0)

/* ---- the fake server ---------------------------------------------------- */

typedef struct fake fake;
typedef void (*fake_fn)(fake *f, int fd, int nth);

struct fake {
    fake_fn fn;
    const void *arg;
    int lfd, port;
    char base[64]; /* "http://127.0.0.1:PORT" */
    char addr[64]; /* "127.0.0.1:PORT" */
    atomic_int accepts, eofs;
    goc_waitgroup wg;
    goc_mutex mu; /* guards fds, nfds and last */
    int fds[64];
    int nfds;
    char last[8192]; /* the last request head any connection read */
};

typedef struct fconn_arg {
    fake *f;
    int fd, nth;
} fconn_arg;

static void fake_conn(void *arg)
{
    fconn_arg a = *(fconn_arg *)arg;
    free(arg);
    goc_set_deadline(a.fd, goc_now() + 20 * GOC_SECOND * test_slack());
    a.f->fn(a.f, a.fd, a.nth);
    goc_mutex_lock(&a.f->mu);
    for (int i = 0; i < a.f->nfds; i++)
        if (a.f->fds[i] == a.fd)
            a.f->fds[i] = a.f->fds[--a.f->nfds];
    goc_mutex_unlock(&a.f->mu);
    goc_close(a.fd);
    goc_waitgroup_done(&a.f->wg);
}

static void fake_accept(void *arg)
{
    fake *f = arg;
    for (;;) {
        int fd = goc_accept(f->lfd, NULL, NULL);
        if (fd < 0)
            break;
        int nth = atomic_fetch_add(&f->accepts, 1) + 1;
        fconn_arg *a = malloc(sizeof *a);
        *a = (fconn_arg){f, fd, nth};
        goc_mutex_lock(&f->mu);
        if (f->nfds < 64)
            f->fds[f->nfds++] = fd;
        goc_mutex_unlock(&f->mu);
        goc_waitgroup_add(&f->wg, 1);
        goc_go(fake_conn, a);
    }
    goc_waitgroup_done(&f->wg);
}

/* A fake serving on lfd (a listener on 127.0.0.1), which it owns. */
static fake *fake_start_on(int lfd, fake_fn fn, const void *arg)
{
    fake *f = calloc(1, sizeof *f);
    f->fn = fn;
    f->arg = arg;
    f->lfd = lfd;
    GO_CHECK(f->lfd >= 0, "listen: %s", goc_strerror(f->lfd));
    f->port = sock_port(f->lfd);
    snprintf(f->base, sizeof f->base, "http://127.0.0.1:%d", f->port);
    snprintf(f->addr, sizeof f->addr, "127.0.0.1:%d", f->port);
    goc_waitgroup_add(&f->wg, 1);
    goc_go(fake_accept, f);
    return f;
}

static fake *fake_start(fake_fn fn, const void *arg)
{
    return fake_start_on(goc_listen("tcp", "127.0.0.1:0"), fn, arg);
}

/* Stop accepting, cut the connections still open, wait for their
 * goroutines. */
static void fake_stop(fake *f)
{
    goc_close(f->lfd);
    goc_mutex_lock(&f->mu);
    for (int i = 0; i < f->nfds; i++)
        shutdown(f->fds[i], SHUT_RDWR);
    goc_mutex_unlock(&f->mu);
    goc_waitgroup_wait(&f->wg);
    free(f);
}

static char *furl(fake *f, const char *path)
{
    static __thread char buf[4][512];
    static __thread int i;
    char *b = buf[i++ % 4];
    snprintf(b, 512, "%s%s", f->base, path);
    return b;
}

/* A connection's read side: requests one by one (their bodies skipped). */
typedef struct fconn {
    int fd;
    char buf[1 << 16];
    size_t len;
    char head[8192]; /* the last request head, NUL-terminated */
} fconn;

static bool fc_fill(fconn *c)
{
    if (c->len == sizeof c->buf)
        return false;
    ssize_t n = goc_read(c->fd, c->buf + c->len, sizeof c->buf - c->len);
    if (n <= 0)
        return false;
    c->len += (size_t)n;
    return true;
}

static void fc_drop(fconn *c, size_t n)
{
    memmove(c->buf, c->buf + n, c->len - n);
    c->len -= n;
}

/* Read the next request head into c->head; with_body: its body too (a
 * Content-Length or chunked one, dropped). false at EOF or an error. */
static bool fc_req(fake *f, fconn *c, bool with_body)
{
    char *end;
    while (!(end = memmem(c->buf, c->len, "\r\n\r\n", 4)))
        if (!fc_fill(c)) {
            if (c->len == 0)
                atomic_fetch_add(&f->eofs, 1);
            return false;
        }
    size_t hl = (size_t)(end + 4 - c->buf);
    size_t k = hl < sizeof c->head ? hl : sizeof c->head - 1;
    memcpy(c->head, c->buf, k);
    c->head[k] = 0;
    goc_mutex_lock(&f->mu);
    memcpy(f->last, c->head, k + 1);
    goc_mutex_unlock(&f->mu);
    fc_drop(c, hl);
    if (!with_body)
        return true;
    const char *cl = strcasestr(c->head, "\r\nContent-Length:");
    if (cl) {
        size_t n = strtoul(cl + 17, NULL, 10);
        while (n > 0) {
            if (c->len == 0 && !fc_fill(c))
                return false;
            size_t k2 = c->len < n ? c->len : n;
            fc_drop(c, k2);
            n -= k2;
        }
    } else if (strcasestr(c->head, "\r\nTransfer-Encoding: chunked")) {
        while (!(end = memmem(c->buf, c->len, "0\r\n\r\n", 5)))
            if (!fc_fill(c))
                return false;
        fc_drop(c, (size_t)(end + 5 - c->buf));
    }
    return true;
}

static bool fc_send(int fd, const char *s)
{
    size_t n = strlen(s);
    return goc_write(fd, s, n) == (ssize_t)n;
}

/* Close our side for writing and wait for the client to close its own
 * (so the client sees a clean EOF, never a reset). */
static void fc_linger(int fd)
{
    shutdown(fd, SHUT_WR);
    char b[4096];
    goc_set_read_deadline(fd, goc_now() + 5 * GOC_SECOND * test_slack());
    while (goc_read(fd, b, sizeof b) > 0) {
    }
}

static void fake_snapshot(fake *f, char *out, size_t n)
{
    goc_mutex_lock(&f->mu);
    snprintf(out, n, "%s", f->last);
    goc_mutex_unlock(&f->mu);
}

#define OK2 "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

/* Answer every request on the connection with OK2 (keep-alive). */
static void srv_ok(fake *f, int fd, int nth)
{
    (void)nth;
    fconn *c = calloc(1, sizeof *c);
    c->fd = fd;
    while (fc_req(f, c, true) && fc_send(fd, OK2)) {
    }
    free(c);
}

/* GET url with c: status and body (malloc'ed), or a negative errno;
 * *read_rc: the body read's result. */
static int fetch(goc_http_client *c, const char *u, goc_ctx *ctx, const char *method,
                 const char *hdr, const char *body, char **out)
{
    *out = NULL;
    goc_http_client_request *req;
    int rc = goc_http_new_request(ctx, method, u, &req);
    if (rc < 0)
        return rc;
    if (hdr)
        goc_http_header_set(goc_http_client_request_header(req), hdr, "yes");
    if (body)
        goc_http_client_request_set_body(req, body, strlen(body));
    goc_http_response *resp;
    rc = goc_http_client_do(c, req, &resp);
    goc_http_client_request_free(req);
    if (rc < 0)
        return rc;
    rc = goc_http_response_read_all(resp, out, NULL, 64 << 20);
    int st = resp->status_code;
    goc_http_response_free(resp);
    return rc < 0 ? rc : st;
}

static int get(goc_http_client *c, const char *u, char **out)
{
    return fetch(c, u, NULL, "GET", NULL, NULL, out);
}

static goc_http_client *quick_client(void)
{
    goc_http_client_opts o = {.stall_timeout = 300 * GOC_MILLISECOND * test_slack(), .proxy = ""};
    return goc_http_client_new(&o);
}

#define FAULT_TEST(name, tmo)                                                                      \
    static int name##_main(void *arg);                                                             \
    Test(client_faults, name, .timeout = tmo)                                                      \
    {                                                                                              \
        cr_assert_eq(run_main(name##_main, NULL), 0, "%s", test_fail_msg);                         \
    }                                                                                              \
    static int name##_main(void *arg)

/* ---- scripted answers: framing ------------------------------------------ */

typedef struct script {
    const char *name;
    const char *reply; /* sent after the request head, then the server closes */
    int do_rc;         /* goc_http_client_do's result */
    int status;        /* when do_rc is 0 */
    int read_rc;       /* read_all's result when do_rc is 0 */
    const char *body;  /* when read_rc is 0 */
    size_t gz_len;     /* reply is a gzip body of this length (the head is made) */
} script;

/* clang-format off */
#define HEAD_FAILS(name, reply, rc)    {name, reply, rc, 0, 0, NULL, 0}
#define BODY_FAILS(name, reply, rc)    {name, reply, 0, 200, rc, NULL, 0}
#define ANSWERS(name, reply, st, body) {name, reply, 0, st, 0, body, 0}
#define GZ(name, bytes, n, rc, body)   {name, bytes, 0, 200, rc, body, n}
/* gzip of "hello gzip world, hello gzip world" (41 bytes); with a bad CRC */
#define GZ_HELLO                                                                                   \
    "\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\x03\xcb\x48\xcd\xc9\xc9\x57\x48\xaf\xca\x2c\x50\x28"      \
    "\xcf\x2f\xca\x49\xd1\x51\xc8\x40\x13\x01\x00\xa0\x7d\xcc\x30\x22\x00\x00\x00"
#define GZ_BADCRC                                                                                  \
    "\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\x03\xcb\x48\xcd\xc9\xc9\x57\x48\xaf\xca\x2c\x50\x28"      \
    "\xcf\x2f\xca\x49\xd1\x51\xc8\x40\x13\x01\x00\xa0\x7d\xcc\x31\x22\x00\x00\x00"
/* clang-format on */

static const script scripts[] = {
    HEAD_FAILS("bad code", "HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n", GOC_EHTTP_MALFORMED),
    HEAD_FAILS("HTTP/2", "HTTP/2 200\r\nContent-Length: 0\r\n\r\n", GOC_EHTTP_MALFORMED),
    HEAD_FAILS("garbage", "garbage\r\n\r\n", GOC_EHTTP_MALFORMED),
    HEAD_FAILS("head cut", "HTTP/1.1 200 OK\r\nContent-Le", GOC_EHTTP_UNEXPECTED_EOF),
    HEAD_FAILS("length and chunked",
               "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
               "5\r\nhello\r\n0\r\n\r\n",
               GOC_EHTTP_MALFORMED),
    HEAD_FAILS("two lengths",
               "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
               GOC_EHTTP_MALFORMED),
    BODY_FAILS("bad hex",
               "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
               GOC_EHTTP_MALFORMED),
    BODY_FAILS("no CRLF after data",
               "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n",
               GOC_EHTTP_MALFORMED),
    BODY_FAILS("size overflow",
               "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000001\r\nx\r\n"
               "0\r\n\r\n",
               GOC_EHTTP_MALFORMED),
    BODY_FAILS("short length", "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort",
               GOC_EHTTP_UNEXPECTED_EOF),
    BODY_FAILS("chunked cut", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
               GOC_EHTTP_UNEXPECTED_EOF),
    BODY_FAILS("chunked cut in data",
               "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
               GOC_EHTTP_UNEXPECTED_EOF),
    ANSWERS("interim 102 103",
            "HTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n"
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfinal",
            200, "final"),
    ANSWERS("101",
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: Upgrade\r\n\r\nRAW", 101,
            ""),
    ANSWERS("close-delimited", "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end", 200,
            "until the end"),
    GZ("gzip", GZ_HELLO, 41, 0, "hello gzip world, hello gzip world"),
    GZ("gzip cut", GZ_HELLO, 30, GOC_EHTTP_UNEXPECTED_EOF, NULL),
    GZ("gzip bad crc", GZ_BADCRC, 41, GOC_EHTTP_MALFORMED, NULL),
    GZ("gzip garbage", "this is not gzip at all", 23, GOC_EHTTP_MALFORMED, NULL),
    GZ("gzip, garbage after", GZ_HELLO "XYZ", 44, GOC_EHTTP_MALFORMED, NULL),
    ANSWERS("204 with a length", "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n", 204, ""),
};

static void srv_script(fake *f, int fd, int nth)
{
    (void)nth;
    fconn *c = calloc(1, sizeof *c);
    c->fd = fd;
    if (fc_req(f, c, true)) {
        const char *p = strstr(c->head, "/case/");
        int i = p ? atoi(p + 6) : -1;
        if (i >= 0 && i < (int)(sizeof scripts / sizeof *scripts) && scripts[i].gz_len) {
            char head[128];
            snprintf(head, sizeof head,
                     "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %zu\r\n\r\n",
                     scripts[i].gz_len);
            if (fc_send(fd, head))
                goc_write(fd, scripts[i].reply, scripts[i].gz_len);
        } else if (i >= 0 && i < (int)(sizeof scripts / sizeof *scripts)) {
            fc_send(fd, scripts[i].reply);
        }
        fc_linger(fd);
    }
    free(c);
}

FAULT_TEST(framing, 60)
{
    (void)arg;
    fake *f = fake_start(srv_script, NULL);
    goc_http_client *c = quick_client();
    for (size_t i = 0; i < sizeof scripts / sizeof *scripts; i++) {
        const script *s = &scripts[i];
        char path[32];
        snprintf(path, sizeof path, "/case/%zu", i);
        goc_http_response *resp = NULL;
        int64_t t0 = goc_now();
        int rc = goc_http_client_get(c, furl(f, path), &resp);
        GO_CHECK(rc == s->do_rc, "%s: do %d (%s), want %d", s->name, rc, goc_errmsg(), s->do_rc);
        if (rc == 0) {
            GO_CHECK(resp->status_code == s->status, "%s: status %d", s->name, resp->status_code);
            char *body = NULL;
            size_t len = 0;
            rc = goc_http_response_read_all(resp, &body, &len, 1 << 20);
            GO_CHECK(rc == s->read_rc, "%s: read %d (%s), want %d", s->name, rc, goc_errmsg(),
                     s->read_rc);
            if (rc == 0 && s->body)
                GO_CHECK(strcmp(body, s->body) == 0, "%s: body \"%s\"", s->name, body);
            /* an error is sticky */
            char b[8];
            if (s->read_rc < 0)
                GO_CHECK(goc_http_response_read(resp, b, sizeof b) == s->read_rc, "%s: sticky",
                         s->name);
            free(body);
            goc_http_response_free(resp);
        }
        GO_CHECK(goc_now() - t0 < 2 * GOC_SECOND * test_slack(), "%s: slow", s->name);
    }
    goc_http_client_free(c);
    fake_stop(f);
    return test_failed();
}

/* ---- endless headers ------------------------------------------------------ */

/* What never ends, by path: header lines (/head), interim responses
 * (/1xx), a chunk extension (/ext), one trailer line (/tline), trailer
 * fields (/tfields); after a head of its own when it is a body's. */
static void srv_endless(fake *f, int fd, int nth)
{
    (void)nth;
    fconn *c = calloc(1, sizeof *c);
    c->fd = fd;
    if (!fc_req(f, c, true)) {
        free(c);
        return;
    }
#define CHUNKED_HEAD "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    const char *start = "HTTP/1.1 200 OK\r\n", *line = "X-Endless: aaaaaaaaaaaaaaaaaaaaaaaa\r\n";
    if (strstr(c->head, " /1xx "))
        start = "", line = "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n";
    else if (strstr(c->head, " /ext "))
        start = CHUNKED_HEAD "5;",
        line = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    else if (strstr(c->head, " /tline "))
        start = CHUNKED_HEAD "0\r\nX-T: ",
        line = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    else if (strstr(c->head, " /tfields "))
        start = CHUNKED_HEAD "0\r\n", line = "X-T: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
    if (fc_send(fd, start))
        while (fc_send(fd, line)) {
        }
    free(c);
}

FAULT_TEST(endless_headers, 60)
{
    (void)arg;
    fake *f = fake_start(srv_endless, NULL);
    size_t limits[] = {4096, 0};
    static const char *const heads[] = {"/head", "/1xx"};
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++) {
            goc_http_client_opts o = {.stall_timeout = 2 * GOC_SECOND * test_slack(),
                                      .max_response_header_bytes = limits[i],
                                      .proxy = ""};
            goc_http_client *c = goc_http_client_new(&o);
            goc_http_response *resp;
            int rc = goc_http_client_get(c, furl(f, heads[j]), &resp);
            GO_CHECK(rc == GOC_EHTTP_HEADER_TOO_LARGE, "%s, limit %zu: %d %s", heads[j], limits[i],
                     rc, goc_errmsg());
            if (rc == 0)
                goc_http_response_free(resp);
            goc_http_client_free(c);
        }
    /* endless chunk framing: an error, not a buffer that grows forever */
    goc_http_client *c = quick_client();
    static const char *const bodies[] = {"/ext", "/tline", "/tfields"};
    for (int j = 0; j < 3; j++) {
        goc_http_response *resp;
        int rc = goc_http_client_get(c, furl(f, bodies[j]), &resp);
        GO_CHECK(rc == 0, "%s: %s", bodies[j], goc_errmsg());
        if (rc < 0)
            continue;
        char *body;
        rc = goc_http_response_read_all(resp, &body, NULL, 1 << 20);
        GO_CHECK(rc == GOC_EHTTP_MALFORMED, "%s: read %d %s", bodies[j], rc, goc_errmsg());
        goc_http_response_free(resp);
    }
    goc_http_client_free(c);
    fake_stop(f);
    return test_failed();
}

static void cancel_after(void *arg);

/* ---- uploads cut short ------------------------------------------------------ */

/* Read the head, then nothing (the body waits in the socket buffers)
 * for 3 s. */
static void srv_noread(fake *f, int fd, int nth)
{
    (void)nth;
    fconn *c = calloc(1, sizeof *c);
    c->fd = fd;
    if (fc_req(f, c, false))
        goc_sleep(3 * GOC_SECOND);
    free(c);
}

/* Read everything, answer nothing. */
static void srv_sink(fake *f, int fd, int nth)
{
    (void)nth;
    fconn *c = calloc(1, sizeof *c);
    c->fd = fd;
    while (goc_read(fd, c->buf, sizeof c->buf) > 0) {
    }
    (void)f;
    free(c);
}

static ssize_t endless_read(void *arg, void *buf, size_t n)
{
    (void)arg;
    memset(buf, 'e', n);
    return (ssize_t)n;
}

FAULT_TEST(upload_cancel, 60)
{
    (void)arg;
    int64_t slack = test_slack();
    goc_http_client_opts o = {.stall_timeout = 10 * GOC_SECOND, .proxy = ""};
    goc_http_client *c = goc_http_client_new(&o);
    /* a server that does not read: the write parks */
    fake *f = fake_start(srv_noread, NULL);
    size_t big = 64 << 20;
    char *data = malloc(big);
    memset(data, 'd', big);
    goc_ctx *ctx = goc_ctx_with_cancel(goc_ctx_background());
    goc_http_client_request *req;
    goc_http_new_request(ctx, "POST", furl(f, "/up"), &req);
    goc_http_client_request_set_body(req, data, big);
    goc_go(cancel_after, ctx);
    int64_t t0 = goc_now();
    goc_http_response *resp;
    int rc = goc_http_client_do(c, req, &resp);
    GO_CHECK(rc == -ECANCELED, "stuck upload: %d %s", rc, goc_errmsg());
    GO_CHECK(goc_now() - t0 < 2 * GOC_SECOND * slack, "stuck upload: %lld ms",
             (long long)test_ms(goc_now() - t0));
    goc_http_client_request_free(req);
    goc_ctx_release(ctx);
    free(data);
    fake_stop(f);
    /* a server that reads all: an endless body streams until cancelled */
    f = fake_start(srv_sink, NULL);
    ctx = goc_ctx_with_cancel(goc_ctx_background());
    goc_http_new_request(ctx, "PUT", furl(f, "/up"), &req);
    goc_http_client_request_set_body_reader(req, endless_read, NULL, NULL, -1);
    goc_go(cancel_after, ctx);
    t0 = goc_now();
    rc = goc_http_client_do(c, req, &resp);
    GO_CHECK(rc == -ECANCELED, "streaming upload: %d %s", rc, goc_errmsg());
    GO_CHECK(goc_now() - t0 < 2 * GOC_SECOND * slack, "streaming upload: %lld ms",
             (long long)test_ms(goc_now() - t0));
    goc_http_client_request_free(req);
    goc_ctx_release(ctx);
    /* and the whole-exchange timeout cuts it too */
    goc_http_client_opts to = {
        .stall_timeout = 10 * GOC_SECOND, .timeout = 300 * GOC_MILLISECOND, .proxy = ""};
    goc_http_client *c2 = goc_http_client_new(&to);
    goc_http_new_request(NULL, "PUT", furl(f, "/up"), &req);
    goc_http_client_request_set_body_reader(req, endless_read, NULL, NULL, -1);
    t0 = goc_now();
    rc = goc_http_client_do(c2, req, &resp);
    GO_CHECK(rc == -ETIMEDOUT, "timeout upload: %d %s", rc, goc_errmsg());
    GO_CHECK(goc_now() - t0 < 2 * GOC_SECOND * slack, "timeout upload: %lld ms",
             (long long)test_ms(goc_now() - t0));
    goc_http_client_request_free(req);
    goc_http_client_free(c2);
    fake_stop(f);
    goc_http_client_free(c);
    return test_failed();
}

/* ---- timeouts ---------------------------------------------------------------- */

/* Read the request, then never answer (until the client goes). */
static void srv_silent(fake *f, int fd, int nth)
{
    (void)nth;
    fconn *c = calloc(1, sizeof *c);
    c->fd = fd;
    if (fc_req(f, c, true))
        while (fc_fill(c)) {
        }
    atomic_fetch_add(&f->eofs, 1);
    free(c);
}

/* A Content-Length: 100 body, a byte every arg (an int64_t*) ns. */
static void srv_trickle(fake *f, int fd, int nth)
{
    (void)nth;
    int64_t every = *(const int64_t *)f->arg;
    fconn *c = calloc(1, sizeof *c);
    c->fd = fd;
    if (fc_req(f, c, true) && fc_send(fd, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"))
        for (int i = 0; i < 100 && fc_send(fd, "x"); i++)
            goc_sleep(every);
    free(c);
}

static void cancel_after(void *arg)
{
    goc_sleep(200 * GOC_MILLISECOND);
    goc_ctx_cancel(arg);
}

FAULT_TEST(timeouts, 60)
{
    (void)arg;
    int64_t slack = test_slack();
    fake *f = fake_start(srv_silent, NULL);
    goc_http_client *c = quick_client();
    char *body;
    int64_t t0 = goc_now();
    int rc = get(c, furl(f, "/"), &body);
    GO_CHECK(rc == -ETIMEDOUT, "stall: %d %s", rc, goc_errmsg());
    GO_CHECK(goc_now() - t0 < 2 * GOC_SECOND * slack, "stall took %lld ms",
             (long long)test_ms(goc_now() - t0));
    free(body);
    goc_http_client_free(c);
    /* response_header_timeout, the stall being long */
    goc_http_client_opts o = {.stall_timeout = 30 * GOC_SECOND,
                              .response_header_timeout = 300 * GOC_MILLISECOND * slack,
                              .proxy = ""};
    c = goc_http_client_new(&o);
    t0 = goc_now();
    rc = get(c, furl(f, "/"), &body);
    GO_CHECK(rc == -ETIMEDOUT, "header timeout: %d %s", rc, goc_errmsg());
    GO_CHECK(goc_now() - t0 < 2 * GOC_SECOND * slack, "header timeout slow");
    free(body);
    /* ctx cancelled while the head is awaited */
    goc_ctx *ctx = goc_ctx_with_cancel(goc_ctx_background());
    goc_go(cancel_after, ctx);
    t0 = goc_now();
    rc = fetch(c, furl(f, "/"), ctx, "GET", NULL, NULL, &body);
    GO_CHECK(rc == -ECANCELED, "cancel: %d %s", rc, goc_errmsg());
    GO_CHECK(goc_now() - t0 < 2 * GOC_SECOND * slack, "cancel slow");
    free(body);
    goc_ctx_release(ctx);
    /* ctx with a deadline */
    ctx = goc_ctx_with_timeout(goc_ctx_background(), 200 * GOC_MILLISECOND);
    t0 = goc_now();
    rc = fetch(c, furl(f, "/"), ctx, "GET", NULL, NULL, &body);
    GO_CHECK(rc == -ETIMEDOUT, "ctx deadline: %d %s", rc, goc_errmsg());
    GO_CHECK(goc_now() - t0 < 2 * GOC_SECOND * slack, "deadline slow");
    free(body);
    goc_ctx_release(ctx);
    goc_http_client_free(c);
    fake_stop(f);

    /* a byte per 500 ms: the 300 ms stall cuts the body */
    int64_t every = 500 * GOC_MILLISECOND * slack;
    f = fake_start(srv_trickle, &every);
    c = quick_client();
    goc_http_response *resp;
    rc = goc_http_client_get(c, furl(f, "/"), &resp);
    GO_CHECK(rc == 0, "trickle head: %s", goc_errmsg());
    if (rc == 0) {
        size_t len;
        rc = goc_http_response_read_all(resp, &body, &len, 1000);
        GO_CHECK(rc == -ETIMEDOUT, "mid-body stall: %d %s", rc, goc_errmsg());
        goc_http_response_free(resp);
    }
    goc_http_client_free(c);
    fake_stop(f);
    /* a byte per 50 ms never stalls, but the whole exchange has 600 ms */
    every = 50 * GOC_MILLISECOND;
    f = fake_start(srv_trickle, &every);
    goc_http_client_opts to = {.stall_timeout = 300 * GOC_MILLISECOND * slack,
                               .timeout = 600 * GOC_MILLISECOND * slack,
                               .proxy = ""};
    c = goc_http_client_new(&to);
    t0 = goc_now();
    rc = goc_http_client_get(c, furl(f, "/"), &resp);
    GO_CHECK(rc == 0, "timeout head: %s", goc_errmsg());
    if (rc == 0) {
        size_t len;
        rc = goc_http_response_read_all(resp, &body, &len, 1000);
        GO_CHECK(rc == -ETIMEDOUT, "whole timeout: %d %s", rc, goc_errmsg());
        int64_t el = goc_now() - t0;
        GO_CHECK(el >= 500 * GOC_MILLISECOND && el < 3 * GOC_SECOND * slack, "took %lld ms",
                 (long long)test_ms(el));
        goc_http_response_free(resp);
    }
    goc_http_client_free(c);
    fake_stop(f);
    return test_failed();
}

/* ---- keep-alive closed under the client: retries ----------------------------- */

/* The first connection answers one request, reads the second and closes
 * without a word; later ones answer everything. */
static void srv_close_second(fake *f, int fd, int nth)
{
    fconn *c = calloc(1, sizeof *c);
    c->fd = fd;
    if (nth == 1) {
        if (fc_req(f, c, true) && fc_send(fd, OK2))
            fc_req(f, c, true);
    } else {
        while (fc_req(f, c, true) && fc_send(fd, OK2)) {
        }
    }
    free(c);
}

/* The first connection answers one request and closes at once. */
static void srv_close_first(fake *f, int fd, int nth)
{
    fconn *c = calloc(1, sizeof *c);
    c->fd = fd;
    if (nth == 1) {
        if (fc_req(f, c, true))
            fc_send(fd, OK2);
    } else {
        while (fc_req(f, c, true) && fc_send(fd, OK2)) {
        }
    }
    free(c);
}

/* Two requests: the first a GET, the second as given; the second's
 * result, and the server's accept count. */
static int second(fake_fn fn, const char *method, const char *hdr, const char *body, int *accepts)
{
    fake *f = fake_start(fn, NULL);
    goc_http_client *c = quick_client();
    char *out;
    int st = get(c, furl(f, "/1"), &out);
    GO_CHECK(st == 200, "first: %d %s", st, goc_errmsg());
    free(out);
    if (fn == srv_close_first)
        goc_sleep(50 * GOC_MILLISECOND); /* the FIN arrives */
    st = fetch(c, furl(f, "/2"), NULL, method, hdr, body, &out);
    free(out);
    *accepts = atomic_load(&f->accepts);
    goc_http_client_free(c);
    fake_stop(f);
    return st;
}

FAULT_TEST(keep_alive_closed, 60)
{
    (void)arg;
    int n;
    int st = second(srv_close_first, "GET", NULL, NULL, &n);
    GO_CHECK(st == 200 && n == 2, "closed while idle: %d, %d accepts", st, n);
    st = second(srv_close_first, "POST", NULL, "abc", &n);
    GO_CHECK(st == 200 && n == 2, "closed while idle, POST: %d, %d accepts", st, n);
    st = second(srv_close_second, "GET", NULL, NULL, &n);
    GO_CHECK(st == 200 && n == 2, "GET retried: %d (%s), %d accepts", st, goc_errmsg(), n);
    st = second(srv_close_second, "POST", NULL, "abc", &n);
    GO_CHECK(st == -ECONNRESET && n == 1, "POST not retried: %d (%s), %d accepts", st, goc_errmsg(),
             n);
    st = second(srv_close_second, "POST", "Idempotency-Key", "abc", &n);
    GO_CHECK(st == 200 && n == 2, "POST with Idempotency-Key retried: %d (%s), %d accepts", st,
             goc_errmsg(), n);
    return test_failed();
}

/* ---- 413 before the body is sent ----------------------------------------------- */

static void srv_413(fake *f, int fd, int nth)
{
    (void)nth;
    fconn *c = calloc(1, sizeof *c);
    c->fd = fd;
    if (fc_req(f, c, false))
        fc_send(fd, "HTTP/1.1 413 Request Entity Too Large\r\nContent-Length: 9\r\n"
                    "Connection: close\r\n\r\ntoo large");
    free(c); /* and close with the body unread: a reset */
}

FAULT_TEST(early_413, 60)
{
    (void)arg;
    fake *f = fake_start(srv_413, NULL);
    goc_http_client *c = quick_client();
    size_t big = 16 << 20;
    char *data = malloc(big + 1);
    memset(data, 'b', big);
    data[big] = 0;
    for (int i = 0; i < 3; i++) {
        char *body;
        int st = fetch(c, furl(f, "/up"), NULL, "POST", NULL, data, &body);
        GO_CHECK(st == 413 && body && strcmp(body, "too large") == 0, "413: %d (%s) %s", st,
                 goc_errmsg(), body ? body : "");
        free(body);
    }
    free(data);
    goc_http_client_free(c);
    fake_stop(f);
    return test_failed();
}

/* ---- connection reuse --------------------------------------------------------- */

typedef enum { R_HEAD, R_EXTRA, R_EXTRA_LATE, R_CLOSE_FIELD, R_HTTP10 } reuse_mode;

static void srv_reuse(fake *f, int fd, int nth)
{
    reuse_mode m = *(const reuse_mode *)f->arg;
    fconn *c = calloc(1, sizeof *c);
    c->fd = fd;
    while (fc_req(f, c, true)) {
        bool ok = true;
        if (nth == 1 && strncmp(c->head, "HEAD ", 5) == 0)
            ok = fc_send(fd, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n");
        else if (nth == 1 && m == R_EXTRA)
            ok = fc_send(fd, OK2 "EXTRA");
        else if (nth == 1 && m == R_EXTRA_LATE) {
            ok = fc_send(fd, OK2);
            goc_sleep(30 * GOC_MILLISECOND);
            ok = ok && fc_send(fd, "EXTRA");
        } else if (nth == 1 && m == R_CLOSE_FIELD)
            ok = fc_send(fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
        else if (nth == 1 && m == R_HTTP10)
            ok = fc_send(fd, "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok");
        else
            ok = fc_send(fd, OK2);
        if (!ok)
            break;
    }
    free(c);
}

FAULT_TEST(reuse, 60)
{
    (void)arg;
    static const struct {
        reuse_mode m;
        const char *name;
        int accepts;
    } cases[] = {{R_HEAD, "HEAD with a length", 1},
                 {R_EXTRA, "bytes after the body", 2},
                 {R_EXTRA_LATE, "bytes after the body, later", 2},
                 {R_CLOSE_FIELD, "Connection: close", 2},
                 {R_HTTP10, "HTTP/1.0", 2}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        fake *f = fake_start(srv_reuse, &cases[i].m);
        goc_http_client *c = quick_client();
        char *body;
        if (cases[i].m == R_HEAD) { /* Go: the length of what GET would give */
            goc_http_client_request *req;
            goc_http_new_request(NULL, "HEAD", furl(f, "/0"), &req);
            goc_http_response *resp;
            int rc = goc_http_client_do(c, req, &resp);
            GO_CHECK(rc == 0 && resp->content_length == 1000, "HEAD length %lld",
                     rc == 0 ? (long long)resp->content_length : (long long)rc);
            if (rc == 0)
                goc_http_response_free(resp);
            goc_http_client_request_free(req);
        }
        int st =
            fetch(c, furl(f, "/1"), NULL, cases[i].m == R_HEAD ? "HEAD" : "GET", NULL, NULL, &body);
        GO_CHECK(st == 200 && body && strcmp(body, cases[i].m == R_HEAD ? "" : "ok") == 0,
                 "%s: first %d %s", cases[i].name, st, body ? body : "");
        free(body);
        goc_sleep(60 * GOC_MILLISECOND);
        st = get(c, furl(f, "/2"), &body);
        GO_CHECK(st == 200 && body && strcmp(body, "ok") == 0, "%s: second %d (%s)", cases[i].name,
                 st, goc_errmsg());
        free(body);
        GO_CHECK(atomic_load(&f->accepts) == cases[i].accepts, "%s: %d accepts", cases[i].name,
                 atomic_load(&f->accepts));
        goc_http_client_free(c);
        fake_stop(f);
    }
    return test_failed();
}

/* ---- the pool: limit, close_idle, idle timeout -------------------------------- */

static bool wait_eofs(fake *f, int n)
{
    int64_t end = goc_now() + 3 * GOC_SECOND * test_slack();
    while (atomic_load(&f->eofs) < n && goc_now() < end)
        goc_sleep(5 * GOC_MILLISECOND);
    return atomic_load(&f->eofs) >= n;
}

FAULT_TEST(pool, 60)
{
    (void)arg;
    fake *f = fake_start(srv_ok, NULL);
    goc_http_client_opts o = {.stall_timeout = 300 * GOC_MILLISECOND * test_slack(),
                              .max_conns_per_host = 1,
                              .proxy = ""};
    goc_http_client *c = goc_http_client_new(&o);
    /* The one connection is held by a response not read yet. */
    goc_http_response *held;
    int rc = goc_http_client_get(c, furl(f, "/held"), &held);
    GO_CHECK(rc == 0, "held: %s", goc_errmsg());
    goc_ctx *ctx = goc_ctx_with_cancel(goc_ctx_background());
    goc_go(cancel_after, ctx);
    char *body;
    int64_t t0 = goc_now();
    int st = fetch(c, furl(f, "/waiter"), ctx, "GET", NULL, NULL, &body);
    GO_CHECK(st == -ECANCELED, "waiter: %d %s", st, goc_errmsg());
    GO_CHECK(goc_now() - t0 < 2 * GOC_SECOND * test_slack(), "waiter slow");
    free(body);
    goc_ctx_release(ctx);
    ctx = goc_ctx_with_timeout(goc_ctx_background(), 100 * GOC_MILLISECOND);
    st = fetch(c, furl(f, "/waiter"), ctx, "GET", NULL, NULL, &body);
    GO_CHECK(st == -ETIMEDOUT, "waiter deadline: %d %s", st, goc_errmsg());
    free(body);
    goc_ctx_release(ctx);
    if (rc == 0)
        goc_http_response_free(held); /* the body is buffered: kept */
    st = get(c, furl(f, "/after"), &body);
    GO_CHECK(st == 200, "the slot came back: %d %s", st, goc_errmsg());
    free(body);
    st = get(c, furl(f, "/again"), &body);
    GO_CHECK(st == 200, "again: %d %s", st, goc_errmsg());
    free(body);
    GO_CHECK(atomic_load(&f->accepts) == 1, "%d accepts", atomic_load(&f->accepts));
    /* close_idle: the server sees the EOF */
    goc_http_client_close_idle(c);
    GO_CHECK(wait_eofs(f, 1), "no EOF after close_idle");
    st = get(c, furl(f, "/new"), &body);
    GO_CHECK(st == 200 && atomic_load(&f->accepts) == 2, "after close_idle: %d, %d accepts", st,
             atomic_load(&f->accepts));
    free(body);
    goc_http_client_free(c);
    GO_CHECK(wait_eofs(f, 2), "no EOF after free");
    fake_stop(f);

    /* idle_conn_timeout */
    f = fake_start(srv_ok, NULL);
    goc_http_client_opts io = {.stall_timeout = 300 * GOC_MILLISECOND * test_slack(),
                               .idle_conn_timeout = 100 * GOC_MILLISECOND,
                               .proxy = ""};
    c = goc_http_client_new(&io);
    st = get(c, furl(f, "/1"), &body);
    free(body);
    st = get(c, furl(f, "/2"), &body);
    free(body);
    GO_CHECK(st == 200 && atomic_load(&f->accepts) == 1, "reused: %d accepts",
             atomic_load(&f->accepts));
    goc_sleep(250 * GOC_MILLISECOND);
    st = get(c, furl(f, "/3"), &body);
    free(body);
    GO_CHECK(st == 200 && atomic_load(&f->accepts) == 2, "expired: %d accepts",
             atomic_load(&f->accepts));
    goc_http_client_free(c);
    fake_stop(f);
    return test_failed();
}

/* ---- credentials in the URL -------------------------------------------------- */

static void srv_auth(fake *f, int fd, int nth)
{
    (void)nth;
    fconn *c = calloc(1, sizeof *c);
    c->fd = fd;
    while (fc_req(f, c, true)) {
        bool ok = strstr(c->head, "\r\nAuthorization: Basic dXNlcjpwdw==\r\n") != NULL;
        if (!fc_send(fd, ok ? OK2 : "HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n"))
            break;
    }
    free(c);
}

FAULT_TEST(userinfo, 30)
{
    (void)arg;
    fake *f = fake_start(srv_auth, NULL);
    goc_http_client *c = quick_client();
    char u[128], *body;
    snprintf(u, sizeof u, "http://user:pw@127.0.0.1:%d/x", f->port);
    int st = get(c, u, &body);
    GO_CHECK(st == 200, "userinfo: %d %s", st, goc_errmsg());
    free(body);
    st = get(c, furl(f, "/x"), &body);
    GO_CHECK(st == 401, "without: %d", st);
    free(body);
    goc_http_client_free(c);
    fake_stop(f);
    return test_failed();
}

/* ---- a forward proxy -------------------------------------------------------- */

typedef struct relay {
    int from, to;
    goc_waitgroup *wg;
} relay;

static void relay_run(void *arg)
{
    relay *r = arg;
    char buf[16384];
    ssize_t n;
    while ((n = goc_read(r->from, buf, sizeof buf)) > 0)
        if (goc_write(r->to, buf, (size_t)n) != n)
            break;
    shutdown(r->to, SHUT_WR);
    goc_waitgroup_done(r->wg);
}

/* Absolute-form requests are answered here ("proxied"); CONNECT is
 * refused (arg "refuse") or tunnelled to its target. */
static void srv_proxy(fake *f, int fd, int nth)
{
    fconn *c = calloc(1, sizeof *c);
    c->fd = fd;
    while (fc_req(f, c, true)) {
        if (strncmp(c->head, "CONNECT ", 8) == 0) {
            if (f->arg && strcmp(f->arg, "refuse") == 0) {
                fc_send(fd, "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");
                break;
            }
            if (f->arg && strcmp(f->arg, "endless") == 0) {
                if (fc_send(fd, "HTTP/1.1 200 OK\r\n"))
                    while (fc_send(fd, "X-Endless: aaaaaaaaaaaaaaaaaaaaaaaaa\r\n")) {
                    }
                break;
            }
            if (f->arg && (strcmp(f->arg, "silent") == 0 ||
                           (strcmp(f->arg, "silent-first") == 0 && nth == 1))) {
                while (fc_fill(c)) {
                }
                break;
            }
            char target[128] = "";
            sscanf(c->head + 8, "%127s", target);
            int up = goc_dial("tcp", target, GOC_SECOND);
            if (up < 0) {
                fc_send(fd, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n");
                break;
            }
            goc_set_deadline(up, goc_now() + 20 * GOC_SECOND * test_slack());
            fc_send(fd, "HTTP/1.1 200 Connection established\r\n\r\n");
            goc_waitgroup wg = {0};
            relay a = {fd, up, &wg}, b = {up, fd, &wg};
            goc_waitgroup_add(&wg, 2);
            goc_go(relay_run, &a);
            goc_go(relay_run, &b);
            goc_waitgroup_wait(&wg);
            goc_close(up);
            break;
        }
        if (!fc_send(fd, "HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nproxied"))
            break;
    }
    free(c);
}

/* A TLS origin: one request, "secret" back. */
static void srv_tls(fake *f, int fd, int nth)
{
    (void)nth;
    goc_tls_conn *t = goc_tls_server(fd, (goc_tls_config *)f->arg);
    if (t && goc_tls_handshake(t) == 0) {
        char buf[4096];
        size_t len = 0;
        ssize_t n;
        while (len < sizeof buf - 1 && (n = goc_tls_read(t, buf + len, sizeof buf - 1 - len)) > 0) {
            len += (size_t)n;
            buf[len] = 0;
            if (strstr(buf, "\r\n\r\n"))
                break;
        }
        goc_mutex_lock(&f->mu);
        snprintf(f->last, sizeof f->last, "%s", buf);
        goc_mutex_unlock(&f->mu);
        static const char r[] = "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecret";
        goc_tls_write(t, r, sizeof r - 1);
        goc_tls_close_notify(t);
    }
    goc_tls_free(t);
}

FAULT_TEST(proxy, 60)
{
    (void)arg;
    GO_CHECK(tls_pki_make(), "pki");
    fake *p = fake_start(srv_proxy, NULL);
    goc_tls_config *scfg = tls_server_cfg("good", "http/1.1");
    fake *origin = fake_start(srv_tls, scfg);
    char proxy[128];
    snprintf(proxy, sizeof proxy, "http://user:pw@127.0.0.1:%d", p->port);
    goc_http_client_opts o = {.stall_timeout = 2 * GOC_SECOND * test_slack(),
                              .proxy = proxy,
                              .tls = tls_client_cfg("http/1.1")};
    goc_http_client *c = goc_http_client_new(&o);
    char *body, seen[8192];
    int st = get(c, "http://example.invalid:8080/a?b=1", &body);
    GO_CHECK(st == 200 && body && strcmp(body, "proxied") == 0, "http via proxy: %d %s", st,
             goc_errmsg());
    free(body);
    fake_snapshot(p, seen, sizeof seen);
    GO_CHECK(strncmp(seen, "GET http://example.invalid:8080/a?b=1 HTTP/1.1\r\n", 48) == 0,
             "absolute-form: %s", seen);
    GO_CHECK(strstr(seen, "\r\nProxy-Authorization: Basic dXNlcjpwdw==\r\n"), "proxy auth: %s",
             seen);
    GO_CHECK(strstr(seen, "\r\nHost: example.invalid:8080\r\n"), "host: %s", seen);
    /* https: a CONNECT, then TLS to the origin through the tunnel */
    char u[128];
    snprintf(u, sizeof u, "https://localhost:%d/s", origin->port);
    st = get(c, u, &body);
    GO_CHECK(st == 200 && body && strcmp(body, "secret") == 0, "https via proxy: %d %s", st,
             goc_errmsg());
    free(body);
    fake_snapshot(p, seen, sizeof seen);
    char want[128];
    snprintf(want, sizeof want, "CONNECT localhost:%d HTTP/1.1\r\n", origin->port);
    GO_CHECK(strncmp(seen, want, strlen(want)) == 0, "CONNECT line: %s", seen);
    GO_CHECK(strstr(seen, "\r\nProxy-Authorization: Basic dXNlcjpwdw==\r\n"), "CONNECT auth: %s",
             seen);
    fake_snapshot(origin, seen, sizeof seen);
    GO_CHECK(strncmp(seen, "GET /s HTTP/1.1\r\n", 17) == 0, "origin-form in the tunnel: %s", seen);
    goc_http_client_free(c);
    fake_stop(p);
    /* a refused CONNECT */
    p = fake_start(srv_proxy, "refuse");
    snprintf(proxy, sizeof proxy, "http://127.0.0.1:%d", p->port);
    c = goc_http_client_new(&o);
    st = get(c, u, &body);
    GO_CHECK(st == GOC_EHTTP_PROXY, "refused CONNECT: %d %s", st, goc_errmsg());
    free(body);
    goc_http_client_free(c);
    fake_stop(p);
    /* a CONNECT answered with endless headers, or not at all */
    p = fake_start(srv_proxy, "endless");
    snprintf(proxy, sizeof proxy, "http://127.0.0.1:%d", p->port);
    c = goc_http_client_new(&o);
    st = get(c, u, &body);
    GO_CHECK(st == GOC_EHTTP_HEADER_TOO_LARGE, "endless CONNECT answer: %d %s", st, goc_errmsg());
    free(body);
    goc_http_client_free(c);
    fake_stop(p);
    p = fake_start(srv_proxy, "silent");
    snprintf(proxy, sizeof proxy, "http://127.0.0.1:%d", p->port);
    o.stall_timeout = 300 * GOC_MILLISECOND * test_slack();
    c = goc_http_client_new(&o);
    int64_t t0 = goc_now();
    st = get(c, u, &body);
    GO_CHECK(st == -ETIMEDOUT, "silent CONNECT: %d %s", st, goc_errmsg());
    GO_CHECK(goc_now() - t0 < 2 * GOC_SECOND * test_slack(), "silent CONNECT: %lld ms",
             (long long)test_ms(goc_now() - t0));
    free(body);
    goc_http_client_free(c);
    fake_stop(p);
    fake_stop(origin);
    goc_tls_config_release(o.tls);
    goc_tls_config_release(scfg);
    return test_failed();
}

/* The environment's proxy: loopback goes direct (as Go), another host
 * through it. */
FAULT_TEST(env_proxy_loopback_direct, 30)
{
    (void)arg;
    fake *p = fake_start(srv_proxy, NULL);
    fake *f = fake_start(srv_ok, NULL);
    char proxy[128];
    snprintf(proxy, sizeof proxy, "http://127.0.0.1:%d", p->port);
    static const char *const vars[] = {"http_proxy", "HTTPS_PROXY", "https_proxy",
                                       "NO_PROXY",   "no_proxy",    "REQUEST_METHOD"};
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++)
        unsetenv(vars[i]);
    setenv("HTTP_PROXY", proxy, 1);
    goc_http_client_opts o = {.stall_timeout = 2 * GOC_SECOND * test_slack()};
    goc_http_client *c = goc_http_client_new(&o);
    unsetenv("HTTP_PROXY");
    char *body;
    int st = get(c, furl(f, "/direct"), &body);
    GO_CHECK(st == 200 && body && strcmp(body, "ok") == 0, "loopback: %d %s", st, goc_errmsg());
    free(body);
    char u[64];
    snprintf(u, sizeof u, "http://localhost:%d/direct", f->port);
    st = get(c, u, &body);
    GO_CHECK(st == 200 && body && strcmp(body, "ok") == 0, "localhost: %d %s", st, goc_errmsg());
    free(body);
    GO_CHECK(atomic_load(&p->accepts) == 0, "the proxy was used for loopback");
    st = get(c, "http://example.invalid/x", &body);
    GO_CHECK(st == 200 && body && strcmp(body, "proxied") == 0, "other host: %d %s", st,
             goc_errmsg());
    free(body);
    goc_http_client_free(c);
    fake_stop(f);
    fake_stop(p);
    return test_failed();
}

/* ---- ctx cancelled while connecting ------------------------------------------ */

/* The first connection reads (a ClientHello) and never answers; later
 * ones are srv_tls. */
static void srv_mute_first(fake *f, int fd, int nth)
{
    if (nth > 1) {
        srv_tls(f, fd, nth);
        return;
    }
    char b[4096];
    while (goc_read(fd, b, sizeof b) > 0) {
    }
    atomic_fetch_add(&f->eofs, 1);
}

/* A listener on 127.0.0.1 whose backlog is full (the kernel drops
 * further SYNs), the connections that fill it in held[]; -1 if the kernel
 * queued every SYN. */
static int full_listener(int held[32], int *nheld)
{
    goc_listen_opts lo = {.backlog = 1};
    int lfd = goc_listen_with("tcp4", "127.0.0.1:0", &lo);
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", sock_port(lfd));
    goc_duration t = 150 * GOC_MILLISECOND;
    for (*nheld = 0; lfd >= 0 && *nheld < 32;) {
        int c = goc_dial("tcp4", addr, t);
        if (c == -ETIMEDOUT && t > 150 * GOC_MILLISECOND)
            return lfd; /* full: a second, longer dial confirms */
        if (c == -ETIMEDOUT) {
            t = 500 * GOC_MILLISECOND * test_slack();
            continue;
        }
        if (c < 0)
            break;
        held[(*nheld)++] = c;
        t = 150 * GOC_MILLISECOND;
    }
    for (int i = 0; i < *nheld; i++)
        goc_close(held[i]);
    if (lfd >= 0)
        goc_close(lfd);
    return -1;
}

/* GET u with a ctx cancelled 200 ms in: the error, checked to come soon
 * after the cancel and as Go's `Get "u": context canceled`; *awaiting:
 * it came while sending the request or awaiting the response instead
 * (the connection was made). */
static int get_cancelled(goc_http_client *c, const char *u, bool *awaiting)
{
    goc_ctx *ctx = goc_ctx_with_cancel(goc_ctx_background());
    goc_go(cancel_after, ctx);
    char *body;
    int64_t t0 = goc_now();
    int rc = fetch(c, u, ctx, "GET", NULL, NULL, &body);
    int64_t el = goc_now() - t0;
    free(body);
    char want[256];
    snprintf(want, sizeof want, "Get \"%s\": context canceled", u);
    *awaiting = strstr(goc_errmsg(), "http: request canceled while") != NULL;
    GO_CHECK(rc == -ECANCELED, "%s: %d %s", u, rc, goc_errmsg());
    GO_CHECK(*awaiting || strcmp(goc_errmsg(), want) == 0, "errmsg %s, want %s", goc_errmsg(),
             want);
    /* 200 ms to the cancel, then about at once (< 3 s on a loaded box) */
    GO_CHECK(el < 200 * GOC_MILLISECOND + 3 * GOC_SECOND * test_slack(), "%s: returned %lld ms in",
             u, (long long)test_ms(el));
    while (goc_ctx_err(ctx) == 0) /* cancel_after is done with ctx */
        goc_sleep(GOC_MILLISECOND);
    goc_ctx_release(ctx);
    return rc;
}

/* The host's only connection slot (max_conns_per_host 1) was given back:
 * a request that follows gets one (or fails at its 5 s ctx, not hangs). */
static void check_slot(goc_http_client *c, const char *u, const char *want)
{
    goc_ctx *ctx = goc_ctx_with_timeout(goc_ctx_background(), 5 * GOC_SECOND * test_slack());
    char *body;
    int st = fetch(c, u, ctx, "GET", NULL, NULL, &body);
    GO_CHECK(st == 200 && body && strcmp(body, want) == 0, "after the cancel, %s: %d %s", u, st,
             goc_errmsg());
    free(body);
    goc_ctx_release(ctx);
}

/* Cancelled while dialling (a listener whose backlog is full), while the
 * TLS handshake stalls, and while a proxy's CONNECT answer stalls: each
 * returns -ECANCELED at once, not at dial_timeout or
 * tls_handshake_timeout, and leaves the host's slot free. */
FAULT_TEST(cancel_while_connecting, 120)
{
    (void)arg;
    GO_CHECK(tls_pki_make(), "pki");
    goc_http_client_opts o = {.stall_timeout = 30 * GOC_SECOND,
                              .max_conns_per_host = 1,
                              .proxy = "",
                              .tls = tls_client_cfg("http/1.1")};
    char u[128];
    bool awaiting = true;
    /* dialling; a SYN the kernel let through makes the case prove
     * nothing (the cancel then comes while awaiting the response): again */
    for (int tries = 0; tries < 5 && awaiting; tries++) {
        int held[32], nheld;
        int lfd = full_listener(held, &nheld);
        if (lfd < 0)
            continue;
        goc_http_client *c = goc_http_client_new(&o);
        snprintf(u, sizeof u, "http://127.0.0.1:%d/", sock_port(lfd));
        get_cancelled(c, u, &awaiting);
        for (int i = 0; i < nheld; i++)
            goc_close(held[i]);
        fake *f = fake_start_on(lfd, srv_ok, NULL);
        check_slot(c, u, "ok");
        goc_http_client_free(c);
        fake_stop(f);
    }
    if (awaiting)
        fprintf(stderr, "cancel while dialling: not checked (the kernel queued every SYN)\n");

    /* the TLS handshake */
    goc_tls_config *scfg = tls_server_cfg("good", "http/1.1");
    fake *f = fake_start(srv_mute_first, scfg);
    goc_http_client *c = goc_http_client_new(&o);
    snprintf(u, sizeof u, "https://localhost:%d/", f->port);
    get_cancelled(c, u, &awaiting);
    GO_CHECK(!awaiting, "TLS: cancelled while awaiting headers");
    GO_CHECK(wait_eofs(f, 1), "TLS: the connection was not closed");
    check_slot(c, u, "secret");
    goc_http_client_free(c);

    /* the CONNECT answer */
    fake *p = fake_start(srv_proxy, "silent-first");
    char proxy[128];
    snprintf(proxy, sizeof proxy, "http://127.0.0.1:%d", p->port);
    o.proxy = proxy;
    c = goc_http_client_new(&o);
    get_cancelled(c, u, &awaiting);
    GO_CHECK(!awaiting, "CONNECT: cancelled while awaiting headers");
    check_slot(c, u, "secret");
    goc_http_client_free(c);
    fake_stop(p);
    fake_stop(f);
    goc_tls_config_release(o.tls);
    goc_tls_config_release(scfg);
    return test_failed();
}
