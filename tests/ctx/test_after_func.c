/*
 * test_after_func.c — goc_ctx_after_func (context.AfterFunc): fn runs once
 * on cancel (synchronously, in the canceller, after done closed and err
 * set), on a deadline (the timer's), at once on a context already done, on
 * an ancestor's cancel through value and cancel children; stop before
 * cancel (true, fn never runs, also after the caller released c), stop
 * after (false); contexts that can never be cancelled (NULL handle); fns
 * that use contexts (no lock is held); stop waiting for a running fn from
 * a goroutine and from a plain thread; registrations without a handle
 * freed with an uncancelled context (ASan/LSan); and a race of 1000
 * goroutines and plain threads registering and stopping while another
 * cancels: each fn runs at most once, exactly when stop says false.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>

#include "runtime/util.h"

#define MS GOC_MILLISECOND

/* What a fn saw: how often it ran, and the context's state when it did. */
struct probe {
    atomic_int ran;
    goc_ctx *c; /* borrowed, may be NULL */
    int err;    /* goc_ctx_err(c) inside fn */
    bool closed;
};

static void probe_fn(void *arg)
{
    struct probe *p = arg;
    if (p->c) {
        p->err = goc_ctx_err(p->c);
        p->closed = goc_chan_try_recv(goc_ctx_done(p->c), NULL) == -EPIPE;
    }
    atomic_fetch_add(&p->ran, 1);
}

static int ran(struct probe *p)
{
    return atomic_load(&p->ran);
}

/* ---- firing --------------------------------------------------------------- */

static int main_on_cancel(void *arg)
{
    (void)arg;
    goc_ctx *c = goc_ctx_with_cancel(goc_ctx_background());
    struct probe a = {.c = c}, b = {.c = c}, n = {.c = c};
    goc_ctx_stop *sa = NULL, *sb = NULL;
    GO_CHECK(goc_ctx_after_func(c, probe_fn, &a, &sa) == 0 && sa, "register a");
    GO_CHECK(goc_ctx_after_func(c, probe_fn, &b, &sb) == 0 && sb, "register b");
    GO_CHECK(goc_ctx_after_func(c, probe_fn, &n, NULL) == 0, "register without a handle");
    goc_sleep(5 * MS);
    GO_CHECK(ran(&a) + ran(&b) + ran(&n) == 0, "ran before cancel");
    goc_ctx_cancel(c); /* the fns run in here */
    GO_CHECK(ran(&a) == 1 && ran(&b) == 1 && ran(&n) == 1, "ran %d %d %d", ran(&a), ran(&b),
             ran(&n));
    GO_CHECK(a.err == -ECANCELED && a.closed, "fn saw err %d, closed %d", a.err, a.closed);
    goc_ctx_cancel(c);
    GO_CHECK(ran(&a) == 1 && ran(&n) == 1, "ran again on a second cancel");
    GO_CHECK(!goc_ctx_after_func_stop(sa), "stop after fn ran returned true");
    goc_ctx_release(c); /* before sb's stop: the handle keeps what it needs */
    GO_CHECK(!goc_ctx_after_func_stop(sb), "stop after release returned true");
    GO_CHECK(ran(&b) == 1, "b ran %d", ran(&b));
    return 0;
}

Test(after_func, fires_on_cancel, .timeout = 20)
{
    cr_assert_eq(run_main(main_on_cancel, NULL), 0);
}

