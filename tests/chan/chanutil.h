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

#endif /* GOC_TESTS_CHAN_CHANUTIL_H */
