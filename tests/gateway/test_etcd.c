/*
 * test_etcd.c — upstream targets from a real etcd (gateway/etcd.c).
 *
 * Each test starts its own etcd on free loopback ports (etcdutil.h) and
 * writes keys over etcd's JSON gateway: the first read (weights in all
 * three spellings, keys that are not targets ignored), changes seen by the
 * watch (put, delete, weight change, a new upstream, the last target of
 * one leaving, a burst of puts whose events span many reads), malformed
 * values skipped, an etcd restart (the watch comes back), a compaction
 * while the watch was away (everything read and reported again), etcd
 * back with its data lost (the same: not a wait for revisions that will
 * not mean the same changes), a dead
 * first endpoint, no endpoint at all, and a prompt stop.
 */
#include <sys/stat.h>

#include <criterion/criterion.h>

#include "gateway.h"
#include "gateway/etcdutil.h"

/* ---- what fn was told ---------------------------------------------------- */

/* The last set reported for each upstream, as "addr=w,addr=w" (sorted by
 * the code under test; "" for none), and the number of calls. */
typedef struct seen {
    goc_mutex mu; /* guards the rest: fn runs on the watch goroutine */
    char name[16][32];
    char set[16][24576];
    size_t n;
    int calls;
} seen;

static void on_targets(const char *upstream, const gw_target_cfg *t, size_t n, void *arg)
{
    seen *s = arg;
    goc_mutex_lock(&s->mu);
    size_t i = 0;
    while (i < s->n && strcmp(s->name[i], upstream) != 0)
        i++;
    if (i == s->n && s->n < 16)
        snprintf(s->name[s->n++], sizeof s->name[0], "%s", upstream);
    if (i < 16) {
        char *p = s->set[i];
        size_t left = sizeof s->set[0];
        p[0] = '\0';
        for (size_t k = 0; k < n && left > 1; k++) {
            int w = snprintf(p, left, "%s%s=%d", k ? "," : "", t[k].addr, t[k].weight);
            if (w < 0 || (size_t)w >= left)
                break;
            p += w;
            left -= (size_t)w;
        }
    }
    s->calls++;
    goc_mutex_unlock(&s->mu);
}

/* Whether upstream's last reported set is want (NULL: never reported). */
static bool seen_is(seen *s, const char *upstream, const char *want)
{
    goc_mutex_lock(&s->mu);
    const char *got = NULL;
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->name[i], upstream) == 0)
            got = s->set[i];
    bool ok = want ? got && strcmp(got, want) == 0 : got == NULL;
    goc_mutex_unlock(&s->mu);
    return ok;
}

/* Wait (up to 10 s, more on sanitizer builds) for upstream's set to be
 * want; a failed check naming what was seen if it is not. */
#define WAIT_SET(s, up, want) wait_set(s, up, want, __LINE__)
static bool wait_set(seen *s, const char *upstream, const char *want, int line)
{
    int64_t deadline = goc_now() + 10 * GOC_SECOND * test_slack();
    while (!seen_is(s, upstream, want)) {
        if (goc_now() > deadline) {
            goc_mutex_lock(&s->mu);
            const char *got = "(never reported)";
            for (size_t i = 0; i < s->n; i++)
                if (strcmp(s->name[i], upstream) == 0)
                    got = s->set[i];
            GO_CHECK(false, "line %d: %s is \"%.200s\", want \"%s\"", line, upstream, got, want);
            goc_mutex_unlock(&s->mu);
            return false;
        }
        goc_sleep(20 * GOC_MILLISECOND);
    }
    return true;
}

static int calls(seen *s)
{
    goc_mutex_lock(&s->mu);
    int n = s->calls;
    goc_mutex_unlock(&s->mu);
    return n;
}

#define P "/t/upstreams/"

static int start(test_etcd *t, const char *second, seen *s, gw_etcd **e)
{
    char *eps[2] = {t->url, (char *)second};
    return gw_etcd_start(eps, second ? 2 : 1, "/t/", on_targets, s, e);
}

/* ---- the first read -------------------------------------------------------- */

