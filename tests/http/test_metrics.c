/*
 * test_metrics.c — the HTTP layer's statistics (src/http/stats.c) and the
 * two handlers that publish them: the hooks summed exactly across
 * goroutines on several Ps and plain threads, gauges whose +1 and -1 land
 * on different workers, latency bucket placement at and around each
 * bound; then a real server on loopback: N requests, /metrics parsed back
 * (counters moved by exactly N, the histogram consistent), the stats
 * page's JSON and HTML.
 *
 * The counters are process-wide and Criterion runs each test in its own
 * process, but every check still compares two snapshots, not absolutes.
 */
#include <criterion/criterion.h>
#include <goc/http.h>
#include <pthread.h>

#include "net/netutil.h"

#define NOTE .timeout = 30

/* The hooks (src/http/http.h; that header is internal to the layer). */
void goc__hstat_conn_open(void);
void goc__hstat_conn_close(void);
void goc__hstat_idle(int delta);
void goc__hstat_active(int delta);
void goc__hstat_request(int status, int64_t ns, uint64_t in, uint64_t out);
void goc__hstat_rejected(int status);

/* ---- the hooks, summed ------------------------------------------------------ */

enum { WORKERS = 8, THREADS = 3, ROUNDS = 2000 };

/* One round: a connection that opens, goes idle, runs a handler, answers
 * status with latency ns and closes; yields between hooks, so that with
 * several Ps its +1 and -1 often land on different workers. */
static void one_round(int status, int64_t ns, bool yield)
{
    goc__hstat_conn_open();
    goc__hstat_idle(1);
    if (yield)
        goc_yield();
    goc__hstat_idle(-1);
    goc__hstat_active(1);
    if (yield)
        goc_yield();
    goc__hstat_request(status, ns, 100, 1000);
    goc__hstat_active(-1);
    goc__hstat_rejected(400);
    goc__hstat_conn_close();
}

static goc_waitgroup sum_wg;

static void sum_worker(void *arg)
{
    long k = (long)arg;
    for (int i = 0; i < ROUNDS; i++)
        one_round(100 * (int)(1 + (k + i) % 5), 1000 * (i % 3), true);
    goc_waitgroup_done(&sum_wg);
}

static void *sum_thread(void *arg)
{
    long k = (long)arg;
    for (int i = 0; i < ROUNDS; i++)
        one_round(100 * (int)(1 + (k + i) % 5), 1000 * (i % 3), false);
    return NULL;
}

static int sum_main(void *arg)
{
    (void)arg;
    pthread_t th[THREADS];
    goc_waitgroup_add(&sum_wg, WORKERS);
    for (long k = 0; k < WORKERS; k++)
        GO_CHECK(goc_go(sum_worker, (void *)k) == 0, "goc_go");
    for (long k = 0; k < THREADS; k++)
        GO_CHECK(pthread_create(&th[k], NULL, sum_thread, (void *)(WORKERS + k)) == 0, "thread");
    goc_waitgroup_wait(&sum_wg);
    for (long k = 0; k < THREADS; k++)
        pthread_join(th[k], NULL);
    return 0;
}

Test(metrics, hooks_sum_across_ps_and_threads, NOTE)
{
    goc_http_stats a, b;
    goc_http_stats_read(&a);
    cr_assert_eq(goc_run(sum_main, NULL), 0);
    GO_CHECK_REPORT();
    goc_http_stats_read(&b);
    uint64_t n = (uint64_t)(WORKERS + THREADS) * ROUNDS;
    cr_assert_eq(b.conns_accepted - a.conns_accepted, n);
    cr_assert_eq(b.requests - a.requests, n);
    cr_assert_eq(b.rejected - a.rejected, n);
    cr_assert_eq(b.bytes_in - a.bytes_in, 100 * n);
    cr_assert_eq(b.bytes_out - a.bytes_out, 1000 * n);
    cr_assert_eq(b.conns_open, a.conns_open);
    cr_assert_eq(b.conns_idle, a.conns_idle);
    cr_assert_eq(b.requests_active, a.requests_active);
    uint64_t classes = 0, lat = 0;
    for (int c = 1; c <= 5; c++) {
        cr_assert_eq(b.status[c] - a.status[c], n / 5, "class %d", c);
        classes += b.status[c] - a.status[c];
    }
    cr_assert_eq(classes, n);
    for (int i = 0; i < GOC_HTTP_LATENCY_BUCKETS; i++)
        lat += b.latency[i] - a.latency[i];
    cr_assert_eq(lat, n);
    /* latencies 0, 1 and 2 us in turn per worker: about n us in all */
    uint64_t sum = b.latency_sum_ns - a.latency_sum_ns;
    cr_assert(sum >= 900 * n && sum <= 1100 * n, "latency sum %llu", (unsigned long long)sum);
}

