/*
 * test_tls.c — goc_tls over loopback: goc client against goc server
 * (echo of several MiB both ways with a reader and a writer on one conn),
 * each certificate failure with its own code and message, SNI, ALPN,
 * reloading certificates, resumption, plain HTTP to a TLS server,
 * deadlines in a stalled handshake, truncation, sendfile, refused TLS
 * 1.1, and the openssl command as the peer on either side.
 */
#include <criterion/criterion.h>

#include "http/tlsutil.h"

/* ---- a server: accepts and handles one connection at a time ------------------------ */

typedef struct tsrv {
    int lfd, port;
    goc_tls_config *cfg;
    void (*handle)(struct tsrv *s, goc_tls_conn *t);
    goc_chan *done; /* each connection's handshake result (int) */
    char sni[64], alpn[32];
    bool resumed;
    int version;
    char msg[256]; /* the last handshake failure's goc_errmsg */
} tsrv;

static void h_hello(tsrv *s, goc_tls_conn *t)
{
    (void)s;
    goc_tls_write(t, "hello\n", 6);
    char buf[256];
    while (goc_tls_read(t, buf, sizeof buf) > 0) {
    }
}

static void tsrv_loop(void *arg)
{
    tsrv *s = arg;
    for (;;) {
        int fd = goc_accept(s->lfd, NULL, NULL);
        if (fd < 0)
            break;
        goc_set_deadline(fd, goc_now() + 10 * GOC_SECOND * test_slack());
        goc_tls_conn *t = goc_tls_server(fd, s->cfg);
        int rc = t ? goc_tls_handshake(t) : -ENOMEM;
        if (rc == 0) {
            snprintf(s->sni, sizeof s->sni, "%s", goc_tls_server_name(t));
            snprintf(s->alpn, sizeof s->alpn, "%s", goc_tls_alpn(t));
            s->resumed = goc_tls_resumed(t);
            s->version = goc_tls_version(t);
            if (s->handle)
                s->handle(s, t);
            goc_tls_close_notify(t);
        } else {
            snprintf(s->msg, sizeof s->msg, "%s", goc_errmsg());
        }
        goc_tls_free(t);
        goc_close(fd);
        goc_chan_send(s->done, &rc);
    }
}

static void tsrv_start(tsrv *s, goc_tls_config *cfg, void (*handle)(tsrv *, goc_tls_conn *))
{
    memset(s, 0, sizeof *s);
    s->cfg = cfg;
    s->handle = handle;
    s->lfd = goc_listen("tcp", "127.0.0.1:0");
    s->port = sock_port(s->lfd);
    s->done = goc_chan_make(sizeof(int), 16);
    GO_SPAWN(tsrv_loop, s);
}

/* The next connection's handshake result on the server. */
static int tsrv_next(tsrv *s)
{
    int rc = 1;
    goc_case c = GOC_RECV(s->done, &rc);
    int r = goc_select(&c, 1, 10 * GOC_SECOND * test_slack());
    GO_CHECK(r == 0, "no connection reached the server");
    return rc;
}

static void tsrv_stop(tsrv *s)
{
    goc_close(s->lfd);
    goc_sleep(20 * GOC_MILLISECOND);
    goc_chan_release(s->done);
    goc_tls_config_release(s->cfg);
}

/* A client conn to s, handshake done (*rc its result). */
static goc_tls_conn *tcli(tsrv *s, goc_tls_config *c, const char *name, int *rc)
{
    char addr[32];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", s->port);
    int fd = goc_dial("tcp", addr, 2 * GOC_SECOND);
    GO_CHECK(fd >= 0, "dial: %s", goc_errmsg());
    goc_set_deadline(fd, goc_now() + 10 * GOC_SECOND * test_slack());
    goc_tls_conn *t = goc_tls_client(fd, c, name);
    GO_CHECK(t, "goc_tls_client");
    *rc = goc_tls_handshake(t);
    return t;
}

