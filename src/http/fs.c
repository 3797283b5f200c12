/*
 * fs.c — http.FileServer and http.ServeFile: files under a root, index.html,
 * directory listings, and nginx's gzip_static (a precompressed "file.gz"
 * beside the file).
 *
 * Confinement (the one promise: no byte outside root is ever served).
 * The root is opened once as an O_PATH directory fd; every name is opened
 * relative to it with openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS), so
 * the kernel refuses any resolution — "..", an absolute symlink, a symlink
 * that climbs out — that leaves the root, atomically with the open. On a
 * kernel without openat2 (ENOSYS) the name is first resolved with openat
 * to an O_PATH fd, whose path (/proc/self/fd) must lie under the root's,
 * and only then reopened for reading; no /proc, no file. Independently, a request path with a ".."
 * segment is refused before any lookup (the path is already percent-decoded, so "%2e%2e" is
 * ".." here). Refusals answer 404, as a missing file, so they tell nothing.
 * Files are opened O_NONBLOCK | O_NOCTTY and only regular files and
 * directories are served: a FIFO or device under the root cannot block or
 * capture the server.
 *
 * The opens, fstat calls and a listing's readdir go straight to the kernel
 * on the handler's thread, not through the blocking pool: on a page-cached
 * tree they cost microseconds, less than a hand-off (a cold disk stalls
 * this worker for one lookup; the monitor adds a worker if that lasts).
 * File data is read elsewhere: the sniff in content.c through goc_pread,
 * the body by sendfile.
 *
 * Requests, in Go's order (serveFile): ".../index.html" redirects to "./";
 * a directory without its trailing slash redirects to "name/", a file with
 * one to "../name" (relative Locations, so the server works under
 * StripPrefix); a directory serves its index.html or, lacking one, a
 * listing (names HTML-escaped, hrefs percent-escaped, sorted bytewise).
 * A regular file gets a strong ETag ("mtime-size" in hex, as nginx) unless
 * the handler set one, then content.c's ServeContent.
 *
 * gzip_static: when "name.gz" exists under the root as a regular file, the
 * response varies on Accept-Encoding (Vary is added whether or not gzip is
 * chosen, so caches keep the two apart); if the client accepts gzip the
 * .gz is the body, with Content-Encoding: gzip, the original's
 * Content-Type, and its own ETag and Last-Modified. Ranges and
 * conditionals then apply to the gzip bytes (as nginx does): the ETag
 * differs from the identity one, so If-Range and If-None-Match never mix
 * the two representations.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "http/fs.h"
#include "http/http.h"

bool goc__http_fs_no_openat2;

/* Where names are looked up: under a root (FileServer), or anywhere
 * (ServeFile: fd AT_FDCWD, the caller vouches for the path). */
typedef struct fs_dir {
    int fd;
    bool confined;
    const char *real; /* the root's path from /proc, for the fallback check */
} fs_dir;

/* A FileServer's state, allocated for the program's life. The root is
 * opened on first use (a root created after the server still works); the
 * first opener publishes it with a CAS, the losers close theirs. */
typedef struct fs_server {
    char *root;
    _Atomic int dirfd;      /* -1 until opened */
    _Atomic(char *) real;   /* set before dirfd (release), read after (acquire) */
    struct fs_server *next; /* in all_servers; set before publishing */
} fs_server;

/* Every FileServer made, so their program-life memory stays reachable
 * (leak checkers then do not flag it). Pushed with a CAS, never popped. */
static _Atomic(fs_server *) all_servers;

/* ---- opening under the root ---------------------------------------------------- */

/* Where fd lies, from /proc (so the very file opened, whatever its path
 * now names), in buf[n]: false if /proc cannot tell. */
static bool fd_path(int fd, char *buf, size_t n)
{
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t k = readlink(link, buf, n - 1);
    if (k <= 0 || (size_t)k >= n - 1)
        return false;
    buf[k] = '\0';
    return true;
}

/* Whether fd lies at or under the directory real. */
static bool fd_beneath(int fd, const char *real)
{
    char path[4096];
    if (!fd_path(fd, path, sizeof path))
        return false;
    size_t rn = strlen(real);
    if (rn == 1) /* the root is "/" */
        return true;
    return strncmp(path, real, rn) == 0 && (path[rn] == '\0' || path[rn] == '/');
}

