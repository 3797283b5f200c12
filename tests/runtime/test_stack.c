/*
 * test_stack.c — goroutine stacks: an overflow is a clear fatal error naming
 * the goroutine, stacks are reused rather than leaked, and a million parked
 * goroutines fit in a few KiB each on a stock kernel (vm.max_map_count 65530).
 */
#include <alloca.h>
#include <criterion/criterion.h>
#include <stdatomic.h>

#include "util.h"

#define U(x) ((unsigned long long)(x))

/* ---- overflow ----------------------------------------------------------- */

static void check_overflow(const char *mode)
{
    const char *args[] = {mode, NULL};
    test_proc p;
    cr_assert_eq(test_run_helper(&p, "helper_overflow", args, NULL, 20000), 0, "spawn");
    char st[64];
    test_status_str(p.status, st, sizeof st);
    cr_assert(!p.timed_out, "%s: helper hung after overflowing; stderr:\n%s", mode, p.err.data);
    cr_assert(WIFEXITED(p.status) && WEXITSTATUS(p.status) == 2,
              "%s: helper %s, want exit status 2; stderr:\n%s", mode, st, p.err.data);
    cr_assert_not_null(strstr(p.err.data, "stack overflow"), "%s: stderr:\n%s", mode, p.err.data);
    const char *id = strstr(p.out.data, "id=");
    cr_assert_not_null(id, "%s: helper printed no id; stdout: %s", mode, p.out.data);
    char want[64];
    snprintf(want, sizeof want, "goroutine %llu", strtoull(id + 3, NULL, 10));
    cr_assert_not_null(strstr(p.err.data, want), "%s: stderr does not name \"%s\":\n%s", mode, want,
                       p.err.data);
    test_proc_free(&p);
}

/* Unbounded recursion in a goroutine stops the program with "stack
 * overflow" and the goroutine's id, exit status 2 — never silent memory
 * corruption or a bare SIGSEGV. */
Test(stack, overflow_in_goroutine_is_fatal_error, .timeout = 30)
{
    check_overflow("child");
}

Test(stack, overflow_in_main_is_fatal_error, .timeout = 30)
{
    check_overflow("main");
}

Test(stack, overflow_of_minimum_stack_is_fatal_error, .timeout = 30)
{
    check_overflow("small");
}

/* Past the guard-page budget (vm.max_map_count), stacks come without guard
 * pages; an overflow there must still be the same clear fatal error, not a
 * crash elsewhere or corruption of a neighbouring goroutine's stack. */
Test(stack, overflow_of_unguarded_stack_is_fatal_error, .timeout = 30)
{
    if (TEST_TSAN)
        cr_skip_test("ThreadSanitizer supports only a few thousand fibers");
    if (TEST_ASAN) {
        /* ASan sees the write into the neighbouring stack first and stops
         * the program itself: that is the clear error we want there. */
        const char *args[] = {"unguarded", NULL};
        test_proc p;
        cr_assert_eq(test_run_helper(&p, "helper_overflow", args, NULL, 20000), 0, "spawn");
        bool asan = p.err.data && strstr(p.err.data, "AddressSanitizer");
        bool ours = p.err.data && strstr(p.err.data, "stack overflow");
        bool died = !p.timed_out && !(WIFEXITED(p.status) && WEXITSTATUS(p.status) == 0);
        test_proc_free(&p);
        cr_assert(died && (asan || ours), "unguarded overflow not reported under ASan");
        return;
    }
    check_overflow("unguarded");
}

/* ---- near the limit ----------------------------------------------------- */

static atomic_long near_done;
static void use_48k(void *arg)
{
    (void)arg;
    unsigned char *buf = alloca(48 * 1024);
    memset(buf, 7, 48 * 1024);
    test_use_memory(buf);
    test_sink(buf[100] + buf[48 * 1024 - 1]);
    atomic_fetch_add(&near_done, 1);
}

