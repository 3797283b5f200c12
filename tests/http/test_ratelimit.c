/*
 * test_ratelimit.c — the token-bucket rate limiter of goc/httputil.h: a
 * burst let through then refused with the wait for the next token, refill
 * over time up to the burst, keys independent, the max_keys bound
 * forgetting the least recently used key, concurrent allows from
 * goroutines and threads never passing more than burst + rate × elapsed;
 * and the middleware over a real server: 429 with Retry-After and the
 * body, the inner handler not called, buckets per client address (any
 * port) or per header value.
 */
#include <stdatomic.h>

#include <criterion/criterion.h>
#include <goc/httputil.h>

#include "http/serverutil.h"

/* Allowed calls among n in a row for key. */
static int allow_n(goc_rate_limiter *l, const char *key, int n)
{
    int ok = 0;
    for (int i = 0; i < n; i++)
        ok += goc_rate_limiter_allow(l, key) == 0;
    return ok;
}

/* ---- the bucket -------------------------------------------------------------- */

static int bucket_main(void *arg)
{
    (void)arg;
    GO_CHECK(goc_rate_limiter_new(0, 1, 0) == NULL, "rate 0");
    GO_CHECK(goc_rate_limiter_new(-1, 1, 0) == NULL, "negative rate");
    GO_CHECK(goc_rate_limiter_new(1, 0, 0) == NULL, "burst 0");

    /* 10/s, burst 5: five pass, the sixth waits about 100 ms. */
    goc_rate_limiter *l = goc_rate_limiter_new(10, 5, 0);
    int64_t t0 = goc_now();
    for (int i = 0; i < 5; i++)
        GO_CHECK(goc_rate_limiter_allow(l, "a") == 0, "token %d of the burst", i);
    goc_duration w1 = goc_rate_limiter_allow(l, "a");
    goc_duration w2 = goc_rate_limiter_allow(l, "a");
    int64_t spent = goc_now() - t0;
    GO_CHECK(w1 > 0 && w1 <= 100 * GOC_MILLISECOND, "wait %lld", (long long)w1);
    GO_CHECK(w1 >= 100 * GOC_MILLISECOND - spent - GOC_MILLISECOND, "wait %lld after %lld ns",
             (long long)w1, (long long)spent);
    GO_CHECK(w2 > 0 && w2 <= w1, "a refusal takes nothing: %lld then %lld", (long long)w1,
             (long long)w2);

    /* Another key has its own full bucket. */
    GO_CHECK(allow_n(l, "b", 5) == 5, "b's burst");
    GO_CHECK(goc_rate_limiter_allow(l, "b") > 0, "b spent");
    GO_CHECK(allow_n(l, NULL, 5) == 5, "the NULL key is a key too");

    /* After the wait, one more token (and no more). */
    goc_sleep(w2 + 5 * GOC_MILLISECOND);
    GO_CHECK(goc_rate_limiter_allow(l, "a") == 0, "refilled after the wait");
    goc_rate_limiter_free(l);

    /* Refill stops at the burst. */
    l = goc_rate_limiter_new(100, 2, 0);
    GO_CHECK(allow_n(l, "k", 10) <= 3, "burst 2");
    goc_sleep(200 * GOC_MILLISECOND); /* 20 tokens' worth */
    int n = allow_n(l, "k", 10);
    GO_CHECK(n >= 2 && n <= 3, "after a long sleep: %d passed, burst is 2", n);
    goc_rate_limiter_free(l);
    goc_rate_limiter_free(NULL);
    return 0;
}

Test(ratelimit, bucket, .timeout = 20)
{
    cr_assert_eq(run_main(bucket_main, NULL), 0);
}

/* ---- max_keys ------------------------------------------------------------------ */

