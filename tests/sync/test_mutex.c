/*
 * test_mutex.c — goc_mutex: mutual exclusion under contention, trylock,
 * goroutines and plain threads sharing one mutex, starvation freedom
 * (Go's starvation mode), a holder that parks, and zero values.
 */
#include "syncutil.h"

static char info[512]; /* written by a goroutine, logged by the test thread */

static int run_logged(int (*fn)(void *), void *arg)
{
    int r = run_main(fn, arg);
    if (info[0])
        cr_log_info("%s", info);
    return r;
}

/* ---- mutual exclusion under contention ---------------------------------- */

#define CNT_G 64

static goc_mutex cnt_mu; /* zero-initialized static: ready to use */
static long cnt_value;   /* plain, protected only by cnt_mu */
static atomic_int cnt_occ;
static atomic_long cnt_done;
static long cnt_iters;

static void cnt_critical(long salt, long i)
{
    int o = atomic_fetch_add(&cnt_occ, 1);
    GO_CHECK(o == 0, "%d holders inside the critical section", o + 1);
    long v = cnt_value;
    /* Park while holding the lock now and then, so waiters queue up even
     * with one P, and a lost update would show in the total. */
    if ((i + salt) % 997 == 0)
        goc_yield();
    cnt_value = v + 1;
    atomic_fetch_sub(&cnt_occ, 1);
}

static void cnt_worker(void *arg)
{
    long id = (long)arg;
    for (long i = 0; i < cnt_iters; i++) {
        goc_mutex_lock(&cnt_mu);
        cnt_critical(id * 13, i);
        goc_mutex_unlock(&cnt_mu);
    }
    atomic_fetch_add(&cnt_done, 1);
}

static int main_counter(void *arg)
{
    (void)arg;
    cnt_iters = test_scale(10000);
    for (long i = 0; i < CNT_G; i++)
        GO_SPAWN(cnt_worker, i);
    GO_CHECK(go_wait_ge(&cnt_done, CNT_G, 20000), "only %ld of %d workers finished",
             atomic_load(&cnt_done), CNT_G);
    goc_mutex_lock(&cnt_mu);
    GO_CHECK(cnt_value == CNT_G * cnt_iters, "counter %ld, want %ld", cnt_value, CNT_G * cnt_iters);
    goc_mutex_unlock(&cnt_mu);
    return 0;
}

/* 64 goroutines x 10k increments of a plain counter under a zero-initialized
 * static mutex: the exact total, and never two holders at once. */
Test(mutex, contention_exact_count, .timeout = 25)
{
    cr_assert_eq(run_main(main_counter, NULL), 0);
}

/* ---- goroutines and plain threads on one mutex --------------------------- */

#define MIX_G 8
#define MIX_T 4

static void *mix_thread(void *arg)
{
    long id = (long)arg;
    for (long i = 0; i < cnt_iters; i++) {
        goc_mutex_lock(&cnt_mu);
        int o = atomic_fetch_add(&cnt_occ, 1);
        GO_CHECK(o == 0, "thread: %d holders inside the critical section", o + 1);
        long v = cnt_value;
        if ((i + id) % 1009 == 0)
            sched_yield();
        cnt_value = v + 1;
        atomic_fetch_sub(&cnt_occ, 1);
        goc_mutex_unlock(&cnt_mu);
    }
    atomic_fetch_add(&cnt_done, 1);
    return NULL;
}

static int main_mixed(void *arg)
{
    (void)arg;
    keepalive_start();
    cnt_iters = test_scale(20000);
    pthread_t t[MIX_T];
    for (long i = 0; i < MIX_T; i++)
        t[i] = start_thread(mix_thread, (void *)(100 + i));
    for (long i = 0; i < MIX_G; i++)
        GO_SPAWN(cnt_worker, i);
    GO_CHECK(go_wait_ge(&cnt_done, MIX_G + MIX_T, 20000), "only %ld of %d workers finished",
             atomic_load(&cnt_done), MIX_G + MIX_T);
    for (int i = 0; i < MIX_T; i++)
        pthread_join(t[i], NULL);
    GO_CHECK(cnt_value == (MIX_G + MIX_T) * cnt_iters, "counter %ld, want %ld", cnt_value,
             (MIX_G + MIX_T) * cnt_iters);
    keepalive_end();
    return 0;
}

