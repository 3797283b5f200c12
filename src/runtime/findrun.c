/*
 * findrun.c — what an M does when its P has nothing to run: g0's loop,
 * findrunnable (global queue, stealing, other Ps' timers) and idling.
 *
 * All of this runs on g0 (the thread's own stack), at depth 1. The
 * spinning rules are Go's: at most half of the busy Ps' worth of Ms spin
 * at once; a spinning M that gives up decrements nmspinning and *then*
 * rechecks every run queue, while producers enqueue and *then* check
 * nmspinning (goc__wakep), both seq_cst, so no G is left queued with every
 * M asleep.
 */
#include "runtime/runtime.h"

#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#define STEAL_TRIES 4

/* The global run queue is two FIFO lists: goroutines that have run before
 * (readied, yielded, spilled from a full P, or queued by a worker that
 * lost its P) and goroutines that have not started yet. Takers prefer the
 * first: a burst of a hundred thousand spawns must not delay every woken
 * sleeper behind it (each start costs a stack). The every-61st-slice
 * fairness check (fair=true) alternates between the two, so neither can
 * starve while local work keeps a P busy. All under sched.lock.
 *
 * Goroutines not started yet are descriptors on newq (spawned without a
 * P, named, with their own stack size, back from the stack-wait list),
 * then records in blocks on newb: what a full run queue spills of its
 * plain unstarted Gs (goc__globrunqput_spill). A record is the function,
 * the argument and the id; its descriptor goes straight back to the
 * spilling P's free list, where the spawning loop that overflowed the
 * queue takes it again. So a burst of spawns that outruns the Ps costs
 * 24 bytes per queued goroutine instead of a descriptor (256 bytes: at a
 * million goroutines, 60,000 page faults and a cache miss per goroutine
 * both ways), the descriptors a loop spawns into stay hot in its cache,
 * and a taker reads records in order instead of chasing a list through
 * descriptors last written on another CPU. The taker gives each record a
 * descriptor from its own free list (goc__globrunqget). Dumps list the
 * records (goc__globrunq_ids). */

#define GBFREE_MAX 2 /* spare record blocks kept (64 KiB each) */

static void gq_push(goc__gqueue *q, goc__g *g)
{
    g->schedlink = NULL;
    if (q->tail)
        q->tail->schedlink = g;
    else
        q->head = g;
    q->tail = g;
}

static goc__g *gq_pop(goc__gqueue *q)
{
    goc__g *g = q->head;
    if (g) {
        q->head = g->schedlink;
        if (!q->head)
            q->tail = NULL;
        else
            __builtin_prefetch(q->head, 1); /* likely queued by another P */
        g->schedlink = NULL;
    }
    return g;
}

static void gbatch_put(goc__gbatch *b)
{
    if (goc__sched.ngbfree < GBFREE_MAX) {
        b->next = goc__sched.gbfree;
        goc__sched.gbfree = b;
        goc__sched.ngbfree++;
    } else {
        free(b);
    }
}

/* The oldest record, given a descriptor from p's free list; NULL if there
 * is none, or no memory for a descriptor (the record waits: sysmon wakes
 * an M to try again while the global queue is not empty). */
static goc__g *newb_pop(goc__p *p)
{
    goc__gbatch *b = goc__sched.newb;
    if (!b)
        return NULL;
    goc__g *g = goc__galloc(p);
    if (!g)
        return NULL;
    const goc__gnew *r = &b->rec[b->head++];
    /* As spawn (goroutine.c) sets a plain goroutine's descriptor. */
    __atomic_store_n(&g->id, r->id, __ATOMIC_RELAXED);
    g->fn = r->fn;
    g->arg = r->arg;
    g->flags = 0;
    g->stack_size = 0;
    /* release: a dump that sees RUNNABLE sees the fields above. */
    atomic_store_explicit(&g->status, GOC__G_RUNNABLE, memory_order_release);
    if (b->head == b->n) {
        __atomic_store_n(&goc__sched.newb, b->next, __ATOMIC_RELAXED);
        if (!b->next)
            goc__sched.newbtail = NULL;
        gbatch_put(b);
    }
    return g;
}

