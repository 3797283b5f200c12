/*
 * test_chan.c — channel semantics: make/len/cap, unbuffered rendezvous,
 * buffered FIFO for every element size (0 through 4 KiB), try_* forms, close
 * (drain, then -EPIPE with the element zeroed; blocked senders and receivers
 * woken), NULL channels, reference counting, plain threads, goc_after, and
 * producer/consumer stress. Ports of Go's runtime/chan_test.go TestChan,
 * TestMultiConsumer and TestNonblockRecvRace are written in our own code.
 */
#include "chan/chanutil.h"

#include <limits.h>

/* ---- make, len, cap -------------------------------------------------------- */

Test(chan, make_len_cap, .timeout = 10)
{
    const size_t sizes[] = {0, 1, 3, 8, 1024};
    const size_t caps[] = {0, 1, 2, 7, 100};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        for (size_t j = 0; j < sizeof caps / sizeof *caps; j++) {
            goc_chan *c = goc_chan_make(sizes[i], caps[j]);
            cr_assert_not_null(c, "make(%zu, %zu)", sizes[i], caps[j]);
            cr_assert_eq(goc_chan_cap(c), caps[j]);
            cr_assert_eq(goc_chan_len(c), 0);
            goc_chan_release(c);
        }
    }
    /* len counts buffered elements, also after close. */
    goc_chan *c = goc_chan_make(sizeof(int), 4);
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(goc_chan_send(c, &i), 0);
        cr_assert_eq(goc_chan_len(c), (size_t)i + 1);
    }
    cr_assert_eq(goc_chan_close(c), 0);
    cr_assert_eq(goc_chan_len(c), 4);
    cr_assert_eq(goc_chan_cap(c), 4);
    int v;
    cr_assert_eq(goc_chan_recv(c, &v), 0);
    cr_assert_eq(goc_chan_len(c), 3);
    goc_chan_release(c);
}

/* A size that cannot be allocated (elem_size * cap overflows) is NULL,
 * never a short buffer. */
Test(chan, make_overflow_is_null, .timeout = 10)
{
    cr_assert_null(goc_chan_make(SIZE_MAX / 2 + 1, 2));
    cr_assert_null(goc_chan_make(SIZE_MAX, SIZE_MAX));
    cr_assert_null(goc_chan_make((size_t)1 << 33, (size_t)1 << 33));
    cr_assert_null(goc_chan_make(16, SIZE_MAX / 8));
}

/* ---- NULL channel ---------------------------------------------------------- */

static void null_ops(void)
{
    int v = 7;
    GO_CHECK(goc_chan_send(NULL, &v) == -EINVAL, "send(NULL)");
    GO_CHECK(goc_chan_recv(NULL, &v) == -EINVAL, "recv(NULL)");
    GO_CHECK(goc_chan_try_send(NULL, &v) == -EINVAL, "try_send(NULL)");
    GO_CHECK(goc_chan_try_recv(NULL, &v) == -EINVAL, "try_recv(NULL)");
    GO_CHECK(goc_chan_close(NULL) == -EINVAL, "close(NULL)");
    GO_CHECK(goc_chan_send(NULL, NULL) == -EINVAL, "send(NULL, NULL)");
    GO_CHECK(goc_chan_recv(NULL, NULL) == -EINVAL, "recv(NULL, NULL)");
    goc_chan_release(NULL);
}

static int main_null_ops(void *arg)
{
    (void)arg;
    null_ops();
    return 0;
}

Test(chan, null_channel_is_einval, .timeout = 10)
{
    null_ops(); /* plain thread */
    GO_CHECK_REPORT();
    cr_assert_eq(run_main(main_null_ops, NULL), 0);
}

/* ---- unbuffered rendezvous ------------------------------------------------- */

static goc_chan *rv_chan;
static atomic_int rv_sent, rv_recvd;
static int rv_value;

static void rv_sender(void *arg)
{
    (void)arg;
    int v = 4242;
    int r = goc_chan_send(rv_chan, &v);
    GO_CHECK(r == 0, "send returned %d", r);
    atomic_store(&rv_sent, 1);
}

static void rv_receiver(void *arg)
{
    (void)arg;
    int r = goc_chan_recv(rv_chan, &rv_value);
    GO_CHECK(r == 0, "recv returned %d", r);
    atomic_store(&rv_recvd, 1);
}

static int main_rendezvous(void *arg)
{
    (void)arg;
    rv_chan = goc_chan_make(sizeof(int), 0);
    /* A sender blocks until a receiver takes the value. */
    goc_go(rv_sender, NULL);
    goc_sleep(30 * GOC_MILLISECOND);
    GO_CHECK(atomic_load(&rv_sent) == 0, "unbuffered send returned with no receiver");
    GO_CHECK(goc_chan_len(rv_chan) == 0, "len of unbuffered channel %zu", goc_chan_len(rv_chan));
    int v = 0;
    GO_CHECK(goc_chan_recv(rv_chan, &v) == 0, "recv");
    GO_CHECK(v == 4242, "received %d", v);
    atomic_long done = 0;
    for (int i = 0; i < 1000 && !atomic_load(&rv_sent); i++)
        goc_sleep(GOC_MILLISECOND);
    (void)done;
    GO_CHECK(atomic_load(&rv_sent) == 1, "sender still blocked after its value was taken");

    /* A receiver blocks until a sender comes. */
    goc_go(rv_receiver, NULL);
    goc_sleep(30 * GOC_MILLISECOND);
    GO_CHECK(atomic_load(&rv_recvd) == 0, "unbuffered recv returned with no sender");
    v = 99;
    GO_CHECK(goc_chan_send(rv_chan, &v) == 0, "send");
    for (int i = 0; i < 1000 && !atomic_load(&rv_recvd); i++)
        goc_sleep(GOC_MILLISECOND);
    GO_CHECK(atomic_load(&rv_recvd) == 1, "receiver still blocked after a send");
    GO_CHECK(rv_value == 99, "received %d", rv_value);
    goc_chan_release(rv_chan);
    return 0;
}

Test(chan, unbuffered_is_rendezvous, .timeout = 20)
{
    cr_assert_eq(run_main(main_rendezvous, NULL), 0);
}

/* ---- buffered FIFO, every element size -------------------------------------- */

static const size_t fifo_sizes[] = {0, 1, 2, 3, 4, 5, 7, 8, 12, 16, 24, 100, 1024, 4096};

