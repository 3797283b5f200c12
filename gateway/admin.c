/*
 * admin.c — the admin server's pages, over the series of stats.c and the
 * targets the live state describes (a gw_targets_json_fn):
 *
 *   GET /            the dashboard (dashboard.html, built into the binary:
 *                    inline CSS and JS, SVG charts, a Content-Security-
 *                    Policy that forbids anything from elsewhere); it polls
 *                    /api/stats once a second.
 *   GET /metrics     Prometheus text format 0.0.4: the gateway_* families,
 *                    then goc's own (goc_http_metrics_handler).
 *   GET /api/stats   JSON: every series' totals and its last 300 seconds,
 *                    upstreams with their targets.
 *
 * Every answer is built whole in a gw_buf (so an allocation failure is one
 * 503, not half a page) and is a snapshot of now: Cache-Control no-store.
 * The handler keeps no state between requests; its arg (the callback and
 * its argument) lives in a process-wide list, so it stays reachable for
 * as long as a server may call it.
 */
#include "stats_read.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* dashboard.html, generated into the build tree by gateway/CMakeLists.txt */
extern const unsigned char gw_dashboard_html[];
extern const size_t gw_dashboard_html_len;

typedef struct admin {
    gw_targets_json_fn targets; /* may be NULL: no targets */
    void *arg;
    struct admin *next; /* admins: never freed, set once */
} admin;

static goc_mutex admins_mu; /* guards admins */
static admin *admins;

static const struct {
    const char *metric, *key, *help;
} counters[GW_NCOUNTERS] = {
    [GW_RETRIES] = {"gateway_retries_total", "retries", "Extra upstream attempts."},
    [GW_RATE_LIMITED] = {"gateway_rate_limited_total", "rate_limited", "Answered 429."},
    [GW_SHED] = {"gateway_shed_total", "shed", "Answered 503 by the in-flight bound."},
    [GW_CACHE_HIT] = {"gateway_cache_hits_total", "cache_hits", "Answered from the cache."},
    [GW_CACHE_MISS] = {"gateway_cache_misses_total", "cache_misses", "Cacheable, not cached."},
    [GW_EJECTIONS] = {"gateway_ejections_total", "ejections",
                      "Targets put out by outlier detection."},
    [GW_CIRCUIT_OPENS] = {"gateway_circuit_opens_total", "circuit_opens", "Breakers opened."},
    [GW_TIMEOUTS] = {"gateway_timeouts_total", "timeouts", "Answered 504."},
};

static const char *kind_name(gw_kind k)
{
    return k == GW_ROUTE ? "route" : "upstream";
}

/* ---- the series, read once per request -------------------------------- */

typedef struct view {
    size_t n;
    gw_series **series;
    gw_series_snap *snap;
    gw_buf *targets; /* upstreams: the callback's JSON text; routes: empty */
    json_t **parsed; /* upstreams: that text parsed, NULL if not an array */
} view;

static void view_free(view *v)
{
    for (size_t i = 0; i < v->n; i++) {
        gw_buf_free(&v->targets[i]);
        json_decref(v->parsed[i]);
    }
    free(v->series);
    free(v->snap);
    free(v->targets);
    free(v->parsed);
}

static int view_read(view *v, const admin *a)
{
    memset(v, 0, sizeof *v);
    size_t cap = gw__series_list(NULL, 0) + 8; /* room for a few made meanwhile */
    v->series = calloc(cap, sizeof *v->series);
    v->snap = calloc(cap, sizeof *v->snap);
    v->targets = calloc(cap, sizeof *v->targets);
    v->parsed = calloc(cap, sizeof *v->parsed);
    if (!v->series || !v->snap || !v->targets || !v->parsed) {
        view_free(v);
        return -ENOMEM;
    }
    size_t n = gw__series_list(v->series, cap);
    v->n = n < cap ? n : cap;
    for (size_t i = 0; i < v->n; i++) {
        gw__series_read(v->series[i], &v->snap[i]);
        if (v->snap[i].kind != GW_UPSTREAM || !a->targets)
            continue;
        a->targets(&v->targets[i], v->snap[i].name, a->arg);
        if (v->targets[i].p && !v->targets[i].oom)
            v->parsed[i] = json_loadb(v->targets[i].p, v->targets[i].len, 0, NULL);
        if (v->parsed[i] && !json_is_array(v->parsed[i])) {
            json_decref(v->parsed[i]);
            v->parsed[i] = NULL;
        }
    }
    return 0;
}

/* ---- /metrics ----------------------------------------------------------- */

/* A label value: backslash, double quote and newline escaped. */
static void label(gw_buf *b, const char *key, const char *v)
{
    gw_buf_printf(b, "%s=\"", key);
    for (const char *p = v; *p; p++) {
        if (*p == '\\' || *p == '"')
            gw_buf_printf(b, "\\%c", *p);
        else if (*p == '\n')
            gw_buf_puts(b, "\\n");
        else
            gw_buf_append(b, p, 1);
    }
    gw_buf_puts(b, "\"");
}

