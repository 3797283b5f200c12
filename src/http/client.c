/*
 * client.c — http.Client: requests, the default client, and Do's loop
 * over redirects (Go's rules: at most 10; 301/302/303 become GET without
 * a body, 307/308 keep both when the body can be sent again; credentials
 * and cookies set by the caller are not sent to another host), with the
 * cookie jar consulted before each request and fed after each response.
 *
 * A client is shared by any number of goroutines: its options are
 * read-only after goc_http_client_new, its pool is under its lock
 * (transport.c).
 */
#include "http/client.h"

#include <goc/httputil.h>

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- clients -------------------------------------------------------------- */

static goc_duration or_default(goc_duration d, goc_duration def)
{
    return d == 0 ? def : d < 0 ? 0 : d;
}

static int client_init(goc_http_client *c, const goc_http_client_opts *opts)
{
    if (opts)
        c->opts = *opts;
    goc_http_client_opts *o = &c->opts;
    o->timeout = or_default(o->timeout, 0);
    o->stall_timeout = or_default(o->stall_timeout, 30 * GOC_SECOND);
    o->dial_timeout = or_default(o->dial_timeout, 30 * GOC_SECOND);
    o->tls_handshake_timeout = or_default(o->tls_handshake_timeout, 10 * GOC_SECOND);
    o->response_header_timeout = or_default(o->response_header_timeout, 0);
    o->expect_continue_timeout = or_default(o->expect_continue_timeout, GOC_SECOND);
    o->idle_conn_timeout = or_default(o->idle_conn_timeout, 90 * GOC_SECOND);
    if (o->idle_conn_timeout == 0)
        o->idle_conn_timeout = INT64_MAX;
    if (o->max_idle_per_host <= 0)
        o->max_idle_per_host = 128;
    if (o->max_idle <= 0)
        o->max_idle = 1024;
    if (o->max_response_header_bytes == 0)
        o->max_response_header_bytes = 1u << 20;
    if (o->max_redirects == 0)
        o->max_redirects = 10;
    c->user_agent = strdup(o->user_agent ? o->user_agent : "goc-http-client/1.1");
    if (!c->user_agent)
        return -ENOMEM;
    if (o->proxy) {
        c->proxy = strdup(o->proxy);
        if (!c->proxy)
            return -ENOMEM;
    } else {
        goc_http_proxy_config env;
        goc_http_proxy_config_from_env(&env);
        c->env_http = env.http_proxy ? strdup(env.http_proxy) : NULL;
        c->env_https = env.https_proxy ? strdup(env.https_proxy) : NULL;
        c->env_no = env.no_proxy ? strdup(env.no_proxy) : NULL;
        c->env_cgi = env.cgi;
    }
    o->proxy = NULL;
    o->user_agent = NULL;
    return goc__client_tls_init(c);
}

goc_http_client *goc_http_client_new(const goc_http_client_opts *opts)
{
    goc_http_client *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    if (client_init(c, opts) < 0) {
        goc_http_client_free(c);
        return NULL;
    }
    return c;
}

void goc_http_client_free(goc_http_client *c)
{
    if (!c || c->is_default)
        return;
    goc__transport_free(c);
    goc__client_tls_free(c);
    free(c->user_agent);
    free(c->proxy);
    free(c->env_http);
    free(c->env_https);
    free(c->env_no);
    free(c);
}

static goc_http_client default_client;
static goc_once default_once;

static void default_init(void *arg)
{
    (void)arg;
    if (client_init(&default_client, NULL) < 0)
        default_client.user_agent = "goc-http-client/1.1"; /* strdup failed: a static */
    default_client.is_default = true;
}

goc_http_client *goc_http_default_client(void)
{
    goc_once_do(&default_once, default_init, NULL);
    return &default_client;
}

int goc__client_proxy_for(goc_http_client *c, const goc_url *u, goc_url **proxy)
{
    *proxy = NULL;
    if (c->proxy) /* fixed: "" is none */
        return c->proxy[0] ? goc_url_parse(c->proxy, proxy) : 0;
    goc_http_proxy_config cfg = {c->env_http, c->env_https, c->env_no, c->env_cgi};
    return goc_http_proxy_for(&cfg, u, proxy);
}

