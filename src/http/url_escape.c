/*
 * url_escape.c — Go's net/url escaping: which bytes each part of a URL
 * escapes (shouldEscape), escaping by mode, and unescaping by mode with
 * Go's checks (a '%' needs two hex digits; a host may %-encode only
 * non-ASCII bytes, except "%25" before an IPv6 zone; a zone may not
 * %-encode a byte a host could not hold). The decoding itself is the
 * layer's one percent-decoder, goc__http_unescape (query.c); the checks
 * run before it so the error names the first bad escape, as Go's does.
 *
 * Also here: the growable string the URL files build their results in,
 * and Go's %q quoting for error texts. Nothing is locked.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "http/http.h"
#include "http/url.h"

/* ---- the growable string ---------------------------------------------- */

static bool ubuf_grow(goc__ubuf *b, size_t more)
{
    if (b->oom)
        return false;
    if (b->n + more + 1 <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->n + more + 1)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
        b->oom = true;
        return false;
    }
    b->p = p;
    b->cap = cap;
    return true;
}

void goc__ubuf_add(goc__ubuf *b, const char *s, size_t n)
{
    if (!ubuf_grow(b, n))
        return;
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

void goc__ubuf_adds(goc__ubuf *b, const char *s)
{
    goc__ubuf_add(b, s, strlen(s));
}

void goc__ubuf_addc(goc__ubuf *b, char c)
{
    goc__ubuf_add(b, &c, 1);
}

char *goc__ubuf_take(goc__ubuf *b)
{
    if (!b->oom && !b->p)
        ubuf_grow(b, 0);
    if (b->oom) {
        free(b->p);
        return NULL;
    }
    b->p[b->n] = '\0';
    return b->p;
}

/* ---- which bytes escape ------------------------------------------------ */

static bool is_alnum(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* The reserved bytes of RFC 3986 2.2 (Go's list): which a mode leaves. */
static bool reserved_escapes(unsigned char c, goc__urlmode mode)
{
    switch (mode) {
    case GOC__ENC_PATH: /* the path as a whole: only '?' would end it */
        return c == '?';
    case GOC__ENC_PATH_SEGMENT:
        return c == '/' || c == ';' || c == ',' || c == '?';
    case GOC__ENC_USER_PASSWORD: /* ':' and '@' delimit userinfo */
        return c == '@' || c == '/' || c == '?' || c == ':';
    case GOC__ENC_QUERY_COMPONENT:
        return true;
    case GOC__ENC_FRAGMENT:
        return false;
    default: /* the host modes: '/', '?', '@' (the rest returned earlier) */
        return true;
    }
}

static bool should_escape(unsigned char c, goc__urlmode mode);

/* should_escape as tables, one per mode (bit 0 of tab[c] for mode 1, ...):
 * filled once, on first use; every URL of every client request and proxied
 * request goes byte by byte through here. */
static uint8_t esc_tab[256];
static pthread_once_t esc_once = PTHREAD_ONCE_INIT;

static void esc_init(void)
{
    for (int c = 0; c < 256; c++)
        for (int m = GOC__ENC_PATH; m <= GOC__ENC_FRAGMENT; m++)
            if (should_escape((unsigned char)c, (goc__urlmode)m))
                esc_tab[c] |= (uint8_t)(1u << (m - 1));
}

bool goc__url_should_escape(unsigned char c, goc__urlmode mode)
{
    if (mode < GOC__ENC_PATH || mode > GOC__ENC_FRAGMENT)
        return should_escape(c, mode);
    pthread_once(&esc_once, esc_init);
    return esc_tab[c] >> (mode - 1) & 1;
}

static bool should_escape(unsigned char c, goc__urlmode mode)
{
    if (is_alnum(c))
        return false;
    if ((mode == GOC__ENC_HOST || mode == GOC__ENC_ZONE) && c && strchr("!$&'()*+,;=:[]<>\"", c))
        return false; /* sub-delims, the port's ':', IPv6 brackets, and
                         the bytes Parse refuses in a host anyway */
    switch (c) {
    case '-':
    case '_':
    case '.':
    case '~':
        return false;
    case '$':
    case '&':
    case '+':
    case ',':
    case '/':
    case ':':
    case ';':
    case '=':
    case '?':
    case '@':
        return reserved_escapes(c, mode);
    default:
        break;
    }
    /* RFC 3986 lets a fragment keep sub-delims; Go keeps these four (the
     * quote stays escaped for callers that assumed it would be). */
    if (mode == GOC__ENC_FRAGMENT && (c == '!' || c == '(' || c == ')' || c == '*'))
        return false;
    return true;
}

void goc__url_escape_add(goc__ubuf *b, const char *s, size_t n, goc__urlmode mode)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t run = 0; /* bytes that stand for themselves, added in one go */
    bool tab = mode >= GOC__ENC_PATH && mode <= GOC__ENC_FRAGMENT;
    if (tab)
        pthread_once(&esc_once, esc_init);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (tab ? !(esc_tab[c] >> (mode - 1) & 1) : !should_escape(c, mode)) {
            run++;
            continue;
        }
        goc__ubuf_add(b, s + i - run, run);
        run = 0;
        if (c == ' ' && mode == GOC__ENC_QUERY_COMPONENT) {
            goc__ubuf_addc(b, '+');
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            goc__ubuf_add(b, e, 3);
        }
    }
    goc__ubuf_add(b, s + n - run, run);
}

/* ---- unescaping -------------------------------------------------------- */

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

void goc__url_quote(const char *s, size_t n, char *buf, size_t size)
{
    static const char hex[] = "0123456789abcdef";
    size_t j = 0;
    if (size < 3) {
        if (size)
            buf[0] = '\0';
        return;
    }
    buf[j++] = '"';
    for (size_t i = 0; i < n && j + 5 < size; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = c == '"'    ? "\\\""
                          : c == '\\' ? "\\\\"
                          : c == '\n' ? "\\n"
                          : c == '\r' ? "\\r"
                          : c == '\t' ? "\\t"
                                      : NULL;
        if (esc) {
            buf[j++] = esc[0];
            buf[j++] = esc[1];
        } else if (c < 0x20 || c == 0x7f) {
            buf[j++] = '\\';
            buf[j++] = 'x';
            buf[j++] = hex[c >> 4];
            buf[j++] = hex[c & 15];
        } else {
            buf[j++] = (char)c;
        }
    }
    buf[j++] = '"';
    buf[j] = '\0';
}

/* Go's checks of unescape, in its order: the first failure's text. */
static int check_escapes(const char *s, size_t n, goc__urlmode mode, char *emsg)
{
    char q[16];
    bool host = mode == GOC__ENC_HOST || mode == GOC__ENC_ZONE;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '%') {
            if (i + 2 >= n || hexval((unsigned char)s[i + 1]) < 0 ||
                hexval((unsigned char)s[i + 2]) < 0) {
                goc__url_quote(s + i, n - i < 3 ? n - i : 3, q, sizeof q);
                snprintf(emsg, GOC__URL_EMSG, "invalid URL escape %s", q);
                return -EINVAL;
            }
            int v = hexval((unsigned char)s[i + 1]) << 4 | hexval((unsigned char)s[i + 2]);
            bool pct25 = v == '%';
            /* RFC 3986: a host %-encodes only non-ASCII bytes; RFC 6874
             * adds "%25" (a zone follows). A zone may encode anything a
             * host may hold, and a space (Windows names zones so);
             * unlike Go, a non-ASCII byte too, as it may stand raw there
             * and String escapes it. */
            if ((mode == GOC__ENC_HOST && hexval((unsigned char)s[i + 1]) < 8 && !pct25) ||
                (mode == GOC__ENC_ZONE && !pct25 && v != ' ' && v < 0x80 &&
                 goc__url_should_escape((unsigned char)v, GOC__ENC_HOST))) {
                goc__url_quote(s + i, 3, q, sizeof q);
                snprintf(emsg, GOC__URL_EMSG, "invalid URL escape %s", q);
                return -EINVAL;
            }
            i += 2;
        } else if (host && c < 0x80 && goc__url_should_escape(c, mode)) {
            goc__url_quote(s + i, 1, q, sizeof q);
            snprintf(emsg, GOC__URL_EMSG, "invalid character %s in host name", q);
            return -EINVAL;
        }
    }
    return 0;
}

