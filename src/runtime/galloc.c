/*
 * galloc.c — goroutine descriptors and their stacks.
 *
 * A G descriptor (struct goc__g) and its stack are allocated apart:
 *   - Descriptors come from 64-at-a-time slabs and are never unmapped, as
 *     in Go (a dead G goes to a free list). All of them are on the allg
 *     list, added once per slab, so dumps can walk every goroutine.
 *   - A stack is attached when the G first runs (goc__gstart) and given
 *     back when it exits. A million goroutines spawned faster than they
 *     run cost a million small descriptors, not a million mappings; and a
 *     short-lived goroutine starts on the stack its predecessor just left,
 *     still hot in cache and TLB.
 *
 * Both kinds of free list are per P (owner only, no lock), spilling half
 * to a global list under gflock when full and refilling from it when
 * empty. The global stack list is bounded; stacks beyond it are unmapped.
 */
#include "runtime/fiber.h"
#include "runtime/runtime.h"

#include <stdlib.h>
#include <string.h>

#define SLAB      64
#define LOCAL_MAX 256 /* a run queue's spill of unstarted Gs (findrun.c) stays here */

/* ---- descriptors ------------------------------------------------------- */

static goc__g *slab_alloc(void)
{
    goc__g *s = aligned_alloc(64, SLAB * sizeof(goc__g));
    if (!s)
        return NULL;
    memset(s, 0, SLAB * sizeof(goc__g));
    pthread_mutex_lock(&goc__allg_lock);
    for (int i = SLAB - 1; i >= 0; i--) {
        s[i].allnext = goc__allg;
        goc__allg = &s[i];
    }
    pthread_mutex_unlock(&goc__allg_lock);
    /* Hand out s[0]; the rest become free descriptors. */
    pthread_mutex_lock(&goc__sched.gflock);
    for (int i = 1; i < SLAB; i++) {
        s[i].status = GOC__G_DEAD;
        s[i].schedlink = goc__sched.gfree;
        goc__sched.gfree = &s[i];
        goc__sched.ngfree++;
    }
    atomic_store_explicit(&goc__sched.ngfree_hint, goc__sched.ngfree, memory_order_relaxed);
    pthread_mutex_unlock(&goc__sched.gflock);
    return &s[0];
}

/* Move up to n descriptors from the global list to p's. */
static void gfget_global(goc__p *p, int n)
{
    pthread_mutex_lock(&goc__sched.gflock);
    while (goc__sched.gfree && n-- > 0) {
        goc__g *g = goc__sched.gfree;
        goc__sched.gfree = g->schedlink;
        goc__sched.ngfree--;
        g->schedlink = p->gfree;
        p->gfree = g;
        p->ngfree++;
    }
    atomic_store_explicit(&goc__sched.ngfree_hint, goc__sched.ngfree, memory_order_relaxed);
    pthread_mutex_unlock(&goc__sched.gflock);
}

static goc__g *gget_global(void)
{
    pthread_mutex_lock(&goc__sched.gflock);
    goc__g *g = goc__sched.gfree;
    if (g) {
        goc__sched.gfree = g->schedlink;
        goc__sched.ngfree--;
    }
    atomic_store_explicit(&goc__sched.ngfree_hint, goc__sched.ngfree, memory_order_relaxed);
    pthread_mutex_unlock(&goc__sched.gflock);
    return g;
}

/* Make p's free list hold n descriptors (n <= LOCAL_MAX), or as many as
 * memory allows: from the global list, else from new slabs. Holding p. */
void goc__greserve(goc__p *p, int32_t n)
{
    if (p->ngfree >= n)
        return;
    if (atomic_load_explicit(&goc__sched.ngfree_hint, memory_order_relaxed))
        gfget_global(p, n - p->ngfree);
    while (p->ngfree < n) {
        goc__g *g = slab_alloc(); /* its other descriptors go to the global list */
        if (!g)
            return;
        atomic_store_explicit(&g->status, GOC__G_DEAD, memory_order_relaxed);
        goc__gput(p, g);
        gfget_global(p, n - p->ngfree);
    }
}

/* A clean descriptor (no stack yet), or NULL. p may be NULL (no P). */
goc__g *goc__galloc(goc__p *p)
{
    goc__g *g = NULL;
    if (p) {
        if (!p->gfree && atomic_load_explicit(&goc__sched.ngfree_hint, memory_order_relaxed))
            gfget_global(p, LOCAL_MAX / 2);
        g = p->gfree;
        if (g) {
            p->gfree = g->schedlink;
            p->ngfree--;
            /* The next spawn's descriptor was likely freed on another P:
             * start fetching it now. */
            if (p->gfree)
                __builtin_prefetch(p->gfree, 1);
        }
    } else {
        g = gget_global();
    }
    if (!g)
        g = slab_alloc();
    if (!g)
        return NULL;
    /* sp, stack and m are already clear: gfree and switching cleared
     * them, or the slab was zeroed. The caller sets the rest. */
    g->schedlink = NULL;
    return g;
}

