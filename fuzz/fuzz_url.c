/*
 * fuzz_url.c — libFuzzer target: net/url (url.c, url_escape.c,
 * url_values.c). The input (cut at its first NUL) is:
 *
 *   parsed     goc_url_parse: accepted → String gives a string that parses
 *              again, to a URL whose String is the same (parse → string →
 *              parse is stable), and whose decoded parts (scheme, opaque,
 *              user, password, host, path, query, fragment, force_query)
 *              equal the first parse's; rejected → -EINVAL with a message
 *              starting "parse \"". RequestURI, EscapedPath and Hostname
 *              are computed on every accepted URL (the sanitizers watch);
 *   resolved   against a fixed base with a deep path: the result's String
 *              parses again to the same String;
 *   requested  goc_url_parse_request_uri: an accepted URL without '#'
 *              and without a path starting "//" round-trips too;
 *   escaped    query and path escaping decode back to the input;
 *   a query    goc_url_parse_query always hands back the pairs, and
 *              Encode's output parses without error.
 * All memory goes back (LeakSanitizer).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <goc/http.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what, const char *in)
{
    fprintf(stderr, "fuzz_url: invariant broken: %s (input \"%s\")\n", what, in);
    abort();
}

static bool eq(const char *a, const char *b)
{
    return (a == NULL) == (b == NULL) && (!a || strcmp(a, b) == 0);
}

/* The decoded parts of a and b agree (b's path may have gained the "./"
 * String puts before a first segment holding ':', RFC 3986 4.2). */
static bool same_url(const goc_url *a, const goc_url *b)
{
    bool path = eq(a->path, b->path) ||
                (strncmp(b->path, "./", 2) == 0 && strcmp(b->path + 2, a->path) == 0);
    return eq(a->scheme, b->scheme) && eq(a->opaque, b->opaque) && eq(a->user, b->user) &&
           eq(a->password, b->password) && eq(a->host, b->host) && path &&
           eq(a->raw_query, b->raw_query) && eq(a->fragment, b->fragment) &&
           a->force_query == b->force_query;
}

/* u's String parses to a URL with the same String (and, if parts, the
 * same parts). */
static void round_trip(const goc_url *u, const char *in, bool parts)
{
    char *s = goc_url_string(u), *s2 = NULL;
    goc_url *v = NULL;
    if (!s)
        return;
    /* A URL with neither scheme nor authority whose path begins "//" (a
     * "%2F/x" with its raw form dropped) has no String that reads back
     * as a path: Go's has the same hole. */
    if (!u->scheme[0] && !u->host[0] && !u->user && strncmp(s, "//", 2) == 0 &&
        strncmp(s, "///", 3) != 0) {
        free(s);
        return;
    }
    int rc = goc_url_parse(s, &v);
    if (rc == -ENOMEM)
        goto out;
    if (rc != 0)
        fail("String does not parse", in);
    if (parts && !same_url(u, v))
        fail("String parses to other parts", in);
    s2 = goc_url_string(v);
    if (s2 && strcmp(s, s2) != 0)
        fail("parse -> String -> parse -> String differs", in);
out:
    free(s);
    free(s2);
    goc_url_free(v);
}

static void check_parse(const char *in)
{
    goc_url *u;
    int rc = goc_url_parse(in, &u);
    if (rc == -EINVAL && strncmp(goc_errmsg(), "parse \"", 7) != 0)
        fail("an error without Go's \"parse\" prefix", in);
    if (rc != 0)
        return;
    round_trip(u, in, true);
    char host[512];
    free(goc_url_request_uri(u));
    free(goc_url_escaped_path(u));
    goc_url_hostname(u, host, sizeof host);
    goc_url_port(u);
    goc_url *r;
    static goc_url base = {.scheme = "http", .host = "a", .path = "/b/c/d;p", .raw_query = "q"};
    if (goc_url_resolve(&base, in, &r) == 0) {
        round_trip(r, in, false);
        goc_url_free(r);
    }
    goc_url_free(u);
    if (goc_url_parse_request_uri(in, &u) == 0) {
        /* a '#' stays in a request URI's path or query, and a path "//x"
         * has no authority there; String keeps both as they are, where
         * Parse reads a fragment and an authority (Go's too) */
        if (!strchr(in, '#') && strncmp(u->path, "//", 2) != 0)
            round_trip(u, in, false);
        goc_url_free(u);
    }
}

static void check_escape(const char *in)
{
    char *q = goc_url_query_escape(in), *p = goc_url_path_escape(in), *b1 = NULL, *b2 = NULL;
    if (q && goc_url_query_unescape(q, &b1) == 0 && strcmp(b1, in) != 0)
        fail("QueryUnescape(QueryEscape(s)) != s", in);
    if (p && goc_url_path_unescape(p, &b2) == 0 && strcmp(b2, in) != 0)
        fail("PathUnescape(PathEscape(s)) != s", in);
    free(q);
    free(p);
    free(b1);
    free(b2);
}

static void check_query(const char *in)
{
    goc_url_values *v, *w;
    if (goc_url_parse_query(in, &v) == -ENOMEM)
        return;
    char *e = goc_url_values_encode(v);
    if (e && goc_url_parse_query(e, &w) != 0)
        fail("Encode's output does not parse", in);
    if (e && goc_url_values_len(w) != goc_url_values_len(v))
        fail("Encode's output has other pairs", in);
    if (e)
        goc_url_values_free(w);
    free(e);
    goc_url_values_free(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *in = malloc(size + 1);
    if (!in)
        return 0;
    memcpy(in, data, size);
    in[size] = '\0';
    check_parse(in);
    check_escape(in);
    check_query(in);
    free(in);
    return 0;
}
