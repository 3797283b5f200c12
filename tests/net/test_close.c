/*
 * test_close.c — goc_close: a goroutine blocked in goc_read, goc_write,
 * goc_accept or goc_wait_fd on the fd returns -EBADF promptly; later
 * calls get -EBADF; the fd number stays open until the woken call has
 * returned, then is closed; a reused number starts clean (no old deadline
 * or readiness); closing from a plain thread; double and concurrent
 * closes; fds goc never used.
 */
#include "netutil.h"

/* Checks for bugs this suite found, fixed since; GOC_TEST_KNOWN_BUGS=0
 * turns them back into notes. */
static bool known_bugs(void)
{
    const char *e = getenv("GOC_TEST_KNOWN_BUGS");
    return !e || e[0] != '0';
}

static atomic_long spurious; /* goc_wait_fd returns with nothing to read */

typedef enum { OP_READ, OP_WRITE, OP_ACCEPT, OP_WAITFD, OP_READV } op_kind;

typedef struct blocked {
    int fd;
    op_kind op;
    atomic_long started, returned;
    ssize_t result;
    int64_t at;  /* goc_now() when it returned */
    char *wbuf;  /* OP_WRITE: what it writes, made before it starts */
    size_t wlen; /* more than the socket buffers hold: it waits */
} blocked;

/* An OP_WRITE's data, made before the goroutine starts: a 32 MiB calloc in
 * the goroutine takes long enough under TSan for sysmon to hand the P on
 * before the call is made. */
static void blocked_alloc(blocked *b)
{
    b->wlen = 32 << 20;
    b->wbuf = calloc(1, b->wlen);
    GO_CHECK(b->wbuf != NULL, "calloc");
}

static void blocked_fn(void *arg)
{
    blocked *b = arg;
    atomic_store(&b->started, 1);
    ssize_t r = 0;
    switch (b->op) {
    case OP_READ: {
        char buf[64];
        r = goc_read(b->fd, buf, sizeof buf);
        break;
    }
    case OP_READV: {
        char buf[64];
        struct iovec iov = {buf, sizeof buf};
        r = goc_readv(b->fd, &iov, 1);
        break;
    }
    case OP_WRITE:
        r = goc_write(b->fd, b->wbuf, b->wlen);
        break;
    case OP_ACCEPT:
        r = goc_accept(b->fd, NULL, NULL);
        break;
    case OP_WAITFD:
        /* goc_wait_fd may return GOC_READ for a stale edge (see
         * test_waitfd.c, known bug): wait again while nothing is there. */
        for (;;) {
            r = goc_wait_fd(b->fd, GOC_READ, GOC_FOREVER);
            char c;
            if (r != GOC_READ || recv(b->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) >= 0 ||
                errno != EAGAIN)
                break;
            atomic_fetch_add(&spurious, 1);
        }
        break;
    }
    b->result = r;
    b->at = goc_now();
    atomic_store(&b->returned, 1);
}

static const char *op_name(op_kind op)
{
    static const char *names[] = {"goc_read", "goc_write", "goc_accept", "goc_wait_fd",
                                  "goc_readv"};
    return names[op];
}

/* The fd of a blocked call for op, and its peer to close after (or -1). */
static int fd_for(op_kind op, int *peer)
{
    int c, s, rc;
    *peer = -1;
    switch (op) {
    case OP_ACCEPT: {
        int lfd = goc_listen("tcp4", "127.0.0.1:0");
        GO_CHECK(lfd >= 0, "listen: %s", goc_strerror(lfd));
        return lfd;
    }
    case OP_WAITFD: {
        int p[2];
        GO_CHECK(pipe(p) == 0, "pipe");
        *peer = p[1];
        return p[0];
    }
    case OP_WRITE:
        rc = small_buf_pair(&c, &s);
        break;
    default:
        rc = net_pair("tcp4", &c, &s);
        break;
    }
    GO_CHECK(rc == 0, "pair: %s", goc_strerror(rc));
    *peer = s;
    return c;
}

