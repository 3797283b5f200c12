/*
 * test_gzip.c — gzip for HTTP.
 *
 * The middleware behind a real server, with raw requests: Accept-Encoding
 * negotiation (q-values, "*", identity, none), Vary, small bodies and
 * types not listed left alone, a handler's own Content-Encoding passed
 * through, HEAD, 304, 206 and Range requests, Content-Length dropped and
 * the ETag made weak, no-transform, streaming (each flushed part decodable
 * as it arrives), bodies of several MiB written in odd sizes and by
 * sendfile, and real peers (curl --compressed, Python's http.client and
 * gzip) decoding it byte for byte.
 *
 * The decoder (src/http/gunzip.c): round trips against zlib and the gzip
 * command, multi-member streams, truncation at every byte, corrupt
 * headers, checksums and data, trailing garbage, src errors, errors kept
 * after the bytes before them, and a bomb read in small buffers in
 * bounded memory.
 */
#include <fcntl.h>
#include <malloc.h>
#include <stdatomic.h>

#include <criterion/criterion.h>
#include <zlib.h>

#include "../../src/http/gunzip.h"
#include "http/serverutil.h"

/* ---- data and codecs --------------------------------------------------------- */

/* n bytes of text-like data (words from a fixed list, LCG-chosen):
 * compressible, but not trivially. */
static void gen_text(char *p, size_t n, uint32_t seed)
{
    static const char *words[] = {"goroutine ", "channel ", "select ", "mutex ",     "deflate ",
                                  "window ",    "header\n", "chunk ",  "{\"a\":1} ", "<p>x</p> "};
    size_t i = 0;
    while (i < n) {
        seed = seed * 1103515245u + 12345u;
        const char *w = words[(seed >> 16) % 10];
        for (; *w && i < n; w++)
            p[i++] = *w;
    }
}

static char *text(size_t n, uint32_t seed)
{
    char *p = malloc(n + 1);
    gen_text(p, n, seed);
    p[n] = 0;
    return p;
}

/* gzip of p[0, n) by zlib (one member): malloc'ed, its length in *outn. */
static unsigned char *zgzip(const void *p, size_t n, int level, size_t *outn)
{
    z_stream z = {0};
    deflateInit2(&z, level, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY);
    size_t cap = deflateBound(&z, n) + 64;
    unsigned char *out = malloc(cap);
    z.next_in = (Bytef *)p;
    z.avail_in = (uInt)n;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    int rc = deflate(&z, Z_FINISH);
    cr_assert_eq(rc, Z_STREAM_END);
    *outn = cap - z.avail_out;
    deflateEnd(&z);
    return out;
}

/* zlib's own decoding of a gzip stream (all members), for a cross-check:
 * the length, or -1. */
static ssize_t zgunzip(const void *p, size_t n, char *out, size_t cap)
{
    z_stream z = {0};
    inflateInit2(&z, 31);
    z.next_in = (Bytef *)p;
    z.avail_in = (uInt)n;
    z.next_out = (Bytef *)out;
    z.avail_out = (uInt)cap;
    int rc;
    while ((rc = inflate(&z, Z_NO_FLUSH)) == Z_STREAM_END && z.avail_in > 0)
        inflateReset(&z);
    ssize_t got = rc == Z_STREAM_END ? (ssize_t)(cap - z.avail_out) : -1;
    inflateEnd(&z);
    return got;
}

/* A src over memory handing out at most step bytes a call. */
typedef struct memsrc {
    const unsigned char *p;
    size_t n, pos, step;
    int fail_at_end; /* nonzero: returned at the end instead of 0 */
} memsrc;

static ssize_t memsrc_read(void *arg, void *buf, size_t n)
{
    memsrc *m = arg;
    size_t k = m->n - m->pos;
    if (k == 0)
        return m->fail_at_end ? m->fail_at_end : 0;
    if (k > m->step)
        k = m->step;
    if (k > n)
        k = n;
    memcpy(buf, m->p + m->pos, k);
    m->pos += k;
    return (ssize_t)k;
}

/* Decode p[0, n) with goc__gunzip, src steps of step bytes and reads of
 * rd bytes, into *out (malloc'ed): the length, or the error. */
