/*
 * test_mux.c — the Go 1.22 ServeMux: bad patterns and their messages,
 * conflicts (and the message naming both patterns), precedence (a table,
 * and the cases of Go's own routing-tree tests), HEAD served by GET, host
 * patterns, then end to end through a real server on loopback: path
 * values ({x}, {rest...}, escaped segments), {$}, 405 with Allow, 301 for
 * a subtree and for unclean paths, 404, "OPTIONS *". Registration while
 * lookups run
 * (goroutines and a plain thread), paths longer and deeper than the
 * lookup's stack buffers, and a lookup benchmark (printed only).
 *
 * Lookups of hand-built requests (no server) have no arena, so they check
 * the pattern chosen; path values are checked through the server.
 */
#include <criterion/criterion.h>
#include <goc/http.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/util.h"

static void nop(goc_http_response_writer *w, goc_http_request *r, void *arg)
{
    (void)w, (void)r, (void)arg;
}

static goc_http_request req(const char *method, const char *host, const char *path)
{
    return (goc_http_request){.method = method,
                              .target = path,
                              .path = path,
                              .raw_path = path,
                              .raw_query = "",
                              .proto = "HTTP/1.1",
                              .proto_major = 1,
                              .proto_minor = 1,
                              .host = host,
                              .remote_addr = "",
                              .pattern = ""};
}

/* The pattern a request gets ("" for 404 and 405). */
static const char *route(goc_http_mux *m, const char *method, const char *host, const char *path)
{
    goc_http_request r = req(method, host, path);
    const char *pat = NULL;
    goc_http_handler h = goc_http_mux_lookup(m, &r, &pat);
    cr_assert_not_null(h.fn);
    cr_assert_not_null(pat);
    return pat;
}

static void must_handle(goc_http_mux *m, const char *pattern)
{
    int rc = goc_http_mux_handle_func(m, pattern, nop, NULL);
    cr_assert_eq(rc, 0, "register %s: %s", pattern, goc_errmsg());
}

/* ---- bad patterns ------------------------------------------------------------- */

Test(mux, bad_patterns, .timeout = 10)
{
    static const struct {
        const char *pat, *msg; /* msg: a part of goc_errmsg() */
    } cases[] = {
        {"", "empty pattern"},
        {"GET", "host/path missing /"},
        {"example.com", "host/path missing /"},
        {"G(T /", "invalid method \"G(T\""},
        {"{host}/", "at offset 0: host contains '{' (missing initial '/'?)"},
        {"/a{x}", "at offset 1: bad wildcard segment (must start with '{')"},
        {"/{x", "at offset 1: bad wildcard segment (must end with '}')"},
        {"/{x}y", "bad wildcard segment (must end with '}')"},
        {"/{$}/a", "{$} not at end"},
        {"/{a...}/b", "{...} wildcard not at end"},
        {"/{}", "empty wildcard"},
        {"/{...}", "empty wildcard"},
        {"/{1x}", "bad wildcard name \"1x\""},
        {"/{a-b}", "bad wildcard name \"a-b\""},
        {"/{x}/{x}", "at offset 5: duplicate wildcard name \"x\""},
        {"GET /a/../b", "non-CONNECT pattern with unclean path can never match"},
        {"GET /a//b", "non-CONNECT pattern with unclean path can never match"},
        {"GET /a/.", "non-CONNECT pattern with unclean path can never match"},
    };
    goc_http_mux *m = goc_http_mux_new();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = goc_http_mux_handle_func(m, cases[i].pat, nop, NULL);
        cr_expect_eq(rc, GOC_EHTTP_BAD_PATTERN, "%s: %d", cases[i].pat, rc);
        cr_expect(strstr(goc_errmsg(), cases[i].msg), "%s: got \"%s\"", cases[i].pat, goc_errmsg());
    }
    cr_expect(strstr(goc_errmsg(), "parsing \"GET /a/.\""), "%s", goc_errmsg());
    /* Unclean paths are fine without a method (they match nothing cleaned)
     * and with CONNECT (its paths are not cleaned). */
    must_handle(m, "/a/../b");
    must_handle(m, "CONNECT /x//y");
    /* Blanks after the method, UTF-8 and underscores in names. */
    must_handle(m, "GET \t /sp/{_x9}");
    must_handle(m, "/u/{\xc3\xa9t\xc3\xa9}");
    cr_expect_eq(goc_http_mux_handle(m, "/nil", (goc_http_handler){NULL, NULL}), -EINVAL);
    goc_http_mux_free(m);
}

