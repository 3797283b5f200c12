/*
 * test_response.c — the response parser (src/http/response.c) on raw
 * bytes: the status line, how the body is delimited for each status and
 * request, and the rejections a client relies on; each one call and one
 * byte at a time.
 */
#include "httputil.h"

#define NOTE .timeout = 10

typedef struct presp {
    int rc;
    goc__hresp r;
    goc__hfield f[MAXF];
} presp;

static void resp_once(const char *buf, size_t n, unsigned flags, const goc__hlimits *lim, presp *p)
{
    size_t scanned = 0;
    memset(p, 0, sizeof *p);
    p->r.fields = p->f;
    p->r.fields_cap = MAXF;
    p->rc = goc__http_parse_response(buf, n, &scanned, &p->r, flags, lim);
}

/* Parse raw both ways (an exactly-sized copy for the one call), check
 * they agree, return the one-call result. */
static void resp_both(const char *raw, unsigned flags, presp *p)
{
    size_t n = strlen(raw), scanned = 0;
    char flag = (char)flags;
    save_seed("response", &flag, 1, raw, n);
    char *buf = malloc(n);
    cr_assert_not_null(buf);
    memcpy(buf, raw, n);
    resp_once(buf, n, flags, NULL, p);
    free(buf);
    presp inc;
    memset(&inc, 0, sizeof inc);
    inc.r.fields = inc.f;
    inc.r.fields_cap = MAXF;
    for (size_t k = 0; k <= n && inc.rc == 0; k++)
        inc.rc = goc__http_parse_response(raw, k, &scanned, &inc.r, flags, NULL);
    cr_assert_eq(p->rc, inc.rc, "%s", raw);
    if (p->rc < 0) {
        cr_assert_str_eq(p->r.why, inc.r.why);
        return;
    }
    cr_assert_eq(p->r.code, inc.r.code);
    cr_assert_eq(p->r.body, inc.r.body);
    cr_assert_eq(p->r.keep_alive, inc.r.keep_alive);
    cr_assert_eq(p->r.tunnel, inc.r.tunnel);
    cr_assert_eq(p->r.content_length, inc.r.content_length);
    cr_assert(same_span(p->r.reason, inc.r.reason));
    cr_assert_eq(p->r.nfields, inc.r.nfields);
}

static void accept_resp(const char *raw, unsigned flags, presp *p)
{
    resp_both(raw, flags, p);
    cr_assert_eq(p->rc, (int)strlen(raw), "rc %d (%s) for %s", p->rc, p->r.why ? p->r.why : "",
                 raw);
    cr_assert_null(p->r.why);
}

static void reject_resp(const char *raw, int err)
{
    presp p;
    resp_both(raw, 0, &p);
    cr_assert_eq(p.rc, err, "rc %d for %s", p.rc, raw);
    cr_assert_not_null(p.r.why);
}

Test(response, status_line, NOTE)
{
    presp p;
    const char *raw = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n";
    accept_resp(raw, 0, &p);
    cr_assert_eq(p.r.code, 200);
    cr_assert_eq(p.r.minor, 1);
    cr_assert(span_is(raw, p.r.reason, "OK"));
    cr_assert_eq(p.r.body, GOC__HBODY_LENGTH);
    cr_assert_eq(p.r.content_length, 5);
    cr_assert(p.r.keep_alive && !p.r.tunnel);
    cr_assert_eq(p.r.nfields, 1);
    cr_assert(span_is(raw, p.f[0].name, "Content-Length"));

    raw = "HTTP/1.0 404 Not Found, sorry \xc3\xa9\t!\r\n\r\n";
    accept_resp(raw, 0, &p);
    cr_assert_eq(p.r.code, 404);
    cr_assert_eq(p.r.minor, 0);
    cr_assert(span_is(raw, p.r.reason, "Not Found, sorry \xc3\xa9\t!"));
    cr_assert_eq(p.r.body, GOC__HBODY_CLOSE);
    cr_assert(!p.r.keep_alive);
}

Test(response, empty_reason, NOTE)
{
    presp p;
    accept_resp("HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n", 0, &p);
    cr_assert_eq(p.r.reason.len, 0);
    accept_resp("HTTP/1.1 204\r\n\r\n", 0, &p); /* no SP: accepted, as Go */
    cr_assert_eq(p.r.code, 204);
    cr_assert_eq(p.r.reason.len, 0);
}

