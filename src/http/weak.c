/*
 * weak.c — a stand-in, until mux.c lands, for the default mux the server
 * core falls back to. Weak: the real definitions replace it at link time.
 */
#include "http/http.h"

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
