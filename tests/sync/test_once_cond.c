/*
 * test_once_cond.c — goc_once_do (exactly once, callers see its effect) and
 * goc_cond (signal wakes one in order, broadcast wakes all, no stale
 * wakeups, bounded buffer, plain threads).
 */
#include "syncutil.h"

/* ============================== once ===================================== */

#define ONCE_G 100
#define ONCE_T 2

static goc_once on_once; /* zero value */
static atomic_long on_calls, on_go, on_ready, on_returned;
static long on_value; /* plain: written by fn, read by callers after once_do */

static void on_init(void *arg)
{
    long v = (long)arg;
    atomic_fetch_add(&on_calls, 1);
    goc_sleep(20 * GOC_MILLISECOND); /* park (or sleep a thread) inside fn */
    on_value = v;
}

static void on_caller(void *arg)
{
    (void)arg;
    atomic_fetch_add(&on_ready, 1);
    while (!atomic_load(&on_go))
        goc_yield();
    goc_once_do(&on_once, on_init, (void *)42L);
    GO_CHECK(on_value == 42, "once_do returned before fn completed (value %ld)", on_value);
    GO_CHECK(atomic_load(&on_calls) == 1, "fn ran %ld times", atomic_load(&on_calls));
    atomic_fetch_add(&on_returned, 1);
}

static void *on_thread(void *arg)
{
    (void)arg;
    atomic_fetch_add(&on_ready, 1);
    while (!atomic_load(&on_go))
        sched_yield();
    goc_once_do(&on_once, on_init, (void *)42L);
    GO_CHECK(on_value == 42, "thread: once_do returned before fn completed (value %ld)", on_value);
    GO_CHECK(atomic_load(&on_calls) == 1, "thread: fn ran %ld times", atomic_load(&on_calls));
    atomic_fetch_add(&on_returned, 1);
    return NULL;
}

static int main_once(void *arg)
{
    (void)arg;
    keepalive_start();
    for (int i = 0; i < ONCE_G; i++)
        GO_SPAWN(on_caller, NULL);
    pthread_t t[ONCE_T];
    for (int i = 0; i < ONCE_T; i++)
        t[i] = start_thread(on_thread, NULL);
    GO_CHECK(go_wait_ge(&on_ready, ONCE_G + ONCE_T, 5000), "callers did not start");
    atomic_store(&on_go, 1);
    GO_CHECK(go_wait_ge(&on_returned, ONCE_G + ONCE_T, 10000), "only %ld of %d callers returned",
             atomic_load(&on_returned), ONCE_G + ONCE_T);
    for (int i = 0; i < ONCE_T; i++)
        pthread_join(t[i], NULL);
    GO_CHECK(atomic_load(&on_calls) == 1, "fn ran %ld times", atomic_load(&on_calls));
    /* Later calls do nothing. */
    goc_once_do(&on_once, on_init, (void *)1L);
    GO_CHECK(atomic_load(&on_calls) == 1 && on_value == 42, "a later once_do ran fn again");
    keepalive_end();
    return 0;
}

/* 100 goroutines and 2 plain threads call once_do at once: fn (which parks
 * for 20 ms) runs exactly once and every caller returns after it is done. */
Test(once, concurrent_callers_run_fn_exactly_once, .timeout = 20)
{
    cr_assert_eq(run_main(main_once, NULL), 0);
    cr_assert_eq(on_value, 42);
}

/* Several once objects are independent; fn may use another once. */
static goc_once on_a, on_b, on_c;
static atomic_long on_a_n, on_b_n, on_c_n;

static void on_b_fn(void *arg)
{
    (void)arg;
    atomic_fetch_add(&on_b_n, 1);
}

static void on_a_fn(void *arg)
{
    (void)arg;
    atomic_fetch_add(&on_a_n, 1);
    goc_once_do(&on_b, on_b_fn, NULL); /* nested, on a different once */
}

static void on_c_fn(void *arg)
{
    atomic_fetch_add(&on_c_n, (long)arg);
}

