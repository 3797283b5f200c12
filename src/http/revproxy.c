/*
 * revproxy.c — the reverse proxy handler (Go's httputil.ReverseProxy).
 *
 * One request, on the server's goroutine for it, from start to end:
 *   1. build the outgoing request: the URL (the target's scheme and host,
 *      its base path joined with the request's path as received, never
 *      re-encoded), the fields minus hop-by-hop ones, X-Forwarded-* and
 *      Forwarded, the body as a reader over the incoming body (its length,
 *      or chunked when unknown);
 *   2. rewrite hook, then send it (round_trip hook, or the client), with
 *      the incoming request's ctx: a client that goes away cancels the
 *      upstream exchange;
 *   3. copy the response head minus hop-by-hop fields, stream the body
 *      (flushing when it has no length or is an event stream), then the
 *      trailers; a 101 becomes a tunnel (revproxy_tunnel.c).
 * Nothing is passed through as bytes: the server parsed the request, the
 * client re-frames it, the client parses the response and the server
 * re-frames that. So what reaches either side is exactly one message.
 *
 * The proxy object is read-only after goc_http_reverse_proxy_new: any
 * number of goroutines serve through it without a lock.
 */
#include "http/client.h"
#include "http/conn.h"
#include "http/revproxy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define BUF_SMALL 4096
#define BUF_LARGE (64u << 10)

/* Whether name is one of the fields that describe one connection, not the
 * message (RFC 9110 7.6.1), or framing the next hop redoes itself:
 * Connection, Proxy-Connection, Keep-Alive, Proxy-Authenticate,
 * Proxy-Authorization, Te, Trailer, Transfer-Encoding, Upgrade. Every
 * field of every proxied message comes through here: by length first. */
static bool fixed_hop_name(const char *name)
{
    switch (strlen(name)) {
    case 2:
        return strcasecmp(name, "Te") == 0;
    case 7:
        return strcasecmp(name, "Trailer") == 0 || strcasecmp(name, "Upgrade") == 0;
    case 10:
        return strcasecmp(name, "Connection") == 0 || strcasecmp(name, "Keep-Alive") == 0;
    case 16:
        return strcasecmp(name, "Proxy-Connection") == 0;
    case 17:
        return strcasecmp(name, "Transfer-Encoding") == 0;
    case 18:
        return strcasecmp(name, "Proxy-Authenticate") == 0;
    case 19:
        return strcasecmp(name, "Proxy-Authorization") == 0;
    default:
        return false;
    }
}

static bool name_eq(const char *a, const char *b)
{
    return strcasecmp(a, b) == 0;
}

/* Whether token tok (len bytes) is one of the comma-separated tokens of
 * the field values vals[0..n). */
static bool list_has(const char *const *vals, size_t n, const char *tok, size_t len)
{
    for (size_t i = 0; i < n; i++) {
        const char *p = vals[i];
        while (*p) {
            while (*p == ' ' || *p == '\t' || *p == ',')
                p++;
            const char *s = p;
            while (*p && *p != ',')
                p++;
            const char *e = p;
            while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
                e--;
            if ((size_t)(e - s) == len && strncasecmp(s, tok, len) == 0)
                return true;
        }
    }
    return false;
}

void goc__hop_filter_init(goc__hop_filter *f, const goc_http_header *h)
{
    size_t n = goc_http_header_values(h, "Connection", f->conn, 16);
    f->nconn = n > 16 ? 16 : n;
}

bool goc__hop_filter_drops(const goc__hop_filter *f, const char *name)
{
    return fixed_hop_name(name) || (f->nconn && list_has(f->conn, f->nconn, name, strlen(name)));
}

bool goc__http_is_hop_field(const goc_http_header *h, const char *name)
{
    goc__hop_filter f;
    goc__hop_filter_init(&f, h);
    return goc__hop_filter_drops(&f, name);
}

bool goc__http_wants_upgrade(const goc_http_header *h, const char **proto)
{
    const char *conn[16];
    size_t n = goc_http_header_values(h, "Connection", conn, 16);
    if (n > 16)
        n = 16;
    *proto = goc_http_header_get(h, "Upgrade");
    return *proto && **proto && n && list_has(conn, n, "upgrade", 7);
}

/* ---- the outgoing request --------------------------------------------------- */

/* Append s to b (room for cap bytes and a NUL, *n used): false, and b
 * left as it was, if it does not fit. No printf: every proxied request
 * builds these. */
static bool cat(char *b, size_t cap, size_t *n, const char *s, size_t len)
{
    if (*n + len >= cap)
        return false;
    memcpy(b + *n, s, len);
    *n += len;
    b[*n] = 0;
    return true;
}

