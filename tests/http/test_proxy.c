/*
 * test_proxy.c — goc_http_proxy_for after the table of Go's httpproxy
 * tests: the proxy by scheme, values without a scheme, localhost and
 * loopback, every no_proxy form (domains with and without a leading
 * '.', "*.", ports, IPs, CIDR blocks, "*"), CGI, bad values, socks5;
 * and reading the environment (upper case first).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <goc/http.h>

#define N(a) (sizeof(a) / sizeof((a)[0]))

typedef struct pcase {
    goc_http_proxy_config cfg;
    const char *req;
    const char *want; /* the proxy URL, or NULL: direct */
} pcase;

static const pcase cases[] = {
    {{.http_proxy = "127.0.0.1:8080"}, "http://example.com", "http://127.0.0.1:8080"},
    {{.http_proxy = "cache.corp.example.com:1234"},
     "http://example.com",
     "http://cache.corp.example.com:1234"},
    {{.http_proxy = "cache.corp.example.com"},
     "http://example.com",
     "http://cache.corp.example.com"},
    {{.http_proxy = "https://cache.corp.example.com"},
     "http://example.com",
     "https://cache.corp.example.com"},
    {{.http_proxy = "http://127.0.0.1:8080"}, "http://example.com", "http://127.0.0.1:8080"},
    {{.http_proxy = "https://127.0.0.1:8080"}, "http://example.com", "https://127.0.0.1:8080"},
    {{.http_proxy = "http://u:p@proxy:3128"}, "http://example.com", "http://u:p@proxy:3128"},
    /* an unknown scheme is read as a host: "http://" + value */
    {{.http_proxy = "socks4://x:1"}, "http://example.com", "http://socks4://x:1"},
    /* scheme selects the variable */
    {{.http_proxy = "http.proxy.tld", .https_proxy = "secure.proxy.tld"},
     "http://insecure.tld/",
     "http://http.proxy.tld"},
    {{.http_proxy = "http.proxy.tld", .https_proxy = "secure.proxy.tld"},
     "https://secure.tld/",
     "http://secure.proxy.tld"},
    {{.http_proxy = "http.proxy.tld"}, "https://secure.tld/", NULL},
    {{.https_proxy = "secure.proxy.tld"}, "http://insecure.tld/", NULL},
    {{.http_proxy = "http.proxy.tld"}, "ftp://x/", NULL},
    {{.http_proxy = ""}, "http://example.com/", NULL},
    /* never for localhost and loopback */
    {{.http_proxy = "proxy"}, "http://localhost/", NULL},
    {{.http_proxy = "proxy"}, "http://localhost:80/", NULL},
    {{.http_proxy = "proxy"}, "http://127.0.0.1/", NULL},
    {{.http_proxy = "proxy"}, "http://127.1.2.3:8080/", NULL},
    {{.http_proxy = "proxy"}, "http://[::1]/", NULL},
    {{.http_proxy = "proxy"}, "http://[::1]:80/", NULL},
    {{.http_proxy = "proxy"}, "http://[::ffff:127.0.0.1]/", NULL},
    {{.http_proxy = "proxy"}, "http://128.0.0.1/", "http://proxy"},
    {{.http_proxy = "proxy"}, "http://localhost.example.com/", "http://proxy"},
};

/* Go's no_proxy table: entries against hosts (true: direct). */
static const char no_proxy_list[] =
    "foobar.com, .barbaz.net, *.wildcard.com, 192.168.1.1, 192.168.1.2:81, 192.168.1.3:80, "
    "10.0.0.0/30, 2001:db8::52:0:1, [2001:db8::52:0:2]:443, [2001:db8::52:0:3]:80, "
    "2002:db8:a::45/64, bar.com:8080 ,, BAZ.org";

static const struct {
    const char *req;
    bool direct;
} np[] = {
    {"http://localhost", true},
    {"http://127.0.0.1", true},
    {"http://127.0.0.2", true},
    {"http://[::1]", true},
    {"http://[::2]", false},
    {"http://barbaz.net", false},
    {"http://foo.barbaz.net", true},
    {"http://foobar.com", true},
    {"http://www.foobar.com", true},
    {"http://afoobar.com", false},
    {"http://foofoobar.com", false},
    {"http://baz.com", false},
    {"http://localhost.net", false},
    {"http://local.localhost", false},
    {"http://barbarbaz.net", false},
    {"http://wildcard.com", false},
    {"http://foo.wildcard.com", true},
    {"http://bar.com:8080", true},
    {"http://bar.com", false},
    {"http://www.bar.com:8080", true},
    {"http://baz.org", true},
    {"http://x.BAZ.org", true},
    {"http://192.168.1.1", true},
    {"http://192.168.1.1:8080", true},
    {"http://192.168.1.2", false},
    {"http://192.168.1.2:81", true},
    {"http://192.168.1.3", true},
    {"http://192.168.1.3:81", false},
    {"http://192.168.1.4", false},
    {"http://10.0.0.2", true},
    {"http://10.0.0.3", true},
    {"http://10.0.0.4", false},
    {"http://[2001:db8::52:0:1]", true},
    {"http://[2001:db8::52:0:1]:8080", true},
    {"http://[2001:db8::52:0:2]", false},
    {"https://[2001:db8::52:0:2]", true},
    {"http://[2001:db8::52:0:3]", true},
    {"http://[2001:db8::52:0:3]:81", false},
    {"http://[2002:db8:a::123]", true},
    {"http://[fe80::424b:c8be:1643:a1b6]", false},
};

