/* SPDX-License-Identifier: MIT */
/*
 * AArch64 (AAPCS64) context switch.
 *
 * wf__ctx_switch(from = x0, to = x1) stores the callee-saved registers and
 * the FPCR in a 176-byte frame on the current stack, stores sp in from->sp,
 * loads to->sp and restores the same frame from there. Frame, from the
 * saved sp upwards:
 *
 *   sp+0    x29 (fp)   sp+8    x30 (lr: where the switch returns to)
 *   sp+16   x19 x20    sp+32   x21 x22    sp+48   x23 x24
 *   sp+64   x25 x26    sp+80   x27 x28
 *   sp+96   d8  d9     sp+112  d10 d11    sp+128  d12 d13    sp+144  d14 d15
 *   sp+160  FPCR       sp+168  unused (keeps the frame a multiple of 16)
 *
 * x29/x30 come first so that the frame is an ordinary AAPCS64 frame record:
 * a saved sp is also a frame pointer, and a frame-pointer walk started from
 * it (a gdb script listing parked fibers) goes straight into the caller.
 * Only the low 64 bits of v8-v15 are callee-saved (AAPCS64 6.1.2).
 *
 * The FPCR (rounding mode, flush-to-zero, default NaN, ...) is what AAPCS64
 * calls global state: an ordinary call leaves it alone, so the compiler
 * keeps nothing of it, but a context is a thread of its own and its mode
 * must not leak into the next context on the worker (x86-64 saves MXCSR
 * and the x87 control word for the same reason). A fresh context starts
 * with FPCR 0 (ctx_make.c). The FPSR (sticky exception flags) is not
 * saved: AAPCS64 lets it hold anything on entry to a function, flags
 * raised by one context are not part of the switch's contract, and the
 * x86-64 switch keeps no x87 status word either.
 *
 * Saving costs one `mrs` (a register read). Restoring writes the FPCR only
 * when the resumed context's value differs from the one just read, with
 * no second `mrs`. A write to the FPCR is a system-register write that
 * many cores do not rename and may order against FP instructions in
 * flight (glibc's fesetround also skips it when nothing changes), while
 * nearly every switch goes between two contexts with the same (default)
 * FPCR; so the common case pays a load, a compare and a well-predicted
 * branch. Not measured here. The x86-64 switch restores MXCSR and the x87
 * control word unconditionally.
 *
 * sp must stay 16-byte aligned at every instruction (the hardware checks
 * it on each access through sp), which the 176-byte frame keeps. The CFI
 * below describes the frame, so debuggers and backtrace() unwind through a
 * switch; a fresh context starts in wf__ctx_trampoline, whose return
 * address is marked undefined so backtraces end there.
 *
 * Built with -mbranch-protection, the switch starts with a BTI landing pad
 * (it may be called through a pointer) and the object carries the GNU
 * property note that lets the linker keep BTI/PAC enabled for the whole
 * program. The trampoline needs no pad: it is entered by `ret`, which BTI
 * does not check.
 */
#if defined(__ARM_FEATURE_BTI_DEFAULT) && __ARM_FEATURE_BTI_DEFAULT
#define BTI_C hint 34
#else
#define BTI_C
#endif

    .text
    .globl  wf__ctx_switch
    .hidden wf__ctx_switch
    .type   wf__ctx_switch, %function
    .p2align 4
