/*
 * test_fs.c — the file server end to end: a real server on the loopback
 * over a temporary tree, raw HTTP/1.1 requests, and checks of the status,
 * the fields and every byte of the body.
 *
 * The tree (made fresh for each test, removed after it):
 *   <tmp>/outside/secret.txt        must never be served
 *   <tmp>/root/hello.txt            a small text file
 *              empty.txt
 *              data.bin             2 MiB of a known pattern
 *              page.html, page.html.gz   gzip_static
 *              sniffme              no extension, HTML inside
 *              sub/a.txt, sub/b/, sub/<odd names>   a listing
 *              site/index.html      a directory with an index
 *              sym-in   -> hello.txt          a symlink that stays inside
 *              sym-out  -> ../outside         a symlink that leads out
 *              sym-abs  -> <tmp>/outside/secret.txt
 *              fifo                 a FIFO: refused without blocking
 */
#include <ftw.h>

#include "net/netutil.h"
#include <goc/http.h>

#include "../../src/http/fs.h"

#define BIG_SIZE (2 << 20)

static char tmp_base[64];
static char root_dir[128];

static const char hello[] = "Hello, file server!\n";
static const char page[] = "<html><body>plain page</body></html>\n";
static const char page_gz[] = "\x1f\x8b\x08\x00pretend-gzip-bytes";
static const char odd_name[] = "we<ird> & 'q\".txt";
static const char space_name[] = "sp ace?#.txt";

/* ---- the tree -------------------------------------------------------------------------- */

static void put_file(const char *rel, const void *data, size_t n)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", tmp_base, rel);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    cr_assert(fd >= 0, "create %s: %s", p, strerror(errno));
    cr_assert_eq(write(fd, data, n), (ssize_t)n);
    close(fd);
}

static void put_dir(const char *rel)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", tmp_base, rel);
    cr_assert(mkdir(p, 0755) == 0, "mkdir %s: %s", p, strerror(errno));
}

static void put_link(const char *target, const char *rel)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", tmp_base, rel);
    cr_assert(symlink(target, p) == 0, "symlink %s: %s", p, strerror(errno));
}

static void tree_make(void)
{
    snprintf(tmp_base, sizeof tmp_base, "/tmp/goc-fs-XXXXXX");
    cr_assert(mkdtemp(tmp_base));
    snprintf(root_dir, sizeof root_dir, "%s/root", tmp_base);
    put_dir("outside");
    put_file("outside/secret.txt", "TOP-SECRET\n", 11);
    put_dir("root");
    put_file("root/hello.txt", hello, sizeof hello - 1);
    put_file("root/empty.txt", "", 0);
    char *big = malloc(BIG_SIZE);
    fill_pattern(big, BIG_SIZE, 42);
    put_file("root/data.bin", big, BIG_SIZE);
    free(big);
    put_file("root/page.html", page, sizeof page - 1);
    put_file("root/page.html.gz", page_gz, sizeof page_gz - 1);
    put_file("root/sniffme", "<!DOCTYPE html><p>hi</p>", 24);
    put_dir("root/sub");
    put_file("root/sub/a.txt", "a\n", 2);
    put_dir("root/sub/b");
    char rel[256];
    snprintf(rel, sizeof rel, "root/sub/%s", odd_name);
    put_file(rel, "odd\n", 4);
    snprintf(rel, sizeof rel, "root/sub/%s", space_name);
    put_file(rel, "space\n", 6);
    put_dir("root/site");
    put_file("root/site/index.html", "<p>index</p>\n", 13);
    char fifo[256];
    snprintf(fifo, sizeof fifo, "%s/root/fifo", tmp_base);
    cr_assert(mkfifo(fifo, 0644) == 0);
    put_link("hello.txt", "root/sym-in");
    put_link("../outside", "root/sym-out");
    char abs[256];
    snprintf(abs, sizeof abs, "%s/outside/secret.txt", tmp_base);
    put_link(abs, "root/sym-abs");
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(p);
}

