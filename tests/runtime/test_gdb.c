/*
 * test_gdb.c — tools/gdb/goc-gdb.py: gdb lists goc's goroutines and
 * unwinds the parked ones (`info goroutines`, `goroutine N bt`).
 *
 * gdb starts helper_gdb itself (no ptrace attach, so a restrictive
 * ptrace_scope does not matter) and stops at its gdb_ready() breakpoint,
 * once three named goroutines are parked on a channel receive, a
 * goc_mutex and a goc_sleep. The script must list them with their wait
 * reasons and names, unwind each into the helper's function that parked,
 * show the main goroutine running on the stopped thread, and leave that
 * thread's registers as they were (the helper then exits normally). The
 * same from a core file that gdb writes there (its registers cannot be
 * written: the script's other way of unwinding), and with helper_gdb
 * linked against libgoc.so, for which gdb auto-loads the copy of the
 * script beside the build's libgoc.so.
 *
 * Skipped when gdb is missing, has no Python or may not trace, and under
 * valgrind; the core file is skipped under the sanitizers.
 */
#include <criterion/criterion.h>
#include <sys/stat.h>

#include "runtime/util.h"

#define GDB_TIMEOUT_MS 45000

/* The script in the source tree: this file is tests/runtime/test_gdb.c. */
static void script_path(char *buf, size_t n)
{
    const char *me = __FILE__;
    const char *tail = strstr(me, "tests/runtime/test_gdb.c");
    int dirlen = tail ? (int)(tail - me) : 0;
    snprintf(buf, n, "%.*stools/gdb/goc-gdb.py", dirlen, me);
}

static bool have_gdb(void)
{
    const char *path = getenv("PATH");
    char dir[4096];
    for (const char *p = path ? path : "/usr/bin:/bin"; *p;) {
        size_t len = strcspn(p, ":");
        snprintf(dir, sizeof dir, "%.*s/gdb", (int)len, p);
        if (access(dir, X_OK) == 0)
            return true;
        p += len;
        if (*p == ':')
            p++;
    }
    return false;
}

/* Run gdb with argv (argv[0] is "gdb"), stdout and stderr captured
 * together in p->out. The environment is inherited (GOC_MAXPROCS).
 * Returns false if gdb had to be killed. */
static bool run_gdb_nocheck(test_proc *p, const char *const *argv)
{
    memset(p, 0, sizeof *p);
    p->err_fd = -1;
    int out[2];
    cr_assert_eq(pipe2(out, O_CLOEXEC), 0);
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0)
            dup2(devnull, 0);
        dup2(out[1], 1);
        dup2(out[1], 2);
        sigset_t all;
        sigemptyset(&all);
        sigprocmask(SIG_SETMASK, &all, NULL);
        /* Smaller cores: no 64 MiB malloc arena per thread. */
        setenv("MALLOC_ARENA_MAX", "1", 1);
        if (TEST_ASAN) { /* LeakSanitizer cannot run under ptrace */
            const char *o = getenv("ASAN_OPTIONS");
            char opts[1024];
            snprintf(opts, sizeof opts, "%s%sdetect_leaks=0", o ? o : "", o && *o ? ":" : "");
            setenv("ASAN_OPTIONS", opts, 1);
        }
        execvp("gdb", (char *const *)argv);
        dprintf(2, "exec gdb: %s\n", strerror(errno));
        _exit(127);
    }
    close(out[1]);
    p->pid = pid;
    p->out_fd = out[0];
    test_proc_finish(p, GDB_TIMEOUT_MS);
    return !p->timed_out;
}

static void run_gdb(test_proc *p, const char *const *argv)
{
    cr_assert(run_gdb_nocheck(p, argv), "gdb hung:\n%s", p->out.data ? p->out.data : "");
}

/* gdb could not run the program, or not run the script: skip, naming why
 * (only for environment problems: anything else fails the test). */
static void skip_if_gdb_cannot(const char *out)
{
    if (strstr(out, "Python scripting is not supported"))
        cr_skip_test("this gdb has no Python");
    if (!strstr(out, "Breakpoint 1, ") &&
        (strstr(out, "ptrace: Operation not permitted") ||
         strstr(out, "Couldn't get registers: Operation not permitted") ||
         strstr(out, "Could not trace the inferior process")))
        cr_skip_test("gdb may not trace here (ptrace denied):\n%s", out);
}

/* The text between the marker line "@@name" and the next "@@". */
static char *section(const char *out, const char *name)
{
    char mark[64];
    snprintf(mark, sizeof mark, "@@%s\n", name);
    const char *s = strstr(out, mark);
    if (!s)
        return strdup("");
    s += strlen(mark);
    const char *e = strstr(s, "@@");
    return strndup(s, e ? (size_t)(e - s) : strlen(s));
}

/* The line of listing that contains needle (a goroutine's name). */
static char *line_with(const char *listing, const char *needle)
{
    const char *s = strstr(listing, needle);
    if (!s)
        return strdup("");
    const char *b = s;
    while (b > listing && b[-1] != '\n')
        b--;
    size_t n = strcspn(b, "\n");
    return strndup(b, n);
}

