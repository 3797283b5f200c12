/*
 * time.h — the time layer's internal interface (timer.c, after.c).
 *
 * Dependencies run one way: src/chan includes this header (goc_select's
 * timeout case is a goc_after channel); src/time uses channels only
 * through goc.h, as any user of goc_timer_chan does.
 */
#ifndef GOC_TIME_TIME_H
#define GOC_TIME_TIME_H

#include <goc.h>

/* A one-shot timer that sends goc_now() on its channel (after.c). The
 * caller owns one reference to the returned channel; with out set it may
 * stop the timer with goc__after_stop, which also drops that reference.
 * With out NULL the timer cannot be stopped (goc_after). NULL on ENOMEM. */
goc_chan *goc__after_start(goc_duration d, goc_timer **out);
void goc__after_stop(goc_chan *c, goc_timer *t);
/* Drop the caller's reference to t without stopping it (timer.c). */
void goc__timer_unref(goc_timer *t);

#endif /* GOC_TIME_TIME_H */
