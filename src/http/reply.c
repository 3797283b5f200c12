/*
 * reply.c — the canned replies: http.Error, NotFound and Redirect.
 *
 * They are plain handlers' helpers: every call goes through the public
 * writer functions, so they work on a wrapper writer (a timeout buffer, a
 * user's middleware) as on the connection's own. Redirect follows Go's
 * rules for the Location it sends:
 *   - a url with a scheme or a host ("http://x/", "//x/") goes out as
 *     given;
 *   - a relative one is joined to the directory of the request's path,
 *     and the result cleaned (".", "..", "//" removed) keeping a trailing
 *     '/' and the query after '?' as they were;
 *   - a url Go's url.Parse would refuse (a control byte, a bad escape in
 *     the path) goes out unchanged, as Go sends it;
 *   - bytes >= 0x80 are sent as %xx escapes (a field value is ASCII).
 * Strings built here live in the request's arena; nothing is locked (the
 * writer and request belong to the handler's goroutine).
 */
#include <string.h>

#include "http/http.h"

void goc_http_error(goc_http_response_writer *w, const char *msg, int code)
{
    goc_http_header *h = goc_http_response_header(w);
    /* A length the handler set for the body it meant to send would not
     * fit this one. */
    goc_http_header_del(h, "Content-Length");
    goc_http_header_set(h, "Content-Type", "text/plain; charset=utf-8");
    goc_http_header_set(h, "X-Content-Type-Options", "nosniff");
    goc_http_write_header(w, code);
    goc_http_write(w, msg, strlen(msg));
    goc_http_write(w, "\n", 1);
}

void goc_http_not_found(goc_http_response_writer *w, goc_http_request *r)
{
    (void)r;
    goc_http_error(w, "404 page not found", 404);
}

/* ---- Redirect's url ------------------------------------------------------ */

/* Whether url has a scheme ("http:") or an authority ("//host"): then it
 * is not relative to the request and Go leaves it alone. */
static bool has_scheme_or_host(const char *url)
{
    /* "//host/x" names a host; "///x" and "//" do not (Go reads them
     * as paths). */
    if (url[0] == '/' && url[1] == '/')
        return url[2] != '\0' && url[2] != '/' && url[2] != '?' && url[2] != '#';
    if (!((url[0] >= 'a' && url[0] <= 'z') || (url[0] >= 'A' && url[0] <= 'Z')))
        return false;
    for (const char *p = url + 1; *p; p++) {
        char c = *p;
        if (c == ':')
            return true;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '+' || c == '-' || c == '.';
        if (!ok)
            return false;
    }
    return false;
}

static bool is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* What url.Parse refuses and Redirect then sends untouched: a control
 * byte anywhere, a bad escape in the path (before '?' and '#'), a colon
 * in the first segment of a scheme-less path ("1a:b", ":x"; "a:b" has a
 * scheme). */
