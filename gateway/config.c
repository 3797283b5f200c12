/*
 * config.c — the configuration file: YAML, loaded by libyaml into its node
 * tree, then checked against the gateway's schema into a gw_config.
 *
 * libyaml parses; everything after is ours. The values' own syntax
 * (durations, sizes, addresses, tokens, the suggestion for a mistyped
 * key) is config_value.c's, through config.h. Each level of the schema (the
 * top, an upstream, a route, health_check, ...) is a table of its keys:
 * name, kind, where the value goes (an offset into the object being
 * filled), its range. A level is walked in two steps: first its keys in
 * file order (an unknown key, with a suggestion, or a repeated one is
 * refused there), then its values in table order, so an entry may rely on
 * the ones before it in its table: routes are read after upstreams and
 * etcd whatever order the file has them in, a target after its upstream's
 * name. Then the level's check function sees the whole level (required
 * keys, keys that only make sense together, defaults that depend on
 * others).
 *
 * Errors: the first one ends the parse, as one line "FILE: line N: reason"
 * with N the 1-based line of the value (or key, or mapping) at fault. The
 * gw_config is built in place and is always in a state gw_config_free
 * takes: every array is allocated zeroed and its count is raised before
 * its next item gets anything that owns memory.
 *
 * A null value (`key:` with nothing, `~`, `null`) counts as the key not
 * given. Scalars are read by their text whatever their quoting, with two
 * exceptions where the plain form means something: `true` as a header
 * condition (present), and null.
 *
 * Nothing here is shared between threads and nothing blocks: a parse may
 * run on any thread or goroutine. The only goc call is a scratch mux that
 * checks the route patterns.
 */
#include "config.h"
#include "gateway.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <goc/http.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

#define MAX_FILE_BYTES (16u << 20) /* a config file larger than this is a mistake */
#define MAX_KEYS       16          /* keys in one table */
#define MAX_DEPTH      64          /* nested collections */
#define MAX_ITEMS      10000       /* in one list (name checks are quadratic) */
#define MAX_TARGETS    1000        /* in one upstream */
#define MAX_HEADERS    64          /* conditions of one route */
#define MAX_WALKED     1000000     /* values walked: bounds what aliases can multiply */

/* ---- the parse's state and its errors ------------------------------------ */

typedef struct cx {
    yaml_document_t doc;
    const char *name; /* the file, for messages */
    char *err;
    size_t errlen;   /* 0: no message wanted */
    gw_config *cfg;  /* being filled */
    int *match_line; /* per route: the line of its match value */
    size_t walked;   /* values walked so far, an alias counted each time */
    char qbuf[160];  /* the value quoted in a message */
} cx;

static int line_of(const yaml_node_t *n)
{
    return (int)n->start_mark.line + 1;
}

static yaml_node_t *node(cx *c, int i)
{
    return yaml_document_get_node(&c->doc, i);
}

