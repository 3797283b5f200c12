/*
 * test_pool.c — goc_pool (sync.Pool): new_fn on an empty pool, reuse of
 * put objects, NULL new_fn and put(NULL), no object handed to two users at
 * once under contention (goroutines and plain threads), bounded creation
 * when objects flow between goroutines, idle objects freed after a second
 * or two, and goc_pool_free freeing every cached object exactly once.
 */
#include "syncutil.h"

#define MS GOC_MILLISECOND

/* A pooled object: 64 bytes. The pool keeps its link in the first word
 * while the object is cached, so our fields come after it. */
typedef struct obj {
    void *first;      /* the pool's while cached; ours (owner tag) while held */
    atomic_int inuse; /* 1 while a user holds it */
    int id;           /* index in the registry */
    long owner;
    char pad[64 - sizeof(void *) - 2 * sizeof(int) - sizeof(long)];
} obj;

_Static_assert(sizeof(obj) == 64, "obj is 64 bytes");

#define MAX_OBJS 100000

static atomic_long created, freed;
static atomic_char obj_state[MAX_OBJS]; /* 1 made, 2 freed */
static int arg_token;                   /* &arg_token is the pool's arg */

static void *obj_new(void *arg)
{
    GO_CHECK(arg == &arg_token, "new_fn got arg %p, want %p", arg, (void *)&arg_token);
    long id = atomic_fetch_add(&created, 1);
    GO_CHECK(id < MAX_OBJS, "new_fn called more than %d times", MAX_OBJS);
    if (id >= MAX_OBJS)
        return NULL;
    obj *o = calloc(1, sizeof *o);
    GO_CHECK(o != NULL, "calloc");
    if (o == NULL)
        return NULL;
    o->id = (int)id;
    atomic_store(&obj_state[id], 1);
    return o;
}

static void obj_free(void *p, void *arg)
{
    GO_CHECK(arg == &arg_token, "free_fn got arg %p, want %p", arg, (void *)&arg_token);
    GO_CHECK(p != NULL, "free_fn(NULL)");
    if (p == NULL)
        return;
    obj *o = p;
    GO_CHECK(atomic_load(&o->inuse) == 0, "free_fn on object %d while a user holds it", o->id);
    int id = o->id;
    char st = 1;
    GO_CHECK(id >= 0 && id < MAX_OBJS && atomic_compare_exchange_strong(&obj_state[id], &st, 2),
             "free_fn on object %d in state %d (freed twice?)", id, st);
    atomic_fetch_add(&freed, 1);
    free(o);
}

static goc_pool *new_pool(void)
{
    goc_pool *p = goc_pool_new(obj_new, obj_free, &arg_token);
    GO_CHECK(p != NULL, "goc_pool_new");
    return p;
}

/* Take an object as a user: nobody else may hold it. */
static obj *take(goc_pool *p, long owner)
{
    obj *o = goc_pool_get(p);
    GO_CHECK(o != NULL, "goc_pool_get returned NULL with a new_fn");
    if (o == NULL)
        return NULL;
    int was = atomic_exchange(&o->inuse, 1);
    GO_CHECK(was == 0, "object %d handed out while another user holds it", o->id);
    GO_CHECK(o->id >= 0 && o->id < MAX_OBJS && atomic_load(&obj_state[o->id]) == 1,
             "got object %d in state %d (freed or never made)", o->id,
             o->id >= 0 && o->id < MAX_OBJS ? atomic_load(&obj_state[o->id]) : -1);
    o->first = (void *)owner;
    o->owner = owner;
    return o;
}

/* Give it back; the pool must not have touched it while we held it. */
static void give(goc_pool *p, obj *o, long owner)
{
    if (o == NULL)
        return;
    GO_CHECK(o->first == (void *)owner && o->owner == owner,
             "object %d changed while held (first word %p, owner %ld; want %ld)", o->id, o->first,
             o->owner, owner);
    atomic_store(&o->inuse, 0);
    goc_pool_put(p, o);
}

/* ---- basics -------------------------------------------------------------- */

