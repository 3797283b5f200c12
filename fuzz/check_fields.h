/*
 * check_fields.h — the invariants fuzz_fields checks: the field values the
 * file server and ServeContent read from a request (Range, Accept-Encoding,
 * entity tags in If-Match / If-None-Match / If-Range, HTTP-dates in
 * If-Modified-Since and the rest), and the sniffer that reads a body's
 * first bytes. Header-only, as check.h, so tests/http/test_fuzz_replay.c
 * replays fuzz/regression/fields and fuzz/corpus/fields with the same
 * checks.
 *
 * The input's first byte picks the parser (its value modulo FZ_F_COUNT);
 * the rest is the field value, cut at its first NUL (a parsed field value
 * never holds one) and copied to a buffer of exactly its size, so
 * AddressSanitizer sees any read past the terminator.
 *
 *   Range        two more bytes pick the content's size (tiny ones, and
 *                large ones up to INT64_MAX, so the arithmetic's edges are
 *                reached) and the capacity. The result is one the header
 *                promises; every range lies inside the content, non-empty;
 *                the parser agrees range for range with a direct reading of
 *                fs_fields.c's grammar (fz_ref_range, written apart); the
 *                capacity only decides -E2BIG; ranges_too_big is the sum
 *                computed without overflow; for a multipart answer the
 *                announced Content-Length is the length of what the part
 *                heads, data and tail add up to.
 *   Accept-Encoding  the answer equals a direct reading of RFC 9110 section
 *                12.5.3 (fz_ref_gzip) and does not change when the ASCII
 *                letters change case.
 *   ETags        a scanned tag lies inside the value, has the grammar of
 *                an entity-tag, and rest points just past it; walking the
 *                list as If-Match does always advances and ends; the weak
 *                comparison is reflexive and symmetric, the strong one
 *                holds exactly for a strong tag against itself.
 *   HTTP-date    an accepted value names exactly the instant parse_time
 *                returned: it is one of the three forms printed from that
 *                instant (gmtime_r, not the parser's calendar), weekday and
 *                zone aside, a :60 read as the next second; and eight bytes
 *                as a time in years 0-9999 print (format_time and the two
 *                obsolete forms) and parse back to the same time.
 *   sniff        the answer is one of the sniffer's types, depends on the
 *                first 512 bytes only, and text/plain never comes with a
 *                binary byte after the whitespace.
 */
#ifndef GOC_FUZZ_CHECK_FIELDS_H
#define GOC_FUZZ_CHECK_FIELDS_H

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <goc/http.h>

#include "../src/http/fs.h"

/* Internal (src/http/http.h, which the tests cannot include). */
void goc__http_format_time(time_t t, char buf[30]);
int goc__http_parse_time(const char *s, time_t *t);

enum { FZ_F_RANGE, FZ_F_GZIP, FZ_F_ETAG, FZ_F_DATE, FZ_F_SNIFF, FZ_F_COUNT };

static inline int fzf_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* ---- Range ---------------------------------------------------------------- */

/* A decimal of digits only, at most INT64_MAX: 0 and *v, or -1. */
static inline int fzf_num(const char *b, const char *e, int64_t *v)
{
    unsigned __int128 x = 0;
    if (b == e)
        return -1;
    for (const char *c = b; c < e; c++) {
        if (!isdigit((unsigned char)*c))
            return -1;
        x = x * 10 + (unsigned)(*c - '0');
        if (x > INT64_MAX)
            return -1;
    }
    *v = (int64_t)x;
    return 0;
}

static inline void fzf_trim(const char **b, const char **e)
{
    while (*b < *e && fzf_blank(**b))
        (*b)++;
    while (*e > *b && fzf_blank((*e)[-1]))
        (*e)--;
}

/* One element [b, e), trimmed and not empty: 1 and *r, 0 when it does not
 * overlap the content, -EINVAL. */
