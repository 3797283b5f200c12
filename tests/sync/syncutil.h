/*
 * syncutil.h — small helpers shared by the sync tests (header-only, all
 * static). Builds on runtime/util.h.
 *
 * The sync tests never use the primitive under test to wait for the end of
 * a test: goroutines count themselves out on an atomic and the main
 * goroutine waits for the count with a deadline (go_wait_ge), so a bug
 * fails a check instead of hanging the test.
 */
#ifndef GOC_TESTS_SYNC_SYNCUTIL_H
#define GOC_TESTS_SYNC_SYNCUTIL_H

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>

#include "runtime/util.h"

/* goc_run, then report the first failed GO_CHECK of its goroutines. */
static inline int run_main(int (*fn)(void *), void *arg)
{
    int r = goc_run(fn, arg);
    GO_CHECK_REPORT();
    return r;
}

/* goc_go that records a failed spawn as a failed check. */
#define GO_SPAWN(fn, arg)                                                                          \
    do {                                                                                           \
        int spawn_r_ = goc_go((fn), (void *)(arg));                                                \
        GO_CHECK(spawn_r_ == 0, "goc_go(%s): %s", #fn, goc_strerror(spawn_r_));                    \
    } while (0)

/* Plain-thread wait until *v >= want (napping 1 ms); false on timeout. */
static inline bool thread_wait_ge(atomic_long *v, long want, int64_t timeout_ms)
{
    int64_t deadline = goc_now() + timeout_ms * GOC_MILLISECOND * test_slack();
    while (atomic_load(v) < want) {
        if (goc_now() > deadline)
            return false;
        test_nap_ms(1);
    }
    return true;
}

/* Inside a goroutine: keep yielding/napping for ms milliseconds and report
 * whether *v stayed below want all that time (for "X must not happen
 * yet"). */
static inline bool go_stays_below(atomic_long *v, long want, int64_t ms)
{
    int64_t end = goc_now() + ms * GOC_MILLISECOND;
    while (goc_now() < end) {
        if (atomic_load(v) >= want)
            return false;
        goc_sleep(GOC_MILLISECOND);
    }
    return atomic_load(v) < want;
}

/* ---- keepalive ------------------------------------------------------------
 * A goroutine that naps in a loop keeps a timer pending, so the runtime's
 * deadlock detector cannot fire while a goroutine waits for a plain thread
 * that has not touched the runtime yet (it cannot know about such a
 * thread). Tests that are about plain threads use it so they test the
 * primitive, not the detector. */
static atomic_int keepalive_stop;

static inline void keepalive_fn(void *arg)
{
    (void)arg;
    while (!atomic_load(&keepalive_stop))
        goc_sleep(2 * GOC_MILLISECOND);
}

static inline void keepalive_start(void)
{
    atomic_store(&keepalive_stop, 0);
    GO_SPAWN(keepalive_fn, NULL);
}

static inline void keepalive_end(void)
{
    atomic_store(&keepalive_stop, 1);
}

/* ---- plain threads ---------------------------------------------------------- */

static inline pthread_t start_thread(void *(*fn)(void *), void *arg)
{
    pthread_t t;
    if (pthread_create(&t, NULL, fn, arg) != 0)
        abort();
    return t;
}

#endif /* GOC_TESTS_SYNC_SYNCUTIL_H */
