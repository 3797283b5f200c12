/*
 * dial.h — connecting: one address (dial.c), and the order and overlap
 * of a name's addresses (dialrace.c).
 */
#ifndef GOC_NET_DIAL_H
#define GOC_NET_DIAL_H

#include "net/addr.h"

/* A racer's hold on the socket it is connecting, so that the winner of a
 * race can stop it (dialrace.c). */
typedef struct goc__dialslot goc__dialslot;

/* A new socket connected to sa by deadline (a goc_now() time; 0: none):
 * the fd, or a negative errno. slot (may be NULL): the socket is entered
 * in it while connecting; -ECANCELED if the race was decided meanwhile. */
int goc__dial_one(const goc__net *net, const struct sockaddr_storage *sa, socklen_t len,
                  int64_t deadline, goc__dialslot *slot);
/* For goc__dial_one: fd is being connected; -ECANCELED if the race is
 * already over (fd is not entered then). */
int goc__dialslot_enter(goc__dialslot *slot, int fd);
/* The connect finished with err (0: connected): take the fd out of the
 * slot. Returns err, or -ECANCELED if the race was lost meanwhile. */
int goc__dialslot_leave(goc__dialslot *slot, int err);

/* Connect to one of addrs by deadline (0: none), as Go's dialer: in turn,
 * each address with a fair share of the time left; IPv6 and IPv4 raced
 * (Happy Eyeballs) when both are there. The fd, or the error of the first
 * address that failed. */
int goc__dial_addrs(const goc__net *net, const goc__addrs *addrs, int64_t deadline);

#endif /* GOC_NET_DIAL_H */
