/*
 * fanout.c — goroutines at work: fan out 100,000 workers that each sleep
 * a random 10-1000 ms (standing in for I/O) and then do a little CPU work,
 * while main prints the runtime's live statistics every 100 ms.
 *
 *   make run                 (or: build/examples/fanout [workers])
 *   GOC_MAXPROCS=1 build/examples/fanout
 */
#include <goc.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

static atomic_long done;
static atomic_ullong checksum;

/* A worker: "wait for I/O", then compute something small. */
static void worker(void *arg)
{
    uintptr_t id = (uintptr_t)arg;
    uint64_t x = id * 0x9E3779B97F4A7C15ull;
    goc_sleep((goc_duration)(10 + x % 991) * GOC_MILLISECOND);
    for (int i = 0; i < 1000; i++)
        x = x * 6364136223846793005ull + 1442695040888963407ull;
    atomic_fetch_add(&checksum, x);
    atomic_fetch_add(&done, 1);
}

static void print_stats(int64_t start, long n)
{
    goc_stats st;
    goc_read_stats(&st);
    printf("%6.0f ms  done %6ld/%ld  alive %6llu  threads %llu  idle Ps %llu/%llu  "
           "switches %9llu  stacks %6llu (%llu MiB virtual)\n",
           (double)(goc_now() - start) / 1e6, atomic_load(&done), n,
           (unsigned long long)st.goroutines, (unsigned long long)st.threads,
           (unsigned long long)st.idle_procs, (unsigned long long)st.maxprocs,
           (unsigned long long)st.context_switches, (unsigned long long)st.stacks_mapped,
           (unsigned long long)(st.stack_bytes_mapped >> 20));
}

static int main_fn(void *arg)
{
    long n = *(long *)arg;
    int64_t start = goc_now();
    printf("goc: %d Ps, spawning %ld goroutines\n", goc_maxprocs(), n);
    for (long i = 0; i < n; i++) {
        int rc = goc_go(worker, (void *)(uintptr_t)i);
        if (rc < 0) {
            fprintf(stderr, "goc_go: %s\n", goc_strerror(rc));
            return 1;
        }
    }
    while (atomic_load(&done) < n) {
        print_stats(start, n);
        goc_sleep(100 * GOC_MILLISECOND);
    }
    print_stats(start, n);
    printf("all %ld workers finished in %.0f ms (checksum %016llx)\n", n,
           (double)(goc_now() - start) / 1e6, (unsigned long long)atomic_load(&checksum));
    return 0;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 100000;
    if (n <= 0) {
        fprintf(stderr, "usage: %s [workers > 0]\n", argv[0]);
        return 2;
    }
    int rc = goc_run(main_fn, &n);
    return rc < 0 ? 1 : rc;
}
