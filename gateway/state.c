/*
 * state.c — building, installing and retiring gw_states (see state.h),
 * and etcd's target updates.
 *
 * Locking: gw_gateway.mu guards cur, every state's refs and the etcd
 * cache. A state is freed by whoever drops its last reference: the
 * request that ended last, or the install that replaced an idle one.
 */
#include "state.h"

#include <goc/tls.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static gw_upstream *find_upstream(gw_state *st, const char *name)
{
    for (size_t i = 0; st && i < st->nups; i++)
        if (strcmp(st->ups[i]->name, name) == 0)
            return st->ups[i];
    return NULL;
}

void gw_client_opts(goc_http_client_opts *o)
{
    *o = (goc_http_client_opts){
        .max_idle_per_host = 256,
        .max_redirects = -1,
        .disable_compression = true,
        .proxy = "",
        .stall_timeout = -1, /* routes bound exchanges with their timeout */
        .dial_timeout = 5 * GOC_SECOND,
        .user_agent = "",
    };
}

/* The client for c's targets. The one that skips verification is made on
 * first use only: it says so on stderr, which a file without tls_insecure
 * should never print. NULL on ENOMEM. */
static goc_http_client *client_for(gw_gateway *g, const gw_upstream_cfg *c)
{
    if (!c->tls)
        return g->plain;
    if (!c->tls_insecure)
        return g->tls;
    goc_mutex_lock(&g->mu);
    if (!g->tls_insecure) {
        goc_tls_config *insecure =
            goc_tls_client_config_new(&(goc_tls_opts){.insecure_skip_verify = true}, NULL);
        goc_http_client_opts o;
        gw_client_opts(&o);
        o.tls = insecure;
        g->tls_insecure = insecure ? goc_http_client_new(&o) : NULL;
        goc_tls_config_release(insecure); /* the client holds its own */
    }
    goc_http_client *cl = g->tls_insecure;
    goc_mutex_unlock(&g->mu);
    return cl;
}

static void state_free(gw_state *st)
{
    if (!st)
        return;
    for (size_t i = 0; i < st->nroutes; i++)
        gw_route_fini(&st->routes[i]);
    for (size_t i = 0; i < st->ngroups; i++)
        free(st->groups[i].routes);
    free(st->groups);
    free(st->routes);
    goc_http_mux_free(st->mux);
    for (size_t i = 0; i < st->nups; i++)
        gw_upstream_free(st->ups[i]);
    free(st->ups);
    gw_access_log_close(st->log);
    gw_config_free(st->cfg);
    free(st);
}

/* The targets etcd last gave for name, if any (g->mu held). */
static gw_etcd_cache *etcd_cached(gw_gateway *g, const char *name)
{
    for (size_t i = 0; i < g->netcd_cache; i++)
        if (strcmp(g->etcd_cache[i].name, name) == 0)
            return &g->etcd_cache[i];
    return NULL;
}