static int main_near_limit(void *arg)
{
    (void)arg;
    goc_go_opts o = {.stack_size = 64 * 1024};
    for (int i = 0; i < 100; i++)
        GO_CHECK(goc_go_with(use_48k, NULL, &o) == 0, "goc_go_with");
    GO_CHECK(go_wait_ge(&near_done, 100, 10000), "%ld done", atomic_load(&near_done));
    return 0;
}

/* A goroutine may use most of the stack it asked for (no false overflow). */
Test(stack, most_of_a_small_stack_is_usable, .timeout = 20)
{
    cr_assert_eq(run_main(main_near_limit, NULL), 0);
}

/* ---- reuse -------------------------------------------------------------- */

static atomic_long round_done;

static void touch_stack(void *arg)
{
    (void)arg;
    unsigned char *buf = alloca(16 * 1024);
    memset(buf, 1, 16 * 1024);
    test_use_memory(buf);
    test_sink(buf[5]);
    goc_yield();
    atomic_fetch_add(&round_done, 1);
}

static long vm_kib(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (f == NULL)
        return -1;
    char line[256];
    long v = -1;
    size_t klen = strlen(key);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, key, klen) == 0)
            v = strtol(line + klen, NULL, 10);
    fclose(f);
    return v;
}

/* Fewer under TSan: each goroutine's start costs a fiber there (milliseconds
 * on a loaded machine), and 20 rounds came close to the timeout. */
#define REUSE_ROUNDS (TEST_TSAN ? 8 : 20)

static int main_reuse(void *arg)
{
    uint64_t *max_mapped = arg;
    long per_round = *(long *)max_mapped;
    const int ROUNDS = REUSE_ROUNDS;
    long rss_first = 0;
    *max_mapped = 0;
    for (int r = 0; r < ROUNDS; r++) {
        atomic_store(&round_done, 0);
        for (long i = 0; i < per_round; i++)
            GO_CHECK(goc_go(touch_stack, NULL) == 0, "goc_go");
        GO_CHECK(go_wait_ge(&round_done, per_round, 10000), "round %d stalled", r);
        goc_sleep(5 * GOC_MILLISECOND);
        goc_stats st;
        goc_read_stats(&st);
        if (st.stacks_mapped > *max_mapped)
            *max_mapped = st.stacks_mapped;
        if (r == 0)
            rss_first = vm_kib("VmRSS:");
    }
    long rss_last = vm_kib("VmRSS:");
    /* 19 more rounds of 5000 x 20 KiB would add ~1.9 GB if nothing were
     * reused or released (less on slow builds: fewer, smaller rounds). */
    GO_CHECK(rss_last - rss_first < 200 * 1024, "RSS grew from %ld to %ld KiB over %d rounds",
             rss_first, rss_last, ROUNDS);
    return 0;
}

/* Stacks of finished goroutines are reused or released: running rounds of
 * short goroutines again and again does not grow memory or mappings beyond
 * what one round needs. */
Test(stack, stacks_are_reused, .timeout = 60)
{
    long per_round = test_scale(5000);
    uint64_t max_mapped = (uint64_t)per_round;
    cr_assert_eq(run_main(main_reuse, &max_mapped), 0);
    cr_log_info("at most %llu stacks mapped over %d rounds of %ld goroutines", U(max_mapped),
                REUSE_ROUNDS, per_round);
    /* Each round ends before the next starts: at most one round's worth of
     * goroutines (plus main) is ever alive. */
    cr_assert_leq(max_mapped, (uint64_t)(2 * per_round + 64),
                  "%llu stacks mapped for rounds of %ld goroutines", U(max_mapped), per_round);
}

/* ---- a million goroutines ----------------------------------------------- */

static atomic_long million_started, million_woke;

static void million_sleeper(void *arg)
{
    (void)arg;
    atomic_fetch_add(&million_started, 1);
    goc_sleep(GOC_HOUR);
    atomic_fetch_add(&million_woke, 1);
}

struct million {
    long n;
    long rss0, rss1; /* KiB */
    size_t alive;    /* goc_numgoroutine() with all of them parked */
    long maps;       /* lines in /proc/self/maps then */
    long pte;        /* KiB of page tables then */
    goc_stats st;
    int64_t spawn_ns;
};

