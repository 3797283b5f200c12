/*
 * test_waitgroup.c — goc_waitgroup: add/done/wait, a zero counter, reuse
 * after wait, many waiters (goroutines and plain threads) released by the
 * last done, deltas other than ±1.
 */
#include "syncutil.h"

/* ---- add(N), N dones, wait ------------------------------------------------- */

#define BASIC_N 100

static goc_waitgroup basic_wg; /* zero value */
static atomic_long basic_done;

static void basic_worker(void *arg)
{
    long i = (long)arg;
    if (i % 3 == 0)
        goc_sleep((i % 7) * GOC_MILLISECOND);
    else if (i % 3 == 1)
        goc_yield();
    atomic_fetch_add(&basic_done, 1);
    goc_waitgroup_done(&basic_wg);
}

static int main_basic(void *arg)
{
    (void)arg;
    goc_waitgroup_add(&basic_wg, BASIC_N);
    for (long i = 0; i < BASIC_N; i++)
        GO_SPAWN(basic_worker, i);
    goc_waitgroup_wait(&basic_wg);
    GO_CHECK(atomic_load(&basic_done) == BASIC_N, "wait returned after %ld of %d dones",
             atomic_load(&basic_done), BASIC_N);
    return 0;
}

/* add(100), 100 goroutines each done once, wait returns after all. */
Test(waitgroup, add_n_done_n_wait, .timeout = 15)
{
    cr_assert_eq(run_main(main_basic, NULL), 0);
}

/* Same, with one add(1) per goroutine and the dones from plain threads. */
static goc_waitgroup th_wg;
static atomic_long th_done;

static void *th_worker(void *arg)
{
    long i = (long)arg;
    test_nap_ms((int)(i % 5));
    atomic_fetch_add(&th_done, 1);
    goc_waitgroup_done(&th_wg);
    return NULL;
}

static int main_threads(void *arg)
{
    (void)arg;
    keepalive_start();
    pthread_t t[8];
    for (long i = 0; i < 8; i++) {
        goc_waitgroup_add(&th_wg, 1);
        t[i] = start_thread(th_worker, (void *)i);
    }
    goc_waitgroup_wait(&th_wg);
    GO_CHECK(atomic_load(&th_done) == 8, "wait returned after %ld of 8 dones",
             atomic_load(&th_done));
    for (int i = 0; i < 8; i++)
        pthread_join(t[i], NULL);
    keepalive_end();
    return 0;
}

Test(waitgroup, done_from_plain_threads, .timeout = 15)
{
    cr_assert_eq(run_main(main_threads, NULL), 0);
}

/* A plain thread waits (runtime running) for goroutines. */
static atomic_long th_waiter_back;

static void *th_waiter(void *arg)
{
    (void)arg;
    goc_waitgroup_wait(&basic_wg);
    atomic_store(&th_waiter_back, atomic_load(&basic_done) + 1);
    return NULL;
}

static int main_thread_waits(void *arg)
{
    (void)arg;
    goc_waitgroup_add(&basic_wg, BASIC_N);
    pthread_t t = start_thread(th_waiter, NULL);
    for (long i = 0; i < BASIC_N; i++)
        GO_SPAWN(basic_worker, i);
    GO_CHECK(go_wait_ge(&th_waiter_back, 1, 10000), "the thread's wait never returned");
    pthread_join(t, NULL);
    GO_CHECK(atomic_load(&th_waiter_back) == BASIC_N + 1,
             "thread's wait returned after %ld of %d dones", atomic_load(&th_waiter_back) - 1,
             BASIC_N);
    return 0;
}

Test(waitgroup, wait_from_plain_thread, .timeout = 15)
{
    cr_assert_eq(run_main(main_thread_waits, NULL), 0);
}

/* ---- zero counter --------------------------------------------------------- */

static int main_zero(void *arg)
{
    (void)arg;
    goc_waitgroup wg = {0};
    int64_t t0 = goc_now();
    goc_waitgroup_wait(&wg);
    goc_waitgroup_wait(&wg);
    static goc_waitgroup swg;
    goc_waitgroup_wait(&swg);
    /* add then back to zero without any goroutine: wait is immediate. */
    goc_waitgroup_add(&wg, 3);
    goc_waitgroup_add(&wg, -1);
    goc_waitgroup_done(&wg);
    goc_waitgroup_done(&wg);
    goc_waitgroup_wait(&wg);
    int64_t el = goc_now() - t0;
    GO_CHECK(el < 100 * GOC_MILLISECOND * test_slack(), "wait on a zero counter took %lld ms",
             (long long)test_ms(el));
    return 0;
}