static void fifo_one_size(size_t es)
{
    enum { CAP = 8 };
    goc_chan *c = goc_chan_make(es, CAP);
    GO_CHECK(c != NULL, "make(%zu, %d)", es, CAP);
    if (!c)
        return;
    unsigned char *in = malloc(es + 1), *out = malloc(es + 1);
    uint64_t next_send = 0, next_recv = 0;
    /* Fill it: exactly cap sends succeed without blocking. */
    for (int i = 0; i < CAP; i++) {
        fill_pattern(in, es, next_send++);
        int r = goc_chan_try_send(c, es ? in : NULL);
        GO_CHECK(r == 0, "size %zu: try_send %d into a non-full buffer: %d", es, i, r);
    }
    GO_CHECK(goc_chan_len(c) == CAP, "size %zu: len %zu", es, goc_chan_len(c));
    int r = goc_chan_try_send(c, es ? in : NULL);
    GO_CHECK(r == -EAGAIN, "size %zu: try_send into a full buffer: %d", es, r);
    /* Walk the ring many times around with a varying fill level. */
    for (int round = 0; round < 200; round++) {
        int k = 1 + round % CAP;
        for (int i = 0; i < k; i++) {
            out[es] = 0x5A;
            r = goc_chan_recv(c, out);
            GO_CHECK(r == 0, "size %zu: recv %d", es, r);
            GO_CHECK(check_pattern(out, es, next_recv),
                     "size %zu: element %llu corrupted or out of order", es,
                     (unsigned long long)next_recv);
            GO_CHECK(out[es] == 0x5A, "size %zu: recv wrote past the element", es);
            next_recv++;
        }
        for (int i = 0; i < k; i++) {
            fill_pattern(in, es, next_send++);
            r = goc_chan_send(c, in);
            GO_CHECK(r == 0, "size %zu: send %d", es, r);
        }
        GO_CHECK(goc_chan_len(c) == CAP, "size %zu: len %zu", es, goc_chan_len(c));
    }
    while (next_recv < next_send) {
        r = goc_chan_try_recv(c, out);
        GO_CHECK(r == 0, "size %zu: try_recv of a buffered value: %d", es, r);
        GO_CHECK(check_pattern(out, es, next_recv), "size %zu: element %llu", es,
                 (unsigned long long)next_recv);
        next_recv++;
    }
    GO_CHECK(goc_chan_len(c) == 0, "size %zu: len %zu after draining", es, goc_chan_len(c));
    GO_CHECK(goc_chan_try_recv(c, out) == -EAGAIN, "size %zu: try_recv on empty", es);
    free(in);
    free(out);
    goc_chan_release(c);
}

static int main_fifo_sizes(void *arg)
{
    (void)arg;
    for (size_t i = 0; i < sizeof fifo_sizes / sizeof *fifo_sizes; i++)
        fifo_one_size(fifo_sizes[i]);
    return 0;
}

Test(chan, buffered_fifo_every_elem_size, .timeout = 20)
{
    cr_assert_eq(run_main(main_fifo_sizes, NULL), 0);
}

/* The same from a plain thread, with no runtime started. */
Test(chan, buffered_fifo_on_plain_thread, .timeout = 20)
{
    for (size_t i = 0; i < sizeof fifo_sizes / sizeof *fifo_sizes; i++)
        fifo_one_size(fifo_sizes[i]);
    GO_CHECK_REPORT();
}

/* ---- large elements between goroutines ------------------------------------- */

typedef struct big {
    uint64_t seq;
    unsigned char body[1024 - 8];
} big;

struct big_args {
    goc_chan *c;
    int n;
    atomic_long *done;
};

static void big_producer(void *arg)
{
    struct big_args *a = arg;
    goc_chan *c = a->c; /* our own reference, taken by the spawner */
    int n = a->n;
    big b;
    for (int i = 0; i < n; i++) {
        b.seq = (uint64_t)i;
        fill_pattern(b.body, sizeof b.body, (uint64_t)i);
        int r = goc_chan_send(c, &b);
        GO_CHECK(r == 0, "send %d", r);
    }
    goc_chan_close(c);
    goc_chan_release(c);
}

static int main_big(void *arg)
{
    (void)arg;
    const size_t caps[] = {0, 1, 5};
    for (size_t k = 0; k < 3; k++) {
        struct big_args a = {.c = goc_chan_make(sizeof(big), caps[k]), .n = (int)test_scale(3000)};
        goc_chan_retain(a.c);
        goc_go(big_producer, &a);
        big b;
        int got = 0;
        for (;;) {
            memset(&b, 0xEE, sizeof b);
            int r = goc_chan_recv(a.c, &b);
            if (r == -EPIPE) {
                GO_CHECK(all_bytes(&b, sizeof b, 0), "cap %zu: element not zeroed on closed recv",
                         caps[k]);
                break;
            }
            GO_CHECK(r == 0, "recv %d", r);
            GO_CHECK(b.seq == (uint64_t)got, "cap %zu: got seq %llu, want %d", caps[k],
                     (unsigned long long)b.seq, got);
            GO_CHECK(check_pattern(b.body, sizeof b.body, b.seq), "cap %zu: body of %d corrupted",
                     caps[k], got);
            got++;
        }
        GO_CHECK(got == a.n, "cap %zu: received %d of %d", caps[k], got, a.n);
        goc_chan_release(a.c);
    }
    return 0;
}

Test(chan, one_kib_elements_in_order, .timeout = 20)
{
    cr_assert_eq(run_main(main_big, NULL), 0);
}

/* ---- zero-size elements ------------------------------------------------------ */

static goc_chan *sig_chan;
static atomic_long sig_count;

static void sig_sender(void *arg)
{
    int n = (int)(intptr_t)arg;
    unsigned char canary = 0xC3;
    for (int i = 0; i < n; i++) {
        int r = goc_chan_send(sig_chan, i % 2 ? NULL : &canary);
        GO_CHECK(r == 0, "signal send %d", r);
    }
    GO_CHECK(canary == 0xC3, "send changed the caller's byte");
    atomic_fetch_add(&sig_count, 1);
}

