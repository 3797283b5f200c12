/*
 * stubs.h — what fuzz/stubs.c offers the targets besides the runtime's
 * error calls it replaces.
 */
#ifndef GOC_FUZZ_STUBS_H
#define GOC_FUZZ_STUBS_H

/* The text of the last goc__errset / goc__errorf ("" before any). */
const char *fz_errmsg(void);

#endif /* GOC_FUZZ_STUBS_H */
