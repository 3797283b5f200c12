/*
 * test_blocking.c — goc_blocking: fn runs on another thread while the
 * calling goroutine parks and the others keep running (one worker too);
 * 200 concurrent calls all complete; a lone goroutine blocked there is
 * not a deadlock; from a plain thread fn is called directly; fn may use
 * the thread-safe parts of goc (channels).
 */
#include "netutil.h"

typedef struct job {
    int sleep_ms;
    pid_t tid;
    atomic_long *ran;
} job;

static void job_fn(void *arg)
{
    job *j = arg;
    j->tid = test_gettid();
    if (j->sleep_ms)
        usleep((useconds_t)j->sleep_ms * 1000);
    if (j->ran)
        atomic_fetch_add(j->ran, 1);
}

/* ---- another thread, the scheduler free ------------------------------------------ */

static int main_other_thread(void *arg)
{
    (void)arg;
    counter cnt = {.sleepy = false};
    counter_start(&cnt);
    long c0 = atomic_load(&cnt.count);
    job j = {.sleep_ms = 100};
    pid_t me = test_gettid();
    int64_t t0 = goc_now();
    int rc = goc_blocking(job_fn, &j);
    int64_t el = since_ms(t0);
    long during = atomic_load(&cnt.count) - c0;
    GO_CHECK(rc == 0, "goc_blocking: %s", goc_strerror(rc));
    GO_CHECK(j.tid != 0 && j.tid != me, "fn ran on the caller's thread (%d)", (int)j.tid);
    GO_CHECK(el >= 100 && el <= late_ms(100), "returned after %lld ms, want ~100", (long long)el);
    /* A yielding goroutine ran all along on the (only) worker. */
    GO_CHECK(during > 100, "the counter moved %ld during the 100 ms call", during);
    counter_stop(&cnt);
    return 0;
}

/* fn sleeps 100 ms with usleep on a pool thread: other goroutines run
 * meanwhile, at GOC_MAXPROCS=1 too. */
Test(blocking, runs_elsewhere_scheduler_keeps_running, .timeout = 10)
{
    cr_assert_eq(run_main(main_other_thread, NULL), 0);
}

/* ---- many at once ------------------------------------------------------------------ */

#define N_CALLS 200

typedef struct caller {
    job j;
    int rc;
    atomic_long *done;
} caller;

static void caller_fn(void *arg)
{
    caller *c = arg;
    c->rc = goc_blocking(job_fn, &c->j);
    atomic_fetch_add(c->done, 1);
}

static int main_many(void *arg)
{
    (void)arg;
    static caller calls[N_CALLS];
    atomic_long ran = 0, done = 0;
    int n = (int)test_scale(N_CALLS);
    if (n < 50)
        n = 50;
    int64_t t0 = goc_now();
    for (int i = 0; i < n; i++) {
        calls[i] = (caller){.j = {.sleep_ms = 20, .ran = &ran}, .done = &done};
        GO_SPAWN(caller_fn, &calls[i]);
    }
    GO_CHECK(go_wait_ge(&done, n, 20000), "%ld of %d calls returned", atomic_load(&done), n);
    int64_t el = since_ms(t0);
    GO_CHECK(atomic_load(&ran) == n, "fn ran %ld times, want %d", atomic_load(&ran), n);
    int threads = 0;
    for (int i = 0; i < n; i++) {
        GO_CHECK(calls[i].rc == 0, "call %d: %s", i, goc_strerror(calls[i].rc));
        bool seen = false;
        for (int k = 0; k < i && !seen; k++)
            seen = calls[k].j.tid == calls[i].j.tid;
        threads += !seen;
    }
    /* Several threads shared the work (not one after the other: 200 x
     * 20 ms would be 4 s). */
    GO_CHECK(threads > 1, "all calls ran on one thread");
    GO_CHECK(el < 3000 * test_slack(), "%d calls of 20 ms took %lld ms on %d threads", n,
             (long long)el, threads);
    return 0;
}

