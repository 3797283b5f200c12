/*
 * runtime.h — the scheduler's private interface, for src/runtime only.
 *
 * The layers above (chan, sync, time, ctx, net) include runtime/park.h,
 * which this header extends with what only the runtime itself touches:
 * the scheduler's global state (goc__sched), run queues, the idle P and M
 * lists, stacks, the arch switch, goroutine allocation and dumps.
 */
#ifndef GOC_RUNTIME_H
#define GOC_RUNTIME_H

#include "runtime/park.h"

/* ---- stacks (stack.c) --------------------------------------------------- */

#define GOC__STACK_MIN    (16u * 1024)
#define GOC__STACK_MAX    ((size_t)1 << 30)
#define GOC__STACK_CANARY 0x676f63737461636bull /* "gocstack" */

int goc__stack_alloc(goc__stack *s, size_t size);
void goc__stack_free(goc__stack *s);
size_t goc__stack_default_size(void);
void goc__stack_stats(uint64_t *mapped, uint64_t *unguarded, uint64_t *bytes);
/* Whether addr lies in the guard region of s (or within a page below lo). */
bool goc__stack_is_guard_fault(const goc__stack *s, const void *addr);

/* ---- arch (switch_<arch>.S, arch_<arch>.c) ---------------------------- */

/* Save the callee-saved state on the current stack, store the stack pointer
 * in *save_sp, load new_sp and restore the state saved there. */
void goc__ctx_switch(void **save_sp, void *new_sp);
/* Prepare a stack whose top is top so that switching to the returned sp
 * calls entry(arg) on it. entry must not return. */
void *goc__ctx_init(char *top, void (*entry)(void *), void *arg);
/* Fill an unwinder context (libunwind's unw_context_t) from a parked sp. */
void goc__ctx_unwind_setup(void *unw_context, void *sp);
/* The stack pointer of the context a signal interrupted (a ucontext_t). */
void *goc__ctx_fault_sp(void *ucontext);

/* ---- the net poller, the scheduler's side (netpoll.c) -------------------- */

/* g0 with a P: a non-blocking poll if it may find anything; true if it
 * readied a goroutine. */
bool goc__netpoll_check(void);
/* sysmon: poll if nobody has for 10 ms. */
void goc__netpoll_sysmon(int64_t now);
/* stopm for the M that becomes the timed sleeper while a poller is
 * installed: block in poll until the earliest timer. sched.lock held on
 * entry, released on return; m holds an idle P on return if there was
 * one (with the goroutines the poll readied on its run queue). */
void goc__netpoll_sleep(goc__m *m, const goc__poller *np);

/* ---- the scheduler's global state (sched.c) --------------------------- */

typedef struct goc__gqueue {
    goc__g *head, *tail; /* linked through schedlink */
} goc__gqueue;

/* A goroutine that has not started, without a descriptor: when a P's run
 * queue overflows, the plain unstarted goroutines it spills to the global
 * queue become these records and their descriptors are reused at once
 * (findrun.c). A million goroutines spawned faster than they run cost 24
 * bytes each in the queue, not a 256-byte descriptor each. */
typedef struct goc__gnew {
    void (*fn)(void *);
    void *arg;
    uint64_t id;
} goc__gnew;

/* Records per block: 64 KiB, so that a burst grows the heap in few steps
 * (a thread's malloc arena grows by mprotect, once per request past its
 * top: per 3 KiB spill that was a system call per 128 spawns). */
#define GOC__GBATCH ((65536 - 64) / sizeof(goc__gnew))

typedef struct goc__gbatch {
    struct goc__gbatch *next;
    uint32_t head, n; /* rec[head..n) are still queued */
    goc__gnew rec[GOC__GBATCH];
} goc__gbatch;

