/*
 * test_server_tls.c — the HTTP server over TLS: keep-alive requests, a
 * chunked stream and a sendfile static file through a raw goc TLS client,
 * curl with the test CA, plain HTTP to the HTTPS port (Go's 400 text), a
 * stalled handshake cut by the read-header timeout (and logged), and
 * goc_http_server_serve_tls from files.
 */
#include <criterion/criterion.h>

#include "http/serverutil.h"
#include "http/tlsutil.h"

#define FILE_SIZE (2 << 20)

static void h_app(goc_http_response_writer *w, goc_http_request *r, void *arg)
{
    (void)arg;
    if (strcmp(r->path, "/stream") == 0) {
        for (int i = 0; i < 5; i++) {
            char line[32];
            snprintf(line, sizeof line, "line %d\n", i);
            goc_http_write_str(w, line);
            goc_http_flush(w);
        }
    } else if (strcmp(r->path, "/file") == 0) {
        int fd = open(tls_path("data.bin"), O_RDONLY);
        goc_http_header_set(goc_http_response_header(w), "Content-Length", "2097152");
        ssize_t n = goc_http_sendfile(w, fd, 0, FILE_SIZE);
        GO_CHECK(n == FILE_SIZE, "sendfile %zd: %s", n, goc_errmsg());
        close(fd);
    } else if (strcmp(r->path, "/hijack") == 0) {
        int fd;
        char *buf;
        size_t n;
        GO_CHECK(goc_http_hijack(w, &fd, &buf, &n) == -ENOTSUP, "hijack over TLS");
        goc_http_write_str(w, "no hijack");
    } else {
        goc_http_write_str(w, "Hello, World!");
    }
}

/* Read from t until the head and its Content-Length body are in buf (or
 * EOF if close is set); the length read, or -1. */
static ssize_t read_resp(goc_tls_conn *t, char *buf, size_t cap, bool close)
{
    size_t len = 0;
    for (;;) {
        buf[len] = '\0';
        char *end = strstr(buf, "\r\n\r\n");
        const char *cl = end ? strcasestr(buf, "Content-Length: ") : NULL;
        if (!close && end && cl && (size_t)(end + 4 - buf) + (size_t)atol(cl + 16) <= len)
            return (ssize_t)len;
        if (len + 1 >= cap)
            return -1;
        ssize_t n = goc_tls_read(t, buf + len, cap - 1 - len);
        if (n == 0 && close)
            return (ssize_t)len;
        if (n <= 0)
            return -1;
        len += (size_t)n;
    }
}

static goc_tls_conn *dial_tls(test_server *ts, goc_tls_config *c)
{
    int fd = test_dial(ts);
    goc_tls_conn *t = goc_tls_client(fd, c, "localhost");
    int rc = goc_tls_handshake(t);
    GO_CHECK(rc == 0, "handshake: %s", goc_errmsg());
    return t;
}

static void close_tls(goc_tls_conn *t)
{
    int fd = goc_tls_fd(t);
    goc_tls_free(t);
    goc_close(fd);
}

static bool send_req(goc_tls_conn *t, const char *req)
{
    return goc_tls_write(t, req, strlen(req)) == (ssize_t)strlen(req);
}

