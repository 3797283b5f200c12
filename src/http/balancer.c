/*
 * balancer.c — a set of targets and four policies to pick one per request
 * (goc/httputil.h): smooth weighted round robin, least connections, the
 * power of two choices over a latency EWMA, and Maglev consistent hashing
 * (maglev.c).
 *
 * Ownership: a target is referenced by the balancer while it is a member
 * and by each pick until its goc_balancer_done; it is freed when the last
 * of these goes (remove and free drop the membership). The balancer
 * itself stays allocated, after goc_balancer_free, until the last pick's
 * done, because done locks it; it is destroyed by whichever comes last.
 *
 * Locking: one mutex, b->mu, guards the balancer and every field of its
 * targets except inflight (an atomic, so goc_balancer_target_inflight can
 * read it without the balancer) and the immutable addr and data. Critical
 * sections are short and never block or yield, so a pthread mutex serves
 * goroutines and plain threads alike. The hash policy's table is rebuilt
 * lazily, at the first pick after a change (dirty), under the same lock.
 *
 * Policies, on the candidates: the targets that are up and not in the
 * pick's avoid list, or, if that leaves none, all that are up.
 *   round robin  nginx's smooth weighted round robin: each candidate's
 *                current grows by its weight, the largest wins and loses
 *                the total; weights 5,1,1 give a a b a c a a.
 *   least_conn   the least inflight/weight, scanning from a start that
 *                moves one target per pick, so ties take turns.
 *   p2c          two distinct candidates at random; the lower cost wins,
 *                cost = EWMA(latency) * (inflight + 1). The EWMA is
 *                Finagle's peak EWMA: a latency above the average replaces
 *                it, one below is blended in with weight 1 - w, and the
 *                average decays toward 0 as w = tau / (tau + elapsed) with
 *                tau = 10 s (a rational stand-in for exp(-elapsed/tau)), so
 *                a target that was slow a while ago gets tried again. A
 *                target never measured costs 0, so it gets tried at once.
 *   hash         Maglev over the targets that are up; a key whose slot
 *                holds an avoided target takes the next slots in turn.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <goc/httputil.h>

#include "http/balancer.h"
#include "runtime/park.h" /* GOC_ASSERT_HELD */

#define MAX_WEIGHT 1000
#define EWMA_TAU   (10 * GOC_SECOND)

struct goc_balancer_target {
    atomic_int inflight; /* picks not yet done; written under mu */
    /* under b->mu: */
    int refs;        /* 1 while a member, + 1 per pick not yet done */
    int weight;      /* 1..MAX_WEIGHT */
    bool up;         /* a member that may be picked */
    int64_t current; /* smooth weighted round robin */
    uint64_t picks;
    double ewma;   /* p2c's latency average (ns); valid when stamp != 0 */
    int64_t stamp; /* goc_now() of the last measurement, 0: never */
    /* immutable: */
    void *data;
    char addr[];
};

struct goc_balancer {
    pthread_mutex_t mu;
    goc_balance_policy policy; /* immutable */
    /* under mu: */
    goc_balancer_target **t;    /* members, in the order they were added */
    size_t n, cap;              /* members, room in t, cand, ring, perm */
    size_t nup;                 /* members that are up */
    goc_balancer_target **cand; /* a pick's candidates (scratch) */
    size_t turn;                /* least_conn's rotating start */
    uint64_t rng;               /* xorshift64* state, never 0 */
    size_t outstanding;         /* picks not yet done */
    bool closed;                /* goc_balancer_free was called */
    /* the hash policy's table, over the targets that are up: */
    uint32_t *table;            /* GOC__MAGLEV_SIZE indexes into ring */
    goc_balancer_target **ring; /* up targets, sorted by addr */
    goc__maglev_perm *perm;     /* their walks (scratch of the build) */
    size_t nring;
    bool dirty; /* the table no longer matches the members */
};

/* ---- policies' names ------------------------------------------------------ */

