/*
 * response.c — a response head (RFC 9112 sections 4 and 6) for the
 * client: the status line, the field lines (head.c) and how the body is
 * delimited.
 *
 * The status line is HTTP-version SP 3DIGIT SP reason-phrase CRLF, with
 * one leniency: "HTTP/1.1 200" CRLF, without the SP before an empty
 * reason, is accepted (Go accepts it and servers send it; it cannot
 * change framing). The code must be 100..599 (RFC 9110 section 15). No
 * empty line may precede the status line.
 *
 * The body (section 6.3), in this order:
 *   - none for a response to HEAD, for 1xx, 204 and 304, whatever the
 *     framing fields say (they are still checked);
 *   - none, and the connection becomes a tunnel, for 101 and for a 2xx to
 *     CONNECT;
 *   - chunked if Transfer-Encoding is "chunked" — the only coding goc
 *     decodes, as Go; Transfer-Encoding with Content-Length, in HTTP/1.0,
 *     with an empty element, chunked twice or not last is rejected
 *     (-EBADMSG), any other coding is -ENOSYS;
 *   - Content-Length bytes (one field, digits only, as for requests);
 *   - else until the server closes the connection.
 * A rejected response carries only why: the client fails the request (a
 * gateway answers 502).
 */
#include <errno.h>

#include "http/chars.h"
#include "http/head.h"

static int reject(goc__hresp *resp, int err, const char *why)
{
    resp->why = why;
    return err;
}

/* The status line at buf[p, end); *next: the start of the line after it. */
static int status_line(const char *buf, size_t p, size_t end, goc__hresp *resp, size_t *next,
                       const char **why)
{
    const unsigned char *s = (const unsigned char *)buf;
    int v = goc__http_version(buf, p, end);
    *why = "malformed status line";
    if (v == -EBADMSG || end - p < 14 || s[p + 8] != ' ')
        return -EBADMSG;
    unsigned code = 0;
    for (size_t i = p + 9; i < p + 12; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -EBADMSG;
        code = code * 10 + (s[i] - '0');
    }
    size_t r = p + 12;
    resp->reason = (goc__hspan){(uint32_t)r, 0};
    if (s[r] == ' ') {
        size_t n = goc__http_value_run(buf + r + 1, end - r - 1);
        resp->reason = (goc__hspan){(uint32_t)(r + 1), (uint32_t)n};
        r += 1 + n;
    }
    if (s[r] != '\r' || s[r + 1] != '\n')
        return -EBADMSG;
    if (v < 0) {
        *why = "unsupported HTTP version";
        return v;
    }
    if (code < 100 || code > 599) {
        *why = "invalid status code";
        return -EBADMSG;
    }
    resp->minor = (uint8_t)v;
    resp->code = (uint16_t)code;
    *next = r + 2;
    return 0;
}

static int framing(goc__hresp *resp, const goc__hframe *fr, unsigned req_flags, const char **why)
{
    if (fr->te) {
        if (fr->ncl)
            *why = "both Transfer-Encoding and Content-Length";
        else if (resp->minor == 0)
            *why = "Transfer-Encoding in an HTTP/1.0 response";
        else if (fr->te_empty)
            *why = "empty Transfer-Encoding element";
        else if (fr->te_chunked_twice)
            *why = "chunked applied twice";
        else if (fr->te_other) {
            *why = "unsupported transfer coding";
            return -ENOSYS;
        } else
            *why = NULL;
        if (*why)
            return -EBADMSG;
    }
    unsigned code = resp->code;
    resp->content_length = fr->content_length;
    resp->tunnel = code == 101 || ((req_flags & GOC__HRESP_CONNECT) && code / 100 == 2);
    if ((req_flags & GOC__HRESP_HEAD) || code < 200 || code == 204 || code == 304 || resp->tunnel)
        resp->body = GOC__HBODY_NONE;
    else if (fr->te)
        resp->body = GOC__HBODY_CHUNKED;
    else if (fr->ncl)
        resp->body = GOC__HBODY_LENGTH;
    else
        resp->body = GOC__HBODY_CLOSE;
    resp->keep_alive = !fr->conn_close && (resp->minor == 1 || fr->conn_keep_alive) &&
                       resp->body != GOC__HBODY_CLOSE && !resp->tunnel;
    return 0;
}

int goc__http_parse_response(const char *buf, size_t len, size_t *scanned, goc__hresp *resp,
                             unsigned req_flags, const goc__hlimits *lim)
{
    goc__hlimits l = goc__http_limits(lim);
    const char *why = NULL;
    size_t start, p;
    int end = goc__http_head_end(buf, len, scanned, l.max_head, true, 0, &start, &why);
    if (end <= 0)
        return end ? reject(resp, end, why) : 0;
    int err = status_line(buf, start, (size_t)end, resp, &p, &why);
    if (err)
        return reject(resp, err, why);
    goc__hframe fr = {.content_length = -1};
    uint32_t max = resp->fields_cap < l.max_fields ? resp->fields_cap : l.max_fields;
    err = goc__http_fields(buf, p, (size_t)end, resp->fields, max, &resp->nfields, &fr, &why);
    if (!err)
        err = framing(resp, &fr, req_flags, &why);
    if (err)
        return reject(resp, err, why);
    resp->why = NULL;
    return end;
}
