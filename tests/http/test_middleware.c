/*
 * test_middleware.c — the canned replies and the handler wrappers over a
 * real server: Error and NotFound (headers and body), Redirect (relative
 * urls made absolute and cleaned, the HTML body only for GET, escaping),
 * StripPrefix (path and raw_path, 404 without the prefix), MaxBytesHandler
 * (413 and a closed connection), the access log's line, and
 * TimeoutHandler (pass-through, 503, the inner ctx cancelled, its late
 * write refused, no goroutine left behind).
 */
#include <poll.h>
#include <stdatomic.h>

#include <criterion/criterion.h>
#include <strings.h>

#include "http/serverutil.h"

#define CLOSE "Connection: close\r\n"

/* One request on a new connection into rep (its previous body freed). */
static void rt(test_server *t, const char *req, test_resp *rep)
{
    test_resp_free(rep);
    test_roundtrip(t, req, rep);
}

static bool header_is(const test_resp *r, const char *name, const char *want)
{
    char v[512];
    const char *got = test_field(r, name, v, sizeof v);
    return want ? got && strcmp(got, want) == 0 : got == NULL;
}

/* ---- Error, NotFound ------------------------------------------------------ */

static void error_handler(goc_http_response_writer *w, goc_http_request *r, void *arg)
{
    (void)arg;
    goc_http_header *h = goc_http_response_header(w);
    if (strcmp(r->path, "/nf") == 0) {
        goc_http_not_found(w, r);
        return;
    }
    goc_http_header_set(h, "Content-Length", "100"); /* meant for another body */
    goc_http_header_set(h, "Content-Type", "application/json");
    goc_http_error(w, "teapot here", 418);
}

static int error_main(void *arg)
{
    (void)arg;
    test_server t;
    test_resp rep = {0};
    if (!test_server_start(&t, (goc_http_handler){error_handler, NULL}, NULL))
        return 1;
    rt(&t, "GET / HTTP/1.1\r\nHost: x\r\n" CLOSE "\r\n", &rep);
    GO_CHECK(rep.status == 418, "status %d", rep.status);
    GO_CHECK(header_is(&rep, "Content-Type", "text/plain; charset=utf-8"), "%s", rep.head);
    GO_CHECK(header_is(&rep, "X-Content-Type-Options", "nosniff"), "%s", rep.head);
    GO_CHECK(header_is(&rep, "Content-Length", "12"), "%s", rep.head);
    GO_CHECK(test_body_is(&rep, "teapot here\n"), "%s", rep.head);

    rt(&t, "GET /nf HTTP/1.1\r\nHost: x\r\n" CLOSE "\r\n", &rep);
    GO_CHECK(rep.status == 404, "status %d", rep.status);
    GO_CHECK(header_is(&rep, "X-Content-Type-Options", "nosniff"), "%s", rep.head);
    GO_CHECK(test_body_is(&rep, "404 page not found\n"), "%s", rep.head);
    test_resp_free(&rep);
    test_server_stop(&t);
    return 0;
}

Test(reply, error_and_not_found, .timeout = 20)
{
    cr_assert_eq(run_main(error_main, NULL), 0);
}

/* ---- Redirect --------------------------------------------------------------- */

/* Redirects to the X-To field's value with the code in X-Code. */
static void redirect_handler(goc_http_response_writer *w, goc_http_request *r, void *arg)
{
    (void)arg;
    const char *to = goc_http_header_get(r->header, "X-To");
    const char *code = goc_http_header_get(r->header, "X-Code");
    if (goc_http_header_get(r->header, "X-Set-Type"))
        goc_http_header_set(goc_http_response_header(w), "Content-Type", "text/x-mine");
    goc_http_redirect(w, r, to ? to : "", code ? atoi(code) : 302);
}

typedef struct redirect_case {
    const char *method, *target, *to;
    int code;
    const char *want_location;
    const char *want_body; /* NULL: no body */
    bool set_type;         /* the handler sets its own Content-Type */
} redirect_case;