/* `info goroutines` lists the three parked goroutines and main. */
static void check_listing(const char *out, const char *listing)
{
    static const char *const want[][3] = {
        {"chan-waiter", "chan receive", "parked_on_chan"},
        {"mutex-waiter", "sync.Mutex.Lock", "parked_on_mutex"},
        {"sleeper", "sleep", "parked_in_sleep"},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        char *l = line_with(listing, want[i][0]);
        cr_expect(strstr(l, "waiting") && strstr(l, want[i][1]) && strstr(l, want[i][2]),
                  "no line \"waiting %s %s %s\" in info goroutines:\n%s\nfull output:\n%s",
                  want[i][1], want[i][0], want[i][2], listing, out);
        free(l);
    }
    /* main is running on the thread stopped at the breakpoint: marked. */
    char *l = line_with(listing, " main ");
    cr_expect(l[0] == '*' && strstr(l, "running") && strstr(l, "[thread "),
              "main not marked running on the selected thread:\n%s\nfull output:\n%s", listing,
              out);
    free(l);
}

/* Each parked goroutine's backtrace reaches the function that parked. */
static void check_all_bt(const char *out, const char *all, bool live)
{
    static const char *const want[][2] = {
        {"[chan receive] \"chan-waiter\":", "parked_on_chan"},
        {"[sync.Mutex.Lock] \"mutex-waiter\":", "parked_on_mutex"},
        {"[sleep] \"sleeper\":", "parked_in_sleep"},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const char *h = strstr(all, want[i][0]);
        cr_expect(h, "no header %s in goroutine all bt:\n%s", want[i][0], out);
        if (!h)
            continue;
        const char *next = strstr(h + 1, "\ngoroutine ");
        char *bt = strndup(h, next ? (size_t)(next - h) : strlen(h));
        cr_expect(strstr(bt, want[i][1]) && strstr(bt, "goc__ctx_start"),
                  "backtrace of %s lacks %s or goc__ctx_start:\n%s\nfull output:\n%s", want[i][0],
                  want[i][1], bt, out);
        free(bt);
    }
    if (live) /* main: on its thread, stopped in gdb_ready */
        cr_expect(strstr(all, "is running on thread") && strstr(all, "gdb_ready"),
                  "main's backtrace missing in goroutine all bt:\n%s", out);
}

static void check_chan_bt(const char *out, const char *bt)
{
    cr_expect(strstr(bt, "goroutine ") && strstr(bt, "[chan receive] \"chan-waiter\":"),
              "goroutine gdb_chan_id bt: no header:\n%s", out);
    cr_expect(strstr(bt, "in parked_on_chan (") && strstr(bt, "helper_gdb.c"),
              "goroutine gdb_chan_id bt does not reach parked_on_chan:\n%s", out);
    cr_expect(strstr(bt, "chan_recv") || strstr(bt, "goc_chan_recv"),
              "goroutine gdb_chan_id bt: no channel frame:\n%s", out);
}

/* No error escaped the script (gdb goes on to the next -ex after one). */
static void check_no_python_error(const char *out)
{
    cr_expect_null(strstr(out, "Python Exception"), "an error escaped the script:\n%s", out);
}

/* Common start of a test: the paths, or a skip. */
static void setup(char *script, char *helper, size_t n, const char *helper_name)
{
    if (test_on_valgrind())
        cr_skip_test("under valgrind, gdb itself would run on valgrind's CPU");
    if (!have_gdb())
        cr_skip_test("gdb is not installed (tools/deps.sh test installs it)");
    script_path(script, n);
    cr_assert_eq(access(script, R_OK), 0, "no script at %s", script);
    test_helper_path(helper, n, helper_name);
}

#define GDB_ARGS(...)                                                                              \
    {                                                                                              \
        "gdb", "-batch", "-nx", "-ex", "set pagination off", "-ex", "set width 0", __VA_ARGS__,    \
            NULL                                                                                   \
    }

Test(gdb, parked_goroutines_live, .timeout = 60)
{
    char script[4096], helper[4096], src[4200];
    setup(script, helper, sizeof script, "helper_gdb");
    snprintf(src, sizeof src, "source %s", script);
    const char *argv[] =
        GDB_ARGS("-ex", src, "-ex", "break gdb_ready", "-ex", "run", "-ex", "echo @@list\\n", "-ex",
                 "info goroutines", "-ex", "echo @@chan\\n", "-ex", "goroutine gdb_chan_id bt",
                 "-ex", "echo @@all\\n", "-ex", "goroutine all bt", "-ex", "echo @@after\\n", "-ex",
                 "bt 1", "-ex", "echo @@resume\\n", "-ex", "goroutine gdb_chan_id continue", "-ex",
                 "echo @@cont\\n", "-ex", "continue", "-ex", "echo @@end\\n", "--args", helper);
    test_proc p;
    run_gdb(&p, argv);
    const char *out = p.out.data ? p.out.data : "";
    skip_if_gdb_cannot(out);
    cr_assert(strstr(out, "Breakpoint 1, ") && strstr(out, "gdb_ready"),
              "gdb did not stop at gdb_ready:\n%s", out);
    check_no_python_error(out);

    char *listing = section(out, "list");
    check_listing(out, listing);
    char *chan = section(out, "chan");
    check_chan_bt(out, chan);
    char *all = section(out, "all");
    check_all_bt(out, all, true);
    /* The thread's registers are back: its newest frame is gdb_ready, and
     * the program runs on to its normal exit. */
    char *after = section(out, "after");
    cr_expect(strstr(after, "#0  gdb_ready"),
              "registers not restored, bt 1 after the goroutine commands:\n%s", out);
    char *resume = section(out, "resume");
    cr_expect(strstr(resume, "would resume the program"),
              "goroutine N continue was not refused:\n%s", out);
    char *cont = section(out, "cont");
    cr_expect(strstr(cont, "exited normally"), "the helper did not exit normally:\n%s", out);
    free(listing);
    free(chan);
    free(all);
    free(after);
    free(resume);
    free(cont);
    test_proc_free(&p);
}

