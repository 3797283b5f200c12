/*
 * helper_sigquit — a program for SIGQUIT to interrupt: goc_run's main
 * (sigquit_main_fn) spawns three goroutines named "sleeper" that sleep in
 * sigquit_sleeper_fn, prints "ids=<a> <b> <c>\nready\n" and sleeps too. The
 * test then sends SIGQUIT and expects a dump of every goroutine and exit
 * status 2, as Go does. The functions are extern and noinline so that the
 * backtraces can name them.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdio.h>

#include <goc.h>

static volatile int sink;

__attribute__((noinline)) void sigquit_sleeper_fn(void *arg)
{
    (void)arg;
    goc_sleep(30 * GOC_SECOND);
    sink = 1; /* not a tail call: keep this frame on the stack */
}

__attribute__((noinline)) int sigquit_main_fn(void *arg)
{
    (void)arg;
    uint64_t ids[3];
    for (int i = 0; i < 3; i++) {
        goc_go_opts o = {.name = "sleeper", .id = &ids[i]};
        if (goc_go_with(sigquit_sleeper_fn, NULL, &o) != 0)
            return 3;
    }
    goc_sleep(50 * GOC_MILLISECOND); /* let them park */
    printf("ids=%llu %llu %llu\nready\n", (unsigned long long)ids[0], (unsigned long long)ids[1],
           (unsigned long long)ids[2]);
    fflush(stdout);
    goc_sleep(30 * GOC_SECOND);
    return 0;
}

int main(void)
{
    return goc_run(sigquit_main_fn, NULL);
}
