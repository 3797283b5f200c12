/*
 * chan.h — channels' internals, shared by chan.c and select.c.
 *
 * A channel is Go's hchan: a lock, a ring buffer of cap elements, and two
 * queues of waiters (sudogs) — goroutines or threads blocked sending or
 * receiving. A waiter's sudog lives on its own stack while it waits.
 *
 * Locking: c->lock guards every field below it. Lock order between
 * channels (select) is by address. A waiter is readied only after the
 * channel lock is released, except that its sudog is unlinked and filled
 * under the lock, so the waiter finds its result complete when it runs.
 */
#ifndef GOC_CHAN_H
#define GOC_CHAN_H

#include "runtime/list.h"
#include "runtime/park.h"

typedef struct goc__sudog goc__sudog;

/* Shared by all sudogs of one select: the first waker to CAS done from 0
 * to 1 wins and records itself in winner. */
typedef struct goc__selwait {
    _Atomic uint32_t done;
    goc__sudog *winner;
} goc__selwait;

struct goc__sudog {
    goc__g *g;  /* the waiter (a goroutine or a thread-G) */
    void *elem; /* send: the value; recv: where to put it */
    goc_chan *c;
    goc__link link;       /* in c's recvq or sendq */
    goc__sudog *wakenext; /* close: the waiters to wake, once off the queues */
    goc__selwait *sel;    /* NULL unless in a select */
    uint32_t caseidx;     /* select: which case */
    bool success;         /* woken by a value (true) or by close (false) */
};

typedef goc__list goc__waitq; /* of goc__sudog, through link */

struct goc_chan {
    goc__lock lock;
    _Atomic int64_t refs;
    size_t elemsize;
    size_t cap;
    _Atomic size_t qcount; /* written under lock; len reads it without */
    size_t sendx, recvx;   /* ring indices */
    bool closed;
    goc__waitq recvq, sendq;
    char *buf; /* cap * elemsize bytes, after the struct */
};

void goc__waitq_enqueue(goc__waitq *q, goc__sudog *s);
/* First waiter still wanting to proceed (select sudogs that lost are
 * skipped and left for their select to remove), unlinked; or NULL. */
goc__sudog *goc__waitq_dequeue(goc__waitq *q);
void goc__waitq_remove(goc__waitq *q, goc__sudog *s);

/* The operations on a locked channel once a partner is found or the
 * buffer can serve; each unlocks c. */
void goc__chan_send_to(goc_chan *c, goc__sudog *r, const void *elem);
void goc__chan_recv_from(goc_chan *c, goc__sudog *s, void *elem);
/* The ring slot i. */
static inline void *goc__chan_slot(goc_chan *c, size_t i)
{
    return c->buf + i * c->elemsize;
}
/* Wake a waiter whose sudog was completed (after unlocking). */
void goc__chan_wake(goc__sudog *s);

#endif /* GOC_CHAN_H */
