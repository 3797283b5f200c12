/*
 * goroutine.c — creating goroutines (goc_go, goc_run), their first and
 * last moments, ids, thread-Gs for foreign threads, and counters.
 */
#include "runtime/fiber.h"
#include "runtime/runtime.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define GOID_BATCH 16

/* goc_run's rendezvous with its main goroutine; on the caller's stack. */
struct run_arg {
    int (*fn)(void *);
    void *arg;
    int result;
    goc__note done;
};

/* Goroutine 1 is the first goc_run's main, as in Go; ids from goidgen
 * start at 2. */
static _Atomic bool main1_taken;

static uint64_t newid(goc__p *p);

static uint64_t mainid(void)
{
    if (!atomic_exchange_explicit(&main1_taken, true, memory_order_relaxed))
        return 1;
    return newid(NULL);
}

static uint64_t newid(goc__p *p)
{
    if (!p)
        return atomic_fetch_add_explicit(&goc__sched.goidgen, 1, memory_order_relaxed) + 2;
    if (p->goid_next == p->goid_end) {
        p->goid_next =
            atomic_fetch_add_explicit(&goc__sched.goidgen, GOID_BATCH, memory_order_relaxed) + 2;
        p->goid_end = p->goid_next + GOID_BATCH;
    }
    return p->goid_next++;
}

/* First code on a new goroutine's stack (via goc__ctx_start). */
void goc__gentry(void *unused)
{
    (void)unused;
    goc__after_switch();
    goc__m *m = goc__getm();
    goc__g *g = m->curg;
    goc__releasep_rt(m);
    g->fn(g->arg);
    goc__goexit(goc__getm());
}

static int spawn(void (*fn)(void *), void *arg, size_t stack, const char *name, uint32_t flags,
                 uint64_t *id)
{
    int rc = goc__init();
    if (rc != 0)
        return rc;
    /* In the runtime holding a P (g0, a timer callback, already is), or
     * NULL on a plain thread. */
    goc__m *m = goc__enter();
    goc__p *p = m ? m->p : NULL;
    goc__g *g = goc__galloc(p);
    if (!g) {
        goc__leave(m);
        return -ENOMEM;
    }
    /* Only the descriptor's first cache line: a free descriptor's name is
     * NULL (goc__gfree clears a named one), and its stale waitreason is
     * never shown (dumps show it only while WAITING, and park sets it). */
    __atomic_store_n(&g->id, (flags & GOC__GF_MAIN) ? mainid() : newid(p), __ATOMIC_RELAXED);
    g->fn = fn;
    g->arg = arg;
    if (name) {
        __atomic_store_n(&g->name, name, __ATOMIC_RELAXED);
        flags |= GOC__GF_NAMED;
    }
    g->flags = flags;
    g->stack_size = stack;
    if (!goc__gstart_if_oom(p, g)) {
        goc__gfree_unstarted(p, g);
        goc__leave(m);
        return -ENOMEM;
    }
    /* release: a dump that sees RUNNABLE sees the fields above. */
    atomic_store_explicit(&g->status, GOC__G_RUNNABLE, memory_order_release);
    if (id)
        *id = g->id;
    if (p) {
        atomic_store_explicit(&p->ncreated,
                              atomic_load_explicit(&p->ncreated, memory_order_relaxed) + 1,
                              memory_order_relaxed);
        goc__runqput(p, g, true);
    } else {
        atomic_fetch_add_explicit(&goc__sched.ncreated_foreign, 1, memory_order_relaxed);
        pthread_mutex_lock(&goc__sched.lock);
        if (flags & GOC__GF_MAIN)
            goc__sched.nrun++;
        goc__globrunqput(g);
        pthread_mutex_unlock(&goc__sched.lock);
    }
    goc__leave(m);
    goc__wakep();
    return 0;
}

GOC_API int goc_go(void (*fn)(void *), void *arg)
{
    if (!fn)
        return goc__errset(-EINVAL, "goc_go: NULL function");
    goc__attach_thread(); /* it may ready them later */
    int rc = spawn(fn, arg, 0, NULL, 0, NULL);
    return GOC_UNLIKELY(rc < 0) ? goc__errset(rc, "goc_go: out of memory for a goroutine") : rc;
}

GOC_API int goc_go_with(void (*fn)(void *), void *arg, const goc_go_opts *opts)
{
    if (!fn)
        return goc__errset(-EINVAL, "goc_go_with: NULL function");
    goc_go_opts o = opts ? *opts : (goc_go_opts){0};
    if (o.stack_size > GOC__STACK_MAX)
        return goc__errorf(-EINVAL, "goc_go_with: stack size %zu above 1 GiB", o.stack_size);
    if (o.stack_size && o.stack_size < GOC__STACK_MIN)
        o.stack_size = GOC__STACK_MIN;
    goc__attach_thread(); /* it may ready them later */
    int rc = spawn(fn, arg, o.stack_size, o.name, 0, o.id);
    return rc < 0 ? goc__errset(rc, "goc_go_with: out of memory for a goroutine") : rc;
}

static void main_entry(void *a)
{
    struct run_arg *ra = a;
    goc__main_done(goc__getg(), ra->fn(ra->arg));
}