/* ---- conflicts ------------------------------------------------------------------- */

static void expect_conflict(const char *first, const char *second, const char *why)
{
    goc_http_mux *m = goc_http_mux_new();
    must_handle(m, first);
    int rc = goc_http_mux_handle_func(m, second, nop, NULL);
    cr_expect_eq(rc, GOC_EHTTP_PATTERN_CONFLICT, "%s then %s: %d", first, second, rc);
    char head[256];
    snprintf(head, sizeof head, "pattern \"%s\" conflicts with pattern \"%s\":\n", second, first);
    cr_expect(strncmp(goc_errmsg(), head, strlen(head)) == 0, "got \"%s\"", goc_errmsg());
    cr_expect(strstr(goc_errmsg(), why), "%s then %s: got \"%s\", want \"%s\"", first, second,
              goc_errmsg(), why);
    goc_http_mux_free(m);
}

Test(mux, conflicts, .timeout = 10)
{
    expect_conflict("/a", "/a", "/a matches the same requests as /a");
    expect_conflict("/{x}", "/{y}", "/{y} matches the same requests as /{x}");
    expect_conflict("GET /a/", "GET /a/{rest...}", "matches the same requests");
    expect_conflict("example.com/a/{x}", "example.com/a/{y}", "matches the same requests");
    expect_conflict("/a/{x}", "/{y}/b",
                    "/{y}/b and /a/{x} both match some paths, like \"/a/b\".\n"
                    "But neither is more specific than the other.\n"
                    "/{y}/b matches \"/y/b\", but /a/{x} doesn't.\n"
                    "/a/{x} matches \"/a/x\", but /{y}/b doesn't.");
    expect_conflict("/a/b", "GET /a/{x}",
                    "GET /a/{x} matches fewer methods than /a/b, but has a more general path "
                    "pattern");
    expect_conflict("GET /a/{x}", "/a/b",
                    "/a/b matches more methods than GET /a/{x}, but has a more specific path "
                    "pattern");
    expect_conflict("/{x}/b/", "/a/{y}/", "both match some paths, like \"/a/b/\"");
    expect_conflict("/{x}/{$}", "/a/{y...}", "both match some paths");
}

Test(mux, no_conflicts, .timeout = 10)
{
    static const char *pats[] = {
        "/",
        "/{$}",
        "/a",
        "GET /a",
        "HEAD /a",
        "POST /a",
        "/a/",
        "/a/{$}",
        "/a/b",
        "/a/{x}",
        "/a/b/{y...}",
        "/q/{x}/c",
        "/{x}/",
        "example.com/",
        "example.com/a",
        "other.org/a",
        "/b/{x}/{$}",
        "/b/{x}/",
        "/b/{x}/{y}",
        "/b/{x}/c",
        "/c/{x...}",
        "GET /c/{x}/d",
        "PUT /c/{x}/d",
        "/d/{x}/e/{y...}",
    };
    goc_http_mux *m = goc_http_mux_new();
    for (size_t i = 0; i < sizeof pats / sizeof pats[0]; i++)
        must_handle(m, pats[i]);
    goc_http_mux_free(m);
}

/* ---- precedence ---------------------------------------------------------------------- */

