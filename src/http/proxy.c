/*
 * proxy.c — which proxy a request goes through: Go's
 * http.ProxyFromEnvironment (golang.org/x/net/http/httpproxy), read from
 * a goc_http_proxy_config that goc_http_proxy_config_from_env fills.
 *
 * The decision, in Go's order, for a request URL u:
 *   1. the proxy value by u's scheme (https_proxy for https, http_proxy
 *      for http; none for any other scheme or an empty value): none →
 *      direct;
 *   2. the value parsed as a URL; without an http, https or socks5
 *      scheme it is read again as "http://" + value (so "proxy:3128"
 *      works); failing both → -EINVAL naming it;
 *   3. in a CGI script an http_proxy is refused (the Proxy request field
 *      sets HTTP_PROXY there: "httpoxy");
 *   4. u's host and port (the scheme's default if none): "localhost" and
 *      loopback IPs are reached directly, and so is any host a no_proxy
 *      entry matches (the header's comment lists the forms);
 *   5. a socks5 proxy → -ENOTSUP (no SOCKS client yet).
 * Go's differences here: a value that does not parse is an error, not
 * silently no proxy; no_proxy entries may also be separated by spaces
 * (as curl's); non-ASCII host names are compared as bytes (no IDNA).
 *
 * No state: the config is read during the call only. Any thread.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http.h"
#include "http/url.h"

static const char *env_any(const char *upper, const char *lower)
{
    const char *v = getenv(upper);
    if (v && *v)
        return v;
    v = getenv(lower);
    return v && *v ? v : NULL;
}

GOC_API void goc_http_proxy_config_from_env(goc_http_proxy_config *cfg)
{
    cfg->http_proxy = env_any("HTTP_PROXY", "http_proxy");
    cfg->https_proxy = env_any("HTTPS_PROXY", "https_proxy");
    cfg->no_proxy = env_any("NO_PROXY", "no_proxy");
    const char *rm = getenv("REQUEST_METHOD");
    cfg->cgi = rm && *rm;
}

/* ---- IP addresses -------------------------------------------------------- */

typedef struct ip16 {
    unsigned char b[16];
} ip16;

static const unsigned char v4prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

bool goc__ip_parse(const char *s, size_t n, unsigned char ip[16])
{
    char buf[64];
    if (n == 0 || n >= sizeof buf)
        return false;
    memcpy(buf, s, n);
    buf[n] = '\0';
    if (inet_pton(AF_INET, buf, ip + 12) == 1) {
        memcpy(ip, v4prefix, 12);
        return true;
    }
    return inet_pton(AF_INET6, buf, ip) == 1;
}

static bool parse_ip(const char *s, size_t n, ip16 *ip)
{
    return goc__ip_parse(s, n, ip->b);
}

static bool is_v4(const ip16 *ip)
{
    return memcmp(ip->b, v4prefix, 12) == 0;
}

bool goc__ip_is_loopback(const unsigned char ip[16])
{
    static const unsigned char v6lo[16] = {[15] = 1};
    return memcmp(ip, v4prefix, 12) == 0 ? ip[12] == 127 : memcmp(ip, v6lo, 16) == 0;
}

/* The first bits bits of a and b agree. */
static bool prefix_eq(const unsigned char *a, const unsigned char *b, int bits)
{
    int whole = bits / 8, rest = bits % 8;
    if (memcmp(a, b, (size_t)whole) != 0)
        return false;
    if (rest == 0)
        return true;
    unsigned char mask = (unsigned char)(0xff << (8 - rest));
    return (a[whole] & mask) == (b[whole] & mask);
}

/* A CIDR entry "ip/bits" of e[0, n): whether it is one, and whether ip
 * (NULL: the host is no IP) lies in it. An IPv4 block holds IPv4
 * addresses only, an IPv6 block IPv6 ones, as Go's IPNet.Contains. */