/* Gauges: +1 on one worker, -1 on another (and on plain threads). */
static int gauge_main(void *arg)
{
    (void)arg;
    goc_http_stats a, b;
    goc_http_stats_read(&a);
    for (int i = 0; i < 100; i++) {
        goc__hstat_conn_open();
        goc__hstat_idle(1);
        goc__hstat_active(1);
        goc_sleep(GOC_MICROSECOND); /* may wake on another worker */
    }
    goc_http_stats_read(&b);
    GO_CHECK(b.conns_open - a.conns_open == 100, "open %llu", (unsigned long long)b.conns_open);
    GO_CHECK(b.conns_idle - a.conns_idle == 100, "idle");
    GO_CHECK(b.requests_active - a.requests_active == 100, "active");
    for (int i = 0; i < 100; i++) {
        goc__hstat_active(-1);
        goc__hstat_idle(-1);
        goc__hstat_conn_close();
        goc_sleep(GOC_MICROSECOND);
    }
    goc_http_stats_read(&b);
    GO_CHECK(b.conns_open == a.conns_open && b.conns_idle == a.conns_idle &&
                 b.requests_active == a.requests_active,
             "gauges back to where they were");
    return 0;
}

Test(metrics, gauges_across_workers, NOTE)
{
    cr_assert_eq(goc_run(gauge_main, NULL), 0);
    GO_CHECK_REPORT();
    /* more closes than opens never shows as a huge count */
    goc_http_stats st;
    goc__hstat_conn_close();
    goc_http_stats_read(&st);
    cr_assert_eq(st.conns_open, 0);
    goc__hstat_conn_open();
}

/* ---- latency buckets ----------------------------------------------------- */

/* The bucket a request of ns lands in (on this thread: the shared slot). */
static int bucket_for(int64_t ns)
{
    goc_http_stats a, b;
    goc_http_stats_read(&a);
    goc__hstat_request(200, ns, 0, 0);
    goc_http_stats_read(&b);
    int found = -1;
    for (int i = 0; i < GOC_HTTP_LATENCY_BUCKETS; i++) {
        if (b.latency[i] != a.latency[i]) {
            cr_assert_eq(found, -1, "two buckets moved for %lld ns", (long long)ns);
            cr_assert_eq(b.latency[i] - a.latency[i], 1);
            found = i;
        }
    }
    cr_assert_neq(found, -1, "no bucket moved for %lld ns", (long long)ns);
    return found;
}

Test(metrics, latency_bounds, NOTE)
{
    int64_t prev = 0;
    for (int i = 0; i < GOC_HTTP_LATENCY_BUCKETS; i++) {
        int64_t b = goc_http_latency_bound(i);
        cr_assert_gt(b, prev, "bound %d", i);
        prev = b;
    }
    cr_assert_eq(goc_http_latency_bound(GOC_HTTP_LATENCY_BUCKETS - 1), INT64_MAX);
    cr_assert_eq(goc_http_latency_bound(GOC_HTTP_LATENCY_BUCKETS), INT64_MAX);
    cr_assert_eq(goc_http_latency_bound(0), 25 * GOC_MICROSECOND);
    cr_assert_eq(goc_http_latency_bound(GOC_HTTP_LATENCY_BUCKETS - 2), GOC_SECOND);
}

Test(metrics, latency_bucket_placement, NOTE)
{
    cr_assert_eq(bucket_for(0), 0);
    cr_assert_eq(bucket_for(-5), 0); /* a clock step backwards: counted, as 0 */
    for (int i = 0; i < GOC_HTTP_LATENCY_BUCKETS - 1; i++) {
        int64_t b = goc_http_latency_bound(i);
        cr_assert_eq(bucket_for(b), i, "at bound %d", i); /* le: inclusive */
        cr_assert_eq(bucket_for(b - 1), i, "below bound %d", i);
        cr_assert_eq(bucket_for(b + 1), i + 1, "above bound %d", i);
    }
    cr_assert_eq(bucket_for(INT64_MAX), GOC_HTTP_LATENCY_BUCKETS - 1);
    goc_http_stats st;
    goc_http_stats_read(&st);
    cr_assert_eq(st.status[2], st.requests); /* every one above was a 200 */
}

Test(metrics, status_classes, NOTE)
{
    int codes[] = {0, 101, 200, 204, 301, 404, 499, 500, 503, 599, 600, 999};
    int want[] = {0, 1, 2, 2, 3, 4, 4, 5, 5, 5, 0, 0};
    for (size_t k = 0; k < sizeof codes / sizeof codes[0]; k++) {
        goc_http_stats a, b;
        goc_http_stats_read(&a);
        goc__hstat_request(codes[k], 1, 0, 0);
        goc_http_stats_read(&b);
        for (int c = 0; c < 6; c++)
            cr_assert_eq(b.status[c] - a.status[c], c == want[k], "code %d class %d", codes[k], c);
    }
}
