/*
 * tls.c — goc_tls_conn: OpenSSL on a nonblocking socket, driven by the
 * netpoller (Go's crypto/tls.Conn over net.Conn).
 *
 * The SSL reads and writes the socket itself (a socket BIO, which lets
 * OpenSSL turn on kernel TLS). A call runs the SSL function under t->mu;
 * on SSL_ERROR_WANT_READ/WRITE it drops t->mu and parks on the fd's poll
 * descriptor (goc__pd_wait), which honours the fd's deadlines and
 * goc_close, then tries again. t->mu is never held while parked, so a
 * reader and a writer interleave their SSL calls.
 *
 * Turns, as goc_read/goc_write take them: a read holds the descriptor's
 * read lock (rmu), a write its write lock (wmu), for the whole call, so
 * at most one goroutine waits per direction. A call that must wait in
 * the other direction (a read that has to send, a write that has to
 * receive: rare after the handshake) takes that lock too, always read
 * before write (a writer drops its lock and takes both). The handshake
 * holds both for its duration, under t->hs_mu: the first read or write,
 * whichever comes first, does it and the other waits for it.
 *
 * OpenSSL's error queue is per thread: it is cleared before each call and
 * read right after, under t->mu, with no park in between (a goroutine
 * only changes threads when it parks).
 */
#include "http/tls.h"
#include "http/http.h" /* goc__http_pread_cached */

#include "net/neterr.h"
#include "net/poll.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

enum { R = GOC__PD_R, W = GOC__PD_W };
#define WBUF_SIZE  16384       /* one TLS record of plaintext */
#define WRITE_STEP (64 * 1024) /* bytes encrypted per SSL_write call */

/* One call's hold on the fd: its descriptor and the locks taken. */
typedef struct op {
    goc__pd *pd;
    unsigned held; /* bits 1 << R, 1 << W */
    const char *name;
} op;

static int op_lock(op *o, int d)
{
    int rc = goc__pd_lock(o->pd, d);
    if (rc == 0)
        o->held |= 1u << d;
    return rc;
}

static void op_end(op *o)
{
    for (int d = W; d >= R; d--)
        if (o->held & (1u << d))
            goc__pd_unlock(o->pd, d);
    o->held = 0;
    if (o->pd)
        goc__pd_release(o->pd);
    o->pd = NULL;
}

/* Take the descriptor and the lock of direction dir (R, W, or both for
 * dir < 0); fail at once if that deadline has passed. */
static int op_begin(goc_tls_conn *t, op *o, int dir, const char *name)
{
    int err = 0;
    *o = (op){.name = name};
    o->pd = goc__pd_acquire(t->fd, &err);
    if (!o->pd)
        return err;
    if (dir <= R && (err = op_lock(o, R)) == 0)
        err = goc__pd_check(o->pd, R);
    if (err == 0 && dir != R && (err = op_lock(o, W)) == 0)
        err = goc__pd_check(o->pd, W);
    return err;
}

/* Park until the fd is ready in direction want. Without that direction's
 * lock, take it (which may itself wait) and return at once instead: the
 * caller tries again, so an edge consumed by the lock's last holder is
 * not waited for. */
static int op_wait(op *o, int want)
{
    if (o->held & (1u << want)) {
        int w = goc__pd_wait(o->pd, 1u << want, false);
        return w < 0 ? w : 0;
    }
    if (want == R && (o->held & (1u << W))) { /* read before write */
        goc__pd_unlock(o->pd, W);
        o->held &= ~(1u << W);
        int rc = op_lock(o, R);
        return rc < 0 ? rc : op_lock(o, W);
    }
    return op_lock(o, want);
}

/* ---- one SSL call, retried on WANT_READ / WANT_WRITE ------------------------------- */

typedef struct io {
    void *buf;
    size_t n, done;
    int in_fd;
    off_t off;
} io;

typedef int (*ssl_fn)(SSL *ssl, io *a); /* 1 success, <= 0 as SSL_get_error wants */