static goc__g *globpop(goc__p *p, bool fair)
{
    static uint32_t turn; /* under sched.lock */
    goc__g *g = NULL;
    if (fair && (turn++ & 1)) {
        g = gq_pop(&goc__sched.newq);
        if (!g)
            g = newb_pop(p);
    }
    if (!g)
        g = gq_pop(&goc__sched.runq);
    if (!g)
        g = gq_pop(&goc__sched.newq);
    if (!g)
        g = newb_pop(p);
    return g;
}

void goc__globrunq_prepare(goc__p *p, int32_t max)
{
    /* A racy look (relaxed): a miss only means allocating under the lock. */
    if (__atomic_load_n(&goc__sched.newb, __ATOMIC_RELAXED) == NULL)
        return;
    /* As many as goc__globrunqget will take (about). */
    int32_t n =
        atomic_load_explicit(&goc__sched.runqsize, memory_order_relaxed) / goc__sched.nprocs + 1;
    if (max > 0 && n > max)
        n = max;
    if (n > GOC__RUNQ_SIZE / 2)
        n = GOC__RUNQ_SIZE / 2;
    goc__greserve(p, n);
}

/* Take from the global queue; lock held. max 0: a fair share, the rest
 * into p's ring (which must have room: callers' rings are empty). NULL if
 * it is empty, or holds only records and no descriptor can be had. */
goc__g *goc__globrunqget(goc__p *p, int32_t max, bool fair)
{
    int32_t size = atomic_load_explicit(&goc__sched.runqsize, memory_order_relaxed);
    if (size == 0)
        return NULL;
    int32_t n = size / goc__sched.nprocs + 1;
    if (n > size)
        n = size;
    if (max > 0 && n > max)
        n = max;
    if (n > GOC__RUNQ_SIZE / 2)
        n = GOC__RUNQ_SIZE / 2;
    goc__g *g = globpop(p, fair);
    if (!g)
        return NULL;
    int32_t taken = 1;
    for (; taken < n; taken++) {
        goc__g *x = globpop(p, false);
        if (!x)
            break;
        goc__runq_put(p, x);
    }
    atomic_store_explicit(&goc__sched.runqsize, size - taken, memory_order_relaxed);
    return g;
}

/* Lock held. */
void goc__globrunqput(goc__g *g)
{
    gq_push(g->sp ? &goc__sched.runq : &goc__sched.newq, g);
    atomic_fetch_add_explicit(&goc__sched.runqsize, 1, memory_order_seq_cst);
}

/* Whether g can travel as a record: it never ran and has nothing but its
 * function, argument and id (a name, a stack size, a flag stay with the
 * descriptor). Owner of the queue g was in. */
static bool plain_unstarted(const goc__g *g)
{
    return g->sp == NULL && g->flags == 0 && g->stack_size == 0; /* not GOC__GF_NAMED */
}

/* Commit the pages of a new block in one system call instead of a page
 * fault each as the records land (on a VM a fault costs microseconds; a
 * burst of spawns fills a block every 2,728). Best effort: before Linux
 * 5.14 the stores fault as before. */
static void prefault(void *p, size_t n)
{
#ifdef MADV_POPULATE_WRITE
    uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t lo = ((uintptr_t)p + pg - 1) & ~(pg - 1);
    uintptr_t hi = ((uintptr_t)p + n) & ~(pg - 1);
    if (hi > lo)
        madvise((void *)lo, hi - lo, MADV_POPULATE_WRITE);
#else
    (void)p, (void)n;
#endif
}

/* A block for records; lock held, and released meanwhile if one must be
 * allocated (what was queued before is already counted). NULL: no memory. */
static goc__gbatch *gbatch_get(void)
{
    goc__gbatch *b = goc__sched.gbfree;
    if (b) {
        goc__sched.gbfree = b->next;
        goc__sched.ngbfree--;
    } else {
        pthread_mutex_unlock(&goc__sched.lock);
        b = malloc(sizeof *b);
        if (b)
            prefault(b, sizeof *b);
        pthread_mutex_lock(&goc__sched.lock);
    }
    if (b) {
        b->next = NULL;
        b->head = b->n = 0;
    }
    return b;
}

