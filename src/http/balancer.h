/*
 * balancer.h — what the balancer's files share: a 64-bit hash of a byte
 * string (the hash policy's key, Maglev's permutations, the rate
 * limiter's map) and the Maglev lookup table (maglev.c).
 *
 * Threads: nothing here is locked; the callers hold their own mutex.
 */
#ifndef GOC_HTTP_BALANCER_H
#define GOC_HTTP_BALANCER_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* ---- the key hash ---------------------------------------------------------
 *
 * Eight bytes at a time, each word scrambled by a multiply-xorshift mixer
 * before it is folded into the state, and the state mixed again at the
 * end: every input bit reaches every output bit, so h % m spreads keys
 * evenly for any m (Maglev's 65537, a power-of-two map). Not meant to
 * resist chosen keys; seed separates independent uses of one key. */

static inline uint64_t goc__mix64(uint64_t x)
{
    x ^= x >> 31;
    x *= 0x7fb5d329728ea185ULL;
    x ^= x >> 27;
    x *= 0x81dadef4bc2dd44dULL;
    x ^= x >> 33;
    return x;
}

static inline uint64_t goc__hash64(const void *key, size_t n, uint64_t seed)
{
    const unsigned char *p = key;
    uint64_t h = seed ^ (0x9e3779b97f4a7c15ULL * (n + 1));
    for (; n >= 8; n -= 8, p += 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h ^= goc__mix64(w ^ 0xa0761d6478bd642fULL);
        h = ((h << 29) | (h >> 35)) * 0xe7037ed1a0b428dbULL;
    }
    uint64_t tail = 0;
    memcpy(&tail, p, n); /* n < 8 bytes left; little-endian order is irrelevant */
    h ^= goc__mix64(tail ^ ((uint64_t)n << 56) ^ 0x8ebc6af09c88c6e3ULL);
    return goc__mix64(h);
}

/* ---- Maglev (Eisenbud et al., NSDI 2016) ----------------------------------
 *
 * Each target walks its own permutation of the table's slots (offset, then
 * steps of skip; the table's size is prime, so any skip visits every slot)
 * and, in rounds, claims the next slot of its walk that is still free,
 * weight times per round, until the table is full. A key's slot is its
 * hash modulo the size. Every target ends up with a share of the slots
 * proportional to its weight, and when one leaves, the others' walks are
 * unchanged: their slots mostly stay theirs, so only about 1/N of the keys
 * move. */

#define GOC__MAGLEV_SIZE 65537u

typedef struct goc__maglev_perm {
    uint32_t offset, skip; /* from the target's address */
    uint32_t pos;          /* the walk's next slot (build's scratch) */
    int weight;            /* slots claimed per round, >= 1 */
} goc__maglev_perm;

/* The walk of the target named name[0, n). */
void goc__maglev_perm_init(goc__maglev_perm *p, const char *name, size_t n, int weight);

/* Fill table[GOC__MAGLEV_SIZE] with indexes into perm[0, n) (n >= 1). Does
 * not allocate; perm's pos fields are overwritten. */
void goc__maglev_build(uint32_t *table, goc__maglev_perm *perm, size_t n);

#endif /* GOC_HTTP_BALANCER_H */
