/*
 * parse.h — goc's HTTP/1.1 message parser (RFC 9112): request heads for
 * the server, response heads for the client, chunked bodies for both.
 *
 * Zero-copy: nothing is copied or allocated. Every piece of a message the
 * parser reports is a goc__hspan, an offset and a length into the caller's
 * buffer, so the result stays right if the caller moves or grows the buffer
 * (realloc, compaction) as long as the bytes stay in the same order.
 *
 * Incremental without per-byte state: a head (start line, field lines,
 * empty line) is parsed only once it is complete. While it is not, the
 * parse functions return 0 and record in *scanned how far they searched
 * for its end; the next call, given the same bytes and more, resumes the
 * search there. So feeding a head one byte at a time costs O(length), and
 * the result is the same as parsing all of it at once.
 *
 * Strict: the parser accepts exactly RFC 9112's grammar, with the few
 * leniencies listed where they apply (leading empty lines before a request,
 * a status line without a reason phrase), and rejects everything that makes
 * framing ambiguous (the request smuggling vectors) instead of guessing. A
 * rejected request carries the status the server must answer (400, 417,
 * 431, 501, 505) and a short static reason for logs and the response body.
 *
 * Return convention (all three parsers): > 0 or 0 as each function says,
 * or a negative errno-style code, one per answer a server gives:
 *   -EBADMSG          400 Bad Request: malformed, or ambiguous framing
 *   -ENOTSUP          417 Expectation Failed: an Expect other than 100-continue
 *   -EMSGSIZE         431 Request Header Fields Too Large: over a limit
 *   -ENOSYS           501 Not Implemented: a transfer coding other than chunked
 *   -EPROTONOSUPPORT  505 HTTP Version Not Supported: well-formed, not 1.0/1.1
 * No errno, no allocation, no global state: every function may be called
 * from any thread on distinct arguments.
 */
#ifndef GOC_HTTP_PARSE_H
#define GOC_HTTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bytes buf[off, off + len) of the buffer the parse call was given. */
typedef struct goc__hspan {
    uint32_t off, len;
} goc__hspan;

/* One field line, in the order and spelling received. name is a token;
 * value has its leading and trailing whitespace (OWS) removed and may be
 * empty; both lie inside the head, never across its line ends. */
typedef struct goc__hfield {
    goc__hspan name, value;
} goc__hfield;

/* Bounds on what a peer may make the parser look at. NULL, or 0 in a
 * member, means the default. */
typedef struct goc__hlimits {
    uint32_t max_head;       /* bytes of a head, its empty line included
                                (a trailer section too); default 1 MiB (Go's
                                DefaultMaxHeaderBytes); more: 431 */
    uint32_t max_fields;     /* field lines per head or trailer section;
                                default 100; more (or more than the
                                caller's fields_cap): 431 */
    uint32_t max_chunk_line; /* a chunk-size line with its extensions and
                                CRLF; default 4096; more: 400 */
} goc__hlimits;

#define GOC__HTTP_MAX_HEAD       (1u << 20)
#define GOC__HTTP_MAX_FIELDS     100u
#define GOC__HTTP_MAX_CHUNK_LINE 4096u

/* How the message's body is delimited (RFC 9112 section 6.3). */
typedef enum goc__hbody {
    GOC__HBODY_NONE = 0, /* no body: a request without Content-Length or
                            Transfer-Encoding; a response to HEAD; 1xx, 204,
                            304 */
    GOC__HBODY_LENGTH,   /* exactly content_length bytes (may be 0) */
    GOC__HBODY_CHUNKED,  /* chunked (goc__http_chunked) */
    GOC__HBODY_CLOSE,    /* responses only: until the server closes */
} goc__hbody;

/* A request-target's form (RFC 9112 section 3.2). */
typedef enum goc__hform {
    GOC__HFORM_ORIGIN = 0, /* "/path?query" */
    GOC__HFORM_ABSOLUTE,   /* "http://host/path" (to a proxy) */
    GOC__HFORM_AUTHORITY,  /* "host:port", CONNECT only */
    GOC__HFORM_ASTERISK,   /* "*", OPTIONS only */
} goc__hform;

typedef struct goc__hreq {
    /* In: where the field lines go. The caller sets these; the parser
     * writes at most fields_cap entries and keeps no pointer. */
    goc__hfield *fields;
    uint32_t fields_cap;

    /* Out, when the parse returned > 0. Spans are into its buf. */
    uint32_t nfields;
    goc__hspan method;      /* a token, case as received */
    goc__hspan target;      /* 1*VCHAR */
    uint8_t form;           /* goc__hform */
    uint8_t minor;          /* HTTP/1.<minor>: 0 or 1 */
    uint8_t body;           /* goc__hbody: NONE, LENGTH or CHUNKED */
    bool keep_alive;        /* 1.1 unless Connection lists "close"; 1.0 only if
                               it lists "keep-alive" (and not "close") */
    bool expect_continue;   /* HTTP/1.1 with Expect: 100-continue */
    bool upgrade;           /* HTTP/1.1, an Upgrade field, and Connection lists
                               "upgrade" (Upgrade's value is in the fields) */
    bool has_host;          /* a Host field (always, for HTTP/1.1) */
    goc__hspan host;        /* its value (may be empty) */
    int64_t content_length; /* the Content-Length value; -1 if none */

    /* Out, when the parse returned < 0: the status to answer and why
     * (a static string). */
    int status;
    const char *why;
} goc__hreq;

