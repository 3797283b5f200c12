/*
 * test_deadline.c — goc_set_deadline / _read_deadline / _write_deadline:
 * a read that times out after about the right time without holding a
 * worker; a deadline in the past; clearing, extending and shortening one
 * under a waiting read; a write deadline on a full socket; deadlines on
 * accept; the two directions kept apart; and setting one 100k times
 * staying cheap (no timer build-up; ASan checks for leaks).
 */
#include "netutil.h"

static char info[256]; /* written by a goroutine, logged by the test thread */

static int new_pair(int *c, int *s)
{
    int rc = net_pair("tcp4", c, s);
    GO_CHECK(rc == 0, "pair: %s", goc_strerror(rc));
    return rc;
}

/* ---- a read deadline expires --------------------------------------------------- */

static int main_read_expires(void *arg)
{
    bool sleepy = arg != NULL;
    int c, s;
    if (new_pair(&c, &s))
        return 1;
    counter cnt = {.sleepy = sleepy};
    counter_start(&cnt);
    long before = atomic_load(&cnt.count);

    char buf[16];
    int64_t t0 = goc_now();
    GO_CHECK(goc_set_read_deadline(c, t0 + 100 * GOC_MILLISECOND) == 0, "set");
    ssize_t r = goc_read(c, buf, sizeof buf);
    int64_t el = since_ms(t0);
    long during = atomic_load(&cnt.count) - before;
    GO_CHECK(r == -ETIMEDOUT, "read: %zd (%s)", r, goc_strerror((int)r));
    GO_CHECK(el >= 100 && el <= late_ms(100), "timed out after %lld ms, want ~100", (long long)el);
    /* The waiting read left the worker to others: the counter ran. */
    GO_CHECK(during >= (sleepy ? 20 : 100), "counter moved %ld while the read waited", during);

    /* Still expired: the next call fails at once, until the deadline moves. */
    t0 = goc_now();
    GO_CHECK(goc_read(c, buf, sizeof buf) == -ETIMEDOUT, "second read");
    GO_CHECK(since_ms(t0) < late_ms(0), "second read took %lld ms", (long long)since_ms(t0));
    /* Writes are not affected by the read deadline. */
    GO_CHECK(goc_write(c, "ping", 4) == 4, "write after a read timeout");
    GO_CHECK(read_full(s, buf, 4) == 4, "peer read");
    /* Cleared: data that arrives is read. */
    GO_CHECK(goc_set_read_deadline(c, 0) == 0, "clear");
    GO_CHECK(goc_write(s, "pong", 4) == 4, "peer write");
    GO_CHECK(read_full(c, buf, 4) == 4 && memcmp(buf, "pong", 4) == 0, "read after clearing");

    counter_stop(&cnt);
    goc_close(c);
    goc_close(s);
    return 0;
}

/* The peer sends nothing: -ETIMEDOUT after ~100 ms, while a goroutine that
 * only yields keeps running (at GOC_MAXPROCS=1 too: the read does not hold
 * the worker, and the expiry is noticed though the run queue never
 * empties). */
Test(deadline, read_expires_yielding_neighbour, .timeout = 10)
{
    cr_assert_eq(run_main(main_read_expires, NULL), 0);
}

Test(deadline, read_expires_sleeping_neighbour, .timeout = 10)
{
    cr_assert_eq(run_main(main_read_expires, (void *)1), 0);
}

/* ---- a deadline in the past ----------------------------------------------------- */

static int main_past(void *arg)
{
    (void)arg;
    int c, s;
    if (new_pair(&c, &s))
        return 1;
    GO_CHECK(goc_write(s, "data", 4) == 4, "peer write");
    goc_sleep(5 * GOC_MILLISECOND); /* the data is there */
    char buf[16];
    const int64_t past[] = {goc_now() - 1, goc_now() - GOC_SECOND, 1, -5};
    for (size_t i = 0; i < sizeof past / sizeof past[0]; i++) {
        GO_CHECK(goc_set_read_deadline(c, past[i]) == 0, "set %zu", i);
        int64_t t0 = goc_now();
        ssize_t r = goc_read(c, buf, sizeof buf);
        GO_CHECK(r == -ETIMEDOUT, "past deadline %zu: read %zd though the deadline passed", i, r);
        GO_CHECK(since_ms(t0) < late_ms(0), "took %lld ms", (long long)since_ms(t0));
        struct iovec iov = {buf, sizeof buf};
        GO_CHECK(goc_readv(c, &iov, 1) == -ETIMEDOUT, "readv with a past deadline");
    }
    /* The write side too. */
    GO_CHECK(goc_set_write_deadline(c, goc_now() - 1) == 0, "set write");
    GO_CHECK(goc_write(c, "x", 1) == -ETIMEDOUT, "write with a past deadline");
    struct iovec iov = {"x", 1};
    GO_CHECK(goc_writev(c, &iov, 1) == -ETIMEDOUT, "writev with a past deadline");
    /* Cleared: the data that waited is there. */
    GO_CHECK(goc_set_deadline(c, 0) == 0, "clear");
    GO_CHECK(read_full(c, buf, 4) == 4 && memcmp(buf, "data", 4) == 0, "read after clearing");
    GO_CHECK(goc_write(c, "x", 1) == 1, "write after clearing");
    goc_close(c);
    goc_close(s);
    return 0;
}

