/*
 * check_mux.h — the invariants fuzz_mux checks: the mux's patterns
 * (pattern.c), the routing tree that matches request paths against them
 * (routing.c), and Go's path cleaning. Header-only, as check.h, so
 * tests/http/test_fuzz_replay.c replays fuzz/regression/mux and
 * fuzz/corpus/mux with the same checks.
 *
 * The input, cut at its first NUL, is lines (LF): the first 1 + (first
 * byte mod 8) are patterns, registered as the mux registers them (parsed,
 * refused if they conflict with one already in, hung in the tree); the
 * next 64 at most are requests, "METHOD HOST PATH" (fewer words: GET, no
 * host, the line as the path).
 *
 *   patterns  a parse fails with GOC_EHTTP_BAD_PATTERN and a message (its
 *             "at offset N" inside the pattern) or succeeds with a shape
 *             the header promises: the text kept, a token method, a lower
 *             case host without '{', at least one segment, MULTI and
 *             DOLLAR only last, wildcard names unique Go identifiers. A
 *             pattern conflicts with itself; conflicts are symmetric; a
 *             conflict's message is written (a bounded buffer inside).
 *   paths     path_clean writes at most n + 1 bytes (n + 2 given, exactly)
 *             and its output is clean, is a fixed point, and is the path
 *             itself when is_clean says so; rpath_scan's answer is
 *             is_clean's, with the segments' buffers sized as the mux
 *             sizes them (exactly).
 *   matching  the request's cleaned path is walked as the mux walks it
 *             (match, the trailing-slash probe, the methods for a 405) and
 *             compared with a brute-force matcher over every registered
 *             pattern (fz_mux_matches, Go's rules written directly): the
 *             tree finds a pattern exactly when one matches, the one it
 *             finds matches, and it has the request's host when any
 *             matching pattern has; each method listed for a 405 belongs
 *             to a pattern that matches the host and the path (or the path
 *             and a slash).
 */
#ifndef GOC_FUZZ_CHECK_MUX_H
#define GOC_FUZZ_CHECK_MUX_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <goc.h>
#include <goc/http.h>

#include "../src/http/mux.h"

/* At most 8 patterns, and 64 requests an input (more only slow it down). */
enum { FZ_MUX_MAXPAT = 8, FZ_MUX_MAXREQ = 64 };

/* ---- patterns ------------------------------------------------------------------ */

static inline int fzm_tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

static inline int fzm_ident(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        int letter = c == '_' || c >= 0x80 || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
        if (!letter && (i == 0 || c < '0' || c > '9'))
            return 0;
    }
    return n > 0;
}

static inline const char *fzm_check_shape(const char *s, const goc__pattern *p)
{
    if (strcmp(p->str, s) != 0)
        return "pattern: the text kept differs from the one given";
    for (const char *c = p->method; *c; c++)
        if (!fzm_tchar((unsigned char)*c))
            return "pattern: a method that is not a token";
    for (const char *c = p->host; *c; c++)
        if ((*c >= 'A' && *c <= 'Z') || *c == '{' || *c == '/')
            return "pattern: a host with upper case, '{' or '/'";
    if (p->nsegs == 0)
        return "pattern: no segment";
    for (uint32_t i = 0; i < p->nsegs; i++) {
        const goc__mseg *sg = &p->segs[i];
        if (sg->kind > GOC__SEG_DOLLAR || strlen(sg->s) > sg->len)
            return "pattern: a segment of no kind, or shorter than its length";
        if ((sg->kind == GOC__SEG_MULTI || sg->kind == GOC__SEG_DOLLAR) && i + 1 != p->nsegs)
            return "pattern: {...}, {$} or a trailing slash not last";
        if (sg->kind == GOC__SEG_WILD || (sg->kind == GOC__SEG_MULTI && sg->len)) {
            if (!fzm_ident(sg->s, sg->len))
                return "pattern: a wildcard name that is not an identifier";
            for (uint32_t j = 0; j < i; j++) {
                const goc__mseg *o = &p->segs[j];
                if (o->kind != GOC__SEG_LIT && o->len == sg->len && !memcmp(o->s, sg->s, sg->len))
                    return "pattern: a wildcard name twice";
            }
        }
    }
    if (!goc__pattern_conflicts(p, p))
        return "pattern: does not conflict with itself";
    return NULL;
}

/* goc_errmsg after a refused pattern: "parsing \"S\": at offset N: ..."
 * with N inside S, or the empty pattern's text. */
static inline const char *fzm_check_bad(const char *s)
{
    const char *m = goc_errmsg();
    size_t n = strlen(s), mn = m ? strlen(m) : 0;
    if (!mn)
        return "pattern: refused without a message";
    if (!*s || mn < 9 + n + 13 || strncmp(m, "parsing \"", 9) != 0)
        return NULL; /* the empty pattern's text, or cut by the message's room */
    if (memcmp(m + 9, s, n) != 0 || strncmp(m + 9 + n, "\": at offset ", 13) != 0)
        return "pattern: the message does not name the pattern";
    if (strtoull(m + 9 + n + 13, NULL, 10) > n)
        return "pattern: the offset in the message is past the pattern";
    return NULL;
}

