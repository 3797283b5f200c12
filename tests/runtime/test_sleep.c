/*
 * test_sleep.c — goc_sleep and goc_now: sleeps last at least as long as asked
 * and not much longer, many sleepers all wake and in deadline order, plain
 * threads can sleep too, and an idle runtime burns no CPU.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>

#include "util.h"

/* ---- goc_now ------------------------------------------------------------ */

/* goc_now is CLOCK_MONOTONIC in nanoseconds and never goes backwards. */
Test(sleep, now_is_monotonic_nanoseconds, .timeout = 10)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t mono = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
    int64_t now = goc_now();
    cr_assert(now >= mono && now - mono < 50 * GOC_MILLISECOND,
              "goc_now %lld vs CLOCK_MONOTONIC %lld", (long long)now, (long long)mono);
    int64_t prev = goc_now();
    for (int i = 0; i < 100000; i++) {
        int64_t t = goc_now();
        cr_assert_geq(t, prev, "goc_now went backwards");
        prev = t;
    }
}

/* ---- durations ---------------------------------------------------------- */

static int main_durations(void *arg)
{
    (void)arg;
    const goc_duration ds[] = {GOC_MILLISECOND, 20 * GOC_MILLISECOND, 50 * GOC_MILLISECOND,
                               1500 * GOC_MICROSECOND};
    for (size_t i = 0; i < sizeof ds / sizeof ds[0]; i++) {
        int64_t t0 = goc_now();
        goc_sleep(ds[i]);
        int64_t el = goc_now() - t0;
        GO_CHECK(el >= ds[i], "goc_sleep(%lld us) returned after %lld us", (long long)ds[i] / 1000,
                 (long long)el / 1000);
        GO_CHECK(el < ds[i] + 200 * GOC_MILLISECOND * test_slack(),
                 "goc_sleep(%lld us) took %lld us", (long long)ds[i] / 1000, (long long)el / 1000);
    }
    return 0;
}

/* goc_sleep(d) parks for at least d and wakes soon after. */
Test(sleep, sleeps_at_least_the_duration, .timeout = 10)
{
    cr_assert_eq(run_main(main_durations, NULL), 0);
}

static atomic_int other_ran;

static void set_other_ran(void *arg)
{
    (void)arg;
    atomic_store(&other_ran, 1);
}

static int main_zero(void *arg)
{
    (void)arg;
    int64_t t0 = goc_now();
    for (int i = 0; i < 1000; i++) {
        goc_sleep(0);
        goc_sleep(-5);
    }
    goc_sleep(GOC_FOREVER);
    goc_sleep(INT64_MIN);
    int64_t el = goc_now() - t0;
    GO_CHECK(el < GOC_SECOND * test_slack(), "2002 non-positive sleeps took %lld ms",
             (long long)test_ms(el));

    /* ... but they do yield: with one P, a runnable goroutine gets to run. */
    if (goc_maxprocs() == 1) {
        GO_CHECK(goc_go(set_other_ran, NULL) == 0, "goc_go");
        goc_sleep(0);
        GO_CHECK(atomic_load(&other_ran), "goc_sleep(0) did not yield");
        atomic_store(&other_ran, 0);
        GO_CHECK(goc_go(set_other_ran, NULL) == 0, "goc_go");
        goc_sleep(GOC_FOREVER);
        GO_CHECK(atomic_load(&other_ran), "goc_sleep(GOC_FOREVER) did not yield");
    }
    return 0;
}

/* goc_sleep(0), negative durations and GOC_FOREVER return at once, after a
 * yield. */
Test(sleep, zero_and_negative_return_at_once, .timeout = 10)
{
    cr_assert_eq(run_main(main_zero, NULL), 0);
}

/* ---- many sleepers ------------------------------------------------------ */

static atomic_long woke, early;

static void random_sleeper(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    goc_duration d = (1 + rand_r(&seed) % 50) * GOC_MILLISECOND;
    int64_t t0 = goc_now();
    goc_sleep(d);
    if (goc_now() - t0 < d)
        atomic_fetch_add(&early, 1);
    atomic_fetch_add(&woke, 1);
}

static int main_many_sleepers(void *arg)
{
    long n = *(long *)arg;
    for (long i = 0; i < n; i++)
        GO_CHECK(goc_go(random_sleeper, (void *)(uintptr_t)(i + 1)) == 0, "goc_go");
    GO_CHECK(go_wait_ge(&woke, n, 10000), "%ld of %ld sleepers woke", atomic_load(&woke), n);
    return 0;
}

