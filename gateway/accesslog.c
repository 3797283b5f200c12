/*
 * accesslog.c — one JSON object per request, one line each:
 *
 *   {"time":"2026-12-02T19:22:18.123Z","remote":"127.0.0.1:50312",
 *    "method":"GET","host":"example.com","uri":"/a?b","proto":"HTTP/1.1",
 *    "status":200,"bytes":512,"duration_ms":1.234,"route":"api",
 *    "upstream":"backend","target":"10.0.0.1:80","attempts":1,
 *    "cache":"MISS","error":"..."}
 *
 * A NULL string is written as null, except error, which is left out. The
 * line is built in memory first and goes out in one write(2) under mu, so
 * lines from concurrent writers never interleave (also on a pipe, where a
 * long line could otherwise be split between two writers' bytes). The
 * write blocks the calling thread for its duration: a file or a pipe to a
 * log collector is expected to keep up; if it does not, requests wait for
 * it rather than lines being lost silently.
 */
#include "gateway.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct gw_access_log {
    int fd;
    bool own_fd;  /* opened here: closed by gw_access_log_close */
    goc_mutex mu; /* held for each line's write, so lines stay whole */
};

/* path "-": stdout (never closed here); else the file, appended to. 0, or
 * a negative errno from open(2) (-EINVAL for NULL). */
int gw_access_log_open(const char *path, gw_access_log **out)
{
    *out = NULL;
    if (!path)
        return -EINVAL;
    gw_access_log *l = calloc(1, sizeof *l);
    if (!l)
        return -ENOMEM;
    if (strcmp(path, "-") == 0) {
        l->fd = STDOUT_FILENO;
    } else {
        l->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (l->fd < 0) {
            int err = -errno;
            free(l);
            return err;
        }
        l->own_fd = true;
    }
    *out = l;
    return 0;
}

void gw_access_log_close(gw_access_log *l)
{
    if (!l)
        return;
    if (l->own_fd)
        close(l->fd);
    free(l);
}

/* "2026-12-02T19:22:18.123Z" */
static void put_time(gw_buf *b)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    gw_buf_printf(b, "\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\"", tm.tm_year + 1900, tm.tm_mon + 1,
                  tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
}

static void put_str(gw_buf *b, const char *key, const char *v)
{
    gw_buf_printf(b, ",\"%s\":", key);
    if (v)
        gw_buf_json_str(b, v);
    else
        gw_buf_puts(b, "null");
}

static void format_line(gw_buf *b, const gw_access_entry *e)
{
    gw_buf_puts(b, "{\"time\":");
    put_time(b);
    put_str(b, "remote", e->remote);
    put_str(b, "method", e->method);
    put_str(b, "host", e->host);
    put_str(b, "uri", e->target);
    put_str(b, "proto", e->proto);
    int64_t us = e->latency > 0 ? e->latency / 1000 : 0;
    gw_buf_printf(b, ",\"status\":%d,\"bytes\":%" PRId64 ",\"duration_ms\":%" PRId64 ".%03d",
                  e->status, e->bytes, us / 1000, (int)(us % 1000));
    put_str(b, "route", e->route);
    put_str(b, "upstream", e->upstream);
    put_str(b, "target", e->target_addr);
    gw_buf_printf(b, ",\"attempts\":%d", e->attempts);
    put_str(b, "cache", e->cache);
    if (e->error)
        put_str(b, "error", e->error);
    gw_buf_puts(b, "}\n");
}

/* All of p to fd; a non-blocking fd (a pipe someone set so) is waited
 * for. Called with l->mu held. */
static void write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
        } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd pfd = {.fd = fd, .events = POLLOUT};
            poll(&pfd, 1, 1000);
        } else if (w < 0 && errno == EINTR) {
            continue;
        } else {
            return; /* the log is gone (EPIPE, ENOSPC): requests go on without it */
        }
    }
}

void gw_access_log_write(gw_access_log *l, const gw_access_entry *e)
{
    if (!l)
        return;
    gw_buf b = {0};
    format_line(&b, e);
    if (!b.oom) {
        goc_mutex_lock(&l->mu);
        write_all(l->fd, b.p, b.len);
        goc_mutex_unlock(&l->mu);
    }
    gw_buf_free(&b);
}
