/*
 * cache.c — goc_http_cache: a shared HTTP cache (RFC 9111) in front of a
 * handler. The rules (what may be stored, for how long) are
 * cache_control.c's; this file owns the store and the life of a request
 * through it.
 *
 * The life of a GET (or HEAD) through the cache:
 *   1. The key is the lowercased Host and the request target, whatever
 *      the method (a HEAD is answered from the GET's entry). A request
 *      with no-store, or a Range, bypasses the store (the handler below
 *      answers, nothing is stored).
 *   2. Under the cache's lock, the entries of the key are looked up and
 *      the first whose Vary fields match the request's is taken (a
 *      reference). Fresh, and neither side asked for revalidation: a HIT,
 *      answered from the entry after the lock is dropped.
 *   3. Otherwise (a miss, or a stale entry that has a validator), if
 *      another request of the key is already with the handler below (a
 *      flight), this one waits for its end (or its own ctx) once and
 *      looks again: served from what the leader stored, or, if nothing
 *      usable was stored, off to the handler below on its own. A GET
 *      that found no flight starts one and leads it.
 *   4. To the handler below through a capturing writer (cw). The cache
 *      answers the client's own conditionals itself, so they are taken
 *      off the request (a GET's); revalidating, the entry's validators go
 *      on instead, as If-None-Match / If-Modified-Since. At the
 *      response's first commit (write header, write, flush, or the
 *      handler's return), the header is judged: a 304 to our validators
 *      is kept from the client; a storable response gets an entry built
 *      (fields without hop-by-hop ones, then the body as it is written,
 *      while it also streams to the client: nothing waits for the whole
 *      body); a 200 the client's conditional holds for goes to the
 *      client as a 304, its body to the entry alone. The entry is given
 *      up, the response still streamed, once it passes max_entry_bytes,
 *      or on a write error, trailers, or a short body.
 *   5. After the handler returns: a complete entry is inserted (replacing
 *      the variants it supersedes, evicting least recently used ones to
 *      fit max_bytes); a 304 refreshes the stale entry (a new one: the
 *      304's fields over the stored ones, the same body) and the client
 *      is answered from it (REVALIDATED), or with a 304 of its own when
 *      its conditional matches. The leader ends its flight.
 *   Other methods pass through; a successful POST, PUT, DELETE or PATCH
 *   drops the key's entries (RFC 9111 4.4).
 *
 * Not done (simplifications a reader may look for): a stale entry is
 * never served when the handler below fails (no stale-if-error); a key whose answers are never
 * storable still makes concurrent requests wait for one (no
 * "hit-for-pass" marker); a Range request bypasses the store.
 *
 * Statistics: hits (coalesced: those of them that waited for a leader),
 * misses (answered by the handler below, bypasses included), revalidated
 * (its 304 refreshed an entry), stored (entries inserted), evicted (for
 * room), not_storable (GET answers the rules or sizes kept out).
 *
 * Entries: one allocation each (the struct, then the field table, the
 * Vary table, the key, the field strings and the body), addressed by
 * offsets while the entry grows by realloc, immutable once inserted.
 * Reference counted: the index holds one, each request reading it one, so
 * a hit streams an entry that is evicted meanwhile. Refreshing or
 * replacing makes a new entry; the old one is freed by its last reader.
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <goc/httputil.h>

#include "http/cache.h"
#include "http/http.h"

#define DEFAULT_MAX_BYTES ((size_t)64 << 20)
#define MIN_BUCKETS       64
#define FLIGHT_BUCKETS    64 /* flights are few: as many as misses in progress */
#define NO_VALUE          UINT32_MAX
#define NS_PER_SEC        1000000000LL

/* A stored field or Vary selector: offsets into the entry's data. A Vary
 * selector's value is the request's values of the field joined by ", ",
 * or NO_VALUE when the request had none. */
typedef struct eref {
    uint32_t name_off, name_len, value_off, value_len;
} eref;

typedef struct entry {
    struct entry *hnext;         /* mu: the bucket's chain */
    struct entry *lprev, *lnext; /* mu: LRU list, most recent first */
    _Atomic int refs;
    /* Immutable once inserted: */
    uint64_t hash;
    size_t size; /* bytes allocated (charged to max_bytes) */
    int status;
    uint32_t ccflags; /* the response's Cache-Control flags */
    int64_t lifetime; /* ns */
    goc__cache_clock clock;
    uint32_t nfields, nvary, key_off, key_len;
    uint32_t strs_off, strs_len; /* the fields' strings, one block */
    uint32_t etag_off, lm_off;   /* NO_VALUE if none */
    size_t body_off, body_len, cap;
    _Alignas(8) char data[];
} entry;

/* A request of a key with the handler below, that others may wait for. */
typedef struct flight {
    struct flight *next; /* mu */
    uint64_t hash;
    const char *key; /* the leader's (request memory) */
    size_t key_len;
    goc_chan *done; /* closed when the leader is done */
} flight;

typedef struct cache_arg {
    struct cache_arg *next; /* mu: the cache's list, freed with it */
    goc_http_cache *c;
    goc_http_handler next_h;
} cache_arg;

