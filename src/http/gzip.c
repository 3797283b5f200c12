/*
 * gzip.c — goc_http_gzip_handler: responses compressed as they are written.
 *
 * The life of a response through it:
 *   1. The wrapper reads Accept-Encoding and Range once, and builds on its
 *      stack a writer (gzw) that takes over the real writer's header and
 *      trailer maps: the map structs are moved into the gzw, and handed
 *      back (give_back) before every call on the real writer and when the
 *      handler returns. So the handler's header changes reach the wire
 *      exactly when they would without the wrapper, and fields an outer
 *      middleware set before are kept.
 *   2. Until the decision, body bytes are held back, up to min_length of
 *      them, in request memory; written, they are counted as accepted.
 *   3. The decision, taken once, at the first of: a write that brings
 *      the held bytes to min_length, a write (or sendfile) whose outcome
 *      the header alone settles (a status without a body or 206, a
 *      Content-Encoding, a Content-Length, a type not listed, a client
 *      that takes no gzip), a flush, or the handler's return. Compress
 *      when the status allows a body and is not 206, the handler set no
 *      Content-Encoding nor "Cache-Control: no-transform", the type
 *      (declared, else sniffed from the held bytes) is listed, the client
 *      takes gzip and asked for no range, and the body is long enough (a
 *      Content-Length >= min_length, min_length bytes held, or a flush
 *      before the end). Vary: Accept-Encoding goes on every response of a
 *      listed type, compressed or not (a cache must keep the two apart).
 *   4. Compressing: Content-Encoding gzip, the sniffed Content-Type set
 *      (the server would sniff the gzip bytes otherwise), no
 *      Content-Length nor Accept-Ranges, a strong ETag made weak. The
 *      bytes go through deflate into the pooled compressor's buffer,
 *      written to the real writer when it fills; a flush is a zlib sync
 *      flush (every byte so far decodable) then goc_http_flush; the
 *      handler's return finishes the stream. HEAD: headers as for GET,
 *      nothing compressed.
 *   5. Plain: the held bytes are written, then every call passes
 *      through (sendfile keeps its zero copy).
 *
 * Memory: a compressor (deflateInit2 with windowBits 15, memLevel 8:
 * ~256 KiB) is taken from the wrapper's pool only when a response is
 * compressed, and put back (deflateReset on its next use) when the
 * handler returns; the pool frees the ones left idle. Everything else
 * lives on the wrapper's stack or in the request's arena.
 *
 * Threads: a gzw belongs to the goroutine running the handler (as any
 * writer); the wrapper's arg is read-only after creation, its pool is
 * safe from any thread.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "http/fs.h" /* goc__http_accepts_gzip */
#include "http/http.h"

#define ZBUF          16384 /* compressed bytes gathered before a write */
#define DEFAULT_LEVEL 1
#define DEFAULT_MIN   1024
#define SNIFF_LEN     512

/* Text-like types: what nginx users list in gzip_types, and Go's gzhttp
 * does not skip as already compressed. */
static const char *const default_types[] = {
    "text/*",
    "application/json",
    "application/javascript",
    "application/x-javascript",
    "application/ecmascript",
    "application/xml",
    "application/xhtml+xml",
    "application/rss+xml",
    "application/atom+xml",
    "application/ld+json",
    "application/manifest+json",
    "application/geo+json",
    "application/x-ndjson",
    "application/wasm",
    "application/vnd.ms-fontobject",
    "application/x-font-ttf",
    "font/ttf",
    "font/otf",
    "image/svg+xml",
    "image/x-icon",
    "image/vnd.microsoft.icon",
    "image/bmp",
    NULL,
};

typedef struct gzip_arg {
    goc_http_handler next;
    int level;
    size_t min_length;
    const char *const *types; /* default_types, or a copy of the user's */
    goc_pool *pool;           /* of zobj */
} gzip_arg;

/* A compressor and its output buffer, pooled (the pool keeps its link in
 * the first word). */
typedef struct zobj {
    void *link;
    z_stream z;
    size_t nout; /* bytes of out not yet written */
    unsigned char out[ZBUF];
} zobj;

enum { UNDECIDED, PLAIN, GZIP, HIJACKED };

