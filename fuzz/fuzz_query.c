/*
 * fuzz_query.c — libFuzzer target: what a handler reads out of a request
 * besides its head (query.c): percent-decoding, query strings, cookies.
 * The first byte (mod 3) picks the parser; the rest is its input.
 *
 *   unescape   goc__http_unescape with and without '+' as a space, into a
 *              buffer of exactly the n + 1 bytes it promises to need: the
 *              length is at most n and NUL-terminated, -1 exactly when a '%'
 *              lacks two hex digits, and the bytes equal a direct decoding;
 *              percent-encoding the output again and decoding that gives
 *              the output back.
 *   query      a request built without a server (an arena whose first
 *              block is small, so its growth is reached; a header map): the
 *              input up to its first LF as r->raw_query, the rest as the
 *              body of a urlencoded POST (stubs.c hands it out).
 *              goc_http_query_get for the name of every pair, and for a
 *              name no pair has, answers what Go's ParseQuery read directly
 *              (ref_query: '&'-separated pairs, empty ones ignored, one
 *              holding ';' or a bad escape skipped, the first of a name
 *              wins) says of the query; goc_http_form_value what it says of
 *              the body, else of the query — names and values compared as
 *              the C strings a handler sees.
 *   cookies    the input split at LF into Cookie lines: goc_http_cookie for
 *              every name the lines hold (and one they do not) answers what
 *              Go's readCookies read directly says (fz_ref_cookie).
 * Every request's memory goes back with its arena, so LeakSanitizer sees
 * anything kept past the request.
 *
 * These checks need src/http/http.h, which the tests cannot include, so
 * fuzz/regression/query is replayed by fuzz/run.sh only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/chars.h"
#include "http/http.h"
#include "stubs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { FZ_Q_UNESCAPE, FZ_Q_QUERY, FZ_Q_COOKIE, FZ_Q_COUNT };

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Decode s[0, n) directly: the length, or -1. out has room for n. */
static ssize_t ref_unescape(const char *s, size_t n, char *out, bool plus)
{
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%') {
            if (i + 2 >= n)
                return -1;
            int h = hexval((unsigned char)s[i + 1]), l = hexval((unsigned char)s[i + 2]);
            if (h < 0 || l < 0)
                return -1;
            out[j++] = (char)(16 * h + l);
            i += 2;
        } else {
            out[j++] = plus && s[i] == '+' ? ' ' : s[i];
        }
    }
    return (ssize_t)j;
}

/* ---- unescape ------------------------------------------------------------ */

static const char *check_unescape_one(const uint8_t *d, size_t n, bool plus)
{
    const char *s = (const char *)d;
    char *out = malloc(n + 1), *want = malloc(n + 1), *enc = malloc(3 * n + 1),
         *back = malloc(3 * n + 1);
    const char *e = NULL;
    if (!out || !want || !enc || !back)
        goto out_free;
    ssize_t k = goc__http_unescape(s, n, out, plus);
    if (k != ref_unescape(s, n, want, plus))
        e = "unescape: the result differs from a direct decoding";
    else if (k < -1 || k > (ssize_t)n)
        e = "unescape: a length outside [-1, n]";
    else if (k >= 0 && (out[k] != '\0' || memcmp(out, want, (size_t)k) != 0))
        e = "unescape: wrong bytes, or no NUL after them";
    if (e || k < 0)
        goto out_free;
    size_t m = 0;
    for (ssize_t i = 0; i < k; i++) {
        static const char hex[] = "0123456789ABCDEF";
        unsigned char c = (unsigned char)out[i];
        if (goc__hc_is(c, GOC__HC_TCHAR) && c != '%' && c != '+') {
            enc[m++] = (char)c;
        } else {
            enc[m++] = '%';
            enc[m++] = hex[c >> 4];
            enc[m++] = hex[c & 15];
        }
    }
    ssize_t kb = goc__http_unescape(enc, m, back, plus);
    if (kb != k || memcmp(back, out, (size_t)k) != 0)
        e = "unescape: decoding the re-encoded output does not give it back";
out_free:
    free(out);
    free(want);
    free(enc);
    free(back);
    return e;
}

/* ---- a request without a server --------------------------------------------- */

typedef struct fake_req {
    goc_http_request r;
    struct goc__http_req priv;
    goc_http_header h;
    goc__arena arena;
    char *first;
} fake_req;

static bool fake_init(fake_req *f, const char *raw_query)
{
    memset(f, 0, sizeof *f);
    enum { FIRST = 48 }; /* small: most inputs reach arena_grow */
    if (!(f->first = malloc(FIRST)))
        return false;
    goc__arena_init(&f->arena, f->first, FIRST);
    goc__http_header_init(&f->h, &f->arena);
    f->priv.arena = &f->arena;
    f->priv.pub = &f->r;
    f->r.method = "GET";
    f->r.raw_query = raw_query;
    f->r.header = &f->h;
    f->r.priv_ = &f->priv;
    return true;
}

