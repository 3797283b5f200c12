/*
 * test_semaphore.c — goc_semaphore (golang.org/x/sync/semaphore.Weighted):
 * acquire/release within capacity, try_acquire (also with waiters queued
 * ahead), waiting for a release, first-come-first-served order (a large
 * request at the front holds off smaller ones), cancellation and timeouts
 * through a ctx (nothing taken, the waiters behind served), -EINVAL, the
 * zero value and GOC_SEMAPHORE_INIT, plain threads, and a weighted stress
 * test that checks the units in use never exceed the size.
 */
#include "syncutil.h"

#define MS GOC_MILLISECOND

/* Whether someone is queued on s, given that k > 0 units are free and every
 * queued waiter wants more than k: try_acquire(k) then fails only because
 * of the waiter ahead. Gives the k units straight back when it gets them. */
static bool sem_has_waiter(goc_semaphore *s, int64_t k)
{
    if (goc_semaphore_try_acquire(s, k)) {
        goc_semaphore_release(s, k);
        return false;
    }
    return true;
}

/* Inside a goroutine: wait until sem_has_waiter(s, k), with a deadline. */
static bool go_wait_queued(goc_semaphore *s, int64_t k, int64_t timeout_ms)
{
    int64_t deadline = goc_now() + timeout_ms * MS * test_slack();
    while (!sem_has_waiter(s, k)) {
        if (goc_now() > deadline)
            return false;
        goc_sleep(200 * GOC_MICROSECOND);
    }
    return true;
}

/* Whether all size units of s are free (and nobody is queued): takes them
 * and gives them back. */
static bool sem_all_free(goc_semaphore *s, int64_t size)
{
    if (!goc_semaphore_try_acquire(s, size))
        return false;
    goc_semaphore_release(s, size);
    return true;
}

/* A goroutine (or thread) that acquires n units (with ctx, borrowed), says
 * so, holds them until told to let go, and releases them. */
typedef struct waiter {
    goc_semaphore *s;
    goc_ctx *ctx;
    int64_t n;
    atomic_long started, got, let_go, done;
    int result; /* acquire's result; read once got is set */
} waiter;

static void waiter_body(waiter *w, bool thread)
{
    atomic_store(&w->started, 1);
    w->result = goc_semaphore_acquire(w->s, w->ctx, w->n);
    atomic_store(&w->got, 1);
    if (w->result == 0) {
        bool told =
            thread ? thread_wait_ge(&w->let_go, 1, 10000) : go_wait_ge(&w->let_go, 1, 10000);
        GO_CHECK(told, "waiter for %lld units was never told to release", (long long)w->n);
        goc_semaphore_release(w->s, w->n);
    }
    atomic_store(&w->done, 1);
}

static void waiter_fn(void *arg)
{
    waiter_body(arg, false);
}

static void *waiter_thread(void *arg)
{
    waiter_body(arg, true);
    return NULL;
}

/* Let w go and wait until it has released. */
static void waiter_finish(waiter *w)
{
    atomic_store(&w->let_go, 1);
    GO_CHECK(go_wait_ge(&w->done, 1, 5000), "waiter for %lld units did not finish",
             (long long)w->n);
}

/* ---- within capacity --------------------------------------------------- */

static void within_capacity_checks(void)
{
    goc_semaphore s;
    goc_semaphore_init(&s, 10);
    GO_CHECK(goc_semaphore_acquire(&s, NULL, 3) == 0, "acquire 3 of 10");
    GO_CHECK(goc_semaphore_acquire(&s, goc_ctx_background(), 4) == 0,
             "acquire 4 more (background ctx)");
    GO_CHECK(goc_semaphore_acquire(&s, NULL, 0) == 0, "acquire 0");
    GO_CHECK(goc_semaphore_acquire(&s, NULL, 3) == 0, "acquire the last 3");
    GO_CHECK(!goc_semaphore_try_acquire(&s, 1), "try_acquire 1 succeeded with all 10 taken");
    goc_semaphore_release(&s, 4);
    GO_CHECK(goc_semaphore_try_acquire(&s, 4), "try_acquire 4 after releasing 4");
    goc_semaphore_release(&s, 10);
    GO_CHECK(sem_all_free(&s, 10), "units missing after releasing everything");
    goc_semaphore_release(&s, 0);
    GO_CHECK(sem_all_free(&s, 10), "release(0) changed something");
}

