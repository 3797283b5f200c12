/*
 * tlsutil.h — a throwaway PKI for the TLS tests (header-only, all
 * static): a CA and ECDSA P-256 certificates made at run time with
 * OpenSSL's API into the test's temporary directory (no key material in
 * the tree), and running the `openssl` command as a peer.
 *
 * Files (tls_pki.path[...]): ca.pem; good (localhost, 127.0.0.1), expired,
 * other (other.test), rogue (localhost, from an unknown CA), b (b.test,
 * *.wild.test), each as NAME.pem and NAME.key.
 */
#ifndef GOC_TESTS_HTTP_TLSUTIL_H
#define GOC_TESTS_HTTP_TLSUTIL_H

#include <goc/tls.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <spawn.h>

#include "net/netutil.h"

extern char **environ;

static char tls_dir_[64];

/* <tmpdir>/name, in a static ring (enough for the calls of a few
 * goroutines at once: its index is taken atomically). */
static inline const char *tls_path(const char *name)
{
    static char ring[32][160];
    static unsigned next;
    char *p = ring[__atomic_fetch_add(&next, 1, __ATOMIC_RELAXED) % 32];
    snprintf(p, sizeof ring[0], "%s/%s", test_tmpdir(), name);
    return p;
}

static inline void tls_add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (e) {
        X509_add_ext(x, e, -1);
        X509_EXTENSION_free(e);
    }
}

/* A certificate for key, valid from now+from_s to now+to_s seconds,
 * signed by issuer/ikey (NULL: self-signed). */