static ssize_t gunzip_all(const void *p, size_t n, size_t step, size_t rd, char **out)
{
    memsrc m = {p, n, 0, step, 0};
    goc__gunzip *g = goc__gunzip_new(memsrc_read, &m);
    cr_assert(g);
    size_t cap = 1 << 16, len = 0;
    char *o = malloc(cap);
    ssize_t r;
    for (;;) {
        if (cap - len < rd)
            o = realloc(o, cap = cap * 2 + rd);
        r = goc__gunzip_read(g, o + len, rd);
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    if (r < 0) {
        ssize_t again = goc__gunzip_read(g, o, rd); /* errors are sticky */
        cr_assert_eq(again, r, "error %zd, then %zd", r, again);
    }
    goc__gunzip_free(g);
    *out = o;
    return r < 0 ? r : (ssize_t)len;
}

/* ---- the decoder ---------------------------------------------------------------- */

Test(gunzip, round_trip_zlib, .timeout = 60)
{
    static const size_t sizes[] = {0, 1, 100, 4096, 70000, 1 << 20};
    static const size_t steps[] = {1, 3, 16384, SIZE_MAX};
    static const size_t rds[] = {1, 7, 4096, 1 << 20};
    for (size_t si = 0; si < 6; si++) {
        char *t = text(sizes[si], (uint32_t)si);
        size_t zn;
        unsigned char *z = zgzip(t, sizes[si], 6, &zn);
        for (size_t a = 0; a < 4; a++)
            for (size_t b = 0; b < 4; b++) {
                if (sizes[si] >= 70000 && (steps[a] == 1 || rds[b] == 1))
                    continue; /* byte at a time over MiBs: slow, nothing new */
                char *o;
                ssize_t r = gunzip_all(z, zn, steps[a], rds[b], &o);
                cr_assert_eq(r, (ssize_t)sizes[si], "size %zu step %zu rd %zu: %zd (%s)", sizes[si],
                             steps[a], rds[b], r, goc_errmsg());
                cr_assert(memcmp(o, t, sizes[si]) == 0);
                free(o);
            }
        free(z);
        free(t);
    }
}

static void run_cmd_fn(void *arg)
{
    const char **cmd = arg;
    int rc = system(cmd[0]);
    cmd[1] = rc == 0 ? "ok" : "failed";
}

/* Run a shell command (off the scheduler's threads inside goc_run). */
static bool run_cmd(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static bool run_cmd(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    const char *c[2] = {cmd, NULL};
    goc_blocking(run_cmd_fn, c);
    return c[1] && strcmp(c[1], "ok") == 0;
}

static char tmpdir[64];

static void make_tmpdir(void)
{
    strcpy(tmpdir, "/tmp/goc-gzip.XXXXXX");
    cr_assert(mkdtemp(tmpdir));
}

static void remove_tmpdir(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    cr_assert_eq(system(cmd), 0);
}

static void write_file(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    cr_assert(f, "%s", path);
    cr_assert_eq(fwrite(p, 1, n, f), n);
    fclose(f);
}

static char *read_file(const char *path, size_t *n)
{
    char *p = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    p = malloc((size_t)len + 1);
    *n = fread(p, 1, (size_t)len, f);
    fclose(f);
    return p;
}

Test(gunzip, gzip_command_and_members, .timeout = 60)
{
    make_tmpdir();
    char path[128], cmd_out[128];
    size_t n = 300000;
    char *t = text(n, 7);
    snprintf(path, sizeof path, "%s/t.txt", tmpdir);
    write_file(path, t, n);
    /* Three members by the gzip command (-9, -1, a file name in the
     * header), then zlib's, concatenated. */
    snprintf(cmd_out, sizeof cmd_out, "%s/t.gz", tmpdir);
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "gzip -9 -c '%s' > '%s' && gzip -1 -c '%s' >> '%s' && gzip -c < /dev/null >> '%s'",
             path, cmd_out, path, cmd_out, cmd_out);
    cr_assert_eq(system(cmd), 0);
    size_t gn = 0;
    char *gz = read_file(cmd_out, &gn);
    cr_assert(gz);
    size_t zn;
    unsigned char *z = zgzip("tail", 4, 9, &zn);
    gz = realloc(gz, gn + zn);
    memcpy(gz + gn, z, zn);
    gn += zn;

    char *o;
    ssize_t r = gunzip_all(gz, gn, 1000, 5000, &o);
    cr_assert_eq(r, (ssize_t)(2 * n + 4), "%zd: %s", r, goc_errmsg());
    cr_assert(memcmp(o, t, n) == 0 && memcmp(o + n, t, n) == 0 &&
              memcmp(o + 2 * n, "tail", 4) == 0);
    free(o);
    free(gz);
    free(z);
    free(t);
    remove_tmpdir();
}

/* The error text the last failed read left. */
static bool errmsg_is(const char *want)
{
    return strcmp(goc_errmsg(), want) == 0;
}

Test(gunzip, truncated_at_every_byte, .timeout = 60)
{
    char *t = text(300, 1);
    size_t zn;
    unsigned char *z = zgzip(t, 300, 6, &zn);
    /* Two members: a cut at the boundary between them is a whole stream
     * (as Go reads it), any other cut is an error. */
    unsigned char *two = malloc(2 * zn);
    memcpy(two, z, zn);
    memcpy(two + zn, z, zn);
    for (size_t k = 0; k < 2 * zn; k++) {
        for (size_t step = 1; step <= 4096; step *= 4096) {
            char *o;
            ssize_t r = gunzip_all(two, k, step, 64, &o);
            if (k == 0 || k == zn)
                cr_assert_eq(r, k == 0 ? 0 : 300, "cut at %zu: %zd", k, r);
            else
                cr_assert(r == GOC_EHTTP_UNEXPECTED_EOF && errmsg_is("unexpected EOF"),
                          "cut at %zu of %zu (step %zu): %zd (%s)", k, 2 * zn, step, r,
                          goc_errmsg());
            free(o);
        }
    }
    free(two);
    free(z);
    free(t);
}

/* Decode p[0, n) and expect err with text msg. */
static void expect_error(const void *p, size_t n, int err, const char *msg, const char *what)
{
    char *o;
    ssize_t r = gunzip_all(p, n, 16384, 1 << 16, &o);
    cr_assert(r == err && (!msg || errmsg_is(msg)), "%s: %zd (%s), want %d (%s)", what, r,
              goc_errmsg(), err, msg ? msg : "");
    free(o);
}

Test(gunzip, corrupt_input, .timeout = 30)
{
    char *t = text(5000, 2);
    size_t zn;
    unsigned char *z = zgzip(t, 5000, 6, &zn);
    unsigned char *c = malloc(zn + 64);

    memcpy(c, z, zn);
    c[zn - 6] ^= 1; /* the CRC-32 */
    expect_error(c, zn, GOC_EHTTP_MALFORMED, "gzip: invalid checksum", "crc");
    memcpy(c, z, zn);
    c[zn - 2] ^= 1; /* ISIZE */
    expect_error(c, zn, GOC_EHTTP_MALFORMED, "gzip: invalid checksum", "isize");
    memcpy(c, z, zn);
    c[0] = 0x1e; /* the magic */
    expect_error(c, zn, GOC_EHTTP_MALFORMED, "gzip: invalid header", "magic");
    memcpy(c, z, zn);
    c[2] = 7; /* the method */
    expect_error(c, zn, GOC_EHTTP_MALFORMED, "gzip: invalid header", "method");
    memcpy(c, z, zn);
    c[3] = 0xe0; /* reserved flags */
    expect_error(c, zn, GOC_EHTTP_MALFORMED, "gzip: invalid header", "flags");
    memcpy(c, z, zn);
    c[10] = 0xff; /* a reserved block type in the first deflate byte */
    expect_error(c, zn, GOC_EHTTP_MALFORMED, "flate: corrupt input", "deflate");
    /* Bit flips anywhere in the data: an error, never a silent success. */
    for (size_t i = 10; i < zn - 8; i += 7) {
        memcpy(c, z, zn);
        c[i] ^= 0x10;
        char *o;
        ssize_t r = gunzip_all(c, zn, 16384, 1 << 16, &o);
        cr_assert(r == GOC_EHTTP_MALFORMED || (r == 5000 && memcmp(o, t, 5000) == 0),
                  "flip at %zu: %zd", i, r);
        free(o);
    }
    /* After a member: garbage (Go: invalid header), a lone byte (Go:
     * unexpected EOF), zeros. */
    memcpy(c, z, zn);
    memcpy(c + zn, "garbage after the member", 24);
    expect_error(c, zn + 24, GOC_EHTTP_MALFORMED, "gzip: invalid header", "garbage");
    c[zn] = 0x1f;
    expect_error(c, zn + 1, GOC_EHTTP_UNEXPECTED_EOF, "unexpected EOF", "one byte");
    memset(c + zn, 0, 16);
    expect_error(c, zn + 16, GOC_EHTTP_MALFORMED, "gzip: invalid header", "zeros");
    /* Not gzip at all (zlib format, plain text). */
    expect_error("x\x9c\x03\x00\x00\x00\x00\x01", 8, GOC_EHTTP_MALFORMED, "gzip: invalid header",
                 "zlib");
    expect_error("hello, world", 12, GOC_EHTTP_MALFORMED, "gzip: invalid header", "text");
    free(c);
    free(z);
    free(t);
}

Test(gunzip, bytes_before_errors_and_src_errors, .timeout = 30)
{
    char *t = text(100000, 3);
    size_t zn;
    unsigned char *z = zgzip(t, 100000, 6, &zn);
    /* src fails after the whole member but before its end was seen: the
     * decoded bytes first, then src's error, again and again. */
    memsrc m = {z, zn - 4, 0, 1000, -ECONNRESET};
    goc__gunzip *g = goc__gunzip_new(memsrc_read, &m);
    char *o = malloc(100016);
    size_t len = 0;
    ssize_t r;
    while ((r = goc__gunzip_read(g, o + len, 100016 - len)) > 0)
        len += (size_t)r;
    cr_assert_eq(r, -ECONNRESET);
    cr_assert_eq(len, 100000, "%zu decoded before the error", len);
    cr_assert(memcmp(o, t, len) == 0);
    cr_assert_eq(goc__gunzip_read(g, o, 10), -ECONNRESET);
    goc__gunzip_free(g);

    /* Truncated in the data: what was decodable comes out, then the error. */
    memsrc m2 = {z, zn / 2, 0, 16384, 0};
    g = goc__gunzip_new(memsrc_read, &m2);
    len = 0;
    while ((r = goc__gunzip_read(g, o + len, 100000 - len)) > 0)
        len += (size_t)r;
    cr_assert(r == GOC_EHTTP_UNEXPECTED_EOF && errmsg_is("unexpected EOF"), "%zd", r);
    cr_assert(len > 0 && len < 100000 && memcmp(o, t, len) == 0, "%zu", len);
    goc__gunzip_free(g);
    free(o);
    free(z);
    free(t);
}

/* A src that is a gzip bomb made on the fly: total zero bytes deflated at
 * level 9 (~1000:1), never held whole. */
typedef struct bombsrc {
    z_stream z;
    size_t left; /* zeros still to feed */
    bool done;
    size_t in_total;
} bombsrc;

static ssize_t bomb_read(void *arg, void *buf, size_t n)
{
    static const unsigned char zeros[65536];
    bombsrc *b = arg;
    if (b->done)
        return 0;
    b->z.next_out = buf;
    b->z.avail_out = (uInt)n;
    while (b->z.avail_out > 0 && !b->done) {
        size_t k = b->left < sizeof zeros ? b->left : sizeof zeros;
        b->z.next_in = (Bytef *)zeros;
        b->z.avail_in = (uInt)k;
        int rc = deflate(&b->z, k < b->left ? Z_NO_FLUSH : Z_FINISH);
        b->left -= k - b->z.avail_in;
        b->done = rc == Z_STREAM_END;
    }
    b->in_total += n - b->z.avail_out;
    return (ssize_t)(n - b->z.avail_out);
}

static size_t heap_in_use(void)
{
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}

Test(gunzip, bomb_in_bounded_memory, .timeout = 60)
{
    bombsrc b = {.left = (size_t)64 << 20};
    deflateInit2(&b.z, 9, Z_DEFLATED, 31, 9, Z_DEFAULT_STRATEGY);
    goc__gunzip *g = goc__gunzip_new(bomb_read, &b);
    char buf[4096];
    ssize_t first = goc__gunzip_read(g, buf, sizeof buf);
    cr_assert_gt(first, 0);
    size_t base = heap_in_use(), peak = base, total = (size_t)first;
    ssize_t r;
    for (;;) {
        r = goc__gunzip_read(g, buf, sizeof buf);
        if (r <= 0)
            break;
        for (ssize_t i = 0; i < r; i += 512)
            cr_assert_eq(buf[i], 0);
        total += (size_t)r;
        if ((total & 0xfffff) < (size_t)r) { /* about once a MiB */
            size_t now = heap_in_use();
            peak = now > peak ? now : peak;
        }
    }
    cr_assert_eq(r, 0, "%zd (%s)", r, goc_errmsg());
    cr_assert_eq(total, (size_t)64 << 20, "total %zu", total);
    cr_assert_lt(peak - base, 64 * 1024, "the heap grew by %zu bytes", peak - base);
    cr_assert_lt(b.in_total, (size_t)1 << 20, "%zu compressed bytes", b.in_total);
    goc__gunzip_free(g);
    deflateEnd(&b.z);
}

/* ---- the middleware: a server ---------------------------------------------------- */

static goc_chan *stream_step; /* the stream handler waits on it between parts */
static char file_path[128];
static size_t file_len;

static long qnum(goc_http_request *r, const char *name, long def)
{
    const char *v = goc_http_query_get(r, name);
    return v && *v ? strtol(v, NULL, 10) : def;
}

/* Write body p[0, n) in writes of w bytes (w <= 0: one write). */
static void write_in(goc_http_response_writer *w, const char *p, size_t n, long step)
{
    size_t s = step > 0 ? (size_t)step : n;
    for (size_t i = 0; i < n; i += s) {
        size_t k = n - i < s ? n - i : s;
        GO_CHECK(goc_http_write(w, p + i, k) == (ssize_t)k, "write of %zu", k);
    }
}

static void stream_parts(goc_http_response_writer *w)
{
    goc_http_header_set(goc_http_response_header(w), "Content-Type", "text/event-stream");
    for (int i = 0; i < 5; i++) {
        goc_http_printf(w, "data: part %d\n\n", i);
        GO_CHECK(goc_http_flush(w) == 0, "flush");
        if (goc_chan_recv(stream_step, NULL) < 0)
            return;
    }
}

static void app(goc_http_response_writer *w, goc_http_request *r, void *arg)
{
    (void)arg;
    goc_http_header *h = goc_http_response_header(w);
    size_t n = (size_t)qnum(r, "n", 4096);
    char *body = text(n, (uint32_t)qnum(r, "seed", 0));
    const char *p = r->path;
    if (strcmp(p, "/text") == 0) {
        goc_http_header_set(h, "Content-Type", "text/plain; charset=utf-8");
        write_in(w, body, n, qnum(r, "w", 0));
    } else if (strcmp(p, "/sniff") == 0) { /* no Content-Type: sniffed as HTML */
        memcpy(body, "<html>", 6);
        write_in(w, body, n, qnum(r, "w", 0));
    } else if (strcmp(p, "/png") == 0) {
        goc_http_header_set(h, "Content-Type", "image/png");
        write_in(w, body, n, 0);
    } else if (strcmp(p, "/encoded") == 0) {
        goc_http_header_set(h, "Content-Type", "text/plain");
        goc_http_header_set(h, "Content-Encoding", "gzip");
        write_in(w, body, n, 0); /* the handler's own bytes, as they are */
    } else if (strcmp(p, "/cl") == 0) {
        char v[32];
        snprintf(v, sizeof v, "%zu", n);
        goc_http_header_set(h, "Content-Type", "application/json");
        goc_http_header_set(h, "Content-Length", v);
        goc_http_header_set(h, "ETag", "\"abc\"");
        goc_http_header_set(h, "Accept-Ranges", "bytes");
        goc_http_header_set(h, "Vary", "Origin");
        if (strcmp(r->method, "HEAD") != 0)
            write_in(w, body, n, 1000);
    } else if (strcmp(p, "/304") == 0) {
        goc_http_header_set(h, "ETag", "\"abc\"");
        goc_http_write_header(w, 304);
    } else if (strcmp(p, "/206") == 0) {
        goc_http_header_set(h, "Content-Type", "text/plain");
        goc_http_header_set(h, "Content-Range", "bytes 0-4095/10000");
        goc_http_write_header(w, 206);
        write_in(w, body, n, 0);
    } else if (strcmp(p, "/notransform") == 0) {
        goc_http_header_set(h, "Content-Type", "text/plain");
        goc_http_header_set(h, "Cache-Control", "no-transform");
        write_in(w, body, n, 0);
    } else if (strcmp(p, "/stream") == 0) {
        stream_parts(w);
    } else if (strcmp(p, "/file") == 0) {
        int fd = open(file_path, O_RDONLY);
        char v[32];
        snprintf(v, sizeof v, "%zu", file_len);
        goc_http_header_set(h, "Content-Type", qnum(r, "png", 0) ? "image/png" : "text/css");
        goc_http_header_set(h, "Content-Length", v);
        GO_CHECK(goc_http_sendfile(w, fd, 0, file_len) == (ssize_t)file_len, "sendfile");
        close(fd);
    } else if (strcmp(p, "/empty") == 0) {
        goc_http_header_set(h, "Content-Type", "text/plain");
    }
    free(body);
}

/* The wrapper under test: it lives as long as the program (as a handler
 * held by a mux), so a static keeps it reachable for LeakSanitizer. */
static goc_http_handler gz_app;

/* The response's field name, or "" if absent. */
static const char *field(const test_resp *r, const char *name)
{
    static char v[512];
    return test_field(r, name, v, sizeof v) ? v : "";
}

static bool has_field(const test_resp *r, const char *name)
{
    char v[8];
    return test_field(r, name, v, sizeof v) != NULL;
}

/* GET path with extra header lines into rep (its previous body freed). */
static void get(test_server *t, const char *method, const char *path, const char *extra,
                test_resp *rep)
{
    char req[1024];
    snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: x\r\n%sConnection: close\r\n\r\n", method,
             path, extra);
    test_resp_free(rep);
    GO_CHECK(test_roundtrip(t, req, rep), "%s %s", method, path);
}

