/*
 * content.c — http.ServeContent over an open regular file: conditional
 * requests, ranges (one, or several as multipart/byteranges), and a body
 * that goes out with sendfile.
 *
 * The life of a response, in Go's order (net/http fs.go serveContent):
 *   1. Last-Modified from modtime (none for 0).
 *   2. Preconditions (RFC 9110 section 13.2.2): If-Match, else
 *      If-Unmodified-Since — false: 412. If-None-Match (weak comparison)
 *      — false: 304 for GET and HEAD, 412 otherwise; absent:
 *      If-Modified-Since — false: 304. Then If-Range: a stale validator
 *      drops the Range and the whole content is sent.
 *   3. Content-Type, unless the handler set one: by the name's extension,
 *      else sniffed from the first 512 bytes.
 *   4. Range: a malformed value is 416; one that overlaps nothing is 416
 *      with "Content-Range: bytes * / size"; ranges whose sum exceeds the
 *      size, or more than GOC__HTTP_MAX_RANGES, are ignored (200, whole).
 *      One range: 206 with Content-Range. Several: 206 multipart with a
 *      random boundary, its exact Content-Length computed first.
 *   5. Accept-Ranges and Content-Length (always: the fd's own size, also
 *      for a precompressed body, so the writer never chunks and sendfile
 *      stays zero-copy; Go omits it when Content-Encoding is set).
 *   6. The header; the body unless the method is HEAD.
 * Error responses drop the fields a handler set for the success case
 * (ETag, Last-Modified, Cache-Control, Content-Encoding), as Go 1.23.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "http/fs.h"
#include "http/http.h"

typedef enum cond { COND_NONE, COND_TRUE, COND_FALSE } cond;

static bool method_is(goc_http_request *r, const char *m)
{
    return strcmp(r->method, m) == 0;
}

static const char *req_field(goc_http_request *r, const char *name)
{
    const char *v = goc_http_header_get(r->header, name);
    return v && *v ? v : NULL;
}

/* Go's serveError: the success-only fields go, then http.Error. */
static void serve_error(goc_http_response_writer *w, const char *msg, int code)
{
    goc_http_header *h = goc_http_response_header(w);
    static const char *const drop[] = {"ETag", "Last-Modified", "Cache-Control", "Content-Encoding",
                                       "Content-Length"};
    for (size_t i = 0; i < sizeof drop / sizeof drop[0]; i++)
        goc_http_header_del(h, drop[i]);
    goc_http_error(w, msg, code);
}

/* ---- preconditions ------------------------------------------------------------- */

/* If-Match / If-None-Match: whether any listed tag matches ours (etag,
 * may be NULL), with the strong or the weak comparison; "*" matches
 * anything. COND_NONE when the field is absent. */
static cond etag_list_matches(const char *list, const char *etag, bool strong)
{
    if (!list)
        return COND_NONE;
    for (const char *p = list;;) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (!*p)
            return COND_FALSE;
        if (*p == '*')
            return COND_TRUE;
        const char *tag, *rest;
        size_t n = goc__http_scan_etag(p, &tag, &rest);
        if (n == 0)
            return COND_FALSE;
        if (strong ? goc__http_etag_strong_eq(tag, n, etag) : goc__http_etag_weak_eq(tag, n, etag))
            return COND_TRUE;
        p = rest;
    }
}

/* A date field compared with modtime: COND_NONE when absent, unparsable,
 * or modtime unknown; else whether modtime <= the date. */
static cond modified_at_or_before(goc_http_request *r, const char *field, time_t modtime)
{
    const char *v = req_field(r, field);
    time_t t;
    if (!v || modtime <= 0 || goc__http_parse_time(v, &t) < 0)
        return COND_NONE;
    return modtime <= t ? COND_TRUE : COND_FALSE;
}

bool goc__http_not_modified_since(goc_http_request *r, time_t modtime)
{
    if (!method_is(r, "GET") && !method_is(r, "HEAD"))
        return false;
    return modified_at_or_before(r, "If-Modified-Since", modtime) == COND_TRUE;
}

void goc__http_write_not_modified(goc_http_response_writer *w)
{
    goc_http_header *h = goc_http_response_header(w);
    goc_http_header_del(h, "Content-Type");
    goc_http_header_del(h, "Content-Length");
    goc_http_header_del(h, "Content-Encoding");
    if (goc_http_header_get(h, "ETag"))
        goc_http_header_del(h, "Last-Modified"); /* the ETag guides caches (RFC 9110 15.4.5) */
    goc_http_write_header(w, 304);
}

