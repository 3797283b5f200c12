/*
 * accept — connection churn over 127.0.0.1: 4 dialer goroutines open 20,000
 * TCP connections in total, one after another each, against a server
 * goroutine that accepts each one and closes it at once; report
 * connections per second.
 *
 * A dialer waits for the server's close (end of file) before it closes its
 * end and dials again: so every connection counts only once the server has
 * accepted it (a dialer that closed at once could outrun the acceptor, and
 * connections dropped from a full accept queue would never be accepted),
 * and the server's end, which closes first, is the one in TIME_WAIT, so
 * the dialers never run short of ephemeral ports.
 *
 * The clock runs from before the first dial until the dialers are done
 * (a goc_waitgroup; the Go twin: sync.WaitGroup) and the server has
 * accepted every connection (it signals on a channel after the last).
 *
 * Twin: bench/go/accept/main.go. Row: accept (ops/s, connections per
 * second).
 */
#include <goc.h>
#include <netinet/in.h>

#include "bench.h"

#define DEFAULT_COUNT 20000L
#define DIALERS       4

static char addr[64]; /* the server's 127.0.0.1:port */
static long per_dialer;
static goc_waitgroup wg;
static goc_chan *accepted_all; /* the server sends once it accepted every connection */

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
            bench_die("goc_accept: %s", goc_strerror(fd));
        goc_close(fd);
    }
    goc_chan_send(accepted_all, NULL);
}

static void dialer(void *arg)
{
    (void)arg;
    for (long i = 0; i < per_dialer; i++) {
        int fd = goc_dial("tcp", addr, 10 * GOC_SECOND);
        if (fd < 0)
            bench_die("goc_dial %s after %ld connections: %s", addr, i, goc_strerror(fd));
        char b;
        ssize_t r = goc_read(fd, &b, 1); /* the server's close */
        if (r != 0)
            bench_die("goc_read: %s", r < 0 ? goc_strerror((int)r) : "data from the server");
        goc_close(fd);
    }
    goc_waitgroup_done(&wg);
}

static int bench_main(void *arg)
{
    long n = *(const long *)arg;
    per_dialer = n / DIALERS > 0 ? n / DIALERS : 1;
    n = per_dialer * DIALERS;
    if (!(accepted_all = goc_chan_make(0, 1)))
        bench_die("goc_chan_make: out of memory");

    int lfd = bench_listen_loopback(addr, sizeof addr);
    struct server s = {lfd, n};
    int rc = goc_go(server, &s);
    if (rc < 0)
        bench_die("goc_go: %s", goc_strerror(rc));

    int64_t start = goc_now();
    goc_waitgroup_add(&wg, DIALERS);
    for (int d = 0; d < DIALERS; d++)
        if ((rc = goc_go(dialer, NULL)) < 0)
            bench_die("goc_go: %s", goc_strerror(rc));
    goc_waitgroup_wait(&wg);
    int64_t dialed = goc_now();
    goc_chan_recv(accepted_all, NULL);
    int64_t elapsed = goc_now() - start;

    goc_stats st;
    goc_read_stats(&st);
    bench_note("accept: %ld connections by %d dialers in %.1f ms (dials done after %.1f ms)", n,
               DIALERS, elapsed / 1e6, (dialed - start) / 1e6);
    bench_note("accept: threads=%llu context_switches=%llu steals=%llu",
               (unsigned long long)st.threads, (unsigned long long)st.context_switches,
               (unsigned long long)st.steals);
    bench_result("accept", "ops/s", (double)n / ((double)elapsed / 1e9));
    goc_close(lfd);
    return 0;
}

int main(int argc, char **argv)
{
    return bench_run(argc, argv, DEFAULT_COUNT, bench_main);
}
