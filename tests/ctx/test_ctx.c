/*
 * test_ctx.c — goc_ctx: background, with_cancel (done closes, -ECANCELED,
 * cancel twice), propagation through a tree (10 children x 10 grandchildren
 * of every kind), children of cancelled parents, independence of siblings
 * and parents, with_timeout / with_deadline (-ETIMEDOUT, deadline = min of
 * parent's and own), with_value (lookup up the chain, shadowing, missing
 * key), goc_select on done, retain/release balance (ASan/LSan), release in
 * any order, plain threads, and races: cancel vs child creation, child
 * cancel vs parent cancel (lock order), concurrent cancels.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>

#include "runtime/util.h"

#define MS GOC_MILLISECOND

static goc_duration late_bound(goc_duration d)
{
    return (d + 250 * MS) * test_slack();
}

/* Whether c's done channel is closed now (a receive proceeds at once with
 * -EPIPE). NULL done: never. */
static bool done_closed(goc_ctx *c)
{
    goc_chan *d = goc_ctx_done(c);
    if (!d)
        return false;
    return goc_chan_try_recv(d, NULL) == -EPIPE;
}

/* Wait (select with a timeout) until c's done channel is closed. */
static bool wait_done(goc_ctx *c, goc_duration timeout)
{
    goc_chan *d = goc_ctx_done(c);
    if (!d)
        return false;
    goc_case cs[] = {GOC_RECV(d, NULL)};
    int r = goc_select(cs, 1, timeout);
    return r == 0 && cs[0].closed;
}

/* ---- background ------------------------------------------------------------ */

static void background_checks(void)
{
    goc_ctx *bg = goc_ctx_background();
    GO_CHECK(bg != NULL, "background NULL");
    GO_CHECK(goc_ctx_background() == bg, "background not a singleton");
    GO_CHECK(goc_ctx_err(bg) == 0, "background err %d", goc_ctx_err(bg));
    GO_CHECK(goc_ctx_done(bg) == NULL, "background done not NULL");
    GO_CHECK(goc_ctx_deadline(bg) == 0, "background deadline %lld",
             (long long)goc_ctx_deadline(bg));
    static int key;
    GO_CHECK(goc_ctx_value(bg, &key) == NULL, "background has a value");
    GO_CHECK(goc_ctx_retain(bg) == bg, "retain(background)");
    goc_ctx_release(bg);
    for (int i = 0; i < 100; i++)
        goc_ctx_release(bg); /* static: releasing does nothing */
    goc_ctx_cancel(bg);      /* no-op */
    GO_CHECK(goc_ctx_err(bg) == 0, "background cancelled by cancel(): err %d", goc_ctx_err(bg));
    GO_CHECK(goc_ctx_done(bg) == NULL, "background done after cancel");
    goc_ctx_release(NULL);

    /* NULL parents. */
    GO_CHECK(goc_ctx_with_cancel(NULL) == NULL, "with_cancel(NULL)");
    GO_CHECK(goc_ctx_with_timeout(NULL, MS) == NULL, "with_timeout(NULL)");
    GO_CHECK(goc_ctx_with_deadline(NULL, goc_now()) == NULL, "with_deadline(NULL)");
    GO_CHECK(goc_ctx_with_value(NULL, &key, &key) == NULL, "with_value(NULL)");

    /* A value-only child of background can never be cancelled either. */
    goc_ctx *v = goc_ctx_with_value(bg, &key, &key);
    GO_CHECK(v != NULL, "with_value(background) NULL");
    GO_CHECK(goc_ctx_done(v) == NULL, "value child of background has a done channel");
    GO_CHECK(goc_ctx_err(v) == 0 && goc_ctx_deadline(v) == 0, "value child err/deadline");
    goc_ctx_cancel(v); /* cancels nothing */
    GO_CHECK(goc_ctx_err(v) == 0, "value ctx err %d after cancel", goc_ctx_err(v));
    GO_CHECK(goc_ctx_err(bg) == 0, "background err after value child's cancel");
    goc_ctx_release(v);
}

static int main_background(void *arg)
{
    (void)arg;
    background_checks();
    /* A nil done in select is never ready. */
    goc_case cs[] = {GOC_RECV(goc_ctx_done(goc_ctx_background()), NULL)};
    int r = goc_select(cs, 1, 10 * MS);
    GO_CHECK(r == -ETIMEDOUT, "select on background done: %d", r);
    return 0;
}

Test(ctx, background_never_cancelled, .timeout = 20)
{
    /* Before the runtime starts, then inside it. */
    background_checks();
    GO_CHECK_REPORT();
    cr_assert_eq(run_main(main_background, NULL), 0);
}

/* ---- with_cancel --------------------------------------------------------------- */

static int main_cancel(void *arg)
{
    (void)arg;
    goc_ctx *c = goc_ctx_with_cancel(goc_ctx_background());
    GO_CHECK(c != NULL, "with_cancel NULL");
    goc_chan *d = goc_ctx_done(c);
    GO_CHECK(d != NULL, "with_cancel: done NULL");
    GO_CHECK(goc_ctx_done(c) == d, "done not stable");
    GO_CHECK(goc_ctx_err(c) == 0, "err %d before cancel", goc_ctx_err(c));
    GO_CHECK(goc_chan_try_recv(d, NULL) == -EAGAIN, "done ready before cancel");
    GO_CHECK(goc_ctx_deadline(c) == 0, "deadline %lld", (long long)goc_ctx_deadline(c));
    goc_ctx_cancel(c);
    GO_CHECK(goc_ctx_err(c) == -ECANCELED, "err %d after cancel", goc_ctx_err(c));
    GO_CHECK(goc_chan_recv(d, NULL) == -EPIPE, "done not closed after cancel");
    GO_CHECK(goc_chan_recv(d, NULL) == -EPIPE, "done: second recv");
    goc_ctx_cancel(c); /* twice: fine */
    GO_CHECK(goc_ctx_err(c) == -ECANCELED, "err %d after second cancel", goc_ctx_err(c));
    GO_CHECK(goc_ctx_done(c) == d, "done changed after cancel");
    GO_CHECK(goc_ctx_err(goc_ctx_background()) == 0, "background affected");
    goc_ctx_release(c);
    return 0;
}

