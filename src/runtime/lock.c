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

#define SPINS 64

void goc__lock_slow(goc__lock *l)
{
    for (int i = 0; i < SPINS; i++) {
        uint32_t v = 0;
        if (atomic_load_explicit(&l->key, memory_order_relaxed) == 0 &&
            atomic_compare_exchange_weak_explicit(&l->key, &v, 1, memory_order_acquire,
                                                  memory_order_relaxed))
            return;
        if (i > SPINS / 2)
            sched_yield();
    }
    /* Announce a sleeper (2); if it was free, we own it (as contended). */
    while (atomic_exchange_explicit(&l->key, 2, memory_order_acquire) != 0)
        syscall(SYS_futex, &l->key, FUTEX_WAIT_PRIVATE, 2, NULL, NULL, 0);
}

void goc__unlock_slow(goc__lock *l)
{
    syscall(SYS_futex, &l->key, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}
