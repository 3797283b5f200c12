/* placeholder until channels: fan-out of sleeping workers with stats */
#include <goc.h>
#include <stdio.h>
static void w(void *a) { goc_sleep((goc_duration)(uintptr_t)a * GOC_MILLISECOND); }
static int main_fn(void *a) {
    (void)a;
    for (int i = 0; i < 1000; i++) goc_go(w, (void *)(uintptr_t)(i % 100));
    goc_sleep(200 * GOC_MILLISECOND);
    goc_stats st; goc_read_stats(&st);
    printf("goroutines=%llu created=%llu switches=%llu\n", (unsigned long long)st.goroutines,
           (unsigned long long)st.goroutines_created, (unsigned long long)st.context_switches);
    return 0;
}
int main(void) { return goc_run(main_fn, NULL); }
