/*
 * helper_env — prints what the runtime read from the environment:
 *   maxprocs=<goc_maxprocs()>   stack=<goc_default_stack_size()>
 * With an argument N, also runs a goroutine with default options that puts
 * N bytes of locals on its stack and prints used=N when that worked.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <alloca.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <goc.h>

static size_t use_bytes;
static volatile int used_done;
static volatile unsigned char sink;

__attribute__((noinline)) static void use_stack(void *arg)
{
    (void)arg;
    unsigned char *buf = alloca(use_bytes);
    memset(buf, 0x5a, use_bytes);
    __asm__ volatile("" : : "r"(buf) : "memory"); /* really write it */
    unsigned sum = 0;
    for (size_t i = 0; i < use_bytes; i += 4096)
        sum += buf[i];
    sink = (unsigned char)sum;
    __atomic_store_n(&used_done, 1, __ATOMIC_SEQ_CST);
}

static int helper_main(void *arg)
{
    (void)arg;
    printf("maxprocs=%d\nstack=%zu\n", goc_maxprocs(), goc_default_stack_size());
    fflush(stdout);
    if (use_bytes == 0)
        return 0;
    if (goc_go(use_stack, NULL) != 0)
        return 3;
    int64_t deadline = goc_now() + 5 * GOC_SECOND;
    while (!__atomic_load_n(&used_done, __ATOMIC_SEQ_CST) && goc_now() < deadline)
        goc_sleep(GOC_MILLISECOND);
    if (!__atomic_load_n(&used_done, __ATOMIC_SEQ_CST))
        return 4;
    printf("used=%zu\n", use_bytes);
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1)
        use_bytes = strtoul(argv[1], NULL, 10);
    return goc_run(helper_main, NULL);
}
