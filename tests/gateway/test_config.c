/*
 * test_config.c — the gateway's configuration reader: the minimal file and
 * its defaults, every key of gateway.example.yaml landing in its field,
 * every error with its exact "FILE: line N: reason", libyaml's syntax
 * errors, route patterns checked as goc's mux checks them, durations and
 * sizes, reading files (and the errors of reading), and every prefix of
 * the example file (a clean error or a config, never a crash or a leak:
 * the ASan build frees each partial config).
 *
 * Parsing needs no runtime (the mux it uses to check patterns works from
 * any thread); one test loads from a goroutine inside goc_run as well.
 *
 * The allocation-failure sweep replaces malloc, calloc, realloc and free
 * for the whole executable (glibc supports that; libyaml's allocations go
 * through them too) instead of the --wrap of tests/chan/test_alloc_fail.c,
 * which would miss libyaml. They forward to glibc's own and, while armed,
 * fail the k-th allocation and count allocations against frees, so the
 * sweep checks for leaks without ASan. Not under ASan or TSan (their
 * allocators must see every call) nor valgrind (which replaces them
 * again): there the sweep skips.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gateway.h"
#include "runtime/util.h"

static const char minimal[] =
    "listen: \"127.0.0.1:8080\"\n"
    "admin: \"127.0.0.1:9090\"          # dashboard and /metrics\n"
    "upstreams:\n"
    "  - name: app\n"
    "    balance: round_robin         # also least_conn, p2c, hash\n"
    "    targets: [\"127.0.0.1:9001\", \"127.0.0.1:9002\", \"127.0.0.1:9003\"]\n"
    "    health_check: { path: \"/healthz\", interval: \"1s\" }\n"
    "routes:\n"
    "  - match: \"/\"                   # a goc mux pattern: [METHOD ][HOST]/path\n"
    "    upstream: app\n"
    "    timeout: \"5s\"\n"
    "    retries: 2\n";

/* Parse s as "t.yaml": the config, or NULL with the message in err. */
static gw_config *parse(const char *s, char *err, size_t errlen)
{
    gw_config *c = (gw_config *)1;
    int rc = gw_config_parse("t.yaml", s, strlen(s), &c, err, errlen);
    cr_assert(rc == 0 || c == NULL, "a failed parse left *out set");
    cr_assert(rc <= 0);
    return c;
}

static gw_config *must_parse(const char *s)
{
    char err[512];
    gw_config *c = parse(s, err, sizeof err);
    cr_assert_not_null(c, "%s", err);
    return c;
}

Test(config, minimal_file, .timeout = 10)
{
    gw_config *c = must_parse(minimal);
    cr_assert_str_eq(c->path, "t.yaml");
    cr_assert_str_eq(c->listen, "127.0.0.1:8080");
    cr_assert_str_eq(c->admin, "127.0.0.1:9090");
    cr_assert_eq(c->nupstreams, 1);
    gw_upstream_cfg *u = &c->upstreams[0];
    cr_assert_str_eq(u->name, "app");
    cr_assert_eq(u->line, 4);
    cr_assert_eq(u->balance, GOC_BALANCE_ROUND_ROBIN);
    cr_assert_eq(u->ntargets, 3);
    cr_assert_str_eq(u->targets[0].addr, "127.0.0.1:9001");
    cr_assert_str_eq(u->targets[2].addr, "127.0.0.1:9003");
    cr_assert_eq(u->targets[1].weight, 1);
    cr_assert_str_eq(u->health.path, "/healthz");
    cr_assert_eq(u->health.interval, GOC_SECOND);
    cr_assert_eq(u->health.timeout, GOC_SECOND, "min(interval, 2s)");
    cr_assert_eq(c->nroutes, 1);
    gw_route_cfg *r = &c->routes[0];
    cr_assert_str_eq(r->match, "/");
    cr_assert_eq(r->line, 9);
    cr_assert_str_eq(r->upstream, "app");
    cr_assert_eq(r->timeout, 5 * GOC_SECOND);
    cr_assert_eq(r->retries, 2);
    gw_config_free(c);
}

Test(config, defaults, .timeout = 10)
{
    gw_config *c = must_parse("listen: \":8080\"\n"
                              "upstreams:\n"
                              "  - name: a\n"
                              "    targets: [\"h:1\"]\n"
                              "routes:\n"
                              "  - {match: \"/\", upstream: a}\n");
    cr_assert_str_eq(c->listen, ":8080");
    cr_assert_null(c->admin);
    cr_assert_null(c->tls_cert);
    cr_assert_null(c->tls_key);
    cr_assert_null(c->access_log);
    cr_assert_eq(c->cache_bytes, 64u << 20);
    cr_assert_eq(c->cache_ttl, 0);
    cr_assert_float_eq(c->retry_budget, 0.2, 1e-12);
    cr_assert_eq(c->retry_min_per_sec, 10);
    cr_assert_eq(c->shutdown_timeout, 30 * GOC_SECOND);
    cr_assert_eq(c->netcd, 0);
    cr_assert_null(c->etcd_endpoints);
    cr_assert_str_eq(c->etcd_prefix, "/goc-gateway/");

    gw_upstream_cfg *u = &c->upstreams[0];
    cr_assert_eq(u->balance, GOC_BALANCE_ROUND_ROBIN);
    cr_assert_str_eq(u->hash_key, "ip");
    cr_assert_eq(u->targets[0].weight, 1);
    cr_assert(!u->tls && !u->tls_insecure && !u->from_etcd);
    cr_assert_null(u->health.path);
    cr_assert_eq(u->health.interval, 5 * GOC_SECOND);
    cr_assert_eq(u->health.timeout, 2 * GOC_SECOND);
    cr_assert_eq(u->health.expect_status, 0);
    cr_assert_eq(u->health.rise, 2);
    cr_assert_eq(u->health.fall, 2);
    cr_assert_eq(u->eject_5xx, 5);
    cr_assert_eq(u->eject_errors, 3);
    cr_assert_eq(u->eject_time, 10 * GOC_SECOND);
    cr_assert_eq(u->eject_max, 300 * GOC_SECOND);
    cr_assert_eq(u->breaker_min, 20);
    cr_assert_float_eq(u->breaker_ratio, 0.5, 1e-12);
    cr_assert_eq(u->breaker_window, 10 * GOC_SECOND);
    cr_assert_eq(u->breaker_open, 5 * GOC_SECOND);
    cr_assert_eq(u->breaker_probes, 3);
    cr_assert_eq(u->max_inflight, 1024);
    cr_assert_eq(u->max_queue, 1024);
    cr_assert_eq(u->queue_timeout, GOC_SECOND);

    gw_route_cfg *r = &c->routes[0];
    cr_assert_eq(r->nheaders, 0);
    cr_assert_null(r->headers);
    cr_assert_null(r->strip_prefix);
    cr_assert_null(r->rewrite_prefix);
    cr_assert_eq(r->timeout, 30 * GOC_SECOND);
    cr_assert_eq(r->retries, 1);
    cr_assert(!r->cache);
    cr_assert_eq(r->rate, 0);
    cr_assert_eq(r->burst, 0);
    cr_assert_str_eq(r->rate_key, "ip");
    gw_config_free(c);
}

