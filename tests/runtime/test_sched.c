/*
 * test_sched.c — scheduling guarantees: goc_yield is fair, goroutines are
 * spread over the Ps and never run more than goc_maxprocs() at once on their
 * own, and a goroutine that blocks its thread (CPU loop, blocking syscall)
 * does not starve the others, whatever the worker count.
 */
#include <criterion/criterion.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/syscall.h>

#include "util.h"

static void busy_ns(int64_t ns)
{
    int64_t end = goc_now() + ns;
    while (goc_now() < end) {
    }
}

/* ---- goc_yield ---------------------------------------------------------- */

enum { FAIR_N = 8 };
static atomic_long fair_counts[FAIR_N];
static long fair_base[FAIR_N]; /* the counts once every yielder has run */
static atomic_int fair_stop;
static atomic_long fair_exited;

static void yielder(void *arg)
{
    size_t i = (size_t)(uintptr_t)arg;
    while (!atomic_load(&fair_stop)) {
        atomic_fetch_add(&fair_counts[i], 1);
        goc_yield();
    }
    atomic_fetch_add(&fair_exited, 1);
}

static int main_fairness(void *arg)
{
    int64_t *overslept = arg;
    for (uintptr_t i = 0; i < FAIR_N; i++)
        GO_CHECK(goc_go(yielder, (void *)i) == 0, "goc_go");
    /* Count from when every yielder has started: a start costs a TSan
     * fiber, milliseconds each on a loaded machine, and eight of them
     * once took the whole 200 ms window (counts "min 1, max 1"). */
    int64_t until = goc_now() + 5 * GOC_SECOND * test_slack();
    for (uintptr_t i = 0; i < FAIR_N; i++)
        while (atomic_load(&fair_counts[i]) == 0 && goc_now() < until)
            goc_yield();
    for (uintptr_t i = 0; i < FAIR_N; i++)
        fair_base[i] = atomic_load(&fair_counts[i]);
    GO_CHECK(goc_now() < until, "not every yielder started");
    /* Main's timer must fire although every P is busy with yielders. */
    int64_t t0 = goc_now();
    goc_sleep(200 * GOC_MILLISECOND);
    *overslept = goc_now() - t0 - 200 * GOC_MILLISECOND;
    atomic_store(&fair_stop, 1);
    GO_CHECK(go_wait_ge(&fair_exited, FAIR_N, 5000), "%ld of %d yielders stopped",
             atomic_load(&fair_exited), FAIR_N);
    return 0;
}

/* Goroutines that only ever yield all make progress (none starves), and a
 * sleeping goroutine still wakes on time while they do. */
Test(sched, yield_is_fair, .timeout = 20)
{
    int64_t overslept = 0;
    cr_assert_eq(goc_run(main_fairness, &overslept), 0);
    GO_CHECK_REPORT();
    long min = LONG_MAX, max = 0;
    for (int i = 0; i < FAIR_N; i++) {
        long c = atomic_load(&fair_counts[i]) - fair_base[i];
        min = c < min ? c : min;
        max = c > max ? c : max;
    }
    cr_log_info("yield counts: min %ld max %ld, main overslept %lld ms", min, max,
                (long long)test_ms(overslept));
    cr_assert_geq(overslept, 0, "goc_sleep returned early");
    cr_assert_lt(overslept, 300 * GOC_MILLISECOND * test_slack(),
                 "sleeping main woke %lld ms late while yielders ran",
                 (long long)test_ms(overslept));
    cr_assert_geq(min, 10, "a yielding goroutine starved: min %ld, max %ld", min, max);
    cr_assert_leq(max, min * 50, "very unfair: min %ld, max %ld", min, max);
}

enum { PP_ROUNDS = 300 };
static char pp_log[2 * PP_ROUNDS + 8];
static atomic_long pp_idx, pp_done;

static void ping(void *arg)
{
    char who = (char)(uintptr_t)arg;
    for (int i = 0; i < PP_ROUNDS; i++) {
        long k = atomic_fetch_add(&pp_idx, 1);
        if (k < (long)sizeof pp_log)
            pp_log[k] = who;
        goc_yield();
    }
    atomic_fetch_add(&pp_done, 1);
}