static int main_within(void *arg)
{
    (void)arg;
    int64_t t0 = goc_now();
    within_capacity_checks();
    int64_t el = goc_now() - t0;
    GO_CHECK(el < 100 * MS * test_slack(), "uncontended acquires took %lld ms",
             (long long)test_ms(el));
    return 0;
}

/* Acquires that fit return at once; release gives the units back. */
Test(semaphore, acquire_release_within_capacity, .timeout = 10)
{
    cr_assert_eq(run_main(main_within, NULL), 0);
}

/* Same on the process's main thread, runtime never started. */
Test(semaphore, within_capacity_plain_thread_no_runtime, .timeout = 10)
{
    within_capacity_checks();
    GO_CHECK_REPORT();
}

/* ---- try_acquire --------------------------------------------------------- */

static int main_try(void *arg)
{
    (void)arg;
    goc_semaphore s;
    goc_semaphore_init(&s, 5);
    GO_CHECK(goc_semaphore_try_acquire(&s, 3), "try 3 of 5");
    GO_CHECK(!goc_semaphore_try_acquire(&s, 3), "try 3 with 2 free succeeded");
    GO_CHECK(goc_semaphore_try_acquire(&s, 2), "try 2 with 2 free");
    GO_CHECK(!goc_semaphore_try_acquire(&s, 1), "try 1 with none free succeeded");
    goc_semaphore_release(&s, 5);
    GO_CHECK(!goc_semaphore_try_acquire(&s, 6), "try 6 of a size-5 semaphore succeeded");
    GO_CHECK(goc_semaphore_try_acquire(&s, 5), "try 5 of 5 free");
    goc_semaphore_release(&s, 5);

    /* A waiter queued ahead: 1 unit is free but the waiter wants 3, so a
     * try_acquire(1) must not take it from under the waiter. */
    GO_CHECK(goc_semaphore_try_acquire(&s, 4), "try 4 of 5 free");
    waiter w = {.s = &s, .n = 3};
    GO_SPAWN(waiter_fn, &w);
    GO_CHECK(go_wait_queued(&s, 1, 5000),
             "try_acquire(1) kept succeeding while a waiter for 3 was queued ahead");
    GO_CHECK(atomic_load(&w.got) == 0, "waiter for 3 got them with 1 free");
    GO_CHECK(!goc_semaphore_try_acquire(&s, 1),
             "try_acquire(1) succeeded while a waiter for 3 is queued ahead");
    GO_CHECK(!goc_semaphore_try_acquire(&s, 0),
             "try_acquire(0) succeeded while a waiter is queued ahead");
    goc_semaphore_release(&s, 4);
    GO_CHECK(go_wait_ge(&w.got, 1, 5000), "waiter not served after the release");
    GO_CHECK(w.result == 0, "waiter's acquire: %d", w.result);
    GO_CHECK(goc_semaphore_try_acquire(&s, 2), "try 2 with 2 free and the queue empty");
    GO_CHECK(!goc_semaphore_try_acquire(&s, 1), "try 1 with none free succeeded");
    goc_semaphore_release(&s, 2);
    waiter_finish(&w);
    GO_CHECK(sem_all_free(&s, 5), "units missing at the end");
    return 0;
}

/* try_acquire: true exactly when the units are free and nobody waits
 * ahead; never more than the size. */
Test(semaphore, try_acquire, .timeout = 15)
{
    cr_assert_eq(run_main(main_try, NULL), 0);
}

/* ---- waiting for a release ------------------------------------------------- */

