/*
 * fuzz_cachecontrol.c — libFuzzer target: the HTTP cache's rules
 * (src/http/cache_control.c). The input is a Cache-Control value, and the
 * same bytes serve as an If-None-Match list, a delta-seconds and the
 * clock of a stored response:
 *
 *   directives  every value in range (-1, or 0..2^31), no flag outside
 *               the known ones; parsing the list element by element into
 *               one goc__cc gives what parsing it whole gives; empty
 *               elements and whitespace around the list change nothing;
 *               case changes nothing (names and delta values are
 *               case-blind);
 *   lists       goc__http_list_next's elements lie inside the input, are
 *               non-empty, have no whitespace at either end, do not
 *               start with a comma, and the walk always advances;
 *   entity tags every element that is an entity tag matches the list it
 *               came from (weak comparison is reflexive);
 *   numbers     goc__cc_delta_seconds is -1 exactly when a byte is not a
 *               digit (or there is none), else the value clamped to 2^31;
 *   age         goc__cache_current_age of a clock taken from the input
 *               is >= 0 and never decreases as now grows.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/http/cache.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what)
{
    fprintf(stderr, "fuzz_cachecontrol: invariant broken: %s\n", what);
    abort();
}

static bool same_cc(const goc__cc *a, const goc__cc *b)
{
    return a->flags == b->flags && a->max_age == b->max_age && a->s_maxage == b->s_maxage &&
           a->max_stale == b->max_stale && a->min_fresh == b->min_fresh;
}

static bool in_range(int64_t v)
{
    return v >= -1 && v <= GOC__CC_DELTA_MAX;
}

static goc__cc parse(const char *s, size_t n)
{
    goc__cc cc;
    goc__cc_init(&cc);
    goc__cc_parse(&cc, s, n);
    return cc;
}

static void check_directives(const char *s, size_t n)
{
    goc__cc whole = parse(s, n);
    if (!in_range(whole.max_age) || !in_range(whole.s_maxage) || !in_range(whole.max_stale) ||
        !in_range(whole.min_fresh))
        fail("a value out of range");
    if (whole.flags & ~((GOC__CC_MAX_STALE_ANY << 1) - 1))
        fail("an unknown flag");

    goc__cc parts;
    goc__cc_init(&parts);
    size_t pos = 0, len;
    const char *tok;
    while (goc__http_list_next(s, n, &pos, &tok, &len))
        goc__cc_parse(&parts, tok, len);
    if (!same_cc(&whole, &parts))
        fail("element by element differs from whole");

    char *pad = malloc(n + 8);
    memcpy(pad, " ,, ", 4);
    memcpy(pad + 4, s, n);
    memcpy(pad + 4 + n, " ,\t,", 4);
    goc__cc padded = parse(pad, n + 8);
    if (!same_cc(&whole, &padded))
        fail("empty elements or whitespace around the list change the result");
    for (size_t i = 0; i < n; i++)
        pad[i] = (char)(s[i] >= 'a' && s[i] <= 'z' ? s[i] - 32 : s[i]);
    goc__cc upper = parse(pad, n);
    free(pad);
    if (!same_cc(&whole, &upper))
        fail("case changes the result");
}

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

static void check_list(const char *s, size_t n, const char *cstr)
{
    size_t pos = 0, len, count = 0;
    const char *tok;
    while (goc__http_list_next(s, n, &pos, &tok, &len)) {
        if (tok < s || len == 0 || tok + len > s + n || pos > n)
            fail("an element outside the input, or empty");
        if (is_ows(tok[0]) || is_ows(tok[len - 1]) || tok[0] == ',')
            fail("an element with whitespace at an end, or a leading comma");
        if ((size_t)(tok + len - s) > pos)
            fail("the walk did not advance past the element");
        if (++count > n)
            fail("more elements than bytes");
        /* Weak comparison is reflexive for an element that is an entity
         * tag (the list is the NUL-terminated copy: elements before the
         * first NUL only). */
        const char *t = tok;
        size_t tl = len;
        if (tl >= 2 && t[0] == 'W' && t[1] == '/') {
            t += 2;
            tl -= 2;
        }
        if (tl >= 2 && t[0] == '"' && t[tl - 1] == '"' && memchr(t, '"', tl - 1) == t &&
            tok + len <= s + strlen(cstr)) {
            char etag[4096];
            if (len < sizeof etag) {
                memcpy(etag, tok, len);
                etag[len] = '\0';
                if (!goc__cache_etag_match(cstr, etag))
                    fail("an entity tag does not match its own list");
            }
        }
    }
}

static void check_delta(const char *s, size_t n)
{
    int64_t v = goc__cc_delta_seconds(s, n), want = n ? 0 : -1;
    for (size_t i = 0; i < n && want >= 0; i++) {
        if (s[i] < '0' || s[i] > '9')
            want = -1;
        else if (want <= GOC__CC_DELTA_MAX)
            want = want * 10 + (s[i] - '0');
    }
    if (want > GOC__CC_DELTA_MAX)
        want = GOC__CC_DELTA_MAX;
    if (v != want)
        fail("delta-seconds differs from a direct reading");
}

static void check_age(const uint8_t *d, size_t n)
{
    int64_t v[5] = {0};
    for (size_t i = 0; i < n && i < 5 * 4; i++)
        v[i / 4] = v[i / 4] * 256 + d[i];
    goc__cache_clock k = {v[0], v[1], v[2], v[3] * 1000};
    int64_t now = v[4], a = goc__cache_current_age(&k, now),
            b = goc__cache_current_age(&k, now + 1000000000LL);
    if (a < 0 || b < a)
        fail("an age below 0, or decreasing with time");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    char *cstr = malloc(size + 1);
    memcpy(cstr, data, size);
    cstr[size] = '\0';
    check_directives(s, size);
    check_list(s, size, cstr);
    check_delta(s, size < 24 ? size : 24);
    check_age(data, size);
    free(cstr);
    return 0;
}
