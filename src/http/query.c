/*
 * query.c — what a handler reads out of a request besides its head: the
 * percent-decoding every part of the layer shares, the query string, the
 * urlencoded form body, and cookies.
 *
 * Decoding follows Go's net/url: a '%' must be followed by two hex digits
 * or the whole string is malformed; '+' means a space only in query
 * strings and forms, never in paths.
 *
 * Query and form values are parsed once, on first use, into a small array
 * of (name, value) pairs in the request's arena (r->priv_->query and
 * ->form); every later lookup is a linear scan, as a handler asks for a
 * few names of a few pairs. Parsing follows Go 1.17+'s ParseQuery: pairs
 * are separated by '&' only, and a pair holding a ';' or a malformed
 * escape is skipped (Go reports an error and keeps the good pairs; a
 * handler that only asks for values sees the same). Everything returned
 * lives until the request ends; nothing here is locked (a request belongs
 * to its handler's goroutine).
 */
#include <string.h>

#include "http/http.h"

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

ssize_t goc__http_unescape(const char *s, size_t n, char *out, bool plus)
{
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '%') {
            /* "%4" at the end and "%zz" are both malformed: Go refuses the
             * whole string rather than guess what the sender meant. */
            if (n - i < 3)
                return -1;
            int h = hexval((unsigned char)s[i + 1]), l = hexval((unsigned char)s[i + 2]);
            if (h < 0 || l < 0)
                return -1;
            out[j++] = (char)(h << 4 | l);
            i += 2;
        } else if (c == '+' && plus) {
            out[j++] = ' ';
        } else {
            out[j++] = (char)c;
        }
    }
    out[j] = '\0';
    return (ssize_t)j;
}
