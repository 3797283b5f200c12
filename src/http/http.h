/*
 * http.h — what the HTTP layer's files share: the header map, the request
 * arena, the response writer's layout and its ops for wrapper writers, and
 * the statistics hooks the connection loop calls.
 *
 * Ownership (the layer's one rule): no goroutine, fd or buffer outlives
 * its request or its connection. A request's memory comes from its arena
 * (goc__http_alloc) and is freed in one step when the request ends; a
 * connection's buffers are freed when its goroutine ends; a goroutine a
 * handler or wrapper starts is waited for before the request ends.
 *
 * Threads: a request, its writer and its arena belong to the goroutine
 * running the handler; nothing here is locked.
 */
#ifndef GOC_HTTP_INTERNAL_H
#define GOC_HTTP_INTERNAL_H

#include <goc/http.h>

#include "http/parse.h"
#include "runtime/park.h" /* goc__errorf, goc__pid */

/* ---- the request arena ------------------------------------------------- */

/* A bump allocator freed in one step: the first block lives in the
 * connection (reused by every request), more come from malloc and go back
 * when the request ends (goc__arena_reset). */
typedef struct goc__arena_blk goc__arena_blk;
typedef struct goc__arena {
    char *cur, *end;      /* free space of the current block */
    goc__arena_blk *more; /* malloc'ed blocks beyond the first */
    char *first;          /* the first block, size first_size (not owned) */
    size_t first_size;
} goc__arena;

void goc__arena_init(goc__arena *a, char *first, size_t size);
/* n bytes aligned to 16, or NULL on ENOMEM. */
void *goc__arena_alloc(goc__arena *a, size_t n);
/* A copy of s[0, n) with a NUL after it, or NULL. */
char *goc__arena_strndup(goc__arena *a, const char *s, size_t n);
/* Free every block but the first and start over in it. */
void goc__arena_reset(goc__arena *a);

/* ---- the header map ----------------------------------------------------- */

typedef struct goc__hentry {
    const char *name, *value; /* NUL-terminated */
    uint32_t name_len, value_len;
} goc__hentry;

/* Entries in order; deleted ones are removed (order kept). The entries'
 * array and strings come from arena (or point into a request's head). */
struct goc_http_header {
    goc__hentry *v;
    uint32_t n, cap;
    goc__arena *arena;
};

void goc__http_header_init(goc_http_header *h, goc__arena *arena);
/* Append without copying or checking: name and value must stay valid as
 * long as h (a request's head, static strings). 0 or -ENOMEM. */
int goc__http_header_push(goc_http_header *h, const char *name, uint32_t name_len,
                          const char *value, uint32_t value_len);
/* Case-insensitive ASCII comparison of a and b (n bytes each). */
bool goc__http_token_eq(const char *a, const char *b, size_t n);
/* The index of the first entry named name (len n), or -1. */
int goc__http_header_find(const goc_http_header *h, const char *name, size_t n);

/* ---- the request's private part ------------------------------------------ */

typedef struct goc__http_conn goc__http_conn;

/* Path values set by a mux ({name} segments). */
typedef struct goc__pathval {
    const char *name, *value;
} goc__pathval;

struct goc__http_req {
    goc__http_conn *conn;
    goc__arena *arena;
    goc_http_request *pub;
    goc_ctx *ctx;          /* created on first goc_http_request_ctx */
    goc_ctx *ctx_override; /* goc_http_request_set_ctx's (borrowed), or NULL */
    goc__pathval *pathvals;
    uint32_t npathvals, pathvals_cap;
    /* Held around each body read when set: a wrapper whose own writes to
     * the connection may run beside the handler's body reads (timeout.c)
     * sets it to the lock it writes under. NULL: none. */
    goc_mutex *bodymu;
    /* query and form values, parsed on first use (query.c) */
    void *query, *form;
    bool form_parsed;
};

/* Memory that lives until the request ends; NULL on ENOMEM. */
static inline void *goc__http_alloc(goc_http_request *r, size_t n)
{
    return goc__arena_alloc(r->priv_->arena, n);
}

