/*
 * test_tcp.c — data over connections: an echo server (one goroutine per
 * connection) with 128 clients exchanging messages of 1 byte to 1 MiB on
 * tcp4, tcp6 and unix sockets; readv/writev with many iovecs and partial
 * writes; a plain thread using the calls; end of file and half-close; a
 * reset peer (-ECONNRESET / -EPIPE, never SIGPIPE).
 */
#include "netutil.h"

/* ---- the echo server ------------------------------------------------------- */

typedef struct echo_srv {
    int lfd;
    atomic_long accepted, closed;
    atomic_int stopped; /* the acceptor saw -EBADF */
} echo_srv;

typedef struct echo_conn_arg {
    echo_srv *srv;
    int fd;
} echo_conn_arg;

static void echo_conn(void *arg)
{
    echo_conn_arg *a = arg;
    echo_srv *srv = a->srv;
    int fd = a->fd;
    free(a);
    size_t cap = 64 * 1024;
    char *buf = malloc(cap);
    for (;;) {
        ssize_t n = goc_read(fd, buf, cap);
        if (n == 0)
            break;
        if (n < 0) {
            GO_CHECK(false, "echo: goc_read: %s", goc_strerror((int)n));
            break;
        }
        ssize_t w = goc_write(fd, buf, (size_t)n);
        if (w != n) {
            GO_CHECK(false, "echo: goc_write(%zd) = %zd: %s", n, w, goc_strerror((int)w));
            break;
        }
    }
    free(buf);
    GO_CHECK(goc_close(fd) == 0, "echo: goc_close failed");
    atomic_fetch_add(&srv->closed, 1);
}

static void echo_acceptor(void *arg)
{
    echo_srv *srv = arg;
    for (;;) {
        int fd = goc_accept(srv->lfd, NULL, NULL);
        if (fd == -EBADF)
            break;
        if (fd < 0) {
            GO_CHECK(false, "goc_accept: %s", goc_strerror(fd));
            break;
        }
        atomic_fetch_add(&srv->accepted, 1);
        echo_conn_arg *a = malloc(sizeof *a);
        a->srv = srv;
        a->fd = fd;
        GO_SPAWN(echo_conn, a);
    }
    atomic_store(&srv->stopped, 1);
}

/* ---- echo clients ---------------------------------------------------------- */

#define N_CLIENTS 128

static const size_t msg_sizes[] = {1, 2, 3, 10, 100, 1000, 1500, 4095, 4096, 4097, 65536, 65537};

/* Client id's message sizes: the small ones always, 200 kB for every 8th
 * client, 1 MiB for every 32nd. */
static size_t client_sizes(int id, size_t *out)
{
    size_t n = 0;
    for (size_t i = 0; i < sizeof msg_sizes / sizeof msg_sizes[0]; i++)
        out[n++] = msg_sizes[(i + (size_t)id) % (sizeof msg_sizes / sizeof msg_sizes[0])];
    if (id % 8 == 0)
        out[n++] = 200000;
    if (id % 32 == 0)
        out[n++] = 1 << 20;
    return n;
}

typedef struct client {
    const char *network, *addr;
    int id, fd;
    atomic_long wrote; /* the writer finished */
    atomic_long *done;
} client;

/* Writes every message while the client goroutine reads the echoes (the
 * two directions of one fd at once): a client that wrote 1 MiB before
 * reading would deadlock with the server once both socket buffers fill. */
static void client_writer(void *arg)
{
    client *c = arg;
    size_t sizes[16];
    size_t n = client_sizes(c->id, sizes);
    char *buf = malloc(1 << 20);
    for (size_t k = 0; k < n; k++) {
        fill_pattern(buf, sizes[k], (uint64_t)c->id * 100 + k);
        ssize_t w = goc_write(c->fd, buf, sizes[k]);
        GO_CHECK(w == (ssize_t)sizes[k], "client %d: goc_write(%zu) = %zd (%s)", c->id, sizes[k], w,
                 goc_strerror((int)w));
    }
    free(buf);
    atomic_store(&c->wrote, 1);
}

