/*
 * cookie.h — one Set-Cookie field value read as Go's http.ParseSetCookie
 * (cookie.c), for the cookie jar (cookiejar.c).
 *
 * The spans point into the line given: valid as long as it is. Nothing
 * is locked.
 */
#ifndef GOC_HTTP_COOKIE_H
#define GOC_HTTP_COOKIE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct goc__span {
    const char *p;
    size_t n;
} goc__span;

enum {
    GOC__SAMESITE_UNSET,
    GOC__SAMESITE_DEFAULT,
    GOC__SAMESITE_LAX,
    GOC__SAMESITE_STRICT,
    GOC__SAMESITE_NONE
};

typedef struct goc__set_cookie {
    goc__span name, value;  /* value without the quotes of a quoted one */
    goc__span path, domain; /* as given (n == 0: absent) */
    bool quoted;            /* the value came in double quotes */
    bool secure, http_only;
    bool has_expires; /* Expires parsed: expires holds it (Unix seconds) */
    int64_t expires;
    int64_t max_age; /* 0: absent; < 0: delete now ("Max-Age=0" too); > 0: seconds */
    int same_site;   /* GOC__SAMESITE_* */
} goc__set_cookie;

/* Read line: 0, or -EINVAL for a cookie Go drops (blank, no '=', a name
 * that is no token, a value with bytes outside cookie-octet, space and
 * comma). Attributes Go cannot read (a bad Max-Age or Expires, unknown
 * names) are ignored, as Go keeps them aside in Unparsed. */
int goc__parse_set_cookie(const char *line, goc__set_cookie *c);

#endif /* GOC_HTTP_COOKIE_H */