/* Whether rep is gzip whose decoding is want[0, n) (cross-checked with
 * zlib's own decoder). */
static bool gunzips_to(const test_resp *rep, const char *want, size_t n)
{
    if (strcmp(field(rep, "Content-Encoding"), "gzip") != 0)
        return false;
    char *o;
    ssize_t r = gunzip_all(rep->body, rep->body_len, 1500, 8192, &o);
    bool ok = r == (ssize_t)n && memcmp(o, want, n) == 0;
    free(o);
    char *o2 = malloc(n + 1);
    ok = ok && zgunzip(rep->body, rep->body_len, o2, n + 1) == (ssize_t)n &&
         memcmp(o2, want, n) == 0;
    free(o2);
    return ok;
}

static bool vary_ae(const test_resp *rep)
{
    return strcasestr(rep->head, "\r\nVary: Accept-Encoding\r\n") != NULL;
}

static const struct {
    const char *ae; /* NULL: no Accept-Encoding */
    bool gzip;
} negotiation[] = {
    {NULL, false},
    {"gzip", true},
    {"GZIP", true},
    {"x-gzip", true},
    {"gzip, deflate, br", true},
    {"br;q=1.0, gzip;q=0.001", true},
    {"gzip;q=0", false},
    {"gzip;q=0.000", false},
    {"gzip; q=0.5", true},
    {"identity", false},
    {"", false},
    {"*", true},
    {"*;q=0", false},
    {"gzip;q=0, *", false},
    {"deflate, *;q=0.1", true},
    {"identity;q=1, *;q=0", false},
    {"br", false},
};

