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
 * After-funcs (context.AfterFunc): a goc_ctx_stop node in the afters list
 * of the nearest cancel ancestor (its owner), as a child context is in its
 * children. The first cancellation takes the whole list under the owner's
 * lock, marks every node detached, and after unlocking calls each fn in
 * turn, then sets the node's ran flag (or frees a node nobody holds a
 * handle to). goc_ctx_after_func_stop decides the race under the same
 * lock: a node still attached is unlinked and fn will never run; a
 * detached one is the canceller's, so stop waits for ran. A node behind a
 * handle holds a reference to its owner until stopped (stop takes the
 * owner's lock, so the owner must outlive it); one without a handle holds
 * none and is freed with its owner if that dies uncancelled, as Go's
 * collector would drop it (an unreferenced context can no longer be
 * cancelled: ancestors skip dying children).
 *
 * Locking: c->lock guards children/sibling links, attached, timer and the
 * afters list (with its nodes' link and attached). Locks are taken one at
 * a time, never nested; no fn is called under one.
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
    goc__list afters;   /* of goc_ctx_stop through link, under lock */
    /* value contexts */
    const void *key;
    void *value;
};

/* One goc_ctx_after_func registration. */
struct goc_ctx_stop {
    goc__link link;        /* in owner->afters while attached */
    goc_ctx *owner;        /* the handle's reference; NULL: no handle, or fn ran at once */
    void (*fn)(void *arg); /* immutable from here on */
    void *arg;
    bool handle;      /* returned to the caller: stop frees it, else the canceller */
    bool attached;    /* in owner->afters, under owner->lock */
    _Atomic bool ran; /* fn returned; set once by the canceller (handle only) */
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
        /* Never cancelled, and now it cannot be: no one else can reach the
         * list, and only handle-less nodes are left (handles hold refs). */
        for (goc__link *l = c->afters.head; l;) {
            goc_ctx_stop *s = GOC__CONTAINER_OF(l, goc_ctx_stop, link);
            l = l->next;
            GOC_ASSERT(!s->handle);
            free(s);
        }
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

/* Take c's after-funcs for cancel_one to run once it unlocks. c->lock
 * held; c is being cancelled, so no node attaches after this. */
static goc__link *take_afters(goc_ctx *c)
{
    GOC_ASSERT_LOCKED(&c->lock);
    goc__link *head = c->afters.head;
    for (goc__link *l = head; l; l = l->next)
        GOC__CONTAINER_OF(l, goc_ctx_stop, link)->attached = false; /* now ours */
    c->afters = (goc__list){NULL, NULL};
    return head;
}

/* Call the fns of a list from take_afters; no lock held. */
static void run_afters(goc__link *l)
{
    while (l) {
        goc_ctx_stop *s = GOC__CONTAINER_OF(l, goc_ctx_stop, link);
        l = l->next; /* first: once ran is set, a stopper may free s */
        s->fn(s->arg);
        if (!s->handle) {
            free(s);
            continue;
        }
        /* store-release: pairs with the load-acquire in wait_ran, so fn's
         * effects happen before stop returns; s is the stopper's after. */
        atomic_store_explicit(&s->ran, true, memory_order_release);
    }
}

/* Cancel c (referenced by the caller; the reference is consumed) and queue
 * its children. */
static void cancel_one(struct worklist *w, goc_ctx *c, int err)
{
    goc__lock_acquire(&c->lock);
    goc_timer *timer = NULL;
    goc_ctx *overflow = NULL; /* children the list had no room for */
    goc__link *afters = NULL;
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
        afters = take_afters(c);
    }
    goc__lock_release(&c->lock);
    run_afters(afters); /* c is closed and its err set: fn sees both */
    while (overflow) {  /* out of memory for the list: recurse instead */
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

GOC_API int goc_ctx_after_func(goc_ctx *c, void (*fn)(void *arg), void *arg, goc_ctx_stop **stop)
{
    goc__attach_thread();
    if (stop)
        *stop = NULL;
    if (!fn)
        return -EINVAL;
    goc_ctx *o = c ? cancel_ancestor(c) : NULL;
    if (!o)
        return 0; /* never cancelled: fn never runs */
    goc_ctx_stop *s = malloc(sizeof *s);
    if (!s)
        return -ENOMEM;
    *s = (goc_ctx_stop){.fn = fn, .arg = arg, .handle = stop != NULL};
    atomic_init(&s->ran, false);
    goc__lock_acquire(&o->lock);
    /* relaxed: err only changes under o->lock, which we hold. */
    bool live = atomic_load_explicit(&o->err, memory_order_relaxed) == 0;
    if (live) {
        if (stop)
            s->owner = goc_ctx_retain(o); /* the handle's; c holds o, so o is alive */
        s->attached = true;
        goc__list_push_front(&o->afters, &s->link);
    }
    goc__lock_release(&o->lock);
    if (!live) { /* already done: call it here */
        fn(arg);
        if (!stop) {
            free(s);
            return 0;
        }
        /* relaxed: the handle reaches other threads only through *stop,
         * published by whatever hands it over. */
        atomic_store_explicit(&s->ran, true, memory_order_relaxed);
    }
    if (stop)
        *stop = s;
    return 0;
}

/* Wait until the canceller that took s has returned from its fn (short:
 * spin a little, then yield). */
static void wait_ran(goc_ctx_stop *s)
{
    /* load-acquire: pairs with the store-release in run_afters. */
    for (int i = 0; !atomic_load_explicit(&s->ran, memory_order_acquire); i++) {
        if (i < 100)
            goc__cpu_relax();
        else
            goc_yield();
    }
}

GOC_API bool goc_ctx_after_func_stop(goc_ctx_stop *s)
{
    goc__attach_thread();
    if (!s)
        return true; /* from a context that can never be cancelled */
    goc_ctx *o = s->owner;
    bool stopped = false;
    if (o) {
        goc__lock_acquire(&o->lock);
        if (s->attached) {
            goc__list_remove(&o->afters, &s->link);
            s->attached = false;
            stopped = true;
        }
        goc__lock_release(&o->lock);
    }
    if (!stopped)
        wait_ran(s); /* taken by a canceller (or run at registration) */
    free(s);
    goc_ctx_release(o); /* the handle's reference; NULL ignored */
    return stopped;
}
