/*
 * test_rwmutex.c — goc_rwmutex: readers share, writers exclude readers and
 * writers, a waiting writer holds off new readers, a writer's unlock lets
 * all waiting readers in together; goroutines and plain threads mixed.
 */
#include "syncutil.h"

/* ---- many readers at once ------------------------------------------------- */

#define RD_G 8

static goc_rwmutex rd_mu; /* zero value */
static atomic_long rd_inside, rd_out, rd_max;

static void note_max(atomic_long *mx, long v)
{
    long m = atomic_load(mx);
    while (v > m && !atomic_compare_exchange_weak(mx, &m, v)) {
    }
}

static void rd_reader(void *arg)
{
    long want = (long)arg;
    goc_rwmutex_rlock(&rd_mu);
    note_max(&rd_max, atomic_fetch_add(&rd_inside, 1) + 1);
    /* Every reader must be able to hold the read lock at the same time. */
    GO_CHECK(go_wait_ge(&rd_inside, want, 5000), "readers did not share: %ld of %ld inside",
             atomic_load(&rd_inside), want);
    goc_sleep(5 * GOC_MILLISECOND);
    atomic_fetch_add(&rd_out, 1);
    goc_rwmutex_runlock(&rd_mu);
}

static void *rd_thread(void *arg)
{
    long want = (long)arg;
    goc_rwmutex_rlock(&rd_mu);
    note_max(&rd_max, atomic_fetch_add(&rd_inside, 1) + 1);
    GO_CHECK(thread_wait_ge(&rd_inside, want, 5000), "thread reader: %ld of %ld inside",
             atomic_load(&rd_inside), want);
    atomic_fetch_add(&rd_out, 1);
    goc_rwmutex_runlock(&rd_mu);
    return NULL;
}

static int main_readers(void *arg)
{
    (void)arg;
    keepalive_start();
    long want = RD_G + 1;
    for (int i = 0; i < RD_G; i++)
        GO_SPAWN(rd_reader, want);
    pthread_t t = start_thread(rd_thread, (void *)want);
    GO_CHECK(go_wait_ge(&rd_out, want, 10000), "only %ld of %ld readers finished",
             atomic_load(&rd_out), want);
    pthread_join(t, NULL);
    GO_CHECK(atomic_load(&rd_max) == want, "at most %ld readers were inside at once, want %ld",
             atomic_load(&rd_max), want);
    /* With every reader gone a writer gets in at once. */
    goc_rwmutex_lock(&rd_mu);
    goc_rwmutex_unlock(&rd_mu);
    keepalive_end();
    return 0;
}

/* 8 goroutine readers and one plain-thread reader all hold the read lock at
 * the same time (even with one P: they wait for each other inside). */
Test(rwmutex, readers_share, .timeout = 20)
{
    cr_assert_eq(run_main(main_readers, NULL), 0);
}

/* ---- a writer waits for every reader --------------------------------------- */

static goc_rwmutex ww_mu;
static atomic_long ww_readers_in, ww_release, ww_readers_out, ww_writer_in, ww_writer_trying;

static void ww_reader(void *arg)
{
    long idx = (long)arg;
    goc_rwmutex_rlock(&ww_mu);
    atomic_fetch_add(&ww_readers_in, 1);
    GO_CHECK(go_wait_ge(&ww_release, idx + 1, 10000), "reader %ld never released", idx);
    atomic_fetch_add(&ww_readers_out, 1);
    goc_rwmutex_runlock(&ww_mu);
}

static void ww_writer(void *arg)
{
    (void)arg;
    atomic_store(&ww_writer_trying, 1);
    goc_rwmutex_lock(&ww_mu);
    GO_CHECK(atomic_load(&ww_readers_out) == 3, "writer got in with %ld readers still inside",
             3 - atomic_load(&ww_readers_out));
    atomic_store(&ww_writer_in, 1);
    goc_rwmutex_unlock(&ww_mu);
    atomic_store(&ww_writer_in, 2);
}