static int main_close_wakes(void *arg)
{
    op_kind op = (op_kind)(intptr_t)arg;
    int peer;
    blocked b = {.op = op};
    b.fd = fd_for(op, &peer);
    if (b.fd < 0)
        return 1;
    if (op == OP_WRITE)
        blocked_alloc(&b);
    goc_stats st0, st1;
    goc_read_stats(&st0);
    GO_SPAWN(blocked_fn, &b);
    GO_CHECK(go_wait_ge(&b.started, 1, 5000), "never started");
    goc_sleep(30 * GOC_MILLISECOND); /* it is parked by now */
    GO_CHECK(!atomic_load(&b.returned), "%s returned early: %zd", op_name(op), b.result);

    int64_t t0 = goc_now();
    GO_CHECK(goc_close(b.fd) == 0, "goc_close");
    bool open_after_close = fd_is_open(b.fd);
    goc_read_stats(&st1);
    /* One worker: main ran again only once the call had parked, and the
     * woken call has not run yet, so the fd must still be open (its number
     * cannot be reused under the call). That holds unless sysmon retook
     * the only P meanwhile (a goroutine that does not enter the runtime
     * for 10 ms, as one may on a loaded machine) and handed it to another
     * thread: then main may have closed before the call began, or the
     * woken call may have run to its end. */
    if (goc_maxprocs() == 1 && st1.retakes == st0.retakes)
        GO_CHECK(open_after_close, "fd closed while %s was still using it", op_name(op));
    GO_CHECK(go_wait_ge(&b.returned, 1, 2000), "%s still blocked after goc_close", op_name(op));
    GO_CHECK(b.result == -EBADF, "%s returned %zd (%s), want -EBADF", op_name(op), b.result,
             goc_strerror((int)b.result));
    GO_CHECK((b.at - t0) / GOC_MILLISECOND <= late_ms(0), "%s woke %lld ms after the close",
             op_name(op), (long long)((b.at - t0) / GOC_MILLISECOND));
    /* The call has returned: the fd is closed now. */
    GO_CHECK(!fd_is_open(b.fd), "fd %d still open after %s returned", b.fd, op_name(op));

    /* Every later call: -EBADF. */
    char buf[4];
    GO_CHECK(goc_read(b.fd, buf, sizeof buf) == -EBADF, "read after close");
    GO_CHECK(goc_write(b.fd, buf, sizeof buf) == -EBADF, "write after close");
    GO_CHECK(goc_accept(b.fd, NULL, NULL) == -EBADF, "accept after close");
    GO_CHECK(goc_wait_fd(b.fd, GOC_READ, 0) == -EBADF, "wait_fd after close");
    GO_CHECK(goc_set_deadline(b.fd, 0) == -EBADF, "set_deadline after close");
    GO_CHECK(goc_close(b.fd) == -EBADF, "second goc_close");
    if (peer >= 0)
        goc_close(peer);
    free(b.wbuf);
    return 0;
}

Test(close, wakes_read, .timeout = 10)
{
    cr_assert_eq(run_main(main_close_wakes, (void *)(intptr_t)OP_READ), 0);
}

Test(close, wakes_readv, .timeout = 10)
{
    cr_assert_eq(run_main(main_close_wakes, (void *)(intptr_t)OP_READV), 0);
}

Test(close, wakes_write_on_full_buffer, .timeout = 10)
{
    cr_assert_eq(run_main(main_close_wakes, (void *)(intptr_t)OP_WRITE), 0);
}

Test(close, wakes_accept, .timeout = 10)
{
    cr_assert_eq(run_main(main_close_wakes, (void *)(intptr_t)OP_ACCEPT), 0);
}

Test(close, wakes_wait_fd, .timeout = 10)
{
    cr_assert_eq(run_main(main_close_wakes, (void *)(intptr_t)OP_WAITFD), 0);
}