/* wait on a zero counter returns at once (no goroutine to wake it: a hang
 * or a deadlock report here is the bug). */
Test(waitgroup, wait_on_zero_returns_immediately, .timeout = 10)
{
    cr_assert_eq(run_main(main_zero, NULL), 0);
}

/* Same from the process's main thread, runtime never started. */
Test(waitgroup, wait_on_zero_plain_thread_no_runtime, .timeout = 10)
{
    goc_waitgroup wg = {0};
    goc_waitgroup_wait(&wg);
    goc_waitgroup_add(&wg, 2);
    goc_waitgroup_done(&wg);
    goc_waitgroup_done(&wg);
    goc_waitgroup_wait(&wg);
}

/* Plain threads only, no runtime: one waits, others finish. */
static goc_waitgroup nr_wg;
static atomic_long nr_done;

static void *nr_worker(void *arg)
{
    (void)arg;
    test_nap_ms(20);
    atomic_fetch_add(&nr_done, 1);
    goc_waitgroup_done(&nr_wg);
    return NULL;
}

Test(waitgroup, plain_threads_without_runtime, .timeout = 10)
{
    goc_waitgroup_add(&nr_wg, 4);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        t[i] = start_thread(nr_worker, NULL);
    goc_waitgroup_wait(&nr_wg);
    cr_assert_eq(atomic_load(&nr_done), 4, "wait returned after %ld of 4 dones",
                 atomic_load(&nr_done));
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
}

/* ---- reuse ------------------------------------------------------------------ */

#define REUSE_K 10

static goc_waitgroup ru_wg;
static atomic_long ru_done;

static void ru_worker(void *arg)
{
    (void)arg;
    if (atomic_fetch_add(&ru_done, 1) % 4 == 0)
        goc_yield();
    goc_waitgroup_done(&ru_wg);
}

static void ru_waiter(void *arg)
{
    atomic_long *released = arg;
    goc_waitgroup_wait(&ru_wg);
    atomic_fetch_add(released, 1);
}

static int main_reuse(void *arg)
{
    (void)arg;
    long rounds = test_scale(1000);
    for (long r = 0; r < rounds; r++) {
        static atomic_long released;
        atomic_store(&released, 0);
        goc_waitgroup_add(&ru_wg, REUSE_K);
        /* An extra waiter goroutine per round, released with main. */
        GO_SPAWN(ru_waiter, &released);
        for (int i = 0; i < REUSE_K; i++)
            GO_SPAWN(ru_worker, NULL);
        goc_waitgroup_wait(&ru_wg);
        long d = atomic_load(&ru_done);
        GO_CHECK(d == (r + 1) * REUSE_K, "round %ld: wait returned after %ld dones, want %ld", r, d,
                 (r + 1) * REUSE_K);
        GO_CHECK(go_wait_ge(&released, 1, 5000), "round %ld: second waiter not released", r);
        if (test_failed())
            break;
    }
    return 0;
}

/* The same waitgroup for 1000 rounds of add(10), 10 dones, two waiters. */
Test(waitgroup, reuse_after_wait, .timeout = 25)
{
    cr_assert_eq(run_main(main_reuse, NULL), 0);
}

/* ---- many waiters ------------------------------------------------------------- */

#define MW_G 20
#define MW_T 3

static goc_waitgroup mw_wg;
static atomic_long mw_started, mw_released;

static void mw_waiter(void *arg)
{
    (void)arg;
    atomic_fetch_add(&mw_started, 1);
    goc_waitgroup_wait(&mw_wg);
    atomic_fetch_add(&mw_released, 1);
}

static void *mw_thread(void *arg)
{
    mw_waiter(arg);
    return NULL;
}

static void mw_finisher(void *arg)
{
    (void)arg;
    goc_waitgroup_done(&mw_wg);
}

