/* SPDX-License-Identifier: MIT */
/*
 * tests/arch/test_arch.c - does the context switch keep its contract?
 *
 * Exercises wf__ctx_make / wf__ctx_switch (src/arch/ctx.h) directly, with
 * no scheduler above them, so the same file checks every backend: the
 * x86-64 and AArch64 assembly and the ucontext fallback. Stacks come from
 * mmap here, each with a PROT_NONE guard page below it, so a context that
 * overruns its stack faults instead of corrupting a neighbour.
 *
 * Register checks cannot be written in C: the compiler decides what lives
 * in callee-saved registers. ta_regs_switch (assembly at the end of this
 * file, one per CPU) loads chosen values into every callee-saved register,
 * calls wf__ctx_switch with nothing in between, and stores what the
 * registers hold when the switch returns. Both sides of a switch use it
 * with different values, so a register the switch fails to save or restore
 * shows up as the other side's value.
 *
 * Sanitizers cannot follow a raw stack switch by themselves. Every switch
 * here is announced: to ASan with __sanitizer_start_switch_fiber before and
 * __sanitizer_finish_switch_fiber after (a context leaving for good passes
 * NULL so its fake stack is freed), to TSan with one fiber per context.
 * Freed stacks are unpoisoned first, because the frames of a context that
 * never returned stay poisoned in ASan's shadow and the next mapping at the
 * same address would inherit that. No case needs to be skipped under a
 * sanitizer; the long ones only run fewer iterations there.
 */
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <unwind.h>

#include "arch/ctx.h"
#include "wtest.h"

#if defined(__SANITIZE_ADDRESS__)
#define TA_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TA_ASAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define TA_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TA_TSAN 1
#endif
#endif
#ifdef TA_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif
#ifdef TA_TSAN
#include <sanitizer/tsan_interface.h>
#endif

#ifndef WEFT_CTX_UCONTEXT
/* The assembly backends' first frame returns here (switch.S). */
void wf__ctx_trampoline(void);
#endif

/* ---- contexts and announced switches ------------------------------------ */

struct tctx {
    struct wf__ctx ctx;
    void (*body)(void *arg); /* run by fiber_entry; must end in ctx_exit */
    char *map;               /* whole mapping, guard page included */
    size_t maplen;
    char *lo;                /* the stack handed to wf__ctx_make */
    size_t size;
    const void *asan_lo;     /* stack bounds as ASan knows them */
    size_t asan_size;
    void *asan_fake;         /* ASan's fake stack while switched away */
    void *tsan_fiber;
    int finished;
};

/* The thread's own stack; its bounds reach ASan through the first
 * __sanitizer_finish_switch_fiber of a fresh context. */
static struct tctx main_ctx;
static struct tctx *cur = &main_ctx;
static struct tctx *prev; /* who switched to cur: set before each switch */

/* Called right before the raw switch, on the stack being left. Inlined
 * into the function that makes the switch: TSan keeps a shadow call stack
 * per fiber, and a helper returning after __tsan_switch_to_fiber would pop
 * its frame from the next fiber's shadow stack (clang 14 then crashes a few
 * switches later). */
static inline __attribute__((always_inline)) void
switch_prepare(struct tctx *to, int leaving_for_good)
{
    struct tctx *from = cur;

    prev = from;
    cur = to;
#ifdef TA_ASAN
    __sanitizer_start_switch_fiber(leaving_for_good ? NULL : &from->asan_fake,
                                   to->asan_lo, to->asan_size);
#else
    (void)from;
    (void)leaving_for_good;
#endif
#ifdef TA_TSAN
    __tsan_switch_to_fiber(to->tsan_fiber, 0);
#endif
}

/* Called first thing on the stack just resumed (or just started). */
static void switch_done(void)
{
#ifdef TA_ASAN
    __sanitizer_finish_switch_fiber(cur->asan_fake, &prev->asan_lo,
                                    &prev->asan_size);
#endif
}

static void switch_to(struct tctx *to)
{
    struct tctx *from = cur;

    switch_prepare(to, 0);
    wf__ctx_switch(&from->ctx, &to->ctx);
    switch_done();
}

/* A context's last switch: it is never resumed. */
static _Noreturn void ctx_exit(struct tctx *to)
{
    struct tctx *from = cur;

    from->finished = 1;
    switch_prepare(to, 1);
    wf__ctx_switch(&from->ctx, &to->ctx);
    WT_FAIL("a finished context was resumed");
}

static size_t page_size(void)
{
    return (size_t)sysconf(_SC_PAGESIZE);
}

/* Map `size` bytes of stack (rounded up to pages) plus `extra` accessible
 * bytes above it, with a guard page below. Reserved lazily: only the pages
 * a context touches cost memory. */
static void stack_map(struct tctx *c, size_t size, size_t extra)
{
    size_t pg = page_size();

    size = (size + pg - 1) / pg * pg;
    extra = (extra + pg - 1) / pg * pg;
    c->maplen = pg + size + extra;
    c->map = mmap(NULL, c->maplen, PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK,
                  -1, 0);
    WT_CHECK(c->map != MAP_FAILED);
    WT_CHECK(mprotect(c->map, pg, PROT_NONE) == 0);
    c->lo = c->map + pg;
    c->size = size;
}

