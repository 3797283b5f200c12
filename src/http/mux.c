/*
 * mux.c — http.ServeMux with Go 1.22 patterns: registration, the routing
 * tree, a request's lookup, the answers the mux gives itself (301, 404,
 * 405) and path values.
 *
 * The routing tree (Go's routing_tree.go, in C): the root's children are
 * keyed by host, a host node's by method, and below that one level per
 * path segment. Each node has literal children (an open-addressing hash
 * table, FNV-1a), and at most one child each for a single wildcard, a
 * multi wildcard (always a leaf) and {$}. At the host and method levels,
 * the `wild` child holds the patterns without a host or method.
 *
 * A lookup walks host (the request's, then none), method (the request's,
 * GET for HEAD, then none), then the path: at each segment a literal
 * child first, then the wildcard, then the multi wildcard, backtracking
 * when a branch ends without a pattern. This finds the most specific
 * pattern because registration refuses every pattern that would make the
 * order matter otherwise (a conflict, pattern.c): among the patterns that
 * match a request, the one with a literal where another has a wildcard is
 * more specific, or the two would conflict.
 *
 * The hot path allocates nothing: one pass over the request's path checks
 * that it is clean and splits it into segments on the stack, each with its
 * hash (at most one more than the deepest pattern: below that only a
 * multi wildcard matches, and it takes the rest whole); a segment is
 * unescaped into a stack buffer only if it holds a '%', and only path
 * values are copied, into the request's arena. A path too long for the
 * stack buffers takes one malloc. The "/dir" -> "/dir/" probe (a second
 * walk) runs only if some pattern could match the path with a slash added
 * (slash_lens).
 *
 * Locking: m->mu (a goc_rwmutex) guards the tree, the pattern list and
 * maxdepth; lookups hold it for reading, registration for writing, from
 * any thread. Patterns are never removed, so a pattern (its string, its
 * handler) stays valid after the lock is dropped, until goc_http_mux_free.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http.h"
#include "http/mux.h"
#include "runtime/park.h"

typedef struct mnode mnode;

typedef struct mkid {
    const char *key; /* stored after its node, NUL-terminated */
    uint32_t len, hash;
    mnode *node; /* NULL: a free slot */
} mkid;

struct mnode {
    mkid *kids; /* literal children: open addressing, cap slots (a power of 2) */
    uint32_t nkids, cap;
    mnode *wild;   /* {name}; at the host and method levels: none given */
    mnode *multi;  /* {name...} or a trailing slash */
    mnode *dollar; /* {$} */
    goc__pattern *pat;
};

struct goc_http_mux {
    goc_rwmutex mu;
    mnode root;           /* mu */
    goc__pattern **pats;  /* mu: in registration order */
    uint32_t npats, cap;  /* mu */
    uint32_t maxdepth;    /* mu: the most segments of any pattern */
    uint64_t slash_lens;  /* mu: bit k: a pattern of k segments (63: or more)
                             ends in a multi wildcard or {$} */
    _Atomic bool writing; /* mu held for writing (debug checks) */
};

/* ---- the tree ------------------------------------------------------------- */

/* FNV-1a: the request's segments get theirs while they are scanned. */
#define HASH_SEED  2166136261u
#define HASH_PRIME 16777619u

static uint32_t key_hash(const char *s, size_t n)
{
    uint32_t h = HASH_SEED;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * HASH_PRIME;
    return h;
}

/* The slot of key in n's table, or the free slot where it would go. */
static mkid *kid_slot(const mnode *n, const char *key, size_t len, uint32_t h)
{
    for (uint32_t i = h & (n->cap - 1);; i = (i + 1) & (n->cap - 1)) {
        mkid *k = &n->kids[i];
        if (!k->node || (k->hash == h && k->len == len && memcmp(k->key, key, len) == 0))
            return k;
    }
}

static const mnode *find_kid(const mnode *n, const char *key, size_t len, uint32_t h)
{
    if (!n || n->nkids == 0)
        return NULL;
    return kid_slot(n, key, len, h)->node;
}

