/*
 * cache_store.c — the HTTP cache's store: its entries, the index that
 * finds them by key and Vary, the LRU list that evicts them to keep the
 * cache within max_bytes, and the cache object's life (new, purge, free,
 * statistics). The handler that fills and reads it is cache.c's.
 *
 * Entries: one allocation each (the struct, then the field table, the
 * Vary table, the key, the field strings and the body), addressed by
 * offsets while the entry grows by realloc, immutable once inserted.
 * Reference counted: the index holds one, each request reading it one, so
 * a hit streams an entry that is evicted meanwhile. Refreshing or
 * replacing makes a new entry; the old one is freed by its last reader.
 *
 * The index: hash buckets (a power of 2, doubled when the entries
 * outnumber them) chaining every variant of every key; a key's variants
 * are told apart by their Vary selectors. bytes is the sum of the indexed
 * entries' sizes, kept <= max_bytes by evicting from the LRU list's tail.
 *
 * Locking: c->mu guards the index (hash buckets), the LRU list, bytes,
 * entries, the flights and the list of handler args (fields marked "mu").
 * It is never held across a call to the handler below, a write to the
 * client, or a wait. Counters are atomics (relaxed: statistics order
 * nothing). An entry's refs is atomic: acquire-release on the drop to 0,
 * so the freeing thread sees every reader's last access.
 */
#include <errno.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http/cache.h"
#include "http/http.h"

#define DEFAULT_MAX_BYTES ((size_t)64 << 20)
#define MIN_BUCKETS       64
#define NS_PER_SEC        1000000000LL
#define MAX_VARY          16

void goc__cache_lock(goc_http_cache *c)
{
    goc_mutex_lock(&c->mu);
    c->locked = true;
}

void goc__cache_unlock(goc_http_cache *c)
{
    c->locked = false;
    goc_mutex_unlock(&c->mu);
}

/* ---- entries ------------------------------------------------------------ */

static const goc__cache_eref *evary(const goc__cache_entry *e)
{
    return (const goc__cache_eref *)e->data + e->nfields;
}

void goc__cache_entry_release(goc__cache_entry *e)
{
    /* acq_rel: the last holder sees every other holder's reads done. */
    if (e && atomic_fetch_sub_explicit(&e->refs, 1, memory_order_acq_rel) == 1)
        free(e);
}

goc__cache_entry *goc__cache_entry_retain(goc__cache_entry *e)
{
    atomic_fetch_add_explicit(&e->refs, 1, memory_order_relaxed); /* a holder exists */
    return e;
}

/* Whether field name of response header h is stored: not hop-by-hop nor
 * the cache's own, nor Content-Length (a hit sets it from the body). */
static bool stored_field(const goc_http_header *h, const char *name)
{
    size_t n = strlen(name);
    return !goc__cache_skip_field(name, n, h) &&
           !(n == 14 && goc__http_token_eq(name, "Content-Length", 14));
}

/* The request's values of field name joined by ", " into out (NULL: just
 * measure): the length, or -1 if the request has none. */
static int64_t joined(const goc_http_header *req, const char *name, size_t nl, char *out)
{
    int64_t len = -1;
    size_t n = goc_http_header_len(req);
    for (size_t i = 0; i < n; i++) {
        const char *fn, *fv;
        goc_http_header_at(req, i, &fn, &fv);
        if (strlen(fn) != nl || !goc__http_token_eq(fn, name, nl))
            continue;
        size_t vl = strlen(fv);
        if (len >= 0) {
            if (out)
                memcpy(out + len, ", ", 2);
            len += 2;
        } else {
            len = 0;
        }
        if (out)
            memcpy(out + len, fv, vl);
        len += (int64_t)vl;
    }
    return len;
}

/* The field names Vary lists in h, the first max of them into
 * names/lens: the count of all. */
