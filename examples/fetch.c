/*
 * fetch.c — a small curl on goc's HTTP client.
 *
 *   build/examples/fetch [-X METHOD] [-H 'Name: value']... [-d DATA|@FILE]
 *                        [-o FILE] [-v] [--cacert FILE] [-k] [--timeout DUR] URL...
 *
 * The command line is a fixed interface (outside tests drive it). Several
 * URLs are fetched concurrently, one goroutine each; their bodies go to
 * stdout (or -o FILE) in the order of the command line, each as soon as
 * the ones before it are done (a body waiting for its turn is held in
 * memory, then in a temporary file past 4 MiB). -v prints each exchange
 * on stderr ("> " the request, "< " the response head, and "<< trailer "
 * each trailer field once the body has been read). On a terminal, a
 * download of more than 1 MiB to a file shows a progress bar on stderr.
 * --timeout (default 10s; "0" none) bounds the wait for each next byte of
 * a response, so a stalled server cannot hang fetch.
 *
 * Exit status: 0 when every URL answered below 400; 22 (as curl --fail)
 * when one answered 400 or more; 1 on a transport error; 2 for usage.
 */
#include <goc.h>
#include <goc/http.h>
#include <goc/tls.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_HEADERS 64
#define SPILL       (4u << 20)

typedef struct opts {
    const char *method;
    const char *headers[MAX_HEADERS];
    int nheaders;
    char *data; /* -d, read from @FILE if so */
    size_t data_len;
    bool has_data;
    const char *out;
    bool verbose, insecure;
    const char *cacert;
    goc_duration timeout;
    char **urls;
    int nurls;
} opts;

/* One URL's fetch: its body is held until its turn to be written. */
typedef struct job {
    const opts *o;
    goc_http_client *client;
    const char *url;
    int index;
    int result; /* 0, 22 or 1 */
    char *mem;  /* held body, before its turn */
    size_t len, cap;
    FILE *spill;        /* past SPILL */
    goc_chan *turn;     /* closed when the jobs before it are written */
    goc_chan *done;     /* closed when this one is */
    FILE *sink;         /* where bodies go */
    goc_mutex *sink_mu; /* stdout/-o is shared: whole writes under it */
} job;

static void usage(void)
{
    fprintf(stderr, "usage: fetch [-X METHOD] [-H 'Name: value']... [-d DATA|@FILE] [-o FILE] "
                    "[-v] [--cacert FILE] [-k] [--timeout DUR] URL...\n");
    exit(2);
}

/* "10s", "500ms", "2m", "1.5s", or plain seconds. -1 if malformed. */
static goc_duration parse_duration(const char *s)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || v < 0)
        return -1;
    if (strcmp(end, "ms") == 0)
        return (goc_duration)(v * GOC_MILLISECOND);
    if (strcmp(end, "m") == 0)
        return (goc_duration)(v * 60 * GOC_SECOND);
    if (*end == 0 || strcmp(end, "s") == 0)
        return (goc_duration)(v * GOC_SECOND);
    return -1;
}

static void parse_args(int argc, char **argv, opts *o)
{
    o->timeout = 10 * GOC_SECOND;
    int i = 1;
    for (; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
        const char *a = argv[i];
        bool more = i + 1 < argc;
        if (strcmp(a, "-X") == 0 && more) {
            o->method = argv[++i];
        } else if (strcmp(a, "-H") == 0 && more) {
            if (o->nheaders == MAX_HEADERS)
                usage();
            o->headers[o->nheaders++] = argv[++i];
        } else if (strcmp(a, "-d") == 0 && more) {
            const char *d = argv[++i];
            o->has_data = true;
            if (d[0] == '@') {
                int rc = goc_read_file(d + 1, &o->data, &o->data_len);
                if (rc < 0) {
                    fprintf(stderr, "fetch: %s: %s\n", d + 1, goc_strerror(rc));
                    exit(2);
                }
            } else {
                o->data = strdup(d);
                o->data_len = strlen(d);
            }
        } else if (strcmp(a, "-o") == 0 && more) {
            o->out = argv[++i];
        } else if (strcmp(a, "-v") == 0) {
            o->verbose = true;
        } else if (strcmp(a, "-k") == 0 || strcmp(a, "--insecure") == 0) {
            o->insecure = true;
        } else if (strcmp(a, "--cacert") == 0 && more) {
            o->cacert = argv[++i];
        } else if (strcmp(a, "--timeout") == 0 && more) {
            o->timeout = parse_duration(argv[++i]);
            if (o->timeout < 0)
                usage();
        } else {
            usage();
        }
    }
    if (i == argc)
        usage();
    o->urls = argv + i;
    o->nurls = argc - i;
}

/* ---- output in order ----------------------------------------------------- */

static bool my_turn(job *j)
{
    return goc_chan_try_recv(j->turn, NULL) == -EPIPE;
}

