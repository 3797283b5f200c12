/*
 * dns.c — host names to addresses with c-ares, driven by the netpoller.
 *
 * Each lookup gets its own c-ares channel (which reads /etc/resolv.conf
 * and consults /etc/hosts first, as the system resolver does) and runs in
 * the calling goroutine: c-ares opens its sockets through our socket
 * functions (nonblocking, registered with the poller, closed with
 * goc_close), and the loop below waits on them with goc_wait_fd until
 * the answer comes or c-ares times out. Only that goroutine waits.
 *
 * A lookup may have more than one socket (several nameservers, UDP then
 * TCP): it waits on the first and, after every wake-up, lets c-ares read
 * each of them (reads on the others just find nothing), waking at least
 * every MULTI_POLL to notice answers on the others.
 */
#include <ares.h>
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "net/addr.h"
#include "net/poll.h"

#define MULTI_POLL (20 * GOC_MILLISECOND)

static pthread_once_t lib_once = PTHREAD_ONCE_INIT;
static int lib_status;

static void lib_init(void)
{
    lib_status = ares_library_init(ARES_LIB_INIT_ALL);
}

/* ---- c-ares' sockets, on the poller ---------------------------------------- */

static ares_socket_t a_socket(int domain, int type, int protocol, void *u)
{
    (void)u;
    int fd = socket(domain, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
    if (fd < 0)
        return ARES_SOCKET_BAD;
    int err = goc__pd_open(fd);
    if (err) {
        close(fd);
        errno = -err;
        return ARES_SOCKET_BAD;
    }
    return fd;
}

static int a_close(ares_socket_t fd, void *u)
{
    (void)u;
    return goc_close(fd) == 0 ? 0 : -1;
}

static int a_connect(ares_socket_t fd, const struct sockaddr *sa, ares_socklen_t len, void *u)
{
    (void)u;
    return connect(fd, sa, len);
}

static ares_ssize_t a_recvfrom(ares_socket_t fd, void *buf, size_t n, int flags,
                               struct sockaddr *from, ares_socklen_t *fromlen, void *u)
{
    (void)u;
    return recvfrom(fd, buf, n, flags, from, fromlen);
}

static ares_ssize_t a_sendv(ares_socket_t fd, const struct iovec *iov, int iovcnt, void *u)
{
    (void)u;
    struct msghdr mh = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)iovcnt};
    return sendmsg(fd, &mh, MSG_NOSIGNAL);
}

static const struct ares_socket_functions sockfns = {a_socket, a_close, a_connect, a_recvfrom,
                                                     a_sendv};

/* ---- one lookup ---------------------------------------------------------------- */

struct lookup {
    bool done;
    int status;
    struct ares_addrinfo *res;
};

static void on_answer(void *arg, int status, int timeouts, struct ares_addrinfo *res)
{
    (void)timeouts;
    struct lookup *q = arg;
    q->done = true;
    q->status = status;
    q->res = res;
}

/* ares_getsock's bit for socket i: readable, or writable (c-ares' own
 * macros shift a signed int into its sign bit for i = 15). */
static bool sock_readable(unsigned bits, int i)
{
    return bits & (1u << i);
}

static bool sock_writable(unsigned bits, int i)
{
    return bits & (1u << (i + ARES_GETSOCK_MAXNUM));
}

/* Wait for c-ares' sockets or its next timeout (but not past deadline),
 * then let it process. */
