/*
 * sched.c — switching goroutines: park, ready, yield, exit, and the search
 * for the next goroutine to run.
 *
 * Switch protocol. A goroutine that stops running (parks, yields, exits)
 * picks its successor itself from its P — runnext, then the local ring,
 * with a look at timers and the global queue — and switches straight to
 * it: one context switch per handoff, no detour through the scheduler
 * stack. Only when the P has nothing does it switch to the M's g0, which
 * runs findrunnable (global queue, stealing, idling) on the thread stack.
 *
 * The goroutine being switched out must not become visible to another M
 * before its registers are saved, or that M could resume a half-saved
 * context. So the switching G leaves an "after" action in its M (put me
 * on the run queue; run my unlockf; free me), and whatever runs next on
 * that M — the successor G or g0 — performs it right after the switch
 * (run_after). This is Go's mcall/park_m split, without the extra switch.
 *
 * Fairness. A G readied by a running G goes to runnext and inherits the
 * time slice (schedtick is not bumped), so a ping-pong pair stays on one
 * P with hot caches; after 64 consecutive runnext picks the ring's head
 * goes first, so a pair cannot starve the rest. Every 61st slice takes
 * from the global queue first, so local work cannot starve it either.
 */
#include "runtime/fiber.h"
#include "runtime/runtime.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <time.h>

#define RUNNEXT_STREAK_MAX 64

__thread goc__m *goc__tls_m __attribute__((tls_model("initial-exec")));

/* The compiler may keep a thread-local's address in a register across a
 * call; after a context switch the goroutine may run on another thread.
 * Reading the M through this non-inlined function, whose asm hides the
 * value's origin, forces a fresh read after every switch. */
__attribute__((noinline)) goc__m *goc__getm(void)
{
    goc__m *m = goc__tls_m;
    __asm__ volatile("" : "+r"(m));
    return m;
}

void goc__setm(goc__m *m)
{
    goc__tls_m = m;
}

goc__g *goc__getg(void)
{
    goc__m *m = goc__getm();
    if (!m || m->curg == &m->g0)
        return NULL;
    return m->curg;
}

/* ---- entering and leaving the runtime --------------------------------- *
 *
 * P ownership. An M owns its P (p->status == RUNNING|m->id) from acquirep
 * until it gives the P up or sysmon retakes it; m->inrt says whether the
 * M is in the runtime (touching its P) or running goroutine code, where
 * sysmon may take the P away. Entering the runtime is a store and a load,
 * no locked instruction:
 *     M:       inrt = 1;  barrier;  check p->status == RUNNING|me
 *     sysmon:  CAS p->status RUNNING|me -> RETAKING|me;  barrier;  read inrt
 * With a barrier on both sides at least one of them sees the other's
 * write (Dekker). sysmon's barrier is membarrier(PRIVATE_EXPEDITED), which
 * runs a full fence on every thread of the process, so the M's side needs
 * only a compiler barrier (a full fence where membarrier is missing). If
 * sysmon sees inrt = 1 it puts RUNNING|me back and the M, which may have
 * seen RETAKING, waits for that; otherwise the P is gone and the M, on
 * seeing RETAKING or IDLE or another owner, takes the lost-P path.
 */

bool goc__membarrier_ok;

/* goc__enter_p's slow path: the P this M still owns after raising inrt,
 * or NULL if it lost it. */
goc__p *goc__enter_p_slow(goc__m *m, goc__p *p)
{
    if (!p)
        return NULL;
    uint64_t mine = goc__pstatus(m->id, GOC__P_RUNNING);
    uint64_t deciding = goc__pstatus(m->id, GOC__P_RETAKING);
    for (;;) {
        /* acquire: pairs with sysmon's release when it gives the P back. */
        uint64_t s = atomic_load_explicit(&p->status, memory_order_acquire);
        if (s == mine)
            return p;
        if (s != deciding)
            return NULL;
        sched_yield(); /* sysmon decides within a membarrier */
    }
}

/* Our P was retaken while we ran user code: get any idle P, or park this
 * G on the global queue until an M with a P picks it up. Returns the P
 * held when we run again (depth 1). */
