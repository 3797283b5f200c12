/*
 * test_timer.c — goc_timer_new / goc_ticker_new / goc_after_func and
 * goc_timer_chan / stop / reset / retain / release: one fire after ~d, stop
 * before and after the fire, reset's return value, tickers (period, dropped
 * ticks, reset), after_func in its own goroutine, release of a pending timer
 * (never fires, leaks nothing under ASan/LSan), plain threads, the
 * stop-vs-fire race (exactly one of "fired" and "stop returned true"), many
 * timers at once, and the server pattern: 100k arm+stop is fast and the
 * heaps are swept (goc_read_stats().timers stays bounded).
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>

#include "runtime/util.h"

/* goc_run, then report the first failed GO_CHECK of its goroutines. */

#define MS GOC_MILLISECOND

/* Receive one int64_t from c within timeout (select, so a missing value
 * fails a check instead of hanging). Returns the select result: 0, or
 * -ETIMEDOUT. */
static int recv_within(goc_chan *c, int64_t *v, goc_duration timeout)
{
    goc_case cs[] = {GOC_RECV(c, v)};
    return goc_select(cs, 1, timeout);
}

/* Upper bound for "it fires about d from now": generous, load on these
 * shared machines delays everything. */
static goc_duration late_bound(goc_duration d)
{
    return (d + 250 * MS) * test_slack();
}

/* ---- one fire after ~d ------------------------------------------------------ */

static void fires_once(void)
{
    const goc_duration ds[] = {0, 1 * MS, 10 * MS, 30 * MS};
    for (size_t i = 0; i < sizeof ds / sizeof *ds; i++) {
        goc_duration d = ds[i];
        int64_t t0 = goc_now();
        goc_timer *t = goc_timer_new(d);
        GO_CHECK(t != NULL, "goc_timer_new(%lld) NULL", (long long)d);
        if (!t)
            return;
        goc_chan *c = goc_timer_chan(t);
        GO_CHECK(c != NULL, "timer chan NULL");
        GO_CHECK(goc_chan_cap(c) == 1, "timer chan cap %zu, want 1", goc_chan_cap(c));
        int64_t v = 0;
        int r = recv_within(c, &v, late_bound(d));
        int64_t el = goc_now() - t0;
        GO_CHECK(r == 0, "d=%lld ms: no fire within %lld ms (%d)", (long long)test_ms(d),
                 (long long)test_ms(late_bound(d)), r);
        GO_CHECK(el >= d, "d=%lld ms: fired after only %lld us", (long long)test_ms(d),
                 (long long)el / 1000);
        GO_CHECK(v >= t0 + d && v <= goc_now(), "d=%lld ms: value %lld not in [t0+d, now]",
                 (long long)test_ms(d), (long long)(v - t0));
        /* Once: nothing more arrives. */
        r = recv_within(c, &v, 3 * d + 20 * MS);
        GO_CHECK(r == -ETIMEDOUT, "d=%lld ms: a second value arrived (%d)", (long long)test_ms(d),
                 r);
        GO_CHECK(!goc_timer_stop(t), "stop after the fire returned true");
        goc_timer_release(t);
    }
}

static int main_fires_once(void *arg)
{
    (void)arg;
    fires_once();
    return 0;
}

Test(timer, fires_once_after_d, .timeout = 30)
{
    cr_assert_eq(run_main(main_fires_once, NULL), 0);
}

/* A negative d fires at once, as Go's NewTimer(-1). */
static int main_negative(void *arg)
{
    (void)arg;
    goc_timer *t = goc_timer_new(-5 * MS);
    GO_CHECK(t != NULL, "goc_timer_new(-5ms) NULL");
    int64_t v;
    int r = recv_within(goc_timer_chan(t), &v, late_bound(0));
    GO_CHECK(r == 0, "negative d: no fire (%d)", r);
    goc_timer_release(t);
    return 0;
}

Test(timer, negative_duration_fires_at_once, .timeout = 20)
{
    cr_assert_eq(run_main(main_negative, NULL), 0);
}

/* ---- stop ------------------------------------------------------------------- */

