/*
 * main.c — the gateway program.
 *
 *     gateway -config FILE          serve; prints "listening on http://HOST:PORT"
 *     gateway -check -config FILE   check FILE: "FILE: ok", or the line and
 *                                   the reason, exit 1 (as nginx -t)
 *
 * Signals: SIGHUP re-reads the file: a good one replaces the routes and
 * upstreams for the requests that start after it (those in flight finish
 * on the old ones, no connection is dropped); a bad one is reported and
 * the old configuration stays. SIGTERM or SIGINT drains: the listeners
 * close, requests in flight finish (up to shutdown_timeout), then exit 0.
 *
 * The listen and admin addresses and TLS files are read at start only (a
 * reload that changes them says so and keeps the old ones).
 */
#include "state.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <goc/tls.h>

typedef struct flags {
    const char *config;
    bool check;
} flags;

static gw_gateway gw; /* the program's: static, so leak checkers see it */

static void root(goc_http_response_writer *w, goc_http_request *r, void *arg)
{
    gw_gateway *g = arg;
    gw_state *st = gw_state_acquire(g);
    goc_http_serve_http(goc_http_mux_handler(st->mux), w, r);
    gw_state_release(g, st);
}

static void targets_json(gw_buf *b, const char *upstream, void *arg)
{
    gw_gateway *g = arg;
    gw_state *st = gw_state_acquire(g);
    for (size_t i = 0; st && i < st->nups; i++)
        if (strcmp(st->ups[i]->name, upstream) == 0) {
            gw_upstream_targets_json(st->ups[i], b);
            gw_state_release(g, st);
            return;
        }
    if (st)
        gw_state_release(g, st);
    gw_buf_puts(b, "[]");
}

static void listen_url(int lfd, const char *scheme, char *out, size_t n)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    char host[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (getsockname(lfd, (struct sockaddr *)&ss, &len) == 0 && ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
        snprintf(out, n, "%s://[%s]:%d", scheme, host, ntohs(a->sin6_port));
        return;
    }
    if (ss.ss_family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
        port = ntohs(a->sin_port);
    }
    snprintf(out, n, "%s://%s:%d", scheme, host, port);
}

typedef struct serving {
    goc_http_server *srv;
    int lfd;
    goc_chan *done; /* serve's result (int) */
} serving;

static void serve_main(void *arg)
{
    serving *s = arg;
    int err = goc_http_server_serve(s->srv, s->lfd);
    goc_chan_send(s->done, &err);
}

static int start_server(serving *s, goc_http_handler h, const char *addr, goc_tls_config *tls,
                        const char *what)
{
    /* No Server field of ours on proxied answers: the upstream's passes
     * through (as with Go's ReverseProxy), and two would be one too many. */
    bool admin = strcmp(what, "admin") == 0;
    goc_http_server_opts o = {
        .read_header_timeout = 10 * GOC_SECOND,
        .idle_timeout = 120 * GOC_SECOND,
        .server_name = admin ? "goc-gateway" : NULL,
        .tls = tls,
    };
    s->srv = goc_http_server_new(h, &o);
    s->done = goc_chan_make(sizeof(int), 1);
    s->lfd = goc_listen("tcp", addr);
    if (!s->srv || !s->done || s->lfd < 0) {
        fprintf(stderr, "gateway: %s %s: %s\n", what, addr,
                s->lfd < 0 ? goc_errmsg() : "out of memory");
        return -1;
    }
    char url[128];
    listen_url(s->lfd, tls ? "https" : "http", url, sizeof url);
    if (strcmp(what, "listen") == 0)
        printf("listening on %s\n", url);
    else
        printf("admin (dashboard, /metrics) on %s/\n", url);
    fflush(stdout);
    return goc_go(serve_main, s);
}

static void reload(gw_gateway *g, const char *path)
{
    char err[512];
    gw_config *cfg;
    int rc = gw_config_load(path, &cfg, err, sizeof err);
    gw_state *st = NULL;
    if (rc == 0)
        rc = gw_state_build(g, cfg, &st, err, sizeof err);
    if (rc < 0) {
        fprintf(stderr, "gateway: reload failed, the old configuration stays: %s\n", err);
        return;
    }
    gw_state *old = gw_state_acquire(g);
    const gw_config *oc = old->cfg;
    if (strcmp(oc->listen, cfg->listen) != 0 ||
        (oc->admin && cfg->admin && strcmp(oc->admin, cfg->admin) != 0))
        fprintf(stderr, "gateway: reload: listen and admin addresses change only on restart\n");
    gw_state_release(g, old);
    gw_state_install(g, st);
    fprintf(stderr, "gateway: configuration reloaded from %s\n", path);
}

static void drain(goc_http_server *srv, goc_duration d)
{
    goc_ctx *ctx = goc_ctx_with_timeout(goc_ctx_background(), d);
    int err = ctx ? goc_http_server_shutdown(srv, ctx) : -ENOMEM;
    goc_ctx_release(ctx);
    if (err < 0) {
        fprintf(stderr, "gateway: shutdown: %s; closing the remaining connections\n",
                goc_strerror(err));
        goc_http_server_close(srv);
    }
}