Test(mux, precedence, .timeout = 10)
{
    static const char *pats[] = {
        "/",
        "/{$}",
        "/a",
        "GET /a",
        "/a/b",
        "/a/{x}",
        "/a/b/{$}",
        "/a/b/{y}",
        "/a/b/{x...}",
        "/g/h/i",
        "/g/{x}/j",
        "/tree/",
        "/tree/leaf",
        "HEAD /hw",
        "GET /hw",
        "GET /getonly",
        "example.com/a",
        "example.com/{x}/b",
        "[::1]/v6",
        "/esc/a%20b",
        "/esc/%41/{w}",
        "/esc/x%2Fy",
    };
    static const struct {
        const char *method, *host, *path, *want;
    } cases[] = {
        {"GET", "", "/a", "GET /a"},
        {"PUT", "", "/a", "/a"},
        {"HEAD", "", "/a", "GET /a"},
        {"GET", "", "/a/b", "/a/b"},
        {"GET", "", "/a/c", "/a/{x}"},
        {"GET", "", "/a/b/", "/a/b/{$}"},
        {"GET", "", "/a/b/c", "/a/b/{y}"},
        {"GET", "", "/a/b/c/", "/a/b/{x...}"},
        {"GET", "", "/a/b/c/d", "/a/b/{x...}"},
        {"GET", "", "/g/h/i", "/g/h/i"},
        {"GET", "", "/g/h/j", "/g/{x}/j"},
        {"GET", "", "/g/k/j", "/g/{x}/j"},
        {"GET", "", "/g/k/i", "/"},
        {"GET", "", "/", "/{$}"},
        {"GET", "", "/z", "/"},
        {"GET", "", "/tree/", "/tree/"},
        {"GET", "", "/tree/leaf", "/tree/leaf"},
        {"GET", "", "/tree/leaf/", "/tree/"},
        {"GET", "", "/tree/x/y", "/tree/"},
        {"HEAD", "", "/hw", "HEAD /hw"},
        {"GET", "", "/hw", "GET /hw"},
        {"HEAD", "", "/getonly", "GET /getonly"},
        {"GET", "example.com", "/a", "example.com/a"},
        {"GET", "EXAMPLE.com:8080", "/a", "example.com/a"},
        {"GET", "example.com", "/q/b", "example.com/{x}/b"},
        {"GET", "example.com", "/q", "/"},
        {"GET", "example.com", "/", "/{$}"},
        {"GET", "other.org", "/a", "GET /a"},
        {"GET", "[::1]", "/v6", "[::1]/v6"}, /* as Go: a port leaves "::1" */
        {"GET", "[::1]:8080", "/v6", "/"},
        {"GET", "", "/v6", "/"},
        {"GET", "", "/esc/a%20b", "/esc/a%20b"},
        {"GET", "", "/esc/a b", "/esc/a%20b"}, /* decoded by a lenient client */
        {"GET", "", "/esc/A/z", "/esc/%41/{w}"},
        {"GET", "", "/esc/%41/z", "/esc/%41/{w}"},
        {"GET", "", "/esc/x%2fy", "/esc/x%2Fy"},
        {"GET", "", "/esc/x/y", "/"},
        {"GET", "", "/a/b%2Fc", "/a/{x}"},
    };
    goc_http_mux *m = goc_http_mux_new();
    for (size_t i = 0; i < sizeof pats / sizeof pats[0]; i++)
        must_handle(m, pats[i]);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *got = route(m, cases[i].method, cases[i].host, cases[i].path);
        cr_expect_str_eq(got, cases[i].want, "%s %s%s: got \"%s\", want \"%s\"", cases[i].method,
                         cases[i].host, cases[i].path, got, cases[i].want);
    }
    goc_http_mux_free(m);
}

/* Lookups that end in the mux's own answers: the pattern they name. */
Test(mux, lookup_answers, .timeout = 10)
{
    goc_http_mux *m = goc_http_mux_new();
    must_handle(m, "/dir/");
    must_handle(m, "GET /only");
    cr_expect_str_eq(route(m, "GET", "", "/dir"), "/dir/");       /* 301 to /dir/ */
    cr_expect_str_eq(route(m, "GET", "", "/x/../dir/"), "/dir/"); /* 301 to the clean path */
    cr_expect_str_eq(route(m, "POST", "", "/only"), "");          /* 405 */
    cr_expect_str_eq(route(m, "GET", "", "/none"), "");           /* 404 */
    goc_http_request r = req("GET", "", "/dir/x");
    goc_http_handler h = goc_http_mux_lookup(m, &r, NULL);
    cr_expect(h.fn == nop);
    goc_http_mux_free(m);
}

/* ---- Go's routing tree cases ----------------------------------------------------------------- */

typedef struct rcase {
    const char *method, *host, *path, *want; /* want "": no pattern */
} rcase;

static void check_tree(const char *const *pats, size_t npats, const rcase *cases, size_t n)
{
    goc_http_mux *m = goc_http_mux_new();
    for (size_t i = 0; i < npats; i++)
        must_handle(m, pats[i]);
    for (size_t i = 0; i < n; i++) {
        const char *got = route(m, cases[i].method, cases[i].host, cases[i].path);
        cr_expect_str_eq(got, cases[i].want, "%s %s%s: got \"%s\", want \"%s\"", cases[i].method,
                         cases[i].host, cases[i].path, got, cases[i].want);
    }
    goc_http_mux_free(m);
}

