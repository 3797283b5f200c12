/*
 * middleware.c — handler wrappers: StripPrefix, MaxBytesHandler and an
 * nginx-style access log. (TimeoutHandler, which needs a goroutine and a
 * buffering writer, is timeout.c.)
 *
 * Each wrapper's arg is malloc'ed once when the wrapper is made and never
 * freed, as a Go handler held by a mux lives as long as the program; the
 * wrappers themselves keep no state per request, so any number of
 * connections may run one at once without a lock.
 *
 * StripPrefix hands the inner handler a shallow copy of the request (on
 * the wrapper's stack) with a shorter path and raw_path; the copy shares
 * priv_ (arena, ctx, parsed query) with the original, which is what the
 * inner handler must see. goc keeps raw_path always (Go keeps RawPath only
 * when it differs from the path's default escaping), so where Go would
 * have no RawPath — raw_path is exactly the default escaping of path —
 * the raw prefix stripped is the escaped prefix, and a prefix like "/a b"
 * strips "/a%20b" too, as it does in Go.
 *
 * The access log writes nginx's "combined" format after the inner handler
 * returns, so status and byte count are final:
 *   $remote_addr - - [$time_local] "$request" $status $body_bytes_sent
 *   "$http_referer" "$http_user_agent"
 * with the port dropped from the address, an empty field logged as "-",
 * and '"', '\\', controls and bytes >= 0x7f in a field as \xHH (nginx's
 * escaping, so a request cannot forge a line or a field). A handler that
 * wrote nothing is logged with the 200 the server then sends. One write(2)
 * per line: lines up to PIPE_BUF bytes from concurrent requests never
 * interleave in a pipe, and O_APPEND files keep whole lines too.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "http/http.h"

/* ---- StripPrefix ------------------------------------------------------- */

typedef struct strip_arg {
    goc_http_handler next;
    size_t len;
    char prefix[];
} strip_arg;

/* Go's shouldEscape for a path: what url.EscapedPath writes as %XX. */
static bool path_escapes(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return false;
    return c == '\0' || !strchr("-_.~$&+,/:;=@", c);
}

/* Whether raw is what Go's escape(path, encodePath) makes of path: then
 * Go's URL would have no RawPath. */
static bool default_escaping(const char *path, const char *raw)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
        if (!path_escapes(*p)) {
            if (*raw++ != (char)*p)
                return false;
        } else if (raw[0] != '%' || raw[1] != hex[*p >> 4] || raw[2] != hex[*p & 15]) {
            return false;
        } else {
            raw += 3;
        }
    }
    return *raw == '\0';
}

static size_t escaped_len(const char *s, size_t n)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        m += path_escapes((unsigned char)s[i]) ? 3 : 1;
    return m;
}

static void strip_prefix_serve(goc_http_response_writer *w, goc_http_request *r, void *arg)
{
    const strip_arg *a = arg;
    if (strncmp(r->path, a->prefix, a->len) != 0) {
        goc_http_not_found(w, r);
        return;
    }
    size_t raw_cut;
    if (strncmp(r->raw_path, a->prefix, a->len) == 0)
        raw_cut = a->len;
    else if (default_escaping(r->path, r->raw_path))
        raw_cut = escaped_len(a->prefix, a->len);
    else {
        goc_http_not_found(w, r); /* an escaped prefix Go would not strip */
        return;
    }
    goc_http_request r2 = *r;
    r2.path = r->path + a->len;
    r2.raw_path = r->raw_path + raw_cut;
    goc_http_serve_http(a->next, w, &r2);
}

goc_http_handler goc_http_strip_prefix(const char *prefix, goc_http_handler h)
{
    if (!prefix || !prefix[0])
        return h; /* as Go: nothing to strip */
    size_t n = strlen(prefix);
    strip_arg *a = malloc(sizeof *a + n + 1);
    if (!a)
        return (goc_http_handler){NULL, NULL};
    a->next = h;
    a->len = n;
    memcpy(a->prefix, prefix, n + 1);
    return (goc_http_handler){strip_prefix_serve, a};
}

/* ---- MaxBytesHandler --------------------------------------------------- */

typedef struct max_bytes_arg {
    goc_http_handler next;
    int64_t n;
} max_bytes_arg;

static void max_bytes_serve(goc_http_response_writer *w, goc_http_request *r, void *arg)
{
    const max_bytes_arg *a = arg;
    goc_http_max_bytes(r, a->n);
    goc_http_serve_http(a->next, w, r);
}

