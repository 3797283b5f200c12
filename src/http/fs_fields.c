/*
 * fs_fields.c — the request fields the file server reads, parsed without
 * I/O so tests reach them directly: Range (RFC 9110 section 14.2),
 * Accept-Encoding (section 12.5.3), entity tags (section 8.8.3), and the
 * framing of a multipart/byteranges body (section 14.6).
 *
 * Range follows Go's parseRange: "bytes=" then comma-separated specs,
 * blanks around each ignored, empty elements skipped; "a-b", "a-" and the
 * suffix "-n". A spec starting at or past the end does not overlap and is
 * dropped; if every spec is dropped the whole value is unsatisfiable (416
 * with Content-Range "bytes * / size"). Anything else malformed makes the
 * whole value invalid (416 as well, as Go). One deviation: a suffix of 0
 * ("-0") selects nothing and is dropped as non-overlapping (RFC 9110), where
 * Go keeps an empty range.
 *
 * The multipart framing is computed and written by the same functions, so
 * the Content-Length announced before the body always matches it.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "http/fs.h"
#include "http/http.h"

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* s[0, n) without leading and trailing blanks. */
static const char *trim(const char *s, size_t *n)
{
    while (*n > 0 && is_blank(s[0])) {
        s++;
        (*n)--;
    }
    while (*n > 0 && is_blank(s[*n - 1]))
        (*n)--;
    return s;
}

/* A non-negative decimal s[0, n) that fits int64_t: 0 and *v, or -1. */
static int parse_i64(const char *s, size_t n, int64_t *v)
{
    if (n == 0)
        return -1;
    int64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        int d = s[i] - '0';
        if (x > (INT64_MAX - d) / 10)
            return -1;
        x = x * 10 + d;
    }
    *v = x;
    return 0;
}

/* One spec s[0, n) (trimmed, not empty): 1 and *r, 0 if it does not
 * overlap the content, -EINVAL if malformed. */
static int parse_spec(const char *s, size_t n, int64_t size, goc__http_range *r)
{
    const char *dash = memchr(s, '-', n);
    if (!dash)
        return -EINVAL;
    size_t an = (size_t)(dash - s), bn = n - an - 1;
    const char *a = trim(s, &an), *b = trim(dash + 1, &bn);
    int64_t first, last;
    if (an == 0) { /* suffix: the last b bytes */
        if (parse_i64(b, bn, &last) < 0)
            return -EINVAL;
        if (last == 0 || size == 0)
            return 0;
        r->length = last < size ? last : size;
        r->start = size - r->length;
        return 1;
    }
    if (parse_i64(a, an, &first) < 0)
        return -EINVAL;
    if (bn > 0 && (parse_i64(b, bn, &last) < 0 || last < first))
        return -EINVAL;
    if (first >= size)
        return 0;
    if (bn == 0 || last >= size)
        last = size - 1;
    r->start = first;
    r->length = last - first + 1;
    return 1;
}

int goc__http_parse_range(const char *s, int64_t size, goc__http_range *out, size_t cap)
{
    if (!s || !*s)
        return 0;
    if (strncmp(s, "bytes=", 6) != 0)
        return -EINVAL;
    size_t n = 0;
    bool dropped = false, too_many = false;
    for (const char *p = s + 6;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        const char *spec = trim(p, &len);
        if (len > 0) {
            goc__http_range r;
            int rc = parse_spec(spec, len, size, &r);
            if (rc < 0)
                return rc;
            if (rc == 0)
                dropped = true;
            else if (n < cap)
                out[n++] = r;
            else
                too_many = true; /* keep going: a later malformed spec still wins */
        }
        if (!comma)
            break;
        p = comma + 1;
    }
    if (too_many)
        return -E2BIG;
    if (n == 0 && dropped)
        return -ERANGE;
    return (int)n;
}

bool goc__http_ranges_too_big(const goc__http_range *rs, size_t n, int64_t size)
{
    int64_t sum = 0; /* <= size: compared before adding, so no overflow near INT64_MAX */
    for (size_t i = 0; i < n; i++) {
        if (rs[i].length > size - sum)
            return true;
        sum += rs[i].length;
    }
    return false;
}

/* ---- multipart/byteranges ------------------------------------------------ */

/* snprintf of part i's head: its length whatever n is (n 0: buf unused). */
static int part_head(char *buf, size_t n, size_t i, const goc__http_range *r, int64_t size,
                     const char *boundary, const char *ctype)
{
    return snprintf(buf, n,
                    "%s--%s\r\nContent-Range: bytes %lld-%lld/%lld\r\nContent-Type: %s\r\n\r\n",
                    i > 0 ? "\r\n" : "", boundary, (long long)r->start,
                    (long long)(r->start + r->length - 1), (long long)size, ctype);
}

