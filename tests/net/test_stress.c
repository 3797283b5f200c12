/*
 * test_stress.c — 1000 goroutines at once, each dialing, exchanging a few
 * messages with an echo server (a goroutine per connection) and closing,
 * on tcp4 and unix sockets; then no fd is left open. ctest runs it at
 * GOC_MAXPROCS=1, 2 and 4.
 */
#include "netutil.h"

static char info[256]; /* written by a goroutine, logged by the test thread */

#define N_STRESS 1000
#define N_MSGS   4

typedef struct server {
    int lfd;
    atomic_long accepted, closed, bytes;
    atomic_int stopped;
    bool allow_reset; /* clients close before reading the echo */
} server;

typedef struct conn_arg {
    server *srv;
    int fd;
} conn_arg;

static void serve(void *arg)
{
    conn_arg *a = arg;
    server *srv = a->srv;
    int fd = a->fd;
    free(a);
    char buf[4096];
    for (;;) {
        ssize_t n = goc_read(fd, buf, sizeof buf);
        if (n <= 0) {
            GO_CHECK(n == 0 || (srv->allow_reset && n == -ECONNRESET), "server read: %s",
                     goc_strerror((int)n));
            break;
        }
        atomic_fetch_add(&srv->bytes, n);
        ssize_t w = goc_write(fd, buf, (size_t)n);
        if (w != n) {
            GO_CHECK(srv->allow_reset && (w == -ECONNRESET || w == -EPIPE), "server write: %s",
                     goc_strerror((int)w));
            break;
        }
    }
    goc_close(fd);
    atomic_fetch_add(&srv->closed, 1);
}

static void accept_loop(void *arg)
{
    server *srv = arg;
    for (;;) {
        int fd = goc_accept(srv->lfd, NULL, NULL);
        if (fd < 0) {
            GO_CHECK(fd == -EBADF, "accept: %s", goc_strerror(fd));
            break;
        }
        atomic_fetch_add(&srv->accepted, 1);
        conn_arg *a = malloc(sizeof *a);
        a->srv = srv;
        a->fd = fd;
        GO_SPAWN(serve, a);
    }
    atomic_store(&srv->stopped, 1);
}

typedef struct stress_client {
    const char *network, *addr;
    int id;
    atomic_long *done, *ok;
} stress_client;

static void stress_client_fn(void *arg)
{
    stress_client *c = arg;
    int fd = goc_dial(c->network, c->addr, 20 * GOC_SECOND);
    if (fd < 0) {
        GO_CHECK(false, "client %d: dial: %s", c->id, goc_strerror(fd));
        atomic_fetch_add(c->done, 1);
        return;
    }
    bool good = true;
    for (int k = 0; k < N_MSGS && good; k++) {
        char out[512], in[512];
        size_t n = 1 + (size_t)((c->id * 31 + k * 97) % (int)sizeof out);
        fill_pattern(out, n, (uint64_t)c->id * N_MSGS + (uint64_t)k);
        ssize_t w = goc_write(fd, out, n);
        ssize_t r = w == (ssize_t)n ? read_full(fd, in, n) : -1;
        good = r == (ssize_t)n && memcmp(in, out, n) == 0;
        GO_CHECK(good, "client %d message %d: wrote %zd, read %zd of %zu", c->id, k, w, r, n);
        if (k == 1)
            goc_yield();
    }
    GO_CHECK(goc_close(fd) == 0, "client %d: close", c->id);
    if (good)
        atomic_fetch_add(c->ok, 1);
    atomic_fetch_add(c->done, 1);
}

