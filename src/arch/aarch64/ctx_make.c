/* SPDX-License-Identifier: MIT */
/*
 * AArch64: lay out a fresh context's first frame so that wf__ctx_switch()
 * "returns" into wf__ctx_trampoline with x19 = entry and x20 = arg.
 * The frame layout is the one documented in switch.S; struct frame below
 * spells it out and the _Static_assert keeps the two in step.
 *
 * The frame sits at the aligned top of the stack, so after the switch pops
 * it sp is that top: 16-byte aligned, as AAPCS64 requires at every
 * instruction (not only at calls, as on x86-64). Saved x29 is 0, which ends
 * frame-pointer walks at the first frame of the context; the trampoline's
 * CFI ends CFI-based unwinds at the same place, even while the first switch
 * into the context is still restoring registers (hence the + 4 below).
 *
 * A fresh context starts with FPCR 0: round to nearest, no flush-to-zero,
 * no default NaN, IEEE half precision, no traps, which is what the kernel
 * gives a new process. The creator's FPCR is not inherited: fibers are
 * created and resumed on whichever worker, so inheriting would make a
 * fiber's rounding mode an accident of scheduling; and the x86-64 backend
 * starts a context with the default MXCSR and x87 control word likewise.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../ctx.h"

void wf__ctx_trampoline(void);

struct frame {
    uint64_t x29, x30;      /* frame record; x30 = where the switch returns */
    uint64_t x19_x28[10];   /* x19 = entry, x20 = arg for the trampoline */
    uint64_t d8_d15[8];
    uint64_t fpcr;
    uint64_t unused;        /* pads the frame to a multiple of 16 */
};
_Static_assert(sizeof(struct frame) == 176, "frame must match switch.S");
_Static_assert(offsetof(struct frame, fpcr) == 160, "FPCR slot of switch.S");
_Static_assert(sizeof(struct frame) % 16 == 0, "sp must stay 16-byte aligned");

void wf__ctx_make(struct wf__ctx *ctx, void *lo, size_t size,
                  void (*entry)(void *arg), void *arg)
{
    uintptr_t top = ((uintptr_t)lo + size) & ~(uintptr_t)15;
    struct frame *f = (struct frame *)(top - sizeof(struct frame));

    memset(f, 0, sizeof(*f)); /* x21-x28 and d8-d15 start as zero */
    f->x29 = 0;
    f->fpcr = 0; /* the default control state (see above) */
    /* Past the trampoline's leading nop (switch.S says why); AArch64
     * instructions are always 4 bytes. */
    f->x30 = (uint64_t)(uintptr_t)wf__ctx_trampoline + 4;
    f->x19_x28[0] = (uint64_t)(uintptr_t)entry;
    f->x19_x28[1] = (uint64_t)(uintptr_t)arg;
    ctx->sp = f;
}