static int main_ping_pong(void *arg)
{
    uint64_t *retakes = arg;
    goc_stats st;
    goc_read_stats(&st);
    *retakes = st.retakes;
    GO_CHECK(goc_go(ping, (void *)(uintptr_t)'A') == 0, "goc_go");
    GO_CHECK(goc_go(ping, (void *)(uintptr_t)'B') == 0, "goc_go");
    int64_t deadline = goc_now() + 5 * GOC_SECOND;
    while (atomic_load(&pp_done) < 2 && goc_now() < deadline)
        goc_sleep(GOC_MILLISECOND); /* parked: not part of the rotation */
    GO_CHECK(atomic_load(&pp_done) == 2, "ping-pong did not finish");
    goc_read_stats(&st);
    *retakes = st.retakes - *retakes;
    return 0;
}

/* With one P, two goroutines that yield to each other alternate strictly:
 * goc_yield hands the P to the other runnable goroutine. */
Test(sched, yield_ping_pong, .timeout = 20)
{
    uint64_t retakes = 0;
    cr_assert_eq(goc_run(main_ping_pong, &retakes), 0);
    GO_CHECK_REPORT();
    cr_assert_eq(atomic_load(&pp_idx), 2 * PP_ROUNDS);
    if (goc_maxprocs() != 1)
        return; /* with several Ps they may run side by side */
    if (retakes != 0) {
        /* The OS stalled the worker long enough for the monitor to hand its P
         * to another thread: two goroutines legitimately ran at once. */
        cr_log_warn("P retaken during ping-pong (loaded machine?); not checking order");
        return;
    }
    for (int i = 1; i < 2 * PP_ROUNDS; i++)
        cr_assert_neq(pp_log[i], pp_log[i - 1], "no alternation at step %d: ...%.*s...", i,
                      i >= 10 ? 20 : i + 10, pp_log + (i >= 10 ? i - 10 : 0));
}

/* ---- spreading over Ps -------------------------------------------------- */

enum { SPREAD_N = 200 };
static pid_t spread_tids[SPREAD_N];
static atomic_long spread_done;

static void spread_worker(void *arg)
{
    spread_tids[(uintptr_t)arg] = (pid_t)syscall(SYS_gettid);
    busy_ns(GOC_MILLISECOND);
    atomic_fetch_add(&spread_done, 1);
}

static int main_spread(void *arg)
{
    (void)arg;
    for (uintptr_t i = 0; i < SPREAD_N; i++)
        GO_CHECK(goc_go(spread_worker, (void *)i) == 0, "goc_go");
    GO_CHECK(go_wait_ge(&spread_done, SPREAD_N, 10000), "%ld done", atomic_load(&spread_done));
    return 0;
}

/* Goroutines spawned by one goroutine are picked up by the other Ps (work
 * stealing): with 2+ Ps they run on more than one thread. */
Test(sched, work_spreads_over_workers, .timeout = 20)
{
    cr_assert_eq(goc_run(main_spread, NULL), 0);
    GO_CHECK_REPORT();
    int distinct = 0;
    for (int i = 0; i < SPREAD_N; i++) {
        bool seen = false;
        for (int j = 0; j < i && !seen; j++)
            seen = spread_tids[j] == spread_tids[i];
        distinct += !seen;
    }
    cr_log_info("%d goroutines ran on %d threads", SPREAD_N, distinct);
    if (goc_maxprocs() >= 2)
        cr_assert_geq(distinct, 2, "200 ms of work stayed on one thread with %d Ps",
                      goc_maxprocs());
}

/* 20 ms of work per goroutine: long enough for a loaded machine (the
 * suite runs two tests at once) to run two of the threads together. */
enum { PAR_ROUNDS = 200 };
static atomic_long par_running, par_max, par_done;

static void par_worker(void *arg)
{
    (void)arg;
    for (int i = 0; i < PAR_ROUNDS; i++) {
        long now = atomic_fetch_add(&par_running, 1) + 1;
        long seen = atomic_load(&par_max);
        while (now > seen && !atomic_compare_exchange_weak(&par_max, &seen, now)) {
        }
        busy_ns(100 * GOC_MICROSECOND);
        atomic_fetch_sub(&par_running, 1);
        goc_yield();
    }
    atomic_fetch_add(&par_done, 1);
}