void goc__main_done(goc__g *g, int result)
{
    if (!(g->flags & GOC__GF_MAIN))
        return;
    g->flags &= ~GOC__GF_MAIN;
    struct run_arg *ra = g->arg;
    ra->result = result;
    pthread_mutex_lock(&goc__sched.lock);
    goc__sched.nrun--;
    pthread_mutex_unlock(&goc__sched.lock);
    goc__note_wakeup(&ra->done); /* ra is gone after this */
}

GOC_API int goc_run(int (*main_fn)(void *), void *arg)
{
    if (!main_fn)
        return goc__errset(-EINVAL, "goc_run: NULL main function");
    if (goc__getm())
        return goc__errset(-EDEADLK, "goc_run: called from a goroutine");
    struct run_arg ra = {.fn = main_fn, .arg = arg};
    goc__note_clear(&ra.done);
    int rc = spawn(main_entry, &ra, 0, "main", GOC__GF_MAIN, NULL);
    if (rc != 0)
        return goc__errop(rc, "goc_run");
    goc__note_sleep(&ra.done);
    return ra.result;
}

/* ---- thread-Gs ---------------------------------------------------------- */

/* A thread's G lives in its thread-local storage: registering a thread
 * cannot fail for lack of memory, and it goes with the thread. */
static __thread goc__g tls_threadg_storage;
static __thread goc__g *tls_threadg;
static pthread_key_t threadg_key;
static pthread_once_t threadg_once = PTHREAD_ONCE_INIT;

static void threadg_exit(void *v)
{
    goc__g *g = v;
    free(g->errbuf);
    g->errbuf = NULL;
    pthread_mutex_lock(&goc__sched.lock);
    goc__sched.nforeign--;
    pthread_mutex_unlock(&goc__sched.lock);
}

static void threadg_init(void)
{
    pthread_key_create(&threadg_key, threadg_exit);
}

goc__g *goc__getg_or_thread(void)
{
    goc__g *g = goc__getg();
    if (g)
        return g;
    if (tls_threadg)
        return tls_threadg;
    pthread_once(&threadg_once, threadg_init);
    g = &tls_threadg_storage;
    g->flags = GOC__GF_THREAD;
    g->id = 0;
    atomic_store_explicit(&g->status, GOC__G_RUNNING, memory_order_relaxed);
    pthread_mutex_lock(&goc__sched.lock);
    goc__sched.nforeign++;
    pthread_mutex_unlock(&goc__sched.lock);
    pthread_setspecific(threadg_key, g);
    tls_threadg = g;
    return g;
}

void goc__attach_thread_slow(void)
{
    if (!tls_threadg)
        (void)goc__getg_or_thread();
}

GOC_API void goc_attach_thread(void)
{
    goc__attach_thread();
}

/* ---- introspection ------------------------------------------------------ */

GOC_API uint64_t goc_id(void)
{
    goc__g *g = goc__getg();
    return g ? g->id : 0;
}

static void count(uint64_t *created, uint64_t *exited)
{
    uint64_t c = atomic_load_explicit(&goc__sched.ncreated_foreign, memory_order_relaxed);
    uint64_t e = atomic_load_explicit(&goc__sched.nexited_foreign, memory_order_relaxed);
    for (int32_t i = 0; i < goc__sched.nprocs; i++) {
        c += atomic_load_explicit(&goc__sched.allp[i]->ncreated, memory_order_relaxed);
        e += atomic_load_explicit(&goc__sched.allp[i]->nexited, memory_order_relaxed);
    }
    *created = c;
    *exited = e;
}

GOC_API size_t goc_numgoroutine(void)
{
    if (goc__init() != 0)
        return 0;
    uint64_t c, e;
    count(&c, &e);
    return c > e ? (size_t)(c - e) : 0;
}

GOC_API void goc_read_stats(goc_stats *st)
{
    memset(st, 0, sizeof *st);
    if (goc__init() != 0)
        return;
    uint64_t c, e;
    count(&c, &e);
    st->goroutines = c > e ? c - e : 0;
    st->goroutines_created = c;
    st->maxprocs = (uint64_t)goc__sched.nprocs;
    st->threads = atomic_load(&goc__sched.mcount);
    st->idle_procs = (uint64_t)atomic_load(&goc__sched.npidle);
    for (int32_t i = 0; i < goc__sched.nprocs; i++) {
        st->context_switches +=
            atomic_load_explicit(&goc__sched.allp[i]->nswitch, memory_order_relaxed);
        st->steals += atomic_load_explicit(&goc__sched.allp[i]->nsteal, memory_order_relaxed);
    }
    st->retakes = atomic_load(&goc__sched.nretake);
    /* Live timers: the heaps' entries less those stopped and not yet swept
     * (the second count is approximate, so clamp). */
    int64_t live = (int64_t)atomic_load(&goc__sched.ntimers);
    for (int32_t i = 0; i < goc__sched.nprocs; i++)
        live -= atomic_load_explicit(&goc__sched.allp[i]->ndeleted, memory_order_relaxed);
    st->timers = live > 0 ? (uint64_t)live : 0;
    goc__stack_stats(&st->stacks_mapped, &st->stacks_unguarded, &st->stack_bytes_mapped);
}
