/*
 * park.h — the runtime's interface to the layers above it (chan, sync,
 * time, ctx, net): park and ready, entering the runtime, timers, the net
 * poller hook, the runtime's small lock, errors. Not installed. The
 * scheduler's own state and functions are in runtime.h, for src/runtime
 * only; the structs below are defined here because the inline fast paths
 * (goc__enter, goc__leave) read them, and their fields belong to the
 * runtime: the layers above touch none of them.
 *
 * Glossary, as in Go's runtime:
 *   G  a goroutine: a stack, a saved stack pointer and a status.
 *   M  a worker thread. While it runs goroutines it holds a P. Its g0 is the
 *      scheduler context on the thread's own stack.
 *   P  a processor: the right to run goroutines, plus what goes with it — a
 *      local run queue, a timer heap and a cache of free Gs. There are
 *      goc_maxprocs() Ps; an M must hold one to run goroutine code.
 *
 * Invariants:
 *   - A G is in at most one queue (a P's runq/runnext, the global runq, a
 *     free list) and only when its status says so (RUNNABLE, or DEAD).
 *   - A P is owned by at most one M. p->status packs the owner's id with the
 *     P's state, so an M whose P was retaken by sysmon (while it ran user
 *     code too long) can never take it back by mistake (no ABA).
 *   - m->rtdepth > 0 ("in the runtime") while the M manipulates its P; at
 *     depth 0 the M runs goroutine code and sysmon may retake the P.
 *     Every context switch happens at depth exactly 1.
 *
 * Interface to the layers above (channels, sync, netpoller): a goroutine
 * parks itself with goc__park(unlockf, arg, reason); unlockf runs after the
 * goroutine's registers are saved, so whoever can find the goroutine through
 * the lock that unlockf releases may goc__ready() it at once. Threads that
 * are not goroutines get a thread-G (goc__getg_or_thread) whose park blocks
 * the thread on a futex: the same protocol works for both.
 */
#ifndef GOC_RUNTIME_PARK_H
#define GOC_RUNTIME_PARK_H

#include <goc.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GOC_LIKELY(x)   __builtin_expect(!!(x), 1)
#define GOC_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define GOC_INTERNAL    __attribute__((visibility("hidden")))

typedef struct goc__g goc__g;
typedef struct goc__m goc__m;
typedef struct goc__p goc__p;

/* ---- futex notes (note.c): one-shot sleep/wakeup, as Go's note ------- */

typedef struct goc__note {
    _Atomic uint32_t key; /* 0: clear, 1: woken */
} goc__note;

void goc__note_clear(goc__note *n);
void goc__note_wakeup(goc__note *n);
void goc__note_sleep(goc__note *n);
/* Sleep until woken or until the monotonic time deadline (ns; <= 0: no
 * deadline). Returns true if woken. */
bool goc__note_sleep_until(goc__note *n, int64_t deadline);

/* ---- a futex mutex (lock.c) ------------------------------------------ */

/* Zero value unlocked. Unlike a pthread mutex it may be released by
 * another goroutine on the same thread (park's unlockf). Never held
 * across a blocking call. */
typedef struct goc__lock {
    _Atomic uint32_t key;
} goc__lock;

/* A spin-wait hint to the CPU (x86 PAUSE, arm64 YIELD). */
static inline void goc__cpu_relax(void)
{
#if defined(__x86_64__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
}

void goc__lock_slow(goc__lock *l);
void goc__unlock_slow(goc__lock *l);

static inline void goc__lock_acquire(goc__lock *l)
{
    uint32_t v = 0;
    /* acquire: pairs with the release in goc__lock_release. */
    if (!atomic_compare_exchange_strong_explicit(&l->key, &v, 1, memory_order_acquire,
                                                 memory_order_relaxed))
        goc__lock_slow(l);
}

static inline void goc__lock_release(goc__lock *l)
{
    if (atomic_exchange_explicit(&l->key, 0, memory_order_release) == 2)
        goc__unlock_slow(l);
}

/* ---- stacks (stack.c; the functions are runtime.h's) -------------------- */

typedef struct goc__stack {
    char *lo;         /* lowest usable byte */
    char *hi;         /* one past the highest usable byte */
    char *map;        /* start of the mapping (guard page or chunk) */
    size_t maplen;    /* bytes mapped for this stack alone; 0 if packed */
    bool guarded;     /* a PROT_NONE page lies just below lo */
    unsigned vg_id;   /* valgrind's id for the stack */
    uint64_t *canary; /* unguarded: word an overflow clobbers first (stack.c) */
} goc__stack;

/* ---- timers (timer.c) ------------------------------------------------- */