/* A reader and a writer blocked on one fd: both woken. */
static int main_close_both(void *arg)
{
    (void)arg;
    int c, s;
    int rc = small_buf_pair(&c, &s);
    GO_CHECK(rc == 0, "pair");
    if (rc)
        return 1;
    blocked r = {.fd = c, .op = OP_READ}, w = {.fd = c, .op = OP_WRITE};
    blocked_alloc(&w);
    GO_SPAWN(blocked_fn, &r);
    GO_SPAWN(blocked_fn, &w);
    goc_sleep(50 * GOC_MILLISECOND);
    GO_CHECK(!atomic_load(&r.returned) && !atomic_load(&w.returned), "returned early");
    GO_CHECK(goc_close(c) == 0, "close");
    GO_CHECK(go_wait_ge(&r.returned, 1, 2000), "reader still blocked");
    GO_CHECK(go_wait_ge(&w.returned, 1, 2000), "writer still blocked");
    GO_CHECK(r.result == -EBADF && w.result == -EBADF, "read %zd, write %zd", r.result, w.result);
    GO_CHECK(!fd_is_open(c), "fd still open");
    goc_close(s);
    free(w.wbuf);
    return 0;
}

Test(close, wakes_reader_and_writer, .timeout = 10)
{
    cr_assert_eq(run_main(main_close_both, NULL), 0);
}

/* ---- from a plain thread ---------------------------------------------------------- */

static void *closer_thread(void *arg)
{
    blocked *b = arg;
    test_nap_ms(30);
    long r = goc_close(b->fd);
    return (void *)r;
}

static int main_close_from_thread(void *arg)
{
    (void)arg;
    int c, s;
    if (net_pair("tcp4", &c, &s))
        return 1;
    blocked b = {.fd = c, .op = OP_READ};
    pthread_t t = start_thread(closer_thread, &b);
    blocked_fn(&b); /* here: read until the thread closes */
    void *res;
    pthread_join(t, &res);
    GO_CHECK(res == NULL, "goc_close from a thread: %ld", (long)res);
    GO_CHECK(b.result == -EBADF, "read: %zd", b.result);
    GO_CHECK(!fd_is_open(c), "fd still open");
    goc_close(s);
    return 0;
}

Test(close, from_plain_thread, .timeout = 10)
{
    cr_assert_eq(run_main(main_close_from_thread, NULL), 0);
}

/* ---- double, concurrent, and untouched fds ------------------------------------------ */

typedef struct racer {
    int fd;
    atomic_long *go, *done;
    int result;
} racer;

static void racer_fn(void *arg)
{
    racer *r = arg;
    while (!atomic_load(r->go))
        goc_yield();
    r->result = goc_close(r->fd);
    atomic_fetch_add(r->done, 1);
}

static atomic_long double_ok; /* rounds where two closes returned 0 */

static int main_close_races(void *arg)
{
    (void)arg;
    int rounds = (int)test_scale(200);
    for (int k = 0; k < rounds; k++) {
        int c, s;
        if (net_pair("tcp4", &c, &s))
            return 1;
        blocked b = {.fd = c, .op = OP_READ};
        GO_SPAWN(blocked_fn, &b);
        atomic_long go = 0, done = 0;
        racer r[4];
        for (int i = 0; i < 4; i++) {
            r[i] = (racer){.fd = c, .go = &go, .done = &done};
            GO_SPAWN(racer_fn, &r[i]);
        }
        goc_yield();
        atomic_store(&go, 1);
        GO_CHECK(go_wait_ge(&done, 4, 5000), "closers did not finish");
        GO_CHECK(go_wait_ge(&b.returned, 1, 5000), "reader still blocked");
        int zeros = 0;
        for (int i = 0; i < 4; i++) {
            GO_CHECK(r[i].result == 0 || r[i].result == -EBADF, "close: %d", r[i].result);
            zeros += r[i].result == 0;
        }
        GO_CHECK(zeros >= 1, "round %d: no close succeeded", k);
        /* Once a bug (fixed): a close racing with the last reference's
         * release sees the slot reopened before close(2) ran and does a
         * plain close of its own (0): two successes. Checked only with
         * GOC_TEST_KNOWN_BUGS=1. */
        if (zeros > 1)
            atomic_fetch_add(&double_ok, 1);
        GO_CHECK(zeros == 1 || !known_bugs(), "round %d: %d closes succeeded, want exactly 1", k,
                 zeros);
        GO_CHECK(b.result == -EBADF, "reader: %zd", b.result);
        GO_CHECK(!fd_is_open(c), "fd still open");
        goc_close(s);
        if (test_failed())
            break;
    }
    return 0;
}