static int negotiation_main(void *arg)
{
    (void)arg;
    test_server t;
    gz_app = goc_http_gzip_handler((goc_http_handler){app, NULL}, NULL);
    if (!test_server_start(&t, gz_app, NULL))
        return 1;
    test_resp rep = {0};
    char *want = text(4096, 0);
    for (size_t i = 0; i < sizeof negotiation / sizeof negotiation[0]; i++) {
        char extra[128] = "";
        if (negotiation[i].ae)
            snprintf(extra, sizeof extra, "Accept-Encoding: %s\r\n", negotiation[i].ae);
        get(&t, "GET", "/text", extra, &rep);
        const char *ae = negotiation[i].ae ? negotiation[i].ae : "(none)";
        GO_CHECK(rep.status == 200, "%s: %d", ae, rep.status);
        GO_CHECK(vary_ae(&rep), "%s: no Vary: %s", ae, rep.head);
        if (negotiation[i].gzip)
            GO_CHECK(gunzips_to(&rep, want, 4096), "%s: not gzip of the body: %s", ae, rep.head);
        else
            GO_CHECK(!has_field(&rep, "Content-Encoding") && test_body_is(&rep, want),
                     "%s: not the plain body: %s", ae, rep.head);
    }
    /* Several Accept-Encoding lines count together. */
    get(&t, "GET", "/text", "Accept-Encoding: br\r\nAccept-Encoding: gzip\r\n", &rep);
    GO_CHECK(gunzips_to(&rep, want, 4096), "two lines: %s", rep.head);
    free(want);
    test_resp_free(&rep);
    test_server_stop(&t);
    return 0;
}