/* > 0 success; 0 clean EOF (reads); negative: the error, recorded. */
static int ssl_call(goc_tls_conn *t, op *o, bool hs, ssl_fn fn, io *a)
{
    for (;;) {
        goc_mutex_lock(&t->mu);
        ERR_clear_error();
        errno = 0;
        int r = fn(t->ssl, a);
        int se = errno;
        int e = r > 0 ? SSL_ERROR_NONE : SSL_get_error(t->ssl, r);
        int rc = 1;
        if (e != SSL_ERROR_NONE && e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
            rc = goc__tls_failed(t, e, se, hs, o->name);
            t->fatal = t->fatal || e == SSL_ERROR_SSL || e == SSL_ERROR_SYSCALL;
        }
        goc_mutex_unlock(&t->mu);
        if (e == SSL_ERROR_NONE)
            return 1;
        if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
            return rc;
        int w = op_wait(o, e == SSL_ERROR_WANT_READ ? R : W);
        if (w < 0)
            return (int)goc__fd_failed(w, o->name, t->fd);
    }
}

static int fn_handshake(SSL *ssl, io *a)
{
    (void)a;
    return SSL_do_handshake(ssl);
}

static int fn_read(SSL *ssl, io *a)
{
    return SSL_read_ex(ssl, a->buf, a->n, &a->done);
}

static int fn_write(SSL *ssl, io *a)
{
    return SSL_write_ex(ssl, a->buf, a->n, &a->done);
}

static int fn_sendfile(SSL *ssl, io *a)
{
    ossl_ssize_t r = SSL_sendfile(ssl, a->in_fd, a->off, a->n, 0);
    a->done = r > 0 ? (size_t)r : 0;
    return r > 0 ? 1 : (int)r;
}

static int fn_shutdown(SSL *ssl, io *a)
{
    (void)a;
    int r = SSL_shutdown(ssl);
    return r >= 0 ? 1 : r; /* 0: ours sent, the peer's not read: enough */
}

/* ---- the handshake ------------------------------------------------------------------- */

/* Server: the first byte must start a handshake record (0x16); peeked,
 * so bytes that are not TLS stay for the caller to answer. */
static int peek_first(goc_tls_conn *t, op *o)
{
    for (;;) {
        unsigned char b;
        ssize_t r = recv(t->fd, &b, 1, MSG_PEEK);
        if (r == 1)
            return b == 0x16 ? 0
                             : goc__errorf(GOC_ETLS_NOT_TLS,
                                           "tls: first record does not look like a TLS handshake");
        if (r == 0)
            return goc__errorf(-ECONNRESET, "tls: handshake: connection closed by the peer (EOF)");
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return (int)goc__fd_failed(-errno, "tls handshake", t->fd);
        int w = op_wait(o, R);
        if (w < 0)
            return (int)goc__fd_failed(w, "tls handshake", t->fd);
    }
}

/* What the handshake settled, kept for the accessors (no lock after). */
static void learn(goc_tls_conn *t)
{
    const unsigned char *p = NULL;
    unsigned len = 0;
    SSL_get0_alpn_selected(t->ssl, &p, &len);
    if (p && len < sizeof t->alpn) {
        memcpy(t->alpn, p, len);
        t->alpn[len] = '\0';
    }
    const char *sni = t->server ? SSL_get_servername(t->ssl, TLSEXT_NAMETYPE_host_name) : NULL;
    if (sni)
        snprintf(t->sni, sizeof t->sni, "%s", sni);
    t->version = SSL_version(t->ssl);
    t->resumed = SSL_session_reused(t->ssl);
    t->ktls_send = BIO_get_ktls_send(SSL_get_wbio(t->ssl));
}