static void client_fn(void *arg)
{
    client *c = arg;
    c->fd = goc_dial(c->network, c->addr, 10 * GOC_SECOND);
    if (c->fd < 0) {
        GO_CHECK(false, "client %d: goc_dial(%s, %s): %s", c->id, c->network, c->addr,
                 goc_strerror(c->fd));
        atomic_fetch_add(c->done, 1);
        return;
    }
    GO_SPAWN(client_writer, c);
    size_t sizes[16];
    size_t n = client_sizes(c->id, sizes);
    char *buf = malloc(1 << 20);
    for (size_t k = 0; k < n; k++) {
        memset(buf, 0, sizes[k]);
        ssize_t r = read_full(c->fd, buf, sizes[k]);
        GO_CHECK(r == (ssize_t)sizes[k], "client %d: message %zu: read %zd of %zu (%s)", c->id, k,
                 r, sizes[k], r < 0 ? goc_strerror((int)r) : "eof");
        if (r != (ssize_t)sizes[k])
            break;
        GO_CHECK(check_pattern(buf, sizes[k], (uint64_t)c->id * 100 + k),
                 "client %d: message %zu (%zu bytes) corrupted", c->id, k, sizes[k]);
    }
    free(buf);
    go_wait_ge(&c->wrote, 1, 20000);
    GO_CHECK(atomic_load(&c->wrote), "client %d: writer did not finish", c->id);
    GO_CHECK(goc_close(c->fd) == 0, "client %d: goc_close", c->id);
    atomic_fetch_add(c->done, 1);
}

typedef struct echo_case {
    const char *network, *laddr;
} echo_case;

static int main_echo(void *arg)
{
    echo_case *ec = arg;
    net_warmup();
    int fds0 = count_fds();
    echo_srv srv = {0};
    srv.lfd = goc_listen(ec->network, ec->laddr);
    if (srv.lfd < 0) {
        GO_CHECK(false, "goc_listen(%s, %s): %s", ec->network, ec->laddr, goc_strerror(srv.lfd));
        return 1;
    }
    char addr[128];
    dial_addr(srv.lfd, addr, sizeof addr);
    GO_SPAWN(echo_acceptor, &srv);

    static client clients[N_CLIENTS];
    atomic_long done = 0;
    for (int i = 0; i < N_CLIENTS; i++) {
        clients[i] = (client){.network = ec->network, .addr = addr, .id = i, .done = &done};
        GO_SPAWN(client_fn, &clients[i]);
    }
    GO_CHECK(go_wait_ge(&done, N_CLIENTS, 30000), "only %ld of %d clients finished",
             atomic_load(&done), N_CLIENTS);
    GO_CHECK(go_wait_ge(&srv.closed, N_CLIENTS, 10000), "server closed %ld of %d connections",
             atomic_load(&srv.closed), N_CLIENTS);
    /* At least ours: a connection from outside the test may come too (the
     * portscan example, run by ctest beside it, dials 2000 loopback ports
     * around its own listeners). Each client checked its echoes above. */
    GO_CHECK(atomic_load(&srv.accepted) >= N_CLIENTS, "accepted %ld", atomic_load(&srv.accepted));

    /* goc_close wakes the acceptor with -EBADF. */
    GO_CHECK(goc_close(srv.lfd) == 0, "goc_close(listener)");
    for (int i = 0; i < 5000 && !atomic_load(&srv.stopped); i++)
        goc_sleep(GOC_MILLISECOND);
    GO_CHECK(atomic_load(&srv.stopped), "acceptor still blocked after goc_close(listener)");
    GO_CHECK(go_wait_fds(fds0, 5000), "fd leak: %d open, %d before", count_fds(), fds0);
    return 0;
}