static void tree_remove(void)
{
    if (tmp_base[0])
        nftw(tmp_base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(fs, .init = tree_make, .fini = tree_remove);

/* ---- a server and a client ------------------------------------------------------------ */

typedef struct srv {
    goc_http_server *s;
    int lfd;
    char addr[64];
    goc_chan *done;
} srv;

static void serve_fn(void *arg)
{
    srv *v = arg;
    int rc = goc_http_server_serve(v->s, v->lfd);
    GO_CHECK(rc == GOC_EHTTP_SERVER_CLOSED, "serve: %d %s", rc, goc_strerror(rc));
    goc_chan *done = v->done; /* our own reference: srv_stop may free v's once we close */
    goc_chan_close(done);
    goc_chan_release(done);
}

static void srv_start(srv *v, goc_http_handler h)
{
    GO_CHECK(h.fn != NULL, "handler");
    v->s = goc_http_server_new(h, NULL);
    GO_CHECK(v->s != NULL, "server_new");
    v->lfd = goc_listen("tcp", "127.0.0.1:0");
    GO_CHECK(v->lfd >= 0, "listen: %s", goc_strerror(v->lfd));
    snprintf(v->addr, sizeof v->addr, "127.0.0.1:%d", sock_port(v->lfd));
    v->done = goc_chan_make(0, 0);
    goc_chan_retain(v->done); /* released by serve_fn after it closes it */
    GO_SPAWN(serve_fn, v);
}

static void srv_stop(srv *v)
{
    goc_http_server_close(v->s);
    goc_chan_recv(v->done, NULL);
    goc_chan_release(v->done);
    goc_http_server_free(v->s);
}

typedef struct resp {
    int status;
    char *raw; /* the whole response, NUL-terminated */
    size_t raw_len;
    char *head_end; /* just past the blank line */
    const char *body;
    size_t body_len;
} resp;

/* Send req (a whole request; "Connection: close" is the caller's) and read
 * the response until the server closes. */
static void do_req(const srv *v, const char *req, resp *out)
{
    memset(out, 0, sizeof *out);
    int fd = goc_dial("tcp", v->addr, 5 * GOC_SECOND);
    GO_CHECK(fd >= 0, "dial: %s", goc_strerror(fd));
    if (fd < 0)
        return;
    goc_set_read_deadline(fd, goc_now() + 10 * GOC_SECOND);
    GO_CHECK(goc_write(fd, req, strlen(req)) == (ssize_t)strlen(req), "write");
    size_t cap = 1 << 16;
    out->raw = malloc(cap + 1);
    for (;;) {
        if (cap - out->raw_len < 4096)
            out->raw = realloc(out->raw, (cap *= 2) + 1);
        ssize_t n = goc_read(fd, out->raw + out->raw_len, cap - out->raw_len);
        if (n <= 0) {
            GO_CHECK(n == 0, "read: %s", goc_strerror((int)n));
            break;
        }
        out->raw_len += (size_t)n;
    }
    goc_close(fd);
    out->raw[out->raw_len] = '\0';
    char *e = strstr(out->raw, "\r\n\r\n");
    GO_CHECK(e != NULL, "no head in %.200s", out->raw);
    if (!e)
        return;
    out->head_end = e + 4;
    out->body = e + 4;
    out->body_len = out->raw_len - (size_t)(out->head_end - out->raw);
    sscanf(out->raw, "HTTP/1.1 %d", &out->status);
}

/* GET path with extra header lines (each ending in \r\n, or ""). */
static void get(const srv *v, const char *method, const char *path, const char *extra, resp *out)
{
    char req[2048];
    snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n%s\r\n", method,
             path, extra);
    do_req(v, req, out);
}

/* The value of field name in the head (case-insensitive), in buf; NULL if absent. */
static const char *hdr(const resp *r, const char *name, char *buf, size_t n)
{
    if (!r->head_end)
        return NULL;
    size_t k = strlen(name);
    for (const char *p = strstr(r->raw, "\r\n") + 2; p < r->head_end - 2;) {
        const char *eol = strstr(p, "\r\n");
        if (strncasecmp(p, name, k) == 0 && p[k] == ':') {
            const char *v = p + k + 1;
            while (*v == ' ')
                v++;
            snprintf(buf, n, "%.*s", (int)(eol - v), v);
            return buf;
        }
        p = eol + 2;
    }
    return NULL;
}

static bool hdr_is(const resp *r, const char *name, const char *want)
{
    char buf[512];
    const char *v = hdr(r, name, buf, sizeof buf);
    return want ? v && strcmp(v, want) == 0 : v == NULL;
}

static bool body_is(const resp *r, const char *want, size_t n)
{
    return r->body && r->body_len == n && memcmp(r->body, want, n) == 0;
}

static const char *or_none(const char *s)
{
    return s ? s : "(none)";
}

static void resp_free(resp *r)
{
    free(r->raw);
    r->raw = NULL;
}

#define CHECK_STATUS(r, code)                                                                      \
    GO_CHECK((r).status == (code), "status %d, want %d: %.300s", (r).status, (code), (r).raw)
#define CHECK_HDR(r, name, want)                                                                   \
    GO_CHECK(hdr_is(&(r), name, want), "%s: want %s in %.600s", name, or_none(want), (r).raw)

/* Run fn(v) against a fresh file server over the tree. */
typedef void (*case_fn)(srv *v);

static int run_case(void *arg)
{
    srv v;
    srv_start(&v, goc_http_file_server(root_dir));
    ((case_fn)arg)(&v);
    srv_stop(&v);
    return 0;
}

static void run(case_fn fn)
{
    run_main(run_case, (void *)fn);
}

/* ---- whole files ------------------------------------------------------------------------- */

static void c_full(srv *v)
{
    resp r;
    get(v, "GET", "/hello.txt", "", &r);
    CHECK_STATUS(r, 200);
    GO_CHECK(body_is(&r, hello, sizeof hello - 1), "body %.*s", (int)r.body_len, r.body);
    CHECK_HDR(r, "Content-Type", "text/plain; charset=utf-8");
    CHECK_HDR(r, "Content-Length", "20");
    CHECK_HDR(r, "Accept-Ranges", "bytes");
    char etag[64], lm[64];
    GO_CHECK(hdr(&r, "ETag", etag, sizeof etag) && etag[0] == '"', "ETag");
    GO_CHECK(hdr(&r, "Last-Modified", lm, sizeof lm) && strstr(lm, " GMT"), "Last-Modified");
    resp_free(&r);

    get(v, "GET", "/empty.txt", "", &r);
    CHECK_STATUS(r, 200);
    CHECK_HDR(r, "Content-Length", "0");
    GO_CHECK(r.body_len == 0, "empty body");
    resp_free(&r);

    get(v, "GET", "/sniffme", "", &r);
    CHECK_STATUS(r, 200);
    CHECK_HDR(r, "Content-Type", "text/html; charset=utf-8");
    resp_free(&r);

    get(v, "GET", "/nope.txt", "", &r);
    CHECK_STATUS(r, 404);
    resp_free(&r);
}

Test(fs, full_body, .timeout = 30)
{
    run(c_full);
}

static void c_head(srv *v)
{
    resp r;
    get(v, "HEAD", "/hello.txt", "", &r);
    CHECK_STATUS(r, 200);
    CHECK_HDR(r, "Content-Length", "20");
    GO_CHECK(r.body_len == 0, "HEAD body of %zu", r.body_len);
    resp_free(&r);
    get(v, "HEAD", "/data.bin", "Range: bytes=0-9\r\n", &r);
    CHECK_STATUS(r, 206);
    CHECK_HDR(r, "Content-Length", "10");
    GO_CHECK(r.body_len == 0, "HEAD body of %zu", r.body_len);
    resp_free(&r);
}

Test(fs, head_has_no_body, .timeout = 30)
{
    run(c_head);
}

static void c_big(srv *v)
{
    resp r;
    get(v, "GET", "/data.bin", "", &r);
    CHECK_STATUS(r, 200);
    CHECK_HDR(r, "Content-Length", "2097152");
    GO_CHECK(r.body_len == BIG_SIZE && check_pattern(r.body, BIG_SIZE, 42), "2 MiB body: %zu",
             r.body_len);
    resp_free(&r);
}

Test(fs, big_file_byte_for_byte, .timeout = 60)
{
    run(c_big);
}

/* Two requests on one connection: the sendfile path (a body past the
 * writer's buffer) must leave the framing exact for the next response. */
static void c_keepalive(srv *v)
{
    resp r;
    do_req(v,
           "GET /data.bin HTTP/1.1\r\nHost: t\r\nRange: bytes=100-300099\r\n\r\n"
           "GET /hello.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
           &r);
    CHECK_STATUS(r, 206);
    CHECK_HDR(r, "Content-Length", "300000");
    char *big = malloc(BIG_SIZE);
    fill_pattern(big, BIG_SIZE, 42);
    GO_CHECK(r.body_len > 300000 && memcmp(r.body, big + 100, 300000) == 0, "first body");
    free(big);
    const char *second = r.body_len > 300000 ? r.body + 300000 : "";
    GO_CHECK(strncmp(second, "HTTP/1.1 200", 12) == 0, "second response: %.100s", second);
    const char *body2 = strstr(second, "\r\n\r\n");
    GO_CHECK(body2 && strcmp(body2 + 4, hello) == 0, "second body");
    resp_free(&r);
}

Test(fs, keepalive_after_sendfile, .timeout = 30)
{
    run(c_keepalive);
}

/* ---- ranges ----------------------------------------------------------------------------- */

static void c_range_single(srv *v)
{
    resp r;
    get(v, "GET", "/hello.txt", "Range: bytes=7-10\r\n", &r);
    CHECK_STATUS(r, 206);
    CHECK_HDR(r, "Content-Range", "bytes 7-10/20");
    CHECK_HDR(r, "Content-Length", "4");
    GO_CHECK(body_is(&r, "file", 4), "body %.*s", (int)r.body_len, r.body);
    resp_free(&r);

    get(v, "GET", "/hello.txt", "Range: bytes=-7\r\n", &r);
    CHECK_STATUS(r, 206);
    CHECK_HDR(r, "Content-Range", "bytes 13-19/20");
    GO_CHECK(body_is(&r, "erver!\n", 7), "suffix");
    resp_free(&r);

    /* a range deep in the big file, checked against the pattern */
    get(v, "GET", "/data.bin", "Range: bytes=1000000-1099999\r\n", &r);
    CHECK_STATUS(r, 206);
    char *big = malloc(BIG_SIZE);
    fill_pattern(big, BIG_SIZE, 42);
    GO_CHECK(r.body_len == 100000 && memcmp(r.body, big + 1000000, 100000) == 0, "big range");
    free(big);
    resp_free(&r);
}

Test(fs, range_single, .timeout = 30)
{
    run(c_range_single);
}

static void c_range_multi(srv *v)
{
    resp r;
    get(v, "GET", "/hello.txt", "Range: bytes=0-4,7-10\r\n", &r);
    CHECK_STATUS(r, 206);
    char ct[256], cl[64], boundary[128] = "";
    GO_CHECK(hdr(&r, "Content-Type", ct, sizeof ct) &&
                 sscanf(ct, "multipart/byteranges; boundary=%127s", boundary) == 1,
             "Content-Type %s", ct);
    GO_CHECK(hdr(&r, "Content-Length", cl, sizeof cl) && (size_t)atol(cl) == r.body_len,
             "Content-Length %s, body %zu", cl, r.body_len);
    char want[1024];
    snprintf(want, sizeof want,
             "--%s\r\nContent-Range: bytes 0-4/20\r\nContent-Type: text/plain; "
             "charset=utf-8\r\n\r\nHello"
             "\r\n--%s\r\nContent-Range: bytes 7-10/20\r\nContent-Type: text/plain; "
             "charset=utf-8\r\n\r\nfile"
             "\r\n--%s--\r\n",
             boundary, boundary, boundary);
    GO_CHECK(body_is(&r, want, strlen(want)), "multipart body:\n%.*s", (int)r.body_len, r.body);
    resp_free(&r);

    /* overlapping ranges summing past the size: the whole file, 200 */
    get(v, "GET", "/hello.txt", "Range: bytes=0-15,5-19\r\n", &r);
    CHECK_STATUS(r, 200);
    GO_CHECK(body_is(&r, hello, sizeof hello - 1), "whole");
    resp_free(&r);
}

Test(fs, range_multipart, .timeout = 30)
{
    run(c_range_multi);
}

static void c_range_416(srv *v)
{
    resp r;
    get(v, "GET", "/hello.txt", "Range: bytes=20-30\r\n", &r);
    CHECK_STATUS(r, 416);
    CHECK_HDR(r, "Content-Range", "bytes */20");
    resp_free(&r);
    get(v, "GET", "/hello.txt", "Range: bytes=5-2\r\n", &r);
    CHECK_STATUS(r, 416);
    resp_free(&r);
    get(v, "GET", "/hello.txt", "Range: lines=1-2\r\n", &r);
    CHECK_STATUS(r, 416);
    resp_free(&r);
}

Test(fs, range_unsatisfiable, .timeout = 30)
{
    run(c_range_416);
}

/* ---- conditional requests ----------------------------------------------------------------- */

static void c_conditional(srv *v)
{
    resp r;
    char etag[64] = "", lm[64] = "", extra[256];
    get(v, "GET", "/hello.txt", "", &r);
    hdr(&r, "ETag", etag, sizeof etag);
    hdr(&r, "Last-Modified", lm, sizeof lm);
    resp_free(&r);

    snprintf(extra, sizeof extra, "If-None-Match: \"other\", %s\r\n", etag);
    get(v, "GET", "/hello.txt", extra, &r);
    CHECK_STATUS(r, 304);
    CHECK_HDR(r, "ETag", etag);
    CHECK_HDR(r, "Content-Type", NULL);
    CHECK_HDR(r, "Content-Length", NULL);
    GO_CHECK(r.body_len == 0, "304 body");
    resp_free(&r);

    snprintf(extra, sizeof extra, "If-None-Match: W/%s\r\n", etag); /* weak comparison */
    get(v, "HEAD", "/hello.txt", extra, &r);
    CHECK_STATUS(r, 304);
    resp_free(&r);

    snprintf(extra, sizeof extra, "If-Modified-Since: %s\r\n", lm);
    get(v, "GET", "/hello.txt", extra, &r);
    CHECK_STATUS(r, 304);
    resp_free(&r);

    get(v, "GET", "/hello.txt", "If-Modified-Since: Sat, 01 Jan 2000 00:00:00 GMT\r\n", &r);
    CHECK_STATUS(r, 200);
    resp_free(&r);

    get(v, "GET", "/hello.txt", "If-Match: \"nope\"\r\n", &r);
    CHECK_STATUS(r, 412);
    resp_free(&r);

    snprintf(extra, sizeof extra, "If-Match: %s\r\n", etag);
    get(v, "GET", "/hello.txt", extra, &r);
    CHECK_STATUS(r, 200);
    resp_free(&r);

    get(v, "GET", "/hello.txt", "If-Unmodified-Since: Sat, 01 Jan 2000 00:00:00 GMT\r\n", &r);
    CHECK_STATUS(r, 412);
    resp_free(&r);
}

Test(fs, conditional, .timeout = 30)
{
    run(c_conditional);
}

static void c_if_range(srv *v)
{
    resp r;
    char etag[64] = "", lm[64] = "", extra[256];
    get(v, "GET", "/hello.txt", "", &r);
    hdr(&r, "ETag", etag, sizeof etag);
    hdr(&r, "Last-Modified", lm, sizeof lm);
    resp_free(&r);

    get(v, "GET", "/hello.txt", "Range: bytes=0-4\r\nIf-Range: \"stale\"\r\n", &r);
    CHECK_STATUS(r, 200);
    GO_CHECK(body_is(&r, hello, sizeof hello - 1), "whole body");
    resp_free(&r);

    snprintf(extra, sizeof extra, "Range: bytes=0-4\r\nIf-Range: %s\r\n", etag);
    get(v, "GET", "/hello.txt", extra, &r);
    CHECK_STATUS(r, 206);
    GO_CHECK(body_is(&r, "Hello", 5), "range body");
    resp_free(&r);

    snprintf(extra, sizeof extra, "Range: bytes=0-4\r\nIf-Range: %s\r\n", lm);
    get(v, "GET", "/hello.txt", extra, &r);
    CHECK_STATUS(r, 206);
    resp_free(&r);

    get(v, "GET", "/hello.txt", "Range: bytes=0-4\r\nIf-Range: Sat, 01 Jan 2000 00:00:00 GMT\r\n",
        &r);
    CHECK_STATUS(r, 200);
    resp_free(&r);
}

Test(fs, if_range, .timeout = 30)
{
    run(c_if_range);
}

static void c_precedence(srv *v)
{
    resp r;
    char lm[64] = "", etag[64] = "", extra[256];
    get(v, "GET", "/hello.txt", "", &r);
    hdr(&r, "Last-Modified", lm, sizeof lm);
    hdr(&r, "ETag", etag, sizeof etag);
    resp_free(&r);

    /* If-None-Match present: If-Modified-Since is not looked at */
    snprintf(extra, sizeof extra, "If-None-Match: \"other\"\r\nIf-Modified-Since: %s\r\n", lm);
    get(v, "GET", "/hello.txt", extra, &r);
    CHECK_STATUS(r, 200);
    resp_free(&r);

    /* a matching If-None-Match on a method other than GET/HEAD: 412 */
    snprintf(extra, sizeof extra, "If-None-Match: *\r\nContent-Length: 0\r\n");
    get(v, "POST", "/hello.txt", extra, &r);
    CHECK_STATUS(r, 412);
    resp_free(&r);

    /* If-Match holds: If-Unmodified-Since is not looked at */
    snprintf(extra, sizeof extra,
             "If-Match: %s\r\nIf-Unmodified-Since: Sat, 01 Jan 2000 00:00:00 GMT\r\n", etag);
    get(v, "GET", "/hello.txt", extra, &r);
    CHECK_STATUS(r, 200);
    resp_free(&r);

    /* an unparsable date is ignored */
    get(v, "GET", "/hello.txt", "If-Modified-Since: yesterday\r\n", &r);
    CHECK_STATUS(r, 200);
    resp_free(&r);

    /* more ranges than the limit: the whole file */
    char many[1024] = "Range: bytes=";
    for (int i = 0; i < 70; i++)
        snprintf(many + strlen(many), sizeof many - strlen(many), "%s%d-%d", i ? "," : "", 2 * i,
                 2 * i);
    strcat(many, "\r\n");
    get(v, "HEAD", "/data.bin", many, &r);
    CHECK_STATUS(r, 200);
    CHECK_HDR(r, "Content-Length", "2097152");
    resp_free(&r);
}

Test(fs, conditional_precedence_and_range_limits, .timeout = 30)
{
    run(c_precedence);
}

/* ---- confinement --------------------------------------------------------------------------- */

static void refused(srv *v, const char *path)
{
    resp r;
    get(v, "GET", path, "", &r);
    GO_CHECK(r.status >= 400 && r.status < 500, "%s: status %d", path, r.status);
    GO_CHECK(!r.raw || !strstr(r.raw, "TOP-SECRET"), "%s leaked the secret", path);
    GO_CHECK(!r.raw || !strstr(r.raw, "root:"), "%s leaked /etc/passwd", path);
    resp_free(&r);
}

static void c_traversal(srv *v)
{
    refused(v, "/../etc/passwd");
    refused(v, "/../../../../../../etc/passwd");
    refused(v, "/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd");
    refused(v, "/%2E%2E/outside/secret.txt");
    refused(v, "/sub/..%2f..%2foutside/secret.txt");
    refused(v, "/sym-out/secret.txt");
    refused(v, "/sym-out/");
    refused(v, "/sym-abs");
    refused(v, "/fifo");
    resp r;
    get(v, "GET", "/sym-in", "", &r); /* a symlink that stays inside is fine */
    CHECK_STATUS(r, 200);
    GO_CHECK(body_is(&r, hello, sizeof hello - 1), "sym-in body");
    resp_free(&r);
}

Test(fs, traversal_refused, .timeout = 30)
{
    run(c_traversal);
}

Test(fs, traversal_refused_without_openat2, .timeout = 30)
{
    goc__http_fs_no_openat2 = true; /* the realpath check of old kernels */
    run(c_traversal);
}

/* ---- directories ------------------------------------------------------------------------- */

static void c_dirs(srv *v)
{
    resp r;
    get(v, "GET", "/sub", "", &r);
    CHECK_STATUS(r, 301);
    CHECK_HDR(r, "Location", "sub/");
    resp_free(&r);

    get(v, "GET", "/sub?x=1", "", &r);
    CHECK_STATUS(r, 301);
    CHECK_HDR(r, "Location", "sub/?x=1");
    resp_free(&r);

    get(v, "GET", "/hello.txt/", "", &r);
    CHECK_STATUS(r, 301);
    CHECK_HDR(r, "Location", "../hello.txt");
    resp_free(&r);

    get(v, "GET", "/site/", "", &r);
    CHECK_STATUS(r, 200);
    GO_CHECK(body_is(&r, "<p>index</p>\n", 13), "index body");
    CHECK_HDR(r, "Content-Type", "text/html; charset=utf-8");
    resp_free(&r);

    get(v, "GET", "/", "", &r);
    CHECK_STATUS(r, 200);
    GO_CHECK(r.body && strstr(r.body, "<a href=\"site/\">site/</a>\n<a href=\"sniffme\">"),
             "root listing:\n%s", r.body);
    resp_free(&r);

    get(v, "GET", "/site/index.html", "", &r);
    CHECK_STATUS(r, 301);
    CHECK_HDR(r, "Location", "./");
    resp_free(&r);
}

Test(fs, directories_redirect_and_index, .timeout = 30)
{
    run(c_dirs);
}

static void c_listing(srv *v)
{
    resp r;
    get(v, "GET", "/sub/", "", &r);
    CHECK_STATUS(r, 200);
    CHECK_HDR(r, "Content-Type", "text/html; charset=utf-8");
    const char *want = "<!doctype html>\n<meta name=\"viewport\" content=\"width=device-width\">\n"
                       "<pre>\n"
                       "<a href=\"a.txt\">a.txt</a>\n"
                       "<a href=\"b/\">b/</a>\n"
                       "<a href=\"sp%20ace%3F%23.txt\">sp ace?#.txt</a>\n"
                       "<a href=\"we%3Cird%3E%20%26%20%27q%22.txt\">"
                       "we&lt;ird&gt; &amp; &#39;q&#34;.txt</a>\n"
                       "</pre>\n";
    GO_CHECK(body_is(&r, want, strlen(want)), "listing:\n%.*s", (int)r.body_len, r.body);
    resp_free(&r);

    /* the listed names lead to the files */
    get(v, "GET", "/sub/sp%20ace%3F%23.txt", "", &r);
    CHECK_STATUS(r, 200);
    GO_CHECK(body_is(&r, "space\n", 6), "space body");
    resp_free(&r);
    get(v, "GET", "/sub/we%3Cird%3E%20%26%20%27q%22.txt", "", &r);
    CHECK_STATUS(r, 200);
    GO_CHECK(body_is(&r, "odd\n", 4), "odd body");
    resp_free(&r);
}

Test(fs, listing_escaped, .timeout = 30)
{
    run(c_listing);
}

/* ---- gzip_static ---------------------------------------------------------------------------- */

static void c_gzip(srv *v)
{
    resp r;
    get(v, "GET", "/page.html", "Accept-Encoding: br, gzip;q=0.8\r\n", &r);
    CHECK_STATUS(r, 200);
    CHECK_HDR(r, "Content-Encoding", "gzip");
    CHECK_HDR(r, "Vary", "Accept-Encoding");
    CHECK_HDR(r, "Content-Type", "text/html; charset=utf-8");
    GO_CHECK(body_is(&r, page_gz, sizeof page_gz - 1), "gz body");
    char gz_etag[64] = "", id_etag[64] = "";
    hdr(&r, "ETag", gz_etag, sizeof gz_etag);
    resp_free(&r);

    get(v, "GET", "/page.html", "Accept-Encoding: gzip;q=0, deflate\r\n", &r);
    CHECK_STATUS(r, 200);
    CHECK_HDR(r, "Content-Encoding", NULL);
    CHECK_HDR(r, "Vary", "Accept-Encoding");
    GO_CHECK(body_is(&r, page, sizeof page - 1), "identity body");
    hdr(&r, "ETag", id_etag, sizeof id_etag);
    GO_CHECK(strcmp(gz_etag, id_etag) != 0, "same ETag for both encodings: %s", gz_etag);
    resp_free(&r);

    get(v, "GET", "/page.html", "", &r);
    CHECK_HDR(r, "Content-Encoding", NULL);
    resp_free(&r);

    get(v, "GET", "/page.html", "Accept-Encoding: gzip\r\nRange: bytes=0-1\r\n", &r);
    CHECK_STATUS(r, 206);
    CHECK_HDR(r, "Content-Encoding", "gzip");
    GO_CHECK(body_is(&r, "\x1f\x8b", 2), "range of the gzip bytes");
    resp_free(&r);

    get(v, "GET", "/hello.txt", "Accept-Encoding: gzip\r\n", &r); /* no .gz beside it */
    CHECK_HDR(r, "Content-Encoding", NULL);
    CHECK_HDR(r, "Vary", NULL);
    resp_free(&r);
}

Test(fs, gzip_sibling, .timeout = 30)
{
    run(c_gzip);
}

/* ---- under StripPrefix -------------------------------------------------------------------------
 */

/* Middleware lives for the program (as a handler a Go mux holds): kept
 * here, reachable for LeakSanitizer. */
static goc_http_handler stripped;

static int t_strip_prefix(void *arg)
{
    (void)arg;
    srv v;
    if (!stripped.fn)
        stripped = goc_http_strip_prefix("/static/", goc_http_file_server(root_dir));
    srv_start(&v, stripped);
    resp r;
    get(&v, "GET", "/static/hello.txt", "", &r);
    CHECK_STATUS(r, 200);
    GO_CHECK(body_is(&r, hello, sizeof hello - 1), "body");
    resp_free(&r);
    get(&v, "GET", "/static/sub", "", &r); /* relative: the browser lands on /static/sub/ */
    CHECK_STATUS(r, 301);
    CHECK_HDR(r, "Location", "sub/");
    resp_free(&r);
    get(&v, "GET", "/static/sub/b/", "", &r);
    CHECK_STATUS(r, 200);
    GO_CHECK(r.body && strstr(r.body, "<pre>\n</pre>"), "empty listing: %s", r.body);
    resp_free(&r);
    get(&v, "GET", "/static/%2e%2e/outside/secret.txt", "", &r);
    GO_CHECK(r.status == 404, "status %d", r.status);
    resp_free(&r);
    srv_stop(&v);
    return 0;
}

Test(fs, under_strip_prefix, .timeout = 30)
{
    run_main(t_strip_prefix, NULL);
}

/* ---- ServeFile and ServeContent from a handler --------------------------------------------------
 */

static void h_serve_file(goc_http_response_writer *w, goc_http_request *r, void *arg)
{
    (void)arg;
    char p[256];
    snprintf(p, sizeof p, "%s/hello.txt", root_dir);
    if (strncmp(r->path, "/dir", 4) == 0) {
        snprintf(p, sizeof p, "%s/sub", root_dir);
        goc_http_serve_file(w, r, p);
        return;
    }
    if (strcmp(r->path, "/content") == 0) {
        int fd = open(p, O_RDONLY | O_CLOEXEC);
        goc_http_header_set(goc_http_response_header(w), "Content-Type", "text/x-mine");
        goc_http_serve_content(w, r, "x.bin", 0, fd);
        close(fd);
        return;
    }
    goc_http_serve_file(w, r, p);
}

static int t_serve_file(void *arg)
{
    (void)arg;
    srv v;
    srv_start(&v, (goc_http_handler){h_serve_file, NULL});
    resp r;
    get(&v, "GET", "/any", "", &r);
    CHECK_STATUS(r, 200);
    GO_CHECK(body_is(&r, hello, sizeof hello - 1), "serve_file body");
    GO_CHECK(!hdr_is(&r, "ETag", NULL), "serve_file sets an ETag");
    resp_free(&r);
    get(&v, "GET", "/content", "Range: bytes=0-4\r\n", &r);
    CHECK_STATUS(r, 206);
    CHECK_HDR(r, "Content-Type", "text/x-mine");
    CHECK_HDR(r, "ETag", NULL);
    CHECK_HDR(r, "Last-Modified", NULL);
    GO_CHECK(body_is(&r, "Hello", 5), "serve_content body");
    resp_free(&r);
    get(&v, "GET", "/dir", "", &r);
    CHECK_STATUS(r, 301);
    CHECK_HDR(r, "Location", "dir/");
    resp_free(&r);
    get(&v, "GET", "/dir/", "", &r);
    CHECK_STATUS(r, 200);
    GO_CHECK(r.body && strstr(r.body, "<a href=\"a.txt\">a.txt</a>"), "listing %s", r.body);
    char lm[64] = "", extra[128];
    hdr(&r, "Last-Modified", lm, sizeof lm);
    resp_free(&r);
    snprintf(extra, sizeof extra, "If-Modified-Since: %s\r\n", lm);
    get(&v, "GET", "/dir/", extra, &r);
    CHECK_STATUS(r, 304);
    resp_free(&r);
    get(&v, "GET", "/a/%2e%2e/b", "", &r);
    CHECK_STATUS(r, 400);
    resp_free(&r);
    srv_stop(&v);
    return 0;
}

Test(fs, serve_file_and_content, .timeout = 30)
{
    run_main(t_serve_file, NULL);
}
