/*
 * url.h — what the URL files (url.c, url_escape.c, url_values.c) and the
 * client's pure-logic neighbours (proxy.c, cookiejar.c) share: Go's
 * escaping modes, escaping and unescaping by mode, a growable string, and
 * Go's host:port splitting.
 *
 * Errors: functions that can fail for bad input return -EINVAL and write
 * Go's text of the failure (without the "parse URL:" wrapper the public
 * functions add) into emsg, a buffer of GOC__URL_EMSG bytes; -ENOMEM
 * leaves emsg alone. Nothing here is locked: every call works on its
 * arguments only.
 */
#ifndef GOC_HTTP_URL_H
#define GOC_HTTP_URL_H

#include <goc/http.h>
#include <stdbool.h>
#include <stddef.h>

enum { GOC__URL_EMSG = 160 };

/* Go's net/url encoding modes: which bytes a part of a URL escapes. */
typedef enum goc__urlmode {
    GOC__ENC_PATH = 1,
    GOC__ENC_PATH_SEGMENT,
    GOC__ENC_HOST,
    GOC__ENC_ZONE,
    GOC__ENC_USER_PASSWORD,
    GOC__ENC_QUERY_COMPONENT,
    GOC__ENC_FRAGMENT,
} goc__urlmode;

/* A growable NUL-terminated string. oom latches the first failed growth:
 * later appends do nothing, and the caller checks oom once at the end. */
typedef struct goc__ubuf {
    char *p;
    size_t n, cap;
    bool oom;
} goc__ubuf;

void goc__ubuf_add(goc__ubuf *b, const char *s, size_t n);
void goc__ubuf_adds(goc__ubuf *b, const char *s); /* a C string */
void goc__ubuf_addc(goc__ubuf *b, char c);
/* The string (the caller frees it), or NULL if an append ran out of
 * memory (the buffer is freed then). */
char *goc__ubuf_take(goc__ubuf *b);

/* Go's shouldEscape: whether byte c is escaped in mode. */
bool goc__url_should_escape(unsigned char c, goc__urlmode mode);
/* Append s[0, n) escaped for mode (Go's escape; a space is '+' in the
 * query-component mode). */
void goc__url_escape_add(goc__ubuf *b, const char *s, size_t n, goc__urlmode mode);
/* Go's unescape of s[0, n) for mode into a new string *out (malloc'ed,
 * NUL-terminated; its length in *outn if outn): 0, -EINVAL (a bad %xx,
 * or in the host modes a byte a host may not hold), or -ENOMEM. */
int goc__url_unescape(const char *s, size_t n, goc__urlmode mode, char **out, size_t *outn,
                      char *emsg);
/* Go's validEncoded: s[0, n) holds only bytes mode leaves alone, the
 * sub-delims, ':', '@', '[', ']' and '%'. */
bool goc__url_valid_encoded(const char *s, size_t n, goc__urlmode mode);
/* s as Go's %q prints it, into buf[size] (cut short if it does not fit). */
void goc__url_quote(const char *s, size_t n, char *buf, size_t size);

/* Go's url.splitHostPort over host[0, n): the host (brackets of an IPv6
 * literal removed) and the port (empty if none or not all digits), as
 * spans of host. */
void goc__url_split_host_port(const char *host, size_t n, const char **h, size_t *hn,
                              const char **port, size_t *pn);

/* Go's net.SplitHostPort of e[0, n) ("host:port", "[v6]:port"; the port
 * may be empty or any bytes but brackets): false if it is no host:port. */
bool goc__split_host_port(const char *e, size_t n, const char **h, size_t *hn, const char **p,
                          size_t *pn);
/* Go's net.ParseIP of s[0, n): dotted IPv4 (into ::ffff:a.b.c.d, as Go's
 * net.IP holds it) or IPv6 without a zone, into ip (proxy.c). */
bool goc__ip_parse(const char *s, size_t n, unsigned char ip[16]);
/* 127.0.0.0/8 (also IPv4-mapped) or ::1. */
bool goc__ip_is_loopback(const unsigned char ip[16]);

#endif /* GOC_HTTP_URL_H */
