/*
 * stats.c — the HTTP layer's always-on counters: the goc__hstat_* hooks the
 * connection loop calls on every connection and request, and
 * goc_http_stats_read, which sums them.
 *
 * Layout: one slot per P (NSLOTS of them, each on its own cache lines, so
 * workers never share a line) plus one shared slot. A slot is an array of
 * 64-bit words; every field is a counter that only grows, modulo 2^64.
 * Gauges (connections open and idle, handlers active) are kept as signed
 * deltas in the same words: a connection that goes idle on P0 and wakes on
 * P1 leaves +1 in one slot and -1 (2^64 - 1) in the other, and the modular
 * sum over all slots is the gauge.
 *
 * Writers. A hook runs "in the runtime" (goc__enter .. goc__leave), where
 * the P the M holds cannot be retaken by sysmon nor the goroutine move, so
 * the P's slot has exactly one writer: it is updated with a relaxed load
 * and a relaxed store, no locked instruction (a request costs a handful of
 * plain adds, a few ns). The slot's words are still _Atomic so that
 * readers on other threads never see a torn value. Plain threads (no P),
 * and Ps numbered NSLOTS or more, share the last slot and use relaxed
 * fetch_adds: correct under contention, rare on a server.
 *
 * Readers sum every slot with relaxed loads. Nothing orders one word with
 * another, so a snapshot taken while requests complete may show a request
 * counted and its latency not yet (or a gauge one off, clamped at 0); once
 * the traffic stops the sums are exact.
 *
 * Latency buckets follow the 1-2.5-5 series from 25 us to 1 s (15 bounds)
 * plus +Inf: fine enough at the low end for a keep-alive server on a LAN
 * (tens of us per request), coarse where a slow handler lives. The scan
 * from the lowest bound exits at once for the common fast request.
 */
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "http/http.h"
#include "runtime/park.h"

#define NSLOTS 64 /* per-P slots; Ps beyond share the last slot */

/* Word indexes in a slot. */
enum {
    F_ACCEPTED = 0,
    F_OPEN,   /* gauge: +1 open, -1 close */
    F_IDLE,   /* gauge */
    F_ACTIVE, /* gauge */
    F_REQUESTS,
    F_STATUS, /* 6 words: status class 0..5 */
    F_REJECTED = F_STATUS + 6,
    F_BYTES_IN,
    F_BYTES_OUT,
    F_LAT_SUM,
    F_LAT, /* GOC_HTTP_LATENCY_BUCKETS words */
    F_COUNT = F_LAT + GOC_HTTP_LATENCY_BUCKETS,
};

typedef struct hslot {
    _Atomic uint64_t v[F_COUNT];
} __attribute__((aligned(64))) hslot;

/* [0, NSLOTS): owned by the P of that index; [NSLOTS]: shared. */
static hslot slots[NSLOTS + 1];

/* Upper bounds (ns) of the bounded buckets; the last bucket has none. */
static const int64_t bounds[GOC_HTTP_LATENCY_BUCKETS - 1] = {
    25000,    50000,    100000,   250000,    500000,    1000000,   2500000,    5000000,
    10000000, 25000000, 50000000, 100000000, 250000000, 500000000, 1000000000,
};

/* A writer's view of its slot: which one, and whether it is the sole
 * writer (a P's own slot) or shares it. */
typedef struct writer {
    goc__m *m;
    hslot *s;
    bool own;
} writer;

static inline writer writer_begin(void)
{
    goc__m *m = goc__enter(); /* NULL on a plain thread */
    if (goc__has_p(m) && goc__pid(m) < NSLOTS)
        return (writer){m, &slots[goc__pid(m)], true};
    return (writer){m, &slots[NSLOTS], false};
}

static inline void writer_end(writer w)
{
    goc__leave(w.m);
}

