/*
 * test_server.c — the server core on the raw wire: the ResponseWriter's
 * framing (Content-Length for small bodies, chunked past the buffer or a
 * flush, close-delimited for HTTP/1.0, HEAD, 204/304, 1xx, trailers,
 * declared lengths), keep-alive and pipelining, request bodies (length,
 * chunked with trailers, 100-continue, draining, the max-bytes limit),
 * rejected requests, the timeouts, the request's context, hijacking,
 * graceful shutdown and many concurrent clients.
 */
#include <criterion/criterion.h>

#include "http/serverutil.h"

/* ---- handlers ------------------------------------------------------------------ */

static void h_hello(goc_http_response_writer *w, goc_http_request *r, void *arg)
{
    (void)r, (void)arg;
    goc_http_write_str(w, "Hello, World!");
}

/* "/path?size=N&flush=1&status=S&cl=N&head=1" */
static long qnum(goc_http_request *r, const char *key, long dflt)
{
    const char *p = strstr(r->raw_query, key);
    return p && p[strlen(key)] == '=' ? atol(p + strlen(key) + 1) : dflt;
}

static void h_shape(goc_http_response_writer *w, goc_http_request *r, void *arg)
{
    (void)arg;
    long size = qnum(r, "size", 0), status = qnum(r, "status", 0), cl = qnum(r, "cl", -1);
    goc_http_header *h = goc_http_response_header(w);
    if (cl >= 0) {
        char v[32];
        snprintf(v, sizeof v, "%ld", cl);
        goc_http_header_set(h, "Content-Length", v);
    }
    if (qnum(r, "trailer", 0))
        goc_http_header_set(goc_http_response_trailer(w), "X-Sum", "early");
    if (qnum(r, "early", 0)) {
        goc_http_header_set(h, "Link", "</a.css>; rel=preload");
        GO_CHECK(goc_http_write_header(w, 103) == 0, "103");
    }
    if (status)
        goc_http_write_header(w, (int)status);
    char buf[1000];
    for (long i = 0; i < size; i += (long)sizeof buf) {
        size_t k = size - i < (long)sizeof buf ? (size_t)(size - i) : sizeof buf;
        for (size_t j = 0; j < k; j++)
            buf[j] = (char)('a' + (i + (long)j) % 26);
        ssize_t n = goc_http_write(w, buf, k);
        if (n < 0) {
            bool expected = (cl >= 0 && i + (long)k > cl && n == GOC_EHTTP_CONTENT_LENGTH) ||
                            ((status == 204 || status == 304) && n == GOC_EHTTP_BODY_NOT_ALLOWED);
            GO_CHECK(expected, "write error %zd", n);
            break;
        }
        if (qnum(r, "flush", 0))
            goc_http_flush(w);
    }
    if (qnum(r, "trailer", 0))
        goc_http_header_set(goc_http_response_trailer(w), "X-Sum", "done");
}

static bool pattern_ok(const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (b[i] != (char)('a' + i % 26))
            return false;
    return true;
}

/* Echo the body's length and its sum, and the trailer X-T. */
static void h_body(goc_http_response_writer *w, goc_http_request *r, void *arg)
{
    (void)arg;
    char buf[3000];
    long total = 0, sum = 0;
    ssize_t n;
    while ((n = goc_http_body_read(r, buf, sizeof buf)) > 0) {
        for (ssize_t i = 0; i < n; i++)
            sum += (unsigned char)buf[i];
        total += n;
    }
    const char *t = goc_http_header_get(r->trailer, "X-T");
    goc_http_printf(w, "n=%ld sum=%ld err=%zd t=%s", total, sum, n, t ? t : "-");
}

/* ---- framing ----------------------------------------------------------------------- */