/* The fallback without openat2: resolve name to an O_PATH fd (which opens
 * nothing: a device or FIFO outside is never touched), check where it
 * landed, then reopen that very inode through /proc for real. */
static int open_checked(const fs_dir *d, const char *name, int flags)
{
    int pfd = openat(d->fd, name, O_PATH | O_CLOEXEC);
    if (pfd < 0)
        return -errno;
    if (!d->real || !fd_beneath(pfd, d->real)) {
        close(pfd);
        return -EXDEV;
    }
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", pfd);
    int fd = open(link, flags);
    int err = -errno;
    close(pfd);
    return fd < 0 ? err : fd;
}

/* Open name (relative, no ".." segment) under d: an fd or a negative errno. */
static int fs_open(const fs_dir *d, const char *name, int flags)
{
    static atomic_bool no_openat2; /* set once the kernel said ENOSYS */
    flags |= O_CLOEXEC | O_NONBLOCK | O_NOCTTY;
    if (!d->confined) {
        int fd = openat(d->fd, name, flags);
        return fd < 0 ? -errno : fd;
    }
    if (!goc__http_fs_no_openat2 && !atomic_load_explicit(&no_openat2, memory_order_relaxed)) {
        struct open_how how = {.flags = (uint64_t)flags,
                               .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS};
        long fd = syscall(SYS_openat2, d->fd, name, &how, sizeof how);
        if (fd >= 0)
            return (int)fd;
        if (errno != ENOSYS)
            return -errno;
        atomic_store_explicit(&no_openat2, true, memory_order_relaxed); /* a hint only */
    }
    return open_checked(d, name, flags);
}

/* The server's root fd, opening it on first use: the fd or a negative errno. */
static int root_fd(fs_server *s)
{
    int fd = atomic_load_explicit(&s->dirfd, memory_order_acquire); /* pairs with the CAS */
    if (fd >= 0)
        return fd;
    fd = open(s->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    char path[4096];
    char *real = fd_path(fd, path, sizeof path) ? strdup(path) : NULL; /* NULL: fallback refuses */
    char *none = NULL;
    if (real && !atomic_compare_exchange_strong_explicit(
                    &s->real, &none, real, memory_order_release, memory_order_relaxed))
        free(real); /* another request stored the same path first */
    int want = -1;
    /* release: a reader that sees the fd also sees real (stored above) */
    if (!atomic_compare_exchange_strong_explicit(&s->dirfd, &want, fd, memory_order_acq_rel,
                                                 memory_order_acquire)) {
        close(fd);
        return want;
    }
    return fd;
}

/* ---- small path helpers ---------------------------------------------------------- */

/* Whether path has a ".." segment (Go's containsDotDot). */
static bool has_dotdot(const char *path)
{
    for (const char *p = path; (p = strstr(p, "..")) != NULL; p += 2)
        if ((p == path || p[-1] == '/') && (p[2] == '\0' || p[2] == '/'))
            return true;
    return false;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* s escaped for a URL path into out[cap] (Go's encodePath, and '&' too so
 * the result is also safe inside an HTML attribute); a first segment with
 * ':' gets "./" so it is not read as a scheme. The length, or -1. */
static int escape_path(const char *s, char *out, size_t cap)
{
    static const char keep[] = "-_.~$+,/:;=@";
    size_t n = 0;
    const char *slash = strchr(s, '/');
    const char *colon = strchr(s, ':');
    if (colon && (!slash || colon < slash)) {
        memcpy(out, "./", 2);
        n = 2;
    }
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (n + 4 > cap)
            return -1;
        if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
            (*c && strchr(keep, *c)))
            out[n++] = (char)*c;
        else
            n += (size_t)snprintf(out + n, 4, "%%%02X", *c);
    }
    out[n] = '\0';
    return (int)n;
}

/* s with & < > " ' as entities (Go's htmlReplacer) into out[cap]: the
 * length, or -1. */
static int escape_html(const char *s, char *out, size_t cap)
{
    size_t n = 0;
    for (; *s; s++) {
        const char *rep = goc__http_html_entity(*s);
        size_t k = rep ? strlen(rep) : 1;
        if (n + k + 1 > cap)
            return -1;
        memcpy(out + n, rep ? rep : s, k);
        n += k;
    }
    out[n] = '\0';
    return (int)n;
}