static int main_writer_waits(void *arg)
{
    (void)arg;
    for (long i = 0; i < 3; i++)
        GO_SPAWN(ww_reader, i);
    GO_CHECK(go_wait_ge(&ww_readers_in, 3, 5000), "readers did not get in");
    GO_SPAWN(ww_writer, NULL);
    GO_CHECK(go_wait_ge(&ww_writer_trying, 1, 5000), "writer did not start");
    for (long i = 1; i <= 3; i++) {
        GO_CHECK(go_stays_below(&ww_writer_in, 1, 30), "writer got in with %ld readers inside",
                 4 - i);
        atomic_store(&ww_release, i); /* reader i-1 leaves */
        GO_CHECK(go_wait_ge(&ww_readers_out, i, 5000), "reader %ld did not leave", i - 1);
    }
    GO_CHECK(go_wait_ge(&ww_writer_in, 2, 5000), "writer not let in after the last reader left");
    return 0;
}

/* A writer blocks until the last of three readers has left. */
Test(rwmutex, writer_waits_for_all_readers, .timeout = 20)
{
    cr_assert_eq(run_main(main_writer_waits, NULL), 0);
}

/* ---- a waiting writer holds off new readers ---------------------------------- */

static goc_rwmutex wp_mu;
static atomic_long wp_seq;
static atomic_long wp_r1_in, wp_r1_release, wp_w_trying, wp_w_in, wp_w_release, wp_w_seq;
static atomic_long wp_r2_trying, wp_r2_in, wp_r2_seq;

static void wp_r1(void *arg)
{
    (void)arg;
    goc_rwmutex_rlock(&wp_mu);
    atomic_store(&wp_r1_in, 1);
    GO_CHECK(go_wait_ge(&wp_r1_release, 1, 10000), "r1 never released");
    goc_rwmutex_runlock(&wp_mu);
}

static void wp_writer(void *arg)
{
    (void)arg;
    atomic_store(&wp_w_trying, 1);
    goc_rwmutex_lock(&wp_mu);
    atomic_store(&wp_w_seq, atomic_fetch_add(&wp_seq, 1) + 1);
    atomic_store(&wp_w_in, 1);
    GO_CHECK(atomic_load(&wp_r2_in) == 0, "new reader got in together with the writer");
    GO_CHECK(go_wait_ge(&wp_w_release, 1, 10000), "writer never released");
    GO_CHECK(atomic_load(&wp_r2_in) == 0, "new reader got in while the writer held the lock");
    goc_rwmutex_unlock(&wp_mu);
}

static void wp_r2(void *arg)
{
    (void)arg;
    atomic_store(&wp_r2_trying, 1);
    goc_rwmutex_rlock(&wp_mu);
    atomic_store(&wp_r2_seq, atomic_fetch_add(&wp_seq, 1) + 1);
    atomic_store(&wp_r2_in, 1);
    goc_rwmutex_runlock(&wp_mu);
}

static int main_writer_priority(void *arg)
{
    (void)arg;
    GO_SPAWN(wp_r1, NULL);
    GO_CHECK(go_wait_ge(&wp_r1_in, 1, 5000), "r1 did not get the read lock");
    GO_SPAWN(wp_writer, NULL);
    GO_CHECK(go_wait_ge(&wp_w_trying, 1, 5000), "writer did not start");
    goc_sleep(30 * GOC_MILLISECOND); /* the writer is blocked in lock by now */
    GO_CHECK(atomic_load(&wp_w_in) == 0, "writer got in while r1 holds the read lock");

    GO_SPAWN(wp_r2, NULL);
    GO_CHECK(go_wait_ge(&wp_r2_trying, 1, 5000), "r2 did not start");
    GO_CHECK(go_stays_below(&wp_r2_in, 1, 50),
             "a new reader got the read lock while a writer was waiting");

    atomic_store(&wp_r1_release, 1);
    GO_CHECK(go_wait_ge(&wp_w_in, 1, 5000), "writer not let in after r1 left");
    GO_CHECK(go_stays_below(&wp_r2_in, 1, 30), "r2 got in while the writer held the lock");
    atomic_store(&wp_w_release, 1);
    GO_CHECK(go_wait_ge(&wp_r2_in, 1, 5000), "r2 not let in after the writer left");
    GO_CHECK(atomic_load(&wp_w_seq) < atomic_load(&wp_r2_seq),
             "r2 (seq %ld) got in before the waiting writer (seq %ld)", atomic_load(&wp_r2_seq),
             atomic_load(&wp_w_seq));
    return 0;
}