static void fake_free(fake_req *f)
{
    goc__arena_reset(&f->arena);
    free(f->first);
}

/* ---- query strings ------------------------------------------------------------ */

/* Go's ParseQuery read directly: the value of the first good pair whose
 * decoded name, as a C string, is name; NULL if none. Decoded strings go to
 * buf (room for 2 * (n + 1)). */
static const char *ref_query(const char *s, size_t n, const char *name, char *buf)
{
    for (size_t i = 0; i <= n;) {
        const char *amp = memchr(s + i, '&', n - i);
        size_t end = amp ? (size_t)(amp - s) : n, len = end - i;
        const char *p = s + i, *eq = memchr(p, '=', len);
        i = end + 1;
        if (len == 0 || memchr(p, ';', len))
            continue;
        size_t kn = eq ? (size_t)(eq - p) : len;
        char *k = buf, *v = buf + n + 1;
        ssize_t a = ref_unescape(p, kn, k, true);
        ssize_t b = eq ? ref_unescape(eq + 1, len - kn - 1, v, true) : 0;
        if (a < 0 || b < 0)
            continue;
        k[a] = v[b] = '\0';
        if (strcmp(k, name) == 0)
            return v;
    }
    return NULL;
}

/* Check every name of the pairs of s[0, n) against the query string q and
 * the form body b (as in check_query). */
static const char *check_names(fake_req *f, const char *s, size_t n, const char *q, size_t qn,
                               const char *b, size_t bn, char *name, char *buf1, char *buf2)
{
    /* The first 64 pairs: each lookup scans them all, so more only slow
     * the target down. */
    for (size_t i = 0, k = 0; i <= n && k < 64; k++) {
        const char *amp = memchr(s + i, '&', n - i), *p = s + i;
        size_t end = amp ? (size_t)(amp - s) : n, len = end - i;
        const char *eq = memchr(p, '=', len);
        size_t kn = eq ? (size_t)(eq - p) : len;
        ssize_t a = ref_unescape(p, kn, name, true);
        i = end + 1;
        if (a < 0)
            continue;
        name[a] = '\0';
        const char *got = goc_http_query_get(&f->r, name), *want = ref_query(q, qn, name, buf1);
        if ((got == NULL) != (want == NULL) || (got && strcmp(got, want) != 0))
            return "query: a value differs from a direct reading of Go's ParseQuery";
        got = goc_http_form_value(&f->r, name);
        const char *in_body = ref_query(b, bn, name, buf2);
        want = in_body ? in_body : want;
        if ((got == NULL) != (want == NULL) || (got && strcmp(got, want) != 0))
            return "form: a value differs from the body's, else the query's";
    }
    return NULL;
}

/* The input up to its first LF is the query string, the rest the body of
 * a urlencoded POST. */
static const char *check_query(const uint8_t *d, size_t n)
{
    /* As the request parser leaves a query: NUL-terminated, none inside. */
    const uint8_t *nul = memchr(d, 0, n);
    if (nul)
        n = (size_t)(nul - d);
    char *s = malloc(n + 1), *buf1 = malloc(2 * (n + 1)), *buf2 = malloc(2 * (n + 1)),
         *name = malloc(n + 8); /* the longest name: a pair of s, or "zz%7F" */
    static const char ct[] = "application/x-www-form-urlencoded; charset=utf-8";
    const char *e = NULL;
    fake_req f;
    if (!s || !buf1 || !buf2 || !name || !fake_init(&f, s))
        goto out_free_bufs;
    memcpy(s, d, n);
    s[n] = '\0';
    char *lf = strchr(s, '\n');
    size_t qn = lf ? (size_t)(lf - s) : n;
    const char *b = lf ? lf + 1 : s + n;
    size_t bn = n - (size_t)(b - s);
    if (lf)
        *lf = '\0'; /* r.raw_query is s[0, qn) */
    f.r.method = "POST";
    if (goc__http_header_push(&f.h, "Content-Type", 12, ct, sizeof ct - 1) < 0)
        goto out_free;
    fz_stub_body(b, bn);
    e = check_names(&f, s, qn, s, qn, b, bn, name, buf1, buf2);
    if (!e)
        e = check_names(&f, b, bn, s, qn, b, bn, name, buf1, buf2);
    if (!e) /* a name no pair may have, unless the fuzzer finds it */
        e = check_names(&f, "zz%7F", 5, s, qn, b, bn, name, buf1, buf2);
out_free:
    fake_free(&f);
out_free_bufs:
    free(s);
    free(buf1);
    free(buf2);
    free(name);
    return e;
}

/* ---- cookies ------------------------------------------------------------------ */

static bool ck_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void ck_trim(const char **b, const char **e)
{
    while (*b < *e && ck_space(**b))
        (*b)++;
    while (*e > *b && ck_space((*e)[-1]))
        (*e)--;
}