static size_t vary_names(const goc_http_header *h, const char **names, size_t *lens, size_t max)
{
    size_t k = 0, n = goc_http_header_len(h);
    for (size_t i = 0; i < n; i++) {
        const char *fn, *fv;
        goc_http_header_at(h, i, &fn, &fv);
        if (strlen(fn) != 4 || !goc__http_token_eq(fn, "Vary", 4))
            continue;
        size_t pos = 0, len;
        const char *tok;
        for (; goc__http_list_next(fv, strlen(fv), &pos, &tok, &len); k++) {
            if (k < max) {
                names[k] = tok;
                lens[k] = len;
            }
        }
    }
    return k;
}

/* The sizes of an entry's head, measured before it is allocated. */
typedef struct entry_shape {
    size_t nf, nv, strs, vstrs; /* fields, selectors, their strings' bytes */
    bool has_date;
    const char *vn[MAX_VARY]; /* the Vary names (in s->h) */
    size_t vl[MAX_VARY];
} entry_shape;

/* Measure s into sh: false if it names more Vary fields than are kept. */
static bool entry_measure(const goc__cache_entry_src *s, entry_shape *sh)
{
    memset(sh, 0, offsetof(entry_shape, vn));
    size_t hn = goc_http_header_len(s->h);
    for (size_t i = 0; i < hn; i++) {
        const char *name, *value;
        goc_http_header_at(s->h, i, &name, &value);
        if (stored_field(s->h, name)) {
            sh->nf++;
            sh->strs += strlen(name) + strlen(value) + 2;
        }
    }
    sh->has_date = goc_http_header_get(s->h, "Date") != NULL;
    if (!sh->has_date) {
        sh->nf++;
        sh->strs += sizeof "Date" + 30; /* an IMF-fixdate is 29 bytes */
    }
    sh->nv = vary_names(s->h, sh->vn, sh->vl, MAX_VARY);
    if (sh->nv > MAX_VARY)
        return false;
    for (size_t i = 0; i < sh->nv; i++) {
        int64_t j = joined(s->req, sh->vn[i], sh->vl[i], NULL);
        sh->vstrs += sh->vl[i] + 1 + (j >= 0 ? (size_t)j + 1 : 0);
    }
    return true;
}

/* Copy the stored fields of s to p (e's string block), and a Date if it
 * has none: past the last byte written. */
static char *fill_fields(goc__cache_entry *e, const goc__cache_entry_src *s, const entry_shape *sh,
                         char *p)
{
    goc__cache_eref *f = (goc__cache_eref *)e->data;
    size_t k = 0, hn = goc_http_header_len(s->h);
    for (size_t i = 0; i < hn; i++) {
        const char *name, *value;
        goc_http_header_at(s->h, i, &name, &value);
        if (!stored_field(s->h, name))
            continue;
        size_t a = strlen(name) + 1, b = strlen(value) + 1;
        f[k] = (goc__cache_eref){(uint32_t)(p - e->data), (uint32_t)a - 1,
                                 (uint32_t)(p + a - e->data), (uint32_t)b - 1};
        memcpy(p, name, a);
        memcpy(p + a, value, b);
        if (a == 5 && goc__http_token_eq(name, "ETag", 4) && e->etag_off == GOC__CACHE_NO_VALUE)
            e->etag_off = f[k].value_off;
        if (a == 14 && goc__http_token_eq(name, "Last-Modified", 13) &&
            e->lm_off == GOC__CACHE_NO_VALUE)
            e->lm_off = f[k].value_off;
        p += a + b;
        k++;
    }
    if (!sh->has_date) {
        f[k] = (goc__cache_eref){(uint32_t)(p - e->data), 4, (uint32_t)(p + 5 - e->data), 29};
        memcpy(p, "Date", 5);
        goc__http_format_time((time_t)(s->clock.response_time / NS_PER_SEC), p + 5);
        p += 35;
    }
    return p;
}