static inline int fzf_spec(const char *b, const char *e, int64_t size, goc__http_range *r)
{
    const char *dash = memchr(b, '-', (size_t)(e - b));
    if (!dash)
        return -EINVAL;
    const char *lb = b, *le = dash, *rb = dash + 1, *re = e;
    int64_t first = 0, last = 0;
    fzf_trim(&lb, &le);
    fzf_trim(&rb, &re);
    if (lb == le) {
        if (fzf_num(rb, re, &last) < 0)
            return -EINVAL;
        if (last == 0 || size == 0)
            return 0;
        r->start = last >= size ? 0 : size - last;
        r->length = size - r->start;
        return 1;
    }
    if (fzf_num(lb, le, &first) < 0)
        return -EINVAL;
    if (rb < re && (fzf_num(rb, re, &last) < 0 || last < first))
        return -EINVAL;
    if (first >= size)
        return 0;
    r->start = first;
    r->length = (rb == re || last >= size ? size - 1 : last) - first + 1;
    return 1;
}

/* fs_fields.c's grammar read directly: "bytes=" then comma-separated
 * elements, blanks around elements and around each number ignored, empty
 * elements skipped; the first cap ranges into out. */
static inline int fz_ref_range(const char *s, int64_t size, goc__http_range *out, size_t cap)
{
    if (!*s)
        return 0;
    if (strncmp(s, "bytes=", 6) != 0)
        return -EINVAL;
    size_t n = 0;
    int dropped = 0;
    for (const char *p = s + 6;;) {
        const char *comma = strchr(p, ',');
        const char *b = p, *e = comma ? comma : p + strlen(p);
        fzf_trim(&b, &e);
        if (b < e) {
            goc__http_range r;
            int rc = fzf_spec(b, e, size, &r);
            if (rc < 0)
                return rc;
            if (rc == 0)
                dropped = 1;
            else if (n++ < cap)
                out[n - 1] = r;
        }
        if (!comma)
            break;
        p = comma + 1;
    }
    if (n > cap)
        return -E2BIG;
    return n == 0 && dropped ? -ERANGE : (int)n;
}

/* The multipart body's length, from the heads as written. */
static inline int64_t fzf_multipart_len(const goc__http_range *rs, size_t n, int64_t size)
{
    static const char bnd[] = "0123456789abcdef0123456789abcdef", ct[] = "text/plain";
    char buf[1024];
    int64_t total = goc__http_multipart_tail(buf, sizeof buf, bnd);
    for (size_t i = 0; i < n; i++) {
        int k = goc__http_multipart_part_head(buf, sizeof buf, i, &rs[i], size, bnd, ct);
        if (k < 0 || (size_t)k != strlen(buf))
            return -1;
        total += k + rs[i].length;
    }
    return total == goc__http_multipart_size(rs, n, size, bnd, ct) ? total : -1;
}

static inline const char *fz_check_range(const char *s, int64_t size, size_t cap)
{
    goc__http_range got[GOC__HTTP_MAX_RANGES], want[GOC__HTTP_MAX_RANGES],
        all[GOC__HTTP_MAX_RANGES];
    int rc = goc__http_parse_range(s, size, got, cap);
    if (rc < 0 && rc != -EINVAL && rc != -ERANGE && rc != -E2BIG)
        return "Range: an error the header does not name";
    if (rc > (int)cap || (rc == 0 && *s && strncmp(s, "bytes=", 6) != 0))
        return "Range: more ranges than room, or a value without bytes= accepted";
    if (rc != fz_ref_range(s, size, want, cap))
        return "Range: the result differs from a direct reading of the grammar";
    unsigned __int128 sum = 0;
    for (int i = 0; i < rc; i++) {
        const goc__http_range *r = &got[i];
        if (r->start < 0 || r->length < 1 || r->start >= size || r->length > size - r->start)
            return "Range: a range empty or outside the content";
        if (r->start != want[i].start || r->length != want[i].length)
            return "Range: a range differs from a direct reading of the grammar";
        sum += (unsigned __int128)r->length;
    }
    int big = goc__http_parse_range(s, size, all, GOC__HTTP_MAX_RANGES);
    int expect = big > (int)cap ? -E2BIG : big;
    if (rc != expect || (rc > 0 && memcmp(got, all, (size_t)rc * sizeof *got) != 0))
        return "Range: the capacity changed more than whether -E2BIG is returned";
    if (rc < 0)
        return NULL;
    int too_big = goc__http_ranges_too_big(got, (size_t)rc, size);
    if (too_big != (sum > (unsigned __int128)size))
        return "Range: ranges_too_big is not their sum against the size";
    if (rc > 1 && !too_big && size <= (int64_t)1 << 62 &&
        fzf_multipart_len(got, (size_t)rc, size) < 0)
        return "Range: the multipart Content-Length is not what the parts add up to";
    return NULL;
}

