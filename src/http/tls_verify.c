/*
 * tls_verify.c — why a TLS call failed: the texts of the GOC_ETLS_*
 * codes, the client's verify callback (which notes the first problem
 * with the server's chain, with the certificate's names or dates), and
 * the mapping of OpenSSL's errors to goc's codes and goc_errmsg texts,
 * worded as Go's crypto/tls and crypto/x509 word them.
 */
#include "http/tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>

static const char *tls_strerror(int err)
{
    switch (err) {
    case GOC_ETLS_HANDSHAKE:
        return "tls: handshake failure";
    case GOC_ETLS_UNKNOWN_CA:
        return "x509: certificate signed by unknown authority";
    case GOC_ETLS_EXPIRED:
        return "x509: certificate has expired or is not yet valid";
    case GOC_ETLS_HOSTNAME:
        return "x509: certificate is not valid for the host";
    case GOC_ETLS_VERIFY:
        return "x509: certificate verification failed";
    case GOC_ETLS_VERSION:
        return "tls: protocol version not supported";
    case GOC_ETLS_CERT:
        return "tls: cannot load certificate or key";
    case GOC_ETLS_NOT_TLS:
        return "tls: first record does not look like a TLS handshake";
    case GOC_ETLS_PROTOCOL:
        return "tls: protocol error";
    default:
        return "unknown tls error";
    }
}

/* Before main: goc_strerror may be asked about a code before any call. */
__attribute__((constructor)) static void register_texts(void)
{
    goc__errtext_register(GOC_ETLS_PROTOCOL, GOC_ETLS_HANDSHAKE, tls_strerror);
}

int goc__tls_openssl_error(int err, const char *what)
{
    unsigned long e = ERR_peek_last_error();
    const char *why = e ? ERR_reason_error_string(e) : NULL;
    ERR_clear_error();
    return goc__errorf(err, "%s: %s", what, why ? why : goc_strerror(err));
}

/* ---- the verify callback --------------------------------------------------------- */

/* "a.test, b.test, 10.0.0.1": the names x is valid for. */
static void san_list(X509 *x, char *buf, size_t n)
{
    buf[0] = '\0';
    GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    size_t len = 0;
    for (int i = 0; gens && i < sk_GENERAL_NAME_num(gens) && len + 1 < n; i++) {
        GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        char one[64] = "";
        if (g->type == GEN_DNS) {
            snprintf(one, sizeof one, "%.*s", ASN1_STRING_length(g->d.dNSName),
                     (const char *)ASN1_STRING_get0_data(g->d.dNSName));
        } else if (g->type == GEN_IPADD) {
            const unsigned char *ip = ASN1_STRING_get0_data(g->d.iPAddress);
            int iplen = ASN1_STRING_length(g->d.iPAddress);
            if (iplen == 4 || iplen == 16)
                inet_ntop(iplen == 4 ? AF_INET : AF_INET6, ip, one, sizeof one);
        }
        if (one[0])
            len += (size_t)snprintf(buf + len, n - len, "%s%s", len ? ", " : "", one);
    }
    GENERAL_NAMES_free(gens);
}

static void asn1_time(const ASN1_TIME *t, char *buf, size_t n)
{
    buf[0] = '\0';
    BIO *b = BIO_new(BIO_s_mem());
    if (!b)
        return;
    if (ASN1_TIME_print(b, t) == 1) {
        int k = BIO_read(b, buf, (int)n - 1);
        buf[k > 0 ? k : 0] = '\0';
    }
    BIO_free(b);
}

/* The code and message for verify error e on certificate x. */
static void note(goc_tls_conn *t, int e, X509 *x)
{
    char when[64], names[160];
    const char *want = t->server_name ? t->server_name : "";
    switch (e) {
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
        t->verr = GOC_ETLS_UNKNOWN_CA;
        snprintf(t->vmsg, sizeof t->vmsg, "x509: certificate signed by unknown authority");
        break;
    case X509_V_ERR_CERT_HAS_EXPIRED:
    case X509_V_ERR_CERT_NOT_YET_VALID:
        t->verr = GOC_ETLS_EXPIRED;
        if (e == X509_V_ERR_CERT_HAS_EXPIRED) {
            asn1_time(x ? X509_get0_notAfter(x) : NULL, when, sizeof when);
            snprintf(t->vmsg, sizeof t->vmsg, "x509: certificate has expired (notAfter %s)", when);
        } else {
            asn1_time(x ? X509_get0_notBefore(x) : NULL, when, sizeof when);
            snprintf(t->vmsg, sizeof t->vmsg, "x509: certificate is not yet valid (notBefore %s)",
                     when);
        }
        break;
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH:
        t->verr = GOC_ETLS_HOSTNAME;
        if (x)
            san_list(x, names, sizeof names);
        else
            names[0] = '\0';
        if (names[0])
            snprintf(t->vmsg, sizeof t->vmsg, "x509: certificate is valid for %s, not %s", names,
                     want);
        else
            snprintf(t->vmsg, sizeof t->vmsg,
                     "x509: certificate is not valid for any names, but wanted to match %s", want);
        break;
    default:
        t->verr = GOC_ETLS_VERIFY;
        snprintf(t->vmsg, sizeof t->vmsg, "x509: certificate verification failed: %s",
                 X509_verify_cert_error_string(e));
        break;
    }
}