/* Copy the Vary selectors (names, the request's values) to p. */
static char *fill_vary(goc__cache_entry *e, const goc__cache_entry_src *s, const entry_shape *sh,
                       char *p)
{
    goc__cache_eref *v = (goc__cache_eref *)e->data + e->nfields;
    for (size_t i = 0; i < sh->nv; i++) {
        v[i].name_off = (uint32_t)(p - e->data);
        v[i].name_len = (uint32_t)sh->vl[i];
        memcpy(p, sh->vn[i], sh->vl[i]);
        p[sh->vl[i]] = '\0';
        p += sh->vl[i] + 1;
        int64_t j = joined(s->req, sh->vn[i], sh->vl[i], p);
        v[i].value_off = j >= 0 ? (uint32_t)(p - e->data) : GOC__CACHE_NO_VALUE;
        v[i].value_len = j >= 0 ? (uint32_t)j : 0;
        if (j >= 0) {
            p[j] = '\0';
            p += j + 1;
        }
    }
    return p;
}

/* A new entry with s's fields and room for body_cap body bytes, refs 1:
 * NULL on ENOMEM, past max (bytes in all), or with too many Vary names. */
goc__cache_entry *goc__cache_entry_new(const goc__cache_entry_src *s, size_t max)
{
    entry_shape sh;
    if (!entry_measure(s, &sh))
        return NULL;
    size_t head = (sh.nf + sh.nv) * sizeof(goc__cache_eref) + s->key_len + 1 + sh.strs + sh.vstrs;
    size_t size = sizeof(goc__cache_entry) + head + s->body_cap;
    if (size > max || head > UINT32_MAX / 2)
        return NULL;
    goc__cache_entry *e = malloc(size);
    if (!e)
        return NULL;
    memset(e, 0, sizeof *e);
    atomic_init(&e->refs, 1);
    e->hash = s->hash;
    e->status = s->status;
    e->ccflags = s->ccflags;
    e->lifetime = s->lifetime;
    e->clock = s->clock;
    e->nfields = (uint32_t)sh.nf;
    e->nvary = (uint32_t)sh.nv;
    e->etag_off = e->lm_off = GOC__CACHE_NO_VALUE;
    char *p = e->data + (sh.nf + sh.nv) * sizeof(goc__cache_eref);
    e->key_off = (uint32_t)(p - e->data);
    e->key_len = (uint32_t)s->key_len;
    memcpy(p, s->key, s->key_len);
    p[s->key_len] = '\0';
    p += s->key_len + 1;
    e->strs_off = (uint32_t)(p - e->data);
    p = fill_fields(e, s, &sh, p);
    e->strs_len = (uint32_t)(p - e->data) - e->strs_off;
    p = fill_vary(e, s, &sh, p);
    e->body_off = (size_t)(p - e->data);
    e->cap = s->body_cap;
    e->size = size;
    return e;
}

/* Append p[0, n) to the body of e (not yet inserted), growing it within
 * max bytes in all: 0, or -EFBIG / -ENOMEM (*ep unchanged then). */
int goc__cache_entry_append(goc__cache_entry **ep, const void *p, size_t n, size_t max)
{
    goc__cache_entry *e = *ep;
    if (e->cap - e->body_len < n) {
        size_t need = e->body_len + n, cap = e->cap ? e->cap : 4096;
        while (cap < need)
            cap *= 2;
        if (sizeof(goc__cache_entry) + e->body_off + need > max)
            return -EFBIG;
        if (sizeof(goc__cache_entry) + e->body_off + cap > max)
            cap = max - sizeof(goc__cache_entry) - e->body_off;
        goc__cache_entry *g = realloc(e, sizeof(goc__cache_entry) + e->body_off + cap);
        if (!g)
            return -ENOMEM;
        *ep = e = g;
        e->cap = cap;
        e->size = sizeof(goc__cache_entry) + e->body_off + cap;
    }
    memcpy(e->data + e->body_off + e->body_len, p, n);
    e->body_len += n;
    return 0;
}

