/*
 * test_errmsg.c — goc_errmsg: the calling goroutine's last failure with its
 * context. Only failures set it, each goroutine (and plain thread) has its
 * own, a new goroutine starts without one, and goc_strerror stays the
 * code's generic text.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "runtime/util.h"

static char got[256]; /* written by a goroutine, checked by the test */

static void remember(void)
{
    snprintf(got, sizeof got, "%s", goc_errmsg());
}

static int main_chan_failures(void *arg)
{
    (void)arg;
    GO_CHECK(strcmp(goc_errmsg(), "no error") == 0, "fresh goroutine: %s", goc_errmsg());
    GO_CHECK(goc_errcode() == 0, "fresh goroutine: code %d", goc_errcode());
    goc_chan *c = goc_chan_make(sizeof(int), 1);
    int v = 1;
    GO_CHECK(goc_chan_try_recv(c, &v) == -EAGAIN, "empty channel");
    GO_CHECK(goc_errcode() == 0, "-EAGAIN (not ready) is not a failure: %s", goc_errmsg());
    goc_chan_close(c);
    GO_CHECK(goc_chan_send(c, &v) == -EPIPE, "send on closed");
    GO_CHECK(strcmp(goc_errmsg(), "goc_chan_send: send on closed channel") == 0, "%s",
             goc_errmsg());
    GO_CHECK(goc_errcode() == -EPIPE, "code %d", goc_errcode());
    GO_CHECK(goc_chan_close(c) == -EPIPE, "close twice");
    GO_CHECK(strcmp(goc_errmsg(), "goc_chan_close: close of closed channel") == 0, "%s",
             goc_errmsg());
    /* A call that succeeds leaves the last failure in place. */
    goc_chan *d = goc_chan_make(sizeof(int), 1);
    GO_CHECK(goc_chan_send(d, &v) == 0, "send");
    GO_CHECK(strstr(goc_errmsg(), "close of closed channel") != NULL, "after a success: %s",
             goc_errmsg());
    GO_CHECK(goc_go(NULL, NULL) == -EINVAL, "goc_go(NULL)");
    GO_CHECK(strcmp(goc_errmsg(), "goc_go: NULL function") == 0, "%s", goc_errmsg());
    goc_chan_release(c);
    goc_chan_release(d);
    return 0;
}

Test(errmsg, channel_and_spawn_failures_say_what_failed, .timeout = 20)
{
    cr_assert_eq(run_main(main_chan_failures, NULL), 0);
}

static void report_clean(void *arg);

static void fail_then_report(void *arg)
{
    goc_chan *done = arg;
    goc_go_opts o = {.stack_size = (size_t)4 << 30};
    GO_CHECK(goc_go_with(report_clean, NULL, &o) == -EINVAL, "a 4 GiB stack is refused");
    remember();
    goc_chan_send(done, NULL);
}

static void report_clean(void *arg)
{
    goc_chan *done = arg;
    GO_CHECK(goc_errcode() == 0, "a new goroutine inherited %s", goc_errmsg());
    goc_chan_send(done, NULL);
}

static void *thread_fails(void *arg)
{
    (void)arg;
    GO_CHECK(goc_errcode() == 0, "a fresh thread has %s", goc_errmsg());
    GO_CHECK(goc_select(NULL, 1, 0) == -EINVAL, "select(NULL, 1)");
    GO_CHECK(strstr(goc_errmsg(), "goc_select") != NULL, "thread: %s", goc_errmsg());
    return NULL;
}

static int main_per_goroutine(void *arg)
{
    (void)arg;
    goc_chan *done = goc_chan_make(0, 0);
    GO_CHECK(goc_go(fail_then_report, done) == 0, "spawn");
    goc_chan_recv(done, NULL);
    GO_CHECK(strstr(got, "goc_go_with: stack size") != NULL, "the failing goroutine saw %s", got);
    GO_CHECK(goc_errcode() == 0, "another goroutine's failure showed here: %s", goc_errmsg());
    /* Descriptors are reused: many new goroutines, none starts with a
     * message. */
    for (int i = 0; i < 200; i++) {
        GO_CHECK(goc_go(report_clean, done) == 0, "spawn");
        goc_chan_recv(done, NULL);
    }
    pthread_t t = start_thread(thread_fails, NULL);
    pthread_join(t, NULL);
    GO_CHECK(goc_errcode() == 0, "a thread's failure showed here: %s", goc_errmsg());
    goc_chan_release(done);
    return 0;
}

Test(errmsg, each_goroutine_and_thread_has_its_own, .timeout = 20)
{
    cr_assert_eq(run_main(main_per_goroutine, NULL), 0);
}

/* goc_strerror is the code's generic text: no sentence about addresses for
 * every EINVAL. */
Test(errmsg, strerror_is_generic, .timeout = 10)
{
    cr_assert_null(strstr(goc_strerror(-EINVAL), "address"), "%s", goc_strerror(-EINVAL));
    cr_assert_str_eq(goc_strerror(-ECANCELED), "context canceled");
}
