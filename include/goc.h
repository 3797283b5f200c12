/*
 * goc.h — Go's concurrency model in C: the whole public API of libgoc.
 *
 * Conventions (stated once, true of every function below):
 *  - A function that can fail returns int (or ssize_t): >= 0 on success, a
 *    negative errno value on failure (-ENOMEM, -EINVAL, ...). goc_strerror()
 *    names the code; goc_errmsg() gives the calling goroutine's last failure
 *    with its context ("dial tcp: address 10.0.0.1:99999: invalid port").
 *    The library never reports through errno.
 *  - Durations are goc_duration: int64_t nanoseconds. GOC_FOREVER (negative)
 *    means "no timeout".
 *  - "Goroutine only" functions must be called from a goroutine (code started
 *    by goc_run or goc_go); called from any other thread they stop the program
 *    with a message naming the call. Every other function may be called from
 *    any thread, including threads the runtime did not create.
 *  - Misuse that Go answers with a panic stops the program with a message that
 *    names the goroutine and the call, exit status 2.
 */
#ifndef GOC_H
#define GOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(GOC_BUILDING) && defined(__GNUC__)
#define GOC_API __attribute__((visibility("default")))
#else
#define GOC_API
#endif

/* ---- time ------------------------------------------------------------- */

typedef int64_t goc_duration; /* nanoseconds */

#define GOC_NANOSECOND  ((goc_duration)1)
#define GOC_MICROSECOND ((goc_duration)1000)
#define GOC_MILLISECOND ((goc_duration)1000000)
#define GOC_SECOND      ((goc_duration)1000000000)
#define GOC_MINUTE      ((goc_duration)60 * GOC_SECOND)
#define GOC_HOUR        ((goc_duration)60 * GOC_MINUTE)
#define GOC_FOREVER     ((goc_duration)-1)

/* Monotonic clock in nanoseconds (CLOCK_MONOTONIC). Any thread. */
GOC_API int64_t goc_now(void);

/* Park the calling goroutine for at least d (d <= 0 returns at once, after a
 * yield). Goroutine or plain thread: a plain thread just sleeps. */
GOC_API void goc_sleep(goc_duration d);

/* ---- runtime ---------------------------------------------------------- */

/* Start the runtime (if it is not running yet) with goc_maxprocs() workers,
 * run main_fn(arg) as a goroutine and block the calling thread until it
 * returns; return its result. Goroutines still alive when main_fn returns are
 * abandoned: goc_run does not wait for them (the process exit ends them, as
 * when a Go program's main returns). Call from a plain thread, not from a
 * goroutine (-EDEADLK). Returns -EINVAL if main_fn is NULL, -ENOMEM, or
 * -EAGAIN if the runtime could not start its threads.
 *
 * Deadlock: when every goroutine is blocked and nothing can wake one (no
 * timer pending, no goroutine waiting on I/O, no plain thread that has used
 * goc still alive: see goc_attach_thread), the program prints "fatal error:
 * all goroutines are asleep - deadlock!" and every goroutine, and exits 2. */
GOC_API int goc_run(int (*main_fn)(void *arg), void *arg);

/* Spawn fn(arg) as a new goroutine. Any thread; starts the runtime if
 * needed. Returns 0, -EINVAL if fn is NULL, -ENOMEM if no stack or
 * goroutine could be allocated (the runtime keeps working). arg is passed as
 * is: it must stay valid for as long as fn uses it. */
GOC_API int goc_go(void (*fn)(void *arg), void *arg);

/* Options for goc_go_with. The zero value means "defaults". */
typedef struct goc_go_opts {
    size_t stack_size; /* bytes; 0: goc_default_stack_size(). Rounded up to
                          whole pages, at least 16 KiB. */
    const char *name;  /* shown in goroutine dumps; must be a string that
                          outlives the goroutine (a literal); NULL: none */
    uint64_t *id;      /* out, if not NULL: the new goroutine's id */
} goc_go_opts;

/* goc_go with options. Same errors as goc_go, plus -EINVAL for a stack size
 * above 1 GiB. */
