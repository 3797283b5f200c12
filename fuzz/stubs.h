/*
 * stubs.h — what fuzz/stubs.c offers the targets besides the runtime and
 * server calls it replaces (goc_errmsg among them: the text of the last
 * goc__errset / goc__errorf).
 */
#ifndef GOC_FUZZ_STUBS_H
#define GOC_FUZZ_STUBS_H

#include <stddef.h>

/* The body goc_http_body_read_all hands out from now on: p[0, n), which
 * the caller keeps valid meanwhile. */
void fz_stub_body(const char *p, size_t n);

#endif /* GOC_FUZZ_STUBS_H */