int goc__url_unescape(const char *s, size_t n, goc__urlmode mode, char **out, size_t *outn,
                      char *emsg)
{
    int rc = check_escapes(s, n, mode, emsg);
    if (rc < 0)
        return rc;
    char *p = malloc(n + 1);
    if (!p)
        return -ENOMEM;
    ssize_t k = goc__http_unescape(s, n, p, mode == GOC__ENC_QUERY_COMPONENT);
    if (outn)
        *outn = (size_t)k; /* checked above: k >= 0 */
    *out = p;
    return 0;
}

bool goc__url_valid_encoded(const char *s, size_t n, goc__urlmode mode)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        /* RFC 3986 pchar's sub-delims, ':' and '@'; '[' and ']' that
         * browsers leave alone; '%' (decoded later) */
        if (c && strchr("!$&'()*+,;=:@[]%", c))
            continue;
        if (goc__url_should_escape(c, mode))
            return false;
    }
    return true;
}

/* ---- the public escaping functions ------------------------------------- */

static char *escape(const char *s, goc__urlmode mode)
{
    goc__ubuf b = {0};
    goc__url_escape_add(&b, s, strlen(s), mode);
    return goc__ubuf_take(&b);
}

GOC_API char *goc_url_query_escape(const char *s)
{
    return escape(s, GOC__ENC_QUERY_COMPONENT);
}

GOC_API char *goc_url_path_escape(const char *s)
{
    return escape(s, GOC__ENC_PATH_SEGMENT);
}

static int unescape(const char *s, goc__urlmode mode, char **out)
{
    char emsg[GOC__URL_EMSG];
    *out = NULL;
    int rc = goc__url_unescape(s, strlen(s), mode, out, NULL, emsg);
    if (rc == -EINVAL)
        return goc__errorf(rc, "%s", emsg);
    return rc;
}

GOC_API int goc_url_query_unescape(const char *s, char **out)
{
    return unescape(s, GOC__ENC_QUERY_COMPONENT, out);
}

GOC_API int goc_url_path_unescape(const char *s, char **out)
{
    return unescape(s, GOC__ENC_PATH_SEGMENT, out);
}
