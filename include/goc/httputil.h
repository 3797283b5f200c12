/*
 * goc/httputil.h — what a gateway is made of, as a library: a reverse
 * proxy handler (Go's httputil.ReverseProxy), load balancers over a set of
 * targets, an HTTP cache (RFC 9111) and a token-bucket rate limiter, each
 * a goc_http_handler or usable on its own. Part of libgoc; includes
 * goc/http.h.
 *
 *     static int serve(void *arg)
 *     {
 *         goc_http_reverse_proxy_opts o = {.target = "http://127.0.0.1:9001"};
 *         goc_http_reverse_proxy *p = goc_http_reverse_proxy_new(&o);
 *         goc_http_handler h = goc_http_reverse_proxy_handler(p);
 *         return goc_http_listen_and_serve("127.0.0.1:8080", &h);
 *     }
 *
 * Go's names, mapped (Go → goc):
 *   httputil.NewSingleHostReverseProxy  goc_http_reverse_proxy_new(&{.target = url})
 *   ReverseProxy.Rewrite / Director     opts.rewrite
 *   ReverseProxy.Transport.RoundTrip    opts.round_trip
 *   ReverseProxy.ModifyResponse         opts.modify_response
 *   ReverseProxy.ErrorHandler           opts.error_handler
 *   ReverseProxy.FlushInterval          opts.flush_interval
 *   rate.NewLimiter(r, b).Allow         goc_rate_limiter_new / goc_rate_limiter_allow
 *
 * Errors are negative errno values, as everywhere in goc.
 */
#ifndef GOC_HTTPUTIL_H
#define GOC_HTTPUTIL_H

#include <goc/http.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- the reverse proxy (httputil.ReverseProxy) ---------------------------
 *
 * A handler that forwards each request to an upstream and streams the
 * answer back:
 *   - the request is re-framed, never passed through as bytes: hop-by-hop
 *     fields (Connection and the fields it names, Keep-Alive,
 *     Proxy-Connection, Proxy-Authorization, TE except "trailers",
 *     Transfer-Encoding, Upgrade) are removed; a body goes with its
 *     Content-Length, or chunked when its length is unknown;
 *   - X-Forwarded-For gets the client's address appended (replaced with it
 *     when opts.trust_forwarded is false), X-Forwarded-Host and
 *     X-Forwarded-Proto are set, and Forwarded (RFC 7239) too;
 *   - the response's hop-by-hop fields are removed the same way; its body
 *     is streamed (flushed at once when it has no length, or for
 *     text/event-stream, so server-sent events pass through); trailers
 *     are passed on;
 *   - "Connection: Upgrade" (WebSocket) is sent upstream and, on "101
 *     Switching Protocols", the client's connection is hijacked and bytes
 *     are copied both ways until either side closes (plain HTTP only);
 *   - an upstream that cannot be reached or answers garbage is a 502, a
 *     timeout (ctx deadline, -ETIMEDOUT) a 504, unless error_handler
 *     answers.
 */
typedef struct goc_http_reverse_proxy goc_http_reverse_proxy;

typedef struct goc_http_reverse_proxy_opts {
    /* The upstream: "http://host:port[/base]": the request's path is
     * joined to base (NewSingleHostReverseProxy); NULL when rewrite or
     * round_trip picks the host of each request. */
    const char *target;
    /* Upstream connections come from this client's pool (retained;
     * redirects are never followed by the proxy). NULL: a client of the
     * proxy's own: keep-alive, 256 idle connections per host, no
     * environment proxy, no compression asked. */
    goc_http_client *client;
    /* Rewrite: called once the outgoing request is built (URL, fields,
     * X-Forwarded-*) and before it is sent; may change its fields
     * (goc_http_client_request_header) and URL
     * (goc_http_client_request_set_url). 0, or a negative errno that is
     * answered as an error (error_handler). */
    int (*rewrite)(goc_http_request *in, goc_http_client_request *out, void *arg);
    /* RoundTrip: sends out and returns its response (a balancer picks the
     * host here and retries elsewhere). NULL: goc_http_client_do on the
     * client. */
    int (*round_trip)(goc_http_request *in, goc_http_client_request *out, goc_http_response **resp,
                      void *arg);
    /* ModifyResponse: may change resp's header before it is copied to the
     * client. 0, or a negative errno that is answered as an error. */
    int (*modify_response)(goc_http_request *in, goc_http_response *resp, void *arg);
    /* ErrorHandler: answer a failed request (err: negative errno). NULL:
     * 502 Bad Gateway, 504 Gateway Timeout for -ETIMEDOUT, and nothing
     * (the connection is closed) once the response has started. */
    void (*error_handler)(goc_http_response_writer *w, goc_http_request *r, int err, void *arg);
    void *arg;
    /* FlushInterval: 0: flush when the upstream has nothing more buffered
     * (a streamed response reaches the client as it comes, a large one in
     * full buffers); negative: after every write. */
    goc_duration flush_interval;
    bool preserve_host;   /* send the client's Host, not the target's */
    bool trust_forwarded; /* append to the client's X-Forwarded-For and
                             Forwarded instead of replacing them */
} goc_http_reverse_proxy_opts;

