/*
 * mutex.c — goc_mutex: Go's sync.Mutex.
 *
 * state: bit 0 locked, bit 1 woken (a waiter is awake and trying, so
 * unlock need not wake another), bit 2 starving, and the waiter count
 * above. Normal mode: woken waiters compete with newcomers (fast, but a
 * waiter can lose repeatedly); a waiter that has waited over 1 ms switches
 * the mutex to starvation mode, where unlock hands it straight to the
 * first waiter and newcomers queue behind. The uncontended lock is one
 * CAS; everything else is in lock_slow/unlock_slow.
 */
#include "sync/sema.h"

#define LOCKED       1
#define WOKEN        2
#define STARVING     4
#define WAITER_SHIFT 3
#define STARVE_NS    (1 * GOC_MILLISECOND)
#define SPIN_ITERS   4

static int32_t load(goc_mutex *m)
{
    return __atomic_load_n(&m->state_, __ATOMIC_RELAXED);
}

static bool cas(goc_mutex *m, int32_t old, int32_t new)
{
    return __atomic_compare_exchange_n(&m->state_, &old, new, false, __ATOMIC_ACQ_REL,
                                       __ATOMIC_RELAXED);
}

/* Spin only where it can pay off: other Ps may release the lock soon. */
static bool can_spin(int iter)
{
    return iter < SPIN_ITERS && goc__nprocs() > 1 && goc__getg() != NULL;
}

static void lock_slow(goc_mutex *m)
{
    int64_t wait_start = 0;
    bool starving = false, awoke = false;
    int iter = 0;
    int32_t old = load(m);
    for (;;) {
        if ((old & (LOCKED | STARVING)) == LOCKED && can_spin(iter)) {
            /* Tell unlock not to wake others while we spin. */
            if (!awoke && !(old & WOKEN) && (old >> WAITER_SHIFT) != 0 && cas(m, old, old | WOKEN))
                awoke = true;
            for (int i = 0; i < 30; i++)
                goc__cpu_relax();
            iter++;
            old = load(m);
            continue;
        }
        int32_t new = old;
        if (!(old & STARVING))
            new |= LOCKED; /* don't grab a starving mutex: queue */
        if (old & (LOCKED | STARVING))
            new += 1 << WAITER_SHIFT;
        if (starving && (old & LOCKED))
            new |= STARVING;
        if (awoke) {
            if (!(new &WOKEN))
                goc__fatal("sync: inconsistent mutex state");
            new &= ~WOKEN;
        }
        if (!cas(m, old, new)) {
            old = load(m);
            continue;
        }
        if (!(old & (LOCKED | STARVING)))
            return; /* got it */
        bool lifo = wait_start != 0;
        if (!wait_start)
            wait_start = goc_now();
        goc__semacquire(&m->sema_, lifo, "sync.Mutex.Lock");
        starving = starving || goc_now() - wait_start > STARVE_NS;
        old = load(m);
        if (old & STARVING) {
            /* Handed to us: we own it; fix up the state. */
            if ((old & (LOCKED | WOKEN)) || (old >> WAITER_SHIFT) == 0)
                goc__fatal("sync: inconsistent mutex state");
            int32_t delta = LOCKED - (1 << WAITER_SHIFT);
            if (!starving || (old >> WAITER_SHIFT) == 1)
                delta -= STARVING; /* last waiter, or waited briefly: leave starvation */
            __atomic_fetch_add(&m->state_, delta, __ATOMIC_ACQ_REL);
            return;
        }
        awoke = true;
        iter = 0;
    }
}

GOC_API void goc_mutex_lock(goc_mutex *m)
{
    int32_t zero = 0;
    if (__atomic_compare_exchange_n(&m->state_, &zero, LOCKED, false, __ATOMIC_ACQUIRE,
                                    __ATOMIC_RELAXED))
        return;
    lock_slow(m);
}

GOC_API bool goc_mutex_trylock(goc_mutex *m)
{
    int32_t old = load(m);
    if (old & (LOCKED | STARVING))
        return false;
    return __atomic_compare_exchange_n(&m->state_, &old, old | LOCKED, false, __ATOMIC_ACQUIRE,
                                       __ATOMIC_RELAXED);
}

static void unlock_slow(goc_mutex *m, int32_t new)
{
    goc__attach_thread(); /* a plain thread unlocking what a goroutine locked */
    if (!((new + LOCKED) & LOCKED))
        goc__fatal("sync: unlock of unlocked mutex (goc_mutex_unlock)");
    if (new &STARVING) {
        goc__semrelease(&m->sema_, true); /* hand it to the first waiter */
        return;
    }
    int32_t old = new;
    for (;;) {
        /* No waiters, or someone is already locked/woken/starving. */
        if ((old >> WAITER_SHIFT) == 0 || (old & (LOCKED | WOKEN | STARVING)))
            return;
        if (cas(m, old, (old - (1 << WAITER_SHIFT)) | WOKEN)) {
            goc__semrelease(&m->sema_, false);
            return;
        }
        old = load(m);
    }
}

GOC_API void goc_mutex_unlock(goc_mutex *m)
{
    int32_t new = __atomic_sub_fetch(&m->state_, LOCKED, __ATOMIC_RELEASE);
    if (new != 0)
        unlock_slow(m, new);
}