static int initial_main(void *arg)
{
    (void)arg;
    test_etcd t;
    if (!test_etcd_start(&t))
        return 1;
    test_etcd_put(&t, P "api/10.0.0.2:80", "3");
    test_etcd_put(&t, P "api/10.0.0.1:80", "");
    test_etcd_put(&t, P "web/10.0.1.1:8080", "{\"weight\":2}");
    test_etcd_put(&t, P "web/10.0.1.2:8080", " 7\n");
    test_etcd_put(&t, "/t/other/x", "1");         /* outside the range */
    test_etcd_put(&t, "/u/upstreams/z/h:1", "1"); /* another prefix */
    test_etcd_put(&t, P "noaddr", "1");           /* not NAME/ADDR */
    static seen s;
    gw_etcd *e = NULL;
    int rc = start(&t, NULL, &s, &e);
    GO_CHECK(rc == 0, "start: %s", goc_strerror(rc));
    /* reported before start returned, and only these two */
    GO_CHECK(seen_is(&s, "api", "10.0.0.1:80=1,10.0.0.2:80=3"), "api");
    GO_CHECK(seen_is(&s, "web", "10.0.1.1:8080=2,10.0.1.2:8080=7"), "web");
    GO_CHECK(calls(&s) == 2 && s.n == 2, "%d calls for %zu upstreams", calls(&s), s.n);
    gw_etcd_stop(e);
    test_etcd_stop(&t);
    return test_failed();
}

Test(etcd, initial_read, .timeout = 30)
{
    cr_assert_eq(run_main(initial_main, NULL), 0, "%s", test_fail_msg);
}

/* ---- changes while watching ---------------------------------------------- */

static int watch_main(void *arg)
{
    (void)arg;
    test_etcd t;
    if (!test_etcd_start(&t))
        return 1;
    test_etcd_put(&t, P "api/a:1", "");
    test_etcd_put(&t, P "web/w:1", "");
    static seen s;
    gw_etcd *e = NULL;
    int rc = start(&t, NULL, &s, &e);
    GO_CHECK(rc == 0, "start: %s", goc_strerror(rc));
    if (rc < 0)
        goto out_etcd;
    test_etcd_put(&t, P "api/b:1", "2");
    WAIT_SET(&s, "api", "a:1=1,b:1=2");
    test_etcd_put(&t, P "api/a:1", "{\"weight\":5}"); /* a weight change */
    WAIT_SET(&s, "api", "a:1=5,b:1=2");
    test_etcd_del(&t, P "api/b:1");
    WAIT_SET(&s, "api", "a:1=5");
    test_etcd_put(&t, P "new/n:9", "1"); /* an upstream that was not there */
    WAIT_SET(&s, "new", "n:9=1");
    test_etcd_del(&t, P "web/w:1"); /* its last target: reported empty */
    WAIT_SET(&s, "web", "");
    /* One transaction of 120 puts with long names: one message of ~40 KB,
     * split over several reads; then one delete of them all. */
    static char keys[120][160], vals[120][8], want[120 * 160];
    const char *kp[120], *vp[120];
    size_t wl = 0;
    for (int i = 0; i < 120; i++) {
        snprintf(keys[i], sizeof keys[i], P "burst/host-%03d.%s.example:80", i,
                 "a-rather-long-domain-name-so-that-the-message-spans-reads");
        snprintf(vals[i], sizeof vals[i], "%d", i % 3 + 1);
        kp[i] = keys[i];
        vp[i] = vals[i];
        wl += (size_t)snprintf(want + wl, sizeof want - wl, "%s%s=%d", i ? "," : "",
                               keys[i] + strlen(P "burst/"), i % 3 + 1);
    }
    test_etcd_put_many(&t, kp, vp, 120);
    WAIT_SET(&s, "burst", want);
    test_etcd_del_prefix(&t, P "burst/");
    WAIT_SET(&s, "burst", "");
    /* nothing else changed, so nothing else was reported again */
    GO_CHECK(seen_is(&s, "api", "a:1=5"), "api unchanged");
    gw_etcd_stop(e);
out_etcd:
    test_etcd_stop(&t);
    return test_failed();
}

Test(etcd, watch_put_delete_weight, .timeout = 30)
{
    cr_assert_eq(run_main(watch_main, NULL), 0, "%s", test_fail_msg);
}

/* ---- malformed values ------------------------------------------------------ */

static int malformed_main(void *arg)
{
    (void)arg;
    test_etcd t;
    if (!test_etcd_start(&t))
        return 1;
    test_etcd_put(&t, P "api/good:1", "4");
    test_etcd_put(&t, P "api/bad:1", "abc");
    static seen s;
    gw_etcd *e = NULL;
    int rc = start(&t, NULL, &s, &e);
    GO_CHECK(rc == 0, "start: %s", goc_strerror(rc));
    if (rc < 0)
        goto out_etcd;
    GO_CHECK(seen_is(&s, "api", "good:1=4"), "bad value skipped on the first read");
    const char *bad[] = {"0",
                         "-1",
                         "1001",
                         "99999999999999999999",
                         "3x",
                         "{\"weight\":\"x\"}",
                         "{\"weight\":0}",
                         "[3]",
                         "{",
                         "{\"weight\":2",
                         "\"2\""};
    char key[64];
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        snprintf(key, sizeof key, P "api/bad%zu:1", i);
        test_etcd_put(&t, key, bad[i]);
    }
    test_etcd_put(&t, P "api/ok:1", "{\"weight\":1000,\"zone\":\"x\"}"); /* a marker */
    WAIT_SET(&s, "api", "good:1=4,ok:1=1000");
    /* A target whose value turns bad is no longer one (as a new read would say). */
    test_etcd_put(&t, P "api/good:1", "heavy");
    WAIT_SET(&s, "api", "ok:1=1000");
    test_etcd_put(&t, P "api/good:1", "2");
    WAIT_SET(&s, "api", "good:1=2,ok:1=1000");
    gw_etcd_stop(e);