/* A deadline already passed fails the call at once, even with data ready
 * (Go checks the deadline first). Negative and tiny times count as past. */
Test(deadline, past_deadline_fails_even_with_data, .timeout = 10)
{
    cr_assert_eq(run_main(main_past, NULL), 0);
}

/* ---- moving a deadline under a waiting read ---------------------------------------- */

typedef struct mover {
    int c, s;
    int64_t delay_ms; /* when to act */
    int64_t newdl_ms; /* new deadline from then (0: clear; < 0: past) */
    int64_t write_ms; /* then write to the peer after this (0: never) */
    /* goc_now() when it acted: just before (the base of the new deadline)
     * and after the deadline was moved, and around the write */
    int64_t set_at, set_done, write_at, write_done;
    atomic_long done;
} mover;

static void mover_fn(void *arg)
{
    mover *m = arg;
    goc_sleep(m->delay_ms * GOC_MILLISECOND);
    m->set_at = goc_now();
    int64_t t = m->newdl_ms == 0  ? 0
                : m->newdl_ms < 0 ? m->set_at - GOC_MILLISECOND
                                  : m->set_at + m->newdl_ms * GOC_MILLISECOND;
    GO_CHECK(goc_set_read_deadline(m->c, t) == 0, "mover: set");
    m->set_done = goc_now();
    if (m->write_ms) {
        goc_sleep(m->write_ms * GOC_MILLISECOND);
        m->write_at = goc_now();
        GO_CHECK(goc_write(m->s, "late", 4) == 4, "mover: write");
        m->write_done = goc_now();
    }
    atomic_store(&m->done, 1);
}

typedef struct move_case {
    int64_t first_ms; /* the deadline the read starts with */
    mover m;
    ssize_t want;           /* the read's result */
    int64_t min_ms, max_ms; /* when it must return (max before slack) */
} move_case;

/* One try. False if the mover moved the deadline only after the first one
 * could have passed (a slow spawn or a late wake on a loaded machine): the
 * read may then rightly have timed out at the first deadline, and the try
 * says nothing. Otherwise the read must return when the event that ends it
 * (the moved deadline, or the peer's write) happened, as the mover timed
 * it: never before the nominal min_ms, and at most the usual margin after
 * the event (nominally max_ms). */
static bool move_once(move_case *mc)
{
    mover *m = &mc->m;
    if (new_pair(&m->c, &m->s))
        return true;
    char buf[16];
    int64_t t0 = goc_now();
    GO_CHECK(goc_set_read_deadline(m->c, t0 + mc->first_ms * GOC_MILLISECOND) == 0, "set");
    GO_SPAWN(mover_fn, m);
    ssize_t r = goc_read(m->c, buf, sizeof buf);
    int64_t back = goc_now();
    GO_CHECK(go_wait_ge(&m->done, 1, 5000), "mover did not finish");
    goc_close(m->c);
    goc_close(m->s);
    if (m->set_done >= t0 + mc->first_ms * GOC_MILLISECOND)
        return false; /* moved too late to tell */
    int64_t from, to; /* the ending event, as timed by the mover */
    if (m->write_ms) {
        from = m->write_at, to = m->write_done;
    } else if (m->newdl_ms > 0) {
        from = to = m->set_at + m->newdl_ms * GOC_MILLISECOND;
    } else {
        from = m->set_at, to = m->set_done;
    }
    int64_t el = (back - t0) / GOC_MILLISECOND;
    int64_t lo = (from - t0) / GOC_MILLISECOND, hi = (to - t0) / GOC_MILLISECOND;
    if (lo < mc->min_ms)
        lo = mc->min_ms;
    GO_CHECK(r == mc->want, "read: %zd (%s), want %zd", r, goc_strerror((int)r), mc->want);
    GO_CHECK(el >= lo && el <= late_ms(hi),
             "returned after %lld ms, want %lld..%lld (nominally %lld..%lld)", (long long)el,
             (long long)lo, (long long)hi, (long long)mc->min_ms, (long long)mc->max_ms);
    return true;
}

