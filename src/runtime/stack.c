/*
 * stack.c — goroutine stacks.
 *
 * A stack is an anonymous private mapping with MAP_NORESERVE, so its pages
 * are committed only when touched: a goroutine that uses one page costs one
 * page. Below each stack lies a PROT_NONE guard page, so an overflow faults
 * and the SIGSEGV handler (signal.c) names the goroutine.
 *
 * Each guarded stack costs the kernel two mappings (the guard and the
 * stack), and vm.max_map_count caps mappings per process (65,530 by
 * default). We spend at most about half of that budget on guarded stacks;
 * past it, stacks of the default size are carved from 64-stack chunks
 * without guards (one mapping per chunk), overflow is detected by a canary
 * word at the bottom of each stack (checked whenever the goroutine is
 * switched out), and a one-time warning says how to raise the limit.
 *
 * Locking: chunk slots are taken and returned under chunk_lock; the
 * counters are atomics read for goc_read_stats.
 */
#include "runtime/runtime.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <valgrind/valgrind.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define UNPOISON(p, n) __asan_unpoison_memory_region((p), (n))
#else
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#define CHUNK_SLOTS 64

static size_t pagesz;
static size_t default_size;
static int64_t guard_budget;     /* guarded stacks we may map */
static _Atomic int64_t nguarded; /* guarded stacks mapped now */
static _Atomic uint64_t nmapped; /* all stacks mapped now */
static _Atomic uint64_t nunguarded;
static _Atomic uint64_t bytes_mapped;
static atomic_flag warned = ATOMIC_FLAG_INIT;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static _Atomic size_t default_size_ready; /* default_size once stack_init ran, else 0 */

/* Free slots of unguarded chunks (default size only), linked through the
 * first word of each slot's stack. Under chunk_lock. */
static pthread_mutex_t chunk_lock = PTHREAD_MUTEX_INITIALIZER;
static char *chunk_free;

static size_t parse_size(const char *s)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end == 'k' || *end == 'K')
        v <<= 10;
    else if (*end == 'm' || *end == 'M')
        v <<= 20;
    return (size_t)v;
}

static size_t round_page(size_t n)
{
    return (n + pagesz - 1) & ~(pagesz - 1);
}

static void stack_init(void)
{
    pagesz = (size_t)sysconf(_SC_PAGESIZE);
    default_size = 256 * 1024;
    const char *env = getenv("GOC_STACK_SIZE");
    if (env && *env) {
        size_t v = parse_size(env);
        if (v >= GOC__STACK_MIN && v <= GOC__STACK_MAX)
            default_size = v;
        else
            fprintf(stderr, "goc: ignoring GOC_STACK_SIZE=%s (want 16k..1024m)\n", env);
    }
    default_size = round_page(default_size);
    long maxmap = 65530;
    FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
    if (f) {
        if (fscanf(f, "%ld", &maxmap) != 1)
            maxmap = 65530;
        fclose(f);
    }
    /* Leave the other half (and at least 8k) for the program itself. */
    long reserve = maxmap / 2 > 8192 ? maxmap / 2 : 8192;
    guard_budget = maxmap > reserve ? (maxmap - reserve) / 2 : 0;
}

size_t goc__stack_default_size(void)
{
    /* Every start and exit of a goroutine asks: one load, not a call. */
    size_t v = atomic_load_explicit(&default_size_ready, memory_order_acquire);
    if (GOC_LIKELY(v != 0))
        return v;
    pthread_once(&init_once, stack_init);
    atomic_store_explicit(&default_size_ready, default_size, memory_order_release);
    return default_size;
}

GOC_API size_t goc_default_stack_size(void)
{
    return goc__stack_default_size();
}

