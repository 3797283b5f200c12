/*
 * gunzip.h — a streaming gzip decoder, for the client's bodies with
 * Content-Encoding: gzip (Go's compress/gzip Reader, as its Transport
 * uses it).
 *
 * Memory is bounded whatever the input: zlib's inflate state with its 32
 * KiB window, and a 16 KiB input buffer; output goes straight into the
 * caller's buffer, however much a few input bytes expand to.
 *
 * Threads: a decoder belongs to one goroutine at a time; nothing is
 * locked.
 */
#ifndef GOC_HTTP_GUNZIP_H
#define GOC_HTTP_GUNZIP_H

#include <stddef.h>
#include <sys/types.h>

typedef struct goc__gunzip goc__gunzip;

/* A decoder reading compressed bytes from src(arg, buf, n): their count
 * (at most n), 0 at the end of the input, or a negative errno. src and
 * arg must stay valid until goc__gunzip_free. NULL on ENOMEM. */
goc__gunzip *goc__gunzip_new(ssize_t (*src)(void *arg, void *buf, size_t n), void *arg);

/* Up to n decoded bytes into buf: their count (> 0 when n > 0, unless at
 * the end), 0 at the end of the input (after one or more whole gzip
 * members, as Go reads concatenated members; an empty input is an empty
 * body, as Go's Transport has it). Bytes decoded before an error are
 * returned first; the error then comes on the next call and on every one
 * after: GOC_EHTTP_MALFORMED (goc_errmsg: "gzip: invalid header" — also
 * for bytes after a member that do not start another —, "gzip: invalid
 * checksum", "flate: corrupt input"), GOC_EHTTP_UNEXPECTED_EOF ("unexpected
 * EOF": the input ended inside a member's data, as Go's
 * io.ErrUnexpectedEOF), src's own error, or -ENOMEM. Returns as soon as it has bytes
 * for the caller, before reading more input. */
ssize_t goc__gunzip_read(goc__gunzip *g, void *buf, size_t n);

/* Free g (NULL ignored). src is not called. */
void goc__gunzip_free(goc__gunzip *g);

#endif /* GOC_HTTP_GUNZIP_H */
