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

/* ---- end to end: a server on loopback ------------------------------------------ */

/* A keep-alive client over one connection, enough for these responses: a
 * head, then a body by Content-Length or chunked. */
typedef struct client {
    int fd;
    char buf[65536];
    size_t len; /* bytes in buf */
} client;

typedef struct reply {
    int status;
    char head[4096];
    char *body; /* malloc'ed, NUL-terminated */
    size_t body_len;
} reply;

/* Read until buf holds at least n bytes: false at EOF or on an error. */
static bool fill(client *c, size_t n)
{
    while (c->len < n) {
        if (c->len == sizeof c->buf)
            return false;
        ssize_t r = goc_read(c->fd, c->buf + c->len, sizeof c->buf - c->len);
        if (r <= 0)
            return false;
        c->len += (size_t)r;
    }
    return true;
}

static void consume(client *c, size_t n)
{
    memmove(c->buf, c->buf + n, c->len - n);
    c->len -= n;
}

/* The length of the line at the start of buf (with its CRLF), reading more
 * as needed; 0 on failure. */
static size_t line_len(client *c)
{
    for (;;) {
        char *e = memmem(c->buf, c->len, "\r\n", 2);
        if (e)
            return (size_t)(e - c->buf) + 2;
        if (!fill(c, c->len + 1))
            return 0;
    }
}

static bool read_body(client *c, reply *rp, long clen, bool chunked)
{
    size_t cap = 1 << 20;
    rp->body = malloc(cap);
    rp->body_len = 0;
    for (;;) {
        size_t n = (size_t)clen;
        if (chunked) {
            size_t l = line_len(c);
            if (!l)
                return false;
            n = strtoul(c->buf, NULL, 16);
            consume(c, l);
        }
        if (rp->body_len + n + 1 > cap || !fill(c, n + (chunked ? 2 : 0)))
            return false;
        memcpy(rp->body + rp->body_len, c->buf, n);
        rp->body_len += n;
        consume(c, n + (chunked ? 2 : 0));
        if (!chunked || n == 0)
            break;
    }
    rp->body[rp->body_len] = '\0';
    return true;
}

/* Send "GET target" and read the reply: true if a whole one came. */
static bool get(client *c, const char *target, reply *rp)
{
    char req[512];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: test\r\n\r\n", target);
    memset(rp, 0, sizeof *rp);
    if (goc_write(c->fd, req, (size_t)n) != n)
        return false;
    char *end;
    while (!(end = memmem(c->buf, c->len, "\r\n\r\n", 4)))
        if (!fill(c, c->len + 1))
            return false;
    size_t hl = (size_t)(end - c->buf) + 4;
    if (hl >= sizeof rp->head)
        return false;
    memcpy(rp->head, c->buf, hl);
    consume(c, hl);
    if (sscanf(rp->head, "HTTP/1.1 %d", &rp->status) != 1)
        return false;
    const char *cl = strcasestr(rp->head, "\r\nContent-Length:");
    bool chunked = strcasestr(rp->head, "\r\nTransfer-Encoding: chunked") != NULL;
    return read_body(c, rp, cl ? atol(cl + 17) : 0, chunked);
}

/* The value of the sample named exactly name (with its labels) in a
 * Prometheus text, or -1; and that its family has HELP and TYPE lines. */
static double sample(const char *text, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (strncmp(p, name, n) == 0 && p[n] == ' ')
            return strtod(p + n + 1, NULL);
    return -1;
}

static bool has_family(const char *text, const char *name, const char *type)
{
    char help[256], typ[256];
    snprintf(help, sizeof help, "\n# HELP %s ", name);
    snprintf(typ, sizeof typ, "\n# TYPE %s %s\n", name, type);
    return (strstr(text, help) || strncmp(text, help + 1, strlen(help + 1)) == 0) &&
           strstr(text, typ);
}

/* A counter in the JSON snapshot ("name":123), or -1. */
static double json_num(const char *json, const char *name)
{
    char key[128];
    snprintf(key, sizeof key, "\"%s\":", name);
    const char *p = strstr(json, key);
    return p ? strtod(p + strlen(key), NULL) : -1;
}

static void hello(goc_http_response_writer *w, goc_http_request *r, void *arg)
{
    (void)r, (void)arg;
    goc_http_header_set(goc_http_response_header(w), "Content-Type", "text/plain");
    goc_http_write_str(w, "Hello, World!\n");
}

/* The routes, without a mux (the test needs nothing but the server). */
static void route(goc_http_response_writer *w, goc_http_request *r, void *arg)
{
    (void)arg;
    if (strcmp(r->path, "/hello") == 0) {
        hello(w, r, NULL);
    } else if (strcmp(r->path, "/metrics") == 0) {
        goc_http_serve_http(goc_http_metrics_handler(), w, r);
    } else if (strcmp(r->path, "/debug/stats") == 0) {
        goc_http_serve_http(goc_http_stats_handler(), w, r);
    } else {
        goc_http_write_header(w, 404);
        goc_http_write_str(w, "404 page not found\n");
    }
}