static int main_basics(void *arg)
{
    (void)arg;
    goc_pool *p = new_pool();
    if (!p)
        return 1;
    obj *a = take(p, 1);
    GO_CHECK(atomic_load(&created) == 1, "get on an empty pool: new_fn called %ld times",
             atomic_load(&created));
    obj *b = take(p, 2);
    GO_CHECK(atomic_load(&created) == 2, "second get on an empty pool: %ld new_fn calls",
             atomic_load(&created));
    GO_CHECK(a != b, "two gets returned the same object");

    /* Put then get on one goroutine (one P): the object comes back. */
    give(p, a, 1);
    obj *a2 = take(p, 3);
    GO_CHECK(a2 == a, "get after put returned %p, not the object just put (%p)", (void *)a2,
             (void *)a);
    GO_CHECK(atomic_load(&created) == 2, "get after put called new_fn");

    /* Two put, two got: the same two, no new_fn. */
    give(p, a2, 3);
    give(p, b, 2);
    obj *c = take(p, 4), *d = take(p, 5);
    GO_CHECK(c != d, "two gets returned the same object");
    GO_CHECK((c == a && d == b) || (c == b && d == a),
             "after putting two objects, get returned others (%p, %p)", (void *)c, (void *)d);
    GO_CHECK(atomic_load(&created) == 2, "%ld new_fn calls for two cached objects",
             atomic_load(&created));
    /* Now empty again: new_fn. */
    obj *e = take(p, 6);
    GO_CHECK(atomic_load(&created) == 3, "get on an emptied pool did not call new_fn");

    /* put(NULL) is ignored: the pool stays empty. */
    goc_pool_put(p, NULL);
    obj *f = take(p, 7);
    GO_CHECK(f != NULL && atomic_load(&created) == 4,
             "after put(NULL), get returned %p with %ld new_fn calls", (void *)f,
             atomic_load(&created));

    give(p, c, 4);
    give(p, d, 5);
    give(p, e, 6);
    give(p, f, 7);
    GO_CHECK(atomic_load(&freed) == 0, "%ld objects freed while in use or just put",
             atomic_load(&freed));
    goc_pool_free(p);
    GO_CHECK(atomic_load(&freed) == 4, "goc_pool_free freed %ld of 4 cached objects",
             atomic_load(&freed));
    goc_pool_free(NULL);
    return 0;
}

/* new_fn on an empty pool (counted), the put object back from get on one
 * goroutine, put(NULL) ignored, goc_pool_free frees what is cached. */
Test(pool, get_put_basics, .timeout = 10)
{
    cr_assert_eq(run_main(main_basics, NULL), 0);
}

static void null_new_checks(void)
{
    goc_pool *p = goc_pool_new(NULL, NULL, NULL);
    GO_CHECK(p != NULL, "goc_pool_new(NULL, NULL, NULL)");
    if (!p)
        return;
    GO_CHECK(goc_pool_get(p) == NULL, "get on an empty pool without new_fn is not NULL");
    goc_pool_put(p, NULL);
    GO_CHECK(goc_pool_get(p) == NULL, "get after put(NULL) is not NULL");
    /* free_fn NULL: cached objects are free()d (ASan reports a leak if
     * not). */
    void *m = malloc(64);
    GO_CHECK(m != NULL, "malloc");
    goc_pool_put(p, m);
    void *g = goc_pool_get(p);
    GO_CHECK(g == m, "get after put returned %p, not the object put (%p)", g, m);
    GO_CHECK(goc_pool_get(p) == NULL, "a second get returned an object");
    goc_pool_put(p, g);
    for (int i = 0; i < 20; i++)
        goc_pool_put(p, malloc(32 + i));
    goc_pool_free(p);
}

static int main_null_new(void *arg)
{
    (void)arg;
    null_new_checks();
    return 0;
}

/* Without new_fn, get on an empty pool is NULL; without free_fn, cached
 * objects are freed with free(). */
Test(pool, null_new_fn_and_default_free, .timeout = 10)
{
    cr_assert_eq(run_main(main_null_new, NULL), 0);
}

static void thread_checks(void)
{
    goc_pool *p = new_pool();
    if (!p)
        return;
    obj *a = take(p, 1), *b = take(p, 2);
    GO_CHECK(atomic_load(&created) == 2, "%ld new_fn calls for two gets", atomic_load(&created));
    give(p, a, 1);
    give(p, b, 2);
    obj *c = take(p, 3), *d = take(p, 4);
    GO_CHECK(atomic_load(&created) == 2, "get after put on a plain thread called new_fn");
    GO_CHECK((c == a && d == b) || (c == b && d == a), "get after put returned other objects");
    give(p, c, 3);
    give(p, d, 4);
    goc_pool_free(p);
    GO_CHECK(atomic_load(&freed) == 2, "goc_pool_free freed %ld of 2", atomic_load(&freed));
}

