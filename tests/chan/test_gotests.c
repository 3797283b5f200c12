/*
 * test_gotests.c — ports of Go's test/chan programs, in our own code:
 * sieve, fifo, nonblock, doubleselect, select, select2 (no memory growth),
 * select3 (nil and closed channels), select5-like (mixed send/recv cases),
 * zerosize and goroutines (a chain of 10,000 goroutines).
 */
#include "chan/chanutil.h"

/* ---- sieve ------------------------------------------------------------------ */

struct sieve_gen {
    goc_chan *out;
    int limit;
};

static void sieve_generate(void *arg)
{
    struct sieve_gen *g = arg;
    goc_chan *out = g->out;
    for (int i = 2; i <= g->limit; i++)
        if (goc_chan_send(out, &i) != 0)
            break;
    goc_chan_close(out);
    goc_chan_release(out);
}

struct sieve_filter {
    goc_chan *in, *out;
    int prime;
};

/* Pass on what the prime does not divide; close out when in closes. Owns
 * one reference to each channel. */
static void sieve_filter(void *arg)
{
    struct sieve_filter f = *(struct sieve_filter *)arg;
    free(arg);
    int i;
    while (goc_chan_recv(f.in, &i) == 0)
        if (i % f.prime != 0)
            goc_chan_send(f.out, &i);
    goc_chan_close(f.out);
    goc_chan_release(f.in);
    goc_chan_release(f.out);
}

static int main_sieve(void *arg)
{
    (void)arg;
    /* The first 100 primes, computed the slow way. */
    int want[100], n = 0;
    for (int c = 2; n < 100; c++) {
        bool p = true;
        for (int d = 2; d * d <= c; d++)
            if (c % d == 0)
                p = false;
        if (p)
            want[n++] = c;
    }
    static struct sieve_gen g;
    g.out = goc_chan_make(sizeof(int), 0);
    g.limit = want[99];
    goc_chan *ch = goc_chan_retain(g.out);
    goc_go(sieve_generate, &g);
    for (int i = 0; i < 100; i++) {
        int prime = -1;
        int r = goc_chan_recv(ch, &prime);
        GO_CHECK(r == 0 && prime == want[i], "prime %d: got %d (%d), want %d", i, prime, r,
                 want[i]);
        goc_chan *ch1 = goc_chan_make(sizeof(int), i % 3 == 0 ? 0 : 1);
        struct sieve_filter *f = malloc(sizeof *f);
        *f = (struct sieve_filter){ch, goc_chan_retain(ch1), prime};
        goc_go(sieve_filter, f); /* takes our reference to ch */
        ch = ch1;
    }
    /* Everything up to the 100th prime was consumed: the chain closes. */
    int x;
    GO_CHECK(goc_chan_recv(ch, &x) == -EPIPE, "sieve chain did not close (got %d)", x);
    goc_chan_release(ch);
    goc_sleep(10 * GOC_MILLISECOND); /* let the filters release theirs */
    return 0;
}

Test(gotests, sieve, .timeout = 20)
{
    cr_assert_eq(run_main(main_sieve, NULL), 0);
}

/* ---- fifo ------------------------------------------------------------------- */

enum { FIFO_N = 10 };

struct chain_link {
    goc_chan *ch, *in, *out;
    int val;
};

static void fifo_chain(void *arg)
{
    struct chain_link l = *(struct chain_link *)arg;
    free(arg);
    int x;
    goc_chan_recv(l.in, &x);
    int v = -1;
    goc_chan_recv(l.ch, &v);
    GO_CHECK(v == l.val, "chain link %d got %d", l.val, v);
    int one = 1;
    goc_chan_send(l.out, &one);
}

