/*
 * test_upstream.c — the gateway's verdicts on targets (gateway/upstream.c)
 * without a network: the circuit breaker (opens at its failure ratio,
 * half-open after its time, probes close or reopen it), passive ejection
 * (consecutive failures, the time growing with repeats, never the last
 * target standing), the in-flight bound (a queue of bounded length and
 * wait, then -EAGAIN), and target sets replaced while a pick is held.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "runtime/util.h"
#include "state.h"

static gw_target_cfg two[] = {{"10.0.0.1:80", 1}, {"10.0.0.2:80", 1}};

static gw_upstream_cfg base_cfg(void)
{
    return (gw_upstream_cfg){
        .name = "u",
        .balance = GOC_BALANCE_ROUND_ROBIN,
        .targets = two,
        .ntargets = 2,
        .eject_time = 300 * GOC_MILLISECOND,
        .eject_max = 10 * GOC_SECOND,
        .breaker_ratio = 0.5,
        .breaker_window = 10 * GOC_SECOND,
        .breaker_open = 200 * GOC_MILLISECOND,
        .breaker_probes = 2,
        .max_inflight = 2,
        .max_queue = 1,
        .queue_timeout = 300 * GOC_MILLISECOND,
    };
}

static const char *state_of(gw_upstream *u, const char *addr, char *out, size_t n)
{
    gw_buf b = {0};
    gw_upstream_targets_json(u, &b);
    const char *p = b.p ? strstr(b.p, addr) : NULL;
    const char *s = p ? strstr(p, "\"state\":\"") : NULL;
    out[0] = 0;
    if (s) {
        s += 9;
        size_t k = strcspn(s, "\"");
        snprintf(out, n, "%.*s", (int)(k < n ? k : n - 1), s);
    }
    gw_buf_free(&b);
    return out;
}

/* Wait (at most ~3 s, stretched by the slack) for addr's state. */
static bool wait_state(gw_upstream *u, const char *addr, const char *want)
{
    char st[32];
    int64_t end = goc_now() + 3 * GOC_SECOND * test_slack();
    while (goc_now() < end) {
        if (strcmp(state_of(u, addr, st, sizeof st), want) == 0)
            return true;
        goc_sleep(20 * GOC_MILLISECOND);
    }
    return false;
}

static int breaker_main(void *arg)
{
    (void)arg;
    gw_upstream_cfg c = base_cfg();
    c.breaker_min = 4;
    gw_upstream *u;
    GO_CHECK(gw_upstream_new(&c, NULL, NULL, &u) == 0, "new");
    GO_CHECK(gw_upstream_start(u) == 0, "start");
    gw_target *t = u->targets[0];
    char st[32];
    /* 2 of 4 failed: at the ratio, it opens. */
    gw_target_report(t, 200, 0);
    gw_target_report(t, 500, 0);
    gw_target_report(t, 200, 0);
    GO_CHECK(strcmp(state_of(u, t->addr, st, sizeof st), "healthy") == 0, "3 requests: %s", st);
    gw_target_report(t, 0, -ETIMEDOUT);
    GO_CHECK(strcmp(state_of(u, t->addr, st, sizeof st), "open") == 0, "opened: %s", st);
    GO_CHECK(goc_balancer_len_up(u->lb) == 1, "out of the balancer");
    GO_CHECK(!gw_target_admit(t), "an open breaker admits nothing");
    /* After breaker_open: half-open, two probes, then none. */
    GO_CHECK(wait_state(u, t->addr, "half-open"), "half-open");
    GO_CHECK(goc_balancer_len_up(u->lb) == 2, "back in the balancer for probes");
    GO_CHECK(gw_target_admit(t) && gw_target_admit(t), "two probes");
    GO_CHECK(!gw_target_admit(t), "not a third");
    /* A failed probe opens it again; then two good probes close it. */
    gw_target_report(t, 503, 0);
    GO_CHECK(strcmp(state_of(u, t->addr, st, sizeof st), "open") == 0, "reopened: %s", st);
    GO_CHECK(wait_state(u, t->addr, "half-open"), "half-open again");
    GO_CHECK(gw_target_admit(t) && gw_target_admit(t), "probes");
    gw_target_report(t, 200, 0);
    gw_target_report(t, 204, 0);
    GO_CHECK(strcmp(state_of(u, t->addr, st, sizeof st), "healthy") == 0, "closed: %s", st);
    GO_CHECK(gw_target_admit(t), "closed admits");
    gw_upstream_free(u);
    return test_failed();
}