static int main_on_deadline(void *arg)
{
    (void)arg;
    goc_ctx *c = goc_ctx_with_timeout(goc_ctx_background(), 20 * MS);
    goc_ctx *v = goc_ctx_with_value(c, &c, NULL);
    struct probe p = {.c = c}, q = {.c = c};
    goc_ctx_stop *s = NULL;
    int64_t t0 = goc_now();
    GO_CHECK(goc_ctx_after_func(c, probe_fn, &p, &s) == 0 && s, "register");
    GO_CHECK(goc_ctx_after_func(v, probe_fn, &q, NULL) == 0, "register on the value child");
    for (int i = 0; i < 5000 && ran(&p) + ran(&q) < 2; i++)
        goc_sleep(MS);
    GO_CHECK(ran(&p) == 1 && ran(&q) == 1, "ran %d %d after the deadline", ran(&p), ran(&q));
    GO_CHECK(goc_now() - t0 >= 19 * MS, "fired after %lld ms", (long long)test_ms(goc_now() - t0));
    GO_CHECK(p.err == -ETIMEDOUT && p.closed, "fn saw err %d, closed %d", p.err, p.closed);
    GO_CHECK(!goc_ctx_after_func_stop(s), "stop after the deadline returned true");
    goc_ctx_release(v);
    goc_ctx_release(c);
    return 0;
}

Test(after_func, fires_on_deadline, .timeout = 30)
{
    cr_assert_eq(run_main(main_on_deadline, NULL), 0);
}

static int main_already_done(void *arg)
{
    (void)arg;
    goc_ctx *c = goc_ctx_with_cancel(goc_ctx_background());
    goc_ctx_cancel(c);
    goc_ctx *kid = goc_ctx_with_cancel(c); /* born cancelled */
    goc_ctx *past = goc_ctx_with_deadline(goc_ctx_background(), goc_now() - MS);
    goc_ctx *ctxs[] = {c, kid, past};
    for (int i = 0; i < 3; i++) {
        struct probe p = {.c = ctxs[i]}, q = {.c = ctxs[i]};
        goc_ctx_stop *s = NULL;
        GO_CHECK(goc_ctx_after_func(ctxs[i], probe_fn, &p, &s) == 0 && s, "register %d", i);
        GO_CHECK(ran(&p) == 1, "ctx %d: fn had not run when register returned", i);
        GO_CHECK(p.err != 0 && p.closed, "ctx %d: fn saw err %d", i, p.err);
        GO_CHECK(goc_ctx_after_func(ctxs[i], probe_fn, &q, NULL) == 0, "register %d", i);
        GO_CHECK(ran(&q) == 1, "ctx %d: fn without handle had not run", i);
        GO_CHECK(!goc_ctx_after_func_stop(s), "ctx %d: stop returned true", i);
        GO_CHECK(ran(&p) == 1, "ctx %d: ran %d", i, ran(&p));
    }
    GO_CHECK(goc_ctx_err(past) == -ETIMEDOUT, "past deadline err %d", goc_ctx_err(past));
    goc_ctx_release(past);
    goc_ctx_release(kid);
    goc_ctx_release(c);
    return 0;
}

Test(after_func, runs_at_once_when_already_done, .timeout = 20)
{
    cr_assert_eq(run_main(main_already_done, NULL), 0);
}

/* root (cancel) <- v1 (value) <- mid (cancel) <- v2 (value) <- leaf (timeout);
 * a registration on each; cancelling root runs them all. */
