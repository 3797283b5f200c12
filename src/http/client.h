/*
 * client.h — what the client's files share: transport.c (the pool of
 * connections per host), cconn.c (one connection: dial, write a request,
 * read a response head), cbody.c (the response body reader), client.c
 * (Client.Do: redirects, retries, cookies, timeouts).
 *
 * No goroutine per connection (Go has a read loop and a write loop per
 * persistConn): an exchange runs on the caller's goroutine from the
 * request's first byte to the body's last, and a connection in the pool is
 * just an fd and its buffer. So a keep-alive request costs no goroutine
 * switch, and an idle connection a few hundred bytes.
 *
 * Ownership: a connection (goc__pconn) belongs either to the pool (idle,
 * under the client's lock) or to exactly one exchange (its goroutine);
 * never both. An exchange that ends with the connection reusable gives it
 * back (goc__transport_put); otherwise it closes it (goc__transport_drop).
 */
#ifndef GOC_HTTP_CLIENT_H
#define GOC_HTTP_CLIENT_H

#include "http/http.h"

typedef struct goc__hhost goc__hhost;
typedef struct goc__pconn goc__pconn;

/* The byte stream under a connection: plain TCP, or TLS over it. */
typedef struct goc__hstream_ops {
    ssize_t (*read)(void *s, void *buf, size_t n);
    ssize_t (*write)(void *s, const void *buf, size_t n); /* all n */
    ssize_t (*writev)(void *s, const struct iovec *iov, int iovcnt);
    ssize_t (*sendfile)(void *s, int in_fd, off_t *off, size_t n);
    void (*close)(void *s); /* ends the stream (not the fd) */
} goc__hstream_ops;

/* One connection to a host (Go's persistConn). */
struct goc__pconn {
    int fd;
    const goc__hstream_ops *ops; /* NULL: plain goc_read/goc_write on fd */
    void *stream;                /* ops' state (a goc_tls_conn) */
    goc__hhost *host;            /* its pool entry (client->mu) */
    goc__pconn *next;            /* host's idle list (client->mu) */
    int64_t idle_since;          /* goc_now() when put back */
    bool reused;                 /* it carried a request before this one */
    bool via_proxy;              /* requests go to a proxy in absolute form */

    /* Read buffer: rbuf[rpos, rlen) read and not consumed yet. */
    char *rbuf;
    size_t rcap, rlen, rpos;
};

/* Where a request goes: the pool key's parts, from the URL and the
 * proxy. */
typedef struct goc__htarget {
    bool tls;             /* https */
    char host[256];       /* host name or IP, no brackets */
    int port;             /* resolved (80, 443 by default) */
    char authority[272];  /* "host:port" as dialled ("[::1]:443") */
    char proxy_auth[256]; /* "Basic ..." for the proxy, or "" */
    bool proxy_tls;       /* the proxy itself speaks TLS */
    char proxy[272];      /* "host:port" of the proxy, or "" */
    int proxy_port;
    char proxy_host[256];
} goc__htarget;

/* The client (http.Client with its Transport). */
struct goc_http_client {
    goc_http_client_opts opts;           /* defaults resolved; read-only after new */
    goc_tls_config *tls;                 /* retained; NULL until the first https */
    char *proxy;                         /* opts.proxy copied, or NULL (environment) */
    char *env_http, *env_https, *env_no; /* the environment's, read once */
    bool env_cgi;
    char *user_agent;
    goc_mutex tls_mu; /* guards making tls once */

    goc_mutex mu; /* guards the members below and every goc__hhost */
    goc__hhost **hosts;
    size_t nhosts, hosts_cap;
    int nidle; /* idle connections in all hosts */
    bool is_default;
};

/* ---- transport.c: the pool ---------------------------------------------- */

/* A connection to t: an idle one (*reused true) or a new one, dialled
 * (through the proxy, with TLS) before deadline (0: none) or ctx done.
 * 0 or a negative errno. */
int goc__transport_get(goc_http_client *c, const goc__htarget *t, goc_ctx *ctx, int64_t deadline,
                       goc__pconn **out);
/* Give pc back for keep-alive (or close it if the pool is full). */
void goc__transport_put(goc_http_client *c, goc__pconn *pc);
/* Close pc: it carries nothing more. */
void goc__transport_drop(goc_http_client *c, goc__pconn *pc);
/* Close the idle connections and free the host table (client free). */
void goc__transport_free(goc_http_client *c);

/* ---- cconn.c: one connection -------------------------------------------- */

ssize_t goc__pconn_read(goc__pconn *pc, void *buf, size_t n);
ssize_t goc__pconn_writev(goc__pconn *pc, const struct iovec *iov, int iovcnt);
/* Read more into rbuf (growing it up to max): count, 0 at EOF, negative
 * errno (-EMSGSIZE when full at max). */
ssize_t goc__pconn_fill(goc__pconn *pc, size_t max);
/* An idle connection the server may have closed: false if it did (or sent
 * something unasked), true if it looks usable. */
bool goc__pconn_alive(goc__pconn *pc);
/* Dial t (the proxy if any, CONNECT, TLS) by deadline (0: none); ctx
 * (borrowed) ends every step as soon as it is done, with goc_ctx_err and
 * Go's "context canceled". 0 or a negative errno. */
int goc__pconn_dial(goc_http_client *c, const goc__htarget *t, goc_ctx *ctx, int64_t deadline,
                    goc__pconn **out);
void goc__pconn_close(goc__pconn *pc);
/* client_tls.c: the client's TLS configuration (opts.tls retained, or
 * made on first use), and its end. */
