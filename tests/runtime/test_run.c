/*
 * test_run.c — goc_run, goc_exit, goc_maxprocs, goc_id, goc_numgoroutine,
 * goc_default_stack_size and goc_strerror: the contract of starting the
 * runtime and asking it about itself.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#include "util.h"

/* ---- goc_run ------------------------------------------------------------ */

static int main_return_arg(void *arg)
{
    return *(int *)arg;
}

/* goc_run returns exactly what main_fn returned, and passes arg through. */
Test(run, returns_main_value, .timeout = 10)
{
    int v = 12345;
    cr_assert_eq(goc_run(main_return_arg, &v), 12345);
    v = 7;
    cr_assert_eq(goc_run(main_return_arg, &v), 7, "a second goc_run in the same process");
}

/* A NULL main is refused, not called. */
Test(run, null_main_is_einval, .timeout = 10)
{
    cr_assert_eq(goc_run(NULL, NULL), -EINVAL);
}

static atomic_int nested_ran;

static int nested_main(void *arg)
{
    (void)arg;
    atomic_store(&nested_ran, 1);
    return 99;
}

static int main_calls_run(void *arg)
{
    (void)arg;
    return goc_run(nested_main, NULL);
}

/* goc_run from a goroutine would block a worker on itself: -EDEADLK, and the
 * nested main never runs. */
Test(run, run_inside_goroutine_is_edeadlk, .timeout = 10)
{
    cr_assert_eq(goc_run(main_calls_run, NULL), -EDEADLK);
    cr_assert_eq(atomic_load(&nested_ran), 0, "nested main_fn must not run");
}

static int main_sleep_return_arg(void *arg)
{
    goc_sleep(20 * GOC_MILLISECOND);
    goc_yield();
    return (int)(intptr_t)arg;
}

static void *thread_runs(void *arg)
{
    return (void *)(intptr_t)goc_run(main_sleep_return_arg, arg);
}

/* Two plain threads may each run a main at the same time (libraries that
 * embed goc do this); each gets its own result back. */
Test(run, concurrent_runs_from_two_threads, .timeout = 10)
{
    pthread_t t1, t2;
    cr_assert_eq(pthread_create(&t1, NULL, thread_runs, (void *)(intptr_t)11), 0);
    cr_assert_eq(pthread_create(&t2, NULL, thread_runs, (void *)(intptr_t)22), 0);
    void *r1, *r2;
    pthread_join(t1, &r1);
    pthread_join(t2, &r2);
    cr_assert_eq((intptr_t)r1, 11);
    cr_assert_eq((intptr_t)r2, 22);
}

static void sleep_an_hour(void *arg)
{
    (void)arg;
    goc_sleep(GOC_HOUR);
}

static void yield_forever(void *arg)
{
    (void)arg;
    for (;;)
        goc_yield();
}

static int main_leaves_goroutines(void *arg)
{
    (void)arg;
    GO_CHECK(goc_go(sleep_an_hour, NULL) == 0, "goc_go");
    GO_CHECK(goc_go(yield_forever, NULL) == 0, "goc_go");
    goc_sleep(5 * GOC_MILLISECOND);
    return 7;
}

/* Goroutines still alive when main returns are abandoned: goc_run returns at
 * once, like a Go program whose main returns. */
Test(run, returns_without_waiting_for_other_goroutines, .timeout = 10)
{
    int64_t t0 = goc_now();
    cr_assert_eq(goc_run(main_leaves_goroutines, NULL), 7);
    int64_t el = goc_now() - t0;
    GO_CHECK_REPORT();
    cr_assert_lt(el, 2 * GOC_SECOND * test_slack(), "goc_run took %lld ms", (long long)test_ms(el));
}

/* ---- goc_exit ----------------------------------------------------------- */

static atomic_long exit_before, exit_after, sibling_done;

static void exit_deep(int depth);
static void (*volatile exit_deep_ptr)(int) = exit_deep; /* a real call chain */

