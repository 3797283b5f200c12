/*
 * services.c — named ports ("http", "https", "ssh"), as Go's LookupPort.
 *
 * /etc/services is read once, the first time a name is looked up (a small
 * local file: Go reads it the same way), into a table of (name, protocol,
 * port); a short built-in table, the one Go carries, answers the common
 * names on machines without the file (Debian's netbase is not always
 * installed in containers). Names compare case-insensitively; aliases
 * count. The table is never freed: it is small and lives as long as the
 * process may dial.
 */
#include "net/addr.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct service {
    char *name;
    int socktype; /* SOCK_STREAM (tcp) or SOCK_DGRAM (udp) */
    uint16_t port;
} service;

/* Go's fallback table (net/lookup.go). */
static const service builtin[] = {
    {"ftp", SOCK_STREAM, 21},    {"ftps", SOCK_STREAM, 990},  {"gopher", SOCK_STREAM, 70},
    {"http", SOCK_STREAM, 80},   {"https", SOCK_STREAM, 443}, {"imap2", SOCK_STREAM, 143},
    {"imap3", SOCK_STREAM, 220}, {"imaps", SOCK_STREAM, 993}, {"pop3", SOCK_STREAM, 110},
    {"pop3s", SOCK_STREAM, 995}, {"smtp", SOCK_STREAM, 25},   {"submissions", SOCK_STREAM, 465},
    {"ssh", SOCK_STREAM, 22},    {"telnet", SOCK_STREAM, 23}, {"domain", SOCK_DGRAM, 53},
};

static service *table; /* from /etc/services; written once under once */
static size_t ntable;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void add(service **t, size_t *n, size_t *cap, const char *name, int socktype, unsigned port)
{
    if (*n == *cap) {
        size_t nc = *cap ? 2 * *cap : 256;
        service *nt = realloc(*t, nc * sizeof *nt);
        if (!nt)
            return; /* out of memory: the built-in table still answers */
        *t = nt, *cap = nc;
    }
    char *copy = strdup(name);
    if (!copy)
        return;
    (*t)[(*n)++] = (service){copy, socktype, (uint16_t)port};
}

/* "name port/proto alias... # comment" */
static void parse_line(char *line, service **t, size_t *n, size_t *cap)
{
    char *hash = strchr(line, '#');
    if (hash)
        *hash = '\0';
    char *save, *name = strtok_r(line, " \t\r\n", &save);
    char *pp = name ? strtok_r(NULL, " \t\r\n", &save) : NULL;
    if (!pp)
        return;
    char *slash = strchr(pp, '/'), *end;
    if (!slash)
        return;
    *slash = '\0';
    unsigned long port = strtoul(pp, &end, 10);
    if (*end || end == pp || port > 65535)
        return;
    int socktype = strcmp(slash + 1, "tcp") == 0   ? SOCK_STREAM
                   : strcmp(slash + 1, "udp") == 0 ? SOCK_DGRAM
                                                   : 0;
    if (!socktype)
        return;
    for (char *alias = name; alias; alias = strtok_r(NULL, " \t\r\n", &save))
        add(t, n, cap, alias, socktype, (unsigned)port);
}

static void load(void)
{
    FILE *f = fopen("/etc/services", "re");
    if (!f)
        return;
    service *t = NULL;
    size_t n = 0, cap = 0;
    char line[512];
    while (fgets(line, sizeof line, f))
        parse_line(line, &t, &n, &cap);
    fclose(f);
    table = t;
    ntable = n;
}

static int find(const service *t, size_t n, const char *name, int socktype)
{
    for (size_t i = 0; i < n; i++)
        if (t[i].socktype == socktype && strcasecmp(t[i].name, name) == 0)
            return t[i].port;
    return -1;
}

int goc__lookup_port(const char *name, int socktype, uint16_t *port)
{
    pthread_once(&once, load);
    int p = find(table, ntable, name, socktype);
    if (p < 0)
        p = find(builtin, sizeof builtin / sizeof builtin[0], name, socktype);
    if (p < 0)
        return GOC_ENOSERVICE;
    *port = (uint16_t)p;
    return 0;
}