static void warn_unguarded(void)
{
    if (atomic_flag_test_and_set(&warned))
        return;
    fprintf(stderr,
            "goc: vm.max_map_count leaves no room for more guard pages after %lld "
            "goroutine stacks; further stacks are unguarded (an overflow is caught by a "
            "canary, after the fact). To keep guard pages, raise the limit to about "
            "2 x goroutines + 65530, e.g. sysctl -w vm.max_map_count=2200000\n",
            (long long)atomic_load(&nmapped));
}

static void account(const goc__stack *s, size_t size, int sign)
{
    atomic_fetch_add_explicit(&nmapped, (uint64_t)(int64_t)sign, memory_order_relaxed);
    atomic_fetch_add_explicit(&bytes_mapped, (uint64_t)((int64_t)size * sign),
                              memory_order_relaxed);
    if (s->guarded)
        atomic_fetch_add_explicit(&nguarded, sign, memory_order_relaxed);
    else
        atomic_fetch_add_explicit(&nunguarded, (uint64_t)(int64_t)sign, memory_order_relaxed);
}

/* Commit the top page of a new stack now, in one system call instead of a
 * page fault when the goroutine starts (a fault costs microseconds on a
 * VM). Best effort: before Linux 5.14 the first touch faults as before. */
static void prefault_top(const goc__stack *s)
{
#ifdef MADV_POPULATE_WRITE
    madvise(s->hi - pagesz, pagesz, MADV_POPULATE_WRITE);
#else
    (void)s;
#endif
}

static int alloc_guarded(goc__stack *s, size_t size)
{
    size_t len = size + pagesz;
    char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (p == MAP_FAILED)
        return -ENOMEM;
    if (mprotect(p, pagesz, PROT_NONE) != 0) {
        munmap(p, len);
        return -EMFILE; /* out of mappings: the caller falls back */
    }
    *s = (goc__stack){.lo = p + pagesz, .hi = p + len, .map = p, .maplen = len, .guarded = true};
    return 0;
}

/* Guarded stacks of the default size come GUARD_BATCH to an mmap (each
 * still gets its own guard page and is unmapped on its own later), which
 * saves a system call per stack when a burst of goroutines starts. */
#define GUARD_BATCH 16
static pthread_mutex_t batch_lock = PTHREAD_MUTEX_INITIALIZER;
static goc__stack batch[GUARD_BATCH]; /* under batch_lock */
static int nbatch;

