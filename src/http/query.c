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
#include <stdlib.h>
#include <string.h>

#include "http/chars.h"
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

/* ---- query strings and forms -------------------------------------------- */

typedef struct qpair {
    const char *name, *value;
} qpair;

/* Parsed pairs in arrival order (one name may come several times). */
typedef struct qlist {
    qpair *v;
    size_t n;
} qlist;

/* A decoded, NUL-terminated copy of s[0, n) in r's arena, or NULL (a bad
 * escape, or ENOMEM). */
static char *decode(goc_http_request *r, const char *s, size_t n)
{
    char *out = goc__http_alloc(r, n + 1);
    if (!out || goc__http_unescape(s, n, out, true) < 0)
        return NULL;
    return out;
}

/* One "name=value" (or "name") pair into l: false if it is skipped. */
static bool parse_pair(goc_http_request *r, const char *p, size_t n, qlist *l)
{
    /* Go 1.17 stopped splitting on ';' (a cache and its origin could
     * disagree on where pairs end); a pair holding one is refused. */
    if (memchr(p, ';', n))
        return false;
    const char *eq = memchr(p, '=', n);
    size_t klen = eq ? (size_t)(eq - p) : n;
    char *name = decode(r, p, klen);
    char *value = eq ? decode(r, eq + 1, n - klen - 1) : decode(r, "", 0);
    if (!name || !value)
        return false;
    l->v[l->n++] = (qpair){name, value};
    return true;
}

/* Go's url.ParseQuery over s[0, n): '&'-separated pairs, empty ones
 * ignored, malformed ones skipped. NULL on ENOMEM. */
static qlist *parse_query(goc_http_request *r, const char *s, size_t n)
{
    size_t max = 1;
    for (size_t i = 0; i < n; i++)
        max += s[i] == '&';
    qlist *l = goc__http_alloc(r, sizeof *l);
    if (!l || !(l->v = goc__http_alloc(r, max * sizeof *l->v)))
        return NULL;
    l->n = 0;
    const char *p = s, *end = s + n;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        size_t len = amp ? (size_t)(amp - p) : (size_t)(end - p);
        if (len > 0)
            parse_pair(r, p, len, l);
        p += len + 1;
    }
    return l;
}

static const char *lookup(const qlist *l, const char *name)
{
    for (size_t i = 0; l && i < l->n; i++)
        if (strcmp(l->v[i].name, name) == 0)
            return l->v[i].value;
    return NULL;
}

const char *goc_http_query_get(goc_http_request *r, const char *name)
{
    struct goc__http_req *p = r->priv_;
    if (!p->query)
        p->query = parse_query(r, r->raw_query, strlen(r->raw_query));
    return lookup(p->query, name);
}

enum { MAX_FORM_SIZE = 10 << 20 }; /* Go's maxFormSize */

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Whether the media type of ct (parameters aside) is the urlencoded form. */
static bool is_urlencoded(const char *ct)
{
    static const char want[] = "application/x-www-form-urlencoded";
    if (!ct)
        return false;
    while (is_space(*ct))
        ct++;
    size_t n = strcspn(ct, ";");
    while (n > 0 && is_space(ct[n - 1]))
        n--;
    return n == sizeof want - 1 && goc__http_token_eq(ct, want, n);
}

static bool method_has_form(const char *m)
{
    return strcmp(m, "POST") == 0 || strcmp(m, "PUT") == 0 || strcmp(m, "PATCH") == 0;
}

/* Read and parse the body once. A body past 10 MiB, a read error or a
 * body of another type leave no form values, as Go's ParseForm does (it
 * reports the error, which FormValue ignores). */
static void parse_form(goc_http_request *r)
{
    struct goc__http_req *p = r->priv_;
    p->form_parsed = true;
    if (!method_has_form(r->method) ||
        !is_urlencoded(goc_http_header_get(r->header, "Content-Type")))
        return;
    char *body;
    size_t len;
    if (goc_http_body_read_all(r, &body, &len, MAX_FORM_SIZE) < 0)
        return;
    p->form = parse_query(r, body, len);
    free(body);
}

const char *goc_http_form_value(goc_http_request *r, const char *name)
{
    if (!r->priv_->form_parsed)
        parse_form(r);
    const char *v = lookup(r->priv_->form, name);
    return v ? v : goc_http_query_get(r, name);
}

/* ---- cookies -------------------------------------------------------------- */

/* Trim ASCII whitespace from both ends of [*p, *p + *n). */
static void trim(const char **p, size_t *n)
{
    while (*n > 0 && is_space(**p))
        (*p)++, (*n)--;
    while (*n > 0 && is_space((*p)[*n - 1]))
        (*n)--;
}

static bool valid_name(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!goc__hc_is((unsigned char)s[i], GOC__HC_TCHAR))
            return false;
    return true;
}

/* Go's cookie-octet check, as lenient as Go's: space and comma pass,
 * quotes (once stripped), ';' and '\\' do not. */
static bool valid_value(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c >= 0x7f || c == '"' || c == ';' || c == '\\')
            return false;
    }
    return true;
}

/* The value of cookie name in one Cookie line, copied to r's arena, or
 * NULL. Pairs that are not name=value with a token name and a valid value
 * are skipped, as Go's readCookies does. */
static const char *cookie_in(goc_http_request *r, const char *line, const char *name)
{
    size_t want = strlen(name);
    const char *p = line, *end = line + strlen(line);
    while (p < end) {
        const char *semi = memchr(p, ';', (size_t)(end - p));
        size_t len = semi ? (size_t)(semi - p) : (size_t)(end - p);
        const char *part = p, *eq;
        p += len + 1;
        trim(&part, &len);
        if (len == 0)
            continue;
        eq = memchr(part, '=', len);
        const char *k = part, *v = eq ? eq + 1 : part + len;
        size_t klen = eq ? (size_t)(eq - part) : len, vlen = (size_t)(part + len - v);
        trim(&k, &klen);
        if (!valid_name(k, klen) || klen != want || memcmp(k, name, want) != 0)
            continue;
        if (vlen > 1 && v[0] == '"' && v[vlen - 1] == '"')
            v++, vlen -= 2;
        if (valid_value(v, vlen))
            return goc__arena_strndup(r->priv_->arena, v, vlen);
    }
    return NULL;
}

const char *goc_http_cookie(goc_http_request *r, const char *name)
{
    const char *small[8], **lines = small;
    size_t n = goc_http_header_values(r->header, "Cookie", small, 8);
    if (n > 8) {
        lines = goc__http_alloc(r, n * sizeof *lines);
        if (!lines)
            return NULL;
        goc_http_header_values(r->header, "Cookie", lines, n);
    }
    for (size_t i = 0; i < n; i++) {
        const char *v = cookie_in(r, lines[i], name);
        if (v)
            return v;
    }
    return NULL;
}