static int main_parallel(void *arg)
{
    uint64_t *retakes = arg;
    goc_stats st;
    goc_read_stats(&st);
    int n = 4 * goc_maxprocs();
    for (int i = 0; i < n; i++)
        GO_CHECK(goc_go(par_worker, NULL) == 0, "goc_go");
    GO_CHECK(go_wait_ge(&par_done, n, 20000), "%ld of %d done", atomic_load(&par_done), n);
    uint64_t before = st.retakes;
    goc_read_stats(&st);
    *retakes = st.retakes - before;
    return 0;
}

/* goc_maxprocs() is the number of goroutines running at once: goroutines that
 * never block use all the Ps and no more (plus one per P the monitor handed
 * off from a worker the OS stalled). */
Test(sched, parallelism_is_maxprocs, .timeout = 30)
{
    uint64_t retakes = 0;
    cr_assert_eq(goc_run(main_parallel, &retakes), 0);
    GO_CHECK_REPORT();
    long max = atomic_load(&par_max);
    int procs = goc_maxprocs();
    cr_log_info("max %ld goroutines running at once with %d Ps (%llu retakes)", max, procs,
                (unsigned long long)retakes);
    cr_assert_leq(max, procs + (long)retakes, "%ld goroutines ran at once with %d Ps", max, procs);
    if (procs >= 2)
        cr_assert_geq(max, 2, "no two goroutines ever ran in parallel with %d Ps", procs);
}

/* ---- goroutines that block their thread --------------------------------- */

static atomic_long flag_at; /* goc_now() when the flagger ran, 0 before */
static atomic_long blockers_done;

static void flagger(void *arg)
{
    (void)arg;
    goc_sleep(10 * GOC_MILLISECOND);
    atomic_store(&flag_at, goc_now());
}

static void cpu_spinner(void *arg)
{
    busy_ns((int64_t)(intptr_t)arg);
    atomic_fetch_add(&blockers_done, 1);
}

static void usleeper(void *arg)
{
    usleep((useconds_t)((int64_t)(intptr_t)arg / 1000));
    atomic_fetch_add(&blockers_done, 1);
}

struct stuck_case {
    void (*blocker)(void *);
    int nblockers;     /* 0: one per P */
    int64_t block_ns;  /* how long each blocker holds its thread */
    int64_t flag_by;   /* the flagger must have run this soon after spawning */
    int64_t flag_late; /* out: when it did run, relative to its spawn */
    long done_at_flag; /* out: blockers finished when the flag was seen */
};

static int main_stuck(void *arg)
{
    struct stuck_case *c = arg;
    int n = c->nblockers ? c->nblockers : goc_maxprocs();
    for (int i = 0; i < n; i++)
        GO_CHECK(goc_go(c->blocker, (void *)(intptr_t)c->block_ns) == 0, "goc_go");
    /* Park so the blockers take every P; main itself then needs a P back. */
    goc_sleep(GOC_MILLISECOND);
    int64_t t0 = goc_now();
    GO_CHECK(goc_go(flagger, NULL) == 0, "goc_go");
    while (atomic_load(&flag_at) == 0 && atomic_load(&blockers_done) < n &&
           goc_now() - t0 < 10 * GOC_SECOND)
        goc_sleep(2 * GOC_MILLISECOND);
    c->done_at_flag = atomic_load(&blockers_done);
    long at = atomic_load(&flag_at);
    c->flag_late = at ? at - t0 : -1;
    GO_CHECK(go_wait_ge(&blockers_done, n, 10000), "blockers never finished");
    GO_CHECK(go_wait_ge(&flag_at, 1, 5000), "flagger never ran");
    return 0;
}

