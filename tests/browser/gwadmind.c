/*
 * gwadmind.c — the server the gateway's browser test (tests/browser/
 * gateway.sh) loads in headless Chromium: gw_admin_handler (the dashboard
 * at "/", /metrics, /api/stats) over synthetic traffic.
 *
 *   gwadmind [-addr HOST:PORT]
 *
 * It prints "listening on http://HOST:PORT" once it accepts (port 0: the
 * kernel picks one). A goroutine feeds the series as a gateway's routes
 * and upstreams would, without any network traffic: two routes (one
 * named with quotes and markup, as a config file may) and one upstream,
 * about 400 requests a second in all with latencies of 1-200 ms and 1 in
 * 20 answered 503; the upstream has three targets, healthy, ejected and
 * down, whose in-flight counts move. SIGINT or SIGTERM: graceful
 * shutdown, exit status 0.
 */
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"

static goc_http_server *srv;
static goc_waitgroup served;  /* done when serve has returned */
static goc_waitgroup traffic; /* done when the traffic goroutine has stopped */
/* relaxed: each is a lone value (a stop flag, a number to show), publishing nothing */
static atomic_int stopping; /* set by run, read by traffic */
static atomic_int inflight; /* written by traffic, read by targets */
static char addr[128] = "127.0.0.1:0";

/* The upstream's targets as the live state would describe them. */
static void targets(gw_buf *b, const char *upstream, void *arg)
{
    (void)arg;
    if (strcmp(upstream, "backend") != 0) {
        gw_buf_puts(b, "[]");
        return;
    }
    int n = atomic_load_explicit(&inflight, memory_order_relaxed);
    gw_buf_printf(b,
                  "[{\"addr\":\"10.0.0.1:8080\",\"up\":true,\"state\":\"healthy\",\"weight\":3,"
                  "\"inflight\":%d,\"ewma_ms\":12.5},"
                  "{\"addr\":\"10.0.0.2:8080\",\"up\":false,\"state\":\"ejected\",\"weight\":1,"
                  "\"inflight\":0,\"ewma_ms\":480.0},"
                  "{\"addr\":\"10.0.0.3:8080\",\"up\":false,\"state\":\"down\",\"weight\":1,"
                  "\"inflight\":0,\"ewma_ms\":0}]",
                  n);
}

/* A latency of 1-200 ms, skewed low (a product of two uniforms). */
static goc_duration latency(unsigned *seed)
{
    unsigned a = (unsigned)rand_r(seed) % 1000, b = (unsigned)rand_r(seed) % 1000;
    return GOC_MILLISECOND + (goc_duration)a * b * 199 * GOC_MILLISECOND / (1000 * 1000);
}

static void traffic_loop(void *arg)
{
    (void)arg;
    gw_series *api = gw_series_get(GW_ROUTE, "api");
    gw_series *web = gw_series_get(GW_ROUTE, "web \"<b>main</b>\"");
    gw_series *be = gw_series_get(GW_UPSTREAM, "backend");
    unsigned seed = 1;
    for (int i = 0; !atomic_load_explicit(&stopping, memory_order_relaxed); i++) {
        for (int k = 0; k < 4; k++) { /* every 10 ms: 400/s over the three */
            int status = rand_r(&seed) % 20 == 0 ? 503 : 200;
            gw_series *route = k % 2 ? web : api;
            goc_duration d = latency(&seed);
            gw_series_observe(route, status, d);
            gw_series_observe(be, status, d - GOC_MILLISECOND / 2);
        }
        if (i % 50 == 0)
            gw_series_count(be, GW_RETRIES);
        atomic_store_explicit(&inflight, i % 7, memory_order_relaxed);
        gw_series_set_gauge(be, "targets_up", 1);
        goc_sleep(10 * GOC_MILLISECOND);
    }
    goc_waitgroup_done(&traffic);
}

static void serve(void *arg)
{
    int lfd = *(int *)arg;
    int rc = goc_http_server_serve(srv, lfd);
    if (rc != GOC_EHTTP_SERVER_CLOSED)
        fprintf(stderr, "gwadmind: serve: %s\n", goc_strerror(rc));
    goc_waitgroup_done(&served);
}

static int run(void *arg)
{
    (void)arg;
    srv = goc_http_server_new(gw_admin_handler(targets, NULL), NULL);
    int lfd = goc_listen("tcp", addr);
    if (!srv || lfd < 0) {
        fprintf(stderr, "gwadmind: listen %s: %s\n", addr, goc_strerror(lfd));
        return 1;
    }
    goc_chan *sig = goc_chan_make(sizeof(int), 1);
    int sigs[] = {SIGINT, SIGTERM}, got;
    goc_signal_notify(sig, sigs, 2);
    goc_waitgroup_add(&served, 1);
    goc_go(serve, &lfd);
    goc_waitgroup_add(&traffic, 1);
    goc_go(traffic_loop, NULL);
    while (!goc_http_server_addr(srv)[0])
        goc_sleep(GOC_MILLISECOND);
    printf("listening on http://%s\n", goc_http_server_addr(srv));
    fflush(stdout);
    goc_chan_recv(sig, &got);
    goc_signal_stop(sig);
    goc_chan_release(sig);
    atomic_store_explicit(&stopping, 1, memory_order_relaxed);
    goc_waitgroup_wait(&traffic);
    int rc = goc_http_server_shutdown(srv, goc_ctx_background());
    goc_waitgroup_wait(&served);
    goc_http_server_free(srv);
    gw_stats_shutdown();
    return rc != 0;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i += 2) {
        if (i + 1 < argc && strcmp(argv[i], "-addr") == 0) {
            snprintf(addr, sizeof addr, "%s", argv[i + 1]);
        } else {
            fprintf(stderr, "usage: gwadmind [-addr HOST:PORT]\n");
            return 2;
        }
    }
    return goc_run(run, NULL);
}
