/* SPDX-License-Identifier: MIT */
/*
 * src/arch/ctx.h - the contract every context-switch backend implements.
 *
 * A context is a suspended flow of control: a stack pointer with the
 * callee-saved state pushed below it (assembly backends), or a ucontext_t
 * (the portable fallback, chosen at configure time with
 * -DWEFT_CONTEXT=ucontext). The backend file is picked by CMake:
 *   src/arch/x86_64/switch.S    x86-64 System V
 *   src/arch/aarch64/switch.S   AArch64 (AAPCS64)
 *   src/arch/generic/ctx_ucontext.c
 *
 * What is saved: exactly the registers the ABI says a callee preserves,
 * plus the FP control state, which each context keeps as its own the way a
 * thread does. x86-64: rbx rbp r12-r15 rsp, the MXCSR and the x87 control
 * word. AArch64: x19-x29, lr, sp, d8-d15 and the FPCR. Everything else is
 * dead across a call, and the switch is an ordinary call for the compiler.
 * A fresh context starts with the default FP control state (round to
 * nearest, exceptions masked), not its creator's.
 */
#ifndef WEFT_ARCH_CTX_H
#define WEFT_ARCH_CTX_H

#include <stddef.h>

#ifdef WEFT_CTX_UCONTEXT
#include <ucontext.h>
struct wf__ctx {
    ucontext_t uc;
};
#else
struct wf__ctx {
    void *sp; /* saved stack pointer; the callee-saved frame is at sp */
};
#endif

/* Save the current flow in *from and resume *to. Returns when something
 * switches back to *from. from and to must differ. */
void wf__ctx_switch(struct wf__ctx *from, struct wf__ctx *to);

/* Prepare *ctx so that the first switch to it calls entry(arg) on the stack
 * [lo, lo + size). entry must never return (it switches away for good). */
void wf__ctx_make(struct wf__ctx *ctx, void *lo, size_t size,
                  void (*entry)(void *arg), void *arg);

#endif