static int main_signal(void *arg)
{
    (void)arg;
    const size_t caps[] = {0, 1, 3, 1000};
    for (size_t k = 0; k < 4; k++) {
        sig_chan = goc_chan_make(0, caps[k]);
        int n = 1000;
        atomic_store(&sig_count, 0);
        goc_go(sig_sender, (void *)(intptr_t)n);
        for (int i = 0; i < n; i++) {
            unsigned char canary = 0x3C;
            int r = goc_chan_recv(sig_chan, i % 3 ? NULL : &canary);
            GO_CHECK(r == 0, "signal recv %d", r);
            GO_CHECK(canary == 0x3C, "recv on a size-0 channel wrote to elem");
        }
        GO_CHECK(go_wait_ge(&sig_count, 1, 5000), "signal sender not done");
        GO_CHECK(goc_chan_len(sig_chan) == 0, "len %zu", goc_chan_len(sig_chan));
        /* Buffered signals count in len. */
        if (caps[k] >= 3) {
            for (int i = 0; i < 3; i++)
                GO_CHECK(goc_chan_try_send(sig_chan, NULL) == 0, "try_send signal");
            GO_CHECK(goc_chan_len(sig_chan) == 3, "len %zu", goc_chan_len(sig_chan));
        }
        GO_CHECK(goc_chan_close(sig_chan) == 0, "close");
        if (caps[k] >= 3)
            for (int i = 0; i < 3; i++)
                GO_CHECK(goc_chan_recv(sig_chan, NULL) == 0, "buffered signal after close");
        unsigned char canary = 0x77;
        GO_CHECK(goc_chan_recv(sig_chan, &canary) == -EPIPE, "closed signal channel");
        GO_CHECK(canary == 0x77, "closed recv of size 0 wrote to elem");
        GO_CHECK(goc_chan_try_recv(sig_chan, NULL) == -EPIPE, "try_recv closed signal channel");
        goc_chan_release(sig_chan);
    }
    return 0;
}

Test(chan, zero_size_signal_channel, .timeout = 20)
{
    cr_assert_eq(run_main(main_signal, NULL), 0);
}

/* ---- try_send / try_recv ----------------------------------------------------- */

static goc_chan *try_chan;

static void try_blocked_receiver(void *arg)
{
    atomic_long *done = arg;
    long v = 0;
    int r = goc_chan_recv(try_chan, &v);
    GO_CHECK(r == 0 && v == 31337, "receiver got %d / %ld", r, v);
    atomic_fetch_add(done, 1);
}

static void try_blocked_sender(void *arg)
{
    atomic_long *done = arg;
    long v = 271828;
    int r = goc_chan_send(try_chan, &v);
    GO_CHECK(r == 0, "sender got %d", r);
    atomic_fetch_add(done, 1);
}

static int main_try(void *arg)
{
    (void)arg;
    long v = 5;
    /* Unbuffered, nobody waiting: both would block. */
    try_chan = goc_chan_make(sizeof(long), 0);
    GO_CHECK(goc_chan_try_send(try_chan, &v) == -EAGAIN, "try_send unbuffered, no receiver");
    GO_CHECK(goc_chan_try_recv(try_chan, &v) == -EAGAIN, "try_recv unbuffered, no sender");
    GO_CHECK(v == 5, "failed try_recv wrote the element");

    /* A blocked receiver makes try_send succeed (once it is queued). */
    atomic_long done = 0;
    goc_go(try_blocked_receiver, &done);
    v = 31337;
    int r = -EAGAIN;
    int64_t deadline = goc_now() + 5 * GOC_SECOND;
    while ((r = goc_chan_try_send(try_chan, &v)) == -EAGAIN && goc_now() < deadline)
        goc_sleep(GOC_MILLISECOND);
    GO_CHECK(r == 0, "try_send to a blocked receiver: %d", r);
    GO_CHECK(go_wait_ge(&done, 1, 5000), "receiver not woken by try_send");

    /* A blocked sender makes try_recv succeed. */
    goc_go(try_blocked_sender, &done);
    v = 0;
    deadline = goc_now() + 5 * GOC_SECOND;
    while ((r = goc_chan_try_recv(try_chan, &v)) == -EAGAIN && goc_now() < deadline)
        goc_sleep(GOC_MILLISECOND);
    GO_CHECK(r == 0 && v == 271828, "try_recv from a blocked sender: %d, %ld", r, v);
    GO_CHECK(go_wait_ge(&done, 2, 5000), "sender not woken by try_recv");
    goc_chan_release(try_chan);

    /* Buffered: empty -> EAGAIN on recv; full -> EAGAIN on send. */
    goc_chan *b = goc_chan_make(sizeof(long), 2);
    GO_CHECK(goc_chan_try_recv(b, &v) == -EAGAIN, "try_recv empty");
    v = 1;
    GO_CHECK(goc_chan_try_send(b, &v) == 0, "try_send 1");
    v = 2;
    GO_CHECK(goc_chan_try_send(b, &v) == 0, "try_send 2");
    v = 3;
    GO_CHECK(goc_chan_try_send(b, &v) == -EAGAIN, "try_send full");
    GO_CHECK(goc_chan_len(b) == 2, "failed try_send changed len: %zu", goc_chan_len(b));
    GO_CHECK(goc_chan_try_recv(b, &v) == 0 && v == 1, "try_recv 1: %ld", v);
    GO_CHECK(goc_chan_try_recv(b, &v) == 0 && v == 2, "try_recv 2: %ld", v);
    GO_CHECK(goc_chan_try_recv(b, &v) == -EAGAIN, "try_recv empty again");
    goc_chan_release(b);
    return 0;
}

Test(chan, try_ops, .timeout = 20)
{
    cr_assert_eq(run_main(main_try, NULL), 0);
}

/* ---- close ------------------------------------------------------------------ */

static int main_close_drain(void *arg)
{
    (void)arg;
    const size_t caps[] = {0, 1, 5};
    for (size_t k = 0; k < 3; k++) {
        goc_chan *c = goc_chan_make(sizeof(uint64_t[3]), caps[k]);
        uint64_t v[3];
        for (size_t i = 0; i < caps[k]; i++) {
            v[0] = i;
            v[1] = ~i;
            v[2] = i * 3;
            GO_CHECK(goc_chan_send(c, v) == 0, "send");
        }
        GO_CHECK(goc_chan_close(c) == 0, "close");
        /* Sends fail, close again fails; buffered values still come out. */
        GO_CHECK(goc_chan_send(c, v) == -EPIPE, "send on closed");
        GO_CHECK(goc_chan_try_send(c, v) == -EPIPE, "try_send on closed");
        GO_CHECK(goc_chan_close(c) == -EPIPE, "close twice");
        GO_CHECK(goc_chan_len(c) == caps[k], "len after close %zu", goc_chan_len(c));
        for (size_t i = 0; i < caps[k]; i++) {
            memset(v, 0xAB, sizeof v);
            int r = i % 2 ? goc_chan_recv(c, v) : goc_chan_try_recv(c, v);
            GO_CHECK(r == 0, "buffered value %zu after close: %d", i, r);
            GO_CHECK(v[0] == i && v[1] == ~i && v[2] == i * 3, "value %zu after close", i);
        }
        /* Drained: -EPIPE, element zeroed, forever. */
        for (int i = 0; i < 3; i++) {
            memset(v, 0xAB, sizeof v);
            GO_CHECK(goc_chan_recv(c, v) == -EPIPE, "recv on closed, drained");
            GO_CHECK(all_bytes(v, sizeof v, 0), "recv on closed did not zero the element");
            memset(v, 0xAB, sizeof v);
            GO_CHECK(goc_chan_try_recv(c, v) == -EPIPE, "try_recv on closed, drained");
            GO_CHECK(all_bytes(v, sizeof v, 0), "try_recv on closed did not zero the element");
            GO_CHECK(goc_chan_recv(c, NULL) == -EPIPE, "recv(NULL elem) on closed");
        }
        GO_CHECK(goc_chan_len(c) == 0, "len %zu", goc_chan_len(c));
        GO_CHECK(goc_chan_cap(c) == caps[k], "cap %zu", goc_chan_cap(c));
        goc_chan_release(c);
    }
    return 0;
}