static int main_fifo(void *arg)
{
    (void)arg;
    /* Asynchronous fifo. */
    goc_chan *ch = goc_chan_make(sizeof(int), FIFO_N);
    for (int i = 0; i < FIFO_N; i++)
        goc_chan_send(ch, &i);
    for (int i = 0; i < FIFO_N; i++) {
        int v = -1;
        goc_chan_recv(ch, &v);
        GO_CHECK(v == i, "async fifo: %d, want %d", v, i);
    }
    goc_chan_release(ch);

    /* Synchronous fifo: a daisy chain reads the elements in sequence. */
    int links = (int)test_scale(1000);
    goc_chan **all = calloc((size_t)links + 2, sizeof *all);
    ch = goc_chan_make(sizeof(int), 0);
    goc_chan *in = goc_chan_make(sizeof(int), 0);
    goc_chan *start = in;
    all[0] = in;
    for (int i = 0; i < links; i++) {
        goc_chan *out = goc_chan_make(sizeof(int), 0);
        all[i + 1] = out;
        struct chain_link *l = malloc(sizeof *l);
        *l = (struct chain_link){ch, in, out, i};
        goc_go(fifo_chain, l);
        in = out;
    }
    int zero = 0;
    goc_chan_send(start, &zero);
    for (int i = 0; i < links; i++)
        goc_chan_send(ch, &i);
    int x;
    goc_chan_recv(in, &x);
    goc_sleep(5 * GOC_MILLISECOND); /* the last link returns from its send */
    for (int i = 0; i <= links; i++)
        goc_chan_release(all[i]);
    goc_chan_release(ch);
    free(all);
    return 0;
}

Test(gotests, fifo, .timeout = 20)
{
    cr_assert_eq(run_main(main_fifo, NULL), 0);
}

/* Many senders on one channel: each one's values arrive in its order. */
struct ordered {
    goc_chan *c;
    int id, n;
    goc_chan *done;
};

static void ordered_sender(void *arg)
{
    struct ordered *o = arg;
    for (int i = 0; i < o->n; i++) {
        int v[2] = {o->id, i};
        goc_chan_send(o->c, v);
    }
    goc_chan_send(o->done, NULL);
}

static int main_ordered(void *arg)
{
    (void)arg;
    enum { S = 100 };
    int n = (int)test_scale(1000);
    const size_t caps[] = {0, 7};
    for (int k = 0; k < 2; k++) {
        goc_chan *c = goc_chan_make(sizeof(int[2]), caps[k]);
        goc_chan *done = goc_chan_make(0, S);
        static struct ordered o[S];
        int next[S] = {0};
        for (int s = 0; s < S; s++) {
            o[s] = (struct ordered){c, s, n, done};
            goc_go(ordered_sender, &o[s]);
        }
        for (long i = 0; i < (long)S * n; i++) {
            int v[2] = {-1, -1};
            goc_chan_recv(c, v);
            if (v[0] < 0 || v[0] >= S || v[1] != next[v[0]]) {
                GO_CHECK(0, "cap %zu: from sender %d got %d, want %d", caps[k], v[0], v[1],
                         v[0] >= 0 && v[0] < S ? next[v[0]] : -1);
                break;
            }
            next[v[0]]++;
        }
        for (int s = 0; s < S; s++)
            goc_chan_recv(done, NULL);
        goc_chan_release(c);
        goc_chan_release(done);
    }
    return 0;
}

Test(gotests, fifo_many_senders_keep_their_order, .timeout = 30)
{
    cr_assert_eq(run_main(main_ordered, NULL), 0);
}

/* ---- nonblock ------------------------------------------------------------------ */

struct nb {
    goc_chan *c, *strobe;
    size_t es;
};

static void nb_receiver(void *arg)
{
    struct nb *a = arg;
    unsigned char v[256];
    goc_chan_recv(a->c, v);
    GO_CHECK(check_pattern(v, a->es, 123), "nonblock receiver: value (size %zu)", a->es);
    goc_chan_send(a->strobe, NULL);
}

