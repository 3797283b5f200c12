/*
 * http_c10k — 10,000 idle keep-alive HTTP/1.1 connections over 127.0.0.1,
 * each answered once and then held open; report the resident memory they
 * cost per connection, and the CPU time the process uses while they sit
 * idle. The HTTP counterpart of c10k.c, measured the same way.
 *
 * The program is both ends. The server is goc's: goc_http_server_new with
 * a handler that answers "Hello, World!" as text/plain, and the default
 * options (20 s read-header timeout, 60 s idle timeout: so every idle
 * connection holds an armed deadline, as a production server's would),
 * serving a loopback listener on a goroutine. The clients are goroutines
 * of the same process, started in batches of BATCH: each dials, sends one
 * "GET /plaintext HTTP/1.1" (keep-alive, the default), reads the whole
 * response (head and Content-Length body) into a 1 KiB buffer on its
 * stack and counts itself. Then, by default, it leaves its open fd to main
 * and ends, so the client side holds bare fds as c10k's main does; with
 * BENCH_CLIENTS=park in the environment it keeps its connection and parks
 * in goc_read on it instead (the server never writes to it again), as a
 * real client's reader would. The next batch starts once every client of
 * this one has its answer, so neither the accept queue nor the server is
 * ever flooded. That makes 2 fds per connection: the soft RLIMIT_NOFILE is
 * raised towards the hard limit, and if the hard limit is too low for
 * 10,000 connections the count is scaled down, with a note.
 *
 * VmRSS is read once the server is serving (its goroutine parked in
 * accept, the poller running) and before the first dial, and again once
 * every client has its answer, the server's conn_state hook has seen every
 * connection go IDLE (its goroutine is about to wait for a next request),
 * and SETTLE has passed. The difference per connection is the row. By
 * default it counts what c10k-mem counts, plus what HTTP adds: the
 * server's connection goroutine, its connection state (struct, 1 KiB read
 * buffer, idle deadline) and the user-space bookkeeping of both fds (the
 * poller's); the clients' goroutines have ended, and their stacks are
 * reused by the next batch, so at most a batch of them stays resident.
 * With BENCH_CLIENTS=park it counts each client's parked goroutine too.
 * Socket buffers live in the kernel and are not in VmRSS, on any row.
 * One-time costs of the first request (the request-state pool, the Date
 * cache, ...) fall in the difference too, spread over the connections.
 * Then the process sleeps IDLE and the idle-cpu row is the user + system
 * CPU time getrusage reports for that time.
 *
 * Twin: bench/go/http_c10k/main.go (net/http, with the same two timeouts,
 * and raw net.Conn clients, in the same two modes). Rows: http-c10k-mem
 * and http-c10k-idle-cpu; with BENCH_CLIENTS=park, http-c10k-park-mem and
 * http-c10k-park-idle-cpu. KiB per connection and ms, lower is better.
 */
#include <goc.h>
#include <goc/http.h>
#include <stdatomic.h>
#include <strings.h>
#include <sys/resource.h>

#include "bench.h"

#define DEFAULT_COUNT 10000L
#define SPARE_FDS     100 /* stdio, the listener, the poller, ... */
#define BATCH         500
#define SETTLE        (500 * GOC_MILLISECOND)
#define IDLE          (2 * GOC_SECOND)
#define DEADLINE      (60 * GOC_SECOND)

static const char request[] = "GET /plaintext HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
static const char hello[] = "Hello, World!";

static char addr[64];              /* the server's, written before any client starts */
static int lfd;                    /* the listener, which serve owns */
static bool park;                  /* BENCH_CLIENTS=park: clients keep their conns */
static int *fds;                   /* otherwise: the clients' ends, held by main */
static atomic_long answered, idle; /* polled by main (wait_for) */

static void plaintext(goc_http_response_writer *w, goc_http_request *r, void *arg)
{
    (void)r, (void)arg;
    goc_http_header_set(goc_http_response_header(w), "Content-Type", "text/plain");
    goc_http_write(w, hello, sizeof hello - 1);
}

/* conn_state hook: count the connections that reached IDLE (each serves
 * one request, so each gets there once). */
static void count_idle(int fd, goc_http_conn_state st, void *arg)
{
    (void)fd, (void)arg;
    if (st == GOC_HTTP_STATE_IDLE)
        atomic_fetch_add_explicit(&idle, 1, memory_order_relaxed);
}

static void serve(void *arg)
{
    goc_http_server *srv = arg;
    int rc = goc_http_server_serve(srv, lfd);
    bench_die("goc_http_server_serve: %s", goc_strerror(rc));
}

/* How many bytes the response in buf[0, len) takes in all, once its head
 * is complete; 0 while it is not. Dies on anything but a 200 with a
 * Content-Length. */
static size_t response_size(const char *buf, size_t len)
{
    const char *end = memmem(buf, len, "\r\n\r\n", 4);
    if (end == NULL)
        return 0;
    if (strncmp(buf, "HTTP/1.1 200 ", 13) != 0)
        bench_die("unexpected response: %.*s", (int)(end - buf), buf);
    for (const char *p = buf; p < end; p = memchr(p, '\n', (size_t)(end - p)) + 1)
        if (strncasecmp(p, "Content-Length:", 15) == 0)
            return (size_t)(end + 4 - buf) + strtoul(p + 15, NULL, 10);
    bench_die("response without Content-Length: %.*s", (int)(end - buf), buf);
}

