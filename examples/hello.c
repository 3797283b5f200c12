/* hello — the README's HTTP server: Go's net/http, in C. */
#include <goc/http.h>
#include <stdio.h>

/* A handler runs on its connection's goroutine: it may block (sleep,
 * read the body, call another service) without holding up anyone else. */
static void hello(goc_http_response_writer *w, goc_http_request *r, void *arg)
{
    (void)arg;
    goc_http_header_set(goc_http_response_header(w), "Content-Type", "text/plain");
    goc_http_printf(w, "Hello, %s!\n", goc_http_path_value(r, "name"));
}

static int serve(void *arg)
{
    (void)arg;
    goc_http_handle_func("GET /hello/{name}", hello, NULL); /* Go 1.22 patterns */
    goc_http_handle("GET /debug/stats", goc_http_stats_handler());
    int rc = goc_http_listen_and_serve("127.0.0.1:8080", NULL); /* NULL: the default mux */
    fprintf(stderr, "hello: %s\n", goc_errmsg());
    return rc < 0;
}

int main(void)
{
    return goc_run(serve, NULL);
}