static int main_blocks(void *arg)
{
    (void)arg;
    goc_semaphore s;
    goc_semaphore_init(&s, 4);
    GO_CHECK(goc_semaphore_acquire(&s, NULL, 4) == 0, "acquire all 4");
    waiter w = {.s = &s, .n = 3};
    GO_SPAWN(waiter_fn, &w);
    GO_CHECK(go_wait_ge(&w.started, 1, 5000), "waiter did not start");
    GO_CHECK(go_stays_below(&w.got, 1, 50), "acquire(3) returned with none free");
    goc_semaphore_release(&s, 1);
    GO_CHECK(go_stays_below(&w.got, 1, 50), "acquire(3) returned with 1 free");
    goc_semaphore_release(&s, 2);
    GO_CHECK(go_wait_ge(&w.got, 1, 5000), "acquire(3) not woken with 3 free");
    GO_CHECK(w.result == 0, "acquire(3): %d", w.result);
    /* The waiter holds 3, we hold 1. */
    GO_CHECK(!goc_semaphore_try_acquire(&s, 1), "a unit free while 4 are held");
    waiter_finish(&w);
    goc_semaphore_release(&s, 1);
    GO_CHECK(sem_all_free(&s, 4), "units missing at the end");
    return 0;
}

/* An acquire that exceeds what is free waits until enough is released. */
Test(semaphore, acquire_waits_for_release, .timeout = 15)
{
    cr_assert_eq(run_main(main_blocks, NULL), 0);
}

/* ---- FIFO: a large waiter at the front holds off smaller ones ---------------- */

static int main_fifo(void *arg)
{
    (void)arg;
    goc_semaphore s;
    goc_semaphore_init(&s, 10);
    GO_CHECK(goc_semaphore_acquire(&s, NULL, 8) == 0, "acquire 8 of 10");
    waiter big = {.s = &s, .n = 5}, small = {.s = &s, .n = 1};
    GO_SPAWN(waiter_fn, &big);
    GO_CHECK(go_wait_queued(&s, 1, 5000), "the waiter for 5 never queued");
    GO_SPAWN(waiter_fn, &small);
    GO_CHECK(go_wait_ge(&small.started, 1, 5000), "small waiter did not start");
    /* 2 units free: enough for the small one, but the big one is first. */
    GO_CHECK(go_stays_below(&small.got, 1, 50),
             "a waiter for 1 overtook the waiter for 5 queued before it");
    goc_semaphore_release(&s, 2); /* 4 free: still not enough for the front */
    GO_CHECK(go_stays_below(&small.got, 1, 30),
             "a waiter for 1 overtook the waiter for 5 (4 free)");
    GO_CHECK(atomic_load(&big.got) == 0, "the waiter for 5 got in with 4 free");
    goc_semaphore_release(&s, 1); /* 5 free: exactly the front's */
    GO_CHECK(go_wait_ge(&big.got, 1, 5000), "the waiter for 5 not served with 5 free");
    GO_CHECK(big.result == 0, "big acquire: %d", big.result);
    GO_CHECK(go_stays_below(&small.got, 1, 30), "the waiter for 1 got a unit with none free");
    waiter_finish(&big); /* 5 free again */
    GO_CHECK(go_wait_ge(&small.got, 1, 5000), "the waiter for 1 never served");
    GO_CHECK(small.result == 0, "small acquire: %d", small.result);
    waiter_finish(&small);
    goc_semaphore_release(&s, 5);
    GO_CHECK(sem_all_free(&s, 10), "units missing at the end");
    return 0;
}

/* Go's semantics: waiters are served in arrival order, so a request for 5
 * at the front holds off a later request for 1 even while 1 is free; both
 * proceed in turn. */
Test(semaphore, fifo_big_waiter_holds_off_small, .timeout = 15)
{
    cr_assert_eq(run_main(main_fifo, NULL), 0);
}

/* ---- cancellation while waiting ---------------------------------------------- */

