/*
 * neterr.h — the net layer's failure messages (error.c), recorded for
 * goc_errmsg. Each returns err.
 */
#ifndef GOC_NET_NETERR_H
#define GOC_NET_NETERR_H

#include <errno.h>
#include <sys/types.h>

/* "dial foo: unknown network foo" (-EINVAL). */
int goc__net_unknown_network(const char *op, const char *network);
/* A resolve failure: "op network: address ADDR: why" when the address is
 * malformed (why from goc__addrs), else "op network: lookup HOST: ...". */
int goc__net_resolve_failed(int err, const char *op, const char *network, const char *address,
                            const char *why);
/* "op network address: <goc_strerror(err)>" (connect, bind, ...). */
int goc__net_op_failed(int err, const char *op, const char *network, const char *address);
/* "op fd N: <goc_strerror(err)>". */
ssize_t goc__fd_failed(ssize_t err, const char *op, int fd);

/* The usual tail of an I/O call: record a failure, pass a result through. */
static inline ssize_t goc__fd_result(ssize_t rc, const char *op, int fd)
{
    return rc < 0 ? goc__fd_failed(rc, op, fd) : rc;
}

#endif /* GOC_NET_NETERR_H */
