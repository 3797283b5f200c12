/*
 * test_client.c — the HTTP client against goc's own server on loopback:
 * GET and POST with bodies from memory, a reader (chunked) and a file;
 * keep-alive reuse; chunked responses with trailers; HEAD and 204; gzip
 * decoded transparently (and not when the caller asked for an encoding);
 * redirects (method rewriting, 307 keeping the body, credentials dropped
 * for another host, the limit, the policy callback); cookies through a jar;
 * ctx cancellation mid-body; a per-host connection limit with waiters.
 */
#include <fcntl.h>
#include <stdatomic.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <strings.h>

#include "http/serverutil.h"

static char base[64]; /* "http://127.0.0.1:PORT" */

/* /echo: method, body length and selected fields back as text; /big?n=N:
 * N bytes of a pattern; /chunked: three flushed parts and a trailer;
 * /redir?to=U&code=C; /nocontent; /cookie: sets one; /slow: a byte a
 * second. */
static void handler(goc_http_response_writer *w, goc_http_request *r, void *arg)
{
    (void)arg;
    goc_http_header *h = goc_http_response_header(w);
    if (strcmp(r->path, "/echo") == 0) {
        char *body = NULL;
        size_t len = 0;
        goc_http_body_read_all(r, &body, &len, 64 << 20);
        const char *auth = goc_http_header_get(r->header, "Authorization");
        const char *ck = goc_http_header_get(r->header, "Cookie");
        const char *ae = goc_http_header_get(r->header, "Accept-Encoding");
        const char *te = goc_http_header_get(r->header, "Transfer-Encoding");
        goc_http_printf(w, "%s %s len=%zu auth=%s cookie=%s ae=%s te=%s remote=%s\n%s", r->method,
                        r->target, len, auth ? auth : "-", ck ? ck : "-", ae ? ae : "-",
                        te ? te : "-", r->remote_addr, body ? body : "");
        free(body);
    } else if (strcmp(r->path, "/big") == 0) {
        const char *n = goc_http_query_get(r, "n");
        size_t total = n ? strtoul(n, NULL, 10) : 0;
        char buf[8192];
        for (size_t i = 0; i < sizeof buf; i++)
            buf[i] = (char)('a' + i % 26);
        goc_http_header_set(h, "Content-Type", "text/plain");
        for (size_t off = 0; off < total;) {
            size_t k = total - off < sizeof buf ? total - off : sizeof buf;
            if (goc_http_write(w, buf, k) < 0)
                return;
            off += k;
        }
    } else if (strcmp(r->path, "/chunked") == 0) {
        goc_http_header_set(goc_http_response_trailer(w), "X-Sum", "42");
        for (int i = 0; i < 3; i++) {
            goc_http_printf(w, "part%d;", i);
            goc_http_flush(w);
        }
    } else if (strcmp(r->path, "/redir") == 0) {
        const char *to = goc_http_query_get(r, "to");
        const char *code = goc_http_query_get(r, "code");
        if (to && strcmp(to, "self") == 0)
            to = r->target; /* a loop */
        goc_http_redirect(w, r, to ? to : "/echo", code ? atoi(code) : 302);
    } else if (strcmp(r->path, "/nocontent") == 0) {
        goc_http_write_header(w, 204);
    } else if (strcmp(r->path, "/cookie") == 0) {
        goc_http_header_add(h, "Set-Cookie", "sid=abc; Path=/");
        goc_http_write_str(w, "set");
    } else if (strcmp(r->path, "/slow") == 0) {
        goc_http_header_set(h, "Content-Length", "10");
        for (int i = 0; i < 10; i++) {
            if (goc_http_write(w, "x", 1) < 0 || goc_http_flush(w) < 0)
                return;
            goc_sleep(GOC_SECOND);
        }
    } else {
        goc_http_error(w, "no such page", 404);
    }
}

static test_server ts;

/* The gzip wrapper lives for the program, as middleware does: kept here
 * so leak checkers see its pooled compressors as reachable. */
static goc_http_handler gz_handler;

static bool start(void)
{
    static const goc_http_gzip_opts gz = {.min_length = 1};
    if (!gz_handler.fn)
        gz_handler = goc_http_gzip_handler((goc_http_handler){handler, NULL}, &gz);
    if (!test_server_start(&ts, gz_handler, NULL))
        return false;
    snprintf(base, sizeof base, "http://127.0.0.1:%d", ts.port);
    return true;
}

