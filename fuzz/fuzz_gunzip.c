/*
 * fuzz_gunzip.c — libFuzzer target: the streaming gzip decoder on
 * arbitrary bytes, checked against the invariants of check_gunzip.h.
 * Built and run by fuzz/CMakeLists.txt and fuzz/run.sh (make fuzz).
 */
#include <stdio.h>

#include "check_gunzip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *broken = check_gunzip(data, size);
    if (broken) {
        fprintf(stderr, "fuzz_gunzip: invariant broken: %s\n", broken);
        abort();
    }
    return 0;
}