int goc__tls_verify_cb(int ok, X509_STORE_CTX *x)
{
    if (ok)
        return 1;
    SSL *ssl = X509_STORE_CTX_get_ex_data(x, SSL_get_ex_data_X509_STORE_CTX_idx());
    goc_tls_conn *t = ssl ? SSL_get_app_data(ssl) : NULL;
    if (t && !t->verr)
        note(t, X509_STORE_CTX_get_error(x), X509_STORE_CTX_get_current_cert(x));
    return 0;
}

/* ---- mapping failures ---------------------------------------------------------------- */

static bool version_reason(int r)
{
    return r == SSL_R_UNSUPPORTED_PROTOCOL || r == SSL_R_TLSV1_ALERT_PROTOCOL_VERSION ||
           r == SSL_R_WRONG_SSL_VERSION || r == SSL_R_NO_PROTOCOLS_AVAILABLE ||
           r == SSL_R_VERSION_TOO_LOW;
}

static bool not_tls_reason(int r)
{
    return r == SSL_R_WRONG_VERSION_NUMBER || r == SSL_R_HTTP_REQUEST ||
           r == SSL_R_HTTPS_PROXY_REQUEST || r == SSL_R_PACKET_LENGTH_TOO_LONG;
}

/* A library error (SSL_ERROR_SSL). */
static int ssl_failed(goc_tls_conn *t, bool handshake, const char *op)
{
    unsigned long e = ERR_peek_error(); /* the first: the cause */
    int r = ERR_GET_REASON(e);
    const char *why = e ? ERR_reason_error_string(e) : NULL;
    if (!why)
        why = "unknown error";
    int rc;
    if (t->verr && (r == SSL_R_CERTIFICATE_VERIFY_FAILED || handshake))
        rc = goc__errorf(t->verr, "%s", t->vmsg);
    else if (version_reason(r))
        rc = goc__errorf(GOC_ETLS_VERSION, "tls: protocol version not supported: %s", why);
    else if (handshake && not_tls_reason(r))
        rc = goc__errorf(GOC_ETLS_NOT_TLS,
                         "tls: first record does not look like a TLS handshake: %s", why);
    else if (handshake)
        rc = goc__errorf(GOC_ETLS_HANDSHAKE, "tls: handshake failure: %s", why);
    else
        rc = goc__errorf(GOC_ETLS_PROTOCOL, "tls: %s: %s", op, why);
    ERR_clear_error();
    return rc;
}

int goc__tls_failed(goc_tls_conn *t, int sslerr, int sys_errno, bool handshake, const char *op)
{
    switch (sslerr) {
    case SSL_ERROR_ZERO_RETURN:
    case SSL_ERROR_SYSCALL:
        if (sslerr == SSL_ERROR_SYSCALL && ERR_peek_error() != 0)
            return ssl_failed(t, handshake, op);
        if (sslerr == SSL_ERROR_SYSCALL && sys_errno != 0) {
            ERR_clear_error();
            return goc__errorf(-sys_errno, "%s fd %d: %s", op, t->fd, goc_strerror(-sys_errno));
        }
        if (handshake)
            return goc__errorf(-ECONNRESET, "tls: handshake: connection closed by the peer (EOF)");
        /* EOF: within a record it is a truncation, at a boundary just EOF. */
        if (SSL_has_pending(t->ssl))
            return goc__errorf(GOC_ETLS_PROTOCOL, "tls: %s: unexpected EOF within a record", op);
        return 0;
    case SSL_ERROR_SSL:
        return ssl_failed(t, handshake, op);
    default:
        ERR_clear_error();
        return goc__errorf(GOC_ETLS_PROTOCOL, "tls: %s: OpenSSL error %d", op, sslerr);
    }
}
