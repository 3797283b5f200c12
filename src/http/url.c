/*
 * url.c — Go's net/url URL: parsing (url.Parse, url.ParseRequestURI),
 * reference resolution (URL.Parse: RFC 3986 section 5.2 with Go's
 * dot-segment removal), and the URL's string forms.
 *
 * The grammar, as Go reads it:
 *
 *     [scheme:][//[userinfo@]host][/]path[?query][#fragment]
 *     scheme:opaque[?query][#fragment]      (no '/' after the scheme)
 *
 * Parsing cuts the input at the first '#', then takes a scheme (a letter,
 * then letters, digits, '+', '-', '.', up to a ':'), then the query at the
 * first '?' (a lone trailing '?' sets force_query), then the authority if
 * "//" follows, and what is left is the path. Path, fragment, userinfo
 * and host are stored decoded; raw_path and raw_fragment keep the encoded
 * form only when it differs from what escaping the decoded one gives, so
 * that String gives the input back. Go's validation is kept, each failure
 * with Go's text: control bytes anywhere, a bad %xx, a host byte outside
 * reg-name, sub-delims and brackets, %-encoded ASCII in a host, a port
 * that is not digits, a '[' without ']', userinfo outside RFC 3986's set,
 * a relative path whose first segment holds a ':'.
 *
 * Memory: a goc_url is one allocation, the struct followed by its
 * strings. Parsing builds a draft whose strings are separate (owned by
 * the draft, or borrowed from the input, a base or a reference), then
 * packs it with goc_url_dup. Nothing is locked: a goc_url is a value.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http.h"
#include "http/url.h"

/* ---- drafts ------------------------------------------------------------ */

typedef struct draft {
    goc_url u;
    char *owned[12];
    int nowned;
} draft;

static void draft_init(draft *d)
{
    memset(d, 0, sizeof *d);
    d->u.scheme = d->u.opaque = d->u.host = d->u.path = d->u.raw_path = "";
    d->u.raw_query = d->u.fragment = d->u.raw_fragment = "";
}

static void draft_free(draft *d)
{
    for (int i = 0; i < d->nowned; i++)
        free(d->owned[i]);
}

/* p (malloc'ed, or NULL after a failed allocation) now belongs to d. */
static const char *own(draft *d, char *p)
{
    if (p)
        d->owned[d->nowned++] = p;
    return p;
}

/* A NUL-terminated copy of s[0, n) owned by d, or NULL. */
static const char *copy(draft *d, const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return own(d, p);
}

static const char *S(const char *s)
{
    return s ? s : "";
}

/* ---- packing: one allocation ------------------------------------------- */

static size_t field_size(const char *s)
{
    return s ? strlen(s) + 1 : 0;
}

/* Copy s to *at (advancing it); NULL stays NULL. */
static const char *pack(char **at, const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *p = memcpy(*at, s, n);
    *at += n;
    return p;
}

GOC_API goc_url *goc_url_dup(const goc_url *u)
{
    const char *f[10] = {S(u->scheme),   S(u->opaque),      u->user,        u->password,
                         S(u->host),     S(u->path),        S(u->raw_path), S(u->raw_query),
                         S(u->fragment), S(u->raw_fragment)};
    size_t total = sizeof(goc_url);
    for (int i = 0; i < 10; i++)
        total += field_size(f[i]);
    goc_url *c = malloc(total);
    if (!c)
        return NULL;
    char *at = (char *)(c + 1);
    c->scheme = pack(&at, f[0]);
    c->opaque = pack(&at, f[1]);
    c->user = pack(&at, f[2]);
    c->password = pack(&at, f[3]);
    c->host = pack(&at, f[4]);
    c->path = pack(&at, f[5]);
    c->raw_path = pack(&at, f[6]);
    c->raw_query = pack(&at, f[7]);
    c->fragment = pack(&at, f[8]);
    c->raw_fragment = pack(&at, f[9]);
    c->force_query = u->force_query;
    return c;
}

GOC_API void goc_url_free(goc_url *u)
{
    free(u);
}

/* ---- parsing ------------------------------------------------------------ */

static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Go's getScheme over s[0, n): the scheme's length (0: none), or -1 for a
 * ':' first ("missing protocol scheme"). */