#define CHECK_TREE(pats, cases)                                                                    \
    check_tree(pats, sizeof pats / sizeof pats[0], cases, sizeof cases / sizeof cases[0])

Test(mux, go_routing_cases, .timeout = 10)
{
    static const char *items[] = {"/item/",
                                  "POST /item/{user}",
                                  "GET /item/{user}",
                                  "/item/{user}",
                                  "/item/{user}/{id}",
                                  "/item/{user}/new",
                                  "/item/{$}",
                                  "POST alt.com/item/{user}",
                                  "GET /headwins",
                                  "HEAD /headwins",
                                  "/path/{p...}"};
    static const rcase item_cases[] = {
        {"GET", "", "/item/jba", "GET /item/{user}"},
        {"POST", "", "/item/jba", "POST /item/{user}"},
        {"HEAD", "", "/item/jba", "GET /item/{user}"},
        {"get", "", "/item/jba", "/item/{user}"}, /* methods are case-sensitive */
        {"POST", "", "/item/jba/17", "/item/{user}/{id}"},
        {"GET", "", "/item/jba/new", "/item/{user}/new"},
        {"GET", "", "/item/", "/item/{$}"},
        {"GET", "", "/item/jba/17/line2", "/item/"},
        {"POST", "alt.com", "/item/jba", "POST alt.com/item/{user}"},
        {"GET", "alt.com", "/item/jba", "GET /item/{user}"},
        {"GET", "", "/item", "/item/{$}"}, /* the redirect to /item/, which it serves */
        {"GET", "", "/headwins", "GET /headwins"},
        {"HEAD", "", "/headwins", "HEAD /headwins"},
        {"GET", "", "/path/to/file", "/path/{p...}"},
        {"GET", "", "/path/*", "/path/{p...}"},
    };
    CHECK_TREE(items, item_cases);

    /* {$} only with the trailing slash, {w} never with it, {w...} with both. */
    static const char *slashes[] = {"/a/b/{$}", "/a/b/{w}", "/a/b/{w...}"};
    static const rcase slash_cases[] = {
        {"GET", "", "/a/b", "/a/b/{$}"}, /* redirected to /a/b/ */
        {"GET", "", "/a/b/", "/a/b/{$}"},
        {"GET", "", "/a/b/c", "/a/b/{w}"},
        {"GET", "", "/a/b/c/d", "/a/b/{w...}"},
    };
    CHECK_TREE(slashes, slash_cases);
    static const char *dollar[] = {"/a/b/{$}"};
    static const rcase dollar_cases[] = {
        {"GET", "", "/a/b/c", ""},
        {"GET", "", "/a/b/c/d", ""},
    };
    CHECK_TREE(dollar, dollar_cases);
    static const char *single[] = {"/a/b/{w}"};
    static const rcase single_cases[] = {
        {"GET", "", "/a/b", ""},
        {"GET", "", "/a/b/", ""},
        {"GET", "", "/a/b/c/d", ""},
    };
    CHECK_TREE(single, single_cases);

    /* CONNECT paths are not cleaned: empty segments, matched by a wildcard
     * and by an empty literal only. */
    static const char *connect[] = {"CONNECT /a//b", "/a/{x}/b", "/{x}/{y...}"};
    static const rcase connect_cases[] = {
        {"CONNECT", "", "/a//b", "CONNECT /a//b"}, {"CONNECT", "", "/a/z/b", "/a/{x}/b"},
        {"CONNECT", "", "//c", "/{x}/{y...}"},     {"CONNECT", "", "/a//c", "/{x}/{y...}"},
        {"GET", "", "/a//c", "/{x}/{y...}"}, /* the redirect to /a/c */
    };
    CHECK_TREE(connect, connect_cases);
    static const char *connect2[] = {"/a/{x}/b", "/{x}/", "/{x}/{y}/{z}"};
    static const rcase connect2_cases[] = {
        {"CONNECT", "", "/a//b", "/a/{x}/b"},
        {"CONNECT", "", "//", "/{x}/"},
        {"CONNECT", "", "///c", "/{x}/{y}/{z}"},
    };
    CHECK_TREE(connect2, connect2_cases);
}