static void stack_unmap(struct tctx *c)
{
#ifdef TA_ASAN
    __asan_unpoison_memory_region(c->lo, c->maplen - (size_t)(c->lo - c->map));
#endif
    WT_CHECK(munmap(c->map, c->maplen) == 0);
    c->map = NULL;
}

/* Make *c start with entry(arg) on [lo, lo + size), which the caller has
 * mapped (c->map). */
static void ctx_make_on(struct tctx *c, char *lo, size_t size,
                        void (*entry)(void *), void *arg)
{
    c->asan_lo = lo;
    c->asan_size = size;
    c->finished = 0;
#ifdef TA_TSAN
    if (!main_ctx.tsan_fiber)
        main_ctx.tsan_fiber = __tsan_get_current_fiber();
    c->tsan_fiber = __tsan_create_fiber(0);
#endif
    wf__ctx_make(&c->ctx, lo, size, entry, arg);
}

static void fiber_entry(void *arg)
{
    struct tctx *self = cur;

    switch_done();
    self->body(arg);
    WT_FAIL("a context body returned");
}

/* The usual way to start a context: body(arg) on a fresh mapped stack. */
static void ctx_start(struct tctx *c, size_t stack_size,
                      void (*body)(void *), void *arg)
{
    memset(c, 0, sizeof(*c));
    stack_map(c, stack_size, 0);
    c->body = body;
    ctx_make_on(c, c->lo, c->size, fiber_entry, arg);
}

static void ctx_free(struct tctx *c)
{
    WT_CHECK(c->finished);
#ifdef TA_TSAN
    __tsan_destroy_fiber(c->tsan_fiber);
#endif
    stack_unmap(c);
}

/* ---- ping-pong ------------------------------------------------------------ */

struct pingpong {
    uint64_t n;         /* round trips */
    uint64_t turn;      /* bumped once by each side per round trip */
    uint64_t fiber_sum; /* what the context's own stack accumulated */
};

static void pingpong_body(void *arg)
{
    struct pingpong *p = arg;
    volatile uint64_t mine[2] = {0, 0}; /* lives on this context's stack */

    for (uint64_t i = 0; i < p->n; i++) {
        WT_CHECK_EQ(p->turn, 2 * i + 1);
        p->turn++;
        mine[0] += i;
        mine[1] = i ^ 0x5555AAAAu;
        switch_to(&main_ctx);
        WT_CHECK_EQ(mine[1], i ^ 0x5555AAAAu);
    }
    p->fiber_sum = mine[0];
    ctx_exit(&main_ctx);
}

/* Two contexts hand control back and forth 1,000,000 times; each checks
 * the other moved exactly one step and that its own stack kept its
 * locals. */
WT_CASE(ping_pong)
{
    struct pingpong p = {.n = wt_sanitized() ? 100000 : 500000};
    volatile uint64_t mine = 0;
    struct tctx f;

    ctx_start(&f, 256 * 1024, pingpong_body, &p);
    for (uint64_t i = 0; i < p.n; i++) {
        WT_CHECK_EQ(p.turn, 2 * i);
        p.turn++;
        switch_to(&f);
        WT_CHECK_EQ(p.turn, 2 * i + 2);
        mine += i;
    }
    WT_CHECK(!f.finished);
    switch_to(&f); /* lets the body leave its loop and finish */
    WT_CHECK(f.finished);
    WT_CHECK_EQ(p.turn, 2 * p.n);
    WT_CHECK_EQ(p.fiber_sum, p.n * (p.n - 1) / 2);
    WT_CHECK_EQ(mine, p.n * (p.n - 1) / 2);
    ctx_free(&f);
}

/* ---- callee-saved registers ------------------------------------------------ */

#if defined(__x86_64__)
#define TA_NGPR 6 /* rbx rbp r12 r13 r14 r15 */
#define TA_NFPR 0 /* SysV has no callee-saved vector registers */
static const char *const reg_names[] = {"rbx", "rbp", "r12", "r13", "r14", "r15"};
#define TA_HAVE_REGS 1
#elif defined(__aarch64__)
#define TA_NGPR 11 /* x19-x29 */
#define TA_NFPR 8  /* d8-d15 */
static const char *const reg_names[] = {
    "x19", "x20", "x21", "x22", "x23", "x24", "x25", "x26", "x27", "x28",
    "x29", "d8", "d9", "d10", "d11", "d12", "d13", "d14", "d15"};
#define TA_HAVE_REGS 1
#endif

#ifdef TA_HAVE_REGS
#define TA_NSAVED (TA_NGPR + TA_NFPR)
_Static_assert(sizeof(reg_names) / sizeof(reg_names[0]) == TA_NSAVED,
               "one name per saved register");

/* Assembly below: load in[] into the callee-saved registers, call
 * wf__ctx_switch(from, to), store the registers into out[] when it
 * returns, and restore the caller's registers. */
void ta_regs_switch(const uint64_t *in, uint64_t *out, struct wf__ctx *from,
                    struct wf__ctx *to);

struct regs_run {
    int rounds;
    int first, last; /* the slots this case checks: [first, last) */
};

/* side 0 is the test's own thread, side 1 the other context. Values differ
 * per side, per register and per round, and use all 64 bits. */