static int main_stop_before(void *arg)
{
    (void)arg;
    goc_timer *t = goc_timer_new(20 * MS);
    GO_CHECK(goc_timer_stop(t), "stop of a pending timer returned false");
    GO_CHECK(!goc_timer_stop(t), "second stop returned true");
    int64_t v;
    int r = recv_within(goc_timer_chan(t), &v, 80 * MS);
    GO_CHECK(r == -ETIMEDOUT, "stopped timer delivered a value (%d)", r);
    GO_CHECK(goc_chan_try_recv(goc_timer_chan(t), &v) == -EAGAIN, "stopped timer: value later");
    GO_CHECK(goc_chan_len(goc_timer_chan(t)) == 0, "stopped timer: len %zu",
             goc_chan_len(goc_timer_chan(t)));
    goc_timer_release(t);

    /* Stop at once after creation, with d = 0 and 1 ns: racy with the fire,
     * but the invariant holds either way (see stop_race below). */
    return 0;
}

Test(timer, stop_before_fire_returns_true_and_nothing_arrives, .timeout = 20)
{
    cr_assert_eq(run_main(main_stop_before, NULL), 0);
}

static int main_stop_after(void *arg)
{
    (void)arg;
    /* Fired and received. */
    goc_timer *t = goc_timer_new(1 * MS);
    int64_t v;
    GO_CHECK(recv_within(goc_timer_chan(t), &v, late_bound(MS)) == 0, "no fire");
    GO_CHECK(!goc_timer_stop(t), "stop after fire+recv returned true");
    goc_timer_release(t);

    /* Fired, value not received yet: stop returns false and the value
     * stays in the channel. */
    t = goc_timer_new(1 * MS);
    int64_t deadline = goc_now() + late_bound(MS);
    while (goc_chan_len(goc_timer_chan(t)) == 0 && goc_now() < deadline)
        goc_sleep(MS);
    GO_CHECK(goc_chan_len(goc_timer_chan(t)) == 1, "timer never filled its channel");
    GO_CHECK(!goc_timer_stop(t), "stop after fire (value buffered) returned true");
    GO_CHECK(goc_chan_try_recv(goc_timer_chan(t), &v) == 0, "the fired value was lost by stop");
    goc_timer_release(t);
    return 0;
}

Test(timer, stop_after_fire_returns_false, .timeout = 20)
{
    cr_assert_eq(run_main(main_stop_after, NULL), 0);
}

/* ---- reset ------------------------------------------------------------------ */

static int main_reset(void *arg)
{
    (void)arg;
    int64_t v;
    /* Pending (1 h) -> reset to 10 ms: 1, and it fires about then. */
    goc_timer *t = goc_timer_new(GOC_HOUR);
    int64_t t0 = goc_now();
    int r = goc_timer_reset(t, 10 * MS);
    GO_CHECK(r == 1, "reset of a pending timer: %d, want 1", r);
    r = recv_within(goc_timer_chan(t), &v, late_bound(10 * MS));
    GO_CHECK(r == 0, "reset timer did not fire (%d)", r);
    GO_CHECK(goc_now() - t0 >= 10 * MS, "reset timer fired early (%lld us)",
             (long long)(goc_now() - t0) / 1000);

    /* Fired -> reset: 0, and it fires again. */
    t0 = goc_now();
    r = goc_timer_reset(t, 5 * MS);
    GO_CHECK(r == 0, "reset of a fired timer: %d, want 0", r);
    r = recv_within(goc_timer_chan(t), &v, late_bound(5 * MS));
    GO_CHECK(r == 0, "re-armed fired timer did not fire (%d)", r);
    GO_CHECK(v >= t0 + 5 * MS, "re-armed timer value too early");

    /* Stopped -> reset: 0, fires. */
    r = goc_timer_reset(t, GOC_HOUR);
    GO_CHECK(r == 0, "reset after fire: %d, want 0", r);
    GO_CHECK(goc_timer_stop(t), "stop after reset(1h) returned false");
    r = goc_timer_reset(t, 2 * MS);
    GO_CHECK(r == 0, "reset of a stopped timer: %d, want 0", r);
    r = recv_within(goc_timer_chan(t), &v, late_bound(2 * MS));
    GO_CHECK(r == 0, "reset after stop did not fire (%d)", r);

    /* Reset to a later time: does not fire at the old time. */
    goc_timer_reset(t, 10 * MS);
    r = goc_timer_reset(t, 150 * MS);
    GO_CHECK(r == 1, "reset of a pending timer to later: %d", r);
    r = recv_within(goc_timer_chan(t), &v, 60 * MS);
    GO_CHECK(r == -ETIMEDOUT, "timer fired at its old time after reset to later (%d)", r);
    GO_CHECK(goc_timer_stop(t), "stop of the re-armed timer returned false");

    /* Many resets in a row on a pending timer: still one fire. */
    goc_timer_reset(t, GOC_HOUR);
    for (int i = 0; i < 1000; i++)
        goc_timer_reset(t, (i % 7 + 1) * GOC_SECOND);
    r = goc_timer_reset(t, 1 * MS);
    GO_CHECK(r == 1, "reset after 1000 resets: %d", r);
    GO_CHECK(recv_within(goc_timer_chan(t), &v, late_bound(MS)) == 0, "no fire after resets");
    GO_CHECK(recv_within(goc_timer_chan(t), &v, 30 * MS) == -ETIMEDOUT,
             "two fires after many resets");
    goc_timer_release(t);
    return 0;
}

