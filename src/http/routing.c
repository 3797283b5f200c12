/*
 * routing.c — the mux's routing tree (Go's routing_tree.go, in C): where
 * patterns hang, and the walk that finds the one a request matches.
 *
 * The root's children are keyed by host, a host node's by method, and
 * below that one level per path segment. Each node has literal children
 * (an open-addressing hash table, FNV-1a, at most half full), and at most
 * one child each for a single wildcard, a multi wildcard (always a leaf)
 * and {$}. At the host and method levels, the `wild` child holds the
 * patterns without a host or method. A node's key is its own copy.
 *
 * The walk tries host (the request's, then none), method (the request's,
 * GET for HEAD, then none), then the path: at each segment a literal
 * child first, then the wildcard, then the multi wildcard, backtracking
 * when a branch ends without a pattern. This finds the most specific
 * pattern because the mux refuses every pattern that would make the
 * order matter otherwise (a conflict, pattern.c): among the patterns that
 * match a request, the one with a literal where another has a wildcard is
 * more specific, or the two would conflict.
 *
 * The walk allocates nothing: goc__rpath_scan splits the request's path in
 * one pass, hashing each segment as it goes, into the caller's buffers;
 * only the segments the deepest pattern can reach are split (below them
 * only a multi wildcard matches, and it takes the rest whole).
 *
 * Locking: none here. The mux's lock guards a tree: held for writing
 * around goc__rtree_add, for reading around everything else.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "http/mux.h"
#include "runtime/park.h"

/* ---- the tree ------------------------------------------------------------- */

/* FNV-1a: the request's segments get theirs while they are scanned. */
#define HASH_SEED  2166136261u
#define HASH_PRIME 16777619u

uint32_t goc__rkey_hash(const char *s, size_t n)
{
    uint32_t h = HASH_SEED;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * HASH_PRIME;
    return h;
}

/* The bit of slash_lens for patterns of nsegs segments. */
static uint64_t len_bit(uint32_t nsegs)
{
    return (uint64_t)1 << (nsegs < 63 ? nsegs : 63);
}

/* The slot of key in n's table, or the free slot where it would go. */
static goc__rkid *kid_slot(const goc__rnode *n, const char *key, size_t len, uint32_t h)
{
    for (uint32_t i = h & (n->cap - 1);; i = (i + 1) & (n->cap - 1)) {
        goc__rkid *k = &n->kids[i];
        if (!k->node || (k->hash == h && k->len == len && memcmp(k->key, key, len) == 0))
            return k;
    }
}

static const goc__rnode *find_kid(const goc__rnode *n, const char *key, size_t len, uint32_t h)
{
    if (!n || n->nkids == 0)
        return NULL;
    return kid_slot(n, key, len, h)->node;
}

/* Double n's table (kept at most half full, so probes stay short). */
static bool grow_kids(goc__rnode *n)
{
    uint32_t cap = n->cap ? 2 * n->cap : 8, ocap = n->cap;
    goc__rkid *old = n->kids, *v = calloc(cap, sizeof *v);
    if (!v)
        return false;
    n->kids = v;
    n->cap = cap;
    for (uint32_t i = 0; i < ocap; i++) {
        if (old[i].node)
            *kid_slot(n, old[i].key, old[i].len, old[i].hash) = old[i];
    }
    free(old);
    return true;
}

/* The literal child key of n, made if missing; NULL on ENOMEM. mu held
 * for writing. */
static goc__rnode *add_kid(goc__rnode *n, const char *key, uint32_t len)
{
    uint32_t h = goc__rkey_hash(key, len);
    const goc__rnode *have = find_kid(n, key, len, h);
    if (have)
        return (goc__rnode *)have;
    if (2 * (n->nkids + 1) > n->cap && !grow_kids(n))
        return NULL;
    /* The node keeps its own copy of the key: a pattern refused after
     * part of its branch was made (ENOMEM) is freed. */
    goc__rnode *c = calloc(1, sizeof *c + len + 1);
    if (!c)
        return NULL;
    char *copy = memcpy((char *)(c + 1), key, len);
    *kid_slot(n, key, len, h) = (goc__rkid){.key = copy, .len = len, .hash = h, .node = c};
    n->nkids++;
    return c;
}

