/*
 * server.c — the server: accept, a goroutine per connection, graceful
 * shutdown and close (Go's http.Server).
 *
 * Shutdown protocol (srv->mu orders it against the connections):
 *  1. shutting = true, the listener is closed: serve's accept fails and
 *     it returns GOC_EHTTP_SERVER_CLOSED.
 *  2. Every IDLE connection has its socket shut down (shutdown(2)): its
 *     goroutine's read ends and it closes. A connection turns IDLE only
 *     under srv->mu after checking shutting, so none turns idle later and
 *     waits on; one that is ACTIVE answers its request with
 *     "Connection: close" and ends (conn.c).
 *  3. Wait until nconns is 0 (srv->drained is closed by the last one) or
 *     ctx is done.
 * Close does 1, then shuts down every connection's socket, whatever its
 * state, cancels their request contexts, and waits for them all.
 * A connection takes itself out of the list (under srv->mu) before it
 * closes its fd, so shutdown(2) never reaches a reused fd number. A
 * hijacked connection's fd is its handler's (who may close it while the
 * connection is still listed): neither touches it, as Go's do not; both
 * wait for its handler to return.
 */
#include "http/conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#define DEFAULT_HEADER_TIMEOUT (20 * GOC_SECOND) /* Apache mod_reqtimeout's */
#define DEFAULT_IDLE_TIMEOUT   (60 * GOC_SECOND)

static goc_duration resolve(goc_duration v, goc_duration dflt)
{
    return v == 0 ? dflt : v < 0 ? 0 : v;
}

GOC_API goc_http_server *goc_http_server_new(goc_http_handler h, const goc_http_server_opts *opts)
{
    goc_http_server *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    if (!h.fn)
        h = goc_http_mux_handler(goc_http_default_mux());
    s->h = h;
    if (opts)
        s->opts = *opts;
    s->tls = goc_tls_config_retain(s->opts.tls);
    s->read_header_timeout = resolve(s->opts.read_header_timeout, DEFAULT_HEADER_TIMEOUT);
    s->read_timeout = resolve(s->opts.read_timeout, 0);
    s->write_timeout = resolve(s->opts.write_timeout, 0);
    s->idle_timeout = resolve(s->opts.idle_timeout, DEFAULT_IDLE_TIMEOUT);
    s->max_header_bytes = s->opts.max_header_bytes ? s->opts.max_header_bytes : GOC__HTTP_MAX_HEAD;
    if (s->max_header_bytes > (1u << 30))
        s->max_header_bytes = 1u << 30;
    if (s->opts.server_name && *s->opts.server_name) {
        size_t n = strlen(s->opts.server_name) + 11;
        s->server_line = malloc(n);
        if (!s->server_line || strpbrk(s->opts.server_name, "\r\n")) {
            free(s->server_line);
            free(s);
            return NULL;
        }
        s->server_line_len =
            (size_t)snprintf(s->server_line, n, "Server: %s\r\n", s->opts.server_name);
    }
    s->opts.server_name = NULL; /* not kept: the caller's string */
    s->lfd = -1;
    return s;
}

