/*
 * client_tls.c — https for the client: the client's TLS configuration
 * (the caller's, or one made on first use that verifies against the
 * system's roots and offers ALPN "http/1.1"), and a connection's byte
 * stream switched to TLS once the handshake is done.
 */
#include "http/client.h"

#include <goc/tls.h>

#include <errno.h>

static ssize_t tls_read(void *s, void *buf, size_t n)
{
    return goc_tls_read(s, buf, n);
}

static ssize_t tls_write(void *s, const void *buf, size_t n)
{
    return goc_tls_write(s, buf, n);
}

static ssize_t tls_writev(void *s, const struct iovec *iov, int iovcnt)
{
    return goc_tls_writev(s, iov, iovcnt);
}

static ssize_t tls_sendfile(void *s, int in_fd, off_t *off, size_t n)
{
    return goc_tls_sendfile(s, in_fd, off, n);
}

static void tls_close(void *s)
{
    goc_tls_free(s);
}

static const goc__hstream_ops tls_ops = {tls_read, tls_write, tls_writev, tls_sendfile, tls_close};

int goc__client_tls_init(goc_http_client *c)
{
    if (c->opts.tls)
        c->tls = goc_tls_config_retain(c->opts.tls);
    return 0;
}

void goc__client_tls_free(goc_http_client *c)
{
    goc_tls_config_release(c->tls);
    c->tls = NULL;
}

/* The config, made once (the system's roots are read then). */
static goc_tls_config *config(goc_http_client *c, int *err)
{
    goc_tls_config *cfg = __atomic_load_n(&c->tls, __ATOMIC_ACQUIRE);
    if (cfg)
        return cfg;
    goc_mutex_lock(&c->tls_mu);
    cfg = c->tls;
    if (!cfg) {
        goc_tls_opts o = {.alpn = "http/1.1"};
        cfg = goc_tls_client_config_new(&o, err);
        /* release: pairs with the acquire load above */
        __atomic_store_n(&c->tls, cfg, __ATOMIC_RELEASE);
    }
    goc_mutex_unlock(&c->tls_mu);
    return cfg;
}

int goc__pconn_start_tls(goc_http_client *c, goc__pconn *pc, const char *server_name)
{
    int err = -ENOMEM;
    goc_tls_config *cfg = config(c, &err);
    if (!cfg)
        return err;
    goc_tls_conn *t = goc_tls_client(pc->fd, cfg, server_name);
    if (!t)
        return -ENOMEM;
    int rc = goc_tls_handshake(t);
    if (rc < 0) {
        goc_tls_free(t);
        return rc;
    }
    pc->ops = &tls_ops;
    pc->stream = t;
    return 0;
}