out_etcd:
    test_etcd_stop(&t);
    return test_failed();
}

Test(etcd, malformed_values_skipped, .timeout = 30)
{
    cr_assert_eq(run_main(malformed_main, NULL), 0, "%s", test_fail_msg);
}

/* ---- etcd goes away ---------------------------------------------------------- */

static int restart_main(void *arg)
{
    (void)arg;
    test_etcd t;
    if (!test_etcd_start(&t))
        return 1;
    test_etcd_put(&t, P "api/a:1", "");
    static seen s;
    gw_etcd *e = NULL;
    int rc = start(&t, NULL, &s, &e);
    GO_CHECK(rc == 0, "start: %s", goc_strerror(rc));
    if (rc < 0)
        goto out_etcd;
    if (!test_etcd_restart(&t, 0))
        goto out_stop;
    test_etcd_put(&t, P "api/b:1", "");
    WAIT_SET(&s, "api", "a:1=1,b:1=1");
    /* and again, with a change made while the watch is still away */
    test_etcd_halt(&t, true);
    goc_sleep(300 * GOC_MILLISECOND); /* a reconnect attempt or two fails */
    if (!test_etcd_spawn(&t)) {
        GO_CHECK(false, "etcd did not restart");
        goto out_stop;
    }
    test_etcd_del(&t, P "api/a:1");
    WAIT_SET(&s, "api", "b:1=1");
out_stop:
    gw_etcd_stop(e);
out_etcd:
    test_etcd_stop(&t);
    return test_failed();
}

Test(etcd, restart_reconnects, .timeout = 60)
{
    cr_assert_eq(run_main(restart_main, NULL), 0, "%s", test_fail_msg);
}

/* While the watch cannot reach etcd (it listens on another port), changes
 * are made and the history compacted: when etcd is back where the watch
 * looks, the revision it asks for is gone, so it reads everything again
 * and reports every upstream, the vanished one empty. */
static int compacted_main(void *arg)
{
    (void)arg;
    test_etcd t;
    if (!test_etcd_start(&t))
        return 1;
    int port = t.client_port;
    test_etcd_put(&t, P "api/a:1", "");
    test_etcd_put(&t, P "gone/g:1", "");
    static seen s;
    gw_etcd *e = NULL;
    int rc = start(&t, NULL, &s, &e);
    GO_CHECK(rc == 0, "start: %s", goc_strerror(rc));
    if (rc < 0)
        goto out_etcd;
    if (!test_etcd_restart(&t, test_free_port()))
        goto out_stop;
    test_etcd_put(&t, P "api/b:1", "3");
    test_etcd_del(&t, P "gone/g:1");
    test_etcd_put(&t, P "api/b:1", "4");
    test_etcd_put(&t, P "fresh/f:1", "");
    test_etcd_compact(&t);
    if (!test_etcd_restart(&t, port))
        goto out_stop;
    WAIT_SET(&s, "api", "a:1=1,b:1=4");
    WAIT_SET(&s, "gone", "");
    WAIT_SET(&s, "fresh", "f:1=1");
    /* and the watch goes on from the new revision */
    test_etcd_put(&t, P "api/c:1", "");
    WAIT_SET(&s, "api", "a:1=1,b:1=4,c:1=1");
out_stop:
    gw_etcd_stop(e);
out_etcd:
    test_etcd_stop(&t);
    return test_failed();
}

Test(etcd, compacted_reads_again, .timeout = 60)
{
    cr_assert_eq(run_main(compacted_main, NULL), 0, "%s", test_fail_msg);
}

/* etcd comes back empty (its data lost, or restored from an old
 * backup): the watch must not wait for revisions that mean nothing now,
 * but read everything again. */
