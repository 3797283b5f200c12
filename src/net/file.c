/*
 * file.c — regular-file I/O from goroutines: epoll cannot wait on a
 * regular file (it is always "ready", yet a read may sleep on the disk),
 * so these run the system call on the goc_blocking pool, as Go's os
 * package runs file I/O in a system call that hands off its P.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <goc.h>

#include "net/neterr.h"
#include "runtime/park.h"

struct fileop {
    int fd;
    void *buf;
    size_t n;
    off_t off;
    bool write;
    ssize_t result;
};

/* All of n (short only at end of file), or -errno. */
static void run_op(void *arg)
{
    struct fileop *op = arg;
    size_t done = 0;
    while (done < op->n) {
        ssize_t r =
            op->write ? pwrite(op->fd, (char *)op->buf + done, op->n - done, op->off + (off_t)done)
                      : pread(op->fd, (char *)op->buf + done, op->n - done, op->off + (off_t)done);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            op->result = done ? (ssize_t)done : -errno;
            return;
        }
        if (r == 0)
            break; /* end of file */
        done += (size_t)r;
    }
    op->result = (ssize_t)done;
}

static ssize_t file_op(int fd, void *buf, size_t n, off_t off, bool write)
{
    if (fd < 0 || off < 0 || (n > 0 && !buf))
        return fd < 0 ? -EBADF : -EINVAL;
    struct fileop op = {fd, buf, n, off, write, 0};
    int rc = goc_blocking(run_op, &op);
    return rc ? rc : op.result;
}

GOC_API ssize_t goc_pread(int fd, void *buf, size_t n, off_t off)
{
    return goc__fd_result(file_op(fd, buf, n, off, false), "pread", fd);
}

GOC_API ssize_t goc_pwrite(int fd, const void *buf, size_t n, off_t off)
{
    return goc__fd_result(file_op(fd, (void *)buf, n, off, true), "pwrite", fd);
}

struct readfile {
    const char *path;
    char *data;
    size_t len;
    int err;
};

static void run_read_file(void *arg)
{
    struct readfile *rf = arg;
    int fd = open(rf->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rf->err = -errno;
        return;
    }
    struct stat st;
    size_t cap = fstat(fd, &st) == 0 && st.st_size > 0 ? (size_t)st.st_size + 1 : 4096;
    char *data = malloc(cap);
    size_t len = 0;
    for (;;) {
        if (!data) {
            rf->err = -ENOMEM;
            break;
        }
        if (len == cap) { /* the file grew, or /proc: double */
            char *more = realloc(data, cap * 2);
            if (!more) {
                rf->err = -ENOMEM;
                break;
            }
            data = more;
            cap *= 2;
        }
        ssize_t r = read(fd, data + len, cap - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rf->err = -errno;
            break;
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    close(fd);
    if (rf->err) {
        free(data);
        return;
    }
    rf->data = data;
    rf->len = len;
}

GOC_API int goc_read_file(const char *path, char **data, size_t *len)
{
    if (!path || !data)
        return goc__errset(-EINVAL, "goc_read_file: NULL path or data");
    struct readfile rf = {.path = path};
    int rc = goc_blocking(run_read_file, &rf);
    if (rc == 0)
        rc = rf.err;
    if (rc)
        return goc__errorf(rc, "open %s: %s", path, goc_strerror(rc));
    *data = rf.data;
    if (len)
        *len = rf.len;
    return 0;
}