/* Whether the request's fields match e's Vary selectors. */
static bool vary_match(const goc__cache_entry *e, const goc_http_header *req)
{
    const goc__cache_eref *v = evary(e);
    for (uint32_t i = 0; i < e->nvary; i++) {
        const char *name = goc__cache_estr(e, v[i].name_off);
        int64_t j = joined(req, name, v[i].name_len, NULL);
        if (j < 0 || v[i].value_off == GOC__CACHE_NO_VALUE) {
            if ((j < 0) != (v[i].value_off == GOC__CACHE_NO_VALUE))
                return false;
            continue;
        }
        if ((uint64_t)j != v[i].value_len)
            return false;
        char stackbuf[256];
        char *buf = (size_t)j < sizeof stackbuf ? stackbuf : malloc((size_t)j + 1);
        if (!buf)
            return false;
        joined(req, name, v[i].name_len, buf);
        bool same = memcmp(buf, goc__cache_estr(e, v[i].value_off), (size_t)j) == 0;
        if (buf != stackbuf)
            free(buf);
        if (!same)
            return false;
    }
    return true;
}

/* ---- the index ---------------------------------------------------------- */

static bool key_is(const goc__cache_entry *e, uint64_t hash, const char *key, size_t n)
{
    return e->hash == hash && e->key_len == n && memcmp(e->data + e->key_off, key, n) == 0;
}

void goc__cache_lru_unlink(goc_http_cache *c, goc__cache_entry *e)
{
    if (e->lprev)
        e->lprev->lnext = e->lnext;
    else
        c->lru_head = e->lnext;
    if (e->lnext)
        e->lnext->lprev = e->lprev;
    else
        c->lru_tail = e->lprev;
    e->lprev = e->lnext = NULL;
}

void goc__cache_lru_push(goc_http_cache *c, goc__cache_entry *e)
{
    e->lprev = NULL;
    e->lnext = c->lru_head;
    if (c->lru_head)
        c->lru_head->lprev = e;
    else
        c->lru_tail = e;
    c->lru_head = e;
}

/* Take e out of the index and drop the index's reference. mu held. */
static void index_remove(goc_http_cache *c, goc__cache_entry *e)
{
    GOC_ASSERT(c->locked);
    goc__cache_entry **pp = &c->buckets[e->hash & (c->nbuckets - 1)];
    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    goc__cache_lru_unlink(c, e);
    c->bytes -= e->size;
    c->entries--;
    goc__cache_entry_release(e);
}

/* The entry of key whose Vary matches req, or NULL. mu held. */
goc__cache_entry *goc__cache_index_find(goc_http_cache *c, uint64_t hash, const char *key, size_t n,
                                        const goc_http_header *req)
{
    GOC_ASSERT(c->locked);
    for (goc__cache_entry *e = c->buckets[hash & (c->nbuckets - 1)]; e; e = e->hnext)
        if (key_is(e, hash, key, n) && vary_match(e, req))
            return e;
    return NULL;
}

/* Double the buckets when entries outnumber them (ENOMEM: stay). mu held. */
static void index_grow(goc_http_cache *c)
{
    GOC_ASSERT(c->locked);
    if (c->entries < c->nbuckets)
        return;
    size_t nb = c->nbuckets * 2;
    goc__cache_entry **b = calloc(nb, sizeof *b);
    if (!b)
        return;
    for (size_t i = 0; i < c->nbuckets; i++) {
        for (goc__cache_entry *e = c->buckets[i], *next; e; e = next) {
            next = e->hnext;
            e->hnext = b[e->hash & (nb - 1)];
            b[e->hash & (nb - 1)] = e;
        }
    }
    free(c->buckets);
    c->buckets = b;
    c->nbuckets = nb;
}

