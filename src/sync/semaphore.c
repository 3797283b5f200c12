/*
 * semaphore.c — goc_semaphore: a weighted semaphore after
 * golang.org/x/sync/semaphore.Weighted.
 *
 * State (size_, cur_, the waiter FIFO) is guarded by lock_, a goc__lock
 * held only for a few instructions and never across a park. Waiters queue
 * on their own stacks, in arrival order; release grants units to waiters
 * from the front while the front one fits, and stops at the first that
 * does not (so a large request is not starved by a stream of small ones).
 *
 * A waiter without a ctx parks and is readied by the releaser. A waiter
 * with a cancellable ctx must wait on two things at once, so it selects
 * on the ctx's done channel and a channel of its own (cap 1) that the
 * releaser sends to. The releaser sends while holding lock_, and the
 * waiter takes lock_ once more before it frees that channel, so the
 * channel outlives the send.
 *
 * Invariant: 0 <= cur_ <= size_; a waiter is in the FIFO until it is
 * granted (w->granted, cur_ already counts its units) or withdraws.
 */
#include "sync/sema.h"

#include <errno.h>
#include <goc.h>

typedef struct semwaiter {
    int64_t n;
    goc__g *g;                  /* parked waiter (no ready channel) */
    goc_chan *ready;            /* or: a send here grants it */
    bool granted;               /* under lock_ */
    goc__link link;             /* in s->waiters_, under lock_ */
    struct semwaiter *wakenext; /* notify_waiters' list to ready */
} semwaiter;

static semwaiter *front(goc_semaphore *s)
{
    return s->waiters_.head ? GOC__CONTAINER_OF(s->waiters_.head, semwaiter, link) : NULL;
}

static goc__lock *sem_lock(goc_semaphore *s)
{
    return (goc__lock *)&s->lock_;
}

static void enqueue(goc_semaphore *s, semwaiter *w)
{
    GOC_ASSERT_LOCKED(sem_lock(s));
    goc__list_push_back(&s->waiters_, &w->link);
}

static void unlink_waiter(goc_semaphore *s, semwaiter *w)
{
    GOC_ASSERT_LOCKED(sem_lock(s));
    goc__list_remove(&s->waiters_, &w->link);
}

/* Grant units to waiters from the front while they fit. Holding lock_.
 * Parked waiters are returned as a list (through next) to be readied once
 * the lock is dropped; channel waiters are sent to here (see the top). */
static semwaiter *notify_waiters(goc_semaphore *s)
{
    GOC_ASSERT_LOCKED(sem_lock(s));
    semwaiter *wake = NULL;
    semwaiter *w;
    while ((w = front(s)) && s->size_ - s->cur_ >= w->n) {
        s->cur_ += w->n;
        unlink_waiter(s, w);
        w->granted = true;
        if (w->ready) {
            goc_chan_try_send(w->ready, NULL); /* cap 1, sole sender */
        } else {
            w->wakenext = wake;
            wake = w;
        }
    }
    return wake;
}

static void ready_all(semwaiter *w)
{
    while (w) {
        semwaiter *next = w->wakenext; /* w is gone once its owner runs */
        goc__ready(w->g);
        w = next;
    }
}

GOC_API void goc_semaphore_init(goc_semaphore *s, int64_t n)
{
    *s = (goc_semaphore)GOC_SEMAPHORE_INIT(n);
}

GOC_API bool goc_semaphore_try_acquire(goc_semaphore *s, int64_t n)
{
    goc__attach_thread();
    if (n < 0)
        return false;
    goc__lock_acquire(sem_lock(s));
    bool ok = s->size_ - s->cur_ >= n && !s->waiters_.head;
    if (ok)
        s->cur_ += n;
    goc__lock_release(sem_lock(s));
    return ok;
}

GOC_API void goc_semaphore_release(goc_semaphore *s, int64_t n)
{
    goc__attach_thread();
    goc__m *m = goc__enter(); /* no P loss while locked (try_send enters) */
    goc__lock_acquire(sem_lock(s));
    if (n < 0 || n > s->cur_) {
        goc__lock_release(sem_lock(s));
        goc__fatal("semaphore: released more than held (goc_semaphore_release)");
    }
    s->cur_ -= n;
    semwaiter *wake = notify_waiters(s);
    goc__lock_release(sem_lock(s));
    goc__leave(m);
    ready_all(wake);
}

static bool unlock_sem(goc__g *g, void *arg)
{
    (void)g;
    goc__lock_release(arg);
    return true;
}

/* Wait for w's grant or ctx's done channel; lock_ held on entry, not on
 * return. 0 or the ctx's error. */
static int wait_ctx(goc_semaphore *s, semwaiter *w, goc__m **mp, goc_chan *done, goc_ctx *ctx)
{
    enqueue(s, w);
    goc__lock_release(sem_lock(s));
    goc__leave(*mp);
    goc_case cases[2] = {GOC_RECV(done, NULL), GOC_RECV(w->ready, NULL)};
    int i = goc_select(cases, 2, GOC_FOREVER);
    *mp = goc__enter();
    goc__lock_acquire(sem_lock(s)); /* see the top: the send is over */
    if (i == 0 && !w->granted) {
        bool first = front(s) == w;
        unlink_waiter(s, w);
        semwaiter *wake = NULL;
        if (first && s->size_ > s->cur_)
            wake = notify_waiters(s); /* we held off those behind us */
        goc__lock_release(sem_lock(s));
        ready_all(wake);
        return goc_ctx_err(ctx);
    }
    if (i == 0 || goc_chan_try_recv(done, NULL) != -EAGAIN) {
        /* Granted, but ctx is done too: Go prefers the cancellation. */
        s->cur_ -= w->n;
        semwaiter *wake = notify_waiters(s);
        goc__lock_release(sem_lock(s));
        ready_all(wake);
        return goc_ctx_err(ctx);
    }
    goc__lock_release(sem_lock(s));
    return 0;
}

static int acquire(goc_semaphore *s, goc_ctx *ctx, int64_t n)
{
    goc_chan *done = goc_ctx_done(ctx);
    goc__m *m = goc__enter();
    goc__lock_acquire(sem_lock(s));
    int err = done ? goc_ctx_err(ctx) : 0;
    if (err == 0 && (n < 0 || n > s->size_))
        err = -EINVAL;
    if (err) {
        goc__lock_release(sem_lock(s));
        goc__leave(m);
        return err;
    }
    if (s->size_ - s->cur_ >= n && !s->waiters_.head) {
        s->cur_ += n;
        goc__lock_release(sem_lock(s));
        goc__leave(m);
        return 0;
    }
    semwaiter w = {.n = n};
    if (done) {
        w.ready = goc_chan_make(0, 1);
        if (!w.ready) {
            goc__lock_release(sem_lock(s));
            goc__leave(m);
            return -ENOMEM;
        }
        err = wait_ctx(s, &w, &m, done, ctx);
        goc__leave(m);
        goc_chan_release(w.ready);
        return err;
    }
    w.g = goc__getg_or_thread();
    enqueue(s, &w);
    goc__park_m(&m, unlock_sem, sem_lock(s), "semaphore acquire");
    goc__leave(m);
    return 0;
}

GOC_API int goc_semaphore_acquire(goc_semaphore *s, goc_ctx *ctx, int64_t n)
{
    goc__attach_thread();
    int rc = acquire(s, ctx, n);
    if (rc == -EINVAL)
        return goc__errorf(rc, "goc_semaphore_acquire: %lld units of a semaphore of %lld",
                           (long long)n, (long long)s->size_);
    return rc < 0 ? goc__errop(rc, "goc_semaphore_acquire") : rc;
}
