/*
 * chunked.c — the chunked transfer coding's decoder (RFC 9112 section 7.1).
 *
 *   chunked-body = *chunk last-chunk trailer-section CRLF
 *   chunk        = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
 *   last-chunk   = 1*"0" [ chunk-ext ] CRLF
 *   chunk-ext    = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] )
 *
 * The decoder walks that grammar as a small state machine:
 *
 *   SIZE --(size > 0)--> DATA --(chunk's bytes handed out)--> DATA_END
 *     ^                                                          |
 *     +--------------------------(CRLF)--------------------------+
 *   SIZE --(size 0)--> TRAILER --(empty line)--> DONE
 *
 * Lines (a chunk-size line, the trailer section) are parsed only once
 * complete, like heads: until then the decoder consumes nothing of them,
 * and c->scan remembers how far it searched for their end, so the caller
 * presents them again with more bytes after them and nothing is rescanned.
 * Data is handed out as spans of the caller's buffer as soon as any of it
 * is there; framing bytes before it are consumed in the same call.
 *
 * Strict, each a 400: chunk-size is hex digits only (no "0x", sign or
 * whitespace) and at most 2^63 - 1; extensions follow the grammar exactly
 * (BWS only around ";" and "=", a token name, a token or quoted-string
 * value; goc ignores their meaning); every line and the data end in CRLF;
 * a chunk-size line is at most max_chunk_line bytes; the trailer section
 * follows the field rules of head.c (and its size limits: 431). Framing
 * may cost at most 16 bytes per chunk beyond its data, with 16 KiB of
 * slack over the whole body (Go has a similar rule): a peer sending one
 * byte per chunk with long extensions is refused rather than served.
 */
#include <errno.h>
#include <string.h>

#include "http/chars.h"
#include "http/head.h"

enum { S_SIZE = 0, S_DATA, S_DATA_END, S_TRAILER, S_DONE, S_FAILED };

#define FRAMING_SLACK     (16 * 1024)
#define FRAMING_PER_CHUNK 16

static int fail(goc__hchunked *c, int err, const char *why)
{
    c->state = S_FAILED;
    c->status = goc__http_status(err);
    c->why = why;
    return err;
}

static size_t skip_ows(const unsigned char *s, size_t i)
{
    while (goc__hc_is(s[i], GOC__HC_OWS))
        i++;
    return i;
}

static size_t skip_token(const unsigned char *s, size_t i)
{
    while (goc__hc_is(s[i], GOC__HC_TCHAR))
        i++;
    return i;
}

/* A quoted-string starting at s[i] (a DQUOTE): the index after its closing
 * DQUOTE, or 0 if it is malformed. The CR ending the line stops it. */
static size_t skip_quoted(const unsigned char *s, size_t i)
{
    for (i++;; i++) {
        if (s[i] == '"')
            return i + 1;
        if (s[i] == '\\' && goc__hc_is(s[i + 1], GOC__HC_VALUE))
            i++;
        else if (!goc__hc_is(s[i], GOC__HC_QDTEXT))
            return 0;
    }
}

/* Whether s[i, eol) is a valid chunk-ext; s[eol] is the line's CR. */
static bool chunk_ext(const unsigned char *s, size_t i, size_t eol)
{
    while (i < eol) {
        i = skip_ows(s, i);
        if (s[i] != ';')
            return false;
        size_t name = skip_ows(s, i + 1);
        i = skip_token(s, name);
        if (i == name)
            return false;
        size_t eq = skip_ows(s, i);
        if (s[eq] != '=')
            continue; /* the next trip wants ";" (or the line's end, then no BWS) */
        size_t val = skip_ows(s, eq + 1);
        i = s[val] == '"' ? skip_quoted(s, val) : skip_token(s, val);
        if (i == 0 || i == val)
            return false;
    }
    return i == eol;
}

/* The chunk-size line at buf[*p, len): 1 if complete and valid (c->left set,
 * *p past it), 0 if not complete yet, < 0 on error. */