Test(timer, reset_rearms_and_reports_pending, .timeout = 30)
{
    cr_assert_eq(run_main(main_reset, NULL), 0);
}

/* ---- tickers ---------------------------------------------------------------- */

static int main_ticker(void *arg)
{
    (void)arg;
    GO_CHECK(goc_ticker_new(0) == NULL, "ticker period 0 not NULL");
    GO_CHECK(goc_ticker_new(-MS) == NULL, "ticker period -1ms not NULL");

    const goc_duration period = 10 * MS;
    const int n = 10;
    int64_t t0 = goc_now();
    goc_timer *tk = goc_ticker_new(period);
    GO_CHECK(tk != NULL, "goc_ticker_new NULL");
    goc_chan *c = goc_timer_chan(tk);
    GO_CHECK(c && goc_chan_cap(c) == 1, "ticker chan cap");
    int64_t prev = t0;
    for (int i = 0; i < n; i++) {
        int64_t v = 0;
        int r = recv_within(c, &v, late_bound(period));
        if (r != 0) {
            GO_CHECK(r == 0, "tick %d missing (%d)", i, r);
            break;
        }
        GO_CHECK(v > prev, "tick %d value %lld not after the previous", i, (long long)(v - t0));
        prev = v;
    }
    int64_t el = goc_now() - t0;
    GO_CHECK(el >= n * period - period / 2, "%d ticks of %lld ms in only %lld ms", n,
             (long long)test_ms(period), (long long)test_ms(el));
    GO_CHECK(el <= (n * period + 500 * MS) * test_slack(), "%d ticks of %lld ms took %lld ms", n,
             (long long)test_ms(period), (long long)test_ms(el));

    /* Not drained: ticks are dropped, the channel never holds more than 1. */
    size_t maxlen = 0;
    int64_t end = goc_now() + 100 * MS;
    while (goc_now() < end) {
        size_t l = goc_chan_len(c);
        if (l > maxlen)
            maxlen = l;
        goc_sleep(MS);
    }
    GO_CHECK(maxlen == 1, "undrained ticker: max len %zu, want 1", maxlen);
    int64_t v;
    GO_CHECK(goc_chan_try_recv(c, &v) == 0, "undrained ticker: no buffered tick");
    /* The dropped ticks are gone: the next one comes a period later, not
     * in a burst. */
    GO_CHECK(goc_chan_try_recv(c, &v) == -EAGAIN, "a second tick right after the buffered one");

    /* Stop: true (a ticker is always pending), and no more ticks. */
    GO_CHECK(goc_timer_stop(tk), "stop of a running ticker returned false");
    goc_chan_try_recv(c, &v); /* one may have landed before the stop */
    GO_CHECK(recv_within(c, &v, 5 * period) == -ETIMEDOUT, "stopped ticker still ticks");
    GO_CHECK(!goc_timer_stop(tk), "second stop of a ticker returned true");
    goc_timer_release(tk);
    return 0;
}

Test(ticker, ticks_every_period_and_drops_when_full, .timeout = 30)
{
    cr_assert_eq(run_main(main_ticker, NULL), 0);
}