__attribute__((noinline)) static void exit_deep(int depth)
{
    if (depth > 0) {
        exit_deep_ptr(depth - 1);
    } else {
        atomic_fetch_add(&exit_before, 1);
        goc_exit();
    }
    atomic_fetch_add(&exit_after, 1); /* never reached */
}

static void exiting_goroutine(void *arg)
{
    (void)arg;
    exit_deep(5);
    atomic_fetch_add(&exit_after, 1);
}

static void sibling(void *arg)
{
    (void)arg;
    for (int i = 0; i < 10; i++)
        goc_yield();
    goc_sleep(GOC_MILLISECOND);
    atomic_fetch_add(&sibling_done, 1);
}

static int main_goc_exit_children(void *arg)
{
    (void)arg;
    enum { N = 100 };
    size_t n0 = goc_numgoroutine();
    for (int i = 0; i < N; i++) {
        GO_CHECK(goc_go(exiting_goroutine, NULL) == 0, "goc_go");
        GO_CHECK(goc_go(sibling, NULL) == 0, "goc_go");
    }
    GO_CHECK(go_wait_ge(&exit_before, N, 5000), "only %ld goroutines reached goc_exit",
             atomic_load(&exit_before));
    GO_CHECK(go_wait_ge(&sibling_done, N, 5000), "siblings stalled: %ld done",
             atomic_load(&sibling_done));
    /* Exited goroutines no longer exist. */
    int64_t deadline = goc_now() + 2 * GOC_SECOND;
    while (goc_numgoroutine() != n0 && goc_now() < deadline)
        goc_sleep(GOC_MILLISECOND);
    GO_CHECK(goc_numgoroutine() == n0, "numgoroutine %zu, want %zu after goc_exit",
             goc_numgoroutine(), n0);
    goc_sleep(10 * GOC_MILLISECOND);
    return 0;
}

/* goc_exit ends the calling goroutine from any call depth; nothing after it
 * runs, the goroutine is gone, and other goroutines are unaffected. */
Test(run, goc_exit_ends_goroutine, .timeout = 20)
{
    cr_assert_eq(goc_run(main_goc_exit_children, NULL), 0);
    GO_CHECK_REPORT();
    cr_assert_eq(atomic_load(&exit_after), 0, "code after goc_exit ran");
}

static atomic_int main_after_exit;

static int main_exits(void *arg)
{
    if (arg != NULL)
        goc_go(sleep_an_hour, NULL); /* another goroutine still alive */
    goc_exit();
    atomic_store(&main_after_exit, 1);
    return 42;
}

/* goc_exit in goc_run's main makes goc_run return 0. */
Test(run, goc_exit_in_main_returns_zero, .timeout = 10)
{
    cr_assert_eq(goc_run(main_exits, NULL), 0);
    cr_assert_eq(atomic_load(&main_after_exit), 0);
}

/* ... also when other goroutines are still alive (they are abandoned). */
Test(run, goc_exit_in_main_with_others_alive, .timeout = 10)
{
    int64_t t0 = goc_now();
    cr_assert_eq(goc_run(main_exits, (void *)1), 0);
    cr_assert_eq(atomic_load(&main_after_exit), 0);
    cr_assert_lt(goc_now() - t0, 2 * GOC_SECOND * test_slack());
}

/* ---- goc_maxprocs ------------------------------------------------------- */

static int affinity_cpus(void)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) != 0)
        return 1;
    return CPU_COUNT(&set);
}

static int main_report_maxprocs(void *arg)
{
    goc_stats st;
    goc_read_stats(&st);
    *(uint64_t *)arg = st.maxprocs;
    return goc_maxprocs();
}

/* goc_maxprocs is GOC_MAXPROCS (as set by ctest for this run), and the stats
 * agree; without it, between 1 and the CPUs we may use. */
Test(run, maxprocs_matches_environment, .timeout = 10)
{
    uint64_t stats_procs = 0;
    int procs = goc_run(main_report_maxprocs, &stats_procs);
    const char *env = getenv("GOC_MAXPROCS");
    if (env && *env)
        cr_assert_eq(procs, atoi(env), "goc_maxprocs %d, GOC_MAXPROCS=%s", procs, env);
    else
        cr_assert(procs >= 1 && procs <= affinity_cpus(), "goc_maxprocs %d", procs);
    cr_assert_eq(stats_procs, (uint64_t)procs, "goc_stats.maxprocs");
    cr_assert_eq(goc_maxprocs(), procs, "from a plain thread after goc_run");
}

