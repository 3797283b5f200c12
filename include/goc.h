/*
 * goc.h — Go's concurrency model in C: the whole public API of libgoc.
 *
 * Conventions (stated once, true of every function below):
 *  - A function that can fail returns int (or ssize_t): >= 0 on success, a
 *    negative errno value on failure (-ENOMEM, -EINVAL, ...). goc_strerror()
 *    names it. The library never reports through errno.
 *  - Durations are goc_duration: int64_t nanoseconds. GOC_FOREVER (negative)
 *    means "no timeout".
 *  - "Goroutine only" functions must be called from a goroutine (code started
 *    by goc_run or goc_go); called from any other thread they stop the program
 *    with a message naming the call. Every other function may be called from
 *    any thread, including threads the runtime did not create.
 *  - Misuse that Go answers with a panic stops the program with a message that
 *    names the goroutine and the call, exit status 2.
 */
#ifndef GOC_H
#define GOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(GOC_BUILDING) && defined(__GNUC__)
#define GOC_API __attribute__((visibility("default")))
#else
#define GOC_API
#endif

/* ---- time ------------------------------------------------------------- */

typedef int64_t goc_duration; /* nanoseconds */

#define GOC_NANOSECOND  ((goc_duration)1)
#define GOC_MICROSECOND ((goc_duration)1000)
#define GOC_MILLISECOND ((goc_duration)1000000)
#define GOC_SECOND      ((goc_duration)1000000000)
#define GOC_MINUTE      ((goc_duration)60 * GOC_SECOND)
#define GOC_HOUR        ((goc_duration)60 * GOC_MINUTE)
#define GOC_FOREVER     ((goc_duration)-1)

/* Monotonic clock in nanoseconds (CLOCK_MONOTONIC). Any thread. */
GOC_API int64_t goc_now(void);

/* Park the calling goroutine for at least d (d <= 0 returns at once, after a
 * yield). Goroutine or plain thread: a plain thread just sleeps. */
GOC_API void goc_sleep(goc_duration d);

/* ---- runtime ---------------------------------------------------------- */

/* Start the runtime (if it is not running yet) with goc_maxprocs() workers,
 * run main_fn(arg) as a goroutine and block the calling thread until it
 * returns; return its result. Goroutines still alive when main_fn returns are
 * abandoned: goc_run does not wait for them (the process exit ends them, as
 * when a Go program's main returns). Call from a plain thread, not from a
 * goroutine (-EDEADLK). Returns -EINVAL if main_fn is NULL, -ENOMEM, or
 * -EAGAIN if the runtime could not start its threads. */
GOC_API int goc_run(int (*main_fn)(void *arg), void *arg);

/* Spawn fn(arg) as a new goroutine. Any thread; starts the runtime if
 * needed. Returns 0, -EINVAL if fn is NULL, -ENOMEM if no stack or
 * goroutine could be allocated (the runtime keeps working). arg is passed as
 * is: it must stay valid for as long as fn uses it. */
GOC_API int goc_go(void (*fn)(void *arg), void *arg);

/* Options for goc_go_with. The zero value means "defaults". */
typedef struct goc_go_opts {
    size_t stack_size; /* bytes; 0: goc_default_stack_size(). Rounded up to
                          whole pages, at least 16 KiB. */
    const char *name;  /* shown in goroutine dumps; must be a string that
                          outlives the goroutine (a literal); NULL: none */
    uint64_t *id;      /* out, if not NULL: the new goroutine's id */
} goc_go_opts;

/* goc_go with options. Same errors as goc_go, plus -EINVAL for a stack size
 * above 1 GiB. */
GOC_API int goc_go_with(void (*fn)(void *arg), void *arg, const goc_go_opts *opts);

/* runtime.Gosched: let other goroutines run; the caller stays runnable.
 * Goroutine or plain thread (sched_yield). */
GOC_API void goc_yield(void);

/* runtime.Goexit: end the calling goroutine. Goroutine only. Ending the
 * main goroutine of goc_run this way makes goc_run return 0. */
GOC_API _Noreturn void goc_exit(void);

/* The number of Ps (goroutines running at once): GOC_MAXPROCS from the
 * environment if set (1..1024), else the CPUs this process may use (the
 * affinity mask, capped by a cgroup CPU quota). Fixed when the runtime
 * starts. Any thread. */
GOC_API int goc_maxprocs(void);

/* Goroutines that exist now (runnable, running or blocked). Any thread. */
GOC_API size_t goc_numgoroutine(void);

/* The calling goroutine's id (1 for the first goc_run's main), or 0 on a thread that
 * is not a goroutine. Ids are never reused. */
GOC_API uint64_t goc_id(void);

/* The default stack size for new goroutines: GOC_STACK_SIZE from the
 * environment (bytes, with optional k/m suffix) if set, else 256 KiB. Stacks
 * are committed lazily: a goroutine that touches one page costs one page. */
GOC_API size_t goc_default_stack_size(void);

/* Counters a program can read at any time (a consistent-enough snapshot:
 * each field is read atomically, the set is not). */
typedef struct goc_stats {
    uint64_t goroutines;         /* alive now */
    uint64_t goroutines_created; /* since start */
    uint64_t maxprocs;           /* Ps */
    uint64_t threads;            /* worker threads (Ms) created */
    uint64_t idle_procs;         /* Ps with nothing to run now */
    uint64_t context_switches;   /* goroutine switches */
    uint64_t steals;             /* successful run-queue steals */
    uint64_t retakes;            /* Ps handed off from a stuck worker */
    uint64_t timers;             /* timers pending */
    uint64_t stacks_mapped;      /* goroutine stacks mapped now */
    uint64_t stacks_unguarded;   /* of those, without a guard page */
    uint64_t stack_bytes_mapped; /* virtual bytes of those stacks */
} goc_stats;

/* Fill *st. Any thread; st must not be NULL. */
GOC_API void goc_read_stats(goc_stats *st);

/* Write every goroutine (id, state, what it waits on, backtrace) to fd, as
 * SIGQUIT does. Any thread. Returns 0. */
GOC_API int goc_dump(int fd);

/* ---- errors ----------------------------------------------------------- */

/* A message for a negative (or positive) errno value returned by goc.
 * Never NULL; the string is static. Any thread. */
GOC_API const char *goc_strerror(int err);

#ifdef __cplusplus
}
#endif
#endif /* GOC_H */
