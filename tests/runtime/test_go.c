/*
 * test_go.c — goc_go and goc_go_with: spawning goroutines, from goroutines
 * and from plain threads, in large numbers, with their options and stacks.
 */
#include <alloca.h>
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <time.h>
#include <wchar.h>

#include "util.h"

static void nothing(void *arg)
{
    (void)arg;
}

/* ---- errors ------------------------------------------------------------- */

static int main_go_errors(void *arg)
{
    (void)arg;
    GO_CHECK(goc_go(NULL, NULL) == -EINVAL, "goc_go(NULL) in a goroutine");
    GO_CHECK(goc_go_with(NULL, NULL, NULL) == -EINVAL, "goc_go_with(NULL fn)");
    goc_go_opts o = {.stack_size = ((size_t)1 << 30) + 1};
    GO_CHECK(goc_go_with(nothing, NULL, &o) == -EINVAL, "stack of 1 GiB + 1");
    o.stack_size = (size_t)1 << 40;
    GO_CHECK(goc_go_with(nothing, NULL, &o) == -EINVAL, "stack of 1 TiB");
    o.stack_size = SIZE_MAX;
    GO_CHECK(goc_go_with(nothing, NULL, &o) == -EINVAL, "stack of SIZE_MAX");
    return 0;
}

/* A NULL function and an oversized stack are refused with -EINVAL, and the
 * refused goroutines are not counted as created. */
Test(go, invalid_arguments_are_einval, .timeout = 10)
{
    cr_assert_eq(goc_go(NULL, NULL), -EINVAL, "goc_go(NULL) from a plain thread");
    goc_stats before, after;
    goc_read_stats(&before);
    cr_assert_eq(run_main(main_go_errors, NULL), 0);
    goc_read_stats(&after);
    /* Only goc_run's main was created. */
    cr_assert_leq(after.goroutines_created - before.goroutines_created, 1,
                  "refused spawns were counted: %llu created",
                  (unsigned long long)(after.goroutines_created - before.goroutines_created));
}

/* ---- options ------------------------------------------------------------ */

static atomic_long opt_done;
__attribute__((noinline)) static void use_locals(size_t bytes)
{
    unsigned char *buf = alloca(bytes);
    memset(buf, 0xa5, bytes);
    test_use_memory(buf);
    unsigned sum = 0;
    for (size_t i = 0; i < bytes; i += 512)
        sum += buf[i];
    test_sink(sum);
}

static void use_8k(void *arg)
{
    (void)arg;
    use_locals(8 * 1024);
    atomic_fetch_add(&opt_done, 1);
}

static void big_array_1m(void *arg)
{
    (void)arg;
    volatile unsigned char big[1 << 20];
    memset((unsigned char *)big, 1, sizeof big);
    big[sizeof big - 1] = 2;
    test_sink(big[12345] + big[sizeof big - 1]);
    atomic_fetch_add(&opt_done, 1);
}

/* 6 MiB of locals in 1 MiB frames (valgrind takes a bigger single move of
 * the stack pointer for a stack switch). */
__attribute__((noinline)) static void use_megabytes(int n)
{
    unsigned char *buf = alloca(1 << 20);
    memset(buf, n, 1 << 20);
    test_use_memory(buf);
    if (n > 1)
        use_megabytes(n - 1);
    test_sink(buf[n]);
}

static void use_6m(void *arg)
{
    (void)arg;
    use_megabytes(6);
    atomic_fetch_add(&opt_done, 1);
}