/* ---- Accept-Encoding -------------------------------------------------------- */

/* A weight's value [b, e) by RFC 9110 section 12.4.2, in thousandths:
 *   qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
 * A value outside the grammar ranks 0 (goc does not accept what it cannot
 * rank). */
static inline int fzf_qvalue(const char *b, const char *e)
{
    size_t n = (size_t)(e - b);
    if (n == 0 || n > 5 || (b[0] != '0' && b[0] != '1') || (n > 1 && b[1] != '.'))
        return 0;
    int q = b[0] == '1' ? 1000 : 0, scale = 100;
    for (size_t i = 2; i < n; i++, scale /= 10) {
        if (!isdigit((unsigned char)b[i]) || (b[0] == '1' && b[i] != '0'))
            return 0;
        q += (b[i] - '0') * scale;
    }
    return q;
}

/* RFC 9110 section 12.5.3 read directly: elements split at commas, each a
 * coding then ";"-parameters, the first "q=" parameter its weight (1 if
 * none); a coding named more than once counts with its best weight. */
static inline int fz_ref_gzip(const char *s)
{
    int gzip = -1, star = -1;
    for (const char *p = s;;) {
        const char *comma = strchr(p, ',');
        const char *end = comma ? comma : p + strlen(p);
        const char *semi = memchr(p, ';', (size_t)(end - p));
        const char *cb = p, *ce = semi ? semi : end;
        int q = 1000;
        fzf_trim(&cb, &ce);
        for (const char *a = semi; a && a < end;) {
            const char *next = memchr(a + 1, ';', (size_t)(end - a - 1));
            const char *pb = a + 1, *pe = next ? next : end;
            fzf_trim(&pb, &pe);
            if (pe - pb >= 2 && (pb[0] | 0x20) == 'q' && pb[1] == '=') {
                const char *vb = pb + 2, *ve = pe;
                fzf_trim(&vb, &ve);
                q = fzf_qvalue(vb, ve);
                break;
            }
            a = next;
        }
        size_t cn = (size_t)(ce - cb);
        if ((cn == 4 && strncasecmp(cb, "gzip", 4) == 0) ||
            (cn == 6 && strncasecmp(cb, "x-gzip", 6) == 0))
            gzip = q > gzip ? q : gzip;
        else if (cn == 1 && cb[0] == '*')
            star = q > star ? q : star;
        if (!comma)
            break;
        p = comma + 1;
    }
    return gzip >= 0 ? gzip > 0 : star > 0;
}

static inline const char *fz_check_gzip(const char *s, size_t n)
{
    int got = goc__http_accepts_gzip(s);
    if (got != fz_ref_gzip(s))
        return "Accept-Encoding: the answer differs from a direct reading of RFC 9110";
    char *up = malloc(n + 1);
    if (!up)
        return NULL;
    for (size_t i = 0; i <= n; i++)
        up[i] = (char)(islower((unsigned char)s[i]) ? s[i] - 'a' + 'A' : s[i]);
    int upper = goc__http_accepts_gzip(up);
    free(up);
    return upper == got ? NULL : "Accept-Encoding: the answer depends on the letters' case";
}

/* ---- entity tags -------------------------------------------------------------- */