typedef struct srv {
    goc_http_server *s;
    int lfd, rc;
    goc_waitgroup done;
} srv;

static void serve_fn(void *arg)
{
    srv *v = arg;
    v->rc = goc_http_server_serve(v->s, v->lfd);
    goc_waitgroup_done(&v->done);
}

enum { N_REQ = 200 };

/* The scrape's own checks: every family present, the histogram
 * cumulative and consistent with the request counters. */
static void check_exposition(const reply *m)
{
    GO_CHECK(m->status == 200, "/metrics status %d", m->status);
    GO_CHECK(strcasestr(m->head, "\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"),
             "content type: %s", m->head);
    const char *counters[] = {"goc_http_connections_accepted_total", "goc_http_requests_total",
                              "goc_http_requests_rejected_total", "goc_http_received_bytes_total",
                              "goc_http_sent_bytes_total"};
    const char *gauges[] = {"goc_http_connections_open", "goc_http_connections_idle",
                            "goc_http_requests_in_flight", "goc_goroutines", "goc_threads"};
    for (size_t i = 0; i < 5; i++) {
        GO_CHECK(has_family(m->body, counters[i], "counter"), "%s", counters[i]);
        GO_CHECK(has_family(m->body, gauges[i], "gauge"), "%s", gauges[i]);
    }
    GO_CHECK(has_family(m->body, "goc_http_request_duration_seconds", "histogram"), "histogram");
    /* the buckets in order: le ascending (the bounds, then +Inf), counts
     * cumulative */
    double prev = 0, count = sample(m->body, "goc_http_request_duration_seconds_count");
    const char *key = "goc_http_request_duration_seconds_bucket{le=\"";
    const char *p = m->body;
    int i = 0;
    for (; (p = strstr(p, key)); i++) {
        p += strlen(key);
        if (i < GOC_HTTP_LATENCY_BUCKETS - 1)
            GO_CHECK(strtod(p, NULL) == goc_http_latency_bound(i) / 1e9, "le %d: %.20s", i, p);
        else
            GO_CHECK(strncmp(p, "+Inf\"}", 6) == 0, "last le: %.20s", p);
        double v = strtod(strchr(p, '}') + 1, NULL);
        GO_CHECK(v >= prev, "bucket %d: %g after %g", i, v, prev);
        prev = v;
    }
    GO_CHECK(i == GOC_HTTP_LATENCY_BUCKETS, "%d buckets", i);
    GO_CHECK(prev == count, "+Inf %g, _count %g", prev, count);
    double classes = 0;
    const char *codes[] = {"1xx", "2xx", "3xx", "4xx", "5xx", "none"};
    for (int c = 0; c < 6; c++) {
        char name[128];
        snprintf(name, sizeof name, "goc_http_requests_total{code=\"%s\"}", codes[c]);
        double v = sample(m->body, name);
        GO_CHECK(v >= 0, "%s missing", name);
        classes += v;
    }
    GO_CHECK(classes == count, "requests %g, histogram count %g", classes, count);
    GO_CHECK(sample(m->body, "goc_goroutines") >= 2, "goroutines");
    GO_CHECK(sample(m->body, "goc_threads") >= 1, "threads");
}

static void check_metrics_delta(const reply *a, const reply *b)
{
    const char *ok = "goc_http_requests_total{code=\"2xx\"}";
    const char *nf = "goc_http_requests_total{code=\"4xx\"}";
    const char *cnt = "goc_http_request_duration_seconds_count";
    /* between the scrapes: the first scrape, N hellos and one 404 */
    GO_CHECK(sample(b->body, ok) - sample(a->body, ok) == N_REQ + 1, "2xx %g -> %g",
             sample(a->body, ok), sample(b->body, ok));
    GO_CHECK(sample(b->body, nf) - sample(a->body, nf) == 1, "4xx");
    GO_CHECK(sample(b->body, cnt) - sample(a->body, cnt) == N_REQ + 2, "count");
    GO_CHECK(sample(b->body, "goc_http_received_bytes_total") >
                 sample(a->body, "goc_http_received_bytes_total"),
             "bytes in");
    GO_CHECK(sample(b->body, "goc_http_sent_bytes_total") -
                     sample(a->body, "goc_http_sent_bytes_total") >=
                 N_REQ * 14.0,
             "bytes out %g -> %g", sample(a->body, "goc_http_sent_bytes_total"),
             sample(b->body, "goc_http_sent_bytes_total"));
    GO_CHECK(sample(b->body, "goc_http_request_duration_seconds_sum") >
                 sample(a->body, "goc_http_request_duration_seconds_sum"),
             "latency sum");
    /* one connection, busy with this scrape */
    GO_CHECK(sample(b->body, "goc_http_connections_accepted_total") == 1, "accepted");
    GO_CHECK(sample(b->body, "goc_http_connections_open") == 1, "open");
    GO_CHECK(sample(b->body, "goc_http_connections_idle") == 0, "idle");
    GO_CHECK(sample(b->body, "goc_http_requests_in_flight") == 1, "in flight");
}

