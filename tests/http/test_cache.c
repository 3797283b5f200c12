/*
 * test_cache.c — the HTTP cache (goc_http_cache, RFC 9111 as a shared
 * cache), in front of a handler that counts its calls, behind a real
 * server on loopback, asked by goc's own client over keep-alive.
 *
 * What is stored and for how long (max-age, s-maxage over max-age,
 * Expires, Age), what never is (no-store, private, Set-Cookie,
 * Authorization), revalidation (no-cache with an ETag, Last-Modified, a
 * stale entry; the handler below sees our validators and its 304 becomes
 * the stored 200), the client's own conditional and Cache-Control, Vary
 * variants, HEAD from a GET entry, LRU eviction by bytes, a body too large
 * to store passed on intact, singleflight (50 concurrent misses, one call
 * below), a streamed response stored whole, purge, invalidation by POST,
 * and the statistics. The Cache-Control parser's own cases are at the end.
 */
#include <stdatomic.h>

#include <criterion/criterion.h>
#include <goc/httputil.h>

#include "../../src/http/cache.h"
#include "http/serverutil.h"

/* ---- the handler below ------------------------------------------------------- */

static atomic_int calls;     /* requests that reached it */
static goc_mutex seen_mu;    /* guards seen_inm, seen_ims, seen_method */
static char seen_inm[128];   /* the If-None-Match it saw last ("" none) */
static char seen_ims[128];   /* the If-Modified-Since it saw last */
static char seen_method[16]; /* the method it saw last */
static const char lm_date[] = "Sun, 06 Nov 1994 08:49:37 GMT";

static void copy_field(char *out, size_t n, const goc_http_request *r, const char *name)
{
    const char *v = goc_http_header_get(r->header, name);
    snprintf(out, n, "%s", v ? v : "");
}

/* n bytes of a pattern that shows a misplaced byte. */
static void pattern(char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (char)('a' + (i * 7 + i / 251) % 26);
}

/* A copy of what the origin saw last (under seen_mu). */
static const char *seen(const char *which)
{
    static __thread char buf[128];
    goc_mutex_lock(&seen_mu);
    snprintf(buf, sizeof buf, "%s", which);
    goc_mutex_unlock(&seen_mu);
    return buf;
}

