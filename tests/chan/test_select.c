/*
 * test_select.c — goc_select: argument errors, timeout 0 / > 0 / forever,
 * NULL (nil) cases, closed channels in recv and send cases, exactly one case
 * proceeding, uniform choice and fairness (Go's TestSelectFairness), plain
 * threads, stress (Go's TestSelectStress, TestSelfSelect,
 * TestSelectDuplicateChannel, TestPseudoRandomSend,
 * TestNonblockSelectRace), and no timer or memory growth over many selects.
 */
#include "chan/chanutil.h"

/* ---- arguments ------------------------------------------------------------- */

static void select_args(void)
{
    GO_CHECK(goc_select(NULL, 1, 0) == -EINVAL, "cases NULL, n 1, timeout 0");
    GO_CHECK(goc_select(NULL, 3, GOC_FOREVER) == -EINVAL, "cases NULL, n 3, forever");
    GO_CHECK(goc_select(NULL, 1, GOC_SECOND) == -EINVAL, "cases NULL, n 1, 1 s");
    goc_case *many = calloc(65537, sizeof *many);
    for (size_t i = 0; i < 65537; i++)
        many[i] = GOC_RECV(NULL, NULL);
    GO_CHECK(goc_select(many, 65537, 0) == -EINVAL, "n 65537");
    GO_CHECK(goc_select(many, SIZE_MAX, 0) == -EINVAL, "n SIZE_MAX");
    /* 65536 is allowed: all nil, so nothing is ready. */
    int r = goc_select(many, 65536, 0);
    GO_CHECK(r == -EAGAIN, "65536 nil cases, timeout 0: %d", r);
    /* ... and one real ready case among them is found. */
    goc_chan *c = goc_chan_make(sizeof(int), 1);
    int v = 77, got = 0;
    goc_chan_send(c, &v);
    many[40000] = GOC_RECV(c, &got);
    r = goc_select(many, 65536, 0);
    GO_CHECK(r == 40000 && got == 77, "ready case 40000 of 65536: %d, %d", r, got);
    goc_chan_release(c);
    free(many);
    /* An op that is neither send nor recv. */
    goc_chan *z = goc_chan_make(sizeof(int), 1);
    goc_case bad[] = {{.chan = z, .op = (goc_op)0, .elem = &v}};
    GO_CHECK(goc_select(bad, 1, 0) == -EINVAL, "op 0");
    bad[0].op = (goc_op)3;
    GO_CHECK(goc_select(bad, 1, 0) == -EINVAL, "op 3");
    goc_chan_release(z);
    /* No cases at all. */
    GO_CHECK(goc_select(NULL, 0, 0) == -EAGAIN, "no cases, timeout 0");
    goc_case one;
    GO_CHECK(goc_select(&one, 0, 0) == -EAGAIN, "n 0, timeout 0");
    int64_t t0 = goc_now();
    r = goc_select(NULL, 0, 20 * GOC_MILLISECOND);
    int64_t el = goc_now() - t0;
    GO_CHECK(r == -ETIMEDOUT, "no cases, 20 ms: %d", r);
    GO_CHECK(el >= 20 * GOC_MILLISECOND, "no cases, 20 ms: returned after %lld us",
             (long long)el / 1000);
}

static int main_args(void *arg)
{
    (void)arg;
    select_args();
    return 0;
}

Test(select, argument_errors_and_no_cases, .timeout = 20)
{
    cr_assert_eq(run_main(main_args, NULL), 0);
    select_args(); /* plain thread */
    GO_CHECK_REPORT();
}

/* ---- timeout 0: Go's default case -------------------------------------------- */

static int main_default(void *arg)
{
    (void)arg;
    goc_chan *unbuf = goc_chan_make(sizeof(int), 0);
    goc_chan *empty = goc_chan_make(sizeof(int), 2);
    goc_chan *full = goc_chan_make(sizeof(int), 1);
    int v = 1, out = 55;
    goc_chan_send(full, &v);
    goc_case cs[] = {GOC_SEND(unbuf, &v), GOC_RECV(unbuf, &out), GOC_RECV(empty, &out),
                     GOC_SEND(full, &v),  GOC_RECV(NULL, &out),  GOC_SEND(NULL, &v)};
    for (int i = 0; i < 1000; i++) {
        int r = goc_select(cs, 6, 0);
        if (r != -EAGAIN) {
            GO_CHECK(r == -EAGAIN, "nothing ready, timeout 0: %d", r);
            break;
        }
    }
    GO_CHECK(out == 55, "failed select wrote a recv element");
    GO_CHECK(goc_chan_len(empty) == 0 && goc_chan_len(full) == 1, "failed select changed a buffer");
    goc_chan_release(unbuf);
    goc_chan_release(empty);
    goc_chan_release(full);
    return 0;
}

Test(select, timeout_zero_is_eagain_when_nothing_ready, .timeout = 10)
{
    cr_assert_eq(run_main(main_default, NULL), 0);
}

/* ---- timeout > 0 ------------------------------------------------------------- */