Test(chan, close_drains_then_epipe, .timeout = 10)
{
    cr_assert_eq(run_main(main_close_drain, NULL), 0);
}

/* Plain thread, runtime never started. */
Test(chan, close_on_plain_thread, .timeout = 10)
{
    goc_chan *c = goc_chan_make(sizeof(int), 2);
    int v = 3;
    cr_assert_eq(goc_chan_send(c, &v), 0);
    cr_assert_eq(goc_chan_close(c), 0);
    cr_assert_eq(goc_chan_close(c), -EPIPE);
    cr_assert_eq(goc_chan_send(c, &v), -EPIPE);
    v = 0;
    cr_assert_eq(goc_chan_recv(c, &v), 0);
    cr_assert_eq(v, 3);
    v = 9;
    cr_assert_eq(goc_chan_recv(c, &v), -EPIPE);
    cr_assert_eq(v, 0);
    goc_chan_release(c);
}

struct blocked_args {
    goc_chan *c;
    atomic_long *started, *done, *epipe;
};

static void blocked_receiver(void *arg)
{
    struct blocked_args *a = arg;
    uint64_t v[4];
    memset(v, 0xCD, sizeof v);
    atomic_fetch_add(a->started, 1);
    int r = goc_chan_recv(a->c, v);
    GO_CHECK(r == -EPIPE, "blocked receiver woken by close got %d", r);
    GO_CHECK(all_bytes(v, sizeof v, 0), "element not zeroed for a receiver woken by close");
    if (r == -EPIPE)
        atomic_fetch_add(a->epipe, 1);
    atomic_fetch_add(a->done, 1);
}

static void blocked_sender(void *arg)
{
    struct blocked_args *a = arg;
    uint64_t v[4] = {1, 2, 3, 4};
    atomic_fetch_add(a->started, 1);
    int r = goc_chan_send(a->c, v);
    if (r == -EPIPE)
        atomic_fetch_add(a->epipe, 1);
    else
        GO_CHECK(r == 0, "blocked sender got %d", r);
    atomic_fetch_add(a->done, 1);
}

static int main_close_wakes(void *arg)
{
    (void)arg;
    enum { N = 20 };
    const size_t caps[] = {0, 3};
    for (size_t k = 0; k < 2; k++) {
        /* Receivers blocked on an empty channel. */
        atomic_long started = 0, done = 0, epipe = 0;
        struct blocked_args a = {goc_chan_make(sizeof(uint64_t[4]), caps[k]), &started, &done,
                                 &epipe};
        for (int i = 0; i < N; i++)
            goc_go(blocked_receiver, &a);
        GO_CHECK(go_wait_ge(&started, N, 5000), "receivers did not start");
        goc_sleep(20 * GOC_MILLISECOND);
        GO_CHECK(atomic_load(&done) == 0, "a receiver returned from an empty channel");
        GO_CHECK(goc_chan_close(a.c) == 0, "close");
        GO_CHECK(go_wait_ge(&done, N, 5000), "only %ld of %d receivers woken by close",
                 atomic_load(&done), N);
        GO_CHECK(atomic_load(&epipe) == N, "%ld receivers got -EPIPE", atomic_load(&epipe));
        goc_chan_release(a.c);

        /* Senders blocked on a full (or unbuffered) channel. */
        atomic_store(&started, 0);
        atomic_store(&done, 0);
        atomic_store(&epipe, 0);
        a.c = goc_chan_make(sizeof(uint64_t[4]), caps[k]);
        uint64_t fill[4] = {9, 9, 9, 9};
        for (size_t i = 0; i < caps[k]; i++)
            goc_chan_send(a.c, fill);
        for (int i = 0; i < N; i++)
            goc_go(blocked_sender, &a);
        GO_CHECK(go_wait_ge(&started, N, 5000), "senders did not start");
        goc_sleep(20 * GOC_MILLISECOND);
        GO_CHECK(atomic_load(&done) == 0, "a sender returned from a full channel");
        GO_CHECK(goc_chan_close(a.c) == 0, "close");
        GO_CHECK(go_wait_ge(&done, N, 5000), "only %ld of %d senders woken by close",
                 atomic_load(&done), N);
        GO_CHECK(atomic_load(&epipe) == N, "%ld of %d blocked senders got -EPIPE",
                 atomic_load(&epipe), N);
        /* What was buffered before the close is still there, and nothing
         * the failed senders had is. */
        uint64_t v[4];
        for (size_t i = 0; i < caps[k]; i++) {
            GO_CHECK(goc_chan_recv(a.c, v) == 0 && v[0] == 9, "buffered value after close");
        }
        GO_CHECK(goc_chan_recv(a.c, v) == -EPIPE, "closed and drained");
        goc_chan_release(a.c);
    }
    return 0;
}

Test(chan, close_wakes_blocked_senders_and_receivers, .timeout = 30)
{
    cr_assert_eq(run_main(main_close_wakes, NULL), 0);
}

/* ---- Go's TestChan ----------------------------------------------------------- */

static goc_chan *tc_chan;
static atomic_long tc_flag;
static atomic_long tc_counts[1000];

static void tc_recv_flag(void *arg)
{
    (void)arg;
    int v;
    goc_chan_recv(tc_chan, &v);
    atomic_fetch_add(&tc_flag, 1);
}

static void tc_send_flag(void *arg)
{
    (void)arg;
    int v = 0;
    goc_chan_send(tc_chan, &v);
    atomic_fetch_add(&tc_flag, 1);
}

static void tc_recv_closed(void *arg)
{
    goc_chan *done = arg;
    int v = 5;
    int r = goc_chan_recv(tc_chan, &v);
    bool ok = r == -EPIPE && v == 0;
    goc_chan_send(done, &ok);
}

static void tc_send100(void *arg)
{
    (void)arg;
    for (int i = 0; i < 100; i++)
        goc_chan_send(tc_chan, &i);
    atomic_fetch_add(&tc_flag, 1);
}

static void tc_sendL(void *arg)
{
    int L = (int)(intptr_t)arg;
    for (int i = 0; i < L; i++)
        goc_chan_send(tc_chan, &i);
    atomic_fetch_add(&tc_flag, 1);
}