/* The name to open under the root for upath: without its leading and
 * trailing slashes (Go opens path.Clean(upath), so "/a.txt/" finds the
 * file and is then redirected), "." for the root; in the arena, or NULL. */
static const char *rel_name(goc_http_request *r, const char *upath)
{
    while (*upath == '/')
        upath++;
    size_t n = strlen(upath);
    while (n > 0 && upath[n - 1] == '/')
        n--;
    if (n == 0)
        return ".";
    char *s = goc_http_request_alloc(r, n + 1);
    if (s) {
        memcpy(s, upath, n);
        s[n] = '\0';
    }
    return s;
}

/* a + b in the request's arena, or NULL. */
static char *join(goc_http_request *r, const char *a, const char *b)
{
    size_t an = strlen(a), bn = strlen(b);
    char *s = goc_http_request_alloc(r, an + bn + 1);
    if (s) {
        memcpy(s, a, an);
        memcpy(s + an, b, bn + 1);
    }
    return s;
}

/* ---- responses --------------------------------------------------------------- */

/* Go's localRedirect: a 301 to to + base + suffix, relative (so the
 * server works under StripPrefix), with the query carried over. base is a
 * decoded name, escaped here (Go sends it raw; '?' or '#' in a name would
 * then break the Location). */
static void local_redirect(goc_http_response_writer *w, goc_http_request *r, const char *to,
                           const char *base, const char *suffix)
{
    const char *q = r->raw_query ? r->raw_query : "";
    size_t cap = strlen(to) + 3 * strlen(base) + strlen(suffix) + strlen(q) + 8;
    char *loc = goc_http_request_alloc(r, cap);
    if (!loc) {
        goc_http_error(w, "500 Internal Server Error", 500);
        return;
    }
    size_t n = strlen(to);
    memcpy(loc, to, n);
    int k = escape_path(base, loc + n, cap - n);
    if (k < 0) {
        goc_http_error(w, "500 Internal Server Error", 500);
        return;
    }
    n += (size_t)k;
    snprintf(loc + n, cap - n, "%s%s%s", suffix, *q ? "?" : "", q);
    goc_http_header_set(goc_http_response_header(w), "Location", loc);
    goc_http_write_header(w, 301);
}

/* The last element of path (Go's path.Base for the two cases serveFile
 * meets) in the request's arena; "" for the root. */
static const char *path_base(goc_http_request *r, const char *path)
{
    size_t n = strlen(path);
    while (n > 0 && path[n - 1] == '/')
        n--;
    size_t start = n;
    while (start > 0 && path[start - 1] != '/')
        start--;
    char *s = goc_http_request_alloc(r, n - start + 1);
    if (!s)
        return "";
    memcpy(s, path + start, n - start);
    s[n - start] = '\0';
    return s;
}

/* Go's toHTTPError for an open that failed with err. */
static void open_error(goc_http_response_writer *w, int err)
{
    switch (err) {
    case -EACCES:
    case -EPERM:
        goc_http_error(w, "403 Forbidden", 403);
        break;
    case -ENOENT:
    case -ENOTDIR:
    case -EXDEV: /* the path leaves the root */
    case -ELOOP:
    case -ENAMETOOLONG:
    case -ENXIO:
        goc_http_error(w, "404 page not found", 404);
        break;
    default:
        goc_http_error(w, "500 Internal Server Error", 500);
    }
}

/* ---- directory listings ---------------------------------------------------------- */

typedef struct dir_ent {
    char *name;
    bool dir;
} dir_ent;

static int ent_cmp(const void *a, const void *b)
{
    return strcmp(((const dir_ent *)a)->name, ((const dir_ent *)b)->name);
}

/* The entries of the directory fd (not consumed) in *out (malloc'ed, each
 * name too): the count, or a negative errno. */
