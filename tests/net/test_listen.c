/*
 * test_listen.c — goc_listen / goc_listen_with / goc_accept: ":0" on all
 * addresses (both families for "tcp"), SO_REUSEPORT sharing a port,
 * -EADDRINUSE, the peer address from accept, and accept under fd
 * exhaustion (EMFILE): the listener backs off, says so once on stderr,
 * keeps serving once fds are free, and still stops on goc_close.
 */
#include <sys/resource.h>

#include "netutil.h"

/* ---- ":0" ---------------------------------------------------------------------------- */

static void dial_and_accept(int lfd, const char *network, const char *addr)
{
    int c = goc_dial(network, addr, 2 * GOC_SECOND);
    GO_CHECK(c >= 0, "goc_dial(%s, %s): %s", network, addr, goc_strerror(c));
    if (c < 0)
        return;
    int s = goc_accept(lfd, NULL, NULL);
    GO_CHECK(s >= 0, "accept: %s", goc_strerror(s));
    GO_CHECK(goc_write(c, "ok", 2) == 2, "write");
    char b[2];
    GO_CHECK(read_full(s, b, 2) == 2 && memcmp(b, "ok", 2) == 0, "read");
    goc_close(c);
    goc_close(s);
}

static int main_any(void *arg)
{
    (void)arg;
    int lfd = goc_listen("tcp", ":0");
    GO_CHECK(lfd >= 0, "goc_listen(tcp, :0): %s", goc_strerror(lfd));
    if (lfd < 0)
        return 1;
    int port = sock_port(lfd);
    GO_CHECK(port > 0, "port %d", port);
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    dial_and_accept(lfd, "tcp4", addr);
    if (sock_family(lfd) == AF_INET6) { /* [::] takes both families */
        snprintf(addr, sizeof addr, "[::1]:%d", port);
        dial_and_accept(lfd, "tcp6", addr);
    }
    goc_close(lfd);

    lfd = goc_listen("tcp4", ":0");
    GO_CHECK(lfd >= 0 && sock_family(lfd) == AF_INET, "tcp4 :0");
    snprintf(addr, sizeof addr, "127.0.0.1:%d", sock_port(lfd));
    dial_and_accept(lfd, "tcp", addr);
    goc_close(lfd);

    if (have_ipv6()) {
        lfd = goc_listen("tcp6", ":0");
        GO_CHECK(lfd >= 0 && sock_family(lfd) == AF_INET6, "tcp6 :0");
        int v6only = 0;
        socklen_t len = sizeof v6only;
        getsockopt(lfd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &len);
        GO_CHECK(v6only, "tcp6 listener takes IPv4 too");
        snprintf(addr, sizeof addr, "[::1]:%d", sock_port(lfd));
        dial_and_accept(lfd, "tcp", addr);
        goc_close(lfd);
    }
    return 0;
}

Test(listen, any_address_port_0, .timeout = 10)
{
    cr_assert_eq(run_main(main_any, NULL), 0);
}

/* ---- SO_REUSEPORT, EADDRINUSE ------------------------------------------------------------- */

typedef struct acceptor {
    int lfd;
    atomic_long n, *total;
    atomic_int stopped;
} acceptor;

static void acceptor_fn(void *arg)
{
    acceptor *a = arg;
    for (;;) {
        int fd = goc_accept(a->lfd, NULL, NULL);
        if (fd < 0) {
            GO_CHECK(fd == -EBADF, "accept: %s", goc_strerror(fd));
            break;
        }
        atomic_fetch_add(&a->n, 1);
        atomic_fetch_add(a->total, 1);
        goc_close(fd);
    }
    atomic_store(&a->stopped, 1);
}

#define N_RP 40

static int main_reuseport(void *arg)
{
    (void)arg;
    goc_listen_opts o = {.reuseport = true};
    int l1 = goc_listen_with("tcp4", "127.0.0.1:0", &o);
    GO_CHECK(l1 >= 0, "first listener: %s", goc_strerror(l1));
    if (l1 < 0)
        return 1;
    char addr[64];
    dial_addr(l1, addr, sizeof addr);
    int l2 = goc_listen_with("tcp4", addr, &o);
    GO_CHECK(l2 >= 0, "second SO_REUSEPORT listener on %s: %s", addr, goc_strerror(l2));
    if (l2 < 0)
        return 1;
    GO_CHECK(sock_port(l1) == sock_port(l2), "ports differ");
    /* Without the option the port is taken. */
    int l3 = goc_listen("tcp4", addr);
    GO_CHECK(l3 == -EADDRINUSE, "plain listen on a shared port: %d (%s)", l3, goc_strerror(l3));

    atomic_long total = 0;
    acceptor a1 = {.lfd = l1, .total = &total}, a2 = {.lfd = l2, .total = &total};
    GO_SPAWN(acceptor_fn, &a1);
    GO_SPAWN(acceptor_fn, &a2);
    for (int i = 0; i < N_RP; i++) {
        int c = goc_dial("tcp4", addr, 2 * GOC_SECOND);
        GO_CHECK(c >= 0, "dial %d: %s", i, goc_strerror(c));
        goc_close(c);
    }
    GO_CHECK(go_wait_ge(&total, N_RP, 5000), "accepted %ld of %d", atomic_load(&total), N_RP);
    /* The kernel spreads connections over the group by a hash of the
     * addresses: with 40 source ports both get some. */
    GO_CHECK(atomic_load(&a1.n) > 0 && atomic_load(&a2.n) > 0, "split %ld / %ld",
             atomic_load(&a1.n), atomic_load(&a2.n));
    goc_close(l1);
    goc_close(l2);
    for (int i = 0; i < 2000 && !(atomic_load(&a1.stopped) && atomic_load(&a2.stopped)); i++)
        goc_sleep(GOC_MILLISECOND);
    GO_CHECK(atomic_load(&a1.stopped) && atomic_load(&a2.stopped), "acceptors did not stop");
    return 0;
}

