/*
 * check.h — the invariants the fuzz targets check, shared with the test
 * that replays fuzz/regression and the seed corpora
 * (tests/http/test_fuzz_replay.c). Each check_* takes one input and returns
 * NULL, or a static string naming the invariant it broke.
 *
 * For every input, whatever the parser decides:
 *   - every span lies inside the bytes the call was given (inside the head
 *     or the bytes used), and holds only bytes its grammar allows;
 *   - the outcome is a function of the bytes, not of how they arrive: one
 *     call on all of them, one byte at a time (resuming with *scanned or
 *     the decoder's state), and pieces cut at pseudo-random points (each
 *     prefix copied into a buffer of exactly its size, so AddressSanitizer
 *     sees any read past the end) give the same result, field for field;
 *   - a complete head parses the same with the bytes after it cut off
 *     (pipelining: the parser never looks past a head's end);
 *   - a rejection carries a status the server can answer and a reason.
 * Each is run with the default limits and with small ones, so the limit
 * paths (431) are reached too.
 *
 * Header-only, with static functions, because the fuzz targets (clang,
 * fuzz/CMakeLists.txt) and the test (tests/CMakeLists.txt, one .c file per
 * executable) are built by different projects.
 */
#ifndef GOC_FUZZ_CHECK_H
#define GOC_FUZZ_CHECK_H

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../src/http/parse.h"

#define FZ_MAXF 128

/* Where the pieces of an input are cut: a small xorshift generator seeded
 * by the input, so a run is reproducible from the input alone. */
static inline uint64_t fz_seed(const uint8_t *d, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ d[i]) * 1099511628211ull;
    return h | 1;
}

static inline size_t fz_next(uint64_t *s, size_t bound)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return bound ? (size_t)(*s % bound) : 0;
}

/* A copy of d[0, n) in a buffer of exactly n bytes (at least 1). */
static inline char *fz_dup(const uint8_t *d, size_t n)
{
    char *p = malloc(n ? n : 1);
    if (p && n)
        memcpy(p, d, n);
    return p;
}

static inline int fz_cls(unsigned char c)
{
    /* The grammar's classes, written out again here rather than taken
     * from chars.c, so a wrong table is caught. */
    static const char tspecial[] = "!#$%&'*+-.^_`|~";
    int tchar = (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') ||
                (c && strchr(tspecial, c));
    int vchar = c >= 0x21 && c <= 0x7e;
    int value = vchar || c >= 0x80 || c == ' ' || c == '\t';
    return tchar | vchar << 1 | value << 2;
}

static inline int fz_all(const char *b, goc__hspan s, int bit)
{
    for (uint32_t i = 0; i < s.len; i++) {
        if (!(fz_cls((unsigned char)b[s.off + i]) & bit))
            return 0;
    }
    return 1;
}

static inline int fz_inside(goc__hspan s, size_t end)
{
    return (uint64_t)s.off + s.len <= end;
}

/* The field lines of a parsed head at b[0, end). */
static inline const char *fz_check_fields(const char *b, size_t end, const goc__hfield *f,
                                          uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        goc__hspan k = f[i].name, v = f[i].value;
        if (!fz_inside(k, end) || !fz_inside(v, end))
            return "field span outside the head";
        if (k.len == 0 || !fz_all(b, k, 1))
            return "field name not a token";
        if (b[k.off + k.len] != ':')
            return "field name not followed by a colon";
        if (!fz_all(b, v, 4))
            return "field value holds a byte outside its class";
        if (v.len && (b[v.off] == ' ' || b[v.off] == '\t' || b[v.off + v.len - 1] == ' ' ||
                      b[v.off + v.len - 1] == '\t'))
            return "field value not trimmed";
    }
    return NULL;
}

static inline int fz_same_fields(const goc__hfield *a, const goc__hfield *b, uint32_t n)
{
    return memcmp(a, b, n * sizeof *a) == 0;
}

/* ---- oracles: what an accepted head must be, re-derived from its raw
 * bytes by code that shares nothing with the parser ---- */

typedef struct fz_raw {
    int crlf_only; /* every CR and LF is part of a CRLF */
    int ws_start;  /* a field line starts with SP or HTAB */
    int lines;     /* field lines */
    int cl, te, host;
} fz_raw;

