/*
 * test_url.c — net/url: parsing into fields and back to a string (a table
 * after Go's url_test.go), ParseRequestURI, Go's parse errors and their
 * texts, resolution (RFC 3986 section 5.4's normal and abnormal examples,
 * and Go's extras), RequestURI, Hostname and Port, escaping and
 * unescaping, and url.Values.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <goc/http.h>

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* ---- parse and string ----------------------------------------------------- */

typedef struct ucase {
    const char *in;
    goc_url want;     /* user/password NULL: none */
    const char *back; /* String(); NULL: the input */
} ucase;

static const ucase parse_cases[] = {
    {"http://www.example.com", {.scheme = "http", .host = "www.example.com"}, NULL},
    {"http://www.example.com/", {.scheme = "http", .host = "www.example.com", .path = "/"}, NULL},
    {"http://www.example.com/file%20one%26two",
     {.scheme = "http",
      .host = "www.example.com",
      .path = "/file one&two",
      .raw_path = "/file%20one%26two"},
     NULL},
    {"http://www.example.com/#file%20one%26two",
     {.scheme = "http",
      .host = "www.example.com",
      .path = "/",
      .fragment = "file one&two",
      .raw_fragment = "file%20one%26two"},
     NULL},
    {"ftp://webmaster@www.example.com/",
     {.scheme = "ftp", .user = "webmaster", .host = "www.example.com", .path = "/"},
     NULL},
    {"ftp://john%20doe@www.example.com/",
     {.scheme = "ftp", .user = "john doe", .host = "www.example.com", .path = "/"},
     NULL},
    {"http://www.example.com/?",
     {.scheme = "http", .host = "www.example.com", .path = "/", .force_query = true},
     NULL},
    {"http://www.example.com/?foo=bar?",
     {.scheme = "http", .host = "www.example.com", .path = "/", .raw_query = "foo=bar?"},
     NULL},
    {"http://www.example.com/?q=go+language",
     {.scheme = "http", .host = "www.example.com", .path = "/", .raw_query = "q=go+language"},
     NULL},
    {"http://www.example.com/a%20b?q=c+d",
     {.scheme = "http", .host = "www.example.com", .path = "/a b", .raw_query = "q=c+d"},
     NULL},
    {"http:www.example.com/?q=go+language",
     {.scheme = "http", .opaque = "www.example.com/", .raw_query = "q=go+language"},
     NULL},
    {"http:%2f%2fwww.example.com/?q=go+language",
     {.scheme = "http", .opaque = "%2f%2fwww.example.com/", .raw_query = "q=go+language"},
     NULL},
    {"mailto:/webmaster@golang.org",
     {.scheme = "mailto", .path = "/webmaster@golang.org"},
     "mailto:///webmaster@golang.org"},
    {"mailto:webmaster@golang.org", {.scheme = "mailto", .opaque = "webmaster@golang.org"}, NULL},
    {"/foo?query=http://bad", {.path = "/foo", .raw_query = "query=http://bad"}, NULL},
    {"//foo", {.host = "foo"}, NULL},
    {"//user@foo/path?a=b",
     {.user = "user", .host = "foo", .path = "/path", .raw_query = "a=b"},
     NULL},
    {"///threeslashes", {.path = "///threeslashes"}, NULL},
    {"http://user:password@example.com",
     {.scheme = "http", .user = "user", .password = "password", .host = "example.com"},
     NULL},
    {"http://j@ne:password@example.com",
     {.scheme = "http", .user = "j@ne", .password = "password", .host = "example.com"},
     "http://j%40ne:password@example.com"},
    {"http://jane:p@ssword@example.com",
     {.scheme = "http", .user = "jane", .password = "p@ssword", .host = "example.com"},
     "http://jane:p%40ssword@example.com"},
    {"http://j@ne:password@example.com/p@th?q=@go",
     {.scheme = "http",
      .user = "j@ne",
      .password = "password",
      .host = "example.com",
      .path = "/p@th",
      .raw_query = "q=@go"},
     "http://j%40ne:password@example.com/p@th?q=@go"},
    {"http://x.com/?q=go+language#foo&bar",
     {.scheme = "http",
      .host = "x.com",
      .path = "/",
      .raw_query = "q=go+language",
      .fragment = "foo&bar"},
     NULL},
    {"http://x.com/?q=go+language#foo%26bar",
     {.scheme = "http",
      .host = "x.com",
      .path = "/",
      .raw_query = "q=go+language",
      .fragment = "foo&bar",
      .raw_fragment = "foo%26bar"},
     NULL},
    {"file:///home/adg/rabbits", {.scheme = "file", .path = "/home/adg/rabbits"}, NULL},
    {"file:///C:/FooBar/Baz.txt", {.scheme = "file", .path = "/C:/FooBar/Baz.txt"}, NULL},
    {"MaIlTo:webmaster@golang.org",
     {.scheme = "mailto", .opaque = "webmaster@golang.org"},
     "mailto:webmaster@golang.org"},
    {"a/b/c", {.path = "a/b/c"}, NULL},
    {"http://%3Fam:pa%3Fsword@example.com",
     {.scheme = "http", .user = "?am", .password = "pa?sword", .host = "example.com"},
     NULL},
    {"http://192.168.0.1/", {.scheme = "http", .host = "192.168.0.1", .path = "/"}, NULL},
    {"http://192.168.0.1:8080/", {.scheme = "http", .host = "192.168.0.1:8080", .path = "/"}, NULL},
    {"http://[fe80::1]/", {.scheme = "http", .host = "[fe80::1]", .path = "/"}, NULL},
    {"http://[fe80::1]:8080/", {.scheme = "http", .host = "[fe80::1]:8080", .path = "/"}, NULL},
    {"http://[fe80::1%25en0]/", {.scheme = "http", .host = "[fe80::1%en0]", .path = "/"}, NULL},
    {"http://[fe80::1%25en0]:8080/",
     {.scheme = "http", .host = "[fe80::1%en0]:8080", .path = "/"},
     NULL},
    {"http://[fe80::1%25%65%6e%301-._~]/",
     {.scheme = "http", .host = "[fe80::1%en01-._~]", .path = "/"},
     "http://[fe80::1%25en01-._~]/"},
    {"http://rest.rsc.io/foo%2fbar/baz%2Fquux?alt=media",
     {.scheme = "http",
      .host = "rest.rsc.io",
      .path = "/foo/bar/baz/quux",
      .raw_path = "/foo%2fbar/baz%2Fquux",
      .raw_query = "alt=media"},
     NULL},
    {"mysql://a,b,c/bar", {.scheme = "mysql", .host = "a,b,c", .path = "/bar"}, NULL},
    {"scheme://!$&'()*+,;=hello!:1/path",
     {.scheme = "scheme", .host = "!$&'()*+,;=hello!:1", .path = "/path"},
     NULL},
    {"http://host/!$&'()*+,;=:@[hello]",
     {.scheme = "http",
      .host = "host",
      .path = "/!$&'()*+,;=:@[hello]",
      .raw_path = "/!$&'()*+,;=:@[hello]"},
     NULL},
    {"http://example.com/oid/[order_id]",
     {.scheme = "http",
      .host = "example.com",
      .path = "/oid/[order_id]",
      .raw_path = "/oid/[order_id]"},
     NULL},
    {"http://192.168.0.2:/foo", {.scheme = "http", .host = "192.168.0.2:", .path = "/foo"}, NULL},
    {"http://2b01:e34:ef40:7730:8e70:5aff:fefe:edac:8080/foo",
     {.scheme = "http", .host = "2b01:e34:ef40:7730:8e70:5aff:fefe:edac:8080", .path = "/foo"},
     NULL},
    {"http://[2b01:e34:ef40:7730:8e70:5aff:fefe:edac]:/foo",
     {.scheme = "http", .host = "[2b01:e34:ef40:7730:8e70:5aff:fefe:edac]:", .path = "/foo"},
     NULL},
    {"http://hello.\xe4\xb8\x96\xe7\x95\x8c.com/foo",
     {.scheme = "http", .host = "hello.\xe4\xb8\x96\xe7\x95\x8c.com", .path = "/foo"},
     "http://hello.%E4%B8%96%E7%95%8C.com/foo"},
    {"http://hello.%e4%b8%96%e7%95%8c.com/foo",
     {.scheme = "http", .host = "hello.\xe4\xb8\x96\xe7\x95\x8c.com", .path = "/foo"},
     "http://hello.%E4%B8%96%E7%95%8C.com/foo"},
    {"http://example.com//foo", {.scheme = "http", .host = "example.com", .path = "//foo"}, NULL},
    {"myscheme://authority<\"hi\">/foo",
     {.scheme = "myscheme", .host = "authority<\"hi\">", .path = "/foo"},
     NULL},
    {"tcp://[2020::2020:20:2020:2020%25Windows%20Loves%20Spaces]:2020",
     {.scheme = "tcp", .host = "[2020::2020:20:2020:2020%Windows Loves Spaces]:2020"},
     NULL},
    {"magnet:?xt=urn:btih:c12fe1c06bba254a9dc9f519b335aa7c1367a88a&dn",
     {.scheme = "magnet", .raw_query = "xt=urn:btih:c12fe1c06bba254a9dc9f519b335aa7c1367a88a&dn"},
     NULL},
    {"mailto:?subject=hi", {.scheme = "mailto", .raw_query = "subject=hi"}, NULL},
    {"*", {.path = "*"}, NULL},
    {"", {.path = ""}, NULL},
    {"http://x/ctl\x80",
     {.scheme = "http", .host = "x", .path = "/ctl\x80", .raw_path = "/ctl\x80"},
     "http://x/ctl%80"},
};

