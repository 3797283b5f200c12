/*
 * weak.c — stand-ins, until their files land, for functions the server
 * core calls: the statistics hooks (stats.c) and the default mux
 * (mux.c). Weak: the real definitions replace them at link time.
 */
#include "http/http.h"

__attribute__((weak)) void goc__hstat_conn_open(void) {}
__attribute__((weak)) void goc__hstat_conn_close(void) {}
__attribute__((weak)) void goc__hstat_idle(int delta)
{
    (void)delta;
}
__attribute__((weak)) void goc__hstat_active(int delta)
{
    (void)delta;
}
__attribute__((weak)) void goc__hstat_request(int status, int64_t ns, uint64_t in, uint64_t out)
{
    (void)status, (void)ns, (void)in, (void)out;
}
__attribute__((weak)) void goc__hstat_rejected(int status)
{
    (void)status;
}

static void not_found(goc_http_response_writer *w, goc_http_request *r, void *arg)
{
    (void)r, (void)arg;
    goc_http_write_header(w, 404);
    goc_http_write(w, "404 page not found\n", 19);
}

__attribute__((weak)) goc_http_mux *goc_http_default_mux(void)
{
    return NULL;
}

__attribute__((weak)) goc_http_handler goc_http_mux_handler(goc_http_mux *m)
{
    (void)m;
    return (goc_http_handler){not_found, NULL};
}
