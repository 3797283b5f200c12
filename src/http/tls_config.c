/*
 * tls_config.c — goc_tls_config: one SSL_CTX per config, the server's
 * certificates, SNI, ALPN, reloading, and the client's ticket cache.
 *
 * Server certificates are not kept in the SSL_CTX: a config holds an
 * immutable, reference-counted set of them (goc__tls_certs), and each new
 * connection takes a reference to the set current then. During the
 * handshake the certificate callback (cert_cb) picks one by SNI and
 * installs it on that SSL only. add_cert and reload build a new set and
 * swap it in under cfg->lock, so the SSL_CTX (and with it the server's resumption
 * cache and ticket keys) lives as long as the config, new handshakes see
 * the new certificates, and an old set is freed when its last connection
 * goes.
 *
 * Client tickets: OpenSSL hands each new resumption state to new_ticket (for
 * TLS 1.3 after the handshake, when a ticket arrives); the config keeps
 * the last one per server name in a small table (least recently used
 * out), and goc_tls_client resumes from it.
 */
#include "http/tls.h"

#include <ctype.h>
#include <errno.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- certificates ----------------------------------------------------------- */

static void cert_clear(goc__tls_cert *c)
{
    X509_free(c->leaf);
    sk_X509_pop_free(c->chain, X509_free);
    EVP_PKEY_free(c->key);
    for (int i = 0; i < c->nnames; i++)
        free(c->names[i]);
    free(c->names);
    free(c->cert_file);
    free(c->key_file);
    memset(c, 0, sizeof *c);
}

/* The leaf's DNS SANs, lowercased, into c->names. 0 or -ENOMEM. */
static int cert_names(goc__tls_cert *c)
{
    GENERAL_NAMES *gens = X509_get_ext_d2i(c->leaf, NID_subject_alt_name, NULL, NULL);
    int n = gens ? sk_GENERAL_NAME_num(gens) : 0;
    int rc = 0;
    c->names = calloc(n > 0 ? (size_t)n : 1, sizeof *c->names);
    if (!c->names)
        rc = -ENOMEM;
    for (int i = 0; i < n && rc == 0; i++) {
        GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        if (g->type != GEN_DNS)
            continue;
        const unsigned char *s = ASN1_STRING_get0_data(g->d.dNSName);
        int len = ASN1_STRING_length(g->d.dNSName);
        char *name = malloc((size_t)len + 1);
        if (!name) {
            rc = -ENOMEM;
            break;
        }
        for (int k = 0; k < len; k++)
            name[k] = (char)tolower(s[k]);
        name[len] = '\0';
        c->names[c->nnames++] = name;
    }
    GENERAL_NAMES_free(gens);
    return rc;
}

static int load_failed(int err, const char *what, const char *file)
{
    unsigned long e = ERR_peek_last_error();
    const char *why = e ? ERR_reason_error_string(e) : NULL;
    ERR_clear_error();
    if (err == GOC_ETLS_CERT)
        return goc__errorf(err, "tls: %s (%s)%s%s", what, file, why ? ": " : "", why ? why : "");
    return goc__errorf(err, "tls: open %s: %s", file, goc_strerror(err));
}

/* Read the chain of cert_file and the key of key_file into *c. */
static int cert_load(goc__tls_cert *c, const char *cert_file, const char *key_file)
{
    memset(c, 0, sizeof *c);
    ERR_clear_error();
    FILE *f = fopen(cert_file, "r");
    if (!f)
        return load_failed(-errno, NULL, cert_file);
    c->leaf = PEM_read_X509(f, NULL, NULL, NULL);
    X509 *x;
    while (c->leaf && (x = PEM_read_X509(f, NULL, NULL, NULL)) != NULL) {
        if (!c->chain)
            c->chain = sk_X509_new_null();
        if (!c->chain || !sk_X509_push(c->chain, x)) {
            X509_free(x);
            fclose(f);
            cert_clear(c);
            return goc__errorf(-ENOMEM, "tls: loading %s: out of memory", cert_file);
        }
    }
    fclose(f);
    if (!c->leaf)
        return load_failed(GOC_ETLS_CERT, "failed to find any PEM data in certificate input",
                           cert_file);
    ERR_clear_error(); /* the end of the PEM list */
    f = fopen(key_file, "r");
    if (!f) {
        int err = -errno;
        cert_clear(c);
        return load_failed(err, NULL, key_file);
    }
    c->key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    int rc = 0;
    if (!c->key)
        rc = load_failed(GOC_ETLS_CERT, "failed to find any PEM data in key input", key_file);
    else if (X509_check_private_key(c->leaf, c->key) != 1)
        rc = load_failed(GOC_ETLS_CERT, "private key does not match public key", key_file);
    else if (cert_names(c) < 0 || !(c->cert_file = strdup(cert_file)) ||
             !(c->key_file = strdup(key_file)))
        rc = goc__errorf(-ENOMEM, "tls: loading %s: out of memory", cert_file);
    if (rc < 0)
        cert_clear(c);
    return rc;
}