static const char *S(const char *s)
{
    return s ? s : "";
}

static void expect_str(const char *in, const char *field, const char *got, const char *want)
{
    cr_expect_str_eq(got, S(want), "%s: %s = \"%s\", want \"%s\"", in, field, got, S(want));
}

static void expect_nullable(const char *in, const char *field, const char *got, const char *want)
{
    if (!want || !got)
        cr_expect(got == want, "%s: %s = %s, want %s", in, field, got ? got : "NULL",
                  want ? want : "NULL");
    else
        expect_str(in, field, got, want);
}

static void expect_url(const char *in, const goc_url *u, const goc_url *w)
{
    expect_str(in, "scheme", u->scheme, w->scheme);
    expect_str(in, "opaque", u->opaque, w->opaque);
    expect_nullable(in, "user", u->user, w->user);
    expect_nullable(in, "password", u->password, w->password);
    expect_str(in, "host", u->host, w->host);
    expect_str(in, "path", u->path, w->path);
    expect_str(in, "raw_path", u->raw_path, w->raw_path);
    expect_str(in, "raw_query", u->raw_query, w->raw_query);
    expect_str(in, "fragment", u->fragment, w->fragment);
    expect_str(in, "raw_fragment", u->raw_fragment, w->raw_fragment);
    cr_expect_eq(u->force_query, w->force_query, "%s: force_query", in);
}