static int main_cancel_front(void *arg)
{
    (void)arg;
    goc_semaphore s;
    goc_semaphore_init(&s, 10);
    GO_CHECK(goc_semaphore_acquire(&s, NULL, 8) == 0, "acquire 8 of 10");
    goc_ctx *ctx = goc_ctx_with_cancel(goc_ctx_background());
    GO_CHECK(ctx != NULL, "with_cancel");
    waiter front = {.s = &s, .ctx = ctx, .n = 5}, behind = {.s = &s, .n = 2};
    GO_SPAWN(waiter_fn, &front);
    GO_CHECK(go_wait_queued(&s, 1, 5000), "the waiter for 5 never queued");
    GO_SPAWN(waiter_fn, &behind);
    GO_CHECK(go_wait_ge(&behind.started, 1, 5000), "second waiter did not start");
    GO_CHECK(go_stays_below(&behind.got, 1, 50), "the waiter for 2 overtook the one for 5");
    GO_CHECK(atomic_load(&front.got) == 0, "the waiter for 5 returned before the cancel");

    goc_ctx_cancel(ctx);
    GO_CHECK(go_wait_ge(&front.got, 1, 5000), "cancel did not wake the waiter");
    GO_CHECK(front.result == -ECANCELED, "cancelled acquire returned %d (%s), want -ECANCELED",
             front.result, goc_strerror(front.result));
    /* With the front gone, the 2 free units go to the next waiter without
     * any release (x/sync/semaphore: "front waiter cancelled, notify
     * others"). */
    GO_CHECK(go_wait_ge(&behind.got, 1, 5000),
             "the waiter for 2 was not served after the front waiter's cancel");
    GO_CHECK(behind.result == 0, "second acquire: %d", behind.result);
    GO_CHECK(!goc_semaphore_try_acquire(&s, 1), "a unit free while all 10 should be held");
    waiter_finish(&behind);
    goc_semaphore_release(&s, 8);
    /* The cancelled acquire took nothing and left no trace in the queue. */
    GO_CHECK(sem_all_free(&s, 10), "units missing after a cancelled acquire");
    goc_ctx_release(ctx);
    return 0;
}

/* The front waiter's ctx is cancelled: it returns -ECANCELED, takes
 * nothing, and the waiter behind it gets the units that were free. */
Test(semaphore, cancel_front_waiter_serves_next, .timeout = 15)
{
    cr_assert_eq(run_main(main_cancel_front, NULL), 0);
}

static int main_cancel_behind(void *arg)
{
    (void)arg;
    goc_semaphore s;
    goc_semaphore_init(&s, 10);
    GO_CHECK(goc_semaphore_acquire(&s, NULL, 8) == 0, "acquire 8 of 10");
    goc_ctx *ctx = goc_ctx_with_cancel(goc_ctx_background());
    GO_CHECK(ctx != NULL, "with_cancel");
    waiter front = {.s = &s, .n = 5}, behind = {.s = &s, .ctx = ctx, .n = 3};
    GO_SPAWN(waiter_fn, &front);
    GO_CHECK(go_wait_queued(&s, 1, 5000), "the waiter for 5 never queued");
    GO_SPAWN(waiter_fn, &behind);
    GO_CHECK(go_wait_ge(&behind.started, 1, 5000), "second waiter did not start");
    GO_CHECK(go_stays_below(&behind.got, 1, 30), "the waiter for 3 overtook the one for 5");
    goc_ctx_cancel(ctx);
    GO_CHECK(go_wait_ge(&behind.got, 1, 5000), "cancel did not wake the waiter");
    GO_CHECK(behind.result == -ECANCELED, "cancelled acquire returned %d, want -ECANCELED",
             behind.result);
    GO_CHECK(atomic_load(&front.got) == 0, "the front waiter got in with 2 free");
    goc_semaphore_release(&s, 3);
    GO_CHECK(go_wait_ge(&front.got, 1, 5000), "the front waiter not served with 5 free");
    GO_CHECK(front.result == 0, "front acquire: %d", front.result);
    waiter_finish(&front);
    goc_semaphore_release(&s, 5);
    GO_CHECK(sem_all_free(&s, 10), "units missing after a cancelled acquire");
    goc_ctx_release(ctx);
    return 0;
}

