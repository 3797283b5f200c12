/*
 * http_client — the HTTP client under load: GOROUTINES goroutines share
 * one goc_http_client and each issues keep-alive GETs of URL (the
 * benchmark's /plaintext, 13 bytes, from nginx) one after the other for
 * WARMUP + SECONDS seconds; report the requests per second and the CPU
 * time this process spends per request over the last SECONDS.
 *
 *   bench_http_client URL [SECONDS [WARMUP [GOROUTINES]]]   (5, 1, 64)
 *
 * bench/http.sh runs it (workload "client") pinned to one CPU with
 * GOC_MAXPROCS=1 against nginx pinned to the other, beside its Go twin
 * bench/go/http_client (http.Client, the same loop), so that the server is
 * the same for both and the figure that differs is the client's own CPU.
 *
 * Each request is what an application does: goc_http_client_get, check
 * the status, goc_http_response_read to the end (EOF), and
 * goc_http_response_free, which puts the connection back in the pool. The
 * client keeps up to GOROUTINES idle connections to the host
 * (max_idle_per_host), so after the first round every request reuses one;
 * proxies are off (the Go twin's Transport has none either). Any error or
 * a status other than 200 stops the program (exit status 1).
 *
 * The count of requests is one relaxed atomic counter; main reads it and
 * the CPU time (getrusage: user + system, every thread) after WARMUP and
 * again SECONDS later, then stops the goroutines and waits for them.
 * Rows: http-client (ops/s, higher is better) and http-client-cpu (us of
 * CPU per request, lower is better).
 */
#include <goc.h>
#include <goc/http.h>
#include <stdatomic.h>

#include "bench.h"

#define DEFAULT_SECONDS    5
#define DEFAULT_WARMUP     1
#define DEFAULT_GOROUTINES 64

static const char *url;
static goc_http_client *client;
static goc_waitgroup wg;
static atomic_long requests; /* responses read to the end */
static atomic_bool stop;     /* set by main once the measured time is over */

static void worker(void *arg)
{
    (void)arg;
    char buf[4096];
    /* relaxed: stop only ends the loop; main waits on wg for the rest */
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        goc_http_response *resp;
        int rc = goc_http_client_get(client, url, &resp);
        if (rc < 0)
            bench_die("%s", goc_errmsg());
        if (resp->status_code != 200)
            bench_die("GET %s: %s", url, resp->status);
        ssize_t n;
        while ((n = goc_http_response_read(resp, buf, sizeof buf)) > 0) {
        }
        if (n < 0)
            bench_die("reading the body of %s: %s", url, goc_strerror((int)n));
        goc_http_response_free(resp);
        /* relaxed: a count; main's reads need no order with anything else */
        atomic_fetch_add_explicit(&requests, 1, memory_order_relaxed);
    }
    goc_waitgroup_done(&wg);
}

static long arg_long(char **argv, int argc, int i, long dflt)
{
    if (i >= argc)
        return dflt;
    char *end;
    long v = strtol(argv[i], &end, 10);
    if (*end != '\0' || v < (i == 3 ? 0 : 1))
        bench_die("usage: bench_http_client URL [SECONDS [WARMUP [GOROUTINES]]]");
    return v;
}

typedef struct params {
    long seconds, warmup, goroutines;
} params;

static int bench_main(void *arg)
{
    const params *p = arg;
    goc_http_client_opts opts = {.max_idle_per_host = (int)p->goroutines, .proxy = ""};
    if ((client = goc_http_client_new(&opts)) == NULL)
        bench_die("goc_http_client_new: out of memory");
    goc_waitgroup_add(&wg, p->goroutines);
    for (long i = 0; i < p->goroutines; i++) {
        int rc = goc_go(worker, NULL);
        if (rc < 0)
            bench_die("goc_go: %s", goc_strerror(rc));
    }
    goc_sleep(p->warmup * GOC_SECOND);
    long n0 = atomic_load_explicit(&requests, memory_order_relaxed);
    double cpu0 = bench_cpu_ms();
    int64_t t0 = goc_now();
    goc_sleep(p->seconds * GOC_SECOND);
    long n1 = atomic_load_explicit(&requests, memory_order_relaxed);
    double cpu1 = bench_cpu_ms();
    int64_t t1 = goc_now();
    atomic_store_explicit(&stop, true, memory_order_relaxed);
    goc_waitgroup_wait(&wg);
    goc_http_client_free(client);

    long n = n1 - n0;
    if (n <= 0)
        bench_die("no request completed in %ld s", p->seconds);
    double wall = (double)(t1 - t0) / 1e9;
    bench_note("http-client: %ld requests in %.3f s, %.1f ms of CPU, %ld goroutines, GET %s", n,
               wall, cpu1 - cpu0, p->goroutines, url);
    bench_result("http-client", "ops/s", (double)n / wall);
    bench_result("http-client-cpu", "us", (cpu1 - cpu0) * 1e3 / (double)n);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 5)
        bench_die("usage: bench_http_client URL [SECONDS [WARMUP [GOROUTINES]]]");
    url = argv[1];
    params p = {arg_long(argv, argc, 2, DEFAULT_SECONDS), arg_long(argv, argc, 3, DEFAULT_WARMUP),
                arg_long(argv, argc, 4, DEFAULT_GOROUTINES)};
    int rc = goc_run(bench_main, &p);
    if (rc < 0)
        bench_die("goc_run: %s", goc_strerror(rc));
    return rc;
}
