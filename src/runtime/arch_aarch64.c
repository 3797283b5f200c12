/*
 * arch_aarch64.c — the C half of the AArch64 context code: building a new
 * goroutine's first frame, and describing a parked one to libunwind. The
 * frame layout is documented in switch_aarch64.S.
 */
#include "runtime/runtime.h"

#define UNW_LOCAL_ONLY
#include <libunwind.h>
#include <string.h>
#include <ucontext.h>

void goc__ctx_start(void);

/* Frame slots, in 8-byte words from the saved sp: x19..x30, d8..d15, fpcr. */
enum { F_X19 = 0, F_X20 = 1, F_X29 = 10, F_X30 = 11, F_FPCR = 20, F_WORDS = 22 };

void *goc__ctx_init(char *top, void (*entry)(void *), void *arg)
{
    uintptr_t end = ((uintptr_t)top & ~(uintptr_t)15) - 16;
    uint64_t *f = (uint64_t *)(end - F_WORDS * 8); /* 176 bytes: aligned */
    memset(f, 0, F_WORDS * 8);
    f[F_X19] = (uint64_t)(uintptr_t)entry;
    f[F_X20] = (uint64_t)(uintptr_t)arg;
    f[F_X30] = (uint64_t)(uintptr_t)goc__ctx_start;
    return f;
}

/* Make uc look as if goc__ctx_switch had just returned into its caller. */
void goc__ctx_unwind_setup(void *unw_context, void *sp)
{
    ucontext_t *uc = unw_context;
    const uint64_t *f = sp;
    for (int i = 0; i <= 11; i++)
        uc->uc_mcontext.regs[19 + i] = f[i];
    uc->uc_mcontext.pc = f[F_X30];
    uc->uc_mcontext.sp = (uint64_t)(uintptr_t)(f + F_WORDS);
}

void *goc__ctx_fault_sp(void *ucontext)
{
    return (void *)(uintptr_t)((ucontext_t *)ucontext)->uc_mcontext.sp;
}
