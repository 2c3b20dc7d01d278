/* SPDX-License-Identifier: MIT */
/*
 * x86-64 System V context switch.
 *
 * wf__ctx_switch(from = rdi, to = rsi) pushes the callee-saved registers and
 * the floating-point control words on the current stack, stores rsp in
 * from->sp, loads to->sp and pops the same frame from there. Frame, from the
 * saved sp upwards:
 *
 *   sp+0   MXCSR (4 bytes), x87 control word (2 bytes), 2 bytes unused
 *   sp+8   r15   sp+16 r14   sp+24 r13   sp+32 r12   sp+40 rbx   sp+48 rbp
 *   sp+56  return address
 *
 * It returns with `ret`, not Boost's pop-and-jump: every switch the
 * scheduler makes comes from one call site (jump() in core/sched.c), so
 * the return-stack predictor is right and stays balanced for the returns
 * that follow. Pop-and-jump costs the same for a switch pair, but it
 * unbalances the predictor, and every later return mispredicts: the
 * scheduler's yield became about twice as slow (docs/PERFORMANCE.md,
 * "Why the code is as it is").
 *
 * The CFI below describes that frame, so debuggers and backtrace() unwind
 * through a switch; a fresh context starts in wf__ctx_trampoline, whose
 * return address is marked undefined so backtraces end there.
 */
    .text
    .globl  wf__ctx_switch
    .hidden wf__ctx_switch
    .type   wf__ctx_switch, @function
    .p2align 4
wf__ctx_switch:
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
    movq    (%rsi), %rsp

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
    .size   wf__ctx_switch, .-wf__ctx_switch

/* First code of a fresh context: r12 = entry, r13 = arg (set by
 * wf__ctx_make). rsp is 16-byte aligned here, as a call requires. */
    .globl  wf__ctx_trampoline
    .hidden wf__ctx_trampoline
    .type   wf__ctx_trampoline, @function
    .p2align 4
wf__ctx_trampoline:
    .cfi_startproc
    .cfi_undefined %rip
    /* A fresh frame "returns" to the instruction after this nop, so that
     * unwinders, which look up return address - 1, land in this FDE. */
    nop
    movq    %r13, %rdi
    callq   *%r12
    ud2
    .cfi_endproc
    .size   wf__ctx_trampoline, .-wf__ctx_trampoline

    .section .note.GNU-stack,"",@progbits
