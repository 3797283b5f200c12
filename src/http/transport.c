/*
 * transport.c — the client's pool of connections (Go's Transport): per
 * host (scheme, host:port and proxy), a LIFO list of idle keep-alive
 * connections, a count of all connections, and a queue of callers
 * waiting for one when max_conns_per_host is reached.
 *
 * Invariants, under client->mu:
 *   - host->nconns counts the host's connections being dialled, in use and
 *     idle, plus dial permits handed to waiters (each permit becomes a
 *     connection or is given back);
 *   - a waiter is queued only while host->nconns >= max_conns_per_host and
 *     no connection is idle: put and drop hand their connection (or its
 *     slot) to the first waiter instead of pooling (or freeing) it.
 * Idle connections past idle_conn_timeout are closed when a get or put
 * meets them (no timer goroutine: an idle pool costs nothing).
 */
#include "http/client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct goc__hwait {
    struct goc__hwait *next;
    goc_chan *ch; /* one goc__pconn *: a connection, or NULL for a dial permit */
} goc__hwait;

struct goc__hhost {
    char key[600];
    goc__pconn *idle; /* most recently used first */
    int nidle, nconns;
    goc__hwait *waiters, **wtail;
};

static void key_of(const goc__htarget *t, char *key, size_t n)
{
    snprintf(key, n, "%c%s|%s", t->tls ? 's' : 'h', t->authority, t->proxy);
}

/* client->mu held. NULL on ENOMEM. */
static goc__hhost *host_get(goc_http_client *c, const goc__htarget *t)
{
    char key[600];
    key_of(t, key, sizeof key);
    for (size_t i = 0; i < c->nhosts; i++)
        if (strcmp(c->hosts[i]->key, key) == 0)
            return c->hosts[i];
    if (c->nhosts == c->hosts_cap) {
        size_t cap = c->hosts_cap ? c->hosts_cap * 2 : 8;
        goc__hhost **nh = realloc(c->hosts, cap * sizeof *nh);
        if (!nh)
            return NULL;
        c->hosts = nh;
        c->hosts_cap = cap;
    }
    goc__hhost *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    memcpy(h->key, key, sizeof key);
    h->wtail = &h->waiters;
    c->hosts[c->nhosts++] = h;
    return h;
}

/* Hand pc (or a dial permit, pc NULL) to the first waiter. client->mu
 * held. false if nobody waits. */
static bool hand_off(goc__hhost *h, goc__pconn *pc)
{
    goc__hwait *w = h->waiters;
    if (!w)
        return false;
    h->waiters = w->next;
    if (!h->waiters)
        h->wtail = &h->waiters;
    w->next = NULL;
    goc_chan_try_send(w->ch, &pc); /* cap 1, sent once: never full */
    return true;
}

/* Take an idle connection that still looks usable; the dead and the
 * expired go to *dead. client->mu held. */
static goc__pconn *idle_take(goc_http_client *c, goc__hhost *h, goc__pconn **dead)
{
    int64_t now = goc_now();
    while (h->idle) {
        goc__pconn *pc = h->idle;
        h->idle = pc->next;
        h->nidle--;
        c->nidle--;
        pc->next = NULL;
        if (now - pc->idle_since < c->opts.idle_conn_timeout && goc__pconn_alive(pc))
            return pc;
        h->nconns--;
        pc->next = *dead;
        *dead = pc;
    }
    return NULL;
}

/* A dial permit that did not become a connection goes back. */
static void permit_release(goc_http_client *c, goc__hhost *h)
{
    goc_mutex_lock(&c->mu);
    if (!hand_off(h, NULL))
        h->nconns--;
    goc_mutex_unlock(&c->mu);
}

static void close_list(goc__pconn *pc)
{
    while (pc) {
        goc__pconn *next = pc->next;
        goc__pconn_close(pc);
        pc = next;
    }
}

/* Wait in h's queue for a connection or a permit. client->mu held on
 * entry, released on return. */
