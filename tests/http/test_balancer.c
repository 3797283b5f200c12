/*
 * test_balancer.c — the balancers of goc/httputil.h: argument checks and
 * policy names; smooth weighted round robin's exact order for 5,1,1, its
 * proportions and live weight changes; least_conn's preference for idle
 * targets and its turns; p2c's preference for the fast target and its
 * trial of a new one; Maglev's balance, stability, minimal disruption on
 * remove and add; down targets, all down, the avoid list; a target
 * removed (or the balancer freed) while picked; and a stress of 64
 * goroutines and 4 threads picking while targets come, go and flap.
 */
#include <stdatomic.h>

#include <criterion/criterion.h>
#include <goc/httputil.h>

#include "runtime/util.h"

static goc_balancer *make(goc_balance_policy p, const char *const *addrs, const int *weights,
                          size_t n)
{
    goc_balancer *b = goc_balancer_new(p);
    GO_CHECK(b, "new");
    for (size_t i = 0; b && i < n; i++) {
        int rc = goc_balancer_add(b, addrs[i], weights ? weights[i] : 1, (void *)(uintptr_t)i);
        GO_CHECK(rc == 0, "add %s: %d", addrs[i], rc);
    }
    return b;
}

/* Pick and finish at once; the index stored as data, -1 for none. */
static int pick1(goc_balancer *b, const void *key, size_t keylen)
{
    goc_balancer_target *t = goc_balancer_pick(b, key, keylen, NULL, 0);
    if (!t)
        return -1;
    int i = (int)(uintptr_t)goc_balancer_target_data(t);
    goc_balancer_done(b, t, 0);
    return i;
}

static uint64_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* ---- API -------------------------------------------------------------------- */

static int api_main(void *arg)
{
    (void)arg;
    goc_balance_policy p = GOC_BALANCE_ROUND_ROBIN;
    const char *names[] = {"round_robin", "least_conn", "p2c", "hash"};
    for (int i = 0; i < 4; i++) {
        GO_CHECK(goc_balance_policy_parse(names[i], &p) == 0 && (int)p == i, "%s", names[i]);
        GO_CHECK(strcmp(goc_balance_policy_name(p), names[i]) == 0, "%s", names[i]);
    }
    GO_CHECK(goc_balance_policy_parse("random", &p) == -EINVAL, "unknown name");
    GO_CHECK(goc_balancer_new((goc_balance_policy)7) == NULL, "policy out of range");

    goc_balancer *b = goc_balancer_new(GOC_BALANCE_ROUND_ROBIN);
    GO_CHECK(goc_balancer_pick(b, NULL, 0, NULL, 0) == NULL, "empty: no pick");
    GO_CHECK(goc_balancer_add(b, "a:1", 0, NULL) == 0, "weight 0 is 1");
    GO_CHECK(goc_balancer_add(b, "a:1", 1, NULL) == -EEXIST, "twice");
    GO_CHECK(goc_balancer_add(b, "b:1", 1001, NULL) == -EINVAL, "weight over 1000");
    GO_CHECK(goc_balancer_add(b, "b:1", -1, NULL) == -EINVAL, "negative weight");
    GO_CHECK(goc_balancer_add(b, "", 1, NULL) == -EINVAL, "empty address");
    char longaddr[300];
    memset(longaddr, 'x', sizeof longaddr - 1);
    longaddr[sizeof longaddr - 1] = 0;
    GO_CHECK(goc_balancer_add(b, longaddr, 1, NULL) == -EINVAL, "address too long");
    GO_CHECK(goc_balancer_add(b, "b:1", 1000, NULL) == 0, "weight 1000");
    GO_CHECK(goc_balancer_set_weight(b, "b:1", 1001) == -EINVAL, "set weight over 1000");
    GO_CHECK(goc_balancer_set_weight(b, "c:1", 2) == -ENOENT, "set weight of none");
    GO_CHECK(goc_balancer_set_up(b, "c:1", false) == -ENOENT, "set up of none");
    GO_CHECK(goc_balancer_remove(b, "c:1") == -ENOENT, "remove none");
    GO_CHECK(goc_balancer_set_up(b, "b:1", false) == 0, "down");
    GO_CHECK(goc_balancer_len(b) == 2 && goc_balancer_len_up(b) == 1, "len %zu up %zu",
             goc_balancer_len(b), goc_balancer_len_up(b));

    goc_balancer_target *t = goc_balancer_pick(b, NULL, 0, NULL, 0);
    GO_CHECK(t && strcmp(goc_balancer_target_addr(t), "a:1") == 0, "the up one");
    GO_CHECK(t && goc_balancer_target_inflight(t) == 1, "in flight");
    goc_balancer_target_info info[4];
    memset(info, 0, sizeof info);
    GO_CHECK(goc_balancer_snapshot(b, info, 1) == 2, "snapshot counts all");
    GO_CHECK(strcmp(info[0].addr, "a:1") == 0 && info[0].weight == 1 && info[0].up &&
                 info[0].inflight == 1 && info[0].picks == 1 && info[0].ewma == 0,
             "snapshot of a: %s w%d in %d picks %llu", info[0].addr, info[0].weight,
             info[0].inflight, (unsigned long long)info[0].picks);
    GO_CHECK(info[1].addr[0] == 0, "n bounds the copy");
    goc_balancer_done(b, t, 5 * GOC_MILLISECOND);
    GO_CHECK(goc_balancer_snapshot(b, info, 4) == 2, "snapshot");
    GO_CHECK(info[0].inflight == 0 && info[0].ewma == 5 * GOC_MILLISECOND, "after done: ewma %lld",
             (long long)info[0].ewma);
    GO_CHECK(strcmp(info[1].addr, "b:1") == 0 && !info[1].up && info[1].weight == 1000, "b");
    goc_balancer_free(b);
    goc_balancer_free(NULL);
    return 0;
}