static void origin(goc_http_response_writer *w, goc_http_request *r, void *arg)
{
    (void)arg;
    atomic_fetch_add(&calls, 1);
    /* What this request brought, in locals; published under seen_mu for
     * the test's goroutine (the response it reads orders nothing a race
     * detector can see). */
    char inm[128], ims[128];
    copy_field(inm, sizeof inm, r, "If-None-Match");
    copy_field(ims, sizeof ims, r, "If-Modified-Since");
    goc_mutex_lock(&seen_mu);
    memcpy(seen_inm, inm, sizeof inm);
    memcpy(seen_ims, ims, sizeof ims);
    snprintf(seen_method, sizeof seen_method, "%s", r->method);
    goc_mutex_unlock(&seen_mu);
    goc_http_header *h = goc_http_response_header(w);
    const char *p = r->path;
    if (strcmp(p, "/maxage") == 0 || strncmp(p, "/lru/", 5) == 0) {
        goc_http_header_set(h, "Cache-Control", "max-age=60");
        goc_http_header_set(h, "Content-Type", "text/plain");
        if (strncmp(p, "/lru/", 5) == 0) {
            char body[1000];
            pattern(body, sizeof body);
            goc_http_write(w, body, sizeof body);
        } else {
            goc_http_write_str(w, "hello");
        }
    } else if (strcmp(p, "/smaxage") == 0) {
        goc_http_header_set(h, "Cache-Control", "max-age=0, s-maxage=60");
        goc_http_write_str(w, "shared");
    } else if (strcmp(p, "/expires") == 0) {
        char d[64];
        time_t t = time(NULL) + 60;
        struct tm tm;
        strftime(d, sizeof d, "%a, %d %b %Y %H:%M:%S GMT", gmtime_r(&t, &tm));
        goc_http_header_set(h, "Expires", d);
        goc_http_write_str(w, "expires");
    } else if (strcmp(p, "/expired") == 0) {
        goc_http_header_set(h, "Expires", "0");
        goc_http_write_str(w, "expired");
    } else if (strcmp(p, "/nostore") == 0) {
        goc_http_header_set(h, "Cache-Control", "no-store, max-age=60");
        goc_http_write_str(w, "nostore");
    } else if (strcmp(p, "/nocache-plain") == 0) {
        goc_http_header_set(h, "Cache-Control", "no-cache, max-age=60");
        goc_http_write_str(w, "nocache-plain");
    } else if (strcmp(p, "/private") == 0) {
        goc_http_header_set(h, "Cache-Control", "private, max-age=60");
        goc_http_write_str(w, "private");
    } else if (strcmp(p, "/cookie") == 0) {
        goc_http_header_set(h, "Cache-Control", "max-age=60");
        goc_http_header_set(h, "Set-Cookie", "id=1");
        goc_http_write_str(w, "cookie");
    } else if (strcmp(p, "/auth") == 0) {
        goc_http_header_set(h, "Cache-Control", "max-age=60");
        goc_http_write_str(w, "auth");
    } else if (strcmp(p, "/authpublic") == 0) {
        goc_http_header_set(h, "Cache-Control", "public, max-age=60");
        goc_http_write_str(w, "authpublic");
    } else if (strcmp(p, "/etag") == 0 || strcmp(p, "/short-etag") == 0) {
        goc_http_header_set(h, "Cache-Control", p[1] == 'e' ? "no-cache" : "max-age=1");
        goc_http_header_set(h, "ETag", "\"v1\"");
        if (strcmp(inm, "\"v1\"") == 0) {
            goc_http_header_set(h, "X-Refreshed", "yes");
            goc_http_write_header(w, 304);
            return;
        }
        goc_http_write_str(w, "etag body");
    } else if (strcmp(p, "/abort") == 0) {
        /* Storable, but given up mid-body (an upstream that cut it). */
        goc_http_header_set(h, "Cache-Control", "max-age=60");
        goc_http_write_str(w, "part");
        goc_http_flush(w);
        goc_http_abort(w);
    } else if (strcmp(p, "/tagged") == 0) {
        goc_http_header_set(h, "Cache-Control", "max-age=60");
        goc_http_header_set(h, "ETag", "\"t1\"");
        goc_http_header_set(h, "Last-Modified", lm_date);
        if (goc__cache_etag_match(inm[0] ? inm : NULL, "\"t1\"")) {
            goc_http_write_header(w, 304);
            return;
        }
        goc_http_write_str(w, "tagged");
    } else if (strcmp(p, "/lm") == 0) {
        goc_http_header_set(h, "Cache-Control", "max-age=0");
        goc_http_header_set(h, "Last-Modified", lm_date);
        if (strcmp(ims, lm_date) == 0) {
            goc_http_write_header(w, 304);
            return;
        }
        goc_http_write_str(w, "lm body");
    } else if (strcmp(p, "/short") == 0) {
        goc_http_header_set(h, "Cache-Control", "max-age=1");
        goc_http_write_str(w, "short");
    } else if (strcmp(p, "/aged") == 0) {
        goc_http_header_set(h, "Cache-Control", "max-age=60");
        goc_http_header_set(h, "Age", "5");
        goc_http_write_str(w, "aged");
    } else if (strcmp(p, "/vary") == 0) {
        goc_http_header_set(h, "Cache-Control", "max-age=60");
        goc_http_header_set(h, "Vary", "Accept-Encoding");
        const char *ae = goc_http_header_get(r->header, "Accept-Encoding");
        goc_http_printf(w, "enc:%s", ae ? ae : "");
    } else if (strcmp(p, "/big") == 0) {
        goc_http_header_set(h, "Cache-Control", "max-age=60");
        char *body = malloc(65536);
        pattern(body, 65536);
        for (size_t i = 0; i < 65536; i += 5000)
            goc_http_write(w, body + i, 65536 - i < 5000 ? 65536 - i : 5000);
        free(body);
    } else if (strcmp(p, "/text") == 0) {
        goc_http_header_set(h, "Cache-Control", "max-age=60");
        goc_http_header_set(h, "Content-Type", "text/plain");
        char body[4096];
        pattern(body, sizeof body);
        goc_http_write(w, body, sizeof body);
    } else if (strcmp(p, "/slow") == 0) {
        goc_sleep(100 * GOC_MILLISECOND);
        goc_http_header_set(h, "Cache-Control", "max-age=60");
        goc_http_write_str(w, "slow");
    } else if (strcmp(p, "/stream") == 0) {
        goc_http_header_set(h, "Cache-Control", "max-age=60");
        goc_http_header_set(h, "ETag", "\"s\"");
        char part[1000];
        pattern(part, sizeof part);
        for (int i = 0; i < 10; i++) {
            goc_http_write(w, part, sizeof part);
            goc_http_flush(w);
        }
    } else {
        goc_http_header_set(h, "Cache-Control", "max-age=60");
        goc_http_write_str(w, "other");
    }
}

/* ---- the client side ------------------------------------------------------------ */

typedef struct res {
    int status;
    char *body; /* malloc'ed */
    size_t len;
    int64_t content_length;
    char xcache[32], age[32], refreshed[8], encoding[16];
} res;

typedef struct fixture {
    test_server ts;
    goc_http_cache *cache;
    goc_http_client *client;
} fixture;

static bool fixture_start(fixture *f, const goc_http_cache_opts *o)
{
    atomic_store(&calls, 0);
    f->cache = goc_http_cache_new(o);
    goc_http_client_opts co = {.disable_compression = true, .proxy = ""};
    f->client = goc_http_client_new(&co);
    GO_CHECK(f->cache && f->client, "cache or client");
    goc_http_handler h = goc_http_cache_handler(f->cache, (goc_http_handler){origin, NULL});
    return f->cache && f->client && test_server_start(&f->ts, h, NULL);
}

static void fixture_stop(fixture *f)
{
    goc_http_client_free(f->client);
    test_server_stop(&f->ts);
    goc_http_cache_free(f->cache);
}

/* method path with one extra field (hname NULL: none), into *out (its
 * previous body freed). */
