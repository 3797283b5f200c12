/*
 * test_accesslog.c — the JSON access log (gateway/accesslog.c): every
 * field as written, JSON escaping of what clients control, the time
 * format, error left out when NULL, appending to an existing file, "-"
 * for stdout, an open error, and 4 goroutines × 500 long lines at once
 * giving 2000 whole lines that each parse.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <jansson.h>
#include <regex.h>
#include <sys/stat.h>

#include "gateway.h"
#include "runtime/util.h"

static char dir[] = "/tmp/gw_accesslog_XXXXXX";

static void make_dir(void)
{
    cr_assert(mkdtemp(dir), "mkdtemp");
}

static void remove_dir(const char *file)
{
    unlink(file);
    rmdir(dir);
}

/* The whole file, malloc'ed and NUL-terminated. */
static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert(f, "open %s", path);
    char *p = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n + 4096 + 1 > cap)
            p = realloc(p, cap = 2 * cap + 8192);
        size_t k = fread(p + n, 1, 4096, f);
        if (k == 0)
            break;
        n += k;
    }
    fclose(f);
    p[n] = '\0';
    if (len)
        *len = n;
    return p;
}

static const gw_access_entry full = {
    .remote = "127.0.0.1:50312",
    .method = "GET",
    .host = "example.com",
    .target = "/a \"b\"\\c\n\x01?q=1",
    .proto = "HTTP/1.1",
    .route = "api",
    .upstream = "backend",
    .target_addr = "10.0.0.1:80",
    .status = 502,
    .bytes = 12345,
    .latency = 1234567, /* 1.234567 ms: printed as 1.234 */
    .attempts = 2,
    .cache = "MISS",
    .error = "dial tcp 10.0.0.1:80: connection refused",
};

static char path[256];

static int fields_main(void *arg)
{
    (void)arg;
    gw_access_log *l;
    GO_CHECK(gw_access_log_open(path, &l) == 0, "open");
    gw_access_log_write(l, &full);
    gw_access_entry e = full;
    e.error = NULL;
    e.cache = NULL;
    e.route = NULL;
    e.latency = 5 * GOC_SECOND + 7000; /* 5000.007 ms */
    gw_access_log_write(l, &e);
    gw_access_log_close(l);
    return 0;
}

static void check_full(json_t *j, const char *line)
{
    cr_assert(j, "not JSON: %s", line);
    const struct {
        const char *key, *want;
    } s[] = {{"remote", full.remote}, {"method", "GET"},         {"host", full.host},
             {"uri", full.target},    {"proto", "HTTP/1.1"},     {"route", "api"},
             {"upstream", "backend"}, {"target", "10.0.0.1:80"}, {"cache", "MISS"},
             {"error", full.error}};
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) {
        const char *v = json_string_value(json_object_get(j, s[i].key));
        cr_assert(v && strcmp(v, s[i].want) == 0, "%s: %s in %s", s[i].key, v, line);
    }
    cr_assert_eq(json_integer_value(json_object_get(j, "status")), 502);
    cr_assert_eq(json_integer_value(json_object_get(j, "bytes")), 12345);
    cr_assert_eq(json_integer_value(json_object_get(j, "attempts")), 2);
    cr_assert(strstr(line, "\"duration_ms\":1.234,"), "%s", line);
    const char *t = json_string_value(json_object_get(j, "time"));
    regex_t re;
    regcomp(&re, "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z$",
            REG_EXTENDED | REG_NOSUB);
    cr_assert(t && regexec(&re, t, 0, NULL, 0) == 0, "time %s", t);
    regfree(&re);
    struct tm tm = {0};
    strptime(t, "%Y-%m-%dT%H:%M:%S", &tm);
    time_t when = timegm(&tm), now = time(NULL);
    cr_assert(when <= now + 1 && when >= now - 60, "time %s is not now (UTC)", t);
}

Test(gateway_accesslog, fields, .timeout = 30)
{
    make_dir();
    snprintf(path, sizeof path, "%s/access.log", dir);
    run_main(fields_main, NULL);
    char *text = slurp(path, NULL);
    char *nl = strchr(text, '\n');
    cr_assert(nl && nl[1] && strchr(nl + 1, '\n') && !strchr(nl + 1, '\n')[1], "two lines: %s",
              text);
    *nl = '\0';
    json_t *j = json_loads(text, 0, NULL);
    check_full(j, text);
    json_decref(j);

    char *second = nl + 1;
    json_t *k = json_loads(second, JSON_DISABLE_EOF_CHECK, NULL);
    cr_assert(k, "not JSON: %s", second);
    cr_assert(json_object_get(k, "error") == NULL, "error written when NULL: %s", second);
    cr_assert(json_is_null(json_object_get(k, "cache")) &&
                  json_is_null(json_object_get(k, "route")),
              "%s", second);
    cr_assert(strstr(second, "\"duration_ms\":5000.007,"), "%s", second);
    json_decref(k);
    free(text);

    /* opened again: appended to, not truncated */
    run_main(fields_main, NULL);
    text = slurp(path, NULL);
    int lines = 0;
    for (char *p = text; (p = strchr(p, '\n')); p++)
        lines++;
    cr_assert_eq(lines, 4, "%s", text);
    free(text);
    struct stat st;
    mode_t mask = umask(0);
    umask(mask);
    cr_assert(stat(path, &st) == 0 && (st.st_mode & 0777) == (0644 & ~mask), "mode %o",
              st.st_mode & 0777);
    remove_dir(path);
}

/* ---- "-" and errors ------------------------------------------------------ */