static const redirect_case redirects[] = {
    {"GET", "/a/b/c", "../d?x=1", 301, "/a/d?x=1",
     "<a href=\"/a/d?x=1\">Moved Permanently</a>.\n\n", false},
    {"GET", "/a/b", "c/", 302, "/a/c/", "<a href=\"/a/c/\">Found</a>.\n\n", false},
    {"GET", "/a/b/", "./", 307, "/a/b/", "<a href=\"/a/b/\">Temporary Redirect</a>.\n\n", false},
    {"GET", "/a", "/x//y/./z/..", 303, "/x/y", "<a href=\"/x/y\">See Other</a>.\n\n", false},
    {"GET", "/a", "http://e.com/../x", 302, "http://e.com/../x",
     "<a href=\"http://e.com/../x\">Found</a>.\n\n", false},
    {"GET", "/a", "//host/../p", 302, "//host/../p", "<a href=\"//host/../p\">Found</a>.\n\n",
     false},
    {"GET", "/", "/q?a=<b>&c=\"'", 302, "/q?a=<b>&c=\"'",
     "<a href=\"/q?a=&lt;b&gt;&amp;c=&#34;&#39;\">Found</a>.\n\n", false},
    {"GET", "/", "/caf\xC3\xA9", 302, "/caf%c3%a9", "<a href=\"/caf\xC3\xA9\">Found</a>.\n\n",
     false},
    {"GET", "/a/b", "%zz/../x", 302, "%zz/../x", "<a href=\"%zz/../x\">Found</a>.\n\n", false},
    {"HEAD", "/a/b", "c", 301, "/a/c", NULL, false},
    {"POST", "/a/b", "c", 303, "/a/c", NULL, false},
    {"GET", "/a/b", "c", 302, "/a/c", NULL, true},
};

static int redirect_main(void *arg)
{
    (void)arg;
    test_server t;
    if (!test_server_start(&t, (goc_http_handler){redirect_handler, NULL}, NULL))
        return 1;
    for (size_t i = 0; i < sizeof redirects / sizeof redirects[0]; i++) {
        const redirect_case *c = &redirects[i];
        char req[1024];
        test_resp rep = {0};
        snprintf(req, sizeof req,
                 "%s %s HTTP/1.1\r\nHost: x\r\nX-To: %s\r\nX-Code: %d\r\n%sContent-Length: "
                 "0\r\n" CLOSE "\r\n",
                 c->method, c->target, c->to, c->code, c->set_type ? "X-Set-Type: 1\r\n" : "");
        rt(&t, req, &rep);
        GO_CHECK(rep.status == c->code, "case %zu: status %d", i, rep.status);
        GO_CHECK(header_is(&rep, "Location", c->want_location), "case %zu:\n%s", i, rep.head);
        bool get_or_head = !strcmp(c->method, "GET") || !strcmp(c->method, "HEAD");
        const char *ct = c->set_type   ? "text/x-mine"
                         : get_or_head ? "text/html; charset=utf-8"
                                       : NULL;
        GO_CHECK(header_is(&rep, "Content-Type", ct), "case %zu:\n%s", i, rep.head);
        GO_CHECK(test_body_is(&rep, c->want_body ? c->want_body : ""), "case %zu:\n%s", i,
                 rep.head);
        test_resp_free(&rep);
    }
    test_server_stop(&t);
    return 0;
}

Test(reply, redirect, .timeout = 20)
{
    cr_assert_eq(run_main(redirect_main, NULL), 0);
}

/* ---- StripPrefix -------------------------------------------------------------- */

static void show_path(goc_http_response_writer *w, goc_http_request *r, void *arg)
{
    (void)arg;
    goc_http_printf(w, "path=[%s] raw=[%s] q=[%s]", r->path, r->raw_path,
                    goc_http_query_get(r, "q") ? goc_http_query_get(r, "q") : "");
}

static goc_http_handler api, space;

/* "/a b..." to one wrapper, the rest to the other. */
static void route(goc_http_response_writer *w, goc_http_request *r, void *arg)
{
    (void)arg;
    goc_http_serve_http(strncmp(r->path, "/a b", 4) == 0 ? space : api, w, r);
}