static void tcli_close(goc_tls_conn *t)
{
    int fd = goc_tls_fd(t);
    goc_tls_close_notify(t);
    goc_tls_free(t);
    goc_close(fd);
}

/* Connect, expect the handshake's result want (and a message holding
 * msg), read "hello" when it succeeds; the server's result. */
static int expect(tsrv *s, goc_tls_config *c, const char *name, int want, const char *msg)
{
    int rc;
    goc_tls_conn *t = tcli(s, c, name, &rc);
    GO_CHECK(rc == want, "%s: handshake %d (%s), want %d", name, rc, goc_errmsg(), want);
    if (msg)
        GO_CHECK(strstr(goc_errmsg(), msg), "%s: message \"%s\" lacks \"%s\"", name, goc_errmsg(),
                 msg);
    if (rc == 0) {
        char buf[16] = "";
        ssize_t n = goc_tls_read(t, buf, sizeof buf - 1);
        GO_CHECK(n == 6 && strcmp(buf, "hello\n") == 0, "%s: read %zd", name, n);
    }
    tcli_close(t);
    return tsrv_next(s);
}

/* ---- echo, large, a reader and a writer on one conn ----------------------------------- */

static void h_echo(tsrv *s, goc_tls_conn *t)
{
    (void)s;
    char *buf = malloc(65536);
    ssize_t n;
    while ((n = goc_tls_read(t, buf, 65536)) > 0)
        if (goc_tls_write(t, buf, (size_t)n) != n)
            break;
    free(buf);
}

#define ECHO_SIZE (6 << 20)

struct writer {
    goc_tls_conn *t;
    goc_chan *done;
};

static void echo_writer(void *arg)
{
    struct writer *w = arg;
    char *buf = malloc(ECHO_SIZE);
    for (size_t i = 0; i < ECHO_SIZE; i++)
        buf[i] = (char)(i * 7 + (i >> 13));
    /* Odd sizes, and a writev of small pieces now and then. */
    size_t off = 0, step = 1000;
    while (off < ECHO_SIZE) {
        size_t k = ECHO_SIZE - off < step ? ECHO_SIZE - off : step;
        ssize_t r;
        if (k >= 3 && (off / step) % 3 == 0) {
            struct iovec iov[3] = {
                {buf + off, 1}, {buf + off + 1, k / 2 - 1}, {buf + off + k / 2, k - k / 2}};
            r = goc_tls_writev(w->t, iov, 3);
        } else {
            r = goc_tls_write(w->t, buf + off, k);
        }
        GO_CHECK(r == (ssize_t)k, "write %zd: %s", r, goc_errmsg());
        if (r != (ssize_t)k)
            break;
        off += k;
        step = step * 3 % 200003 + 1;
    }
    free(buf);
    int one = 1;
    goc_chan_send(w->done, &one);
}

static int main_echo(void *arg)
{
    (void)arg;
    GO_CHECK(tls_pki_make(), "pki");
    tsrv s;
    tsrv_start(&s, tls_server_cfg("good", "h2,http/1.1"), h_echo);
    goc_tls_config *c = tls_client_cfg("http/1.1,h2");
    int rc;
    goc_tls_conn *t = tcli(&s, c, "localhost", &rc);
    GO_CHECK(rc == 0, "handshake: %s", goc_errmsg());
    GO_CHECK(strcmp(goc_tls_alpn(t), "h2") == 0, "alpn \"%s\"", goc_tls_alpn(t));
    GO_CHECK(goc_tls_version(t) == GOC_TLS_VERSION_13, "version %x", goc_tls_version(t));
    struct writer w = {t, goc_chan_make(sizeof(int), 1)};
    GO_SPAWN(echo_writer, &w);
    char *got = malloc(ECHO_SIZE);
    size_t have = 0;
    while (have < ECHO_SIZE) {
        ssize_t n = goc_tls_read(t, got + have, ECHO_SIZE - have);
        GO_CHECK(n > 0, "read %zd at %zu: %s", n, have, goc_errmsg());
        if (n <= 0)
            break;
        have += (size_t)n;
    }
    for (size_t i = 0; i < have; i++) {
        if (got[i] != (char)(i * 7 + (i >> 13))) {
            GO_CHECK(false, "byte %zu differs", i);
            break;
        }
    }
    goc_chan_recv(w.done, NULL);
    goc_chan_release(w.done);
    free(got);
    tcli_close(t);
    GO_CHECK(tsrv_next(&s) == 0, "server handshake");
    GO_CHECK(strcmp(s.alpn, "h2") == 0 && strcmp(s.sni, "localhost") == 0, "server alpn %s sni %s",
             s.alpn, s.sni);
    goc_tls_config_release(c);
    tsrv_stop(&s);
    tmpdir_cleanup();
    return 0;
}