/* If-Range: whether the Range may be honoured. */
static bool if_range_holds(goc_http_request *r, const char *etag, time_t modtime)
{
    const char *v = req_field(r, "If-Range");
    if (!v || (!method_is(r, "GET") && !method_is(r, "HEAD")))
        return true;
    const char *tag, *rest;
    size_t n = goc__http_scan_etag(v, &tag, &rest);
    if (n > 0)
        return goc__http_etag_strong_eq(tag, n, etag);
    time_t t;
    return modtime > 0 && goc__http_parse_time(v, &t) == 0 && t == modtime;
}

/* Go's checkPreconditions: true when the response is written (304, 412);
 * else *range is the Range to honour (NULL: none). */
static bool check_preconditions(goc_http_response_writer *w, goc_http_request *r, time_t modtime,
                                const char **range)
{
    const char *etag = goc_http_header_get(goc_http_response_header(w), "ETag");
    cond c = etag_list_matches(req_field(r, "If-Match"), etag, true);
    if (c == COND_NONE)
        c = modified_at_or_before(r, "If-Unmodified-Since", modtime);
    if (c == COND_FALSE) {
        goc_http_write_header(w, 412);
        return true;
    }
    c = etag_list_matches(req_field(r, "If-None-Match"), etag, false);
    if (c == COND_TRUE) { /* a listed tag matches: the client's copy is current */
        if (method_is(r, "GET") || method_is(r, "HEAD"))
            goc__http_write_not_modified(w);
        else
            goc_http_write_header(w, 412);
        return true;
    }
    if (c == COND_NONE && goc__http_not_modified_since(r, modtime)) {
        goc__http_write_not_modified(w);
        return true;
    }
    *range = req_field(r, "Range");
    if (*range && !if_range_holds(r, etag, modtime))
        *range = NULL;
    return false;
}

/* ---- the body ----------------------------------------------------------------- */

/* Send fd[off, off + n) as body: 0 or a negative errno (-EIO if the file
 * shrank under us: the client gets a short body and the connection ends). */
static int send_span(goc_http_response_writer *w, int fd, int64_t off, int64_t n)
{
    while (n > 0) {
        ssize_t k = goc_http_sendfile(w, fd, (off_t)off, (size_t)n);
        if (k < 0)
            return (int)k;
        if (k == 0)
            return -EIO;
        off += k;
        n -= k;
    }
    return 0;
}

/* A boundary of 32 hex digits, from the kernel's CSPRNG (as Go's
 * multipart writer): parts of the file cannot forge it. */
static void make_boundary(char out[33])
{
    unsigned char raw[16] = {0};
    if (getrandom(raw, sizeof raw, GRND_NONBLOCK) != (ssize_t)sizeof raw) {
        uint64_t x = (uint64_t)goc_now() * 0x9e3779b97f4a7c15ull; /* early boot only */
        memcpy(raw, &x, sizeof x);
        memcpy(raw + 8, &out, sizeof(void *));
    }
    for (int i = 0; i < 16; i++)
        snprintf(out + 2 * i, 3, "%02x", raw[i]);
}

static void send_multipart(goc_http_response_writer *w, int fd, const goc__http_range *rs, size_t n,
                           int64_t size, const char *boundary, const char *ctype)
{
    char head[1024];
    for (size_t i = 0; i < n; i++) {
        int k = goc__http_multipart_part_head(head, sizeof head, i, &rs[i], size, boundary, ctype);
        if (k < 0 || goc_http_write(w, head, (size_t)k) < 0 ||
            send_span(w, fd, rs[i].start, rs[i].length) < 0)
            return;
    }
    int k = goc__http_multipart_tail(head, sizeof head, boundary);
    goc_http_write(w, head, (size_t)k);
}

/* ---- the whole --------------------------------------------------------------- */

/* Content-Type as set by the handler, or from the extension, or sniffed:
 * the value, or NULL after a 500 was written. */
static const char *content_type(goc_http_response_writer *w, const char *name, int sniff_fd)
{
    goc_http_header *h = goc_http_response_header(w);
    const char *ctype = goc_http_header_get(h, "Content-Type");
    if (ctype)
        return ctype;
    ctype = goc_http_mime_type(name);
    if (!ctype) {
        char buf[512];
        ssize_t n = goc_pread(sniff_fd, buf, sizeof buf, 0);
        if (n < 0) {
            serve_error(w, "seeker can't seek", 500);
            return NULL;
        }
        ctype = goc_http_detect_content_type(buf, (size_t)n);
    }
    goc_http_header_set(h, "Content-Type", ctype);
    return ctype;
}