static int do_handshake(goc_tls_conn *t)
{
    op o;
    int rc = op_begin(t, &o, -1, "tls handshake");
    if (rc < 0)
        rc = (int)goc__fd_failed(rc, "tls handshake", t->fd);
    if (rc == 0 && t->server)
        rc = peek_first(t, &o);
    if (rc == 0) {
        io a = {0};
        rc = ssl_call(t, &o, true, fn_handshake, &a);
        if (rc == 0) /* no error, yet no handshake: cannot be, but never 0 */
            rc = goc__errorf(-ECONNRESET, "tls: handshake: connection closed by the peer");
    }
    op_end(&o);
    if (rc > 0) {
        goc_mutex_lock(&t->mu);
        learn(t);
        goc_mutex_unlock(&t->mu);
        return 0;
    }
    snprintf(t->hsmsg, sizeof t->hsmsg, "%s", goc_errmsg());
    return rc;
}

GOC_API int goc_tls_handshake(goc_tls_conn *t)
{
    /* acquire: pairs with the release below; learn()'s fields are set. */
    int st = atomic_load_explicit(&t->hs_state, memory_order_acquire);
    if (st == 0) {
        goc_mutex_lock(&t->hs_mu);
        st = atomic_load_explicit(&t->hs_state, memory_order_acquire);
        if (st == 0) {
            int rc = do_handshake(t);
            st = rc == 0 ? 1 : rc;
            /* release: publishes learn()'s fields and hsmsg. */
            atomic_store_explicit(&t->hs_state, st, memory_order_release);
            goc_mutex_unlock(&t->hs_mu);
            return rc;
        }
        goc_mutex_unlock(&t->hs_mu);
    }
    if (st < 0) /* a failed handshake fails every call, with its message */
        return goc__errorf(st, "%s", t->hsmsg);
    return 0;
}

/* ---- reading and writing -------------------------------------------------------------- */

GOC_API ssize_t goc_tls_read(goc_tls_conn *t, void *buf, size_t n)
{
    int rc = goc_tls_handshake(t);
    if (rc < 0 || n == 0)
        return rc;
    op o;
    rc = op_begin(t, &o, R, "tls read");
    io a = {.buf = buf, .n = n};
    if (rc < 0)
        rc = (int)goc__fd_failed(rc, "tls read", t->fd);
    else
        rc = ssl_call(t, &o, false, fn_read, &a);
    op_end(&o);
    return rc > 0 ? (ssize_t)a.done : rc;
}

/* Every byte of buf, holding the write lock of o. */
static ssize_t write_all(goc_tls_conn *t, op *o, const char *buf, size_t n)
{
    size_t done = 0;
    while (done < n) {
        size_t k = n - done < WRITE_STEP ? n - done : WRITE_STEP;
        io a = {.buf = (void *)(buf + done), .n = k};
        int rc = ssl_call(t, o, false, fn_write, &a);
        if (rc <= 0)
            return rc < 0 ? rc : goc__errorf(-EPIPE, "tls write: connection closed");
        done += a.done;
    }
    return (ssize_t)done;
}

GOC_API ssize_t goc_tls_write(goc_tls_conn *t, const void *buf, size_t n)
{
    if (n > SSIZE_MAX)
        return goc__errorf(-EINVAL, "tls write: length too large");
    int rc = goc_tls_handshake(t);
    if (rc < 0 || n == 0)
        return rc;
    op o;
    ssize_t r = op_begin(t, &o, W, "tls write");
    if (r < 0)
        r = goc__fd_failed(r, "tls write", t->fd);
    else
        r = write_all(t, &o, buf, n);
    op_end(&o);
    return r;
}

/* Small pieces go out through t->wbuf, many to a record; a piece that
 * does not fit flushes it, and one of a record or more goes as is. */
static ssize_t writev_locked(goc_tls_conn *t, op *o, const struct iovec *iov, int iovcnt)
{
    size_t fill = 0, total = 0;
    for (int i = 0; i < iovcnt; i++) {
        const char *p = iov[i].iov_base;
        size_t len = iov[i].iov_len;
        if (len > WBUF_SIZE - fill && fill > 0) {
            ssize_t r = write_all(t, o, (char *)t->wbuf, fill);
            if (r < 0)
                return r;
            fill = 0;
        }
        if (len >= WBUF_SIZE) {
            ssize_t r = write_all(t, o, p, len);
            if (r < 0)
                return r;
        } else {
            memcpy(t->wbuf + fill, p, len);
            fill += len;
        }
        total += len;
    }
    if (fill > 0) {
        ssize_t r = write_all(t, o, (char *)t->wbuf, fill);
        if (r < 0)
            return r;
    }
    return (ssize_t)total;
}