Test(tcp, echo_tcp4_128_clients, .timeout = 60)
{
    echo_case ec = {"tcp4", "127.0.0.1:0"};
    cr_assert_eq(run_main(main_echo, &ec), 0);
}

Test(tcp, echo_tcp6_128_clients, .timeout = 60)
{
    if (!have_ipv6())
        cr_skip_test("no IPv6 on the loopback");
    echo_case ec = {"tcp6", "[::1]:0"};
    cr_assert_eq(run_main(main_echo, &ec), 0);
}

Test(tcp, echo_unix_128_clients, .timeout = 60)
{
    char path[128];
    echo_case ec = {"unix", unix_path(path, sizeof path, "echo.sock")};
    int r = run_main(main_echo, &ec);
    tmpdir_cleanup();
    cr_assert_eq(r, 0);
}

/* ---- readv / writev -------------------------------------------------------- */

#define NIOV 1024 /* IOV_MAX */

typedef struct vec_state {
    int fd;
    size_t total;
    atomic_long done;
} vec_state;

static void vec_reader(void *arg)
{
    vec_state *v = arg;
    char *got = malloc(v->total);
    size_t off = 0;
    int round = 0;
    while (off < v->total) {
        /* Three scattered pieces of odd sizes, clipped to what is left. */
        size_t want[3] = {1000, 1, 7001};
        struct iovec iov[3];
        int cnt = 0;
        size_t room = v->total - off, at = off;
        for (int i = 0; i < 3 && room > 0; i++) {
            size_t l = want[i] < room ? want[i] : room;
            iov[cnt++] = (struct iovec){got + at, l};
            at += l;
            room -= l;
        }
        ssize_t r = goc_readv(v->fd, iov, cnt);
        if (r <= 0) {
            GO_CHECK(false, "goc_readv at %zu: %zd (%s)", off, r, goc_strerror((int)r));
            break;
        }
        off += (size_t)r;
        /* Fall behind now and then, so the writer's buffer fills and its
         * writes come back short. */
        if (++round % 64 == 0)
            goc_sleep(GOC_MILLISECOND);
    }
    GO_CHECK(off == v->total, "read %zu of %zu", off, v->total);
    GO_CHECK(check_pattern(got, v->total, 77), "writev/readv stream corrupted");
    free(got);
    atomic_store(&v->done, 1);
}

static int main_vec(void *arg)
{
    (void)arg;
    int c, s;
    int rc = small_buf_pair(&c, &s);
    GO_CHECK(rc == 0, "pair: %s", goc_strerror(rc));
    if (rc)
        return 1;

    /* 1024 pieces of 0..8 KiB (some empty) cut from one patterned stream. */
    struct iovec iov[NIOV], copy[NIOV];
    size_t total = 0;
    for (int i = 0; i < NIOV; i++) {
        size_t l = i % 97 == 0 ? 0 : (size_t)(i * 37 % 8191) + 1;
        iov[i].iov_len = l;
        total += l;
    }
    char *src = malloc(total);
    fill_pattern(src, total, 77);
    size_t at = 0;
    for (int i = 0; i < NIOV; i++) {
        iov[i].iov_base = src + at;
        at += iov[i].iov_len;
    }
    memcpy(copy, iov, sizeof iov);

    vec_state v = {.fd = s, .total = total};
    GO_SPAWN(vec_reader, &v);
    ssize_t w = goc_writev(c, iov, NIOV);
    GO_CHECK(w == (ssize_t)total, "goc_writev = %zd, want %zu (%s)", w, total,
             goc_strerror((int)w));
    GO_CHECK(memcmp(copy, iov, sizeof iov) == 0, "goc_writev changed the caller's iovecs");
    GO_CHECK(go_wait_ge(&v.done, 1, 20000), "reader did not finish");

    /* Degenerate and invalid vectors. */
    GO_CHECK(goc_writev(c, iov, 0) == 0, "writev of 0 iovecs");
    struct iovec empty[3] = {{src, 0}, {src, 0}, {src, 0}};
    GO_CHECK(goc_writev(c, empty, 3) == 0, "writev of empty iovecs");
    GO_CHECK(goc_writev(c, NULL, 1) == -EINVAL, "writev(NULL, 1)");
    GO_CHECK(goc_writev(c, iov, -1) == -EINVAL, "writev(-1)");
    GO_CHECK(goc_writev(c, iov, NIOV + 1) == -EINVAL, "writev(IOV_MAX + 1)");
    GO_CHECK(goc_readv(s, NULL, 1) == -EINVAL, "readv(NULL, 1)");
    GO_CHECK(goc_readv(s, iov, -1) == -EINVAL, "readv(-1)");
    GO_CHECK(goc_write(c, src, 0) == 0, "write of 0 bytes");

    free(src);
    goc_close(c);
    goc_close(s);
    return 0;
}

