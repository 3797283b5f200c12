/*
 * writer.c — the ResponseWriter of the connection: the life of a write.
 *
 * 1. The handler writes body bytes. Until the header is committed they
 *    collect in bbuf (GOC__HTTP_BBUF bytes); the header map can still
 *    change, and the status is not on the wire.
 * 2. The header is committed by the first of: the handler returns (then
 *    the whole body is known and goes out with a Content-Length), bbuf
 *    would overflow, or a flush. Without a declared Content-Length the
 *    body then goes out chunked (HTTP/1.1) or until close (HTTP/1.0).
 *    Committing writes the status line, the fields the server adds
 *    (Server, Date, Content-Type sniffed from bbuf if none was set,
 *    Content-Length or Transfer-Encoding, Connection) and the handler's
 *    fields into wbuf, then moves bbuf's bytes after them.
 * 3. After commit, writes append to wbuf (framed as chunks if chunking);
 *    wbuf is written to the socket when full, on a flush, or when the
 *    response is finished and no pipelined request waits in the read
 *    buffer (then the next response joins this one in one write).
 * 4. Finishing writes the last chunk and the trailers.
 * HEAD: body bytes are counted, never stored. 1xx (but 101): written and
 * sent at once, and the response goes on. 204, 304: no body.
 */
#include "http/conn.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

int goc__http_wbuf_put(goc__http_conn *c, const void *p, size_t n)
{
    if (c->wcap - c->wlen < n) {
        size_t cap = c->wcap ? c->wcap : 4096;
        while (cap - c->wlen < n)
            cap *= 2;
        bool own = c->rs && c->wbuf == c->rs->wbuf0; /* the pooled block's: copy out */
        char *b = own ? malloc(cap) : realloc(c->wbuf, cap);
        if (!b)
            return -ENOMEM;
        if (own)
            memcpy(b, c->wbuf, c->wlen);
        c->wbuf = b;
        c->wcap = cap;
    }
    memcpy(c->wbuf + c->wlen, p, n);
    c->wlen += n;
    return 0;
}

static int put_str(goc__http_conn *c, const char *s)
{
    return goc__http_wbuf_put(c, s, strlen(s));
}

int goc__http_flush_wbuf(goc__http_conn *c)
{
    if (c->wlen == 0)
        return 0;
    ssize_t n = goc__http_conn_write(c, c->wbuf, c->wlen);
    if (n < 0) {
        c->close_after = true;
        return (int)n;
    }
    c->bytes_out += c->wlen;
    c->wlen = 0;
    return 0;
}

void goc__http_writer_reset(goc__http_conn *c)
{
    goc_http_response_writer *w = &c->rs->w;
    w->ops = NULL;
    goc__http_header_init(&w->header, &c->arena);
    goc__http_header_init(&w->trailer, &c->arena);
    w->status = 0;
    w->written = 0;
    w->conn = c;
    c->blen = 0;
    c->header_sent = c->chunking = false;
    c->werr = 0;
    c->clen = -1;
}

/* A write of the response failed: it stays failed (see conn.h). */
static int broken(goc__http_conn *c, int err)
{
    c->werr = err;
    c->close_after = true;
    return err;
}

static bool body_allowed(int status)
{
    return !(status >= 100 && status < 200) && status != 204 && status != 304;
}

/* Decimal digits of v into buf (room for 20): their count. */
static size_t fmt_u64(char *buf, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        buf[i] = tmp[n - 1 - i];
    return n;
}

/* "HEX\r\n" for a chunk of n bytes into buf (room for 20): its length. */
static size_t fmt_chunk_size(char *buf, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    char tmp[16];
    size_t k = 0;
    do {
        tmp[k++] = hex[n & 15];
        n >>= 4;
    } while (n);
    for (size_t i = 0; i < k; i++)
        buf[i] = tmp[k - 1 - i];
    buf[k] = '\r';
    buf[k + 1] = '\n';
    return k + 2;
}

