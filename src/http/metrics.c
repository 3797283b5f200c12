/*
 * metrics.c — goc_http_metrics_handler: the HTTP counters (stats.c) and
 * the runtime's in the Prometheus text exposition format, version 0.0.4.
 *
 * Each family is a "# HELP" line, a "# TYPE" line and its samples; names
 * follow Prometheus' conventions (base units: seconds and bytes, "_total"
 * on counters). The latency histogram is exposed cumulatively, as the
 * format requires: the sample for le="x" counts every request of latency
 * <= x, so the le="+Inf" one equals _count. Seconds are printed from whole
 * nanoseconds in decimal, exactly (no floating-point rounding).
 *
 * The whole text (about 3 KiB) is rendered into the request's arena and
 * written at once with its Content-Length, so it is never chunked. The handler keeps no state: it
 * may serve any number of scrapes at once.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "http/http.h"

#define TEXT_CAP 8192 /* the whole exposition fits with room to spare */

/* Text built in a fixed buffer; a write past cap is remembered, not made. */
typedef struct text {
    char *p;
    size_t len, cap;
    bool overflow;
} text;

static void put(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(text *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t->p + t->len, t->cap - t->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= t->cap - t->len)
        t->overflow = true;
    else
        t->len += (size_t)n;
}

static void family(text *t, const char *name, const char *type, const char *help)
{
    put(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A family of one sample without labels. */
static void single(text *t, const char *name, const char *type, const char *help, uint64_t v)
{
    family(t, name, type, help);
    put(t, "%s %" PRIu64 "\n", name, v);
}

/* ns as decimal seconds, trailing zeros dropped: "0.000025", "1", "12.5". */
static void seconds(char buf[32], uint64_t ns)
{
    int n = snprintf(buf, 32, "%" PRIu64 ".%09" PRIu64, ns / 1000000000u, ns % 1000000000u);
    while (n > 0 && buf[n - 1] == '0')
        buf[--n] = '\0';
    if (n > 0 && buf[n - 1] == '.')
        buf[--n] = '\0';
}

static void histogram(text *t, const goc_http_stats *st)
{
    const char *name = "goc_http_request_duration_seconds";
    family(t, name, "histogram",
           "Request latency, from the first byte of the request to the end of the response.");
    uint64_t cum = 0;
    char le[32];
    for (int i = 0; i < GOC_HTTP_LATENCY_BUCKETS; i++) {
        cum += st->latency[i];
        if (i < GOC_HTTP_LATENCY_BUCKETS - 1)
            seconds(le, (uint64_t)goc_http_latency_bound(i));
        else
            strcpy(le, "+Inf");
        put(t, "%s_bucket{le=\"%s\"} %" PRIu64 "\n", name, le, cum);
    }
    seconds(le, st->latency_sum_ns);
    put(t, "%s_sum %s\n%s_count %" PRIu64 "\n", name, le, name, cum);
}

static void render(text *t, const goc_http_stats *st, const goc_stats *rt)
{
    static const char *const classes[6] = {"none", "1xx", "2xx", "3xx", "4xx", "5xx"};
    single(t, "goc_http_connections_accepted_total", "counter", "Connections accepted.",
           st->conns_accepted);
    single(t, "goc_http_connections_open", "gauge", "Connections open now.", st->conns_open);
    single(t, "goc_http_connections_idle", "gauge",
           "Connections open now and waiting for a request (keep-alive).", st->conns_idle);
    family(t, "goc_http_requests_total", "counter",
           "Requests answered, by status class (none: the connection closed first).");
    for (int c = 1; c <= 6; c++) /* 1xx .. 5xx, then none */
        put(t, "goc_http_requests_total{code=\"%s\"} %" PRIu64 "\n", classes[c % 6],
            st->status[c % 6]);
    single(t, "goc_http_requests_in_flight", "gauge", "Requests in a handler now.",
           st->requests_active);
    single(t, "goc_http_requests_rejected_total", "counter",
           "Requests refused by the parser (answered 4xx or 5xx and closed).", st->rejected);
    single(t, "goc_http_received_bytes_total", "counter", "Bytes of requests read.", st->bytes_in);
    single(t, "goc_http_sent_bytes_total", "counter", "Bytes of responses written.", st->bytes_out);
    histogram(t, st);
    single(t, "goc_goroutines", "gauge", "Goroutines that currently exist.", rt->goroutines);
    single(t, "goc_threads", "gauge", "Worker threads (Ms) created.", rt->threads);
}

static void serve_metrics(goc_http_response_writer *w, goc_http_request *r, void *arg)
{
    (void)arg;
    goc_http_header *h = goc_http_response_header(w);
    if (strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0) {
        goc_http_header_set(h, "Allow", "GET, HEAD");
        goc_http_error(w, "method not allowed", 405);
        return;
    }
    text t = {.p = goc_http_request_alloc(r, TEXT_CAP), .cap = TEXT_CAP};
    if (!t.p) {
        goc_http_error(w, "out of memory", 503);
        return;
    }
    goc_http_stats st;
    goc_stats rt;
    goc_http_stats_read(&st);
    goc_read_stats(&rt);
    render(&t, &st, &rt);
    if (t.overflow) { /* a bug: TEXT_CAP is sized for the fixed families */
        goc_http_error(w, "metrics text too large", 500);
        return;
    }
    char len[24];
    snprintf(len, sizeof len, "%zu", t.len);
    goc_http_header_set(h, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    goc_http_header_set(h, "Content-Length", len); /* one buffer, never chunked */
    goc_http_header_set(h, "Cache-Control", "no-store");
    goc_http_write(w, t.p, t.len);
}

GOC_API goc_http_handler goc_http_metrics_handler(void)
{
    return (goc_http_handler){.fn = serve_metrics, .arg = NULL};
}
