/*
 * test_query.c — percent-decoding (goc__http_unescape), and the request
 * helpers over a real server: query values (duplicates, empty values,
 * ';' refused, malformed pairs skipped, '+' as space), form values (the
 * urlencoded body first, then the query; only for POST, PUT and PATCH
 * with the form's Content-Type), and cookies (Go's lenient parsing).
 */
#include <criterion/criterion.h>
#include <strings.h>

#include "http/serverutil.h"

/* Internal (src/http/http.h), linked from libgoc.a. */
ssize_t goc__http_unescape(const char *s, size_t n, char *out, bool plus);

/* ---- unescape ------------------------------------------------------------ */

static void expect_unescape(const char *in, bool plus, const char *want, ssize_t want_len)
{
    char out[256];
    memset(out, 'X', sizeof out);
    ssize_t n = goc__http_unescape(in, strlen(in), out, plus);
    cr_expect_eq(n, want_len, "unescape(\"%s\", %d): %zd, want %zd", in, plus, n, want_len);
    if (want && n == want_len) {
        cr_expect(memcmp(out, want, (size_t)n) == 0, "unescape(\"%s\"): wrong bytes", in);
        cr_expect_eq(out[n], '\0', "unescape(\"%s\"): no NUL after it", in);
    }
}

Test(unescape, good, .timeout = 10)
{
    expect_unescape("", false, "", 0);
    expect_unescape("plain", false, "plain", 5);
    expect_unescape("a%20b", false, "a b", 3);
    expect_unescape("%41%42c", true, "ABc", 3);
    expect_unescape("%e2%82%AC", false, "\xE2\x82\xAC", 3);
    expect_unescape("%2F%2f", false, "//", 2);
    expect_unescape("nul%00in", false, "nul\0in", 6);
    expect_unescape("%25zz", false, "%zz", 3);
}

Test(unescape, plus, .timeout = 10)
{
    expect_unescape("a+b", true, "a b", 3);
    expect_unescape("a+b", false, "a+b", 3);
    expect_unescape("a%2Bb", true, "a+b", 3);
    expect_unescape("++", true, "  ", 2);
}

Test(unescape, malformed, .timeout = 10)
{
    expect_unescape("%zz", false, NULL, -1);
    expect_unescape("%4", false, NULL, -1);
    expect_unescape("a%4g", true, NULL, -1);
    expect_unescape("%", true, NULL, -1);
    expect_unescape("abc%", false, NULL, -1);
    expect_unescape("ok%2", false, NULL, -1);
    expect_unescape("%%41", false, NULL, -1);
}

/* ---- the helpers over a server ------------------------------------------- */

/* What a handler reports: "name=[value]" or "name=NULL" per line. */
typedef const char *(*lookup_fn)(goc_http_request *r, const char *name);

typedef struct probe {
    lookup_fn get;
    const char *names[8];
} probe;

static void probe_handler(goc_http_response_writer *w, goc_http_request *r, void *arg)
{
    const probe *p = arg;
    for (int i = 0; i < 8 && p->names[i]; i++) {
        const char *v = p->get(r, p->names[i]);
        if (v)
            goc_http_printf(w, "%s=[%s]\n", p->names[i], v);
        else
            goc_http_printf(w, "%s=NULL\n", p->names[i]);
    }
}

typedef struct exchange {
    const char *req;
    const char *want_body;
} exchange;

typedef struct probe_run {
    probe p;
    const exchange *x;
    size_t n;
} probe_run;

static int probe_main(void *arg)
{
    probe_run *pr = arg;
    test_server t;
    if (!test_server_start(&t, (goc_http_handler){probe_handler, &pr->p}, NULL))
        return 1;
    for (size_t i = 0; i < pr->n; i++) {
        test_resp rep;
        test_roundtrip(&t, pr->x[i].req, &rep);
        GO_CHECK(rep.status == 200, "request %zu: status %d\n%s", i, rep.status, rep.head);
        GO_CHECK(test_body_is(&rep, pr->x[i].want_body), "request %zu:\n%s\nwant body:\n%s", i,
                 rep.head, pr->x[i].want_body);
        test_resp_free(&rep);
    }
    test_server_stop(&t);
    return 0;
}

#define RUN_PROBE(get_fn, xs, ...)                                                                 \
    do {                                                                                           \
        probe_run pr_ = {{get_fn, {__VA_ARGS__}}, xs, sizeof xs / sizeof xs[0]};                   \
        cr_assert_eq(run_main(probe_main, &pr_), 0);                                               \
    } while (0)

static const char *query_get(goc_http_request *r, const char *name)
{
    return goc_http_query_get(r, name);
}

