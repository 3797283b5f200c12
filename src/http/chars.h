/*
 * chars.h — the character classes of HTTP's grammar (RFC 9110 section
 * 5.6, RFC 9112, RFC 3986), as one 256-entry table of class bits, and the
 * scanners that run over a class (the parser's hot loops).
 *
 * The scanners are the hook for vector code: scan_generic.c is the
 * portable version (eight bytes per step in a uint64_t for values and
 * targets, the table for the rest). A per-arch file (scan_x86_64.c with
 * SSE4.2 PCMPESTRI ranges or AVX2 compares, 16-32 bytes per step) can
 * replace scan_generic.c (goc__http_value_run and goc__http_target_run)
 * later, chosen by CMake the way src/runtime picks arch_<arch>.c; it must
 * return exactly what the portable one does, which tests/http/test_chars.c
 * checks for every byte value at every position.
 */
#ifndef GOC_HTTP_CHARS_H
#define GOC_HTTP_CHARS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
    GOC__HC_TCHAR = 0x01,  /* tchar: a token's bytes */
    GOC__HC_VALUE = 0x02,  /* a field value's bytes: VCHAR, obs-text, SP, HTAB */
    GOC__HC_TARGET = 0x04, /* a request-target's bytes: VCHAR (no obs-text) */
    GOC__HC_HOST = 0x08,   /* reg-name: unreserved, sub-delims, "%" */
    GOC__HC_HEX = 0x10,    /* HEXDIG, either case */
    GOC__HC_QDTEXT = 0x20, /* qdtext: a quoted-string's plain bytes */
    GOC__HC_OWS = 0x40,    /* SP, HTAB */
};

/* Class bits of every byte value (chars.c). No class holds CR, LF or
 * NUL, so every scan over a class stops at a line end: the parser relies
 * on that to scan a complete head without bounds checks of its own. */
extern const uint8_t goc__http_cc[256];

static inline bool goc__hc_is(unsigned char c, unsigned cls)
{
    return (goc__http_cc[c] & cls) != 0;
}

/* The number of leading bytes of p[0, n) that are in class cls (GOC__HC_*
 * bits; a byte is in it if it has any of them). */
size_t goc__http_run(const char *p, size_t n, unsigned cls);

/* goc__http_run for GOC__HC_VALUE (field values, reason phrases) and
 * GOC__HC_TARGET (request targets), the long runs: the functions a
 * per-arch scanner replaces. */
size_t goc__http_value_run(const char *p, size_t n);
size_t goc__http_target_run(const char *p, size_t n);

#endif /* GOC_HTTP_CHARS_H */
