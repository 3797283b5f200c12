/*
 * test_cookiejar.c — the cookie jar after Go's jar_test.go: each case
 * sets cookies from responses to URLs at a moment, then checks the
 * Cookie value the jar gives for other URLs (basics, domain handling,
 * path handling, expiry, updates, deletion, Secure, IP hosts, the
 * order), and the Set-Cookie reading (dropped cookies, attributes, the
 * Expires forms). The clock is a parameter of the internal _at functions.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <goc/http.h>

/* Internal (src/http/cookiejar.c), linked from libgoc.a. */
int goc__http_cookie_jar_set_cookies_at(goc_http_cookie_jar *j, const goc_url *u,
                                        const char *const *set_cookie, size_t n, int64_t now);
char *goc__http_cookie_jar_cookies_at(goc_http_cookie_jar *j, const goc_url *u, int64_t now);

#define T0 INT64_C(1700000000) /* the tests' "now" */

static void set_at(goc_http_cookie_jar *j, const char *url, int64_t now, const char *sc)
{
    goc_url *u;
    cr_assert_eq(goc_url_parse(url, &u), 0, "%s", url);
    const char *v[1] = {sc};
    cr_assert_eq(goc__http_cookie_jar_set_cookies_at(j, u, v, 1, now), 0);
    goc_url_free(u);
}

static void set(goc_http_cookie_jar *j, const char *url, const char *sc)
{
    set_at(j, url, T0, sc);
}

static void expect_at(goc_http_cookie_jar *j, const char *url, int64_t now, const char *want)
{
    goc_url *u;
    cr_assert_eq(goc_url_parse(url, &u), 0, "%s", url);
    char *got = goc__http_cookie_jar_cookies_at(j, u, now);
    cr_expect_str_eq(got ? got : "", want, "cookies(%s) = \"%s\", want \"%s\"", url, got ? got : "",
                     want);
    free(got);
    goc_url_free(u);
}

static void expect(goc_http_cookie_jar *j, const char *url, const char *want)
{
    expect_at(j, url, T0 + 1, want);
}

static goc_http_cookie_jar *jar(void)
{
    goc_http_cookie_jar *j = goc_http_cookie_jar_new();
    cr_assert_not_null(j);
    return j;
}

Test(cookiejar, basics, .timeout = 10)
{
    goc_http_cookie_jar *j = jar();
    set(j, "http://www.host.test/", "A=a");
    expect(j, "http://www.host.test", "A=a");
    expect(j, "http://www.host.test/", "A=a");
    expect(j, "http://www.host.test/some/path", "A=a");
    expect(j, "https://www.host.test", "A=a");
    expect(j, "http://www.host.test:1234/", "A=a");
    expect(j, "http://WWW.HOST.TEST/", "A=a");
    expect(j, "http://www.host.test./", "A=a");
    expect(j, "http://other.host.test/", "");
    expect(j, "ftp://www.host.test/", "");
    /* other schemes set nothing */
    set(j, "ftp://www.host.test/", "F=f");
    expect(j, "http://www.host.test/", "A=a");
    /* quoted values keep their quotes; spaces and commas get some */
    set(j, "http://www.host.test/", "B=\"b\"");
    set(j, "http://www.host.test/", "C=c d,e");
    expect(j, "http://www.host.test/", "A=a; B=\"b\"; C=\"c d,e\"");
    goc_http_cookie_jar_free(j);
}

