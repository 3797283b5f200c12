/*
 * ctx.c — goc_ctx: Go's context package.
 *
 * Three kinds: the static background; cancel contexts (with_cancel,
 * with_timeout, with_deadline), which own a done channel closed on
 * cancellation; and value contexts, which only add a key/value and
 * delegate the rest to their parent.
 *
 * Lifetime: a child holds a reference to its parent; a cancel context is
 * registered in the children list of its nearest cancel ancestor, which
 * holds no reference to it. Cancellation walks the tree with a local work
 * stack instead of recursion (chains of contexts may be deep): under a node's
 * lock it takes the children, each with a reference if it is not already
 * dying (refs 0: its last release is waiting on this lock to unlink it),
 * and cancels them after unlocking. A pending deadline timer holds a
 * reference; cancelling stops it.
 *
 * Locking: c->lock guards children/sibling links, attached and timer.
 * Locks are taken one at a time, never nested.
 */
#include "chan/chan.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum kind { BACKGROUND, CANCEL, VALUE };

struct goc_ctx {
    _Atomic int64_t refs;
    enum kind kind;
    goc_ctx *parent; /* referenced; NULL for background */
    /* cancel contexts */
    goc__lock lock;
    goc_chan *done;     /* closed on cancel */
    _Atomic int err;    /* 0, -ECANCELED or -ETIMEDOUT */
    int64_t deadline;   /* goc_now() time, 0: none */
    goc_ctx *owner;     /* cancel ancestor whose list we are in */
    bool attached;      /* in owner's children list (owner->lock) */
    goc__list children; /* of goc_ctx through sibling, under lock */
    goc__link sibling;  /* in owner's children, under owner->lock */
    goc_ctx *work;      /* cancellation work list */
    goc_timer *timer;   /* deadline; under lock */
    /* value contexts */
    const void *key;
    void *value;
};

static goc_ctx background = {.kind = BACKGROUND};

GOC_API goc_ctx *goc_ctx_background(void)
{
    return &background;
}

GOC_API goc_ctx *goc_ctx_retain(goc_ctx *c)
{
    if (c && c->kind != BACKGROUND)
        atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
    return c;
}

/* A reference unless c is dying (refs already 0). */
static bool try_retain(goc_ctx *c)
{
    int64_t r = atomic_load_explicit(&c->refs, memory_order_relaxed);
    while (r > 0) {
        if (atomic_compare_exchange_weak_explicit(&c->refs, &r, r + 1, memory_order_acq_rel,
                                                  memory_order_relaxed))
            return true;
    }
    return false;
}

static void detach(goc_ctx *c)
{
    goc_ctx *o = c->owner;
    if (!o)
        return;
    goc__lock_acquire(&o->lock);
    if (c->attached) {
        goc__list_remove(&o->children, &c->sibling);
        c->attached = false;
    }
    goc__lock_release(&o->lock);
}

GOC_API void goc_ctx_release(goc_ctx *c)
{
    if (!c || c->kind == BACKGROUND)
        return;
    if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1)
        return;
    if (c->kind == CANCEL) {
        detach(c);
        goc_chan_release(c->done);
    }
    goc_ctx *parent = c->parent;
    free(c);
    goc_ctx_release(parent);
}

/* The nearest ancestor (or c) that can be cancelled, or NULL. */
static goc_ctx *cancel_ancestor(goc_ctx *c)
{
    while (c && c->kind == VALUE)
        c = c->parent;
    return c && c->kind == CANCEL ? c : NULL;
}

/* A stack of contexts to cancel, local to one cancellation (several may
 * run at once over overlapping subtrees). */
struct worklist {
    goc_ctx **v;
    size_t n, cap;
    goc_ctx *small[32];
};

static bool push(struct worklist *w, goc_ctx *c)
{
    if (w->n == w->cap) {
        size_t cap = w->cap * 2;
        goc_ctx **v = w->v == w->small ? malloc(cap * sizeof *v) : realloc(w->v, cap * sizeof *v);
        if (!v)
            return false;
        if (w->v == w->small)
            memcpy(v, w->small, sizeof w->small);
        w->v = v;
        w->cap = cap;
    }
    w->v[w->n++] = c;
    return true;
}

static void cancel_tree(goc_ctx *root, int err);

/* Cancel c (referenced by the caller; the reference is consumed) and queue
 * its children. */
static void cancel_one(struct worklist *w, goc_ctx *c, int err)
{
    goc__lock_acquire(&c->lock);
    goc_timer *timer = NULL;
    goc_ctx *overflow = NULL; /* children the list had no room for */
    if (atomic_load_explicit(&c->err, memory_order_relaxed) == 0) {
        atomic_store_explicit(&c->err, err, memory_order_release);
        goc_chan_close(c->done);
        for (goc__link *l = c->children.head; l; l = l->next) {
            goc_ctx *ch = GOC__CONTAINER_OF(l, goc_ctx, sibling);
            ch->attached = false;
            if (try_retain(ch) && !push(w, ch)) {
                ch->work = overflow; /* under c->lock: only we link it */
                overflow = ch;
            }
        }
        c->children = (goc__list){NULL, NULL}; /* the siblings' links are stale now */
        timer = c->timer;
        c->timer = NULL;
    }
    goc__lock_release(&c->lock);
    while (overflow) { /* out of memory for the list: recurse instead */
        goc_ctx *ch = overflow;
        overflow = ch->work;
        cancel_tree(ch, err);
    }
    if (timer) {
        if (goc_timer_stop(timer))
            goc_ctx_release(c); /* the timer's reference */
        goc_timer_release(timer);
    }
    goc_ctx_release(c);
}