static int lru_main(void *arg)
{
    (void)arg;
    /* Almost no refill: a remembered key stays refused, a forgotten one
     * starts full again. */
    goc_rate_limiter *l = goc_rate_limiter_new(0.001, 1, 4);
    char k[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(k, sizeof k, "client-%d", i);
        GO_CHECK(goc_rate_limiter_allow(l, k) == 0, "%s new", k);
    }
    for (int i = 996; i < 1000; i++) {
        snprintf(k, sizeof k, "client-%d", i);
        GO_CHECK(goc_rate_limiter_allow(l, k) > 0, "%s is one of the last 4: remembered", k);
    }
    int forgotten = 0;
    for (int i = 0; i < 996; i += 83) {
        snprintf(k, sizeof k, "client-%d", i);
        forgotten += goc_rate_limiter_allow(l, k) == 0;
    }
    GO_CHECK(forgotten == 12, "%d of 12 old keys forgotten", forgotten);

    /* Use keeps a key: touch a, add three new ones, a is still known. */
    goc_rate_limiter_free(l);
    l = goc_rate_limiter_new(0.001, 1, 4);
    const char *keys[] = {"a", "b", "c", "d"};
    for (int i = 0; i < 4; i++)
        goc_rate_limiter_allow(l, keys[i]);
    GO_CHECK(goc_rate_limiter_allow(l, "a") > 0, "a spent"); /* a is the most recent */
    GO_CHECK(goc_rate_limiter_allow(l, "e") == 0, "e new");  /* b forgotten */
    GO_CHECK(goc_rate_limiter_allow(l, "a") > 0, "a still known");
    GO_CHECK(goc_rate_limiter_allow(l, "b") == 0, "b was forgotten"); /* c forgotten */
    GO_CHECK(goc_rate_limiter_allow(l, "d") > 0, "d still known");
    goc_rate_limiter_free(l);
    return 0;
}

Test(ratelimit, max_keys, .timeout = 20)
{
    cr_assert_eq(run_main(lru_main, NULL), 0);
}

/* ---- concurrency ----------------------------------------------------------------- */

#define RATE  2000.0
#define BURST 50

typedef struct conc {
    goc_rate_limiter *l;
    atomic_bool stop;
    atomic_long allowed, calls;
    goc_waitgroup wg;
} conc;

/* Mostly the shared key; one call in four goes to one of 64 others, so
 * the 16-key map forgets constantly. The shared key is never forgotten:
 * no thread makes two other calls in a row, and 16 in a row would take
 * more threads than run. */
static void conc_round(conc *c, long i)
{
    if (i % 4 == 3) {
        char k[24];
        snprintf(k, sizeof k, "other-%ld", (i / 4) % 64);
        goc_rate_limiter_allow(c->l, k);
        return;
    }
    atomic_fetch_add(&c->calls, 1);
    if (goc_rate_limiter_allow(c->l, "shared") == 0)
        atomic_fetch_add(&c->allowed, 1);
}

static void conc_goroutine(void *arg)
{
    conc *c = arg;
    for (long i = 0; !atomic_load(&c->stop); i++) {
        conc_round(c, i);
        if (i % 8 == 0)
            goc_yield();
    }
    goc_waitgroup_done(&c->wg);
}

static void *conc_thread(void *arg)
{
    conc *c = arg;
    for (long i = 0; !atomic_load(&c->stop); i++)
        conc_round(c, i);
    return NULL;
}

static int conc_main(void *arg)
{
    (void)arg;
    conc *c = calloc(1, sizeof *c);
    c->l = goc_rate_limiter_new(RATE, BURST, 16);
    int64_t t0 = goc_now();
    goc_waitgroup_add(&c->wg, 32);
    for (int i = 0; i < 32; i++)
        GO_SPAWN(conc_goroutine, c);
    pthread_t th[3];
    for (int i = 0; i < 3; i++)
        th[i] = start_thread(conc_thread, c);
    goc_sleep(200 * GOC_MILLISECOND);
    atomic_store(&c->stop, true);
    goc_waitgroup_wait(&c->wg);
    for (int i = 0; i < 3; i++)
        pthread_join(th[i], NULL);
    double elapsed = (double)(goc_now() - t0) / 1e9;
    long allowed = atomic_load(&c->allowed);
    double most = BURST + RATE * elapsed + 2;
    GO_CHECK(allowed <= most, "%ld allowed in %.3f s, at most %.0f", allowed, elapsed, most);
    GO_CHECK(allowed >= BURST, "%ld allowed: not even the burst", allowed);
    GO_CHECK(atomic_load(&c->calls) > allowed * 2, "the limiter was not pressed: %ld calls",
             atomic_load(&c->calls));
    goc_rate_limiter_free(c->l);
    free(c);
    return 0;
}

