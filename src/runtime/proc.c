/*
 * proc.c — Ps and Ms: start-up, the idle lists, starting and stopping
 * worker threads and the idle M protocol (deadlock.c checks for deadlock).
 *
 * Locking: sched.lock guards the idle P and M lists, the global run
 * queue and the counters marked [L] in runtime.h. It is never held across
 * a context switch or a futex sleep. Lock order: sched.lock before
 * goc__allg_lock, gflock (a taker gives queued records descriptors under
 * it: findrun.c) and any P's tlock.
 *
 * Idle protocol (Go's): whoever makes work available calls goc__wakep,
 * which starts one *spinning* M if a P is idle and no M is spinning. A
 * spinning M looks for work (findrun.c); when it finds some it stops
 * spinning and wakes another, so wakeups are amortised over a burst of
 * spawns. An M that finds nothing gives back its P and sleeps on its
 * note (goc__stopm); at most one idle M, the timed sleeper, sleeps with a
 * deadline: the earliest timer over all Ps. Once the net layer has
 * installed its poller, the timed sleeper blocks in the poller instead,
 * until that timer or I/O (netpoll.c). The M that would sleep with no
 * deadline first asks deadlock.c whether anything can still wake anyone.
 */
#include "runtime/fiber.h"
#include "runtime/runtime.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct goc__sched goc__sched = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .gflock = PTHREAD_MUTEX_INITIALIZER,
};
pthread_mutex_t goc__allg_lock = PTHREAD_MUTEX_INITIALIZER;
goc__g *goc__allg;

static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;
_Atomic bool goc__inited;

/* ---- start-up ---------------------------------------------------------- */

/* 0 or -ENOMEM; on failure nothing is left allocated and a later call
 * tries again. */
static int init(void)
{
    int n = goc__maxprocs_compute();
    goc__p **allp = calloc((size_t)n, sizeof *allp);
    if (!allp)
        return -ENOMEM;
    for (int i = 0; i < n; i++) {
        goc__p *p = aligned_alloc(64, sizeof *p);
        if (!p) {
            while (i-- > 0) {
                pthread_mutex_destroy(&allp[i]->tlock);
                free(allp[i]);
            }
            free(allp);
            return -ENOMEM;
        }
        memset(p, 0, sizeof *p);
        p->id = (uint32_t)i;
        pthread_mutex_init(&p->tlock, NULL);
        allp[i] = p;
    }
    goc__sched.allp = allp;
    goc__sched.nprocs = n;
    pthread_mutex_lock(&goc__sched.lock);
    for (int i = n - 1; i >= 0; i--)
        goc__pidleput(allp[i]);
    pthread_mutex_unlock(&goc__sched.lock);
    goc__stack_default_size();
    goc__membarrier_init();
    goc__signals_init();
    goc__sysmon_start();
    return 0;
}

int goc__init_slow(void)
{
    pthread_mutex_lock(&init_lock);
    int rc = 0;
    if (!atomic_load_explicit(&goc__inited, memory_order_relaxed)) {
        rc = init();
        if (rc == 0)
            atomic_store_explicit(&goc__inited, true, memory_order_release);
    }
    pthread_mutex_unlock(&init_lock);
    return rc;
}

int32_t goc__nprocs(void)
{
    return goc__sched.nprocs;
}

GOC_API int goc_maxprocs(void)
{
    if (goc__init() != 0)
        return goc__maxprocs_compute();
    return goc__sched.nprocs;
}

/* ---- idle Ps ----------------------------------------------------------- */

/* sched.lock held. */
goc__p *goc__pidleget(void)
{
    GOC_ASSERT_HELD(&goc__sched.lock);
    goc__p *p = goc__sched.pidle;
    if (!p)
        return NULL;
    goc__sched.pidle = p->link;
    atomic_fetch_sub_explicit(&goc__sched.npidle, 1, memory_order_seq_cst);
    if (goc__sched.sysmonwait) {
        goc__sched.sysmonwait = false;
        goc__note_wakeup(&goc__sched.sysmonnote);
    }
    return p;
}

