/*
 * test_parse.c — the request parser (src/http/request.c, head.c) on raw
 * bytes: every rejection the server relies on, every acceptance, and for
 * each of them the same outcome whether the bytes come all at once or one
 * at a time.
 */
#include "httputil.h"

#define H11  "GET / HTTP/1.1\r\nHost: a\r\n"
#define NOTE .timeout = 10

/* ---- rejected: line ends and bytes ---- */

Test(request_reject, nul_in_value, NOTE)
{
    static const char raw[] = H11 "X: a\0b\r\n\r\n";
    reject_req_n(raw, sizeof raw - 1, 400, NULL);
}

Test(request_reject, bare_cr_in_value, NOTE)
{
    reject_req(H11 "X: a\rb\r\n\r\n", 400);
}

Test(request_reject, bare_lf_in_value, NOTE)
{
    reject_req(H11 "X: a\nb\r\n\r\n", 400);
}

Test(request_reject, bare_cr_line_end, NOTE)
{
    reject_req("GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n", 400);
    reject_req("GET / HTTP/1.1\rHost: a\r\n\r\n", 400);
    reject_req(H11 "\rX: b\r\n\r\n", 400);
    reject_req(H11 "X: b\r\n\r\r\n\r\n", 400);
}

Test(request_reject, bare_lf_line_end, NOTE)
{
    reject_req("GET / HTTP/1.1\nHost: a\n\n", 400);
    reject_req("GET / HTTP/1.1\r\nHost: a\n\r\n", 400);
    reject_req(H11 "\n", 400);
    reject_req("\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400);
}

Test(request_reject, controls_in_value, NOTE)
{
    reject_req(H11 "X: a\x01z\r\n\r\n", 400);
    reject_req(H11 "X: a\x1fz\r\n\r\n", 400);
    reject_req(H11 "X: a\x7fz\r\n\r\n", 400);
    reject_req(H11 "X: \x0b\r\n\r\n", 400);
}

/* ---- rejected: field lines ---- */

Test(request_reject, obs_fold, NOTE)
{
    reject_req(H11 "X: a\r\n b\r\n\r\n", 400);
    reject_req(H11 "X: a\r\n\tb\r\n\r\n", 400);
}

Test(request_reject, whitespace_before_colon, NOTE)
{
    reject_req("GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400);
    reject_req(H11 "X\t: a\r\n\r\n", 400);
}

Test(request_reject, whitespace_before_first_field, NOTE)
{
    reject_req("GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400);
    reject_req("GET / HTTP/1.1\r\n\tHost: a\r\n\r\n", 400);
}

Test(request_reject, bad_field_names, NOTE)
{
    reject_req(H11 ": a\r\n\r\n", 400);
    reject_req(H11 "X(y): a\r\n\r\n", 400);
    reject_req(H11 "X@y: a\r\n\r\n", 400);
    reject_req(H11 "X/y: a\r\n\r\n", 400);
    reject_req(H11 "caf\xc3\xa9: a\r\n\r\n", 400);
    reject_req(H11 "X-no-colon\r\n\r\n", 400);
    reject_req(H11 "\"X\": a\r\n\r\n", 400);
}

/* ---- rejected: the request line ---- */

Test(request_reject, bad_methods, NOTE)
{
    reject_req("GE(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    reject_req("G@T / HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    reject_req(" / HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    reject_req("GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    reject_req("\x16\x03\x01\x02\x01\x01\xfc\x03\x03\r\n\r\n", 400); /* TLS */
}

Test(request_reject, unsupported_versions, NOTE)
{
    reject_req("GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505);
    reject_req("GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505);
    reject_req("GET / HTTP/0.9\r\nHost: a\r\n\r\n", 505);
    reject_req("GET / HTTP/3.0\r\n\r\n", 505);
    reject_req("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505); /* h2 prior knowledge */
}

Test(request_reject, malformed_versions, NOTE)
{
    reject_req("GET / HTTP/1\r\nHost: a\r\n\r\n", 400);
    reject_req("GET / HTTP/1.1x\r\nHost: a\r\n\r\n", 400);
    reject_req("GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400);
    reject_req("GET / http/1.1\r\nHost: a\r\n\r\n", 400);
    reject_req("GET / HTTP/11\r\nHost: a\r\n\r\n", 400);
    reject_req("GET / HTTPS/1.1\r\nHost: a\r\n\r\n", 400);
    reject_req("GET / HTTP/2\r\nHost: a\r\n\r\n", 400);
    reject_req("GET / HTTP/a.b\r\nHost: a\r\n\r\n", 400);
    reject_req("GET /\r\nHost: a\r\n\r\n", 400);
    reject_req("GET / \r\nHost: a\r\n\r\n", 400);
    reject_req("GET\r\nHost: a\r\n\r\n", 400);
    reject_req("GET / H\r\n\r\n", 400);
}

Test(request_reject, bad_targets, NOTE)
{
    reject_req("GET  HTTP/1.1\r\nHost: a\r\n\r\n", 400);   /* empty */
    reject_req("GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400); /* two SP */
    reject_req("GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    reject_req("GET /a\x01 HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    reject_req("GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    reject_req("GET /a\x7f HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    reject_req("GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", 400); /* raw UTF-8 */
    reject_req("GET foo HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    reject_req("GET 1http://a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    reject_req("GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400); /* asterisk: OPTIONS only */
    reject_req("CONNECT / HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    reject_req("CONNECT a HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    reject_req("CONNECT a: HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    reject_req("CONNECT :443 HTTP/1.1\r\nHost: a\r\n\r\n", 400);
}

/* ---- rejected: Content-Length ---- */

Test(request_reject, content_length_not_digits, NOTE)
{
    static const char *const bad[] = {"+3", "-1",  "0x10",         "1_0", "",    "1 2",
                                      "1,", "1.0", "\xef\xbc\x91", "1e3", "3 ,3"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char raw[128];
        snprintf(raw, sizeof raw, H11 "Content-Length: %s\r\n\r\n", bad[i]);
        reject_req(raw, 400);
    }
    reject_req(H11 "Content-Length:   \r\n\r\n", 400);
}

Test(request_reject, content_length_overflow, NOTE)
{
    reject_req(H11 "Content-Length: 9223372036854775808\r\n\r\n", 400);
    reject_req(H11 "Content-Length: 99999999999999999999\r\n\r\n", 400);
    reject_req(H11 "Content-Length: 18446744073709551616\r\n\r\n", 400);
}

Test(request_reject, content_length_twice, NOTE)
{
    reject_req(H11 "Content-Length: 5\r\nContent-Length: 5\r\n\r\n", 400);
    reject_req(H11 "Content-Length: 5\r\ncontent-length: 6\r\n\r\n", 400);
    reject_req(H11 "Content-Length: 5, 5\r\n\r\n", 400);
    reject_req(H11 "Content-Length: 5,5\r\n\r\n", 400);
}

/* ---- rejected: Transfer-Encoding ---- */

Test(request_reject, content_length_and_transfer_encoding, NOTE)
{
    reject_req(H11 "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400);
    reject_req(H11 "Transfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n", 400);
}

Test(request_reject, transfer_encoding_not_ending_in_chunked, NOTE)
{
    reject_req(H11 "Transfer-Encoding: gzip\r\n\r\n", 400);
    reject_req(H11 "Transfer-Encoding: chunked, gzip\r\n\r\n", 400);
    reject_req(H11 "Transfer-Encoding: identity\r\n\r\n", 400);
    reject_req(H11 "Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n", 400);
    reject_req(H11 "Transfer-Encoding: chunked;q=1\r\n\r\n", 400);
    reject_req(H11 "Transfer-Encoding: \"chunked\"\r\n\r\n", 400);
}

Test(request_reject, transfer_encoding_chunked_twice, NOTE)
{
    reject_req(H11 "Transfer-Encoding: chunked, chunked\r\n\r\n", 400);
    reject_req(H11 "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400);
    reject_req(H11 "Transfer-Encoding: chunked, gzip, chunked\r\n\r\n", 400);
}

Test(request_reject, transfer_encoding_empty_element, NOTE)
{
    reject_req(H11 "Transfer-Encoding: , chunked\r\n\r\n", 400);
    reject_req(H11 "Transfer-Encoding: chunked,\r\n\r\n", 400);
    reject_req(H11 "Transfer-Encoding: gzip,,chunked\r\n\r\n", 400);
    reject_req(H11 "Transfer-Encoding:\r\n\r\n", 400);
    reject_req(H11 "Transfer-Encoding:\r\nTransfer-Encoding: chunked\r\n\r\n", 400);
}

Test(request_reject, transfer_encoding_unknown_coding, NOTE)
{
    reject_req(H11 "Transfer-Encoding: gzip, chunked\r\n\r\n", 501);
    reject_req(H11 "Transfer-Encoding: foo, chunked\r\n\r\n", 501);
    reject_req(H11 "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n", 501);
    reject_req(H11 "transfer-encoding: x-custom , CHUNKED\r\n\r\n", 501);
}

Test(request_reject, transfer_encoding_in_http10, NOTE)
{
    reject_req("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400);
}

/* ---- rejected: Host ---- */

Test(request_reject, host_missing_or_repeated, NOTE)
{
    reject_req("GET / HTTP/1.1\r\n\r\n", 400);
    reject_req("GET / HTTP/1.1\r\nX-Host: a\r\n\r\n", 400);
    reject_req("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400);
    reject_req("GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", 400);
    reject_req("GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", 400);
    reject_req("GET http://a/ HTTP/1.1\r\n\r\n", 400); /* absolute-form still needs Host */
}

Test(request_reject, host_invalid, NOTE)
{
    static const char *const bad[] = {
        "a b",  "a/b",  "a@b", "[::1", "[]",      "a:b",  "a:1:2",  "a%zz",     "a%2",    "[::1]x",
        "a\"b", "a<b>", "a?b", "a#b",  "[::1]:x", "a\\b", "a b:80", "\xc3\xa9", "[::1]]", "a,b c"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char raw[128];
        snprintf(raw, sizeof raw, "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", bad[i]);
        reject_req(raw, 400);
    }
}

/* ---- rejected: limits, Expect, Connection ---- */

Test(request_reject, head_over_limit, NOTE)
{
    goc__hlimits lim = {.max_head = 64};
    const char *raw = H11 "X-Long: 0123456789012345678901234567890123456789\r\n\r\n";
    reject_req_n(raw, strlen(raw), 431, &lim);
    /* The limit counts the whole head: exactly max_head bytes pass. */
    lim.max_head = (uint32_t)strlen(raw);
    preq p;
    parse_both(raw, strlen(raw), &lim, &p);
    cr_assert_eq(p.rc, (int)strlen(raw));
    lim.max_head--;
    reject_req_n(raw, strlen(raw), 431, &lim);
    /* Without an end: 431 once max_head bytes have come. */
    reject_req_n("GET / HTTP/1.1\r\nHost: a\r\nX: aaaaaaaaaaaaaaaaaaaa", 45, 431,
                 &(goc__hlimits){.max_head = 40});
}

Test(request_reject, head_over_default_limit, NOTE)
{
    size_t n = GOC__HTTP_MAX_HEAD + 100;
    char *raw = malloc(n + 1);
    cr_assert_not_null(raw);
    memcpy(raw, H11 "X: ", strlen(H11 "X: "));
    memset(raw + strlen(H11 "X: "), 'a', n - strlen(H11 "X: ") - 4);
    memcpy(raw + n - 4, "\r\n\r\n", 5);
    preq *p = malloc(sizeof *p);
    size_t scanned = 0;
    parse_once(raw, n, NULL, p);
    cr_assert_eq(p->rc, -EMSGSIZE);
    cr_assert_eq(p->r.status, 431);
    /* Fed in 4 KiB reads, the same, and found without rescanning. */
    int rc = 0;
    for (size_t k = 4096; rc == 0; k += 4096)
        rc = goc__http_parse_request(raw, k < n ? k : n, &scanned, &p->r, NULL);
    cr_assert_eq(rc, -EMSGSIZE);
    free(p);
    free(raw);
}

Test(request_reject, too_many_fields, NOTE)
{
    goc__hlimits lim = {.max_fields = 3};
    reject_req_n(H11 "A: 1\r\nB: 2\r\nC: 3\r\n\r\n", strlen(H11 "A: 1\r\nB: 2\r\nC: 3\r\n\r\n"),
                 431, &lim);
    preq p;
    parse_both(H11 "A: 1\r\nB: 2\r\n\r\n", strlen(H11 "A: 1\r\nB: 2\r\n\r\n"), &lim, &p);
    cr_assert_eq(p.r.nfields, 3);
    /* The caller's capacity bounds it too. */
    goc__hfield f[2];
    goc__hreq r = {.fields = f, .fields_cap = 2};
    size_t scanned = 0;
    cr_assert_eq(goc__http_parse_request(H11 "A: 1\r\nB: 2\r\n\r\n",
                                         strlen(H11 "A: 1\r\nB: 2\r\n\r\n"), &scanned, &r, NULL),
                 -EMSGSIZE);
    cr_assert_eq(r.status, 431);
}

Test(request_reject, default_field_count, NOTE)
{
    char raw[8192];
    size_t n = (size_t)sprintf(raw, "GET / HTTP/1.1\r\n");
    for (int i = 0; i <= 100; i++)
        n += (size_t)sprintf(raw + n, "H%d: v\r\n", i);
    strcpy(raw + n, "\r\n");
    reject_req(raw, 431); /* Host is missing, but the 101st field fails first */
}

Test(request_reject, unknown_expectation, NOTE)
{
    reject_req(H11 "Expect: 200-ok\r\n\r\n", 417);
    reject_req(H11 "Expect: 100-continue, foo\r\n\r\n", 417);
    reject_req("GET / HTTP/1.0\r\nExpect: foo\r\n\r\n", 417);
}

Test(request_reject, bad_connection_tokens, NOTE)
{
    reject_req(H11 "Connection: keep alive\r\n\r\n", 400);
    reject_req(H11 "Connection: \"close\"\r\n\r\n", 400);
}

Test(request_reject, too_many_leading_empty_lines, NOTE)
{
    reject_req("\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    reject_req("\r\n\r\n\r\n\r\n\r\n", 400);
    reject_req("\r\rGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400);
}

/* ---- accepted ---- */

/* Every request that must be accepted whole, for the byte-at-a-time test. */
static const char *const accepted[] = {
    "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
    "GET / HTTP/1.0\r\n\r\n",
    "GET /index.html?q=1&r=%20 HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: t\r\n"
    "Accept: */*\r\nAccept-Language: en\r\nAccept-Encoding: gzip\r\nConnection: keep-alive\r\n\r\n",
    "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n",
    "POST /p HTTP/1.1\r\nhost: a\r\ncontent-LENGTH: 007\r\n\r\n",
    "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775807\r\n\r\n",
    "POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
    "POST /p HTTP/1.1\r\nHost: a\r\nTRANSFER-encoding:  Chunked \r\n\r\n",
    "GET / HTTP/1.1\r\nHost: a\r\nX:  \t v a l \t \r\n\r\n",
    "GET / HTTP/1.1\r\nHost: a\r\nX:\r\nY:   \r\n\r\n",
    "GET / HTTP/1.1\r\nHost: a\r\nX: caf\xc3\xa9\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, CLOSE\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nConnection: close\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: a\r\nConnection: , ,close,\r\n\r\n",
    "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
    "GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n",
    "GET http://example.com/x?y HTTP/1.1\r\nHost: example.com\r\n\r\n",
    "GET svn+ssh.1:x HTTP/1.1\r\nHost: a\r\n\r\n",
    "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
    "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
    "CONNECT [::1]:443 HTTP/1.1\r\nHost: [::1]:443\r\n\r\n",
    "\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
    "\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
    "PUT /x HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n",
    "PUT /x HTTP/1.0\r\nExpect: 100-Continue\r\nContent-Length: 3\r\n\r\n",
    "GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
    "GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\n\r\n",
    "GET / HTTP/1.1\r\nHost:\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: a.example:8080\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: [2001:db8::1]:80\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: xn--caf-dma.example\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: a%41b\r\n\r\n",
    "PROPFIND /d HTTP/1.1\r\nHost: a\r\nDepth: 1\r\n\r\n",
    "M-SEARCH /x HTTP/1.1\r\nHost: a\r\n\r\n",
    "get / HTTP/1.1\r\nHost: a\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: a\r\n!#$%&'*+-.^_`|~09AZaz: v\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: a\r\nExpect: \r\n\r\n",
};

Test(request_accept, every_case_byte_at_a_time, NOTE)
{
    /* accept_req parses each case both ways and asserts they agree. */
    for (size_t i = 0; i < sizeof accepted / sizeof accepted[0]; i++) {
        preq p;
        accept_req(accepted[i], &p);
    }
}

Test(request_accept, every_case_in_two_pieces, NOTE)
{
    /* Cut at every point: the first piece alone is incomplete, both give
     * the one-call result. */
    for (size_t i = 0; i < sizeof accepted / sizeof accepted[0]; i++) {
        const char *raw = accepted[i];
        size_t n = strlen(raw);
        preq one, two;
        parse_once(raw, n, NULL, &one);
        for (size_t cut = 1; cut < n; cut++) {
            size_t scanned = 0;
            memset(&two, 0, sizeof two);
            two.r.fields = two.f;
            two.r.fields_cap = MAXF;
            cr_assert_eq(goc__http_parse_request(raw, cut, &scanned, &two.r, NULL), 0);
            two.rc = goc__http_parse_request(raw, n, &scanned, &two.r, NULL);
            assert_same_req(&one, &two);
        }
    }
}

Test(request_accept, simple_get, NOTE)
{
    preq p;
    accept_req("GET /a?b HTTP/1.1\r\nHost: example.com\r\n\r\n", &p);
    cr_assert(span_is(p.buf, p.r.method, "GET"));
    cr_assert(span_is(p.buf, p.r.target, "/a?b"));
    cr_assert_eq(p.r.form, GOC__HFORM_ORIGIN);
    cr_assert_eq(p.r.minor, 1);
    cr_assert_eq(p.r.body, GOC__HBODY_NONE);
    cr_assert_eq(p.r.content_length, -1);
    cr_assert(p.r.keep_alive);
    cr_assert(!p.r.expect_continue && !p.r.upgrade);
    cr_assert(p.r.has_host && span_is(p.buf, p.r.host, "example.com"));
    cr_assert_eq(p.r.nfields, 1);
    cr_assert(span_is(p.buf, p.f[0].name, "Host") && span_is(p.buf, p.f[0].value, "example.com"));
    cr_assert_eq(p.r.status, 0);
    cr_assert_null(p.r.why);
}

Test(request_accept, fields_in_order_and_spelling, NOTE)
{
    preq p;
    accept_req("GET / HTTP/1.1\r\nhOsT: a\r\nX-B: 2\r\nx-a: 1\r\nX-B: 3\r\n\r\n", &p);
    static const char *const want[][2] = {{"hOsT", "a"}, {"X-B", "2"}, {"x-a", "1"}, {"X-B", "3"}};
    cr_assert_eq(p.r.nfields, 4);
    for (int i = 0; i < 4; i++)
        cr_assert(span_is(p.buf, p.f[i].name, want[i][0]) &&
                  span_is(p.buf, p.f[i].value, want[i][1]));
}

Test(request_accept, ows_trimmed, NOTE)
{
    preq p;
    accept_req("GET / HTTP/1.1\r\nHost: a\r\nX:  \t v a l \t \r\nY:\r\nZ:   \r\n\r\n", &p);
    cr_assert(span_is(p.buf, p.f[1].value, "v a l"));
    cr_assert_eq(p.f[2].value.len, 0);
    cr_assert_eq(p.f[3].value.len, 0);
}

Test(request_accept, framing_names_any_case, NOTE)
{
    preq p;
    accept_req("POST / HTTP/1.1\r\nhOST: a\r\ncOnTeNt-LeNgTh: 12\r\n\r\n", &p);
    cr_assert_eq(p.r.body, GOC__HBODY_LENGTH);
    cr_assert_eq(p.r.content_length, 12);
    accept_req("POST / HTTP/1.1\r\nHOST: a\r\ntransfer-ENCODING: cHuNkEd\r\n\r\n", &p);
    cr_assert_eq(p.r.body, GOC__HBODY_CHUNKED);
    cr_assert_eq(p.r.content_length, -1);
}

Test(request_accept, content_length_values, NOTE)
{
    preq p;
    accept_req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", &p);
    cr_assert_eq(p.r.body, GOC__HBODY_LENGTH);
    cr_assert_eq(p.r.content_length, 0);
    accept_req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775807\r\n\r\n", &p);
    cr_assert_eq(p.r.content_length, INT64_MAX);
    accept_req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0007\r\n\r\n", &p);
    cr_assert_eq(p.r.content_length, 7);
}

Test(request_accept, connection_tokens, NOTE)
{
    static const struct {
        const char *raw;
        bool keep_alive, upgrade;
    } cases[] = {
        {"GET / HTTP/1.1\r\nHost: a\r\n\r\n", true, false},
        {"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", false, false},
        {"GET / HTTP/1.1\r\nHost: a\r\nConnection: CLOSE\r\n\r\n", false, false},
        {"GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, Close\r\n\r\n", false, false},
        {"GET / HTTP/1.1\r\nHost: a\r\nConnection: foo\r\nConnection: close\r\n\r\n", false, false},
        {"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n\r\n", true, false},
        {"GET / HTTP/1.1\r\nHost: a\r\nConnection: , ,close,\r\n\r\n", false, false},
        {"GET / HTTP/1.1\r\nHost: a\r\nConnection: closed\r\n\r\n", true, false},
        {"GET / HTTP/1.0\r\n\r\n", false, false},
        {"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true, false},
        {"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", true, false},
        {"GET / HTTP/1.0\r\nConnection: x,KEEP-ALIVE\r\n\r\n", true, false},
        {"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", false, false},
        {"GET / HTTP/1.0\r\nConnection: close\r\nConnection: keep-alive\r\n\r\n", false, false},
        {"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", true,
         true},
        {"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, upgrade\r\nUpgrade: h2c\r\n\r\n",
         true, true},
        {"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n", true, false},
        {"GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\n\r\n", true, false},
        {"GET / HTTP/1.0\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n", false, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        preq p;
        accept_req(cases[i].raw, &p);
        cr_assert_eq(p.r.keep_alive, cases[i].keep_alive, "%s", cases[i].raw);
        cr_assert_eq(p.r.upgrade, cases[i].upgrade, "%s", cases[i].raw);
    }
}

Test(request_accept, http10, NOTE)
{
    preq p;
    accept_req("GET / HTTP/1.0\r\n\r\n", &p);
    cr_assert_eq(p.r.minor, 0);
    cr_assert(!p.r.has_host && !p.r.keep_alive);
    accept_req("GET / HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\n\r\n", &p);
    cr_assert(p.r.has_host && p.r.keep_alive);
}

Test(request_accept, target_forms, NOTE)
{
    preq p;
    accept_req("GET http://example.com:8080/x?y HTTP/1.1\r\nHost: example.com\r\n\r\n", &p);
    cr_assert_eq(p.r.form, GOC__HFORM_ABSOLUTE);
    cr_assert(span_is(p.buf, p.r.target, "http://example.com:8080/x?y"));
    accept_req("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", &p);
    cr_assert_eq(p.r.form, GOC__HFORM_ASTERISK);
    accept_req("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", &p);
    cr_assert_eq(p.r.form, GOC__HFORM_AUTHORITY);
    cr_assert(span_is(p.buf, p.r.target, "example.com:443"));
    accept_req("CONNECT [::1]:443 HTTP/1.1\r\nHost: [::1]:443\r\n\r\n", &p);
    cr_assert_eq(p.r.form, GOC__HFORM_AUTHORITY);
    accept_req("GET /%7Efoo/a;b=c,d!$&'()*+@:~ HTTP/1.1\r\nHost: a\r\n\r\n", &p);
    cr_assert_eq(p.r.form, GOC__HFORM_ORIGIN);
    accept_req("GET /{|}^`\"<>\\ HTTP/1.1\r\nHost: a\r\n\r\n", &p); /* VCHAR: left to the router */
}

Test(request_accept, leading_empty_lines, NOTE)
{
    preq p;
    accept_req("\r\nPOST / HTTP/1.1\r\nHost: a\r\n\r\n", &p);
    cr_assert(span_is(p.buf, p.r.method, "POST"));
    cr_assert_eq(p.r.method.off, 2);
    accept_req("\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", &p);
    cr_assert_eq(p.r.method.off, 8);
}

Test(request_accept, expect_continue, NOTE)
{
    preq p;
    accept_req("PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n",
               &p);
    cr_assert(p.r.expect_continue);
    accept_req("PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-CONTINUE\r\n\r\n", &p);
    cr_assert(p.r.expect_continue);
    accept_req("PUT / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n", &p); /* ignored in 1.0 */
    cr_assert(!p.r.expect_continue);
    accept_req("PUT / HTTP/1.1\r\nHost: a\r\nExpect:\r\n\r\n", &p);
    cr_assert(!p.r.expect_continue);
}

Test(request_accept, host_values, NOTE)
{
    static const char *const good[] = {"",
                                       "a",
                                       "a.example:8080",
                                       "a:",
                                       "127.0.0.1:80",
                                       "[::1]",
                                       "[2001:db8::1]:443",
                                       "[fe80::1%25eth0]",
                                       "a%41",
                                       "xn--caf-dma.example",
                                       "a_b-c~d!$&'()*+,;=e",
                                       ":80"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        char raw[128];
        snprintf(raw, sizeof raw, "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", good[i]);
        preq p;
        accept_req(raw, &p);
        cr_assert(p.r.has_host && span_is(p.buf, p.r.host, good[i]), "%s", good[i]);
    }
}

Test(request_accept, pipelined, NOTE)
{
    const char *two = "GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: b\r\n\r\n";
    size_t first = strlen("GET /a HTTP/1.1\r\nHost: a\r\n\r\n");
    preq p;
    parse_both(two, strlen(two), NULL, &p);
    cr_assert_eq(p.rc, (int)first);
    cr_assert(span_is(two, p.r.target, "/a"));
    parse_both(two + first, strlen(two) - first, NULL, &p);
    cr_assert_eq(p.rc, (int)(strlen(two) - first));
    cr_assert(span_is(two + first, p.r.target, "/b"));
}

Test(request_accept, invalid_request_behind_a_valid_one, NOTE)
{
    static const char *const behind[] = {"GET / HTTP/1.1\nHost: b\n\n",
                                         "G\x01T / HTTP/1.1\r\n\r\n",
                                         "\x7f\x7f",
                                         "\n",
                                         " obs-fold\r\n",
                                         "HTTP/2.0 200 OK\r\n\r\n"};
    const char *good = "POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n";
    preq want;
    accept_req(good, &want);
    for (size_t i = 0; i < sizeof behind / sizeof behind[0]; i++) {
        char raw[256];
        size_t n = (size_t)snprintf(raw, sizeof raw, "%sabc%s", good, behind[i]);
        preq p;
        parse_both(raw, n, NULL, &p);
        cr_assert_eq(p.rc, want.rc);
        assert_same_req(&want, &p);
    }
}

Test(request_accept, exact_field_limit, NOTE)
{
    goc__hfield f[2];
    goc__hreq r = {.fields = f, .fields_cap = 2};
    size_t scanned = 0;
    const char *raw = "GET / HTTP/1.1\r\nHost: a\r\nB: 2\r\n\r\n";
    cr_assert_eq(goc__http_parse_request(raw, strlen(raw), &scanned, &r, NULL), (int)strlen(raw));
    cr_assert_eq(r.nfields, 2);
}

Test(request_accept, resumes_without_rescanning, NOTE)
{
    /* scanned advances with the bytes searched, so a long head fed in
     * small reads is searched once. */
    char raw[4096];
    size_t n =
        (size_t)snprintf(raw, sizeof raw, "GET / HTTP/1.1\r\nHost: a\r\nX: %03000d\r\n\r\n", 0);
    goc__hfield f[4];
    goc__hreq r = {.fields = f, .fields_cap = 4};
    size_t scanned = 0;
    for (size_t k = 100; k < n; k += 100) {
        cr_assert_eq(goc__http_parse_request(raw, k, &scanned, &r, NULL), 0);
        cr_assert_eq(scanned, k);
    }
    cr_assert_eq(goc__http_parse_request(raw, n, &scanned, &r, NULL), (int)n);
}