static ssize_t scheme_len(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (is_alpha(c))
            continue;
        if ((c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.') {
            if (i == 0)
                return 0;
            continue;
        }
        if (c == ':')
            return i == 0 ? -1 : (ssize_t)i;
        return 0; /* a byte no scheme holds: there is none */
    }
    return 0;
}

/* "" or ':' followed by digits only. */
static bool valid_optional_port(const char *p, size_t n)
{
    if (n == 0)
        return true;
    if (p[0] != ':')
        return false;
    for (size_t i = 1; i < n; i++)
        if (p[i] < '0' || p[i] > '9')
            return false;
    return true;
}

static int bad_port(const char *p, size_t n, char *emsg)
{
    char q[64];
    goc__url_quote(p, n, q, sizeof q);
    snprintf(emsg, GOC__URL_EMSG, "invalid port %s after host", q);
    return -EINVAL;
}

static const char *last_byte(const char *s, size_t n, char c)
{
    return memrchr(s, c, n);
}

/* Unescape s[0, n) in mode and append it to b. */
static int unescape_add(goc__ubuf *b, const char *s, size_t n, goc__urlmode mode, char *emsg)
{
    char *p;
    size_t pn;
    int rc = goc__url_unescape(s, n, mode, &p, &pn, emsg);
    if (rc < 0)
        return rc;
    goc__ubuf_add(b, p, pn);
    free(p);
    return 0;
}

/* An IP-literal with a zone (RFC 6874): "[addr%25zone]:port", each part
 * unescaped by its own rules. */
static int parse_zoned_host(draft *d, const char *h, size_t n, size_t zone, size_t rb, char *emsg)
{
    goc__ubuf b = {0};
    int rc = unescape_add(&b, h, zone, GOC__ENC_HOST, emsg);
    if (rc == 0)
        rc = unescape_add(&b, h + zone, rb - zone, GOC__ENC_ZONE, emsg);
    if (rc == 0)
        rc = unescape_add(&b, h + rb, n - rb, GOC__ENC_HOST, emsg);
    char *s = goc__ubuf_take(&b);
    if (rc < 0 || !s) {
        free(s);
        return rc < 0 ? rc : -ENOMEM;
    }
    d->u.host = own(d, s);
    return 0;
}

/* Go's parseHost: host[:port] of h[0, n) into d->u.host (decoded). */
static int parse_host(draft *d, const char *h, size_t n, char *emsg)
{
    if (n > 0 && h[0] == '[') {
        const char *rb = last_byte(h, n, ']');
        if (!rb) {
            snprintf(emsg, GOC__URL_EMSG, "missing ']' in host");
            return -EINVAL;
        }
        size_t i = (size_t)(rb - h);
        if (!valid_optional_port(rb + 1, n - i - 1))
            return bad_port(rb + 1, n - i - 1, emsg);
        const char *zone = memmem(h, i, "%25", 3);
        if (zone)
            return parse_zoned_host(d, h, n, (size_t)(zone - h), i, emsg);
    } else {
        const char *colon = last_byte(h, n, ':');
        if (colon && !valid_optional_port(colon, n - (size_t)(colon - h)))
            return bad_port(colon, n - (size_t)(colon - h), emsg);
    }
    char *s;
    int rc = goc__url_unescape(h, n, GOC__ENC_HOST, &s, NULL, emsg);
    if (rc < 0)
        return rc;
    d->u.host = own(d, s);
    return 0;
}

/* RFC 3986 3.2.1's userinfo bytes ('%' checked when decoding; '@' kept,
 * as Go does for "j@ne:p@ss@host"). */
static bool valid_userinfo(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (is_alpha(c) || (c >= '0' && c <= '9') || (c && strchr("-._:~!$&'()*+,;=%@", c)))
            continue;
        return false;
    }
    return true;
}

static int parse_userinfo(draft *d, const char *s, size_t n, char *emsg)
{
    if (!valid_userinfo(s, n)) {
        snprintf(emsg, GOC__URL_EMSG, "net/url: invalid userinfo");
        return -EINVAL;
    }
    const char *colon = memchr(s, ':', n);
    size_t un = colon ? (size_t)(colon - s) : n;
    char *user, *pass;
    int rc = goc__url_unescape(s, un, GOC__ENC_USER_PASSWORD, &user, NULL, emsg);
    if (rc < 0)
        return rc;
    d->u.user = own(d, user);
    if (!colon)
        return 0;
    rc = goc__url_unescape(colon + 1, n - un - 1, GOC__ENC_USER_PASSWORD, &pass, NULL, emsg);
    if (rc < 0)
        return rc;
    d->u.password = own(d, pass);
    return 0;
}

