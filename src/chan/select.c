/*
 * select.c — goc_select, Go's select.
 *
 * Protocol (Go's selectgo):
 *   1. Shuffle the cases into a random poll order (fairness: a busy
 *      channel never starves a quiet one) and sort the distinct channels
 *      into lock order (by address, so two selects cannot deadlock).
 *   2. Lock every channel. Pass 1: in poll order, take the first case that
 *      can proceed now (a waiting partner, buffer room or data, a closed
 *      channel), perform it, unlock all, return its index.
 *   3. Nothing ready and timeout 0: unlock all, -EAGAIN. A timeout > 0 is
 *      one more receive case, on an internal goc_after-like channel.
 *   4. Pass 2: queue one sudog per case (in poll order), all sharing one
 *      selwait, and park;
 *      park's unlockf unlocks every channel once we are saved.
 *   5. A waker dequeues one of our sudogs; the first to CAS selwait.done
 *      wins, records itself as winner, completes that case and readies us.
 *      Later wakers skip our other sudogs.
 *   6. Pass 3: lock all again, unlink the losing sudogs, unlock, and
 *      report the winner's case.
 * Per call memory is on the stack for up to SMALL cases, else one malloc
 * freed before returning: a loop of selects runs in constant memory.
 */
#include "chan/chan.h"
#include "time/time.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define SMALL     16
#define MAX_CASES 65536

typedef struct scase {
    goc_chan *c;
    goc_op op;
    void *elem;
} scase;

typedef struct selstate {
    scase *cases; /* n user cases, then the timeout case */
    uint32_t ncases;
    uint32_t *pollorder; /* indices into cases */
    uint32_t *lockorder; /* indices, sorted by channel address */
    uint32_t nlock;      /* distinct non-NULL channels in lockorder */
    goc__sudog *sudogs;
} selstate;

static __thread uint64_t rnd_state;

static uint32_t rnd(void)
{
    uint64_t x = rnd_state;
    if (!x)
        x = (uint64_t)(uintptr_t)&rnd_state ^ (uint64_t)goc_now() ^ 0x9E3779B97F4A7C15ull;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rnd_state = x;
    return (uint32_t)((x * 0x2545F4914F6CDD1Dull) >> 32);
}

static void shuffle(selstate *st)
{
    for (uint32_t i = 0; i < st->ncases; i++) {
        uint32_t j = rnd() % (i + 1);
        st->pollorder[i] = st->pollorder[j];
        st->pollorder[j] = i;
    }
}

/* Insertion sort by channel address; then drop NULLs and duplicates. */
static void sort_locks(selstate *st)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < st->ncases; i++) {
        goc_chan *c = st->cases[i].c;
        if (!c)
            continue;
        uint32_t j = n++;
        while (j > 0 && (uintptr_t)st->cases[st->lockorder[j - 1]].c > (uintptr_t)c) {
            st->lockorder[j] = st->lockorder[j - 1];
            j--;
        }
        st->lockorder[j] = i;
    }
    uint32_t k = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (k == 0 || st->cases[st->lockorder[k - 1]].c != st->cases[st->lockorder[i]].c)
            st->lockorder[k++] = st->lockorder[i];
    }
    st->nlock = k;
}

static void lock_all(selstate *st)
{
    for (uint32_t i = 0; i < st->nlock; i++)
        goc__lock_acquire(&st->cases[st->lockorder[i]].c->lock);
}

static void unlock_all(selstate *st)
{
    for (uint32_t i = st->nlock; i-- > 0;)
        goc__lock_release(&st->cases[st->lockorder[i]].c->lock);
}

static bool unlock_all_f(goc__g *g, void *arg)
{
    (void)g;
    unlock_all(arg);
    return true;
}

/* Everything locked: unlock all but c (which the completing helper
 * unlocks). */
static void unlock_others(selstate *st, goc_chan *c)
{
    for (uint32_t i = st->nlock; i-- > 0;) {
        goc_chan *x = st->cases[st->lockorder[i]].c;
        if (x != c)
            goc__lock_release(&x->lock);
    }
}

/* Pass 1 for case k: proceed now if possible (unlocking everything) and
 * return true. *closed as goc_case.closed. */
static bool try_case(selstate *st, uint32_t k, bool *closed)
{
    scase *cs = &st->cases[k];
    goc_chan *c = cs->c;
    if (cs->op == GOC_OP_SEND) {
        if (c->closed) {
            *closed = true;
            unlock_all(st);
            return true;
        }
        goc__sudog *r = goc__waitq_dequeue(&c->recvq);
        if (r) {
            unlock_others(st, c);
            goc__chan_send_to(c, r, cs->elem);
            return true;
        }
        if (c->qcount < c->cap) {
            if (c->elemsize)
                memcpy(goc__chan_slot(c, c->sendx), cs->elem, c->elemsize);
            if (++c->sendx == c->cap)
                c->sendx = 0;
            atomic_store_explicit(&c->qcount, c->qcount + 1, memory_order_relaxed);
            unlock_all(st);
            return true;
        }
        return false;
    }
    goc__sudog *s = goc__waitq_dequeue(&c->sendq);
    if (s) {
        unlock_others(st, c);
        goc__chan_recv_from(c, s, cs->elem);
        return true;
    }
    if (c->qcount > 0) {
        void *slot = goc__chan_slot(c, c->recvx);
        if (cs->elem && c->elemsize)
            memcpy(cs->elem, slot, c->elemsize);
        if (++c->recvx == c->cap)
            c->recvx = 0;
        atomic_store_explicit(&c->qcount, c->qcount - 1, memory_order_relaxed);
        unlock_all(st);
        return true;
    }
    if (c->closed) {
        if (cs->elem && c->elemsize)
            memset(cs->elem, 0, c->elemsize);
        *closed = true;
        unlock_all(st);
        return true;
    }
    return false;
}