static int main_ticker_reset(void *arg)
{
    (void)arg;
    goc_timer *tk = goc_ticker_new(GOC_HOUR);
    goc_chan *c = goc_timer_chan(tk);
    GO_CHECK(goc_timer_reset(tk, 0) == -EINVAL, "ticker reset(0) not -EINVAL");
    GO_CHECK(goc_timer_reset(tk, -MS) == -EINVAL, "ticker reset(-1ms) not -EINVAL");
    int64_t t0 = goc_now();
    int r = goc_timer_reset(tk, 5 * MS);
    GO_CHECK(r == 1, "reset of a running ticker: %d, want 1", r);
    for (int i = 0; i < 8; i++) {
        int64_t v;
        r = recv_within(c, &v, late_bound(5 * MS));
        if (r != 0) {
            GO_CHECK(r == 0, "tick %d after reset to 5 ms missing (%d)", i, r);
            break;
        }
    }
    int64_t el = goc_now() - t0;
    GO_CHECK(el >= 8 * 5 * MS - 3 * MS, "8 ticks of 5 ms in %lld ms", (long long)test_ms(el));

    /* Reset to a longer period: the ticks slow down. */
    r = goc_timer_reset(tk, 100 * MS);
    GO_CHECK(r == 1, "reset 5ms -> 100ms: %d", r);
    int64_t v;
    goc_chan_try_recv(c, &v); /* a tick of the old period may be buffered */
    r = recv_within(c, &v, 50 * MS);
    GO_CHECK(r == -ETIMEDOUT, "ticker reset to 100 ms ticked within 50 ms");
    r = recv_within(c, &v, late_bound(100 * MS));
    GO_CHECK(r == 0, "ticker reset to 100 ms never ticked (%d)", r);

    /* Stopped ticker, reset: ticks again. */
    GO_CHECK(goc_timer_stop(tk), "stop");
    goc_chan_try_recv(c, &v);
    r = goc_timer_reset(tk, 3 * MS);
    GO_CHECK(r == 0, "reset of a stopped ticker: %d, want 0", r);
    for (int i = 0; i < 3; i++)
        GO_CHECK(recv_within(c, &v, late_bound(3 * MS)) == 0, "restarted ticker tick %d", i);
    goc_timer_release(tk);
    return 0;
}

Test(ticker, reset_to_new_period, .timeout = 30)
{
    cr_assert_eq(run_main(main_ticker_reset, NULL), 0);
}

/* The common loop "receive a tick; decide to stop": the ticker is running,
 * so stop must report that it prevented further ticks (true), and none
 * come after it, even when the receiver wakes before the firing thread has
 * finished scheduling the next tick. Same for reset (1: it was pending). */
static int main_ticker_stop_after_tick(void *arg)
{
    (void)arg;
    int rounds = (int)test_scale(200), bad_stop = 0, bad_reset = 0, late = 0;
    for (int i = 0; i < rounds; i++) {
        goc_timer *tk = goc_ticker_new(MS);
        goc_chan *c = goc_timer_chan(tk);
        int64_t v;
        if (recv_within(c, &v, late_bound(MS)) != 0) {
            GO_CHECK(0, "round %d: no tick", i);
            goc_timer_release(tk);
            break;
        }
        if (i % 2) {
            if (goc_timer_reset(tk, GOC_HOUR) != 1)
                bad_reset++;
        } else if (!goc_timer_stop(tk)) {
            bad_stop++;
        }
        goc_sleep(3 * MS);
        goc_chan_try_recv(c, &v); /* a tick sent before the stop may be buffered */
        if (recv_within(c, &v, 5 * MS) == 0)
            late++;
        goc_timer_release(tk);
    }
    GO_CHECK(bad_stop == 0 && bad_reset == 0,
             "stop/reset right after a tick reported the running ticker as not pending: "
             "stop false %d times, reset 0 %d times, of %d rounds",
             bad_stop, bad_reset, rounds);
    GO_CHECK(late == 0, "ticker ticked after stop/reset(1h) in %d of %d rounds", late, rounds);
    return 0;
}

Test(ticker, stop_right_after_tick, .timeout = 30)
{
    cr_assert_eq(run_main(main_ticker_stop_after_tick, NULL), 0);
}

/* ---- after_func --------------------------------------------------------------- */

static atomic_long af_runs;
static _Atomic uint64_t af_id;
static _Atomic int64_t af_when;

static void af_fn(void *arg)
{
    atomic_store(&af_id, goc_id());
    atomic_store(&af_when, goc_now());
    GO_CHECK(arg == (void *)&af_runs, "after_func arg %p", arg);
    atomic_fetch_add(&af_runs, 1);
}