/* 200 goroutines call goc_blocking at once (fn sleeps 20 ms): all
 * complete, each fn runs once, on a pool of threads. */
Test(blocking, many_concurrent_calls, .timeout = 30)
{
    cr_assert_eq(run_main(main_many, NULL), 0);
}

/* Many short calls in a row reuse the pool's threads. */
static int main_sequential(void *arg)
{
    (void)arg;
    atomic_long ran = 0;
    long n = test_scale(2000);
    int64_t t0 = goc_now();
    for (long i = 0; i < n; i++) {
        job j = {.ran = &ran};
        GO_CHECK(goc_blocking(job_fn, &j) == 0, "call %ld", i);
    }
    GO_CHECK(atomic_load(&ran) == n, "ran %ld of %ld", atomic_load(&ran), n);
    GO_CHECK(since_ms(t0) < 5000 * test_slack(), "%ld calls took %lld ms", n,
             (long long)since_ms(t0));
    return 0;
}

Test(blocking, sequential_calls, .timeout = 30)
{
    cr_assert_eq(run_main(main_sequential, NULL), 0);
}

/* ---- the only goroutine, parked in goc_blocking ------------------------------------- */

static int main_alone(void *arg)
{
    (void)arg;
    /* Nothing else exists: no timer, no other goroutine. The runtime must
     * not call this a deadlock while fn runs. */
    job j = {.sleep_ms = 150};
    GO_CHECK(goc_blocking(job_fn, &j) == 0, "goc_blocking");
    GO_CHECK(j.tid != test_gettid(), "ran on the caller's thread");
    return 7;
}

Test(blocking, lone_goroutine_is_not_a_deadlock, .timeout = 10)
{
    cr_assert_eq(run_main(main_alone, NULL), 7);
}

/* ---- from a plain thread -------------------------------------------------------------- */

static void *plain_caller(void *arg)
{
    job *j = arg;
    pid_t me = test_gettid();
    if (goc_blocking(job_fn, j) != 0)
        return (void *)1;
    return j->tid == me ? NULL : (void *)2;
}

/* On a plain thread goc_blocking just calls fn. */
Test(blocking, plain_thread_calls_directly, .timeout = 10)
{
    job j = {.sleep_ms = 10};
    void *res;
    pthread_join(start_thread(plain_caller, &j), &res);
    cr_assert_null(res, "fn did not run on the calling thread (%ld)", (long)res);
    /* And the main thread of the test, runtime or not. */
    cr_assert_null(plain_caller(&j));
}

/* ---- fn using goc from the pool thread --------------------------------------------------- */

typedef struct chan_job {
    goc_chan *c;
    int n;
    atomic_long drained;
} chan_job;

static void send_all(void *arg)
{
    chan_job *cj = arg;
    for (int i = 0; i < cj->n; i++)
        goc_chan_send(cj->c, &i); /* blocks the pool thread when full */
}

static void drain_fn(void *arg)
{
    chan_job *cj = arg;
    goc_sleep(20 * GOC_MILLISECOND);
    for (int i = 0; i < cj->n; i++) {
        int v = -1;
        GO_CHECK(goc_chan_recv(cj->c, &v) == 0 && v == i, "recv %d: %d", i, v);
    }
    atomic_store(&cj->drained, 1);
}

static int main_chan(void *arg)
{
    (void)arg;
    chan_job cj = {.c = goc_chan_make(sizeof(int), 4), .n = 100};
    GO_SPAWN(drain_fn, &cj);
    GO_CHECK(goc_blocking(send_all, &cj) == 0, "goc_blocking");
    GO_CHECK(go_wait_ge(&cj.drained, 1, 5000), "drain");
    goc_chan_release(cj.c);
    return 0;
}

/* fn sends 100 values on a channel of 4 that a goroutine drains: the pool
 * thread blocks as a plain thread and is woken by the goroutine. */
Test(blocking, fn_uses_channels, .timeout = 10)
{
    cr_assert_eq(run_main(main_chan, NULL), 0);
}