static goc__p *acquirep_lost(goc__m *m)
{
    m->p = NULL;
    m->rtdepth = 1;
    pthread_mutex_lock(&goc__sched.lock);
    goc__p *p = goc__pidleget();
    if (p) {
        goc__sched.nmsys--;
        pthread_mutex_unlock(&goc__sched.lock);
        goc__acquirep(m, p);
        return p;
    }
    pthread_mutex_unlock(&goc__sched.lock);
    /* No P: switch to g0, which queues us globally (AFTER_GLOBAL, which
     * also drops nmsys) and idles this M. */
    goc__g *g = m->curg;
    m->after = GOC__AFTER_GLOBAL;
    m->afterg = g;
    goc__switch(m, g, &m->g0);
    m = goc__getm();
    return m->p;
}

/* Entry from goroutine code in this file: like goc__acquirep_rt, inline,
 * reloading *mp only if the slow path switched goroutines. */
static inline goc__p *enter_rt(goc__m **mp)
{
    goc__m *m = *mp;
    if (m->rtdepth++ > 0)
        return m->p;
    goc__p *p = goc__enter_p(m);
    if (GOC_UNLIKELY(!p)) {
        p = acquirep_lost(m);
        *mp = goc__getm();
    }
    return p;
}

/* The M at the entry of a public call, before any switch: one direct
 * thread-local read (after a switch only goc__getm() is safe). */
static inline goc__m *entry_m(void)
{
    return goc__tls_m;
}

goc__p *goc__acquirep_rt(goc__m *m)
{
    if (m->rtdepth++ > 0)
        return m->p;
    goc__p *p = goc__enter_p(m);
    if (GOC_LIKELY(p != NULL))
        return p;
    return acquirep_lost(m);
}

void goc__releasep_rt(goc__m *m)
{
    if (--m->rtdepth > 0)
        return;
    /* store-release: our P's state is published before sysmon, reading
     * inrt = 0 with acquire, may hand the P to another M. */
    atomic_store_explicit(&m->inrt, 0, memory_order_release);
}

/* Like goc__acquirep_rt, but never parks: NULL if this M has no P. */
static goc__p *acquirep_try(goc__m *m)
{
    if (m->rtdepth > 0) {
        if (!m->p)
            return NULL; /* g0 of an M without a P (the poll sleeper) */
        m->rtdepth++;
        return m->p;
    }
    goc__p *p = goc__enter_p(m);
    if (p) {
        m->rtdepth = 1;
        return p;
    }
    atomic_store_explicit(&m->inrt, 0, memory_order_release);
    return NULL;
}

/* ---- the switch -------------------------------------------------------- */

static void check_canary(goc__g *g)
{
    if (GOC_UNLIKELY(g->stack.canary != NULL) && *g->stack.canary != GOC__STACK_CANARY)
        goc__fatal("stack overflow in goroutine %llu (unguarded stack of %zu bytes)",
                   (unsigned long long)g->id, (size_t)(g->stack.hi - g->stack.lo));
}

/* Perform the action the previous G left (see the top of this file). */
static void run_after(goc__m *m)
{
    goc__g *g = m->afterg;
    switch (m->after) {
    case GOC__AFTER_NONE:
        return;
    case GOC__AFTER_PARK:
        /* WAITING only now that g's registers are saved: a dump may
         * unwind it from here on. */
        atomic_store_explicit(&g->status, GOC__G_WAITING, memory_order_release);
        if (m->unlockf && !m->unlockf(g, m->unlockarg)) {
            atomic_store_explicit(&g->status, GOC__G_RUNNABLE, memory_order_relaxed);
            goc__runqput(m->p, g, true);
        }
        break;
    case GOC__AFTER_YIELD:
        atomic_store_explicit(&g->status, GOC__G_RUNNABLE, memory_order_relaxed);
        goc__runqput(m->p, g, false);
        break;
    case GOC__AFTER_GLOBAL:
        atomic_store_explicit(&g->status, GOC__G_RUNNABLE, memory_order_relaxed);
        pthread_mutex_lock(&goc__sched.lock);
        goc__globrunqput(g);
        goc__sched.nmsys--;
        pthread_mutex_unlock(&goc__sched.lock);
        goc__wakep(); /* an idle P must pick it up */
        break;
    case GOC__AFTER_EXIT:
        goc__gfree(m->p, g);
        break;
    }
    m->after = GOC__AFTER_NONE;
    m->afterg = NULL;
    m->unlockf = NULL;
}