/* A waiter behind the front one is cancelled: it returns -ECANCELED and the
 * front one is still served when its units come free. */
Test(semaphore, cancel_waiter_behind_front, .timeout = 15)
{
    cr_assert_eq(run_main(main_cancel_behind, NULL), 0);
}

static int main_timeout(void *arg)
{
    (void)arg;
    goc_semaphore s;
    goc_semaphore_init(&s, 2);
    GO_CHECK(goc_semaphore_acquire(&s, NULL, 2) == 0, "acquire 2 of 2");
    int64_t t0 = goc_now(); /* before the deadline's clock starts */
    goc_ctx *ctx = goc_ctx_with_timeout(goc_ctx_background(), 50 * MS);
    GO_CHECK(ctx != NULL, "with_timeout");
    int r = goc_semaphore_acquire(&s, ctx, 1);
    int64_t el = goc_now() - t0;
    GO_CHECK(r == -ETIMEDOUT, "acquire past the ctx deadline returned %d (%s), want -ETIMEDOUT", r,
             goc_strerror(r));
    GO_CHECK(el >= 45 * MS, "acquire gave up after %lld ms, before the 50 ms deadline",
             (long long)test_ms(el));
    GO_CHECK(el < 50 * MS + 2 * GOC_SECOND * test_slack(),
             "acquire returned %lld ms after start, long past the 50 ms deadline",
             (long long)test_ms(el));
    goc_semaphore_release(&s, 2);
    /* A stale queue entry from the timed-out waiter would make this fail. */
    GO_CHECK(sem_all_free(&s, 2), "units missing after a timed-out acquire");
    goc_ctx_release(ctx);
    return 0;
}

/* A ctx deadline that passes while waiting: -ETIMEDOUT, nothing taken. */
Test(semaphore, ctx_timeout_returns_etimedout, .timeout = 15)
{
    cr_assert_eq(run_main(main_timeout, NULL), 0);
}

static int main_already_done(void *arg)
{
    (void)arg;
    goc_semaphore s;
    goc_semaphore_init(&s, 3);
    goc_ctx *c = goc_ctx_with_cancel(goc_ctx_background());
    GO_CHECK(c != NULL, "with_cancel");
    goc_ctx_cancel(c);
    int r = goc_semaphore_acquire(&s, c, 1);
    GO_CHECK(r == -ECANCELED, "acquire with a cancelled ctx and free units returned %d", r);
    GO_CHECK(sem_all_free(&s, 3), "acquire with a cancelled ctx took units");

    goc_ctx *t = goc_ctx_with_timeout(goc_ctx_background(), 1);
    GO_CHECK(t != NULL, "with_timeout");
    int64_t deadline = goc_now() + 2 * GOC_SECOND * test_slack();
    while (goc_ctx_err(t) == 0 && goc_now() < deadline)
        goc_sleep(MS);
    int e = goc_ctx_err(t);
    GO_CHECK(e == -ETIMEDOUT, "ctx past its deadline: err %d", e);
    r = goc_semaphore_acquire(&s, t, 3);
    GO_CHECK(r == e, "acquire with an expired ctx returned %d, want %d", r, e);
    GO_CHECK(sem_all_free(&s, 3), "acquire with an expired ctx took units");
    goc_ctx_release(c);
    goc_ctx_release(t);
    return 0;
}

/* A ctx that is already done wins even when the units are free. */
Test(semaphore, done_ctx_takes_nothing, .timeout = 10)
{
    cr_assert_eq(run_main(main_already_done, NULL), 0);
}

/* ---- -EINVAL, the zero value, GOC_SEMAPHORE_INIT ------------------------------------ */

static goc_semaphore zero_sem;
static goc_semaphore static_sem = GOC_SEMAPHORE_INIT(3);

