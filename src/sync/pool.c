/*
 * pool.c — goc_pool: Go's sync.Pool for C.
 *
 * Two levels, as in Go (and tcmalloc): each P has a small array of free
 * objects that only the goroutine running on that P touches, inside the
 * runtime (goc__enter), so sysmon cannot hand the P to another M midway
 * and no lock or atomic is needed; behind them a shared list under a lock
 * takes batches of half an array when a P's array overflows, and gives
 * them back when one runs dry. Plain threads (no P) use the shared list.
 *
 * Go empties its pools at each garbage collection, keeping one
 * generation as a "victim" cache so a steady workload does not start
 * cold. goc has no collector; the clock in whole seconds (an "epoch")
 * stands in, read in the slow path; the fast path only watches sysmon's
 * copy of it (runtime.h) to know when to take the slow path. At each new
 * epoch the shared
 * victim list is freed and the primary list becomes the victim. A P's
 * array counts as part of the primary list of the epoch it was last
 * used in: the first time the P uses the pool in a later epoch, its
 * objects join the victim list (one epoch on) or are freed (more). Only
 * the primary list refills arrays in batches; a victim leaves its list
 * only for a get. So an object nobody took is freed one to two epochs
 * after it was put; the array of a P that stops using the pool is
 * emptied by the next P to age the pool (drain_stale).
 *
 * Cached objects are linked through their first word (the header says
 * so), so the shared lists never allocate.
 */
#include "sync/sema.h"

#include <goc.h>
#include <stdlib.h>

#define LOCAL_CAP 64
#define BATCH     (LOCAL_CAP / 2)

typedef struct poollocal {
    void *objs[LOCAL_CAP];
    int32_t n;
    uint32_t epoch; /* the epoch (clock seconds) its objects belong to */
    uint32_t seen;  /* goc__epoch() when it was last synced */
    /* The fast path against drain_stale (see there): busy is the owner's
     * "I am in the array", draining another P's "I want to empty it". */
    _Atomic uint32_t busy, draining;
} __attribute__((aligned(64))) poollocal;

struct goc_pool {
    void *(*new_fn)(void *arg);
    void (*free_fn)(void *obj, void *arg);
    void *arg;

    goc__lock lock;           /* guards the fields below */
    void *primary, *victim;   /* linked through the objects' first word */
    uint32_t epoch;           /* the epoch (clock seconds) of primary */
    poollocal *_Atomic local; /* nlocal arrays, made at first use on a P */
    int32_t nlocal;
};

static inline void *next_of(void *obj)
{
    return *(void **)obj;
}

static inline void push(void **list, void *obj)
{
    *(void **)obj = *list;
    *list = obj;
}

/* sysmon's copy of the clock in seconds: cheap, but stale while sysmon
 * sleeps (everything idle) and for a moment after; it only tells the fast
 * path that a second may have passed. */
static inline uint32_t epoch_hint(void)
{
    return goc__epoch();
}

/* The clock in seconds, for aging (slow path only). */
static inline uint32_t epoch_now(void)
{
    return (uint32_t)(goc_now() / GOC_SECOND);
}

static void free_list(goc_pool *pl, void *obj)
{
    while (obj) {
        void *next = next_of(obj);
        if (pl->free_fn)
            pl->free_fn(obj, pl->arg);
        else
            free(obj);
        obj = next;
    }
}

/* Holding lock: move to a new epoch. Returns what must be freed (once the
 * lock is dropped: free_fn is the user's and may be slow). */
static void *age(goc_pool *pl, uint32_t now)
{
    void *dead = NULL;
    if (pl->epoch == now)
        return NULL;
    dead = pl->victim;
    pl->victim = pl->primary;
    pl->primary = NULL;
    if (now - pl->epoch > 1) { /* idle over a whole epoch: all is old */
        void *v = pl->victim;
        while (v) {
            void *next = next_of(v);
            push(&dead, v);
            v = next;
        }
        pl->victim = NULL;
    }
    pl->epoch = now;
    return dead;
}

