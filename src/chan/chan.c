/*
 * chan.c — channels: Go's hchan in C.
 *
 * Fast paths first, as Go's chansend/chanrecv: a waiting partner gets the
 * value directly (an unbuffered send copies straight into the receiver's
 * variable), else the ring buffer serves, else the caller queues a sudog on
 * its own stack and parks; whoever completes it fills in the result under
 * the channel lock and readies it after unlocking. See chan.h for the
 * locking rules; select.c shares the queues.
 */
#include "chan/chan.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- wait queues --------------------------------------------------------- */

void goc__waitq_enqueue(goc__waitq *q, goc__sudog *s)
{
    goc__list_push_back(q, &s->link);
}

void goc__waitq_remove(goc__waitq *q, goc__sudog *s)
{
    if (goc__list_linked(q, &s->link)) /* else a waker took it out already */
        goc__list_remove(q, &s->link);
}

goc__sudog *goc__waitq_dequeue(goc__waitq *q)
{
    for (;;) {
        if (!q->head)
            return NULL;
        goc__sudog *s = GOC__CONTAINER_OF(q->head, goc__sudog, link);
        goc__list_remove(q, &s->link);
        if (!s->sel)
            return s;
        /* A select waits on several channels: only the first waker wins.
         * acq_rel: the winner's writes to the sudog happen before the
         * select, woken, reads them. */
        uint32_t zero = 0;
        if (atomic_compare_exchange_strong_explicit(&s->sel->done, &zero, 1, memory_order_acq_rel,
                                                    memory_order_relaxed)) {
            s->sel->winner = s;
            return s;
        }
    }
}

void goc__chan_wake(goc__sudog *s)
{
    goc__ready(s->g);
}

/* ---- make, retain, release ------------------------------------------------ */

GOC_API goc_chan *goc_chan_make(size_t elem_size, size_t cap)
{
    if (elem_size && cap > (SIZE_MAX - sizeof(goc_chan)) / elem_size)
        return NULL;
    goc_chan *c = calloc(1, sizeof *c + elem_size * cap);
    if (!c)
        return NULL;
    atomic_init(&c->refs, 1);
    c->elemsize = elem_size;
    c->cap = cap;
    c->buf = (char *)(c + 1);
    return c;
}

GOC_API goc_chan *goc_chan_retain(goc_chan *c)
{
    if (c)
        atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
    return c;
}

GOC_API void goc_chan_release(goc_chan *c)
{
    /* acq_rel: every user's last access happens before the free. */
    if (c && atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) == 1)
        free(c);
}

GOC_API size_t goc_chan_len(goc_chan *c)
{
    return c ? atomic_load_explicit(&c->qcount, memory_order_relaxed) : 0;
}

GOC_API size_t goc_chan_cap(goc_chan *c)
{
    return c ? c->cap : 0;
}

/* ---- send ------------------------------------------------------------------ */

/* c locked, r a dequeued receiver: hand it elem, unlock, wake it. */
void goc__chan_send_to(goc_chan *c, goc__sudog *r, const void *elem)
{
    GOC_ASSERT_LOCKED(&c->lock);
    if (r->elem && c->elemsize)
        memcpy(r->elem, elem, c->elemsize);
    r->success = true;
    goc__lock_release(&c->lock);
    goc__chan_wake(r);
}

static void buf_put(goc_chan *c, const void *elem)
{
    GOC_ASSERT_LOCKED(&c->lock);
    if (c->elemsize)
        memcpy(goc__chan_slot(c, c->sendx), elem, c->elemsize);
    if (++c->sendx == c->cap)
        c->sendx = 0;
    atomic_store_explicit(&c->qcount, c->qcount + 1, memory_order_relaxed);
}

static bool unlock_chan(goc__g *g, void *arg)
{
    (void)g;
    goc__lock_release(&((goc_chan *)arg)->lock);
    return true;
}

static int chan_send(goc_chan *c, const void *elem, bool block)
{
    if (!c)
        return -EINVAL;
    goc__m *m = goc__enter(); /* see goc__enter: no P loss while locked */
    int rc = 0;
    goc__lock_acquire(&c->lock);
    goc__sudog *r;
    if (c->closed) {
        goc__lock_release(&c->lock);
        rc = -EPIPE;
    } else if ((r = goc__waitq_dequeue(&c->recvq))) {
        goc__chan_send_to(c, r, elem);
    } else if (c->qcount < c->cap) {
        buf_put(c, elem);
        goc__lock_release(&c->lock);
    } else if (!block) {
        goc__lock_release(&c->lock);
        rc = -EAGAIN;
    } else {
        goc__sudog s = {.g = goc__getg_or_thread(), .elem = (void *)elem, .c = c};
        goc__waitq_enqueue(&c->sendq, &s);
        goc__park_m(&m, unlock_chan, c, "chan send");
        rc = s.success ? 0 : -EPIPE;
    }
    goc__leave(m);
    return rc;
}

/* Record why a channel operation failed (error.c); -EAGAIN from a try_
 * call is "not ready", not a failure. */