/* Go's parseAuthority: [userinfo@]host, split at the last '@'. */
static int parse_authority(draft *d, const char *a, size_t n, char *emsg)
{
    const char *at = last_byte(a, n, '@');
    size_t hi = at ? (size_t)(at - a) + 1 : 0;
    int rc = parse_host(d, a + hi, n - hi, emsg);
    if (rc < 0 || !at)
        return rc;
    return parse_userinfo(d, a, hi - 1, emsg);
}

/* Go's setPath and setFragment: s[0, n) decoded for mode into *dec, and
 * into *raw too if escaping the decoded form does not give s back (else
 * ""), so that String can give the input back. */
static int set_decoded(draft *d, const char *s, size_t n, goc__urlmode mode, const char **dec,
                       const char **raw, char *emsg)
{
    char *p;
    size_t pn;
    int rc = goc__url_unescape(s, n, mode, &p, &pn, emsg);
    if (rc < 0)
        return rc;
    *dec = own(d, p);
    goc__ubuf b = {0};
    goc__url_escape_add(&b, p, pn, mode);
    char *esc = goc__ubuf_take(&b);
    if (!esc)
        return -ENOMEM;
    bool same = strlen(esc) == n && memcmp(esc, s, n) == 0;
    free(esc);
    *raw = same ? "" : copy(d, s, n);
    return *raw ? 0 : -ENOMEM;
}

static int set_path(draft *d, const char *p, size_t n, char *emsg)
{
    return set_decoded(d, p, n, GOC__ENC_PATH, &d->u.path, &d->u.raw_path, emsg);
}

static int set_fragment(draft *d, const char *f, size_t n, char *emsg)
{
    return set_decoded(d, f, n, GOC__ENC_FRAGMENT, &d->u.fragment, &d->u.raw_fragment, emsg);
}

static int fail(char *emsg, const char *text)
{
    snprintf(emsg, GOC__URL_EMSG, "%s", text);
    return -EINVAL;
}

/* The scheme of s[0, n) into d (lower-cased); the rest in *rest. */
static int parse_scheme(draft *d, const char **s, size_t *n, char *emsg)
{
    ssize_t sl = scheme_len(*s, *n);
    if (sl < 0)
        return fail(emsg, "missing protocol scheme");
    if (sl == 0)
        return 0;
    char *scheme = (char *)copy(d, *s, (size_t)sl);
    if (!scheme)
        return -ENOMEM;
    for (char *c = scheme; *c; c++)
        if (*c >= 'A' && *c <= 'Z')
            *c += 'a' - 'A';
    d->u.scheme = scheme;
    *s += sl + 1;
    *n -= (size_t)sl + 1;
    return 0;
}

/* The query of rest[0, *n) into d; *n shrinks to what precedes it. */
static int parse_query_part(draft *d, const char *rest, size_t *n)
{
    const char *q = memchr(rest, '?', *n);
    if (!q)
        return 0;
    if (q == rest + *n - 1) { /* the only '?', and last */
        d->u.force_query = true;
        *n -= 1;
        return 0;
    }
    size_t qi = (size_t)(q - rest);
    d->u.raw_query = copy(d, q + 1, *n - qi - 1);
    *n = qi;
    return d->u.raw_query ? 0 : -ENOMEM;
}

/* Go's parse: s[0, n) without its fragment. */
static int parse(draft *d, const char *s, size_t n, bool via_request, char *emsg)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return fail(emsg, "net/url: invalid control character in URL");
    if (n == 0 && via_request)
        return fail(emsg, "empty url");
    if (n == 1 && s[0] == '*') {
        d->u.path = "*";
        return 0;
    }
    int rc = parse_scheme(d, &s, &n, emsg);
    if (rc == 0)
        rc = parse_query_part(d, s, &n);
    if (rc < 0)
        return rc;
    bool has_scheme = d->u.scheme[0] != '\0';
    if (n == 0 || s[0] != '/') {
        if (has_scheme) { /* RFC 3986's rootless paths: opaque */
            d->u.opaque = copy(d, s, n);
            return d->u.opaque ? 0 : -ENOMEM;
        }
        if (via_request)
            return fail(emsg, "invalid URI for request");
        /* RFC 3986 3.3: "cache_object:foo/bar" is no relative path */
        const char *slash = memchr(s, '/', n);
        if (memchr(s, ':', slash ? (size_t)(slash - s) : n))
            return fail(emsg, "first path segment in URL cannot contain colon");
    }
    bool triple = n >= 3 && memcmp(s, "///", 3) == 0;
    if ((has_scheme || (!via_request && !triple)) && n >= 2 && s[0] == '/' && s[1] == '/') {
        const char *a = s + 2, *slash = memchr(a, '/', n - 2);
        size_t an = slash ? (size_t)(slash - a) : n - 2;
        if ((rc = parse_authority(d, a, an, emsg)) < 0)
            return rc;
        s = a + an;
        n -= an + 2;
    }
    return set_path(d, s, n, emsg);
}

