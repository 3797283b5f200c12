/*
 * netutil.h — small helpers shared by the net tests (header-only, all
 * static). Builds on runtime/util.h (checks in goroutines, slack),
 * chan/chanutil.h (byte patterns) and sync/syncutil.h (waiting on
 * counters).
 *
 * Everything stays on the loopback (127.0.0.1, ::1) or on unix sockets in
 * a private temporary directory, and listeners take port 0 (the kernel
 * picks a free one; getsockname tells which), so parallel runs of the
 * suite never collide.
 */
#ifndef GOC_TESTS_NET_NETUTIL_H
#define GOC_TESTS_NET_NETUTIL_H

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>

#include "chan/chanutil.h"
#include "sync/syncutil.h"

/* ---- time ------------------------------------------------------------------ */

/* Milliseconds since t0 (a goc_now() time). */
static inline int64_t since_ms(int64_t t0)
{
    return (goc_now() - t0) / GOC_MILLISECOND;
}

/* An upper bound for "it happened about base_ms after": base plus a margin
 * for a loaded machine, wider on sanitizer builds. */
static inline int64_t late_ms(int64_t base_ms)
{
    return base_ms + 250 * test_slack();
}

static inline pid_t test_gettid(void)
{
    return (pid_t)syscall(SYS_gettid);
}

/* ---- addresses ---------------------------------------------------------------- */

/* The local port of a bound socket, or -1. */
static inline int sock_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        return -1;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return -1;
}

static inline int sock_family(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        return -1;
    return ss.ss_family;
}

/* Whether this machine can bind ::1 (IPv6 on the loopback). */
static inline bool have_ipv6(void)
{
    int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    struct sockaddr_in6 s6 = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    bool ok = bind(fd, (struct sockaddr *)&s6, sizeof s6) == 0;
    close(fd);
    return ok;
}

/* A private temporary directory for unix sockets, made once per process
 * (each Criterion test is a process). Removed by tmpdir_cleanup. */
static char test_tmpdir_path[64];

static inline const char *test_tmpdir(void)
{
    if (!test_tmpdir_path[0]) {
        snprintf(test_tmpdir_path, sizeof test_tmpdir_path, "/tmp/goc-net-XXXXXX");
        if (!mkdtemp(test_tmpdir_path))
            abort();
    }
    return test_tmpdir_path;
}

/* buf = <tmpdir>/<name>. */
static inline const char *unix_path(char *buf, size_t n, const char *name)
{
    snprintf(buf, n, "%s/%s", test_tmpdir(), name);
    return buf;
}