__attribute__((format(printf, 3, 4))) static int fail(cx *c, int line, const char *fmt, ...)
{
    if (c->errlen) {
        int n = snprintf(c->err, c->errlen, "%s: line %d: ", c->name, line);
        if (n >= 0 && (size_t)n < c->errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    return -EINVAL;
}

static int nomem(cx *c)
{
    if (c->errlen)
        snprintf(c->err, c->errlen, "%s: out of memory", c->name);
    return -ENOMEM;
}

/* s made fit for a message between double quotes: quotes and backslashes
 * escaped, control bytes as \xNN, cut at ~120 bytes. One per message. */
static const char *q(cx *c, const char *s)
{
    char *o = c->qbuf;
    size_t n = 0, cap = sizeof c->qbuf;
    for (; *s && n + 8 < cap; s++) {
        unsigned char ch = (unsigned char)*s;
        if (n > 120) {
            memcpy(o + n, "...", 3);
            n += 3;
            break;
        }
        if (ch == '"' || ch == '\\') {
            o[n++] = '\\';
            o[n++] = (char)ch;
        } else if (ch < 0x20 || ch == 0x7f) {
            n += (size_t)snprintf(o + n, cap - n, "\\x%02x", ch);
        } else {
            o[n++] = (char)ch;
        }
    }
    o[n] = 0;
    return o;
}

/* ---- scalars ------------------------------------------------------------------ */

static bool is_null(const yaml_node_t *n)
{
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    const char *s = (const char *)n->data.scalar.value;
    return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL");
}

/* The text of scalar n, or the error "KEY must be NOUN". */
static int text(cx *c, yaml_node_t *n, const char *key, const char *noun, const char **out)
{
    *out = ""; /* also on failure: callers test rc, the compiler cannot tell */
    if (n->type != YAML_SCALAR_NODE)
        return fail(c, line_of(n), "%s must be %s", key, noun);
    *out = (const char *)n->data.scalar.value;
    if (strlen(*out) != n->data.scalar.length)
        return fail(c, line_of(n), "%s contains a NUL byte", key);
    return 0;
}

/* A non-empty string. */
static int string(cx *c, yaml_node_t *n, const char *key, const char **out)
{
    int rc = text(c, n, key, "a string", out);
    if (rc == 0 && !**out)
        return fail(c, line_of(n), "%s must not be empty", key);
    return rc;
}

static int set_str(cx *c, char **dst, const char *s)
{
    char *d = strdup(s);
    if (!d)
        return nomem(c);
    free(*dst);
    *dst = d;
    return 0;
}

static int parse_bool(cx *c, yaml_node_t *n, const char *key, bool *out)
{
    const char *s = NULL;
    int rc = text(c, n, key, "true or false", &s);
    if (rc < 0)
        return rc;
    if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE"))
        *out = true;
    else if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE"))
        *out = false;
    else
        return fail(c, line_of(n), "%s must be true or false, not \"%s\"", key, q(c, s));
    return 0;
}

/* "off" (or false) where a mapping may also be given. */
static bool is_off(const yaml_node_t *n)
{
    if (n->type != YAML_SCALAR_NODE)
        return false;
    const char *s = (const char *)n->data.scalar.value;
    return !strcmp(s, "off") || !strcmp(s, "false");
}

/* ---- tables ------------------------------------------------------------------- */

typedef enum kind {
    K_STR,  /* char *: a non-empty string */
    K_ADDR, /* char *: host:port to listen on */
    K_PATH, /* char *: starts with "/" */
    K_BOOL, /* bool */
    K_INT,  /* int in [lo, hi] */
    K_NUM,  /* double in [lo, hi] */
    K_DUR,  /* goc_duration in [lo, hi] nanoseconds */
    K_SIZE, /* size_t: "64MiB" or bytes */
    K_MAP,  /* a mapping whose keys (sub) fill the same object */
    K_FN,   /* fn reads it */
} kind;

typedef struct table table;
typedef int (*field_fn)(cx *c, yaml_node_t *v, void *obj);

typedef struct field {
    const char *key;
    kind kind;
    size_t off;        /* where in the object */
    double lo, hi;     /* K_INT, K_NUM, K_DUR */
    const char *range; /* [lo, hi] as messages say it */
    const table *sub;  /* K_MAP */
    field_fn fn;       /* K_FN */
} field;

struct table {
    const char *what; /* for "WHAT needs \"key\"" */
    const field *f;
    size_t n;
    /* After the values: vals[i] is the value of f[i] (NULL: not given). */
    int (*check)(cx *c, yaml_node_t *map, yaml_node_t *const *vals, void *obj);
};

static yaml_node_t *given(const table *t, yaml_node_t *const *vals, const char *key)
{
    for (size_t i = 0; i < t->n; i++) {
        if (!strcmp(t->f[i].key, key))
            return vals[i];
    }
    return NULL;
}

static int needs(cx *c, const table *t, yaml_node_t *map, const char *key)
{
    return fail(c, line_of(map), "%s needs \"%s\"", t->what, key);
}

static int walk_map(cx *c, yaml_node_t *n, const char *what, const table *t, void *obj);

static int num(cx *c, yaml_node_t *v, const field *f, double *out)
{
    const char *s = NULL;
    char *end;
    const char *noun = f->kind == K_INT ? "an integer" : "a number";
    int rc = text(c, v, f->key, noun, &s);
    if (rc < 0)
        return rc;
    bool ok = *s == '-' || *s == '+' || *s == '.' || isdigit((unsigned char)*s);
    errno = 0;
    double x = f->kind == K_INT ? (double)strtoll(s, &end, 10) : strtod(s, &end);
    if (!ok || end == s || *end || errno == ERANGE || !isfinite(x))
        return fail(c, line_of(v), "%s must be %s, not \"%s\"", f->key, noun, q(c, s));
    if (x < f->lo || x > f->hi)
        return fail(c, line_of(v), "%s %s out of range (%s)", f->key, s, f->range);
    *out = x;
    return 0;
}

static int duration(cx *c, yaml_node_t *v, const field *f, goc_duration *out)
{
    const char *s = NULL;
    int rc = text(c, v, f->key, "a duration", &s);
    if (rc < 0)
        return rc;
    if (gw_parse_duration(s, out) < 0)
        return fail(c, line_of(v),
                    "bad duration \"%s\" (expected e.g. \"500ms\", \"1.5s\", \"1h30m\")", q(c, s));
    if ((double)*out < f->lo || (double)*out > f->hi)
        return fail(c, line_of(v), "%s \"%s\" out of range (%s)", f->key, q(c, s), f->range);
    return 0;
}

static int apply(cx *c, const field *f, yaml_node_t *v, void *obj)
{
    void *p = (char *)obj + f->off;
    const char *s = NULL, *why = NULL;
    double x;
    int rc;
    switch (f->kind) {
    case K_STR:
        return (rc = string(c, v, f->key, &s)) < 0 ? rc : set_str(c, p, s);
    case K_ADDR:
        if ((rc = string(c, v, f->key, &s)) < 0)
            return rc;
        if ((why = gw__addr_problem(s, false, 0)))
            return fail(c, line_of(v), "bad address \"%s\" (%s)", q(c, s), why);
        return set_str(c, p, s);
    case K_PATH:
        if ((rc = string(c, v, f->key, &s)) < 0)
            return rc;
        if (*s != '/')
            return fail(c, line_of(v), "%s \"%s\" must start with \"/\"", f->key, q(c, s));
        return set_str(c, p, s);
    case K_BOOL:
        return parse_bool(c, v, f->key, p);
    case K_INT:
        if ((rc = num(c, v, f, &x)) == 0)
            *(int *)p = (int)x;
        return rc;
    case K_NUM:
        if ((rc = num(c, v, f, &x)) == 0)
            *(double *)p = x;
        return rc;
    case K_DUR:
        return duration(c, v, f, p);
    case K_SIZE:
        if ((rc = text(c, v, f->key, "a size", &s)) < 0)
            return rc;
        if (gw__parse_size(s, p) < 0)
            return fail(c, line_of(v),
                        "bad size \"%s\" (expected e.g. \"64MiB\", \"10MB\" or a number of bytes)",
                        q(c, s));
        return 0;
    case K_MAP:
        return walk_map(c, v, f->key, f->sub, obj);
    case K_FN:
        return f->fn(c, v, obj);
    }
    return -EINVAL;
}

static int unknown_key(cx *c, yaml_node_t *k, const table *t)
{
    const char *s = (const char *)k->data.scalar.value, *best = NULL;
    size_t bestd = SIZE_MAX;
    for (size_t i = 0; i < t->n; i++)
        gw__consider(s, t->f[i].key, &best, &bestd);
    if (best)
        return fail(c, line_of(k), "unknown key \"%s\" (did you mean \"%s\"?)", q(c, s), best);
    return fail(c, line_of(k), "unknown key \"%s\" in %s", q(c, s), t->what);
}

/* The mapping n by table t into obj: keys in file order, values in table
 * order, then t->check. what names n in "WHAT must be a mapping". */
static int walk_map(cx *c, yaml_node_t *n, const char *what, const table *t, void *obj)
{
    yaml_node_t *vals[MAX_KEYS] = {0};
    int keyline[MAX_KEYS] = {0};
    assert(t->n <= MAX_KEYS);
    if (n->type != YAML_MAPPING_NODE)
        return fail(c, line_of(n), "%s must be a mapping", what);
    c->walked += (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
    if (c->walked > MAX_WALKED)
        return fail(c, line_of(n), "more than %d values once aliases are expanded", MAX_WALKED);
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node(c, p->key), *v = node(c, p->value);
        if (k->type != YAML_SCALAR_NODE)
            return fail(c, line_of(k), "keys of %s must be strings", t->what);
        size_t i = 0;
        while (i < t->n && strcmp(t->f[i].key, (const char *)k->data.scalar.value))
            i++;
        if (i == t->n)
            return unknown_key(c, k, t);
        if (keyline[i])
            return fail(c, line_of(k), "duplicate key \"%s\" (first at line %d)", t->f[i].key,
                        keyline[i]);
        keyline[i] = line_of(k);
        vals[i] = is_null(v) ? NULL : v;
    }
    for (size_t i = 0; i < t->n; i++) {
        int rc = vals[i] ? apply(c, &t->f[i], vals[i], obj) : 0;
        if (rc < 0)
            return rc;
    }
    return t->check ? t->check(c, n, vals, obj) : 0;
}

/* n must be a sequence: its length. */
static int seq(cx *c, yaml_node_t *n, const char *key, size_t *len)
{
    if (n->type != YAML_SEQUENCE_NODE)
        return fail(c, line_of(n), "%s must be a list", key);
    *len = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    if (*len > MAX_ITEMS)
        return fail(c, line_of(n), "%s has %zu items (at most %d)", key, *len, MAX_ITEMS);
    c->walked += *len;
    if (c->walked > MAX_WALKED)
        return fail(c, line_of(n), "more than %d values once aliases are expanded", MAX_WALKED);
    return 0;
}

static yaml_node_t *item(cx *c, yaml_node_t *seqn, size_t i)
{
    return node(c, seqn->data.sequence.items.start[i]);
}

/* A field at member of type; FR with its range (lo, hi, "text"). */
#define F(k, kind, type, member)                                                                   \
    {                                                                                              \
        k, kind, offsetof(type, member), 0, 0, NULL, NULL, NULL                                    \
    }
#define FR(k, kind, type, member, lo, hi, text)                                                    \
    {                                                                                              \
        k, kind, offsetof(type, member), lo, hi, text, NULL, NULL                                  \
    }
#define TABLE(t) t, sizeof t / sizeof t[0]

/* ---- upstreams ------------------------------------------------------------------ */

static int up_name(cx *c, yaml_node_t *v, void *obj)
{
    gw_upstream_cfg *u = obj, *first = c->cfg->upstreams;
    const char *s = NULL;
    int rc = string(c, v, "name", &s);
    if (rc < 0)
        return rc;
    if (strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != strlen(s))
        return fail(c, line_of(v),
                    "bad upstream name \"%s\" (letters, digits, \".\", \"_\" and \"-\")", q(c, s));
    for (gw_upstream_cfg *e = first; e < u; e++) {
        if (e->name && !strcmp(e->name, s))
            return fail(c, line_of(v), "upstream \"%s\" defined twice (first at line %d)", s,
                        e->line);
    }
    return set_str(c, &u->name, s);
}

static int up_balance(cx *c, yaml_node_t *v, void *obj)
{
    static const char *const names[] = {"round_robin", "least_conn", "p2c", "hash"};
    static const goc_balance_policy policies[] = {GOC_BALANCE_ROUND_ROBIN, GOC_BALANCE_LEAST_CONN,
                                                  GOC_BALANCE_P2C, GOC_BALANCE_HASH};
    gw_upstream_cfg *u = obj;
    const char *s = NULL;
    int rc = text(c, v, "balance", "a string", &s);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < 4; i++) {
        if (!strcmp(s, names[i])) {
            u->balance = policies[i];
            return 0;
        }
    }
    return fail(c, line_of(v),
                "unknown balance \"%s\" (expected round_robin, least_conn, p2c or hash)", q(c, s));
}

/* hash_key and rate_limit.key: "ip", "header:NAME", and for hashing "path". */
static int request_key(cx *c, yaml_node_t *v, const char *key, bool path_ok, char **dst)
{
    const char *s = NULL;
    int rc = string(c, v, key, &s);
    if (rc < 0)
        return rc;
    if (!strcmp(s, "ip") || (path_ok && !strcmp(s, "path")) ||
        (!strncmp(s, "header:", 7) && gw__is_token(s + 7)))
        return set_str(c, dst, s);
    return fail(c, line_of(v), "bad %s \"%s\" (expected ip, %sheader:NAME)", key, q(c, s),
                path_ok ? "path or " : "or ");
}

static int up_hash_key(cx *c, yaml_node_t *v, void *obj)
{
    return request_key(c, v, "hash_key", true, &((gw_upstream_cfg *)obj)->hash_key);
}

static int target_addr(cx *c, yaml_node_t *v, void *obj)
{
    gw_target_cfg *t = obj;
    const char *s = NULL, *why = NULL;
    int rc = string(c, v, "addr", &s);
    if (rc < 0)
        return rc;
    if ((why = gw__addr_problem(s, true, 1)))
        return fail(c, line_of(v), "bad address \"%s\" (%s)", q(c, s), why);
    return set_str(c, &t->addr, s);
}

static const field target_fields[] = {
    {"addr", K_FN, 0, .fn = target_addr},
    FR("weight", K_INT, gw_target_cfg, weight, 1, 1000, "1..1000"),
};

static int target_check(cx *c, yaml_node_t *map, yaml_node_t *const *vals, void *obj)
{
    (void)obj;
    return vals[0] ? 0 : fail(c, line_of(map), "target needs \"addr\"");
}

static const table target_table = {"a target", TABLE(target_fields), target_check};

static int cmp_target(const void *a, const void *b)
{
    const gw_target_cfg *x = *(gw_target_cfg *const *)a, *y = *(gw_target_cfg *const *)b;
    int d = strcmp(x->addr, y->addr);
    return d ? d : (x > y) - (x < y); /* then file order */
}

/* The first target (in file order) that repeats an earlier one, found by
 * sorting: aliases can make many large lists. */
static int repeated_target(cx *c, yaml_node_t *v, gw_upstream_cfg *u)
{
    size_t n = u->ntargets, dup = SIZE_MAX, first = 0;
    gw_target_cfg **s = malloc(n * sizeof *s);
    if (!s)
        return nomem(c);
    for (size_t i = 0; i < n; i++)
        s[i] = &u->targets[i];
    qsort(s, n, sizeof *s, cmp_target);
    for (size_t i = 1, g = 0; i < n; i++) {
        if (strcmp(s[i]->addr, s[g]->addr)) {
            g = i; /* a new address: s[g] its first in the file */
        } else if ((size_t)(s[i] - u->targets) < dup) {
            dup = (size_t)(s[i] - u->targets);
            first = (size_t)(s[g] - u->targets);
        }
    }
    free(s);
    if (dup == SIZE_MAX)
        return 0;
    return fail(c, line_of(item(c, v, dup)), "target \"%s\" repeated (first at line %d)",
                q(c, u->targets[dup].addr), line_of(item(c, v, first)));
}

static int up_targets(cx *c, yaml_node_t *v, void *obj)
{
    gw_upstream_cfg *u = obj;
    size_t n = 0;
    int rc = seq(c, v, "targets", &n);
    if (rc < 0)
        return rc;
    if (n == 0)
        return fail(c, line_of(v), "targets must not be empty");
    if (n > MAX_TARGETS)
        return fail(c, line_of(v), "targets has %zu items (at most %d)", n, MAX_TARGETS);
    if (!(u->targets = calloc(n, sizeof *u->targets)))
        return nomem(c);
    for (size_t i = 0; i < n && rc == 0; i++) {
        yaml_node_t *it = item(c, v, i);
        gw_target_cfg *t = &u->targets[i];
        u->ntargets = i + 1;
        t->weight = 1;
        if (it->type == YAML_SCALAR_NODE)
            rc = target_addr(c, it, t);
        else if (it->type == YAML_MAPPING_NODE)
            rc = walk_map(c, it, "a target", &target_table, t);
        else
            rc = fail(c, line_of(it), "a target must be \"host:port\" or {addr, weight}");
    }
    return rc < 0 ? rc : repeated_target(c, v, u);
}

static int up_targets_from(cx *c, yaml_node_t *v, void *obj)
{
    const char *s = NULL;
    int rc = string(c, v, "targets_from", &s);
    if (rc < 0)
        return rc;
    if (strcmp(s, "etcd"))
        return fail(c, line_of(v), "bad targets_from \"%s\" (expected etcd)", q(c, s));
    if (!c->cfg->netcd)
        return fail(c, line_of(v), "targets_from: etcd needs \"etcd\" with its endpoints");
    ((gw_upstream_cfg *)obj)->from_etcd = true;
    return 0;
}

static int health_check(cx *c, yaml_node_t *map, yaml_node_t *const *vals, void *obj)
{
    (void)vals;
    return ((gw_upstream_cfg *)obj)->health.path
               ? 0
               : fail(c, line_of(map), "health_check needs \"path\"");
}

static const field health_fields[] = {
    F("path", K_PATH, gw_upstream_cfg, health.path),
    FR("interval", K_DUR, gw_upstream_cfg, health.interval, 1, INFINITY, "> 0"),
    FR("timeout", K_DUR, gw_upstream_cfg, health.timeout, 1, INFINITY, "> 0"),
    FR("expect_status", K_INT, gw_upstream_cfg, health.expect_status, 100, 599, "100..599"),
    FR("rise", K_INT, gw_upstream_cfg, health.rise, 1, 1000, "1..1000"),
    FR("fall", K_INT, gw_upstream_cfg, health.fall, 1, 1000, "1..1000"),
};
static const table health_table = {"health_check", TABLE(health_fields), health_check};

static const field outlier_fields[] = {
    FR("consecutive_5xx", K_INT, gw_upstream_cfg, eject_5xx, 0, 1e6, "0..1000000"),
    FR("consecutive_errors", K_INT, gw_upstream_cfg, eject_errors, 0, 1e6, "0..1000000"),
    FR("base_ejection_time", K_DUR, gw_upstream_cfg, eject_time, 1, INFINITY, "> 0"),
    FR("max_ejection_time", K_DUR, gw_upstream_cfg, eject_max, 1, INFINITY, "> 0"),
};
static const table outlier_table = {"outlier", TABLE(outlier_fields), NULL};

static int up_outlier(cx *c, yaml_node_t *v, void *obj)
{
    gw_upstream_cfg *u = obj;
    if (is_off(v)) {
        u->eject_5xx = u->eject_errors = 0;
        return 0;
    }
    if (v->type == YAML_SCALAR_NODE)
        return fail(c, line_of(v), "outlier must be a mapping or off");
    int rc = walk_map(c, v, "outlier", &outlier_table, u);
    if (rc == 0 && u->eject_max < u->eject_time)
        return fail(c, line_of(v), "outlier max_ejection_time is below base_ejection_time");
    return rc;
}

static const field breaker_fields[] = {
    FR("min_requests", K_INT, gw_upstream_cfg, breaker_min, 0, 1e6, "0..1000000"),
    FR("failure_ratio", K_NUM, gw_upstream_cfg, breaker_ratio, DBL_MIN, 1, "> 0 and <= 1"),
    FR("window", K_DUR, gw_upstream_cfg, breaker_window, 1, INFINITY, "> 0"),
    FR("open_time", K_DUR, gw_upstream_cfg, breaker_open, 1, INFINITY, "> 0"),
    FR("half_open_probes", K_INT, gw_upstream_cfg, breaker_probes, 1, 1000, "1..1000"),
};
static const table breaker_table = {"circuit_breaker", TABLE(breaker_fields), NULL};

static int up_breaker(cx *c, yaml_node_t *v, void *obj)
{
    gw_upstream_cfg *u = obj;
    if (is_off(v)) {
        u->breaker_min = 0;
        return 0;
    }
    if (v->type == YAML_SCALAR_NODE)
        return fail(c, line_of(v), "circuit_breaker must be a mapping or off");
    return walk_map(c, v, "circuit_breaker", &breaker_table, u);
}

static const field limits_fields[] = {
    FR("max_inflight", K_INT, gw_upstream_cfg, max_inflight, 1, 1e6, "1..1000000"),
    FR("max_queue", K_INT, gw_upstream_cfg, max_queue, 0, 1e6, "0..1000000"),
    FR("queue_timeout", K_DUR, gw_upstream_cfg, queue_timeout, 0, INFINITY, ">= 0"),
};
static const table limits_table = {"limits", TABLE(limits_fields), NULL};

static const field upstream_fields[] = {
    {"name", K_FN, 0, .fn = up_name},
    {"balance", K_FN, 0, .fn = up_balance},
    {"hash_key", K_FN, 0, .fn = up_hash_key},
    {"targets", K_FN, 0, .fn = up_targets},
    {"targets_from", K_FN, 0, .fn = up_targets_from},
    F("tls", K_BOOL, gw_upstream_cfg, tls),
    F("tls_insecure", K_BOOL, gw_upstream_cfg, tls_insecure),
    {"health_check", K_MAP, 0, .sub = &health_table},
    {"outlier", K_FN, 0, .fn = up_outlier},
    {"circuit_breaker", K_FN, 0, .fn = up_breaker},
    {"limits", K_MAP, 0, .sub = &limits_table},
};

static int upstream_check(cx *c, yaml_node_t *map, yaml_node_t *const *vals, void *obj);
static const table upstream_table = {"upstream", TABLE(upstream_fields), upstream_check};

static int upstream_check(cx *c, yaml_node_t *map, yaml_node_t *const *vals, void *obj)
{
    const table *t = &upstream_table;
    gw_upstream_cfg *u = obj;
    yaml_node_t *targets = given(t, vals, "targets"), *from = given(t, vals, "targets_from"), *v;
    if (!u->name)
        return needs(c, t, map, "name");
    if (!targets && !from)
        return fail(c, line_of(map), "upstream needs \"targets\" (or targets_from: etcd)");
    if (targets && from)
        return fail(c, line_of(from), "upstream \"%s\" has both \"targets\" and \"targets_from\"",
                    u->name);
    if ((v = given(t, vals, "hash_key")) && u->balance != GOC_BALANCE_HASH)
        return fail(c, line_of(v), "hash_key is only used with balance: hash");
    if ((v = given(t, vals, "tls_insecure")) && u->tls_insecure && !u->tls)
        return fail(c, line_of(v), "tls_insecure needs tls: true");
    if (!u->health.timeout) /* not given: min(interval, 2s) */
        u->health.timeout =
            u->health.interval < 2 * GOC_SECOND ? u->health.interval : 2 * GOC_SECOND;
    return 0;
}

static int upstream_defaults(cx *c, gw_upstream_cfg *u, yaml_node_t *it)
{
    u->line = line_of(it);
    u->balance = GOC_BALANCE_ROUND_ROBIN;
    u->health.interval = 5 * GOC_SECOND;
    u->health.rise = u->health.fall = 2;
    u->eject_5xx = 5;
    u->eject_errors = 3;
    u->eject_time = 10 * GOC_SECOND;
    u->eject_max = 300 * GOC_SECOND;
    u->breaker_min = 20;
    u->breaker_ratio = 0.5;
    u->breaker_window = 10 * GOC_SECOND;
    u->breaker_open = 5 * GOC_SECOND;
    u->breaker_probes = 3;
    u->max_inflight = 1024;
    u->max_queue = 1024;
    u->queue_timeout = GOC_SECOND;
    return set_str(c, &u->hash_key, "ip");
}

static int parse_upstreams(cx *c, yaml_node_t *v, void *obj)
{
    gw_config *g = obj;
    size_t n = 0;
    int rc = seq(c, v, "upstreams", &n);
    if (rc < 0 || n == 0)
        return rc;
    if (!(g->upstreams = calloc(n, sizeof *g->upstreams)))
        return nomem(c);
    for (size_t i = 0; i < n && rc == 0; i++) {
        yaml_node_t *it = item(c, v, i);
        g->nupstreams = i + 1;
        rc = upstream_defaults(c, &g->upstreams[i], it);
        if (rc == 0)
            rc = walk_map(c, it, "an upstream", &upstream_table, &g->upstreams[i]);
    }
    return rc;
}

/* ---- routes ---------------------------------------------------------------------- */

static int route_match(cx *c, yaml_node_t *v, void *obj)
{
    gw_route_cfg *r = obj;
    const char *s = NULL;
    int rc = string(c, v, "match", &s);
    if (rc < 0)
        return rc;
    c->match_line[r - c->cfg->routes] = line_of(v);
    return set_str(c, &r->match, s);
}

static int route_upstream(cx *c, yaml_node_t *v, void *obj)
{
    gw_config *g = c->cfg;
    const char *s, *best = NULL;
    size_t bestd = SIZE_MAX;
    int rc = string(c, v, "upstream", &s);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < g->nupstreams; i++) {
        if (!strcmp(g->upstreams[i].name, s))
            return set_str(c, &((gw_route_cfg *)obj)->upstream, s);
        gw__consider(s, g->upstreams[i].name, &best, &bestd);
    }
    if (best)
        return fail(c, line_of(v), "route upstream \"%s\" is not defined (did you mean \"%s\"?)",
                    q(c, s), best);
    return fail(c, line_of(v), "route upstream \"%s\" is not defined", q(c, s));
}