static void nb_sender(void *arg)
{
    struct nb *a = arg;
    unsigned char v[256];
    fill_pattern(v, a->es, 234);
    goc_chan_send(a->c, v);
    goc_chan_send(a->strobe, NULL);
}

static void nb_sleep(void)
{
    goc_sleep(10 * GOC_MICROSECOND);
    goc_yield();
    goc_yield();
    goc_yield();
}

static int main_nonblock(void *arg)
{
    (void)arg;
    const size_t sizes[] = {1, 4, 8, 24, 256};
    const int max_tries = 10000;
    for (size_t si = 0; si < 5; si++) {
        for (size_t buffer = 0; buffer < 2; buffer++) {
            for (int use_select = 0; use_select < 2; use_select++) {
                size_t es = sizes[si];
                struct nb a = {goc_chan_make(es, buffer), goc_chan_make(0, 0), es};
                unsigned char v[256];
                /* Nothing there: neither blocks. */
                goc_case rc[] = {GOC_RECV(a.c, v)};
                int r = use_select ? goc_select(rc, 1, 0) : goc_chan_try_recv(a.c, v);
                GO_CHECK(r == -EAGAIN, "size %zu buf %zu sel %d: recv from empty: %d", es, buffer,
                         use_select, r);
                fill_pattern(v, es, 123);
                goc_case sc[] = {GOC_SEND(a.c, v)};
                if (buffer == 0) {
                    r = use_select ? goc_select(sc, 1, 0) : goc_chan_try_send(a.c, v);
                    GO_CHECK(r == -EAGAIN, "size %zu: send with no receiver: %d", es, r);
                }
                /* A receiver appears: the non-blocking send gets through. */
                goc_go(nb_receiver, &a);
                int tries = 0;
                for (;;) {
                    r = use_select ? goc_select(sc, 1, 0) : goc_chan_try_send(a.c, v);
                    if (r == 0)
                        break;
                    if (++tries > max_tries) {
                        GO_CHECK(0, "size %zu buf %zu sel %d: receiver never ready", es, buffer,
                                 use_select);
                        break;
                    }
                    nb_sleep();
                }
                goc_chan_recv(a.strobe, NULL);

                /* A sender appears: the non-blocking recv gets its value. */
                goc_go(nb_sender, &a);
                if (buffer > 0)
                    goc_chan_recv(a.strobe, NULL);
                tries = 0;
                for (;;) {
                    memset(v, 0, sizeof v);
                    r = use_select ? goc_select(rc, 1, 0) : goc_chan_try_recv(a.c, v);
                    if (r == 0)
                        break;
                    if (++tries > max_tries) {
                        GO_CHECK(0, "size %zu buf %zu sel %d: sender never ready", es, buffer,
                                 use_select);
                        break;
                    }
                    nb_sleep();
                }
                GO_CHECK(check_pattern(v, es, 234), "size %zu: nonblock recv value", es);
                if (buffer == 0)
                    goc_chan_recv(a.strobe, NULL);
                goc_chan_release(a.c);
                goc_chan_release(a.strobe);
            }
        }
    }
    return 0;
}

Test(gotests, nonblock, .timeout = 30)
{
    cr_assert_eq(run_main(main_nonblock, NULL), 0);
}

/* ---- doubleselect ----------------------------------------------------------------- */

struct ds {
    goc_chan *c[4];
    goc_chan *cmux, *done;
    long n;
    atomic_long senders_left;
};

struct ds_sender {
    struct ds *d;
    long base;
};

/* Send base..base+n-1, each to one of four channels by select. If two cases
 * ran in one select, a value would arrive twice. */
static void ds_sender(void *arg)
{
    struct ds_sender *s = arg;
    struct ds *d = s->d;
    for (long i = 0; i < d->n; i++) {
        long v = s->base + i;
        goc_case cs[] = {GOC_SEND(d->c[0], &v), GOC_SEND(d->c[1], &v), GOC_SEND(d->c[2], &v),
                         GOC_SEND(d->c[3], &v)};
        int r = goc_select(cs, 4, GOC_FOREVER);
        if (r < 0 || r > 3) {
            GO_CHECK(0, "sender select %d", r);
            break;
        }
    }
    if (atomic_fetch_sub(&d->senders_left, 1) == 1)
        for (int k = 0; k < 4; k++)
            goc_chan_close(d->c[k]);
}

