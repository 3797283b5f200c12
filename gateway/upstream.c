/*
 * upstream.c — targets and their verdicts (see upstream.h for the model):
 * active health checks on a goroutine per upstream, passive outlier
 * ejection and circuit breakers fed by every proxied request, and the
 * in-flight bound that sheds load.
 */
#include "upstream.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void target_ref(gw_target *t)
{
    __atomic_add_fetch(&t->refs, 1, __ATOMIC_RELAXED);
}

static void target_unref(gw_target *t)
{
    if (__atomic_sub_fetch(&t->refs, 1, __ATOMIC_ACQ_REL) == 0)
        free(t);
}

static const char *verdict(const gw_target *t, int64_t now)
{
    if (t->breaker == GW_BREAKER_OPEN)
        return "open";
    if (t->ejected_until > now)
        return "ejected";
    if (!t->healthy)
        return "down";
    return t->breaker == GW_BREAKER_HALF_OPEN ? "half-open" : "healthy";
}

/* Tell the balancer what the verdicts add up to. t->mu held. */
static void recompute(gw_target *t, int64_t now, const char *why)
{
    bool up = t->healthy && t->ejected_until <= now && t->breaker != GW_BREAKER_OPEN;
    if (up == t->up)
        return;
    t->up = up;
    goc_balancer_set_up(t->up_lb, t->addr, up);
    gw_series_set_gauge(t->up_stats, "targets_up", (int64_t)goc_balancer_len_up(t->up_lb));
    fprintf(stderr, "gateway: upstream %s: target %s %s (%s)\n", t->up_name, t->addr,
            up ? "back in" : "out", why);
}

static gw_target *target_new(gw_upstream *u, const gw_target_cfg *c, const gw_target *prev)
{
    gw_target *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    snprintf(t->addr, sizeof t->addr, "%s", c->addr);
    t->weight = c->weight > 0 ? c->weight : 1;
    t->up = true;
    t->up_lb = u->lb;
    t->up_name = u->name;
    t->up_stats = u->stats;
    t->cfg = u->cfg;
    t->refs = 1;
    t->healthy = true;
    if (prev) { /* a reload: the verdicts carry over */
        t->healthy = prev->healthy;
        t->ejected_until = prev->ejected_until;
        t->times_ejected = prev->times_ejected;
        t->breaker = prev->breaker;
        t->opened_at = prev->opened_at;
    }
    return t;
}

static gw_target *find(gw_target *const *v, size_t n, const char *addr)
{
    for (size_t i = 0; v && i < n; i++)
        if (strcmp(v[i]->addr, addr) == 0)
            return v[i];
    return NULL;
}

/* Add t to the balancer and apply its carried-over verdicts. */
static int enlist(gw_upstream *u, gw_target *t)
{
    int rc = goc_balancer_add(u->lb, t->addr, t->weight, t);
    if (rc < 0)
        return rc;
    goc_mutex_lock(&t->mu);
    t->up = true;
    recompute(t, goc_now(), "carried over");
    goc_mutex_unlock(&t->mu);
    return 0;
}