static char *url(const char *path)
{
    static __thread char buf[4][512];
    static __thread int i;
    char *b = buf[i++ % 4];
    snprintf(b, 512, "%s%s", base, path);
    return b;
}

/* GET url: status and body (malloc'ed) or a negative errno. */
static int get(goc_http_client *c, const char *u, char **body)
{
    goc_http_response *resp;
    *body = NULL;
    int rc = goc_http_client_get(c, u, &resp);
    if (rc < 0)
        return rc;
    size_t len;
    rc = goc_http_response_read_all(resp, body, &len, 64 << 20);
    int status = resp->status_code;
    goc_http_response_free(resp);
    return rc < 0 ? rc : status;
}

/* ---- basics ---------------------------------------------------------------- */

static int basics_main(void *arg)
{
    (void)arg;
    GO_CHECK(start(), "server");
    goc_http_client *c = goc_http_client_new(NULL);
    char *body;
    int st = get(c, url("/echo?x=1"), &body);
    GO_CHECK(st == 200, "status %d (%s)", st, goc_errmsg());
    GO_CHECK(body && strncmp(body, "GET /echo?x=1 len=0", 19) == 0, "body %s", body);
    char remote1[64] = "";
    if (body)
        sscanf(strstr(body, "remote=") + 7, "%63s", remote1);
    free(body);
    /* keep-alive: the same connection (client port) serves the next. */
    st = get(c, url("/echo"), &body);
    GO_CHECK(st == 200 && body && strstr(body, remote1), "reuse: %s vs %s", body, remote1);
    free(body);
    st = get(c, url("/missing"), &body);
    GO_CHECK(st == 404 && body && strcmp(body, "no such page\n") == 0, "404: %d %s", st, body);
    free(body);
    /* chunked with a trailer */
    goc_http_response *resp;
    int rc = goc_http_client_get(c, url("/chunked"), &resp);
    GO_CHECK(rc == 0, "chunked: %s", goc_errmsg());
    if (rc == 0) {
        GO_CHECK(resp->content_length == -1, "length %lld", (long long)resp->content_length);
        size_t len;
        rc = goc_http_response_read_all(resp, &body, &len, 1 << 20);
        GO_CHECK(rc == 0 && strcmp(body, "part0;part1;part2;") == 0, "chunked body %s", body);
        const char *sum = goc_http_header_get(resp->trailer, "X-Sum");
        GO_CHECK(sum && strcmp(sum, "42") == 0, "trailer %s", sum ? sum : "(none)");
        free(body);
        goc_http_response_free(resp);
    }
    /* HEAD and 204 have no body, and give the connection back at once. */
    goc_http_client_request *req;
    goc_http_new_request(NULL, "HEAD", url("/big?n=100000"), &req);
    rc = goc_http_client_do(c, req, &resp);
    GO_CHECK(rc == 0 && resp->status_code == 200, "HEAD %d", rc);
    if (rc == 0) {
        char b[16];
        GO_CHECK(goc_http_response_read(resp, b, sizeof b) == 0, "HEAD body");
        goc_http_response_free(resp);
    }
    goc_http_client_request_free(req);
    st = get(c, url("/nocontent"), &body);
    GO_CHECK(st == 204 && body && !*body, "204: %d", st);
    free(body);
    /* a large body, gzip-decoded on the way (the server compresses) */
    rc = goc_http_client_get(c, url("/big?n=3000000"), &resp);
    GO_CHECK(rc == 0, "big: %s", goc_errmsg());
    if (rc == 0) {
        GO_CHECK(resp->uncompressed, "gzip was used");
        GO_CHECK(!goc_http_header_get(resp->header, "Content-Encoding"), "encoding removed");
        size_t len;
        rc = goc_http_response_read_all(resp, &body, &len, 64 << 20);
        GO_CHECK(rc == 0 && len == 3000000, "big len %zu rc %d", len, rc);
        bool ok = rc == 0;
        for (size_t i = 0; ok && i < len; i++)
            ok = body[i] == (char)('a' + (i % 8192) % 26);
        GO_CHECK(ok, "big content");
        free(body);
        goc_http_response_free(resp);
    }
    /* The caller's own Accept-Encoding: the body as sent. */
    goc_http_new_request(NULL, "GET", url("/big?n=5000"), &req);
    goc_http_header_set(goc_http_client_request_header(req), "Accept-Encoding", "gzip");
    rc = goc_http_client_do(c, req, &resp);
    GO_CHECK(rc == 0 && !resp->uncompressed, "raw gzip");
    if (rc == 0) {
        const char *ce = goc_http_header_get(resp->header, "Content-Encoding");
        GO_CHECK(ce && strcmp(ce, "gzip") == 0, "encoding kept");
        size_t len;
        rc = goc_http_response_read_all(resp, &body, &len, 1 << 20);
        GO_CHECK(rc == 0 && len > 2 && (unsigned char)body[0] == 0x1f, "gzip magic");
        free(body);
        goc_http_response_free(resp);
    }
    goc_http_client_request_free(req);
    goc_http_client_free(c);
    test_server_stop(&ts);
    return test_failed();
}