struct ds_mux {
    struct ds *d;
    goc_chan *in;
};

static void ds_mux(void *arg)
{
    struct ds_mux *m = arg;
    long v;
    while (goc_chan_recv(m->in, &v) == 0)
        goc_chan_send(m->d->cmux, &v);
    goc_chan_send(m->d->done, NULL);
}

static void ds_closer(void *arg)
{
    struct ds *d = arg;
    for (int k = 0; k < 4; k++)
        goc_chan_recv(d->done, NULL);
    goc_chan_close(d->cmux);
}

static int main_doubleselect(void *arg)
{
    (void)arg;
    static struct ds d;
    d.n = test_scale(50000);
    for (int k = 0; k < 4; k++)
        d.c[k] = goc_chan_make(sizeof(long), 0);
    d.cmux = goc_chan_make(sizeof(long), 0);
    d.done = goc_chan_make(0, 0);
    atomic_store(&d.senders_left, 2);
    static struct ds_sender s[2];
    static struct ds_mux m[4];
    s[0] = (struct ds_sender){&d, 0};
    s[1] = (struct ds_sender){&d, d.n};
    goc_go(ds_sender, &s[0]);
    goc_go(ds_sender, &s[1]);
    for (int k = 0; k < 4; k++) {
        m[k] = (struct ds_mux){&d, d.c[k]};
        goc_go(ds_mux, &m[k]);
    }
    goc_go(ds_closer, &d);
    unsigned char *seen = calloc((size_t)(2 * d.n), 1);
    long got = 0, v;
    while (goc_chan_recv(d.cmux, &v) == 0) {
        if (v < 0 || v >= 2 * d.n || seen[v]) {
            GO_CHECK(0, "got %s value %ld", v < 0 || v >= 2 * d.n ? "bad" : "duplicate", v);
            break;
        }
        seen[v] = 1;
        got++;
    }
    GO_CHECK(got == 2 * d.n, "received %ld of %ld values", got, 2 * d.n);
    free(seen);
    goc_sleep(5 * GOC_MILLISECOND); /* the closer returns from its close */
    for (int k = 0; k < 4; k++)
        goc_chan_release(d.c[k]);
    goc_chan_release(d.cmux);
    goc_chan_release(d.done);
    return 0;
}

Test(gotests, doubleselect, .timeout = 60)
{
    cr_assert_eq(run_main(main_doubleselect, NULL), 0);
}

/* ---- select ------------------------------------------------------------------------- */

static unsigned sel_counter, sel_shift;

static unsigned get_value(void)
{
    sel_counter++;
    return 1u << sel_shift;
}

/* Send on a and b until both have been used once (then their case turns
 * nil), with a default case to stop. */
static int sel_send(goc_chan *a, goc_chan *b)
{
    int i = 0;
    for (;;) {
        unsigned va = get_value(), vb = get_value();
        goc_case cs[] = {GOC_SEND(a, &va), GOC_SEND(b, &vb)};
        int r = goc_select(cs, 2, 0);
        if (r == -EAGAIN)
            break;
        if (r == 0) {
            i++;
            a = NULL;
        } else if (r == 1) {
            i++;
            b = NULL;
        } else {
            GO_CHECK(0, "select %d", r);
            break;
        }
        sel_shift++;
    }
    return i;
}

