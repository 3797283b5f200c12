/*
 * blocking.c — goc_blocking: run a blocking call on a pool of threads
 * while the goroutine parks (what Go does for cgo calls and file I/O by
 * handing off its P; here the worker keeps its P and the call moves).
 *
 * Jobs live on the callers' stacks, queued FIFO under pool.lock (a
 * pthread mutex: only pool threads and the enqueuer hold it, never across
 * a park). Threads are started on demand up to MAX_THREADS and exit after
 * IDLE_EXIT without work.
 *
 * Handshake between the goroutine parking and the thread finishing
 * (either may come first): job.state goes 0 -> PARKED (the goroutine's
 * unlockf, once it is saved) or 0 -> DONE (the thread). Whoever moves it
 * second knows the other is there: unlockf seeing DONE does not park; the
 * thread seeing PARKED readies the goroutine.
 */
#include <errno.h>
#include <goc.h>
#include <pthread.h>
#include <time.h>

#include "runtime/park.h"

#define MAX_THREADS 64
#define IDLE_EXIT   (10 * GOC_SECOND)

enum { JOB_PENDING = 0, JOB_PARKED = 1, JOB_DONE = 2 };

typedef struct job {
    void (*fn)(void *);
    void *arg;
    goc__g *g;
    _Atomic uint32_t state;
    struct job *next;
} job;

static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond; /* work queued */
    job *head, *tail;    /* under lock */
    int nthreads, nidle; /* under lock */
} pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, NULL, 0, 0};

static void finish(job *j)
{
    goc__g *g = j->g; /* read before the handshake: j is gone after it */
    uint32_t st = JOB_PENDING;
    if (!atomic_compare_exchange_strong_explicit(&j->state, &st, JOB_DONE, memory_order_acq_rel,
                                                 memory_order_acquire))
        goc__ready(g); /* st == PARKED */
}

static void *worker(void *unused)
{
    (void)unused;
    pthread_mutex_lock(&pool.lock);
    for (;;) {
        while (!pool.head) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += IDLE_EXIT / GOC_SECOND;
            pool.nidle++;
            int rc = pthread_cond_timedwait(&pool.cond, &pool.lock, &ts);
            pool.nidle--;
            if (rc == ETIMEDOUT && !pool.head) {
                pool.nthreads--;
                goc__owned_threads_add(-1);
                pthread_mutex_unlock(&pool.lock);
                return NULL;
            }
        }
        job *j = pool.head;
        pool.head = j->next;
        if (!pool.head)
            pool.tail = NULL;
        pthread_mutex_unlock(&pool.lock);
        j->fn(j->arg);
        finish(j);
        pthread_mutex_lock(&pool.lock);
    }
}

static bool park_job(goc__g *g, void *arg)
{
    (void)g;
    job *j = arg;
    uint32_t st = JOB_PENDING;
    return atomic_compare_exchange_strong_explicit(&j->state, &st, JOB_PARKED, memory_order_acq_rel,
                                                   memory_order_acquire);
}

GOC_API int goc_blocking(void (*fn)(void *arg), void *arg)
{
    goc__g *g = goc__getg();
    if (!g) { /* a plain thread may block itself */
        fn(arg);
        return 0;
    }
    job j = {.fn = fn, .arg = arg, .g = g};
    pthread_mutex_lock(&pool.lock);
    if (pool.nidle == 0 && pool.nthreads < MAX_THREADS) {
        pthread_t t;
        pthread_attr_t at;
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        pthread_attr_setstacksize(&at, 256 * 1024);
        goc__owned_threads_add(1); /* idle, it wakes nobody (deadlock.c) */
        if (pthread_create(&t, &at, worker, NULL) == 0)
            pool.nthreads++;
        else
            goc__owned_threads_add(-1);
        pthread_attr_destroy(&at);
        if (pool.nthreads == 0) {
            pthread_mutex_unlock(&pool.lock);
            return -ENOMEM;
        }
    }
    if (pool.tail)
        pool.tail->next = &j;
    else
        pool.head = &j;
    pool.tail = &j;
    pthread_cond_signal(&pool.cond);
    pthread_mutex_unlock(&pool.lock);
    atomic_fetch_add_explicit(&goc__netpoll_waiters, 1, memory_order_relaxed);
    goc__park(park_job, &j, "blocking call");
    atomic_fetch_sub_explicit(&goc__netpoll_waiters, 1, memory_order_relaxed);
    return 0;
}
