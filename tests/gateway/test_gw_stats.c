/*
 * test_gw_stats.c — the gateway's series (stats.c) through the admin pages
 * (admin.c) served by a real server on loopback:
 *
 *   - /metrics after requests of known status and latency: exact counts
 *     per code, histogram buckets cumulative and monotonic with the right
 *     counts at chosen bounds, _sum and _count, the gw_counter counters,
 *     gauges, target gauges from the targets callback, label values with
 *     quotes, backslashes and newlines escaped, each family declared once,
 *     goc's own families after the gateway's;
 *   - /api/stats parses as JSON, its history holds this second's requests
 *     and 5xx, percentiles where there were requests, targets as given;
 *   - the dashboard at "/", 404 and 405 elsewhere;
 *   - 8 goroutines and 2 threads observing one series at once: exact
 *     totals; the same series from concurrent gw_series_get; gauge names
 *     bounded;
 *   - the per-second ring on a clock the test sets (gw__series_observe_at):
 *     seconds in their place in the window, p50/p99 interpolated inside a
 *     bucket, a slot reused after 300 s starting from zero, a clock that
 *     stepped back kept out of the history only; observers racing over
 *     second boundaries never over-count.
 */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <jansson.h>

#include "stats_read.h"
#include "http/serverutil.h"
#include "runtime/util.h"

#define MS GOC_MILLISECOND

static void targets_json(gw_buf *b, const char *upstream, void *arg)
{
    (void)arg;
    if (strcmp(upstream, "backend") == 0)
        gw_buf_puts(b, "[{\"addr\":\"10.0.0.1:80\",\"up\":true,\"state\":\"healthy\","
                       "\"weight\":2,\"inflight\":3,\"ewma_ms\":1.5},"
                       "{\"addr\":\"10.0.0.2:80\",\"up\":false,\"state\":\"ejected\","
                       "\"weight\":1,\"inflight\":0,\"ewma_ms\":0}]");
    else
        gw_buf_puts(b, "[]");
}

/* GET path from ts: the response (body to free), status checked. */
static bool get(test_server *ts, const char *path, test_resp *r)
{
    char req[512];
    snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: admin\r\n\r\n", path);
    bool ok = test_roundtrip(ts, req, r);
    GO_CHECK(ok, "GET %s: no response", path);
    return ok;
}

/* The value of the sample whose line starts with prefix (name and labels,
 * up to the space), or -1. */
static double sample(const char *text, const char *prefix)
{
    size_t n = strlen(prefix);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (strncmp(p, prefix, n) == 0 && p[n] == ' ')
            return strtod(p + n + 1, NULL);
    return -1;
}

/* 10 × 200 at 0.3 ms, 5 × 200 at 3 ms, 3 × 503 at 70 ms, 2 × 404 at 20 s
 * (past the last bound), 1 without an answer at 1 ms: 21 in all. */
static void observe_known(gw_series *s)
{
    for (int i = 0; i < 10; i++)
        gw_series_observe(s, 200, 300 * GOC_MICROSECOND);
    for (int i = 0; i < 5; i++)
        gw_series_observe(s, 200, 3 * MS);
    for (int i = 0; i < 3; i++)
        gw_series_observe(s, 503, 70 * MS);
    for (int i = 0; i < 2; i++)
        gw_series_observe(s, 404, 20 * GOC_SECOND);
    gw_series_observe(s, 0, 1 * MS);
}

