/*
 * cache.c — goc_http_cache: a shared HTTP cache (RFC 9111) in front of a
 * handler. The rules (what may be stored, for how long) are
 * cache_control.c's, the store is cache_store.c's; this file owns the
 * life of a request through it.
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
 * The store (entries, the index, LRU eviction, reference counts, the
 * statistics' reads) is cache_store.c's, declared in cache.h. This file
 * owns the handler: the capturing writer, the flights, revalidation.
 *
 * Locking: c->mu (cache.h says which fields it guards) is taken here for
 * the index, the flights and the list of handler args, and is never held
 * across a call to the handler below, a write to the client, or a wait.
 * Counters are bumped relaxed (statistics order nothing); an entry this
 * handler reads is a reference of its own, dropped when the answer is
 * written.
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

#define NS_PER_SEC 1000000000LL

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

static bool client_not_modified(const goc__cache_entry *e, const char *inm, const char *ims)
{
    return not_modified(e->status, goc__cache_estr(e, e->etag_off), goc__cache_estr(e, e->lm_off),
                        inm, ims);
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
static void serve_entry(goc_http_response_writer *w, goc_http_request *r, const goc__cache_entry *e,
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
    const goc__cache_eref *f = goc__cache_efields(e);
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
    goc__cache_entry *stale; /* revalidating this (a reference), or NULL */
    goc__cache_entry *e;     /* STORE: being built */
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
        goc__cache_count(&g->q->c->not_storable);
    goc__cache_entry_release(g->e);
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
static goc__cache_entry *begin_entry(cw *g, int status, int64_t now)
{
    const creq *q = g->q;
    const goc_http_header *h = &g->w.header;
    goc__cc rcc;
    goc__cc_init(&rcc);
    goc__cc_from_header(&rcc, h, false);
    goc__cache_entry_src s = {.h = h,
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
    return goc__cache_entry_new(&s, q->c->max_entry);
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
            goc__cache_count(&g->q->c->not_storable);
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
    if (g->state == STORE && goc__cache_entry_append(&g->e, p, n, g->q->c->max_entry) < 0)
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

/* The handler below gave its response up mid-way (a reverse proxy whose
 * upstream cut the body): never stored, and the client sees it cut too. */
static void cw_abort(goc_http_response_writer *w)
{
    cw *g = (cw *)w;
    abandon(g);
    give_back(g);
    goc_http_abort(g->out);
}

static const goc__http_rw_ops cw_ops = {
    .write_header = cw_write_header,
    .write = cw_write,
    .flush = cw_flush,
    .sendfile = cw_sendfile,
    .hijack = cw_hijack,
    .abort = cw_abort,
};

/* ---- refreshing after a 304 --------------------------------------------- */

/* A new entry: the 304's fields (h304) over old's, old's body; NULL on
 * ENOMEM. RFC 9111 4.3.4. */
static goc__cache_entry *refresh(cw *g, const goc__cache_entry *old, int64_t now)
{
    goc_http_header tmp;
    goc__http_header_init(&tmp, g->q->r->priv_->arena);
    /* A 304 without a Date (the server below adds its own only on the
     * wire) leaves the entry a Date of now (goc__cache_entry_new). */
    bool new_date = goc_http_header_get(&g->h304, "Date") == NULL;
    const goc__cache_eref *f = goc__cache_efields(old);
    for (uint32_t i = 0; i < old->nfields; i++) {
        const char *name = goc__cache_estr(old, f[i].name_off);
        if (new_date && f[i].name_len == 4 && goc__http_token_eq(name, "Date", 4))
            continue;
        if (goc__http_header_find(&g->h304, name, f[i].name_len) < 0 &&
            goc__http_header_push(&tmp, name, f[i].name_len, goc__cache_estr(old, f[i].value_off),
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
    goc__cache_entry_src s = {.h = &tmp,
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
    goc__cache_entry *e = goc__cache_entry_new(&s, SIZE_MAX);
    if (e) {
        memcpy(e->data + e->body_off, old->data + old->body_off, old->body_len);
        e->body_len = old->body_len;
    }
    return e;
}

/* ---- the handler -------------------------------------------------------- */

/* Set our validators of stale on the request, replacing the client's
 * own conditionals (the cache answers those itself). */
static void add_validators(goc_http_request *r, const goc__cache_entry *stale)
{
    goc_http_header_del(r->header, "If-None-Match");
    goc_http_header_del(r->header, "If-Modified-Since");
    if (stale->etag_off != GOC__CACHE_NO_VALUE)
        goc_http_header_set(r->header, "If-None-Match", goc__cache_estr(stale, stale->etag_off));
    if (stale->lm_off != GOC__CACHE_NO_VALUE)
        goc_http_header_set(r->header, "If-Modified-Since", goc__cache_estr(stale, stale->lm_off));
}

/* The handler below said 304 to our validators: store the refreshed
 * entry and answer from it (from stale if there was no memory). */
static void revalidated(cw *g, goc_http_response_writer *w)
{
    const creq *q = g->q;
    goc__cache_entry *e = refresh(g, g->stale, wall_now());
    if (e) {
        goc__cache_lock(q->c);
        goc__cache_index_insert(q->c, goc__cache_entry_retain(e), q->r->header);
        goc__cache_unlock(q->c);
    }
    if (g->w.header.n > g->nbase)
        g->w.header.n = g->nbase; /* the 304's fields were for the cache */
    give_back(g);
    serve_entry(w, q->r, e ? e : g->stale, "REVALIDATED", q->head, q->inm, q->ims);
    goc__cache_entry_release(e);
}

/* The response was streamed into g->e: insert it if it is whole (all
 * of its declared length, no trailers, every byte the client got). */
static void store(cw *g)
{
    goc_http_cache *c = g->q->c;
    goc__cache_entry *e = g->e;
    g->e = NULL;
    bool whole = g->w.trailer.n == 0 && (g->clen < 0 || (uint64_t)g->clen == e->body_len) &&
                 (int64_t)e->body_len == g->w.written;
    if (!whole) {
        goc__cache_count(&c->not_storable);
        goc__cache_entry_release(e);
        return;
    }
    if (e->cap > e->body_len) {
        /* Charge what is used: give the slack of the last growth back. */
        goc__cache_entry *s = realloc(e, sizeof(goc__cache_entry) + e->body_off + e->body_len);
        if (s) {
            e = s;
            e->cap = e->body_len;
            e->size = sizeof(goc__cache_entry) + e->body_off + e->body_len;
        }
    }
    goc__cache_lock(c);
    goc__cache_index_insert(c, e, g->q->r->header);
    goc__cache_unlock(c);
}

/* The handler below answers q's request through a cw; revalidating stale
 * if not NULL (a reference, kept by the caller); storing the answer if
 * may_store and the rules allow. */
static void fetch(const creq *q, goc_http_response_writer *w, goc__cache_entry *stale,
                  bool may_store)
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
    goc__cache_count(g.state == NOT_MODIFIED ? &q->c->revalidated : &q->c->misses);
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
static bool usable(const goc__cache_entry *e, const goc__cc *qcc, int64_t now)
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

static goc__cache_flight *flight_find(goc_http_cache *c, uint64_t hash, const char *key, size_t n)
{
    GOC_ASSERT(c->locked);
    for (goc__cache_flight *f = c->flights[hash % GOC__CACHE_FLIGHT_BUCKETS]; f; f = f->next)
        if (f->hash == hash && f->key_len == n && memcmp(f->key, key, n) == 0)
            return f;
    return NULL;
}

static void flight_end(goc_http_cache *c, goc__cache_flight *f)
{
    goc__cache_lock(c);
    goc__cache_flight **pp = &c->flights[f->hash % GOC__CACHE_FLIGHT_BUCKETS];
    while (*pp != f)
        pp = &(*pp)->next;
    *pp = f->next;
    goc__cache_unlock(c);
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
        goc__cache_index_drop_key(c, hash_key(key, n), key, n);
}

/* A fresh entry e found under the lock: answer from it. Drops the lock. */
static void serve_hit(creq *q, goc_http_response_writer *w, goc__cache_entry *e, bool waited)
{
    goc_http_cache *c = q->c;
    goc__cache_entry_retain(e);
    goc__cache_lru_unlink(c, e);
    goc__cache_lru_push(c, e);
    goc__cache_unlock(c);
    goc__cache_count(&c->hits);
    if (waited)
        goc__cache_count(&c->coalesced);
    serve_entry(w, q->r, e, "HIT", q->head, q->inm, q->ims);
    goc__cache_entry_release(e);
}

/* No usable entry (stale: one to revalidate, a reference) and no flight
 * to wait for, under the lock: to the handler below, leading a flight
 * others can wait for if lead. Drops the lock. */
static void miss(creq *q, goc_http_response_writer *w, goc__cache_entry *stale, bool lead)
{
    goc_http_cache *c = q->c;
    goc__cache_flight mine = {.hash = q->hash, .key = q->key, .key_len = q->key_len};
    lead = lead && (mine.done = goc_chan_make(0, 0)) != NULL;
    if (lead) {
        mine.next = c->flights[q->hash % GOC__CACHE_FLIGHT_BUCKETS];
        c->flights[q->hash % GOC__CACHE_FLIGHT_BUCKETS] = &mine;
    }
    goc__cache_unlock(c);
    fetch(q, w, stale, !q->head);
    goc__cache_entry_release(stale);
    if (lead)
        flight_end(c, &mine);
}

static void cache_serve(goc_http_response_writer *w, goc_http_request *r, void *arg)
{
    const goc__cache_arg *a = arg;
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
        goc__cache_lock(q.c);
        goc__cache_entry *e = goc__cache_index_find(q.c, q.hash, q.key, q.key_len, r->header);
        if (e && usable(e, &q.qcc, wall_now())) {
            serve_hit(&q, w, e, waited);
            return;
        }
        /* Stale (or to revalidate) with a validator: revalidated; else anew. */
        e = e && (e->etag_off != GOC__CACHE_NO_VALUE || e->lm_off != GOC__CACHE_NO_VALUE)
                ? goc__cache_entry_retain(e)
                : NULL;
        if (q.qcc.flags & GOC__CC_ONLY_IF_CACHED) {
            goc__cache_unlock(q.c);
            goc__cache_entry_release(e);
            goc_http_error(w, "Gateway Timeout", 504);
            return;
        }
        goc__cache_flight *f = waited ? NULL : flight_find(q.c, q.hash, q.key, q.key_len);
        if (!f) {
            /* A GET leads (a HEAD's answer is not stored). */
            miss(&q, w, e, !waited && !q.head);
            return;
        }
        goc_chan *done = goc_chan_retain(f->done);
        goc__cache_unlock(q.c);
        goc__cache_entry_release(e);
        if (wait_flight(done, r) < 0)
            return; /* the client went away */
    }
}

/* ---- the public surface ------------------------------------------------- */

goc_http_handler goc_http_cache_handler(goc_http_cache *c, goc_http_handler h)
{
    goc__cache_arg *a = malloc(sizeof *a);
    if (!c || !a) {
        free(a);
        return (goc_http_handler){NULL, NULL};
    }
    a->c = c;
    a->next_h = h;
    goc__cache_lock(c);
    a->next = c->args;
    c->args = a;
    goc__cache_unlock(c);
    return (goc_http_handler){cache_serve, a};
}