/* Four goroutines close one fd (a reader waiting on it) at once: exactly
 * one succeeds, the others get -EBADF, the reader wakes. */
Test(close, concurrent_closes, .timeout = 20)
{
    cr_assert_eq(run_main(main_close_races, NULL), 0);
    if (atomic_load(&double_ok))
        cr_log_info("known bug: %ld rounds had two successful goc_close calls",
                    atomic_load(&double_ok));
}

static int main_untouched(void *arg)
{
    (void)arg;
    int p[2];
    GO_CHECK(pipe(p) == 0, "pipe");
    /* goc never used these fds: goc_close is a plain close. */
    GO_CHECK(goc_close(p[0]) == 0, "close untouched fd");
    GO_CHECK(!fd_is_open(p[0]), "still open");
    GO_CHECK(goc_close(p[0]) == -EBADF, "close again");
    GO_CHECK(goc_close(p[1]) == 0, "close");
    GO_CHECK(goc_close(-1) == -EBADF, "close(-1)");
    GO_CHECK(goc_read(-1, p, 1) == -EBADF, "read(-1)");
    GO_CHECK(goc_write(-1, p, 1) == -EBADF, "write(-1)");
    GO_CHECK(goc_wait_fd(-1, GOC_READ, 0) == -EBADF, "wait_fd(-1)");
    GO_CHECK(goc_accept(-1, NULL, NULL) == -EBADF, "accept(-1)");
    /* A number that is not open: -EBADF, not a registration. */
    int fd = dup(0);
    close(fd);
    GO_CHECK(goc_read(fd, p, 1) == -EBADF, "read of a closed number");
    GO_CHECK(goc_wait_fd(fd, GOC_READ, 0) == -EBADF, "wait_fd of a closed number");

    /* Used by goc, then closed twice. */
    GO_CHECK(pipe(p) == 0, "pipe");
    GO_CHECK(goc_write(p[1], "x", 1) == 1, "write");
    GO_CHECK(goc_close(p[1]) == 0, "close");
    GO_CHECK(goc_close(p[1]) == -EBADF, "double close");
    char c;
    GO_CHECK(goc_read(p[0], &c, 1) == 1, "read");
    GO_CHECK(goc_read(p[0], &c, 1) == 0, "EOF");
    GO_CHECK(goc_close(p[0]) == 0, "close");
    return 0;
}

Test(close, untouched_and_double_close, .timeout = 10)
{
    cr_assert_eq(run_main(main_untouched, NULL), 0);
}

/* ---- a reused number starts clean ----------------------------------------------------- */

static void late_writer(void *arg)
{
    int fd = (int)(intptr_t)arg;
    goc_sleep(100 * GOC_MILLISECOND);
    GO_CHECK(goc_write(fd, "new!", 4) == 4, "late write");
}

/* Dial and accept on a listener that stays open, so the two numbers of
 * a closed pair are the lowest free ones for the next. */
static int lpair(int lfd, const char *addr, int *c, int *s)
{
    *c = goc_dial("tcp4", addr, GOC_SECOND);
    GO_CHECK(*c >= 0, "dial: %s", goc_strerror(*c));
    if (*c < 0)
        return *c;
    *s = goc_accept(lfd, NULL, NULL);
    GO_CHECK(*s >= 0, "accept: %s", goc_strerror(*s));
    return *s < 0 ? *s : 0;
}