Test(client, basics, .timeout = 60)
{
    cr_assert_eq(run_main(basics_main, NULL), 0, "%s", test_fail_msg);
}

/* ---- request bodies ------------------------------------------------------- */

typedef struct reader {
    const char *s;
    size_t pos, len, step;
} reader;

static ssize_t reader_read(void *arg, void *buf, size_t n)
{
    reader *r = arg;
    size_t k = r->len - r->pos;
    if (k > n)
        k = n;
    if (k > r->step)
        k = r->step;
    memcpy(buf, r->s + r->pos, k);
    r->pos += k;
    return (ssize_t)k;
}

static int reader_rewind(void *arg)
{
    ((reader *)arg)->pos = 0;
    return 0;
}

static int post(goc_http_client *c, goc_http_client_request *req, char **body)
{
    goc_http_response *resp;
    *body = NULL;
    int rc = goc_http_client_do(c, req, &resp);
    if (rc < 0)
        return rc;
    rc = goc_http_response_read_all(resp, body, NULL, 1 << 24);
    int st = resp->status_code;
    goc_http_response_free(resp);
    return rc < 0 ? rc : st;
}

static int bodies_main(void *arg)
{
    (void)arg;
    GO_CHECK(start(), "server");
    goc_http_client *c = goc_http_client_new(NULL);
    goc_http_client_request *req;
    char *body;
    /* memory */
    goc_http_new_request(NULL, "POST", url("/echo"), &req);
    goc_http_client_request_set_body(req, "hello", 5);
    int st = post(c, req, &body);
    GO_CHECK(st == 200 && body && strstr(body, "POST /echo len=5") && strstr(body, "\nhello"),
             "mem: %d %s", st, body);
    free(body);
    goc_http_client_request_free(req);
    /* a reader of unknown length: chunked */
    reader rd = {"0123456789abcdefghij", 0, 20, 3};
    goc_http_new_request(NULL, "PUT", url("/echo"), &req);
    goc_http_client_request_set_body_reader(req, reader_read, reader_rewind, &rd, -1);
    st = post(c, req, &body);
    GO_CHECK(st == 200 && body && strstr(body, "len=20") && strstr(body, "te=chunked") &&
                 strstr(body, "\n0123456789abcdefghij"),
             "reader: %d %s", st, body);
    free(body);
    goc_http_client_request_free(req);
    /* a file */
    char path[] = "/tmp/goc-client-XXXXXX";
    int fd = mkstemp(path);
    GO_CHECK(fd >= 0, "mkstemp");
    char big[100000];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (char)('A' + i % 26);
    GO_CHECK(write(fd, big, sizeof big) == (ssize_t)sizeof big, "write");
    goc_http_new_request(NULL, "POST", url("/echo"), &req);
    goc_http_client_request_set_body_fd(req, fd, 10, 50000);
    st = post(c, req, &body);
    GO_CHECK(st == 200 && body && strstr(body, "len=50000"), "fd: %d", st);
    const char *nl = body ? strchr(body, '\n') : NULL;
    GO_CHECK(nl && memcmp(nl + 1, big + 10, 50000) == 0, "fd content");
    free(body);
    goc_http_client_request_free(req);
    close(fd);
    unlink(path);
    /* Expect: 100-continue is honoured (the server asks for the body) */
    goc_http_new_request(NULL, "POST", url("/echo"), &req);
    goc_http_header_set(goc_http_client_request_header(req), "Expect", "100-continue");
    goc_http_client_request_set_body(req, "continued", 9);
    st = post(c, req, &body);
    GO_CHECK(st == 200 && body && strstr(body, "\ncontinued"), "100-continue: %d %s", st, body);
    free(body);
    goc_http_client_request_free(req);
    /* goc_http_post on the default client */
    goc_http_response *resp;
    int rc = goc_http_post(url("/echo"), "text/plain", "abc", 3, &resp);
    GO_CHECK(rc == 0 && resp->status_code == 200, "post: %s", goc_errmsg());
    if (rc == 0)
        goc_http_response_free(resp);
    goc_http_client_free(c);
    test_server_stop(&ts);
    return test_failed();
}