static int main_after_func(void *arg)
{
    (void)arg;
    uint64_t me = goc_id();
    int64_t t0 = goc_now();
    goc_timer *t = goc_after_func(10 * MS, af_fn, &af_runs);
    GO_CHECK(t != NULL, "goc_after_func NULL");
    GO_CHECK(goc_timer_chan(t) == NULL, "after_func timer has a channel");
    GO_CHECK(go_wait_ge(&af_runs, 1, 1000), "after_func fn never ran");
    GO_CHECK(atomic_load(&af_when) - t0 >= 10 * MS, "fn ran after %lld us",
             (long long)(atomic_load(&af_when) - t0) / 1000);
    uint64_t id = atomic_load(&af_id);
    GO_CHECK(id != 0 && id != me, "fn ran with goc_id %llu (caller %llu)", (unsigned long long)id,
             (unsigned long long)me);
    goc_sleep(40 * MS);
    GO_CHECK(atomic_load(&af_runs) == 1, "fn ran %ld times", atomic_load(&af_runs));
    GO_CHECK(!goc_timer_stop(t), "stop after fn ran returned true");

    /* Reset after it ran: 0, and fn runs again. */
    int r = goc_timer_reset(t, 2 * MS);
    GO_CHECK(r == 0, "after_func reset after run: %d", r);
    GO_CHECK(go_wait_ge(&af_runs, 2, 1000), "fn did not run again after reset");

    /* Stop before: fn never runs. */
    r = goc_timer_reset(t, 20 * MS);
    GO_CHECK(r == 0, "reset: %d", r);
    GO_CHECK(goc_timer_stop(t), "stop of a pending after_func returned false");
    goc_sleep(60 * MS);
    GO_CHECK(atomic_load(&af_runs) == 2, "stopped after_func ran (runs %ld)",
             atomic_load(&af_runs));
    goc_timer_release(t);
    return 0;
}

Test(after_func, runs_once_in_its_own_goroutine, .timeout = 20)
{
    cr_assert_eq(run_main(main_after_func, NULL), 0);
}

/* fn may block (it is a goroutine): a blocked fn does not hold up other
 * timers. */
static goc_chan *block_ch;
static atomic_long block_started;

static void af_block(void *arg)
{
    (void)arg;
    atomic_fetch_add(&block_started, 1);
    int v;
    goc_chan_recv(block_ch, &v);
}

static int main_after_func_blocks(void *arg)
{
    (void)arg;
    block_ch = goc_chan_make(sizeof(int), 0);
    goc_timer *a = goc_after_func(1 * MS, af_block, NULL);
    GO_CHECK(go_wait_ge(&block_started, 1, 1000), "blocking fn never started");
    goc_timer *t = goc_timer_new(5 * MS);
    int64_t v;
    GO_CHECK(recv_within(goc_timer_chan(t), &v, late_bound(5 * MS)) == 0,
             "a timer stalled behind a blocked after_func fn");
    int one = 1;
    goc_chan_send(block_ch, &one);
    goc_timer_release(t);
    goc_timer_release(a);
    goc_chan_release(block_ch);
    return 0;
}

Test(after_func, fn_may_block, .timeout = 20)
{
    cr_assert_eq(run_main(main_after_func_blocks, NULL), 0);
}

/* ---- release of a pending timer ------------------------------------------------ */

static atomic_long rel_runs;

static void rel_fn(void *arg)
{
    (void)arg;
    atomic_fetch_add(&rel_runs, 1);
}

static int main_release_pending(void *arg)
{
    (void)arg;
    /* after_func: released while pending, fn never runs. */
    for (int i = 0; i < 100; i++) {
        goc_timer *t = goc_after_func(5 * MS + i * 100 * GOC_MICROSECOND, rel_fn, NULL);
        goc_timer_release(t);
    }
    /* Channel timers and tickers, released while pending; one of the
     * channels kept alive by its own reference. */
    goc_timer *t = goc_timer_new(5 * MS);
    goc_chan *c = goc_chan_retain(goc_timer_chan(t));
    goc_timer_release(t);
    for (int i = 0; i < 100; i++) {
        goc_timer_release(goc_timer_new(3 * MS + i * 50 * GOC_MICROSECOND));
        goc_timer_release(goc_ticker_new(2 * MS + i * 50 * GOC_MICROSECOND));
        goc_timer_release(goc_timer_new(GOC_HOUR));
    }
    goc_sleep(50 * MS);
    GO_CHECK(atomic_load(&rel_runs) == 0, "released after_func timers ran %ld times",
             atomic_load(&rel_runs));
    int64_t v;
    GO_CHECK(goc_chan_try_recv(c, &v) == -EAGAIN, "released timer sent on its channel");
    goc_chan_release(c);

    /* retain + release: the timer lives on with the other reference. */
    t = goc_timer_new(5 * MS);
    GO_CHECK(goc_timer_retain(t) == t, "retain returns its argument");
    goc_timer_release(t);
    /* Whether the first release stopped it or not, the second reference
     * keeps the object (and its channel) valid. */
    goc_chan_try_recv(goc_timer_chan(t), &v);
    goc_timer_stop(t);
    goc_timer_release(t);
    goc_timer_release(NULL);

    /* Allow any (wrong) fire to run into freed memory under ASan. */
    goc_sleep(20 * MS);
    return 0;
}