static int main_options(void *arg)
{
    (void)arg;
    long want = 0;
    /* NULL options and zero options mean defaults. */
    GO_CHECK(goc_go_with(use_8k, NULL, NULL) == 0, "NULL opts");
    want++;
    goc_go_opts zero = {0};
    GO_CHECK(goc_go_with(use_8k, NULL, &zero) == 0, "zero opts");
    want++;
    /* A tiny request is rounded up to at least 16 KiB. */
    goc_go_opts tiny = {.stack_size = 1, .name = "tiny"};
    GO_CHECK(goc_go_with(use_8k, NULL, &tiny) == 0, "1-byte stack");
    want++;
    /* Exactly 1 GiB is allowed (reserved, committed lazily). */
    goc_go_opts huge = {.stack_size = (size_t)1 << 30};
    GO_CHECK(goc_go_with(use_8k, NULL, &huge) == 0, "1 GiB stack");
    want++;
    /* 8 MiB stacks hold a 1 MiB local array and 6 MiB of alloca. */
    goc_go_opts big = {.stack_size = 8 << 20, .name = "big"};
    GO_CHECK(goc_go_with(big_array_1m, NULL, &big) == 0, "8 MiB stack");
    want++;
    GO_CHECK(goc_go_with(use_6m, NULL, &big) == 0, "8 MiB stack");
    want++;
    GO_CHECK(go_wait_ge(&opt_done, want, 10000), "%ld of %ld goroutines finished",
             atomic_load(&opt_done), want);
    return 0;
}

/* Stack size options are honoured: small requests still work, large stacks
 * hold large frames. */
Test(go, stack_size_options, .timeout = 20)
{
    cr_assert_eq(run_main(main_options, NULL), 0);
}

enum { IDS_N = 100 };
static uint64_t out_ids[IDS_N], self_ids[IDS_N];
static atomic_long ids_done;

static void record_self_id(void *arg)
{
    self_ids[(uintptr_t)arg] = goc_id();
    atomic_fetch_add(&ids_done, 1);
}

static int main_ids(void *arg)
{
    (void)arg;
    for (uintptr_t i = 0; i < IDS_N; i++) {
        goc_go_opts o = {.id = &out_ids[i], .name = "idtest"};
        GO_CHECK(goc_go_with(record_self_id, (void *)i, &o) == 0, "goc_go_with");
        if (i % 10 == 0)
            goc_yield();
    }
    GO_CHECK(go_wait_ge(&ids_done, IDS_N, 5000), "%ld done", atomic_load(&ids_done));
    return 0;
}

/* The id out parameter is the new goroutine's goc_id(); ids are unique
 * and never 0 or main's 1. */
Test(go, go_with_reports_ids, .timeout = 10)
{
    cr_assert_eq(run_main(main_ids, NULL), 0);
    for (int i = 0; i < IDS_N; i++) {
        cr_assert_gt(out_ids[i], 1, "id[%d] = %llu", i, (unsigned long long)out_ids[i]);
        cr_assert_eq(out_ids[i], self_ids[i], "out id %llu, goc_id() inside %llu",
                     (unsigned long long)out_ids[i], (unsigned long long)self_ids[i]);
        /* Unique, as Go's: ids come in per-P batches, so a spawner that
         * moves between Ps sees them out of order. */
        for (int j = 0; j < i; j++)
            cr_assert_neq(out_ids[i], out_ids[j], "id %llu given twice",
                          (unsigned long long)out_ids[i]);
    }
}

/* ---- numbers ------------------------------------------------------------ */

static atomic_long counter;
static atomic_long arg_sum;

static void increment(void *arg)
{
    atomic_fetch_add(&counter, 1);
    atomic_fetch_add(&arg_sum, (long)(uintptr_t)arg);
}

static int main_many(void *arg)
{
    long n = *(long *)arg;
    for (long i = 0; i < n; i++) {
        int r = goc_go(increment, (void *)(uintptr_t)i);
        if (r != 0) {
            GO_CHECK(r == 0, "goc_go #%ld: %s", i, goc_strerror(r));
            return 1;
        }
    }
    GO_CHECK(go_wait_ge(&counter, n, 30000), "only %ld of %ld goroutines ran",
             atomic_load(&counter), n);
    int64_t deadline = goc_now() + 5 * GOC_SECOND * test_slack();
    while (goc_numgoroutine() > 1 && goc_now() < deadline)
        goc_sleep(GOC_MILLISECOND);
    GO_CHECK(goc_numgoroutine() == 1, "%zu goroutines left", goc_numgoroutine());
    return 0;
}

/* 100,000 goroutines spawned back to back each run exactly once with their
 * own argument. */
