/*
 * httpd.c — the HTTP/1.1 server that users and outside tests run: a mux of
 * demo routes over goc's net/http-style server.
 *
 *   build/examples/httpd [-addr HOST:PORT] [-root DIR] [-log] [-gzip] [-header-timeout D]
 *                        [-tls-cert FILE -tls-key FILE]
 *
 * The command line and the routes are a fixed interface (outside tests
 * drive them): -addr defaults to 127.0.0.1:8080 (":0" picks a free port),
 * -root to the demo site www/ of the source tree (else ./www). Once the
 * socket listens, the line "listening on http://HOST:PORT" goes to stdout
 * with the port actually bound, then one with the page's URLs, flushed.
 * SIGINT or SIGTERM starts a graceful shutdown (idle connections close,
 * active requests finish, at most 10 s), then the program exits 0. -log
 * writes an access log (combined format) to stdout; -gzip compresses the
 * responses of text types for clients that accept it (goc_http_gzip_handler
 * around the whole mux, inside the access log, which then counts the
 * compressed bytes as nginx's $body_bytes_sent does); -header-timeout sets
 * how long a request head may take to arrive (default 20 s), which is
 * what cuts slowloris connections off. -tls-cert and -tls-key (PEM files,
 * both or neither) serve HTTPS instead: the line then says
 * "listening on https://HOST:PORT"; SIGHUP re-reads both files without a
 * restart (a bad file keeps the old certificate and says why on stderr).
 *
 * Shape: main parses flags and calls goc_run. The main goroutine builds
 * the mux and the server, listens, starts one goroutine that runs
 * goc_http_server_serve, then waits on a select over the signal channel
 * and that goroutine's result channel. Handlers keep nothing beyond their
 * request: every buffer they allocate is freed before they return, and
 * waits (/stream, /sleep) end early when the client goes away, through the
 * request's context.
 *
 * Routes: GET / (root/index.html), GET /plaintext, /echo (any method),
 * /static/... (a FileServer over root), GET /stream?n=N&ms=M,
 * GET /sleep?ms=N, GET /debug/stats, GET /metrics.
 */
#include <goc.h>
#include <goc/http.h>

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#ifndef GOC_HTTPD_WWW
#define GOC_HTTPD_WWW "www"
#endif

#define ECHO_MAX_BODY    ((size_t)16 << 20) /* /echo answers 413 past this */
#define STREAM_MAX_N     10000              /* /stream chunks */
#define STREAM_MAX_MS    60000              /* /stream pause between chunks */
#define SLEEP_MAX_MS     600000             /* /sleep */
#define SHUTDOWN_TIMEOUT (10 * GOC_SECOND)

typedef struct config {
    const char *addr;
    const char *root;
    const char *tls_cert, *tls_key;
    bool access_log;
    bool gzip;
    goc_duration header_timeout; /* 0: the server's default */
} config;

static char index_path[PATH_MAX]; /* root/index.html, for GET / */

/* ---- small helpers ---------------------------------------------------------- */

/* A query parameter as an integer clamped to [0, max]; def when absent or
 * not a number. */
static long query_long(goc_http_request *r, const char *name, long def, long max)
{
    const char *s = goc_http_query_get(r, name);
    if (!s || !*s)
        return def;
    char *end;
    long v = strtol(s, &end, 10);
    if (*end != '\0')
        return def;
    return v < 0 ? 0 : v > max ? max : v;
}

/* Park for ms milliseconds, or less if the request's context is cancelled
 * (the client went away). true if the whole wait passed. */
static bool wait_ms(goc_http_request *r, long ms)
{
    goc_ctx *ctx = goc_http_request_ctx(r);
    if (ms <= 0) /* goc_select with timeout 0 polls: -EAGAIN, not -ETIMEDOUT */
        return goc_ctx_err(ctx) == 0;
    goc_case c = GOC_RECV(goc_ctx_done(ctx), NULL);
    return goc_select(&c, 1, ms * GOC_MILLISECOND) == -ETIMEDOUT;
}

