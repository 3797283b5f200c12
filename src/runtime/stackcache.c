/*
 * stackcache.c — caching goroutine stacks between goroutines.
 *
 * A fresh stack costs system calls and a page fault (mmap, mprotect for
 * the guard page, the first touch: several microseconds on a VM), so the
 * stack of an exited goroutine is kept for the next one:
 *   - per P, a small LIFO array (owner only, no lock): a short-lived
 *     goroutine starts on the stack its predecessor just left, hot in
 *     cache and TLB;
 *   - past that, a global list under stack_lock, linked through a node
 *     kept in each cached stack's own top page (resident anyway), so it
 *     has no size limit and costs no allocation.
 * Unmapping on the worker's path would cost more than the allocation it
 * saves (munmap of a multi-threaded process shoots down TLBs), so workers
 * never unmap: sysmon scavenges the global list back to GLOBAL_KEEP stacks
 * once no goroutine has taken one from it for SCAVENGE_AFTER, as Go's
 * background scavenger returns idle memory.
 */
#include "runtime/fiber.h"
#include "runtime/runtime.h"

#define GLOBAL_KEEP    1024
#define SCAVENGE_AFTER (1 * GOC_SECOND)
#define SCAVENGE_BATCH 256

/* Lives at the top of a cached stack, clear of the words stack.c uses
 * there (hi - 8: a neighbour's canary; hi - 16: a chunk's free link). */
struct node {
    goc__stack s;
    struct node *next;
};

static pthread_mutex_t stack_lock = PTHREAD_MUTEX_INITIALIZER;
static struct node *global;       /* under stack_lock */
static _Atomic int64_t nglobal;   /* written under stack_lock */
static _Atomic int64_t last_take; /* goc_now() of the last refill */

static struct node *node_of(const goc__stack *s)
{
    uintptr_t at = ((uintptr_t)s->hi - 32 - sizeof(struct node)) & ~(uintptr_t)15;
    return (struct node *)at;
}

/* Refill p's array with up to half of it from the global list. */
static void refill(goc__p *p)
{
    pthread_mutex_lock(&stack_lock);
    while (p->nstack < GOC__STACK_CACHE / 2 && global) {
        struct node *n = global;
        global = n->next;
        p->stacks[p->nstack++] = n->s;
    }
    atomic_store_explicit(&nglobal, nglobal - p->nstack, memory_order_relaxed);
    pthread_mutex_unlock(&stack_lock);
    atomic_store_explicit(&last_take, goc_now(), memory_order_relaxed);
}

bool goc__stackcache_get(goc__p *p, goc__stack *out)
{
    if (p->nstack == 0 && atomic_load_explicit(&nglobal, memory_order_relaxed) > 0)
        refill(p);
    if (p->nstack == 0)
        return false;
    *out = p->stacks[--p->nstack];
    return true;
}

void goc__stackcache_put(goc__p *p, const goc__stack *s)
{
#if defined(GOC_ASAN)
    __asan_unpoison_memory_region(s->lo, (size_t)(s->hi - s->lo));
#endif
    if (p->nstack < GOC__STACK_CACHE) {
        p->stacks[p->nstack++] = *s;
        return;
    }
    /* Move half of the array, and s, to the global list. */
    struct node *head = NULL, *tail = NULL;
    int n = 0;
    for (const goc__stack *x = s; x;
         x = p->nstack > GOC__STACK_CACHE / 2 ? &p->stacks[--p->nstack] : NULL) {
        struct node *nd = node_of(x);
        nd->s = *x;
        nd->next = head;
        head = nd;
        if (!tail)
            tail = nd;
        n++;
    }
    pthread_mutex_lock(&stack_lock);
    tail->next = global;
    global = head;
    atomic_store_explicit(&nglobal, nglobal + n, memory_order_relaxed);
    pthread_mutex_unlock(&stack_lock);
}

/* Sysmon: whether there is scavenging to do (sysmon must not sleep). */
bool goc__stackcache_excess(void)
{
    return atomic_load_explicit(&nglobal, memory_order_relaxed) > GLOBAL_KEEP;
}

/* Sysmon: unmap up to a batch of cached stacks past GLOBAL_KEEP, once they
 * have been idle for a while. */
void goc__stackcache_scavenge(int64_t now)
{
    if (!goc__stackcache_excess() ||
        now - atomic_load_explicit(&last_take, memory_order_relaxed) < SCAVENGE_AFTER)
        return;
    struct node *batch = NULL;
    pthread_mutex_lock(&stack_lock);
    for (int i = 0; i < SCAVENGE_BATCH && nglobal > GLOBAL_KEEP; i++) {
        struct node *n = global;
        global = n->next;
        n->next = batch;
        batch = n;
        atomic_store_explicit(&nglobal, nglobal - 1, memory_order_relaxed);
    }
    pthread_mutex_unlock(&stack_lock);
    while (batch) {
        struct node *n = batch;
        batch = n->next;
        goc__stack s = n->s;
        goc__stack_free(&s);
    }
}
