/*
 * test_dial.c — how goc_dial chooses among a name's addresses, and named
 * ports.
 *
 * A name with both IPv6 and IPv4 addresses races them (Happy Eyeballs, as
 * Go's dialParallel): the first address's family starts, the other 300 ms
 * later or at once when the first family has failed; the first connection
 * wins and the other attempt is stopped and closed. The name comes from a
 * hosts file of the test's own, given to c-ares with CARES_HOSTS (each
 * Criterion test is its own process). An address that "hangs" is a
 * listener whose backlog is full: the kernel drops further SYNs.
 *
 * Ports may be service names ("http", "domain"): /etc/services, or Go's
 * built-in table where the file is missing.
 */
#include "netutil.h"

#define NAME "goc-dual.test"

/* Point c-ares at a hosts file where NAME is ::1 and 127.0.0.1. */
static bool dual_hosts(void)
{
    static char path[64];
    snprintf(path, sizeof path, "/tmp/goc-hosts-XXXXXX");
    int fd = mkstemp(path);
    if (fd < 0)
        return false;
    const char *text = "::1 " NAME "\n127.0.0.1 " NAME "\n";
    bool ok = write(fd, text, strlen(text)) == (ssize_t)strlen(text);
    close(fd);
    return ok && setenv("CARES_HOSTS", path, 1) == 0;
}

static void dual_hosts_cleanup(void)
{
    const char *p = getenv("CARES_HOSTS");
    if (p)
        unlink(p);
}

/* How the address of one family behaves. */
enum behaviour { GOOD, HANGS, REFUSES };

typedef struct endpoint {
    int family;
    int fd;       /* listener (GOOD, HANGS) or a bound, not listening socket */
    int held[32]; /* connections that fill a HANGS backlog */
    int nheld;
} endpoint;