Test(go, hundred_thousand_goroutines, .timeout = 60)
{
    /* Under TSan each start costs a fiber (1-10 ms on a loaded machine):
     * test_scale's 5000 came to the 60 s timeout there. */
    long n = TEST_TSAN ? 1000 : test_scale(100000);
    int64_t t0 = goc_now();
    cr_assert_eq(run_main(main_many, &n), 0);
    cr_assert_eq(atomic_load(&counter), n);
    cr_assert_eq(atomic_load(&arg_sum), n * (n - 1) / 2, "arguments mixed up");
    cr_log_info("%ld goroutines in %lld ms", n, (long long)test_ms(goc_now() - t0));
}

static atomic_long tree_nodes;

static void tree(void *arg)
{
    intptr_t depth = (intptr_t)arg;
    atomic_fetch_add(&tree_nodes, 1);
    if (depth == 0)
        return;
    GO_CHECK(goc_go(tree, (void *)(depth - 1)) == 0, "goc_go");
    GO_CHECK(goc_go(tree, (void *)(depth - 1)) == 0, "goc_go");
}

static int main_tree(void *arg)
{
    intptr_t depth = (intptr_t)arg;
    GO_CHECK(goc_go(tree, (void *)depth) == 0, "goc_go");
    long want = (2L << depth) - 1;
    GO_CHECK(go_wait_ge(&tree_nodes, want, 30000), "%ld of %ld nodes ran", atomic_load(&tree_nodes),
             want);
    return 0;
}

/* Goroutines spawn goroutines (a binary tree of depth 14: 32767 of them),
 * children outliving their parents. */
Test(go, nested_spawning_tree, .timeout = 60)
{
    intptr_t depth = test_slow_build() ? 10 : 14;
    cr_assert_eq(run_main(main_tree, (void *)depth), 0);
    cr_assert_eq(atomic_load(&tree_nodes), (2L << depth) - 1);
}

/* ---- foreign threads ---------------------------------------------------- */

static atomic_long foreign_ran;
static atomic_long foreign_bad_id;

static void from_foreign(void *arg)
{
    (void)arg;
    if (goc_id() == 0)
        atomic_fetch_add(&foreign_bad_id, 1);
    goc_yield();
    atomic_fetch_add(&foreign_ran, 1);
}

static void *foreign_thread(void *arg)
{
    long n = (long)(intptr_t)arg;
    for (long i = 0; i < n; i++)
        if (goc_go(from_foreign, NULL) != 0)
            return (void *)1;
    return NULL;
}

static int main_waits_for_foreign(void *arg)
{
    (void)arg;
    /* Each goroutine's start costs a TSan fiber (milliseconds on a loaded
     * machine): fewer there. */
    long per_thread = test_scale(1000);
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, foreign_thread, (void *)(intptr_t)per_thread);
    GO_CHECK(go_wait_ge(&foreign_ran, 2 * per_thread, 3000), "%ld of %ld ran",
             atomic_load(&foreign_ran), 2 * per_thread);
    for (int i = 0; i < 2; i++) {
        void *r;
        pthread_join(t[i], &r);
        GO_CHECK(r == NULL, "goc_go failed on a plain thread");
    }
    return 0;
}

/* goc_go from a thread the runtime did not create (a library callback
 * thread) spawns goroutines that run while main waits. */
Test(go, go_from_plain_thread_while_running, .timeout = 20)
{
    cr_assert_eq(run_main(main_waits_for_foreign, NULL), 0);
    cr_assert_eq(atomic_load(&foreign_bad_id), 0, "goroutine without its own id");
}

static int main_return_5(void *arg)
{
    (void)arg;
    return 5;
}

/* goc_go before any goc_run starts the runtime; the goroutine runs, and a
 * later goc_run still works. */
Test(go, go_starts_the_runtime, .timeout = 20)
{
    cr_assert_eq(goc_go(from_foreign, NULL), 0);
    for (int i = 0; i < 5000 && atomic_load(&foreign_ran) == 0; i++)
        test_nap_ms(1);
    cr_assert_eq(atomic_load(&foreign_ran), 1, "goroutine spawned before goc_run never ran");
    cr_assert_eq(atomic_load(&foreign_bad_id), 0);
    cr_assert_eq(goc_run(main_return_5, NULL), 5);
}