Test(query, values, .timeout = 20)
{
    static const exchange xs[] = {
        {"GET /?a=1&a=2&b=&c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
         "a=[1]\nb=[]\nc=[]\nd=NULL\n"},
        {"GET /p?d=x+y%21&&a=%41 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
         "a=[A]\nb=NULL\nc=NULL\nd=[x y!]\n"},
        {"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
         "a=NULL\nb=NULL\nc=NULL\nd=NULL\n"},
        {"GET /? HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
         "a=NULL\nb=NULL\nc=NULL\nd=NULL\n"},
    };
    RUN_PROBE(query_get, xs, "a", "b", "c", "d");
}

/* Go 1.17+: ';' is no separator; the pair holding it is dropped, the
 * others are kept. Malformed escapes drop their pair only. */
Test(query, semicolon_and_malformed, .timeout = 20)
{
    static const exchange xs[] = {
        {"GET /?a=1;b=2&c=3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
         "a=NULL\nb=NULL\nc=[3]\nd=NULL\n"},
        {"GET /?a=%zz&b=%4&c=ok%20go&d=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
         "a=NULL\nb=NULL\nc=[ok go]\nd=[1]\n"},
        {"GET /?%zz=1&a=2&b%=3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
         "a=[2]\nb=NULL\nc=NULL\nd=NULL\n"},
    };
    RUN_PROBE(query_get, xs, "a", "b", "c", "d");
}

/* Keys are decoded too, and an empty key is a key. */
Test(query, decoded_keys, .timeout = 20)
{
    static const exchange xs[] = {
        {"GET /?x+y=1&=e&k%3D=a%26b&%E2%82%AC=euro HTTP/1.1\r\nHost: x\r\nConnection: "
         "close\r\n\r\n",
         "x y=[1]\n=[e]\nk==[a&b]\n\xE2\x82\xAC=[euro]\n"},
    };
    RUN_PROBE(query_get, xs, "x y", "", "k=", "\xE2\x82\xAC");
}

static const char *form_value(goc_http_request *r, const char *name)
{
    return goc_http_form_value(r, name);
}

#define FORM_CT "Content-Type: application/x-www-form-urlencoded\r\n"

Test(form, body_then_query, .timeout = 20)
{
    static const exchange xs[] = {
        {"POST /?a=query&c=3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" FORM_CT
         "Content-Length: 17\r\n\r\na=body&b=two+2%21",
         "a=[body]\nb=[two 2!]\nc=[3]\nd=NULL\n"},
        {"PUT /?a=q HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: "
         "Application/X-WWW-Form-Urlencoded; charset=UTF-8\r\nContent-Length: 3\r\n\r\nd=4",
         "a=[q]\nb=NULL\nc=NULL\nd=[4]\n"},
        {"PATCH / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" FORM_CT
         "Transfer-Encoding: chunked\r\n\r\n3\r\nb=5\r\n0\r\n\r\n",
         "a=NULL\nb=[5]\nc=NULL\nd=NULL\n"},
    };
    RUN_PROBE(form_value, xs, "a", "b", "c", "d");
}

/* A body is a form only for POST, PUT and PATCH with the form's type. */
Test(form, not_a_form, .timeout = 20)
{
    static const exchange xs[] = {
        {"POST /?a=q HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: "
         "text/plain\r\nContent-Length: 3\r\n\r\nb=1",
         "a=[q]\nb=NULL\nc=NULL\nd=NULL\n"},
        {"DELETE /?a=q HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" FORM_CT
         "Content-Length: 3\r\n\r\nb=1",
         "a=[q]\nb=NULL\nc=NULL\nd=NULL\n"},
        {"GET /?c=3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
         "a=NULL\nb=NULL\nc=[3]\nd=NULL\n"},
    };
    RUN_PROBE(form_value, xs, "a", "b", "c", "d");
}

static const char *cookie(goc_http_request *r, const char *name)
{
    return goc_http_cookie(r, name);
}

Test(cookie, lenient_parsing, .timeout = 20)
{
    static const exchange xs[] = {
        {"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nCookie: a=1; b=\"quoted\"; "
         "c=x y;bad name=z; d=\"; e\r\n\r\n",
         "a=[1]\nb=[quoted]\nc=[x y]\nd=NULL\ne=[]\nf=NULL\nbad name=NULL\n"},
        {"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nCookie: a=first\r\nCookie: "
         "f=6; a=second\r\n\r\n",
         "a=[first]\nb=NULL\nc=NULL\nd=NULL\ne=NULL\nf=[6]\nbad name=NULL\n"},
        {"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nCookie: ;;  a = 1 ; b=x\\y; "
         "b=ok;c=\"\"\r\n\r\n",
         "a=[ 1]\nb=[ok]\nc=[]\nd=NULL\ne=NULL\nf=NULL\nbad name=NULL\n"},
        {"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
         "a=NULL\nb=NULL\nc=NULL\nd=NULL\ne=NULL\nf=NULL\nbad name=NULL\n"},
    };
    RUN_PROBE(cookie, xs, "a", "b", "c", "d", "e", "f", "bad name");
}
