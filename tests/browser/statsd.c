/*
 * statsd.c — the server the browser test (tests/browser/run.sh) loads in
 * headless Chromium: the live stats page at /debug/stats, /metrics, and
 * "/" answering "Hello, World!".
 *
 *   statsd [-addr HOST:PORT] [-load N]
 *
 * It prints "listening on http://HOST:PORT" once it accepts (port 0: the
 * kernel picks one, the line says which). With -load N it also runs N
 * client goroutines that GET "/" over keep-alive connections, about 50
 * requests a second each, so the page has traffic to chart without any
 * other tool. SIGINT or SIGTERM: graceful shutdown, exit status 0.
 */
#define _GNU_SOURCE /* memmem */
#include <goc/http.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static goc_http_server *srv;
static goc_waitgroup served; /* done when serve has returned */
static char addr[128] = "127.0.0.1:0";
static int load;

static void hello(goc_http_response_writer *w, goc_http_request *r, void *arg)
{
    (void)r, (void)arg;
    goc_http_header_set(goc_http_response_header(w), "Content-Type", "text/plain");
    goc_http_write_str(w, "Hello, World!\n");
}

/* The routes, without a mux (this program needs nothing but the server). */
static void route(goc_http_response_writer *w, goc_http_request *r, void *arg)
{
    (void)arg;
    if (strcmp(r->path, "/") == 0) {
        hello(w, r, NULL);
    } else if (strcmp(r->path, "/debug/stats") == 0) {
        goc_http_serve_http(goc_http_stats_handler(), w, r);
    } else if (strcmp(r->path, "/metrics") == 0) {
        goc_http_serve_http(goc_http_metrics_handler(), w, r);
    } else {
        goc_http_write_header(w, 404);
        goc_http_write_str(w, "404 page not found\n");
    }
}

/* One keep-alive client: a request every 20 ms until the server closes
 * the connection (shutdown), then it stops. Responses are small and
 * carry a Content-Length; reading until the body's end is enough. */
static void client(void *arg)
{
    const char *to = arg;
    int fd = goc_dial("tcp", to, 5 * GOC_SECOND);
    if (fd < 0)
        return;
    static const char req[] = "GET / HTTP/1.1\r\nHost: statsd\r\n\r\n";
    char buf[4096];
    for (;;) {
        if (goc_write(fd, req, sizeof req - 1) != (ssize_t)(sizeof req - 1))
            break;
        size_t got = 0;
        while (!memmem(buf, got, "Hello, World!\n", 14)) {
            ssize_t n = goc_read(fd, buf + got, sizeof buf - got);
            if (n <= 0 || (got += (size_t)n) == sizeof buf)
                goto out_close;
        }
        goc_sleep(20 * GOC_MILLISECOND);
    }
out_close:
    goc_close(fd);
}

static void serve(void *arg)
{
    int lfd = *(int *)arg;
    int rc = goc_http_server_serve(srv, lfd);
    if (rc != GOC_EHTTP_SERVER_CLOSED)
        fprintf(stderr, "statsd: serve: %s\n", goc_strerror(rc));
    goc_waitgroup_done(&served);
}

static int run(void *arg)
{
    (void)arg;
    srv = goc_http_server_new((goc_http_handler){route, NULL}, NULL);
    int lfd = goc_listen("tcp", addr);
    if (!srv || lfd < 0) {
        fprintf(stderr, "statsd: listen %s: %s\n", addr, goc_strerror(lfd));
        return 1;
    }
    goc_chan *sig = goc_chan_make(sizeof(int), 1);
    int sigs[] = {SIGINT, SIGTERM}, got;
    goc_signal_notify(sig, sigs, 2);
    goc_waitgroup_add(&served, 1);
    goc_go(serve, &lfd);
    while (!goc_http_server_addr(srv)[0])
        goc_sleep(GOC_MILLISECOND);
    printf("listening on http://%s\n", goc_http_server_addr(srv));
    fflush(stdout);
    for (int i = 0; i < load; i++)
        goc_go(client, (void *)goc_http_server_addr(srv));
    goc_chan_recv(sig, &got);
    goc_signal_stop(sig);
    goc_chan_release(sig);
    int rc = goc_http_server_shutdown(srv, goc_ctx_background());
    goc_waitgroup_wait(&served);
    goc_http_server_free(srv);
    return rc != 0;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i += 2) {
        if (i + 1 < argc && strcmp(argv[i], "-addr") == 0) {
            snprintf(addr, sizeof addr, "%s", argv[i + 1]);
        } else if (i + 1 < argc && strcmp(argv[i], "-load") == 0) {
            load = atoi(argv[i + 1]);
        } else {
            fprintf(stderr, "usage: statsd [-addr HOST:PORT] [-load N]\n");
            return 2;
        }
    }
    return goc_run(run, NULL);
}