/* r1 holds the read lock; a writer blocks in lock; a new reader r2 must then
 * wait behind the writer, not join r1. */
Test(rwmutex, waiting_writer_holds_off_new_readers, .timeout = 20)
{
    cr_assert_eq(run_main(main_writer_priority, NULL), 0);
}

/* ---- a writer's unlock lets all waiting readers in ----------------------------- */

#define WR_G 8

static goc_rwmutex wr_mu;
static atomic_long wr_started, wr_inside, wr_out, wr_writer_holds;

static void wr_reader(void *arg)
{
    long want = (long)arg;
    atomic_fetch_add(&wr_started, 1);
    goc_rwmutex_rlock(&wr_mu);
    GO_CHECK(atomic_load(&wr_writer_holds) == 0, "reader in while the writer holds the lock");
    atomic_fetch_add(&wr_inside, 1);
    GO_CHECK(go_wait_ge(&wr_inside, want, 5000), "readers woken by unlock did not share: %ld/%ld",
             atomic_load(&wr_inside), want);
    atomic_fetch_add(&wr_out, 1);
    goc_rwmutex_runlock(&wr_mu);
}

static void *wr_thread(void *arg)
{
    long want = (long)arg;
    atomic_fetch_add(&wr_started, 1);
    goc_rwmutex_rlock(&wr_mu);
    GO_CHECK(atomic_load(&wr_writer_holds) == 0, "thread reader in while the writer holds it");
    atomic_fetch_add(&wr_inside, 1);
    GO_CHECK(thread_wait_ge(&wr_inside, want, 5000), "thread reader: %ld/%ld inside",
             atomic_load(&wr_inside), want);
    atomic_fetch_add(&wr_out, 1);
    goc_rwmutex_runlock(&wr_mu);
    return NULL;
}

static int main_writer_releases(void *arg)
{
    (void)arg;
    keepalive_start();
    long want = WR_G + 1;
    goc_rwmutex_lock(&wr_mu);
    atomic_store(&wr_writer_holds, 1);
    for (int i = 0; i < WR_G; i++)
        GO_SPAWN(wr_reader, want);
    pthread_t t = start_thread(wr_thread, (void *)want);
    GO_CHECK(go_wait_ge(&wr_started, want, 5000), "readers did not start");
    GO_CHECK(go_stays_below(&wr_inside, 1, 30), "a reader got in while the writer holds it");
    atomic_store(&wr_writer_holds, 0);
    goc_rwmutex_unlock(&wr_mu);
    GO_CHECK(go_wait_ge(&wr_out, want, 10000), "only %ld of %ld readers got through",
             atomic_load(&wr_out), want);
    pthread_join(t, NULL);
    keepalive_end();
    return 0;
}

/* While a writer holds the lock, 8 goroutine readers and a thread reader
 * block; its unlock admits all of them at once. */
Test(rwmutex, writer_unlock_admits_all_readers, .timeout = 20)
{
    cr_assert_eq(run_main(main_writer_releases, NULL), 0);
}

/* ---- mixed stress --------------------------------------------------------------- */

#define MX_READERS  16
#define MX_WRITERS  4
#define MX_TREADERS 2
#define MX_TWRITERS 1

