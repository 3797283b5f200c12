/*
 * runq.c — a P's local run queue: Go's bounded lock-free ring.
 *
 * Single producer (the owner P), multiple consumers (the owner and
 * thieves). runqtail is written only by the owner; runqhead advances by
 * CAS from the owner (get) and thieves (steal). Slots are atomics so that
 * a thief reading a slot the owner is overwriting is not a data race; the
 * thief's CAS on runqhead then fails and it retries.
 *
 * Ordering: the owner's store-release of runqtail publishes the slot
 * stores before it; consumers load-acquire runqtail. A consumer's
 * CAS-release of runqhead tells the owner the slots before it may be
 * reused (the owner loads head with acquire).
 */
#include "runtime/runtime.h"

#include <time.h>

#define MASK (GOC__RUNQ_SIZE - 1)

bool goc__runq_empty(goc__p *p)
{
    /* A G moving between runnext and the ring is briefly in neither; the
     * scheduler's callers tolerate that (they recheck under sched.lock). */
    uint32_t h = atomic_load_explicit(&p->runqhead, memory_order_acquire);
    uint32_t t = atomic_load_explicit(&p->runqtail, memory_order_acquire);
    return h == t && atomic_load_explicit(&p->runnext, memory_order_acquire) == NULL;
}

/* Put g at the tail; false if the ring is full. Owner only. */
bool goc__runq_put(goc__p *p, goc__g *g)
{
    uint32_t h = atomic_load_explicit(&p->runqhead, memory_order_acquire);
    uint32_t t = atomic_load_explicit(&p->runqtail, memory_order_relaxed);
    if (t - h >= GOC__RUNQ_SIZE)
        return false;
    atomic_store_explicit(&p->runq[t & MASK], g, memory_order_relaxed);
    /* store-release: makes the slot available to consumers. */
    atomic_store_explicit(&p->runqtail, t + 1, memory_order_release);
    return true;
}

/* The ring is full: move half of it plus g to the global queue, so a
 * spawning loop does not starve other Ps of work (the unstarted ones go
 * as records, their descriptors back to p: findrun.c). Owner only. */
void goc__runq_put_slow(goc__p *p, goc__g *g)
{
    goc__g *batch[GOC__RUNQ_SIZE / 2 + 1];
    for (;;) {
        uint32_t h = atomic_load_explicit(&p->runqhead, memory_order_acquire);
        uint32_t t = atomic_load_explicit(&p->runqtail, memory_order_relaxed);
        uint32_t n = (t - h) / 2;
        if (n != GOC__RUNQ_SIZE / 2) {
            /* Thieves made room meanwhile. */
            if (goc__runq_put(p, g))
                return;
            continue;
        }
        for (uint32_t i = 0; i < n; i++)
            batch[i] = atomic_load_explicit(&p->runq[(h + i) & MASK], memory_order_relaxed);
        if (!atomic_compare_exchange_strong_explicit(&p->runqhead, &h, h + n, memory_order_acq_rel,
                                                     memory_order_relaxed))
            continue;
        batch[n] = g;
        goc__globrunqput_spill(p, batch, n + 1);
        return;
    }
}

/* Take the G at the head of the ring (not runnext). Owner only. */
goc__g *goc__runq_get(goc__p *p)
{
    for (;;) {
        uint32_t h = atomic_load_explicit(&p->runqhead, memory_order_acquire);
        uint32_t t = atomic_load_explicit(&p->runqtail, memory_order_relaxed);
        if (t == h)
            return NULL;
        goc__g *g = atomic_load_explicit(&p->runq[h & MASK], memory_order_relaxed);
        /* CAS-release: the slot may be reused by the owner after this. */
        if (atomic_compare_exchange_weak_explicit(&p->runqhead, &h, h + 1, memory_order_release,
                                                  memory_order_relaxed))
            return g;
    }
}

/* Grab half of victim's ring into batch; returns how many. */
static uint32_t runq_grab(goc__p *victim, goc__g **batch, bool stealnext)
{
    for (;;) {
        uint32_t h = atomic_load_explicit(&victim->runqhead, memory_order_acquire);
        uint32_t t = atomic_load_explicit(&victim->runqtail, memory_order_acquire);
        uint32_t n = t - h;
        n -= n / 2;
        if (n == 0) {
            if (!stealnext)
                return 0;
            /* Take runnext only as a last resort: the victim is likely
             * about to run it (a ping-pong partner). If the victim is
             * running, give it a few microseconds to do so, as Go does:
             * stealing splits the pair over two Ps, and every handoff
             * then wakes a thread. */
            goc__g *g = atomic_load_explicit(&victim->runnext, memory_order_acquire);
            if (g && (atomic_load_explicit(&victim->status, memory_order_relaxed) & 0xff) ==
                         GOC__P_RUNNING) {
                struct timespec ts = {0, 3000};
                nanosleep(&ts, NULL);
                g = atomic_load_explicit(&victim->runnext, memory_order_acquire);
            }
            if (g && atomic_compare_exchange_strong_explicit(
                         &victim->runnext, &g, NULL, memory_order_acq_rel, memory_order_relaxed)) {
                batch[0] = g;
                return 1;
            }
            return 0;
        }
        if (n > GOC__RUNQ_SIZE / 2)
            continue; /* read inconsistent h and t */
        for (uint32_t i = 0; i < n; i++)
            batch[i] = atomic_load_explicit(&victim->runq[(h + i) & MASK], memory_order_relaxed);
        if (atomic_compare_exchange_strong_explicit(&victim->runqhead, &h, h + n,
                                                    memory_order_acq_rel, memory_order_relaxed))
            return n;
    }
}

/* Steal half of victim's queue into p's; return one G to run now, or NULL.
 * Owner of p only; p's ring must be empty (it is, in findrunnable). */
goc__g *goc__runq_steal(goc__p *p, goc__p *victim, bool stealnext)
{
    goc__g *batch[GOC__RUNQ_SIZE / 2];
    uint32_t n = runq_grab(victim, batch, stealnext);
    if (n == 0)
        return NULL;
    for (uint32_t i = 1; i < n; i++) {
        if (!goc__runq_put(p, batch[i]))
            goc__runq_put_slow(p, batch[i]);
    }
    atomic_fetch_add_explicit(&p->nsteal, 1, memory_order_relaxed);
    return batch[0];
}
