/*
 * deadlock.c — Go's checkdead: "all goroutines are asleep - deadlock!".
 *
 * The rule. An M about to sleep with no deadline (stopm, or the poll
 * sleeper) calls goc__checkdead under sched.lock. The program is
 * deadlocked, and stops with a dump and exit status 2, only if every one
 * of these holds at that moment:
 *
 *   1. goc_run is waiting for a main goroutine (nrun > 0): a library used
 *      only from plain threads has no program to stop.
 *   2. No goroutine runs: every P is idle, and no M runs goroutine code
 *      without a P (nmsys: sysmon took the P of a long system call).
 *   3. No goroutine is queued: the global queue, every P's runq and
 *      runnext, and the Gs that wait for a stack are empty.
 *   4. No timer is pending (a sleep, a goc_after, a context's deadline may
 *      ready a goroutine), and no goroutine waits on the poller or on the
 *      blocking pool (I/O may arrive, a call may return).
 *   5. No thread outside the runtime lives. A plain thread can take a
 *      goc_mutex, owe a goc_waitgroup_done, hold semaphore units, or send
 *      on a channel at any moment, and the runtime cannot see what it will
 *      do; while one lives, a goroutine blocked on a goc primitive may
 *      still be woken. This covers a thread that holds a goc lock, one
 *      blocked in one (a thread-G parked on a futex), one about to release
 *      one, and one that has not called into goc yet (a library's callback
 *      thread). The threads the runtime owns are the Ms, sysmon, the
 *      blocking pool's threads (goc__owned_threads) and the goc_run callers
 *      blocked until main returns (nrun); the kernel's count of this
 *      process's threads (/proc/self/stat) must not exceed them.
 *      Where /proc cannot be read, no deadlock is reported at all: the
 *      threads that have called into goc (nforeign, registered by the
 *      public calls other than the lock fast paths) are not all the
 *      threads that may, and a false report kills a program.
 *
 * Rule 5 makes the check conservative where threads are mixed in: a
 * program whose plain thread is itself blocked forever is not reported (Go
 * does the same once cgo callbacks are possible). A false report would
 * kill a program that could finish; a missed one leaves a hang that
 * SIGQUIT can dump.
 *
 * Counting only the threads that have called into goc is not enough: a
 * thread whose first goc call is an uncontended goc_mutex_lock holds the
 * mutex without any slow path having seen it, and a thread may owe a
 * goc_waitgroup_done from before its first call (tests/sync/
 * test_threads.c covers each primitive). Hence the kernel's count.
 */
#include "runtime/runtime.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Threads started by goc's layers that wake goroutines only through work
 * counted elsewhere (rule 4): Ms, sysmon, the blocking pool's threads. */
static _Atomic int32_t owned_threads;

void goc__owned_threads_add(int32_t delta)
{
    atomic_fetch_add_explicit(&owned_threads, delta, memory_order_relaxed);
}

/* Threads a sanitizer runtime starts for itself: TSan's background thread
 * starts on the first pthread_create. An upper bound: fewer is fine. */
#if defined(__SANITIZE_THREAD__)
#define SANITIZER_THREADS 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SANITIZER_THREADS 1
#endif
#endif
#ifndef SANITIZER_THREADS
#define SANITIZER_THREADS 0
#endif

/* The process's thread count from /proc/self/stat (field 20), or -1. */
static long process_threads(void)
{
    char buf[1024];
    int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    char *s = strrchr(buf, ')'); /* the command name may hold spaces */
    if (!s)
        return -1;
    /* After ") " come fields 3 (state) .. 20 (num_threads). */
    for (int field = 2; field < 20 && s; field++)
        s = strchr(s + 1, ' ');
    return s ? strtol(s + 1, NULL, 10) : -1;
}

/* Rule 5: true if a thread outside the runtime may still act. sched.lock
 * held (nrun, nforeign). */
static bool outside_thread_lives(void)
{
    if (goc__sched.nforeign > 0)
        return true;
    long n = process_threads();
    if (n < 0)
        return true; /* cannot tell: never kill the program on a guess */
    long owned = atomic_load_explicit(&owned_threads, memory_order_relaxed) + goc__sched.nrun;
    return n > owned + SANITIZER_THREADS;
}

void goc__checkdead(void)
{
    GOC_ASSERT_HELD(&goc__sched.lock);
    if (goc__sched.nrun == 0 || goc__sched.nmsys > 0)
        return;
    if (atomic_load(&goc__sched.npidle) < goc__sched.nprocs)
        return;
    if (atomic_load(&goc__sched.runqsize) > 0 || atomic_load(&goc__sched.ntimers) > 0 ||
        atomic_load(&goc__sched.nstackwait) > 0 || atomic_load(&goc__netpoll_waiters) > 0)
        return;
    for (int32_t i = 0; i < goc__sched.nprocs; i++) {
        if (!goc__runq_empty(goc__sched.allp[i]))
            return;
    }
    if (outside_thread_lives())
        return;
    pthread_mutex_unlock(&goc__sched.lock);
    goc__fatal_dump("all goroutines are asleep - deadlock!");
}