static int main_reuse(void *arg)
{
    (void)arg;
    int reused = 0;
    int lfd = goc_listen("tcp4", "127.0.0.1:0");
    GO_CHECK(lfd >= 0, "listen");
    char addr[64];
    dial_addr(lfd, addr, sizeof addr);
    for (int k = 0; k < 20; k++) {
        int c, s;
        if (lpair(lfd, addr, &c, &s))
            return 1;
        /* Leave state behind: an expired read deadline, a write deadline
         * about to fire, a readiness edge not consumed. */
        GO_CHECK(goc_write(s, "old", 3) == 3, "write");
        goc_sleep(2 * GOC_MILLISECOND);
        GO_CHECK(goc_set_read_deadline(c, goc_now() - 1) == 0, "set");
        GO_CHECK(goc_set_write_deadline(c, goc_now() + 30 * GOC_MILLISECOND) == 0, "set");
        GO_CHECK(goc_close(c) == 0, "close");
        goc_close(s);

        /* The lowest free number is c's again. */
        int c2, s2;
        if (lpair(lfd, addr, &c2, &s2))
            return 1;
        int fresh = c2 == c ? c2 : s2 == c ? s2 : -1;
        int other = fresh == c2 ? s2 : c2;
        if (fresh < 0) {
            goc_close(c2);
            goc_close(s2);
            continue;
        }
        reused++;
        /* t0 before the writer starts its 100 ms: taken after, a slow
         * return from the spawn (TSan) made a punctual read look early. */
        int64_t t0 = goc_now();
        GO_SPAWN(late_writer, (void *)(intptr_t)other);
        char buf[8];
        ssize_t r = goc_read(fresh, buf, sizeof buf); /* past the old write deadline too */
        GO_CHECK(r == 4 && memcmp(buf, "new!", 4) == 0,
                 "read on a reused fd number: %zd (%s) after %lld ms", r, goc_strerror((int)r),
                 (long long)since_ms(t0));
        GO_CHECK(since_ms(t0) >= 90, "read returned early (stale readiness)");
        GO_CHECK(goc_write(fresh, "ok", 2) == 2, "write on a reused number (stale deadline)");
        goc_close(c2);
        goc_close(s2);
        if (test_failed())
            break;
        if (reused >= 3)
            break;
    }
    GO_CHECK(reused > 0, "the fd number was never reused");
    goc_close(lfd);
    return 0;
}

/* goc_close resets the descriptor: a socket that gets the same number has
 * no expired deadline, no armed timer and no stale readiness. */
Test(close, reused_number_starts_clean, .timeout = 10)
{
    cr_assert_eq(run_main(main_reuse, NULL), 0);
}

/* ---- many waiters, closed at once ----------------------------------------------------- */

#define N_WAIT 200

static int main_close_many(void *arg)
{
    (void)arg;
    net_warmup();
    int fds0 = count_fds();
    int n = (int)test_scale(N_WAIT);
    if (n < 20)
        n = 20;
    static blocked b[N_WAIT];
    static int peers[N_WAIT];
    for (int i = 0; i < n; i++) {
        int c;
        if (net_pair(i % 2 ? "tcp4" : "unix", &c, &peers[i]))
            return 1;
        b[i] = (blocked){.fd = c, .op = i % 3 == 0 ? OP_WAITFD : OP_READ};
        GO_SPAWN(blocked_fn, &b[i]);
    }
    goc_sleep(30 * GOC_MILLISECOND);
    for (int i = 0; i < n; i++)
        GO_CHECK(!atomic_load(&b[i].returned), "waiter %d returned before the close: %zd", i,
                 b[i].result);
    for (int i = 0; i < n; i++)
        GO_CHECK(goc_close(b[i].fd) == 0, "close %d", i);
    for (int i = 0; i < n; i++) {
        GO_CHECK(go_wait_ge(&b[i].returned, 1, 5000), "waiter %d still blocked", i);
        GO_CHECK(b[i].result == -EBADF, "waiter %d: %zd", i, b[i].result);
        goc_close(peers[i]);
    }
    GO_CHECK(go_wait_fds(fds0, 5000), "fds: %d, %d before", count_fds(), fds0);
    return 0;
}

Test(close, many_waiters, .timeout = 20)
{
    int r = run_main(main_close_many, NULL);
    tmpdir_cleanup();
    cr_assert_eq(r, 0);
}
