/*
 * fd.c — goc_read, goc_write, goc_accept, goc_wait_fd, deadlines and
 * goc_close: the system call, and on EAGAIN a wait on the fd's poll
 * descriptor, in a loop (Go's internal/poll.FD).
 */
#include "net/poll.h"
#include "net/neterr.h"
#include "net/sys.h"

#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

/* One operation in direction dir on fd: io(pd, ctx) is retried after
 * each readiness edge while it fails with EAGAIN. */
typedef ssize_t (*io_fn)(goc__pd *pd, void *ctx);

/* A failed system call's result: -errno, with EWOULDBLOCK as -EAGAIN. */
static inline ssize_t neg_errno(void)
{
    return errno == EWOULDBLOCK ? -EAGAIN : -errno;
}

static ssize_t do_io(int fd, int dir, io_fn io, void *ctx)
{
    int err;
    goc__pd *pd = goc__pd_acquire(fd, &err);
    if (!pd)
        return err;
    ssize_t r = goc__pd_lock(pd, dir);
    if (r == 0) {
        /* A passed deadline fails the call even if data is there. */
        r = goc__pd_check(pd, dir);
        if (r == 0 && dir == GOC__PD_R && pd->rshort &&
            !atomic_load_explicit(&pd->rhup, memory_order_relaxed)) {
            /* The last read drained the socket: unless an edge came since
             * (pd_wait returns at once then), this read would only say
             * EAGAIN. Wait first and save the system call: half the
             * reads of a request/response exchange. Not once the peer
             * has closed: an EOF that came with the data we read leaves
             * no edge to wait for. */
            pd->rshort = false;
            int w = goc__pd_wait(pd, 1u << dir, false);
            r = w < 0 ? w : 0;
        }
        while (r == 0) {
            r = io(pd, ctx);
            if (r == -EINTR) {
                r = 0;
                continue;
            }
            if (r != -EAGAIN)
                break;
            int w = goc__pd_wait(pd, 1u << dir, false);
            r = w < 0 ? w : 0;
        }
        goc__pd_unlock(pd, dir);
    }
    goc__pd_release(pd);
    return r;
}

/* ---- read ----------------------------------------------------------------- */

struct rw {
    void *buf;
    size_t n;
    const struct iovec *iov;
    int iovcnt;
};

/* Before a read: the read edges seen so far are for bytes this read
 * will get (they came before it), so forget them. Otherwise a read that
 * drains the socket leaves a stale edge behind, and the next wait (after
 * rshort, see do_io) returns at once into a read that says EAGAIN: a
 * system call per request/response exchange. An edge that comes during
 * or after the read is kept (the poller sets it after this): no wake-up
 * is lost. The reader holds rmu; the lock orders this with the poller. */
static inline void forget_read_edges(goc__pd *pd)
{
    goc__pd_clear_ready(pd, 1u << GOC__PD_R); /* under the lock: the poller writes it */
}

/* A read on a TCP socket with TCP_INQ on: the kernel says in a control
 * message how many bytes are left, so a read that filled the buffer and
 * left nothing also counts as draining the socket (see do_io). A 1 KiB
 * message read into a 1 KiB buffer then costs no EAGAIN read. After the
 * peer's FIN the kernel says 1, so EOF is still read at once. */
static ssize_t read_inq(goc__pd *pd, struct rw *a)
{
    struct iovec one = {a->buf, a->n};
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } cm;
    struct msghdr mh = {.msg_iov = a->iov ? (struct iovec *)a->iov : &one,
                        .msg_iovlen = a->iov ? (size_t)a->iovcnt : 1,
                        .msg_control = cm.buf,
                        .msg_controllen = sizeof cm.buf};
    forget_read_edges(pd);
    ssize_t r = goc__sys_recvmsg(pd->fd, &mh, 0);
    if (r < 0)
        return neg_errno();
    int left = -1;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
        if (c->cmsg_level == SOL_TCP && c->cmsg_type == TCP_CM_INQ)
            memcpy(&left, CMSG_DATA(c), sizeof left);
    pd->rshort = r > 0 && (left == 0 || (left < 0 && (size_t)r < a->n));
    return r;
}