/* sched.lock held. */
void goc__pidleput(goc__p *p)
{
    GOC_ASSERT_HELD(&goc__sched.lock);
    atomic_store_explicit(&p->status, goc__pstatus(0, GOC__P_IDLE), memory_order_release);
    p->link = goc__sched.pidle;
    goc__sched.pidle = p;
    atomic_fetch_add_explicit(&goc__sched.npidle, 1, memory_order_seq_cst);
}

void goc__acquirep(goc__m *m, goc__p *p)
{
    m->p = p;
    atomic_store_explicit(&p->owner, m, memory_order_relaxed);
    /* release: publishes owner to sysmon; the P's queues were published by
     * whoever put it on the idle list (under sched.lock). */
    atomic_store_explicit(&p->status, goc__pstatus(m->id, GOC__P_RUNNING), memory_order_release);
}

/* ---- Ms ---------------------------------------------------------------- */

/* A worker's own stack: the scheduler, timers, signal handlers, dumps. */
#define M_STACK_SIZE (1024 * 1024)

static void newm_failed(goc__p *p, bool spinning, int err)
{
    static atomic_flag warned = ATOMIC_FLAG_INIT;
    if (!atomic_flag_test_and_set(&warned))
        fprintf(stderr, "goc: cannot start a worker thread (%s); running with fewer\n",
                goc_strerror(err));
    pthread_mutex_lock(&goc__sched.lock);
    goc__pidleput(p);
    pthread_mutex_unlock(&goc__sched.lock);
    if (spinning)
        atomic_fetch_sub_explicit(&goc__sched.nmspinning, 1, memory_order_seq_cst);
}

static void *mstart_thread(void *arg)
{
    goc__m *m = arg;
    goc__setm(m);
    goc__signals_thread_init();
    goc__fiber_thread(&m->g0);
    m->g0.flags = GOC__GF_G0;
    m->curg = &m->g0;
    m->rtdepth = 1; /* g0 is always in the runtime */
    atomic_store_explicit(&m->inrt, 1, memory_order_relaxed);
    pthread_mutex_lock(&goc__sched.lock);
    goc__p *p = m->nextp;
    m->nextp = NULL;
    pthread_mutex_unlock(&goc__sched.lock);
    if (p)
        goc__acquirep(m, p);
    goc__schedule_loop(m);
}

/* Start a thread for p. On failure (out of memory or threads), p goes
 * back to the idle list and the goroutines wait for an existing M: the
 * program keeps running with fewer threads, as it says once. */
static void newm(goc__p *p, bool spinning)
{
    goc__m *m = calloc(1, sizeof *m);
    if (!m) {
        newm_failed(p, spinning, ENOMEM);
        return;
    }
    m->id = atomic_fetch_add_explicit(&goc__sched.mcount, 1, memory_order_relaxed) + 1;
    m->nextp = p;
    m->spinning = spinning;
    m->rand = 0x9E3779B97F4A7C15ull * m->id;
    m->allnext = atomic_load_explicit(&goc__sched.allm, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(&goc__sched.allm, &m->allnext, m,
                                                  memory_order_release, memory_order_relaxed))
        ;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, M_STACK_SIZE);
    goc__owned_threads_add(1); /* before the thread can show in /proc */
    int rc = pthread_create(&m->thread, &attr, mstart_thread, m);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        goc__owned_threads_add(-1);
        /* m stays on allm (append-only), never started. */
        newm_failed(p, spinning, rc);
    }
}

void goc__startm(goc__p *p, bool spinning)
{
    pthread_mutex_lock(&goc__sched.lock);
    if (!p) {
        p = goc__pidleget();
        if (!p) {
            pthread_mutex_unlock(&goc__sched.lock);
            if (spinning)
                atomic_fetch_sub_explicit(&goc__sched.nmspinning, 1, memory_order_seq_cst);
            return;
        }
    }
    goc__m *m = goc__sched.midle;
    if (m) {
        goc__sched.midle = m->schedlink;
        goc__sched.nmidle--;
        m->spinning = spinning;
        m->nextp = p;
        pthread_mutex_unlock(&goc__sched.lock);
        goc__note_wakeup(&m->park);
        return;
    }
    pthread_mutex_unlock(&goc__sched.lock);
    newm(p, spinning);
}