static void timeouts(void)
{
    goc_chan *unbuf = goc_chan_make(sizeof(int), 0);
    goc_chan *full = goc_chan_make(sizeof(int), 1);
    int v = 1;
    goc_chan_send(full, &v);
    const goc_duration ds[] = {GOC_MILLISECOND, 10 * GOC_MILLISECOND, 50 * GOC_MILLISECOND,
                               100 * GOC_MICROSECOND};
    for (size_t i = 0; i < sizeof ds / sizeof *ds; i++) {
        for (int shape = 0; shape < 3; shape++) {
            goc_case real[] = {GOC_RECV(unbuf, &v), GOC_SEND(full, &v), GOC_SEND(unbuf, &v)};
            goc_case nils[] = {GOC_RECV(NULL, &v), GOC_SEND(NULL, &v)};
            goc_case *cs = shape == 0 ? real : shape == 1 ? nils : NULL;
            size_t n = shape == 0 ? 3 : shape == 1 ? 2 : 0;
            int64_t t0 = goc_now();
            int r = goc_select(cs, n, ds[i]);
            int64_t el = goc_now() - t0;
            GO_CHECK(r == -ETIMEDOUT, "shape %d, timeout %lld us: %d", shape,
                     (long long)ds[i] / 1000, r);
            GO_CHECK(el >= ds[i], "shape %d: timeout %lld us returned after %lld us", shape,
                     (long long)ds[i] / 1000, (long long)el / 1000);
            GO_CHECK(el < ds[i] + 200 * GOC_MILLISECOND * test_slack(),
                     "shape %d: timeout %lld us took %lld ms", shape, (long long)ds[i] / 1000,
                     (long long)test_ms(el));
        }
    }
    GO_CHECK(goc_chan_len(full) == 1, "timed-out select changed a buffer");
    goc_chan_release(unbuf);
    goc_chan_release(full);
}

static int main_timeouts(void *arg)
{
    (void)arg;
    timeouts();
    return 0;
}

Test(select, timeout_expires_after_about_the_timeout, .timeout = 20)
{
    cr_assert_eq(run_main(main_timeouts, NULL), 0);
}

Test(select, timeout_on_plain_thread, .timeout = 20)
{
    timeouts();
    GO_CHECK_REPORT();
}

/* A timeout that does not expire: the select is satisfied first, and the
 * unexpired timers do not pile up (goc_stats.timers) nor grow memory. */
static goc_chan *tmo_chan;

static void tmo_sender(void *arg)
{
    long n = (long)(intptr_t)arg;
    for (long i = 0; i < n; i++)
        goc_chan_send(tmo_chan, &i);
}

static int main_timeout_cancel(void *arg)
{
    (void)arg;
    long n = test_scale(100000);
    tmo_chan = goc_chan_make(sizeof(long), 0);
    goc_go(tmo_sender, (void *)(intptr_t)n);
    long v;
    for (long i = 0; i < n; i++) {
        goc_case cs[] = {GOC_RECV(tmo_chan, &v)};
        int r = goc_select(cs, 1, i % 2 ? GOC_HOUR : 10 * GOC_SECOND);
        if (r != 0 || v != i) {
            GO_CHECK(r == 0 && v == i, "select %ld: %d, value %ld", i, r, v);
            break;
        }
    }
    goc_sleep(10 * GOC_MILLISECOND);
    goc_stats st;
    goc_read_stats(&st);
    GO_CHECK(st.timers < 100, "%llu timers pending after %ld satisfied selects with timeouts",
             (unsigned long long)st.timers, n);
    goc_chan_release(tmo_chan);
    return 0;
}

Test(select, satisfied_selects_leave_no_timers, .timeout = 30)
{
    cr_assert_eq(run_main(main_timeout_cancel, NULL), 0);
}

/* ---- nil cases ----------------------------------------------------------------- */

static int main_nil(void *arg)
{
    (void)arg;
    goc_chan *c = goc_chan_make(sizeof(int), 1);
    int v = 3, out = 0;
    for (int i = 0; i < 1000; i++) {
        goc_chan_send(c, &v);
        goc_case cs[] = {GOC_RECV(NULL, &out), GOC_SEND(NULL, &v), GOC_RECV(c, &out),
                         GOC_RECV(NULL, NULL)};
        int r = goc_select(cs, 4, GOC_FOREVER);
        if (r != 2) {
            GO_CHECK(r == 2, "a nil case was chosen: %d", r);
            break;
        }
    }
    GO_CHECK(out == 3, "out %d", out);
    goc_chan_release(c);
    return 0;
}

Test(select, nil_cases_are_never_ready, .timeout = 10)
{
    cr_assert_eq(run_main(main_nil, NULL), 0);
}

/* ---- closed channels ------------------------------------------------------------ */