void goc__globrunqput_spill(goc__p *p, goc__g **batch, uint32_t n)
{
    goc__g *recycled[GOC__RUNQ_SIZE / 2 + 1];
    uint32_t nrecycled = 0;
    int32_t added = 0;
    bool nomem = false;
    pthread_mutex_lock(&goc__sched.lock);
    for (uint32_t i = 0; i < n; i++) {
        goc__g *g = batch[i];
        goc__gbatch *b = goc__sched.newbtail;
        if (!nomem && nrecycled < sizeof recycled / sizeof recycled[0] && plain_unstarted(g)) {
            if (!b || b->n == GOC__GBATCH) {
                atomic_fetch_add_explicit(&goc__sched.runqsize, added, memory_order_seq_cst);
                added = 0;
                b = gbatch_get();
                nomem = b == NULL; /* the rest go as they are */
                if (b) {
                    if (goc__sched.newbtail)
                        goc__sched.newbtail->next = b;
                    else /* relaxed: read without the lock by prepare */
                        __atomic_store_n(&goc__sched.newb, b, __ATOMIC_RELAXED);
                    goc__sched.newbtail = b;
                }
            }
            if (b) {
                b->rec[b->n++] = (goc__gnew){g->fn, g->arg, g->id};
                recycled[nrecycled++] = g;
                added++;
                continue;
            }
        }
        gq_push(g->sp ? &goc__sched.runq : &goc__sched.newq, g);
        added++;
    }
    atomic_fetch_add_explicit(&goc__sched.runqsize, added, memory_order_seq_cst);
    pthread_mutex_unlock(&goc__sched.lock);
    /* Only now: a dump may list such a goroutine twice meanwhile (as its
     * descriptor and as its record), never miss it. */
    for (uint32_t i = 0; i < nrecycled; i++) {
        atomic_store_explicit(&recycled[i]->status, GOC__G_DEAD, memory_order_relaxed);
        goc__gput(p, recycled[i]);
    }
}

uint64_t *goc__globrunq_ids(size_t *np)
{
    pthread_mutex_lock(&goc__sched.lock);
    size_t n = 0;
    for (goc__gbatch *b = goc__sched.newb; b; b = b->next)
        n += b->n - b->head;
    uint64_t *ids = n ? malloc(n * sizeof *ids) : NULL;
    if (ids) {
        size_t i = 0;
        for (goc__gbatch *b = goc__sched.newb; b; b = b->next)
            for (uint32_t j = b->head; j < b->n; j++)
                ids[i++] = b->rec[j].id;
    }
    pthread_mutex_unlock(&goc__sched.lock);
    *np = n;
    return ids;
}

static void stop_spinning(goc__m *m)
{
    if (!m->spinning)
        return;
    m->spinning = false;
    /* The last spinner to find work wakes another, so bursts of readied
     * Gs still spread over the idle Ps. */
    if (atomic_fetch_sub_explicit(&goc__sched.nmspinning, 1, memory_order_seq_cst) == 1)
        goc__wakep();
}

/* Steal from other Ps (and run their due timers). */
static goc__g *steal_work(goc__m *m, goc__p *p)
{
    int32_t n = goc__sched.nprocs;
    for (int tries = 0; tries < STEAL_TRIES; tries++) {
        bool last = tries == STEAL_TRIES - 1;
        uint32_t start = goc__fastrand(m) % (uint32_t)n;
        for (int32_t i = 0; i < n; i++) {
            goc__p *v = goc__sched.allp[(start + (uint32_t)i) % (uint32_t)n];
            if (v == p)
                continue;
            if (last) {
                goc__timers_steal(v, goc_now());
                goc__g *g = goc__runq_get(p);
                if (!g)
                    g = atomic_exchange_explicit(&p->runnext, NULL, memory_order_acquire);
                if (g)
                    return g;
            }
            goc__g *g = goc__runq_steal(p, v, last);
            if (g)
                return g;
        }
    }
    return NULL;
}

