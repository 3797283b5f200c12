/*
 * netpoll_epoll.c — the netpoller's Linux backend: one epoll set, edge
 * triggered, and an eventfd to cut a blocking poll short.
 *
 * The poller plugs into the scheduler through goc__netpoll_register
 * (runtime.h): there is no event-loop thread. netpoll() is called by the
 * idle M that sleeps until the next timer (blocking), by a P that ran out
 * of work and by sysmon (not blocking). Each edge goes to the descriptor
 * table (poll.c, goc__pd_edge), which readies the goroutines waiting in
 * that direction. Another thread wakes a blocking poll (an earlier timer)
 * through the eventfd, at most one write pending at a time (wakesig).
 */
#include "net/poll.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define MAX_EVENTS 128

static int epfd = -1, wakefd = -1;
/* 1 while a wake is written to wakefd and not yet drained: the CAS in
 * netpoll_wake (acq_rel) pairs with the drain's release store, so a wake
 * after a drain always writes again. */
static _Atomic uint32_t wakesig;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_err;

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
        readied += goc__pd_edge(pd, dirs, (e & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0);
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

int goc__netpoll_init(void)
{
    pthread_once(&init_once, init);
    return init_err;
}

int goc__netpoll_add(int fd, goc__pd *pd)
{
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = pd};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) == 0 || errno == EEXIST)
        return 0;
    return errno == EPERM ? 1 : -errno; /* EPERM: a regular file */
}
