/*
 * ratelimit.c — a token bucket per key (golang.org/x/time/rate's Allow,
 * one limiter per client) and the middleware that answers 429 with it.
 *
 * A bucket holds up to burst tokens and gains rate per second; a request
 * takes one. Tokens are refilled lazily: each allow adds rate * elapsed
 * since the bucket's last visit, so an idle key costs nothing. A new key
 * starts full.
 *
 * Buckets live in a chained hash map (a power-of-two table, grown to keep
 * one bucket per chain on average) and on an LRU list, most recent first;
 * at max_keys, the least recently used bucket is forgotten to make room
 * (its key starts full again when it comes back, which at worst lets a
 * client that went quiet for longest burst once more).
 *
 * Locking: one mutex, l->mu, guards the map, the list and every bucket.
 * An allow is a hash lookup and a few multiplications under it, never a
 * block or yield, so a pthread mutex serves goroutines and threads alike.
 *
 * The middleware's arg is malloc'ed when it is made and never freed, like
 * the other wrappers' (middleware.c): a handler lives as long as the
 * program.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <goc/httputil.h>

#include "http/balancer.h" /* goc__hash64 */
#include "runtime/park.h"  /* GOC_ASSERT_HELD */

#define DEFAULT_MAX_KEYS 65536
#define MIN_BUCKETS      16

typedef struct bucket {
    struct bucket *chain;       /* next in the map's chain */
    struct bucket *prev, *next; /* the LRU list */
    uint64_t hash;
    double tokens;
    int64_t last; /* goc_now() when tokens was last brought up to date */
    char key[];
} bucket;

struct goc_rate_limiter {
    pthread_mutex_t mu;
    double rate;     /* tokens per nanosecond; immutable */
    double burst;    /* immutable */
    size_t max_keys; /* immutable */
    /* under mu: */
    bucket **map;
    size_t mask; /* map has mask + 1 chains */
    size_t n;
    bucket lru; /* sentinel: lru.next is the most recent */
};

goc_rate_limiter *goc_rate_limiter_new(double rate, int burst, size_t max_keys)
{
    if (!(rate > 0) || burst < 1)
        return NULL;
    goc_rate_limiter *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->map = calloc(MIN_BUCKETS, sizeof *l->map);
    if (!l->map) {
        free(l);
        return NULL;
    }
    pthread_mutex_init(&l->mu, NULL);
    l->rate = rate / 1e9;
    l->burst = burst;
    l->max_keys = max_keys ? max_keys : DEFAULT_MAX_KEYS;
    l->mask = MIN_BUCKETS - 1;
    l->lru.prev = l->lru.next = &l->lru;
    return l;
}

void goc_rate_limiter_free(goc_rate_limiter *l)
{
    if (!l)
        return;
    for (bucket *k = l->lru.next, *next; k != &l->lru; k = next) {
        next = k->next;
        free(k);
    }
    free(l->map);
    pthread_mutex_destroy(&l->mu);
    free(l);
}

static void lru_unlink(bucket *k)
{
    k->prev->next = k->next;
    k->next->prev = k->prev;
}

static void lru_push_front(goc_rate_limiter *l, bucket *k)
{
    k->prev = &l->lru;
    k->next = l->lru.next;
    l->lru.next->prev = k;
    l->lru.next = k;
}

/* Forget the least recently used bucket. l->mu held, l->n > 0. */
static void evict(goc_rate_limiter *l)
{
    GOC_ASSERT_HELD(&l->mu);
    bucket *old = l->lru.prev;
    bucket **pp = &l->map[old->hash & l->mask];
    while (*pp != old)
        pp = &(*pp)->chain;
    *pp = old->chain;
    lru_unlink(old);
    l->n--;
    free(old);
}

/* Double the map when it holds more buckets than chains; a failed
 * allocation only leaves the chains longer. l->mu held. */
