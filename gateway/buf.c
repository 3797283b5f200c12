/*
 * buf.c — a growable string for the gateway's JSON, metrics and log lines.
 * An append that cannot allocate sets oom and drops the bytes: callers
 * build a whole page and check oom once.
 */
#include "gateway.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool reserve(gw_buf *b, size_t n)
{
    if (b->oom)
        return false;
    if (b->len + n + 1 <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n + 1)
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

void gw_buf_append(gw_buf *b, const void *p, size_t n)
{
    if (!reserve(b, n))
        return;
    memcpy(b->p + b->len, p, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void gw_buf_puts(gw_buf *b, const char *s)
{
    gw_buf_append(b, s, strlen(s));
}

void gw_buf_printf(gw_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char small[256];
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof small) {
        gw_buf_append(b, small, (size_t)n);
        return;
    }
    if (!reserve(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void gw_buf_json_str(gw_buf *b, const char *s)
{
    gw_buf_append(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            char e[2] = {'\\', (char)*p};
            gw_buf_append(b, e, 2);
        } else if (*p < 0x20 || *p == 0x7f) {
            gw_buf_printf(b, "\\u%04x", *p);
        } else {
            gw_buf_append(b, p, 1);
        }
    }
    gw_buf_append(b, "\"", 1);
}

void gw_buf_free(gw_buf *b)
{
    free(b->p);
    *b = (gw_buf){0};
}
