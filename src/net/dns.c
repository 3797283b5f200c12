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
 *
 * c-ares knows only files and DNS; glibc's getaddrinfo(3) also asks the
 * NSS modules /etc/nsswitch.conf lists (mdns, myhostname, resolve, ldap,
 * sss...). When the hosts: line names any source besides files and dns,
 * a name c-ares says does not exist is asked again of getaddrinfo, run by
 * a helper goroutine through goc_blocking (a pool thread blocks, not a
 * P). Go's resolver makes the same test (net/conf.go, hostLookupOrder) but
 * then sends every name to getaddrinfo; here c-ares still answers all it
 * can, so only names it does not know pay for a thread, and a name DNS
 * knows is answered by DNS even if a module listed before dns knows it
 * differently. getaddrinfo cannot be interrupted: at the deadline the
 * caller returns -ETIMEDOUT and leaves the call to finish on its own.
 *
 * A dial's ctx (goc_dial_ctx) ends a lookup early: the c-ares loop enters
 * the socket it waits on in the dial's goc__dialstop (dial.h), whose stop
 * sets a passed deadline on it, and sleeps on the ctx's done channel when
 * c-ares has no socket; the getaddrinfo wait selects on that channel too,
 * and leaves the call behind as at the deadline.
 */
#include <ares.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "net/addr.h"
#include "net/dial.h"
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

/* Wait up to wait (GOC_FOREVER: no limit) on fd for ev, or only sleep
 * (wait > 0) if fd is ARES_SOCKET_BAD; woken early when stop is
 * stopped. */
static void wait_sock(ares_socket_t fd, int ev, goc_duration wait, goc__dialstop *stop)
{
    if (fd == ARES_SOCKET_BAD) {
        goc_chan *done = stop && stop->ctx ? goc_ctx_done(stop->ctx) : NULL;
        goc_case c = GOC_RECV(done, NULL);
        if (done)
            goc_select(&c, 1, wait);
        else
            goc_sleep(wait);
        return;
    }
    if (stop && goc__dialstop_enter(stop, 0, fd) != 0)
        return;
    goc_wait_fd(fd, ev, wait);
    if (stop)
        goc__dialstop_leave(stop, 0, 0);
}

/* Wait for c-ares' sockets or its next timeout (but not past deadline,
 * nor past stop), then let it process. */
static void step(ares_channel ch, int64_t deadline, goc__dialstop *stop)
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
            wait_sock(socks[first], ev, wait, stop);
    } else if (wait > 0) {
        wait_sock(ARES_SOCKET_BAD, 0, wait, stop);
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

/* Append one answer to out with port set (both resolvers fill it this
 * way, in the order given): false once out is full. Families other than
 * IPv4 and IPv6 are skipped. */
static bool add_addr(goc__addrs *out, const struct sockaddr *sa, socklen_t len, uint16_t port)
{
    if (out->n >= GOC__MAX_ADDRS)
        return false;
    if (sa->sa_family != AF_INET && sa->sa_family != AF_INET6)
        return true;
    memcpy(&out->a[out->n], sa, len);
    if (sa->sa_family == AF_INET)
        ((struct sockaddr_in *)&out->a[out->n])->sin_port = htons(port);
    else
        ((struct sockaddr_in6 *)&out->a[out->n])->sin6_port = htons(port);
    out->len[out->n++] = len;
    return true;
}

/* GOC_DNS_SERVERS, if set, replaces resolv.conf's nameservers
 * ("127.0.0.1:5353,[::1]:53", c-ares' list): a testing hook (c-ares 1.18
 * reads no port from resolv.conf), like CARES_HOSTS; ignored in setuid
 * programs. */
static int set_servers(ares_channel ch)
{
    const char *servers = secure_getenv("GOC_DNS_SERVERS");
    if (!servers || !*servers)
        return ARES_SUCCESS;
    return ares_set_servers_ports_csv(ch, servers);
}

static int cares_lookup(const char *host, int family, uint16_t port, int64_t deadline,
                        goc__dialstop *stop, goc__addrs *out)
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
    st = set_servers(ch);
    if (st != ARES_SUCCESS) {
        ares_destroy(ch);
        return map_status(st);
    }
    /* CARES_HOSTS, if set, names the hosts file (the tests use it); not
     * in setuid programs, where the environment is the caller's. */
    struct ares_addrinfo_hints hints = {.ai_family = family,
                                        .ai_socktype = SOCK_STREAM,
                                        .ai_flags =
                                            secure_getenv("CARES_HOSTS") ? ARES_AI_ENVHOSTS : 0};
    struct lookup q = {0};
    ares_getaddrinfo(ch, host, NULL, &hints, on_answer, &q);
    int why = 0;
    while (!q.done) {
        why = stop ? goc__dialstop_why(stop) : 0;
        if (why || (deadline && goc_now() >= deadline)) {
            ares_cancel(ch); /* calls on_answer with ARES_ECANCELLED */
            break;
        }
        step(ch, deadline, stop);
    }
    int rc = why ? why : q.status == ARES_ECANCELLED || !q.done ? -ETIMEDOUT : map_status(q.status);
    for (struct ares_addrinfo_node *n = q.res ? q.res->nodes : NULL; n && rc == 0; n = n->ai_next)
        if (!add_addr(out, n->ai_addr, n->ai_addrlen, port))
            break;
    if (q.res)
        ares_freeaddrinfo(q.res);
    ares_destroy(ch);
    if (rc == 0 && out->n == 0)
        rc = GOC_ENOTFOUND;
    return rc;
}