/* ---- the default mux ------------------------------------------------------------------ */

Test(mux, default_mux, .timeout = 10)
{
    goc_http_mux *d = goc_http_default_mux();
    cr_assert_not_null(d);
    cr_assert_eq(goc_http_default_mux(), d);
    cr_assert_eq(goc_http_handle_func("/default/{x}", nop, NULL), 0);
    cr_assert_eq(goc_http_handle("/default/{y}", (goc_http_handler){nop, NULL}),
                 GOC_EHTTP_PATTERN_CONFLICT);
    cr_expect_str_eq(route(d, "GET", "", "/default/z"), "/default/{x}");
}

/* ---- end to end: a server on loopback ------------------------------------------------------ */

typedef struct srv {
    goc_http_server *s;
    int lfd;
    char addr[64];
    goc_chan *done;
} srv;

static void serve_fn(void *arg)
{
    srv *v = arg;
    int rc = goc_http_server_serve(v->s, v->lfd);
    GO_CHECK(rc == GOC_EHTTP_SERVER_CLOSED, "serve: %s", goc_strerror(rc));
    goc_chan_close(v->done);
}

static bool srv_start(srv *v, goc_http_mux *m)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof sa;
    v->s = goc_http_server_new(goc_http_mux_handler(m), NULL);
    v->lfd = goc_listen("tcp", "127.0.0.1:0");
    GO_CHECK(v->s && v->lfd >= 0, "server: %s", goc_errmsg());
    if (!v->s || v->lfd < 0 || getsockname(v->lfd, (struct sockaddr *)&sa, &len) != 0)
        return false;
    snprintf(v->addr, sizeof v->addr, "127.0.0.1:%d", ntohs(sa.sin_port));
    v->done = goc_chan_make(0, 0);
    GO_SPAWN(serve_fn, v);
    return true;
}

static void srv_stop(srv *v)
{
    goc_http_server_close(v->s);
    goc_chan_recv(v->done, NULL);
    goc_chan_release(v->done);
    goc_http_server_free(v->s);
}

/* One request on a connection of its own; the whole response in out. */
static size_t fetch(srv *v, const char *method, const char *target, const char *host, char *out,
                    size_t cap)
{
    char rq[8192];
    int n = snprintf(rq, sizeof rq, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n",
                     method, target, host);
    size_t got = 0;
    out[0] = '\0';
    int fd = goc_dial("tcp", v->addr, 2 * GOC_SECOND);
    GO_CHECK(fd >= 0, "dial %s: %s", v->addr, goc_errmsg());
    if (fd < 0)
        return 0;
    GO_CHECK(goc_write(fd, rq, (size_t)n) == n, "write: %s", goc_errmsg());
    for (;;) {
        ssize_t k = goc_read(fd, out + got, cap - 1 - got);
        if (k <= 0)
            break;
        got += (size_t)k;
    }
    out[got] = '\0';
    goc_close(fd);
    return got;
}

/* Prints what the handler saw: the pattern and the path values. */
static void show(goc_http_response_writer *w, goc_http_request *r, void *arg)
{
    (void)arg;
    static const char *names[] = {"id", "rest", "x", "y", "k"};
    if (strcmp(r->path, "/set") == 0)
        GO_CHECK(goc_http_set_path_value(r, "k", "v1") == 0 &&
                     goc_http_set_path_value(r, "k", "v2") == 0,
                 "set_path_value");
    goc_http_printf(w, "pattern=%s;", r->pattern);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *v = goc_http_path_value(r, names[i]);
        if (v)
            goc_http_printf(w, "%s=%s;", names[i], v);
    }
}

typedef struct e2e_case {
    const char *method, *target, *host;
    int status;
    const char *has; /* a part of the response (header or body) */
} e2e_case;

