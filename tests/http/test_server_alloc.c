/*
 * test_server_alloc.c — the server when memory runs out: every allocation
 * the server makes while it answers one request is failed in turn (the
 * conn, its read, body and write buffers and their growth, arena blocks,
 * header map growth, the request's ctx, the watcher goroutine, the
 * connection's goroutine); each time the client gets a whole response
 * (200 with the whole body, or a 5xx) or a closed connection — never a
 * crash, a hang, a truncated body passed off as whole, or a leak — and
 * the server goes on serving.
 *
 * Mechanism (as tests/chan/test_alloc_fail.c, whose comment explains it):
 * this executable is linked with --wrap=malloc,calloc,realloc,aligned_alloc
 * (tests/CMakeLists.txt). Armed, the wrappers count the allocations made
 * by every goroutine but the client's (the test's main goroutine) — the
 * server's accept loop, its connection goroutines and their watchers —
 * and fail the k-th. A round arms "fail the k-th", sends the requests on
 * a new connection (or one that served a request already), reads the
 * answers, closes it, waits until the server has ended it, disarms, and
 * checks the answers and that the server still serves; the sweep goes on
 * with k + 1 until a round made fewer than k allocations.
 *
 * GOC_ALLOC_FAIL_VERBOSE=1 prints each failed allocation's site.
 */
#include <criterion/criterion.h>

#include "http/serverutil.h"

#if TEST_ASAN
#include <sanitizer/lsan_interface.h>
#endif

/* ---- the injector (allocfail.h: every goroutine but the test's) ---------------------- */

#define AF_COUNT_OWN 0
#include "http/allocfail.h"

/* ---- the handler: it makes the server allocate all it can -------------------------------- */

#define REPLY_LEN 20000 /* past the body buffer: chunked, wbuf grows */

static void h_greedy(goc_http_response_writer *w, goc_http_request *r, void *arg)
{
    (void)arg;
    goc_http_request_ctx(r); /* the ctx, and its watcher once the body is read */
    char *body = NULL;
    size_t len = 0;
    if (r->content_length != 0) {
        int rc = goc_http_body_read_all(r, &body, &len, 1 << 20);
        if (rc < 0) {
            goc_http_error(w, "body", rc == -ENOMEM ? 503 : 400);
            return;
        }
    }
    goc_http_header *h = goc_http_response_header(w);
    char name[32], big[3000];
    memset(big, 'v', sizeof big - 1);
    big[sizeof big - 1] = 0;
    for (int i = 0; i < 12; i++) { /* the map grows; the arena chains blocks */
        snprintf(name, sizeof name, "X-Field-%d", i);
        if (goc_http_header_set(h, name, i == 5 ? big : "v") < 0) {
            free(body);
            goc_http_error(w, "header", 503);
            return;
        }
    }
    char chunk[1000];
    for (size_t i = 0; i < sizeof chunk; i++)
        chunk[i] = (char)('a' + i % 26);
    for (int done = 0; done < REPLY_LEN; done += (int)sizeof chunk)
        if (goc_http_write(w, chunk, sizeof chunk) < 0)
            break; /* the connection is broken: the client must see it */
    free(body);
}

static bool reply_ok(const test_resp *r)
{
    if (r->body_len != REPLY_LEN)
        return false;
    for (size_t i = 0; i < r->body_len; i++)
        if (r->body[i] != (char)('a' + (i % 1000) % 26))
            return false;
    return true;
}

/* ---- the sweep ------------------------------------------------------------------------- */

static uint64_t conns_open(void)
{
    goc_http_stats st;
    goc_http_stats_read(&st);
    return st.conns_open;
}

/* Wait until the server has no connection left (its goroutines are done
 * allocating for this round). */
static bool server_quiet(void)
{
    int64_t end = goc_now() + 10 * GOC_SECOND * test_slack();
    while (conns_open() != 0) {
        if (goc_now() > end)
            return false;
        goc_sleep(GOC_MILLISECOND);
    }
    return true;
}

/* Send req (nreq pipelined requests) on c and read the answers: the
 * status of the first that is not 200, 200 if all are, 0 if the
 * connection closed first (after a whole answer's end, or before any
 * byte of one). *whole_ok: no 200 with a truncated body. */
static int answers(test_conn *c, const char *req, int nreq, bool *whole_ok)
{
    *whole_ok = true;
    if (!test_send(c->fd, req))
        return 0;
    for (int i = 0; i < nreq; i++) {
        test_resp r;
        bool got = test_read_resp(c, &r, false);
        int st = got ? r.status : 0;
        if (got && st == 200 && !reply_ok(&r))
            *whole_ok = false;
        bool more = got && st == 200 && r.keep_alive;
        test_resp_free(&r);
        if (!got) /* no (whole) response: the server must close, not hang */
            GO_CHECK(test_wait_closed(c->fd), "neither a response nor a close");
        if (!more)
            return i + 1 < nreq && st == 200 ? 0 : st;
    }
    return 200;
}

typedef struct sweep {
    const char *name, *req;
    int nreq;         /* pipelined requests in req */
    const char *warm; /* a request answered on the connection before arming */
    long rounds, failed, answered, closed;
} sweep;

