/*
 * helper_overflow — overflows a goroutine's stack by unbounded recursion.
 *   helper_overflow child   in a spawned goroutine (default)
 *   helper_overflow main    in goc_run's main goroutine
 *   helper_overflow small   in a goroutine with the minimum (16 KiB) stack
 *   helper_overflow unguarded  in a spawned goroutine, after 20000 parked
 *                           goroutines used up the guard-page budget that
 *                           vm.max_map_count allows (prints unguarded=N)
 * Prints "id=<goroutine id>\n" on stdout first. The runtime must stop the
 * process with a "stack overflow" fatal error naming the goroutine, exit 2.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdio.h>
#include <string.h>

#include <goc.h>

static volatile int sink;
static volatile int limit = 1 << 30; /* never reached: the stack runs out */

__attribute__((noinline)) int overflow_recurse(int n)
{
    volatile char frame[512];
    frame[0] = (char)n;
    frame[sizeof frame - 1] = (char)n;
    if (n >= limit)
        return 0;
    return overflow_recurse(n + 1) + frame[0] + frame[sizeof frame - 1];
}

__attribute__((noinline)) void overflower(void *arg)
{
    (void)arg;
    printf("id=%llu\n", (unsigned long long)goc_id());
    fflush(stdout);
    sink = overflow_recurse(0);
}

static volatile long parked;

static void park_an_hour(void *arg)
{
    (void)arg;
    __atomic_add_fetch(&parked, 1, __ATOMIC_SEQ_CST);
    goc_sleep(3600 * GOC_SECOND);
}

static int helper_main(void *arg)
{
    const char *mode = arg;
    if (strcmp(mode, "unguarded") == 0) {
        enum { PARKED = 20000 };
        for (int i = 0; i < PARKED; i++)
            if (goc_go(park_an_hour, NULL) != 0)
                return 5;
        while (__atomic_load_n(&parked, __ATOMIC_SEQ_CST) < PARKED)
            goc_sleep(GOC_MILLISECOND);
        goc_stats st;
        goc_read_stats(&st);
        printf("unguarded=%llu\n", (unsigned long long)st.stacks_unguarded);
        fflush(stdout);
    }
    if (strcmp(mode, "main") == 0) {
        overflower(NULL);
        return 0;
    }
    goc_go_opts o = {.name = "overflower"};
    if (strcmp(mode, "small") == 0)
        o.stack_size = 16 * 1024;
    if (goc_go_with(overflower, NULL, &o) != 0)
        return 3;
    goc_sleep(10 * GOC_SECOND);
    return 4; /* the overflow was not noticed */
}

int main(int argc, char **argv)
{
    return goc_run(helper_main, argc > 1 ? argv[1] : "child");
}
