/*
 * spawn — create, run and finish 1,000,000 goroutines; report goroutines/s.
 *
 * Each goroutine only signals a waitgroup-like counter: an atomic counter
 * that the spawner sets to N up front and each goroutine decrements once.
 * goc has no waitgroup yet, so the spawner waits for zero by yielding in a
 * loop (the Go twin uses sync.WaitGroup). The clock runs from before the
 * first goc_go to the moment the spawner sees zero.
 *
 * Twin: bench/go/spawn/main.go. Row: spawn, ops/s (higher is better).
 */
#include <goc.h>
#include <stdatomic.h>

#include "bench.h"

#define DEFAULT_COUNT 1000000L

/* Goroutines not yet finished. */
static atomic_long remaining;

static void worker(void *arg)
{
    (void)arg;
    /* release: pairs with the spawner's acquire load, so "zero" means every
     * goroutine's work (here: none) is done and visible. */
    atomic_fetch_sub_explicit(&remaining, 1, memory_order_release);
}

static int bench_main(void *arg)
{
    long n = *(const long *)arg;

    /* relaxed: no goroutine exists yet; goc_go publishes the store. */
    atomic_store_explicit(&remaining, n, memory_order_relaxed);

    int64_t start = goc_now();
    for (long i = 0; i < n; i++) {
        int rc = goc_go(worker, NULL);
        if (rc < 0)
            bench_die("goc_go failed after %ld goroutines: %s", i, goc_strerror(rc));
    }
    while (atomic_load_explicit(&remaining, memory_order_acquire) != 0)
        goc_yield();
    int64_t elapsed = goc_now() - start;

    goc_stats st;
    goc_read_stats(&st);
    bench_note("spawn: %ld goroutines in %.1f ms, maxprocs=%llu threads=%llu steals=%llu", n,
               elapsed / 1e6, (unsigned long long)st.maxprocs, (unsigned long long)st.threads,
               (unsigned long long)st.steals);
    bench_result("spawn", "ops/s", (double)n * 1e9 / (double)elapsed);
    return 0;
}

int main(int argc, char **argv)
{
    return bench_run(argc, argv, DEFAULT_COUNT, bench_main);
}