/* Holding lock: the array of the P running us, or NULL (no P, or no
 * memory for the arrays: everything then goes through the lists). */
static poollocal *local_of(goc_pool *pl, goc__m *m)
{
    if (!goc__has_p(m))
        return NULL;
    poollocal *l = atomic_load_explicit(&pl->local, memory_order_acquire);
    if (l)
        return &l[goc__pid(m)];
    if (pl->nlocal)
        return NULL; /* allocation failed before; don't retry per call */
    int32_t n = goc__nprocs();
    l = aligned_alloc(_Alignof(poollocal), (size_t)n * sizeof *l);
    pl->nlocal = -1;
    if (!l)
        return NULL;
    for (int32_t i = 0; i < n; i++)
        l[i] = (poollocal){.epoch = pl->epoch, .seen = epoch_hint()};
    pl->nlocal = n;
    atomic_store_explicit(&pl->local, l, memory_order_release);
    return &l[goc__pid(m)];
}

/* Holding lock (and aged): bring l into the pool's epoch. Its objects
 * were put (or moved there from the primary list) in epoch l->epoch: one
 * epoch ago they are as old as the victim list's, older ones are dead. */
static void local_sync(goc_pool *pl, poollocal *l, void **dead)
{
    l->seen = epoch_hint();
    if (l->epoch == pl->epoch)
        return;
    void **to = pl->epoch - l->epoch == 1 ? &pl->victim : dead;
    while (l->n > 0)
        push(to, l->objs[--l->n]);
    l->epoch = pl->epoch;
}

static void *pop_shared(goc_pool *pl)
{
    void **list = pl->primary ? &pl->primary : &pl->victim;
    void *obj = *list;
    if (obj)
        *list = next_of(obj);
    return obj;
}

/* Holding lock, just aged: the arrays of Ps that have not used the pool
 * for over an epoch hold objects nobody will take (their P may never use
 * the pool again); free them. Their owner may be entering its fast path
 * at this very moment, so this is Dekker's handshake, the heavy side paid
 * here with a membarrier as sysmon does when it retakes a P: we raise
 * draining, every thread runs a full fence, then we drain only if the
 * owner is not busy; the owner raises busy, then backs off if draining. */
static void drain_stale(goc_pool *pl, poollocal *mine, void **dead)
{
    poollocal *arr = atomic_load_explicit(&pl->local, memory_order_acquire);
    for (int32_t i = 0; arr && i < pl->nlocal; i++) {
        poollocal *l = &arr[i];
        if (l == mine || pl->epoch - l->epoch < 2) /* epoch: under lock */
            continue;
        atomic_store_explicit(&l->draining, 1, memory_order_relaxed);
        goc__membarrier();
        if (!atomic_load_explicit(&l->busy, memory_order_acquire)) {
            while (l->n > 0)
                push(dead, l->objs[--l->n]);
            l->epoch = pl->epoch;
        }
        atomic_store_explicit(&l->draining, 0, memory_order_release);
    }
}

/* In the runtime (m may be NULL: a plain thread). *dead: objects to free
 * once out of the runtime (free_fn may block). */
static void *get_slow(goc_pool *pl, goc__m *m, void **dead)
{
    goc__lock_acquire(&pl->lock);
    uint32_t was = pl->epoch;
    *dead = age(pl, epoch_now());
    poollocal *l = local_of(pl, m);
    if (was != pl->epoch)
        drain_stale(pl, l, dead);
    if (l)
        local_sync(pl, l, dead);
    void *obj = l && l->n > 0 ? l->objs[--l->n] : pop_shared(pl);
    /* Refill for the next gets from the primary list only: moving victims
     * to the array would make them young again without a get. */
    while (obj && l && l->n < BATCH && pl->primary) {
        void *more = pl->primary;
        pl->primary = next_of(more);
        l->objs[l->n++] = more;
    }
    goc__lock_release(&pl->lock);
    return obj;
}

