/*
 * mux.h — what the mux (mux.c), its patterns (pattern.c) and its routing
 * tree (routing.c) share: a parsed pattern, the relation between two
 * patterns that decides precedence and conflicts, Go's path cleaning, and
 * the tree a request is matched in.
 *
 * A pattern's path is kept in the form that makes matching and comparing
 * plain (as Go's routing does): "/a/" is the literal "a" then an anonymous
 * multi wildcard, "/a/{$}" the literal "a" then a DOLLAR segment that
 * matches only the trailing slash, "/{x...}" one named multi wildcard.
 *
 * Ownership: a pattern is one malloc'ed block (its strings inside it),
 * immutable once parsed; the mux that registered it frees it. A tree's
 * nodes are its own; its patterns are the mux's.
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

/* ---- the routing tree (routing.c) ------------------------------------------
 *
 * The caller locks: a tree is changed only by goc__rtree_add (the mux's
 * lock held for writing) and read by the rest (held for reading). */

typedef struct goc__rnode goc__rnode;

typedef struct goc__rkid {
    const char *key; /* stored after its node, NUL-terminated */
    uint32_t len, hash;
    goc__rnode *node; /* NULL: a free slot */
} goc__rkid;

struct goc__rnode {
    goc__rkid *kids; /* literal children: open addressing, cap slots (a power of 2) */
    uint32_t nkids, cap;
    goc__rnode *wild;   /* {name}; at the host and method levels: none given */
    goc__rnode *multi;  /* {name...} or a trailing slash */
    goc__rnode *dollar; /* {$} */
    goc__pattern *pat;
};

/* Zero is an empty tree. */
typedef struct goc__rtree {
    goc__rnode root;     /* children by host */
    uint32_t maxdepth;   /* the most segments of any pattern */
    uint64_t slash_lens; /* bit k: a pattern of k segments (63: or more) ends in a
                            multi wildcard or {$} */
} goc__rtree;

/* One segment of a request's path. */
typedef struct goc__rseg {
    const char *s; /* unescaped */
    uint32_t len, hash;
    uint32_t off; /* where it starts in the path (after its slash) */
    bool trail;   /* the trailing slash ("/a/" is "a" then trail) */
} goc__rseg;

/* What a request is matched by: its host, method and path. */
typedef struct goc__rpath {
    const char *host, *method; /* host: "" (hlen 0) to match host-less patterns only */
    size_t hlen, mlen;
    uint32_t hhash, mhash; /* goc__rkey_hash of each */
    bool head;             /* HEAD: GET patterns match too */
    const char *p;         /* the path matched (escaped) */
    size_t n;
    goc__rseg *segs; /* room for limit + 1: a probe may add a trailing slash */
    uint32_t nsegs, limit;
    bool done; /* segs cover the whole path */
} goc__rpath;

/* Up to 32 methods, for Allow. */
typedef struct goc__rmethods {
    const char *v[32];
    size_t n;
} goc__rmethods;

/* The hash the tree keys by (hosts, methods, literal segments). */
uint32_t goc__rkey_hash(const char *s, size_t n);
/* Hang p in t (t keeps a pointer to it): 0 or -ENOMEM (t still works;
 * nothing matches p). The caller has checked for conflicts. */
int goc__rtree_add(goc__rtree *t, goc__pattern *p);
/* Free t's nodes (not its patterns); t is empty after. */
void goc__rtree_free(goc__rtree *t);
/* Split rp->p into rp->segs (at most rp->limit), unescaping the segments
 * with a '%' into scratch (room for 2 * n + 2): whether the whole path is
 * clean (goc__path_is_clean). */
bool goc__rpath_scan(goc__rpath *rp, char *scratch);
/* Add a trailing slash to rp for a probe (undo with rp->nsegs--): false
 * if the path has one, or no pattern of t could match it exactly. */
bool goc__rpath_add_slash(const goc__rtree *t, goc__rpath *rp);
/* The most specific pattern of t that matches rp, or NULL. */
const goc__pattern *goc__rtree_match(const goc__rtree *t, const goc__rpath *rp);
/* Whether p matched rp with nothing left for a multi wildcard (Go's
 * exactMatch): "/a/" matches "/a/" exactly, "/a/b" not. */
bool goc__rtree_exact(const goc__pattern *p, const goc__rpath *rp);
/* Add to out the methods of t's patterns that match rp's host and path, or
 * that path with a slash added (Go's matchingMethods); unsorted, maybe
 * repeated. */
void goc__rtree_methods(const goc__rtree *t, goc__rpath *rp, goc__rmethods *out);

#endif /* GOC_HTTP_MUX_H */