Test(balancer, api, .timeout = 20)
{
    cr_assert_eq(run_main(api_main, NULL), 0);
}

/* ---- round robin ------------------------------------------------------------- */

static int rr_main(void *arg)
{
    (void)arg;
    const char *addrs[] = {"a:80", "b:80", "c:80"};
    goc_balancer *b = make(GOC_BALANCE_ROUND_ROBIN, addrs, (int[]){5, 1, 1}, 3);
    char seq[22] = {0};
    for (int i = 0; i < 21; i++)
        seq[i] = (char)('a' + pick1(b, NULL, 0));
    GO_CHECK(strcmp(seq, "aabacaaaabacaaaabacaa") == 0, "5,1,1: %s", seq);
    goc_balancer_free(b);

    /* 3,2,1: every window of 6 picks is exactly 3, 2, 1. */
    b = make(GOC_BALANCE_ROUND_ROBIN, addrs, (int[]){3, 2, 1}, 3);
    for (int w = 0; w < 100; w++) {
        int n[3] = {0};
        for (int i = 0; i < 6; i++)
            n[pick1(b, NULL, 0)]++;
        GO_CHECK(n[0] == 3 && n[1] == 2 && n[2] == 1, "window %d: %d %d %d", w, n[0], n[1], n[2]);
    }
    /* Changed live: 1,1,8 from here on. */
    GO_CHECK(goc_balancer_set_weight(b, "c:80", 8) == 0 &&
                 goc_balancer_set_weight(b, "a:80", 1) == 0 &&
                 goc_balancer_set_weight(b, "b:80", 1) == 0,
             "set_weight");
    int n[3] = {0};
    for (int i = 0; i < 1000; i++)
        n[pick1(b, NULL, 0)]++;
    GO_CHECK(n[0] >= 95 && n[0] <= 105 && n[1] >= 95 && n[1] <= 105 && n[2] >= 795 && n[2] <= 805,
             "1,1,8 over 1000: %d %d %d", n[0], n[1], n[2]);
    /* A down target drops out; the rest keep their shares. */
    goc_balancer_set_up(b, "c:80", false);
    memset(n, 0, sizeof n);
    for (int i = 0; i < 100; i++)
        n[pick1(b, NULL, 0)]++;
    GO_CHECK(n[2] == 0 && n[0] == 50 && n[1] == 50, "c down: %d %d %d", n[0], n[1], n[2]);
    goc_balancer_free(b);
    return 0;
}