static inline int fzf_etagc(unsigned char c)
{
    return c == 0x21 || (c >= 0x23 && c <= 0x7e) || c >= 0x80;
}

/* A scanned tag t[0, n) at or after p (and blanks only before it) in the
 * value s[0, len). */
static inline const char *fzf_check_tag(const char *p, const char *t, size_t n, const char *rest,
                                        const char *s, size_t len)
{
    if (t < p || t + n > s + len || rest != t + n)
        return "ETag: the tag or the rest outside the value";
    for (const char *c = p; c < t; c++)
        if (!fzf_blank(*c))
            return "ETag: skipped more than blanks before the tag";
    size_t w = t[0] == 'W' ? 2 : 0;
    if (n < w + 2 || (w && t[1] != '/') || t[w] != '"' || t[n - 1] != '"')
        return "ETag: not W/\"...\" or \"...\"";
    for (size_t i = w + 1; i + 1 < n; i++)
        if (!fzf_etagc((unsigned char)t[i]))
            return "ETag: a byte outside etagc between the quotes";
    char *copy = strndup(t, n);
    if (!copy)
        return NULL;
    int weak = goc__http_etag_weak_eq(t, n, copy), strong = goc__http_etag_strong_eq(t, n, copy);
    free(copy);
    if (!weak || strong != (w == 0))
        return "ETag: a tag does not equal itself as it should";
    return NULL;
}

static inline const char *fz_check_etag(const char *s, size_t len)
{
    /* The list as If-Match and If-None-Match walk it. */
    const char *p = s, *tags[2] = {NULL, NULL};
    size_t lens[2] = {0, 0}, k = 0;
    for (size_t steps = 0;; steps++) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (!*p || *p == '*')
            break;
        const char *t = NULL, *rest = NULL;
        size_t n = goc__http_scan_etag(p, &t, &rest);
        if (n == 0)
            break;
        const char *e = fzf_check_tag(p, t, n, rest, s, len);
        if (e)
            return e;
        if (steps > len)
            return "ETag: walking the list does not end";
        if (k < 2) {
            tags[k] = t;
            lens[k++] = n;
        }
        p = rest;
    }
    if (k == 2) { /* the weak comparison is symmetric */
        char *a = strndup(tags[0], lens[0]), *b = strndup(tags[1], lens[1]);
        int ab = a && b && goc__http_etag_weak_eq(tags[0], lens[0], b);
        int ba = a && b && goc__http_etag_weak_eq(tags[1], lens[1], a);
        int ok = !a || !b || ab == ba;
        free(a);
        free(b);
        if (!ok)
            return "ETag: the weak comparison is not symmetric";
    }
    /* What the file server writes reads back whole and strong. */
    if (len >= 16) {
        int64_t mt, sz;
        memcpy(&mt, s, 8);
        memcpy(&sz, s + 8, 8);
        char buf[40];
        const char *t, *rest;
        goc__http_etag_format(buf, (time_t)mt, sz);
        size_t n = goc__http_scan_etag(buf, &t, &rest);
        if (n != strlen(buf) || !goc__http_etag_strong_eq(t, n, buf))
            return "ETag: a formatted tag does not read back";
    }
    return NULL;
}

/* ---- HTTP-dates ----------------------------------------------------------------- */

/* -62167219200 is 0000-01-01T00:00:00Z, 253402300799 9999-12-31T23:59:59Z. */
#define FZF_T_MIN (-62167219200LL)
#define FZF_T_MAX 253402300799LL

/* asctime's day is 2DIGIT or SP DIGIT (RFC 9110 date3): both are printed. */
enum { FZF_IMF, FZF_850_GMT, FZF_850_UTC, FZF_ASCTIME, FZF_ASCTIME0, FZF_FORMS };