Test(ctx, with_cancel_closes_done, .timeout = 20)
{
    cr_assert_eq(run_main(main_cancel, NULL), 0);
}

/* A goroutine blocked on done wakes on cancel. */
static atomic_long woke;

static void wait_on_done(void *arg)
{
    goc_ctx *c = arg;
    int r = goc_chan_recv(goc_ctx_done(c), NULL);
    GO_CHECK(r == -EPIPE, "recv on done: %d", r);
    GO_CHECK(goc_ctx_err(c) != 0, "woken before err was set");
    goc_ctx_release(c);
    atomic_fetch_add(&woke, 1);
}

static int main_wake(void *arg)
{
    (void)arg;
    goc_ctx *c = goc_ctx_with_cancel(goc_ctx_background());
    for (int i = 0; i < 50; i++)
        GO_SPAWN(wait_on_done, goc_ctx_retain(c));
    goc_sleep(10 * MS);
    GO_CHECK(atomic_load(&woke) == 0, "woke before cancel");
    goc_ctx_cancel(c);
    GO_CHECK(go_wait_ge(&woke, 50, 2000), "%ld of 50 waiters woke", atomic_load(&woke));
    goc_ctx_release(c);
    return 0;
}

Test(ctx, cancel_wakes_blocked_receivers, .timeout = 20)
{
    cr_assert_eq(run_main(main_wake, NULL), 0);
}

/* ---- the tree --------------------------------------------------------------------- */

#define FAN 10
static int vkey;

static goc_ctx *make_kind(goc_ctx *parent, int kind)
{
    switch (kind % 4) {
    case 0:
        return goc_ctx_with_cancel(parent);
    case 1:
        return goc_ctx_with_timeout(parent, GOC_HOUR);
    case 2:
        return goc_ctx_with_deadline(parent, goc_now() + GOC_HOUR);
    default:
        return goc_ctx_with_value(parent, &vkey, parent);
    }
}

static int main_tree(void *arg)
{
    (void)arg;
    goc_ctx *root = goc_ctx_with_cancel(goc_ctx_background());
    goc_ctx *kid[FAN], *gk[FAN][FAN];
    for (int i = 0; i < FAN; i++) {
        kid[i] = make_kind(root, i);
        GO_CHECK(kid[i] != NULL, "child %d NULL", i);
        for (int j = 0; j < FAN; j++) {
            gk[i][j] = make_kind(kid[i], j + i);
            GO_CHECK(gk[i][j] != NULL, "grandchild %d.%d NULL", i, j);
        }
    }
    for (int i = 0; i < FAN; i++)
        for (int j = 0; j < FAN; j++) {
            GO_CHECK(goc_ctx_err(gk[i][j]) == 0, "grandchild %d.%d err before cancel", i, j);
            GO_CHECK(goc_ctx_done(gk[i][j]) != NULL, "grandchild %d.%d: no done", i, j);
            GO_CHECK(!done_closed(gk[i][j]), "grandchild %d.%d done before cancel", i, j);
        }
    /* Some goroutines blocked on grandchildren. */
    for (int i = 0; i < FAN; i++)
        GO_SPAWN(wait_on_done, goc_ctx_retain(gk[i][(i * 3) % FAN]));

    goc_ctx_cancel(root);
    GO_CHECK(goc_ctx_err(root) == -ECANCELED, "root err %d", goc_ctx_err(root));
    for (int i = 0; i < FAN; i++) {
        GO_CHECK(goc_ctx_err(kid[i]) == -ECANCELED, "child %d err %d", i, goc_ctx_err(kid[i]));
        GO_CHECK(done_closed(kid[i]), "child %d done open", i);
        for (int j = 0; j < FAN; j++) {
            GO_CHECK(goc_ctx_err(gk[i][j]) == -ECANCELED, "grandchild %d.%d err %d", i, j,
                     goc_ctx_err(gk[i][j]));
            GO_CHECK(done_closed(gk[i][j]), "grandchild %d.%d done open", i, j);
        }
    }
    GO_CHECK(go_wait_ge(&woke, FAN, 2000), "%ld of %d grandchild waiters woke", atomic_load(&woke),
             FAN);
    /* Released in a mixed order: leaves first for half, parents first for
     * the rest. */
    for (int i = 0; i < FAN; i++) {
        if (i % 2) {
            goc_ctx_release(kid[i]);
            for (int j = 0; j < FAN; j++)
                goc_ctx_release(gk[i][j]);
        } else {
            for (int j = 0; j < FAN; j++)
                goc_ctx_release(gk[i][j]);
            goc_ctx_release(kid[i]);
        }
    }
    goc_ctx_release(root);
    return 0;
}

Test(ctx, cancel_propagates_to_all_descendants, .timeout = 20)
{
    cr_assert_eq(run_main(main_tree, NULL), 0);
}

