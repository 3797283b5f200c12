/*
 * util.h — shared helpers for the runtime tests (header-only, all static).
 *
 *  - sanitizer / valgrind detection and scaling of test sizes and timing slack;
 *  - wait-until loops with deadlines (so a runtime bug fails a test instead of
 *    hanging it);
 *  - running a helper executable (tests/runtime/helper_*.c) with its stdout and
 *    stderr captured, for the behaviour that ends a process (fatal errors,
 *    SIGQUIT dumps, misuse).
 */
#ifndef GOC_TESTS_RUNTIME_UTIL_H
#define GOC_TESTS_RUNTIME_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <goc.h>

/* ---- build flavour ----------------------------------------------------- */

#if defined(__SANITIZE_THREAD__)
#define TEST_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TEST_TSAN 1
#endif
#endif
#ifndef TEST_TSAN
#define TEST_TSAN 0
#endif

#if defined(__SANITIZE_ADDRESS__)
#define TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_ASAN 1
#endif
#endif
#ifndef TEST_ASAN
#define TEST_ASAN 0
#endif

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define TEST_HAVE_VALGRIND_H 1
#endif
#endif

/* True when this process runs under valgrind (GOC_VALGRIND ctest runs). */
static inline bool test_on_valgrind(void)
{
#ifdef TEST_HAVE_VALGRIND_H
    return RUNNING_ON_VALGRIND != 0;
#else
    return false;
#endif
}

/* True when instrumentation makes everything much slower. */
static inline bool test_slow_build(void)
{
    return TEST_TSAN || TEST_ASAN || test_on_valgrind();
}

/* Scale a workload size down on slow builds (never below 1). TSan keeps at
 * most a few thousand fibers, so it gets the smallest share. */
static inline long test_scale(long n)
{
    long d = 1;
    if (TEST_TSAN)
        d = 20;
    else if (test_on_valgrind())
        d = 20;
    else if (TEST_ASAN)
        d = 4;
    return n / d > 0 ? n / d : 1;
}

/* Multiplier for "it must happen within X ms" bounds on slow builds. */
static inline int64_t test_slack(void)
{
    return test_slow_build() ? 5 : 1;
}

/* ---- checks inside goroutines ---------------------------------------- */

/* Criterion's cr_assert must not fail on a goroutine stack (it longjmps to
 * the test thread's stack), so goroutines record the first failed check with
 * GO_CHECK and the test thread reports it with GO_CHECK_REPORT() after
 * goc_run returns. */
static char test_fail_msg[2048];
static volatile int test_fail_count;

static inline void test_fail_(const char *file, int line, const char *cond, const char *fmt, ...)
{
    if (__atomic_fetch_add(&test_fail_count, 1, __ATOMIC_SEQ_CST) != 0)
        return;
    char msg[1536];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(test_fail_msg, sizeof test_fail_msg, "%s:%d: check failed: %s: %s", file, line, cond,
             msg);
}