static void check_not_starved(struct stuck_case *c, const char *what)
{
    cr_assert_eq(goc_run(main_stuck, c), 0);
    GO_CHECK_REPORT();
    cr_log_info("%s (%d Ps): flagger ran after %lld ms", what, goc_maxprocs(),
                (long long)test_ms(c->flag_late));
    cr_assert_geq(c->flag_late, 0, "%s: flagger did not run before the blockers finished", what);
    cr_assert_eq(c->done_at_flag, 0, "%s: flagger only ran after a blocker finished", what);
    cr_assert_lt(c->flag_late, c->flag_by,
                 "%s: flagger (sleep 10 ms) ran %lld ms after spawn, want < %lld ms", what,
                 (long long)test_ms(c->flag_late), (long long)test_ms(c->flag_by));
}

/* A goroutine spinning on the CPU without yielding does not keep another
 * goroutine (and its timer) from running: another worker takes over the P,
 * even with GOC_MAXPROCS=1. */
Test(sched, cpu_hog_does_not_starve_others, .timeout = 20)
{
    struct stuck_case c = {
        .blocker = cpu_spinner,
        .nblockers = 1,
        .block_ns = 400 * GOC_MILLISECOND * test_slack(),
        .flag_by = 200 * GOC_MILLISECOND * test_slack(),
    };
    check_not_starved(&c, "one CPU hog");
}

/* ... nor when every P is held by a spinning goroutine. */
Test(sched, cpu_hogs_on_every_p_do_not_starve_others, .timeout = 20)
{
    struct stuck_case c = {
        .blocker = cpu_spinner,
        .block_ns = 500 * GOC_MILLISECOND * test_slack(),
        .flag_by = 250 * GOC_MILLISECOND * test_slack(),
    };
    check_not_starved(&c, "a CPU hog per P");
}

/* A goroutine in a blocking system call (usleep) does not hold up the
 * others. */
Test(sched, blocking_syscall_does_not_starve_others, .timeout = 20)
{
    struct stuck_case c = {
        .blocker = usleeper,
        .nblockers = 1,
        .block_ns = 400 * GOC_MILLISECOND * test_slack(),
        .flag_by = 200 * GOC_MILLISECOND * test_slack(),
    };
    check_not_starved(&c, "one usleep");
}

Test(sched, blocking_syscalls_on_every_p_do_not_starve_others, .timeout = 20)
{
    struct stuck_case c = {
        .blocker = usleeper,
        .block_ns = 500 * GOC_MILLISECOND * test_slack(),
        .flag_by = 250 * GOC_MILLISECOND * test_slack(),
    };
    check_not_starved(&c, "a usleep per P");
}

static int pipe_fds[2];
static atomic_long readers_done;

static void pipe_reader(void *arg)
{
    (void)arg;
    char b;
    ssize_t r;
    do
        r = read(pipe_fds[0], &b, 1);
    while (r < 0 && errno == EINTR);
    GO_CHECK(r == 1, "read returned %zd", r);
    atomic_fetch_add(&readers_done, 1);
}

static int main_pipe(void *arg)
{
    int64_t *flag_late = arg;
    int n = goc_maxprocs();
    for (int i = 0; i < n; i++)
        GO_CHECK(goc_go(pipe_reader, NULL) == 0, "goc_go");
    goc_sleep(GOC_MILLISECOND); /* the readers now block every P in read() */
    int64_t t0 = goc_now();
    GO_CHECK(goc_go(flagger, NULL) == 0, "goc_go");
    while (atomic_load(&flag_at) == 0 && goc_now() - t0 < 3 * GOC_SECOND)
        goc_sleep(2 * GOC_MILLISECOND);
    long at = atomic_load(&flag_at);
    *flag_late = at ? at - t0 : -1;
    GO_CHECK(atomic_load(&readers_done) == 0, "a reader returned before the write");
    /* Only now release the readers. */
    for (int i = 0; i < n; i++)
        GO_CHECK(write(pipe_fds[1], "x", 1) == 1, "write");
    GO_CHECK(go_wait_ge(&readers_done, n, 5000), "%ld of %d readers woke",
             atomic_load(&readers_done), n);
    return 0;
}

/* Goroutines blocked indefinitely in read() on every P: others still run, and
 * the readers resume normally once data arrives. */