static bool unparsable(const char *url)
{
    size_t seg = strcspn(url, "/?#");
    if (memchr(url, ':', seg))
        return true;
    for (const char *p = url; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return true;
    size_t path_len = strcspn(url, "?#");
    for (size_t i = 0; i < path_len; i++) {
        if (url[i] != '%')
            continue;
        if (i + 2 >= path_len || !is_hex(url[i + 1]) || !is_hex(url[i + 2]))
            return true;
    }
    return false;
}

/* path.Clean of p[0, n) into out (room for n + 2): the shortest path with
 * the same meaning; "" becomes ".". Returns the length. */
static size_t clean_path(const char *p, size_t n, char *out)
{
    bool rooted = n > 0 && p[0] == '/';
    size_t w = 0, r = 0, dotdot = 0; /* dotdot: where ".." may back up to */
    if (rooted) {
        out[w++] = '/';
        r = dotdot = 1;
    }
    while (r < n) {
        if (p[r] == '/') {
            r++;
        } else if (p[r] == '.' && (r + 1 == n || p[r + 1] == '/')) {
            r++;
        } else if (p[r] == '.' && p[r + 1] == '.' && (r + 2 == n || p[r + 2] == '/')) {
            r += 2;
            if (w > dotdot) {
                for (w--; w > dotdot && out[w] != '/'; w--) {
                }
            } else if (!rooted) {
                if (w > 0)
                    out[w++] = '/';
                out[w++] = '.';
                out[w++] = '.';
                dotdot = w;
            }
        } else {
            if ((rooted && w != 1) || (!rooted && w != 0))
                out[w++] = '/';
            for (; r < n && p[r] != '/'; r++)
                out[w++] = p[r];
        }
    }
    if (w == 0)
        out[w++] = '.';
    out[w] = '\0';
    return w;
}

/* Go's Redirect: a relative url joined to the request path's directory
 * and cleaned, its trailing '/' and query kept. In r's arena; url itself
 * when it is absolute, unparsable, or memory runs out. */
static const char *absolute_url(goc_http_request *r, const char *url)
{
    if (has_scheme_or_host(url) || unparsable(url))
        return url;
    const char *old = r->path[0] ? r->path : "/";
    size_t dir = 0;
    if (url[0] != '/') {
        const char *slash = strrchr(old, '/');
        dir = slash ? (size_t)(slash - old) + 1 : 0;
    }
    size_t ulen = strlen(url), plen = strcspn(url, "?"), jn = dir + plen;
    char *joined = goc__http_alloc(r, jn + 1);
    char *out = goc__http_alloc(r, jn + 3 + (ulen - plen));
    if (!joined || !out)
        return url;
    memcpy(joined, old, dir);
    memcpy(joined + dir, url, plen);
    size_t n = clean_path(joined, jn, out);
    if (jn > 0 && joined[jn - 1] == '/' && out[n - 1] != '/')
        out[n++] = '/';
    memcpy(out + n, url + plen, ulen - plen + 1);
    return out;
}

/* Bytes >= 0x80 as %xx (Go's hexEscapeNonASCII: lower-case hex). */
static const char *escape_non_ascii(goc_http_request *r, const char *s)
{
    size_t n = 0, high = 0;
    for (; s[n]; n++)
        high += (unsigned char)s[n] >= 0x80;
    if (high == 0)
        return s;
    char *out = goc__http_alloc(r, n + 2 * high + 1), *o = out;
    if (!out)
        return s;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p < 0x80) {
            *o++ = (char)*p;
            continue;
        }
        *o++ = '%';
        *o++ = "0123456789abcdef"[*p >> 4];
        *o++ = "0123456789abcdef"[*p & 15];
    }
    *o = '\0';
    return out;
}

const char *goc__http_html_entity(char ch)
{
    switch (ch) {
    case '&':
        return "&amp;";
    case '<':
        return "&lt;";
    case '>':
        return "&gt;";
    case '"':
        return "&#34;";
    case '\'':
        return "&#39;";
    default:
        return NULL;
    }
}

/* Write s HTML-escaped as Go's html.EscapeString does (& < > " '). */
static void write_html_escaped(goc_http_response_writer *w, const char *s)
{
    const char *run = s;
    for (; *s; s++) {
        const char *rep = goc__http_html_entity(*s);
        if (!rep)
            continue;
        goc_http_write(w, run, (size_t)(s - run));
        goc_http_write_str(w, rep);
        run = s + 1;
    }
    goc_http_write(w, run, (size_t)(s - run));
}

void goc_http_redirect(goc_http_response_writer *w, goc_http_request *r, const char *url, int code)
{
    url = absolute_url(r, url);
    goc_http_header *h = goc_http_response_header(w);
    /* A handler that chose a Content-Type chose its body too: no HTML. */
    bool had_ct = goc_http_header_get(h, "Content-Type") != NULL;
    bool get = strcmp(r->method, "GET") == 0, head = strcmp(r->method, "HEAD") == 0;
    goc_http_header_set(h, "Location", escape_non_ascii(r, url));
    if (!had_ct && (get || head))
        goc_http_header_set(h, "Content-Type", "text/html; charset=utf-8");
    goc_http_write_header(w, code);
    /* The short body old user agents show for a 301 or 307 (RFC 9110
     * 15.4); never for HEAD. */
    if (!had_ct && get) {
        goc_http_write_str(w, "<a href=\"");
        write_html_escaped(w, url);
        goc_http_printf(w, "\">%s</a>.\n\n", goc_http_status_text(code));
    }
}