GOC_API int goc_go_with(void (*fn)(void *arg), void *arg, const goc_go_opts *opts);

/* runtime.Gosched: let other goroutines run; the caller stays runnable.
 * Goroutine or plain thread (sched_yield). */
GOC_API void goc_yield(void);

/* runtime.Goexit: end the calling goroutine. Goroutine only. Ending the
 * main goroutine of goc_run this way makes goc_run return 0. */
GOC_API _Noreturn void goc_exit(void);

/* The number of Ps (goroutines running at once): GOC_MAXPROCS from the
 * environment if set (1..1024), else the CPUs this process may use (the
 * affinity mask, capped by a cgroup CPU quota). Fixed when the runtime
 * starts. Any thread. */
GOC_API int goc_maxprocs(void);

/* Goroutines that exist now (runnable, running or blocked). Any thread. */
GOC_API size_t goc_numgoroutine(void);

/* The calling goroutine's id (1 for the first goc_run's main), or 0 on a thread that
 * is not a goroutine. Ids are never reused. */
GOC_API uint64_t goc_id(void);

/* Announce the calling plain thread (one that is not running a goroutine)
 * as one that may later wake goroutines: a send on a channel, an unlock, a
 * goc_waitgroup_done. The deadlock check (see goc_run) already counts
 * every live thread of the process; this registration also shows the
 * thread in goc's bookkeeping, and most goc calls from a plain thread do
 * it implicitly. No-op on a goroutine. */
GOC_API void goc_attach_thread(void);

/* The default stack size for new goroutines: GOC_STACK_SIZE from the
 * environment (bytes, with optional k/m suffix) if set, else 256 KiB. Stacks
 * are committed lazily: a goroutine that touches one page costs one page. */
GOC_API size_t goc_default_stack_size(void);

/* Counters a program can read at any time (a consistent-enough snapshot:
 * each field is read atomically, the set is not). */
typedef struct goc_stats {
    uint64_t goroutines;         /* alive now */
    uint64_t goroutines_created; /* since start */
    uint64_t maxprocs;           /* Ps */
    uint64_t threads;            /* worker threads (Ms) created */
    uint64_t idle_procs;         /* Ps with nothing to run now */
    uint64_t context_switches;   /* goroutine switches */
    uint64_t steals;             /* successful run-queue steals */
    uint64_t retakes;            /* Ps handed off from a stuck worker */
    uint64_t timers;             /* timers pending */
    uint64_t stacks_mapped;      /* goroutine stacks mapped now */
    uint64_t stacks_unguarded;   /* of those, without a guard page */
    uint64_t stack_bytes_mapped; /* virtual bytes of those stacks */
} goc_stats;

/* Fill *st. Any thread; st must not be NULL. */
GOC_API void goc_read_stats(goc_stats *st);

/* Write every goroutine (id, state, what it waits on, backtrace) to fd, as
 * SIGQUIT does. Any thread. Returns 0. */
GOC_API int goc_dump(int fd);

/* ---- channels ---------------------------------------------------------
 *
 * A channel carries fixed-size elements (elem_size bytes, copied with
 * memcpy) between goroutines and threads, with Go's semantics: FIFO, an
 * unbuffered channel is a rendezvous, a buffered one a ring of cap
 * elements. Element size is the caller's contract: every elem pointer
 * passed for a channel must point to elem_size bytes (nothing for a
 * signal channel of size 0). Channels are reference counted: make returns
 * one reference; the last release frees the channel (goroutines still
 * blocked on it then are a bug, as a leak is in Go). All functions work
 * from goroutines and from plain threads (which block).
 */

typedef struct goc_chan goc_chan;

/* A channel of elem_size-byte elements and capacity cap (0: unbuffered).
 * NULL if out of memory. */
GOC_API goc_chan *goc_chan_make(size_t elem_size, size_t cap);
GOC_API goc_chan *goc_chan_retain(goc_chan *c); /* returns c */
GOC_API void goc_chan_release(goc_chan *c);     /* NULL is ignored */

