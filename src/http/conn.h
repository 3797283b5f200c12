/*
 * conn.h — the server's connection and what its files share: conn.c (the
 * connection's life), writer.c (the ResponseWriter), body.c (the request
 * body reader and the request's context), server.c (accept, shutdown).
 *
 * A connection is served by one goroutine from accept to close; every
 * member below belongs to that goroutine unless it says otherwise. The
 * server's lock (srv->mu) guards the members it names, so that shutdown
 * and close, running on other goroutines, can see and nudge connections.
 */
#ifndef GOC_HTTP_CONN_H
#define GOC_HTTP_CONN_H

#include "http/http.h"

struct goc_http_server {
    goc_http_handler h;
    /* Options resolved: <= 0 means none. Read-only once serving. */
    goc_duration read_header_timeout, read_timeout, write_timeout, idle_timeout;
    size_t max_header_bytes;
    char *server_line; /* "Server: NAME\r\n" or NULL (malloc'ed) */
    size_t server_line_len;
    goc_http_server_opts opts;

    goc_tls_config *tls; /* HTTPS when set (a reference); set before serving */

    goc_mutex mu;          /* guards the members below and conn->state/ctx/prev/next */
    goc__http_conn *conns; /* every connection not yet closed, a list */
    size_t nconns;
    int lfd;           /* the listener while serving, else -1 */
    bool shutting;     /* shutdown or close began: no new requests after idle (also
                          read unlocked, relaxed, as a hint: writer.c) */
    bool closed;       /* close: every connection is being cut */
    goc_chan *drained; /* closed when nconns reaches 0 after shutting */
    char addr[64];
};

/* Body framing state of the request being served (conn.body). */
enum { CBODY_NONE = 0, CBODY_LENGTH, CBODY_CHUNKED, CBODY_DONE, CBODY_ERROR };

#define GOC__HTTP_BBUF   4096 /* a response body up to this is sent with Content-Length */
#define GOC__HTTP_ARENA0 2048 /* the arena's first block, in the connection */

struct goc__http_conn {
    goc_http_server *srv;
    int fd;
    goc_tls_conn *tls;           /* HTTPS: every byte of the conversation goes through it */
    goc__http_conn *prev, *next; /* srv->conns (srv->mu) */
    goc_http_conn_state state;   /* written under srv->mu */
    goc_ctx *ctx;                /* the request's ctx, if made (srv->mu for
                                    close to cancel it) */

    /* Read buffer: rbuf[0, rlen) read; rbuf[rpos, rlen) not consumed. While
     * a request is served its head lies in rbuf[.., body_base) and nothing
     * before body_base moves. */
    char *rbuf;
    size_t rcap, rlen, rpos, body_base;
    char *rbuf_old;    /* the head's buffer, if the body outgrew it */
    int64_t rdeadline; /* the read deadline last set (0: none) */

    /* Write buffer: responses (or their start) not yet written; rs->wbuf0
     * until it must grow, then malloc'ed. NULL while idle. */
    char *wbuf;
    size_t wcap, wlen;
    /* The current response's body before its header is committed (rs->bbuf). */
    char *bbuf;
    size_t blen;
    /* What only a request in progress needs, from a pool while one is (so
     * an idle connection holds little more than rbuf): NULL while idle. */
    struct goc__http_rstate *rs;

    /* The request being served (its request, writer and decoder are in
     * rs). */
    goc__arena arena;
    int64_t t0;         /* first byte of the request's head */
    uint64_t in0, out0; /* byte counts when it began */
    uint64_t bytes_in, bytes_out;

    /* Its body. */
    uint8_t body; /* CBODY_* */
    bool expect_continue, sent_continue;
    bool too_large;    /* the max-bytes limit was hit */
    int64_t body_left; /* CBODY_LENGTH: bytes still to come */
    int64_t body_read; /* bytes handed to the handler */
    int64_t max_bytes; /* goc_http_max_bytes; < 0: none */
    size_t dpos, dlen; /* chunked: data decoded, not yet handed out */
    goc__hchunked chunked;
    goc__hfield tfields[16]; /* trailer fields */