static int main_selectgo(void *arg)
{
    (void)arg;
    goc_chan *a = goc_chan_make(sizeof(unsigned), 1), *b = goc_chan_make(sizeof(unsigned), 1);
    int v = sel_send(a, b);
    GO_CHECK(v == 2, "Send returned %d != 2", v);
    unsigned av = 0, bv = 0;
    goc_chan_recv(a, &av);
    goc_chan_recv(b, &bv);
    GO_CHECK((av | bv) == 3, "bad values %u %u", av, bv);
    v = sel_send(a, NULL);
    GO_CHECK(v == 1, "Send returned %d != 1", v);
    GO_CHECK(sel_counter == 10, "counter is %u != 10", sel_counter);
    goc_chan_release(a);
    goc_chan_release(b);
    return 0;
}

Test(gotests, select, .timeout = 10)
{
    cr_assert_eq(run_main(main_selectgo, NULL), 0);
}

/* ---- select2: no memory growth ------------------------------------------------------ */

static goc_chan *s2_c, *s2_dummy;

static void s2_sender(void *arg)
{
    long n = (long)(intptr_t)arg;
    int one = 1;
    for (long i = 0; i < n; i++)
        goc_chan_send(s2_c, &one);
}

static long s2_receive(long n)
{
    long bad = 0;
    for (long i = 0; i < n; i++) {
        int v = 0;
        goc_case cs[] = {GOC_RECV(s2_c, &v), GOC_RECV(s2_dummy, &v)};
        if (goc_select(cs, 2, GOC_FOREVER) != 0)
            bad++;
    }
    return bad;
}

static int main_select2(void *arg)
{
    (void)arg;
    long n = test_scale(1000000);
    s2_c = goc_chan_make(sizeof(int), 0);
    s2_dummy = goc_chan_make(sizeof(int), 0);
    /* Warm up (allocator, stacks), then measure. */
    goc_go(s2_sender, (void *)(intptr_t)(n / 10));
    GO_CHECK(s2_receive(n / 10) == 0, "dummy case chosen");
    long before = vm_rss_kib();
    goc_go(s2_sender, (void *)(intptr_t)n);
    GO_CHECK(s2_receive(n) == 0, "dummy case chosen");
    /* Selects with a timeout that is never reached, and immediate ones. */
    goc_go(s2_sender, (void *)(intptr_t)(n / 4));
    for (long i = 0; i < n / 4; i++) {
        goc_case cs[] = {GOC_RECV(s2_c, NULL), GOC_RECV(s2_dummy, NULL)};
        goc_select(cs, 2, GOC_MINUTE);
    }
    goc_chan *ready = goc_chan_make(sizeof(int), 1);
    for (long i = 0; i < n / 4; i++) {
        int v = 1;
        goc_case cs[] = {GOC_SEND(ready, &v), GOC_RECV(ready, &v), GOC_RECV(s2_dummy, NULL)};
        goc_select(cs, 3, 0);
    }
    long after = vm_rss_kib();
    /* Sanitizers keep freed memory in quarantine: RSS says nothing there
     * (LeakSanitizer checks leaks instead). */
    if (!test_slow_build())
        GO_CHECK(after - before < 4096, "VmRSS grew by %ld KiB over %ld selects", after - before,
                 n + n / 2);
    goc_chan_release(ready);
    goc_sleep(5 * GOC_MILLISECOND);
    goc_chan_release(s2_c);
    goc_chan_release(s2_dummy);
    return 0;
}

Test(gotests, select2_no_memory_growth, .timeout = 60)
{
    cr_assert_eq(run_main(main_select2, NULL), 0);
}

/* ---- select3: nil and closed channels ------------------------------------------------- */

/* Whether a select on cs blocks (still waiting after 20 ms). */
static bool blocks(goc_case *cs, size_t n)
{
    int r = goc_select(cs, n, 20 * GOC_MILLISECOND);
    return r == -ETIMEDOUT;
}

