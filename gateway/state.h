/*
 * state.h — the gateway's live configuration. A gw_state is built whole
 * from a gw_config and never changed after (but for upstream targets,
 * which etcd may replace under their own lock); a reload builds a new one
 * and swaps the pointer. Each request holds a reference to the state it
 * started with, so a reload never pulls a route from under a request.
 *
 * What outlives states is in gw_gateway: the upstream clients (their
 * connection pools survive reloads), the cache, the retry budget, the
 * targets last heard from etcd.
 */
#ifndef GOC_GATEWAY_STATE_H
#define GOC_GATEWAY_STATE_H

#include "upstream.h"

typedef struct gw_state gw_state;
typedef struct gw_gateway gw_gateway;

typedef struct gw_route {
    const gw_route_cfg *cfg;
    char name[256]; /* the pattern, "#N" added for a repeated one */
    gw_state *st;
    gw_upstream *up;
    gw_series *stats;
    goc_http_reverse_proxy *proxy;
    goc_rate_limiter *limiter; /* NULL: none */
    goc_http_handler handler;  /* the proxy, behind the cache if cached */
} gw_route;

/* Routes of one mux pattern, in the file's order: the first whose header
 * conditions hold serves. */
typedef struct gw_group {
    const char *pattern;
    gw_route **routes;
    size_t n;
} gw_group;

struct gw_state {
    int refs; /* under gw_gateway.mu */
    gw_gateway *gw;
    gw_config *cfg; /* owned */
    gw_upstream **ups;
    size_t nups;
    gw_route *routes;
    size_t nroutes;
    gw_group *groups;
    size_t ngroups;
    goc_http_mux *mux;
    gw_access_log *log; /* NULL: none */
};

/* Retries are allowed while they stay under ratio × requests of the last
 * one to two seconds, or min_per_sec (Envoy's and gRPC's retry budget). */
typedef struct gw_budget {
    goc_mutex mu;
    int64_t sec;
    int reqs, retries, prev_reqs, prev_retries;
} gw_budget;

typedef struct gw_etcd_cache {
    char *name;
    gw_target_cfg *targets;
    size_t n;
} gw_etcd_cache;

struct gw_gateway {
    goc_mutex mu; /* guards cur, the states' refs, etcd_cache */
    gw_state *cur;
    goc_http_client *plain, *tls, *tls_insecure;
    goc_http_cache *cache;
    gw_budget budget;
    gw_etcd_cache *etcd_cache;
    size_t netcd_cache;
};

/* The options of the gateway's upstream clients. */
void gw_client_opts(goc_http_client_opts *o);
/* Build a state from cfg (taken over, also on failure) next to the
 * current one (its upstreams' target verdicts carry over). 0 and *out,
 * or a negative errno with err set. */
int gw_state_build(gw_gateway *g, gw_config *cfg, gw_state **out, char *err, size_t errlen);
/* Make st current (its upstream checkers start); the old one goes when
 * its last request ends. */
void gw_state_install(gw_gateway *g, gw_state *st);
gw_state *gw_state_acquire(gw_gateway *g);
void gw_state_release(gw_gateway *g, gw_state *st);
/* etcd's news: upstream name's targets are now t[0..n). */
void gw_state_etcd_targets(const char *name, const gw_target_cfg *t, size_t n, void *arg);

/* route.c */
/* Finish r (upstream, series, proxy, limiter, handler); 0 or -errno. */
int gw_route_init(gw_route *r, gw_state *st, const gw_route_cfg *cfg, gw_upstream *up,
                  const char *name);
void gw_route_fini(gw_route *r);
/* The mux's handler for a group (arg: the gw_group). */
void gw_group_serve(goc_http_response_writer *w, goc_http_request *r, void *arg);
bool gw_budget_retry(gw_budget *b, double ratio, int min_per_sec);
void gw_budget_request(gw_budget *b);

#endif /* GOC_GATEWAY_STATE_H */
