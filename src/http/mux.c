/*
 * mux.c — http.ServeMux with Go 1.22 patterns: registration, the routing
 * tree, a request's lookup, the answers the mux gives itself (301, 404,
 * 405) and path values.
 *
 * The routing tree (Go's routing_tree.go, in C): the root's children are
 * keyed by host, a host node's by method, and below that one level per
 * path segment. Each node has literal children (a sorted array, found by
 * binary search), and at most one child each for a single wildcard, a
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
 * The hot path allocates nothing: the request's path is split once into
 * segments on the stack (at most one more than the deepest pattern: below
 * that only a multi wildcard matches, and it takes the rest whole), a
 * segment is unescaped into a stack buffer only if it holds a '%', and
 * only path values are copied, into the request's arena. A path too long
 * for the stack buffers takes one malloc.
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
    uint32_t len;
    mnode *node;
} mkid;

struct mnode {
    mkid *kids; /* literal children by (len, bytes) */
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
    _Atomic bool writing; /* mu held for writing (debug checks) */
};

/* ---- the tree ------------------------------------------------------------- */

static int key_cmp(const char *a, uint32_t alen, const char *b, uint32_t blen)
{
    if (alen != blen)
        return alen < blen ? -1 : 1;
    return memcmp(a, b, alen);
}

