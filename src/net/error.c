/*
 * error.c — the net layer's error texts: its own codes (GOC_ENOTFOUND,
 * GOC_ETEMPFAIL, GOC_ENOSERVICE) for goc_strerror, and the messages of
 * failed calls for goc_errmsg, in Go's words:
 *
 *   dial tcp: address 127.0.0.1:99999: invalid port
 *   dial tcp: lookup nosuch.invalid: no such host
 *   dial tcp 127.0.0.1:1: connection refused
 *   dial tcp 10.255.255.1:80: operation was canceled
 *   listen tcp 127.0.0.1:80: address already in use
 *   read fd 7: timed out (deadline exceeded)
 */
#include "net/addr.h"
#include "net/neterr.h"
#include "runtime/park.h"

#include <string.h>

static const char *net_strerror(int err)
{
    switch (err) {
    case GOC_ENOTFOUND:
        return "no such host";
    case GOC_ETEMPFAIL:
        return "temporary failure in name resolution";
    case GOC_ENOSERVICE:
        return "unknown port";
    default:
        return "unknown net error";
    }
}

/* Before main: goc_strerror may be asked about a code before any call. */
__attribute__((constructor)) static void register_texts(void)
{
    goc__errtext_register(GOC_ENOSERVICE, GOC_ENOTFOUND, net_strerror);
}

static const char *str(const char *s)
{
    return s ? s : "(null)";
}

/* goc_strerror(err), but a dial's cancelled ctx in Go's words (net's
 * errCanceled) rather than the context's own. */
static const char *op_text(int err)
{
    return err == -ECANCELED ? "operation was canceled" : goc_strerror(err);
}

int goc__net_unknown_network(const char *op, const char *network)
{
    return goc__errorf(-EINVAL, "%s %s: unknown network %s", op, str(network), str(network));
}

/* The host part of "host:port" or "[host]:port", for "lookup host". */
static void host_of(const char *address, char *host, size_t cap)
{
    const char *h = address, *end = strrchr(address, ':');
    if (h[0] == '[') {
        h++;
        end = strchr(h, ']');
    }
    size_t n = end ? (size_t)(end - h) : strlen(h);
    if (n >= cap)
        n = cap - 1;
    memcpy(host, h, n);
    host[n] = '\0';
}

int goc__net_resolve_failed(int err, const char *op, const char *network, const char *address,
                            const char *why)
{
    if (why)
        return goc__errorf(err, "%s %s: address %s: %s", op, network, str(address), why);
    if (err == GOC_ENOTFOUND || err == GOC_ETEMPFAIL || err == -ETIMEDOUT || err == -ECANCELED) {
        char host[256];
        host_of(str(address), host, sizeof host);
        return goc__errorf(err, "%s %s: lookup %s: %s", op, network, host, op_text(err));
    }
    return goc__errorf(err, "%s %s %s: %s", op, network, str(address), op_text(err));
}

int goc__net_op_failed(int err, const char *op, const char *network, const char *address)
{
    return goc__errorf(err, "%s %s %s: %s", op, network, str(address), op_text(err));
}

ssize_t goc__fd_failed(ssize_t err, const char *op, int fd)
{
    return goc__errorf((int)err, "%s fd %d: %s", op, fd, goc_strerror((int)err));
}
