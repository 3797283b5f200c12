/*
 * route.c — one request through a route:
 *   1. the group's routes are tried in order: the first whose header
 *      conditions hold serves it (none: 404);
 *   2. the rate limit (429 with Retry-After);
 *   3. the route's timeout and the call's bookkeeping go into the
 *      request's ctx (goc_http_request_set_ctx), which the reverse proxy
 *      hands to the upstream request: the timeout bounds the whole
 *      exchange, and the proxy's round_trip hook finds the call there;
 *   4. the handler: the cache in front of the reverse proxy, or the proxy;
 *      the proxy's round_trip is ours: a slot of the upstream (or 503),
 *      a target from the balancer that its breaker admits, the exchange,
 *      its verdict fed back, and retries on another target while they are
 *      safe (idempotent, or nothing was sent) and the retry budget allows;
 *   5. counted (route series, cache, access log).
 */
#include "state.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The gateway's own errors, answered by route_error. */
#define GW_ESHED     (-EAGAIN)      /* the upstream's in-flight bound: 503 */
#define GW_ENOTARGET (-ENETUNREACH) /* no target up: 503 */

/* One request's bookkeeping, on route_serve's stack; found by the
 * round_trip hook through the request's ctx. */
typedef struct gw_call {
    int attempts;
    char target[256]; /* the last one tried */
    const char *error;
} gw_call;

static const char call_key = 0; /* its address is the ctx value key */

/* ---- the retry budget ----------------------------------------------------------- */

static void budget_roll(gw_budget *b)
{
    int64_t sec = goc_now() / GOC_SECOND;
    if (sec == b->sec)
        return;
    bool adjacent = sec == b->sec + 1;
    b->prev_reqs = adjacent ? b->reqs : 0;
    b->prev_retries = adjacent ? b->retries : 0;
    b->reqs = b->retries = 0;
    b->sec = sec;
}

void gw_budget_request(gw_budget *b)
{
    goc_mutex_lock(&b->mu);
    budget_roll(b);
    b->reqs++;
    goc_mutex_unlock(&b->mu);
}

bool gw_budget_retry(gw_budget *b, double ratio, int min_per_sec)
{
    goc_mutex_lock(&b->mu);
    budget_roll(b);
    int reqs = b->reqs + b->prev_reqs, retries = b->retries + b->prev_retries;
    bool ok = retries < min_per_sec || retries < ratio * reqs;
    if (ok)
        b->retries++;
    goc_mutex_unlock(&b->mu);
    return ok;
}

/* ---- helpers ------------------------------------------------------------------------ */

/* A key spec ("ip", "path", "header:NAME") applied to r, in out. */
static const char *key_of(const char *spec, goc_http_request *r, char *out, size_t n)
{
    if (!spec || strcmp(spec, "ip") == 0) {
        return goc_http_client_ip(r, out, n);
    }
    if (strcmp(spec, "path") == 0)
        return r->path;
    if (strncasecmp(spec, "header:", 7) == 0) {
        const char *v = goc_http_header_get(r->header, spec + 7);
        return v ? v : "";
    }
    return "";
}

static bool idempotent(goc_http_request *r)
{
    static const char *const m[] = {"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"};
    for (size_t i = 0; i < sizeof m / sizeof *m; i++)
        if (strcmp(r->method, m[i]) == 0)
            return true;
    return goc_http_header_get(r->header, "Idempotency-Key") != NULL;
}

/* Failed before a byte of the request could have reached the target. */
static bool not_sent(int err)
{
    return err == -ECONNREFUSED || err == -EHOSTUNREACH || err == -ENETUNREACH ||
           err == GOC_ENOTFOUND || err == GW_ESHED;
}

/* ---- the upstream exchange (the proxy's round_trip) ------------------------------------ */

typedef struct held {
    goc_balancer_target *bt;
    goc_duration latency;
} held;

/* A target of u that its breaker admits, preferring one not tried yet
 * (h): its pick, or NULL. Picks the breaker refused are added to h (done
 * at the end, so the balancer keeps them valid for the avoid list). */
static goc_balancer_target *choose(gw_upstream *u, const char *key, held *h, size_t *nh, size_t cap)
{
    goc_balancer_target *avoid[16];
    for (size_t tries = 0; tries < 8 && *nh < cap; tries++) {
        size_t na = *nh < 16 ? *nh : 16;
        for (size_t i = 0; i < na; i++)
            avoid[i] = h[i].bt;
        goc_balancer_target *bt = goc_balancer_pick(u->lb, key, key ? strlen(key) : 0, avoid, na);
        if (!bt)
            return NULL;
        if (gw_target_admit(goc_balancer_target_data(bt)))
            return bt;
        h[(*nh)++] = (held){bt, 0};
    }
    return NULL;
}