static inline int fz_name_is(const char *line, size_t n, const char *name)
{
    size_t k = strlen(name);
    if (n <= k || line[k] != ':')
        return 0;
    for (size_t i = 0; i < k; i++) {
        char c = line[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != name[i])
            return 0;
    }
    return 1;
}

/* Split the head b[0, end) at its line ends and count. */
static inline void fz_raw_scan(const char *b, size_t end, fz_raw *r)
{
    memset(r, 0, sizeof *r);
    r->crlf_only = 1;
    for (size_t i = 0; i < end; i++) {
        if ((b[i] == '\r' && (i + 1 >= end || b[i + 1] != '\n')) ||
            (b[i] == '\n' && (i == 0 || b[i - 1] != '\r')))
            r->crlf_only = 0;
    }
    size_t p = 0;
    while (p + 1 < end && b[p] == '\r' && b[p + 1] == '\n')
        p += 2;
    const char *nl = memchr(b + p, '\n', end - p); /* the start line's end */
    p = nl ? (size_t)(nl - b) + 1 : end;
    while (p < end) {
        const char *e = memchr(b + p, '\n', end - p);
        size_t len = (e ? (size_t)(e - b) : end) - p; /* with its CR */
        if (len <= 1)
            break;
        r->lines++;
        r->ws_start |= b[p] == ' ' || b[p] == '\t';
        r->cl += fz_name_is(b + p, len, "content-length");
        r->te += fz_name_is(b + p, len, "transfer-encoding");
        r->host += fz_name_is(b + p, len, "host");
        p += len + 1;
    }
}

static inline const char *fz_oracle_req(const char *b, const goc__hreq *r, size_t end)
{
    fz_raw raw;
    fz_raw_scan(b, end, &raw);
    if (!raw.crlf_only || raw.ws_start)
        return "accepted a head with a bare CR/LF or a line starting with whitespace";
    if ((uint32_t)raw.lines != r->nfields)
        return "field count differs from the head's lines";
    if (raw.cl > 1 || raw.host > 1 || (r->minor == 1 && raw.host != 1))
        return "accepted a repeated Content-Length or Host, or HTTP/1.1 without Host";
    if (raw.cl && (r->body != GOC__HBODY_LENGTH || raw.te))
        return "Content-Length not the framing";
    if (raw.te && (r->body != GOC__HBODY_CHUNKED || r->minor != 1))
        return "Transfer-Encoding not the framing";
    if (r->body == GOC__HBODY_NONE && (raw.cl || raw.te))
        return "no body despite framing fields";
    return NULL;
}

static inline const char *fz_oracle_resp(const char *b, const goc__hresp *r, size_t end)
{
    fz_raw raw;
    fz_raw_scan(b, end, &raw);
    if (!raw.crlf_only || raw.ws_start)
        return "accepted a head with a bare CR/LF or a line starting with whitespace";
    if ((uint32_t)raw.lines != r->nfields)
        return "field count differs from the head's lines";
    if (raw.cl > 1 || (raw.cl && raw.te) || (raw.te && r->minor != 1))
        return "accepted ambiguous response framing";
    if ((r->body == GOC__HBODY_CHUNKED && !raw.te) || (r->body == GOC__HBODY_LENGTH && !raw.cl))
        return "body framing without its field";
    return NULL;
}

/* A chunked body the decoder said ends at d + end, walked again: the same
 * data, and the grammar of RFC 9112 section 7.1 holds (a direct reading of
 * the ABNF, not the decoder's state machine). */
static inline int fz_tchar(unsigned char c)
{
    return fz_cls(c) & 1;
}

static inline size_t fz_ref_ext(const uint8_t *d, size_t i, size_t eol)
{
    while (i < eol) { /* *( BWS ";" BWS name [ BWS "=" BWS ( token / quoted-string ) ] ) */
        while (d[i] == ' ' || d[i] == '\t')
            i++;
        if (d[i++] != ';')
            return 0;
        while (d[i] == ' ' || d[i] == '\t')
            i++;
        size_t name = i;
        while (fz_tchar(d[i]))
            i++;
        if (i == name)
            return 0;
        size_t j = i;
        while (d[j] == ' ' || d[j] == '\t')
            j++;
        if (d[j] != '=')
            continue;
        j++;
        while (d[j] == ' ' || d[j] == '\t')
            j++;
        if (d[j] == '"') {
            for (j++; d[j] != '"'; j++) {
                if (d[j] == '\\')
                    j++;
                if (d[j] < 0x20 ? d[j] != '\t' : d[j] == 0x7f)
                    return 0;
            }
            i = j + 1;
        } else {
            size_t v = j;
            while (fz_tchar(d[j]))
                j++;
            if (j == v)
                return 0;
            i = j;
        }
    }
    return i == eol;
}