/* "metric{kind=\"route\",name=\"api\"" — the caller closes or extends it. */
static void series_labels(gw_buf *b, const char *metric, const gw_series_snap *s)
{
    gw_buf_printf(b, "%s{kind=\"%s\",", metric, kind_name(s->kind));
    label(b, "name", s->name);
}

static void family(gw_buf *b, const char *name, const char *type, const char *help)
{
    gw_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* ns as decimal seconds, exact, trailing zeros dropped: "0.0005", "10". */
static void seconds(gw_buf *b, uint64_t ns)
{
    char s[32];
    int n = snprintf(s, sizeof s, "%" PRIu64 ".%09" PRIu64, ns / 1000000000u, ns % 1000000000u);
    while (s[n - 1] == '0')
        s[--n] = '\0';
    if (s[n - 1] == '.')
        s[--n] = '\0';
    gw_buf_puts(b, s);
}

static void metrics_requests(gw_buf *b, const view *v)
{
    static const char *const classless = "none";
    family(b, "gateway_requests_total", "counter",
           "Requests answered, by status code (none: no answer, the client went away).");
    for (size_t i = 0; i < v->n; i++) {
        const gw_series_snap *s = &v->snap[i];
        for (size_t c = 0; c < s->ncodes; c++) {
            series_labels(b, "gateway_requests_total", s);
            gw_buf_printf(b, ",code=\"%d\"} %" PRIu64 "\n", s->codes[c], s->code_n[c]);
        }
        if (s->code_other) {
            series_labels(b, "gateway_requests_total", s);
            gw_buf_printf(b, ",code=\"other\"} %" PRIu64 "\n", s->code_other);
        }
        if (s->classes[0]) {
            series_labels(b, "gateway_requests_total", s);
            gw_buf_printf(b, ",code=\"%s\"} %" PRIu64 "\n", classless, s->classes[0]);
        }
    }
}

static void metrics_latency(gw_buf *b, const view *v)
{
    const char *name = "gateway_request_duration_seconds";
    const char *bucket = "gateway_request_duration_seconds_bucket",
               *sum = "gateway_request_duration_seconds_sum",
               *count = "gateway_request_duration_seconds_count";
    family(b, name, "histogram", "Request latency through the gateway.");
    for (size_t i = 0; i < v->n; i++) {
        const gw_series_snap *s = &v->snap[i];
        uint64_t cum = 0;
        for (int k = 0; k < GW_LAT_BUCKETS; k++) {
            cum += s->lat[k];
            series_labels(b, bucket, s);
            gw_buf_puts(b, ",le=\"");
            if (k < GW_LAT_BOUNDS)
                seconds(b, (uint64_t)gw__lat_bound(k));
            else
                gw_buf_puts(b, "+Inf");
            gw_buf_printf(b, "\"} %" PRIu64 "\n", cum);
        }
        series_labels(b, sum, s);
        gw_buf_puts(b, "} ");
        seconds(b, s->lat_sum_ns);
        gw_buf_puts(b, "\n");
        series_labels(b, count, s);
        gw_buf_printf(b, "} %" PRIu64 "\n", cum);
    }
}

static void metrics_counters(gw_buf *b, const view *v)
{
    for (int c = 0; c < GW_NCOUNTERS; c++) {
        family(b, counters[c].metric, "counter", counters[c].help);
        for (size_t i = 0; i < v->n; i++) {
            series_labels(b, counters[c].metric, &v->snap[i]);
            gw_buf_printf(b, "} %" PRIu64 "\n", v->snap[i].counters[c]);
        }
    }
}

/* Each gauge name once, with every series that has it (a family's samples
 * must be together). */
static void metrics_gauges(gw_buf *b, const view *v)
{
    for (size_t i = 0; i < v->n; i++) {
        for (size_t g = 0; g < v->snap[i].ngauges; g++) {
            const char *gname = v->snap[i].gauge_name[g];
            bool seen = false; /* emitted with an earlier series */
            for (size_t j = 0; j < i && !seen; j++)
                for (size_t h = 0; h < v->snap[j].ngauges && !seen; h++)
                    seen = strcmp(v->snap[j].gauge_name[h], gname) == 0;
            if (seen)
                continue;
            gw_buf_printf(b, "# HELP gateway_%s A gauge the gateway sets (%s).\n", gname, gname);
            gw_buf_printf(b, "# TYPE gateway_%s gauge\n", gname);
            for (size_t j = i; j < v->n; j++)
                for (size_t h = 0; h < v->snap[j].ngauges; h++)
                    if (strcmp(v->snap[j].gauge_name[h], gname) == 0) {
                        gw_buf_printf(b, "gateway_%s", gname);
                        series_labels(b, "", &v->snap[j]);
                        gw_buf_printf(b, "} %" PRId64 "\n", v->snap[j].gauge[h]);
                    }
        }
    }
}

/* One family over every upstream's targets: value(target) per sample. */
static void metrics_target_family(gw_buf *b, const view *v, const char *name, const char *help,
                                  int64_t (*value)(json_t *t))
{
    family(b, name, "gauge", help);
    for (size_t i = 0; i < v->n; i++) {
        size_t k;
        json_t *t;
        json_array_foreach(v->parsed[i], k, t)
        {
            const char *addr = json_string_value(json_object_get(t, "addr"));
            if (!addr)
                continue;
            gw_buf_puts(b, name);
            label(b, "{upstream", v->snap[i].name);
            gw_buf_puts(b, ",");
            label(b, "addr", addr);
            gw_buf_printf(b, "} %" PRId64 "\n", value(t));
        }
    }
}

static int64_t target_up(json_t *t)
{
    json_t *up = json_object_get(t, "up");
    if (json_is_boolean(up))
        return json_is_true(up);
    const char *st = json_string_value(json_object_get(t, "state"));
    return st && strcmp(st, "healthy") == 0;
}

static int64_t target_inflight(json_t *t)
{
    return json_integer_value(json_object_get(t, "inflight"));
}

static int64_t target_weight(json_t *t)
{
    return json_integer_value(json_object_get(t, "weight"));
}

static void render_metrics(gw_buf *b, const view *v)
{
    metrics_requests(b, v);
    metrics_latency(b, v);
    metrics_counters(b, v);
    metrics_gauges(b, v);
    metrics_target_family(b, v, "gateway_target_up",
                          "1 if the target takes requests (healthy), else 0.", target_up);
    metrics_target_family(b, v, "gateway_target_inflight", "Requests in flight to the target.",
                          target_inflight);
    metrics_target_family(b, v, "gateway_target_weight", "The target's balancing weight.",
                          target_weight);
}

/* ---- /api/stats --------------------------------------------------------- */

static void json_history(gw_buf *b, gw_series *s, int64_t now_s)
{
    gw_point *pts = malloc(GW_HISTORY * sizeof *pts); /* 7 KiB: off the goroutine's stack */
    if (!pts) {
        b->oom = true;
        return;
    }
    gw__series_history(s, now_s, pts);
    gw_buf_printf(b, "\"history\":{\"t0\":%" PRId64 ",\"step\":1,\"qps\":[",
                  now_s - GW_HISTORY + 1);
    for (int i = 0; i < GW_HISTORY; i++)
        gw_buf_printf(b, "%s%" PRIu32, i ? "," : "", pts[i].req);
    gw_buf_puts(b, "],\"err\":[");
    for (int i = 0; i < GW_HISTORY; i++)
        gw_buf_printf(b, "%s%" PRIu32, i ? "," : "", pts[i].err);
    for (int q = 0; q < 2; q++) {
        gw_buf_puts(b, q ? "],\"p99_ms\":[" : "],\"p50_ms\":[");
        for (int i = 0; i < GW_HISTORY; i++) {
            double ms = q ? pts[i].p99_ms : pts[i].p50_ms;
            if (ms < 0)
                gw_buf_printf(b, "%snull", i ? "," : "");
            else
                gw_buf_printf(b, "%s%.3f", i ? "," : "", ms);
        }
    }
    gw_buf_puts(b, "]}");
    free(pts);
}

static void json_series(gw_buf *b, const view *v, size_t i, int64_t now_s)
{
    const gw_series_snap *s = &v->snap[i];
    gw_buf_puts(b, "{\"name\":");
    gw_buf_json_str(b, s->name);
    gw_buf_printf(b, ",\"total\":%" PRIu64 ",\"latency_sum_ms\":%.3f,\"codes\":{", s->count,
                  (double)s->lat_sum_ns / 1e6);
    for (size_t c = 0; c < s->ncodes; c++)
        gw_buf_printf(b, "%s\"%d\":%" PRIu64, c ? "," : "", s->codes[c], s->code_n[c]);
    gw_buf_printf(b, "%s\"other\":%" PRIu64 ",\"none\":%" PRIu64 "},\"counters\":{",
                  s->ncodes ? "," : "", s->code_other, s->classes[0]);
    for (int c = 0; c < GW_NCOUNTERS; c++)
        gw_buf_printf(b, "%s\"%s\":%" PRIu64, c ? "," : "", counters[c].key, s->counters[c]);
    gw_buf_puts(b, "},\"gauges\":{");
    for (size_t g = 0; g < s->ngauges; g++)
        gw_buf_printf(b, "%s\"%s\":%" PRId64, g ? "," : "", s->gauge_name[g], s->gauge[g]);
    gw_buf_puts(b, "},");
    json_history(b, v->series[i], now_s);
    if (s->kind == GW_UPSTREAM) {
        gw_buf_puts(b, ",\"targets\":");
        if (v->parsed[i])
            gw_buf_append(b, v->targets[i].p, v->targets[i].len);
        else
            gw_buf_puts(b, "[]");
    }
    gw_buf_puts(b, "}");
}

static void render_json(gw_buf *b, const view *v)
{
    int64_t now_ms = gw__unix_ms();
    gw_buf_printf(b, "{\"now_ms\":%" PRId64, now_ms);
    for (int k = 0; k < 2; k++) {
        gw_kind kind = k ? GW_UPSTREAM : GW_ROUTE;
        gw_buf_puts(b, k ? "],\"upstreams\":[" : ",\"routes\":[");
        bool first = true;
        for (size_t i = 0; i < v->n; i++) {
            if (v->snap[i].kind != kind)
                continue;
            if (!first)
                gw_buf_puts(b, ",");
            first = false;
            json_series(b, v, i, now_ms / 1000);
        }
    }
    gw_buf_puts(b, "]}\n");
}

/* ---- serving ------------------------------------------------------------ */

static void reply(goc_http_response_writer *w, const char *type, const void *p, size_t n)
{
    goc_http_header *h = goc_http_response_header(w);
    char len[24];
    snprintf(len, sizeof len, "%zu", n);
    goc_http_header_set(h, "Content-Type", type);
    goc_http_header_set(h, "Content-Length", len);
    goc_http_write(w, p, n);
}

static void serve_page(goc_http_response_writer *w)
{
    goc_http_header *h = goc_http_response_header(w);
    goc_http_header_set(h, "Content-Security-Policy",
                        "default-src 'none'; script-src 'unsafe-inline'; "
                        "style-src 'unsafe-inline'; connect-src 'self'");
    goc_http_header_set(h, "X-Content-Type-Options", "nosniff");
    reply(w, "text/html; charset=utf-8", gw_dashboard_html, gw_dashboard_html_len);
}

/* The gateway's families, then goc's: a flush commits the head first, so
 * the Content-Length goc's handler sets no longer applies (the body goes
 * out chunked, or to the close on HTTP/1.0). */
static void serve_metrics(goc_http_response_writer *w, goc_http_request *r, const view *v)
{
    gw_buf b = {0};
    render_metrics(&b, v);
    if (b.oom) {
        gw_buf_free(&b);
        goc_http_error(w, "out of memory", 503);
        return;
    }
    goc_http_header_set(goc_http_response_header(w), "Content-Type",
                        "text/plain; version=0.0.4; charset=utf-8");
    goc_http_write(w, b.p, b.len);
    gw_buf_free(&b);
    if (goc_http_flush(w) == 0)
        goc_http_serve_http(goc_http_metrics_handler(), w, r);
}

static void serve_json(goc_http_response_writer *w, const view *v)
{
    gw_buf b = {0};
    render_json(&b, v);
    if (b.oom)
        goc_http_error(w, "out of memory", 503);
    else
        reply(w, "application/json", b.p, b.len);
    gw_buf_free(&b);
}

static void serve_admin(goc_http_response_writer *w, goc_http_request *r, void *arg)
{
    const admin *a = arg;
    goc_http_header *h = goc_http_response_header(w);
    if (strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0) {
        goc_http_header_set(h, "Allow", "GET, HEAD");
        goc_http_error(w, "method not allowed", 405);
        return;
    }
    bool page = strcmp(r->path, "/") == 0, metrics = strcmp(r->path, "/metrics") == 0;
    if (!page && !metrics && strcmp(r->path, "/api/stats") != 0) {
        goc_http_not_found(w, r);
        return;
    }
    goc_http_header_set(h, "Cache-Control", "no-store"); /* every answer is a snapshot of now */
    if (page) {
        serve_page(w);
        return;
    }
    view v;
    if (view_read(&v, a) < 0) {
        goc_http_error(w, "out of memory", 503);
        return;
    }
    if (metrics)
        serve_metrics(w, r, &v);
    else
        serve_json(w, &v);
    view_free(&v);
}

goc_http_handler gw_admin_handler(gw_targets_json_fn targets, void *arg)
{
    static admin no_targets; /* if out of memory: the pages still work, without targets */
    admin *a = malloc(sizeof *a);
    if (!a)
        return (goc_http_handler){serve_admin, &no_targets};
    a->targets = targets;
    a->arg = arg;
    goc_mutex_lock(&admins_mu);
    a->next = admins;
    admins = a;
    goc_mutex_unlock(&admins_mu);
    return (goc_http_handler){serve_admin, a};
}