struct tc_recvL {
    int L;
    goc_chan *done;
};

static void tc_recvL(void *arg)
{
    struct tc_recvL *a = arg;
    for (int i = 0; i < a->L; i++) {
        int v = -1;
        goc_chan_recv(tc_chan, &v);
        if (v >= 0 && v < 1000)
            atomic_fetch_add(&tc_counts[v], 1);
        else
            GO_CHECK(0, "received %d", v);
    }
    goc_chan_send(a->done, NULL);
}

static int main_gochan(void *arg)
{
    (void)arg;
    int N = TEST_ASAN || TEST_TSAN ? 8 : 24;
    for (int cap = 0; cap < N; cap++) {
        int v;
        {
            /* Receive from an empty channel blocks; non-blocking one doesn't. */
            tc_chan = goc_chan_make(sizeof(int), (size_t)cap);
            atomic_store(&tc_flag, 0);
            goc_go(tc_recv_flag, NULL);
            goc_go(tc_recv_flag, NULL);
            goc_sleep(GOC_MILLISECOND);
            GO_CHECK(atomic_load(&tc_flag) == 0, "chan[%d]: receive from empty chan", cap);
            GO_CHECK(goc_chan_try_recv(tc_chan, &v) == -EAGAIN, "chan[%d]: try_recv empty", cap);
            goc_case cs[] = {GOC_RECV(tc_chan, &v)};
            GO_CHECK(goc_select(cs, 1, 0) == -EAGAIN, "chan[%d]: select recv empty", cap);
            v = 0;
            goc_chan_send(tc_chan, &v);
            goc_chan_send(tc_chan, &v);
            GO_CHECK(go_wait_ge(&tc_flag, 2, 5000), "chan[%d]: receivers not done", cap);
            goc_chan_release(tc_chan);
        }
        {
            /* Send to a full channel blocks; non-blocking one doesn't. */
            tc_chan = goc_chan_make(sizeof(int), (size_t)cap);
            for (int i = 0; i < cap; i++)
                goc_chan_send(tc_chan, &i);
            atomic_store(&tc_flag, 0);
            goc_go(tc_send_flag, NULL);
            goc_sleep(GOC_MILLISECOND);
            GO_CHECK(atomic_load(&tc_flag) == 0, "chan[%d]: send to full chan", cap);
            v = 0;
            GO_CHECK(goc_chan_try_send(tc_chan, &v) == -EAGAIN, "chan[%d]: try_send full", cap);
            goc_case cs[] = {GOC_SEND(tc_chan, &v)};
            GO_CHECK(goc_select(cs, 1, 0) == -EAGAIN, "chan[%d]: select send full", cap);
            goc_chan_recv(tc_chan, &v);
            GO_CHECK(go_wait_ge(&tc_flag, 1, 5000), "chan[%d]: sender not done", cap);
            goc_chan_release(tc_chan);
        }
        {
            /* Receive 0 from a closed channel after the buffered values. */
            goc_chan *c = goc_chan_make(sizeof(int), (size_t)cap);
            for (int i = 0; i < cap; i++)
                goc_chan_send(c, &i);
            goc_chan_close(c);
            for (int i = 0; i < cap; i++) {
                GO_CHECK(goc_chan_recv(c, &v) == 0 && v == i, "chan[%d]: received %d, want %d", cap,
                         v, i);
            }
            v = 7;
            GO_CHECK(goc_chan_recv(c, &v) == -EPIPE && v == 0, "chan[%d]: closed gives %d", cap, v);
            goc_chan_release(c);
        }
        {
            /* Close unblocks a receive. */
            tc_chan = goc_chan_make(sizeof(int), (size_t)cap);
            goc_chan *done = goc_chan_make(sizeof(bool), 0);
            goc_go(tc_recv_closed, done);
            goc_sleep(GOC_MILLISECOND);
            goc_chan_close(tc_chan);
            bool ok = false;
            goc_chan_recv(done, &ok);
            GO_CHECK(ok, "chan[%d]: close did not unblock a receive properly", cap);
            goc_chan_release(done);
            goc_chan_release(tc_chan);
        }
        {
            /* 100 integers in FIFO order. */
            tc_chan = goc_chan_make(sizeof(int), (size_t)cap);
            atomic_store(&tc_flag, 0);
            goc_go(tc_send100, NULL);
            for (int i = 0; i < 100; i++) {
                v = -1;
                goc_chan_recv(tc_chan, &v);
                GO_CHECK(v == i, "chan[%d]: received %d, expected %d", cap, v, i);
            }
            GO_CHECK(go_wait_ge(&tc_flag, 1, 5000), "chan[%d]: sender not done", cap);
            goc_chan_release(tc_chan);
        }
        {
            /* 4 senders x L, 4 receivers: every value exactly P times. */
            enum { P = 4 };
            int L = (int)test_scale(1000);
            tc_chan = goc_chan_make(sizeof(int), (size_t)cap);
            for (int i = 0; i < 1000; i++)
                atomic_store(&tc_counts[i], 0);
            goc_chan *done = goc_chan_make(0, 0);
            struct tc_recvL ra = {L, done};
            atomic_store(&tc_flag, 0);
            for (int p = 0; p < P; p++) {
                goc_go(tc_sendL, (void *)(intptr_t)L);
                goc_go(tc_recvL, &ra);
            }
            for (int p = 0; p < P; p++)
                goc_chan_recv(done, NULL);
            GO_CHECK(go_wait_ge(&tc_flag, P, 5000), "chan[%d]: senders not done", cap);
            for (int i = 0; i < L; i++)
                GO_CHECK(atomic_load(&tc_counts[i]) == P, "chan[%d]: value %d received %ld times",
                         cap, i, atomic_load(&tc_counts[i]));
            goc_chan_release(done);
            goc_chan_release(tc_chan);
        }
        {
            goc_chan *c = goc_chan_make(sizeof(int), (size_t)cap);
            GO_CHECK(goc_chan_len(c) == 0 && goc_chan_cap(c) == (size_t)cap, "chan[%d]: len/cap",
                     cap);
            for (int i = 0; i < cap; i++)
                goc_chan_send(c, &i);
            GO_CHECK(goc_chan_len(c) == (size_t)cap && goc_chan_cap(c) == (size_t)cap,
                     "chan[%d]: len %zu cap %zu when full", cap, goc_chan_len(c), goc_chan_cap(c));
            goc_chan_release(c);
        }
    }
    return 0;
}

Test(chan, go_TestChan, .timeout = 60)
{
    cr_assert_eq(run_main(main_gochan, NULL), 0);
}