static const char *const policy_names[] = {"round_robin", "least_conn", "p2c", "hash"};

int goc_balance_policy_parse(const char *name, goc_balance_policy *out)
{
    for (int i = 0; name && i < 4; i++) {
        if (strcmp(name, policy_names[i]) == 0) {
            *out = (goc_balance_policy)i;
            return 0;
        }
    }
    return -EINVAL;
}

const char *goc_balance_policy_name(goc_balance_policy p)
{
    return (unsigned)p < 4 ? policy_names[p] : "unknown";
}

/* ---- the balancer's life --------------------------------------------------- */

goc_balancer *goc_balancer_new(goc_balance_policy policy)
{
    if ((unsigned)policy > GOC_BALANCE_HASH)
        return NULL;
    goc_balancer *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    if (policy == GOC_BALANCE_HASH) {
        b->table = malloc(GOC__MAGLEV_SIZE * sizeof *b->table);
        if (!b->table) {
            free(b);
            return NULL;
        }
    }
    pthread_mutex_init(&b->mu, NULL);
    b->policy = policy;
    b->rng = goc__mix64((uint64_t)goc_now() ^ (uintptr_t)b) | 1;
    return b;
}

static void destroy(goc_balancer *b)
{
    pthread_mutex_destroy(&b->mu);
    free(b->t);
    free(b->cand);
    free(b->table);
    free(b->ring);
    free(b->perm);
    free(b);
}

/* Drop one reference to t. b->mu held. */
static void target_unref(goc_balancer *b, goc_balancer_target *t)
{
    GOC_ASSERT_HELD(&b->mu);
    (void)b;
    if (--t->refs == 0)
        free(t);
}

void goc_balancer_free(goc_balancer *b)
{
    if (!b)
        return;
    pthread_mutex_lock(&b->mu);
    for (size_t i = 0; i < b->n; i++)
        target_unref(b, b->t[i]);
    b->n = b->nup = b->nring = 0;
    b->closed = true;
    bool last = b->outstanding == 0;
    pthread_mutex_unlock(&b->mu);
    if (last)
        destroy(b);
}

/* ---- membership ------------------------------------------------------------ */

/* The member named addr, its index in *idx, or NULL. b->mu held. */
static goc_balancer_target *find(goc_balancer *b, const char *addr, size_t *idx)
{
    GOC_ASSERT_HELD(&b->mu);
    for (size_t i = 0; i < b->n; i++) {
        if (strcmp(b->t[i]->addr, addr) == 0) {
            if (idx)
                *idx = i;
            return b->t[i];
        }
    }
    return NULL;
}

static int grow_array(void *pp, size_t elem, size_t cap)
{
    void **p = pp;
    void *q = realloc(*p, cap * elem);
    if (!q)
        return -ENOMEM;
    *p = q;
    return 0;
}

/* Room for one more member in every per-member array. b->mu held. */
static int reserve(goc_balancer *b)
{
    GOC_ASSERT_HELD(&b->mu);
    if (b->n < b->cap)
        return 0;
    size_t cap = b->cap ? b->cap * 2 : 8;
    if (grow_array(&b->t, sizeof *b->t, cap) < 0 || grow_array(&b->cand, sizeof *b->cand, cap) < 0)
        return -ENOMEM;
    if (b->policy == GOC_BALANCE_HASH && (grow_array(&b->ring, sizeof *b->ring, cap) < 0 ||
                                          grow_array(&b->perm, sizeof *b->perm, cap) < 0))
        return -ENOMEM;
    b->cap = cap;
    return 0;
}

static int check_weight(int *weight)
{
    if (*weight == 0)
        *weight = 1;
    return *weight >= 1 && *weight <= MAX_WEIGHT ? 0 : -EINVAL;
}

