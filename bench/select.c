/*
 * select — one goroutine selects over 4 unbuffered channels, each fed by its
 * own producer, until it has received 4,000,000 values; report values/s.
 *
 * Each producer sends its quarter of the values on its channel; the
 * selector runs goc_select (GOC_FOREVER) over the four receive cases and
 * sums what it gets. The producers count themselves out on a goc_waitgroup
 * (the Go twin: sync.WaitGroup). The clock runs from before the first spawn
 * to the waitgroup's wait returning.
 *
 * Twin: bench/go/select/main.go. Row: select, ops/s (higher is better).
 */
#include <goc.h>

#include "bench.h"

#define DEFAULT_COUNT 4000000L
#define NCHAN         4

static goc_chan *chans[NCHAN];
static goc_waitgroup wg;
static long per_producer;

static void producer(void *arg)
{
    long k = (long)arg;
    for (long i = 0; i < per_producer; i++) {
        long v = k * per_producer + i;
        if (goc_chan_send(chans[k], &v) != 0)
            bench_die("select: send failed");
    }
    goc_waitgroup_done(&wg);
}

static int bench_main(void *arg)
{
    long n = *(const long *)arg;
    per_producer = n / NCHAN;
    n = per_producer * NCHAN;
    for (int i = 0; i < NCHAN; i++)
        if (!(chans[i] = goc_chan_make(sizeof(long), 0)))
            bench_die("goc_chan_make: out of memory");

    long v;
    goc_case cases[NCHAN];
    for (int i = 0; i < NCHAN; i++)
        cases[i] = GOC_RECV(chans[i], &v);
    long got[NCHAN] = {0};
    unsigned long long sum = 0;

    int64_t start = goc_now();
    goc_waitgroup_add(&wg, NCHAN);
    for (long i = 0; i < NCHAN; i++)
        if (goc_go(producer, (void *)i) < 0)
            bench_die("goc_go failed");
    for (long i = 0; i < n; i++) {
        int r = goc_select(cases, NCHAN, GOC_FOREVER);
        if (r < 0 || r >= NCHAN)
            bench_die("select: goc_select returned %d", r);
        got[r]++;
        sum += (unsigned long long)v;
    }
    goc_waitgroup_wait(&wg);
    int64_t elapsed = goc_now() - start;

    unsigned long long want = (unsigned long long)n * (unsigned long long)(n - 1) / 2;
    if (sum != want)
        bench_die("select: sum %llu, want %llu", sum, want);
    bench_note("select: %ld values in %.1f ms (per channel %ld %ld %ld %ld), maxprocs=%d", n,
               elapsed / 1e6, got[0], got[1], got[2], got[3], goc_maxprocs());
    bench_result("select", "ops/s", (double)n * 1e9 / (double)elapsed);
    for (int i = 0; i < NCHAN; i++)
        goc_chan_release(chans[i]);
    return 0;
}

int main(int argc, char **argv)
{
    long n = bench_count(argc, argv, DEFAULT_COUNT);
    if (n < NCHAN)
        bench_die("select needs a count of at least %d", NCHAN);
    int rc = goc_run(bench_main, &n);
    if (rc < 0)
        bench_die("goc_run: %s", goc_strerror(rc));
    return rc;
}