/* The date in form f, from tm, as RFC 9110 section 5.6.7 spells it. */
static inline void fzf_print(char *out, size_t cap, const struct tm *tm, int f)
{
    static const char *const wd[7] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                      "Thursday", "Friday", "Saturday"};
    static const char *const mon[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    int y = tm->tm_year + 1900;
    if (f == FZF_IMF)
        snprintf(out, cap, "%.3s, %02d %s %04d %02d:%02d:%02d GMT", wd[tm->tm_wday], tm->tm_mday,
                 mon[tm->tm_mon], y, tm->tm_hour, tm->tm_min, tm->tm_sec);
    else if (f == FZF_ASCTIME || f == FZF_ASCTIME0)
        snprintf(out, cap,
                 f == FZF_ASCTIME ? "%.3s %s %2d %02d:%02d:%02d %04d"
                                  : "%.3s %s %02d %02d:%02d:%02d %04d",
                 wd[tm->tm_wday], mon[tm->tm_mon], tm->tm_mday, tm->tm_hour, tm->tm_min, tm->tm_sec,
                 y);
    else
        snprintf(out, cap, "%s, %02d-%s-%02d %02d:%02d:%02d %s", wd[tm->tm_wday], tm->tm_mday,
                 mon[tm->tm_mon], ((y % 100) + 100) % 100, tm->tm_hour, tm->tm_min, tm->tm_sec,
                 f == FZF_850_GMT ? "GMT" : "UTC");
}

/* s without its leading weekday name. */
static inline const char *fzf_after_wday(const char *s)
{
    while (isalpha((unsigned char)*s))
        s++;
    return s;
}

/* Whether s (weekday aside) is a form printed from t, or from t - 1 with
 * its second written 60. */
static inline int fzf_names(const char *s, time_t t)
{
    for (int leap = 0; leap < 2; leap++) {
        time_t u = t - leap;
        struct tm tm;
        if (!gmtime_r(&u, &tm) || (leap && tm.tm_sec != 59))
            continue;
        tm.tm_sec += leap;
        int y = tm.tm_year + 1900;
        for (int f = 0; f < FZF_FORMS; f++) {
            char buf[64];
            if ((f == FZF_850_GMT || f == FZF_850_UTC) && (y < 1969 || y > 2068))
                continue;
            fzf_print(buf, sizeof buf, &tm, f);
            if (strcmp(fzf_after_wday(s), fzf_after_wday(buf)) == 0)
                return 1;
        }
    }
    return 0;
}

static inline const char *fz_check_date(const char *s, const uint8_t *d, size_t n)
{
    time_t t = 0;
    int rc = goc__http_parse_time(s, &t);
    if (rc != 0 && rc != -EINVAL)
        return "HTTP-date: an error other than -EINVAL";
    if (rc == 0 && !fzf_names(s, t))
        return "HTTP-date: the time returned is not the one the value names";
    if (n < 8)
        return NULL;
    uint64_t raw;
    memcpy(&raw, d, 8);
    time_t r = (time_t)(FZF_T_MIN + (int64_t)(raw % (uint64_t)(FZF_T_MAX - FZF_T_MIN + 1)));
    char buf[64];
    time_t back = 0;
    goc__http_format_time(r, buf);
    if (goc__http_parse_time(buf, &back) != 0 || back != r)
        return "HTTP-date: format_time's output does not parse back to its time";
    struct tm tm;
    gmtime_r(&r, &tm);
    for (int f = 0; f < FZF_FORMS; f++) {
        int y = tm.tm_year + 1900;
        if ((f == FZF_850_GMT || f == FZF_850_UTC) && (y < 1969 || y > 2068))
            continue;
        fzf_print(buf, sizeof buf, &tm, f);
        if (goc__http_parse_time(buf, &back) != 0 || back != r)
            return "HTTP-date: a form printed from a time does not parse back to it";
    }
    return NULL;
}

/* ---- sniffing --------------------------------------------------------------------- */