typedef struct goc__timer goc__timer;
/* Called by the scheduler (in the runtime, holding a P, no locks held). */
typedef void (*goc__timer_fn)(goc__timer *t, void *arg, int64_t now);

enum goc__tstate {
    GOC__T_NONE = 0, /* not in a heap */
    GOC__T_WAITING,  /* in a heap, will fire */
    GOC__T_DELETED,  /* in a heap, stopped: swept later (O(1) stop) */
};

struct goc__timer {
    int64_t when; /* monotonic ns; guarded by the owning P's tlock */
    goc__timer_fn fn;
    void *arg;
    int32_t idx;                  /* heap index, -1 when not in a heap */
    goc__p *_Atomic p;            /* heap it is in (NULL: none); written under its tlock */
    _Atomic uint32_t state;       /* enum goc__tstate; changes under the tlock, or by
                                     goc__timer_stop's CAS WAITING -> DELETED */
    void (*swept)(goc__timer *t); /* called when a DELETED timer leaves its heap,
                                     under that heap's lock: must not block or
                                     take locks (free is fine); may be NULL */
};

/* Add t (fn, arg and when set) to p's heap (in the runtime, holding p).
 * 0, or -ENOMEM if neither p's heap can grow nor another P's has room. */
int goc__timer_add(goc__p *p, goc__timer *t);
/* Add t from any context: the current P's heap, or P 0's from a thread
 * that holds none. 0 or -ENOMEM. */
int goc__timer_start(goc__timer *t);
/* O(1): mark a pending t stopped (swept from its heap later); true if it
 * was pending. Any context. */
bool goc__timer_stop(goc__timer *t);
/* Set t to fire at when: moved in place if it is still in a heap (pending,
 * or stopped and not swept yet), else added to the current P's heap
 * (-ENOMEM if that fails: only adding can). */
enum { GOC__REARM_ADDED, GOC__REARM_MOVED_PENDING, GOC__REARM_MOVED_STOPPED };
int goc__timer_rearm(goc__timer *t, int64_t when);
/* Run p's expired timers. Returns the next pending when, or 0. */
int64_t goc__timers_run(goc__p *p, int64_t now);
/* Try to run another P's timers without blocking on its lock. */
void goc__timers_steal(goc__p *victim, int64_t now);
/* Earliest pending timer over all Ps, or 0 if none. */
int64_t goc__timers_earliest(void);

/* ---- goroutines ------------------------------------------------------- */

enum goc__gstatus {
    GOC__G_IDLE = 0, /* just allocated */
    GOC__G_RUNNABLE, /* in a run queue */
    GOC__G_RUNNING,  /* on an M */
    GOC__G_WAITING,  /* parked */
    GOC__G_DEAD,     /* exited, in a free list */
    GOC__G_DUMPING,  /* WAITING, pinned while a dump unwinds it */
};

enum goc__gflags {
    GOC__GF_MAIN = 1u << 0,   /* goc_run's main goroutine */
    GOC__GF_THREAD = 1u << 1, /* thread-G of a thread that is not an M */
    GOC__GF_G0 = 1u << 2,     /* an M's scheduler context */
    GOC__GF_ERR = 1u << 3,    /* errcode and the rest are set (error.c); a new
                                 goroutine starts without, as flags is set whole */
    GOC__GF_NAMED = 1u << 4,  /* name is set (a free descriptor's name is NULL) */
};

struct goc__g {
    /* First cache line: what spawning, switching and queueing touch. */
    void *sp;                /* saved sp while not running; NULL: not started */
    _Atomic uint32_t status; /* enum goc__gstatus */
    uint32_t flags;
    void (*fn)(void *);
    void *arg;
    goc__g *schedlink; /* run queues / free lists */
    goc__m *m;         /* M running it, NULL if not running */
    uint64_t id;       /* relaxed atomic stores: dumps read it */
    size_t stack_size; /* requested; 0: default */

    goc__stack stack;       /* attached when it first runs (galloc.c) */
    const char *name;       /* user-given, or NULL (relaxed atomic, as id) */
    const char *waitreason; /* why it is WAITING (relaxed atomic, as id) */
    goc__g *allnext;        /* all-Gs list, under goc__allg_lock */
    goc__timer sleeptimer;  /* goc_sleep */
    goc__note threadnote;   /* thread-G: where its thread blocks */
    void *asan_fake_stack;  /* sanitizer fiber state */
    void *tsan_fiber;
    const void *asan_bottom; /* g0: bounds of the thread stack, for ASan */
    size_t asan_size;