/* A cert's objects with their own references (for a new set). */
static int cert_copy(goc__tls_cert *dst, const goc__tls_cert *src)
{
    memset(dst, 0, sizeof *dst);
    dst->names = calloc(src->nnames > 0 ? (size_t)src->nnames : 1, sizeof *dst->names);
    dst->cert_file = strdup(src->cert_file);
    dst->key_file = strdup(src->key_file);
    dst->chain = src->chain ? X509_chain_up_ref(src->chain) : NULL;
    bool ok = dst->names && dst->cert_file && dst->key_file && (!src->chain || dst->chain);
    for (int i = 0; ok && i < src->nnames; i++) {
        dst->names[i] = strdup(src->names[i]);
        ok = dst->names[i] != NULL;
        dst->nnames += ok;
    }
    X509_up_ref(src->leaf);
    dst->leaf = src->leaf;
    EVP_PKEY_up_ref(src->key);
    dst->key = src->key;
    if (!ok) {
        cert_clear(dst);
        return -ENOMEM;
    }
    return 0;
}

static goc__tls_certs *certs_new(int n)
{
    goc__tls_certs *s = calloc(1, sizeof *s + (size_t)n * sizeof s->cert[0]);
    if (s)
        atomic_init(&s->refs, 1);
    return s;
}

void goc__tls_certs_put(goc__tls_certs *s)
{
    /* acq_rel: the last owner sees every other owner's use finished. */
    if (!s || atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (int i = 0; i < s->n; i++)
        cert_clear(&s->cert[i]);
    free(s);
}

goc__tls_certs *goc__tls_certs_get(goc_tls_config *c)
{
    goc__lock_acquire(&c->lock);
    goc__tls_certs *s = c->certs;
    if (s)
        atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed); /* under lock */
    goc__lock_release(&c->lock);
    return s;
}

/* Make s current (the config's reference moves to it); drop the old. */
static void certs_swap(goc_tls_config *c, goc__tls_certs *s)
{
    goc__lock_acquire(&c->lock);
    goc__tls_certs *old = c->certs;
    c->certs = s;
    goc__lock_release(&c->lock);
    goc__tls_certs_put(old);
}

/* ---- SNI and ALPN callbacks (server) ------------------------------------------- */

/* Go's getCertificate: an exact name, else a wildcard for the first label. */
static bool name_matches(const goc__tls_cert *c, const char *sni)
{
    const char *dot = strchr(sni, '.');
    for (int i = 0; i < c->nnames; i++) {
        const char *n = c->names[i];
        if (strcasecmp(n, sni) == 0)
            return true;
        if (n[0] == '*' && n[1] == '.' && dot && dot != sni && strcasecmp(n + 1, dot) == 0)
            return true;
    }
    return false;
}