/* ---- paths ------------------------------------------------------------------------ */

static inline const char *fzm_check_path(const char *path, size_t n)
{
    char *out = malloc(n + 2), *again = malloc(n + 3), *scratch = malloc(2 * n + 2);
    goc__rseg *segs = malloc((n + 2) * sizeof *segs);
    const char *e = NULL;
    if (!out || !again || !scratch || !segs)
        goto out_free;
    size_t k = goc__path_clean(path, n, out);
    int clean = goc__path_is_clean(path, n);
    if (k > n + 1 || strlen(out) != k)
        e = "path_clean: longer than n + 1, or not NUL-terminated after its length";
    else if (!goc__path_is_clean(out, k))
        e = "path_clean: the output is not clean";
    else if (goc__path_clean(out, k, again) != k || memcmp(out, again, k) != 0)
        e = "path_clean: the output is not a fixed point";
    else if (clean && (k != n || memcmp(out, path, n) != 0))
        e = "path_clean: a clean path changed";
    if (e)
        goto out_free;
    goc__rpath rp = {.p = path, .n = n, .segs = segs, .limit = (uint32_t)n + 1};
    if (goc__rpath_scan(&rp, scratch) != clean)
        e = "rpath_scan: the answer is not is_clean's";
out_free:
    free(out);
    free(again);
    free(scratch);
    free(segs);
    return e;
}

/* ---- matching ---------------------------------------------------------------------- */

/* A request path's segment, unescaped as Go's pathUnescape (a malformed
 * escape keeps the segment as it is), into out (room for n + 1). */
static inline size_t fzm_unescape(const char *s, size_t n, char *out)
{
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        int h = -1, l = -1;
        if (s[i] == '%' && i + 2 < n) {
            const char *hex = "0123456789abcdef0123456789ABCDEF", *x, *y;
            x = s[i + 1] ? strchr(hex, s[i + 1]) : NULL;
            y = s[i + 2] ? strchr(hex, s[i + 2]) : NULL;
            h = x ? (int)((x - hex) % 16) : -1;
            l = y ? (int)((y - hex) % 16) : -1;
        }
        if (s[i] == '%' && (h < 0 || l < 0)) {
            memcpy(out, s, n);
            return n;
        }
        if (s[i] == '%') {
            out[j++] = (char)(h * 16 + l);
            i += 2;
        } else {
            out[j++] = s[i];
        }
    }
    return j;
}

/* Whether p matches host, method and the clean path c[0, n), by Go's
 * rules read directly: host and method (GET also serves HEAD) unless the
 * pattern leaves them out; the path segment by segment, a literal equal
 * to the unescaped segment, {x} any segment but the trailing slash, {$}
 * only the trailing slash, {x...} (or a trailing "/") whatever is left. */
static inline int fzm_matches(const goc__pattern *p, const char *host, const char *method,
                              const char *c, size_t n, char *buf)
{
    if (p->host[0] && strcmp(p->host, host) != 0)
        return 0;
    if (p->method[0] && strcmp(p->method, method) != 0 &&
        !(strcmp(p->method, "GET") == 0 && strcmp(method, "HEAD") == 0))
        return 0;
    /* The request's segments: "/a/b" is a, b; "/a/" is a, then the
     * trailing slash; "/" the trailing slash alone. */
    size_t pos = 0;
    uint32_t i = 0;
    for (; i < p->nsegs && pos < n; i++) {
        const goc__mseg *sg = &p->segs[i];
        int trail = pos + 1 == n;
        const char *slash = trail ? NULL : memchr(c + pos + 1, '/', n - pos - 1);
        size_t end = slash ? (size_t)(slash - c) : n;
        if (sg->kind == GOC__SEG_MULTI)
            return 1;
        if (sg->kind == GOC__SEG_DOLLAR)
            return trail && i + 1 == p->nsegs;
        if (trail)
            return 0;
        if (sg->kind == GOC__SEG_LIT) {
            size_t k = fzm_unescape(c + pos + 1, end - pos - 1, buf);
            if (k != sg->len || memcmp(buf, sg->s, k) != 0)
                return 0;
        }
        pos = end;
    }
    return i == p->nsegs && pos == n; /* both used up */
}