int gw_upstream_set_targets(gw_upstream *u, const gw_target_cfg *tc, size_t n)
{
    gw_target **nv = calloc(n ? n : 1, sizeof *nv);
    if (!nv)
        return -ENOMEM;
    goc_mutex_lock(&u->mu);
    int rc = 0;
    size_t k = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        gw_target *old = find(u->targets, u->ntargets, tc[i].addr);
        if (old && old->weight == (tc[i].weight > 0 ? tc[i].weight : 1)) {
            target_ref(old);
            nv[k++] = old;
            continue;
        }
        if (old) { /* a new weight */
            old->weight = tc[i].weight > 0 ? tc[i].weight : 1;
            goc_balancer_set_weight(u->lb, old->addr, old->weight);
            target_ref(old);
            nv[k++] = old;
            continue;
        }
        gw_target *t = target_new(u, &tc[i], NULL);
        if (!t || (rc = enlist(u, t)) < 0) {
            free(t);
            rc = rc ? rc : -ENOMEM;
            break;
        }
        nv[k++] = t;
    }
    if (rc < 0) {
        for (size_t i = 0; i < k; i++)
            if (!find(u->targets, u->ntargets, nv[i]->addr))
                goc_balancer_remove(u->lb, nv[i]->addr);
        goc_mutex_unlock(&u->mu);
        for (size_t i = 0; i < k; i++)
            target_unref(nv[i]);
        free(nv);
        return rc;
    }
    for (size_t i = 0; i < u->ntargets; i++) {
        gw_target *t = u->targets[i];
        if (find(nv, k, t->addr)) {
            target_unref(t); /* nv holds its own */
            continue;
        }
        goc_balancer_remove(u->lb, t->addr);
        gw_target **r = realloc(u->retired, (u->nretired + 1) * sizeof *r);
        if (r) {
            u->retired = r;
            r[u->nretired++] = t;
        } /* else: leaked, never freed under a pick */
    }
    free(u->targets);
    u->targets = nv;
    u->ntargets = k;
    goc_mutex_unlock(&u->mu);
    gw_series_set_gauge(u->stats, "targets_up", (int64_t)goc_balancer_len_up(u->lb));
    return 0;
}

int gw_upstream_new(const gw_upstream_cfg *cfg, gw_upstream *prev, goc_http_client *client,
                    gw_upstream **out)
{
    *out = NULL;
    gw_upstream *u = calloc(1, sizeof *u);
    if (!u)
        return -ENOMEM;
    u->cfg = cfg;
    u->client = client;
    u->name = strdup(cfg->name);
    u->lb = goc_balancer_new(cfg->balance);
    u->stats = gw_series_get(GW_UPSTREAM, cfg->name);
    u->life = goc_ctx_with_cancel(goc_ctx_background());
    goc_semaphore_init(&u->slots, cfg->max_inflight > 0 ? cfg->max_inflight : 1024);
    if (!u->name || !u->lb || !u->stats || !u->life) {
        gw_upstream_free(u);
        return -ENOMEM;
    }
    /* Targets: the config's, or (etcd) the previous state's current ones. */
    const gw_target_cfg *tc = cfg->targets;
    size_t n = cfg->ntargets;
    gw_target_cfg *carried = NULL;
    if (cfg->from_etcd && prev) {
        goc_mutex_lock(&prev->mu);
        carried = calloc(prev->ntargets + 1, sizeof *carried);
        for (size_t i = 0; carried && i < prev->ntargets; i++)
            carried[i] = (gw_target_cfg){strdup(prev->targets[i]->addr), prev->targets[i]->weight};
        n = carried ? prev->ntargets : 0;
        goc_mutex_unlock(&prev->mu);
        tc = carried;
    }
    int rc = 0;
    u->targets = calloc(n ? n : 1, sizeof *u->targets);
    if (!u->targets)
        rc = -ENOMEM;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (!tc[i].addr) {
            rc = -ENOMEM;
            break;
        }
        gw_target *pt = NULL;
        if (prev) {
            goc_mutex_lock(&prev->mu);
            pt = find(prev->targets, prev->ntargets, tc[i].addr);
            goc_mutex_unlock(&prev->mu);
        }
        gw_target *t = target_new(u, &tc[i], pt);
        if (!t || (rc = enlist(u, t)) < 0) {
            free(t);
            rc = rc ? rc : -ENOMEM;
            break;
        }
        u->targets[u->ntargets++] = t;
    }
    for (size_t i = 0; carried && i < n; i++)
        free(carried[i].addr);
    free(carried);
    gw_series_set_gauge(u->stats, "targets_up", (int64_t)goc_balancer_len_up(u->lb));
    if (rc < 0) {
        gw_upstream_free(u);
        return rc;
    }
    *out = u;
    return 0;
}

/* ---- active checks and expiry -------------------------------------------------- */