static int main_chain(void *arg)
{
    (void)arg;
    static int key;
    goc_ctx *root = goc_ctx_with_cancel(goc_ctx_background());
    goc_ctx *v1 = goc_ctx_with_value(root, &key, NULL);
    goc_ctx *mid = goc_ctx_with_cancel(v1);
    goc_ctx *v2 = goc_ctx_with_value(mid, &key, NULL);
    goc_ctx *leaf = goc_ctx_with_timeout(v2, GOC_HOUR);
    goc_ctx *all[] = {root, v1, mid, v2, leaf};
    struct probe p[5] = {{.c = NULL}};
    goc_ctx_stop *s[5];
    for (int i = 0; i < 5; i++) {
        p[i].c = all[i];
        GO_CHECK(goc_ctx_after_func(all[i], probe_fn, &p[i], &s[i]) == 0 && s[i], "register %d", i);
    }
    /* A sibling subtree cancelled on its own first: only its own fns. */
    goc_ctx *side = goc_ctx_with_cancel(v1);
    struct probe ps = {.c = side};
    goc_ctx_stop *ss;
    GO_CHECK(goc_ctx_after_func(side, probe_fn, &ps, &ss) == 0, "register side");
    goc_ctx_cancel(side);
    GO_CHECK(ran(&ps) == 1, "side's fn ran %d", ran(&ps));
    for (int i = 0; i < 5; i++)
        GO_CHECK(ran(&p[i]) == 0, "%d ran on a sibling's cancel", i);
    goc_ctx_cancel(leaf); /* only the leaf */
    GO_CHECK(ran(&p[4]) == 1, "leaf's fn ran %d", ran(&p[4]));
    for (int i = 0; i < 4; i++)
        GO_CHECK(ran(&p[i]) == 0, "%d ran on the leaf's cancel", i);
    goc_ctx_cancel(root);
    for (int i = 0; i < 5; i++) {
        GO_CHECK(ran(&p[i]) == 1, "%d ran %d times", i, ran(&p[i]));
        GO_CHECK(p[i].err == -ECANCELED && p[i].closed, "%d saw err %d", i, p[i].err);
        GO_CHECK(!goc_ctx_after_func_stop(s[i]), "stop %d returned true", i);
    }
    GO_CHECK(!goc_ctx_after_func_stop(ss), "side stop returned true");
    for (int i = 4; i >= 0; i--)
        goc_ctx_release(all[i]);
    goc_ctx_release(side);
    return 0;
}

Test(after_func, fires_on_ancestor_cancel, .timeout = 20)
{
    cr_assert_eq(run_main(main_chain, NULL), 0);
}

/* ---- stop ----------------------------------------------------------------- */

static int main_stop_first(void *arg)
{
    (void)arg;
    goc_ctx *c = goc_ctx_with_cancel(goc_ctx_background());
    goc_ctx *v = goc_ctx_with_value(c, &c, NULL);
    struct probe p = {.c = c}, q = {.c = c}, r = {.c = c};
    goc_ctx_stop *sp, *sq, *sr;
    GO_CHECK(goc_ctx_after_func(c, probe_fn, &p, &sp) == 0, "register p");
    GO_CHECK(goc_ctx_after_func(v, probe_fn, &q, &sq) == 0, "register q");
    GO_CHECK(goc_ctx_after_func(c, probe_fn, &r, &sr) == 0, "register r");
    GO_CHECK(goc_ctx_after_func_stop(sq), "stop q returned false");
    GO_CHECK(goc_ctx_after_func_stop(sp), "stop p returned false");
    goc_ctx_cancel(c);
    GO_CHECK(ran(&p) == 0 && ran(&q) == 0, "stopped fns ran: %d %d", ran(&p), ran(&q));
    GO_CHECK(ran(&r) == 1, "r ran %d", ran(&r));
    GO_CHECK(!goc_ctx_after_func_stop(sr), "stop r returned true");
    goc_ctx_release(v);
    goc_ctx_release(c);

    /* The caller releases c before stopping: the handle holds the owner. */
    c = goc_ctx_with_timeout(goc_ctx_background(), GOC_HOUR);
    v = goc_ctx_with_value(c, &c, NULL);
    struct probe x = {.c = NULL};
    goc_ctx_stop *sx;
    GO_CHECK(goc_ctx_after_func(v, probe_fn, &x, &sx) == 0, "register x");
    goc_ctx_release(v);
    goc_ctx_release(c);
    GO_CHECK(goc_ctx_after_func_stop(sx), "stop after release returned false");
    GO_CHECK(ran(&x) == 0, "x ran");
    return 0;
}

Test(after_func, stop_before_cancel, .timeout = 20)
{
    cr_assert_eq(run_main(main_stop_first, NULL), 0);
}

static void never(void *arg)
{
    (void)arg;
    GO_CHECK(false, "fn of a context that can never be cancelled ran");
}

