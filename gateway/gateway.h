/*
 * gateway.h — what the gateway's files share. The gateway is a program on
 * goc's public API only (goc.h, goc/http.h, goc/httputil.h): it is the
 * proof that the library does the job.
 *
 *   main.c      flags, signals (SIGHUP reloads, SIGTERM drains), servers
 *   config.c    the YAML file (libyaml) → gw_config, with "line N: reason"
 *   state.c     a gw_config made live: upstreams, routes, the mux; swapped
 *               whole on reload (readers hold a reference)
 *   upstream.c  targets, active health checks, outlier ejection, circuit
 *               breakers, the in-flight bound (load shedding)
 *   route.c     one route's handler: match conditions, rewrite, rate limit,
 *               cache, retries under the retry budget, the reverse proxy
 *   stats.c     per route and upstream counters and a per-second history
 *   admin.c     the admin server: the live dashboard, /metrics, /api/stats
 *   accesslog.c JSON lines
 *   etcd.c      upstream targets from etcd (v3 JSON gateway), watched
 *   buf.c       a growable string
 */
#ifndef GOC_GATEWAY_H
#define GOC_GATEWAY_H

#include <goc.h>
#include <goc/httputil.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- buf.c: a growable NUL-terminated string ----------------------------- */

typedef struct gw_buf {
    char *p;    /* NUL-terminated once anything was appended; NULL before */
    size_t len; /* bytes before the NUL */
    size_t cap;
    bool oom; /* an append failed: the content is cut short */
} gw_buf;