typedef struct check {
    gw_upstream *u;
    gw_target *t;
    goc_waitgroup *wg;
} check;

static bool check_once(gw_upstream *u, gw_target *t)
{
    const gw_health_cfg *h = &u->cfg->health;
    char url[512];
    snprintf(url, sizeof url, "%s://%s%s", u->cfg->tls ? "https" : "http", t->addr, h->path);
    goc_ctx *ctx = goc_ctx_with_timeout(u->life, h->timeout > 0 ? h->timeout : 2 * GOC_SECOND);
    goc_http_client_request *req = NULL;
    goc_http_response *resp = NULL;
    int rc = ctx ? goc_http_new_request(ctx, "GET", url, &req) : -ENOMEM;
    if (rc == 0)
        goc_http_header_set(goc_http_client_request_header(req), "User-Agent",
                            "goc-gateway-health/1");
    if (rc == 0)
        rc = goc_http_client_do(u->client, req, &resp);
    bool ok = false;
    if (rc == 0) {
        char *body = NULL;
        int s = resp->status_code;
        ok = goc_http_response_read_all(resp, &body, NULL, 64 << 10) == 0 &&
             (h->expect_status ? s == h->expect_status : s >= 200 && s < 400);
        free(body);
    }
    goc_http_response_free(resp);
    goc_http_client_request_free(req);
    if (ctx) {
        goc_ctx_cancel(ctx);
        goc_ctx_release(ctx);
    }
    return ok;
}

static void check_main(void *arg)
{
    check *c = arg;
    gw_upstream *u = c->u;
    gw_target *t = c->t;
    bool ok = check_once(u, t);
    const gw_health_cfg *h = &u->cfg->health;
    int rise = h->rise > 0 ? h->rise : 2, fall = h->fall > 0 ? h->fall : 2;
    goc_mutex_lock(&t->mu);
    int64_t now = goc_now();
    if (ok) {
        t->fails = 0;
        t->passes++;
        if (!t->healthy && t->passes >= rise)
            t->healthy = true;
        /* Answering its checks again readmits an ejected target. */
        if (t->ejected_until > now && t->passes >= rise)
            t->ejected_until = 0;
    } else {
        t->passes = 0;
        t->fails++;
        if (t->healthy && t->fails >= fall)
            t->healthy = false;
    }
    recompute(t, now, ok ? "health check passed" : "health check failed");
    goc_mutex_unlock(&t->mu);
    target_unref(t);
    goc_waitgroup_done(c->wg);
    free(c);
}

/* Expire ejections and open breakers whose time is up. */
static void expire(gw_upstream *u, gw_target *t)
{
    goc_mutex_lock(&t->mu);
    int64_t now = goc_now();
    if (t->ejected_until && t->ejected_until <= now)
        t->ejected_until = 0;
    if (t->breaker == GW_BREAKER_OPEN && now - t->opened_at >= u->cfg->breaker_open) {
        t->breaker = GW_BREAKER_HALF_OPEN;
        t->probes_out = t->probes_ok = 0;
    }
    recompute(t, now, "ejection or open circuit expired");
    goc_mutex_unlock(&t->mu);
}

/* The targets now, each referenced: free with snapshot_free. */
static gw_target **snapshot(gw_upstream *u, size_t *n)
{
    goc_mutex_lock(&u->mu);
    gw_target **v = calloc(u->ntargets + 1, sizeof *v);
    *n = 0;
    for (size_t i = 0; v && i < u->ntargets; i++) {
        target_ref(u->targets[i]);
        v[(*n)++] = u->targets[i];
    }
    goc_mutex_unlock(&u->mu);
    return v;
}