/* The process's main thread, runtime never started. */
Test(pool, plain_thread_no_runtime, .timeout = 10)
{
    null_new_checks();
    thread_checks();
    GO_CHECK_REPORT();
}

static void *thread_checks_fn(void *arg)
{
    (void)arg;
    thread_checks();
    return NULL;
}

static int main_thread_checks(void *arg)
{
    (void)arg;
    pthread_join(start_thread(thread_checks_fn, NULL), NULL);
    return 0;
}

/* A plain thread while the runtime runs. */
Test(pool, plain_thread_with_runtime, .timeout = 10)
{
    cr_assert_eq(run_main(main_thread_checks, NULL), 0);
}

/* ---- contention ---------------------------------------------------------------- */

#define CT_G 64
#define CT_T 2

static goc_pool *ct_pool;
static atomic_long ct_done, ct_gets;
static long ct_iters;

static void ct_loop(long id, long iters, bool thread)
{
    unsigned x = (unsigned)id * 2654435761u + 3;
    obj *held[3];
    for (long i = 0; i < iters; i++) {
        x = x * 1103515245u + 12345u;
        int k = 1 + (int)((x >> 16) % 3); /* hold 1..3 at once */
        for (int j = 0; j < k; j++)
            held[j] = take(ct_pool, id);
        atomic_fetch_add(&ct_gets, k);
        if ((x >> 20) % 4 == 0) {
            if (thread)
                sched_yield();
            else
                goc_yield();
        }
        for (int j = 0; j < k; j++)
            give(ct_pool, held[j], id);
    }
    atomic_fetch_add(&ct_done, 1);
}

static void ct_worker(void *arg)
{
    ct_loop((long)arg, ct_iters, false);
}

static void *ct_thread(void *arg)
{
    ct_loop((long)arg, ct_iters * 4, true);
    return NULL;
}

static int main_contention(void *arg)
{
    (void)arg;
    keepalive_start();
    ct_pool = new_pool();
    if (!ct_pool)
        return 1;
    ct_iters = test_scale(2000);
    pthread_t t[CT_T];
    for (long i = 0; i < CT_T; i++)
        t[i] = start_thread(ct_thread, (void *)(1000 + i));
    for (long i = 0; i < CT_G; i++)
        GO_SPAWN(ct_worker, i + 1);
    GO_CHECK(go_wait_ge(&ct_done, CT_G + CT_T, 20000), "only %ld of %d workers finished",
             atomic_load(&ct_done), CT_G + CT_T);
    for (int i = 0; i < CT_T; i++)
        pthread_join(t[i], NULL);
    keepalive_end();
    long gets = atomic_load(&ct_gets), made = atomic_load(&created);
    /* At most 3 * (64 + 2) objects are out at once; a pool that pools
     * needs about that many plus what sits in the per-P caches. */
    GO_CHECK(made <= 3 * (CT_G + CT_T) + 1024 && made * 10 <= gets,
             "%ld objects created for %ld gets: the pool does not reuse", made, gets);
    goc_pool_free(ct_pool);
    long fr = atomic_load(&freed);
    GO_CHECK(fr == made, "%ld objects created, %ld freed (all were put back)", made, fr);
    return 0;
}

/* 64 goroutines and 2 plain threads get 1..3 objects, hold them (yielding
 * now and then) and put them back: no object is ever held by two users,
 * the pool never writes to an object it handed out, creation stays far
 * below the number of gets, and goc_pool_free frees each object once. */
Test(pool, concurrent_get_put_exclusive, .timeout = 30)
{
    cr_assert_eq(run_main(main_contention, NULL), 0);
}

/* ---- objects flowing from one goroutine to another ------------------------------- */

static goc_pool *fl_pool;
static goc_chan *fl_chan;
static atomic_long fl_done;
static long fl_iters;