static bool req(fixture *f, const char *method, const char *path, const char *hname,
                const char *hval, res *out)
{
    free(out->body);
    memset(out, 0, sizeof *out);
    char url[256];
    snprintf(url, sizeof url, "http://%s%s", f->ts.addr, path);
    goc_http_client_request *rq;
    int rc = goc_http_new_request(NULL, method, url, &rq);
    GO_CHECK(rc == 0, "new request: %d", rc);
    if (rc)
        return false;
    if (hname)
        goc_http_header_set(goc_http_client_request_header(rq), hname, hval);
    goc_http_response *resp;
    rc = goc_http_client_do(f->client, rq, &resp);
    goc_http_client_request_free(rq);
    GO_CHECK(rc == 0, "%s %s: %s", method, path, goc_strerror(rc));
    if (rc)
        return false;
    out->status = resp->status_code;
    out->content_length = resp->content_length;
    const char *v = goc_http_header_get(resp->header, "X-Cache");
    snprintf(out->xcache, sizeof out->xcache, "%s", v ? v : "");
    v = goc_http_header_get(resp->header, "Age");
    snprintf(out->age, sizeof out->age, "%s", v ? v : "");
    v = goc_http_header_get(resp->header, "Content-Encoding");
    snprintf(out->encoding, sizeof out->encoding, "%s", v ? v : "");
    v = goc_http_header_get(resp->header, "X-Refreshed");
    snprintf(out->refreshed, sizeof out->refreshed, "%s", v ? v : "");
    rc = goc_http_response_read_all(resp, &out->body, &out->len, 1 << 24);
    goc_http_response_free(resp);
    GO_CHECK(rc == 0, "%s %s: body: %s", method, path, goc_strerror(rc));
    return rc == 0;
}

static bool get(fixture *f, const char *path, res *out)
{
    return req(f, "GET", path, NULL, NULL, out);
}

static bool is(const res *r, int status, const char *xcache, const char *body)
{
    return r->status == status && strcmp(r->xcache, xcache) == 0 &&
           (!body || (r->len == strlen(body) && memcmp(r->body, body, r->len) == 0));
}

#define CHECK_RES(r, st, xc, b)                                                                    \
    GO_CHECK(is(&(r), st, xc, b), "%d %s \"%.*s\", want %d %s %s", (r).status, (r).xcache,         \
             (int)((r).len < 80 ? (r).len : 80), (r).body ? (r).body : "", st, xc, b ? b : "")

static goc_http_cache_stats stats(fixture *f)
{
    goc_http_cache_stats s;
    goc_http_cache_stats_read(f->cache, &s);
    return s;
}

/* ---- freshness ---------------------------------------------------------------------- */

static int fresh_main(void *arg)
{
    (void)arg;
    fixture f;
    if (!fixture_start(&f, NULL))
        return 1;
    res r = {0};
    get(&f, "/maxage", &r);
    CHECK_RES(r, 200, "MISS", "hello");
    for (int i = 0; i < 20; i++) {
        get(&f, "/maxage", &r);
        CHECK_RES(r, 200, "HIT", "hello");
        GO_CHECK(strcmp(r.age, "0") == 0 || strcmp(r.age, "1") == 0, "age %s", r.age);
    }
    GO_CHECK(atomic_load(&calls) == 1, "max-age: %d calls", atomic_load(&calls));

    get(&f, "/smaxage", &r);
    get(&f, "/smaxage", &r);
    CHECK_RES(r, 200, "HIT", "shared");
    get(&f, "/expires", &r);
    get(&f, "/expires", &r);
    CHECK_RES(r, 200, "HIT", "expires");
    GO_CHECK(atomic_load(&calls) == 3, "s-maxage, Expires: %d calls", atomic_load(&calls));
    get(&f, "/expired", &r);
    get(&f, "/expired", &r);
    CHECK_RES(r, 200, "MISS", "expired");

    /* Age counts the Age the response came with. */
    get(&f, "/aged", &r);
    get(&f, "/aged", &r);
    CHECK_RES(r, 200, "HIT", "aged");
    long age = strtol(r.age, NULL, 10);
    GO_CHECK(age >= 5 && age < 60, "Age %s", r.age);

    goc_http_cache_stats s = stats(&f);
    GO_CHECK(s.hits == 23 && s.misses == 6 && s.stored == 4 && s.entries == 4 && s.bytes > 0,
             "hits %llu misses %llu stored %llu entries %zu", (unsigned long long)s.hits,
             (unsigned long long)s.misses, (unsigned long long)s.stored, s.entries);
    free(r.body);
    fixture_stop(&f);
    return 0;
}

Test(cache, freshness_sources_and_age, .timeout = 30)
{
    cr_assert_eq(run_main(fresh_main, NULL), 0);
}

static int not_stored_main(void *arg)
{
    (void)arg;
    fixture f;
    if (!fixture_start(&f, NULL))
        return 1;
    res r = {0};
    /* no-cache without a validator: each use would fetch it anew. */
    static const char *const paths[] = {"/nostore", "/private", "/cookie", "/nocache-plain"};
    for (int i = 0; i < 4; i++) {
        get(&f, paths[i], &r);
        get(&f, paths[i], &r);
        CHECK_RES(r, 200, "MISS", paths[i] + 1);
    }
    GO_CHECK(atomic_load(&calls) == 8, "%d calls", atomic_load(&calls));
    /* Authorization: not stored unless public (or s-maxage, must-revalidate). */
    req(&f, "GET", "/auth", "Authorization", "Basic eDp5", &r);
    req(&f, "GET", "/auth", "Authorization", "Basic eDp5", &r);
    CHECK_RES(r, 200, "MISS", "auth");
    req(&f, "GET", "/authpublic", "Authorization", "Basic eDp5", &r);
    req(&f, "GET", "/authpublic", "Authorization", "Basic eDp5", &r);
    CHECK_RES(r, 200, "HIT", "authpublic");
    /* The client's no-store: passed on, never stored nor answered from the store. */
    req(&f, "GET", "/maxage", "Cache-Control", "no-store", &r);
    CHECK_RES(r, 200, "MISS", "hello");
    get(&f, "/maxage", &r);
    CHECK_RES(r, 200, "MISS", "hello");
    req(&f, "GET", "/maxage", "Cache-Control", "no-store", &r);
    CHECK_RES(r, 200, "MISS", "hello");
    get(&f, "/maxage", &r);
    CHECK_RES(r, 200, "HIT", "hello");
    goc_http_cache_stats s = stats(&f);
    GO_CHECK(s.not_storable >= 5 && s.stored == 2, "not_storable %llu stored %llu",
             (unsigned long long)s.not_storable, (unsigned long long)s.stored);
    free(r.body);
    fixture_stop(&f);
    return 0;
}