Test(sched, blocked_reads_do_not_starve_others, .timeout = 20)
{
    cr_assert_eq(pipe(pipe_fds), 0);
    int64_t flag_late = -1;
    cr_assert_eq(goc_run(main_pipe, &flag_late), 0);
    GO_CHECK_REPORT();
    cr_log_info("flagger ran %lld ms after spawn with %d readers blocked",
                (long long)test_ms(flag_late), goc_maxprocs());
    cr_assert_geq(flag_late, 0, "flagger never ran while readers were blocked");
    cr_assert_lt(flag_late, 250 * GOC_MILLISECOND * test_slack(), "flagger ran after %lld ms",
                 (long long)test_ms(flag_late));
}

/* ---- the global run queue ---------------------------------------------- */

static atomic_int gq_release;
static atomic_long gq_done;

static void gq_yielder(void *arg)
{
    (void)arg;
    while (!atomic_load(&gq_release))
        goc_yield();
    atomic_fetch_add(&gq_done, 1);
}

static void *gq_watchdog(void *arg)
{
    (void)arg;
    test_nap_ms(3000);
    atomic_store(&gq_release, 1); /* let the test end if main starved */
    return NULL;
}

static int main_global_queue(void *arg)
{
    int64_t *resume_late = arg;
    int n = 4 * goc_maxprocs();
    for (int i = 0; i < n; i++)
        GO_CHECK(goc_go(gq_yielder, NULL) == 0, "goc_go");
    goc_yield();
    /* Hold the thread without entering the runtime: the monitor hands main's
     * P to the yielders meanwhile, so main comes back without a P. */
    busy_ns(100 * GOC_MILLISECOND);
    pthread_t t;
    pthread_create(&t, NULL, gq_watchdog, NULL);
    pthread_detach(t);
    int64_t t0 = goc_now();
    goc_yield(); /* must get a P back although every P runs yielders */
    *resume_late = atomic_load(&gq_release) ? -1 : goc_now() - t0;
    atomic_store(&gq_release, 1);
    GO_CHECK(go_wait_ge(&gq_done, n, 5000), "%ld of %d yielders stopped", atomic_load(&gq_done), n);
    return 0;
}

/* A goroutine that lost its P (or any goroutine in the global run queue) is
 * not starved by goroutines that keep yielding on every P: Go's scheduler
 * looks at the global queue every 61st tick. */
Test(sched, global_queue_not_starved_by_yielders, .timeout = 20)
{
    int64_t late = 0;
    cr_assert_eq(goc_run(main_global_queue, &late), 0);
    GO_CHECK_REPORT();
    cr_log_info("main resumed %lld us after its yield", (long long)late / 1000);
    cr_assert_geq(late, 0, "main only resumed when the watchdog stopped the yielders (3 s)");
    cr_assert_lt(late, 500 * GOC_MILLISECOND * test_slack(), "main resumed after %lld ms",
                 (long long)test_ms(late));
}

static atomic_long gq_marks, gq_marks_late;

static void gq_marker(void *arg)
{
    (void)arg;
    if (atomic_load(&gq_release))
        atomic_fetch_add(&gq_marks_late, 1);
    atomic_fetch_add(&gq_marks, 1);
}

/* More than a P's local run queue holds (GOC__RUNQ_SIZE, 256), so most go
 * to the global one; fewer on slow builds, where each goroutine's start
 * costs a TSan fiber (milliseconds on a loaded machine). */
static long gq_markers(void)
{
    return test_slow_build() ? 600 : 2000;
}

/* Starvation is no progress: release the yielders only if no marker has run
 * for 3 s while they spin (then the markers that still run count as late),
 * however long all of them take on a slow, loaded machine. Bounded: gives
 * up watching after 25 s (the test's timeout is 30 s). */
static void *gq_stall_watchdog(void *arg)
{
    (void)arg;
    long last = -1;
    int still = 0;
    for (int i = 0; i < 250 && !atomic_load(&gq_release); i++) {
        long m = atomic_load(&gq_marks);
        if (m >= gq_markers())
            return NULL;
        still = m == last ? still + 1 : 0;
        last = m;
        if (still >= 30)
            break;
        test_nap_ms(100);
    }
    atomic_store(&gq_release, 1); /* let the test end if the markers starved */
    return NULL;
}

