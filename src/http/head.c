/*
 * head.c — a head's end, its field lines and its framing fields, shared by
 * request.c, response.c and chunked.c (see head.h for the two passes).
 *
 * Line ends: only CRLF. RFC 9112 section 2.2 lets a recipient accept a
 * bare LF as a line end; goc does not, because two parsers in a chain that
 * disagree on line ends disagree on where fields (and so bodies) end,
 * which is what request smuggling exploits. A bare LF anywhere in a head
 * is a 400, found by the first pass; a bare CR (not followed by LF), by
 * the second, since CR is in no character class.
 *
 * Field lines (RFC 9112 section 5): field-name ":" OWS field-value OWS.
 * Rejected with 400, each a MUST or a MAY-reject of the RFC taken as
 * reject: whitespace between the name and the colon (section 5.1), a line
 * starting with whitespace (obs-fold, section 5.2, or whitespace before
 * the first field, section 2.2), an empty or non-token name, and any
 * byte in a value outside VCHAR / obs-text / SP / HTAB (NUL, CR, LF, other
 * controls and DEL).
 */
#include "http/head.h"

#include <errno.h>
#include <string.h>

#include "http/chars.h"

goc__hlimits goc__http_limits(const goc__hlimits *lim)
{
    goc__hlimits l = lim ? *lim : (goc__hlimits){0};
    if (!l.max_head)
        l.max_head = GOC__HTTP_MAX_HEAD;
    if (l.max_head > (1u << 30))
        l.max_head = 1u << 30;
    if (!l.max_fields)
        l.max_fields = GOC__HTTP_MAX_FIELDS;
    if (!l.max_chunk_line)
        l.max_chunk_line = GOC__HTTP_MAX_CHUNK_LINE;
    return l;
}

int goc__http_status(int err)
{
    switch (err) {
    case -ENOTSUP:
        return 417;
    case -EMSGSIZE:
        return 431;
    case -ENOSYS:
        return 501;
    case -EPROTONOSUPPORT:
        return 505;
    default:
        return 400;
    }
}

/* ASCII case-insensitive equality of buf[0, n) with lower, a string of
 * a-z, 0-9 and "-". Setting bit 0x20 folds A-Z onto a-z and leaves a-z,
 * 0-9 and "-" alone; the only other bytes it folds onto them are controls
 * (CR onto "-"), which no token or field value holds. Eight bytes per
 * step: inline, with n and lower constant, it is a few compares. */
static inline bool eq_lower(const char *buf, size_t n, const char *lower)
{
    size_t len = strlen(lower), i = 0;
    if (n != len)
        return false;
    for (; i + 8 <= n; i += 8) {
        uint64_t a, b;
        memcpy(&a, buf + i, 8);
        memcpy(&b, lower + i, 8);
        if ((a | 0x2020202020202020ull) != b)
            return false;
    }
    for (; i < n; i++) {
        if (((unsigned char)buf[i] | 0x20) != (unsigned char)lower[i])
            return false;
    }
    return true;
}

int goc__http_head_end(const char *buf, size_t len, size_t *scanned, size_t max, bool start_line,
                       unsigned lead, size_t *start, const char **why)
{
    size_t s = 0;
    if (start_line) {
        /* Empty lines before the start line: recounted on every call,
         * which is cheap because there may be at most lead of them. */
        while (s + 2 <= len && buf[s] == '\r' && buf[s + 1] == '\n') {
            if (lead-- == 0) {
                *why = "too many empty lines before the start line";
                return -EBADMSG;
            }
            s += 2;
        }
    }
    *start = s;
    /* Invariants at the top of the loop: every LF in buf[s, pos) follows a
     * CR, and no line in it is empty (so the head has not ended). */
    size_t lim = len < max ? len : max;
    size_t pos = *scanned > s ? *scanned : s;
    while (pos < lim) {
        const char *nl = memchr(buf + pos, '\n', lim - pos);
        if (!nl)
            break;
        size_t i = (size_t)(nl - buf);
        if (i == s || buf[i - 1] != '\r') {
            *why = "line not ended by CRLF (bare LF)";
            return -EBADMSG;
        }
        /* The line holding this LF is empty if its CR opens it: it is the
         * head's first line (only a trailer section's may be empty, the
         * lead loop took a start line's), or the byte before is the LF
         * that ended the previous line. */
        if (i - 1 == s || buf[i - 2] == '\n')
            return (int)(i + 1);
        pos = i + 1;
    }
    *scanned = lim;
    if (len >= max) {
        *why = "header block too large";
        return -EMSGSIZE;
    }
    return 0;
}