/* The public wrapper: Go's "parse \"<url>\": <what>" text for -EINVAL. */
static int parse_error(int rc, const char *s, size_t n, const char *emsg)
{
    if (rc != -EINVAL)
        return rc;
    char q[200];
    goc__url_quote(s, n, q, sizeof q);
    return goc__errorf(rc, "parse %s: %s", q, emsg);
}

/* Pack d into *out (0 or -ENOMEM) and free the draft. */
static int finish(draft *d, goc_url **out)
{
    *out = goc_url_dup(&d->u);
    draft_free(d);
    return *out ? 0 : -ENOMEM;
}

static int parse_full(const char *s, goc_url **out)
{
    char emsg[GOC__URL_EMSG];
    draft d;
    draft_init(&d);
    *out = NULL;
    size_t n = strlen(s);
    const char *hash = memchr(s, '#', n);
    size_t un = hash ? (size_t)(hash - s) : n;
    int rc = parse(&d, s, un, false, emsg);
    if (rc < 0) {
        draft_free(&d);
        return parse_error(rc, s, un, emsg);
    }
    if (hash && hash[1] && (rc = set_fragment(&d, hash + 1, n - un - 1, emsg)) < 0) {
        draft_free(&d);
        return parse_error(rc, s, n, emsg);
    }
    return finish(&d, out);
}

GOC_API int goc_url_parse(const char *s, goc_url **out)
{
    return parse_full(s, out);
}

GOC_API int goc_url_parse_request_uri(const char *s, goc_url **out)
{
    char emsg[GOC__URL_EMSG];
    draft d;
    draft_init(&d);
    *out = NULL;
    size_t n = strlen(s);
    int rc = parse(&d, s, n, true, emsg);
    if (rc < 0) {
        draft_free(&d);
        return parse_error(rc, s, n, emsg);
    }
    return finish(&d, out);
}

/* ---- string forms -------------------------------------------------------- */

/* Go's EscapedPath (or EscapedFragment, with mode FRAGMENT): raw if it
 * is a valid encoding of the decoded form, else the decoded form escaped. */
static void add_escaped(goc__ubuf *b, const char *dec, const char *raw, goc__urlmode mode)
{
    size_t rn = strlen(raw);
    if (rn && goc__url_valid_encoded(raw, rn, mode)) {
        char *p, emsg[GOC__URL_EMSG];
        if (goc__url_unescape(raw, rn, mode, &p, NULL, emsg) == 0) {
            bool same = strcmp(p, dec) == 0;
            free(p);
            if (same) {
                goc__ubuf_add(b, raw, rn);
                return;
            }
        }
    }
    if (mode == GOC__ENC_PATH && strcmp(dec, "*") == 0)
        goc__ubuf_addc(b, '*'); /* the OPTIONS target stays as it is */
    else
        goc__url_escape_add(b, dec, strlen(dec), mode);
}

GOC_API char *goc_url_escaped_path(const goc_url *u)
{
    goc__ubuf b = {0};
    add_escaped(&b, S(u->path), S(u->raw_path), GOC__ENC_PATH);
    return goc__ubuf_take(&b);
}

/* scheme://user:pass@host (the parts that are there). */
static void add_authority(goc__ubuf *b, const goc_url *u, const char *path)
{
    const char *host = S(u->host);
    if (!u->scheme[0] && !host[0] && !u->user)
        return;
    if (host[0] || path[0] || u->user)
        goc__ubuf_adds(b, "//");
    if (u->user) {
        goc__url_escape_add(b, u->user, strlen(u->user), GOC__ENC_USER_PASSWORD);
        if (u->password) {
            goc__ubuf_addc(b, ':');
            goc__url_escape_add(b, u->password, strlen(u->password), GOC__ENC_USER_PASSWORD);
        }
        goc__ubuf_addc(b, '@');
    }
    goc__url_escape_add(b, host, strlen(host), GOC__ENC_HOST);
}