static int make_clients(gw_gateway *g)
{
    goc_http_client_opts o;
    gw_client_opts(&o);
    g->plain = goc_http_client_new(&o);
    g->tls = goc_http_client_new(&o);
    return g->plain && g->tls ? 0 : -ENOMEM;
}

static int run(void *arg)
{
    const flags *f = arg;
    gw_gateway *g = &gw;
    char err[512];
    gw_config *cfg;
    if (gw_config_load(f->config, &cfg, err, sizeof err) < 0) {
        fprintf(stderr, "gateway: %s\n", err);
        return 1;
    }
    goc_http_cache_opts co = {.max_bytes = cfg->cache_bytes, .default_ttl = cfg->cache_ttl};
    g->cache = goc_http_cache_new(&co);
    if (make_clients(g) < 0 || !g->cache) {
        fprintf(stderr, "gateway: out of memory\n");
        return 1;
    }
    gw_state *st;
    if (gw_state_build(g, cfg, &st, err, sizeof err) < 0) {
        fprintf(stderr, "gateway: %s: %s\n", f->config, err);
        return 1;
    }
    gw_state_install(g, st);
    cfg = st->cfg;
    goc_tls_config *tls = NULL;
    if (cfg->tls_cert &&
        !(tls = goc_tls_server_config_new(cfg->tls_cert, cfg->tls_key,
                                          &(goc_tls_opts){.alpn = "http/1.1"}, NULL))) {
        fprintf(stderr, "gateway: tls: %s\n", goc_errmsg());
        return 1;
    }
    static const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
    goc_chan *sigc = goc_chan_make(sizeof(int), 4);
    if (!sigc || goc_signal_notify(sigc, sigs, 3) < 0)
        return 1;
    serving main_srv = {0}, admin = {0};
    if (start_server(&main_srv, (goc_http_handler){root, g}, cfg->listen, tls, "listen") < 0)
        return 1;
    if (cfg->admin &&
        start_server(&admin, gw_admin_handler(targets_json, g), cfg->admin, NULL, "admin") < 0)
        return 1;
    gw_etcd *etcd = NULL;
    if (cfg->netcd && gw_etcd_start(cfg->etcd_endpoints, cfg->netcd, cfg->etcd_prefix,
                                    gw_state_etcd_targets, g, &etcd) < 0)
        fprintf(stderr, "gateway: etcd: %s (following it in the background)\n", goc_errmsg());
    goc_duration shutdown = cfg->shutdown_timeout > 0 ? cfg->shutdown_timeout : 30 * GOC_SECOND;
    int sig = 0, serr = 0;
    goc_case cases[] = {GOC_RECV(sigc, &sig), GOC_RECV(main_srv.done, &serr)};
    int which;
    while ((which = goc_select(cases, 2, GOC_FOREVER)) == 0 && sig == SIGHUP)
        reload(g, f->config);
    if (which == 1) {
        fprintf(stderr, "gateway: serve: %s\n", goc_strerror(serr));
        return 1;
    }
    fprintf(stderr, "gateway: draining (%s)\n", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    drain(main_srv.srv, shutdown);
    goc_chan_recv(main_srv.done, &serr);
    if (admin.srv) {
        goc_http_server_close(admin.srv);
        goc_chan_recv(admin.done, &serr);
    }
    if (etcd)
        gw_etcd_stop(etcd);
    goc_signal_stop(sigc);
    /* Serving has ended: what the servers and channels hold goes (the
     * state, clients and cache stay reachable from gw until exit). */
    goc_http_server_free(main_srv.srv);
    goc_chan_release(main_srv.done);
    if (admin.srv) {
        goc_http_server_free(admin.srv);
        goc_chan_release(admin.done);
    }
    goc_chan_release(sigc);
    goc_tls_config_release(tls);
    fprintf(stderr, "gateway: stopped\n");
    return 0;
}

static _Noreturn void usage(void)
{
    fprintf(stderr, "usage: gateway [-check] -config FILE\n"
                    "  -config FILE  the YAML configuration (see gateway/README.md)\n"
                    "  -check        check the file and exit: 0 if it is valid, else 1 with\n"
                    "                the line and the reason\n");
    exit(2);
}

int main(int argc, char **argv)
{
    flags f = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] == '-' && a[1] == '-')
            a++; /* --config as -config, as Go's flag package */
        if (strcmp(a, "-check") == 0 || strcmp(a, "-t") == 0)
            f.check = true;
        else if (strcmp(a, "-config") == 0 && i + 1 < argc)
            f.config = argv[++i];
        else if (strncmp(a, "-config=", 8) == 0)
            f.config = a + 8;
        else
            usage();
    }
    if (!f.config)
        usage();
    if (f.check) {
        char err[512];
        gw_config *cfg;
        if (gw_config_load(f.config, &cfg, err, sizeof err) < 0) {
            fprintf(stderr, "gateway: %s\n", err);
            return 1;
        }
        gw_config_free(cfg);
        printf("gateway: %s: ok\n", f.config);
        return 0;
    }
    int rc = goc_run(run, &f);
    return rc == 0 ? 0 : 1;
}