static void regs_pattern(uint64_t *v, int side, int round)
{
    for (int i = 0; i < TA_NSAVED; i++) {
        uint64_t x = 0x0123456789ABCDEFu * (uint64_t)(i + 1) +
                     ((uint64_t)round << 20);
        v[i] = side ? ~x : x;
    }
}

static void regs_check(const struct regs_run *rr, const uint64_t *in,
                       const uint64_t *out, const char *who, int round)
{
    for (int i = rr->first; i < rr->last; i++)
        if (out[i] != in[i])
            WT_FAIL("%s, round %d: %s is %#" PRIx64 " after the switch, "
                    "was %#" PRIx64, who, round, reg_names[i], out[i], in[i]);
}

static void regs_switch_to(const uint64_t *in, uint64_t *out, struct tctx *to)
{
    struct tctx *from = cur;

    switch_prepare(to, 0);
    ta_regs_switch(in, out, &from->ctx, &to->ctx);
    switch_done();
}

static void regs_body(void *arg)
{
    const struct regs_run *rr = arg;
    uint64_t in[TA_NSAVED], out[TA_NSAVED];

    for (int r = 0; r < rr->rounds; r++) {
        regs_pattern(in, 1, r);
        memset(out, 0, sizeof(out));
        regs_switch_to(in, out, &main_ctx);
        regs_check(rr, in, out, "switched-to context", r);
    }
    ctx_exit(&main_ctx);
}

/* Each side suspends with its own values in every callee-saved register
 * while the other side runs with different ones; both check theirs when
 * resumed. */
static void regs_run(int first, int last)
{
    struct regs_run rr = {.rounds = 100, .first = first, .last = last};
    uint64_t in[TA_NSAVED], out[TA_NSAVED];
    struct tctx f;

    ctx_start(&f, 256 * 1024, regs_body, &rr);
    switch_to(&f); /* the body parks in its first ta_regs_switch */
    for (int r = 0; r < rr.rounds; r++) {
        regs_pattern(in, 0, r);
        memset(out, 0, sizeof(out));
        regs_switch_to(in, out, &f);
        regs_check(&rr, in, out, "main context", r);
    }
    WT_CHECK(f.finished);
    ctx_free(&f);
}
#endif /* TA_HAVE_REGS */

WT_CASE(callee_saved_gprs)
{
#ifdef TA_HAVE_REGS
    regs_run(0, TA_NGPR);
#else
    WT_SKIP("no register probe for this CPU");
#endif
}

#if defined(__x86_64__)
/* x86-64 SysV preserves no vector registers, but the MXCSR control bits
 * and the x87 control word are callee-saved: each context keeps its own
 * rounding and precision. The two sides differ in every field set. */
struct fpenv {
    unsigned mxcsr;
    unsigned short fcw;
    double q;       /* 1/3 in SSE: shows the MXCSR rounding at work */
    long double lq; /* 1/3 in x87: shows the control word at work */
};

static void fp_set(unsigned mxcsr, unsigned short fcw)
{
    __asm__ __volatile__("ldmxcsr %0" : : "m"(mxcsr));
    __asm__ __volatile__("fldcw %0" : : "m"(fcw));
}

static void fp_get(struct fpenv *e)
{
    volatile double one = 1.0, three = 3.0;
    volatile long double lone = 1.0L, lthree = 3.0L;
    volatile double q;
    volatile long double lq;

    __asm__ __volatile__("stmxcsr %0" : "=m"(e->mxcsr));
    __asm__ __volatile__("fnstcw %0" : "=m"(e->fcw));
    q = one / three;
    lq = lone / lthree;
    e->q = q;
    e->lq = lq;
}

static void fp_check(const struct fpenv *want, const char *who, int round)
{
    struct fpenv now;

    fp_get(&now);
    /* Only the control bits: the divisions in fp_get raise the sticky
     * precision flag (bit 5) in the MXCSR status bits 0-5. */
    if ((now.mxcsr & ~0x3Fu) != (want->mxcsr & ~0x3Fu) || now.fcw != want->fcw)
        WT_FAIL("%s, round %d: MXCSR %#x x87 CW %#x, expected %#x %#x", who,
                round, now.mxcsr, now.fcw, want->mxcsr, want->fcw);
    WT_CHECK(now.q == want->q);
    WT_CHECK(now.lq == want->lq);
}

/* Round toward zero, x87 round down at double precision; and for the
 * other context round up with flush-to-zero, x87 round up at single. */
#define FP_MAIN_MXCSR 0x7F80u
#define FP_MAIN_FCW 0x067Fu
#define FP_OTHER_MXCSR 0xDF80u
#define FP_OTHER_FCW 0x087Fu
#define FP_ROUNDS 20

static void fp_body(void *arg)
{
    struct fpenv *other = arg;

    fp_set(FP_OTHER_MXCSR, FP_OTHER_FCW);
    fp_get(other);
    for (int r = 0; r < FP_ROUNDS; r++) {
        switch_to(&main_ctx);
        fp_check(other, "switched-to context", r);
    }
    ctx_exit(&main_ctx);
}