Test(cache, what_is_not_stored, .timeout = 30)
{
    cr_assert_eq(run_main(not_stored_main, NULL), 0);
}

/* ---- revalidation ---------------------------------------------------------------- */

static int revalidate_main(void *arg)
{
    (void)arg;
    fixture f;
    if (!fixture_start(&f, NULL))
        return 1;
    res r = {0};
    /* no-cache with an ETag: stored, and every use asks the handler below. */
    get(&f, "/etag", &r);
    CHECK_RES(r, 200, "MISS", "etag body");
    GO_CHECK(seen(seen_inm)[0] == 0, "first request had If-None-Match %s", seen(seen_inm));
    for (int i = 0; i < 3; i++) {
        get(&f, "/etag", &r);
        CHECK_RES(r, 200, "REVALIDATED", "etag body");
        GO_CHECK(strcmp(seen(seen_inm), "\"v1\"") == 0, "If-None-Match seen: %s", seen(seen_inm));
        GO_CHECK(strcmp(r.refreshed, "yes") == 0, "the 304's fields not merged");
    }
    GO_CHECK(atomic_load(&calls) == 4, "%d calls", atomic_load(&calls));
    /* The client's own matching conditional: a 304 from the cache. */
    req(&f, "GET", "/etag", "If-None-Match", "\"v1\"", &r);
    GO_CHECK(r.status == 304 && strcmp(r.xcache, "REVALIDATED") == 0, "%d %s", r.status, r.xcache);
    req(&f, "GET", "/etag", "If-None-Match", "\"v0\"", &r);
    CHECK_RES(r, 200, "REVALIDATED", "etag body");

    /* Last-Modified: If-Modified-Since below. */
    get(&f, "/lm", &r);
    CHECK_RES(r, 200, "MISS", "lm body");
    get(&f, "/lm", &r);
    CHECK_RES(r, 200, "REVALIDATED", "lm body");
    GO_CHECK(strcmp(seen(seen_ims), lm_date) == 0, "If-Modified-Since seen: %s", seen(seen_ims));

    /* A fresh entry and the client's no-cache: revalidated all the same. */
    get(&f, "/maxage", &r);
    get(&f, "/maxage", &r);
    CHECK_RES(r, 200, "HIT", "hello");
    int before = atomic_load(&calls);
    req(&f, "GET", "/maxage", "Cache-Control", "no-cache", &r);
    CHECK_RES(r, 200, "MISS", "hello"); /* no validator: fetched anew */
    GO_CHECK(atomic_load(&calls) == before + 1, "client's no-cache not passed on");
    /* The client's max-age=0 and only-if-cached. */
    req(&f, "GET", "/maxage", "Cache-Control", "max-age=0", &r);
    CHECK_RES(r, 200, "MISS", "hello");
    req(&f, "GET", "/maxage", "Cache-Control", "only-if-cached", &r);
    CHECK_RES(r, 200, "HIT", "hello");
    req(&f, "GET", "/never-asked", "Cache-Control", "only-if-cached", &r);
    GO_CHECK(r.status == 504, "only-if-cached, not stored: %d", r.status);
    /* A hit with the client's If-None-Match that does not match the
     * entry's (it has no ETag): the full response. */
    req(&f, "GET", "/maxage", "If-None-Match", "\"x\"", &r);
    CHECK_RES(r, 200, "HIT", "hello");

    /* A miss with the client's conditional: the handler below is asked
     * for the whole answer (stored), the client gets its 304. */
    before = atomic_load(&calls);
    req(&f, "GET", "/tagged", "If-None-Match", "\"t1\"", &r);
    GO_CHECK(r.status == 304 && strcmp(r.xcache, "MISS") == 0 && seen(seen_inm)[0] == 0,
             "%d %s, If-None-Match below: %s", r.status, r.xcache, seen(seen_inm));
    get(&f, "/tagged", &r);
    CHECK_RES(r, 200, "HIT", "tagged");
    req(&f, "GET", "/tagged", "If-Modified-Since", lm_date, &r);
    GO_CHECK(r.status == 304 && strcmp(r.xcache, "HIT") == 0, "%d %s", r.status, r.xcache);
    req(&f, "GET", "/tagged", "If-None-Match", "\"t0\"", &r);
    CHECK_RES(r, 200, "HIT", "tagged");
    GO_CHECK(atomic_load(&calls) == before + 1, "%d calls", atomic_load(&calls) - before);
    /* ... and one that does not hold: the whole answer. */
    goc_http_cache_purge(f.cache);
    req(&f, "GET", "/tagged", "If-None-Match", "\"t0\"", &r);
    CHECK_RES(r, 200, "MISS", "tagged");

    goc_http_cache_stats s = stats(&f);
    GO_CHECK(s.revalidated == 6, "revalidated %llu", (unsigned long long)s.revalidated);
    free(r.body);
    fixture_stop(&f);
    return 0;
}

