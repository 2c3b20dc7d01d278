/* SPDX-License-Identifier: MIT */
/*
 * x86-64: lay out a fresh context's first frame so that wf__ctx_switch()
 * "returns" into wf__ctx_trampoline with r12 = entry and r13 = arg.
 * The frame layout is the one documented in switch.S.
 */
#include <stdint.h>
#include <string.h>

#include "../ctx.h"

void wf__ctx_trampoline(void);

void wf__ctx_make(struct wf__ctx *ctx, void *lo, size_t size,
                  void (*entry)(void *arg), void *arg)
{
    uintptr_t top = ((uintptr_t)lo + size) & ~(uintptr_t)15;
    uint64_t *f = (uint64_t *)(top - 64);

    /* Default control words: all FP exceptions masked, round to nearest,
     * 64-bit x87 precision (what a new thread gets). */
    f[0] = 0x1F80u | ((uint64_t)0x037Fu << 32); /* MXCSR, x87 CW */
    f[1] = 0;                                   /* r15 */
    f[2] = 0;                                   /* r14 */
    f[3] = (uint64_t)(uintptr_t)arg;            /* r13 */
    f[4] = (uint64_t)(uintptr_t)entry;          /* r12 */
    f[5] = 0;                                   /* rbx */
    f[6] = 0;                                   /* rbp: ends frame-pointer walks */
    f[7] = (uint64_t)(uintptr_t)wf__ctx_trampoline + 1; /* past its nop */
    /* After `ret` pops f[7], rsp == top: 16-byte aligned before the call. */
    ctx->sp = f;
}