static inline const char *fz_oracle_chunked(const uint8_t *d, size_t end, const uint8_t *data,
                                            size_t ndata)
{
    size_t p = 0, got = 0;
    for (;;) {
        const uint8_t *nl = memchr(d + p, '\n', end - p);
        if (!nl || nl == d + p || nl[-1] != '\r')
            return "accepted a chunk line not ended by CRLF";
        size_t eol = (size_t)(nl - d) - 1, i = p;
        uint64_t size = 0;
        for (; i < eol && isxdigit(d[i]); i++) {
            if (size > (uint64_t)INT64_MAX / 16)
                return "accepted an overflowing chunk size";
            size = size * 16 + (uint64_t)(isdigit(d[i]) ? d[i] - '0' : (d[i] | 0x20) - 'a' + 10);
        }
        if (i == p || !fz_ref_ext(d, i, eol))
            return "accepted a malformed chunk-size line";
        p = eol + 2;
        if (size == 0)
            break;
        if (size > end - p || size > ndata - got || memcmp(d + p, data + got, size) != 0)
            return "chunk data differs from what was handed out";
        got += size;
        p += size;
        if (end - p < 2 || d[p] != '\r' || d[p + 1] != '\n')
            return "accepted chunk data not followed by CRLF";
        p += 2;
    }
    if (got != ndata)
        return "more data handed out than the chunks hold";
    fz_raw raw; /* the trailer section: field lines, then the empty line */
    if (end - p < 2 || d[end - 2] != '\r' || d[end - 1] != '\n')
        return "trailer section does not end in CRLF";
    memset(&raw, 0, sizeof raw);
    for (size_t i = p; i < end; i++) {
        if ((d[i] == '\r' && (i + 1 >= end || d[i + 1] != '\n')) ||
            (d[i] == '\n' && (i == 0 || d[i - 1] != '\r')))
            return "accepted a bare CR or LF in the trailer section";
    }
    return NULL;
}

/* ---- requests ---- */

typedef struct fz_req {
    int rc;
    goc__hreq r;
    goc__hfield f[FZ_MAXF];
} fz_req;

static inline void fz_req_init(fz_req *q)
{
    memset(q, 0, sizeof *q);
    q->r.fields = q->f;
    q->r.fields_cap = FZ_MAXF;
}

static inline int fz_same_req(const fz_req *a, const fz_req *b)
{
    if (a->rc != b->rc)
        return 0;
    if (a->rc < 0)
        return a->r.status == b->r.status && a->r.why == b->r.why;
    if (a->rc == 0)
        return 1;
    const goc__hreq *x = &a->r, *y = &b->r;
    return x->nfields == y->nfields && !memcmp(&x->method, &y->method, sizeof x->method) &&
           !memcmp(&x->target, &y->target, sizeof x->target) && x->form == y->form &&
           x->minor == y->minor && x->body == y->body && x->keep_alive == y->keep_alive &&
           x->expect_continue == y->expect_continue && x->upgrade == y->upgrade &&
           x->has_host == y->has_host && !memcmp(&x->host, &y->host, sizeof x->host) &&
           x->content_length == y->content_length && fz_same_fields(a->f, b->f, x->nfields);
}

static inline const char *fz_check_req_result(const char *b, size_t len, const fz_req *q)
{
    const goc__hreq *r = &q->r;
    if (q->rc < 0) {
        static const int st[] = {400, 417, 431, 501, 505};
        int ok = 0;
        for (size_t i = 0; i < sizeof st / sizeof st[0]; i++)
            ok |= r->status == st[i];
        return ok && r->why ? NULL : "rejection without a status or reason";
    }
    if (q->rc == 0)
        return NULL;
    size_t end = (size_t)q->rc;
    if (end > len || end < 4 || memcmp(b + end - 4, "\r\n\r\n", 4) != 0)
        return "head does not end in CRLF CRLF inside the buffer";
    if (!fz_inside(r->method, end) || !r->method.len || !fz_all(b, r->method, 1))
        return "bad method span";
    if (!fz_inside(r->target, end) || !r->target.len || !fz_all(b, r->target, 2))
        return "bad target span";
    if (r->minor > 1 || (r->minor == 1 && !r->has_host) || !fz_inside(r->host, end))
        return "bad version or Host";
    if ((r->body == GOC__HBODY_LENGTH) != (r->content_length >= 0) || r->body > 2)
        return "body framing and Content-Length disagree";
    if (r->nfields > FZ_MAXF)
        return "more fields than the capacity";
    const char *e = fz_check_fields(b, end, r->fields, r->nfields);
    return e ? e : fz_oracle_req(b, r, end);
}