Test(cache, revalidation, .timeout = 30)
{
    cr_assert_eq(run_main(revalidate_main, NULL), 0);
}

static int stale_main(void *arg)
{
    (void)arg;
    fixture f;
    if (!fixture_start(&f, NULL))
        return 1;
    res r = {0};
    get(&f, "/short", &r);
    get(&f, "/short-etag", &r);
    CHECK_RES(r, 200, "MISS", "etag body");
    goc_sleep(1200 * GOC_MILLISECOND);
    /* Stale without a validator: fetched and stored anew. */
    get(&f, "/short", &r);
    CHECK_RES(r, 200, "MISS", "short");
    get(&f, "/short", &r);
    CHECK_RES(r, 200, "HIT", "short");
    /* Stale with one: revalidated, then fresh again. */
    get(&f, "/short-etag", &r);
    CHECK_RES(r, 200, "REVALIDATED", "etag body");
    GO_CHECK(strcmp(seen(seen_inm), "\"v1\"") == 0, "If-None-Match seen: %s", seen(seen_inm));
    get(&f, "/short-etag", &r);
    CHECK_RES(r, 200, "HIT", "etag body");
    GO_CHECK(atomic_load(&calls) == 4, "%d calls", atomic_load(&calls));
    free(r.body);
    fixture_stop(&f);
    return 0;
}

Test(cache, stale_after_max_age, .timeout = 30)
{
    cr_assert_eq(run_main(stale_main, NULL), 0);
}

/* ---- variants, HEAD, sizes ---------------------------------------------------------- */

static int vary_head_main(void *arg)
{
    (void)arg;
    fixture f;
    if (!fixture_start(&f, NULL))
        return 1;
    res r = {0};
    static const struct {
        const char *ae, *xcache, *body;
    } steps[] = {
        {"gzip", "MISS", "enc:gzip"}, {"gzip", "HIT", "enc:gzip"}, {"br", "MISS", "enc:br"},
        {"gzip", "HIT", "enc:gzip"},  {"br", "HIT", "enc:br"},     {NULL, "MISS", "enc:"},
        {NULL, "HIT", "enc:"},
    };
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        req(&f, "GET", "/vary", steps[i].ae ? "Accept-Encoding" : NULL, steps[i].ae, &r);
        CHECK_RES(r, 200, steps[i].xcache, steps[i].body);
    }
    GO_CHECK(atomic_load(&calls) == 3, "vary: %d calls", atomic_load(&calls));

    /* HEAD from the GET's entry: its length, no body. */
    get(&f, "/maxage", &r);
    req(&f, "HEAD", "/maxage", NULL, NULL, &r);
    CHECK_RES(r, 200, "HIT", "");
    GO_CHECK(r.content_length == 5, "HEAD Content-Length %lld", (long long)r.content_length);
    GO_CHECK(atomic_load(&calls) == 4, "HEAD: %d calls", atomic_load(&calls));
    /* A HEAD miss goes below as HEAD and stores nothing. */
    req(&f, "HEAD", "/other", NULL, NULL, &r);
    CHECK_RES(r, 200, "MISS", "");
    GO_CHECK(strcmp(seen(seen_method), "HEAD") == 0, "method below: %s", seen(seen_method));
    get(&f, "/other", &r);
    CHECK_RES(r, 200, "MISS", "other");
    get(&f, "/other", &r);
    CHECK_RES(r, 200, "HIT", "other");

    /* A POST invalidates the key. */
    req(&f, "POST", "/other", NULL, NULL, &r);
    CHECK_RES(r, 200, "", "other");
    get(&f, "/other", &r);
    CHECK_RES(r, 200, "MISS", "other");
    free(r.body);
    fixture_stop(&f);
    return 0;
}

Test(cache, vary_head_and_post, .timeout = 30)
{
    cr_assert_eq(run_main(vary_head_main, NULL), 0);
}