Test(ratelimit, concurrent, .timeout = 30)
{
    cr_assert_eq(run_main(conc_main, NULL), 0);
}

/* ---- the middleware ------------------------------------------------------------------ */

static atomic_int inner_calls;

static void inner(goc_http_response_writer *w, goc_http_request *r, void *arg)
{
    (void)r;
    (void)arg;
    atomic_fetch_add(&inner_calls, 1);
    goc_http_write(w, "ok", 2);
}

/* Wrappers live as long as the program: held here, they stay reachable
 * for LeakSanitizer. */
static goc_http_handler by_ip, by_header;

static int get_status(test_server *t, const char *extra, test_resp *rep)
{
    char req[256];
    snprintf(req, sizeof req, "GET / HTTP/1.1\r\nHost: x\r\n%sConnection: close\r\n\r\n", extra);
    test_resp_free(rep);
    test_roundtrip(t, req, rep);
    return rep->status;
}

static int middleware_main(void *arg)
{
    (void)arg;
    /* A token every 4 s: a refusal waits 3 to 4 s. */
    goc_rate_limiter *l = goc_rate_limiter_new(0.25, 2, 0);
    by_ip = goc_http_rate_limit_handler((goc_http_handler){inner, NULL}, l, NULL);
    test_server t;
    test_resp rep = {0};
    if (!by_ip.fn || !test_server_start(&t, by_ip, NULL))
        return 1;
    /* Each request comes from a new connection, so a new port: the key
     * is the address alone. */
    GO_CHECK(get_status(&t, "", &rep) == 200 && test_body_is(&rep, "ok"), "first");
    GO_CHECK(get_status(&t, "", &rep) == 200, "second");
    GO_CHECK(get_status(&t, "", &rep) == 429, "third: %d", rep.status);
    char v[64];
    const char *ra = test_field(&rep, "Retry-After", v, sizeof v);
    GO_CHECK(ra && (strcmp(ra, "4") == 0 || strcmp(ra, "3") == 0), "Retry-After %s",
             ra ? ra : "(none)");
    GO_CHECK(test_body_is(&rep, "429 too many requests\n"), "body %s", rep.body);
    GO_CHECK(atomic_load(&inner_calls) == 2, "inner called %d times", atomic_load(&inner_calls));
    test_server_stop(&t);
    goc_rate_limiter_free(l);

    /* By header: each API key its own bucket, none shares "". */
    l = goc_rate_limiter_new(0.25, 1, 0);
    by_header = goc_http_rate_limit_handler((goc_http_handler){inner, NULL}, l, "X-Api-Key");
    if (!by_header.fn || !test_server_start(&t, by_header, NULL))
        return 1;
    atomic_store(&inner_calls, 0);
    GO_CHECK(get_status(&t, "X-Api-Key: alpha\r\n", &rep) == 200, "alpha");
    GO_CHECK(get_status(&t, "X-Api-Key: alpha\r\n", &rep) == 429, "alpha again");
    GO_CHECK(get_status(&t, "X-Api-Key: beta\r\n", &rep) == 200, "beta");
    GO_CHECK(get_status(&t, "", &rep) == 200, "no key");
    GO_CHECK(get_status(&t, "", &rep) == 429, "no key again");
    GO_CHECK(get_status(&t, "X-Api-Key: beta\r\n", &rep) == 429, "beta again");
    GO_CHECK(atomic_load(&inner_calls) == 3, "inner called %d times", atomic_load(&inner_calls));
    test_resp_free(&rep);
    test_server_stop(&t);
    goc_rate_limiter_free(l);
    return 0;
}

Test(ratelimit, middleware, .timeout = 30)
{
    cr_assert_eq(run_main(middleware_main, NULL), 0);
}