static void fl_producer(void *arg)
{
    long id = (long)arg;
    for (long i = 0; i < fl_iters; i++) {
        obj *o = take(fl_pool, id);
        if (o == NULL)
            break;
        /* Hand it over: the consumer becomes its user. */
        atomic_store(&o->inuse, 0);
        int r = goc_chan_send(fl_chan, &o);
        GO_CHECK(r == 0, "send: %d", r);
    }
    atomic_fetch_add(&fl_done, 1);
}

static void fl_consumer(void *arg)
{
    long id = (long)arg;
    obj *o;
    while (goc_chan_recv(fl_chan, &o) == 0) {
        GO_CHECK(atomic_exchange(&o->inuse, 1) == 0, "object %d in use on arrival", o->id);
        o->first = (void *)id;
        o->owner = id;
        give(fl_pool, o, id);
    }
    atomic_fetch_add(&fl_done, 1);
}

static int main_flow(void *arg)
{
    (void)arg;
    fl_pool = new_pool();
    fl_chan = goc_chan_make(sizeof(obj *), 16);
    GO_CHECK(fl_pool && fl_chan, "setup");
    if (!fl_pool || !fl_chan)
        return 1;
    fl_iters = test_scale(40000);
    if (fl_iters < 5000)
        fl_iters = 5000;
    GO_SPAWN(fl_consumer, 100);
    GO_SPAWN(fl_consumer, 101);
    GO_SPAWN(fl_producer, 1);
    GO_SPAWN(fl_producer, 2);
    GO_CHECK(go_wait_ge(&fl_done, 2, 20000), "producers did not finish");
    goc_chan_close(fl_chan);
    GO_CHECK(go_wait_ge(&fl_done, 4, 5000), "consumers did not finish");
    long made = atomic_load(&created);
    GO_CHECK(made * 10 <= 2 * fl_iters,
             "%ld objects created for %ld gets: objects put on one goroutine are not reused by "
             "another",
             made, 2 * fl_iters);
    goc_pool_free(fl_pool);
    GO_CHECK(atomic_load(&freed) == made, "%ld created, %ld freed", made, atomic_load(&freed));
    goc_chan_release(fl_chan);
    return 0;
}

/* Two producers get objects and send them to two consumers that put them
 * (a request's buffers freed by another goroutine): the objects put on the
 * consumers' Ps must reach the producers' gets. */
Test(pool, objects_flow_between_goroutines, .timeout = 30)
{
    cr_assert_eq(run_main(main_flow, NULL), 0);
}

/* ---- idle objects are freed ---------------------------------------------------------- */

#define IDLE_N 100

static goc_pool *id_pool;
static obj *id_objs[IDLE_N];
static int64_t id_put_at;

static void *id_thread(void *arg)
{
    (void)arg;
    /* Half the burst comes back through a plain thread. */
    for (int i = IDLE_N / 2; i < IDLE_N; i++)
        give(id_pool, id_objs[i], 9);
    return NULL;
}

static atomic_int id_stop;
static atomic_long id_busy_done;

/* Keeps the runtime busy about half the time (a loaded program) until
 * told to stop. */
static void id_busy(void *arg)
{
    (void)arg;
    while (!atomic_load(&id_stop)) {
        int64_t until = goc_now() + GOC_MILLISECOND;
        while (goc_now() < until)
            test_sink((unsigned)until);
        goc_sleep(GOC_MILLISECOND);
    }
    atomic_fetch_add(&id_busy_done, 1);
}