static int main_stress(void *arg)
{
    const char *network = arg;
    net_warmup();
    int fds0 = count_fds();
    server srv = {0};
    char path[128];
    const char *laddr =
        strcmp(network, "unix") == 0 ? unix_path(path, sizeof path, "stress.sock") : "127.0.0.1:0";
    srv.lfd = goc_listen(network, laddr);
    GO_CHECK(srv.lfd >= 0, "listen: %s", goc_strerror(srv.lfd));
    if (srv.lfd < 0)
        return 1;
    char addr[128];
    dial_addr(srv.lfd, addr, sizeof addr);
    GO_SPAWN(accept_loop, &srv);

    int n = (int)test_scale(N_STRESS);
    if (n < 50)
        n = 50;
    static stress_client clients[N_STRESS];
    atomic_long done = 0, ok = 0;
    int64_t t0 = goc_now();
    for (int i = 0; i < n; i++) {
        clients[i] =
            (stress_client){.network = network, .addr = addr, .id = i, .done = &done, .ok = &ok};
        GO_SPAWN(stress_client_fn, &clients[i]);
    }
    GO_CHECK(go_wait_ge(&done, n, 60000), "%ld of %d clients finished", atomic_load(&done), n);
    GO_CHECK(atomic_load(&ok) == n, "%ld of %d clients exchanged all messages", atomic_load(&ok),
             n);
    GO_CHECK(go_wait_ge(&srv.closed, n, 10000), "server closed %ld of %d", atomic_load(&srv.closed),
             n);
    /* At least ours: a connection from outside the test may come too (the
     * portscan example, run by ctest beside it, dials 2000 loopback ports
     * around its own listeners). Each client checked its exchange above. */
    GO_CHECK(atomic_load(&srv.accepted) >= n, "accepted %ld of %d", atomic_load(&srv.accepted), n);
    snprintf(info, sizeof info, "%d %s clients: %lld ms", n, network, (long long)since_ms(t0));
    goc_close(srv.lfd);
    for (int i = 0; i < 5000 && !atomic_load(&srv.stopped); i++)
        goc_sleep(GOC_MILLISECOND);
    GO_CHECK(atomic_load(&srv.stopped), "acceptor did not stop");
    GO_CHECK(go_wait_fds(fds0, 5000), "fd leak: %d open, %d before", count_fds(), fds0);
    return 0;
}

Test(stress, thousand_clients_tcp4, .timeout = 60)
{
    cr_assert_eq(run_main(main_stress, "tcp4"), 0);
    cr_log_info("%s", info);
}

Test(stress, thousand_clients_unix, .timeout = 60)
{
    int r = run_main(main_stress, "unix");
    tmpdir_cleanup();
    cr_assert_eq(r, 0);
    cr_log_info("%s", info);
}

/* Dial, close at once (after a byte, half of the time: the echo then
 * meets a closed socket and the server may see a reset), many times over:
 * accept and close under churn. */
static int main_churn(void *arg)
{
    (void)arg;
    net_warmup();
    int fds0 = count_fds();
    server srv = {.allow_reset = true};
    srv.lfd = goc_listen("tcp4", "127.0.0.1:0");
    GO_CHECK(srv.lfd >= 0, "listen");
    char addr[64];
    dial_addr(srv.lfd, addr, sizeof addr);
    GO_SPAWN(accept_loop, &srv);
    int rounds = (int)test_scale(2000);
    for (int i = 0; i < rounds; i++) {
        int fd = goc_dial("tcp4", addr, 5 * GOC_SECOND);
        GO_CHECK(fd >= 0, "dial %d: %s", i, goc_strerror(fd));
        if (fd < 0)
            break;
        if (i % 2)
            GO_CHECK(goc_write(fd, "x", 1) == 1, "write");
        goc_close(fd);
    }
    GO_CHECK(go_wait_ge(&srv.closed, rounds, 10000), "server closed %ld of %d",
             atomic_load(&srv.closed), rounds);
    goc_close(srv.lfd);
    for (int i = 0; i < 5000 && !atomic_load(&srv.stopped); i++)
        goc_sleep(GOC_MILLISECOND);
    GO_CHECK(go_wait_fds(fds0, 5000), "fd leak: %d open, %d before", count_fds(), fds0);
    return 0;
}

Test(stress, dial_close_churn, .timeout = 60)
{
    cr_assert_eq(run_main(main_churn, NULL), 0);
}