/* A deep chain: cancel at the top reaches the bottom. */
static int main_chain(void *arg)
{
    (void)arg;
    enum { DEPTH = 1000 };
    goc_ctx **c = calloc(DEPTH, sizeof *c);
    c[0] = goc_ctx_with_cancel(goc_ctx_background());
    for (int i = 1; i < DEPTH; i++)
        c[i] = make_kind(c[i - 1], i);
    static int k2;
    goc_ctx *leaf = goc_ctx_with_value(c[DEPTH - 1], &k2, &k2);
    GO_CHECK(goc_ctx_value(leaf, &vkey) == c[DEPTH - 2], "value through 1000 levels");
    goc_ctx_cancel(c[0]);
    for (int i = 0; i < DEPTH; i++)
        if (goc_ctx_err(c[i]) != -ECANCELED) {
            GO_CHECK(0, "level %d err %d", i, goc_ctx_err(c[i]));
            break;
        }
    GO_CHECK(wait_done(leaf, 10 * MS), "leaf done not closed");
    /* Release top-down: each child holds its parent. */
    for (int i = 0; i < DEPTH; i++)
        goc_ctx_release(c[i]);
    GO_CHECK(goc_ctx_value(leaf, &k2) == &k2, "leaf value after releasing its ancestors");
    goc_ctx_release(leaf);
    free(c);
    return 0;
}

Test(ctx, deep_chain, .timeout = 20)
{
    cr_assert_eq(run_main(main_chain, NULL), 0);
}

static int main_child_of_cancelled(void *arg)
{
    (void)arg;
    goc_ctx *p = goc_ctx_with_cancel(goc_ctx_background());
    goc_ctx_cancel(p);
    for (int kind = 0; kind < 4; kind++) {
        goc_ctx *c = make_kind(p, kind);
        GO_CHECK(c != NULL, "kind %d NULL", kind);
        GO_CHECK(goc_ctx_err(c) == -ECANCELED, "kind %d child of cancelled parent: err %d", kind,
                 goc_ctx_err(c));
        GO_CHECK(done_closed(c), "kind %d child of cancelled parent: done open", kind);
        goc_ctx *g = goc_ctx_with_cancel(c);
        GO_CHECK(goc_ctx_err(g) == -ECANCELED && done_closed(g), "grandchild not cancelled");
        goc_ctx_cancel(g);
        goc_ctx_release(g);
        goc_ctx_release(c);
    }
    /* A timed-out parent: children start with -ETIMEDOUT. */
    goc_ctx *t = goc_ctx_with_deadline(goc_ctx_background(), goc_now() - MS);
    GO_CHECK(goc_ctx_err(t) == -ETIMEDOUT, "past deadline: err %d", goc_ctx_err(t));
    GO_CHECK(done_closed(t), "past deadline: done open");
    goc_ctx *tc = goc_ctx_with_cancel(t);
    GO_CHECK(goc_ctx_err(tc) == -ETIMEDOUT, "child of timed-out: err %d", goc_ctx_err(tc));
    goc_ctx_release(tc);
    goc_ctx_release(t);
    goc_ctx_release(p);
    return 0;
}

Test(ctx, child_of_cancelled_parent_starts_cancelled, .timeout = 20)
{
    cr_assert_eq(run_main(main_child_of_cancelled, NULL), 0);
}

static int main_independent(void *arg)
{
    (void)arg;
    goc_ctx *p = goc_ctx_with_cancel(goc_ctx_background());
    goc_ctx *a = goc_ctx_with_cancel(p);
    goc_ctx *b = goc_ctx_with_timeout(p, GOC_HOUR);
    goc_ctx *a1 = goc_ctx_with_cancel(a);
    goc_ctx *b1 = goc_ctx_with_cancel(b);
    goc_ctx_cancel(a);
    GO_CHECK(goc_ctx_err(a) == -ECANCELED && goc_ctx_err(a1) == -ECANCELED,
             "cancelled subtree: %d %d", goc_ctx_err(a), goc_ctx_err(a1));
    GO_CHECK(goc_ctx_err(p) == 0 && !done_closed(p), "parent affected by child's cancel");
    GO_CHECK(goc_ctx_err(b) == 0 && !done_closed(b), "sibling affected");
    GO_CHECK(goc_ctx_err(b1) == 0 && !done_closed(b1), "sibling's child affected");
    goc_ctx_cancel(b1);
    GO_CHECK(goc_ctx_err(b) == 0, "parent b affected by b1's cancel");
    /* Cancel, release a child and then cancel the parent: the parent
     * must not touch the released child (ASan). */
    goc_ctx_release(a1);
    goc_ctx_release(a);
    /* A child released without being cancelled (Go would leak it until the
     * parent is cancelled): the parent's cancel must not touch freed
     * memory, and nothing leaks. */
    for (int i = 0; i < 100; i++)
        goc_ctx_release(make_kind(p, i));
    goc_ctx_cancel(p);
    GO_CHECK(goc_ctx_err(b) == -ECANCELED && goc_ctx_err(b1) == -ECANCELED, "b subtree: %d %d",
             goc_ctx_err(b), goc_ctx_err(b1));
    goc_ctx_release(b1);
    goc_ctx_release(b);
    goc_ctx_release(p);
    return 0;
}

Test(ctx, cancel_of_child_leaves_parent_and_siblings, .timeout = 20)
{
    cr_assert_eq(run_main(main_independent, NULL), 0);
}

/* ---- timeouts and deadlines ----------------------------------------------------------- */