/* 1024 iovecs (~4 MiB, some empty) in one goc_writev over small socket
 * buffers: all bytes arrive in order, the short writes advance inside an
 * iovec, and the caller's array is left alone. */
Test(tcp, writev_readv_many_iovecs_partial, .timeout = 30)
{
    cr_assert_eq(run_main(main_vec, NULL), 0);
}

/* One 8 MiB goc_write over small buffers: every byte, in order. */
static void big_reader(void *arg)
{
    vec_state *v = arg;
    char *got = malloc(v->total);
    ssize_t r = read_full(v->fd, got, v->total);
    GO_CHECK(r == (ssize_t)v->total, "read %zd of %zu", r, v->total);
    GO_CHECK(check_pattern(got, v->total, 5), "stream corrupted");
    char extra;
    GO_CHECK(goc_read(v->fd, &extra, 1) == 0, "no EOF after the writer closed");
    free(got);
    goc_close(v->fd);
    atomic_store(&v->done, 1);
}

static int main_big_write(void *arg)
{
    (void)arg;
    int c, s;
    int rc = small_buf_pair(&c, &s);
    GO_CHECK(rc == 0, "pair: %s", goc_strerror(rc));
    if (rc)
        return 1;
    size_t total = (size_t)test_scale(8 << 20);
    if (total < (1 << 20))
        total = 1 << 20;
    char *src = malloc(total);
    fill_pattern(src, total, 5);
    vec_state v = {.fd = s, .total = total};
    GO_SPAWN(big_reader, &v);
    ssize_t w = goc_write(c, src, total);
    GO_CHECK(w == (ssize_t)total, "goc_write = %zd, want %zu", w, total);
    goc_close(c);
    GO_CHECK(go_wait_ge(&v.done, 1, 20000), "reader did not finish");
    free(src);
    return 0;
}

Test(tcp, write_writes_every_byte, .timeout = 30)
{
    cr_assert_eq(run_main(main_big_write, NULL), 0);
}

/* ---- a plain thread ----------------------------------------------------------- */

typedef struct thread_case {
    char addr[64];
    atomic_long done;
    int result; /* 0 ok; else a line number */
    char why[256];
} thread_case;

#define T_FAIL(tc, ...)                                                                            \
    do {                                                                                           \
        if (!(tc)->result) {                                                                       \
            (tc)->result = __LINE__;                                                               \
            snprintf((tc)->why, sizeof(tc)->why, __VA_ARGS__);                                     \
        }                                                                                          \
    } while (0)