static int main_raw(void *arg)
{
    (void)arg;
    GO_CHECK(tls_pki_make(), "pki");
    char *data = malloc(FILE_SIZE);
    for (size_t i = 0; i < FILE_SIZE; i++)
        data[i] = (char)(i % 253);
    FILE *f = fopen(tls_path("data.bin"), "w");
    fwrite(data, 1, FILE_SIZE, f);
    fclose(f);
    goc_http_server_opts o = {.tls = tls_server_cfg("good", "http/1.1")};
    test_server ts;
    GO_CHECK(test_server_start(&ts, (goc_http_handler){h_app, NULL}, &o), "start");
    goc_tls_config_release(o.tls); /* the server holds its own */
    goc_tls_config *c = tls_client_cfg("http/1.1");
    size_t cap = FILE_SIZE + 4096;
    char *buf = malloc(cap);

    /* Keep-alive: three requests on one connection. */
    goc_tls_conn *t = dial_tls(&ts, c);
    GO_CHECK(strcmp(goc_tls_alpn(t), "http/1.1") == 0, "alpn %s", goc_tls_alpn(t));
    for (int i = 0; i < 3; i++) {
        GO_CHECK(send_req(t, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"), "send %d", i);
        ssize_t n = read_resp(t, buf, cap, false);
        GO_CHECK(n > 0 && strncmp(buf, "HTTP/1.1 200 OK\r\n", 17) == 0 &&
                     strstr(buf, "\r\n\r\nHello, World!"),
                 "response %d: %.200s", i, n > 0 ? buf : "");
    }
    /* Hijack is refused over TLS. */
    GO_CHECK(send_req(t, "GET /hijack HTTP/1.1\r\nHost: x\r\n\r\n"), "send");
    GO_CHECK(read_resp(t, buf, cap, false) > 0 && strstr(buf, "no hijack"), "hijack: %.200s", buf);
    close_tls(t);

    /* A chunked stream. */
    t = dial_tls(&ts, c);
    GO_CHECK(send_req(t, "GET /stream HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"), "send");
    ssize_t n = read_resp(t, buf, cap, true);
    GO_CHECK(n > 0 && strstr(buf, "Transfer-Encoding: chunked") && strstr(buf, "line 4\n") &&
                 strstr(buf, "\r\n0\r\n\r\n"),
             "stream: %.400s", n > 0 ? buf : "");
    close_tls(t);

    /* sendfile of a static file (kTLS if the kernel has it, else a copy). */
    t = dial_tls(&ts, c);
    GO_CHECK(send_req(t, "GET /file HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"), "send");
    n = read_resp(t, buf, cap, true);
    char *body = n > 0 ? strstr(buf, "\r\n\r\n") : NULL;
    GO_CHECK(body && n - (body + 4 - buf) == FILE_SIZE && memcmp(body + 4, data, FILE_SIZE) == 0,
             "file: %zd bytes", n);
    close_tls(t);

    /* Plain HTTP to the HTTPS server: Go's answer, in plain text. */
    int fd = test_dial(&ts);
    test_send(fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    size_t len = 0;
    while ((n = goc_read(fd, buf + len, cap - 1 - len)) > 0)
        len += (size_t)n;
    buf[len] = '\0';
    GO_CHECK(strcmp(buf, "HTTP/1.0 400 Bad Request\r\n\r\n"
                         "Client sent an HTTP request to an HTTPS server.\n") == 0,
             "plain: \"%s\"", buf);
    goc_close(fd);

    /* curl with the test CA. */
    char cmd[512];
    snprintf(
        cmd, sizeof cmd,
        "curl -sS --max-time 10 --cacert %s https://127.0.0.1:%d/hello https://127.0.0.1:%d/file "
        "-o %s -o %s 2>%s",
        tls_path("ca.pem"), ts.port, ts.port, tls_path("curl.out"), tls_path("curl.file"),
        tls_path("curl.err"));
    GO_CHECK(tls_sh(cmd) == 0, "curl failed");
    GO_CHECK(tls_file_has(tls_path("curl.out"), "Hello, World!"), "curl output");
    char *got = NULL;
    size_t glen = 0;
    GO_CHECK(goc_read_file(tls_path("curl.file"), &got, &glen) == 0 && glen == FILE_SIZE &&
                 memcmp(got, data, FILE_SIZE) == 0,
             "curl file: %zu bytes", glen);
    free(got);

    test_server_stop(&ts);
    goc_tls_config_release(c);
    free(buf);
    free(data);
    tmpdir_cleanup();
    return 0;
}

Test(server_tls, keepalive_stream_sendfile_plain_http_and_curl, .timeout = 60)
{
    cr_assert_eq(run_main(main_raw, NULL), 0);
}

/* ---- a stalled handshake ----------------------------------------------------------------- */

static char logged[512];

static void log_line(const char *msg, void *arg)
{
    (void)arg;
    if (!logged[0])
        snprintf(logged, sizeof logged, "%s", msg);
}

static int main_stall(void *arg)
{
    (void)arg;
    GO_CHECK(tls_pki_make(), "pki");
    goc_http_server_opts o = {.tls = tls_server_cfg("good", NULL),
                              .read_header_timeout = 300 * GOC_MILLISECOND,
                              .error_log = log_line};
    test_server ts;
    GO_CHECK(test_server_start(&ts, (goc_http_handler){h_app, NULL}, &o), "start");
    goc_tls_config_release(o.tls);
    int fd = test_dial(&ts);
    test_send(fd, "\x16\x03\x01\x02\x00"); /* a handshake record's header, then nothing */
    int64_t t0 = goc_now();
    char b;
    ssize_t n = goc_read(fd, &b, 1);
    GO_CHECK(n <= 0, "read %zd", n);
    GO_CHECK(since_ms(t0) >= 250 && since_ms(t0) < late_ms(300), "cut after %lld ms",
             (long long)since_ms(t0));
    goc_close(fd);
    for (int i = 0; i < 100 && !logged[0]; i++)
        goc_sleep(10 * GOC_MILLISECOND);
    GO_CHECK(strstr(logged, "http: TLS handshake error from 127.0.0.1:"), "log: %s", logged);
    test_server_stop(&ts);
    tmpdir_cleanup();
    return 0;
}

Test(server_tls, header_timeout_cuts_a_stalled_handshake, .timeout = 20)
{
    cr_assert_eq(run_main(main_stall, NULL), 0);
}

/* ---- serve_tls from files ------------------------------------------------------------------ */

struct serving {
    goc_http_server *s;
    int lfd;
    goc_chan *done;
};

static void serve_tls(void *arg)
{
    struct serving *sv = arg;
    int rc = goc_http_server_serve_tls(sv->s, sv->lfd, tls_path("good.pem"), tls_path("good.key"));
    goc_chan_send(sv->done, &rc);
}

static int main_files(void *arg)
{
    (void)arg;
    GO_CHECK(tls_pki_make(), "pki");
    goc_http_server *s = goc_http_server_new((goc_http_handler){h_app, NULL}, NULL);
    GO_CHECK(goc_http_server_serve_tls(s, goc_listen("tcp", "127.0.0.1:0"), tls_path("none.pem"),
                                       tls_path("good.key")) == -ENOENT,
             "missing file: %s", goc_errmsg());
    struct serving sv = {s, goc_listen("tcp", "127.0.0.1:0"), goc_chan_make(sizeof(int), 1)};
    test_server ts = {.srv = s, .port = sock_port(sv.lfd), .done = sv.done};
    snprintf(ts.addr, sizeof ts.addr, "127.0.0.1:%d", ts.port);
    GO_SPAWN(serve_tls, &sv);
    goc_tls_config *c = tls_client_cfg("h2,http/1.1");
    goc_tls_conn *t = dial_tls(&ts, c);
    GO_CHECK(strcmp(goc_tls_alpn(t), "http/1.1") == 0, "alpn %s", goc_tls_alpn(t));
    char buf[1024];
    GO_CHECK(send_req(t, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"), "send");
    GO_CHECK(read_resp(t, buf, sizeof buf, false) > 0 && strstr(buf, "Hello, World!"), "resp");
    close_tls(t);
    goc_tls_config_release(c);
    test_server_stop(&ts);
    tmpdir_cleanup();
    return 0;
}

Test(server_tls, serve_tls_from_files, .timeout = 20)
{
    cr_assert_eq(run_main(main_files, NULL), 0);
}