/* Send *elem, blocking until a receiver takes it or there is room.
 * 0; -EPIPE if the channel is closed (or gets closed while waiting);
 * -EINVAL if c is NULL. */
GOC_API int goc_chan_send(goc_chan *c, const void *elem);
/* Receive into *elem (may be NULL to discard), blocking until a value
 * arrives. 0; -EPIPE when the channel is closed and drained (*elem is
 * zeroed); -EINVAL if c is NULL. */
GOC_API int goc_chan_recv(goc_chan *c, void *elem);
/* Non-blocking forms: -EAGAIN where the blocking form would wait. */
GOC_API int goc_chan_try_send(goc_chan *c, const void *elem);
GOC_API int goc_chan_try_recv(goc_chan *c, void *elem);
/* Close: receivers drain what is buffered, then get -EPIPE; blocked and
 * later senders get -EPIPE. 0; -EPIPE if already closed; -EINVAL. */
GOC_API int goc_chan_close(goc_chan *c);
GOC_API size_t goc_chan_len(goc_chan *c); /* buffered elements now */
GOC_API size_t goc_chan_cap(goc_chan *c);

typedef enum goc_op { GOC_OP_SEND = 1, GOC_OP_RECV = 2 } goc_op;

typedef struct goc_case {
    goc_chan *chan; /* NULL: the case is never ready, as a nil channel in Go */
    goc_op op;
    void *elem;  /* value to send, or where to store the received one (or NULL) */
    bool closed; /* out: the case proceeded because the channel was closed */
} goc_case;

#define GOC_SEND(c, p) ((goc_case){.chan = (c), .op = GOC_OP_SEND, .elem = (void *)(p)})
#define GOC_RECV(c, p) ((goc_case){.chan = (c), .op = GOC_OP_RECV, .elem = (p)})

/* Go's select: wait until one of the n cases can proceed, perform it and
 * return its index; among several ready cases one is chosen uniformly at
 * random. timeout 0: -EAGAIN if none is ready (Go's default case);
 * timeout > 0: -ETIMEDOUT when it expires; GOC_FOREVER: wait. A send case
 * on a closed channel proceeds with closed = true and sends nothing (Go
 * panics there). -EINVAL if cases is NULL with n > 0 or n > 65536. With no
 * ready-able case and GOC_FOREVER it blocks forever (select {}). */
GOC_API int goc_select(goc_case *cases, size_t n, goc_duration timeout);

/* Like time.After: a channel (elem int64_t, cap 1) that receives
 * goc_now() once, d from now. The caller owns one reference. NULL if out
 * of memory. */
GOC_API goc_chan *goc_after(goc_duration d);

/* ---- timers -------------------------------------------------------------
 *
 * time.Timer, time.Ticker and time.AfterFunc on the per-P timer heaps.
 * A goc_timer is reference counted (new returns one reference); release
 * stops it and drops the reference. Stopping is O(1): a stopped timer is
 * only marked, and swept from its heap later, so a server can arm and
 * disarm a deadline per request cheaply. Any thread.
 */

typedef struct goc_timer goc_timer;

/* A timer whose channel (goc_timer_chan; int64_t, cap 1) receives
 * goc_now() once, d from now. NULL if out of memory. */
GOC_API goc_timer *goc_timer_new(goc_duration d);
/* A ticker: its channel receives goc_now() every period (ticks are dropped
 * while the channel is full, as Go's). NULL if period <= 0 or ENOMEM. */
GOC_API goc_timer *goc_ticker_new(goc_duration period);
/* Run fn(arg) in a new goroutine d from now (time.AfterFunc); it has no
 * channel. NULL if out of memory. */
GOC_API goc_timer *goc_after_func(goc_duration d, void (*fn)(void *arg), void *arg);
/* The timer's channel, borrowed: valid while the caller holds the timer
 * (retain it to keep it longer). NULL for goc_after_func timers. */
GOC_API goc_chan *goc_timer_chan(goc_timer *t);
/* Stop it: true if this prevented a pending fire (time.Timer.Stop). A
 * value already sent stays in the channel. */