/* Recheck every P after giving up spinning; true if some P has work. */
static bool any_work(void)
{
    if (atomic_load_explicit(&goc__sched.runqsize, memory_order_seq_cst) > 0)
        return true;
    for (int32_t i = 0; i < goc__sched.nprocs; i++) {
        if (!goc__runq_empty(goc__sched.allp[i]))
            return true;
    }
    return false;
}

/* Find a G for m, holding m->p; sleeps while there is none. Returns NULL
 * if m lost its P while idle (the caller loops). *inherit as pick_local. */
static goc__g *findrunnable(goc__m *m, bool *inherit)
{
top:;
    goc__p *p = m->p;
    goc__g *g = goc__pick_local(p, inherit, true);
    if (g)
        goto found;
    *inherit = false;
    if (atomic_load_explicit(&goc__sched.runqsize, memory_order_relaxed) > 0) {
        goc__globrunq_prepare(p, 0);
        pthread_mutex_lock(&goc__sched.lock);
        g = goc__globrunqget(p, 0, false);
        pthread_mutex_unlock(&goc__sched.lock);
        if (g)
            goto found;
    }
    /* Goroutines whose I/O is ready (they land on p's run queue). */
    if (goc__netpoll_check())
        goto top;
    int32_t busy = goc__sched.nprocs - atomic_load(&goc__sched.npidle);
    if (m->spinning || 2 * atomic_load(&goc__sched.nmspinning) < busy) {
        if (!m->spinning) {
            m->spinning = true;
            atomic_fetch_add_explicit(&goc__sched.nmspinning, 1, memory_order_seq_cst);
        }
        g = steal_work(m, p);
        if (g)
            goto found;
    }

    /* Due timers anywhere (a busy P's, or an idle P's) may ready a G. */
    int64_t now = goc_now();
    for (int32_t i = 0; i < goc__sched.nprocs; i++)
        goc__timers_steal(goc__sched.allp[i], now);
    if (!goc__runq_empty(p))
        goto top;

    /* Nothing: give back the P, then make sure nothing arrived meanwhile. */
    goc__globrunq_prepare(p, 0);
    pthread_mutex_lock(&goc__sched.lock);
    bool stuck = false; /* only records queued, and no memory for them */
    if (atomic_load_explicit(&goc__sched.runqsize, memory_order_relaxed) > 0) {
        g = goc__globrunqget(p, 0, false);
        if (g) {
            pthread_mutex_unlock(&goc__sched.lock);
            goto found;
        }
        stuck = true;
    }
    m->p = NULL;
    goc__pidleput(p);
    pthread_mutex_unlock(&goc__sched.lock);

    bool was_spinning = m->spinning;
    if (m->spinning) {
        m->spinning = false;
        atomic_fetch_sub_explicit(&goc__sched.nmspinning, 1, memory_order_seq_cst);
    }
    /* stuck: don't spin on records while memory is short; sysmon wakes
     * an M to try again while the global queue is not empty. */
    if (was_spinning && !stuck && any_work()) {
        pthread_mutex_lock(&goc__sched.lock);
        p = goc__pidleget();
        pthread_mutex_unlock(&goc__sched.lock);
        if (p) {
            goc__acquirep(m, p);
            m->spinning = true;
            atomic_fetch_add_explicit(&goc__sched.nmspinning, 1, memory_order_seq_cst);
            goto top;
        }
    }
    goc__stopm(m, goc__timers_earliest());
    if (!m->p)
        return NULL;
    goto top;

found:
    stop_spinning(m);
    return g;
}

_Noreturn void goc__schedule_loop(goc__m *m)
{
    for (;;) {
        if (!m->p) {
            goc__stopm(m, 0);
            continue;
        }
        bool inherit;
        goc__g *g = findrunnable(m, &inherit);
        if (!g)
            continue;
        goc__new_slice(m->p, inherit);
        goc__switch(m, &m->g0, g);
    }
}