/* ---- default stack ------------------------------------------------------ */

static atomic_long heavy_done;

__attribute__((noinline)) static unsigned frame_recursion(int depth)
{
    volatile unsigned char frame[4000];
    memset((unsigned char *)frame, depth, sizeof frame);
    if (depth == 0)
        return frame[10];
    return frame[depth % sizeof frame] + frame_recursion(depth - 1);
}

static void libc_heavy(void *arg)
{
    int depth = (int)(intptr_t)arg;
    char buf[512];
    FILE *null = fopen("/dev/null", "w");
    for (int i = 0; i < 20; i++) {
        snprintf(buf, sizeof buf, "%d %5.3f %Lg %e %s %ls %p %-20s|%x", i, i * 3.14159,
                 (long double)i / 7, (i + 0.5) * 1e-9, "str", L"wide", (void *)buf, "pad", i);
        if (null)
            fprintf(null, "%s %.20Lf\n", buf, (long double)i / 3);
        GO_CHECK(strtod("1.5e3", NULL) == 1500.0, "strtod");
    }
    if (null)
        fclose(null);
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    GO_CHECK(strftime(buf, sizeof buf, "%c %Z", &tm) > 0, "strftime");
    unsigned sum = frame_recursion(depth);
    test_sink(sum);
    atomic_fetch_add(&heavy_done, 1);
}

static int main_heavy(void *arg)
{
    (void)arg;
    enum { N = 64 };
    /* Frames of ~4 KB down to half the default stack. */
    int depth = (int)(goc_default_stack_size() / 2 / 4096);
    for (int i = 0; i < N; i++)
        GO_CHECK(goc_go(libc_heavy, (void *)(intptr_t)depth) == 0, "goc_go");
    libc_heavy((void *)(intptr_t)depth); /* main's stack too */
    GO_CHECK(go_wait_ge(&heavy_done, N + 1, 20000), "%ld of %d done", atomic_load(&heavy_done),
             N + 1);
    return 0;
}

/* The default stack is enough for stdio formatting, locale/time functions
 * and a recursion of 4 KB frames through half of it. */
Test(go, default_stack_handles_libc_and_recursion, .timeout = 30)
{
    cr_assert_eq(run_main(main_heavy, NULL), 0);
}

/* ---- concurrent start ---------------------------------------------------- */

static atomic_long race_ran;
static pthread_barrier_t race_barrier;

static void race_goroutine(void *arg)
{
    (void)arg;
    atomic_fetch_add(&race_ran, 1);
}

/* Goroutines per thread: fewer on slow builds, where each one's start costs
 * a TSan fiber (milliseconds on a loaded machine). */
static long race_per_thread(void)
{
    return test_scale(1000);
}

static void *race_thread(void *arg)
{
    (void)arg;
    pthread_barrier_wait(&race_barrier);
    for (long i = 0; i < race_per_thread(); i++)
        if (goc_go(race_goroutine, NULL) != 0)
            return (void *)1;
    return NULL;
}

/* Several plain threads calling goc_go at the same moment, with no runtime
 * running yet, start it exactly once; every goroutine runs. */
Test(go, concurrent_first_goc_go, .timeout = 20)
{
    enum { T = 4 };
    pthread_t t[T];
    pthread_barrier_init(&race_barrier, NULL, T);
    for (int i = 0; i < T; i++)
        pthread_create(&t[i], NULL, race_thread, NULL);
    for (int i = 0; i < T; i++) {
        void *r;
        pthread_join(t[i], &r);
        cr_assert_null(r, "goc_go failed");
    }
    long want = T * race_per_thread();
    /* Bounded below the test's timeout, with room for a loaded machine. */
    for (int i = 0; i < 15000 && atomic_load(&race_ran) < want; i++)
        test_nap_ms(1);
    cr_assert_eq(atomic_load(&race_ran), want, "%ld of %ld goroutines ran", atomic_load(&race_ran),
                 want);
    goc_stats st;
    goc_read_stats(&st);
    cr_assert_eq(st.maxprocs, (uint64_t)goc_maxprocs());
    cr_assert_leq(st.threads, (uint64_t)goc_maxprocs() + 8, "%llu worker threads",
                  (unsigned long long)st.threads);
}