/* Passes 2 and 3: wait on every case; return the winner's index. */
static uint32_t wait_all(selstate *st, bool *closed, goc__m **mp)
{
    goc__selwait sw = {0};
    goc__g *g = goc__getg_or_thread();
    /* In poll order, so that when several of our cases wait on one
     * channel, the partner that dequeues the first one picks a random
     * case (Go enqueues in lock order, whose ties follow the poll order). */
    for (uint32_t j = 0; j < st->ncases; j++) {
        uint32_t i = st->pollorder[j];
        scase *cs = &st->cases[i];
        if (!cs->c)
            continue;
        goc__sudog *s = &st->sudogs[i];
        *s = (goc__sudog){.g = g, .elem = cs->elem, .c = cs->c, .sel = &sw, .caseidx = i};
        goc__waitq_enqueue(cs->op == GOC_OP_SEND ? &cs->c->sendq : &cs->c->recvq, s);
    }
    goc__park_m(mp, unlock_all_f, st, "select");
    lock_all(st);
    for (uint32_t i = 0; i < st->ncases; i++) {
        scase *cs = &st->cases[i];
        if (cs->c && &st->sudogs[i] != sw.winner)
            goc__waitq_remove(cs->op == GOC_OP_SEND ? &cs->c->sendq : &cs->c->recvq,
                              &st->sudogs[i]);
    }
    unlock_all(st);
    *closed = !sw.winner->success;
    return sw.winner->caseidx;
}

static int select_none(goc_duration timeout, goc__m **mp)
{
    if (timeout == 0)
        return -EAGAIN;
    if (timeout > 0) {
        goc__leave(*mp);
        goc_sleep(timeout);
        *mp = goc__enter();
        return -ETIMEDOUT;
    }
    goc__park_m(mp, NULL, NULL, "select (no cases)"); /* forever, as select {} */
    return -EAGAIN;
}

/* In the runtime (goc__enter) from before the first lock to the end. */
static int run(selstate *st, goc_case *cases, uint32_t n, goc_duration timeout, goc__m **mp)
{
    shuffle(st);
    sort_locks(st);
    if (st->nlock == 0)
        return select_none(timeout, mp);
    bool closed = false;
    lock_all(st);
    for (uint32_t i = 0; i < st->ncases; i++) {
        uint32_t k = st->pollorder[i];
        if (st->cases[k].c && try_case(st, k, &closed)) {
            if (k == n)
                return -ETIMEDOUT;
            cases[k].closed = closed;
            return (int)k;
        }
    }
    if (timeout == 0) {
        unlock_all(st);
        return -EAGAIN;
    }
    uint32_t k = wait_all(st, &closed, mp);
    if (k == n)
        return -ETIMEDOUT;
    cases[k].closed = closed;
    return (int)k;
}

GOC_API int goc_select(goc_case *cases, size_t n, goc_duration timeout)
{
    goc__attach_thread();
    if ((n > 0 && !cases) || n > MAX_CASES)
        return goc__errset(-EINVAL, "goc_select: NULL cases, or more than 65536");
    uint32_t total = (uint32_t)n + 1; /* room for the timeout case */
    scase small_cases[SMALL + 1];
    uint32_t small_poll[SMALL + 1], small_lock[SMALL + 1];
    goc__sudog small_sudogs[SMALL + 1];
    selstate st = {small_cases, 0, small_poll, small_lock, 0, small_sudogs};
    void *heap = NULL;
    if (n > SMALL) {
        size_t sz = total * (sizeof(scase) + 2 * sizeof(uint32_t) + sizeof(goc__sudog));
        heap = malloc(sz);
        if (!heap)
            return goc__errop(-ENOMEM, "goc_select");
        st.sudogs = heap;
        st.cases = (scase *)(st.sudogs + total);
        st.pollorder = (uint32_t *)(st.cases + total);
        st.lockorder = st.pollorder + total;
    }
    for (uint32_t i = 0; i < n; i++) {
        cases[i].closed = false;
        st.cases[i] = (scase){cases[i].chan, cases[i].op, cases[i].elem};
        if (cases[i].chan && cases[i].op != GOC_OP_SEND && cases[i].op != GOC_OP_RECV) {
            free(heap);
            return goc__errorf(-EINVAL,
                               "goc_select: case %u: op is neither GOC_OP_SEND nor GOC_OP_RECV", i);
        }
    }
    st.ncases = (uint32_t)n;
    goc_timer *timer = NULL;
    int64_t tval;
    if (timeout > 0 && n > 0) {
        goc_chan *tc = goc__after_start(timeout, &timer);
        if (!tc) {
            free(heap);
            return goc__errop(-ENOMEM, "goc_select");
        }
        st.cases[n] = (scase){tc, GOC_OP_RECV, &tval};
        st.ncases = total;
    }
    goc__m *m = goc__enter();
    int rc = run(&st, cases, (uint32_t)n, timeout, &m);
    goc__leave(m);
    if (st.ncases == total)
        goc__after_stop(st.cases[n].c, timer);
    free(heap);
    if (rc == -ETIMEDOUT)
        return goc__errset(rc, "goc_select: timed out");
    return rc;
}
