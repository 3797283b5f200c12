/*
 * test_file.c — regular files from goroutines (goc_pread, goc_pwrite,
 * goc_read_file) on the goc_blocking pool.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "net/netutil.h"

static int main_file(void *arg)
{
    (void)arg;
    char path[] = "/tmp/goc-test-file-XXXXXX";
    int fd = mkstemp(path);
    GO_CHECK(fd >= 0, "mkstemp");
    if (fd < 0)
        return 1;
    enum { N = 1 << 20 };
    char *src = malloc(N), *got = malloc(N);
    fill_pattern(src, N, 7);
    GO_CHECK(goc_pwrite(fd, src, N, 0) == N, "pwrite");
    GO_CHECK(goc_pread(fd, got, N, 0) == N && memcmp(src, got, N) == 0, "pread");
    /* At the end of the file: short, then 0. */
    GO_CHECK(goc_pread(fd, got, 100, N - 10) == 10, "pread at the end");
    GO_CHECK(goc_pread(fd, got, 100, N) == 0, "pread past the end");
    GO_CHECK(goc_pread(-1, got, 1, 0) == -EBADF, "pread(-1)");
    GO_CHECK(goc_pread(fd, got, 1, -1) == -EINVAL, "pread at -1");

    char *data = NULL;
    size_t len = 0;
    GO_CHECK(goc_read_file(path, &data, &len) == 0 && len == N && memcmp(data, src, N) == 0,
             "read_file: %zu bytes", len);
    free(data);
    GO_CHECK(goc_read_file("/nonexistent/goc", &data, &len) == -ENOENT, "read_file: ENOENT");
    /* A /proc file reports size 0 but has content. */
    GO_CHECK(goc_read_file("/proc/self/status", &data, &len) == 0 && len > 100, "/proc: %zu", len);
    free(data);
    close(fd);
    unlink(path);
    free(src);
    free(got);
    return 0;
}

Test(file, pread_pwrite_read_file, .timeout = 30)
{
    cr_assert_eq(run_main(main_file, NULL), 0);
}