static int size_line(goc__hchunked *c, const char *buf, size_t len, size_t *p, size_t maxline)
{
    const unsigned char *s = (const unsigned char *)buf + *p;
    size_t avail = len - *p, lim = avail < maxline ? avail : maxline;
    const unsigned char *nl = c->scan < lim ? memchr(s + c->scan, '\n', lim - c->scan) : NULL;
    if (!nl) {
        if (avail >= maxline)
            return fail(c, -EBADMSG, "chunk size line too long");
        c->scan = lim;
        return 0;
    }
    size_t eol = (size_t)(nl - s) - 1; /* the CR, if the line is well-formed */
    c->scan = 0;
    if (nl == s || s[eol] != '\r')
        return fail(c, -EBADMSG, "chunk size line not ended by CRLF");
    uint64_t size = 0;
    size_t i = 0;
    for (; goc__hc_is(s[i], GOC__HC_HEX); i++) {
        if (size >> 59) /* size * 16 + 15 would pass 2^63 - 1 */
            return fail(c, -EBADMSG, "chunk size too large");
        unsigned d = s[i] <= '9' ? s[i] - '0' : (s[i] | 0x20) - 'a' + 10;
        size = size * 16 + d;
    }
    if (i == 0)
        return fail(c, -EBADMSG, "invalid chunk size");
    if (!chunk_ext(s, i, eol))
        return fail(c, -EBADMSG, "invalid chunk extension");
    /* Framing beyond FRAMING_PER_CHUNK bytes more than the chunk's data
     * adds up; the sum may reach FRAMING_SLACK. The 2: the data's CRLF. */
    uint64_t cost = c->excess + (eol + 2) + 2, allowance = size + FRAMING_PER_CHUNK;
    c->excess = cost > allowance ? cost - allowance : 0;
    if (c->excess > FRAMING_SLACK)
        return fail(c, -EBADMSG, "too much chunk framing");
    c->left = size;
    *p += eol + 2;
    return 1;
}

/* The trailer section at buf[*p, len): GOC__HCHUNK_END with *p past it,
 * GOC__HCHUNK_MORE, or < 0. */
static int trailer(goc__hchunked *c, const char *buf, size_t len, size_t *p, const goc__hlimits *l)
{
    const char *why = NULL;
    size_t start;
    int end = goc__http_head_end(buf + *p, len - *p, &c->scan, l->max_head, false, 0, &start, &why);
    if (end == 0)
        return GOC__HCHUNK_MORE;
    if (end < 0)
        return fail(c, end, why);
    uint32_t max = c->fields_cap < l->max_fields ? c->fields_cap : l->max_fields;
    int err = goc__http_fields(buf, *p, *p + (size_t)end, c->fields, max, &c->nfields, NULL, &why);
    if (err)
        return fail(c, err, why);
    *p += (size_t)end;
    c->state = S_DONE;
    return GOC__HCHUNK_END;
}

/* One call's walk of the state machine from buf[*p]; *p ends past what
 * was used. */
static int decode(goc__hchunked *c, const char *buf, size_t len, size_t *p, goc__hspan *data,
                  const goc__hlimits *l)
{
    for (;;) {
        switch (c->state) {
        case S_SIZE: {
            int r = size_line(c, buf, len, p, l->max_chunk_line);
            if (r <= 0)
                return r;
            c->state = c->left ? S_DATA : S_TRAILER;
            break;
        }
        case S_DATA: {
            if (*p == len)
                return GOC__HCHUNK_MORE;
            size_t n = len - *p < c->left ? len - *p : (size_t)c->left;
            *data = (goc__hspan){(uint32_t)*p, (uint32_t)n};
            c->left -= n;
            c->total += n;
            *p += n;
            if (!c->left)
                c->state = S_DATA_END;
            return GOC__HCHUNK_DATA;
        }
        case S_DATA_END:
            if (len - *p < 2 && (*p == len || buf[*p] == '\r'))
                return GOC__HCHUNK_MORE;
            if (buf[*p] != '\r' || buf[*p + 1] != '\n')
                return fail(c, -EBADMSG, "chunk data not followed by CRLF");
            *p += 2;
            c->state = S_SIZE;
            break;
        case S_TRAILER:
            return trailer(c, buf, len, p, l);
        case S_DONE:
            return GOC__HCHUNK_END;
        default: /* S_FAILED: the same error again */
            return c->status == 431 ? -EMSGSIZE : -EBADMSG;
        }
    }
}

int goc__http_chunked(goc__hchunked *c, const char *buf, size_t len, size_t *used, goc__hspan *data,
                      const goc__hlimits *lim)
{
    goc__hlimits l = goc__http_limits(lim);
    if (len > UINT32_MAX) /* spans are 32-bit; the rest waits for the next call */
        len = UINT32_MAX;
    *used = 0;
    return decode(c, buf, len, used, data, &l);
}