/* The status line for code: "HTTP/1.x CODE REASON\r\n". */
static int put_status_line(goc__http_conn *c, int code)
{
    char line[80] = "HTTP/1.1 ";
    line[7] = (char)('0' + c->rs->req.proto_minor);
    line[9] = (char)('0' + code / 100);
    line[10] = (char)('0' + code / 10 % 10);
    line[11] = (char)('0' + code % 10);
    line[12] = ' ';
    const char *reason = goc_http_status_text(code);
    if (!*reason)
        reason = "status code";
    size_t rl = strlen(reason);
    memcpy(line + 13, reason, rl);
    memcpy(line + 13 + rl, "\r\n", 2);
    return goc__http_wbuf_put(c, line, 15 + rl);
}

static int put_field(goc__http_conn *c, const char *name, size_t nl, const char *v, size_t vl)
{
    if (goc__http_wbuf_put(c, name, nl) < 0 || goc__http_wbuf_put(c, ": ", 2) < 0 ||
        goc__http_wbuf_put(c, v, vl) < 0 || goc__http_wbuf_put(c, "\r\n", 2) < 0)
        return -ENOMEM;
    return 0;
}

/* Fields of the handler's map the server looks at, found in one pass. */
typedef struct hinfo {
    int cl, ct, date, conn; /* index of the first such field, or -1 */
} hinfo;

static bool named(const goc__hentry *e, const char *name, size_t n)
{
    return e->name_len == n && goc__http_token_eq(e->name, name, n);
}

static hinfo scan_fields(const goc_http_header *h)
{
    hinfo hi = {-1, -1, -1, -1};
    for (uint32_t i = 0; i < h->n; i++) {
        const goc__hentry *e = &h->v[i];
        if (hi.cl < 0 && named(e, "Content-Length", 14))
            hi.cl = (int)i;
        else if (hi.ct < 0 && named(e, "Content-Type", 12))
            hi.ct = (int)i;
        else if (hi.date < 0 && named(e, "Date", 4))
            hi.date = (int)i;
        else if (hi.conn < 0 && named(e, "Connection", 10))
            hi.conn = (int)i;
    }
    return hi;
}

/* The handler's fields, but those the server frames itself (skip: the
 * index of a Content-Length the server replaces, or -1). */
static int put_fields(goc__http_conn *c, const goc_http_header *h, int skip)
{
    for (uint32_t i = 0; i < h->n; i++) {
        const goc__hentry *e = &h->v[i];
        if ((int)i == skip || named(e, "Transfer-Encoding", 17) || named(e, "Connection", 10))
            continue;
        if (put_field(c, e->name, e->name_len, e->value, e->value_len) < 0)
            return -ENOMEM;
    }
    return 0;
}

/* A declared Content-Length's value: all digits, else -1. */
static int64_t parse_cl(const char *v)
{
    if (!*v)
        return -1;
    int64_t n = 0;
    for (; *v; v++) {
        if (*v < '0' || *v > '9' || n > (INT64_MAX - 9) / 10)
            return -1;
        n = n * 10 + (*v - '0');
    }
    return n;
}

/* Decide the framing of the body at commit. done: the handler returned,
 * so bbuf (or, for HEAD, the count) is the whole body. Sets c->clen, and
 * whether the handler's own Content-Length field is dropped (*skip_cl). */
static void decide_framing(goc__http_conn *c, bool done, const hinfo *hi, bool *skip_cl)
{
    goc_http_response_writer *w = &c->rs->w;
    *skip_cl = false;
    if (hi->cl >= 0) {
        c->clen = parse_cl(w->header.v[hi->cl].value);
        *skip_cl = c->clen < 0;
    }
    if (!body_allowed(w->status)) {
        c->clen = -1;
        return;
    }
    bool trailers = w->trailer.n > 0 && c->rs->req.proto_minor == 1;
    /* HEAD with nothing written says no length (as Go): the GET's is not
     * known (a wrapper such as gzip drops the handler's). */
    if (c->clen < 0 && done && !trailers && !(c->head_req && w->written == 0))
        c->clen = w->written;
    else if (c->clen >= 0 && trailers) {
        c->clen = -1; /* trailers need chunking; the declared length is dropped */
        *skip_cl = true;
    }
    if (c->clen >= 0 || c->head_req)
        return;
    if (c->rs->req.proto_minor == 1)
        c->chunking = true;
    else
        c->close_after = true; /* HTTP/1.0: the body ends when the connection does */
}

