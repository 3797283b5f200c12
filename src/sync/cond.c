/*
 * cond.c — goc_cond: Go's sync.Cond (runtime notifyList).
 *
 * Tickets make wakeups exact: a waiter takes ticket wait++ before it
 * unlocks the user's mutex; signal wakes the waiter holding ticket
 * notify++ (or, if that waiter has not queued yet, it will see its ticket
 * already notified and not sleep); broadcast notifies every ticket taken.
 * Waiters queue on their own stacks under the list lock.
 */
#include "sync/sema.h"

typedef struct condwaiter {
    goc__g *g;
    uint32_t ticket;
    goc__link link; /* in c->waiters_, under the list lock */
} condwaiter;

static goc__lock *list_lock(goc_cond *c)
{
    return (goc__lock *)&c->lock_; /* a goc__lock is one 32-bit word */
}

static bool unlock_list(goc__g *g, void *arg)
{
    (void)g;
    goc__lock_release(arg);
    return true;
}

GOC_API void goc_cond_wait(goc_cond *c, goc_mutex *m)
{
    goc__attach_thread();
    uint32_t t = __atomic_fetch_add(&c->wait_, 1, __ATOMIC_ACQ_REL);
    goc_mutex_unlock(m);
    goc__m *rm = goc__enter(); /* no P loss while the list is locked */
    goc__lock_acquire(list_lock(c));
    /* Already notified (signal ran between our ticket and now)? */
    if ((int32_t)(t - c->notify_) < 0) {
        goc__lock_release(list_lock(c));
    } else {
        condwaiter w = {.g = goc__getg_or_thread(), .ticket = t};
        goc__list_push_back(&c->waiters_, &w.link);
        goc__park_m(&rm, unlock_list, list_lock(c), "sync.Cond.Wait");
    }
    goc__leave(rm);
    goc_mutex_lock(m);
}

GOC_API void goc_cond_signal(goc_cond *c)
{
    goc__attach_thread();
    if (__atomic_load_n(&c->wait_, __ATOMIC_ACQUIRE) ==
        __atomic_load_n(&c->notify_, __ATOMIC_ACQUIRE))
        return;
    goc__lock_acquire(list_lock(c));
    uint32_t t = c->notify_;
    if (t == __atomic_load_n(&c->wait_, __ATOMIC_ACQUIRE)) {
        goc__lock_release(list_lock(c));
        return;
    }
    __atomic_store_n(&c->notify_, t + 1, __ATOMIC_RELEASE);
    condwaiter *w = NULL;
    for (goc__link *l = c->waiters_.head; l; l = l->next) {
        if (GOC__CONTAINER_OF(l, condwaiter, link)->ticket == t) {
            w = GOC__CONTAINER_OF(l, condwaiter, link);
            goc__list_remove(&c->waiters_, l);
            break;
        }
    }
    goc__lock_release(list_lock(c));
    if (w)
        goc__ready(w->g);
}

GOC_API void goc_cond_broadcast(goc_cond *c)
{
    goc__attach_thread();
    if (__atomic_load_n(&c->wait_, __ATOMIC_ACQUIRE) ==
        __atomic_load_n(&c->notify_, __ATOMIC_ACQUIRE))
        return;
    goc__lock_acquire(list_lock(c));
    __atomic_store_n(&c->notify_, __atomic_load_n(&c->wait_, __ATOMIC_ACQUIRE), __ATOMIC_RELEASE);
    goc__link *l = c->waiters_.head; /* take them all, in order */
    c->waiters_ = (struct goc__list){NULL, NULL};
    goc__lock_release(list_lock(c));
    while (l) {
        goc__link *next = l->next; /* l is gone once its owner runs */
        goc__ready(GOC__CONTAINER_OF(l, condwaiter, link)->g);
        l = next;
    }
}