static int chan_failed(int rc, bool send, bool block)
{
    if (rc == -EAGAIN)
        return rc;
    if (rc == -EINVAL)
        return goc__errset(
            rc, send ? (block ? "goc_chan_send: NULL channel" : "goc_chan_try_send: NULL channel")
                     : (block ? "goc_chan_recv: NULL channel" : "goc_chan_try_recv: NULL channel"));
    if (rc == -EPIPE)
        return goc__errset(rc, send ? (block ? "goc_chan_send: send on closed channel"
                                             : "goc_chan_try_send: send on closed channel")
                                    : (block ? "goc_chan_recv: receive from closed channel"
                                             : "goc_chan_try_recv: receive from closed channel"));
    return goc__errop(rc, send ? "goc_chan_send" : "goc_chan_recv");
}

GOC_API int goc_chan_send(goc_chan *c, const void *elem)
{
    goc__attach_thread();
    int rc = chan_send(c, elem, true);
    return GOC_UNLIKELY(rc < 0) ? chan_failed(rc, true, true) : rc;
}

GOC_API int goc_chan_try_send(goc_chan *c, const void *elem)
{
    goc__attach_thread();
    int rc = chan_send(c, elem, false);
    return GOC_UNLIKELY(rc < 0) ? chan_failed(rc, true, false) : rc;
}

/* ---- receive ----------------------------------------------------------------- */

/* c locked, s a dequeued sender: take its value (through the ring if the
 * channel is buffered, to keep FIFO order), unlock, wake it. */
void goc__chan_recv_from(goc_chan *c, goc__sudog *s, void *elem)
{
    GOC_ASSERT_LOCKED(&c->lock);
    if (c->cap == 0) {
        if (elem && c->elemsize)
            memcpy(elem, s->elem, c->elemsize);
    } else {
        /* The ring is full: take its head, put the sender's value in the
         * freed slot, which becomes the tail. */
        void *slot = goc__chan_slot(c, c->recvx);
        if (elem && c->elemsize)
            memcpy(elem, slot, c->elemsize);
        if (c->elemsize)
            memcpy(slot, s->elem, c->elemsize);
        if (++c->recvx == c->cap)
            c->recvx = 0;
        c->sendx = c->recvx;
    }
    s->success = true;
    goc__lock_release(&c->lock);
    goc__chan_wake(s);
}

static void buf_take(goc_chan *c, void *elem)
{
    GOC_ASSERT_LOCKED(&c->lock);
    void *slot = goc__chan_slot(c, c->recvx);
    if (elem && c->elemsize)
        memcpy(elem, slot, c->elemsize);
    if (++c->recvx == c->cap)
        c->recvx = 0;
    atomic_store_explicit(&c->qcount, c->qcount - 1, memory_order_relaxed);
}

static int chan_recv(goc_chan *c, void *elem, bool block)
{
    if (!c)
        return -EINVAL;
    goc__m *m = goc__enter();
    int rc = 0;
    goc__lock_acquire(&c->lock);
    goc__sudog *s;
    if ((s = goc__waitq_dequeue(&c->sendq))) {
        goc__chan_recv_from(c, s, elem);
    } else if (c->qcount > 0) {
        buf_take(c, elem);
        goc__lock_release(&c->lock);
    } else if (c->closed) {
        goc__lock_release(&c->lock);
        if (elem && c->elemsize)
            memset(elem, 0, c->elemsize);
        rc = -EPIPE;
    } else if (!block) {
        goc__lock_release(&c->lock);
        rc = -EAGAIN;
    } else {
        goc__sudog r = {.g = goc__getg_or_thread(), .elem = elem, .c = c};
        goc__waitq_enqueue(&c->recvq, &r);
        goc__park_m(&m, unlock_chan, c, "chan receive");
        rc = r.success ? 0 : -EPIPE; /* close zeroed *elem */
    }
    goc__leave(m);
    return rc;
}

GOC_API int goc_chan_recv(goc_chan *c, void *elem)
{
    goc__attach_thread();
    int rc = chan_recv(c, elem, true);
    return GOC_UNLIKELY(rc < 0) ? chan_failed(rc, false, true) : rc;
}

GOC_API int goc_chan_try_recv(goc_chan *c, void *elem)
{
    goc__attach_thread();
    int rc = chan_recv(c, elem, false);
    return GOC_UNLIKELY(rc < 0) ? chan_failed(rc, false, false) : rc;
}

/* ---- close --------------------------------------------------------------------- */

GOC_API int goc_chan_close(goc_chan *c)
{
    goc__attach_thread();
    if (!c)
        return goc__errset(-EINVAL, "goc_chan_close: NULL channel");
    goc__lock_acquire(&c->lock);
    if (c->closed) {
        goc__lock_release(&c->lock);
        return goc__errset(-EPIPE, "goc_chan_close: close of closed channel");
    }
    c->closed = true;
    /* Complete every waiter under the lock; wake them after it. */
    goc__sudog *wake = NULL, *s;
    while ((s = goc__waitq_dequeue(&c->recvq))) {
        if (s->elem && c->elemsize)
            memset(s->elem, 0, c->elemsize);
        s->success = false;
        s->wakenext = wake;
        wake = s;
    }
    while ((s = goc__waitq_dequeue(&c->sendq))) {
        s->success = false;
        s->wakenext = wake;
        wake = s;
    }
    goc__lock_release(&c->lock);
    while (wake) {
        s = wake;
        wake = s->wakenext; /* s may be gone once its owner runs */
        goc__chan_wake(s);
    }
    return 0;
}