static int main_many_waiters(void *arg)
{
    (void)arg;
    keepalive_start();
    goc_waitgroup_add(&mw_wg, 2);
    for (int i = 0; i < MW_G; i++)
        GO_SPAWN(mw_waiter, NULL);
    pthread_t t[MW_T];
    for (int i = 0; i < MW_T; i++)
        t[i] = start_thread(mw_thread, NULL);
    GO_CHECK(go_wait_ge(&mw_started, MW_G + MW_T, 5000), "waiters did not start");
    goc_sleep(20 * GOC_MILLISECOND);
    GO_CHECK(atomic_load(&mw_released) == 0, "%ld waiters released with the counter at 2",
             atomic_load(&mw_released));
    goc_waitgroup_done(&mw_wg);
    GO_CHECK(go_stays_below(&mw_released, 1, 30), "waiters released with the counter at 1");
    GO_SPAWN(mw_finisher, NULL); /* the last done, from another goroutine */
    GO_CHECK(go_wait_ge(&mw_released, MW_G + MW_T, 5000), "only %ld of %d waiters released",
             atomic_load(&mw_released), MW_G + MW_T);
    for (int i = 0; i < MW_T; i++)
        pthread_join(t[i], NULL);
    keepalive_end();
    return 0;
}

/* 20 goroutines and 3 plain threads wait; nobody leaves before the counter
 * reaches zero, everybody leaves when it does. */
Test(waitgroup, all_waiters_released, .timeout = 15)
{
    cr_assert_eq(run_main(main_many_waiters, NULL), 0);
}

/* ---- deltas -------------------------------------------------------------------- */

static goc_waitgroup dl_wg;
static atomic_long dl_released;

static void dl_waiter(void *arg)
{
    (void)arg;
    goc_waitgroup_wait(&dl_wg);
    atomic_fetch_add(&dl_released, 1);
}

static int main_deltas(void *arg)
{
    (void)arg;
    goc_waitgroup_add(&dl_wg, 5);
    GO_SPAWN(dl_waiter, NULL);
    GO_SPAWN(dl_waiter, NULL);
    goc_sleep(10 * GOC_MILLISECOND);
    goc_waitgroup_add(&dl_wg, -3);
    goc_waitgroup_add(&dl_wg, 1); /* 3 */
    GO_CHECK(go_stays_below(&dl_released, 1, 20), "released with the counter at 3");
    goc_waitgroup_add(&dl_wg, -3); /* 0: a negative delta reaching zero wakes waiters */
    GO_CHECK(go_wait_ge(&dl_released, 2, 5000), "add(-3) to zero did not release the waiters");

    /* Large counters (the counter is 32 bits wide in Go's layout too). */
    goc_waitgroup_add(&dl_wg, 1000000);
    goc_waitgroup_add(&dl_wg, -999999);
    GO_SPAWN(dl_waiter, NULL);
    GO_CHECK(go_stays_below(&dl_released, 3, 20), "released with the counter at 1");
    goc_waitgroup_done(&dl_wg);
    GO_CHECK(go_wait_ge(&dl_released, 3, 5000), "last done did not release the waiter");
    return 0;
}

/* Deltas other than ±1, a negative add that reaches zero. */
Test(waitgroup, deltas, .timeout = 15)
{
    cr_assert_eq(run_main(main_deltas, NULL), 0);
}

/* ---- fan-out of fan-outs -------------------------------------------------------- */

static goc_waitgroup tree_wg;
static atomic_long tree_nodes;

static void tree_node(void *arg)
{
    long depth = (long)arg;
    atomic_fetch_add(&tree_nodes, 1);
    if (depth > 0) {
        goc_waitgroup_add(&tree_wg, 3); /* while our own count is still held */
        for (int i = 0; i < 3; i++)
            GO_SPAWN(tree_node, depth - 1);
    }
    goc_waitgroup_done(&tree_wg);
}

static int main_tree(void *arg)
{
    (void)arg;
    long depth = TEST_TSAN ? 5 : 7; /* (3^8-1)/2 = 3280 nodes at depth 7 */
    goc_waitgroup_add(&tree_wg, 1);
    GO_SPAWN(tree_node, depth);
    goc_waitgroup_wait(&tree_wg);
    long want = 0, p = 1;
    for (long d = 0; d <= depth; d++, p *= 3)
        want += p;
    GO_CHECK(atomic_load(&tree_nodes) == want, "wait returned after %ld of %ld nodes",
             atomic_load(&tree_nodes), want);
    return 0;
}

/* Goroutines add for their children before their own done: wait returns
 * only after the whole tree. */
Test(waitgroup, nested_adds, .timeout = 15)
{
    cr_assert_eq(run_main(main_tree, NULL), 0);
}
