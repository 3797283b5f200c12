/*
 * test_sync_misuse.c — misuse that Go panics on (unlock of an unlocked
 * mutex, a negative WaitGroup counter, RWMutex unlocks without a lock, a
 * semaphore released more than held)
 * stops the program: exit status 2 and a message on stderr that names the
 * misuse and the goroutine. Runs helper_sync_misuse.
 */
#include <ctype.h>
#include <criterion/criterion.h>

#include "runtime/util.h"

/* Whether text names goroutine id: "goroutine" followed (after spaces,
 * '#' or ':') by the decimal id. */
static bool names_goroutine(const char *text, unsigned long long id)
{
    for (const char *p = text; (p = strcasestr(p, "goroutine")) != NULL; p++) {
        const char *q = p + strlen("goroutine");
        while (*q == ' ' || *q == '#' || *q == ':' || *q == '=')
            q++;
        if (isdigit((unsigned char)*q) && strtoull(q, NULL, 10) == id)
            return true;
    }
    return false;
}

static void check_misuse(const char *mode, const char *const *words, bool on_goroutine)
{
    const char *args[] = {mode, NULL};
    test_proc p;
    cr_assert_eq(test_run_helper(&p, "helper_sync_misuse", args, NULL, 10000), 0, "spawn");
    char st[64];
    test_status_str(p.status, st, sizeof st);
    cr_log_info("%s: helper %s; stderr:\n%s", mode, st, p.err.data);
    cr_assert(!p.timed_out,
              "%s: helper hung (a misuse must stop the program); stdout:\n%s\n"
              "stderr:\n%s",
              mode, p.out.data, p.err.data);
    cr_assert_not_null(strstr(p.out.data, "misuse"), "%s: helper did not reach the misuse:\n%s",
                       mode, p.out.data);
    cr_assert_null(strstr(p.out.data, "survived"),
                   "%s: the program went on after the misuse; stderr:\n%s", mode, p.err.data);
    cr_assert(WIFEXITED(p.status) && WEXITSTATUS(p.status) == 2,
              "%s: helper %s, want exit status 2; stderr:\n%s", mode, st, p.err.data);
    for (int i = 0; words[i]; i++)
        cr_assert_not_null(strcasestr(p.err.data, words[i]),
                           "%s: the message does not mention \"%s\":\n%s", mode, words[i],
                           p.err.data);
    if (on_goroutine) {
        unsigned long long id = 0;
        const char *idp = strstr(p.out.data, "id=");
        cr_assert_not_null(idp, "no id in helper output");
        id = strtoull(idp + 3, NULL, 10);
        cr_assert_gt(id, 1);
        cr_assert(names_goroutine(p.err.data, id),
                  "%s: the message does not name the goroutine (goroutine %llu):\n%s", mode, id,
                  p.err.data);
    }
    test_proc_free(&p);
}

Test(sync_misuse, unlock_of_unlocked_mutex, .timeout = 20)
{
    const char *w[] = {"unlock", "goroutine", NULL};
    check_misuse("unlock_unlocked", w, true);
}

Test(sync_misuse, double_unlock, .timeout = 20)
{
    const char *w[] = {"unlock", "goroutine", NULL};
    check_misuse("double_unlock", w, true);
}

/* From a plain thread there is no goroutine to name; the misuse is still
 * fatal. */
Test(sync_misuse, unlock_of_unlocked_mutex_on_plain_thread, .timeout = 20)
{
    const char *w[] = {"unlock", NULL};
    check_misuse("unlock_thread", w, false);
}

Test(sync_misuse, waitgroup_negative_add, .timeout = 20)
{
    const char *w[] = {"negative", "goroutine", NULL};
    check_misuse("wg_negative", w, true);
}

Test(sync_misuse, waitgroup_done_too_many, .timeout = 20)
{
    const char *w[] = {"negative", "goc_waitgroup_done", "goroutine", NULL};
    check_misuse("wg_done_too_many", w, true);
}

Test(sync_misuse, waitgroup_negative_on_plain_thread, .timeout = 20)
{
    const char *w[] = {"negative", NULL};
    check_misuse("wg_negative_thread", w, false);
}

/* Go: "fatal error: sync: Unlock of unlocked RWMutex". */
Test(sync_misuse, rwmutex_unlock_of_unlocked, .timeout = 20)
{
    const char *w[] = {"unlock", "goroutine", NULL};
    check_misuse("rw_unlock_unlocked", w, true);
}

/* Go: "fatal error: sync: RUnlock of unlocked RWMutex". */
Test(sync_misuse, rwmutex_runlock_of_unlocked, .timeout = 20)
{
    const char *w[] = {"runlock", "goroutine", NULL};
    check_misuse("rw_runlock_unlocked", w, true);
}

/* x/sync/semaphore: panic("semaphore: released more than held"). */
Test(sync_misuse, semaphore_released_more_than_held, .timeout = 20)
{
    const char *w[] = {"semaphore", "goroutine", NULL};
    check_misuse("sem_release_too_much", w, true);
}

Test(sync_misuse, semaphore_released_more_than_held_on_plain_thread, .timeout = 20)
{
    const char *w[] = {"semaphore", NULL};
    check_misuse("sem_release_thread", w, false);
}
