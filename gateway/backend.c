/*
 * backend.c — gateway-backend: the small HTTP service that the gateway's
 * demo, tests and benchmark put behind it. A program on goc's public API.
 *
 *   gateway-backend [-addr HOST:PORT] [-name NAME]
 *
 * -addr defaults to 127.0.0.1:9001 (":0" picks a free port), -name to
 * "backend". Once listening it prints "listening on http://HOST:PORT"
 * (the port actually bound) and flushes. SIGTERM or SIGINT stops it: the
 * server is shut down (active requests get a second), the rest closed,
 * and the program exits 0.
 *
 * Routes (any method unless said):
 *   /                  "hello from NAME\n" (every path no other route takes)
 *   /healthz           200 "ok\n", or 503 "unhealthy\n" after
 *   POST /admin/health?ok=0 (ok=1 turns it back): a failing health check
 *                      without killing the process
 *   /delay?ms=N        answers "slept N ms\n" after N ms
 *   /status?code=N     answers with status N
 *   /echo              the request body back, as it is read (Content-Type
 *                      and a known Content-Length are kept)
 *   /headers           "METHOD TARGET" as received, then the request's header
 *                      fields, one "Name: value" a line
 *   /sse?n=N&ms=M      N server-sent events, each flushed, M ms apart
 *   /cache[/...]?max_age=N  Cache-Control: public, max-age=N, an ETag (304
 *                      for a matching If-None-Match), and X-Backend-Count:
 *                      the requests /cache has had so far, this one counted
 *   /big?kb=N          N KiB of text
 *   /ws                a WebSocket handshake (Sec-WebSocket-Accept), then
 *                      the hijacked connection echoes raw bytes until EOF
 *   /plaintext         "Hello, World!" (TechEmpower's plaintext test)
 *
 * State: the health flag and the /cache counter are process-wide atomics
 * (relaxed: each is a lone value, no other memory is published through
 * it). Handlers keep nothing beyond their request; waits end early when
 * the request's context is cancelled. The hijacked /ws loop polls a
 * "stopping" flag, because the server's close waits for hijacked
 * handlers and cannot wake them itself.
 */
#include <goc.h>
#include <goc/http.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_DELAY_MS  600000
#define MAX_SSE_N     100000
#define MAX_BIG_KB    (1 << 20) /* 1 GiB */
#define STOP_POLL     (250 * GOC_MILLISECOND)
#define SHUTDOWN_WAIT GOC_SECOND

static const char *name = "backend";
static atomic_bool healthy = true;
static atomic_bool stopping = false;
static atomic_uint_fast64_t cache_hits;

/* ---- helpers ------------------------------------------------------------ */

/* A query parameter as an integer clamped to [lo, hi]; def when absent or
 * not a number. */
static long query_long(goc_http_request *r, const char *key, long def, long lo, long hi)
{
    const char *s = goc_http_query_get(r, key);
    char *end;
    if (!s || !*s)
        return def;
    long v = strtol(s, &end, 10);
    if (*end)
        return def;
    return v < lo ? lo : v > hi ? hi : v;
}

/* Park ms milliseconds, or less if the request's context ends (the client
 * went away, or the server closes). true if the whole wait passed. */
static bool wait_ms(goc_http_request *r, long ms)
{
    goc_ctx *ctx = goc_http_request_ctx(r);
    if (ms <= 0)
        return goc_ctx_err(ctx) == 0;
    goc_case c = GOC_RECV(goc_ctx_done(ctx), NULL);
    return goc_select(&c, 1, ms * GOC_MILLISECOND) == -ETIMEDOUT;
}

static void set_text(goc_http_response_writer *w, const char *type)
{
    goc_http_header_set(goc_http_response_header(w), "Content-Type", type);
}

/* ---- handlers ----------------------------------------------------------- */

static void handle_hello(goc_http_response_writer *w, goc_http_request *r, void *arg)
{
    (void)r, (void)arg;
    set_text(w, "text/plain; charset=utf-8");
    goc_http_printf(w, "hello from %s\n", name);
}

static void handle_plaintext(goc_http_response_writer *w, goc_http_request *r, void *arg)
{
    (void)r, (void)arg;
    goc_http_header *h = goc_http_response_header(w);
    goc_http_header_set(h, "Content-Type", "text/plain");
    goc_http_header_set(h, "Content-Length", "13");
    goc_http_write(w, "Hello, World!", 13);
}