static int strip_main(void *arg)
{
    (void)arg;
    goc_http_handler inner = {show_path, NULL};
    api = goc_http_strip_prefix("/api", inner);
    space = goc_http_strip_prefix("/a b", inner);
    GO_CHECK(api.fn && space.fn, "setup");
    goc_http_handler none = goc_http_strip_prefix("", inner);
    GO_CHECK(none.fn == inner.fn, "an empty prefix wraps nothing");
    static const struct {
        const char *target;
        int status;
        const char *body;
    } cases[] = {
        {"/api/x%20y?q=1", 200, "path=[/x y] raw=[/x%20y] q=[1]"},
        {"/api", 200, "path=[] raw=[] q=[]"},
        {"/apix", 200, "path=[x] raw=[x] q=[]"},
        {"/other", 404, "404 page not found\n"},
        {"/a%20b/c", 200, "path=[/c] raw=[/c] q=[]"},
        /* raw_path is not path's default escaping and lacks the prefix:
         * Go's RawPath would not strip either. */
        {"/a%20b%2Fc", 404, "404 page not found\n"},
        {"/a%20b/%2F", 404, "404 page not found\n"},
    };
    test_server t;
    if (!test_server_start(&t, (goc_http_handler){route, NULL}, NULL))
        return 1;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char req[512];
        test_resp rep = {0};
        snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\n" CLOSE "\r\n", cases[i].target);
        rt(&t, req, &rep);
        GO_CHECK(rep.status == cases[i].status, "%s: status %d", cases[i].target, rep.status);
        GO_CHECK(test_body_is(&rep, cases[i].body), "%s:\n%s", cases[i].target, rep.head);
        test_resp_free(&rep);
    }
    test_server_stop(&t);
    return 0;
}

Test(middleware, strip_prefix, .timeout = 20)
{
    cr_assert_eq(run_main(strip_main, NULL), 0);
}

/* ---- MaxBytesHandler -------------------------------------------------------- */

static atomic_int body_rc;

/* Reads the whole body; on an error writes nothing, so the server's own
 * 413 goes out. */
static void read_body(goc_http_response_writer *w, goc_http_request *r, void *arg)
{
    (void)arg;
    char *data;
    size_t len;
    int rc = goc_http_body_read_all(r, &data, &len, 1 << 20);
    atomic_store(&body_rc, rc);
    if (rc < 0)
        return;
    goc_http_write(w, data, len);
    free(data);
}

/* Wrappers live as long as the program (as in a mux): held here, they
 * stay reachable for LeakSanitizer. */
static goc_http_handler h, h1, h2, hf, hs;

static int max_bytes_main(void *arg)
{
    (void)arg;
    h = goc_http_max_bytes_handler((goc_http_handler){read_body, NULL}, 10);
    GO_CHECK(h.fn, "setup");
    test_server t;
    test_resp rep = {0};
    if (!test_server_start(&t, h, NULL))
        return 1;
    rt(&t, "POST / HTTP/1.1\r\nHost: x\r\n" CLOSE "Content-Length: 10\r\n\r\n0123456789", &rep);
    GO_CHECK(rep.status == 200 && test_body_is(&rep, "0123456789"), "at the limit:\n%s", rep.head);

    char req[256];
    snprintf(req, sizeof req, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\n\r\n%s",
             "0123456789012345678901234567890123456789");
    rt(&t, req, &rep); /* keep-alive asked: the server must close */
    GO_CHECK(atomic_load(&body_rc) == GOC_EHTTP_BODY_TOO_LARGE, "read: %d", atomic_load(&body_rc));
    GO_CHECK(rep.status == 413, "past the limit: status %d\n%s", rep.status, rep.head);
    GO_CHECK(rep.closed, "past the limit: the connection stayed open");

    rt(&t,
       "POST / HTTP/1.1\r\nHost: x\r\n" CLOSE
       "Transfer-Encoding: chunked\r\n\r\n8\r\n01234567\r\n8\r\n01234567\r\n0\r\n\r\n",
       &rep);
    GO_CHECK(rep.status == 413 && rep.closed, "chunked past the limit:\n%s", rep.head);
    test_resp_free(&rep);
    test_server_stop(&t);
    return 0;
}

