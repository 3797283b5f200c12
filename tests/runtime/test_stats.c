/*
 * test_stats.c — goc_read_stats: the counters a program (and the stats
 * page) reads must track what the runtime actually does.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>

#include "util.h"

#define U(x) ((unsigned long long)(x))

/* Before the runtime starts there is nothing to count, and reading is safe. */
Test(stats, readable_before_start, .timeout = 10)
{
    goc_stats st;
    memset(&st, 0xff, sizeof st);
    goc_read_stats(&st);
    cr_assert_eq(st.goroutines, 0, "goroutines %llu", U(st.goroutines));
    cr_assert_eq(st.context_switches, 0);
    cr_assert_eq(st.timers, 0);
}

/* Goroutines kept alive at once: fewer under TSan, where each one's start
 * costs a fiber (milliseconds on a loaded machine) and fibers are few. */
#define N ((int)(TEST_TSAN ? 100 : 500))
static atomic_int release;
static atomic_long started, finished;

static void parked(void *arg)
{
    (void)arg;
    atomic_fetch_add(&started, 1);
    while (!atomic_load(&release))
        goc_sleep(50 * GOC_MILLISECOND); /* mostly parked: its timer pending */
    atomic_fetch_add(&finished, 1);
}

static void check_sane(const goc_stats *st)
{
    GO_CHECK(st->maxprocs == (uint64_t)goc_maxprocs(), "maxprocs %llu, goc_maxprocs %d",
             U(st->maxprocs), goc_maxprocs());
    GO_CHECK(st->threads >= 1, "threads %llu", U(st->threads));
    GO_CHECK(st->idle_procs <= st->maxprocs, "idle_procs %llu > maxprocs %llu", U(st->idle_procs),
             U(st->maxprocs));
    GO_CHECK(st->goroutines <= st->goroutines_created, "alive %llu > created %llu",
             U(st->goroutines), U(st->goroutines_created));
    GO_CHECK(st->stacks_unguarded <= st->stacks_mapped, "unguarded %llu > mapped %llu",
             U(st->stacks_unguarded), U(st->stacks_mapped));
    GO_CHECK(st->stack_bytes_mapped >= st->stacks_mapped * 16384,
             "%llu stack bytes for %llu stacks of at least 16 KiB", U(st->stack_bytes_mapped),
             U(st->stacks_mapped));
}

static int main_stats(void *arg)
{
    (void)arg;
    goc_stats a, b, c;
    goc_read_stats(&a);
    check_sane(&a);
    GO_CHECK(a.goroutines == goc_numgoroutine(), "goroutines %llu, numgoroutine %zu",
             U(a.goroutines), goc_numgoroutine());
    GO_CHECK(a.goroutines_created >= 1, "main was not counted as created");
    GO_CHECK(a.stacks_mapped >= 1, "main runs on a goroutine stack: stacks_mapped %llu",
             U(a.stacks_mapped));

    for (int i = 0; i < N; i++)
        GO_CHECK(goc_go(parked, NULL) == 0, "goc_go");
    GO_CHECK(go_wait_ge(&started, N, 5000), "%ld started", atomic_load(&started));
    /* Let them reach their sleep (a started one may not have yet). */
    int64_t until = goc_now() + 5 * GOC_SECOND * test_slack();
    do {
        goc_sleep(5 * GOC_MILLISECOND);
        goc_read_stats(&b);
    } while (b.timers < (uint64_t)N / 2 && goc_now() < until);
    check_sane(&b);
    uint64_t created = b.goroutines_created - a.goroutines_created;
    GO_CHECK(created >= N && created <= N + 16, "created grew by %llu after %d spawns", U(created),
             N);
    GO_CHECK(b.goroutines >= a.goroutines + N, "alive %llu, want >= %llu", U(b.goroutines),
             U(a.goroutines + N));
    GO_CHECK(b.stacks_mapped >= N + 1, "%llu stacks mapped for %d live goroutines",
             U(b.stacks_mapped), N + 1);
    GO_CHECK(b.context_switches > a.context_switches + N,
             "context_switches %llu -> %llu after %d goroutines ran", U(a.context_switches),
             U(b.context_switches), N);
    GO_CHECK(b.timers >= N / 2, "only %llu timers pending with %d goroutines in goc_sleep",
             U(b.timers), N);

    atomic_store(&release, 1);
    GO_CHECK(go_wait_ge(&finished, N, 5000), "%ld finished", atomic_load(&finished));
    int64_t deadline = goc_now() + 2 * GOC_SECOND * test_slack();
    do {
        goc_sleep(2 * GOC_MILLISECOND);
        goc_read_stats(&c);
    } while ((c.goroutines > a.goroutines || c.timers > 0) && goc_now() < deadline);
    check_sane(&c);
    GO_CHECK(c.goroutines == a.goroutines, "alive %llu after they returned, want %llu",
             U(c.goroutines), U(a.goroutines));
    GO_CHECK(c.timers == 0, "%llu timers pending after every sleeper woke", U(c.timers));
    GO_CHECK(c.goroutines_created == b.goroutines_created, "created changed %llu -> %llu",
             U(b.goroutines_created), U(c.goroutines_created));
    return 0;
}

/* The counters move with what the program does: spawns, switches, timers,
 * stacks. */
Test(stats, counters_track_activity, .timeout = 20)
{
    cr_assert_eq(run_main(main_stats, NULL), 0);
}

static void *thread_reads_stats(void *arg)
{
    goc_read_stats(arg);
    return NULL;
}

static int main_stats_from_thread(void *arg)
{
    goc_stats *st = arg;
    pthread_t t;
    pthread_create(&t, NULL, thread_reads_stats, st);
    pthread_join(t, NULL);
    return 0;
}

/* Any thread may read the stats while the runtime runs. */
Test(stats, readable_from_plain_thread, .timeout = 10)
{
    goc_stats st;
    memset(&st, 0, sizeof st);
    cr_assert_eq(run_main(main_stats_from_thread, &st), 0);
    cr_assert_eq(st.maxprocs, (uint64_t)goc_maxprocs());
    cr_assert_geq(st.goroutines, 1, "main was alive");
    cr_assert_geq(st.stacks_mapped, 1);
}

static atomic_long hog_done;

static void hog(void *arg)
{
    (void)arg;
    int64_t end = goc_now() + 150 * GOC_MILLISECOND;
    while (goc_now() < end) {
    }
    atomic_fetch_add(&hog_done, 1);
}

static int main_retake(void *arg)
{
    goc_stats *st = arg;
    int n = goc_maxprocs();
    goc_read_stats(&st[0]);
    for (int i = 0; i < n; i++)
        GO_CHECK(goc_go(hog, NULL) == 0, "goc_go");
    /* As many hogs as Ps: main (or a hog queued behind another) can only
     * run on a P that the monitor took away from a stuck one. */
    goc_sleep(50 * GOC_MILLISECOND);
    GO_CHECK(atomic_load(&hog_done) < n, "main ran only after the hogs finished");
    goc_read_stats(&st[1]);
    GO_CHECK(go_wait_ge(&hog_done, n, 5000), "hogs never finished");
    return 0;
}

/* Handing a P off from a stuck worker shows up in retakes. */
Test(stats, retakes_counted, .timeout = 20)
{
    goc_stats st[2];
    cr_assert_eq(run_main(main_retake, st), 0);
    cr_assert_gt(st[1].retakes, st[0].retakes, "retakes %llu -> %llu", U(st[0].retakes),
                 U(st[1].retakes));
}