/* Land after a switch: tell the sanitizers, then do the pending action. */
void goc__after_switch(void)
{
    goc__m *m = goc__getm();
    goc__fiber_enter(m->curg);
    run_after(m);
}

/* Switch from cur to next on m, at depth 1. Returns when cur runs again,
 * possibly on another M (reload m with goc__getm). */
void goc__switch(goc__m *m, goc__g *cur, goc__g *next)
{
    check_canary(cur);
    while (GOC_UNLIKELY(!next->sp) && !goc__gstart(m->p, next)) {
        /* No memory for its stack: it waits (sysmon retries); run another. */
        pthread_mutex_lock(&goc__sched.lock);
        goc__stackwait_put(next);
        pthread_mutex_unlock(&goc__sched.lock);
        bool inherit;
        next = goc__pick_local(m->p, &inherit, false);
        if (!next)
            next = &m->g0;
    }
    if (next == cur)
        return; /* g0 found nothing it could start */
    m->curg = next;
    next->m = m;
    cur->m = NULL;
    if (next != &m->g0)
        atomic_store_explicit(&next->status, GOC__G_RUNNING, memory_order_relaxed);
    if (m->p) /* owner-only counter: no locked instruction */
        atomic_store_explicit(&m->p->nswitch,
                              atomic_load_explicit(&m->p->nswitch, memory_order_relaxed) + 1,
                              memory_order_relaxed);
    goc__fiber_leave(cur, next, m->after == GOC__AFTER_EXIT);
    goc__ctx_switch(&cur->sp, next->sp);
    goc__after_switch();
}

/* ---- picking the next G ------------------------------------------------ */

/* The next G from p alone, or NULL. *inherit: it came from runnext. */
goc__g *goc__pick_local(goc__p *p, bool *inherit, bool timers)
{
    *inherit = false;
    int64_t t0 = atomic_load_explicit(&p->timer0, memory_order_relaxed);
    if (t0 != 0) {
        int64_t now = goc_now();
        if (t0 <= now) {
            /* A parking goroutine may still hold the lock its unlockf
             * releases, and a timer callback may need that lock (a
             * channel's): then let g0 run the timers, after the switch. */
            if (!timers)
                return NULL;
            goc__timers_run(p, now);
        }
    }
    uint32_t tick = atomic_load_explicit(&p->schedtick, memory_order_relaxed);
    if (tick % 61 == 0 && atomic_load_explicit(&goc__sched.runqsize, memory_order_relaxed) > 0) {
        goc__globrunq_prepare(p, 1);
        pthread_mutex_lock(&goc__sched.lock);
        goc__g *g = goc__globrunqget(p, 1, true);
        pthread_mutex_unlock(&goc__sched.lock);
        if (g)
            return g;
    }
    goc__g *g = NULL;
    /* Plain load first: the exchange is a locked instruction. */
    bool hasnext = atomic_load_explicit(&p->runnext, memory_order_relaxed) != NULL;
    if (hasnext && p->runnext_streak < RUNNEXT_STREAK_MAX) {
        g = atomic_exchange_explicit(&p->runnext, NULL, memory_order_acquire);
        if (g) {
            p->runnext_streak++;
            *inherit = true;
            return g;
        }
    }
    p->runnext_streak = 0;
    g = goc__runq_get(p);
    if (!g && hasnext)
        g = atomic_exchange_explicit(&p->runnext, NULL, memory_order_acquire);
    return g;
}

/* Start a new slice unless the G inherits the current one. */
void goc__new_slice(goc__p *p, bool inherit)
{
    if (!inherit)
        atomic_store_explicit(&p->schedtick,
                              atomic_load_explicit(&p->schedtick, memory_order_relaxed) + 1,
                              memory_order_relaxed);
}

/* Leave the running G (its after-action is set) for the next local G, or
 * for g0 if the P has none. At depth 1. */
static void schedule_from(goc__m *m, goc__g *cur)
{
    bool inherit;
    goc__g *next = goc__pick_local(m->p, &inherit, false);
    if (next)
        goc__new_slice(m->p, inherit);
    else
        next = &m->g0;
    goc__switch(m, cur, next);
}

