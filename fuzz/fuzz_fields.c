/*
 * fuzz_fields.c — libFuzzer target: the request field values the file
 * server reads (Range, Accept-Encoding, entity tags, HTTP-dates) and the
 * content sniffer, the first byte picking which, checked against the
 * invariants of check_fields.h. Built and run by fuzz/CMakeLists.txt and
 * fuzz/run.sh (make fuzz).
 */
#include <stdio.h>

#include "check_fields.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *broken = check_fields(data, size);
    if (broken) {
        fprintf(stderr, "fuzz_fields: invariant broken: %s\n", broken);
        abort();
    }
    return 0;
}
