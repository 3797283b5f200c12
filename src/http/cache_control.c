/*
 * cache_control.c — RFC 9111's rules as pure functions (see cache.h):
 * Cache-Control parsing, freshness, storability, entity tag matching.
 *
 * Parsing is forgiving where RFC 9111 asks a recipient to be (quoted
 * values for delta-seconds, any case, stray whitespace and empty list
 * elements) and strict where it must be (a max-age that is not
 * delta-seconds makes the response stale, not fresh forever). A
 * directive's value ends at the next comma outside a quoted-string; bytes
 * that fit no grammar are skipped to that comma, so one bad directive
 * never hides the ones after it (a "no-store" after garbage still counts).
 *
 * No state and no allocation: every function may run on any thread; the
 * fuzz build links this file with the field parsers alone.
 */
#include <string.h>
#include <time.h>

#include "http/cache.h"
#include "http/http.h"

#define NS_PER_SEC 1000000000LL

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* ---- lists ------------------------------------------------------------------- */

bool goc__http_list_next(const char *s, size_t n, size_t *pos, const char **tok, size_t *len)
{
    size_t i = *pos;
    for (;;) {
        while (i < n && (is_ows(s[i]) || s[i] == ','))
            i++;
        if (i >= n) {
            *pos = n;
            return false;
        }
        size_t start = i;
        bool quoted = false;
        for (; i < n; i++) {
            if (quoted && s[i] == '\\' && i + 1 < n)
                i++;
            else if (s[i] == '"')
                quoted = !quoted;
            else if (!quoted && s[i] == ',')
                break;
        }
        size_t end = i;
        while (end > start && is_ows(s[end - 1]))
            end--;
        *pos = i;
        if (end > start) {
            *tok = s + start;
            *len = end - start;
            return true;
        }
    }
}

/* ---- Cache-Control ------------------------------------------------------------- */

void goc__cc_init(goc__cc *cc)
{
    cc->flags = 0;
    cc->max_age = cc->s_maxage = cc->max_stale = cc->min_fresh = -1;
}

int64_t goc__cc_delta_seconds(const char *s, size_t n)
{
    if (n == 0)
        return -1;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        if (v < GOC__CC_DELTA_MAX)
            v = v * 10 + (s[i] - '0');
    }
    return v > GOC__CC_DELTA_MAX ? GOC__CC_DELTA_MAX : v;
}

/* The delta-seconds of a directive's value v[0, n) (token or
 * quoted-string without escapes), or -1. */
static int64_t delta_value(const char *v, size_t n)
{
    if (n >= 2 && v[0] == '"' && v[n - 1] == '"') {
        v++;
        n -= 2;
    }
    return goc__cc_delta_seconds(v, n);
}

static bool name_is(const char *s, size_t n, const char *name)
{
    return strlen(name) == n && goc__http_token_eq(s, name, n);
}

/* Keep the first value of a repeated directive. invalid: what a value
 * that does not parse counts as (-1: as absent). */
static void set_delta(int64_t *slot, const char *v, size_t vn, bool has_value, int64_t invalid)
{
    if (*slot >= 0)
        return;
    int64_t d = has_value ? delta_value(v, vn) : -1;
    *slot = d >= 0 ? d : invalid;
}

/* One directive: name[0, nn), its value v[0, vn) if has_value. */
static void directive(goc__cc *cc, const char *name, size_t nn, const char *v, size_t vn,
                      bool has_value)
{
    static const struct {
        const char *name;
        uint32_t flag;
    } flags[] = {
        {"no-store", GOC__CC_NO_STORE},
        {"no-cache", GOC__CC_NO_CACHE},
        {"private", GOC__CC_PRIVATE},
        {"public", GOC__CC_PUBLIC},
        {"must-revalidate", GOC__CC_MUST_REVALIDATE},
        {"proxy-revalidate", GOC__CC_PROXY_REVALIDATE},
        {"no-transform", GOC__CC_NO_TRANSFORM},
        {"only-if-cached", GOC__CC_ONLY_IF_CACHED},
        {"immutable", GOC__CC_IMMUTABLE},
    };
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
        if (name_is(name, nn, flags[i].name)) {
            cc->flags |= flags[i].flag;
            return;
        }
    }
    if (name_is(name, nn, "max-age"))
        set_delta(&cc->max_age, v, vn, has_value, 0);
    else if (name_is(name, nn, "s-maxage"))
        set_delta(&cc->s_maxage, v, vn, has_value, 0);
    else if (name_is(name, nn, "min-fresh"))
        set_delta(&cc->min_fresh, v, vn, has_value, -1);
    else if (name_is(name, nn, "max-stale")) {
        if (!has_value)
            cc->flags |= GOC__CC_MAX_STALE_ANY;
        else
            set_delta(&cc->max_stale, v, vn, true, -1);
    }
}