static int main_timeout(void *arg)
{
    (void)arg;
    int64_t t0 = goc_now();
    goc_ctx *c = goc_ctx_with_timeout(goc_ctx_background(), 30 * MS);
    GO_CHECK(c != NULL, "with_timeout NULL");
    int64_t dl = goc_ctx_deadline(c);
    GO_CHECK(dl >= t0 + 30 * MS && dl <= goc_now() + 30 * MS, "deadline %lld ms from t0",
             (long long)test_ms(dl - t0));
    GO_CHECK(goc_ctx_err(c) == 0, "err %d before the deadline", goc_ctx_err(c));
    GO_CHECK(wait_done(c, late_bound(30 * MS)), "done not closed by the deadline");
    int64_t el = goc_now() - t0;
    GO_CHECK(el >= 30 * MS, "done closed after %lld us", (long long)el / 1000);
    GO_CHECK(goc_ctx_err(c) == -ETIMEDOUT, "err %d after the deadline", goc_ctx_err(c));
    goc_ctx_cancel(c); /* after the timeout: err stays -ETIMEDOUT */
    GO_CHECK(goc_ctx_err(c) == -ETIMEDOUT, "err %d after cancel of a timed-out ctx",
             goc_ctx_err(c));
    goc_ctx_release(c);

    /* Cancelled before its deadline: -ECANCELED, and stays so. */
    c = goc_ctx_with_timeout(goc_ctx_background(), 10 * MS);
    goc_ctx_cancel(c);
    GO_CHECK(goc_ctx_err(c) == -ECANCELED, "cancelled timeout ctx: err %d", goc_ctx_err(c));
    goc_sleep(30 * MS);
    GO_CHECK(goc_ctx_err(c) == -ECANCELED, "err changed to %d at the deadline", goc_ctx_err(c));
    goc_ctx_release(c);

    /* Zero and negative timeouts: timed out at once. */
    c = goc_ctx_with_timeout(goc_ctx_background(), 0);
    GO_CHECK(goc_ctx_err(c) == -ETIMEDOUT || wait_done(c, late_bound(0)), "timeout 0");
    GO_CHECK(goc_ctx_err(c) == -ETIMEDOUT, "timeout 0: err %d", goc_ctx_err(c));
    goc_ctx_release(c);
    c = goc_ctx_with_timeout(goc_ctx_background(), -GOC_SECOND);
    GO_CHECK(goc_ctx_err(c) == -ETIMEDOUT || wait_done(c, late_bound(0)), "timeout -1s");
    GO_CHECK(goc_ctx_err(c) == -ETIMEDOUT, "timeout -1s: err %d", goc_ctx_err(c));
    goc_ctx_release(c);

    /* with_deadline. */
    int64_t when = goc_now() + 20 * MS;
    c = goc_ctx_with_deadline(goc_ctx_background(), when);
    GO_CHECK(goc_ctx_deadline(c) == when, "with_deadline: deadline %lld, want %lld",
             (long long)goc_ctx_deadline(c), (long long)when);
    GO_CHECK(wait_done(c, late_bound(20 * MS)), "with_deadline: done never closed");
    GO_CHECK(goc_now() >= when, "with_deadline: done before the deadline");
    GO_CHECK(goc_ctx_err(c) == -ETIMEDOUT, "with_deadline: err %d", goc_ctx_err(c));
    goc_ctx_release(c);
    return 0;
}

Test(ctx, with_timeout_and_deadline, .timeout = 20)
{
    cr_assert_eq(run_main(main_timeout, NULL), 0);
}

static int main_deadline_min(void *arg)
{
    (void)arg;
    /* Wide margins: the parent must outlive the early child's timeout and
     * its propagation even on a loaded machine. */
    int64_t pd = goc_now() + 400 * MS;
    goc_ctx *p = goc_ctx_with_deadline(goc_ctx_background(), pd);
    /* Later own deadline: the parent's wins. */
    goc_ctx *late = goc_ctx_with_timeout(p, GOC_HOUR);
    GO_CHECK(goc_ctx_deadline(late) == pd, "later child: deadline %lld ms off the parent's",
             (long long)test_ms(goc_ctx_deadline(late) - pd));
    goc_ctx *late2 = goc_ctx_with_deadline(p, pd + 1);
    GO_CHECK(goc_ctx_deadline(late2) == pd, "deadline pd+1 under pd: %lld",
             (long long)(goc_ctx_deadline(late2) - pd));
    /* Earlier own deadline: its own. */
    int64_t ed = pd - 350 * MS;
    goc_ctx *early = goc_ctx_with_deadline(p, ed);
    GO_CHECK(goc_ctx_deadline(early) == ed, "earlier child: deadline %lld",
             (long long)(goc_ctx_deadline(early) - ed));
    /* Inherited through cancel and value contexts. */
    goc_ctx *cc = goc_ctx_with_cancel(early);
    goc_ctx *vc = goc_ctx_with_value(cc, &vkey, NULL);
    GO_CHECK(goc_ctx_deadline(cc) == ed && goc_ctx_deadline(vc) == ed,
             "cancel/value children don't inherit the deadline");

    GO_CHECK(wait_done(early, late_bound(20 * MS)), "early child never timed out");
    GO_CHECK(goc_ctx_err(early) == -ETIMEDOUT, "early: err %d", goc_ctx_err(early));
    /* The timer's cancel walk may still be on its way down (as in Go, where
     * a parent's Done closes before its children are cancelled): wait for
     * the children's own done. */
    GO_CHECK(wait_done(cc, late_bound(0)) && wait_done(vc, late_bound(0)),
             "early's children never done");
    GO_CHECK(goc_ctx_err(vc) == -ETIMEDOUT && goc_ctx_err(cc) == -ETIMEDOUT,
             "early's children: %d %d", goc_ctx_err(cc), goc_ctx_err(vc));
    GO_CHECK(goc_ctx_err(p) == 0, "parent timed out with its earlier child");
    GO_CHECK(goc_ctx_err(late) == 0, "sibling timed out with the earlier child");

    GO_CHECK(wait_done(late, late_bound(400 * MS)), "late child never done");
    GO_CHECK(goc_now() >= pd, "late child done before the parent's deadline");
    GO_CHECK(goc_ctx_err(p) == -ETIMEDOUT, "parent: err %d", goc_ctx_err(p));
    GO_CHECK(goc_ctx_err(late) == -ETIMEDOUT,
             "child of a timed-out parent: err %d (Go: "
             "DeadlineExceeded)",
             goc_ctx_err(late));
    /* Propagation reaches siblings one after another (as in Go): wait. */
    GO_CHECK(wait_done(late2, late_bound(40 * MS)), "late2 never done");
    GO_CHECK(goc_ctx_err(late2) == -ETIMEDOUT, "late2: err %d", goc_ctx_err(late2));

    goc_ctx_release(vc);
    goc_ctx_release(cc);
    goc_ctx_release(early);
    goc_ctx_release(late2);
    goc_ctx_release(late);
    goc_ctx_release(p);

    /* Background parent, cancel parent without deadline: own deadline. */
    goc_ctx *q = goc_ctx_with_cancel(goc_ctx_background());
    int64_t qd = goc_now() + GOC_HOUR;
    goc_ctx *qc = goc_ctx_with_deadline(q, qd);
    GO_CHECK(goc_ctx_deadline(qc) == qd, "deadline under a deadline-less parent");
    GO_CHECK(goc_ctx_deadline(q) == 0, "parent got the child's deadline");
    goc_ctx_release(qc); /* released pending: its timer must not fire into freed memory */
    goc_ctx_release(q);
    return 0;
}

