/*
 * head.h — what the request, response and chunked parsers share (head.c):
 * finding where a head ends, parsing its field lines, and the framing
 * fields gathered on the way.
 *
 * A head is parsed in two passes. The first (goc__http_head_end) looks only
 * for line ends, with memchr, and is the incremental one: it can stop at
 * the end of the bytes so far and resume there. It also checks that every
 * LF follows a CR, so after it the head is known to be lines ending in
 * CRLF with the first empty line last. The second pass (the start line,
 * then goc__http_fields) runs once, over a complete head, and validates
 * every byte against its class; since no class holds CR or LF, its scans
 * stop at each line's CR without bounds checks.
 */
#ifndef GOC_HTTP_HEAD_H
#define GOC_HTTP_HEAD_H

#include "http/parse.h"

/* The limits in effect: lim's non-zero members, the defaults for the rest;
 * max_head at most 1 GiB, so a head's length fits an int and its offsets a
 * uint32_t. */
goc__hlimits goc__http_limits(const goc__hlimits *lim);

/* The HTTP status a server answers for one of parse.h's error codes. */
int goc__http_status(int err);

/* Find the end of the head at buf[0, len): > 0 its length (through the
 * CRLF of its first empty line), 0 incomplete, or -EBADMSG (a bare LF,
 * too many empty lines before the start line) / -EMSGSIZE (longer than
 * max) with *why set. *scanned as in goc__http_parse_request.
 *
 * start_line: the head opens with a start line, before which up to lead
 * empty lines are skipped; *start is set to where it begins. Otherwise
 * (a trailer section) the first empty line ends the head, and it may be
 * the only line. */
int goc__http_head_end(const char *buf, size_t len, size_t *scanned, size_t max, bool start_line,
                       unsigned lead, size_t *start, const char **why);

/* "HTTP/1.0" or "HTTP/1.1" at buf[p, end): the minor version (0 or 1);
 * -EPROTONOSUPPORT for another well-formed "HTTP/" DIGIT "." DIGIT;
 * -EBADMSG otherwise. Looks at 8 bytes at most. */
int goc__http_version(const char *buf, size_t p, size_t end);

/* The framing fields of a head, as goc__http_fields finds them. Zero it,
 * then set content_length = -1. */
typedef struct goc__hframe {
    int64_t content_length; /* -1: no Content-Length field */
    uint32_t ncl;           /* Content-Length fields */
    uint32_t nhost;         /* Host fields */
    goc__hspan host;        /* the first one's value */
    bool te;                /* a Transfer-Encoding field */
    bool te_chunked;        /* chunked is one of its codings */
    bool te_chunked_last;   /* its last coding so far is chunked */
    bool te_chunked_twice;  /* chunked appeared more than once */
    bool te_other;          /* a coding other than chunked (goc has none) */
    bool te_empty;          /* an empty list element */
    bool conn_close;        /* Connection lists close */
    bool conn_keep_alive;   /* ... keep-alive */
    bool conn_upgrade;      /* ... upgrade */
    bool upgrade;           /* an Upgrade field */
    bool expect_continue;   /* Expect lists 100-continue */
    bool expect_other;      /* Expect lists something else */
} goc__hframe;

/* Parse the field lines at buf[p, end), where buf[0, end) is a complete
 * head checked by goc__http_head_end and p the start of the line after the
 * start line (or of a trailer section). Each field goes to fields[*n]
 * (at most max of them, else -EMSGSIZE); if fr is not NULL, the framing
 * fields are also gathered in it. 0, or -EBADMSG with *why set. */
int goc__http_fields(const char *buf, size_t p, size_t end, goc__hfield *fields, uint32_t max,
                     uint32_t *n, goc__hframe *fr, const char **why);

/* Whether buf[0, n) is a valid Host value: uri-host [":" port] (RFC 9112
 * section 3.2, RFC 3986), or empty. need_port: the port is required and
 * the host not empty (a CONNECT target). */
bool goc__http_valid_host(const char *buf, size_t n, bool need_port);

#endif /* GOC_HTTP_HEAD_H */
