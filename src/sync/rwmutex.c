/*
 * rwmutex.c — goc_rwmutex: Go's sync.RWMutex.
 *
 * reader_count counts readers; a writer subtracts MAX_READERS from it, so
 * new readers see a negative count and wait on reader_sem (a waiting
 * writer holds off new readers), while reader_wait counts the readers the
 * writer still waits for (the last of them wakes it on writer_sem).
 * Writers exclude each other with the embedded mutex.
 */
#include "sync/sema.h"

#define MAX_READERS (1 << 30)

GOC_API void goc_rwmutex_rlock(goc_rwmutex *m)
{
    if (__atomic_add_fetch(&m->reader_count_, 1, __ATOMIC_ACQ_REL) < 0)
        goc__semacquire(&m->reader_sem_, false, "sync.RWMutex.RLock");
}

GOC_API void goc_rwmutex_runlock(goc_rwmutex *m)
{
    int32_t r = __atomic_sub_fetch(&m->reader_count_, 1, __ATOMIC_ACQ_REL);
    if (r >= 0)
        return;
    if (r + 1 == 0 || r + 1 == -MAX_READERS)
        goc__fatal("sync: RUnlock of unlocked RWMutex (goc_rwmutex_runlock)");
    /* A writer is waiting: the last departing reader wakes it. */
    if (__atomic_sub_fetch(&m->reader_wait_, 1, __ATOMIC_ACQ_REL) == 0)
        goc__semrelease(&m->writer_sem_, false);
}

GOC_API void goc_rwmutex_lock(goc_rwmutex *m)
{
    goc__attach_thread();
    goc_mutex_lock(&m->w_);
    /* Announce the writer; r is the readers still inside. */
    int32_t r = __atomic_sub_fetch(&m->reader_count_, MAX_READERS, __ATOMIC_ACQ_REL) + MAX_READERS;
    if (r != 0 && __atomic_add_fetch(&m->reader_wait_, r, __ATOMIC_ACQ_REL) != 0)
        goc__semacquire(&m->writer_sem_, false, "sync.RWMutex.Lock");
}

GOC_API void goc_rwmutex_unlock(goc_rwmutex *m)
{
    goc__attach_thread();
    int32_t r = __atomic_add_fetch(&m->reader_count_, MAX_READERS, __ATOMIC_ACQ_REL);
    if (r >= MAX_READERS)
        goc__fatal("sync: Unlock of unlocked RWMutex (goc_rwmutex_unlock)");
    for (int32_t i = 0; i < r; i++)
        goc__semrelease(&m->reader_sem_, false); /* readers that queued meanwhile */
    goc_mutex_unlock(&m->w_);
}