/* One round: a new connection (warmed up), req on it armed with k (0:
 * unarmed), the server quiet again. The status as answers; *failed: the
 * k-th allocation was failed. */
static int round_trip(test_server *ts, const sweep *sw, long k, bool *whole, bool *failed)
{
    test_conn *c = calloc(1, sizeof *c);
    c->fd = test_dial(ts);
    int st = -1;
    bool ok = true;
    *whole = true;
    if (c->fd >= 0 && sw->warm)
        ok = answers(c, sw->warm, 1, whole) == 200 && *whole;
    GO_CHECK(ok, "%s: the warm-up request failed", sw->name);
    if (k > 0)
        af_arm(k);
    if (c->fd >= 0 && ok)
        st = answers(c, sw->req, sw->nreq ? sw->nreq : 1, whole);
    if (c->fd >= 0)
        goc_close(c->fd);
    free(c);
    GO_CHECK(server_quiet(), "k=%ld (%s): the connection never ended", k, af_site);
    *failed = k > 0 && af_disarm();
    return st;
}

static int sweep_main(void *arg)
{
    sweep *sw = arg;
    test_server ts;
    goc_http_server_opts opts = {.server_name = "goc-test"};
    GO_CHECK(test_server_start(&ts, (goc_http_handler){h_greedy, NULL}, &opts), "start");
    bool whole, failed;
    GO_CHECK(round_trip(&ts, sw, 0, &whole, &failed) == 200 && whole,
             "%s: no answer before the sweep", sw->name);
    size_t base = goc_numgoroutine();
    long k0 = getenv("GOC_ALLOC_FAIL_K") ? atol(getenv("GOC_ALLOC_FAIL_K")) : 1;
    for (long k = k0; k < 10000 && !test_failed(); k++) {
        int st = round_trip(&ts, sw, k, &whole, &failed);
        sw->rounds++;
        if (!failed) {
            GO_CHECK(st == 200 && whole, "%s: nothing failed but status %d", sw->name, st);
            break;
        }
        sw->failed++;
        GO_CHECK(st == 0 || st == 200 || (st >= 500 && st < 600), "k=%ld (%s): status %d", k,
                 af_site, st);
        GO_CHECK(whole, "k=%ld (%s): a 200 with a truncated body passed off as whole", k, af_site);
        if (st == 0)
            sw->closed++;
        else
            sw->answered++;
        /* ... and the server goes on serving. */
        GO_CHECK(round_trip(&ts, sw, 0, &whole, &failed) == 200 && whole,
                 "k=%ld (%s): not serving after it", k, af_site);
    }
    int64_t end = goc_now() + 5 * GOC_SECOND * test_slack();
    while (goc_numgoroutine() > base && goc_now() < end)
        goc_sleep(GOC_MILLISECOND);
    GO_CHECK(goc_numgoroutine() <= base, "%zu goroutines, %zu before", goc_numgoroutine(), base);
    test_server_stop(&ts);
    return 0;
}

static void run_sweep(sweep *sw)
{
    cr_assert_eq(run_main(sweep_main, sw), 0);
    fprintf(stderr, "alloc_fail %s: %ld rounds, %ld failed (%ld answered, %ld closed)\n", sw->name,
            sw->rounds, sw->failed, sw->answered, sw->closed);
    cr_assert_gt(sw->failed, 5, "%s: the sweep failed almost nothing", sw->name);
#if TEST_ASAN
    cr_assert_eq(__lsan_do_recoverable_leak_check(), 0, "%s: leaks", sw->name);
#endif
}

#define PAD_4K                                                                                     \
    "X-Pad: "                                                                                      \
    "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890"  \
    "12345678\r\n"

/* A head past the first read buffer (it grows), a length body, a reply
 * with a big header map, chunked past the body buffer. */
Test(server_alloc, length_body_and_big_reply, .timeout = 240)
{
    static char req[8192];
    int n = snprintf(req, sizeof req, "POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n");
    for (int i = 0; i < 45; i++)
        n += snprintf(req + n, sizeof req - (size_t)n, "%s", PAD_4K);
    snprintf(req + n, sizeof req - (size_t)n, "\r\n0123456789");
    sweep sw = {.name = "length", .req = req};
    run_sweep(&sw);
}

/* A chunked body with trailers; a GET with no body (the watcher starts at
 * once). */
Test(server_alloc, chunked_body_and_get, .timeout = 240)
{
    sweep sw = {.name = "chunked",
                .req = "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                       "5\r\nhello\r\n3\r\nabc\r\n0\r\nX-T: yes\r\n\r\n"};
    run_sweep(&sw);
    sweep get = {.name = "get", .req = "GET /g?a=1 HTTP/1.1\r\nHost: x\r\n\r\n"};
    run_sweep(&get);
}

/* A keep-alive connection: one request answered, then two pipelined ones
 * (their answers joined in one write) under the sweep. */
Test(server_alloc, keep_alive_and_pipelined, .timeout = 240)
{
    sweep sw = {.name = "pipelined",
                .warm = "GET /w HTTP/1.1\r\nHost: x\r\n\r\n",
                .req = "GET /1 HTTP/1.1\r\nHost: x\r\n\r\n"
                       "POST /2 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
                .nreq = 2};
    run_sweep(&sw);
}