/* The example file next to the sources: tests/gateway/ -> gateway/. */
static void example_path(char *buf, size_t len)
{
    snprintf(buf, len, "%s", __FILE__);
    char *p = strstr(buf, "tests/gateway/test_config.c");
    cr_assert_not_null(p, "__FILE__ is %s", __FILE__);
    snprintf(p, len - (size_t)(p - buf), "gateway/gateway.example.yaml");
}

static void check_example(gw_config *c)
{
    cr_assert_str_eq(c->listen, "127.0.0.1:8080");
    cr_assert_str_eq(c->admin, "127.0.0.1:9090");
    cr_assert_str_eq(c->tls_cert, "/etc/gateway/cert.pem");
    cr_assert_str_eq(c->tls_key, "/etc/gateway/key.pem");
    cr_assert_str_eq(c->access_log, "/var/log/gateway/access.log");
    cr_assert_eq(c->cache_bytes, 64u << 20);
    cr_assert_eq(c->cache_ttl, 10 * GOC_SECOND);
    cr_assert_float_eq(c->retry_budget, 0.2, 1e-12);
    cr_assert_eq(c->retry_min_per_sec, 10);
    cr_assert_eq(c->shutdown_timeout, 30 * GOC_SECOND);
    cr_assert_eq(c->netcd, 2);
    cr_assert_str_eq(c->etcd_endpoints[0], "http://127.0.0.1:2379");
    cr_assert_str_eq(c->etcd_endpoints[1], "http://127.0.0.1:22379");
    cr_assert_str_eq(c->etcd_prefix, "/goc-gateway/");

    cr_assert_eq(c->nupstreams, 3);
    gw_upstream_cfg *u = &c->upstreams[0];
    cr_assert_str_eq(u->name, "app");
    cr_assert_eq(u->balance, GOC_BALANCE_ROUND_ROBIN);
    cr_assert_eq(u->ntargets, 2);
    cr_assert_str_eq(u->targets[0].addr, "127.0.0.1:9001");
    cr_assert_eq(u->targets[0].weight, 1);
    cr_assert_str_eq(u->targets[1].addr, "127.0.0.1:9002");
    cr_assert_eq(u->targets[1].weight, 3);
    cr_assert_str_eq(u->health.path, "/healthz");
    cr_assert_eq(u->health.interval, GOC_SECOND);
    cr_assert_eq(u->health.timeout, 500 * GOC_MILLISECOND);
    cr_assert_eq(u->health.expect_status, 200);
    cr_assert_eq(u->health.rise, 2);
    cr_assert_eq(u->health.fall, 3);
    cr_assert_eq(u->eject_5xx, 5);
    cr_assert_eq(u->eject_errors, 3);
    cr_assert_eq(u->eject_time, 10 * GOC_SECOND);
    cr_assert_eq(u->eject_max, 5 * GOC_MINUTE);
    cr_assert_eq(u->breaker_min, 20);
    cr_assert_float_eq(u->breaker_ratio, 0.5, 1e-12);
    cr_assert_eq(u->breaker_window, 10 * GOC_SECOND);
    cr_assert_eq(u->breaker_open, 5 * GOC_SECOND);
    cr_assert_eq(u->breaker_probes, 3);
    cr_assert_eq(u->max_inflight, 512);
    cr_assert_eq(u->max_queue, 256);
    cr_assert_eq(u->queue_timeout, 500 * GOC_MILLISECOND);
    cr_assert(!u->tls && !u->from_etcd);

    u = &c->upstreams[1];
    cr_assert_str_eq(u->name, "api");
    cr_assert_eq(u->balance, GOC_BALANCE_HASH);
    cr_assert_str_eq(u->hash_key, "header:X-User");
    cr_assert(u->tls && !u->tls_insecure);
    cr_assert_eq(u->ntargets, 2);
    cr_assert_str_eq(u->targets[1].addr, "10.0.0.2:8443");
    cr_assert_eq(u->breaker_min, 0, "circuit_breaker: off");

    u = &c->upstreams[2];
    cr_assert_str_eq(u->name, "dynamic");
    cr_assert_eq(u->balance, GOC_BALANCE_LEAST_CONN);
    cr_assert(u->from_etcd);
    cr_assert_eq(u->ntargets, 0);
    cr_assert_null(u->targets);

    cr_assert_eq(c->nroutes, 4);
    gw_route_cfg *r = &c->routes[0];
    cr_assert_str_eq(r->match, "GET /api/v1/users/{id}");
    cr_assert_str_eq(r->upstream, "api");
    cr_assert_eq(r->nheaders, 2);
    cr_assert_str_eq(r->headers[0].name, "X-Canary");
    cr_assert_str_eq(r->headers[0].value, "1");
    cr_assert_str_eq(r->headers[1].name, "Authorization");
    cr_assert_null(r->headers[1].value, "true: present");
    cr_assert_str_eq(r->strip_prefix, "/api");
    cr_assert_str_eq(r->rewrite_prefix, "/internal");
    cr_assert_eq(r->timeout, 2 * GOC_SECOND);
    cr_assert_eq(r->retries, 0);
    cr_assert(!r->cache);
    cr_assert_float_eq(r->rate, 100, 1e-12);
    cr_assert_eq(r->burst, 200);
    cr_assert_str_eq(r->rate_key, "header:X-User");
    r = &c->routes[1];
    cr_assert_str_eq(r->match, "GET /api/v1/users/{id}");
    cr_assert_str_eq(r->upstream, "app");
    cr_assert(r->cache);
    cr_assert_eq(c->routes[2].upstream[0], 'd');
    cr_assert_str_eq(c->routes[3].match, "/");
    cr_assert_eq(c->routes[3].retries, 2);
}