int goc_balancer_add(goc_balancer *b, const char *addr, int weight, void *data)
{
    size_t len = addr ? strlen(addr) : 0;
    /* Snapshots copy the address into 256 bytes. */
    if (len == 0 || len >= sizeof(((goc_balancer_target_info *)0)->addr) ||
        check_weight(&weight) < 0)
        return -EINVAL;
    goc_balancer_target *t = calloc(1, sizeof *t + len + 1);
    if (!t)
        return -ENOMEM;
    memcpy(t->addr, addr, len + 1);
    t->data = data;
    t->weight = weight;
    t->up = true;
    t->refs = 1;
    pthread_mutex_lock(&b->mu);
    int rc = find(b, addr, NULL) ? -EEXIST : reserve(b);
    if (rc == 0) {
        b->t[b->n++] = t;
        b->nup++;
        b->dirty = true;
    }
    pthread_mutex_unlock(&b->mu);
    if (rc < 0)
        free(t);
    return rc;
}

int goc_balancer_remove(goc_balancer *b, const char *addr)
{
    size_t i;
    pthread_mutex_lock(&b->mu);
    goc_balancer_target *t = addr ? find(b, addr, &i) : NULL;
    if (t) {
        /* Keep the order: round robin's ties and least_conn's turns
         * follow it. */
        memmove(&b->t[i], &b->t[i + 1], (b->n - i - 1) * sizeof *b->t);
        b->n--;
        if (t->up)
            b->nup--;
        t->up = false;
        b->dirty = true;
        target_unref(b, t);
    }
    pthread_mutex_unlock(&b->mu);
    return t ? 0 : -ENOENT;
}

int goc_balancer_set_weight(goc_balancer *b, const char *addr, int weight)
{
    if (check_weight(&weight) < 0)
        return -EINVAL;
    pthread_mutex_lock(&b->mu);
    goc_balancer_target *t = addr ? find(b, addr, NULL) : NULL;
    if (t && t->weight != weight) {
        t->weight = weight;
        b->dirty = true;
    }
    pthread_mutex_unlock(&b->mu);
    return t ? 0 : -ENOENT;
}

int goc_balancer_set_up(goc_balancer *b, const char *addr, bool up)
{
    pthread_mutex_lock(&b->mu);
    goc_balancer_target *t = addr ? find(b, addr, NULL) : NULL;
    if (t && t->up != up) {
        t->up = up;
        if (up)
            b->nup++;
        else
            b->nup--;
        t->current = 0; /* back in the rotation from a fair start */
        b->dirty = true;
    }
    pthread_mutex_unlock(&b->mu);
    return t ? 0 : -ENOENT;
}

size_t goc_balancer_len(goc_balancer *b)
{
    pthread_mutex_lock(&b->mu);
    size_t n = b->n;
    pthread_mutex_unlock(&b->mu);
    return n;
}

size_t goc_balancer_len_up(goc_balancer *b)
{
    pthread_mutex_lock(&b->mu);
    size_t n = b->nup;
    pthread_mutex_unlock(&b->mu);
    return n;
}

/* ---- policies --------------------------------------------------------------- */

static uint64_t next_rand(goc_balancer *b)
{
    GOC_ASSERT_HELD(&b->mu);
    uint64_t x = b->rng; /* xorshift64* */
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    b->rng = x;
    return x * 0x2545f4914f6cdd1dULL;
}

static bool avoided(const goc_balancer_target *t, goc_balancer_target *const *avoid, size_t navoid)
{
    for (size_t i = 0; i < navoid; i++)
        if (avoid[i] == t)
            return true;
    return false;
}

/* Fill b->cand with the up targets not avoided, or, if none, with all up
 * ones. Their count. b->mu held. */
static size_t candidates(goc_balancer *b, goc_balancer_target *const *avoid, size_t navoid)
{
    GOC_ASSERT_HELD(&b->mu);
    size_t n = 0;
    for (size_t i = 0; i < b->n; i++)
        if (b->t[i]->up && !avoided(b->t[i], avoid, navoid))
            b->cand[n++] = b->t[i];
    if (n == 0)
        for (size_t i = 0; i < b->n; i++)
            if (b->t[i]->up)
                b->cand[n++] = b->t[i];
    return n;
}