#define GO_CHECK(cond, ...)                                                                        \
    do {                                                                                           \
        if (!(cond))                                                                               \
            test_fail_(__FILE__, __LINE__, #cond, __VA_ARGS__);                                    \
    } while (0)

static inline bool test_failed(void)
{
    return __atomic_load_n(&test_fail_count, __ATOMIC_SEQ_CST) != 0;
}

#define GO_CHECK_REPORT()                                                                          \
    cr_assert(!test_failed(), "%s (%d failed checks)", test_fail_msg,                              \
              __atomic_load_n(&test_fail_count, __ATOMIC_SEQ_CST))

/* ---- keeping work alive ------------------------------------------------ */

/* Make the compiler believe the memory at p is read, so a memset of a stack
 * buffer is really done. */
static inline void test_use_memory(void *p)
{
    __asm__ volatile("" : : "r"(p) : "memory");
}

/* Keep a computed value alive without a data race between goroutines. */
static inline void test_sink(unsigned v)
{
    static atomic_uint sink;
    atomic_store_explicit(&sink, v, memory_order_relaxed);
}

/* ---- time ------------------------------------------------------------- */

static inline int64_t test_ms(int64_t ns)
{
    return ns / 1000000;
}

/* Process CPU time (user + system) in nanoseconds. */
static inline int64_t test_cpu_ns(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ((int64_t)ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000 +
           ((int64_t)ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000;
}

/* Plain-thread millisecond sleep that does not go through goc. */
static inline void test_nap_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Inside a goroutine: wait (yielding, then napping) until *v >= want or
 * timeout_ms passes. Returns whether the value was reached. */
static inline bool go_wait_ge(atomic_long *v, long want, int64_t timeout_ms)
{
    int64_t deadline = goc_now() + timeout_ms * GOC_MILLISECOND * test_slack();
    for (unsigned i = 0;; i++) {
        if (atomic_load(v) >= want)
            return true;
        if (goc_now() > deadline)
            return false;
        if (i % 16 == 15)
            goc_sleep(200 * GOC_MICROSECOND);
        else
            goc_yield();
    }
}

/* ---- helper processes ------------------------------------------------- */

/* Path of a helper executable built from tests/<layer>/helper_<name>.c. */
static inline void test_helper_path(char *buf, size_t n, const char *name)
{
    const char *dir = getenv("GOC_TEST_BINDIR");
#ifdef GOC_HELPER_DIR
    if (dir == NULL || dir[0] == '\0')
        dir = GOC_HELPER_DIR;
#endif
    if (dir == NULL)
        dir = ".";
    snprintf(buf, n, "%s/%s", dir, name);
}

typedef struct test_buf {
    char *data;
    size_t len, cap;
} test_buf;

static inline void test_buf_append(test_buf *b, const char *p, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        b->data = realloc(b->data, cap);
        if (b->data == NULL)
            abort();
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

typedef struct test_proc {
    pid_t pid;
    int out_fd, err_fd; /* -1 once at EOF */
    test_buf out, err;
    int status; /* waitpid status, valid once reaped */
    bool reaped;
    bool timed_out; /* test_proc_finish had to SIGKILL it */
} test_proc;

/* Start helper `name` with argv[1..] = args (NULL-terminated, may be NULL) and
 * the extra "KEY=VALUE" (or "KEY=" to unset) environment entries in env
 * (NULL-terminated, may be NULL). stdin is /dev/null. Returns 0 or -errno. */
static inline int test_proc_start(test_proc *p, const char *name, const char *const *args,
                                  const char *const *env)
{
    extern char **environ;
    char path[4096];
    test_helper_path(path, sizeof path, name);
    memset(p, 0, sizeof *p);
    p->pid = -1;

    const char *argv[32];
    int argc = 0;
    argv[argc++] = path;
    for (int i = 0; args && args[i] && argc < 31; i++)
        argv[argc++] = args[i];
    argv[argc] = NULL;

    /* Build envp in the parent: inherited entries, minus overridden keys. */
    size_t nenv = 0, nextra = 0;
    while (environ[nenv])
        nenv++;
    while (env && env[nextra])
        nextra++;
    char **envp = calloc(nenv + nextra + 1, sizeof *envp);
    if (envp == NULL)
        return -ENOMEM;
    size_t k = 0;
    for (size_t i = 0; i < nenv; i++) {
        bool overridden = false;
        for (size_t j = 0; j < nextra; j++) {
            size_t klen = strcspn(env[j], "=") + 1;
            if (strncmp(environ[i], env[j], klen) == 0)
                overridden = true;
        }
        if (!overridden)
            envp[k++] = environ[i];
    }
    for (size_t j = 0; j < nextra; j++)
        if (env[j][strlen(env[j]) - 1] != '=')
            envp[k++] = (char *)env[j];
    envp[k] = NULL;

    int out[2], err[2];
    if (pipe2(out, O_CLOEXEC) != 0) {
        free(envp);
        return -errno;
    }
    if (pipe2(err, O_CLOEXEC) != 0) {
        close(out[0]);
        close(out[1]);
        free(envp);
        return -errno;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(out[0]);
        close(out[1]);
        close(err[0]);
        close(err[1]);
        free(envp);
        return -e;
    }
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0)
            dup2(devnull, 0);
        dup2(out[1], 1);
        dup2(err[1], 2);
        /* Criterion or the runtime may have blocked signals in the parent. */
        sigset_t all;
        sigemptyset(&all);
        sigprocmask(SIG_SETMASK, &all, NULL);
        signal(SIGQUIT, SIG_DFL);
        execve(path, (char *const *)argv, envp);
        dprintf(2, "exec %s: %s\n", path, strerror(errno));
        _exit(127);
    }
    free(envp);
    close(out[1]);
    close(err[1]);
    p->pid = pid;
    p->out_fd = out[0];
    p->err_fd = err[0];
    return 0;
}

/* Read whatever is available within timeout_ms (<0: block). Returns false on
 * timeout with nothing read and both pipes still open. */
static inline bool test_proc_pump(test_proc *p, int timeout_ms)
{
    struct pollfd fds[2];
    int n = 0;
    if (p->out_fd >= 0)
        fds[n++] = (struct pollfd){.fd = p->out_fd, .events = POLLIN};
    if (p->err_fd >= 0)
        fds[n++] = (struct pollfd){.fd = p->err_fd, .events = POLLIN};
    if (n == 0)
        return true;
    int r = poll(fds, n, timeout_ms);
    if (r <= 0)
        return false;
    for (int i = 0; i < n; i++) {
        if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
            continue;
        char chunk[8192];
        ssize_t got = read(fds[i].fd, chunk, sizeof chunk);
        bool is_out = fds[i].fd == p->out_fd;
        if (got > 0) {
            test_buf_append(is_out ? &p->out : &p->err, chunk, (size_t)got);
        } else if (got == 0 || (got < 0 && errno != EINTR && errno != EAGAIN)) {
            close(fds[i].fd);
            if (is_out)
                p->out_fd = -1;
            else
                p->err_fd = -1;
        }
    }
    return true;
}

/* Wait until the helper's stdout contains `what`. False on timeout or EOF. */
static inline bool test_proc_wait_output(test_proc *p, const char *what, int timeout_ms)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        if (p->out.data && strstr(p->out.data, what))
            return true;
        if (p->out_fd < 0)
            return false;
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        long el = (t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000;
        if (el >= timeout_ms)
            return false;
        test_proc_pump(p, (int)(timeout_ms - el));
    }
}

/* Read both pipes to EOF and reap the helper, killing it (SIGKILL) if it has
 * not exited within timeout_ms. */
static inline void test_proc_finish(test_proc *p, int timeout_ms)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        if (!p->reaped) {
            pid_t r = waitpid(p->pid, &p->status, WNOHANG);
            if (r == p->pid)
                p->reaped = true;
        }
        if (p->reaped && p->out_fd < 0 && p->err_fd < 0)
            break;
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        long el = (t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000;
        if (el >= timeout_ms && !p->timed_out) {
            p->timed_out = true;
            kill(p->pid, SIGKILL);
        }
        if (p->reaped) {
            /* Exited: drain what is left (grandchildren could hold the pipe;
             * don't wait on them for long). */
            if (!test_proc_pump(p, 200)) {
                if (p->out_fd >= 0)
                    close(p->out_fd);
                if (p->err_fd >= 0)
                    close(p->err_fd);
                p->out_fd = p->err_fd = -1;
            }
        } else {
            test_proc_pump(p, 20);
        }
    }
    if (p->out.data == NULL)
        test_buf_append(&p->out, "", 0);
    if (p->err.data == NULL)
        test_buf_append(&p->err, "", 0);
}