static ssize_t io_read(goc__pd *pd, void *ctx)
{
    struct rw *a = ctx;
    if (pd->inq)
        return read_inq(pd, a);
    forget_read_edges(pd);
    ssize_t r =
        a->iov ? goc__sys_readv(pd->fd, a->iov, a->iovcnt) : goc__sys_read(pd->fd, a->buf, a->n);
    if (r < 0)
        return neg_errno();
    /* Less than asked (and not EOF): the socket or pipe is empty now; a
     * new edge will say when it is not (see do_io). */
    pd->rshort = r > 0 && (size_t)r < a->n && !pd->unpollable;
    return r;
}

GOC_API ssize_t goc_read(int fd, void *buf, size_t n)
{
    struct rw a = {.buf = buf, .n = n};
    return goc__fd_result(do_io(fd, GOC__PD_R, io_read, &a), "read", fd);
}

GOC_API ssize_t goc_readv(int fd, const struct iovec *iov, int iovcnt)
{
    if (iovcnt < 0 || (iovcnt > 0 && !iov))
        return goc__fd_result(-EINVAL, "read", fd);
    struct rw a = {.iov = iov, .iovcnt = iovcnt};
    for (int i = 0; i < iovcnt; i++)
        a.n += iov[i].iov_len;
    return goc__fd_result(do_io(fd, GOC__PD_R, io_read, &a), "read", fd);
}

/* ---- write: every byte ------------------------------------------------------ */

struct wv {
    struct iovec *iov; /* advanced as bytes go out */
    int iovcnt;
    size_t done;
};

static ssize_t write_some(goc__pd *pd, struct wv *a)
{
    for (;;) {
        ssize_t r;
        if (!pd->notsock) {
            if (a->iovcnt == 1) { /* send(2): no msghdr or iovec to copy in */
                r = goc__sys_sendto(pd->fd, a->iov->iov_base, a->iov->iov_len, MSG_NOSIGNAL, NULL,
                                    0);
            } else {
                struct msghdr mh = {.msg_iov = a->iov, .msg_iovlen = (size_t)a->iovcnt};
                r = goc__sys_sendmsg(pd->fd, &mh, MSG_NOSIGNAL);
            }
            if (r < 0 && errno == ENOTSOCK) {
                pd->notsock = true; /* a pipe or a file: write(2) from now on */
                continue;
            }
        } else {
            r = goc__sys_writev(pd->fd, a->iov, a->iovcnt);
        }
        if (r >= 0 || errno != EINTR)
            return r >= 0 ? r : neg_errno();
    }
}

static ssize_t io_write(goc__pd *pd, void *ctx)
{
    struct wv *a = ctx;
    while (a->iovcnt > 0) {
        ssize_t r = write_some(pd, a);
        if (r < 0)
            return r;
        a->done += (size_t)r;
        while (a->iovcnt > 0 && (size_t)r >= a->iov->iov_len) {
            r -= (ssize_t)a->iov->iov_len;
            a->iov++;
            a->iovcnt--;
        }
        if (a->iovcnt > 0) {
            a->iov->iov_base = (char *)a->iov->iov_base + r;
            a->iov->iov_len -= (size_t)r;
        }
    }
    return (ssize_t)a->done;
}

GOC_API ssize_t goc_write(int fd, const void *buf, size_t n)
{
    if (n > SSIZE_MAX)
        return goc__fd_result(-EINVAL, "write", fd);
    struct iovec one = {(void *)buf, n};
    struct wv a = {.iov = &one, .iovcnt = n ? 1 : 0};
    ssize_t r = do_io(fd, GOC__PD_W, io_write, &a);
    return goc__fd_result(r, "write", fd);
}