Test(tls, echo_megabytes_both_ways_reader_and_writer_on_one_conn, .timeout = 60)
{
    cr_assert_eq(run_main(main_echo, NULL), 0);
}

/* ---- verification failures ------------------------------------------------------------- */

static int main_verify(void *arg)
{
    (void)arg;
    GO_CHECK(tls_pki_make(), "pki");
    goc_tls_config *c = tls_client_cfg(NULL);
    tsrv s;
    tsrv_start(&s, tls_server_cfg("good", NULL), h_hello);
    GO_CHECK(expect(&s, c, "localhost", 0, NULL) == 0, "good");
    GO_CHECK(expect(&s, c, "127.0.0.1", 0, NULL) == 0, "good by IP");
    GO_CHECK(expect(&s, c, "b.test", GOC_ETLS_HOSTNAME,
                    "x509: certificate is valid for localhost, 127.0.0.1, not b.test") ==
                 GOC_ETLS_HANDSHAKE,
             "server sees the alert: %s", s.msg);
    GO_CHECK(expect(&s, c, "127.0.0.2", GOC_ETLS_HOSTNAME, "not 127.0.0.2") == GOC_ETLS_HANDSHAKE,
             "ip");
    tsrv_stop(&s);

    tsrv_start(&s, tls_server_cfg("expired", NULL), h_hello);
    GO_CHECK(expect(&s, c, "localhost", GOC_ETLS_EXPIRED,
                    "x509: certificate has expired (notAfter ") == GOC_ETLS_HANDSHAKE,
             "expired");
    tsrv_stop(&s);

    tsrv_start(&s, tls_server_cfg("rogue", NULL), h_hello);
    GO_CHECK(expect(&s, c, "localhost", GOC_ETLS_UNKNOWN_CA,
                    "x509: certificate signed by unknown authority") == GOC_ETLS_HANDSHAKE,
             "rogue");
    /* Skipping verification accepts it. */
    goc_tls_opts o = {.insecure_skip_verify = true};
    goc_tls_config *insecure = goc_tls_client_config_new(&o, NULL);
    GO_CHECK(expect(&s, insecure, "localhost", 0, NULL) == 0, "insecure");
    goc_tls_config_release(insecure);
    tsrv_stop(&s);

    GO_CHECK(strcmp(goc_strerror(GOC_ETLS_UNKNOWN_CA),
                    "x509: certificate signed by unknown authority") == 0,
             "strerror");
    GO_CHECK(strstr(goc_strerror(GOC_ETLS_NOT_TLS), "TLS"), "strerror not tls");
    goc_tls_config_release(c);
    tmpdir_cleanup();
    return 0;
}

Test(tls, each_verify_failure_has_its_code_and_message, .timeout = 30)
{
    cr_assert_eq(run_main(main_verify, NULL), 0);
}

/* ---- SNI, ALPN, loading errors ------------------------------------------------------------ */