struct goc__sched {
    pthread_mutex_t lock;         /* guards the fields marked [L] */
    goc__gqueue runq;             /* [L] global run queue: started Gs */
    goc__gqueue newq;             /* [L] and Gs not started yet (findrun.c) */
    goc__gbatch *newb, *newbtail; /* [L] and unstarted ones as records */
    goc__gbatch *gbfree;          /* [L] spare blocks */
    int32_t ngbfree;              /* [L] */
    _Atomic int32_t runqsize;     /* [L] written (Gs and records); read without the lock */
    goc__p *pidle;                /* [L] idle Ps */
    _Atomic int32_t npidle;       /* [L] written; read without the lock */
    goc__m *midle;                /* [L] idle Ms */
    int32_t nmidle;               /* [L] */
    goc__m *tsleeper;             /* [L] idle M sleeping until a timer */
    bool tsleeper_polls;          /* [L] ... blocked in the net poller (netpoll.c) */
    _Atomic int64_t tsleep_until; /* [L] written; its deadline, 0 if none */
    _Atomic int32_t nmspinning;   /* Ms spinning for work */
    int32_t nmsys;                /* [L] Ms running user code without a P */
    int32_t nforeign;             /* [L] live foreign threads that used us */
    int32_t nrun;                 /* [L] goc_run calls waiting for main */
    bool sysmonwait;              /* [L] sysmon sleeps on sysmonnote */
    goc__note sysmonnote;
    _Atomic uint32_t sigquit; /* set by the SIGQUIT handler */

    int32_t nprocs;       /* fixed at init */
    goc__p **allp;        /* fixed at init */
    goc__m *_Atomic allm; /* append-only list */
    _Atomic uint32_t mcount;
    _Atomic uint64_t goidgen;          /* goroutine id batches */
    _Atomic uint64_t ncreated_foreign; /* goroutines created off-P */
    _Atomic uint64_t nexited_foreign;
    _Atomic uint64_t nretake;
    _Atomic uint64_t ntimers; /* pending timers over all Ps */

    /* The net poller (netpoll.c): set once; the goc_now() time of the
     * last poll, or 0 while an M is blocked in one (as Go's lastpoll). */
    const struct goc__poller *_Atomic poller;
    _Atomic int64_t lastpoll;

    /* Free descriptors spilled from the Ps, under gflock. */
    pthread_mutex_t gflock;
    goc__g *gfree;
    int32_t ngfree;
    _Atomic int32_t ngfree_hint; /* ngfree, readable without gflock */

    goc__g *stackwait;          /* [L] runnable Gs waiting for a stack */
    _Atomic int32_t nstackwait; /* [L] written; read without the lock */
};

extern struct goc__sched goc__sched;
extern pthread_mutex_t goc__allg_lock;
extern goc__g *goc__allg; /* under goc__allg_lock: every G descriptor */

/* ---- scheduler entry points (sched.c, proc.c) ------------------------- */

/* The calling thread's M, or NULL on a thread that is not a worker. Never
 * cached across a context switch by the compiler (see sched.c). */
goc__m *goc__getm(void);

/* Enter the runtime: return the P held by this M with the M at depth >= 1.
 * May park the goroutine until a P is free if sysmon took ours. M only. */
goc__p *goc__acquirep_rt(goc__m *m);
/* Leave the runtime (depth - 1; at 0 the P becomes retakeable). */
void goc__releasep_rt(goc__m *m);

/* Put g on p's run queue; next: in runnext. In the runtime, holding p. */
void goc__runqput(goc__p *p, goc__g *g, bool next);
/* Wake an idle P if there is work and nobody is spinning for it. */
void goc__wakep(void);
/* A timer earlier than the timed sleeper's deadline was added: wake it. */
void goc__wakep_timer(void);

/* Global run queue. sched.lock must be held. */
void goc__globrunqput(goc__g *g);
goc__g *goc__globrunqget(goc__p *p, int32_t max, bool fair);
/* Spill n Gs from p's run queue to the global queue (takes sched.lock);
 * the plain unstarted ones become records and their descriptors go back
 * to p's free list. Holding p. */