static void maybe_grow(goc_rate_limiter *l)
{
    GOC_ASSERT_HELD(&l->mu);
    if (l->n <= l->mask + 1)
        return;
    size_t cap = (l->mask + 1) * 2;
    bucket **map = calloc(cap, sizeof *map);
    if (!map)
        return;
    for (bucket *k = l->lru.next; k != &l->lru; k = k->next) {
        k->chain = map[k->hash & (cap - 1)];
        map[k->hash & (cap - 1)] = k;
    }
    free(l->map);
    l->map = map;
    l->mask = cap - 1;
}

/* key's bucket, made (full) if new, moved to the front of the LRU list;
 * NULL on ENOMEM. l->mu held. */
static bucket *lookup(goc_rate_limiter *l, const char *key, size_t len, uint64_t h, int64_t now)
{
    GOC_ASSERT_HELD(&l->mu);
    for (bucket *k = l->map[h & l->mask]; k; k = k->chain) {
        if (k->hash == h && strcmp(k->key, key) == 0) {
            lru_unlink(k);
            lru_push_front(l, k);
            return k;
        }
    }
    bucket *k = malloc(sizeof *k + len + 1);
    if (!k)
        return NULL;
    memcpy(k->key, key, len + 1);
    k->hash = h;
    k->tokens = l->burst;
    k->last = now;
    if (l->n >= l->max_keys)
        evict(l);
    l->n++;
    maybe_grow(l);
    k->chain = l->map[h & l->mask];
    l->map[h & l->mask] = k;
    lru_push_front(l, k);
    return k;
}

goc_duration goc_rate_limiter_allow(goc_rate_limiter *l, const char *key)
{
    if (!key)
        key = "";
    size_t len = strlen(key);
    uint64_t h = goc__hash64(key, len, 0x726174656c696d31ULL);
    goc_duration wait = 0;
    pthread_mutex_lock(&l->mu);
    /* Read the clock under the lock, so a bucket's visits are in order
     * and last never moves back. */
    int64_t now = goc_now();
    bucket *k = lookup(l, key, len, h, now);
    if (k) {
        if (now > k->last) {
            k->tokens += (double)(now - k->last) * l->rate;
            if (k->tokens > l->burst)
                k->tokens = l->burst;
            k->last = now;
        }
        if (k->tokens >= 1) {
            k->tokens -= 1;
        } else {
            wait = (goc_duration)((1 - k->tokens) / l->rate) + 1; /* rounded up, > 0 */
        }
    }
    /* Without memory for a new key's bucket, the request is let through:
     * a limiter that fails closed would turn a memory shortage into an
     * outage. */
    pthread_mutex_unlock(&l->mu);
    return wait;
}

/* ---- the middleware ----------------------------------------------------------- */

typedef struct limit_arg {
    goc_http_handler next;
    goc_rate_limiter *l;
    bool by_header;
    char header[]; /* the key's field name, when by_header */
} limit_arg;

static void limit_serve(goc_http_response_writer *w, goc_http_request *r, void *arg)
{
    const limit_arg *a = arg;
    char ip[128];
    const char *key;
    if (a->by_header) {
        key = goc_http_header_get(r->header, a->header);
        if (!key)
            key = "";
    } else {
        key = goc_http_client_ip(r, ip, sizeof ip);
    }
    goc_duration wait = goc_rate_limiter_allow(a->l, key);
    if (wait == 0) {
        goc_http_serve_http(a->next, w, r);
        return;
    }
    long long secs = (long long)((wait + GOC_SECOND - 1) / GOC_SECOND);
    char v[32];
    snprintf(v, sizeof v, "%lld", secs > 0 ? secs : 1);
    goc_http_header_set(goc_http_response_header(w), "Retry-After", v);
    goc_http_error(w, "429 too many requests", 429);
}

goc_http_handler goc_http_rate_limit_handler(goc_http_handler h, goc_rate_limiter *l,
                                             const char *key_header)
{
    size_t n = key_header ? strlen(key_header) : 0;
    limit_arg *a = malloc(sizeof *a + n + 1);
    if (!a)
        return (goc_http_handler){NULL, NULL};
    a->next = h;
    a->l = l;
    a->by_header = key_header != NULL;
    memcpy(a->header, key_header ? key_header : "", n + 1);
    return (goc_http_handler){limit_serve, a};
}
