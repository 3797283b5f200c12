/*
 * bench.h — helpers shared by the goc benchmarks (header only: every
 * bench/<name>.c is its own executable, so there is no library to link).
 *
 * Output protocol, shared with the Go twins in bench/go/ and parsed by
 * bench/run.sh: each measured quantity is one line
 *
 *     RESULT name=<row> unit=<ops/s|ns/op|ms|us|KiB> value=<number>
 *
 * on stdout. Anything else a program prints starts with "# " and is for
 * humans only.
 */
#ifndef GOC_BENCH_H
#define GOC_BENCH_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>

/* Print one machine-readable result line and flush it at once, so that it
 * survives a crash later in the program. */
static inline void bench_result(const char *name, const char *unit, double value)
{
    printf("RESULT name=%s unit=%s value=%.3f\n", name, unit, value);
    fflush(stdout);
}

/* Print a "# ..." note for humans. */
static inline void bench_note(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("# ", stdout);
    vprintf(fmt, ap);
    fputc('\n', stdout);
    fflush(stdout);
    va_end(ap);
}

/* Stop the benchmark with a message on stderr and exit status 1. */
static inline _Noreturn void bench_die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

/* The workload size: argv[1] if given (a positive integer, handy for a quick
 * try at a smaller size), else dflt. run.sh never passes it. */
static inline long bench_count(int argc, char **argv, long dflt)
{
    if (argc < 2)
        return dflt;
    char *end;
    long n = strtol(argv[1], &end, 10);
    if (*end != '\0' || n <= 0)
        bench_die("usage: %s [count]  (count: a positive integer)", argv[0]);
    return n;
}

/* main's usual body: the count from argv (see bench_count), then
 * bench_main(&count) as goc_run's main goroutine. */
static inline int bench_run(int argc, char **argv, long dflt, int (*bench_main)(void *))
{
    long n = bench_count(argc, argv, dflt);
    int rc = goc_run(bench_main, &n);
    if (rc < 0)
        bench_die("goc_run: %s", goc_strerror(rc));
    return rc;
}

/* The resident set size of this process in KiB (VmRSS in
 * /proc/self/status), or -1 if it cannot be read. */
static inline long bench_rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (f == NULL)
        return -1;
    char line[256];
    long kib = -1;
    while (fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kib = strtol(line + 6, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kib;
}

/* SplitMix64: a tiny, well-mixed PRNG whose exact sequence the Go twins
 * reproduce, so both sides sleep for the very same durations. */
static inline uint64_t bench_splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/* Listen on an ephemeral loopback TCP port and write "127.0.0.1:PORT" to
 * addr (cap bytes); the listening fd. Dies on failure. For the network
 * benchmarks (include <goc.h> first). */
#ifdef GOC_H
static inline int bench_listen_loopback(char *addr, size_t cap)
{
    int lfd = goc_listen("tcp", "127.0.0.1:0");
    if (lfd < 0)
        bench_die("goc_listen: %s", goc_strerror(lfd));
    struct sockaddr_in sin;
    socklen_t len = sizeof sin;
    if (getsockname(lfd, (struct sockaddr *)&sin, &len) < 0)
        bench_die("getsockname failed");
    snprintf(addr, cap, "127.0.0.1:%d", ntohs(sin.sin_port));
    return lfd;
}
#endif

/* Raise the soft fd limit for n connections of 2 fds each plus spare;
 * return how many connections fit (fewer, with a note naming row, when
 * the hard limit is lower). Never touches the hard limit. */
static inline long bench_fit_fd_limit(const char *row, long n, long spare)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        bench_die("getrlimit(RLIMIT_NOFILE) failed");
    rlim_t want = (rlim_t)(2 * n + spare);
    if (rl.rlim_cur < want) {
        rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want ? want : rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
            bench_die("setrlimit(RLIMIT_NOFILE, %llu) failed", (unsigned long long)rl.rlim_cur);
    }
    if (rl.rlim_cur < want) {
        long fit = ((long)rl.rlim_cur - spare) / 2;
        if (fit < 1)
            bench_die("RLIMIT_NOFILE %llu leaves no room for connections",
                      (unsigned long long)rl.rlim_cur);
        bench_note("%s: the hard RLIMIT_NOFILE (%llu) allows %ld connections, not %ld: "
                   "scaled down (raise it with ulimit -Hn as root for the full count)",
                   row, (unsigned long long)rl.rlim_max, fit, n);
        n = fit;
    }
    return n;
}

/* User + system CPU time of this process so far, in milliseconds. */
static inline double bench_cpu_ms(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
           (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

#endif /* GOC_BENCH_H */
