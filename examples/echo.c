/*
 * echo.c — a TCP echo server and client: one goroutine per connection,
 * blocking-style reads and writes that park only the calling goroutine.
 *
 *   build/examples/echo                          self-test: a server on an ephemeral
 *                                                port and 100 concurrent clients
 *   build/examples/echo server :9000             serve until killed
 *   build/examples/echo client 127.0.0.1:9000 hello world
 */
#include <goc.h>

#include <errno.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLIENTS  100
#define MESSAGES 100

/* ---- the server ----------------------------------------------------------- */

/* One connection: echo every byte back until the client closes. */
static void serve_conn(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[4096];
    ssize_t n;
    while ((n = goc_read(fd, buf, sizeof buf)) > 0) /* parks until data comes */
        if (goc_write(fd, buf, (size_t)n) < 0)      /* writes all n bytes */
            break;
    goc_close(fd); /* n == 0: the client closed; n < 0: an error */
}

/* Accept connections until the listener is closed, a goroutine for each. */
static void serve(void *arg)
{
    int lfd = (int)(intptr_t)arg;
    for (;;) {
        int fd = goc_accept(lfd, NULL, NULL); /* parks until a client connects */
        if (fd < 0) {                         /* -EBADF: goc_close(lfd) ran, we are done */
            if (fd != -EBADF)
                fprintf(stderr, "echo: accept: %s\n", goc_strerror(fd));
            return;
        }
        if (goc_go(serve_conn, (void *)(intptr_t)fd) < 0)
            goc_close(fd);
    }
}

/* ---- the client ----------------------------------------------------------- */

/* Send msg on fd and read exactly as many bytes back into out. 0, or a
 * negative errno (-EPIPE if the server closed early). */
static int round_trip(int fd, const char *msg, size_t len, char *out)
{
    ssize_t r = goc_write(fd, msg, len);
    if (r < 0)
        return (int)r;
    for (size_t got = 0; got < len; got += (size_t)r) {
        r = goc_read(fd, out + got, len - got); /* the echo may come in pieces */
        if (r <= 0)
            return r == 0 ? -EPIPE : (int)r;
    }
    return 0;
}

/* ---- the self-test ---------------------------------------------------------- */

static char addr[64]; /* the server's 127.0.0.1:port */
static atomic_int failures;
static goc_waitgroup wg;

static void test_client(void *arg)
{
    int id = (int)(intptr_t)arg;
    int fd = goc_dial("tcp", addr, 5 * GOC_SECOND);
    if (fd < 0) {
        fprintf(stderr, "client %d: dial %s: %s\n", id, addr, goc_strerror(fd));
        atomic_fetch_add(&failures, 1);
        goc_waitgroup_done(&wg);
        return;
    }
    /* A deadline for the whole conversation: a lost echo fails the test
     * with -ETIMEDOUT instead of hanging it. */
    goc_set_deadline(fd, goc_now() + 10 * GOC_SECOND);
    for (int i = 0; i < MESSAGES; i++) {
        char msg[64], back[64];
        int len = snprintf(msg, sizeof msg, "client %d, message %d", id, i);
        int rc = round_trip(fd, msg, (size_t)len, back);
        if (rc < 0 || memcmp(msg, back, (size_t)len) != 0) {
            fprintf(stderr, "client %d: message %d: %s\n", id, i,
                    rc < 0 ? goc_strerror(rc) : "the echo differs");
            atomic_fetch_add(&failures, 1);
            break;
        }
    }
    goc_close(fd);
    goc_waitgroup_done(&wg);
}

static int self_test(void)
{
    int lfd = goc_listen("tcp", "127.0.0.1:0"); /* port 0: any free port */
    if (lfd < 0) {
        fprintf(stderr, "echo: listen: %s\n", goc_strerror(lfd));
        return 1;
    }
    struct sockaddr_in sin; /* which port did we get? */
    socklen_t len = sizeof sin;
    getsockname(lfd, (struct sockaddr *)&sin, &len);
    snprintf(addr, sizeof addr, "127.0.0.1:%d", ntohs(sin.sin_port));
    goc_go(serve, (void *)(intptr_t)lfd); /* errors (-ENOMEM) unchecked for brevity */

    int64_t start = goc_now();
    goc_waitgroup_add(&wg, CLIENTS);
    for (int i = 0; i < CLIENTS; i++)
        goc_go(test_client, (void *)(intptr_t)i);
    goc_waitgroup_wait(&wg);
    double ms = (double)(goc_now() - start) / 1e6;
    goc_close(lfd); /* wakes serve's goc_accept with -EBADF */

    int failed = atomic_load(&failures);
    printf("echo: %d clients x %d messages through %s in %.1f ms on %d Ps: %s\n", CLIENTS, MESSAGES,
           addr, ms, goc_maxprocs(), failed ? "FAILED" : "ok");
    return failed ? 1 : 0;
}

/* ---- main ------------------------------------------------------------------- */

struct args {
    int argc;
    char **argv;
};

static int main_fn(void *arg)
{
    struct args *a = arg;
    if (a->argc == 1)
        return self_test();

    if (a->argc == 3 && strcmp(a->argv[1], "server") == 0) {
        int lfd = goc_listen("tcp", a->argv[2]);
        if (lfd < 0) {
            fprintf(stderr, "echo: listen %s: %s\n", a->argv[2], goc_strerror(lfd));
            return 1;
        }
        printf("echo: serving on %s\n", a->argv[2]);
        fflush(stdout);
        serve((void *)(intptr_t)lfd); /* runs until the process is killed */
        return 0;
    }

    if (a->argc >= 4 && strcmp(a->argv[1], "client") == 0) {
        int fd = goc_dial("tcp", a->argv[2], 5 * GOC_SECOND);
        if (fd < 0) {
            fprintf(stderr, "echo: dial %s: %s\n", a->argv[2], goc_strerror(fd));
            return 1;
        }
        goc_set_deadline(fd, goc_now() + 5 * GOC_SECOND);
        for (int i = 3; i < a->argc; i++) { /* one round trip per word */
            size_t len = strlen(a->argv[i]);
            char *back = malloc(len + 1);
            int rc = back ? round_trip(fd, a->argv[i], len, back) : -ENOMEM;
            if (rc == 0)
                printf("%.*s\n", (int)len, back);
            free(back);
            if (rc < 0) {
                fprintf(stderr, "echo: %s\n", goc_strerror(rc));
                goc_close(fd);
                return 1;
            }
        }
        goc_close(fd);
        return 0;
    }

    fprintf(stderr,
            "usage: %s                          (self-test)\n"
            "       %s server [host]:port\n"
            "       %s client host:port word...\n",
            a->argv[0], a->argv[0], a->argv[0]);
    return 2;
}

int main(int argc, char **argv)
{
    struct args a = {argc, argv};
    return goc_run(main_fn, &a);
}
