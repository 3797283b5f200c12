/*
 * goc/tls.h — TLS over goc's sockets (Go's crypto/tls), on OpenSSL 3.
 *
 * A goc_tls_config holds what many connections share: the server's
 * certificates (chosen by SNI, reloadable while serving), the client's
 * roots and its cache of resumption tickets, the ALPN protocols and the versions.
 * It is reference counted and may be used from any thread.
 *
 * A goc_tls_conn wraps a connected nonblocking socket (from goc_accept or
 * goc_dial). Its calls park the calling goroutine, never a worker thread,
 * while the socket is not ready (a plain thread blocks), and honour the
 * fd's goc deadlines (goc_set_deadline): -ETIMEDOUT. One goroutine may
 * read while another writes; two readers (or two writers) take turns, as
 * with goc_read. The fd stays the caller's: goc_tls_free never closes it.
 *
 * Errors follow goc's rule (>= 0 success, a negative code on failure);
 * the codes below are outside the errno range, and goc_errmsg() says why
 * ("x509: certificate is valid for a.test, not b.test").
 */
#ifndef GOC_TLS_H
#define GOC_TLS_H

#include <goc.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GOC_ETLS_HANDSHAKE                                                                         \
    (-3201)                         /* tls: handshake failure (alert from peer, no shared cipher)  \
                                     */
#define GOC_ETLS_UNKNOWN_CA (-3202) /* x509: certificate signed by unknown authority */
#define GOC_ETLS_EXPIRED    (-3203) /* x509: certificate has expired or is not yet valid */
#define GOC_ETLS_HOSTNAME   (-3204) /* x509: certificate is not valid for the host */
#define GOC_ETLS_VERIFY     (-3205) /* x509: certificate verification failed (other reason) */
#define GOC_ETLS_VERSION    (-3206) /* tls: protocol version not supported (1.0/1.1 refused) */
#define GOC_ETLS_CERT       (-3207) /* tls: cannot load certificate or key (file, format, mismatch) */
#define GOC_ETLS_NOT_TLS    (-3208) /* tls: first record is not TLS (HTTP to an HTTPS server) */
#define GOC_ETLS_PROTOCOL   (-3209) /* tls: protocol error (bad record, truncated stream) */

#define GOC_TLS_VERSION_12 0x0303
#define GOC_TLS_VERSION_13 0x0304

typedef struct goc_tls_config goc_tls_config;
typedef struct goc_tls_conn goc_tls_conn;

/* Options of a config; the zero value is Go's defaults. Strings are
 * copied: they need to live only for the call. */
typedef struct goc_tls_opts {
    /* Client: the roots. NULL both: the system's (SSL_CERT_FILE and
     * SSL_CERT_DIR honoured, else OpenSSL's default paths). */
    const char *ca_file, *ca_dir;
    /* Client: no verification at all. Says so on stderr, once per config. */
    bool insecure_skip_verify;
    /* ALPN, comma-separated in preference order ("h2,http/1.1"); NULL:
     * none offered (client) or none selected (server). The server picks
     * its first protocol the client offers; none in common: no ALPN. */
    const char *alpn;
    int min_version; /* 0: TLS 1.2 (never lower); GOC_TLS_VERSION_13 */
    int max_version; /* 0: TLS 1.3 */
    bool no_ktls;    /* kernel TLS is used by default where the kernel has it */
} goc_tls_opts;

/* A server config with its first certificate chain (PEM: the leaf, then
 * intermediates) and private key (PEM). opts may be NULL. NULL on failure
 * with *err (if err is not NULL) set: GOC_ETLS_CERT, -ENOENT, -EINVAL,
 * -ENOMEM. Any thread (it reads files: blocking). */
GOC_API goc_tls_config *goc_tls_server_config_new(const char *cert_file, const char *key_file,
                                                  const goc_tls_opts *opts, int *err);
/* Another certificate, chosen when the client's SNI matches one of its
 * DNS names (wildcards "*.example.com" as Go's); the first certificate
 * answers when no name matches or there is no SNI. 0 or negative. */