static void put_slow(goc_pool *pl, goc__m *m, void *obj, void **dead)
{
    goc__lock_acquire(&pl->lock);
    uint32_t was = pl->epoch;
    *dead = age(pl, epoch_now());
    poollocal *l = local_of(pl, m);
    if (was != pl->epoch)
        drain_stale(pl, l, dead);
    if (l) {
        local_sync(pl, l, dead);
        if (l->n == LOCAL_CAP) { /* spill the older half */
            for (int32_t i = 0; i < BATCH; i++)
                push(&pl->primary, l->objs[i]);
            for (int32_t i = BATCH; i < LOCAL_CAP; i++)
                l->objs[i - BATCH] = l->objs[i];
            l->n -= BATCH;
        }
        l->objs[l->n++] = obj;
    } else {
        push(&pl->primary, obj);
    }
    goc__lock_release(&pl->lock);
}

/* The fast path's array: only if the arrays exist and this P's was synced
 * since sysmon last saw the clock move (else the slow path syncs it). In
 * the runtime. */
static inline poollocal *local_fast(goc_pool *pl, goc__m *m)
{
    if (!goc__has_p(m))
        return NULL;
    poollocal *l = atomic_load_explicit(&pl->local, memory_order_acquire);
    if (!l)
        return NULL;
    l = &l[goc__pid(m)];
    if (l->seen != epoch_hint())
        return NULL;
    atomic_store_explicit(&l->busy, 1, memory_order_relaxed);
    if (GOC_LIKELY(goc__membarrier_ok)) /* drain_stale's membarrier fences us */
        atomic_signal_fence(memory_order_seq_cst);
    else
        atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&l->draining, memory_order_acquire)) {
        atomic_store_explicit(&l->busy, 0, memory_order_release);
        return NULL; /* the slow path waits for the drain (lock) */
    }
    return l;
}

static inline void local_done(poollocal *l)
{
    atomic_store_explicit(&l->busy, 0, memory_order_release);
}

GOC_API void *goc_pool_get(goc_pool *pl)
{
    void *dead = NULL;
    goc__m *m = goc__enter();
    poollocal *l = local_fast(pl, m);
    void *obj = NULL;
    if (l && l->n > 0)
        obj = l->objs[--l->n];
    if (l)
        local_done(l);
    if (!obj)
        obj = get_slow(pl, m, &dead);
    goc__leave(m);
    free_list(pl, dead);
    if (!obj && pl->new_fn)
        obj = pl->new_fn(pl->arg); /* outside the runtime: it may block */
    return obj;
}

GOC_API void goc_pool_put(goc_pool *pl, void *obj)
{
    if (!obj)
        return;
    void *dead = NULL;
    goc__m *m = goc__enter();
    poollocal *l = local_fast(pl, m);
    bool done = l && l->n < LOCAL_CAP;
    if (done)
        l->objs[l->n++] = obj;
    if (l)
        local_done(l);
    if (!done)
        put_slow(pl, m, obj, &dead);
    goc__leave(m);
    free_list(pl, dead);
}

GOC_API goc_pool *goc_pool_new(void *(*new_fn)(void *arg), void (*free_fn)(void *obj, void *arg),
                               void *arg)
{
    goc_pool *pl = calloc(1, sizeof *pl);
    if (!pl)
        return NULL;
    pl->new_fn = new_fn;
    pl->free_fn = free_fn;
    pl->arg = arg;
    pl->epoch = epoch_now();
    return pl;
}

GOC_API void goc_pool_free(goc_pool *pl)
{
    if (!pl)
        return;
    poollocal *l = atomic_load_explicit(&pl->local, memory_order_acquire);
    for (int32_t i = 0; l && i < pl->nlocal; i++) {
        while (l[i].n > 0)
            push(&pl->primary, l[i].objs[--l[i].n]);
    }
    free_list(pl, pl->primary);
    free_list(pl, pl->victim);
    free(l);
    free(pl);
}
