/*
 * mux.h — what the mux (mux.c) and its patterns (pattern.c) share: a
 * parsed pattern, the relation between two patterns that decides
 * precedence and conflicts, and Go's path cleaning.
 *
 * A pattern's path is kept in the form that makes matching and comparing
 * plain (as Go's routing does): "/a/" is the literal "a" then an anonymous
 * multi wildcard, "/a/{$}" the literal "a" then a DOLLAR segment that
 * matches only the trailing slash, "/{x...}" one named multi wildcard.
 *
 * Ownership: a pattern is one malloc'ed block (its strings inside it),
 * immutable once parsed; the mux that registered it frees it.
 */
#ifndef GOC_HTTP_MUX_H
#define GOC_HTTP_MUX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <goc/http.h>

enum {
    GOC__SEG_LIT = 0, /* a literal segment (unescaped) */
    GOC__SEG_WILD,    /* {name}: exactly one segment, never the trailing slash */
    GOC__SEG_MULTI,   /* {name...} or a trailing "/": the rest of the path, maybe empty */
    GOC__SEG_DOLLAR,  /* {$}: the trailing slash and nothing more */
};

typedef struct goc__mseg {
    const char *s; /* the literal, or the wildcard's name ("" for a trailing "/") */
    uint32_t len;
    uint8_t kind; /* GOC__SEG_* */
} goc__mseg;

typedef struct goc__pattern {
    const char *str;    /* as registered: r->pattern points here */
    const char *method; /* "" for any method */
    const char *host;   /* lower case, "" for any host */
    goc__mseg *segs;    /* at least one; MULTI and DOLLAR only last */
    uint32_t nsegs;
    goc_http_handler h;
} goc__pattern;

/* Parse s ("[METHOD ][HOST]/[PATH]") into *out (free with free()). 0,
 * GOC_EHTTP_BAD_PATTERN (goc_errmsg says why and where, in Go's words),
 * -ENOMEM. */
int goc__pattern_parse(const char *s, goc__pattern **out);

/* Whether a and b are both matched by some request with neither of them
 * taking precedence (overlap or equivalence, same host). */
bool goc__pattern_conflicts(const goc__pattern *a, const goc__pattern *b);

/* Record, for goc_errmsg, why a (being registered) conflicts with b, and
 * return GOC_EHTTP_PATTERN_CONFLICT. */
int goc__pattern_conflict_error(const goc__pattern *a, const goc__pattern *b);

/* Whether p[0, n) is what Go's cleanPath returns for it (the fast check:
 * most request paths are). */
bool goc__path_is_clean(const char *p, size_t n);

/* Go's cleanPath: p[0, n) rooted, without "." and ".." elements or
 * repeated slashes, a trailing slash kept. Writes to out (room for n + 2
 * bytes, NUL included) and returns the length. */
size_t goc__path_clean(const char *p, size_t n, char *out);

/* Go's pathUnescape of s[0, n) into out (room for n + 1): %XX decoded,
 * '+' kept; a malformed escape leaves all of s as it was. The length. */
size_t goc__path_unescape(const char *s, size_t n, char *out);

#endif /* GOC_HTTP_MUX_H */