static int sizes_main(void *arg)
{
    (void)arg;
    fixture f;
    goc_http_cache_opts o = {.max_bytes = 8192, .max_entry_bytes = 4096};
    if (!fixture_start(&f, &o))
        return 1;
    res r = {0};
    char want[65536];
    pattern(want, sizeof want);
    /* Larger than max_entry_bytes: delivered whole, not stored. */
    for (int i = 0; i < 2; i++) {
        get(&f, "/big", &r);
        GO_CHECK(r.status == 200 && strcmp(r.xcache, "MISS") == 0 && r.len == sizeof want &&
                     memcmp(r.body, want, sizeof want) == 0,
                 "big: %d %s %zu bytes", r.status, r.xcache, r.len);
    }
    goc_http_cache_stats s = stats(&f);
    GO_CHECK(s.entries == 0 && s.not_storable == 2, "big stored: %zu entries", s.entries);

    /* LRU by bytes: ten bodies of 1000 bytes in 8 KiB. */
    char path[32];
    for (int i = 0; i < 10; i++) {
        snprintf(path, sizeof path, "/lru/%d", i);
        get(&f, path, &r);
        CHECK_RES(r, 200, "MISS", NULL);
        s = stats(&f);
        GO_CHECK(s.bytes <= 8192, "%zu bytes", s.bytes);
    }
    s = stats(&f);
    GO_CHECK(s.evicted > 0 && s.entries < 10 && s.entries >= 3, "evicted %llu, %zu entries",
             (unsigned long long)s.evicted, s.entries);
    get(&f, "/lru/9", &r);
    CHECK_RES(r, 200, "HIT", NULL);
    GO_CHECK(r.len == 1000 && memcmp(r.body, want, 1000) == 0, "lru body");
    /* Used last, /lru/9 outlives the others. */
    get(&f, "/lru/0", &r);
    CHECK_RES(r, 200, "MISS", NULL);
    get(&f, "/lru/9", &r);
    CHECK_RES(r, 200, "HIT", NULL);

    goc_http_cache_purge(f.cache);
    s = stats(&f);
    GO_CHECK(s.entries == 0 && s.bytes == 0, "purge left %zu entries, %zu bytes", s.entries,
             s.bytes);
    get(&f, "/lru/9", &r);
    CHECK_RES(r, 200, "MISS", NULL);
    free(r.body);
    fixture_stop(&f);
    return 0;
}

Test(cache, sizes_lru_and_purge, .timeout = 30)
{
    cr_assert_eq(run_main(sizes_main, NULL), 0);
}

/* ---- streaming and singleflight --------------------------------------------------------- */

static int stream_main(void *arg)
{
    (void)arg;
    fixture f;
    if (!fixture_start(&f, NULL))
        return 1;
    res r = {0};
    char want[10000];
    for (int i = 0; i < 10; i++)
        pattern(want + i * 1000, 1000);
    get(&f, "/stream", &r);
    GO_CHECK(r.status == 200 && strcmp(r.xcache, "MISS") == 0 && r.content_length == -1 &&
                 r.len == sizeof want && memcmp(r.body, want, sizeof want) == 0,
             "streamed: %s %zu bytes, length %lld", r.xcache, r.len, (long long)r.content_length);
    get(&f, "/stream", &r);
    GO_CHECK(r.status == 200 && strcmp(r.xcache, "HIT") == 0 && r.content_length == 10000 &&
                 r.len == sizeof want && memcmp(r.body, want, sizeof want) == 0,
             "from the store: %s %zu bytes, length %lld", r.xcache, r.len,
             (long long)r.content_length);
    GO_CHECK(atomic_load(&calls) == 1, "%d calls", atomic_load(&calls));
    /* Streamed to a client whose conditional holds: a 304 for it, the
     * whole body (flushes and all) for the store. */
    goc_http_cache_purge(f.cache);
    req(&f, "GET", "/stream", "If-None-Match", "\"s\"", &r);
    GO_CHECK(r.status == 304 && r.len == 0 && strcmp(r.xcache, "MISS") == 0, "%d %s", r.status,
             r.xcache);
    get(&f, "/stream", &r);
    GO_CHECK(r.status == 200 && strcmp(r.xcache, "HIT") == 0 && r.len == sizeof want &&
                 memcmp(r.body, want, sizeof want) == 0,
             "after the 304: %s %zu bytes", r.xcache, r.len);
    free(r.body);
    fixture_stop(&f);
    return 0;
}

Test(cache, streamed_response_stored, .timeout = 30)
{
    cr_assert_eq(run_main(stream_main, NULL), 0);
}

/* A file server below (sendfile; no Cache-Control: default_ttl gives
 * the lifetime): stored byte for byte through the copy path. */
static int file_main(void *arg)
{
    (void)arg;
    char dir[] = "/tmp/goc-cache-XXXXXX", path[64];
    GO_CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    snprintf(path, sizeof path, "%s/f.txt", dir);
    static char want[200000];
    pattern(want, sizeof want);
    FILE *fp = fopen(path, "w");
    GO_CHECK(fp && fwrite(want, 1, sizeof want, fp) == sizeof want, "write %s", path);
    fclose(fp);

    fixture f;
    atomic_store(&calls, 0);
    goc_http_cache_opts o = {
        .max_bytes = 1 << 20, .max_entry_bytes = 512 << 10, .default_ttl = 60 * GOC_SECOND};
    f.cache = goc_http_cache_new(&o);
    goc_http_client_opts co = {.disable_compression = true, .proxy = ""};
    f.client = goc_http_client_new(&co);
    goc_http_handler h = goc_http_cache_handler(f.cache, goc_http_file_server(dir));
    if (!f.cache || !f.client || !test_server_start(&f.ts, h, NULL))
        return 1;
    res r = {0};
    for (int i = 0; i < 3; i++) {
        get(&f, "/f.txt", &r);
        GO_CHECK(r.status == 200 && strcmp(r.xcache, i ? "HIT" : "MISS") == 0 &&
                     r.len == sizeof want && memcmp(r.body, want, sizeof want) == 0,
                 "%d: %d %s %zu bytes", i, r.status, r.xcache, r.len);
    }
    goc_http_cache_stats s = stats(&f);
    GO_CHECK(s.hits == 2 && s.misses == 1 && s.entries == 1, "hits %llu misses %llu",
             (unsigned long long)s.hits, (unsigned long long)s.misses);
    free(r.body);
    fixture_stop(&f);
    unlink(path);
    rmdir(dir);
    return 0;
}