static const e2e_case e2e_cases[] = {
    {"GET", "/items/42", "h", 200, "pattern=GET /items/{id};id=42;"},
    {"HEAD", "/items/42", "h", 200, "Content-Length"},
    {"PUT", "/items/7", "h", 200, "pattern=PUT /items/{id};id=7;"},
    {"POST", "/items/42", "h", 405, "\r\nAllow: DELETE, GET, HEAD, PUT\r\n"},
    {"POST", "/m", "h", 405, "\r\nAllow: GET, HEAD\r\n"}, /* "GET /m/" matches "/m/" */
    {"GET", "/items/42/", "h", 404, "404 page not found"},
    {"GET", "/files/a/b%20c/", "h", 200, "pattern=/files/{rest...};rest=a/b c/;"},
    {"GET", "/files/", "h", 200, "rest=;"},
    {"GET", "/p/a%2Fb/q/c%3F", "h", 200, "pattern=/p/{x}/q/{y};x=a/b;y=c?;"},
    {"GET", "/dir?k=v", "h", 301, "\r\nLocation: /dir/?k=v\r\n"},
    {"POST", "/dir", "h", 301, "\r\nLocation: /dir/\r\n"},
    {"GET", "/dir/sub", "h", 200, "pattern=/dir/;"},
    {"GET", "/a/../dir/x?z", "h", 301, "\r\nLocation: /dir/x?z\r\n"},
    {"GET", "/dir//x", "h", 301, "\r\nLocation: /dir/x\r\n"},
    {"GET", "/dir/./x/.", "h", 301, "\r\nLocation: /dir/x\r\n"},
    {"GET", "/", "h", 200, "pattern=/{$};"},
    {"GET", "/nothing", "h", 404, "404 page not found"},
    {"GET", "/host", "Example.COM:8080", 200, "pattern=example.com/host;"},
    {"GET", "/host", "other.org", 200, "pattern=/host;"},
    {"GET", "/set", "h", 200, "pattern=/set;k=v2;"},
    {"OPTIONS", "*", "h", 400, "Connection: close"},
    {"DELETE", "/foo/bar", "a.com", 405, "\r\nAllow: GET, HEAD, POST\r\n"}, /* both hosts' */
    {"DELETE", "/foo/bar", "h", 405, "\r\nAllow: POST\r\n"},
};

static int main_e2e(void *arg)
{
    (void)arg;
    static const char *pats[] = {"/{$}",
                                 "GET /items/{id}",
                                 "PUT /items/{id}",
                                 "DELETE /items/{id}",
                                 "/files/{rest...}",
                                 "/dir/",
                                 "/p/{x}/q/{y}",
                                 "example.com/host",
                                 "/host",
                                 "GET /m/",
                                 "GET a.com/",
                                 "POST /foo/{x}",
                                 "/set"};
    goc_http_mux *m = goc_http_mux_new();
    for (size_t i = 0; i < sizeof pats / sizeof pats[0]; i++)
        GO_CHECK(goc_http_mux_handle_func(m, pats[i], show, NULL) == 0, "%s: %s", pats[i],
                 goc_errmsg());
    srv v;
    if (!srv_start(&v, m))
        return 1;
    static char out[8192];
    for (size_t i = 0; i < sizeof e2e_cases / sizeof e2e_cases[0]; i++) {
        const e2e_case *c = &e2e_cases[i];
        char status[32];
        snprintf(status, sizeof status, "HTTP/1.1 %d ", c->status);
        fetch(&v, c->method, c->target, c->host, out, sizeof out);
        GO_CHECK(strncmp(out, status, strlen(status)) == 0 && strstr(out, c->has),
                 "%s %s (Host %s): want %d and \"%s\", got:\n%s", c->method, c->target, c->host,
                 c->status, c->has, out);
    }
    srv_stop(&v);
    goc_http_mux_free(m);
    return 0;
}

Test(mux, end_to_end, .timeout = 20)
{
    cr_assert_eq(run_main(main_e2e, NULL), 0);
}

/* ---- registration while lookups run -----------------------------------------------------------
 */

#define CONC_REGISTRARS 3
#define CONC_PER        40

typedef struct conc {
    goc_http_mux *m;
    atomic_int stop;
    atomic_long lookups;
    goc_waitgroup registered, looked; /* registrars (and the thread), lookers */
} conc;

typedef struct conc_reg {
    conc *c;
    int id;
} conc_reg;

/* The pattern r gets, from any thread (no Criterion assert). */
static const char *route_any(goc_http_mux *m, const char *path)
{
    goc_http_request r = req("GET", "", path);
    const char *pat = NULL;
    goc_http_mux_lookup(m, &r, &pat);
    return pat ? pat : "(null)";
}