/* Run helper_env with one environment override, return its stdout. */
static char *env_helper(const char *const *args, const char *assign)
{
    const char *env[] = {assign, NULL};
    test_proc p;
    cr_assert_eq(test_run_helper(&p, "helper_env", args, env, 10000), 0, "spawn helper_env");
    char st[64];
    cr_assert(!p.timed_out, "helper_env hung; stderr: %s", p.err.data);
    cr_assert(WIFEXITED(p.status) && WEXITSTATUS(p.status) == 0,
              "helper_env with %s: %s; stderr: %s", assign,
              test_status_str(p.status, st, sizeof st), p.err.data);
    free(p.err.data);
    return p.out.data;
}

static long env_value(const char *out, const char *key)
{
    const char *p = strstr(out, key);
    cr_assert_not_null(p, "no %s in helper output: %s", key, out);
    return strtol(p + strlen(key), NULL, 10);
}

static bool cgroup_has_cpu_quota(void)
{
    FILE *f = fopen("/sys/fs/cgroup/cpu.max", "r");
    if (f == NULL)
        return true; /* unknown: don't assume there is none */
    char buf[64] = "";
    if (fgets(buf, sizeof buf, f) == NULL)
        buf[0] = '\0';
    fclose(f);
    return strncmp(buf, "max", 3) != 0;
}

/* GOC_MAXPROCS sets the number of Ps (1..1024); an invalid value is ignored
 * and the CPU count used instead. */
Test(run, maxprocs_environment_values, .timeout = 30)
{
    int ncpu = affinity_cpus();
    char *out = env_helper(NULL, "GOC_MAXPROCS=3");
    cr_assert_eq(env_value(out, "maxprocs="), 3, "%s", out);
    free(out);
    out = env_helper(NULL, "GOC_MAXPROCS=1");
    cr_assert_eq(env_value(out, "maxprocs="), 1, "%s", out);
    free(out);

    const char *bad[] = {"GOC_MAXPROCS=0", "GOC_MAXPROCS=abc", "GOC_MAXPROCS=-2",
                         "GOC_MAXPROCS=100000", "GOC_MAXPROCS="};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        out = env_helper(NULL, bad[i]);
        long v = env_value(out, "maxprocs=");
        cr_assert(v >= 1 && v <= ncpu, "%s gave maxprocs %ld (cpus %d)", bad[i], v, ncpu);
        if (!cgroup_has_cpu_quota())
            cr_assert_eq(v, ncpu, "%s: want the affinity CPU count", bad[i]);
        free(out);
    }
}

/* Without GOC_MAXPROCS, the affinity mask bounds the number of Ps. */
Test(run, maxprocs_follows_affinity_mask, .timeout = 20)
{
    cpu_set_t set, one;
    CPU_ZERO(&set);
    cr_assert_eq(sched_getaffinity(0, sizeof set, &set), 0);
    int first = -1;
    for (int i = 0; i < CPU_SETSIZE && first < 0; i++)
        if (CPU_ISSET(i, &set))
            first = i;
    CPU_ZERO(&one);
    CPU_SET(first, &one);
    /* The helper inherits this (Criterion-forked) process's mask. */
    cr_assert_eq(sched_setaffinity(0, sizeof one, &one), 0);
    char *out = env_helper(NULL, "GOC_MAXPROCS=");
    sched_setaffinity(0, sizeof set, &set);
    cr_assert_eq(env_value(out, "maxprocs="), 1, "one allowed CPU: %s", out);
    free(out);
}

/* ---- goc_default_stack_size -------------------------------------------- */

