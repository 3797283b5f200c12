/*
 * fuzz_request.c — libFuzzer target: goc__http_parse_request on arbitrary
 * bytes, checked against the invariants of check.h. Built and run by
 * fuzz/CMakeLists.txt and fuzz/run.sh (make fuzz).
 */
#include <stdio.h>

#include "check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *broken = check_request(data, size);
    if (broken) {
        fprintf(stderr, "fuzz_request: invariant broken: %s\n", broken);
        abort();
    }
    return 0;
}
