/*
 * test_sigchan_udp.c — signals as channels (goc_signal_notify) and UDP
 * datagrams (goc_recvfrom / goc_sendto, goc_dial "udp").
 */
#include <signal.h>
#include <unistd.h>

#include "net/netutil.h"

/* ---- signals ---------------------------------------------------------------- */

static int main_signals(void *arg)
{
    (void)arg;
    goc_chan *c = goc_chan_make(sizeof(int), 4);
    int sigs[] = {SIGUSR1, SIGUSR2};
    GO_CHECK(goc_signal_notify(c, sigs, 2) == 0, "notify");
    /* Delivered to the process (any thread): each arrives as its number. */
    kill(getpid(), SIGUSR1);
    kill(getpid(), SIGUSR2);
    int got[2] = {0, 0};
    for (int i = 0; i < 2; i++) {
        int s = 0;
        goc_case cs[] = {GOC_RECV(c, &s)};
        int r = goc_select(cs, 1, 5 * GOC_SECOND * test_slack());
        GO_CHECK(r == 0, "signal %d not received: %s", i, goc_strerror(r));
        if (s == SIGUSR1)
            got[0]++;
        if (s == SIGUSR2)
            got[1]++;
    }
    GO_CHECK(got[0] == 1 && got[1] == 1, "SIGUSR1 x%d, SIGUSR2 x%d", got[0], got[1]);

    /* A second channel for the same signal gets it too. */
    goc_chan *c2 = goc_chan_make(sizeof(int), 1);
    GO_CHECK(goc_signal_notify(c2, sigs, 1) == 0, "notify c2");
    kill(getpid(), SIGUSR1);
    int s1 = 0, s2 = 0;
    GO_CHECK(goc_chan_recv(c, &s1) == 0 && s1 == SIGUSR1, "c: %d", s1);
    GO_CHECK(goc_chan_recv(c2, &s2) == 0 && s2 == SIGUSR1, "c2: %d", s2);

    /* After stop: the previous disposition is back once no channel
     * watches the signal (here SIG_DFL for SIGUSR2 would kill us, so
     * check it through sigaction instead). */
    goc_signal_stop(c);
    goc_signal_stop(c2);
    struct sigaction sa;
    sigaction(SIGUSR2, NULL, &sa);
    GO_CHECK(sa.sa_handler == SIG_DFL, "SIGUSR2 disposition not restored");
    goc_chan_release(c);
    goc_chan_release(c2);
    return 0;
}

Test(sigchan, signals_arrive_on_channels, .timeout = 30)
{
    cr_assert_eq(run_main(main_signals, NULL), 0);
}

static int main_signal_errors(void *arg)
{
    (void)arg;
    goc_chan *wrong = goc_chan_make(sizeof(long), 1);
    goc_chan *c = goc_chan_make(sizeof(int), 1);
    int kill9[] = {SIGKILL}, stop[] = {SIGSTOP}, bad[] = {0}, big[] = {1000};
    GO_CHECK(goc_signal_notify(NULL, kill9, 0) == -EINVAL, "NULL channel");
    GO_CHECK(goc_signal_notify(wrong, (int[]){SIGUSR1}, 1) == -EINVAL, "element size");
    GO_CHECK(goc_signal_notify(c, kill9, 1) == -EINVAL, "SIGKILL");
    GO_CHECK(goc_signal_notify(c, stop, 1) == -EINVAL, "SIGSTOP");
    GO_CHECK(goc_signal_notify(c, bad, 1) == -EINVAL, "signal 0");
    GO_CHECK(goc_signal_notify(c, big, 1) == -EINVAL, "signal 1000");
    goc_signal_stop(c); /* never registered: nothing happens */
    goc_chan_release(wrong);
    goc_chan_release(c);
    return 0;
}

Test(sigchan, bad_arguments_are_einval, .timeout = 10)
{
    cr_assert_eq(run_main(main_signal_errors, NULL), 0);
}

/* ---- UDP ---------------------------------------------------------------------- */

static int main_udp(void *arg)
{
    (void)arg;
    int u = goc_listen("udp4", "127.0.0.1:0");
    GO_CHECK(u >= 0, "listen udp: %s", goc_strerror(u));
    if (u < 0)
        return 1;
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", sock_port(u));
    int d = goc_dial("udp", addr, GOC_SECOND);
    GO_CHECK(d >= 0, "dial udp: %s", goc_strerror(d));
    if (d < 0)
        return 1;

    /* Each datagram whole, in order, with the sender's address. */
    for (int i = 0; i < 100; i++) {
        char msg[32], buf[64] = {0};
        int n = snprintf(msg, sizeof msg, "datagram %d", i);
        GO_CHECK(goc_write(d, msg, (size_t)n) == n, "write %d", i);
        struct sockaddr_storage from;
        socklen_t fl = sizeof from;
        ssize_t r = goc_recvfrom(u, buf, sizeof buf, (struct sockaddr *)&from, &fl);
        GO_CHECK(r == n && memcmp(buf, msg, (size_t)n) == 0, "recvfrom %d: %zd %s", i, r, buf);
        GO_CHECK(goc_sendto(u, buf, (size_t)r, (struct sockaddr *)&from, fl) == r, "sendto %d", i);
        char back[64];
        GO_CHECK(goc_read(d, back, sizeof back) == n, "echo %d", i);
    }

    /* Nothing comes: the read deadline ends the wait. */
    int64_t t0 = goc_now();
    goc_set_read_deadline(u, goc_now() + 50 * GOC_MILLISECOND);
    char buf[8];
    ssize_t r = goc_recvfrom(u, buf, sizeof buf, NULL, NULL);
    GO_CHECK(r == -ETIMEDOUT, "recvfrom past the deadline: %zd", r);
    GO_CHECK(since_ms(t0) >= 45 && since_ms(t0) <= late_ms(50), "deadline after %lld ms",
             (long long)since_ms(t0));
    goc_close(u);
    goc_close(d);
    return 0;
}

Test(udp, datagrams_and_deadline, .timeout = 30)
{
    cr_assert_eq(run_main(main_udp, NULL), 0);
}
