/*
 * test_client_alloc.c — the HTTP client when memory runs out: every
 * allocation the client makes on the caller's goroutine during a round of
 * exchanges with goc's server is failed in turn (the client itself, the
 * request, its URL and header, the pool's host entry and waiter, the
 * connection and its read buffer and growth, the request head, the
 * response and its arena, header map growth, the gzip decoder, redirect
 * state, read_all's buffer). A round: a new client, a GET, a POST with a
 * body, a chunked response with a trailer, a gzip-encoded response, a
 * redirect, a request and a response with heads past the first
 * buffers, the client freed. Each exchange either succeeds with exactly
 * the right answer or fails with a negative errno (counted by code);
 * nothing crashes, hangs or leaks (LeakSanitizer in ASan builds), and a
 * fresh client works after every round. The sweep goes on with k + 1
 * until a round made fewer than k allocations.
 *
 * The injector is allocfail.h's, counting only the allocations of the
 * test's main goroutine: the client's.
 * GOC_ALLOC_FAIL_VERBOSE=1 prints each failed allocation's site.
 */
#include <criterion/criterion.h>

#include <zlib.h>

#include "http/serverutil.h"

#if TEST_ASAN
#include <sanitizer/lsan_interface.h>
#endif

/* ---- the injector (allocfail.h: the test's own goroutine, the client) ---------------- */

#define AF_COUNT_OWN 1
#include "http/allocfail.h"

/* ---- goc's server ------------------------------------------------------------------------ */

static void handler(goc_http_response_writer *w, goc_http_request *r, void *arg)
{
    (void)arg;
    if (strcmp(r->path, "/echo") == 0) {
        char *body = NULL;
        size_t len = 0;
        goc_http_body_read_all(r, &body, &len, 1 << 20);
        goc_http_printf(w, "%s %s len=%zu\n%s", r->method, r->target, len, body ? body : "");
        free(body);
    } else if (strcmp(r->path, "/big") == 0) { /* gzip'ed here: the client's decoder runs */
        static char plain[50000], packed[60000];
        for (size_t i = 0; i < sizeof plain; i++)
            plain[i] = (char)('a' + (i % 10000) % 26);
        z_stream z = {0};
        deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
        z.next_in = (Bytef *)plain;
        z.avail_in = sizeof plain;
        z.next_out = (Bytef *)packed;
        z.avail_out = sizeof packed;
        deflate(&z, Z_FINISH);
        size_t n = sizeof packed - z.avail_out;
        deflateEnd(&z);
        goc_http_header *h = goc_http_response_header(w);
        goc_http_header_set(h, "Content-Type", "text/plain");
        goc_http_header_set(h, "Content-Encoding", "gzip");
        goc_http_write(w, packed, n);
    } else if (strcmp(r->path, "/chunked") == 0) {
        goc_http_header_set(goc_http_response_trailer(w), "X-Sum", "42");
        for (int i = 0; i < 3; i++) {
            goc_http_printf(w, "part%d;", i);
            goc_http_flush(w);
        }
    } else if (strcmp(r->path, "/fat") == 0) { /* a head past the client's first buffer */
        char name[32], v[200];
        memset(v, 'v', sizeof v - 1);
        v[sizeof v - 1] = 0;
        for (int i = 0; i < 40; i++) {
            snprintf(name, sizeof name, "X-Fat-%d", i);
            goc_http_header_set(goc_http_response_header(w), name, v);
        }
        const char *in = goc_http_header_get(r->header, "X-In-19");
        goc_http_printf(w, "fat %zu", in ? strlen(in) : 0);
    } else if (strcmp(r->path, "/redir") == 0) {
        goc_http_redirect(w, r, "/echo", 302);
    } else {
        goc_http_error(w, "no such page", 404);
    }
}

/* ---- the client's round ------------------------------------------------------------------- */

static char base[64];

typedef struct tally {
    long ok, errs, enomem;
    int other[8]; /* error codes other than -ENOMEM, first seen */
    int nother;
} tally;

static void note_err(tally *t, int rc, long k, const char *what)
{
    t->errs++;
    if (rc == -ENOMEM) {
        t->enomem++;
        return;
    }
    for (int i = 0; i < t->nother; i++)
        if (t->other[i] == rc)
            return;
    if (t->nother < 8)
        t->other[t->nother++] = rc;
    fprintf(stderr, "alloc_fail client: k=%ld %s: %d (%s) at %s\n", k, what, rc, goc_errmsg(),
            af_site);
}

static char *u(const char *path)
{
    static char buf[4][256];
    static int i;
    char *b = buf[i++ % 4];
    snprintf(b, 256, "%s%s", base, path);
    return b;
}

/* One exchange: 0 and the body (and the response, if keep) or a negative
 * errno. */
static int exchange(goc_http_client *c, const char *method, const char *url, const char *body,
                    char **out, size_t *len, goc_http_response **keep)
{
    *out = NULL;
    goc_http_client_request *req;
    int rc = goc_http_new_request(NULL, method, url, &req);
    if (rc < 0)
        return rc;
    if (strstr(url, "/fat")) { /* a request head past the stack buffer */
        char name[32], v[150];
        memset(v, 'i', sizeof v - 1);
        v[sizeof v - 1] = 0;
        for (int i = 0; i < 20 && rc == 0; i++) {
            snprintf(name, sizeof name, "X-In-%d", i);
            rc = goc_http_header_set(goc_http_client_request_header(req), name, v);
        }
    }
    if (rc == 0 && body)
        rc = goc_http_client_request_set_body(req, body, strlen(body));
    if (rc < 0) {
        goc_http_client_request_free(req);
        return rc;
    }
    goc_http_response *resp;
    rc = goc_http_client_do(c, req, &resp);
    goc_http_client_request_free(req);
    if (rc < 0)
        return rc;
    rc = goc_http_response_read_all(resp, out, len, 1 << 20);
    if (rc == 0 && resp->status_code != 200)
        rc = -EPROTO;
    if (rc == 0 && keep)
        *keep = resp;
    else
        goc_http_response_free(resp);
    return rc;
}

