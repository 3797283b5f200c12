/*
 * request.c — a request head (RFC 9112 sections 3 and 6): the request
 * line, the field lines (head.c) and the framing a server acts on.
 *
 * goc__http_parse_request, step by step:
 *   1. goc__http_head_end finds the head's end (resumable, memchr per
 *      line); until it is found nothing else runs, and the call returns 0.
 *   2. The request line: method SP request-target SP HTTP-version CRLF,
 *      one SP exactly between the parts (section 3: no other whitespace).
 *      The method is a token (400 otherwise); the target 1*VCHAR: no
 *      controls, no SP, no obs-text (raw UTF-8 must be percent-encoded),
 *      in the form its method allows (section 3.2): origin-form, or
 *      absolute-form, authority-form for CONNECT and only then, "*" for
 *      OPTIONS only. The version is "HTTP/1.0" or "HTTP/1.1"; another
 *      well-formed one is a 505 (even HTTP/1.2, which section 2.3 of RFC
 *      9110 would read as 1.1: Go reads it so, goc does not), anything
 *      else a 400.
 *   3. The field lines (goc__http_fields), gathering the framing fields.
 *   4. The framing (section 6), every ambiguity a rejection:
 *      - Host (section 3.2): exactly one in HTTP/1.1, at most one in
 *        HTTP/1.0, and a valid uri-host [":" port] (or empty) — 400.
 *      - Content-Length with Transfer-Encoding: 400 (section 6.1 lets a
 *        server go on with Transfer-Encoding; a proxy that picked the
 *        other would see another body: the classic smuggling).
 *      - Transfer-Encoding in HTTP/1.0: 400 (section 6.1 says its framing
 *        is faulty).
 *      - Transfer-Encoding whose last coding is not chunked, chunked twice,
 *        an empty element: 400; codings before chunked: 501 (goc decodes
 *        none, as Go).
 *      - Expect with anything but 100-continue: 417 (as Go);
 *        100-continue is reported for HTTP/1.1 and ignored for 1.0 (RFC
 *        9110 section 10.1.1).
 *   The first failure found decides the answer: request line, then each
 *   field line in order, then the rules above in the order listed.
 */
#include <errno.h>
#include <string.h>

#include "http/chars.h"
#include "http/head.h"

static int reject(goc__hreq *req, int err, const char *why)
{
    req->status = goc__http_status(err);
    req->why = why;
    return err;
}

static bool span_is(const char *buf, goc__hspan s, const char *lit)
{
    size_t n = strlen(lit);
    return s.len == n && memcmp(buf + s.off, lit, n) == 0;
}

static bool alpha(char c)
{
    unsigned char l = (unsigned char)c | 0x20;
    return l >= 'a' && l <= 'z';
}

/* The form of req->target, checked against req->method; -EBADMSG if the
 * method does not allow it. */
static int target_form(const char *buf, goc__hreq *req, const char **why)
{
    const char *t = buf + req->target.off;
    size_t n = req->target.len;
    bool connect = span_is(buf, req->method, "CONNECT");
    *why = "invalid request target";
    if (connect) {
        req->form = GOC__HFORM_AUTHORITY;
        return goc__http_valid_host(t, n, true) ? 0 : -EBADMSG;
    }
    if (t[0] == '/') {
        req->form = GOC__HFORM_ORIGIN;
        return 0;
    }
    if (n == 1 && t[0] == '*') {
        req->form = GOC__HFORM_ASTERISK;
        return span_is(buf, req->method, "OPTIONS") ? 0 : -EBADMSG;
    }
    /* absolute-URI: scheme ":" ...; scheme = ALPHA *(ALPHA / DIGIT / "+" / "-" / ".") */
    size_t i = 0;
    if (!alpha(t[0]))
        return -EBADMSG;
    while (i < n && (alpha(t[i]) || (t[i] >= '0' && t[i] <= '9') || t[i] == '+' || t[i] == '-' ||
                     t[i] == '.'))
        i++;
    if (i == n || t[i] != ':')
        return -EBADMSG;
    req->form = GOC__HFORM_ABSOLUTE;
    return 0;
}

/* The request line at buf[p, end): fills method, target, form, minor and
 * sets *next to the start of the line after it. */