/* Goroutines and plain pthreads increment one counter under one mutex. */
Test(mutex, goroutines_and_threads_share_a_mutex, .timeout = 25)
{
    cr_assert_eq(run_main(main_mixed, NULL), 0);
}

/* Plain threads only, runtime never started: the mutex still excludes and
 * blocked threads are woken. */
Test(mutex, plain_threads_without_runtime, .timeout = 20)
{
    cnt_iters = test_scale(20000);
    pthread_t t[MIX_T];
    for (long i = 0; i < MIX_T; i++)
        t[i] = start_thread(mix_thread, (void *)i);
    for (int i = 0; i < MIX_T; i++)
        pthread_join(t[i], NULL);
    GO_CHECK_REPORT();
    cr_assert_eq(cnt_value, MIX_T * cnt_iters, "counter %ld, want %ld", cnt_value,
                 MIX_T * cnt_iters);
}

/* ---- trylock ------------------------------------------------------------- */

static goc_mutex try_mu;
static atomic_long try_step;

static void try_goroutine(void *arg)
{
    (void)arg;
    GO_CHECK(!goc_mutex_trylock(&try_mu), "trylock succeeded on a held mutex (other goroutine)");
    atomic_store(&try_step, 1);
    /* Wait for the holder to release, then take it ourselves. */
    GO_CHECK(go_wait_ge(&try_step, 2, 5000), "holder never released");
    GO_CHECK(goc_mutex_trylock(&try_mu), "trylock failed on a free mutex (other goroutine)");
    GO_CHECK(!goc_mutex_trylock(&try_mu), "trylock succeeded twice");
    atomic_store(&try_step, 3);
    GO_CHECK(go_wait_ge(&try_step, 4, 5000), "main never tried");
    goc_mutex_unlock(&try_mu);
    atomic_store(&try_step, 5);
}

static void *try_thread(void *arg)
{
    bool *res = arg;
    *res = goc_mutex_trylock(&try_mu);
    if (*res)
        goc_mutex_unlock(&try_mu);
    return NULL;
}

static int main_trylock(void *arg)
{
    (void)arg;
    GO_CHECK(goc_mutex_trylock(&try_mu), "trylock failed on a zero mutex");
    GO_CHECK(!goc_mutex_trylock(&try_mu), "trylock succeeded on a mutex we hold");

    bool thread_got = true;
    pthread_join(start_thread(try_thread, &thread_got), NULL);
    GO_CHECK(!thread_got, "trylock from a plain thread succeeded on a held mutex");

    GO_SPAWN(try_goroutine, NULL);
    GO_CHECK(go_wait_ge(&try_step, 1, 5000), "goroutine did not run");
    goc_mutex_unlock(&try_mu);
    atomic_store(&try_step, 2);
    GO_CHECK(go_wait_ge(&try_step, 3, 5000), "goroutine did not take the mutex");
    GO_CHECK(!goc_mutex_trylock(&try_mu), "trylock succeeded while another goroutine holds it");
    atomic_store(&try_step, 4);
    GO_CHECK(go_wait_ge(&try_step, 5, 5000), "goroutine did not release");

    thread_got = false;
    pthread_join(start_thread(try_thread, &thread_got), NULL);
    GO_CHECK(thread_got, "trylock from a plain thread failed on a free mutex");

    /* lock, then trylock fails; unlock, then trylock succeeds. */
    goc_mutex_lock(&try_mu);
    GO_CHECK(!goc_mutex_trylock(&try_mu), "trylock succeeded after lock");
    goc_mutex_unlock(&try_mu);
    GO_CHECK(goc_mutex_trylock(&try_mu), "trylock failed after unlock");
    goc_mutex_unlock(&try_mu);

    /* A stack mutex = {0} is ready too. */
    goc_mutex local = {0};
    GO_CHECK(goc_mutex_trylock(&local), "trylock failed on a {0} mutex");
    goc_mutex_unlock(&local);
    goc_mutex_lock(&local);
    goc_mutex_unlock(&local);
    return 0;
}