Test(config, example_file_every_key, .timeout = 10)
{
    char path[4096], err[512];
    example_path(path, sizeof path);
    gw_config *c = NULL;
    int rc = gw_config_load(path, &c, err, sizeof err);
    cr_assert_eq(rc, 0, "%s", err);
    cr_assert_str_eq(c->path, path);
    check_example(c);
    gw_config_free(c);
}

/* Every byte prefix of the example: a config or one "line N" error, and
 * under ASan no leak from the partial configs freed on the way. */
Test(config, every_prefix_of_the_example, .timeout = 120)
{
    char path[4096], err[512];
    example_path(path, sizeof path);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f);
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    size_t ok = 0;
    for (size_t i = 0; i <= n; i++) {
        gw_config *c = NULL;
        int rc = gw_config_parse("p.yaml", buf, i, &c, err, sizeof err);
        if (rc == 0) {
            ok++;
            cr_assert_not_null(c->listen);
            gw_config_free(c);
            continue;
        }
        cr_assert_eq(rc, -EINVAL, "prefix %zu: %d %s", i, rc, err);
        cr_assert_null(c);
        cr_assert(!strncmp(err, "p.yaml: line ", 13), "prefix %zu: %s", i, err);
        cr_assert_null(strchr(err, '\n'), "one line: %s", err);
    }
    cr_assert_gt(ok, 0);
}

static int load_main(void *arg)
{
    char err[512];
    gw_config *c = NULL;
    int rc = gw_config_load(arg, &c, err, sizeof err);
    GO_CHECK(rc == 0, "%s", err);
    if (rc == 0) {
        GO_CHECK(c->nroutes == 4 && c->nupstreams == 3, "%zu routes", c->nroutes);
        gw_config_free(c);
    }
    return 0;
}

Test(config, load_inside_goc_run, .timeout = 30)
{
    static char path[4096];
    example_path(path, sizeof path);
    cr_assert_eq(goc_run(load_main, path), 0);
    GO_CHECK_REPORT();
}

/* ---- errors: the first one, on its line --------------------------------- */

#define UP "upstreams:\n  - name: app\n    targets: [\"h:1\"]\n" /* lines 2-4 after listen */

