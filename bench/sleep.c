/*
 * sleep — timer churn: 100,000 goroutines each sleep a random 1–100 ms
 * (uniform, fixed seed); report the wall time and the mean lateness.
 *
 * The durations come from SplitMix64 seeded with SEED, drawn before the
 * clock starts; the Go twin draws the very same ones. Each goroutine reads
 * the clock around its own goc_sleep and stores its lateness (actual minus
 * requested). Wall time runs from before the first goc_go to the moment the
 * last goroutine finishes: that goroutine stamps the end time itself, so how
 * the main goroutine waits (a 1 ms polling sleep, the same in Go) does not
 * enter the figure.
 *
 * Twin: bench/go/sleep/main.go. Rows: sleep-wall (ms) and sleep-late (us),
 * both lower is better.
 */
#include <goc.h>
#include <stdatomic.h>

#include "bench.h"

#define DEFAULT_COUNT 100000L
#define SEED          42u
#define MIN_SLEEP     (1 * GOC_MILLISECOND)
#define MAX_SLEEP     (100 * GOC_MILLISECOND)

/* One goroutine's work: written by the main goroutine before the spawn
 * (want), then by the goroutine alone (late). */
typedef struct sleeper {
    goc_duration want;
    goc_duration late;
} sleeper;

static atomic_long remaining; /* goroutines not yet finished */
static atomic_llong end_ns;   /* goc_now() when the last one finished; 0 until then */

static void sleep_one(void *arg)
{
    sleeper *s = arg;
    int64_t t0 = goc_now();
    goc_sleep(s->want);
    s->late = goc_now() - t0 - s->want;
    /* acq_rel: the decrements form one release sequence, so the last one
     * sees every other goroutine's s->late; its release store of end_ns
     * then hands all of them to the main goroutine's acquire load. */
    if (atomic_fetch_sub_explicit(&remaining, 1, memory_order_acq_rel) == 1)
        atomic_store_explicit(&end_ns, goc_now(), memory_order_release);
}

static int cmp_duration(const void *a, const void *b)
{
    goc_duration x = *(const goc_duration *)a, y = *(const goc_duration *)b;
    return (x > y) - (x < y);
}

/* Mean lateness in microseconds; also prints the distribution. */
static double report_lateness(const sleeper *s, long n)
{
    goc_duration *late = malloc((size_t)n * sizeof *late);
    if (late == NULL)
        bench_die("out of memory");
    double sum = 0;
    for (long i = 0; i < n; i++) {
        late[i] = s[i].late;
        sum += (double)late[i];
    }
    qsort(late, (size_t)n, sizeof *late, cmp_duration);
    bench_note("sleep-late: p50=%.1f us p99=%.1f us max=%.1f us min=%.1f us", late[n / 2] / 1e3,
               late[n - 1 - n / 100] / 1e3, late[n - 1] / 1e3, late[0] / 1e3);
    free(late);
    return sum / (double)n / 1e3;
}

static int bench_main(void *arg)
{
    long n = *(const long *)arg;
    sleeper *s = calloc((size_t)n, sizeof *s);
    if (s == NULL)
        bench_die("out of memory");
    uint64_t rng = SEED;
    for (long i = 0; i < n; i++)
        s[i].want = MIN_SLEEP +
                    (goc_duration)(bench_splitmix64(&rng) % (uint64_t)(MAX_SLEEP - MIN_SLEEP + 1));
    /* relaxed: no goroutine exists yet; goc_go publishes the store. */
    atomic_store_explicit(&remaining, n, memory_order_relaxed);

    int64_t start = goc_now();
    for (long i = 0; i < n; i++) {
        int rc = goc_go(sleep_one, &s[i]);
        if (rc < 0)
            bench_die("goc_go failed after %ld goroutines: %s", i, goc_strerror(rc));
    }
    int64_t spawned = goc_now();
    int64_t end;
    while ((end = atomic_load_explicit(&end_ns, memory_order_acquire)) == 0)
        goc_sleep(GOC_MILLISECOND);

    bench_note("sleep: %ld goroutines, spawned in %.1f ms", n, (spawned - start) / 1e6);
    bench_result("sleep-wall", "ms", (double)(end - start) / 1e6);
    bench_result("sleep-late", "us", report_lateness(s, n));
    free(s);
    return 0;
}

int main(int argc, char **argv)
{
    return bench_run(argc, argv, DEFAULT_COUNT, bench_main);
}