Test(middleware, max_bytes, .timeout = 30)
{
    cr_assert_eq(run_main(max_bytes_main, NULL), 0);
}

/* ---- access log ----------------------------------------------------------------- */

static void created(goc_http_response_writer *w, goc_http_request *r, void *arg)
{
    (void)r, (void)arg;
    goc_http_write_header(w, 201);
    goc_http_write_str(w, "hello");
}

static void silent(goc_http_response_writer *w, goc_http_request *r, void *arg)
{
    (void)w, (void)r, (void)arg;
}

/* One line from the pipe (waits up to 2 s). */
static ssize_t read_line(int fd, char *buf, size_t cap)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, 2000) != 1)
        return -1;
    ssize_t n = read(fd, buf, cap - 1);
    if (n >= 0)
        buf[n] = '\0';
    return n;
}

/* The line less its "[time]", which is checked for nginx's shape. */
static bool line_is(const char *line, const char *before, const char *after)
{
    size_t b = strlen(before);
    if (strncmp(line, before, b) != 0 || line[b] != '[')
        return false;
    int day, year, hh, mm, ss, zone;
    char mon[4], sign;
    if (sscanf(line + b, "[%2d/%3s/%4d:%2d:%2d:%2d %c%4d]", &day, mon, &year, &hh, &mm, &ss, &sign,
               &zone) != 8 ||
        (sign != '+' && sign != '-') || line[b + 27] != ']')
        return false;
    return strcmp(line + b + 28, after) == 0;
}

static int access_log_main(void *arg)
{
    (void)arg;
    int p[2];
    GO_CHECK(pipe(p) == 0, "pipe");
    h1 = goc_http_access_log((goc_http_handler){created, NULL}, p[1]);
    h2 = goc_http_access_log((goc_http_handler){silent, NULL}, p[1]);
    test_server t1, t2;
    test_resp rep = {0};
    char line[4096];
    if (!test_server_start(&t1, h1, NULL) || !test_server_start(&t2, h2, NULL))
        return 1;

    rt(&t1,
       "GET /path?q=1&r=%22 HTTP/1.1\r\nHost: x\r\n" CLOSE
       "Referer: http://r/\"x\"\r\nUser-Agent: ua\t\\ \xC3\xA9\r\n\r\n",
       &rep);
    GO_CHECK(rep.status == 201, "status %d", rep.status);
    GO_CHECK(read_line(p[0], line, sizeof line) > 0, "no line");
    GO_CHECK(line_is(line, "127.0.0.1 - - ",
                     " \"GET /path?q=1&r=%22 HTTP/1.1\" 201 5 \"http://r/\\x22x\\x22\" "
                     "\"ua\\x09\\x5C \\xC3\\xA9\"\n"),
             "line: %s", line);

    rt(&t2, "HEAD / HTTP/1.0\r\n\r\n", &rep);
    GO_CHECK(read_line(p[0], line, sizeof line) > 0, "no line");
    GO_CHECK(line_is(line, "127.0.0.1 - - ", " \"HEAD / HTTP/1.0\" 200 0 \"-\" \"-\"\n"),
             "line: %s", line);
    test_resp_free(&rep);
    test_server_stop(&t1);
    test_server_stop(&t2);
    close(p[0]);
    close(p[1]);
    return 0;
}

Test(middleware, access_log, .timeout = 20)
{
    cr_assert_eq(run_main(access_log_main, NULL), 0);
}

/* ---- TimeoutHandler --------------------------------------------------------------- */

static atomic_int inner_ctx_err, late_write_rc, inner_done;

static void fast(goc_http_response_writer *w, goc_http_request *r, void *arg)
{
    (void)r, (void)arg;
    goc_http_header_set(goc_http_response_header(w), "X-Inner", "1");
    goc_http_write_header(w, 202);
    goc_http_write_str(w, "fast ");
    goc_http_write_str(w, r->path);
}

