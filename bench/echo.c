/*
 * echo — a TCP echo server and 100 concurrent clients over 127.0.0.1,
 * 200,000 messages of 1 KiB in total; report messages per second and the
 * 99th percentile round-trip latency.
 *
 * The server is one goroutine accepting and one goroutine per connection
 * that reads up to 1 KiB and writes back what it read, until the client
 * closes. Each client goroutine dials, then sends a 1 KiB message and reads
 * until the whole echo is back before sending the next, COUNT/100 times;
 * the round trip of every message (goc_now() before the write, after the
 * last byte of the echo) goes into a preallocated array, sorted at the end
 * for the p99. The clock runs from before the first dial until every client
 * is done (a goc_waitgroup; the Go twin: sync.WaitGroup).
 *
 * Go sets TCP_NODELAY on both ends of a TCP connection; goc_dial does, but
 * goc_accept does not, so the server sets it itself: both programs run with
 * the same socket options.
 *
 * Twin: bench/go/echo/main.go. Rows: echo (ops/s, messages per second) and
 * echo-p99 (us, lower is better).
 */
#include <goc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include "bench.h"

#define DEFAULT_COUNT 200000L
#define CLIENTS       100
#define MSG           1024

static char addr[64]; /* the server's 127.0.0.1:port */
static long per_client;
static int64_t *lat; /* lat[c * per_client + i]: ns */
static goc_waitgroup wg;

static void serve_conn(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[MSG];
    for (;;) {
        ssize_t n = goc_read(fd, buf, sizeof buf);
        if (n <= 0)
            break; /* 0: the client closed */
        if (goc_write(fd, buf, (size_t)n) != n)
            break;
    }
    goc_close(fd);
}

static void acceptor(void *arg)
{
    int lfd = (int)(intptr_t)arg;
    for (;;) {
        int fd = goc_accept(lfd, NULL, NULL);
        if (fd < 0)
            bench_die("goc_accept: %s", goc_strerror(fd));
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        int rc = goc_go(serve_conn, (void *)(intptr_t)fd);
        if (rc < 0)
            bench_die("goc_go: %s", goc_strerror(rc));
    }
}

static void client(void *arg)
{
    long c = (long)(intptr_t)arg;
    int fd = goc_dial("tcp", addr, 10 * GOC_SECOND);
    if (fd < 0)
        bench_die("goc_dial %s: %s", addr, goc_strerror(fd));
    char msg[MSG], back[MSG];
    memset(msg, 'a' + (int)(c % 26), sizeof msg);
    int64_t *mine = lat + c * per_client;
    for (long i = 0; i < per_client; i++) {
        int64_t t0 = goc_now();
        ssize_t w = goc_write(fd, msg, sizeof msg);
        if (w != MSG)
            bench_die("goc_write: %s", goc_strerror((int)w));
        size_t got = 0;
        while (got < MSG) {
            ssize_t r = goc_read(fd, back + got, MSG - got);
            if (r <= 0)
                bench_die("goc_read: %s", r == 0 ? "unexpected end of file" : goc_strerror((int)r));
            got += (size_t)r;
        }
        mine[i] = goc_now() - t0;
        if (memcmp(msg, back, MSG) != 0)
            bench_die("echo: the echo differs from the message");
    }
    goc_close(fd);
    goc_waitgroup_done(&wg);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int bench_main(void *arg)
{
    long n = *(const long *)arg;
    per_client = n / CLIENTS > 0 ? n / CLIENTS : 1;
    n = per_client * CLIENTS;
    lat = calloc((size_t)n, sizeof *lat);
    if (!lat)
        bench_die("out of memory");

    int lfd = bench_listen_loopback(addr, sizeof addr);
    int rc = goc_go(acceptor, (void *)(intptr_t)lfd);
    if (rc < 0)
        bench_die("goc_go: %s", goc_strerror(rc));

    int64_t start = goc_now();
    goc_waitgroup_add(&wg, CLIENTS);
    for (long c = 0; c < CLIENTS; c++)
        if ((rc = goc_go(client, (void *)(intptr_t)c)) < 0)
            bench_die("goc_go: %s", goc_strerror(rc));
    goc_waitgroup_wait(&wg);
    int64_t elapsed = goc_now() - start;

    qsort(lat, (size_t)n, sizeof *lat, cmp_i64);
    int64_t p50 = lat[(n + 1) / 2 - 1], p99 = lat[(99 * n + 99) / 100 - 1];
    goc_stats st;
    goc_read_stats(&st);
    bench_note("echo: %ld messages over %d connections in %.1f ms; p50 %.1f us, p99 %.1f us, "
               "max %.1f us",
               n, CLIENTS, elapsed / 1e6, p50 / 1e3, p99 / 1e3, lat[n - 1] / 1e3);
    bench_note("echo: threads=%llu context_switches=%llu steals=%llu",
               (unsigned long long)st.threads, (unsigned long long)st.context_switches,
               (unsigned long long)st.steals);
    bench_result("echo", "ops/s", (double)n / ((double)elapsed / 1e9));
    bench_result("echo-p99", "us", (double)p99 / 1e3);
    return 0;
}

int main(int argc, char **argv)
{
    return bench_run(argc, argv, DEFAULT_COUNT, bench_main);
}