/* One "name=value" part [b, e) of a Cookie line, as Go's readCookies reads
 * it: whether it is a cookie, and its name and value spans. */
static bool ck_part(const char *b, const char *e, const char **nb, const char **ne, const char **vb,
                    const char **ve)
{
    ck_trim(&b, &e);
    if (b == e)
        return false;
    const char *eq = memchr(b, '=', (size_t)(e - b));
    *nb = b;
    *ne = eq ? eq : e;
    *vb = eq ? eq + 1 : e;
    *ve = e;
    ck_trim(nb, ne);
    if (*nb == *ne)
        return false;
    for (const char *c = *nb; c < *ne; c++)
        if (!goc__hc_is((unsigned char)*c, GOC__HC_TCHAR))
            return false;
    if (*ve - *vb > 1 && **vb == '"' && (*ve)[-1] == '"') {
        (*vb)++;
        (*ve)--;
    }
    for (const char *c = *vb; c < *ve; c++) {
        unsigned char u = (unsigned char)*c;
        if (u < 0x20 || u >= 0x7f || u == '"' || u == ';' || u == '\\')
            return false;
    }
    return true;
}

/* The value of the first cookie called name[0, nn) over the lines, or
 * NULL; its length in *vn. */
static const char *ref_cookie(char *const *lines, size_t nl, const char *name, size_t nn,
                              size_t *vn)
{
    for (size_t l = 0; l < nl; l++) {
        const char *p = lines[l], *end = p + strlen(p);
        while (p <= end) {
            const char *semi = memchr(p, ';', (size_t)(end - p));
            const char *stop = semi ? semi : end, *nb, *ne, *vb, *ve;
            bool ok = ck_part(p, stop, &nb, &ne, &vb, &ve);
            p = stop + 1;
            if (ok && (size_t)(ne - nb) == nn && memcmp(nb, name, nn) == 0) {
                *vn = (size_t)(ve - vb);
                return vb;
            }
        }
    }
    return NULL;
}

static const char *check_cookie(const uint8_t *d, size_t n)
{
    const uint8_t *nul = memchr(d, 0, n);
    if (nul)
        n = (size_t)(nul - d);
    char *lines[64], *names = malloc(n + 2);
    size_t nl = 0;
    const char *e = NULL;
    fake_req f;
    if (!names || !fake_init(&f, "")) {
        free(names);
        return NULL;
    }
    /* Lines at LF (a field value holds none), each in the arena as the
     * request's head would hold it; a few other fields between them. */
    for (size_t i = 0; i <= n && nl < 64;) {
        const uint8_t *lf = memchr(d + i, '\n', n - i);
        size_t end = lf ? (size_t)(lf - d) : n;
        char *v = goc__arena_strndup(&f.arena, (const char *)d + i, end - i);
        if (!v ||
            goc__http_header_push(&f.h, nl % 2 ? "cookie" : "Cookie", 6, v, (uint32_t)(end - i)) <
                0 ||
            goc__http_header_push(&f.h, "Cookies", 7, "x=y", 3) < 0)
            goto out_free;
        lines[nl++] = v;
        i = end + 1;
    }
    /* The names of the first 64 parts (each lookup scans every line), then
     * one no part has. */
    size_t asked = 0;
    for (size_t l = 0; l <= nl && !e; l++) {
        const char *p = l < nl ? lines[l] : "\x7f=1", *end = p + strlen(p);
        for (; p <= end && !e && (asked < 64 || l == nl); asked++) {
            const char *semi = memchr(p, ';', (size_t)(end - p));
            const char *stop = semi ? semi : end, *eq = memchr(p, '=', (size_t)(stop - p));
            const char *nb = p, *ne = eq ? eq : stop;
            p = stop + 1;
            ck_trim(&nb, &ne);
            memcpy(names, nb, (size_t)(ne - nb));
            names[ne - nb] = '\0';
            size_t vn = 0;
            const char *want = ref_cookie(lines, nl, names, (size_t)(ne - nb), &vn);
            const char *got = goc_http_cookie(&f.r, names);
            if ((got == NULL) != (want == NULL) ||
                (got && (strlen(got) != vn || memcmp(got, want, vn) != 0)))
                e = "cookie: a value differs from a direct reading of Go's readCookies";
        }
    }
out_free:
    fake_free(&f);
    free(names);
    return e;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    const char *broken = NULL;
    switch (data[0] % FZ_Q_COUNT) {
    case FZ_Q_UNESCAPE:
        broken = check_unescape_one(data + 1, size - 1, false);
        if (!broken)
            broken = check_unescape_one(data + 1, size - 1, true);
        break;
    case FZ_Q_QUERY:
        broken = check_query(data + 1, size - 1);
        break;
    default:
        broken = check_cookie(data + 1, size - 1);
        break;
    }
    if (broken) {
        fprintf(stderr, "fuzz_query: invariant broken: %s\n", broken);
        abort();
    }
    return 0;
}