static inline X509 *tls_mkcert(EVP_PKEY *key, const char *cn, const char *sans, X509 *issuer,
                               EVP_PKEY *ikey, long from_s, long to_s, bool ca)
{
    static long serial = 1;
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial++ + (long)getpid() * 100);
    X509_gmtime_adj(X509_getm_notBefore(x), from_s);
    X509_gmtime_adj(X509_getm_notAfter(x), to_s);
    X509_set_pubkey(x, key);
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : n);
    X509 *is = issuer ? issuer : x;
    tls_add_ext(x, is, NID_basic_constraints, ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
    tls_add_ext(x, is, NID_key_usage,
                ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature");
    tls_add_ext(x, is, NID_subject_key_identifier, "hash");
    if (issuer)
        tls_add_ext(x, is, NID_authority_key_identifier, "keyid:always");
    if (sans)
        tls_add_ext(x, is, NID_subject_alt_name, sans);
    X509_sign(x, ikey ? ikey : key, EVP_sha256());
    return x;
}

static inline bool tls_write_pem(const char *name, X509 *x, EVP_PKEY *k)
{
    char file[64];
    snprintf(file, sizeof file, "%s.pem", name);
    FILE *f = fopen(tls_path(file), "w");
    bool ok = f && PEM_write_X509(f, x);
    if (f)
        fclose(f);
    if (k) {
        snprintf(file, sizeof file, "%s.key", name);
        f = fopen(tls_path(file), "w");
        ok = ok && f && PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
        if (f)
            fclose(f);
    }
    return ok;
}

/* A leaf NAME.pem/.key signed by ca/cakey. */
static inline bool tls_leaf(const char *name, const char *sans, X509 *ca, EVP_PKEY *cakey,
                            long from_s, long to_s)
{
    EVP_PKEY *k = EVP_EC_gen("P-256");
    X509 *x = tls_mkcert(k, name, sans, ca, cakey, from_s, to_s, false);
    bool ok = tls_write_pem(name, x, k);
    X509_free(x);
    EVP_PKEY_free(k);
    return ok;
}

/* The whole PKI into the temporary directory. */
static inline bool tls_pki_make(void)
{
    const long day = 86400;
    EVP_PKEY *cak = EVP_EC_gen("P-256"), *rk = EVP_EC_gen("P-256");
    X509 *ca = tls_mkcert(cak, "goc test CA", NULL, NULL, NULL, -day, 30 * day, true);
    X509 *rogue = tls_mkcert(rk, "rogue CA", NULL, NULL, NULL, -day, 30 * day, true);
    bool ok = tls_write_pem("ca", ca, NULL) &&
              tls_leaf("good", "DNS:localhost,IP:127.0.0.1", ca, cak, -day, 30 * day) &&
              tls_leaf("expired", "DNS:localhost,IP:127.0.0.1", ca, cak, -30 * day, -day) &&
              tls_leaf("other", "DNS:other.test", ca, cak, -day, 30 * day) &&
              tls_leaf("rogue", "DNS:localhost,IP:127.0.0.1", rogue, rk, -day, 30 * day) &&
              tls_leaf("b", "DNS:b.test,DNS:*.wild.test", ca, cak, -day, 30 * day);
    X509_free(ca);
    X509_free(rogue);
    EVP_PKEY_free(cak);
    EVP_PKEY_free(rk);
    snprintf(tls_dir_, sizeof tls_dir_, "%s", test_tmpdir());
    return ok;
}

static inline goc_tls_config *tls_server_cfg(const char *name, const char *alpn)
{
    char c[32], k[32];
    snprintf(c, sizeof c, "%s.pem", name);
    snprintf(k, sizeof k, "%s.key", name);
    goc_tls_opts o = {.alpn = alpn};
    int err = 0;
    goc_tls_config *cfg = goc_tls_server_config_new(tls_path(c), tls_path(k), &o, &err);
    GO_CHECK(cfg, "server config %s: %s", name, goc_errmsg());
    return cfg;
}

static inline goc_tls_config *tls_client_cfg(const char *alpn)
{
    goc_tls_opts o = {.ca_file = tls_path("ca.pem"), .alpn = alpn};
    int err = 0;
    goc_tls_config *cfg = goc_tls_client_config_new(&o, &err);
    GO_CHECK(cfg, "client config: %s", goc_errmsg());
    return cfg;
}

/* ---- the openssl command as a peer -------------------------------------------------- */

struct tls_sh {
    const char *cmd;
    int status;
};

static void tls_sh_run(void *arg)
{
    struct tls_sh *s = arg;
    s->status = system(s->cmd);
}

/* Run a shell command on goc's blocking pool (the goroutine parks). */
static inline int tls_sh(const char *cmd)
{
    struct tls_sh s = {cmd, -1};
    goc_blocking(tls_sh_run, &s);
    return s.status;
}

/* Start argv in the background (output to log); its pid or -1. */
static inline pid_t tls_spawn(char *const argv[], const char *log)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    return rc == 0 ? pid : -1;
}

static inline void tls_reap(pid_t pid)
{
    kill(pid, SIGTERM);
    for (int i = 0; i < 200 && waitpid(pid, NULL, WNOHANG) == 0; i++)
        goc_sleep(10 * GOC_MILLISECOND);
}

/* A free loopback port (closed again: a small race, fine for tests). */
static inline int tls_free_port(void)
{
    int lfd = goc_listen("tcp", "127.0.0.1:0");
    int port = lfd >= 0 ? sock_port(lfd) : -1;
    goc_close(lfd);
    return port;
}

/* Dial port until it accepts (a peer starting up); the fd or negative. */
static inline int tls_dial_retry(int port)
{
    char addr[32];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    int fd = -1;
    for (int i = 0; i < 250 && fd < 0; i++) {
        fd = goc_dial("tcp", addr, GOC_SECOND);
        if (fd < 0)
            goc_sleep(20 * GOC_MILLISECOND);
    }
    return fd;
}

static inline bool tls_file_has(const char *path, const char *needle)
{
    char *data = NULL;
    size_t len = 0;
    if (goc_read_file(path, &data, &len) < 0)
        return false;
    bool ok = memmem(data, len, needle, strlen(needle)) != NULL;
    free(data);
    return ok;
}

#endif /* GOC_TESTS_HTTP_TLSUTIL_H */