Test(url, parse_table, .timeout = 10)
{
    for (size_t i = 0; i < N(parse_cases); i++) {
        const ucase *c = &parse_cases[i];
        goc_url *u;
        int rc = goc_url_parse(c->in, &u);
        cr_expect_eq(rc, 0, "parse(%s): %d %s", c->in, rc, goc_errmsg());
        if (rc != 0)
            continue;
        expect_url(c->in, u, &c->want);
        char *s = goc_url_string(u);
        cr_expect_str_eq(s, c->back ? c->back : c->in, "string(%s) = %s", c->in, s);
        /* the string parses back to the same URL */
        goc_url *u2;
        cr_expect_eq(goc_url_parse(s, &u2), 0, "reparse(%s)", s);
        char *s2 = goc_url_string(u2);
        cr_expect_str_eq(s2, s);
        /* a copy is a whole copy */
        goc_url *d = goc_url_dup(u);
        goc_url_free(u);
        expect_url(c->in, d, &c->want);
        free(s);
        free(s2);
        goc_url_free(u2);
        goc_url_free(d);
    }
}

Test(url, string_of_built_urls, .timeout = 10)
{
    goc_url a = {.scheme = "http", .host = "www.example.com", .path = "search"};
    goc_url b = {.path = "this:that"};
    goc_url c = {.path = "here/this:that"};
    goc_url d = {.scheme = "http", .host = "www.example.com", .path = "this:that"};
    goc_url e = {0};
    const struct {
        goc_url *u;
        const char *want;
    } t[] = {{&a, "http://www.example.com/search"},
             {&b, "./this:that"},
             {&c, "here/this:that"},
             {&d, "http://www.example.com/this:that"},
             {&e, ""}};
    for (size_t i = 0; i < N(t); i++) {
        char *s = goc_url_string(t[i].u);
        cr_expect_str_eq(s, t[i].want);
        free(s);
    }
}

/* ---- errors ----------------------------------------------------------------- */

static const struct {
    const char *in;
    bool bad;
} error_cases[] = {
    {"http://[::1]", false},
    {"http://[::1]:80", false},
    {"http://[::1]:namedport", true},
    {"http://x:namedport", true},
    {"http://[::1]/", false},
    {"http://[::1]a", true},
    {"http://[::1]%23", true},
    {"http://[::1%25en0]", false},
    {"http://[::1]:", false},
    {"http://x:", false},
    {"http://[::1]:%38%30", true},
    {"http://[::1%25%41]", false},
    {"http://[%10::1]", true},
    {"http://[::1]/%48", false},
    {"http://%41:8080/", true},
    {"mysql://x@y(z:123)/foo", true},
    {"mysql://x@y(1.2.3.4:123)/foo", true},
    {" http://foo.com", true},
    {"ht tp://foo.com", true},
    {"ahttp://foo.com", false},
    {"1http://foo.com", true},
    {"http://[]%20%48%54%54%50%2f%31%2e%31%0a%4d%79%48%65%61%64%65%72%3a%20%31%32%33%0a%0a/", true},
    {"http://a b.com/", true},
    {"cache_object://foo", true},
    {"cache_object:foo", true},
    {"cache_object:foo/bar", true},
    {"cache_object/:foo/bar", false},
    {"http://foo.com/?foo\nbar", true},
    {"http\r://foo.com/", true},
    {"http://foo\x7f.com/", true},
    {"http://user^:passwo^rd@foo.com/", true},
    {"http://x/%zz", true},
    {"http://x/#%zz", true},
    {":foo", true},
    {"http://[fe80::1%en0]/", true},
};

Test(url, parse_errors, .timeout = 10)
{
    for (size_t i = 0; i < N(error_cases); i++) {
        goc_url *u = (goc_url *)1;
        int rc = goc_url_parse(error_cases[i].in, &u);
        if (error_cases[i].bad) {
            cr_expect_eq(rc, -EINVAL, "parse(%s) = %d, want -EINVAL", error_cases[i].in, rc);
            cr_expect_null(u);
        } else {
            cr_expect_eq(rc, 0, "parse(%s) = %d (%s)", error_cases[i].in, rc, goc_errmsg());
            goc_url_free(u);
        }
    }
}