int goc__http_multipart_part_head(char *buf, size_t n, size_t i, const goc__http_range *r,
                                  int64_t size, const char *boundary, const char *ctype)
{
    int k = part_head(buf, n, i, r, size, boundary, ctype);
    return k < 0 || (size_t)k >= n ? -1 : k;
}

int goc__http_multipart_tail(char *buf, size_t n, const char *boundary)
{
    int k = snprintf(buf, n, "\r\n--%s--\r\n", boundary);
    return k < 0 || (size_t)k >= n ? -1 : k;
}

int64_t goc__http_multipart_size(const goc__http_range *rs, size_t n, int64_t size,
                                 const char *boundary, const char *ctype)
{
    int64_t total = snprintf(NULL, 0, "\r\n--%s--\r\n", boundary);
    for (size_t i = 0; i < n; i++)
        total += part_head(NULL, 0, i, &rs[i], size, boundary, ctype) + rs[i].length;
    return total;
}

/* ---- Accept-Encoding --------------------------------------------------------- */

/* The q of the parameters p[0, n) (";q=0.5;x=y"): 0..1000, 1000 if absent,
 * 0 if malformed (a coding we cannot rank is not accepted). */
static int qvalue(const char *p, size_t n)
{
    for (size_t i = 0; i < n;) {
        const char *semi = memchr(p + i, ';', n - i);
        size_t end = semi ? (size_t)(semi - p) : n, len = end - i;
        const char *par = trim(p + i, &len);
        if (len >= 2 && (par[0] == 'q' || par[0] == 'Q') && par[1] == '=') {
            size_t vn = len - 2;
            const char *v = trim(par + 2, &vn);
            if (vn == 0 || (v[0] != '0' && v[0] != '1') || (vn > 1 && v[1] != '.') || vn > 5)
                return 0;
            int q = (v[0] - '0') * 1000;
            for (size_t k = 2, scale = 100; k < vn; k++, scale /= 10) {
                if (v[k] < '0' || v[k] > '9')
                    return 0;
                q += (v[k] - '0') * (int)scale;
            }
            return q > 1000 ? 0 : q;
        }
        i = end + 1;
    }
    return 1000;
}

bool goc__http_accepts_gzip(const char *ae)
{
    if (!ae)
        return false;
    int gzip = -1, star = -1; /* q of each, -1: not named */
    for (const char *p = ae;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        const char *semi = memchr(p, ';', len);
        size_t cn = semi ? (size_t)(semi - p) : len;
        const char *coding = trim(p, &cn);
        int q = semi ? qvalue(semi + 1, (size_t)(p + len - semi - 1)) : 1000;
        if ((cn == 4 && strncasecmp(coding, "gzip", 4) == 0) ||
            (cn == 6 && strncasecmp(coding, "x-gzip", 6) == 0))
            gzip = q > gzip ? q : gzip;
        else if (cn == 1 && coding[0] == '*')
            star = q > star ? q : star; /* named twice: the best weight, as for gzip */
        if (!comma)
            break;
        p = comma + 1;
    }
    return gzip >= 0 ? gzip > 0 : star > 0;
}

/* ---- entity tags --------------------------------------------------------- */

size_t goc__http_scan_etag(const char *s, const char **tag, const char **rest)
{
    while (is_blank(*s))
        s++;
    size_t i = strncmp(s, "W/", 2) == 0 ? 2 : 0;
    if (s[i] != '"')
        return 0;
    for (size_t k = i + 1; s[k]; k++) {
        unsigned char c = (unsigned char)s[k];
        if (c == '"') {
            *tag = s;
            *rest = s + k + 1;
            return k + 1;
        }
        if (!(c == 0x21 || (c >= 0x23 && c <= 0x7e) || c >= 0x80))
            return 0;
    }
    return 0;
}

bool goc__http_etag_strong_eq(const char *a, size_t an, const char *b)
{
    return b && an > 0 && a[0] == '"' && strlen(b) == an && memcmp(a, b, an) == 0;
}

bool goc__http_etag_weak_eq(const char *a, size_t an, const char *b)
{
    if (!b)
        return false;
    if (an >= 2 && a[0] == 'W' && a[1] == '/') {
        a += 2;
        an -= 2;
    }
    if (b[0] == 'W' && b[1] == '/')
        b += 2;
    return an > 0 && strlen(b) == an && memcmp(a, b, an) == 0;
}

void goc__http_etag_format(char buf[40], time_t mtime, int64_t size)
{
    snprintf(buf, 40, "\"%llx-%llx\"", (unsigned long long)mtime, (unsigned long long)size);
}