/* 10,000 goroutines sleeping 1-50 ms all wake, none early, and quickly. */
Test(sleep, ten_thousand_sleepers, .timeout = 30)
{
    long n = test_scale(10000);
    int64_t t0 = goc_now();
    cr_assert_eq(run_main(main_many_sleepers, &n), 0);
    int64_t el = goc_now() - t0;
    cr_log_info("%ld sleepers in %lld ms", n, (long long)test_ms(el));
    cr_assert_eq(atomic_load(&woke), n);
    cr_assert_eq(atomic_load(&early), 0, "%ld sleepers woke early", atomic_load(&early));
    cr_assert_lt(el, 2 * GOC_SECOND * test_slack(), "took %lld ms", (long long)test_ms(el));
}

/* Sleepers with deadlines ORDER_GAP_MS apart, all measured from one base
 * taken once every sleeper is parked at a gate (so a slow spawn, e.g. a
 * TSan fiber on a loaded machine, shifts none of them). What the test sees
 * is the order in which the sleepers ran after waking, which an OS delay
 * of one worker (4 workers on a loaded 2-core machine) can still swap
 * however wide the gap: a try with the wrong order is repeated, and the
 * test fails only if no try of ORDER_TRIES saw deadline order (a timer heap
 * that fires out of order does it every time). */
enum { ORDER_N = 6, ORDER_GAP_MS = 40, ORDER_TRIES = 4 };
static int wake_order[ORDER_N];
static atomic_long order_idx, order_done, order_ready;
static goc_chan *order_gate;
static int64_t order_base; /* written before the gate closes */

static void ordered_sleeper(void *arg)
{
    int k = (int)(intptr_t)arg;
    atomic_fetch_add(&order_ready, 1);
    goc_chan_recv(order_gate, NULL); /* closed: order_base is set */
    goc_sleep(order_base + (k + 1) * ORDER_GAP_MS * GOC_MILLISECOND - goc_now());
    long i = atomic_fetch_add(&order_idx, 1);
    if (i < ORDER_N)
        wake_order[i] = k;
    atomic_fetch_add(&order_done, 1); /* publishes wake_order[i] */
}

static bool order_try(void)
{
    atomic_store(&order_idx, 0);
    atomic_store(&order_done, 0);
    atomic_store(&order_ready, 0);
    order_gate = goc_chan_make(0, 0);
    /* Spawned longest first, so spawn order can't explain the result. */
    for (int k = ORDER_N - 1; k >= 0; k--)
        GO_CHECK(goc_go(ordered_sleeper, (void *)(intptr_t)k) == 0, "goc_go");
    GO_CHECK(go_wait_ge(&order_ready, ORDER_N, 5000), "sleepers did not all start");
    order_base = goc_now();
    goc_chan_close(order_gate);
    GO_CHECK(go_wait_ge(&order_done, ORDER_N, 5000), "sleepers did not all wake");
    goc_chan_release(order_gate);
    for (int i = 0; i < ORDER_N; i++)
        if (wake_order[i] != i)
            return false;
    return true;
}

static int main_order(void *arg)
{
    (void)arg;
    for (int t = 0; t < ORDER_TRIES && !test_failed(); t++)
        if (order_try())
            break;
    return 0;
}

/* Sleepers wake in deadline order. */
Test(sleep, wake_in_deadline_order, .timeout = 20)
{
    cr_assert_eq(run_main(main_order, NULL), 0);
    for (int i = 0; i < ORDER_N; i++)
        cr_assert_eq(wake_order[i], i, "wake #%d was the %d ms sleeper (in each of %d tries)", i,
                     (wake_order[i] + 1) * ORDER_GAP_MS, ORDER_TRIES);
}

/* ---- plain threads ------------------------------------------------------ */

static void *thread_sleeps(void *arg)
{
    int64_t t0 = goc_now();
    goc_sleep(30 * GOC_MILLISECOND);
    *(int64_t *)arg = goc_now() - t0;
    return NULL;
}

static int main_with_sleeping_thread(void *arg)
{
    pthread_t t;
    pthread_create(&t, NULL, thread_sleeps, arg);
    pthread_join(t, NULL);
    return 0;
}

/* On a thread that is not a goroutine, goc_sleep just sleeps — before the
 * runtime starts and while it runs. */