GOC_API int goc_tls_config_add_cert(goc_tls_config *c, const char *cert_file, const char *key_file);
/* Re-read every certificate and key file, all or nothing: on a failure
 * the old ones stay and the error is returned (goc_errmsg names the
 * file). New handshakes use the new certificates; live connections keep
 * theirs. Any thread, while serving. */
GOC_API int goc_tls_config_reload(goc_tls_config *c);
/* A client config. opts may be NULL. NULL on failure (*err as above). */
GOC_API goc_tls_config *goc_tls_client_config_new(const goc_tls_opts *opts, int *err);
GOC_API goc_tls_config *goc_tls_config_retain(goc_tls_config *c); /* returns c */
GOC_API void goc_tls_config_release(goc_tls_config *c);           /* NULL ignored */

/* Wrap a connected socket fd; the conn retains cfg. NULL on ENOMEM (or a
 * NULL cfg, a config of the wrong side). server_name (client): the SNI
 * sent and the name verified; NULL or "": no SNI and no name check; an IP
 * literal: no SNI, verified against the certificate's IP addresses. */
GOC_API goc_tls_conn *goc_tls_server(int fd, goc_tls_config *cfg);
GOC_API goc_tls_conn *goc_tls_client(int fd, goc_tls_config *cfg, const char *server_name);

/* The handshake; the first read or write does it if not done. 0 or
 * negative: GOC_ETLS_*, -ECONNRESET, -EPIPE, -ETIMEDOUT (the fd's
 * deadline), -EBADF (goc_close). A failed handshake fails every later
 * call the same way. Server side, the first byte is peeked first: if it
 * does not start a TLS handshake record, GOC_ETLS_NOT_TLS, with the bytes
 * left unread (an HTTP server can answer them in plain text). */
GOC_API int goc_tls_handshake(goc_tls_conn *t);
/* Up to n decrypted bytes: the count, 0 at the peer's close_notify or at
 * EOF on a record boundary, or negative (GOC_ETLS_PROTOCOL for EOF within
 * a record). */
GOC_API ssize_t goc_tls_read(goc_tls_conn *t, void *buf, size_t n);
/* Every byte (n) or negative. */
GOC_API ssize_t goc_tls_write(goc_tls_conn *t, const void *buf, size_t n);
/* Every byte of iov; small pieces are coalesced into one record. */
GOC_API ssize_t goc_tls_writev(goc_tls_conn *t, const struct iovec *iov, int iovcnt);
/* Send count bytes of the file in_fd from *off (advanced): with kernel
 * TLS sending, zero copy (SSL_sendfile); else read and encrypt. The count
 * sent (less only at end of file) or negative. */
GOC_API ssize_t goc_tls_sendfile(goc_tls_conn *t, int in_fd, off_t *off, size_t count);
/* Send close_notify (best effort; does not wait for the peer's). 0 or
 * negative; 0 if the handshake never completed (nothing sent). */
GOC_API int goc_tls_close_notify(goc_tls_conn *t);
/* Free t (NULL ignored); no call on it may be running. Not the fd. */
GOC_API void goc_tls_free(goc_tls_conn *t);

GOC_API int goc_tls_fd(const goc_tls_conn *t);
/* After the handshake (before it: "", 0, false). Strings live as t. */
GOC_API const char *goc_tls_alpn(const goc_tls_conn *t);        /* negotiated protocol or "" */
GOC_API const char *goc_tls_server_name(const goc_tls_conn *t); /* server: SNI received or "" */
GOC_API int goc_tls_version(const goc_tls_conn *t);             /* GOC_TLS_VERSION_1x or 0 */
GOC_API bool goc_tls_resumed(const goc_tls_conn *t);   /* resumed (abbreviated handshake) */
GOC_API bool goc_tls_ktls_send(const goc_tls_conn *t); /* the kernel encrypts sends */
GOC_API size_t goc_tls_pending(const goc_tls_conn *t); /* decrypted bytes buffered */

#ifdef __cplusplus
}
#endif
#endif /* GOC_TLS_H */
