/*
 * fiber.h — tell the sanitizers and Valgrind about goroutine switches.
 *
 * ASan must know which stack is current (or it reports false stack
 * overflows and use-after-return); TSan must know which fiber runs (or it
 * mixes up the happens-before of goroutines that share a thread). Valgrind
 * only needs each stack registered (stack.c). Outside sanitizer builds all
 * of this compiles to nothing.
 */
#ifndef GOC_FIBER_H
#define GOC_FIBER_H

#include "runtime/runtime.h"

#if defined(__SANITIZE_ADDRESS__)
#define GOC_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define GOC_ASAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define GOC_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define GOC_TSAN 1
#endif
#endif

#ifdef GOC_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif
#ifdef GOC_TSAN
#include <sanitizer/tsan_interface.h>
#endif

/* Before switching from `from` to `to`. dying: `from` will never run again. */
static inline void goc__fiber_leave(goc__g *from, goc__g *to, bool dying)
{
#ifdef GOC_ASAN
    const void *bottom = to->asan_bottom;
    size_t size = to->asan_size;
    if (!(to->flags & GOC__GF_G0)) {
        bottom = to->stack.lo;
        size = (size_t)(to->stack.hi - to->stack.lo);
    }
    __sanitizer_start_switch_fiber(dying ? NULL : &from->asan_fake_stack, bottom, size);
#endif
#ifdef GOC_TSAN
    __tsan_switch_to_fiber(to->tsan_fiber, 0);
#endif
    (void)from, (void)to, (void)dying;
}

/* First thing after a switch lands in `cur`. */
static inline void goc__fiber_enter(goc__g *cur)
{
#ifdef GOC_ASAN
    const void *old_bottom;
    size_t old_size;
    __sanitizer_finish_switch_fiber(cur->asan_fake_stack, &old_bottom, &old_size);
#endif
    (void)cur;
}

/* A new G's fiber; and its end. */
static inline void goc__fiber_create(goc__g *g)
{
#ifdef GOC_TSAN
    if (!g->tsan_fiber)
        g->tsan_fiber = __tsan_create_fiber(0);
#endif
    g->asan_fake_stack = NULL;
}

static inline void goc__fiber_destroy(goc__g *g)
{
#ifdef GOC_TSAN
    if (g->tsan_fiber)
        __tsan_destroy_fiber(g->tsan_fiber);
    g->tsan_fiber = NULL;
#endif
    (void)g;
}

/* The g0 of a new M: the thread's own stack and fiber. */
static inline void goc__fiber_thread(goc__g *g0)
{
#ifdef GOC_ASAN
    pthread_attr_t attr;
    void *addr;
    size_t size;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
        pthread_attr_getstack(&attr, &addr, &size);
        pthread_attr_destroy(&attr);
        g0->asan_bottom = addr;
        g0->asan_size = size;
    }
#endif
#ifdef GOC_TSAN
    g0->tsan_fiber = __tsan_get_current_fiber();
#endif
    (void)g0;
}

#endif /* GOC_FIBER_H */
