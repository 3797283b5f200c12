/*
 * test_revproxy.c — the reverse proxy handler (goc/httputil.h) between a
 * client and a backend, both goc servers on loopback, and hostile
 * backends on raw sockets:
 *   - fields: hop-by-hop ones (fixed, and named by Connection) never
 *     cross, X-Forwarded-For/-Host/-Proto and Forwarded are set (replaced,
 *     or appended when trusted), Host is the target's unless preserved;
 *   - URLs: base path joined, the raw path kept as received (%2F), queries
 *     joined;
 *   - bodies both ways, with a length and chunked; trailers; a streamed
 *     response reaches the client before the backend finished (SSE);
 *   - Upgrade: a 101 becomes a tunnel that carries bytes both ways;
 *   - failures: no backend → 502, a timeout → 504, garbage → 502, a body
 *     cut short → the client sees it cut (never complete), hooks
 *     (rewrite, modify_response, error_handler);
 *   - smuggling: a request the server did not parse exactly never reaches
 *     the backend; pipelined requests arrive as separate, re-framed ones;
 *   - 32 goroutines × 40 requests through one proxy.
 */
#include <stdatomic.h>
#include <sys/socket.h>

#include <criterion/criterion.h>
#include <goc/httputil.h>
#include <strings.h>

#include "http/serverutil.h"

static atomic_int backend_hits;
static goc_chan *sink_done; /* /sink's body read result (int) */
static goc_chan *sse_gate;  /* the SSE backend waits on it after its first event */

/* The backend: /headers echoes the fields it got, /echo the body,
 * /trailer sends one, /sse an event then waits for the gate, /ws
 * upgrades and echoes raw bytes, /slow sleeps 2 s, /cut promises 100
 * bytes and sends 10. */
static void backend(goc_http_response_writer *w, goc_http_request *r, void *arg)
{
    (void)arg;
    atomic_fetch_add(&backend_hits, 1);
    if (strcmp(r->path, "/headers") == 0 || strncmp(r->path, "/base/", 6) == 0) {
        goc_http_printf(w, "%s %s host=%s\n", r->method, r->target, r->host);
        size_t n = goc_http_header_len(r->header);
        for (size_t i = 0; i < n; i++) {
            const char *name, *value;
            goc_http_header_at(r->header, i, &name, &value);
            goc_http_printf(w, "%s: %s\n", name, value);
        }
    } else if (strcmp(r->path, "/echo") == 0) {
        char *body = NULL;
        size_t len = 0;
        goc_http_body_read_all(r, &body, &len, 16 << 20);
        goc_http_header_set(goc_http_response_header(w), "Connection", "close");
        goc_http_printf(w, "len=%zu te=%s\n", len,
                        goc_http_header_get(r->header, "Transfer-Encoding") ? "chunked" : "-");
        if (body)
            goc_http_write(w, body, len);
        free(body);
    } else if (strcmp(r->path, "/sink") == 0) {
        char *body = NULL;
        int rc = goc_http_body_read_all(r, &body, NULL, 16 << 20);
        free(body);
        goc_chan_send(sink_done, &rc); /* the body's fate */
    } else if (strcmp(r->path, "/trailer") == 0) {
        goc_http_header_set(goc_http_response_header(w), "Trailer", "X-Sum");
        goc_http_header_set(goc_http_response_trailer(w), "X-Sum", "42");
        goc_http_write_str(w, "part1;");
        goc_http_flush(w);
        goc_http_write_str(w, "part2;");
    } else if (strcmp(r->path, "/sse") == 0) {
        goc_http_header_set(goc_http_response_header(w), "Content-Type", "text/event-stream");
        goc_http_write_str(w, "data: one\n\n");
        goc_http_flush(w);
        int v;
        goc_chan_recv(sse_gate, &v); /* the client must have seen "one" */
        goc_http_write_str(w, "data: two\n\n");
    } else if (strcmp(r->path, "/ws") == 0) {
        int fd;
        char *buf;
        size_t n;
        if (goc_http_hijack(w, &fd, &buf, &n) < 0)
            return;
        const char *h = "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                        "Upgrade: websocket\r\nX-Backend: yes\r\n\r\n";
        goc_write(fd, h, strlen(h));
        if (n)
            goc_write(fd, buf, n);
        free(buf);
        char b[256];
        ssize_t k;
        while ((k = goc_read(fd, b, sizeof b)) > 0)
            goc_write(fd, b, (size_t)k);
        goc_close(fd);
    } else if (strcmp(r->path, "/slow") == 0) {
        goc_sleep(2 * GOC_SECOND);
        goc_http_write_str(w, "late");
    } else if (strcmp(r->path, "/cut") == 0) {
        goc_http_header_set(goc_http_response_header(w), "Content-Length", "100");
        goc_http_write_str(w, "0123456789");
        goc_http_flush(w);
        goc_http_abort(w);
    } else {
        goc_http_write_str(w, "hello");
    }
}