int goc__client_tls_init(goc_http_client *c);
void goc__client_tls_free(goc_http_client *c);
/* client_tls.c: TLS over pc's connection, verifying server_name; the
 * handshake ends by the fd's deadline. 0 or a negative errno. */
int goc__pconn_start_tls(goc_http_client *c, goc__pconn *pc, const char *server_name);

/* ---- the exchange: client.c, roundtrip.c and cbody.c --------------------- */

/* Where a request body comes from. */
enum { SRC_NONE = 0, SRC_MEM, SRC_READER, SRC_FD };

typedef struct goc__hbody_src {
    uint8_t kind;
    const char *data; /* SRC_MEM */
    size_t len;
    ssize_t (*read)(void *arg, void *buf, size_t n); /* SRC_READER */
    int (*rewind)(void *arg);
    void *arg;
    int fd; /* SRC_FD */
    off_t off;
    int64_t length; /* bytes; -1 unknown (reader only: sent chunked) */
    bool used;      /* a reader was read: it must rewind to be sent again */
} goc__hbody_src;

struct goc_http_client_request {
    goc_ctx *ctx; /* retained */
    char *method; /* arena */
    goc_url *url; /* owned */
    goc_http_header header;
    goc__hbody_src body;
    goc__arena arena;
    _Alignas(16) char arena0[1024]; /* storage only: not zeroed at allocation */
};

/* One request as sent: the user's, or a redirect's. */
typedef struct goc__hop {
    const char *method;
    const goc_url *url;
    const goc_http_header *header; /* the user's fields */
    goc__hbody_src *body;          /* NULL: none */
    const char *cookie;            /* from the jar, or NULL */
    const char *referer;           /* or NULL */
    goc_ctx *ctx;
    int64_t deadline; /* the whole exchange (ctx's and timeout), 0: none */
} goc__hop;

/* roundtrip.c: send hop on a pooled connection and read the response
 * head; retried on a fresh connection when a reused one turns out dead
 * and the request can be replayed. 0 and *out, or a negative errno. */
int goc__roundtrip(goc_http_client *c, const goc__hop *hop, struct goc__http_cresp **out);
/* roundtrip.c: Basic credentials "user:pass" in base64, in out[n]. */
int goc__http_basic_auth(const char *user, const char *pass, char *out, size_t n);
/* client.c: the proxy for u (0 and *proxy NULL: none). */
int goc__client_proxy_for(goc_http_client *c, const goc_url *u, goc_url **proxy);

/* What a response's body reader needs (the response's private part). */
struct goc__http_cresp {
    goc_http_response pub;
    goc_http_client *client;
    goc__pconn *pc;   /* NULL once given back or closed */
    goc_ctx *ctx;     /* retained */
    int64_t deadline; /* whole exchange, 0: none */
    goc_duration stall;

    /* Framing. */
    uint8_t body; /* goc__hbody */
    bool keep_alive;
    bool keep_alive_veto; /* answered before the body was sent: close after */
    bool eof;             /* the body was read to its end */
    int err;              /* sticky error of the body reader */
    int64_t left;         /* GOC__HBODY_LENGTH: bytes still to come */
    size_t dpos, dlen;    /* chunked: data decoded in rbuf not handed out */
    goc__hchunked chunked;
    struct goc__gunzip *gz; /* set when decoding gzip */
    bool no_fill;           /* read only what is buffered (draining) */
    bool tunnel;            /* 101 (or a CONNECT's 2xx): pc is kept for
                               goc__http_response_take_conn, not read */
    /* ctx cancellation: the after-func (wake) sets cancelled, then a past
     * deadline on the fd; a reader re-checks cancelled after setting its
     * own deadline (which would hide the wake-up). */
    goc_ctx_stop *wake;
    int cancelled; /* atomic: release by the after-func, acquire by readers */
    int wake_fd;

    goc_http_header header, trailer;
    goc__arena arena;
    /* Storage only, never read before written: left out of the zeroing at
     * allocation (3 KiB per exchange). */
    goc__hfield tfields[64]; /* trailer fields: Go has no count limit; 64 bounds the struct */
    _Alignas(16) char arena0[1024];
};

/* client.c: a response's memory (pooled), uninitialised; and back. */
struct goc__http_cresp *goc__http_cresp_alloc(void);
void goc__http_cresp_free(struct goc__http_cresp *r);

/* cbody.c: the head is in: decode gzip if asked for (gzip: the client
 * asked) and give back the connection of a response without a body.
 * 0 or -ENOMEM. */
int goc__cresp_finish_head(struct goc__http_cresp *r, bool gzip);
/* cbody.c: the raw body read (below gzip). */
ssize_t goc__cresp_read_raw(struct goc__http_cresp *r, void *buf, size_t n);
/* cbody.c: after the body's end, or to give up on it: give the
 * connection back or close it. */
void goc__cresp_release_conn(struct goc__http_cresp *r, bool reusable);
/* cbody.c: a 101 response's connection, taken from the client for good
 * (a reverse proxy's Upgrade tunnel): *fd is the caller's to goc_close,
 * *buf (malloc'ed, or NULL) holds the n bytes already read past the head.
 * 0, -EINVAL (not a 101, or taken), -ENOTSUP (TLS), -ENOMEM. */
int goc__http_response_take_conn(goc_http_response *resp, int *fd, char **buf, size_t *n);
/* The read deadline for the next read of r: now + stall, bounded by the
 * exchange's deadline (0: none). */
int64_t goc__cresp_read_deadline(const struct goc__http_cresp *r);

#endif /* GOC_HTTP_CLIENT_H */