Test(gzip, negotiation, .timeout = 30)
{
    cr_assert_eq(run_main(negotiation_main, NULL), 0);
}

#define GZ "Accept-Encoding: gzip\r\n"

static int cases_main(void *arg)
{
    (void)arg;
    test_server t;
    gz_app = goc_http_gzip_handler((goc_http_handler){app, NULL}, NULL);
    if (!test_server_start(&t, gz_app, NULL))
        return 1;
    test_resp rep = {0};
    char *want = text(4096, 0);

    /* Small bodies go out as they are (Vary all the same); the limit. */
    get(&t, "GET", "/text?n=1023", GZ, &rep);
    GO_CHECK(!has_field(&rep, "Content-Encoding") && vary_ae(&rep) &&
                 strcmp(field(&rep, "Content-Length"), "1023") == 0 && rep.body_len == 1023,
             "small: %s", rep.head);
    get(&t, "GET", "/text?n=1024&w=100", GZ, &rep);
    GO_CHECK(gunzips_to(&rep, want, 1024), "1024 in writes of 100: %s", rep.head);
    get(&t, "GET", "/text?n=1023&w=1", GZ, &rep);
    GO_CHECK(!has_field(&rep, "Content-Encoding") && rep.body_len == 1023, "1023 byte by byte");
    get(&t, "GET", "/empty", GZ, &rep);
    GO_CHECK(rep.status == 200 && !has_field(&rep, "Content-Encoding") && rep.body_len == 0,
             "empty: %s", rep.head);

    /* Sniffed type: compressed, and the Content-Type is the body's. */
    get(&t, "GET", "/sniff?n=4096&w=10", GZ, &rep);
    memcpy(want, "<html>", 6);
    GO_CHECK(gunzips_to(&rep, want, 4096) &&
                 strcmp(field(&rep, "Content-Type"), "text/html; charset=utf-8") == 0,
             "sniffed: %s", rep.head);
    gen_text(want, 4096, 0);

    /* A type not listed: untouched, no Vary. */
    get(&t, "GET", "/png", GZ, &rep);
    GO_CHECK(!has_field(&rep, "Content-Encoding") && !has_field(&rep, "Vary") &&
                 test_body_is(&rep, want),
             "png: %s", rep.head);

    /* The handler's own encoding passes through, byte for byte. */
    get(&t, "GET", "/encoded", GZ, &rep);
    GO_CHECK(strcmp(field(&rep, "Content-Encoding"), "gzip") == 0 && test_body_is(&rep, want),
             "encoded: %s", rep.head);

    /* Content-Length dropped, ETag weak, Accept-Ranges gone, Vary added to
     * the handler's. */
    get(&t, "GET", "/cl", GZ, &rep);
    GO_CHECK(gunzips_to(&rep, want, 4096) && strcmp(field(&rep, "Content-Length"), "4096") != 0 &&
                 !has_field(&rep, "Accept-Ranges") &&
                 strcmp(field(&rep, "ETag"), "W/\"abc\"") == 0 &&
                 strstr(rep.head, "\r\nVary: Origin\r\n") && vary_ae(&rep),
             "cl: %s", rep.head);
    get(&t, "GET", "/cl", "", &rep);
    GO_CHECK(test_body_is(&rep, want) && strcmp(field(&rep, "Content-Length"), "4096") == 0 &&
                 strcmp(field(&rep, "ETag"), "\"abc\"") == 0 && vary_ae(&rep),
             "cl, no gzip: %s", rep.head);
    get(&t, "GET", "/cl?n=500", GZ, &rep);
    GO_CHECK(!has_field(&rep, "Content-Encoding") &&
                 strcmp(field(&rep, "Content-Length"), "500") == 0,
             "short cl: %s", rep.head);

    /* HEAD: the GET's fields, no body, no length. */
    get(&t, "HEAD", "/cl", GZ, &rep);
    GO_CHECK(rep.status == 200 && rep.body_len == 0 &&
                 strcmp(field(&rep, "Content-Encoding"), "gzip") == 0 && vary_ae(&rep) &&
                 !has_field(&rep, "Content-Length") &&
                 strcmp(field(&rep, "ETag"), "W/\"abc\"") == 0,
             "HEAD: %s", rep.head);
    get(&t, "HEAD", "/text", GZ, &rep);
    GO_CHECK(rep.status == 200 && rep.body_len == 0 &&
                 strcmp(field(&rep, "Content-Encoding"), "gzip") == 0,
             "HEAD text: %s", rep.head);

    /* 304, 206, a Range request, no-transform: as they are. */
    get(&t, "GET", "/304", GZ, &rep);
    GO_CHECK(rep.status == 304 && !has_field(&rep, "Content-Encoding") &&
                 strcmp(field(&rep, "ETag"), "\"abc\"") == 0,
             "304: %s", rep.head);
    get(&t, "GET", "/206", GZ, &rep);
    GO_CHECK(rep.status == 206 && !has_field(&rep, "Content-Encoding") && test_body_is(&rep, want),
             "206: %s", rep.head);
    get(&t, "GET", "/text", GZ "Range: bytes=0-10\r\n", &rep);
    GO_CHECK(!has_field(&rep, "Content-Encoding") && test_body_is(&rep, want) && vary_ae(&rep),
             "range: %s", rep.head);
    get(&t, "GET", "/notransform", GZ, &rep);
    GO_CHECK(!has_field(&rep, "Content-Encoding") && test_body_is(&rep, want), "no-transform: %s",
             rep.head);

    free(want);
    test_resp_free(&rep);
    test_server_stop(&t);
    return 0;
}

