/*
 * test_server_faults.c — the server under bad input and hard conditions:
 * running out of fds (accept fails with EMFILE), handlers that never
 * write or never return, bodies shorter or longer than announced, a
 * client that stops reading (write_timeout), graceful shutdown under
 * load, a thousand idle connections ended by close, and a plain-thread
 * client beside goroutine clients. Each test ends with the server still
 * serving (where it should) and nothing left running.
 */
#include <criterion/criterion.h>
#include <sys/resource.h>

#include "http/serverutil.h"

#define MS GOC_MILLISECOND

static uint64_t conns_open(void)
{
    goc_http_stats st;
    goc_http_stats_read(&st);
    return st.conns_open;
}

/* Wait (bounded) until the server has no connection left. */
static bool no_conns(void)
{
    int64_t end = goc_now() + 10 * GOC_SECOND * test_slack();
    while (conns_open() != 0 && goc_now() < end)
        goc_sleep(MS);
    return conns_open() == 0;
}

static bool goroutines_back_to(size_t base)
{
    int64_t end = goc_now() + 5 * GOC_SECOND * test_slack();
    while (goc_numgoroutine() > base && goc_now() < end)
        goc_sleep(MS);
    return goc_numgoroutine() <= base;
}

static void h_hello(goc_http_response_writer *w, goc_http_request *r, void *arg)
{
    (void)r, (void)arg;
    goc_http_write_str(w, "Hello, World!");
}