Test(upstream, breaker, .timeout = 30)
{
    cr_assert_eq(run_main(breaker_main, NULL), 0, "%s", test_fail_msg);
}

static int eject_main(void *arg)
{
    (void)arg;
    gw_upstream_cfg c = base_cfg();
    c.eject_errors = 3;
    c.eject_5xx = 2;
    gw_upstream *u;
    GO_CHECK(gw_upstream_new(&c, NULL, NULL, &u) == 0, "new");
    GO_CHECK(gw_upstream_start(u) == 0, "start");
    gw_target *a = u->targets[0], *b = u->targets[1];
    char st[32];
    gw_target_report(a, 0, -ECONNREFUSED);
    gw_target_report(a, 0, -ECONNREFUSED);
    gw_target_report(a, 200, 0); /* an answer resets the count */
    gw_target_report(a, 0, -ECONNREFUSED);
    gw_target_report(a, 0, -ECONNREFUSED);
    GO_CHECK(strcmp(state_of(u, a->addr, st, sizeof st), "healthy") == 0, "not yet: %s", st);
    gw_target_report(a, 0, -ECONNREFUSED);
    GO_CHECK(strcmp(state_of(u, a->addr, st, sizeof st), "ejected") == 0, "ejected: %s", st);
    GO_CHECK(goc_balancer_len_up(u->lb) == 1, "out");
    /* The last target standing is never ejected. */
    gw_target_report(b, 502, 0);
    gw_target_report(b, 502, 0);
    gw_target_report(b, 502, 0);
    GO_CHECK(strcmp(state_of(u, b->addr, st, sizeof st), "healthy") == 0, "last kept: %s", st);
    /* Back after eject_time (300 ms); the second time it stays out twice
     * as long. */
    GO_CHECK(wait_state(u, a->addr, "healthy"), "readmitted");
    int64_t t0 = goc_now();
    for (int i = 0; i < 3; i++)
        gw_target_report(a, 0, -ECONNRESET);
    GO_CHECK(strcmp(state_of(u, a->addr, st, sizeof st), "ejected") == 0, "again: %s", st);
    GO_CHECK(wait_state(u, a->addr, "healthy"), "readmitted again");
    GO_CHECK(goc_now() - t0 >= 550 * GOC_MILLISECOND, "second ejection %lld ms, not 600",
             (long long)((goc_now() - t0) / GOC_MILLISECOND));
    gw_upstream_free(u);
    return test_failed();
}

Test(upstream, ejection, .timeout = 30)
{
    cr_assert_eq(run_main(eject_main, NULL), 0, "%s", test_fail_msg);
}

typedef struct waiter {
    gw_upstream *u;
    goc_chan *done;
} waiter;

static void acquire_main(void *arg)
{
    waiter *w = arg;
    int rc = gw_upstream_acquire(w->u, goc_ctx_background());
    goc_chan_send(w->done, &rc);
}

static int shed_main(void *arg)
{
    (void)arg;
    gw_upstream_cfg c = base_cfg();
    gw_upstream *u;
    GO_CHECK(gw_upstream_new(&c, NULL, NULL, &u) == 0, "new");
    goc_ctx *bg = goc_ctx_background();
    GO_CHECK(gw_upstream_acquire(u, bg) == 0 && gw_upstream_acquire(u, bg) == 0, "two slots");
    /* A third waits in the queue (of one); a fourth is shed at once. */
    waiter w = {u, goc_chan_make(sizeof(int), 1)};
    goc_go(acquire_main, &w);
    goc_sleep(50 * GOC_MILLISECOND);
    int64_t t0 = goc_now();
    GO_CHECK(gw_upstream_acquire(u, bg) == -EAGAIN, "shed");
    GO_CHECK(goc_now() - t0 < 100 * GOC_MILLISECOND * test_slack(), "at once");
    gw_upstream_release(u);
    int rc = 1;
    goc_chan_recv(w.done, &rc);
    GO_CHECK(rc == 0, "the queued one got the freed slot: %d", rc);
    /* A queued one that waits past queue_timeout is shed. */
    goc_go(acquire_main, &w);
    goc_chan_recv(w.done, &rc);
    GO_CHECK(rc == -EAGAIN, "queue timeout: %d", rc);
    gw_upstream_release(u);
    gw_upstream_release(u);
    goc_chan_release(w.done);
    gw_upstream_free(u);
    return test_failed();
}

