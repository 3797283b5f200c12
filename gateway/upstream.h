/*
 * upstream.h — a live upstream: its targets in a balancer, each with the
 * three verdicts that decide whether it gets traffic:
 *   healthy   the active health check's (rise/fall consecutive checks);
 *   ejected   passive outlier detection's (consecutive 5xx or connection
 *             failures), for eject_time × times ejected, capped;
 *   breaker   closed, open (for breaker_open), or half-open (a few probe
 *             requests decide).
 * A target is "up" in the balancer when healthy, not ejected and its
 * breaker not open; every change of a verdict recomputes it. An ejected
 * target that passes its health checks again is readmitted at once.
 *
 * Locking: gw_upstream.mu guards the target list (etcd replaces it while
 * requests flow); each target's verdicts are under its own mu. Requests
 * hold a balancer pick (a reference), so a removed target's memory lives
 * until its last request is done.
 */
#ifndef GOC_GATEWAY_UPSTREAM_H
#define GOC_GATEWAY_UPSTREAM_H

#include "gateway.h"

enum { GW_BREAKER_CLOSED, GW_BREAKER_OPEN, GW_BREAKER_HALF_OPEN };

typedef struct gw_upstream gw_upstream;

typedef struct gw_target {
    char addr[256];
    int weight;
    /* The upstream's, copied: read-only, valid while the upstream lives
     * (which outlives every request, so every pick, of its targets). */
    goc_balancer *up_lb;
    const char *up_name;
    gw_series *up_stats;
    const gw_upstream_cfg *cfg;
    int refs; /* atomic: the upstream's list (or retired list), snapshots */

    goc_mutex mu; /* guards the fields below */
    bool healthy;
    int passes, fails; /* consecutive active check results */
    int consec_5xx, consec_err;
    int64_t ejected_until; /* goc_now() time; 0: not ejected */
    int times_ejected;
    int breaker;          /* GW_BREAKER_* */
    int64_t window_start; /* the breaker's counting window */
    int win_total, win_fail;
    int64_t opened_at;
    int probes_out, probes_ok; /* half-open */
    bool up;                   /* what the balancer was last told */
} gw_target;

struct gw_upstream {
    const gw_upstream_cfg *cfg; /* the state's config (read-only) */
    char *name;
    goc_balancer *lb;
    goc_http_client *client; /* shared by the gateway, per TLS mode */
    gw_series *stats;
    goc_semaphore slots; /* max_inflight */
    int queued;          /* atomic: waiting for a slot */

    goc_mutex mu; /* guards targets, ntargets */
    gw_target **targets;
    size_t ntargets;
    /* Targets removed while requests may still hold picks of them (the
     * balancer keeps its entry until their done, and its data points
     * here): freed with the upstream. */
    gw_target **retired;
    size_t nretired;

    goc_ctx *life;         /* cancelled when the upstream is retired */
    goc_waitgroup checker; /* the health/expiry goroutine */
};

/* Build from cfg (targets from the config; etcd may replace them). prev:
 * the same-named upstream of the state being replaced (its targets'
 * verdicts carry over), or NULL. 0 or a negative errno. */
int gw_upstream_new(const gw_upstream_cfg *cfg, gw_upstream *prev, goc_http_client *client,
                    gw_upstream **out);
/* Start its checker goroutine (active checks, ejection expiry). */
int gw_upstream_start(gw_upstream *u);
/* Stop the checker and free what no request holds. */
void gw_upstream_free(gw_upstream *u);
/* Replace the targets (etcd): kept ones keep their verdicts. */
int gw_upstream_set_targets(gw_upstream *u, const gw_target_cfg *t, size_t n);

/* A slot for one more request (load shedding): 0, or -EAGAIN when full
 * and the queue too, or the ctx's error / -ETIMEDOUT after queue_timeout. */
int gw_upstream_acquire(gw_upstream *u, goc_ctx *ctx);
void gw_upstream_release(gw_upstream *u);

/* Whether the breaker lets a request through to t now (half-open: a
 * probe is counted). */
bool gw_target_admit(gw_target *t);
/* What came of a request to t: status (0: no response: err), whether it
 * counts as a failure for ejection and the breaker. probe: admitted
 * half-open. */
void gw_target_report(gw_target *t, int status, int err);

/* JSON of the targets for the admin pages (gw_targets_json_fn). */
void gw_upstream_targets_json(gw_upstream *u, gw_buf *b);

#endif /* GOC_GATEWAY_UPSTREAM_H */