static bool cats(char *b, size_t cap, size_t *n, const char *s)
{
    return cat(b, cap, n, s, strlen(s));
}

/* The outgoing URL: the target's base path and the request's (escaped as
 * received), their queries joined with '&' (Go's joinURLPath). */
static char *outgoing_url(const goc_http_reverse_proxy *p, goc_http_request *in)
{
    const char *scheme = "http", *host = in->host[0] ? in->host : "localhost", *base = "", *bq = "";
    char *ebase = NULL;
    if (p->target) {
        scheme = p->target->scheme;
        host = p->target->host;
        if (p->target->path[0] || p->target->raw_path[0]) {
            if (!(ebase = goc_url_escaped_path(p->target)))
                return NULL;
            base = ebase;
        }
        bq = p->target->raw_query;
    }
    const char *path = in->raw_path[0] ? in->raw_path : "/";
    size_t blen = strlen(base);
    if (blen && base[blen - 1] == '/' && path[0] == '/')
        blen--; /* one slash between them */
    const char *q = in->raw_query;
    size_t cap = strlen(scheme) + strlen(host) + blen + strlen(path) + strlen(bq) + strlen(q) + 8;
    char *url = malloc(cap);
    size_t n = 0;
    if (url) {
        url[0] = 0;
        cats(url, cap, &n, scheme);
        cat(url, cap, &n, "://", 3);
        cats(url, cap, &n, host);
        cat(url, cap, &n, base, blen);
        cats(url, cap, &n, path);
        if (*bq || *q) {
            cat(url, cap, &n, "?", 1);
            cats(url, cap, &n, bq);
            if (*bq && *q)
                cat(url, cap, &n, "&", 1);
            cats(url, cap, &n, q);
        }
    }
    free(ebase);
    return url;
}

static ssize_t body_read(void *arg, void *buf, size_t n)
{
    return goc_http_body_read(arg, buf, n);
}

/* X-Forwarded-For/-Host/-Proto and Forwarded (RFC 7239). */
static int forwarded_fields(const goc_http_reverse_proxy *p, goc_http_request *in,
                            goc_http_header *h, bool tls)
{
    char ip[64], v[1024];
    goc_http_client_ip(in, ip, sizeof ip);
    const char *proto = tls ? "https" : "http";
    const char *xff =
        p->o.trust_forwarded ? goc_http_header_get(in->header, "X-Forwarded-For") : NULL;
    size_t n = 0;
    v[0] = 0;
    if (xff && cats(v, sizeof v, &n, xff) && cat(v, sizeof v, &n, ", ", 2) &&
        cats(v, sizeof v, &n, ip))
        xff = v;
    else
        xff = ip;
    int rc = goc_http_header_set(h, "X-Forwarded-For", xff);
    if (rc == 0 && in->host[0])
        rc = goc_http_header_set(h, "X-Forwarded-Host", in->host);
    if (rc == 0)
        rc = goc_http_header_set(h, "X-Forwarded-Proto", proto);
    if (rc < 0)
        return rc;
    /* Forwarded: an IPv6 node is quoted and bracketed, the host quoted. */
    const char *prior = p->o.trust_forwarded ? goc_http_header_get(in->header, "Forwarded") : NULL;
    n = 0;
    v[0] = 0;
    if (prior && !(cats(v, sizeof v, &n, prior) && cat(v, sizeof v, &n, ", ", 2))) {
        n = 0; /* too long to keep: ours alone */
        v[0] = 0;
    }
    bool v6 = strchr(ip, ':') != NULL;
    cats(v, sizeof v, &n, v6 ? "for=\"[" : "for=");
    cats(v, sizeof v, &n, ip);
    cats(v, sizeof v, &n, v6 ? "]\";proto=" : ";proto=");
    cats(v, sizeof v, &n, proto);
    size_t keep = n;
    if (in->host[0] && !(cat(v, sizeof v, &n, ";host=\"", 7) && cats(v, sizeof v, &n, in->host) &&
                         cat(v, sizeof v, &n, "\"", 1)))
        v[n = keep] = 0;
    return goc_http_header_set(h, "Forwarded", v);
}