Test(listen, reuseport_shares_a_port, .timeout = 15)
{
    cr_assert_eq(run_main(main_reuseport, NULL), 0);
}

static int main_inuse(void *arg)
{
    (void)arg;
    net_warmup();
    int fds0 = count_fds();
    int l1 = goc_listen("tcp4", "127.0.0.1:0");
    GO_CHECK(l1 >= 0, "listen");
    char addr[64];
    dial_addr(l1, addr, sizeof addr);
    int r = goc_listen("tcp4", addr);
    GO_CHECK(r == -EADDRINUSE, "second listen on %s: %d (%s)", addr, r, goc_strerror(r));
    goc_listen_opts o = {.reuseport = true};
    r = goc_listen_with("tcp4", addr, &o);
    GO_CHECK(r == -EADDRINUSE, "SO_REUSEPORT listen on a plain listener's port: %d", r);
    goc_close(l1);

    char path[128];
    unix_path(path, sizeof path, "inuse.sock");
    l1 = goc_listen("unix", path);
    GO_CHECK(l1 >= 0, "unix listen: %s", goc_strerror(l1));
    r = goc_listen("unix", path);
    GO_CHECK(r == -EADDRINUSE, "second unix listen: %d (%s)", r, goc_strerror(r));
    goc_close(l1);
    /* The failed attempts closed their sockets. */
    GO_CHECK(go_wait_fds(fds0, 2000), "fds: %d, %d before", count_fds(), fds0);
    return 0;
}

Test(listen, address_in_use, .timeout = 10)
{
    int r = run_main(main_inuse, NULL);
    tmpdir_cleanup();
    cr_assert_eq(r, 0);
}

/* ---- accept's peer address ------------------------------------------------------------------ */

static int main_peer(void *arg)
{
    (void)arg;
    int lfd = goc_listen("tcp4", "127.0.0.1:0");
    char addr[64];
    dial_addr(lfd, addr, sizeof addr);
    int c = goc_dial("tcp4", addr, GOC_SECOND);
    GO_CHECK(c >= 0, "dial");
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    int s = goc_accept(lfd, (struct sockaddr *)&ss, &len);
    GO_CHECK(s >= 0, "accept");
    GO_CHECK(len == sizeof(struct sockaddr_in) && ss.ss_family == AF_INET, "addrlen %u family %d",
             (unsigned)len, ss.ss_family);
    GO_CHECK(((struct sockaddr_in *)&ss)->sin_port == htons((uint16_t)sock_port(c)),
             "peer port is not the dialer's");
    goc_close(c);
    goc_close(s);
    goc_close(lfd);
    return 0;
}

Test(listen, accept_returns_peer_address, .timeout = 10)
{
    cr_assert_eq(run_main(main_peer, NULL), 0);
}

/* ---- EMFILE ---------------------------------------------------------------------------------- */

#define MAX_DUMMY 256

typedef struct emfile {
    int lfd;
    atomic_long accepted;
    atomic_int fds[8];
    atomic_int stopped;
    int last;
} emfile;

static void emfile_acceptor(void *arg)
{
    emfile *e = arg;
    for (;;) {
        int fd = goc_accept(e->lfd, NULL, NULL);
        if (fd < 0) {
            e->last = fd;
            break;
        }
        long k = atomic_fetch_add(&e->accepted, 1);
        if (k < 8)
            atomic_store(&e->fds[k], fd);
        else
            goc_close(fd);
    }
    atomic_store(&e->stopped, 1);
}

static int dummies[MAX_DUMMY], ndummy;

/* Open fds until the limit is hit. */
static void exhaust(void)
{
    while (ndummy < MAX_DUMMY) {
        int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            GO_CHECK(errno == EMFILE, "open: %s", strerror(errno));
            return;
        }
        dummies[ndummy++] = fd;
    }
    GO_CHECK(false, "the fd limit was not reached");
}

static void release_dummies(int n)
{
    while (n-- > 0 && ndummy > 0)
        close(dummies[--ndummy]);
}