struct goc_http_cache {
    goc_mutex mu;
    bool locked;                     /* mu: for debug assertions */
    entry **buckets;                 /* mu */
    size_t nbuckets;                 /* mu: a power of 2 */
    entry *lru_head, *lru_tail;      /* mu */
    size_t bytes, entries;           /* mu */
    flight *flights[FLIGHT_BUCKETS]; /* mu: by hash */
    cache_arg *args;                 /* mu */
    /* Immutable: */
    size_t max_bytes, max_entry;
    goc_duration default_ttl;
    /* Statistics (relaxed). */
    _Atomic uint64_t hits, misses, revalidated, stored, evicted, not_storable, coalesced;
};

static void cache_lock(goc_http_cache *c)
{
    goc_mutex_lock(&c->mu);
    c->locked = true;
}

static void cache_unlock(goc_http_cache *c)
{
    c->locked = false;
    goc_mutex_unlock(&c->mu);
}

static void count(_Atomic uint64_t *ctr)
{
    atomic_fetch_add_explicit(ctr, 1, memory_order_relaxed); /* statistics only */
}

static int64_t wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * NS_PER_SEC + ts.tv_nsec;
}

static uint64_t hash_key(const char *k, size_t n)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)k[i]) * 1099511628211ull;
    return h;
}

/* ---- entries ------------------------------------------------------------ */

static const char *estr(const entry *e, uint32_t off)
{
    return off == NO_VALUE ? NULL : e->data + off;
}

static const eref *efields(const entry *e)
{
    return (const eref *)e->data;
}

static const eref *evary(const entry *e)
{
    return (const eref *)e->data + e->nfields;
}

static void entry_release(entry *e)
{
    /* acq_rel: the last holder sees every other holder's reads done. */
    if (e && atomic_fetch_sub_explicit(&e->refs, 1, memory_order_acq_rel) == 1)
        free(e);
}

static entry *entry_retain(entry *e)
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

#define MAX_VARY 16

/* What an entry is built from. */
typedef struct entry_src {
    const goc_http_header *h;   /* fields to store (filtered here) */
    const goc_http_header *req; /* the request, for Vary */
    const char *key;
    size_t key_len;
    uint64_t hash;
    int status;
    goc__cache_clock clock;
    int64_t lifetime;
    uint32_t ccflags;
    size_t body_cap; /* room for the body made now */
} entry_src;

/* The sizes of an entry's head, measured before it is allocated. */
typedef struct entry_shape {
    size_t nf, nv, strs, vstrs; /* fields, selectors, their strings' bytes */
    bool has_date;
    const char *vn[MAX_VARY]; /* the Vary names (in s->h) */
    size_t vl[MAX_VARY];
} entry_shape;

/* Measure s into sh: false if it names more Vary fields than are kept. */
static bool entry_measure(const entry_src *s, entry_shape *sh)
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
static char *fill_fields(entry *e, const entry_src *s, const entry_shape *sh, char *p)
{
    eref *f = (eref *)e->data;
    size_t k = 0, hn = goc_http_header_len(s->h);
    for (size_t i = 0; i < hn; i++) {
        const char *name, *value;
        goc_http_header_at(s->h, i, &name, &value);
        if (!stored_field(s->h, name))
            continue;
        size_t a = strlen(name) + 1, b = strlen(value) + 1;
        f[k] = (eref){(uint32_t)(p - e->data), (uint32_t)a - 1, (uint32_t)(p + a - e->data),
                      (uint32_t)b - 1};
        memcpy(p, name, a);
        memcpy(p + a, value, b);
        if (a == 5 && goc__http_token_eq(name, "ETag", 4) && e->etag_off == NO_VALUE)
            e->etag_off = f[k].value_off;
        if (a == 14 && goc__http_token_eq(name, "Last-Modified", 13) && e->lm_off == NO_VALUE)
            e->lm_off = f[k].value_off;
        p += a + b;
        k++;
    }
    if (!sh->has_date) {
        f[k] = (eref){(uint32_t)(p - e->data), 4, (uint32_t)(p + 5 - e->data), 29};
        memcpy(p, "Date", 5);
        goc__http_format_time((time_t)(s->clock.response_time / NS_PER_SEC), p + 5);
        p += 35;
    }
    return p;
}