static const struct {
    const char *yaml, *err;
} errors[] = {
    {"listen: \":8080\"\nupstreams:\n  - name: app\n    targets: [\"h:1\"]\n"
     "    balance: round_robbin\n",
     "t.yaml: line 5: unknown balance \"round_robbin\" (expected round_robin, least_conn, p2c or "
     "hash)"},
    {"listen: \":8080\"\nadmin: \":9090\"\nupstream:\n  - name: app\n",
     "t.yaml: line 3: unknown key \"upstream\" (did you mean \"upstreams\"?)"},
    {"listen: \":8080\"\nupstreams:\n  - name: app\n    targets:\n      - \"h:1\"\nroutes:\n"
     "  - match: \"/\"\n    timeout: \"1s\"\n    upstream: ap\n",
     "t.yaml: line 9: route upstream \"ap\" is not defined (did you mean \"app\"?)"},
    {"listen: \":8080\"\n" UP "routes:\n  - {match: \"/\", upstream: zzz}\n",
     "t.yaml: line 6: route upstream \"zzz\" is not defined"},
    {"listen: \":8080\"\nupstreams:\n  - name: app\n    targets: [\"h:1\"]\n    health_check:\n"
     "      path: /healthz\n      interval: 1x\n",
     "t.yaml: line 7: bad duration \"1x\" (expected e.g. \"500ms\", \"1.5s\", \"1h30m\")"},
    {"# the gateway\nlisten: \"127.0.0.1\"\n",
     "t.yaml: line 2: bad address \"127.0.0.1\" (expected host:port)"},
    {"listen: \"http://127.0.0.1:80\"\n",
     "t.yaml: line 1: bad address \"http://127.0.0.1:80\" (expected host:port, without a scheme)"},
    {"listen: \":8080\"\nadmin: \"::1:9090\"\n",
     "t.yaml: line 2: bad address \"::1:9090\" (expected host:port; an IPv6 host goes in "
     "brackets)"},
    {"listen: \"[::1]:65536\"\n",
     "t.yaml: line 1: bad address \"[::1]:65536\" (port out of range 0..65535)"},
    {"listen: \":8080\"\nupstreams:\n  - name: app\n    targets: [\"h:1\"]\n  - name: app\n"
     "    targets: [\"h:2\"]\n",
     "t.yaml: line 5: upstream \"app\" defined twice (first at line 3)"},
    {"listen: \":8080\"\nupstreams:\n  - name: app\n    targets:\n      - \"h:1\"\n"
     "      - {addr: \"h:2\", weight: 2}\n      - \"h:1\"\n",
     "t.yaml: line 7: target \"h:1\" repeated (first at line 5)"},
    {"listen: \":8080\"\nupstreams:\n  - name: app\n    targets: [\"h:1\", \"h:2\",\n"
     "              \"h:2\"]\n",
     "t.yaml: line 5: target \"h:2\" repeated (first at line 4)"},
    {"listen: \":8080\"\nupstreams:\n  - name: app\n    targets:\n      - \"h:2\"\n      - "
     "\"h:1\"\n"
     "      - \"h:1\"\n      - \"h:2\"\n",
     "t.yaml: line 7: target \"h:1\" repeated (first at line 6)"},
    {"listen: \":8080\"\nupstreams:\n  - name: app\n    targets: [\":80\"]\n",
     "t.yaml: line 4: bad address \":80\" (expected host:port, with a host)"},
    {"listen: \":8080\"\nupstreams:\n  - name: app\n    targets: [\"h:0\"]\n",
     "t.yaml: line 4: bad address \"h:0\" (port out of range 1..65535)"},
    {"listen: \":8080\"\nupstreams:\n  - name: app\n    targets:\n      - addr: \"h:1\"\n"
     "        weight: 0\n",
     "t.yaml: line 6: weight 0 out of range (1..1000)"},
    {"listen: \":8080\"\nupstreams:\n  - name: app\n    targets: [{addr: \"h:1\", weight: 1001}]\n",
     "t.yaml: line 4: weight 1001 out of range (1..1000)"},
    {"listen: \":8080\"\nupstreams:\n  - name: app\n    targets: [{weight: 2}]\n",
     "t.yaml: line 4: target needs \"addr\""},
    {"listen: \":8080\"\nupstreams:\n  - name: app\n    targets: \"h:1\"\n",
     "t.yaml: line 4: targets must be a list"},
    {"listen: \":8080\"\nupstreams:\n  - name: app\n    targets: []\n",
     "t.yaml: line 4: targets must not be empty"},
    {"listen: \":8080\"\nupstreams:\n  - name: app\n    targets: [[\"h:1\"]]\n",
     "t.yaml: line 4: a target must be \"host:port\" or {addr, weight}"},
    {"listen: \":8080\"\nupstreams: {name: app}\n", "t.yaml: line 2: upstreams must be a list"},
    {"listen: \":8080\"\nupstreams: [app]\n", "t.yaml: line 2: an upstream must be a mapping"},
    {"listen: [\":8080\"]\n", "t.yaml: line 1: listen must be a string"},
    {"listen: \"\"\n", "t.yaml: line 1: listen must not be empty"},
    {"listen: \":1\"\nadmin: \"a\\0b:1\"\n", "t.yaml: line 2: admin contains a NUL byte"},
    {"listen: \":1\"\nadmin: \"a\\tb:1\"\n",
     "t.yaml: line 2: bad address \"a\\x09b:1\" (expected host:port)"},
    {"- listen\n", "t.yaml: line 1: the top level must be a mapping"},
    {"listen: \":8080\"\nupstreams:\n\n  - name: app\n    balance: p2c\n",
     "t.yaml: line 4: upstream needs \"targets\" (or targets_from: etcd)"},
    {"listen: \":8080\"\nupstreams:\n  - balance: p2c\n    targets: [\"h:1\"]\n",
     "t.yaml: line 3: upstream needs \"name\""},
    {"listen: \":8080\"\nupstreams:\n  - name: \"a b\"\n",
     "t.yaml: line 3: bad upstream name \"a b\" (letters, digits, \".\", \"_\" and \"-\")"},
    {"admin: \":9090\"\n", "t.yaml: line 1: the configuration needs \"listen\""},
    {"listen: \":8080\"\n" UP "routes:\n  - upstream: app\n",
     "t.yaml: line 6: route needs \"match\""},
    {"listen: \":8080\"\n" UP "routes:\n  - match: /\n",
     "t.yaml: line 6: route needs \"upstream\""},
    {"listen: \":8443\"\ntls:\n  cert: c.pem\n", "t.yaml: line 3: tls needs \"key\" with \"cert\""},
    {"listen: \":8443\"\ntls: {key: k.pem}\n", "t.yaml: line 2: tls needs \"cert\" with \"key\""},
    {"listen: \":8443\"\ntls: {}\n", "t.yaml: line 2: tls needs \"cert\" and \"key\""},
    {"listen: \":8080\"\n" UP "routes:\n  - {match: /, upstream: app, retries: 11}\n",
     "t.yaml: line 6: retries 11 out of range (0..10)"},
    {"listen: \":8080\"\n" UP "routes:\n  - {match: /, upstream: app, retries: two}\n",
     "t.yaml: line 6: retries must be an integer, not \"two\""},
    {"listen: \":8080\"\n" UP "routes:\n  - {match: /, upstream: app, retries: 1.5}\n",
     "t.yaml: line 6: retries must be an integer, not \"1.5\""},
    {"listen: \":8080\"\nretry_budget:\n  ratio: 1.5\n",
     "t.yaml: line 3: ratio 1.5 out of range (0..1)"},
    {"listen: \":8080\"\nretry_budget:\n  ratio: nan\n",
     "t.yaml: line 3: ratio must be a number, not \"nan\""},
    {"listen: \":8080\"\n" UP "    health_check: {path: /h, expect_status: 99}\n",
     "t.yaml: line 5: expect_status 99 out of range (100..599)"},
    {"listen: \":8080\"\n" UP "    health_check: {interval: 1s}\n",
     "t.yaml: line 5: health_check needs \"path\""},
    {"listen: \":8080\"\n" UP "    health_check: {path: healthz}\n",
     "t.yaml: line 5: path \"healthz\" must start with \"/\""},
    {"listen: \":8080\"\n" UP "    health_check: {path: /h, intervall: 1s}\n",
     "t.yaml: line 5: unknown key \"intervall\" (did you mean \"interval\"?)"},
    {"listen: \":8080\"\n" UP "    health_check: {path: /h, interval: 0s}\n",
     "t.yaml: line 5: interval \"0s\" out of range (> 0)"},
    {"listen: \":8080\"\n" UP "    health_check: {path: /h, interval: 5}\n",
     "t.yaml: line 5: bad duration \"5\" (expected e.g. \"500ms\", \"1.5s\", \"1h30m\")"},
    {"listen: \":8080\"\n" UP "routes:\n  - {match: /, upstream: app, colour: red}\n",
     "t.yaml: line 6: unknown key \"colour\" in route"},
    {"listen: \":8080\"\nlisten: \":8081\"\n",
     "t.yaml: line 2: duplicate key \"listen\" (first at line 1)"},
    {"listen: \":8080\"\n" UP "    tls: yes\n",
     "t.yaml: line 5: tls must be true or false, not \"yes\""},
    {"listen: \":8080\"\n" UP "    tls_insecure: true\n",
     "t.yaml: line 5: tls_insecure needs tls: true"},
    {"listen: \":8080\"\n" UP "    hash_key: path\n",
     "t.yaml: line 5: hash_key is only used with balance: hash"},
    {"listen: \":8080\"\n" UP "    balance: hash\n    hash_key: cookie\n",
     "t.yaml: line 6: bad hash_key \"cookie\" (expected ip, path or header:NAME)"},
    {"listen: \":8080\"\n" UP "    circuit_breaker: on\n",
     "t.yaml: line 5: circuit_breaker must be a mapping or off"},
    {"listen: \":8080\"\n" UP "    circuit_breaker: {failure_ratio: 0}\n",
     "t.yaml: line 5: failure_ratio 0 out of range (> 0 and <= 1)"},
    {"listen: \":8080\"\n" UP "    outlier: {base_ejection_time: 1m, max_ejection_time: 30s}\n",
     "t.yaml: line 5: outlier max_ejection_time is below base_ejection_time"},
    {"listen: \":8080\"\n" UP "    limits: {max_inflight: 0}\n",
     "t.yaml: line 5: max_inflight 0 out of range (1..1000000)"},
    {"listen: \":8080\"\n" UP "    targets_from: etcd\n",
     "t.yaml: line 5: targets_from: etcd needs \"etcd\" with its endpoints"},
    {"listen: \":8080\"\netcd: {endpoints: [\"e:2379\"]}\n" UP "    targets_from: etcd\n",
     "t.yaml: line 6: upstream \"app\" has both \"targets\" and \"targets_from\""},
    {"listen: \":8080\"\netcd: {endpoints: [\"e:2379\"]}\nupstreams:\n  - name: a\n"
     "    targets_from: consul\n",
     "t.yaml: line 5: bad targets_from \"consul\" (expected etcd)"},
    {"listen: \":8080\"\netcd: {prefix: /x/}\n", "t.yaml: line 2: etcd needs \"endpoints\""},
    {"listen: \":8080\"\netcd: {endpoints: [\"http://\"]}\n",
     "t.yaml: line 2: bad etcd endpoint \"http://\" (expected http://host:port)"},
    {"listen: \":8080\"\ncache: {max_bytes: 64XB}\n",
     "t.yaml: line 2: bad size \"64XB\" (expected e.g. \"64MiB\", \"10MB\" or a number of bytes)"},
    {"listen: \":8080\"\naccess_log: \"\"\n", "t.yaml: line 2: access_log must not be empty"},
    {"listen: \":8080\"\n" UP "routes:\n  - match: /\n    upstream: app\n    headers:\n"
     "      X-A: true\n      x-a: \"1\"\n",
     "t.yaml: line 10: header \"x-a\" repeated"},
    {"listen: \":8080\"\n" UP "routes:\n  - {match: /, upstream: app, headers: {X-A: false}}\n",
     "t.yaml: line 6: header \"X-A\": false is not supported (true: present)"},
    {"listen: \":8080\"\n" UP "routes:\n  - {match: /, upstream: app, headers: {\"X A\": x}}\n",
     "t.yaml: line 6: bad header name \"X A\""},
    {"listen: \":8080\"\n" UP "routes:\n  - {match: /, upstream: app, headers: {X-A: [1]}}\n",
     "t.yaml: line 6: header \"X-A\" must be a string or true"},
    {"listen: \":8080\"\n" UP "routes:\n  - {match: /, upstream: app, headers: [X-A]}\n",
     "t.yaml: line 6: headers must be a mapping"},
    {"listen: \":8080\"\n" UP "routes:\n  - match: /\n    upstream: app\n    rate_limit:\n"
     "      burst: 5\n",
     "t.yaml: line 9: rate_limit needs \"rate\""},
    {"listen: \":8080\"\n" UP "routes:\n  - {match: /, upstream: app, rate_limit: {rate: 1, key: "
     "path}}\n",
     "t.yaml: line 6: bad key \"path\" (expected ip, or header:NAME)"},
    {"listen: \":8080\"\n" UP "routes:\n  - {match: /, upstream: app, strip_prefix: api}\n",
     "t.yaml: line 6: strip_prefix \"api\" must start with \"/\""},
    /* route patterns, checked by goc's mux */
    {"listen: \":8080\"\n" UP "routes:\n  - match: /a\n    upstream: app\n  - upstream: app\n"
     "    match: \"/{x\"\n",
     "t.yaml: line 9: bad route match \"/{x\" (parsing \"/{x\": at offset 1: bad wildcard segment "
     "(must "
     "end with '}'))"},
    {"listen: \":8080\"\n" UP "routes:\n  - {match: \"/a/{x}\", upstream: app}\n"
     "  - {match: \"/b\", upstream: app}\n  - {match: \"/{y}/b\", upstream: app}\n",
     "t.yaml: line 8: route match \"/{y}/b\" conflicts with the route at line 6 (pattern "
     "\"/{y}/b\" conflicts with pattern \"/a/{x}\": /{y}/b and /a/{x} both match some paths, "
     "like \"/a/b\". But neither is more specific than the other. /{y}/b matches \"/y/b\", but "
     "/a/{x} doesn't. /a/{x} matches \"/a/x\", but /{y}/b doesn't.)"},
    {"listen: \":8080\"\n" UP "routes:\n  - {match: /, upstream: app}\n"
     "  - {match: /, upstream: app, headers: {X-Canary: \"1\"}}\n",
     "t.yaml: line 7: route \"/\" never matches: the route at line 6 has the same match and no "
     "headers"},
    /* the document itself */
    {"", "t.yaml: line 1: empty file (expected at least \"listen\")"},
    {"# nothing\n\n", "t.yaml: line 1: empty file (expected at least \"listen\")"},
    {"---\n", "t.yaml: line 1: empty file (expected at least \"listen\")"},
    {"listen: \":8080\"\n" UP "routes:\n  - match: / upstream: app\n",
     "t.yaml: line 6: mapping values are not allowed in this context"},
    {"listen: \":8080\"\nupstreams:\n  - name: app\n   targets: []\n",
     "t.yaml: line 4: did not find expected '-' indicator (while parsing a block collection at "
     "line 3)"},
    {"listen: \":8080\"\n\tadmin: \":9090\"\n",
     "t.yaml: line 2: found character that cannot start any token (while scanning for the next "
     "token at line 2)"},
    {"listen: \":8080\"\nadmin: \"x\n", "t.yaml: line 3: found unexpected end of stream (while "
                                        "scanning a quoted scalar at line 2)"},
    {"listen: *a\n", "t.yaml: line 1: found undefined alias"},
    {"listen: \":8080\"\n---\nlisten: \":8081\"\n",
     "t.yaml: line 3: a second YAML document (the file must hold one)"},
    {"listen: \":8080\"\nadmin: \"\xff\"\n", "t.yaml: line 2: invalid leading UTF-8 octet"},
};