Test(client, bodies, .timeout = 60)
{
    cr_assert_eq(run_main(bodies_main, NULL), 0, "%s", test_fail_msg);
}

/* ---- redirects and cookies -------------------------------------------------- */

static int check_stop(goc_http_client_request *req, const char *u, int nvia, void *arg)
{
    (void)req, (void)nvia;
    ++*(int *)arg;
    return strstr(u, "stop") ? GOC_EHTTP_USE_LAST_RESPONSE : 0;
}

static int redirects_main(void *arg)
{
    (void)arg;
    GO_CHECK(start(), "server");
    goc_http_client *c = goc_http_client_new(NULL);
    goc_http_client_request *req;
    char *body;
    /* 302 after a POST: GET without the body */
    goc_http_new_request(NULL, "POST", url("/redir?code=302"), &req);
    goc_http_client_request_set_body(req, "data", 4);
    int st = post(c, req, &body);
    GO_CHECK(st == 200 && body && strncmp(body, "GET /echo len=0", 15) == 0, "302: %d %s", st,
             body);
    free(body);
    goc_http_client_request_free(req);
    /* 307 keeps the method and the body */
    goc_http_new_request(NULL, "POST", url("/redir?code=307"), &req);
    goc_http_client_request_set_body(req, "data", 4);
    st = post(c, req, &body);
    GO_CHECK(st == 200 && body && strncmp(body, "POST /echo len=4", 16) == 0, "307: %d %s", st,
             body);
    free(body);
    goc_http_client_request_free(req);
    /* Authorization goes to the same host, not to another one
     * ("localhost" is another host name for the same server). */
    goc_http_new_request(NULL, "GET", url("/redir?code=301"), &req);
    goc_http_client_request_set_basic_auth(req, "u", "p");
    st = post(c, req, &body);
    GO_CHECK(st == 200 && body && strstr(body, "auth=Basic dTpw"), "same host: %s", body);
    free(body);
    goc_http_client_request_free(req);
    char other[256];
    snprintf(other, sizeof other, "/redir?code=301&to=http://localhost:%d/echo", ts.port);
    goc_http_new_request(NULL, "GET", url(other), &req);
    goc_http_client_request_set_basic_auth(req, "u", "p");
    st = post(c, req, &body);
    GO_CHECK(st == 200 && body && strstr(body, "auth=-"), "other host: %d %s", st, body);
    free(body);
    goc_http_client_request_free(req);
    /* a loop: stopped after 10 */
    goc_http_response *resp;
    int rc = goc_http_client_get(c, url("/redir?to=self"), &resp);
    GO_CHECK(rc == GOC_EHTTP_TOO_MANY_REDIRECTS, "loop: %d %s", rc, goc_errmsg());
    GO_CHECK(strstr(goc_errmsg(), "stopped after 10 redirects"), "msg %s", goc_errmsg());
    /* the policy callback */
    int calls = 0;
    goc_http_client_opts o = {.check_redirect = check_stop, .check_redirect_arg = &calls};
    goc_http_client *c2 = goc_http_client_new(&o);
    rc = goc_http_client_get(c2, url("/redir?to=/stop"), &resp);
    GO_CHECK(rc == 0 && resp->status_code == 302 && calls == 1, "policy: %d %d", rc, calls);
    if (rc == 0)
        goc_http_response_free(resp);
    goc_http_client_free(c2);
    /* max_redirects < 0: the redirect itself is the answer */
    goc_http_client_opts on = {.max_redirects = -1};
    c2 = goc_http_client_new(&on);
    rc = goc_http_client_get(c2, url("/redir?code=301"), &resp);
    GO_CHECK(rc == 0 && resp->status_code == 301, "no follow: %d", rc);
    if (rc == 0) {
        GO_CHECK(goc_http_header_get(resp->header, "Location"), "Location kept");
        goc_http_response_free(resp);
    }
    goc_http_client_free(c2);
    /* cookies through a jar */
    goc_http_cookie_jar *jar = goc_http_cookie_jar_new();
    goc_http_cookie_store store = goc_http_cookie_jar_store(jar);
    goc_http_client_opts oj = {.jar = &store};
    goc_http_client *c3 = goc_http_client_new(&oj);
    st = get(c3, url("/cookie"), &body);
    free(body);
    st = get(c3, url("/echo"), &body);
    GO_CHECK(st == 200 && body && strstr(body, "cookie=sid=abc"), "jar: %s", body);
    free(body);
    goc_http_client_free(c3);
    goc_http_cookie_jar_free(jar);
    goc_http_client_free(c);
    test_server_stop(&ts);
    return test_failed();
}