/* ---- nsswitch.conf: does getaddrinfo know names c-ares does not? ------------- */

/* GOC_NSSWITCH_CONF, if set, names the file to read instead. A testing
 * hook, harmless elsewhere: it decides only whether the fallback runs,
 * while glibc still reads the real file. Read once, with the file;
 * ignored in setuid programs (secure_getenv). */
static const char nsswitch_conf[] = "/etc/nsswitch.conf";

static pthread_once_t nss_once = PTHREAD_ONCE_INIT;
static bool nss_fallback; /* a hosts: source other than files and dns */

/* Whether the sources of a hosts line (the text after the colon) name
 * anything but files and dns. [...] action items only say when glibc
 * stops asking, not whom it asks: skipped. */
static bool other_source(const char *s)
{
    static const char *const ws = " \t\r\n";
    for (s += strspn(s, ws); *s; s += strspn(s, ws)) {
        if (*s == '[') {
            const char *end = strchr(s, ']');
            if (!end)
                return false; /* an unclosed action runs to the end */
            s = end + 1;
            continue;
        }
        size_t n = strcspn(s, " \t\r\n[");
        bool files = n == 5 && memcmp(s, "files", 5) == 0;
        bool dns = n == 3 && memcmp(s, "dns", 3) == 0;
        if (!files && !dns)
            return true;
        s += n;
    }
    return false;
}

/* The sources of line if it is a hosts line, else NULL. Comments go. */
static const char *hosts_sources(char *line)
{
    line[strcspn(line, "#")] = '\0';
    line += strspn(line, " \t");
    if (strncmp(line, "hosts", 5) != 0)
        return NULL;
    line += 5;
    line += strspn(line, " \t");
    return *line == ':' ? line + 1 : NULL;
}

/* A missing or unreadable file, or one without a hosts line, means glibc's
 * default ("dns files"): c-ares alone. Every hosts line counts (a second
 * one is a mistake; erring towards the fallback costs only a slower
 * "no such host"). Read on the caller's P: a small local file, once. */
static void nss_init(void)
{
    const char *path = secure_getenv("GOC_NSSWITCH_CONF");
    FILE *f = fopen(path && *path ? path : nsswitch_conf, "re");
    if (!f)
        return;
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) >= 0) {
        const char *src = hosts_sources(line);
        if (src && other_source(src))
            nss_fallback = true;
    }
    free(line);
    fclose(f);
}

/* ---- the getaddrinfo fallback ------------------------------------------------------ */

/* One getaddrinfo call, shared by the caller and a helper goroutine that
 * runs it through goc_blocking. The caller may give up at its deadline
 * and return while the call goes on (it cannot be interrupted), so the
 * job lives on the heap and the last of the two to let go frees it. */
