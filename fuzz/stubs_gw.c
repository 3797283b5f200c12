/*
 * stubs_gw.c — the runtime and server calls src/http/mux.c makes, for
 * fuzz_gwconfig, which builds mux.c beside gateway/config.c without the
 * runtime. config.c only makes scratch muxes and registers patterns on
 * them, so:
 *
 *   locks    goc_rwmutex_* keep a count of holders (one thread, as
 *            libFuzzer runs a target) and abort on a misuse the real
 *            lock would deadlock or corrupt on: a lock taken while
 *            held for writing, a write lock while read-held, an unlock
 *            of what is not held. fz_gw_locks_held says whether any is
 *            held, for a check after each parse.
 *   once     goc_once_do as the sequential code it is on one thread.
 *   serving  the answers the mux gives a request (404, 405, 301) are
 *            never reached by a parse: each aborts, naming itself, so a
 *            path that serves is a finding, not a silent no-op.
 *
 * What stubs.c already stands in for (error texts, assertions) is its.
 */
#include <stdio.h>
#include <stdlib.h>

#include <goc.h>
#include <goc/http.h>

/* Declared here and in fuzz_gwconfig.c only: no header for one call. */
int fz_gw_locks_held(void);

static int readers, writers; /* over every goc_rwmutex: scratch muxes never overlap */

static _Noreturn void misuse(const char *what)
{
    fprintf(stderr, "stubs_gw: %s (readers %d, writers %d)\n", what, readers, writers);
    abort();
}

void goc_rwmutex_rlock(goc_rwmutex *m)
{
    (void)m;
    if (writers)
        misuse("rlock while write-locked");
    readers++;
}

void goc_rwmutex_runlock(goc_rwmutex *m)
{
    (void)m;
    if (readers <= 0)
        misuse("runlock without rlock");
    readers--;
}

void goc_rwmutex_lock(goc_rwmutex *m)
{
    (void)m;
    if (writers || readers)
        misuse("lock while held");
    writers++;
}

void goc_rwmutex_unlock(goc_rwmutex *m)
{
    (void)m;
    if (writers != 1)
        misuse("unlock without lock");
    writers--;
}

int fz_gw_locks_held(void)
{
    return readers + writers;
}

void goc_once_do(goc_once *o, void (*fn)(void *arg), void *arg)
{
    if (!o->done_) {
        o->done_ = 1;
        fn(arg);
    }
}

static _Noreturn void not_reached(const char *fn)
{
    fprintf(stderr, "stubs_gw: %s called: a configuration parse serves no request\n", fn);
    abort();
}

goc_http_header *goc_http_response_header(goc_http_response_writer *w)
{
    (void)w;
    not_reached("goc_http_response_header");
}

int goc_http_write_header(goc_http_response_writer *w, int code)
{
    (void)w, (void)code;
    not_reached("goc_http_write_header");
}

void goc_http_error(goc_http_response_writer *w, const char *msg, int code)
{
    (void)w, (void)msg, (void)code;
    not_reached("goc_http_error");
}

void goc_http_not_found(goc_http_response_writer *w, goc_http_request *r)
{
    (void)w, (void)r;
    not_reached("goc_http_not_found");
}

void goc_http_redirect(goc_http_response_writer *w, goc_http_request *r, const char *url, int code)
{
    (void)w, (void)r, (void)url, (void)code;
    not_reached("goc_http_redirect");
}
