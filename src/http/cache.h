/*
 * cache.h — the HTTP cache's internal interfaces, in two parts.
 *
 * The rules of RFC 9111 that the cache applies, as pure functions over
 * field values (cache_control.c): parsing Cache-Control, the freshness
 * lifetime and the current age (section 4.2), whether a response may be
 * stored by a shared cache (section 3), entity tag comparison for
 * If-None-Match, and the comma-separated lists Vary and If-None-Match are
 * made of. No state, no locks, no allocation, no runtime: any thread, and
 * the fuzz build (fuzz/fuzz_cachecontrol.c) links them with only the
 * field parsers. Times are int64_t nanoseconds of the wall clock (Date
 * and Expires are wall-clock seconds), so an Age can be computed across
 * them.
 *
 * The store (cache_store.c) as the handler (cache.c) uses it: the cache
 * object, its entries, the index and the LRU list. Types only for the
 * fuzz build, which links no store.
 */
#ifndef GOC_HTTP_CACHE_INTERNAL_H
#define GOC_HTTP_CACHE_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <goc/http.h>
#include <goc/httputil.h> /* goc_http_cache */

/* ---- Cache-Control ----------------------------------------------------- */

enum {
    GOC__CC_NO_STORE = 1u << 0,
    GOC__CC_NO_CACHE = 1u << 1, /* also no-cache="field", taken as unqualified */
    GOC__CC_PRIVATE = 1u << 2,  /* also private="field": a shared cache stores none of it */
    GOC__CC_PUBLIC = 1u << 3,
    GOC__CC_MUST_REVALIDATE = 1u << 4,
    GOC__CC_PROXY_REVALIDATE = 1u << 5,
    GOC__CC_NO_TRANSFORM = 1u << 6,
    GOC__CC_ONLY_IF_CACHED = 1u << 7,
    GOC__CC_IMMUTABLE = 1u << 8,
    GOC__CC_MAX_STALE_ANY = 1u << 9, /* max-stale without a value */
};

/* The largest delta-seconds kept (RFC 9111 1.2.2: 2^31). */
#define GOC__CC_DELTA_MAX ((int64_t)2147483648)

typedef struct goc__cc {
    uint32_t flags;
    /* Seconds, 0..GOC__CC_DELTA_MAX; -1 when absent. */
    int64_t max_age, s_maxage, max_stale, min_fresh;
} goc__cc;

void goc__cc_init(goc__cc *cc);
/* Add the directives of one Cache-Control field value s[0, n) to cc.
 * Names are case-insensitive; a value may be a token or a quoted-string;
 * unknown directives are ignored. A repeated directive keeps its first
 * value; max-age or s-maxage with a value that is not delta-seconds counts
 * as 0 (RFC 9111 4.2.1: such a response is stale). */
void goc__cc_parse(goc__cc *cc, const char *s, size_t n);
/* Every Cache-Control line of h into cc (after goc__cc_init); a request's
 * "Pragma: no-cache" counts as no-cache when it has no Cache-Control
 * (RFC 9111 5.4) if pragma is true. */
void goc__cc_from_header(goc__cc *cc, const goc_http_header *h, bool pragma);

/* delta-seconds (1*DIGIT) s[0, n): the value, clamped to
 * GOC__CC_DELTA_MAX, or -1 when s is not all digits or empty. */
int64_t goc__cc_delta_seconds(const char *s, size_t n);

/* ---- lists --------------------------------------------------------------- */

/* The next element of the comma-separated list s[0, n) from *pos
 * (start with 0): true and [*tok, *tok + *len) without surrounding
 * whitespace (empty elements skipped; commas inside a quoted-string do not
 * split), false at the end. */
bool goc__http_list_next(const char *s, size_t n, size_t *pos, const char **tok, size_t *len);

/* If-None-Match's weak comparison (RFC 9110 13.1.2): whether the list
 * inm ("*", or entity tags) matches etag (W/ prefixes ignored). NULLs
 * never match. */
