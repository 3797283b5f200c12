/*
 * test_threads.c — plain threads and goroutines on one primitive, with
 * nothing else to keep the program alive (no keepalive timer): while a
 * plain thread holds a goc lock, waits on one or is about to release one,
 * the deadlock check must not fire, however every goroutine is blocked.
 *
 * A false report kills the test process with "fatal error: all goroutines
 * are asleep - deadlock!" (exit 2), which Criterion reports as a crash.
 * Each "holds" test makes the window wide on purpose: the thread's first
 * goc call takes the primitive, and the thread keeps it for a while in
 * plain C (nanosleep) while every goroutine blocks on it.
 */
#include <time.h>

#include "syncutil.h"

#define HOLD_MS 30

static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* Yield until a plain thread has set *flag (goroutine side; the P stays
 * busy, so nothing can be judged deadlocked meanwhile). */
static bool go_wait_flag(atomic_int *flag)
{
    int64_t deadline = goc_now() + 10 * GOC_SECOND * test_slack();
    while (!atomic_load(flag)) {
        if (goc_now() > deadline)
            return false;
        goc_yield();
    }
    return true;
}

/* ---- the shape a user wrote: 16 goroutines, 2 threads, one mutex -------- */

#define SHAPE_G 16
#define SHAPE_T 2

static goc_mutex shape_mu;
static goc_waitgroup shape_wg;
static long shape_count; /* under shape_mu */
static long shape_iters;

static void shape_goroutine(void *arg)
{
    (void)arg;
    for (long i = 0; i < shape_iters; i++) {
        goc_mutex_lock(&shape_mu);
        shape_count++;
        goc_mutex_unlock(&shape_mu);
        if ((i & 1023) == 0)
            goc_yield();
    }
    goc_waitgroup_done(&shape_wg);
}

static void *shape_thread(void *arg)
{
    (void)arg;
    for (long i = 0; i < shape_iters; i++) {
        goc_mutex_lock(&shape_mu);
        shape_count++;
        goc_mutex_unlock(&shape_mu);
    }
    goc_waitgroup_done(&shape_wg);
    return NULL;
}

static int main_shape(void *arg)
{
    long rounds = (long)arg;
    shape_iters = test_scale(5000);
    for (long r = 0; r < rounds; r++) {
        shape_count = 0;
        goc_waitgroup_add(&shape_wg, SHAPE_G + SHAPE_T);
        for (int i = 0; i < SHAPE_G; i++)
            GO_SPAWN(shape_goroutine, NULL);
        pthread_t t[SHAPE_T]; /* new threads each round: each starts unannounced */
        for (int i = 0; i < SHAPE_T; i++)
            t[i] = start_thread(shape_thread, NULL);
        goc_waitgroup_wait(&shape_wg);
        for (int i = 0; i < SHAPE_T; i++)
            pthread_join(t[i], NULL);
        GO_CHECK(shape_count == (SHAPE_G + SHAPE_T) * shape_iters, "round %ld: count %ld, want %ld",
                 r, shape_count, (SHAPE_G + SHAPE_T) * shape_iters);
    }
    return 0;
}

/* Goroutines and fresh plain threads bump one counter under one mutex while
 * the main goroutine waits in goc_waitgroup_wait: the exact total, never a
 * deadlock report. */
Test(threads, goroutines_and_threads_on_one_mutex_no_false_deadlock, .timeout = 120)
{
    cr_assert_eq(run_main(main_shape, (void *)40L), 0);
}

/* ---- a thread holds the primitive, every goroutine blocks on it --------- */

static atomic_int held, released;
static goc_mutex hold_mu;
static goc_rwmutex hold_rw;
static goc_semaphore hold_sem = GOC_SEMAPHORE_INIT(2);
static goc_waitgroup hold_wg;

static void *thread_holds_mutex(void *arg)
{
    (void)arg;
    goc_mutex_lock(&hold_mu); /* the thread's first goc call */
    atomic_store(&held, 1);
    nap_ms(HOLD_MS);
    atomic_store(&released, 1);
    goc_mutex_unlock(&hold_mu);
    return NULL;
}

static int main_mutex_held(void *arg)
{
    (void)arg;
    pthread_t t = start_thread(thread_holds_mutex, NULL);
    GO_CHECK(go_wait_flag(&held), "the thread never took the mutex");
    goc_mutex_lock(&hold_mu); /* every goroutine now blocked */
    GO_CHECK(atomic_load(&released), "got the mutex while the thread held it");
    goc_mutex_unlock(&hold_mu);
    pthread_join(t, NULL);
    return 0;
}

Test(threads, thread_holding_mutex_is_not_a_deadlock, .timeout = 30)
{
    cr_assert_eq(run_main(main_mutex_held, NULL), 0);
}

static void *thread_holds_rwmutex(void *arg)
{
    bool reader = arg != NULL;
    if (reader)
        goc_rwmutex_rlock(&hold_rw);
    else
        goc_rwmutex_lock(&hold_rw);
    atomic_store(&held, 1);
    nap_ms(HOLD_MS);
    atomic_store(&released, 1);
    if (reader)
        goc_rwmutex_runlock(&hold_rw);
    else
        goc_rwmutex_unlock(&hold_rw);
    return NULL;
}

