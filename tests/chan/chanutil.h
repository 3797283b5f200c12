/*
 * chanutil.h — small helpers shared by the channel and select tests
 * (header-only, all static). Builds on runtime/util.h.
 */
#ifndef GOC_TESTS_CHAN_CHANUTIL_H
#define GOC_TESTS_CHAN_CHANUTIL_H

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>

#include "runtime/util.h"

/* goc_run, then report the first failed GO_CHECK of its goroutines. */
static inline int run_main(int (*fn)(void *), void *arg)
{
    int r = goc_run(fn, arg);
    GO_CHECK_REPORT();
    return r;
}

/* Fill n bytes at p with a pattern derived from seed. */
static inline void fill_pattern(void *p, size_t n, uint64_t seed)
{
    unsigned char *b = p;
    uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        b[i] = (unsigned char)x;
    }
}

/* Whether the n bytes at p hold fill_pattern(seed). */
static inline bool check_pattern(const void *p, size_t n, uint64_t seed)
{
    const unsigned char *b = p;
    uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        if (b[i] != (unsigned char)x)
            return false;
    }
    return true;
}

static inline bool all_bytes(const void *p, size_t n, unsigned char v)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != v)
            return false;
    return true;
}

/* ---- keepalive ------------------------------------------------------------
 * A goroutine that naps in a loop keeps a timer pending, so the runtime's
 * deadlock detector cannot fire while the main goroutine waits for a plain
 * thread that has not touched the runtime yet (it cannot know about such a
 * thread). Tests that are about plain threads use it so they test the
 * channel, not the detector. */
static atomic_int keepalive_stop;

static inline void keepalive_fn(void *arg)
{
    (void)arg;
    while (!atomic_load(&keepalive_stop))
        goc_sleep(2 * GOC_MILLISECOND);
}

static inline void keepalive_start(void)
{
    atomic_store(&keepalive_stop, 0);
    goc_go(keepalive_fn, NULL);
}

static inline void keepalive_end(void)
{
    atomic_store(&keepalive_stop, 1);
}

/* ---- memory --------------------------------------------------------------- */

/* Resident set size of this process in KiB (VmRSS), or -1. */
static inline long vm_rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return -1;
    char line[256];
    long kib = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    fclose(f);
    return kib;
}

/* ---- a tiny plain-thread launcher ----------------------------------------- */

static inline pthread_t start_thread(void *(*fn)(void *), void *arg)
{
    pthread_t t;
    if (pthread_create(&t, NULL, fn, arg) != 0)
        abort();
    return t;
}

#endif /* GOC_TESTS_CHAN_CHANUTIL_H */