static void step(ares_channel ch, int64_t deadline)
{
    ares_socket_t socks[ARES_GETSOCK_MAXNUM];
    unsigned bits = (unsigned)ares_getsock(ch, socks, ARES_GETSOCK_MAXNUM);
    int nsocks = 0, first = -1;
    for (int i = 0; i < ARES_GETSOCK_MAXNUM; i++) {
        if (sock_readable(bits, i) || sock_writable(bits, i)) {
            nsocks = i + 1;
            if (first < 0)
                first = i;
        }
    }
    struct timeval tv, *tvp = ares_timeout(ch, NULL, &tv);
    goc_duration wait = tvp ? tv.tv_sec * GOC_SECOND + tv.tv_usec * GOC_MICROSECOND : GOC_FOREVER;
    if (nsocks > 1 && (wait < 0 || wait > MULTI_POLL))
        wait = MULTI_POLL;
    if (deadline) {
        goc_duration left = deadline - goc_now();
        if (left < 0)
            left = 0;
        if (wait < 0 || wait > left)
            wait = left;
    }
    if (first >= 0) {
        int ev = (sock_readable(bits, first) ? GOC_READ : 0) |
                 (sock_writable(bits, first) ? GOC_WRITE : 0);
        if (wait != 0)
            goc_wait_fd(socks[first], ev, wait == GOC_FOREVER ? GOC_FOREVER : wait);
    } else if (wait > 0) {
        goc_sleep(wait);
    }
    for (int i = 0; i < nsocks; i++) {
        ares_socket_t r = sock_readable(bits, i) ? socks[i] : ARES_SOCKET_BAD;
        ares_socket_t w = sock_writable(bits, i) ? socks[i] : ARES_SOCKET_BAD;
        if (r != ARES_SOCKET_BAD || w != ARES_SOCKET_BAD)
            ares_process_fd(ch, r, w);
    }
    ares_process_fd(ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD); /* timeouts */
}

static int map_status(int status)
{
    switch (status) {
    case ARES_SUCCESS:
        return 0;
    case ARES_ENOMEM:
        return -ENOMEM;
    case ARES_ENOTFOUND:
    case ARES_ENODATA:
    case ARES_ENONAME:
    case ARES_EBADNAME:
    case ARES_EFORMERR:
        return GOC_ENOTFOUND;
    default: /* ETIMEOUT, ECONNREFUSED, ESERVFAIL, EREFUSED, ... */
        return GOC_ETEMPFAIL;
    }
}

int goc__dns_lookup(const char *host, int family, uint16_t port, int64_t deadline, goc__addrs *out)
{
    pthread_once(&lib_once, lib_init);
    if (lib_status != ARES_SUCCESS)
        return map_status(lib_status);
    ares_channel ch;
    struct ares_options opts = {0};
    int st = ares_init_options(&ch, &opts, 0);
    if (st != ARES_SUCCESS)
        return map_status(st);
    ares_set_socket_functions(ch, &sockfns, NULL);
    struct ares_addrinfo_hints hints = {.ai_family = family, .ai_socktype = SOCK_STREAM};
    struct lookup q = {0};
    ares_getaddrinfo(ch, host, NULL, &hints, on_answer, &q);
    while (!q.done) {
        if (deadline && goc_now() >= deadline) {
            ares_cancel(ch); /* calls on_answer with ARES_ECANCELLED */
            break;
        }
        step(ch, deadline);
    }
    int rc = q.status == ARES_ECANCELLED || !q.done ? -ETIMEDOUT : map_status(q.status);
    for (struct ares_addrinfo_node *n = q.res ? q.res->nodes : NULL; n && rc == 0; n = n->ai_next) {
        if (out->n >= GOC__MAX_ADDRS)
            break;
        if (n->ai_family != AF_INET && n->ai_family != AF_INET6)
            continue;
        memcpy(&out->a[out->n], n->ai_addr, n->ai_addrlen);
        if (n->ai_family == AF_INET)
            ((struct sockaddr_in *)&out->a[out->n])->sin_port = htons(port);
        else
            ((struct sockaddr_in6 *)&out->a[out->n])->sin6_port = htons(port);
        out->len[out->n++] = n->ai_addrlen;
    }
    if (q.res)
        ares_freeaddrinfo(q.res);
    ares_destroy(ch);
    if (rc == 0 && out->n == 0)
        rc = GOC_ENOTFOUND;
    return rc;
}