static void *plain_client(void *arg)
{
    thread_case *tc = arg;
    int fd = goc_dial("tcp4", tc->addr, 5 * GOC_SECOND);
    if (fd < 0) {
        T_FAIL(tc, "goc_dial from a thread: %s", goc_strerror(fd));
        atomic_store(&tc->done, 1);
        return NULL;
    }
    /* Several round trips, each read blocking the thread until the echo. */
    for (int k = 0; k < 20; k++) {
        size_t n = (size_t)(k * 4099 % 70000) + 1;
        char *out = malloc(n), *in = malloc(n);
        fill_pattern(out, n, (uint64_t)k);
        ssize_t w = goc_write(fd, out, n);
        if (w != (ssize_t)n)
            T_FAIL(tc, "goc_write from a thread: %zd", w);
        ssize_t r = read_full(fd, in, n);
        if (r != (ssize_t)n || memcmp(in, out, n) != 0)
            T_FAIL(tc, "round trip %d from a thread: read %zd of %zu", k, r, n);
        free(out);
        free(in);
    }
    /* A deadline blocks the thread until the timer fires. */
    int64_t t0 = goc_now();
    goc_set_read_deadline(fd, goc_now() + 50 * GOC_MILLISECOND);
    char c;
    ssize_t r = goc_read(fd, &c, 1);
    int64_t el = since_ms(t0);
    if (r != -ETIMEDOUT)
        T_FAIL(tc, "read deadline from a thread: %zd (%s)", r, goc_strerror((int)r));
    if (el < 50 || el > late_ms(50))
        T_FAIL(tc, "read deadline from a thread after %lld ms", (long long)el);
    if (goc_close(fd) != 0)
        T_FAIL(tc, "goc_close from a thread");
    atomic_store(&tc->done, 1);
    return NULL;
}

static int main_thread(void *arg)
{
    thread_case *tc = arg;
    echo_srv srv = {0};
    srv.lfd = goc_listen("tcp4", "127.0.0.1:0");
    GO_CHECK(srv.lfd >= 0, "listen");
    dial_addr(srv.lfd, tc->addr, sizeof tc->addr);
    GO_SPAWN(echo_acceptor, &srv);
    counter cnt = {.sleepy = false};
    GO_SPAWN(counter_fn, &cnt);
    pthread_t t = start_thread(plain_client, tc);
    GO_CHECK(go_wait_ge(&tc->done, 1, 20000), "the thread did not finish");
    counter_stop(&cnt);
    GO_CHECK(atomic_load(&cnt.count) > 10, "goroutines stalled while a thread blocked: %ld",
             atomic_load(&cnt.count));
    pthread_join(t, NULL);
    goc_close(srv.lfd);
    GO_CHECK(go_wait_ge(&srv.closed, 1, 5000), "server did not see the close");
    return 0;
}

/* A plain thread (not a goroutine) dials, writes, reads and waits on a
 * deadline: the calls block the thread and the goroutines keep running. */
Test(tcp, plain_thread_uses_net_calls, .timeout = 30)
{
    static thread_case tc;
    cr_assert_eq(run_main(main_thread, &tc), 0);
    cr_assert_eq(tc.result, 0, "line %d: %s", tc.result, tc.why);
}

/* Plain threads only: one serves (accept, read and write block it), the
 * test thread dials. No goroutine waits for I/O: the poller must still be
 * run for the threads. */
static void *plain_server(void *arg)
{
    int lfd = *(int *)arg;
    int fd = goc_accept(lfd, NULL, NULL);
    if (fd < 0)
        return (void *)1;
    char buf[100];
    ssize_t n = read_full(fd, buf, 5);
    if (n != 5 || memcmp(buf, "hello", 5) != 0)
        return (void *)2;
    if (goc_write(fd, "world", 5) != 5)
        return (void *)3;
    if (goc_read(fd, buf, sizeof buf) != 0)
        return (void *)4;
    goc_close(fd);
    return NULL;
}

static void plain_threads_exchange(void)
{
    int lfd = goc_listen("tcp4", "127.0.0.1:0");
    cr_assert(lfd >= 0, "listen: %s", goc_strerror(lfd));
    char addr[64];
    dial_addr(lfd, addr, sizeof addr);
    pthread_t t = start_thread(plain_server, &lfd);
    test_nap_ms(20); /* let the server block in accept */
    int fd = goc_dial("tcp4", addr, 5 * GOC_SECOND);
    cr_assert(fd >= 0, "dial: %s", goc_strerror(fd));
    cr_assert_eq(goc_write(fd, "hello", 5), 5);
    char buf[5];
    cr_assert_eq(read_full(fd, buf, 5), 5);
    cr_assert(memcmp(buf, "world", 5) == 0);
    cr_assert_eq(goc_close(fd), 0);
    void *res;
    pthread_join(t, &res);
    cr_assert_null(res, "server thread failed at step %ld", (long)res);
    cr_assert_eq(goc_close(lfd), 0);
}

