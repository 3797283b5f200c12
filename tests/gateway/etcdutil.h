/*
 * etcdutil.h — a real etcd (Debian's /usr/bin/etcd, 3.4+) for the
 * gateway's tests, on free loopback ports, and keys put over its v3 JSON
 * gateway with goc's own client (no etcdctl). Header-only, all static;
 * use inside goc_run with GO_CHECK (runtime/util.h).
 *
 * No etcd outlives its test, even one that crashes or times out: etcd
 * runs under a small sh wrapper whose stdin is a pipe only the test holds
 * (close-on-exec, so no other child inherits it). When that pipe closes —
 * test_etcd_stop, or the test process dying — the wrapper stops etcd and
 * removes its directory; "keep" written first keeps the data for a
 * restart on the same directory.
 */
#ifndef GOC_TESTS_GATEWAY_ETCDUTIL_H
#define GOC_TESTS_GATEWAY_ETCDUTIL_H

#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <goc/http.h>

#include "runtime/util.h"

typedef struct test_etcd {
    char dir[64]; /* the temporary directory: data/ and etcd.log */
    int client_port, peer_port;
    char url[64];  /* "http://127.0.0.1:PORT" */
    pid_t wrapper; /* -1 when not running */
    int ctl;       /* the wrapper's stdin (write end), -1 when not running */
} test_etcd;

/* A loopback port free now (bound to 0, then closed). */
static inline int test_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

/* POST body to url path on the test's etcd: the status (body answered in
 * *out if out, malloc'ed) or a negative errno. */
static inline int test_etcd_post(const char *base, const char *path, const char *body, char **out)
{
    static goc_http_client *client;
    if (!client) {
        goc_http_client_opts o = {
            .timeout = 5 * GOC_SECOND, .proxy = "", .disable_keep_alives = true};
        client = goc_http_client_new(&o); /* one per test process, never freed */
    }
    char url[256];
    snprintf(url, sizeof url, "%s%s", base, path);
    goc_http_client_request *req;
    int rc = goc_http_new_request(NULL, body ? "POST" : "GET", url, &req);
    if (rc < 0)
        return rc;
    if (body)
        goc_http_client_request_set_body(req, body, strlen(body));
    goc_http_response *resp;
    rc = goc_http_client_do(client, req, &resp);
    goc_http_client_request_free(req);
    if (rc < 0)
        return rc;
    char *data = NULL;
    rc = goc_http_response_read_all(resp, &data, NULL, 1 << 20);
    int status = resp->status_code;
    goc_http_response_free(resp);
    if (out)
        *out = data;
    else
        free(data);
    return rc < 0 ? rc : status;
}

/* Start the wrapper on t's directory and ports; wait (up to 20 s) until
 * /health answers true. */
static inline bool test_etcd_spawn(test_etcd *t)
{
    char script[2048];
    snprintf(script, sizeof script,
             "etcd --name t --data-dir %1$s/data --listen-client-urls http://127.0.0.1:%2$d "
             "--advertise-client-urls http://127.0.0.1:%2$d "
             "--listen-peer-urls http://127.0.0.1:%3$d "
             "--initial-advertise-peer-urls http://127.0.0.1:%3$d "
             "--initial-cluster t=http://127.0.0.1:%3$d >>%1$s/etcd.log 2>&1 & e=$!; "
             "read x; kill $e; wait $e 2>/dev/null; [ \"$x\" = keep ] || rm -rf %1$s",
             t->dir, t->client_port, t->peer_port);
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return false;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, p[0], 0);
    char *argv[] = {"sh", "-c", script, NULL};
    extern char **environ;
    int rc = posix_spawn(&t->wrapper, "/bin/sh", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(p[0]);
    if (rc != 0) {
        close(p[1]);
        t->wrapper = -1;
        return false;
    }
    t->ctl = p[1];
    snprintf(t->url, sizeof t->url, "http://127.0.0.1:%d", t->client_port);
    int64_t deadline = goc_now() + 20 * GOC_SECOND;
    while (goc_now() < deadline) {
        char *out = NULL;
        int st = test_etcd_post(t->url, "/health", NULL, &out);
        bool ok = st == 200 && out && strstr(out, "true");
        free(out);
        if (ok)
            return true;
        goc_sleep(50 * GOC_MILLISECOND);
    }
    return false;
}

/* Stop the wrapper (keeping the data if keep) and reap it. */
static inline void test_etcd_halt(test_etcd *t, bool keep)
{
    if (t->wrapper < 0)
        return;
    if (keep && write(t->ctl, "keep\n", 5) != 5)
        GO_CHECK(false, "write to the etcd wrapper: %s", strerror(errno));
    close(t->ctl);
    int64_t deadline = goc_now() + 20 * GOC_SECOND;
    int status;
    while (waitpid(t->wrapper, &status, WNOHANG) == 0) {
        if (goc_now() > deadline) {
            kill(t->wrapper, SIGKILL);
            waitpid(t->wrapper, &status, 0);
            break;
        }
        goc_sleep(20 * GOC_MILLISECOND);
    }
    t->wrapper = -1;
    t->ctl = -1;
}

