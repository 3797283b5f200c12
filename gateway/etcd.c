/*
 * etcd.c — upstream targets from etcd, read once and then watched.
 *
 * It speaks etcd's v3 JSON gateway (etcd 3.4+: POST /v3/kv/range and
 * /v3/watch; keys and values base64) with goc's HTTP client and jansson.
 * Keys: PREFIX "upstreams/" NAME "/" ADDR; value "" (weight 1), "3", or
 * {"weight":3}; weights 1..1000 as the balancer takes them. A key whose
 * name or value does not parse is not a target: a line on stderr says so
 * and, if it was one before, it goes away (the same answer a fresh read
 * would give).
 *
 * The life of a gw_etcd:
 *  1. gw_etcd_start reads the range [PREFIX "upstreams/", that prefix with
 *     its last byte + 1), trying each endpoint in turn, builds the map
 *     upstream → targets, calls fn for every upstream and remembers the
 *     header's revision R.
 *  2. The watch goroutine opens POST /v3/watch from R + 1 over the same
 *     range. The answer is a stream of JSON objects ({"result":{...}}),
 *     split into objects by tracking braces and strings (never by lines).
 *     Each batch of events updates the map; every upstream whose set
 *     changed is handed to fn whole (n == 0 once its last target left).
 *     The revision moves with the events' mod_revision and with progress
 *     notices, never with a "created" header (events before it may still
 *     be on their way), so a reconnect neither loses nor repeats a change.
 *  3. A stream that breaks or answers an error is opened again on the next
 *     endpoint after a backoff (100 ms doubling to 5 s, back to 100 ms once
 *     a watch was created). "canceled" with compact_revision means R + 1
 *     is gone, and a "created" whose revision is below R means etcd's data
 *     was replaced (a restore, a new cluster): either way the range is read
 *     again and every upstream reported anew (those gone with n == 0).
 *  4. gw_etcd_stop cancels ctx (the requests' and the backoff's), which
 *     ends a blocked read at once, and waits for the goroutine's done.
 *
 * Ownership and threads: the map, cur and rev belong to gw_etcd_start's
 * caller until it starts the goroutine, and to the goroutine after (goc_go
 * orders the hand-over); the rest is immutable until gw_etcd_stop. No
 * lock. fn runs on gw_etcd_start's caller (step 1), then on the goroutine;
 * the targets array and its strings are valid for the call only.
 */
#include "gateway.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <goc/http.h>

#define BACKOFF_MIN     (100 * GOC_MILLISECOND)
#define BACKOFF_MAX     (5 * GOC_SECOND)
#define RANGE_TIMEOUT   (10 * GOC_SECOND)
#define MAX_BODY        (64 << 20) /* a range answer, or one watch message */
#define MAX_WEIGHT      1000
#define WATCH_COMPACTED 1 /* watch_once: the start revision was compacted */

typedef struct upstream {
    char *name;
    gw_target_cfg *t; /* sorted by addr */
    size_t n, cap;
    bool dirty; /* changed since last reported */
} upstream;

typedef struct umap {
    upstream *u;
    size_t n, cap;
} umap;

struct gw_etcd {
    char **endpoints; /* without a trailing '/' */
    size_t nendpoints;
    char *prefix;        /* PREFIX "upstreams/" */
    char *key64, *end64; /* the range, base64 */
    gw_etcd_targets_fn fn;
    void *arg;
    goc_http_client *client; /* no stall timeout: an idle watch is silent */
    goc_ctx *ctx;            /* cancelled by gw_etcd_stop */
    goc_chan *done;          /* closed when the watch goroutine ends */
    /* the watch goroutine's (see the top) */
    umap map;
    size_t cur;       /* endpoint in use */
    int64_t rev;      /* every change up to this one is in map */
    char cluster[32]; /* the cluster_id map was read from */
};