Test(gzip, what_is_compressed, .timeout = 30)
{
    cr_assert_eq(run_main(cases_main, NULL), 0);
}

/* ---- streaming ------------------------------------------------------------------- */

/* A src over a chunked response body on c: each chunk's data is kept
 * in pend and handed out from there. */
typedef struct chunksrc {
    test_conn *c;
    goc__hchunked ck;
    char pend[1 << 16];
    size_t plen, ppos;
} chunksrc;

static ssize_t chunk_read(void *arg, void *buf, size_t n)
{
    chunksrc *s = arg;
    while (s->ppos == s->plen) {
        size_t used = 0;
        goc__hspan d;
        int rc = goc__http_chunked(&s->ck, s->c->buf, s->c->len, &used, &d, NULL);
        if (rc == GOC__HCHUNK_END)
            return 0;
        if (rc < 0)
            return -EBADMSG;
        if (rc == GOC__HCHUNK_DATA) {
            memcpy(s->pend, s->c->buf + d.off, d.len);
            s->plen = d.len;
            s->ppos = 0;
        }
        test_conn_drop_(s->c, used);
        if (rc == GOC__HCHUNK_MORE) {
            ssize_t r = test_conn_more_(s->c);
            if (r <= 0)
                return r < 0 ? r : -EPIPE;
        }
    }
    size_t k = s->plen - s->ppos < n ? s->plen - s->ppos : n;
    memcpy(buf, s->pend + s->ppos, k);
    s->ppos += k;
    return (ssize_t)k;
}

