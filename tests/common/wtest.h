/* SPDX-License-Identifier: MIT */
/*
 * tests/common/wtest.h - the tiny harness every weft test program uses.
 *
 * A test program lists its cases with WT_CASE(name), in one source file
 * or several; exactly one of them ends with WT_MAIN(), which defines the
 * shared case list and main(). Run with a case name it runs that case alone (ctest registers
 * each case as its own test, so each runs in its own process under a
 * timeout); run with no argument it runs every case in turn, each in a
 * child process. A case passes by returning, fails through WT_CHECK*
 * (which print file, line and the failed expression and exit 1), and is
 * skipped with WT_SKIP("why") (exit code 77, ctest's SKIP_RETURN_CODE).
 *
 * Stress cases read WT_SEED (default: from the clock) and WT_THREADS and
 * print the seed when they fail, so a failure can be replayed.
 */
#ifndef WEFT_TESTS_WTEST_H
#define WEFT_TESTS_WTEST_H

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The case list and the seed are shared by every source file of a test
 * program: declared here, defined once by WT_MAIN() (in the file that
 * holds main). Each WT_CASE appends its record to the list from a
 * constructor, before main runs; the list head and tail are constant-
 * initialised, so the order in which files' constructors run does not
 * matter (within a file, cases keep the order they are written in). */
struct wt_case {
    const char *name;
    void (*fn)(void);
    struct wt_case *next;
};

extern struct wt_case *wt_case_head;
extern struct wt_case **wt_case_tail;
extern uint64_t wt_seed_value;
extern int wt_seed_set;

static inline void wt_register(struct wt_case *c)
{
    c->next = NULL;
    *wt_case_tail = c;
    wt_case_tail = &c->next;
}

/* A function the compiler may neither inline nor analyse across: to read
 * the current thread's TLS address afresh, to keep a recursion's frames
 * and to defeat tail calls. */
#if defined(__clang__)
#define WT_OPAQUE __attribute__((noinline, optnone))
#else
#define WT_OPAQUE __attribute__((noinline, noipa))
#endif

