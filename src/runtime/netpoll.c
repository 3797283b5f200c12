/*
 * netpoll.c — where the scheduler calls the net poller (see runtime.h).
 *
 * Go's design: no event-loop thread. The M that would sleep until the
 * next timer (the timed sleeper, proc.c) blocks in the poller with that
 * timeout instead, so one M waits for both; it is not on the idle M list,
 * and whoever needs it to look again (an earlier timer, see
 * goc__wakep_timer) calls the poller's wake. The goroutines a poll readies
 * go to the poller's caller's P, or to the global queue from an M without
 * one (goc__ready). A P that runs dry checks the poller before stealing,
 * and sysmon checks it when nobody has for 10 ms, so I/O is noticed while
 * every P is busy.
 */
#include "runtime/runtime.h"

#define SYSMON_POLL_AFTER (10 * GOC_MILLISECOND)

_Atomic int32_t goc__netpoll_waiters;

void goc__netpoll_register(const goc__poller *p)
{
    const goc__poller *none = NULL;
    if (!atomic_compare_exchange_strong_explicit(&goc__sched.poller, &none, p, memory_order_acq_rel,
                                                 memory_order_acquire))
        return;
    atomic_store_explicit(&goc__sched.lastpoll, goc_now(), memory_order_relaxed);
    /* A timed sleeper that went to sleep on its note before the poller
     * existed: wake it so that it comes back as the poll sleeper. */
    goc__wakep_timer();
}

static inline const goc__poller *poller_if_waiters(void)
{
    const goc__poller *np = atomic_load_explicit(&goc__sched.poller, memory_order_acquire);
    if (!np || atomic_load_explicit(&goc__netpoll_waiters, memory_order_relaxed) == 0)
        return NULL;
    return np;
}

bool goc__netpoll_check(void)
{
    const goc__poller *np = poller_if_waiters();
    /* lastpoll 0: an M is blocked in the poller and will see the events. */
    if (!np || atomic_load_explicit(&goc__sched.lastpoll, memory_order_relaxed) == 0)
        return false;
    return np->poll(0) > 0;
}

void goc__netpoll_kick(void)
{
    if (__atomic_load_n(&goc__sched.tsleeper_polls, __ATOMIC_RELAXED))
        return;
    /* An idle P's M, started spinning, finds nothing and becomes the poll
     * sleeper; with every P busy, sysmon polls (it stays awake while
     * goroutines or threads wait on I/O and nobody polls). */
    goc__wakep();
    goc__sysmon_wake();
}

void goc__netpoll_sysmon(int64_t now)
{
    const goc__poller *np = poller_if_waiters();
    if (!np)
        return;
    int64_t last = atomic_load_explicit(&goc__sched.lastpoll, memory_order_relaxed);
    if (last == 0 || now - last < SYSMON_POLL_AFTER)
        return;
    /* CAS: one of sysmon and a blocking sleeper takes this round. */
    if (atomic_compare_exchange_strong_explicit(&goc__sched.lastpoll, &last, now,
                                                memory_order_relaxed, memory_order_relaxed))
        np->poll(0); /* readied Gs go to the global queue (no P here) */
}

void goc__netpoll_sleep(goc__m *m, const goc__poller *np)
{
    GOC_ASSERT_HELD(&goc__sched.lock);
    goc__sched.tsleeper = m;
    __atomic_store_n(&goc__sched.tsleeper_polls, true, __ATOMIC_RELAXED); /* read by kick */
    int64_t until = goc__timers_earliest();
    atomic_store_explicit(&goc__sched.tsleep_until, until, memory_order_release);
    if (until == 0 && atomic_load_explicit(&goc__netpoll_waiters, memory_order_relaxed) == 0)
        goc__checkdead(); /* returns unless nothing could ever wake us */
    atomic_store_explicit(&goc__sched.lastpoll, 0, memory_order_relaxed);
    pthread_mutex_unlock(&goc__sched.lock);

    m->polling = true;
    m->pollq = NULL;
    np->poll(until ? until : INT64_MAX);
    m->polling = false;
    goc__g *ready = m->pollq;
    m->pollq = NULL;

    atomic_store_explicit(&goc__sched.lastpoll, goc_now(), memory_order_relaxed);
    pthread_mutex_lock(&goc__sched.lock);
    goc__sched.tsleeper = NULL;
    __atomic_store_n(&goc__sched.tsleeper_polls, false, __ATOMIC_RELAXED);
    atomic_store_explicit(&goc__sched.tsleep_until, 0, memory_order_release);
    goc__p *p = goc__pidleget();
    if (!p) { /* every P is busy: they will find them */
        while (ready) {
            goc__g *g = ready;
            ready = g->schedlink;
            goc__globrunqput(g);
        }
    }
    pthread_mutex_unlock(&goc__sched.lock);
    if (!p)
        return;
    /* As Go's findrunnable after a blocking netpoll: this M takes the
     * idle P and runs what the poll readied, rather than queueing them
     * globally and waking another M for each. */
    goc__acquirep(m, p);
    bool more = ready && ready->schedlink;
    while (ready) {
        goc__g *g = ready;
        ready = g->schedlink;
        goc__runqput(p, g, false);
    }
    if (more)
        goc__wakep(); /* an idle P may share them */
}