static int main_closed(void *arg)
{
    (void)arg;
    goc_chan *c = goc_chan_make(sizeof(int64_t[2]), 2);
    goc_chan *never = goc_chan_make(sizeof(int64_t[2]), 0);
    int64_t v[2] = {11, 12};
    goc_chan_send(c, v);
    goc_chan_close(c);
    /* The buffered value first, closed = false (written even if preset). */
    int64_t out[2] = {0, 0};
    goc_case cs[] = {GOC_RECV(never, out), GOC_RECV(c, out)};
    cs[1].closed = true;
    int r = goc_select(cs, 2, GOC_FOREVER);
    GO_CHECK(r == 1 && out[0] == 11 && out[1] == 12, "buffered value from closed: %d", r);
    GO_CHECK(!cs[1].closed, "closed is true for a buffered value");
    /* Then ready forever with closed = true and the element zeroed. */
    for (int i = 0; i < 100; i++) {
        out[0] = out[1] = -1;
        cs[1].closed = false;
        r = goc_select(cs, 2, i % 2 ? 0 : GOC_FOREVER);
        GO_CHECK(r == 1 && cs[1].closed, "recv case on closed channel: %d closed %d", r,
                 cs[1].closed);
        GO_CHECK(out[0] == 0 && out[1] == 0, "element not zeroed");
    }
    /* NULL elem in a closed recv case. */
    goc_case cn[] = {GOC_RECV(c, NULL)};
    GO_CHECK(goc_select(cn, 1, 0) == 0 && cn[0].closed, "closed recv with NULL elem");

    /* A send case on a closed channel proceeds with closed = true and sends
     * nothing. */
    goc_chan *s = goc_chan_make(sizeof(int64_t[2]), 3);
    goc_chan_close(s);
    goc_case ss[] = {GOC_SEND(never, v), GOC_SEND(s, v)};
    r = goc_select(ss, 2, GOC_FOREVER);
    GO_CHECK(r == 1 && ss[1].closed, "send case on closed channel: %d closed %d", r, ss[1].closed);
    GO_CHECK(goc_chan_len(s) == 0, "send case on closed channel sent: len %zu", goc_chan_len(s));
    r = goc_select(ss, 2, 0);
    GO_CHECK(r == 1 && ss[1].closed, "send case on closed channel, timeout 0: %d", r);

    /* closed = false for a send that proceeds normally. */
    goc_chan *ok = goc_chan_make(sizeof(int64_t[2]), 1);
    goc_case so[] = {GOC_SEND(ok, v)};
    so[0].closed = true;
    r = goc_select(so, 1, 0);
    GO_CHECK(r == 0 && !so[0].closed, "normal send case: %d closed %d", r, so[0].closed);

    goc_chan_release(c);
    goc_chan_release(never);
    goc_chan_release(s);
    goc_chan_release(ok);
    return 0;
}

Test(select, closed_channel_cases, .timeout = 10)
{
    cr_assert_eq(run_main(main_closed, NULL), 0);
}

/* ---- blocking until a case is ready -------------------------------------------- */

struct later {
    goc_chan *c;
    int op; /* 0 send, 1 recv, 2 close */
    int64_t value;
    goc_duration delay;
    atomic_long *done;
};

static void later_fn(void *arg)
{
    struct later *l = arg;
    goc_sleep(l->delay);
    if (l->op == 0) {
        int r = goc_chan_send(l->c, &l->value);
        GO_CHECK(r == 0, "later send %d", r);
    } else if (l->op == 1) {
        int r = goc_chan_recv(l->c, &l->value);
        GO_CHECK(r == 0, "later recv %d", r);
    } else {
        goc_chan_close(l->c);
    }
    atomic_fetch_add(l->done, 1);
}

static int main_wakeups(void *arg)
{
    (void)arg;
    atomic_long done = 0;
    long want = 0;
    for (int round = 0; round < 30; round++) {
        goc_chan *a = goc_chan_make(sizeof(int64_t), 0), *b = goc_chan_make(sizeof(int64_t), 0),
                 *d = goc_chan_make(sizeof(int64_t), 1);
        int64_t va = -1, vb = 1000 + round, vd = -1;
        goc_case cs[] = {GOC_RECV(a, &va), GOC_SEND(b, &vb), GOC_RECV(d, &vd),
                         GOC_RECV(NULL, NULL)};
        int kind = round % 3;
        struct later l = {.delay = (round % 5) * GOC_MILLISECOND, .done = &done};
        int want_idx;
        if (kind == 0) {
            l.c = a;
            l.op = 0;
            l.value = round;
            want_idx = 0;
        } else if (kind == 1) {
            l.c = b;
            l.op = 1;
            want_idx = 1;
        } else {
            l.c = d;
            l.op = 2;
            want_idx = 2;
        }
        goc_go(later_fn, &l);
        want++;
        int r = goc_select(cs, 4, round % 2 ? GOC_FOREVER : 10 * GOC_SECOND);
        GO_CHECK(r == want_idx, "round %d: select returned %d, want %d", round, r, want_idx);
        GO_CHECK(go_wait_ge(&done, want, 5000), "partner not done");
        if (kind == 0)
            GO_CHECK(va == round && !cs[0].closed, "round %d: received %lld", round, (long long)va);
        if (kind == 1)
            GO_CHECK(l.value == 1000 + round && !cs[1].closed, "round %d: partner got %lld", round,
                     (long long)l.value);
        if (kind == 2)
            GO_CHECK(cs[2].closed && vd == 0, "round %d: close: closed %d value %lld", round,
                     cs[2].closed, (long long)vd);
        goc_chan_release(a);
        goc_chan_release(b);
        goc_chan_release(d);
    }
    return 0;
}

Test(select, blocks_until_send_recv_or_close, .timeout = 20)
{
    cr_assert_eq(run_main(main_wakeups, NULL), 0);
}

/* Two partners become ready for one blocked select at once: exactly one
 * case proceeds; the other partner stays blocked with its value intact. */
struct race {
    goc_chan *a, *b;
    atomic_long *done;
    int64_t val;
};

static void race_sender(void *arg)
{
    struct race *r = arg;
    goc_chan *c = r->val % 2 ? r->b : r->a;
    int64_t v = r->val;
    int rc = goc_chan_send(c, &v);
    GO_CHECK(rc == 0, "race send %d", rc);
    atomic_fetch_add(r->done, 1);
}