static void handle_healthz(goc_http_response_writer *w, goc_http_request *r, void *arg)
{
    (void)r, (void)arg;
    set_text(w, "text/plain");
    if (atomic_load_explicit(&healthy, memory_order_relaxed)) {
        goc_http_write_str(w, "ok\n");
    } else {
        goc_http_write_header(w, 503);
        goc_http_write_str(w, "unhealthy\n");
    }
}

static void handle_admin_health(goc_http_response_writer *w, goc_http_request *r, void *arg)
{
    (void)arg;
    const char *ok = goc_http_query_get(r, "ok");
    if (!ok || (strcmp(ok, "0") && strcmp(ok, "1"))) {
        goc_http_error(w, "want ?ok=0 or ?ok=1", 400);
        return;
    }
    atomic_store_explicit(&healthy, ok[0] == '1', memory_order_relaxed);
    set_text(w, "text/plain");
    goc_http_printf(w, "healthy=%s\n", ok);
}

static void handle_delay(goc_http_response_writer *w, goc_http_request *r, void *arg)
{
    (void)arg;
    long ms = query_long(r, "ms", 100, 0, MAX_DELAY_MS);
    if (!wait_ms(r, ms))
        return;
    set_text(w, "text/plain");
    goc_http_printf(w, "slept %ld ms\n", ms);
}

static void handle_status(goc_http_response_writer *w, goc_http_request *r, void *arg)
{
    (void)arg;
    int code = (int)query_long(r, "code", 200, 200, 999);
    set_text(w, "text/plain");
    goc_http_write_header(w, code);
    if (code != 204 && code != 304)
        goc_http_printf(w, "status %d from %s\n", code, name);
}

/* The body back as it arrives: each piece read is written and flushed, so
 * a client (or a proxy) sees it stream both ways. */
static void handle_echo(goc_http_response_writer *w, goc_http_request *r, void *arg)
{
    (void)arg;
    goc_http_header *h = goc_http_response_header(w);
    const char *type = goc_http_header_get(r->header, "Content-Type");
    goc_http_header_set(h, "Content-Type", type ? type : "application/octet-stream");
    if (r->content_length >= 0) {
        char len[24];
        snprintf(len, sizeof len, "%lld", (long long)r->content_length);
        goc_http_header_set(h, "Content-Length", len);
    }
    char buf[16384];
    ssize_t n;
    while ((n = goc_http_body_read(r, buf, sizeof buf)) > 0)
        if (goc_http_write(w, buf, (size_t)n) < 0 || goc_http_flush(w) < 0)
            return;
    if (n < 0 && goc_http_response_status(w) == 0) {
        goc_http_header_del(h, "Content-Length");
        goc_http_error(w, goc_strerror((int)n), 400);
    }
}

static void handle_headers(goc_http_response_writer *w, goc_http_request *r, void *arg)
{
    (void)arg;
    set_text(w, "text/plain; charset=utf-8");
    goc_http_printf(w, "%s %s\n", r->method, r->target); /* the request line, as received */
    size_t n = goc_http_header_len(r->header);
    for (size_t i = 0; i < n; i++) {
        const char *k, *v;
        goc_http_header_at(r->header, i, &k, &v);
        goc_http_printf(w, "%s: %s\n", k, v);
    }
}

static void handle_sse(goc_http_response_writer *w, goc_http_request *r, void *arg)
{
    (void)arg;
    long n = query_long(r, "n", 5, 0, MAX_SSE_N);
    long ms = query_long(r, "ms", 100, 0, MAX_DELAY_MS);
    goc_http_header *h = goc_http_response_header(w);
    goc_http_header_set(h, "Content-Type", "text/event-stream");
    goc_http_header_set(h, "Cache-Control", "no-cache");
    goc_http_write_header(w, 200);
    goc_http_flush(w); /* the head now: the client knows the stream is open */
    for (long i = 1; i <= n; i++) {
        if (i > 1 && !wait_ms(r, ms))
            return;
        if (goc_http_printf(w, "id: %ld\ndata: event %ld of %ld from %s\n\n", i, i, n, name) < 0 ||
            goc_http_flush(w) < 0)
            return;
    }
}