static void fp_run(void)
{
    struct fpenv mine, other;
    struct fpenv saved;
    struct tctx f;

    fp_get(&saved);
    ctx_start(&f, 256 * 1024, fp_body, &other);
    fp_set(FP_MAIN_MXCSR, FP_MAIN_FCW);
    fp_get(&mine);
    for (int r = 0; r < FP_ROUNDS; r++) {
        switch_to(&f);
        fp_check(&mine, "main context", r);
    }
    /* The modes really differ in effect, not only in bits. */
    WT_CHECK(mine.q != other.q);
    WT_CHECK(mine.lq != other.lq);
    switch_to(&f);
    fp_check(&mine, "main context", FP_ROUNDS);
    WT_CHECK(f.finished);
    ctx_free(&f);
    fp_set(saved.mxcsr, saved.fcw);
}
#endif

WT_CASE(callee_saved_fp)
{
#if defined(__x86_64__)
    fp_run();
#elif defined(TA_HAVE_REGS)
    regs_run(TA_NGPR, TA_NSAVED);
#else
    WT_SKIP("no register probe for this CPU");
#endif
}

/* ---- FP control state per context ------------------------------------------ */

/* A context's FP control state (rounding mode and the like) is its own, as
 * a thread's is: whatever one context sets must not leak into another, and
 * a fresh context starts from the default, whatever its creator had set
 * (fibers move between workers, so "the creator's" would be an accident of
 * scheduling). fpc_get() reads the control state as one number:
 *   x86-64:  MXCSR without its status bits 0-5, x87 control word << 32
 *   AArch64: FPCR (RMode bits 22-23, FZ 24, DN 25, AHP 26, ...)
 * Written straight to the registers, not with fesetround(), so that the
 * test needs no libm and also covers the control bits fenv.h does not
 * name. */
#if defined(__x86_64__)
#define TA_HAVE_FPC 1
static uint64_t fpc_get(void)
{
    unsigned mxcsr;
    unsigned short fcw;

    __asm__ __volatile__("stmxcsr %0" : "=m"(mxcsr));
    __asm__ __volatile__("fnstcw %0" : "=m"(fcw));
    return (mxcsr & ~0x3Fu) | (uint64_t)fcw << 32;
}

static void fpc_set(uint64_t v)
{
    unsigned mxcsr = (unsigned)v;
    unsigned short fcw = (unsigned short)(v >> 32);

    __asm__ __volatile__("ldmxcsr %0" : : "m"(mxcsr) : "memory");
    __asm__ __volatile__("fldcw %0" : : "m"(fcw) : "memory");
}

/* Default: everything masked, round to nearest, x87 extended precision.
 * A: round up in both units. B: round down with flush-to-zero, x87 round
 * down at single precision. */
#define FPC_DEFAULT (0x1F80u | (uint64_t)0x037Fu << 32)
#define FPC_A (0x5F80u | (uint64_t)0x0B7Fu << 32)
#define FPC_B (0xBF80u | (uint64_t)0x047Fu << 32)
#elif defined(__aarch64__)
#define TA_HAVE_FPC 1
static uint64_t fpc_get(void)
{
    uint64_t v;

    __asm__ __volatile__("mrs %0, fpcr" : "=r"(v) : : "memory");
    return v;
}

static void fpc_set(uint64_t v)
{
    __asm__ __volatile__("msr fpcr, %0" : : "r"(v) : "memory");
}

/* Default: all zero (what a new process gets). A: round toward +inf with
 * flush-to-zero. B: round toward -inf, default NaN, alternative half
 * precision. (The trap-enable bits are left out: most cores, and qemu,
 * implement them as RAZ/WI.) */
#define FPC_DEFAULT ((uint64_t)0)
#define FPC_A ((uint64_t)1 << 22 | (uint64_t)1 << 24)
#define FPC_B ((uint64_t)2 << 22 | (uint64_t)1 << 25 | (uint64_t)1 << 26)
#endif

#ifdef TA_HAVE_FPC
#define FPC_ROUNDS 20

struct fpc_share {
    uint64_t entry_fpc; /* what the fresh context found on entry */
    double entry_q;
    double q_b;         /* 1/3 under FPC_B */
};

/* 1/3 in double precision, computed now under the current rounding mode
 * (volatile operands: nothing for the compiler to fold). Upward and
 * downward rounding give results one ulp apart. */
static double third(void)
{
    volatile double one = 1.0, three = 3.0;

    return one / three;
}

static void fpc_check(uint64_t want, double q_want, const char *who,
                      int round)
{
    uint64_t now = fpc_get();
    double q = third();

    if (now != want)
        WT_FAIL("%s, round %d: FP control %#" PRIx64 ", expected %#" PRIx64,
                who, round, now, want);
    if (q != q_want)
        WT_FAIL("%s, round %d: 1/3 is %a, expected %a", who, round, q, q_want);
}

static void fpc_body(void *arg)
{
    struct fpc_share *s = arg;

    s->entry_fpc = fpc_get();
    s->entry_q = third();
    fpc_set(FPC_B);
    s->q_b = third();
    for (int r = 0; r < FPC_ROUNDS; r++) {
        switch_to(&main_ctx);
        fpc_check(FPC_B, s->q_b, "switched-to context", r);
    }
    ctx_exit(&main_ctx);
}
#endif /* TA_HAVE_FPC */

/* The main context sets mode A and only then creates the other context,
 * which must start in the default mode and sets mode B; across 20 round
 * trips each side must find its own mode (bits and effect) whenever it is
 * resumed. */