static void check_buckets(const char *m)
{
    const char *pre = "gateway_request_duration_seconds_bucket{kind=\"route\",name=\"api\",le=\"";
    double prev = -1;
    int n = 0;
    for (const char *p = strstr(m, pre); p; p = strstr(p + 1, pre)) {
        const char *v = strchr(p, ' ');
        double c = strtod(v + 1, NULL);
        GO_CHECK(c >= prev, "bucket counts not monotonic at %.60s", p);
        prev = c;
        n++;
    }
    GO_CHECK(n == 21, "%d buckets, want 21", n);
    struct {
        const char *le;
        double want;
    } at[] = {{"0.0005", 10}, {"0.001", 11}, {"0.004", 16}, {"0.06", 16},
              {"0.1", 19},    {"10", 19},    {"+Inf", 21}};
    for (size_t i = 0; i < sizeof at / sizeof at[0]; i++) {
        char key[256];
        snprintf(key, sizeof key, "%s%s\"}", pre, at[i].le);
        GO_CHECK(sample(m, key) == at[i].want, "le=%s: %g, want %g", at[i].le, sample(m, key),
                 at[i].want);
    }
    GO_CHECK(sample(m, "gateway_request_duration_seconds_count{kind=\"route\",name=\"api\"}") == 21,
             "count");
    /* 10×0.3 + 5×3 + 3×70 + 2×20000 + 1 ms = 40.229 s, printed exactly */
    GO_CHECK(
        strstr(m, "gateway_request_duration_seconds_sum{kind=\"route\",name=\"api\"} 40.229\n"),
        "sum");
}

/* Every "# TYPE name" line once. */
static void check_families_once(const char *m)
{
    for (const char *p = strstr(m, "# TYPE "); p; p = strstr(p + 1, "# TYPE ")) {
        char name[128];
        sscanf(p + 7, "%127s", name);
        char line[160];
        snprintf(line, sizeof line, "# TYPE %s ", name);
        GO_CHECK(strstr(m, line) == p && !strstr(p + 1, line), "family %s declared twice", name);
    }
}

static int metrics_main(void *arg)
{
    (void)arg;
    gw_series *api = gw_series_get(GW_ROUTE, "api");
    gw_series *odd = gw_series_get(GW_ROUTE, "we\"ird\\name\nx");
    gw_series *be = gw_series_get(GW_UPSTREAM, "backend");
    GO_CHECK(api && odd && be, "gw_series_get");
    GO_CHECK(gw_series_get(GW_ROUTE, "api") == api, "the same name, another series");
    GO_CHECK(gw_series_get(GW_UPSTREAM, "api") != api, "kinds share a series");
    observe_known(api);
    gw_series_observe(odd, 201, MS);
    gw_series_count(api, GW_RETRIES);
    gw_series_count(api, GW_RETRIES);
    gw_series_count(api, GW_CACHE_HIT);
    gw_series_count(be, GW_EJECTIONS);
    gw_series_set_gauge(be, "open_circuits", 5);
    gw_series_set_gauge(be, "open_circuits", 3);
    gw_series_set_gauge(api, "open_circuits", 0);

    test_server ts;
    GO_CHECK(test_server_start(&ts, gw_admin_handler(targets_json, NULL), NULL), "server");
    test_resp r;
    if (get(&ts, "/metrics", &r)) {
        const char *m = r.body;
        char ct[128] = "";
        test_field(&r, "Content-Type", ct, sizeof ct);
        GO_CHECK(r.status == 200 && strstr(ct, "version=0.0.4"), "%d %s", r.status, ct);
        const char *rt = "gateway_requests_total{kind=\"route\",name=\"api\",code=";
        char k[128];
        struct {
            const char *code;
            double want;
        } codes[] = {{"\"200\"}", 15}, {"\"503\"}", 3}, {"\"404\"}", 2}, {"\"none\"}", 1}};
        for (size_t i = 0; i < 4; i++) {
            snprintf(k, sizeof k, "%s%s", rt, codes[i].code);
            GO_CHECK(sample(m, k) == codes[i].want, "%s: %g", k, sample(m, k));
        }
        check_buckets(m);
        GO_CHECK(sample(m, "gateway_retries_total{kind=\"route\",name=\"api\"}") == 2, "retries");
        GO_CHECK(sample(m, "gateway_cache_hits_total{kind=\"route\",name=\"api\"}") == 1, "hits");
        GO_CHECK(sample(m, "gateway_cache_misses_total{kind=\"route\",name=\"api\"}") == 0, "miss");
        GO_CHECK(sample(m, "gateway_ejections_total{kind=\"upstream\",name=\"backend\"}") == 1,
                 "ejections");
        GO_CHECK(sample(m, "gateway_open_circuits{kind=\"upstream\",name=\"backend\"}") == 3,
                 "gauge");
        GO_CHECK(sample(m, "gateway_open_circuits{kind=\"route\",name=\"api\"}") == 0, "gauge");
        GO_CHECK(sample(m, "gateway_requests_total{kind=\"route\",name=\"we\\\"ird\\\\name\\nx\","
                           "code=\"201\"}") == 1,
                 "escaped label:\n%s", m);
        GO_CHECK(sample(m, "gateway_target_up{upstream=\"backend\",addr=\"10.0.0.1:80\"}") == 1,
                 "target up");
        GO_CHECK(sample(m, "gateway_target_up{upstream=\"backend\",addr=\"10.0.0.2:80\"}") == 0,
                 "target down");
        GO_CHECK(sample(m, "gateway_target_inflight{upstream=\"backend\",addr=\"10.0.0.1:80\"}") ==
                     3,
                 "inflight");
        check_families_once(m);
        const char *goc = strstr(m, "# TYPE goc_goroutines gauge");
        GO_CHECK(goc && goc > strstr(m, "gateway_target_up"), "goc's families after ours");
    }
    test_resp_free(&r);
    test_server_stop(&ts);
    gw_stats_shutdown();
    return 0;
}

