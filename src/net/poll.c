/*
 * poll.c — the epoll netpoller and the poll descriptors (see poll.h).
 *
 * The poller plugs into the scheduler through goc__netpoll_register
 * (runtime.h): there is no event-loop thread. netpoll() is called by the
 * idle M that sleeps until the next timer (blocking), by a P that ran out
 * of work and by sysmon (not blocking). It readies the goroutines whose
 * direction got an edge. An eventfd in the epoll set lets another thread
 * cut a blocking poll short (an earlier timer).
 */
#include "net/poll.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define PAGE_SHIFT 10 /* descriptors per table page: 1024 */
#define PAGE_SIZE  (1 << PAGE_SHIFT)
#define MAX_PAGES  4096 /* fds below 4M */
#define CLOSING    0x80000000u
#define MAX_EVENTS 128

static goc__pd *_Atomic pages[MAX_PAGES];
static int epfd = -1, wakefd = -1;
static _Atomic uint32_t wakesig; /* a wake is pending in wakefd */
static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_err;

/* ---- the poller --------------------------------------------------------- */

/* Edges in dirs on pd: mark them, and collect the goroutines to wake
 * into g[2] (a reader and a writer may both wait on one fd; a waiter in
 * both directions, goc_wait_fd, is taken once and cleared from both).
 * Holding pd->lock. Returns how many. */
static int mark_ready(goc__pd *pd, unsigned dirs, bool ioready, goc__g *g[2])
{
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

static int netpoll(int64_t until)
{
    struct epoll_event ev[MAX_EVENTS];
    int n;
    if (until == 0) {
        n = epoll_wait(epfd, ev, MAX_EVENTS, 0);
    } else if (until == INT64_MAX) {
        n = epoll_wait(epfd, ev, MAX_EVENTS, -1);
    } else {
        int64_t d = until - goc_now();
        struct timespec ts = {0, 0};
        if (d > 0)
            ts = (struct timespec){(time_t)(d / GOC_SECOND), (long)(d % GOC_SECOND)};
        static _Atomic bool no_pwait2; /* before Linux 5.11 (or valgrind) */
        n = -1;
        if (!atomic_load_explicit(&no_pwait2, memory_order_relaxed)) {
            n = epoll_pwait2(epfd, ev, MAX_EVENTS, &ts, NULL);
            if (n < 0 && errno == ENOSYS)
                atomic_store_explicit(&no_pwait2, true, memory_order_relaxed);
        }
        if (n < 0 && atomic_load_explicit(&no_pwait2, memory_order_relaxed)) /* ms, rounded up */
            n = epoll_wait(epfd, ev, MAX_EVENTS, d > 0 ? (int)((d + 999999) / 1000000) : 0);
    }
    int readied = 0;
    for (int i = 0; i < n; i++) {
        goc__pd *pd = ev[i].data.ptr;
        if (!pd) {
            uint64_t v;
            ssize_t r = read(wakefd, &v, sizeof v); /* drain */
            (void)r;
            atomic_store_explicit(&wakesig, 0, memory_order_release);
            continue;
        }
        uint32_t e = ev[i].events;
        unsigned dirs = 0;
        if (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
            dirs |= 1u << GOC__PD_R;
        if (e & (EPOLLOUT | EPOLLHUP | EPOLLERR))
            dirs |= 1u << GOC__PD_W;
        goc__g *g[2];
        goc__lock_acquire(&pd->lock);
        if (e & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
            atomic_store_explicit(&pd->rhup, true, memory_order_relaxed);
        int k = mark_ready(pd, dirs, true, g);
        goc__lock_release(&pd->lock);
        readied += ready_all(g, k);
    }
    return readied;
}

static void netpoll_wake(void)
{
    uint32_t zero = 0;
    if (!atomic_compare_exchange_strong_explicit(&wakesig, &zero, 1, memory_order_acq_rel,
                                                 memory_order_relaxed))
        return; /* one is pending already */
    uint64_t one = 1;
    ssize_t r = write(wakefd, &one, sizeof one);
    (void)r;
}

static const goc__poller poller = {.poll = netpoll, .wake = netpoll_wake};

static void init(void)
{
    /* A write to a socket whose peer is gone must be -EPIPE from the
     * call, not a signal that kills the process (Go ignores it too). */
    struct sigaction sa;
    if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL) {
        sa.sa_handler = SIG_IGN;
        sigaction(SIGPIPE, &sa, NULL);
    }
    init_err = goc__init();
    if (init_err)
        return;
    epfd = epoll_create1(EPOLL_CLOEXEC);
    wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    if (epfd < 0 || wakefd < 0 || epoll_ctl(epfd, EPOLL_CTL_ADD, wakefd, &ev) < 0) {
        init_err = -errno;
        return;
    }
    goc__netpoll_register(&poller);
}

/* ---- the descriptor table ------------------------------------------------ */

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
    if (atomic_load_explicit(&pd->registered, memory_order_relaxed))
        return 0;
    int fl = nonblocking ? O_NONBLOCK : fcntl(pd->fd, F_GETFL);
    if (fl < 0)
        return -errno;
    if (!(fl & O_NONBLOCK) && fcntl(pd->fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return -errno;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = pd};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, pd->fd, &ev) < 0 && errno != EEXIST) {
        if (errno != EPERM)
            return -errno;
        pd->unpollable = true; /* a regular file: always ready */
    }
    atomic_store_explicit(&pd->registered, true, memory_order_release);
    return 0;
}

goc__pd *goc__pd_acquire(int fd, int *err)
{
    pthread_once(&init_once, init);
    if (init_err) {
        *err = init_err;
        return NULL;
    }
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
    atomic_store_explicit(&pd->registered, false, memory_order_relaxed);
    pd->notsock = pd->unpollable = pd->rshort = pd->inq = false;
    atomic_store_explicit(&pd->rhup, false, memory_order_relaxed);
    for (int i = 0; i < 3; i++) {
        if (i < 2)
            pd->ready[i] = false, pd->waiter[i] = NULL;
        pd->deadline[i] = 0;
        pd->expired[i] = false;
        goc__timer_stop(&pd->timer[i]);
    }
}

int goc__pd_open(int fd)
{
    pthread_once(&init_once, init);
    if (init_err)
        return init_err;
    goc__pd *pd = pd_of(fd, true);
    if (!pd)
        return -ENOMEM;
    goc__lock_acquire(&pd->lock);
    reset(pd);
    int err = do_register(pd, true);
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
        if ((dirs & (1u << d)) && pd->expired[d])
            return -ETIMEDOUT;
    if (waitfd && pd->expired[GOC__PD_WAITFD])
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
    pd->expired[i] = true;
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
    if (pd->deadline[i] != 0 && pd->deadline[i] <= now && !pd->expired[i])
        n = expire(pd, i, g);
    goc__lock_release(&pd->lock);
    ready_all(g, n);
}

int goc__pd_set_deadline(goc__pd *pd, int i, int64_t t)
{
    int rc = 0;
    goc__m *m = goc__enter();
    goc__lock_acquire(&pd->lock);
    pd->deadline[i] = t;
    pd->expired[i] = false;
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