static goc__rnode *add_slot(goc__rnode **slot)
{
    if (!*slot)
        *slot = calloc(1, sizeof **slot);
    return *slot;
}

/* Hang p in the tree. A node left without a pattern by ENOMEM is harmless:
 * lookups pass through it. */
int goc__rtree_add(goc__rtree *t, goc__pattern *p)
{
    goc__rnode *n = &t->root;
    n = p->host[0] ? add_kid(n, p->host, (uint32_t)strlen(p->host)) : add_slot(&n->wild);
    if (n)
        n = p->method[0] ? add_kid(n, p->method, (uint32_t)strlen(p->method)) : add_slot(&n->wild);
    for (uint32_t i = 0; n && i < p->nsegs; i++) {
        const goc__mseg *sg = &p->segs[i];
        switch (sg->kind) {
        case GOC__SEG_LIT:
            n = add_kid(n, sg->s, sg->len);
            break;
        case GOC__SEG_WILD:
            n = add_slot(&n->wild);
            break;
        case GOC__SEG_MULTI:
            n = add_slot(&n->multi);
            break;
        default:
            n = add_slot(&n->dollar);
            break;
        }
    }
    if (!n)
        return -ENOMEM;
    GOC_ASSERT(!n->pat); /* an equal pattern would have conflicted */
    n->pat = p;
    if (p->nsegs > t->maxdepth)
        t->maxdepth = p->nsegs;
    uint8_t last = p->segs[p->nsegs - 1].kind;
    if (last == GOC__SEG_MULTI || last == GOC__SEG_DOLLAR)
        t->slash_lens |= len_bit(p->nsegs);
    return 0;
}

static void node_free(goc__rnode *n)
{
    if (!n)
        return;
    for (uint32_t i = 0; i < n->cap; i++) {
        node_free(n->kids[i].node);
        free(n->kids[i].node);
    }
    free(n->kids);
    goc__rnode *more[3] = {n->wild, n->multi, n->dollar};
    for (int i = 0; i < 3; i++) {
        node_free(more[i]);
        free(more[i]);
    }
}

void goc__rtree_free(goc__rtree *t)
{
    node_free(&t->root);
    memset(t, 0, sizeof *t);
}

/* ---- a request's path ------------------------------------------------------------------ */

/* One pass over rp->p: split its first rp->limit segments, unescaping
 * into scratch (room for 2 * n + 2) the ones that hold a '%', and tell
 * whether the whole path is clean (goc__path_is_clean). */
bool goc__rpath_scan(goc__rpath *rp, char *scratch)
{
    const char *p = rp->p;
    size_t pos = 0, n = rp->n;
    bool clean = n > 0 && p[0] == '/';
    rp->nsegs = 0;
    rp->done = true;
    while (pos < n) {
        if (pos + 1 == n) { /* the trailing slash */
            if (rp->nsegs < rp->limit)
                rp->segs[rp->nsegs++] = (goc__rseg){.s = "", .off = (uint32_t)n, .trail = true};
            else
                rp->done = false;
            break;
        }
        size_t start = pos + 1, i = start;
        uint32_t h = HASH_SEED;
        bool pct = false;
        for (; i < n && p[i] != '/'; i++) {
            pct |= p[i] == '%';
            h = (h ^ (unsigned char)p[i]) * HASH_PRIME;
        }
        size_t len = i - start;
        if (len == 0 || (p[start] == '.' && (len == 1 || (len == 2 && p[start + 1] == '.'))))
            clean = false;
        if (rp->nsegs == rp->limit) {
            rp->done = false; /* below the deepest pattern: only the clean check goes on */
        } else {
            goc__rseg *sg = &rp->segs[rp->nsegs++];
            *sg = (goc__rseg){
                .s = p + start, .len = (uint32_t)len, .hash = h, .off = (uint32_t)start};
            if (pct) {
                sg->len = (uint32_t)goc__path_unescape(p + start, len, scratch);
                sg->s = scratch;
                sg->hash = goc__rkey_hash(scratch, sg->len);
                scratch += sg->len + 1;
            }
        }
        pos = i;
    }
    return clean;
}

