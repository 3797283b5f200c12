/*
 * buffered — 4 producers and 4 consumers move 20,000,000 values through one
 * channel of capacity 1024; report values/s.
 *
 * Each producer sends its quarter of the values; each consumer receives
 * until the channel is closed and drained, summing what it got. The main
 * goroutine waits for the producers on a goc_waitgroup, closes the channel,
 * then waits for the consumers on another one and checks the sum. The clock
 * runs from before the first spawn to the consumers' wait returning.
 *
 * Twin: bench/go/buffered/main.go (sync.WaitGroup). Row: buffered, ops/s
 * (higher is better).
 */
#include <goc.h>
#include <stdatomic.h>

#include "bench.h"

#define DEFAULT_COUNT 20000000L
#define CAP           1024
#define PRODUCERS     4
#define CONSUMERS     4

static goc_chan *ch;
static goc_waitgroup producers, consumers;
static long per_producer;
static atomic_ullong total;

static void producer(void *arg)
{
    long base = (long)arg * per_producer;
    for (long i = 0; i < per_producer; i++) {
        long v = base + i;
        if (goc_chan_send(ch, &v) != 0)
            bench_die("buffered: send failed");
    }
    goc_waitgroup_done(&producers);
}

static void consumer(void *arg)
{
    (void)arg;
    unsigned long long sum = 0;
    long v;
    while (goc_chan_recv(ch, &v) == 0)
        sum += (unsigned long long)v;
    atomic_fetch_add_explicit(&total, sum, memory_order_relaxed);
    goc_waitgroup_done(&consumers);
}

static int bench_main(void *arg)
{
    long n = *(const long *)arg;
    per_producer = n / PRODUCERS;
    n = per_producer * PRODUCERS;
    ch = goc_chan_make(sizeof(long), CAP);
    if (!ch)
        bench_die("goc_chan_make: out of memory");

    int64_t start = goc_now();
    goc_waitgroup_add(&producers, PRODUCERS);
    goc_waitgroup_add(&consumers, CONSUMERS);
    for (long i = 0; i < CONSUMERS; i++)
        if (goc_go(consumer, NULL) < 0)
            bench_die("goc_go failed");
    for (long i = 0; i < PRODUCERS; i++)
        if (goc_go(producer, (void *)i) < 0)
            bench_die("goc_go failed");
    goc_waitgroup_wait(&producers);
    goc_chan_close(ch);
    goc_waitgroup_wait(&consumers);
    int64_t elapsed = goc_now() - start;

    unsigned long long want = (unsigned long long)n * (unsigned long long)(n - 1) / 2;
    if (atomic_load(&total) != want)
        bench_die("buffered: sum %llu, want %llu", atomic_load(&total), want);
    goc_stats st;
    goc_read_stats(&st);
    bench_note("buffered: %ld values in %.1f ms, maxprocs=%llu threads=%llu switches=%llu", n,
               elapsed / 1e6, (unsigned long long)st.maxprocs, (unsigned long long)st.threads,
               (unsigned long long)st.context_switches);
    bench_result("buffered", "ops/s", (double)n * 1e9 / (double)elapsed);
    goc_chan_release(ch);
    return 0;
}

int main(int argc, char **argv)
{
    long n = bench_count(argc, argv, DEFAULT_COUNT);
    if (n < PRODUCERS)
        bench_die("buffered needs a count of at least %d", PRODUCERS);
    int rc = goc_run(bench_main, &n);
    if (rc < 0)
        bench_die("goc_run: %s", goc_strerror(rc));
    return rc;
}
