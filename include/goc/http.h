/*
 * goc/http.h — Go's net/http server in C: handlers, a ResponseWriter, the
 * Go 1.22 ServeMux, files, middleware, metrics. Include it instead of (or
 * after) goc.h; it is part of libgoc.
 *
 *     static void hello(goc_http_response_writer *w, goc_http_request *r, void *arg)
 *     {
 *         goc_http_header_set(goc_http_response_header(w), "Content-Type", "text/plain");
 *         goc_http_printf(w, "Hello, %s!\n", r->path);
 *     }
 *     static int serve(void *arg)
 *     {
 *         goc_http_handle_func("/", hello, NULL);
 *         return goc_http_listen_and_serve("127.0.0.1:8080", NULL); // NULL: the default mux
 *     }
 *     int main(void) { return goc_run(serve, NULL) < 0; }
 *
 * Go's names, mapped (Go → goc):
 *   http.HandlerFunc            goc_http_handler_fn   (w, r, arg)
 *   http.Handler                goc_http_handler      {fn, arg}
 *   w.Header().Set/Add/Get/Del  goc_http_header_set/add/get/del(goc_http_response_header(w), ...)
 *   w.WriteHeader / w.Write     goc_http_write_header / goc_http_write, goc_http_printf
 *   w.(http.Flusher).Flush      goc_http_flush
 *   w.(http.Hijacker).Hijack    goc_http_hijack
 *   http.Error / NotFound       goc_http_error / goc_http_not_found
 *   http.Redirect               goc_http_redirect
 *   r.Method, r.RequestURI      r->method, r->target
 *   r.URL.Path, r.URL.RawQuery  r->path, r->raw_query
 *   r.URL.Query().Get           goc_http_query_get
 *   r.FormValue / r.PathValue   goc_http_form_value / goc_http_path_value
 *   r.Cookie                    goc_http_cookie
 *   r.Body.Read / io.ReadAll    goc_http_body_read / goc_http_body_read_all
 *   r.Context()                 goc_http_request_ctx
 *   http.NewServeMux, Handle    goc_http_mux_new, goc_http_mux_handle(_func)
 *   http.HandleFunc (default)   goc_http_handle_func
 *   http.ListenAndServe         goc_http_listen_and_serve
 *   http.Server{...}            goc_http_server_new(handler, &opts)
 *   srv.Serve / Shutdown / Close goc_http_server_serve / _shutdown / _close
 *   http.FileServer / ServeFile goc_http_file_server / goc_http_serve_file
 *   http.ServeContent           goc_http_serve_content
 *   http.StripPrefix            goc_http_strip_prefix
 *   http.TimeoutHandler         goc_http_timeout_handler
 *   http.MaxBytesHandler        goc_http_max_bytes_handler
 *   gzhttp.GzipHandler          goc_http_gzip_handler
 *   http.DetectContentType      goc_http_detect_content_type
 *   http.StatusText             goc_http_status_text
 *
 * Lifetimes: everything a handler receives (the request, its strings and
 * header maps, the writer) belongs to the connection and is valid only
 * until the handler returns; copy what must live longer. Strings given to
 * the API (header names and values, ...) are copied before the call
 * returns. No goroutine, fd or buffer the server creates outlives its
 * request or its connection.
 *
 * Threads: request and writer functions are "goroutine only" and belong to
 * the goroutine running the handler (a handler may pass them to goroutines
 * it waits for, one at a time, as in Go). Server, mux and stats functions
 * may be called from any thread.
 *
 * Errors: negative errno values as in goc.h; goc_errmsg() has the detail.
 * Codes of this layer: GOC_EHTTP_* below.
 */
#ifndef GOC_HTTP_H
#define GOC_HTTP_H

#include <goc.h>
#include <goc/tls.h>
#include <goc/url.h>
#include <stdarg.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- errors of this layer (outside the errno range) -------------------- */

#define GOC_EHTTP_BODY_TOO_LARGE (-3101) /* http: request body too large (MaxBytesReader) */
#define GOC_EHTTP_CONTENT_LENGTH (-3102) /* http: wrote more than the declared Content-Length */
#define GOC_EHTTP_BODY_NOT_ALLOWED                                                                 \
    (-3103) /* http: request method or response status code does not allow body */
#define GOC_EHTTP_HIJACKED         (-3104) /* http: connection has been hijacked */
#define GOC_EHTTP_HANDLER_TIMEOUT  (-3105) /* http: Handler timeout */
#define GOC_EHTTP_SERVER_CLOSED    (-3106) /* http: Server closed */
#define GOC_EHTTP_PATTERN_CONFLICT (-3107) /* http: pattern conflicts with a registered one */
#define GOC_EHTTP_BAD_PATTERN      (-3108) /* http: invalid pattern */
#define GOC_EHTTP_MALFORMED        (-3109) /* http: malformed message from the peer */

/* ---- header maps (http.Header) ----------------------------------------
 *
 * An ordered list of (name, value) fields. Names compare case-insensitively;
 * a name may have several values. A request's map keeps the fields in the
 * order and spelling received. Returned strings are NUL-terminated and
 * valid until the map changes or its request ends. */
typedef struct goc_http_header goc_http_header;

/* The first value of name, or NULL. */
GOC_API const char *goc_http_header_get(const goc_http_header *h, const char *name);
/* Up to n values of name in out[]; returns how many there are in all. */
GOC_API size_t goc_http_header_values(const goc_http_header *h, const char *name, const char **out,
                                      size_t n);
/* Replace every value of name with value. 0, -EINVAL (a name that is not
 * a token, or CR, LF or NUL in the value: never sent), -ENOMEM. */