static int round_trip(goc_http_request *in, goc_http_client_request *out, goc_http_response **resp,
                      void *arg)
{
    gw_route *rt = arg;
    gw_upstream *u = rt->up;
    gw_gateway *g = rt->st->gw;
    const gw_config *cfg = rt->st->cfg;
    goc_ctx *ctx = goc_http_request_ctx(in);
    gw_call *call = goc_ctx_value(ctx, &call_key);
    char kbuf[256];
    const char *key = u->cfg->balance == GOC_BALANCE_HASH
                          ? key_of(u->cfg->hash_key, in, kbuf, sizeof kbuf)
                          : NULL;
    bool idem = idempotent(in);
    held h[24];
    size_t nh = 0;
    int rc = GW_ENOTARGET;
    *resp = NULL;
    for (int attempt = 0; attempt <= rt->cfg->retries; attempt++) {
        if (attempt > 0) {
            bool safe = idem || (not_sent(rc) && !goc_http_client_request_body_sent(out));
            if (!safe || goc_http_client_request_body_sent(out) ||
                !gw_budget_retry(&g->budget, cfg->retry_budget, cfg->retry_min_per_sec))
                break;
            gw_series_count(u->stats, GW_RETRIES);
            gw_series_count(rt->stats, GW_RETRIES);
        }
        if (call)
            call->attempts++;
        if ((rc = gw_upstream_acquire(u, ctx)) < 0)
            break;
        goc_balancer_target *bt = choose(u, key, h, &nh, sizeof h / sizeof *h - 1);
        if (!bt) {
            gw_upstream_release(u);
            rc = GW_ENOTARGET;
            continue; /* a retry may find one up again: counted, bounded */
        }
        gw_target *t = goc_balancer_target_data(bt);
        if (call)
            snprintf(call->target, sizeof call->target, "%s", t->addr);
        rc = goc_http_client_request_set_host(out, t->addr);
        int64_t t0 = goc_now();
        if (rc == 0)
            rc = goc_http_client_do(u->client, out, resp);
        goc_duration lat = goc_now() - t0;
        gw_upstream_release(u);
        h[nh++] = (held){bt, lat};
        int status = rc == 0 ? (*resp)->status_code : 0;
        /* The client's own going away is nobody's fault. */
        bool client_gone = rc < 0 && goc_ctx_err(ctx) == -ECANCELED;
        if (!client_gone) {
            gw_target_report(t, status, rc);
            gw_series_observe(u->stats, status ? status : rc == -ETIMEDOUT ? 504 : 502, lat);
        }
        if (rc == 0 && (status == 502 || status == 503 || status == 504) && idem &&
            attempt < rt->cfg->retries) {
            goc_http_response_free(*resp); /* try another */
            *resp = NULL;
            rc = -EIO;
            continue;
        }
        if (rc == 0 || goc_ctx_err(ctx))
            break;
    }
    for (size_t i = 0; i < nh; i++)
        goc_balancer_done(u->lb, h[i].bt, h[i].latency);
    return rc;
}

/* The answer to a failed exchange (the proxy's error_handler). */
static void route_error(goc_http_response_writer *w, goc_http_request *r, int err, void *arg)
{
    gw_route *rt = arg;
    gw_call *call = goc_ctx_value(goc_http_request_ctx(r), &call_key);
    if (goc_http_response_status(w) != 0) {
        goc_http_abort(w); /* mid-body: the client must see it cut */
        return;
    }
    int code = 502;
    const char *msg = "bad gateway: the upstream failed";
    if (err == GW_ESHED) {
        code = 503, msg = "service unavailable: upstream overloaded";
        gw_series_count(rt->stats, GW_SHED);
        gw_series_count(rt->up->stats, GW_SHED);
        goc_http_header_set(goc_http_response_header(w), "Retry-After", "1");
    } else if (err == GW_ENOTARGET) {
        code = 503, msg = "service unavailable: no healthy upstream";
    } else if (err == -ETIMEDOUT || goc_ctx_err(goc_http_request_ctx(r)) == -ETIMEDOUT) {
        code = 504, msg = "gateway timeout";
        gw_series_count(rt->stats, GW_TIMEOUTS);
    }
    if (call)
        call->error = goc_strerror(err);
    goc_http_error(w, msg, code);
}

/* Strip and rewrite the path prefix (the proxy's rewrite hook). */
static int rewrite(goc_http_request *in, goc_http_client_request *out, void *arg)
{
    gw_route *rt = arg;
    const char *strip = rt->cfg->strip_prefix, *add = rt->cfg->rewrite_prefix;
    const goc_url *u = goc_http_client_request_url(out);
    const char *path = in->raw_path[0] ? in->raw_path : "/";
    size_t sl = strip ? strlen(strip) : 0;
    if (sl && strncmp(path, strip, sl) == 0)
        path += sl;
    char url[4096];
    int n = snprintf(url, sizeof url, "%s://%s%s%s%s%s%s", u->scheme, u->host, add ? add : "",
                     *path == '/' || (add && add[0] && add[strlen(add) - 1] == '/') ? "" : "/",
                     path, in->raw_query[0] ? "?" : "", in->raw_query);
    if (n < 0 || (size_t)n >= sizeof url)
        return -E2BIG;
    /* "/a" + "/" stays "/a/"; an empty result is "/" */
    return goc_http_client_request_set_url(out, url);
}

/* ---- the route ---------------------------------------------------------------------------- */