static test_server back, front;
static goc_http_reverse_proxy *proxy;
static char front_url[80];

static int add_header(goc_http_request *in, goc_http_client_request *out, void *arg)
{
    (void)in, (void)arg;
    return goc_http_header_set(goc_http_client_request_header(out), "X-Rewritten", "1");
}

static int mark_response(goc_http_request *in, goc_http_response *resp, void *arg)
{
    (void)in, (void)arg;
    return goc_http_header_set(resp->header, "X-Modified", "1");
}

static bool start(const char *base_path, goc_http_client *client)
{
    if (!test_server_start(&back, (goc_http_handler){backend, NULL}, NULL))
        return false;
    char target[192];
    snprintf(target, sizeof target, "http://%s%s", back.addr, base_path);
    goc_http_reverse_proxy_opts o = {.target = target,
                                     .client = client,
                                     .rewrite = add_header,
                                     .modify_response = mark_response};
    if (goc_http_reverse_proxy_new(&o, &proxy) < 0)
        return false;
    if (!test_server_start(&front, goc_http_reverse_proxy_handler(proxy), NULL))
        return false;
    snprintf(front_url, sizeof front_url, "http://%s", front.addr);
    return true;
}

static void stop(void)
{
    test_server_stop(&front);
    goc_http_reverse_proxy_free(proxy);
    test_server_stop(&back);
}

static bool body_has(const test_resp *r, const char *s)
{
    return r->body && strstr(r->body, s) != NULL;
}

/* ---- fields, URLs, bodies --------------------------------------------------- */