Test(ctx, deadline_is_min_of_parent_and_own, .timeout = 20)
{
    cr_assert_eq(run_main(main_deadline_min, NULL), 0);
}

/* Released while the timer is pending: no fire into freed memory, no leak,
 * no timer left behind. */
static int main_timeout_release(void *arg)
{
    (void)arg;
    goc_stats st;
    goc_read_stats(&st);
    uint64_t base = st.timers;
    for (int i = 0; i < 200; i++)
        goc_ctx_release(goc_ctx_with_timeout(goc_ctx_background(), (i % 10) * MS / 2));
    long n = test_scale(100000);
    int64_t t0 = goc_now();
    for (long i = 0; i < n; i++) {
        goc_ctx *c = goc_ctx_with_timeout(goc_ctx_background(), GOC_HOUR);
        goc_ctx_cancel(c);
        goc_ctx_release(c);
    }
    int64_t el = goc_now() - t0;
    goc_sleep(20 * MS);
    goc_read_stats(&st);
    GO_CHECK(st.timers <= base + 2000,
             "timers %llu after %ld timeout ctx create+cancel (base %llu)",
             (unsigned long long)st.timers, n, (unsigned long long)base);
    GO_CHECK(el < 2 * GOC_SECOND * test_slack(), "%ld with_timeout+cancel took %lld ms", n,
             (long long)test_ms(el));
    return 0;
}

Test(ctx, timeout_released_before_deadline, .timeout = 30)
{
    cr_assert_eq(run_main(main_timeout_release, NULL), 0);
}

/* ---- values -------------------------------------------------------------------------- */

static int main_values(void *arg)
{
    (void)arg;
    static int ka, kb, kmissing;
    static char same_content_a[4] = "k", same_content_b[4] = "k";
    int va = 1, vb = 2, va2 = 3;
    goc_ctx *bg = goc_ctx_background();
    goc_ctx *c1 = goc_ctx_with_value(bg, &ka, &va);
    goc_ctx *c2 = goc_ctx_with_cancel(c1);
    goc_ctx *c3 = goc_ctx_with_value(c2, &kb, &vb);
    goc_ctx *c4 = goc_ctx_with_timeout(c3, GOC_HOUR);
    goc_ctx *c5 = goc_ctx_with_value(c4, &ka, &va2); /* shadows ka */
    GO_CHECK(goc_ctx_value(c1, &ka) == &va, "c1 ka");
    GO_CHECK(goc_ctx_value(c1, &kb) == NULL, "c1 kb not NULL");
    GO_CHECK(goc_ctx_value(c2, &ka) == &va, "through a cancel ctx");
    GO_CHECK(goc_ctx_value(c3, &ka) == &va && goc_ctx_value(c3, &kb) == &vb, "c3");
    GO_CHECK(goc_ctx_value(c4, &ka) == &va && goc_ctx_value(c4, &kb) == &vb,
             "through a timeout ctx");
    GO_CHECK(goc_ctx_value(c5, &ka) == &va2, "shadowing: %p", goc_ctx_value(c5, &ka));
    GO_CHECK(goc_ctx_value(c4, &ka) == &va, "shadow leaked upward");
    GO_CHECK(goc_ctx_value(c5, &kb) == &vb, "c5 kb");
    GO_CHECK(goc_ctx_value(c5, &kmissing) == NULL, "missing key");
    GO_CHECK(goc_ctx_value(c5, NULL) == NULL, "NULL key");

    /* Keys compare by address, not contents. */
    goc_ctx *s = goc_ctx_with_value(bg, same_content_a, &va);
    GO_CHECK(goc_ctx_value(s, same_content_b) == NULL, "key compared by contents");
    GO_CHECK(goc_ctx_value(s, same_content_a) == &va, "key by address");
    /* A NULL value is a value, and shadows. */
    goc_ctx *nul = goc_ctx_with_value(c5, &kb, NULL);
    GO_CHECK(goc_ctx_value(nul, &kb) == NULL, "NULL value does not shadow");
    GO_CHECK(goc_ctx_value(nul, &ka) == &va2, "below NULL value");

    /* Cancel doesn't remove values; a value ctx's done/err follow its
     * parent. */
    GO_CHECK(goc_ctx_done(c5) != NULL && goc_ctx_done(c1) == NULL, "value ctx done");
    goc_ctx_cancel(c2);
    GO_CHECK(goc_ctx_value(c5, &kb) == &vb, "value after cancel");
    GO_CHECK(goc_ctx_err(c3) == -ECANCELED && goc_ctx_err(c5) == -ECANCELED,
             "value ctx err after ancestor cancel: %d %d", goc_ctx_err(c3), goc_ctx_err(c5));
    GO_CHECK(done_closed(c3) && done_closed(c5), "value ctx done after ancestor cancel");
    GO_CHECK(goc_ctx_err(c1) == 0, "c1 affected");

    goc_ctx *all[] = {nul, s, c5, c4, c3, c2, c1};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        goc_ctx_release(all[i]);
    return 0;
}