/* One header condition: NAME: "value" (equal) or NAME: true (present). */
static int header_cond(cx *c, gw_route_cfg *r, yaml_node_t *k, yaml_node_t *v)
{
    gw_header_cond *h = &r->headers[r->nheaders - 1];
    const char *name = NULL, *val = NULL;
    int rc = text(c, k, "a header name", "a string", &name);
    if (rc < 0)
        return rc;
    if (!gw__is_token(name))
        return fail(c, line_of(k), "bad header name \"%s\"", q(c, name));
    for (gw_header_cond *e = r->headers; e < h; e++) {
        if (!strcasecmp(e->name, name))
            return fail(c, line_of(k), "header \"%s\" repeated", name);
    }
    if ((rc = set_str(c, &h->name, name)) < 0)
        return rc;
    if (v->type != YAML_SCALAR_NODE || is_null(v))
        return fail(c, line_of(v), "header \"%s\" must be a string or true", name);
    val = (const char *)v->data.scalar.value;
    if (v->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !strcmp(val, "true"))
        return 0; /* present, any value */
    if (v->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !strcmp(val, "false"))
        return fail(c, line_of(v), "header \"%s\": false is not supported (true: present)", name);
    if ((rc = text(c, v, name, "a string", &val)) < 0)
        return rc;
    return set_str(c, &h->value, val);
}