static void too_many(goc_http_response_writer *w, goc_duration wait)
{
    char ra[24];
    snprintf(ra, sizeof ra, "%lld", (long long)((wait + GOC_SECOND - 1) / GOC_SECOND));
    goc_http_header_set(goc_http_response_header(w), "Retry-After", ra);
    goc_http_error(w, "too many requests", 429);
}

static void log_request(gw_route *rt, goc_http_response_writer *w, goc_http_request *r,
                        const gw_call *call, goc_duration lat, const char *cache)
{
    gw_access_log *l = rt->st->log;
    if (!l)
        return;
    gw_access_entry e = {
        .remote = r->remote_addr,
        .method = r->method,
        .host = r->host,
        .target = r->target,
        .proto = r->proto,
        .route = rt->name,
        .upstream = rt->up->name,
        .target_addr = call->target[0] ? call->target : NULL,
        .status = goc_http_response_status(w),
        .bytes = goc_http_response_bytes(w),
        .latency = lat,
        .attempts = call->attempts,
        .cache = cache,
        .error = call->error,
    };
    gw_access_log_write(l, &e);
}

static void route_serve(gw_route *rt, goc_http_response_writer *w, goc_http_request *r)
{
    int64_t t0 = goc_now();
    gw_call call = {0};
    gw_budget_request(&rt->st->gw->budget);
    if (rt->limiter) {
        char kb[256];
        goc_duration wait =
            goc_rate_limiter_allow(rt->limiter, key_of(rt->cfg->rate_key, r, kb, sizeof kb));
        if (wait > 0) {
            too_many(w, wait);
            gw_series_count(rt->stats, GW_RATE_LIMITED);
            goto done;
        }
    }
    goc_ctx *base = goc_http_request_ctx(r);
    goc_ctx *tctx = rt->cfg->timeout > 0 ? goc_ctx_with_timeout(base, rt->cfg->timeout) : NULL;
    goc_ctx *vctx = goc_ctx_with_value(tctx ? tctx : base, &call_key, &call);
    if (!vctx || (rt->cfg->timeout > 0 && !tctx)) {
        goc_http_error(w, "service unavailable: out of memory", 503);
    } else {
        goc_http_request_set_ctx(r, vctx);
        goc_http_serve_http(rt->handler, w, r);
        goc_http_request_set_ctx(r, NULL);
    }
    if (tctx) {
        goc_ctx_cancel(tctx);
        goc_ctx_release(tctx);
    }
    goc_ctx_release(vctx);
done:;
    const char *cache =
        rt->cfg->cache ? goc_http_header_get(goc_http_response_header(w), "X-Cache") : NULL;
    if (cache)
        gw_series_count(rt->stats, strcmp(cache, "MISS") == 0 ? GW_CACHE_MISS : GW_CACHE_HIT);
    goc_duration lat = goc_now() - t0;
    gw_series_observe(rt->stats, goc_http_response_status(w), lat);
    log_request(rt, w, r, &call, lat, cache);
}

static bool conditions_hold(const gw_route_cfg *c, goc_http_request *r)
{
    for (size_t i = 0; i < c->nheaders; i++) {
        const char *v = goc_http_header_get(r->header, c->headers[i].name);
        if (!v || (c->headers[i].value && strcmp(v, c->headers[i].value) != 0))
            return false;
    }
    return true;
}

void gw_group_serve(goc_http_response_writer *w, goc_http_request *r, void *arg)
{
    gw_group *g = arg;
    for (size_t i = 0; i < g->n; i++)
        if (conditions_hold(g->routes[i]->cfg, r)) {
            route_serve(g->routes[i], w, r);
            return;
        }
    goc_http_not_found(w, r);
}

int gw_route_init(gw_route *rt, gw_state *st, const gw_route_cfg *cfg, gw_upstream *up,
                  const char *name)
{
    rt->cfg = cfg;
    rt->st = st;
    rt->up = up;
    snprintf(rt->name, sizeof rt->name, "%s", name);
    rt->stats = gw_series_get(GW_ROUTE, rt->name);
    if (!rt->stats)
        return -ENOMEM;
    goc_http_reverse_proxy_opts o = {
        .target = up->cfg->tls ? "https://upstream.invalid" : "http://upstream.invalid",
        .client = up->client,
        .rewrite = cfg->strip_prefix || cfg->rewrite_prefix ? rewrite : NULL,
        .round_trip = round_trip,
        .error_handler = route_error,
        .arg = rt,
    };
    int rc = goc_http_reverse_proxy_new(&o, &rt->proxy);
    if (rc < 0)
        return rc;
    if (cfg->rate > 0 &&
        !(rt->limiter = goc_rate_limiter_new(cfg->rate, cfg->burst > 0 ? cfg->burst : 1, 0)))
        return -ENOMEM;
    rt->handler = goc_http_reverse_proxy_handler(rt->proxy);
    if (cfg->cache)
        rt->handler = goc_http_cache_handler(st->gw->cache, rt->handler);
    return rt->handler.fn ? 0 : -ENOMEM;
}

void gw_route_fini(gw_route *rt)
{
    goc_http_reverse_proxy_free(rt->proxy);
    goc_rate_limiter_free(rt->limiter);
}
