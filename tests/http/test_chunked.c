/*
 * test_chunked.c — the chunked body decoder (src/http/chunked.c): data,
 * extensions and trailers accepted, every malformed chunk rejected, and
 * the same outcome whether the body arrives at once or a byte at a time
 * (the caller keeping what the decoder did not use, as a reader does).
 */
#include "httputil.h"

#define NOTE .timeout = 10

typedef struct body {
    int rc; /* END, MORE (the bytes ran out) or < 0 */
    const char *why;
    int status;
    size_t end;      /* offset after the body, for END */
    char data[8192]; /* the data handed out */
    size_t ndata;
    uint32_t nfields;
    goc__hfield f[16]; /* trailers, in offsets of raw */
    goc__hchunked c;
} body;

/* Decode raw[0, n), handed over in reads of step bytes (0: all at once):
 * unused bytes are kept and presented again with the next read. Every
 * call's input is an exactly-sized copy. */
static void decode(const char *raw, size_t n, size_t step, const goc__hlimits *lim, body *b)
{
    memset(b, 0, sizeof *b);
    b->c.fields = b->f;
    b->c.fields_cap = 16;
    b->rc = GOC__HCHUNK_MORE;
    size_t base = 0, avail = step ? 0 : n;
    for (;;) {
        size_t len = avail - base, used = 99;
        char *buf = malloc(len ? len : 1);
        cr_assert_not_null(buf);
        memcpy(buf, raw + base, len);
        goc__hspan d = {0, 0};
        int rc = goc__http_chunked(&b->c, buf, len, &used, &d, lim);
        free(buf);
        cr_assert_leq(used, len);
        if (rc == GOC__HCHUNK_DATA) {
            cr_assert(d.len > 0 && d.off + d.len <= used);
            cr_assert_leq(b->ndata + d.len, sizeof b->data);
            memcpy(b->data + b->ndata, raw + base + d.off, d.len);
            b->ndata += d.len;
        }
        base += used;
        b->rc = rc;
        if (rc < 0) {
            b->why = b->c.why;
            b->status = b->c.status;
            return;
        }
        if (rc == GOC__HCHUNK_END) {
            b->end = base;
            b->nfields = b->c.nfields;
            for (uint32_t i = 0; i < b->nfields; i++) {
                b->f[i].name.off += (uint32_t)(base - used);
                b->f[i].value.off += (uint32_t)(base - used);
            }
            cr_assert_eq(b->c.total, b->ndata);
            return;
        }
        if (rc == GOC__HCHUNK_MORE) {
            if (avail == n)
                return;
            avail = step && avail + step < n ? avail + step : n;
        }
    }
}

/* Decode raw whole, byte by byte and in 7-byte reads; all three agree. */
static void decode_all_ways(const char *raw, size_t n, const goc__hlimits *lim, body *b)
{
    static body other;
    save_seed("chunked", "", 0, raw, n);
    decode(raw, n, 0, lim, b);
    for (size_t step = 1; step <= 7; step += 6) {
        decode(raw, n, step, lim, &other);
        cr_assert_eq(other.rc, b->rc, "step %zu: rc %d vs %d for %s", step, other.rc, b->rc, raw);
        cr_assert_eq(other.ndata, b->ndata);
        cr_assert(memcmp(other.data, b->data, b->ndata) == 0);
        cr_assert_eq(other.why, b->why);
        cr_assert_eq(other.end, b->end);
        cr_assert_eq(other.nfields, b->nfields);
        for (uint32_t i = 0; i < b->nfields; i++)
            cr_assert(same_span(other.f[i].name, b->f[i].name) &&
                      same_span(other.f[i].value, b->f[i].value));
    }
}

static void accept_body(const char *raw, const char *data, body *b)
{
    decode_all_ways(raw, strlen(raw), NULL, b);
    cr_assert_eq(b->rc, GOC__HCHUNK_END, "rc %d (%s) for %s", b->rc, b->why ? b->why : "", raw);
    cr_assert_eq(b->end, strlen(raw));
    cr_assert_eq(b->ndata, strlen(data));
    cr_assert(memcmp(b->data, data, b->ndata) == 0);
}

