/*
 * portscan.c — a fan-out dialer: one goroutine per port, thousands of
 * connection attempts in flight at once on a few threads, each a plain
 * blocking-style goc_dial with a timeout.
 *
 *   build/examples/portscan                  self-test: open 20 listeners on
 *                                            127.0.0.1, scan 2000 ports around
 *                                            them, check exactly those are found
 *   build/examples/portscan HOST FIRST LAST  scan HOST's ports FIRST..LAST
 *
 * Scan only hosts you own (the self-test stays on 127.0.0.1).
 */
#include <goc.h>

#include <arpa/inet.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#define TIMEOUT   (500 * GOC_MILLISECOND)
#define MAX_PORTS 65536

static const char *host;
static atomic_bool open_port[MAX_PORTS];
static goc_waitgroup wg;
static goc_semaphore inflight; /* connections in flight: below the fd limit */

static void probe(void *arg)
{
    int port = (int)(intptr_t)arg;
    char addr[300];
    snprintf(addr, sizeof addr, strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
    goc_semaphore_acquire(&inflight, NULL, 1);
    int fd = goc_dial("tcp", addr, TIMEOUT); /* parks this goroutine only */
    goc_semaphore_release(&inflight, 1);
    if (fd >= 0) {
        atomic_store(&open_port[port], true);
        goc_close(fd);
    }
    goc_waitgroup_done(&wg);
}

/* Dial every port of [first, last] at once; returns how many answered. */
static int scan(int first, int last)
{
    for (int port = first; port <= last; port++) {
        goc_waitgroup_add(&wg, 1);
        if (goc_go(probe, (void *)(intptr_t)port) != 0) {
            fprintf(stderr, "portscan: out of memory\n");
            exit(1);
        }
    }
    goc_waitgroup_wait(&wg);
    int n = 0;
    for (int port = first; port <= last; port++)
        n += atomic_load(&open_port[port]);
    return n;
}

static int local_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &len);
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static int self_test(void)
{
    enum { LISTENERS = 20, SPAN = 2000 };
    int fds[LISTENERS], ports[LISTENERS];
    host = "127.0.0.1";
    for (int i = 0; i < LISTENERS; i++) {
        fds[i] = goc_listen("tcp4", "127.0.0.1:0");
        if (fds[i] < 0) {
            fprintf(stderr, "portscan: listen: %s\n", goc_strerror(fds[i]));
            return 1;
        }
        ports[i] = local_port(fds[i]);
    }
    /* Scan a window of ports that holds the first listener. */
    int first = ports[0] > SPAN / 2 ? ports[0] - SPAN / 2 : 1;
    int last = first + SPAN - 1 < MAX_PORTS ? first + SPAN - 1 : MAX_PORTS - 1;
    int64_t t0 = goc_now();
    int found = scan(first, last);
    double ms = (double)(goc_now() - t0) / GOC_MILLISECOND;
    int want = 0, missed = 0;
    for (int i = 0; i < LISTENERS; i++) {
        if (ports[i] < first || ports[i] > last)
            continue;
        want++;
        missed += !atomic_load(&open_port[ports[i]]);
    }
    printf("portscan: %d ports of 127.0.0.1 dialed concurrently in %.1f ms on %d Ps: "
           "%d open (%d of our %d listeners in range)\n",
           last - first + 1, ms, goc_maxprocs(), found, want - missed, want);
    for (int i = 0; i < LISTENERS; i++)
        goc_close(fds[i]);
    /* Other programs may listen in the window too: ours must all be found. */
    return missed == 0 ? 0 : 1;
}

static int run(void *arg)
{
    char **argv = arg;
    if (!argv[1])
        return self_test();
    host = argv[1];
    int first = argv[2] ? atoi(argv[2]) : 1, last = argv[3] ? atoi(argv[3]) : 1024;
    if (first < 1 || last >= MAX_PORTS || first > last) {
        fprintf(stderr, "usage: portscan [HOST FIRST LAST]\n");
        return 2;
    }
    int found = scan(first, last);
    for (int port = first; port <= last; port++)
        if (atomic_load(&open_port[port]))
            printf("%s:%d open\n", host, port);
    printf("%d of %d ports open\n", found, last - first + 1);
    return 0;
}

int main(int argc, char **argv)
{
    (void)argc;
    struct rlimit rl = {1024, 1024};
    getrlimit(RLIMIT_NOFILE, &rl);
    rlim_t cap = rl.rlim_cur > 4096 + 64 ? 4096 : rl.rlim_cur - 64;
    goc_semaphore_init(&inflight, (int64_t)cap);
    return goc_run(run, argv);
}