static int main_sni_alpn(void *arg)
{
    (void)arg;
    GO_CHECK(tls_pki_make(), "pki");
    goc_tls_config *sc = tls_server_cfg("good", "h2,http/1.1");
    GO_CHECK(goc_tls_config_add_cert(sc, tls_path("b.pem"), tls_path("b.key")) == 0, "add: %s",
             goc_errmsg());
    tsrv s;
    tsrv_start(&s, sc, h_hello);
    goc_tls_config *c = tls_client_cfg(NULL);
    GO_CHECK(expect(&s, c, "b.test", 0, NULL) == 0 && strcmp(s.sni, "b.test") == 0, "b: %s", s.sni);
    GO_CHECK(expect(&s, c, "x.wild.test", 0, NULL) == 0, "wildcard");
    GO_CHECK(expect(&s, c, "localhost", 0, NULL) == 0, "first");
    GO_CHECK(expect(&s, c, "127.0.0.1", 0, NULL) == 0 && s.sni[0] == '\0', "no SNI for an IP");
    GO_CHECK(expect(&s, c, "a.b.wild.test", GOC_ETLS_HOSTNAME, "not a.b.wild.test") ==
                 GOC_ETLS_HANDSHAKE,
             "wildcard is one label");
    GO_CHECK(s.alpn[0] == '\0', "no ALPN offered");
    goc_tls_config_release(c);

    const char *offers[][2] = {
        {"http/1.1", "http/1.1"}, {"http/1.1,h2", "h2"}, {"spdy/1", ""}, {"h2", "h2"}};
    for (size_t i = 0; i < sizeof offers / sizeof offers[0]; i++) {
        c = tls_client_cfg(offers[i][0]);
        GO_CHECK(expect(&s, c, "localhost", 0, NULL) == 0, "alpn %s", offers[i][0]);
        GO_CHECK(strcmp(s.alpn, offers[i][1]) == 0, "offer %s: got \"%s\"", offers[i][0], s.alpn);
        goc_tls_config_release(c);
    }
    tsrv_stop(&s);

    /* Loading errors. */
    int err = 0;
    GO_CHECK(!goc_tls_server_config_new(tls_path("none.pem"), tls_path("good.key"), NULL, &err) &&
                 err == -ENOENT && strstr(goc_errmsg(), "none.pem"),
             "missing: %d %s", err, goc_errmsg());
    GO_CHECK(!goc_tls_server_config_new(tls_path("good.key"), tls_path("good.key"), NULL, &err) &&
                 err == GOC_ETLS_CERT,
             "a key as cert: %d %s", err, goc_errmsg());
    GO_CHECK(!goc_tls_server_config_new(tls_path("good.pem"), tls_path("b.key"), NULL, &err) &&
                 err == GOC_ETLS_CERT && strstr(goc_errmsg(), "does not match"),
             "mismatch: %d %s", err, goc_errmsg());
    tmpdir_cleanup();
    return 0;
}

Test(tls, sni_picks_the_certificate_and_alpn_the_servers_preference, .timeout = 30)
{
    cr_assert_eq(run_main(main_sni_alpn, NULL), 0);
}

/* ---- reload ---------------------------------------------------------------------------------- */

static bool copy_file(const char *from, const char *to)
{
    char *data;
    size_t len;
    if (goc_read_file(from, &data, &len) < 0)
        return false;
    FILE *f = fopen(to, "w");
    bool ok = f && fwrite(data, 1, len, f) == len;
    if (f)
        fclose(f);
    free(data);
    return ok;
}