/* ---- requests --------------------------------------------------------------- */

static bool is_token(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (*s <= ' ' || *s >= 127 || strchr("\"(),/:;<=>?@[\\]{}", *s))
            return false;
    return true;
}

/* Requests and responses come from process-wide pools: both are over
 * glibc's per-thread cache limit (1 KiB), so malloc and free of them take
 * its slow paths, twice per exchange. Without a pool (ENOMEM at first
 * use) they are plain malloc and free. */
static goc_pool *req_pool, *resp_pool;
static pthread_once_t pools_once = PTHREAD_ONCE_INIT;

static void *new_req(void *arg)
{
    (void)arg;
    return malloc(sizeof(goc_http_client_request));
}

static void *new_resp(void *arg)
{
    (void)arg;
    return malloc(sizeof(struct goc__http_cresp));
}

static void make_pools(void)
{
    req_pool = goc_pool_new(new_req, NULL, NULL);
    resp_pool = goc_pool_new(new_resp, NULL, NULL);
}

static void req_release(goc_http_client_request *req)
{
    if (req_pool)
        goc_pool_put(req_pool, req);
    else
        free(req);
}

struct goc__http_cresp *goc__http_cresp_alloc(void)
{
    pthread_once(&pools_once, make_pools);
    return resp_pool ? goc_pool_get(resp_pool) : malloc(sizeof(struct goc__http_cresp));
}

void goc__http_cresp_free(struct goc__http_cresp *r)
{
    if (resp_pool)
        goc_pool_put(resp_pool, r);
    else
        free(r);
}

int goc_http_new_request(goc_ctx *ctx, const char *method, const char *url,
                         goc_http_client_request **out)
{
    *out = NULL;
    if (!method || !*method)
        method = "GET";
    if (!is_token(method))
        return goc__errorf(-EINVAL, "net/http: invalid method \"%s\"", method);
    pthread_once(&pools_once, make_pools);
    goc_http_client_request *req = req_pool ? goc_pool_get(req_pool) : malloc(sizeof *req);
    if (!req)
        return -ENOMEM;
    memset(req, 0, offsetof(goc_http_client_request, arena0));
    goc__arena_init(&req->arena, req->arena0, sizeof req->arena0);
    goc__http_header_init(&req->header, &req->arena);
    req->method = goc__arena_strndup(&req->arena, method, strlen(method));
    int rc = req->method ? goc_url_parse(url, &req->url) : -ENOMEM;
    if (rc < 0) {
        goc__arena_reset(&req->arena);
        req_release(req);
        return rc;
    }
    req->ctx = goc_ctx_retain(ctx ? ctx : goc_ctx_background());
    *out = req;
    return 0;
}

void goc_http_client_request_free(goc_http_client_request *req)
{
    if (!req)
        return;
    goc_url_free(req->url);
    goc_ctx_release(req->ctx);
    goc__arena_reset(&req->arena);
    req_release(req);
}

goc_http_header *goc_http_client_request_header(goc_http_client_request *req)
{
    return &req->header;
}

int goc_http_client_request_set_body(goc_http_client_request *req, const void *data, size_t len)
{
    if (!data && len)
        return -EINVAL;
    req->body = (goc__hbody_src){.kind = SRC_MEM, .data = data, .len = len, .length = (int64_t)len};
    return 0;
}

int goc_http_client_request_set_body_reader(goc_http_client_request *req,
                                            ssize_t (*read)(void *arg, void *buf, size_t n),
                                            int (*rewind)(void *arg), void *arg, int64_t length)
{
    if (!read || length < -1)
        return -EINVAL;
    req->body = (goc__hbody_src){
        .kind = SRC_READER, .read = read, .rewind = rewind, .arg = arg, .length = length};
    return 0;
}

const goc_url *goc_http_client_request_url(const goc_http_client_request *req)
{
    return req->url;
}