/* Insert e (the reference passes to the index), dropping the entries of
 * its key that req's would have matched, and least recently used ones
 * until it fits; one larger than max_bytes in all (a refreshed entry
 * whose fields grew) is dropped instead. mu held. */
void goc__cache_index_insert(goc_http_cache *c, goc__cache_entry *e, const goc_http_header *req)
{
    GOC_ASSERT(c->locked);
    if (e->size > c->max_bytes) {
        goc__cache_entry_release(e);
        return;
    }
    const char *key = e->data + e->key_off;
    for (goc__cache_entry *o;
         (o = goc__cache_index_find(c, e->hash, key, e->key_len, req)) != NULL;)
        index_remove(c, o);
    while (c->lru_tail && c->bytes + e->size > c->max_bytes) {
        index_remove(c, c->lru_tail);
        goc__cache_count(&c->evicted);
    }
    index_grow(c);
    goc__cache_entry **b = &c->buckets[e->hash & (c->nbuckets - 1)];
    e->hnext = *b;
    *b = e;
    goc__cache_lru_push(c, e);
    c->bytes += e->size;
    c->entries++;
    goc__cache_count(&c->stored);
}

/* Drop every entry of key (all variants). */
void goc__cache_index_drop_key(goc_http_cache *c, uint64_t hash, const char *key, size_t n)
{
    goc__cache_lock(c);
    goc__cache_entry **pp = &c->buckets[hash & (c->nbuckets - 1)];
    while (*pp) {
        goc__cache_entry *e = *pp;
        if (key_is(e, hash, key, n))
            index_remove(c, e); /* unlinks *pp */
        else
            pp = &e->hnext;
    }
    goc__cache_unlock(c);
}

/* ---- the public surface ------------------------------------------------- */

goc_http_cache *goc_http_cache_new(const goc_http_cache_opts *opts)
{
    goc_http_cache_opts o = opts ? *opts : (goc_http_cache_opts){0};
    goc_http_cache *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->nbuckets = MIN_BUCKETS;
    c->buckets = calloc(c->nbuckets, sizeof *c->buckets);
    if (!c->buckets) {
        free(c);
        return NULL;
    }
    c->max_bytes = o.max_bytes ? o.max_bytes : DEFAULT_MAX_BYTES;
    c->max_entry = o.max_entry_bytes ? o.max_entry_bytes : c->max_bytes / 8;
    if (c->max_entry > c->max_bytes)
        c->max_entry = c->max_bytes;
    c->default_ttl = o.default_ttl;
    return c;
}

void goc_http_cache_purge(goc_http_cache *c)
{
    goc__cache_lock(c);
    while (c->lru_head)
        index_remove(c, c->lru_head);
    goc__cache_unlock(c);
}

void goc_http_cache_free(goc_http_cache *c)
{
    if (!c)
        return;
    goc_http_cache_purge(c);
    for (goc__cache_arg *a = c->args, *next; a; a = next) {
        next = a->next;
        free(a);
    }
    free(c->buckets);
    free(c);
}

void goc_http_cache_stats_read(goc_http_cache *c, goc_http_cache_stats *out)
{
    memset(out, 0, sizeof *out);
    out->hits = atomic_load_explicit(&c->hits, memory_order_relaxed);
    out->misses = atomic_load_explicit(&c->misses, memory_order_relaxed);
    out->revalidated = atomic_load_explicit(&c->revalidated, memory_order_relaxed);
    out->stored = atomic_load_explicit(&c->stored, memory_order_relaxed);
    out->evicted = atomic_load_explicit(&c->evicted, memory_order_relaxed);
    out->not_storable = atomic_load_explicit(&c->not_storable, memory_order_relaxed);
    out->coalesced = atomic_load_explicit(&c->coalesced, memory_order_relaxed);
    goc__cache_lock(c);
    out->bytes = c->bytes;
    out->entries = c->entries;
    goc__cache_unlock(c);
}
