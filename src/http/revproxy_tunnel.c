/*
 * revproxy_tunnel.c — the reverse proxy's Upgrade (WebSocket) tunnel.
 *
 * After the upstream's 101, neither connection carries HTTP any more:
 * the client's is hijacked from the server, the upstream's taken from the
 * client's pool, and two copies run, one on the handler's goroutine
 * (client → upstream) and one on a goroutine of its own (upstream →
 * client). A copy that meets EOF half-closes the other side (shutdown
 * SHUT_WR), so a side that finished talking can still be answered; an
 * error ends both (each fd's deadline is set in the past, which wakes the
 * other copy). The handler returns once both copies are done and both
 * fds are closed.
 */
#include "http/client.h"
#include "http/revproxy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

typedef struct pipe_half {
    int src, dst;
    goc_waitgroup *wg;
} pipe_half;

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = goc_write(fd, p, n);
        if (w < 0)
            return (int)w;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Copy src to dst until EOF (then half-close dst) or an error (then wake
 * both fds so the other copy ends too). */
static void copy(int src, int dst)
{
    char buf[16384];
    for (;;) {
        ssize_t n = goc_read(src, buf, sizeof buf);
        if (n == 0) {
            shutdown(dst, SHUT_WR);
            return;
        }
        if (n < 0 || write_all(dst, buf, (size_t)n) < 0) {
            goc_set_deadline(src, 1);
            goc_set_deadline(dst, 1);
            return;
        }
    }
}

static void copy_main(void *arg)
{
    pipe_half *h = arg;
    copy(h->src, h->dst);
    goc_waitgroup_done(h->wg);
}

/* The 101 head for the client: the upstream's fields minus hop-by-hop
 * ones, then Connection and Upgrade as the switch needs them. */
static int head_101(const goc_http_response *resp, const char *proto, char **out, size_t *len)
{
    size_t n = 128 + strlen(proto), nf = goc_http_header_len(resp->header);
    for (size_t i = 0; i < nf; i++) {
        const char *name, *value;
        goc_http_header_at(resp->header, i, &name, &value);
        n += strlen(name) + strlen(value) + 4;
    }
    char *b = malloc(n), *p = b;
    if (!b)
        return -ENOMEM;
    p += sprintf(p, "HTTP/1.1 101 Switching Protocols\r\n");
    for (size_t i = 0; i < nf; i++) {
        const char *name, *value;
        goc_http_header_at(resp->header, i, &name, &value);
        if (!goc__http_is_hop_field(resp->header, name))
            p += sprintf(p, "%s: %s\r\n", name, value);
    }
    p += sprintf(p, "Connection: Upgrade\r\nUpgrade: %s\r\n\r\n", proto);
    *out = b;
    *len = (size_t)(p - b);
    return 0;
}

void goc__revproxy_tunnel(const goc_http_reverse_proxy *p, goc_http_response_writer *w,
                          goc_http_request *in, goc_http_response *resp, const char *proto)
{
    const char *up = goc_http_header_get(resp->header, "Upgrade");
    if (!proto || !up || strcasecmp(up, proto) != 0) {
        goc__revproxy_fail(p, w, in,
                           goc__errorf(GOC_EHTTP_MALFORMED,
                                       "httputil: backend switched to protocol \"%s\" when \"%s\" "
                                       "was requested",
                                       up ? up : "", proto ? proto : ""));
        return;
    }
    int ufd = -1, cfd = -1;
    char *ubuf = NULL, *cbuf = NULL, *head = NULL;
    size_t un = 0, cn = 0, hn = 0;
    int rc = goc__http_response_take_conn(resp, &ufd, &ubuf, &un);
    if (rc == 0)
        rc = head_101(resp, up, &head, &hn);
    if (rc == 0 && (rc = goc_http_hijack(w, &cfd, &cbuf, &cn)) < 0)
        cfd = -1;
    if (rc < 0) {
        if (ufd >= 0)
            goc_close(ufd);
        free(ubuf);
        free(head);
        goc__revproxy_fail(p, w, in, rc);
        return;
    }
    /* What either side sent past its head goes first. */
    rc = write_all(cfd, head, hn);
    if (rc == 0 && un)
        rc = write_all(cfd, ubuf, un);
    if (rc == 0 && cn)
        rc = write_all(ufd, cbuf, cn);
    free(head);
    free(ubuf);
    free(cbuf);
    if (rc == 0) {
        goc_waitgroup wg = {0};
        pipe_half back = {ufd, cfd, &wg};
        goc_waitgroup_add(&wg, 1);
        if (goc_go(copy_main, &back) < 0) {
            goc_waitgroup_done(&wg);
        } else {
            copy(cfd, ufd);
        }
        goc_waitgroup_wait(&wg);
    }
    goc_close(ufd);
    goc_close(cfd);
}