int goc_http_client_request_set_url(goc_http_client_request *req, const char *url)
{
    goc_url *u;
    int rc = goc_url_parse(url, &u);
    if (rc < 0)
        return rc;
    goc_url_free(req->url);
    req->url = u;
    return 0;
}

int goc_http_client_request_set_host(goc_http_client_request *req, const char *hostport)
{
    if (!hostport || !*hostport || strpbrk(hostport, "/?#@ \t\r\n"))
        return -EINVAL;
    /* The URL is the request's own: only its host changes, and the new
     * one lives in the request's arena (a balancer sets it per attempt). */
    char *h = goc__arena_strndup(&req->arena, hostport, strlen(hostport));
    if (!h)
        return -ENOMEM;
    req->url->host = h;
    return 0;
}

bool goc_http_client_request_body_sent(const goc_http_client_request *req)
{
    return req->body.used;
}

int goc_http_client_request_set_body_fd(goc_http_client_request *req, int fd, off_t offset,
                                        int64_t length)
{
    if (fd < 0 || offset < 0 || length < 0)
        return -EINVAL;
    req->body = (goc__hbody_src){.kind = SRC_FD, .fd = fd, .off = offset, .length = length};
    return 0;
}

int goc_http_client_request_set_basic_auth(goc_http_client_request *req, const char *user,
                                           const char *password)
{
    char auth[768];
    if (goc__http_basic_auth(user, password, auth, sizeof auth) < 0)
        return -EINVAL;
    return goc_http_header_set(&req->header, "Authorization", auth);
}

/* ---- Do: redirects ----------------------------------------------------------- */

/* Go's error text names the request: `Get "http://h/": ...`. */
static int wrap_err(int rc, const char *method, const goc_url *u)
{
    char inner[256], m[16];
    snprintf(inner, sizeof inner, "%s", goc_errmsg());
    if (goc_errcode() != rc)
        snprintf(inner, sizeof inner, "%s", goc_strerror(rc));
    size_t i = 0;
    for (; method[i] && i + 1 < sizeof m; i++)
        m[i] = (char)(i ? tolower((unsigned char)method[i]) : method[i]);
    m[i] = 0;
    char *s = goc_url_string(u);
    goc__errorf(rc, "%s \"%s\": %s", m, s ? s : "", inner);
    free(s);
    return rc;
}

static bool is_redirect(int code)
{
    return code == 301 || code == 302 || code == 303 || code == 307 || code == 308;
}

/* Go's shouldCopyHeaderOnRedirect: credentials go to the same host or
 * its subdomains only. */
static bool same_or_sub(const goc_url *from, const goc_url *to)
{
    char a[256], b[256];
    if (goc_url_hostname(from, a, sizeof a) < 0 || goc_url_hostname(to, b, sizeof b) < 0)
        return false;
    size_t la = strlen(a), lb = strlen(b);
    if (strcasecmp(a, b) == 0)
        return true;
    return lb > la && b[lb - la - 1] == '.' && strcasecmp(b + lb - la, a) == 0;
}

static bool sensitive(const char *name, uint32_t len)
{
    static const char *const names[] = {"Authorization", "Www-Authenticate", "Cookie", "Cookie2"};
    for (size_t i = 0; i < 4; i++)
        if (strlen(names[i]) == len && goc__http_token_eq(name, names[i], len))
            return true;
    return false;
}

static bool body_field(const char *name, uint32_t len)
{
    return (len == 12 && goc__http_token_eq(name, "Content-Type", 12)) ||
           (len == 14 && goc__http_token_eq(name, "Content-Length", 14)) ||
           (len == 17 && goc__http_token_eq(name, "Transfer-Encoding", 17)) ||
           (len == 6 && goc__http_token_eq(name, "Expect", 6));
}

/* The header of the next hop: the user's fields, less the credentials
 * for another host and the body's fields when the body is dropped. */