static void never_cancelled_checks(void)
{
    static int key;
    goc_ctx *bg = goc_ctx_background();
    goc_ctx *v = goc_ctx_with_value(bg, &key, NULL);
    goc_ctx *vv = goc_ctx_with_value(v, &key, NULL);
    goc_ctx *all[] = {bg, v, vv, NULL};
    for (int i = 0; i < 4; i++) {
        goc_ctx_stop *s = (goc_ctx_stop *)&key; /* overwritten */
        GO_CHECK(goc_ctx_after_func(all[i], never, NULL, &s) == 0, "register %d", i);
        GO_CHECK(s == NULL, "ctx %d: handle not NULL", i);
        GO_CHECK(goc_ctx_after_func(all[i], never, NULL, NULL) == 0, "register %d", i);
        GO_CHECK(goc_ctx_after_func_stop(s), "stop(NULL) returned false");
    }
    goc_ctx_cancel(v);
    goc_ctx_cancel(bg);
    goc_ctx_stop *s = (goc_ctx_stop *)&key;
    goc_ctx *c = goc_ctx_with_cancel(bg);
    GO_CHECK(goc_ctx_after_func(c, NULL, NULL, &s) == -EINVAL && s == NULL, "NULL fn");
    goc_ctx_release(c);
    goc_ctx_release(vv);
    goc_ctx_release(v);
}

static int main_never(void *arg)
{
    (void)arg;
    never_cancelled_checks();
    return 0;
}

Test(after_func, never_cancelled_context, .timeout = 20)
{
    never_cancelled_checks(); /* before the runtime starts, then inside it */
    GO_CHECK_REPORT();
    cr_assert_eq(run_main(main_never, NULL), 0);
}

/* Registrations without a handle on contexts released uncancelled are
 * freed with them (LSan), and many on one context all run. */
static int main_dropped(void *arg)
{
    (void)arg;
    enum { N = 2000 };
    static struct probe p[N];
    for (int round = 0; round < 2; round++) {
        goc_ctx *c = goc_ctx_with_timeout(goc_ctx_background(), GOC_HOUR);
        goc_ctx *v = goc_ctx_with_value(c, &c, NULL);
        for (int i = 0; i < N; i++) {
            atomic_store(&p[i].ran, 0);
            GO_CHECK(goc_ctx_after_func(i % 2 ? c : v, probe_fn, &p[i], NULL) == 0, "register");
        }
        if (round == 1)
            goc_ctx_cancel(c);
        goc_ctx_release(c);
        goc_ctx_release(v); /* c is freed here */
        for (int i = 0; i < N; i++)
            GO_CHECK(ran(&p[i]) == round, "round %d: %d ran %d", round, i, ran(&p[i]));
    }
    return 0;
}

Test(after_func, without_handle_freed_or_run, .timeout = 20)
{
    cr_assert_eq(run_main(main_dropped, NULL), 0);
}

/* fn may use contexts: no lock is held when it runs. fn cancels the next
 * context of a ring and registers on its own (done) context. */
static goc_ctx *ring[3];
static atomic_int ring_ran;

static void ring_nested(void *arg)
{
    (void)arg;
    atomic_fetch_add(&ring_ran, 100);
}

static void ring_fn(void *arg)
{
    intptr_t i = (intptr_t)arg;
    atomic_fetch_add(&ring_ran, 1);
    goc_ctx_stop *s;
    GO_CHECK(goc_ctx_after_func(ring[i], ring_nested, NULL, &s) == 0, "nested register");
    GO_CHECK(!goc_ctx_after_func_stop(s), "nested stop returned true");
    goc_ctx_cancel(ring[(i + 1) % 3]);
}

static int main_ring(void *arg)
{
    (void)arg;
    goc_ctx *root = goc_ctx_with_cancel(goc_ctx_background());
    for (intptr_t i = 0; i < 3; i++) {
        ring[i] = goc_ctx_with_cancel(i == 0 ? root : ring[i - 1]);
        GO_CHECK(goc_ctx_after_func(ring[i], ring_fn, (void *)i, NULL) == 0, "register %d", (int)i);
    }
    goc_ctx_cancel(ring[1]); /* runs 1's fn, which cancels 2, whose fn cancels 0 */
    GO_CHECK(atomic_load(&ring_ran) == 303, "ring ran %d", atomic_load(&ring_ran));
    for (int i = 0; i < 3; i++)
        GO_CHECK(goc_ctx_err(ring[i]) == -ECANCELED, "ring %d err %d", i, goc_ctx_err(ring[i]));
    GO_CHECK(goc_ctx_err(root) == 0, "root cancelled");
    for (int i = 2; i >= 0; i--)
        goc_ctx_release(ring[i]);
    goc_ctx_release(root);
    return 0;
}