/* ---- base64 (RFC 4648, padded) ---------------------------------------------- */

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* malloc'ed, NUL-terminated; NULL on ENOMEM. */
static char *b64_encode(const void *src, size_t n)
{
    const unsigned char *p = src;
    char *out = malloc((n + 2) / 3 * 4 + 1), *o = out;
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        *o++ = b64chars[v >> 18];
        *o++ = b64chars[(v >> 12) & 63];
        *o++ = i + 1 < n ? b64chars[(v >> 6) & 63] : '=';
        *o++ = i + 2 < n ? b64chars[v & 63] : '=';
    }
    *o = '\0';
    return out;
}

static int b64_val(char c)
{
    const char *p = c ? strchr(b64chars, c) : NULL;
    return p ? (int)(p - b64chars) : -1;
}

/* Decode s (padding optional) into a malloc'ed NUL-terminated *out of
 * *outn bytes. 0, -EINVAL, -ENOMEM. */
static int b64_decode(const char *s, char **out, size_t *outn)
{
    size_t n = strlen(s);
    while (n > 0 && s[n - 1] == '=')
        n--;
    if (n % 4 == 1)
        return -EINVAL;
    char *o = malloc(n / 4 * 3 + 3);
    if (!o)
        return -ENOMEM;
    size_t k = 0;
    uint32_t acc = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64_val(s[i]);
        if (v < 0) {
            free(o);
            return -EINVAL;
        }
        acc = acc << 6 | (uint32_t)v;
        if (i % 4 == 3) {
            o[k++] = (char)(acc >> 16);
            o[k++] = (char)(acc >> 8);
            o[k++] = (char)acc;
            acc = 0;
        }
    }
    if (n % 4 == 2) {
        o[k++] = (char)(acc >> 4);
    } else if (n % 4 == 3) {
        o[k++] = (char)(acc >> 10);
        o[k++] = (char)(acc >> 2);
    }
    o[k] = '\0';
    *out = o;
    *outn = k;
    return 0;
}

/* ---- the map: upstream name → targets ---------------------------------------- */

static void upstream_free(upstream *u)
{
    for (size_t i = 0; i < u->n; i++)
        free(u->t[i].addr);
    free(u->t);
    free(u->name);
}

static void umap_free(umap *m)
{
    for (size_t i = 0; i < m->n; i++)
        upstream_free(&m->u[i]);
    free(m->u);
    *m = (umap){0};
}

static upstream *umap_find(umap *m, const char *name)
{
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->u[i].name, name) == 0)
            return &m->u[i];
    return NULL;
}

/* The entry for name, made empty if new; NULL on ENOMEM. */
static upstream *umap_get(umap *m, const char *name)
{
    upstream *u = umap_find(m, name);
    if (u)
        return u;
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 8;
        upstream *p = realloc(m->u, cap * sizeof *p);
        if (!p)
            return NULL;
        m->u = p;
        m->cap = cap;
    }
    char *copy = strdup(name);
    if (!copy)
        return NULL;
    u = &m->u[m->n++];
    *u = (upstream){.name = copy};
    return u;
}