static int main_small(void *arg)
{
    (void)arg;
    test_server ts;
    GO_CHECK(test_server_start(&ts, (goc_http_handler){h_hello, NULL}, NULL), "start");
    test_resp r;
    char v[128];
    GO_CHECK(test_roundtrip(&ts, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", &r), "roundtrip");
    GO_CHECK(r.status == 200, "status %d", r.status);
    GO_CHECK(strcmp(r.body, "Hello, World!") == 0, "body %s", r.body);
    GO_CHECK(test_field(&r, "Content-Length", v, sizeof v) && strcmp(v, "13") == 0, "CL");
    GO_CHECK(test_field(&r, "Date", v, sizeof v) && strlen(v) == 29, "Date");
    GO_CHECK(test_field(&r, "Content-Type", v, sizeof v) && strncmp(v, "text/plain", 10) == 0,
             "sniffed type %s", v);
    GO_CHECK(!r.chunked && r.keep_alive, "framing");
    test_resp_free(&r);
    test_server_stop(&ts);
    return 0;
}

Test(server, small_reply_has_content_length_date_and_type, .timeout = 20)
{
    cr_assert_eq(run_main(main_small, NULL), 0);
}

static void check_shape(test_server *ts, const char *req, int status, bool chunked, long size)
{
    test_resp r;
    bool ok = test_roundtrip(ts, req, &r);
    GO_CHECK(ok, "%s: no whole response", req);
    GO_CHECK(r.status == status, "%s: status %d", req, r.status);
    GO_CHECK(r.chunked == chunked, "%s: chunked %d\n%s", req, r.chunked, r.head);
    GO_CHECK((long)r.body_len == size && pattern_ok(r.body, r.body_len), "%s: body %zu", req,
             r.body_len);
    test_resp_free(&r);
}

static int main_framing(void *arg)
{
    (void)arg;
    test_server ts;
    GO_CHECK(test_server_start(&ts, (goc_http_handler){h_shape, NULL}, NULL), "start");
    check_shape(&ts, "GET /?size=4096 HTTP/1.1\r\nHost: x\r\n\r\n", 200, false, 4096);
    check_shape(&ts, "GET /?size=300000 HTTP/1.1\r\nHost: x\r\n\r\n", 200, true, 300000);
    check_shape(&ts, "GET /?size=10&flush=1 HTTP/1.1\r\nHost: x\r\n\r\n", 200, true, 10);
    check_shape(&ts, "GET /?size=300000&cl=300000 HTTP/1.1\r\nHost: x\r\n\r\n", 200, false, 300000);
    check_shape(&ts, "GET /?size=0 HTTP/1.1\r\nHost: x\r\n\r\n", 200, false, 0);
    check_shape(&ts, "GET /?size=5&status=404 HTTP/1.1\r\nHost: x\r\n\r\n", 404, false, 5);
    /* HTTP/1.0: no chunking, the body ends at close. */
    test_resp r;
    char v[64];
    GO_CHECK(test_roundtrip(&ts, "GET /?size=300000 HTTP/1.0\r\n\r\n", &r), "1.0");
    GO_CHECK(r.status == 200 && !r.chunked && r.body_len == 300000, "1.0 stream %zu", r.body_len);
    GO_CHECK(!test_field(&r, "Content-Length", v, sizeof v), "1.0 stream has no CL");
    test_resp_free(&r);
    /* HEAD: the length the GET would have, no body. */
    GO_CHECK(test_roundtrip(&ts, "HEAD /?size=100 HTTP/1.1\r\nHost: x\r\n\r\n", &r), "head");
    GO_CHECK(r.status == 200 && r.body_len == 0, "HEAD status %d body %zu", r.status, r.body_len);
    GO_CHECK(test_field(&r, "Content-Length", v, sizeof v) && strcmp(v, "100") == 0, "HEAD CL");
    test_resp_free(&r);
    /* 204 and 304: no body, no framing fields; writes refused. */
    GO_CHECK(test_roundtrip(&ts, "GET /?size=5&status=204 HTTP/1.1\r\nHost: x\r\n\r\n", &r), "204");
    GO_CHECK(r.status == 204 && !test_field(&r, "Content-Length", v, sizeof v) &&
                 !test_field(&r, "Transfer-Encoding", v, sizeof v),
             "204 head:\n%s", r.head);
    test_resp_free(&r);
    GO_CHECK(test_roundtrip(&ts, "GET /?status=304 HTTP/1.1\r\nHost: x\r\n\r\n", &r), "304");
    GO_CHECK(r.status == 304 && r.body_len == 0, "304");
    test_resp_free(&r);
    test_server_stop(&ts);
    return 0;
}

Test(server, body_framing_follows_size_flush_version_and_status, .timeout = 30)
{
    cr_assert_eq(run_main(main_framing, NULL), 0);
}

static int main_extras(void *arg)
{
    (void)arg;
    test_server ts;
    GO_CHECK(test_server_start(&ts, (goc_http_handler){h_shape, NULL}, NULL), "start");
    test_conn *c = calloc(1, sizeof *c);
    c->fd = test_dial(&ts);
    /* 103 before the final response, on the wire first. */
    test_send(c->fd, "GET /?early=1&size=3 HTTP/1.1\r\nHost: x\r\n\r\n");
    while (!strstr(c->buf, "\r\n\r\n"))
        if (test_conn_more_(c) <= 0)
            break;
    GO_CHECK(strncmp(c->buf, "HTTP/1.1 103 Early Hints\r\n", 26) == 0, "103 first: %.40s", c->buf);
    GO_CHECK(strstr(c->buf, "Link: </a.css>"), "103 carries the header");
    test_resp r;
    GO_CHECK(test_read_resp(c, &r, false) && r.status == 200 && r.body_len == 3, "final");
    test_resp_free(&r);
    /* Trailers: announced, chunked, sent after the last chunk. */
    test_send(c->fd, "GET /?trailer=1&size=10 HTTP/1.1\r\nHost: x\r\n\r\n");
    char v[64];
    GO_CHECK(test_read_resp(c, &r, false) && r.chunked, "trailer response chunked");
    GO_CHECK(test_field(&r, "Trailer", v, sizeof v) && strcmp(v, "X-Sum") == 0, "Trailer: %s", v);
    GO_CHECK(strstr(r.trailer, "X-Sum: done"), "trailer: %s", r.trailer);
    test_resp_free(&r);
    /* A write past a declared Content-Length fails whole (GO_CHECK in
     * h_shape); the body falls short of what was declared, so the
     * connection closes rather than leave the client waiting. */
    test_send(c->fd, "GET /?cl=10&size=20 HTTP/1.1\r\nHost: x\r\n\r\n");
    GO_CHECK(!test_read_resp(c, &r, false), "a short body reads as whole");
    GO_CHECK(strstr(r.head, "Content-Length: 10\r\n"), "declared CL sent:\n%s", r.head);
    test_resp_free(&r);
    goc_close(c->fd);
    free(c);
    test_server_stop(&ts);
    return 0;
}

Test(server, informational_trailers_and_declared_length, .timeout = 20)
{
    cr_assert_eq(run_main(main_extras, NULL), 0);
}

static void h_codes(goc_http_response_writer *w, goc_http_request *r, void *arg)
{
    (void)r, (void)arg;
    GO_CHECK(goc_http_write_header(w, 99) == -EINVAL, "99");
    GO_CHECK(goc_http_write_header(w, 1000) == -EINVAL, "1000");
    goc_http_header *h = goc_http_response_header(w);
    GO_CHECK(goc_http_header_set(h, "X-Bad", "a\r\nInjected: 1") == -EINVAL, "CRLF value");
    GO_CHECK(goc_http_header_set(h, "Bad Name", "v") == -EINVAL, "name with a space");
    GO_CHECK(goc_http_header_add(h, "X-Multi", "1") == 0 &&
                 goc_http_header_add(h, "x-multi", "2") == 0,
             "add");
    const char *vals[4];
    GO_CHECK(goc_http_header_values(h, "X-MULTI", vals, 4) == 2 && strcmp(vals[1], "2") == 0,
             "values");
    goc_http_write_header(w, 201);
    goc_http_write_header(w, 500); /* superfluous: ignored */
}

static char logged[512];
static goc_mutex logged_mu; /* the line is written on the connection's goroutine */

static void log_line(const char *msg, void *arg)
{
    (void)arg;
    goc_mutex_lock(&logged_mu);
    snprintf(logged, sizeof logged, "%s", msg);
    goc_mutex_unlock(&logged_mu);
}

static int main_codes(void *arg)
{
    (void)arg;
    test_server ts;
    goc_http_server_opts o = {.error_log = log_line};
    logged[0] = 0;
    GO_CHECK(test_server_start(&ts, (goc_http_handler){h_codes, NULL}, &o), "start");
    test_resp r;
    GO_CHECK(test_roundtrip(&ts, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", &r), "rt");
    GO_CHECK(r.status == 201, "status %d", r.status);
    GO_CHECK(!strstr(r.head, "Injected") && strstr(r.head, "X-Multi: 1\r\nx-multi: 2\r\n"),
             "head:\n%s", r.head);
    goc_mutex_lock(&logged_mu);
    GO_CHECK(strstr(logged, "superfluous WriteHeader(500) after 201"), "error_log: %s", logged);
    goc_mutex_unlock(&logged_mu);
    test_resp_free(&r);
    test_server_stop(&ts);
    return 0;
}

Test(server, write_header_and_header_map_refuse_bad_input, .timeout = 20)
{
    cr_assert_eq(run_main(main_codes, NULL), 0);
}

/* ---- connections --------------------------------------------------------------- */

static int main_pipeline(void *arg)
{
    (void)arg;
    test_server ts;
    GO_CHECK(test_server_start(&ts, (goc_http_handler){h_shape, NULL}, NULL), "start");
    test_conn *c = calloc(1, sizeof *c);
    c->fd = test_dial(&ts);
    /* Three good requests and a bad one in one write. */
    test_send(c->fd, "GET /?size=1 HTTP/1.1\r\nHost: x\r\n\r\n"
                     "GET /?size=2 HTTP/1.1\r\nHost: x\r\n\r\n"
                     "POST /?size=3 HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nab"
                     "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n");
    test_resp r;
    for (int i = 1; i <= 3; i++) {
        GO_CHECK(test_read_resp(c, &r, false) && r.status == 200 && (int)r.body_len == i,
                 "response %d: %d %zu", i, r.status, r.body_len);
        test_resp_free(&r);
    }
    GO_CHECK(test_read_resp(c, &r, false) && r.status == 400, "the bad one: %d", r.status);
    GO_CHECK(!r.keep_alive, "400 closes");
    test_resp_free(&r);
    GO_CHECK(test_wait_closed(c->fd), "closed after 400");
    goc_close(c->fd);
    free(c);
    test_server_stop(&ts);
    return 0;
}

Test(server, pipelined_answers_in_order_and_a_bad_one_costs_them_nothing, .timeout = 20)
{
    cr_assert_eq(run_main(main_pipeline, NULL), 0);
}

static const char *const bad_requests[] = {
    "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked, chunked\r\n\r\n",
    "GET / HTTP/1.1\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: x\rX: y\r\n\r\n",
    "GET / HTTP/1.1\r\nHost : x\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: +3\r\n\r\nabc",
    "G(T / HTTP/1.1\r\nHost: x\r\n\r\n",
    "GET /%zz HTTP/1.1\r\nHost: x\r\n\r\n",
};

static int main_rejects(void *arg)
{
    (void)arg;
    test_server ts;
    GO_CHECK(test_server_start(&ts, (goc_http_handler){h_hello, NULL}, NULL), "start");
    for (size_t i = 0; i < sizeof bad_requests / sizeof bad_requests[0]; i++) {
        test_conn *c = calloc(1, sizeof *c);
        c->fd = test_dial(&ts);
        test_send(c->fd, bad_requests[i]);
        test_resp r;
        GO_CHECK(test_read_resp(c, &r, false) && r.status == 400, "request %zu: status %d", i,
                 r.status);
        GO_CHECK(test_wait_closed(c->fd), "request %zu: not closed", i);
        test_resp_free(&r);
        goc_close(c->fd);
        free(c);
    }
    struct {
        const char *req;
        int status;
    } other[] = {
        {"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505},
        {"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501},
        {"GET / HTTP/1.1\r\nHost: x\r\nExpect: teapot\r\n\r\n", 417},
    };
    for (size_t i = 0; i < 3; i++) {
        test_resp r;
        GO_CHECK(test_roundtrip(&ts, other[i].req, &r) && r.status == other[i].status, "%s: %d",
                 other[i].req, r.status);
        test_resp_free(&r);
    }
    test_server_stop(&ts);
    return 0;
}

Test(server, rejected_requests_get_their_status_and_a_closed_connection, .timeout = 30)
{
    cr_assert_eq(run_main(main_rejects, NULL), 0);
}

static int main_big_head(void *arg)
{
    (void)arg;
    test_server ts;
    goc_http_server_opts o = {.max_header_bytes = 4096};
    GO_CHECK(test_server_start(&ts, (goc_http_handler){h_hello, NULL}, &o), "start");
    char *req = malloc(10000);
    strcpy(req, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: ");
    size_t n = strlen(req);
    memset(req + n, 'a', 6000);
    strcpy(req + n + 6000, "\r\n\r\n");
    test_resp r;
    GO_CHECK(test_roundtrip(&ts, req, &r) && r.status == 431, "431: %d", r.status);
    test_resp_free(&r);
    free(req);
    test_server_stop(&ts);
    return 0;
}

Test(server, head_over_the_limit_is_431, .timeout = 20)
{
    cr_assert_eq(run_main(main_big_head, NULL), 0);
}

/* ---- request bodies ---------------------------------------------------------------- */

static int main_bodies(void *arg)
{
    (void)arg;
    test_server ts;
    GO_CHECK(test_server_start(&ts, (goc_http_handler){h_body, NULL}, NULL), "start");
    test_conn *c = calloc(1, sizeof *c);
    c->fd = test_dial(&ts);
    test_resp r;
    /* Length-delimited, a large one (read straight into the handler's buffer). */
    size_t big = 200000;
    char *body = malloc(big);
    long sum = 0;
    for (size_t i = 0; i < big; i++)
        sum += (unsigned char)(body[i] = (char)(i * 7));
    char head[128];
    snprintf(head, sizeof head, "PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n", big);
    test_send(c->fd, head);
    goc_write(c->fd, body, big);
    char want[128];
    snprintf(want, sizeof want, "n=%zu sum=%ld err=0 t=-", big, sum);
    GO_CHECK(test_read_resp(c, &r, false) && strcmp(r.body, want) == 0, "length body: %s", r.body);
    test_resp_free(&r);
    /* Chunked with a trailer. */
    test_send(c->fd, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nX-T: yes\r\n\r\n");
    GO_CHECK(test_read_resp(c, &r, false) && strcmp(r.body, "n=5 sum=495 err=0 t=yes") == 0,
             "chunked: %s", r.body);
    test_resp_free(&r);
    /* Bad chunking: the handler sees an error, the connection closes. */
    test_send(c->fd, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "0x3\r\nabc\r\n0\r\n\r\n");
    GO_CHECK(test_read_resp(c, &r, false) && strstr(r.body, "err=-3109"), "bad chunk: %s", r.body);
    test_resp_free(&r);
    GO_CHECK(test_wait_closed(c->fd), "closed after bad chunking");
    goc_close(c->fd);
    free(c);
    free(body);
    test_server_stop(&ts);
    return 0;
}

Test(server, request_bodies_length_chunked_and_malformed, .timeout = 30)
{
    cr_assert_eq(run_main(main_bodies, NULL), 0);
}

static int main_continue(void *arg)
{
    (void)arg;
    test_server ts;
    GO_CHECK(test_server_start(&ts, (goc_http_handler){h_body, NULL}, NULL), "start");
    test_conn *c = calloc(1, sizeof *c);
    c->fd = test_dial(&ts);
    test_send(c->fd,
              "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n");
    while (!strstr(c->buf, "\r\n\r\n"))
        if (test_conn_more_(c) <= 0)
            break;
    GO_CHECK(strncmp(c->buf, "HTTP/1.1 100 Continue\r\n\r\n", 25) == 0, "100 first: %.30s", c->buf);
    test_send(c->fd, "abc");
    test_resp r;
    GO_CHECK(test_read_resp(c, &r, false) && strncmp(r.body, "n=3 ", 4) == 0, "body %s", r.body);
    test_resp_free(&r);
    goc_close(c->fd);
    free(c);
    test_server_stop(&ts);
    return 0;
}

Test(server, expect_continue_is_answered_on_the_first_read, .timeout = 20)
{
    cr_assert_eq(run_main(main_continue, NULL), 0);
}

static void h_ignore_body(goc_http_response_writer *w, goc_http_request *r, void *arg)
{
    (void)arg;
    if (strstr(r->raw_query, "limit")) {
        goc_http_max_bytes(r, 10);
        char buf[64];
        ssize_t n, total = 0;
        while ((n = goc_http_body_read(r, buf, sizeof buf)) > 0)
            total += n;
        GO_CHECK(n == GOC_EHTTP_BODY_TOO_LARGE && total == 10, "limit: n %zd total %zd", n, total);
        return; /* nothing written: the server answers 413 */
    }
    goc_http_write_str(w, "ignored");
}

static int main_drain(void *arg)
{
    (void)arg;
    test_server ts;
    GO_CHECK(test_server_start(&ts, (goc_http_handler){h_ignore_body, NULL}, NULL), "start");
    test_conn *c = calloc(1, sizeof *c);
    c->fd = test_dial(&ts);
    /* A small unread body is drained: the connection goes on. */
    test_send(c->fd, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
                     "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    test_resp r;
    for (int i = 0; i < 2; i++) {
        GO_CHECK(test_read_resp(c, &r, false) && r.status == 200 && r.keep_alive, "drained %d", i);
        test_resp_free(&r);
    }
    /* One over 256 KiB is not: the answer, then the connection closes. */
    test_send(c->fd, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n");
    char *junk = calloc(1, 400000);
    goc_write(c->fd, junk, 400000);
    GO_CHECK(test_read_resp(c, &r, false) && r.status == 200, "big unread: %d", r.status);
    test_resp_free(&r);
    GO_CHECK(test_wait_closed(c->fd), "closed after a big unread body");
    goc_close(c->fd);
    /* Over the handler's limit: 413 and a closed connection. */
    c->len = 0;
    c->fd = test_dial(&ts);
    test_send(c->fd, "POST /?limit HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n");
    goc_write(c->fd, junk, 100);
    GO_CHECK(test_read_resp(c, &r, false) && r.status == 413 && !r.keep_alive, "413: %d", r.status);
    test_resp_free(&r);
    GO_CHECK(test_wait_closed(c->fd), "closed after 413");
    goc_close(c->fd);
    free(junk);
    free(c);
    test_server_stop(&ts);
    return 0;
}

Test(server, unread_bodies_drained_or_closed_and_limit_is_413, .timeout = 30)
{
    cr_assert_eq(run_main(main_drain, NULL), 0);
}

/* ---- timeouts ---------------------------------------------------------------------- */

static int main_timeouts(void *arg)
{
    (void)arg;
    test_server ts;
    goc_http_server_opts o = {.read_header_timeout = 300 * GOC_MILLISECOND,
                              .idle_timeout = 300 * GOC_MILLISECOND};
    GO_CHECK(test_server_start(&ts, (goc_http_handler){h_hello, NULL}, &o), "start");
    /* Slowloris: half a head, then nothing: 408 and closed. */
    test_conn *c = calloc(1, sizeof *c);
    c->fd = test_dial(&ts);
    int64_t t0 = goc_now();
    test_send(c->fd, "GET / HTTP/1.1\r\nHost: x\r\n");
    test_resp r;
    GO_CHECK(test_read_resp(c, &r, false) && r.status == 408, "408: %d", r.status);
    test_resp_free(&r);
    GO_CHECK(test_wait_closed(c->fd), "closed after 408");
    GO_CHECK(since_ms(t0) >= 250, "too early: %lld ms", (long long)since_ms(t0));
    goc_close(c->fd);
    /* Idle after a request: closed quietly. */
    c->len = 0;
    c->fd = test_dial(&ts);
    test_send(c->fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    GO_CHECK(test_read_resp(c, &r, false) && r.status == 200, "first");
    test_resp_free(&r);
    GO_CHECK(test_wait_closed(c->fd), "idle connection closed");
    goc_close(c->fd);
    /* A connection that sends nothing at all. */
    c->fd = test_dial(&ts);
    GO_CHECK(test_wait_closed(c->fd), "silent connection closed");
    goc_close(c->fd);
    free(c);
    test_server_stop(&ts);
    return 0;
}

Test(server, header_and_idle_timeouts_close_slow_connections, .timeout = 30)
{
    cr_assert_eq(run_main(main_timeouts, NULL), 0);
}

/* ---- the request's context and hijacking -------------------------------------------- */

static atomic_int ctx_seen;

static void h_wait_ctx(goc_http_response_writer *w, goc_http_request *r, void *arg)
{
    (void)w, (void)arg;
    goc_ctx *ctx = goc_http_request_ctx(r);
    goc_case cs[1] = {GOC_RECV(goc_ctx_done(ctx), NULL)};
    int rc = goc_select(cs, 1, 10 * GOC_SECOND);
    atomic_store(&ctx_seen, rc == 0 && goc_ctx_err(ctx) == -ECANCELED ? 1 : -1);
}

static int main_ctx_gone(void *arg)
{
    (void)arg;
    test_server ts;
    GO_CHECK(test_server_start(&ts, (goc_http_handler){h_wait_ctx, NULL}, NULL), "start");
    atomic_store(&ctx_seen, 0);
    int fd = test_dial(&ts);
    test_send(fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    goc_sleep(100 * GOC_MILLISECOND);
    goc_close(fd); /* the client goes away */
    int64_t t0 = goc_now();
    while (atomic_load(&ctx_seen) == 0 && since_ms(t0) < 5000)
        goc_sleep(10 * GOC_MILLISECOND);
    GO_CHECK(atomic_load(&ctx_seen) == 1, "ctx not cancelled when the client left: %d",
             atomic_load(&ctx_seen));
    test_server_stop(&ts);
    return 0;
}

Test(server, request_ctx_cancelled_when_the_client_goes_away, .timeout = 20)
{
    cr_assert_eq(run_main(main_ctx_gone, NULL), 0);
}

static void h_hijack(goc_http_response_writer *w, goc_http_request *r, void *arg)
{
    (void)r, (void)arg;
    int fd;
    char *buf;
    size_t n;
    GO_CHECK(goc_http_hijack(w, &fd, &buf, &n) == 0, "hijack");
    GO_CHECK(n == 5 && memcmp(buf, "extra", 5) == 0, "buffered %zu", n);
    free(buf);
    GO_CHECK(goc_http_write(w, "x", 1) == GOC_EHTTP_HIJACKED, "write after hijack");
    static const char up[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\n\r\n";
    goc_write(fd, up, sizeof up - 1);
    char b[16];
    ssize_t k = goc_read(fd, b, sizeof b);
    if (k > 0)
        goc_write(fd, b, (size_t)k);
    goc_close(fd);
}

static int main_hijack(void *arg)
{
    (void)arg;
    test_server ts;
    GO_CHECK(test_server_start(&ts, (goc_http_handler){h_hijack, NULL}, NULL), "start");
    int fd = test_dial(&ts);
    test_send(fd, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: echo\r\nConnection: upgrade\r\n\r\nextra");
    char buf[256] = {0};
    size_t got = 0;
    while (!strstr(buf, "\r\n\r\n") && got < sizeof buf - 1) {
        ssize_t n = goc_read(fd, buf + got, sizeof buf - 1 - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    GO_CHECK(strncmp(buf, "HTTP/1.1 101", 12) == 0, "101: %s", buf);
    test_send(fd, "ping");
    char b[8] = {0};
    GO_CHECK(read_full(fd, b, 4) == 4 && memcmp(b, "ping", 4) == 0, "echo over the hijacked fd");
    goc_close(fd);
    test_server_stop(&ts);
    return 0;
}

Test(server, hijack_hands_over_the_socket_and_buffered_bytes, .timeout = 20)
{
    cr_assert_eq(run_main(main_hijack, NULL), 0);
}

/* ---- shutdown and load -------------------------------------------------------------------- */

static void h_slow(goc_http_response_writer *w, goc_http_request *r, void *arg)
{
    (void)r, (void)arg;
    goc_sleep(300 * GOC_MILLISECOND);
    goc_http_write_str(w, "slow done");
}

static int main_shutdown(void *arg)
{
    (void)arg;
    test_server ts;
    GO_CHECK(test_server_start(&ts, (goc_http_handler){h_slow, NULL}, NULL), "start");
    test_conn *idle = calloc(1, sizeof *idle), *busy = calloc(1, sizeof *busy);
    idle->fd = test_dial(&ts);
    test_send(idle->fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    test_resp r;
    GO_CHECK(test_read_resp(idle, &r, false) && r.status == 200, "idle's first");
    test_resp_free(&r);
    busy->fd = test_dial(&ts);
    test_send(busy->fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    goc_sleep(100 * GOC_MILLISECOND); /* the busy one is in its handler */
    goc_ctx *ctx = goc_ctx_with_timeout(goc_ctx_background(), 5 * GOC_SECOND);
    int rc = goc_http_server_shutdown(ts.srv, ctx);
    GO_CHECK(rc == 0, "shutdown: %s", goc_strerror(rc));
    goc_ctx_release(ctx);
    GO_CHECK(test_wait_closed(idle->fd), "idle connection closed");
    GO_CHECK(test_read_resp(busy, &r, false) && r.status == 200 && !r.keep_alive &&
                 strcmp(r.body, "slow done") == 0,
             "the active request completed: %d", r.status);
    test_resp_free(&r);
    int serve_rc;
    goc_chan_recv(ts.done, &serve_rc);
    GO_CHECK(serve_rc == GOC_EHTTP_SERVER_CLOSED, "serve: %d", serve_rc);
    GO_CHECK(goc_dial("tcp", ts.addr, GOC_SECOND) < 0, "still accepting");
    goc_close(idle->fd);
    goc_close(busy->fd);
    free(idle);
    free(busy);
    goc_chan_release(ts.done);
    goc_http_server_free(ts.srv);
    return 0;
}

Test(server, shutdown_closes_idle_and_waits_for_active, .timeout = 20)
{
    cr_assert_eq(run_main(main_shutdown, NULL), 0);
}

typedef struct load_arg {
    test_server *ts;
    goc_waitgroup *wg;
    atomic_int *ok;
} load_arg;

static void load_client(void *p)
{
    load_arg *a = p;
    test_conn *c = calloc(1, sizeof *c);
    c->fd = test_dial(a->ts);
    for (int i = 0; i < 20 && c->fd >= 0; i++) {
        test_send(c->fd, "GET /?size=100 HTTP/1.1\r\nHost: x\r\n\r\n");
        test_resp r;
        if (test_read_resp(c, &r, false) && r.status == 200 && r.body_len == 100)
            atomic_fetch_add(a->ok, 1);
        test_resp_free(&r);
    }
    if (c->fd >= 0)
        goc_close(c->fd);
    free(c);
    goc_waitgroup_done(a->wg);
}

static int main_load(void *arg)
{
    (void)arg;
    test_server ts;
    GO_CHECK(test_server_start(&ts, (goc_http_handler){h_shape, NULL}, NULL), "start");
    goc_waitgroup wg = {0};
    atomic_int ok = 0;
    int n = (int)test_scale(100);
    load_arg a = {&ts, &wg, &ok};
    goc_waitgroup_add(&wg, n);
    for (int i = 0; i < n; i++)
        GO_SPAWN(load_client, &a);
    goc_waitgroup_wait(&wg);
    GO_CHECK(atomic_load(&ok) == n * 20, "%d of %d answered", atomic_load(&ok), n * 20);
    test_server_stop(&ts);
    return 0;
}

Test(server, many_concurrent_keep_alive_clients, .timeout = 60)
{
    cr_assert_eq(run_main(main_load, NULL), 0);
}

static void h_remote(goc_http_response_writer *w, goc_http_request *r, void *arg)
{
    (void)arg;
    goc_http_write_str(w, r->remote_addr);
}

static int main_remote(void *arg)
{
    (void)arg;
    test_server ts;
    GO_CHECK(test_server_start(&ts, (goc_http_handler){h_remote, NULL}, NULL), "start");
    test_conn *c = calloc(1, sizeof *c);
    c->fd = test_dial(&ts);
    char want[64];
    snprintf(want, sizeof want, "127.0.0.1:%d", sock_port(c->fd));
    test_send(c->fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    test_resp r;
    GO_CHECK(test_read_resp(c, &r, false) && strcmp(r.body, want) == 0, "remote %s, want %s",
             r.body, want);
    test_resp_free(&r);
    goc_close(c->fd);
    free(c);
    test_server_stop(&ts);
    return 0;
}

Test(server, remote_addr_is_the_clients_ip_and_port, .timeout = 20)
{
    cr_assert_eq(run_main(main_remote, NULL), 0);
}