static int put_framing_fields(goc__http_conn *c, const hinfo *hi, bool own_cl)
{
    goc_http_response_writer *w = &c->rs->w;
    int rc = 0;
    if (own_cl) {
        char v[24];
        rc = put_field(c, "Content-Length", 14, v, fmt_u64(v, (uint64_t)c->clen));
    }
    if (rc == 0 && c->chunking)
        rc = put_str(c, "Transfer-Encoding: chunked\r\n");
    if (rc == 0 && c->chunking && w->trailer.n) {
        rc = put_str(c, "Trailer: ");
        for (uint32_t i = 0; rc == 0 && i < w->trailer.n; i++) {
            rc = goc__http_wbuf_put(c, w->trailer.v[i].name, w->trailer.v[i].name_len);
            if (rc == 0)
                rc = put_str(c, i + 1 < w->trailer.n ? ", " : "\r\n");
        }
    }
    if (hi->conn >= 0 && strcasestr(w->header.v[hi->conn].value, "close"))
        c->close_after = true;
    /* relaxed: a hint read unlocked; a response that misses it closes at
     * the next idle check (enter_idle, under srv->mu) instead. */
    if (__atomic_load_n(&c->srv->shutting, __ATOMIC_RELAXED))
        c->close_after = true;
    if (rc == 0 && c->close_after)
        rc = put_str(c, "Connection: close\r\n");
    else if (rc == 0 && c->rs->req.proto_minor == 0)
        rc = put_str(c, "Connection: keep-alive\r\n");
    return rc;
}

/* Commit the header of the final response (status >= 200). */
static int commit(goc__http_conn *c, bool done)
{
    goc_http_response_writer *w = &c->rs->w;
    size_t wlen0 = c->wlen; /* a failed commit leaves nothing of its head */
    if (w->status == 0)
        w->status = 200;
    hinfo hi = scan_fields(&w->header);
    bool skip_cl;
    decide_framing(c, done, &hi, &skip_cl);
    bool own_cl = c->clen >= 0 && (hi.cl < 0 || skip_cl);
    int rc = put_status_line(c, w->status);
    if (rc == 0 && c->srv->server_line)
        rc = goc__http_wbuf_put(c, c->srv->server_line, c->srv->server_line_len);
    if (rc == 0 && hi.date < 0) {
        char date[40] = "Date: ";
        memcpy(date + 6, goc__http_date(), 29);
        memcpy(date + 35, "\r\n", 2);
        rc = goc__http_wbuf_put(c, date, 37);
    }
    if (rc == 0 && hi.ct < 0 && body_allowed(w->status) &&
        (c->blen > 0 || (c->head_req && w->written > 0))) {
        const char *ct = goc_http_detect_content_type(c->bbuf, c->blen);
        rc = put_field(c, "Content-Type", 12, ct, strlen(ct));
    }
    if (rc == 0)
        rc = put_fields(c, &w->header, skip_cl || w->status == 204 || w->status < 200 ? hi.cl : -1);
    if (rc == 0)
        rc = put_framing_fields(c, &hi, own_cl);
    if (rc == 0)
        rc = goc__http_wbuf_put(c, "\r\n", 2);
    c->header_sent = true;
    /* What was buffered before the header is the body's start. */
    size_t n = c->blen;
    c->blen = 0;
    if (rc == 0 && n > 0 && c->chunking) {
        char hdr[24];
        size_t k = fmt_chunk_size(hdr, n);
        rc = goc__http_wbuf_put(c, hdr, (size_t)k);
        if (rc == 0)
            rc = goc__http_wbuf_put(c, c->bbuf, n);
        if (rc == 0)
            rc = goc__http_wbuf_put(c, "\r\n", 2);
    } else if (rc == 0 && n > 0) {
        rc = goc__http_wbuf_put(c, c->bbuf, n);
    }
    if (rc < 0) {
        c->wlen = wlen0;
        return broken(c, rc);
    }
    return 0;
}

/* Body bytes after commit: into wbuf if small, else straight out. */
/* wbuf, then p[0, n) and the tail (a chunk's CRLF, or nothing) in one
 * writev: a large write goes out without being copied. n, or the error. */
