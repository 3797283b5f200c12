/*
 * fuzz_gwconfig.c — libFuzzer target: the gateway's configuration reader
 * (gateway/config.c and config_value.c over libyaml, with mux.c checking
 * route patterns). `gateway -check` is what operators run on files they
 * did not write, so every input is read as a whole file by
 * gw_config_parse and:
 *
 *   accepted   *out is set and err is ""; the promises of gateway.h's
 *              gw_config hold: listen given, tls both or neither,
 *              etcd_prefix, hash_key and rate_key always set, access_log
 *              never "off"; every value in the range config.c's tables
 *              give it (weights, rise/fall, statuses, ratios, durations
 *              > 0 where required (a route's timeout may be 0: none),
 *              max_ejection_time >= base, burst set exactly when a rate
 *              is); names unique and of their charset, targets unique
 *              per upstream, header conditions tokens unique case-blind;
 *              targets_from: etcd exactly when no targets, and only with
 *              endpoints; every route's upstream names an upstream;
 *              upstreams' and routes' lines lie inside the file (as
 *              max_lines counts them); the routes' distinct patterns
 *              register on a fresh mux without a conflict, and a repeated
 *              pattern only follows routes of it with headers. Every
 *              string of every array is read (ASan sees each is
 *              allocated) and gw_config_free gives it all back
 *              (LeakSanitizer);
 *   rejected   -EINVAL (or -ENOMEM saying "out of memory") with *out NULL
 *              and err one NUL-terminated line, no control byte, reading
 *              "fuzz.yaml: line N: REASON" with N inside the file (as
 *              max_lines counts them);
 *   truncated  the same parse with a small error buffer (exactly sized on
 *              the heap: ASan sees an overflow) returns the same and
 *              writes a prefix of the full message; with no buffer, the
 *              same again;
 *   locks      the mux's locks (stubs_gw.c) are all released.
 *
 * FZ_GWCONFIG_VERBOSE=1 in the environment prints each input's result
 * (to check what the seeds reach: fuzz_gwconfig fuzz/corpus/gwconfig/seed-*).
 *
 * Built and run by fuzz/CMakeLists.txt and fuzz/run.sh (make fuzz), with
 * fuzz/gwconfig.dict (the schema's keys and values).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gateway.h"

#define NAME   "fuzz.yaml"
#define ERRLEN 1024

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int fz_gw_locks_held(void); /* stubs_gw.c */

static const char *cur_err = ""; /* the parse's message, for fail's context */
static size_t cur_lines;         /* max_lines of the input */

static _Noreturn void fail(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz_gwconfig: invariant broken: %s%s%s (err \"%s\")\n", what,
            detail ? ": " : "", detail ? detail : "", cur_err);
    abort();
}

static void check(bool ok, const char *what, const char *detail)
{
    if (!ok)
        fail(what, detail);
}

/* s is a non-empty string: reading all of it lets ASan check the block. */
static void nonempty(const char *s, const char *what)
{
    check(s && strlen(s) > 0, "missing or empty string", what);
}

static bool is_token(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (!(c >= '0' && c <= '9') && !((c | 0x20) >= 'a' && (c | 0x20) <= 'z') &&
            !strchr("!#$%&'*+-.^_`|~", c))
            return false;
    }
    return true;
}

/* "ip", "header:TOKEN", and "path" if path_ok. */
static bool request_key(const char *s, bool path_ok)
{
    return !strcmp(s, "ip") || (path_ok && !strcmp(s, "path")) ||
           (!strncmp(s, "header:", 7) && is_token(s + 7));
}

/* host:port with a numeric port (the full rules are config.c's; this is
 * what no accepted address can lack). */
static bool has_port(const char *s)
{
    const char *colon = strrchr(s, ':');
    return colon && colon[1] && strspn(colon + 1, "0123456789") == strlen(colon + 1);
}

