/*
 * switch_aarch64.S — goroutine context switch for AArch64 (AAPCS64).
 *
 * A parked goroutine's stack holds a 176-byte frame at its saved sp:
 *     sp+0    x19 x20 x21 x22 x23 x24 x25 x26 x27 x28
 *     sp+80   x29 (fp), x30 (lr: return address into the caller)
 *     sp+96   d8 .. d15 (the low halves of v8-v15 are callee-saved)
 *     sp+160  FPCR, pad
 * Exactly the callee-saved state of the ABI. The CFI describes it so gdb
 * and libunwind can unwind a parked goroutine (arch_aarch64.c).
 */
    .text
    .globl  goc__ctx_switch
    .hidden goc__ctx_switch
    .type   goc__ctx_switch, %function
    .p2align 4
/* void goc__ctx_switch(void **save_sp, void *new_sp) */
goc__ctx_switch:
    .cfi_startproc
    sub     sp, sp, #176
    .cfi_def_cfa_offset 176
    stp     x19, x20, [sp, #0]
    stp     x21, x22, [sp, #16]
    stp     x23, x24, [sp, #32]
    stp     x25, x26, [sp, #48]
    stp     x27, x28, [sp, #64]
    stp     x29, x30, [sp, #80]
    .cfi_offset x19, -176
    .cfi_offset x20, -168
    .cfi_offset x21, -160
    .cfi_offset x22, -152
    .cfi_offset x23, -144
    .cfi_offset x24, -136
    .cfi_offset x25, -128
    .cfi_offset x26, -120
    .cfi_offset x27, -112
    .cfi_offset x28, -104
    .cfi_offset x29, -96
    .cfi_offset x30, -88
    stp     d8, d9, [sp, #96]
    stp     d10, d11, [sp, #112]
    stp     d12, d13, [sp, #128]
    stp     d14, d15, [sp, #144]
    mrs     x9, fpcr
    str     x9, [sp, #160]
    mov     x9, sp
    str     x9, [x0]
    /* The other goroutine's frame has the same layout: CFI stays true. */
    mov     sp, x1
    ldr     x9, [sp, #160]
    msr     fpcr, x9
    ldp     d8, d9, [sp, #96]
    ldp     d10, d11, [sp, #112]
    ldp     d12, d13, [sp, #128]
    ldp     d14, d15, [sp, #144]
    ldp     x19, x20, [sp, #0]
    ldp     x21, x22, [sp, #16]
    ldp     x23, x24, [sp, #32]
    ldp     x25, x26, [sp, #48]
    ldp     x27, x28, [sp, #64]
    ldp     x29, x30, [sp, #80]
    add     sp, sp, #176
    .cfi_def_cfa_offset 0
    .cfi_restore x19
    .cfi_restore x20
    .cfi_restore x21
    .cfi_restore x22
    .cfi_restore x23
    .cfi_restore x24
    .cfi_restore x25
    .cfi_restore x26
    .cfi_restore x27
    .cfi_restore x28
    .cfi_restore x29
    .cfi_restore x30
    ret
    .cfi_endproc
    .size   goc__ctx_switch, .-goc__ctx_switch

    .globl  goc__ctx_start
    .hidden goc__ctx_start
    .type   goc__ctx_start, %function
    .p2align 4
/* First code of a new goroutine: x19 = entry, x20 = arg. The return
 * address is undefined so unwinders stop here. */
goc__ctx_start:
    .cfi_startproc
    .cfi_undefined x30
    mov     x29, #0
    mov     x0, x20
    blr     x19
    brk     #0
    .cfi_endproc
    .size   goc__ctx_start, .-goc__ctx_start

    .section .note.GNU-stack,"",%progbits
