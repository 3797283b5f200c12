/*
 * error.c — what went wrong: goc_strerror (a code's generic text) and
 * goc_errmsg (the calling goroutine's last failure, with its context, as
 * sqlite3_errmsg).
 *
 * A failing call still returns a negative errno; before it does, the layer
 * that failed records a message on the calling goroutine (a plain thread's
 * thread-G for a thread): goc__errset with a static text, goc__errop with
 * the name of the operation (the text is "op: <goc_strerror(err)>", built
 * only if someone asks), or goc__errorf with a formatted text such as
 * "dial tcp: address 127.0.0.1:99999: invalid port". Only failures record:
 * a call that succeeds leaves the last message in place, and a "not ready"
 * answer (-EAGAIN from a try_ call or a select with timeout 0) is not a
 * failure. A goroutine starts with no message.
 *
 * Each layer owns its texts: the runtime knows errno values only; a layer
 * that defines codes of its own (the net layer's GOC_ENOTFOUND, ...)
 * registers a function that names them (goc__errtext_register).
 *
 * Ownership: g->errbuf is malloc'ed on first use and stays with the
 * descriptor (reused by the next goroutine, which starts without
 * GOC__GF_ERR);
 * a thread-G's is freed when its thread exits (goroutine.c). Only the
 * goroutine itself touches its error fields, so no lock guards them.
 */
#include "runtime/runtime.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ERRBUF_SIZE 256
#define MAX_RANGES  8

enum { ERR_STRERROR = 0, ERR_STATIC, ERR_OP, ERR_FORMATTED };

static struct {
    int lo, hi; /* codes lo..hi (negative) */
    const char *(*text)(int err);
} ranges[MAX_RANGES];
static _Atomic int nranges;

void goc__errtext_register(int lo, int hi, const char *(*text)(int err))
{
    static goc__lock lock;
    goc__lock_acquire(&lock);
    int n = atomic_load_explicit(&nranges, memory_order_relaxed);
    bool dup = false;
    for (int i = 0; i < n; i++)
        dup = dup || ranges[i].text == text;
    if (!dup && n < MAX_RANGES) {
        ranges[n].lo = lo;
        ranges[n].hi = hi;
        ranges[n].text = text;
        /* release: pairs with goc_strerror's acquire load of nranges. */
        atomic_store_explicit(&nranges, n + 1, memory_order_release);
    }
    goc__lock_release(&lock);
}

GOC_API const char *goc_strerror(int err)
{
    int n = atomic_load_explicit(&nranges, memory_order_acquire);
    for (int i = 0; i < n; i++) {
        if (err >= ranges[i].lo && err <= ranges[i].hi)
            return ranges[i].text(err);
    }
    if (err < 0)
        err = err == INT_MIN ? 0x7fffffff : -err; /* no UB on INT_MIN */
    switch (err) {
    case 0:
        return "success";
    case EBADF:
        return "bad file descriptor (closed, or never opened)";
    case ECANCELED:
        return "context canceled";
    case ETIMEDOUT:
        return "timed out (deadline exceeded)";
    case EDEADLK:
        return "operation would deadlock (called from a goroutine?)";
    default:
        break;
    }
    /* strerrordesc_np is thread-safe and returns a static string. */
    const char *s = strerrordesc_np(err);
    return s ? s : "unknown error";
}

static void record(int err, int kind, const char *text)
{
    goc__g *g = goc__getg_or_thread();
    /* Relaxed atomic: dumps read flags from other threads. */
    __atomic_store_n(&g->flags, g->flags | GOC__GF_ERR, __ATOMIC_RELAXED);
    g->errcode = err;
    g->errkind = (uint8_t)kind;
    g->errtext = text;
}

int goc__errset(int err, const char *msg)
{
    record(err, ERR_STATIC, msg);
    return err;
}

int goc__errop(int err, const char *op)
{
    record(err, ERR_OP, op);
    return err;
}

/* The calling goroutine's buffer, or NULL if it cannot have one. */
static char *errbuf(goc__g *g)
{
    if (!g->errbuf)
        g->errbuf = malloc(ERRBUF_SIZE);
    return g->errbuf;
}

int goc__errorf(int err, const char *fmt, ...)
{
    goc__g *g = goc__getg_or_thread();
    char *buf = errbuf(g);
    if (!buf) {
        record(err, ERR_STRERROR, NULL);
        return err;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, ERRBUF_SIZE, fmt, ap);
    va_end(ap);
    record(err, ERR_FORMATTED, NULL);
    return err;
}

GOC_API const char *goc_errmsg(void)
{
    goc__g *g = goc__getg_or_thread();
    if (!(g->flags & GOC__GF_ERR))
        return "no error";
    switch (g->errkind) {
    case ERR_STATIC:
        return g->errtext;
    case ERR_FORMATTED:
        return g->errbuf;
    case ERR_OP: {
        char *buf = errbuf(g);
        if (!buf)
            break;
        snprintf(buf, ERRBUF_SIZE, "%s: %s", g->errtext, goc_strerror(g->errcode));
        g->errkind = ERR_FORMATTED;
        return buf;
    }
    default:
        break;
    }
    return goc_strerror(g->errcode);
}

GOC_API int goc_errcode(void)
{
    goc__g *g = goc__getg_or_thread();
    return (g->flags & GOC__GF_ERR) ? g->errcode : 0;
}