/* 256 KiB by default; GOC_STACK_SIZE in bytes with an optional k/m suffix. */
Test(run, default_stack_size_environment, .timeout = 30)
{
    struct {
        const char *assign;
        long want;
    } cases[] = {
        {"GOC_STACK_SIZE=", 256 * 1024},
        {"GOC_STACK_SIZE=131072", 131072},
        {"GOC_STACK_SIZE=64k", 64 * 1024},
        {"GOC_STACK_SIZE=1m", 1024 * 1024},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *out = env_helper(NULL, cases[i].assign);
        cr_assert_eq(env_value(out, "stack="), cases[i].want, "%s: %s", cases[i].assign, out);
        free(out);
    }
}

/* A goroutine spawned with default options really gets GOC_STACK_SIZE of
 * stack: 1.5 MiB of locals work with GOC_STACK_SIZE=2m. */
Test(run, default_stack_size_is_used, .timeout = 20)
{
    const char *args[] = {"1572864", NULL};
    char *out = env_helper(args, "GOC_STACK_SIZE=2m");
    cr_assert_not_null(strstr(out, "used=1572864"), "%s", out);
    free(out);
}

/* ---- goc_id ------------------------------------------------------------- */

/* Fewer under TSan, where each goroutine's start costs a fiber
 * (milliseconds on a loaded machine) and 1000 at once took most of the
 * test's 20 s. */
enum { ID_MAX = 1000 };
#define ID_N ((size_t)(TEST_TSAN ? 200 : ID_MAX))
static uint64_t ids[ID_MAX];
static atomic_long ids_done;

static void record_id(void *arg)
{
    size_t i = (size_t)(uintptr_t)arg;
    uint64_t id = goc_id();
    ids[i] = id;
    /* The id stays the goroutine's own after it moves between threads. */
    for (int k = 0; k < 5; k++)
        goc_yield();
    goc_sleep(GOC_MILLISECOND);
    GO_CHECK(goc_id() == id, "id changed from %llu to %llu", (unsigned long long)id,
             (unsigned long long)goc_id());
    atomic_fetch_add(&ids_done, 1);
}

static void *thread_id(void *arg)
{
    *(uint64_t *)arg = goc_id();
    return NULL;
}