static bool ends_with_slash(const goc__rpath *rp)
{
    return rp->done && rp->nsegs > 0 && rp->segs[rp->nsegs - 1].trail;
}

/* Add a trailing slash to the path for a probe (undo: nsegs--), unless
 * no pattern could match it exactly (none has a slash at that depth). */
bool goc__rpath_add_slash(const goc__rtree *t, goc__rpath *rp)
{
    if (!rp->done || rp->n == 0 || ends_with_slash(rp) || !(t->slash_lens & len_bit(rp->nsegs + 1)))
        return false;
    rp->segs[rp->nsegs++] = (goc__rseg){.s = "", .len = 0, .off = (uint32_t)rp->n, .trail = true};
    return true;
}

/* ---- matching -------------------------------------------------------------------- */

/* The pattern below n that matches segments i.. of the path. mu held. */
static goc__pattern *match_path(const goc__rnode *n, const goc__rpath *rp, uint32_t i)
{
    if (i == rp->nsegs)
        return rp->done ? n->pat : NULL;
    const goc__rseg *sg = &rp->segs[i];
    goc__pattern *p;
    if (sg->trail) {
        if (n->dollar && (p = match_path(n->dollar, rp, i + 1)))
            return p;
    } else {
        const goc__rnode *c = find_kid(n, sg->s, sg->len, sg->hash);
        if (c && (p = match_path(c, rp, i + 1)))
            return p;
        if (n->wild && (p = match_path(n->wild, rp, i + 1)))
            return p;
    }
    return n->multi ? n->multi->pat : NULL;
}

static goc__pattern *match_method(const goc__rnode *hn, const goc__rpath *rp)
{
    static uint32_t get_hash; /* goc__rkey_hash("GET"), racy but idempotent */
    goc__pattern *p;
    const goc__rnode *c;
    if (!hn)
        return NULL;
    if ((c = find_kid(hn, rp->method, rp->mlen, rp->mhash)) && (p = match_path(c, rp, 0)))
        return p;
    if (rp->head) {
        uint32_t h = __atomic_load_n(&get_hash, __ATOMIC_RELAXED);
        if (!h) /* relaxed: every thread computes the same value */
            __atomic_store_n(&get_hash, h = goc__rkey_hash("GET", 3), __ATOMIC_RELAXED);
        if ((c = find_kid(hn, "GET", 3, h)) && (p = match_path(c, rp, 0)))
            return p;
    }
    return hn->wild ? match_path(hn->wild, rp, 0) : NULL;
}

const goc__pattern *goc__rtree_match(const goc__rtree *t, const goc__rpath *rp)
{
    goc__pattern *p;
    if (rp->hlen && (p = match_method(find_kid(&t->root, rp->host, rp->hlen, rp->hhash), rp)))
        return p;
    return match_method(t->root.wild, rp);
}

/* Whether p matched the path with nothing left for a multi wildcard (Go's
 * exactMatch): "/a/" matches "/a/" exactly, "/a/b" not. */
bool goc__rtree_exact(const goc__pattern *p, const goc__rpath *rp)
{
    if (!p)
        return false;
    if (p->segs[p->nsegs - 1].kind != GOC__SEG_MULTI)
        return true;
    return ends_with_slash(rp) && p->nsegs == rp->nsegs;
}

static void methods_of(const goc__rnode *hn, const goc__rpath *rp, goc__rmethods *out)
{
    for (uint32_t i = 0; hn && i < hn->cap && out->n < 32; i++) {
        if (hn->kids[i].node && match_path(hn->kids[i].node, rp, 0))
            out->v[out->n++] = hn->kids[i].key;
    }
}

/* The goc__rmethods of patterns that match host and path (Go's matchingMethods),
 * also with a slash added to the path. Not sorted, maybe repeated. */
void goc__rtree_methods(const goc__rtree *t, goc__rpath *rp, goc__rmethods *out)
{
    for (int probe = 0; probe < 2; probe++) {
        if (probe == 1 && !goc__rpath_add_slash(t, rp))
            break;
        if (rp->hlen)
            methods_of(find_kid(&t->root, rp->host, rp->hlen, rp->hhash), rp, out);
        methods_of(t->root.wild, rp, out);
        if (probe == 1)
            rp->nsegs--;
    }
}