static int cert_cb(SSL *ssl, void *arg)
{
    (void)arg;
    goc_tls_conn *t = SSL_get_app_data(ssl);
    if (!t || !t->certs || t->certs->n == 0)
        return 0;
    const char *sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    const goc__tls_cert *pick = &t->certs->cert[0];
    for (int i = 0; sni && *sni && i < t->certs->n; i++) {
        if (name_matches(&t->certs->cert[i], sni)) {
            pick = &t->certs->cert[i];
            break;
        }
    }
    return SSL_use_cert_and_key(ssl, pick->leaf, pick->key, pick->chain, 1) == 1;
}

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned inlen, void *arg)
{
    (void)ssl;
    goc_tls_config *c = arg;
    unsigned char *o;
    /* The server's list first: its first protocol the client offers. */
    if (!c->alpn || SSL_select_next_proto(&o, outlen, c->alpn, c->alpn_len, in, inlen) !=
                        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK; /* no overlap: no ALPN, as Go for http/1.1 */
    *out = o;
    return SSL_TLSEXT_ERR_OK;
}

/* ---- client tickets ----------------------------------------------------------------- */

static int new_ticket(SSL *ssl, SSL_SESSION *sess)
{
    goc_tls_conn *t = SSL_get_app_data(ssl);
    if (!t || !SSL_SESSION_is_resumable(sess))
        return 0;
    goc_tls_config *c = t->cfg;
    char *name = strdup(t->server_name ? t->server_name : "");
    if (!name)
        return 0;
    goc__lock_acquire(&c->lock);
    int slot = 0;
    for (int i = 0; i < GOC__TLS_TICKETS; i++) {
        if (c->tickets[i].name && strcmp(c->tickets[i].name, name) == 0) {
            slot = i;
            break;
        }
        if (c->tickets[i].used < c->tickets[slot].used)
            slot = i; /* least recently used (or empty) */
    }
    char *oldname = c->tickets[slot].name;
    SSL_SESSION *old = c->tickets[slot].sess;
    c->tickets[slot].name = name;
    c->tickets[slot].sess = sess;
    c->tickets[slot].used = ++c->clock;
    goc__lock_release(&c->lock);
    free(oldname);
    SSL_SESSION_free(old);
    return 1; /* the table keeps the reference */
}

SSL_SESSION *goc__tls_ticket_get(goc_tls_config *c, const char *name)
{
    SSL_SESSION *s = NULL;
    goc__lock_acquire(&c->lock);
    for (int i = 0; i < GOC__TLS_TICKETS; i++) {
        if (c->tickets[i].name && strcmp(c->tickets[i].name, name) == 0) {
            s = c->tickets[i].sess;
            c->tickets[i].used = ++c->clock;
            if (s)
                SSL_SESSION_up_ref(s);
            break;
        }
    }
    goc__lock_release(&c->lock);
    return s;
}

/* ---- configs -------------------------------------------------------------------------- */

/* "h2,http/1.1" in wire format. */
static int alpn_wire(goc_tls_config *c, const char *list)
{
    if (!list || !*list)
        return 0;
    size_t n = strlen(list);
    c->alpn = malloc(n + 1);
    if (!c->alpn)
        return -ENOMEM;
    unsigned len = 0;
    for (const char *p = list; *p;) {
        size_t k = strcspn(p, ",");
        if (k == 0 || k > 255)
            return goc__errorf(-EINVAL, "tls: bad ALPN list \"%s\"", list);
        c->alpn[len++] = (unsigned char)k;
        memcpy(c->alpn + len, p, k);
        len += (unsigned)k;
        p += k + (p[k] == ',');
    }
    c->alpn_len = len;
    return 0;
}

static int version_range(SSL_CTX *ctx, const goc_tls_opts *o)
{
    int lo = o->min_version ? o->min_version : GOC_TLS_VERSION_12;
    int hi = o->max_version ? o->max_version : GOC_TLS_VERSION_13;
    if (lo < GOC_TLS_VERSION_12)
        lo = GOC_TLS_VERSION_12; /* 1.0 and 1.1 are never spoken */
    if (hi > GOC_TLS_VERSION_13 || hi < lo)
        return goc__errorf(-EINVAL, "tls: bad version range 0x%04x-0x%04x", lo, hi);
    SSL_CTX_set_min_proto_version(ctx, lo);
    SSL_CTX_set_max_proto_version(ctx, hi);
    return 0;
}

static goc_tls_config *config_new(bool server, const goc_tls_opts *o, int *err)
{
    goc_tls_config *c = calloc(1, sizeof *c);
    if (!c) {
        *err = goc__errset(-ENOMEM, "tls: config: out of memory");
        return NULL;
    }
    atomic_init(&c->refs, 1);
    c->server = server;
    c->no_ktls = o->no_ktls;
    pthread_mutex_init(&c->update, NULL);
    c->ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    if (!c->ctx) {
        *err = goc__tls_openssl_error(-ENOMEM, "tls: SSL_CTX_new");
        goc_tls_config_release(c);
        return NULL;
    }
    if ((*err = alpn_wire(c, o->alpn)) < 0 || (*err = version_range(c->ctx, o)) < 0) {
        goc_tls_config_release(c);
        return NULL;
    }
    uint64_t op = SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF;
    if (!o->no_ktls)
        op |= SSL_OP_ENABLE_KTLS;
    SSL_CTX_set_options(c->ctx, op);
    /* Writes are split in records by us; the reader and the writer each
     * retry with the same buffer, so partial writes are simplest. */
    SSL_CTX_set_mode(c->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    return c;
}

GOC_API goc_tls_config *goc_tls_server_config_new(const char *cert_file, const char *key_file,
                                                  const goc_tls_opts *opts, int *err)
{
    goc_tls_opts none = {0};
    int e = 0;
    if (!err)
        err = &e;
    if (!cert_file || !key_file) {
        *err = goc__errset(-EINVAL, "tls: server config: a certificate and a key are needed");
        return NULL;
    }
    goc_tls_config *c = config_new(true, opts ? opts : &none, err);
    if (!c)
        return NULL;
    SSL_CTX *ctx = c->ctx;
    SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
    /* The server's order, as Go's on AES hardware: AES-128-GCM first (as
     * safe as 256 and ~15% cheaper per byte), then AES-256-GCM and
     * ChaCha20. TLS 1.2: ECDHE only, AEADs first. */
    SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:"
                                  "TLS_CHACHA20_POLY1305_SHA256");
    SSL_CTX_set_cipher_list(
        ctx, "ECDHE+AES128+AESGCM:ECDHE+AESGCM:ECDHE+CHACHA20:ECDHE+AES:!aNULL:!SHA1");
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
    SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"goc", 3);
    SSL_CTX_set_cert_cb(ctx, cert_cb, NULL);
    if (c->alpn)
        SSL_CTX_set_alpn_select_cb(ctx, alpn_select, c);
    goc__tls_certs *s = certs_new(1);
    if (!s) {
        *err = goc__errset(-ENOMEM, "tls: config: out of memory");
    } else if ((*err = cert_load(&s->cert[0], cert_file, key_file)) == 0) {
        s->n = 1;
        c->certs = s;
        return c;
    }
    free(s);
    goc_tls_config_release(c);
    return NULL;
}