static int main_move(void *arg)
{
    move_case *mc = arg;
    enum { TRIES = 5 };
    for (int i = 0; i < TRIES; i++) {
        mc->m.done = 0;
        if (move_once(mc))
            return 0;
    }
    snprintf(info, sizeof info, "the mover was late in all %d tries: nothing checked", TRIES);
    return 0;
}

static void run_move(move_case *mc)
{
    info[0] = '\0';
    cr_assert_eq(run_main(main_move, mc), 0);
    if (info[0])
        cr_log_info("%s", info);
}

/* Extended at 20 ms (to +300 ms) before the first deadline (50 ms)
 * passes: the read times out at ~320 ms, not at 50. */
Test(deadline, extend_while_reading, .timeout = 10)
{
    move_case mc = {.first_ms = 50,
                    .m = {.delay_ms = 20, .newdl_ms = 300},
                    .want = -ETIMEDOUT,
                    .min_ms = 320,
                    .max_ms = 320};
    run_move(&mc);
}

/* Shortened from 10 s to +50 ms: the read returns at ~70 ms. */
Test(deadline, shorten_while_reading, .timeout = 10)
{
    move_case mc = {.first_ms = 10000,
                    .m = {.delay_ms = 20, .newdl_ms = 50},
                    .want = -ETIMEDOUT,
                    .min_ms = 70,
                    .max_ms = 70};
    run_move(&mc);
}

/* Set in the past under a waiting read: it returns at once. */
Test(deadline, set_past_while_reading, .timeout = 10)
{
    move_case mc = {.first_ms = 10000,
                    .m = {.delay_ms = 30, .newdl_ms = -1},
                    .want = -ETIMEDOUT,
                    .min_ms = 30,
                    .max_ms = 30};
    run_move(&mc);
}

/* Cleared at 20 ms (first deadline 60 ms); the peer writes at ~150 ms:
 * the read gets the data, no timeout. */
Test(deadline, clear_while_reading, .timeout = 10)
{
    move_case mc = {.first_ms = 60,
                    .m = {.delay_ms = 20, .newdl_ms = 0, .write_ms = 130},
                    .want = 4,
                    .min_ms = 150,
                    .max_ms = 150};
    run_move(&mc);
}

/* Extended, and data comes before the new deadline: the data wins. */
Test(deadline, extend_then_data_arrives, .timeout = 10)
{
    move_case mc = {.first_ms = 40,
                    .m = {.delay_ms = 10, .newdl_ms = 1000, .write_ms = 90},
                    .want = 4,
                    .min_ms = 100,
                    .max_ms = 100};
    run_move(&mc);
}

/* A deadline set and cleared before it passes never fires later. */
static int main_cleared_never_fires(void *arg)
{
    (void)arg;
    int c, s;
    if (new_pair(&c, &s))
        return 1;
    GO_CHECK(goc_set_read_deadline(c, goc_now() + 30 * GOC_MILLISECOND) == 0, "set");
    GO_CHECK(goc_set_read_deadline(c, 0) == 0, "clear");
    goc_sleep(60 * GOC_MILLISECOND); /* past the old deadline */
    mover m = {.c = c, .s = s, .delay_ms = 50, .newdl_ms = 0, .write_ms = 1};
    GO_SPAWN(mover_fn, &m);
    char buf[16];
    ssize_t r = goc_read(c, buf, sizeof buf);
    GO_CHECK(r == 4, "read: %zd (%s)", r, goc_strerror((int)r));
    GO_CHECK(go_wait_ge(&m.done, 1, 5000), "mover");
    goc_close(c);
    goc_close(s);
    return 0;
}

Test(deadline, cleared_deadline_never_fires, .timeout = 10)
{
    cr_assert_eq(run_main(main_cleared_never_fires, NULL), 0);
}

/* ---- write deadline --------------------------------------------------------------- */

typedef struct wd_case {
    int c, s;
    atomic_long done;
} wd_case;

static void wd_reader_side(void *arg)
{
    /* The peer of the stuck writer still talks to it: its reads work. */
    wd_case *w = arg;
    goc_sleep(20 * GOC_MILLISECOND);
    GO_CHECK(goc_write(w->s, "hi", 2) == 2, "peer write");
    atomic_store(&w->done, 1);
}

