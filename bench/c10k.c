/*
 * c10k — 10,000 idle TCP connections over 127.0.0.1, each with a server
 * goroutine parked in goc_read; report the resident memory they cost per
 * connection, and the CPU time the process uses while they sit idle.
 *
 * The program is both ends: a server goroutine accepts the connections and
 * starts one goroutine per connection that reads up to 1 KiB (the loop of
 * an echo server; nothing is ever sent, so it parks in goc_read for good),
 * and the main goroutine dials them and keeps its ends open. It dials in
 * batches of BATCH, waiting for the server to accept each batch, so the
 * accept queue never overflows. That makes 2 fds per connection: the soft
 * RLIMIT_NOFILE is raised towards the hard limit, and if the hard limit is
 * too low for 10,000 connections the count is scaled down, with a note.
 *
 * VmRSS is read after the listener exists (the poller is running) and
 * before the first dial, and again once every server goroutine has counted
 * itself just before its read and SETTLE has passed; the row c10k-mem is
 * the difference per connection (both ends: the server's goroutine and
 * both fds' bookkeeping). Then the process sleeps IDLE and the row
 * c10k-idle-cpu is the user + system CPU time getrusage reports for that
 * time (sysmon, the poller, timers: whatever an idle server burns).
 *
 * Twin: bench/go/c10k/main.go. Rows: c10k-mem (KiB per connection, lower
 * is better) and c10k-idle-cpu (ms, lower is better).
 */
#include <goc.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <sys/resource.h>

#include "bench.h"

#define DEFAULT_COUNT 10000L
#define SPARE_FDS     100 /* stdio, the listener, the poller, ... */
#define BATCH         500
#define SETTLE        (500 * GOC_MILLISECOND)
#define IDLE          (2 * GOC_SECOND)
#define DEADLINE      (60 * GOC_SECOND)

static atomic_long accepted, parked;

static void conn_reader(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[1024];
    atomic_fetch_add_explicit(&parked, 1, memory_order_relaxed);
    while (goc_read(fd, buf, sizeof buf) > 0) {
    }
    goc_close(fd);
}

struct server {
    int lfd;
    long n;
};

static void server(void *arg)
{
    struct server *s = arg;
    for (long i = 0; i < s->n; i++) {
        int fd = goc_accept(s->lfd, NULL, NULL);
        if (fd < 0)
            bench_die("goc_accept after %ld connections: %s", i, goc_strerror(fd));
        int rc = goc_go(conn_reader, (void *)(intptr_t)fd);
        if (rc < 0)
            bench_die("goc_go: %s", goc_strerror(rc));
        atomic_fetch_add_explicit(&accepted, 1, memory_order_relaxed);
    }
}

static int bench_main(void *arg)
{
    long n = bench_fit_fd_limit("c10k", *(const long *)arg, SPARE_FDS);
    int *fds = calloc((size_t)n, sizeof *fds);
    if (!fds)
        bench_die("out of memory");

    char addr[64];
    int lfd = bench_listen_loopback(addr, sizeof addr);
    long rss_before = bench_rss_kib();
    if (rss_before < 0)
        bench_die("cannot read VmRSS from /proc/self/status");

    struct server s = {lfd, n};
    int rc = goc_go(server, &s);
    if (rc < 0)
        bench_die("goc_go: %s", goc_strerror(rc));
    int64_t start = goc_now();
    for (long i = 0; i < n; i++) {
        if ((fds[i] = goc_dial("tcp", addr, 10 * GOC_SECOND)) < 0)
            bench_die("goc_dial after %ld connections: %s", i, goc_strerror(fds[i]));
        if ((i + 1) % BATCH == 0 || i + 1 == n) /* let the server catch up */
            while (atomic_load_explicit(&accepted, memory_order_relaxed) < i + 1) {
                if (goc_now() - start > DEADLINE)
                    bench_die("the server accepted only %ld of %ld connections",
                              atomic_load_explicit(&accepted, memory_order_relaxed), i + 1);
                goc_sleep(GOC_MILLISECOND);
            }
    }
    int64_t dialed = goc_now();
    while (atomic_load_explicit(&parked, memory_order_relaxed) < n) {
        if (goc_now() - start > DEADLINE)
            bench_die("only %ld of %ld server goroutines reached goc_read",
                      atomic_load_explicit(&parked, memory_order_relaxed), n);
        goc_sleep(GOC_MILLISECOND);
    }
    goc_sleep(SETTLE);
    long rss_after = bench_rss_kib();
    if (rss_after < 0)
        bench_die("cannot read VmRSS from /proc/self/status");

    double cpu0 = bench_cpu_ms();
    int64_t t0 = goc_now();
    goc_sleep(IDLE);
    double idle_cpu = bench_cpu_ms() - cpu0;
    int64_t idle_wall = goc_now() - t0;

    goc_stats st;
    goc_read_stats(&st);
    bench_note("c10k: %ld connections dialed and accepted in %.1f ms", n, (dialed - start) / 1e6);
    bench_note("c10k: VmRSS %ld KiB before, %ld KiB after; goroutines=%llu threads=%llu "
               "stacks_mapped=%llu",
               rss_before, rss_after, (unsigned long long)st.goroutines,
               (unsigned long long)st.threads, (unsigned long long)st.stacks_mapped);
    bench_note("c10k: %.1f ms of CPU in %.1f ms idle", idle_cpu, idle_wall / 1e6);
    bench_result("c10k-mem", "KiB", (double)(rss_after - rss_before) / (double)n);
    bench_result("c10k-idle-cpu", "ms", idle_cpu);
    return 0; /* goc_run abandons the readers; exit closes every fd */
}

int main(int argc, char **argv)
{
    return bench_run(argc, argv, DEFAULT_COUNT, bench_main);
}
