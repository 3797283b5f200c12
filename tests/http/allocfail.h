/*
 * allocfail.h — the allocation-failure injector of the HTTP alloc tests
 * (test_server_alloc.c, test_client_alloc.c); the mechanism is
 * tests/chan/test_alloc_fail.c's, whose comment explains it. The test is
 * linked with --wrap=malloc,calloc,realloc,aligned_alloc
 * (tests/CMakeLists.txt). af_arm(k) makes the k-th counted allocation
 * fail; af_disarm() says whether it did. Counted are the allocations of
 * goroutines: those of the goroutine that armed it when AF_COUNT_OWN is
 * 1 (the client's), every other one's when it is 0 (the server's).
 * GOC_ALLOC_FAIL_VERBOSE=1 prints each failed allocation's site.
 *
 * Include once, in the test's one .c file, after defining AF_COUNT_OWN.
 */
#ifndef GOC_TESTS_HTTP_ALLOCFAIL_H
#define GOC_TESTS_HTTP_ALLOCFAIL_H

#ifndef AF_COUNT_OWN
#error "define AF_COUNT_OWN (1: count the arming goroutine's allocations, 0: the others')"
#endif

#define UNW_LOCAL_ONLY
#include <errno.h>
#include <libunwind.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <goc.h>

void *__real_malloc(size_t n);
void *__real_calloc(size_t nmemb, size_t size);
void *__real_realloc(void *p, size_t n);
void *__real_aligned_alloc(size_t align, size_t n);

static _Atomic bool af_armed;
static _Atomic uint64_t af_client; /* the test's own goroutine (af_arm) */
static _Atomic long af_k, af_seen;
static _Atomic bool af_failed;
static _Thread_local int af_inside; /* no re-entry from the unwinder */
static char af_site[256];           /* the failed allocation: its callers */

/* The callers of the allocation wrapper, innermost first, into buf. */
static __attribute__((noinline)) void af_describe(char *buf, size_t n)
{
    unw_context_t uc;
    unw_cursor_t cur;
    size_t len = 0;
    buf[0] = '\0';
    if (unw_getcontext(&uc) != 0 || unw_init_local(&cur, &uc) != 0)
        return;
    for (int frames = 0, guard = 0; frames < 5 && unw_step(&cur) > 0 && guard++ < 32;) {
        char name[96];
        unw_word_t off;
        if (unw_get_proc_name(&cur, name, sizeof name, &off) != 0)
            snprintf(name, sizeof name, "?");
        if (strncmp(name, "__wrap_", 7) == 0 || strncmp(name, "af_", 3) == 0)
            continue;
        len += (size_t)snprintf(buf + len, n - len, "%s%s", frames++ ? " < " : "", name);
        if (len >= n)
            break;
    }
}

static bool af_fail(void)
{
    if (!atomic_load_explicit(&af_armed, memory_order_acquire) || af_inside)
        return false;
    uint64_t id = goc_id();
    bool own = id == atomic_load_explicit(&af_client, memory_order_relaxed);
    if (id == 0 || own != AF_COUNT_OWN)
        return false;
    if (atomic_fetch_add(&af_seen, 1) + 1 != atomic_load(&af_k))
        return false;
    af_inside++;
    af_describe(af_site, sizeof af_site);
    af_inside--;
    atomic_store(&af_failed, true);
    if (getenv("GOC_ALLOC_FAIL_VERBOSE"))
        fprintf(stderr, "alloc_fail: k=%ld failed: %s\n", atomic_load(&af_k), af_site);
    errno = ENOMEM;
    return true;
}

void *__wrap_malloc(size_t n)
{
    return af_fail() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t nmemb, size_t size)
{
    return af_fail() ? NULL : __real_calloc(nmemb, size);
}

void *__wrap_realloc(void *p, size_t n)
{
    return af_fail() ? NULL : __real_realloc(p, n);
}

void *__wrap_aligned_alloc(size_t align, size_t n)
{
    return af_fail() ? NULL : __real_aligned_alloc(align, n);
}

static void af_arm(long k)
{
    atomic_store(&af_k, k);
    atomic_store(&af_seen, 0);
    atomic_store(&af_failed, false);
    af_site[0] = '\0';
    atomic_store(&af_client, goc_id());
    atomic_store_explicit(&af_armed, true, memory_order_release);
}

/* Disarm: whether the k-th allocation was failed. */
static bool af_disarm(void)
{
    atomic_store_explicit(&af_armed, false, memory_order_seq_cst);
    return atomic_load(&af_failed);
}

#endif /* GOC_TESTS_HTTP_ALLOCFAIL_H */