/* The outgoing request for in. 0 and *out, or a negative errno. */
static int build_request(const goc_http_reverse_proxy *p, goc_http_request *in, bool tls,
                         const char *upgrade, goc_http_client_request **out)
{
    char *url = outgoing_url(p, in);
    if (!url)
        return -ENOMEM;
    goc_http_client_request *req;
    int rc = goc_http_new_request(goc_http_request_ctx(in), in->method, url, &req);
    free(url);
    if (rc < 0)
        return rc;
    goc_http_header *h = goc_http_client_request_header(req);
    size_t nf = goc_http_header_len(in->header);
    goc__hop_filter hop;
    goc__hop_filter_init(&hop, in->header);
    for (size_t i = 0; rc == 0 && i < nf; i++) {
        const char *name, *value;
        goc_http_header_at(in->header, i, &name, &value);
        if (goc__hop_filter_drops(&hop, name) || name_eq(name, "Host") ||
            name_eq(name, "Content-Length") || name_eq(name, "Expect") ||
            name_eq(name, "X-Forwarded-For") || name_eq(name, "Forwarded"))
            continue;
        rc = goc_http_header_add(h, name, value);
    }
    /* Te: trailers survives (the client can take trailers: so can we). */
    const char *te[8];
    size_t nte = goc_http_header_values(in->header, "Te", te, 8);
    if (rc == 0 && nte && list_has(te, nte > 8 ? 8 : nte, "trailers", 8))
        rc = goc_http_header_set(h, "Te", "trailers");
    if (rc == 0 && p->o.preserve_host && in->host[0])
        rc = goc_http_header_set(h, "Host", in->host);
    if (rc == 0 && !goc_http_header_get(in->header, "User-Agent"))
        rc = goc_http_header_set(h, "User-Agent", ""); /* none: not the client's default */
    if (rc == 0 && upgrade) {
        rc = goc_http_header_set(h, "Connection", "Upgrade");
        if (rc == 0)
            rc = goc_http_header_set(h, "Upgrade", upgrade);
    }
    if (rc == 0)
        rc = forwarded_fields(p, in, h, tls);
    if (rc == 0 && in->content_length != 0)
        rc = goc_http_client_request_set_body_reader(req, body_read, NULL, in, in->content_length);
    if (rc < 0) {
        goc_http_client_request_free(req);
        return rc;
    }
    *out = req;
    return 0;
}

/* ---- errors ------------------------------------------------------------------- */

static void default_error(goc_http_response_writer *w, int err)
{
    if (goc_http_response_status(w) != 0) {
        goc_http_abort(w); /* the head went out: the client must see a cut */
        return;
    }
    int code = err == -ETIMEDOUT ? 504 : 502;
    goc_http_header *h = goc_http_response_header(w);
    size_t n = goc_http_header_len(h);
    while (n--) { /* fields copied from a response that failed later */
        const char *name, *value;
        goc_http_header_at(h, n, &name, &value);
        goc_http_header_del(h, name);
    }
    goc_http_error(w, goc_http_status_text(code), code);
}

void goc__revproxy_fail(const goc_http_reverse_proxy *p, goc_http_response_writer *w,
                        goc_http_request *in, int err)
{
    if (goc_ctx_err(goc_http_request_ctx(in)) && err != -ETIMEDOUT)
        return; /* the client went away: nobody to answer */
    if (p->o.error_handler)
        p->o.error_handler(w, in, err, p->o.arg);
    else
        default_error(w, err);
}

/* ---- the response --------------------------------------------------------------- */

static int copy_head(goc_http_response_writer *w, const goc_http_response *resp)
{
    goc_http_header *h = goc_http_response_header(w);
    size_t nf = goc_http_header_len(resp->header);
    goc__hop_filter hop;
    goc__hop_filter_init(&hop, resp->header);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < nf; i++) {
        const char *name, *value;
        goc_http_header_at(resp->header, i, &name, &value);
        if (goc__hop_filter_drops(&hop, name))
            continue;
        rc = goc_http_header_add(h, name, value);
    }
    /* Announced trailers are announced again (the framing is ours). */
    const char *tr = goc_http_header_get(resp->header, "Trailer");
    if (rc == 0 && tr) {
        goc_http_header_del(h, "Content-Length");
        rc = goc_http_header_set(h, "Trailer", tr);
    }
    return rc;
}

static bool streams(const goc_http_reverse_proxy *p, const goc_http_response *resp)
{
    if (p->o.flush_interval < 0 || resp->content_length < 0)
        return true;
    const char *ct = goc_http_header_get(resp->header, "Content-Type");
    return ct && strncasecmp(ct, "text/event-stream", 17) == 0;
}