Test(balancer, round_robin, .timeout = 20)
{
    cr_assert_eq(run_main(rr_main, NULL), 0);
}

/* ---- least_conn ---------------------------------------------------------------- */

static int lc_main(void *arg)
{
    (void)arg;
    const char *addrs[] = {"a:80", "b:80", "c:80"};
    goc_balancer *b = make(GOC_BALANCE_LEAST_CONN, addrs, NULL, 3);
    /* Nothing held: ties, taken in turn. */
    int seen[3] = {0};
    for (int i = 0; i < 30; i++)
        seen[pick1(b, NULL, 0)]++;
    GO_CHECK(seen[0] == 10 && seen[1] == 10 && seen[2] == 10, "turns: %d %d %d", seen[0], seen[1],
             seen[2]);
    /* Each held pick sends the next one elsewhere. */
    goc_balancer_target *h[3];
    for (int i = 0; i < 3; i++)
        h[i] = goc_balancer_pick(b, NULL, 0, NULL, 0);
    GO_CHECK(h[0] != h[1] && h[1] != h[2] && h[0] != h[2], "three held on three targets");
    goc_balancer_done(b, h[1], 0);
    for (int i = 0; i < 5; i++) {
        goc_balancer_target *t = goc_balancer_pick(b, NULL, 0, NULL, 0);
        GO_CHECK(t == h[1], "the idle one");
        goc_balancer_done(b, t, 0);
    }
    goc_balancer_done(b, h[0], 0);
    goc_balancer_done(b, h[2], 0);
    goc_balancer_free(b);

    /* Weighted: with a weight 3 and b 1, a takes three held picks for b's one. */
    b = make(GOC_BALANCE_LEAST_CONN, addrs, (int[]){3, 1}, 2);
    goc_balancer_target *held[8];
    int na = 0;
    for (int i = 0; i < 8; i++) {
        held[i] = goc_balancer_pick(b, NULL, 0, NULL, 0);
        na += (int)(uintptr_t)goc_balancer_target_data(held[i]) == 0;
    }
    GO_CHECK(na == 6, "weighted: a got %d of 8", na);
    for (int i = 0; i < 8; i++)
        goc_balancer_done(b, held[i], 0);
    goc_balancer_free(b);
    return 0;
}

Test(balancer, least_conn, .timeout = 20)
{
    cr_assert_eq(run_main(lc_main, NULL), 0);
}

/* ---- p2c ------------------------------------------------------------------------- */

static int p2c_main(void *arg)
{
    (void)arg;
    const char *addrs[] = {"fast:80", "slow:80", "slow2:80", "new:80"};
    /* Two targets: every pick weighs both (with more, a pair of slow ones
     * is drawn now and then: that is p2c). */
    goc_balancer *b = make(GOC_BALANCE_P2C, addrs, NULL, 2);
    int fast = 0;
    for (int i = 0; i < 1000; i++) {
        goc_balancer_target *t = goc_balancer_pick(b, NULL, 0, NULL, 0);
        int k = (int)(uintptr_t)goc_balancer_target_data(t);
        fast += k == 0;
        goc_balancer_done(b, t, k == 0 ? GOC_MILLISECOND : 50 * GOC_MILLISECOND);
    }
    GO_CHECK(fast > 800, "fast picked %d of 1000", fast);
    goc_balancer_target_info info[4];
    goc_balancer_snapshot(b, info, 4);
    GO_CHECK(info[0].ewma > 0 && info[0].ewma < info[1].ewma, "ewma %lld < %lld",
             (long long)info[0].ewma, (long long)info[1].ewma);

    /* A new target has no measurement: it costs nothing and is tried. */
    GO_CHECK(goc_balancer_add(b, addrs[3], 1, (void *)3) == 0, "add");
    int tried = -1;
    for (int i = 0; i < 200 && tried < 0; i++)
        if (pick1(b, NULL, 0) == 3)
            tried = i;
    GO_CHECK(tried >= 0, "the new target was never tried");

    /* Load counts: the fast one with many in flight loses to an idle one. */
    goc_balancer_free(b);
    b = make(GOC_BALANCE_P2C, addrs, NULL, 2);
    goc_balancer_done(b, goc_balancer_pick(b, NULL, 0, NULL, 0), GOC_MILLISECOND);
    goc_balancer_done(b, goc_balancer_pick(b, NULL, 0, NULL, 0), GOC_MILLISECOND);
    goc_balancer_target *held[8];
    int nheld = 0;
    for (; nheld < 8; nheld++) {
        held[nheld] = goc_balancer_pick(b, NULL, 0, NULL, 0);
        if (!held[nheld])
            break;
    }
    goc_balancer_snapshot(b, info, 2);
    int lo = info[0].inflight < info[1].inflight ? info[0].inflight : info[1].inflight;
    int hi = info[0].inflight > info[1].inflight ? info[0].inflight : info[1].inflight;
    GO_CHECK(hi - lo <= 1, "equal latencies: load spread %d/%d", lo, hi);
    for (int i = 0; i < nheld; i++)
        goc_balancer_done(b, held[i], GOC_MILLISECOND);
    goc_balancer_free(b);
    return 0;
}