static int main_once_many(void *arg)
{
    (void)arg;
    for (int i = 0; i < 10; i++) {
        goc_once_do(&on_a, on_a_fn, NULL);
        goc_once_do(&on_b, on_b_fn, NULL);
        goc_once_do(&on_c, on_c_fn, (void *)(long)(i + 5));
    }
    GO_CHECK(atomic_load(&on_a_n) == 1, "a ran %ld times", atomic_load(&on_a_n));
    GO_CHECK(atomic_load(&on_b_n) == 1, "b ran %ld times", atomic_load(&on_b_n));
    GO_CHECK(atomic_load(&on_c_n) == 5, "c got %ld, want the first call's arg 5",
             atomic_load(&on_c_n));
    /* A stack once = {0}. */
    goc_once local = {0};
    atomic_store(&on_c_n, 0);
    goc_once_do(&local, on_c_fn, (void *)3L);
    goc_once_do(&local, on_c_fn, (void *)4L);
    GO_CHECK(atomic_load(&on_c_n) == 3, "stack once: %ld", atomic_load(&on_c_n));
    return 0;
}

Test(once, independent_and_nested, .timeout = 10)
{
    cr_assert_eq(run_main(main_once_many, NULL), 0);
}

/* once_do from the process's main thread, no runtime. */
static goc_once nr_once;
static atomic_long nr_calls;
static void nr_fn(void *arg)
{
    (void)arg;
    atomic_fetch_add(&nr_calls, 1);
}

Test(once, plain_thread_no_runtime, .timeout = 10)
{
    goc_once_do(&nr_once, nr_fn, NULL);
    goc_once_do(&nr_once, nr_fn, NULL);
    cr_assert_eq(atomic_load(&nr_calls), 1);
}

/* ============================== cond ===================================== */

/* ---- signal wakes exactly one, in wait order -------------------------------- */

#define SIG_N 6

static goc_mutex sg_mu;
static goc_cond sg_cond;
static int sg_waiting;         /* under sg_mu */
static atomic_long sg_returns; /* cond_wait returns */
static long sg_order[SIG_N];   /* under sg_mu: which waiter woke k-th */
static int sg_norder;

static void sg_waiter(void *arg)
{
    long idx = (long)arg;
    goc_mutex_lock(&sg_mu);
    sg_waiting++;
    goc_cond_wait(&sg_cond, &sg_mu); /* once, no loop: count raw wakeups */
    GO_CHECK(!goc_mutex_trylock(&sg_mu), "cond_wait returned without the mutex");
    sg_order[sg_norder++] = idx;
    sg_waiting--;
    atomic_fetch_add(&sg_returns, 1);
    goc_mutex_unlock(&sg_mu);
}

static void *sg_signal_thread(void *arg)
{
    (void)arg;
    goc_cond_signal(&sg_cond);
    return NULL;
}

static int main_signal(void *arg)
{
    (void)arg;
    /* Start waiters one at a time, each inside cond_wait before the next. */
    for (long i = 0; i < SIG_N; i++) {
        GO_SPAWN(sg_waiter, i);
        int64_t deadline = goc_now() + 5 * GOC_SECOND;
        for (;;) {
            goc_mutex_lock(&sg_mu);
            int w = sg_waiting;
            goc_mutex_unlock(&sg_mu);
            if (w == i + 1)
                break;
            if (goc_now() > deadline) {
                GO_CHECK(0, "waiter %ld never waited", i);
                return 1;
            }
            goc_sleep(GOC_MILLISECOND);
        }
    }
    /* All SIG_N wait now. Signal one at a time. */
    for (long k = 0; k < SIG_N; k++) {
        if (k == 2) {
            pthread_join(start_thread(sg_signal_thread, NULL), NULL); /* from a plain thread */
        } else {
            goc_mutex_lock(&sg_mu);
            goc_cond_signal(&sg_cond);
            goc_mutex_unlock(&sg_mu);
        }
        GO_CHECK(go_wait_ge(&sg_returns, k + 1, 5000), "signal %ld woke nobody", k);
        GO_CHECK(go_stays_below(&sg_returns, k + 2, 30), "signal %ld woke more than one waiter", k);
        if (test_failed())
            return 1;
    }
    goc_mutex_lock(&sg_mu);
    for (int k = 0; k < SIG_N; k++)
        GO_CHECK(sg_order[k] == k,
                 "signal %d woke waiter %ld, want %d (waiters wake in the "
                 "order they waited, as in Go)",
                 k, sg_order[k], k);
    goc_mutex_unlock(&sg_mu);
    return 0;
}