static int main_ids(void *arg)
{
    (void)arg;
    GO_CHECK(goc_id() == 1, "main's id is %llu, want 1", (unsigned long long)goc_id());
    uint64_t tid = 12345;
    pthread_t t;
    pthread_create(&t, NULL, thread_id, &tid);
    pthread_join(t, NULL);
    GO_CHECK(tid == 0, "goc_id on a plain thread is %llu, want 0", (unsigned long long)tid);
    for (size_t i = 0; i < ID_N; i++)
        GO_CHECK(goc_go(record_id, (void *)(uintptr_t)i) == 0, "goc_go");
    GO_CHECK(go_wait_ge(&ids_done, (long)ID_N, 3000), "%ld of %zu goroutines done",
             atomic_load(&ids_done), ID_N);
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* goc_id: 1 for main, 0 off goroutines, unique and stable for each
 * goroutine. */
Test(run, goc_id_values, .timeout = 20)
{
    cr_assert_eq(goc_id(), 0, "test thread before goc_run");
    cr_assert_eq(goc_run(main_ids, NULL), 0);
    GO_CHECK_REPORT();
    cr_assert_eq(goc_id(), 0, "test thread after goc_run");
    qsort(ids, ID_N, sizeof ids[0], cmp_u64);
    for (size_t i = 0; i < ID_N; i++) {
        cr_assert_neq(ids[i], 0, "a goroutine got id 0");
        cr_assert_neq(ids[i], 1, "a goroutine shares main's id 1");
        if (i > 0)
            cr_assert_neq(ids[i], ids[i - 1], "duplicate id %llu", (unsigned long long)ids[i]);
    }
}

/* ---- goc_numgoroutine --------------------------------------------------- */

enum { NG_N = 200 };
static atomic_int ng_release;
static atomic_long ng_started, ng_finished;

static void ng_blocker(void *arg)
{
    (void)arg;
    atomic_fetch_add(&ng_started, 1);
    while (!atomic_load(&ng_release))
        goc_sleep(GOC_MILLISECOND);
    atomic_fetch_add(&ng_finished, 1);
}

static void *thread_numgoroutine(void *arg)
{
    *(size_t *)arg = goc_numgoroutine();
    return NULL;
}

static int main_numgoroutine(void *arg)
{
    (void)arg;
    size_t n0 = goc_numgoroutine();
    GO_CHECK(n0 == 1, "numgoroutine in a fresh main is %zu, want 1", n0);
    for (int i = 0; i < NG_N; i++)
        GO_CHECK(goc_go(ng_blocker, NULL) == 0, "goc_go");
    /* Counted from the moment they are spawned, before they first run. */
    size_t n1 = goc_numgoroutine();
    GO_CHECK(n1 == n0 + NG_N, "right after spawning: %zu, want %zu", n1, n0 + NG_N);
    GO_CHECK(go_wait_ge(&ng_started, NG_N, 5000), "%ld started", atomic_load(&ng_started));
    size_t n2 = goc_numgoroutine();
    GO_CHECK(n2 == n0 + NG_N, "while blocked: %zu, want %zu", n2, n0 + NG_N);

    size_t from_thread = 0;
    pthread_t t;
    pthread_create(&t, NULL, thread_numgoroutine, &from_thread);
    pthread_join(t, NULL);
    GO_CHECK(from_thread == n0 + NG_N, "from a plain thread: %zu, want %zu", from_thread,
             n0 + NG_N);

    atomic_store(&ng_release, 1);
    GO_CHECK(go_wait_ge(&ng_finished, NG_N, 5000), "%ld finished", atomic_load(&ng_finished));
    int64_t deadline = goc_now() + 2 * GOC_SECOND * test_slack();
    while (goc_numgoroutine() != n0 && goc_now() < deadline)
        goc_sleep(GOC_MILLISECOND);
    GO_CHECK(goc_numgoroutine() == n0, "after they returned: %zu, want %zu", goc_numgoroutine(),
             n0);
    return 0;
}

/* goc_numgoroutine counts runnable and blocked goroutines and drops back when
 * they return. */
Test(run, numgoroutine_counts_live_goroutines, .timeout = 20)
{
    cr_assert_eq(goc_run(main_numgoroutine, NULL), 0);
    GO_CHECK_REPORT();
}

/* ---- goc_strerror ------------------------------------------------------- */

static bool contains_ci(const char *s, const char *word)
{
    return s != NULL && strcasestr(s, word) != NULL;
}

/* goc_strerror names negative errno values (and positive ones alike), and
 * never returns NULL, even for codes nobody knows. */
Test(run, strerror_messages, .timeout = 10)
{
    const char *nomem = goc_strerror(-ENOMEM);
    const char *inval = goc_strerror(-EINVAL);
    const char *tmo = goc_strerror(-ETIMEDOUT);
    cr_assert_not_null(nomem);
    cr_assert_not_null(inval);
    cr_assert_not_null(tmo);
    cr_assert(contains_ci(nomem, "memory"), "-ENOMEM: \"%s\"", nomem);
    cr_assert(contains_ci(inval, "invalid"), "-EINVAL: \"%s\"", inval);
    cr_assert(contains_ci(tmo, "time") || contains_ci(tmo, "deadline"), "-ETIMEDOUT: \"%s\"", tmo);
    cr_assert_str_neq(nomem, inval);
    cr_assert_str_eq(goc_strerror(ETIMEDOUT), tmo, "positive and negative codes agree");
    cr_assert_str_eq(goc_strerror(ENOMEM), nomem);
    cr_assert_str_not_empty(goc_strerror(-EPIPE));
    cr_assert_str_not_empty(goc_strerror(-EDEADLK));

    const int odd[] = {0, -99999, 99999, INT32_MIN, INT32_MAX};
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
        const char *s = goc_strerror(odd[i]);
        cr_assert_not_null(s, "goc_strerror(%d)", odd[i]);
        cr_assert_str_not_empty(s, "goc_strerror(%d)", odd[i]);
    }
}