/* ---- reference counting ------------------------------------------------------ */

struct ref_args {
    goc_chan *c;
    goc_chan *done;
};

static void ref_user(void *arg)
{
    struct ref_args *a = arg;
    for (int i = 0; i < 100; i++) {
        int v = i;
        goc_chan_send(a->c, &v);
    }
    goc_chan_release(a->c); /* our own reference */
    goc_chan_send(a->done, NULL);
}

static int main_refs(void *arg)
{
    (void)arg;
    goc_chan *c = goc_chan_make(sizeof(int), 4);
    GO_CHECK(goc_chan_retain(c) == c, "retain returns its argument");
    goc_chan_release(c); /* back to one */
    int v = 1;
    GO_CHECK(goc_chan_send(c, &v) == 0, "channel works after retain/release");
    GO_CHECK(goc_chan_recv(c, &v) == 0 && v == 1, "recv");

    /* Every user holds a reference; the owner drops its own early. */
    enum { U = 8 };
    goc_chan *done = goc_chan_make(0, 0);
    struct ref_args a[U];
    for (int i = 0; i < U; i++) {
        a[i] = (struct ref_args){goc_chan_retain(c), done};
        goc_go(ref_user, &a[i]);
    }
    goc_chan *rc = goc_chan_retain(c); /* the receiver's */
    goc_chan_release(c);               /* the maker's */
    long sum = 0;
    for (int i = 0; i < U * 100; i++) {
        GO_CHECK(goc_chan_recv(rc, &v) == 0, "recv");
        sum += v;
    }
    GO_CHECK(sum == U * 4950L, "sum %ld", sum);
    for (int i = 0; i < U; i++)
        goc_chan_recv(done, NULL);
    goc_chan_release(rc); /* last reference: freed (LeakSanitizer checks) */
    goc_chan_release(done);

    /* Releasing a channel with buffered elements frees them with it. */
    goc_chan *b = goc_chan_make(1024, 16);
    char buf[1024] = {1};
    for (int i = 0; i < 16; i++)
        goc_chan_send(b, buf);
    goc_chan_close(b);
    goc_chan_release(b);
    /* A thousand retains and releases balance. */
    goc_chan *m = goc_chan_make(8, 0);
    for (int i = 0; i < 1000; i++)
        goc_chan_retain(m);
    for (int i = 0; i < 1000; i++)
        goc_chan_release(m);
    GO_CHECK(goc_chan_try_send(m, &sum) == -EAGAIN, "still alive after balanced retains");
    goc_chan_release(m);
    return 0;
}

Test(chan, retain_release, .timeout = 20)
{
    cr_assert_eq(run_main(main_refs, NULL), 0);
}

/* ---- plain threads ------------------------------------------------------------- */

struct pp_args {
    goc_chan *ping, *pong;
    int n;
};

static void *pp_thread_echo(void *arg)
{
    struct pp_args *a = arg;
    for (int i = 0; i < a->n; i++) {
        long v = -1;
        int r = goc_chan_recv(a->ping, &v);
        GO_CHECK(r == 0 && v == i, "thread recv %d: %d %ld", i, r, v);
        v = v * 2 + 1;
        r = goc_chan_send(a->pong, &v);
        GO_CHECK(r == 0, "thread send %d", r);
    }
    return NULL;
}

static void pp_drive(struct pp_args *a)
{
    for (int i = 0; i < a->n; i++) {
        long v = i;
        GO_CHECK(goc_chan_send(a->ping, &v) == 0, "send");
        GO_CHECK(goc_chan_recv(a->pong, &v) == 0 && v == 2L * i + 1, "reply %ld", v);
    }
}

/* Two plain threads over unbuffered channels, no runtime at all. */
Test(chan, thread_to_thread_without_runtime, .timeout = 20)
{
    struct pp_args a = {goc_chan_make(sizeof(long), 0), goc_chan_make(sizeof(long), 0),
                        (int)test_scale(20000)};
    pthread_t t = start_thread(pp_thread_echo, &a);
    pp_drive(&a);
    pthread_join(t, NULL);
    GO_CHECK_REPORT();
    goc_chan_release(a.ping);
    goc_chan_release(a.pong);
}

static int main_thread_pingpong(void *arg)
{
    struct pp_args *a = arg;
    keepalive_start();
    pthread_t t = start_thread(pp_thread_echo, a);
    pp_drive(a);
    pthread_join(t, NULL); /* it is done: its last send was received */
    keepalive_end();
    return 0;
}

/* A goroutine and a plain thread ping-pong: the thread blocks in recv and
 * send, the goroutine parks. */
Test(chan, goroutine_thread_pingpong, .timeout = 20)
{
    for (size_t cap = 0; cap < 2; cap++) {
        struct pp_args a = {goc_chan_make(sizeof(long), cap), goc_chan_make(sizeof(long), cap),
                            (int)test_scale(20000)};
        cr_assert_eq(run_main(main_thread_pingpong, &a), 0);
        goc_chan_release(a.ping);
        goc_chan_release(a.pong);
    }
}

static atomic_int thr_result = 1;

static void *thread_blocked_send(void *arg)
{
    goc_chan *c = arg;
    int v = 1;
    atomic_store(&thr_result, goc_chan_send(c, &v)); /* unbuffered, nobody receives */
    return NULL;
}

static void *thread_blocked_recv(void *arg)
{
    goc_chan *c = arg;
    int v = 1234;
    int r = goc_chan_recv(c, &v);
    atomic_store(&thr_result, r == -EPIPE && v == 0 ? -EPIPE : (r ? r : 1));
    return NULL;
}

static int main_close_threads(void *arg)
{
    (void)arg;
    keepalive_start();
    for (int k = 0; k < 2; k++) {
        goc_chan *c = goc_chan_make(sizeof(int), 0);
        atomic_store(&thr_result, 1);
        pthread_t t = start_thread(k ? thread_blocked_recv : thread_blocked_send, c);
        goc_sleep(30 * GOC_MILLISECOND);
        GO_CHECK(atomic_load(&thr_result) == 1, "%s on a plain thread returned early",
                 k ? "recv" : "send");
        goc_chan_close(c);
        for (int i = 0; i < 5000 && atomic_load(&thr_result) == 1; i++)
            goc_sleep(GOC_MILLISECOND);
        GO_CHECK(atomic_load(&thr_result) == -EPIPE, "blocked thread %s woken by close: %d",
                 k ? "recv (with zeroed elem)" : "send", atomic_load(&thr_result));
        pthread_join(t, NULL);
        goc_chan_release(c);
    }
    keepalive_end();
    return 0;
}

/* A goroutine's close wakes a plain thread blocked in send or recv. */
Test(chan, close_wakes_blocked_thread, .timeout = 20)
{
    cr_assert_eq(run_main(main_close_threads, NULL), 0);
}