bool goc__cache_etag_match(const char *inm, const char *etag);

/* ---- freshness (RFC 9111 4.2) -------------------------------------------- */

/* What is known of a stored response's age: times of the wall clock in ns. */
typedef struct goc__cache_clock {
    int64_t request_time;  /* the request was sent to the handler below */
    int64_t response_time; /* its response's header was received */
    int64_t date;          /* its Date, or response_time if it had none */
    int64_t age;           /* its Age field, ns (0 if none) */
} goc__cache_clock;

/* The freshness lifetime (ns) a shared cache gives a response with
 * Cache-Control cc and header h: s-maxage, else max-age, else Expires
 * minus date (an Expires that does not parse: 0), else default_ttl if it
 * is > 0; -1 if none applies. date: the response's Date (ns). */
int64_t goc__cache_lifetime(const goc__cc *cc, const goc_http_header *h, int64_t date,
                            int64_t default_ttl);
/* The response's current age at now (ns, >= 0), RFC 9111 4.2.3. */
int64_t goc__cache_current_age(const goc__cache_clock *k, int64_t now);
/* The Date field of h in ns, or fallback if absent or malformed. */
int64_t goc__cache_date(const goc_http_header *h, int64_t fallback);

/* ---- storing (RFC 9111 3, for a shared cache) ---------------------------- */

/* Why a response is not stored (0: it may be). */
enum {
    GOC__CACHE_STORE_OK = 0,
    GOC__CACHE_NO_STATUS,   /* a status not cacheable by default */
    GOC__CACHE_NO_STORE,    /* no-store in the request or the response */
    GOC__CACHE_PRIVATE,     /* private */
    GOC__CACHE_AUTHORIZED,  /* Authorization without public, s-maxage, must-revalidate */
    GOC__CACHE_SET_COOKIE,  /* Set-Cookie */
    GOC__CACHE_VARY_ANY,    /* Vary: * */
    GOC__CACHE_NO_LIFETIME, /* no lifetime, and no validator to revalidate with */
};

/* Whether a shared cache may store a response with status and header
 * resp (Cache-Control rcc, freshness lifetime lifetime, -1 if none) to a
 * GET with header req (Cache-Control qcc). A response without a lifetime
 * is stored when it says no-cache and has a validator (ETag or
 * Last-Modified): each use is revalidated; one with a lifetime of 0, or
 * no-cache, only if it has a validator. */
int goc__cache_storable(const goc_http_header *req, const goc__cc *qcc, int status,
                        const goc_http_header *resp, const goc__cc *rcc, int64_t lifetime);
/* The statuses a response is cacheable with by default, as the cache's
 * contract lists them: 200, 203, 204, 300, 301, 308, 404, 410. */
bool goc__cache_status_ok(int status);
/* Whether the field name[0, n) of response header h is hop-by-hop (RFC
 * 9110 7.6.1: the fixed ones and those h's Connection names) or of one
 * cache's own answer (Age, X-Cache): not stored. */
bool goc__cache_skip_field(const char *name, size_t n, const goc_http_header *h);

/* ---- the store (cache_store.c) -------------------------------------------- */

#define GOC__CACHE_NO_VALUE       UINT32_MAX
#define GOC__CACHE_FLIGHT_BUCKETS 64 /* flights are few: as many as misses in progress */

/* A stored field or Vary selector: offsets into the entry's data. A Vary
 * selector's value is the request's values of the field joined by ", ",
 * or GOC__CACHE_NO_VALUE when the request had none. */
typedef struct goc__cache_eref {
    uint32_t name_off, name_len, value_off, value_len;
} goc__cache_eref;

typedef struct goc__cache_entry {
    struct goc__cache_entry *hnext;         /* mu: the bucket's chain */
    struct goc__cache_entry *lprev, *lnext; /* mu: LRU list, most recent first */
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
    uint32_t etag_off, lm_off;   /* GOC__CACHE_NO_VALUE if none */
    size_t body_off, body_len, cap;
    _Alignas(8) char data[];
} goc__cache_entry;

