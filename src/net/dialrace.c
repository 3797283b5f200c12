/*
 * dialrace.c — which of a name's addresses to connect to, and when: Go's
 * dialSerial and dialParallel (RFC 6555, "Happy Eyeballs").
 *
 * Serial: the addresses are tried in turn; with a deadline, each gets an
 * equal share of the time left (at least 2 s, never past the deadline), so
 * one address that drops SYNs does not use up the whole timeout. The
 * first address's error is returned when all fail.
 *
 * Parallel, when a name has both IPv6 and IPv4 addresses: the addresses
 * of the first one's family (primaries) and the others (fallbacks) are
 * two serial racers, each a goroutine. The fallbacks start 300 ms after
 * the primaries, or at once when the primaries have all failed. The first
 * connection wins; the caller then stops the other racer through the
 * dial's goc__dialstop (dial.h): a passed deadline on the socket it is
 * connecting wakes its connect. The caller waits for it to finish, so no
 * goroutine or fd outlives goc_dial. A connection that completes after
 * the race was won is closed.
 *
 * The same stop ends the whole dial when its ctx is done (goc_dial_ctx):
 * every racer's connect is woken, a serial dial tries no further address,
 * and the fallbacks are not started.
 */
#include "net/dial.h"

#include <errno.h>

#define FALLBACK_DELAY (300 * GOC_MILLISECOND) /* Go's fallbackDelay */
#define MIN_SHARE      (2 * GOC_SECOND)        /* Go's saneMinimum */

void goc__dialstop_init(goc__dialstop *s, goc_ctx *ctx)
{
    *s = (goc__dialstop){.fd = {-1, -1}, .ctx = ctx};
}

void goc__dialstop_stop(goc__dialstop *s, int why)
{
    goc_mutex_lock(&s->mu);
    if (!s->why)
        s->why = why;
    for (int i = 0; i < 2; i++)
        if (s->fd[i] >= 0)
            goc_set_deadline(s->fd[i], 1); /* long past */
    goc_mutex_unlock(&s->mu);
}

int goc__dialstop_why(goc__dialstop *s)
{
    goc_mutex_lock(&s->mu);
    int why = s->why;
    goc_mutex_unlock(&s->mu);
    return why;
}

int goc__dialstop_enter(goc__dialstop *s, int slot, int fd)
{
    goc_mutex_lock(&s->mu);
    int why = s->why;
    if (!why)
        s->fd[slot] = fd;
    goc_mutex_unlock(&s->mu);
    return why;
}

int goc__dialstop_leave(goc__dialstop *s, int slot, int err)
{
    goc_mutex_lock(&s->mu);
    if (s->why)
        err = s->why; /* lost the race, or the ctx is done */
    s->fd[slot] = -1;
    goc_mutex_unlock(&s->mu);
    return err;
}

/* The deadline for one attempt with n addresses left (Go's partialDeadline). */
static int64_t share(int64_t deadline, int n)
{
    if (deadline == 0)
        return 0;
    int64_t left = deadline - goc_now();
    if (left <= 0)
        return deadline;
    int64_t each = left / n;
    if (each < MIN_SHARE)
        each = left < MIN_SHARE ? left : MIN_SHARE;
    return goc_now() + each;
}

/* Try the addresses at idx[0..n) in turn (waiting in stop's slot, if
 * any): the fd, or the first error (the stop's why once it stopped). */
static int dial_serial(const goc__net *net, const goc__addrs *addrs, const int *idx, int n,
                       int64_t deadline, goc__dialstop *stop, int slot)
{
    int first = -ECONNREFUSED;
    for (int i = 0; i < n; i++) {
        if (deadline && goc_now() >= deadline)
            return i == 0 ? -ETIMEDOUT : first;
        int k = idx[i];
        int rc =
            goc__dial_one(net, &addrs->a[k], addrs->len[k], share(deadline, n - i), stop, slot);
        if (rc >= 0)
            return rc;
        if (stop && goc__dialstop_why(stop))
            return rc; /* lost the race, or the ctx is done */
        if (rc == -ETIMEDOUT && deadline && goc_now() >= deadline)
            return i == 0 ? rc : first; /* the whole dial is out of time */
        if (i == 0)
            first = rc;
    }
    return first;
}

