/*
 * after.c — goc_after (time.After) and the timeout case of goc_select,
 * both built on goc_timer (src/time/timer.c), whose reference counting
 * keeps the timer alive until it has fired or been swept.
 */
#include "time/time.h"

goc_chan *goc__after_start(goc_duration d, goc_timer **out)
{
    goc_timer *t = goc_timer_new(d);
    if (!t)
        return NULL;
    goc_chan *c = goc_chan_retain(goc_timer_chan(t));
    if (out)
        *out = t;
    else
        goc__timer_unref(t); /* runs on, unstoppable, until it fires */
    return c;
}

void goc__after_stop(goc_chan *c, goc_timer *t)
{
    goc_timer_release(t); /* stops it unless it fired */
    goc_chan_release(c);
}

GOC_API goc_chan *goc_after(goc_duration d)
{
    return goc__after_start(d, NULL);
}