GOC_API bool goc_timer_stop(goc_timer *t);
/* Re-arm it for d from now (a ticker: period d; d <= 0 is -EINVAL for a
 * ticker). Returns 1 if it was pending, 0 if not, or a negative errno. */
GOC_API int goc_timer_reset(goc_timer *t, goc_duration d);
GOC_API goc_timer *goc_timer_retain(goc_timer *t);
GOC_API void goc_timer_release(goc_timer *t); /* also stops it; NULL ignored */

/* ---- context ---------------------------------------------------------------
 *
 * Go's context: cancellation, deadlines and request-scoped values that
 * flow down a tree. Contexts are reference counted; a child holds its
 * parent. Cancelling a context cancels every descendant. The background
 * context is static: retain/release do nothing on it. Any thread.
 */

typedef struct goc_ctx goc_ctx;

/* The root: never cancelled, no deadline, no values. Never NULL. */
GOC_API goc_ctx *goc_ctx_background(void);
/* Children. NULL if out of memory (or parent NULL). A child of a context
 * that is already cancelled starts cancelled. */
GOC_API goc_ctx *goc_ctx_with_cancel(goc_ctx *parent);
GOC_API goc_ctx *goc_ctx_with_timeout(goc_ctx *parent, goc_duration d);
/* deadline is a goc_now() time. */
GOC_API goc_ctx *goc_ctx_with_deadline(goc_ctx *parent, int64_t deadline);
/* key is compared by address (use the address of a static as Go uses an
 * unexported type); value is borrowed. */
GOC_API goc_ctx *goc_ctx_with_value(goc_ctx *parent, const void *key, void *value);
/* Cancel c and its descendants with -ECANCELED (a no-op on background,
 * value-only contexts' cancel cancels nothing of the parent). */
GOC_API void goc_ctx_cancel(goc_ctx *c);
/* A channel that is closed when c is cancelled (borrowed, valid while c
 * is held); NULL for a context that can never be cancelled, which
 * goc_select treats as never ready, as Go treats a nil Done(). */
GOC_API goc_chan *goc_ctx_done(goc_ctx *c);
/* 0 while not cancelled; -ECANCELED, or -ETIMEDOUT if the deadline
 * passed. */
GOC_API int goc_ctx_err(goc_ctx *c);
/* The value for key, searching up the tree; NULL if none. */
GOC_API void *goc_ctx_value(goc_ctx *c, const void *key);
/* The deadline (a goc_now() time), or 0 if none. */
GOC_API int64_t goc_ctx_deadline(goc_ctx *c);
GOC_API goc_ctx *goc_ctx_retain(goc_ctx *c);
GOC_API void goc_ctx_release(goc_ctx *c); /* NULL ignored */

/* A goc_ctx_after_func registration, to stop it with. */
typedef struct goc_ctx_stop goc_ctx_stop;
/* context.AfterFunc: arrange for fn(arg) to be called once, when c is
 * cancelled (or its deadline passes). If c is already done, fn is called
 * before this returns. Unlike Go, which starts a goroutine for f, fn runs
 * on the goroutine or thread that cancels c (for a deadline, the goroutine
 * its timer starts), after the context tree's locks are released: it must
 * be short and must not block (wake something, set a flag, set a deadline
 * on an fd). It may use contexts (c's err is set and its done closed when
 * fn runs) but must not stop its own registration. Cost: one small
 * allocation, no goroutine. *stop (stop may be NULL if the caller never
 * stops) receives the handle, which holds a reference to c's nearest
 * cancellable ancestor until stopped (so c may be released first); NULL
 * when c can never be cancelled (background, value-only chains of it): fn
 * never runs. Without a handle, a registration on a context freed
 * uncancelled is dropped and fn never runs. 0; -EINVAL if fn is NULL;
 * -ENOMEM (fn will not be called). arg is borrowed until fn has run or
 * stop returned. Any thread. */