/* ---- a growable buffer and base64, for /echo --------------------------------- */

typedef struct buf {
    char *p;
    size_t len, cap;
    bool failed; /* an allocation failed: the contents are incomplete */
} buf;

static bool buf_reserve(buf *b, size_t more)
{
    if (b->failed)
        return false;
    if (b->len + more <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + more)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
        b->failed = true;
        return false;
    }
    b->p = p;
    b->cap = cap;
    return true;
}

static void buf_puts(buf *b, const char *s)
{
    size_t n = strlen(s);
    if (buf_reserve(b, n)) {
        memcpy(b->p + b->len, s, n);
        b->len += n;
    }
}

/* Append s (n bytes) base64-encoded (RFC 4648, padded) inside quotes: a
 * JSON string that needs no escaping, whatever bytes the client sent. */
static void buf_base64(buf *b, const void *s, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *in = s;
    if (!buf_reserve(b, (n + 2) / 3 * 4 + 2))
        return;
    char *o = b->p + b->len;
    *o++ = '"';
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16;
        if (i + 1 < n)
            v |= (unsigned)in[i + 1] << 8;
        if (i + 2 < n)
            v |= in[i + 2];
        *o++ = tab[v >> 18 & 63];
        *o++ = tab[v >> 12 & 63];
        *o++ = i + 1 < n ? tab[v >> 6 & 63] : '=';
        *o++ = i + 2 < n ? tab[v & 63] : '=';
    }
    *o++ = '"';
    b->len = (size_t)(o - b->p);
}

static void buf_base64_str(buf *b, const char *s)
{
    buf_base64(b, s, strlen(s));
}

/* ---- handlers ------------------------------------------------------------------ */

static void handle_index(goc_http_response_writer *w, goc_http_request *r, void *arg)
{
    (void)arg;
    goc_http_serve_file(w, r, index_path);
}

/* The benchmark route: as small as a response gets, with the fields that
 * TechEmpower's plaintext test asks for (Server comes from the server's
 * options, Date from the server). */
static void handle_plaintext(goc_http_response_writer *w, goc_http_request *r, void *arg)
{
    (void)r, (void)arg;
    goc_http_header *h = goc_http_response_header(w);
    goc_http_header_set(h, "Content-Type", "text/plain");
    goc_http_header_set(h, "Content-Length", "13");
    goc_http_write(w, "Hello, World!", 13);
}

/* The request as the server understood it, every string base64 so that
 * any byte survives JSON: tests compare it with what they sent. */
static void handle_echo(goc_http_response_writer *w, goc_http_request *r, void *arg)
{
    (void)arg;
    char *body = NULL;
    size_t body_len = 0;
    int err = goc_http_body_read_all(r, &body, &body_len, ECHO_MAX_BODY);
    if (err == GOC_EHTTP_BODY_TOO_LARGE) {
        goc_http_error(w, "request body too large", 413);
        return;
    }
    if (err < 0) {
        goc_http_error(w, goc_strerror(err), 400);
        return;
    }
    buf b = {0};
    buf_puts(&b, "{\"method\":");
    buf_base64_str(&b, r->method);
    buf_puts(&b, ",\"uri\":");
    buf_base64_str(&b, r->target);
    buf_puts(&b, ",\"version\":");
    buf_base64_str(&b, r->proto);
    buf_puts(&b, ",\"headers\":[");
    size_t n = goc_http_header_len(r->header);
    for (size_t i = 0; i < n; i++) {
        const char *name, *value;
        goc_http_header_at(r->header, i, &name, &value);
        buf_puts(&b, i ? ",[" : "[");
        buf_base64_str(&b, name);
        buf_puts(&b, ",");
        buf_base64_str(&b, value);
        buf_puts(&b, "]");
    }
    buf_puts(&b, "],\"body\":");
    buf_base64(&b, body, body_len);
    buf_puts(&b, "}\n");
    free(body);
    if (b.failed) {
        goc_http_error(w, "out of memory", 500);
    } else {
        goc_http_header_set(goc_http_response_header(w), "Content-Type", "application/json");
        goc_http_write(w, b.p, b.len);
    }
    free(b.p);
}