/* ---- goc_after ------------------------------------------------------------------ */

static int main_after(void *arg)
{
    (void)arg;
    const goc_duration ds[] = {GOC_MILLISECOND, 10 * GOC_MILLISECOND, 50 * GOC_MILLISECOND};
    for (size_t i = 0; i < 3; i++) {
        int64_t t0 = goc_now();
        goc_chan *c = goc_after(ds[i]);
        GO_CHECK(c != NULL, "goc_after");
        GO_CHECK(goc_chan_cap(c) == 1, "goc_after cap %zu", goc_chan_cap(c));
        int64_t v = 0;
        int r = goc_chan_recv(c, &v);
        int64_t t1 = goc_now();
        GO_CHECK(r == 0, "recv %d", r);
        GO_CHECK(v >= t0 + ds[i], "value %lld < creation %lld + d %lld", (long long)v,
                 (long long)t0, (long long)ds[i]);
        GO_CHECK(v <= t1, "value %lld is later than its receipt %lld", (long long)v, (long long)t1);
        GO_CHECK(t1 - t0 >= ds[i], "received after %lld us, d is %lld us",
                 (long long)(t1 - t0) / 1000, (long long)ds[i] / 1000);
        GO_CHECK(t1 - t0 < ds[i] + 200 * GOC_MILLISECOND * test_slack(), "received after %lld ms",
                 (long long)test_ms(t1 - t0));
        /* Exactly one value. */
        GO_CHECK(goc_chan_try_recv(c, &v) == -EAGAIN, "second value on goc_after channel");
        goc_chan_release(c);
    }
    /* d <= 0 fires at once. */
    for (int k = 0; k < 2; k++) {
        int64_t t0 = goc_now();
        goc_chan *c = goc_after(k ? -5 * GOC_SECOND : 0);
        int64_t v = 0;
        GO_CHECK(goc_chan_recv(c, &v) == 0, "after(%s)", k ? "negative" : "0");
        GO_CHECK(goc_now() - t0 < 100 * GOC_MILLISECOND * test_slack(), "after(<=0) took %lld ms",
                 (long long)test_ms(goc_now() - t0));
        GO_CHECK(v >= t0, "value before creation");
        goc_chan_release(c);
    }
    /* The value waits in the buffer if nobody receives yet; len shows it. */
    {
        int64_t t0 = goc_now();
        goc_chan *c = goc_after(5 * GOC_MILLISECOND);
        goc_sleep(60 * GOC_MILLISECOND);
        GO_CHECK(goc_chan_len(c) == 1, "fired goc_after len %zu", goc_chan_len(c));
        int64_t v = 0;
        GO_CHECK(goc_chan_try_recv(c, &v) == 0, "try_recv fired goc_after");
        GO_CHECK(v >= t0 + 5 * GOC_MILLISECOND && v < t0 + 60 * GOC_MILLISECOND + 1,
                 "value is the fire time: %lld ms after creation", (long long)test_ms(v - t0));
        goc_chan_release(c);
    }
    return 0;
}

Test(chan, after_fires_once_after_d, .timeout = 20)
{
    cr_assert_eq(run_main(main_after, NULL), 0);
}

static int main_after_released(void *arg)
{
    (void)arg;
    /* Released before it fires: the timer must not touch freed memory
     * (ASan) nor leak (LeakSanitizer). */
    for (int i = 0; i < 200; i++)
        goc_chan_release(goc_after((i % 20) * GOC_MILLISECOND / 4));
    for (int i = 0; i < 50; i++)
        goc_chan_release(goc_after(GOC_HOUR));
    goc_sleep(30 * GOC_MILLISECOND);
    /* Still works afterwards. */
    goc_chan *c = goc_after(GOC_MILLISECOND);
    int64_t v;
    GO_CHECK(goc_chan_recv(c, &v) == 0, "after recv");
    goc_chan_release(c);
    return 0;
}

Test(chan, after_released_before_firing, .timeout = 20)
{
    cr_assert_eq(run_main(main_after_released, NULL), 0);
}

static atomic_long after_ok;

static void after_waiter(void *arg)
{
    goc_duration d = (goc_duration)(intptr_t)arg;
    int64_t t0 = goc_now();
    goc_chan *c = goc_after(d);
    int64_t v = 0;
    int r = goc_chan_recv(c, &v);
    GO_CHECK(r == 0 && v >= t0 + d && goc_now() - t0 >= d, "after(%lld): %d", (long long)d, r);
    goc_chan_release(c);
    atomic_fetch_add(&after_ok, 1);
}

static int main_many_afters(void *arg)
{
    (void)arg;
    long n = test_scale(2000);
    for (long i = 0; i < n; i++)
        goc_go(after_waiter, (void *)(intptr_t)((i % 50) * GOC_MILLISECOND / 2 + 1));
    GO_CHECK(go_wait_ge(&after_ok, n, 10000), "%ld of %ld after waiters finished",
             atomic_load(&after_ok), n);
    return 0;
}

Test(chan, many_afters, .timeout = 30)
{
    cr_assert_eq(run_main(main_many_afters, NULL), 0);
}

static void *after_on_thread(void *arg)
{
    (void)arg;
    int64_t t0 = goc_now();
    goc_chan *c = goc_after(20 * GOC_MILLISECOND);
    int64_t v = 0;
    int r = goc_chan_recv(c, &v);
    int64_t el = goc_now() - t0;
    GO_CHECK(r == 0 && v >= t0 + 20 * GOC_MILLISECOND, "after on plain thread: %d", r);
    GO_CHECK(el >= 20 * GOC_MILLISECOND && el < 500 * GOC_MILLISECOND * test_slack(),
             "after on plain thread took %lld ms", (long long)test_ms(el));
    goc_chan_release(c);
    return NULL;
}

static int main_after_thread(void *arg)
{
    (void)arg;
    keepalive_start();
    pthread_t t = start_thread(after_on_thread, NULL);
    pthread_join(t, NULL);
    keepalive_end();
    return 0;
}

/* A plain thread waits on goc_after while the runtime runs. */
Test(chan, after_on_plain_thread, .timeout = 20)
{
    cr_assert_eq(run_main(main_after_thread, NULL), 0);
}

/* ---- stress ------------------------------------------------------------------------ */

struct stress {
    goc_chan *c, *done;
    long per_producer;
    atomic_long count, sum;
    atomic_long per_prod_count[1024];
};

