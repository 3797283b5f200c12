/*
 * waitgroup.c — goc_waitgroup: Go's sync.WaitGroup.
 *
 * One 64-bit word holds the counter (high half) and the number of waiters
 * (low half), so add and wait agree atomically on "counter reached zero
 * with w waiters": the adder that brings it to zero resets the word and
 * releases the semaphore w times.
 */
#include "sync/sema.h"

/* who: the public call, named in misuse messages. */
static void add(goc_waitgroup *wg, int64_t delta, const char *who)
{
    uint64_t state = __atomic_add_fetch(&wg->state_, (uint64_t)delta << 32, __ATOMIC_ACQ_REL);
    int32_t v = (int32_t)(state >> 32);
    uint32_t w = (uint32_t)state;
    if (v < 0)
        goc__fatal("sync: negative WaitGroup counter (%s)", who);
    if (w != 0 && delta > 0 && v == (int32_t)delta)
        goc__fatal("sync: WaitGroup misuse: goc_waitgroup_add called concurrently with wait");
    if (v > 0 || w == 0)
        return;
    /* Counter is zero with waiters: nobody may add now (that would be the
     * misuse above). Reset and release them all. */
    if (__atomic_load_n(&wg->state_, __ATOMIC_ACQUIRE) != state)
        goc__fatal("sync: WaitGroup misuse: goc_waitgroup_add called concurrently with wait");
    __atomic_store_n(&wg->state_, 0, __ATOMIC_RELEASE);
    for (; w != 0; w--)
        goc__semrelease(&wg->sema_, false);
}

GOC_API void goc_waitgroup_add(goc_waitgroup *wg, int64_t delta)
{
    goc__attach_thread();
    add(wg, delta, "goc_waitgroup_add");
}

GOC_API void goc_waitgroup_done(goc_waitgroup *wg)
{
    goc__attach_thread();
    add(wg, -1, "goc_waitgroup_done");
}

GOC_API void goc_waitgroup_wait(goc_waitgroup *wg)
{
    goc__attach_thread();
    uint64_t state = __atomic_load_n(&wg->state_, __ATOMIC_ACQUIRE);
    for (;;) {
        if ((int32_t)(state >> 32) == 0)
            return;
        if (__atomic_compare_exchange_n(&wg->state_, &state, state + 1, false, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE)) {
            goc__semacquire(&wg->sema_, false, "sync.WaitGroup.Wait");
            if (__atomic_load_n(&wg->state_, __ATOMIC_ACQUIRE) != 0)
                goc__fatal("sync: WaitGroup is reused before previous wait has returned");
            return;
        }
    }
}