static int stream_main(void *arg)
{
    (void)arg;
    test_server t;
    stream_step = goc_chan_make(0, 0);
    gz_app = goc_http_gzip_handler((goc_http_handler){app, NULL}, NULL);
    if (!test_server_start(&t, gz_app, NULL))
        return 1;
    test_conn *c = calloc(1, sizeof *c);
    c->fd = test_dial(&t);
    GO_CHECK(test_send(c->fd, "GET /stream HTTP/1.1\r\nHost: x\r\n" GZ "\r\n"), "send");
    goc__hfield f[32];
    goc__hresp h = {.fields = f, .fields_cap = 32};
    size_t scanned = 0;
    int rc;
    while ((rc = goc__http_parse_response(c->buf, c->len, &scanned, &h, 0, NULL)) == 0)
        if (test_conn_more_(c) <= 0)
            break;
    GO_CHECK(rc > 0 && h.code == 200 && h.body == GOC__HBODY_CHUNKED, "head: %d", rc);
    test_resp head = {0};
    memcpy(head.head, c->buf, rc > 0 ? (size_t)rc : 0);
    GO_CHECK(strcmp(field(&head, "Content-Encoding"), "gzip") == 0 && vary_ae(&head) &&
                 strcmp(field(&head, "Content-Type"), "text/event-stream") == 0,
             "stream head: %s", head.head);
    test_conn_drop_(c, rc > 0 ? (size_t)rc : 0);

    /* Each part decodes while the handler waits for us: nothing of it is
     * held back in the compressor or the connection. */
    chunksrc *s = calloc(1, sizeof *s);
    s->c = c;
    goc__gunzip *g = goc__gunzip_new(chunk_read, s);
    for (int i = 0; i < 5 && !test_failed(); i++) {
        char want[64], got[64];
        int wn = snprintf(want, sizeof want, "data: part %d\n\n", i);
        size_t len = 0;
        while (len < (size_t)wn) {
            ssize_t r = goc__gunzip_read(g, got + len, sizeof got - len);
            GO_CHECK(r > 0, "part %d: %zd (%s)", i, r, goc_errmsg());
            if (r <= 0)
                break;
            len += (size_t)r;
        }
        GO_CHECK(len == (size_t)wn && memcmp(got, want, len) == 0, "part %d: %.*s", i, (int)len,
                 got);
        goc_chan_send(stream_step, NULL);
    }
    char x[16];
    ssize_t end = goc__gunzip_read(g, x, sizeof x);
    GO_CHECK(end == 0, "after the parts: %zd (%s)", end, goc_errmsg());
    goc__gunzip_free(g);
    free(s);
    goc_close(c->fd);
    free(c);
    test_server_stop(&t);
    goc_chan_release(stream_step);
    return 0;
}

