/*
 * poll.c — the poll descriptors (see poll.h): the table indexed by fd,
 * reference counts and closing, readiness, waiting, and deadlines. The
 * epoll backend that feeds them edges is netpoll_epoll.c.
 *
 * Memory ordering, once for the file:
 *  - pages[]: a page is published with a CAS (acq_rel) after its
 *    descriptors are initialised; readers load it with acquire.
 *  - refs: incref's CAS is acquire (pairs with the release in
 *    goc__pd_release's fetch_sub and its store of 0 after the slot's
 *    reset, so an operation on a reopened slot sees the reset fields);
 *    goc__pd_close's CAS is acq_rel for the same reason.
 *  - registered: stored with release under pd->lock once the fd is in the
 *    epoll set (do_register); loaded with acquire by goc__pd_acquire and
 *    goc__pd_lookup, which then use the fields do_register set.
 *  - rhup and expired[]: written under pd->lock, read without it as hints
 *    (relaxed): a reader that misses a fresh value takes the lock in
 *    goc__pd_wait, where the value is exact.
 * Everything else in a descriptor is under pd->lock.
 */
#include "net/poll.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PAGE_SHIFT 10 /* descriptors per table page: 1024 */
#define PAGE_SIZE  (1 << PAGE_SHIFT)
#define MAX_PAGES  4096 /* fds below 4M */
#define CLOSING    0x80000000u

static goc__pd *_Atomic pages[MAX_PAGES];

/* ---- the descriptor table ------------------------------------------------ */

/* Edges in dirs on pd: mark them, and collect the goroutines to wake
 * into g[2] (a reader and a writer may both wait on one fd; a waiter in
 * both directions, goc_wait_fd, is taken once and cleared from both).
 * Holding pd->lock. Returns how many. */
static int mark_ready(goc__pd *pd, unsigned dirs, bool ioready, goc__g *g[2])
{
    GOC_ASSERT_LOCKED(&pd->lock);
    int n = 0;
    for (int d = 0; d < 2; d++) {
        if (!(dirs & (1u << d)))
            continue;
        if (ioready)
            pd->ready[d] = true;
        goc__pdwaiter *w = pd->waiter[d];
        if (!w)
            continue;
        for (int k = 0; k < 2; k++)
            if (pd->waiter[k] == w)
                pd->waiter[k] = NULL;
        g[n++] = w->g; /* w is gone once its goroutine runs */
    }
    return n;
}

static int ready_all(goc__g *g[2], int n)
{
    for (int i = 0; i < n; i++)
        goc__ready(g[i]);
    return n;
}

/* The poller saw an edge in dirs on pd (hup: the peer's EOF, a hang-up or
 * an error): mark it and ready the waiters. Returns how many. */
int goc__pd_edge(goc__pd *pd, unsigned dirs, bool hup)
{
    goc__g *g[2];
    goc__lock_acquire(&pd->lock);
    if (hup)
        atomic_store_explicit(&pd->rhup, true, memory_order_relaxed);
    int k = mark_ready(pd, dirs, true, g);
    goc__lock_release(&pd->lock);
    return ready_all(g, k);
}

static void timer_fired(goc__timer *t, void *arg, int64_t now);

/* The descriptor of fd, making its page if need be; NULL on ENOMEM. */
static goc__pd *pd_of(int fd, bool make)
{
    if (fd < 0 || fd >= MAX_PAGES * PAGE_SIZE)
        return NULL;
    goc__pd *page = atomic_load_explicit(&pages[fd >> PAGE_SHIFT], memory_order_acquire);
    if (!page && make) {
        goc__pd *fresh = calloc(PAGE_SIZE, sizeof *fresh);
        if (!fresh)
            return NULL;
        for (int i = 0; i < PAGE_SIZE; i++) {
            fresh[i].fd = (fd & ~(PAGE_SIZE - 1)) + i;
            for (int k = 0; k < 3; k++) {
                fresh[i].timer[k].fn = timer_fired;
                fresh[i].timer[k].arg = &fresh[i];
                fresh[i].timer[k].idx = -1;
            }
        }
        if (atomic_compare_exchange_strong_explicit(&pages[fd >> PAGE_SHIFT], &page, fresh,
                                                    memory_order_acq_rel, memory_order_acquire))
            page = fresh;
        else
            free(fresh); /* another thread made it first: page is theirs */
    }
    return page ? &page[fd & (PAGE_SIZE - 1)] : NULL;
}