WT_CASE(fp_control_per_context)
{
#ifdef TA_HAVE_FPC
    struct fpc_share s = {0};
    uint64_t saved = fpc_get();
    double q_default, q_a;
    struct tctx f;

    fpc_set(FPC_DEFAULT);
    q_default = third();
    fpc_set(FPC_A);
    q_a = third();
    ctx_start(&f, 256 * 1024, fpc_body, &s);
    for (int r = 0; r < FPC_ROUNDS; r++) {
        switch_to(&f);
        fpc_check(FPC_A, q_a, "main context", r);
    }
    switch_to(&f); /* lets the body leave its loop and finish */
    WT_CHECK(f.finished);
    fpc_check(FPC_A, q_a, "main context", FPC_ROUNDS);
    if (s.entry_fpc != FPC_DEFAULT)
        WT_FAIL("fresh context started with FP control %#" PRIx64
                ", expected the default %#" PRIx64 " (its creator had %#"
                PRIx64 ")", s.entry_fpc, (uint64_t)FPC_DEFAULT,
                (uint64_t)FPC_A);
    WT_CHECK(s.entry_q == q_default);
    /* The modes really differ in effect, not only in bits. */
    WT_CHECK(q_a != s.q_b);
    ctx_free(&f);
    fpc_set(saved);
#else
    WT_SKIP("no FP control probe for this CPU");
#endif
}

/* ---- a fresh context's first frame ------------------------------------------ */

/* ta_probe_entry (assembly below) stores the stack pointer it was entered
 * with in probe->entry_sp, then jumps to ta_probe_body(probe). */
struct probe {
    uintptr_t entry_sp; /* first member: the assembly stores here */
    uintptr_t frame;
    uintptr_t aligned_local;
    int ran;
};

void ta_probe_entry(void *probe);
void ta_probe_body(struct probe *p);

void ta_probe_body(struct probe *p)
{
    _Alignas(16) volatile unsigned char local[16];

    switch_done();
    local[0] = 1;
    p->frame = (uintptr_t)__builtin_frame_address(0);
    p->aligned_local = (uintptr_t)&local[0];
    p->ran++;
    ctx_exit(&main_ctx);
}

/* Entry finds the stack as a call would leave it (x86-64: sp + 8 on a
 * 16-byte boundary; AArch64: sp on one), whatever the alignment of the
 * memory handed to wf__ctx_make, and the context writes nothing outside
 * [lo, lo + size). */
WT_CASE(fresh_stack_aligned)
{
    static const size_t offs[] = {0, 1, 8, 13};
    static const size_t trims[] = {0, 3, 8, 15};
    const size_t region = 64 * 1024;

    for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
        for (size_t j = 0; j < sizeof(trims) / sizeof(trims[0]); j++) {
            struct probe p = {0};
            struct tctx c = {0};

            stack_map(&c, region, page_size());
            memset(c.lo, 0xA5, c.maplen - page_size());
            char *lo = c.lo + offs[i];
            size_t size = region - offs[i] - trims[j];
            uintptr_t top = (uintptr_t)(lo + size);

            ctx_make_on(&c, lo, size, ta_probe_entry, &p);
            switch_to(&c);
            WT_CHECK_EQ(p.ran, 1);
            WT_CHECK(c.finished);
#if defined(__x86_64__)
            WT_CHECK_EQ(p.entry_sp % 16, 8);
#elif defined(__aarch64__)
            WT_CHECK_EQ(p.entry_sp % 16, 0);
#endif
            WT_CHECK_EQ(p.frame % 16, 0);
            WT_CHECK_EQ(p.aligned_local % 16, 0);
            /* Entered near the top of its own stack (on AArch64 a call
             * pushes nothing, so sp may be the top itself). */
            WT_CHECK(p.entry_sp <= top && p.entry_sp > top - 1024);
            /* Nothing written below lo or at or above lo + size. */
            for (char *b = c.lo; b < lo; b++)
                WT_CHECK_EQ((unsigned char)*b, 0xA5);
            for (char *b = lo + size; b < c.map + c.maplen; b++)
                WT_CHECK_EQ((unsigned char)*b, 0xA5);
#ifdef TA_TSAN
            __tsan_destroy_fiber(c.tsan_fiber);
#endif
            stack_unmap(&c);
        }
    }
}

/* ---- entry's argument --------------------------------------------------------- */

static uintptr_t arg_seen;
static int arg_calls;

static void arg_body(void *arg)
{
    arg_seen = (uintptr_t)arg;
    arg_calls++;
    ctx_exit(&main_ctx);
}

static void arg_deref_body(void *arg)
{
    uint64_t *v = arg;

    *v = ~*v; /* the pointer works, not only its bits */
    arg_calls++;
    ctx_exit(&main_ctx);
}

/* entry(arg) gets arg bit for bit: zero, each half of a 64-bit pointer
 * with and without its top bit (the ucontext backend splits pointers into
 * 32-bit halves), all ones, and a real pointer. */