/* ---- park and ready ---------------------------------------------------- */

static void park_thread(goc__g *g, bool (*unlockf)(goc__g *, void *), void *arg)
{
    goc__note_clear(&g->threadnote);
    atomic_store_explicit(&g->status, GOC__G_WAITING, memory_order_relaxed);
    if (unlockf && !unlockf(g, arg)) {
        atomic_store_explicit(&g->status, GOC__G_RUNNING, memory_order_relaxed);
        return;
    }
    goc__note_sleep(&g->threadnote);
    atomic_store_explicit(&g->status, GOC__G_RUNNING, memory_order_relaxed);
}

/* Enter the runtime for an operation that may take a lock and then park
 * (a channel, a semaphore): holding its P (in the runtime) from before the
 * lock until the park, a goroutine cannot lose its P to sysmon while it
 * holds the lock, and so never waits for a P with the lock held. Returns
 * the M, or NULL on a thread that is not running a goroutine. */
goc__m *goc__enter_slow(goc__m *m)
{
    /* goc__enter (runtime.h) raised rtdepth and inrt; the P is gone. */
    acquirep_lost(m);
    return goc__getm();
}

/* Park between goc__enter and goc__leave: *mp is the M we wake on. */
void goc__park_m(goc__m **mp, bool (*unlockf)(goc__g *, void *), void *arg, const char *reason)
{
    goc__m *m = *mp;
    if (!m || m->curg == &m->g0) {
        if (m)
            goc__fatal("blocking operation (%s) in a timer callback", reason);
        park_thread(goc__getg_or_thread(), unlockf, arg);
        return;
    }
    if (m->rtdepth != 1)
        goc__fatal("park at runtime depth %d (%s)", m->rtdepth, reason);
    goc__g *g = m->curg;
    __atomic_store_n(&g->waitreason, reason, __ATOMIC_RELAXED); /* read by dumps */
    m->after = GOC__AFTER_PARK;
    m->afterg = g;
    m->unlockf = unlockf;
    m->unlockarg = arg;
    schedule_from(m, g);
    *mp = goc__getm();
}

void goc__park(bool (*unlockf)(goc__g *, void *), void *arg, const char *reason)
{
    goc__m *m = goc__enter();
    goc__park_m(&m, unlockf, arg, reason);
    goc__leave(m);
}

void goc__runqput(goc__p *p, goc__g *g, bool next)
{
    if (next) {
        goc__g *old = atomic_exchange_explicit(&p->runnext, g, memory_order_acq_rel);
        if (!old)
            return;
        g = old; /* kick the old runnext to the tail */
    }
    if (!goc__runq_put(p, g))
        goc__runq_put_slow(p, g);
}

void goc__ready(goc__g *g)
{
    if (g->flags & GOC__GF_THREAD) {
        atomic_store_explicit(&g->status, GOC__G_RUNNABLE, memory_order_relaxed);
        goc__note_wakeup(&g->threadnote);
        return;
    }
    uint32_t st = GOC__G_WAITING;
    while (!atomic_compare_exchange_weak_explicit(&g->status, &st, GOC__G_RUNNABLE,
                                                  memory_order_acq_rel, memory_order_relaxed)) {
        if (st == GOC__G_DUMPING) /* a dump is unwinding it: wait */
            sched_yield();
        else if (st != GOC__G_WAITING)
            goc__fatal("goc__ready of goroutine %llu, which is not waiting (status %u)",
                       (unsigned long long)g->id, st);
        st = GOC__G_WAITING;
    }
    goc__m *m = goc__getm();
    if (m && m->polling) { /* the poll sleeper runs them itself (netpoll.c) */
        g->schedlink = m->pollq;
        m->pollq = g;
        return;
    }
    goc__p *p = m ? acquirep_try(m) : NULL;
    if (p) {
        goc__runqput(p, g, true);
        goc__releasep_rt(m);
    } else {
        pthread_mutex_lock(&goc__sched.lock);
        goc__globrunqput(g);
        pthread_mutex_unlock(&goc__sched.lock);
    }
    goc__wakep();
}

/* ---- public: yield, exit, sleep ---------------------------------------- */

