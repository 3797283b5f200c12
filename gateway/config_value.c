/*
 * config_value.c — the configuration's value parsers: durations (Go's
 * time.ParseDuration, gw_parse_duration), sizes ("64MiB"), listen and
 * upstream addresses ("host:port"), HTTP tokens, and the edit distance
 * that suggests a known key for a mistyped one. The schema and its walk
 * over the YAML are config.c's.
 *
 * Pure functions of their arguments: no state, no allocation, no locks,
 * any thread. A number's integer part and its scaled value are checked
 * against overflow before they are computed (-EINVAL past the type's
 * range, never a wrapped value).
 */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "gateway.h"

/* A decimal number "12", "1.5", ".5": the integer part and the fraction as
 * frac/scale (up to 18 digits kept). *sp moves past it. -EINVAL: no digit,
 * or the integer part overflows. */
static int decimal(const char **sp, uint64_t *v, uint64_t *frac, uint64_t *scale)
{
    const char *s = *sp;
    bool digits = false;
    *v = 0, *frac = 0, *scale = 1;
    for (; isdigit((unsigned char)*s); s++, digits = true) {
        if (*v > (UINT64_MAX - 9) / 10)
            return -EINVAL;
        *v = *v * 10 + (uint64_t)(*s - '0');
    }
    if (*s == '.') {
        for (s++; isdigit((unsigned char)*s); s++, digits = true) {
            if (*scale < 1000000000000000000ull) {
                *frac = *frac * 10 + (uint64_t)(*s - '0');
                *scale *= 10;
            }
        }
    }
    *sp = s;
    return digits ? 0 : -EINVAL;
}

/* v + frac/scale units, or -EINVAL past max. */
static int scaled(uint64_t v, uint64_t frac, uint64_t scale, uint64_t unit, uint64_t max,
                  uint64_t *out)
{
    if (v > max / unit)
        return -EINVAL;
    unsigned __int128 x = (unsigned __int128)v * unit + (unsigned __int128)frac * unit / scale;
    if (x > max)
        return -EINVAL;
    *out = (uint64_t)x;
    return 0;
}

static uint64_t duration_unit(const char *u, size_t n)
{
    static const struct {
        const char *name;
        uint64_t ns;
    } units[] = {
        {"ns", 1},
        {"us", 1000},
        {"\xc2\xb5s", 1000}, /* U+00B5 micro sign */
        {"\xce\xbcs", 1000}, /* U+03BC Greek small letter mu */
        {"ms", 1000000},
        {"s", 1000000000ull},
        {"m", 60 * 1000000000ull},
        {"h", 3600 * 1000000000ull},
    };
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strlen(units[i].name) == n && !memcmp(units[i].name, u, n))
            return units[i].ns;
    }
    return 0;
}

/* Go's time.ParseDuration without negatives: a sequence of decimal
 * numbers each with a unit, "0" alone needing none. */
int gw_parse_duration(const char *s, goc_duration *out)
{
    if (!s || !out)
        return -EINVAL;
    if (*s == '+')
        s++;
    if (!strcmp(s, "0")) {
        *out = 0;
        return 0;
    }
    if (!*s)
        return -EINVAL;
    uint64_t total = 0;
    while (*s) {
        uint64_t v, frac, scale, ns;
        if (decimal(&s, &v, &frac, &scale) < 0)
            return -EINVAL;
        const char *u = s;
        while (*s && *s != '.' && !isdigit((unsigned char)*s))
            s++;
        uint64_t unit = duration_unit(u, (size_t)(s - u));
        if (!unit || scaled(v, frac, scale, unit, INT64_MAX, &ns) < 0)
            return -EINVAL;
        total += ns;
        if (total > INT64_MAX)
            return -EINVAL;
    }
    *out = (goc_duration)total;
    return 0;
}

/* "64MiB", "10MB", "512 KiB", "1.5GiB", "1000": bytes. -EINVAL. */
int gw__parse_size(const char *s, size_t *out)
{
    static const struct {
        const char *name;
        uint64_t bytes;
    } units[] = {
        {"", 1},
        {"B", 1},
        {"KB", 1000},
        {"kB", 1000},
        {"MB", 1000000},
        {"GB", 1000000000ull},
        {"TB", 1000000000000ull},
        {"KiB", 1ull << 10},
        {"MiB", 1ull << 20},
        {"GiB", 1ull << 30},
        {"TiB", 1ull << 40},
    };
    uint64_t v, frac, scale, n;
    if (decimal(&s, &v, &frac, &scale) < 0)
        return -EINVAL;
    if (*s == ' ')
        s++;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(s, units[i].name))
            continue;
        if (units[i].bytes == 1 && frac)
            return -EINVAL; /* a fraction of a byte */
        if (scaled(v, frac, scale, units[i].bytes, SIZE_MAX, &n) < 0)
            return -EINVAL;
        *out = (size_t)n;
        return 0;
    }
    return -EINVAL;
}

/* What is wrong with "host:port", or NULL. need_host: the host may not be
 * empty (":8080" is for listening); minport: 0 allows port 0 (listening on
 * a port the kernel picks). */
const char *gw__addr_problem(const char *s, bool need_host, int minport)
{
    const char *colon;
    if (strstr(s, "://"))
        return "expected host:port, without a scheme";
    if (s[0] == '[') {
        const char *rb = strchr(s, ']');
        if (!rb || rb == s + 1 || rb[1] != ':')
            return "expected [IPv6]:port";
        colon = rb + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon)
            return "expected host:port";
        if (memchr(s, ':', (size_t)(colon - s)))
            return "expected host:port; an IPv6 host goes in brackets";
    }
    for (const char *p = s; p < colon; p++) {
        if ((unsigned char)*p <= ' ' || *p == '/' || *p == 0x7f)
            return "expected host:port";
    }
    if (need_host && colon == s)
        return "expected host:port, with a host";
    const char *port = colon + 1;
    size_t n = strlen(port);
    if (n == 0 || n > 5 || strspn(port, "0123456789") != n)
        return "expected host:port with a numeric port";
    long p = strtol(port, NULL, 10);
    if (p < minport || p > 65535)
        return minport ? "port out of range 1..65535" : "port out of range 0..65535";
    return NULL;
}

bool gw__is_token(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++) {
        if (!isalnum((unsigned char)*s) && !strchr("!#$%&'*+-.^_`|~", *s))
            return false;
    }
    return true;
}

/* Levenshtein distance of two short strings (SIZE_MAX past 63 bytes). */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), row[64];
    if (la > 63 || lb > 63)
        return SIZE_MAX;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j], best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* Keeps in *best the candidate nearest to s that is near enough to be a
 * typo of it (at most 2 edits, and at most half of s). */
void gw__consider(const char *s, const char *cand, const char **best, size_t *bestd)
{
    size_t d = edit_distance(s, cand);
    if (d <= 2 && d <= strlen(s) / 2 && d < *bestd) {
        *best = cand;
        *bestd = d;
    }
}