WT_CASE(entry_argument)
{
    static const uint64_t vals[] = {
        0, 1, 0x7FFFFFFFu, 0x80000000u, 0xFFFFFFFFu, 0x100000000u,
        0x80000000FFFFFFFFu, 0xFEDCBA9876543210u, 0x8000000000000000u,
        UINT64_MAX};
    uint64_t target = 0x1122334455667788u;
    struct tctx c;

    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
        uintptr_t v = (uintptr_t)vals[i];

        if ((uint64_t)v != vals[i])
            continue; /* wider than a pointer here */
        arg_calls = 0;
        arg_seen = ~v;
        ctx_start(&c, 64 * 1024, arg_body, (void *)v);
        switch_to(&c);
        WT_CHECK_EQ(arg_calls, 1);
        if (arg_seen != v)
            WT_FAIL("entry got %#" PRIxPTR ", expected %#" PRIxPTR, arg_seen, v);
        ctx_free(&c);
    }

    arg_calls = 0;
    ctx_start(&c, 64 * 1024, arg_deref_body, &target);
    switch_to(&c);
    WT_CHECK_EQ(arg_calls, 1);
    WT_CHECK(target == ~(uint64_t)0x1122334455667788u);
    ctx_free(&c);
}

/* ---- deep recursion ------------------------------------------------------------ */

struct deep {
    unsigned depth;
    int pauses;
    uintptr_t deepest;    /* frame address at the bottom of the recursion */
    uint64_t result;
};

#define DEEP_K 0x9E3779B97F4A7C15u

static __attribute__((noinline)) uint64_t deep_rec(struct deep *d, unsigned n)
{
    volatile uint64_t pad[2]; /* keeps a real frame per level */
    uint64_t r;

    pad[0] = (uint64_t)n * DEEP_K;
    pad[1] = n;
    if (n == 0 || n == d->depth / 2) {
        if (n == 0)
            d->deepest = (uintptr_t)__builtin_frame_address(0);
        d->pauses++;
        switch_to(&main_ctx); /* park with the recursion in flight */
    }
    r = n ? deep_rec(d, n - 1) : 0;
    WT_CHECK_EQ(pad[1], n);
    return r * 31 + pad[0];
}

static void deep_body(void *arg)
{
    struct deep *d = arg;

    d->result = deep_rec(d, d->depth);
    ctx_exit(&main_ctx);
}

/* Scribbles over the thread's own stack while the context is parked. */
static __attribute__((noinline)) uint64_t main_rec(unsigned n)
{
    volatile uint64_t pad[8];

    for (int i = 0; i < 8; i++)
        pad[i] = n + (unsigned)i;
    return n ? main_rec(n - 1) + pad[7] : pad[0];
}

/* 50,000 nested calls on a context's stack, parked twice mid-way while the
 * thread's own stack is used; every frame must come back intact. */
WT_CASE(deep_recursion)
{
    struct deep d = {.depth = 50000};
    uint64_t want = 0;
    struct tctx c;

    ctx_start(&c, 32u << 20, deep_body, &d);
    switch_to(&c);
    WT_CHECK_EQ(d.pauses, 1);
    WT_CHECK(main_rec(1000) > 0);
    switch_to(&c);
    WT_CHECK_EQ(d.pauses, 2);
    WT_CHECK(main_rec(1000) > 0);
    switch_to(&c);
    WT_CHECK(c.finished);

    for (unsigned n = 1; n <= d.depth; n++)
        want = want * 31 + (uint64_t)n * DEEP_K;
    WT_CHECK(d.result == want);
    /* The recursion really ran on the context's stack, at least 16 bytes
     * (return address and frame pointer) a level. */
    uintptr_t top = (uintptr_t)(c.lo + c.size);
    WT_CHECK(d.deepest >= (uintptr_t)c.lo && d.deepest < top);
    WT_CHECK(top - d.deepest >= (uintptr_t)d.depth * 16);
    ctx_free(&c);
}

/* ---- many contexts --------------------------------------------------------------- */

#define RING_N 1000

static struct {
    struct tctx *c;
    int rounds;
    uint64_t token;  /* bumped by each context as it runs */
    int finished;
} ring;

static void ring_body(void *arg)
{
    const int id = (int)(uintptr_t)arg; /* on this context's stack */
    struct tctx *next = id + 1 < RING_N ? &ring.c[id + 1] : &main_ctx;
    int r;

    for (r = 0; r < ring.rounds; r++) {
        WT_CHECK_EQ(ring.token, (uint64_t)r * RING_N + (uint64_t)id);
        ring.token++;
        switch_to(next);
    }
    WT_CHECK_EQ(ring.token, (uint64_t)r * RING_N + (uint64_t)id);
    ring.token++;
    ring.finished++;
    ctx_exit(next);
}

/* 1000 contexts pass control straight to one another round-robin, the
 * last back to the thread; each must run exactly in its turn. */
WT_CASE(round_robin_1000)
{
    ring.rounds = wt_sanitized() ? 20 : 50;
    ring.c = calloc(RING_N, sizeof(*ring.c));
    WT_CHECK(ring.c != NULL);
    for (int i = 0; i < RING_N; i++)
        ctx_start(&ring.c[i], 64 * 1024, ring_body, (void *)(uintptr_t)i);

    for (int r = 0; r < ring.rounds; r++) {
        switch_to(&ring.c[0]);
        WT_CHECK_EQ(ring.token, (uint64_t)(r + 1) * RING_N);
        WT_CHECK_EQ(ring.finished, 0);
    }
    switch_to(&ring.c[0]); /* one more pass: each leaves its loop and ends */
    WT_CHECK_EQ(ring.finished, RING_N);
    WT_CHECK_EQ(ring.token, (uint64_t)(ring.rounds + 1) * RING_N);
    for (int i = 0; i < RING_N; i++)
        ctx_free(&ring.c[i]);
    free(ring.c);
}

