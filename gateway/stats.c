/*
 * stats.c — per route and per upstream numbers: a registry of series and,
 * in each, totals plus a per-second history of the last five minutes.
 *
 * The registry (reg) is a growable array of series under reg.mu, keyed by
 * (kind, name); a series is made on first use and lives until
 * gw_stats_shutdown, so callers cache the pointer and a reload that keeps
 * a name keeps its numbers. reg.mu also serializes adding a gauge name.
 *
 * The hot path (gw_series_observe, gw_series_count) takes no lock: every
 * number is a relaxed atomic counter. Relaxed is enough because each
 * counter stands alone: a reader wants each value exact, never two values
 * from one instant, and no other memory is published through a counter.
 * The exact-code table claims an empty entry with a CAS on its code, so
 * two threads seeing a new code agree on one entry.
 *
 * The history ring has GW_HISTORY slots, slot t % GW_HISTORY counting unix
 * second t; its sec tag says which second it holds. The protocol:
 *   - an observer of second t loads the tag (acquire). Equal to t: it adds
 *     (relaxed). Older: it CASes the tag to SLOT_BUSY, zeroes the counts,
 *     then stores t (release); the acquire load of every later observer
 *     reads that store, so the zeroes come before their additions in each
 *     counter's modification order and no addition is wiped.
 *   - an observer that finds SLOT_BUSY (another is zeroing), or a tag
 *     newer than t (the clock stepped back, or it slept 300 s between
 *     reading the clock and the slot), drops its observation from the
 *     history. That is the race accepted: a handful of requests at a
 *     second's boundary may be missing from the history, never from the
 *     totals, and nobody waits.
 *   - a reader loads the tag (acquire), the counts (relaxed), then after
 *     an acquire fence the tag again: if either is not t the slot is
 *     (being) reused and reads as empty (a seqlock read; the zeroing side
 *     puts a release fence between its CAS and its zero stores).
 */
#include "stats_read.h"

#include <assert.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SLOT_BUSY INT64_C(-1)

/* Bounds in microseconds, about 1.6x apart: 0.5 ms ... 10 s. */
static const int64_t lat_bounds_us[GW_LAT_BOUNDS] = {
    500,   1000,   1500,   2500,   4000,   6000,   10000,   15000,   25000,   40000,
    60000, 100000, 150000, 250000, 400000, 600000, 1000000, 2500000, 5000000, 10000000,
};

typedef struct slot {
    _Atomic int64_t sec; /* the unix second counted here, 0 never, SLOT_BUSY being reset */
    _Atomic uint32_t req, err;
    _Atomic uint32_t lat[GW_LAT_BUCKETS];
} slot;

typedef struct code_entry {
    _Atomic int code; /* 0: free; set once by CAS */
    _Atomic uint64_t n;
} code_entry;

typedef struct gauge {
    char name[GW_GAUGE_NAME]; /* written before ngauges publishes it; then read-only */
    _Atomic int64_t v;
} gauge;

/* All counters are updated lock-free from any thread; name and kind are
 * set at creation. gauges[i].name is written under reg.mu before the
 * release store of ngauges that makes it visible. */
struct gw_series {
    gw_kind kind;
    char *name;
    _Atomic uint64_t classes[6];
    code_entry codes[GW_MAX_CODES];
    _Atomic uint64_t code_other;
    _Atomic uint64_t lat[GW_LAT_BUCKETS];
    _Atomic uint64_t lat_sum_ns;
    _Atomic uint64_t counters[GW_NCOUNTERS];
    gauge gauges[GW_MAX_GAUGES];
    _Atomic size_t ngauges;
    slot ring[GW_HISTORY];
};

static struct {
    goc_mutex mu; /* guards v, n, cap, and adding gauge names */
    gw_series **v;
    size_t n, cap;
} reg;

/* Debug builds: the caller holds reg.mu (held by someone, as far as a
 * trylock can tell). */
static void assert_reg_held(void)
{
    assert(!goc_mutex_trylock(&reg.mu));
}

int64_t gw__lat_bound(int i)
{
    return lat_bounds_us[i] * 1000;
}

