/*
 * pingpong — two goroutines bounce a value over two unbuffered channels,
 * 10,000,000 round trips in total; report nanoseconds per round trip.
 *
 * The main goroutine sends i on ping and waits for it back on pong; the
 * partner receives on ping and sends it back on pong. Each round trip is two
 * rendezvous (four channel operations, two goroutine handoffs). The partner
 * ends when ping is closed; the main goroutine waits for it on a
 * goc_waitgroup (the Go twin: sync.WaitGroup).
 *
 * Run at GOC_MAXPROCS=1 and 2 by run.sh (the "pingpong-p1" and
 * "pingpong-p2" workloads); the row is named after the Ps in effect,
 * pingpong-p<goc_maxprocs()>. Twin: bench/go/pingpong/main.go (GOMAXPROCS).
 * Row unit: ns/op per round trip (lower is better).
 */
#include <goc.h>

#include "bench.h"

#define DEFAULT_COUNT 10000000L

static goc_chan *ping, *pong;
static goc_waitgroup wg;

static void partner(void *arg)
{
    (void)arg;
    long v;
    while (goc_chan_recv(ping, &v) == 0)
        if (goc_chan_send(pong, &v) != 0)
            bench_die("pingpong: send on pong failed");
    goc_waitgroup_done(&wg);
}

static int bench_main(void *arg)
{
    long n = *(const long *)arg;
    ping = goc_chan_make(sizeof(long), 0);
    pong = goc_chan_make(sizeof(long), 0);
    if (!ping || !pong)
        bench_die("goc_chan_make: out of memory");

    int64_t start = goc_now();
    goc_waitgroup_add(&wg, 1);
    int rc = goc_go(partner, NULL);
    if (rc < 0)
        bench_die("goc_go: %s", goc_strerror(rc));
    for (long i = 0; i < n; i++) {
        long v = i, back = -1;
        goc_chan_send(ping, &v);
        goc_chan_recv(pong, &back);
        if (back != i)
            bench_die("pingpong: sent %ld, got %ld back", i, back);
    }
    goc_chan_close(ping);
    goc_waitgroup_wait(&wg);
    int64_t elapsed = goc_now() - start;

    char row[32];
    snprintf(row, sizeof row, "pingpong-p%d", goc_maxprocs());
    goc_stats st;
    goc_read_stats(&st);
    bench_note("%s: %ld round trips in %.1f ms, threads=%llu context_switches=%llu steals=%llu",
               row, n, elapsed / 1e6, (unsigned long long)st.threads,
               (unsigned long long)st.context_switches, (unsigned long long)st.steals);
    bench_result(row, "ns/op", (double)elapsed / (double)n);
    goc_chan_release(ping);
    goc_chan_release(pong);
    return 0;
}

int main(int argc, char **argv)
{
    return bench_run(argc, argv, DEFAULT_COUNT, bench_main);
}
