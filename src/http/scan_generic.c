/*
 * scan_generic.c — the portable scanners of chars.h.
 *
 * Field values and request targets, the long runs, are checked eight bytes
 * at a time as one uint64_t (SWAR: SIMD within a register). A word passes
 * if no byte is a control or DEL (and, for targets, none is SP or above
 * 0x7e); the tests below are exact as predicates whatever the byte order,
 * so a word that fails is rescanned byte by byte to find where the run
 * ends — or to find that it does not, as for an HTAB in a value (allowed,
 * but a control to the word test).
 *
 * A per-arch scanner (chars.h) replaces this whole file.
 */
#include <string.h>

#include "http/chars.h"

#define ONES  0x0101010101010101ull
#define HIGHS 0x8080808080808080ull

static inline uint64_t load64(const unsigned char *p)
{
    uint64_t x;
    memcpy(&x, p, sizeof x); /* one unaligned load */
    return x;
}

/* Non-zero if some byte of x is below b (b <= 0x80). A byte >= 0x80 has
 * its high bit cleared by ~x, so it never counts. */
static inline uint64_t some_below(uint64_t x, unsigned b)
{
    return (x - ONES * b) & ~x & HIGHS;
}

/* Non-zero if some byte of x is DEL (0x7f): a zero byte of x ^ 0x7f.. */
static inline uint64_t some_del(uint64_t x)
{
    return some_below(x ^ (ONES * 0x7f), 1);
}

/* The index of the first byte whose high bit is set in mask (non-zero). */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
static inline size_t first_flagged(uint64_t mask)
{
    return (size_t)__builtin_ctzll(mask) / 8;
}
#else
static inline size_t first_flagged(uint64_t mask)
{
    return (size_t)__builtin_clzll(mask) / 8;
}
#endif

/* The run of cls from s: words while they pass, then the first byte the
 * word test flags. The flagged byte with the lowest address is a true hit
 * (the subtractions' borrows only flag bytes after one), so it ends the
 * run unless it is in cls after all (an HTAB in a value). */
static inline size_t run_words(const unsigned char *s, size_t n, unsigned cls, bool target)
{
    size_t i = 0;
    while (i + 8 <= n) {
        uint64_t x = load64(s + i);
        uint64_t fails = target ? some_below(x, 0x21) | some_del(x) | (x & HIGHS)
                                : some_below(x, 0x20) | some_del(x);
        if (!fails) {
            i += 8;
            continue;
        }
        i += first_flagged(fails);
        if (!(goc__http_cc[s[i]] & cls))
            return i;
        i++;
    }
    while (i < n && (goc__http_cc[s[i]] & cls))
        i++;
    return i;
}

size_t goc__http_value_run(const char *p, size_t n)
{
    return run_words((const unsigned char *)p, n, GOC__HC_VALUE, false);
}

size_t goc__http_target_run(const char *p, size_t n)
{
    return run_words((const unsigned char *)p, n, GOC__HC_TARGET, true);
}