static int main_idle(void *arg)
{
    bool busy = arg != NULL;
    id_pool = new_pool();
    if (!id_pool)
        return 1;
    if (busy)
        GO_SPAWN(id_busy, NULL);
    for (int i = 0; i < IDLE_N; i++)
        id_objs[i] = take(id_pool, 9);
    GO_CHECK(atomic_load(&created) == IDLE_N, "%ld created", atomic_load(&created));
    for (int i = 0; i < IDLE_N / 2; i++)
        give(id_pool, id_objs[i], 9);
    pthread_join(start_thread(id_thread, NULL), NULL);
    id_put_at = goc_now();

    /* Not freed while fresh: one to two seconds without a get. */
    goc_sleep(200 * MS);
    goc_pool_put(id_pool, goc_pool_get(id_pool));
    int64_t el = goc_now() - id_put_at;
    if (el < 900 * MS)
        GO_CHECK(atomic_load(&freed) == 0, "%ld objects freed %lld ms after they were put",
                 atomic_load(&freed), (long long)test_ms(el));

    /* Keep using one object now and then (as a mostly idle server would);
     * the other 99 are never taken again and must go within a few
     * seconds. */
    int64_t deadline = id_put_at + (test_slow_build() ? 6 : 4) * GOC_SECOND;
    while (atomic_load(&freed) < IDLE_N - 10 && goc_now() < deadline) {
        goc_sleep(50 * MS);
        obj *o = take(id_pool, 10);
        give(id_pool, o, 10);
    }
    long fr = atomic_load(&freed), made = atomic_load(&created);
    el = goc_now() - id_put_at;
    GO_CHECK(fr >= IDLE_N - 10,
             "only %ld of %d idle objects freed %lld ms after they were put, one object in use "
             "every 50 ms (%ld created)",
             fr, IDLE_N, (long long)test_ms(el), made);
    atomic_store(&id_stop, 1);
    if (busy)
        GO_CHECK(go_wait_ge(&id_busy_done, 1, 5000), "busy goroutine did not stop");

    /* The pool still works, and goc_pool_free frees the rest once. */
    obj *a = take(id_pool, 11), *b = take(id_pool, 12);
    give(id_pool, a, 11);
    give(id_pool, b, 12);
    goc_pool_free(id_pool);
    made = atomic_load(&created);
    GO_CHECK(atomic_load(&freed) == made, "%ld created, %ld freed", made, atomic_load(&freed));
    return 0;
}

/* 100 objects put at once (from a goroutine and a plain thread), then only
 * one in use every 50 ms in an otherwise idle program: the idle ones are
 * freed by free_fn after one to two seconds, not before, each once. */
Test(pool, idle_objects_freed, .timeout = 20)
{
    cr_assert_eq(run_main(main_idle, NULL), 0);
}

/* Same while another goroutine keeps the runtime busy half the time. */
Test(pool, idle_objects_freed_busy_program, .timeout = 20)
{
    cr_assert_eq(run_main(main_idle, (void *)1), 0);
}

/* ---- goc_pool_free ---------------------------------------------------------------------- */

#define PF_G    8
#define PF_EACH 20
#define PF_KEEP 5

static goc_pool *pf_pool;
static obj *pf_kept[PF_G][PF_KEEP];
static atomic_long pf_done;

static void pf_worker(void *arg)
{
    long id = (long)arg;
    obj *o[PF_EACH];
    for (int i = 0; i < PF_EACH; i++)
        o[i] = take(pf_pool, id);
    if (id % 2)
        goc_yield(); /* move around the Ps a little */
    for (int i = 0; i < PF_EACH - PF_KEEP; i++)
        give(pf_pool, o[i], id);
    for (int i = 0; i < PF_KEEP; i++)
        pf_kept[id][i] = o[PF_EACH - PF_KEEP + i];
    atomic_fetch_add(&pf_done, 1);
}

static int main_pool_free(void *arg)
{
    (void)arg;
    pf_pool = new_pool();
    if (!pf_pool)
        return 1;
    for (long i = 0; i < PF_G; i++)
        GO_SPAWN(pf_worker, i);
    GO_CHECK(go_wait_ge(&pf_done, PF_G, 10000), "workers did not finish");
    long made = atomic_load(&created), held = PF_G * PF_KEEP;
    goc_pool_free(pf_pool);
    long fr = atomic_load(&freed);
    GO_CHECK(fr == made - held,
             "goc_pool_free freed %ld objects; %ld created, %ld held outside: want %ld", fr, made,
             held, made - held);
    /* The ones we kept are ours, untouched. */
    for (int g = 0; g < PF_G; g++)
        for (int i = 0; i < PF_KEEP; i++) {
            obj *o = pf_kept[g][i];
            GO_CHECK(o && atomic_load(&obj_state[o->id]) == 1, "a held object was freed");
            if (o && o->owner == g && atomic_load(&obj_state[o->id]) == 1) {
                atomic_store(&obj_state[o->id], 2);
                free(o);
            }
        }
    return 0;
}

/* Goroutines on several Ps put objects back and keep some; goc_pool_free
 * frees exactly the cached ones (created minus held), each once. */
Test(pool, pool_free_frees_each_cached_object_once, .timeout = 10)
{
    cr_assert_eq(run_main(main_pool_free, NULL), 0);
}
