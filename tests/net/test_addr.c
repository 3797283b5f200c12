/*
 * test_addr.c — goc_dial: addresses as Go's net package spells them
 * (malformed ones are -EINVAL, for goc_listen too), unknown networks,
 * connection refused, dial timeout, names that do not resolve, localhost
 * through /etc/hosts, ":port", unix paths (and the abstract namespace),
 * the options a dialed fd comes with, and goc_strerror's messages for
 * these errors.
 */
#include "netutil.h"

/* ---- malformed ------------------------------------------------------------------------ */

static const struct {
    const char *network, *address;
} bad[] = {
    {"tcp", "localhost:"},    /* no port */
    {"tcp", "[::1"},          /* unclosed bracket */
    {"tcp", "[::1]80"},       /* no colon after the bracket */
    {"tcp", "host:99999"},    /* port out of range */
    {"tcp", "host:65536"},    /* just out of range */
    {"tcp", "host:123456"},   /* too long */
    {"tcp", "host:-1"},       /* sign */
    {"tcp", "host:8a"},       /* not a number */
    {"tcp", "host:ht tp"},    /* a port name has no spaces */
    {"tcp", "::1:80"},        /* IPv6 without brackets */
    {"tcp", "1.2.3.4"},       /* no port at all */
    {"tcp", ""},              /* empty */
    {"tcp", "a]b:80"},        /* stray bracket */
    {"tcp4", "[::1]:80"},     /* IPv6 address on tcp4 */
    {"tcp6", "127.0.0.1:80"}, /* IPv4 address on tcp6 */
    {"tcpx", "127.0.0.1:80"}, /* unknown network */
    {"TCP", "127.0.0.1:80"},  /* networks are lower case */
    {"", "127.0.0.1:80"},     /* empty network */
    {"ip", "127.0.0.1:80"},   /* not supported */
    {"unix", ""},             /* empty path */
};

static int main_malformed(void *arg)
{
    (void)arg;
    net_warmup();
    int fds0 = count_fds();
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int r = goc_dial(bad[i].network, bad[i].address, GOC_SECOND);
        GO_CHECK(r == -EINVAL, "goc_dial(\"%s\", \"%s\") = %d (%s), want -EINVAL", bad[i].network,
                 bad[i].address, r, goc_strerror(r));
        if (r >= 0)
            goc_close(r);
        r = goc_listen(bad[i].network, bad[i].address);
        GO_CHECK(r == -EINVAL, "goc_listen(\"%s\", \"%s\") = %d (%s), want -EINVAL", bad[i].network,
                 bad[i].address, r, goc_strerror(r));
        if (r >= 0)
            goc_close(r);
    }
    GO_CHECK(goc_dial(NULL, "127.0.0.1:80", GOC_SECOND) == -EINVAL, "NULL network");
    GO_CHECK(goc_dial("tcp", NULL, GOC_SECOND) == -EINVAL, "NULL address");
    GO_CHECK(goc_listen(NULL, ":0") == -EINVAL, "listen NULL network");
    GO_CHECK(goc_listen("tcp", NULL) == -EINVAL, "listen NULL address");
    /* A unix path longer than sun_path. */
    char longpath[200];
    memset(longpath, 'a', sizeof longpath - 1);
    longpath[sizeof longpath - 1] = '\0';
    GO_CHECK(goc_dial("unix", longpath, GOC_SECOND) == -EINVAL, "long unix path");
    GO_CHECK(goc_listen("unix", longpath) == -EINVAL, "listen long unix path");
    GO_CHECK(count_fds() == fds0, "failed calls leaked fds: %d, %d before", count_fds(), fds0);
    return 0;
}

Test(addr, malformed_addresses_are_einval, .timeout = 10)
{
    cr_assert_eq(run_main(main_malformed, NULL), 0);
}

/* ---- refused, timeout ---------------------------------------------------------------------- */