GOC_API ssize_t goc_writev(int fd, const struct iovec *iov, int iovcnt)
{
    if (iovcnt < 0 || iovcnt > IOV_MAX || (iovcnt > 0 && !iov))
        return goc__fd_result(-EINVAL, "write", fd);
    struct iovec local[iovcnt > 0 ? iovcnt : 1]; /* ours to advance */
    size_t total = 0;
    for (int i = 0; i < iovcnt; i++) {
        if (iov[i].iov_len > SSIZE_MAX - total)
            return goc__fd_result(-EINVAL, "write", fd);
        total += iov[i].iov_len;
        local[i] = iov[i];
    }
    struct wv a = {.iov = local, .iovcnt = iovcnt};
    return goc__fd_result(do_io(fd, GOC__PD_W, io_write, &a), "write", fd);
}

/* ---- datagrams and sendfile ---------------------------------------------------- */

struct dgram {
    void *buf;
    size_t n;
    struct sockaddr *addr;
    socklen_t *addrlen; /* recvfrom */
    socklen_t alen;     /* sendto */
};

static ssize_t io_recvfrom(goc__pd *pd, void *ctx)
{
    struct dgram *a = ctx;
    ssize_t r = goc__sys_recvfrom(pd->fd, a->buf, a->n, 0, a->addr, a->addrlen);
    return r >= 0 ? r : neg_errno();
}

static ssize_t io_sendto(goc__pd *pd, void *ctx)
{
    struct dgram *a = ctx;
    ssize_t r = goc__sys_sendto(pd->fd, a->buf, a->n, MSG_NOSIGNAL, a->addr, a->alen);
    return r >= 0 ? r : neg_errno();
}

GOC_API ssize_t goc_recvfrom(int fd, void *buf, size_t n, struct sockaddr *addr, socklen_t *addrlen)
{
    struct dgram a = {.buf = buf, .n = n, .addr = addr, .addrlen = addrlen};
    return goc__fd_result(do_io(fd, GOC__PD_R, io_recvfrom, &a), "recvfrom", fd);
}

GOC_API ssize_t goc_sendto(int fd, const void *buf, size_t n, const struct sockaddr *addr,
                           socklen_t addrlen)
{
    struct dgram a = {.buf = (void *)buf, .n = n, .addr = (struct sockaddr *)addr, .alen = addrlen};
    return goc__fd_result(do_io(fd, GOC__PD_W, io_sendto, &a), "sendto", fd);
}

struct sf {
    int in_fd;
    off_t *offset;
    size_t left, done;
};

static ssize_t io_sendfile(goc__pd *pd, void *ctx)
{
    struct sf *a = ctx;
    while (a->left > 0) {
        ssize_t r =
            sendfile(pd->fd, a->in_fd, a->offset, a->left > 0x7ffff000 ? 0x7ffff000 : a->left);
        if (r == 0)
            break; /* end of the input file */
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return neg_errno();
        }
        a->left -= (size_t)r;
        a->done += (size_t)r;
    }
    return (ssize_t)a->done;
}

GOC_API ssize_t goc_sendfile(int out_fd, int in_fd, off_t *offset, size_t count)
{
    struct sf a = {.in_fd = in_fd, .offset = offset, .left = count};
    return goc__fd_result(do_io(out_fd, GOC__PD_W, io_sendfile, &a), "sendfile", out_fd);
}

/* ---- accept ------------------------------------------------------------------ */

struct acc {
    struct sockaddr *addr;
    socklen_t *addrlen;
    bool inherit; /* the listener has TCP_NODELAY and TCP_INQ (goc_listen) */
};