/* One GET on a new connection answered 200 "Hello, World!". */
static bool hello_ok(test_server *ts)
{
    test_resp r;
    bool ok = test_roundtrip(ts, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", &r) && r.status == 200 &&
              test_body_is(&r, "Hello, World!");
    test_resp_free(&r);
    return ok;
}

/* ---- out of fds ------------------------------------------------------------------------ */

static int open_fds(void)
{
    int n = 0;
    for (int fd = 0; fd < 4096; fd++)
        if (fcntl(fd, F_GETFD) >= 0)
            n++;
    return n;
}

static int main_emfile(void *arg)
{
    (void)arg;
    test_server ts;
    GO_CHECK(test_server_start(&ts, (goc_http_handler){h_hello, NULL}, NULL), "start");
    GO_CHECK(hello_ok(&ts), "before");
    struct rlimit old, low;
    getrlimit(RLIMIT_NOFILE, &old);
    low = old;
    low.rlim_cur = (rlim_t)open_fds() + 24;
    GO_CHECK(setrlimit(RLIMIT_NOFILE, &low) == 0, "setrlimit");
    /* Dial until the table is full: the server's accepts fail too. */
    int fds[64], n = 0;
    while (n < 64) {
        int fd = goc_dial("tcp", ts.addr, 2 * GOC_SECOND);
        if (fd < 0) {
            GO_CHECK(fd == -EMFILE || fd == -ENFILE, "dial: %s", goc_strerror(fd));
            break;
        }
        fds[n++] = fd;
    }
    GO_CHECK(n > 4 && n < 64, "%d connections before EMFILE", n);
    goc_sleep(200 * MS); /* accept meets EMFILE (again and again) */
    /* Fds come back: the server takes the waiting connections, ends them,
     * and serves again. */
    for (int i = 0; i < n; i++)
        goc_close(fds[i]);
    GO_CHECK(setrlimit(RLIMIT_NOFILE, &old) == 0, "setrlimit back");
    int64_t end = goc_now() + 5 * GOC_SECOND * test_slack();
    bool ok = false;
    while (!(ok = hello_ok(&ts)) && goc_now() < end)
        goc_sleep(50 * MS);
    GO_CHECK(ok, "not serving once fds were free");
    GO_CHECK(no_conns(), "connections left");
    test_server_stop(&ts);
    return 0;
}

Test(server_faults, out_of_fds_accept_backs_off_and_serves_again, .timeout = 30)
{
    cr_assert_eq(run_main(main_emfile, NULL), 0);
}

/* ---- handlers that never write, or never return -------------------------------------------- */

static void h_silent(goc_http_response_writer *w, goc_http_request *r, void *arg)
{
    (void)w, (void)r, (void)arg;
}

static int main_silent(void *arg)
{
    (void)arg;
    test_server ts;
    GO_CHECK(test_server_start(&ts, (goc_http_handler){h_silent, NULL}, NULL), "start");
    test_resp r;
    char v[64];
    GO_CHECK(test_roundtrip(&ts, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", &r), "roundtrip");
    GO_CHECK(r.status == 200 && r.body_len == 0 && !r.chunked && r.keep_alive, "status %d\n%s",
             r.status, r.head);
    GO_CHECK(test_field(&r, "Content-Length", v, sizeof v) && strcmp(v, "0") == 0, "CL\n%s",
             r.head);
    GO_CHECK(!test_field(&r, "Content-Type", v, sizeof v), "a type for no body\n%s", r.head);
    test_resp_free(&r);
    test_server_stop(&ts);
    return 0;
}

Test(server_faults, handler_that_never_writes_is_200_with_empty_body, .timeout = 20)
{
    cr_assert_eq(run_main(main_silent, NULL), 0);
}

static atomic_int blocked_in, blocked_err;

/* Blocks until its ctx is done (at most 30 s). */
static void h_block(goc_http_response_writer *w, goc_http_request *r, void *arg)
{
    (void)arg;
    goc_ctx *ctx = goc_http_request_ctx(r);
    atomic_fetch_add(&blocked_in, 1);
    goc_case c = GOC_RECV(goc_ctx_done(ctx), NULL);
    goc_select(&c, 1, 30 * GOC_SECOND);
    atomic_store(&blocked_err, goc_ctx_err(ctx));
    goc_http_write_str(w, "late"); /* fails: the connection is being cut */
}

static int main_block_close(void *arg)
{
    (void)arg;
    size_t base = goc_numgoroutine();
    test_server ts;
    GO_CHECK(test_server_start(&ts, (goc_http_handler){h_block, NULL}, NULL), "start");
    int fd = test_dial(&ts);
    test_send(fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    int64_t end = goc_now() + 5 * GOC_SECOND * test_slack();
    while (atomic_load(&blocked_in) == 0 && goc_now() < end)
        goc_sleep(MS);
    GO_CHECK(atomic_load(&blocked_in) == 1, "the handler never ran");
    int64_t t0 = goc_now();
    test_server_stop(&ts); /* close: the handler's ctx is cancelled, it returns */
    GO_CHECK(since_ms(t0) < late_ms(2000), "close took %lld ms", (long long)since_ms(t0));
    GO_CHECK(atomic_load(&blocked_err) == -ECANCELED, "ctx err %d", atomic_load(&blocked_err));
    GO_CHECK(test_wait_closed(fd), "the client's connection stays open");
    goc_close(fd);
    GO_CHECK(goroutines_back_to(base), "%zu goroutines, %zu before", goc_numgoroutine(), base);
    return 0;
}

Test(server_faults, close_ends_a_blocked_handler, .timeout = 30)
{
    cr_assert_eq(run_main(main_block_close, NULL), 0);
}

/* ---- bodies shorter or longer than announced ------------------------------------------------ */

static atomic_long body_got, body_err;

static void h_read(goc_http_response_writer *w, goc_http_request *r, void *arg)
{
    (void)arg;
    char buf[1000];
    long total = 0;
    ssize_t n;
    while ((n = goc_http_body_read(r, buf, sizeof buf)) > 0)
        total += n;
    atomic_store(&body_got, total);
    atomic_store(&body_err, (long)n);
    goc_http_printf(w, "n=%ld err=%zd", total, n);
}

static int main_short_body(void *arg)
{
    (void)arg;
    test_server ts;
    GO_CHECK(test_server_start(&ts, (goc_http_handler){h_read, NULL}, NULL), "start");
    for (int how = 0; how < 2; how++) { /* half-close, then a full close */
        atomic_store(&body_err, 1);
        int fd = test_dial(&ts);
        test_send(fd, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789");
        goc_sleep(20 * MS);
        if (how == 0)
            shutdown(fd, SHUT_WR);
        else
            goc_close(fd);
        int64_t end = goc_now() + 5 * GOC_SECOND * test_slack();
        while (atomic_load(&body_err) == 1 && goc_now() < end)
            goc_sleep(MS);
        GO_CHECK(atomic_load(&body_got) == 10, "read %ld", atomic_load(&body_got));
        GO_CHECK(atomic_load(&body_err) < 0, "the short body's end: %ld", atomic_load(&body_err));
        if (how == 0) {
            GO_CHECK(test_wait_closed(fd), "not closed after a short body");
            goc_close(fd);
        }
        GO_CHECK(no_conns(), "the connection outlived the short body");
    }
    /* Longer than announced: the rest is the next request, and garbage. */
    test_conn *c = calloc(1, sizeof *c);
    c->fd = test_dial(&ts);
    test_send(c->fd,
              "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloEXTRA BYTES\r\n\r\n");
    test_resp r;
    GO_CHECK(test_read_resp(c, &r, false) && r.status == 200 && test_body_is(&r, "n=5 err=0"),
             "the announced part: %d %s", r.status, r.body ? r.body : "");
    test_resp_free(&r);
    GO_CHECK(test_read_resp(c, &r, false) && r.status == 400 && !r.keep_alive,
             "the extra bytes: %d", r.status);
    test_resp_free(&r);
    GO_CHECK(test_wait_closed(c->fd), "not closed after the garbage");
    goc_close(c->fd);
    /* ... and a body whose extra bytes are a head that never ends. */
    c->fd = test_dial(&ts);
    c->len = 0;
    test_send(c->fd, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhiGET / HTTP/1.1\r\n");
    GO_CHECK(test_read_resp(c, &r, false) && r.status == 200, "first: %d", r.status);
    test_resp_free(&r);
    goc_close(c->fd);
    /* A pipelined POST whose client waits for the answer before it sends
     * the body: the answer goes out before the body's read waits. */
    c->fd = test_dial(&ts);
    c->len = 0;
    test_send(c->fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
                     "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n");
    GO_CHECK(test_read_resp(c, &r, false) && r.status == 200 && test_body_is(&r, "n=0 err=0"),
             "the GET's answer: %d", r.status);
    test_resp_free(&r);
    test_send(c->fd, "abc");
    GO_CHECK(test_read_resp(c, &r, false) && r.status == 200 && test_body_is(&r, "n=3 err=0"),
             "the POST's answer: %d", r.status);
    test_resp_free(&r);
    goc_close(c->fd);
    free(c);
    GO_CHECK(no_conns(), "connections left");
    test_server_stop(&ts);
    return 0;
}

Test(server_faults, short_and_long_bodies_end_cleanly, .timeout = 30)
{
    cr_assert_eq(run_main(main_short_body, NULL), 0);
}

/* A body that stalls half-way: read_timeout ends the handler's read. */
static int main_stalled_upload(void *arg)
{
    (void)arg;
    goc_http_server_opts opts = {.read_timeout = 300 * MS};
    test_server ts;
    GO_CHECK(test_server_start(&ts, (goc_http_handler){h_read, NULL}, &opts), "start");
    atomic_store(&body_err, 1);
    int fd = test_dial(&ts);
    int64_t t0 = goc_now();
    test_send(fd, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789");
    int64_t end = goc_now() + 5 * GOC_SECOND * test_slack();
    while (atomic_load(&body_err) == 1 && goc_now() < end)
        goc_sleep(MS);
    GO_CHECK(atomic_load(&body_err) == -ETIMEDOUT, "the stalled read: %ld", atomic_load(&body_err));
    GO_CHECK(since_ms(t0) >= 250 && since_ms(t0) < late_ms(1500), "after %lld ms",
             (long long)since_ms(t0));
    /* The handler answered; the body cannot be framed: closed after it. */
    test_conn *c = calloc(1, sizeof *c);
    c->fd = fd;
    test_resp r;
    GO_CHECK(test_read_resp(c, &r, false) && r.status == 200 && !r.keep_alive, "answer: %d",
             r.status);
    test_resp_free(&r);
    GO_CHECK(test_wait_closed(fd), "not closed");
    goc_close(fd);
    free(c);
    GO_CHECK(no_conns(), "connections left");
    test_server_stop(&ts);
    return 0;
}

Test(server_faults, read_timeout_ends_a_stalled_upload, .timeout = 30)
{
    cr_assert_eq(run_main(main_stalled_upload, NULL), 0);
}

/* A client that half-closes after its request still gets the answer;
 * bytes that are no HTTP at all get 400 at once, even before a line ends
 * (a TLS ClientHello cannot begin a request line), never a hang. */
static int main_half_close_and_garbage(void *arg)
{
    (void)arg;
    goc_http_server_opts opts = {.read_header_timeout = 300 * MS};
    test_server ts;
    GO_CHECK(test_server_start(&ts, (goc_http_handler){h_read, NULL}, &opts), "start");
    test_conn *c = calloc(1, sizeof *c);
    c->fd = test_dial(&ts);
    test_send(c->fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    shutdown(c->fd, SHUT_WR);
    test_resp r;
    GO_CHECK(test_read_resp(c, &r, false) && r.status == 200 && test_body_is(&r, "n=0 err=0"),
             "answer after a half-close: %d", r.status);
    test_resp_free(&r);
    GO_CHECK(test_wait_closed(c->fd), "not closed after the half-close");
    goc_close(c->fd);
    static const char tls_hello[] = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\x00\x00";
    static const char nuls[] = "\0\0\0\0\r\n\r\n";
    static const char nul_value[] = "GET / HTTP/1.1\r\nHost: x\r\nX: a\0b\r\n\r\n";
    static const char blank_lines[] = "\r\n\r\n\r\n\r\n";
    static const char raw_utf8[] = "GET /\xff\xfe HTTP/1.1\r\n\r\n";
    const struct {
        const char *p;
        size_t n;
        int status; /* 0: any 4xx or a close */
    } junk[] = {
        {tls_hello, sizeof tls_hello - 1, 400}, {nuls, sizeof nuls - 1, 400},
        {nul_value, sizeof nul_value - 1, 400}, {blank_lines, sizeof blank_lines - 1, 0},
        {raw_utf8, sizeof raw_utf8 - 1, 400},
    };
    for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++) {
        c->fd = test_dial(&ts);
        c->len = 0;
        int64_t t0 = goc_now();
        goc_write(c->fd, junk[i].p, junk[i].n);
        bool got = test_read_resp(c, &r, false);
        if (junk[i].status)
            GO_CHECK(got && r.status == junk[i].status && !r.keep_alive, "junk %zu: %d", i,
                     r.status);
        else
            GO_CHECK(!got || (r.status >= 400 && r.status < 500), "junk %zu: %d", i, r.status);
        test_resp_free(&r);
        GO_CHECK(test_wait_closed(c->fd), "junk %zu: not closed", i);
        GO_CHECK(since_ms(t0) < late_ms(1500), "junk %zu: %lld ms", i, (long long)since_ms(t0));
        goc_close(c->fd);
    }
    free(c);
    GO_CHECK(no_conns(), "connections left");
    test_server_stop(&ts);
    return 0;
}

Test(server_faults, half_close_is_answered_and_garbage_refused, .timeout = 30)
{
    cr_assert_eq(run_main(main_half_close_and_garbage, NULL), 0);
}

/* ---- hijacked connections ------------------------------------------------------------------ */

static atomic_int hijacked_fd = -1;
static goc_chan *hijack_release;

/* Takes the connection over, closes it at once, and waits to be let go:
 * its fd number is free for anyone while the server still lists it. */
static void h_hijack_close(goc_http_response_writer *w, goc_http_request *r, void *arg)
{
    (void)r, (void)arg;
    int fd;
    char *buf;
    size_t n;
    if (goc_http_hijack(w, &fd, &buf, &n) != 0)
        return;
    free(buf);
    goc_close(fd);
    atomic_store(&hijacked_fd, fd);
    goc_chan_recv(hijack_release, NULL);
}

static void close_server(void *arg)
{
    test_server *ts = arg;
    goc_http_server_close(ts->srv);
}

static int main_hijack_close(void *arg)
{
    (void)arg;
    size_t base = goc_numgoroutine();
    test_server ts, other;
    GO_CHECK(test_server_start(&ts, (goc_http_handler){h_hijack_close, NULL}, NULL), "start");
    GO_CHECK(test_server_start(&other, (goc_http_handler){h_hello, NULL}, NULL), "start other");
    hijack_release = goc_chan_make(0, 0);
    int fd = test_dial(&ts);
    test_send(fd, "GET / HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\n\r\n");
    int64_t end = goc_now() + 5 * GOC_SECOND * test_slack();
    while (atomic_load(&hijacked_fd) < 0 && goc_now() < end)
        goc_sleep(MS);
    GO_CHECK(test_wait_closed(fd), "the handler's close");
    /* A connection of someone else's takes the number the handler freed. */
    test_conn *c = calloc(1, sizeof *c);
    c->fd = test_dial(&other);
    bool reused = c->fd == atomic_load(&hijacked_fd);
    test_resp r;
    /* Closing the first server must not touch it. */
    GO_SPAWN(close_server, &ts);
    goc_sleep(100 * MS);
    GO_CHECK(test_send(c->fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n") &&
                 test_read_resp(c, &r, false) && r.status == 200,
             "closing one server broke a connection of another (fd %d, reused %d)", c->fd, reused);
    test_resp_free(&r);
    goc_chan_close(hijack_release); /* the handler returns: close can end */
    int rc = 0;
    goc_chan_recv(ts.done, &rc);
    GO_CHECK(rc == GOC_EHTTP_SERVER_CLOSED, "serve: %d", rc);
    goc_close(c->fd);
    goc_close(fd);
    free(c);
    test_server_stop(&other);
    /* close_server returns once the handler has: nothing is left. */
    GO_CHECK(goroutines_back_to(base), "%zu goroutines, %zu before", goc_numgoroutine(), base);
    GO_CHECK(no_conns(), "connections left");
    goc_chan_release(ts.done);
    goc_http_server_free(ts.srv);
    goc_chan_release(hijack_release);
    return 0;
}

Test(server_faults, close_leaves_a_hijacked_fd_alone, .timeout = 30)
{
    cr_assert_eq(run_main(main_hijack_close, NULL), 0);
}

/* ---- a client that stops reading ------------------------------------------------------------- */

static atomic_long stream_err, stream_ms;

static void h_stream(goc_http_response_writer *w, goc_http_request *r, void *arg)
{
    (void)arg;
    if (strcmp(r->path, "/small") == 0) {
        goc_http_write_str(w, "small");
        return;
    }
    static char chunk[65536];
    memset(chunk, 'x', sizeof chunk);
    int64_t t0 = goc_now();
    ssize_t n = 0;
    for (long i = 0; i < 4096 && n >= 0; i++) /* up to 256 MiB */
        n = goc_http_write(w, chunk, sizeof chunk);
    atomic_store(&stream_ms, since_ms(t0));
    atomic_store(&stream_err, (long)n);
}

static int main_slow_reader(void *arg)
{
    (void)arg;
    goc_http_server_opts opts = {.write_timeout = 500 * MS};
    test_server ts;
    GO_CHECK(test_server_start(&ts, (goc_http_handler){h_stream, NULL}, &opts), "start");
    atomic_store(&stream_err, 1);
    int fd = test_dial(&ts);
    test_send(fd, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n"); /* and never read */
    /* Meanwhile others are served as usual. */
    for (int i = 0; i < 5; i++) {
        test_resp r;
        GO_CHECK(test_roundtrip(&ts, "GET /small HTTP/1.1\r\nHost: x\r\n\r\n", &r) &&
                     r.status == 200 && test_body_is(&r, "small"),
                 "another client: %d", r.status);
        test_resp_free(&r);
    }
    int64_t end = goc_now() + 5 * GOC_SECOND * test_slack();
    while (atomic_load(&stream_err) == 1 && goc_now() < end)
        goc_sleep(5 * MS);
    GO_CHECK(atomic_load(&stream_err) == -ETIMEDOUT, "the stalled write: %ld",
             atomic_load(&stream_err));
    GO_CHECK(atomic_load(&stream_ms) >= 400 && atomic_load(&stream_ms) < late_ms(1500),
             "cut off after %ld ms", atomic_load(&stream_ms));
    GO_CHECK(no_conns(), "the stalled connection is still open");
    long total = 0;
    ssize_t k;
    char buf[65536];
    while ((k = goc_read(fd, buf, sizeof buf)) > 0)
        total += k;
    GO_CHECK(k == 0 || k == -ECONNRESET, "the client does not see the close: %zd after %ld", k,
             total);
    goc_close(fd);
    test_server_stop(&ts);
    return 0;
}

Test(server_faults, write_timeout_cuts_off_a_client_that_stops_reading, .timeout = 30)
{
    cr_assert_eq(run_main(main_slow_reader, NULL), 0);
}

/* A client that resets the connection in the middle of a long answer:
 * the handler's write fails, the server goes on. */
static int main_reset_mid_stream(void *arg)
{
    (void)arg;
    test_server ts;
    GO_CHECK(test_server_start(&ts, (goc_http_handler){h_stream, NULL}, NULL), "start");
    for (int i = 0; i < 3; i++) {
        atomic_store(&stream_err, 1);
        int fd = test_dial(&ts);
        test_send(fd, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n");
        char buf[65536];
        for (long got = 0; got < 1 << 20;) {
            ssize_t k = goc_read(fd, buf, sizeof buf);
            if (k <= 0)
                break;
            got += k;
        }
        struct linger lg = {1, 0}; /* close with a reset */
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        goc_close(fd);
        int64_t end = goc_now() + 5 * GOC_SECOND * test_slack();
        while (atomic_load(&stream_err) == 1 && goc_now() < end)
            goc_sleep(MS);
        long err = atomic_load(&stream_err);
        GO_CHECK(err == -ECONNRESET || err == -EPIPE, "the write after the reset: %ld", err);
        GO_CHECK(no_conns(), "the connection is left");
    }
    test_resp r;
    GO_CHECK(test_roundtrip(&ts, "GET /small HTTP/1.1\r\nHost: x\r\n\r\n", &r) &&
                 test_body_is(&r, "small"),
             "not serving after the resets");
    test_resp_free(&r);
    test_server_stop(&ts);
    return 0;
}

Test(server_faults, client_reset_mid_stream_fails_the_write_only, .timeout = 30)
{
    cr_assert_eq(run_main(main_reset_mid_stream, NULL), 0);
}

/* Shutdown whose ctx ends while a handler blocks: the ctx's error, serve
 * has returned, and close then ends the handler. */
static int main_shutdown_timeout(void *arg)
{
    (void)arg;
    size_t base = goc_numgoroutine();
    atomic_store(&blocked_in, 0);
    atomic_store(&blocked_err, 0);
    test_server ts;
    GO_CHECK(test_server_start(&ts, (goc_http_handler){h_block, NULL}, NULL), "start");
    int fd = test_dial(&ts);
    test_send(fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    int64_t end = goc_now() + 5 * GOC_SECOND * test_slack();
    while (atomic_load(&blocked_in) == 0 && goc_now() < end)
        goc_sleep(MS);
    goc_ctx *ctx = goc_ctx_with_timeout(goc_ctx_background(), 200 * MS);
    int64_t t0 = goc_now();
    int rc = goc_http_server_shutdown(ts.srv, ctx);
    goc_ctx_release(ctx);
    GO_CHECK(rc == -ETIMEDOUT, "shutdown: %d", rc);
    GO_CHECK(since_ms(t0) >= 150 && since_ms(t0) < late_ms(1000), "after %lld ms",
             (long long)since_ms(t0));
    int serve_rc = 0;
    goc_chan_recv(ts.done, &serve_rc);
    GO_CHECK(serve_rc == GOC_EHTTP_SERVER_CLOSED, "serve: %d", serve_rc);
    GO_CHECK(atomic_load(&blocked_err) == 0, "the handler was ended by shutdown");
    GO_CHECK(goc_http_server_close(ts.srv) == 0, "close");
    GO_CHECK(atomic_load(&blocked_err) == -ECANCELED, "ctx err %d", atomic_load(&blocked_err));
    GO_CHECK(test_wait_closed(fd), "not closed");
    goc_close(fd);
    goc_chan_release(ts.done);
    goc_http_server_free(ts.srv);
    GO_CHECK(goroutines_back_to(base), "%zu goroutines, %zu before", goc_numgoroutine(), base);
    return 0;
}

Test(server_faults, shutdown_past_its_ctx_then_close, .timeout = 30)
{
    cr_assert_eq(run_main(main_shutdown_timeout, NULL), 0);
}

/* ---- graceful shutdown under load ------------------------------------------------------------ */

static void h_work(goc_http_response_writer *w, goc_http_request *r, void *arg)
{
    (void)r, (void)arg;
    goc_sleep(2 * MS);
    char body[3000];
    for (size_t i = 0; i < sizeof body; i++)
        body[i] = (char)('a' + i % 26);
    goc_http_write(w, body, 1500);
    goc_http_flush(w); /* chunked: a truncation would show */
    goc_http_write(w, body + 1500, 1500);
}

typedef struct load {
    test_server *ts;
    goc_waitgroup wg;
    atomic_long ok, closed_clean, truncated, conns;
    atomic_bool stop;
} load;

static void load_client(void *p)
{
    load *l = p;
    test_conn *c = calloc(1, sizeof *c);
    while (!atomic_load(&l->stop)) {
        c->fd = goc_dial("tcp", l->ts->addr, 2 * GOC_SECOND);
        if (c->fd < 0)
            break; /* the listener is gone */
        goc_set_deadline(c->fd, goc_now() + 10 * GOC_SECOND * test_slack());
        c->len = 0;
        atomic_fetch_add(&l->conns, 1);
        for (;;) {
            if (!test_send(c->fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")) {
                atomic_fetch_add(&l->closed_clean, 1);
                break;
            }
            test_resp r;
            bool ok = test_read_resp(c, &r, false);
            bool whole = ok && r.status == 200 && r.body_len == 3000;
            if (whole)
                atomic_fetch_add(&l->ok, 1);
            else if (ok || r.status != 0 || c->len != 0)
                atomic_fetch_add(&l->truncated, 1); /* some of a response, not all */
            else
                atomic_fetch_add(&l->closed_clean, 1);
            test_resp_free(&r);
            if (!whole || !r.keep_alive)
                break;
        }
        goc_close(c->fd);
    }
    free(c);
    goc_waitgroup_done(&l->wg);
}

static int main_shutdown_load(void *arg)
{
    (void)arg;
    test_server ts;
    GO_CHECK(test_server_start(&ts, (goc_http_handler){h_work, NULL}, NULL), "start");
    static load l;
    memset(&l, 0, sizeof l);
    l.ts = &ts;
    int n = 16;
    goc_waitgroup_add(&l.wg, n);
    for (int i = 0; i < n; i++)
        GO_SPAWN(load_client, &l);
    int64_t end = goc_now() + 5 * GOC_SECOND * test_slack();
    while (atomic_load(&l.ok) < 200 && goc_now() < end)
        goc_sleep(MS);
    goc_ctx *ctx = goc_ctx_with_timeout(goc_ctx_background(), 10 * GOC_SECOND);
    int rc = goc_http_server_shutdown(ts.srv, ctx);
    goc_ctx_release(ctx);
    atomic_store(&l.stop, true);
    GO_CHECK(rc == 0, "shutdown: %s", goc_strerror(rc));
    int serve_rc = 0;
    goc_chan_recv(ts.done, &serve_rc);
    GO_CHECK(serve_rc == GOC_EHTTP_SERVER_CLOSED, "serve: %d", serve_rc);
    goc_waitgroup_wait(&l.wg);
    GO_CHECK(atomic_load(&l.truncated) == 0, "%ld truncated responses (%ld whole)",
             atomic_load(&l.truncated), atomic_load(&l.ok));
    GO_CHECK(atomic_load(&l.ok) >= 200, "%ld whole responses", atomic_load(&l.ok));
    GO_CHECK(conns_open() == 0, "connections left after shutdown");
    goc_chan_release(ts.done);
    goc_http_server_free(ts.srv);
    return 0;
}

Test(server_faults, shutdown_under_load_never_truncates, .timeout = 60)
{
    cr_assert_eq(run_main(main_shutdown_load, NULL), 0);
}

/* ---- many connections -------------------------------------------------------------------- */

static int main_many(void *arg)
{
    (void)arg;
    int n = (int)test_scale(1000);
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if ((long)rl.rlim_cur < 2L * n + 200)
        n = ((int)rl.rlim_cur - 200) / 2;
    size_t base = goc_numgoroutine();
    test_server ts;
    GO_CHECK(test_server_start(&ts, (goc_http_handler){h_work, NULL}, NULL), "start");
    int *fds = calloc((size_t)n, sizeof *fds);
    test_conn *c = calloc(1, sizeof *c);
    int idle = 0;
    for (int i = 0; i < n; i++) { /* each answered once, then idle */
        c->fd = fds[i] = test_dial(&ts);
        c->len = 0;
        test_resp r;
        if (fds[i] >= 0 && test_send(c->fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n") &&
            test_read_resp(c, &r, false) && r.status == 200 && r.keep_alive)
            idle++;
        test_resp_free(&r);
    }
    GO_CHECK(idle == n, "%d of %d idle", idle, n);
    goc_http_stats st;
    goc_http_stats_read(&st);
    GO_CHECK(st.conns_open == (uint64_t)n, "%llu open", (unsigned long long)st.conns_open);
    /* Active ones beside them. */
    static load l;
    memset(&l, 0, sizeof l);
    l.ts = &ts;
    goc_waitgroup_add(&l.wg, 8);
    for (int i = 0; i < 8; i++)
        GO_SPAWN(load_client, &l);
    int64_t end = goc_now() + 5 * GOC_SECOND * test_slack();
    while (atomic_load(&l.ok) < 100 && goc_now() < end)
        goc_sleep(MS);
    GO_CHECK(atomic_load(&l.ok) >= 100, "%ld answered beside the idle ones", atomic_load(&l.ok));
    int64_t t0 = goc_now();
    test_server_stop(&ts); /* close: every connection ends */
    GO_CHECK(since_ms(t0) < late_ms(3000), "close took %lld ms", (long long)since_ms(t0));
    atomic_store(&l.stop, true);
    goc_waitgroup_wait(&l.wg);
    GO_CHECK(conns_open() == 0, "%llu connections left", (unsigned long long)conns_open());
    int closed = 0;
    for (int i = 0; i < n; i++) {
        if (fds[i] < 0)
            continue;
        char b;
        ssize_t k = goc_read(fds[i], &b, 1);
        closed += k == 0 || k == -ECONNRESET;
        goc_close(fds[i]);
    }
    GO_CHECK(closed == n, "%d of %d idle clients saw the close", closed, n);
    /* (Close cuts active answers short, as Go's does: no truncation check.) */
    free(fds);
    free(c);
    GO_CHECK(goroutines_back_to(base), "%zu goroutines, %zu before", goc_numgoroutine(), base);
    return 0;
}

Test(server_faults, thousand_idle_connections_end_at_close, .timeout = 120)
{
    cr_assert_eq(run_main(main_many, NULL), 0);
}

/* ---- a plain-thread client ------------------------------------------------------------------ */

typedef struct thread_client {
    int port, n, ok;
    char err[256];
    goc_chan *done;
} thread_client;

/* Blocking sockets, no goc calls but the channel close at the end. */
static void *thread_client_fn(void *p)
{
    thread_client *t = p;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)t->port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        snprintf(t->err, sizeof t->err, "connect: %s", strerror(errno));
        goto out_close;
    }
    static _Thread_local char buf[1 << 16];
    size_t len = 0;
    for (int i = 0; i < t->n; i++) {
        static const char req[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
        if (write(fd, req, sizeof req - 1) != (ssize_t)sizeof req - 1) {
            snprintf(t->err, sizeof t->err, "write %d: %s", i, strerror(errno));
            break;
        }
        for (;;) { /* until a whole response: head and Content-Length body */
            goc__hfield f[32];
            goc__hresp h = {.fields = f, .fields_cap = 32};
            size_t scanned = 0;
            int rc = goc__http_parse_response(buf, len, &scanned, &h, 0, NULL);
            if (rc < 0) {
                snprintf(t->err, sizeof t->err, "response %d: malformed", i);
                goto out_close;
            }
            if (rc > 0 && h.body == GOC__HBODY_LENGTH &&
                len >= (size_t)rc + (size_t)h.content_length) {
                size_t used = (size_t)rc + (size_t)h.content_length;
                t->ok += h.code == 200 && h.content_length == 13 &&
                         memcmp(buf + rc, "Hello, World!", 13) == 0;
                memmove(buf, buf + used, len - used);
                len -= used;
                break;
            }
            ssize_t k = read(fd, buf + len, sizeof buf - len);
            if (k <= 0) {
                snprintf(t->err, sizeof t->err, "read %d: %zd %s", i, k, strerror(errno));
                goto out_close;
            }
            len += (size_t)k;
        }
    }
out_close:
    close(fd);
    goc_chan_close(t->done); /* a channel op from a plain thread */
    return NULL;
}

static void goroutine_client(void *p)
{
    load *l = p;
    test_conn *c = calloc(1, sizeof *c);
    c->fd = test_dial(l->ts);
    for (int i = 0; i < 50 && c->fd >= 0; i++) {
        test_send(c->fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        test_resp r;
        if (test_read_resp(c, &r, false) && r.status == 200 && test_body_is(&r, "Hello, World!"))
            atomic_fetch_add(&l->ok, 1);
        test_resp_free(&r);
    }
    if (c->fd >= 0)
        goc_close(c->fd);
    free(c);
    goc_waitgroup_done(&l->wg);
}

static int main_threads(void *arg)
{
    (void)arg;
    test_server ts;
    GO_CHECK(test_server_start(&ts, (goc_http_handler){h_hello, NULL}, NULL), "start");
    thread_client tc[2];
    pthread_t th[2];
    for (int i = 0; i < 2; i++) {
        tc[i] = (thread_client){.port = ts.port, .n = 200, .done = goc_chan_make(0, 0)};
        th[i] = start_thread(thread_client_fn, &tc[i]);
    }
    static load l;
    memset(&l, 0, sizeof l);
    l.ts = &ts;
    goc_waitgroup_add(&l.wg, 8);
    for (int i = 0; i < 8; i++)
        GO_SPAWN(goroutine_client, &l);
    goc_waitgroup_wait(&l.wg);
    for (int i = 0; i < 2; i++) {
        goc_chan_recv(tc[i].done, NULL); /* parks this goroutine, not its worker */
        pthread_join(th[i], NULL);
        goc_chan_release(tc[i].done);
        GO_CHECK(tc[i].ok == tc[i].n, "thread %d: %d of %d (%s)", i, tc[i].ok, tc[i].n, tc[i].err);
    }
    GO_CHECK(atomic_load(&l.ok) == 8 * 50, "goroutines: %ld of %d", atomic_load(&l.ok), 8 * 50);
    test_server_stop(&ts);
    return 0;
}

Test(server_faults, plain_thread_client_beside_goroutines, .timeout = 60)
{
    cr_assert_eq(run_main(main_threads, NULL), 0);
}