static void reject_body_lim(const char *raw, const goc__hlimits *lim, int status)
{
    static body b;
    decode_all_ways(raw, strlen(raw), lim, &b);
    cr_assert_lt(b.rc, 0, "rc %d for %s", b.rc, raw);
    cr_assert_eq(b.status, status, "status %d (%s) for %s", b.status, b.why, raw);
    cr_assert_eq(b.rc, status == 431 ? -EMSGSIZE : -EBADMSG);
    cr_assert_not_null(b.why);
}

static void reject_body(const char *raw)
{
    reject_body_lim(raw, NULL, 400);
}

/* ---- accepted ---- */

Test(chunked, simple, NOTE)
{
    body b;
    accept_body("5\r\nhello\r\n0\r\n\r\n", "hello", &b);
    accept_body("0\r\n\r\n", "", &b);
    accept_body("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", "hello world", &b);
    accept_body("a\r\n0123456789\r\nA\r\nabcdefghij\r\n0\r\n\r\n", "0123456789abcdefghij", &b);
    accept_body("0005\r\nhello\r\n000\r\n\r\n", "hello", &b);
    accept_body("3\r\n\r\n\r\r\n0\r\n\r\n", "\r\n\r", &b); /* data is opaque */
}

Test(chunked, extensions, NOTE)
{
    body b;
    accept_body("5;a=b\r\nhello\r\n0\r\n\r\n", "hello", &b);
    accept_body("5;a\r\nhello\r\n0;last\r\n\r\n", "hello", &b);
    accept_body("5 ; a = b ;c\t;\td=\"x y\"\r\nhello\r\n0\r\n\r\n", "hello", &b);
    accept_body("5;a=\"q\\\"x\\\\\"\r\nhello\r\n0\r\n\r\n", "hello", &b);
    accept_body("5;a=\"\"\r\nhello\r\n0\r\n\r\n", "hello", &b);
    accept_body("5;!#$%&'*+-.^_`|~=!#$%&'*+-.^_`|~\r\nhello\r\n0\r\n\r\n", "hello", &b);
    accept_body("5;a=\"caf\xc3\xa9\"\r\nhello\r\n0\r\n\r\n", "hello", &b);
}

Test(chunked, trailers, NOTE)
{
    body b;
    const char *raw = "5\r\nhello\r\n0\r\nX-Sum: abc \r\nx-b:\r\n\r\n";
    accept_body(raw, "hello", &b);
    cr_assert_eq(b.nfields, 2);
    cr_assert(span_is(raw, b.f[0].name, "X-Sum") && span_is(raw, b.f[0].value, "abc"));
    cr_assert(span_is(raw, b.f[1].name, "x-b") && b.f[1].value.len == 0);
}

Test(chunked, stops_at_its_end, NOTE)
{
    const char *raw = "3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\n";
    body b;
    decode_all_ways(raw, strlen(raw), NULL, &b);
    cr_assert_eq(b.rc, GOC__HCHUNK_END);
    cr_assert_eq(b.end, strlen("3\r\nabc\r\n0\r\n\r\n"));
    /* After the end, calls use nothing and return END again. */
    size_t used = 7;
    goc__hspan d;
    cr_assert_eq(goc__http_chunked(&b.c, "x", 1, &used, &d, NULL), GOC__HCHUNK_END);
    cr_assert_eq(used, 0);
}

Test(chunked, data_as_it_arrives, NOTE)
{
    /* Data is handed out before the chunk is complete. */
    goc__hchunked c = {0};
    size_t used;
    goc__hspan d;
    const char *part = "a\r\n0123";
    cr_assert_eq(goc__http_chunked(&c, part, strlen(part), &used, &d, NULL), GOC__HCHUNK_DATA);
    cr_assert_eq(used, strlen(part));
    cr_assert_eq(d.off, 3);
    cr_assert_eq(d.len, 4);
    cr_assert_eq(c.left, 6);
    cr_assert_eq(goc__http_chunked(&c, "", 0, &used, &d, NULL), GOC__HCHUNK_MORE);
    /* A size line in pieces: nothing of it is used until it is whole. */
    goc__hchunked c2 = {0};
    cr_assert_eq(goc__http_chunked(&c2, "1", 1, &used, &d, NULL), GOC__HCHUNK_MORE);
    cr_assert_eq(used, 0);
    cr_assert_eq(goc__http_chunked(&c2, "1f\r", 3, &used, &d, NULL), GOC__HCHUNK_MORE);
    cr_assert_eq(used, 0);
    cr_assert_eq(goc__http_chunked(&c2, "1f\r\n", 4, &used, &d, NULL), GOC__HCHUNK_MORE);
    cr_assert_eq(used, 4);
    cr_assert_eq(c2.left, 31);
}