static int request_line(const char *buf, size_t p, size_t end, goc__hreq *req, size_t *next,
                        const char **why)
{
    const unsigned char *s = (const unsigned char *)buf;
    size_t m = p;
    while (goc__hc_is(s[p], GOC__HC_TCHAR))
        p++;
    if (p == m || s[p] != ' ') {
        *why = "invalid method";
        return -EBADMSG;
    }
    req->method = (goc__hspan){(uint32_t)m, (uint32_t)(p - m)};
    size_t t = ++p;
    p += goc__http_target_run(buf + p, end - p);
    if (p == t || s[p] != ' ') {
        *why = "invalid request target";
        return -EBADMSG;
    }
    req->target = (goc__hspan){(uint32_t)t, (uint32_t)(p - t)};
    p++;
    int v = goc__http_version(buf, p, end);
    if (v == -EBADMSG || end - p < 10 || s[p + 8] != '\r' || s[p + 9] != '\n') {
        *why = "malformed HTTP version";
        return -EBADMSG;
    }
    if (v < 0) {
        *why = "unsupported HTTP version";
        return v;
    }
    req->minor = (uint8_t)v;
    *next = p + 10;
    return target_form(buf, req, why);
}

/* Step 4 of the top comment. */
static int framing(const char *buf, goc__hreq *req, const goc__hframe *fr, const char **why)
{
    if (fr->nhost > 1 || (fr->nhost == 0 && req->minor == 1)) {
        *why = fr->nhost ? "multiple Host fields" : "missing Host field";
        return -EBADMSG;
    }
    if (fr->nhost && !goc__http_valid_host(buf + fr->host.off, fr->host.len, false)) {
        *why = "invalid Host field";
        return -EBADMSG;
    }
    req->has_host = fr->nhost == 1;
    req->host = fr->host;
    req->content_length = fr->content_length;
    req->body = fr->ncl ? GOC__HBODY_LENGTH : GOC__HBODY_NONE;
    if (fr->te) {
        if (fr->ncl)
            *why = "both Transfer-Encoding and Content-Length";
        else if (req->minor == 0)
            *why = "Transfer-Encoding in an HTTP/1.0 request";
        else if (fr->te_empty)
            *why = "empty Transfer-Encoding element";
        else if (!fr->te_chunked_last)
            *why = "Transfer-Encoding does not end in chunked";
        else if (fr->te_chunked_twice)
            *why = "chunked applied twice";
        else if (fr->te_other) {
            *why = "unsupported transfer coding";
            return -ENOSYS;
        } else
            *why = NULL;
        if (*why)
            return -EBADMSG;
        req->body = GOC__HBODY_CHUNKED;
    }
    if (fr->expect_other) {
        *why = "unsupported Expect";
        return -ENOTSUP;
    }
    req->expect_continue = fr->expect_continue && req->minor == 1;
    req->keep_alive = !fr->conn_close && (req->minor == 1 || fr->conn_keep_alive);
    /* RFC 9110 section 7.8: Upgrade needs the "upgrade" connection option,
     * and is ignored in HTTP/1.0. */
    req->upgrade = fr->upgrade && fr->conn_upgrade && req->minor == 1;
    return 0;
}

int goc__http_parse_request(const char *buf, size_t len, size_t *scanned, goc__hreq *req,
                            const goc__hlimits *lim)
{
    goc__hlimits l = goc__http_limits(lim);
    const char *why = NULL;
    size_t start, p;
    int end = goc__http_head_end(buf, len, scanned, l.max_head, true, 4, &start, &why);
    if (end <= 0)
        return end ? reject(req, end, why) : 0;
    int err = request_line(buf, start, (size_t)end, req, &p, &why);
    if (err)
        return reject(req, err, why);
    goc__hframe fr = {.content_length = -1};
    uint32_t max = req->fields_cap < l.max_fields ? req->fields_cap : l.max_fields;
    err = goc__http_fields(buf, p, (size_t)end, req->fields, max, &req->nfields, &fr, &why);
    if (!err)
        err = framing(buf, req, &fr, &why);
    if (err)
        return reject(req, err, why);
    req->status = 0;
    req->why = NULL;
    return end;
}