/* Copy the body, then the trailers. 0, or the error that cut it. */
static int copy_body(const goc_http_reverse_proxy *p, goc_http_response_writer *w,
                     goc_http_response *resp)
{
    char small[BUF_SMALL], *big = NULL, *buf = small;
    size_t cap = sizeof small;
    bool flush_each = streams(p, resp);
    int64_t last_flush = p->o.flush_interval > 0 ? goc_now() : 0;
    int rc = 0;
    for (;;) {
        ssize_t n = goc_http_response_read(resp, buf, cap);
        if (n <= 0) {
            rc = (int)n;
            break;
        }
        if (goc_http_write(w, buf, (size_t)n) < 0) {
            rc = -EPIPE; /* the client went away */
            break;
        }
        if (flush_each) {
            goc_http_flush(w);
        } else if (p->o.flush_interval > 0 && goc_now() - last_flush >= p->o.flush_interval) {
            goc_http_flush(w);
            last_flush = goc_now();
        }
        if ((size_t)n == cap && !big && (big = malloc(BUF_LARGE))) {
            buf = big; /* a large body: larger reads */
            cap = BUF_LARGE;
        }
    }
    free(big);
    if (rc == 0) {
        goc_http_header *t = goc_http_response_trailer(w);
        size_t nt = goc_http_header_len(resp->trailer);
        for (size_t i = 0; i < nt; i++) {
            const char *name, *value;
            goc_http_header_at(resp->trailer, i, &name, &value);
            goc_http_header_add(t, name, value);
        }
    }
    return rc;
}

/* ---- the handler ------------------------------------------------------------------ */

static void serve(goc_http_response_writer *w, goc_http_request *in, void *arg)
{
    goc_http_reverse_proxy *p = arg;
    bool tls = in->priv_->conn && in->priv_->conn->tls;
    const char *upgrade = NULL;
    if (!goc__http_wants_upgrade(in->header, &upgrade))
        upgrade = NULL;
    goc_http_client_request *out = NULL;
    int rc = build_request(p, in, tls, upgrade, &out);
    if (rc == 0 && p->o.rewrite)
        rc = p->o.rewrite(in, out, p->o.arg);
    goc_http_response *resp = NULL;
    if (rc == 0)
        rc = p->o.round_trip ? p->o.round_trip(in, out, &resp, p->o.arg)
                             : goc_http_client_do(p->client, out, &resp);
    goc_http_client_request_free(out);
    if (rc == 0 && p->o.modify_response)
        rc = p->o.modify_response(in, resp, p->o.arg);
    if (rc < 0) {
        goc_http_response_free(resp);
        goc__revproxy_fail(p, w, in, rc);
        return;
    }
    if (resp->status_code == 101) {
        goc__revproxy_tunnel(p, w, in, resp, upgrade);
        goc_http_response_free(resp);
        return;
    }
    rc = copy_head(w, resp);
    if (rc == 0)
        rc = goc_http_write_header(w, resp->status_code);
    if (rc == 0 && (rc = copy_body(p, w, resp)) < 0 && rc != -EPIPE)
        goc__revproxy_fail(p, w, in, rc); /* cut mid-body: abort */
    goc_http_response_free(resp);
}

int goc_http_reverse_proxy_new(const goc_http_reverse_proxy_opts *opts,
                               goc_http_reverse_proxy **out)
{
    *out = NULL;
    goc_http_reverse_proxy *p = calloc(1, sizeof *p);
    if (!p)
        return -ENOMEM;
    if (opts)
        p->o = *opts;
    int rc = 0;
    if (p->o.target) {
        rc = goc_url_parse(p->o.target, &p->target);
        if (rc == 0 && ((strcmp(p->target->scheme, "http") && strcmp(p->target->scheme, "https")) ||
                        !p->target->host[0]))
            rc = goc__errorf(-EINVAL, "httputil: reverse proxy target \"%s\" is not an http(s) URL",
                             p->o.target);
        p->o.target = NULL; /* not kept: the parsed copy is */
    }
    if (rc == 0 && !(p->client = p->o.client)) {
        goc_http_client_opts co = {
            .max_idle_per_host = 256,
            .max_redirects = -1,
            .disable_compression = true,
            .proxy = "",
            .stall_timeout = -1, /* an event stream may idle: the ctx bounds it */
        };
        p->own_client = p->client = goc_http_client_new(&co);
        if (!p->client)
            rc = -ENOMEM;
    }
    if (rc < 0) {
        goc_http_reverse_proxy_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

void goc_http_reverse_proxy_free(goc_http_reverse_proxy *p)
{
    if (!p)
        return;
    if (p->own_client)
        goc_http_client_free(p->own_client);
    goc_url_free(p->target);
    free(p);
}

goc_http_handler goc_http_reverse_proxy_handler(goc_http_reverse_proxy *p)
{
    return (goc_http_handler){serve, p};
}
