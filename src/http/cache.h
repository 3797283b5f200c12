/*
 * cache.h — the rules of RFC 9111 that the HTTP cache (cache.c) applies,
 * as pure functions over field values (cache_control.c): parsing
 * Cache-Control, the freshness lifetime and the current age (section 4.2),
 * whether a response may be stored by a shared cache (section 3), entity
 * tag comparison for If-None-Match, and the comma-separated lists Vary and
 * If-None-Match are made of.
 *
 * No state, no locks, no allocation, no runtime: any thread, and the fuzz
 * build (fuzz/fuzz_cachecontrol.c) links it with only the field parsers.
 * Times are int64_t nanoseconds of the wall clock (Date and Expires are
 * wall-clock seconds), so an Age can be computed across them.
 */
#ifndef GOC_HTTP_CACHE_INTERNAL_H
#define GOC_HTTP_CACHE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <goc/http.h>

/* ---- Cache-Control ----------------------------------------------------- */

enum {
    GOC__CC_NO_STORE = 1u << 0,
    GOC__CC_NO_CACHE = 1u << 1, /* also no-cache="field", taken as unqualified */
    GOC__CC_PRIVATE = 1u << 2,  /* also private="field": a shared cache stores none of it */
    GOC__CC_PUBLIC = 1u << 3,
    GOC__CC_MUST_REVALIDATE = 1u << 4,
    GOC__CC_PROXY_REVALIDATE = 1u << 5,
    GOC__CC_NO_TRANSFORM = 1u << 6,
    GOC__CC_ONLY_IF_CACHED = 1u << 7,
    GOC__CC_IMMUTABLE = 1u << 8,
    GOC__CC_MAX_STALE_ANY = 1u << 9, /* max-stale without a value */
};

/* The largest delta-seconds kept (RFC 9111 1.2.2: 2^31). */
#define GOC__CC_DELTA_MAX ((int64_t)2147483648)

typedef struct goc__cc {
    uint32_t flags;
    /* Seconds, 0..GOC__CC_DELTA_MAX; -1 when absent. */
    int64_t max_age, s_maxage, max_stale, min_fresh;
} goc__cc;

void goc__cc_init(goc__cc *cc);
/* Add the directives of one Cache-Control field value s[0, n) to cc.
 * Names are case-insensitive; a value may be a token or a quoted-string;
 * unknown directives are ignored. A repeated directive keeps its first
 * value; max-age or s-maxage with a value that is not delta-seconds counts
 * as 0 (RFC 9111 4.2.1: such a response is stale). */
void goc__cc_parse(goc__cc *cc, const char *s, size_t n);
/* Every Cache-Control line of h into cc (after goc__cc_init); a request's
 * "Pragma: no-cache" counts as no-cache when it has no Cache-Control
 * (RFC 9111 5.4) if pragma is true. */
void goc__cc_from_header(goc__cc *cc, const goc_http_header *h, bool pragma);

/* delta-seconds (1*DIGIT) s[0, n): the value, clamped to
 * GOC__CC_DELTA_MAX, or -1 when s is not all digits or empty. */
int64_t goc__cc_delta_seconds(const char *s, size_t n);

/* ---- lists --------------------------------------------------------------- */

/* The next element of the comma-separated list s[0, n) from *pos
 * (start with 0): true and [*tok, *tok + *len) without surrounding
 * whitespace (empty elements skipped; commas inside a quoted-string do not
 * split), false at the end. */
bool goc__http_list_next(const char *s, size_t n, size_t *pos, const char **tok, size_t *len);

/* If-None-Match's weak comparison (RFC 9110 13.1.2): whether the list
 * inm ("*", or entity tags) matches etag (W/ prefixes ignored). NULLs
 * never match. */
bool goc__cache_etag_match(const char *inm, const char *etag);

/* ---- freshness (RFC 9111 4.2) -------------------------------------------- */

/* What is known of a stored response's age: times of the wall clock in ns. */
typedef struct goc__cache_clock {
    int64_t request_time;  /* the request was sent to the handler below */
    int64_t response_time; /* its response's header was received */
    int64_t date;          /* its Date, or response_time if it had none */
    int64_t age;           /* its Age field, ns (0 if none) */
} goc__cache_clock;

/* The freshness lifetime (ns) a shared cache gives a response with
 * Cache-Control cc and header h: s-maxage, else max-age, else Expires
 * minus date (an Expires that does not parse: 0), else default_ttl if it
 * is > 0; -1 if none applies. date: the response's Date (ns). */
int64_t goc__cache_lifetime(const goc__cc *cc, const goc_http_header *h, int64_t date,
                            int64_t default_ttl);
/* The response's current age at now (ns, >= 0), RFC 9111 4.2.3. */
int64_t goc__cache_current_age(const goc__cache_clock *k, int64_t now);
/* The Date field of h in ns, or fallback if absent or malformed. */
int64_t goc__cache_date(const goc_http_header *h, int64_t fallback);

/* ---- storing (RFC 9111 3, for a shared cache) ---------------------------- */

/* Why a response is not stored (0: it may be). */
enum {
    GOC__CACHE_STORE_OK = 0,
    GOC__CACHE_NO_STATUS,   /* a status not cacheable by default */
    GOC__CACHE_NO_STORE,    /* no-store in the request or the response */
    GOC__CACHE_PRIVATE,     /* private */
    GOC__CACHE_AUTHORIZED,  /* Authorization without public, s-maxage, must-revalidate */
    GOC__CACHE_SET_COOKIE,  /* Set-Cookie */
    GOC__CACHE_VARY_ANY,    /* Vary: * */
    GOC__CACHE_NO_LIFETIME, /* no lifetime, and no validator to revalidate with */
};

/* Whether a shared cache may store a response with status and header
 * resp (Cache-Control rcc, freshness lifetime lifetime, -1 if none) to a
 * GET with header req (Cache-Control qcc). A response without a lifetime
 * is stored when it says no-cache and has a validator (ETag or
 * Last-Modified): each use is revalidated; one with a lifetime of 0, or
 * no-cache, only if it has a validator. */
int goc__cache_storable(const goc_http_header *req, const goc__cc *qcc, int status,
                        const goc_http_header *resp, const goc__cc *rcc, int64_t lifetime);
/* The statuses a response is cacheable with by default, as the cache's
 * contract lists them: 200, 203, 204, 300, 301, 308, 404, 410. */
bool goc__cache_status_ok(int status);
/* Whether the field name[0, n) of response header h is hop-by-hop (RFC
 * 9110 7.6.1: the fixed ones and those h's Connection names) or of one
 * cache's own answer (Age, X-Cache): not stored. */
bool goc__cache_skip_field(const char *name, size_t n, const goc_http_header *h);

#endif /* GOC_HTTP_CACHE_INTERNAL_H */