void goc__cc_parse(goc__cc *cc, const char *s, size_t n)
{
    size_t pos = 0, len;
    const char *tok;
    while (goc__http_list_next(s, n, &pos, &tok, &len)) {
        const char *eq = memchr(tok, '=', len);
        size_t nn = eq ? (size_t)(eq - tok) : len;
        while (nn > 0 && is_ows(tok[nn - 1]))
            nn--;
        const char *v = NULL;
        size_t vn = 0;
        if (eq) {
            v = eq + 1;
            vn = len - (size_t)(v - tok);
            while (vn > 0 && is_ows(*v)) {
                v++;
                vn--;
            }
        }
        directive(cc, tok, nn, v, vn, eq != NULL);
    }
}

void goc__cc_from_header(goc__cc *cc, const goc_http_header *h, bool pragma)
{
    size_t n = goc_http_header_len(h);
    bool any = false;
    for (size_t i = 0; i < n; i++) {
        const char *name, *value;
        goc_http_header_at(h, i, &name, &value);
        if (name_is(name, strlen(name), "Cache-Control")) {
            goc__cc_parse(cc, value, strlen(value));
            any = true;
        }
    }
    if (pragma && !any) {
        const char *p = goc_http_header_get(h, "Pragma");
        size_t pos = 0, len;
        const char *tok;
        while (p && goc__http_list_next(p, strlen(p), &pos, &tok, &len))
            if (name_is(tok, len, "no-cache"))
                cc->flags |= GOC__CC_NO_CACHE;
    }
}

/* ---- entity tags ------------------------------------------------------------------ */

/* The opaque part of an entity tag t[0, n) (W/ dropped), quotes kept. */
static void opaque(const char **t, size_t *n)
{
    if (*n >= 2 && (*t)[0] == 'W' && (*t)[1] == '/') {
        *t += 2;
        *n -= 2;
    }
}

bool goc__cache_etag_match(const char *inm, const char *etag)
{
    if (!inm || !etag)
        return false;
    size_t en = strlen(etag), pos = 0, len;
    opaque(&etag, &en);
    if (en < 2 || etag[0] != '"')
        return false;
    const char *tok;
    while (goc__http_list_next(inm, strlen(inm), &pos, &tok, &len)) {
        if (len == 1 && tok[0] == '*')
            return true;
        opaque(&tok, &len);
        if (len == en && memcmp(tok, etag, en) == 0)
            return true;
    }
    return false;
}

/* ---- freshness ---------------------------------------------------------------------- */

int64_t goc__cache_date(const goc_http_header *h, int64_t fallback)
{
    const char *d = goc_http_header_get(h, "Date");
    time_t t;
    if (!d || goc__http_parse_time(d, &t) < 0)
        return fallback;
    return (int64_t)t * NS_PER_SEC;
}

int64_t goc__cache_lifetime(const goc__cc *cc, const goc_http_header *h, int64_t date,
                            int64_t default_ttl)
{
    if (cc->s_maxage >= 0)
        return cc->s_maxage * NS_PER_SEC;
    if (cc->max_age >= 0)
        return cc->max_age * NS_PER_SEC;
    const char *e = goc_http_header_get(h, "Expires");
    if (e) {
        time_t t;
        if (goc__http_parse_time(e, &t) < 0)
            return 0; /* "Expires: 0" and the like: already expired */
        int64_t life = (int64_t)t * NS_PER_SEC - date;
        return life > 0 ? life : 0;
    }
    return default_ttl > 0 ? default_ttl : -1;
}

