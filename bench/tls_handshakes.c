/*
 * tls_handshakes — a load generator for the HTTPS handshake workload of
 * bench/http.sh: THREADS threads each loop for SECONDS seconds over a new
 * TCP connection to HOST:PORT, a full TLS handshake (OpenSSL, no session
 * resumption), one "GET /plaintext" with Connection: close, the response
 * read until the server closes, and close. It prints the handshakes
 * completed and their rate; the script divides the server's CPU time by
 * the count.
 *
 *   bench_tls_handshakes HOST:PORT [SECONDS [THREADS]]   (5, 8)
 *
 * Why not wrk -H 'Connection: close': wrk keeps the last session of each
 * connection and resumes it on the next (an abbreviated handshake: no
 * key exchange and no signature on the server), so it measures resumption,
 * not new clients. Here no session is ever offered again: the context's
 * client cache is off, no ticket is asked for (TLS 1.2) and no
 * SSL_set_session is made; a handshake that the server nonetheless marks
 * resumed stops the program. Certificates are not verified (the server's
 * is made at run time, self-signed), but the handshake's signature is
 * checked as always.
 *
 * It is not a goc program (plain OpenSSL, blocking sockets, pthreads), so
 * that the client is the same for all three servers; it shares the build
 * with the benchmarks only for the bench_ name and the link with OpenSSL.
 * Any failure (connect, handshake, a response that is not 200 "Hello,
 * World!") stops it with exit status 1. Rows: tls-handshakes (ops/s),
 * tls-handshakes-count (the count, unit "n") and tls-handshakes-cpu (this
 * process's CPU time over the wall time, in % of one CPU: near 100 on one
 * CPU, the client is what limits the rate, not the server).
 */
#include <goc.h> /* only for bench.h's helpers */

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#define DEFAULT_SECONDS 5
#define DEFAULT_THREADS 8

static const char request[] = "GET /plaintext HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                              "User-Agent: bench_tls_handshakes\r\nConnection: close\r\n\r\n";

static struct sockaddr_in server;
static SSL_CTX *ctx;
static atomic_long done; /* handshakes with a full answer */
static atomic_bool stop; /* set by main when the time is up */
static char version[64]; /* of the first connection, for the note */

static void ssl_die(const char *what)
{
    char buf[256];
    unsigned long e = ERR_get_error();
    ERR_error_string_n(e, buf, sizeof buf);
    bench_die("%s: %s", what, e ? buf : strerror(errno));
}

/* One connection: connect, handshake, request, read to EOF, close. */
static void one(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        bench_die("socket: %s", strerror(errno));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&server, sizeof server) < 0)
        bench_die("connect: %s", strerror(errno));
    SSL *ssl = SSL_new(ctx);
    if (ssl == NULL || SSL_set_fd(ssl, fd) != 1)
        ssl_die("SSL_new");
    if (SSL_connect(ssl) != 1)
        ssl_die("SSL_connect");
    if (SSL_session_reused(ssl))
        bench_die("the server resumed a session nobody offered");
    if (version[0] == '\0')
        snprintf(version, sizeof version, "%s %s", SSL_get_version(ssl),
                 SSL_get_cipher_name(ssl)); /* a benign race: the same text from all */
    if (SSL_write(ssl, request, sizeof request - 1) != (int)sizeof request - 1)
        ssl_die("SSL_write");
    char buf[2048];
    size_t len = 0;
    for (;;) {
        int n = SSL_read(ssl, buf + len, (int)(sizeof buf - 1 - len));
        if (n <= 0) {
            int e = SSL_get_error(ssl, n);
            if (e == SSL_ERROR_ZERO_RETURN || e == SSL_ERROR_SYSCALL)
                break; /* close_notify, or a bare FIN (SSL_OP_IGNORE_UNEXPECTED_EOF) */
            ssl_die("SSL_read");
        }
        len += (size_t)n;
        if (len == sizeof buf - 1)
            bench_die("response larger than %zu bytes", sizeof buf - 1);
    }
    buf[len] = '\0';
    if (strncmp(buf, "HTTP/1.1 200 ", 13) != 0 || strstr(buf, "\r\n\r\nHello, World!") == NULL)
        bench_die("unexpected response: %.200s", buf);
    SSL_free(ssl);
    close(fd);
}

static void *worker(void *arg)
{
    (void)arg;
    /* relaxed: a flag and a count; main joins the threads before it reads */
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        one();
        atomic_fetch_add_explicit(&done, 1, memory_order_relaxed);
    }
    return NULL;
}

static long arg_long(int argc, char **argv, int i, long dflt)
{
    if (i >= argc)
        return dflt;
    char *end;
    long v = strtol(argv[i], &end, 10);
    if (*end != '\0' || v < 1 || v > 1024)
        bench_die("usage: bench_tls_handshakes HOST:PORT [SECONDS [THREADS]]");
    return v;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 4)
        bench_die("usage: bench_tls_handshakes HOST:PORT [SECONDS [THREADS]]");
    long seconds = arg_long(argc, argv, 2, DEFAULT_SECONDS);
    long threads = arg_long(argc, argv, 3, DEFAULT_THREADS);
    char host[64];
    const char *colon = strrchr(argv[1], ':');
    if (colon == NULL || (size_t)(colon - argv[1]) >= sizeof host)
        bench_die("HOST:PORT expected, not '%s'", argv[1]);
    memcpy(host, argv[1], (size_t)(colon - argv[1]));
    host[colon - argv[1]] = '\0';
    server.sin_family = AF_INET;
    server.sin_port = htons((uint16_t)atoi(colon + 1));
    if (inet_pton(AF_INET, host, &server.sin_addr) != 1)
        bench_die("'%s' is not an IPv4 address", host);

    if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL)
        ssl_die("SSL_CTX_new");
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_IGNORE_UNEXPECTED_EOF);

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    double cpu0 = bench_cpu_ms();
    pthread_t tids[1024];
    for (long i = 0; i < threads; i++)
        if (pthread_create(&tids[i], NULL, worker, NULL) != 0)
            bench_die("pthread_create failed");
    sleep((unsigned)seconds);
    atomic_store_explicit(&stop, true, memory_order_relaxed);
    for (long i = 0; i < threads; i++)
        pthread_join(tids[i], NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double cpu = bench_cpu_ms() - cpu0;

    long n = atomic_load_explicit(&done, memory_order_relaxed);
    double wall = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    if (n == 0)
        bench_die("no handshake completed in %ld s", seconds);
    bench_note("tls-handshakes: %ld in %.3f s from %ld threads, %s; %.1f ms of CPU", n, wall,
               threads, version, cpu);
    bench_result("tls-handshakes", "ops/s", (double)n / wall);
    bench_result("tls-handshakes-count", "n", (double)n);
    bench_result("tls-handshakes-cpu", "%", cpu / 10.0 / wall);
    SSL_CTX_free(ctx);
    return 0;
}