Test(balancer, p2c, .timeout = 20)
{
    cr_assert_eq(run_main(p2c_main, NULL), 0);
}

/* ---- hash (Maglev) ---------------------------------------------------------------- */

#define NKEYS 100000

static void key_of(int i, char *out, size_t n)
{
    uint64_t s = 0x9e3779b97f4a7c15ULL * (uint64_t)(i + 1);
    snprintf(out, n, "user-%llx-%d", (unsigned long long)rnd(&s), i);
}

/* Where each of NKEYS keys goes, as the address's first letter. */
static void map_keys(goc_balancer *b, char *where)
{
    for (int i = 0; i < NKEYS; i++) {
        char k[64];
        key_of(i, k, sizeof k);
        goc_balancer_target *t = goc_balancer_pick(b, k, strlen(k), NULL, 0);
        where[i] = t ? goc_balancer_target_addr(t)[0] : '-';
        goc_balancer_done(b, t, 0);
    }
}

static int hash_main(void *arg)
{
    (void)arg;
    const char *addrs[] = {"a.svc:80", "b.svc:80", "c.svc:80", "d.svc:80", "e.svc:80", "f.svc:80"};
    goc_balancer *b = make(GOC_BALANCE_HASH, addrs, NULL, 5);
    char *before = malloc(NKEYS), *after = malloc(NKEYS);
    map_keys(b, before);
    int count[26] = {0};
    for (int i = 0; i < NKEYS; i++)
        count[before[i] - 'a']++;
    for (int k = 0; k < 5; k++)
        GO_CHECK(count[k] >= 15000 && count[k] <= 25000, "target %c has %d of 100000 keys", 'a' + k,
                 count[k]);

    /* Same key, same target; and the order of adding does not matter. */
    goc_balancer *b2 = goc_balancer_new(GOC_BALANCE_HASH);
    for (int i = 4; i >= 0; i--)
        goc_balancer_add(b2, addrs[i], 1, NULL);
    map_keys(b2, after);
    GO_CHECK(memcmp(before, after, NKEYS) == 0, "a key changed target between tables");
    goc_balancer_free(b2);

    /* Remove c: its keys move, almost no other does. */
    goc_balancer_remove(b, "c.svc:80");
    map_keys(b, after);
    int moved_other = 0, c_left = 0;
    for (int i = 0; i < NKEYS; i++) {
        if (before[i] == 'c')
            c_left += after[i] == 'c';
        else
            moved_other += after[i] != before[i];
    }
    GO_CHECK(c_left == 0, "%d keys still on the removed target", c_left);
    GO_CHECK(moved_other < NKEYS / 100, "%d keys of other targets moved on remove", moved_other);

    /* Back to five, then a sixth: about 1/6 of the keys move, to it. */
    goc_balancer_add(b, "c.svc:80", 1, NULL);
    map_keys(b, after);
    GO_CHECK(memcmp(before, after, NKEYS) == 0, "re-adding c restored the table");
    goc_balancer_add(b, addrs[5], 1, NULL);
    map_keys(b, after);
    int moved = 0, to_new = 0;
    for (int i = 0; i < NKEYS; i++) {
        moved += after[i] != before[i];
        to_new += after[i] == 'f';
    }
    GO_CHECK(moved > NKEYS / 6 - NKEYS / 20 && moved < NKEYS / 6 + NKEYS / 20,
             "adding a sixth moved %d of 100000", moved);
    GO_CHECK(to_new * 100 >= moved * 90, "%d moved, %d to the new target", moved, to_new);

    /* A key's target down: its keys go elsewhere, and come back. */
    goc_balancer_set_up(b, "f.svc:80", false);
    map_keys(b, after);
    GO_CHECK(memcmp(before, after, NKEYS) == 0, "f down is as f removed");
    /* A NULL key: any up target. */
    static goc_balancer_target *held[200];
    int seen[26] = {0};
    for (int i = 0; i < 200; i++) {
        held[i] = goc_balancer_pick(b, NULL, 0, NULL, 0);
        seen[goc_balancer_target_addr(held[i])[0] - 'a']++;
    }
    for (int k = 0; k < 5; k++)
        GO_CHECK(seen[k] > 0, "random picks never chose %c", 'a' + k);
    GO_CHECK(seen['f' - 'a'] == 0, "a down target picked");
    /* Freed with picks held: the targets and the balancer stay until the
     * picks are done. */
    goc_balancer_free(b);
    for (int i = 0; i < 200; i++) {
        GO_CHECK(goc_balancer_target_addr(held[i])[1] == '.', "a held target's address");
        goc_balancer_done(b, held[i], GOC_MILLISECOND);
    }
    free(before);
    free(after);
    return 0;
}

