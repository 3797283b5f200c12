/*
 * test_sigquit.c — goroutine dumps: SIGQUIT prints every goroutine (id,
 * state, what it waits on, backtrace) and exits 2, as Go does; goc_dump
 * writes the same to any fd without stopping the program.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>

#include "util.h"

static void assert_contains(const char *text, const char *what, const char *ctx)
{
    cr_assert_not_null(strstr(text, what), "%s: no \"%s\" in:\n%s", ctx, what, text);
}

/* SIGQUIT dumps all goroutines with their state, wait reason, names and
 * backtraces (function names of the program), then exits with status 2. */
Test(sigquit, sigquit_dumps_goroutines_and_exits_2, .timeout = 30)
{
    test_proc p;
    cr_assert_eq(test_proc_start(&p, "helper_sigquit", NULL, NULL), 0, "spawn");
    bool ready = test_proc_wait_output(&p, "ready\n", 10000);
    if (!ready) {
        test_proc_finish(&p, 100);
        cr_assert_fail("helper never got ready; stdout:\n%s\nstderr:\n%s", p.out.data, p.err.data);
    }
    unsigned long long ids[3] = {0, 0, 0};
    const char *line = strstr(p.out.data, "ids=");
    cr_assert_not_null(line);
    cr_assert_eq(sscanf(line, "ids=%llu %llu %llu", &ids[0], &ids[1], &ids[2]), 3);

    test_nap_ms(200); /* "ready" is printed just before main parks: let it */
    cr_assert_eq(kill(p.pid, SIGQUIT), 0);
    test_proc_finish(&p, 10000);
    char st[64];
    cr_assert(!p.timed_out, "helper did not exit after SIGQUIT; stderr:\n%s", p.err.data);
    cr_assert(WIFEXITED(p.status) && WEXITSTATUS(p.status) == 2,
              "after SIGQUIT the helper %s, want exit status 2; stderr:\n%s",
              test_status_str(p.status, st, sizeof st), p.err.data);

    const char *err = p.err.data;
    assert_contains(err, "goroutine 1", "SIGQUIT dump");
    for (int i = 0; i < 3; i++) {
        char want[64];
        snprintf(want, sizeof want, "goroutine %llu", ids[i]);
        assert_contains(err, want, "SIGQUIT dump");
    }
    assert_contains(err, "sleep", "SIGQUIT dump (wait reason)");
    assert_contains(err, "sleeper", "SIGQUIT dump (goroutine name)");
    assert_contains(err, "sigquit_sleeper_fn", "SIGQUIT dump (backtrace)");
    assert_contains(err, "sigquit_main_fn", "SIGQUIT dump (backtrace)");
    test_proc_free(&p);
}

/* ---- goc_dump ----------------------------------------------------------- */

struct reader {
    int fd;
    test_buf buf;
};