static void expect_error(const char *in, const char *msg)
{
    goc_url *u;
    cr_expect_eq(goc_url_parse(in, &u), -EINVAL, "%s", in);
    cr_expect_str_eq(goc_errmsg(), msg, "parse(%s): \"%s\", want \"%s\"", in, goc_errmsg(), msg);
}

Test(url, error_texts, .timeout = 10)
{
    expect_error("http://[::1", "parse \"http://[::1\": missing ']' in host");
    expect_error("http://x:abc/", "parse \"http://x:abc/\": invalid port \":abc\" after host");
    expect_error("http://x/%zz", "parse \"http://x/%zz\": invalid URL escape \"%zz\"");
    expect_error("http://x/%4", "parse \"http://x/%4\": invalid URL escape \"%4\"");
    expect_error("http://a b/", "parse \"http://a b/\": invalid character \" \" in host name");
    expect_error("http://x/\n",
                 "parse \"http://x/\\n\": net/url: invalid control character in URL");
    expect_error("1a:b", "parse \"1a:b\": first path segment in URL cannot contain colon");
    expect_error(":x", "parse \":x\": missing protocol scheme");
    expect_error("http://u^@x/", "parse \"http://u^@x/\": net/url: invalid userinfo");
    expect_error("http://x/#%g0", "parse \"http://x/#%g0\": invalid URL escape \"%g0\"");
}

Test(url, request_uri_parse, .timeout = 10)
{
    static const struct {
        const char *in;
        bool ok;
    } t[] = {
        {"http://foo.com", true},
        {"http://foo.com/", true},
        {"http://foo.com/path", true},
        {"/", true},
        {"//not.a.user@not.a.host/just/a/path", true},
        {"//not.a.user@%66%6f%6f.com/just/a/path/also", true},
        {"*", true},
        {"http://192.168.0.1/", true},
        {"http://[fe80::1]:8080/", true},
        {"http://[fe80::1%25en0]/", true},
        {"http://[fe80::1%25%65%6e%301-._~]:8080/", true},
        {"foo.html", false},
        {"../dir/", false},
        {" http://foo.com", false},
        {"http://192.168.0.%31/", false},
        {"http://[fe80::%31]/", false},
        {"http://[fe80::%31%25en0]:8080/", false},
        {"http://[fe80::1%en0]/", false},
        {"", false},
    };
    for (size_t i = 0; i < N(t); i++) {
        goc_url *u;
        int rc = goc_url_parse_request_uri(t[i].in, &u);
        cr_expect_eq(rc == 0, t[i].ok, "parse_request_uri(%s) = %d", t[i].in, rc);
        if (rc == 0)
            goc_url_free(u);
    }
    goc_url *u;
    cr_assert_eq(goc_url_parse_request_uri("//not.a.user@not.a.host/just/a/path", &u), 0);
    cr_expect_str_eq(u->path, "//not.a.user@not.a.host/just/a/path");
    cr_expect_str_eq(u->host, "");
    goc_url_free(u);
    cr_assert_eq(goc_url_parse_request_uri("/a#b", &u), 0);
    cr_expect_str_eq(u->path, "/a#b");
    goc_url_free(u);
    cr_expect_eq(goc_url_parse_request_uri("", &u), -EINVAL);
    cr_expect_str_eq(goc_errmsg(), "parse \"\": empty url");
}

/* ---- resolution ------------------------------------------------------------- */

