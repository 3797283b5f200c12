/*
 * timer.c — per-P timer heaps.
 *
 * Each P owns a binary min-heap of goc__timer ordered by when, guarded by
 * p->tlock. Timers are added to the current P's heap; they fire on
 * whichever M next schedules on that P, or on an idle M that steals them
 * (findrunnable), or after sysmon hands a stuck P to another thread.
 * p->timer0 mirrors the earliest deadline so the scheduler can test "is a
 * timer due?" without the lock; idle Ms sleep exactly until the earliest
 * timer over all Ps (proc.c).
 *
 * Callbacks run in the runtime on an M holding a P, with no lock held, so
 * they may goc__ready() goroutines and re-add their own timer.
 */
#include "runtime/runtime.h"

#include <errno.h>

#include <stdlib.h>

static bool less(goc__timer *a, goc__timer *b)
{
    return a->when < b->when;
}

static void place(goc__p *p, int32_t i, goc__timer *t)
{
    p->timers[i] = t;
    t->idx = i;
}

static void sift_up(goc__p *p, int32_t i)
{
    goc__timer *t = p->timers[i];
    while (i > 0) {
        int32_t parent = (i - 1) / 2;
        if (!less(t, p->timers[parent]))
            break;
        place(p, i, p->timers[parent]);
        i = parent;
    }
    place(p, i, t);
}

static void sift_down(goc__p *p, int32_t i)
{
    goc__timer *t = p->timers[i];
    for (;;) {
        int32_t c = 2 * i + 1;
        if (c >= p->ntimers)
            break;
        if (c + 1 < p->ntimers && less(p->timers[c + 1], p->timers[c]))
            c++;
        if (!less(p->timers[c], t))
            break;
        place(p, i, p->timers[c]);
        i = c;
    }
    place(p, i, t);
}

/* tlock held. */
static void update_timer0(goc__p *p)
{
    GOC_ASSERT_HELD(&p->tlock);
    int64_t w = p->ntimers ? p->timers[0]->when : 0;
    if (w == 0 && p->ntimers)
        w = 1; /* 0 means "none" */
    atomic_store_explicit(&p->timer0, w, memory_order_release);
}

/* tlock held. Returns the state t had (WAITING, or DELETED if it was
 * stopped: a stop's CAS and this exchange decide who wins). */
static uint32_t heap_remove(goc__p *p, goc__timer *t)
{
    GOC_ASSERT_HELD(&p->tlock);
    int32_t i = t->idx;
    goc__timer *last = p->timers[--p->ntimers];
    if (i != p->ntimers) {
        place(p, i, last);
        sift_down(p, i);
        sift_up(p, last->idx);
    }
    t->idx = -1;
    uint32_t was = atomic_exchange_explicit(&t->state, GOC__T_NONE, memory_order_acq_rel);
    if (was == GOC__T_DELETED)
        atomic_fetch_sub_explicit(&p->ndeleted, 1, memory_order_relaxed);
    atomic_store_explicit(&t->p, NULL, memory_order_release);
    atomic_fetch_sub_explicit(&goc__sched.ntimers, 1, memory_order_relaxed);
    return was;
}

/* Rebuild p's heap without its DELETED timers once they are a quarter of
 * it (amortised O(1) per stop). tlock held. */
static void sweep(goc__p *p)
{
    GOC_ASSERT_HELD(&p->tlock);
    int32_t n = p->ntimers;
    if (atomic_load_explicit(&p->ndeleted, memory_order_relaxed) <= 64 ||
        atomic_load_explicit(&p->ndeleted, memory_order_relaxed) < n / 4)
        return;
    int32_t k = 0;
    for (int32_t i = 0; i < n; i++) {
        goc__timer *t = p->timers[i];
        if (atomic_load_explicit(&t->state, memory_order_relaxed) != GOC__T_DELETED) {
            place(p, k++, t);
            continue;
        }
        atomic_store_explicit(&t->state, GOC__T_NONE, memory_order_relaxed);
        t->idx = -1;
        atomic_store_explicit(&t->p, NULL, memory_order_release);
        atomic_fetch_sub_explicit(&goc__sched.ntimers, 1, memory_order_relaxed);
        if (t->swept)
            t->swept(t);
    }
    atomic_store_explicit(&p->ndeleted, 0, memory_order_relaxed);
    p->ntimers = k;
    for (int32_t i = k / 2 - 1; i >= 0; i--)
        sift_down(p, i);
    update_timer0(p);
}

static bool heap_grow(goc__p *p)
{
    int32_t cap = p->timerscap ? p->timerscap * 2 : 64;
    goc__timer **n = realloc(p->timers, (size_t)cap * sizeof *n);
    if (!n)
        return false;
    p->timers = n;
    p->timerscap = cap;
    return true;
}

/* p's heap cannot grow: lock and return another P's that has room, or
 * NULL. Heaps never shrink, so after a peak there usually is one. */
static goc__p *heap_with_room(goc__p *full)
{
    for (int32_t i = 0; i < goc__sched.nprocs; i++) {
        goc__p *p = goc__sched.allp[i];
        if (p == full)
            continue;
        pthread_mutex_lock(&p->tlock);
        if (p->ntimers < p->timerscap)
            return p;
        pthread_mutex_unlock(&p->tlock);
    }
    return NULL;
}