typedef struct gai_job {
    _Atomic int refs; /* 2: the caller and the helper */
    goc_chan *done;   /* closed once err and res are set */
    int family;
    int err;              /* getaddrinfo's result */
    struct addrinfo *res; /* its answer, freed with the job */
    char host[];
} gai_job;

static void gai_unref(gai_job *j)
{
    if (atomic_fetch_sub_explicit(&j->refs, 1, memory_order_acq_rel) != 1)
        return;
    if (j->res)
        freeaddrinfo(j->res);
    goc_chan_release(j->done);
    free(j);
}

/* On a goc_blocking thread. No AI_ADDRCONFIG (c-ares does not filter
 * either); SOCK_STREAM so each address comes once, not once per
 * socket type. */
static void gai_call(void *arg)
{
    gai_job *j = arg;
    struct addrinfo hints = {.ai_family = j->family, .ai_socktype = SOCK_STREAM};
    j->err = getaddrinfo(j->host, NULL, &hints, &j->res);
}

static void gai_fn(void *arg)
{
    gai_job *j = arg;
    if (goc_blocking(gai_call, j) != 0)
        j->err = EAI_MEMORY;
    goc_chan_close(j->done);
    gai_unref(j);
}

static int map_gai(int err)
{
    switch (err) {
    case 0:
        return 0;
    case EAI_NONAME:
#ifdef EAI_NODATA
    case EAI_NODATA:
#endif
        return GOC_ENOTFOUND;
    case EAI_MEMORY:
        return -ENOMEM;
    default: /* EAI_AGAIN, EAI_FAIL, EAI_SYSTEM, ... */
        return GOC_ETEMPFAIL;
    }
}

static gai_job *gai_job_new(const char *host, int family)
{
    size_t n = strlen(host) + 1;
    gai_job *j = calloc(1, sizeof *j + n);
    if (!j)
        return NULL;
    j->done = goc_chan_make(0, 0);
    if (!j->done) {
        free(j);
        return NULL;
    }
    atomic_init(&j->refs, 2);
    j->family = family;
    memcpy(j->host, host, n);
    return j;
}

/* getaddrinfo(3) for host, waiting at most until deadline (0: as long as
 * it takes) or stop's ctx is done. Then the call is abandoned, not
 * stopped: it keeps its pool thread until glibc returns, and its answer
 * is dropped. */
static int gai_lookup(const char *host, int family, uint16_t port, int64_t deadline,
                      goc__dialstop *stop, goc__addrs *out)
{
    goc_duration wait = deadline ? deadline - goc_now() : GOC_FOREVER;
    if (deadline && wait <= 0)
        return -ETIMEDOUT;
    gai_job *j = gai_job_new(host, family);
    if (!j)
        return -ENOMEM;
    if (goc_go(gai_fn, j) != 0)
        gai_fn(j); /* no goroutine to spare: wait here, deadline or not */
    goc_case c[2] = {GOC_RECV(j->done, NULL),
                     GOC_RECV(stop && stop->ctx ? goc_ctx_done(stop->ctx) : NULL, NULL)};
    int which = goc_select(c, 2, wait);
    int rc = which == 0 ? map_gai(j->err) : which == 1 ? goc_ctx_err(stop->ctx) : -ETIMEDOUT;
    if (rc == 0 && deadline && goc_now() >= deadline)
        rc = -ETIMEDOUT;
    if (rc == 0) {
        for (struct addrinfo *ai = j->res; ai; ai = ai->ai_next)
            if (!add_addr(out, ai->ai_addr, ai->ai_addrlen, port))
                break;
        if (out->n == 0)
            rc = GOC_ENOTFOUND;
    }
    gai_unref(j);
    return rc;
}

/* c-ares first, for everything it can answer (no thread, and the deadline
 * is exact); getaddrinfo only for a name c-ares says does not exist, and
 * only when nsswitch.conf gives glibc other places to look. */
int goc__dns_lookup(const char *host, int family, uint16_t port, int64_t deadline,
                    goc__dialstop *stop, goc__addrs *out)
{
    int rc = cares_lookup(host, family, port, deadline, stop, out);
    if (rc != GOC_ENOTFOUND)
        return rc;
    pthread_once(&nss_once, nss_init);
    return nss_fallback ? gai_lookup(host, family, port, deadline, stop, out) : rc;
}