Test(ctx, values_lookup_shadow_missing, .timeout = 20)
{
    cr_assert_eq(run_main(main_values, NULL), 0);
}

/* ---- select on done ------------------------------------------------------------------- */

static goc_ctx *sel_ctx;
static goc_chan *sel_ch;
static atomic_long sel_result = -100;

static void selector(void *arg)
{
    (void)arg;
    int v = 0;
    goc_case cs[] = {GOC_RECV(sel_ch, &v), GOC_RECV(goc_ctx_done(sel_ctx), NULL)};
    int r = goc_select(cs, 2, GOC_FOREVER);
    GO_CHECK(r != 1 || cs[1].closed, "done case proceeded without closed");
    atomic_store(&sel_result, r);
}

static int main_select(void *arg)
{
    (void)arg;
    /* Cancel. */
    sel_ctx = goc_ctx_with_cancel(goc_ctx_background());
    sel_ch = goc_chan_make(sizeof(int), 0);
    GO_SPAWN(selector, NULL);
    goc_sleep(20 * MS);
    GO_CHECK(atomic_load(&sel_result) == -100, "select returned early: %ld",
             atomic_load(&sel_result));
    goc_ctx_cancel(sel_ctx);
    int64_t deadline = goc_now() + late_bound(0);
    while (atomic_load(&sel_result) == -100 && goc_now() < deadline)
        goc_sleep(MS);
    GO_CHECK(atomic_load(&sel_result) == 1, "select on done after cancel: %ld",
             atomic_load(&sel_result));
    goc_ctx_release(sel_ctx);

    /* Timeout. */
    atomic_store(&sel_result, -100);
    int64_t t0 = goc_now(); /* before: the deadline counts from creation */
    sel_ctx = goc_ctx_with_timeout(goc_ctx_background(), 20 * MS);
    GO_SPAWN(selector, NULL);
    deadline = goc_now() + late_bound(20 * MS);
    while (atomic_load(&sel_result) == -100 && goc_now() < deadline)
        goc_sleep(MS);
    GO_CHECK(atomic_load(&sel_result) == 1, "select on timeout done: %ld",
             atomic_load(&sel_result));
    GO_CHECK(goc_now() - t0 >= 20 * MS, "timeout done too early");
    goc_ctx_release(sel_ctx);

    /* The channel case still works while the ctx is live. */
    atomic_store(&sel_result, -100);
    sel_ctx = goc_ctx_with_cancel(goc_ctx_background());
    GO_SPAWN(selector, NULL);
    int one = 1;
    GO_CHECK(goc_chan_send(sel_ch, &one) == 0, "send");
    deadline = goc_now() + late_bound(0);
    while (atomic_load(&sel_result) == -100 && goc_now() < deadline)
        goc_sleep(MS);
    GO_CHECK(atomic_load(&sel_result) == 0, "select with live ctx: %ld", atomic_load(&sel_result));
    goc_ctx_cancel(sel_ctx);
    goc_ctx_release(sel_ctx);
    goc_chan_release(sel_ch);
    return 0;
}

Test(ctx, select_on_done_wakes_on_cancel, .timeout = 20)
{
    cr_assert_eq(run_main(main_select, NULL), 0);
}

/* ---- retain / release ------------------------------------------------------------------ */

static int main_refs(void *arg)
{
    (void)arg;
    goc_ctx *c = goc_ctx_with_cancel(goc_ctx_background());
    for (int i = 0; i < 10; i++)
        GO_CHECK(goc_ctx_retain(c) == c, "retain returns its argument");
    for (int i = 0; i < 10; i++)
        goc_ctx_release(c);
    /* Still alive with the original reference. */
    GO_CHECK(goc_ctx_err(c) == 0, "err after balanced retains");
    /* A goroutine holding its own reference outlives the creator's. */
    goc_ctx *hold = goc_ctx_retain(c);
    GO_SPAWN(wait_on_done, goc_ctx_retain(c));
    goc_ctx *child = goc_ctx_with_value(c, &vkey, &vkey);
    goc_ctx_release(c); /* the child, the goroutine and hold still have it */
    goc_sleep(5 * MS);
    goc_ctx_cancel(child); /* value ctx: cancels nothing */
    GO_CHECK(atomic_load(&woke) == 0, "value child's cancel cancelled its parent");
    GO_CHECK(goc_ctx_err(hold) == 0, "value child's cancel: parent err %d", goc_ctx_err(hold));
    goc_ctx *again = goc_ctx_with_cancel(child);
    goc_ctx_release(child); /* again holds it */
    GO_CHECK(goc_ctx_value(again, &vkey) == &vkey, "value through a released ancestor ref");
    goc_ctx_release(again);
    goc_ctx_cancel(hold);
    GO_CHECK(go_wait_ge(&woke, 1, 2000), "waiter did not wake");
    goc_ctx_release(hold);
    return 0;
}