static int main_overflow_to_global(void *arg)
{
    (void)arg;
    long markers = gq_markers();
    int n = 4 * goc_maxprocs();
    for (int i = 0; i < n; i++)
        GO_CHECK(goc_go(gq_yielder, NULL) == 0, "goc_go");
    goc_yield();
    for (long i = 0; i < markers; i++)
        GO_CHECK(goc_go(gq_marker, NULL) == 0, "goc_go");
    pthread_t t;
    pthread_create(&t, NULL, gq_stall_watchdog, NULL);
    /* Until every marker ran or the watchdog saw them stall. */
    for (int i = 0; i < 300000 && atomic_load(&gq_marks) < markers && !atomic_load(&gq_release);
         i++) {
        if (i % 16 == 15)
            goc_sleep(200 * GOC_MICROSECOND);
        else
            goc_yield();
    }
    atomic_store(&gq_release, 1);
    GO_CHECK(go_wait_ge(&gq_done, n, 5000), "%ld of %d yielders stopped", atomic_load(&gq_done), n);
    GO_CHECK(go_wait_ge(&gq_marks, markers, 5000), "%ld of %ld markers ran", atomic_load(&gq_marks),
             markers);
    pthread_join(t, NULL);
    return 0;
}

/* Goroutines that overflowed into the global run queue run although the
 * local queues never empty (every P busy with yielding goroutines). */
Test(sched, overflowed_goroutines_not_starved_by_yielders, .timeout = 30)
{
    cr_assert_eq(goc_run(main_overflow_to_global, NULL), 0);
    GO_CHECK_REPORT();
    cr_assert_eq(atomic_load(&gq_marks_late), 0,
                 "%ld of %ld spawned goroutines only ran after the yielders stopped (the markers "
                 "made no progress for 3 s while the yielders ran)",
                 atomic_load(&gq_marks_late), gq_markers());
}

static atomic_int many_release;
static atomic_long many_started;

static void many_yielder(void *arg)
{
    (void)arg;
    atomic_fetch_add(&many_started, 1);
    while (!atomic_load(&many_release))
        goc_yield();
}

static void *many_watchdog(void *arg)
{
    (void)arg;
    test_nap_ms(10000);
    atomic_store(&many_release, 1); /* let the test end if main starved */
    return NULL;
}

/* Under TSan one turn of each is one fiber start each (1-10 ms on a loaded
 * machine): test_scale's 5000 took longer than the 10 s watchdog there. */
static long many_n(void)
{
    return TEST_TSAN ? 500 : test_scale(100000);
}

static int main_yield_behind_many(void *arg)
{
    int64_t *late = arg;
    long n = many_n();
    for (long i = 0; i < n; i++)
        GO_CHECK(goc_go(many_yielder, NULL) == 0, "goc_go");
    pthread_t t;
    pthread_create(&t, NULL, many_watchdog, NULL);
    pthread_detach(t);
    int64_t t0 = goc_now();
    goc_yield();
    *late = atomic_load(&many_release) ? -1 : goc_now() - t0;
    atomic_store(&many_release, 1);
    return 0;
}

/* A goroutine that yields behind 100,000 runnable goroutines (most of them
 * not started yet, all yielding) gets the CPU back after about one turn of
 * each — tens of milliseconds, as in Go (2 s allowed for a loaded machine) —
 * not after all the new ones have been started one per 61 slices. */
Test(sched, yield_resumes_behind_many_goroutines, .timeout = 30)
{
    int64_t late = 0;
    cr_assert_eq(goc_run(main_yield_behind_many, &late), 0);
    GO_CHECK_REPORT();
    cr_log_info("main resumed %lld ms after yielding behind %ld goroutines",
                (long long)test_ms(late), many_n());
    cr_assert_geq(late, 0, "main only resumed when the watchdog stopped the yielders (10 s)");
    cr_assert_lt(late, 2 * GOC_SECOND * test_slack(), "main resumed %lld ms after its yield",
                 (long long)test_ms(late));
}