static void checker_main(void *arg)
{
    gw_upstream *u = arg;
    const gw_health_cfg *h = &u->cfg->health;
    goc_duration tick = h->path ? h->interval : GOC_SECOND;
    if (tick <= 0 || tick > GOC_SECOND * 5)
        tick = h->path ? tick : GOC_SECOND;
    int64_t next_check = 0;
    goc_duration step = tick < 250 * GOC_MILLISECOND ? tick : 250 * GOC_MILLISECOND;
    for (;;) {
        goc_case cases[1] = {GOC_RECV(goc_ctx_done(u->life), NULL)};
        if (goc_select(cases, 1, step) == 0)
            break;
        size_t n;
        gw_target **v = snapshot(u, &n);
        int64_t now = goc_now();
        bool due = h->path && now >= next_check;
        goc_waitgroup wg = {0};
        for (size_t i = 0; v && i < n; i++) {
            expire(u, v[i]);
            check *c = due ? malloc(sizeof *c) : NULL;
            if (c) {
                *c = (check){u, v[i], &wg};
                target_ref(v[i]);
                goc_waitgroup_add(&wg, 1);
                if (goc_go(check_main, c) < 0) {
                    target_unref(v[i]);
                    goc_waitgroup_done(&wg);
                    free(c);
                }
            }
            target_unref(v[i]);
        }
        free(v);
        if (due) {
            goc_waitgroup_wait(&wg);
            next_check = now + h->interval;
        }
    }
    goc_waitgroup_done(&u->checker);
}

int gw_upstream_start(gw_upstream *u)
{
    goc_waitgroup_add(&u->checker, 1);
    int rc = goc_go(checker_main, u);
    if (rc < 0)
        goc_waitgroup_done(&u->checker);
    return rc;
}

void gw_upstream_free(gw_upstream *u)
{
    if (!u)
        return;
    if (u->life) {
        goc_ctx_cancel(u->life);
        goc_waitgroup_wait(&u->checker);
        goc_ctx_release(u->life);
    }
    for (size_t i = 0; i < u->ntargets; i++)
        target_unref(u->targets[i]);
    for (size_t i = 0; i < u->nretired; i++)
        target_unref(u->retired[i]);
    free(u->targets);
    free(u->retired);
    goc_balancer_free(u->lb);
    free(u->name);
    free(u);
}

/* ---- passive: ejection and the breaker ----------------------------------------------- */

bool gw_target_admit(gw_target *t)
{
    goc_mutex_lock(&t->mu);
    bool ok = t->breaker == GW_BREAKER_CLOSED;
    if (t->breaker == GW_BREAKER_HALF_OPEN && t->probes_out < t->cfg->breaker_probes) {
        t->probes_out++;
        ok = true;
    }
    goc_mutex_unlock(&t->mu);
    return ok;
}

static void eject(gw_target *t, int64_t now, const char *why)
{
    const gw_upstream_cfg *c = t->cfg;
    /* Never the last target standing: a wrong ejection of all would turn
     * a partial outage into a full one. */
    if (t->up && goc_balancer_len_up(t->up_lb) <= 1)
        return;
    t->times_ejected++;
    goc_duration d = c->eject_time * t->times_ejected;
    if (d > c->eject_max || d <= 0)
        d = c->eject_max;
    t->ejected_until = now + d;
    t->consec_5xx = t->consec_err = 0;
    t->passes = 0;
    gw_series_count(t->up_stats, GW_EJECTIONS);
    recompute(t, now, why);
}

static void breaker_feed(gw_target *t, int64_t now, bool failed)
{
    const gw_upstream_cfg *c = t->cfg;
    if (c->breaker_min <= 0)
        return;
    if (t->breaker == GW_BREAKER_HALF_OPEN) {
        if (failed) {
            t->breaker = GW_BREAKER_OPEN;
            t->opened_at = now;
            gw_series_count(t->up_stats, GW_CIRCUIT_OPENS);
            recompute(t, now, "half-open probe failed");
        } else if (++t->probes_ok >= c->breaker_probes) {
            t->breaker = GW_BREAKER_CLOSED;
            t->window_start = now;
            t->win_total = t->win_fail = 0;
            recompute(t, now, "circuit closed");
        }
        return;
    }
    if (now - t->window_start > c->breaker_window) {
        t->window_start = now;
        t->win_total = t->win_fail = 0;
    }
    t->win_total++;
    t->win_fail += failed;
    if (t->breaker == GW_BREAKER_CLOSED && t->win_total >= c->breaker_min &&
        t->win_fail >= c->breaker_ratio * t->win_total) {
        t->breaker = GW_BREAKER_OPEN;
        t->opened_at = now;
        gw_series_count(t->up_stats, GW_CIRCUIT_OPENS);
        recompute(t, now, "circuit opened");
    }
}