static void einval_zero_static_checks(void)
{
    goc_semaphore s;
    goc_semaphore_init(&s, 4);
    int r = goc_semaphore_acquire(&s, NULL, -1);
    GO_CHECK(r == -EINVAL, "acquire(-1): %d", r);
    r = goc_semaphore_acquire(&s, NULL, 5);
    GO_CHECK(r == -EINVAL, "acquire(5) of a size-4 semaphore: %d (must not wait forever)", r);
    r = goc_semaphore_acquire(&s, goc_ctx_background(), 5);
    GO_CHECK(r == -EINVAL, "acquire(5) of size 4 with a ctx: %d", r);
    GO_CHECK(sem_all_free(&s, 4), "a rejected acquire took units");
    r = goc_semaphore_acquire(&s, NULL, 4);
    GO_CHECK(r == 0, "acquire(size): %d", r);
    goc_semaphore_release(&s, 4);

    /* The zero value has no units. */
    r = goc_semaphore_acquire(&zero_sem, NULL, 1);
    GO_CHECK(r == -EINVAL, "acquire(1) on the zero value: %d", r);
    GO_CHECK(!goc_semaphore_try_acquire(&zero_sem, 1), "try_acquire(1) on the zero value");
    r = goc_semaphore_acquire(&zero_sem, NULL, 0);
    GO_CHECK(r == 0, "acquire(0) on the zero value: %d", r);
    goc_semaphore z = {0};
    GO_CHECK(goc_semaphore_acquire(&z, NULL, 1) == -EINVAL, "acquire(1) on a {0} semaphore");

    /* A static GOC_SEMAPHORE_INIT(3). */
    GO_CHECK(goc_semaphore_acquire(&static_sem, NULL, 2) == 0, "static: acquire 2 of 3");
    GO_CHECK(goc_semaphore_try_acquire(&static_sem, 1), "static: try 1 with 1 free");
    GO_CHECK(!goc_semaphore_try_acquire(&static_sem, 1), "static: try 1 with none free");
    GO_CHECK(goc_semaphore_acquire(&static_sem, NULL, 4) == -EINVAL, "static: acquire(4)");
    goc_semaphore_release(&static_sem, 3);
    GO_CHECK(sem_all_free(&static_sem, 3), "static: units missing");
    goc_semaphore local = GOC_SEMAPHORE_INIT(1);
    GO_CHECK(goc_semaphore_try_acquire(&local, 1), "local INIT(1): try 1");
    GO_CHECK(!goc_semaphore_try_acquire(&local, 1), "local INIT(1): try 1 again");
    goc_semaphore_release(&local, 1);

    /* goc_semaphore_init over memory that held anything. */
    goc_semaphore *h = malloc(sizeof *h);
    GO_CHECK(h != NULL, "malloc");
    if (h) {
        memset(h, 0xa5, sizeof *h);
        goc_semaphore_init(h, 2);
        GO_CHECK(goc_semaphore_acquire(h, NULL, 2) == 0, "init over garbage: acquire 2 of 2");
        GO_CHECK(!goc_semaphore_try_acquire(h, 1), "init over garbage: a third unit");
        goc_semaphore_release(h, 2);
        GO_CHECK(sem_all_free(h, 2), "init over garbage: units missing");
        free(h);
    }
}

static int main_einval(void *arg)
{
    (void)arg;
    einval_zero_static_checks();
    return 0;
}

/* -EINVAL for n < 0 and n > size (nothing taken, no wait), the zero value
 * (no units), GOC_SEMAPHORE_INIT statics and locals, init over garbage. */
Test(semaphore, einval_zero_value_and_static_init, .timeout = 10)
{
    cr_assert_eq(run_main(main_einval, NULL), 0);
}

Test(semaphore, einval_zero_value_and_static_init_no_runtime, .timeout = 10)
{
    einval_zero_static_checks();
    GO_CHECK_REPORT();
}

/* ---- plain threads ------------------------------------------------------------------ */