static inline void bump(writer w, int f, uint64_t d)
{
    if (GOC_LIKELY(w.own)) {
        /* Relaxed load and store: only this P writes the word, and it
         * cannot lose the P while in the runtime; readers need no order. */
        uint64_t x = atomic_load_explicit(&w.s->v[f], memory_order_relaxed);
        atomic_store_explicit(&w.s->v[f], x + d, memory_order_relaxed);
    } else {
        /* Relaxed add: the shared slot has many writers; still no order. */
        atomic_fetch_add_explicit(&w.s->v[f], d, memory_order_relaxed);
    }
}

/* The index of the bucket for a latency of ns. */
static inline int bucket_of(int64_t ns)
{
    int i = 0;
    while (i < GOC_HTTP_LATENCY_BUCKETS - 1 && ns > bounds[i])
        i++;
    return i;
}

/* The status class word: 1xx .. 5xx, else 0 (no status; a code 600-999
 * that Go would let through is counted there too). */
static inline int class_of(int status)
{
    return status >= 100 && status < 600 ? status / 100 : 0;
}

void goc__hstat_conn_open(void)
{
    writer w = writer_begin();
    bump(w, F_ACCEPTED, 1);
    bump(w, F_OPEN, 1);
    writer_end(w);
}

void goc__hstat_conn_close(void)
{
    writer w = writer_begin();
    bump(w, F_OPEN, (uint64_t)-1);
    writer_end(w);
}

void goc__hstat_idle(int delta)
{
    writer w = writer_begin();
    bump(w, F_IDLE, (uint64_t)(int64_t)delta);
    writer_end(w);
}

void goc__hstat_active(int delta)
{
    writer w = writer_begin();
    bump(w, F_ACTIVE, (uint64_t)(int64_t)delta);
    writer_end(w);
}

void goc__hstat_request(int status, int64_t ns, uint64_t in, uint64_t out)
{
    if (ns < 0)
        ns = 0;
    int b = bucket_of(ns);
    writer w = writer_begin();
    bump(w, F_REQUESTS, 1);
    bump(w, F_STATUS + class_of(status), 1);
    bump(w, F_LAT + b, 1);
    bump(w, F_LAT_SUM, (uint64_t)ns);
    bump(w, F_BYTES_IN, in);
    bump(w, F_BYTES_OUT, out);
    writer_end(w);
}

/* A request the parser refused is counted here only, not in requests or
 * the status classes: those are requests a handler (or the mux) answered. */
void goc__hstat_rejected(int status)
{
    (void)status;
    writer w = writer_begin();
    bump(w, F_REJECTED, 1);
    writer_end(w);
}

/* A gauge's modular sum, read as signed and clamped at 0 (a snapshot taken
 * mid-update may be one below the truth). */
static uint64_t gauge(uint64_t sum)
{
    return (int64_t)sum < 0 ? 0 : sum;
}

GOC_API void goc_http_stats_read(goc_http_stats *st)
{
    uint64_t sum[F_COUNT] = {0};
    for (int i = 0; i <= NSLOTS; i++)
        for (int f = 0; f < F_COUNT; f++)
            /* relaxed: each word on its own; see the top of the file. */
            sum[f] += atomic_load_explicit(&slots[i].v[f], memory_order_relaxed);
    memset(st, 0, sizeof *st);
    st->conns_accepted = sum[F_ACCEPTED];
    st->conns_open = gauge(sum[F_OPEN]);
    st->conns_idle = gauge(sum[F_IDLE]);
    st->requests = sum[F_REQUESTS];
    st->requests_active = gauge(sum[F_ACTIVE]);
    for (int c = 0; c < 6; c++)
        st->status[c] = sum[F_STATUS + c];
    st->rejected = sum[F_REJECTED];
    st->bytes_in = sum[F_BYTES_IN];
    st->bytes_out = sum[F_BYTES_OUT];
    for (int b = 0; b < GOC_HTTP_LATENCY_BUCKETS; b++)
        st->latency[b] = sum[F_LAT + b];
    st->latency_sum_ns = sum[F_LAT_SUM];
}

GOC_API int64_t goc_http_latency_bound(int i)
{
    if (i < 0)
        return 0;
    if (i >= GOC_HTTP_LATENCY_BUCKETS - 1)
        return INT64_MAX;
    return bounds[i];
}