void goc__gput(goc__p *p, goc__g *g)
{
    g->schedlink = p->gfree;
    p->gfree = g;
    if (++p->ngfree <= LOCAL_MAX)
        return;
    pthread_mutex_lock(&goc__sched.gflock);
    while (p->ngfree > LOCAL_MAX / 2) {
        goc__g *x = p->gfree;
        p->gfree = x->schedlink;
        p->ngfree--;
        x->schedlink = goc__sched.gfree;
        goc__sched.gfree = x;
        goc__sched.ngfree++;
    }
    atomic_store_explicit(&goc__sched.ngfree_hint, goc__sched.ngfree, memory_order_relaxed);
    pthread_mutex_unlock(&goc__sched.gflock);
}

/* ---- stacks ------------------------------------------------------------ */

/* Set when a stack allocation failed, cleared by the next success: while
 * set, goc_go allocates stacks eagerly so it can report -ENOMEM. */
static _Atomic bool stack_oom;

static bool stack_for(goc__p *p, goc__g *g)
{
    size_t def = goc__stack_default_size();
    bool dflt = g->stack_size == 0 || g->stack_size == def;
    if (dflt && p && goc__stackcache_get(p, &g->stack))
        return true;
    if (goc__stack_alloc(&g->stack, dflt ? def : g->stack_size) != 0) {
        atomic_store_explicit(&stack_oom, true, memory_order_relaxed);
        return false;
    }
    atomic_store_explicit(&stack_oom, false, memory_order_relaxed);
    return true;
}

/* Give g a stack and its first frame, just before it first runs. In the
 * runtime, holding p (or NULL). False if no stack could be had: the
 * caller parks g on the stack-wait list (sysmon retries it). */
bool goc__gstart(goc__p *p, goc__g *g)
{
    if (!stack_for(p, g))
        return false;
    goc__fiber_create(g);
    g->sp = goc__ctx_init(g->stack.hi, goc__gentry, NULL);
    return true;
}

/* At spawn: only while stacks are failing, start g now so the caller
 * learns of it (-ENOMEM) instead of the goroutine waiting for memory. */
bool goc__gstart_if_oom(goc__p *p, goc__g *g)
{
    if (!atomic_load_explicit(&stack_oom, memory_order_relaxed))
        return true;
    return goc__gstart(p, g);
}

/* A descriptor goc_go could not start: back to a free list. */
void goc__gfree_unstarted(goc__p *p, goc__g *g)
{
    atomic_store_explicit(&g->status, GOC__G_DEAD, memory_order_relaxed);
    if (g->flags & GOC__GF_NAMED) /* free descriptors have none (spawn) */
        __atomic_store_n(&g->name, NULL, __ATOMIC_RELAXED);
    if (p) {
        goc__gput(p, g);
        return;
    }
    pthread_mutex_lock(&goc__sched.gflock);
    g->schedlink = goc__sched.gfree;
    goc__sched.gfree = g;
    goc__sched.ngfree++;
    atomic_store_explicit(&goc__sched.ngfree_hint, goc__sched.ngfree, memory_order_relaxed);
    pthread_mutex_unlock(&goc__sched.gflock);
}

/* Goroutines waiting for a stack; sched.lock held. */
void goc__stackwait_put(goc__g *g)
{
    g->schedlink = goc__sched.stackwait;
    goc__sched.stackwait = g;
    atomic_fetch_add_explicit(&goc__sched.nstackwait, 1, memory_order_relaxed);
}

/* Sysmon: give the waiting goroutines another try. */
void goc__stackwait_retry(void)
{
    pthread_mutex_lock(&goc__sched.lock);
    goc__g *g = goc__sched.stackwait;
    goc__sched.stackwait = NULL;
    atomic_store_explicit(&goc__sched.nstackwait, 0, memory_order_relaxed);
    while (g) {
        goc__g *next = g->schedlink;
        goc__globrunqput(g);
        g = next;
    }
    pthread_mutex_unlock(&goc__sched.lock);
    goc__wakep();
}

/* Release a dead G: its stack to the cache, the descriptor to the free
 * list. Runs after g's last switch (run_after), holding p. */
void goc__gfree(goc__p *p, goc__g *g)
{
    goc__fiber_destroy(g);
    if (g->flags & GOC__GF_NAMED) /* free descriptors have none (spawn) */
        __atomic_store_n(&g->name, NULL, __ATOMIC_RELAXED);
    if (!g->stack.lo) { /* never started */
        goc__gput(p, g);
        return;
    }
    size_t size = (size_t)(g->stack.hi - g->stack.lo);
    if (size == goc__stack_default_size())
        goc__stackcache_put(p, &g->stack);
    else
        goc__stack_free(&g->stack);
    g->stack = (goc__stack){0};
    g->sp = NULL;
    goc__gput(p, g);
}
