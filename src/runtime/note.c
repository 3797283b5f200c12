/*
 * note.c — one-shot sleep/wakeup on a futex (Go's note). A note is cleared
 * by its sleeper, slept on by one thread, and woken by any thread; a wakeup
 * before the sleep is not lost (the key stays 1).
 *
 * Memory order: wakeup's store-release pairs with the sleeper's
 * load-acquire, so whatever the waker wrote before waking is visible to
 * the sleeper after it returns.
 */
#include "runtime/fiber.h"
#include "runtime/runtime.h"

#include <errno.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static void futex_wait(_Atomic uint32_t *addr, uint32_t val, const struct timespec *rel)
{
    syscall(SYS_futex, addr, FUTEX_WAIT_PRIVATE, val, rel, NULL, 0);
}

static void futex_wake(_Atomic uint32_t *addr)
{
    syscall(SYS_futex, addr, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

void goc__note_clear(goc__note *n)
{
    atomic_store_explicit(&n->key, 0, memory_order_relaxed);
}

void goc__note_wakeup(goc__note *n)
{
    /* store-release: publishes the waker's writes to the sleeper. */
    if (atomic_exchange_explicit(&n->key, 1, memory_order_release) == 0)
        futex_wake(&n->key);
}

void goc__note_sleep(goc__note *n)
{
#ifdef GOC_TSAN
    /* TSan delivers a signal only when the thread next calls a function
     * it intercepts, and a raw futex is not one: wake up now and then and
     * make such a call, or SIGQUIT would never reach a sleeping runtime. */
    while (atomic_load_explicit(&n->key, memory_order_acquire) == 0) {
        struct timespec ts = {0, 50 * 1000 * 1000};
        futex_wait(&n->key, 0, &ts);
        struct timespec zero = {0, 0};
        nanosleep(&zero, NULL);
    }
#else
    /* load-acquire: pairs with note_wakeup's release. */
    while (atomic_load_explicit(&n->key, memory_order_acquire) == 0)
        futex_wait(&n->key, 0, NULL);
#endif
}

bool goc__note_sleep_until(goc__note *n, int64_t deadline)
{
    if (deadline <= 0) {
        goc__note_sleep(n);
        return true;
    }
    while (atomic_load_explicit(&n->key, memory_order_acquire) == 0) {
        int64_t left = deadline - goc_now();
        if (left <= 0)
            return false;
#ifdef GOC_TSAN
        if (left > 50 * 1000 * 1000)
            left = 50 * 1000 * 1000; /* see goc__note_sleep */
#endif
        struct timespec ts = {left / 1000000000, left % 1000000000};
        futex_wait(&n->key, 0, &ts);
#ifdef GOC_TSAN
        struct timespec zero = {0, 0};
        nanosleep(&zero, NULL);
#endif
    }
    return true;
}
