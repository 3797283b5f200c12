/*
 * gunzip.c — the streaming gzip decoder (gunzip.h) over zlib's inflate.
 *
 * States: BETWEEN (before a member: at the start, or after a member's
 * trailer was checked), MEMBER (inflating one: header, deflate data,
 * CRC-32 and length), END (the input ended between members). A read:
 *   1. with no input left and more to come, return what was decoded so
 *      far if anything (a stream's flushed bytes reach the caller before
 *      the decoder waits for the next ones), else read more;
 *   2. BETWEEN: the input's end is the stream's end; any other byte must
 *      start a new member (inflateReset), and zlib checks its header;
 *   3. inflate; a member's end goes back to BETWEEN; "no progress" with
 *      the input ended is a truncated stream.
 * Errors are sticky: bytes decoded before one are returned first, the
 * error on the next call and every one after (so a corrupt or truncated
 * body never looks like a short one).
 *
 * Which error: zlib's gz_header.done is 1 once the member's header was
 * read whole (0 before, -1 when it is not gzip), so a failure before it is "gzip: invalid header"
 * (bad magic, method or flags, header CRC); zlib's "incorrect data check" and "incorrect length
 * check" are the trailer's: "gzip: invalid checksum"; anything else is in the deflate data: "flate:
 * corrupt input". These are Go's texts (compress/gzip, compress/flate, io.ErrUnexpectedEOF).
 */
#include "http/gunzip.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include <goc/http.h>

#include "runtime/park.h" /* goc__errset */

#define INBUF 16384

enum { BETWEEN, MEMBER, END };

struct goc__gunzip {
    z_stream z;
    gz_header hdr; /* the current member's: only done is looked at */
    ssize_t (*src)(void *arg, void *buf, size_t n);
    void *arg;
    int state;
    bool eof;           /* src returned 0 */
    int err;            /* sticky error, 0: none */
    const char *errmsg; /* its text (NULL: src's own error) */
    unsigned char in[INBUF];
};

goc__gunzip *goc__gunzip_new(ssize_t (*src)(void *arg, void *buf, size_t n), void *arg)
{
    goc__gunzip *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    /* windowBits 15 + 16: gzip only (no zlib or raw deflate streams). */
    if (inflateInit2(&g->z, 15 + 16) != Z_OK) {
        free(g);
        return NULL;
    }
    g->src = src;
    g->arg = arg;
    g->state = BETWEEN;
    return g;
}

void goc__gunzip_free(goc__gunzip *g)
{
    if (!g)
        return;
    inflateEnd(&g->z);
    free(g);
}

/* The sticky error, its text set again for the caller's goc_errmsg. */
static int sticky(goc__gunzip *g)
{
    return g->errmsg ? goc__errset(g->err, g->errmsg) : g->err;
}

/* Record err (msg its text) and return what the read returns now: the
 * got bytes decoded before it, if any, else the error. */
static ssize_t fail(goc__gunzip *g, int err, const char *msg, size_t got)
{
    g->err = err;
    g->errmsg = msg;
    return got > 0 ? (ssize_t)got : sticky(g);
}

/* The error for inflate's result zr. */
static ssize_t inflate_failed(goc__gunzip *g, int zr, size_t got)
{
    if (zr == Z_MEM_ERROR)
        return fail(g, -ENOMEM, NULL, got);
    const char *m = g->z.msg ? g->z.msg : "";
    if (zr == Z_DATA_ERROR && g->hdr.done != 1)
        return fail(g, GOC_EHTTP_MALFORMED, "gzip: invalid header", got);
    if (strcmp(m, "incorrect data check") == 0 || strcmp(m, "incorrect length check") == 0)
        return fail(g, GOC_EHTTP_MALFORMED, "gzip: invalid checksum", got);
    return fail(g, GOC_EHTTP_MALFORMED, "flate: corrupt input", got);
}

static void start_member(goc__gunzip *g)
{
    inflateReset(&g->z);
    memset(&g->hdr, 0, sizeof g->hdr); /* extra, name, comment: not kept */
    inflateGetHeader(&g->z, &g->hdr);
    g->state = MEMBER;
}

ssize_t goc__gunzip_read(goc__gunzip *g, void *buf, size_t n)
{
    if (g->err)
        return sticky(g);
    if (n == 0 || g->state == END)
        return 0;
    uInt cap = n > UINT_MAX ? UINT_MAX : (uInt)n;
    g->z.next_out = buf;
    g->z.avail_out = cap;
    for (;;) {
        size_t got = cap - g->z.avail_out;
        if (g->z.avail_in == 0 && !g->eof) {
            if (got > 0)
                return (ssize_t)got;
            ssize_t r = g->src(g->arg, g->in, sizeof g->in);
            if (r < 0)
                return fail(g, (int)r, NULL, 0);
            g->eof = r == 0;
            g->z.next_in = g->in;
            g->z.avail_in = (uInt)r;
            continue;
        }
        if (g->state == BETWEEN) {
            if (g->z.avail_in == 0) { /* the input ended between members */
                g->state = END;
                return (ssize_t)got;
            }
            start_member(g);
        }
        int zr = inflate(&g->z, Z_NO_FLUSH);
        got = cap - g->z.avail_out;
        if (zr == Z_STREAM_END)
            g->state = BETWEEN;
        else if (zr == Z_OK && g->z.avail_out == 0)
            return (ssize_t)got;
        else if (zr == Z_BUF_ERROR && g->eof && g->z.avail_in == 0)
            return fail(g, GOC_EHTTP_UNEXPECTED_EOF, "unexpected EOF", got);
        else if (zr == Z_BUF_ERROR && g->z.avail_in > 0) /* cannot happen: never spin */
            return fail(g, GOC_EHTTP_MALFORMED, "flate: corrupt input", got);
        else if (zr != Z_OK && zr != Z_BUF_ERROR)
            return inflate_failed(g, zr, got);
        /* Z_OK with room left: the input is used up; Z_BUF_ERROR: the
         * same, no progress. Either way, more input next. */
    }
}