static int main_reload(void *arg)
{
    (void)arg;
    GO_CHECK(tls_pki_make(), "pki");
    copy_file(tls_path("good.pem"), tls_path("live.pem"));
    copy_file(tls_path("good.key"), tls_path("live.key"));
    tsrv s;
    tsrv_start(&s, tls_server_cfg("live", NULL), h_hello);
    goc_tls_config *c = tls_client_cfg(NULL);
    GO_CHECK(expect(&s, c, "localhost", 0, NULL) == 0, "before");
    /* A live conn keeps its certificate across the reload. */
    int rc;
    goc_tls_conn *live = tcli(&s, c, "localhost", &rc);
    copy_file(tls_path("other.pem"), tls_path("live.pem"));
    copy_file(tls_path("other.key"), tls_path("live.key"));
    GO_CHECK(goc_tls_config_reload(s.cfg) == 0, "reload: %s", goc_errmsg());
    /* A fresh client: a resumed handshake would skip the certificate. */
    goc_tls_config_release(c);
    c = tls_client_cfg(NULL);
    char buf[16] = "";
    GO_CHECK(rc == 0 && goc_tls_read(live, buf, sizeof buf - 1) == 6, "live conn");
    tcli_close(live);
    GO_CHECK(tsrv_next(&s) == 0, "live");
    GO_CHECK(expect(&s, c, "other.test", 0, NULL) == 0, "after");
    GO_CHECK(expect(&s, c, "localhost", GOC_ETLS_HOSTNAME, "valid for other.test, not localhost") ==
                 GOC_ETLS_HANDSHAKE,
             "old name");
    /* A bad reload keeps the old certificates. */
    FILE *f = fopen(tls_path("live.pem"), "w");
    fputs("not a certificate\n", f);
    fclose(f);
    GO_CHECK(goc_tls_config_reload(s.cfg) == GOC_ETLS_CERT && strstr(goc_errmsg(), "live.pem"),
             "bad reload: %s", goc_errmsg());
    GO_CHECK(expect(&s, c, "other.test", 0, NULL) == 0, "kept");
    goc_tls_config_release(c);
    tsrv_stop(&s);
    tmpdir_cleanup();
    return 0;
}

Test(tls, reload_switches_new_handshakes_and_a_bad_one_keeps_the_old, .timeout = 30)
{
    cr_assert_eq(run_main(main_reload, NULL), 0);
}

/* ---- resumption ---------------------------------------------------------------------------- */

static int main_resume(void *arg)
{
    (void)arg;
    GO_CHECK(tls_pki_make(), "pki");
    int versions[] = {GOC_TLS_VERSION_13, GOC_TLS_VERSION_12};
    for (int i = 0; i < 2; i++) {
        goc_tls_opts so = {.max_version = versions[i]};
        tsrv s;
        tsrv_start(&s,
                   goc_tls_server_config_new(tls_path("good.pem"), tls_path("good.key"), &so, NULL),
                   h_hello);
        goc_tls_config *c = tls_client_cfg(NULL);
        for (int k = 0; k < 3; k++) {
            int rc;
            goc_tls_conn *t = tcli(&s, c, "localhost", &rc);
            char buf[16];
            GO_CHECK(rc == 0 && goc_tls_read(t, buf, sizeof buf) == 6, "conn %d", k);
            GO_CHECK(goc_tls_version(t) == versions[i], "version %x", goc_tls_version(t));
            GO_CHECK(goc_tls_resumed(t) == (k > 0), "v%x conn %d resumed %d", versions[i], k,
                     goc_tls_resumed(t));
            tcli_close(t);
            GO_CHECK(tsrv_next(&s) == 0 && s.resumed == (k > 0), "server resumed %d", s.resumed);
        }
        goc_tls_config_release(c);
        tsrv_stop(&s);
    }
    tmpdir_cleanup();
    return 0;
}

Test(tls, second_connection_resumes, .timeout = 30)
{
    cr_assert_eq(run_main(main_resume, NULL), 0);
}

/* ---- not TLS, stalls, truncation --------------------------------------------------------- */

static goc_waitgroup hs_wg;

/* The server's side of a handshake; hs_wg says when it is done (the conn
 * is freed only after). */
