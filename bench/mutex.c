/*
 * mutex — goc_mutex throughput, two rows:
 *   mutex-contended    8 goroutines increment one shared counter under one
 *                      goc_mutex, 10,000,000 increments in total;
 *   mutex-uncontended  one goroutine locks and unlocks a goc_mutex
 *                      40,000,000 times (4x the count), nobody else around.
 * Both in lock+unlock pairs per second.
 *
 * The contended workers count themselves out on a goc_waitgroup (the Go
 * twin: sync.WaitGroup); the counter is checked at the end.
 *
 * Twin: bench/go/mutex/main.go (sync.Mutex). Rows: mutex-contended,
 * mutex-uncontended, ops/s (higher is better).
 */
#include <goc.h>

#include "bench.h"

#define DEFAULT_COUNT 10000000L
#define WORKERS       8

static goc_mutex mu; /* zero value */
static long counter; /* guarded by mu */
static long per_worker;
static goc_waitgroup wg;

static void worker(void *arg)
{
    (void)arg;
    for (long i = 0; i < per_worker; i++) {
        goc_mutex_lock(&mu);
        counter++;
        goc_mutex_unlock(&mu);
    }
    goc_waitgroup_done(&wg);
}

static int bench_main(void *arg)
{
    long n = *(const long *)arg;
    per_worker = n / WORKERS;
    n = per_worker * WORKERS;

    int64_t start = goc_now();
    goc_waitgroup_add(&wg, WORKERS);
    for (int i = 0; i < WORKERS; i++)
        if (goc_go(worker, NULL) < 0)
            bench_die("goc_go failed");
    goc_waitgroup_wait(&wg);
    int64_t elapsed = goc_now() - start;
    goc_mutex_lock(&mu);
    long got = counter;
    goc_mutex_unlock(&mu);
    if (got != n)
        bench_die("mutex: counter %ld, want %ld", got, n);
    bench_note("mutex-contended: %d goroutines, %ld increments in %.1f ms, maxprocs=%d", WORKERS, n,
               elapsed / 1e6, goc_maxprocs());
    bench_result("mutex-contended", "ops/s", (double)n * 1e9 / (double)elapsed);

    /* Uncontended: a fresh mutex only this goroutine touches. */
    static goc_mutex solo;
    static volatile long solo_count;
    long m = 4 * n;
    start = goc_now();
    for (long i = 0; i < m; i++) {
        goc_mutex_lock(&solo);
        solo_count = solo_count + 1;
        goc_mutex_unlock(&solo);
    }
    elapsed = goc_now() - start;
    bench_note("mutex-uncontended: %ld lock/unlock pairs in %.1f ms", m, elapsed / 1e6);
    bench_result("mutex-uncontended", "ops/s", (double)m * 1e9 / (double)elapsed);
    return 0;
}

int main(int argc, char **argv)
{
    long n = bench_count(argc, argv, DEFAULT_COUNT);
    if (n < WORKERS)
        bench_die("mutex needs a count of at least %d", WORKERS);
    int rc = goc_run(bench_main, &n);
    if (rc < 0)
        bench_die("goc_run: %s", goc_strerror(rc));
    return rc;
}