static int main_threads(void *arg)
{
    (void)arg;
    keepalive_start();
    goc_semaphore s;
    goc_semaphore_init(&s, 3);
    GO_CHECK(goc_semaphore_acquire(&s, NULL, 3) == 0, "acquire all 3");

    /* A thread waits for units a goroutine releases. */
    waiter w = {.s = &s, .n = 2};
    pthread_t t = start_thread(waiter_thread, &w);
    GO_CHECK(go_wait_ge(&w.started, 1, 5000), "thread did not start");
    GO_CHECK(go_stays_below(&w.got, 1, 50), "thread got 2 units with none free");
    goc_semaphore_release(&s, 2);
    GO_CHECK(go_wait_ge(&w.got, 1, 5000), "thread not woken by the release");
    GO_CHECK(w.result == 0, "thread's acquire: %d", w.result);
    atomic_store(&w.let_go, 1);
    pthread_join(t, NULL);
    GO_CHECK(atomic_load(&w.done) == 1, "thread did not release");

    /* A thread's wait ends when a goroutine cancels its ctx. */
    goc_ctx *ctx = goc_ctx_with_cancel(goc_ctx_background());
    GO_CHECK(ctx != NULL, "with_cancel");
    waiter c = {.s = &s, .ctx = ctx, .n = 3};
    t = start_thread(waiter_thread, &c);
    GO_CHECK(go_wait_ge(&c.started, 1, 5000), "thread did not start");
    GO_CHECK(go_stays_below(&c.got, 1, 50), "thread got 3 units with 2 free");
    goc_ctx_cancel(ctx);
    GO_CHECK(go_wait_ge(&c.got, 1, 5000), "cancel did not wake the thread");
    GO_CHECK(c.result == -ECANCELED, "thread's cancelled acquire: %d", c.result);
    pthread_join(t, NULL);
    goc_semaphore_release(&s, 1);
    GO_CHECK(sem_all_free(&s, 3), "units missing at the end");
    goc_ctx_release(ctx);
    keepalive_end();
    return 0;
}

/* Plain threads block in acquire and are woken by a goroutine's release or
 * ctx cancel. */
Test(semaphore, plain_thread_waits, .timeout = 15)
{
    cr_assert_eq(run_main(main_threads, NULL), 0);
}

/* Plain threads only, runtime never started: one holds, one waits. */
Test(semaphore, plain_threads_without_runtime, .timeout = 10)
{
    goc_semaphore s;
    goc_semaphore_init(&s, 2);
    cr_assert_eq(goc_semaphore_acquire(&s, NULL, 2), 0);
    waiter w = {.s = &s, .n = 1};
    pthread_t t = start_thread(waiter_thread, &w);
    cr_assert(thread_wait_ge(&w.started, 1, 5000));
    test_nap_ms(30);
    cr_assert_eq(atomic_load(&w.got), 0, "thread got a unit with none free");
    goc_semaphore_release(&s, 1);
    cr_assert(thread_wait_ge(&w.got, 1, 5000), "thread not woken by the release");
    cr_assert_eq(w.result, 0);
    atomic_store(&w.let_go, 1);
    pthread_join(t, NULL);
    goc_semaphore_release(&s, 1);
    GO_CHECK_REPORT();
    cr_assert(goc_semaphore_try_acquire(&s, 2), "units missing at the end");
}

/* ---- stress ----------------------------------------------------------------------------- */

#define ST_SIZE 8
#define ST_G    200
#define ST_T    2

static goc_semaphore st_sem = GOC_SEMAPHORE_INIT(ST_SIZE);
static atomic_long st_in_use, st_max, st_done, st_ok, st_cancelled;
static long st_iters;
static bool st_with_ctx; /* acquire with short timeouts, some of which expire */
static char info[256];   /* written by the main goroutine, logged by the test thread */

static void st_hold(unsigned *x, int64_t w, bool thread)
{
    long u = atomic_fetch_add(&st_in_use, w) + w;
    GO_CHECK(u <= ST_SIZE, "%ld units in use of %d", u, ST_SIZE);
    long m = atomic_load(&st_max);
    while (u > m && !atomic_compare_exchange_weak(&st_max, &m, u)) {
    }
    *x = *x * 1103515245u + 12345u;
    if ((*x >> 16) % 8 == 0) {
        if (thread)
            sched_yield();
        else
            goc_yield();
    } else if ((*x >> 16) % 64 == 1) {
        if (thread)
            test_nap_ms(1);
        else
            goc_sleep(200 * GOC_MICROSECOND);
    }
    atomic_fetch_sub(&st_in_use, w);
}