Test(timer, release_of_pending_never_fires, .timeout = 20)
{
    cr_assert_eq(run_main(main_release_pending, NULL), 0);
}

/* Releasing after the fire, with the value unreceived: nothing leaks. */
static int main_release_fired(void *arg)
{
    (void)arg;
    for (int i = 0; i < 50; i++) {
        goc_timer *t = goc_timer_new(0);
        goc_timer *k = goc_ticker_new(GOC_MILLISECOND);
        goc_timer *a = goc_after_func(0, rel_fn, NULL);
        goc_sleep(2 * MS);
        goc_timer_release(t);
        goc_timer_release(k);
        goc_timer_release(a);
    }
    GO_CHECK(go_wait_ge(&rel_runs, 1, 1000), "no after_func(0) ran");
    goc_sleep(10 * MS);
    return 0;
}

Test(timer, release_after_fire, .timeout = 20)
{
    cr_assert_eq(run_main(main_release_fired, NULL), 0);
}

/* ---- exactly one of "fired" and "stop returned true" ------------------------------- */

static atomic_long race_runs;

static void race_fn(void *arg)
{
    (void)arg;
    atomic_fetch_add(&race_runs, 1);
}

static int main_stop_race(void *arg)
{
    (void)arg;
    const long n = test_scale(20000);
    long stopped = 0, fired = 0, both = 0, neither = 0;
    uint64_t seed = 1;
    for (long i = 0; i < n; i++) {
        goc_duration d = (goc_duration)(i % 50) * GOC_MICROSECOND;
        goc_timer *t = goc_timer_new(d);
        /* Spin a little so some fire before the stop. */
        for (uint64_t spin = (seed = seed * 6364136223846793005u + 1) >> 54; spin; spin--)
            __asm__ volatile("");
        if (i % 64 == 0)
            goc_yield();
        bool s = goc_timer_stop(t);
        int64_t v;
        int r;
        if (s) {
            r = goc_chan_try_recv(goc_timer_chan(t), &v);
            stopped++;
            if (r == 0)
                both++;
        } else {
            r = recv_within(goc_timer_chan(t), &v, late_bound(0));
            fired++;
            if (r != 0)
                neither++;
        }
        goc_timer_release(t);
        if (both || neither)
            break;
    }
    GO_CHECK(both == 0, "stop returned true but the value was delivered (%ld times)", both);
    GO_CHECK(neither == 0, "stop returned false but nothing was delivered (%ld times)", neither);
    (void)stopped;
    (void)fired;

    /* The same with after_func: runs + successful stops == n. */
    long nstop = 0;
    for (long i = 0; i < n; i++) {
        goc_timer *t = goc_after_func((goc_duration)(i % 30) * GOC_MICROSECOND, race_fn, NULL);
        if (i % 16 == 0)
            goc_yield();
        if (goc_timer_stop(t))
            nstop++;
        goc_timer_release(t);
    }
    GO_CHECK(go_wait_ge(&race_runs, n - nstop, 5000), "after_func: %ld runs + %ld stops < %ld",
             atomic_load(&race_runs), nstop, n);
    goc_sleep(20 * MS);
    GO_CHECK(atomic_load(&race_runs) + nstop == n, "after_func: %ld runs + %ld stops != %ld",
             atomic_load(&race_runs), nstop, n);
    return 0;
}

Test(timer, stop_vs_fire_exactly_one, .timeout = 60)
{
    cr_assert_eq(run_main(main_stop_race, NULL), 0);
}

/* Concurrent stop/reset of one timer from several goroutines while it
 * fires: no crash, no double fire beyond the channel's cap, and it ends
 * in a consistent state. */
static goc_timer *shared_t;
static atomic_long shared_done;

static void hammer(void *arg)
{
    long k = (long)arg;
    for (int i = 0; i < test_scale(20000); i++) {
        if ((i + k) % 3 == 0)
            goc_timer_stop(shared_t);
        else
            goc_timer_reset(shared_t, (goc_duration)((i * 7 + k) % 20) * GOC_MICROSECOND);
        if (i % 32 == 0)
            goc_yield();
    }
    atomic_fetch_add(&shared_done, 1);
}