int64_t goc__cache_current_age(const goc__cache_clock *k, int64_t now)
{
    int64_t apparent = k->response_time - k->date;
    if (apparent < 0)
        apparent = 0;
    int64_t corrected = k->age + (k->response_time - k->request_time);
    int64_t initial = apparent > corrected ? apparent : corrected;
    int64_t resident = now - k->response_time;
    int64_t age = initial + (resident > 0 ? resident : 0);
    return age > 0 ? age : 0;
}

/* ---- storing ------------------------------------------------------------------------------ */

bool goc__cache_status_ok(int status)
{
    switch (status) {
    case 200:
    case 203:
    case 204:
    case 300:
    case 301:
    case 308:
    case 404:
    case 410:
        return true;
    default:
        return false;
    }
}

static bool list_has(const char *list, const char *want)
{
    size_t pos = 0, len;
    const char *tok;
    while (list && goc__http_list_next(list, strlen(list), &pos, &tok, &len))
        if (name_is(tok, len, want))
            return true;
    return false;
}

int goc__cache_storable(const goc_http_header *req, const goc__cc *qcc, int status,
                        const goc_http_header *resp, const goc__cc *rcc, int64_t lifetime)
{
    if (!goc__cache_status_ok(status))
        return GOC__CACHE_NO_STATUS;
    if ((qcc->flags | rcc->flags) & GOC__CC_NO_STORE)
        return GOC__CACHE_NO_STORE;
    if (rcc->flags & GOC__CC_PRIVATE)
        return GOC__CACHE_PRIVATE;
    if (goc_http_header_get(req, "Authorization") &&
        !(rcc->flags & (GOC__CC_PUBLIC | GOC__CC_MUST_REVALIDATE)) && rcc->s_maxage < 0)
        return GOC__CACHE_AUTHORIZED;
    if (goc_http_header_get(resp, "Set-Cookie"))
        return GOC__CACHE_SET_COOKIE;
    const char *v[16];
    size_t nv = goc_http_header_values(resp, "Vary", v, 16);
    for (size_t i = 0; i < nv && i < 16; i++)
        if (list_has(v[i], "*"))
            return GOC__CACHE_VARY_ANY;
    if (nv > 16)
        return GOC__CACHE_VARY_ANY; /* more lines than we look at: be safe */
    bool validator =
        goc_http_header_get(resp, "ETag") || goc_http_header_get(resp, "Last-Modified");
    /* Without a lifetime, or expired at once, only worth keeping if it
     * can be revalidated. */
    if (lifetime < 0 && !((rcc->flags & GOC__CC_NO_CACHE) && validator))
        return GOC__CACHE_NO_LIFETIME;
    if ((lifetime == 0 || (rcc->flags & GOC__CC_NO_CACHE)) && !validator)
        return GOC__CACHE_NO_LIFETIME; /* every use would fetch it anew */
    return GOC__CACHE_STORE_OK;
}

bool goc__cache_skip_field(const char *name, size_t n, const goc_http_header *h)
{
    static const char *const hop[] = {
        "Connection",        "Keep-Alive",
        "Proxy-Connection",  "TE",
        "Transfer-Encoding", "Upgrade",
        "Trailer",           "Age",
        "X-Cache",           "Proxy-Authenticate",
    };
    for (size_t i = 0; i < sizeof hop / sizeof hop[0]; i++)
        if (name_is(name, n, hop[i]))
            return true;
    const char *v[8];
    size_t nv = goc_http_header_values(h, "Connection", v, 8);
    for (size_t i = 0; i < nv && i < 8; i++) {
        size_t pos = 0, len;
        const char *tok;
        while (goc__http_list_next(v[i], strlen(v[i]), &pos, &tok, &len))
            if (len == n && goc__http_token_eq(tok, name, n))
                return true;
    }
    return false;
}