Test(gzip, streaming_flushes, .timeout = 30)
{
    cr_assert_eq(run_main(stream_main, NULL), 0);
}

/* ---- large bodies, sendfile, real peers ------------------------------------------- */

#define BIG ((size_t)5 << 20)

static int large_main(void *arg)
{
    (void)arg;
    test_server t;
    goc_http_gzip_opts o = {.level = 6, .min_length = 100};
    gz_app = goc_http_gzip_handler((goc_http_handler){app, NULL}, &o);
    if (!test_server_start(&t, gz_app, NULL))
        return 1;
    test_resp rep = {0};
    char *want = text(BIG, 5);
    static const long steps[] = {0, 1000, 65537, 99};
    for (int i = 0; i < 4; i++) {
        char path[128];
        snprintf(path, sizeof path, "/text?n=%zu&seed=5&w=%ld", BIG, steps[i]);
        get(&t, "GET", path, GZ, &rep);
        GO_CHECK(rep.status == 200 && gunzips_to(&rep, want, BIG), "%s: %s", path, rep.head);
        GO_CHECK(rep.body_len < BIG / 3, "%s: %zu compressed bytes", path, rep.body_len);
    }
    /* sendfile: compressed by reading, or left to the kernel for a type
     * not listed. */
    get(&t, "GET", "/file", GZ, &rep);
    GO_CHECK(gunzips_to(&rep, want, file_len), "file: %s", rep.head);
    get(&t, "GET", "/file?png=1", GZ, &rep);
    GO_CHECK(!has_field(&rep, "Content-Encoding") && rep.body_len == file_len &&
                 memcmp(rep.body, want, file_len) == 0,
             "file png: %s", rep.head);
    get(&t, "GET", "/file", "", &rep);
    GO_CHECK(rep.body_len == file_len && memcmp(rep.body, want, file_len) == 0, "file plain");

    /* curl and Python decode it byte for byte. */
    char out[160], hdr[160], exp[160];
    snprintf(exp, sizeof exp, "%s/want", tmpdir);
    snprintf(out, sizeof out, "%s/out", tmpdir);
    snprintf(hdr, sizeof hdr, "%s/hdr", tmpdir);
    FILE *f = fopen(exp, "wb");
    fwrite(want, 1, BIG, f);
    fclose(f);
    GO_CHECK(run_cmd("curl -sS --max-time 20 --compressed -D '%s' -o '%s' "
                     "'http://%s/text?n=%zu&seed=5&w=7000' && cmp -s '%s' '%s' && "
                     "grep -qi '^Content-Encoding: gzip' '%s'",
                     hdr, out, t.addr, BIG, out, exp, hdr),
             "curl --compressed");
    GO_CHECK(run_cmd("curl -sS --max-time 20 --compressed -o '%s' 'http://%s/file' && "
                     "cmp -s -n %zu '%s' '%s' && [ $(stat -c %%s '%s') = %zu ]",
                     out, t.addr, file_len, out, exp, out, file_len),
             "curl --compressed, sendfile");
    GO_CHECK(run_cmd("python3 -c '"
                     "import gzip, http.client, sys\n"
                     "c = http.client.HTTPConnection(\"127.0.0.1\", %d, timeout=20)\n"
                     "for p in (\"/text?n=%zu&seed=5&w=333\", \"/cl?n=4096&seed=5\"):\n"
                     "    c.request(\"GET\", p, headers={\"Accept-Encoding\": \"gzip\"})\n"
                     "    r = c.getresponse()\n"
                     "    d = r.read()\n"
                     "    assert r.getheader(\"Content-Encoding\") == \"gzip\", r.getheaders()\n"
                     "    w = open(\"%s\", \"rb\").read()\n"
                     "    assert gzip.decompress(d) == w[:len(gzip.decompress(d))]\n"
                     "    assert len(gzip.decompress(d)) in (%zu, 4096)\n"
                     "'",
                     t.port, BIG, exp, BIG),
             "python");
    free(want);
    test_resp_free(&rep);
    test_server_stop(&t);
    return 0;
}

Test(gzip, large_bodies_and_peers, .timeout = 120)
{
    make_tmpdir();
    snprintf(file_path, sizeof file_path, "%s/file.css", tmpdir);
    file_len = 700001;
    char *t = text(BIG, 5);
    write_file(file_path, t, file_len);
    free(t);
    cr_assert_eq(run_main(large_main, NULL), 0);
    remove_tmpdir();
}
