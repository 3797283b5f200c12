/*
 * poll.h — the net layer's poll descriptors (Go's pollDesc + fdMutex).
 *
 * One goc__pd per fd number, in a table indexed by fd that is never
 * freed (a descriptor outlives every goroutine that looked it up). An fd
 * is registered with epoll once, edge-triggered, the first time goc uses
 * it (or when goc creates it: socket, accept); goc_close unregisters it.
 *
 * Readiness: an epoll edge sets ready[dir]; a goroutine that got EAGAIN
 * waits until ready[dir] (consuming it), the fd is closed, or a deadline
 * passes. All of a descriptor's wait state is under its lock, which the
 * poller, timers and waiters hold for a few instructions only.
 *
 * Operations on one fd in one direction are serialised (rmu, wmu), as
 * Go's fdMutex does, goc_wait_fd included, so at most one goroutine waits
 * per direction. Every operation holds a reference; goc_close marks
 * the descriptor closing, wakes the waiters, and the last reference
 * closes the fd, so the fd number is not reused while an operation could
 * still touch it.
 */
#ifndef GOC_NET_POLL_H
#define GOC_NET_POLL_H

#include <goc.h>

#include "runtime/park.h"

enum { GOC__PD_R = 0, GOC__PD_W = 1, GOC__PD_WAITFD = 2 };

typedef struct goc__pdwaiter {
    goc__g *g;
    unsigned dirs; /* bits (1 << GOC__PD_R / _W) it waits for */
    bool waitfd;   /* goc_wait_fd: its own timeout applies */
} goc__pdwaiter;

typedef struct goc__pd {
    goc__lock lock;        /* guards everything below but refs */
    _Atomic uint32_t refs; /* operations in flight | CLOSING (poll.c) */
    int fd;
    _Atomic bool registered;  /* in the epoll set (written under lock) */
    bool notsock;             /* send() said ENOTSOCK: use write() */
    bool unpollable;          /* epoll refused it (a regular file): never wait */
    bool rshort;              /* the last read drained it (reader only, fd.c) */
    bool inq;                 /* TCP_INQ is on: recvmsg says what is left */
    _Atomic bool rhup;        /* the poller saw the peer's EOF, a hang-up or an
                                 error: a read returns at once from now on */
    bool ready[2];            /* an edge arrived and was not consumed */
    goc__pdwaiter *waiter[2]; /* parked in that direction, or NULL */
    int64_t deadline[3];      /* goc_now() time, 0 none; [WAITFD]: goc_wait_fd's */
    _Atomic bool expired[3];  /* that deadline has passed (written under lock;
                                 read without it by goc__pd_check) */
    goc__timer timer[3];      /* armed while deadline[i] is in the future */
    goc_mutex rmu, wmu;       /* one operation per direction */
} goc__pd;

/* The descriptor for fd, registered with the poller (O_NONBLOCK set),
 * holding a reference; NULL with *err set (-EBADF if fd < 0 or goc_close
 * is under way, -ENOMEM, or epoll's error). */
goc__pd *goc__pd_acquire(int fd, int *err);
/* A fd goc just created nonblocking (socket, accept4 with SOCK_NONBLOCK):
 * reset any stale state of that number and register it. 0 or a negative
 * errno. */
int goc__pd_open(int fd);
/* The descriptor of a registered fd, without a reference; or NULL. */
goc__pd *goc__pd_lookup(int fd);
/* The error a call in direction dir would get now (-EBADF, -ETIMEDOUT),
 * or 0. */
int goc__pd_check(goc__pd *pd, int dir);
/* Drop a reference; the last one after goc_close closes the fd. */
void goc__pd_release(goc__pd *pd);
/* Serialise an operation in direction dir (R or W): lock, then fail with
 * -EBADF if the fd is being closed. */
int goc__pd_lock(goc__pd *pd, int dir);
void goc__pd_unlock(goc__pd *pd, int dir);
/* Wait for an edge in any direction of dirs (bits), the fd's close
 * (-EBADF) or a deadline (-ETIMEDOUT). Returns the ready bits (consumed). */
int goc__pd_wait(goc__pd *pd, unsigned dirs, bool waitfd);
/* Forget edges seen in dirs (goc_wait_fd looks at the level itself). */
void goc__pd_clear_ready(goc__pd *pd, unsigned dirs);
/* Set deadline i (R, W or WAITFD) to the goc_now() time t (0: none).
 * 0, or -ENOMEM if no timer heap had room (the deadline is then not set). */
int goc__pd_set_deadline(goc__pd *pd, int i, int64_t t);
/* goc_close: mark closing, wake every waiter; the fd is closed when the
 * last reference goes. -EBADF if it was already closing. */
int goc__pd_close(goc__pd *pd);

/* The poller saw an edge in dirs on pd (hup: EOF, hang-up or error): mark
 * it and ready the waiters; how many (poll.c, called by the backend). */
int goc__pd_edge(goc__pd *pd, unsigned dirs, bool hup);

/* The epoll backend (netpoll_epoll.c). Start it once (any thread): 0 or
 * a negative errno, the same every call. */
int goc__netpoll_init(void);
/* Add fd to the epoll set, edge-triggered, pd as its cookie: 0, 1 if
 * epoll refuses the kind of file (a regular file: always ready), or a
 * negative errno. */
int goc__netpoll_add(int fd, goc__pd *pd);

/* fd.c, for the HTTP layer's idle connections: whether fd is known to
 * have nothing to read: its last read drained it and no edge or EOF came
 * since (as far as the poller has looked). false: not known, look. */
bool goc__fd_quiet(int fd);
/* goc_wait_fd(fd, GOC_READ, GOC_FOREVER) that skips its poll(2) when the
 * fd is quiet (an arrival will be an edge). 0 when readable, or -EBADF /
 * -ETIMEDOUT (a read deadline) as goc_wait_fd. */
int goc__fd_wait_read(int fd);

/* A new TCP connection's options (fd.c): TCP_NODELAY as Go's, and
 * TCP_INQ so that reads know when they drained the socket. */
void goc__tcp_conn_opts(int fd);

#endif /* GOC_NET_POLL_H */