int goc__http_version(const char *buf, size_t p, size_t end)
{
    const char *v = buf + p;
    if (end - p < 8 || memcmp(v, "HTTP/", 5) != 0)
        return -EBADMSG;
    if (v[5] == '1' && v[6] == '.' && (v[7] == '0' || v[7] == '1'))
        return v[7] - '0';
    if (v[5] >= '0' && v[5] <= '9' && v[6] == '.' && v[7] >= '0' && v[7] <= '9')
        return -EPROTONOSUPPORT; /* HTTP/2.0, HTTP/1.2, HTTP/0.9 */
    return -EBADMSG;
}

/* The next element of the comma-separated list buf[*i, n) (RFC 9110
 * section 5.6.1), OWS trimmed; *i moves past it and its comma. An element
 * may be empty ("a, , b"). */
static goc__hspan list_next(const char *buf, size_t n, size_t *i)
{
    size_t b = *i;
    while (b < n && goc__hc_is((unsigned char)buf[b], GOC__HC_OWS))
        b++;
    const char *comma = memchr(buf + b, ',', n - b);
    size_t e = comma ? (size_t)(comma - buf) : n;
    *i = comma ? e + 1 : n + 1; /* past n: no more elements */
    while (e > b && goc__hc_is((unsigned char)buf[e - 1], GOC__HC_OWS))
        e--;
    return (goc__hspan){(uint32_t)b, (uint32_t)(e - b)};
}

static bool all_tchar(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!goc__hc_is((unsigned char)p[i], GOC__HC_TCHAR))
            return false;
    }
    return true;
}

/* Content-Length = 1*DIGIT (RFC 9110 section 8.6), once. No sign, no
 * comma list (not even "5, 5", which the RFC lets a recipient fold: two
 * parsers that fold differently are a smuggling vector), no overflow. */
static int content_length(goc__hframe *fr, const char *v, size_t n, const char **why)
{
    if (fr->ncl++) {
        *why = "multiple Content-Length fields";
        return -EBADMSG;
    }
    if (n == 0) {
        *why = "empty Content-Length";
        return -EBADMSG;
    }
    int64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned d = (unsigned char)v[i] - '0';
        if (d > 9) {
            *why = "invalid Content-Length";
            return -EBADMSG;
        }
        if (x > (INT64_MAX - (int64_t)d) / 10) {
            *why = "Content-Length too large";
            return -EBADMSG;
        }
        x = x * 10 + d;
    }
    fr->content_length = x;
    return 0;
}

/* Transfer-Encoding: a list, possibly over several field lines, read as
 * one (RFC 9110 section 5.3). Judged once all are in (request.c,
 * response.c): the flags record what the judgement needs. */
static void transfer_encoding(goc__hframe *fr, const char *v, size_t n)
{
    fr->te = true;
    for (size_t i = 0; i <= n;) {
        goc__hspan e = list_next(v, n, &i);
        if (e.len == 0) {
            fr->te_empty = true; /* stricter than RFC 9110's list rule, on purpose */
            continue;
        }
        bool chunked = eq_lower(v + e.off, e.len, "chunked");
        if (chunked && fr->te_chunked)
            fr->te_chunked_twice = true;
        fr->te_chunked |= chunked;
        fr->te_other |= !chunked;
        fr->te_chunked_last = chunked;
    }
}

/* Connection: a list of tokens; empty elements are skipped as RFC 9110
 * section 5.6.1 requires, a non-token element is a 400. */
static int connection(goc__hframe *fr, const char *v, size_t n, const char **why)
{
    for (size_t i = 0; i <= n;) {
        goc__hspan e = list_next(v, n, &i);
        const char *t = v + e.off;
        if (!all_tchar(t, e.len)) {
            *why = "invalid Connection header";
            return -EBADMSG;
        }
        if (eq_lower(t, e.len, "close"))
            fr->conn_close = true;
        else if (eq_lower(t, e.len, "keep-alive"))
            fr->conn_keep_alive = true;
        else if (eq_lower(t, e.len, "upgrade"))
            fr->conn_upgrade = true;
    }
    return 0;
}

static void expect(goc__hframe *fr, const char *v, size_t n)
{
    for (size_t i = 0; i <= n;) {
        goc__hspan e = list_next(v, n, &i);
        if (eq_lower(v + e.off, e.len, "100-continue"))
            fr->expect_continue = true;
        else if (e.len)
            fr->expect_other = true;
    }
}

/* Gather a field into fr if it is one that frames the message. */
static int frame_field(goc__hframe *fr, const char *buf, const goc__hfield *f, const char **why)
{
    const char *name = buf + f->name.off, *v = buf + f->value.off;
    size_t n = f->value.len;
    switch (f->name.len) {
    case 4:
        if (eq_lower(name, 4, "host") && fr->nhost++ == 0)
            fr->host = f->value;
        return 0;
    case 6:
        if (eq_lower(name, 6, "expect"))
            expect(fr, v, n);
        return 0;
    case 7:
        if (eq_lower(name, 7, "upgrade"))
            fr->upgrade = true;
        return 0;
    case 10:
        return eq_lower(name, 10, "connection") ? connection(fr, v, n, why) : 0;
    case 14:
        return eq_lower(name, 14, "content-length") ? content_length(fr, v, n, why) : 0;
    case 17:
        if (eq_lower(name, 17, "transfer-encoding"))
            transfer_encoding(fr, v, n);
        return 0;
    default:
        return 0;
    }
}

