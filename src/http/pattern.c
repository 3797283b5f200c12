/*
 * pattern.c — the mux's patterns (Go 1.22): parsing "[METHOD ][HOST]/[PATH]",
 * the relation between two patterns, the conflict message, and Go's path
 * cleaning and segment unescaping that matching relies on.
 *
 * Precedence, the rule everything here serves: a pattern with a host wins
 * over one without; otherwise the more specific one wins, where p1 is more
 * specific than p2 if p2 matches every (method, path) p1 matches and more.
 * Two patterns with the same host that some request matches both with
 * neither more specific (they overlap, or are equivalent) conflict, and
 * the second is refused. The relation is computed per part and combined:
 * methods ("" is every method, GET is GET and HEAD, anything else itself),
 * then the path segment by segment (a literal is more specific than a
 * single wildcard, which is more specific than a multi wildcard; a single
 * wildcard never matches the trailing slash that {$} stands for).
 *
 * A parsed pattern is immutable and owns nothing outside its one block,
 * so nothing here locks.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/chars.h"
#include "http/http.h"
#include "http/mux.h"
#include "runtime/park.h"

/* ---- paths --------------------------------------------------------------- */

static bool is_dot_elem(const char *s, size_t n)
{
    return s[0] == '.' && (n == 1 || (n == 2 && s[1] == '.'));
}

bool goc__path_is_clean(const char *p, size_t n)
{
    if (n == 0 || p[0] != '/')
        return false;
    for (size_t i = 1; i < n;) {
        const char *slash = memchr(p + i, '/', n - i);
        size_t j = slash ? (size_t)(slash - p) : n;
        if (j == i || is_dot_elem(p + i, j - i))
            return false; /* "//", "/./" or "/../" (or at the end) */
        i = j + 1;
    }
    return true;
}

size_t goc__path_clean(const char *p, size_t n, char *out)
{
    size_t o = 1;
    out[0] = '/';
    for (size_t i = 0; i < n;) {
        const char *slash = memchr(p + i, '/', n - i);
        size_t j = slash ? (size_t)(slash - p) : n, len = j - i;
        if (len == 2 && p[i] == '.' && p[i + 1] == '.') {
            while (o > 1 && out[o - 1] != '/')
                o--;
            if (o > 1)
                o--; /* the slash before the dropped element */
        } else if (len > 0 && !(len == 1 && p[i] == '.')) {
            if (o > 1)
                out[o++] = '/';
            memcpy(out + o, p + i, len);
            o += len;
        }
        i = j + 1;
    }
    /* Go keeps a trailing slash (path.Clean drops it) except on the root. */
    if (n > 0 && p[n - 1] == '/' && o > 1)
        out[o++] = '/';
    out[o] = '\0';
    return o;
}

size_t goc__path_unescape(const char *s, size_t n, char *out)
{
    ssize_t k = goc__http_unescape(s, n, out, false);
    if (k >= 0)
        return (size_t)k;
    memcpy(out, s, n); /* Go keeps an invalidly escaped segment whole */
    out[n] = '\0';
    return n;
}

/* ---- parsing -------------------------------------------------------------- */

typedef struct pbuild {
    const char *src; /* the pattern as given */
    goc__pattern *p;
    char *cur; /* free bytes for strings, in p's block */
} pbuild;