int goc__timer_add(goc__p *p, goc__timer *t)
{
    pthread_mutex_lock(&p->tlock);
    if (p->ntimers == p->timerscap && !heap_grow(p)) {
        pthread_mutex_unlock(&p->tlock);
        if (!(p = heap_with_room(p)))
            return -ENOMEM;
    }
    sweep(p);
    atomic_store_explicit(&t->state, GOC__T_WAITING, memory_order_relaxed);
    atomic_store_explicit(&t->p, p, memory_order_release);
    place(p, p->ntimers++, t);
    sift_up(p, t->idx);
    atomic_fetch_add_explicit(&goc__sched.ntimers, 1, memory_order_relaxed);
    bool first = t->idx == 0;
    int64_t when = t->when; /* once unlocked, t may fire and be reused */
    if (first)
        update_timer0(p);
    pthread_mutex_unlock(&p->tlock);
    /* An idle M may be sleeping until a later deadline: wake it; or none
     * is waiting for timers: wake an idle P's M, which will. */
    if (first) {
        int64_t until = atomic_load_explicit(&goc__sched.tsleep_until, memory_order_acquire);
        if (until != 0 && when < until)
            goc__wakep_timer();
        else if (until == 0)
            goc__wakep();
    }
    return 0;
}

/* Pop one due timer; tlock held. */
/* Pop the top if due; tlock held. A timer stopped just now is swept
 * instead of fired (*again: look at the new top). */
static goc__timer *pop_due(goc__p *p, int64_t now, bool *again)
{
    GOC_ASSERT_HELD(&p->tlock);
    *again = false;
    if (p->ntimers == 0 || p->timers[0]->when > now)
        return NULL;
    goc__timer *t = p->timers[0];
    if (heap_remove(p, t) == GOC__T_DELETED) {
        if (t->swept)
            t->swept(t);
        *again = true;
        return NULL;
    }
    return t;
}

/* Drop DELETED timers from the top of the heap; tlock held. */
static void drop_deleted_top(goc__p *p)
{
    GOC_ASSERT_HELD(&p->tlock);
    while (p->ntimers > 0 &&
           atomic_load_explicit(&p->timers[0]->state, memory_order_relaxed) == GOC__T_DELETED) {
        goc__timer *t = p->timers[0];
        if (heap_remove(p, t) == GOC__T_DELETED && t->swept)
            t->swept(t);
    }
}

static int64_t run(goc__p *p, int64_t now, bool trylock)
{
    if (trylock) {
        if (pthread_mutex_trylock(&p->tlock) != 0)
            return atomic_load_explicit(&p->timer0, memory_order_acquire);
    } else {
        pthread_mutex_lock(&p->tlock);
    }
    for (;;) {
        bool again;
        drop_deleted_top(p);
        goc__timer *t = pop_due(p, now, &again);
        update_timer0(p);
        if (again)
            continue;
        if (!t)
            break;
        pthread_mutex_unlock(&p->tlock);
        t->fn(t, t->arg, now);
        pthread_mutex_lock(&p->tlock);
    }
    int64_t next = p->ntimers ? p->timers[0]->when : 0;
    pthread_mutex_unlock(&p->tlock);
    return next;
}

int64_t goc__timers_run(goc__p *p, int64_t now)
{
    int64_t t0 = atomic_load_explicit(&p->timer0, memory_order_acquire);
    if (t0 == 0 || t0 > now)
        return t0;
    return run(p, now, false);
}

void goc__timers_steal(goc__p *victim, int64_t now)
{
    int64_t t0 = atomic_load_explicit(&victim->timer0, memory_order_acquire);
    if (t0 != 0 && t0 <= now)
        run(victim, now, true);
}

int64_t goc__timers_earliest(void)
{
    int64_t best = 0;
    for (int32_t i = 0; i < goc__sched.nprocs; i++) {
        int64_t w = atomic_load_explicit(&goc__sched.allp[i]->timer0, memory_order_acquire);
        if (w != 0 && (best == 0 || w < best))
            best = w;
    }
    return best;
}

int goc__timer_start(goc__timer *t)
{
    goc__m *m = goc__getm();
    if (m) {
        goc__p *p = goc__acquirep_rt(m);
        int rc = goc__timer_add(p, t);
        goc__releasep_rt(goc__getm());
        return rc;
    }
    return goc__timer_add(goc__sched.allp[0], t);
}

bool goc__timer_stop(goc__timer *t)
{
    uint32_t w = GOC__T_WAITING;
    if (!atomic_compare_exchange_strong_explicit(&t->state, &w, GOC__T_DELETED,
                                                 memory_order_acq_rel, memory_order_relaxed))
        return false;
    goc__p *p = atomic_load_explicit(&t->p, memory_order_acquire);
    if (p)
        atomic_fetch_add_explicit(&p->ndeleted, 1, memory_order_relaxed);
    return true;
}

int goc__timer_rearm(goc__timer *t, int64_t when)
{
    for (;;) {
        goc__p *p = atomic_load_explicit(&t->p, memory_order_acquire);
        if (!p) {
            t->when = when;
            return goc__timer_start(t) == 0 ? GOC__REARM_ADDED : -ENOMEM;
        }
        pthread_mutex_lock(&p->tlock);
        if (atomic_load_explicit(&t->p, memory_order_relaxed) != p) {
            pthread_mutex_unlock(&p->tlock);
            continue;
        }
        uint32_t was = atomic_exchange_explicit(&t->state, GOC__T_WAITING, memory_order_acq_rel);
        if (was == GOC__T_DELETED)
            atomic_fetch_sub_explicit(&p->ndeleted, 1, memory_order_relaxed);
        t->when = when;
        sift_down(p, t->idx);
        sift_up(p, t->idx);
        update_timer0(p);
        pthread_mutex_unlock(&p->tlock);
        int64_t until = atomic_load_explicit(&goc__sched.tsleep_until, memory_order_acquire);
        if (until != 0 && when < until)
            goc__wakep_timer();
        return was == GOC__T_WAITING ? GOC__REARM_MOVED_PENDING : GOC__REARM_MOVED_STOPPED;
    }
}