/* ---- unwinding --------------------------------------------------------------------- */

struct unwind_run {
    int rc;
    int n;
    uintptr_t ip[64];
};

static _Unwind_Reason_Code unwind_step(struct _Unwind_Context *uc, void *arg)
{
    struct unwind_run *u = arg;

    if (u->n == 64)
        return _URC_NORMAL_STOP; /* runaway: _Unwind_Backtrace fails */
    u->ip[u->n++] = (uintptr_t)_Unwind_GetIP(uc);
    return _URC_NO_REASON;
}

static __attribute__((noinline)) void unwind_collect(struct unwind_run *u)
{
    u->rc = _Unwind_Backtrace(unwind_step, u);
}

static void unwind_body(void *arg)
{
    unwind_collect(arg);
    ctx_exit(&main_ctx);
}

#ifndef WEFT_CTX_UCONTEXT
/* libgcc's lookup of the FDE covering pc (exported since GCC 3.0). */
struct dwarf_eh_bases {
    void *tbase;
    void *dbase;
    void *func;
};
const void *_Unwind_Find_FDE(void *pc, struct dwarf_eh_bases *bases);
#endif

/* A backtrace taken inside a context ends cleanly at the context's first
 * frame (the trampoline, whose CFI marks the return address undefined)
 * instead of running off the top of the stack. The page above the stack
 * holds garbage, so an unwinder that looked for a return address there
 * would report a bogus frame (without it, it might find a 0 and stop
 * anyway). */
WT_CASE(unwind_ends_at_context_start)
{
    struct unwind_run u = {0};
    struct tctx c = {0};

    stack_map(&c, 256 * 1024, page_size());
    memset(c.lo + c.size, 0xA5, page_size());
    c.body = unwind_body;
    ctx_make_on(&c, c.lo, c.size, fiber_entry, &u);
    switch_to(&c);
    WT_CHECK(c.finished);
    WT_CHECK_EQ(u.rc, _URC_END_OF_STACK);
    /* unwind_collect, unwind_body, fiber_entry and the start frame at
     * least; libgcc reports the outermost frame's caller as pc 0. */
    while (u.n > 0 && u.ip[u.n - 1] == 0)
        u.n--;
    WT_CHECK(u.n >= 4 && u.n < 16);
#ifndef WEFT_CTX_UCONTEXT
    uintptr_t tramp = (uintptr_t)wf__ctx_trampoline;
    uintptr_t last = u.ip[u.n - 1];
    struct dwarf_eh_bases bases;

    WT_CHECK(last > tramp && last - tramp <= 16);
    WT_CHECK(_Unwind_Find_FDE((void *)(last - 1), &bases) != NULL);
    WT_CHECK((uintptr_t)bases.func == tramp);
#endif
    ctx_free(&c);
}

/* ---- assembly probes ---------------------------------------------------------------- */

#if defined(__x86_64__)
__asm__(
    ".pushsection .text\n"
    ".globl ta_regs_switch\n"
    ".type ta_regs_switch, @function\n"
    ".p2align 4\n"
    "ta_regs_switch:\n"                 /* rdi in, rsi out, rdx from, rcx to */
    "   .cfi_startproc\n"
    "   pushq %rbp\n"
    "   .cfi_adjust_cfa_offset 8\n"
    "   .cfi_rel_offset %rbp, 0\n"
    "   pushq %rbx\n"
    "   .cfi_adjust_cfa_offset 8\n"
    "   .cfi_rel_offset %rbx, 0\n"
    "   pushq %r12\n"
    "   .cfi_adjust_cfa_offset 8\n"
    "   .cfi_rel_offset %r12, 0\n"
    "   pushq %r13\n"
    "   .cfi_adjust_cfa_offset 8\n"
    "   .cfi_rel_offset %r13, 0\n"
    "   pushq %r14\n"
    "   .cfi_adjust_cfa_offset 8\n"
    "   .cfi_rel_offset %r14, 0\n"
    "   pushq %r15\n"
    "   .cfi_adjust_cfa_offset 8\n"
    "   .cfi_rel_offset %r15, 0\n"
    "   pushq %rsi\n"                   /* out; rsp is now 16-aligned */
    "   .cfi_adjust_cfa_offset 8\n"
    "   movq 0(%rdi), %rbx\n"
    "   movq 8(%rdi), %rbp\n"
    "   movq 16(%rdi), %r12\n"
    "   movq 24(%rdi), %r13\n"
    "   movq 32(%rdi), %r14\n"
    "   movq 40(%rdi), %r15\n"
    "   movq %rdx, %rdi\n"
    "   movq %rcx, %rsi\n"
    "   call wf__ctx_switch\n"
    "   popq %rax\n"
    "   .cfi_adjust_cfa_offset -8\n"
    "   movq %rbx, 0(%rax)\n"
    "   movq %rbp, 8(%rax)\n"
    "   movq %r12, 16(%rax)\n"
    "   movq %r13, 24(%rax)\n"
    "   movq %r14, 32(%rax)\n"
    "   movq %r15, 40(%rax)\n"
    "   popq %r15\n"
    "   .cfi_adjust_cfa_offset -8\n"
    "   popq %r14\n"
    "   .cfi_adjust_cfa_offset -8\n"
    "   popq %r13\n"
    "   .cfi_adjust_cfa_offset -8\n"
    "   popq %r12\n"
    "   .cfi_adjust_cfa_offset -8\n"
    "   popq %rbx\n"
    "   .cfi_adjust_cfa_offset -8\n"
    "   popq %rbp\n"
    "   .cfi_adjust_cfa_offset -8\n"
    "   ret\n"
    "   .cfi_endproc\n"
    ".size ta_regs_switch, .-ta_regs_switch\n"
    "\n"
    ".globl ta_probe_entry\n"
    ".type ta_probe_entry, @function\n"
    ".p2align 4\n"
    "ta_probe_entry:\n"                 /* rdi = struct probe * */
    "   .cfi_startproc\n"
    "   movq %rsp, (%rdi)\n"
    "   jmp ta_probe_body\n"
    "   .cfi_endproc\n"
    ".size ta_probe_entry, .-ta_probe_entry\n"
    ".popsection\n");
