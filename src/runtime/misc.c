/*
 * misc.c — small runtime services: the clock, fastrand,
 * and the CPU count that sets goc_maxprocs().
 */
#include "runtime/runtime.h"

#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

GOC_API int64_t goc_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* xorshift64*: cheap per-M randomness for steal order and select. */
uint32_t goc__fastrand(goc__m *m)
{
    uint64_t x = m->rand;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    m->rand = x;
    return (uint32_t)((x * 0x2545F4914F6CDD1Dull) >> 32);
}

int goc__ncpu(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0)
            return n;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

/* CPUs allowed by a cgroup quota (v2 cpu.max, else v1), or 0 if none. */
static int cgroup_cpus(void)
{
    long long quota = -1, period = 0;
    FILE *f = fopen("/sys/fs/cgroup/cpu.max", "r");
    if (f) {
        char q[32];
        if (fscanf(f, "%31s %lld", q, &period) == 2 && strcmp(q, "max") != 0)
            quota = atoll(q);
        fclose(f);
    } else if ((f = fopen("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "r"))) {
        if (fscanf(f, "%lld", &quota) != 1)
            quota = -1;
        fclose(f);
        if ((f = fopen("/sys/fs/cgroup/cpu/cpu.cfs_period_us", "r"))) {
            if (fscanf(f, "%lld", &period) != 1)
                period = 0;
            fclose(f);
        }
    }
    if (quota <= 0 || period <= 0)
        return 0;
    return (int)((quota + period - 1) / period);
}

int goc__maxprocs_compute(void)
{
    const char *env = getenv("GOC_MAXPROCS");
    if (env && *env) {
        char *end;
        long v = strtol(env, &end, 10);
        if (*end == 0 && v >= 1 && v <= 1024)
            return (int)v;
        fprintf(stderr, "goc: ignoring GOC_MAXPROCS=%s (want 1..1024)\n", env);
    }
    int n = goc__ncpu();
    int q = cgroup_cpus();
    if (q > 0 && q < n)
        n = q;
    return n;
}

void goc__membarrier_init(void)
{
    goc__membarrier_ok =
        syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
}

/* A full fence on every running thread of the process (or, without
 * membarrier, our own: the Ms then fence on their side). */
void goc__membarrier(void)
{
    if (!goc__membarrier_ok)
        atomic_thread_fence(memory_order_seq_cst);
    else if (syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) != 0)
        goc__fatal("membarrier failed after registration"); /* Ms rely on it */
}
