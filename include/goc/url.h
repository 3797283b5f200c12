/*
 * goc/url.h — Go's net/url in C: URLs parsed strictly (RFC 3986 with Go's
 * semantics), resolved, printed and escaped, and url.Values. Part of
 * libgoc; <goc/http.h> includes it.
 */
#ifndef GOC_URL_H
#define GOC_URL_H

#include <goc.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- URLs (net/url) ------------------------------------------------------
 *
 * Go's net/url: a strict RFC 3986 parser with Go's semantics, reference
 * resolution, escaping, and url.Values. Pure functions: any thread, no
 * runtime needed (goc_errmsg() has the detail of an -EINVAL, Go's text:
 * `parse "http://[::1": missing ']' in host`).
 *
 *     [scheme:][//[userinfo@]host][/]path[?query][#fragment]
 *     scheme:opaque[?query][#fragment]           (no '/' after "scheme:")
 *
 * A goc_url is one allocation holding the struct and its strings: free it
 * with goc_url_free, copy it with goc_url_dup. Every string member is
 * non-NULL ("" when absent) except user and password. A caller may build
 * a goc_url of its own (a struct on the stack, string members NULL or
 * pointing anywhere) for the functions that take a const goc_url *. */
typedef struct goc_url {
    const char *scheme;       /* lower-cased; "" if none */
    const char *opaque;       /* "x@y" of "mailto:x@y" (encoded); "" */
    const char *user;         /* userinfo's user (decoded), NULL if no userinfo */
    const char *password;     /* decoded; NULL if userinfo has no ':' */
    const char *host;         /* "host", "host:port", "[::1]:80" (decoded; case kept) */
    const char *path;         /* decoded ("/a b" for "/a%20b") */
    const char *raw_path;     /* the encoded path when it differs from the default
                                 encoding of path ("/a%2Fb"), else "" (Go's RawPath) */
    const char *raw_query;    /* encoded, without '?' */
    const char *fragment;     /* decoded, without '#' */
    const char *raw_fragment; /* as raw_path, for the fragment (Go's RawFragment) */
    bool force_query;         /* a '?' with an empty query ("http://x/?") */
} goc_url;

/* url.Parse: an absolute URL or any relative reference. 0 and *out (free
 * it), -EINVAL (control bytes, a bad %xx, a bad host or port, an IPv6
 * literal without ']', bad userinfo, a ':' in the first segment of a
 * relative path, a missing scheme before ':'), or -ENOMEM; *out is NULL
 * on failure. s is read during the call only. */
GOC_API int goc_url_parse(const char *s, goc_url **out);
/* url.ParseRequestURI: s as an HTTP request-target: an absolute URL, an
 * absolute path or "*" (no fragment is cut: '#' is part of the path). */
GOC_API int goc_url_parse_request_uri(const char *s, goc_url **out);
/* base.Parse(ref): ref parsed and resolved against base (RFC 3986 5.2,
 * with the removal of "." and ".." segments); a new URL in *out. Errors
 * as goc_url_parse's for ref. */
GOC_API int goc_url_resolve(const goc_url *base, const char *ref, goc_url **out);
/* u.String(): the URL reassembled (host and path escaped); malloc'ed, NULL
 * on ENOMEM. Parsing it gives u back. */
GOC_API char *goc_url_string(const goc_url *u);
/* u.RequestURI(): what a request line carries: the escaped path ("/" if
 * empty) or the opaque part, then "?query"; malloc'ed, NULL on ENOMEM. */
GOC_API char *goc_url_request_uri(const goc_url *u);
/* u.EscapedPath(): raw_path if it is a valid encoding of path, else path
 * escaped; malloc'ed, NULL on ENOMEM. */
GOC_API char *goc_url_escaped_path(const goc_url *u);
/* u.Hostname(): the host without port and without an IPv6 literal's
 * brackets, into buf[n] with a NUL: its length, or -ENOSPC. */
GOC_API int goc_url_hostname(const goc_url *u, char *buf, size_t n);
/* u.Port() as a number: 0 if the host has no port (or one that is not
 * all digits, which Go's Port() reports as ""), -EINVAL past 65535. */
GOC_API int goc_url_port(const goc_url *u);
/* A copy of u (of a caller-built one too) in one allocation; NULL on ENOMEM. */
GOC_API goc_url *goc_url_dup(const goc_url *u);
GOC_API void goc_url_free(goc_url *u); /* NULL ignored */

/* url.QueryEscape (a space is '+') and url.PathEscape (for one path
 * segment: '/' is escaped): malloc'ed, NULL on ENOMEM. */
GOC_API char *goc_url_query_escape(const char *s);
GOC_API char *goc_url_path_escape(const char *s);
/* url.QueryUnescape ('+' is a space) and url.PathUnescape: 0 and *out
 * (malloc'ed; it may hold NULs from "%00", cut the C string there),
 * -EINVAL for a '%' without two hex digits (`invalid URL escape "%zz"`),
 * or -ENOMEM; *out is NULL on failure. */
GOC_API int goc_url_query_unescape(const char *s, char **out);
GOC_API int goc_url_path_unescape(const char *s, char **out);

/* url.Values: an ordered multimap of names to values (case-sensitive).
 * Names and values given are copied. Not locked: one thread at a time. */
typedef struct goc_url_values goc_url_values;
GOC_API goc_url_values *goc_url_values_new(void); /* NULL on ENOMEM */
/* url.ParseQuery: '&'-separated pairs, '+' and %xx decoded, a pair
 * without '=' has the value "". A pair holding a ';' (Go 1.17+) or a bad
 * escape is skipped, and the first such error returned (-EINVAL) with
 * the good pairs in *out all the same, as Go; -ENOMEM leaves *out NULL. */
GOC_API int goc_url_parse_query(const char *query, goc_url_values **out);
GOC_API int goc_url_values_add(goc_url_values *v, const char *k, const char *val); /* 0, -ENOMEM */
/* Replace every value of k with val: 0, or -ENOMEM with v unchanged. */
GOC_API int goc_url_values_set(goc_url_values *v, const char *k, const char *val);
/* The first value of k, or NULL (Go's Get gives "" for both); valid until
 * k is set or deleted, or v freed. */
GOC_API const char *goc_url_values_get(const goc_url_values *v, const char *k);
GOC_API void goc_url_values_del(goc_url_values *v, const char *k);
/* The pairs in order: their number, and pair i (0 or -ERANGE). */
GOC_API size_t goc_url_values_len(const goc_url_values *v);
GOC_API int goc_url_values_at(const goc_url_values *v, size_t i, const char **k, const char **val);
/* v.Encode(): "a=1&a=2&b=x+y", sorted by name (a name's values in
 * order), escaped as QueryEscape; malloc'ed, NULL on ENOMEM. */
GOC_API char *goc_url_values_encode(const goc_url_values *v);
GOC_API void goc_url_values_free(goc_url_values *v); /* NULL ignored */

#ifdef __cplusplus
}
#endif
#endif /* GOC_URL_H */