Test(balancer, hash, .timeout = 60)
{
    cr_assert_eq(run_main(hash_main, NULL), 0);
}

/* ---- down targets and the avoid list ----------------------------------------------- */

static int down_avoid_main(void *arg)
{
    (void)arg;
    const char *addrs[] = {"a:80", "b:80", "c:80"};
    for (int p = 0; p < 4; p++) {
        goc_balancer *b = make((goc_balance_policy)p, addrs, NULL, 3);
        const char *name = goc_balance_policy_name((goc_balance_policy)p);
        goc_balancer_set_up(b, "b:80", false);
        for (int i = 0; i < 50; i++) {
            char k[16];
            snprintf(k, sizeof k, "k%d", i);
            int got = pick1(b, k, strlen(k));
            GO_CHECK(got == 0 || got == 2, "%s: picked %d with b down", name, got);
        }
        /* The avoid list: a tried, so c; then both tried: one of them. */
        for (int i = 0; i < 50; i++) {
            char k[16];
            snprintf(k, sizeof k, "k%d", i);
            goc_balancer_target *a = goc_balancer_pick(b, k, strlen(k), NULL, 0);
            goc_balancer_target *c = goc_balancer_pick(b, k, strlen(k), &a, 1);
            GO_CHECK(c && c != a, "%s: the avoided target again", name);
            goc_balancer_target *both[2] = {a, c};
            goc_balancer_target *x = goc_balancer_pick(b, k, strlen(k), both, 2);
            GO_CHECK(x == a || x == c, "%s: all avoided: still one of the up ones", name);
            goc_balancer_done(b, x, 0);
            goc_balancer_done(b, c, 0);
            goc_balancer_done(b, a, 0);
        }
        goc_balancer_set_up(b, "a:80", false);
        goc_balancer_set_up(b, "c:80", false);
        GO_CHECK(goc_balancer_len_up(b) == 0, "%s: all down", name);
        GO_CHECK(pick1(b, "k", 1) == -1 && pick1(b, NULL, 0) == -1, "%s: all down: a pick", name);
        goc_balancer_set_up(b, "b:80", true);
        GO_CHECK(pick1(b, "k", 1) == 1 && pick1(b, NULL, 0) == 1, "%s: b back up", name);
        goc_balancer_free(b);
    }
    return 0;
}

