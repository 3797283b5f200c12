/*
 * test_misuse.c — calling a goroutine-only function off a goroutine stops
 * the program with a message that names the call (never silent, never a
 * hang).
 */
#include <criterion/criterion.h>

#include "util.h"

static void check_misuse(const char *mode, const char *name)
{
    const char *args[] = {mode, NULL};
    test_proc p;
    cr_assert_eq(test_run_helper(&p, "helper_misuse", args, NULL, 10000), 0, "spawn");
    char st[64];
    test_status_str(p.status, st, sizeof st);
    cr_log_info("%s: helper %s", mode, st);
    cr_assert(!p.timed_out, "%s: helper hung; stderr:\n%s", mode, p.err.data);
    cr_assert(!(WIFEXITED(p.status) && WEXITSTATUS(p.status) == 0),
              "%s: the program went on and exited 0; stderr:\n%s", mode, p.err.data);
    cr_assert(WIFEXITED(p.status) || WTERMSIG(p.status) == SIGABRT,
              "%s: helper %s, want a fatal error message and exit; stderr:\n%s", mode, st,
              p.err.data);
    cr_assert_not_null(strstr(p.err.data, name), "%s: message does not name %s:\n%s", mode, name,
                       p.err.data);
    test_proc_free(&p);
}

/* goc_exit on the process's main thread, outside goc_run. */
Test(misuse, goc_exit_on_main_thread, .timeout = 20)
{
    check_misuse("exit_plain", "goc_exit");
}

/* goc_exit on a plain pthread while the runtime runs. */
Test(misuse, goc_exit_on_plain_thread, .timeout = 20)
{
    check_misuse("exit_thread", "goc_exit");
}