static int stdout_main(void *arg)
{
    (void)arg;
    gw_access_log *l = (gw_access_log *)1;
    GO_CHECK(gw_access_log_open("/nonexistent-dir/x/access.log", &l) == -ENOENT && l == NULL,
             "open in a missing directory");
    GO_CHECK(gw_access_log_open("-", &l) == 0, "open -");
    gw_access_log_write(l, &full);
    gw_access_log_close(l); /* must not close stdout */
    GO_CHECK(fcntl(STDOUT_FILENO, F_GETFD) >= 0, "stdout closed");
    return 0;
}

Test(gateway_accesslog, stdout_and_errors, .timeout = 30)
{
    make_dir();
    snprintf(path, sizeof path, "%s/stdout", dir);
    fflush(stdout);
    int saved = dup(STDOUT_FILENO);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    cr_assert(saved >= 0 && fd >= 0);
    dup2(fd, STDOUT_FILENO);
    close(fd);
    run_main(stdout_main, NULL);
    dup2(saved, STDOUT_FILENO);
    close(saved);
    char *text = slurp(path, NULL);
    char *nl = strchr(text, '\n');
    cr_assert(nl && !nl[1], "one line: %s", text);
    *nl = '\0';
    json_t *j = json_loads(text, 0, NULL);
    check_full(j, text);
    json_decref(j);
    free(text);
    remove_dir(path);
}

/* ---- concurrent writers -------------------------------------------------- */

#define WRITERS 4
#define LINES   500

static gw_access_log *shared;
static goc_waitgroup wg;

/* Lines of ~6 KiB (more than PIPE_BUF, so a split write would show),
 * each saying who wrote it: attempts = writer, bytes = line number. */
static void writer(void *arg)
{
    int id = (int)(intptr_t)arg;
    static char uri[WRITERS][6000];
    memset(uri[id], 'a' + id, sizeof uri[id] - 1);
    uri[id][0] = '/';
    gw_access_entry e = full;
    e.target = uri[id];
    e.attempts = id;
    for (int i = 0; i < LINES; i++) {
        e.bytes = i;
        gw_access_log_write(shared, &e);
        if (i % 50 == 0)
            goc_yield();
    }
    goc_waitgroup_done(&wg);
}

static int concurrent_main(void *arg)
{
    GO_CHECK(gw_access_log_open(arg, &shared) == 0, "open %s", (const char *)arg);
    goc_waitgroup_add(&wg, WRITERS);
    for (int i = 0; i < WRITERS; i++)
        GO_SPAWN(writer, (intptr_t)i);
    goc_waitgroup_wait(&wg);
    gw_access_log_close(shared);
    return 0;
}

/* text holds WRITERS × LINES whole lines, each writer's lines once. */
static void check_lines(char *text)
{
    static bool seen[WRITERS][LINES];
    memset(seen, 0, sizeof seen);
    int lines = 0;
    for (char *p = text, *nl; *p; p = nl + 1) {
        nl = strchr(p, '\n');
        cr_assert(nl, "last line cut short");
        *nl = '\0';
        json_t *j = json_loads(p, 0, NULL);
        cr_assert(j, "line %d is not JSON (interleaved?): %.200s", lines + 1, p);
        int id = (int)json_integer_value(json_object_get(j, "attempts"));
        int i = (int)json_integer_value(json_object_get(j, "bytes"));
        const char *uri = json_string_value(json_object_get(j, "uri"));
        cr_assert(id >= 0 && id < WRITERS && i >= 0 && i < LINES && !seen[id][i], "line %d",
                  lines + 1);
        cr_assert(uri && strlen(uri) == 5999 && uri[5998] == 'a' + id, "uri of writer %d", id);
        seen[id][i] = true;
        json_decref(j);
        lines++;
    }
    cr_assert_eq(lines, WRITERS * LINES);
}

Test(gateway_accesslog, concurrent_writers_file, .timeout = 60)
{
    make_dir();
    snprintf(path, sizeof path, "%s/access.log", dir);
    run_main(concurrent_main, path);
    char *text = slurp(path, NULL);
    check_lines(text);
    free(text);
    remove_dir(path);
}

/* A pipe (as stdout often is) splits writes above PIPE_BUF between
 * concurrent writers: only the log's own lock keeps these lines whole. */
typedef struct drain {
    int fd;
    char *p;
    size_t len, cap;
} drain;

static void *drain_pipe(void *arg)
{
    drain *d = arg;
    for (;;) {
        if (d->len + 65536 + 1 > d->cap)
            d->p = realloc(d->p, d->cap = 2 * d->cap + 65536 + 1);
        ssize_t n = read(d->fd, d->p + d->len, 65536);
        if (n <= 0)
            break;
        d->len += (size_t)n;
    }
    d->p[d->len] = '\0';
    return NULL;
}

Test(gateway_accesslog, concurrent_writers_pipe, .timeout = 60)
{
    int fds[2];
    cr_assert(pipe(fds) == 0);
    /* one page: every ~6 KiB line waits for the reader midway, when another
     * writer could slip in */
    fcntl(fds[1], F_SETPIPE_SZ, 4096);
    fflush(stdout);
    int saved = dup(STDOUT_FILENO);
    dup2(fds[1], STDOUT_FILENO);
    close(fds[1]);
    drain d = {.fd = fds[0]};
    pthread_t t = start_thread(drain_pipe, &d);
    run_main(concurrent_main, "-");
    dup2(saved, STDOUT_FILENO); /* the pipe's last writer gone: the drain sees its end */
    close(saved);
    pthread_join(t, NULL);
    close(fds[0]);
    check_lines(d.p);
    free(d.p);
}