static bool cidr_entry(const char *e, size_t n, const ip16 *ip, bool *match)
{
    const char *slash = memchr(e, '/', n);
    ip16 net;
    if (!slash || !parse_ip(e, (size_t)(slash - e), &net))
        return false;
    int bits = 0;
    size_t dn = n - (size_t)(slash - e) - 1;
    if (dn == 0 || dn > 3)
        return false;
    for (size_t i = 0; i < dn; i++) {
        char c = slash[1 + i];
        if (c < '0' || c > '9')
            return false;
        bits = bits * 10 + (c - '0');
    }
    bool v4 = is_v4(&net) && !memchr(e, ':', (size_t)(slash - e));
    if (bits > (v4 ? 32 : 128))
        return false;
    *match = ip && v4 == is_v4(ip) && prefix_eq(ip->b, net.b, v4 ? 96 + bits : bits);
    return true;
}

/* ---- no_proxy ------------------------------------------------------------ */

bool goc__split_host_port(const char *e, size_t n, const char **h, size_t *hn, const char **p,
                          size_t *pn)
{
    const char *colon = memrchr(e, ':', n);
    if (!colon)
        return false; /* missing port */
    *p = colon + 1;
    *pn = n - (size_t)(colon - e) - 1;
    *h = e;
    *hn = (size_t)(colon - e);
    if (n > 0 && e[0] == '[') {
        const char *rb = memchr(e, ']', n);
        if (!rb || rb + 1 != colon)
            return false;
        *h = e + 1;
        *hn = (size_t)(rb - e) - 1;
    } else if (memchr(e, ':', *hn) || memchr(e, '[', *hn) || memchr(e, ']', *hn)) {
        return false; /* too many colons, or a stray bracket */
    }
    return !memchr(*p, '[', *pn) && !memchr(*p, ']', *pn);
}

/* The request's host (lower-cased), port and IP (NULL: not an IP). */
typedef struct target {
    const char *host, *port;
    size_t hn, pn;
    const ip16 *ip;
} target;

static bool port_ok(const target *t, const char *port, size_t pn)
{
    return pn == 0 || (pn == t->pn && memcmp(port, t->port, pn) == 0);
}

/* Whether one no_proxy entry e[0, n) (trimmed, lower-cased) covers t. */
static bool entry_matches(const char *e, size_t n, const target *t)
{
    bool match;
    if (n == 1 && e[0] == '*')
        return true;
    if (cidr_entry(e, n, t->ip, &match))
        return match;
    const char *h, *p;
    size_t hn, pn;
    if (goc__split_host_port(e, n, &h, &hn, &p, &pn)) {
        if (hn == 0)
            return false; /* ":80": no host, malformed */
    } else {
        h = e, hn = n, p = e + n, pn = 0;
    }
    ip16 ip;
    if (parse_ip(h, hn, &ip))
        return t->ip && memcmp(ip.b, t->ip->b, 16) == 0 && port_ok(t, p, pn);
    if (hn == 0)
        return false;
    if (hn >= 2 && h[0] == '*' && h[1] == '.')
        h++, hn--;
    /* "foo.com": foo.com and *.foo.com; ".foo.com": *.foo.com only */
    bool match_host = h[0] != '.';
    bool sub = t->hn > hn && memcmp(t->host + t->hn - hn, h, hn) == 0 &&
               (!match_host || t->host[t->hn - hn - 1] == '.');
    bool same = match_host && t->hn == hn && memcmp(t->host, h, hn) == 0;
    return (sub || same) && port_ok(t, p, pn);
}