Test(chunked, large_sizes, NOTE)
{
    goc__hchunked c = {0};
    size_t used;
    goc__hspan d;
    const char *line = "7fffffffffffffff\r\nxy";
    cr_assert_eq(goc__http_chunked(&c, line, strlen(line), &used, &d, NULL), GOC__HCHUNK_DATA);
    cr_assert_eq(d.len, 2);
    cr_assert_eq(c.left, INT64_MAX - 2);
    goc__hchunked c2 = {0};
    line = "00000000000000000000000000000001\r\n";
    cr_assert_eq(goc__http_chunked(&c2, line, strlen(line), &used, &d, NULL), GOC__HCHUNK_MORE);
    cr_assert_eq(c2.left, 1);
}

/* ---- rejected ---- */

Test(chunked, bad_sizes, NOTE)
{
    static const char *const bad[] = {
        "0x5\r\nhello\r\n0\r\n\r\n",
        "+5\r\nhello\r\n0\r\n\r\n",
        "-5\r\nhello\r\n0\r\n\r\n",
        " 5\r\nhello\r\n0\r\n\r\n",
        "5 \r\nhello\r\n0\r\n\r\n",
        "\t5\r\nhello\r\n0\r\n\r\n",
        "\r\nhello\r\n0\r\n\r\n",
        "g\r\n\r\n",
        "5g\r\nhello\r\n0\r\n\r\n",
        "8000000000000000\r\n",
        "ffffffffffffffff\r\n",
        "10000000000000000\r\n",
        "5_0\r\n",
        "\xef\xbc\x95\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        reject_body(bad[i]);
}

Test(chunked, bad_extensions, NOTE)
{
    static const char *const bad[] = {
        "5;\r\nhello\r\n0\r\n\r\n",
        "5;=x\r\nhello\r\n0\r\n\r\n",
        "5;a=\r\nhello\r\n0\r\n\r\n",
        "5;a=\"x\r\nhello\r\n0\r\n\r\n",
        "5;a b\r\nhello\r\n0\r\n\r\n",
        "5 a\r\nhello\r\n0\r\n\r\n",
        "5;a \r\nhello\r\n0\r\n\r\n",
        "5;a=b \r\nhello\r\n0\r\n\r\n",
        "5;a=b c\r\nhello\r\n0\r\n\r\n",
        "5;a=\"x\"y\r\nhello\r\n0\r\n\r\n",
        "5,a\r\nhello\r\n0\r\n\r\n",
        "5;a=\"\x01\"\r\nhello\r\n0\r\n\r\n",
        "5;a=\"\\\x01\"\r\nhello\r\n0\r\n\r\n",
        "5;a=(b)\r\nhello\r\n0\r\n\r\n",
        "5;a\x7f\r\nhello\r\n0\r\n\r\n",
        "0;\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        reject_body(bad[i]);
}

Test(chunked, line_ends, NOTE)
{
    reject_body("5\nhello\r\n0\r\n\r\n");
    reject_body("5\rhello\r\n0\r\n\r\n");
    reject_body("5\r\nhello\n0\r\n\r\n");
    reject_body("5\r\nhelloX\r\n0\r\n\r\n");
    reject_body("5\r\nhello\r0\r\n\r\n");
    reject_body("5\r\nhello\r\n0\n\r\n");
    reject_body("5\r\nhello\r\n0\r\n\n");
    reject_body("5\r\nhello\r\n0\r\n\r\r\n\r\n");
    reject_body("5;a=\"x\ry\"\r\nhello\r\n0\r\n\r\n");
}

Test(chunked, line_too_long, NOTE)
{
    char raw[5000];
    size_t n = (size_t)sprintf(raw, "5;a=");
    memset(raw + n, 'x', 4100);
    strcpy(raw + n + 4100, "\r\nhello\r\n0\r\n\r\n");
    reject_body(raw);
    /* The limit counts the line with its CRLF. */
    goc__hlimits lim = {.max_chunk_line = 7};
    body b;
    decode_all_ways("5;a=b\r\nhello\r\n0\r\n\r\n", strlen("5;a=b\r\nhello\r\n0\r\n\r\n"), &lim, &b);
    cr_assert_eq(b.rc, GOC__HCHUNK_END);
    lim.max_chunk_line = 6;
    reject_body_lim("5;a=b\r\nhello\r\n0\r\n\r\n", &lim, 400);
}

Test(chunked, bad_trailers, NOTE)
{
    reject_body("0\r\n folded: x\r\n\r\n");
    reject_body("0\r\nX: a\r\n b\r\n\r\n");
    reject_body("0\r\nX : a\r\n\r\n");
    reject_body("0\r\n: a\r\n\r\n");
    reject_body("0\r\nX: a\x01\r\n\r\n");
    reject_body("0\r\nX: a\nY: b\r\n\r\n");
    reject_body("0\r\nX: a\rY: b\r\n\r\n");
    reject_body("0\r\nX\r\n\r\n");
}

Test(chunked, trailer_limits, NOTE)
{
    reject_body_lim("0\r\nA: 1\r\nB: 2\r\n\r\n", &(goc__hlimits){.max_fields = 1}, 431);
    reject_body_lim("0\r\nA: 1234567890\r\n\r\n", &(goc__hlimits){.max_head = 10}, 431);
    /* No room for trailer fields at all: any is refused. */
    goc__hchunked c = {0};
    size_t used;
    goc__hspan d;
    const char *raw = "0\r\nA: 1\r\n\r\n";
    cr_assert_eq(goc__http_chunked(&c, raw, strlen(raw), &used, &d, NULL), -EMSGSIZE);
    cr_assert_eq(c.status, 431);
    /* ... but an empty trailer section is fine. */
    goc__hchunked c2 = {0};
    cr_assert_eq(goc__http_chunked(&c2, "0\r\n\r\n", 5, &used, &d, NULL), GOC__HCHUNK_END);
    cr_assert_eq(used, 5);
}

Test(chunked, framing_overhead, NOTE)
{
    /* One byte per chunk with 100 bytes of extension each: refused once
     * the excess passes 16 KiB. */
    size_t n = 0, cap = 400 * 120;
    char *raw = malloc(cap);
    cr_assert_not_null(raw);
    for (int i = 0; i < 400; i++) {
        n += (size_t)sprintf(raw + n, "1;e=");
        memset(raw + n, 'x', 100);
        n += 100;
        n += (size_t)sprintf(raw + n, "\r\nz\r\n");
    }
    strcpy(raw + n, "0\r\n\r\n");
    reject_body(raw);
    /* One byte per chunk without extensions is slow but honest. */
    n = 0;
    for (int i = 0; i < 2000; i++)
        n += (size_t)sprintf(raw + n, "1\r\nz\r\n");
    strcpy(raw + n, "0\r\n\r\n");
    body *b = malloc(sizeof *b);
    decode(raw, strlen(raw), 0, NULL, b);
    cr_assert_eq(b->rc, GOC__HCHUNK_END);
    cr_assert_eq(b->ndata, 2000);
    free(b);
    free(raw);
}

Test(chunked, errors_stick, NOTE)
{
    goc__hchunked c = {0};
    size_t used;
    goc__hspan d;
    cr_assert_eq(goc__http_chunked(&c, "x\r\n", 3, &used, &d, NULL), -EBADMSG);
    cr_assert_eq(goc__http_chunked(&c, "5\r\nhello", 8, &used, &d, NULL), -EBADMSG);
    cr_assert_eq(used, 0);
    cr_assert_eq(c.status, 400);
}