Test(balancer, down_and_avoid, .timeout = 20)
{
    cr_assert_eq(run_main(down_avoid_main, NULL), 0);
}

/* ---- removed while picked ------------------------------------------------------------ */

static int remove_picked_main(void *arg)
{
    (void)arg;
    const char *addrs[] = {"a:80", "b:80"};
    goc_balancer *b = make(GOC_BALANCE_HASH, addrs, NULL, 2);
    goc_balancer_target *t = goc_balancer_pick(b, "key", 3, NULL, 0);
    char name[16];
    snprintf(name, sizeof name, "%s", goc_balancer_target_addr(t));
    GO_CHECK(goc_balancer_remove(b, name) == 0, "remove");
    GO_CHECK(goc_balancer_len(b) == 1, "len after remove");
    /* Still valid until done (ASan would see a use after free). */
    GO_CHECK(strcmp(goc_balancer_target_addr(t), name) == 0, "addr of a removed pick");
    GO_CHECK(goc_balancer_target_inflight(t) == 1, "inflight of a removed pick");
    goc_balancer_target *u = goc_balancer_pick(b, "key", 3, NULL, 0);
    GO_CHECK(u && u != t, "the key moved to the other target");
    /* Added again under the same name while the old one is held: a new
     * target, the old one still finishes. */
    GO_CHECK(goc_balancer_add(b, name, 1, NULL) == 0, "re-add");
    goc_balancer_target *v = goc_balancer_pick(b, "key", 3, NULL, 0);
    GO_CHECK(v && v != t && strcmp(goc_balancer_target_addr(v), name) == 0, "a new target");
    goc_balancer_done(b, t, GOC_MILLISECOND);
    goc_balancer_done(b, u, GOC_MILLISECOND);
    goc_balancer_target_info info[2];
    goc_balancer_snapshot(b, info, 2);
    GO_CHECK(info[0].inflight + info[1].inflight == 1, "only v in flight");
    goc_balancer_free(b);
    goc_balancer_done(b, v, GOC_MILLISECOND); /* the last done frees it all */
    return 0;
}

Test(balancer, remove_while_picked, .timeout = 20)
{
    cr_assert_eq(run_main(remove_picked_main, NULL), 0);
}

/* ---- stress ---------------------------------------------------------------------------- */

#define NADDR 8

typedef struct stress {
    goc_balancer *b;
    atomic_bool stop;
    atomic_long picks, dones, nulls, bad;
    goc_waitgroup wg;
} stress;

static const char *stress_addr(int i)
{
    static const char *a[NADDR] = {"10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80", "10.0.0.4:80",
                                   "10.0.0.5:80", "10.0.0.6:80", "10.0.0.7:80", "10.0.0.8:80"};
    return a[i];
}

/* Pick (two at once, the second avoiding the first, sometimes held over
 * a yield so removals land on held targets), check, finish. */
static void stress_round(stress *s, uint64_t *rng, bool goroutine)
{
    char key[24];
    snprintf(key, sizeof key, "k%llu", (unsigned long long)(rnd(rng) % 1000));
    bool keyed = rnd(rng) & 1;
    goc_balancer_target *t = goc_balancer_pick(s->b, keyed ? key : NULL, strlen(key), NULL, 0);
    if (!t) {
        atomic_fetch_add(&s->nulls, 1);
        return;
    }
    goc_balancer_target *u = goc_balancer_pick(s->b, key, strlen(key), &t, 1);
    atomic_fetch_add(&s->picks, u ? 2 : 1);
    if (strncmp(goc_balancer_target_addr(t), "10.0.0.", 7) != 0 ||
        goc_balancer_target_inflight(t) < 1)
        atomic_fetch_add(&s->bad, 1);
    if (goroutine && (rnd(rng) & 3) == 0)
        goc_yield();
    goc_duration lat = (goc_duration)(rnd(rng) % (10 * GOC_MILLISECOND));
    if (u) {
        goc_balancer_done(s->b, u, lat);
        atomic_fetch_add(&s->dones, 1);
    }
    goc_balancer_done(s->b, t, lat);
    atomic_fetch_add(&s->dones, 1);
}