static int main_one_case(void *arg)
{
    (void)arg;
    long rounds = test_scale(3000);
    atomic_long done = 0;
    long sent = 0;
    for (long i = 0; i < rounds && !test_failed(); i++) {
        goc_chan *a = goc_chan_make(sizeof(int64_t), 0), *b = goc_chan_make(sizeof(int64_t), 0);
        struct race ra = {a, b, &done, 2 * i}, rb = {a, b, &done, 2 * i + 1};
        goc_go(race_sender, &ra);
        goc_go(race_sender, &rb);
        sent += 2;
        if (i % 3 == 0)
            goc_yield();
        int64_t va = -1, vb = -1;
        goc_case cs[] = {GOC_RECV(a, &va), GOC_RECV(b, &vb)};
        int r = goc_select(cs, 2, GOC_FOREVER);
        GO_CHECK(r == 0 || r == 1, "select %d", r);
        if (r == 0)
            GO_CHECK(va == 2 * i && vb == -1, "case 0: va %lld vb %lld", (long long)va,
                     (long long)vb);
        if (r == 1)
            GO_CHECK(vb == 2 * i + 1 && va == -1, "case 1: va %lld vb %lld", (long long)va,
                     (long long)vb);
        /* The other sender is still there. */
        int64_t other = -1;
        int rc = goc_chan_recv(r == 0 ? b : a, &other);
        GO_CHECK(rc == 0 && other == (r == 0 ? 2 * i + 1 : 2 * i), "other value %lld",
                 (long long)other);
        GO_CHECK(go_wait_ge(&done, sent, 5000), "senders not done");
        goc_chan_release(a);
        goc_chan_release(b);
    }
    return 0;
}

Test(select, exactly_one_case_proceeds, .timeout = 30)
{
    cr_assert_eq(run_main(main_one_case, NULL), 0);
}

/* A select with both a send and a recv case on the same unbuffered channel
 * must not rendezvous with itself. */
static int main_no_self_match(void *arg)
{
    (void)arg;
    goc_chan *c = goc_chan_make(sizeof(int), 0);
    int s = 1, r = 0;
    goc_case cs[] = {GOC_SEND(c, &s), GOC_RECV(c, &r)};
    int rc = goc_select(cs, 2, 30 * GOC_MILLISECOND);
    GO_CHECK(rc == -ETIMEDOUT, "select matched its own send and recv: %d (r %d)", rc, r);
    goc_case cs2[] = {GOC_RECV(c, &r), GOC_SEND(c, &s)};
    rc = goc_select(cs2, 2, 0);
    GO_CHECK(rc == -EAGAIN, "select (timeout 0) matched its own send and recv: %d", rc);
    goc_chan_release(c);
    return 0;
}

Test(select, no_self_rendezvous, .timeout = 10)
{
    cr_assert_eq(run_main(main_no_self_match, NULL), 0);
}

/* ---- Go's TestSelfSelect ------------------------------------------------------------ */

struct selfsel {
    goc_chan *c;
    int p;
    size_t cap;
    goc_chan *done;
};

static void selfsel_fn(void *arg)
{
    struct selfsel *s = arg;
    for (int i = 0; i < 1000; i++) {
        int v = -1, p = s->p;
        goc_case a[] = {GOC_SEND(s->c, &p), GOC_RECV(s->c, &v)};
        goc_case b[] = {GOC_RECV(s->c, &v), GOC_SEND(s->c, &p)};
        bool first = s->p == 0 || i % 2 == 0;
        int r = goc_select(first ? a : b, 2, GOC_FOREVER);
        bool was_recv = first ? r == 1 : r == 0;
        if (was_recv && s->cap == 0 && v == s->p) {
            GO_CHECK(0, "self receive (p %d, iteration %d)", s->p, i);
            break;
        }
    }
    goc_chan_send(s->done, NULL);
}

static int main_selfselect(void *arg)
{
    (void)arg;
    const size_t caps[] = {0, 10};
    for (int k = 0; k < 2; k++) {
        goc_chan *c = goc_chan_make(sizeof(int), caps[k]);
        goc_chan *done = goc_chan_make(0, 2);
        struct selfsel s[2] = {{c, 0, caps[k], done}, {c, 1, caps[k], done}};
        goc_go(selfsel_fn, &s[0]);
        goc_go(selfsel_fn, &s[1]);
        goc_chan_recv(done, NULL);
        goc_chan_recv(done, NULL);
        goc_chan_release(c);
        goc_chan_release(done);
    }
    return 0;
}

Test(select, go_TestSelfSelect, .timeout = 30)
{
    cr_assert_eq(run_main(main_selfselect, NULL), 0);
}

/* ---- Go's TestSelectDuplicateChannel ------------------------------------------------- */

static goc_chan *dup_c, *dup_d, *dup_e;
static atomic_long dup_b_done;

static void dup_a(void *arg)
{
    (void)arg;
    int x;
    goc_case cs[] = {GOC_RECV(dup_c, &x), GOC_RECV(dup_c, &x), GOC_RECV(dup_d, &x)};
    int r = goc_select(cs, 3, GOC_FOREVER);
    GO_CHECK(r == 2 && x == 7, "A woke on case %d (%d)", r, x);
    int nine = 9;
    goc_chan_send(dup_e, &nine);
}

static void dup_b(void *arg)
{
    (void)arg;
    int x = 0;
    goc_chan_recv(dup_c, &x);
    GO_CHECK(x == 8, "B got %d", x);
    atomic_store(&dup_b_done, 1);
}