/* A client socket made while fds are free, connected later with a plain
 * blocking connect, which needs no new fd: with every fd in use the
 * kernel still completes a loopback connection into the backlog, and only
 * accept fails. (A dialer that needs "the one fd left free" could lose
 * it to anything else in the process, a sanitizer's runtime for one.) */
static int presocket(void)
{
    return socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
}

static int connect_to(int s, int lfd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(lfd, (struct sockaddr *)&ss, &len) != 0)
        return -errno;
    return connect(s, (struct sockaddr *)&ss, len) == 0 ? 0 : -errno;
}

static int main_emfile(void *arg)
{
    (void)arg;
    emfile e = {0};
    e.lfd = goc_listen("tcp4", "127.0.0.1:0");
    GO_CHECK(e.lfd >= 0, "listen");
    int c1 = presocket(), c2 = presocket();
    GO_CHECK(c1 >= 0 && c2 >= 0, "socket");
    GO_SPAWN(emfile_acceptor, &e);
    goc_sleep(5 * GOC_MILLISECOND);

    /* Out of fds: a connection comes, accept cannot take it. */
    exhaust();
    int rc = connect_to(c1, e.lfd);
    GO_CHECK(rc == 0, "connect with no fd free: %s", goc_strerror(rc));
    goc_sleep(60 * GOC_MILLISECOND);
    GO_CHECK(atomic_load(&e.accepted) == 0, "accepted without a free fd?");
    GO_CHECK(!atomic_load(&e.stopped), "the acceptor gave up: %s", goc_strerror(e.last));

    /* Fds come back: the queued connection is accepted (the backoff is
     * at most ~160 ms by now) and works. */
    release_dummies(8);
    int64_t t0 = goc_now();
    GO_CHECK(go_wait_ge(&e.accepted, 1, 2000), "not accepted after fds were freed");
    GO_CHECK(since_ms(t0) <= late_ms(300), "accepted %lld ms after fds were freed",
             (long long)since_ms(t0));
    int s1 = atomic_load(&e.fds[0]);
    GO_CHECK(goc_write(c1, "alive", 5) == 5, "write");
    char b[5];
    GO_CHECK(read_full(s1, b, 5) == 5 && memcmp(b, "alive", 5) == 0, "read on the accepted fd");

    /* And once more: it backs off again (without a second message), and
     * goc_close stops it while it waits to retry. */
    exhaust();
    rc = connect_to(c2, e.lfd);
    GO_CHECK(rc == 0, "second connect: %s", goc_strerror(rc));
    goc_sleep(40 * GOC_MILLISECOND);
    GO_CHECK(atomic_load(&e.accepted) == 1, "accepted %ld", atomic_load(&e.accepted));
    t0 = goc_now();
    GO_CHECK(goc_close(e.lfd) == 0, "close the listener");
    for (int i = 0; i < 3000 && !atomic_load(&e.stopped); i++)
        goc_sleep(GOC_MILLISECOND);
    GO_CHECK(atomic_load(&e.stopped), "the acceptor did not stop on goc_close while backing off");
    GO_CHECK(e.last == -EBADF, "acceptor ended with %d (%s)", e.last, goc_strerror(e.last));
    GO_CHECK(since_ms(t0) <= late_ms(1000), "stopped %lld ms after goc_close",
             (long long)since_ms(t0));
    release_dummies(MAX_DUMMY);
    goc_close(c1);
    goc_close(c2);
    goc_close(s1);
    return 0;
}

/* Lower RLIMIT_NOFILE (a process limit) so accept hits EMFILE. stderr is
 * captured to check the message. */
Test(listen, accept_backs_off_on_emfile, .timeout = 20)
{
    char path[128];
    int cap = open(unix_path(path, sizeof path, "stderr"), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    cr_assert(cap >= 0);
    fflush(stderr);
    int saved = dup(2);
    dup2(cap, 2);
    struct rlimit old;
    getrlimit(RLIMIT_NOFILE, &old);
    /* Room for what is open now plus the test's own fds, well under
     * MAX_DUMMY more. */
    int hi = 0;
    for (int fd = 0; fd < 1024; fd++)
        if (fd_is_open(fd))
            hi = fd;
    struct rlimit low = {.rlim_cur = (rlim_t)hi + 64, .rlim_max = old.rlim_max};
    if (low.rlim_cur > old.rlim_cur)
        low.rlim_cur = old.rlim_cur;
    cr_assert_eq(setrlimit(RLIMIT_NOFILE, &low), 0);

    int r = run_main(main_emfile, NULL);

    setrlimit(RLIMIT_NOFILE, &old);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    char buf[4096] = {0};
    ssize_t n = pread(cap, buf, sizeof buf - 1, 0);
    close(cap);
    tmpdir_cleanup();
    cr_assert_eq(r, 0);
    cr_assert(n > 0, "nothing on stderr");
    int count = 0;
    for (char *p = buf; (p = strstr(p, "goc: accept:")) != NULL; p++)
        count++;
    cr_assert_eq(count, 1, "the message appeared %d times: %s", count, buf);
    cr_assert(strstr(buf, "Too many open files") || strstr(buf, "EMFILE"),
              "message does not name the error: %s", buf);
}