/* Copy the Vary selectors (names, the request's values) to p. */
static char *fill_vary(entry *e, const entry_src *s, const entry_shape *sh, char *p)
{
    eref *v = (eref *)e->data + e->nfields;
    for (size_t i = 0; i < sh->nv; i++) {
        v[i].name_off = (uint32_t)(p - e->data);
        v[i].name_len = (uint32_t)sh->vl[i];
        memcpy(p, sh->vn[i], sh->vl[i]);
        p[sh->vl[i]] = '\0';
        p += sh->vl[i] + 1;
        int64_t j = joined(s->req, sh->vn[i], sh->vl[i], p);
        v[i].value_off = j >= 0 ? (uint32_t)(p - e->data) : NO_VALUE;
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
static entry *entry_new(const entry_src *s, size_t max)
{
    entry_shape sh;
    if (!entry_measure(s, &sh))
        return NULL;
    size_t head = (sh.nf + sh.nv) * sizeof(eref) + s->key_len + 1 + sh.strs + sh.vstrs;
    size_t size = sizeof(entry) + head + s->body_cap;
    if (size > max || head > UINT32_MAX / 2)
        return NULL;
    entry *e = malloc(size);
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
    e->etag_off = e->lm_off = NO_VALUE;
    char *p = e->data + (sh.nf + sh.nv) * sizeof(eref);
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
static int entry_append(entry **ep, const void *p, size_t n, size_t max)
{
    entry *e = *ep;
    if (e->cap - e->body_len < n) {
        size_t need = e->body_len + n, cap = e->cap ? e->cap : 4096;
        while (cap < need)
            cap *= 2;
        if (sizeof(entry) + e->body_off + need > max)
            return -EFBIG;
        if (sizeof(entry) + e->body_off + cap > max)
            cap = max - sizeof(entry) - e->body_off;
        entry *g = realloc(e, sizeof(entry) + e->body_off + cap);
        if (!g)
            return -ENOMEM;
        *ep = e = g;
        e->cap = cap;
        e->size = sizeof(entry) + e->body_off + cap;
    }
    memcpy(e->data + e->body_off + e->body_len, p, n);
    e->body_len += n;
    return 0;
}

/* Whether the request's fields match e's Vary selectors. */
static bool vary_match(const entry *e, const goc_http_header *req)
{
    const eref *v = evary(e);
    for (uint32_t i = 0; i < e->nvary; i++) {
        const char *name = estr(e, v[i].name_off);
        int64_t j = joined(req, name, v[i].name_len, NULL);
        if (j < 0 || v[i].value_off == NO_VALUE) {
            if ((j < 0) != (v[i].value_off == NO_VALUE))
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
        bool same = memcmp(buf, estr(e, v[i].value_off), (size_t)j) == 0;
        if (buf != stackbuf)
            free(buf);
        if (!same)
            return false;
    }
    return true;
}

/* ---- the index ---------------------------------------------------------- */

static bool key_is(const entry *e, uint64_t hash, const char *key, size_t n)
{
    return e->hash == hash && e->key_len == n && memcmp(e->data + e->key_off, key, n) == 0;
}

static void lru_unlink(goc_http_cache *c, entry *e)
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

static void lru_push(goc_http_cache *c, entry *e)
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
static void index_remove(goc_http_cache *c, entry *e)
{
    GOC_ASSERT(c->locked);
    entry **pp = &c->buckets[e->hash & (c->nbuckets - 1)];
    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    lru_unlink(c, e);
    c->bytes -= e->size;
    c->entries--;
    entry_release(e);
}

/* The entry of key whose Vary matches req, or NULL. mu held. */
static entry *index_find(goc_http_cache *c, uint64_t hash, const char *key, size_t n,
                         const goc_http_header *req)
{
    GOC_ASSERT(c->locked);
    for (entry *e = c->buckets[hash & (c->nbuckets - 1)]; e; e = e->hnext)
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
    entry **b = calloc(nb, sizeof *b);
    if (!b)
        return;
    for (size_t i = 0; i < c->nbuckets; i++) {
        for (entry *e = c->buckets[i], *next; e; e = next) {
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
static void index_insert(goc_http_cache *c, entry *e, const goc_http_header *req)
{
    GOC_ASSERT(c->locked);
    if (e->size > c->max_bytes) {
        entry_release(e);
        return;
    }
    const char *key = e->data + e->key_off;
    for (entry *o; (o = index_find(c, e->hash, key, e->key_len, req)) != NULL;)
        index_remove(c, o);
    while (c->lru_tail && c->bytes + e->size > c->max_bytes) {
        index_remove(c, c->lru_tail);
        count(&c->evicted);
    }
    index_grow(c);
    entry **b = &c->buckets[e->hash & (c->nbuckets - 1)];
    e->hnext = *b;
    *b = e;
    lru_push(c, e);
    c->bytes += e->size;
    c->entries++;
    count(&c->stored);
}

/* Drop every entry of key (all variants). */
static void index_drop_key(goc_http_cache *c, uint64_t hash, const char *key, size_t n)
{
    cache_lock(c);
    entry **pp = &c->buckets[hash & (c->nbuckets - 1)];
    while (*pp) {
        entry *e = *pp;
        if (key_is(e, hash, key, n))
            index_remove(c, e); /* unlinks *pp */
        else
            pp = &e->hnext;
    }
    cache_unlock(c);
}

/* ---- answering from an entry -------------------------------------------- */

/* Whether the client's own conditional (inm, ims) holds for a response
 * with status, etag and lm (RFC 9110 13.2.2: If-None-Match first, else
 * If-Modified-Since), for a GET or HEAD. */
static bool not_modified(int status, const char *etag, const char *lm, const char *inm,
                         const char *ims)
{
    if (status != 200)
        return false;
    if (inm)
        return goc__cache_etag_match(inm, etag);
    time_t a, b;
    return ims && lm && goc__http_parse_time(ims, &a) == 0 && goc__http_parse_time(lm, &b) == 0 &&
           b <= a;
}

static bool client_not_modified(const entry *e, const char *inm, const char *ims)
{
    return not_modified(e->status, estr(e, e->etag_off), estr(e, e->lm_off), inm, ims);
}

static bool field_in_304(const char *name, size_t n)
{
    static const char *const keep[] = {
        "Cache-Control", "Content-Location", "Date", "ETag", "Expires", "Vary", "Last-Modified"};
    for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++)
        if (strlen(keep[i]) == n && goc__http_token_eq(name, keep[i], n))
            return true;
    return false;
}

/* Answer r from e: its fields (one copy of their strings into request
 * memory), Age, X-Cache, then the body (none for HEAD), or a 304 when the
 * client's conditional (inm, ims) holds. */
static void serve_entry(goc_http_response_writer *w, goc_http_request *r, const entry *e,
                        const char *xcache, bool head, const char *inm, const char *ims)
{
    goc_http_header *h = goc_http_response_header(w);
    bool nm = client_not_modified(e, inm, ims);
    char *strs = goc_http_request_alloc(r, e->strs_len);
    if (!strs) {
        goc_http_error(w, "http: no memory for the cached response", 503);
        return;
    }
    memcpy(strs, e->data + e->strs_off, e->strs_len);
    const eref *f = efields(e);
    for (uint32_t i = 0; i < e->nfields; i++) {
        const char *name = strs + (f[i].name_off - e->strs_off);
        if (nm && !field_in_304(name, f[i].name_len))
            continue;
        goc__http_header_push(h, name, f[i].name_len, strs + (f[i].value_off - e->strs_off),
                              f[i].value_len);
    }
    char num[24];
    int64_t age = goc__cache_current_age(&e->clock, wall_now()) / NS_PER_SEC;
    snprintf(num, sizeof num, "%lld",
             (long long)(age < GOC__CC_DELTA_MAX ? age : GOC__CC_DELTA_MAX));
    goc_http_header_set(h, "Age", num);
    goc_http_header_set(h, "X-Cache", xcache);
    if (nm) {
        goc_http_write_header(w, 304);
        return;
    }
    if (e->status != 204) {
        snprintf(num, sizeof num, "%zu", e->body_len);
        goc_http_header_set(h, "Content-Length", num);
    }
    goc_http_write_header(w, e->status);
    if (!head && e->body_len && e->status != 204)
        goc_http_write(w, e->data + e->body_off, e->body_len);
}

/* ---- the capturing writer ----------------------------------------------- */

/* A GET or HEAD through the cache: what its handler learned of it. */
typedef struct creq {
    goc_http_cache *c;
    goc_http_handler next;
    goc_http_request *r;
    const char *key; /* in request memory; NULL: no memory for one */
    size_t key_len;
    uint64_t hash;
    goc__cc qcc;           /* the request's Cache-Control */
    const char *inm, *ims; /* the client's own conditionals, or NULL */
    bool head;
} creq;

enum { UNDECIDED, PASS, STORE, NOT_MODIFIED, HIJACKED };

typedef struct cw {
    goc_http_response_writer w; /* first: the ops get a cw through it */
    goc_http_response_writer *out;
    const creq *q;
    entry *stale; /* revalidating this (a reference), or NULL */
    entry *e;     /* STORE: being built */
    int state;
    bool may_store; /* a GET the cache could store the answer to */
    bool nm;        /* the client's conditional holds: it gets a 304, the
                       body goes to the entry alone */
    int64_t request_time;
    bool stripped;        /* the client's conditionals were taken off the request */
    int64_t clen;         /* the response's Content-Length, -1 */
    uint32_t nbase;       /* fields of the header an outer layer had set */
    goc_http_header h304; /* NOT_MODIFIED: the 304's fields (read-only) */
} cw;

/* The header maps back to the real writer, before each call on it and
 * at the end, with X-Cache once the response is judged: set here each
 * time, not once, because a wrapper below may hand back its own copy of
 * the map (gzip's) after our field went in, and the head is sent at the
 * server's first commit, whichever map it then finds. */
static void give_back(cw *g)
{
    if ((g->state == PASS || g->state == STORE) &&
        goc__http_header_find(&g->w.header, "X-Cache", 7) < 0)
        goc_http_header_set(&g->w.header, "X-Cache", "MISS");
    g->out->header = g->w.header;
    g->out->trailer = g->w.trailer;
}

static void abandon(cw *g)
{
    if (g->e)
        count(&g->q->c->not_storable);
    entry_release(g->e);
    g->e = NULL;
    if (g->state == STORE)
        g->state = PASS;
}

static int64_t parse_clen(const char *v)
{
    if (!v || !*v)
        return -1;
    int64_t n = 0;
    for (; *v; v++) {
        if (*v < '0' || *v > '9' || n > (INT64_MAX - 9) / 10)
            return -1;
        n = n * 10 + (*v - '0');
    }
    return n;
}

/* The Age field of h in ns (0 if none or malformed). */
static int64_t age_field(const goc_http_header *h)
{
    const char *v = goc_http_header_get(h, "Age");
    int64_t age = v ? goc__cc_delta_seconds(v, strlen(v)) : -1;
    return age > 0 ? age * NS_PER_SEC : 0;
}

/* Begin an entry for the response whose header is g->w.header: NULL if
 * the rules do not let it be stored, its declared length is over
 * max_entry_bytes, or on ENOMEM. */
static entry *begin_entry(cw *g, int status, int64_t now)
{
    const creq *q = g->q;
    const goc_http_header *h = &g->w.header;
    goc__cc rcc;
    goc__cc_init(&rcc);
    goc__cc_from_header(&rcc, h, false);
    entry_src s = {.h = h,
                   .req = q->r->header,
                   .key = q->key,
                   .key_len = q->key_len,
                   .hash = q->hash,
                   .status = status,
                   .ccflags = rcc.flags};
    s.clock = (goc__cache_clock){g->request_time, now, goc__cache_date(h, now), age_field(h)};
    s.lifetime = goc__cache_lifetime(&rcc, h, s.clock.date, q->c->default_ttl);
    if (goc__cache_storable(q->r->header, &q->qcc, status, h, &rcc, s.lifetime) != 0)
        return NULL;
    if (s.lifetime < 0)
        s.lifetime = 0; /* no-cache with a validator: revalidated at each use */
    g->clen = parse_clen(goc_http_header_get(h, "Content-Length"));
    if (g->clen >= 0 && (uint64_t)g->clen > q->c->max_entry)
        return NULL;
    s.body_cap = g->clen >= 0 ? (size_t)g->clen : 0;
    return entry_new(&s, q->c->max_entry);
}

/* The response's status is known (code, or 200 for a first write): judge
 * its header once. */
static void decide(cw *g, int code)
{
    int64_t now = wall_now();
    if (g->stale && code == 304) {
        /* The fields the handler set (not those of an outer layer), kept
         * from the client. */
        g->state = NOT_MODIFIED;
        g->h304 = g->w.header;
        g->h304.v += g->nbase;
        g->h304.n -= g->nbase;
        g->h304.cap -= g->nbase;
        return;
    }
    if (g->may_store) {
        g->e = begin_entry(g, code, now);
        if (!g->e)
            count(&g->q->c->not_storable);
    }
    g->state = g->e ? STORE : PASS; /* give_back adds X-Cache: MISS */
    const goc_http_header *h = &g->w.header;
    g->nm =
        g->stripped && not_modified(code, goc_http_header_get(h, "ETag"),
                                    goc_http_header_get(h, "Last-Modified"), g->q->inm, g->q->ims);
}

/* The client's 304 (nm), once: later calls would be superfluous
 * WriteHeaders. Maps given back. */
static int send_304(cw *g)
{
    return goc_http_response_status(g->out) ? 0 : goc_http_write_header(g->out, 304);
}

static int cw_write_header(goc_http_response_writer *w, int code)
{
    cw *g = (cw *)w;
    if (g->state == HIJACKED)
        return GOC_EHTTP_HIJACKED;
    if (code >= 200 && w->status == 0) {
        w->status = code;
        if (g->state == UNDECIDED)
            decide(g, code);
    }
    if (g->state == NOT_MODIFIED)
        return 0;
    give_back(g);
    return goc_http_write_header(g->out, g->nm && code >= 200 ? 304 : code);
}

static ssize_t cw_write(goc_http_response_writer *w, const void *p, size_t n)
{
    cw *g = (cw *)w;
    if (g->state == HIJACKED)
        return GOC_EHTTP_HIJACKED;
    if (w->status == 0) {
        w->status = 200;
        decide(g, 200);
    }
    if (g->state == NOT_MODIFIED)
        return n ? GOC_EHTTP_BODY_NOT_ALLOWED : 0;
    if (g->state == STORE && entry_append(&g->e, p, n, g->q->c->max_entry) < 0)
        abandon(g); /* too large (or no memory): streamed, not stored */
    give_back(g);
    if (g->nm) { /* the client has its 304: the body is the entry's alone */
        int rc = send_304(g);
        if (rc < 0)
            abandon(g);
        else
            w->written += (int64_t)n;
        return rc < 0 ? rc : (ssize_t)n;
    }
    ssize_t r = goc_http_write(g->out, p, n);
    if (r < 0)
        abandon(g);
    else
        w->written += r;
    return r;
}

static int cw_flush(goc_http_response_writer *w)
{
    cw *g = (cw *)w;
    if (g->state == HIJACKED)
        return GOC_EHTTP_HIJACKED;
    if (w->status == 0) {
        w->status = 200;
        decide(g, 200);
    }
    if (g->state == NOT_MODIFIED)
        return 0;
    give_back(g);
    int rc = g->nm ? send_304(g) : 0; /* else the flush would commit a 200 */
    return rc < 0 ? rc : goc_http_flush(g->out);
}

static ssize_t cw_sendfile(goc_http_response_writer *w, int fd, off_t off, size_t count)
{
    cw *g = (cw *)w;
    if (g->state == HIJACKED)
        return GOC_EHTTP_HIJACKED;
    if (w->status == 0) {
        w->status = 200;
        decide(g, 200);
    }
    if (g->state != STORE) {
        if (g->state == NOT_MODIFIED)
            return count ? GOC_EHTTP_BODY_NOT_ALLOWED : 0;
        if (g->nm) { /* the client has its 304: nothing of the file */
            give_back(g);
            int rc = send_304(g);
            return rc < 0 ? rc : (ssize_t)count;
        }
        give_back(g);
        ssize_t r = goc_http_sendfile(g->out, fd, off, count);
        if (r > 0)
            w->written += r;
        return r;
    }
    /* Stored: the bytes pass through memory, into the entry and out. */
    char buf[16384];
    size_t done = 0;
    while (done < count) {
        size_t k = count - done < sizeof buf ? count - done : sizeof buf;
        ssize_t r = goc__http_pread_cached(fd, buf, k, off + (off_t)done);
        if (r <= 0) {
            if (r < 0 || done == 0)
                abandon(g);
            return r < 0 ? r : (ssize_t)done;
        }
        ssize_t wr = cw_write(w, buf, (size_t)r);
        if (wr < 0)
            return wr;
        done += (size_t)r;
    }
    return (ssize_t)done;
}

static int cw_hijack(goc_http_response_writer *w, int *fd, char **buffered, size_t *nbuf)
{
    cw *g = (cw *)w;
    give_back(g);
    int rc = goc_http_hijack(g->out, fd, buffered, nbuf);
    if (rc == 0) {
        abandon(g);
        g->state = HIJACKED;
    }
    return rc;
}

static const goc__http_rw_ops cw_ops = {
    .write_header = cw_write_header,
    .write = cw_write,
    .flush = cw_flush,
    .sendfile = cw_sendfile,
    .hijack = cw_hijack,
};

/* ---- refreshing after a 304 --------------------------------------------- */

/* A new entry: the 304's fields (h304) over old's, old's body; NULL on
 * ENOMEM. RFC 9111 4.3.4. */
static entry *refresh(cw *g, const entry *old, int64_t now)
{
    goc_http_header tmp;
    goc__http_header_init(&tmp, g->q->r->priv_->arena);
    /* A 304 without a Date (the server below adds its own only on the
     * wire) leaves the entry a Date of now (entry_new). */
    bool new_date = goc_http_header_get(&g->h304, "Date") == NULL;
    const eref *f = efields(old);
    for (uint32_t i = 0; i < old->nfields; i++) {
        const char *name = estr(old, f[i].name_off);
        if (new_date && f[i].name_len == 4 && goc__http_token_eq(name, "Date", 4))
            continue;
        if (goc__http_header_find(&g->h304, name, f[i].name_len) < 0 &&
            goc__http_header_push(&tmp, name, f[i].name_len, estr(old, f[i].value_off),
                                  f[i].value_len) < 0)
            return NULL;
    }
    for (uint32_t i = 0; i < g->h304.n; i++) {
        const goc__hentry *he = &g->h304.v[i];
        if (!goc__cache_skip_field(he->name, he->name_len, &g->h304) &&
            goc__http_header_push(&tmp, he->name, he->name_len, he->value, he->value_len) < 0)
            return NULL;
    }
    goc__cc rcc;
    goc__cc_init(&rcc);
    goc__cc_from_header(&rcc, &tmp, false);
    entry_src s = {.h = &tmp,
                   .req = g->q->r->header,
                   .key = g->q->key,
                   .key_len = g->q->key_len,
                   .hash = g->q->hash,
                   .status = old->status,
                   .ccflags = rcc.flags,
                   .body_cap = old->body_len};
    s.clock = (goc__cache_clock){g->request_time, now, goc__cache_date(&g->h304, now), 0};
    s.clock.age = age_field(&g->h304);
    s.lifetime = goc__cache_lifetime(&rcc, &tmp, s.clock.date, g->q->c->default_ttl);
    if (s.lifetime < 0)
        s.lifetime = 0;
    entry *e = entry_new(&s, SIZE_MAX);
    if (e) {
        memcpy(e->data + e->body_off, old->data + old->body_off, old->body_len);
        e->body_len = old->body_len;
    }
    return e;
}

/* ---- the handler -------------------------------------------------------- */

/* Set our validators of stale on the request, replacing the client's
 * own conditionals (the cache answers those itself). */
static void add_validators(goc_http_request *r, const entry *stale)
{
    goc_http_header_del(r->header, "If-None-Match");
    goc_http_header_del(r->header, "If-Modified-Since");
    if (stale->etag_off != NO_VALUE)
        goc_http_header_set(r->header, "If-None-Match", estr(stale, stale->etag_off));
    if (stale->lm_off != NO_VALUE)
        goc_http_header_set(r->header, "If-Modified-Since", estr(stale, stale->lm_off));
}

/* The handler below said 304 to our validators: store the refreshed
 * entry and answer from it (from stale if there was no memory). */
static void revalidated(cw *g, goc_http_response_writer *w)
{
    const creq *q = g->q;
    entry *e = refresh(g, g->stale, wall_now());
    if (e) {
        cache_lock(q->c);
        index_insert(q->c, entry_retain(e), q->r->header);
        cache_unlock(q->c);
    }
    if (g->w.header.n > g->nbase)
        g->w.header.n = g->nbase; /* the 304's fields were for the cache */
    give_back(g);
    serve_entry(w, q->r, e ? e : g->stale, "REVALIDATED", q->head, q->inm, q->ims);
    entry_release(e);
}

/* The response was streamed into g->e: insert it if it is whole (all
 * of its declared length, no trailers, every byte the client got). */
static void store(cw *g)
{
    goc_http_cache *c = g->q->c;
    entry *e = g->e;
    g->e = NULL;
    bool whole = g->w.trailer.n == 0 && (g->clen < 0 || (uint64_t)g->clen == e->body_len) &&
                 (int64_t)e->body_len == g->w.written;
    if (!whole) {
        count(&c->not_storable);
        entry_release(e);
        return;
    }
    if (e->cap > e->body_len) {
        /* Charge what is used: give the slack of the last growth back. */
        entry *s = realloc(e, sizeof(entry) + e->body_off + e->body_len);
        if (s) {
            e = s;
            e->cap = e->body_len;
            e->size = sizeof(entry) + e->body_off + e->body_len;
        }
    }
    cache_lock(c);
    index_insert(c, e, g->q->r->header);
    cache_unlock(c);
}

/* The handler below answers q's request through a cw; revalidating stale
 * if not NULL (a reference, kept by the caller); storing the answer if
 * may_store and the rules allow. */
static void fetch(const creq *q, goc_http_response_writer *w, entry *stale, bool may_store)
{
    cw g;
    memset(&g, 0, sizeof g);
    goc__http_rw_init(&g.w, q->r, &cw_ops);
    g.w.header = w->header; /* moved: see give_back */
    g.w.trailer = w->trailer;
    g.nbase = g.w.header.n;
    g.out = w;
    g.q = q;
    g.stale = stale;
    g.may_store = may_store && q->key;
    g.clen = -1;
    g.state = UNDECIDED;
    if (stale) {
        add_validators(q->r, stale);
    } else if (g.may_store && (q->inm || q->ims)) {
        /* The whole answer is what can be stored; the cache judges the
         * client's conditional against it (decide). */
        goc_http_header_del(q->r->header, "If-None-Match");
        goc_http_header_del(q->r->header, "If-Modified-Since");
        g.stripped = true;
    }
    g.request_time = wall_now();
    goc_http_serve_http(q->next, &g.w, q->r);

    if (g.state == UNDECIDED) /* wrote nothing: the server's 200 */
        decide(&g, 200);
    if (g.nm && g.state != NOT_MODIFIED && g.state != HIJACKED &&
        goc_http_response_status(w) == 0) {
        give_back(&g);
        goc_http_write_header(w, 304); /* the handler wrote no body */
    }
    count(g.state == NOT_MODIFIED ? &q->c->revalidated : &q->c->misses);
    if (g.state == NOT_MODIFIED) {
        revalidated(&g, w);
        return;
    }
    if (g.state != HIJACKED)
        give_back(&g);
    if (g.state == STORE)
        store(&g);
}

/* The key: lowercased Host, then the target. In request memory. */
static char *make_key(goc_http_request *r, size_t *n)
{
    size_t hl = strlen(r->host), tl = strlen(r->target);
    char *k = goc_http_request_alloc(r, hl + 1 + tl + 1);
    if (!k)
        return NULL;
    for (size_t i = 0; i < hl; i++)
        k[i] = (char)(r->host[i] >= 'A' && r->host[i] <= 'Z' ? r->host[i] + 32 : r->host[i]);
    k[hl] = ' ';
    memcpy(k + hl + 1, r->target, tl + 1);
    *n = hl + 1 + tl;
    return k;
}

/* Whether e may be used for a request with Cache-Control qcc without
 * revalidation, at now. */
static bool usable(const entry *e, const goc__cc *qcc, int64_t now)
{
    if ((e->ccflags | qcc->flags) & GOC__CC_NO_CACHE)
        return false;
    int64_t age = goc__cache_current_age(&e->clock, now);
    if (qcc->max_age >= 0 && age > qcc->max_age * NS_PER_SEC)
        return false;
    int64_t left = e->lifetime - age;
    if (qcc->min_fresh >= 0 && left < qcc->min_fresh * NS_PER_SEC)
        return false;
    if (left > 0)
        return true;
    /* Stale: a client's max-stale may take it, unless the response forbids. */
    if (e->ccflags & (GOC__CC_MUST_REVALIDATE | GOC__CC_PROXY_REVALIDATE))
        return false;
    return (qcc->flags & GOC__CC_MAX_STALE_ANY) ||
           (qcc->max_stale >= 0 && -left <= qcc->max_stale * NS_PER_SEC);
}

/* Wait for the flight's done or the request's ctx: 0, or ctx's error. */
static int wait_flight(goc_chan *done, goc_http_request *r)
{
    goc_ctx *ctx = goc_http_request_ctx(r);
    goc_case cs[2] = {GOC_RECV(done, NULL), GOC_RECV(ctx ? goc_ctx_done(ctx) : NULL, NULL)};
    goc_select(cs, 2, GOC_FOREVER);
    goc_chan_release(done);
    return ctx ? goc_ctx_err(ctx) : 0;
}

static flight *flight_find(goc_http_cache *c, uint64_t hash, const char *key, size_t n)
{
    GOC_ASSERT(c->locked);
    for (flight *f = c->flights[hash % FLIGHT_BUCKETS]; f; f = f->next)
        if (f->hash == hash && f->key_len == n && memcmp(f->key, key, n) == 0)
            return f;
    return NULL;
}

static void flight_end(goc_http_cache *c, flight *f)
{
    cache_lock(c);
    flight **pp = &c->flights[f->hash % FLIGHT_BUCKETS];
    while (*pp != f)
        pp = &(*pp)->next;
    *pp = f->next;
    cache_unlock(c);
    goc_chan_close(f->done);
    goc_chan_release(f->done);
}

static bool is_unsafe(const char *m)
{
    return !strcmp(m, "POST") || !strcmp(m, "PUT") || !strcmp(m, "DELETE") || !strcmp(m, "PATCH");
}

/* Not a GET or HEAD: pass through, and a success invalidates the key. */
static void serve_other(goc_http_cache *c, goc_http_handler next, goc_http_response_writer *w,
                        goc_http_request *r)
{
    goc_http_serve_http(next, w, r);
    int st = goc_http_response_status(w);
    if (!is_unsafe(r->method) || (st != 0 && (st < 200 || st >= 400)))
        return;
    size_t n;
    char *key = make_key(r, &n);
    if (key)
        index_drop_key(c, hash_key(key, n), key, n);
}

/* A fresh entry e found under the lock: answer from it. Drops the lock. */
static void serve_hit(creq *q, goc_http_response_writer *w, entry *e, bool waited)
{
    goc_http_cache *c = q->c;
    entry_retain(e);
    lru_unlink(c, e);
    lru_push(c, e);
    cache_unlock(c);
    count(&c->hits);
    if (waited)
        count(&c->coalesced);
    serve_entry(w, q->r, e, "HIT", q->head, q->inm, q->ims);
    entry_release(e);
}

/* No usable entry (stale: one to revalidate, a reference) and no flight
 * to wait for, under the lock: to the handler below, leading a flight
 * others can wait for if lead. Drops the lock. */
static void miss(creq *q, goc_http_response_writer *w, entry *stale, bool lead)
{
    goc_http_cache *c = q->c;
    flight mine = {.hash = q->hash, .key = q->key, .key_len = q->key_len};
    lead = lead && (mine.done = goc_chan_make(0, 0)) != NULL;
    if (lead) {
        mine.next = c->flights[q->hash % FLIGHT_BUCKETS];
        c->flights[q->hash % FLIGHT_BUCKETS] = &mine;
    }
    cache_unlock(c);
    fetch(q, w, stale, !q->head);
    entry_release(stale);
    if (lead)
        flight_end(c, &mine);
}

static void cache_serve(goc_http_response_writer *w, goc_http_request *r, void *arg)
{
    const cache_arg *a = arg;
    creq q = {.c = a->c, .next = a->next_h, .r = r, .head = strcmp(r->method, "HEAD") == 0};
    if (!q.head && strcmp(r->method, "GET") != 0) {
        serve_other(a->c, a->next_h, w, r);
        return;
    }
    goc__cc_init(&q.qcc);
    goc__cc_from_header(&q.qcc, r->header, true);
    q.inm = goc_http_header_get(r->header, "If-None-Match");
    q.ims = goc_http_header_get(r->header, "If-Modified-Since");
    q.key = make_key(r, &q.key_len);
    if (!q.key || (q.qcc.flags & GOC__CC_NO_STORE) || goc_http_header_get(r->header, "Range")) {
        fetch(&q, w, NULL, false); /* bypass */
        return;
    }
    q.hash = hash_key(q.key, q.key_len);
    for (bool waited = false;; waited = true) {
        cache_lock(q.c);
        entry *e = index_find(q.c, q.hash, q.key, q.key_len, r->header);
        if (e && usable(e, &q.qcc, wall_now())) {
            serve_hit(&q, w, e, waited);
            return;
        }
        /* Stale (or to revalidate) with a validator: revalidated; else anew. */
        e = e && (e->etag_off != NO_VALUE || e->lm_off != NO_VALUE) ? entry_retain(e) : NULL;
        if (q.qcc.flags & GOC__CC_ONLY_IF_CACHED) {
            cache_unlock(q.c);
            entry_release(e);
            goc_http_error(w, "Gateway Timeout", 504);
            return;
        }
        flight *f = waited ? NULL : flight_find(q.c, q.hash, q.key, q.key_len);
        if (!f) {
            /* A GET leads (a HEAD's answer is not stored). */
            miss(&q, w, e, !waited && !q.head);
            return;
        }
        goc_chan *done = goc_chan_retain(f->done);
        cache_unlock(q.c);
        entry_release(e);
        if (wait_flight(done, r) < 0)
            return; /* the client went away */
    }
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
    cache_lock(c);
    while (c->lru_head)
        index_remove(c, c->lru_head);
    cache_unlock(c);
}

void goc_http_cache_free(goc_http_cache *c)
{
    if (!c)
        return;
    goc_http_cache_purge(c);
    for (cache_arg *a = c->args, *next; a; a = next) {
        next = a->next;
        free(a);
    }
    free(c->buckets);
    free(c);
}

goc_http_handler goc_http_cache_handler(goc_http_cache *c, goc_http_handler h)
{
    cache_arg *a = malloc(sizeof *a);
    if (!c || !a) {
        free(a);
        return (goc_http_handler){NULL, NULL};
    }
    a->c = c;
    a->next_h = h;
    cache_lock(c);
    a->next = c->args;
    c->args = a;
    cache_unlock(c);
    return (goc_http_handler){cache_serve, a};
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
    cache_lock(c);
    out->bytes = c->bytes;
    out->entries = c->entries;
    cache_unlock(c);
}
