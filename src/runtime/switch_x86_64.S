/*
 * switch_x86_64.S — goroutine context switch for x86-64 System V.
 *
 * A parked goroutine's stack holds, from its saved sp upward:
 *     sp+0   MXCSR (4 bytes), x87 control word (2 bytes), pad (2 bytes)
 *     sp+8   r15, r14, r13, r12, rbx, rbp
 *     sp+56  return address into the caller of goc__ctx_switch
 * Exactly the callee-saved state of the ABI: everything else is clobbered
 * by a call anyway. The CFI below describes this layout at every
 * instruction, so gdb and libunwind can unwind a parked goroutine from its
 * saved sp (see goc__ctx_unwind_setup in arch_x86_64.c).
 */
    .text
    .globl  goc__ctx_switch
    .hidden goc__ctx_switch
    .type   goc__ctx_switch, @function
    .p2align 4
/* void goc__ctx_switch(void **save_sp, void *new_sp) */
goc__ctx_switch:
    .cfi_startproc
    pushq   %rbp
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %rbp, 0
    pushq   %rbx
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %rbx, 0
    pushq   %r12
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %r12, 0
    pushq   %r13
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %r13, 0
    pushq   %r14
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %r14, 0
    pushq   %r15
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %r15, 0
    subq    $8, %rsp
    .cfi_adjust_cfa_offset 8
    stmxcsr (%rsp)
    fnstcw  4(%rsp)
    movq    %rsp, (%rdi)
    /* From here on rsp is the other goroutine's, whose frame has the same
     * layout: the CFI above stays true. */
    movq    %rsi, %rsp
    ldmxcsr (%rsp)
    fldcw   4(%rsp)
    addq    $8, %rsp
    .cfi_adjust_cfa_offset -8
    popq    %r15
    .cfi_adjust_cfa_offset -8
    .cfi_restore %r15
    popq    %r14
    .cfi_adjust_cfa_offset -8
    .cfi_restore %r14
    popq    %r13
    .cfi_adjust_cfa_offset -8
    .cfi_restore %r13
    popq    %r12
    .cfi_adjust_cfa_offset -8
    .cfi_restore %r12
    popq    %rbx
    .cfi_adjust_cfa_offset -8
    .cfi_restore %rbx
    popq    %rbp
    .cfi_adjust_cfa_offset -8
    .cfi_restore %rbp
    ret
    .cfi_endproc
    .size   goc__ctx_switch, .-goc__ctx_switch

    .globl  goc__ctx_start
    .hidden goc__ctx_start
    .type   goc__ctx_start, @function
    .p2align 4
/* First code a new goroutine runs: "returned to" by goc__ctx_switch with
 * r12 = entry, r13 = arg and rsp 16-byte aligned. The return address is
 * marked undefined so unwinders stop here. */
goc__ctx_start:
    .cfi_startproc
    .cfi_undefined %rip
    xorl    %ebp, %ebp
    movq    %r13, %rdi
    callq   *%r12
    ud2
    .cfi_endproc
    .size   goc__ctx_start, .-goc__ctx_start

    .section .note.GNU-stack,"",@progbits
