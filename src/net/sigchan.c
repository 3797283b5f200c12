/*
 * sigchan.c — goc_signal_notify: signals as channels (os/signal).
 *
 * The handler only writes the signal number into a nonblocking pipe
 * (async-signal-safe, and it works whatever the signal masks of the
 * program's threads are, which signalfd would need all to agree on). A
 * dispatcher goroutine, started with the first notify, reads the pipe
 * with goc_read and try-sends each number to the channels registered for
 * it, as Go's signal loop does.
 *
 * The registry (per signal: a small array of channels) is guarded by
 * reg_lock, a goc_mutex: notify, stop and the dispatcher all run as
 * goroutines or plain threads, never in the handler.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chan/chan.h"
#include "net/poll.h"

#define MAX_CHANS 8 /* channels per signal */

static goc_mutex reg_lock;
static goc_chan *reg[NSIG][MAX_CHANS]; /* under reg_lock */
static struct sigaction saved[NSIG];   /* under reg_lock: to restore */
static int pipefd[2] = {-1, -1};       /* set once, under reg_lock */

static void handler(int sig)
{
    int saved_errno = errno;
    unsigned char b = (unsigned char)sig;
    ssize_t r = write(pipefd[1], &b, 1); /* full: the signal is dropped */
    (void)r;
    errno = saved_errno;
}

static void dispatch(void *unused)
{
    (void)unused;
    unsigned char buf[64];
    for (;;) {
        ssize_t n = goc_read(pipefd[0], buf, sizeof buf);
        if (n <= 0)
            return;
        goc_mutex_lock(&reg_lock);
        for (ssize_t i = 0; i < n; i++) {
            int sig = buf[i];
            for (int k = 0; k < MAX_CHANS; k++)
                if (reg[sig][k])
                    goc_chan_try_send(reg[sig][k], &sig); /* full: dropped */
        }
        goc_mutex_unlock(&reg_lock);
    }
}

/* reg_lock held. */
static int start(void)
{
    if (pipefd[0] >= 0)
        return 0;
    if (pipe2(pipefd, O_NONBLOCK | O_CLOEXEC) < 0)
        return -errno;
    int rc = goc_go(dispatch, NULL);
    if (rc) {
        close(pipefd[0]);
        close(pipefd[1]);
        pipefd[0] = pipefd[1] = -1;
    }
    return rc;
}

static bool watched(int sig)
{
    for (int k = 0; k < MAX_CHANS; k++)
        if (reg[sig][k])
            return true;
    return false;
}

/* reg_lock held: register c for sig (once). */
static int add(goc_chan *c, int sig)
{
    int free_slot = -1;
    for (int k = 0; k < MAX_CHANS; k++) {
        if (reg[sig][k] == c)
            return 0;
        if (!reg[sig][k] && free_slot < 0)
            free_slot = k;
    }
    if (free_slot < 0)
        return -ENOMEM;
    if (!watched(sig)) {
        struct sigaction sa = {.sa_handler = handler, .sa_flags = SA_RESTART};
        sigfillset(&sa.sa_mask);
        if (sigaction(sig, &sa, &saved[sig]) < 0)
            return -errno;
    }
    reg[sig][free_slot] = goc_chan_retain(c);
    return 0;
}

GOC_API int goc_signal_notify(goc_chan *c, const int *sigs, size_t n)
{
    if (!c || c->elemsize != sizeof(int))
        return goc__errset(-EINVAL, "goc_signal_notify: the channel must carry an int");
    if (n > 0 && !sigs)
        return goc__errset(-EINVAL, "goc_signal_notify: NULL signal list");
    for (size_t i = 0; i < n; i++)
        if (sigs[i] <= 0 || sigs[i] >= NSIG || sigs[i] == SIGKILL || sigs[i] == SIGSTOP)
            return goc__errorf(-EINVAL, "goc_signal_notify: signal %d cannot be caught", sigs[i]);
    goc_mutex_lock(&reg_lock);
    int rc = start();
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = add(c, sigs[i]);
    goc_mutex_unlock(&reg_lock);
    return rc < 0 ? goc__errop(rc, "goc_signal_notify") : rc;
}

GOC_API void goc_signal_stop(goc_chan *c)
{
    if (!c)
        return;
    goc_mutex_lock(&reg_lock);
    for (int sig = 1; sig < NSIG; sig++) {
        for (int k = 0; k < MAX_CHANS; k++) {
            if (reg[sig][k] != c)
                continue;
            reg[sig][k] = NULL;
            goc_chan_release(c);
            if (!watched(sig))
                sigaction(sig, &saved[sig], NULL);
        }
    }
    goc_mutex_unlock(&reg_lock);
}