static ssize_t write_through(goc__http_conn *c, const void *p, size_t n, const char *tail)
{
    struct iovec iov[3] = {{c->wbuf, c->wlen}, {(void *)p, n}, {(void *)tail, strlen(tail)}};
    ssize_t r = goc__http_conn_writev(c, iov, *tail ? 3 : 2);
    if (r < 0)
        return broken(c, (int)r);
    c->bytes_out += (uint64_t)r;
    c->wlen = 0;
    return (ssize_t)n;
}

static ssize_t send_body(goc__http_conn *c, const void *p, size_t n)
{
    /* Small writes join wbuf (up to 16 KiB of it), large ones go through. */
    bool small = n <= 2048 && c->wlen + n + 32 <= (c->wcap > 16384 ? c->wcap : 16384);
    if (c->chunking) {
        char hdr[24];
        size_t k = fmt_chunk_size(hdr, n);
        if (goc__http_wbuf_put(c, hdr, k) < 0)
            return broken(c, -ENOMEM);
        if (!small)
            return write_through(c, p, n, "\r\n");
        if (goc__http_wbuf_put(c, p, n) < 0 || goc__http_wbuf_put(c, "\r\n", 2) < 0)
            return broken(c, -ENOMEM);
        return (ssize_t)n;
    }
    if (!small)
        return write_through(c, p, n, "");
    return goc__http_wbuf_put(c, p, n) < 0 ? broken(c, -ENOMEM) : (ssize_t)n;
}

/* 1xx but 101: the status line and the header map, sent at once. */
static int write_informational(goc__http_conn *c, int code)
{
    size_t wlen0 = c->wlen;
    int rc = put_status_line(c, code);
    if (rc == 0)
        rc = put_fields(c, &c->rs->w.header, -1);
    if (rc == 0)
        rc = goc__http_wbuf_put(c, "\r\n", 2);
    if (rc < 0) {
        c->wlen = wlen0;
        return rc;
    }
    rc = goc__http_flush_wbuf(c);
    return rc < 0 ? broken(c, rc) : 0;
}

GOC_API goc_http_header *goc_http_response_header(goc_http_response_writer *w)
{
    return &w->header;
}

GOC_API goc_http_header *goc_http_response_trailer(goc_http_response_writer *w)
{
    return &w->trailer;
}

GOC_API int goc_http_write_header(goc_http_response_writer *w, int code)
{
    if (code < 100 || code > 999)
        return goc__errorf(-EINVAL, "http: invalid WriteHeader code %d", code);
    if (w->ops)
        return w->ops->write_header(w, code);
    goc__http_conn *c = w->conn;
    if (c->hijacked)
        return GOC_EHTTP_HIJACKED;
    if (w->status != 0) {
        goc__http_logf(c->srv, "http: superfluous WriteHeader(%d) after %d (%s %s)", code,
                       w->status, c->rs->req.method, c->rs->req.path);
        return 0; /* ignored, as Go */
    }
    if (code < 200 && code != 101)
        return write_informational(c, code);
    w->status = code;
    return 0;
}

GOC_API ssize_t goc_http_write(goc_http_response_writer *w, const void *p, size_t n)
{
    if (w->ops)
        return w->ops->write(w, p, n);
    goc__http_conn *c = w->conn;
    if (c->hijacked)
        return GOC_EHTTP_HIJACKED;
    if (c->werr)
        return c->werr;
    if (w->status == 0)
        w->status = 200;
    if (!body_allowed(w->status))
        return n ? GOC_EHTTP_BODY_NOT_ALLOWED : 0;
    if (c->clen >= 0 && w->written + (int64_t)n > c->clen)
        return goc__errset(GOC_EHTTP_CONTENT_LENGTH,
                           "http: wrote more than the declared Content-Length");
    if (!c->header_sent) {
        const char *cl = goc_http_header_get(&w->header, "Content-Length");
        if (cl && w->written + (int64_t)n > strtoll(cl, NULL, 10))
            return goc__errset(GOC_EHTTP_CONTENT_LENGTH,
                               "http: wrote more than the declared Content-Length");
    }
    w->written += (int64_t)n;
    if (c->head_req || n == 0)
        return (ssize_t)n;
    if (!c->header_sent && c->blen + n <= GOC__HTTP_BBUF) {
        memcpy(c->bbuf + c->blen, p, n);
        c->blen += n;
        return (ssize_t)n;
    }
    if (!c->header_sent) {
        int rc = commit(c, false);
        if (rc < 0)
            return rc;
    }
    ssize_t r = send_body(c, p, n);
    if (r < 0)
        w->written -= (int64_t)n;
    return r;
}