/* Double n's table (kept at most half full, so probes stay short). */
static bool grow_kids(mnode *n)
{
    uint32_t cap = n->cap ? 2 * n->cap : 8, ocap = n->cap;
    mkid *old = n->kids, *v = calloc(cap, sizeof *v);
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
static mnode *add_kid(goc_http_mux *m, mnode *n, const char *key, uint32_t len)
{
    GOC_ASSERT(atomic_load_explicit(&m->writing, memory_order_relaxed));
    uint32_t h = key_hash(key, len);
    const mnode *have = find_kid(n, key, len, h);
    if (have)
        return (mnode *)have;
    if (2 * (n->nkids + 1) > n->cap && !grow_kids(n))
        return NULL;
    /* The node keeps its own copy of the key: a pattern refused after
     * part of its branch was made (ENOMEM) is freed. */
    mnode *c = calloc(1, sizeof *c + len + 1);
    if (!c)
        return NULL;
    char *copy = memcpy((char *)(c + 1), key, len);
    *kid_slot(n, key, len, h) = (mkid){.key = copy, .len = len, .hash = h, .node = c};
    n->nkids++;
    return c;
}

static mnode *add_slot(mnode **slot)
{
    if (!*slot)
        *slot = calloc(1, sizeof **slot);
    return *slot;
}

/* Hang p in the tree. A node left without a pattern by ENOMEM is harmless:
 * lookups pass through it. mu held for writing. */
static int tree_add(goc_http_mux *m, goc__pattern *p)
{
    mnode *n = &m->root;
    n = p->host[0] ? add_kid(m, n, p->host, (uint32_t)strlen(p->host)) : add_slot(&n->wild);
    if (n)
        n = p->method[0] ? add_kid(m, n, p->method, (uint32_t)strlen(p->method))
                         : add_slot(&n->wild);
    for (uint32_t i = 0; n && i < p->nsegs; i++) {
        const goc__mseg *sg = &p->segs[i];
        switch (sg->kind) {
        case GOC__SEG_LIT:
            n = add_kid(m, n, sg->s, sg->len);
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
        return goc__errset(-ENOMEM, "http: registering a pattern: out of memory");
    GOC_ASSERT(!n->pat); /* an equal pattern would have conflicted */
    n->pat = p;
    return 0;
}

static void node_free(mnode *n)
{
    if (!n)
        return;
    for (uint32_t i = 0; i < n->cap; i++) {
        node_free(n->kids[i].node);
        free(n->kids[i].node);
    }
    free(n->kids);
    mnode *more[3] = {n->wild, n->multi, n->dollar};
    for (int i = 0; i < 3; i++) {
        node_free(more[i]);
        free(more[i]);
    }
}

/* ---- a request's path, split --------------------------------------------------- */

typedef struct rseg {
    const char *s; /* unescaped */
    uint32_t len, hash;
    uint32_t off; /* where it starts in the path (after its slash) */
    bool trail;   /* the trailing slash ("/a/" is "a" then trail) */
} rseg;

/* What a request is matched by: its host, method and path. */
typedef struct rpath {
    const char *host, *method; /* host: "" when the mux has no host patterns */
    size_t hlen, mlen;
    uint32_t hhash, mhash;
    bool head;     /* HEAD: GET patterns match too */
    const char *p; /* the path matched (escaped, cleaned unless CONNECT) */
    size_t n;
    rseg *segs; /* room for limit + 1: a probe may add a trailing slash */
    uint32_t nsegs, limit;
    bool done; /* segs cover the whole path */
} rpath;

/* One pass over rp->p: split its first rp->limit segments, unescaping
 * into scratch (room for 2 * n + 2) the ones that hold a '%', and tell
 * whether the whole path is clean (goc__path_is_clean). */
static bool scan_path(rpath *rp, char *scratch)
{
    const char *p = rp->p;
    size_t pos = 0, n = rp->n;
    bool clean = n > 0 && p[0] == '/';
    rp->nsegs = 0;
    rp->done = true;
    while (pos < n) {
        if (pos + 1 == n) { /* the trailing slash */
            if (rp->nsegs < rp->limit)
                rp->segs[rp->nsegs++] = (rseg){.s = "", .off = (uint32_t)n, .trail = true};
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
            rseg *sg = &rp->segs[rp->nsegs++];
            *sg = (rseg){.s = p + start, .len = (uint32_t)len, .hash = h, .off = (uint32_t)start};
            if (pct) {
                sg->len = (uint32_t)goc__path_unescape(p + start, len, scratch);
                sg->s = scratch;
                sg->hash = key_hash(scratch, sg->len);
                scratch += sg->len + 1;
            }
        }
        pos = i;
    }
    return clean;
}

static bool ends_with_slash(const rpath *rp)
{
    return rp->done && rp->nsegs > 0 && rp->segs[rp->nsegs - 1].trail;
}

static uint64_t len_bit(uint32_t nsegs)
{
    return (uint64_t)1 << (nsegs < 63 ? nsegs : 63);
}

/* Add a trailing slash to the path for a probe (undo: nsegs--), unless
 * no pattern could match it exactly (none has a slash at that depth). */
static bool add_trailing_slash(const goc_http_mux *m, rpath *rp)
{
    if (!rp->done || rp->n == 0 || ends_with_slash(rp) || !(m->slash_lens & len_bit(rp->nsegs + 1)))
        return false;
    rp->segs[rp->nsegs++] = (rseg){.s = "", .len = 0, .off = (uint32_t)rp->n, .trail = true};
    return true;
}

/* ---- matching -------------------------------------------------------------------- */

/* The pattern below n that matches segments i.. of the path. mu held. */
static goc__pattern *match_path(const mnode *n, const rpath *rp, uint32_t i)
{
    if (i == rp->nsegs)
        return rp->done ? n->pat : NULL;
    const rseg *sg = &rp->segs[i];
    goc__pattern *p;
    if (sg->trail) {
        if (n->dollar && (p = match_path(n->dollar, rp, i + 1)))
            return p;
    } else {
        const mnode *c = find_kid(n, sg->s, sg->len, sg->hash);
        if (c && (p = match_path(c, rp, i + 1)))
            return p;
        if (n->wild && (p = match_path(n->wild, rp, i + 1)))
            return p;
    }
    return n->multi ? n->multi->pat : NULL;
}

static goc__pattern *match_method(const mnode *hn, const rpath *rp)
{
    static uint32_t get_hash; /* key_hash("GET"), racy but idempotent */
    goc__pattern *p;
    const mnode *c;
    if (!hn)
        return NULL;
    if ((c = find_kid(hn, rp->method, rp->mlen, rp->mhash)) && (p = match_path(c, rp, 0)))
        return p;
    if (rp->head) {
        uint32_t h = __atomic_load_n(&get_hash, __ATOMIC_RELAXED);
        if (!h) /* relaxed: every thread computes the same value */
            __atomic_store_n(&get_hash, h = key_hash("GET", 3), __ATOMIC_RELAXED);
        if ((c = find_kid(hn, "GET", 3, h)) && (p = match_path(c, rp, 0)))
            return p;
    }
    return hn->wild ? match_path(hn->wild, rp, 0) : NULL;
}

static goc__pattern *tree_match(const goc_http_mux *m, const rpath *rp)
{
    goc__pattern *p;
    if (rp->hlen && (p = match_method(find_kid(&m->root, rp->host, rp->hlen, rp->hhash), rp)))
        return p;
    return match_method(m->root.wild, rp);
}

/* Whether p matched the path with nothing left for a multi wildcard (Go's
 * exactMatch): "/a/" matches "/a/" exactly, "/a/b" not. */
static bool exact_match(const goc__pattern *p, const rpath *rp)
{
    if (!p)
        return false;
    if (p->segs[p->nsegs - 1].kind != GOC__SEG_MULTI)
        return true;
    return ends_with_slash(rp) && p->nsegs == rp->nsegs;
}

typedef struct methods {
    const char *v[32];
    size_t n;
} methods;

static void methods_of(const mnode *hn, const rpath *rp, methods *out)
{
    for (uint32_t i = 0; hn && i < hn->cap && out->n < 32; i++) {
        if (hn->kids[i].node && match_path(hn->kids[i].node, rp, 0))
            out->v[out->n++] = hn->kids[i].key;
    }
}

/* The methods of patterns that match host and path (Go's matchingMethods),
 * also with a slash added to the path. Not sorted, maybe repeated. */
static void matching_methods(const goc_http_mux *m, rpath *rp, methods *out)
{
    for (int probe = 0; probe < 2; probe++) {
        if (probe == 1 && !add_trailing_slash(m, rp))
            break;
        if (rp->hlen)
            methods_of(find_kid(&m->root, rp->host, rp->hlen, rp->hhash), rp, out);
        methods_of(m->root.wild, rp, out);
        if (probe == 1)
            rp->nsegs--;
    }
}

/* ---- a request's lookup ------------------------------------------------------------ */

enum {
    RES_MATCH,          /* pat serves it */
    RES_REDIRECT_SLASH, /* 301 to the path with a slash added (pat: the one it leads to) */
    RES_REDIRECT_CLEAN, /* 301 to the clean path (pat: its match, if any) */
    RES_NOT_ALLOWED,    /* 405: patterns match the path with other methods */
    RES_NOT_FOUND,      /* 404 */
    RES_NOMEM,          /* 503: no memory for the path's buffers or values */
};

typedef struct mres {
    int kind;
    const goc__pattern *pat;
} mres;

/* The path matched: as received (escaped), so that "%2F" stays inside its
 * segment, as Go matches r.URL.EscapedPath(). */
static const char *req_path(const goc_http_request *r)
{
    if (r->raw_path && r->raw_path[0])
        return r->raw_path;
    return r->path ? r->path : "";
}

/* The Host without its port (Go's stripHostPort), lower case, in out, and
 * its length; "" if longer than any host we keep. */
static size_t req_host(const goc_http_request *r, char out[256])
{
    const char *h = r->host ? r->host : "";
    size_t n = strlen(h);
    const char *colon = memchr(h, ':', n);
    if (colon && h[0] == '[') {
        const char *rb = memchr(h, ']', n);
        if (rb && rb[1] == ':') {
            n = (size_t)(rb - h - 1);
            h++;
        }
    } else if (colon && !strchr(colon + 1, ':')) {
        n = (size_t)(colon - h);
    }
    if (n > 255)
        n = 0;
    for (size_t i = 0; i < n; i++)
        out[i] = h[i] >= 'A' && h[i] <= 'Z' ? (char)(h[i] + ('a' - 'A')) : h[i];
    out[n] = '\0';
    return n;
}

/* What the mux does with the split path (Go's findHandler): a match, else
 * a redirect to "path/" if that matches exactly, else the clean path's
 * redirect, else 405 or 404. allow: gets the methods for a 405. mu held. */
static void decide(const goc_http_mux *m, rpath *rp, bool clean, mres *res, methods *allow)
{
    const goc__pattern *p = tree_match(m, rp);
    if (!exact_match(p, rp) && add_trailing_slash(m, rp)) {
        const goc__pattern *p2 = tree_match(m, rp);
        bool exact = exact_match(p2, rp);
        rp->nsegs--;
        if (exact) {
            *res = (mres){RES_REDIRECT_SLASH, p2};
            return;
        }
    }
    if (!clean)
        *res = (mres){RES_REDIRECT_CLEAN, p};
    else if (p)
        *res = (mres){RES_MATCH, p};
    else {
        methods found = {.n = 0};
        if (!allow)
            allow = &found;
        matching_methods(m, rp, allow);
        *res = (mres){allow->n ? RES_NOT_ALLOWED : RES_NOT_FOUND, NULL};
    }
}

static int put_pathval(goc_http_request *r, const char *name, const char *value)
{
    struct goc__http_req *q = r->priv_;
    for (uint32_t i = 0; i < q->npathvals; i++) {
        if (strcmp(q->pathvals[i].name, name) == 0) {
            q->pathvals[i].value = value;
            return 0;
        }
    }
    if (q->npathvals == q->pathvals_cap) {
        uint32_t cap = q->pathvals_cap ? 2 * q->pathvals_cap : 4;
        goc__pathval *v = goc__http_alloc(r, cap * sizeof *v);
        if (!v)
            return -ENOMEM;
        if (q->npathvals)
            memcpy(v, q->pathvals, q->npathvals * sizeof *v);
        q->pathvals = v;
        q->pathvals_cap = cap;
    }
    q->pathvals[q->npathvals++] = (goc__pathval){.name = name, .value = value};
    return 0;
}

/* The values of p's wildcards, copied into r's arena (the names are p's:
 * the mux outlives its requests). 0 or -ENOMEM. */
static int set_values(goc_http_request *r, const goc__pattern *p, const rpath *rp)
{
    if (!r->priv_)
        return 0; /* a request made by hand: nowhere to keep them */
    r->priv_->npathvals = 0;
    for (uint32_t i = 0; i < p->nsegs; i++) {
        const goc__mseg *sg = &p->segs[i];
        char *v;
        if (sg->kind == GOC__SEG_WILD) {
            v = goc__arena_strndup(r->priv_->arena, rp->segs[i].s, rp->segs[i].len);
        } else if (sg->kind == GOC__SEG_MULTI && sg->len) {
            size_t off = rp->segs[i].off;
            v = goc__http_alloc(r, rp->n - off + 1);
            if (v)
                goc__path_unescape(rp->p + off, rp->n - off, v);
        } else {
            continue;
        }
        if (!v || put_pathval(r, sg->s, v) < 0)
            return -ENOMEM;
    }
    return 0;
}

/* Room for a lookup's buffers: the stack for usual paths, else malloc. */
typedef struct lbufs {
    char buf[1024];
    rseg segs[16];
    char *hbuf;
    rseg *hsegs;
} lbufs;

/* The split path of r in rp, in b's buffers, cleaned unless connect;
 * *clean: whether it was already. false on ENOMEM. mu held (limit is the
 * tree's depth). */
static bool prepare(const goc_http_mux *m, goc_http_request *r, bool connect, rpath *rp, lbufs *b,
                    bool *clean)
{
    const char *raw = req_path(r);
    size_t n = strlen(raw), need = 3 * n + 8; /* a clean copy, unescaped segments */
    uint32_t limit = m->maxdepth + 1;
    char *buf = need <= sizeof b->buf ? b->buf : (b->hbuf = malloc(need));
    rseg *segs = limit < 16 ? b->segs : (b->hsegs = malloc((limit + 1) * sizeof *segs));
    if (!buf || !segs)
        return false;
    rp->p = raw;
    rp->n = n;
    rp->segs = segs;
    rp->limit = limit;
    *clean = scan_path(rp, buf + n + 2) || connect; /* Go cleans no CONNECT path */
    if (!*clean) {
        rp->n = goc__path_clean(raw, n, buf);
        rp->p = buf;
        scan_path(rp, buf + n + 2);
    }
    return true;
}

/* Look r up. values: set r's path values for a match. allow: the
 * methods for a 405. */
static void resolve(goc_http_mux *m, goc_http_request *r, mres *res, bool values, methods *allow)
{
    const char *method = r->method ? r->method : "";
    bool connect = strcmp(method, "CONNECT") == 0, clean;
    char host[256];
    lbufs b;
    b.hbuf = NULL;
    b.hsegs = NULL;
    rpath rp;
    rp.method = method;
    rp.mlen = strlen(method);
    rp.mhash = key_hash(method, rp.mlen);
    rp.head = strcmp(method, "HEAD") == 0;
    rp.host = host;
    rp.hlen = 0;

    goc_rwmutex_rlock(&m->mu);
    if (m->root.nkids) { /* only host patterns need it */
        rp.hlen = req_host(r, host);
        rp.hhash = key_hash(host, rp.hlen);
    }
    bool ok = prepare(m, r, connect, &rp, &b, &clean);
    if (ok)
        decide(m, &rp, clean, res, allow);
    else
        res->kind = RES_NOMEM;
    goc_rwmutex_runlock(&m->mu);

    if (ok && values && res->kind == RES_MATCH && set_values(r, res->pat, &rp) < 0)
        res->kind = RES_NOMEM;
    if (b.hbuf || b.hsegs) {
        free(b.hbuf);
        free(b.hsegs);
    }
}

/* ---- the answers of the mux itself ------------------------------------------------------- */

static void not_found_fn(goc_http_response_writer *w, goc_http_request *r, void *arg)
{
    (void)arg;
    goc_http_not_found(w, r);
}

static void unavailable_fn(goc_http_response_writer *w, goc_http_request *r, void *arg)
{
    (void)r;
    (void)arg;
    goc_http_error(w, "Service Unavailable", 503);
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* "GET, HEAD, POST": sorted, once each, HEAD with GET (Go's Allow). */
static void join_methods(methods *ms, char *out, size_t cap)
{
    bool get = false;
    for (size_t i = 0; i < ms->n; i++)
        get = get || strcmp(ms->v[i], "GET") == 0;
    if (get && ms->n < 32)
        ms->v[ms->n++] = "HEAD";
    qsort(ms->v, ms->n, sizeof ms->v[0], str_cmp);
    size_t o = 0;
    out[0] = '\0';
    for (size_t i = 0; i < ms->n; i++) {
        if (i > 0 && strcmp(ms->v[i], ms->v[i - 1]) == 0)
            continue;
        int k = snprintf(out + o, cap - o, "%s%s", o ? ", " : "", ms->v[i]);
        if (k < 0 || (size_t)k >= cap - o)
            break;
        o += (size_t)k;
    }
}

/* 405 with Allow: the methods are looked up again (this is the rare path;
 * the lookup that chose it kept nothing). */
static void not_allowed_fn(goc_http_response_writer *w, goc_http_request *r, void *arg)
{
    methods ms = {.n = 0};
    mres res;
    char allow[512];
    resolve(arg, r, &res, false, &ms);
    join_methods(&ms, allow, sizeof allow);
    goc_http_header_set(goc_http_response_header(w), "Allow", allow);
    goc_http_error(w, "Method Not Allowed", 405);
}

/* 301 to the clean path, with a slash added if slash, query kept. */
static void redirect(goc_http_response_writer *w, goc_http_request *r, bool slash)
{
    const char *raw = req_path(r), *q = r->raw_query ? r->raw_query : "";
    size_t n = strlen(raw), nq = strlen(q), need = n + nq + 5;
    char stack[512], *url = need <= sizeof stack ? stack : malloc(need);
    if (!url) {
        goc_http_error(w, "Service Unavailable", 503);
        return;
    }
    size_t o = goc__path_clean(raw, n, url);
    if (slash)
        url[o++] = '/';
    if (nq) {
        url[o++] = '?';
        memcpy(url + o, q, nq);
        o += nq;
    }
    url[o] = '\0';
    goc_http_redirect(w, r, url, 301);
    if (url != stack)
        free(url);
}

static void redirect_slash_fn(goc_http_response_writer *w, goc_http_request *r, void *arg)
{
    (void)arg;
    redirect(w, r, true);
}

static void redirect_clean_fn(goc_http_response_writer *w, goc_http_request *r, void *arg)
{
    (void)arg;
    redirect(w, r, false);
}

static goc_http_handler res_handler(goc_http_mux *m, const mres *res)
{
    switch (res->kind) {
    case RES_MATCH:
        return res->pat->h;
    case RES_REDIRECT_SLASH:
        return (goc_http_handler){redirect_slash_fn, NULL};
    case RES_REDIRECT_CLEAN:
        return (goc_http_handler){redirect_clean_fn, NULL};
    case RES_NOT_ALLOWED:
        return (goc_http_handler){not_allowed_fn, m};
    case RES_NOT_FOUND:
        return (goc_http_handler){not_found_fn, NULL};
    default:
        return (goc_http_handler){unavailable_fn, NULL};
    }
}

static const char *res_pattern(const mres *res)
{
    bool named = res->kind == RES_MATCH || res->kind == RES_REDIRECT_SLASH ||
                 res->kind == RES_REDIRECT_CLEAN;
    return named && res->pat ? res->pat->str : "";
}

static void mux_serve(goc_http_response_writer *w, goc_http_request *r, void *arg)
{
    goc_http_mux *m = arg;
    if (r->target && strcmp(r->target, "*") == 0) { /* "OPTIONS *": no path to route */
        if (r->proto_major > 1 || (r->proto_major == 1 && r->proto_minor >= 1))
            goc_http_header_set(goc_http_response_header(w), "Connection", "close");
        goc_http_write_header(w, 400);
        return;
    }
    mres res;
    resolve(m, r, &res, true, NULL);
    r->pattern = res_pattern(&res);
    goc_http_handler h = res_handler(m, &res);
    h.fn(w, r, h.arg);
}

/* ---- the public surface ---------------------------------------------------------------- */

GOC_API goc_http_mux *goc_http_mux_new(void)
{
    return calloc(1, sizeof(goc_http_mux));
}

GOC_API void goc_http_mux_free(goc_http_mux *m)
{
    if (!m)
        return;
    node_free(&m->root);
    for (uint32_t i = 0; i < m->npats; i++)
        free(m->pats[i]);
    free(m->pats);
    free(m);
}

/* Check p against every registered pattern, then add it. mu held for
 * writing. */
static int register_locked(goc_http_mux *m, goc__pattern *p)
{
    for (uint32_t i = 0; i < m->npats; i++) {
        if (goc__pattern_conflicts(p, m->pats[i]))
            return goc__pattern_conflict_error(p, m->pats[i]);
    }
    if (m->npats == m->cap) {
        uint32_t cap = m->cap ? 2 * m->cap : 16;
        goc__pattern **v = realloc(m->pats, cap * sizeof *v);
        if (!v)
            return goc__errset(-ENOMEM, "http: registering a pattern: out of memory");
        m->pats = v;
        m->cap = cap;
    }
    int rc = tree_add(m, p);
    if (rc < 0)
        return rc;
    m->pats[m->npats++] = p;
    if (p->nsegs > m->maxdepth)
        m->maxdepth = p->nsegs;
    if (p->segs[p->nsegs - 1].kind == GOC__SEG_MULTI ||
        p->segs[p->nsegs - 1].kind == GOC__SEG_DOLLAR)
        m->slash_lens |= len_bit(p->nsegs);
    return 0;
}

GOC_API int goc_http_mux_handle(goc_http_mux *m, const char *pattern, goc_http_handler h)
{
    if (!m)
        return goc__errset(-EINVAL, "http: NULL mux");
    if (!h.fn)
        return goc__errset(-EINVAL, "http: nil handler");
    goc__pattern *p;
    int rc = goc__pattern_parse(pattern, &p);
    if (rc < 0)
        return rc;
    p->h = h;
    goc_rwmutex_lock(&m->mu);
    atomic_store_explicit(&m->writing, true, memory_order_relaxed);
    rc = register_locked(m, p);
    atomic_store_explicit(&m->writing, false, memory_order_relaxed);
    goc_rwmutex_unlock(&m->mu);
    if (rc < 0)
        free(p);
    return rc;
}

GOC_API int goc_http_mux_handle_func(goc_http_mux *m, const char *pattern, goc_http_handler_fn fn,
                                     void *arg)
{
    return goc_http_mux_handle(m, pattern, (goc_http_handler){fn, arg});
}

GOC_API goc_http_handler goc_http_mux_handler(goc_http_mux *m)
{
    return (goc_http_handler){mux_serve, m};
}

GOC_API goc_http_handler goc_http_mux_lookup(goc_http_mux *m, goc_http_request *r,
                                             const char **pattern)
{
    mres res;
    resolve(m, r, &res, false, NULL);
    if (pattern)
        *pattern = res_pattern(&res);
    return res_handler(m, &res);
}

static goc_once default_once;
static goc_http_mux *default_mux; /* set once, under default_once */

static void make_default(void *arg)
{
    (void)arg;
    default_mux = goc_http_mux_new();
}

GOC_API goc_http_mux *goc_http_default_mux(void)
{
    goc_once_do(&default_once, make_default, NULL);
    return default_mux;
}

GOC_API int goc_http_handle(const char *pattern, goc_http_handler h)
{
    goc_http_mux *m = goc_http_default_mux();
    if (!m)
        return goc__errset(-ENOMEM, "http: the default mux: out of memory");
    return goc_http_mux_handle(m, pattern, h);
}

GOC_API int goc_http_handle_func(const char *pattern, goc_http_handler_fn fn, void *arg)
{
    return goc_http_handle(pattern, (goc_http_handler){fn, arg});
}

/* ---- path values ------------------------------------------------------------------------ */

GOC_API const char *goc_http_path_value(goc_http_request *r, const char *name)
{
    if (!r || !r->priv_ || !name)
        return NULL;
    for (uint32_t i = 0; i < r->priv_->npathvals; i++) {
        if (strcmp(r->priv_->pathvals[i].name, name) == 0)
            return r->priv_->pathvals[i].value;
    }
    return NULL;
}

GOC_API int goc_http_set_path_value(goc_http_request *r, const char *name, const char *value)
{
    if (!r || !r->priv_ || !name || !value)
        return goc__errset(-EINVAL, "goc_http_set_path_value: NULL argument");
    goc__arena *a = r->priv_->arena;
    char *n = goc__arena_strndup(a, name, strlen(name));
    char *v = goc__arena_strndup(a, value, strlen(value));
    if (!n || !v || put_pathval(r, n, v) < 0)
        return goc__errset(-ENOMEM, "goc_http_set_path_value: out of memory");
    return 0;
}