Test(cookiejar, dropped, .timeout = 10)
{
    goc_http_cookie_jar *j = jar();
    const char *bad[] = {"",      "   ",    "noequal", "=v",     "a b=1",
                         "a=\"x", "a=x\\y", "a=x\"y",  "a=\x01", "(a)=1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        set(j, "http://www.host.test/", bad[i]);
    expect(j, "http://www.host.test/", "");
    set(j, "http://www.host.test/", " a = 1 ; ; Path=/ ; Unknown=x; Max-Age=xx; Expires=never");
    expect(j, "http://www.host.test/", "a=\" 1\""); /* Go quotes a space */
    goc_http_cookie_jar_free(j);
}

Test(cookiejar, domains, .timeout = 10)
{
    goc_http_cookie_jar *j = jar();
    set(j, "http://www.host.test/", "A=a; domain=www.host.test");
    set(j, "http://www.host.test/", "B=b; domain=.host.test");
    set(j, "http://www.host.test/", "C=c; domain=HOST.test");
    set(j, "http://www.host.test/", "D=d; domain=other.test");        /* not a suffix */
    set(j, "http://www.host.test/", "E=e; domain=ww.host.test");      /* not at a dot */
    set(j, "http://www.host.test/", "F=f; domain=.");                 /* malformed */
    set(j, "http://www.host.test/", "G=g; domain=..host.test");       /* malformed */
    set(j, "http://www.host.test/", "H=h; domain=host.test.");        /* trailing dot */
    set(j, "http://www.host.test/", "I=i; domain=sub.www.host.test"); /* below the host */
    set(j, "http://www.host.test/", "J=j");                           /* host-only */
    expect(j, "http://www.host.test/", "A=a; B=b; C=c; J=j");
    expect(j, "http://host.test/", "B=b; C=c");
    expect(j, "http://foo.host.test/", "B=b; C=c");
    expect(j, "http://sub.www.host.test/", "A=a; B=b; C=c");
    expect(j, "http://other.test/", "");
    expect(j, "http://xhost.test/", "");
    /* without a public suffix list a host may set its "site" */
    set(j, "http://a.b.test/", "K=k; domain=b.test");
    expect(j, "http://c.b.test/", "K=k");
    goc_http_cookie_jar_free(j);
}

Test(cookiejar, ip_hosts, .timeout = 10)
{
    goc_http_cookie_jar *j = jar();
    set(j, "http://192.168.0.10/", "a=1");
    set(j, "http://192.168.0.10/", "b=2; domain=192.168.0.10");
    set(j, "http://192.168.0.10/", "c=3; domain=.168.0.10");     /* refused */
    set(j, "http://192.168.0.10/", "d=4; domain=.192.168.0.10"); /* refused */
    expect(j, "http://192.168.0.10/", "a=1; b=2");
    expect(j, "http://1.192.168.0.10/", "");
    expect(j, "http://192.168.0.11/", "");
    set(j, "http://[2001:db8::1]:8080/", "v6=1");
    expect(j, "http://[2001:db8::1]/", "v6=1");
    expect(j, "http://[2001:db8::2]/", "");
    goc_http_cookie_jar_free(j);
}

Test(cookiejar, paths, .timeout = 10)
{
    goc_http_cookie_jar *j = jar();
    set(j, "http://www.host.test/", "a=1; path=/");
    set(j, "http://www.host.test/", "b=2; path=/foo");
    set(j, "http://www.host.test/", "c=3; path=/foo/");
    set(j, "http://www.host.test/", "d=4; path=/foo/bar");
    set(j, "http://www.host.test/", "e=5; path=/bar");
    set(j, "http://www.host.test/", "f=6; path=x"); /* not absolute: default */
    set(j, "http://www.host.test/dir/file", "g=7"); /* default-path /dir */
    set(j, "http://www.host.test/dir/sub/", "h=8"); /* default-path /dir/sub */
    expect(j, "http://www.host.test/", "a=1; f=6");
    expect(j, "http://www.host.test/foo", "b=2; a=1; f=6");
    expect(j, "http://www.host.test/foo/", "c=3; b=2; a=1; f=6");
    expect(j, "http://www.host.test/foo/bar/baz", "d=4; c=3; b=2; a=1; f=6");
    expect(j, "http://www.host.test/foobar", "a=1; f=6");
    expect(j, "http://www.host.test/dir", "g=7; a=1; f=6");
    expect(j, "http://www.host.test/dirx", "a=1; f=6");
    expect(j, "http://www.host.test/dir/sub/x", "h=8; g=7; a=1; f=6");
    goc_http_cookie_jar_free(j);
}

Test(cookiejar, expiry, .timeout = 10)
{
    goc_http_cookie_jar *j = jar();
    const char *u = "http://www.host.test/";
    set(j, u, "session=1");
    set(j, u, "ma=2; max-age=100");
    set(j, u, "ex=3; expires=Tue, 14 Nov 2023 22:15:00 GMT");  /* T0 + 100 */
    set(j, u, "ex2=4; expires=tue, 14-nov-2023 22:16:40 UTC"); /* T0 + 200 */
    set(j, u, "both=5; max-age=300; expires=Tue, 14 Nov 2023 22:15:00 GMT");
    set(j, u, "past=6; expires=Thu, 01 Jan 1970 00:00:01 GMT");
    set(j, u, "zero=7; max-age=0");
    set(j, u, "neg=8; max-age=-1");
    set(j, u, "lead=9; max-age=0100"); /* leading zero: ignored, a session cookie */
    set(j, u, "badexp=10; expires=Fri, 31 Nov 2023 22:13:20 GMT"); /* ignored */
    expect_at(j, u, T0 + 1, "session=1; ma=2; ex=3; ex2=4; both=5; lead=9; badexp=10");
    expect_at(j, u, T0 + 99, "session=1; ma=2; ex=3; ex2=4; both=5; lead=9; badexp=10");
    expect_at(j, u, T0 + 100, "session=1; ex2=4; both=5; lead=9; badexp=10");
    expect_at(j, u, T0 + 250, "session=1; both=5; lead=9; badexp=10");
    expect_at(j, u, T0 + 10000000, "session=1; lead=9; badexp=10");
    /* an expired entry is gone even if the clock turns back */
    expect_at(j, u, T0, "session=1; lead=9; badexp=10");
    goc_http_cookie_jar_free(j);
}

Test(cookiejar, update_and_delete, .timeout = 10)
{
    goc_http_cookie_jar *j = jar();
    const char *u = "http://www.host.test/";
    set_at(j, u, T0, "a=1");
    set_at(j, u, T0 + 1, "b=1");
    set_at(j, u, T0 + 2, "c=1");
    set_at(j, u, T0 + 3, "a=2"); /* an update keeps the creation order */
    expect(j, u, "a=2; b=1; c=1");
    set_at(j, u, T0 + 4, "b=x; max-age=0"); /* deleted */
    expect(j, u, "a=2; c=1");
    set_at(j, u, T0 + 5, "c=1; expires=Thu, 01 Jan 1970 00:00:01 GMT");
    expect(j, u, "a=2");
    /* a different path or domain is a different cookie */
    set_at(j, u, T0 + 6, "a=3; path=/p");
    set_at(j, u, T0 + 7, "a=4; domain=host.test");
    expect(j, "http://www.host.test/p", "a=3; a=2; a=4");
    set_at(j, u, T0 + 8, "a=; max-age=-1; domain=host.test");
    expect(j, "http://www.host.test/p", "a=3; a=2");
    /* deleting what is not there does nothing */
    set_at(j, u, T0 + 9, "zz=1; max-age=0");
    expect(j, u, "a=2");
    goc_http_cookie_jar_free(j);
}

Test(cookiejar, secure, .timeout = 10)
{
    goc_http_cookie_jar *j = jar();
    set(j, "https://www.host.test/", "s=1; Secure; HttpOnly; SameSite=Strict");
    set(j, "http://www.host.test/", "p=2; secure");
    expect(j, "https://www.host.test/", "s=1; p=2");
    expect(j, "http://www.host.test/", "");
    set(j, "http://localhost/", "l=1; secure");
    expect(j, "http://localhost:8080/", "l=1");
    set(j, "http://127.0.0.1/", "i=1; secure");
    expect(j, "http://127.0.0.1/", "i=1");
    set(j, "http://app.localhost/", "al=1; secure");
    expect(j, "http://app.localhost/", "al=1");
    goc_http_cookie_jar_free(j);
}

static void *hammer(void *arg)
{
    goc_http_cookie_jar *j = arg;
    goc_url *u;
    goc_url_parse("http://www.host.test/x", &u);
    for (int i = 0; i < 500; i++) {
        char line[32];
        snprintf(line, sizeof line, "k%d=%d", i % 20, i);
        const char *v[1] = {line};
        goc_http_cookie_jar_set_cookies(j, u, v, 1);
        free(goc_http_cookie_jar_cookies(j, u));
    }
    goc_url_free(u);
    return NULL;
}

Test(cookiejar, store_and_threads, .timeout = 20)
{
    goc_http_cookie_jar *j = jar();
    goc_http_cookie_store st = goc_http_cookie_jar_store(j);
    goc_url *u;
    cr_assert_eq(goc_url_parse("http://www.host.test/", &u), 0);
    const char *v[2] = {"x=1", "y=2; max-age=1000"};
    cr_expect_eq(st.set_cookies(st.arg, u, v, 2), 0);
    char *c = st.cookies(st.arg, u);
    cr_expect_str_eq(c, "x=1; y=2");
    free(c);
    goc_url_free(u);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, hammer, j);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    goc_http_cookie_jar_free(j);
    goc_http_cookie_jar_free(NULL);
}