/* Remove the sockets left in the temporary directory, and it. */
static inline void tmpdir_cleanup(void)
{
    if (!test_tmpdir_path[0])
        return;
    DIR *d = opendir(test_tmpdir_path);
    if (d) {
        struct dirent *e;
        char p[512];
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.')
                continue;
            snprintf(p, sizeof p, "%s/%.255s", test_tmpdir_path, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(test_tmpdir_path);
    test_tmpdir_path[0] = '\0';
}

/* The address to dial a listener at: "127.0.0.1:port", "[::1]:port", or
 * the unix path. */
static inline const char *dial_addr(int lfd, char *buf, size_t n)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    buf[0] = '\0';
    if (getsockname(lfd, (struct sockaddr *)&ss, &len) != 0)
        return buf;
    if (ss.ss_family == AF_INET)
        snprintf(buf, n, "127.0.0.1:%d", ntohs(((struct sockaddr_in *)&ss)->sin_port));
    else if (ss.ss_family == AF_INET6)
        snprintf(buf, n, "[::1]:%d", ntohs(((struct sockaddr_in6 *)&ss)->sin6_port));
    else if (ss.ss_family == AF_UNIX)
        snprintf(buf, n, "%.*s", (int)(n - 1), ((struct sockaddr_un *)&ss)->sun_path);
    return buf;
}

/* ---- connections ------------------------------------------------------------- */

/* A connected pair over network ("tcp4", "tcp6" or "unix"), both ends goc
 * fds, made in the calling goroutine (or thread): listen, dial, accept,
 * close the listener. 0 or a negative errno. */
static inline int net_pair(const char *network, int *client, int *server)
{
    static atomic_int seq;
    char path[128];
    const char *laddr;
    if (strcmp(network, "tcp6") == 0)
        laddr = "[::1]:0";
    else if (strcmp(network, "unix") == 0) {
        char name[32];
        snprintf(name, sizeof name, "pair%d", atomic_fetch_add(&seq, 1));
        laddr = unix_path(path, sizeof path, name);
    } else
        laddr = "127.0.0.1:0";
    int lfd = goc_listen(network, laddr);
    if (lfd < 0)
        return lfd;
    char addr[128];
    dial_addr(lfd, addr, sizeof addr);
    int c = goc_dial(network, addr, 5 * GOC_SECOND);
    if (c < 0) {
        goc_close(lfd);
        return c;
    }
    int s = goc_accept(lfd, NULL, NULL);
    goc_close(lfd);
    if (strcmp(network, "unix") == 0)
        unlink(laddr);
    if (s < 0) {
        goc_close(c);
        return s;
    }
    *client = c;
    *server = s;
    return 0;
}

/* A tcp4 pair with small kernel buffers, so a few hundred KiB fill them. */
static inline int small_buf_pair(int *client, int *server)
{
    int rc = net_pair("tcp4", client, server);
    if (rc)
        return rc;
    int v = 65536; /* smaller stalls loopback TCP in the kernel (MSS ~64 KiB) */
    setsockopt(*client, SOL_SOCKET, SO_SNDBUF, &v, sizeof v);
    setsockopt(*client, SOL_SOCKET, SO_RCVBUF, &v, sizeof v);
    setsockopt(*server, SOL_SOCKET, SO_SNDBUF, &v, sizeof v);
    setsockopt(*server, SOL_SOCKET, SO_RCVBUF, &v, sizeof v);
    return 0;
}

/* goc_read until n bytes, EOF or an error: the bytes read (< n at EOF), or
 * the error if nothing was read. */
static inline ssize_t read_full(int fd, void *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = goc_read(fd, (char *)buf + got, n - got);
        if (r < 0)
            return got ? (ssize_t)got : r;
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

/* ---- file descriptors -------------------------------------------------------- */

/* Open fds in this process (entries of /proc/self/fd, minus the one
 * opendir uses), or -1. */
static inline int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1;
}

/* Start the poller (its epoll fd and eventfd) if it is not running, so a
 * count_fds() taken now is the baseline for "no fd leaked". */
static inline void net_warmup(void)
{
    goc_set_deadline(-1, 0); /* -EBADF, after starting the poller */
}

/* Whether fd is an open descriptor (any kind). */
static inline bool fd_is_open(int fd)
{
    return fcntl(fd, F_GETFD) != -1 || errno != EBADF;
}

/* Inside a goroutine: wait until count_fds() == want (a goc_close
 * finishes when the last call using the fd returns). */
static inline bool go_wait_fds(int want, int64_t timeout_ms)
{
    int64_t deadline = goc_now() + timeout_ms * GOC_MILLISECOND * test_slack();
    while (count_fds() != want) {
        if (goc_now() > deadline)
            return false;
        goc_sleep(GOC_MILLISECOND);
    }
    return true;
}

/* ---- a goroutine that proves the scheduler is not held ------------------------- */

/* counter_fn counts while yielding until *stop: if a blocked call held the
 * only worker, the count would stall. */
typedef struct counter {
    atomic_long count;
    atomic_int stop, done;
    bool sleepy; /* goc_sleep(1 ms) between counts instead of goc_yield */
} counter;

static inline void counter_fn(void *arg)
{
    counter *c = arg;
    while (!atomic_load(&c->stop)) {
        atomic_fetch_add(&c->count, 1);
        if (c->sleepy)
            goc_sleep(GOC_MILLISECOND);
        else
            goc_yield();
    }
    atomic_store(&c->done, 1);
}

/* Spawn counter_fn and wait until it has counted once: its first start can
 * take milliseconds (a TSan fiber; a loaded machine), and a window measured
 * from before it started once saw it count 0 times in 60 ms at p4. */
static inline void counter_start(counter *c)
{
    GO_SPAWN(counter_fn, c);
    GO_CHECK(go_wait_ge(&c->count, 1, 5000), "counter goroutine did not start");
}

/* Stop it and wait for it to end (it is on the caller's stack). */
static inline void counter_stop(counter *c)
{
    atomic_store(&c->stop, 1);
    int64_t deadline = goc_now() + 5 * GOC_SECOND * test_slack();
    while (!atomic_load(&c->done) && goc_now() < deadline)
        goc_sleep(GOC_MILLISECOND);
    GO_CHECK(atomic_load(&c->done), "counter goroutine did not stop");
}

#endif /* GOC_TESTS_NET_NETUTIL_H */