void goc__globrunqput_spill(goc__p *p, goc__g **batch, uint32_t n);
/* The ids of the goroutines queued as records, for dumps: a malloc'd
 * array (NULL if none or out of memory) and its length in *n; *n is the
 * number queued even when the array could not be had. Takes sched.lock. */
uint64_t *goc__globrunq_ids(size_t *n);
/* Before taking sched.lock for goc__globrunqget(p, max, ...): if records
 * are queued, have the descriptors they need ready on p, so that the taker
 * never allocates (malloc, page faults) under the lock. Holding p. */
void goc__globrunq_prepare(goc__p *p, int32_t max);

/* Ps and Ms (proc.c). sched.lock held for the list operations. */
goc__p *goc__pidleget(void);
void goc__pidleput(goc__p *p);
void goc__acquirep(goc__m *m, goc__p *p);
void goc__startm(goc__p *p, bool spinning);
void goc__handoffp(goc__p *p);
/* Idle this M until it is handed a P (or, if sleeping for a timer, until
 * the timer is due). Returns with m->p set, or NULL on a timer wakeup with
 * no P free. sched.lock must not be held. */
void goc__stopm(goc__m *m, int64_t until);
/* Report a deadlock if nothing can ever run again (the rule is at the top
 * of deadlock.c). sched.lock held. */
void goc__checkdead(void);

/* run queues (runq.c) */
bool goc__runq_put(goc__p *p, goc__g *g); /* false if full */
goc__g *goc__runq_get(goc__p *p);
goc__g *goc__runq_steal(goc__p *p, goc__p *victim, bool stealnext);
bool goc__runq_empty(goc__p *p);
void goc__runq_put_slow(goc__p *p, goc__g *g); /* full: spill half */

/* Scheduling (sched.c, findrun.c). */
void goc__setm(goc__m *m);
/* Switch from cur to next on m (at depth 1); m->after set by the caller. */
void goc__switch(goc__m *m, goc__g *cur, goc__g *next);
void goc__after_switch(void);
/* Next G from p alone (runnext, ring, due timers, global every 61st). */
goc__g *goc__pick_local(goc__p *p, bool *inherit, bool timers);
void goc__new_slice(goc__p *p, bool inherit);
_Noreturn void goc__goexit(goc__m *m);
/* The main goroutine of goc_run finished with result. */
void goc__main_done(goc__g *g, int result);
/* g0's loop: find a G and run it, forever. */
_Noreturn void goc__schedule_loop(goc__m *m);
_Noreturn void goc__mstart(goc__m *m);
void goc__sysmon_start(void);
void goc__sysmon_wake(void);

/* Goroutine lifetime (proc.c). */
goc__g *goc__galloc(goc__p *p);
/* A descriptor that never ran back to p's free list (owner). */
void goc__gput(goc__p *p, goc__g *g);
/* Fill p's free list to n descriptors if memory allows (owner). */
void goc__greserve(goc__p *p, int32_t n);
bool goc__gstart(goc__p *p, goc__g *g);
bool goc__gstart_if_oom(goc__p *p, goc__g *g);
void goc__stackwait_put(goc__g *g);
/* Stack caches (stackcache.c). */
bool goc__stackcache_get(goc__p *p, goc__stack *out);
void goc__stackcache_put(goc__p *p, const goc__stack *s);
bool goc__stackcache_excess(void);
void goc__stackcache_scavenge(int64_t now);
void goc__gfree_unstarted(goc__p *p, goc__g *g);
void goc__stackwait_retry(void);
void goc__gfree(goc__p *p, goc__g *g);
void goc__gentry(void *unused);

/* ---- misc ------------------------------------------------------------- */

uint32_t goc__fastrand(goc__m *m);
void goc__membarrier_init(void);
int goc__ncpu(void);
int goc__maxprocs_compute(void);
void goc__signals_init(void);
void goc__signals_thread_init(void); /* per M: alternate signal stack */
/* Dump every goroutine to fd. */
void goc__dump_all(int fd, const char *header);

#endif /* GOC_RUNTIME_H */
