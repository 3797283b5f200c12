/*
 * cookiejar.c — Go's net/http/cookiejar.Jar (RFC 6265) without a public
 * suffix list.
 *
 * What a jar holds: entries, each a cookie as RFC 6265 section 5.3
 * stores it (name, value, domain, path, secure, http-only, persistent,
 * host-only, expiry), its creation order (seq), and its key: the site
 * of the host that set it (the host's last two labels, or the host if it
 * is an IP or has one label). Go keys its map the same way; a lookup
 * only sees the entries of the request host's key, so without a public
 * suffix list foo.com still cannot set a cookie bar.com receives.
 *
 * Setting (Go's setCookies), for each Set-Cookie of a response to u:
 *   1. read it (cookie.c); drop it if Go would;
 *   2. its path: the Path attribute if it starts with '/', else the
 *      directory of u's path (default-path, 5.1.4);
 *   3. its domain: none → host-only for u's host; an IP host → the
 *      Domain must be the host itself, and the cookie is host-only; else
 *      the Domain (one leading '.' dropped, lower-cased, ASCII, no
 *      trailing '.') must be the host or a suffix of it after a '.';
 *      anything else drops the cookie;
 *   4. its expiry: Max-Age < 0 (as read: "0" too) or an Expires not after
 *      now deletes the entry of the same (key, domain, path, name); a
 *      positive Max-Age (which wins) or a later Expires makes it
 *      persistent; neither makes a session cookie (never expires here);
 *   5. it replaces the entry of the same (key, domain, path, name),
 *      keeping that one's creation order, or is added as the newest.
 * Reading (Go's cookies), for a request to u: expired persistent entries
 * of u's key are dropped; the others go if their domain matches (equal,
 * or a domain cookie whose domain is a '.'-suffix of the host), their
 * path matches (5.1.4) and, for a Secure one, u is https or the domain is
 * localhost or a loopback IP; longest path first, then oldest.
 *
 * Locking: mu guards every field below it; each public function takes it
 * once (the jar's functions do not call each other under it). The time
 * is a parameter of the _at functions so tests can move the clock.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "http/cookie.h"
#include "http/http.h"
#include "http/url.h"

/* The end of a session cookie's life: 9999-12-31T23:59:59Z, as Go's. */
#define END_OF_TIME INT64_C(253402300799)

typedef struct jentry {
    char *key, *name, *value, *domain, *path; /* one allocation, key first */
    bool quoted, secure, http_only, persistent, host_only;
    int64_t expires;
    uint64_t seq;
} jentry;

struct goc_http_cookie_jar {
    goc_mutex mu;
    jentry **v; /* mu */
    size_t n, cap;
    uint64_t next_seq; /* mu */
};

/* mu is held (by someone: a goc_mutex records no owner). */
#define ASSERT_LOCKED(j) GOC_ASSERT(__atomic_load_n(&(j)->mu.state_, __ATOMIC_RELAXED) & 1)

GOC_API goc_http_cookie_jar *goc_http_cookie_jar_new(void)
{
    return calloc(1, sizeof(goc_http_cookie_jar));
}

GOC_API void goc_http_cookie_jar_free(goc_http_cookie_jar *j)
{
    if (!j)
        return;
    for (size_t i = 0; i < j->n; i++)
        free(j->v[i]);
    free(j->v);
    free(j);
}

/* ---- hosts, keys, paths ---------------------------------------------------- */

static bool is_ip(const char *host)
{
    unsigned char ip[16];
    /* a ':' or '%' makes no host name: treat it as an IP (Go's isIP) */
    return strpbrk(host, ":%") || goc__ip_parse(host, strlen(host), ip);
}

/* Go's canonicalHost of u's host into buf: the port cut, one trailing
 * '.' dropped, lower-cased. false: unusable (a bad host:port, non-ASCII,
 * which Go would IDNA-encode, or too long). */