Test(config, errors_with_their_line, .timeout = 30)
{
    size_t bad = 0;
    for (size_t i = 0; i < sizeof errors / sizeof errors[0]; i++) {
        char err[512] = "";
        gw_config *c = parse(errors[i].yaml, err, sizeof err);
        if (!c && !strcmp(err, errors[i].err))
            continue;
        bad++;
        cr_log_error("case %zu:\ngot:  %s\nwant: %s\n--- input:\n%s", i, c ? "(parsed)" : err,
                     errors[i].err, errors[i].yaml);
        gw_config_free(c);
    }
    cr_assert_eq(bad, 0, "%zu of %zu cases", bad, sizeof errors / sizeof errors[0]);
}

/* ---- what is accepted ----------------------------------------------------- */

Test(config, accepted_forms, .timeout = 10)
{
    gw_config *c = must_parse("listen: \"[::1]:0\"\n"
                              "admin:                 # null: as if not given\n"
                              "access_log: off\n"
                              "shutdown_timeout: 0\n"
                              "cache: {max_bytes: 1000, default_ttl: ~}\n"
                              "upstreams:\n"
                              "  - name: a.b-c_1\n"
                              "    balance: p2c\n"
                              "    targets: [\"[::1]:80\", {addr: \"h:1\", weight: 1000}]\n"
                              "    circuit_breaker: off\n"
                              "    outlier: off\n"
                              "    health_check: {path: /h, interval: 10s}\n"
                              "  - name: h\n"
                              "    balance: hash\n"
                              "    hash_key: header:X-Tenant\n"
                              "    tls: True\n"
                              "    tls_insecure: true\n"
                              "    targets: [\"h:443\"]\n"
                              "routes:\n"
                              "  - match: /\n"
                              "    upstream: a.b-c_1\n"
                              "    headers: {X-A: true, X-B: \"true\", X-C: 2}\n"
                              "    rate_limit: {rate: 0.5}\n"
                              "  - match: /\n"
                              "    upstream: h\n"
                              "    rate_limit: {rate: 2.5, key: \"header:X-Key\"}\n");
    cr_assert_str_eq(c->listen, "[::1]:0");
    cr_assert_null(c->admin);
    cr_assert_null(c->access_log, "off");
    cr_assert_eq(c->shutdown_timeout, 0);
    cr_assert_eq(c->cache_bytes, 1000);
    gw_upstream_cfg *u = &c->upstreams[0];
    cr_assert_str_eq(u->name, "a.b-c_1");
    cr_assert_eq(u->balance, GOC_BALANCE_P2C);
    cr_assert_eq(u->targets[1].weight, 1000);
    cr_assert_eq(u->breaker_min, 0);
    cr_assert_eq(u->eject_5xx, 0);
    cr_assert_eq(u->eject_errors, 0);
    cr_assert_eq(u->health.timeout, 2 * GOC_SECOND, "min(10s, 2s)");
    u = &c->upstreams[1];
    cr_assert_str_eq(u->hash_key, "header:X-Tenant");
    cr_assert(u->tls && u->tls_insecure);
    gw_route_cfg *r = &c->routes[0];
    cr_assert_eq(r->nheaders, 3);
    cr_assert_null(r->headers[0].value, "plain true: present");
    cr_assert_str_eq(r->headers[1].value, "true", "quoted: the string");
    cr_assert_str_eq(r->headers[2].value, "2");
    cr_assert_eq(r->burst, 1, "max(1, rate)");
    cr_assert_str_eq(c->routes[1].rate_key, "header:X-Key");
    cr_assert_eq(c->routes[1].burst, 3, "rate rounded up");
    gw_config_free(c);

    c = must_parse("listen: \":1\"\naccess_log: \"-\"\netcd:\n  endpoints:\n"
                   "    - \"10.0.0.1:2379\"\n    - \"https://e.example:2379\"\n");
    cr_assert_str_eq(c->access_log, "-");
    cr_assert_str_eq(c->etcd_endpoints[0], "http://10.0.0.1:2379", "host:port means http");
    cr_assert_str_eq(c->etcd_endpoints[1], "https://e.example:2379");
    cr_assert_eq(c->nroutes, 0);
    cr_assert_eq(c->nupstreams, 0);
    gw_config_free(c);
}

