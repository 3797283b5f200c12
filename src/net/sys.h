/*
 * sys.h — the system calls of the I/O paths, made through syscall(2).
 *
 * glibc's wrappers for read, recvmsg, sendmsg and the like are pthread
 * cancellation points: each call enables and then disables asynchronous
 * cancellation around the system call, about 2% of an echo server's time.
 * A thread that runs goroutines must never be cancelled (it would leave a
 * goroutine half switched), so goc skips that. Each returns what the glibc
 * wrapper would: the result, or -1 with errno set.
 */
#ifndef GOC_NET_SYS_H
#define GOC_NET_SYS_H

#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

static inline ssize_t goc__sys_read(int fd, void *buf, size_t n)
{
    return syscall(SYS_read, fd, buf, n);
}

static inline ssize_t goc__sys_readv(int fd, const struct iovec *iov, int iovcnt)
{
    return syscall(SYS_readv, fd, iov, iovcnt);
}

static inline ssize_t goc__sys_writev(int fd, const struct iovec *iov, int iovcnt)
{
    return syscall(SYS_writev, fd, iov, iovcnt);
}

static inline ssize_t goc__sys_recvmsg(int fd, struct msghdr *mh, int flags)
{
    return syscall(SYS_recvmsg, fd, mh, flags);
}

static inline ssize_t goc__sys_sendmsg(int fd, const struct msghdr *mh, int flags)
{
    return syscall(SYS_sendmsg, fd, mh, flags);
}

static inline ssize_t goc__sys_sendto(int fd, const void *buf, size_t n, int flags,
                                      const struct sockaddr *to, socklen_t tolen)
{
    return syscall(SYS_sendto, fd, buf, n, flags, to, tolen);
}

static inline ssize_t goc__sys_recvfrom(int fd, void *buf, size_t n, int flags,
                                        struct sockaddr *from, socklen_t *fromlen)
{
    return syscall(SYS_recvfrom, fd, buf, n, flags, from, fromlen);
}

static inline int goc__sys_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
    return (int)syscall(SYS_accept4, fd, addr, len, flags);
}

#endif /* GOC_NET_SYS_H */