static inline void fz_parse_req(const char *b, size_t len, size_t *scanned, fz_req *q,
                                const goc__hlimits *lim)
{
    q->rc = goc__http_parse_request(b, len, scanned, &q->r, lim);
}

/* Feed d[0, n) as pieces ending at the cut points (ascending, last = n),
 * each prefix in an exactly-sized copy; stop at the first non-zero. */
static inline const char *fz_req_pieces(const uint8_t *d, const size_t *cuts, size_t ncuts,
                                        const goc__hlimits *lim, fz_req *out)
{
    size_t scanned = 0;
    fz_req_init(out);
    for (size_t i = 0; i < ncuts; i++) {
        char *b = fz_dup(d, cuts[i]);
        if (!b)
            return NULL;
        fz_parse_req(b, cuts[i], &scanned, out, lim);
        const char *e = fz_check_req_result(b, cuts[i], out);
        free(b);
        if (e)
            return e;
        if (out->rc)
            return NULL;
        if (scanned > cuts[i])
            return "scanned past the bytes given";
    }
    return NULL;
}

static inline const char *fz_check_request_lim(const uint8_t *d, size_t n, const goc__hlimits *lim)
{
    static fz_req one, inc, cut;
    const char *e;
    char *b = fz_dup(d, n);
    if (!b)
        return NULL;
    size_t scanned = 0;
    fz_req_init(&one);
    fz_parse_req(b, n, &scanned, &one, lim);
    e = fz_check_req_result(b, n, &one);
    if (!e && one.rc > 0) { /* the head alone parses the same */
        scanned = 0;
        fz_req_init(&cut);
        fz_parse_req(b, (size_t)one.rc, &scanned, &cut, lim);
        if (!fz_same_req(&one, &cut))
            e = "a head parses differently without the bytes after it";
    }
    free(b);
    if (e)
        return e;
    /* One byte at a time, without copies (the logic), then a few cuts
     * with exact copies (the bounds). */
    scanned = 0;
    fz_req_init(&inc);
    for (size_t k = 1; k <= n && inc.rc == 0; k++)
        fz_parse_req((const char *)d, k, &scanned, &inc, lim);
    if (!fz_same_req(&one, &inc))
        return "byte-at-a-time differs from one call";
    size_t cuts[9], ncuts = 0;
    uint64_t s = fz_seed(d, n);
    for (size_t c = 0; ncuts < 8 && n; c += 1 + fz_next(&s, n / 4 + 1)) {
        if (c >= n)
            break;
        cuts[ncuts++] = c ? c : 1;
    }
    cuts[ncuts++] = n;
    if ((e = fz_req_pieces(d, cuts, ncuts, lim, &cut)) != NULL)
        return e;
    if (n && !fz_same_req(&one, &cut))
        return "pieces differ from one call";
    return NULL;
}

static inline const char *check_request(const uint8_t *d, size_t n)
{
    static const goc__hlimits small = {.max_head = 96, .max_fields = 3, .max_chunk_line = 16};
    const char *e = fz_check_request_lim(d, n, NULL);
    return e ? e : fz_check_request_lim(d, n, &small);
}

/* ---- responses: the first byte picks the request's flags ---- */

typedef struct fz_resp {
    int rc;
    goc__hresp r;
    goc__hfield f[FZ_MAXF];
} fz_resp;

static inline void fz_resp_init(fz_resp *q)
{
    memset(q, 0, sizeof *q);
    q->r.fields = q->f;
    q->r.fields_cap = FZ_MAXF;
}

static inline int fz_same_resp(const fz_resp *a, const fz_resp *b)
{
    if (a->rc != b->rc)
        return 0;
    if (a->rc <= 0)
        return a->rc == 0 || a->r.why == b->r.why;
    const goc__hresp *x = &a->r, *y = &b->r;
    return x->nfields == y->nfields && x->code == y->code && x->minor == y->minor &&
           x->body == y->body && !memcmp(&x->reason, &y->reason, sizeof x->reason) &&
           x->keep_alive == y->keep_alive && x->tunnel == y->tunnel &&
           x->content_length == y->content_length && fz_same_fields(a->f, b->f, x->nfields);
}