static void hs_go(void *arg)
{
    goc_tls_handshake(arg);
    goc_waitgroup_done(&hs_wg);
}

static int main_wire(void *arg)
{
    (void)arg;
    GO_CHECK(tls_pki_make(), "pki");
    goc_tls_config *sc = tls_server_cfg("good", NULL);
    int lfd = goc_listen("tcp", "127.0.0.1:0");
    char addr[32];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", sock_port(lfd));

    /* Plain HTTP: GOC_ETLS_NOT_TLS, and the bytes are still there. */
    int cfd = goc_dial("tcp", addr, GOC_SECOND);
    goc_write(cfd, "GET / HTTP/1.1\r\n\r\n", 18);
    int fd = goc_accept(lfd, NULL, NULL);
    goc_tls_conn *t = goc_tls_server(fd, sc);
    GO_CHECK(goc_tls_handshake(t) == GOC_ETLS_NOT_TLS, "not tls: %s", goc_errmsg());
    GO_CHECK(goc_tls_read(t, (char[4]){0}, 4) == GOC_ETLS_NOT_TLS, "sticky");
    char buf[32] = "";
    GO_CHECK(goc_read(fd, buf, 4) == 4 && memcmp(buf, "GET ", 4) == 0, "unread: %s", buf);
    goc_tls_free(t);
    goc_close(fd);
    goc_close(cfd);

    /* A client that stalls mid-handshake: the fd's deadline cuts it. */
    cfd = goc_dial("tcp", addr, GOC_SECOND);
    goc_write(cfd, "\x16\x03\x01\x02\x00\x01", 6);
    fd = goc_accept(lfd, NULL, NULL);
    t = goc_tls_server(fd, sc);
    goc_set_deadline(fd, goc_now() + 200 * GOC_MILLISECOND);
    int64_t t0 = goc_now();
    GO_CHECK(goc_tls_handshake(t) == -ETIMEDOUT, "stall: %s", goc_errmsg());
    GO_CHECK(since_ms(t0) >= 150 && since_ms(t0) < late_ms(200), "after %lld ms",
             (long long)since_ms(t0));
    goc_tls_free(t);
    goc_close(fd);
    goc_close(cfd);

    /* A server that never answers: the client's deadline. */
    goc_tls_config *c = tls_client_cfg(NULL);
    cfd = goc_dial("tcp", addr, GOC_SECOND);
    fd = goc_accept(lfd, NULL, NULL);
    t = goc_tls_client(cfd, c, "localhost");
    goc_set_read_deadline(cfd, goc_now() + 100 * GOC_MILLISECOND);
    GO_CHECK(goc_tls_handshake(t) == -ETIMEDOUT, "client stall: %s", goc_errmsg());
    goc_tls_free(t);
    goc_close(fd);
    goc_close(cfd);

    /* EOF at a record boundary reads as 0; within a record it is an error. */
    for (int partial = 0; partial < 2; partial++) {
        cfd = goc_dial("tcp", addr, GOC_SECOND);
        goc_set_deadline(cfd, goc_now() + 5 * GOC_SECOND);
        goc_tls_conn *ct = goc_tls_client(cfd, c, "localhost");
        fd = goc_accept(lfd, NULL, NULL);
        goc_tls_conn *st = goc_tls_server(fd, sc);
        goc_set_deadline(fd, goc_now() + 5 * GOC_SECOND);
        /* Handshake both ends: the server's from another goroutine. */
        goc_waitgroup_add(&hs_wg, 1);
        GO_SPAWN(hs_go, st);
        GO_CHECK(goc_tls_handshake(ct) == 0, "hs: %s", goc_errmsg());
        GO_CHECK(goc_tls_write(st, "abc", 3) == 3, "write");
        GO_CHECK(goc_tls_read(ct, buf, sizeof buf) == 3, "read");
        if (partial)
            goc_write(fd, "\x17\x03\x03\x00\x40\x01\x02\x03", 8);
        shutdown(fd, SHUT_WR);
        ssize_t n = goc_tls_read(ct, buf, sizeof buf);
        if (partial)
            GO_CHECK(n == GOC_ETLS_PROTOCOL, "partial record: %zd %s", n, goc_errmsg());
        else
            GO_CHECK(n == 0, "eof: %zd %s", n, goc_errmsg());
        goc_waitgroup_wait(&hs_wg);
        goc_tls_free(ct);
        goc_tls_free(st);
        goc_close(fd);
        goc_close(cfd);
    }
    goc_tls_config_release(c);
    goc_tls_config_release(sc);
    goc_close(lfd);
    tmpdir_cleanup();
    return 0;
}