/* The mux's walk for one request over the tree t holding pats[0, np). */
static inline const char *fzm_check_match(const goc__rtree *t, goc__pattern *const *pats, size_t np,
                                          const char *method, const char *host, const char *path,
                                          size_t n)
{
    size_t hn = strlen(host);
    char *c = malloc(n + 3), *buf = malloc(2 * n + 8), *scratch = malloc(2 * (n + 1) + 2);
    uint32_t limit = t->maxdepth + 1;
    goc__rseg *segs = malloc((limit + 1) * sizeof *segs);
    const char *e = NULL;
    if (!c || !buf || !scratch || !segs)
        goto out_free;
    size_t cn = goc__path_clean(path, n, c);
    goc__rpath rp = {.host = host,
                     .method = method,
                     .hlen = hn,
                     .mlen = strlen(method),
                     .hhash = goc__rkey_hash(host, hn),
                     .mhash = goc__rkey_hash(method, strlen(method)),
                     .head = strcmp(method, "HEAD") == 0,
                     .p = c,
                     .n = cn,
                     .segs = segs,
                     .limit = limit};
    goc__rpath_scan(&rp, scratch);
    const goc__pattern *got = goc__rtree_match(t, &rp);
    int any = 0, host_any = 0;
    for (size_t i = 0; i < np; i++) {
        if (fzm_matches(pats[i], host, method, c, cn, buf)) {
            any = 1;
            host_any |= pats[i]->host[0] != 0;
        }
    }
    if (!got != !any)
        e = "mux: the tree finds a pattern where none matches, or none where one does";
    else if (got && !fzm_matches(got, host, method, c, cn, buf))
        e = "mux: the tree's pattern does not match the request";
    else if (got && host_any && !got->host[0])
        e = "mux: a pattern without a host won over one with the request's host";
    if (e)
        goto out_free;
    /* The trailing-slash probe and the methods for a 405, as decide() does. */
    if (!goc__rtree_exact(got, &rp) && goc__rpath_add_slash(t, &rp)) {
        goc__rtree_match(t, &rp);
        rp.nsegs--;
    }
    if (!got) {
        goc__rmethods ms = {.n = 0};
        goc__rtree_methods(t, &rp, &ms);
        c[cn] = '/';
        c[cn + 1] = '\0';
        for (size_t k = 0; k < ms.n && !e; k++) {
            int found = 0;
            for (size_t i = 0; i < np && !found; i++)
                found = strcmp(pats[i]->method, ms.v[k]) == 0 &&
                        (fzm_matches(pats[i], host, ms.v[k], c, cn, buf) ||
                         (c[cn - 1] != '/' && fzm_matches(pats[i], host, ms.v[k], c, cn + 1, buf)));
            if (!found)
                e = "mux: a method for a 405 that no pattern matching the path has";
        }
    }
out_free:
    free(c);
    free(buf);
    free(scratch);
    free(segs);
    return e;
}

/* ---- the input ----------------------------------------------------------------------- */

static inline const char *check_mux(const uint8_t *d, size_t n)
{
    if (n == 0)
        return NULL;
    size_t want = 1 + d[0] % FZ_MUX_MAXPAT, np = 0, len = n - 1;
    const uint8_t *nul = memchr(d + 1, 0, len);
    if (nul)
        len = (size_t)(nul - d - 1);
    char *s = malloc(len + 1);
    goc__pattern *pats[FZ_MUX_MAXPAT];
    goc__rtree t;
    memset(&t, 0, sizeof t);
    const char *e = NULL;
    if (!s)
        return NULL;
    memcpy(s, d + 1, len);
    s[len] = '\0';
    char *line = s;
    for (size_t k = 0; line && !e && k < want + FZ_MUX_MAXREQ; k++) {
        char *lf = strchr(line, '\n'), *next = lf ? lf + 1 : NULL;
        if (lf)
            *lf = '\0';
        size_t ln = strlen(line);
        if (k < want) {
            goc__pattern *p = NULL;
            int rc = goc__pattern_parse(line, &p);
            if (rc == 0 && (e = fzm_check_shape(line, p)) == NULL) {
                int conflict = 0;
                for (size_t i = 0; i < np && !e; i++) {
                    int ab = goc__pattern_conflicts(p, pats[i]);
                    if (ab != goc__pattern_conflicts(pats[i], p))
                        e = "pattern: conflicts is not symmetric";
                    else if (ab &&
                             goc__pattern_conflict_error(p, pats[i]) != GOC_EHTTP_PATTERN_CONFLICT)
                        e = "pattern: a conflict's error is not PATTERN_CONFLICT";
                    conflict |= ab;
                }
                if (!e && !conflict && goc__rtree_add(&t, p) == 0)
                    pats[np++] = p, p = NULL;
            } else if (rc != 0) {
                e = rc == GOC_EHTTP_BAD_PATTERN ? fzm_check_bad(line)
                                                : "pattern: an error other than BAD_PATTERN";
            }
            free(p);
        } else {
            /* "METHOD HOST PATH", or a path alone */
            const char *method = "GET", *host = "", *path = line;
            char *sp1 = strchr(line, ' '), *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
            if (sp2) {
                *sp1 = *sp2 = '\0';
                method = line;
                host = sp1 + 1;
                path = sp2 + 1;
                for (char *h = sp1 + 1; *h; h++)
                    if (*h >= 'A' && *h <= 'Z')
                        *h = (char)(*h - 'A' + 'a');
                ln = strlen(path);
            }
            e = fzm_check_path(path, ln);
            if (!e)
                e = fzm_check_match(&t, pats, np, method, host, path, ln);
        }
        line = next;
    }
    goc__rtree_free(&t);
    for (size_t i = 0; i < np; i++)
        free(pats[i]);
    free(s);
    return e;
}

#endif /* GOC_FUZZ_CHECK_MUX_H */