Test(ctx, retain_release_balance, .timeout = 20)
{
    cr_assert_eq(run_main(main_refs, NULL), 0);
}

/* Many trees created and destroyed: nothing leaks (ASan/LSan), and the
 * objects are really freed (RSS does not run away). */
static int main_churn(void *arg)
{
    (void)arg;
    long rounds = test_scale(2000);
    for (long r = 0; r < rounds; r++) {
        goc_ctx *root = goc_ctx_with_cancel(goc_ctx_background());
        goc_ctx *k[8];
        for (int i = 0; i < 8; i++)
            k[i] = make_kind(root, i + (int)r);
        goc_ctx *leaf = goc_ctx_with_cancel(k[r % 8]);
        if (r % 3 == 0)
            goc_ctx_cancel(root);
        else if (r % 3 == 1)
            goc_ctx_cancel(leaf);
        if (r % 2) {
            goc_ctx_release(root);
            for (int i = 0; i < 8; i++)
                goc_ctx_release(k[i]);
            goc_ctx_release(leaf);
        } else {
            goc_ctx_release(leaf);
            for (int i = 7; i >= 0; i--)
                goc_ctx_release(k[i]);
            goc_ctx_release(root);
        }
    }
    return 0;
}

Test(ctx, churn_no_leak, .timeout = 30)
{
    cr_assert_eq(run_main(main_churn, NULL), 0);
}

/* ---- plain threads ----------------------------------------------------------------------- */

static goc_ctx *th_ctx;
static atomic_long th_state;

static void *th_cancel(void *arg)
{
    (void)arg;
    test_nap_ms(20);
    goc_ctx_cancel(th_ctx);
    atomic_store(&th_state, 1);
    return NULL;
}

static void *th_waiter(void *arg)
{
    goc_ctx *c = arg;
    /* A plain thread blocks on done. */
    int r = goc_chan_recv(goc_ctx_done(c), NULL);
    GO_CHECK(r == -EPIPE, "plain thread recv on done: %d", r);
    GO_CHECK(goc_ctx_err(c) == -ECANCELED, "plain thread: err %d", goc_ctx_err(c));
    /* Contexts made on a plain thread. */
    goc_ctx *k = goc_ctx_with_timeout(c, GOC_HOUR);
    GO_CHECK(goc_ctx_err(k) == -ECANCELED, "child made on a thread: %d", goc_ctx_err(k));
    goc_ctx_release(k);
    goc_ctx *t = goc_ctx_with_timeout(goc_ctx_background(), 10 * MS);
    r = goc_chan_recv(goc_ctx_done(t), NULL);
    GO_CHECK(r == -EPIPE && goc_ctx_err(t) == -ETIMEDOUT, "thread timeout ctx: %d %d", r,
             goc_ctx_err(t));
    goc_ctx_release(t);
    goc_ctx_release(c);
    atomic_fetch_add(&woke, 1);
    return NULL;
}

static int main_threads(void *arg)
{
    (void)arg;
    th_ctx = goc_ctx_with_cancel(goc_ctx_background());
    goc_ctx *kid = goc_ctx_with_cancel(th_ctx);
    pthread_t w = start_thread(th_waiter, goc_ctx_retain(kid));
    pthread_t t = start_thread(th_cancel, NULL);
    /* The main goroutine blocks on done; a plain thread cancels. */
    goc_case cs[] = {GOC_RECV(goc_ctx_done(kid), NULL)};
    int r = goc_select(cs, 1, late_bound(20 * MS));
    GO_CHECK(r == 0 && cs[0].closed, "goroutine on done, thread cancels: %d", r);
    GO_CHECK(goc_ctx_err(kid) == -ECANCELED, "err %d", goc_ctx_err(kid));
    GO_CHECK(go_wait_ge(&woke, 1, 2000), "plain-thread waiter did not finish");
    pthread_join(t, NULL);
    pthread_join(w, NULL);
    goc_ctx_release(kid);
    goc_ctx_release(th_ctx);
    return 0;
}

Test(ctx, cancel_from_plain_thread, .timeout = 20)
{
    cr_assert_eq(run_main(main_threads, NULL), 0);
}

/* With no runtime running at all. */
Test(ctx, without_runtime, .timeout = 20)
{
    goc_ctx *c = goc_ctx_with_cancel(goc_ctx_background());
    cr_assert_not_null(c);
    goc_ctx *k = goc_ctx_with_value(c, &vkey, &vkey);
    cr_assert_eq(goc_ctx_value(k, &vkey), &vkey);
    goc_ctx_cancel(c);
    cr_assert_eq(goc_ctx_err(k), -ECANCELED);
    cr_assert_eq(goc_chan_try_recv(goc_ctx_done(k), NULL), -EPIPE);
    goc_ctx_release(k);
    goc_ctx_release(c);
}

/* ---- races ---------------------------------------------------------------------------------- */

/* Children created while the parent is being cancelled: once cancel has
 * returned, every child (made before or after) is cancelled. */
static goc_ctx *race_parent;
static atomic_long race_cancelled, race_done, race_bad;