static void check_stats_page(client *c, double requests)
{
    reply j, p;
    GO_CHECK(get(c, "/debug/stats?json", &j) && j.status == 200, "json");
    GO_CHECK(strcasestr(j.head, "\r\nContent-Type: application/json\r\n"), "%s", j.head);
    GO_CHECK(json_num(j.body, "requests") == requests, "json requests %g, want %g",
             json_num(j.body, "requests"), requests);
    GO_CHECK(json_num(j.body, "conns_open") == 1 && json_num(j.body, "requests_active") == 1,
             "json gauges");
    GO_CHECK(json_num(j.body, "time_ns") > 0 && json_num(j.body, "goroutines") >= 2, "json");
    const char *lat = strstr(j.body, "\"latency\":[");
    double sum = 0;
    int n = 0;
    for (const char *q = lat ? lat + 11 : NULL; q && *q != ']'; n++) {
        char *e;
        sum += strtod(q, &e);
        q = *e == ',' ? e + 1 : e;
    }
    GO_CHECK(n == GOC_HTTP_LATENCY_BUCKETS && sum == requests, "latency: %d buckets, %g", n, sum);
    GO_CHECK(strstr(j.body, "\"latency_bounds_ns\":[25000,") && strstr(j.body, ",null]}"),
             "bounds: %s", j.body);
    free(j.body);
    GO_CHECK(get(c, "/debug/stats", &p) && p.status == 200, "page");
    GO_CHECK(strcasestr(p.head, "\r\nContent-Type: text/html; charset=utf-8\r\n"), "%s", p.head);
    GO_CHECK(strstr(p.body, "<svg id='chart-rps'") && strstr(p.body, "'?json'") &&
                 strstr(p.body, "id='requests'") && !strstr(p.body, "http://") &&
                 !strstr(p.body, "https://"),
             "page body");
    free(p.body);
}

static int e2e_main(void *arg)
{
    (void)arg;
    srv v = {.s = goc_http_server_new((goc_http_handler){route, NULL}, NULL)};
    v.lfd = goc_listen("tcp4", "127.0.0.1:0");
    GO_CHECK(v.s && v.lfd >= 0, "server");
    char addr[64];
    dial_addr(v.lfd, addr, sizeof addr);
    goc_waitgroup_add(&v.done, 1);
    goc_go(serve_fn, &v);

    static client c;
    c.fd = goc_dial("tcp", addr, 5 * GOC_SECOND);
    GO_CHECK(c.fd >= 0, "dial %s: %s", addr, goc_strerror(c.fd));
    goc_set_deadline(c.fd, goc_now() + 20 * GOC_SECOND);
    reply a, b, r;
    GO_CHECK(get(&c, "/metrics", &a), "scrape");
    for (int i = 0; i < N_REQ; i++) {
        GO_CHECK(get(&c, "/hello", &r) && r.status == 200, "hello %d", i);
        GO_CHECK(strcmp(r.body, "Hello, World!\n") == 0, "hello body");
        free(r.body);
    }
    GO_CHECK(get(&c, "/nope", &r) && r.status == 404, "404");
    free(r.body);
    GO_CHECK(get(&c, "/metrics", &b), "scrape");
    check_exposition(&b);
    check_metrics_delta(&a, &b);
    check_stats_page(&c, sample(b.body, "goc_http_request_duration_seconds_count") + 1);
    free(a.body);
    free(b.body);

    GO_CHECK(goc_http_server_close(v.s) == 0, "close");
    goc_waitgroup_wait(&v.done);
    GO_CHECK(v.rc == GOC_EHTTP_SERVER_CLOSED, "serve: %s", goc_strerror(v.rc));
    goc_http_server_free(v.s);
    goc_close(c.fd);
    goc_http_stats st;
    goc_http_stats_read(&st);
    GO_CHECK(st.conns_open == 0 && st.conns_idle == 0 && st.requests_active == 0,
             "after close: open %llu idle %llu active %llu", (unsigned long long)st.conns_open,
             (unsigned long long)st.conns_idle, (unsigned long long)st.requests_active);
    return 0;
}

Test(metrics, end_to_end_metrics_and_stats_page, NOTE)
{
    cr_assert_eq(goc_run(e2e_main, NULL), 0);
    GO_CHECK_REPORT();
}