Test(gateway_stats, metrics, .timeout = 30)
{
    run_main(metrics_main, NULL);
}

/* The sum of the last n entries of JSON array a. */
static double tail_sum(json_t *a, size_t n)
{
    double s = 0;
    size_t len = json_array_size(a);
    for (size_t i = len >= n ? len - n : 0; i < len; i++)
        s += json_number_value(json_array_get(a, i));
    return s;
}

static json_t *find_named(json_t *list, const char *name)
{
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v)
    {
        if (strcmp(json_string_value(json_object_get(v, "name")), name) == 0)
            return v;
    }
    return NULL;
}

static void check_history(json_t *api, int64_t before_s)
{
    json_t *h = json_object_get(api, "history");
    json_t *qps = json_object_get(h, "qps"), *err = json_object_get(h, "err");
    json_t *p99 = json_object_get(h, "p99_ms");
    GO_CHECK(json_array_size(qps) == 300 && json_array_size(err) == 300 &&
                 json_array_size(p99) == 300 && json_integer_value(json_object_get(h, "step")) == 1,
             "history shape");
    int64_t t0 = json_integer_value(json_object_get(h, "t0"));
    GO_CHECK(t0 + 299 >= before_s && t0 + 299 <= before_s + 5, "t0 %" PRId64 ", now %" PRId64, t0,
             before_s);
    /* all 21 were observed after before_s: in the seconds since */
    size_t recent = (size_t)(t0 + 299 - before_s + 1);
    GO_CHECK(tail_sum(qps, recent) == 21 && tail_sum(qps, 300) == 21, "qps: last %zu s %g, all %g",
             recent, tail_sum(qps, recent), tail_sum(qps, 300));
    GO_CHECK(tail_sum(err, recent) == 3, "5xx in the history: %g", tail_sum(err, recent));
    for (size_t i = 0; i < 300; i++) {
        bool some = json_integer_value(json_array_get(qps, i)) > 0;
        json_t *q = json_array_get(p99, i);
        GO_CHECK(some ? json_is_number(q) : json_is_null(q), "p99 at %zu", i);
        /* the 20 s requests sit in the unbounded bucket: p99 there is its lower bound */
        if (json_integer_value(json_array_get(qps, i)) == 21)
            GO_CHECK(json_number_value(q) == 10000, "p99 %g ms", json_number_value(q));
    }
}

