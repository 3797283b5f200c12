/*
 * test_exact_read.c — reads that fill the caller's buffer exactly.
 *
 * A read that returns less than asked drained the socket, so goc waits for
 * the next edge before reading again; on TCP connections goc makes, the
 * kernel also says (TCP_INQ) how much is left after a read that filled the
 * buffer, so "exactly full and nothing left" waits too. These tests pin the
 * cases where that shortcut would lose data or an end of file if it were
 * wrong: more data already queued behind a full read, data that comes
 * later, an EOF that came with the data or after it, through read and
 * readv, on tcp4, tcp6 and unix sockets. Every read has a deadline, so a
 * wait for an edge that never comes fails the test instead of hanging it.
 */
#include "netutil.h"

#define MSG 1024

typedef struct exact_case {
    int c, s;
    int mode; /* what the writer does: see writer() */
    atomic_long done;
} exact_case;

enum {
    TWO_AT_ONCE,     /* 2 x MSG in one write */
    ONE_THEN_LATER,  /* MSG, then MSG 20 ms later */
    ONE_THEN_CLOSE,  /* MSG and close at once */
    ONE_CLOSE_LATER, /* MSG, then close 20 ms later */
};

static void writer(void *arg)
{
    exact_case *e = arg;
    char buf[2 * MSG];
    fill_pattern(buf, sizeof buf, 7);
    switch (e->mode) {
    case TWO_AT_ONCE:
        GO_CHECK(goc_write(e->s, buf, 2 * MSG) == 2 * MSG, "write");
        break;
    case ONE_THEN_LATER:
        GO_CHECK(goc_write(e->s, buf, MSG) == MSG, "write");
        goc_sleep(20 * GOC_MILLISECOND); /* the reader waits by now */
        GO_CHECK(goc_write(e->s, buf + MSG, MSG) == MSG, "second write");
        break;
    case ONE_THEN_CLOSE:
    case ONE_CLOSE_LATER:
        GO_CHECK(goc_write(e->s, buf, MSG) == MSG, "write");
        if (e->mode == ONE_CLOSE_LATER)
            goc_sleep(20 * GOC_MILLISECOND);
        break;
    }
    if (e->mode != TWO_AT_ONCE && e->mode != ONE_THEN_LATER) {
        GO_CHECK(goc_close(e->s) == 0, "close");
        e->s = -1;
    }
    atomic_store(&e->done, 1);
}

/* One read of exactly want bytes (or the EOF when want is 0) into a
 * buffer of MSG, with read or readv. */
static ssize_t read_one(int fd, char *buf, bool vec)
{
    if (!vec)
        return goc_read(fd, buf, MSG);
    struct iovec iov[2] = {{buf, MSG / 4}, {buf + MSG / 4, MSG - MSG / 4}};
    return goc_readv(fd, iov, 2);
}

/* Reads of MSG bytes until the writer's stream is over; each must return a
 * full MSG while data is due (bytes can arrive in pieces, so a short read
 * is followed by the rest), then 0 once the writer closed. */
static void read_case(const char *network, int mode, bool vec)
{
    exact_case e = {.mode = mode};
    int rc = net_pair(network, &e.c, &e.s);
    GO_CHECK(rc == 0, "pair %s: %s", network, goc_strerror(rc));
    if (rc)
        return;
    goc_set_read_deadline(e.c, goc_now() + 5 * GOC_SECOND * test_slack());
    GO_SPAWN(writer, &e);
    int msgs = mode == TWO_AT_ONCE || mode == ONE_THEN_LATER ? 2 : 1;
    char want[2 * MSG], got[MSG];
    fill_pattern(want, sizeof want, 7);
    for (int i = 0; i < msgs; i++) {
        size_t have = 0;
        while (have < MSG) {
            ssize_t n =
                vec && have == 0 ? read_one(e.c, got, true) : goc_read(e.c, got + have, MSG - have);
            GO_CHECK(n > 0, "%s mode %d%s: message %d: %s", network, mode, vec ? " readv" : "", i,
                     n == 0 ? "early EOF" : goc_strerror((int)n));
            if (n <= 0)
                goto out;
            have += (size_t)n;
        }
        GO_CHECK(memcmp(got, want + i * MSG, MSG) == 0, "%s mode %d: message %d differs", network,
                 mode, i);
    }
    if (mode == ONE_THEN_CLOSE || mode == ONE_CLOSE_LATER) {
        ssize_t n = read_one(e.c, got, vec);
        GO_CHECK(n == 0, "%s mode %d%s: no EOF: %s", network, mode, vec ? " readv" : "",
                 n > 0 ? "data" : goc_strerror((int)n));
    }
out:
    GO_CHECK(go_wait_ge(&e.done, 1, 5000), "writer did not finish");
    goc_close(e.c);
    if (e.s >= 0)
        goc_close(e.s);
}