static int main_select3(void *arg)
{
    (void)arg;
    goc_chan *closedch = goc_chan_make(sizeof(int), 0);
    goc_chan_close(closedch);
    int x = 0;

    /* Nil channel cases block. */
    {
        goc_case cs[] = {GOC_RECV(NULL, &x)};
        GO_CHECK(blocks(cs, 1), "recv from nil");
    }
    {
        goc_case cs[] = {GOC_SEND(NULL, &x)};
        GO_CHECK(blocks(cs, 1), "send to nil");
    }
    /* Closed channel: recv case never blocks, closed = true, zero value. */
    for (int i = 0; i < 10; i++) {
        x = 5;
        goc_case cs[] = {GOC_RECV(closedch, &x)};
        GO_CHECK(goc_select(cs, 1, 20 * GOC_MILLISECOND) == 0 && cs[0].closed && x == 0,
                 "recv from closed");
    }
    /* Send case on closed: proceeds with closed (Go panics). */
    {
        goc_case cs[] = {GOC_SEND(closedch, &x)};
        GO_CHECK(goc_select(cs, 1, 20 * GOC_MILLISECOND) == 0 && cs[0].closed, "send to closed");
    }
    /* Empty select with only nil channels blocks. */
    {
        goc_case cs[] = {GOC_RECV(NULL, &x), GOC_SEND(NULL, &x)};
        GO_CHECK(blocks(cs, 2), "select on nil channels");
    }
    /* Nil and closed: the closed one is chosen, always. */
    for (int i = 0; i < 100; i++) {
        goc_case cs[] = {GOC_RECV(NULL, &x), GOC_RECV(closedch, &x), GOC_SEND(NULL, &x)};
        GO_CHECK(goc_select(cs, 3, 0) == 1 && cs[1].closed, "nil vs closed");
    }
    /* Unbuffered: sync send and recv block with no partner. */
    goc_chan *sync = goc_chan_make(sizeof(int), 0);
    {
        goc_case cs[] = {GOC_SEND(sync, &x)};
        GO_CHECK(blocks(cs, 1), "sync send");
        goc_case cr[] = {GOC_RECV(sync, &x)};
        GO_CHECK(blocks(cr, 1), "sync recv");
    }
    /* Buffered: async send proceeds while there is room, then blocks;
     * recv proceeds while there are values, then blocks. */
    goc_chan *async = goc_chan_make(sizeof(int), 1);
    {
        goc_case cs[] = {GOC_SEND(async, &x)};
        GO_CHECK(!blocks(cs, 1), "async send with room");
        GO_CHECK(blocks(cs, 1), "async send when full");
        goc_case cr[] = {GOC_RECV(async, &x)};
        GO_CHECK(!blocks(cr, 1), "async recv with value");
        GO_CHECK(blocks(cr, 1), "async recv when empty");
    }
    /* A closed channel makes a select with blocking cases proceed. */
    {
        goc_case cs[] = {GOC_RECV(sync, &x), GOC_SEND(sync, &x), GOC_RECV(async, &x),
                         GOC_RECV(closedch, &x)};
        GO_CHECK(goc_select(cs, 4, GOC_FOREVER) == 3 && cs[3].closed, "blocking + closed");
    }
    goc_chan_release(closedch);
    goc_chan_release(sync);
    goc_chan_release(async);
    return 0;
}

Test(gotests, select3, .timeout = 20)
{
    cr_assert_eq(run_main(main_select3, NULL), 0);
}

/* ---- select5-like: mixed send and recv cases ---------------------------------------------
 * Five channel states, each as a send case or a recv case; a partner makes
 * exactly one case able to proceed (or none); the select picks it and moves
 * the right value. */
enum { S5_UNBUF, S5_EMPTY, S5_FULL, S5_NIL, S5_NSTATES };

struct s5_partner {
    goc_chan *c;
    int op; /* 0: send 100+k, 1: recv */
    int k;
    int got;
    atomic_long *done;
};

static void s5_partner(void *arg)
{
    struct s5_partner *p = arg;
    if (p->op == 0) {
        int v = 100 + p->k;
        goc_chan_send(p->c, &v);
    } else {
        goc_chan_recv(p->c, &p->got);
    }
    atomic_fetch_add(p->done, 1);
}

