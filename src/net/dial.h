/*
 * dial.h — connecting: one address (dial.c), the order and overlap of a
 * name's addresses (dialrace.c), and what stops a dial early.
 */
#ifndef GOC_NET_DIAL_H
#define GOC_NET_DIAL_H

#include "net/addr.h"

/* What ends a dial before its deadline (dialrace.c): the winner of a
 * Happy Eyeballs race stops the other racer, and the dial's ctx stops
 * everything. Each waiter enters the socket it waits on in its slot (0:
 * the resolver, then the primaries or a serial dial; 1: the fallbacks)
 * for the length of the wait; goc__dialstop_stop sets a passed deadline
 * on every entered socket, which wakes the goc_wait_fd on it. A socket is
 * taken out of its slot before it is closed. */
struct goc__dialstop {
    goc_mutex mu; /* guards why and fd */
    int why;      /* 0; once stopped: why (-ECANCELED, or the ctx's error) */
    int fd[2];    /* the socket slot i waits on, or -1 */
    goc_ctx *ctx; /* the dial's, or NULL (borrowed): its done channel wakes
                     a resolver that sleeps on no socket */
};

/* A stop with nothing entered, for ctx (may be NULL). */
void goc__dialstop_init(goc__dialstop *s, goc_ctx *ctx);
/* Stop the dial with why (< 0); the first why stays. Any goroutine or
 * thread; does not block beyond s->mu (a ctx's after-func may call it). */
void goc__dialstop_stop(goc__dialstop *s, int why);
/* Why s was stopped, or 0. */
int goc__dialstop_why(goc__dialstop *s);
/* fd is about to be waited on in slot: 0, or why if the dial was
 * stopped already (fd is not entered then). */
int goc__dialstop_enter(goc__dialstop *s, int slot, int fd);
/* The wait in slot ended with err (0: fine): take its fd out. Returns
 * err, or why if the dial was stopped meanwhile. */
int goc__dialstop_leave(goc__dialstop *s, int slot, int err);

/* A new socket connected to sa by deadline (a goc_now() time; 0: none):
 * the fd, or a negative errno. stop (may be NULL): the socket is entered
 * in its slot while connecting; the stop's why if it stopped meanwhile. */
int goc__dial_one(const goc__net *net, const struct sockaddr_storage *sa, socklen_t len,
                  int64_t deadline, goc__dialstop *stop, int slot);

/* Connect to one of addrs by deadline (0: none), as Go's dialer: in turn,
 * each address with a fair share of the time left; IPv6 and IPv4 raced
 * (Happy Eyeballs) when both are there. stop (NULL: nothing but the
 * deadline ends the dial) ends it early. The fd, or the error of the
 * first address that failed (or the stop's why). */
int goc__dial_addrs(const goc__net *net, const goc__addrs *addrs, int64_t deadline,
                    goc__dialstop *stop);

#endif /* GOC_NET_DIAL_H */