static goc_balancer_target *pick_round_robin(goc_balancer *b, size_t n)
{
    int64_t total = 0;
    goc_balancer_target *best = NULL;
    for (size_t i = 0; i < n; i++) {
        goc_balancer_target *t = b->cand[i];
        t->current += t->weight;
        total += t->weight;
        if (!best || t->current > best->current)
            best = t;
    }
    best->current -= total;
    return best;
}

/* Requests in flight on t. relaxed: under b->mu every change is ordered by
 * the mutex; without it (target_inflight) the value is only a gauge. */
static int inflight(const goc_balancer_target *t)
{
    return atomic_load_explicit(&t->inflight, memory_order_relaxed);
}

/* x's inflight/weight below y's, without dividing. */
static bool less_loaded(const goc_balancer_target *x, const goc_balancer_target *y)
{
    return (int64_t)inflight(x) * y->weight < (int64_t)inflight(y) * x->weight;
}

static goc_balancer_target *pick_least_conn(goc_balancer *b, size_t n)
{
    size_t start = b->turn++ % n;
    goc_balancer_target *best = b->cand[start];
    for (size_t k = 1; k < n; k++) {
        goc_balancer_target *t = b->cand[(start + k) % n];
        if (less_loaded(t, best))
            best = t;
    }
    return best;
}

/* t's EWMA decayed to now. b->mu held. */
static double ewma_now(const goc_balancer_target *t, int64_t now)
{
    if (t->stamp == 0)
        return 0;
    double elapsed = now > t->stamp ? (double)(now - t->stamp) : 0;
    return t->ewma * ((double)EWMA_TAU / ((double)EWMA_TAU + elapsed));
}

static double p2c_cost(const goc_balancer_target *t, int64_t now)
{
    return ewma_now(t, now) * (inflight(t) + 1);
}

static goc_balancer_target *pick_p2c(goc_balancer *b, size_t n)
{
    if (n == 1)
        return b->cand[0];
    size_t i = next_rand(b) % n, j = next_rand(b) % (n - 1);
    if (j >= i)
        j++;
    goc_balancer_target *x = b->cand[i], *y = b->cand[j];
    int64_t now = goc_now();
    double cx = p2c_cost(x, now), cy = p2c_cost(y, now);
    if (cx != cy)
        return cx < cy ? x : y;
    /* Equal (both unmeasured): the one with less in flight. */
    return inflight(y) < inflight(x) ? y : x;
}

static int by_addr(const void *a, const void *b)
{
    const goc_balancer_target *x = *(goc_balancer_target *const *)a;
    const goc_balancer_target *y = *(goc_balancer_target *const *)b;
    return strcmp(x->addr, y->addr);
}

/* Rebuild the Maglev table over the up targets, sorted by address so the
 * table does not depend on the order they were added in. b->mu held. */
static void rebuild(goc_balancer *b)
{
    GOC_ASSERT_HELD(&b->mu);
    b->nring = 0;
    for (size_t i = 0; i < b->n; i++)
        if (b->t[i]->up)
            b->ring[b->nring++] = b->t[i];
    qsort(b->ring, b->nring, sizeof *b->ring, by_addr);
    for (size_t i = 0; i < b->nring; i++)
        goc__maglev_perm_init(&b->perm[i], b->ring[i]->addr, strlen(b->ring[i]->addr),
                              b->ring[i]->weight);
    if (b->nring > 0)
        goc__maglev_build(b->table, b->perm, b->nring);
    b->dirty = false;
}