Test(cache, file_server_below, .timeout = 30)
{
    cr_assert_eq(run_main(file_main, NULL), 0);
}

/* The gzip middleware below: its Vary keeps the compressed and the
 * plain answer apart. (A static keeps the wrapper reachable, as a
 * handler held by a mux, for LeakSanitizer.) */
static goc_http_handler gz_below;

static int gzip_main(void *arg)
{
    (void)arg;
    fixture f;
    atomic_store(&calls, 0);
    f.cache = goc_http_cache_new(NULL);
    goc_http_client_opts co = {.disable_compression = true, .proxy = ""};
    f.client = goc_http_client_new(&co);
    gz_below = goc_http_gzip_handler((goc_http_handler){origin, NULL}, NULL);
    goc_http_handler h = goc_http_cache_handler(f.cache, gz_below);
    if (!f.cache || !f.client || !test_server_start(&f.ts, h, NULL))
        return 1;
    char want[4096];
    pattern(want, sizeof want);
    res r = {0}, gz1 = {0};
    static const struct {
        const char *ae, *xcache, *encoding;
    } steps[] = {
        {"gzip", "MISS", "gzip"}, {"gzip", "HIT", "gzip"}, {NULL, "MISS", ""},
        {NULL, "HIT", ""},        {"gzip", "HIT", "gzip"},
    };
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        req(&f, "GET", "/text", steps[i].ae ? "Accept-Encoding" : NULL, steps[i].ae, &r);
        GO_CHECK(r.status == 200 && strcmp(r.xcache, steps[i].xcache) == 0 &&
                     strcmp(r.encoding, steps[i].encoding) == 0,
                 "%zu: %s %s", i, r.xcache, r.encoding);
        if (!steps[i].ae)
            GO_CHECK(r.len == sizeof want && memcmp(r.body, want, sizeof want) == 0, "plain body");
        else if (i == 0)
            req(&f, "GET", "/text", "Accept-Encoding", "gzip", &gz1); /* the stored copy */
        else
            GO_CHECK(r.len == gz1.len && r.len < sizeof want &&
                         memcmp(r.body, gz1.body, r.len) == 0,
                     "%zu: gzip body differs from the first", i);
    }
    GO_CHECK(atomic_load(&calls) == 2, "%d calls", atomic_load(&calls));
    free(r.body);
    free(gz1.body);
    fixture_stop(&f);
    return 0;
}

Test(cache, gzip_below_and_vary, .timeout = 30)
{
    cr_assert_eq(run_main(gzip_main, NULL), 0);
}

#define FLOCK 50

typedef struct flock_arg {
    fixture *f;
    goc_waitgroup *wg;
    atomic_int ok;
} flock_arg;

static void flock_one(void *arg)
{
    flock_arg *a = arg;
    res r = {0};
    if (get(a->f, "/slow", &r) && r.status == 200 && r.len == 4 && memcmp(r.body, "slow", 4) == 0)
        atomic_fetch_add(&a->ok, 1);
    free(r.body);
    goc_waitgroup_done(a->wg);
}

static int singleflight_main(void *arg)
{
    (void)arg;
    fixture f;
    if (!fixture_start(&f, NULL))
        return 1;
    goc_waitgroup wg = {0};
    flock_arg a = {.f = &f, .wg = &wg};
    goc_waitgroup_add(&wg, FLOCK);
    for (int i = 0; i < FLOCK; i++)
        GO_SPAWN(flock_one, &a);
    goc_waitgroup_wait(&wg);
    GO_CHECK(atomic_load(&a.ok) == FLOCK, "%d of %d answered", atomic_load(&a.ok), FLOCK);
    GO_CHECK(atomic_load(&calls) == 1, "the handler below ran %d times", atomic_load(&calls));
    goc_http_cache_stats s = stats(&f);
    GO_CHECK(s.misses == 1 && s.hits == FLOCK - 1 && s.coalesced <= s.hits,
             "misses %llu hits %llu coalesced %llu", (unsigned long long)s.misses,
             (unsigned long long)s.hits, (unsigned long long)s.coalesced);
    fixture_stop(&f);
    return 0;
}

Test(cache, singleflight, .timeout = 60)
{
    cr_assert_eq(run_main(singleflight_main, NULL), 0);
}

/* Hits stream entries that purges drop meanwhile: each reader's
 * reference keeps its entry (AddressSanitizer watches the rest). */
typedef struct churn_arg {
    fixture *f;
    goc_waitgroup *wg;
    atomic_int ok, bad;
    atomic_bool stop;
} churn_arg;

static void churn_reader(void *arg)
{
    churn_arg *a = arg;
    res r = {0};
    char want[1000], path[32];
    pattern(want, sizeof want);
    for (int i = 0; i < 150; i++) {
        snprintf(path, sizeof path, "/lru/%d", i % 5);
        if (get(a->f, path, &r) && r.status == 200 && r.len == 1000 &&
            memcmp(r.body, want, 1000) == 0)
            atomic_fetch_add(&a->ok, 1);
        else
            atomic_fetch_add(&a->bad, 1);
    }
    free(r.body);
    goc_waitgroup_done(a->wg);
}

static void churn_purger(void *arg)
{
    churn_arg *a = arg;
    while (!atomic_load(&a->stop)) {
        goc_http_cache_purge(a->f->cache);
        goc_sleep(GOC_MILLISECOND / 2);
    }
    goc_waitgroup_done(a->wg);
}