static int main_touch_net(void *arg)
{
    (void)arg;
    int p[2];
    GO_CHECK(pipe(p) == 0, "pipe");
    GO_CHECK(goc_write(p[1], "x", 1) == 1, "write");
    char c;
    GO_CHECK(goc_read(p[0], &c, 1) == 1, "read");
    goc_close(p[0]);
    goc_close(p[1]);
    return 0;
}

/* After goc_run has run (and returned), plain threads alone. */
Test(tcp, plain_threads_after_goc_run, .timeout = 20)
{
    cr_assert_eq(run_main(main_touch_net, NULL), 0);
    plain_threads_exchange();
}

/* Once a bug (fixed): with no worker thread in the poller — the runtime
 * never ran a goroutine, or its workers went idle before the first net
 * call registered the poller — nothing ran epoll_wait for a plain thread
 * parked in goc_accept or goc_read, so it never woke. A plain thread that
 * waits now makes sure some M polls (goc__netpoll_kick). */
Test(tcp, plain_threads_without_goroutines, .timeout = 20)
{
    plain_threads_exchange();
}

/* ---- end of file ------------------------------------------------------------------ */

typedef struct eof_case {
    int c, s;
    atomic_long step;
} eof_case;

static void eof_closer(void *arg)
{
    eof_case *e = arg;
    GO_CHECK(goc_write(e->s, "bye", 3) == 3, "write");
    goc_sleep(20 * GOC_MILLISECOND); /* the reader is waiting by now */
    GO_CHECK(goc_close(e->s) == 0, "close");
    atomic_store(&e->step, 1);
}

static int main_eof(void *arg)
{
    const char *network = arg;
    eof_case e = {0};
    int rc = net_pair(network, &e.c, &e.s);
    GO_CHECK(rc == 0, "pair: %s", goc_strerror(rc));
    if (rc)
        return 1;
    GO_SPAWN(eof_closer, &e);
    char buf[16];
    ssize_t n = read_full(e.c, buf, 3);
    GO_CHECK(n == 3 && memcmp(buf, "bye", 3) == 0, "read before EOF: %zd", n);
    /* Blocks until the peer closes, then 0 — and 0 again after. */
    int64_t t0 = goc_now();
    GO_CHECK(goc_read(e.c, buf, sizeof buf) == 0, "no EOF after the peer closed");
    GO_CHECK(since_ms(t0) < late_ms(20), "EOF noticed late: %lld ms", (long long)since_ms(t0));
    GO_CHECK(goc_read(e.c, buf, sizeof buf) == 0, "second read after EOF");
    struct iovec iov = {buf, sizeof buf};
    GO_CHECK(goc_readv(e.c, &iov, 1) == 0, "readv after EOF");
    GO_CHECK(go_wait_ge(&e.step, 1, 5000), "closer");
    goc_close(e.c);
    return 0;
}

Test(tcp, read_returns_0_after_peer_close_tcp, .timeout = 10)
{
    cr_assert_eq(run_main(main_eof, "tcp4"), 0);
}

Test(tcp, read_returns_0_after_peer_close_unix, .timeout = 10)
{
    int r = run_main(main_eof, "unix");
    tmpdir_cleanup();
    cr_assert_eq(r, 0);
}

/* Half-close: the client sends a request and shuts down its write side;
 * the server (waiting in goc_read) reads it, then EOF, and still answers;
 * the client reads the answer, then EOF. */