/* Each signal wakes exactly one waiter, the longest waiting one. */
Test(cond, signal_wakes_one_in_order, .timeout = 20)
{
    cr_assert_eq(run_main(main_signal, NULL), 0);
}

/* ---- broadcast wakes all; no stale wakeups ------------------------------------- */

#define BC_G 10
#define BC_T 2

static goc_mutex bc_mu;
static goc_cond bc_cond;
static int bc_waiting; /* under bc_mu */
static atomic_long bc_returns;

static void bc_waiter(void *arg)
{
    (void)arg;
    goc_mutex_lock(&bc_mu);
    bc_waiting++;
    goc_cond_wait(&bc_cond, &bc_mu);
    GO_CHECK(!goc_mutex_trylock(&bc_mu), "cond_wait returned without the mutex");
    bc_waiting--;
    atomic_fetch_add(&bc_returns, 1);
    goc_mutex_unlock(&bc_mu);
}

static void *bc_thread(void *arg)
{
    bc_waiter(arg);
    return NULL;
}

static bool bc_wait_waiting(int n)
{
    int64_t deadline = goc_now() + 5 * GOC_SECOND * test_slack();
    for (;;) {
        goc_mutex_lock(&bc_mu);
        int w = bc_waiting;
        goc_mutex_unlock(&bc_mu);
        if (w == n)
            return true;
        if (goc_now() > deadline)
            return false;
        goc_sleep(GOC_MILLISECOND);
    }
}

static int main_broadcast(void *arg)
{
    (void)arg;
    keepalive_start();
    /* Signal and broadcast with nobody waiting are not remembered. */
    goc_cond_signal(&bc_cond);
    goc_cond_broadcast(&bc_cond);

    for (int i = 0; i < BC_G; i++)
        GO_SPAWN(bc_waiter, NULL);
    pthread_t t[BC_T];
    for (int i = 0; i < BC_T; i++)
        t[i] = start_thread(bc_thread, NULL);
    GO_CHECK(bc_wait_waiting(BC_G + BC_T), "waiters did not all wait");
    GO_CHECK(go_stays_below(&bc_returns, 1, 30),
             "a waiter woke without a signal (an earlier signal was remembered?)");

    goc_mutex_lock(&bc_mu);
    goc_cond_broadcast(&bc_cond);
    goc_mutex_unlock(&bc_mu);
    GO_CHECK(go_wait_ge(&bc_returns, BC_G + BC_T, 5000), "broadcast woke %ld of %d",
             atomic_load(&bc_returns), BC_G + BC_T);
    for (int i = 0; i < BC_T; i++)
        pthread_join(t[i], NULL);

    /* A waiter that arrives after the broadcast is not woken by it. */
    GO_SPAWN(bc_waiter, NULL);
    GO_CHECK(bc_wait_waiting(1), "late waiter did not wait");
    GO_CHECK(go_stays_below(&bc_returns, BC_G + BC_T + 1, 30),
             "a late waiter was woken by an earlier broadcast");
    goc_cond_signal(&bc_cond); /* without holding the mutex: allowed */
    GO_CHECK(go_wait_ge(&bc_returns, BC_G + BC_T + 1, 5000), "late waiter not woken by signal");
    keepalive_end();
    return 0;
}

/* 10 goroutines and 2 plain threads wait; one broadcast wakes them all;
 * signals sent before a wait do not wake it. */
Test(cond, broadcast_wakes_all, .timeout = 20)
{
    cr_assert_eq(run_main(main_broadcast, NULL), 0);
}

