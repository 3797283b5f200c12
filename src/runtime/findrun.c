/*
 * findrun.c — what an M does when its P has nothing to run: g0's loop,
 * findrunnable (global queue, stealing, other Ps' timers) and idling.
 *
 * All of this runs on g0 (the thread's own stack), at depth 1. The
 * spinning rules are Go's: at most half of the busy Ps' worth of Ms spin
 * at once; a spinning M that gives up decrements nmspinning and *then*
 * rechecks every run queue, while producers enqueue and *then* check
 * nmspinning (goc__wakep), both seq_cst, so no G is left queued with every
 * M asleep.
 */
#include "runtime/runtime.h"

#define STEAL_TRIES 4

/* The global run queue is two FIFO lists: goroutines that have run before
 * (readied, yielded, spilled from a full P, or queued by a worker that
 * lost its P) and goroutines that have not started yet. Takers prefer the
 * first: a burst of a hundred thousand spawns must not delay every woken
 * sleeper behind it (each start costs a stack). The every-61st-slice
 * fairness check (fair=true) alternates between the two, so neither can
 * starve while local work keeps a P busy. All under sched.lock. */

static void gq_push(goc__gqueue *q, goc__g *g)
{
    g->schedlink = NULL;
    if (q->tail)
        q->tail->schedlink = g;
    else
        q->head = g;
    q->tail = g;
}

static goc__g *gq_pop(goc__gqueue *q)
{
    goc__g *g = q->head;
    if (g) {
        q->head = g->schedlink;
        if (!q->head)
            q->tail = NULL;
        else
            __builtin_prefetch(q->head, 1); /* likely queued by another P */
        g->schedlink = NULL;
    }
    return g;
}

static goc__g *globpop(bool fair)
{
    static uint32_t turn; /* under sched.lock */
    goc__g *g = fair && (turn++ & 1) ? gq_pop(&goc__sched.newq) : NULL;
    if (!g)
        g = gq_pop(&goc__sched.runq);
    if (!g)
        g = gq_pop(&goc__sched.newq);
    return g;
}

/* Take from the global queue; lock held. max 0: a fair share, the rest
 * into p's ring (which must have room: callers' rings are empty). */
goc__g *goc__globrunqget(goc__p *p, int32_t max, bool fair)
{
    int32_t size = atomic_load_explicit(&goc__sched.runqsize, memory_order_relaxed);
    if (size == 0)
        return NULL;
    int32_t n = size / goc__sched.nprocs + 1;
    if (n > size)
        n = size;
    if (max > 0 && n > max)
        n = max;
    if (n > GOC__RUNQ_SIZE / 2)
        n = GOC__RUNQ_SIZE / 2;
    atomic_store_explicit(&goc__sched.runqsize, size - n, memory_order_relaxed);
    goc__g *g = globpop(fair);
    for (int32_t i = 1; i < n; i++)
        goc__runq_put(p, globpop(false));
    return g;
}

/* Lock held. */
void goc__globrunqput(goc__g *g)
{
    gq_push(g->sp ? &goc__sched.runq : &goc__sched.newq, g);
    atomic_fetch_add_explicit(&goc__sched.runqsize, 1, memory_order_seq_cst);
}

static void stop_spinning(goc__m *m)
{
    if (!m->spinning)
        return;
    m->spinning = false;
    /* The last spinner to find work wakes another, so bursts of readied
     * Gs still spread over the idle Ps. */
    if (atomic_fetch_sub_explicit(&goc__sched.nmspinning, 1, memory_order_seq_cst) == 1)
        goc__wakep();
}

/* Steal from other Ps (and run their due timers). */
static goc__g *steal_work(goc__m *m, goc__p *p)
{
    int32_t n = goc__sched.nprocs;
    for (int tries = 0; tries < STEAL_TRIES; tries++) {
        bool last = tries == STEAL_TRIES - 1;
        uint32_t start = goc__fastrand(m) % (uint32_t)n;
        for (int32_t i = 0; i < n; i++) {
            goc__p *v = goc__sched.allp[(start + (uint32_t)i) % (uint32_t)n];
            if (v == p)
                continue;
            if (last) {
                goc__timers_steal(v, goc_now());
                goc__g *g = goc__runq_get(p);
                if (!g)
                    g = atomic_exchange_explicit(&p->runnext, NULL, memory_order_acquire);
                if (g)
                    return g;
            }
            goc__g *g = goc__runq_steal(p, v, last);
            if (g)
                return g;
        }
    }
    return NULL;
}