    /* Its response. */
    bool head_req;    /* HEAD: no body bytes go out */
    bool header_sent; /* the status line and header are in wbuf */
    bool chunking;    /* the body goes out as chunks */
    bool close_after; /* close the connection after this response */
    bool linger;      /* the peer may still be sending: close softly */
    bool hijacked;
    int werr;     /* a write of the response failed (-ENOMEM, -EPIPE, ...):
                     nothing more of it goes out, and the connection closes
                     with it incomplete, so the client cannot take it whole */
    int64_t clen; /* Content-Length sent (explicit or computed); -1 none */

    /* The client-gone watcher (body.c): runs while watching. */
    bool watching;
    goc_chan *watch_done;

    char remote[64];
};

/* A request's working memory (conn.c's pool). */
typedef struct goc__http_rstate {
    goc_http_request req;
    struct goc__http_req priv;
    goc_http_response_writer w;
    goc__hchunked chunked;
    goc__hfield fields[GOC__HTTP_MAX_FIELDS];
    goc__hfield tfields[16]; /* trailer fields */
    char bbuf[GOC__HTTP_BBUF];
    char wbuf0[4096];
    _Alignas(16) char arena0[GOC__HTTP_ARENA0];
} goc__http_rstate;

/* srv->mu is held (by someone: a goc_mutex records no owner). Debug
 * builds check the locking rules above with it. */
#define GOC__HTTP_ASSERT_MU(s) GOC_ASSERT(__atomic_load_n(&(s)->mu.state_, __ATOMIC_RELAXED) & 1)

/* server.c: take c out of s->conns. s->mu held. */
void goc__http_conn_unlink(goc_http_server *s, goc__http_conn *c);
/* server.c: a line for the server's error_log (stderr if none). */
void goc__http_logf(goc_http_server *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* server.c: a connection has ended (its goroutine touches s no more after). */
void goc__http_conn_done(goc_http_server *s);

/* writer.c */
void goc__http_writer_reset(goc__http_conn *c);
/* The handler returned: complete the response (header if none, the last
 * chunk and trailers). 0 or a negative errno (the connection is broken). */
int goc__http_finish_response(goc__http_conn *c);
/* Write out wbuf. 0 or a negative errno. */
int goc__http_flush_wbuf(goc__http_conn *c);
/* Append n bytes to wbuf (growing it). 0 or -ENOMEM. */
int goc__http_wbuf_put(goc__http_conn *c, const void *p, size_t n);
/* Answer a request the parser refused: status, why, Connection: close. */
void goc__http_reject(goc__http_conn *c, int status, const char *why);

/* body.c */
void goc__http_body_start(goc__http_conn *c, const goc__hreq *hr);
/* After the handler: read what it left of the body (up to 256 KiB) so
 * the next request can be read; false if the connection must close. */
bool goc__http_body_drain(goc__http_conn *c);
/* Stop the client-gone watcher and cancel and drop the request's ctx. */
void goc__http_request_end_ctx(goc__http_conn *c);
/* Read more bytes into rbuf[rlen, rcap): the count, 0 at EOF, or a
 * negative errno. */
ssize_t goc__http_fill(goc__http_conn *c);

/* The connection's I/O: TLS when it has it, else the socket (the plain
 * path pays one predicted branch). */
static inline ssize_t goc__http_conn_read(goc__http_conn *c, void *buf, size_t n)
{
    if (__builtin_expect(c->tls != NULL, 0))
        return goc_tls_read(c->tls, buf, n);
    return goc_read(c->fd, buf, n);
}

static inline ssize_t goc__http_conn_write(goc__http_conn *c, const void *buf, size_t n)
{
    if (__builtin_expect(c->tls != NULL, 0))
        return goc_tls_write(c->tls, buf, n);
    return goc_write(c->fd, buf, n);
}

static inline ssize_t goc__http_conn_writev(goc__http_conn *c, const struct iovec *iov, int iovcnt)
{
    if (__builtin_expect(c->tls != NULL, 0))
        return goc_tls_writev(c->tls, iov, iovcnt);
    return goc_writev(c->fd, iov, iovcnt);
}

static inline ssize_t goc__http_conn_sendfile(goc__http_conn *c, int in_fd, off_t *off,
                                              size_t count)
{
    if (__builtin_expect(c->tls != NULL, 0))
        return goc_tls_sendfile(c->tls, in_fd, off, count);
    return goc_sendfile(c->fd, in_fd, off, count);
}

/* conn.c */
void goc__http_conn_serve(void *arg); /* the connection's goroutine */
void goc__http_set_state(goc__http_conn *c, goc_http_conn_state st);

#endif /* GOC_HTTP_CONN_H */