GOC_API ssize_t goc_tls_writev(goc_tls_conn *t, const struct iovec *iov, int iovcnt)
{
    if (iovcnt < 0 || (iovcnt > 0 && !iov))
        return goc__errorf(-EINVAL, "tls write: bad iovec");
    if (iovcnt == 1)
        return goc_tls_write(t, iov[0].iov_base, iov[0].iov_len);
    int rc = goc_tls_handshake(t);
    if (rc < 0)
        return rc;
    op o;
    ssize_t r = op_begin(t, &o, W, "tls write");
    if (r < 0) {
        r = goc__fd_failed(r, "tls write", t->fd);
    } else if (!t->wbuf && !(t->wbuf = malloc(WBUF_SIZE))) {
        r = goc__errorf(-ENOMEM, "tls write: out of memory");
    } else {
        r = writev_locked(t, &o, iov, iovcnt);
    }
    op_end(&o);
    return r;
}

/* Without kernel TLS: read the file in steps and write them. */
static ssize_t sendfile_copy(goc_tls_conn *t, int in_fd, off_t *off, size_t count)
{
    size_t step = count < 131072 ? count : 131072, done = 0;
    char *buf = malloc(step ? step : 1);
    if (!buf)
        return goc__errorf(-ENOMEM, "tls sendfile: out of memory");
    ssize_t rc = 0;
    while (done < count) {
        size_t k = count - done < step ? count - done : step;
        ssize_t got = goc__http_pread_cached(in_fd, buf, k, *off);
        if (got <= 0) {
            rc = got;
            break;
        }
        if ((rc = goc_tls_write(t, buf, (size_t)got)) < 0)
            break;
        *off += got;
        done += (size_t)got;
    }
    free(buf);
    return rc < 0 ? rc : (ssize_t)done;
}

GOC_API ssize_t goc_tls_sendfile(goc_tls_conn *t, int in_fd, off_t *off, size_t count)
{
    int rc = goc_tls_handshake(t);
    if (rc < 0 || count == 0)
        return rc;
    if (!t->ktls_send)
        return sendfile_copy(t, in_fd, off, count);
    op o;
    ssize_t r = op_begin(t, &o, W, "tls sendfile");
    if (r < 0)
        r = goc__fd_failed(r, "tls sendfile", t->fd);
    size_t done = 0;
    while (r == 0 && done < count) {
        size_t k = count - done < 0x7ffff000 ? count - done : 0x7ffff000;
        io a = {.in_fd = in_fd, .off = *off, .n = k};
        int c = ssl_call(t, &o, false, fn_sendfile, &a);
        if (c < 0)
            r = c;
        if (c <= 0 || a.done == 0)
            break; /* an error, or the end of the file */
        *off += (off_t)a.done;
        done += a.done;
    }
    op_end(&o);
    return r < 0 ? r : (ssize_t)done;
}

GOC_API int goc_tls_close_notify(goc_tls_conn *t)
{
    if (atomic_load_explicit(&t->hs_state, memory_order_acquire) != 1)
        return 0;
    goc_mutex_lock(&t->mu);
    bool fatal = t->fatal;
    goc_mutex_unlock(&t->mu);
    if (fatal)
        return 0;
    op o;
    int rc = op_begin(t, &o, W, "tls close_notify");
    if (rc < 0) {
        rc = (int)goc__fd_failed(rc, "tls close_notify", t->fd);
    } else {
        io a = {0};
        rc = ssl_call(t, &o, false, fn_shutdown, &a);
        rc = rc > 0 ? 0 : rc;
    }
    op_end(&o);
    return rc;
}