/* n chunks (default 5), each flushed at once, ms (default 100) apart: a
 * client sees them arrive one by one (chunked transfer coding). */
static void handle_stream(goc_http_response_writer *w, goc_http_request *r, void *arg)
{
    (void)arg;
    long n = query_long(r, "n", 5, STREAM_MAX_N);
    long ms = query_long(r, "ms", 100, STREAM_MAX_MS);
    goc_http_header *h = goc_http_response_header(w);
    goc_http_header_set(h, "Content-Type", "text/plain; charset=utf-8");
    goc_http_header_set(h, "X-Content-Type-Options", "nosniff");
    for (long i = 0; i < n; i++) {
        if (i > 0 && !wait_ms(r, ms))
            return; /* the client went away */
        if (goc_http_printf(w, "chunk %ld of %ld\n", i + 1, n) < 0 || goc_http_flush(w) < 0)
            return;
    }
}

static void handle_sleep(goc_http_response_writer *w, goc_http_request *r, void *arg)
{
    (void)arg;
    long ms = query_long(r, "ms", 100, SLEEP_MAX_MS);
    if (!wait_ms(r, ms))
        return;
    goc_http_header_set(goc_http_response_header(w), "Content-Type", "text/plain");
    goc_http_printf(w, "slept %ld ms\n", ms);
}

/* ---- the server ------------------------------------------------------------------ */

static int add_routes(goc_http_mux *m, const config *cfg)
{
    goc_http_handler files = goc_http_strip_prefix("/static", goc_http_file_server(cfg->root));
    if (!files.fn)
        return -ENOMEM;
    struct {
        const char *pattern;
        goc_http_handler h;
    } routes[] = {
        {"GET /{$}", {handle_index, NULL}},
        {"GET /plaintext", {handle_plaintext, NULL}},
        {"/echo", {handle_echo, NULL}},
        {"/static/", files},
        {"GET /stream", {handle_stream, NULL}},
        {"GET /sleep", {handle_sleep, NULL}},
        {"GET /debug/stats", goc_http_stats_handler()},
        {"GET /metrics", goc_http_metrics_handler()},
    };
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        int err = goc_http_mux_handle(m, routes[i].pattern, routes[i].h);
        if (err < 0) {
            fprintf(stderr, "httpd: route %s: %s\n", routes[i].pattern, goc_errmsg());
            return err;
        }
    }
    return 0;
}

/* "http://HOST:PORT" of the bound socket lfd into out: the real port when
 * -addr asked for :0, brackets around an IPv6 host. */
static void listen_url(int lfd, const char *scheme, char *out, size_t n)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    char host[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (getsockname(lfd, (struct sockaddr *)&ss, &len) == 0) {
        if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
            inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
            port = ntohs(a->sin6_port);
            snprintf(out, n, "%s://[%s]:%d", scheme, host, port);
            return;
        }
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
        port = ntohs(a->sin_port);
    }
    snprintf(out, n, "%s://%s:%d", scheme, host, port);
}

typedef struct serving {
    goc_http_server *srv;
    int lfd;
    goc_chan *done; /* one int: serve's result */
} serving;

static void serve_goroutine(void *arg)
{
    serving *s = arg;
    int err = goc_http_server_serve(s->srv, s->lfd);
    goc_chan_send(s->done, &err);
}

/* Shut srv down gracefully within SHUTDOWN_TIMEOUT, then close what is
 * left. 0 if every request finished in time. */
