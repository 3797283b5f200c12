/*
 * helper_gdb.c — a program for test_gdb.c (and for trying
 * tools/gdb/goc-gdb.py by hand). Three named goroutines park, each in its
 * own function: on a channel receive nobody sends on, on a goc_mutex the
 * main goroutine holds, and in a long goc_sleep. Once goc_dump shows all
 * three parked, the main goroutine prints "ready" and calls gdb_ready(),
 * where the test's gdb has a breakpoint.
 *
 *   helper_gdb        return from gdb_ready() and exit 0
 *   helper_gdb hold   then sleep forever (for gdb -p PID, or gcore)
 *
 * The goroutine ids are in the globals gdb_chan_id, gdb_mutex_id and
 * gdb_sleep_id, so a gdb script can say `goroutine gdb_chan_id bt`.
 */
#include <goc.h>

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint64_t gdb_chan_id, gdb_mutex_id, gdb_sleep_id;

static goc_chan *never; /* nobody sends on it */
static goc_mutex mu;    /* held by main while gdb looks */
static atomic_uint sink;

/* The calls below are never tail calls (something follows them), so each
 * function stays in its goroutine's backtrace. */
__attribute__((noinline)) void parked_on_chan(void *arg)
{
    int v = 0;
    goc_chan_recv(never, &v);
    atomic_store(&sink, (unsigned)v + (unsigned)(uintptr_t)arg);
}

__attribute__((noinline)) void parked_on_mutex(void *arg)
{
    goc_mutex_lock(&mu);
    atomic_store(&sink, (unsigned)(uintptr_t)arg);
    goc_mutex_unlock(&mu);
}

__attribute__((noinline)) void parked_in_sleep(void *arg)
{
    goc_sleep(3600 * GOC_SECOND);
    atomic_store(&sink, (unsigned)(uintptr_t)arg);
}

/* gdb's breakpoint: everything is parked when it is called. */
__attribute__((noinline)) void gdb_ready(void)
{
    __asm__ volatile("" ::: "memory");
}

/* Whether goc_dump lists all three goroutines parked. */
static int all_parked(void)
{
    FILE *f = tmpfile();
    if (!f)
        return 0;
    goc_dump(fileno(f));
    rewind(f);
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return strstr(buf, "[chan receive] \"chan-waiter\"") &&
           strstr(buf, "[sync.Mutex.Lock] \"mutex-waiter\"") && strstr(buf, "[sleep] \"sleeper\"");
}

static int main_fn(void *arg)
{
    const char *mode = arg;
    never = goc_chan_make(sizeof(int), 0);
    if (!never)
        return 1;
    goc_mutex_lock(&mu);
    goc_go_opts o1 = {.name = "chan-waiter", .id = &gdb_chan_id};
    goc_go_opts o2 = {.name = "mutex-waiter", .id = &gdb_mutex_id};
    goc_go_opts o3 = {.name = "sleeper", .id = &gdb_sleep_id};
    if (goc_go_with(parked_on_chan, NULL, &o1) != 0 ||
        goc_go_with(parked_on_mutex, NULL, &o2) != 0 || goc_go_with(parked_in_sleep, NULL, &o3))
        return 1;
    int64_t deadline = goc_now() + 30 * GOC_SECOND;
    while (!all_parked()) {
        if (goc_now() > deadline) {
            fprintf(stderr, "helper_gdb: the goroutines did not park\n");
            return 1;
        }
        goc_sleep(GOC_MILLISECOND);
    }
    printf("ready\n");
    fflush(stdout);
    gdb_ready();
    while (strcmp(mode, "hold") == 0)
        goc_sleep(3600 * GOC_SECOND);
    return 0;
}

int main(int argc, char **argv)
{
    return goc_run(main_fn, argc > 1 ? argv[1] : "");
}