/* Why the field line at buf[p, ...) has no valid name: q is where the
 * token run from p stopped. */
static const char *bad_name(const unsigned char *s, size_t p, size_t q)
{
    if (goc__hc_is(s[q], GOC__HC_OWS))
        return q == p ? "header line starts with whitespace (obs-fold)"
                      : "whitespace between header field name and colon";
    if (q == p && s[q] == ':')
        return "empty header field name";
    return "invalid byte in header field name";
}

int goc__http_fields(const char *buf, size_t p, size_t end, goc__hfield *fields, uint32_t max,
                     uint32_t *n, goc__hframe *fr, const char **why)
{
    const unsigned char *s = (const unsigned char *)buf;
    *n = 0;
    if (goc__hc_is(s[p], GOC__HC_OWS)) {
        *why = "whitespace before the first header field";
        return -EBADMSG;
    }
    /* Each trip: buf[p] starts a line; the head ends with CRLF CRLF at end,
     * and the first empty line is that one (goc__http_head_end). */
    while (s[p] != '\r') {
        size_t q = p;
        while (goc__hc_is(s[q], GOC__HC_TCHAR) && goc__hc_is(s[q + 1], GOC__HC_TCHAR) &&
               goc__hc_is(s[q + 2], GOC__HC_TCHAR) && goc__hc_is(s[q + 3], GOC__HC_TCHAR))
            q += 4; /* each && stops at a non-token byte: never past the CR */
        while (goc__hc_is(s[q], GOC__HC_TCHAR))
            q++;
        if (q == p || s[q] != ':') {
            *why = bad_name(s, p, q);
            return -EBADMSG;
        }
        if (*n == max) {
            *why = "too many header fields";
            return -EMSGSIZE;
        }
        size_t v = q + 1;
        while (goc__hc_is(s[v], GOC__HC_OWS))
            v++;
        size_t ve = v + goc__http_value_run(buf + v, end - v);
        if (s[ve] != '\r' || s[ve + 1] != '\n') {
            *why = "invalid byte in header field value";
            return -EBADMSG;
        }
        size_t vt = ve;
        while (vt > v && goc__hc_is(s[vt - 1], GOC__HC_OWS))
            vt--;
        goc__hfield *f = &fields[(*n)++];
        *f = (goc__hfield){{(uint32_t)p, (uint32_t)(q - p)}, {(uint32_t)v, (uint32_t)(vt - v)}};
        if (fr) {
            int err = frame_field(fr, buf, f, why);
            if (err)
                return err;
        }
        p = ve + 2;
        if (goc__hc_is(s[p], GOC__HC_OWS)) {
            *why = "header line starts with whitespace (obs-fold)";
            return -EBADMSG;
        }
    }
    if (p + 2 != end) { /* a CR opened the line, but not the last one's CRLF */
        *why = "line not ended by CRLF (bare CR)";
        return -EBADMSG;
    }
    return 0;
}

/* Is the "%" at buf[i] followed by two HEXDIGs inside buf[0, n)? */
static bool pct_escape(const char *buf, size_t i, size_t n)
{
    return i + 2 < n && goc__hc_is((unsigned char)buf[i + 1], GOC__HC_HEX) &&
           goc__hc_is((unsigned char)buf[i + 2], GOC__HC_HEX);
}

bool goc__http_valid_host(const char *buf, size_t n, bool need_port)
{
    const unsigned char *s = (const unsigned char *)buf;
    size_t i = 0;
    if (n && s[0] == '[') {
        /* IP-literal: IPv6address / IPvFuture, loosely (their bytes), with
         * an RFC 6874 zone ("%25eth0") allowed. */
        for (i = 1; i < n && s[i] != ']'; i++) {
            if (!goc__hc_is(s[i], GOC__HC_HOST) && s[i] != ':')
                return false;
        }
        if (i == n || i == 1)
            return false;
        i++;
    } else {
        for (; i < n && goc__hc_is(s[i], GOC__HC_HOST); i++) {
            if (s[i] == '%' && !pct_escape(buf, i, n))
                return false;
        }
    }
    if (need_port && i == 0)
        return false;
    if (i == n)
        return !need_port;
    if (s[i] != ':')
        return false;
    size_t port = ++i;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
    }
    return !need_port || i > port;
}