static int api_main(void *arg)
{
    (void)arg;
    int64_t before_s = time(NULL);
    observe_known(gw_series_get(GW_ROUTE, "api"));
    gw_series_count(gw_series_get(GW_UPSTREAM, "backend"), GW_SHED);
    test_server ts;
    GO_CHECK(test_server_start(&ts, gw_admin_handler(targets_json, NULL), NULL), "server");
    test_resp r;
    if (get(&ts, "/api/stats", &r)) {
        json_error_t je;
        json_t *j = json_loads(r.body, 0, &je);
        GO_CHECK(r.status == 200 && j, "%d, %s: %s", r.status, je.text, r.body);
        json_t *api = find_named(json_object_get(j, "routes"), "api");
        json_t *be = find_named(json_object_get(j, "upstreams"), "backend");
        GO_CHECK(api && be, "series missing: %s", r.body);
        int64_t now_ms = json_integer_value(json_object_get(j, "now_ms"));
        GO_CHECK(now_ms / 1000 >= before_s, "now_ms %" PRId64, now_ms);
        if (api && be) {
            GO_CHECK(json_integer_value(json_object_get(api, "total")) == 21, "total");
            GO_CHECK(json_integer_value(json_object_get(json_object_get(api, "codes"), "503")) == 3,
                     "codes");
            check_history(api, before_s);
            json_t *t = json_object_get(be, "targets");
            GO_CHECK(json_array_size(t) == 2 &&
                         strcmp(json_string_value(json_object_get(json_array_get(t, 1), "state")),
                                "ejected") == 0,
                     "targets");
            GO_CHECK(json_integer_value(json_object_get(json_object_get(be, "counters"), "shed")) ==
                         1,
                     "shed");
            GO_CHECK(json_object_get(api, "targets") == NULL, "a route with targets");
        }
        json_decref(j);
    }
    test_resp_free(&r);
    test_server_stop(&ts);
    gw_stats_shutdown();
    return 0;
}

Test(gateway_stats, api_stats, .timeout = 30)
{
    run_main(api_main, NULL);
}

static int pages_main(void *arg)
{
    (void)arg;
    test_server ts;
    /* no callback: upstreams list no targets */
    GO_CHECK(test_server_start(&ts, gw_admin_handler(NULL, NULL), NULL), "server");
    gw_series_observe(gw_series_get(GW_UPSTREAM, "u"), 200, MS);
    test_resp r;
    char ct[128] = "", csp[256] = "";
    if (get(&ts, "/", &r)) {
        test_field(&r, "Content-Type", ct, sizeof ct);
        test_field(&r, "Content-Security-Policy", csp, sizeof csp);
        GO_CHECK(r.status == 200 && strncmp(ct, "text/html", 9) == 0, "%d %s", r.status, ct);
        GO_CHECK(strstr(csp, "default-src 'none'"), "CSP: %s", csp);
        GO_CHECK(strstr(r.body, "<html") && strstr(r.body, "api/stats") &&
                     strstr(r.body, "</html>"),
                 "page");
    }
    test_resp_free(&r);
    if (get(&ts, "/api/stats", &r)) {
        json_t *j = json_loads(r.body, 0, NULL);
        json_t *u = json_array_get(json_object_get(j, "upstreams"), 0);
        GO_CHECK(json_is_array(json_object_get(u, "targets")) &&
                     json_array_size(json_object_get(u, "targets")) == 0,
                 "%s", r.body);
        json_decref(j);
    }
    test_resp_free(&r);
    if (get(&ts, "/nope", &r))
        GO_CHECK(r.status == 404, "%d", r.status);
    test_resp_free(&r);
    GO_CHECK(
        test_roundtrip(&ts, "POST /metrics HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", &r) &&
            r.status == 405,
        "%d", r.status);
    test_resp_free(&r);
    test_server_stop(&ts);
    gw_stats_shutdown();
    return 0;
}

Test(gateway_stats, pages, .timeout = 30)
{
    run_main(pages_main, NULL);
}