static int next_header(goc_http_header *dst, const goc_http_header *src, bool keep_sensitive,
                       bool keep_body)
{
    for (uint32_t i = 0; i < src->n; i++) {
        const goc__hentry *e = &src->v[i];
        if ((!keep_sensitive && sensitive(e->name, e->name_len)) ||
            (!keep_body && body_field(e->name, e->name_len)))
            continue;
        if (goc__http_header_push(dst, e->name, e->name_len, e->value, e->value_len) < 0)
            return -ENOMEM;
    }
    return 0;
}

static void feed_jar(goc_http_client *c, const goc_url *u, goc_http_response *resp)
{
    const goc_http_cookie_store *jar = c->opts.jar;
    if (!jar)
        return;
    const char *vals[64];
    size_t n = goc_http_header_values(resp->header, "Set-Cookie", vals, 64);
    if (n)
        jar->set_cookies(jar->arg, u, vals, n < 64 ? n : 64);
}

typedef struct hopstate {
    goc__hop hop;
    goc_url *url_owned;
    char method[32];
    char *cookie, *referer;
    goc__arena arena; /* the hop headers */
    goc_http_header hdr[2];
    int cur; /* which hdr is the hop's (redirects) */
    char arena0[1024];
} hopstate;

static void hop_clear(hopstate *s)
{
    free(s->cookie);
    s->cookie = NULL;
}

/* Prepare the hop that follows resp (a redirect to next). 0 to follow,
 * 1 to return resp as the answer, or a negative errno. */
static int follow(goc_http_client *c, goc_http_client_request *req, hopstate *s,
                  goc_http_response *resp, goc_url *next, int nvia)
{
    int code = resp->status_code;
    bool keep_body = code == 307 || code == 308;
    goc__hbody_src *b = s->hop.body;
    if (keep_body && b && b->kind == SRC_READER && b->used) {
        if (!b->rewind || b->rewind(b->arg) < 0)
            return 1; /* Go: without GetBody the redirect itself is the answer */
        b->used = false;
    }
    if (c->opts.max_redirects < 0)
        return 1;                      /* following none: the redirect is the answer */
    if (nvia >= c->opts.max_redirects) /* as Go: nvia requests made so far */
        return goc__errorf(GOC_EHTTP_TOO_MANY_REDIRECTS, "stopped after %d redirects",
                           c->opts.max_redirects);
    if (c->opts.check_redirect) {
        char *us = goc_url_string(next);
        int rc = c->opts.check_redirect(req, us ? us : "", nvia, c->opts.check_redirect_arg);
        free(us);
        if (rc == GOC_EHTTP_USE_LAST_RESPONSE)
            return 1;
        if (rc < 0)
            return rc;
    }
    if (!keep_body) {
        if (strcmp(s->hop.method, "HEAD") != 0)
            snprintf(s->method, sizeof s->method, "GET");
        s->hop.method = s->method;
        s->hop.body = NULL;
    }
    int nh = 1 - s->cur;
    goc__http_header_init(&s->hdr[nh], &s->arena);
    int rc = next_header(&s->hdr[nh], s->hop.header, same_or_sub(s->hop.url, next), keep_body);
    if (rc < 0)
        return rc;
    s->cur = nh;
    s->hop.header = &s->hdr[nh];
    free(s->referer);
    s->referer = NULL;
    if (!(strcmp(s->hop.url->scheme, "https") == 0 && strcmp(next->scheme, "http") == 0) &&
        !(s->referer = goc_url_string(s->hop.url)))
        return -ENOMEM; /* not a hop silently without its Referer */
    s->hop.referer = s->referer;
    goc_url_free(s->url_owned);
    s->url_owned = next;
    s->hop.url = next;
    return 0;
}