static void conc_register(conc_reg *g)
{
    char pat[64], path[64];
    for (int i = 0; i < CONC_PER; i++) {
        snprintf(pat, sizeof pat, "/r/%d/%d/{x}", g->id, i);
        int rc = goc_http_mux_handle_func(g->c->m, pat, nop, NULL);
        GO_CHECK(rc == 0, "%s: %s", pat, goc_errmsg());
        snprintf(path, sizeof path, "/r/%d/%d/z", g->id, i);
        const char *got = route_any(g->c->m, path);
        GO_CHECK(strcmp(got, pat) == 0, "%s: got %s", path, got);
        if (i % 8 == 0)
            goc_yield();
    }
}

static void conc_register_fn(void *arg)
{
    conc_register(arg);
    goc_waitgroup_done(&((conc_reg *)arg)->c->registered);
}

static void *conc_thread_fn(void *arg)
{
    conc_register(arg);
    goc_waitgroup_done(&((conc_reg *)arg)->c->registered); /* never blocks the goroutines */
    return NULL;
}

static void conc_lookup_fn(void *arg)
{
    conc *c = arg;
    while (!atomic_load_explicit(&c->stop, memory_order_relaxed)) {
        const char *got = route_any(c->m, "/fixed/abc");
        GO_CHECK(strcmp(got, "/fixed/{x}") == 0, "got %s", got);
        got = route_any(c->m, "/r/0/0/z");
        GO_CHECK(strcmp(got, "/r/0/0/{x}") == 0 || strcmp(got, "/") == 0, "got %s", got);
        atomic_fetch_add_explicit(&c->lookups, 1, memory_order_relaxed);
        goc_yield();
    }
    goc_waitgroup_done(&c->looked);
}

static int main_concurrent(void *arg)
{
    conc *c = arg;
    conc_reg regs[CONC_REGISTRARS + 1];
    goc_waitgroup_add(&c->looked, 2);
    goc_waitgroup_add(&c->registered, CONC_REGISTRARS + 1);
    GO_SPAWN(conc_lookup_fn, c);
    GO_SPAWN(conc_lookup_fn, c);
    for (int i = 0; i < CONC_REGISTRARS; i++) {
        regs[i] = (conc_reg){c, i};
        GO_SPAWN(conc_register_fn, &regs[i]);
    }
    regs[CONC_REGISTRARS] = (conc_reg){c, CONC_REGISTRARS}; /* a plain thread's */
    pthread_t t = start_thread(conc_thread_fn, &regs[CONC_REGISTRARS]);
    goc_waitgroup_wait(&c->registered);
    pthread_join(t, NULL); /* it has finished */
    while (atomic_load(&c->lookups) < 100)
        goc_sleep(GOC_MILLISECOND);
    atomic_store(&c->stop, 1);
    goc_waitgroup_wait(&c->looked);
    char path[64], want[64];
    for (int g = 0; g <= CONC_REGISTRARS; g++) {
        for (int i = 0; i < CONC_PER; i++) {
            snprintf(path, sizeof path, "/r/%d/%d/q", g, i);
            snprintf(want, sizeof want, "/r/%d/%d/{x}", g, i);
            const char *got = route_any(c->m, path);
            GO_CHECK(strcmp(got, want) == 0, "%s: got %s", path, got);
        }
    }
    return 0;
}

Test(mux, register_while_serving, .timeout = 30)
{
    conc c = {.m = goc_http_mux_new()};
    must_handle(c.m, "/");
    must_handle(c.m, "/fixed/{x}");
    cr_assert_eq(run_main(main_concurrent, &c), 0);
    goc_http_mux_free(c.m);
}

/* ---- how long a lookup takes (printed, not asserted) ---------------------------------------- */