Test(sleep, sleep_on_plain_thread, .timeout = 10)
{
    int64_t t0 = goc_now();
    goc_sleep(20 * GOC_MILLISECOND);
    int64_t el = goc_now() - t0;
    cr_assert_geq(el, 20 * GOC_MILLISECOND, "slept %lld us", (long long)el / 1000);
    cr_assert_lt(el, 500 * GOC_MILLISECOND * test_slack());
    t0 = goc_now();
    goc_sleep(0);
    goc_sleep(GOC_FOREVER);
    cr_assert_lt(goc_now() - t0, 100 * GOC_MILLISECOND * test_slack());

    int64_t thread_el = 0;
    cr_assert_eq(run_main(main_with_sleeping_thread, &thread_el), 0);
    cr_assert_geq(thread_el, 30 * GOC_MILLISECOND, "slept %lld us", (long long)thread_el / 1000);
    cr_assert_lt(thread_el, 500 * GOC_MILLISECOND * test_slack());
}

/* ---- idle costs nothing ------------------------------------------------- */

static atomic_long burst_done;

static void burst(void *arg)
{
    (void)arg;
    goc_yield();
    atomic_fetch_add(&burst_done, 1);
}

static int main_idle(void *arg)
{
    int64_t *cpu = arg;
    /* Some activity first, so every worker has been woken at least once. */
    long n = test_scale(1000); /* a TSan fiber each: milliseconds when loaded */
    for (long i = 0; i < n; i++)
        GO_CHECK(goc_go(burst, NULL) == 0, "goc_go");
    GO_CHECK(go_wait_ge(&burst_done, n, 5000), "burst did not finish");
    goc_sleep(20 * GOC_MILLISECOND);
    int64_t c0 = test_cpu_ns();
    goc_sleep(500 * GOC_MILLISECOND);
    cpu[0] = test_cpu_ns() - c0;
    return 0;
}

/* A program whose goroutines all sleep uses (almost) no CPU: idle workers
 * and the monitor thread park instead of spinning — also once goc_run has
 * returned. */
Test(sleep, idle_runtime_uses_no_cpu, .timeout = 20)
{
    if (test_on_valgrind())
        cr_skip_test("CPU accounting is meaningless under valgrind");
    int64_t cpu[1] = {0};
    cr_assert_eq(run_main(main_idle, cpu), 0);
    cr_log_info("CPU while main slept 500 ms: %lld us", (long long)cpu[0] / 1000);
    cr_assert_lt(cpu[0], 50 * GOC_MILLISECOND, "used %lld ms of CPU while idle for 500 ms",
                 (long long)test_ms(cpu[0]));

    int64_t c0 = test_cpu_ns();
    test_nap_ms(300);
    int64_t after = test_cpu_ns() - c0;
    cr_assert_lt(after, 30 * GOC_MILLISECOND,
                 "used %lld ms of CPU in 300 ms after goc_run returned", (long long)test_ms(after));
}

/* ---- precision and extremes --------------------------------------------- */

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static int main_precision(void *arg)
{
    int64_t *late = arg; /* 50 samples */
    for (int i = 0; i < 50; i++) {
        int64_t t0 = goc_now();
        goc_sleep(GOC_MILLISECOND);
        late[i] = goc_now() - t0 - GOC_MILLISECOND;
    }
    return 0;
}

/* A 1 ms sleep on an otherwise idle runtime takes about 1 ms: idle workers
 * wait for the next timer, not for a coarse polling tick. */
Test(sleep, short_sleeps_are_precise, .timeout = 10)
{
    int64_t late[50];
    cr_assert_eq(run_main(main_precision, late), 0);
    qsort(late, 50, sizeof late[0], cmp_i64);
    cr_log_info("1 ms sleeps: median %lld us late, worst %lld us", (long long)late[25] / 1000,
                (long long)late[49] / 1000);
    cr_assert_geq(late[0], 0, "a 1 ms sleep returned early");
    cr_assert_lt(late[25], 2 * GOC_MILLISECOND * test_slack(),
                 "median lateness of a 1 ms sleep: %lld us", (long long)late[25] / 1000);
}

static atomic_int long_sleeper_woke;

static void sleep_huge(void *arg)
{
    goc_sleep(*(goc_duration *)arg);
    atomic_store(&long_sleeper_woke, 1);
}

static int main_huge(void *arg)
{
    (void)arg;
    static const goc_duration huge[] = {INT64_MAX, INT64_MAX - 1, INT64_MAX / 2,
                                        100 * 365 * 24 * GOC_HOUR};
    for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++)
        GO_CHECK(goc_go(sleep_huge, (void *)&huge[i]) == 0, "goc_go");
    goc_sleep(100 * GOC_MILLISECOND);
    GO_CHECK(!atomic_load(&long_sleeper_woke), "a sleep of ~INT64_MAX ns returned at once");
    return 0;
}

/* Huge durations do not overflow into "already expired". */
Test(sleep, huge_durations_do_not_overflow, .timeout = 10)
{
    cr_assert_eq(run_main(main_huge, NULL), 0);
}