static bool big_ok(const char *b, size_t len)
{
    if (len != 50000)
        return false;
    for (size_t i = 0; i < len; i++)
        if (b[i] != (char)('a' + (i % 10000) % 26))
            return false;
    return true;
}

/* A round; with k > 0 the k-th allocation fails. */
static void round_run(long k, tally *t)
{
    goc_http_client_opts o = {.stall_timeout = 5 * GOC_SECOND * test_slack(), .proxy = ""};
    goc_http_client *c = goc_http_client_new(&o);
    if (!c) {
        note_err(t, -ENOMEM, k, "client_new");
        return;
    }
    char *b;
    size_t len = 0;
    goc_http_response *resp = NULL;
    int rc = exchange(c, "GET", u("/echo?q=1"), NULL, &b, &len, NULL);
    if (rc < 0)
        note_err(t, rc, k, "GET");
    else {
        GO_CHECK(strcmp(b, "GET /echo?q=1 len=0\n") == 0, "k=%ld GET: %s", k, b);
        t->ok++;
    }
    free(b);
    rc = exchange(c, "POST", u("/echo"), "hello", &b, &len, NULL);
    if (rc < 0)
        note_err(t, rc, k, "POST");
    else {
        GO_CHECK(strcmp(b, "POST /echo len=5\nhello") == 0, "k=%ld POST: %s", k, b);
        t->ok++;
    }
    free(b);
    rc = exchange(c, "GET", u("/chunked"), NULL, &b, &len, &resp);
    if (rc < 0) {
        note_err(t, rc, k, "chunked");
    } else {
        const char *sum = goc_http_header_get(resp->trailer, "X-Sum");
        GO_CHECK(strcmp(b, "part0;part1;part2;") == 0 && sum && strcmp(sum, "42") == 0,
                 "k=%ld chunked: %s", k, b);
        goc_http_response_free(resp);
        t->ok++;
    }
    free(b);
    rc = exchange(c, "GET", u("/big"), NULL, &b, &len, &resp);
    if (rc < 0) {
        note_err(t, rc, k, "gzip");
    } else {
        GO_CHECK(resp->uncompressed && big_ok(b, len), "k=%ld gzip: %zu bytes", k, len);
        goc_http_response_free(resp);
        t->ok++;
    }
    free(b);
    rc = exchange(c, "POST", u("/redir"), "x", &b, &len, NULL);
    if (rc < 0)
        note_err(t, rc, k, "redirect");
    else {
        GO_CHECK(strcmp(b, "GET /echo len=0\n") == 0, "k=%ld redirect: %s", k, b);
        t->ok++;
    }
    free(b);
    rc = exchange(c, "GET", u("/fat"), NULL, &b, &len, &resp);
    if (rc < 0) {
        note_err(t, rc, k, "fat");
    } else {
        const char *f = goc_http_header_get(resp->header, "X-Fat-39");
        GO_CHECK(strcmp(b, "fat 149") == 0 && f && strlen(f) == 199, "k=%ld fat: %s", k, b);
        goc_http_response_free(resp);
        t->ok++;
    }
    free(b);
    goc_http_client_free(c);
}

static int sweep_main(void *arg)
{
    tally *t = arg;
    test_server ts;
    GO_CHECK(test_server_start(&ts, (goc_http_handler){handler, NULL}, NULL), "server");
    snprintf(base, sizeof base, "http://127.0.0.1:%d", ts.port);
    tally clean = {0};
    round_run(0, &clean);
    GO_CHECK(clean.ok == 6 && clean.errs == 0, "before the sweep: %ld ok", clean.ok);
    long rounds = 0, failed = 0;
    long k0 = getenv("GOC_ALLOC_FAIL_K") ? atol(getenv("GOC_ALLOC_FAIL_K")) : 1;
    for (long k = k0; k < 20000 && !test_failed(); k++) {
        long errs = t->errs;
        af_arm(k);
        round_run(k, t);
        bool f = af_disarm();
        if (f && t->errs == errs && getenv("GOC_ALLOC_FAIL_VERBOSE"))
            fprintf(stderr, "alloc_fail client: k=%ld absorbed: %s\n", k, af_site);
        rounds++;
        if (!f)
            break;
        failed++;
        /* a fresh client still gets every answer */
        tally after = {0};
        round_run(0, &after);
        GO_CHECK(after.ok == 6, "k=%ld (%s): after it, %ld ok", k, af_site, after.ok);
    }
    fprintf(stderr,
            "alloc_fail client: %ld rounds, %ld failed; %ld exchanges ok, %ld errors (%ld "
            "-ENOMEM)\n",
            rounds, failed, t->ok, t->errs, t->enomem);
    GO_CHECK(failed > 20, "the sweep failed almost nothing (%ld)", failed);
    test_server_stop(&ts);
    return test_failed();
}

Test(client_alloc, get_post_chunked_gzip_redirect, .timeout = 300)
{
    tally t = {0};
    cr_assert_eq(run_main(sweep_main, &t), 0, "%s", test_fail_msg);
    for (int i = 0; i < t.nother; i++)
        cr_expect(t.other[i] == -ENOMEM, "an allocation failure surfaced as %d (%s)", t.other[i],
                  goc_strerror(t.other[i]));
#if TEST_ASAN
    cr_assert_eq(__lsan_do_recoverable_leak_check(), 0, "leaks");
#endif
}