/* Parse the request head at the start of buf[0, len).
 *
 * > 0: the head is complete; the value is its length (the body, or the
 *   next pipelined request, starts at buf + that), and *req is filled.
 *   Bytes after the head are never looked at.
 * 0: incomplete; call again with the same bytes and more after them,
 *   passing the same scanned. *req is not filled.
 * < 0: rejected (see the top of this file); req->status and req->why say
 *   how to answer. The connection cannot be parsed further: answer and
 *   close.
 *
 * *scanned: 0 before the first call for a message; the parser's place
 * between calls, not to be touched by the caller. buf and req are only
 * used during the call. Up to 4 empty lines (CRLF) before the request
 * line are skipped and count in the head's length (RFC 9112 section 2.2
 * asks servers to skip at least one; Go skips a few after a POST). */
int goc__http_parse_request(const char *buf, size_t len, size_t *scanned, goc__hreq *req,
                            const goc__hlimits *lim);

/* What the client knows about the request a response answers. */
enum {
    GOC__HRESP_HEAD = 1,    /* the request was HEAD: no body */
    GOC__HRESP_CONNECT = 2, /* the request was CONNECT: a 2xx is a tunnel */
};

typedef struct goc__hresp {
    /* In, as for goc__hreq. */
    goc__hfield *fields;
    uint32_t fields_cap;

    /* Out, when the parse returned > 0. */
    uint32_t nfields;
    uint16_t code;          /* 100..599 */
    uint8_t minor;          /* 0 or 1 */
    uint8_t body;           /* goc__hbody */
    goc__hspan reason;      /* may be empty */
    bool keep_alive;        /* the connection may carry another request after
                               this body: never with GOC__HBODY_CLOSE */
    bool tunnel;            /* after this head the connection is not HTTP any
                               more: 101 Switching Protocols, or a 2xx to CONNECT */
    int64_t content_length; /* the Content-Length value; -1 if none */

    const char *why; /* out, when the parse returned < 0 (static) */
} goc__hresp;

/* Parse the response head at the start of buf[0, len): returns, scanned
 * and lifetimes as goc__http_parse_request. req_flags: GOC__HRESP_* bits
 * of the request this answers. A 1xx other than 101 is a complete head of
 * its own with no body: the caller reads the next head after it. */
int goc__http_parse_response(const char *buf, size_t len, size_t *scanned, goc__hresp *resp,
                             unsigned req_flags, const goc__hlimits *lim);

/* The chunked body decoder (RFC 9112 section 7.1), incremental across
 * reads: feed it the body bytes as they arrive, and it hands back spans of
 * data, zero-copy.
 *
 * Zero the struct, then set fields/fields_cap (may be NULL/0: then any
 * trailer field is refused with 431) before the first call. */
typedef struct goc__hchunked {
    /* In: where trailer fields go. */
    goc__hfield *fields;
    uint32_t fields_cap;

    /* Out. */
    uint32_t nfields; /* trailer fields, once GOC__HCHUNK_END */
    int status;       /* after an error: 400 or 431 */
    const char *why;  /* after an error (static) */
    uint64_t total;   /* data bytes handed out so far */

    /* The decoder's own; zero to start. */
    uint64_t left;   /* data bytes of the current chunk not yet handed out */
    uint64_t excess; /* framing bytes beyond the allowance (chunked.c) */
    size_t scan;     /* bytes of the pending line or trailer section
                        already searched for its end */
    uint8_t state;
} goc__hchunked;

enum {
    GOC__HCHUNK_MORE = 0, /* every byte given was used or must be given
                             again: call again with more */
    GOC__HCHUNK_DATA = 1, /* *data is a span of body data */
    GOC__HCHUNK_END = 2,  /* the body and its trailer section are complete */
};

/* Decode the chunked body bytes at buf[0, len). *used is always set: the
 * caller drops buf[0, *used) before the next call and presents the rest of
 * buf again, followed by what it reads next.
 *
 * GOC__HCHUNK_DATA: buf[data->off, data->off + data->len) is body data
 *   (len > 0), inside buf[0, *used).
 * GOC__HCHUNK_MORE: no data yet; the decoder needs more bytes.
 * GOC__HCHUNK_END: the last chunk and the trailer section ended at
 *   buf + *used; c->nfields trailer fields are in c->fields as spans into
 *   this call's buf. What follows belongs to the next message.
 *   Later calls return GOC__HCHUNK_END again and use nothing.
 * < 0: -EBADMSG (status 400) or -EMSGSIZE (431); c->why says why. The
 *   body cannot be decoded further: later calls fail the same way.
 * buf is only used during the call. */
int goc__http_chunked(goc__hchunked *c, const char *buf, size_t len, size_t *used, goc__hspan *data,
                      const goc__hlimits *lim);

#endif /* GOC_HTTP_PARSE_H */