/* ---- concurrency --------------------------------------------------------- */

#define PER_WORKER 20000
#define WORKERS    10 /* 8 goroutines, 2 threads */

static goc_waitgroup wg;

/* Each worker looks the series up itself (concurrent gw_series_get), then
 * observes PER_WORKER requests: 200, 500 and its own code 300 + id in
 * turn, and counts retries and sets a gauge of its own. */
static void worker(int id)
{
    gw_series *s = gw_series_get(GW_ROUTE, "busy");
    GO_CHECK(s, "gw_series_get");
    char g[32];
    snprintf(g, sizeof g, "g%d", id);
    for (int i = 0; i < PER_WORKER; i++) {
        int code = i % 3 == 0 ? 200 : i % 3 == 1 ? 500 : 300 + id;
        gw_series_observe(s, code, (goc_duration)(i % 50) * GOC_MICROSECOND * 100);
        gw_series_count(s, GW_RETRIES);
        gw_series_set_gauge(s, g, i);
        if (i % 1000 == 0)
            goc_yield();
    }
}

static void go_worker(void *arg)
{
    worker((int)(intptr_t)arg);
    goc_waitgroup_done(&wg);
}

static void *thread_worker(void *arg)
{
    worker((int)(intptr_t)arg);
    return NULL;
}

static int concurrent_main(void *arg)
{
    (void)arg;
    pthread_t th[2];
    goc_waitgroup_add(&wg, 8);
    for (int i = 0; i < 8; i++)
        GO_SPAWN(go_worker, (intptr_t)i);
    for (int i = 0; i < 2; i++)
        th[i] = start_thread(thread_worker, (void *)(intptr_t)(8 + i));
    goc_waitgroup_wait(&wg);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);

    test_server ts;
    GO_CHECK(test_server_start(&ts, gw_admin_handler(NULL, NULL), NULL), "server");
    test_resp r;
    if (get(&ts, "/metrics", &r)) {
        const char *m = r.body;
        double total = WORKERS * PER_WORKER;
        const char *pre = "gateway_requests_total{kind=\"route\",name=\"busy\",code=";
        char k[160];
        snprintf(k, sizeof k, "%s\"200\"}", pre);
        double n200 = sample(m, k);
        snprintf(k, sizeof k, "%s\"500\"}", pre);
        double n500 = sample(m, k);
        double own = 0;
        for (int id = 0; id < WORKERS; id++) {
            snprintf(k, sizeof k, "%s\"%d\"}", pre, 300 + id);
            own += sample(m, k);
        }
        /* i % 3 == 0 for 6667 of 20000 i, == 1 for 6667, == 2 for 6666 */
        GO_CHECK(n200 == WORKERS * 6667 && n500 == WORKERS * 6667 && own == WORKERS * 6666,
                 "200: %g, 500: %g, 3xx: %g", n200, n500, own);
        GO_CHECK(
            sample(m, "gateway_request_duration_seconds_count{kind=\"route\",name=\"busy\"}") ==
                total,
            "count");
        GO_CHECK(sample(m, "gateway_retries_total{kind=\"route\",name=\"busy\"}") == total,
                 "retries");
        int gauges = 0;
        for (int id = 0; id < WORKERS; id++) {
            snprintf(k, sizeof k, "gateway_g%d{kind=\"route\",name=\"busy\"}", id);
            double v = sample(m, k);
            GO_CHECK(v == PER_WORKER - 1, "gauge g%d: %g", id, v);
            gauges += v >= 0;
        }
        GO_CHECK(gauges == WORKERS, "%d gauges", gauges);
    }
    test_resp_free(&r);
    /* the history may miss a few at a second's boundary, never add any */
    if (get(&ts, "/api/stats", &r)) {
        json_t *j = json_loads(r.body, 0, NULL);
        json_t *busy = find_named(json_object_get(j, "routes"), "busy");
        json_t *h = json_object_get(busy, "history");
        double hist = tail_sum(json_object_get(h, "qps"), 300);
        GO_CHECK(hist > 0 && hist <= WORKERS * PER_WORKER, "history %g", hist);
        GO_CHECK(tail_sum(json_object_get(h, "err"), 300) <= WORKERS * 6667, "err");
        json_decref(j);
    }
    test_resp_free(&r);
    test_server_stop(&ts);
    gw_stats_shutdown();
    return 0;
}