Test(client, redirects_and_cookies, .timeout = 60)
{
    cr_assert_eq(run_main(redirects_main, NULL), 0, "%s", test_fail_msg);
}

/* ---- timeouts, cancellation, the connection limit --------------------------- */

static void cancel_later(void *arg)
{
    goc_sleep(300 * GOC_MILLISECOND);
    goc_ctx_cancel(arg);
}

typedef struct par {
    goc_http_client *c;
    goc_waitgroup wg;
    atomic_int ok;
} par;

static void par_get(void *arg)
{
    par *p = arg;
    char *body;
    if (get(p->c, url("/echo"), &body) == 200)
        atomic_fetch_add(&p->ok, 1);
    free(body);
    goc_waitgroup_done(&p->wg);
}

static int limits_main(void *arg)
{
    (void)arg;
    GO_CHECK(start(), "server");
    /* stall timeout: a byte a second is too slow for 300 ms */
    goc_http_client_opts o = {.stall_timeout = 300 * GOC_MILLISECOND};
    goc_http_client *c = goc_http_client_new(&o);
    char *body;
    int rc = get(c, url("/slow"), &body);
    GO_CHECK(rc == -ETIMEDOUT, "stall: %d %s", rc, goc_errmsg());
    free(body);
    goc_http_client_free(c);
    /* ctx cancelled while the body is read */
    c = goc_http_client_new(NULL);
    goc_ctx *ctx = goc_ctx_with_cancel(goc_ctx_background());
    goc_http_client_request *req;
    goc_http_new_request(ctx, "GET", url("/slow"), &req);
    goc_http_response *resp;
    rc = goc_http_client_do(c, req, &resp);
    GO_CHECK(rc == 0, "slow head: %s", goc_errmsg());
    if (rc == 0) {
        goc_go(cancel_later, ctx);
        int64_t t0 = goc_now();
        rc = goc_http_response_read_all(resp, &body, NULL, 100);
        GO_CHECK(rc == -ECANCELED, "cancel: %d %s", rc, goc_errmsg());
        GO_CHECK(goc_now() - t0 < 5 * GOC_SECOND * test_slack(), "cancel was prompt");
        goc_http_response_free(resp);
    }
    goc_http_client_request_free(req);
    goc_ctx_release(ctx);
    /* a ctx already done: no request at all */
    ctx = goc_ctx_with_cancel(goc_ctx_background());
    goc_ctx_cancel(ctx);
    goc_http_new_request(ctx, "GET", url("/echo"), &req);
    rc = goc_http_client_do(c, req, &resp);
    GO_CHECK(rc == -ECANCELED, "done ctx: %d", rc);
    goc_http_client_request_free(req);
    goc_ctx_release(ctx);
    goc_http_client_free(c);
    /* at most 2 connections: 20 goroutines all get their answer */
    goc_http_client_opts lo = {.max_conns_per_host = 2};
    par p = {.c = goc_http_client_new(&lo)};
    goc_waitgroup_add(&p.wg, 20);
    for (int i = 0; i < 20; i++)
        goc_go(par_get, &p);
    goc_waitgroup_wait(&p.wg);
    GO_CHECK(atomic_load(&p.ok) == 20, "limited: %d ok", atomic_load(&p.ok));
    goc_http_client_free(p.c);
    /* a refused connection: a clear error naming the request */
    rc = goc_http_get("http://127.0.0.1:1/x", &resp);
    GO_CHECK(rc == -ECONNREFUSED, "refused: %d", rc);
    GO_CHECK(strstr(goc_errmsg(), "Get \"http://127.0.0.1:1/x\"") != NULL, "msg: %s", goc_errmsg());
    rc = goc_http_get("ftp://127.0.0.1/x", &resp);
    GO_CHECK(rc == GOC_EHTTP_UNSUPPORTED_SCHEME, "scheme: %d", rc);
    test_server_stop(&ts);
    return test_failed();
}

Test(client, limits_and_cancel, .timeout = 60)
{
    cr_assert_eq(run_main(limits_main, NULL), 0, "%s", test_fail_msg);
}