static int build_upstreams(gw_gateway *g, gw_state *st, gw_state *prev)
{
    gw_config *cfg = st->cfg;
    st->ups = calloc(cfg->nupstreams + 1, sizeof *st->ups);
    if (!st->ups)
        return -ENOMEM;
    for (size_t i = 0; i < cfg->nupstreams; i++) {
        const gw_upstream_cfg *uc = &cfg->upstreams[i];
        gw_upstream *u;
        goc_http_client *cl = client_for(g, uc);
        if (!cl)
            return -ENOMEM;
        int rc = gw_upstream_new(uc, find_upstream(prev, uc->name), cl, &u);
        if (rc < 0)
            return rc;
        st->ups[st->nups++] = u;
        goc_mutex_lock(&g->mu);
        gw_etcd_cache *ec = uc->from_etcd ? etcd_cached(g, uc->name) : NULL;
        if (ec && !find_upstream(prev, uc->name))
            rc = gw_upstream_set_targets(u, ec->targets, ec->n);
        goc_mutex_unlock(&g->mu);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Group routes by pattern (first appearance order) and register each
 * pattern once. */
static int build_routes(gw_state *st, char *err, size_t errlen)
{
    gw_config *cfg = st->cfg;
    st->routes = calloc(cfg->nroutes + 1, sizeof *st->routes);
    st->groups = calloc(cfg->nroutes + 1, sizeof *st->groups);
    st->mux = goc_http_mux_new();
    if (!st->routes || !st->groups || !st->mux)
        return -ENOMEM;
    for (size_t i = 0; i < cfg->nroutes; i++) {
        const gw_route_cfg *rc_ = &cfg->routes[i];
        gw_upstream *u = find_upstream(st, rc_->upstream);
        if (!u) {
            snprintf(err, errlen, "line %d: route upstream \"%s\" is not defined", rc_->line,
                     rc_->upstream);
            return -EINVAL;
        }
        gw_group *grp = NULL;
        for (size_t k = 0; k < st->ngroups; k++)
            if (strcmp(st->groups[k].pattern, rc_->match) == 0)
                grp = &st->groups[k];
        if (!grp) {
            grp = &st->groups[st->ngroups++];
            grp->pattern = rc_->match;
            grp->routes = calloc(cfg->nroutes, sizeof *grp->routes);
            if (!grp->routes)
                return -ENOMEM;
        }
        char name[256];
        if (grp->n)
            snprintf(name, sizeof name, "%s#%zu", rc_->match, grp->n + 1);
        else
            snprintf(name, sizeof name, "%s", rc_->match);
        gw_route *rt = &st->routes[st->nroutes++];
        int rc = gw_route_init(rt, st, rc_, u, name);
        if (rc < 0)
            return rc;
        grp->routes[grp->n++] = rt;
    }
    for (size_t k = 0; k < st->ngroups; k++) {
        int rc = goc_http_mux_handle(st->mux, st->groups[k].pattern,
                                     (goc_http_handler){gw_group_serve, &st->groups[k]});
        if (rc < 0) {
            snprintf(err, errlen, "route \"%s\": %s", st->groups[k].pattern, goc_errmsg());
            return rc;
        }
    }
    return 0;
}

int gw_state_build(gw_gateway *g, gw_config *cfg, gw_state **out, char *err, size_t errlen)
{
    *out = NULL;
    err[0] = 0;
    gw_state *st = calloc(1, sizeof *st);
    if (!st) {
        gw_config_free(cfg);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    st->cfg = cfg;
    st->gw = g;
    st->refs = 1;
    gw_state *prev = gw_state_acquire(g);
    int rc = build_upstreams(g, st, prev);
    if (rc == 0)
        rc = build_routes(st, err, errlen);
    if (rc == 0 && cfg->access_log && strcmp(cfg->access_log, "off") != 0 &&
        (rc = gw_access_log_open(cfg->access_log, &st->log)) < 0)
        snprintf(err, errlen, "access_log \"%s\": %s", cfg->access_log, goc_strerror(rc));
    if (prev)
        gw_state_release(g, prev);
    if (rc < 0) {
        if (!err[0])
            snprintf(err, errlen, "%s", goc_strerror(rc));
        state_free(st);
        return rc;
    }
    *out = st;
    return 0;
}

void gw_state_install(gw_gateway *g, gw_state *st)
{
    for (size_t i = 0; i < st->nups; i++)
        gw_upstream_start(st->ups[i]);
    goc_mutex_lock(&g->mu);
    gw_state *old = g->cur;
    g->cur = st;
    goc_mutex_unlock(&g->mu);
    if (old)
        gw_state_release(g, old);
}

gw_state *gw_state_acquire(gw_gateway *g)
{
    goc_mutex_lock(&g->mu);
    gw_state *st = g->cur;
    if (st)
        st->refs++;
    goc_mutex_unlock(&g->mu);
    return st;
}

void gw_state_release(gw_gateway *g, gw_state *st)
{
    goc_mutex_lock(&g->mu);
    bool last = --st->refs == 0;
    goc_mutex_unlock(&g->mu);
    if (last)
        state_free(st);
}

/* ---- etcd ------------------------------------------------------------------------ */

static int cache_put(gw_gateway *g, const char *name, const gw_target_cfg *t, size_t n)
{
    gw_etcd_cache *ec = etcd_cached(g, name);
    if (!ec) {
        gw_etcd_cache *v = realloc(g->etcd_cache, (g->netcd_cache + 1) * sizeof *v);
        if (!v)
            return -ENOMEM;
        g->etcd_cache = v;
        ec = &v[g->netcd_cache];
        *ec = (gw_etcd_cache){strdup(name), NULL, 0};
        if (!ec->name)
            return -ENOMEM;
        g->netcd_cache++;
    }
    gw_target_cfg *nt = calloc(n + 1, sizeof *nt);
    if (!nt)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        nt[i] = (gw_target_cfg){strdup(t[i].addr), t[i].weight};
    for (size_t i = 0; i < ec->n; i++)
        free(ec->targets[i].addr);
    free(ec->targets);
    ec->targets = nt;
    ec->n = n;
    return 0;
}

void gw_state_etcd_targets(const char *name, const gw_target_cfg *t, size_t n, void *arg)
{
    gw_gateway *g = arg;
    goc_mutex_lock(&g->mu);
    cache_put(g, name, t, n);
    goc_mutex_unlock(&g->mu);
    gw_state *st = gw_state_acquire(g);
    gw_upstream *u = find_upstream(st, name);
    if (u && u->cfg->from_etcd) {
        int rc = gw_upstream_set_targets(u, t, n);
        fprintf(stderr, "gateway: etcd: upstream %s now has %zu targets%s%s\n", name, n,
                rc < 0 ? ": " : "", rc < 0 ? goc_strerror(rc) : "");
    }
    if (st)
        gw_state_release(g, st);
}