Test(mux, bench_lookup, .timeout = 30)
{
    static const char *fixed[] = {"/",
                                  "/{$}",
                                  "/favicon.ico",
                                  "/robots.txt",
                                  "/static/",
                                  "/healthz",
                                  "GET /api/v1/users",
                                  "POST /api/v1/users",
                                  "GET /api/v1/users/{id}",
                                  "PUT /api/v1/users/{id}",
                                  "DELETE /api/v1/users/{id}",
                                  "GET /api/v1/users/{id}/posts",
                                  "GET /api/v1/users/{id}/posts/{post}",
                                  "GET /api/v1/search",
                                  "/files/{path...}",
                                  "example.com/",
                                  "example.com/about"};
    goc_http_mux *m = goc_http_mux_new();
    size_t n = sizeof fixed / sizeof fixed[0];
    for (size_t i = 0; i < n; i++)
        must_handle(m, fixed[i]);
    char pat[64];
    for (size_t i = n; i < 50; i++) {
        snprintf(pat, sizeof pat, i % 2 ? "GET /svc%zu/{id}" : "/page%zu", i);
        must_handle(m, pat);
    }
    static const char *paths[] = {"/api/v1/users/42/posts/7",
                                  "/",
                                  "/static/css/site.css",
                                  "/page20",
                                  "/svc21/abc",
                                  "/api/v1/users",
                                  "/files/a/b/c.txt",
                                  "/nope/nope"};
    goc_http_request rs[8];
    for (int i = 0; i < 8; i++)
        rs[i] = req("GET", "localhost:8080", paths[i]);
    long iters = test_scale(400000);
    const char *p = NULL;
    int64_t t0 = goc_now(), c0 = test_cpu_ns();
    for (long i = 0; i < iters; i++)
        test_sink((unsigned)(uintptr_t)goc_http_mux_lookup(m, &rs[i & 7], &p).fn);
    int64_t ns = goc_now() - t0, cpu = test_cpu_ns() - c0;
    fprintf(stderr, "mux: %.1f ns/lookup wall, %.1f ns CPU (50 patterns, %ld lookups)\n",
            (double)ns / (double)iters, (double)cpu / (double)iters, iters);
    for (int k = 0; k < 8; k++) { /* each path alone */
        c0 = test_cpu_ns();
        for (long i = 0; i < iters / 8; i++)
            test_sink((unsigned)(uintptr_t)goc_http_mux_lookup(m, &rs[k], &p).fn);
        cpu = test_cpu_ns() - c0;
        fprintf(stderr, "mux:   %-26s %6.1f ns CPU -> %s\n", paths[k],
                (double)cpu / (double)(iters / 8), p);
    }
    goc_http_mux_free(m);
}

/* ---- paths past the stack buffers --------------------------------------------------------- */

static void show_lengths(goc_http_response_writer *w, goc_http_request *r, void *arg)
{
    (void)arg;
    const char *x = goc_http_path_value(r, "x"), *rest = goc_http_path_value(r, "rest");
    goc_http_printf(w, "x=%s;rest=%zu;%s", x ? x : "-", rest ? strlen(rest) : 0,
                    rest && strstr(rest, "a/b") ? "slash" : "");
}

static int main_long(void *arg)
{
    (void)arg;
    char pat[256] = "/deep", target[4096] = "/deep", want[64];
    for (int i = 0; i < 20; i++) { /* deeper than the stack's 16 segments */
        snprintf(pat + strlen(pat), sizeof pat - strlen(pat), "/s%d", i);
        snprintf(target + strlen(target), sizeof target - strlen(target), "/s%d", i);
    }
    strcat(pat, "/{x}/{rest...}");
    strcat(target, "/v%41/a%2Fb");
    size_t pre = strlen("a/b");
    while (strlen(target) < 3000) { /* longer than the stack's buffer */
        strcat(target, "/%7Ezz");
        pre += 4;
    }
    goc_http_mux *m = goc_http_mux_new();
    GO_CHECK(goc_http_mux_handle_func(m, pat, show_lengths, NULL) == 0, "%s", goc_errmsg());
    srv v;
    if (!srv_start(&v, m))
        return 1;
    static char out[8192];
    fetch(&v, "GET", target, "h", out, sizeof out);
    snprintf(want, sizeof want, "x=vA;rest=%zu;slash", pre);
    GO_CHECK(strncmp(out, "HTTP/1.1 200 ", 13) == 0 && strstr(out, want), "want %s, got:\n%s", want,
             out);
    strcat(target, "/../x/./y"); /* unclean: the redirect's Location is as long */
    fetch(&v, "GET", target, "h", out, sizeof out);
    GO_CHECK(strncmp(out, "HTTP/1.1 301 ", 13) == 0 && strstr(out, "%7Ezz/x/y\r\n"), "got:\n%s",
             out);
    srv_stop(&v);
    goc_http_mux_free(m);
    return 0;
}

Test(mux, long_and_deep_paths, .timeout = 20)
{
    cr_assert_eq(run_main(main_long, NULL), 0);
}
