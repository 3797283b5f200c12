/*
 * after.c — goc_after (time.After), and the timeout case of goc_select.
 *
 * A goc__after_t is a heap timer that sends goc_now() on a channel of
 * capacity 1 when it fires. It holds its own reference to the channel;
 * whoever ends the timer — the callback after sending, or goc__after_stop
 * when it removes the timer before it fires — drops that reference and
 * frees the timer. Never both: goc__timer_del succeeds only for a timer
 * that has not been popped to fire.
 */
#include "chan/chan.h"

#include <stdlib.h>

struct goc__aftertimer {
    goc__timer t;
    goc_chan *c;
};

static void fire(goc__timer *t, void *arg, int64_t now)
{
    goc__after_t *a = arg;
    (void)t;
    goc_chan_try_send(a->c, &now); /* cap 1, sent once: never blocks */
    goc_chan_release(a->c);
    free(a);
}

goc_chan *goc__after_start(goc_duration d, goc__after_t **out)
{
    if (goc__init() != 0)
        return NULL;
    goc_chan *c = goc_chan_make(sizeof(int64_t), 1);
    goc__after_t *a = malloc(sizeof *a);
    if (!c || !a) {
        goc_chan_release(c);
        free(a);
        return NULL;
    }
    int64_t now = goc_now();
    a->c = goc_chan_retain(c);
    a->t = (goc__timer){.when = d > INT64_MAX - now ? INT64_MAX : now + (d > 0 ? d : 0),
                        .fn = fire,
                        .arg = a,
                        .idx = -1};
    if (out)
        *out = a;
    goc__timer_start(&a->t);
    return c;
}

void goc__after_stop(goc_chan *c, goc__after_t *a)
{
    if (goc__timer_del(&a->t)) {
        goc_chan_release(a->c);
        free(a);
    }
    goc_chan_release(c);
}

GOC_API goc_chan *goc_after(goc_duration d)
{
    return goc__after_start(d, NULL);
}