static int replaced_main(void *arg)
{
    (void)arg;
    test_etcd t;
    if (!test_etcd_start(&t))
        return 1;
    test_etcd_put(&t, P "api/a:1", "");
    test_etcd_put(&t, P "api/b:1", "");
    test_etcd_put(&t, P "old/o:1", "");
    static seen s;
    gw_etcd *e = NULL;
    int rc = start(&t, NULL, &s, &e);
    GO_CHECK(rc == 0, "start: %s", goc_strerror(rc));
    if (rc < 0)
        goto out_etcd;
    test_etcd_halt(&t, false); /* the wrapper removes the directory */
    GO_CHECK(mkdir(t.dir, 0700) == 0, "mkdir %s: %s", t.dir, strerror(errno));
    if (!test_etcd_spawn(&t)) {
        GO_CHECK(false, "etcd did not start again");
        goto out_stop;
    }
    test_etcd_put(&t, P "api/c:1", "5");
    WAIT_SET(&s, "api", "c:1=5");
    WAIT_SET(&s, "old", "");
out_stop:
    gw_etcd_stop(e);
out_etcd:
    test_etcd_stop(&t);
    return test_failed();
}

Test(etcd, replaced_data_reads_again, .timeout = 60)
{
    cr_assert_eq(run_main(replaced_main, NULL), 0, "%s", test_fail_msg);
}

/* ---- endpoints ------------------------------------------------------------- */

static int dead_first_main(void *arg)
{
    (void)arg;
    test_etcd t;
    if (!test_etcd_start(&t))
        return 1;
    test_etcd_put(&t, P "api/a:1", "");
    char dead[64];
    snprintf(dead, sizeof dead, "http://127.0.0.1:%d/", test_free_port());
    static seen s;
    gw_etcd *e = NULL;
    char *eps[2] = {dead, t.url};
    int rc = gw_etcd_start(eps, 2, "/t/", on_targets, &s, &e);
    GO_CHECK(rc == 0, "start: %s", goc_strerror(rc));
    if (rc == 0) {
        GO_CHECK(seen_is(&s, "api", "a:1=1"), "read from the second endpoint");
        test_etcd_put(&t, P "api/b:1", "");
        WAIT_SET(&s, "api", "a:1=1,b:1=1");
        gw_etcd_stop(e);
    }
    test_etcd_stop(&t);
    return test_failed();
}

Test(etcd, dead_first_endpoint, .timeout = 30)
{
    cr_assert_eq(run_main(dead_first_main, NULL), 0, "%s", test_fail_msg);
}

static int none_main(void *arg)
{
    (void)arg;
    char a[64], b[64];
    snprintf(a, sizeof a, "http://127.0.0.1:%d", test_free_port());
    snprintf(b, sizeof b, "http://127.0.0.1:%d", test_free_port());
    char *eps[2] = {a, b};
    static seen s;
    gw_etcd *e = NULL;
    int rc = gw_etcd_start(eps, 2, "/t/", on_targets, &s, &e);
    GO_CHECK(rc < 0 && e == NULL, "start with no etcd: %d", rc);
    GO_CHECK(calls(&s) == 0, "fn called");
    rc = gw_etcd_start(eps, 0, "/t/", on_targets, &s, &e);
    GO_CHECK(rc == -EINVAL, "no endpoints: %d", rc);
    return test_failed();
}

Test(etcd, no_endpoint_answers, .timeout = 30)
{
    cr_assert_eq(run_main(none_main, NULL), 0, "%s", test_fail_msg);
}

/* ---- stop ------------------------------------------------------------------- */

static int stop_main(void *arg)
{
    (void)arg;
    test_etcd t;
    if (!test_etcd_start(&t))
        return 1;
    static seen s;
    gw_etcd *e = NULL;
    int rc = start(&t, NULL, &s, &e);
    GO_CHECK(rc == 0, "start: %s", goc_strerror(rc));
    if (rc == 0) {
        GO_CHECK(calls(&s) == 0, "no upstreams, no calls");
        goc_sleep(300 * GOC_MILLISECOND); /* the watch is open and idle */
        int64_t t0 = goc_now();
        gw_etcd_stop(e);
        int64_t ms = (goc_now() - t0) / GOC_MILLISECOND;
        GO_CHECK(ms < 1000 * test_slack(), "stop took %lld ms", (long long)ms);
    }
    /* and stopping while it waits to reconnect to an etcd that is gone */
    rc = start(&t, NULL, &s, &e);
    GO_CHECK(rc == 0, "start: %s", goc_strerror(rc));
    test_etcd_stop(&t);
    if (rc == 0) {
        goc_sleep(500 * GOC_MILLISECOND);
        int64_t t0 = goc_now();
        gw_etcd_stop(e);
        int64_t ms = (goc_now() - t0) / GOC_MILLISECOND;
        GO_CHECK(ms < 1000 * test_slack(), "stop took %lld ms", (long long)ms);
    }
    return test_failed();
}

Test(etcd, stop_is_prompt, .timeout = 30)
{
    cr_assert_eq(run_main(stop_main, NULL), 0, "%s", test_fail_msg);
}
