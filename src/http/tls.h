/*
 * tls.h — what the TLS files share: the config (tls_config.c), the
 * connection (tls.c) and the mapping of OpenSSL's failures to goc's codes
 * and messages (tls_verify.c).
 *
 * Locking:
 *  - A config's fields are set before it is shared, except the current
 *    certificate set and the client's ticket cache, which are under
 *    cfg->lock (a spin lock held for a few instructions), and the list of
 *    files, which only an updater holding cfg->update reads or replaces.
 *  - A connection's SSL is under t->mu, held around each SSL_* call only,
 *    never while parked. What the handshake learns (ALPN, version, ...)
 *    is written before hs_state becomes 1 (release) and only read after.
 */
#ifndef GOC_HTTP_TLS_INTERNAL_H
#define GOC_HTTP_TLS_INTERNAL_H

#include <goc/tls.h>

#include <openssl/ssl.h>
#include <pthread.h>

#include "runtime/park.h"

/* One certificate: its leaf, intermediates, key and DNS names. */
typedef struct goc__tls_cert {
    X509 *leaf;
    STACK_OF(X509) * chain; /* may be NULL */
    EVP_PKEY *key;
    char **names; /* lowercased DNS SANs */
    int nnames;
    char *cert_file, *key_file;
} goc__tls_cert;

/* An immutable set of certificates; a handshake holds a reference. */
typedef struct goc__tls_certs {
    _Atomic int refs;
    int n;
    goc__tls_cert cert[];
} goc__tls_certs;

#define GOC__TLS_TICKETS 32

struct goc_tls_config {
    _Atomic int refs;
    bool server;
    bool no_ktls;
    SSL_CTX *ctx;
    unsigned char *alpn; /* wire format (length-prefixed), or NULL */
    unsigned alpn_len;
    goc__lock lock;         /* guards certs and tickets */
    goc__tls_certs *certs;  /* server: the current set */
    pthread_mutex_t update; /* one add_cert or reload at a time */
    struct {                /* client: the last ticket per server name */
        char *name;
        SSL_SESSION *sess;
        uint64_t used;
    } tickets[GOC__TLS_TICKETS];
    uint64_t clock;
};

struct goc_tls_conn {
    goc_mutex mu;    /* held around every SSL_* call */
    goc_mutex hs_mu; /* one handshake at a time (held while parked) */
    SSL *ssl;
    int fd;
    bool server;
    _Atomic int hs_state; /* 0 not done, 1 done, < 0: the handshake's error */
    goc_tls_config *cfg;
    goc__tls_certs *certs; /* server: the set its handshake chooses from */
    char *server_name;     /* client: SNI and verified name (or NULL) */
    /* What the client's verify callback saw first (under mu). */
    int verr;
    char vmsg[224];
    bool fatal;      /* a call failed for good: no close_notify (under mu) */
    char hsmsg[256]; /* the failed handshake's message, for later calls */
    /* Learned by the handshake. */
    char alpn[64];
    char sni[256];
    int version;
    bool resumed, ktls_send;
    unsigned char *wbuf; /* writev's coalescing buffer (writer only) */
};

/* tls_config.c: the certificate set for a new server conn (a reference),
 * and dropping one. */
goc__tls_certs *goc__tls_certs_get(goc_tls_config *c);
void goc__tls_certs_put(goc__tls_certs *s);
/* The cached ticket for name (a reference, for SSL_set_session), or NULL. */
SSL_SESSION *goc__tls_ticket_get(goc_tls_config *c, const char *name);

/* tls_verify.c */
/* The client's verify callback (SSL_CTX_set_verify). */
int goc__tls_verify_cb(int ok, X509_STORE_CTX *x);
/* A failed SSL call's error: ret and SSL_get_error's answer, errno right
 * after the call; called under t->mu on the thread that made the call
 * (OpenSSL's error queue is per thread). Records goc_errmsg. Returns the
 * code; 0 means a clean EOF (a read returns 0). */
int goc__tls_failed(goc_tls_conn *t, int sslerr, int sys_errno, bool handshake, const char *op);
/* Record "what: <OpenSSL's reason>" as err's message; returns err. */
int goc__tls_openssl_error(int err, const char *what);

#endif /* GOC_HTTP_TLS_INTERNAL_H */