static int main_dup(void *arg)
{
    (void)arg;
    dup_c = goc_chan_make(sizeof(int), 0);
    dup_d = goc_chan_make(sizeof(int), 0);
    dup_e = goc_chan_make(sizeof(int), 0);
    goc_go(dup_a, NULL);
    goc_sleep(GOC_MILLISECOND); /* A queues first on c (twice) */
    goc_go(dup_b, NULL);
    goc_sleep(GOC_MILLISECOND); /* B queues on c behind A */
    int v = 7;
    goc_chan_send(dup_d, &v); /* wakes A, which dequeues itself from c */
    goc_chan_recv(dup_e, &v);
    v = 8;
    goc_chan_send(dup_c, &v); /* must reach B, not the departed A */
    GO_CHECK(go_wait_ge(&dup_b_done, 1, 5000), "B not woken");
    goc_chan_release(dup_c);
    goc_chan_release(dup_d);
    goc_chan_release(dup_e);
    return 0;
}

Test(select, go_TestSelectDuplicateChannel, .timeout = 10)
{
    cr_assert_eq(run_main(main_dup, NULL), 0);
}

/* The same channel in several recv cases receives each value once. */
static int main_dup_cases(void *arg)
{
    (void)arg;
    goc_chan *c = goc_chan_make(sizeof(int), 4);
    for (int i = 0; i < 4; i++)
        goc_chan_send(c, &i);
    int x[3] = {-1, -1, -1};
    for (int i = 0; i < 4; i++) {
        goc_case cs[] = {GOC_RECV(c, &x[0]), GOC_RECV(c, &x[1]), GOC_RECV(c, &x[2])};
        int r = goc_select(cs, 3, 0);
        GO_CHECK(r >= 0 && r < 3 && x[r] == i, "dup cases, value %d: case %d", i, r);
    }
    GO_CHECK(goc_chan_len(c) == 0, "len %zu", goc_chan_len(c));
    goc_chan_release(c);
    return 0;
}

Test(select, duplicate_recv_cases_take_one_value, .timeout = 10)
{
    cr_assert_eq(run_main(main_dup_cases, NULL), 0);
}

/* Two blocked send cases on one channel: the receiver that arrives takes
 * either case about half the time (the sudogs are queued in the random
 * poll order, not in case order). */
static goc_chan *tie_c;

static void tie_receiver(void *arg)
{
    goc_chan *c = arg; /* our own reference */
    int v;
    while (goc_chan_recv(c, &v) == 0)
        ;
    goc_chan_release(c);
}

static int main_blocked_ties(void *arg)
{
    (void)arg;
    enum { ROUNDS = 2000 };
    tie_c = goc_chan_make(sizeof(int), 0);
    int one = 1, two = 2;
    GO_SPAWN(tie_receiver, goc_chan_retain(tie_c));
    int wins[2] = {0, 0};
    for (int i = 0; i < ROUNDS; i++) {
        goc_case cs[] = {GOC_SEND(tie_c, &one), GOC_SEND(tie_c, &two)};
        int r = goc_select(cs, 2, GOC_FOREVER);
        GO_CHECK(r == 0 || r == 1, "select: %d", r);
        if (r == 0 || r == 1)
            wins[r]++;
    }
    goc_chan_close(tie_c);
    /* Binomial(2000, 0.5): sd 22; 800 is 9 sd away. (When the receiver
     * is already waiting, pass 1 picks in poll order, also uniform.) */
    GO_CHECK(wins[0] > 800 && wins[1] > 800, "case 0 won %d, case 1 won %d", wins[0], wins[1]);
    goc_chan_release(tie_c);
    return 0;
}

Test(select, blocked_cases_on_one_channel_win_evenly, .timeout = 30)
{
    cr_assert_eq(run_main(main_blocked_ties, NULL), 0);
}

/* ---- Go's TestPseudoRandomSend ---------------------------------------------------------- */

static goc_chan *prs_c;
static int prs_got[200];
static atomic_long prs_done;

static void prs_recv(void *arg)
{
    (void)arg;
    for (int i = 0; i < 200; i++)
        goc_chan_recv(prs_c, &prs_got[i]);
    atomic_store(&prs_done, 1);
}

static int main_prs(void *arg)
{
    (void)arg;
    const size_t caps[] = {0, 200};
    for (int k = 0; k < 2; k++) {
        prs_c = goc_chan_make(sizeof(int), caps[k]);
        atomic_store(&prs_done, 0);
        goc_go(prs_recv, NULL);
        int zero = 0, one = 1;
        for (int i = 0; i < 200; i++) {
            goc_case cs[] = {GOC_SEND(prs_c, &zero), GOC_SEND(prs_c, &one)};
            goc_select(cs, 2, GOC_FOREVER);
        }
        GO_CHECK(go_wait_ge(&prs_done, 1, 5000), "receiver not done");
        int n0 = 0, n1 = 0;
        for (int i = 0; i < 200; i++)
            prs_got[i] ? n1++ : n0++;
        /* Go's bound: neither value at or below 10%. */
        GO_CHECK(n0 > 20 && n1 > 20, "cap %zu: want pseudorandom, got %d zeros and %d ones",
                 caps[k], n0, n1);
        goc_chan_release(prs_c);
    }
    return 0;
}

Test(select, go_TestPseudoRandomSend, .timeout = 10)
{
    cr_assert_eq(run_main(main_prs, NULL), 0);
}

/* ---- fairness ------------------------------------------------------------------------------ */

/* Go's TestSelectFairness: two always-ready channels among four cases. */
struct fair {
    goc_chan *c1, *c2, *c3, *c4, *out, *done;
    atomic_long finished;
};

