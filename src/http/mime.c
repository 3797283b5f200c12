/*
 * mime.c — a file name's MIME type by extension, as Go's mime package on
 * Unix: a built-in table of the common web types, then /etc/mime.types
 * (Debian's media-types) read once, whose entries win. Text types without
 * a charset get "; charset=utf-8", as Go's setExtensionType adds it.
 * Lookups fold the extension to lower case (Go tries it as given, then
 * lowered; the system files hold lower case only).
 *
 * The table is filled once (goc_once_do) and never changes after, so
 * lookups take no lock: the once orders the filling before every reader.
 * Reading /etc/mime.types is a small, page-cached file read once per
 * process, done with plain read(2) on the caller's thread rather than the
 * blocking pool (no goroutine parks inside the once). Its memory lives as
 * long as the process.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http/http.h"

#define MIME_SLOTS   4096 /* power of two, well above Debian's ~1300 extensions */
#define MIME_EXT_MAX 32

typedef struct mime_ent {
    const char *ext; /* lower case, without the dot; NULL: empty slot */
    const char *type;
} mime_ent;

static mime_ent table[MIME_SLOTS];
static size_t used;
static goc_once once;

static const char *const builtin[][2] = {
    {"avif", "image/avif"},
    {"css", "text/css; charset=utf-8"},
    {"gif", "image/gif"},
    {"htm", "text/html; charset=utf-8"},
    {"html", "text/html; charset=utf-8"},
    {"ico", "image/vnd.microsoft.icon"},
    {"jpeg", "image/jpeg"},
    {"jpg", "image/jpeg"},
    {"js", "text/javascript; charset=utf-8"},
    {"json", "application/json"},
    {"mjs", "text/javascript; charset=utf-8"},
    {"mp4", "video/mp4"},
    {"pdf", "application/pdf"},
    {"png", "image/png"},
    {"svg", "image/svg+xml"},
    {"txt", "text/plain; charset=utf-8"},
    {"wasm", "application/wasm"},
    {"webp", "image/webp"},
    {"woff", "font/woff"},
    {"woff2", "font/woff2"},
    {"xml", "text/xml; charset=utf-8"},
    {"gz", "application/gzip"},
    {"zip", "application/zip"},
};

static size_t hash(const char *s)
{
    size_t h = 2166136261u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* Insert or replace ext's type; a full table keeps what it has. */
static void put(const char *ext, const char *type)
{
    for (size_t i = hash(ext) & (MIME_SLOTS - 1);; i = (i + 1) & (MIME_SLOTS - 1)) {
        if (!table[i].ext) {
            if (used + 1 >= MIME_SLOTS / 2)
                return; /* keep probes short: a table half full is enough */
            table[i] = (mime_ent){ext, type};
            used++;
            return;
        }
        if (strcmp(table[i].ext, ext) == 0) {
            table[i].type = type;
            return;
        }
    }
}

/* type as Go stores it: text types get a charset. NULL on ENOMEM. */
static const char *with_charset(const char *type)
{
    if (strncmp(type, "text/", 5) != 0 || strstr(type, "charset="))
        return type;
    size_t n = strlen(type);
    char *s = malloc(n + sizeof "; charset=utf-8");
    if (s) {
        memcpy(s, type, n);
        memcpy(s + n, "; charset=utf-8", sizeof "; charset=utf-8");
    }
    return s;
}

/* The whole file in a malloc'ed, NUL-terminated buffer, or NULL. */
static char *slurp(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n + 1 == cap) {
            char *b = realloc(buf, cap *= 2);
            if (!b) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = b;
        }
        ssize_t k = read(fd, buf + n, cap - n - 1);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        n += (size_t)k;
    }
    close(fd);
    if (buf)
        buf[n] = '\0';
    return buf;
}

/* One line "type ext ext ... [# comment]", cut in place. */
static void parse_line(char *line)
{
    const char *sep = " \t\r";
    char *save = NULL;
    char *type = strtok_r(line, sep, &save);
    if (!type || type[0] == '#' || !strchr(type, '/'))
        return;
    const char *stored = NULL;
    for (char *ext; (ext = strtok_r(NULL, sep, &save)) != NULL;) {
        if (ext[0] == '#')
            break;
        if (strlen(ext) >= MIME_EXT_MAX)
            continue;
        if (!stored && !(stored = with_charset(type)))
            return;
        for (char *c = ext; *c; c++)
            if (*c >= 'A' && *c <= 'Z')
                *c += 'a' - 'A';
        put(ext, stored);
    }
}

static void load(void *arg)
{
    (void)arg;
    for (size_t i = 0; i < sizeof builtin / sizeof builtin[0]; i++)
        put(builtin[i][0], builtin[i][1]);
    char *text = slurp("/etc/mime.types"); /* kept: the table points into it */
    if (!text)
        return;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
        parse_line(line);
}

const char *goc_http_mime_type(const char *name)
{
    if (!name)
        return NULL;
    const char *slash = strrchr(name, '/');
    const char *dot = strrchr(slash ? slash : name, '.');
    if (!dot || !dot[1] || strlen(dot + 1) >= MIME_EXT_MAX)
        return NULL;
    char ext[MIME_EXT_MAX];
    size_t n = 0;
    for (const char *c = dot + 1; *c; c++)
        ext[n++] = (*c >= 'A' && *c <= 'Z') ? (char)(*c + ('a' - 'A')) : *c;
    ext[n] = '\0';
    goc_once_do(&once, load, NULL);
    for (size_t i = hash(ext) & (MIME_SLOTS - 1); table[i].ext; i = (i + 1) & (MIME_SLOTS - 1))
        if (strcmp(table[i].ext, ext) == 0)
            return table[i].type;
    return NULL;
}