void gw_buf_append(gw_buf *b, const void *p, size_t n);
void gw_buf_puts(gw_buf *b, const char *s);
void gw_buf_printf(gw_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* s as a JSON string, quotes included. */
void gw_buf_json_str(gw_buf *b, const char *s);
void gw_buf_free(gw_buf *b);

/* ---- config.c: the configuration file ------------------------------------ */

typedef struct gw_target_cfg {
    char *addr; /* "host:port" */
    int weight; /* 1 unless given */
} gw_target_cfg;

typedef struct gw_health_cfg {
    char *path;            /* NULL: no active checks */
    goc_duration interval; /* default 5s */
    goc_duration timeout;  /* default min(interval, 2s) */
    int expect_status;     /* 0: any 2xx or 3xx */
    int rise, fall;        /* consecutive passes to come back (2), fails to go down (2) */
} gw_health_cfg;

typedef struct gw_upstream_cfg {
    char *name;
    int line;
    goc_balance_policy balance; /* round_robin unless given */
    char *hash_key;             /* hash: "ip" (default), "path", "header:NAME" */
    gw_target_cfg *targets;
    size_t ntargets;
    bool tls;          /* speak https to the targets */
    bool tls_insecure; /* do not verify their certificates */
    gw_health_cfg health;
    /* Passive outlier ejection: this many consecutive 5xx answers or
     * connection failures put a target out for eject_time × (times ejected
     * before, up to eject_max). 0 disables that trigger. */
    int eject_5xx;           /* default 5 */
    int eject_errors;        /* default 3 */
    goc_duration eject_time; /* default 10s */
    goc_duration eject_max;  /* default 300s */
    /* Circuit breaker per target: opens when at least breaker_min requests
     * of the last breaker_window failed (5xx, timeout, connection error)
     * at breaker_ratio or more; half-open after breaker_open, where
     * breaker_probes requests go through and close it if they pass. */
    int breaker_min;             /* default 20; 0 disables the breaker */
    double breaker_ratio;        /* default 0.5 */
    goc_duration breaker_window; /* default 10s */
    goc_duration breaker_open;   /* default 5s */
    int breaker_probes;          /* default 3 */
    /* Load shedding: at most max_inflight requests in flight to the
     * upstream, max_queue more waiting up to queue_timeout; beyond: 503. */
    int max_inflight;           /* default 1024 */
    int max_queue;              /* default 1024 */
    goc_duration queue_timeout; /* default 1s */
    bool from_etcd;             /* targets come from etcd (may start empty) */
} gw_upstream_cfg;

typedef struct gw_header_cond {
    char *name;
    char *value; /* NULL: the field must be present; else equal to this */
} gw_header_cond;

typedef struct gw_route_cfg {
    char *match; /* a goc mux pattern: [METHOD ][HOST]/path */
    int line;
    char *upstream;
    gw_header_cond *headers; /* all must hold, else the next route that matches */
    size_t nheaders;
    char *strip_prefix;   /* removed from the path before forwarding */
    char *rewrite_prefix; /* put in front of the path (after stripping) */
    goc_duration timeout; /* the whole upstream exchange; default 30s; 0: none */
    int retries;          /* extra attempts; default 1 */
    bool cache;           /* through the gateway's cache */
    double rate;          /* rate_limit.rate: requests per second; 0: none */
    int burst;            /* rate_limit.burst; default max(1, rate) */
    char *rate_key;       /* "ip" (default) or "header:NAME" */
} gw_route_cfg;

typedef struct gw_config {
    char *path;                    /* the file it was read from */
    char *listen;                  /* "127.0.0.1:8080" */
    char *admin;                   /* NULL: no admin server */
    char *tls_cert, *tls_key;      /* both or neither: TLS on listen */
    char *access_log;              /* NULL or "off": none; "-": stdout; else a file */
    size_t cache_bytes;            /* cache.max_bytes; default 64 MiB */
    goc_duration cache_ttl;        /* cache.default_ttl; default 0 */
    double retry_budget;           /* retries at most this share of requests; default 0.2 */
    int retry_min_per_sec;         /* retries always allowed per second; default 10 */
    goc_duration shutdown_timeout; /* SIGTERM drain; default 30s */
    char **etcd_endpoints;         /* "http://127.0.0.1:2379" */
    size_t netcd;
    char *etcd_prefix; /* default "/goc-gateway/" */
    gw_upstream_cfg *upstreams;
    size_t nupstreams;
    gw_route_cfg *routes;
    size_t nroutes;
} gw_config;

/* Read and check path: 0 and *out, or a negative errno with err set to one
 * line: "FILE: line N: reason" (the YAML parser's, or the schema's: "line
 * 5: unknown balance \"round_robbin\""). Absent strings are NULL
 * (access_log also for "off"); etcd_prefix, hash_key and rate_key always
 * hold one. */
int gw_config_load(const char *path, gw_config **out, char *err, size_t errlen);
/* The same from memory (name is used in messages). */
int gw_config_parse(const char *name, const char *yaml, size_t len, gw_config **out, char *err,
                    size_t errlen);
void gw_config_free(gw_config *c);
/* "1s", "250ms", "2m", "1h30m", "100us": 0 and *out, or -EINVAL. */
int gw_parse_duration(const char *s, goc_duration *out);

/* ---- stats.c: counters and a per-second history -------------------------- */

/* One route's or one upstream's numbers. Series live in a registry keyed by
 * kind and name, so a reload that keeps a route keeps its history. */
typedef struct gw_series gw_series;

typedef enum gw_counter {
    GW_RETRIES,      /* extra upstream attempts */
    GW_RATE_LIMITED, /* answered 429 */
    GW_SHED,         /* answered 503 by the in-flight bound */
    GW_CACHE_HIT,
    GW_CACHE_MISS,
    GW_EJECTIONS,     /* targets put out by outlier detection */
    GW_CIRCUIT_OPENS, /* breakers opened */
    GW_TIMEOUTS,      /* answered 504 */
    GW_NCOUNTERS
} gw_counter;

typedef enum gw_kind { GW_ROUTE, GW_UPSTREAM } gw_kind;

/* The series for (kind, name), made on first use; never freed before
 * gw_stats_shutdown. NULL on ENOMEM. Any thread. */
gw_series *gw_series_get(gw_kind kind, const char *name);
/* One request answered with status (0: no answer: the client went away)
 * after latency. Lock-free on the hot path. */
void gw_series_observe(gw_series *s, int status, goc_duration latency);
void gw_series_count(gw_series *s, gw_counter c);
/* A gauge the series reports as is (open circuits, targets up). */
void gw_series_set_gauge(gw_series *s, const char *name, int64_t v);
void gw_stats_shutdown(void);

/* ---- admin.c: dashboard, /metrics, /api/stats ----------------------------- */

/* What the admin pages need from the live state: writes a JSON array of the
 * upstream's targets ([{"addr":..,"up":..,"state":"healthy"|"down"|
 * "ejected"|"open"|"half-open","weight":..,"inflight":..,"ewma_ms":..}])
 * into b. */
typedef void (*gw_targets_json_fn)(gw_buf *b, const char *upstream, void *arg);
/* The admin handler: "/" the dashboard (one HTML page, no outside
 * resources), "/metrics" Prometheus text, "/api/stats" JSON. */
goc_http_handler gw_admin_handler(gw_targets_json_fn targets, void *arg);

/* ---- accesslog.c ---------------------------------------------------------- */

typedef struct gw_access_log gw_access_log;
/* path "-": stdout; else appended to (created 0644). 0 and *out, or a
 * negative errno (-EINVAL for NULL). */
int gw_access_log_open(const char *path, gw_access_log **out);
void gw_access_log_close(gw_access_log *l);
typedef struct gw_access_entry {
    const char *remote, *method, *host, *target, *proto, *route, *upstream, *target_addr;
    int status;
    int64_t bytes;
    goc_duration latency;
    int attempts;
    const char *cache; /* "HIT", "MISS", ... or NULL */
    const char *error; /* or NULL */
} gw_access_entry;
/* One JSON line (time in RFC 3339 with ms). Any goroutine; lines never
 * interleave. */
void gw_access_log_write(gw_access_log *l, const gw_access_entry *e);

/* ---- etcd.c: targets from etcd --------------------------------------------
 *
 * Keys under prefix: PREFIX "upstreams/" NAME "/" ADDR, value "" or a
 * weight ("3") or {"weight":3}. The whole set of an upstream's targets is
 * handed over on start and after every change (watch). */
typedef struct gw_etcd gw_etcd;
/* targets (NULL when n is 0) and their strings are valid during the call
 * only. Called on gw_etcd_start's caller for the first read, then on the
 * watch goroutine. */
typedef void (*gw_etcd_targets_fn)(const char *upstream, const gw_target_cfg *targets, size_t n,
                                   void *arg);
/* Read the current targets (fn called for each upstream found before this
 * returns: 0), then follow changes on a goroutine of its own, reconnecting
 * (to the next endpoint) with backoff. Negative errno if no endpoint
 * answered the first read. */
int gw_etcd_start(char *const *endpoints, size_t n, const char *prefix, gw_etcd_targets_fn fn,
                  void *arg, gw_etcd **out);
void gw_etcd_stop(gw_etcd *e);

#endif /* GOC_GATEWAY_H */