/* ---- out of memory ------------------------------------------------------ */

static atomic_int oom_release;
static atomic_long oom_parked_done;

/* Waits without timers (they would need memory too): only yields. */
static void park_until_release(void *arg)
{
    (void)arg;
    while (!atomic_load(&oom_release))
        goc_yield();
    atomic_fetch_add(&oom_parked_done, 1);
}

static atomic_long after_oom_ran;

static void after_oom(void *arg)
{
    (void)arg;
    atomic_fetch_add(&after_oom_ran, 1);
}

struct oom {
    long spawned;
    int err;
};

static long vm_size_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmSize:", 7) == 0)
            v = strtol(line + 7, NULL, 10);
    if (f)
        fclose(f);
    return v;
}

static atomic_long warm_done;

static void warm_worker(void *arg)
{
    (void)arg;
    int64_t end = goc_now() + 5 * GOC_MILLISECOND;
    while (goc_now() < end) {
    }
    atomic_fetch_add(&warm_done, 1);
}

static int main_oom(void *arg)
{
    struct oom *o = arg;
    /* First get every P busy, so the worker threads exist before memory
     * runs out (failing to create a thread is another matter). */
    int warm = 4 * goc_maxprocs();
    for (int i = 0; i < warm; i++)
        GO_CHECK(goc_go(warm_worker, NULL) == 0, "goc_go");
    GO_CHECK(go_wait_ge(&warm_done, warm, 5000), "warm-up stalled");
    struct rlimit old, lim;
    getrlimit(RLIMIT_AS, &old);
    lim = old;
    lim.rlim_cur = (rlim_t)(vm_size_kib() + 16 * 1024) * 1024; /* 16 MiB more */
    GO_CHECK(setrlimit(RLIMIT_AS, &lim) == 0, "setrlimit");
    int r = 0;
    /* On one P nothing runs while main spawns, and a goroutine that waits
     * its turn in the global queue costs 24 bytes (findrun.c), in malloc
     * arena space reserved before the limit (up to 64 MiB): allow enough
     * spawns to get past that. */
    while (o->spawned < 8000000 && (r = goc_go(park_until_release, NULL)) == 0)
        o->spawned++;
    o->err = r;
    setrlimit(RLIMIT_AS, &old);
    /* With memory back, the runtime goes on: what was spawned runs, and
     * spawning works again. */
    atomic_store(&oom_release, 1);
    for (int i = 0; i < 10; i++)
        GO_CHECK(goc_go(after_oom, NULL) == 0, "goc_go after memory came back");
    GO_CHECK(go_wait_ge(&after_oom_ran, 10, 20000), "goroutines spawned after ENOMEM did not run");
    GO_CHECK(go_wait_ge(&oom_parked_done, o->spawned, 30000),
             "%ld of %ld goroutines spawned before ENOMEM finished", atomic_load(&oom_parked_done),
             o->spawned);
    return 0;
}

/* When no stack can be allocated goc_go returns -ENOMEM and the runtime keeps
 * working. */
Test(go, enomem_leaves_runtime_working, .timeout = 60)
{
    if (TEST_ASAN || TEST_TSAN || test_on_valgrind())
        cr_skip_test("address-space limits break sanitizers and valgrind");
    struct oom o = {0, 0};
    cr_assert_eq(run_main(main_oom, &o), 0);
    cr_log_info("%ld goroutines spawned before goc_go failed with %d", o.spawned, o.err);
    cr_assert_eq(o.err, -ENOMEM, "goc_go failed with %d (%s), want -ENOMEM", o.err,
                 goc_strerror(o.err));
    cr_assert_gt(o.spawned, 0);
}