/* trylock: false while held (by us, another goroutine, or seen from a plain
 * thread), true when free. */
Test(mutex, trylock_semantics, .timeout = 20)
{
    cr_assert_eq(run_main(main_trylock, NULL), 0);
}

/* trylock from the process's main thread, no runtime. */
Test(mutex, trylock_plain_thread_no_runtime, .timeout = 10)
{
    goc_mutex m = {0};
    cr_assert(goc_mutex_trylock(&m));
    cr_assert(!goc_mutex_trylock(&m));
    goc_mutex_unlock(&m);
    goc_mutex_lock(&m);
    cr_assert(!goc_mutex_trylock(&m));
    goc_mutex_unlock(&m);
    cr_assert(goc_mutex_trylock(&m));
    goc_mutex_unlock(&m);
}

/* ---- a mutex is not owned by a goroutine ---------------------------------- */

static goc_mutex own_mu;
static atomic_long own_step;

static void own_waiter(void *arg)
{
    (void)arg;
    atomic_store(&own_step, 1);
    goc_mutex_lock(&own_mu); /* blocks: main holds it */
    atomic_store(&own_step, 2);
    goc_mutex_unlock(&own_mu);
}

static void own_unlocker(void *arg)
{
    (void)arg;
    goc_mutex_unlock(&own_mu); /* unlock a mutex main locked: allowed, as in Go */
}

static int main_owner(void *arg)
{
    (void)arg;
    goc_mutex_lock(&own_mu);
    GO_SPAWN(own_waiter, NULL);
    GO_CHECK(go_wait_ge(&own_step, 1, 5000), "waiter did not start");
    GO_CHECK(go_stays_below(&own_step, 2, 30), "waiter got a held mutex");
    GO_SPAWN(own_unlocker, NULL);
    GO_CHECK(go_wait_ge(&own_step, 2, 5000), "waiter not woken by another goroutine's unlock");
    return 0;
}

/* One goroutine locks, another unlocks, a third was waiting and gets in. */
Test(mutex, unlock_by_another_goroutine, .timeout = 15)
{
    cr_assert_eq(run_main(main_owner, NULL), 0);
}

/* ---- starvation freedom ---------------------------------------------------- */

static goc_mutex st_mu;
static atomic_int st_stop;
static atomic_long st_hog_iters; /* published copy of the hog's progress */
static long st_hog_plain;        /* under st_mu */
static atomic_long st_hogs_done;
static int st_mode; /* 0: tight loop; 1: yield while holding; 2: busy while holding */

static void st_hog(void *arg)
{
    (void)arg;
    int64_t deadline = goc_now() + 5 * GOC_SECOND * test_slack();
    for (long i = 0; !atomic_load_explicit(&st_stop, memory_order_relaxed); i++) {
        goc_mutex_lock(&st_mu);
        st_hog_plain++;
        if (st_mode == 1)
            goc_yield();
        else if (st_mode == 2)
            for (volatile int k = 0; k < 500; k++) {
            } /* hold it ~99% of the time, never leaving the CPU */
        goc_mutex_unlock(&st_mu);
        atomic_store_explicit(&st_hog_iters, i, memory_order_relaxed);
        if ((i & 255) == 0 && goc_now() > deadline)
            break;
    }
    atomic_fetch_add(&st_hogs_done, 1);
}

