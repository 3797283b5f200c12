/*
 * sema.c — the semaphore under sync (Go's semtable).
 *
 * Waiters are kept in a fixed table of buckets hashed by the semaphore's
 * address; each bucket has a lock, a list of waiters (on their own
 * stacks) and a count of waiters so releases with nobody waiting cost one
 * atomic add and one load.
 *
 * Protocol: an acquirer counts itself in nwait under the bucket lock,
 * retries the count, and only then queues and parks (unlockf releases
 * the lock), so a release that increments after that retry sees nwait
 * and wakes it. A woken waiter retries the count unless the releaser
 * handed it over directly (ticket).
 */
#include "sync/sema.h"

#define SEMTAB 251

typedef struct semwaiter {
    goc__g *g;
    uint32_t *addr;
    goc__link link; /* in its root's waiters, under the root's lock */
    bool ticket;    /* the count was handed to us */
} semwaiter;

typedef struct semroot {
    goc__lock lock;
    _Atomic uint32_t nwait;
    goc__list waiters; /* of semwaiter, under lock */
} __attribute__((aligned(64))) semroot;

static semroot table[SEMTAB];

static semroot *root_of(uint32_t *addr)
{
    return &table[((uintptr_t)addr >> 3) % SEMTAB];
}

static bool try_acquire(uint32_t *addr)
{
    uint32_t v = __atomic_load_n(addr, __ATOMIC_ACQUIRE);
    while (v > 0) {
        if (__atomic_compare_exchange_n(addr, &v, v - 1, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
            return true;
    }
    return false;
}

/* r->lock held. */
static void enqueue(semroot *r, semwaiter *w, bool lifo)
{
    GOC_ASSERT_LOCKED(&r->lock);
    if (lifo)
        goc__list_push_front(&r->waiters, &w->link);
    else
        goc__list_push_back(&r->waiters, &w->link);
}

/* The first waiter on addr, unlinked; r->lock held. */
static semwaiter *dequeue(semroot *r, uint32_t *addr)
{
    GOC_ASSERT_LOCKED(&r->lock);
    for (goc__link *l = r->waiters.head; l; l = l->next) {
        semwaiter *w = GOC__CONTAINER_OF(l, semwaiter, link);
        if (w->addr != addr)
            continue;
        goc__list_remove(&r->waiters, l);
        return w;
    }
    return NULL;
}

static bool unlock_root(goc__g *g, void *arg)
{
    (void)g;
    goc__lock_release(&((semroot *)arg)->lock);
    return true;
}

void goc__semacquire(uint32_t *addr, bool lifo, const char *reason)
{
    if (try_acquire(addr))
        return;
    semroot *r = root_of(addr);
    semwaiter w = {.g = goc__getg_or_thread(), .addr = addr};
    goc__m *m = goc__enter(); /* no P loss while the bucket is locked */
    for (;;) {
        goc__lock_acquire(&r->lock);
        atomic_fetch_add_explicit(&r->nwait, 1, memory_order_seq_cst);
        if (try_acquire(addr)) {
            atomic_fetch_sub_explicit(&r->nwait, 1, memory_order_relaxed);
            goc__lock_release(&r->lock);
            break;
        }
        w.ticket = false;
        enqueue(r, &w, lifo);
        goc__park_m(&m, unlock_root, r, reason);
        if (w.ticket || try_acquire(addr))
            break;
        lifo = true; /* woken but beaten to it: wait at the front */
    }
    goc__leave(m);
}

void goc__semrelease(uint32_t *addr, bool handoff)
{
    __atomic_fetch_add(addr, 1, __ATOMIC_RELEASE);
    semroot *r = root_of(addr);
    /* seq_cst: pairs with the acquirer's nwait increment before its
     * retry: one of the two sees the other. */
    if (atomic_load_explicit(&r->nwait, memory_order_seq_cst) == 0)
        return;
    goc__lock_acquire(&r->lock);
    semwaiter *w = dequeue(r, addr);
    if (w)
        atomic_fetch_sub_explicit(&r->nwait, 1, memory_order_relaxed);
    goc__lock_release(&r->lock);
    if (!w)
        return;
    if (handoff && try_acquire(addr))
        w->ticket = true;
    goc__ready(w->g);
}
