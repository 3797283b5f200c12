/*
 * fuzz_mux.c — libFuzzer target: the mux's patterns, its routing tree and
 * Go's path cleaning, checked against the invariants of check_mux.h
 * (patterns and requests as lines of the input). Built and run by
 * fuzz/CMakeLists.txt and fuzz/run.sh (make fuzz).
 */
#include <stdio.h>

#include "check_mux.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *broken = check_mux(data, size);
    if (broken) {
        fprintf(stderr, "fuzz_mux: invariant broken: %s\n", broken);
        abort();
    }
    return 0;
}
