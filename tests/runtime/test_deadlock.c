/*
 * test_deadlock.c — when every goroutine is blocked and nothing can wake
 * one, the program stops as Go does: "fatal error: all goroutines are
 * asleep - deadlock!", a dump of each goroutine, exit status 2. A pending
 * timer or a foreign thread that used the runtime can still wake one, so
 * neither is a deadlock.
 */
#include <criterion/criterion.h>
#include <sys/wait.h>

#include "runtime/util.h"

static void run_helper(test_proc *p, const char *mode, int timeout_ms)
{
    const char *args[] = {mode, NULL};
    cr_assert_eq(test_proc_start(p, "helper_deadlock", args, NULL), 0);
    test_proc_finish(p, timeout_ms);
    cr_assert(!p->timed_out, "helper_deadlock %s hung:\n%s", mode, p->err.data ? p->err.data : "");
}

Test(deadlock, all_asleep_is_fatal_with_dump, .timeout = 30)
{
    test_proc p;
    run_helper(&p, "all", 20000);
    const char *err = p.err.data ? p.err.data : "";
    cr_assert(WIFEXITED(p.status) && WEXITSTATUS(p.status) == 2, "status %d, stderr:\n%s", p.status,
              err);
    cr_assert(strstr(err, "fatal error: all goroutines are asleep - deadlock!"), "%s", err);
    /* Every goroutine is listed with its wait reason and a backtrace. */
    cr_assert(strstr(err, "goroutine 1 [select (no cases)]"), "%s", err);
    int n = 0;
    for (const char *s = err; (s = strstr(s, "[select (no cases)]")); s++)
        n++;
    cr_assert_geq(n, 4, "expected 4 blocked goroutines in:\n%s", err);
    cr_assert(strstr(err, "block_forever"), "no backtrace in:\n%s", err);
    test_proc_free(&p);
}

Test(deadlock, pending_timer_is_not_a_deadlock, .timeout = 30)
{
    test_proc p;
    int64_t t0 = goc_now();
    run_helper(&p, "timer", 20000);
    int64_t ms = test_ms(goc_now() - t0);
    const char *err = p.err.data ? p.err.data : "";
    cr_assert(WIFEXITED(p.status) && WEXITSTATUS(p.status) == 2, "status %d:\n%s", p.status, err);
    cr_assert(strstr(err, "all goroutines are asleep - deadlock!"), "%s", err);
    cr_assert_geq(ms, 300, "deadlock reported after %lld ms, before the sleeper's timer fired",
                  (long long)ms);
    test_proc_free(&p);
}

Test(deadlock, foreign_thread_may_wake, .timeout = 30)
{
    test_proc p;
    run_helper(&p, "thread", 20000);
    const char *err = p.err.data ? p.err.data : "";
    cr_assert(WIFEXITED(p.status) && WEXITSTATUS(p.status) == 0, "status %d:\n%s", p.status, err);
    cr_assert_null(strstr(err, "deadlock"), "%s", err);
    test_proc_free(&p);
}

/* A thread counts as a possible waker only while it lives. */
Test(deadlock, exited_thread_is_not_a_waker, .timeout = 30)
{
    test_proc p;
    run_helper(&p, "thread_exited", 20000);
    const char *err = p.err.data ? p.err.data : "";
    cr_assert(WIFEXITED(p.status) && WEXITSTATUS(p.status) == 2, "status %d:\n%s", p.status, err);
    cr_assert(strstr(err, "all goroutines are asleep - deadlock!"), "%s", err);
    test_proc_free(&p);
}