static void half_server(void *arg)
{
    eof_case *e = arg;
    char buf[64];
    size_t got = 0;
    for (;;) {
        ssize_t n = goc_read(e->s, buf + got, sizeof buf - got);
        if (n <= 0) {
            GO_CHECK(n == 0, "server read: %s", goc_strerror((int)n));
            break;
        }
        got += (size_t)n;
    }
    GO_CHECK(got == 7 && memcmp(buf, "request", 7) == 0, "server got %zu bytes", got);
    GO_CHECK(goc_write(e->s, "response", 8) == 8, "server cannot write after the peer's SHUT_WR");
    GO_CHECK(goc_close(e->s) == 0, "server close");
    atomic_store(&e->step, 1);
}

static int main_half_close(void *arg)
{
    const char *network = arg;
    eof_case e = {0};
    int rc = net_pair(network, &e.c, &e.s);
    GO_CHECK(rc == 0, "pair: %s", goc_strerror(rc));
    if (rc)
        return 1;
    GO_SPAWN(half_server, &e);
    goc_sleep(10 * GOC_MILLISECOND); /* the server waits in goc_read */
    GO_CHECK(goc_write(e.c, "req", 3) == 3, "write");
    goc_sleep(10 * GOC_MILLISECOND);
    GO_CHECK(goc_write(e.c, "uest", 4) == 4, "write");
    GO_CHECK(shutdown(e.c, SHUT_WR) == 0, "shutdown: %s", strerror(errno));
    char buf[64];
    ssize_t n = read_full(e.c, buf, sizeof buf);
    GO_CHECK(n == 8 && memcmp(buf, "response", 8) == 0, "client read %zd", n);
    GO_CHECK(goc_read(e.c, buf, sizeof buf) == 0, "client: no EOF");
    /* Writing after our own SHUT_WR is EPIPE, not a signal. */
    GO_CHECK(goc_write(e.c, "x", 1) == -EPIPE, "write after SHUT_WR");
    GO_CHECK(go_wait_ge(&e.step, 1, 5000), "server did not finish");
    goc_close(e.c);
    return 0;
}

Test(tcp, half_close_tcp, .timeout = 10)
{
    cr_assert_eq(run_main(main_half_close, "tcp4"), 0);
}

Test(tcp, half_close_unix, .timeout = 10)
{
    int r = run_main(main_half_close, "unix");
    tmpdir_cleanup();
    cr_assert_eq(r, 0);
}

/* ---- a reset peer -------------------------------------------------------------------- */

static void reset_close(int fd)
{
    struct linger lg = {.l_onoff = 1, .l_linger = 0}; /* close sends RST */
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    GO_CHECK(goc_close(fd) == 0, "close");
}

static void resetter(void *arg)
{
    eof_case *e = arg;
    goc_sleep(20 * GOC_MILLISECOND); /* the reader is waiting by now */
    reset_close(e->s);
    atomic_store(&e->step, 1);
}

static int main_reset_read(void *arg)
{
    (void)arg;
    eof_case e = {0};
    int rc = net_pair("tcp4", &e.c, &e.s);
    GO_CHECK(rc == 0, "pair: %s", goc_strerror(rc));
    if (rc)
        return 1;
    GO_SPAWN(resetter, &e);
    char buf[16];
    ssize_t n = goc_read(e.c, buf, sizeof buf);
    GO_CHECK(n == -ECONNRESET, "read on a reset connection: %zd (%s)", n, goc_strerror((int)n));
    GO_CHECK(go_wait_ge(&e.step, 1, 5000), "resetter");
    goc_close(e.c);
    return 0;
}

/* A goroutine waiting in goc_read when the peer resets gets -ECONNRESET. */
Test(tcp, reset_peer_read, .timeout = 10)
{
    cr_assert_eq(run_main(main_reset_read, NULL), 0);
}