static goc_balancer_target *pick_hash(goc_balancer *b, const void *key, size_t keylen,
                                      goc_balancer_target *const *avoid, size_t navoid)
{
    if (b->dirty)
        rebuild(b);
    if (b->nring == 0)
        return NULL;
    uint32_t slot = (uint32_t)(goc__hash64(key, keylen, 0) % GOC__MAGLEV_SIZE);
    goc_balancer_target *first = b->ring[b->table[slot]];
    if (!avoided(first, avoid, navoid))
        return first;
    /* The next slots hold the other targets in a mix that is fixed for
     * the key, so a retry of one key goes to one place. */
    for (uint32_t k = 1; k < GOC__MAGLEV_SIZE; k++) {
        goc_balancer_target *t = b->ring[b->table[(slot + k) % GOC__MAGLEV_SIZE]];
        if (!avoided(t, avoid, navoid))
            return t;
    }
    return first; /* every up target was avoided */
}

goc_balancer_target *goc_balancer_pick(goc_balancer *b, const void *key, size_t keylen,
                                       goc_balancer_target *const *avoid, size_t navoid)
{
    goc_balancer_target *t = NULL;
    pthread_mutex_lock(&b->mu);
    if (b->policy == GOC_BALANCE_HASH && key) {
        t = pick_hash(b, key, keylen, avoid, navoid);
    } else {
        size_t n = candidates(b, avoid, navoid);
        if (n == 0)
            t = NULL;
        else if (b->policy == GOC_BALANCE_ROUND_ROBIN)
            t = pick_round_robin(b, n);
        else if (b->policy == GOC_BALANCE_LEAST_CONN)
            t = pick_least_conn(b, n);
        else if (b->policy == GOC_BALANCE_P2C)
            t = pick_p2c(b, n);
        else
            t = b->cand[next_rand(b) % n]; /* hash without a key */
    }
    if (t) {
        t->refs++;
        t->picks++;
        /* relaxed: see inflight() */
        atomic_fetch_add_explicit(&t->inflight, 1, memory_order_relaxed);
        b->outstanding++;
    }
    pthread_mutex_unlock(&b->mu);
    return t;
}

/* Fold a latency into t's peak EWMA. b->mu held. */
static void observe(goc_balancer_target *t, goc_duration latency, int64_t now)
{
    double lat = latency > 0 ? (double)latency : 0;
    double avg = ewma_now(t, now);
    if (t->stamp == 0 || lat > avg) {
        t->ewma = lat;
    } else {
        double elapsed = now > t->stamp ? (double)(now - t->stamp) : 0;
        double w = (double)EWMA_TAU / ((double)EWMA_TAU + elapsed);
        t->ewma = t->ewma * w + lat * (1 - w);
    }
    t->stamp = now > 0 ? now : 1;
}

void goc_balancer_done(goc_balancer *b, goc_balancer_target *t, goc_duration latency)
{
    if (!t)
        return;
    int64_t now = goc_now();
    pthread_mutex_lock(&b->mu);
    atomic_fetch_sub_explicit(&t->inflight, 1, memory_order_relaxed); /* see inflight() */
    observe(t, latency, now);
    target_unref(b, t);
    bool last = --b->outstanding == 0 && b->closed;
    pthread_mutex_unlock(&b->mu);
    if (last)
        destroy(b);
}

const char *goc_balancer_target_addr(const goc_balancer_target *t)
{
    return t->addr;
}

void *goc_balancer_target_data(const goc_balancer_target *t)
{
    return t->data;
}

int goc_balancer_target_inflight(const goc_balancer_target *t)
{
    return inflight(t);
}

size_t goc_balancer_snapshot(goc_balancer *b, goc_balancer_target_info *out, size_t n)
{
    pthread_mutex_lock(&b->mu);
    for (size_t i = 0; i < b->n && i < n; i++) {
        const goc_balancer_target *t = b->t[i];
        goc_balancer_target_info *o = &out[i];
        memcpy(o->addr, t->addr, strlen(t->addr) + 1); /* < 256: checked by add */
        o->weight = t->weight;
        o->up = t->up;
        o->inflight = inflight(t);
        o->picks = t->picks;
        o->ewma = t->stamp ? (goc_duration)t->ewma : 0;
    }
    size_t all = b->n;
    pthread_mutex_unlock(&b->mu);
    return all;
}