/* Recheck every P after giving up spinning; true if some P has work. */
static bool any_work(void)
{
    if (atomic_load_explicit(&goc__sched.runqsize, memory_order_seq_cst) > 0)
        return true;
    for (int32_t i = 0; i < goc__sched.nprocs; i++) {
        if (!goc__runq_empty(goc__sched.allp[i]))
            return true;
    }
    return false;
}

/* Find a G for m, holding m->p; sleeps while there is none. Returns NULL
 * if m lost its P while idle (the caller loops). *inherit as pick_local. */
static goc__g *findrunnable(goc__m *m, bool *inherit)
{
top:;
    goc__p *p = m->p;
    goc__g *g = goc__pick_local(p, inherit, true);
    if (g)
        goto found;
    *inherit = false;
    if (atomic_load_explicit(&goc__sched.runqsize, memory_order_relaxed) > 0) {
        pthread_mutex_lock(&goc__sched.lock);
        g = goc__globrunqget(p, 0, false);
        pthread_mutex_unlock(&goc__sched.lock);
        if (g)
            goto found;
    }
    /* Goroutines whose I/O is ready (they land on p's run queue). */
    if (goc__netpoll_check())
        goto top;
    int32_t busy = goc__sched.nprocs - atomic_load(&goc__sched.npidle);
    if (m->spinning || 2 * atomic_load(&goc__sched.nmspinning) < busy) {
        if (!m->spinning) {
            m->spinning = true;
            atomic_fetch_add_explicit(&goc__sched.nmspinning, 1, memory_order_seq_cst);
        }
        g = steal_work(m, p);
        if (g)
            goto found;
    }

    /* Due timers anywhere (a busy P's, or an idle P's) may ready a G. */
    int64_t now = goc_now();
    for (int32_t i = 0; i < goc__sched.nprocs; i++)
        goc__timers_steal(goc__sched.allp[i], now);
    if (!goc__runq_empty(p))
        goto top;

    /* Nothing: give back the P, then make sure nothing arrived meanwhile. */
    pthread_mutex_lock(&goc__sched.lock);
    if (atomic_load_explicit(&goc__sched.runqsize, memory_order_relaxed) > 0) {
        g = goc__globrunqget(p, 0, false);
        pthread_mutex_unlock(&goc__sched.lock);
        goto found;
    }
    m->p = NULL;
    goc__pidleput(p);
    pthread_mutex_unlock(&goc__sched.lock);

    bool was_spinning = m->spinning;
    if (m->spinning) {
        m->spinning = false;
        atomic_fetch_sub_explicit(&goc__sched.nmspinning, 1, memory_order_seq_cst);
    }
    if (was_spinning && any_work()) {
        pthread_mutex_lock(&goc__sched.lock);
        p = goc__pidleget();
        pthread_mutex_unlock(&goc__sched.lock);
        if (p) {
            goc__acquirep(m, p);
            m->spinning = true;
            atomic_fetch_add_explicit(&goc__sched.nmspinning, 1, memory_order_seq_cst);
            goto top;
        }
    }
    goc__stopm(m, goc__timers_earliest());
    if (!m->p)
        return NULL;
    goto top;

found:
    stop_spinning(m);
    return g;
}

_Noreturn void goc__schedule_loop(goc__m *m)
{
    for (;;) {
        if (!m->p) {
            goc__stopm(m, 0);
            continue;
        }
        bool inherit;
        goc__g *g = findrunnable(m, &inherit);
        if (!g)
            continue;
        goc__new_slice(m->p, inherit);
        goc__switch(m, &m->g0, g);
    }
}