static int main_starve(void *arg)
{
    int nhogs = (int)(long)arg;
    for (int i = 0; i < nhogs; i++)
        GO_SPAWN(st_hog, NULL);
    /* Let the hogs get going (with one P, sysmon must hand this goroutine a
     * P back for the sleep to end). */
    goc_sleep(50 * GOC_MILLISECOND);
    int64_t worst = 0;
    int rounds = 10, contended = 0;
    int64_t t_start = goc_now();
    for (int r = 0; r < rounds; r++) {
        long before = atomic_load(&st_hog_iters);
        int64_t t0 = goc_now();
        goc_mutex_lock(&st_mu);
        int64_t lat = goc_now() - t0;
        long snap = st_hog_plain;
        goc_mutex_unlock(&st_mu);
        if (lat > worst)
            worst = lat;
        if (snap > 0 && atomic_load(&st_hog_iters) != before)
            contended++;
        goc_sleep(30 * GOC_MILLISECOND);
    }
    int64_t elapsed = goc_now() - t_start;
    atomic_store(&st_stop, 1);
    GO_CHECK(go_wait_ge(&st_hogs_done, nhogs, 10000), "hogs did not stop");
    snprintf(info, sizeof info,
             "starvation mode %d, %d hogs: worst lock latency %lld us over %d rounds "
             "(%lld ms), %d rounds saw hog progress, hog did %ld iterations",
             st_mode, nhogs, (long long)(worst / 1000), rounds, (long long)test_ms(elapsed),
             contended, st_hog_plain);
    GO_CHECK(st_hog_plain > 1000, "the hog barely ran (%ld iterations): the test proved nothing",
             st_hog_plain);
    GO_CHECK(worst < 100 * GOC_MILLISECOND * test_slack(),
             "a waiter starved: worst wait for the mutex %lld ms (Go's starvation mode bounds "
             "it near 1 ms)",
             (long long)test_ms(worst));
    return 0;
}

/* One goroutine locks and unlocks in a tight loop; another that wants the
 * lock must get it quickly, every time. */
Test(mutex, starvation_free_tight_loop_hog, .timeout = 25)
{
    st_mode = 0;
    cr_assert_eq(run_logged(main_starve, (void *)1L), 0);
}

/* Same with two hogs. */
Test(mutex, starvation_free_two_hogs, .timeout = 25)
{
    st_mode = 0;
    cr_assert_eq(run_logged(main_starve, (void *)2L), 0);
}

/* Two hogs that keep the lock ~99% of the time (a busy loop inside, then
 * unlock and lock again at once): without starvation mode a waiter that
 * wakes up almost always finds the lock taken again. */
Test(mutex, starvation_free_busy_holders, .timeout = 25)
{
    st_mode = 2;
    cr_assert_eq(run_logged(main_starve, (void *)2L), 0);
}

/* The hog yields while holding the lock, so with one P the waiter runs, finds
 * the lock held and queues; the hog's unlock then relock must not barge past
 * it forever. */
Test(mutex, starvation_free_hog_yields_while_holding, .timeout = 25)
{
    st_mode = 1;
    cr_assert_eq(run_logged(main_starve, (void *)1L), 0);
}

/* ---- holder parks: waiters park too ----------------------------------------- */

#define PARK_G 16
#define PARK_T 2

static goc_mutex pk_mu;
static atomic_int pk_held; /* 1 while the sleeper holds pk_mu */
static atomic_long pk_started, pk_got;

static void pk_waiter(void *arg)
{
    (void)arg;
    atomic_fetch_add(&pk_started, 1);
    goc_mutex_lock(&pk_mu);
    GO_CHECK(!atomic_load(&pk_held), "waiter got the mutex while the sleeper held it");
    atomic_fetch_add(&pk_got, 1);
    goc_mutex_unlock(&pk_mu);
}

static void *pk_thread(void *arg)
{
    pk_waiter(arg);
    return NULL;
}

static int main_park(void *arg)
{
    (void)arg;
    keepalive_start();
    int64_t hold = 300 * GOC_MILLISECOND;
    goc_mutex_lock(&pk_mu);
    atomic_store(&pk_held, 1);
    for (int i = 0; i < PARK_G; i++)
        GO_SPAWN(pk_waiter, NULL);
    pthread_t t[PARK_T];
    for (int i = 0; i < PARK_T; i++)
        t[i] = start_thread(pk_thread, NULL);
    GO_CHECK(go_wait_ge(&pk_started, PARK_G + PARK_T, 5000), "waiters did not start");
    /* Waiters are in goc_mutex_lock now (or about to be). Hold the lock
     * across a sleep; they must park, not burn CPU. */
    goc_sleep(20 * GOC_MILLISECOND);
    int64_t cpu0 = test_cpu_ns(), w0 = goc_now();
    goc_sleep(hold);
    int64_t cpu = test_cpu_ns() - cpu0, wall = goc_now() - w0;
    GO_CHECK(atomic_load(&pk_got) == 0, "%ld waiters got a held mutex", atomic_load(&pk_got));
    atomic_store(&pk_held, 0);
    goc_mutex_unlock(&pk_mu);
    GO_CHECK(go_wait_ge(&pk_got, PARK_G + PARK_T, 5000), "only %ld of %d waiters got the mutex",
             atomic_load(&pk_got), PARK_G + PARK_T);
    for (int i = 0; i < PARK_T; i++)
        pthread_join(t[i], NULL);
    keepalive_end();
    snprintf(info, sizeof info, "holder slept %lld ms; process CPU meanwhile %lld ms",
             (long long)test_ms(wall), (long long)test_ms(cpu));
    if (!test_on_valgrind())
        GO_CHECK(cpu < wall / 2,
                 "waiters spin instead of parking: %lld ms CPU while the holder slept %lld ms",
                 (long long)test_ms(cpu), (long long)test_ms(wall));
    return 0;
}