static const char *resolve_cases[][3] = {
    /* absolute references */
    {"http://foo.com?a=b", "https://bar.com/", "https://bar.com/"},
    {"http://foo.com/", "https://bar.com/?a=b", "https://bar.com/?a=b"},
    {"http://foo.com/", "https://bar.com/?", "https://bar.com/?"},
    {"http://foo.com/bar", "mailto:foo@example.com", "mailto:foo@example.com"},
    /* path-absolute */
    {"http://foo.com/bar", "/baz", "http://foo.com/baz"},
    {"http://foo.com/bar?a=b#f", "/baz", "http://foo.com/baz"},
    {"http://foo.com/bar?a=b", "/baz?", "http://foo.com/baz?"},
    {"http://foo.com/bar?a=b", "/baz?c=d", "http://foo.com/baz?c=d"},
    {"http://foo.com/bar", "http://foo.com//baz", "http://foo.com//baz"},
    {"http://foo.com/bar", "http://foo.com///baz/quux", "http://foo.com///baz/quux"},
    {"https://foo.com/bar?a=b", "//bar.com/quux", "https://bar.com/quux"},
    /* path-relative */
    {"http://foo.com", ".", "http://foo.com/"},
    {"http://foo.com/bar", ".", "http://foo.com/"},
    {"http://foo.com/bar/", ".", "http://foo.com/bar/"},
    {"http://foo.com", "bar", "http://foo.com/bar"},
    {"http://foo.com/", "bar", "http://foo.com/bar"},
    {"http://foo.com/bar/baz", "quux", "http://foo.com/bar/quux"},
    {"http://foo.com/bar/baz", "../quux", "http://foo.com/quux"},
    {"http://foo.com/bar/baz", "../../../../../quux", "http://foo.com/quux"},
    {"http://foo.com/bar", "..", "http://foo.com/"},
    {"http://foo.com/bar/baz", "./..", "http://foo.com/"},
    {"http://foo.com/bar/baz", "quux/dotdot/../tail", "http://foo.com/bar/quux/tail"},
    {"http://foo.com/bar/baz", "quux/./dotdot/.././tail", "http://foo.com/bar/quux/tail"},
    {"http://foo.com/bar/baz", "quux/./dotdot/dotdot/./.././../tail",
     "http://foo.com/bar/quux/tail"},
    {"http://foo.com/bar/baz", "quux/./dotdot/../dotdot/../dot/./tail/..",
     "http://foo.com/bar/quux/dot/"},
    {"http://foo.com/dot/./dotdot/../foo/bar", "../baz", "http://foo.com/dot/baz"},
    {"http://foo.com/bar", "...", "http://foo.com/..."},
    {"http://foo.com/bar", ".#frag", "http://foo.com/#frag"},
    {"http://example.org/", "#!$&%27()*+,;=", "http://example.org/#!$&%27()*+,;="},
    /* escaped paths */
    {"http://foo.com/foo%2fbar/", "../baz", "http://foo.com/baz"},
    {"http://foo.com/1/2%2f/3%2f4/5", "../../a/b/c", "http://foo.com/1/a/b/c"},
    {"http://foo.com/1/2/3", "./a%2f../../b/..%2fc", "http://foo.com/1/2/b/..%2fc"},
    {"http://foo.com/1/2%2f/3%2f4/5", "./a%2f../b/../c", "http://foo.com/1/2%2f/3%2f4/a%2f../c"},
    {"http://foo.com/foo%20bar/", "../baz", "http://foo.com/baz"},
    {"http://foo.com/foo", "../bar%2fbaz", "http://foo.com/bar%2fbaz"},
    {"http://foo.com/foo%2dbar/", "./baz-quux", "http://foo.com/foo%2dbar/baz-quux"},
    /* RFC 3986 5.4.1: normal examples */
    {"http://a/b/c/d;p?q", "g:h", "g:h"},
    {"http://a/b/c/d;p?q", "g", "http://a/b/c/g"},
    {"http://a/b/c/d;p?q", "./g", "http://a/b/c/g"},
    {"http://a/b/c/d;p?q", "g/", "http://a/b/c/g/"},
    {"http://a/b/c/d;p?q", "/g", "http://a/g"},
    {"http://a/b/c/d;p?q", "//g", "http://g"},
    {"http://a/b/c/d;p?q", "?y", "http://a/b/c/d;p?y"},
    {"http://a/b/c/d;p?q", "g?y", "http://a/b/c/g?y"},
    {"http://a/b/c/d;p?q", "#s", "http://a/b/c/d;p?q#s"},
    {"http://a/b/c/d;p?q", "g#s", "http://a/b/c/g#s"},
    {"http://a/b/c/d;p?q", "g?y#s", "http://a/b/c/g?y#s"},
    {"http://a/b/c/d;p?q", ";x", "http://a/b/c/;x"},
    {"http://a/b/c/d;p?q", "g;x", "http://a/b/c/g;x"},
    {"http://a/b/c/d;p?q", "g;x?y#s", "http://a/b/c/g;x?y#s"},
    {"http://a/b/c/d;p?q", "", "http://a/b/c/d;p?q"},
    {"http://a/b/c/d;p?q", ".", "http://a/b/c/"},
    {"http://a/b/c/d;p?q", "./", "http://a/b/c/"},
    {"http://a/b/c/d;p?q", "..", "http://a/b/"},
    {"http://a/b/c/d;p?q", "../", "http://a/b/"},
    {"http://a/b/c/d;p?q", "../g", "http://a/b/g"},
    {"http://a/b/c/d;p?q", "../..", "http://a/"},
    {"http://a/b/c/d;p?q", "../../", "http://a/"},
    {"http://a/b/c/d;p?q", "../../g", "http://a/g"},
    /* RFC 3986 5.4.2: abnormal examples */
    {"http://a/b/c/d;p?q", "../../../g", "http://a/g"},
    {"http://a/b/c/d;p?q", "../../../../g", "http://a/g"},
    {"http://a/b/c/d;p?q", "/./g", "http://a/g"},
    {"http://a/b/c/d;p?q", "/../g", "http://a/g"},
    {"http://a/b/c/d;p?q", "g.", "http://a/b/c/g."},
    {"http://a/b/c/d;p?q", ".g", "http://a/b/c/.g"},
    {"http://a/b/c/d;p?q", "g..", "http://a/b/c/g.."},
    {"http://a/b/c/d;p?q", "..g", "http://a/b/c/..g"},
    {"http://a/b/c/d;p?q", "./../g", "http://a/b/g"},
    {"http://a/b/c/d;p?q", "./g/.", "http://a/b/c/g/"},
    {"http://a/b/c/d;p?q", "g/./h", "http://a/b/c/g/h"},
    {"http://a/b/c/d;p?q", "g/../h", "http://a/b/c/h"},
    {"http://a/b/c/d;p?q", "g;x=1/./y", "http://a/b/c/g;x=1/y"},
    {"http://a/b/c/d;p?q", "g;x=1/../y", "http://a/b/c/y"},
    {"http://a/b/c/d;p?q", "g?y/./x", "http://a/b/c/g?y/./x"},
    {"http://a/b/c/d;p?q", "g?y/../x", "http://a/b/c/g?y/../x"},
    {"http://a/b/c/d;p?q", "g#s/./x", "http://a/b/c/g#s/./x"},
    {"http://a/b/c/d;p?q", "g#s/../x", "http://a/b/c/g#s/../x"},
    {"http://a/b/c/d;p?q", "http:g", "http:g"}, /* strict parsers (5.4.2) */
    /* extras */
    {"https://a/b/c/d;p?q", "//g?q", "https://g?q"},
    {"https://a/b/c/d;p?q", "//g#s", "https://g#s"},
    {"https://a/b/c/d;p?q", "//g/d/e/f?y#s", "https://g/d/e/f?y#s"},
    {"https://a/b/c/d;p#s", "?y", "https://a/b/c/d;p?y"},
    {"https://a/b/c/d;p?q#s", "?y", "https://a/b/c/d;p?y"},
    {"https://a/b/c/d;p?q#s", "?", "https://a/b/c/d;p?"},
    {"http://u:p@a/b", "c", "http://u:p@a/c"},
};

