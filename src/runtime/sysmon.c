/*
 * sysmon.c — the monitor thread (Go's sysmon).
 *
 * goc cannot preempt a goroutine (a signal could land while it holds a
 * libc lock), so a goroutine that computes for a long time or blocks its
 * thread in a system call keeps its P. sysmon watches every P's schedtick;
 * a P that has run the same slice in user code for RETAKE_AFTER while
 * other work waits for it (its run queue, a due timer, or the global queue
 * with no P idle) is retaken: sysmon CASes its status from RUNNING to
 * RETAKING, checks (after a membarrier) that the owner is still outside
 * the runtime, then stores IDLE and hands the P to another M; an owner
 * that entered meanwhile gets RUNNING back (see "P ownership" in sched.c).
 * The stuck M keeps running its goroutine without a P (counted in nmsys)
 * and, on its next entry to the runtime, gets a P back or queues its
 * goroutine globally (sched.c: acquirep_lost).
 *
 * sysmon polls every 20 us, backing off to 10 ms when nothing happens, and
 * sleeps on sysmonnote while every P is idle, so an idle program uses no
 * CPU. It also performs the SIGQUIT dump, outside the signal handler.
 */
#include "runtime/runtime.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define RETAKE_AFTER (10 * GOC_MILLISECOND)
#define EPOCH_EVERY  (1 * GOC_SECOND) /* goc__epoch_now */

_Atomic uint32_t goc__epoch_now;

static bool wants_p(goc__p *p, int64_t now)
{
    if (!goc__runq_empty(p))
        return true;
    int64_t t0 = atomic_load_explicit(&p->timer0, memory_order_acquire);
    if (t0 != 0 && t0 <= now)
        return true;
    return atomic_load(&goc__sched.runqsize) > 0 && atomic_load(&goc__sched.npidle) == 0;
}

/* Take p from its owner if the owner runs user code (see "P ownership"
 * in sched.c); true if it did. */
static bool try_retake(goc__p *p, uint64_t s)
{
    goc__m *m = atomic_load_explicit(&p->owner, memory_order_relaxed);
    if (!m || m->id != (uint32_t)(s >> 8) || atomic_load_explicit(&m->inrt, memory_order_relaxed))
        return false;
    uint64_t deciding = goc__pstatus(m->id, GOC__P_RETAKING);
    if (!atomic_compare_exchange_strong_explicit(&p->status, &s, deciding, memory_order_seq_cst,
                                                 memory_order_relaxed))
        return false;
    goc__membarrier();
    /* acquire: pairs with the owner's release of inrt = 0, so what it did
     * to the P before leaving the runtime is visible to the next owner. */
    if (atomic_load_explicit(&m->inrt, memory_order_acquire)) {
        atomic_store_explicit(&p->status, s, memory_order_release); /* not now */
        return false;
    }
    pthread_mutex_lock(&goc__sched.lock);
    atomic_store_explicit(&p->status, goc__pstatus(0, GOC__P_IDLE), memory_order_release);
    goc__sched.nmsys++;
    pthread_mutex_unlock(&goc__sched.lock);
    return true;
}

static bool retake(int64_t now)
{
    bool any = false;
    for (int32_t i = 0; i < goc__sched.nprocs; i++) {
        goc__p *p = goc__sched.allp[i];
        uint64_t s = atomic_load_explicit(&p->status, memory_order_acquire);
        uint32_t tick = atomic_load_explicit(&p->schedtick, memory_order_relaxed);
        if ((s & 0xff) != GOC__P_RUNNING || tick != p->sysmon_tick) {
            p->sysmon_tick = tick;
            p->sysmon_when = now;
            continue;
        }
        if (now - p->sysmon_when < RETAKE_AFTER || !wants_p(p, now) || !try_retake(p, s))
            continue;
        atomic_fetch_add_explicit(&goc__sched.nretake, 1, memory_order_relaxed);
        p->sysmon_when = now;
        goc__handoffp(p);
        any = true;
    }
    return any;
}

static void sigquit_dump(void)
{
    goc__dump_all(2, "SIGQUIT: quit");
    _exit(2);
}

/* Sleep on sysmonnote while nothing runs; true if it slept. */
static bool maybe_wait(void)
{
    pthread_mutex_lock(&goc__sched.lock);
    bool idle = atomic_load(&goc__sched.npidle) == goc__sched.nprocs && goc__sched.nmsys == 0 &&
                atomic_load(&goc__sched.runqsize) == 0 &&
                (atomic_load(&goc__netpoll_waiters) == 0 || goc__sched.tsleeper_polls) &&
                atomic_load(&goc__sched.nstackwait) == 0 && !goc__stackcache_excess();
    if (idle) {
        goc__sched.sysmonwait = true;
        goc__note_clear(&goc__sched.sysmonnote);
    }
    pthread_mutex_unlock(&goc__sched.lock);
    if (idle)
        goc__note_sleep(&goc__sched.sysmonnote);
    return idle;
}

static void *sysmon(void *unused)
{
    (void)unused;
    int64_t delay = 20 * GOC_MICROSECOND;
    int idle = 0;
    int64_t last_retry = 0;
    for (;;) {
        struct timespec ts = {0, delay};
        nanosleep(&ts, NULL);
        if (atomic_load(&goc__sched.sigquit))
            sigquit_dump();
        /* Before maybe_wait: a program that idles between short bursts
         * wakes us briefly each time, and its caches must still age. */
        atomic_store_explicit(&goc__epoch_now, (uint32_t)(goc_now() / EPOCH_EVERY),
                              memory_order_relaxed);
        if (maybe_wait()) {
            /* Woken because a P went busy again. Keep the backed-off
             * delay: a server whose workers idle between bursts wakes us
             * thousands of times a second, and restarting at 20 us each
             * time costs it a context switch per 20 us on its own CPU.
             * Nothing is due sooner: a P is retaken after RETAKE_AFTER
             * (10 ms) of one slice, at least the longest delay. */
            idle = 0;
            continue;
        }
        int64_t now = goc_now();
        if (atomic_load(&goc__sched.nstackwait) > 0 && now - last_retry >= RETAKE_AFTER) {
            last_retry = now;
            goc__stackwait_retry();
        }
        goc__stackcache_scavenge(now);
        goc__netpoll_sysmon(now);
        /* Work queued, a P idle and nobody looking: a worker thread could
         * not be started (out of memory or threads). Try again. */
        if (atomic_load(&goc__sched.runqsize) > 0 && atomic_load(&goc__sched.npidle) > 0 &&
            atomic_load(&goc__sched.nmspinning) == 0)
            goc__wakep();
        if (retake(now)) {
            idle = 0;
            delay = 20 * GOC_MICROSECOND;
        } else if (++idle > 50 && delay < 10 * GOC_MILLISECOND) {
            delay *= 2;
        }
    }
    return NULL;
}

void goc__sysmon_wake(void)
{
    /* Async-signal-safe: an atomic exchange and a futex wake. */
    goc__note_wakeup(&goc__sched.sysmonnote);
}

void goc__sysmon_start(void)
{
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    goc__owned_threads_add(1);
    if (pthread_create(&t, &attr, sysmon, NULL) != 0)
        goc__fatal("failed to create the sysmon thread");
    pthread_attr_destroy(&attr);
}