GOC_API char *goc_url_string(const goc_url *in)
{
    goc_url u = *in;
    u.scheme = S(u.scheme);
    goc__ubuf b = {0};
    if (u.scheme[0]) {
        goc__ubuf_adds(&b, u.scheme);
        goc__ubuf_addc(&b, ':');
    }
    if (S(u.opaque)[0]) {
        goc__ubuf_adds(&b, u.opaque);
    } else {
        char *path = goc_url_escaped_path(&u);
        if (!path)
            b.oom = true;
        else {
            add_authority(&b, &u, path);
            if (path[0] && path[0] != '/' && S(u.host)[0])
                goc__ubuf_addc(&b, '/');
            /* RFC 3986 4.2: "this:that" as a first segment would read as
             * a scheme; "./this:that" does not. */
            size_t seg = strcspn(path, "/");
            if (b.n == 0 && memchr(path, ':', seg))
                goc__ubuf_adds(&b, "./");
            goc__ubuf_adds(&b, path);
            free(path);
        }
    }
    if (u.force_query || S(u.raw_query)[0]) {
        goc__ubuf_addc(&b, '?');
        goc__ubuf_adds(&b, S(u.raw_query));
    }
    if (S(u.fragment)[0]) {
        goc__ubuf_addc(&b, '#');
        add_escaped(&b, u.fragment, S(u.raw_fragment), GOC__ENC_FRAGMENT);
    }
    return goc__ubuf_take(&b);
}

GOC_API char *goc_url_request_uri(const goc_url *u)
{
    goc__ubuf b = {0};
    const char *opaque = S(u->opaque);
    if (!opaque[0]) {
        add_escaped(&b, S(u->path), S(u->raw_path), GOC__ENC_PATH);
        if (b.n == 0)
            goc__ubuf_addc(&b, '/');
    } else {
        if (opaque[0] == '/' && opaque[1] == '/') {
            goc__ubuf_adds(&b, S(u->scheme));
            goc__ubuf_addc(&b, ':');
        }
        goc__ubuf_adds(&b, opaque);
    }
    if (u->force_query || S(u->raw_query)[0]) {
        goc__ubuf_addc(&b, '?');
        goc__ubuf_adds(&b, S(u->raw_query));
    }
    return goc__ubuf_take(&b);
}

/* ---- host and port ----------------------------------------------------- */

void goc__url_split_host_port(const char *host, size_t n, const char **h, size_t *hn,
                              const char **port, size_t *pn)
{
    const char *colon = last_byte(host, n, ':');
    *h = host;
    *hn = n;
    *port = host + n;
    *pn = 0;
    if (colon && valid_optional_port(colon, n - (size_t)(colon - host))) {
        *hn = (size_t)(colon - host);
        *port = colon + 1;
        *pn = n - *hn - 1;
    }
    if (*hn >= 2 && host[0] == '[' && host[*hn - 1] == ']') {
        (*h)++;
        *hn -= 2;
    }
}

GOC_API int goc_url_hostname(const goc_url *u, char *buf, size_t n)
{
    const char *h, *p, *host = S(u->host);
    size_t hn, pn;
    goc__url_split_host_port(host, strlen(host), &h, &hn, &p, &pn);
    if (hn + 1 > n)
        return -ENOSPC;
    memcpy(buf, h, hn);
    buf[hn] = '\0';
    return (int)hn;
}

GOC_API int goc_url_port(const goc_url *u)
{
    const char *h, *p, *host = S(u->host);
    size_t hn, pn;
    goc__url_split_host_port(host, strlen(host), &h, &hn, &p, &pn);
    long v = 0;
    for (size_t i = 0; i < pn; i++) {
        v = v * 10 + (p[i] - '0');
        if (v > 65535)
            return goc__errset(-EINVAL, "goc_url_port: port out of range");
    }
    return (int)v;
}

/* ---- resolving references ------------------------------------------------- */