static int main_select5(void *arg)
{
    (void)arg;
    atomic_long done = 0;
    long partners = 0;
    /* Every mask of which states appear as send (bit set) or recv. */
    for (int mask = 0; mask < (1 << S5_NSTATES); mask++) {
        for (int target = -1; target < S5_NSTATES; target++) {
            goc_chan *ch[S5_NSTATES];
            ch[S5_UNBUF] = goc_chan_make(sizeof(int), 0);
            ch[S5_EMPTY] = goc_chan_make(sizeof(int), 2);
            ch[S5_FULL] = goc_chan_make(sizeof(int), 1);
            ch[S5_NIL] = NULL;
            int fullv = 77;
            goc_chan_send(ch[S5_FULL], &fullv);
            int sendv[S5_NSTATES], recvv[S5_NSTATES];
            goc_case cs[S5_NSTATES];
            for (int k = 0; k < S5_NSTATES; k++) {
                sendv[k] = k;
                recvv[k] = -1;
                cs[k] = (mask >> k) & 1 ? GOC_SEND(ch[k], &sendv[k]) : GOC_RECV(ch[k], &recvv[k]);
            }
            /* Which cases are ready by themselves? */
            bool ready[S5_NSTATES] = {0};
            ready[S5_EMPTY] = (mask >> S5_EMPTY) & 1;  /* send into room */
            ready[S5_FULL] = !((mask >> S5_FULL) & 1); /* recv the buffered value */
            bool any = ready[S5_EMPTY] || ready[S5_FULL];
            struct s5_partner p = {0};
            /* With target = unbuffered, a partner makes that case ready. */
            if (!any && target == S5_UNBUF) {
                p = (struct s5_partner){ch[S5_UNBUF], (mask & 1) ? 1 : 0, S5_UNBUF, -1, &done};
                goc_go(s5_partner, &p);
                partners++;
                ready[S5_UNBUF] = true;
            }
            bool any_ready = false;
            for (int k = 0; k < S5_NSTATES; k++)
                any_ready |= ready[k];
            int r = goc_select(cs, S5_NSTATES, any_ready ? 5 * GOC_SECOND : 0);
            if (!any_ready) {
                GO_CHECK(r == -EAGAIN, "mask %d: nothing ready, got %d", mask, r);
            } else {
                GO_CHECK(r >= 0 && r < S5_NSTATES && ready[r], "mask %d target %d: case %d chosen",
                         mask, target, r);
                if (r == S5_FULL)
                    GO_CHECK(recvv[r] == 77, "mask %d: full recv got %d", mask, recvv[r]);
                if (r == S5_EMPTY) {
                    int v = -1;
                    goc_chan_try_recv(ch[S5_EMPTY], &v);
                    GO_CHECK(v == S5_EMPTY, "mask %d: buffered send put %d", mask, v);
                }
                if (r == S5_UNBUF) {
                    GO_CHECK(go_wait_ge(&done, partners, 5000), "partner not done");
                    if (mask & 1)
                        GO_CHECK(p.got == S5_UNBUF, "mask %d: partner received %d", mask, p.got);
                    else
                        GO_CHECK(recvv[S5_UNBUF] == 100, "mask %d: received %d", mask,
                                 recvv[S5_UNBUF]);
                }
                /* No other case moved anything. */
                for (int k = 0; k < S5_NSTATES; k++)
                    if (k != r && !((mask >> k) & 1))
                        GO_CHECK(recvv[k] == -1, "mask %d: case %d also received", mask, k);
                if (r != S5_FULL)
                    GO_CHECK(goc_chan_len(ch[S5_FULL]) == 1, "mask %d: full channel changed", mask);
            }
            if (!any && target == S5_UNBUF && r != S5_UNBUF) {
                /* Unblock the partner so nothing is left in the channel. */
                int v = 0;
                if (mask & 1)
                    goc_chan_send(ch[S5_UNBUF], &v);
                else
                    goc_chan_recv(ch[S5_UNBUF], &v);
            }
            GO_CHECK(go_wait_ge(&done, partners, 5000), "partner not done");
            for (int k = 0; k < S5_NIL; k++)
                goc_chan_release(ch[k]);
        }
    }
    return 0;
}