static int main_hammer(void *arg)
{
    (void)arg;
    shared_t = goc_timer_new(GOC_MICROSECOND);
    goc_chan *c = goc_timer_chan(shared_t);
    for (long k = 0; k < 4; k++)
        GO_SPAWN(hammer, k);
    int64_t v;
    long got = 0;
    while (atomic_load(&shared_done) < 4) {
        if (goc_chan_try_recv(c, &v) == 0)
            got++;
        goc_yield();
    }
    GO_CHECK(goc_chan_len(c) <= 1, "len %zu", goc_chan_len(c));
    /* Final state: reset then a fire arrives exactly once. A fire already
     * in flight when stop returns false may still deliver (Go before 1.23
     * allows it): let it land, then drain. */
    goc_timer_stop(shared_t);
    goc_sleep(5 * MS);
    goc_chan_try_recv(c, &v);
    goc_timer_reset(shared_t, MS);
    GO_CHECK(recv_within(c, &v, late_bound(MS)) == 0, "no fire after the hammering");
    GO_CHECK(recv_within(c, &v, 20 * MS) == -ETIMEDOUT, "second fire after the hammering");
    goc_timer_release(shared_t);
    (void)got;
    return 0;
}

Test(timer, concurrent_stop_reset, .timeout = 60)
{
    cr_assert_eq(run_main(main_hammer, NULL), 0);
}

/* ---- many timers at once ---------------------------------------------------------- */

static atomic_long many_ok;

static void many_worker(void *arg)
{
    long i = (long)arg;
    goc_duration d = (goc_duration)(i * 7919 % 20000) * GOC_MICROSECOND; /* 0..20 ms */
    int64_t t0 = goc_now();
    goc_timer *t = goc_timer_new(d);
    if (!t) {
        GO_CHECK(t != NULL, "goc_timer_new NULL");
        return;
    }
    int64_t v;
    int r = goc_chan_recv(goc_timer_chan(t), &v);
    int64_t el = goc_now() - t0;
    GO_CHECK(r == 0, "recv %d", r);
    GO_CHECK(el >= d && v >= t0 + d, "timer %ld of %lld us fired after %lld us", i,
             (long long)d / 1000, (long long)el / 1000);
    goc_timer_release(t);
    atomic_fetch_add(&many_ok, 1);
}

static int main_many(void *arg)
{
    (void)arg;
    long n = test_scale(10000);
    for (long i = 0; i < n; i++)
        GO_SPAWN(many_worker, i);
    GO_CHECK(go_wait_ge(&many_ok, n, 10000), "%ld of %ld timers fired", atomic_load(&many_ok), n);
    return 0;
}

Test(timer, many_concurrent_timers, .timeout = 60)
{
    cr_assert_eq(run_main(main_many, NULL), 0);
}

/* ---- plain threads ------------------------------------------------------------------ */

static atomic_long th_ok;

static void *th_timer(void *arg)
{
    (void)arg;
    int64_t t0 = goc_now();
    goc_timer *t = goc_timer_new(10 * MS);
    int64_t v;
    int r = recv_within(goc_timer_chan(t), &v, late_bound(10 * MS));
    GO_CHECK(r == 0, "plain thread: no fire (%d)", r);
    GO_CHECK(goc_now() - t0 >= 10 * MS, "plain thread: early fire");
    goc_timer *s = goc_timer_new(10 * MS);
    GO_CHECK(goc_timer_stop(s), "plain thread: stop of pending false");
    goc_timer_release(s);
    goc_timer_release(t);
    uint64_t me = goc_id();
    GO_CHECK(me == 0, "plain thread goc_id %llu", (unsigned long long)me);
    goc_timer *a = goc_after_func(2 * MS, af_fn, &af_runs);
    /* af_fn records its goroutine id; it runs in a goroutine. */
    int64_t deadline = goc_now() + late_bound(2 * MS);
    while (atomic_load(&af_runs) < 1 && goc_now() < deadline)
        test_nap_ms(1);
    GO_CHECK(atomic_load(&af_runs) == 1, "plain thread: after_func runs %ld",
             atomic_load(&af_runs));
    GO_CHECK(atomic_load(&af_id) != 0, "after_func from a thread ran outside a goroutine");
    goc_timer_release(a);
    atomic_fetch_add(&th_ok, 1);
    return NULL;
}

static int main_threads(void *arg)
{
    (void)arg;
    pthread_t th = start_thread(th_timer, NULL);
    GO_CHECK(go_wait_ge(&th_ok, 1, 5000), "plain thread did not finish");
    pthread_join(th, NULL);
    return 0;
}