    /* The last failure (error.c), valid while flags has GOC__GF_ERR; only
     * the goroutine itself touches these. */
    int32_t errcode;     /* negative errno */
    uint8_t errkind;     /* how errtext/errbuf make the message */
    const char *errtext; /* a static message or operation name */
    char *errbuf;        /* malloc'ed on first use; kept with the descriptor */
} __attribute__((aligned(64)));

/* ---- the net poller hook (netpoll.c) ----------------------------------- *
 *
 * The runtime knows no fds. The net layer (src/net) registers a poller and
 * counts the goroutines parked on I/O; the runtime calls it as Go's
 * scheduler calls netpoll: the idle M that would sleep until the next timer
 * (the timed sleeper) blocks in poll instead, a P about to go idle or steal
 * checks it without blocking, and sysmon checks it when nobody has for
 * 10 ms (every P busy).
 */
typedef struct goc__poller {
    /* Wait for I/O until the goc_now() time until (0: only check;
     * INT64_MAX: no limit), goc__ready every goroutine whose I/O is ready
     * and return how many. Any thread; at most one call blocks at a time. */
    int (*poll)(int64_t until);
    /* Make a blocked poll return soon. Any thread, async-signal-safe. */
    void (*wake)(void);
} goc__poller;

/* Install p (once; later calls are ignored). */
void goc__netpoll_register(const goc__poller *p);
/* Goroutines parked on I/O, kept by the net layer: while there are any,
 * the program is not deadlocked. */
extern _Atomic int32_t goc__netpoll_waiters;
/* A plain thread is about to wait on I/O: make sure some M polls. */
void goc__netpoll_kick(void);

/* ---- processors ------------------------------------------------------- */

#define GOC__RUNQ_SIZE   256
#define GOC__STACK_CACHE 32 /* per P */

enum goc__pstate {
    GOC__P_IDLE = 0,     /* on the idle list or being handed off */
    GOC__P_RUNNING = 1,  /* owned by the M in the status word */
    GOC__P_RETAKING = 2, /* sysmon is deciding whether to take it (sched.c) */
};

static inline uint64_t goc__pstatus(uint32_t mid, enum goc__pstate st)
{
    return ((uint64_t)mid << 8) | (uint64_t)st;
}

struct goc__p {
    /* owner m id << 8 | enum goc__pstate. Stored by acquirep/pidleput;
     * CAS by sysmon (RUNNING -> RETAKING), see "P ownership" in sched.c. */
    _Atomic uint64_t status;
    goc__m *_Atomic owner; /* the M in status, for sysmon */
    uint32_t id;
    goc__p *link; /* idle list, under sched.lock */

    /* Run queue: a bounded ring, lock-free (Go's runq). The owner puts at
     * tail and gets at head; thieves take from head with a CAS.
     * runnext holds the G just readied by this P's goroutine; it runs next
     * and inherits the time slice (schedtick is not bumped). */
    _Atomic uint32_t runqhead; /* CAS by owner and thieves */
    _Atomic uint32_t runqtail; /* written by owner only */
    _Atomic(goc__g *) runq[GOC__RUNQ_SIZE];
    _Atomic(goc__g *) runnext;
    uint32_t runnext_streak; /* consecutive runnext picks; owner only */

    /* Bumped each time a new slice starts on this P; sysmon watches it. */
    _Atomic uint32_t schedtick;
    uint32_t sysmon_tick; /* sysmon only */
    int64_t sysmon_when;  /* sysmon only */

    /* Free G descriptors and default-size stacks; owner only. */
    goc__g *gfree;
    int32_t ngfree;
    int32_t nstack;
    goc__stack stacks[GOC__STACK_CACHE];

    /* Goroutine id batch; owner only. */
    uint64_t goid_next, goid_end;

    /* Timer heap, guarded by tlock. timer0 mirrors heap[0]->when (0 if
     * empty) so others can peek without the lock. */
    pthread_mutex_t tlock;
    goc__timer **timers;
    int32_t ntimers, timerscap;
    _Atomic int32_t ndeleted; /* DELETED timers in the heap */
    _Atomic int64_t timer0;

    /* Counters: written by the owner (relaxed), read by anyone. */
    _Atomic uint64_t ncreated; /* goroutines created on this P */
    _Atomic uint64_t nexited;  /* goroutines that exited on this P */
    _Atomic uint64_t nswitch;  /* context switches */
    _Atomic uint64_t nsteal;   /* successful steals */
} __attribute__((aligned(64)));

/* ---- machines (threads) ----------------------------------------------- */

enum goc__after {
    GOC__AFTER_NONE = 0,
    GOC__AFTER_PARK,   /* run unlockf(afterg); if false, ready it */
    GOC__AFTER_YIELD,  /* put afterg at the tail of the local runq */
    GOC__AFTER_GLOBAL, /* put afterg on the global runq (M has no P) */
    GOC__AFTER_EXIT,   /* free afterg */
};