/* Top-level keys in any order: routes before the upstreams they name. */
Test(config, any_order, .timeout = 10)
{
    gw_config *c = must_parse("routes:\n  - {upstream: u, match: /}\n"
                              "upstreams: [{targets: [\"h:1\"], name: u}]\n"
                              "listen: \":1\"\n");
    cr_assert_str_eq(c->routes[0].upstream, "u");
    gw_config_free(c);
}

/* Deep nesting is refused before libyaml's scanner turns quadratic on it
 * (100000 levels took 20 s). */
Test(config, deep_nesting, .timeout = 30)
{
    enum { depth = 100000 };
    char *s = malloc(2 * depth + 64), err[512];
    cr_assert_not_null(s);
    size_t n = (size_t)sprintf(s, "listen: \":1\"\nupstreams: ");
    memset(s + n, '[', depth);
    memset(s + n + depth, ']', depth);
    strcpy(s + n + 2 * depth, "\n");
    gw_config *c = parse(s, err, sizeof err);
    cr_assert_null(c);
    cr_assert_str_eq(err, "t.yaml: line 2: nested deeper than 64 levels");

    /* 63 levels inside the top mapping is the most there may be */
    n = (size_t)sprintf(s, "listen: \":1\"\nx: ");
    memset(s + n, '[', 63);
    memset(s + n + 63, ']', 63);
    strcpy(s + n + 126, "\n");
    c = parse(s, err, sizeof err);
    cr_assert_null(c);
    cr_assert_str_eq(err, "t.yaml: line 2: unknown key \"x\" in the configuration");
    memmove(s + n + 1, s + n, 127);
    s[n] = '[';
    strcpy(s + n + 127, "]\n"); /* 64 levels in all: [ x 64, ] x 64 */
    c = parse(s, err, sizeof err);
    cr_assert_null(c);
    cr_assert_str_eq(err, "t.yaml: line 2: nested deeper than 64 levels");
    free(s);
}

/* Aliases multiply what a small file says, and the duplicate checks are
 * quadratic: both bounded, so a hostile file is refused in well under a
 * second. */
Test(config, alias_bombs_and_bounds, .timeout = 60)
{
    char err[512];
    gw_buf b = {0};
    gw_buf_puts(&b, "listen: \":1\"\nupstreams:\n  - &u {name: u, targets: &t [");
    for (int i = 0; i < 1000; i++)
        gw_buf_printf(&b, "%s\"h:%d\"", i ? ", " : "", i + 1);
    gw_buf_puts(&b, "]}\n");
    for (int i = 0; i < 2000; i++)
        gw_buf_printf(&b, "  - {name: u%d, targets: *t}\n", i);
    cr_assert(!b.oom);
    gw_config *c = parse(b.p, err, sizeof err);
    cr_assert_null(c);
    cr_assert_str_eq(err, "t.yaml: line 3: more than 1000000 values once aliases are expanded");
    gw_buf_free(&b);

    b = (gw_buf){0};
    gw_buf_puts(&b, "listen: \":1\"\nupstreams: [{name: u, targets: [");
    for (int i = 0; i <= 1000; i++)
        gw_buf_printf(&b, "%s\"h:%d\"", i ? ", " : "", i + 1);
    gw_buf_puts(&b, "]}]\n");
    c = parse(b.p, err, sizeof err);
    cr_assert_null(c);
    cr_assert_str_eq(err, "t.yaml: line 2: targets has 1001 items (at most 1000)");
    gw_buf_free(&b);

    b = (gw_buf){0};
    gw_buf_puts(&b, "listen: \":1\"\nupstreams: [{name: u, targets: [\"h:1\"]}]\n"
                    "routes:\n  - {match: /, upstream: u, headers: {");
    for (int i = 0; i <= 64; i++)
        gw_buf_printf(&b, "%sX-%d: v", i ? ", " : "", i);
    gw_buf_puts(&b, "}}\n");
    c = parse(b.p, err, sizeof err);
    cr_assert_null(c);
    cr_assert_str_eq(err, "t.yaml: line 4: headers has 65 conditions (at most 64)");
    gw_buf_free(&b);

    b = (gw_buf){0};
    gw_buf_puts(&b, "listen: \":1\"\nroutes:\n");
    for (int i = 0; i <= 10000; i++)
        gw_buf_puts(&b, "  - {}\n");
    c = parse(b.p, err, sizeof err);
    cr_assert_null(c);
    cr_assert_str_eq(err, "t.yaml: line 3: routes has 10001 items (at most 10000)");
    gw_buf_free(&b);
}