Test(gateway_stats, concurrent_observers, .timeout = 60)
{
    run_main(concurrent_main, NULL);
}

/* More gauge names than a series keeps: the first GW_MAX_GAUGES (16) stay,
 * the rest are dropped, never written past the table. */
static int gauges_main(void *arg)
{
    (void)arg;
    gw_series *s = gw_series_get(GW_UPSTREAM, "g");
    for (int i = 0; i < 40; i++) {
        char name[32];
        snprintf(name, sizeof name, "n%d-x", i); /* '-' is not a metric character */
        gw_series_set_gauge(s, name, i);
    }
    test_server ts;
    GO_CHECK(test_server_start(&ts, gw_admin_handler(NULL, NULL), NULL), "server");
    test_resp r;
    if (get(&ts, "/metrics", &r)) {
        GO_CHECK(sample(r.body, "gateway_n15_x{kind=\"upstream\",name=\"g\"}") == 15, "n15");
        GO_CHECK(!strstr(r.body, "gateway_n16_x"), "a 17th gauge");
    }
    test_resp_free(&r);
    test_server_stop(&ts);
    gw_stats_shutdown();
    return 0;
}

Test(gateway_stats, gauge_names, .timeout = 30)
{
    run_main(gauges_main, NULL);
}

/* ---- the per-second ring, on a clock the test sets -------------------------- */

#define T0 INT64_C(1000000) /* a unix second; T0 % 300 == 100 */

static bool near(double a, double b)
{
    return a > b - 1e-6 && a < b + 1e-6;
}

static int ring_main(void *arg)
{
    (void)arg;
    gw_series *s = gw_series_get(GW_ROUTE, "ring");
    static gw_point h[GW_HISTORY];
    for (int i = 0; i < 3; i++)
        gw__series_observe_at(s, 200, 2 * MS, T0);
    gw__series_observe_at(s, 500, 40 * MS, T0);
    gw__series_observe_at(s, 200, 300 * GOC_MICROSECOND, T0 + 1);
    gw__series_observe_at(s, 204, 300 * GOC_MICROSECOND, T0 + 1);

    gw__series_history(s, T0 + 1, h);
    GO_CHECK(h[298].req == 4 && h[298].err == 1 && h[299].req == 2 && h[299].err == 0,
             "T0: %u/%u, T0+1: %u/%u", h[298].req, h[298].err, h[299].req, h[299].err);
    /* p50 of {2, 2, 2, 40} ms: rank 2 of 3 in (1.5, 2.5] ms; p99: rank 3.96,
     * 0.96 into (25, 40] ms; T0+1: rank 1 of 2 in (0, 0.5] ms */
    GO_CHECK(near(h[298].p50_ms, 1.5 + 2.0 / 3) && near(h[298].p99_ms, 25 + 15 * 0.96),
             "p50 %g p99 %g", h[298].p50_ms, h[298].p99_ms);
    GO_CHECK(near(h[299].p50_ms, 0.25), "p50 %g", h[299].p50_ms);
    GO_CHECK(h[297].req == 0 && h[297].p50_ms < 0 && h[297].p99_ms < 0, "an empty second");

    /* 299 s later T0 is the window's first second; at T0 + 300 it has left,
     * and its slot, not yet reused, reads as empty for T0 + 300 */
    gw__series_history(s, T0 + 299, h);
    GO_CHECK(h[0].req == 4 && h[1].req == 2, "T0 + 299: %u %u", h[0].req, h[1].req);
    gw__series_history(s, T0 + 300, h);
    GO_CHECK(h[0].req == 2 && h[299].req == 0, "T0 + 300: %u %u", h[0].req, h[299].req);

    /* T0 + 300 reuses T0's slot: its counts start from zero */
    gw__series_observe_at(s, 200, MS, T0 + 300);
    gw__series_history(s, T0 + 300, h);
    GO_CHECK(h[299].req == 1 && h[299].err == 0, "reused slot: %u/%u", h[299].req, h[299].err);
    /* the clock stepped back to T0: kept out of the history, not of the totals */
    gw__series_observe_at(s, 500, MS, T0);
    gw__series_history(s, T0 + 300, h);
    GO_CHECK(h[299].req == 1 && h[299].err == 0, "a step back counted: %u", h[299].req);
    gw_series_snap snap;
    gw__series_read(s, &snap);
    GO_CHECK(snap.count == 8 && snap.classes[5] == 2 && snap.classes[2] == 6, "totals %" PRIu64,
             snap.count);
    gw_stats_shutdown();
    return 0;
}