GOC_API int goc_http_header_set(goc_http_header *h, const char *name, const char *value);
/* Append one more value of name. Errors as set. */
GOC_API int goc_http_header_add(goc_http_header *h, const char *name, const char *value);
/* Remove every value of name. */
GOC_API void goc_http_header_del(goc_http_header *h, const char *name);
/* Fields in order: the count, and the i-th (0 <= i < count). */
GOC_API size_t goc_http_header_len(const goc_http_header *h);
GOC_API void goc_http_header_at(const goc_http_header *h, size_t i, const char **name,
                                const char **value);

/* ---- requests (http.Request) -------------------------------------------
 *
 * The server fills one per request; every member is read-only for the
 * handler. Strings are NUL-terminated, never NULL. */
typedef struct goc_http_request {
    const char *method;    /* "GET", as received (case-sensitive) */
    const char *target;    /* the request-target as received (RequestURI) */
    const char *path;      /* the target's path, percent-decoded ("/a b") */
    const char *raw_path;  /* the path as received, not decoded */
    const char *raw_query; /* after '?', without it, not decoded; "" if none */
    const char *proto;     /* "HTTP/1.1" or "HTTP/1.0" */
    int proto_major, proto_minor;
    const char *host;            /* Host field (or the absolute target's); may be "" */
    const char *remote_addr;     /* "ip:port" of the client */
    int64_t content_length;      /* -1: unknown (chunked); 0: no body */
    goc_http_header *header;     /* fields in the order and spelling received */
    goc_http_header *trailer;    /* a chunked body's trailer fields, once read to the end */
    const char *pattern;         /* the mux pattern that matched, or "" */
    struct goc__http_req *priv_; /* the server's own: do not touch */
} goc_http_request;

/* Read up to n bytes of the body: the count, 0 at its end, or a negative
 * errno: GOC_EHTTP_BODY_TOO_LARGE past the limit (goc_http_max_bytes),
 * GOC_EHTTP_MALFORMED for bad chunking (the connection is closed after
 * the handler), -ETIMEDOUT past the read timeout, -ECONNRESET / -EPIPE if
 * the client went away. An "Expect: 100-continue" is answered on the
 * first call. Goroutine only. */
GOC_API ssize_t goc_http_body_read(goc_http_request *r, void *buf, size_t n);
/* io.ReadAll with a bound: the whole body in *data (malloc'ed, for free(),
 * NUL-terminated), its length in *len. More than max bytes:
 * GOC_EHTTP_BODY_TOO_LARGE and nothing is returned. */
GOC_API int goc_http_body_read_all(goc_http_request *r, char **data, size_t *len, size_t max);
/* http.MaxBytesReader: reads past n bytes of this request's body fail
 * with GOC_EHTTP_BODY_TOO_LARGE, and the server answers 413 (if nothing
 * was written yet) and closes the connection after the handler. */
GOC_API void goc_http_max_bytes(goc_http_request *r, int64_t n);

/* The request's context: cancelled when the client goes away (its
 * connection closes), and when the handler returns. Owned by the request:
 * goc_ctx_retain it to keep it longer. Goroutine only. */
GOC_API goc_ctx *goc_http_request_ctx(goc_http_request *r);
/* The client's IP address: r->remote_addr without its port (nor an IPv6
 * address's brackets), in buf (NUL-terminated, cut to n - 1 bytes);
 * returns buf. net.SplitHostPort(r.RemoteAddr)'s host. */
GOC_API const char *goc_http_client_ip(const goc_http_request *r, char *buf, size_t n);
/* r.WithContext for the handlers below: from now on goc_http_request_ctx(r)
 * returns ctx (borrowed: keep it alive while it is set); NULL gives back
 * the request's own. Middleware derives ctx from goc_http_request_ctx(r)
 * (a deadline, values: goc_ctx_with_value) and sets NULL again before it
 * returns. The request's goroutine only. */
GOC_API void goc_http_request_set_ctx(goc_http_request *r, goc_ctx *ctx);

/* r.URL.Query().Get(name): the first value, percent-decoded ('+' is a
 * space), or NULL. Valid until the request ends. */
GOC_API const char *goc_http_query_get(goc_http_request *r, const char *name);
/* r.FormValue(name): from an application/x-www-form-urlencoded body
 * (read on the first call, up to 10 MiB as Go's), then from the query.
 * NULL if absent. */
GOC_API const char *goc_http_form_value(goc_http_request *r, const char *name);
/* r.Cookie(name): the value, or NULL. */
GOC_API const char *goc_http_cookie(goc_http_request *r, const char *name);
/* r.PathValue(name): the value of {name} in the matched mux pattern
 * (decoded), or NULL. */
GOC_API const char *goc_http_path_value(goc_http_request *r, const char *name);
/* r.SetPathValue: for muxes and middleware of the user's own. */
GOC_API int goc_http_set_path_value(goc_http_request *r, const char *name, const char *value);
/* Memory that lives until the request ends (its arena): for middleware. */
GOC_API void *goc_http_request_alloc(goc_http_request *r, size_t n);

/* ---- the ResponseWriter ------------------------------------------------ */
typedef struct goc_http_response_writer goc_http_response_writer;

/* The response's header map: changes after the header was written (the
 * first write, flush or write_header >= 200) have no effect, as in Go. */
GOC_API goc_http_header *goc_http_response_header(goc_http_response_writer *w);
/* Trailer fields: set them before the body is complete; a response with
 * any is sent chunked (HTTP/1.1) and they follow its last chunk. Fields
 * named before the first write are also announced in a Trailer header. */