goc_http_handler goc_http_max_bytes_handler(goc_http_handler h, int64_t n)
{
    max_bytes_arg *a = malloc(sizeof *a);
    if (!a)
        return (goc_http_handler){NULL, NULL};
    *a = (max_bytes_arg){h, n};
    return (goc_http_handler){max_bytes_serve, a};
}

/* ---- access log ---------------------------------------------------------- */

typedef struct access_log_arg {
    goc_http_handler next;
    int fd;
} access_log_arg;

/* Append s (or "-" if empty) to o, escaped as nginx does; o has room for
 * 4 bytes per byte of s. Returns the new end. */
static char *put_escaped(char *o, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    if (n == 0) {
        *o++ = '-';
        return o;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
            *o++ = '\\';
            *o++ = 'x';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        } else {
            *o++ = (char)c;
        }
    }
    return o;
}

/* The host part of "ip:port" or "[v6]:port". */
static void host_of(const char *addr, const char **h, size_t *n)
{
    const char *colon = strrchr(addr, ':');
    if (addr[0] == '[') {
        const char *close = strchr(addr, ']');
        *h = addr + 1;
        *n = close ? (size_t)(close - addr - 1) : strlen(addr + 1);
        return;
    }
    *h = addr;
    *n = colon ? (size_t)(colon - addr) : strlen(addr);
}

GOC_API const char *goc_http_client_ip(const goc_http_request *r, char *buf, size_t n)
{
    const char *h;
    size_t len;
    host_of(r->remote_addr ? r->remote_addr : "", &h, &len);
    if (n == 0)
        return buf;
    if (len >= n)
        len = n - 1;
    memcpy(buf, h, len);
    buf[len] = 0;
    return buf;
}

static char *put_str(char *o, const char *s)
{
    size_t n = strlen(s);
    memcpy(o, s, n);
    return o + n;
}

/* Format the line for r and w into a malloc'ed buffer: its length in *len,
 * or NULL on ENOMEM. */
static char *format_line(goc_http_response_writer *w, goc_http_request *r, size_t *len)
{
    const char *ref = goc_http_header_get(r->header, "Referer");
    const char *ua = goc_http_header_get(r->header, "User-Agent");
    const char *host;
    size_t host_n;
    host_of(r->remote_addr, &host, &host_n);
    size_t m = strlen(r->method), t = strlen(r->target), p = strlen(r->proto);
    size_t rn = ref ? strlen(ref) : 0, un = ua ? strlen(ua) : 0;
    char *line = malloc(4 * (host_n + m + t + p + rn + un) + 128);
    if (!line)
        return NULL;

    char when[64];
    struct tm tm;
    time_t now = time(NULL);
    strftime(when, sizeof when, "%d/%b/%Y:%H:%M:%S %z", localtime_r(&now, &tm));
    int status = goc_http_response_status(w);
    char nums[48];
    snprintf(nums, sizeof nums, "\" %d %lld \"", status ? status : 200,
             (long long)goc_http_response_bytes(w));

    char *o = put_escaped(line, host, host_n);
    o = put_str(o, " - - [");
    o = put_str(o, when);
    o = put_str(o, "] \"");
    o = put_escaped(o, r->method, m);
    *o++ = ' ';
    o = put_escaped(o, r->target, t);
    *o++ = ' ';
    o = put_escaped(o, r->proto, p);
    o = put_str(o, nums);
    o = put_escaped(o, ref, rn);
    o = put_str(o, "\" \"");
    o = put_escaped(o, ua, un);
    o = put_str(o, "\"\n");
    *len = (size_t)(o - line);
    return line;
}

static void access_log_serve(goc_http_response_writer *w, goc_http_request *r, void *arg)
{
    const access_log_arg *a = arg;
    goc_http_serve_http(a->next, w, r);
    size_t len;
    char *line = format_line(w, r, &len);
    if (!line)
        return; /* a lost log line, not a lost response */
    ssize_t k;
    do
        k = write(a->fd, line, len);
    while (k < 0 && errno == EINTR);
    free(line);
}

goc_http_handler goc_http_access_log(goc_http_handler h, int out_fd)
{
    access_log_arg *a = malloc(sizeof *a);
    if (!a)
        return (goc_http_handler){NULL, NULL};
    *a = (access_log_arg){h, out_fd};
    return (goc_http_handler){access_log_serve, a};
}