/* Waits for its ctx (or 5 s), then tries to write. */
static void slow(goc_http_response_writer *w, goc_http_request *r, void *arg)
{
    (void)arg;
    goc_ctx *ctx = goc_http_request_ctx(r);
    goc_case c = GOC_RECV(goc_ctx_done(ctx), NULL);
    goc_select(&c, 1, 5 * GOC_SECOND);
    atomic_store(&inner_ctx_err, goc_ctx_err(ctx));
    goc_http_header_set(goc_http_response_header(w), "X-Late", "1");
    atomic_store(&late_write_rc, (int)goc_http_write_str(w, "late"));
    atomic_store(&inner_done, 1);
}

/* Ignores its ctx: sleeps 300 ms, then writes. */
static void stubborn(goc_http_response_writer *w, goc_http_request *r, void *arg)
{
    (void)r, (void)arg;
    goc_sleep(300 * GOC_MILLISECOND);
    atomic_store(&late_write_rc, (int)goc_http_write_str(w, "late"));
    atomic_store(&inner_done, 1);
}

static bool goroutines_back_to(size_t base)
{
    int64_t end = goc_now() + 2 * GOC_SECOND;
    while (goc_numgoroutine() != base && goc_now() < end)
        goc_sleep(GOC_MILLISECOND);
    return goc_numgoroutine() == base;
}

#define TIMEOUT_BODY "<html><head><title>Timeout</title></head><body><h1>Timeout</h1></body></html>"

static int timeout_main(void *arg)
{
    (void)arg;
    size_t base = goc_numgoroutine();
    hf = goc_http_timeout_handler((goc_http_handler){fast, NULL}, GOC_SECOND, NULL);
    hs = goc_http_timeout_handler((goc_http_handler){slow, NULL}, 100 * GOC_MILLISECOND, NULL);
    test_server tf, ts;
    test_resp rep = {0};
    if (!test_server_start(&tf, hf, NULL) || !test_server_start(&ts, hs, NULL))
        return 1;

    rt(&tf, "GET /quick HTTP/1.1\r\nHost: x\r\n" CLOSE "\r\n", &rep);
    GO_CHECK(rep.status == 202 && header_is(&rep, "X-Inner", "1") &&
                 test_body_is(&rep, "fast /quick"),
             "fast:\n%s", rep.head);

    int64_t t0 = goc_now();
    rt(&ts, "GET / HTTP/1.1\r\nHost: x\r\n" CLOSE "\r\n", &rep);
    GO_CHECK(rep.status == 503 && test_body_is(&rep, TIMEOUT_BODY), "slow:\n%s", rep.head);
    GO_CHECK(header_is(&rep, "X-Late", NULL), "the inner's header went out:\n%s", rep.head);
    GO_CHECK(since_ms(t0) >= 90 && since_ms(t0) < late_ms(1000), "503 after %lld ms",
             (long long)since_ms(t0));
    /* The wrapper waited for the inner handler: all of it is done. */
    GO_CHECK(atomic_load(&inner_done) == 1, "the inner handler outlived its request");
    GO_CHECK(atomic_load(&inner_ctx_err) == -ETIMEDOUT, "inner ctx: %d",
             atomic_load(&inner_ctx_err));
    GO_CHECK(atomic_load(&late_write_rc) == GOC_EHTTP_HANDLER_TIMEOUT, "late write: %d",
             atomic_load(&late_write_rc));
    test_resp_free(&rep);
    test_server_stop(&tf);
    test_server_stop(&ts);
    GO_CHECK(goroutines_back_to(base), "%zu goroutines, %zu before", goc_numgoroutine(), base);
    return 0;
}

Test(middleware, timeout_handler, .timeout = 30)
{
    cr_assert_eq(run_main(timeout_main, NULL), 0);
}

/* A handler that ignores its ctx: its client gets the 503 (with msg) only
 * once it returned, and its write fails. */