static ssize_t read_dir(int fd, dir_ent **out)
{
    int dfd = dup(fd); /* closedir closes it; fd stays the caller's */
    DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
    if (!d) {
        int err = -errno;
        if (dfd >= 0)
            close(dfd);
        return err;
    }
    dir_ent *v = NULL;
    size_t n = 0, cap = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (n == cap) {
            dir_ent *nv = realloc(v, (cap = cap ? 2 * cap : 32) * sizeof *v);
            if (!nv)
                break;
            v = nv;
        }
        bool isdir = e->d_type == DT_DIR;
        struct stat st;
        if (e->d_type == DT_UNKNOWN && fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0)
            isdir = S_ISDIR(st.st_mode);
        if (!(v[n].name = strdup(e->d_name)))
            break;
        v[n++].dir = isdir;
    }
    closedir(d);
    if (n > 1) /* an empty directory has no array: qsort must not see NULL */
        qsort(v, n, sizeof *v, ent_cmp);
    *out = v;
    return (ssize_t)n;
}

/* Go's dirList: an HTML page of links, one per entry (directories end in
 * '/'), names escaped for the text and the href. */
static void dir_list(goc_http_response_writer *w, int fd)
{
    dir_ent *v = NULL;
    ssize_t n = read_dir(fd, &v);
    if (n < 0) {
        goc_http_error(w, "Error reading directory", 500);
        return;
    }
    goc_http_header_set(goc_http_response_header(w), "Content-Type", "text/html; charset=utf-8");
    goc_http_write_str(w,
                       "<!doctype html>\n<meta name=\"viewport\" content=\"width=device-width\">\n"
                       "<pre>\n");
    for (ssize_t i = 0; i < n; i++) {
        char name[NAME_MAX + 2], href[3 * (NAME_MAX + 2) + 4], text[6 * (NAME_MAX + 2)];
        snprintf(name, sizeof name, "%s%s", v[i].name, v[i].dir ? "/" : "");
        if (escape_path(name, href, sizeof href) >= 0 && escape_html(name, text, sizeof text) >= 0)
            goc_http_printf(w, "<a href=\"%s\">%s</a>\n", href, text);
        free(v[i].name);
    }
    free(v);
    goc_http_write_str(w, "</pre>\n");
}

/* ---- files ------------------------------------------------------------------- */

/* Whether a Vary value already names Accept-Encoding. */
static bool varies_on_encoding(goc_http_header *h)
{
    const char *v[16];
    size_t n = goc_http_header_values(h, "Vary", v, 16);
    for (size_t i = 0; i < n && i < 16; i++)
        if (strcasestr(v[i], "accept-encoding") || strcmp(v[i], "*") == 0)
            return true;
    return false;
}

/* The precompressed sibling name.gz if it is a regular file under d: its
 * fd (stat in *st), or -1. */
static int open_gzip(goc_http_request *r, const fs_dir *d, const char *name, struct stat *st)
{
    if (ends_with(name, ".gz"))
        return -1;
    char *gz = join(r, name, ".gz");
    int fd = gz ? fs_open(d, gz, O_RDONLY) : -1;
    if (fd >= 0 && (fstat(fd, st) < 0 || !S_ISREG(st->st_mode))) {
        close(fd);
        fd = -1;
    }
    return fd < 0 ? -1 : fd;
}

/* A regular file fd (stat st) found at name under d: the gzip sibling if
 * the client takes it, an ETag, then ServeContent. */
static void serve_regular(goc_http_response_writer *w, goc_http_request *r, const fs_dir *d,
                          const char *name, int fd, const struct stat *st)
{
    goc_http_header *h = goc_http_response_header(w);
    struct stat gst;
    int gz = open_gzip(r, d, name, &gst);
    if (gz >= 0) {
        if (!varies_on_encoding(h))
            goc_http_header_add(h, "Vary", "Accept-Encoding");
        if (!goc__http_accepts_gzip(goc_http_header_get(r->header, "Accept-Encoding"))) {
            close(gz);
            gz = -1;
        }
    }
    const struct stat *use = gz >= 0 ? &gst : st;
    if (!goc_http_header_get(h, "ETag")) {
        char etag[40];
        goc__http_etag_format(etag, use->st_mtime, (int64_t)use->st_size);
        goc_http_header_set(h, "ETag", etag);
    }
    if (gz >= 0)
        goc_http_header_set(h, "Content-Encoding", "gzip");
    goc__http_serve_fd(w, r, name, use->st_mtime, gz >= 0 ? gz : fd, (int64_t)use->st_size, fd);
    if (gz >= 0)
        close(gz);
}

/* A directory fd (stat st) at name, asked for as upath (ending in '/'):
 * its index.html, else a listing. */