static inline void test_proc_free(test_proc *p)
{
    free(p->out.data);
    free(p->err.data);
    memset(&p->out, 0, sizeof p->out);
    memset(&p->err, 0, sizeof p->err);
}

/* Run a helper to completion. Returns 0 or -errno from starting it. */
static inline int test_run_helper(test_proc *p, const char *name, const char *const *args,
                                  const char *const *env, int timeout_ms)
{
    int r = test_proc_start(p, name, args, env);
    if (r == 0)
        test_proc_finish(p, timeout_ms);
    return r;
}

/* Human-readable description of a wait status, for assertion messages. */
static inline const char *test_status_str(int status, char *buf, size_t n)
{
    if (WIFEXITED(status))
        snprintf(buf, n, "exited with status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(buf, n, "killed by signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
    else
        snprintf(buf, n, "wait status 0x%x", status);
    return buf;
}

/* ---- running a test's goroutines ---------------------------------------- */

/* goc_run, then report the first failed GO_CHECK of its goroutines. */
static inline int run_main(int (*fn)(void *), void *arg)
{
    int r = goc_run(fn, arg);
    GO_CHECK_REPORT();
    return r;
}

/* goc_go that records a failed spawn as a failed check. */
#define GO_SPAWN(fn, arg)                                                                          \
    do {                                                                                           \
        int spawn_r_ = goc_go((fn), (void *)(arg));                                                \
        GO_CHECK(spawn_r_ == 0, "goc_go(%s): %s", #fn, goc_strerror(spawn_r_));                    \
    } while (0)

static inline pthread_t start_thread(void *(*fn)(void *), void *arg)
{
    pthread_t t;
    if (pthread_create(&t, NULL, fn, arg) != 0)
        abort();
    return t;
}

/* A goroutine that naps in a loop keeps a timer pending, so the deadlock
 * detector never fires. Tests about a primitive use it so that a lost
 * wake-up fails their own deadline check with a message, not a deadlock
 * dump; tests/sync/test_threads.c tests the detector with plain threads. */
static inline atomic_int *keepalive_flag(void)
{
    static atomic_int stop;
    return &stop;
}

static inline void keepalive_fn(void *arg)
{
    (void)arg;
    while (!atomic_load(keepalive_flag()))
        goc_sleep(2 * GOC_MILLISECOND);
}

static inline void keepalive_start(void)
{
    atomic_store(keepalive_flag(), 0);
    GO_SPAWN(keepalive_fn, NULL);
}

static inline void keepalive_end(void)
{
    atomic_store(keepalive_flag(), 1);
}

#endif /* GOC_TESTS_RUNTIME_UTIL_H */