Test(url, resolve, .timeout = 10)
{
    for (size_t i = 0; i < N(resolve_cases); i++) {
        goc_url *base, *r;
        cr_assert_eq(goc_url_parse(resolve_cases[i][0], &base), 0, "%s", resolve_cases[i][0]);
        int rc = goc_url_resolve(base, resolve_cases[i][1], &r);
        cr_expect_eq(rc, 0, "resolve(%s, %s): %d", resolve_cases[i][0], resolve_cases[i][1], rc);
        if (rc == 0) {
            char *s = goc_url_string(r);
            cr_expect_str_eq(s, resolve_cases[i][2], "resolve(%s, %s) = %s, want %s",
                             resolve_cases[i][0], resolve_cases[i][1], s, resolve_cases[i][2]);
            free(s);
            goc_url_free(r);
        }
        /* an opaque reference replaces everything */
        cr_assert_eq(goc_url_resolve(base, "scheme:opaque", &r), 0);
        char *s = goc_url_string(r);
        cr_expect_str_eq(s, "scheme:opaque");
        cr_expect_null(r->user);
        cr_expect_str_eq(r->host, "");
        free(s);
        goc_url_free(r);
        goc_url_free(base);
    }
    goc_url *base, *r = (goc_url *)1;
    cr_assert_eq(goc_url_parse("http://a/b", &base), 0);
    cr_expect_eq(goc_url_resolve(base, "http://[::1", &r), -EINVAL);
    cr_expect_null(r);
    cr_expect_str_eq(goc_errmsg(), "parse \"http://[::1\": missing ']' in host");
    goc_url_free(base);
}

/* ---- request URI, host, port --------------------------------------------------- */

Test(url, request_uri, .timeout = 10)
{
    const struct {
        goc_url u;
        const char *want;
    } t[] = {
        {{.scheme = "http", .host = "example.com", .path = ""}, "/"},
        {{.scheme = "http", .host = "example.com", .path = "/a b"}, "/a%20b"},
        {{.scheme = "http", .host = "example.com", .opaque = "/%2F/%2F/"}, "/%2F/%2F/"},
        {{.scheme = "http", .host = "example.com", .opaque = "//other.example.com/%2F/%2F/"},
         "http://other.example.com/%2F/%2F/"},
        {{.scheme = "http", .host = "example.com", .path = "/////", .raw_path = "/%2F/%2F/"},
         "/%2F/%2F/"},
        {{.scheme = "http", .host = "example.com", .path = "/////", .raw_path = "/WRONG/"},
         "/////"},
        {{.scheme = "http", .host = "example.com", .path = "/a b", .raw_query = "q=go+language"},
         "/a%20b?q=go+language"},
        {{.scheme = "http",
          .host = "example.com",
          .path = "/a b",
          .raw_path = "/a b",
          .raw_query = "q=go+language"},
         "/a%20b?q=go+language"},
        {{.scheme = "http",
          .host = "example.com",
          .path = "/a?b",
          .raw_path = "/a?b",
          .raw_query = "q=go+language"},
         "/a%3Fb?q=go+language"},
        {{.scheme = "myschema", .opaque = "opaque"}, "opaque"},
        {{.scheme = "myschema", .opaque = "opaque", .raw_query = "q=go+language"},
         "opaque?q=go+language"},
        {{.scheme = "http", .host = "example.com", .path = "//foo"}, "//foo"},
        {{.scheme = "http", .host = "example.com", .path = "/foo", .force_query = true}, "/foo?"},
        {{.path = "*"}, "*"},
    };
    for (size_t i = 0; i < N(t); i++) {
        char *s = goc_url_request_uri(&t[i].u);
        cr_expect_str_eq(s, t[i].want, "request_uri #%zu = %s, want %s", i, s, t[i].want);
        free(s);
    }
}