/* The index of key among n's children, or where it would go (*found false). */
static uint32_t kid_index(const mnode *n, const char *key, uint32_t len, bool *found)
{
    uint32_t lo = 0, hi = n->nkids;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int c = key_cmp(n->kids[mid].key, n->kids[mid].len, key, len);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

static const mnode *find_kid(const mnode *n, const char *key, size_t len)
{
    bool found;
    if (!n || n->nkids == 0)
        return NULL;
    uint32_t i = kid_index(n, key, (uint32_t)len, &found);
    return found ? n->kids[i].node : NULL;
}

/* The literal child key of n, made if missing; NULL on ENOMEM. mu held
 * for writing. */
static mnode *add_kid(goc_http_mux *m, mnode *n, const char *key, uint32_t len)
{
    GOC_ASSERT(atomic_load_explicit(&m->writing, memory_order_relaxed));
    bool found;
    uint32_t i = kid_index(n, key, len, &found);
    if (found)
        return n->kids[i].node;
    if (n->nkids == n->cap) {
        uint32_t cap = n->cap ? 2 * n->cap : 4;
        mkid *k = realloc(n->kids, cap * sizeof *k);
        if (!k)
            return NULL;
        n->kids = k;
        n->cap = cap;
    }
    /* The node keeps its own copy of the key: a pattern refused after
     * part of its branch was made (ENOMEM) is freed. */
    mnode *c = calloc(1, sizeof *c + len + 1);
    if (!c)
        return NULL;
    char *copy = memcpy((char *)(c + 1), key, len);
    memmove(&n->kids[i + 1], &n->kids[i], (n->nkids - i) * sizeof *n->kids);
    n->kids[i] = (mkid){.key = copy, .len = len, .node = c};
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
    for (uint32_t i = 0; i < n->nkids; i++) {
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
    uint32_t len;
    uint32_t off; /* where it starts in the path (after its slash) */
    bool trail;   /* the trailing slash ("/a/" is "a" then trail) */
} rseg;

typedef struct rpath {
    const char *p; /* the path matched (escaped, cleaned unless CONNECT) */
    size_t n;
    rseg *segs; /* room for limit + 1: a probe may add a trailing slash */
    uint32_t nsegs, limit;
    bool done; /* segs cover the whole path */
} rpath;

/* Split rp->p into at most rp->limit segments, unescaping into scratch
 * (room for 2 * n + 2) the ones that hold a '%'. */
static void split_path(rpath *rp, char *scratch)
{
    size_t pos = 0, n = rp->n;
    rp->nsegs = 0;
    while (pos < n && rp->nsegs < rp->limit) {
        rseg *sg = &rp->segs[rp->nsegs++];
        if (pos + 1 == n) {
            *sg = (rseg){.s = "", .len = 0, .off = (uint32_t)n, .trail = true};
            pos = n;
            break;
        }
        size_t start = pos + 1;
        const char *slash = memchr(rp->p + start, '/', n - start);
        size_t end = slash ? (size_t)(slash - rp->p) : n;
        sg->off = (uint32_t)start;
        sg->trail = false;
        if (memchr(rp->p + start, '%', end - start)) {
            sg->len = (uint32_t)goc__path_unescape(rp->p + start, end - start, scratch);
            sg->s = scratch;
            scratch += sg->len + 1;
        } else {
            sg->s = rp->p + start;
            sg->len = (uint32_t)(end - start);
        }
        pos = end;
    }
    rp->done = pos == n;
}

static bool ends_with_slash(const rpath *rp)
{
    return rp->done && rp->nsegs > 0 && rp->segs[rp->nsegs - 1].trail;
}

/* Add a trailing slash to the path for a probe (undo: nsegs--). */
static bool add_trailing_slash(rpath *rp)
{
    if (!rp->done || rp->n == 0 || ends_with_slash(rp))
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
        const mnode *c = find_kid(n, sg->s, sg->len);
        if (c && (p = match_path(c, rp, i + 1)))
            return p;
        if (n->wild && (p = match_path(n->wild, rp, i + 1)))
            return p;
    }
    return n->multi ? n->multi->pat : NULL;
}

static goc__pattern *match_method(const mnode *hn, const char *method, const rpath *rp)
{
    goc__pattern *p;
    const mnode *c;
    if (!hn)
        return NULL;
    if ((c = find_kid(hn, method, strlen(method))) && (p = match_path(c, rp, 0)))
        return p;
    if (strcmp(method, "HEAD") == 0 && (c = find_kid(hn, "GET", 3)) && (p = match_path(c, rp, 0)))
        return p;
    return hn->wild ? match_path(hn->wild, rp, 0) : NULL;
}

static goc__pattern *tree_match(const goc_http_mux *m, const char *host, const char *method,
                                const rpath *rp)
{
    goc__pattern *p;
    if (host[0] && (p = match_method(find_kid(&m->root, host, strlen(host)), method, rp)))
        return p;
    return match_method(m->root.wild, method, rp);
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
    for (uint32_t i = 0; hn && i < hn->nkids && out->n < 32; i++) {
        if (match_path(hn->kids[i].node, rp, 0))
            out->v[out->n++] = hn->kids[i].key;
    }
}

/* The methods of patterns that match host and path (Go's matchingMethods),
 * also with a slash added to the path. Not sorted, maybe repeated. */
static void matching_methods(const goc_http_mux *m, const char *host, rpath *rp, methods *out)
{
    for (int probe = 0; probe < 2; probe++) {
        if (probe == 1 && !add_trailing_slash(rp))
            break;
        if (host[0])
            methods_of(find_kid(&m->root, host, strlen(host)), rp, out);
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

/* The Host without its port (Go's stripHostPort), lower case, in out; ""
 * if longer than any host we keep. */
static void req_host(const goc_http_request *r, char out[256])
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
}

/* What the mux does with the split path (Go's findHandler): a match, else
 * a redirect to "path/" if that matches exactly, else the clean path's
 * redirect, else 405 or 404. allow: gets the methods for a 405. mu held. */
static void decide(const goc_http_mux *m, const char *host, const char *method, rpath *rp,
                   bool clean, mres *res, methods *allow)
{
    const goc__pattern *p = tree_match(m, host, method, rp);
    if (!exact_match(p, rp) && add_trailing_slash(rp)) {
        const goc__pattern *p2 = tree_match(m, host, method, rp);
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
        matching_methods(m, host, rp, allow);
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

/* The split path of r in rp, in b's buffers; false on ENOMEM. mu held
 * (limit is the tree's depth). */
static bool prepare(const goc_http_mux *m, goc_http_request *r, bool clean, rpath *rp, lbufs *b)
{
    const char *raw = req_path(r);
    size_t n = strlen(raw), need = 3 * n + 8; /* a clean copy, unescaped segments */
    uint32_t limit = m->maxdepth + 1;
    char *buf = need <= sizeof b->buf ? b->buf : (b->hbuf = malloc(need));
    rseg *segs = limit < 16 ? b->segs : (b->hsegs = malloc((limit + 1) * sizeof *segs));
    if (!buf || !segs)
        return false;
    *rp = (rpath){.p = raw, .n = n, .segs = segs, .limit = limit};
    if (!clean) {
        rp->n = goc__path_clean(raw, n, buf);
        rp->p = buf;
        buf += rp->n + 1;
    }
    split_path(rp, buf);
    return true;
}

/* Look r up. values: set r's path values for a match. allow: the
 * methods for a 405. */
static void resolve(goc_http_mux *m, goc_http_request *r, mres *res, bool values, methods *allow)
{
    const char *method = r->method ? r->method : "";
    bool connect = strcmp(method, "CONNECT") == 0; /* Go cleans no CONNECT path */
    const char *raw = req_path(r);
    bool clean = connect || goc__path_is_clean(raw, strlen(raw));
    char host[256] = "";
    lbufs b;
    b.hbuf = NULL;
    b.hsegs = NULL;
    rpath rp;

    goc_rwmutex_rlock(&m->mu);
    if (m->root.nkids)
        req_host(r, host); /* only host patterns need it */
    bool ok = prepare(m, r, clean, &rp, &b);
    if (ok)
        decide(m, host, method, &rp, clean, res, allow);
    else
        res->kind = RES_NOMEM;
    goc_rwmutex_runlock(&m->mu);

    if (ok && values && res->kind == RES_MATCH && set_values(r, res->pat, &rp) < 0)
        res->kind = RES_NOMEM;
    free(b.hbuf);
    free(b.hsegs);
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

/* ---- stand-ins until reply.c lands (weak: the real ones replace them) ---- */

__attribute__((weak)) void goc_http_error(goc_http_response_writer *w, const char *msg, int code)
{
    goc_http_header_set(goc_http_response_header(w), "Content-Type", "text/plain; charset=utf-8");
    goc_http_write_header(w, code);
    goc_http_printf(w, "%s\n", msg);
}

__attribute__((weak)) void goc_http_not_found(goc_http_response_writer *w, goc_http_request *r)
{
    (void)r;
    goc_http_error(w, "404 page not found", 404);
}

__attribute__((weak)) void goc_http_redirect(goc_http_response_writer *w, goc_http_request *r,
                                             const char *url, int code)
{
    (void)r;
    goc_http_header_set(goc_http_response_header(w), "Location", url);
    goc_http_write_header(w, code);
}