typedef struct racer {
    const goc__net *net;
    const goc__addrs *addrs;
    int idx[GOC__MAX_ADDRS];
    int n;
    int64_t deadline;
    goc__dialstop *stop;
    goc_chan *done; /* of struct result, cap 2: never blocks */
    bool primary;   /* slot 0; the fallbacks use slot 1 */
} racer;

struct result {
    int rc; /* fd or error */
    bool primary;
};

static void race_fn(void *arg)
{
    racer *r = arg;
    struct result res = {
        dial_serial(r->net, r->addrs, r->idx, r->n, r->deadline, r->stop, r->primary ? 0 : 1),
        r->primary};
    goc_chan_send(r->done, &res);
}

/* Every address in turn, in the order given. */
static int dial_all(const goc__net *net, const goc__addrs *addrs, int64_t deadline,
                    goc__dialstop *stop)
{
    int idx[GOC__MAX_ADDRS];
    for (int k = 0; k < addrs->n; k++)
        idx[k] = k;
    return dial_serial(net, addrs, idx, addrs->n, deadline, stop, 0);
}

/* Collect the racers' results until both are in (or the primaries won
 * before the fallbacks started): the winner, or the error to report. */
static int race(racer *rs, goc__dialstop *stop, goc_timer *fallback)
{
    int started = 1, finished = 0, winner = -1, primary_err = 0, fallback_err = 0;
    while (finished < started || (winner < 0 && started < 2)) {
        struct result res;
        goc_case cases[2] = {GOC_RECV(rs[0].done, &res),
                             GOC_RECV(started < 2 ? goc_timer_chan(fallback) : NULL, NULL)};
        int which = goc_select(cases, 2, GOC_FOREVER);
        if (which == 0) {
            finished++;
            if (res.rc >= 0 && winner < 0) {
                winner = res.rc;
                goc__dialstop_stop(stop, -ECANCELED); /* the other racer lost */
            } else if (res.rc >= 0) {
                goc_close(res.rc); /* connected just after the winner */
            } else if (res.primary) {
                primary_err = res.rc;
            } else {
                fallback_err = res.rc;
            }
            if (winner >= 0 || started == 2 || !res.primary)
                continue;
        }
        if (goc__dialstop_why(stop)) {
            if (which == 0)
                break; /* stopped before the fallbacks: none to start */
            continue;
        }
        /* The fallback delay passed, or the primaries all failed: start
         * the fallbacks (on the caller if no goroutine can be made). */
        started = 2;
        if (goc_go(race_fn, &rs[1]) < 0)
            race_fn(&rs[1]);
    }
    if (winner >= 0)
        return winner;
    return primary_err && (primary_err != -ECANCELED || !fallback_err) ? primary_err : fallback_err;
}

static int dial_parallel(const goc__net *net, const goc__addrs *addrs, int64_t deadline,
                         goc__dialstop *stop)
{
    goc__dialstop local;
    if (!stop) { /* the race's own, for the winner to stop the loser */
        goc__dialstop_init(&local, NULL);
        stop = &local;
    }
    racer rs[2];
    int fam0 = addrs->a[0].ss_family;
    for (int i = 0; i < 2; i++)
        rs[i] = (racer){
            .net = net, .addrs = addrs, .deadline = deadline, .stop = stop, .primary = i == 0};
    for (int k = 0; k < addrs->n; k++) {
        racer *r = &rs[addrs->a[k].ss_family == fam0 ? 0 : 1];
        r->idx[r->n++] = k;
    }
    goc_chan *done = goc_chan_make(sizeof(struct result), 2);
    goc_timer *fallback = done ? goc_timer_new(FALLBACK_DELAY) : NULL;
    rs[0].done = rs[1].done = done;
    if (!fallback || goc_go(race_fn, &rs[0]) < 0) { /* out of memory: no race */
        goc_timer_release(fallback);
        goc_chan_release(done);
        return dial_all(net, addrs, deadline, stop);
    }
    int rc = race(rs, stop, fallback);
    goc_timer_release(fallback);
    goc_chan_release(done);
    return rc;
}

int goc__dial_addrs(const goc__net *net, const goc__addrs *addrs, int64_t deadline,
                    goc__dialstop *stop)
{
    bool mixed = false;
    for (int k = 1; k < addrs->n; k++)
        mixed |= addrs->a[k].ss_family != addrs->a[0].ss_family;
    if (mixed && net->socktype == SOCK_STREAM)
        return dial_parallel(net, addrs, deadline, stop);
    return dial_all(net, addrs, deadline, stop);
}