static int do_hops(goc_http_client *c, goc_http_client_request *req, hopstate *s,
                   goc_http_response **out)
{
    for (int nvia = 0;; nvia++) {
        const goc_http_cookie_store *jar = c->opts.jar;
        hop_clear(s);
        if (jar && !goc_http_header_get(s->hop.header, "Cookie"))
            s->cookie = jar->cookies(jar->arg, s->hop.url);
        s->hop.cookie = s->cookie;
        struct goc__http_cresp *r;
        int rc = goc__roundtrip(c, &s->hop, &r);
        if (rc < 0)
            return wrap_err(rc, s->hop.method, s->hop.url);
        goc_http_response *resp = &r->pub;
        feed_jar(c, s->hop.url, resp);
        char *us = goc_url_string(s->hop.url);
        resp->url = us ? goc__arena_strndup(&r->arena, us, strlen(us)) : NULL;
        free(us);
        if (!resp->url) { /* never a response without its URL (or a NULL one) */
            goc_http_response_free(resp);
            return wrap_err(-ENOMEM, s->hop.method, s->hop.url);
        }
        const char *loc = goc_http_header_get(resp->header, "Location");
        if (!is_redirect(resp->status_code) || !loc) {
            *out = resp;
            return 0;
        }
        goc_url *next;
        rc = goc_url_resolve(s->hop.url, loc, &next);
        if (rc < 0) {
            goc__errorf(rc, "failed to parse Location header \"%s\"", loc); /* loc is resp's */
            goc_http_response_free(resp);
            return wrap_err(rc, s->hop.method, s->hop.url);
        }
        rc = follow(c, req, s, resp, next, nvia + 1);
        if (rc == 1) {
            goc_url_free(next);
            *out = resp;
            return 0;
        }
        goc_http_response_free(resp);
        if (rc < 0) {
            goc_url_free(next);
            return wrap_err(rc, s->hop.method, s->hop.url);
        }
    }
}

int goc_http_client_do(goc_http_client *c, goc_http_client_request *req, goc_http_response **out)
{
    *out = NULL;
    if (!c)
        c = goc_http_default_client();
    hopstate *s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    goc__arena_init(&s->arena, s->arena0, sizeof s->arena0);
    int64_t deadline = c->opts.timeout > 0 ? goc_now() + c->opts.timeout : 0;
    int64_t cd = goc_ctx_deadline(req->ctx);
    if (cd > 0 && (deadline == 0 || cd < deadline))
        deadline = cd;
    if (req->body.kind == SRC_READER && req->body.used && req->body.rewind) {
        if (req->body.rewind(req->body.arg) == 0)
            req->body.used = false;
    }
    s->hop = (goc__hop){.method = req->method,
                        .url = req->url,
                        .header = &req->header,
                        .body = req->body.kind != SRC_NONE ? &req->body : NULL,
                        .ctx = req->ctx,
                        .deadline = deadline};
    int rc = goc_ctx_err(req->ctx);
    if (rc < 0)
        rc = wrap_err(
            goc__errorf(rc, "context %s", rc == -ECANCELED ? "canceled" : "deadline exceeded"),
            req->method, req->url);
    else
        rc = do_hops(c, req, s, out);
    hop_clear(s);
    free(s->referer);
    goc_url_free(s->url_owned);
    goc__arena_reset(&s->arena);
    free(s);
    return rc;
}

int goc_http_client_get(goc_http_client *c, const char *url, goc_http_response **resp)
{
    goc_http_client_request *req;
    *resp = NULL;
    int rc = goc_http_new_request(NULL, "GET", url, &req);
    if (rc < 0)
        return rc;
    rc = goc_http_client_do(c, req, resp);
    goc_http_client_request_free(req);
    return rc;
}

int goc_http_get(const char *url, goc_http_response **resp)
{
    return goc_http_client_get(goc_http_default_client(), url, resp);
}

int goc_http_post(const char *url, const char *content_type, const void *body, size_t len,
                  goc_http_response **resp)
{
    goc_http_client_request *req;
    *resp = NULL;
    int rc = goc_http_new_request(NULL, "POST", url, &req);
    if (rc < 0)
        return rc;
    if (content_type)
        rc = goc_http_header_set(&req->header, "Content-Type", content_type);
    if (rc == 0)
        rc = goc_http_client_request_set_body(req, body, len);
    if (rc == 0)
        rc = goc_http_client_do(goc_http_default_client(), req, resp);
    goc_http_client_request_free(req);
    return rc;
}