struct goc__m {
    goc__g g0;     /* scheduler context on the thread stack */
    goc__g *curg;  /* running G (&g0 in the scheduler) */
    goc__p *p;     /* held P, or NULL */
    goc__p *nextp; /* P handed by startm; under sched.lock */
    uint32_t id;
    int rtdepth;           /* > 0: in the runtime (see invariants); M only */
    _Atomic uint32_t inrt; /* rtdepth > 0, for sysmon (P ownership, sched.c) */
    bool spinning;         /* looking for work; counted in nmspinning */
    bool lostp;            /* sysmon took p while we ran user code */
    bool polling;          /* the poll sleeper, in the poller: goc__ready
                              collects into pollq (netpoll.c); M only */
    goc__g *pollq;         /* readied by that poll, through schedlink */
    goc__note park;        /* where the idle M sleeps */
    goc__m *schedlink;     /* idle M list, under sched.lock */
    goc__m *allnext;       /* all Ms, append-only */
    pthread_t thread;
    uint64_t rand; /* fastrand state */

    /* What the next G to run must do for the previous one, once the
     * previous one's registers are saved (see sched.c). */
    enum goc__after after;
    goc__g *afterg;
    bool (*unlockf)(goc__g *, void *);
    void *unlockarg;
};

/* ---- scheduler entry points (sched.c, proc.c) ------------------------- */

/* Start the runtime once; 0 or a negative errno. Any thread. */
extern _Atomic bool goc__inited;
int goc__init_slow(void);
static inline int goc__init(void)
{
    /* acquire: pairs with the release once init is done. */
    if (GOC_LIKELY(atomic_load_explicit(&goc__inited, memory_order_acquire)))
        return 0;
    return goc__init_slow();
}
/* The running goroutine, or NULL if this thread is not running one. */
goc__g *goc__getg(void);
/* The running goroutine, or this thread's thread-G (created on first use,
 * which counts the thread as a possible waker for deadlock detection). */
goc__g *goc__getg_or_thread(void);

/* Park the running G (or block the thread of a thread-G) until
 * goc__ready(). unlockf(g, arg), if not NULL, runs once g is saved; if it
 * returns false g is made runnable again at once. reason is a static
 * string shown in dumps ("sleep", "chan receive", ...). Not in the runtime. */
void goc__park(bool (*unlockf)(goc__g *, void *), void *arg, const char *reason);
/* The same, for an operation that takes a lock before it parks: enter the
 * runtime first (goc__enter; NULL on a plain thread), park with
 * goc__park_m (which updates *mp: we may wake on another M), then
 * goc__leave. See sched.c. */
static inline goc__m *goc__enter(void);
static inline void goc__leave(goc__m *m);
void goc__park_m(goc__m **mp, bool (*unlockf)(goc__g *, void *), void *arg, const char *reason);
/* Make a WAITING g runnable. Any thread, in or out of the runtime. */
void goc__ready(goc__g *g);

/* A thread of goc's own starts (+1, before pthread_create) or ends (-1):
 * it does not count as one that may wake goroutines (deadlock.c). */
void goc__owned_threads_add(int32_t delta);

/* ---- errors (error.c): the calling goroutine's last failure ----------- */

/* Each records err (negative) as the calling goroutine's (or plain
 * thread's) last failure and returns err, so a failing path reads
 * "return goc__errop(rc, \"goc_chan_send\");". errset: msg is the whole
 * static message. errop: op names the operation (static); the message is
 * "op: <goc_strerror(err)>". errorf: a formatted message (truncated to
 * 255 bytes). */
int goc__errset(int err, const char *msg);
int goc__errop(int err, const char *op);
int goc__errorf(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A layer's own codes lo..hi (negative) are named by text (for
 * goc_strerror). Any thread; idempotent per text function. */
void goc__errtext_register(int lo, int hi, const char *(*text)(int err));

/* ---- misc ------------------------------------------------------------- */

/* The number of Ps (goc_maxprocs), fixed once goc__init has succeeded. */
int32_t goc__nprocs(void);
/* The index of the P that m holds (0 .. goc__nprocs() - 1); in the runtime
 * (goc__enter), m not NULL and holding one. */
static inline bool goc__has_p(goc__m *m);
static inline uint32_t goc__pid(goc__m *m);
/* goc_now() in seconds, stored by sysmon each time it wakes (so it moves
 * while anything runs): a coarse clock for layers that age their caches
 * (sync/pool.c), one relaxed load instead of a clock call. */