void goc__wakep(void)
{
    /* seq_cst: pairs with a spinning M's "stop spinning, then recheck
     * every run queue" in findrunnable, so either it sees our G or we see
     * that nobody spins and start an M. */
    if (atomic_load_explicit(&goc__sched.npidle, memory_order_seq_cst) == 0)
        return;
    int32_t zero = 0;
    if (!atomic_compare_exchange_strong_explicit(&goc__sched.nmspinning, &zero, 1,
                                                 memory_order_seq_cst, memory_order_relaxed))
        return;
    goc__startm(NULL, true);
}

void goc__wakep_timer(void)
{
    pthread_mutex_lock(&goc__sched.lock);
    if (goc__sched.tsleeper_polls)
        atomic_load_explicit(&goc__sched.poller, memory_order_relaxed)->wake();
    else if (goc__sched.tsleeper)
        goc__note_wakeup(&goc__sched.tsleeper->park);
    pthread_mutex_unlock(&goc__sched.lock);
}

/* Give away a P whose M cannot use it (sysmon's retake). */
void goc__handoffp(goc__p *p)
{
    if (!goc__runq_empty(p) || atomic_load(&goc__sched.runqsize) > 0 ||
        atomic_load(&p->timer0) != 0) {
        goc__startm(p, false);
        return;
    }
    pthread_mutex_lock(&goc__sched.lock);
    goc__pidleput(p);
    pthread_mutex_unlock(&goc__sched.lock);
}

/* Remove m from the idle list; sched.lock held. */
static void midle_remove(goc__m *m)
{
    GOC_ASSERT_HELD(&goc__sched.lock);
    for (goc__m **pp = &goc__sched.midle; *pp; pp = &(*pp)->schedlink) {
        if (*pp == m) {
            *pp = m->schedlink;
            goc__sched.nmidle--;
            return;
        }
    }
}

void goc__stopm(goc__m *m, int64_t until)
{
    pthread_mutex_lock(&goc__sched.lock);
    m->nextp = NULL;
    const goc__poller *np = atomic_load_explicit(&goc__sched.poller, memory_order_acquire);
    if (np) {
        /* Nobody polls (no timed sleeper, or one asleep on its note since
         * before the poller existed): this M does. */
        if (!goc__sched.tsleeper_polls) {
            /* Not on the idle list: startm must not hand it a P. */
            goc__netpoll_sleep(m, np);
            return;
        }
        /* Another M polls until the earliest timer; if ours is earlier,
         * make it look again, and sleep untimed. */
        int64_t cur = atomic_load_explicit(&goc__sched.tsleep_until, memory_order_relaxed);
        if (goc__sched.tsleeper_polls && until != 0 && (cur == 0 || until < cur))
            np->wake();
        if (goc__sched.tsleeper_polls)
            until = 0;
    }
    m->schedlink = goc__sched.midle;
    goc__sched.midle = m;
    goc__sched.nmidle++;
    goc__note_clear(&m->park);
    int64_t cur = atomic_load_explicit(&goc__sched.tsleep_until, memory_order_relaxed);
    bool timed = until != 0 && (goc__sched.tsleeper == NULL || cur == 0 || until < cur);
    if (timed) {
        goc__sched.tsleeper = m;
        atomic_store_explicit(&goc__sched.tsleep_until, until, memory_order_release);
    } else if (until == 0) {
        goc__checkdead();
    }
    pthread_mutex_unlock(&goc__sched.lock);

    goc__note_sleep_until(&m->park, timed ? until : 0);

    pthread_mutex_lock(&goc__sched.lock);
    if (goc__sched.tsleeper == m) {
        goc__sched.tsleeper = NULL;
        atomic_store_explicit(&goc__sched.tsleep_until, 0, memory_order_release);
    }
    goc__p *p = m->nextp;
    m->nextp = NULL;
    if (!p) {
        /* Woken for a timer, not handed a P: take one if any is idle. */
        midle_remove(m);
        p = goc__pidleget();
    }
    pthread_mutex_unlock(&goc__sched.lock);
    if (p)
        goc__acquirep(m, p);
}
