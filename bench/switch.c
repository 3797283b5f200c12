/*
 * switch — two goroutines yield to each other 10,000,000 times in total on
 * a single P; report nanoseconds per switch.
 *
 * The two goroutines are goc_run's main goroutine and one partner, so no
 * third goroutine sits in the rotation: each goc_yield hands the only P to
 * the other one. Each side yields N/2 times; the main goroutine then yields
 * until the partner has finished its own half (at most a step behind).
 *
 * The program forces GOC_MAXPROCS=1 itself (run.sh sets it too), so a bare
 * run measures the same thing. Twin: bench/go/switch/main.go (GOMAXPROCS=1,
 * runtime.Gosched). Row: switch, ns/op (lower is better).
 */
#include <goc.h>
#include <stdatomic.h>

#include "bench.h"

#define DEFAULT_COUNT 10000000L

static long half; /* yields per goroutine; set before the spawn */
static atomic_bool partner_done;

static void partner(void *arg)
{
    (void)arg;
    for (long i = 0; i < half; i++)
        goc_yield();
    /* release: pairs with the main goroutine's acquire load. */
    atomic_store_explicit(&partner_done, true, memory_order_release);
}

static int bench_main(void *arg)
{
    long n = *(const long *)arg;
    half = n / 2;
    if (goc_maxprocs() != 1)
        bench_die("switch needs one P, got goc_maxprocs() = %d", goc_maxprocs());

    int64_t start = goc_now();
    int rc = goc_go(partner, NULL);
    if (rc < 0)
        bench_die("goc_go: %s", goc_strerror(rc));
    for (long i = 0; i < half; i++)
        goc_yield();
    while (!atomic_load_explicit(&partner_done, memory_order_acquire))
        goc_yield();
    int64_t elapsed = goc_now() - start;

    goc_stats st;
    goc_read_stats(&st);
    bench_note("switch: %ld yields in %.1f ms, context_switches=%llu", 2 * half, elapsed / 1e6,
               (unsigned long long)st.context_switches);
    bench_result("switch", "ns/op", (double)elapsed / (double)(2 * half));
    return 0;
}

int main(int argc, char **argv)
{
    long n = bench_count(argc, argv, DEFAULT_COUNT);
    if (n < 2)
        bench_die("switch needs a count of at least 2");
    /* Before goc_run: the runtime reads GOC_MAXPROCS when it starts. */
    setenv("GOC_MAXPROCS", "1", 1);
    int rc = goc_run(bench_main, &n);
    if (rc < 0)
        bench_die("goc_run: %s", goc_strerror(rc));
    return rc;
}