extern _Atomic uint32_t goc__epoch_now;
static inline uint32_t goc__epoch(void)
{
    return atomic_load_explicit(&goc__epoch_now, memory_order_relaxed);
}

/* membarrier(PRIVATE_EXPEDITED) is available (P ownership, sched.c). */
extern bool goc__membarrier_ok;
void goc__membarrier(void);
/* Print "fatal error: msg" naming the current goroutine, then exit(2). */
_Noreturn void goc__fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Like goc__fatal, then dump every goroutine. */
_Noreturn void goc__fatal_dump(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- entering the runtime, inline (see "P ownership" in sched.c) ------- */

/* The running M (read once, at the entry of a call, before any switch:
 * afterwards only goc__getm() is safe). */
extern __thread goc__m *goc__tls_m __attribute__((tls_model("initial-exec")));
goc__p *goc__enter_p_slow(goc__m *m, goc__p *p);
goc__m *goc__enter_slow(goc__m *m);

/* Raise inrt and check that m still owns its P: the P, or NULL if sysmon
 * took it. A store and a load; sysmon's membarrier is the other half of
 * the fence (a full fence here where membarrier is missing). */
static inline goc__p *goc__enter_p(goc__m *m)
{
    goc__p *p = m->p;
    atomic_store_explicit(&m->inrt, 1, memory_order_relaxed);
    if (GOC_LIKELY(goc__membarrier_ok))
        atomic_signal_fence(memory_order_seq_cst);
    else
        atomic_thread_fence(memory_order_seq_cst);
    if (GOC_LIKELY(p && atomic_load_explicit(&p->status, memory_order_relaxed) ==
                            goc__pstatus(m->id, GOC__P_RUNNING)))
        return p;
    return goc__enter_p_slow(m, p);
}

static inline goc__m *goc__enter(void)
{
    goc__m *m = goc__tls_m;
    if (!m)
        return NULL;
    if (m->rtdepth > 0) { /* nested, or g0 (a timer callback) */
        m->rtdepth++;
        return m;
    }
    m->rtdepth = 1;
    if (GOC_LIKELY(goc__enter_p(m) != NULL))
        return m;
    return goc__enter_slow(m);
}

/* m (from goc__enter; NULL on a plain thread) holds a P. */
static inline bool goc__has_p(goc__m *m)
{
    return m && m->p;
}

static inline uint32_t goc__pid(goc__m *m)
{
    return m->p->id;
}

/* Count a plain thread as a possible waker (deadlock.c) before its goc
 * call takes or changes any state that goroutines may wait on. The public
 * entries of the layers above start with this, except the uncontended
 * lock fast paths (a TLS load there cost 7% of goc_mutex_lock; the
 * deadlock check counts threads from /proc, nforeign is bookkeeping). */
void goc__attach_thread_slow(void);
static inline void goc__attach_thread(void)
{
    if (GOC_UNLIKELY(!goc__tls_m))
        goc__attach_thread_slow();
}

static inline void goc__leave(goc__m *m)
{
    /* store-release: as goc__releasep_rt. */
    if (m && --m->rtdepth == 0)
        atomic_store_explicit(&m->inrt, 0, memory_order_release);
}

/* ---- debug-build checks of the locking rules the comments state ------- *
 *
 * GOC_DEBUG is on in CMake's Debug builds (the ASan and TSan suites run
 * them), off in releases, where the checks compile to nothing. Where a
 * comment says "sched.lock held" or "c locked", the function asserts it,
 * as Go's assertLockHeld and SQLite's assert(sqlite3_mutex_held(...)).
 */
#ifdef GOC_DEBUG
#define GOC_ASSERT(cond) ((cond) ? (void)0 : goc__assert_fail(#cond, __FILE__, __LINE__))
#else
#define GOC_ASSERT(cond) ((void)sizeof(cond))
#endif
_Noreturn void goc__assert_fail(const char *cond, const char *file, int line);
/* mu is held by the calling thread (glibc records a mutex's owner); true
 * where the C library does not say. */
bool goc__mutex_held(pthread_mutex_t *mu);
/* l is held by someone: a goc__lock has no owner (park's unlockf releases
 * it on the next goroutine of the thread). */
static inline bool goc__lock_held(goc__lock *l)
{
    return atomic_load_explicit(&l->key, memory_order_relaxed) != 0;
}
#define GOC_ASSERT_HELD(mu)   GOC_ASSERT(goc__mutex_held(mu))
#define GOC_ASSERT_LOCKED(lk) GOC_ASSERT(goc__lock_held(lk))

#endif /* GOC_RUNTIME_PARK_H */