static void client(void *arg)
{
    long i = (long)(intptr_t)arg;
    char buf[1024];
    int fd = goc_dial("tcp", addr, 10 * GOC_SECOND);
    if (fd < 0)
        bench_die("goc_dial after %ld answers: %s",
                  atomic_load_explicit(&answered, memory_order_relaxed), goc_strerror(fd));
    ssize_t rc = goc_write(fd, request, sizeof request - 1);
    if (rc < 0)
        bench_die("goc_write: %s", goc_strerror((int)rc));
    size_t len = 0, want = 0;
    while (want == 0 || len < want) {
        if (len == sizeof buf)
            bench_die("response larger than %zu bytes", sizeof buf);
        if ((rc = goc_read(fd, buf + len, sizeof buf - len)) <= 0)
            bench_die("goc_read of the response: %s", rc == 0 ? "EOF" : goc_strerror((int)rc));
        len += (size_t)rc;
        if (want == 0)
            want = response_size(buf, len);
    }
    if (!park) {
        fds[i] = fd; /* main reads it after answered counts it */
        atomic_fetch_add_explicit(&answered, 1, memory_order_release);
        return;
    }
    atomic_fetch_add_explicit(&answered, 1, memory_order_relaxed);
    while (goc_read(fd, buf, sizeof buf) > 0) { /* keep-alive: parks here for good */
    }
    goc_close(fd);
}

/* Sleep until *counter reaches n; dies past DEADLINE from start. */
static void wait_for(atomic_long *counter, long n, int64_t start, const char *what)
{
    while (atomic_load_explicit(counter, memory_order_acquire) < n) { /* pairs with client's */
        if (goc_now() - start > DEADLINE)
            bench_die("only %ld of %ld %s", atomic_load_explicit(counter, memory_order_relaxed), n,
                      what);
        goc_sleep(GOC_MILLISECOND);
    }
}

/* Start the server on a loopback port (its address in addr); return once
 * its goroutine had the time to park in accept. */
static void start_server(void)
{
    goc_http_server_opts opts = {.conn_state = count_idle};
    goc_http_server *srv =
        goc_http_server_new((goc_http_handler){.fn = plaintext, .arg = NULL}, &opts);
    if (srv == NULL)
        bench_die("goc_http_server_new: out of memory");
    lfd = bench_listen_loopback(addr, sizeof addr);
    int rc = goc_go(serve, srv);
    if (rc < 0)
        bench_die("goc_go: %s", goc_strerror(rc));
    goc_sleep(10 * GOC_MILLISECOND);
}

static int bench_main(void *arg)
{
    long n = bench_fit_fd_limit("http-c10k", *(const long *)arg, SPARE_FDS);
    const char *mode = getenv("BENCH_CLIENTS");
    park = mode != NULL && strcmp(mode, "park") == 0;
    const char *row = park ? "http-c10k-park" : "http-c10k";
    if (!park && (fds = calloc((size_t)n, sizeof *fds)) == NULL)
        bench_die("out of memory");
    start_server();
    long rss_before = bench_rss_kib();
    if (rss_before < 0)
        bench_die("cannot read VmRSS from /proc/self/status");

    int64_t start = goc_now();
    for (long i = 0; i < n; i += BATCH) {
        long end = i + BATCH < n ? i + BATCH : n;
        for (long j = i; j < end; j++) {
            int rc = goc_go(client, (void *)(intptr_t)j);
            if (rc < 0)
                bench_die("goc_go: %s", goc_strerror(rc));
        }
        wait_for(&answered, end, start, "clients have their answer"); /* the server catches up */
    }
    int64_t dialed = goc_now();
    wait_for(&idle, n, start, "server connections went idle");
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
    goc_http_stats hs;
    goc_http_stats_read(&hs);
    bench_note("%s: %ld connections dialed and answered in %.1f ms; clients %s", row, n,
               (dialed - start) / 1e6, park ? "parked in goc_read" : "ended, fds held by main");
    bench_note("%s: VmRSS %ld KiB before, %ld KiB after; goroutines=%llu threads=%llu "
               "stacks_mapped=%llu; http conns_open=%llu conns_idle=%llu requests=%llu",
               row, rss_before, rss_after, (unsigned long long)st.goroutines,
               (unsigned long long)st.threads, (unsigned long long)st.stacks_mapped,
               (unsigned long long)hs.conns_open, (unsigned long long)hs.conns_idle,
               (unsigned long long)hs.requests);
    bench_note("%s: %.1f ms of CPU in %.1f ms idle", row, idle_cpu, idle_wall / 1e6);
    char name[64];
    snprintf(name, sizeof name, "%s-mem", row);
    bench_result(name, "KiB", (double)(rss_after - rss_before) / (double)n);
    snprintf(name, sizeof name, "%s-idle-cpu", row);
    bench_result(name, "ms", idle_cpu);
    return 0; /* goc_run abandons the server and the clients; exit closes every fd */
}

int main(int argc, char **argv)
{
    return bench_run(argc, argv, DEFAULT_COUNT, bench_main);
}
