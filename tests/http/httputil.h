/*
 * httputil.h — helpers for the HTTP parser's tests: parse a raw message all
 * at once and one byte at a time, check both agree, and compare spans with
 * strings.
 */
#ifndef GOC_TESTS_HTTPUTIL_H
#define GOC_TESTS_HTTPUTIL_H

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/http/parse.h"

#define MAXF 128

typedef struct preq {
    int rc;
    goc__hreq r;
    goc__hfield f[MAXF];
    const char *buf;
} preq;

static inline int same_span(goc__hspan a, goc__hspan b)
{
    return a.off == b.off && a.len == b.len;
}

static inline int span_is(const char *buf, goc__hspan s, const char *want)
{
    return s.len == strlen(want) && memcmp(buf + s.off, want, s.len) == 0;
}

/* Parse buf[0, n) with one call. */
static inline void parse_once(const char *buf, size_t n, const goc__hlimits *lim, preq *p)
{
    size_t scanned = 0;
    memset(p, 0, sizeof *p);
    p->r.fields = p->f;
    p->r.fields_cap = MAXF;
    p->buf = buf;
    p->rc = goc__http_parse_request(buf, n, &scanned, &p->r, lim);
}

/* Parse buf[0, n) fed one byte more per call; every call before the last
 * must return 0. */
static inline void parse_bytewise(const char *buf, size_t n, const goc__hlimits *lim, preq *p)
{
    size_t scanned = 0;
    memset(p, 0, sizeof *p);
    p->r.fields = p->f;
    p->r.fields_cap = MAXF;
    p->buf = buf;
    for (size_t k = 0; k <= n; k++) {
        p->rc = goc__http_parse_request(buf, k, &scanned, &p->r, lim);
        if (p->rc != 0)
            return;
        cr_assert_leq(scanned, k);
    }
}

static inline void assert_same_req(const preq *a, const preq *b)
{
    cr_assert_eq(a->rc, b->rc);
    if (a->rc < 0) {
        cr_assert_eq(a->r.status, b->r.status);
        cr_assert_str_eq(a->r.why, b->r.why);
        return;
    }
    const goc__hreq *x = &a->r, *y = &b->r;
    cr_assert(same_span(x->method, y->method) && same_span(x->target, y->target));
    cr_assert_eq(x->form, y->form);
    cr_assert_eq(x->minor, y->minor);
    cr_assert_eq(x->body, y->body);
    cr_assert_eq(x->content_length, y->content_length);
    cr_assert_eq(x->keep_alive, y->keep_alive);
    cr_assert_eq(x->expect_continue, y->expect_continue);
    cr_assert_eq(x->upgrade, y->upgrade);
    cr_assert_eq(x->has_host, y->has_host);
    cr_assert(same_span(x->host, y->host));
    cr_assert_eq(x->nfields, y->nfields);
    for (uint32_t i = 0; i < x->nfields; i++)
        cr_assert(same_span(a->f[i].name, b->f[i].name) && same_span(a->f[i].value, b->f[i].value));
}

/* With GOC_HTTP_SEEDS=DIR in the environment, every input a test parses
 * is also written to DIR/<target>/test-<hash>: the seed corpora of fuzz/
 * come from the tests this way (fuzz/README.md). prefix: bytes the fuzz
 * target reads before the message (the response target's request flags). */
static inline void save_seed(const char *target, const char *prefix, size_t np, const char *raw,
                             size_t n)
{
    const char *dir = getenv("GOC_HTTP_SEEDS");
    if (!dir)
        return;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < np + n; i++)
        h = (h ^ (unsigned char)(i < np ? prefix[i] : raw[i - np])) * 1099511628211ull;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s/test-%016llx", dir, target, (unsigned long long)h);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "%s", path);
    cr_assert_eq(fwrite(prefix, 1, np, f), np);
    cr_assert_eq(fwrite(raw, 1, n, f), n);
    fclose(f);
}

/* Parse raw[0, n) both ways, check they agree, and return the one-call
 * result in *p. */
static inline void parse_both(const char *raw, size_t n, const goc__hlimits *lim, preq *p)
{
    save_seed("request", "", 0, raw, n);
    /* An exactly-sized copy: ASan (make test-asan) catches reads past n. */
    char *buf = malloc(n ? n : 1);
    cr_assert_not_null(buf);
    memcpy(buf, raw, n);
    static preq inc;
    parse_once(buf, n, lim, p);
    parse_bytewise(buf, n, lim, &inc);
    assert_same_req(p, &inc);
    p->buf = raw; /* spans are offsets: valid against raw too */
    free(buf);
}

/* A request that must be accepted with the whole of raw as its head. */
static inline void accept_req(const char *raw, preq *p)
{
    size_t n = strlen(raw);
    parse_both(raw, n, NULL, p);
    cr_assert_eq(p->rc, (int)n, "rc %d (%s) for %s", p->rc, p->r.why ? p->r.why : "", raw);
}

/* A request that must be rejected with status (raw of length n). */
static inline void reject_req_n(const char *raw, size_t n, int status, const goc__hlimits *lim)
{
    static preq p;
    parse_both(raw, n, lim, &p);
    cr_assert_lt(p.rc, 0, "rc %d for %.*s", p.rc, (int)n, raw);
    cr_assert_eq(p.r.status, status, "status %d (%s), want %d, for %.*s", p.r.status, p.r.why,
                 status, (int)n, raw);
    cr_assert_not_null(p.r.why);
    static const struct {
        int status, err;
    } codes[] = {{400, -EBADMSG},
                 {417, -ENOTSUP},
                 {431, -EMSGSIZE},
                 {501, -ENOSYS},
                 {505, -EPROTONOSUPPORT}};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        if (codes[i].status == status)
            cr_assert_eq(p.rc, codes[i].err);
    }
}

static inline void reject_req(const char *raw, int status)
{
    reject_req_n(raw, strlen(raw), status, NULL);
}

#endif /* GOC_TESTS_HTTPUTIL_H */