/* A request of a key with the handler below, that others may wait for
 * (cache.c's). */
typedef struct goc__cache_flight {
    struct goc__cache_flight *next; /* mu */
    uint64_t hash;
    const char *key; /* the leader's (request memory) */
    size_t key_len;
    goc_chan *done; /* closed when the leader is done */
} goc__cache_flight;

/* What a handler made by goc_http_cache_handler is given (cache.c's);
 * freed with the cache. */
typedef struct goc__cache_arg {
    struct goc__cache_arg *next; /* mu: the cache's list, freed with it */
    goc_http_cache *c;
    goc_http_handler next_h;
} goc__cache_arg;

struct goc_http_cache {
    goc_mutex mu;
    bool locked;                                           /* mu: for debug assertions */
    goc__cache_entry **buckets;                            /* mu */
    size_t nbuckets;                                       /* mu: a power of 2 */
    goc__cache_entry *lru_head, *lru_tail;                 /* mu */
    size_t bytes, entries;                                 /* mu */
    goc__cache_flight *flights[GOC__CACHE_FLIGHT_BUCKETS]; /* mu: by hash */
    goc__cache_arg *args;                                  /* mu */
    /* Immutable: */
    size_t max_bytes, max_entry;
    goc_duration default_ttl;
    /* Statistics (relaxed). */
    _Atomic uint64_t hits, misses, revalidated, stored, evicted, not_storable, coalesced;
};

void goc__cache_lock(goc_http_cache *c);
void goc__cache_unlock(goc_http_cache *c);

static inline void goc__cache_count(_Atomic uint64_t *ctr)
{
    atomic_fetch_add_explicit(ctr, 1, memory_order_relaxed); /* statistics only */
}

static inline const char *goc__cache_estr(const goc__cache_entry *e, uint32_t off)
{
    return off == GOC__CACHE_NO_VALUE ? NULL : e->data + off;
}

static inline const goc__cache_eref *goc__cache_efields(const goc__cache_entry *e)
{
    return (const goc__cache_eref *)e->data;
}

/* Drop a reference to e (NULL: nothing); the last frees it. Any thread. */
void goc__cache_entry_release(goc__cache_entry *e);
/* Take a reference to e, which the caller holds one of (or under mu, the
 * index's): e. */
goc__cache_entry *goc__cache_entry_retain(goc__cache_entry *e);

/* What an entry is built from. */
typedef struct goc__cache_entry_src {
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
} goc__cache_entry_src;

/* A new entry with s's fields and room for body_cap body bytes, refs 1:
 * NULL on ENOMEM, past max (bytes in all), or with too many Vary names. */
goc__cache_entry *goc__cache_entry_new(const goc__cache_entry_src *s, size_t max);
/* Append p[0, n) to the body of e (not yet inserted), growing it within
 * max bytes in all: 0, or -EFBIG / -ENOMEM (*ep unchanged then). */
int goc__cache_entry_append(goc__cache_entry **ep, const void *p, size_t n, size_t max);

/* The LRU list: take e out, put it first. mu held. */
void goc__cache_lru_unlink(goc_http_cache *c, goc__cache_entry *e);
void goc__cache_lru_push(goc_http_cache *c, goc__cache_entry *e);
/* The entry of key whose Vary matches req, or NULL. mu held. */
goc__cache_entry *goc__cache_index_find(goc_http_cache *c, uint64_t hash, const char *key, size_t n,
                                        const goc_http_header *req);
/* Insert e (the reference passes to the index), dropping the entries of
 * its key that req's would have matched, and least recently used ones
 * until it fits; one larger than max_bytes in all is dropped instead.
 * mu held. */
void goc__cache_index_insert(goc_http_cache *c, goc__cache_entry *e, const goc_http_header *req);
/* Drop every entry of key (all variants). Takes mu. */
void goc__cache_index_drop_key(goc_http_cache *c, uint64_t hash, const char *key, size_t n);

#endif /* GOC_HTTP_CACHE_INTERNAL_H */
