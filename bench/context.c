/*
 * context — create a tree of 100,000 cancellable contexts and cancel it
 * from the root, 10 times; report contexts/s.
 *
 * Each round: a root goc_ctx_with_cancel(background), then 100,000
 * descendants, each goc_ctx_with_cancel of node (i-1)/10 (a tree of fanout
 * 10, five levels deep), then goc_ctx_cancel(root), which must reach every
 * one of them; then every context is released. The clock covers creation,
 * the cancel and the releases (Go's twin has the garbage collector do the
 * last part); checking that every node was cancelled is not timed.
 *
 * Twin: bench/go/context/main.go (context.WithCancel). Row: context, ops/s
 * in contexts created and cancelled per second (higher is better).
 */
#include <errno.h>
#include <goc.h>

#include "bench.h"

#define DEFAULT_COUNT 100000L
#define ROUNDS        10
#define FANOUT        10

static int bench_main(void *arg)
{
    long n = *(const long *)arg;
    goc_ctx **node = malloc((size_t)(n + 1) * sizeof *node);
    if (!node)
        bench_die("out of memory");

    int64_t elapsed = 0;
    for (int round = 0; round < ROUNDS; round++) {
        int64_t start = goc_now();
        node[0] = goc_ctx_with_cancel(goc_ctx_background());
        for (long i = 1; i <= n; i++)
            if (!(node[i] = goc_ctx_with_cancel(node[(i - 1) / FANOUT])))
                bench_die("goc_ctx_with_cancel: out of memory at %ld", i);
        goc_ctx_cancel(node[0]);
        elapsed += goc_now() - start;

        for (long i = 0; i <= n; i++)
            if (goc_ctx_err(node[i]) != -ECANCELED)
                bench_die("context: node %ld not cancelled (err %d)", i, goc_ctx_err(node[i]));

        start = goc_now();
        for (long i = n; i >= 0; i--)
            goc_ctx_release(node[i]);
        elapsed += goc_now() - start;
    }
    free(node);
    bench_note("context: %d rounds of %ld contexts in %.1f ms", ROUNDS, n + 1, elapsed / 1e6);
    bench_result("context", "ops/s", (double)ROUNDS * (double)(n + 1) * 1e9 / (double)elapsed);
    return 0;
}

int main(int argc, char **argv)
{
    return bench_run(argc, argv, DEFAULT_COUNT, bench_main);
}
