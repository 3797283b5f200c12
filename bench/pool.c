/*
 * pool — goc_pool get/put throughput: 8 goroutines each take a 4 KiB
 * buffer from one shared pool, write a byte into it and put it back,
 * 20,000,000 get+put pairs in total, in pairs per second. Objects made by
 * the pool's new function are counted: far fewer than the pairs, or the
 * cache is not working.
 *
 * Twin: bench/go/pool/main.go (sync.Pool of *[]byte). Row: pool, ops/s
 * (higher is better).
 */
#include <goc.h>
#include <stdatomic.h>

#include "bench.h"

#define DEFAULT_COUNT 20000000L
#define WORKERS       8
#define BUFSIZE       4096

static goc_pool *pool;
static long per_worker;
static goc_waitgroup wg;
static atomic_long made;

static void *new_buf(void *arg)
{
    (void)arg;
    atomic_fetch_add_explicit(&made, 1, memory_order_relaxed);
    return malloc(BUFSIZE);
}

static void worker(void *arg)
{
    unsigned char id = (unsigned char)(long)arg;
    for (long i = 0; i < per_worker; i++) {
        unsigned char *b = goc_pool_get(pool);
        if (!b)
            bench_die("pool: out of memory");
        b[i & (BUFSIZE - 1)] = id;
        goc_pool_put(pool, b);
    }
    goc_waitgroup_done(&wg);
}

static int bench_main(void *arg)
{
    long n = *(const long *)arg;
    per_worker = n / WORKERS;
    n = per_worker * WORKERS;
    pool = goc_pool_new(new_buf, NULL, NULL);
    if (!pool)
        bench_die("goc_pool_new: out of memory");

    int64_t start = goc_now();
    goc_waitgroup_add(&wg, WORKERS);
    for (long i = 0; i < WORKERS; i++)
        if (goc_go(worker, (void *)i) < 0)
            bench_die("goc_go failed");
    goc_waitgroup_wait(&wg);
    int64_t elapsed = goc_now() - start;
    bench_note("pool: %d goroutines, %ld get+put in %.1f ms, %ld buffers made, maxprocs=%d",
               WORKERS, n, elapsed / 1e6, atomic_load(&made), goc_maxprocs());
    bench_result("pool", "ops/s", (double)n * 1e9 / (double)elapsed);
    goc_pool_free(pool);
    return 0;
}

int main(int argc, char **argv)
{
    long n = bench_count(argc, argv, DEFAULT_COUNT);
    if (n < WORKERS)
        bench_die("pool needs a count of at least %d", WORKERS);
    int rc = goc_run(bench_main, &n);
    if (rc < 0)
        bench_die("goc_run: %s", goc_strerror(rc));
    return rc;
}