GOC_API int goc_ctx_after_func(goc_ctx *c, void (*fn)(void *arg), void *arg, goc_ctx_stop **stop);
/* Unregister and free the handle. true: fn will never run. false: fn
 * already ran or is running; this then waits until it has returned, so the
 * caller may free what fn touches as soon as this returns. A handle is
 * stopped exactly once, even after fn ran (this frees it); a NULL handle
 * returns true. Any thread; must not be called from fn itself. */
GOC_API bool goc_ctx_after_func_stop(goc_ctx_stop *s);

/* ---- sync -------------------------------------------------------------
 *
 * Go's sync primitives. The zero value of each is ready to use
 * (goc_mutex mu = {0}; static goc_waitgroup wg;). They work from
 * goroutines and from plain threads (which block), and must not be copied
 * after first use. Misuse that Go panics on (unlocking an unlocked mutex,
 * a negative WaitGroup counter) stops the program with a message naming
 * the goroutine. The fields are private.
 */

typedef struct goc_mutex {
    int32_t state_;
    uint32_t sema_;
} goc_mutex;

/* sync.Mutex, with Go's normal and starvation modes: a waiter that has
 * waited over 1 ms gets the lock handed to it, so none starves. */
GOC_API void goc_mutex_lock(goc_mutex *m);
GOC_API bool goc_mutex_trylock(goc_mutex *m);
GOC_API void goc_mutex_unlock(goc_mutex *m);

typedef struct goc_rwmutex {
    goc_mutex w_;
    uint32_t writer_sem_, reader_sem_;
    int32_t reader_count_, reader_wait_;
} goc_rwmutex;

/* sync.RWMutex: a waiting writer holds off new readers. */
GOC_API void goc_rwmutex_rlock(goc_rwmutex *m);
GOC_API void goc_rwmutex_runlock(goc_rwmutex *m);
GOC_API void goc_rwmutex_lock(goc_rwmutex *m);
GOC_API void goc_rwmutex_unlock(goc_rwmutex *m);

typedef struct goc_waitgroup {
    uint64_t state_; /* counter << 32 | waiters */
    uint32_t sema_;
} goc_waitgroup;

/* sync.WaitGroup. add with a delta that makes the counter negative stops
 * the program; wait blocks until the counter is zero. */
GOC_API void goc_waitgroup_add(goc_waitgroup *wg, int64_t delta);
GOC_API void goc_waitgroup_done(goc_waitgroup *wg);
GOC_API void goc_waitgroup_wait(goc_waitgroup *wg);

typedef struct goc_once {
    uint32_t done_;
    goc_mutex m_;
} goc_once;

/* sync.Once: run fn(arg) exactly once over all calls on o; every caller
 * returns after it has completed. */
GOC_API void goc_once_do(goc_once *o, void (*fn)(void *arg), void *arg);

/* Internal: a wait list of waiters on their own stacks (its functions are
 * in src/runtime/list.h); empty as a zero value. */
struct goc__link;
struct goc__list {
    struct goc__link *head, *tail;
};

typedef struct goc_cond {
    uint32_t wait_, notify_; /* tickets */
    uint32_t lock_;
    struct goc__list waiters_;
} goc_cond;

/* sync.Cond with an explicit mutex: wait atomically unlocks m and parks,
 * and relocks m before returning (spurious wakeups are possible only as
 * in Go: recheck the condition in a loop). */
GOC_API void goc_cond_wait(goc_cond *c, goc_mutex *m);
GOC_API void goc_cond_signal(goc_cond *c);
GOC_API void goc_cond_broadcast(goc_cond *c);

typedef struct goc_semaphore {
    int64_t size_, cur_; /* under lock_ */
    uint32_t lock_;
    struct goc__list waiters_; /* FIFO of waiters, on their stacks */
} goc_semaphore;

/* A weighted semaphore (golang.org/x/sync/semaphore.Weighted) of n
 * units: GOC_SEMAPHORE_INIT(n) or goc_semaphore_init(s, n) before use;
 * the zero value has no units. Waiters are served first come first
 * served: a large request at the front holds off smaller ones behind it. */
#define GOC_SEMAPHORE_INIT(n)                                                                      \
    {                                                                                              \
        .size_ = (n)                                                                               \
    }
