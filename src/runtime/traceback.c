/*
 * traceback.c — goroutine dumps (SIGQUIT, deadlock, goc_dump) and fatal
 * errors.
 *
 * A parked goroutine is unwound with libunwind from a context built out of
 * its saved registers (goc__ctx_unwind_setup); the running goroutine of
 * the calling thread from its live context. A goroutine running on
 * another thread is only named: stopping it to unwind would need a signal,
 * which is not safe in C. The dump is a snapshot taken without stopping
 * the world: a goroutine may resume while it is printed, in which case its
 * backtrace can be cut short (never unsafe: stacks stay mapped while
 * goc__allg_lock is held).
 */
#include "runtime/runtime.h"

#define UNW_LOCAL_ONLY
#include <libunwind.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define MAX_FRAMES 48

static const char *state_name(goc__g *g)
{
    switch (atomic_load_explicit(&g->status, memory_order_relaxed)) {
    case GOC__G_RUNNABLE:
        return "runnable";
    case GOC__G_RUNNING:
        return "running";
    case GOC__G_WAITING:
    case GOC__G_DUMPING: {
        const char *r = __atomic_load_n(&g->waitreason, __ATOMIC_RELAXED);
        return r ? r : "waiting";
    }
    default:
        return "dead";
    }
}

/* Symbol lookups are slow (libunwind reads the symbol tables each time),
 * and a dump of thousands of goroutines repeats the same few pcs: cache
 * them for the length of one dump. */
#define SYMCACHE 1024

struct sym {
    unw_word_t ip, off;
    bool ok;
    char name[96];
};

static const struct sym *lookup(struct sym *cache, unw_cursor_t *c, unw_word_t ip, struct sym *tmp)
{
    struct sym *e = cache ? &cache[(ip >> 2) % SYMCACHE] : tmp;
    if (!cache || e->ip != ip) {
        e->ip = ip;
        e->ok = unw_get_proc_name(c, e->name, sizeof e->name, &e->off) == 0;
    }
    return e;
}

static void print_frames(FILE *f, unw_context_t *uc, struct sym *cache)
{
    unw_cursor_t c;
    if (unw_init_local(&c, uc) != 0)
        return;
    for (int i = 0; i < MAX_FRAMES; i++) {
        unw_word_t ip = 0;
        struct sym tmp;
        unw_get_reg(&c, UNW_REG_IP, &ip);
        if (ip == 0)
            break;
        const struct sym *s = lookup(cache, &c, ip, &tmp);
        if (s->ok)
            fprintf(f, "%s(...)\n\t+0x%lx pc=0x%lx\n", s->name, (unsigned long)s->off,
                    (unsigned long)ip);
        else
            fprintf(f, "?(...)\n\tpc=0x%lx\n", (unsigned long)ip);
        if (unw_step(&c) <= 0)
            break;
    }
}

/* Keep a parked g from being resumed while we unwind it (goc__ready
 * waits while it is DUMPING). */
static bool pin(goc__g *g)
{
    uint32_t st = GOC__G_WAITING;
    return atomic_compare_exchange_strong_explicit(&g->status, &st, GOC__G_DUMPING,
                                                   memory_order_acq_rel, memory_order_relaxed);
}

static void print_g(FILE *f, goc__g *g, goc__g *self, struct sym *cache)
{
    /* Relaxed atomic reads: a G that is not pinned may be recycled while
     * we print it (the dump is a snapshot); its fields are never torn. */
    const char *name = __atomic_load_n(&g->name, __ATOMIC_RELAXED);
    fprintf(f, "goroutine %llu [%s]", (unsigned long long)__atomic_load_n(&g->id, __ATOMIC_RELAXED),
            state_name(g));
    if (name)
        fprintf(f, " \"%s\"", name);
    fprintf(f, ":\n");
    unw_context_t uc;
    if (g == self) {
        unw_getcontext(&uc);
        print_frames(f, &uc, cache);
    } else if (!pin(g)) {
        /* Running, or runnable (it may start running any moment). */
        fprintf(f, "\t(not parked: no backtrace)\n");
    } else {
        unw_getcontext(&uc);
        goc__ctx_unwind_setup(&uc, g->sp);
        print_frames(f, &uc, cache);
        atomic_store_explicit(&g->status, GOC__G_WAITING, memory_order_release);
    }
    fprintf(f, "\n");
}

void goc__dump_all(int fd, const char *header)
{
    int dupfd = dup(fd);
    FILE *f = dupfd >= 0 ? fdopen(dupfd, "w") : NULL;
    if (!f)
        return;
    if (header)
        fprintf(f, "%s\n\n", header);
    goc__g *self = goc__getg();
    struct sym *cache = calloc(SYMCACHE, sizeof *cache); /* NULL: no cache */
    if (self)
        print_g(f, self, self, cache);
    pthread_mutex_lock(&goc__allg_lock);
    for (goc__g *g = goc__allg; g; g = g->allnext) {
        uint32_t st = atomic_load_explicit(&g->status, memory_order_acquire);
        if (g != self && st != GOC__G_DEAD && st != GOC__G_IDLE)
            print_g(f, g, self, cache);
    }
    pthread_mutex_unlock(&goc__allg_lock);
    /* Goroutines queued without a descriptor (findrun.c): not started,
     * so there is nothing to unwind. */
    size_t nrec;
    uint64_t *ids = goc__globrunq_ids(&nrec);
    if (ids) {
        for (size_t i = 0; i < nrec; i++)
            fprintf(f, "goroutine %llu [runnable]:\n\t(not started: no backtrace)\n\n",
                    (unsigned long long)ids[i]);
    } else if (nrec > 0) {
        fprintf(f, "(%zu more goroutines not started yet: no memory to list them)\n\n", nrec);
    }
    free(ids);
    free(cache);
    fclose(f);
}

GOC_API int goc_dump(int fd)
{
    goc__dump_all(fd, NULL);
    return 0;
}

static _Noreturn void vfatal(bool all, const char *fmt, va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    fflush(stdout);
    char header[600];
    snprintf(header, sizeof header, "fatal error: %s", msg);
    if (all) {
        goc__dump_all(2, header);
    } else {
        goc__g *g = goc__getg();
        if (g) {
            dprintf(2, "%s\n\n", header);
            int d = dup(2);
            FILE *f = d >= 0 ? fdopen(d, "w") : NULL;
            if (f) {
                print_g(f, g, g, NULL);
                fclose(f);
            }
        } else {
            dprintf(2, "%s\n\n(not on a goroutine: thread %lu)\n", header,
                    (unsigned long)pthread_self());
        }
    }
    _exit(2);
}

_Noreturn void goc__fatal(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfatal(false, fmt, ap);
}

_Noreturn void goc__fatal_dump(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfatal(true, fmt, ap);
}