#define WT_CASE(name)                                                      \
    static void wt_case_##name(void);                                      \
    static struct wt_case wt_rec_##name = {#name, wt_case_##name, NULL};   \
    __attribute__((constructor)) static void wt_register_##name(void)      \
    {                                                                      \
        wt_register(&wt_rec_##name);                                       \
    }                                                                      \
    static void wt_case_##name(void)

#define WT_FAIL(...)                                                       \
    do {                                                                   \
        fprintf(stderr, "%s:%d: FAIL: ", __FILE__, __LINE__);              \
        fprintf(stderr, __VA_ARGS__);                                      \
        fputc('\n', stderr);                                               \
        if (wt_seed_set)                                                   \
            fprintf(stderr, "(seed WT_SEED=%" PRIu64 ")\n", wt_seed_value); \
        fflush(stderr);                                                    \
        _exit(1);                                                          \
    } while (0)

#define WT_CHECK(cond)                                                     \
    do {                                                                   \
        if (!(cond))                                                       \
            WT_FAIL("%s", #cond);                                          \
    } while (0)

/* Compare two integers, printing both on failure. */
#define WT_CHECK_EQ(a, b)                                                  \
    do {                                                                   \
        long long wt_a_ = (long long)(a), wt_b_ = (long long)(b);          \
        if (wt_a_ != wt_b_)                                                \
            WT_FAIL("%s == %s (%lld != %lld)", #a, #b, wt_a_, wt_b_);      \
    } while (0)

#define WT_SKIP(...)                                                       \
    do {                                                                   \
        fprintf(stderr, "SKIP: ");                                         \
        fprintf(stderr, __VA_ARGS__);                                      \
        fputc('\n', stderr);                                               \
        exit(77);                                                          \
    } while (0)

/* The stress seed: WT_SEED from the environment, else from the clock. */
static inline uint64_t wt_seed(void)
{
    if (!wt_seed_set) {
        const char *s = getenv("WT_SEED");
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        wt_seed_value = s ? strtoull(s, NULL, 0)
                          : (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20);
        wt_seed_set = 1;
    }
    return wt_seed_value;
}

/* WT_THREADS from the environment, else dflt. */
static inline int wt_threads(int dflt)
{
    const char *s = getenv("WT_THREADS");
    return s && atoi(s) > 0 ? atoi(s) : dflt;
}

/* A small, fast, thread-safe-if-per-thread PRNG (xorshift64*). */
static inline uint64_t wt_rand(uint64_t *state)
{
    uint64_t x = *state ? *state : 0x9E3779B97F4A7C15ull;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1Dull;
}

/* Which sanitizer the program is built with (gcc and clang spell it
 * differently). */
#if defined(__SANITIZE_THREAD__)
#define WT_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define WT_TSAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define WT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WT_ASAN 1
#endif
#endif

/* Whether the program runs under a sanitizer (heavier: tests may scale
 * their counts down, never their checks). */
static inline int wt_sanitized(void)
{
#if defined(WT_TSAN) || defined(WT_ASAN)
    return 1;
#else
    return 0;
#endif
}

/* Whether the program runs under ThreadSanitizer (each fiber costs about
 * a millisecond there: tests scale fiber counts further). */
static inline int wt_under_tsan(void)
{
#if defined(WT_TSAN)
    return 1;
#else
    return 0;
#endif
}

/* Whether the program runs under valgrind (tests/valgrind.sh): it cannot
 * re-execute itself there (/proc/self/exe is valgrind's loader). */
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
static inline int wt_under_valgrind(void)
{
    return RUNNING_ON_VALGRIND != 0;
}
#else
static inline int wt_under_valgrind(void)
{
    return 0;
}
#endif

/* WEFT_TEST_SCALE from the environment: a divisor (default 1) for the
 * counts of the heaviest cases, on top of the sanitizers' (wtest_rt.h,
 * scaled()). tests/valgrind.sh sets it: valgrind runs one thread at a
 * time, 20 to 50 times slower, and cannot map a hundred thousand stacks. */
static inline long wt_scale_divisor(void)
{
    const char *s = getenv("WEFT_TEST_SCALE");
    long d = s ? atol(s) : 1;
    return d > 0 ? d : 1;
}

static inline int wt_run_one(const struct wt_case *c)
{
    c->fn();
    return 0;
}

/* Defines the case list and main(): once per test program. */
#define WT_MAIN()                                                          \
    struct wt_case *wt_case_head;                                          \
    struct wt_case **wt_case_tail = &wt_case_head;                         \
    uint64_t wt_seed_value;                                                \
    int wt_seed_set;                                                       \
    int main(int argc, char **argv)                                        \
    {                                                                      \
        const struct wt_case *c;                                           \
        if (argc > 1 && strcmp(argv[1], "--list") == 0) {                  \
            for (c = wt_case_head; c; c = c->next)                         \
                printf("%s\n", c->name);                                   \
            return 0;                                                      \
        }                                                                  \
        if (argc > 1) {                                                    \
            for (c = wt_case_head; c; c = c->next)                         \
                if (strcmp(argv[1], c->name) == 0)                         \
                    return wt_run_one(c);                                  \
            fprintf(stderr, "no test case '%s'\n", argv[1]);               \
            return 2;                                                      \
        }                                                                  \
        int ncases = 0, failed = 0, skipped = 0;                           \
        for (c = wt_case_head; c; c = c->next) {                           \
            fflush(NULL);                                                  \
            pid_t pid = fork();                                            \
            if (pid == 0)                                                  \
                _exit(wt_run_one(c));                                      \
            int st = 0;                                                    \
            waitpid(pid, &st, 0);                                          \
            int rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st); \
            printf("%-40s %s\n", c->name,                                  \
                   rc == 0 ? "ok" : rc == 77 ? "skipped" : "FAILED");      \
            ncases++;                                                      \
            failed += rc != 0 && rc != 77;                                 \
            skipped += rc == 77;                                           \
        }                                                                  \
        printf("%d passed, %d failed, %d skipped\n",                       \
               ncases - failed - skipped, failed, skipped);                \
        return failed ? 1 : 0;                                             \
    }

#endif