static void fair_server(void *arg)
{
    struct fair *f = arg;
    for (;;) {
        unsigned char b = 0;
        goc_case in[] = {GOC_RECV(f->c3, &b), GOC_RECV(f->c4, &b), GOC_RECV(f->c1, &b),
                         GOC_RECV(f->c2, &b)};
        goc_select(in, 4, GOC_FOREVER);
        goc_case out[] = {GOC_SEND(f->out, &b), GOC_RECV(f->done, NULL)};
        if (goc_select(out, 2, GOC_FOREVER) == 1)
            break;
    }
    atomic_store(&f->finished, 1);
}

static int main_fairness(void *arg)
{
    (void)arg;
    long trials = test_scale(100000);
    static struct fair f;
    f = (struct fair){goc_chan_make(1, (size_t)trials + 1),
                      goc_chan_make(1, (size_t)trials + 1),
                      goc_chan_make(1, 0),
                      goc_chan_make(1, 0),
                      goc_chan_make(1, 0),
                      goc_chan_make(0, 0),
                      0};
    unsigned char one = 1, two = 2;
    for (long i = 0; i < trials + 1; i++) {
        goc_chan_send(f.c1, &one);
        goc_chan_send(f.c2, &two);
    }
    goc_go(fair_server, &f);
    long cnt1 = 0, cnt2 = 0;
    for (long i = 0; i < trials; i++) {
        unsigned char b = 0;
        goc_chan_recv(f.out, &b);
        if (b == 1)
            cnt1++;
        else if (b == 2)
            cnt2++;
        else {
            GO_CHECK(0, "unexpected value %d", b);
            break;
        }
    }
    double r = (double)cnt1 / (double)trials;
    GO_CHECK(r >= 0.45 && r <= 0.55, "unfair select: in %ld trials, results were %ld, %ld", trials,
             cnt1, cnt2);
    goc_chan_close(f.done);
    GO_CHECK(go_wait_ge(&f.finished, 1, 5000), "server did not stop");
    goc_chan_release(f.c1);
    goc_chan_release(f.c2);
    goc_chan_release(f.c3);
    goc_chan_release(f.c4);
    goc_chan_release(f.out);
    goc_chan_release(f.done);
    return 0;
}

Test(select, go_TestSelectFairness, .timeout = 30)
{
    cr_assert_eq(run_main(main_fairness, NULL), 0);
}

/* Uniform among k ready cases at every position, send and recv mixed. */
static int main_uniform(void *arg)
{
    (void)arg;
    enum { K = 8 };
    goc_chan *c[K];
    for (int i = 0; i < K; i++)
        c[i] = goc_chan_make(sizeof(int), 1);
    long counts[K] = {0};
    long trials = test_scale(80000);
    int v = 0;
    for (long t = 0; t < trials; t++) {
        goc_case cs[K];
        for (int i = 0; i < K; i++) {
            /* Even: recv from a full buffer; odd: send into an empty one. */
            if (i % 2 == 0) {
                if (goc_chan_len(c[i]) == 0)
                    goc_chan_send(c[i], &v);
                cs[i] = GOC_RECV(c[i], &v);
            } else {
                if (goc_chan_len(c[i]) == 1)
                    goc_chan_recv(c[i], NULL);
                cs[i] = GOC_SEND(c[i], &v);
            }
        }
        int r = goc_select(cs, K, t % 2 ? 0 : GOC_FOREVER);
        if (r < 0 || r >= K) {
            GO_CHECK(0, "select %d", r);
            break;
        }
        counts[r]++;
    }
    double expect = (double)trials / K;
    for (int i = 0; i < K; i++)
        GO_CHECK(counts[i] > expect * 0.85 && counts[i] < expect * 1.15,
                 "case %d chosen %ld times of %ld (expected about %.0f)", i, counts[i], trials,
                 expect);
    for (int i = 0; i < K; i++)
        goc_chan_release(c[i]);
    return 0;
}

Test(select, uniform_among_ready_cases, .timeout = 20)
{
    cr_assert_eq(run_main(main_uniform, NULL), 0);
}

/* A busy channel (always ready) never starves a quiet one: each value on
 * the quiet channel is taken within a few selects. */
static goc_chan *busy_c, *quiet_c;
static atomic_int busy_stop;

static void busy_feeder(void *arg)
{
    (void)arg;
    int v = 1;
    while (!atomic_load(&busy_stop)) {
        goc_case cs[] = {GOC_SEND(busy_c, &v)};
        if (goc_select(cs, 1, GOC_MILLISECOND) == -ETIMEDOUT)
            continue;
    }
}

static int main_busy_quiet(void *arg)
{
    (void)arg;
    busy_c = goc_chan_make(sizeof(int), 64);
    quiet_c = goc_chan_make(sizeof(int), 1);
    int v = 1;
    for (int i = 0; i < 64; i++)
        goc_chan_send(busy_c, &v);
    goc_go(busy_feeder, NULL);
    long worst = 0, rounds = test_scale(2000);
    for (long round = 0; round < rounds; round++) {
        int q = 2;
        goc_chan_send(quiet_c, &q);
        long k = 0;
        for (;;) {
            int got = 0;
            goc_case cs[] = {GOC_RECV(busy_c, &got), GOC_RECV(quiet_c, &got)};
            int r = goc_select(cs, 2, GOC_FOREVER);
            k++;
            if (r == 1)
                break;
            if (k > 200)
                break;
        }
        if (k > worst)
            worst = k;
        if (k > 200) {
            GO_CHECK(0, "quiet channel starved for %ld selects (round %ld)", k, round);
            break;
        }
    }
    atomic_store(&busy_stop, 1);
    goc_sleep(10 * GOC_MILLISECOND);
    (void)worst;
    return 0;
}