Test(gateway_stats, history_ring, .timeout = 30)
{
    run_main(ring_main, NULL);
}

/* Observers racing over second boundaries: the clock (a shared counter)
 * moves on every 500 observations of the first worker, so slots are
 * claimed and reset under contention again and again. Totals stay exact;
 * the history may drop some at boundaries but never counts one twice or
 * makes one up. */
#define RACE_N       20000
#define RACE_WORKERS 4

static _Atomic int64_t fake_now = T0;
static gw_series *race;

static void race_worker(int id)
{
    for (int i = 0; i < RACE_N; i++) {
        if (id == 0 && i % 500 == 499)
            atomic_fetch_add_explicit(&fake_now, 1, memory_order_relaxed);
        int64_t now = atomic_load_explicit(&fake_now, memory_order_relaxed);
        gw__series_observe_at(race, i % 2 ? 200 : 502, MS, now);
        if (i % 1000 == 0)
            goc_yield();
    }
}

static void race_go(void *arg)
{
    race_worker((int)(intptr_t)arg);
    goc_waitgroup_done(&wg);
}

static void *race_thread(void *arg)
{
    race_worker((int)(intptr_t)arg);
    return NULL;
}

static int race_main(void *arg)
{
    (void)arg;
    race = gw_series_get(GW_UPSTREAM, "race");
    goc_waitgroup_add(&wg, RACE_WORKERS - 2);
    for (int i = 0; i < RACE_WORKERS - 2; i++)
        GO_SPAWN(race_go, (intptr_t)i);
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        th[i] = start_thread(race_thread, (void *)(intptr_t)(RACE_WORKERS - 2 + i));
    goc_waitgroup_wait(&wg);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);

    gw_series_snap snap;
    gw__series_read(race, &snap);
    GO_CHECK(snap.count == RACE_N * RACE_WORKERS && snap.classes[5] == RACE_N * RACE_WORKERS / 2,
             "totals %" PRIu64 " (5xx %" PRIu64 ")", snap.count, snap.classes[5]);
    static gw_point h[GW_HISTORY];
    int64_t last = atomic_load_explicit(&fake_now, memory_order_relaxed);
    GO_CHECK(last - T0 == RACE_N / 500 && last - T0 < GW_HISTORY, "the clock moved %" PRId64,
             last - T0);
    gw__series_history(race, last, h);
    uint64_t req = 0, err = 0;
    for (int i = 0; i < GW_HISTORY; i++) {
        req += h[i].req;
        err += h[i].err;
    }
    GO_CHECK(req > 0 && req <= snap.count && err <= snap.classes[5],
             "history: %" PRIu64 " requests, %" PRIu64 " 5xx", req, err);
    gw_stats_shutdown();
    return 0;
}

Test(gateway_stats, history_race, .timeout = 60)
{
    run_main(race_main, NULL);
}