Test(tls, not_tls_stalls_and_truncation, .timeout = 30)
{
    cr_assert_eq(run_main(main_wire, NULL), 0);
}

/* ---- sendfile ------------------------------------------------------------------------------ */

#define FILE_SIZE (3 << 20)

static void h_sendfile(tsrv *s, goc_tls_conn *t)
{
    (void)s;
    int in = open(tls_path("data.bin"), O_RDONLY);
    off_t off = 1000;
    ssize_t n = goc_tls_sendfile(t, in, &off, FILE_SIZE); /* 1000 short of it: EOF */
    GO_CHECK(n == FILE_SIZE - 1000 && off == FILE_SIZE, "sendfile %zd off %lld: %s", n,
             (long long)off, goc_errmsg());
    close(in);
}

static int main_sendfile(void *arg)
{
    (void)arg;
    GO_CHECK(tls_pki_make(), "pki");
    char *data = malloc(FILE_SIZE);
    for (size_t i = 0; i < FILE_SIZE; i++)
        data[i] = (char)(i % 251);
    FILE *f = fopen(tls_path("data.bin"), "w");
    fwrite(data, 1, FILE_SIZE, f);
    fclose(f);
    for (int ktls = 0; ktls < 2; ktls++) {
        goc_tls_opts o = {.no_ktls = !ktls};
        tsrv s;
        tsrv_start(&s,
                   goc_tls_server_config_new(tls_path("good.pem"), tls_path("good.key"), &o, NULL),
                   h_sendfile);
        goc_tls_config *c = tls_client_cfg(NULL);
        int rc;
        goc_tls_conn *t = tcli(&s, c, "localhost", &rc);
        char *got = malloc(FILE_SIZE);
        size_t have = 0;
        ssize_t n;
        while ((n = goc_tls_read(t, got + have, FILE_SIZE - have)) > 0)
            have += (size_t)n;
        GO_CHECK(n == 0 && have == FILE_SIZE - 1000 && memcmp(got, data + 1000, have) == 0,
                 "got %zu (%zd)", have, n);
        free(got);
        tcli_close(t);
        GO_CHECK(tsrv_next(&s) == 0, "server");
        goc_tls_config_release(c);
        tsrv_stop(&s);
    }
    free(data);
    tmpdir_cleanup();
    return 0;
}

Test(tls, sendfile_with_and_without_ktls, .timeout = 30)
{
    cr_assert_eq(run_main(main_sendfile, NULL), 0);
}

/* ---- the openssl command as the peer ------------------------------------------------------ */