static goc_rwmutex mx_mu;
static long mx_a, mx_b; /* plain: written only under the write lock, equal outside it */
static atomic_long mx_readers_in, mx_writers_in, mx_done, mx_reads, mx_max_readers;
static long mx_iters;

static void mx_read_once(long i)
{
    goc_rwmutex_rlock(&mx_mu);
    note_max(&mx_max_readers, atomic_fetch_add(&mx_readers_in, 1) + 1);
    long w = atomic_load(&mx_writers_in);
    GO_CHECK(w == 0, "reader inside with %ld writers", w);
    long a = mx_a;
    if ((i & 31) == 0)
        goc_yield();
    long b = mx_b;
    GO_CHECK(a == b, "reader saw a torn update: a=%ld b=%ld", a, b);
    atomic_fetch_sub(&mx_readers_in, 1);
    atomic_fetch_add(&mx_reads, 1);
    goc_rwmutex_runlock(&mx_mu);
}

static void mx_write_once(long i)
{
    goc_rwmutex_lock(&mx_mu);
    long w = atomic_fetch_add(&mx_writers_in, 1);
    long r = atomic_load(&mx_readers_in);
    GO_CHECK(w == 0, "%ld writers inside at once", w + 1);
    GO_CHECK(r == 0, "writer inside with %ld readers", r);
    mx_a++;
    if ((i & 7) == 0)
        goc_yield();
    mx_b++;
    atomic_fetch_sub(&mx_writers_in, 1);
    goc_rwmutex_unlock(&mx_mu);
}

static void mx_reader(void *arg)
{
    (void)arg;
    for (long i = 0; i < mx_iters * 4; i++)
        mx_read_once(i);
    atomic_fetch_add(&mx_done, 1);
}

static void mx_writer(void *arg)
{
    (void)arg;
    for (long i = 0; i < mx_iters; i++)
        mx_write_once(i);
    atomic_fetch_add(&mx_done, 1);
}

static void *mx_treader(void *arg)
{
    mx_reader(arg);
    return NULL;
}

static void *mx_twriter(void *arg)
{
    mx_writer(arg);
    return NULL;
}

static int main_mixed(void *arg)
{
    (void)arg;
    keepalive_start();
    mx_iters = test_scale(10000);
    pthread_t t[MX_TREADERS + MX_TWRITERS];
    int nt = 0;
    for (int i = 0; i < MX_TREADERS; i++)
        t[nt++] = start_thread(mx_treader, NULL);
    for (int i = 0; i < MX_TWRITERS; i++)
        t[nt++] = start_thread(mx_twriter, NULL);
    for (int i = 0; i < MX_READERS; i++)
        GO_SPAWN(mx_reader, NULL);
    for (int i = 0; i < MX_WRITERS; i++)
        GO_SPAWN(mx_writer, NULL);
    long all = MX_READERS + MX_WRITERS + MX_TREADERS + MX_TWRITERS;
    GO_CHECK(go_wait_ge(&mx_done, all, 25000), "only %ld of %ld workers finished",
             atomic_load(&mx_done), all);
    for (int i = 0; i < nt; i++)
        pthread_join(t[i], NULL);
    long wwant = (MX_WRITERS + MX_TWRITERS) * mx_iters;
    GO_CHECK(mx_a == wwant && mx_b == wwant, "a=%ld b=%ld, want %ld", mx_a, mx_b, wwant);
    GO_CHECK(atomic_load(&mx_reads) == (MX_READERS + MX_TREADERS) * mx_iters * 4, "reads %ld",
             atomic_load(&mx_reads));
    keepalive_end();
    return 0;
}

/* 16 goroutine readers, 4 goroutine writers, 2 thread readers and a thread
 * writer: writers always alone, readers never see a half-done write. */
Test(rwmutex, mixed_stress, .timeout = 28)
{
    cr_assert_eq(run_main(main_mixed, NULL), 0);
}