static int route_headers(cx *c, yaml_node_t *v, void *obj)
{
    gw_route_cfg *r = obj;
    if (v->type != YAML_MAPPING_NODE)
        return fail(c, line_of(v), "headers must be a mapping");
    size_t n = (size_t)(v->data.mapping.pairs.top - v->data.mapping.pairs.start);
    c->walked += n;
    if (n > MAX_HEADERS)
        return fail(c, line_of(v), "headers has %zu conditions (at most %d)", n, MAX_HEADERS);
    if (c->walked > MAX_WALKED)
        return fail(c, line_of(v), "more than %d values once aliases are expanded", MAX_WALKED);
    if (n == 0)
        return 0;
    if (!(r->headers = calloc(n, sizeof *r->headers)))
        return nomem(c);
    for (size_t i = 0; i < n; i++) {
        yaml_node_pair_t *p = &v->data.mapping.pairs.start[i];
        r->nheaders = i + 1;
        int rc = header_cond(c, r, node(c, p->key), node(c, p->value));
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int rate_key(cx *c, yaml_node_t *v, void *obj)
{
    return request_key(c, v, "key", false, &((gw_route_cfg *)obj)->rate_key);
}

static int rate_check(cx *c, yaml_node_t *map, yaml_node_t *const *vals, void *obj)
{
    gw_route_cfg *r = obj;
    if (!vals[0])
        return fail(c, line_of(map), "rate_limit needs \"rate\"");
    if (!r->burst) { /* not given: the rate rounded up, at least 1 (no libm for ceil) */
        int whole = (int)r->rate;
        r->burst = whole < 1 ? 1 : whole < r->rate ? whole + 1 : whole;
    }
    return 0;
}

static const field rate_fields[] = {
    FR("rate", K_NUM, gw_route_cfg, rate, DBL_MIN, 1e9, "> 0 and <= 1000000000"),
    FR("burst", K_INT, gw_route_cfg, burst, 1, 1e9, "1..1000000000"),
    {"key", K_FN, 0, .fn = rate_key},
};
static const table rate_table = {"rate_limit", TABLE(rate_fields), rate_check};

static const field route_fields[] = {
    {"match", K_FN, 0, .fn = route_match},
    {"upstream", K_FN, 0, .fn = route_upstream},
    {"headers", K_FN, 0, .fn = route_headers},
    F("strip_prefix", K_PATH, gw_route_cfg, strip_prefix),
    F("rewrite_prefix", K_PATH, gw_route_cfg, rewrite_prefix),
    FR("timeout", K_DUR, gw_route_cfg, timeout, 0, INFINITY, ">= 0"), /* 0: none */
    FR("retries", K_INT, gw_route_cfg, retries, 0, 10, "0..10"),
    F("cache", K_BOOL, gw_route_cfg, cache),
    {"rate_limit", K_MAP, 0, .sub = &rate_table},
};

static int route_check(cx *c, yaml_node_t *map, yaml_node_t *const *vals, void *obj);
static const table route_table = {"route", TABLE(route_fields), route_check};

static int route_check(cx *c, yaml_node_t *map, yaml_node_t *const *vals, void *obj)
{
    (void)vals;
    gw_route_cfg *r = obj;
    if (!r->match)
        return needs(c, &route_table, map, "match");
    if (!r->upstream)
        return needs(c, &route_table, map, "upstream");
    return 0;
}

static void nop_handler(goc_http_response_writer *w, goc_http_request *r, void *arg)
{
    (void)w, (void)r, (void)arg;
}

/* goc_errmsg() on one line. */
static void mux_why(char *buf, size_t len)
{
    snprintf(buf, len, "%s", goc_errmsg());
    for (char *p = buf; *p; p++) {
        if ((unsigned char)*p < ' ')
            *p = ' ';
    }
}

/* Route i's pattern conflicts with an earlier one: find which, by pairs. */
static int conflict(cx *c, size_t i, const char *why)
{
    gw_route_cfg *rs = c->cfg->routes;
    for (size_t j = 0; j < i; j++) {
        goc_http_mux *m = goc_http_mux_new();
        if (!m)
            return nomem(c);
        int rc = goc_http_mux_handle_func(m, rs[j].match, nop_handler, NULL);
        if (rc == 0)
            rc = goc_http_mux_handle_func(m, rs[i].match, nop_handler, NULL);
        goc_http_mux_free(m);
        if (rc == -ENOMEM)
            return nomem(c);
        if (rc < 0)
            return fail(c, c->match_line[i],
                        "route match \"%s\" conflicts with the route at line %d (%s)",
                        q(c, rs[i].match), rs[j].line, why);
    }
    return fail(c, c->match_line[i], "route match \"%s\": %s", q(c, rs[i].match), why);
}

/* Each distinct pattern once on a scratch mux, as the gateway will (routes
 * with one pattern differ by their header conditions; a route after one
 * of the same pattern without conditions never matches). */
static int check_patterns(cx *c)
{
    gw_route_cfg *rs = c->cfg->routes;
    goc_http_mux *m = goc_http_mux_new();
    char why[256];
    int rc = m ? 0 : nomem(c);
    for (size_t i = 0; rc == 0 && i < c->cfg->nroutes; i++) {
        size_t j = 0;
        while (j < i && strcmp(rs[j].match, rs[i].match))
            j++;
        for (size_t k = j; k < i && rc == 0; k++) {
            if (!strcmp(rs[k].match, rs[i].match) && !rs[k].nheaders)
                rc = fail(c, c->match_line[i],
                          "route \"%s\" never matches: the route at line %d has the same match "
                          "and no headers",
                          q(c, rs[i].match), rs[k].line);
        }
        if (rc < 0 || j < i)
            continue;
        rc = goc_http_mux_handle_func(m, rs[i].match, nop_handler, NULL);
        if (rc == -ENOMEM) {
            rc = nomem(c);
        } else if (rc == GOC_EHTTP_PATTERN_CONFLICT) {
            mux_why(why, sizeof why);
            rc = conflict(c, i, why);
        } else if (rc < 0) {
            mux_why(why, sizeof why);
            rc = fail(c, c->match_line[i], "bad route match \"%s\" (%s)", q(c, rs[i].match), why);
        }
    }
    goc_http_mux_free(m);
    return rc;
}

static int route_defaults(cx *c, gw_route_cfg *r, yaml_node_t *it)
{
    r->line = line_of(it);
    r->timeout = 30 * GOC_SECOND;
    r->retries = 1;
    return set_str(c, &r->rate_key, "ip");
}

static int parse_routes(cx *c, yaml_node_t *v, void *obj)
{
    gw_config *g = obj;
    size_t n = 0;
    int rc = seq(c, v, "routes", &n);
    if (rc < 0 || n == 0)
        return rc;
    g->routes = calloc(n, sizeof *g->routes);
    c->match_line = calloc(n, sizeof *c->match_line);
    if (!g->routes || !c->match_line)
        return nomem(c);
    for (size_t i = 0; i < n && rc == 0; i++) {
        yaml_node_t *it = item(c, v, i);
        g->nroutes = i + 1;
        rc = route_defaults(c, &g->routes[i], it);
        if (rc == 0)
            rc = walk_map(c, it, "a route", &route_table, &g->routes[i]);
    }
    return rc < 0 ? rc : check_patterns(c);
}

/* ---- the top level ----------------------------------------------------------------- */

static int access_log(cx *c, yaml_node_t *v, void *obj)
{
    gw_config *g = obj;
    const char *s = NULL;
    int rc = string(c, v, "access_log", &s);
    if (rc < 0)
        return rc;
    if (!strcmp(s, "off")) {
        free(g->access_log);
        g->access_log = NULL;
        return 0;
    }
    return set_str(c, &g->access_log, s);
}

static int tls_check(cx *c, yaml_node_t *map, yaml_node_t *const *vals, void *obj)
{
    (void)obj;
    if (!vals[0] && !vals[1])
        return fail(c, line_of(map), "tls needs \"cert\" and \"key\"");
    if (!vals[1])
        return fail(c, line_of(map), "tls needs \"key\" with \"cert\"");
    if (!vals[0])
        return fail(c, line_of(map), "tls needs \"cert\" with \"key\"");
    return 0;
}

static const field tls_fields[] = {
    F("cert", K_STR, gw_config, tls_cert),
    F("key", K_STR, gw_config, tls_key),
};
static const table tls_table = {"tls", TABLE(tls_fields), tls_check};

static const field cache_fields[] = {
    F("max_bytes", K_SIZE, gw_config, cache_bytes),
    FR("default_ttl", K_DUR, gw_config, cache_ttl, 0, INFINITY, ">= 0"),
};
static const table cache_table = {"cache", TABLE(cache_fields), NULL};

static const field budget_fields[] = {
    FR("ratio", K_NUM, gw_config, retry_budget, 0, 1, "0..1"),
    FR("min_per_second", K_INT, gw_config, retry_min_per_sec, 0, 1e6, "0..1000000"),
};
static const table budget_table = {"retry_budget", TABLE(budget_fields), NULL};

/* An etcd endpoint: "http(s)://host:port", or host:port meaning http. */
static int etcd_endpoints(cx *c, yaml_node_t *v, void *obj)
{
    gw_config *g = obj;
    size_t n = 0;
    int rc = seq(c, v, "endpoints", &n);
    if (rc < 0)
        return rc;
    if (n == 0)
        return fail(c, line_of(v), "endpoints must not be empty");
    if (!(g->etcd_endpoints = calloc(n, sizeof *g->etcd_endpoints)))
        return nomem(c);
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *it = item(c, v, i);
        const char *s = NULL, *why = NULL;
        g->netcd = i + 1;
        if ((rc = string(c, it, "an etcd endpoint", &s)) < 0)
            return rc;
        bool scheme = !strncmp(s, "http://", 7) || !strncmp(s, "https://", 8);
        const char *host = scheme ? strstr(s, "://") + 3 : s;
        why = scheme ? (*host && *host != '/' ? NULL : "no host") : gw__addr_problem(s, true, 1);
        if (why)
            return fail(c, line_of(it), "bad etcd endpoint \"%s\" (expected http://host:port)",
                        q(c, s));
        if (scheme) {
            rc = set_str(c, &g->etcd_endpoints[i], s);
        } else if (asprintf(&g->etcd_endpoints[i], "http://%s", s) < 0) {
            g->etcd_endpoints[i] = NULL;
            rc = nomem(c);
        }
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int etcd_check(cx *c, yaml_node_t *map, yaml_node_t *const *vals, void *obj)
{
    (void)vals;
    return ((gw_config *)obj)->netcd ? 0 : fail(c, line_of(map), "etcd needs \"endpoints\"");
}

static const field etcd_fields[] = {
    {"endpoints", K_FN, 0, .fn = etcd_endpoints},
    F("prefix", K_STR, gw_config, etcd_prefix),
};
static const table etcd_table = {"etcd", TABLE(etcd_fields), etcd_check};

static int top_check(cx *c, yaml_node_t *map, yaml_node_t *const *vals, void *obj)
{
    (void)vals;
    if (!((gw_config *)obj)->listen)
        return fail(c, line_of(map), "the configuration needs \"listen\"");
    return 0;
}

/* Table order is the order of reading: etcd before upstreams (targets_from
 * checks it), upstreams before routes (a route names its upstream). */
static const field top_fields[] = {
    F("listen", K_ADDR, gw_config, listen),
    F("admin", K_ADDR, gw_config, admin),
    {"tls", K_MAP, 0, .sub = &tls_table},
    {"access_log", K_FN, 0, .fn = access_log},
    {"cache", K_MAP, 0, .sub = &cache_table},
    {"retry_budget", K_MAP, 0, .sub = &budget_table},
    FR("shutdown_timeout", K_DUR, gw_config, shutdown_timeout, 0, INFINITY, ">= 0"),
    {"etcd", K_MAP, 0, .sub = &etcd_table},
    {"upstreams", K_FN, 0, .fn = parse_upstreams},
    {"routes", K_FN, 0, .fn = parse_routes},
};
static const table top_table = {"the configuration", TABLE(top_fields), top_check};

/* ---- loading --------------------------------------------------------------------- */

static int yaml_error(cx *c, const yaml_parser_t *p, const char *src, size_t len)
{
    if (p->error == YAML_MEMORY_ERROR || p->error == YAML_NO_ERROR)
        return nomem(c); /* some of libyaml's allocation failures set no error */
    int line = (int)p->problem_mark.line + 1;
    if (p->error == YAML_READER_ERROR) { /* no mark: count the lines to the bad byte */
        line = 1;
        for (size_t i = 0; i < p->problem_offset && i < len; i++)
            line += src[i] == '\n';
    }
    const char *problem = p->problem ? p->problem : "bad YAML";
    if (p->context)
        return fail(c, line, "%s (%s at line %d)", problem, p->context,
                    (int)p->context_mark.line + 1);
    return fail(c, line, "%s", problem);
}

/* libyaml's scanner is quadratic in the nesting of flow collections
 * ("[[[[...": seconds for 100 KB), and yaml_parser_load reads the whole
 * document before we see it: a first pass over the events stops at
 * MAX_DEPTH levels (the schema needs 5) so a pathological file costs no
 * more than a normal one. It also finds any syntax error first. */
static int check_depth(cx *c, const char *src, size_t len)
{
    yaml_parser_t p;
    yaml_event_t e;
    int depth = 0, rc = 0;
    if (!yaml_parser_initialize(&p))
        return nomem(c);
    yaml_parser_set_input_string(&p, (const unsigned char *)src, len);
    while (rc == 0) {
        if (!yaml_parser_parse(&p, &e)) {
            rc = yaml_error(c, &p, src, len);
            break;
        }
        yaml_event_type_t t = e.type;
        int line = (int)e.start_mark.line + 1;
        yaml_event_delete(&e);
        if (t == YAML_STREAM_END_EVENT)
            break;
        if (t == YAML_SEQUENCE_START_EVENT || t == YAML_MAPPING_START_EVENT) {
            if (++depth > MAX_DEPTH)
                rc = fail(c, line, "nested deeper than %d levels", MAX_DEPTH);
        } else if (t == YAML_SEQUENCE_END_EVENT || t == YAML_MAPPING_END_EVENT) {
            depth--;
        }
    }
    yaml_parser_delete(&p);
    return rc;
}

/* c->doc from src: exactly one document, not empty. */
static int load(cx *c, const char *src, size_t len)
{
    yaml_parser_t p;
    yaml_document_t next;
    int rc = check_depth(c, src, len);
    if (rc < 0)
        return rc;
    if (!yaml_parser_initialize(&p))
        return nomem(c);
    yaml_parser_set_input_string(&p, (const unsigned char *)src, len);
    if (!yaml_parser_load(&p, &c->doc)) {
        rc = yaml_error(c, &p, src, len);
        yaml_parser_delete(&p);
        return rc;
    }
    yaml_node_t *root = yaml_document_get_root_node(&c->doc);
    if (!root || is_null(root)) {
        rc = fail(c, 1, "empty file (expected at least \"listen\")");
    } else if (!yaml_parser_load(&p, &next)) {
        rc = yaml_error(c, &p, src, len);
    } else {
        yaml_node_t *r2 = yaml_document_get_root_node(&next);
        if (r2)
            rc = fail(c, line_of(r2), "a second YAML document (the file must hold one)");
        yaml_document_delete(&next);
    }
    yaml_parser_delete(&p);
    if (rc < 0)
        yaml_document_delete(&c->doc);
    return rc;
}

static int config_defaults(cx *c, gw_config *g)
{
    g->cache_bytes = 64u << 20;
    g->retry_budget = 0.2;
    g->retry_min_per_sec = 10;
    g->shutdown_timeout = 30 * GOC_SECOND;
    int rc = set_str(c, &g->path, c->name);
    return rc < 0 ? rc : set_str(c, &g->etcd_prefix, "/goc-gateway/");
}

int gw_config_parse(const char *name, const char *yaml, size_t len, gw_config **out, char *err,
                    size_t errlen)
{
    cx c = {.name = name ? name : "config", .err = err, .errlen = err ? errlen : 0};
    if (c.errlen)
        err[0] = 0;
    if (!out)
        return -EINVAL;
    *out = NULL;
    int rc = load(&c, yaml ? yaml : "", yaml ? len : 0);
    if (rc < 0)
        return rc;
    if (!(c.cfg = calloc(1, sizeof *c.cfg)))
        rc = nomem(&c);
    if (rc == 0)
        rc = config_defaults(&c, c.cfg);
    if (rc == 0)
        rc = walk_map(&c, yaml_document_get_root_node(&c.doc), "the top level", &top_table, c.cfg);
    yaml_document_delete(&c.doc);
    free(c.match_line);
    if (rc < 0) {
        gw_config_free(c.cfg);
        return rc;
    }
    *out = c.cfg;
    return 0;
}

/* The whole file at path (NUL-terminated) or a negative errno. */
static int read_file(const char *path, char **out, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    int rc = buf ? 0 : -ENOMEM;
    while (rc == 0) {
        if (n + 1 == cap) {
            char *b = cap > MAX_FILE_BYTES ? NULL : realloc(buf, cap * 2);
            if (!b) {
                rc = cap > MAX_FILE_BYTES ? -EFBIG : -ENOMEM;
                break;
            }
            buf = b;
            cap *= 2;
        }
        ssize_t r = read(fd, buf + n, cap - n - 1);
        if (r < 0 && errno != EINTR)
            rc = -errno;
        else if (r == 0)
            break;
        else if (r > 0)
            n += (size_t)r;
    }
    close(fd);
    if (rc < 0) {
        free(buf);
        return rc;
    }
    buf[n] = 0;
    *out = buf;
    *len = n;
    return 0;
}

int gw_config_load(const char *path, gw_config **out, char *err, size_t errlen)
{
    char *buf = NULL, ebuf[128];
    size_t len = 0;
    if (!path || !out)
        return -EINVAL;
    *out = NULL;
    int rc = read_file(path, &buf, &len);
    if (rc < 0) {
        if (err && errlen)
            snprintf(err, errlen, "%s: %s", path, strerror_r(-rc, ebuf, sizeof ebuf));
        return rc;
    }
    rc = gw_config_parse(path, buf, len, out, err, errlen);
    free(buf);
    return rc;
}

void gw_config_free(gw_config *c)
{
    if (!c)
        return;
    free(c->path);
    free(c->listen);
    free(c->admin);
    free(c->tls_cert);
    free(c->tls_key);
    free(c->access_log);
    for (size_t i = 0; i < c->netcd; i++)
        free(c->etcd_endpoints[i]);
    free(c->etcd_endpoints);
    free(c->etcd_prefix);
    for (size_t i = 0; i < c->nupstreams; i++) {
        gw_upstream_cfg *u = &c->upstreams[i];
        free(u->name);
        free(u->hash_key);
        for (size_t j = 0; j < u->ntargets; j++)
            free(u->targets[j].addr);
        free(u->targets);
        free(u->health.path);
    }
    free(c->upstreams);
    for (size_t i = 0; i < c->nroutes; i++) {
        gw_route_cfg *r = &c->routes[i];
        free(r->match);
        free(r->upstream);
        for (size_t j = 0; j < r->nheaders; j++) {
            free(r->headers[j].name);
            free(r->headers[j].value);
        }
        free(r->headers);
        free(r->strip_prefix);
        free(r->rewrite_prefix);
        free(r->rate_key);
    }
    free(c->routes);
    free(c);
}