Test(after_func, fn_may_use_contexts, .timeout = 20)
{
    cr_assert_eq(run_main(main_ring, NULL), 0);
}

/* ---- stop waits for a running fn ------------------------------------------- */

struct slow {
    atomic_int started, ended;
    goc_ctx *c;
};

static void slow_fn(void *arg)
{
    struct slow *w = arg;
    atomic_store(&w->started, 1);
    int64_t end = goc_now() + 30 * MS; /* short, but long enough to overlap stop */
    while (goc_now() < end) {
    }
    atomic_store(&w->ended, 1);
}

static void *th_cancel(void *arg)
{
    goc_ctx_cancel(((struct slow *)arg)->c);
    return NULL;
}

static void stop_while_running(struct slow *w, goc_ctx_stop *s)
{
    while (!atomic_load(&w->started))
        goc_yield();
    GO_CHECK(!atomic_load(&w->ended), "fn ended before stop was called (test too slow?)");
    GO_CHECK(!goc_ctx_after_func_stop(s), "stop of a running fn returned true");
    GO_CHECK(atomic_load(&w->ended), "stop returned before fn did");
}

struct stop_th {
    struct slow *w;
    goc_ctx_stop *s;
};

static void *th_stop(void *arg)
{
    struct stop_th *t = arg;
    stop_while_running(t->w, t->s);
    return NULL;
}

static int main_stop_waits(void *arg)
{
    (void)arg;
    /* A plain thread cancels (fn runs there); this goroutine stops. */
    struct slow w = {.c = goc_ctx_with_cancel(goc_ctx_background())};
    goc_ctx_stop *s;
    GO_CHECK(goc_ctx_after_func(w.c, slow_fn, &w, &s) == 0, "register");
    pthread_t t = start_thread(th_cancel, &w);
    stop_while_running(&w, s);
    pthread_join(t, NULL);
    goc_ctx_release(w.c);

    /* This goroutine cancels; a plain thread stops. */
    struct slow w2 = {.c = goc_ctx_with_cancel(goc_ctx_background())};
    struct stop_th st = {.w = &w2};
    GO_CHECK(goc_ctx_after_func(w2.c, slow_fn, &w2, &st.s) == 0, "register");
    t = start_thread(th_stop, &st);
    goc_ctx_cancel(w2.c);
    pthread_join(t, NULL);
    goc_ctx_release(w2.c);
    return 0;
}

Test(after_func, stop_waits_for_running_fn, .timeout = 30)
{
    cr_assert_eq(run_main(main_stop_waits, NULL), 0);
}

/* ---- the race ---------------------------------------------------------------- */

#define NGO   1000
#define NTH   4
#define ITERS 20
#define NMID  16 /* shared children of root, cancelled one by one during the run */

struct reg {
    atomic_int ran;
    atomic_int stopped; /* 1: stop said true; 2: false; 3: no handle */
};

static struct {
    goc_ctx *root, *mid[NMID];
    struct reg (*regs)[ITERS]; /* [workers][ITERS] */
    atomic_long registered, finished;
    long total;
} race;

static void reg_fn(void *arg)
{
    atomic_fetch_add_explicit(&((struct reg *)arg)->ran, 1, memory_order_relaxed);
}