static ssize_t io_accept(goc__pd *pd, void *ctx)
{
    struct acc *a = ctx;
    static _Atomic bool warned;
    goc_duration backoff = 5 * GOC_MILLISECOND;
    for (;;) {
        int fd = goc__sys_accept4(pd->fd, a->addr, a->addrlen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            a->inherit = pd->inq;
            return fd;
        }
        switch (errno) {
        case EINTR:
        case ECONNABORTED: /* the peer gave up while queued: next one */
            continue;
        case EMFILE:
        case ENFILE:
        case ENOBUFS:
        case ENOMEM:
            /* Out of fds or memory: keep the connection queued and
             * retry later, as Go's http.Server does, instead of failing
             * the listener. */
            if (!atomic_exchange(&warned, true))
                fprintf(stderr, "goc: accept: %s; retrying with backoff\n", strerror(errno));
            goc_sleep(backoff);
            if (backoff < GOC_SECOND)
                backoff *= 2;
            int e = goc__pd_check(pd, GOC__PD_R);
            if (e)
                return e;
            continue;
        case EWOULDBLOCK:
            return -EAGAIN;
        default:
            return -errno;
        }
    }
}

GOC_API int goc_accept(int lfd, struct sockaddr *addr, socklen_t *addrlen)
{
    struct acc a = {addr, addrlen, false};
    ssize_t fd = do_io(lfd, GOC__PD_R, io_accept, &a);
    if (fd < 0)
        return (int)goc__fd_failed(fd, "accept", lfd);
    int err = goc__pd_open((int)fd);
    if (err) {
        close((int)fd);
        return (int)goc__fd_failed(err, "accept", lfd);
    }
    /* A connection inherits its listener's TCP options: two system
     * calls saved per accept when goc_listen made the listener. */
    if (a.inherit)
        goc__pd_lookup((int)fd)->inq = true;
    else
        goc__tcp_conn_opts((int)fd);
    return (int)fd;
}

void goc__tcp_conn_opts(int fd)
{
    /* TCP_NODELAY, as Go sets on every TCP connection; TCP_INQ for
     * read_inq. Both fail harmlessly on a unix socket. */
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    goc__pd *pd = goc__pd_lookup(fd);
    if (pd && setsockopt(fd, IPPROTO_TCP, TCP_INQ, &one, sizeof one) == 0)
        pd->inq = true;
}

/* ---- waiting, deadlines, close ---------------------------------------------------- */

/* The level now (0 if none of events), for goc_wait_fd. */
static int level(int fd, int events)
{
    struct pollfd pfd = {
        .fd = fd,
        .events = (short)((events & GOC_READ ? POLLIN : 0) | (events & GOC_WRITE ? POLLOUT : 0))};
    if (poll(&pfd, 1, 0) <= 0)
        return 0;
    int rc = (pfd.revents & (POLLIN | POLLHUP | POLLERR) ? GOC_READ : 0) |
             (pfd.revents & (POLLOUT | POLLHUP | POLLERR) ? GOC_WRITE : 0);
    return rc & events;
}

static int wait_dirs(goc__pd *pd, int events, unsigned dirs, goc_duration timeout)
{
    /* Level first: readiness that came before us left no edge to see;
     * old edges (a read since consumed the data) must not count, so they
     * are dropped before looking. */
    goc__pd_clear_ready(pd, dirs);
    int rc = level(pd->fd, events);
    if (rc != 0)
        return rc;
    if (timeout == 0)
        return -ETIMEDOUT;
    int w = timeout > 0 ? goc__pd_set_deadline(pd, GOC__PD_WAITFD, goc_now() + timeout) : 0;
    if (w == 0)
        w = goc__pd_wait(pd, dirs, true);
    if (timeout > 0)
        goc__pd_set_deadline(pd, GOC__PD_WAITFD, 0);
    if (w < 0)
        return w;
    return (w & (1 << GOC__PD_R) ? GOC_READ : 0) | (w & (1 << GOC__PD_W) ? GOC_WRITE : 0);
}