static int drain(goc_http_server *srv)
{
    goc_ctx *ctx = goc_ctx_with_timeout(goc_ctx_background(), SHUTDOWN_TIMEOUT);
    int err = ctx ? goc_http_server_shutdown(srv, ctx) : -ENOMEM;
    goc_ctx_release(ctx);
    if (err < 0) {
        fprintf(stderr, "httpd: shutdown: %s; closing the remaining connections\n",
                goc_strerror(err));
        goc_http_server_close(srv);
    }
    return err;
}

/* Serve on lfd until a signal (then drain, 0) or a serve error (1). */
/* SIGHUP re-reads the certificate and key (tls, if serving HTTPS): new
 * handshakes use them; a bad file keeps the old ones and says why. */
static int serve_until_signal(goc_http_server *srv, int lfd, goc_tls_config *tls)
{
    static const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
    goc_chan *sigc = goc_chan_make(sizeof(int), 3);
    serving s = {srv, lfd, goc_chan_make(sizeof(int), 1)};
    if (!sigc || !s.done || goc_signal_notify(sigc, sigs, 3) < 0 ||
        goc_go(serve_goroutine, &s) < 0) {
        fprintf(stderr, "httpd: %s\n", goc_errmsg());
        return 1; /* exiting: the runtime reclaims the rest */
    }
    int sig = 0, err = 0, status = 0;
    goc_case cases[] = {GOC_RECV(sigc, &sig), GOC_RECV(s.done, &err)};
    int which;
    while ((which = goc_select(cases, 2, GOC_FOREVER)) == 0 && sig == SIGHUP) {
        int rc = tls ? goc_tls_config_reload(tls) : 0;
        if (rc < 0)
            fprintf(stderr, "httpd: reload: %s (the old certificate stays)\n", goc_errmsg());
        else if (tls)
            fprintf(stderr, "httpd: certificate reloaded\n");
    }
    if (which == 0) {
        drain(srv); /* serve returns GOC_EHTTP_SERVER_CLOSED */
        goc_chan_recv(s.done, &err);
    } else {
        fprintf(stderr, "httpd: serve: %s\n", goc_strerror(err));
        status = 1;
    }
    goc_signal_stop(sigc);
    goc_chan_release(sigc);
    goc_chan_release(s.done);
    return status;
}

/* The routes live as long as the program, as a Go handler held by a mux
 * does: the middleware wrappers allocate their state for the program's
 * life, and these static roots keep all of it reachable for leak
 * checkers. */
static goc_http_mux *mux;
static goc_http_handler app; /* the mux, wrapped in gzip with -gzip, then the access
                                log with -log */

static int run_server(void *arg)
{
    const config *cfg = arg;
    mux = goc_http_mux_new();
    if (!mux || add_routes(mux, cfg) < 0)
        return 1;
    app = goc_http_mux_handler(mux);
    if (cfg->gzip)
        app = goc_http_gzip_handler(app, NULL);
    if (cfg->access_log && app.fn)
        app = goc_http_access_log(app, 1);
    goc_http_server_opts opts = {.server_name = "goc", .read_header_timeout = cfg->header_timeout};
    if (cfg->tls_cert) {
        goc_tls_opts to = {.alpn = "http/1.1"};
        opts.tls = goc_tls_server_config_new(cfg->tls_cert, cfg->tls_key, &to, NULL);
        if (!opts.tls) {
            fprintf(stderr, "httpd: %s\n", goc_errmsg());
            return 1;
        }
    }
    goc_http_server *srv = app.fn ? goc_http_server_new(app, &opts) : NULL;
    if (!srv) {
        fprintf(stderr, "httpd: out of memory\n");
        return 1;
    }
    int lfd = goc_listen("tcp", cfg->addr);
    if (lfd < 0) {
        fprintf(stderr, "httpd: %s\n", goc_errmsg());
        return 1;
    }
    char url[128];
    listen_url(lfd, cfg->tls_cert ? "https" : "http", url, sizeof url);
    printf("listening on %s\n", url);
    printf("  the demo page: %s/  live stats: %s/debug/stats  (Ctrl-C stops)\n", url, url);
    fflush(stdout);
    int status = serve_until_signal(srv, lfd, opts.tls);
    if (status == 0)
        goc_http_server_free(srv);    /* serve has returned, every connection ended */
    goc_tls_config_release(opts.tls); /* the server held its own reference */
    return status;
}