static int main_exact(void *arg)
{
    const char *network = arg;
    for (int mode = TWO_AT_ONCE; mode <= ONE_CLOSE_LATER; mode++)
        for (int vec = 0; vec < 2; vec++)
            read_case(network, mode, vec);
    return 0;
}

Test(exact_read, tcp4, .timeout = 30)
{
    cr_assert_eq(run_main(main_exact, "tcp4"), 0);
}

Test(exact_read, tcp6, .timeout = 30)
{
    if (!have_ipv6())
        cr_skip_test("no IPv6 on the loopback");
    cr_assert_eq(run_main(main_exact, "tcp6"), 0);
}

Test(exact_read, unix, .timeout = 30)
{
    int r = run_main(main_exact, "unix");
    tmpdir_cleanup();
    cr_assert_eq(r, 0);
}

/* A request/response exchange where every read fills its buffer exactly,
 * many times over: the pattern the TCP_INQ shortcut serves (an echo of
 * 1 KiB messages into 1 KiB buffers), with many connections at once. */
typedef struct pingpong_conn {
    int c, s;
    atomic_int *left;
} pingpong_conn;

static void pp_server(void *arg)
{
    pingpong_conn *p = arg;
    char buf[MSG];
    for (;;) {
        ssize_t n = read_full(p->s, buf, MSG);
        if (n == 0)
            break;
        GO_CHECK(n == MSG, "server read: %zd", n);
        if (n != MSG)
            break;
        GO_CHECK(goc_write(p->s, buf, MSG) == MSG, "server write");
    }
    goc_close(p->s);
}

static void pp_client(void *arg)
{
    pingpong_conn *p = arg;
    char msg[MSG], back[MSG];
    goc_set_read_deadline(p->c, goc_now() + 20 * GOC_SECOND * test_slack());
    for (int i = 0; i < 500; i++) {
        fill_pattern(msg, MSG, (unsigned)i);
        GO_CHECK(goc_write(p->c, msg, MSG) == MSG, "client write");
        ssize_t n = read_full(p->c, back, MSG);
        GO_CHECK(n == MSG && memcmp(msg, back, MSG) == 0, "round %d: %zd bytes back", i, n);
        if (n != MSG)
            break;
    }
    goc_close(p->c);
    atomic_fetch_sub(p->left, 1);
}

static int main_pingpong(void *arg)
{
    (void)arg;
    enum { CONNS = 50 };
    static pingpong_conn pc[CONNS];
    atomic_int left = CONNS;
    for (int i = 0; i < CONNS; i++) {
        int rc = net_pair("tcp4", &pc[i].c, &pc[i].s);
        GO_CHECK(rc == 0, "pair: %s", goc_strerror(rc));
        if (rc)
            return 1;
        pc[i].left = &left;
        GO_SPAWN(pp_server, &pc[i]);
        GO_SPAWN(pp_client, &pc[i]);
    }
    int64_t deadline = goc_now() + 25 * GOC_SECOND * test_slack();
    while (atomic_load(&left) > 0 && goc_now() < deadline)
        goc_sleep(GOC_MILLISECOND);
    GO_CHECK(atomic_load(&left) == 0, "%d clients did not finish", atomic_load(&left));
    return 0;
}

Test(exact_read, many_exact_round_trips, .timeout = 60)
{
    cr_assert_eq(run_main(main_pingpong, NULL), 0);
}