GOC_API void goc_semaphore_init(goc_semaphore *s, int64_t n);
/* Take n units, waiting until they are free or ctx (NULL: never) is
 * done. 0; goc_ctx_err(ctx) if ctx was done first (then nothing is
 * taken, even if the units were free); -EINVAL if n < 0 or n exceeds
 * the semaphore's size; -ENOMEM if it had to wait with a ctx and could
 * not allocate the wait. */
GOC_API int goc_semaphore_acquire(goc_semaphore *s, goc_ctx *ctx, int64_t n);
/* Take n units without waiting; false if they are not free (or others
 * are waiting ahead). */
GOC_API bool goc_semaphore_try_acquire(goc_semaphore *s, int64_t n);
/* Give back n units. Releasing more than is held stops the program. */
GOC_API void goc_semaphore_release(goc_semaphore *s, int64_t n);

/* sync.Pool: a cache of free objects that goroutines share, so a hot
 * path (an HTTP request's buffers) reuses memory instead of allocating.
 * Each P keeps its own small stack of objects, so get and put are
 * lock-free while a P's cache neither runs empty nor overflows; the rest
 * sits in a shared list. As Go drops pooled objects at each collection,
 * goc frees (with free_fn) those that no get has taken for one to two
 * seconds (two to three for the cache of a P that stopped using the
 * pool), so a pool does not hold a peak's memory forever.
 * A cached object is the pool's: it stores a link in the object's first
 * pointer-sized word, so objects must be at least sizeof(void *) long. */
typedef struct goc_pool goc_pool;

/* new_fn(arg) makes an object when the pool is empty (NULL: get returns
 * NULL then); free_fn(obj, arg) frees one (NULL: free()). NULL on
 * ENOMEM. */
GOC_API goc_pool *goc_pool_new(void *(*new_fn)(void *arg), void (*free_fn)(void *obj, void *arg),
                               void *arg);
/* A cached object, or a new one from new_fn. Any thread. */
GOC_API void *goc_pool_get(goc_pool *p);
/* Give obj back (NULL ignored). The caller must not touch it after. */
GOC_API void goc_pool_put(goc_pool *p, void *obj);
/* Free every cached object and the pool. No get or put may be running
 * or follow. NULL ignored. */
GOC_API void goc_pool_free(goc_pool *p);

/* ---- network and file I/O ---------------------------------------------
 *
 * Blocking-style calls on plain fds that park only the calling goroutine
 * (a plain thread blocks). goc registers an fd with its poller (epoll,
 * edge-triggered) the first time it waits on it, and sets O_NONBLOCK on
 * it; fds goc creates (goc_listen, goc_accept, goc_dial) are nonblocking
 * and close-on-exec from the start. setsockopt, getsockname, shutdown and
 * the rest of POSIX work on them as usual.
 *
 * Close an fd that goc has used with goc_close, not close(): it wakes the
 * goroutines waiting on it (they get -EBADF, Go's "use of closed network
 * connection") and closes the fd once no goc call is using it, so the
 * number cannot be reused under a call in flight.
 *
 * Writes on sockets never raise SIGPIPE (goc ignores it unless the
 * program installed a handler): a peer that went away is -EPIPE or
 * -ECONNRESET from the call.
 */

enum { GOC_READ = 1, GOC_WRITE = 2 };

typedef struct goc_listen_opts {
    int backlog;    /* 0: SOMAXCONN */
    bool reuseport; /* SO_REUSEPORT: several listeners share the port */
} goc_listen_opts;

/* net.Listen: network "tcp", "tcp4", "tcp6" with address "host:port",
 * "[ipv6]:port" or ":port" (all addresses; "tcp" listens on both IPv4 and
 * IPv6), or "unix" with a path. The port is a number or a service name
 * ("http", from /etc/services or Go's built-in table). SO_REUSEADDR is set
 * for TCP. Returns the listening fd or a negative errno: -EINVAL for a
 * malformed address or an unknown network, GOC_ENOTFOUND if the host does
 * not resolve, GOC_ENOSERVICE for an unknown port name. */