/* ---- bounded buffer --------------------------------------------------------------- */

#define BB_CAP   8
#define BB_PROD  4
#define BB_CONS  4
#define BB_TPROD 1
#define BB_TCONS 1

static goc_mutex bb_mu;
static goc_cond bb_not_full, bb_not_empty;
static long bb_buf[BB_CAP];
static int bb_head, bb_len;   /* under bb_mu */
static int bb_producers_left; /* under bb_mu */
static long bb_per_producer;
static atomic_long bb_sum, bb_count, bb_done;
static atomic_int bb_occ;

static void bb_put(long v)
{
    goc_mutex_lock(&bb_mu);
    while (bb_len == BB_CAP)
        goc_cond_wait(&bb_not_full, &bb_mu);
    GO_CHECK(atomic_fetch_add(&bb_occ, 1) == 0, "two holders after cond_wait");
    bb_buf[(bb_head + bb_len) % BB_CAP] = v;
    bb_len++;
    atomic_fetch_sub(&bb_occ, 1);
    goc_cond_signal(&bb_not_empty);
    goc_mutex_unlock(&bb_mu);
}

/* false when the buffer is empty and every producer has finished. */
static bool bb_get(long *v)
{
    goc_mutex_lock(&bb_mu);
    while (bb_len == 0 && bb_producers_left > 0)
        goc_cond_wait(&bb_not_empty, &bb_mu);
    if (bb_len == 0) {
        goc_mutex_unlock(&bb_mu);
        return false;
    }
    GO_CHECK(atomic_fetch_add(&bb_occ, 1) == 0, "two holders after cond_wait");
    *v = bb_buf[bb_head];
    bb_head = (bb_head + 1) % BB_CAP;
    bb_len--;
    atomic_fetch_sub(&bb_occ, 1);
    goc_cond_signal(&bb_not_full);
    goc_mutex_unlock(&bb_mu);
    return true;
}

static void bb_producer(void *arg)
{
    long id = (long)arg;
    for (long i = 0; i < bb_per_producer; i++)
        bb_put(id * 1000000 + i + 1);
    goc_mutex_lock(&bb_mu);
    if (--bb_producers_left == 0)
        goc_cond_broadcast(&bb_not_empty); /* consumers: no more items */
    goc_mutex_unlock(&bb_mu);
    atomic_fetch_add(&bb_done, 1);
}

static void bb_consumer(void *arg)
{
    (void)arg;
    long v;
    while (bb_get(&v)) {
        atomic_fetch_add(&bb_sum, v);
        atomic_fetch_add(&bb_count, 1);
    }
    atomic_fetch_add(&bb_done, 1);
}

static void *bb_tproducer(void *arg)
{
    bb_producer(arg);
    return NULL;
}

static void *bb_tconsumer(void *arg)
{
    bb_consumer(arg);
    return NULL;
}

static int main_bounded(void *arg)
{
    (void)arg;
    keepalive_start();
    bb_per_producer = test_scale(20000);
    int nprod = BB_PROD + BB_TPROD;
    bb_producers_left = nprod;
    pthread_t t[BB_TPROD + BB_TCONS];
    int nt = 0;
    for (long i = 0; i < BB_TCONS; i++)
        t[nt++] = start_thread(bb_tconsumer, NULL);
    for (long i = 0; i < BB_CONS; i++)
        GO_SPAWN(bb_consumer, NULL);
    for (long i = 0; i < BB_PROD; i++)
        GO_SPAWN(bb_producer, i);
    for (long i = 0; i < BB_TPROD; i++)
        t[nt++] = start_thread(bb_tproducer, (void *)(BB_PROD + i));
    long all = nprod + BB_CONS + BB_TCONS;
    GO_CHECK(go_wait_ge(&bb_done, all, 25000),
             "only %ld of %ld producers/consumers finished "
             "(%ld items consumed)",
             atomic_load(&bb_done), all, atomic_load(&bb_count));
    for (int i = 0; i < nt; i++)
        pthread_join(t[i], NULL);
    long n = bb_per_producer, want_sum = 0;
    for (long id = 0; id < nprod; id++)
        want_sum += id * 1000000 * n + n * (n + 1) / 2;
    GO_CHECK(atomic_load(&bb_count) == nprod * n, "consumed %ld items, want %ld",
             atomic_load(&bb_count), nprod * n);
    GO_CHECK(atomic_load(&bb_sum) == want_sum, "sum %ld, want %ld", atomic_load(&bb_sum), want_sum);
    keepalive_end();
    return 0;
}