GOC_API ssize_t goc_http_write_str(goc_http_response_writer *w, const char *s)
{
    return goc_http_write(w, s, strlen(s));
}

GOC_API ssize_t goc_http_vprintf(goc_http_response_writer *w, const char *fmt, va_list ap)
{
    char small[512];
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    if (n < 0) {
        va_end(ap2);
        return -EINVAL;
    }
    if ((size_t)n < sizeof small) {
        va_end(ap2);
        return goc_http_write(w, small, (size_t)n);
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        va_end(ap2);
        return -ENOMEM;
    }
    vsnprintf(big, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    ssize_t r = goc_http_write(w, big, (size_t)n);
    free(big);
    return r;
}

GOC_API ssize_t goc_http_printf(goc_http_response_writer *w, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ssize_t r = goc_http_vprintf(w, fmt, ap);
    va_end(ap);
    return r;
}

GOC_API int goc_http_flush(goc_http_response_writer *w)
{
    if (w->ops)
        return w->ops->flush(w);
    goc__http_conn *c = w->conn;
    if (c->hijacked)
        return GOC_EHTTP_HIJACKED;
    if (c->werr)
        return c->werr;
    if (!c->header_sent) {
        int rc = commit(c, false);
        if (rc < 0)
            return rc;
    }
    int rc = goc__http_flush_wbuf(c);
    return rc < 0 ? broken(c, rc) : 0;
}

ssize_t goc__http_pread_cached(int fd, void *buf, size_t n, off_t off)
{
    struct iovec iov = {buf, n};
    ssize_t r = preadv2(fd, &iov, 1, off, RWF_NOWAIT);
    if (r > 0 || (r == 0 && n == 0))
        return r;
    return goc_pread(fd, buf, n, off);
}

GOC_API ssize_t goc_http_sendfile(goc_http_response_writer *w, int in_fd, off_t offset,
                                  size_t count)
{
    if (w->ops && w->ops->sendfile)
        return w->ops->sendfile(w, in_fd, offset, count);
    goc__http_conn *c = w->ops ? NULL : w->conn;
    if (!c || c->chunking || c->head_req || (!c->header_sent && c->blen + count <= 16384)) {
        /* Small, chunked or wrapped: through the write path. */
        char buf[16384];
        size_t done = 0;
        while (done < count) {
            size_t k = count - done < sizeof buf ? count - done : sizeof buf;
            ssize_t r = goc__http_pread_cached(in_fd, buf, k, offset + (off_t)done);
            if (r <= 0)
                return r < 0 ? r : (ssize_t)done;
            ssize_t wr = goc_http_write(w, buf, (size_t)r);
            if (wr < 0)
                return wr;
            done += (size_t)r;
        }
        return (ssize_t)done;
    }
    if (c->werr)
        return c->werr;
    if (w->status == 0)
        w->status = 200;
    if (!body_allowed(w->status))
        return GOC_EHTTP_BODY_NOT_ALLOWED;
    if (c->clen >= 0 && w->written + (int64_t)count > c->clen)
        return GOC_EHTTP_CONTENT_LENGTH;
    if (!c->header_sent) {
        int rc = commit(c, false);
        if (rc < 0)
            return rc;
    }
    int rc = goc__http_flush_wbuf(c);
    if (rc < 0)
        return broken(c, rc);
    size_t done = 0;
    off_t off = offset;
    while (done < count) {
        ssize_t r = goc__http_conn_sendfile(c, in_fd, &off, count - done);
        if (r < 0)
            return broken(c, (int)r);
        if (r == 0)
            break; /* the file is shorter than promised */
        done += (size_t)r;
    }
    w->written += (int64_t)done;
    c->bytes_out += done;
    if (done < count)
        c->close_after = true; /* the framing promised more */
    return (ssize_t)done;
}

GOC_API int goc_http_hijack(goc_http_response_writer *w, int *fd, char **buffered, size_t *nbuf)
{
    if (w->ops && w->ops->hijack)
        return w->ops->hijack(w, fd, buffered, nbuf);
    if (w->ops)
        return -ENOTSUP;
    goc__http_conn *c = w->conn;
    if (c->tls)
        return goc__errset(-ENOTSUP, "http: hijack is not supported over TLS");
    if (c->hijacked)
        return GOC_EHTTP_HIJACKED;
    if (c->header_sent)
        return goc__errset(-EINVAL, "http: hijack after the header was written");
    goc__http_request_end_ctx(c);     /* the watcher must not read the fd any more */
    int rc = goc__http_flush_wbuf(c); /* earlier pipelined responses */
    if (rc < 0)
        return rc;
    size_t n = c->rlen - c->rpos;
    *buffered = NULL;
    if (n) {
        *buffered = malloc(n);
        if (!*buffered)
            return -ENOMEM;
        memcpy(*buffered, c->rbuf + c->rpos, n);
    }
    *nbuf = n;
    *fd = c->fd;
    c->hijacked = true;
    goc__http_set_state(c, GOC_HTTP_STATE_HIJACKED);
    return 0;
}

GOC_API void goc_http_abort(goc_http_response_writer *w)
{
    if (w->ops) {
        if (w->ops->abort)
            w->ops->abort(w);
        return;
    }
    /* No last chunk and no more bytes: the connection closes after the
     * handler, so the client sees a body cut short, never a complete one. */
    broken(w->conn, -ECONNABORTED);
}

GOC_API int goc_http_response_status(const goc_http_response_writer *w)
{
    return w->status;
}

GOC_API int64_t goc_http_response_bytes(const goc_http_response_writer *w)
{
    return w->written;
}

void goc__http_rw_init(goc_http_response_writer *w, goc_http_request *r,
                       const goc__http_rw_ops *ops)
{
    w->ops = ops;
    goc__http_header_init(&w->header, r->priv_->arena);
    goc__http_header_init(&w->trailer, r->priv_->arena);
    w->status = 0;
    w->written = 0;
    w->conn = NULL;
}

int goc__http_finish_response(goc__http_conn *c)
{
    goc_http_response_writer *w = &c->rs->w;
    if (c->hijacked)
        return 0;
    if (c->werr)
        return c->werr; /* no last chunk: the client must see it incomplete */
    if (w->status == 0 && c->too_large) {
        goc_http_header_set(&w->header, "Content-Type", "text/plain; charset=utf-8");
        goc_http_header_set(&w->header, "Connection", "close");
        static const char msg[] = "http: request body too large\n";
        goc_http_write_header(w, 413);
        goc_http_write(w, msg, sizeof msg - 1);
    }
    if (!c->header_sent) {
        int rc = commit(c, true);
        if (rc < 0)
            return rc;
    }
    if (c->clen >= 0 && w->written < c->clen && !c->head_req)
        c->close_after = true; /* the client would wait for the rest */
    if (!c->chunking)
        return 0;
    int rc = goc__http_wbuf_put(c, "0\r\n", 3);
    if (rc == 0 && w->trailer.n)
        rc = put_fields(c, &w->trailer, -1);
    if (rc == 0)
        rc = goc__http_wbuf_put(c, "\r\n", 2);
    return rc;
}

void goc__http_reject(goc__http_conn *c, int status, const char *why)
{
    char msg[256];
    const char *reason = goc_http_status_text(status);
    int blen = snprintf(msg, sizeof msg, "%d %s: %s", status, reason, why ? why : reason);
    if (blen < 0 || (size_t)blen >= sizeof msg)
        blen = (int)sizeof msg - 1;
    char head[256];
    int hlen = snprintf(head, sizeof head,
                        "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
                        "Content-Length: %d\r\nConnection: close\r\n\r\n",
                        status, reason, blen);
    if (goc__http_wbuf_put(c, head, (size_t)hlen) == 0 &&
        goc__http_wbuf_put(c, msg, (size_t)blen) == 0)
        goc__http_flush_wbuf(c);
    c->close_after = true;
    c->linger = true;
}
