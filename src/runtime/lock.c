/*
 * lock.c — the runtime's own small mutex (Go's lock_futex), for locks that
 * a goroutine takes and the *next* goroutine on the thread releases (a
 * channel lock is released by park's unlockf after the switch). pthread
 * mutexes may not be released by another fiber under TSan; this one is
 * three states in a word, with acquire/release atomics TSan understands.
 *
 *   0 unlocked, 1 locked, 2 locked with (possible) sleepers.
 */
#include "runtime/runtime.h"

#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Tuned on the buffered-channel benchmark (4x4 goroutines on 2 CPUs):
 * retrying the CAS often (1, 2, 4.. pauses) keeps the lock's line
 * bouncing between CPUs and halves throughput; waiting ~1.4 us (a pause
 * is ~17 ns on the test machine) lets the holder run a burst of
 * operations with the line in its own cache. */
#define SPINS       3
#define SPIN_PAUSES 80

static inline bool try_take(goc__lock *l)
{
    uint32_t v = 0;
    return atomic_load_explicit(&l->key, memory_order_relaxed) == 0 &&
           atomic_compare_exchange_weak_explicit(&l->key, &v, 1, memory_order_acquire,
                                                 memory_order_relaxed);
}

void goc__lock_slow(goc__lock *l)
{
    /* As Go's lock_futex: a few spins with a long pause (the holder is
     * most likely running on another CPU and about to release), one
     * yield of the CPU, then sleep in the kernel. */
    for (int i = 0; i < SPINS; i++) {
        for (int k = 0; k < SPIN_PAUSES; k++)
            goc__cpu_relax();
        if (try_take(l))
            return;
    }
    sched_yield();
    if (try_take(l))
        return;
    /* Announce a sleeper (2); if it was free, we own it (as contended). */
    while (atomic_exchange_explicit(&l->key, 2, memory_order_acquire) != 0)
        syscall(SYS_futex, &l->key, FUTEX_WAIT_PRIVATE, 2, NULL, NULL, 0);
}

void goc__unlock_slow(goc__lock *l)
{
    syscall(SYS_futex, &l->key, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

bool goc__mutex_held(pthread_mutex_t *mu)
{
#ifdef __GLIBC__
    return mu->__data.__owner == (int)syscall(SYS_gettid);
#else
    (void)mu;
    return true;
#endif
}

_Noreturn void goc__assert_fail(const char *cond, const char *file, int line)
{
    goc__fatal("runtime assertion failed: %s (%s:%d)", cond, file, line);
}