static bool incref(goc__pd *pd)
{
    uint32_t r = atomic_load_explicit(&pd->refs, memory_order_relaxed);
    do {
        if (r & CLOSING)
            return false;
    } while (!atomic_compare_exchange_weak_explicit(&pd->refs, &r, r + 1, memory_order_acquire,
                                                    memory_order_relaxed));
    return true;
}

/* Holding pd->lock: add fd to the epoll set if it is not in it, making it
 * nonblocking first unless goc created it so. */
static int do_register(goc__pd *pd, bool nonblocking)
{
    GOC_ASSERT_LOCKED(&pd->lock);
    if (atomic_load_explicit(&pd->registered, memory_order_relaxed))
        return 0;
    int fl = nonblocking ? O_NONBLOCK : fcntl(pd->fd, F_GETFL);
    if (fl < 0)
        return -errno;
    if (!(fl & O_NONBLOCK) && fcntl(pd->fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return -errno;
    int rc = goc__netpoll_add(pd->fd, pd);
    if (rc < 0)
        return rc;
    pd->unpollable = rc == 1; /* a regular file: always ready */
    atomic_store_explicit(&pd->registered, true, memory_order_release);
    return 0;
}

goc__pd *goc__pd_acquire(int fd, int *err)
{
    if ((*err = goc__netpoll_init()) != 0)
        return NULL;
    goc__pd *pd = pd_of(fd, true);
    if (!pd) {
        *err = fd < 0 ? -EBADF : -ENOMEM;
        return NULL;
    }
    if (!incref(pd)) {
        /* Closing: maybe a close that is reopening the slot for a new fd
         * of the same number; once it is done (its lock), try again. */
        goc__lock_acquire(&pd->lock);
        goc__lock_release(&pd->lock);
        if (!incref(pd)) {
            *err = -EBADF;
            return NULL;
        }
    }
    *err = 0;
    if (!atomic_load_explicit(&pd->registered, memory_order_acquire)) {
        goc__lock_acquire(&pd->lock);
        *err = do_register(pd, false);
        goc__lock_release(&pd->lock);
    }
    if (*err) {
        goc__pd_release(pd);
        return NULL;
    }
    return pd;
}

goc__pd *goc__pd_lookup(int fd)
{
    goc__pd *pd = pd_of(fd, false);
    if (!pd)
        return NULL;
    return atomic_load_explicit(&pd->registered, memory_order_acquire) ? pd : NULL;
}

/* Holding pd->lock: forget everything about the fd that had this number. */
static void reset(goc__pd *pd)
{
    GOC_ASSERT_LOCKED(&pd->lock);
    atomic_store_explicit(&pd->registered, false, memory_order_relaxed);
    pd->notsock = pd->unpollable = pd->rshort = pd->inq = false;
    atomic_store_explicit(&pd->rhup, false, memory_order_relaxed);
    for (int i = 0; i < 3; i++) {
        if (i < 2)
            pd->ready[i] = false, pd->waiter[i] = NULL;
        pd->deadline[i] = 0;
        atomic_store_explicit(&pd->expired[i], false, memory_order_relaxed);
        goc__timer_stop(&pd->timer[i]);
    }
}

int goc__pd_open(int fd)
{
    int err = goc__netpoll_init();
    if (err)
        return err;
    goc__pd *pd = pd_of(fd, true);
    if (!pd)
        return -ENOMEM;
    goc__lock_acquire(&pd->lock);
    reset(pd);
    err = do_register(pd, true);
    goc__lock_release(&pd->lock);
    return err;
}

void goc__pd_release(goc__pd *pd)
{
    uint32_t r = atomic_fetch_sub_explicit(&pd->refs, 1, memory_order_acq_rel) - 1;
    if (r != CLOSING)
        return;
    /* Last reference of a closing fd: close it and reopen the slot. The
     * kernel drops it from the epoll set with the last file reference. */
    /* Under the lock from close(2) to the slot's reopening: a socket that
     * gets the number the moment close returns waits in goc__pd_open (or
     * goc__pd_acquire) for a clean slot, and a racing goc_close sees
     * CLOSING (-EBADF) until the fd is really gone. */
    goc__lock_acquire(&pd->lock);
    close(pd->fd);
    reset(pd);
    atomic_store_explicit(&pd->refs, 0, memory_order_release);
    goc__lock_release(&pd->lock);
}

int goc__pd_close(goc__pd *pd)
{
    uint32_t r = atomic_load_explicit(&pd->refs, memory_order_relaxed);
    do {
        if (r & CLOSING)
            return -EBADF;
    } while (!atomic_compare_exchange_weak_explicit(&pd->refs, &r, (r | CLOSING) + 1,
                                                    memory_order_acq_rel, memory_order_relaxed));
    goc__lock_acquire(&pd->lock);
    if (!atomic_load_explicit(&pd->registered, memory_order_relaxed)) {
        /* The caller looked pd up just before another close finished:
         * only goc__pd_release's reset clears registered while the lock
         * is free, so the fd was closed. Take back our CLOSING and
         * reference (an operation on a new fd of this number may hold
         * one, on its way to registering) and report a second close:
         * -EBADF, not a second 0, and no close(2) that could hit a new
         * file that got the number meanwhile. */
        atomic_fetch_sub_explicit(&pd->refs, CLOSING + 1, memory_order_release);
        goc__lock_release(&pd->lock);
        return -EBADF;
    }
    goc__g *g0 = pd->waiter[0] ? pd->waiter[0]->g : NULL;
    goc__g *g1 = pd->waiter[1] && pd->waiter[1] != pd->waiter[0] ? pd->waiter[1]->g : NULL;
    pd->waiter[0] = pd->waiter[1] = NULL;
    goc__lock_release(&pd->lock);
    if (g0)
        goc__ready(g0);
    if (g1)
        goc__ready(g1);
    goc__pd_release(pd); /* ours; closes now unless operations are in flight */
    return 0;
}

/* ---- serialising operations ---------------------------------------------------- */

int goc__pd_lock(goc__pd *pd, int dir)
{
    goc_mutex_lock(dir == GOC__PD_R ? &pd->rmu : &pd->wmu);
    if (atomic_load_explicit(&pd->refs, memory_order_acquire) & CLOSING) {
        goc_mutex_unlock(dir == GOC__PD_R ? &pd->rmu : &pd->wmu);
        return -EBADF;
    }
    return 0;
}

void goc__pd_unlock(goc__pd *pd, int dir)
{
    goc_mutex_unlock(dir == GOC__PD_R ? &pd->rmu : &pd->wmu);
}

/* ---- waiting ---------------------------------------------------------------------- */

static bool unlock_pd(goc__g *g, void *arg)
{
    (void)g;
    goc__lock_release(arg);
    return true;
}

/* Why a waiter in dirs must stop waiting, or 0. Reads atomics only. */
static int wait_error(goc__pd *pd, unsigned dirs, bool waitfd)
{
    if (atomic_load_explicit(&pd->refs, memory_order_relaxed) & CLOSING)
        return -EBADF;
    for (int d = 0; d < 2; d++)
        if ((dirs & (1u << d)) && atomic_load_explicit(&pd->expired[d], memory_order_relaxed))
            return -ETIMEDOUT;
    if (waitfd && atomic_load_explicit(&pd->expired[GOC__PD_WAITFD], memory_order_relaxed))
        return -ETIMEDOUT;
    return 0;
}

void goc__pd_clear_ready(goc__pd *pd, unsigned dirs)
{
    goc__lock_acquire(&pd->lock);
    for (int d = 0; d < 2; d++)
        if (dirs & (1u << d))
            pd->ready[d] = false;
    goc__lock_release(&pd->lock);
}

int goc__pd_check(goc__pd *pd, int dir)
{
    return wait_error(pd, 1u << dir, false); /* atomics: no lock needed */
}

int goc__pd_wait(goc__pd *pd, unsigned dirs, bool waitfd)
{
    goc__m *m = goc__enter(); /* no P loss while pd->lock is held */
    goc__lock_acquire(&pd->lock);
    int rc;
    for (;;) {
        /* Errors first, as Go's netpollcheckerr: a closed fd or a passed
         * deadline wins over readiness. */
        if ((rc = wait_error(pd, dirs, waitfd)) != 0)
            break;
        if (pd->unpollable) {
            rc = (int)dirs;
            break;
        }
        unsigned got = 0;
        for (int d = 0; d < 2; d++) {
            if ((dirs & (1u << d)) && pd->ready[d]) {
                pd->ready[d] = false;
                got |= 1u << d;
            }
        }
        if (got) {
            rc = (int)got;
            break;
        }
        goc__pdwaiter w = {.g = goc__getg_or_thread(), .dirs = dirs, .waitfd = waitfd};
        for (int d = 0; d < 2; d++)
            if (dirs & (1u << d))
                pd->waiter[d] = &w;
        atomic_fetch_add_explicit(&goc__netpoll_waiters, 1, memory_order_relaxed);
        if (!m) /* a plain thread: no M will idle into a poll on its account */
            goc__netpoll_kick();
        goc__park_m(&m, unlock_pd, &pd->lock, "IO wait");
        atomic_fetch_sub_explicit(&goc__netpoll_waiters, 1, memory_order_relaxed);
        goc__lock_acquire(&pd->lock);
        for (int d = 0; d < 2; d++) /* woken for one direction: leave the other */
            if (pd->waiter[d] == &w)
                pd->waiter[d] = NULL;
    }
    goc__lock_release(&pd->lock);
    goc__leave(m);
    return rc;
}

/* ---- deadlines -------------------------------------------------------------------- */

/* Holding pd->lock: deadline i passed; collect whoever it applies to. */
static int expire(goc__pd *pd, int i, goc__g *g[2])
{
    GOC_ASSERT_LOCKED(&pd->lock);
    atomic_store_explicit(&pd->expired[i], true, memory_order_relaxed);
    if (i < 2)
        return mark_ready(pd, 1u << i, false, g);
    for (int d = 0; d < 2; d++)
        if (pd->waiter[d] && pd->waiter[d]->waitfd)
            return mark_ready(pd, pd->waiter[d]->dirs, false, g);
    return 0;
}

static void timer_fired(goc__timer *t, void *arg, int64_t now)
{
    goc__pd *pd = arg;
    int i = (int)(t - pd->timer);
    goc__g *g[2];
    int n = 0;
    goc__lock_acquire(&pd->lock);
    /* Re-armed or cleared meanwhile: not ours to expire. */
    if (pd->deadline[i] != 0 && pd->deadline[i] <= now &&
        !atomic_load_explicit(&pd->expired[i], memory_order_relaxed))
        n = expire(pd, i, g);
    goc__lock_release(&pd->lock);
    ready_all(g, n);
}

int goc__pd_set_deadline(goc__pd *pd, int i, int64_t t)
{
    int rc = 0;
    goc__m *m = goc__enter();
    goc__lock_acquire(&pd->lock);
    /* The same deadline again (a client sets its exchange's before every
     * read and write): its timer is armed as it should be. */
    if (pd->deadline[i] == t &&
        (t == 0 ||
         (!atomic_load_explicit(&pd->expired[i], memory_order_relaxed) && t > goc_now()))) {
        goc__lock_release(&pd->lock);
        goc__leave(m);
        return 0;
    }
    pd->deadline[i] = t;
    atomic_store_explicit(&pd->expired[i], false, memory_order_relaxed);
    goc__g *g[2];
    int n = 0;
    if (t == 0) {
        goc__timer_stop(&pd->timer[i]);
    } else if (t <= goc_now()) {
        goc__timer_stop(&pd->timer[i]);
        n = expire(pd, i, g);
    } else {
        if (goc__timer_rearm(&pd->timer[i], t) < 0) {
            pd->deadline[i] = 0; /* no room for its timer: not set */
            rc = -ENOMEM;
        }
    }
    goc__lock_release(&pd->lock);
    goc__leave(m);
    ready_all(g, n);
    return rc;
}