Test(gotests, select5_mixed_cases, .timeout = 30)
{
    cr_assert_eq(run_main(main_select5, NULL), 0);
}

/* ---- zerosize ----------------------------------------------------------------------------- */

static void zs_sender(void *arg)
{
    goc_chan *c = arg;
    for (int i = 0; i < 100; i++)
        goc_chan_send(c, NULL);
    goc_chan_close(c);
    goc_chan_release(c);
}

static int main_zerosize(void *arg)
{
    (void)arg;
    /* chan struct{} and chan [0]byte, unbuffered and buffered. */
    for (size_t cap = 0; cap < 3; cap++) {
        goc_chan *c = goc_chan_make(0, cap);
        goc_go(zs_sender, goc_chan_retain(c));
        int n = 0;
        char canary = 'x';
        for (;;) {
            goc_case cs[] = {GOC_RECV(c, n % 2 ? &canary : NULL)};
            int r = goc_select(cs, 1, GOC_FOREVER);
            GO_CHECK(r == 0, "select %d", r);
            if (cs[0].closed)
                break;
            n++;
        }
        GO_CHECK(n == 100, "cap %zu: received %d signals", cap, n);
        GO_CHECK(canary == 'x', "size-0 receive wrote");
        goc_chan_release(c);
    }
    /* Many zero-size channels are distinct objects. */
    goc_chan *a = goc_chan_make(0, 0), *b = goc_chan_make(0, 0);
    GO_CHECK(a != b, "two zero-size channels are the same");
    GO_CHECK(goc_chan_try_send(a, NULL) == -EAGAIN, "zero-size unbuffered try_send");
    goc_chan_release(a);
    goc_chan_release(b);
    return 0;
}

Test(gotests, zerosize, .timeout = 10)
{
    cr_assert_eq(run_main(main_zerosize, NULL), 0);
}

/* ---- goroutines: a chain of 10,000 ------------------------------------------------------------
 */

struct link {
    goc_chan *left, *right;
};

static void link_fn(void *arg)
{
    struct link *l = arg;
    int v = 0;
    goc_chan_recv(l->right, &v);
    v++;
    goc_chan_send(l->left, &v);
}

static void link_start(void *arg)
{
    int one = 1;
    goc_chan_send(arg, &one);
}

static int main_goroutines(void *arg)
{
    (void)arg;
    long n = TEST_TSAN ? 500 : test_scale(10000);
    struct link *links = calloc((size_t)n, sizeof *links);
    goc_chan **chans = calloc((size_t)n + 1, sizeof *chans);
    goc_chan *leftmost = goc_chan_make(sizeof(int), 0);
    chans[0] = leftmost;
    goc_chan *left = leftmost, *right = leftmost;
    for (long i = 0; i < n; i++) {
        right = goc_chan_make(sizeof(int), 0);
        chans[i + 1] = right;
        links[i] = (struct link){left, right};
        goc_go(link_fn, &links[i]);
        left = right;
    }
    goc_go(link_start, right);
    int v = 0;
    goc_chan_recv(leftmost, &v);
    GO_CHECK(v == n + 1, "value %d after %ld links", v, n);
    goc_sleep(10 * GOC_MILLISECOND); /* let the last links return */
    for (long i = 0; i <= n; i++)
        goc_chan_release(chans[i]);
    free(chans);
    free(links);
    return 0;
}

Test(gotests, goroutines_chain, .timeout = 30)
{
    cr_assert_eq(run_main(main_goroutines, NULL), 0);
}