/* A reverse proxy. 0 and *out, -EINVAL (a target that is not an http or
 * https URL: goc_errmsg says why), -ENOMEM. opts is copied. Any thread. */
GOC_API int goc_http_reverse_proxy_new(const goc_http_reverse_proxy_opts *opts,
                                       goc_http_reverse_proxy **out);
/* No request may be in it. NULL ignored. */
GOC_API void goc_http_reverse_proxy_free(goc_http_reverse_proxy *p);
GOC_API goc_http_handler goc_http_reverse_proxy_handler(goc_http_reverse_proxy *p);

/* The outgoing request's URL, and a new one ("http://host:port/path?q").
 * set_url: 0, -EINVAL, -ENOMEM. set_host keeps scheme, path and query and
 * changes only "host:port". */
GOC_API const goc_url *goc_http_client_request_url(const goc_http_client_request *req);
GOC_API int goc_http_client_request_set_url(goc_http_client_request *req, const char *url);
GOC_API int goc_http_client_request_set_host(goc_http_client_request *req, const char *hostport);
/* Whether any byte of the request's body has been read to be sent (a
 * request whose body was not touched can be sent to another host). */
GOC_API bool goc_http_client_request_body_sent(const goc_http_client_request *req);

/* ---- balancers ------------------------------------------------------------
 *
 * A set of targets ("host:port" strings) and a policy to pick one per
 * request:
 *   GOC_BALANCE_ROUND_ROBIN  smooth weighted round robin (nginx's): with
 *                            weights 5,1,1 the order is a a b a c a a;
 *   GOC_BALANCE_LEAST_CONN   the fewest requests in flight (weighted: the
 *                            least in-flight/weight), ties in turn;
 *   GOC_BALANCE_P2C          two targets at random, the one with the lower
 *                            EWMA of latency times (in flight + 1);
 *   GOC_BALANCE_HASH         consistent hashing of a key (Maglev, table of
 *                            65537): a key keeps its target while targets
 *                            come and go, except the keys of the one that
 *                            left (about 1/N of them move).
 * Targets are added, removed, weighted and marked down while requests flow:
 * a pick holds a reference, so a removed target stays valid until its
 * goc_balancer_done. Targets marked down (health checks, ejection) are
 * skipped; if all are down, pick returns NULL.
 *
 * Threads: every function may be called from any goroutine or thread. */
typedef enum goc_balance_policy {
    GOC_BALANCE_ROUND_ROBIN = 0,
    GOC_BALANCE_LEAST_CONN,
    GOC_BALANCE_P2C,
    GOC_BALANCE_HASH,
} goc_balance_policy;

typedef struct goc_balancer goc_balancer;
typedef struct goc_balancer_target goc_balancer_target;

/* NULL on ENOMEM or a policy out of range. */
GOC_API goc_balancer *goc_balancer_new(goc_balance_policy policy);
/* Frees targets no pick holds; picked ones are freed by their done. */
GOC_API void goc_balancer_free(goc_balancer *b);
/* Parse "round_robin", "least_conn", "p2c", "hash": 0 and *out, or -EINVAL. */
GOC_API int goc_balance_policy_parse(const char *name, goc_balance_policy *out);
GOC_API const char *goc_balance_policy_name(goc_balance_policy p);

/* Add addr with weight (1..1000; 0 is 1); data is the caller's (returned by
 * goc_balancer_target_data). 0, -EEXIST, -EINVAL, -ENOMEM. */
GOC_API int goc_balancer_add(goc_balancer *b, const char *addr, int weight, void *data);
/* 0 or -ENOENT. In-flight picks of it finish normally. */
GOC_API int goc_balancer_remove(goc_balancer *b, const char *addr);
/* 0, -ENOENT, -EINVAL. */
GOC_API int goc_balancer_set_weight(goc_balancer *b, const char *addr, int weight);
/* Up (true) or down: a down target is never picked. 0 or -ENOENT. */
GOC_API int goc_balancer_set_up(goc_balancer *b, const char *addr, bool up);
/* Targets in all, and those up. */
GOC_API size_t goc_balancer_len(goc_balancer *b);
GOC_API size_t goc_balancer_len_up(goc_balancer *b);

/* Pick a target that is up and not in avoid[0..navoid) (the ones a retry
 * already tried; if only those are up, one of them is picked). key/keylen:
 * the hash policy's key (NULL: a random target); ignored by the others.
 * NULL when none is up. The pick is counted in flight until
 * goc_balancer_done, which must be called exactly once. */
GOC_API goc_balancer_target *goc_balancer_pick(goc_balancer *b, const void *key, size_t keylen,
                                               goc_balancer_target *const *avoid, size_t navoid);
/* The request on t ended after latency (ns): feeds least_conn and p2c's
 * EWMA, and releases the pick. */