/* A fresh etcd. false (and a failed check) if it did not come up. */
static inline bool test_etcd_start(test_etcd *t)
{
    memset(t, 0, sizeof *t);
    t->wrapper = -1;
    t->ctl = -1;
    strcpy(t->dir, "/tmp/goc-etcd.XXXXXX");
    if (!mkdtemp(t->dir)) {
        GO_CHECK(false, "mkdtemp: %s", strerror(errno));
        return false;
    }
    t->client_port = test_free_port();
    t->peer_port = test_free_port();
    bool ok = test_etcd_spawn(t);
    GO_CHECK(ok, "etcd did not start on %s (see %s/etcd.log)", t->url, t->dir);
    return ok;
}

/* Stop it and remove its directory. */
static inline void test_etcd_stop(test_etcd *t)
{
    test_etcd_halt(t, false);
}

/* Stop it and start it again on the same directory and ports (or on
 * client_port if > 0: a port the code under test does not know). */
static inline bool test_etcd_restart(test_etcd *t, int client_port)
{
    test_etcd_halt(t, true);
    if (client_port > 0)
        t->client_port = client_port;
    bool ok = test_etcd_spawn(t);
    GO_CHECK(ok, "etcd did not restart on %s", t->url);
    return ok;
}

/* s as base64 (static buffers, four in rotation). */
static inline const char *test_b64(const char *s)
{
    static __thread char buf[4][1024];
    static __thread int i;
    char *b = buf[i++ % 4];
    EVP_EncodeBlock((unsigned char *)b, (const unsigned char *)s, (int)strlen(s));
    return b;
}

static inline bool test_etcd_put(test_etcd *t, const char *key, const char *value)
{
    char body[2048];
    snprintf(body, sizeof body, "{\"key\":\"%s\",\"value\":\"%s\"}", test_b64(key),
             test_b64(value));
    int st = test_etcd_post(t->url, "/v3/kv/put", body, NULL);
    GO_CHECK(st == 200, "put %s: %d (%s)", key, st, st < 0 ? goc_errmsg() : "");
    return st == 200;
}

static inline bool test_etcd_del(test_etcd *t, const char *key)
{
    char body[2048];
    snprintf(body, sizeof body, "{\"key\":\"%s\"}", test_b64(key));
    int st = test_etcd_post(t->url, "/v3/kv/deleterange", body, NULL);
    GO_CHECK(st == 200, "delete %s: %d", key, st);
    return st == 200;
}

/* Put keys[i] = values[i] for i < n (n <= 128, etcd's limit) in one
 * transaction: one revision, so one watch message with n events. */
static inline bool test_etcd_put_many(test_etcd *t, const char *const *keys,
                                      const char *const *values, size_t n)
{
    size_t cap = 256 + n * 1024, len = 0;
    char *body = malloc(cap);
    len += (size_t)snprintf(body, cap, "{\"success\":[");
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(body + len, cap - len,
                                "%s{\"request_put\":{\"key\":\"%s\",\"value\":\"%s\"}}",
                                i ? "," : "", test_b64(keys[i]), test_b64(values[i]));
    snprintf(body + len, cap - len, "]}");
    char *out = NULL;
    int st = test_etcd_post(t->url, "/v3/kv/txn", body, &out);
    GO_CHECK(st == 200, "txn of %zu puts: %d %s", n, st, out ? out : "");
    free(out);
    free(body);
    return st == 200;
}

/* Delete every key starting with prefix, in one request. */
static inline bool test_etcd_del_prefix(test_etcd *t, const char *prefix)
{
    char end[512];
    snprintf(end, sizeof end, "%s", prefix);
    end[strlen(end) - 1]++;
    char body[2048];
    snprintf(body, sizeof body, "{\"key\":\"%s\",\"range_end\":\"%s\"}", test_b64(prefix),
             test_b64(end));
    int st = test_etcd_post(t->url, "/v3/kv/deleterange", body, NULL);
    GO_CHECK(st == 200, "delete %s*: %d", prefix, st);
    return st == 200;
}

/* Compact the history up to the current revision (physical: done before
 * this returns). */
static inline bool test_etcd_compact(test_etcd *t)
{
    char *out = NULL;
    int st = test_etcd_post(t->url, "/v3/kv/range", "{\"key\":\"AA==\"}", &out);
    const char *r = out ? strstr(out, "\"revision\":\"") : NULL;
    long long rev = r ? atoll(r + 12) : 0;
    free(out);
    char body[128];
    snprintf(body, sizeof body, "{\"revision\":\"%lld\",\"physical\":true}", rev);
    st = st == 200 ? test_etcd_post(t->url, "/v3/kv/compaction", body, NULL) : st;
    GO_CHECK(st == 200 && rev > 0, "compact to %lld: %d", rev, st);
    return st == 200;
}

#endif /* GOC_TESTS_GATEWAY_ETCDUTIL_H */