static void serve_dir(goc_http_response_writer *w, goc_http_request *r, const fs_dir *d,
                      const char *name, int fd, const struct stat *st)
{
    const char *index = join(r, name, "/index.html");
    struct stat ist;
    int ifd = index ? fs_open(d, index, O_RDONLY) : -1;
    if (ifd >= 0 && fstat(ifd, &ist) == 0 && S_ISREG(ist.st_mode)) {
        serve_regular(w, r, d, index, ifd, &ist);
        close(ifd);
        return;
    }
    if (ifd >= 0)
        close(ifd);
    if (goc__http_not_modified_since(r, st->st_mtime)) {
        goc__http_write_not_modified(w);
        return;
    }
    if (st->st_mtime > 0) {
        char lm[30];
        goc__http_format_time(st->st_mtime, lm);
        goc_http_header_set(goc_http_response_header(w), "Last-Modified", lm);
    }
    dir_list(w, fd);
}

/* Go's serveFile: name (under d) asked for as upath; redirect: make the
 * path canonical (FileServer) — a file never ends in '/'. */
static void serve_path(goc_http_response_writer *w, goc_http_request *r, const fs_dir *d,
                       const char *name, const char *upath, bool redirect)
{
    if (ends_with(upath, "/index.html")) {
        local_redirect(w, r, "./", "", "");
        return;
    }
    int fd = fs_open(d, name, O_RDONLY);
    if (fd < 0) {
        open_error(w, fd);
        return;
    }
    struct stat st;
    bool dir_slash = upath[0] && upath[strlen(upath) - 1] == '/';
    if (fstat(fd, &st) < 0)
        goc_http_error(w, "500 Internal Server Error", 500);
    else if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
        goc_http_error(w, "404 page not found", 404); /* FIFOs, devices, sockets */
    else if (S_ISDIR(st.st_mode) && !dir_slash)
        local_redirect(w, r, "", path_base(r, upath), "/");
    else if (redirect && !S_ISDIR(st.st_mode) && dir_slash)
        local_redirect(w, r, "../", path_base(r, upath), "");
    else if (S_ISDIR(st.st_mode))
        serve_dir(w, r, d, name, fd, &st);
    else
        serve_regular(w, r, d, name, fd, &st);
    close(fd);
}

/* ---- the public calls ---------------------------------------------------------- */

static void file_server(goc_http_response_writer *w, goc_http_request *r, void *arg)
{
    fs_server *s = arg;
    const char *upath = r->path;
    if (has_dotdot(upath)) {
        goc_http_error(w, "404 page not found", 404);
        return;
    }
    int rootfd = root_fd(s);
    if (rootfd < 0) {
        open_error(w, rootfd);
        return;
    }
    fs_dir d = {.fd = rootfd,
                .confined = true,
                .real = atomic_load_explicit(&s->real, memory_order_acquire)};
    if (upath[0] != '/')
        upath = join(r, "/", upath);
    const char *name = upath ? rel_name(r, upath) : NULL;
    if (!name) {
        goc_http_error(w, "500 Internal Server Error", 500);
        return;
    }
    serve_path(w, r, &d, name, upath, true);
}

goc_http_handler goc_http_file_server(const char *root)
{
    fs_server *s = calloc(1, sizeof *s);
    char *copy = strdup(root && *root ? root : ".");
    if (!s || !copy) {
        free(s);
        free(copy);
        return (goc_http_handler){NULL, NULL};
    }
    s->root = copy;
    atomic_init(&s->dirfd, -1);
    atomic_init(&s->real, NULL);
    s->next = atomic_load_explicit(&all_servers, memory_order_relaxed);
    /* release: publishes s->next; nobody reads the list, the CAS only links */
    while (!atomic_compare_exchange_weak_explicit(&all_servers, &s->next, s, memory_order_release,
                                                  memory_order_relaxed))
        ;
    return (goc_http_handler){file_server, s};
}

void goc_http_serve_file(goc_http_response_writer *w, goc_http_request *r, const char *path)
{
    if (has_dotdot(r->path)) {
        goc_http_error(w, "invalid URL path", 400);
        return;
    }
    fs_dir d = {.fd = AT_FDCWD, .confined = false, .real = NULL};
    serve_path(w, r, &d, path && *path ? path : ".", r->path, false);
}
