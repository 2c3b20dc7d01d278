/* SPDX-License-Identifier: MIT */
/*
 * Portable context switch on ucontext (makecontext/swapcontext).
 *
 * Slow (glibc's swapcontext makes a sigprocmask system call per switch)
 * but needs nothing from the CPU port: it exists to run weft where no
 * assembly backend exists and to cross-check the assembly ones. Chosen at
 * configure time with -DWEFT_CONTEXT=ucontext.
 *
 * makecontext passes only int arguments, so entry and arg travel as two
 * halves each of a pointer.
 *
 * FP control state: glibc's swapcontext already keeps it per context (on
 * x86-64 the x87 environment and MXCSR, on AArch64 the FPCR and FPSR, all
 * stored by the saving half and loaded by setcontext). A fresh context,
 * though, would start with whatever its creator had when getcontext ran in
 * wf__ctx_make. The assembly backends start every context with the default
 * control state instead (a fiber's rounding mode must not depend on which
 * fiber happened to create it), so wf__ctx_make overwrites the saved
 * control words with those defaults where it knows the layout; on other
 * CPUs the creator's state is kept.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__aarch64__)
#include <asm/sigcontext.h> /* struct fpsimd_context, FPSIMD_MAGIC */
#endif

#include "../ctx.h"

static void start(unsigned eh, unsigned el, unsigned ah, unsigned al)
{
    uintptr_t e = (uintptr_t)(((uint64_t)eh << 32) | el);
    uintptr_t a = (uintptr_t)(((uint64_t)ah << 32) | al);
    ((void (*)(void *))e)((void *)a);
    abort(); /* entry must not return */
}

void wf__ctx_switch(struct wf__ctx *from, struct wf__ctx *to)
{
    if (swapcontext(&from->uc, &to->uc) != 0)
        abort();
}

/* Give a context just filled by getcontext the default FP control state. */
static void default_fp_control(ucontext_t *uc)
{
#if defined(__x86_64__)
    /* getcontext points fpregs at the ucontext's own __fpregs_mem, stores
     * the x87 environment there (control word first, as in cwd) and the
     * MXCSR in its mxcsr field; setcontext loads both from there. Values
     * as in src/arch/x86_64/ctx_make.c: all exceptions masked, round to
     * nearest, x87 extended precision. */
    if (uc->uc_mcontext.fpregs) {
        uc->uc_mcontext.fpregs->cwd = 0x037F;
        uc->uc_mcontext.fpregs->mxcsr = 0x1F80;
    }
#elif defined(__aarch64__)
    /* getcontext puts a struct fpsimd_context first in __reserved, and
     * setcontext restores FPCR and FPSR from it if its magic is there. FPCR
     * 0 as in src/arch/aarch64/ctx_make.c. memcpy: __reserved is a byte
     * array, not a struct fpsimd_context. */
    unsigned char *fp = uc->uc_mcontext.__reserved;
    uint32_t magic, fpcr = 0;

    memcpy(&magic, fp + offsetof(struct fpsimd_context, head.magic),
           sizeof(magic));
    if (magic == FPSIMD_MAGIC)
        memcpy(fp + offsetof(struct fpsimd_context, fpcr), &fpcr,
               sizeof(fpcr));
#else
    (void)uc;
#endif
}

void wf__ctx_make(struct wf__ctx *ctx, void *lo, size_t size,
                  void (*entry)(void *arg), void *arg)
{
    uintptr_t e = (uintptr_t)entry, a = (uintptr_t)arg;

    if (getcontext(&ctx->uc) != 0)
        abort();
    default_fp_control(&ctx->uc);
    ctx->uc.uc_stack.ss_sp = lo;
    ctx->uc.uc_stack.ss_size = size;
    ctx->uc.uc_link = NULL;
    makecontext(&ctx->uc, (void (*)(void))start, 4,
                (unsigned)((uint64_t)e >> 32), (unsigned)e,
                (unsigned)((uint64_t)a >> 32), (unsigned)a);
}