GOC_API int goc_listen(const char *network, const char *address);
GOC_API int goc_listen_with(const char *network, const char *address, const goc_listen_opts *opts);
/* Accept a connection (nonblocking, close-on-exec, TCP_NODELAY); addr/addrlen as
 * accept(2), may be NULL. If the process is out of fds (EMFILE, ENFILE)
 * it backs off and retries, as Go does, saying so once on stderr.
 * TCP connections from goc_accept and goc_dial also have TCP_INQ on (goc
 * reads with it): a program's own recvmsg on them gets a TCP_CM_INQ
 * control message when it passes a control buffer. */
GOC_API int goc_accept(int lfd, struct sockaddr *addr, socklen_t *addrlen);
/* net.DialTimeout: connect to address on network (as goc_listen). A host
 * name is resolved and its addresses are tried in turn, each with a fair
 * share of the time left (at least 2 s); when it has both IPv6 and IPv4
 * addresses the two families race as Go's (Happy Eyeballs): the other
 * family starts 300 ms after the first, or at once if the first failed,
 * and the first connection wins (the other attempt is closed before
 * goc_dial returns). TCP_NODELAY is set, as Go does. timeout covers name
 * resolution too; <= 0 or GOC_FOREVER: no limit (beyond the kernel's).
 * Returns the connected fd or a negative errno (-ECONNREFUSED,
 * -ETIMEDOUT, -EINVAL, GOC_ENOTFOUND, GOC_ENOSERVICE, ...): the first
 * address's error when all fail. */
GOC_API int goc_dial(const char *network, const char *address, goc_duration timeout);
/* Dialer.DialContext: goc_dial that also ends as soon as ctx is done,
 * whether it is resolving the name or connecting, with goc_ctx_err(ctx)
 * (-ECANCELED, or -ETIMEDOUT for its deadline, which also bounds the
 * dial): every attempt under way is closed and no goroutine is left
 * behind (a getaddrinfo(3) call that NSS needed finishes on its pool
 * thread, as at the timeout). goc_errmsg is Go's: "dial tcp
 * 10.0.0.1:80: operation was canceled", "dial tcp: lookup h: operation
 * was canceled". A connection made is unaffected by ctx afterwards. ctx
 * NULL, or one that can never be cancelled: exactly goc_dial. ctx is
 * borrowed for the call. Goroutines and threads. */
GOC_API int goc_dial_ctx(goc_ctx *ctx, const char *network, const char *address,
                         goc_duration timeout);

/* Read up to n bytes: the count, 0 at end of file, or a negative errno
 * (-ETIMEDOUT past the read deadline, -EBADF once goc_close ran). */
GOC_API ssize_t goc_read(int fd, void *buf, size_t n);
/* Write all n bytes (looping over short writes): n, or a negative errno;
 * on an error some bytes may have been written. */
GOC_API ssize_t goc_write(int fd, const void *buf, size_t n);
GOC_API ssize_t goc_readv(int fd, const struct iovec *iov, int iovcnt);
GOC_API ssize_t goc_writev(int fd, const struct iovec *iov, int iovcnt); /* all bytes */

/* UDP (goc_listen("udp", ":0") binds a socket, goc_dial("udp", ...)
 * connects one): one datagram each, as recvfrom(2) / sendto(2). */
GOC_API ssize_t goc_recvfrom(int fd, void *buf, size_t n, struct sockaddr *addr,
                             socklen_t *addrlen);
GOC_API ssize_t goc_sendto(int fd, const void *buf, size_t n, const struct sockaddr *addr,
                           socklen_t addrlen);
/* Send count bytes of in_fd (from *offset, advanced; NULL: its file
 * position) to the socket out_fd with sendfile(2): the count sent (less
 * only at the end of in_fd), or a negative errno. */
GOC_API ssize_t goc_sendfile(int out_fd, int in_fd, off_t *offset, size_t count);