static int stubborn_main(void *arg)
{
    (void)arg;
    size_t base = goc_numgoroutine();
    h = goc_http_timeout_handler((goc_http_handler){stubborn, NULL}, 20 * GOC_MILLISECOND,
                                 "too slow");
    test_server t;
    test_resp rep = {0};
    if (!test_server_start(&t, h, NULL))
        return 1;
    int64_t t0 = goc_now();
    rt(&t, "GET / HTTP/1.1\r\nHost: x\r\n" CLOSE "\r\n", &rep);
    GO_CHECK(rep.status == 503 && test_body_is(&rep, "too slow"), "stubborn:\n%s", rep.head);
    GO_CHECK(since_ms(t0) >= 290, "answered after %lld ms", (long long)since_ms(t0));
    GO_CHECK(atomic_load(&inner_done) == 1, "the inner handler outlived its request");
    GO_CHECK(atomic_load(&late_write_rc) == GOC_EHTTP_HANDLER_TIMEOUT, "late write: %d",
             atomic_load(&late_write_rc));
    test_resp_free(&rep);
    test_server_stop(&t);
    GO_CHECK(goroutines_back_to(base), "%zu goroutines, %zu before", goc_numgoroutine(), base);
    return 0;
}

Test(middleware, timeout_waits_for_handler, .timeout = 30)
{
    cr_assert_eq(run_main(stubborn_main, NULL), 0);
}

/* An inner handler that gives its answer up (goc_http_abort) in time: the
 * client gets no answer that looks whole (the buffered part is not sent as
 * a complete 200). */
static void quitter(goc_http_response_writer *w, goc_http_request *r, void *arg)
{
    (void)r, (void)arg;
    goc_http_write_str(w, "part");
    goc_http_abort(w);
}

static goc_http_handler hq;

static int timeout_abort_main(void *arg)
{
    (void)arg;
    hq = goc_http_timeout_handler((goc_http_handler){quitter, NULL}, GOC_SECOND, NULL);
    test_server tq;
    test_resp rep = {0};
    if (!test_server_start(&tq, hq, NULL))
        return 1;
    rt(&tq, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", &rep);
    GO_CHECK(rep.status == 0, "an aborted answer went out as %d:\n%s", rep.status, rep.head);
    test_resp_free(&rep);
    test_server_stop(&tq);
    return 0;
}

Test(middleware, timeout_passes_abort_on, .timeout = 30)
{
    cr_assert_eq(run_main(timeout_abort_main, NULL), 0);
}

/* The inner handler reads a chunked body whose end and trailers arrive
 * after its deadline: the trailers' memory and the 503 come from the same
 * connection, so they take turns (priv.bodymu); the client gets the 503
 * whole, and the inner all of the body with its trailers. */
static atomic_long body_got;

static void body_reader(goc_http_response_writer *w, goc_http_request *r, void *arg)
{
    (void)arg;
    char buf[64];
    ssize_t n;
    long total = 0;
    while ((n = goc_http_body_read(r, buf, sizeof buf)) > 0)
        total += n;
    atomic_store(&body_got, total);
    goc_http_write_str(w, "read it all");
}

static int body_timeout_main(void *arg)
{
    (void)arg;
    static goc_http_handler hb;
    hb = goc_http_timeout_handler((goc_http_handler){body_reader, NULL}, 50 * GOC_MILLISECOND,
                                  "late body");
    test_server t;
    if (!test_server_start(&t, hb, NULL))
        return 1;
    test_conn *c = calloc(1, sizeof *c);
    c->fd = test_dial(&t);
    test_send(c->fd, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "3\r\nabc\r\n");
    goc_sleep(150 * GOC_MILLISECOND); /* past the handler's deadline */
    test_send(c->fd, "3\r\ndef\r\n0\r\nX-A: 1\r\nX-B: 2\r\nX-C: 3\r\n\r\n");
    test_resp rep;
    GO_CHECK(test_read_resp(c, &rep, false) && rep.status == 503 && test_body_is(&rep, "late body"),
             "answer %d:\n%s", rep.status, rep.head);
    GO_CHECK(atomic_load(&body_got) == 6, "the inner read %ld bytes", atomic_load(&body_got));
    test_resp_free(&rep);
    goc_close(c->fd);
    free(c);
    test_server_stop(&t);
    return 0;
}

Test(middleware, timeout_with_a_body_read_in_progress, .timeout = 30)
{
    cr_assert_eq(run_main(body_timeout_main, NULL), 0);
}
