/*
 * helper_chan_deadlock.c — programs whose goroutines all block forever on
 * channels, for test_select.c (deadlock_* tests).
 *
 *   helper_chan_deadlock recv       main and another goroutine receive on a
 *                                   channel nobody sends on
 *   helper_chan_deadlock send       main sends on an unbuffered channel
 *                                   nobody receives from
 *   helper_chan_deadlock select     main selects on two idle channels
 *   helper_chan_deadlock nilselect  main selects on NULL channels only
 *   helper_chan_deadlock empty      main: goc_select(NULL, 0, GOC_FOREVER)
 *
 * Each should end with Go's "all goroutines are asleep - deadlock!", exit 2.
 * Reaching the end of main_fn is a failure (exit 3).
 */
#include <goc.h>

#include <stdio.h>
#include <string.h>

static goc_chan *c1, *c2;

static void other_receiver(void *arg)
{
    (void)arg;
    int v;
    goc_chan_recv(c1, &v);
}

static int main_fn(void *arg)
{
    const char *mode = arg;
    c1 = goc_chan_make(sizeof(int), 0);
    c2 = goc_chan_make(sizeof(int), 2);
    int v = 1, r = 0;
    printf("blocking\n");
    fflush(stdout);
    if (strcmp(mode, "recv") == 0) {
        goc_go(other_receiver, NULL);
        r = goc_chan_recv(c1, &v);
    } else if (strcmp(mode, "send") == 0) {
        r = goc_chan_send(c1, &v);
    } else if (strcmp(mode, "select") == 0) {
        goc_case cs[] = {GOC_RECV(c1, &v), GOC_RECV(c2, &v), GOC_SEND(c1, &v)};
        r = goc_select(cs, 3, GOC_FOREVER);
    } else if (strcmp(mode, "nilselect") == 0) {
        goc_case cs[] = {GOC_RECV(NULL, &v), GOC_SEND(NULL, &v)};
        r = goc_select(cs, 2, GOC_FOREVER);
    } else {
        r = goc_select(NULL, 0, GOC_FOREVER);
    }
    fprintf(stderr, "helper_chan_deadlock %s: returned %d\n", mode, r);
    return 3;
}

int main(int argc, char **argv)
{
    return goc_run(main_fn, argc > 1 ? argv[1] : "recv");
}