static void check_upstream(const gw_config *c, size_t i)
{
    const gw_upstream_cfg *u = &c->upstreams[i];
    nonempty(u->name, "upstream name");
    check(strspn(u->name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") ==
              strlen(u->name),
          "upstream name outside its charset", u->name);
    for (size_t j = 0; j < i; j++)
        check(strcmp(c->upstreams[j].name, u->name) != 0, "upstream name repeated", u->name);
    check(u->line >= 1 && (size_t)u->line <= cur_lines, "upstream line outside the file", u->name);
    check(u->balance >= GOC_BALANCE_ROUND_ROBIN && u->balance <= GOC_BALANCE_HASH,
          "balance out of range", u->name);
    nonempty(u->hash_key, "hash_key");
    check(request_key(u->hash_key, true), "bad hash_key", u->hash_key);
    check(u->balance == GOC_BALANCE_HASH || !strcmp(u->hash_key, "ip"),
          "hash_key without balance: hash", u->hash_key);
    check(!u->tls_insecure || u->tls, "tls_insecure without tls", u->name);

    check(u->from_etcd == (u->ntargets == 0), "targets and targets_from: etcd not exclusive",
          u->name);
    check(!u->from_etcd || c->netcd > 0, "targets_from: etcd without endpoints", u->name);
    check((u->targets == NULL) == (u->ntargets == 0), "targets array and count disagree", u->name);
    check(u->ntargets <= 1000, "more than 1000 targets", u->name);
    for (size_t j = 0; j < u->ntargets; j++) {
        const gw_target_cfg *t = &u->targets[j];
        nonempty(t->addr, "target addr");
        check(has_port(t->addr) && t->addr[0] != ':', "target addr not host:port", t->addr);
        check(t->weight >= 1 && t->weight <= 1000, "weight out of 1..1000", t->addr);
        for (size_t k = 0; k < j; k++)
            check(strcmp(u->targets[k].addr, t->addr) != 0, "target repeated", t->addr);
    }

    const gw_health_cfg *h = &u->health;
    check(!h->path || h->path[0] == '/', "health path without /", h->path);
    check(h->interval > 0 && h->timeout > 0, "health interval or timeout <= 0", u->name);
    check(h->expect_status == 0 || (h->expect_status >= 100 && h->expect_status <= 599),
          "expect_status out of range", u->name);
    check(h->rise >= 1 && h->rise <= 1000 && h->fall >= 1 && h->fall <= 1000,
          "rise or fall out of 1..1000", u->name);

    check(u->eject_5xx >= 0 && u->eject_5xx <= 1000000 && u->eject_errors >= 0 &&
              u->eject_errors <= 1000000,
          "outlier counts out of range", u->name);
    check(u->eject_time > 0 && u->eject_max >= u->eject_time, "ejection times", u->name);
    check(u->breaker_min >= 0 && u->breaker_min <= 1000000, "min_requests out of range", u->name);
    check(u->breaker_ratio > 0 && u->breaker_ratio <= 1, "failure_ratio out of (0, 1]", u->name);
    check(u->breaker_window > 0 && u->breaker_open > 0, "breaker times <= 0", u->name);
    check(u->breaker_probes >= 1 && u->breaker_probes <= 1000, "half_open_probes out of range",
          u->name);
    check(u->max_inflight >= 1 && u->max_inflight <= 1000000 && u->max_queue >= 0 &&
              u->max_queue <= 1000000 && u->queue_timeout >= 0,
          "limits out of range", u->name);
}

static const gw_upstream_cfg *upstream_named(const gw_config *c, const char *name)
{
    for (size_t i = 0; i < c->nupstreams; i++) {
        if (!strcmp(c->upstreams[i].name, name))
            return &c->upstreams[i];
    }
    return NULL;
}

static void check_route(const gw_config *c, size_t i)
{
    const gw_route_cfg *r = &c->routes[i];
    nonempty(r->match, "route match");
    nonempty(r->upstream, "route upstream");
    check(upstream_named(c, r->upstream) != NULL, "route upstream names no upstream", r->upstream);
    check(r->line >= 1 && (size_t)r->line <= cur_lines, "route line outside the file", r->match);
    check((r->headers == NULL) == (r->nheaders == 0), "headers array and count disagree", r->match);
    check(r->nheaders <= 64, "more than 64 header conditions", r->match);
    for (size_t j = 0; j < r->nheaders; j++) {
        const gw_header_cond *h = &r->headers[j];
        nonempty(h->name, "header name");
        check(is_token(h->name), "header name not a token", h->name);
        if (h->value)
            (void)strlen(h->value); /* may be "": equal to an empty value */
        for (size_t k = 0; k < j; k++)
            check(strcasecmp(r->headers[k].name, h->name) != 0, "header condition repeated",
                  h->name);
    }
    check(!r->strip_prefix || r->strip_prefix[0] == '/', "strip_prefix without /", r->strip_prefix);
    check(!r->rewrite_prefix || r->rewrite_prefix[0] == '/', "rewrite_prefix without /",
          r->rewrite_prefix);
    check(r->timeout >= 0, "route timeout < 0", r->match); /* 0: none */
    check(r->retries >= 0 && r->retries <= 10, "retries out of 0..10", r->match);
    check(r->rate >= 0 && r->rate <= 1e9 && !isnan(r->rate), "rate out of range", r->match);
    check((r->rate > 0) == (r->burst > 0), "burst set without a rate, or a rate without burst",
          r->match);
    check(r->burst >= 0 && r->burst <= 1000000000, "burst out of range", r->match);
    nonempty(r->rate_key, "rate_key");
    check(request_key(r->rate_key, false), "bad rate_limit key", r->rate_key);
}

static void nop(goc_http_response_writer *w, goc_http_request *r, void *arg)
{
    (void)w, (void)r, (void)arg;
}

/* The routes' patterns as the gateway will register them: each distinct
 * one once, in order; a repeat only after routes of it that all have
 * header conditions (else it could never match). */
static void check_patterns(const gw_config *c)
{
    goc_http_mux *m = goc_http_mux_new();
    check(m != NULL, "goc_http_mux_new failed", NULL);
    for (size_t i = 0; i < c->nroutes; i++) {
        const gw_route_cfg *r = &c->routes[i];
        bool repeat = false;
        for (size_t j = 0; j < i; j++) {
            if (!strcmp(c->routes[j].match, r->match)) {
                repeat = true;
                check(c->routes[j].nheaders > 0, "a route after one of its pattern without headers",
                      r->match);
            }
        }
        if (!repeat)
            check(goc_http_mux_handle_func(m, r->match, nop, NULL) == 0,
                  "an accepted pattern does not register", r->match);
    }
    goc_http_mux_free(m);
}

static void check_accepted(const gw_config *c)
{
    check(c->path && !strcmp(c->path, NAME), "path is not the name given", c->path);
    nonempty(c->listen, "listen");
    check(has_port(c->listen), "listen not host:port", c->listen);
    check(!c->admin || has_port(c->admin), "admin not host:port", c->admin);
    check((c->tls_cert == NULL) == (c->tls_key == NULL), "tls cert and key not both or neither",
          NULL);
    if (c->tls_cert) {
        nonempty(c->tls_cert, "tls cert");
        nonempty(c->tls_key, "tls key");
    }
    check(!c->access_log || (c->access_log[0] && strcmp(c->access_log, "off") != 0),
          "access_log empty or \"off\"", c->access_log);
    check(c->retry_budget >= 0 && c->retry_budget <= 1, "retry_budget ratio out of 0..1", NULL);
    check(c->retry_min_per_sec >= 0 && c->retry_min_per_sec <= 1000000,
          "min_per_second out of range", NULL);
    check(c->shutdown_timeout >= 0 && c->cache_ttl >= 0, "negative duration", NULL);
    nonempty(c->etcd_prefix, "etcd prefix");
    check((c->etcd_endpoints == NULL) == (c->netcd == 0), "endpoints array and count disagree",
          NULL);
    for (size_t i = 0; i < c->netcd; i++) {
        const char *e = c->etcd_endpoints[i];
        nonempty(e, "etcd endpoint");
        check(!strncmp(e, "http://", 7) || !strncmp(e, "https://", 8),
              "etcd endpoint without its scheme", e);
    }
    check((c->upstreams == NULL) == (c->nupstreams == 0), "upstreams array and count disagree",
          NULL);
    check((c->routes == NULL) == (c->nroutes == 0), "routes array and count disagree", NULL);
    check(c->nupstreams <= 10000 && c->nroutes <= 10000, "more than 10000 items", NULL);
    for (size_t i = 0; i < c->nupstreams; i++)
        check_upstream(c, i);
    for (size_t i = 0; i < c->nroutes; i++)
        check_route(c, i);
    check_patterns(c);
}

/* An upper bound on the lines libyaml can count in d: one, plus its line
 * breaks ("\n", "\r", and NEL, LS, PS in UTF-8 or UTF-16: each holds one
 * of these bytes), plus one more when d does not end in a break: libyaml
 * ends the stream on a line of its own (its scanner forces a new line at
 * the end), so a one-line file's "unexpected end" is on its line 2. */
static size_t max_lines(const uint8_t *d, size_t n)
{
    size_t lines = 1;
    for (size_t i = 0; i < n; i++)
        lines += d[i] == '\n' || d[i] == '\r' || d[i] == 0x85 || d[i] == 0x28 || d[i] == 0x29 ||
                 d[i] == 0xa8 || d[i] == 0xa9;
    return lines + (n == 0 || (d[n - 1] != '\n' && d[n - 1] != '\r'));
}

static void check_rejected(int rc, const char *err)
{
    static const char oom[] = NAME ": out of memory", pre[] = NAME ": line ";
    check(rc == -EINVAL || rc == -ENOMEM, "a rejection not -EINVAL or -ENOMEM", NULL);
    check(memchr(err, '\0', ERRLEN) != NULL, "err not NUL-terminated", NULL);
    for (const char *p = err; *p; p++)
        check((unsigned char)*p >= 0x20, "a control byte (or line break) in err", NULL);
    if (rc == -ENOMEM) {
        check(!strcmp(err, oom), "-ENOMEM without \"out of memory\"", NULL);
        return;
    }
    check(!strncmp(err, pre, sizeof pre - 1), "err does not start \"" NAME ": line \"", NULL);
    const char *p = err + sizeof pre - 1;
    check(*p >= '1' && *p <= '9', "no line number", NULL);
    char *end;
    unsigned long line = strtoul(p, &end, 10);
    check(line >= 1 && line <= cur_lines, "line number past the input's lines", NULL);
    check(end[0] == ':' && end[1] == ' ' && end[2], "no \": REASON\" after the line", NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[ERRLEN];
    gw_config *cfg = (gw_config *)&cfg; /* must become NULL or a config */
    memset(err, 'x', sizeof err);
    int rc = gw_config_parse(NAME, (const char *)data, size, &cfg, err, sizeof err);
    cur_err = err;
    cur_lines = max_lines(data, size);
    if (getenv("FZ_GWCONFIG_VERBOSE")) /* what each input gives, to check seeds by */
        fprintf(stderr, "fuzz_gwconfig: %d %s\n", rc, rc ? err : "accepted");
    check(fz_gw_locks_held() == 0, "a mux lock left held", NULL);
    if (rc == 0) {
        check(cfg != NULL && err[0] == '\0', "accepted without a config or with an error", NULL);
        check_accepted(cfg);
        gw_config_free(cfg);
    } else {
        check(cfg == NULL, "rejected with *out set", NULL);
        check_rejected(rc, err);
    }

    /* Again with a small buffer (1..48 bytes), and with none. */
    size_t small = 1 + size % 48;
    char *e2 = malloc(small);
    check(e2 != NULL, "malloc", NULL);
    memset(e2, 'x', small);
    gw_config *c2 = NULL;
    int rc2 = gw_config_parse(NAME, (const char *)data, size, &c2, e2, small);
    check(rc2 == rc, "a smaller error buffer changes the result", NULL);
    size_t full = rc ? strlen(err) : 0, want = full < small - 1 ? full : small - 1;
    check(memchr(e2, '\0', small) != NULL && strlen(e2) == want && !memcmp(e2, err, want),
          "a small error buffer does not get the message's prefix", e2);
    free(e2);
    gw_config_free(c2);
    c2 = NULL;
    rc2 = gw_config_parse(NAME, (const char *)data, size, &c2, NULL, 0);
    check(rc2 == rc, "no error buffer changes the result", NULL);
    gw_config_free(c2);
    check(fz_gw_locks_held() == 0, "a mux lock left held", NULL);
    return 0;
}