Test(url, hostname_port, .timeout = 10)
{
    const struct {
        const char *host, *name;
        int port;
    } t[] = {
        {"foo.com:80", "foo.com", 80},
        {"foo.com", "foo.com", 0},
        {"foo.com:", "foo.com", 0},
        {"FOO.COM", "FOO.COM", 0},
        {"1.2.3.4:80", "1.2.3.4", 80},
        {"[1:2:3:4]", "1:2:3:4", 0},
        {"[1:2:3:4]:80", "1:2:3:4", 80},
        {"[::1]:80", "::1", 80},
        {"[::1]", "::1", 0},
        {"[::1]:", "::1", 0},
        {"localhost:443", "localhost", 443},
        {"[2001:0db8:85a3:0000:0000:8a2e:0370:7334]:17000",
         "2001:0db8:85a3:0000:0000:8a2e:0370:7334", 17000},
        {"[google.com]:80", "google.com", 80},
        {"google.com]:80", "google.com]", 80},
        {"google.com:80_invalid_port", "google.com:80_invalid_port", 0},
        {"[::1]extra]:80", "::1]extra", 80},
        {"google.com]extra:extra", "google.com]extra:extra", 0},
        {"x:65536", "x", -EINVAL},
    };
    for (size_t i = 0; i < N(t); i++) {
        goc_url u = {.host = t[i].host};
        char buf[64];
        int n = goc_url_hostname(&u, buf, sizeof buf);
        cr_expect_eq(n, (int)strlen(t[i].name), "hostname(%s)", t[i].host);
        cr_expect_str_eq(buf, t[i].name, "hostname(%s) = %s", t[i].host, buf);
        cr_expect_eq(goc_url_port(&u), t[i].port, "port(%s)", t[i].host);
    }
    goc_url u = {.host = "example.com:80"};
    char small[11];
    cr_expect_eq(goc_url_hostname(&u, small, sizeof small), -ENOSPC);
    char fits[12];
    cr_expect_eq(goc_url_hostname(&u, fits, sizeof fits), 11);
}

/* ---- escaping ----------------------------------------------------------------- */

Test(url, escape, .timeout = 10)
{
    static const char hard[] = " ?&=#+%!<>#\"{}|\\^[]`\xe2\x98\xba\t:/@$'()*,;";
    const char *q[][2] = {
        {"", ""},
        {"abc", "abc"},
        {"one two", "one+two"},
        {"10%", "10%25"},
        {hard, "+%3F%26%3D%23%2B%25%21%3C%3E%23%22%7B%7D%7C%5C%5E%5B%5D%60%E2%98%BA%09%3A%2F%40%24%"
               "27%28%29%2A%2C%3B"},
    };
    const char *p[][2] = {
        {"", ""},
        {"abc", "abc"},
        {"abc+def", "abc+def"},
        {"a/b", "a%2Fb"},
        {"one two", "one%20two"},
        {"10%", "10%25"},
        {hard, "%20%3F&=%23+%25%21%3C%3E%23%22%7B%7D%7C%5C%5E%5B%5D%60%E2%98%BA%09:%2F@$%27%28%29%"
               "2A%2C%3B"},
    };
    for (size_t i = 0; i < N(q); i++) {
        char *e = goc_url_query_escape(q[i][0]), *back;
        cr_expect_str_eq(e, q[i][1]);
        cr_expect_eq(goc_url_query_unescape(e, &back), 0);
        cr_expect_str_eq(back, q[i][0]);
        free(e);
        free(back);
    }
    for (size_t i = 0; i < N(p); i++) {
        char *e = goc_url_path_escape(p[i][0]), *back;
        cr_expect_str_eq(e, p[i][1]);
        cr_expect_eq(goc_url_path_unescape(e, &back), 0);
        cr_expect_str_eq(back, p[i][0]);
        free(e);
        free(back);
    }
}

Test(url, unescape, .timeout = 10)
{
    const struct {
        const char *in, *query, *path, *err;
    } t[] = {
        {"", "", "", NULL},
        {"abc", "abc", "abc", NULL},
        {"1%41", "1A", "1A", NULL},
        {"1%41%42%43", "1ABC", "1ABC", NULL},
        {"%4a", "J", "J", NULL},
        {"%6F", "o", "o", NULL},
        {"a+b", "a b", "a+b", NULL},
        {"a%20b", "a b", "a b", NULL},
        {"%", NULL, NULL, "invalid URL escape \"%\""},
        {"%a", NULL, NULL, "invalid URL escape \"%a\""},
        {"%1", NULL, NULL, "invalid URL escape \"%1\""},
        {"123%45%6", NULL, NULL, "invalid URL escape \"%6\""},
        {"%zzzzz", NULL, NULL, "invalid URL escape \"%zz\""},
    };
    for (size_t i = 0; i < N(t); i++) {
        char *out = (char *)1;
        int rc = goc_url_query_unescape(t[i].in, &out);
        if (t[i].err) {
            cr_expect_eq(rc, -EINVAL, "%s", t[i].in);
            cr_expect_null(out);
            cr_expect_str_eq(goc_errmsg(), t[i].err);
        } else {
            cr_expect_eq(rc, 0);
            cr_expect_str_eq(out, t[i].query);
            free(out);
        }
        rc = goc_url_path_unescape(t[i].in, &out);
        if (t[i].err) {
            cr_expect_eq(rc, -EINVAL);
        } else {
            cr_expect_str_eq(out, t[i].path);
            free(out);
        }
    }
}