static void *read_all(void *arg)
{
    struct reader *r = arg;
    char chunk[4096];
    ssize_t n;
    while ((n = read(r->fd, chunk, sizeof chunk)) != 0) {
        if (n < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        test_buf_append(&r->buf, chunk, (size_t)n);
    }
    test_buf_append(&r->buf, "", 0);
    return NULL;
}

/* Dump to a pipe drained by a plain thread; returns the text (malloc'd). */
static char *dump_to_string(int *ret)
{
    int fds[2];
    if (pipe(fds) != 0)
        return NULL;
    struct reader r = {.fd = fds[0]};
    pthread_t t;
    pthread_create(&t, NULL, read_all, &r);
    *ret = goc_dump(fds[1]);
    close(fds[1]);
    pthread_join(t, NULL);
    close(fds[0]);
    return r.buf.data;
}

__attribute__((noinline)) void dump_target_fn(void *arg)
{
    (void)arg;
    goc_sleep(30 * GOC_SECOND);
    test_sink(1); /* not a tail call: keep this frame on the stack */
}

struct dump_result {
    uint64_t ids[3];
    int ret;
    char *text;
    int after_ret;
    char *after_text;
};

static atomic_int after_dump_ran;

static void after_dump(void *arg)
{
    (void)arg;
    atomic_store(&after_dump_ran, 1);
}

__attribute__((noinline)) int dump_main_fn(void *arg)
{
    struct dump_result *d = arg;
    for (int i = 0; i < 3; i++) {
        goc_go_opts o = {.name = "dumpme", .id = &d->ids[i]};
        GO_CHECK(goc_go_with(dump_target_fn, NULL, &o) == 0, "goc_go_with");
    }
    goc_sleep(20 * GOC_MILLISECOND);
    d->text = dump_to_string(&d->ret);
    /* The program goes on normally after a dump. */
    GO_CHECK(goc_go(after_dump, NULL) == 0, "goc_go after goc_dump");
    int64_t deadline = goc_now() + 5 * GOC_SECOND;
    while (!atomic_load(&after_dump_ran) && goc_now() < deadline)
        goc_sleep(GOC_MILLISECOND);
    GO_CHECK(atomic_load(&after_dump_ran), "goroutines stopped running after goc_dump");
    return 0;
}

/* goc_dump(fd) from a goroutine writes every goroutine with id, name, wait
 * reason and backtrace, returns 0 and leaves the program running. */
Test(sigquit, goc_dump_lists_all_goroutines, .timeout = 20)
{
    struct dump_result d = {.ret = -1};
    cr_assert_eq(goc_run(dump_main_fn, &d), 0);
    GO_CHECK_REPORT();
    cr_assert_eq(d.ret, 0, "goc_dump returned %d", d.ret);
    cr_assert_not_null(d.text);
    assert_contains(d.text, "goroutine 1", "goc_dump");
    for (int i = 0; i < 3; i++) {
        char want[64];
        snprintf(want, sizeof want, "goroutine %llu", (unsigned long long)d.ids[i]);
        assert_contains(d.text, want, "goc_dump");
    }
    assert_contains(d.text, "dumpme", "goc_dump (name)");
    assert_contains(d.text, "sleep", "goc_dump (wait reason)");
    assert_contains(d.text, "dump_target_fn", "goc_dump (backtrace)");
    assert_contains(d.text, "dump_main_fn", "goc_dump (backtrace of the running main)");
    free(d.text);
}

static void *thread_dumps(void *arg)
{
    struct dump_result *d = arg;
    d->text = dump_to_string(&d->ret);
    return NULL;
}

static int main_dump_from_thread(void *arg)
{
    struct dump_result *d = arg;
    goc_go_opts o = {.name = "dumpme", .id = &d->ids[0]};
    GO_CHECK(goc_go_with(dump_target_fn, NULL, &o) == 0, "goc_go_with");
    goc_sleep(10 * GOC_MILLISECOND);
    pthread_t t;
    pthread_create(&t, NULL, thread_dumps, d);
    /* Main keeps a P busy meanwhile. */
    int64_t end = goc_now() + 20 * GOC_MILLISECOND;
    while (goc_now() < end)
        goc_yield();
    pthread_join(t, NULL);
    return 0;
}

/* goc_dump works from a thread that is not a goroutine while goroutines run. */
Test(sigquit, goc_dump_from_plain_thread, .timeout = 20)
{
    struct dump_result d = {.ret = -1};
    cr_assert_eq(goc_run(main_dump_from_thread, &d), 0);
    GO_CHECK_REPORT();
    cr_assert_eq(d.ret, 0);
    cr_assert_not_null(d.text);
    assert_contains(d.text, "goroutine 1", "goc_dump from a thread");
    char want[64];
    snprintf(want, sizeof want, "goroutine %llu", (unsigned long long)d.ids[0]);
    assert_contains(d.text, want, "goc_dump from a thread");
    assert_contains(d.text, "dump_target_fn", "goc_dump from a thread");
    free(d.text);
}

static atomic_long many_parked;

struct dump_many {
    long n;     /* goroutines to park */
    int64_t el; /* out: how long goc_dump took */
};

static void dump_many_target(void *arg)
{
    atomic_fetch_add(&many_parked, 1);
    dump_target_fn(arg);
}

static int main_dump_many(void *arg)
{
    struct dump_many *d = arg;
    for (long i = 0; i < d->n; i++)
        GO_CHECK(goc_go(dump_many_target, NULL) == 0, "goc_go");
    GO_CHECK(go_wait_ge(&many_parked, d->n, 10000), "%ld of %ld started", atomic_load(&many_parked),
             d->n);
    goc_sleep(20 * GOC_MILLISECOND); /* all parked in goc_sleep now */
    int fd = open("/dev/null", O_WRONLY);
    int64_t t0 = goc_now();
    GO_CHECK(goc_dump(fd) == 0, "goc_dump");
    d->el = goc_now() - t0;
    close(fd);
    return 0;
}

/* Dumping thousands of parked goroutines finishes promptly. */
Test(sigquit, goc_dump_many_goroutines, .timeout = 60)
{
    struct dump_many d = {test_scale(2000), 0};
    cr_assert_eq(goc_run(main_dump_many, &d), 0);
    GO_CHECK_REPORT();
    cr_log_info("dump of %ld goroutines: %lld ms", d.n + 1, (long long)test_ms(d.el));
    cr_assert_lt(d.el, 5 * GOC_SECOND * test_slack(), "goc_dump took %lld ms",
                 (long long)test_ms(d.el));
}

/* ---- dumps during churn ------------------------------------------------- */

static atomic_int churn_stop;
static atomic_long churn_live;

static void churn_leaf(void *arg)
{
    (void)arg;
    goc_yield();
    atomic_fetch_sub(&churn_live, 1);
}

static void churner(void *arg)
{
    (void)arg;
    while (!atomic_load(&churn_stop)) {
        if (atomic_load(&churn_live) < 200) {
            atomic_fetch_add(&churn_live, 1);
            if (goc_go(churn_leaf, NULL) != 0)
                atomic_fetch_sub(&churn_live, 1);
        } else {
            goc_yield();
        }
    }
}

static void *thread_dumps_repeatedly(void *arg)
{
    int fd = *(int *)arg;
    for (int i = 0; i < 20; i++)
        goc_dump(fd);
    return NULL;
}

static int main_dump_churn(void *arg)
{
    (void)arg;
    int fd = open("/dev/null", O_WRONLY);
    for (int i = 0; i < goc_maxprocs() + 1; i++)
        GO_CHECK(goc_go(churner, NULL) == 0, "goc_go");
    pthread_t t;
    pthread_create(&t, NULL, thread_dumps_repeatedly, &fd);
    for (int i = 0; i < 20; i++) {
        GO_CHECK(goc_dump(fd) == 0, "goc_dump");
        goc_yield();
    }
    pthread_join(t, NULL);
    atomic_store(&churn_stop, 1);
    close(fd);
    return 0;
}

/* goc_dump is safe while goroutines are being created and are exiting on
 * every P, from a goroutine and from a plain thread at once. */
Test(sigquit, goc_dump_during_churn, .timeout = 60)
{
    cr_assert_eq(goc_run(main_dump_churn, NULL), 0);
    GO_CHECK_REPORT();
}