static inline const char *fz_check_resp_result(const char *b, size_t len, const fz_resp *q)
{
    const goc__hresp *r = &q->r;
    if (q->rc < 0)
        return r->why ? NULL : "rejection without a reason";
    if (q->rc == 0)
        return NULL;
    size_t end = (size_t)q->rc;
    if (end > len || end < 4 || memcmp(b + end - 4, "\r\n\r\n", 4) != 0)
        return "head does not end in CRLF CRLF inside the buffer";
    if (r->code < 100 || r->code > 599 || r->minor > 1 || r->body > 3)
        return "bad status line result";
    if (!fz_inside(r->reason, end) || !fz_all(b, r->reason, 4))
        return "bad reason span";
    if (r->body == GOC__HBODY_CLOSE && r->keep_alive)
        return "keep-alive with a close-delimited body";
    if (r->body == GOC__HBODY_LENGTH && r->content_length < 0)
        return "length body without a length";
    const char *e = fz_check_fields(b, end, r->fields, r->nfields);
    return e ? e : fz_oracle_resp(b, r, end);
}

static inline const char *fz_check_response_lim(const uint8_t *d, size_t n, unsigned flags,
                                                const goc__hlimits *lim)
{
    static fz_resp one, inc, cut;
    char *b = fz_dup(d, n);
    if (!b)
        return NULL;
    size_t scanned = 0;
    fz_resp_init(&one);
    one.rc = goc__http_parse_response(b, n, &scanned, &one.r, flags, lim);
    const char *e = fz_check_resp_result(b, n, &one);
    if (!e && one.rc > 0) {
        scanned = 0;
        fz_resp_init(&cut);
        cut.rc = goc__http_parse_response(b, (size_t)one.rc, &scanned, &cut.r, flags, lim);
        if (!fz_same_resp(&one, &cut))
            e = "a head parses differently without the bytes after it";
    }
    free(b);
    if (e)
        return e;
    scanned = 0;
    fz_resp_init(&inc);
    for (size_t k = 1; k <= n && inc.rc == 0; k++)
        inc.rc = goc__http_parse_response((const char *)d, k, &scanned, &inc.r, flags, lim);
    if (!fz_same_resp(&one, &inc))
        return "byte-at-a-time differs from one call";
    /* A few cuts, each prefix in an exactly-sized copy. */
    uint64_t s = fz_seed(d, n);
    scanned = 0;
    fz_resp_init(&cut);
    for (size_t c = 1 + fz_next(&s, n / 4 + 1); cut.rc == 0; c += 1 + fz_next(&s, n / 4 + 1)) {
        size_t k = c < n ? c : n;
        if (!(b = fz_dup(d, k)))
            return NULL;
        cut.rc = goc__http_parse_response(b, k, &scanned, &cut.r, flags, lim);
        e = fz_check_resp_result(b, k, &cut);
        free(b);
        if (e)
            return e;
        if (k == n)
            break;
    }
    return fz_same_resp(&one, &cut) ? NULL : "pieces differ from one call";
}

static inline const char *check_response(const uint8_t *d, size_t n)
{
    static const goc__hlimits small = {.max_head = 96, .max_fields = 3};
    if (n == 0)
        return NULL;
    unsigned flags = d[0] & 3;
    const char *e = fz_check_response_lim(d + 1, n - 1, flags, NULL);
    return e ? e : fz_check_response_lim(d + 1, n - 1, flags, &small);
}

/* ---- chunked bodies ---- */

/* What decoding a stream produced, in stream offsets. */
typedef struct fz_body {
    int rc;          /* the last return: END, MORE (ran out) or < 0 */
    const char *why; /* after an error */
    size_t end;      /* stream offset after the body (END) */
    size_t ndata;
    uint8_t *data; /* the data handed out, concatenated (n bytes at most) */
    uint32_t nfields;
    goc__hfield f[FZ_MAXF]; /* trailer spans, moved to stream offsets */
} fz_body;

/* Decode d[0, n) arriving in pieces ending at cuts[] (ascending, last =
 * n), as a reader would: unconsumed bytes kept, the next piece appended,
 * the pending bytes copied to an exactly-sized buffer for each call. */