static int main_reset_write(void *arg)
{
    (void)arg;
    int c, s;
    int rc = net_pair("tcp4", &c, &s);
    GO_CHECK(rc == 0, "pair: %s", goc_strerror(rc));
    if (rc)
        return 1;
    reset_close(s);
    goc_sleep(20 * GOC_MILLISECOND);
    size_t n = 64 * 1024;
    char *buf = calloc(1, n);
    ssize_t w = 0;
    int i;
    for (i = 0; i < 1000; i++) {
        w = goc_write(c, buf, n);
        if (w < 0)
            break;
    }
    GO_CHECK(w == -ECONNRESET || w == -EPIPE, "write %d to a reset peer: %zd (%s)", i, w,
             goc_strerror((int)w));
    /* And again: still an error, still no signal. */
    w = goc_write(c, buf, n);
    GO_CHECK(w == -ECONNRESET || w == -EPIPE, "second write: %zd", w);
    free(buf);
    goc_close(c);
    return 0;
}

/* Writing to a peer that reset the connection: -ECONNRESET or -EPIPE,
 * and the process is not killed by SIGPIPE (it would end the test). */
Test(tcp, reset_peer_write_no_sigpipe, .timeout = 10)
{
    cr_assert_eq(run_main(main_reset_write, NULL), 0);
}

/* A pipe whose reader is gone: -EPIPE from goc_write (write(2) path, not
 * sendmsg), not a SIGPIPE. */
static int main_pipe_epipe(void *arg)
{
    (void)arg;
    int p[2];
    GO_CHECK(pipe(p) == 0, "pipe");
    close(p[0]);
    GO_CHECK(goc_write(p[1], "x", 1) == -EPIPE, "goc_write to a widowed pipe");
    GO_CHECK(goc_close(p[1]) == 0, "close");
    return 0;
}

Test(tcp, pipe_without_reader_no_sigpipe, .timeout = 10)
{
    cr_assert_eq(run_main(main_pipe_epipe, NULL), 0);
}

/* A program's own SIGPIPE handler is kept: sockets still never raise it,
 * a widowed pipe does (and the call is -EPIPE). */
static atomic_int sigpipes;

static void on_sigpipe(int sig)
{
    (void)sig;
    atomic_fetch_add(&sigpipes, 1);
}

static int main_sigpipe_handler(void *arg)
{
    (void)arg;
    int c, s;
    int rc = net_pair("tcp4", &c, &s);
    GO_CHECK(rc == 0, "pair: %s", goc_strerror(rc));
    if (rc)
        return 1;
    reset_close(s);
    goc_sleep(20 * GOC_MILLISECOND);
    char buf[4096] = {0};
    ssize_t w = 0;
    for (int i = 0; i < 1000 && w >= 0; i++)
        w = goc_write(c, buf, sizeof buf);
    GO_CHECK(w == -ECONNRESET || w == -EPIPE, "write to a reset peer: %zd", w);
    GO_CHECK(atomic_load(&sigpipes) == 0, "a socket write raised SIGPIPE");
    goc_close(c);

    int p[2];
    GO_CHECK(pipe(p) == 0, "pipe");
    close(p[0]);
    GO_CHECK(goc_write(p[1], "x", 1) == -EPIPE, "goc_write to a widowed pipe");
    GO_CHECK(atomic_load(&sigpipes) == 1, "the program's handler ran %d times",
             atomic_load(&sigpipes));
    goc_close(p[1]);
    return 0;
}

Test(tcp, program_sigpipe_handler_kept, .timeout = 10)
{
    struct sigaction sa = {.sa_handler = on_sigpipe};
    sigemptyset(&sa.sa_mask);
    cr_assert_eq(sigaction(SIGPIPE, &sa, NULL), 0);
    cr_assert_eq(run_main(main_sigpipe_handler, NULL), 0);
    struct sigaction now;
    sigaction(SIGPIPE, NULL, &now);
    cr_assert(now.sa_handler == on_sigpipe, "goc replaced the program's SIGPIPE handler");
}