void gw_target_report(gw_target *t, int status, int err)
{
    const gw_upstream_cfg *c = t->cfg;
    bool failed = status == 0 || status >= 500;
    goc_mutex_lock(&t->mu);
    int64_t now = goc_now();
    if (status == 0 && err) {
        t->consec_err++;
    } else {
        t->consec_err = 0;
        t->consec_5xx = status >= 500 ? t->consec_5xx + 1 : 0;
    }
    if (t->ejected_until <= now) {
        if (c->eject_errors > 0 && t->consec_err >= c->eject_errors)
            eject(t, now, "consecutive connection failures");
        else if (c->eject_5xx > 0 && t->consec_5xx >= c->eject_5xx)
            eject(t, now, "consecutive 5xx answers");
    }
    breaker_feed(t, now, failed);
    goc_mutex_unlock(&t->mu);
}

/* ---- load shedding ------------------------------------------------------------------------ */

int gw_upstream_acquire(gw_upstream *u, goc_ctx *ctx)
{
    if (goc_semaphore_try_acquire(&u->slots, 1))
        return 0;
    int maxq = u->cfg->max_queue;
    if (__atomic_add_fetch(&u->queued, 1, __ATOMIC_RELAXED) > maxq) {
        __atomic_sub_fetch(&u->queued, 1, __ATOMIC_RELAXED);
        return -EAGAIN;
    }
    goc_ctx *q =
        goc_ctx_with_timeout(ctx, u->cfg->queue_timeout > 0 ? u->cfg->queue_timeout : GOC_SECOND);
    int rc = q ? goc_semaphore_acquire(&u->slots, q, 1) : -ENOMEM;
    if (q) {
        goc_ctx_cancel(q);
        goc_ctx_release(q);
    }
    __atomic_sub_fetch(&u->queued, 1, __ATOMIC_RELAXED);
    if (rc < 0 && !goc_ctx_err(ctx))
        rc = -EAGAIN; /* waited its turn in vain: shed */
    return rc;
}

void gw_upstream_release(gw_upstream *u)
{
    goc_semaphore_release(&u->slots, 1);
}

/* ---- the admin's view ------------------------------------------------------------------------ */

void gw_upstream_targets_json(gw_upstream *u, gw_buf *b)
{
    size_t n;
    gw_target **v = snapshot(u, &n);
    goc_balancer_target_info info[64];
    size_t ni = goc_balancer_snapshot(u->lb, info, 64);
    if (ni > 64)
        ni = 64;
    gw_buf_puts(b, "[");
    int64_t now = goc_now();
    for (size_t i = 0; v && i < n; i++) {
        gw_target *t = v[i];
        int inflight = 0;
        double ewma = 0;
        for (size_t j = 0; j < ni; j++)
            if (strcmp(info[j].addr, t->addr) == 0) {
                inflight = info[j].inflight;
                ewma = (double)info[j].ewma / 1e6;
            }
        goc_mutex_lock(&t->mu);
        const char *state = verdict(t, now);
        bool up = t->up;
        goc_mutex_unlock(&t->mu);
        gw_buf_puts(b, i ? ",{\"addr\":" : "{\"addr\":");
        gw_buf_json_str(b, t->addr);
        gw_buf_printf(b,
                      ",\"up\":%s,\"state\":\"%s\",\"weight\":%d,\"inflight\":%d,\"ewma_ms\":%.3f}",
                      up ? "true" : "false", state, t->weight, inflight, ewma);
        target_unref(t);
    }
    gw_buf_puts(b, "]");
    free(v);
}
