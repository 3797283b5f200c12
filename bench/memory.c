/*
 * memory — resident memory per parked goroutine: 1,000,000 goroutines each
 * parked in goc_sleep(60 s); report KiB of VmRSS per goroutine. With
 * BENCH_PARK=chan in the environment they park receiving from one channel
 * nobody sends on instead (row memory-chan): that must cost no more.
 *
 * VmRSS is read once the runtime runs (in the main goroutine, before the
 * first spawn) and again once every goroutine is parked: each one counts
 * itself just before it sleeps, the main goroutine waits until that count
 * and goc_numgoroutine() both reach N (N+1 with itself), then lets things
 * settle for SETTLE before the second reading. The main goroutine then
 * returns, and goc_run abandons the sleepers (the Go twin calls os.Exit).
 *
 * Twin: bench/go/memory/main.go. Row: memory, KiB (lower is better; the goal
 * is absolute: at most 5 KiB).
 */
#include <goc.h>
#include <stdatomic.h>

#include "bench.h"

#define DEFAULT_COUNT 1000000L
#define PARK_TIME     GOC_MINUTE
#define SETTLE        (500 * GOC_MILLISECOND)
#define DEADLINE      (45 * GOC_SECOND) /* < PARK_TIME: measure before any wakes */

static atomic_long parked; /* goroutines about to park */
static goc_chan *never;    /* BENCH_PARK=chan: nobody sends on it */

static void sleeper(void *arg)
{
    (void)arg;
    /* relaxed: a plain count; the main goroutine only compares it. */
    atomic_fetch_add_explicit(&parked, 1, memory_order_relaxed);
    if (never)
        goc_chan_recv(never, NULL);
    else
        goc_sleep(PARK_TIME);
}

static int bench_main(void *arg)
{
    long n = *(const long *)arg;
    const char *park = getenv("BENCH_PARK");
    if (park && strcmp(park, "chan") == 0 && !(never = goc_chan_make(0, 0)))
        bench_die("goc_chan_make: out of memory");
    long rss_before = bench_rss_kib();
    if (rss_before < 0)
        bench_die("cannot read VmRSS from /proc/self/status");

    int64_t start = goc_now();
    for (long i = 0; i < n; i++) {
        int rc = goc_go(sleeper, NULL);
        if (rc < 0)
            bench_die("goc_go failed after %ld goroutines: %s", i, goc_strerror(rc));
    }
    int64_t spawned = goc_now();
    while (atomic_load_explicit(&parked, memory_order_relaxed) < n ||
           goc_numgoroutine() < (size_t)n + 1) {
        if (goc_now() - start > DEADLINE)
            bench_die("only %ld of %ld goroutines parked after %lld s",
                      atomic_load_explicit(&parked, memory_order_relaxed), n,
                      (long long)(DEADLINE / GOC_SECOND));
        goc_sleep(10 * GOC_MILLISECOND);
    }
    int64_t all_parked = goc_now();
    goc_sleep(SETTLE);
    long rss_after = bench_rss_kib();
    if (rss_after < 0)
        bench_die("cannot read VmRSS from /proc/self/status");

    goc_stats st;
    goc_read_stats(&st);
    bench_note("memory: %ld goroutines spawned in %.1f ms, all parked after %.1f ms", n,
               (spawned - start) / 1e6, (all_parked - start) / 1e6);
    bench_note("memory: VmRSS %ld KiB before, %ld KiB after", rss_before, rss_after);
    bench_note("memory: goroutines=%llu stacks_mapped=%llu stacks_unguarded=%llu "
               "stack_bytes_mapped=%llu MiB timers=%llu threads=%llu",
               (unsigned long long)st.goroutines, (unsigned long long)st.stacks_mapped,
               (unsigned long long)st.stacks_unguarded,
               (unsigned long long)(st.stack_bytes_mapped >> 20), (unsigned long long)st.timers,
               (unsigned long long)st.threads);
    bench_result(never ? "memory-chan" : "memory", "KiB",
                 (double)(rss_after - rss_before) / (double)n);
    return 0;
}

int main(int argc, char **argv)
{
    return bench_run(argc, argv, DEFAULT_COUNT, bench_main);
}