/* Go's resolvePath: base and ref (escaped paths) merged per RFC 3986
 * 5.2.3 and the dot-segments removed (5.2.4); always starts with '/'
 * unless empty. NULL on ENOMEM. */
static char *resolve_path(const char *base, const char *ref)
{
    goc__ubuf full = {0}, dst = {0};
    if (!ref[0]) {
        goc__ubuf_adds(&full, base);
    } else if (ref[0] != '/') {
        const char *slash = strrchr(base, '/');
        goc__ubuf_add(&full, base, slash ? (size_t)(slash - base) + 1 : 0);
        goc__ubuf_adds(&full, ref);
    } else {
        goc__ubuf_adds(&full, ref);
    }
    char *f = goc__ubuf_take(&full);
    if (!f || !f[0])
        return f;
    goc__ubuf_addc(&dst, '/');
    bool first = true;
    const char *elem = f, *rem = f;
    size_t en = 0;
    for (bool found = true; found;) {
        const char *slash = strchr(rem, '/');
        found = slash != NULL;
        elem = rem;
        en = found ? (size_t)(slash - rem) : strlen(rem);
        rem = found ? slash + 1 : rem + en;
        if (en == 1 && elem[0] == '.') {
            first = false;
        } else if (en == 2 && elem[0] == '.' && elem[1] == '.') {
            const char *last = dst.oom ? NULL : memrchr(dst.p + 1, '/', dst.n - 1);
            first = !last;
            if (!dst.oom)
                dst.n = last ? (size_t)(last - dst.p) : 1;
        } else {
            if (!first)
                goc__ubuf_addc(&dst, '/');
            goc__ubuf_add(&dst, elem, en);
            first = false;
        }
    }
    bool dot = (en == 1 && elem[0] == '.') || (en == 2 && elem[0] == '.' && elem[1] == '.');
    free(f);
    if (dot)
        goc__ubuf_addc(&dst, '/');
    char *r = goc__ubuf_take(&dst);
    if (r && r[1] == '/') /* we wrote a '/' of our own: not two */
        memmove(r, r + 1, strlen(r));
    return r;
}

/* Go's ResolveReference of ref against base into d. */
static int resolve_into(draft *d, const goc_url *base, const goc_url *ref, char *emsg)
{
    d->u = *ref;
    if (!ref->scheme[0])
        d->u.scheme = base->scheme;
    char *bp = goc_url_escaped_path(base), *rp = goc_url_escaped_path(ref), *p = NULL;
    int rc = -ENOMEM;
    if (!bp || !rp)
        goto out_free;
    if (ref->scheme[0] || ref->host[0] || ref->user) {
        p = resolve_path(rp, ""); /* absolute or network-path reference */
    } else if (ref->opaque[0]) {
        d->u.user = d->u.password = NULL;
        d->u.host = d->u.path = "";
        rc = 0;
        goto out_free;
    } else {
        if (!ref->path[0] && !ref->force_query && !ref->raw_query[0]) {
            d->u.raw_query = base->raw_query;
            if (!ref->fragment[0]) {
                d->u.fragment = base->fragment;
                d->u.raw_fragment = base->raw_fragment;
            }
        }
        d->u.host = base->host;
        d->u.user = base->user;
        d->u.password = base->password;
        p = resolve_path(bp, rp);
    }
    if (p)
        rc = set_path(d, p, strlen(p), emsg);
out_free:
    free(bp);
    free(rp);
    free(p);
    return rc;
}

GOC_API int goc_url_resolve(const goc_url *base, const char *ref, goc_url **out)
{
    goc_url *r;
    char emsg[GOC__URL_EMSG];
    *out = NULL;
    int rc = goc_url_parse(ref, &r);
    if (rc < 0)
        return rc;
    draft d;
    draft_init(&d);
    goc_url b = *base; /* a caller's URL may hold NULL for "" */
    b.scheme = S(b.scheme), b.opaque = S(b.opaque), b.host = S(b.host), b.path = S(b.path);
    b.raw_path = S(b.raw_path), b.raw_query = S(b.raw_query), b.fragment = S(b.fragment);
    b.raw_fragment = S(b.raw_fragment);
    rc = resolve_into(&d, &b, r, emsg);
    if (rc == 0)
        rc = finish(&d, out);
    else
        draft_free(&d);
    goc_url_free(r);
    return rc == -EINVAL ? goc__errorf(rc, "parse: %s", emsg) : rc;
}