/* Index of addr in u, or where it would go (*found false). */
static size_t upstream_pos(const upstream *u, const char *addr, bool *found)
{
    size_t lo = 0, hi = u->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(u->t[mid].addr, addr);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

/* Set addr's weight (adding it): 1 if that changed u, 0 if not, -ENOMEM. */
static int upstream_set(upstream *u, const char *addr, int weight)
{
    bool found;
    size_t i = upstream_pos(u, addr, &found);
    if (found) {
        if (u->t[i].weight == weight)
            return 0;
        u->t[i].weight = weight;
        return 1;
    }
    if (u->n == u->cap) {
        size_t cap = u->cap ? u->cap * 2 : 4;
        gw_target_cfg *p = realloc(u->t, cap * sizeof *p);
        if (!p)
            return -ENOMEM;
        u->t = p;
        u->cap = cap;
    }
    char *copy = strdup(addr);
    if (!copy)
        return -ENOMEM;
    memmove(&u->t[i + 1], &u->t[i], (u->n - i) * sizeof *u->t);
    u->t[i] = (gw_target_cfg){.addr = copy, .weight = weight};
    u->n++;
    return 1;
}

/* Remove addr: whether it was there. */
static bool upstream_del(upstream *u, const char *addr)
{
    bool found;
    size_t i = upstream_pos(u, addr, &found);
    if (!found)
        return false;
    free(u->t[i].addr);
    memmove(&u->t[i], &u->t[i + 1], (u->n - i - 1) * sizeof *u->t);
    u->n--;
    return true;
}

/* ---- keys and values ------------------------------------------------------- */

/* Split key (decoded, klen bytes) into name and addr, both pointing into
 * key, whose '/' between them is overwritten. 0 or -EINVAL. */
static int split_key(const gw_etcd *e, char *key, size_t klen, char **name, char **addr)
{
    size_t plen = strlen(e->prefix);
    if (klen <= plen || memcmp(key, e->prefix, plen) != 0 || strlen(key) != klen)
        return -EINVAL;
    char *n = key + plen, *slash = strchr(n, '/');
    if (!slash || slash == n || !slash[1] || strchr(slash + 1, '/'))
        return -EINVAL;
    *slash = '\0';
    *name = n;
    *addr = slash + 1;
    return 0;
}

/* "", "3" or {"weight":3} (spaces around allowed) → *w. 0 or -EINVAL. */
static int parse_weight(const char *v, size_t n, int *w)
{
    while (n > 0 && isspace((unsigned char)v[n - 1]))
        n--;
    while (n > 0 && isspace((unsigned char)*v))
        v++, n--;
    json_int_t x = 1;
    if (n > 0 && *v == '{') {
        json_t *j = json_loadb(v, n, 0, NULL);
        json_t *jw = json_object_get(j, "weight");
        bool ok = json_is_object(j) && (!jw || json_is_integer(jw));
        if (ok && jw)
            x = json_integer_value(jw);
        json_decref(j);
        if (!ok)
            return -EINVAL;
    } else if (n > 0) {
        x = 0;
        for (size_t i = 0; i < n; i++) {
            if (!isdigit((unsigned char)v[i]) || x > MAX_WEIGHT)
                return -EINVAL;
            x = x * 10 + (v[i] - '0');
        }
    }
    if (x < 1 || x > MAX_WEIGHT)
        return -EINVAL;
    *w = (int)x;
    return 0;
}

static const char *jstr(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

/* int64 fields come as strings in the gateway's JSON; numbers accepted. */
static int64_t jint(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    if (json_is_integer(v))
        return json_integer_value(v);
    const char *s = json_string_value(v);
    return s ? strtoll(s, NULL, 10) : 0;
}

/* Apply one key-value (put, or delete if del) to m, marking the upstream
 * dirty if its set changed. Keys or values that do not parse are said on
 * stderr and count as absent. 0 or -ENOMEM. */
static int apply_kv(gw_etcd *e, umap *m, json_t *kv, bool del)
{
    char *key, *val = NULL, *name, *addr;
    size_t klen, vlen = 0;
    int rc = b64_decode(jstr(kv, "key"), &key, &klen);
    if (rc == -ENOMEM)
        return rc;
    if (rc < 0 || split_key(e, key, klen, &name, &addr) < 0) {
        if (!del)
            fprintf(stderr, "gateway: etcd: key %.200s: not %sNAME/ADDR, skipped\n",
                    rc < 0 ? jstr(kv, "key") : key, e->prefix);
        if (rc == 0)
            free(key);
        return 0;
    }
    int w = 0;
    if (!del) {
        rc = b64_decode(jstr(kv, "value"), &val, &vlen);
        if (rc == -ENOMEM) {
            free(key);
            return rc;
        }
        if (rc < 0 || parse_weight(val, vlen, &w) < 0) {
            fprintf(stderr,
                    "gateway: etcd: %.100s/%.100s: value %.100s is not a weight (1..%d), "
                    "skipped\n",
                    name, addr, rc < 0 ? jstr(kv, "value") : val, MAX_WEIGHT);
            w = 0;
        }
        free(val);
    }
    upstream *u = w > 0 ? umap_get(m, name) : umap_find(m, name);
    rc = 0;
    if (w > 0 && !u) {
        rc = -ENOMEM;
    } else if (u) {
        int changed = w > 0 ? upstream_set(u, addr, w) : upstream_del(u, addr);
        if (changed < 0)
            rc = changed;
        else if (changed)
            u->dirty = true;
    }
    free(key);
    return rc;
}

/* fn for every dirty upstream of m (all if all), clearing the marks. */
static void report(gw_etcd *e, umap *m, bool all)
{
    for (size_t i = 0; i < m->n; i++) {
        upstream *u = &m->u[i];
        if (u->dirty || all)
            e->fn(u->name, u->t, u->n, e->arg);
        u->dirty = false;
    }
}

/* ---- requests ---------------------------------------------------------------- */

/* POST body to endpoint i's path under ctx: 0 and a 200 *resp, or a
 * negative errno (-EPROTO for another status). */
static int post(gw_etcd *e, size_t i, const char *path, const char *body, goc_ctx *ctx,
                goc_http_response **resp)
{
    char url[1024];
    snprintf(url, sizeof url, "%s%s", e->endpoints[i], path);
    goc_http_client_request *req;
    int rc = goc_http_new_request(ctx, "POST", url, &req);
    if (rc < 0)
        return rc;
    goc_http_header_set(goc_http_client_request_header(req), "Content-Type", "application/json");
    rc = goc_http_client_request_set_body(req, body, strlen(body));
    if (rc == 0)
        rc = goc_http_client_do(e->client, req, resp);
    goc_http_client_request_free(req);
    if (rc == 0 && (*resp)->status_code != 200) {
        fprintf(stderr, "gateway: etcd: POST %s: %s\n", url, (*resp)->status);
        goc_http_response_free(*resp);
        rc = -EPROTO;
    } else if (rc < 0 && !goc_ctx_err(e->ctx)) {
        fprintf(stderr, "gateway: etcd: %s\n", goc_errmsg());
    }
    return rc;
}

/* The whole range from endpoint i into *m (empty on entry), the revision
 * into *rev, the cluster's id into cluster. 0 or a negative errno. */
static int read_range_at(gw_etcd *e, size_t i, umap *m, int64_t *rev, char *cluster)
{
    char body[1024];
    snprintf(body, sizeof body, "{\"key\":\"%s\",\"range_end\":\"%s\"}", e->key64, e->end64);
    goc_ctx *ctx = goc_ctx_with_timeout(e->ctx, RANGE_TIMEOUT);
    if (!ctx)
        return -ENOMEM;
    goc_http_response *resp;
    int rc = post(e, i, "/v3/kv/range", body, ctx, &resp);
    char *data = NULL;
    if (rc == 0) {
        rc = goc_http_response_read_all(resp, &data, NULL, MAX_BODY);
        goc_http_response_free(resp);
    }
    goc_ctx_release(ctx);
    if (rc < 0)
        return rc;
    json_t *j = json_loads(data, 0, NULL);
    free(data);
    json_t *kvs = json_object_get(j, "kvs");
    *rev = jint(json_object_get(j, "header"), "revision");
    snprintf(cluster, sizeof e->cluster, "%s", jstr(json_object_get(j, "header"), "cluster_id"));
    if (!json_is_object(j) || *rev <= 0 || (kvs && !json_is_array(kvs)))
        rc = -EPROTO;
    size_t k;
    json_t *kv;
    json_array_foreach(kvs, k, kv)
    {
        if (rc == 0)
            rc = apply_kv(e, m, kv, false);
    }
    json_decref(j);
    return rc;
}

/* read_range_at on each endpoint from cur until one answers (cur moves
 * to it). */
static int read_range(gw_etcd *e, umap *m, int64_t *rev, char *cluster)
{
    int rc = -ECONNREFUSED;
    for (size_t k = 0; k < e->nendpoints && !goc_ctx_err(e->ctx); k++) {
        size_t i = (e->cur + k) % e->nendpoints;
        rc = read_range_at(e, i, m, rev, cluster);
        if (rc == 0) {
            e->cur = i;
            return 0;
        }
        umap_free(m);
    }
    return rc;
}

/* After a compaction or a change of cluster: read everything again, swap maps, report every
 * upstream (and those gone with n == 0). */
static int resync(gw_etcd *e)
{
    umap m = {0};
    int64_t rev;
    char cluster[sizeof e->cluster];
    int rc = read_range(e, &m, &rev, cluster);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < e->map.n; i++) {
        upstream *old = &e->map.u[i];
        if (!umap_find(&m, old->name))
            e->fn(old->name, NULL, 0, e->arg);
    }
    umap_free(&e->map);
    e->map = m;
    e->rev = rev;
    memcpy(e->cluster, cluster, sizeof cluster);
    report(e, &e->map, true);
    return 0;
}

/* ---- the watch ----------------------------------------------------------------- */

/* One message of the stream: 0 to go on, WATCH_COMPACTED (read all
 * again), or a negative errno (the stream is dropped). *created once etcd
 * confirmed the watch. */
static int on_message(gw_etcd *e, json_t *j, bool *created)
{
    json_t *res = json_object_get(j, "result");
    if (!json_is_object(res)) {
        json_t *err = json_object_get(j, "error");
        fprintf(stderr, "gateway: etcd: watch: %s\n",
                json_is_object(err) ? jstr(err, "message") : jstr(j, "error"));
        return -EPROTO;
    }
    if (json_is_true(json_object_get(res, "canceled"))) {
        if (jint(res, "compact_revision") > 0)
            return WATCH_COMPACTED;
        fprintf(stderr, "gateway: etcd: watch canceled: %s\n", jstr(res, "cancel_reason"));
        return -EPROTO;
    }
    json_t *events = json_object_get(res, "events");
    int64_t hrev = jint(json_object_get(res, "header"), "revision");
    if (json_is_true(json_object_get(res, "created"))) {
        *created = true;
        /* Another cluster, or one behind what we saw: its data was
         * replaced (a restore, a new cluster), and the revision we asked
         * for means nothing there. */
        const char *id = jstr(json_object_get(res, "header"), "cluster_id");
        if ((hrev > 0 && hrev < e->rev) || (*id && *e->cluster && strcmp(id, e->cluster) != 0))
            return WATCH_COMPACTED;
    } else if (json_array_size(events) == 0) {
        /* a progress notice: every change up to its revision was sent */
        if (hrev > e->rev)
            e->rev = hrev;
    }
    /* The revision moves once the whole batch is in: a transaction's
     * events share one, and a batch cut short (ENOMEM) is asked for again
     * (applying an event twice changes nothing). */
    size_t i;
    json_t *ev;
    int64_t last = e->rev;
    json_array_foreach(events, i, ev)
    {
        json_t *kv = json_object_get(ev, "kv");
        int rc = apply_kv(e, &e->map, kv, strcmp(jstr(ev, "type"), "DELETE") == 0);
        if (rc < 0)
            return rc;
        int64_t r = jint(kv, "mod_revision");
        if (r > last)
            last = r;
    }
    e->rev = last;
    report(e, &e->map, false);
    return 0;
}

/* The length of the first complete JSON object at the start of p[0, n)
 * (after whitespace, counted in *skip), 0 if it is not complete yet, or
 * -EPROTO if the stream is not a sequence of objects. */
static ssize_t next_object(const char *p, size_t n, size_t *skip)
{
    size_t i = 0;
    while (i < n && isspace((unsigned char)p[i]))
        i++;
    *skip = i;
    if (i == n)
        return 0;
    if (p[i] != '{')
        return -EPROTO;
    int depth = 0;
    bool in_str = false, esc = false;
    for (size_t k = i; k < n; k++) {
        char c = p[k];
        if (in_str) {
            if (esc)
                esc = false;
            else if (c == '\\')
                esc = true;
            else if (c == '"')
                in_str = false;
        } else if (c == '"') {
            in_str = true;
        } else if (c == '{' || c == '[') {
            depth++;
        } else if ((c == '}' || c == ']') && --depth == 0) {
            return (ssize_t)(k + 1 - i);
        }
    }
    return 0;
}

/* Handle every complete object in b, dropping them from its front. */
static int drain(gw_etcd *e, gw_buf *b, bool *created)
{
    for (;;) {
        size_t skip;
        ssize_t len = next_object(b->p, b->len, &skip);
        if (len <= 0) {
            if (len < 0)
                fprintf(stderr, "gateway: etcd: watch: not a JSON object stream\n");
            return (int)len;
        }
        json_error_t jerr;
        json_t *j = json_loadb(b->p + skip, (size_t)len, 0, &jerr);
        if (!j) {
            fprintf(stderr, "gateway: etcd: watch: %s\n", jerr.text);
            return -EPROTO;
        }
        int rc = on_message(e, j, created);
        json_decref(j);
        if (rc != 0)
            return rc;
        size_t used = skip + (size_t)len;
        memmove(b->p, b->p + used, b->len - used + 1);
        b->len -= used;
    }
}

/* One watch stream on endpoint cur from rev + 1, until it breaks (a
 * negative errno), is compacted (WATCH_COMPACTED) or ctx ends. */
static int watch_once(gw_etcd *e, bool *created)
{
    char body[1024];
    snprintf(body, sizeof body,
             "{\"create_request\":{\"key\":\"%s\",\"range_end\":\"%s\","
             "\"start_revision\":\"%" PRId64 "\"}}",
             e->key64, e->end64, e->rev + 1);
    goc_http_response *resp;
    int rc = post(e, e->cur, "/v3/watch", body, e->ctx, &resp);
    if (rc < 0)
        return rc;
    gw_buf b = {0};
    char chunk[16384];
    while (rc == 0) {
        ssize_t n = goc_http_response_read(resp, chunk, sizeof chunk);
        if (n <= 0) {
            rc = n == 0 ? -ECONNRESET : (int)n;
            if (!goc_ctx_err(e->ctx))
                fprintf(stderr, "gateway: etcd: watch on %s ended: %s\n", e->endpoints[e->cur],
                        n == 0 ? "end of stream" : goc_strerror(rc));
            break;
        }
        gw_buf_append(&b, chunk, (size_t)n);
        if (b.oom || b.len > MAX_BODY)
            rc = -ENOMEM;
        else
            rc = drain(e, &b, created);
    }
    gw_buf_free(&b);
    goc_http_response_free(resp);
    return rc;
}

/* Sleep d unless ctx ends first: false then. */
static bool nap(gw_etcd *e, goc_duration d)
{
    goc_chan *t = goc_after(d);
    if (!t)
        return !goc_ctx_err(e->ctx);
    goc_case cs[2] = {GOC_RECV(t, NULL), GOC_RECV(goc_ctx_done(e->ctx), NULL)};
    goc_select(cs, 2, GOC_FOREVER);
    goc_chan_release(t);
    return !goc_ctx_err(e->ctx);
}

static void watch_main(void *arg)
{
    gw_etcd *e = arg;
    goc_duration backoff = BACKOFF_MIN;
    while (!goc_ctx_err(e->ctx)) {
        bool created = false;
        int rc = watch_once(e, &created);
        if (rc == WATCH_COMPACTED && !goc_ctx_err(e->ctx)) {
            fprintf(stderr, "gateway: etcd: revision %" PRId64 " is gone: reading again\n",
                    e->rev + 1);
            if (resync(e) == 0) {
                backoff = BACKOFF_MIN;
                continue;
            }
        }
        if (created)
            backoff = BACKOFF_MIN;
        e->cur = (e->cur + 1) % e->nendpoints;
        if (!nap(e, backoff))
            break;
        backoff = backoff * 2 < BACKOFF_MAX ? backoff * 2 : BACKOFF_MAX;
    }
    goc_chan_close(e->done);
}

/* ---- start and stop --------------------------------------------------------------- */

static void etcd_free(gw_etcd *e)
{
    for (size_t i = 0; i < e->nendpoints; i++)
        free(e->endpoints[i]);
    free(e->endpoints);
    free(e->prefix);
    free(e->key64);
    free(e->end64);
    if (e->client)
        goc_http_client_free(e->client);
    goc_ctx_release(e->ctx);
    goc_chan_release(e->done);
    umap_free(&e->map);
    free(e);
}

/* Everything but the first read. 0 or -ENOMEM. */
static int etcd_init(gw_etcd *e, char *const *endpoints, size_t n, const char *prefix)
{
    e->endpoints = calloc(n, sizeof *e->endpoints);
    if (!e->endpoints)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++, e->nendpoints++) {
        size_t len = strlen(endpoints[i]);
        while (len > 0 && endpoints[i][len - 1] == '/')
            len--;
        if (!(e->endpoints[i] = strndup(endpoints[i], len)))
            return -ENOMEM;
    }
    size_t plen = strlen(prefix);
    if (!(e->prefix = malloc(plen + sizeof "upstreams/")))
        return -ENOMEM;
    memcpy(e->prefix, prefix, plen);
    memcpy(e->prefix + plen, "upstreams/", sizeof "upstreams/");
    plen = strlen(e->prefix);
    /* range_end: the prefix with its last byte + 1 ('/' + 1 is '0') */
    char *end = strdup(e->prefix);
    if (!end)
        return -ENOMEM;
    end[plen - 1]++;
    e->key64 = b64_encode(e->prefix, plen);
    e->end64 = b64_encode(end, plen);
    free(end);
    goc_http_client_opts o = {
        .stall_timeout = GOC_FOREVER,
        .dial_timeout = 5 * GOC_SECOND,
        .disable_keep_alives = true, /* a pooled connection to a restarted etcd fails a POST */
        .disable_compression = true,
        .proxy = "",
    };
    e->client = goc_http_client_new(&o);
    e->ctx = goc_ctx_with_cancel(goc_ctx_background());
    e->done = goc_chan_make(1, 0);
    return e->key64 && e->end64 && e->client && e->ctx && e->done ? 0 : -ENOMEM;
}

int gw_etcd_start(char *const *endpoints, size_t n, const char *prefix, gw_etcd_targets_fn fn,
                  void *arg, gw_etcd **out)
{
    if (!endpoints || n == 0 || !prefix || !fn || !out)
        return -EINVAL;
    gw_etcd *e = calloc(1, sizeof *e);
    if (!e)
        return -ENOMEM;
    e->fn = fn;
    e->arg = arg;
    int rc = etcd_init(e, endpoints, n, prefix);
    if (rc == 0)
        rc = read_range(e, &e->map, &e->rev, e->cluster);
    if (rc == 0) {
        report(e, &e->map, true);
        rc = goc_go(watch_main, e);
    }
    if (rc < 0) {
        etcd_free(e);
        return rc;
    }
    *out = e;
    return 0;
}

void gw_etcd_stop(gw_etcd *e)
{
    if (!e)
        return;
    goc_ctx_cancel(e->ctx);
    goc_chan_recv(e->done, NULL);
    etcd_free(e);
}