static inline const char *fz_decode(const uint8_t *d, const size_t *cuts, size_t ncuts,
                                    const goc__hlimits *lim, fz_body *out)
{
    goc__hchunked c = {.fields = out->f, .fields_cap = FZ_MAXF};
    size_t base = 0; /* stream offset of the first unconsumed byte */
    out->rc = GOC__HCHUNK_MORE;
    out->ndata = 0;
    for (size_t i = 0; i < ncuts; i++) {
        for (;;) {
            size_t len = cuts[i] - base, used = 0;
            char *b = fz_dup(d + base, len);
            goc__hspan data = {0, 0};
            if (!b)
                return NULL;
            int rc = goc__http_chunked(&c, b, len, &used, &data, lim);
            free(b);
            if (used > len)
                return "used more than given";
            if (c.left > (uint64_t)INT64_MAX)
                return "a chunk larger than 2^63 - 1";
            if (rc == GOC__HCHUNK_DATA) {
                if (!data.len || !fz_inside(data, used))
                    return "data span outside the bytes used";
                memcpy(out->data + out->ndata, d + base + data.off, data.len);
                out->ndata += data.len;
            }
            base += used;
            out->rc = rc;
            if (rc < 0) {
                out->why = c.why;
                return c.why && (c.status == 400 || c.status == 431) ? NULL : "bad error report";
            }
            if (rc == GOC__HCHUNK_END) {
                out->end = base;
                out->nfields = c.nfields;
                for (uint32_t k = 0; k < c.nfields; k++) {
                    out->f[k].name.off += (uint32_t)(base - used);
                    out->f[k].value.off += (uint32_t)(base - used);
                }
                return c.total == out->ndata ? NULL : "total disagrees with the data";
            }
            if (rc == GOC__HCHUNK_MORE)
                break;
        }
    }
    return NULL;
}

static inline int fz_same_body(const fz_body *a, const fz_body *b)
{
    if (a->rc != b->rc || a->ndata != b->ndata || memcmp(a->data, b->data, a->ndata) != 0)
        return 0;
    if (a->rc < 0)
        return a->why == b->why;
    if (a->rc == GOC__HCHUNK_END)
        return a->end == b->end && a->nfields == b->nfields &&
               fz_same_fields(a->f, b->f, a->nfields);
    return 1;
}

static inline const char *fz_check_chunked_lim(const uint8_t *d, size_t n, const goc__hlimits *lim)
{
    static fz_body one, inc, cut;
    one.data = realloc(one.data, n + 1);
    inc.data = realloc(inc.data, n + 1);
    cut.data = realloc(cut.data, n + 1);
    size_t *cuts = calloc(n + 1, sizeof *cuts), ncuts = 0;
    if (!one.data || !inc.data || !cut.data || !cuts) {
        free(cuts);
        return NULL;
    }
    const char *e = fz_decode(d, &n, 1, lim, &one);
    if (!e && one.rc == GOC__HCHUNK_END) {
        if (fz_check_fields((const char *)d, one.end, one.f, one.nfields))
            e = "bad trailer field";
        else
            e = fz_oracle_chunked(d, one.end, one.data, one.ndata);
    }
    for (size_t k = 1; !e && k <= n; k++)
        cuts[ncuts++] = k;
    if (!e && (e = fz_decode(d, cuts, ncuts, lim, &inc)) == NULL && !fz_same_body(&one, &inc))
        e = "byte-at-a-time differs from one call";
    uint64_t s = fz_seed(d, n);
    ncuts = 0;
    for (size_t c = 1 + fz_next(&s, 16); !e && c < n; c += 1 + fz_next(&s, 64))
        cuts[ncuts++] = c;
    cuts[ncuts++] = n;
    if (!e && (e = fz_decode(d, cuts, ncuts, lim, &cut)) == NULL && !fz_same_body(&one, &cut))
        e = "pieces differ from one call";
    free(cuts);
    return e;
}

static inline const char *check_chunked(const uint8_t *d, size_t n)
{
    static const goc__hlimits small = {.max_head = 64, .max_fields = 2, .max_chunk_line = 12};
    const char *e = fz_check_chunked_lim(d, n, NULL);
    return e ? e : fz_check_chunked_lim(d, n, &small);
}

#endif /* GOC_FUZZ_CHECK_H */
