/*
 * timer.c — goc_timer: time.Timer, time.Ticker and time.AfterFunc.
 *
 * A goc_timer wraps a runtime timer (goc__timer) and, for timers and
 * tickers, a channel of capacity 1. References: the user's, plus one held
 * by the heap while the runtime timer is armed (taken when it is added,
 * dropped when it fires without re-arming or when a stopped timer is swept
 * from its heap), so a released timer lives until the heap lets go of it.
 * t->lock serialises re-arming between reset and a ticker's own re-arm.
 */
#include "runtime/park.h"
#include "time/time.h"

#include <errno.h>
#include <stdlib.h>

struct goc_timer {
    goc__timer rt;
    _Atomic int64_t refs;
    goc_chan *c;         /* NULL for after_func */
    goc_duration period; /* ticker: > 0 */
    void (*fn)(void *);  /* after_func */
    void *arg;
    goc__lock lock; /* re-arming; guards stopped */
    bool stopped;   /* stop/release: a ticker must not re-arm */
};

static void unref(goc_timer *t)
{
    if (atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) == 1) {
        goc_chan_release(t->c);
        free(t);
    }
}

void goc__timer_unref(goc_timer *t)
{
    unref(t);
}

static void swept(goc__timer *rt)
{
    unref((goc_timer *)rt);
}

/* Arm at when. t->lock held. A reference for the heap is taken first (the
 * timer may fire and drop it at once) and given back if the timer was
 * still in a heap, which holds one already. Returns 1 if it was pending,
 * 0 if not, -ENOMEM if it could not be armed (then it is stopped). */
static int arm(goc_timer *t, int64_t when)
{
    GOC_ASSERT_LOCKED(&t->lock);
    atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
    t->stopped = false;
    int r = goc__timer_rearm(&t->rt, when);
    if (r != GOC__REARM_ADDED)
        unref(t); /* never the last: the caller holds one */
    if (r < 0) {
        t->stopped = true;
        return r;
    }
    return r == GOC__REARM_MOVED_PENDING;
}

static int64_t deadline(goc_duration d)
{
    int64_t now = goc_now();
    if (d <= 0)
        return now;
    return d > INT64_MAX - now ? INT64_MAX : now + d;
}

/* after_func's goroutine could not be made: re-arm for a retry (keeping
 * the heap's reference) unless stop or reset got there first. Losing the
 * call would silently break what it stands for (a context's deadline). */
static bool retry_later(goc_timer *t, int64_t now)
{
    goc__lock_acquire(&t->lock);
    bool retry = !t->stopped && !atomic_load_explicit(&t->rt.p, memory_order_acquire);
    if (retry) /* (out of memory for the heap too: the call is lost) */
        retry = goc__timer_rearm(&t->rt, now + GOC_MILLISECOND) >= 0;
    goc__lock_release(&t->lock);
    return retry;
}

static void fire(goc__timer *rt, void *arg, int64_t now)
{
    goc_timer *t = arg;
    (void)rt;
    if (t->fn) {
        if (goc_go(t->fn, t->arg) != 0 && retry_later(t, now))
            return; /* no memory for the goroutine: try again in 1 ms */
    } else if (t->c) {
        goc_chan_try_send(t->c, &now); /* full: the tick is dropped */
    }
    if (t->period > 0) {
        goc__lock_acquire(&t->lock);
        /* Unless reset re-armed it meanwhile, schedule the next tick;
         * the heap keeps its reference. */
        if (!t->stopped && !atomic_load_explicit(&t->rt.p, memory_order_acquire)) {
            int64_t next = t->rt.when + t->period;
            if (next <= now)
                next = now + t->period;
            if (goc__timer_rearm(&t->rt, next) >= 0) {
                goc__lock_release(&t->lock);
                return;
            }
            t->stopped = true; /* no room in any heap: the ticker stops */
        }
        goc__lock_release(&t->lock);
    }
    unref(t); /* the heap's reference for this firing */
}

static goc_timer *make(goc_duration d, goc_duration period, void (*fn)(void *), void *arg)
{
    if (goc__init() != 0)
        return NULL;
    goc_timer *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    if (!fn) {
        t->c = goc_chan_make(sizeof(int64_t), 1);
        if (!t->c) {
            free(t);
            return NULL;
        }
    }
    atomic_init(&t->refs, 1);
    t->period = period;
    t->fn = fn;
    t->arg = arg;
    t->rt.fn = fire;
    t->rt.arg = t;
    t->rt.idx = -1;
    t->rt.swept = swept;
    goc__lock_acquire(&t->lock);
    int rc = arm(t, deadline(d));
    goc__lock_release(&t->lock);
    if (rc < 0) {
        unref(t);
        return NULL;
    }
    return t;
}

GOC_API goc_timer *goc_timer_new(goc_duration d)
{
    return make(d, 0, NULL, NULL);
}

GOC_API goc_timer *goc_ticker_new(goc_duration period)
{
    return period > 0 ? make(period, period, NULL, NULL) : NULL;
}

GOC_API goc_timer *goc_after_func(goc_duration d, void (*fn)(void *), void *arg)
{
    return fn ? make(d, 0, fn, arg) : NULL;
}

GOC_API goc_chan *goc_timer_chan(goc_timer *t)
{
    return t ? t->c : NULL;
}

GOC_API bool goc_timer_stop(goc_timer *t)
{
    if (!t)
        return false;
    goc__lock_acquire(&t->lock);
    bool active = !t->stopped; /* a ticker is pending until stopped, even
                                  while a tick is being delivered */
    t->stopped = true;
    bool was = goc__timer_stop(&t->rt);
    goc__lock_release(&t->lock);
    return t->period > 0 ? active : was;
}

GOC_API int goc_timer_reset(goc_timer *t, goc_duration d)
{
    if (!t || (t->period > 0 && d <= 0))
        return goc__errset(-EINVAL, t ? "goc_timer_reset: a ticker's period must be positive"
                                      : "goc_timer_reset: NULL timer");
    goc__lock_acquire(&t->lock);
    bool active = !t->stopped;
    if (t->period > 0)
        t->period = d;
    int rc = arm(t, deadline(d));
    goc__lock_release(&t->lock);
    if (rc < 0)
        return goc__errop(rc, "goc_timer_reset");
    return t->period > 0 ? active : rc;
}

GOC_API goc_timer *goc_timer_retain(goc_timer *t)
{
    if (t)
        atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
    return t;
}

GOC_API void goc_timer_release(goc_timer *t)
{
    if (!t)
        return;
    goc_timer_stop(t);
    unref(t);
}