static inline const char *fz_check_sniff(const uint8_t *d, size_t n)
{
    static const char *const types[] = {"text/html; charset=utf-8",
                                        "text/xml; charset=utf-8",
                                        "application/pdf",
                                        "application/postscript",
                                        "text/plain; charset=utf-16be",
                                        "text/plain; charset=utf-16le",
                                        "text/plain; charset=utf-8",
                                        "image/x-icon",
                                        "image/bmp",
                                        "image/gif",
                                        "image/webp",
                                        "image/png",
                                        "image/jpeg",
                                        "audio/aiff",
                                        "audio/mpeg",
                                        "application/ogg",
                                        "audio/midi",
                                        "video/avi",
                                        "audio/wave",
                                        "video/mp4",
                                        "video/webm",
                                        "application/vnd.ms-fontobject",
                                        "font/ttf",
                                        "font/otf",
                                        "font/collection",
                                        "font/woff",
                                        "font/woff2",
                                        "application/x-gzip",
                                        "application/zip",
                                        "application/x-rar-compressed",
                                        "application/wasm",
                                        "application/octet-stream"};
    size_t m = n < 512 ? n : 512;
    char *exact = malloc(m ? m : 1);
    if (!exact)
        return NULL;
    memcpy(exact, d, m);
    const char *got = goc_http_detect_content_type(exact, m);
    free(exact);
    if (goc_http_detect_content_type(d, n) != got)
        return "sniff: bytes past the first 512 changed the answer";
    int known = 0;
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        known |= strcmp(got, types[i]) == 0;
    if (!known)
        return "sniff: an answer not in the table";
    size_t ws = 0;
    while (ws < m && strchr("\t\n\f\r ", d[ws]) && d[ws])
        ws++;
    if (strcmp(got, "text/html; charset=utf-8") == 0 && (ws == m || d[ws] != '<'))
        return "sniff: HTML that does not start with '<'";
    if (strcmp(got, "text/plain; charset=utf-8") == 0 &&
        !(m >= 3 && !memcmp(d, "\xEF\xBB\xBF", 3))) {
        for (size_t i = ws; i < m; i++) {
            uint8_t c = d[i];
            if (c <= 0x08 || c == 0x0B || (c >= 0x0E && c <= 0x1A) || (c >= 0x1C && c <= 0x1F))
                return "sniff: text with a binary byte";
        }
    }
    return NULL;
}

/* ---- the selector --------------------------------------------------------------- */

static inline int64_t fzf_size(uint8_t b)
{
    static const int64_t big[] = {1000,          4096,          65535,          65536,
                                  1 << 20,       INT32_MAX,     1LL << 32,      1000000000000,
                                  1LL << 53,     1LL << 62,     INT64_MAX / 10, INT64_MAX / 10 + 1,
                                  INT64_MAX / 2, INT64_MAX - 9, INT64_MAX - 1,  INT64_MAX};
    return b < 0xF0 ? b : big[b - 0xF0];
}

static inline const char *check_fields(const uint8_t *d, size_t n)
{
    if (n == 0)
        return NULL;
    int which = d[0] % FZ_F_COUNT;
    if (which == FZ_F_SNIFF)
        return fz_check_sniff(d + 1, n - 1);
    size_t skip = which == FZ_F_RANGE ? 3 : 1;
    if (n < skip)
        return NULL;
    const uint8_t *v = d + skip;
    size_t len = n - skip;
    const uint8_t *nul = memchr(v, 0, len);
    if (nul)
        len = (size_t)(nul - v);
    char *s = malloc(len + 1); /* exactly the value and its NUL */
    if (!s)
        return NULL;
    memcpy(s, v, len);
    s[len] = '\0';
    const char *e = NULL;
    switch (which) {
    case FZ_F_RANGE:
        e = fz_check_range(s, fzf_size(d[1]), 1 + d[2] % GOC__HTTP_MAX_RANGES);
        break;
    case FZ_F_GZIP:
        e = fz_check_gzip(s, len);
        break;
    case FZ_F_ETAG:
        e = fz_check_etag(s, len);
        break;
    default:
        e = fz_check_date(s, v, n - skip);
        break;
    }
    free(s);
    return e;
}

#endif /* GOC_FUZZ_CHECK_FIELDS_H */