/* Routes with one pattern differ by headers; the pattern is registered once. */
Test(config, same_pattern_with_headers, .timeout = 10)
{
    gw_config *c = must_parse("listen: \":8080\"\n" UP "routes:\n"
                              "  - {match: \"GET /x/{id}\", upstream: app, headers: {X-V: \"2\"}}\n"
                              "  - {match: \"GET /x/{id}\", upstream: app, headers: {X-V: \"3\"}}\n"
                              "  - {match: \"GET /x/{id}\", upstream: app}\n"
                              "  - {match: \"/x/{id}\", upstream: app}\n"
                              "  - {match: \"example.com/\", upstream: app}\n");
    cr_assert_eq(c->nroutes, 5);
    cr_assert_eq(c->routes[2].line, 8);
    gw_config_free(c);
}

Test(config, error_buffer, .timeout = 10)
{
    gw_config *c = (gw_config *)1;
    cr_assert_eq(gw_config_parse("t.yaml", "listen: 1", 9, &c, NULL, 0), -EINVAL);
    cr_assert_null(c);
    char small[16];
    cr_assert_eq(gw_config_parse("t.yaml", "listen: 1", 9, &c, small, sizeof small), -EINVAL);
    cr_assert_str_eq(small, "t.yaml: line 1:");
    char err[256];
    cr_assert_eq(gw_config_parse(NULL, NULL, 0, &c, err, sizeof err), -EINVAL);
    cr_assert_str_eq(err, "config: line 1: empty file (expected at least \"listen\")");
    /* len, not a NUL, ends the text */
    cr_assert_eq(gw_config_parse("t.yaml", "listen: \":80\"\nadmin: 1", 14, &c, err, sizeof err),
                 0);
    cr_assert_null(c->admin);
    gw_config_free(c);
    gw_config_free(NULL);
}

Test(config, load_errors, .timeout = 10)
{
    char err[256];
    gw_config *c = (gw_config *)1;
    cr_assert_eq(gw_config_load("/nonexistent/gw.yaml", &c, err, sizeof err), -ENOENT);
    cr_assert_null(c);
    cr_assert_str_eq(err, "/nonexistent/gw.yaml: No such file or directory");
    cr_assert_eq(gw_config_load("/", &c, err, sizeof err), -EISDIR);
    cr_assert_str_eq(err, "/: Is a directory");

    char path[] = "/tmp/gw-config-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    const char bad[] = "listen: \":8080\"\nroutes: 3\n";
    cr_assert_eq(write(fd, bad, sizeof bad - 1), (ssize_t)(sizeof bad - 1));
    close(fd);
    cr_assert_eq(gw_config_load(path, &c, err, sizeof err), -EINVAL);
    char want[256];
    snprintf(want, sizeof want, "%s: line 2: routes must be a list", path);
    cr_assert_str_eq(err, want);
    unlink(path);
}

/* ---- durations and sizes -------------------------------------------------- */

Test(config, durations, .timeout = 10)
{
    static const struct {
        const char *s;
        goc_duration d;
    } ok[] = {
        {"0", 0},
        {"0s", 0},
        {"+5s", 5 * GOC_SECOND},
        {"1ns", 1},
        {"100us", 100 * GOC_MICROSECOND},
        {"100\xc2\xb5s", 100 * GOC_MICROSECOND},
        {"100\xce\xbcs", 100 * GOC_MICROSECOND},
        {"250ms", 250 * GOC_MILLISECOND},
        {"1s", GOC_SECOND},
        {"1.5s", 1500 * GOC_MILLISECOND},
        {".5s", 500 * GOC_MILLISECOND},
        {"1.s", GOC_SECOND},
        {"2m", 2 * GOC_MINUTE},
        {"1h30m", 90 * GOC_MINUTE},
        {"1h1m1s1ms1us1ns", GOC_HOUR + GOC_MINUTE + GOC_SECOND + GOC_MILLISECOND + 1001},
        {"1.000000001s", GOC_SECOND + 1},
        {"0.1234567891234567891s", 123456789}, /* digits past ns dropped */
        {"2562047h", 2562047 * GOC_HOUR},
        {"9223372036854775807ns", INT64_MAX},
    };
    static const char *const bad[] = {
        "",
        "s",
        "1",
        "5",
        "-1s",
        "-0",
        "1x",
        "1 s",
        " 1s",
        "1s ",
        ".s",
        "1..5s",
        "1hh",
        "1sm",
        "2562048h",
        "9223372036854775808ns",
        "99999999999999999999s",
        "1e3s",
        "1m-1s",
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        goc_duration d = -7;
        cr_assert_eq(gw_parse_duration(ok[i].s, &d), 0, "\"%s\"", ok[i].s);
        cr_assert_eq(d, ok[i].d, "\"%s\": %lld", ok[i].s, (long long)d);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        goc_duration d = -7;
        cr_assert_eq(gw_parse_duration(bad[i], &d), -EINVAL, "\"%s\" accepted", bad[i]);
        cr_assert_eq(d, -7, "\"%s\" wrote *out", bad[i]);
    }
    cr_assert_eq(gw_parse_duration(NULL, &(goc_duration){0}), -EINVAL);
}