static int main_openssl(void *arg)
{
    (void)arg;
    GO_CHECK(tls_pki_make(), "pki");
    char cmd[1024];
    /* s_client against our server: handshake, ALPN, verification. */
    tsrv s;
    tsrv_start(&s, tls_server_cfg("good", "h2,http/1.1"), h_hello);
    snprintf(cmd, sizeof cmd,
             "openssl s_client -connect 127.0.0.1:%d -servername localhost -CAfile %s "
             "-alpn h2 </dev/null >%s 2>&1",
             s.port, tls_path("ca.pem"), tls_path("s_client.out"));
    tls_sh(cmd);
    GO_CHECK(tsrv_next(&s) == 0 && strcmp(s.alpn, "h2") == 0, "s_client: %s alpn %s", s.msg,
             s.alpn);
    GO_CHECK(tls_file_has(tls_path("s_client.out"), "ALPN protocol: h2") &&
                 tls_file_has(tls_path("s_client.out"), "Verify return code: 0 (ok)"),
             "s_client output");
    /* A TLS 1.1 client is refused. */
    snprintf(cmd, sizeof cmd,
             "openssl s_client -connect 127.0.0.1:%d -tls1_1 -cipher DEFAULT@SECLEVEL=0 "
             "</dev/null >/dev/null 2>&1",
             s.port);
    tls_sh(cmd);
    GO_CHECK(tsrv_next(&s) == GOC_ETLS_VERSION, "tls 1.1 client: %s", s.msg);
    tsrv_stop(&s);

    /* Our client against s_server -www. */
    int port = tls_free_port();
    char accept[32];
    snprintf(accept, sizeof accept, "127.0.0.1:%d", port);
    char *argv[] = {"openssl", "s_server",
                    "-accept", accept,
                    "-cert",   (char *)tls_path("good.pem"),
                    "-key",    (char *)tls_path("good.key"),
                    "-www",    NULL};
    pid_t pid = tls_spawn(argv, tls_path("s_server.out"));
    int fd = tls_dial_retry(port);
    GO_CHECK(fd >= 0, "s_server did not start");
    goc_tls_config *c = tls_client_cfg(NULL);
    if (fd >= 0) {
        goc_close(fd); /* that was s_server's probe connection */
        fd = tls_dial_retry(port);
        goc_set_deadline(fd, goc_now() + 10 * GOC_SECOND);
        goc_tls_conn *t = goc_tls_client(fd, c, "localhost");
        const char *req = "GET / HTTP/1.0\r\n\r\n";
        GO_CHECK(goc_tls_write(t, req, strlen(req)) == (ssize_t)strlen(req), "write: %s",
                 goc_errmsg());
        char *page = calloc(1, 65536);
        size_t have = 0;
        ssize_t n;
        while (have < 65535 && (n = goc_tls_read(t, page + have, 65535 - have)) > 0)
            have += (size_t)n;
        GO_CHECK(strstr(page, "HTTP/1.0 200 ok") && strstr(page, "s_server"), "page: %.200s", page);
        free(page);
        goc_tls_free(t);
        goc_close(fd);
    }
    tls_reap(pid);

    /* A TLS 1.1-only server is refused by our client. */
    port = tls_free_port();
    snprintf(accept, sizeof accept, "127.0.0.1:%d", port);
    char *argv11[] = {"openssl",
                      "s_server",
                      "-accept",
                      accept,
                      "-cert",
                      (char *)tls_path("good.pem"),
                      "-key",
                      (char *)tls_path("good.key"),
                      "-tls1_1",
                      "-cipher",
                      "DEFAULT@SECLEVEL=0",
                      "-www",
                      NULL};
    pid = tls_spawn(argv11, tls_path("s_server11.out"));
    fd = tls_dial_retry(port);
    if (fd >= 0) {
        goc_close(fd);
        fd = tls_dial_retry(port);
        goc_set_deadline(fd, goc_now() + 10 * GOC_SECOND);
        goc_tls_conn *t = goc_tls_client(fd, c, "localhost");
        int rc = goc_tls_handshake(t);
        GO_CHECK(rc == GOC_ETLS_VERSION, "tls 1.1 server: %d %s", rc, goc_errmsg());
        goc_tls_free(t);
        goc_close(fd);
    }
    tls_reap(pid);
    goc_tls_config_release(c);
    tmpdir_cleanup();
    return 0;
}

Test(tls, openssl_s_client_and_s_server_as_peers, .timeout = 40)
{
    cr_assert_eq(run_main(main_openssl, NULL), 0);
}