typedef struct gzw {
    goc_http_response_writer w; /* first: the ops get a gzw through it */
    goc_http_response_writer *out;
    goc_http_request *r;
    const gzip_arg *a;
    int mode;
    bool allowed; /* the client takes gzip and asked for no range */
    bool head;
    int err;    /* GZIP: a write of the stream failed; every later one fails so */
    char *held; /* UNDECIDED: held body bytes (min_length of request memory) */
    size_t nheld;
    zobj *zo; /* GZIP, not HEAD */
} gzw;

/* ---- the compressor pool --------------------------------------------------- */

static void *zobj_new(void *arg)
{
    const gzip_arg *a = arg;
    zobj *o = malloc(sizeof *o);
    if (!o)
        return NULL;
    memset(&o->z, 0, sizeof o->z);
    /* windowBits 15 + 16: a gzip wrapper (header and CRC-32 trailer). */
    if (deflateInit2(&o->z, a->level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        free(o);
        return NULL;
    }
    return o;
}

static void zobj_free(void *obj, void *arg)
{
    (void)arg;
    zobj *o = obj;
    deflateEnd(&o->z);
    free(o);
}

static zobj *zobj_get(const gzip_arg *a)
{
    zobj *o = goc_pool_get(a->pool);
    if (o) {
        deflateReset(&o->z);
        o->nout = 0;
    }
    return o;
}

/* ---- what the header says ----------------------------------------------- */

static bool status_compressible(int status)
{
    return status >= 200 && status != 204 && status != 206 && status != 304;
}

/* Whether the media type of ct (before any ';') is in the list. */
static bool type_listed(const char *const *types, const char *ct)
{
    size_t n = strcspn(ct, ";");
    while (n > 0 && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
        n--;
    for (const char *const *t = types; *t; t++) {
        size_t k = strlen(*t);
        if (k >= 2 && (*t)[k - 1] == '*' && (*t)[k - 2] == '/') {
            if (n >= k - 1 && strncasecmp(ct, *t, k - 1) == 0)
                return true;
        } else if (n == k && strncasecmp(ct, *t, k) == 0) {
            return true;
        }
    }
    return false;
}

/* Whether any value of name contains token (case-insensitive substring:
 * good enough for Vary's and Cache-Control's tokens). */
static bool has_token(const goc_http_header *h, const char *name, const char *token)
{
    const char *v[16];
    size_t n = goc_http_header_values(h, name, v, 16);
    for (size_t i = 0; i < n && i < 16; i++)
        if (strcasestr(v[i], token))
            return true;
    return false;
}

static void add_vary(goc_http_header *h)
{
    if (!has_token(h, "Vary", "accept-encoding") && !has_token(h, "Vary", "*"))
        goc_http_header_add(h, "Vary", "Accept-Encoding");
}

/* Whether the header alone settles the decision (no bytes needed but,
 * without a Content-Type, a first write to sniff). */
static bool settled(const gzw *g)
{
    const goc_http_header *h = &g->w.header;
    const char *ct = goc_http_header_get(h, "Content-Type");
    return !g->allowed || !status_compressible(g->w.status ? g->w.status : 200) ||
           goc_http_header_get(h, "Content-Encoding") || (ct && !type_listed(g->a->types, ct)) ||
           goc_http_header_get(h, "Content-Length") ||
           has_token(h, "Cache-Control", "no-transform");
}

/* Whether the decision needs body bytes to sniff a Content-Type. */
static bool needs_sniff(const gzw *g)
{
    const goc_http_header *h = &g->w.header;
    return status_compressible(g->w.status ? g->w.status : 200) &&
           !goc_http_header_get(h, "Content-Encoding") && !goc_http_header_get(h, "Content-Type");
}

/* ---- writing to the real writer ----------------------------------------- */

/* The header maps back to the real writer, before each call on it. */
static void give_back(gzw *g)
{
    g->out->header = g->w.header;
    g->out->trailer = g->w.trailer;
}

static ssize_t plain_write(gzw *g, const void *p, size_t n)
{
    give_back(g);
    return goc_http_write(g->out, p, n);
}

/* Write the compressor's buffer out. */
static int zsend(gzw *g)
{
    zobj *o = g->zo;
    if (o->nout == 0)
        return 0;
    give_back(g);
    ssize_t r = goc_http_write(g->out, o->out, o->nout);
    o->nout = 0;
    if (r < 0)
        g->err = (int)r;
    return r < 0 ? (int)r : 0;
}

/* Run deflate over z.next_in with flush (Z_NO_FLUSH, Z_SYNC_FLUSH,
 * Z_FINISH) until it has taken all the input and, flushing, written all
 * its output. */
static int zrun(gzw *g, int flush)
{
    zobj *o = g->zo;
    for (;;) {
        o->z.next_out = o->out + o->nout;
        o->z.avail_out = (uInt)(ZBUF - o->nout);
        int rc = deflate(&o->z, flush);
        o->nout = ZBUF - o->z.avail_out;
        if (rc == Z_STREAM_ERROR)
            return g->err = goc__errset(-EINVAL, "gzip: deflate state broken");
        if (o->nout == ZBUF) {
            int err = zsend(g);
            if (err < 0)
                return err;
            continue; /* a full buffer: deflate may have more */
        }
        /* Room left: deflate took all the input (and flushed, if asked). */
        return flush == Z_NO_FLUSH ? 0 : zsend(g);
    }
}

static ssize_t gz_compress(gzw *g, const void *p, size_t n)
{
    if (g->err)
        return g->err;
    if (g->head || n == 0)
        return (ssize_t)n;
    const unsigned char *s = p;
    for (size_t done = 0; done < n;) {
        size_t k = n - done < (size_t)1 << 30 ? n - done : (size_t)1 << 30;
        g->zo->z.next_in = (Bytef *)(s + done);
        g->zo->z.avail_in = (uInt)k;
        int rc = zrun(g, Z_NO_FLUSH);
        g->zo->z.next_in = NULL;
        g->zo->z.avail_in = 0;
        if (rc < 0)
            return rc;
        done += k;
    }
    return (ssize_t)n;
}

/* Body bytes after the decision. */
static ssize_t emit(gzw *g, const void *p, size_t n)
{
    return g->mode == GZIP ? gz_compress(g, p, n) : plain_write(g, p, n);
}

/* ---- the decision ---------------------------------------------------------- */

/* The Content-Type the server would sniff from the held bytes and then
 * p[0, n) (what its own buffer would start with). */
static const char *sniff(const gzw *g, const void *p, size_t n)
{
    char buf[SNIFF_LEN];
    size_t k = g->nheld < SNIFF_LEN ? g->nheld : SNIFF_LEN;
    if (k)
        memcpy(buf, g->held, k);
    size_t m = n < SNIFF_LEN - k ? n : SNIFF_LEN - k;
    if (m)
        memcpy(buf + k, p, m);
    return goc_http_detect_content_type(buf, k + m);
}

/* Whether the body is long enough to be worth compressing; n: bytes
 * about to be written beyond those held; end: the handler returned. */
static bool long_enough(const gzw *g, size_t n, bool end)
{
    const char *cl = goc_http_header_get(&g->w.header, "Content-Length");
    if (cl) {
        char *e;
        unsigned long long v = strtoull(cl, &e, 10);
        return *e == '\0' && v >= g->a->min_length;
    }
    return !end || g->nheld + n >= g->a->min_length;
}

/* Set the fields of a compressed response. */
static void gzip_fields(goc_http_header *h, const char *sniffed)
{
    goc_http_header_del(h, "Content-Length");
    goc_http_header_del(h, "Accept-Ranges");
    goc_http_header_set(h, "Content-Encoding", "gzip");
    if (sniffed)
        goc_http_header_set(h, "Content-Type", sniffed);
    const char *etag = goc_http_header_get(h, "ETag");
    if (etag && etag[0] == '"') {
        size_t n = strlen(etag);
        char *weak = malloc(n + 3);
        if (!weak) {
            goc_http_header_del(h, "ETag"); /* better none than a strong one */
            return;
        }
        memcpy(weak, "W/", 2);
        memcpy(weak + 2, etag, n + 1);
        goc_http_header_set(h, "ETag", weak);
        free(weak);
    }
}

/* Decide (see the top of the file) with p[0, n) the bytes about to be
 * written, then write out the held ones. */
static int decide(gzw *g, const void *p, size_t n, bool end)
{
    goc_http_header *h = &g->w.header;
    const char *ct = goc_http_header_get(h, "Content-Type"), *sniffed = NULL;
    bool listed = false, gz = false;
    if (status_compressible(g->w.status ? g->w.status : 200) &&
        !goc_http_header_get(h, "Content-Encoding")) {
        if (!ct && g->nheld + n > 0)
            ct = sniffed = sniff(g, p, n);
        listed = ct && type_listed(g->a->types, ct);
    }
    if (listed) {
        add_vary(h);
        gz = g->allowed && !has_token(h, "Cache-Control", "no-transform") && long_enough(g, n, end);
    }
    if (gz && !g->head) {
        g->zo = zobj_get(g->a);
        gz = g->zo != NULL; /* no memory for a compressor: send it plain */
    }
    if (gz)
        gzip_fields(h, sniffed);
    g->mode = gz ? GZIP : PLAIN;
    size_t k = g->nheld;
    g->nheld = 0;
    ssize_t r = k ? emit(g, g->held, k) : 0;
    return r < 0 ? (int)r : 0;
}

/* ---- the ops ----------------------------------------------------------------- */

static int gzw_write_header(goc_http_response_writer *w, int code)
{
    gzw *g = (gzw *)w;
    if (code >= 200 && w->status == 0)
        w->status = code;
    give_back(g);
    int rc = goc_http_write_header(g->out, code);
    if (rc == 0 && g->mode == UNDECIDED && code >= 200 && !status_compressible(w->status))
        rc = decide(g, NULL, 0, false);
    return rc;
}

/* Hold p[0, n) back if undecided and the decision can wait: true if held. */
static bool hold(gzw *g, const void *p, size_t n)
{
    if (g->mode != UNDECIDED || settled(g) || g->nheld + n >= g->a->min_length)
        return false;
    if (!g->held) {
        g->held = goc__http_alloc(g->r, g->a->min_length);
        if (!g->held)
            return false; /* no memory to wait: decide now */
    }
    memcpy(g->held + g->nheld, p, n);
    g->nheld += n;
    return true;
}

static ssize_t gzw_write(goc_http_response_writer *w, const void *p, size_t n)
{
    gzw *g = (gzw *)w;
    if (g->mode == HIJACKED)
        return GOC_EHTTP_HIJACKED;
    if (w->status == 0)
        w->status = 200;
    if (g->mode == UNDECIDED && n == 0)
        return 0;
    if (g->mode == UNDECIDED && status_compressible(w->status) && hold(g, p, n)) {
        w->written += (int64_t)n;
        return (ssize_t)n;
    }
    if (g->mode == UNDECIDED) {
        int rc = decide(g, p, n, false);
        if (rc < 0)
            return rc;
    }
    ssize_t r = emit(g, p, n);
    if (r > 0)
        w->written += r;
    return r;
}

static int gzw_flush(goc_http_response_writer *w)
{
    gzw *g = (gzw *)w;
    if (g->mode == HIJACKED)
        return GOC_EHTTP_HIJACKED;
    int rc = g->mode == UNDECIDED ? decide(g, NULL, 0, false) : g->err;
    if (rc == 0 && g->mode == GZIP && g->zo)
        rc = zrun(g, Z_SYNC_FLUSH);
    if (rc < 0)
        return rc;
    give_back(g);
    return goc_http_flush(g->out);
}

/* Compressed, or undecided, the file is read and written as body; plain,
 * it goes to the real writer's sendfile. */
static ssize_t gzw_sendfile(goc_http_response_writer *w, int fd, off_t off, size_t count)
{
    gzw *g = (gzw *)w;
    if (g->mode == UNDECIDED && settled(g) && !needs_sniff(g)) {
        if (w->status == 0)
            w->status = 200;
        int rc = decide(g, NULL, 0, false);
        if (rc < 0)
            return rc;
    }
    if (g->mode == GZIP && g->head) {
        w->written += (int64_t)count; /* the GET's bytes, compressed into nothing */
        return (ssize_t)count;
    }
    size_t done = 0;
    char buf[16384];
    while (done < count && g->mode != PLAIN) {
        size_t k = count - done < sizeof buf ? count - done : sizeof buf;
        ssize_t r = goc__http_pread_cached(fd, buf, k, off + (off_t)done);
        if (r <= 0)
            return r < 0 ? r : (ssize_t)done;
        ssize_t wr = gzw_write(w, buf, (size_t)r);
        if (wr < 0)
            return wr;
        done += (size_t)r;
    }
    if (done == count)
        return (ssize_t)done;
    give_back(g);
    ssize_t r = goc_http_sendfile(g->out, fd, off + (off_t)done, count - done);
    if (r < 0)
        return r;
    w->written += r;
    return (ssize_t)done + r;
}

static int gzw_hijack(goc_http_response_writer *w, int *fd, char **buffered, size_t *nbuf)
{
    gzw *g = (gzw *)w;
    give_back(g);
    int rc = goc_http_hijack(g->out, fd, buffered, nbuf);
    if (rc == 0)
        g->mode = HIJACKED;
    return rc;
}

static void gzw_abort(goc_http_response_writer *w)
{
    gzw *g = (gzw *)w;
    g->err = -ECONNABORTED; /* finish writes no gzip trailer */
    goc_http_abort(g->out);
}

static const goc__http_rw_ops gzw_ops = {
    .write_header = gzw_write_header,
    .write = gzw_write,
    .flush = gzw_flush,
    .sendfile = gzw_sendfile,
    .hijack = gzw_hijack,
    .abort = gzw_abort,
};

/* ---- the wrapper --------------------------------------------------------------- */

/* The handler returned: decide if it never wrote, end the stream, give
 * the compressor and the header maps back. */
static void finish(gzw *g)
{
    if (g->mode == UNDECIDED)
        decide(g, NULL, 0, true);
    if (g->mode == GZIP && g->zo && !g->err)
        zrun(g, Z_FINISH);
    if (g->zo)
        goc_pool_put(g->a->pool, g->zo);
    g->zo = NULL;
    if (g->mode != HIJACKED)
        give_back(g);
}

/* Whether r's Accept-Encoding lines, taken together, let us send gzip. */
static bool accepts_gzip(goc_http_request *r)
{
    const char *v[8];
    size_t n = goc_http_header_values(r->header, "Accept-Encoding", v, 8);
    if (n <= 1)
        return goc__http_accepts_gzip(n ? v[0] : NULL);
    if (n > 8)
        n = 8;
    size_t len = 0;
    for (size_t i = 0; i < n; i++)
        len += strlen(v[i]) + 1;
    char *all = goc__http_alloc(r, len);
    if (!all)
        return false;
    char *o = all;
    for (size_t i = 0; i < n; i++) {
        size_t k = strlen(v[i]);
        memcpy(o, v[i], k);
        o[k] = i + 1 < n ? ',' : '\0';
        o += k + 1;
    }
    return goc__http_accepts_gzip(all);
}

static void gzip_serve(goc_http_response_writer *w, goc_http_request *r, void *arg)
{
    const gzip_arg *a = arg;
    gzw g;
    memset(&g, 0, sizeof g);
    goc__http_rw_init(&g.w, r, &gzw_ops);
    g.w.header = w->header; /* moved: see give_back */
    g.w.trailer = w->trailer;
    g.out = w;
    g.r = r;
    g.a = a;
    g.mode = UNDECIDED;
    g.allowed = accepts_gzip(r) && !goc_http_header_get(r->header, "Range");
    g.head = strcmp(r->method, "HEAD") == 0;
    goc_http_serve_http(a->next, &g.w, r);
    finish(&g);
}

/* A copy of the NULL-terminated list types, in one block; NULL on ENOMEM. */
static const char *const *copy_types(const char *const *types)
{
    size_t n = 0, bytes = 0;
    for (; types[n]; n++)
        bytes += strlen(types[n]) + 1;
    char **v = malloc((n + 1) * sizeof *v + bytes);
    if (!v)
        return NULL;
    char *s = (char *)(v + n + 1);
    for (size_t i = 0; i < n; i++) {
        size_t k = strlen(types[i]) + 1;
        v[i] = memcpy(s, types[i], k);
        s += k;
    }
    v[n] = NULL;
    return (const char *const *)v;
}

goc_http_handler goc_http_gzip_handler(goc_http_handler h, const goc_http_gzip_opts *opts)
{
    goc_http_gzip_opts o = opts ? *opts : (goc_http_gzip_opts){0};
    gzip_arg *a = malloc(sizeof *a);
    if (!a)
        return (goc_http_handler){NULL, NULL};
    a->next = h;
    a->level = o.level <= 0 ? DEFAULT_LEVEL : o.level > 9 ? 9 : o.level;
    a->min_length = o.min_length ? o.min_length : DEFAULT_MIN;
    a->types = o.types ? copy_types(o.types) : default_types;
    a->pool = goc_pool_new(zobj_new, zobj_free, a);
    if (!a->types || !a->pool) {
        if (a->types != default_types)
            free((void *)a->types);
        goc_pool_free(a->pool);
        free(a);
        return (goc_http_handler){NULL, NULL};
    }
    return (goc_http_handler){gzip_serve, a};
}