static int main_rwmutex_held(void *arg)
{
    pthread_t t = start_thread(thread_holds_rwmutex, arg);
    GO_CHECK(go_wait_flag(&held), "the thread never took the rwmutex");
    if (arg) { /* the thread reads: a writer waits */
        goc_rwmutex_lock(&hold_rw);
        GO_CHECK(atomic_load(&released), "wrote while the thread read");
        goc_rwmutex_unlock(&hold_rw);
    } else { /* the thread writes: a reader waits */
        goc_rwmutex_rlock(&hold_rw);
        GO_CHECK(atomic_load(&released), "read while the thread wrote");
        goc_rwmutex_runlock(&hold_rw);
    }
    pthread_join(t, NULL);
    return 0;
}

Test(threads, thread_holding_rwmutex_write_is_not_a_deadlock, .timeout = 30)
{
    cr_assert_eq(run_main(main_rwmutex_held, NULL), 0);
}

Test(threads, thread_holding_rwmutex_read_is_not_a_deadlock, .timeout = 30)
{
    cr_assert_eq(run_main(main_rwmutex_held, (void *)1), 0);
}

static void *thread_holds_semaphore(void *arg)
{
    (void)arg;
    if (!goc_semaphore_try_acquire(&hold_sem, 2))
        return NULL; /* main's check on held fails */
    atomic_store(&held, 1);
    nap_ms(HOLD_MS);
    atomic_store(&released, 1);
    goc_semaphore_release(&hold_sem, 2);
    return NULL;
}

static int main_semaphore_held(void *arg)
{
    (void)arg;
    pthread_t t = start_thread(thread_holds_semaphore, NULL);
    GO_CHECK(go_wait_flag(&held), "the thread never took the semaphore");
    GO_CHECK(goc_semaphore_acquire(&hold_sem, NULL, 1) == 0, "acquire failed");
    GO_CHECK(atomic_load(&released), "acquired while the thread held every unit");
    goc_semaphore_release(&hold_sem, 1);
    pthread_join(t, NULL);
    return 0;
}

Test(threads, thread_holding_semaphore_is_not_a_deadlock, .timeout = 30)
{
    cr_assert_eq(run_main(main_semaphore_held, NULL), 0);
}

static void *thread_owes_done(void *arg)
{
    (void)arg;
    goc_waitgroup_add(&hold_wg, 1); /* the thread's first goc call */
    atomic_store(&held, 1);
    nap_ms(HOLD_MS);
    atomic_store(&released, 1);
    goc_waitgroup_done(&hold_wg);
    return NULL;
}

static int main_waitgroup_owed(void *arg)
{
    (void)arg;
    pthread_t t = start_thread(thread_owes_done, NULL);
    GO_CHECK(go_wait_flag(&held), "the thread never added");
    goc_waitgroup_wait(&hold_wg);
    GO_CHECK(atomic_load(&released), "wait returned before the thread's done");
    pthread_join(t, NULL);
    return 0;
}

Test(threads, thread_owing_waitgroup_done_is_not_a_deadlock, .timeout = 30)
{
    cr_assert_eq(run_main(main_waitgroup_owed, NULL), 0);
}

/* ---- cond and channels: the thread wakes a goroutine later -------------- */

static goc_cond cond;
static bool cond_ready; /* under hold_mu */

static void *thread_signals(void *arg)
{
    (void)arg;
    goc_mutex_lock(&hold_mu);
    atomic_store(&held, 1);
    nap_ms(HOLD_MS);
    cond_ready = true;
    goc_cond_signal(&cond);
    goc_mutex_unlock(&hold_mu);
    return NULL;
}

static int main_cond(void *arg)
{
    (void)arg;
    pthread_t t = start_thread(thread_signals, NULL);
    GO_CHECK(go_wait_flag(&held), "the thread never locked");
    goc_mutex_lock(&hold_mu);
    while (!cond_ready)
        goc_cond_wait(&cond, &hold_mu);
    goc_mutex_unlock(&hold_mu);
    pthread_join(t, NULL);
    return 0;
}

Test(threads, goroutine_waiting_for_thread_signal_is_not_a_deadlock, .timeout = 30)
{
    cr_assert_eq(run_main(main_cond, NULL), 0);
}

/* A library's callback thread that announces itself and only later sends:
 * the receiver blocks first, with every P idle. */
static void *thread_sends_later(void *arg)
{
    goc_chan *c = arg;
    goc_attach_thread();
    atomic_store(&held, 1);
    nap_ms(HOLD_MS);
    int v = 42;
    goc_chan_send(c, &v);
    return NULL;
}

static int main_chan(void *arg)
{
    (void)arg;
    goc_chan *c = goc_chan_make(sizeof(int), 0);
    GO_CHECK(c != NULL, "chan_make");
    pthread_t t = start_thread(thread_sends_later, c);
    GO_CHECK(go_wait_flag(&held), "the thread never started");
    int v = 0;
    GO_CHECK(goc_chan_recv(c, &v) == 0 && v == 42, "recv got %d", v);
    pthread_join(t, NULL);
    goc_chan_release(c);
    return 0;
}

Test(threads, attached_thread_sending_later_is_not_a_deadlock, .timeout = 30)
{
    cr_assert_eq(run_main(main_chan, NULL), 0);
}
