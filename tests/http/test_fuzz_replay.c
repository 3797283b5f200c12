/*
 * test_fuzz_replay.c — every file of fuzz/regression/<target>/ (inputs that
 * once broke a parser) and of the seed corpora fuzz/corpus/<target>/,
 * through the fuzz targets' own invariant checks (fuzz/check.h,
 * check_fields.h, check_mux.h, check_gunzip.h), so a past crasher stays fixed in every test
 * run, without clang or libFuzzer. fuzz_query's checks need src/http/http.h,
 * which tests cannot include: make fuzz replays its folder.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>

#include "../../fuzz/check.h"
#include "../../fuzz/check_fields.h"
#include "../../fuzz/check_gunzip.h"
#include "../../fuzz/check_mux.h"

typedef const char *(*check_fn)(const uint8_t *d, size_t n);

/* The repository's root, from this file's path (CMake compiles it by its
 * absolute path). */
static void root_dir(char *out, size_t cap)
{
    snprintf(out, cap, "%s", __FILE__);
    char *cut = strstr(out, "/tests/http/");
    cr_assert_not_null(cut, "cannot find the source tree from %s", __FILE__);
    *cut = '\0';
}

static uint8_t *read_all(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    size_t cap = 1 << 16, len = 0;
    uint8_t *d = malloc(cap);
    cr_assert_not_null(d);
    for (size_t r; (r = fread(d + len, 1, cap - len, f)) > 0;) {
        len += r;
        if (len == cap) {
            d = realloc(d, cap *= 2);
            cr_assert_not_null(d);
        }
    }
    fclose(f);
    *n = len;
    return d;
}

/* Check every regular file in <root>/fuzz/<kind>/<target>/; the number
 * checked. */
static int replay(const char *kind, const char *target, check_fn check)
{
    char root[4096], dir[4600], path[4900];
    root_dir(root, sizeof root);
    snprintf(dir, sizeof dir, "%s/fuzz/%s/%s", root, kind, target);
    DIR *d = opendir(dir);
    cr_assert_not_null(d, "%s", dir);
    int count = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        size_t n;
        uint8_t *data = read_all(path, &n);
        const char *broken = check(data, n);
        cr_assert_null(broken, "%s: %s", path, broken);
        free(data);
        count++;
    }
    closedir(d);
    return count;
}

Test(fuzz_replay, request, .timeout = 60)
{
    replay("regression", "request", check_request);
    cr_assert_gt(replay("corpus", "request", check_request), 0);
}

Test(fuzz_replay, response, .timeout = 60)
{
    replay("regression", "response", check_response);
    cr_assert_gt(replay("corpus", "response", check_response), 0);
}

Test(fuzz_replay, chunked, .timeout = 60)
{
    replay("regression", "chunked", check_chunked);
    cr_assert_gt(replay("corpus", "chunked", check_chunked), 0);
}

Test(fuzz_replay, fields, .timeout = 60)
{
    replay("regression", "fields", check_fields);
    cr_assert_gt(replay("corpus", "fields", check_fields), 0);
}

Test(fuzz_replay, mux, .timeout = 60)
{
    replay("regression", "mux", check_mux);
    cr_assert_gt(replay("corpus", "mux", check_mux), 0);
}

Test(fuzz_replay, gunzip, .timeout = 60)
{
    /* No regression folder yet: no input has broken the decoder. */
    cr_assert_gt(replay("corpus", "gunzip", check_gunzip), 0);
}