Test(config, sizes, .timeout = 10)
{
    static const struct {
        const char *s;
        size_t n;
    } ok[] = {
        {"0", 0},
        {"1000", 1000},
        {"1000B", 1000},
        {"512KiB", 512 << 10},
        {"64MiB", 64u << 20},
        {"64 MiB", 64u << 20},
        {"1GiB", 1u << 30},
        {"1.5GiB", 3u << 29},
        {"10MB", 10000000},
        {"2kB", 2000},
        {"3KB", 3000},
        {"1GB", 1000000000},
        {"2TiB", (size_t)2 << 40},
        {"1TB", (size_t)1000000000000},
    };
    static const char *const bad[] = {"",    "MiB",     "64XB",   "64mib", "-1",
                                      "1.5", "64  MiB", "64MiB ", "1e3",   "99999999999TiB"};
    char yaml[128], err[512];
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        snprintf(yaml, sizeof yaml, "listen: \":1\"\ncache: {max_bytes: \"%s\"}\n", ok[i].s);
        gw_config *c = parse(yaml, err, sizeof err);
        cr_assert_not_null(c, "%s: %s", ok[i].s, err);
        cr_assert_eq(c->cache_bytes, ok[i].n, "\"%s\": %zu", ok[i].s, c->cache_bytes);
        gw_config_free(c);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(yaml, sizeof yaml, "listen: \":1\"\ncache: {max_bytes: \"%s\"}\n", bad[i]);
        gw_config *c = parse(yaml, err, sizeof err);
        cr_assert_null(c, "\"%s\" accepted", bad[i]);
        cr_assert(strstr(err, "t.yaml: line 2: bad size \""), "%s", err);
    }
}

/* An error after much was built: gw_config_parse frees it all (the ASan
 * build fails this on any leak). */
Test(config, error_after_everything_else, .timeout = 10)
{
    char path[4096], err[512];
    example_path(path, sizeof path);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f);
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 64, f);
    fclose(f);
    int lines = 0;
    for (size_t i = 0; i < n; i++)
        lines += buf[i] == '\n';
    strcpy(buf + n, "  - {match: \"/z\", upstream: app, retries: 99}\n");
    gw_config *c = parse(buf, err, sizeof err);
    cr_assert_null(c);
    char want[128];
    snprintf(want, sizeof want, "t.yaml: line %d: retries 99 out of range (0..10)", lines + 1);
    cr_assert_str_eq(err, want);
}

/* ---- allocation failures ------------------------------------------------- */

#if !TEST_ASAN && !TEST_TSAN
void *__libc_malloc(size_t n);
void *__libc_calloc(size_t n, size_t size);
void *__libc_realloc(void *p, size_t n);
void __libc_free(void *p);

static _Atomic bool af_on;    /* armed */
static _Atomic long af_left;  /* the allocation that takes it to 0 fails */
static _Atomic long af_live;  /* allocations minus frees while armed */
static _Atomic long af_count; /* allocations seen while armed */
static _Atomic bool af_hit;   /* one failed */

static bool af_fail(void)
{
    if (!atomic_load(&af_on))
        return false;
    atomic_fetch_add(&af_count, 1);
    if (atomic_fetch_sub(&af_left, 1) != 1)
        return false;
    atomic_store(&af_hit, true);
    return true;
}

static void *af_got(void *p)
{
    if (p && atomic_load(&af_on))
        atomic_fetch_add(&af_live, 1);
    return p;
}

void *malloc(size_t n)
{
    return af_fail() ? NULL : af_got(__libc_malloc(n));
}

void *calloc(size_t n, size_t size)
{
    return af_fail() ? NULL : af_got(__libc_calloc(n, size));
}

void *realloc(void *p, size_t n)
{
    if (!p)
        return malloc(n);
    if (af_fail())
        return NULL;
    void *q = __libc_realloc(p, n);
    if (!n && atomic_load(&af_on)) /* glibc: realloc(p, 0) frees p */
        atomic_fetch_sub(&af_live, 1);
    return q;
}

void free(void *p)
{
    if (p && atomic_load(&af_on))
        atomic_fetch_sub(&af_live, 1);
    __libc_free(p);
}

static void af_arm(long k)
{
    atomic_store(&af_left, k);
    atomic_store(&af_live, 0);
    atomic_store(&af_count, 0);
    atomic_store(&af_hit, false);
    atomic_store(&af_on, true);
}

/* Fail the k-th allocation of each parse of text for k = 1, 2, ... until a
 * parse fails none: each must end in -ENOMEM (or in want_rc, if the
 * failure was one the parse may survive) with everything freed. */
static void sweep(const char *text, int want_rc, const char *want_err)
{
    char err[512];
    gw_config *c = NULL;
    int rc = gw_config_parse("t.yaml", text, strlen(text), &c, err, sizeof err);
    cr_assert_eq(rc, want_rc, "%s", err); /* also warms up what goc keeps per thread */
    gw_config_free(c);
    for (long k = 1;; k++) {
        c = NULL;
        af_arm(k);
        rc = gw_config_parse("t.yaml", text, strlen(text), &c, err, sizeof err);
        gw_config_free(c);
        atomic_store(&af_on, false);
        cr_assert_eq(atomic_load(&af_live), 0, "k=%ld: %ld allocations not freed", k,
                     atomic_load(&af_live));
        if (!atomic_load(&af_hit)) {
            cr_assert_eq(rc, want_rc, "%s", err);
            cr_assert_gt(k, 100, "only %ld allocations", k);
            return;
        }
        if (rc == -ENOMEM) {
            cr_assert_str_eq(err, "t.yaml: out of memory", "k=%ld", k);
            continue;
        }
        cr_assert_eq(rc, want_rc, "k=%ld: %d %s", k, rc, err);
        if (want_err)
            cr_assert_str_eq(err, want_err, "k=%ld", k);
    }
}

Test(config, allocation_failures, .timeout = 120)
{
    if (test_on_valgrind())
        cr_skip_test("valgrind replaces malloc");
    char path[4096];
    example_path(path, sizeof path);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f);
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 64, f);
    fclose(f);
    buf[n] = 0;
    sweep(buf, 0, NULL);
    int lines = 0;
    for (size_t i = 0; i < n; i++)
        lines += buf[i] == '\n';
    strcpy(buf + n, "  - {match: \"/{x\", upstream: app}\n");
    char want[256];
    snprintf(want, sizeof want,
             "t.yaml: line %d: bad route match \"/{x\" (parsing \"/{x\": at offset 1: bad "
             "wildcard segment (must end with '}'))",
             lines + 1);
    sweep(buf, -EINVAL, want);
}
#else
Test(config, allocation_failures, .timeout = 10)
{
    cr_skip_test("the sanitizer's allocator must see every allocation");
}
#endif