static int main_write_deadline(void *arg)
{
    (void)arg;
    wd_case w = {0};
    int rc = small_buf_pair(&w.c, &w.s);
    GO_CHECK(rc == 0, "pair: %s", goc_strerror(rc));
    if (rc)
        return 1;
    size_t n = 16 << 20; /* far more than both buffers hold; the peer never reads */
    char *buf = calloc(1, n);
    GO_SPAWN(wd_reader_side, &w);
    int64_t t0 = goc_now();
    GO_CHECK(goc_set_write_deadline(w.c, t0 + 100 * GOC_MILLISECOND) == 0, "set");
    ssize_t r = goc_write(w.c, buf, n);
    int64_t el = since_ms(t0);
    GO_CHECK(r == -ETIMEDOUT, "write: %zd (%s)", r, goc_strerror((int)r));
    GO_CHECK(el >= 100 && el <= late_ms(100), "timed out after %lld ms", (long long)el);
    /* The read direction has no deadline. */
    char in[2];
    GO_CHECK(read_full(w.c, in, 2) == 2, "read on the stuck writer's fd");
    GO_CHECK(go_wait_ge(&w.done, 1, 5000), "peer");
    /* Still expired for writes; a read deadline does not change that. */
    GO_CHECK(goc_set_read_deadline(w.c, 0) == 0, "clear read");
    GO_CHECK(goc_write(w.c, buf, 1) == -ETIMEDOUT, "write after clearing the read deadline only");
    free(buf);
    goc_close(w.c);
    goc_close(w.s);
    return 0;
}

/* The peer never reads: a write deadline stops goc_write (which otherwise
 * waits to send every byte) with -ETIMEDOUT after ~100 ms. */
Test(deadline, write_deadline_full_buffer, .timeout = 10)
{
    cr_assert_eq(run_main(main_write_deadline, NULL), 0);
}

/* goc_set_deadline sets both directions. */
static int main_both(void *arg)
{
    (void)arg;
    int c, s;
    if (new_pair(&c, &s))
        return 1;
    /* t0 before the deadline is computed from it: measured from after the
     * set, a slow set (TSan) made the read look early. */
    int64_t t0 = goc_now();
    GO_CHECK(goc_set_deadline(c, t0 + 30 * GOC_MILLISECOND) == 0, "set");
    char buf[4];
    GO_CHECK(goc_read(c, buf, sizeof buf) == -ETIMEDOUT, "read");
    GO_CHECK(since_ms(t0) >= 30, "early");
    GO_CHECK(goc_write(c, "x", 1) == -ETIMEDOUT, "write after both expired");
    GO_CHECK(goc_set_write_deadline(c, 0) == 0, "clear write");
    GO_CHECK(goc_write(c, "x", 1) == 1, "write after clearing it");
    GO_CHECK(goc_read(c, buf, sizeof buf) == -ETIMEDOUT, "read still expired");
    goc_close(c);
    goc_close(s);
    return 0;
}

Test(deadline, set_deadline_sets_both, .timeout = 10)
{
    cr_assert_eq(run_main(main_both, NULL), 0);
}

/* ---- accept and bad fds ------------------------------------------------------------ */

static int main_accept_deadline(void *arg)
{
    (void)arg;
    int lfd = goc_listen("tcp4", "127.0.0.1:0");
    GO_CHECK(lfd >= 0, "listen");
    int64_t t0 = goc_now();
    GO_CHECK(goc_set_read_deadline(lfd, t0 + 50 * GOC_MILLISECOND) == 0, "set");
    int r = goc_accept(lfd, NULL, NULL);
    GO_CHECK(r == -ETIMEDOUT, "accept: %d (%s)", r, goc_strerror(r));
    GO_CHECK(since_ms(t0) >= 50 && since_ms(t0) <= late_ms(50), "after %lld ms",
             (long long)since_ms(t0));
    /* Cleared, a queued connection is accepted. */
    GO_CHECK(goc_set_read_deadline(lfd, 0) == 0, "clear");
    char addr[64];
    int c = goc_dial("tcp4", dial_addr(lfd, addr, sizeof addr), GOC_SECOND);
    GO_CHECK(c >= 0, "dial");
    int s = goc_accept(lfd, NULL, NULL);
    GO_CHECK(s >= 0, "accept after clearing: %s", goc_strerror(s));
    goc_close(c);
    goc_close(s);
    goc_close(lfd);

    /* Bad fds. */
    GO_CHECK(goc_set_deadline(-1, goc_now()) == -EBADF, "set_deadline(-1)");
    GO_CHECK(goc_set_read_deadline(-1, 0) == -EBADF, "set_read_deadline(-1)");
    GO_CHECK(goc_set_write_deadline(-1, 0) == -EBADF, "set_write_deadline(-1)");
    return 0;
}

