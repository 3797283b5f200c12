/*
 * arch_x86_64.c — the C half of the x86-64 context code: building a new
 * goroutine's first frame, and describing a parked one to libunwind. The
 * frame layout is documented in switch_x86_64.S.
 */
#include "runtime/runtime.h"

#define UNW_LOCAL_ONLY
#include <libunwind.h>
#include <string.h>
#include <ucontext.h>

void goc__ctx_start(void);

/* Frame slots, in 8-byte words from the saved sp. */
enum { F_CSR, F_R15, F_R14, F_R13, F_R12, F_RBX, F_RBP, F_RET, F_WORDS };

void *goc__ctx_init(char *top, void (*entry)(void *), void *arg)
{
    /* After the switch "returns" into goc__ctx_start, rsp = sp + 64 must be
     * 16-byte aligned (the call in goc__ctx_start then enters entry with
     * rsp = 8 mod 16, as the ABI requires). */
    uintptr_t end = ((uintptr_t)top & ~(uintptr_t)15) - 16;
    uint64_t *f = (uint64_t *)(end - F_WORDS * 8);
    memset(f, 0, F_WORDS * 8);
    /* Default MXCSR (all exceptions masked) and x87 control word. */
    uint32_t mxcsr = 0x1f80;
    uint16_t fpcw = 0x037f;
    memcpy((char *)&f[F_CSR], &mxcsr, 4);
    memcpy((char *)&f[F_CSR] + 4, &fpcw, 2);
    f[F_R12] = (uint64_t)(uintptr_t)entry;
    f[F_R13] = (uint64_t)(uintptr_t)arg;
    f[F_RET] = (uint64_t)(uintptr_t)goc__ctx_start;
    return f;
}

/* Make uc look as if goc__ctx_switch had just returned into its caller. */
void goc__ctx_unwind_setup(void *unw_context, void *sp)
{
    ucontext_t *uc = unw_context;
    const uint64_t *f = sp;
    greg_t *r = uc->uc_mcontext.gregs;
    r[REG_R15] = (greg_t)f[F_R15];
    r[REG_R14] = (greg_t)f[F_R14];
    r[REG_R13] = (greg_t)f[F_R13];
    r[REG_R12] = (greg_t)f[F_R12];
    r[REG_RBX] = (greg_t)f[F_RBX];
    r[REG_RBP] = (greg_t)f[F_RBP];
    r[REG_RIP] = (greg_t)f[F_RET];
    r[REG_RSP] = (greg_t)(uintptr_t)(f + F_WORDS);
}

void *goc__ctx_fault_sp(void *ucontext)
{
    return (void *)(uintptr_t)((ucontext_t *)ucontext)->uc_mcontext.gregs[REG_RSP];
}
