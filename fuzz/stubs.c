/*
 * stubs.c — the runtime calls the parsers built here make, as plain
 * functions: goc__errset and goc__errorf record an error's text for
 * goc_errmsg in the runtime (per goroutine); here they keep the last text
 * in one static buffer, formatted exactly as the runtime would (so a bad
 * format or argument is still seen by the sanitizers), and fz_errmsg hands
 * it to a target that checks what the text says. One thread, as libFuzzer
 * runs a target.
 */
#include <stdarg.h>
#include <stdio.h>

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

const char *fz_errmsg(void)
{
    return last;
}