static int refill_batch(size_t size)
{
    size_t len = size + pagesz;
    char *p = mmap(NULL, len * GUARD_BATCH, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (p == MAP_FAILED)
        return -ENOMEM;
    for (int i = 0; i < GUARD_BATCH; i++) {
        char *m = p + (size_t)i * len;
        if (mprotect(m, pagesz, PROT_NONE) != 0) {
            munmap(m, len * (size_t)(GUARD_BATCH - i));
            return nbatch > 0 ? 0 : -EMFILE; /* out of mappings */
        }
        batch[nbatch++] =
            (goc__stack){.lo = m + pagesz, .hi = m + len, .map = m, .maplen = len, .guarded = true};
    }
    return nbatch > 0 ? 0 : -ENOMEM;
}

static int alloc_guarded_default(goc__stack *s, size_t size)
{
    pthread_mutex_lock(&batch_lock);
    int rc = nbatch > 0 ? 0 : refill_batch(size);
    if (rc == 0)
        *s = batch[--nbatch];
    pthread_mutex_unlock(&batch_lock);
    return rc;
}

/* Take a slot from an unguarded chunk, mapping a new chunk if none is free.
 *
 * A chunk is one page, then CHUNK_SLOTS stacks. Each slot keeps the canary
 * of the slot above it in its own top word (hi - 8), and the first slot's
 * in the leading page: an overflow out of a slot clobbers the word just
 * below its lo first. These words sit in pages that are touched anyway (a
 * stack's top page), so the canary costs no memory. A free slot's list
 * link is at hi - 16, for the same reason. */
static int alloc_packed(goc__stack *s, size_t size)
{
    pthread_mutex_lock(&chunk_lock);
    if (!chunk_free) {
        char *c = mmap(NULL, size * CHUNK_SLOTS + pagesz, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
        if (c == MAP_FAILED) {
            pthread_mutex_unlock(&chunk_lock);
            return -ENOMEM;
        }
        *(uint64_t *)(c + pagesz - 8) = GOC__STACK_CANARY;
        for (int i = CHUNK_SLOTS - 1; i >= 0; i--) {
            char *hi = c + pagesz + (size_t)(i + 1) * size;
            *(uint64_t *)(hi - 8) = GOC__STACK_CANARY;
            *(char **)(hi - 16) = chunk_free;
            chunk_free = hi;
        }
    }
    char *hi = chunk_free;
    chunk_free = *(char **)(hi - 16);
    pthread_mutex_unlock(&chunk_lock);
    *s = (goc__stack){.lo = hi - size, .hi = hi, .map = hi - size, .maplen = 0, .guarded = false};
    s->canary = (uint64_t *)(s->lo - 8);
    return 0;
}

/* An unmapped-per-stack fallback for odd sizes when guards are exhausted. */
static int alloc_plain(goc__stack *s, size_t size)
{
    char *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (p == MAP_FAILED)
        return -ENOMEM;
    *s = (goc__stack){.lo = p, .hi = p + size, .map = p, .maplen = size, .guarded = false};
    s->canary = (uint64_t *)p; /* costs this stack its bottom page */
    *s->canary = GOC__STACK_CANARY;
    return 0;
}

int goc__stack_alloc(goc__stack *s, size_t size)
{
    pthread_once(&init_once, stack_init);
    size = round_page(size ? size : default_size);
    /* -EMFILE: no guard page for want of mappings (our budget, or the
     * kernel's limit); -ENOMEM: no memory, and no point in falling back. */
    int rc = -EMFILE;
    if (atomic_load_explicit(&nguarded, memory_order_relaxed) < guard_budget)
        rc = size == default_size ? alloc_guarded_default(s, size) : alloc_guarded(s, size);
    if (rc == -ENOMEM)
        return rc;
    if (rc != 0) {
        warn_unguarded();
        rc = size == default_size ? alloc_packed(s, size) : alloc_plain(s, size);
        if (rc != 0)
            return rc;
    }
    if (s->guarded)
        prefault_top(s);
    account(s, size, +1);
    s->vg_id = VALGRIND_STACK_REGISTER(s->lo, s->hi);
    return 0;
}

void goc__stack_free(goc__stack *s)
{
    size_t size = (size_t)(s->hi - s->lo);
    UNPOISON(s->lo, size);
    account(s, size, -1);
    VALGRIND_STACK_DEREGISTER(s->vg_id);
    if (s->maplen) {
        munmap(s->map, s->maplen);
    } else {
        /* Give the pages back but keep the slot (and the chunk) mapped,
         * and the top page, which holds the canary of the slot above. */
        madvise(s->lo, size - pagesz, MADV_DONTNEED);
        pthread_mutex_lock(&chunk_lock);
        *(char **)(s->hi - 16) = chunk_free;
        chunk_free = s->hi;
        pthread_mutex_unlock(&chunk_lock);
    }
    s->lo = s->hi = s->map = NULL;
}

void goc__stack_stats(uint64_t *mapped, uint64_t *unguarded, uint64_t *bytes)
{
    *mapped = atomic_load_explicit(&nmapped, memory_order_relaxed);
    *unguarded = atomic_load_explicit(&nunguarded, memory_order_relaxed);
    *bytes = atomic_load_explicit(&bytes_mapped, memory_order_relaxed);
}

bool goc__stack_is_guard_fault(const goc__stack *s, const void *addr)
{
    const char *a = addr;
    return s->lo && a < s->lo + 256 && a >= s->lo - (pagesz ? pagesz : 4096) * 2;
}
