/*
 * revproxy.h — what revproxy.c and revproxy_tunnel.c share.
 */
#ifndef GOC_HTTP_REVPROXY_H
#define GOC_HTTP_REVPROXY_H

#include <goc/httputil.h>

struct goc_http_reverse_proxy {
    goc_http_reverse_proxy_opts o; /* read-only after new (o.target NULL) */
    goc_url *target;               /* parsed o.target, or NULL */
    goc_http_client *client;       /* o.client, or own_client */
    goc_http_client *own_client;
};

/* Whether name is hop-by-hop in h: a fixed one, or named by Connection. */
bool goc__http_is_hop_field(const goc_http_header *h, const char *name);
/* The same for every field of one message: Connection read once. */
typedef struct goc__hop_filter {
    const char *conn[16];
    size_t nconn;
} goc__hop_filter;
void goc__hop_filter_init(goc__hop_filter *f, const goc_http_header *h);
bool goc__hop_filter_drops(const goc__hop_filter *f, const char *name);
/* Connection: upgrade with an Upgrade protocol (*proto). */
bool goc__http_wants_upgrade(const goc_http_header *h, const char **proto);
/* Answer a failed request (error_handler, or 502/504; an abort once the
 * head went out; nothing if the client went away). */
void goc__revproxy_fail(const goc_http_reverse_proxy *p, goc_http_response_writer *w,
                        goc_http_request *in, int err);
/* resp is a 101 to a request that asked to upgrade to proto (NULL: it did
 * not): hijack the client's connection and copy bytes both ways until
 * both sides are done. resp stays the caller's to free. */
void goc__revproxy_tunnel(const goc_http_reverse_proxy *p, goc_http_response_writer *w,
                          goc_http_request *in, goc_http_response *resp, const char *proto);

#endif /* GOC_HTTP_REVPROXY_H */