static int hold(job *j, const char *p, size_t n)
{
    if (!j->spill && j->len + n > SPILL) {
        j->spill = tmpfile();
        if (!j->spill || fwrite(j->mem, 1, j->len, j->spill) != j->len)
            return -EIO;
        free(j->mem);
        j->mem = NULL;
        j->len = j->cap = 0;
    }
    if (j->spill)
        return fwrite(p, 1, n, j->spill) == n ? 0 : -EIO;
    if (j->len + n > j->cap) {
        size_t cap = j->cap ? j->cap * 2 : 65536;
        while (cap < j->len + n)
            cap *= 2;
        char *m = realloc(j->mem, cap);
        if (!m)
            return -ENOMEM;
        j->mem = m;
        j->cap = cap;
    }
    memcpy(j->mem + j->len, p, n);
    j->len += n;
    return 0;
}

static int emit(job *j, const char *p, size_t n)
{
    goc_mutex_lock(j->sink_mu);
    size_t w = fwrite(p, 1, n, j->sink);
    goc_mutex_unlock(j->sink_mu);
    return w == n ? 0 : -EIO;
}

/* Write what was held back, once it is this job's turn. */
static int release_held(job *j)
{
    int rc = j->len ? emit(j, j->mem, j->len) : 0;
    free(j->mem);
    j->mem = NULL;
    j->len = j->cap = 0;
    if (j->spill) {
        char buf[65536];
        size_t n;
        rewind(j->spill);
        while (rc == 0 && (n = fread(buf, 1, sizeof buf, j->spill)) > 0)
            rc = emit(j, buf, n);
        fclose(j->spill);
        j->spill = NULL;
    }
    return rc;
}

static int body_out(job *j, const char *p, size_t n, bool *released)
{
    if (!*released && my_turn(j)) {
        *released = true;
        int rc = release_held(j);
        if (rc < 0)
            return rc;
    }
    return *released ? emit(j, p, n) : hold(j, p, n);
}

/* ---- one fetch ------------------------------------------------------------- */

static void progress(int64_t got, int64_t total, int64_t t0, bool last)
{
    double secs = (double)(goc_now() - t0) / GOC_SECOND;
    double rate = secs > 0 ? (double)got / secs : 0;
    int pct = total > 0 ? (int)(got * 100 / total) : 0;
    char bar[31];
    int fill = total > 0 ? pct * 30 / 100 : 0;
    for (int i = 0; i < 30; i++)
        bar[i] = i < fill ? '#' : ' ';
    bar[30] = 0;
    if (total > 0)
        fprintf(stderr, "\r[%s] %3d%% %8.1f MiB %8.1f MiB/s", bar, pct, got / 1048576.0,
                rate / 1048576.0);
    else
        fprintf(stderr, "\r%8.1f MiB %8.1f MiB/s", got / 1048576.0, rate / 1048576.0);
    if (last)
        fputc('\n', stderr);
}

static void print_request(const job *j, goc_http_client_request *req, const char *method)
{
    goc_http_header *h = goc_http_client_request_header(req);
    fprintf(stderr, "> %s %s\n", method, j->url);
    for (size_t i = 0; i < goc_http_header_len(h); i++) {
        const char *n, *v;
        goc_http_header_at(h, i, &n, &v);
        fprintf(stderr, "> %s: %s\n", n, v);
    }
    fprintf(stderr, ">\n");
}

static void print_response(const goc_http_response *resp)
{
    fprintf(stderr, "< %s %s\n", resp->proto, resp->status);
    for (size_t i = 0; i < goc_http_header_len(resp->header); i++) {
        const char *n, *v;
        goc_http_header_at(resp->header, i, &n, &v);
        fprintf(stderr, "< %s: %s\n", n, v);
    }
    fprintf(stderr, "<\n");
}

static void print_trailer(goc_http_header *t)
{
    for (size_t i = 0; i < goc_http_header_len(t); i++) {
        const char *n, *v;
        goc_http_header_at(t, i, &n, &v);
        fprintf(stderr, "<< trailer %s: %s\n", n, v);
    }
}

static int add_header(goc_http_client_request *req, const char *line)
{
    const char *colon = strchr(line, ':');
    if (!colon || colon == line)
        return -EINVAL;
    char name[256];
    size_t nl = (size_t)(colon - line);
    if (nl >= sizeof name)
        return -EINVAL;
    memcpy(name, line, nl);
    name[nl] = 0;
    const char *v = colon + 1;
    while (*v == ' ' || *v == '\t')
        v++;
    return goc_http_header_add(goc_http_client_request_header(req), name, v);
}