static void race_worker(long id)
{
    static int key;
    goc_ctx *mine = goc_ctx_with_cancel(race.root);
    goc_ctx *val = goc_ctx_with_value(mine, &key, NULL);
    goc_ctx *on[] = {race.root, mine, val, NULL};
    for (int i = 0; i < ITERS; i++) {
        struct reg *r = &race.regs[id][i];
        on[3] = race.mid[(id + i) % NMID];
        goc_ctx *c = on[(id + i) % 4];
        atomic_fetch_add(&race.registered, 1);
        if (i % 7 == 3) { /* no handle: runs exactly once, as root is cancelled
                           * while held (mine may be freed uncancelled first) */
            GO_CHECK(goc_ctx_after_func(race.root, reg_fn, r, NULL) == 0, "register");
            atomic_store(&r->stopped, 3);
            continue;
        }
        goc_ctx_stop *s = NULL;
        GO_CHECK(goc_ctx_after_func(c, reg_fn, r, &s) == 0 && s, "register");
        if ((id + i) % 4 == 0)
            goc_yield();
        bool stopped = goc_ctx_after_func_stop(s);
        int n = atomic_load(&r->ran);
        if (stopped)
            GO_CHECK(n == 0, "stop said true but fn ran %d", n);
        else
            GO_CHECK(n == 1, "stop said false but fn ran %d times", n);
        atomic_store(&r->stopped, stopped ? 1 : 2);
    }
    goc_ctx_release(val);
    goc_ctx_release(mine);
    atomic_fetch_add(&race.finished, 1);
}

static void race_go(void *arg)
{
    race_worker((long)(intptr_t)arg);
}

static void *race_th(void *arg)
{
    race_worker((long)(intptr_t)arg);
    return NULL;
}

static void race_cancel(void *arg)
{
    (void)arg;
    for (int i = 0; i <= NMID; i++) {
        while (atomic_load(&race.registered) < race.total * (i + 1) / (NMID + 2))
            goc_yield();
        goc_ctx_cancel(i < NMID ? race.mid[i] : race.root);
    }
}

static int main_race(void *arg)
{
    (void)arg;
    long ngo = test_scale(NGO), nw = ngo + NTH;
    race.total = nw * ITERS;
    race.regs = calloc((size_t)nw, sizeof *race.regs);
    race.root = goc_ctx_with_cancel(goc_ctx_background());
    for (int i = 0; i < NMID; i++)
        race.mid[i] = goc_ctx_with_cancel(race.root);
    atomic_store(&race.registered, 0);
    atomic_store(&race.finished, 0);
    pthread_t th[NTH];
    for (long i = 0; i < NTH; i++)
        th[i] = start_thread(race_th, (void *)(intptr_t)(ngo + i));
    GO_SPAWN(race_cancel, NULL);
    for (long i = 0; i < ngo; i++)
        GO_SPAWN(race_go, (void *)(intptr_t)i);
    GO_CHECK(go_wait_ge(&race.finished, nw, 20000), "%ld of %ld workers finished",
             atomic_load(&race.finished), nw);
    for (int i = 0; i < NTH; i++)
        pthread_join(th[i], NULL);
    GO_CHECK(goc_ctx_err(race.root) == -ECANCELED, "root not cancelled");
    long t = 0, f = 0;
    for (long w = 0; w < nw; w++)
        for (int i = 0; i < ITERS; i++) {
            struct reg *r = &race.regs[w][i];
            int n = atomic_load(&r->ran), st = atomic_load(&r->stopped);
            GO_CHECK(st == 1 ? n == 0 : n == 1, "worker %ld #%d: stop %d, ran %d", w, i, st, n);
            t += st == 1;
            f += st == 2;
        }
    GO_CHECK(t > 0 && f > 0, "no race: %ld stops said true, %ld false", t, f);
    if (getenv("GOC_TEST_VERBOSE"))
        fprintf(stderr, "race: %ld stops true, %ld false\n", t, f);
    for (int i = 0; i < NMID; i++)
        goc_ctx_release(race.mid[i]);
    goc_ctx_release(race.root);
    free(race.regs);
    return 0;
}

Test(after_func, race_register_stop_cancel, .timeout = 120)
{
    cr_assert_eq(run_main(main_race, NULL), 0);
}