/* ---- values --------------------------------------------------------------------- */

/* "k=v,k=v" of every pair in order. */
static char *dump(const goc_url_values *v)
{
    static char buf[512];
    buf[0] = '\0';
    for (size_t i = 0; i < goc_url_values_len(v); i++) {
        const char *k, *val;
        cr_assert_eq(goc_url_values_at(v, i, &k, &val), 0);
        snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s%s=%s", i ? "," : "", k, val);
    }
    return buf;
}

Test(url, parse_query, .timeout = 10)
{
    const struct {
        const char *q, *pairs;
        bool ok;
    } t[] = {
        {"a=1", "a=1", true},
        {"a=1&b=2", "a=1,b=2", true},
        {"a=1&a=2&a=banana", "a=1,a=2,a=banana", true},
        {"ascii=%3Ckey%3A+0x90%3E", "ascii=<key: 0x90>", true},
        {"a=1;b=2", "", false},
        {"a;b=1", "", false},
        {"a=%3B", "a=;", true},
        {"a%3Bb=1", "a;b=1", true},
        {"a=1&a=2;a=banana", "a=1", false},
        {"a;b&c=1", "c=1", false},
        {"a=1&b=2;a=3&c=4", "a=1,c=4", false},
        {"a=1&b=2;c=3", "a=1", false},
        {";", "", false},
        {"a=1;", "", false},
        {"a=1&;", "a=1", false},
        {";a=1&b=2", "b=2", false},
        {"a=1&b=2;", "a=1", false},
        {"&&x&=y&", "x=,=y", true},
        {"%gh&%ij&k=v", "k=v", false},
    };
    for (size_t i = 0; i < N(t); i++) {
        goc_url_values *v;
        int rc = goc_url_parse_query(t[i].q, &v);
        cr_expect_eq(rc == 0, t[i].ok, "parse_query(%s) = %d", t[i].q, rc);
        cr_assert_not_null(v);
        cr_expect_str_eq(dump(v), t[i].pairs, "parse_query(%s): %s", t[i].q, dump(v));
        goc_url_values_free(v);
    }
    goc_url_values *v;
    cr_expect_eq(goc_url_parse_query("%gh&%ij", &v), -EINVAL);
    cr_expect_str_eq(goc_errmsg(), "invalid URL escape \"%gh\"");
    goc_url_values_free(v);
    cr_expect_eq(goc_url_parse_query("a=1;b", &v), -EINVAL);
    cr_expect_str_eq(goc_errmsg(), "invalid semicolon separator in query");
    goc_url_values_free(v);
}

Test(url, values, .timeout = 10)
{
    goc_url_values *v;
    cr_assert_eq(goc_url_parse_query("foo=bar&bar=1&bar=2&baz", &v), 0);
    cr_expect_str_eq(goc_url_values_get(v, "foo"), "bar");
    cr_expect_null(goc_url_values_get(v, "Foo"));
    cr_expect_str_eq(goc_url_values_get(v, "bar"), "1");
    cr_expect_str_eq(goc_url_values_get(v, "baz"), "");
    cr_expect_null(goc_url_values_get(v, "noexist"));
    goc_url_values_del(v, "bar");
    cr_expect_null(goc_url_values_get(v, "bar"));
    cr_expect_str_eq(dump(v), "foo=bar,baz=");
    cr_assert_eq(goc_url_values_add(v, "q", "dogs"), 0);
    cr_assert_eq(goc_url_values_add(v, "q", "&"), 0);
    cr_assert_eq(goc_url_values_add(v, "a", "x y"), 0);
    cr_assert_eq(goc_url_values_add(v, "q", "7"), 0);
    char *e = goc_url_values_encode(v);
    cr_expect_str_eq(e, "a=x+y&baz=&foo=bar&q=dogs&q=%26&q=7");
    free(e);
    cr_assert_eq(goc_url_values_set(v, "q", "one"), 0);
    e = goc_url_values_encode(v);
    cr_expect_str_eq(e, "a=x+y&baz=&foo=bar&q=one");
    free(e);
    const char *k, *val;
    cr_expect_eq(goc_url_values_at(v, 99, &k, &val), -ERANGE);
    goc_url_values_free(v);

    goc_url_values *w = goc_url_values_new();
    e = goc_url_values_encode(w);
    cr_expect_str_eq(e, "");
    free(e);
    const char *abc[] = {"c", "b", "a"};
    for (int i = 0; i < 3; i++)
        for (int j = 1; j <= 3; j++) {
            char val2[4] = {abc[i][0], (char)('0' + j), 0};
            goc_url_values_add(w, abc[i], val2);
        }
    e = goc_url_values_encode(w);
    cr_expect_str_eq(e, "a=a1&a=a2&a=a3&b=b1&b=b2&b=b3&c=c1&c=c2&c=c3");
    free(e);
    goc_url_values_free(w);
    goc_url_values_free(NULL);
}