static void expect_proxy(const goc_http_proxy_config *cfg, const char *req, const char *want)
{
    goc_url *u, *p;
    cr_assert_eq(goc_url_parse(req, &u), 0, "%s", req);
    int rc = goc_http_proxy_for(cfg, u, &p);
    cr_expect_eq(rc, 0, "proxy_for(%s): %d %s", req, rc, goc_errmsg());
    if (rc == 0 && want) {
        cr_expect_not_null(p, "proxy_for(%s): direct, want %s", req, want);
        if (p) {
            char *s = goc_url_string(p);
            cr_expect_str_eq(s, want, "proxy_for(%s) = %s, want %s", req, s, want);
            free(s);
        }
    } else if (rc == 0) {
        cr_expect_null(p, "proxy_for(%s): a proxy, want direct", req);
    }
    goc_url_free(p);
    goc_url_free(u);
}

Test(proxy, table, .timeout = 10)
{
    for (size_t i = 0; i < N(cases); i++)
        expect_proxy(&cases[i].cfg, cases[i].req, cases[i].want);
}

Test(proxy, no_proxy, .timeout = 10)
{
    goc_http_proxy_config cfg = {
        .http_proxy = "proxy", .https_proxy = "proxy", .no_proxy = no_proxy_list};
    for (size_t i = 0; i < N(np); i++)
        expect_proxy(&cfg, np[i].req, np[i].direct ? NULL : "http://proxy");
}

Test(proxy, no_proxy_forms, .timeout = 10)
{
    goc_http_proxy_config cfg = {.http_proxy = "proxy", .no_proxy = "*"};
    expect_proxy(&cfg, "http://example.com", NULL);
    cfg.no_proxy = "a.com *";
    expect_proxy(&cfg, "http://example.com", NULL);
    cfg.no_proxy = "a.com b.com"; /* spaces separate too */
    expect_proxy(&cfg, "http://b.com", NULL);
    expect_proxy(&cfg, "http://c.com", "http://proxy");
    cfg.no_proxy = ":80, [], /8";
    expect_proxy(&cfg, "http://c.com", "http://proxy");
    cfg.no_proxy = "0.0.0.0/0";
    expect_proxy(&cfg, "http://8.8.8.8", NULL);
    expect_proxy(&cfg, "http://[2001:db8::1]", "http://proxy");
    expect_proxy(&cfg, "http://c.com", "http://proxy");
    cfg.no_proxy = "EXAMPLE.com";
    expect_proxy(&cfg, "http://WWW.Example.COM", NULL);
}

Test(proxy, errors, .timeout = 10)
{
    goc_url *u, *p = (goc_url *)1;
    cr_assert_eq(goc_url_parse("http://example.com/", &u), 0);
    goc_http_proxy_config cfg = {.http_proxy = "http://x:1/%zz"};
    cr_expect_eq(goc_http_proxy_for(&cfg, u, &p), -EINVAL);
    cr_expect_null(p);
    cr_expect(strstr(goc_errmsg(), "invalid proxy address \"http://x:1/%zz\": parse") != NULL, "%s",
              goc_errmsg());
    cfg.http_proxy = "socks5://s:1080";
    cr_expect_eq(goc_http_proxy_for(&cfg, u, &p), -ENOTSUP);
    cfg.no_proxy = "example.com"; /* no_proxy first: direct, no error */
    cr_expect_eq(goc_http_proxy_for(&cfg, u, &p), 0);
    cr_expect_null(p);
    goc_http_proxy_config cgi = {.http_proxy = "proxy", .https_proxy = "sproxy", .cgi = true};
    cr_expect_eq(goc_http_proxy_for(&cgi, u, &p), -EPERM);
    goc_url_free(u);
    expect_proxy(&cgi, "https://example.com/", "http://sproxy");
}

Test(proxy, from_env, .timeout = 10)
{
    setenv("HTTP_PROXY", "upper", 1);
    setenv("http_proxy", "lower", 1);
    setenv("https_proxy", "slower", 1);
    unsetenv("HTTPS_PROXY");
    setenv("NO_PROXY", "", 1);
    setenv("no_proxy", "np", 1);
    unsetenv("REQUEST_METHOD");
    goc_http_proxy_config cfg;
    goc_http_proxy_config_from_env(&cfg);
    cr_expect_str_eq(cfg.http_proxy, "upper");
    cr_expect_str_eq(cfg.https_proxy, "slower");
    cr_expect_str_eq(cfg.no_proxy, "np");
    cr_expect_not(cfg.cgi);
    unsetenv("HTTP_PROXY");
    unsetenv("http_proxy");
    setenv("REQUEST_METHOD", "GET", 1);
    goc_http_proxy_config_from_env(&cfg);
    cr_expect_null(cfg.http_proxy);
    cr_expect(cfg.cgi);
}