Test(deadline, accept_deadline_and_bad_fd, .timeout = 10)
{
    cr_assert_eq(run_main(main_accept_deadline, NULL), 0);
}

/* ---- cheap to set, many times -------------------------------------------------------- */

static int main_many_sets(void *arg)
{
    (void)arg;
    int c, s;
    if (new_pair(&c, &s))
        return 1;
    long n = test_scale(100000);
    goc_stats st0, st1;
    goc_read_stats(&st0);
    int64_t t0 = goc_now();
    for (long i = 0; i < n; i++) {
        int64_t t = goc_now() + GOC_SECOND + i;
        int rc;
        switch (i % 4) {
        case 0:
            rc = goc_set_deadline(c, t);
            break;
        case 1:
            rc = goc_set_read_deadline(c, t);
            break;
        case 2:
            rc = goc_set_write_deadline(c, i % 8 == 2 ? 0 : t); /* clear now and then */
            break;
        default:
            rc = goc_set_deadline(s, t);
            break;
        }
        if (rc) {
            GO_CHECK(false, "set %ld: %s", i, goc_strerror(rc));
            break;
        }
    }
    int64_t el = since_ms(t0);
    goc_read_stats(&st1);
    /* ~0.2-1 us each; allow 10 us on a loaded machine. */
    GO_CHECK(el < 1000 * test_slack(), "%ld sets took %lld ms", n, (long long)el);
    /* One timer per descriptor and direction, moved in place, not one per
     * set. */
    GO_CHECK(st1.timers <= st0.timers + 8, "timers pending: %llu before, %llu after %ld sets",
             (unsigned long long)st0.timers, (unsigned long long)st1.timers, n);
    snprintf(info, sizeof info, "%ld deadline sets: %lld ms", n, (long long)el);

    /* And the last one still works. */
    t0 = goc_now();
    GO_CHECK(goc_set_read_deadline(c, t0 + 30 * GOC_MILLISECOND) == 0, "set");
    char buf[4];
    GO_CHECK(goc_read(c, buf, sizeof buf) == -ETIMEDOUT, "read");
    GO_CHECK(since_ms(t0) >= 30 && since_ms(t0) <= late_ms(30), "after %lld ms",
             (long long)since_ms(t0));
    goc_close(c);
    goc_close(s);
    return 0;
}

/* 100k deadline sets in a loop (a server sets one per request): fast, no
 * pile of timers, no leak (ASan). */
Test(deadline, many_sets_are_cheap, .timeout = 20)
{
    cr_assert_eq(run_main(main_many_sets, NULL), 0);
    cr_log_info("%s", info);
}

/* Many connections, each reading with its own deadline at once: every
 * one times out near its own time. */
#define N_DL 200

typedef struct dl_reader {
    int c, s;
    int64_t ms;
    atomic_long *done;
} dl_reader;

static void dl_reader_fn(void *arg)
{
    dl_reader *d = arg;
    char buf[4];
    int64_t t0 = goc_now();
    goc_set_read_deadline(d->c, t0 + d->ms * GOC_MILLISECOND);
    ssize_t r = goc_read(d->c, buf, sizeof buf);
    int64_t el = since_ms(t0);
    GO_CHECK(r == -ETIMEDOUT, "read: %zd", r);
    GO_CHECK(el >= d->ms && el <= late_ms(d->ms), "deadline %lld ms: returned after %lld ms",
             (long long)d->ms, (long long)el);
    goc_close(d->c);
    goc_close(d->s);
    atomic_fetch_add(d->done, 1);
}

static int main_many_deadlines(void *arg)
{
    (void)arg;
    static dl_reader d[N_DL];
    atomic_long done = 0;
    int n = (int)test_scale(N_DL);
    if (n < 20)
        n = 20;
    for (int i = 0; i < n; i++) {
        if (new_pair(&d[i].c, &d[i].s))
            return 1;
        d[i].ms = 20 + (i * 7) % 180;
        d[i].done = &done;
    }
    for (int i = 0; i < n; i++)
        GO_SPAWN(dl_reader_fn, &d[i]);
    GO_CHECK(go_wait_ge(&done, n, 10000), "%ld of %d finished", atomic_load(&done), n);
    return 0;
}

Test(deadline, many_concurrent_deadlines, .timeout = 20)
{
    cr_assert_eq(run_main(main_many_deadlines, NULL), 0);
}