static void handle_cache(goc_http_response_writer *w, goc_http_request *r, void *arg)
{
    (void)arg;
    uint64_t count = atomic_fetch_add_explicit(&cache_hits, 1, memory_order_relaxed) + 1;
    long max_age = query_long(r, "max_age", 60, 0, 31536000);
    char cc[48], etag[128], cnt[24];
    snprintf(cc, sizeof cc, "public, max-age=%ld", max_age);
    snprintf(etag, sizeof etag, "\"%s-v1\"", name);
    snprintf(cnt, sizeof cnt, "%llu", (unsigned long long)count);
    goc_http_header *h = goc_http_response_header(w);
    goc_http_header_set(h, "Cache-Control", cc);
    goc_http_header_set(h, "ETag", etag);
    goc_http_header_set(h, "X-Backend-Count", cnt);
    const char *inm = goc_http_header_get(r->header, "If-None-Match");
    if (inm && (strstr(inm, etag) || !strcmp(inm, "*"))) {
        goc_http_write_header(w, 304);
        return;
    }
    set_text(w, "text/plain; charset=utf-8");
    goc_http_printf(w, "cacheable response %s from %s\n", cnt, name);
}

static void handle_big(goc_http_response_writer *w, goc_http_request *r, void *arg)
{
    (void)arg;
    long kb = query_long(r, "kb", 1024, 0, MAX_BIG_KB);
    char line[1024], len[24];
    for (size_t i = 0; i < sizeof line; i++) /* 64-byte lines of letters */
        line[i] = (i % 64 == 63) ? '\n' : (char)('a' + (i / 64) % 26);
    snprintf(len, sizeof len, "%ld", kb * 1024);
    set_text(w, "text/plain");
    goc_http_header_set(goc_http_response_header(w), "Content-Length", len);
    for (long i = 0; i < kb; i++)
        if (goc_http_write(w, line, sizeof line) < 0)
            return;
}

/* Sec-WebSocket-Accept (RFC 6455 4.2.2): base64(SHA-1(key + GUID)). */
static void ws_accept(const char *key, char out[64])
{
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    char in[256];
    unsigned char md[SHA_DIGEST_LENGTH];
    int n = snprintf(in, sizeof in, "%s%s", key, guid);
    SHA1((const unsigned char *)in, (size_t)n, md);
    EVP_EncodeBlock((unsigned char *)out, md, SHA_DIGEST_LENGTH);
}

/* Echo bytes on the hijacked fd until EOF, an error, or the program
 * stopping (checked every STOP_POLL while idle). */
static void ws_echo(int fd, const char *pre, size_t npre)
{
    char buf[16384];
    if (npre && goc_write(fd, pre, npre) < 0)
        return;
    while (!atomic_load_explicit(&stopping, memory_order_relaxed)) {
        int ev = goc_wait_fd(fd, GOC_READ, STOP_POLL);
        if (ev == -ETIMEDOUT)
            continue;
        ssize_t n = ev < 0 ? ev : goc_read(fd, buf, sizeof buf);
        if (n <= 0 || goc_write(fd, buf, (size_t)n) < 0)
            return;
    }
}

static void handle_ws(goc_http_response_writer *w, goc_http_request *r, void *arg)
{
    (void)arg;
    const char *up = goc_http_header_get(r->header, "Upgrade");
    const char *key = goc_http_header_get(r->header, "Sec-WebSocket-Key");
    if (!up || strcasecmp(up, "websocket") || !key || strlen(key) > 128) {
        goc_http_header_set(goc_http_response_header(w), "Upgrade", "websocket");
        goc_http_error(w, "want Upgrade: websocket and Sec-WebSocket-Key", 426);
        return;
    }
    char accept[64], head[256];
    ws_accept(key, accept);
    int fd, n = snprintf(head, sizeof head,
                         "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                         "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
                         accept);
    char *pre = NULL;
    size_t npre = 0;
    if (goc_http_hijack(w, &fd, &pre, &npre) < 0) {
        goc_http_error(w, "cannot hijack the connection", 500);
        return;
    }
    if (goc_write(fd, head, (size_t)n) == n)
        ws_echo(fd, pre, npre);
    free(pre);
    goc_close(fd);
}

/* ---- the server ----------------------------------------------------------- */