static int main_refused(void *arg)
{
    (void)arg;
    net_warmup();
    int fds0 = count_fds();
    /* A bound socket that does not listen holds the port: nobody else can
     * take it while we dial it, and the kernel refuses connections. */
    int b = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    GO_CHECK(bind(b, (struct sockaddr *)&sin, sizeof sin) == 0, "bind");
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", sock_port(b));
    int64_t t0 = goc_now();
    int r = goc_dial("tcp4", addr, GOC_SECOND);
    GO_CHECK(r == -ECONNREFUSED, "dial %s: %d (%s)", addr, r, goc_strerror(r));
    GO_CHECK(since_ms(t0) < late_ms(0), "refusal took %lld ms", (long long)since_ms(t0));
    r = goc_dial("tcp4", addr, 0); /* no timeout */
    GO_CHECK(r == -ECONNREFUSED, "dial without timeout: %d", r);
    const char *msg = goc_strerror(-ECONNREFUSED);
    GO_CHECK(strstr(msg, "refused") != NULL, "strerror(-ECONNREFUSED) = \"%s\"", msg);
    close(b);

    /* A unix path with nothing there, and a file that is not a socket. */
    char path[128];
    r = goc_dial("unix", unix_path(path, sizeof path, "nobody"), GOC_SECOND);
    GO_CHECK(r == -ENOENT, "dial a missing unix path: %d (%s)", r, goc_strerror(r));
    int f = open(unix_path(path, sizeof path, "plainfile"), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    close(f);
    r = goc_dial("unix", path, GOC_SECOND);
    GO_CHECK(r == -ECONNREFUSED, "dial a file that is not a socket: %d (%s)", r, goc_strerror(r));
    GO_CHECK(count_fds() == fds0, "failed dials leaked fds: %d, %d before", count_fds(), fds0);
    return 0;
}

Test(addr, connection_refused, .timeout = 10)
{
    int r = run_main(main_refused, NULL);
    tmpdir_cleanup();
    cr_assert_eq(r, 0);
}

static atomic_int timeout_skipped;

static int main_dial_timeout(void *arg)
{
    (void)arg;
    net_warmup();
    int fds0 = count_fds();
    /* A listener that never accepts, with the smallest backlog: once its
     * queue is full the kernel drops new SYNs and a dial hangs (the client
     * would retransmit after a second). */
    goc_listen_opts o = {.backlog = 1};
    int lfd = goc_listen_with("tcp4", "127.0.0.1:0", &o);
    GO_CHECK(lfd >= 0, "listen: %s", goc_strerror(lfd));
    char addr[64];
    dial_addr(lfd, addr, sizeof addr);
    int held[32], nheld = 0, r = 0;
    int64_t el = 0;
    for (int i = 0; i < 32; i++) {
        int64_t t0 = goc_now();
        r = goc_dial("tcp4", addr, 150 * GOC_MILLISECOND);
        el = since_ms(t0);
        if (r < 0)
            break;
        held[nheld++] = r;
    }
    if (r >= 0) {
        atomic_store(&timeout_skipped, 1); /* the kernel queued them all */
    } else {
        GO_CHECK(r == -ETIMEDOUT, "dial to a full backlog: %d (%s)", r, goc_strerror(r));
        GO_CHECK(el >= 150 && el <= late_ms(150), "timed out after %lld ms, want ~150",
                 (long long)el);
        const char *msg = goc_strerror(r);
        GO_CHECK(strstr(msg, "timed out") != NULL, "strerror(-ETIMEDOUT) = \"%s\"", msg);
    }
    for (int i = 0; i < nheld; i++)
        goc_close(held[i]);
    goc_close(lfd);
    GO_CHECK(go_wait_fds(fds0, 2000), "fds: %d, %d before", count_fds(), fds0);
    return 0;
}

Test(addr, dial_timeout_full_backlog, .timeout = 15)
{
    cr_assert_eq(run_main(main_dial_timeout, NULL), 0);
    if (atomic_load(&timeout_skipped))
        cr_skip_test("the kernel accepted every connection: no dial could time out");
}

/* ---- names -------------------------------------------------------------------------------------
 */

static int main_names(void *arg)
{
    (void)arg;
    /* A name under .invalid never resolves (RFC 6761). Without a working
     * resolver c-ares may say "temporary failure" instead: either, but
     * never a connection. */
    int64_t t0 = goc_now();
    int r = goc_dial("tcp", "nonexistent.invalid:80", 5 * GOC_SECOND);
    GO_CHECK(r == GOC_ENOTFOUND || r == GOC_ETEMPFAIL, "nonexistent.invalid: %d (%s)", r,
             goc_strerror(r));
    if (r >= 0)
        goc_close(r);
    GO_CHECK(since_ms(t0) < 15000, "resolution took %lld ms", (long long)since_ms(t0));
    r = goc_listen("tcp", "nonexistent.invalid:0");
    GO_CHECK(r == GOC_ENOTFOUND || r == GOC_ETEMPFAIL, "listen nonexistent.invalid: %d", r);
    GO_CHECK(strncmp(goc_errmsg(), "listen tcp: lookup nonexistent.invalid: ", 40) == 0,
             "goc_errmsg() = \"%s\"", goc_errmsg());

    const char *m1 = goc_strerror(GOC_ENOTFOUND), *m2 = goc_strerror(GOC_ETEMPFAIL);
    GO_CHECK(strstr(m1, "no such host") != NULL, "strerror(GOC_ENOTFOUND) = \"%s\"", m1);
    GO_CHECK(strstr(m2, "temporary") != NULL, "strerror(GOC_ETEMPFAIL) = \"%s\"", m2);
    const char *m4 = goc_strerror(-EBADF);
    GO_CHECK(strstr(m4, "closed") != NULL, "strerror(-EBADF) = \"%s\"", m4);
    const char *m5 = goc_strerror(-ECONNRESET);
    GO_CHECK(strstr(m5, "reset") != NULL, "strerror(-ECONNRESET) = \"%s\"", m5);
    return 0;
}

Test(addr, unresolvable_name_and_messages, .timeout = 30)
{
    cr_assert_eq(run_main(main_names, NULL), 0);
}

static int main_localhost(void *arg)
{
    (void)arg;
    int lfd = goc_listen("tcp4", "127.0.0.1:0");
    GO_CHECK(lfd >= 0, "listen");
    int port = sock_port(lfd);
    char addr[64];
    /* "localhost" resolves through /etc/hosts; it may give ::1 first,
     * where nobody listens: every address is tried. */
    const char *nets[] = {"tcp", "tcp4"};
    for (int i = 0; i < 2; i++) {
        snprintf(addr, sizeof addr, "localhost:%d", port);
        int c = goc_dial(nets[i], addr, 2 * GOC_SECOND);
        GO_CHECK(c >= 0, "goc_dial(%s, %s): %s", nets[i], addr, goc_strerror(c));
        if (c < 0)
            continue;
        struct sockaddr_in peer;
        socklen_t len = sizeof peer;
        int s = goc_accept(lfd, (struct sockaddr *)&peer, &len);
        GO_CHECK(s >= 0, "accept");
        GO_CHECK(peer.sin_family == AF_INET && peer.sin_addr.s_addr == htonl(INADDR_LOOPBACK),
                 "peer is not 127.0.0.1");
        GO_CHECK(goc_write(c, "hi", 2) == 2, "write");
        char b[2];
        GO_CHECK(read_full(s, b, 2) == 2, "read");
        goc_close(c);
        goc_close(s);
    }
    /* ":port" dials the loopback, as in Go. */
    snprintf(addr, sizeof addr, ":%d", port);
    int c = goc_dial("tcp", addr, 2 * GOC_SECOND);
    GO_CHECK(c >= 0, "goc_dial(tcp, %s): %s", addr, goc_strerror(c));
    int s = goc_accept(lfd, NULL, NULL);
    GO_CHECK(s >= 0, "accept");
    goc_close(c);
    goc_close(s);
    /* "127.0.0.1:port" with network "tcp". */
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    c = goc_dial("tcp", addr, 2 * GOC_SECOND);
    GO_CHECK(c >= 0, "goc_dial(tcp, %s): %s", addr, goc_strerror(c));
    s = goc_accept(lfd, NULL, NULL);
    goc_close(c);
    goc_close(s);
    goc_close(lfd);
    return 0;
}

Test(addr, localhost_and_empty_host, .timeout = 15)
{
    cr_assert_eq(run_main(main_localhost, NULL), 0);
}

static int main_ipv6(void *arg)
{
    (void)arg;
    int lfd = goc_listen("tcp6", "[::1]:0");
    GO_CHECK(lfd >= 0, "listen: %s", goc_strerror(lfd));
    GO_CHECK(sock_family(lfd) == AF_INET6, "family");
    char addr[64];
    snprintf(addr, sizeof addr, "[::1]:%d", sock_port(lfd));
    const char *nets[] = {"tcp", "tcp6"};
    for (int i = 0; i < 2; i++) {
        int c = goc_dial(nets[i], addr, 2 * GOC_SECOND);
        GO_CHECK(c >= 0, "goc_dial(%s, %s): %s", nets[i], addr, goc_strerror(c));
        struct sockaddr_in6 peer;
        socklen_t len = sizeof peer;
        int s = goc_accept(lfd, (struct sockaddr *)&peer, &len);
        GO_CHECK(s >= 0 && peer.sin6_family == AF_INET6 &&
                     memcmp(&peer.sin6_addr, &in6addr_loopback, sizeof peer.sin6_addr) == 0,
                 "peer is not ::1");
        goc_close(c);
        goc_close(s);
    }
    goc_close(lfd);
    return 0;
}

Test(addr, ipv6_literal, .timeout = 10)
{
    if (!have_ipv6())
        cr_skip_test("no IPv6 on the loopback");
    cr_assert_eq(run_main(main_ipv6, NULL), 0);
}

/* ---- unix, abstract ------------------------------------------------------------------------- */

static int main_abstract(void *arg)
{
    (void)arg;
    char name[64];
    snprintf(name, sizeof name, "@goc-test-%d-%lld", (int)getpid(), (long long)goc_now());
    int lfd = goc_listen("unix", name);
    GO_CHECK(lfd >= 0, "listen %s: %s", name, goc_strerror(lfd));
    int c = goc_dial("unix", name, GOC_SECOND);
    GO_CHECK(c >= 0, "dial %s: %s", name, goc_strerror(c));
    int s = goc_accept(lfd, NULL, NULL);
    GO_CHECK(s >= 0, "accept");
    GO_CHECK(goc_write(c, "abs", 3) == 3, "write");
    char b[3];
    GO_CHECK(read_full(s, b, 3) == 3 && memcmp(b, "abs", 3) == 0, "read");
    /* Nothing was created in the file system. */
    struct stat st;
    GO_CHECK(stat(name, &st) != 0, "a file named %s exists", name);
    GO_CHECK(goc_listen("unix", name) == -EADDRINUSE, "second listen on %s", name);
    goc_close(c);
    goc_close(s);
    goc_close(lfd);
    return 0;
}

Test(addr, unix_abstract_namespace, .timeout = 10)
{
    cr_assert_eq(run_main(main_abstract, NULL), 0);
}

/* ---- what a dialed and an accepted fd come with ---------------------------------------------- */

static int main_fd_options(void *arg)
{
    (void)arg;
    int c, s;
    int rc = net_pair("tcp4", &c, &s);
    GO_CHECK(rc == 0, "pair");
    if (rc)
        return 1;
    int fds[2] = {c, s};
    for (int i = 0; i < 2; i++) {
        int fl = fcntl(fds[i], F_GETFL), fdfl = fcntl(fds[i], F_GETFD);
        GO_CHECK(fl & O_NONBLOCK, "%s fd is blocking", i ? "accepted" : "dialed");
        GO_CHECK(fdfl & FD_CLOEXEC, "%s fd is not close-on-exec", i ? "accepted" : "dialed");
    }
    int v = 0;
    socklen_t len = sizeof v;
    getsockopt(c, IPPROTO_TCP, TCP_NODELAY, &v, &len);
    GO_CHECK(v != 0, "dialed fd without TCP_NODELAY");
    goc_close(c);
    goc_close(s);

    /* A plain blocking fd becomes nonblocking at goc's first use. */
    int p[2];
    GO_CHECK(pipe(p) == 0, "pipe");
    GO_CHECK(!(fcntl(p[0], F_GETFL) & O_NONBLOCK), "pipe starts nonblocking?");
    GO_CHECK(goc_wait_fd(p[0], GOC_READ, 0) == -ETIMEDOUT, "wait");
    GO_CHECK(fcntl(p[0], F_GETFL) & O_NONBLOCK, "goc did not set O_NONBLOCK");
    goc_close(p[0]);
    goc_close(p[1]);
    return 0;
}

Test(addr, dialed_and_accepted_fd_options, .timeout = 10)
{
    cr_assert_eq(run_main(main_fd_options, NULL), 0);
}