/* Cancel root and its descendants with err; the caller holds a reference
 * to root, which this consumes. */
static void cancel_tree(goc_ctx *root, int err)
{
    struct worklist w = {.n = 0, .cap = 32};
    w.v = w.small;
    w.v[w.n++] = root;
    while (w.n > 0)
        cancel_one(&w, w.v[--w.n], err);
    if (w.v != w.small)
        free(w.v);
}

GOC_API void goc_ctx_cancel(goc_ctx *c)
{
    goc__attach_thread();
    if (!c || c->kind != CANCEL)
        return;
    detach(c);
    goc_ctx_retain(c);
    cancel_tree(c, -ECANCELED);
}

static goc_ctx *new_ctx(goc_ctx *parent, enum kind kind)
{
    if (!parent)
        return NULL;
    goc_ctx *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    atomic_init(&c->refs, 1);
    c->kind = kind;
    c->parent = goc_ctx_retain(parent);
    return c;
}

GOC_API goc_ctx *goc_ctx_with_cancel(goc_ctx *parent)
{
    goc_ctx *c = new_ctx(parent, CANCEL);
    if (!c)
        return NULL;
    c->done = goc_chan_make(0, 0);
    if (!c->done) {
        goc_ctx_release(parent);
        free(c);
        return NULL;
    }
    c->deadline = goc_ctx_deadline(parent);
    goc_ctx *o = cancel_ancestor(parent);
    if (!o)
        return c;
    goc__lock_acquire(&o->lock);
    int perr = atomic_load_explicit(&o->err, memory_order_acquire);
    if (!perr) {
        c->owner = o;
        c->attached = true;
        goc__list_push_front(&o->children, &c->sibling);
    }
    goc__lock_release(&o->lock);
    if (perr) {
        goc_ctx_retain(c);
        cancel_tree(c, perr); /* born cancelled */
    }
    return c;
}

static void deadline_fired(void *arg)
{
    goc_ctx *c = arg;
    detach(c);                  /* first: cancel_tree may free c */
    cancel_tree(c, -ETIMEDOUT); /* consumes the timer's reference */
}

GOC_API goc_ctx *goc_ctx_with_deadline(goc_ctx *parent, int64_t deadline)
{
    int64_t pd = parent ? goc_ctx_deadline(parent) : 0;
    goc_ctx *c = goc_ctx_with_cancel(parent);
    if (!c || (pd != 0 && pd <= deadline))
        return c; /* the parent's deadline comes first: it will cancel us */
    c->deadline = deadline;
    int64_t d = deadline - goc_now();
    if (d <= 0) {
        detach(c);
        goc_ctx_retain(c);
        cancel_tree(c, -ETIMEDOUT);
        return c;
    }
    goc_ctx_retain(c); /* the timer's */
    goc__lock_acquire(&c->lock);
    if (atomic_load_explicit(&c->err, memory_order_relaxed) == 0)
        c->timer = goc_after_func(d, deadline_fired, c);
    bool armed = c->timer != NULL;
    bool oom = !armed && atomic_load_explicit(&c->err, memory_order_relaxed) == 0;
    goc__lock_release(&c->lock);
    if (!armed)
        goc_ctx_release(c); /* the timer's: cancelled meanwhile, or no memory */
    if (oom) {              /* a context that would never time out is worse than none */
        goc_ctx_cancel(c);
        goc_ctx_release(c);
        return NULL;
    }
    return c;
}

GOC_API goc_ctx *goc_ctx_with_timeout(goc_ctx *parent, goc_duration d)
{
    int64_t now = goc_now();
    return goc_ctx_with_deadline(parent, d > INT64_MAX - now ? INT64_MAX : now + d);
}

GOC_API goc_ctx *goc_ctx_with_value(goc_ctx *parent, const void *key, void *value)
{
    goc_ctx *c = new_ctx(parent, VALUE);
    if (c) {
        c->key = key;
        c->value = value;
    }
    return c;
}

GOC_API goc_chan *goc_ctx_done(goc_ctx *c)
{
    c = c ? cancel_ancestor(c) : NULL;
    return c ? c->done : NULL;
}

GOC_API int goc_ctx_err(goc_ctx *c)
{
    c = c ? cancel_ancestor(c) : NULL;
    return c ? atomic_load_explicit(&c->err, memory_order_acquire) : 0;
}

GOC_API void *goc_ctx_value(goc_ctx *c, const void *key)
{
    for (; c; c = c->parent) {
        if (c->kind == VALUE && c->key == key)
            return c->value;
    }
    return NULL;
}

GOC_API int64_t goc_ctx_deadline(goc_ctx *c)
{
    c = c ? cancel_ancestor(c) : NULL;
    return c ? c->deadline : 0;
}
