/*
 * stubs.c — the runtime and server calls the parsers built here make, as
 * plain functions. goc__errset and goc__errorf record an error's text for
 * goc_errmsg in the runtime (per goroutine); here they keep the last text
 * in one static buffer, formatted exactly as the runtime would (so a bad
 * format or argument is still seen by the sanitizers), and goc_errmsg hands
 * it to a target that checks what the text says. goc_http_body_read_all
 * (query.c reads a form through it) hands out the bytes a target set with
 * fz_stub_body, as the server would hand a request's body. One thread, as
 * libFuzzer runs a target.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <goc/http.h>

#include "runtime/park.h"
#include "stubs.h"

static char last[256];

int goc__errset(int err, const char *msg)
{
    snprintf(last, sizeof last, "%s", msg);
    return err;
}

int goc__errorf(int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last, sizeof last, fmt, ap);
    va_end(ap);
    return err;
}

const char *goc_errmsg(void)
{
    return last;
}

/* GOC_ASSERT's failure (the library is built with GOC_DEBUG here). */
_Noreturn void goc__assert_fail(const char *cond, const char *file, int line)
{
    fprintf(stderr, "%s:%d: assertion failed: %s\n", file, line, cond);
    abort();
}

static const char *body;
static size_t body_len;

void fz_stub_body(const char *p, size_t n)
{
    body = p;
    body_len = n;
}

int goc_http_body_read_all(goc_http_request *r, char **data, size_t *len, size_t max)
{
    (void)r;
    if (body_len > max)
        return GOC_EHTTP_BODY_TOO_LARGE;
    char *p = malloc(body_len + 1);
    if (!p)
        return -ENOMEM;
    if (body_len)
        memcpy(p, body, body_len);
    p[body_len] = '\0';
    *data = p;
    *len = body_len;
    return 0;
}
