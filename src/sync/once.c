/*
 * once.c — goc_once: Go's sync.Once. The fast path is one acquire load;
 * the first caller runs fn under the mutex, the others wait on it, and
 * done is set (release) only after fn returns, so every caller sees fn's
 * effects.
 */
#include "sync/sema.h"

GOC_API void goc_once_do(goc_once *o, void (*fn)(void *), void *arg)
{
    goc__attach_thread();
    if (__atomic_load_n(&o->done_, __ATOMIC_ACQUIRE))
        return;
    goc_mutex_lock(&o->m_);
    if (!o->done_) {
        fn(arg);
        __atomic_store_n(&o->done_, 1, __ATOMIC_RELEASE);
    }
    goc_mutex_unlock(&o->m_);
}