static int wait_turn(goc_http_client *c, goc__hhost *h, goc_ctx *ctx, int64_t deadline,
                     goc__pconn **out, bool *permit)
{
    goc__hwait w = {.ch = goc_chan_make(sizeof(goc__pconn *), 1)};
    if (!w.ch) {
        goc_mutex_unlock(&c->mu);
        return -ENOMEM;
    }
    *h->wtail = &w;
    h->wtail = &w.next;
    goc_mutex_unlock(&c->mu);

    goc__pconn *pc = NULL;
    goc_case cs[2] = {GOC_RECV(w.ch, &pc), GOC_RECV(goc_ctx_done(ctx), NULL)};
    goc_duration dt = GOC_FOREVER;
    if (deadline > 0)
        dt = deadline - goc_now() > 0 ? deadline - goc_now() : 0;
    int rc = dt == 0 ? goc_select(cs, 2, 0) : goc_select(cs, 2, dt);
    if (rc == 0) {
        goc_chan_release(w.ch);
        *out = pc;
        *permit = pc == NULL;
        return 0;
    }
    /* Timed out or cancelled: leave the queue, or give back what came. */
    goc_mutex_lock(&c->mu);
    bool queued = false;
    for (goc__hwait **p = &h->waiters; *p; p = &(*p)->next)
        if (*p == &w) {
            *p = w.next;
            if (!*p)
                h->wtail = p;
            queued = true;
            break;
        }
    goc_mutex_unlock(&c->mu);
    if (!queued) {
        goc_chan_recv(w.ch, &pc); /* it was sent before we left */
        if (pc)
            goc__transport_put(c, pc);
        else
            permit_release(c, h);
    }
    goc_chan_release(w.ch);
    int err = goc_ctx_err(ctx);
    if (rc == 1 && err)
        return err;
    return goc__errorf(-ETIMEDOUT, "http: timeout awaiting a connection to %s", h->key + 1);
}

int goc__transport_get(goc_http_client *c, const goc__htarget *t, goc_ctx *ctx, int64_t deadline,
                       goc__pconn **out)
{
    *out = NULL;
    goc__pconn *dead = NULL, *pc = NULL;
    goc_mutex_lock(&c->mu);
    goc__hhost *h = host_get(c, t);
    if (!h) {
        goc_mutex_unlock(&c->mu);
        return -ENOMEM;
    }
    pc = c->opts.disable_keep_alives ? NULL : idle_take(c, h, &dead);
    bool permit = false;
    int rc = 0;
    if (!pc) {
        int max = c->opts.max_conns_per_host;
        if (max <= 0 || h->nconns < max) {
            h->nconns++;
            permit = true;
            goc_mutex_unlock(&c->mu);
        } else {
            close_list(dead); /* before the wait: these are done */
            dead = NULL;
            rc = wait_turn(c, h, ctx, deadline, &pc, &permit); /* unlocks */
        }
    } else {
        goc_mutex_unlock(&c->mu);
    }
    close_list(dead);
    if (rc < 0)
        return rc;
    if (pc) {
        pc->reused = true;
        *out = pc;
        return 0;
    }
    rc = goc__pconn_dial(c, t, ctx, deadline, &pc);
    if (rc < 0) {
        permit_release(c, h);
        return rc;
    }
    pc->host = h;
    *out = pc;
    return 0;
}

void goc__transport_put(goc_http_client *c, goc__pconn *pc)
{
    goc__pconn *dead = NULL;
    goc_mutex_lock(&c->mu);
    goc__hhost *h = pc->host;
    if (hand_off(h, pc)) {
        goc_mutex_unlock(&c->mu);
        return;
    }
    pc->idle_since = goc_now();
    if (c->opts.disable_keep_alives || h->nidle >= c->opts.max_idle_per_host ||
        c->nidle >= c->opts.max_idle) {
        h->nconns--;
        dead = pc;
    } else {
        pc->next = h->idle;
        h->idle = pc;
        h->nidle++;
        c->nidle++;
    }
    goc_mutex_unlock(&c->mu);
    close_list(dead);
}

void goc__transport_drop(goc_http_client *c, goc__pconn *pc)
{
    if (pc->host)
        permit_release(c, pc->host); /* its slot */
    goc__pconn_close(pc);
}

void goc_http_client_close_idle(goc_http_client *c)
{
    goc__pconn *dead = NULL;
    goc_mutex_lock(&c->mu);
    for (size_t i = 0; i < c->nhosts; i++) {
        goc__hhost *h = c->hosts[i];
        while (h->idle) {
            goc__pconn *pc = h->idle;
            h->idle = pc->next;
            h->nidle--;
            c->nidle--;
            h->nconns--;
            pc->next = dead;
            dead = pc;
        }
    }
    goc_mutex_unlock(&c->mu);
    close_list(dead);
}

/* Free the pool (goc_http_client_free): idle connections are closed; no
 * exchange may be running. */
void goc__transport_free(goc_http_client *c)
{
    goc_http_client_close_idle(c);
    for (size_t i = 0; i < c->nhosts; i++)
        free(c->hosts[i]);
    free(c->hosts);
    c->hosts = NULL;
    c->nhosts = c->hosts_cap = 0;
}