static int fields_main(void *arg)
{
    (void)arg;
    GO_CHECK(start("", NULL), "start");
    test_resp r;
    GO_CHECK(test_roundtrip(&front,
                            "GET /headers?a=1 HTTP/1.1\r\nHost: front.example\r\n"
                            "Connection: keep-alive, X-Secret\r\nX-Secret: s\r\nKeep-Alive: 5\r\n"
                            "Proxy-Authorization: Basic eA==\r\nTe: trailers, deflate\r\n"
                            "X-Forwarded-For: 6.6.6.6\r\nUpgrade: h2c\r\nX-Keep: k\r\n\r\n",
                            &r),
             "roundtrip");
    GO_CHECK(r.status == 200, "status %d", r.status);
    char want[128];
    snprintf(want, sizeof want, "GET /headers?a=1 host=%s\n", back.addr);
    GO_CHECK(body_has(&r, want), "target's Host and the query: %s", r.body);
    GO_CHECK(body_has(&r, "X-Keep: k\n"), "end-to-end field kept: %s", r.body);
    GO_CHECK(!body_has(&r, "X-Secret") && !body_has(&r, "Keep-Alive") &&
                 !body_has(&r, "Proxy-Authorization") && !body_has(&r, "Upgrade"),
             "hop-by-hop fields dropped: %s", r.body);
    GO_CHECK(body_has(&r, "Te: trailers\n"), "Te: trailers kept alone: %s", r.body);
    GO_CHECK(body_has(&r, "X-Forwarded-For: 127.0.0.1\n"), "XFF replaced (not trusted): %s",
             r.body);
    GO_CHECK(body_has(&r, "X-Forwarded-Host: front.example\n") &&
                 body_has(&r, "X-Forwarded-Proto: http\n"),
             "X-Forwarded-Host/Proto: %s", r.body);
    GO_CHECK(body_has(&r, "Forwarded: for=127.0.0.1;proto=http;host=\"front.example\"\n"),
             "Forwarded: %s", r.body);
    GO_CHECK(body_has(&r, "X-Rewritten: 1"), "rewrite hook ran: %s", r.body);
    GO_CHECK(!body_has(&r, "User-Agent"), "no User-Agent invented: %s", r.body);
    char v[64];
    GO_CHECK(test_field(&r, "X-Modified", v, sizeof v), "modify_response hook ran");
    test_resp_free(&r);

    /* Bodies: with a length and chunked; the backend's hop-by-hop
     * response fields do not reach the client, nor its Connection: close. */
    test_conn c = {.fd = test_dial(&front)};
    GO_CHECK(test_send(c.fd, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"),
             "send");
    GO_CHECK(test_read_resp(&c, &r, false) && r.status == 200, "POST with a length");
    GO_CHECK(body_has(&r, "len=5 te=-\nhello"), "body: %s", r.body);
    GO_CHECK(r.keep_alive, "the backend's Connection: close is its own");
    test_resp_free(&r);
    GO_CHECK(test_send(c.fd, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                             "3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n"),
             "send chunked");
    GO_CHECK(test_read_resp(&c, &r, false) && r.status == 200, "POST chunked");
    GO_CHECK(body_has(&r, "len=7 te=chunked\nabcdefg"), "chunked body re-chunked: %s", r.body);
    test_resp_free(&r);
    goc_close(c.fd);

    /* Trailers pass through, chunked. */
    GO_CHECK(test_roundtrip(&front, "GET /trailer HTTP/1.1\r\nHost: x\r\nTe: trailers\r\n\r\n", &r),
             "trailer");
    GO_CHECK(r.chunked && test_body_is(&r, "part1;part2;"), "body %s", r.body);
    GO_CHECK(strstr(r.trailer, "X-Sum: 42"), "trailer: [%s]", r.trailer);
    test_resp_free(&r);
    stop();

    /* A base path: joined with one slash; the raw path kept as received. */
    GO_CHECK(start("/base/", NULL), "start with a base");
    GO_CHECK(test_roundtrip(&front, "GET /a%2Fb/c?q=1 HTTP/1.1\r\nHost: x\r\n\r\n", &r), "base");
    GO_CHECK(body_has(&r, "GET /base/a%2Fb/c?q=1 "), "joined: %s", r.body);
    test_resp_free(&r);
    stop();
    return test_failed();
}

Test(revproxy, fields_urls_bodies, .timeout = 60)
{
    cr_assert_eq(run_main(fields_main, NULL), 0, "%s", test_fail_msg);
}

/* ---- streaming and upgrade ----------------------------------------------------- */

static int stream_main(void *arg)
{
    (void)arg;
    sse_gate = goc_chan_make(sizeof(int), 1);
    GO_CHECK(start("", NULL), "start");
    /* The first event must arrive while the backend waits for us: a proxy
     * that buffered would deadlock here (and the test time out). */
    test_conn c = {.fd = test_dial(&front)};
    GO_CHECK(test_send(c.fd, "GET /sse HTTP/1.1\r\nHost: x\r\n\r\n"), "send");
    while (!memmem(c.buf, c.len, "data: one", 9) && test_conn_more_(&c) > 0) {
    }
    GO_CHECK(memmem(c.buf, c.len, "data: one", 9), "first event streamed");
    GO_CHECK(!memmem(c.buf, c.len, "data: two", 9), "second not yet");
    int one = 1;
    goc_chan_send(sse_gate, &one);
    while (!memmem(c.buf, c.len, "0\r\n\r\n", 5) && test_conn_more_(&c) > 0) {
    }
    GO_CHECK(memmem(c.buf, c.len, "data: two", 9), "second event");
    goc_close(c.fd);

    /* Upgrade: 101 with the backend's own field, then bytes both ways. */
    c = (test_conn){.fd = test_dial(&front)};
    GO_CHECK(test_send(c.fd, "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n"
                             "Upgrade: websocket\r\n\r\n"),
             "send upgrade");
    while (!memmem(c.buf, c.len, "\r\n\r\n", 4) && test_conn_more_(&c) > 0) {
    }
    GO_CHECK(c.len > 12 && memcmp(c.buf, "HTTP/1.1 101", 12) == 0, "101: %.*s", (int)c.len, c.buf);
    GO_CHECK(memmem(c.buf, c.len, "X-Backend: yes", 14), "backend's fields");
    char *end = memmem(c.buf, c.len, "\r\n\r\n", 4);
    test_conn_drop_(&c, (size_t)(end + 4 - c.buf));
    for (int i = 0; i < 3; i++) {
        char msg[32];
        int k = snprintf(msg, sizeof msg, "ping %d", i);
        GO_CHECK(goc_write(c.fd, msg, (size_t)k) == k, "write through the tunnel");
        while (c.len < (size_t)k && test_conn_more_(&c) > 0) {
        }
        GO_CHECK(c.len >= (size_t)k && memcmp(c.buf, msg, (size_t)k) == 0, "echo %d", i);
        test_conn_drop_(&c, (size_t)k);
    }
    shutdown(c.fd, SHUT_WR); /* the backend sees EOF, closes: so do we */
    GO_CHECK(test_conn_more_(&c) == 0, "tunnel closed after the backend closed");
    goc_close(c.fd);
    stop();
    goc_chan_release(sse_gate);
    return test_failed();
}

Test(revproxy, streaming_and_upgrade, .timeout = 60)
{
    cr_assert_eq(run_main(stream_main, NULL), 0, "%s", test_fail_msg);
}

/* ---- failures ------------------------------------------------------------------- */

/* A backend on a raw socket that answers every connection with canned
 * bytes (a response with two lengths: not HTTP a proxy may pass on; or
 * one whose Connection names a field). */
static _Atomic(const char *) canned; /* set by the test, read by canned_main */

static void canned_main(void *arg)
{
    int lfd = *(int *)arg;
    for (;;) {
        int fd = goc_accept(lfd, NULL, NULL);
        if (fd < 0)
            return;
        char buf[1024];
        goc_read(fd, buf, sizeof buf);
        goc_write(fd, canned, strlen(canned));
        goc_close(fd);
    }
}

static void my_error(goc_http_response_writer *w, goc_http_request *r, int err, void *arg)
{
    (void)r, (void)arg;
    goc_http_printf(w, "custom %d", err);
}

static int fail_main(void *arg)
{
    (void)arg;
    goc_http_client_opts co = {.timeout = 300 * GOC_MILLISECOND, .max_redirects = -1, .proxy = ""};
    goc_http_client *client = goc_http_client_new(&co);
    GO_CHECK(start("", client), "start");
    test_resp r;
    /* A timeout: 504. */
    GO_CHECK(test_roundtrip(&front, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n", &r), "slow");
    GO_CHECK(r.status == 504, "timeout → %d", r.status);
    test_resp_free(&r);
    /* A body cut short: the client sees it cut (the proxy closes), never
     * a complete response. */
    test_conn c = {.fd = test_dial(&front)};
    GO_CHECK(test_send(c.fd, "GET /cut HTTP/1.1\r\nHost: x\r\n\r\n"), "send");
    while (test_conn_more_(&c) > 0) {
    }
    /* Nothing at all, or the head and fewer than 100 bytes. */
    char *body = memmem(c.buf, c.len, "\r\n\r\n", 4);
    GO_CHECK(c.len == 0 || (body && c.len - (size_t)(body + 4 - c.buf) < 100),
             "never a complete response: %.*s", (int)c.len, c.buf);
    goc_close(c.fd);
    stop();
    goc_http_client_free(client);

    /* No backend: 502; a garbage backend: 502; an error hook answers. */
    int lfd = goc_listen("tcp", "127.0.0.1:0");
    char target[64];
    snprintf(target, sizeof target, "http://127.0.0.1:%d", sock_port(lfd));
    goc_close(lfd); /* nobody listens there now */
    goc_http_reverse_proxy *p;
    goc_http_reverse_proxy_opts o = {.target = target};
    GO_CHECK(goc_http_reverse_proxy_new(&o, &p) == 0, "new");
    GO_CHECK(test_server_start(&front, goc_http_reverse_proxy_handler(p), NULL), "front");
    GO_CHECK(test_roundtrip(&front, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", &r), "down");
    GO_CHECK(r.status == 502, "no backend → %d", r.status);
    test_resp_free(&r);
    test_server_stop(&front);
    goc_http_reverse_proxy_free(p);

    lfd = goc_listen("tcp", "127.0.0.1:0");
    snprintf(target, sizeof target, "http://127.0.0.1:%d", sock_port(lfd));
    goc_go(canned_main, &lfd);
    GO_CHECK(goc_http_reverse_proxy_new(&o, &p) == 0, "new");
    GO_CHECK(test_server_start(&front, goc_http_reverse_proxy_handler(p), NULL), "front");
    canned = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello";
    GO_CHECK(test_roundtrip(&front, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", &r), "garbage");
    GO_CHECK(r.status == 502, "garbage → %d", r.status);
    test_resp_free(&r);
    canned = "HTTP/1.1 200 OK\r\nConnection: X-Private, close\r\nX-Private: hop\r\n"
             "Keep-Alive: timeout=5\r\nX-Public: ok\r\nContent-Length: 2\r\n\r\nok";
    GO_CHECK(test_roundtrip(&front, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", &r), "hop");
    char v[64];
    GO_CHECK(r.status == 200 && test_body_is(&r, "ok"), "hop: %d", r.status);
    GO_CHECK(!test_field(&r, "X-Private", v, sizeof v) &&
                 !test_field(&r, "Keep-Alive", v, sizeof v),
             "the response's hop-by-hop fields dropped: %s", r.head);
    GO_CHECK(test_field(&r, "X-Public", v, sizeof v) && r.keep_alive, "the rest kept: %s", r.head);
    test_resp_free(&r);
    test_server_stop(&front);
    goc_http_reverse_proxy_free(p);
    canned = "not http at all\r\n\r\n";
    o.error_handler = my_error;
    GO_CHECK(goc_http_reverse_proxy_new(&o, &p) == 0, "new");
    GO_CHECK(test_server_start(&front, goc_http_reverse_proxy_handler(p), NULL), "front");
    GO_CHECK(test_roundtrip(&front, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", &r), "hook");
    GO_CHECK(r.status == 200 && body_has(&r, "custom"), "error hook: %d %s", r.status, r.body);
    test_resp_free(&r);
    test_server_stop(&front);
    goc_http_reverse_proxy_free(p);
    goc_close(lfd);

    o = (goc_http_reverse_proxy_opts){.target = "ftp://x/"};
    GO_CHECK(goc_http_reverse_proxy_new(&o, &p) == -EINVAL, "ftp target refused");
    return test_failed();
}

Test(revproxy, failures, .timeout = 60)
{
    cr_assert_eq(run_main(fail_main, NULL), 0, "%s", test_fail_msg);
}

/* ---- smuggling ------------------------------------------------------------------- */

static int smuggle_main(void *arg)
{
    (void)arg;
    GO_CHECK(start("", NULL), "start");
    atomic_store(&backend_hits, 0);
    test_resp r;
    /* Both a length and chunked: refused by the server's parser, the
     * backend never sees it. */
    GO_CHECK(test_roundtrip(&front,
                            "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
                            "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /headers HTTP/1.1\r\n"
                            "Host: x\r\n\r\n",
                            &r),
             "CL+TE");
    GO_CHECK(r.status == 400, "CL+TE → %d", r.status);
    test_resp_free(&r);
    GO_CHECK(test_roundtrip(&front,
                            "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity"
                            "\r\n\r\n0\r\n\r\n",
                            &r),
             "bad TE");
    GO_CHECK(r.status >= 400 && r.status < 500, "bad TE → %d", r.status);
    test_resp_free(&r);
    GO_CHECK(atomic_load(&backend_hits) == 0, "the backend saw %d", atomic_load(&backend_hits));
    /* Two pipelined requests: two separate requests at the backend. */
    test_conn c = {.fd = test_dial(&front)};
    GO_CHECK(test_send(c.fd, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
                             "GET /headers HTTP/1.1\r\nHost: x\r\n\r\n"),
             "pipeline");
    GO_CHECK(test_read_resp(&c, &r, false) && body_has(&r, "len=3 te=-\nabc"), "first");
    test_resp_free(&r);
    GO_CHECK(test_read_resp(&c, &r, false) && body_has(&r, "GET /headers "), "second");
    test_resp_free(&r);
    goc_close(c.fd);
    GO_CHECK(atomic_load(&backend_hits) == 2, "backend hits %d", atomic_load(&backend_hits));
    stop();
    return test_failed();
}

Test(revproxy, smuggling, .timeout = 60)
{
    cr_assert_eq(run_main(smuggle_main, NULL), 0, "%s", test_fail_msg);
}

/* A client that resets its connection in the middle of a request body:
 * the upstream exchange ends at once (the backend sees its request cut),
 * it does not wait for an answer until some timeout. */
static int reset_main(void *arg)
{
    (void)arg;
    sink_done = goc_chan_make(sizeof(int), 1);
    GO_CHECK(start("", NULL), "start");
    int fd = test_dial(&front);
    GO_CHECK(test_send(fd, "POST /sink HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n"),
             "head");
    char part[3000];
    memset(part, 'x', sizeof part);
    GO_CHECK(goc_write(fd, part, sizeof part) == (ssize_t)sizeof part, "part of the body");
    goc_sleep(200 * GOC_MILLISECOND);
    struct linger lg = {1, 0}; /* close with a reset */
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    goc_close(fd);
    int rc = 0;
    goc_case c[] = {GOC_RECV(sink_done, &rc)};
    GO_CHECK(goc_select(c, 1, 5 * GOC_SECOND * test_slack()) == 0,
             "the backend still waits for the body 5 s after the client's reset");
    GO_CHECK(rc < 0, "the backend's body read ended with %d, not an error", rc);
    stop();
    goc_chan_release(sink_done);
    return test_failed();
}

Test(revproxy, client_reset_mid_body, .timeout = 60)
{
    cr_assert_eq(run_main(reset_main, NULL), 0, "%s", test_fail_msg);
}

/* ---- many at once ----------------------------------------------------------------- */

static atomic_int stress_ok;

static void stress_worker(void *arg)
{
    goc_waitgroup *wg = arg;
    goc_http_client *c = goc_http_client_new(NULL);
    for (int i = 0; i < 40; i++) {
        char u[128], want[64];
        snprintf(u, sizeof u, "%s/echo", front_url);
        goc_http_client_request *req;
        if (goc_http_new_request(NULL, "POST", u, &req) < 0)
            break;
        snprintf(want, sizeof want, "body-%d", i);
        goc_http_client_request_set_body(req, want, strlen(want));
        goc_http_response *resp;
        int rc = goc_http_client_do(c, req, &resp);
        goc_http_client_request_free(req);
        if (rc < 0)
            continue;
        char *body = NULL;
        if (goc_http_response_read_all(resp, &body, NULL, 1 << 20) == 0 &&
            resp->status_code == 200 && strstr(body, want))
            atomic_fetch_add(&stress_ok, 1);
        free(body);
        goc_http_response_free(resp);
    }
    goc_http_client_free(c);
    goc_waitgroup_done(wg);
}

static int stress_main(void *arg)
{
    (void)arg;
    GO_CHECK(start("", NULL), "start");
    goc_waitgroup wg = {0};
    atomic_store(&stress_ok, 0);
    for (int i = 0; i < 32; i++) {
        goc_waitgroup_add(&wg, 1);
        goc_go(stress_worker, &wg);
    }
    goc_waitgroup_wait(&wg);
    GO_CHECK(atomic_load(&stress_ok) == 32 * 40, "%d of %d answered right", atomic_load(&stress_ok),
             32 * 40);
    stop();
    return test_failed();
}

Test(revproxy, many_at_once, .timeout = 120)
{
    cr_assert_eq(run_main(stress_main, NULL), 0, "%s", test_fail_msg);
}