GOC_API goc_http_header *goc_http_response_trailer(goc_http_response_writer *w);
/* WriteHeader. 100-199 other than 101: an informational response, sent at
 * once and repeatable (the header map is sent with it, then the final
 * response follows). Otherwise the status line and header, once; a second
 * call is ignored (0). -EINVAL for a code outside 100-999. */
GOC_API int goc_http_write_header(goc_http_response_writer *w, int code);
/* Write body bytes (a 200 header first if none was written): n, or a
 * negative errno: GOC_EHTTP_BODY_NOT_ALLOWED for 204/304/1xx (HEAD: the
 * bytes are counted and dropped, n returned), GOC_EHTTP_CONTENT_LENGTH
 * past an explicit Content-Length, -EPIPE / -ECONNRESET / -ETIMEDOUT from
 * the connection, GOC_EHTTP_HIJACKED. Small responses are buffered whole
 * and get a Content-Length; past the buffer (4 KiB) or after a flush the
 * body is chunked (HTTP/1.1) or delimited by closing (HTTP/1.0). */
GOC_API ssize_t goc_http_write(goc_http_response_writer *w, const void *p, size_t n);
GOC_API ssize_t goc_http_write_str(goc_http_response_writer *w, const char *s);
GOC_API ssize_t goc_http_printf(goc_http_response_writer *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
GOC_API ssize_t goc_http_vprintf(goc_http_response_writer *w, const char *fmt, va_list ap);
/* Send what is buffered now (the header too): streaming, SSE. 0 or a
 * negative errno. */
GOC_API int goc_http_flush(goc_http_response_writer *w);
/* Send count bytes of the file in_fd from offset as body (sendfile(2),
 * no copy, when nothing of the body is buffered and the response is not
 * chunked; a copy otherwise). The count sent or a negative errno. */
GOC_API ssize_t goc_http_sendfile(goc_http_response_writer *w, int in_fd, off_t offset,
                                  size_t count);
/* Hijack: take over the connection (WebSocket). The header and body
 * written so far are dropped; *fd is the socket (the caller closes it
 * with goc_close), and bytes the server had read past the request are
 * copied into *buffered (malloc'ed, for free(); NULL if none), *nbuf
 * their count. 0 or GOC_EHTTP_HIJACKED (already), -EINVAL after the
 * header was sent, -ENOTSUP on a TLS connection (not supported yet). */
GOC_API int goc_http_hijack(goc_http_response_writer *w, int *fd, char **buffered, size_t *nbuf);
/* panic(http.ErrAbortHandler): the response is given up mid-way (its
 * source failed after the header went out): nothing more is sent, no
 * last chunk, and the connection is closed after the handler, so the
 * client sees the body cut short instead of a complete one. */
GOC_API void goc_http_abort(goc_http_response_writer *w);

/* What was answered so far, for logs and middleware: the status (0 if
 * nothing was written yet) and the body bytes written. */
GOC_API int goc_http_response_status(const goc_http_response_writer *w);
GOC_API int64_t goc_http_response_bytes(const goc_http_response_writer *w);

/* http.Error: code, Content-Type text/plain, X-Content-Type-Options
 * nosniff, msg and a newline as body. */
GOC_API void goc_http_error(goc_http_response_writer *w, const char *msg, int code);
GOC_API void goc_http_not_found(goc_http_response_writer *w, goc_http_request *r);
/* http.Redirect: url relative to the request's path is made absolute-path
 * as Go does; code 3xx; a small HTML body for GET and HEAD. */
GOC_API void goc_http_redirect(goc_http_response_writer *w, goc_http_request *r, const char *url,
                               int code);
/* "Not Found" for 404, ... ; "" for a code it does not know. */
GOC_API const char *goc_http_status_text(int code);
/* Go's DetectContentType over the first (up to 512) bytes: a MIME type
 * ("text/html; charset=utf-8", "image/png", ...), "application/octet-stream"
 * if nothing matches. Static string. */
GOC_API const char *goc_http_detect_content_type(const void *data, size_t n);

/* ---- handlers ----------------------------------------------------------- */
typedef void (*goc_http_handler_fn)(goc_http_response_writer *w, goc_http_request *r, void *arg);
typedef struct goc_http_handler {
    goc_http_handler_fn fn;
    void *arg;
} goc_http_handler;

/* Call h (a middleware's next). */
static inline void goc_http_serve_http(goc_http_handler h, goc_http_response_writer *w,
                                       goc_http_request *r)
{
    h.fn(w, r, h.arg);
}

/* ---- the mux (http.ServeMux, Go 1.22 patterns) -------------------------
 *
 * Pattern: "[METHOD ][HOST]/[PATH]" with wildcards {name} (one segment),
 * {name...} (the rest, last only) and {$} (exactly the path so far, last
 * only). The most specific pattern wins; GET also matches HEAD; a host
 * pattern wins over host-less ones. No match: 404; a path match with
 * another method: 405 with Allow. "/dir/" registered and "/dir" asked:
 * 301 to "/dir/". Unclean paths ("//", ".", "..") get a 301 to the
 * clean one. */
typedef struct goc_http_mux goc_http_mux;

GOC_API goc_http_mux *goc_http_mux_new(void);    /* NULL on ENOMEM */
GOC_API void goc_http_mux_free(goc_http_mux *m); /* no request may be in it */
/* Register: 0, GOC_EHTTP_BAD_PATTERN, GOC_EHTTP_PATTERN_CONFLICT (the
 * pattern overlaps one registered with neither more specific, or is the
 * same: goc_errmsg() names both), -ENOMEM. Any thread, also while the
 * mux serves. */
GOC_API int goc_http_mux_handle(goc_http_mux *m, const char *pattern, goc_http_handler h);
GOC_API int goc_http_mux_handle_func(goc_http_mux *m, const char *pattern, goc_http_handler_fn fn,
                                     void *arg);
/* The mux as a handler. */
GOC_API goc_http_handler goc_http_mux_handler(goc_http_mux *m);
/* The handler that r would get and its pattern (*pattern may be NULL). */
GOC_API goc_http_handler goc_http_mux_lookup(goc_http_mux *m, goc_http_request *r,
                                             const char **pattern);
/* The default mux (http.DefaultServeMux) and its registrations. */
GOC_API goc_http_mux *goc_http_default_mux(void);
GOC_API int goc_http_handle(const char *pattern, goc_http_handler h);
GOC_API int goc_http_handle_func(const char *pattern, goc_http_handler_fn fn, void *arg);

/* ---- the server (http.Server) ------------------------------------------ */

typedef enum goc_http_conn_state {
    GOC_HTTP_STATE_NEW = 0,  /* accepted; no byte read yet */
    GOC_HTTP_STATE_ACTIVE,   /* a request's bytes are being read or answered */
    GOC_HTTP_STATE_IDLE,     /* between requests (keep-alive) */
    GOC_HTTP_STATE_HIJACKED, /* a handler took it over (terminal) */
    GOC_HTTP_STATE_CLOSED,   /* closed (terminal) */
} goc_http_conn_state;

/* Zero is a safe server. Durations: 0 means the default given, negative
 * means none. */
typedef struct goc_http_server_opts {
    goc_duration read_header_timeout; /* the request head, from its first
                                         byte; 0: 20 s (Go: none) */
    goc_duration read_timeout;        /* head and body; 0: none (as Go) */
    goc_duration write_timeout;       /* from the end of the head to the end
                                         of the response; 0: none (as Go);
                                         a client that stops reading is
                                         cut off by it */
    goc_duration idle_timeout;        /* keep-alive wait for the next request;
                                         0: 120 s */
    size_t max_header_bytes;          /* request head; 0: 1 MiB; more: 431 */
    const char *server_name;          /* the Server field on every response;
                                         NULL: none (as Go) */
    /* ConnState: called on the connection's goroutine at each change. */
    void (*conn_state)(int fd, goc_http_conn_state st, void *arg);
    void *conn_state_arg;
    /* ErrorLog: accept errors and handler misuse; NULL: stderr. */
    void (*error_log)(const char *msg, void *arg);
    void *error_log_arg;
    /* TLS: every connection speaks HTTPS with this server config
     * (retained by the server until goc_http_server_free); NULL: plain
     * HTTP, unless goc_http_server_serve_tls makes one from files. */
    goc_tls_config *tls;
} goc_http_server_opts;

typedef struct goc_http_server goc_http_server;

/* A server for handler h (h.fn NULL: the default mux); opts NULL or
 * zeroed: the safe defaults. NULL on ENOMEM. Any thread. */
GOC_API goc_http_server *goc_http_server_new(goc_http_handler h, const goc_http_server_opts *opts);
/* Accept on the listening fd lfd and serve each connection on its own
 * goroutine until shutdown or close: returns GOC_EHTTP_SERVER_CLOSED
 * then (as Go), or another negative errno from accept. Serve closes lfd
 * when it returns. Goroutine only. */
GOC_API int goc_http_server_serve(goc_http_server *s, int lfd);
/* goc_listen("tcp", addr) then serve. addr "" or NULL: ":http". */
GOC_API int goc_http_server_listen_and_serve(goc_http_server *s, const char *addr);
/* Serve HTTPS on lfd (ServeTLS): with a config made from cert_file and
 * key_file (PEM; ALPN "http/1.1"), or opts.tls if they are NULL (given
 * both, the files' certificate is added to opts.tls). Each connection's
 * handshake runs on its goroutine under the read-header timeout; a client
 * that sends plain HTTP gets Go's "400 Bad Request ... HTTP request to an
 * HTTPS server"; other handshake failures close it, with a line in the
 * error log. goc_http_hijack over TLS is -ENOTSUP. Returns as serve does,
 * or the config's error (GOC_ETLS_CERT, -ENOENT, -EINVAL). Goroutine only. */
GOC_API int goc_http_server_serve_tls(goc_http_server *s, int lfd, const char *cert_file,
                                      const char *key_file);
/* goc_listen("tcp", addr) then serve_tls. addr "" or NULL: ":https". */
GOC_API int goc_http_server_listen_and_serve_tls(goc_http_server *s, const char *addr,
                                                 const char *cert_file, const char *key_file);
/* Graceful shutdown: stop accepting, close idle connections, and wait
 * until every active one finished its request or ctx is done (then its
 * error, with the rest still running; call close to end them). 0 when all
 * are done. Serve returns GOC_EHTTP_SERVER_CLOSED. Goroutine only. */
GOC_API int goc_http_server_shutdown(goc_http_server *s, goc_ctx *ctx);
/* Close the listener and every connection at once (handlers see their
 * writes fail and their ctx cancelled). Returns when every connection
 * goroutine has ended. A hijacked connection's fd is its handler's: close
 * leaves it alone, and waits for that handler to return (Go's does not
 * wait). Goroutine only. */
GOC_API int goc_http_server_close(goc_http_server *s);
/* Free a server whose serve has returned and which has no connection
 * left (after shutdown or close). NULL ignored. */
GOC_API void goc_http_server_free(goc_http_server *s);
/* The address serve is listening on ("127.0.0.1:8080"), "" before. */
GOC_API const char *goc_http_server_addr(goc_http_server *s);

/* http.ListenAndServe(addr, handler) with a server of default options;
 * h NULL: the default mux. Returns only on an error. Goroutine only. */
GOC_API int goc_http_listen_and_serve(const char *addr, const goc_http_handler *h);
/* http.ListenAndServeTLS. Returns only on an error. Goroutine only. */
GOC_API int goc_http_listen_and_serve_tls(const char *addr, const char *cert, const char *key,
                                          const goc_http_handler *h);

/* ---- middleware: handler wrappers ---------------------------------------
 *
 * Each returns a handler whose arg is allocated for the program's life
 * (as a Go handler held by a mux); h.fn NULL on ENOMEM. Writing your own
 * takes a function that does its part and calls goc_http_serve_http(next,
 * w, r), with next in its arg. */
GOC_API goc_http_handler goc_http_strip_prefix(const char *prefix, goc_http_handler h);
/* After dt, answer 503 with msg (NULL: "<html>...Timeout...") and cancel
 * the request's ctx; writes by h after that fail with
 * GOC_EHTTP_HANDLER_TIMEOUT. h runs on its own goroutine, and the
 * wrapper waits for it before it returns (no goroutine outlives the
 * request). */
GOC_API goc_http_handler goc_http_timeout_handler(goc_http_handler h, goc_duration dt,
                                                  const char *msg);
GOC_API goc_http_handler goc_http_max_bytes_handler(goc_http_handler h, int64_t n);
/* Access log in nginx's "combined" format, one line per request, written
 * with one write(2) to out_fd (1: stdout). */
GOC_API goc_http_handler goc_http_access_log(goc_http_handler h, int out_fd);

/* gzip for responses (Content-Encoding: gzip), as nginx's gzip filter or
 * Go's gziphandler. Zero (or NULL opts) is the default for each member. */
typedef struct goc_http_gzip_opts {
    /* zlib level 1 (fastest) to 9 (smallest); 0: 1, nginx's default. A
     * server compresses every response on the request's path: on HTML and
     * source text level 1 runs about 3 times as fast as 6 for output about
     * a quarter larger (22% of the input against 18%). Precompress static
     * files (name.gz, which the FileServer sends as they are) for the best
     * ratio at no cost per request. Above 9: 9. */
    int level;
    /* A response shorter than this goes out as it is: a Content-Length
     * below it, or a body that ends below it before the handler's first
     * flush (up to this many bytes are held back to tell). 0: 1024. */
    size_t min_length;
    /* The MIME types compressed, a NULL-terminated list: "text/html", or
     * a whole top-level type as its name, a slash and a star ("text/"
     * then "*"). NULL: every text type, JSON, JavaScript, XML, SVG,
     * WebAssembly and the other text-like types (gzip.c). */
    const char *const *types;
} goc_http_gzip_opts;
/* Compress h's responses for clients that accept gzip (Accept-Encoding,
 * q-values and "*" counted) when their type (declared, or sniffed as the
 * server would) is listed and they are long enough. The response then has
 * Content-Encoding: gzip, no Content-Length, a weak ETag and no
 * Accept-Ranges. Every response of a listed type gets "Vary:
 * Accept-Encoding", compressed or not. Left as they are: responses the
 * handler encoded itself (any Content-Encoding), 1xx, 204, 206, 304,
 * bodies the handler marked "Cache-Control: no-transform", and requests
 * with Range. Streams: goc_http_flush on the wrapper sends what was
 * compressed so far (a zlib sync flush) and flushes the connection;
 * goc_http_sendfile reads and compresses. The compressor (~260 KiB) is
 * pooled between responses and every byte of it is given back when h
 * returns. opts is copied; h.fn NULL on ENOMEM. */
GOC_API goc_http_handler goc_http_gzip_handler(goc_http_handler h, const goc_http_gzip_opts *opts);

/* ---- files (http.FileServer) -------------------------------------------
 *
 * Never serves a byte outside root: "..", "%2e%2e" and symlinks that lead
 * out are refused (openat2 RESOLVE_BENEATH where the kernel has it).
 * Range (one and several), conditional requests (If-Match, If-None-Match,
 * If-Modified-Since, If-Unmodified-Since, If-Range), ETag and
 * Last-Modified, MIME types from /etc/mime.types, index.html, a directory
 * listing, sendfile, and "file.gz" when the client accepts gzip. */
GOC_API goc_http_handler goc_http_file_server(const char *root);
/* Serve the file at path (not confined to a root: the caller checks). */
GOC_API void goc_http_serve_file(goc_http_response_writer *w, goc_http_request *r,
                                 const char *path);
/* http.ServeContent over an open regular file fd (not closed): name gives
 * the MIME type by extension, modtime Last-Modified (0: none). */
GOC_API void goc_http_serve_content(goc_http_response_writer *w, goc_http_request *r,
                                    const char *name, time_t modtime, int fd);
/* The MIME type for a file name's extension ("text/html; charset=utf-8"),
 * or NULL. */
GOC_API const char *goc_http_mime_type(const char *name);

/* ---- proxies -------------------------------------------------------------
 *
 * Go's http.ProxyFromEnvironment (golang.org/x/net/http/httpproxy). Pure
 * functions: any thread. */
typedef struct goc_http_proxy_config {
    const char *http_proxy;  /* proxy for http:// URLs; NULL or "": none */
    const char *https_proxy; /* proxy for https:// URLs */
    const char *no_proxy;    /* hosts reached directly (see goc_http_proxy_for) */
    bool cgi;                /* running as a CGI script (REQUEST_METHOD set): an
                                http_proxy that applies is refused (httpoxy) */
} goc_http_proxy_config;

/* Fill cfg from HTTP_PROXY / http_proxy, HTTPS_PROXY / https_proxy,
 * NO_PROXY / no_proxy (the upper-case name first, an empty value counts
 * as unset) and REQUEST_METHOD. The strings are the environment's: valid
 * until it changes. */
GOC_API void goc_http_proxy_config_from_env(goc_http_proxy_config *cfg);
/* The proxy for a request to u. 0 with *proxy NULL: connect directly; 0
 * with *proxy a new URL (goc_url_free it): use that proxy; -EINVAL: the
 * proxy value that applies does not parse (the message names it);
 * -ENOTSUP: a socks5:// proxy applies (not supported yet); -EPERM: cfg->cgi
 * and http_proxy applies; -ENOMEM.
 *
 * Rules, as Go's: https URLs use https_proxy, http URLs http_proxy, other
 * schemes none. A proxy value without a scheme (or with one other than
 * http, https, socks5) is read as "http://" + value. Never proxied:
 * "localhost" and loopback IPs (127.0.0.0/8, ::1). no_proxy is a list of
 * entries separated by commas (or spaces), each lower-cased:
 *   "*"                 every host;
 *   "10.0.0.0/8", "fd00::/8"  IPs in a CIDR block;
 *   "1.2.3.4", "::1", "[::1]:80", "1.2.3.4:8080"  that IP (on that port);
 *   "foo.com", "foo.com:80"   foo.com and its subdomains (on that port);
 *   ".foo.com", "*.foo.com"   subdomains of foo.com only.
 * A URL's port is its own, else 80 (http), 443 (https). */
GOC_API int goc_http_proxy_for(const goc_http_proxy_config *cfg, const goc_url *u, goc_url **proxy);

/* ---- cookies (net/http/cookiejar) ----------------------------------------
 *
 * Go's cookiejar.Jar (RFC 6265) without a public suffix list: cookies are
 * kept per "site" (a host's last two labels, or the IP), so a.foo.com
 * and b.foo.com share domain cookies and foo.com cannot set them for
 * bar.com; but foo.co.uk can set one for co.uk (what a public suffix list
 * would refuse). Set-Cookie values are read as Go's readSetCookies does;
 * invalid ones are dropped. Host-only cookies (no Domain) go back to
 * their host only; a Domain must domain-match the host and makes a
 * cookie for the domain and its subdomains; a cookie from an IP host is
 * host-only. Path defaults to the request path's directory; a cookie
 * goes to its path and the paths below it. Secure cookies go over https
 * only (or to localhost and loopback IPs). Max-Age wins over Expires;
 * Max-Age <= 0 or an Expires in the past deletes the cookie. Thread-safe:
 * a jar is locked by a goc_mutex (any thread or goroutine). */
typedef struct goc_http_cookie_jar goc_http_cookie_jar;
GOC_API goc_http_cookie_jar *goc_http_cookie_jar_new(void);    /* NULL on ENOMEM */
GOC_API void goc_http_cookie_jar_free(goc_http_cookie_jar *j); /* NULL ignored */
/* jar.SetCookies(u, cookies): set_cookie[0, n) are the Set-Cookie field
 * values of a response to u (copied). URLs other than http and https are
 * ignored. 0 or -ENOMEM (the cookies before the failure are kept). */
GOC_API int goc_http_cookie_jar_set_cookies(goc_http_cookie_jar *j, const goc_url *u,
                                            const char *const *set_cookie, size_t n);
/* jar.Cookies(u) as the value of a Cookie field ("a=1; b=2"): the longest
 * path first, then the oldest; malloc'ed, or NULL if none (or ENOMEM). */
GOC_API char *goc_http_cookie_jar_cookies(goc_http_cookie_jar *j, const goc_url *u);

/* What the client calls (http.CookieJar): a jar's own (below), or a
 * user's. The functions may be called from any thread, concurrently. */
typedef struct goc_http_cookie_store {
    int (*set_cookies)(void *arg, const goc_url *u, const char *const *set_cookie, size_t n);
    char *(*cookies)(void *arg, const goc_url *u); /* malloc'ed, or NULL */
    void *arg;
} goc_http_cookie_store;
/* j as a store (arg is j; j must outlive the store's use). */
GOC_API goc_http_cookie_store goc_http_cookie_jar_store(goc_http_cookie_jar *j);

/* ---- observability -------------------------------------------------------
 *
 * Counters over every server of the process, cheap enough to be always
 * on (per-worker, summed when read). */
#define GOC_HTTP_LATENCY_BUCKETS 16
typedef struct goc_http_stats {
    uint64_t conns_accepted;
    uint64_t conns_open;      /* now */
    uint64_t conns_idle;      /* now: keep-alive, waiting */
    uint64_t requests;        /* answered */
    uint64_t requests_active; /* now: in a handler */
    uint64_t status[6];       /* by class: [1] 1xx ... [5] 5xx; [0] none
                                 (the connection closed first) */
    uint64_t rejected;        /* refused by the parser (4xx/5xx, closed) */
    uint64_t bytes_in, bytes_out;
    /* Request latency (first byte of the head to the end of the reply):
     * count of requests with latency <= goc_http_latency_bound(i) (and above
     * the previous bound); the last bucket is unbounded. */
    uint64_t latency[GOC_HTTP_LATENCY_BUCKETS];
    uint64_t latency_sum_ns;
} goc_http_stats;

GOC_API void goc_http_stats_read(goc_http_stats *st);
/* Upper bound in nanoseconds of latency bucket i (INT64_MAX for the last). */
GOC_API int64_t goc_http_latency_bound(int i);
/* GET /metrics: Prometheus text format 0.0.4 (goc_http_* and goc_go_*
 * families: the runtime's goroutines and threads beside the HTTP ones). */
GOC_API goc_http_handler goc_http_metrics_handler(void);
/* The live stats page: HTML that polls "?json" once a second and draws
 * requests/s and p50/p99 latency over the last minute. Mount anywhere. */
GOC_API goc_http_handler goc_http_stats_handler(void);

/* ---- the client (http.Client, http.Transport) ---------------------------
 *
 *     goc_http_response *resp;
 *     int rc = goc_http_get("http://127.0.0.1:8080/plaintext", &resp);
 *     if (rc < 0)
 *         return fprintf(stderr, "%s\n", goc_errmsg()), 1;
 *     char buf[4096];
 *     ssize_t n;
 *     while ((n = goc_http_response_read(resp, buf, sizeof buf)) > 0)
 *         fwrite(buf, 1, n, stdout);
 *     goc_http_response_free(resp); // Body.Close: the connection goes back to the pool
 *
 * Go's names, mapped: http.Get / Post / Client.Do → goc_http_get /
 * goc_http_post / goc_http_client_do; http.NewRequestWithContext →
 * goc_http_new_request; req.Header → goc_http_client_request_header;
 * resp.Body.Read / Close → goc_http_response_read / goc_http_response_free;
 * Transport.CloseIdleConnections → goc_http_client_close_idle.
 *
 * A status >= 400 is a response, not an error (as Go). Errors: negative
 * errno values (-ECONNREFUSED, -ETIMEDOUT, -ECANCELED, GOC_ENOTFOUND, ...),
 * the GOC_EHTTP_* codes below and goc/tls.h's GOC_ETLS_* ones; goc_errmsg()
 * names the request ("Get \"http://h/\": dial tcp 127.0.0.1:1: connection
 * refused").
 *
 * Threads: a client is shared by any number of goroutines (and threads);
 * a request or a response belongs to one goroutine at a time. */

#define GOC_EHTTP_TOO_MANY_REDIRECTS (-3110) /* http: stopped after 10 redirects */
#define GOC_EHTTP_UNEXPECTED_EOF                                                                   \
    (-3111) /* http: unexpected EOF (a body shorter than its Content-Length, or the connection     \
               closed mid-response) */
#define GOC_EHTTP_HEADER_TOO_LARGE   (-3112) /* http: server response headers exceeded the limit */
#define GOC_EHTTP_UNSUPPORTED_SCHEME (-3113) /* http: unsupported protocol scheme */
#define GOC_EHTTP_PROXY              (-3114) /* http: the proxy refused the CONNECT tunnel */
#define GOC_EHTTP_USE_LAST_RESPONSE                                                                \
    (-3115) /* check_redirect's answer: stop and return the redirect itself (ErrUseLastResponse)   \
             */
#define GOC_EHTTP_BODY_NOT_REPLAYABLE                                                              \
    (-3116) /* http: a redirect or retry needs the request body again and it cannot be re-read */

typedef struct goc_tls_config goc_tls_config; /* goc/tls.h */
typedef struct goc_http_cookie_store goc_http_cookie_store;
typedef struct goc_http_client goc_http_client;
typedef struct goc_http_client_request goc_http_client_request;

/* A response (http.Response). Members are read-only; strings are valid
 * until goc_http_response_free. */
typedef struct goc_http_response {
    int status_code;    /* 200 */
    const char *status; /* "200 OK" */
    const char *proto;  /* "HTTP/1.1" */
    int proto_major, proto_minor;
    goc_http_header *header;  /* fields in the order and spelling received */
    goc_http_header *trailer; /* a chunked body's trailer, once read to the end */
    int64_t content_length;   /* -1: unknown (chunked, close-delimited, or
                                 decompressed) */
    bool uncompressed;        /* the body was gzip and is handed over decoded
                                 (Content-Encoding and -Length removed) */
    const char *url;          /* the URL that answered (after redirects) */
    struct goc__http_cresp *priv_;
} goc_http_response;

/* Client options: zero is a safe client. Durations: 0 means the default
 * given, negative means none. */
typedef struct goc_http_client_opts {
    goc_duration timeout;                 /* the whole exchange, redirects and
                                             reading the body included
                                             (Client.Timeout); 0: none */
    goc_duration stall_timeout;           /* the longest wait for the next byte
                                             of a response, head or body (goc's
                                             own: Go's DefaultClient can wait
                                             forever); 0: 30 s */
    goc_duration dial_timeout;            /* 0: 30 s (Go's DefaultTransport) */
    goc_duration tls_handshake_timeout;   /* 0: 10 s */
    goc_duration response_header_timeout; /* from the request written to the
                                             response head; 0: none beyond
                                             stall_timeout */
    goc_duration expect_continue_timeout; /* wait for "100 Continue" before
                                             sending the body anyway; 0: 1 s */
    goc_duration idle_conn_timeout;       /* keep-alive connections unused this
                                             long are closed; 0: 90 s */
    /* Idle connections kept per host: 0: 128. Go's default of 2 makes a
     * service that talks to one backend from many goroutines close and
     * redial all but two of its connections after every burst (and fill
     * the port range with TIME_WAIT): keep as many as it uses. */
    int max_idle_per_host;
    int max_idle;                     /* in all; 0: 1024 */
    int max_conns_per_host;           /* dialing, active and idle; more callers wait
                                         for one (or their ctx); 0: no limit */
    size_t max_response_header_bytes; /* 0: 1 MiB; more: GOC_EHTTP_HEADER_TOO_LARGE */
    int max_redirects;                /* 0: 10; negative: follow none */
    bool disable_keep_alives;
    bool disable_compression; /* do not ask for gzip */
    /* Proxy: NULL: from the environment (HTTP_PROXY, HTTPS_PROXY,
     * NO_PROXY, as Go's ProxyFromEnvironment); "" none; else this URL. */
    const char *proxy;
    goc_tls_config *tls; /* NULL: verify against the system's roots */
    /* CheckRedirect: called before following a redirect to url (nvia:
     * requests made so far). 0 follows; GOC_EHTTP_USE_LAST_RESPONSE
     * returns the redirect response; another negative value is returned as
     * the error. NULL: Go's default (stop after max_redirects). */
    int (*check_redirect)(goc_http_client_request *next, const char *url, int nvia, void *arg);
    void *check_redirect_arg;
    const goc_http_cookie_store *jar; /* NULL: no cookies kept */
    const char *user_agent;           /* NULL: "goc-http-client/1.1" */
} goc_http_client_opts;

/* A client. NULL on ENOMEM. Any thread. */
GOC_API goc_http_client *goc_http_client_new(const goc_http_client_opts *opts);
/* Close its idle connections and free it: no request may be in flight. */
GOC_API void goc_http_client_free(goc_http_client *c);
/* http.DefaultClient, with the defaults above (never freed). */
GOC_API goc_http_client *goc_http_default_client(void);
/* Close the connections idle now (Transport.CloseIdleConnections). */
GOC_API void goc_http_client_close_idle(goc_http_client *c);

/* http.NewRequestWithContext: method NULL or "" is GET; ctx NULL is the
 * background (the request retains ctx). 0 or -EINVAL (a method that is
 * not a token, a URL that does not parse: goc_errmsg says why), -ENOMEM. */
GOC_API int goc_http_new_request(goc_ctx *ctx, const char *method, const char *url,
                                 goc_http_client_request **out);
GOC_API void goc_http_client_request_free(goc_http_client_request *req);
/* The header sent (Host from the URL unless set here; User-Agent unless
 * set; Accept-Encoding: gzip unless set or compression is disabled). */
GOC_API goc_http_header *goc_http_client_request_header(goc_http_client_request *req);
/* A body from memory: data is borrowed until the request is freed (it
 * can be sent again: redirects 307/308, retries). 0 or -EINVAL. */
GOC_API int goc_http_client_request_set_body(goc_http_client_request *req, const void *data,
                                             size_t len);
/* A body from a reader: read(arg, buf, n) returns a count, 0 at its end,
 * or a negative errno. length -1: unknown (sent chunked). rewind(arg)
 * starts it over for a redirect or retry (0 or a negative errno); NULL:
 * not replayable. */
GOC_API int goc_http_client_request_set_body_reader(goc_http_client_request *req,
                                                    ssize_t (*read)(void *arg, void *buf, size_t n),
                                                    int (*rewind)(void *arg), void *arg,
                                                    int64_t length);
/* A body of length bytes of the file fd from offset (borrowed; sent with
 * sendfile over plain TCP). Replayable. */
GOC_API int goc_http_client_request_set_body_fd(goc_http_client_request *req, int fd, off_t offset,
                                                int64_t length);
/* req.SetBasicAuth. 0 or -ENOMEM. */
GOC_API int goc_http_client_request_set_basic_auth(goc_http_client_request *req, const char *user,
                                                   const char *password);

/* Client.Do: send req, follow redirects, and return the response once its
 * head arrived; the body is read with goc_http_response_read. 0 and
 * *resp, or a negative errno (no response). The request may be freed or
 * reused once this returns. Goroutine or thread. */
GOC_API int goc_http_client_do(goc_http_client *c, goc_http_client_request *req,
                               goc_http_response **resp);
/* Client.Get / http.Get / http.Post (the default client). */
GOC_API int goc_http_client_get(goc_http_client *c, const char *url, goc_http_response **resp);
GOC_API int goc_http_get(const char *url, goc_http_response **resp);
GOC_API int goc_http_post(const char *url, const char *content_type, const void *body, size_t len,
                          goc_http_response **resp);

/* Read up to n bytes of the body: the count, 0 at its end, or a negative
 * errno (-ETIMEDOUT past a timeout, the ctx's error, GOC_EHTTP_MALFORMED
 * for bad chunking or gzip, GOC_EHTTP_UNEXPECTED_EOF for a body cut
 * short). A body never ends early without an error. */
GOC_API ssize_t goc_http_response_read(goc_http_response *r, void *buf, size_t n);
/* The whole (rest of the) body in *data (malloc'ed, NUL-terminated, for
 * free()), its length in *len (may be NULL). More than max bytes:
 * GOC_EHTTP_BODY_TOO_LARGE and nothing is returned. */
GOC_API int goc_http_response_read_all(goc_http_response *r, char **data, size_t *len, size_t max);
/* Body.Close and free: a connection whose response was read to its end
 * goes back to the pool; one with body bytes left is closed. NULL
 * ignored. */
GOC_API void goc_http_response_free(goc_http_response *r);

#ifdef __cplusplus
}
#endif
#endif /* GOC_HTTP_H */