/* The holder parks in goc_sleep while holding the mutex; 16 goroutines and 2
 * plain threads wait meanwhile without spinning, and all get it after. */
Test(mutex, holder_sleeps_waiters_park, .timeout = 20)
{
    cr_assert_eq(run_logged(main_park, NULL), 0);
}

/* ---- many mutexes (heap, calloc'd = zero) ------------------------------------ */

#define MANY_MU 16
#define MANY_G  32

static goc_mutex *many_mu;
static long many_val[MANY_MU];
static atomic_int many_occ[MANY_MU];
static atomic_long many_done;
static long many_iters;

static void many_worker(void *arg)
{
    unsigned x = (unsigned)(long)arg * 2654435761u + 1;
    for (long i = 0; i < many_iters; i++) {
        x = x * 1103515245u + 12345u;
        int a = (int)((x >> 8) % MANY_MU), b = (int)((x >> 20) % MANY_MU);
        if (a > b) {
            int t = a;
            a = b;
            b = t;
        }
        /* Lock in index order (no deadlock), one or two mutexes. */
        goc_mutex_lock(&many_mu[a]);
        if (b != a)
            goc_mutex_lock(&many_mu[b]);
        GO_CHECK(atomic_fetch_add(&many_occ[a], 1) == 0, "mutex %d held twice", a);
        if (b != a)
            GO_CHECK(atomic_fetch_add(&many_occ[b], 1) == 0, "mutex %d held twice", b);
        many_val[a]++;
        if (b != a)
            many_val[b]++;
        if ((i & 63) == 0)
            goc_yield();
        atomic_fetch_sub(&many_occ[a], 1);
        if (b != a)
            atomic_fetch_sub(&many_occ[b], 1);
        if (b != a)
            goc_mutex_unlock(&many_mu[b]);
        goc_mutex_unlock(&many_mu[a]);
    }
    atomic_fetch_add(&many_done, 1);
}

static int main_many(void *arg)
{
    (void)arg;
    many_mu = calloc(MANY_MU, sizeof *many_mu);
    GO_CHECK(many_mu != NULL, "calloc");
    if (!many_mu)
        return 1;
    many_iters = test_scale(5000);
    for (long i = 0; i < MANY_G; i++)
        GO_SPAWN(many_worker, i);
    GO_CHECK(go_wait_ge(&many_done, MANY_G, 20000), "only %ld of %d workers finished",
             atomic_load(&many_done), MANY_G);
    /* Recompute the expected totals from the same generator. */
    long want[MANY_MU] = {0};
    for (long g = 0; g < MANY_G; g++) {
        unsigned x = (unsigned)g * 2654435761u + 1;
        for (long i = 0; i < many_iters; i++) {
            x = x * 1103515245u + 12345u;
            int a = (int)((x >> 8) % MANY_MU), b = (int)((x >> 20) % MANY_MU);
            want[a]++;
            if (b != a)
                want[b]++;
        }
    }
    for (int i = 0; i < MANY_MU; i++)
        GO_CHECK(many_val[i] == want[i], "mutex %d guarded %ld increments, want %ld", i,
                 many_val[i], want[i]);
    free(many_mu);
    return 0;
}

/* 16 calloc'd mutexes, 32 goroutines taking one or two at a time. */
Test(mutex, many_zeroed_mutexes, .timeout = 25)
{
    cr_assert_eq(run_main(main_many, NULL), 0);
}