Test(upstream, shedding, .timeout = 30)
{
    cr_assert_eq(run_main(shed_main, NULL), 0, "%s", test_fail_msg);
}

static int targets_main(void *arg)
{
    (void)arg;
    gw_upstream_cfg c = base_cfg();
    c.eject_errors = 1;
    gw_upstream *u;
    GO_CHECK(gw_upstream_new(&c, NULL, NULL, &u) == 0, "new");
    gw_target_report(u->targets[1], 0, -ECONNREFUSED); /* 10.0.0.2 ejected */
    goc_balancer_target *held = goc_balancer_pick(u->lb, NULL, 0, NULL, 0);
    GO_CHECK(held, "a pick");
    gw_target *ht = goc_balancer_target_data(held);
    /* Replace: 10.0.0.2 kept (and still ejected), 10.0.0.1 gone, a new one. */
    gw_target_cfg next[] = {{"10.0.0.2:80", 1}, {"10.0.0.3:80", 2}};
    GO_CHECK(gw_upstream_set_targets(u, next, 2) == 0, "set");
    GO_CHECK(u->ntargets == 2, "two");
    char st[32];
    GO_CHECK(strcmp(state_of(u, "10.0.0.2:80", st, sizeof st), "ejected") == 0, "kept: %s", st);
    GO_CHECK(strcmp(ht->addr, "10.0.0.1:80") == 0, "the held pick is still valid: %s", ht->addr);
    goc_balancer_done(u->lb, held, GOC_MILLISECOND);
    goc_balancer_target *p = goc_balancer_pick(u->lb, NULL, 0, NULL, 0);
    GO_CHECK(p && strcmp(goc_balancer_target_addr(p), "10.0.0.3:80") == 0, "the new one");
    goc_balancer_done(u->lb, p, 0);
    /* A reload: verdicts carry over to the new upstream. */
    gw_upstream_cfg c2 = c;
    c2.targets = next;
    gw_upstream *u2;
    GO_CHECK(gw_upstream_new(&c2, u, NULL, &u2) == 0, "new from prev");
    GO_CHECK(strcmp(state_of(u2, "10.0.0.2:80", st, sizeof st), "ejected") == 0, "carried: %s", st);
    gw_upstream_free(u2);
    gw_upstream_free(u);
    return test_failed();
}

Test(upstream, targets_replaced, .timeout = 30)
{
    cr_assert_eq(run_main(targets_main, NULL), 0, "%s", test_fail_msg);
}

/* The retry budget: retries stay under ratio × the requests of the last
 * one to two seconds, with min_per_sec allowed whatever the traffic. */
static int budget_main(void *arg)
{
    (void)arg;
    gw_budget b = {0};
    /* No traffic: the floor (10) only. */
    int ok = 0;
    for (int i = 0; i < 50; i++)
        ok += gw_budget_retry(&b, 0.2, 10);
    GO_CHECK(ok == 10, "%d retries allowed with no requests, not 10", ok);
    /* 500 requests: 20% of them, 100 in all (the 10 above count). */
    for (int i = 0; i < 500; i++)
        gw_budget_request(&b);
    for (int i = 0; i < 500; i++)
        ok += gw_budget_retry(&b, 0.2, 10);
    GO_CHECK(ok >= 99 && ok <= 101, "%d retries for 500 requests, not about 100", ok);
    return test_failed();
}

Test(upstream, retry_budget, .timeout = 30)
{
    cr_assert_eq(run_main(budget_main, NULL), 0, "%s", test_fail_msg);
}
