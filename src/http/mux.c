/*
 * mux.c — http.ServeMux with Go 1.22 patterns: registration, a request's
 * lookup, the answers the mux gives itself (301, 404, 405) and path
 * values.
 *
 * A request is matched in a routing tree (routing.c) as Go's findHandler
 * does: the pattern for its host, method and path, else a redirect to
 * "path/" if that is matched exactly (a subtree "/dir/" asked as "/dir"),
 * else a redirect to the clean path (Go's cleanPath; not for CONNECT),
 * else 405 with Allow if patterns match the path with other methods, else
 * 404. The tree only holds patterns that conflict with none (pattern.c),
 * so the first it finds is the most specific.
 *
 * The hot path allocates nothing: the path is checked, split and hashed
 * in one pass into buffers on the stack, and only path values are
 * copied, into the request's arena. A path too long for the stack buffers
 * takes one malloc. The "/dir" -> "/dir/" probe (a second walk) runs only
 * if some pattern could match the path with a slash added.
 *
 * Locking: m->mu (a goc_rwmutex) guards the tree and the pattern list;
 * lookups hold it for reading, registration for writing, from any thread.
 * Patterns are never removed, so a pattern (its string, its handler) stays
 * valid after the lock is dropped, until goc_http_mux_free.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http.h"
#include "http/mux.h"
#include "runtime/park.h"

struct goc_http_mux {
    goc_rwmutex mu;
    goc__rtree tree;      /* mu */
    goc__pattern **pats;  /* mu: in registration order */
    uint32_t npats, cap;  /* mu */
    _Atomic bool writing; /* mu held for writing (debug checks) */
};

/* ---- a request's lookup ------------------------------------------------------------ */

enum {
    RES_MATCH,          /* pat serves it */
    RES_REDIRECT_SLASH, /* 301 to the path with a slash added (pat: the one it leads to) */
    RES_REDIRECT_CLEAN, /* 301 to the clean path (pat: its match, if any) */
    RES_NOT_ALLOWED,    /* 405: patterns match the path with other goc__rmethods */
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
 * redirect, else 405 or 404. allow: gets the goc__rmethods for a 405. mu held. */
static void decide(const goc_http_mux *m, goc__rpath *rp, bool clean, mres *res,
                   goc__rmethods *allow)
{
    const goc__pattern *p = goc__rtree_match(&m->tree, rp);
    if (!goc__rtree_exact(p, rp) && goc__rpath_add_slash(&m->tree, rp)) {
        const goc__pattern *p2 = goc__rtree_match(&m->tree, rp);
        bool exact = goc__rtree_exact(p2, rp);
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
        goc__rmethods found = {.n = 0};
        if (!allow)
            allow = &found;
        goc__rtree_methods(&m->tree, rp, allow);
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
static int set_values(goc_http_request *r, const goc__pattern *p, const goc__rpath *rp)
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
    goc__rseg segs[16];
    char *hbuf;
    goc__rseg *hsegs;
} lbufs;

/* The split path of r in rp, in b's buffers, cleaned unless connect;
 * *clean: whether it was already. false on ENOMEM. mu held (limit is the
 * tree's depth). */
static bool prepare(const goc_http_mux *m, goc_http_request *r, bool connect, goc__rpath *rp,
                    lbufs *b, bool *clean)
{
    const char *raw = req_path(r);
    size_t n = strlen(raw), need = 3 * n + 8; /* a clean copy, unescaped segments */
    uint32_t limit = m->tree.maxdepth + 1;
    char *buf = need <= sizeof b->buf ? b->buf : (b->hbuf = malloc(need));
    goc__rseg *segs = limit < 16 ? b->segs : (b->hsegs = malloc((limit + 1) * sizeof *segs));
    if (!buf || !segs)
        return false;
    rp->p = raw;
    rp->n = n;
    rp->segs = segs;
    rp->limit = limit;
    *clean = goc__rpath_scan(rp, buf + n + 2) || connect; /* Go cleans no CONNECT path */
    if (!*clean) {
        rp->n = goc__path_clean(raw, n, buf);
        rp->p = buf;
        goc__rpath_scan(rp, buf + n + 2);
    }
    return true;
}

/* Look r up. values: set r's path values for a match. allow: the
 * goc__rmethods for a 405. */
static void resolve(goc_http_mux *m, goc_http_request *r, mres *res, bool values,
                    goc__rmethods *allow)
{
    const char *method = r->method ? r->method : "";
    bool connect = strcmp(method, "CONNECT") == 0, clean;
    char host[256];
    lbufs b;
    b.hbuf = NULL;
    b.hsegs = NULL;
    goc__rpath rp;
    rp.method = method;
    rp.mlen = strlen(method);
    rp.mhash = goc__rkey_hash(method, rp.mlen);
    rp.head = strcmp(method, "HEAD") == 0;
    rp.host = host;
    rp.hlen = 0;

    goc_rwmutex_rlock(&m->mu);
    if (m->tree.root.nkids) { /* only host patterns need it */
        rp.hlen = req_host(r, host);
        rp.hhash = goc__rkey_hash(host, rp.hlen);
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
static void join_methods(goc__rmethods *ms, char *out, size_t cap)
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

/* 405 with Allow: the goc__rmethods are looked up again (this is the rare path;
 * the lookup that chose it kept nothing). */
static void not_allowed_fn(goc_http_response_writer *w, goc_http_request *r, void *arg)
{
    goc__rmethods ms = {.n = 0};
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
    goc__rtree_free(&m->tree);
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
    GOC_ASSERT(atomic_load_explicit(&m->writing, memory_order_relaxed));
    if (goc__rtree_add(&m->tree, p) < 0)
        return goc__errset(-ENOMEM, "http: registering a pattern: out of memory");
    m->pats[m->npats++] = p;
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