static int add_routes(goc_http_mux *m)
{
    static const struct {
        const char *pattern;
        goc_http_handler_fn fn;
    } routes[] = {
        {"/", handle_hello},           {"/plaintext", handle_plaintext},
        {"/healthz", handle_healthz},  {"POST /admin/health", handle_admin_health},
        {"/delay", handle_delay},      {"/status", handle_status},
        {"/echo", handle_echo},        {"/headers", handle_headers},
        {"/headers/", handle_headers}, {"/sse", handle_sse},
        {"/cache", handle_cache},      {"/cache/", handle_cache},
        {"/big", handle_big},          {"/ws", handle_ws},
    };
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        if (goc_http_mux_handle_func(m, routes[i].pattern, routes[i].fn, NULL) < 0) {
            fprintf(stderr, "gateway-backend: route %s: %s\n", routes[i].pattern, goc_errmsg());
            return -1;
        }
    return 0;
}

typedef struct serving {
    goc_http_server *srv;
    int lfd;
    goc_chan *done; /* serve's result, one int */
} serving;

static void serve_goroutine(void *arg)
{
    serving *s = arg;
    int err = goc_http_server_serve(s->srv, s->lfd);
    goc_chan_send(s->done, &err);
}

/* Serve until SIGTERM or SIGINT (then stop, 0) or a serve error (1). */
static int serve_until_signal(serving *s)
{
    static const int sigs[] = {SIGTERM, SIGINT};
    goc_chan *sigc = goc_chan_make(sizeof(int), 2);
    if (!sigc || goc_signal_notify(sigc, sigs, 2) < 0 || goc_go(serve_goroutine, s) < 0) {
        fprintf(stderr, "gateway-backend: %s\n", goc_errmsg());
        return 1;
    }
    int sig = 0, err = 0, status = 0;
    goc_case cases[] = {GOC_RECV(sigc, &sig), GOC_RECV(s->done, &err)};
    if (goc_select(cases, 2, GOC_FOREVER) == 0) {
        atomic_store_explicit(&stopping, true, memory_order_relaxed);
        goc_ctx *ctx = goc_ctx_with_timeout(goc_ctx_background(), SHUTDOWN_WAIT);
        if (!ctx || goc_http_server_shutdown(s->srv, ctx) < 0)
            goc_http_server_close(s->srv);
        goc_ctx_release(ctx);
        goc_chan_recv(s->done, &err);
    } else {
        fprintf(stderr, "gateway-backend: serve: %s\n", goc_strerror(err));
        status = 1;
    }
    goc_signal_stop(sigc);
    goc_chan_release(sigc);
    return status;
}

/* "listening on http://HOST:PORT" with the port bound (for -addr :0). */
static void print_addr(int lfd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    char host[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    const char *fmt = "listening on http://%s:%d\n";
    if (getsockname(lfd, (struct sockaddr *)&ss, &len) == 0 && ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
        port = ntohs(a->sin6_port);
        fmt = "listening on http://[%s]:%d\n";
    } else if (ss.ss_family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
        port = ntohs(a->sin_port);
    }
    printf(fmt, host, port);
    fflush(stdout);
}

static int run(void *arg)
{
    const char *addr = arg;
    goc_http_mux *mux = goc_http_mux_new();
    if (!mux || add_routes(mux) < 0)
        return 1;
    goc_http_server_opts opts = {.server_name = "gateway-backend"};
    serving s = {goc_http_server_new(goc_http_mux_handler(mux), &opts), -1,
                 goc_chan_make(sizeof(int), 1)};
    if (!s.srv || !s.done) {
        fprintf(stderr, "gateway-backend: out of memory\n");
        return 1;
    }
    s.lfd = goc_listen("tcp", addr);
    if (s.lfd < 0) {
        fprintf(stderr, "gateway-backend: %s\n", goc_errmsg());
        return 1;
    }
    print_addr(s.lfd);
    int status = serve_until_signal(&s);
    goc_http_server_free(s.srv);
    goc_http_mux_free(mux);
    goc_chan_release(s.done);
    return status;
}

int main(int argc, char **argv)
{
    const char *addr = "127.0.0.1:9001";
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i] + (argv[i][0] == '-' && argv[i][1] == '-');
        if (!strcmp(f, "-addr") && i + 1 < argc)
            addr = argv[++i];
        else if (!strcmp(f, "-name") && i + 1 < argc)
            name = argv[++i];
        else {
            fprintf(stderr, "usage: gateway-backend [-addr HOST:PORT] [-name NAME]\n");
            return 2;
        }
    }
    int rc = goc_run(run, (void *)addr);
    return rc < 0 ? 1 : rc;
}
