/*
 * helper_sync_misuse — misuses a sync primitive the way Go panics on.
 *   helper_sync_misuse MODE
 * MODE:
 *   unlock_unlocked       a goroutine unlocks a mutex nobody locked
 *   double_unlock         a goroutine locks, unlocks, unlocks again
 *   unlock_thread         a plain thread unlocks an unlocked mutex
 *   wg_negative           a goroutine calls waitgroup_add(-1) on a zero counter
 *   wg_done_too_many      add(1), done, done
 *   wg_negative_thread    a plain thread calls waitgroup_done on a zero counter
 *   rw_unlock_unlocked    a goroutine calls rwmutex_unlock, never locked
 *   rw_runlock_unlocked   a goroutine calls rwmutex_runlock, never rlocked
 *   sem_release_too_much  a goroutine acquires 1 unit of a semaphore, releases 2
 *   sem_release_thread    a plain thread releases a unit of a semaphore it never took
 * Before the misuse it prints "id=N" (the misusing goroutine's id) and
 * "misuse" on stdout; if the program goes on it prints "survived" and exits 0.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <goc.h>

static const char *mode;
static volatile int finished;

static void announce(void)
{
    printf("id=%llu\nmisuse\n", (unsigned long long)goc_id());
    fflush(stdout);
}

static void misuse(void)
{
    static goc_mutex mu;
    static goc_rwmutex rw;
    static goc_waitgroup wg;
    static goc_semaphore sem = GOC_SEMAPHORE_INIT(2);
    announce();
    if (strcmp(mode, "unlock_unlocked") == 0 || strcmp(mode, "unlock_thread") == 0) {
        goc_mutex_unlock(&mu);
    } else if (strcmp(mode, "double_unlock") == 0) {
        goc_mutex_lock(&mu);
        goc_mutex_unlock(&mu);
        goc_mutex_unlock(&mu);
    } else if (strcmp(mode, "wg_negative") == 0) {
        goc_waitgroup_add(&wg, -1);
    } else if (strcmp(mode, "wg_done_too_many") == 0) {
        goc_waitgroup_add(&wg, 1);
        goc_waitgroup_done(&wg);
        goc_waitgroup_done(&wg);
    } else if (strcmp(mode, "wg_negative_thread") == 0) {
        goc_waitgroup_done(&wg);
    } else if (strcmp(mode, "rw_unlock_unlocked") == 0) {
        goc_rwmutex_unlock(&rw);
    } else if (strcmp(mode, "rw_runlock_unlocked") == 0) {
        goc_rwmutex_runlock(&rw);
    } else if (strcmp(mode, "sem_release_too_much") == 0) {
        if (goc_semaphore_acquire(&sem, NULL, 1) != 0)
            _exit(65);
        goc_semaphore_release(&sem, 2);
    } else if (strcmp(mode, "sem_release_thread") == 0) {
        goc_semaphore_release(&sem, 1);
    } else {
        fprintf(stderr, "helper_sync_misuse: unknown mode %s\n", mode);
        fflush(stderr);
        _exit(64);
    }
    __atomic_store_n(&finished, 1, __ATOMIC_SEQ_CST);
}

static void misuse_goroutine(void *arg)
{
    (void)arg;
    misuse();
}

static void *misuse_thread(void *arg)
{
    (void)arg;
    misuse();
    return NULL;
}

static void idle(void *arg)
{
    (void)arg;
    goc_sleep(2 * GOC_SECOND);
}

static int helper_main(void *arg)
{
    (void)arg;
    /* A few other goroutines first, so the misusing one's id is not 1. */
    for (int i = 0; i < 5; i++)
        goc_go(idle, NULL);
    if (strstr(mode, "thread")) {
        pthread_t t;
        if (pthread_create(&t, NULL, misuse_thread, NULL) != 0)
            return 3;
        pthread_join(t, NULL);
    } else {
        goc_go(misuse_goroutine, NULL);
    }
    for (int i = 0; i < 200 && !__atomic_load_n(&finished, __ATOMIC_SEQ_CST); i++)
        goc_sleep(5 * GOC_MILLISECOND);
    goc_sleep(100 * GOC_MILLISECOND);
    printf("survived\n");
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv)
{
    mode = argc > 1 ? argv[1] : "unlock_unlocked";
    return goc_run(helper_main, NULL);
}