/* ---- connections ------------------------------------------------------------------------ */

static goc_tls_conn *conn_new(int fd, goc_tls_config *cfg, bool server)
{
    if (!cfg || cfg->server != server || fd < 0)
        return NULL;
    goc_tls_conn *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->fd = fd;
    t->server = server;
    t->ssl = SSL_new(cfg->ctx);
    if (!t->ssl || SSL_set_fd(t->ssl, fd) != 1) {
        SSL_free(t->ssl);
        free(t);
        ERR_clear_error();
        return NULL;
    }
    SSL_set_app_data(t->ssl, t);
    t->cfg = goc_tls_config_retain(cfg);
    return t;
}

GOC_API goc_tls_conn *goc_tls_server(int fd, goc_tls_config *cfg)
{
    goc_tls_conn *t = conn_new(fd, cfg, true);
    if (!t)
        return NULL;
    t->certs = goc__tls_certs_get(cfg);
    SSL_set_accept_state(t->ssl);
    return t;
}

static bool is_ip(const char *s)
{
    unsigned char b[16];
    return inet_pton(AF_INET, s, b) == 1 || inet_pton(AF_INET6, s, b) == 1;
}

GOC_API goc_tls_conn *goc_tls_client(int fd, goc_tls_config *cfg, const char *server_name)
{
    goc_tls_conn *t = conn_new(fd, cfg, false);
    if (!t)
        return NULL;
    SSL_set_connect_state(t->ssl);
    bool ok = true;
    if (server_name && *server_name) {
        ok = (t->server_name = strdup(server_name)) != NULL;
        if (ok && is_ip(server_name)) {
            ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), server_name) == 1;
        } else if (ok) {
            SSL_set_hostflags(t->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
            ok = SSL_set_tlsext_host_name(t->ssl, server_name) == 1 &&
                 SSL_set1_host(t->ssl, server_name) == 1;
        }
    }
    SSL_SESSION *s = ok ? goc__tls_ticket_get(cfg, server_name ? server_name : "") : NULL;
    if (s) {
        SSL_set_session(t->ssl, s);
        SSL_SESSION_free(s);
    }
    if (!ok) {
        ERR_clear_error();
        goc_tls_free(t);
        return NULL;
    }
    return t;
}

GOC_API void goc_tls_free(goc_tls_conn *t)
{
    if (!t)
        return;
    SSL_free(t->ssl);
    goc__tls_certs_put(t->certs);
    goc_tls_config_release(t->cfg);
    free(t->server_name);
    free(t->wbuf);
    free(t);
}

/* ---- what the handshake settled ------------------------------------------------------------ */

static bool done(const goc_tls_conn *t)
{
    /* acquire: pairs with goc_tls_handshake's release. */
    return atomic_load_explicit(&t->hs_state, memory_order_acquire) == 1;
}

GOC_API int goc_tls_fd(const goc_tls_conn *t)
{
    return t->fd;
}

GOC_API const char *goc_tls_alpn(const goc_tls_conn *t)
{
    return done(t) ? t->alpn : "";
}

GOC_API const char *goc_tls_server_name(const goc_tls_conn *t)
{
    return done(t) ? t->sni : "";
}

GOC_API int goc_tls_version(const goc_tls_conn *t)
{
    return done(t) ? t->version : 0;
}

GOC_API bool goc_tls_resumed(const goc_tls_conn *t)
{
    return done(t) && t->resumed;
}

GOC_API bool goc_tls_ktls_send(const goc_tls_conn *t)
{
    return done(t) && t->ktls_send;
}

GOC_API size_t goc_tls_pending(const goc_tls_conn *t)
{
    goc_tls_conn *m = (goc_tls_conn *)t; /* the lock, not the state */
    goc_mutex_lock(&m->mu);
    int n = SSL_pending(m->ssl);
    goc_mutex_unlock(&m->mu);
    return n > 0 ? (size_t)n : 0;
}