GOC_API goc_tls_config *goc_tls_client_config_new(const goc_tls_opts *opts, int *err)
{
    goc_tls_opts none = {0};
    int e = 0;
    if (!err)
        err = &e;
    const goc_tls_opts *o = opts ? opts : &none;
    goc_tls_config *c = config_new(false, o, err);
    if (!c)
        return NULL;
    SSL_CTX *ctx = c->ctx;
    if (o->insecure_skip_verify) {
        fprintf(stderr,
                "goc: tls: insecure_skip_verify: this client config (%p) does not "
                "verify certificates\n",
                (void *)c);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, goc__tls_verify_cb);
        int ok = o->ca_file || o->ca_dir ? SSL_CTX_load_verify_locations(ctx, o->ca_file, o->ca_dir)
                                         : SSL_CTX_set_default_verify_paths(ctx);
        if (ok != 1) {
            *err = goc__tls_openssl_error(GOC_ETLS_CERT, "tls: loading the roots");
            goc_tls_config_release(c);
            return NULL;
        }
    }
    if (c->alpn && SSL_CTX_set_alpn_protos(ctx, c->alpn, c->alpn_len) != 0) {
        *err = goc__errset(-ENOMEM, "tls: config: out of memory");
        goc_tls_config_release(c);
        return NULL;
    }
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx, new_ticket);
    return c;
}

GOC_API goc_tls_config *goc_tls_config_retain(goc_tls_config *c)
{
    if (c)
        atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed); /* caller holds one */
    return c;
}

GOC_API void goc_tls_config_release(goc_tls_config *c)
{
    /* acq_rel: the last owner sees every other owner's use finished. */
    if (!c || atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1)
        return;
    goc__tls_certs_put(c->certs);
    for (int i = 0; i < GOC__TLS_TICKETS; i++) {
        free(c->tickets[i].name);
        SSL_SESSION_free(c->tickets[i].sess);
    }
    SSL_CTX_free(c->ctx);
    free(c->alpn);
    pthread_mutex_destroy(&c->update);
    free(c);
}

/* ---- add_cert and reload ------------------------------------------------------------ */

GOC_API int goc_tls_config_add_cert(goc_tls_config *c, const char *cert_file, const char *key_file)
{
    if (!c || !c->server || !cert_file || !key_file)
        return goc__errset(-EINVAL, "tls: add_cert: a server config, a certificate and a key");
    goc__tls_cert nc;
    int rc = cert_load(&nc, cert_file, key_file);
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&c->update);
    goc__tls_certs *cur = goc__tls_certs_get(c);
    goc__tls_certs *s = certs_new(cur->n + 1);
    for (int i = 0; s && i < cur->n; i++, s->n++)
        if (cert_copy(&s->cert[i], &cur->cert[i]) < 0)
            break;
    if (!s || s->n < cur->n) {
        goc__tls_certs_put(s);
        cert_clear(&nc);
        rc = goc__errset(-ENOMEM, "tls: add_cert: out of memory");
    } else {
        s->cert[s->n++] = nc;
        certs_swap(c, s);
    }
    goc__tls_certs_put(cur);
    pthread_mutex_unlock(&c->update);
    return rc;
}

GOC_API int goc_tls_config_reload(goc_tls_config *c)
{
    if (!c || !c->server)
        return goc__errset(-EINVAL, "tls: reload: not a server config");
    pthread_mutex_lock(&c->update);
    goc__tls_certs *cur = goc__tls_certs_get(c);
    goc__tls_certs *s = certs_new(cur->n);
    int rc = s ? 0 : goc__errset(-ENOMEM, "tls: reload: out of memory");
    for (int i = 0; rc == 0 && i < cur->n; i++) {
        rc = cert_load(&s->cert[i], cur->cert[i].cert_file, cur->cert[i].key_file);
        s->n += rc == 0;
    }
    if (rc == 0)
        certs_swap(c, s);
    else
        goc__tls_certs_put(s);
    goc__tls_certs_put(cur);
    pthread_mutex_unlock(&c->update);
    return rc;
}