static long count_maps(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    if (f == NULL)
        return -1;
    long n = 0;
    int c;
    while ((c = getc(f)) != EOF)
        n += c == '\n';
    fclose(f);
    return n;
}

/* How long main_million may take at most, well inside the test's timeout
 * (and ctest's 300 s for the whole executable). */
#define MILLION_CAP (200 * GOC_SECOND)

static int main_million(void *arg)
{
    struct million *m = arg;
    m->rss0 = vm_kib("VmRSS:");
    int64_t t0 = goc_now();
    for (long i = 0; i < m->n; i++) {
        int r = goc_go(million_sleeper, NULL);
        if (r != 0) {
            GO_CHECK(r == 0, "goc_go #%ld of %ld: %s", i, m->n, goc_strerror(r));
            return 1;
        }
    }
    /* Each start faults in a stack page (tens of microseconds on a VM): a
     * million take about 30 s on a quiet 2-core machine and several times
     * that on a loaded one. So wait while they make progress, and call it
     * stuck only after 10 s without one starting (or at MILLION_CAP). */
    int64_t last_move = goc_now();
    long last = -1;
    while (atomic_load(&million_started) < m->n) {
        long now_started = atomic_load(&million_started);
        int64_t now = goc_now();
        if (now_started != last)
            last = now_started, last_move = now;
        if (now - last_move > 10 * GOC_SECOND || now - t0 > MILLION_CAP)
            break;
        goc_sleep(10 * GOC_MILLISECOND);
    }
    GO_CHECK(atomic_load(&million_started) == m->n, "%ld of %ld started (%lld s)",
             atomic_load(&million_started), m->n, (long long)((goc_now() - t0) / GOC_SECOND));
    m->spawn_ns = goc_now() - t0;
    m->alive = goc_numgoroutine();
    m->rss1 = vm_kib("VmRSS:");
    m->maps = count_maps();
    m->pte = vm_kib("VmPTE:");
    goc_read_stats(&m->st);
    GO_CHECK(atomic_load(&million_woke) == 0, "a goroutine woke from an hour's sleep");
    return 0; /* abandons them */
}

/* A million goroutines parked in goc_sleep fit on a stock kernel (65530
 * mappings at most) in a few KiB each. */
Test(stack, million_parked_goroutines, .timeout = 240)
{
    if (TEST_TSAN)
        cr_skip_test("ThreadSanitizer supports only a few thousand fibers");
    if (test_on_valgrind())
        cr_skip_test("too slow under valgrind");
    const char *procs = getenv("GOC_MAXPROCS");
    if (procs && strcmp(procs, "2") != 0)
        cr_skip_test("runs in the GOC_MAXPROCS=2 instance only (slow)");

    struct million m = {.n = TEST_ASAN ? 100000 : 1000000};
    cr_assert_eq(run_main(main_million, &m), 0);
    /* Memory a parked goroutine costs: resident pages plus page tables. */
    long per_g = m.rss1 > m.rss0 ? (m.rss1 - m.rss0) * 1024 / m.n : 0;
    long pte_per_g = m.pte > 0 ? m.pte * 1024 / m.n : 0;
    cr_log_info("%ld goroutines: spawned in %lld ms, %ld bytes RSS + %ld bytes page tables "
                "each, %ld mappings, %llu stacks mapped (%llu unguarded)",
                m.n, (long long)test_ms(m.spawn_ns), per_g, pte_per_g, m.maps,
                U(m.st.stacks_mapped), U(m.st.stacks_unguarded));
    cr_assert_geq(m.alive, (size_t)m.n + 1, "numgoroutine %zu with %ld parked", m.alive, m.n);
    cr_assert_geq(m.st.stacks_mapped, (uint64_t)m.n, "stacks_mapped %llu", U(m.st.stacks_mapped));
    cr_assert_lt(m.maps, 65530, "%ld mappings", m.maps);
    if (!TEST_ASAN)
        cr_assert_leq(per_g + pte_per_g, 8 * 1024,
                      "%ld bytes of RSS + %ld of page tables per parked goroutine", per_g,
                      pte_per_g);
}