wf__ctx_switch:
    .cfi_startproc
    BTI_C
    stp     x29, x30, [sp, #-176]!
    .cfi_def_cfa_offset 176
    .cfi_offset x29, -176
    .cfi_offset x30, -168
    mrs     x10, fpcr               /* the outgoing FPCR, kept in x10 */
    stp     x19, x20, [sp, #16]
    .cfi_offset x19, -160
    .cfi_offset x20, -152
    stp     x21, x22, [sp, #32]
    .cfi_offset x21, -144
    .cfi_offset x22, -136
    stp     x23, x24, [sp, #48]
    .cfi_offset x23, -128
    .cfi_offset x24, -120
    stp     x25, x26, [sp, #64]
    .cfi_offset x25, -112
    .cfi_offset x26, -104
    stp     x27, x28, [sp, #80]
    .cfi_offset x27, -96
    .cfi_offset x28, -88
    stp     d8, d9, [sp, #96]
    .cfi_offset d8, -80
    .cfi_offset d9, -72
    stp     d10, d11, [sp, #112]
    .cfi_offset d10, -64
    .cfi_offset d11, -56
    stp     d12, d13, [sp, #128]
    .cfi_offset d12, -48
    .cfi_offset d13, -40
    stp     d14, d15, [sp, #144]
    .cfi_offset d14, -32
    .cfi_offset d15, -24
    str     x10, [sp, #160]

    /* str/ldr cannot name sp as the data register; go through x9. From
     * here on the CFI, which is relative to sp, describes the frame of the
     * context being resumed: same layout, same offsets. */
    mov     x9, sp
    str     x9, [x0]
    ldr     x9, [x1]
    mov     sp, x9

    /* Write the FPCR only if the resumed context's differs (see above). */
    ldr     x11, [sp, #160]
    cmp     x11, x10
    b.eq    1f
    msr     fpcr, x11
1:
    ldp     d14, d15, [sp, #144]
    .cfi_restore d14
    .cfi_restore d15
    ldp     d12, d13, [sp, #128]
    .cfi_restore d12
    .cfi_restore d13
    ldp     d10, d11, [sp, #112]
    .cfi_restore d10
    .cfi_restore d11
    ldp     d8, d9, [sp, #96]
    .cfi_restore d8
    .cfi_restore d9
    ldp     x27, x28, [sp, #80]
    .cfi_restore x27
    .cfi_restore x28
    ldp     x25, x26, [sp, #64]
    .cfi_restore x25
    .cfi_restore x26
    ldp     x23, x24, [sp, #48]
    .cfi_restore x23
    .cfi_restore x24
    ldp     x21, x22, [sp, #32]
    .cfi_restore x21
    .cfi_restore x22
    ldp     x19, x20, [sp, #16]
    .cfi_restore x19
    .cfi_restore x20
    ldp     x29, x30, [sp], #176
    .cfi_def_cfa_offset 0
    .cfi_restore x29
    .cfi_restore x30
    ret
    .cfi_endproc
    .size   wf__ctx_switch, .-wf__ctx_switch

/* First code of a fresh context: x19 = entry, x20 = arg (set by
 * wf__ctx_make), sp 16-byte aligned. entry must never return; if it does
 * anyway, brk stops the program here instead of running off into whatever
 * follows.
 *
 * The first switch "returns" to wf__ctx_trampoline + 4, past the nop.
 * Debuggers look up a caller's unwind info at its return address - 1 (the
 * call instruction); returning to the trampoline's first byte would put
 * that lookup before the trampoline, outside any FDE, and gdb would print
 * a garbage backtrace while that first switch restores registers. With the
 * nop the lookup lands here, where the CFI ends the backtrace. */
    .globl  wf__ctx_trampoline
    .hidden wf__ctx_trampoline
    .type   wf__ctx_trampoline, %function
    .p2align 4
wf__ctx_trampoline:
    .cfi_startproc
    .cfi_undefined x30
    nop
    mov     x0, x20
    blr     x19
    brk     #0x3e8
    .cfi_endproc
    .size   wf__ctx_trampoline, .-wf__ctx_trampoline

#if (defined(__ARM_FEATURE_BTI_DEFAULT) && __ARM_FEATURE_BTI_DEFAULT) || \
    (defined(__ARM_FEATURE_PAC_DEFAULT) && __ARM_FEATURE_PAC_DEFAULT)
/* GNU_PROPERTY_AARCH64_FEATURE_1_AND (0xc0000000): bit 0 BTI, bit 1 PAC.
 * The switch signs nothing: the return addresses it saves were signed (or
 * not) by their own functions, and it returns through a plain `ret` to the
 * address it restored, so it is compatible with PAC-enabled callers. */
#if defined(__ARM_FEATURE_BTI_DEFAULT) && __ARM_FEATURE_BTI_DEFAULT
#define FEATURE_BTI 1
#else
#define FEATURE_BTI 0
#endif
#if defined(__ARM_FEATURE_PAC_DEFAULT) && __ARM_FEATURE_PAC_DEFAULT
#define FEATURE_PAC 2
#else
#define FEATURE_PAC 0
#endif
    .pushsection .note.gnu.property, "a"
    .p2align 3
    .word   4                       /* name size: "GNU\0" */
    .word   16                      /* descriptor size */
    .word   5                       /* NT_GNU_PROPERTY_TYPE_0 */
    .asciz  "GNU"
    .word   0xc0000000              /* GNU_PROPERTY_AARCH64_FEATURE_1_AND */
    .word   4                       /* property data size */
    .word   FEATURE_BTI | FEATURE_PAC
    .word   0                       /* pad to 8 bytes */
    .popsection
#endif

    .section .note.GNU-stack,"",%progbits