Test(response, bodies, NOTE)
{
    static const struct {
        const char *raw;
        unsigned flags;
        int body;
        bool keep_alive, tunnel;
    } cases[] = {
        {"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n", 0, GOC__HBODY_LENGTH, true, false},
        {"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n", GOC__HRESP_HEAD, GOC__HBODY_NONE, true,
         false},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", 0, GOC__HBODY_CHUNKED, true,
         false},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", GOC__HRESP_HEAD, GOC__HBODY_NONE,
         true, false},
        {"HTTP/1.1 200 OK\r\n\r\n", 0, GOC__HBODY_CLOSE, false, false},
        {"HTTP/1.1 200 OK\r\n\r\n", GOC__HRESP_HEAD, GOC__HBODY_NONE, true, false},
        {"HTTP/1.1 204 No Content\r\n\r\n", 0, GOC__HBODY_NONE, true, false},
        {"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n", 0, GOC__HBODY_NONE, true, false},
        {"HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n", 0, GOC__HBODY_NONE, true,
         false},
        {"HTTP/1.1 100 Continue\r\n\r\n", 0, GOC__HBODY_NONE, true, false},
        {"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n", 0, GOC__HBODY_NONE, true, false},
        {"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", 0,
         GOC__HBODY_NONE, false, true},
        {"HTTP/1.1 200 Connection established\r\n\r\n", GOC__HRESP_CONNECT, GOC__HBODY_NONE, false,
         true},
        {"HTTP/1.1 407 Proxy Auth\r\nContent-Length: 0\r\n\r\n", GOC__HRESP_CONNECT,
         GOC__HBODY_LENGTH, true, false},
        {"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\n", 0, GOC__HBODY_LENGTH,
         false, false},
        {"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\n", 0, GOC__HBODY_LENGTH, false, false},
        {"HTTP/1.0 200 OK\r\nContent-Length: 3\r\nConnection: keep-alive\r\n\r\n", 0,
         GOC__HBODY_LENGTH, true, false},
        {"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n", 0, GOC__HBODY_CLOSE, false, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        presp p;
        accept_resp(cases[i].raw, cases[i].flags, &p);
        cr_assert_eq(p.r.body, cases[i].body, "%s", cases[i].raw);
        cr_assert_eq(p.r.keep_alive, cases[i].keep_alive, "%s", cases[i].raw);
        cr_assert_eq(p.r.tunnel, cases[i].tunnel, "%s", cases[i].raw);
    }
}

Test(response, rejected, NOTE)
{
    reject_resp("HTTP/1.1 099 Low\r\n\r\n", -EBADMSG);
    reject_resp("HTTP/1.1 600 High\r\n\r\n", -EBADMSG);
    reject_resp("HTTP/1.1 20x OK\r\n\r\n", -EBADMSG);
    reject_resp("HTTP/1.1 2000 OK\r\n\r\n", -EBADMSG);
    reject_resp("HTTP/1.1 20 OK\r\n\r\n", -EBADMSG);
    reject_resp("HTTP/1.1  200 OK\r\n\r\n", -EBADMSG);
    reject_resp("HTTP/1.1 200 O\x01K\r\n\r\n", -EBADMSG);
    reject_resp("HTTP/1.1 200 OK\rX: y\r\n\r\n", -EBADMSG);
    reject_resp("HTTP/1.1 200 OK\n\n", -EBADMSG);
    reject_resp("HTTP/1.1 200 OK\r\nX: y\n\r\n", -EBADMSG);
    reject_resp("http/1.1 200 OK\r\n\r\n", -EBADMSG);
    reject_resp("HTTP/1.1\r\n\r\n", -EBADMSG);
    reject_resp("\r\nHTTP/1.1 200 OK\r\n\r\n", -EBADMSG); /* no empty line before it */
    reject_resp("HTTP/2.0 200 OK\r\n\r\n", -EPROTONOSUPPORT);
    reject_resp("HTTP/1.2 200 OK\r\n\r\n", -EPROTONOSUPPORT);
    reject_resp("HTTP/1.1 200 OK\r\n folded: x\r\n\r\n", -EBADMSG);
    reject_resp("HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n", -EBADMSG);
    reject_resp("HTTP/1.1 200 OK\r\nX : a\r\n\r\n", -EBADMSG);
}

Test(response, rejected_framing, NOTE)
{
    reject_resp("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n", -EBADMSG);
    reject_resp("HTTP/1.1 200 OK\r\nContent-Length: 1, 1\r\n\r\n", -EBADMSG);
    reject_resp("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", -EBADMSG);
    reject_resp("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
                -EBADMSG);
    reject_resp("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", -EBADMSG);
    reject_resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", -EBADMSG);
    reject_resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: ,chunked\r\n\r\n", -EBADMSG);
    reject_resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", -ENOSYS);
    reject_resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", -ENOSYS);
    /* Checked even where they do not frame the body. */
    reject_resp("HTTP/1.1 204 No Content\r\nContent-Length: x\r\n\r\n", -EBADMSG);
}

Test(response, limits, NOTE)
{
    presp p;
    const char *raw = "HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\n\r\n";
    resp_once(raw, strlen(raw), 0, &(goc__hlimits){.max_fields = 1}, &p);
    cr_assert_eq(p.rc, -EMSGSIZE);
    resp_once(raw, strlen(raw), 0, &(goc__hlimits){.max_head = 20}, &p);
    cr_assert_eq(p.rc, -EMSGSIZE);
    resp_once(raw, strlen(raw), 0, &(goc__hlimits){.max_head = (uint32_t)strlen(raw)}, &p);
    cr_assert_eq(p.rc, (int)strlen(raw));
}

Test(response, interim_then_final, NOTE)
{
    /* A 100 Continue is a head of its own; the final response follows. */
    const char *raw = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    presp p;
    resp_once(raw, strlen(raw), 0, NULL, &p);
    cr_assert_eq(p.rc, 25);
    cr_assert_eq(p.r.code, 100);
    resp_once(raw + 25, strlen(raw) - 25, 0, NULL, &p);
    cr_assert_eq(p.rc, (int)strlen(raw) - 25 - 2);
    cr_assert_eq(p.r.code, 200);
    cr_assert_eq(p.r.content_length, 2);
}