/* One pass over the other Ps for half of a run queue; p's ring is empty. */
static goc__g *steal_for_yield(goc__m *m, goc__p *p)
{
    int32_t n = goc__sched.nprocs;
    if (n == 1)
        return NULL;
    uint32_t start = goc__fastrand(m) % (uint32_t)n;
    for (int32_t i = 0; i < n; i++) {
        goc__p *v = goc__sched.allp[(start + (uint32_t)i) % (uint32_t)n];
        if (v == p)
            continue;
        goc__g *g = goc__runq_steal(p, v, false);
        if (g)
            return g;
    }
    return NULL;
}

GOC_API void goc_yield(void)
{
    goc__attach_thread();
    goc__m *m = entry_m();
    if (!m || m->curg == &m->g0) {
        sched_yield();
        return;
    }
    goc__p *p = enter_rt(&m);
    goc__g *g = m->curg;
    bool inherit;
    goc__g *next = goc__pick_local(p, &inherit, true);
    if (!next && atomic_load_explicit(&goc__sched.runqsize, memory_order_relaxed) > 0) {
        goc__globrunq_prepare(p, 0);
        pthread_mutex_lock(&goc__sched.lock);
        next = goc__globrunqget(p, 0, false);
        pthread_mutex_unlock(&goc__sched.lock);
        inherit = false;
    }
    if (!next) {
        /* Balance: a lone yielder must not run ten times as often as the
         * goroutines queued on a busier P (Go's Gosched goes through the
         * global queue for the same reason). */
        next = steal_for_yield(m, p);
        inherit = false;
    }
    if (!next) {
        /* Nothing else to run here: keep running, but start a new slice
         * so sysmon sees progress. */
        goc__new_slice(p, false);
        goc__releasep_rt(m);
        return;
    }
    m->after = GOC__AFTER_YIELD;
    m->afterg = g;
    goc__new_slice(p, inherit);
    goc__switch(m, g, next);
    goc__releasep_rt(goc__getm());
}

/* End the running G: called on its own stack; never returns. */
_Noreturn void goc__goexit(goc__m *m)
{
    goc__p *p = goc__acquirep_rt(m);
    m = goc__getm();
    goc__g *g = m->curg;
    atomic_store_explicit(&g->status, GOC__G_DEAD, memory_order_relaxed);
    atomic_store_explicit(&p->nexited, atomic_load_explicit(&p->nexited, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    m->after = GOC__AFTER_EXIT;
    m->afterg = g;
    schedule_from(m, g);
    __builtin_unreachable();
}

GOC_API _Noreturn void goc_exit(void)
{
    goc__m *m = goc__getm();
    if (!m || m->curg == &m->g0)
        goc__fatal("goc_exit called from a thread that is not a goroutine");
    if (m->curg->flags & GOC__GF_MAIN)
        goc__main_done(m->curg, 0);
    goc__goexit(m);
}

static bool sleep_unlock(goc__g *g, void *arg)
{
    goc__m *m = goc__getm();
    /* No room for the timer (out of memory): don't park; goc_sleep
     * yields until the time has come. */
    bool *parked = arg;
    *parked = true; /* before the add: once added, g may run at once */
    if (goc__timer_add(m->p, &g->sleeptimer) == 0)
        return true;
    *parked = false;
    return false;
}

static void sleep_fire(goc__timer *t, void *arg, int64_t now)
{
    (void)t, (void)now;
    goc__ready(arg);
}

GOC_API void goc_sleep(goc_duration d)
{
    goc__attach_thread();
    goc__g *g = goc__getg();
    if (!g) {
        if (d > 0) {
            struct timespec ts = {d / GOC_SECOND, d % GOC_SECOND};
            while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
                ;
        }
        return;
    }
    if (d <= 0) {
        goc_yield();
        return;
    }
    int64_t now = goc_now();
    g->sleeptimer.when = d > INT64_MAX - now ? INT64_MAX : now + d;
    g->sleeptimer.fn = sleep_fire;
    g->sleeptimer.arg = g;
    bool parked = false;
    goc__park(sleep_unlock, &parked, "sleep");
    while (!parked && goc_now() < g->sleeptimer.when)
        goc_yield();
    __asm__ volatile(""); /* no tail call: keep goc_sleep in backtraces */
}