static int bad(const pbuild *b, const char *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* GOC_EHTTP_BAD_PATTERN, with Go's text: parsing "X": at offset N: why. */
static int bad(const pbuild *b, const char *at, const char *fmt, ...)
{
    char why[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    return goc__errorf(GOC_EHTTP_BAD_PATTERN, "parsing \"%s\": at offset %zu: %s", b->src,
                       (size_t)(at - b->src), why);
}

static const char *keep(pbuild *b, const char *s, size_t n)
{
    char *d = b->cur;
    memcpy(d, s, n);
    d[n] = '\0';
    b->cur += n + 1;
    return d;
}

static void push_seg(pbuild *b, const char *s, size_t n, uint8_t kind)
{
    goc__mseg *sg = &b->p->segs[b->p->nsegs++];
    sg->s = keep(b, s, n);
    sg->len = (uint32_t)n;
    sg->kind = kind;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

/* A Go identifier; bytes >= 0x80 count as letters (UTF-8 names). */
static bool valid_name(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        bool letter = c == '_' || c >= 0x80 || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
        if (!letter && (i == 0 || c < '0' || c > '9'))
            return false;
    }
    return n > 0;
}

/* The method (up to the first blank) and the host; *path and *end bound
 * the path that follows. */
static int parse_method_host(pbuild *b, const char **path, const char **end)
{
    const char *s = b->src, *rest = s, *stop = s + strlen(s);
    const char *blank = strpbrk(s, " \t");
    b->p->method = "";
    if (blank) {
        for (const char *c = s; c < blank; c++) {
            if (!goc__hc_is((unsigned char)*c, GOC__HC_TCHAR))
                return bad(b, s, "invalid method \"%.*s\"", (int)(blank - s), s);
        }
        b->p->method = keep(b, s, (size_t)(blank - s));
        for (rest = blank + 1; rest < stop && is_space(*rest); rest++) {
        }
        while (stop > rest && is_space(stop[-1]))
            stop--;
    }
    const char *slash = memchr(rest, '/', (size_t)(stop - rest));
    if (!slash)
        return bad(b, rest, "host/path missing /");
    const char *brace = memchr(rest, '{', (size_t)(slash - rest));
    if (brace)
        return bad(b, brace, "host contains '{' (missing initial '/'?)");
    char *host = b->cur;
    keep(b, rest, (size_t)(slash - rest));
    for (char *c = host; *c; c++) {
        if (*c >= 'A' && *c <= 'Z')
            *c = (char)(*c + ('a' - 'A')); /* hosts compare case-insensitively */
    }
    b->p->host = host;
    *path = slash;
    *end = stop;
    return 0;
}

static bool dup_name(const goc__pattern *p, const char *name, size_t n)
{
    for (uint32_t i = 0; i < p->nsegs; i++) {
        const goc__mseg *sg = &p->segs[i];
        if (sg->kind != GOC__SEG_LIT && sg->len == n && memcmp(sg->s, name, n) == 0)
            return true;
    }
    return false;
}

/* One "{...}" segment seg[0, n); last: nothing follows it. */
static int parse_wild(pbuild *b, const char *seg, size_t n, bool last)
{
    if (seg[0] != '{')
        return bad(b, seg, "bad wildcard segment (must start with '{')");
    if (seg[n - 1] != '}')
        return bad(b, seg, "bad wildcard segment (must end with '}')");
    const char *name = seg + 1;
    size_t len = n - 2;
    if (len == 1 && name[0] == '$') {
        if (!last)
            return bad(b, seg, "{$} not at end");
        push_seg(b, "", 0, GOC__SEG_DOLLAR);
        return 0;
    }
    bool multi = len >= 3 && memcmp(name + len - 3, "...", 3) == 0;
    if (multi) {
        len -= 3;
        if (!last)
            return bad(b, seg, "{...} wildcard not at end");
    }
    if (len == 0)
        return bad(b, seg, "empty wildcard");
    if (!valid_name(name, len))
        return bad(b, seg, "bad wildcard name \"%.*s\"", (int)len, name);
    if (dup_name(b->p, name, len))
        return bad(b, seg, "duplicate wildcard name \"%.*s\"", (int)len, name);
    push_seg(b, name, len, multi ? GOC__SEG_MULTI : GOC__SEG_WILD);
    return 0;
}

static int parse_path(pbuild *b, const char *q, const char *end)
{
    const char *m = b->p->method;
    if (m[0] && strcmp(m, "CONNECT") != 0 && !goc__path_is_clean(q, (size_t)(end - q)))
        return bad(b, q, "non-CONNECT pattern with unclean path can never match");
    while (q < end) {
        q++; /* the slash */
        if (q == end) {
            push_seg(b, "", 0, GOC__SEG_MULTI); /* a trailing slash */
            break;
        }
        const char *e = memchr(q, '/', (size_t)(end - q));
        if (!e)
            e = end;
        size_t n = (size_t)(e - q);
        if (!memchr(q, '{', n)) {
            goc__mseg *sg = &b->p->segs[b->p->nsegs++];
            sg->s = b->cur;
            sg->len = (uint32_t)goc__path_unescape(q, n, b->cur);
            sg->kind = GOC__SEG_LIT;
            b->cur += sg->len + 1;
        } else {
            int rc = parse_wild(b, q, n, e == end);
            if (rc < 0)
                return rc;
        }
        q = e;
    }
    return 0;
}

int goc__pattern_parse(const char *s, goc__pattern **out)
{
    *out = NULL;
    if (!s || !s[0])
        return goc__errset(GOC_EHTTP_BAD_PATTERN, "http: invalid pattern: empty pattern");
    size_t len = strlen(s), maxsegs = 1;
    for (const char *c = s; *c; c++)
        maxsegs += *c == '/';
    /* Every string (the copy, method, host, segments) is at most len. */
    size_t size = sizeof(goc__pattern) + maxsegs * sizeof(goc__mseg) + 4 * (len + 1) + maxsegs;
    goc__pattern *p = calloc(1, size);
    if (!p)
        return goc__errset(-ENOMEM, "http: registering a pattern: out of memory");
    pbuild b = {.src = s, .p = p};
    p->segs = (goc__mseg *)(p + 1);
    b.cur = (char *)(p->segs + maxsegs);
    p->str = keep(&b, s, len);
    const char *path = NULL, *end = NULL;
    int rc = parse_method_host(&b, &path, &end);
    if (rc == 0)
        rc = parse_path(&b, path, end);
    if (rc < 0) {
        free(p);
        return rc;
    }
    *out = p;
    return 0;
}

/* ---- relations -------------------------------------------------------------- */

typedef enum rel {
    REL_EQUIVALENT, /* both match the same requests */
    REL_GENERAL,    /* the first matches all the second does, and more */
    REL_SPECIFIC,   /* the second matches all the first does, and more */
    REL_DISJOINT,   /* no request matches both */
    REL_OVERLAPS,   /* some request matches both, neither is more specific */
} rel;

static rel inverse(rel r)
{
    return r == REL_GENERAL ? REL_SPECIFIC : r == REL_SPECIFIC ? REL_GENERAL : r;
}

/* The relation of the whole, given the relations of two parts of it. */
static rel combine(rel a, rel b)
{
    switch (a) {
    case REL_EQUIVALENT:
        return b;
    case REL_DISJOINT:
        return REL_DISJOINT;
    case REL_OVERLAPS:
        return b == REL_DISJOINT ? REL_DISJOINT : REL_OVERLAPS;
    default: /* more general or more specific */
        if (b == REL_EQUIVALENT)
            return a;
        return b == inverse(a) ? REL_OVERLAPS : b;
    }
}

static rel cmp_methods(const goc__pattern *a, const goc__pattern *b)
{
    const char *x = a->method, *y = b->method;
    if (strcmp(x, y) == 0)
        return REL_EQUIVALENT;
    if (!x[0])
        return REL_GENERAL;
    if (!y[0])
        return REL_SPECIFIC;
    if (strcmp(x, "GET") == 0 && strcmp(y, "HEAD") == 0)
        return REL_GENERAL;
    if (strcmp(x, "HEAD") == 0 && strcmp(y, "GET") == 0)
        return REL_SPECIFIC;
    return REL_DISJOINT;
}

static bool is_wild(const goc__mseg *s)
{
    return s->kind == GOC__SEG_WILD || s->kind == GOC__SEG_MULTI;
}

static rel cmp_segs(const goc__mseg *x, const goc__mseg *y)
{
    if (x->kind == GOC__SEG_MULTI)
        return y->kind == GOC__SEG_MULTI ? REL_EQUIVALENT : REL_GENERAL;
    if (y->kind == GOC__SEG_MULTI)
        return REL_SPECIFIC;
    if (x->kind == GOC__SEG_WILD) {
        if (y->kind == GOC__SEG_WILD)
            return REL_EQUIVALENT;
        return y->kind == GOC__SEG_DOLLAR ? REL_DISJOINT : REL_GENERAL;
    }
    if (y->kind == GOC__SEG_WILD)
        return x->kind == GOC__SEG_DOLLAR ? REL_DISJOINT : REL_SPECIFIC;
    bool same = x->kind == y->kind && x->len == y->len && memcmp(x->s, y->s, x->len) == 0;
    return same ? REL_EQUIVALENT : REL_DISJOINT;
}

static bool ends_multi(const goc__pattern *p)
{
    return p->segs[p->nsegs - 1].kind == GOC__SEG_MULTI;
}

static rel cmp_paths(const goc__pattern *a, const goc__pattern *b)
{
    uint32_t na = a->nsegs, nb = b->nsegs, n = na < nb ? na : nb;
    if (na != nb && !ends_multi(a) && !ends_multi(b))
        return REL_DISJOINT; /* without a multi, only equal lengths can match */
    rel r = REL_EQUIVALENT;
    for (uint32_t i = 0; i < n && r != REL_DISJOINT; i++)
        r = combine(r, cmp_segs(&a->segs[i], &b->segs[i]));
    if (r == REL_DISJOINT || na == nb)
        return r;
    /* The shorter one ends in a multi, which covers the rest of the other. */
    if (na < nb && ends_multi(a))
        return combine(r, REL_GENERAL);
    if (nb < na && ends_multi(b))
        return combine(r, REL_SPECIFIC);
    return REL_DISJOINT;
}

bool goc__pattern_conflicts(const goc__pattern *a, const goc__pattern *b)
{
    if (strcmp(a->host, b->host) != 0)
        return false; /* a host wins over none; two hosts never meet */
    rel m = cmp_methods(a, b);
    if (m == REL_DISJOINT)
        return false;
    rel r = combine(m, cmp_paths(a, b));
    return r == REL_EQUIVALENT || r == REL_OVERLAPS;
}

/* ---- the conflict message ------------------------------------------------------ */

typedef struct sbuf {
    char b[128];
    size_t n;
} sbuf;

static void put(sbuf *s, const char *p, size_t n)
{
    if (n > sizeof s->b - 1 - s->n)
        n = sizeof s->b - 1 - s->n;
    memcpy(s->b + s->n, p, n);
    s->n += n;
    s->b[s->n] = '\0';
}

/* A path piece that sg matches: "/lit", "/name" for a wildcard, "/". */
static void put_seg(sbuf *s, const goc__mseg *sg)
{
    put(s, "/", 1);
    if (sg->kind == GOC__SEG_LIT || sg->kind == GOC__SEG_WILD)
        put(s, sg->s, sg->len);
}

static void put_rest(sbuf *s, const goc__pattern *p, uint32_t from)
{
    for (uint32_t i = from; i < p->nsegs; i++)
        put_seg(s, &p->segs[i]);
}

/* A path both a and b match (they overlap). */
static void common_path(sbuf *s, const goc__pattern *a, const goc__pattern *b)
{
    uint32_t n = a->nsegs < b->nsegs ? a->nsegs : b->nsegs;
    for (uint32_t i = 0; i < n; i++)
        put_seg(s, is_wild(&a->segs[i]) ? &b->segs[i] : &a->segs[i]);
    put_rest(s, a, n);
    put_rest(s, b, n);
}

/* One segment of a path that a matches and b does not; false: the path
 * is complete. */
static bool diff_seg(sbuf *s, const goc__mseg *x, const goc__mseg *y)
{
    if (x->kind == GOC__SEG_MULTI) {
        /* A trailing slash tells them apart, unless y is {$}: then any
         * segment does. */
        put(s, "/", 1);
        if (y->kind == GOC__SEG_DOLLAR)
            put(s, x->len ? x->s : "x", x->len ? x->len : 1);
        return false;
    }
    if (x->kind == GOC__SEG_WILD && y->kind == GOC__SEG_LIT && x->len == y->len &&
        memcmp(x->s, y->s, x->len) == 0) {
        put_seg(s, y); /* the name equals the literal: tweak it */
        put(s, "x", 1);
        return true;
    }
    put_seg(s, x);
    return true;
}

static void difference_path(sbuf *s, const goc__pattern *a, const goc__pattern *b)
{
    uint32_t n = a->nsegs < b->nsegs ? a->nsegs : b->nsegs;
    for (uint32_t i = 0; i < n; i++) {
        if (!diff_seg(s, &a->segs[i], &b->segs[i]))
            return;
    }
    put_rest(s, a, n);
    put_rest(s, b, n);
}

int goc__pattern_conflict_error(const goc__pattern *a, const goc__pattern *b)
{
    const char *x = a->str, *y = b->str;
    rel m = cmp_methods(a, b), p = cmp_paths(a, b);
    if (combine(m, p) == REL_EQUIVALENT)
        return goc__errorf(GOC_EHTTP_PATTERN_CONFLICT,
                           "pattern \"%s\" conflicts with pattern \"%s\":\n%s matches the same "
                           "requests as %s",
                           x, y, x, y);
    if (p == REL_OVERLAPS) {
        sbuf c = {.n = 0}, d1 = {.n = 0}, d2 = {.n = 0};
        common_path(&c, a, b);
        difference_path(&d1, a, b);
        difference_path(&d2, b, a);
        return goc__errorf(GOC_EHTTP_PATTERN_CONFLICT,
                           "pattern \"%s\" conflicts with pattern \"%s\":\n%s and %s both match "
                           "some paths, like \"%s\".\nBut neither is more specific than the "
                           "other.\n%s matches \"%s\", but %s doesn't.\n%s matches \"%s\", but %s "
                           "doesn't.",
                           x, y, x, y, c.b, x, d1.b, y, y, d2.b, x);
    }
    const char *how = m == REL_GENERAL ? "more methods than" : "fewer methods than";
    const char *path = m == REL_GENERAL ? "more specific" : "more general";
    return goc__errorf(GOC_EHTTP_PATTERN_CONFLICT,
                       "pattern \"%s\" conflicts with pattern \"%s\":\n%s matches %s %s, but has "
                       "a %s path pattern",
                       x, y, x, how, y, path);
}