Test(timer, from_plain_thread, .timeout = 30)
{
    cr_assert_eq(run_main(main_threads, NULL), 0);
}

/* ---- the server pattern: 100k arm+stop --------------------------------------------- */

static int main_arm_stop(void *arg)
{
    (void)arg;
    goc_stats st;
    goc_read_stats(&st);
    uint64_t base = st.timers;
    const long n = 100000;
    uint64_t peak = 0;
    int64_t t0 = goc_now();
    for (long i = 0; i < n; i++) {
        goc_timer *t = goc_timer_new(GOC_HOUR);
        if (!t) {
            GO_CHECK(t != NULL, "goc_timer_new NULL at %ld", i);
            return 0;
        }
        bool s = goc_timer_stop(t);
        if (!s) {
            GO_CHECK(s, "stop of a 1 h timer returned false at %ld", i);
            return 0;
        }
        goc_timer_release(t);
        if (i % 1024 == 0) {
            goc_read_stats(&st);
            if (st.timers > peak)
                peak = st.timers;
        }
    }
    int64_t el = goc_now() - t0;
    goc_read_stats(&st);
    if (st.timers > peak)
        peak = st.timers;
    GO_CHECK(el < GOC_SECOND * test_slack() * (TEST_ASAN ? 4 : 1) * (test_on_valgrind() ? 20 : 1),
             "100k arm+stop took %lld ms", (long long)test_ms(el));
    GO_CHECK(peak <= base + 2000, "timers peaked at %llu (base %llu): stopped timers not swept",
             (unsigned long long)peak, (unsigned long long)base);
    goc_sleep(10 * MS);
    goc_read_stats(&st);
    GO_CHECK(st.timers <= base + 2000, "timers %llu after 100k arm+stop (base %llu)",
             (unsigned long long)st.timers, (unsigned long long)base);

    /* The same with reset instead of new: one timer re-armed and stopped. */
    goc_timer *t = goc_timer_new(GOC_HOUR);
    t0 = goc_now();
    for (long i = 0; i < n; i++) {
        goc_timer_reset(t, GOC_HOUR + i);
        goc_timer_stop(t);
    }
    el = goc_now() - t0;
    goc_timer_release(t);
    goc_read_stats(&st);
    GO_CHECK(el < GOC_SECOND * test_slack() * (TEST_ASAN ? 4 : 1) * (test_on_valgrind() ? 20 : 1),
             "100k reset+stop took %lld ms", (long long)test_ms(el));
    GO_CHECK(st.timers <= base + 2000, "timers %llu after 100k reset+stop (base %llu)",
             (unsigned long long)st.timers, (unsigned long long)base);

    /* Live timers still fire after all that sweeping. */
    goc_timer *live = goc_timer_new(5 * MS);
    int64_t v;
    GO_CHECK(recv_within(goc_timer_chan(live), &v, late_bound(5 * MS)) == 0,
             "a live timer did not fire after the sweeps");
    goc_timer_release(live);
    return 0;
}

Test(timer, arm_stop_100k_fast_and_swept, .timeout = 60)
{
    cr_assert_eq(run_main(main_arm_stop, NULL), 0);
}

/* Stopped timers mixed with live ones: sweeping never drops a live one. */
static int main_sweep_mixed(void *arg)
{
    (void)arg;
    enum { LIVE = 200 };
    goc_timer *live[LIVE];
    int64_t t0 = goc_now();
    for (int i = 0; i < LIVE; i++) {
        live[i] = goc_timer_new(20 * MS + i * 50 * GOC_MICROSECOND);
        for (int j = 0; j < 100; j++) {
            goc_timer *t = goc_timer_new(MS + j * GOC_MICROSECOND);
            goc_timer_stop(t);
            goc_timer_release(t);
        }
    }
    for (int i = 0; i < LIVE; i++) {
        int64_t v;
        int r = recv_within(goc_timer_chan(live[i]), &v, late_bound(40 * MS));
        GO_CHECK(r == 0, "live timer %d lost among stopped ones (%d)", i, r);
        GO_CHECK(v >= t0 + 20 * MS, "live timer %d early", i);
        goc_timer_release(live[i]);
        if (r != 0)
            break;
    }
    return 0;
}

Test(timer, sweep_keeps_live_timers, .timeout = 30)
{
    cr_assert_eq(run_main(main_sweep_mixed, NULL), 0);
}