Test(select, busy_channel_does_not_starve_quiet_one, .timeout = 20)
{
    cr_assert_eq(run_main(main_busy_quiet, NULL), 0);
}

/* ---- Go's TestSelectStress ------------------------------------------------------------------ */

struct sstress {
    goc_chan *c[4];
    long N;
    goc_chan *done;
};

static void ss_sender(void *arg)
{
    struct sstress *s = arg;
    static atomic_int next;
    int k = atomic_fetch_add(&next, 1) % 4;
    int z = 0;
    for (long i = 0; i < s->N; i++)
        goc_chan_send(s->c[k], &z);
    goc_chan_send(s->done, NULL);
}

static void ss_receiver(void *arg)
{
    struct sstress *s = arg;
    static atomic_int next;
    int k = atomic_fetch_add(&next, 1) % 4;
    int z;
    for (long i = 0; i < s->N; i++)
        goc_chan_recv(s->c[k], &z);
    goc_chan_send(s->done, NULL);
}

static void ss_select_sender(void *arg)
{
    struct sstress *s = arg;
    long n[4] = {0};
    goc_chan *c1[4] = {s->c[0], s->c[1], s->c[2], s->c[3]};
    int z = 0;
    for (long i = 0; i < 4 * s->N; i++) {
        goc_case cs[] = {GOC_SEND(c1[3], &z), GOC_SEND(c1[2], &z), GOC_SEND(c1[0], &z),
                         GOC_SEND(c1[1], &z)};
        static const int map[] = {3, 2, 0, 1};
        int r = goc_select(cs, 4, GOC_FOREVER);
        if (r < 0) {
            GO_CHECK(0, "select sender %d", r);
            break;
        }
        int k = map[r];
        if (++n[k] == s->N)
            c1[k] = NULL;
    }
    goc_chan_send(s->done, NULL);
}

static void ss_select_receiver(void *arg)
{
    struct sstress *s = arg;
    long n[4] = {0};
    goc_chan *c1[4] = {s->c[0], s->c[1], s->c[2], s->c[3]};
    int z;
    for (long i = 0; i < 4 * s->N; i++) {
        goc_case cs[] = {GOC_RECV(c1[0], &z), GOC_RECV(c1[1], &z), GOC_RECV(c1[2], &z),
                         GOC_RECV(c1[3], &z)};
        int r = goc_select(cs, 4, GOC_FOREVER);
        if (r < 0) {
            GO_CHECK(0, "select receiver %d", r);
            break;
        }
        if (++n[r] == s->N)
            c1[r] = NULL;
    }
    goc_chan_send(s->done, NULL);
}

static int main_select_stress(void *arg)
{
    (void)arg;
    static struct sstress s;
    s.c[0] = goc_chan_make(sizeof(int), 0);
    s.c[1] = goc_chan_make(sizeof(int), 0);
    s.c[2] = goc_chan_make(sizeof(int), 2);
    s.c[3] = goc_chan_make(sizeof(int), 3);
    s.N = test_scale(50000);
    s.done = goc_chan_make(0, 0);
    for (int k = 0; k < 4; k++) {
        goc_go(ss_sender, &s);
        goc_go(ss_receiver, &s);
    }
    goc_go(ss_select_sender, &s);
    goc_go(ss_select_receiver, &s);
    for (int i = 0; i < 10; i++)
        goc_chan_recv(s.done, NULL);
    for (int k = 0; k < 4; k++) {
        GO_CHECK(goc_chan_len(s.c[k]) == 0, "channel %d has %zu left", k, goc_chan_len(s.c[k]));
        goc_chan_release(s.c[k]);
    }
    goc_chan_release(s.done);
    return 0;
}

Test(select, go_TestSelectStress, .timeout = 60)
{
    cr_assert_eq(run_main(main_select_stress, NULL), 0);
}

/* ---- Go's TestNonblockSelectRace ------------------------------------------------------------- */

struct nbsr {
    goc_chan *c1, *c2, *done;
};

static void nbsr_fn(void *arg)
{
    struct nbsr *s = arg;
    goc_case cs[] = {GOC_RECV(s->c1, NULL), GOC_RECV(s->c2, NULL)};
    bool ok = goc_select(cs, 2, 0) >= 0;
    goc_chan_send(s->done, &ok);
}

static int main_nbsr(void *arg)
{
    (void)arg;
    long n = test_scale(50000);
    goc_chan *done = goc_chan_make(sizeof(bool), 1);
    for (long i = 0; i < n; i++) {
        struct nbsr s = {goc_chan_make(sizeof(int), 1), goc_chan_make(sizeof(int), 1), done};
        int one = 1;
        goc_chan_send(s.c1, &one);
        goc_go(nbsr_fn, &s);
        goc_chan_send(s.c2, &one);
        goc_case cs[] = {GOC_RECV(s.c1, NULL)};
        goc_select(cs, 1, 0);
        bool ok = false;
        goc_chan_recv(done, &ok);
        goc_chan_release(s.c1);
        goc_chan_release(s.c2);
        if (!ok) {
            GO_CHECK(0, "no chan is ready (iteration %ld)", i);
            break;
        }
    }
    goc_chan_release(done);
    return 0;
}

Test(select, go_TestNonblockSelectRace, .timeout = 60)
{
    cr_assert_eq(run_main(main_nbsr, NULL), 0);
}

/* ---- plain threads -------------------------------------------------------------------------- */

struct tsel {
    goc_chan *in, *out;
    int n;
};

/* The thread selects: recv on in (or a nil case), then send back on out
 * with a select too. */
