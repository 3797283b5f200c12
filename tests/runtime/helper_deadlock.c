/*
 * helper_deadlock.c — a program whose goroutines all block forever, for
 * test_deadlock.c. Until channels exist, blocking "forever" uses the
 * runtime's internal park (what a receive on a channel nobody sends on
 * will do); the declaration mirrors src/runtime/runtime.h.
 *
 *   helper_deadlock all      main and 3 others park forever -> deadlock
 *   helper_deadlock timer    main parks forever but a goroutine sleeps
 *                            300 ms first -> deadlock only after it ends
 *   helper_deadlock thread   a foreign thread used the runtime -> no
 *                            deadlock report; the helper exits 0 itself
 *   helper_deadlock thread_exited
 *                            a foreign thread used the runtime and
 *                            exited, then main parks forever -> deadlock
 */
#define _GNU_SOURCE /* gettid */
#include <goc.h>

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct goc__g;
void goc__park(bool (*unlockf)(struct goc__g *, void *), void *arg, const char *reason);

__attribute__((noinline)) void block_forever(void *arg)
{
    (void)arg;
    goc__park(NULL, NULL, "select (no cases)");
    abort(); /* never woken */
}

static void sleep_then_block(void *arg)
{
    goc_sleep(300 * GOC_MILLISECOND);
    block_forever(arg);
}

static void noop(void *arg)
{
    (void)arg;
}

static void *foreign(void *arg)
{
    (void)arg;
    goc_go(noop, NULL); /* this thread has now used the runtime */
    sleep(1);
    _exit(0); /* the runtime did not report a deadlock: success */
}

static _Atomic int exited_tid;

static void *foreign_exits(void *arg)
{
    goc_mutex *mu = arg;
    exited_tid = gettid();
    goc_mutex_lock(mu); /* this thread has now used the runtime */
    goc_mutex_unlock(mu);
    return NULL;
}

static int main_fn(void *arg)
{
    const char *mode = arg;
    if (strcmp(mode, "thread_exited") == 0) {
        static goc_mutex mu;
        pthread_t t;
        pthread_create(&t, NULL, foreign_exits, &mu);
        pthread_join(t, NULL); /* its thread-exit hook has run */
        char task[64];
        snprintf(task, sizeof task, "/proc/self/task/%d", exited_tid);
        while (access(task, F_OK) == 0) /* and the kernel has let it go */
            goc_sleep(GOC_MILLISECOND);
    } else if (strcmp(mode, "timer") == 0) {
        goc_go(sleep_then_block, NULL);
    } else if (strcmp(mode, "thread") == 0) {
        pthread_t t;
        pthread_create(&t, NULL, foreign, NULL);
        goc_sleep(50 * GOC_MILLISECOND);
    } else {
        for (int i = 0; i < 3; i++)
            goc_go(block_forever, NULL);
    }
    printf("parking\n");
    fflush(stdout);
    block_forever(NULL);
    return 0;
}

int main(int argc, char **argv)
{
    return goc_run(main_fn, argc > 1 ? argv[1] : "all");
}