/* A bounded buffer of 8 with mutex + two conds: 4 goroutine producers and a
 * thread producer, 4 goroutine consumers and a thread consumer; every item
 * arrives exactly once. */
Test(cond, bounded_buffer, .timeout = 28)
{
    cr_assert_eq(run_main(main_bounded, NULL), 0);
}

/* ---- plain-thread waiters ---------------------------------------------------------- */

static goc_mutex pt_mu;
static goc_cond pt_cond;
static int pt_flag;           /* under pt_mu */
static int pt_thread_waiting; /* under pt_mu */
static atomic_long pt_thread_back, pt_go_back;

static void *pt_thread(void *arg)
{
    (void)arg;
    goc_mutex_lock(&pt_mu);
    pt_thread_waiting = 1;
    while (pt_flag != 1)
        goc_cond_wait(&pt_cond, &pt_mu);
    GO_CHECK(!goc_mutex_trylock(&pt_mu), "thread: cond_wait returned without the mutex");
    pt_flag = 2; /* answer */
    goc_cond_broadcast(&pt_cond);
    goc_mutex_unlock(&pt_mu);
    atomic_store(&pt_thread_back, 1);
    return NULL;
}

static int main_plain(void *arg)
{
    (void)arg;
    keepalive_start();
    pthread_t t = start_thread(pt_thread, NULL);
    int64_t deadline = goc_now() + 5 * GOC_SECOND;
    for (;;) {
        goc_mutex_lock(&pt_mu);
        int w = pt_thread_waiting;
        goc_mutex_unlock(&pt_mu);
        if (w || goc_now() > deadline)
            break;
        goc_sleep(GOC_MILLISECOND);
    }
    goc_sleep(10 * GOC_MILLISECOND);
    goc_mutex_lock(&pt_mu);
    pt_flag = 1;
    goc_cond_signal(&pt_cond); /* wakes the thread */
    while (pt_flag != 2)
        goc_cond_wait(&pt_cond, &pt_mu); /* the thread's broadcast wakes us */
    goc_mutex_unlock(&pt_mu);
    atomic_store(&pt_go_back, 1);
    GO_CHECK(go_wait_ge(&pt_thread_back, 1, 5000), "thread did not finish");
    pthread_join(t, NULL);
    keepalive_end();
    return 0;
}

/* A plain thread waits on a cond and is woken by a goroutine's signal; the
 * goroutine then waits and is woken by the thread's broadcast. */
Test(cond, plain_thread_and_goroutine_wake_each_other, .timeout = 15)
{
    cr_assert_eq(run_main(main_plain, NULL), 0);
}

/* Plain threads only, no runtime: ping-pong through one cond. */
static goc_mutex pp_mu;
static goc_cond pp_cond;
static long pp_turn; /* under pp_mu */
#define PP_ROUNDS 2000

static void *pp_player(void *arg)
{
    long me = (long)arg;
    for (long r = 0; r < PP_ROUNDS; r++) {
        goc_mutex_lock(&pp_mu);
        while (pp_turn % 2 != me)
            goc_cond_wait(&pp_cond, &pp_mu);
        pp_turn++;
        goc_cond_broadcast(&pp_cond);
        goc_mutex_unlock(&pp_mu);
    }
    return NULL;
}

Test(cond, plain_threads_without_runtime, .timeout = 15)
{
    pthread_t a = start_thread(pp_player, (void *)0L), b = start_thread(pp_player, (void *)1L);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    GO_CHECK_REPORT();
    cr_assert_eq(pp_turn, 2 * PP_ROUNDS);
}