static void st_loop(long id, long iters, bool thread)
{
    unsigned x = (unsigned)id * 2654435761u + 7;
    for (long i = 0; i < iters; i++) {
        x = x * 1103515245u + 12345u;
        int64_t w = 1 + (x >> 16) % 4;
        goc_ctx *ctx = NULL;
        if (st_with_ctx) {
            ctx = goc_ctx_with_timeout(goc_ctx_background(),
                                       (goc_duration)((x >> 8) % 2000) * GOC_MICROSECOND);
            GO_CHECK(ctx != NULL, "with_timeout");
        }
        int r = goc_semaphore_acquire(&st_sem, ctx, w);
        if (r == 0) {
            atomic_fetch_add(&st_ok, 1);
            st_hold(&x, w, thread);
            goc_semaphore_release(&st_sem, w);
        } else {
            GO_CHECK(ctx != NULL && r == goc_ctx_err(ctx),
                     "acquire(%lld) returned %d (%s), ctx err %d", (long long)w, r, goc_strerror(r),
                     ctx ? goc_ctx_err(ctx) : 0);
            atomic_fetch_add(&st_cancelled, 1);
        }
        goc_ctx_release(ctx);
    }
    atomic_fetch_add(&st_done, 1);
}

static void st_worker(void *arg)
{
    st_loop((long)arg, st_iters, false);
}

static void *st_thread(void *arg)
{
    st_loop((long)arg, st_iters * 10, true);
    return NULL;
}

static int main_stress(void *arg)
{
    (void)arg;
    keepalive_start();
    pthread_t t[ST_T];
    for (long i = 0; i < ST_T; i++)
        t[i] = start_thread(st_thread, (void *)(1000 + i));
    for (long i = 0; i < ST_G; i++)
        GO_SPAWN(st_worker, i);
    GO_CHECK(go_wait_ge(&st_done, ST_G + ST_T, 20000), "only %ld of %d workers finished",
             atomic_load(&st_done), ST_G + ST_T);
    for (int i = 0; i < ST_T; i++)
        pthread_join(t[i], NULL);
    keepalive_end();
    long want = (ST_G + ST_T * 10) * st_iters;
    GO_CHECK(atomic_load(&st_ok) + atomic_load(&st_cancelled) == want,
             "%ld acquires + %ld cancelled, want %ld in all", atomic_load(&st_ok),
             atomic_load(&st_cancelled), want);
    GO_CHECK(atomic_load(&st_in_use) == 0, "%ld units in use at the end", atomic_load(&st_in_use));
    GO_CHECK(atomic_load(&st_max) > 4, "at most %ld units were ever in use: no contention",
             atomic_load(&st_max));
    GO_CHECK(sem_all_free(&st_sem, ST_SIZE), "units missing at the end");
    snprintf(info, sizeof info, "%ld acquires, %ld cancelled, at most %ld units in use",
             atomic_load(&st_ok), atomic_load(&st_cancelled), atomic_load(&st_max));
    return 0;
}

/* 200 goroutines and 2 plain threads acquire random weights 1..4 of a
 * size-8 semaphore: never more than 8 units in use, and everyone finishes. */
Test(semaphore, stress_weighted, .timeout = 30)
{
    st_iters = test_scale(100);
    cr_assert_eq(run_main(main_stress, NULL), 0);
    cr_log_info("%s", info);
}

/* Same with a ctx of 0-2 ms on every acquire, so cancellations race with
 * grants: a cancelled acquire never keeps units (all 8 free at the end). */
Test(semaphore, stress_weighted_with_timeouts, .timeout = 30)
{
    st_iters = test_scale(40);
    st_with_ctx = true;
    cr_assert_eq(run_main(main_stress, NULL), 0);
    cr_log_info("%s", info);
}