static int churn_main(void *arg)
{
    (void)arg;
    fixture f;
    goc_http_cache_opts o = {.max_bytes = 4096, .max_entry_bytes = 2048};
    if (!fixture_start(&f, &o))
        return 1;
    goc_waitgroup readers = {0}, purger = {0};
    churn_arg a = {.f = &f, .wg = &readers};
    churn_arg p = {.f = &f, .wg = &purger};
    goc_waitgroup_add(&readers, 4);
    goc_waitgroup_add(&purger, 1);
    for (int i = 0; i < 4; i++)
        GO_SPAWN(churn_reader, &a);
    GO_SPAWN(churn_purger, &p);
    goc_waitgroup_wait(&readers);
    atomic_store(&p.stop, true);
    goc_waitgroup_wait(&purger);
    GO_CHECK(atomic_load(&a.ok) == 600 && atomic_load(&a.bad) == 0, "%d good, %d bad answers",
             atomic_load(&a.ok), atomic_load(&a.bad));
    goc_http_cache_stats s = stats(&f);
    GO_CHECK(s.hits + s.misses == 600 && s.bytes <= 4096, "hits %llu misses %llu, %zu bytes",
             (unsigned long long)s.hits, (unsigned long long)s.misses, s.bytes);
    fixture_stop(&f);
    return 0;
}

Test(cache, hits_while_purged_and_evicted, .timeout = 60)
{
    cr_assert_eq(run_main(churn_main, NULL), 0);
}

/* ---- the rules alone (cache_control.c) --------------------------------------------------- */

static goc__cc cc_of(const char *s)
{
    goc__cc cc;
    goc__cc_init(&cc);
    goc__cc_parse(&cc, s, strlen(s));
    return cc;
}

/* A response the handler below aborted is neither stored nor handed to
 * the client as complete: each request reaches the handler, and each
 * client sees its body fail. */
static int aborted_main(void *arg)
{
    (void)arg;
    fixture f;
    if (!fixture_start(&f, NULL))
        return 1;
    for (int i = 0; i < 2; i++) {
        char url[256];
        snprintf(url, sizeof url, "http://%s/abort", f.ts.addr);
        goc_http_response *resp = NULL;
        int rc = goc_http_client_get(f.client, url, &resp);
        char *body = NULL;
        if (rc == 0)
            rc = goc_http_response_read_all(resp, &body, NULL, 1 << 20);
        GO_CHECK(rc < 0, "request %d: an aborted body read as complete (%s)", i, body ? body : "");
        free(body);
        goc_http_response_free(resp);
    }
    GO_CHECK(atomic_load(&calls) == 2, "the handler below ran %d times: the cut answer was stored",
             atomic_load(&calls));
    fixture_stop(&f);
    return test_failed();
}

Test(cache, aborted_not_stored, .timeout = 30)
{
    cr_assert_eq(run_main(aborted_main, NULL), 0, "%s", test_fail_msg);
}

Test(cache_control, parse, .timeout = 10)
{
    goc__cc cc = cc_of("max-age=60, s-maxage=\"30\", No-Store,private=\"Set-Cookie, X\",public");
    cr_assert_eq(cc.max_age, 60);
    cr_assert_eq(cc.s_maxage, 30);
    cr_assert(cc.flags & GOC__CC_NO_STORE);
    cr_assert(cc.flags & GOC__CC_PRIVATE);
    cr_assert(cc.flags & GOC__CC_PUBLIC);
    cc = cc_of("max-age=abc, max-age=100");
    cr_assert_eq(cc.max_age, 0, "an invalid max-age is stale: %lld", (long long)cc.max_age);
    cc = cc_of("max-age=99999999999999999999");
    cr_assert_eq(cc.max_age, GOC__CC_DELTA_MAX);
    cc = cc_of(" ,, garbage=\"a,b\" , no-cache ,max-stale");
    cr_assert(cc.flags & GOC__CC_NO_CACHE);
    cr_assert(cc.flags & GOC__CC_MAX_STALE_ANY);
    cr_assert_eq(cc.max_age, -1);
    cc = cc_of("min-fresh=10, max-stale=5, only-if-cached");
    cr_assert_eq(cc.min_fresh, 10);
    cr_assert_eq(cc.max_stale, 5);
    cr_assert(cc.flags & GOC__CC_ONLY_IF_CACHED);
}

Test(cache_control, etags_and_age, .timeout = 10)
{
    cr_assert(goc__cache_etag_match("\"a\", W/\"b\"", "\"b\""));
    cr_assert(goc__cache_etag_match("W/\"a\"", "\"a\""));
    cr_assert(goc__cache_etag_match("*", "\"z\""));
    cr_assert(!goc__cache_etag_match("\"a\"", "\"b\""));
    cr_assert(!goc__cache_etag_match("\"a\"", NULL));
    /* RFC 9111 4.2.3: the larger of apparent and corrected age, plus
     * resident time. */
    int64_t s = 1000000000LL;
    goc__cache_clock k = {
        .request_time = 100 * s, .response_time = 102 * s, .date = 90 * s, .age = 3 * s};
    cr_assert_eq(goc__cache_current_age(&k, 110 * s), 12 * s + 8 * s);
    k.date = 101 * s; /* corrected (3 + 2) beats apparent (1) */
    cr_assert_eq(goc__cache_current_age(&k, 110 * s), 5 * s + 8 * s);
}
