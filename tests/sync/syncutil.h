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

#endif /* GOC_TESTS_SYNC_SYNCUTIL_H */