/* Decimal v at o; returns the end. */
static char *put_dec(char *o, unsigned v)
{
    char tmp[8];
    int k = 0;
    do {
        tmp[k++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (k)
        *o++ = tmp[--k];
    return o;
}

static void format_addr(const struct sockaddr *sa, char *out, size_t n)
{
    char ip[INET6_ADDRSTRLEN];
    if (sa->sa_family == AF_INET && n >= 22) {
        /* By hand: once per connection, and snprintf showed in profiles
         * of a connection per request. "255.255.255.255:65535" fits 22. */
        const struct sockaddr_in *in = (const void *)sa;
        const unsigned char *b = (const unsigned char *)&in->sin_addr;
        char *o = out;
        for (int i = 0; i < 4; i++) {
            o = put_dec(o, b[i]);
            *o++ = i < 3 ? '.' : ':';
        }
        *put_dec(o, ntohs(in->sin_port)) = 0;
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const void *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof ip);
        snprintf(out, n, "[%s]:%u", ip, ntohs(in6->sin6_port));
    } else {
        snprintf(out, n, "@");
    }
}

/* A connection that could not get a goroutine: 503, as lwan does, not a crash. */
static void refuse(int fd)
{
    static const char msg[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
                              "Connection: close\r\n\r\n";
    goc_write(fd, msg, sizeof msg - 1);
    goc_close(fd);
}

void goc__http_logf(goc_http_server *s, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (s->opts.error_log)
        s->opts.error_log(msg, s->opts.error_log_arg);
    else
        fprintf(stderr, "%s\n", msg);
}

void goc__http_conn_unlink(goc_http_server *s, goc__http_conn *c)
{
    GOC__HTTP_ASSERT_MU(s);
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
}

void goc__http_conn_done(goc_http_server *s)
{
    goc_mutex_lock(&s->mu);
    /* The last one out tells shutdown and close. Closed after the unlock:
     * once drained is closed, close() may return and the server be freed,
     * so s must not be touched after (the reference keeps d alive). */
    goc_chan *d = --s->nconns == 0 && s->drained ? goc_chan_retain(s->drained) : NULL;
    goc_mutex_unlock(&s->mu);
    if (d) {
        goc_chan_close(d);
        goc_chan_release(d);
    }
}

static void start_conn(goc_http_server *s, int fd, const struct sockaddr *sa)
{
    goc__http_conn *c = calloc(1, sizeof *c);
    if (!c) {
        refuse(fd);
        return;
    }
    c->srv = s;
    c->fd = fd;
    format_addr(sa, c->remote, sizeof c->remote);
    goc_mutex_lock(&s->mu);
    bool closing = s->shutting;
    if (!closing) {
        c->next = s->conns;
        if (s->conns)
            s->conns->prev = c;
        s->conns = c;
        s->nconns++;
    }
    goc_mutex_unlock(&s->mu);
    if (closing) {
        free(c);
        goc_close(fd);
        return;
    }
    goc__hstat_conn_open();
    if (goc_go(goc__http_conn_serve, c) < 0) {
        goc_mutex_lock(&s->mu);
        goc__http_conn_unlink(s, c);
        goc_mutex_unlock(&s->mu);
        goc__http_conn_done(s);
        free(c);
        goc__hstat_conn_close();
        refuse(fd);
    }
}

GOC_API int goc_http_server_serve(goc_http_server *s, int lfd)
{
    goc_mutex_lock(&s->mu);
    bool closing = s->shutting;
    if (!closing)
        s->lfd = lfd;
    goc_mutex_unlock(&s->mu);
    if (closing) {
        goc_close(lfd);
        return goc__errset(GOC_EHTTP_SERVER_CLOSED, "http: Server closed");
    }
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(lfd, (struct sockaddr *)&ss, &len) == 0)
        format_addr((struct sockaddr *)&ss, s->addr, sizeof s->addr);
    for (;;) {
        len = sizeof ss;
        int fd = goc_accept(lfd, (struct sockaddr *)&ss, &len);
        if (fd >= 0) {
            start_conn(s, fd, (struct sockaddr *)&ss);
            continue;
        }
        if (fd == -ECONNABORTED || fd == -EINTR || fd == -EPROTO)
            continue;
        goc_mutex_lock(&s->mu);
        closing = s->shutting;
        s->lfd = -1;
        goc_mutex_unlock(&s->mu);
        if (closing)
            return goc__errset(GOC_EHTTP_SERVER_CLOSED, "http: Server closed");
        goc_close(lfd);
        goc__http_logf(s, "http: accept: %s", goc_strerror(fd));
        return goc__errorf(fd, "http: accept: %s", goc_strerror(fd));
    }
}

GOC_API int goc_http_server_listen_and_serve(goc_http_server *s, const char *addr)
{
    int lfd = goc_listen("tcp", addr && *addr ? addr : ":http");
    if (lfd < 0)
        return lfd;
    return goc_http_server_serve(s, lfd);
}

GOC_API int goc_http_listen_and_serve(const char *addr, const goc_http_handler *h)
{
    goc_http_handler hh = h ? *h : (goc_http_handler){0};
    goc_http_server *s = goc_http_server_new(hh, NULL);
    if (!s)
        return -ENOMEM;
    int rc = goc_http_server_listen_and_serve(s, addr);
    goc_http_server_free(s); /* ended by an error: nothing is left running */
    return rc;
}

GOC_API int goc_http_server_serve_tls(goc_http_server *s, int lfd, const char *cert_file,
                                      const char *key_file)
{
    int rc = 0;
    if (!cert_file != !key_file) {
        rc = goc__errset(-EINVAL, "http: serve_tls: a certificate needs its key");
    } else if (cert_file && s->tls) {
        rc = goc_tls_config_add_cert(s->tls, cert_file, key_file);
    } else if (cert_file) {
        goc_tls_opts o = {.alpn = "http/1.1"};
        goc_tls_config *cfg = goc_tls_server_config_new(cert_file, key_file, &o, &rc);
        goc_mutex_lock(&s->mu);
        if (cfg && !s->tls)
            s->tls = cfg;
        else
            goc_tls_config_release(cfg);
        goc_mutex_unlock(&s->mu);
    } else if (!s->tls) {
        rc = goc__errset(-EINVAL, "http: serve_tls: no certificate (files or opts.tls)");
    }
    if (rc < 0) {
        goc_close(lfd);
        return rc;
    }
    return goc_http_server_serve(s, lfd);
}

GOC_API int goc_http_server_listen_and_serve_tls(goc_http_server *s, const char *addr,
                                                 const char *cert_file, const char *key_file)
{
    int lfd = goc_listen("tcp", addr && *addr ? addr : ":https");
    if (lfd < 0)
        return lfd;
    return goc_http_server_serve_tls(s, lfd, cert_file, key_file);
}

GOC_API int goc_http_listen_and_serve_tls(const char *addr, const char *cert, const char *key,
                                          const goc_http_handler *h)
{
    goc_http_handler hh = h ? *h : (goc_http_handler){0};
    goc_http_server *s = goc_http_server_new(hh, NULL);
    if (!s)
        return -ENOMEM;
    int rc = goc_http_server_listen_and_serve_tls(s, addr, cert, key);
    goc_http_server_free(s);
    return rc;
}

GOC_API const char *goc_http_server_addr(goc_http_server *s)
{
    return s->addr;
}

/* Steps 1 and 2 (or Close's all-connections variant) under srv->mu. */
static goc_chan *begin_shutdown(goc_http_server *s, bool all)
{
    goc_mutex_lock(&s->mu);
    __atomic_store_n(&s->shutting, true, __ATOMIC_RELAXED); /* read unlocked by writer.c */
    if (all)
        s->closed = true;
    if (s->lfd >= 0) {
        goc_close(s->lfd); /* serve's accept fails; serve clears lfd */
        s->lfd = -1;
    }
    for (goc__http_conn *c = s->conns; c; c = c->next) {
        if (c->state == GOC_HTTP_STATE_HIJACKED)
            continue; /* the fd is the handler's: it may be closed, its number reused */
        if (all || c->state == GOC_HTTP_STATE_IDLE || c->state == GOC_HTTP_STATE_NEW)
            shutdown(c->fd, SHUT_RDWR);
        if (all && c->ctx)
            goc_ctx_cancel(c->ctx);
    }
    if (!s->drained)
        s->drained = goc_chan_make(0, 0);
    goc_chan *d = s->drained ? goc_chan_retain(s->drained) : NULL;
    if (d && s->nconns == 0)
        goc_chan_close(d);
    goc_mutex_unlock(&s->mu);
    return d;
}

GOC_API int goc_http_server_shutdown(goc_http_server *s, goc_ctx *ctx)
{
    goc_chan *d = begin_shutdown(s, false);
    if (!d)
        return -ENOMEM;
    int rc = 0;
    for (;;) {
        /* Connections that were NEW, or turned idle before seeing the
         * flag, are nudged again each round (Go polls the same way). */
        goc_case cs[2] = {GOC_RECV(d, NULL), GOC_RECV(ctx ? goc_ctx_done(ctx) : NULL, NULL)};
        int i = goc_select(cs, 2, 500 * GOC_MILLISECOND);
        if (i == 0)
            break;
        if (i == 1) {
            rc = goc_ctx_err(ctx);
            break;
        }
        goc_chan_release(begin_shutdown(s, false));
    }
    goc_chan_release(d);
    return rc;
}

GOC_API int goc_http_server_close(goc_http_server *s)
{
    goc_chan *d = begin_shutdown(s, true);
    if (!d)
        return -ENOMEM;
    while (goc_select((goc_case[]){GOC_RECV(d, NULL)}, 1, 200 * GOC_MILLISECOND) < 0)
        goc_chan_release(begin_shutdown(s, true));
    goc_chan_release(d);
    return 0;
}

GOC_API void goc_http_server_free(goc_http_server *s)
{
    if (!s)
        return;
    if (s->drained)
        goc_chan_release(s->drained);
    goc_tls_config_release(s->tls);
    free(s->server_line);
    free(s);
}
