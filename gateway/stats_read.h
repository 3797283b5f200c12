/*
 * stats_read.h — the reading side of stats.c, for admin.c only: walk the
 * registry, copy one series' totals, and turn its per-second ring into
 * points. The writing side (gw_series_*) is in gateway.h.
 *
 * Series are never freed before gw_stats_shutdown, so the pointers and
 * names handed out here stay valid until then; every copy is a snapshot
 * of atomics, each exact on its own, not one instant across all of them.
 */
#ifndef GOC_GATEWAY_STATS_READ_H
#define GOC_GATEWAY_STATS_READ_H

#include "gateway.h"

#define GW_LAT_BOUNDS  20 /* latency buckets with a bound; one more unbounded */
#define GW_LAT_BUCKETS (GW_LAT_BOUNDS + 1)
#define GW_MAX_CODES   32  /* distinct status codes counted one by one; then "other" */
#define GW_MAX_GAUGES  16  /* gauge names per series; more are dropped */
#define GW_GAUGE_NAME  48  /* bytes, NUL included */
#define GW_HISTORY     300 /* seconds of per-second history */

/* Upper bound of latency bucket i < GW_LAT_BOUNDS, in nanoseconds. */
int64_t gw__lat_bound(int i);

typedef struct gw_series_snap {
    gw_kind kind;
    const char *name;    /* the series' own copy: valid until gw_stats_shutdown */
    uint64_t classes[6]; /* [0] no answer (status 0), [1] 1xx ... [5] 5xx */
    size_t ncodes;       /* exact codes seen, ascending */
    int codes[GW_MAX_CODES];
    uint64_t code_n[GW_MAX_CODES];
    uint64_t code_other;          /* answers with a code past the first GW_MAX_CODES */
    uint64_t lat[GW_LAT_BUCKETS]; /* per bucket, not cumulative */
    uint64_t count;               /* the sum of lat[]: every observation */
    uint64_t lat_sum_ns;
    uint64_t counters[GW_NCOUNTERS];
    size_t ngauges;
    char gauge_name[GW_MAX_GAUGES][GW_GAUGE_NAME]; /* [a-zA-Z0-9_] only */
    int64_t gauge[GW_MAX_GAUGES];
} gw_series_snap;

/* One second of history. p50_ms and p99_ms are < 0 when req is 0. */
typedef struct gw_point {
    uint32_t req, err; /* observations, of which 5xx */
    double p50_ms, p99_ms;
} gw_point;

/* Up to cap series, in the order they were made, into out; returns how
 * many exist (may exceed cap). Any thread. */
size_t gw__series_list(gw_series **out, size_t cap);
void gw__series_read(gw_series *s, gw_series_snap *out);
/* The seconds now_s - GW_HISTORY + 1 ... now_s into out[0 .. GW_HISTORY). */
void gw__series_history(gw_series *s, int64_t now_s, gw_point out[GW_HISTORY]);
/* gw_series_observe as if the wall clock said unix second now_s (> 0):
 * for tests of the history, which cannot wait five minutes. */
void gw__series_observe_at(gw_series *s, int status, goc_duration latency, int64_t now_s);
/* The wall clock in unix milliseconds, as the ring counts seconds. */
int64_t gw__unix_ms(void);

#endif /* GOC_GATEWAY_STATS_READ_H */