static void *tsel_thread(void *arg)
{
    struct tsel *t = arg;
    for (int i = 0; i < t->n; i++) {
        long v = -1;
        goc_case cs[] = {GOC_RECV(NULL, NULL), GOC_RECV(t->in, &v)};
        int r = goc_select(cs, 2, i % 2 ? GOC_FOREVER : 10 * GOC_SECOND);
        GO_CHECK(r == 1 && v == i, "thread select %d: %d value %ld", i, r, v);
        v = -v;
        goc_case so[] = {GOC_SEND(t->out, &v)};
        r = goc_select(so, 1, GOC_FOREVER);
        GO_CHECK(r == 0, "thread send select %d", r);
    }
    return NULL;
}

static int main_thread_select(void *arg)
{
    struct tsel *t = arg;
    keepalive_start();
    pthread_t th = start_thread(tsel_thread, t);
    for (int i = 0; i < t->n; i++) {
        long v = i;
        goc_chan_send(t->in, &v);
        goc_chan_recv(t->out, &v);
        GO_CHECK(v == -i, "reply %ld", v);
    }
    pthread_join(th, NULL);
    keepalive_end();
    return 0;
}

Test(select, select_on_plain_thread, .timeout = 20)
{
    for (size_t cap = 0; cap < 2; cap++) {
        struct tsel t = {goc_chan_make(sizeof(long), cap), goc_chan_make(sizeof(long), cap),
                         (int)test_scale(10000)};
        cr_assert_eq(run_main(main_thread_select, &t), 0);
        goc_chan_release(t.in);
        goc_chan_release(t.out);
    }
}

/* Two plain threads, no runtime: one selects, the other sends. */
static void *tsel_plain_sender(void *arg)
{
    struct tsel *t = arg;
    for (int i = 0; i < t->n; i++) {
        long v = i;
        goc_chan_send(t->in, &v);
    }
    goc_chan_close(t->in);
    return NULL;
}

Test(select, select_between_plain_threads, .timeout = 20)
{
    struct tsel t = {goc_chan_make(sizeof(long), 0), NULL, (int)test_scale(20000)};
    pthread_t th = start_thread(tsel_plain_sender, &t);
    goc_chan *never = goc_chan_make(sizeof(long), 0);
    long v, want = 0;
    for (;;) {
        goc_case cs[] = {GOC_RECV(never, &v), GOC_RECV(t.in, &v)};
        int r = goc_select(cs, 2, GOC_FOREVER);
        cr_assert_eq(r, 1);
        if (cs[1].closed)
            break;
        cr_assert_eq(v, want);
        want++;
    }
    cr_assert_eq(want, t.n);
    pthread_join(th, NULL);
    goc_chan_release(t.in);
    goc_chan_release(never);
}

/* ---- goc_after as a select case ---------------------------------------------------------------
 */

static int main_after_case(void *arg)
{
    (void)arg;
    goc_chan *never = goc_chan_make(sizeof(int), 0);
    int64_t t0 = goc_now();
    goc_chan *tm = goc_after(20 * GOC_MILLISECOND);
    int x;
    int64_t when = 0;
    goc_case cs[] = {GOC_RECV(never, &x), GOC_RECV(tm, &when)};
    int r = goc_select(cs, 2, GOC_FOREVER);
    int64_t el = goc_now() - t0;
    GO_CHECK(r == 1 && when >= t0 + 20 * GOC_MILLISECOND, "after case: %d", r);
    GO_CHECK(el >= 20 * GOC_MILLISECOND && el < 220 * GOC_MILLISECOND * test_slack(),
             "after case after %lld ms", (long long)test_ms(el));
    goc_chan_release(tm);
    goc_chan_release(never);
    return 0;
}

Test(select, after_as_timeout_case, .timeout = 10)
{
    cr_assert_eq(run_main(main_after_case, NULL), 0);
}

/* ---- deadlock ---------------------------------------------------------------------------------
 */

static void run_deadlock(const char *mode, const char *reason)
{
    test_proc p;
    const char *args[] = {mode, NULL};
    cr_assert_eq(test_proc_start(&p, "helper_chan_deadlock", args, NULL), 0);
    test_proc_finish(&p, 20000);
    const char *err = p.err.data ? p.err.data : "";
    cr_assert(!p.timed_out, "helper_chan_deadlock %s hung:\n%s", mode, err);
    cr_assert(WIFEXITED(p.status) && WEXITSTATUS(p.status) == 2, "%s: status 0x%x, stderr:\n%s",
              mode, p.status, err);
    cr_assert(strstr(err, "all goroutines are asleep - deadlock!"), "%s:\n%s", mode, err);
    if (reason)
        cr_assert(strstr(err, reason), "%s: wait reason \"%s\" not in the dump:\n%s", mode, reason,
                  err);
    test_proc_free(&p);
}

/* Every goroutine blocked on channels, nothing else can wake them: Go's
 * fatal deadlock error, exit status 2, and the dump names what each one
 * waits on as Go does. */
Test(select, deadlock_on_channels_is_fatal, .timeout = 60)
{
    run_deadlock("recv", NULL);
    run_deadlock("send", NULL);
    run_deadlock("select", NULL);
    run_deadlock("nilselect", NULL);
    run_deadlock("empty", NULL);
}

Test(select, deadlock_dump_names_channel_waits, .timeout = 60)
{
    run_deadlock("recv", "[chan receive]");
    run_deadlock("send", "[chan send]");
    run_deadlock("select", "[select]");
    run_deadlock("empty", "[select (no cases)]");
}