static int bind_plain(int family, int port)
{
    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_storage ss = {0};
    socklen_t len;
    if (family == AF_INET) {
        struct sockaddr_in *s = (struct sockaddr_in *)&ss;
        *s = (struct sockaddr_in){.sin_family = AF_INET,
                                  .sin_port = htons((uint16_t)port),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        len = sizeof *s;
    } else {
        struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;
        *s = (struct sockaddr_in6){.sin6_family = AF_INET6,
                                   .sin6_port = htons((uint16_t)port),
                                   .sin6_addr = IN6ADDR_LOOPBACK_INIT};
        len = sizeof *s;
    }
    if (fd >= 0 && bind(fd, (struct sockaddr *)&ss, len) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Set e up on port (0: any) as b says; false if it cannot be done here
 * (port taken, or the kernel will not drop SYNs). */
static bool endpoint_open(endpoint *e, int family, int port, enum behaviour b)
{
    *e = (endpoint){.family = family, .fd = -1};
    char addr[64];
    if (b == REFUSES) {
        e->fd = bind_plain(family, port);
        return e->fd >= 0;
    }
    snprintf(addr, sizeof addr, family == AF_INET ? "127.0.0.1:%d" : "[::1]:%d", port);
    goc_listen_opts o = {.backlog = b == HANGS ? 1 : 0};
    e->fd = goc_listen_with(family == AF_INET ? "tcp4" : "tcp6", addr, &o);
    if (e->fd < 0 || b == GOOD)
        return e->fd >= 0;
    dial_addr(e->fd, addr, sizeof addr);
    /* A short dial that times out only suggests the queue is full (a
     * loaded machine can be that slow); a second, longer one confirms. */
    goc_duration t = 150 * GOC_MILLISECOND;
    for (int i = 0; i < 32; i++) {
        int c = goc_dial(family == AF_INET ? "tcp4" : "tcp6", addr, t);
        if (c == -ETIMEDOUT && t > 150 * GOC_MILLISECOND)
            return true; /* full: SYNs are dropped now */
        if (c == -ETIMEDOUT) {
            t = 500 * GOC_MILLISECOND * test_slack();
            continue;
        }
        if (c < 0)
            return false;
        e->held[e->nheld++] = c;
        t = 150 * GOC_MILLISECOND;
    }
    return false; /* the kernel queued them all */
}

static void endpoint_close(endpoint *e)
{
    for (int i = 0; i < e->nheld; i++)
        goc_close(e->held[i]);
    if (e->fd >= 0)
        goc_close(e->fd);
}

typedef struct race_case {
    enum behaviour v6, v4;
    int want; /* the family that must win, or 0: the dial must fail */
    int want_err;
    int64_t max_ms; /* the dial returns within this */
    goc_duration timeout;
} race_case;

static atomic_int skipped;

/* The behaviour of the family of connected fd c. */
static enum behaviour behaviour_of(const race_case *rc, int c)
{
    return sock_family(c) == AF_INET ? rc->v4 : rc->v6;
}

/* One dial against e6/e4 set up as rc says: 0 when checked, 1 when it
 * proved nothing (the kernel let a SYN through to a full listener: it
 * does now and then, in gVisor at least; the case is tried again). */
static int dial_case(const race_case *rc, endpoint *e6, endpoint *e4)
{
    char addr[64];
    snprintf(addr, sizeof addr, NAME ":%d", sock_port(e6->fd));
    int64_t t0 = goc_now();
    int c = goc_dial("tcp", addr, rc->timeout);
    int64_t el = since_ms(t0);
    if (c >= 0 && behaviour_of(rc, c) == HANGS) {
        goc_close(c);
        return 1;
    }
    GO_CHECK(el < rc->max_ms, "v6 %d v4 %d: dial took %lld ms, want < %lld", rc->v6, rc->v4,
             (long long)el, (long long)rc->max_ms);
    if (!rc->want) {
        GO_CHECK(c == rc->want_err, "v6 %d v4 %d: dial = %d (%s), want %d", rc->v6, rc->v4, c,
                 goc_strerror(c), rc->want_err);
        if (c >= 0)
            goc_close(c);
        return 0;
    }
    GO_CHECK(c >= 0, "v6 %d v4 %d: dial: %s", rc->v6, rc->v4, goc_strerror(c));
    if (c < 0)
        return 0;
    GO_CHECK(sock_family(c) == rc->want, "connected over family %d, want %d", sock_family(c),
             rc->want);
    int s = goc_accept(rc->want == AF_INET ? e4->fd : e6->fd, NULL, NULL);
    GO_CHECK(s >= 0, "accept on the winner's listener");
    GO_CHECK(goc_write(c, "hi", 2) == 2, "write");
    char b[2];
    GO_CHECK(s < 0 || read_full(s, b, 2) == 2, "read");
    if (s >= 0)
        goc_close(s);
    goc_close(c);
    return 0;
}

/* Set up both endpoints on one port and dial; 1 if inconclusive. */
static int run_case(const race_case *rc)
{
    int fds0 = count_fds();
    endpoint e6, e4;
    bool ok = false;
    for (int attempt = 0; attempt < 10 && !ok; attempt++) {
        ok = endpoint_open(&e6, AF_INET6, 0, rc->v6);
        int port = ok ? sock_port(e6.fd) : -1;
        ok = ok && port > 0 && endpoint_open(&e4, AF_INET, port, rc->v4);
        if (!ok) {
            endpoint_close(&e6);
            if (port > 0)
                endpoint_close(&e4);
        }
    }
    if (!ok)
        return 1;
    int r = dial_case(rc, &e6, &e4);
    endpoint_close(&e6);
    endpoint_close(&e4);
    /* The losing attempt's socket is closed too. */
    GO_CHECK(go_wait_fds(fds0, 2000), "fds: %d, %d before", count_fds(), fds0);
    return r;
}

static int main_race(void *arg)
{
    const race_case *cases = arg;
    net_warmup();
    /* Does c-ares see our file? Without a fallback it takes a name
     * lookup, not a race, to find out. */
    int probe = goc_dial("tcp", NAME ":1", GOC_SECOND);
    if (probe == GOC_ENOTFOUND || probe == GOC_ETEMPFAIL) {
        atomic_store(&skipped, 1);
        return 0;
    }
    if (probe >= 0)
        goc_close(probe);
    for (const race_case *rc = cases; rc->max_ms; rc++) {
        int tries = 0;
        while (run_case(rc) != 0)
            if (++tries == 5) {
                atomic_store(&skipped, 1);
                break;
            }
    }
    return 0;
}

static void race_test(const race_case *cases)
{
    if (!have_ipv6())
        cr_skip_test("no IPv6 on the loopback");
    cr_assert(dual_hosts(), "cannot write a hosts file");
    int r = run_main(main_race, (void *)cases);
    dual_hosts_cleanup();
    cr_assert_eq(r, 0);
    if (atomic_load(&skipped))
        cr_skip_test("c-ares ignores CARES_HOSTS, or the kernel queued every SYN");
}

/* One family hangs: the other wins after the 300 ms fallback delay (or at
 * once if it came first), never after the 2.5 s a serial dial would give
 * the hanging address. Both orders, so one of them is the fallback. */
Test(dial, happy_eyeballs_hanging_family_loses, .timeout = 60)
{
    static const race_case cases[] = {
        {HANGS, GOOD, AF_INET, 0, 1200, 5 * GOC_SECOND},
        {GOOD, HANGS, AF_INET6, 0, 1200, 5 * GOC_SECOND},
        {0},
    };
    race_test(cases);
}

/* One family refuses: the other starts at once, not after 300 ms. */
Test(dial, happy_eyeballs_refused_family_falls_back_at_once, .timeout = 60)
{
    static const race_case cases[] = {
        {REFUSES, GOOD, AF_INET, 0, 250, 5 * GOC_SECOND},
        {GOOD, REFUSES, AF_INET6, 0, 250, 5 * GOC_SECOND},
        {REFUSES, REFUSES, 0, -ECONNREFUSED, 250, 5 * GOC_SECOND},
        {0},
    };
    race_test(cases);
}

/* Both hang: the dial gives up at its timeout, closing both attempts. */
Test(dial, happy_eyeballs_both_hang_until_timeout, .timeout = 60)
{
    static const race_case cases[] = {
        {HANGS, HANGS, 0, -ETIMEDOUT, 1500, 600 * GOC_MILLISECOND},
        {0},
    };
    race_test(cases);
}

/* ---- named ports --------------------------------------------------------------------------- */

static int main_ports(void *arg)
{
    (void)arg;
    /* A connected UDP socket shows the port the name stood for. */
    const char *names[] = {"127.0.0.1:domain", "127.0.0.1:DOMAIN"};
    for (int i = 0; i < 2; i++) {
        int u = goc_dial("udp4", names[i], GOC_SECOND);
        GO_CHECK(u >= 0, "dial udp4 %s: %s", names[i], goc_strerror(u));
        if (u < 0)
            continue;
        struct sockaddr_in peer;
        socklen_t len = sizeof peer;
        GO_CHECK(getpeername(u, (struct sockaddr *)&peer, &len) == 0 && ntohs(peer.sin_port) == 53,
                 "%s: peer port %d, want 53", names[i], ntohs(peer.sin_port));
        goc_close(u);
    }
    /* TCP "http" is 80: whatever answers there, it is not an address error. */
    int c = goc_dial("tcp4", "127.0.0.1:http", GOC_SECOND);
    GO_CHECK(c >= 0 || c == -ECONNREFUSED || c == -ETIMEDOUT, "dial 127.0.0.1:http: %s",
             goc_strerror(c));
    if (c >= 0)
        goc_close(c);
    /* An unknown name is its own error, with a message that says what a
     * port may be; for listen too. */
    c = goc_dial("tcp4", "127.0.0.1:no-such-service", GOC_SECOND);
    GO_CHECK(c == GOC_ENOSERVICE, "unknown service: %d (%s)", c, goc_strerror(c));
    c = goc_listen("tcp4", "127.0.0.1:no-such-service");
    GO_CHECK(c == GOC_ENOSERVICE, "listen on an unknown service: %d", c);
    const char *msg = goc_strerror(GOC_ENOSERVICE);
    GO_CHECK(strstr(msg, "port") != NULL, "strerror(GOC_ENOSERVICE) = \"%s\"", msg);
    return 0;
}

Test(dial, named_ports, .timeout = 20)
{
    cr_assert_eq(run_main(main_ports, NULL), 0);
}