static void stress_producer(void *arg)
{
    struct stress *s = arg;
    static atomic_long next_id;
    long id = atomic_fetch_add(&next_id, 1) % 1024;
    for (long i = 0; i < s->per_producer; i++) {
        int64_t v[2] = {id, i};
        int r = goc_chan_send(s->c, v);
        GO_CHECK(r == 0, "producer send %d", r);
    }
    goc_chan_send(s->done, NULL);
}

static void stress_consumer(void *arg)
{
    struct stress *s = arg;
    long n = 0, sum = 0;
    int64_t v[2];
    while (goc_chan_recv(s->c, v) == 0) {
        n++;
        sum += v[1];
        atomic_fetch_add_explicit(&s->per_prod_count[v[0]], 1, memory_order_relaxed);
    }
    atomic_fetch_add(&s->count, n);
    atomic_fetch_add(&s->sum, sum);
    goc_chan_send(s->done, NULL);
}

static int main_stress(void *arg)
{
    size_t cap = (size_t)(intptr_t)arg;
    static struct stress s;
    memset(&s, 0, sizeof s);
    long producers = test_scale(500), consumers = test_scale(500);
    if (TEST_TSAN) {
        producers = 50;
        consumers = 50;
    }
    s.per_producer = test_scale(400);
    s.c = goc_chan_make(sizeof(int64_t[2]), cap);
    s.done = goc_chan_make(0, 0);
    for (long i = 0; i < consumers; i++)
        goc_go(stress_consumer, &s);
    for (long i = 0; i < producers; i++)
        goc_go(stress_producer, &s);
    for (long i = 0; i < producers; i++)
        goc_chan_recv(s.done, NULL);
    goc_chan_close(s.c);
    for (long i = 0; i < consumers; i++)
        goc_chan_recv(s.done, NULL);
    long want = producers * s.per_producer;
    GO_CHECK(atomic_load(&s.count) == want, "cap %zu: received %ld of %ld", cap,
             atomic_load(&s.count), want);
    long wsum = producers * (s.per_producer * (s.per_producer - 1) / 2);
    GO_CHECK(atomic_load(&s.sum) == wsum, "cap %zu: sum %ld, want %ld", cap, atomic_load(&s.sum),
             wsum);
    long bad = 0;
    for (long i = 0; i < 1024; i++) {
        long want_i = 0;
        for (long p = i; p < producers; p += 1024)
            want_i += s.per_producer;
        if (atomic_load(&s.per_prod_count[i]) != want_i)
            bad++;
    }
    GO_CHECK(bad == 0, "cap %zu: %ld producers' counts wrong", cap, bad);
    goc_chan_release(s.c);
    goc_chan_release(s.done);
    return 0;
}

/* A thousand goroutines: producers and consumers on one channel, counts and
 * sums exact, on unbuffered and buffered channels. */
Test(chan, stress_unbuffered, .timeout = 60)
{
    cr_assert_eq(run_main(main_stress, (void *)(intptr_t)0), 0);
}

Test(chan, stress_buffered_small, .timeout = 60)
{
    cr_assert_eq(run_main(main_stress, (void *)(intptr_t)1), 0);
}

Test(chan, stress_buffered, .timeout = 60)
{
    cr_assert_eq(run_main(main_stress, (void *)(intptr_t)64), 0);
}

/* Go's TestMultiConsumer: 23 workers between two buffered channels. */
static const int mc_pn[] = {2, 3, 7, 11, 13, 17, 19, 23, 27, 31};

struct mc {
    goc_chan *q, *r, *wdone;
    long niter;
    long expect;
    atomic_long feeder_done;
};

static void mc_worker(void *arg)
{
    struct mc *m = arg;
    static atomic_int wid;
    int w = atomic_fetch_add(&wid, 1);
    int v;
    while (goc_chan_recv(m->q, &v) == 0) {
        if (mc_pn[w % 10] == v)
            goc_yield();
        goc_chan_send(m->r, &v);
    }
    goc_chan_send(m->wdone, NULL);
}

static void mc_feeder(void *arg)
{
    struct mc *m = arg;
    long expect = 0;
    for (long i = 0; i < m->niter; i++) {
        int v = mc_pn[i % 10];
        expect += v;
        goc_chan_send(m->q, &v);
    }
    m->expect = expect;
    goc_chan_close(m->q);
    for (int i = 0; i < 23; i++)
        goc_chan_recv(m->wdone, NULL);
    goc_chan_close(m->r);
    atomic_store(&m->feeder_done, 1);
}

static int main_multiconsumer(void *arg)
{
    (void)arg;
    static struct mc m;
    m = (struct mc){goc_chan_make(sizeof(int), 69),
                    goc_chan_make(sizeof(int), 69),
                    goc_chan_make(0, 0),
                    test_scale(271828),
                    0,
                    0};
    for (int i = 0; i < 23; i++)
        goc_go(mc_worker, &m);
    goc_go(mc_feeder, &m);
    long n = 0, s = 0;
    int v;
    while (goc_chan_recv(m.r, &v) == 0) {
        n++;
        s += v;
    }
    /* r is closed after the feeder wrote expect. */
    GO_CHECK(go_wait_ge(&m.feeder_done, 1, 5000), "feeder not done");
    GO_CHECK(n == m.niter && s == m.expect, "got %ld values sum %ld, want %ld sum %ld", n, s,
             m.niter, m.expect);
    goc_chan_release(m.q);
    goc_chan_release(m.r);
    goc_chan_release(m.wdone);
    return 0;
}

Test(chan, go_TestMultiConsumer, .timeout = 60)
{
    cr_assert_eq(run_main(main_multiconsumer, NULL), 0);
}

/* Go's TestNonblockRecvRace: a buffered value and a close race with a
 * non-blocking receive, which must see either the value or the close,
 * never "would block". */
static void nbrr_try(void *arg)
{
    goc_chan **cs = arg;
    int v;
    int r = goc_chan_try_recv(cs[0], &v);
    GO_CHECK(r == 0 || r == -EPIPE, "try_recv on a ready channel returned %d", r);
    goc_chan_send(cs[1], NULL);
}

static int main_nbrr(void *arg)
{
    (void)arg;
    long n = test_scale(20000);
    goc_chan *done = goc_chan_make(0, 1);
    for (long i = 0; i < n && !test_failed(); i++) {
        goc_chan *c = goc_chan_make(sizeof(int), 1);
        int one = 1;
        goc_chan_send(c, &one);
        goc_chan *cs[2] = {c, done};
        goc_go(nbrr_try, cs);
        goc_chan_close(c);
        int v;
        goc_chan_recv(c, &v);
        goc_chan_recv(done, NULL);
        goc_chan_release(c);
    }
    goc_chan_release(done);
    return 0;
}

Test(chan, go_TestNonblockRecvRace, .timeout = 60)
{
    cr_assert_eq(run_main(main_nbrr, NULL), 0);
}