static void race_maker(void *arg)
{
    (void)arg;
    for (int i = 0; i < 200; i++) {
        bool after = atomic_load(&race_cancelled) != 0;
        goc_ctx *c = make_kind(race_parent, i);
        if (after && goc_ctx_err(c) == 0)
            atomic_fetch_add(&race_bad, 1);
        if (!after && i % 16 == 0)
            goc_yield();
        /* Whatever happened, once cancelled it must report it. */
        while (atomic_load(&race_cancelled) == 0)
            goc_yield();
        if (goc_ctx_err(c) != -ECANCELED || !done_closed(c))
            atomic_fetch_add(&race_bad, 1);
        goc_ctx_release(c);
    }
    atomic_fetch_add(&race_done, 1);
}

static int main_race_create(void *arg)
{
    (void)arg;
    int rounds = (int)test_scale(50);
    for (int round = 0; round < rounds; round++) {
        atomic_store(&race_cancelled, 0);
        atomic_store(&race_done, 0);
        race_parent = goc_ctx_with_cancel(goc_ctx_background());
        for (int i = 0; i < 8; i++)
            GO_SPAWN(race_maker, NULL);
        for (int i = 0; i < round % 5; i++)
            goc_yield();
        goc_ctx_cancel(race_parent);
        atomic_store(&race_cancelled, 1);
        GO_CHECK(go_wait_ge(&race_done, 8, 10000), "round %d: makers stuck", round);
        goc_ctx_release(race_parent);
        if (atomic_load(&race_bad)) {
            GO_CHECK(0, "round %d: %ld children of a cancelled parent not cancelled", round,
                     atomic_load(&race_bad));
            break;
        }
    }
    return 0;
}

Test(ctx, race_create_vs_cancel, .timeout = 60)
{
    cr_assert_eq(run_main(main_race_create, NULL), 0);
}

/* Child cancel and parent cancel at once, in both orders (a lock-order
 * inversion between them deadlocks here), plus concurrent cancels of the
 * same context and concurrent releases. */
static goc_ctx *pc_parent, *pc_child, *pc_grand;
static atomic_long pc_go, pc_fin;

static void pc_cancel(void *arg)
{
    long which = (long)arg;
    while (atomic_load(&pc_go) == 0)
        goc_yield();
    goc_ctx *c = which == 0 ? pc_parent : which == 1 ? pc_child : pc_grand;
    goc_ctx_cancel(c);
    goc_ctx_release(c);
    atomic_fetch_add(&pc_fin, 1);
}

static int main_race_cancel(void *arg)
{
    (void)arg;
    long rounds = test_scale(5000);
    for (long r = 0; r < rounds; r++) {
        atomic_store(&pc_go, 0);
        atomic_store(&pc_fin, 0);
        pc_parent = goc_ctx_with_cancel(goc_ctx_background());
        pc_child = goc_ctx_with_cancel(pc_parent);
        pc_grand = goc_ctx_with_timeout(pc_child, (r % 3) * GOC_MICROSECOND);
        goc_ctx *keep[3] = {goc_ctx_retain(pc_parent), goc_ctx_retain(pc_child),
                            goc_ctx_retain(pc_grand)};
        for (long w = 0; w < 3; w++)
            GO_SPAWN(pc_cancel, (w + r) % 3);
        goc_ctx_retain(pc_parent); /* for the 4th canceller (parent twice) */
        GO_SPAWN(pc_cancel, 0);
        atomic_store(&pc_go, 1);
        if (!go_wait_ge(&pc_fin, 4, 10000)) {
            GO_CHECK(0, "round %ld: cancellers stuck (deadlock?)", r);
            return 0;
        }
        GO_CHECK(goc_ctx_err(keep[0]) == -ECANCELED, "parent err %d", goc_ctx_err(keep[0]));
        GO_CHECK(goc_ctx_err(keep[1]) == -ECANCELED, "child err %d", goc_ctx_err(keep[1]));
        int ge = goc_ctx_err(keep[2]);
        GO_CHECK(ge == -ECANCELED || ge == -ETIMEDOUT, "grandchild err %d", ge);
        for (int i = 0; i < 3; i++)
            GO_CHECK(done_closed(keep[i]), "round %ld: ctx %d done open", r, i);
        for (int i = 2; i >= 0; i--)
            goc_ctx_release(keep[i]);
        if (test_failed())
            break;
    }
    return 0;
}

Test(ctx, race_parent_and_child_cancel, .timeout = 120)
{
    cr_assert_eq(run_main(main_race_cancel, NULL), 0);
}

/* Children created and released concurrently under one long-lived parent
 * (the parent's child list under contention), then the parent cancelled. */
static goc_ctx *cr_parent;
static atomic_long cr_done;

static void cr_worker(void *arg)
{
    long k = (long)arg;
    for (int i = 0; i < test_scale(20000); i++) {
        goc_ctx *c = make_kind(cr_parent, (int)(i + k));
        if (i % 3 == 0)
            goc_ctx_cancel(c);
        goc_ctx_release(c);
    }
    atomic_fetch_add(&cr_done, 1);
}

static int main_race_list(void *arg)
{
    (void)arg;
    cr_parent = goc_ctx_with_cancel(goc_ctx_background());
    for (long k = 0; k < 8; k++)
        GO_SPAWN(cr_worker, k);
    GO_CHECK(go_wait_ge(&cr_done, 8, 30000), "workers stuck");
    goc_ctx_cancel(cr_parent);
    goc_ctx_release(cr_parent);
    return 0;
}

Test(ctx, race_children_create_release, .timeout = 120)
{
    cr_assert_eq(run_main(main_race_list, NULL), 0);
}