bool goc__fd_quiet(int fd)
{
    goc__pd *pd = goc__pd_lookup(fd);
    if (!pd)
        return false;
    goc__lock_acquire(&pd->lock);
    bool quiet = pd->rshort && !pd->ready[GOC__PD_R] &&
                 !atomic_load_explicit(&pd->rhup, memory_order_relaxed);
    goc__lock_release(&pd->lock);
    return quiet;
}

int goc__fd_wait_read(int fd)
{
    int err;
    goc__pd *pd = goc__pd_acquire(fd, &err);
    if (!pd)
        return err;
    int rc = goc__pd_lock(pd, GOC__PD_R);
    if (rc == 0) {
        bool quiet = goc__fd_quiet(fd);
        int w = quiet ? goc__pd_wait(pd, 1u << GOC__PD_R, true)
                      : wait_dirs(pd, GOC_READ, 1u << GOC__PD_R, GOC_FOREVER);
        /* An edge consumed here is the next read's: it must try at once.
         * Stopped by a deadline instead, the socket is as drained as it
         * was, and the next read may wait first again. */
        if (w >= 0 || !quiet)
            pd->rshort = false;
        rc = w < 0 ? w : 0;
        goc__pd_unlock(pd, GOC__PD_R);
    }
    goc__pd_release(pd);
    return rc;
}

GOC_API int goc_wait_fd(int fd, int events, goc_duration timeout)
{
    if (events & ~(GOC_READ | GOC_WRITE) || !events)
        return goc__fd_result(-EINVAL, "wait", fd);
    int err;
    goc__pd *pd = goc__pd_acquire(fd, &err);
    if (!pd)
        return goc__fd_result(err, "wait", fd);
    unsigned dirs =
        (events & GOC_READ ? 1u << GOC__PD_R : 0) | (events & GOC_WRITE ? 1u << GOC__PD_W : 0);
    /* Like a read or a write, one waiter per direction (always R before
     * W): a goc_read and a goc_wait_fd for reading take turns. */
    int rc = 0;
    int locked = 0;
    for (int d = 0; d < 2 && rc == 0; d++) {
        if (!(dirs & (1u << d)))
            continue;
        rc = goc__pd_lock(pd, d);
        if (rc == 0)
            locked |= 1 << d;
    }
    /* This wait may consume the edge a read that drained the fd would
     * wait for (rshort, do_io): the next read must try at once. */
    if (locked & (1 << GOC__PD_R))
        pd->rshort = false;
    if (rc == 0)
        rc = wait_dirs(pd, events, dirs, timeout);
    for (int d = 1; d >= 0; d--)
        if (locked & (1 << d))
            goc__pd_unlock(pd, d);
    goc__pd_release(pd);
    return goc__fd_result(rc, "wait", fd);
}

static int set_deadline(int fd, unsigned which, int64_t t)
{
    int err;
    goc__pd *pd = goc__pd_acquire(fd, &err);
    if (!pd)
        return err;
    if (t < 0)
        t = 1; /* long past */
    int rc = 0;
    for (int d = 0; d < 2 && rc == 0; d++)
        if (which & (1u << d))
            rc = goc__pd_set_deadline(pd, d, t);
    goc__pd_release(pd);
    return rc;
}

GOC_API int goc_set_deadline(int fd, int64_t t)
{
    return goc__fd_result(set_deadline(fd, 3, t), "set deadline", fd);
}

GOC_API int goc_set_read_deadline(int fd, int64_t t)
{
    return goc__fd_result(set_deadline(fd, 1u << GOC__PD_R, t), "set read deadline", fd);
}

GOC_API int goc_set_write_deadline(int fd, int64_t t)
{
    return goc__fd_result(set_deadline(fd, 1u << GOC__PD_W, t), "set write deadline", fd);
}

GOC_API int goc_close(int fd)
{
    goc__pd *pd = goc__pd_lookup(fd);
    if (!pd) /* never used by goc: a plain close */
        return goc__fd_result(close(fd) == 0 ? 0 : -errno, "close", fd);
    return goc__fd_result(goc__pd_close(pd), "close", fd);
}