#elif defined(__aarch64__)
/* `hint 34` is BTI c, a no-op where BTI is off: both may be reached by
 * an indirect call (the probe always is, from the trampoline). */
__asm__(
    ".pushsection .text\n"
    ".globl ta_regs_switch\n"
    ".type ta_regs_switch, %function\n"
    ".p2align 4\n"
    "ta_regs_switch:\n"                 /* x0 in, x1 out, x2 from, x3 to */
    "   .cfi_startproc\n"
    "   hint 34\n"
    "   stp x29, x30, [sp, #-176]!\n"
    "   .cfi_def_cfa_offset 176\n"
    "   .cfi_offset x29, -176\n"
    "   .cfi_offset x30, -168\n"
    "   mov x29, sp\n"
    "   stp x19, x20, [sp, #16]\n"
    "   stp x21, x22, [sp, #32]\n"
    "   stp x23, x24, [sp, #48]\n"
    "   stp x25, x26, [sp, #64]\n"
    "   stp x27, x28, [sp, #80]\n"
    "   stp d8, d9, [sp, #96]\n"
    "   stp d10, d11, [sp, #112]\n"
    "   stp d12, d13, [sp, #128]\n"
    "   stp d14, d15, [sp, #144]\n"
    "   str x1, [sp, #160]\n"
    "   ldp x19, x20, [x0, #0]\n"
    "   ldp x21, x22, [x0, #16]\n"
    "   ldp x23, x24, [x0, #32]\n"
    "   ldp x25, x26, [x0, #48]\n"
    "   ldp x27, x28, [x0, #64]\n"
    "   ldr x29, [x0, #80]\n"
    "   ldp d8, d9, [x0, #88]\n"
    "   ldp d10, d11, [x0, #104]\n"
    "   ldp d12, d13, [x0, #120]\n"
    "   ldp d14, d15, [x0, #136]\n"
    "   mov x0, x2\n"
    "   mov x1, x3\n"
    "   bl wf__ctx_switch\n"
    "   ldr x1, [sp, #160]\n"
    "   stp x19, x20, [x1, #0]\n"
    "   stp x21, x22, [x1, #16]\n"
    "   stp x23, x24, [x1, #32]\n"
    "   stp x25, x26, [x1, #48]\n"
    "   stp x27, x28, [x1, #64]\n"
    "   str x29, [x1, #80]\n"
    "   stp d8, d9, [x1, #88]\n"
    "   stp d10, d11, [x1, #104]\n"
    "   stp d12, d13, [x1, #120]\n"
    "   stp d14, d15, [x1, #136]\n"
    "   ldp x19, x20, [sp, #16]\n"
    "   ldp x21, x22, [sp, #32]\n"
    "   ldp x23, x24, [sp, #48]\n"
    "   ldp x25, x26, [sp, #64]\n"
    "   ldp x27, x28, [sp, #80]\n"
    "   ldp d8, d9, [sp, #96]\n"
    "   ldp d10, d11, [sp, #112]\n"
    "   ldp d12, d13, [sp, #128]\n"
    "   ldp d14, d15, [sp, #144]\n"
    "   ldp x29, x30, [sp], #176\n"
    "   .cfi_def_cfa_offset 0\n"
    "   .cfi_restore x29\n"
    "   .cfi_restore x30\n"
    "   ret\n"
    "   .cfi_endproc\n"
    ".size ta_regs_switch, .-ta_regs_switch\n"
    "\n"
    ".globl ta_probe_entry\n"
    ".type ta_probe_entry, %function\n"
    ".p2align 4\n"
    "ta_probe_entry:\n"                 /* x0 = struct probe * */
    "   .cfi_startproc\n"
    "   hint 34\n"
    "   mov x9, sp\n"
    "   str x9, [x0]\n"
    "   b ta_probe_body\n"
    "   .cfi_endproc\n"
    ".size ta_probe_entry, .-ta_probe_entry\n"
    ".popsection\n");
#else
/* No probe for this CPU: the register cases skip; the alignment case gets
 * the entry sp from a C entry instead (only the frame checks apply). */
void ta_probe_entry(void *probe)
{
    ((struct probe *)probe)->entry_sp = (uintptr_t)__builtin_frame_address(0);
    ta_probe_body(probe);
}
#endif

WT_MAIN()