/* Resolve Range against size into rs (n ranges, 0: whole content): false
 * after a 416 was written. */
static bool pick_ranges(goc_http_response_writer *w, const char *range, int64_t size,
                        const char *ctype, goc__http_range *rs, size_t *n)
{
    int k = goc__http_parse_range(range, size, rs, GOC__HTTP_MAX_RANGES);
    if (k == -ERANGE) {
        char cr[40];
        snprintf(cr, sizeof cr, "bytes */%lld", (long long)size);
        goc_http_header_set(goc_http_response_header(w), "Content-Range", cr);
        serve_error(w, "invalid range: failed to overlap", 416);
        return false;
    }
    if (k == -EINVAL) {
        serve_error(w, "invalid range", 416);
        return false;
    }
    *n = (k < 0 || goc__http_ranges_too_big(rs, (size_t)k, size)) ? 0 : (size_t)k;
    if (*n > 1 && strlen(ctype) > 512)
        *n = 0; /* a part head must fit send_multipart's buffer: send it whole */
    return true;
}

/* The fields that frame n ranges (0: the whole content) and the body's
 * length: Content-Range for one; for several the multipart type with a
 * fresh boundary, *ctype then pointing at a copy the header change cannot
 * free. -1 after a 500 was written. */
static int64_t range_fields(goc_http_response_writer *w, goc_http_request *r,
                            const goc__http_range *rs, size_t n, int64_t size, const char **ctype,
                            char boundary[33])
{
    goc_http_header *h = goc_http_response_header(w);
    char v[96];
    if (n == 0)
        return size;
    if (n == 1) {
        snprintf(v, sizeof v, "bytes %lld-%lld/%lld", (long long)rs[0].start,
                 (long long)(rs[0].start + rs[0].length - 1), (long long)size);
        goc_http_header_set(h, "Content-Range", v);
        return rs[0].length;
    }
    char *part_type = goc_http_request_alloc(r, strlen(*ctype) + 1);
    if (!part_type) {
        serve_error(w, "500 Internal Server Error", 500);
        return -1;
    }
    *ctype = strcpy(part_type, *ctype);
    make_boundary(boundary);
    snprintf(v, sizeof v, "multipart/byteranges; boundary=%s", boundary);
    goc_http_header_set(h, "Content-Type", v);
    return goc__http_multipart_size(rs, n, size, boundary, *ctype);
}

void goc__http_serve_fd(goc_http_response_writer *w, goc_http_request *r, const char *name,
                        time_t modtime, int fd, int64_t size, int sniff_fd)
{
    goc_http_header *h = goc_http_response_header(w);
    if (modtime > 0) {
        char lm[30];
        goc__http_format_time(modtime, lm);
        goc_http_header_set(h, "Last-Modified", lm);
    }
    const char *range = NULL;
    if (check_preconditions(w, r, modtime, &range))
        return;
    const char *ctype = content_type(w, name, sniff_fd);
    goc__http_range rs[GOC__HTTP_MAX_RANGES];
    size_t n = 0;
    if (!ctype || !pick_ranges(w, range, size, ctype, rs, &n))
        return;
    char boundary[33], num[24];
    int64_t len = range_fields(w, r, rs, n, size, &ctype, boundary);
    if (len < 0)
        return;
    goc_http_header_set(h, "Accept-Ranges", "bytes");
    snprintf(num, sizeof num, "%lld", (long long)len);
    goc_http_header_set(h, "Content-Length", num);
    goc_http_write_header(w, n > 0 ? 206 : 200);
    if (method_is(r, "HEAD"))
        return;
    if (n > 1)
        send_multipart(w, fd, rs, n, size, boundary, ctype);
    else
        send_span(w, fd, n == 1 ? rs[0].start : 0, len);
}

void goc_http_serve_content(goc_http_response_writer *w, goc_http_request *r, const char *name,
                            time_t modtime, int fd)
{
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        serve_error(w, "seeker can't seek", 500);
        return;
    }
    goc__http_serve_fd(w, r, name, modtime, fd, (int64_t)st.st_size, fd);
}
