/*
 * helper_misuse — calls a goroutine-only function where it is not allowed.
 *   helper_misuse exit_plain    goc_exit() on the process's main thread
 *   helper_misuse exit_thread   goc_exit() on a plain pthread while goc_run runs
 * The runtime must stop the program with a message naming goc_exit; if it
 * does not, this helper exits 0 and the test fails.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <goc.h>

static void *thread_calls_exit(void *arg)
{
    (void)arg;
    goc_exit();
}

static int helper_main(void *arg)
{
    (void)arg;
    pthread_t t;
    if (pthread_create(&t, NULL, thread_calls_exit, NULL) != 0)
        return 3;
    pthread_join(t, NULL);
    goc_sleep(100 * GOC_MILLISECOND);
    return 0;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "exit_plain";
    if (strcmp(mode, "exit_plain") == 0) {
        goc_exit();
    }
    return goc_run(helper_main, NULL);
}