/* Signals as channels, as os/signal.Notify: each of sigs (n of them) that
 * the process receives is sent (an int, the signal number) on c, which
 * must have elem_size sizeof(int) and should be buffered: a signal that
 * finds c full is dropped, as in Go. c is retained until
 * goc_signal_stop. The first notify for a signal replaces its
 * disposition; the last stop restores the one before. 0 or a negative errno
 * (-EINVAL for SIGKILL, SIGSTOP, a bad number or a channel of another
 * element size). */
GOC_API int goc_signal_notify(goc_chan *c, const int *sigs, size_t n);
GOC_API void goc_signal_stop(goc_chan *c);

/* Wait until fd is ready for events (GOC_READ | GOC_WRITE), for driving
 * another nonblocking library from a goroutine. Returns the ready events
 * (> 0), -ETIMEDOUT after timeout (GOC_FOREVER: none), -EBADF if closed.
 * Level-triggered: returns at once if fd is ready now. Like goc_read and
 * goc_write it takes its turn with other calls in the same direction. */
GOC_API int goc_wait_fd(int fd, int events, goc_duration timeout);

/* SetDeadline / SetReadDeadline / SetWriteDeadline: calls in that
 * direction, pending or future, fail with -ETIMEDOUT once goc_now()
 * passes t; 0 clears it. Setting one costs no heap operation when it
 * replaces another (a server sets one per request). 0, -EBADF, or
 * -ENOMEM if no timer heap had room for it. */
GOC_API int goc_set_deadline(int fd, int64_t t);
GOC_API int goc_set_read_deadline(int fd, int64_t t);
GOC_API int goc_set_write_deadline(int fd, int64_t t);

/* Close fd (see above). 0, or -EBADF if it is already being closed. */
GOC_API int goc_close(int fd);

/* Run fn(arg) on a bounded pool of threads kept for blocking calls (file
 * I/O, a library that blocks) while the calling goroutine parks; on a
 * plain thread, just call it. 0, or -ENOMEM. */
GOC_API int goc_blocking(void (*fn)(void *arg), void *arg);

/* Regular files, on the goc_blocking pool (epoll cannot wait for a disk):
 * pread/pwrite of all n bytes (pread: fewer only at end of file), or a
 * negative errno. */
GOC_API ssize_t goc_pread(int fd, void *buf, size_t n, off_t off);
GOC_API ssize_t goc_pwrite(int fd, const void *buf, size_t n, off_t off);
/* os.ReadFile: the whole file in *data (malloc'ed, for free()), its size
 * in *len (may be NULL). 0 or a negative errno. */
GOC_API int goc_read_file(const char *path, char **data, size_t *len);

/* Name resolution errors (outside the errno range, like getaddrinfo's). */
#define GOC_ENOTFOUND  (-3001) /* no such host */
#define GOC_ETEMPFAIL  (-3002) /* temporary failure in name resolution */
#define GOC_ENOSERVICE (-3003) /* unknown port name (not in /etc/services) */

/* ---- errors ----------------------------------------------------------- */

/* A message for a negative (or positive) errno value returned by goc: the
 * code's generic text ("connection refused"). Never NULL; the string is
 * static. Any thread. */
GOC_API const char *goc_strerror(int err);

/* The message of the calling goroutine's last failed goc call, with its
 * context, as Go's errors carry it (sqlite3_errmsg in SQLite's terms):
 *   "dial tcp: address 127.0.0.1:99999: invalid port"
 *   "dial tcp 127.0.0.1:1: connect: connection refused"
 *   "goc_chan_send: send on closed channel"
 * Only failures set it: a call that succeeds leaves it as it was, and a
 * "not ready" answer (-EAGAIN from goc_chan_try_send/_try_recv, a
 * goc_select with timeout 0) is not a failure. "no error" if this goroutine
 * has not failed yet. Per goroutine (a plain thread has its own): another
 * goroutine's failure never shows here. Never NULL; the string stays valid
 * until this goroutine's next failing goc call. Any thread. */
GOC_API const char *goc_errmsg(void);

/* The negative errno that goc_errmsg() describes, or 0. Any thread. */
GOC_API int goc_errcode(void);

#ifdef __cplusplus
}
#endif
#endif /* GOC_H */
