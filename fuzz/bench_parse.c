/*
 * bench_parse.c — the HTTP parser's micro-benchmark: ns per message for a
 * browser-like GET (6 fields), a response head and a chunked body, best of
 * 5 rounds. On a shared machine instruction counts are steadier than
 * time; with "once", each benchmark runs exactly N times, untimed, so
 * callgrind gives them per message:
 *
 *   valgrind --tool=callgrind --toggle-collect=bench_request \
 *       build-fuzz/bench_parse 10000 once     # Ir / 10000 per request
 *
 * Usage: bench_parse [N [once]] (N: iterations per round, default 2,000,000).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http/parse.h"

static const char request[] =
    "GET /index.html?q=goc HTTP/1.1\r\n"
    "Host: www.example.com\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n"
    "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
    "Accept-Language: en-US,en;q=0.5\r\n"
    "Accept-Encoding: gzip, deflate, br\r\n"
    "Connection: keep-alive\r\n"
    "\r\n";

static const char response[] = "HTTP/1.1 200 OK\r\n"
                               "Server: goc\r\n"
                               "Date: Wed, 02 Dec 2026 08:00:00 GMT\r\n"
                               "Content-Type: text/plain; charset=utf-8\r\n"
                               "Content-Length: 13\r\n"
                               "\r\n";

static const char chunked[] = "d\r\nHello, World!\r\n"
                              "1a;name=value\r\nabcdefghijklmnopqrstuvwxyz\r\n"
                              "400\r\n"; /* + 1024 bytes, then "\r\n0\r\n\r\n" */

static volatile long sink;

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

__attribute__((noinline)) void bench_request(long n);
__attribute__((noinline)) void bench_request(long n)
{
    goc__hfield f[32];
    goc__hreq r = {.fields = f, .fields_cap = 32};
    for (long i = 0; i < n; i++) {
        size_t scanned = 0;
        sink += goc__http_parse_request(request, sizeof request - 1, &scanned, &r, NULL);
    }
}

__attribute__((noinline)) void bench_response(long n);
__attribute__((noinline)) void bench_response(long n)
{
    goc__hfield f[32];
    goc__hresp r = {.fields = f, .fields_cap = 32};
    for (long i = 0; i < n; i++) {
        size_t scanned = 0;
        sink += goc__http_parse_response(response, sizeof response - 1, &scanned, &r, 0, NULL);
    }
}

static char body[4096];
static size_t body_len;

__attribute__((noinline)) void bench_chunked(long n);
__attribute__((noinline)) void bench_chunked(long n)
{
    for (long i = 0; i < n; i++) {
        goc__hchunked c = {0};
        size_t off = 0, used;
        goc__hspan d;
        int rc;
        while ((rc = goc__http_chunked(&c, body + off, body_len - off, &used, &d, NULL)) ==
               GOC__HCHUNK_DATA)
            off += used;
        sink += rc + (long)c.total;
    }
}

static bool once;

static void measure(const char *name, void (*fn)(long), long n, size_t bytes)
{
    if (once) {
        fn(n);
        return;
    }
    double best = 1e30;
    fn(n / 10); /* warm up */
    for (int round = 0; round < 5; round++) {
        double t0 = now_ns();
        fn(n);
        double dt = (now_ns() - t0) / (double)n;
        if (dt < best)
            best = dt;
    }
    printf("%-9s %4zu bytes  %7.1f ns/op  %6.0f MB/s\n", name, bytes, best, bytes / best * 1e3);
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 2000000;
    once = argc > 2 && strcmp(argv[2], "once") == 0;
    size_t k = strlen(chunked);
    memcpy(body, chunked, k);
    memset(body + k, 'x', 1024);
    memcpy(body + k + 1024, "\r\n0\r\n\r\n", 7);
    body_len = k + 1024 + 7;
    measure("request", bench_request, n, sizeof request - 1);
    measure("response", bench_response, n, sizeof response - 1);
    measure("chunked", bench_chunked, n, body_len);
    return 0;
}