static int fetch_one(job *j)
{
    const opts *o = j->o;
    const char *method = o->method ? o->method : o->has_data ? "POST" : "GET";
    goc_http_client_request *req;
    int rc = goc_http_new_request(NULL, method, j->url, &req);
    if (rc < 0) {
        fprintf(stderr, "fetch: %s\n", goc_errmsg());
        return 1;
    }
    for (int i = 0; i < o->nheaders && rc == 0; i++)
        if ((rc = add_header(req, o->headers[i])) < 0)
            fprintf(stderr, "fetch: bad header \"%s\"\n", o->headers[i]);
    if (rc == 0 && o->has_data) {
        goc_http_header *h = goc_http_client_request_header(req);
        if (!goc_http_header_get(h, "Content-Type"))
            goc_http_header_set(h, "Content-Type", "application/x-www-form-urlencoded");
        rc = goc_http_client_request_set_body(req, o->data, o->data_len);
    }
    if (rc < 0) {
        goc_http_client_request_free(req);
        return 1;
    }
    if (o->verbose)
        print_request(j, req, method);
    goc_http_response *resp;
    rc = goc_http_client_do(j->client, req, &resp);
    goc_http_client_request_free(req);
    if (rc < 0) {
        fprintf(stderr, "fetch: %s\n", goc_errmsg());
        return 1;
    }
    if (o->verbose)
        print_response(resp);
    bool bar = o->nurls == 1 && isatty(2) && (o->out || !isatty(1)) &&
               (resp->content_length < 0 || resp->content_length > (1 << 20));
    int64_t got = 0, t0 = goc_now(), shown = 0;
    bool released = false;
    static char buf[4][65536];
    char *b = buf[j->index % 4];
    char *heap = j->index >= 4 ? malloc(65536) : NULL;
    if (heap)
        b = heap;
    ssize_t n;
    int result = resp->status_code >= 400 ? 22 : 0;
    while ((n = goc_http_response_read(resp, b, 65536)) > 0) {
        if (body_out(j, b, (size_t)n, &released) < 0) {
            fprintf(stderr, "fetch: write: %s\n", strerror(errno));
            result = 1;
            break;
        }
        got += n;
        if (bar && goc_now() - shown > 200 * GOC_MILLISECOND) {
            progress(got, resp->content_length, t0, false);
            shown = goc_now();
        }
    }
    if (n < 0) {
        fprintf(stderr, "fetch: %s: %s\n", j->url, goc_errmsg());
        result = 1;
    }
    if (o->verbose && n == 0 && resp->trailer)
        print_trailer(resp->trailer);
    if (bar)
        progress(got, resp->content_length, t0, true);
    free(heap);
    goc_http_response_free(resp);
    if (!released) {
        goc_chan_recv(j->turn, NULL); /* wait for the ones before */
        if (release_held(j) < 0)
            result = 1;
    }
    return result;
}

static void run_job(void *arg)
{
    job *j = arg;
    j->result = fetch_one(j);
    goc_chan_recv(j->turn, NULL);
    goc_mutex_lock(j->sink_mu);
    fflush(j->sink);
    goc_mutex_unlock(j->sink_mu);
    goc_chan_close(j->done);
}

static int fetch_main(void *arg)
{
    opts *o = arg;
    goc_http_client_opts co = {.stall_timeout = o->timeout > 0 ? o->timeout : -1};
    goc_tls_config *tls = NULL;
    if (o->cacert || o->insecure) {
        goc_tls_opts to = {
            .ca_file = o->cacert, .insecure_skip_verify = o->insecure, .alpn = "http/1.1"};
        int err = 0;
        tls = goc_tls_client_config_new(&to, &err);
        if (!tls) {
            fprintf(stderr, "fetch: %s\n", goc_errmsg());
            return 1;
        }
        co.tls = tls;
    }
    goc_http_client *client = goc_http_client_new(&co);
    FILE *sink = stdout;
    if (o->out && !(sink = fopen(o->out, "wb"))) {
        fprintf(stderr, "fetch: %s: %s\n", o->out, strerror(errno));
        return 1;
    }
    static goc_mutex sink_mu;
    job *jobs = calloc((size_t)o->nurls, sizeof *jobs);
    if (!client || !jobs)
        return 1;
    goc_chan *prev = goc_chan_make(0, 0);
    goc_chan_close(prev); /* the first one's turn is now */
    for (int i = 0; i < o->nurls; i++) {
        jobs[i] = (job){.o = o,
                        .client = client,
                        .url = o->urls[i],
                        .index = i,
                        .turn = prev,
                        .done = goc_chan_make(0, 0),
                        .sink = sink,
                        .sink_mu = &sink_mu};
        prev = jobs[i].done;
        goc_go(run_job, &jobs[i]);
    }
    int status = 0;
    for (int i = 0; i < o->nurls; i++) {
        goc_chan_recv(jobs[i].done, NULL);
        if (jobs[i].result == 1 || (jobs[i].result == 22 && status == 0))
            status = jobs[i].result;
    }
    for (int i = 0; i < o->nurls; i++) {
        goc_chan_release(jobs[i].turn);
    }
    goc_chan_release(prev);
    if (sink != stdout && fclose(sink) != 0)
        status = 1;
    free(jobs);
    goc_http_client_free(client);
    goc_tls_config_release(tls);
    return status;
}

int main(int argc, char **argv)
{
    opts o = {0};
    parse_args(argc, argv, &o);
    int rc = goc_run(fetch_main, &o);
    free(o.data);
    return rc;
}