/* ---- the response writer -------------------------------------------------
 *
 * The connection's own writer has ops == NULL. A wrapper (TimeoutHandler's
 * buffer, a user's middleware in C) sets ops; then every public writer
 * call goes to ops, and the other members are the wrapper's to use except
 * header and trailer, which the public calls hand out. */
typedef struct goc__http_rw_ops {
    int (*write_header)(goc_http_response_writer *w, int code);
    ssize_t (*write)(goc_http_response_writer *w, const void *p, size_t n);
    int (*flush)(goc_http_response_writer *w);
    ssize_t (*sendfile)(goc_http_response_writer *w, int fd, off_t off, size_t n);
    int (*hijack)(goc_http_response_writer *w, int *fd, char **buffered, size_t *nbuf);
    /* goc_http_abort: a wrapper must pass it on (and never keep or finish
     * what it holds); NULL: ignored, so the client may see a response cut
     * short as complete. */
    void (*abort)(goc_http_response_writer *w);
} goc__http_rw_ops;

struct goc_http_response_writer {
    const goc__http_rw_ops *ops; /* NULL: the connection's writer */
    goc_http_header header;
    goc_http_header trailer;
    int status;           /* final status once written (>= 200), else 0 */
    int64_t written;      /* body bytes accepted from the handler */
    goc__http_conn *conn; /* NULL for a wrapper */
};

/* Initialise a wrapper writer (its header maps in r's arena). */
void goc__http_rw_init(goc_http_response_writer *w, goc_http_request *r,
                       const goc__http_rw_ops *ops);

/* ---- statistics hooks (stats.c), called by the connection loop -----------
 *
 * Cheap: a relaxed add to a counter of the calling worker's own. */
void goc__hstat_conn_open(void);
void goc__hstat_conn_close(void);
void goc__hstat_idle(int delta);   /* +1 entering keep-alive wait, -1 leaving */
void goc__hstat_active(int delta); /* +1 a handler starts, -1 it returns */
/* A request answered: its final status (0 if the connection closed before
 * a status was written), latency in ns, bytes read and written for it. */
void goc__hstat_request(int status, int64_t ns, uint64_t in, uint64_t out);
void goc__hstat_rejected(int status); /* refused by the parser */

/* ---- small helpers shared by the layer --------------------------------- */

/* pread, straight from the page cache when the bytes are there
 * (preadv2 RWF_NOWAIT), else on the blocking pool (goc_pread): a cached
 * file costs no thread hop (writer.c; the copy paths of sendfile in
 * writer.c, gzip.c and tls.c). */
ssize_t goc__http_pread_cached(int fd, void *buf, size_t n, off_t off);

/* io.ReadAll with a bound (readall.c): read(arg, buf, n) until it returns
 * 0, into *data (malloc'ed, NUL-terminated; its length in *len, which may
 * be NULL). hint: the length expected (-1: unknown). 0, or read's error,
 * -ENOMEM, or GOC_EHTTP_BODY_TOO_LARGE past max bytes (goc_errmsg not
 * set: the caller says whose body). */
int goc__http_read_all(ssize_t (*read)(void *arg, void *buf, size_t n), void *arg, int64_t hint,
                       size_t max, char **data, size_t *len);

/* Percent-decode s[0, n) into out (room for n + 1): the length, or -1 for
 * a malformed escape. plus: '+' means a space (query strings). */
ssize_t goc__http_unescape(const char *s, size_t n, char *out, bool plus);
/* Go's html.EscapeString for one byte: its entity (& < > " '), or NULL
 * if it stands for itself (reply.c). */
const char *goc__http_html_entity(char ch);
/* The Date field's value for now (cached once a second): 29 bytes. */
const char *goc__http_date(void);
/* An HTTP-date (IMF-fixdate, RFC 9110 5.6.7) for t in buf[30]. */
void goc__http_format_time(time_t t, char buf[30]);
/* Parse an HTTP-date (IMF-fixdate, RFC 850, asctime): 0 and *t, or -EINVAL. */
int goc__http_parse_time(const char *s, time_t *t);

#endif /* GOC_HTTP_INTERNAL_H */