/* ---- the command line ------------------------------------------------------------- */

static _Noreturn void usage(void)
{
    fprintf(stderr,
            "usage: httpd [-addr HOST:PORT] [-root DIR] [-log] [-gzip] [-header-timeout D]\n"
            "             [-tls-cert FILE -tls-key FILE]\n"
            "  -addr            address to listen on (default 127.0.0.1:8080; :0 picks a "
            "port)\n"
            "  -root            directory served under /static/ (default: the demo site)\n"
            "  -log             access log (combined format) on stdout\n"
            "  -gzip            gzip responses of text types (HTML, CSS, JS, JSON, ...)\n"
            "                   for clients that accept it\n"
            "  -header-timeout  time allowed for a request head, e.g. 2s, 500ms "
            "(default 20s)\n"
            "  -tls-cert, -tls-key  serve HTTPS with this certificate chain and key (PEM)\n");
    exit(2);
}

/* A Go-style duration ("2s", "500ms", "1m", "1.5s") in nanoseconds, or -1. */
static goc_duration parse_duration(const char *s)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || v < 0)
        return -1;
    double unit = strcmp(end, "ms") == 0   ? 1e6
                  : strcmp(end, "s") == 0  ? 1e9
                  : strcmp(end, "m") == 0  ? 60e9
                  : strcmp(end, "us") == 0 ? 1e3
                                           : -1;
    return unit < 0 ? -1 : (goc_duration)(v * unit);
}

/* The demo site: the source tree's www/ when this binary was built from
 * one that still exists, else ./www. */
static const char *default_root(void)
{
    struct stat st;
    if (stat(GOC_HTTPD_WWW, &st) == 0 && S_ISDIR(st.st_mode))
        return GOC_HTTPD_WWW;
    return "www";
}

/* Set the flag f (one that takes a value) to v; false if f is unknown or
 * v is not a valid value for it. */
static bool set_flag(config *cfg, const char *f, const char *v)
{
    if (strcmp(f, "-addr") == 0)
        cfg->addr = v;
    else if (strcmp(f, "-root") == 0)
        cfg->root = v;
    else if (strcmp(f, "-tls-cert") == 0)
        cfg->tls_cert = v;
    else if (strcmp(f, "-tls-key") == 0)
        cfg->tls_key = v;
    else if (strcmp(f, "-header-timeout") == 0)
        return (cfg->header_timeout = parse_duration(v)) > 0;
    else
        return false;
    return true;
}

static void parse_flags(int argc, char **argv, config *cfg)
{
    for (int i = 1; i < argc; i++) {
        /* Go's flag package accepts -name and --name alike. */
        const char *f = argv[i][0] == '-' && argv[i][1] == '-' ? argv[i] + 1 : argv[i];
        if (strcmp(f, "-log") == 0)
            cfg->access_log = true;
        else if (strcmp(f, "-gzip") == 0)
            cfg->gzip = true;
        else if (i + 1 < argc && set_flag(cfg, f, argv[i + 1]))
            i++;
        else
            usage();
    }
}

int main(int argc, char **argv)
{
    config cfg = {.addr = "127.0.0.1:8080", .root = default_root()};
    parse_flags(argc, argv, &cfg);
    if (!cfg.tls_cert != !cfg.tls_key)
        usage(); /* a certificate needs its key */
    snprintf(index_path, sizeof index_path, "%s/index.html", cfg.root);
    int rc = goc_run(run_server, &cfg);
    return rc < 0 ? 1 : rc;
}
