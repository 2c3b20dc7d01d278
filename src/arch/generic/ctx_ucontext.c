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
 */
#include <stdint.h>
#include <stdlib.h>

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

void wf__ctx_make(struct wf__ctx *ctx, void *lo, size_t size,
                  void (*entry)(void *arg), void *arg)
{
    uintptr_t e = (uintptr_t)entry, a = (uintptr_t)arg;

    if (getcontext(&ctx->uc) != 0)
        abort();
    ctx->uc.uc_stack.ss_sp = lo;
    ctx->uc.uc_stack.ss_size = size;
    ctx->uc.uc_link = NULL;
    makecontext(&ctx->uc, (void (*)(void))start, 4,
                (unsigned)((uint64_t)e >> 32), (unsigned)e,
                (unsigned)((uint64_t)a >> 32), (unsigned)a);
}