/* A core file's registers cannot be written: the script unwinds the
 * goroutines another way there. */
Test(gdb, parked_goroutines_in_core, .timeout = 60)
{
    if (TEST_ASAN || TEST_TSAN)
        cr_skip_test("a sanitizer's shadow memory makes a core file of many GiB");
    char script[4096], helper[4096], src[4200];
    setup(script, helper, sizeof script, "helper_gdb");
    snprintf(src, sizeof src, "source %s", script);
    const char *tmp = getenv("TMPDIR");
    char dir[4096], core[4200], gcore[4300];
    snprintf(dir, sizeof dir, "%s/goc-test-gdb-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    cr_assert(mkdtemp(dir), "mkdtemp %s: %s", dir, strerror(errno));
    snprintf(core, sizeof core, "%s/core", dir);
    snprintf(gcore, sizeof gcore, "gcore %s", core);

    const char *argv[] =
        GDB_ARGS("-ex", "break gdb_ready", "-ex", "run", "-ex", gcore, "--args", helper);
    test_proc p;
    bool ok = run_gdb_nocheck(&p, argv);
    struct stat st;
    bool have_core = stat(core, &st) == 0;
    if (!ok || !have_core) {
        unlink(core);
        rmdir(dir);
    }
    const char *out = p.out.data ? p.out.data : "";
    cr_assert(ok, "gdb hung:\n%s", out);
    skip_if_gdb_cannot(out);
    cr_assert(have_core, "gcore wrote no %s:\n%s", core, out);
    test_proc_free(&p);

    const char *cargv[] =
        GDB_ARGS("-ex", src, "-ex", "echo @@list\\n", "-ex", "info goroutines", "-ex",
                 "echo @@chan\\n", "-ex", "goroutine gdb_chan_id bt", "-ex", "echo @@all\\n", "-ex",
                 "goroutine all bt", "-ex", "echo @@end\\n", helper, core);
    ok = run_gdb_nocheck(&p, cargv);
    unlink(core);
    rmdir(dir);
    out = p.out.data ? p.out.data : "";
    cr_assert(ok, "gdb hung:\n%s", out);
    check_no_python_error(out);
    char *listing = section(out, "list");
    check_listing(out, listing);
    char *chan = section(out, "chan");
    check_chan_bt(out, chan);
    /* Frame 0 is the thread's, left out: the goroutine's start at #1. */
    cr_expect(strstr(chan, "#1  ") && !strstr(chan, "#0  "),
              "core: goroutine bt should start at #1:\n%s", out);
    char *all = section(out, "all");
    check_all_bt(out, all, false);
    free(listing);
    free(chan);
    free(all);
    test_proc_free(&p);
}

Test(gdb, shared_library_autoloads_script, .timeout = 60)
{
    char script[4096], helper[4096];
    setup(script, helper, sizeof script, "helper_gdb_shared");
    if (access(helper, X_OK) != 0)
        cr_skip_test("no %s (built by cmake/gdb.cmake)", helper);
    /* No `source`: gdb must find libgoc.so.<version>-gdb.py beside the
     * build's libgoc.so, once it trusts the directory. */
    const char *argv[] =
        GDB_ARGS("-iex", "set auto-load safe-path /", "-ex", "break gdb_ready", "-ex", "run", "-ex",
                 "echo @@list\\n", "-ex", "info goroutines", "-ex", "echo @@chan\\n", "-ex",
                 "goroutine gdb_chan_id bt", "-ex", "echo @@end\\n", "--args", helper);
    test_proc p;
    run_gdb(&p, argv);
    const char *out = p.out.data ? p.out.data : "";
    skip_if_gdb_cannot(out);
    cr_assert(strstr(out, "Breakpoint 1, ") && strstr(out, "gdb_ready"),
              "gdb did not stop at gdb_ready:\n%s", out);
    cr_assert_null(strstr(out, "Undefined info command"),
                   "the script was not auto-loaded with libgoc.so:\n%s", out);
    char *listing = section(out, "list");
    check_listing(out, listing);
    char *chan = section(out, "chan");
    check_chan_bt(out, chan);
    free(listing);
    free(chan);
    test_proc_free(&p);
}