static bool is_sep(char c)
{
    return c == ',' || c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Whether no_proxy sends t direct. */
static bool no_proxy_matches(const char *list, const target *t)
{
    char e[256];
    for (const char *p = list ? list : ""; *p;) {
        while (is_sep(*p))
            p++;
        size_t n = 0;
        while (p[n] && !is_sep(p[n]))
            n++;
        if (n > 0 && n < sizeof e) {
            for (size_t i = 0; i < n; i++)
                e[i] = (p[i] >= 'A' && p[i] <= 'Z') ? (char)(p[i] + 32) : p[i];
            if (entry_matches(e, n, t))
                return true;
        }
        p += n;
    }
    return false;
}

/* ---- the decision --------------------------------------------------------- */

static bool proxy_scheme_ok(const char *s)
{
    return strcmp(s, "http") == 0 || strcmp(s, "https") == 0 || strcmp(s, "socks5") == 0;
}

/* Go's parseProxy: v as a URL, else as "http://" + v. */
static int parse_proxy(const char *v, goc_url **out)
{
    char first[256] = "";
    goc_url *u = NULL;
    int rc = goc_url_parse(v, &u);
    if (rc == -ENOMEM)
        return rc;
    if (rc < 0)
        snprintf(first, sizeof first, "%s", goc_errmsg());
    if (rc < 0 || !proxy_scheme_ok(u->scheme)) {
        size_t n = strlen(v);
        char *s = malloc(n + 8);
        if (!s) {
            goc_url_free(u);
            return -ENOMEM;
        }
        memcpy(s, "http://", 7);
        memcpy(s + 7, v, n + 1);
        goc_url *u2;
        int rc2 = goc_url_parse(s, &u2);
        free(s);
        if (rc2 == 0 || rc2 == -ENOMEM) {
            goc_url_free(u);
            *out = u2;
            return rc2;
        }
    }
    if (rc < 0) {
        char q[128];
        goc__url_quote(v, strlen(v), q, sizeof q);
        return goc__errorf(-EINVAL, "invalid proxy address %s: %s", q, first);
    }
    *out = u;
    return 0;
}

/* u's host and port, as Go's canonicalAddr, into t (host lower-cased in
 * hbuf). false: a host too long to be one. */
static bool target_of(const goc_url *u, char *hbuf, size_t hsize, ip16 *ip, target *t)
{
    const char *host = u->host ? u->host : "", *scheme = u->scheme ? u->scheme : "";
    const char *h;
    size_t hn;
    goc__url_split_host_port(host, strlen(host), &h, &hn, &t->port, &t->pn);
    if (hn >= hsize)
        return false;
    if (t->pn == 0) {
        t->port = strcmp(scheme, "https") == 0 ? "443" : strcmp(scheme, "http") == 0 ? "80" : "";
        t->pn = strlen(t->port);
    }
    for (size_t i = 0; i < hn; i++)
        hbuf[i] = (h[i] >= 'A' && h[i] <= 'Z') ? (char)(h[i] + 32) : h[i];
    hbuf[hn] = '\0';
    t->host = hbuf;
    t->hn = hn;
    t->ip = parse_ip(hbuf, hn, ip) ? ip : NULL;
    return true;
}

GOC_API int goc_http_proxy_for(const goc_http_proxy_config *cfg, const goc_url *u, goc_url **proxy)
{
    const char *scheme = u->scheme ? u->scheme : "", *v = NULL;
    *proxy = NULL;
    if (strcmp(scheme, "https") == 0)
        v = cfg->https_proxy;
    else if (strcmp(scheme, "http") == 0)
        v = cfg->http_proxy;
    if (!v || !*v)
        return 0;
    goc_url *p = NULL;
    int rc = parse_proxy(v, &p);
    if (rc < 0)
        return rc;
    if (cfg->cgi && strcmp(scheme, "http") == 0) {
        goc_url_free(p);
        return goc__errset(-EPERM, "refusing to use HTTP_PROXY value in CGI environment; "
                                   "see golang.org/s/cgihttpproxy");
    }
    char hbuf[256];
    ip16 ip;
    target t;
    if (!target_of(u, hbuf, sizeof hbuf, &ip, &t) || strcmp(hbuf, "localhost") == 0 ||
        (t.ip && goc__ip_is_loopback(t.ip->b)) || no_proxy_matches(cfg->no_proxy, &t)) {
        goc_url_free(p);
        return 0;
    }
    if (strcmp(p->scheme, "socks5") == 0) {
        goc_url_free(p);
        return goc__errset(-ENOTSUP, "proxy: socks5 proxies are not supported yet");
    }
    *proxy = p;
    return 0;
}
