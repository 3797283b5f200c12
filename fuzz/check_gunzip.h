/*
 * check_gunzip.h — the invariants of the streaming gzip decoder
 * (src/http/gunzip.c), for fuzz_gunzip and the replay test. The input is a
 * would-be gzip stream. Whatever it holds:
 *   - the outcome is a function of the bytes, not of how they arrive: all
 *     at once into large reads, and pseudo-random pieces (1-64 bytes from
 *     src) into pseudo-random small reads, give the same bytes and the
 *     same end (0, or the same error);
 *   - a read never returns more than asked; an error is GOC_EHTTP_MALFORMED
 *     (GOC_EHTTP_UNEXPECTED_EOF when the input ends inside a member)
 *     with one of the four texts of gunzip.h, and it is sticky;
 *   - it agrees with zlib used directly (members inflated one after the
 *     other until the input is used up exactly): the decoder ends with 0
 *     exactly when that succeeds, with the same bytes.
 * Output beyond FZ_GZ_CAP bytes (a bomb) is not read: the comparison
 * stops there.
 */
#ifndef GOC_FUZZ_CHECK_GUNZIP_H
#define GOC_FUZZ_CHECK_GUNZIP_H

#include <goc/http.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <zlib.h>

#include "../src/http/gunzip.h"
#include "check.h"

#define FZ_GZ_CAP (1u << 20)

typedef struct fz_gzsrc {
    const uint8_t *p;
    size_t n, pos;
    uint64_t seed; /* 0: whole */
} fz_gzsrc;

static ssize_t fz_gz_read(void *arg, void *buf, size_t cap)
{
    fz_gzsrc *s = arg;
    size_t k = s->n - s->pos;
    if (s->seed) {
        size_t step = 1 + fz_next(&s->seed, 64);
        k = k < step ? k : step;
    }
    k = k < cap ? k : cap;
    memcpy(buf, s->p + s->pos, k);
    s->pos += k;
    return (ssize_t)k;
}

static bool fz_gz_known_text(const char *m)
{
    return !strcmp(m, "gzip: invalid header") || !strcmp(m, "gzip: invalid checksum") ||
           !strcmp(m, "flate: corrupt input") || !strcmp(m, "unexpected EOF");
}

/* Decode d[0, n) into out (FZ_GZ_CAP): the end (0 or an error; 1: out
 * filled first), *len the bytes. NULL, or the invariant broken. */
static const char *fz_gunzip(const uint8_t *d, size_t n, uint64_t seed, uint8_t *out, size_t *len,
                             int *end)
{
    fz_gzsrc s = {d, n, 0, seed};
    goc__gunzip *g = goc__gunzip_new(fz_gz_read, &s);
    if (!g)
        return NULL; /* ENOMEM: nothing to check */
    *len = 0;
    *end = 1;
    while (*len < FZ_GZ_CAP) {
        size_t want = seed ? 1 + fz_next(&seed, 300) : FZ_GZ_CAP;
        want = want < FZ_GZ_CAP - *len ? want : FZ_GZ_CAP - *len;
        ssize_t r = goc__gunzip_read(g, out + *len, want);
        if (r > (ssize_t)want) {
            goc__gunzip_free(g);
            return "a read returned more than asked";
        }
        if (r <= 0) {
            *end = (int)r;
            break;
        }
        *len += (size_t)r;
    }
    const char *broken = NULL;
    if (*end < 0 && *end != GOC_EHTTP_MALFORMED && *end != GOC_EHTTP_UNEXPECTED_EOF)
        broken = "an error other than GOC_EHTTP_MALFORMED or _UNEXPECTED_EOF";
    else if (*end < 0 && !fz_gz_known_text(goc_errmsg()))
        broken = "an error text not of gunzip.h";
    else if (*end < 0 && goc__gunzip_read(g, out, 1) != *end)
        broken = "an error that is not sticky";
    goc__gunzip_free(g);
    return broken;
}

/* zlib directly: 0 and *len if d[0, n) is whole members, 1 if out filled
 * first, -1 otherwise. */
static int fz_gz_reference(const uint8_t *d, size_t n, uint8_t *out, size_t *len)
{
    *len = 0;
    if (n == 0)
        return 0;
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, 31) != Z_OK)
        return 1;
    z.next_in = (Bytef *)d;
    z.avail_in = (uInt)n;
    z.next_out = out;
    z.avail_out = FZ_GZ_CAP;
    int res;
    for (;;) {
        int rc = inflate(&z, Z_NO_FLUSH);
        if (rc == Z_STREAM_END && z.avail_in == 0)
            res = 0;
        else if (rc == Z_STREAM_END) {
            inflateReset(&z);
            continue;
        } else if (rc == Z_OK && z.avail_out == 0)
            res = 1;
        else
            res = -1;
        break;
    }
    *len = FZ_GZ_CAP - z.avail_out;
    inflateEnd(&z);
    return res;
}

static const char *check_gunzip(const uint8_t *d, size_t n)
{
    static uint8_t a[FZ_GZ_CAP], b[FZ_GZ_CAP], c[FZ_GZ_CAP];
    size_t la, lb, lc;
    int ea, eb;
    const char *broken = fz_gunzip(d, n, 0, a, &la, &ea);
    if (!broken)
        broken = fz_gunzip(d, n, fz_seed(d, n), b, &lb, &eb);
    if (broken)
        return broken;
    size_t m = la < lb ? la : lb;
    if (memcmp(a, b, m) != 0)
        return "pieces decode to other bytes";
    if (ea != 1 && eb != 1 && (ea != eb || la != lb))
        return "pieces end otherwise";
    int ref = fz_gz_reference(d, n, c, &lc);
    if (ref != 1 && ea != 1 && (ref == 0) != (ea == 0))
        return "zlib and the decoder disagree on whether the stream is whole";
    if (ref == 0 && ea == 0 && (la != lc || memcmp(a, c, la) != 0))
        return "zlib decodes other bytes";
    return NULL;
}

#endif /* GOC_FUZZ_CHECK_GUNZIP_H */