GOC_API void goc_balancer_done(goc_balancer *b, goc_balancer_target *t, goc_duration latency);
/* A picked target's address and data: valid until its done. */
GOC_API const char *goc_balancer_target_addr(const goc_balancer_target *t);
GOC_API void *goc_balancer_target_data(const goc_balancer_target *t);
/* Requests in flight on t now. */
GOC_API int goc_balancer_target_inflight(const goc_balancer_target *t);

/* A snapshot for dashboards: up to n targets in out[], returns the count
 * in all. Strings are copied into the entries. */
typedef struct goc_balancer_target_info {
    char addr[256];
    int weight;
    bool up;
    int inflight;
    uint64_t picks;
    goc_duration ewma; /* p2c's latency average, 0 until measured */
} goc_balancer_target_info;
GOC_API size_t goc_balancer_snapshot(goc_balancer *b, goc_balancer_target_info *out, size_t n);

/* ---- the rate limiter (a token bucket per key) ----------------------------
 *
 * rate tokens per second, up to burst stored, one bucket per key (a client
 * address or a header value), at most max_keys buckets (the least recently
 * used ones are forgotten: a forgotten key starts full again). */
typedef struct goc_rate_limiter goc_rate_limiter;

/* NULL on ENOMEM or rate <= 0 / burst < 1. max_keys 0: 65536. */
GOC_API goc_rate_limiter *goc_rate_limiter_new(double rate, int burst, size_t max_keys);
GOC_API void goc_rate_limiter_free(goc_rate_limiter *l);
/* Take one token for key: 0 when allowed, else how long (ns, > 0) until
 * one would be there (nothing is taken). Any thread. */
GOC_API goc_duration goc_rate_limiter_allow(goc_rate_limiter *l, const char *key);
/* Middleware: a request over its key's rate is answered 429 Too Many
 * Requests with Retry-After (whole seconds, rounded up) and never reaches
 * h. key_header NULL: the key is the client's IP address (without port);
 * else that header's value (a request without it shares the "" bucket).
 * l is borrowed for the handler's life. */
GOC_API goc_http_handler goc_http_rate_limit_handler(goc_http_handler h, goc_rate_limiter *l,
                                                     const char *key_header);

/* ---- the HTTP cache (RFC 9111, a shared cache) ----------------------------
 *
 * A handler in front of another (a reverse proxy, or any handler) that
 * stores its GET (and answers HEAD from them) responses as RFC 9111 allows a
 * shared cache to: 200, 203, 204, 300, 301, 308, 404, 410 with a freshness
 * lifetime from s-maxage, max-age or Expires (Date-relative); never with
 * no-store or private (in the request or response), Authorization (unless
 * public, s-maxage or must-revalidate allow it), Set-Cookie or Vary: *.
 * Vary selects among variants by the request's fields. A stale entry (or
 * no-cache) with an ETag or Last-Modified is revalidated: the handler
 * below gets If-None-Match / If-Modified-Since added, and its 304
 * refreshes the entry. Responses carry Age and X-Cache (HIT, MISS,
 * REVALIDATED). The client's own If-None-Match / If-Modified-Since on a
 * GET are answered by the cache (a 304 when they hold), on a miss too:
 * they are taken off the request passed down, so the whole answer is
 * stored. Entries are bounded by bytes in all, least recently used
 * evicted first. Concurrent misses for one key make one request to the
 * handler below; the others wait for it and are answered from its result
 * (Go's singleflight), or go on their own if it was not storable. */
typedef struct goc_http_cache goc_http_cache;

typedef struct goc_http_cache_opts {
    size_t max_bytes;         /* bodies and heads in all; 0: 64 MiB */
    size_t max_entry_bytes;   /* a larger response is passed on, not stored;
                                 0: max_bytes / 8 */
    goc_duration default_ttl; /* lifetime for a storable response with no
                                 explicit one (0: not stored: no heuristic
                                 freshness) */
} goc_http_cache_opts;

/* misses include requests that bypass the cache (no-store, Range, a
 * method other than GET and HEAD); coalesced is the part of hits that
 * waited for another request's miss. */
typedef struct goc_http_cache_stats {
    uint64_t hits, misses, revalidated, stored, evicted, not_storable, coalesced;
    size_t bytes, entries;
} goc_http_cache_stats;

/* NULL on ENOMEM. opts NULL: the defaults. Any thread. */
GOC_API goc_http_cache *goc_http_cache_new(const goc_http_cache_opts *opts);
/* No request may be in it; the handlers made from it end with it. NULL
 * ignored. */
GOC_API void goc_http_cache_free(goc_http_cache *c);
/* The cache in front of h (c borrowed for the handler's life; one cache
 * may front several handlers: the key is method, Host and target). */
GOC_API goc_http_handler goc_http_cache_handler(goc_http_cache *c, goc_http_handler h);
GOC_API void goc_http_cache_stats_read(goc_http_cache *c, goc_http_cache_stats *out);
/* Drop every entry. */
GOC_API void goc_http_cache_purge(goc_http_cache *c);

#ifdef __cplusplus
}
#endif
#endif /* GOC_HTTPUTIL_H */