int64_t gw__unix_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t unix_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec;
}

/* The bucket of latency ns: the first whose bound is >= ns. */
static int bucket_of(int64_t ns)
{
    int lo = 0, hi = GW_LAT_BOUNDS; /* the answer is in [lo, hi] */
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (ns <= lat_bounds_us[mid] * 1000)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

/* ---- the registry ------------------------------------------------------ */

static gw_series *series_new(gw_kind kind, const char *name)
{
    gw_series *s = calloc(1, sizeof *s);
    if (!s || !(s->name = strdup(name))) {
        free(s);
        return NULL;
    }
    s->kind = kind;
    return s;
}

gw_series *gw_series_get(gw_kind kind, const char *name)
{
    goc_mutex_lock(&reg.mu);
    gw_series *s = NULL;
    for (size_t i = 0; i < reg.n && !s; i++)
        if (reg.v[i]->kind == kind && strcmp(reg.v[i]->name, name) == 0)
            s = reg.v[i];
    if (!s) {
        if (reg.n == reg.cap) {
            size_t cap = reg.cap ? 2 * reg.cap : 16;
            gw_series **v = realloc(reg.v, cap * sizeof *v);
            if (!v)
                goto out_unlock;
            reg.v = v;
            reg.cap = cap;
        }
        if ((s = series_new(kind, name)))
            reg.v[reg.n++] = s;
    }
out_unlock:
    goc_mutex_unlock(&reg.mu);
    return s;
}

size_t gw__series_list(gw_series **out, size_t cap)
{
    goc_mutex_lock(&reg.mu);
    size_t n = reg.n;
    for (size_t i = 0; i < n && i < cap; i++)
        out[i] = reg.v[i];
    goc_mutex_unlock(&reg.mu);
    return n;
}

void gw_stats_shutdown(void)
{
    goc_mutex_lock(&reg.mu);
    for (size_t i = 0; i < reg.n; i++) {
        free(reg.v[i]->name);
        free(reg.v[i]);
    }
    free(reg.v);
    reg.v = NULL;
    reg.n = reg.cap = 0;
    goc_mutex_unlock(&reg.mu);
}

/* ---- the hot path ------------------------------------------------------ */

static void count_code(gw_series *s, int status)
{
    for (int i = 0; i < GW_MAX_CODES; i++) {
        code_entry *e = &s->codes[i];
        /* relaxed: the code is the only datum the entry publishes */
        int c = atomic_load_explicit(&e->code, memory_order_relaxed);
        if (c == 0) {
            int free_code = 0; /* a failed CAS leaves the winner's code here */
            c = atomic_compare_exchange_strong_explicit(&e->code, &free_code, status,
                                                        memory_order_relaxed, memory_order_relaxed)
                    ? status
                    : free_code;
        }
        if (c == status) {
            atomic_fetch_add_explicit(&e->n, 1, memory_order_relaxed);
            return;
        }
    }
    atomic_fetch_add_explicit(&s->code_other, 1, memory_order_relaxed);
}

/* The slot of second now, made current if it held an older one; NULL if
 * this observation stays out of the history (see the protocol above). */
static slot *claim_slot(gw_series *s, int64_t now)
{
    slot *sl = &s->ring[now % GW_HISTORY];
    /* acquire: pairs with the release store of the tag after the zeroing */
    int64_t tag = atomic_load_explicit(&sl->sec, memory_order_acquire);
    if (tag == now)
        return sl;
    if (tag == SLOT_BUSY || tag > now)
        return NULL;
    /* acquire on failure: the winner's release store of now, if that is what we read
     * (and on success, as C11 wants the success order at least as strong) */
    if (!atomic_compare_exchange_strong_explicit(&sl->sec, &tag, SLOT_BUSY, memory_order_acquire,
                                                 memory_order_acquire))
        return tag == now ? sl : NULL;
    /* release fence: a reader that sees one of the zeroes below also sees SLOT_BUSY */
    atomic_thread_fence(memory_order_release);
    atomic_store_explicit(&sl->req, 0, memory_order_relaxed);
    atomic_store_explicit(&sl->err, 0, memory_order_relaxed);
    for (int i = 0; i < GW_LAT_BUCKETS; i++)
        atomic_store_explicit(&sl->lat[i], 0, memory_order_relaxed);
    /* release: the zeroes before any observer's addition (it loads with acquire) */
    atomic_store_explicit(&sl->sec, now, memory_order_release);
    return sl;
}

void gw_series_observe(gw_series *s, int status, goc_duration latency)
{
    gw__series_observe_at(s, status, latency, unix_s());
}

void gw__series_observe_at(gw_series *s, int status, goc_duration latency, int64_t now_s)
{
    if (!s)
        return;
    if (latency < 0)
        latency = 0;
    int b = bucket_of(latency);
    /* relaxed throughout: independent counters (see the top of the file) */
    if (status == 0 || (status >= 100 && status < 600))
        atomic_fetch_add_explicit(&s->classes[status / 100], 1, memory_order_relaxed);
    if (status != 0)
        count_code(s, status);
    atomic_fetch_add_explicit(&s->lat[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->lat_sum_ns, (uint64_t)latency, memory_order_relaxed);
    slot *sl = now_s > 0 ? claim_slot(s, now_s) : NULL;
    if (!sl)
        return;
    atomic_fetch_add_explicit(&sl->req, 1, memory_order_relaxed);
    if (status >= 500 && status < 600)
        atomic_fetch_add_explicit(&sl->err, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&sl->lat[b], 1, memory_order_relaxed);
}

void gw_series_count(gw_series *s, gw_counter c)
{
    if (s && c >= 0 && c < GW_NCOUNTERS)
        atomic_fetch_add_explicit(&s->counters[c], 1, memory_order_relaxed);
}

/* ---- gauges ------------------------------------------------------------ */

/* name reduced to a metric name's characters, cut to fit. */
static void gauge_name(char out[GW_GAUGE_NAME], const char *name)
{
    size_t i = 0;
    for (; name[i] && i < GW_GAUGE_NAME - 1; i++) {
        char c = name[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                  (c >= '0' && c <= '9' && i > 0);
        out[i] = ok ? c : '_';
    }
    out[i] = '\0';
}

static gauge *find_gauge(gw_series *s, const char *name, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s->gauges[i].name, name) == 0)
            return &s->gauges[i];
    return NULL;
}

void gw_series_set_gauge(gw_series *s, const char *name, int64_t v)
{
    if (!s)
        return;
    char key[GW_GAUGE_NAME];
    gauge_name(key, name);
    /* acquire: pairs with the release store below, so the name is complete */
    gauge *g = find_gauge(s, key, atomic_load_explicit(&s->ngauges, memory_order_acquire));
    if (!g) {
        goc_mutex_lock(&reg.mu);
        assert_reg_held();
        size_t n = atomic_load_explicit(&s->ngauges, memory_order_relaxed); /* ours to change */
        g = find_gauge(s, key, n);
        if (!g && n < GW_MAX_GAUGES) {
            g = &s->gauges[n];
            memcpy(g->name, key, sizeof key);
            atomic_store_explicit(&g->v, v, memory_order_relaxed);
            /* release: publishes the name written above */
            atomic_store_explicit(&s->ngauges, n + 1, memory_order_release);
        }
        goc_mutex_unlock(&reg.mu);
        if (!g)
            return; /* GW_MAX_GAUGES names already */
    }
    atomic_store_explicit(&g->v, v, memory_order_relaxed);
}

/* ---- reading ----------------------------------------------------------- */

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

static void read_codes(gw_series *s, gw_series_snap *out)
{
    int order[GW_MAX_CODES];
    size_t n = 0;
    for (int i = 0; i < GW_MAX_CODES; i++)
        if (atomic_load_explicit(&s->codes[i].code, memory_order_relaxed) != 0)
            order[n++] = i;
    /* sort entries by code: pack (code, index) so one sort does it */
    int key[GW_MAX_CODES];
    for (size_t i = 0; i < n; i++)
        key[i] =
            atomic_load_explicit(&s->codes[order[i]].code, memory_order_relaxed) * 64 + order[i];
    qsort(key, n, sizeof key[0], cmp_int);
    for (size_t i = 0; i < n; i++) {
        out->codes[i] = key[i] / 64;
        out->code_n[i] = atomic_load_explicit(&s->codes[key[i] % 64].n, memory_order_relaxed);
    }
    out->ncodes = n;
    out->code_other = atomic_load_explicit(&s->code_other, memory_order_relaxed);
}

void gw__series_read(gw_series *s, gw_series_snap *out)
{
    memset(out, 0, sizeof *out);
    out->kind = s->kind;
    out->name = s->name;
    for (int i = 0; i < 6; i++)
        out->classes[i] = atomic_load_explicit(&s->classes[i], memory_order_relaxed);
    read_codes(s, out);
    for (int i = 0; i < GW_LAT_BUCKETS; i++) {
        out->lat[i] = atomic_load_explicit(&s->lat[i], memory_order_relaxed);
        out->count += out->lat[i];
    }
    out->lat_sum_ns = atomic_load_explicit(&s->lat_sum_ns, memory_order_relaxed);
    for (int i = 0; i < GW_NCOUNTERS; i++)
        out->counters[i] = atomic_load_explicit(&s->counters[i], memory_order_relaxed);
    /* acquire: the names below were written before this count was published */
    out->ngauges = atomic_load_explicit(&s->ngauges, memory_order_acquire);
    for (size_t i = 0; i < out->ngauges; i++) {
        memcpy(out->gauge_name[i], s->gauges[i].name, GW_GAUGE_NAME);
        out->gauge[i] = atomic_load_explicit(&s->gauges[i].v, memory_order_relaxed);
    }
}

/* The q-quantile in ms of the observations counted in lat (total n > 0),
 * linear inside its bucket as Prometheus' histogram_quantile; in the
 * unbounded bucket, the last bound. */
static double quantile_ms(double q, const uint32_t lat[GW_LAT_BUCKETS], uint32_t n)
{
    double rank = q * n, cum = 0;
    for (int i = 0; i < GW_LAT_BUCKETS; i++) {
        if (lat[i] > 0 && cum + lat[i] >= rank) {
            if (i == GW_LAT_BOUNDS)
                return lat_bounds_us[GW_LAT_BOUNDS - 1] / 1000.0;
            double lo = i ? lat_bounds_us[i - 1] / 1000.0 : 0, hi = lat_bounds_us[i] / 1000.0;
            return lo + (hi - lo) * (rank - cum) / lat[i];
        }
        cum += lat[i];
    }
    return lat_bounds_us[GW_LAT_BOUNDS - 1] / 1000.0;
}

/* Second t from its slot, or an empty point if the slot holds another. */
static gw_point read_slot(gw_series *s, int64_t t)
{
    gw_point p = {.p50_ms = -1, .p99_ms = -1};
    slot *sl = &s->ring[t % GW_HISTORY];
    /* acquire: the zeroing of this second's reset came before */
    if (t <= 0 || atomic_load_explicit(&sl->sec, memory_order_acquire) != t)
        return p;
    uint32_t lat[GW_LAT_BUCKETS], n = 0;
    for (int i = 0; i < GW_LAT_BUCKETS; i++)
        n += lat[i] = atomic_load_explicit(&sl->lat[i], memory_order_relaxed);
    uint32_t req = atomic_load_explicit(&sl->req, memory_order_relaxed);
    uint32_t err = atomic_load_explicit(&sl->err, memory_order_relaxed);
    /* acquire fence: if a load above saw a reset's zero, the tag below is not t */
    atomic_thread_fence(memory_order_acquire);
    if (atomic_load_explicit(&sl->sec, memory_order_relaxed) != t)
        return p;
    p.req = req;
    p.err = err;
    if (n > 0) {
        p.p50_ms = quantile_ms(0.5, lat, n);
        p.p99_ms = quantile_ms(0.99, lat, n);
    }
    return p;
}

void gw__series_history(gw_series *s, int64_t now_s, gw_point out[GW_HISTORY])
{
    for (int i = 0; i < GW_HISTORY; i++)
        out[i] = read_slot(s, now_s - (GW_HISTORY - 1) + i);
}