static void stress_picker(void *arg)
{
    stress *s = arg;
    uint64_t rng = (uint64_t)(uintptr_t)&rng | 1;
    while (!atomic_load(&s->stop))
        stress_round(s, &rng, true);
    goc_waitgroup_done(&s->wg);
}

static void *stress_thread(void *arg)
{
    stress *s = arg;
    uint64_t rng = (uint64_t)(uintptr_t)&rng | 1;
    while (!atomic_load(&s->stop))
        stress_round(s, &rng, false);
    return NULL;
}

/* Targets come, go, change weight and flap until stop. */
static void stress_churn(void *arg)
{
    stress *s = arg;
    uint64_t rng = 0x1234567;
    while (!atomic_load(&s->stop)) {
        const char *a = stress_addr((int)(rnd(&rng) % NADDR));
        switch (rnd(&rng) % 4) {
        case 0:
            goc_balancer_add(s->b, a, (int)(rnd(&rng) % 5) + 1, NULL);
            break;
        case 1:
            goc_balancer_remove(s->b, a);
            break;
        case 2:
            goc_balancer_set_up(s->b, a, rnd(&rng) & 1);
            break;
        default:
            goc_balancer_set_weight(s->b, a, (int)(rnd(&rng) % 5) + 1);
        }
        goc_yield();
    }
    goc_waitgroup_done(&s->wg);
}

static int stress_main(void *arg)
{
    (void)arg;
    for (int p = 0; p < 4; p++) {
        stress *s = calloc(1, sizeof *s);
        s->b = goc_balancer_new((goc_balance_policy)p);
        for (int i = 0; i < NADDR / 2; i++)
            goc_balancer_add(s->b, stress_addr(i), 1, NULL);
        goc_waitgroup_add(&s->wg, 65);
        for (int i = 0; i < 64; i++)
            GO_SPAWN(stress_picker, s);
        GO_SPAWN(stress_churn, s);
        pthread_t th[4];
        for (int i = 0; i < 4; i++)
            th[i] = start_thread(stress_thread, s);
        goc_sleep(250 * GOC_MILLISECOND);
        atomic_store(&s->stop, true);
        goc_waitgroup_wait(&s->wg);
        for (int i = 0; i < 4; i++)
            pthread_join(th[i], NULL);

        const char *name = goc_balance_policy_name((goc_balance_policy)p);
        GO_CHECK(atomic_load(&s->picks) > 1000, "%s: only %ld picks", name, atomic_load(&s->picks));
        GO_CHECK(atomic_load(&s->picks) == atomic_load(&s->dones), "%s: %ld picks, %ld done", name,
                 atomic_load(&s->picks), atomic_load(&s->dones));
        GO_CHECK(atomic_load(&s->bad) == 0, "%s: %ld bad picks", name, atomic_load(&s->bad));
        goc_balancer_target_info info[NADDR];
        size_t n = goc_balancer_snapshot(s->b, info, NADDR);
        GO_CHECK(n <= NADDR, "%s: %zu targets", name, n);
        size_t up = 0;
        for (size_t i = 0; i < n && i < NADDR; i++) {
            GO_CHECK(info[i].inflight == 0, "%s: %s has %d in flight", name, info[i].addr,
                     info[i].inflight);
            up += info[i].up;
        }
        GO_CHECK(goc_balancer_len(s->b) == n && goc_balancer_len_up(s->b) == up,
                 "%s: len %zu/%zu, snapshot %zu/%zu", name, goc_balancer_len(s->b),
                 goc_balancer_len_up(s->b), n, up);
        goc_balancer_free(s->b);
        free(s);
    }
    return 0;
}

Test(balancer, stress, .timeout = 60)
{
    cr_assert_eq(run_main(stress_main, NULL), 0);
}
