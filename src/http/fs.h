/*
 * fs.h — what the static-file files share: the field grammars the file
 * server reads (fs_fields.c: Range, Accept-Encoding, entity tags), and
 * ServeContent's entry point for an already stat'ed fd (content.c), which
 * the file server (fs.c) calls with its own ETag and encoding.
 *
 * Everything here is pure or goroutine-only as the public calls it serves;
 * nothing is locked and no memory is kept past the call.
 */
#ifndef GOC_HTTP_FS_H
#define GOC_HTTP_FS_H

#include <sys/stat.h>

#include <goc/http.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

/* ---- Range (RFC 9110 section 14.2), as Go's parseRange ----------------- */

/* One satisfiable range: bytes [start, start + length) of the content. */
typedef struct goc__http_range {
    int64_t start, length;
} goc__http_range;

/* More ranges than this in one request: the whole content is sent (a
 * defence against many tiny parts, as Apache and nginx bound them; Go
 * bounds only their sum). */
#define GOC__HTTP_MAX_RANGES 64

/* Parse a Range value s against a content of size bytes into out[0, cap):
 *   >= 0   the number of satisfiable ranges (0: no Range at all, s "");
 *   -EINVAL    a malformed value (416 without Content-Range, as Go);
 *   -ERANGE    well-formed but none overlaps the content (416 with
 *              "Content-Range: bytes * / size");
 *   -E2BIG     more than cap ranges (the caller sends the whole content).
 * Ranges are returned in the order given, clipped to the content. */
int goc__http_parse_range(const char *s, int64_t size, goc__http_range *out, size_t cap);

/* Whether ranges should be ignored and the whole content sent: their sum
 * exceeds the size (overlaps, an attack or a confused client — Go's rule). */
bool goc__http_ranges_too_big(const goc__http_range *rs, size_t n, int64_t size);

/* The Content-Length of a multipart/byteranges body for these ranges, with
 * boundary and part Content-Type ctype, as written by content.c. */
int64_t goc__http_multipart_size(const goc__http_range *rs, size_t n, int64_t size,
                                 const char *boundary, const char *ctype);
/* The head of part i (i > 0 starts with CRLF) into buf[n]: its length, or
 * -1 if it does not fit; and the closing delimiter. */
int goc__http_multipart_part_head(char *buf, size_t n, size_t i, const goc__http_range *r,
                                  int64_t size, const char *boundary, const char *ctype);
int goc__http_multipart_tail(char *buf, size_t n, const char *boundary);

/* ---- Accept-Encoding (RFC 9110 section 12.5.3) ------------------------- */

/* Whether the field value (NULL: absent) lets us send gzip: "gzip" or
 * "x-gzip" with q > 0, or "*" with q > 0 when gzip is not named. */
bool goc__http_accepts_gzip(const char *ae);

/* ---- entity tags (RFC 9110 section 8.8.3) ------------------------------ */

/* Scan one entity-tag (W/"..." or "...") at the start of s, after optional
 * whitespace: its length (W/ and quotes included) with *tag at its start,
 * or 0 if there is none. *rest: just past it. */
size_t goc__http_scan_etag(const char *s, const char **tag, const char **rest);
/* Strong comparison: both strong and equal. a is a[0, an). */
bool goc__http_etag_strong_eq(const char *a, size_t an, const char *b);
/* Weak comparison: equal once any W/ prefix is dropped. */
bool goc__http_etag_weak_eq(const char *a, size_t an, const char *b);
/* A strong ETag from a file's mtime and size, nginx's form:
 * "\"<mtime hex>-<size hex>\"". buf needs 40 bytes. */
void goc__http_etag_format(char buf[40], time_t mtime, int64_t size);

/* ---- serving an open file (content.c) --------------------------------- */

/* ServeContent for fd, whose size is size and which is left open:
 *   name     gives the Content-Type by extension, unless one is set;
 *   sniff_fd is read (first 512 bytes) when the extension says nothing:
 *            the fd itself, or the uncompressed original of a .gz;
 *   modtime  Last-Modified and the date preconditions (0: none).
 * The caller sets ETag, Content-Encoding and Vary beforehand if it wants
 * them; Content-Length is always the fd's own size (the .gz's for an
 * encoded body), so the body goes out with sendfile. Goroutine only. */
void goc__http_serve_fd(goc_http_response_writer *w, goc_http_request *r, const char *name,
                        time_t modtime, int fd, int64_t size, int sniff_fd);

/* Go's checkIfModifiedSince: true when r's If-Modified-Since says the
 * client's copy (of something last modified at modtime) is current. */
bool goc__http_not_modified_since(goc_http_request *r, time_t modtime);
/* Go's writeNotModified: drop the entity fields and answer 304. */
void goc__http_write_not_modified(goc_http_response_writer *w);

/* ---- test hooks --------------------------------------------------------- */

/* Set by tests to take the path a kernel without openat2 takes. */
extern bool goc__http_fs_no_openat2;

#endif /* GOC_HTTP_FS_H */