static bool canonical_host(const char *host, char *buf, size_t size)
{
    const char *h = host, *p;
    size_t hn = strlen(host), pn, colons = 0;
    for (const char *c = host; *c; c++)
        colons += *c == ':';
    bool has_port = colons == 1 || (colons > 1 && host[0] == '[' && strstr(host, "]:"));
    if (has_port && !goc__split_host_port(host, strlen(host), &h, &hn, &p, &pn))
        return false;
    if (!has_port && hn >= 2 && h[0] == '[' && h[hn - 1] == ']')
        h++, hn -= 2; /* "[::1]" as "[::1]:80" gives it (Go keeps the brackets) */
    if (hn > 0 && h[hn - 1] == '.')
        hn--;
    if (hn >= size)
        return false;
    for (size_t i = 0; i < hn; i++) {
        unsigned char c = (unsigned char)h[i];
        if (c >= 0x80)
            return false;
        buf[i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
    buf[hn] = '\0';
    return true;
}

/* Go's jarKey without a public suffix list: the last two labels. */
static const char *jar_key(const char *host)
{
    if (is_ip(host))
        return host;
    const char *dot = strrchr(host, '.');
    if (!dot || dot == host)
        return host;
    const char *prev = NULL;
    for (const char *c = host; c < dot - 1; c++)
        if (*c == '.')
            prev = c;
    return prev ? prev + 1 : host;
}

/* s ends in "." + suffix. */
static bool has_dot_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n > m && s[n - m - 1] == '.' && memcmp(s + n - m, suffix, m) == 0;
}

/* RFC 6265 5.1.4's default-path of a request path, into buf. */
static void default_path(const char *path, char *buf, size_t size)
{
    const char *slash = path[0] == '/' ? strrchr(path, '/') : NULL;
    size_t n = slash && slash != path ? (size_t)(slash - path) : 1;
    if (n >= size)
        n = 1;
    memcpy(buf, slash && slash != path ? path : "/", n);
    buf[n] = '\0';
}

/* RFC 6265 5.1.4's path-match. */
static bool path_match(const char *cookie_path, const char *req)
{
    size_t n = strlen(cookie_path);
    if (strcmp(cookie_path, req) == 0)
        return true;
    return strncmp(req, cookie_path, n) == 0 && n > 0 &&
           (cookie_path[n - 1] == '/' || req[n] == '/');
}

static bool is_localhost(const char *d)
{
    size_t n = strlen(d);
    if (n > 0 && d[n - 1] == '.')
        n--;
    const char *dot = memrchr(d, '.', n);
    const char *last = dot ? dot + 1 : d;
    return (size_t)(d + n - last) == 9 && strncasecmp(last, "localhost", 9) == 0;
}

static bool secure_match(const jentry *e, bool https)
{
    unsigned char ip[16];
    if (!e->secure || https || is_localhost(e->domain))
        return true;
    return goc__ip_parse(e->domain, strlen(e->domain), ip) && goc__ip_is_loopback(ip);
}

/* ---- setting ---------------------------------------------------------------- */

/* Go's domainAndType: the cookie's domain into buf (size bytes) and
 * whether it is host-only; false drops the cookie. */
static bool domain_and_type(const char *host, goc__span d, char *buf, size_t size, bool *host_only)
{
    *host_only = true;
    if (d.n == 0 || is_ip(host)) {
        if (d.n != 0 && (d.n != strlen(host) || memcmp(d.p, host, d.n) != 0))
            return false; /* an IP host sets cookies for itself only */
        snprintf(buf, size, "%s", host);
        return true;
    }
    if (d.p[0] == '.')
        d.p++, d.n--;
    if (d.n == 0 || d.p[0] == '.' || d.p[d.n - 1] == '.' || d.n >= size)
        return false; /* "Domain=.", "..x", "x." */
    for (size_t i = 0; i < d.n; i++) {
        unsigned char c = (unsigned char)d.p[i];
        if (c >= 0x80)
            return false;
        buf[i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
    buf[d.n] = '\0';
    if (strcmp(host, buf) != 0 && !has_dot_suffix(host, buf))
        return false; /* www.a.com cannot set cookies for b.com */
    *host_only = false;
    return true;
}

/* s[0, n) and a NUL at *at, which advances past them. */
static char *put(char **at, const char *s, size_t n)
{
    char *p = *at;
    memcpy(p, s, n);
    p[n] = '\0';
    *at += n + 1;
    return p;
}

static jentry *entry_new(const char *key, const goc__set_cookie *c, const char *domain,
                         const char *path, size_t path_n)
{
    size_t kn = strlen(key), dn = strlen(domain);
    jentry *e = malloc(sizeof *e + kn + c->name.n + c->value.n + dn + path_n + 5);
    if (!e)
        return NULL;
    *e = (jentry){0}; /* a session cookie's persistent and expires too */
    char *at = (char *)(e + 1);
    e->key = put(&at, key, kn);
    e->name = put(&at, c->name.p, c->name.n);
    e->value = put(&at, c->value.p, c->value.n);
    e->domain = put(&at, domain, dn);
    e->path = put(&at, path, path_n);
    e->quoted = c->quoted;
    e->secure = c->secure;
    e->http_only = c->http_only;
    return e;
}

/* The index of the entry with e's key, domain, path and name, or -1.
 * mu held. */
static ssize_t find(goc_http_cookie_jar *j, const jentry *e)
{
    ASSERT_LOCKED(j);
    for (size_t i = 0; i < j->n; i++) {
        const jentry *x = j->v[i];
        if (strcmp(x->name, e->name) == 0 && strcmp(x->path, e->path) == 0 &&
            strcmp(x->domain, e->domain) == 0 && strcmp(x->key, e->key) == 0)
            return (ssize_t)i;
    }
    return -1;
}

static void remove_at(goc_http_cookie_jar *j, size_t i)
{
    ASSERT_LOCKED(j);
    free(j->v[i]);
    j->v[i] = j->v[--j->n];
}

/* Store e (owned) in j, replacing its namesake, or delete that one if
 * remove. 0 or -ENOMEM. mu held. */
static int store(goc_http_cookie_jar *j, jentry *e, bool remove)
{
    ASSERT_LOCKED(j);
    ssize_t i = find(j, e);
    if (remove) {
        if (i >= 0)
            remove_at(j, (size_t)i);
        free(e);
        return 0;
    }
    if (i >= 0) {
        e->seq = j->v[i]->seq;
        free(j->v[i]);
        j->v[i] = e;
        return 0;
    }
    if (j->n == j->cap) {
        size_t cap = j->cap ? 2 * j->cap : 16;
        jentry **v = realloc(j->v, cap * sizeof *v);
        if (!v) {
            free(e);
            return -ENOMEM;
        }
        j->v = v;
        j->cap = cap;
    }
    e->seq = j->next_seq++;
    j->v[j->n++] = e;
    return 0;
}

/* One Set-Cookie line of a response from host (key, default path dpath)
 * at now. 0 or -ENOMEM. mu held. */
static int set_one(goc_http_cookie_jar *j, const char *line, const char *host, const char *key,
                   const char *dpath, int64_t now)
{
    goc__set_cookie c;
    char domain[256];
    bool host_only, remove = false;
    if (goc__parse_set_cookie(line, &c) < 0 ||
        !domain_and_type(host, c.domain, domain, sizeof domain, &host_only))
        return 0; /* dropped, as Go drops it */
    bool own_path = c.path.n > 0 && c.path.p[0] == '/';
    jentry *e = entry_new(key, &c, domain, own_path ? c.path.p : dpath,
                          own_path ? c.path.n : strlen(dpath));
    if (!e)
        return -ENOMEM;
    e->host_only = host_only;
    if (c.max_age < 0) {
        remove = true;
    } else if (c.max_age > 0) {
        e->expires = c.max_age > END_OF_TIME - now ? END_OF_TIME : now + c.max_age;
        e->persistent = true;
    } else if (c.has_expires) {
        remove = c.expires <= now;
        e->expires = c.expires;
        e->persistent = true;
    } else {
        e->expires = END_OF_TIME;
    }
    return store(j, e, remove);
}

static bool http_scheme(const goc_url *u, bool *https)
{
    const char *s = u->scheme ? u->scheme : "";
    *https = strcmp(s, "https") == 0;
    return *https || strcmp(s, "http") == 0;
}

int goc__http_cookie_jar_set_cookies_at(goc_http_cookie_jar *j, const goc_url *u,
                                        const char *const *set_cookie, size_t n, int64_t now)
{
    char host[256], dpath[1024];
    bool https;
    if (n == 0 || !http_scheme(u, &https) ||
        !canonical_host(u->host ? u->host : "", host, sizeof host))
        return 0;
    const char *key = jar_key(host);
    default_path(u->path ? u->path : "", dpath, sizeof dpath);
    int rc = 0;
    goc_mutex_lock(&j->mu);
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = set_one(j, set_cookie[i], host, key, dpath, now);
    goc_mutex_unlock(&j->mu);
    return rc;
}

GOC_API int goc_http_cookie_jar_set_cookies(goc_http_cookie_jar *j, const goc_url *u,
                                            const char *const *set_cookie, size_t n)
{
    return goc__http_cookie_jar_set_cookies_at(j, u, set_cookie, n, (int64_t)time(NULL));
}

/* ---- reading ------------------------------------------------------------------- */

static int by_path_then_age(const void *a, const void *b)
{
    const jentry *x = *(const jentry *const *)a, *y = *(const jentry *const *)b;
    size_t xn = strlen(x->path), yn = strlen(y->path);
    if (xn != yn)
        return xn > yn ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* "name=value; ..." of sel[0, n); value quoted if it came quoted or
 * holds a space or comma (Go's sanitizeCookieValue). */
static char *cookie_line(jentry **sel, size_t n)
{
    goc__ubuf b = {0};
    for (size_t i = 0; i < n; i++) {
        const jentry *e = sel[i];
        bool q = e->quoted || strpbrk(e->value, " ,");
        if (i > 0)
            goc__ubuf_adds(&b, "; ");
        goc__ubuf_adds(&b, e->name);
        goc__ubuf_addc(&b, '=');
        if (q)
            goc__ubuf_addc(&b, '"');
        goc__ubuf_adds(&b, e->value);
        if (q)
            goc__ubuf_addc(&b, '"');
    }
    return goc__ubuf_take(&b);
}

char *goc__http_cookie_jar_cookies_at(goc_http_cookie_jar *j, const goc_url *u, int64_t now)
{
    char host[256];
    bool https;
    if (!http_scheme(u, &https) || !canonical_host(u->host ? u->host : "", host, sizeof host))
        return NULL;
    const char *key = jar_key(host), *path = u->path && u->path[0] ? u->path : "/";
    char *line = NULL;
    goc_mutex_lock(&j->mu);
    jentry **sel = malloc((j->n ? j->n : 1) * sizeof *sel);
    size_t ns = 0;
    for (size_t i = 0; sel && i < j->n;) {
        jentry *e = j->v[i];
        if (strcmp(e->key, key) != 0) {
            i++;
            continue;
        }
        if (e->persistent && e->expires <= now) {
            remove_at(j, i); /* moves the last entry to i: look at i again */
            continue;
        }
        bool domain_ok =
            strcmp(e->domain, host) == 0 || (!e->host_only && has_dot_suffix(host, e->domain));
        if (domain_ok && path_match(e->path, path) && secure_match(e, https))
            sel[ns++] = e;
        i++;
    }
    if (ns > 0) {
        qsort(sel, ns, sizeof *sel, by_path_then_age);
        line = cookie_line(sel, ns);
    }
    goc_mutex_unlock(&j->mu);
    free(sel);
    return line;
}

GOC_API char *goc_http_cookie_jar_cookies(goc_http_cookie_jar *j, const goc_url *u)
{
    return goc__http_cookie_jar_cookies_at(j, u, (int64_t)time(NULL));
}

static int store_set(void *arg, const goc_url *u, const char *const *set_cookie, size_t n)
{
    return goc_http_cookie_jar_set_cookies(arg, u, set_cookie, n);
}

static char *store_get(void *arg, const goc_url *u)
{
    return goc_http_cookie_jar_cookies(arg, u);
}

GOC_API goc_http_cookie_store goc_http_cookie_jar_store(goc_http_cookie_jar *j)
{
    return (goc_http_cookie_store){store_set, store_get, j};
}
