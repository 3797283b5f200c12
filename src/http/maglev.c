/*
 * maglev.c — the hash policy's lookup table: Maglev's population (see
 * balancer.h for the idea). Owns nothing: the balancer keeps the table and
 * the permutations and calls in with its mutex held.
 *
 * Cost: filling the table takes about M ln M probes (M = 65537), a few
 * milliseconds, so the balancer rebuilds it only when the set of targets
 * that are up, or their weights, changed, and then once for a batch of
 * changes (at the next pick).
 */
#include "http/balancer.h"

#define EMPTY UINT32_MAX

void goc__maglev_perm_init(goc__maglev_perm *p, const char *name, size_t n, int weight)
{
    /* Two independent hashes of the name: where the walk starts and its
     * stride, 1..M-1 (any stride visits all slots: M is prime). */
    p->offset = (uint32_t)(goc__hash64(name, n, 0x6d61676c65763031ULL) % GOC__MAGLEV_SIZE);
    p->skip = (uint32_t)(goc__hash64(name, n, 0x736b697076616c31ULL) % (GOC__MAGLEV_SIZE - 1)) + 1;
    p->pos = p->offset;
    p->weight = weight > 0 ? weight : 1;
}

/* Claim the next free slot of p's walk for target i. */
static void claim(uint32_t *table, goc__maglev_perm *p, uint32_t i)
{
    uint32_t c = p->pos;
    while (table[c] != EMPTY)
        c = (uint32_t)(((uint64_t)c + p->skip) % GOC__MAGLEV_SIZE);
    table[c] = i;
    p->pos = (uint32_t)(((uint64_t)c + p->skip) % GOC__MAGLEV_SIZE);
}

void goc__maglev_build(uint32_t *table, goc__maglev_perm *perm, size_t n)
{
    for (uint32_t s = 0; s < GOC__MAGLEV_SIZE; s++)
        table[s] = EMPTY;
    for (size_t i = 0; i < n; i++)
        perm[i].pos = perm[i].offset;
    uint32_t filled = 0;
    for (;;) {
        for (size_t i = 0; i < n; i++) {
            for (int k = 0; k < perm[i].weight; k++) {
                claim(table, &perm[i], (uint32_t)i);
                if (++filled == GOC__MAGLEV_SIZE)
                    return;
            }
        }
    }
}
