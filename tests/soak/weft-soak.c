/* SPDX-License-Identifier: MIT */
/*
 * weft-soak - a mixed workload run for a long time (scripts/soak.sh; a
 * few seconds of it in every test run: ctest label soak), checking as it
 * goes that each part of the runtime keeps its promises, and at the end
 * that nothing was left behind.
 *
 *   weft-soak [--seconds N | --minutes N] [--seed S] [--workers W]
 *             [--warmup-rounds K] [--only WORKLOAD] [--verbose]
 *
 * The program works in rounds. A round opens a scope and runs eight
 * workloads in it at once, each a few hundred fibers that end by
 * themselves:
 *   scopes    members spawned into join sets and fail-fast scopes with a
 *             deadline, cancelled while they compute, sleep or wait;
 *             every member returns, each cancelled wait says WF_ECANCELED
 *   chan      producers send numbered values on buffered and unbuffered
 *             channels (plain sends and select sends with deadlines),
 *             consumers select over them and a ticker channel with a
 *             deadline; what arrived equals what was sent (count, sum, xor)
 *   locks     a mutex-protected plain counter, an rwlock pair that readers
 *             must find equal, a semaphore's occupancy bound, a barrier's
 *             phases, a condition-variable queue, a wait group
 *   par       parallel for / reduce / scan / sort from fibers at once:
 *             sums against closed forms, sorted order and checksums
 *   timers    weft/timer.h timers started and stopped at random: each
 *             start ends in exactly one callback or one stop that says so
 *   futures   promises completed, failed or cancelled, wf_async results
 *             under when_all, wf_blocking calls
 *   sockets   clients on loopback exchange echoed messages with a server,
 *             disconnecting at random (early close, reset, a read that
 *             times out, a blocked read cancelled); echoes are
 *             byte-exact, accepts equal connects, every handler ends
 *   files     temporary files (in a directory of TMPDIR, removed at the
 *             end) written in shuffled blocks, fsynced, read back and
 *             compared, closed and removed
 * A round ends when all of them have returned; then main waits for the
 * fibers on their way out and checks that only main is alive
 * (wf_fibers_alive and wf_stats' fibers_live) and that the descriptors
 * are those open after the first round. Round sizes are fixed (the seed
 * varies only choices), so a round does the same amount of work under
 * any build; the duration only sets how many rounds run.
 *
 * End state, printed and checked:
 *   - descriptors (/proc/self/fd) after wf_run returns: exactly as many
 *     as before it started; after every round: exactly as many as after
 *     the first;
 *   - live fibers after every round: 1 (main); fibers discarded by the
 *     runtime's stop: 0;
 *   - malloc's heap in use and resident memory at the end of every round
 *     after the warm-up (the first --warmup-rounds rounds, default 3, and
 *     at least 10% of the run): at most the warm-up's peak plus
 *     HEAP_SLACK and RSS_SLACK (see below; not under a sanitizer or
 *     valgrind, whose allocators make both meaningless);
 *   - every invariant above held.
 * Exit 0 when all held, 1 on any violation (each is printed with the
 * round and the seed: --seed replays the choices, not the interleaving),
 * 2 on bad arguments. --only runs one workload (by the names above).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <malloc.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../../tools/numarg.h"
#include "soak.h"

/* How far memory at a round's end may exceed the warm-up's peak.
 *
 * Heap in use (malloc's, mallinfo2: uordblks + hblkhd): what weft and
 * this program hold. Every round frees what it allocated, so this stays
 * flat but for weft's own pools and for which blocks are in flight when
 * the round ends (a pool thread's job record, a timer heap's growth):
 * 1 MiB. A ten-minute run checks about 2,000 rounds after its warm-up
 * (2,159 in docs/RELIABILITY.md's run), so a leak fails it from about
 * 500 bytes a round (a few channels or futures); a smaller one shows
 * only in the printed heap figures.
 *
 * Resident memory (RSS) adds the fiber stacks, which are mmap'd, never
 * unmapped while the runtime runs, and kept in per-worker caches (up to
 * 1024 stacks each) and a global warm list (8192) with their touched
 * pages (src/arch/stack.h): as fibers start on one worker and end on
 * another, stacks pile up in caches and the mapped count rises towards
 * that bound long after the warm-up. Plus malloc's per-thread arenas.
 * So RSS gets a looser bound: 32 MiB. */
#define HEAP_SLACK (1L << 20)
#define RSS_SLACK  (32L << 20)

/* Under a sanitizer or valgrind neither bound means anything: ASan keeps
 * freed blocks in quarantine and memcheck in its free list (RSS grows by
 * design), and all of them replace malloc (mallinfo2 reads 0). Their own
 * leak checks (LeakSanitizer, memcheck's) look at exit there. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define UNDER_VALGRIND() (RUNNING_ON_VALGRIND != 0)
#else
#define UNDER_VALGRIND() 0
#endif

static bool memory_checked(void)
{
    return !SANITIZED && !UNDER_VALGRIND();
}

/* ---- the run's state --------------------------------------------------- */

uint64_t g_seed;
int g_round;
char g_dir[PATH_MAX];
struct soak_tally tally;
static int g_verbose;
static atomic_long g_violations;

void violation(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr,
            "weft-soak: VIOLATION %s:%d (round %d, --seed %" PRIu64 "): ", file,
            line, g_round, g_seed);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    atomic_fetch_add(&g_violations, 1);
}

uint64_t seed_for(unsigned workload, unsigned i)
{
    uint64_t s =
        g_seed ^ ((uint64_t)g_round << 40) ^ ((uint64_t)workload << 32) ^ i;
    rnd(&s);
    return s;
}

void spawn_in(struct wf_scope *s, wf_fiber_fn *fn, void *arg)
{
    int rc = wf_scope_go(s, NULL, fn, arg);
    MUST(rc);
    if (rc == 0)
        atomic_fetch_add(&tally.fibers, 1);
}

void scope_finish(struct wf_scope *s)
{
    MUST(wf_scope_wait(s, WF_FOREVER));
    CHECK_EQ(wf_scope_close(s), 0);
}

void run_fibers(wf_fiber_fn *fn, int n)
{
    struct wf_scope *sc;
    MUST(wf_scope_open(&sc));
    for (int i = 0; i < n; i++)
        spawn_in(sc, fn, (void *)(uintptr_t)i);
    scope_finish(sc);
}

/* ---- rounds and the end state -------------------------------------------- */

static long count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    long n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* the directory's own descriptor */
}

static long rss_bytes(void)
{
    long pages = -1, resident = -1;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return -1;
    if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
        resident = -1;
    fclose(f);
    return resident < 0 ? -1 : resident * sysconf(_SC_PAGESIZE);
}

static long heap_bytes(void)
{
    struct mallinfo2 mi = mallinfo2();
    return (long)(mi.uordblks + mi.hblkhd);
}

/* A memory figure at round ends: the warm-up's peak, the highest after
 * it, the last. */
struct level {
    const char *name;
    long slack, warm_peak, max_after, last;
};

static void level_note(struct level *l, long v, int warm)
{
    l->last = v;
    if (warm) {
        if (v > l->warm_peak)
            l->warm_peak = v;
        return;
    }
    if (v > l->max_after)
        l->max_after = v;
    if (memory_checked() && v > l->warm_peak + l->slack)
        violation(__FILE__, __LINE__,
                  "%s %ld KiB above the warm-up's peak %ld KiB + %ld KiB",
                  l->name, v >> 10, l->warm_peak >> 10, l->slack >> 10);
}

static void level_print(const struct level *l, long start)
{
    printf("  %s: %ld KiB at start, warm-up peak %ld KiB, after the warm-up "
           "max %ld KiB, "
           "last %ld KiB (bound: warm-up peak + %ld KiB)\n",
           l->name, start >> 10, l->warm_peak >> 10, l->max_after >> 10,
           l->last >> 10, l->slack >> 10);
}

struct run {
    int64_t end_ns;
    int warmup_rounds;
    int64_t warmup_ns;
    int rounds;
    long fds_round; /* after the first round */
    struct level rss, heap;
    struct wf_stats st; /* at the last round's end */
};

static const struct {
    const char *name;
    wf_fiber_fn *fn;
} workloads[] = {
    {"scopes", w_scopes},   {"chan", w_chan},     {"locks", w_locks},
    {"par", w_par},         {"timers", w_timers}, {"futures", w_futures},
    {"sockets", w_sockets}, {"files", w_files},
};
static const char *g_only; /* --only NAME: run that workload alone */

static void *soak_main(void *arg)
{
    struct run *run = arg;
    int64_t start = wf_now();
    for (g_round = 0;; g_round++) {
        struct wf_scope *sc;
        MUST(wf_scope_open(&sc));
        for (size_t i = 0; i < sizeof workloads / sizeof *workloads; i++)
            if (!g_only || strcmp(g_only, workloads[i].name) == 0)
                spawn_in(sc, workloads[i].fn, NULL);
        scope_finish(sc);

        /* Fibers that have done their work may still be on their way out,
         * and wf_stats' live count is exact only once the workers are
         * quiet (weft/inspect.h): wait up to a minute for both to say that
         * main alone is left. */
        struct wf_stats st;
        for (int i = 0; i < 60000; i++) {
            MUST(wf_stats(&st, NULL, 0));
            if (wf_fibers_alive() == 1 && st.fibers_live == 1)
                break;
            wf_sleep(WF_MSEC);
        }
        CHECK_EQ(wf_fibers_alive(), 1);
        CHECK_EQ(st.fibers_live, 1);
        run->st = st;

        long fds = count_fds(), rss = rss_bytes(), heap = heap_bytes();
        int warm =
            g_round < run->warmup_rounds || wf_now() - start < run->warmup_ns;
        if (g_round == 0)
            run->fds_round = fds;
        else
            CHECK_EQ(fds, run->fds_round);
        level_note(&run->rss, rss, warm);
        level_note(&run->heap, heap, warm);
        if (g_verbose)
            fprintf(stderr,
                    "weft-soak: round %d%s: %.1f s, fds %ld, rss %ld KiB, heap "
                    "%ld KiB, "
                    "stacks %" PRIu64 " mapped, fibers %ld\n",
                    g_round, warm ? " (warm-up)" : "",
                    (double)(wf_now() - start) / 1e9, fds, rss >> 10,
                    heap >> 10, st.stacks_mapped, atomic_load(&tally.fibers));
        run->rounds = g_round + 1;
        /* At least one round after the warm-up, whatever the duration. */
        if (!warm && wf_now() >= run->end_ns)
            break;
    }
    return NULL;
}

static int usage(void)
{
    fprintf(
        stderr,
        "usage: weft-soak [--seconds N | --minutes N] [--seed S] "
        "[--workers W] [--warmup-rounds K] [--only WORKLOAD] [--verbose]\n");
    return 2;
}

int main(int argc, char **argv)
{
    double seconds = 5;
    int workers = 0;
    struct run run = {0};
    run.warmup_rounds = 3;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    g_seed =
        (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ (uint64_t)getpid();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--verbose") == 0) {
            g_verbose = 1;
            continue;
        }
        if (!v)
            return usage();
        i++;
        /* Numbers in the one strict form of weft's programs
         * (tools/numarg.h): atoi and atof read "x" as 0 and went on. */
        long l;
        double d;
        bool ok = true;
        if (strcmp(a, "--seconds") == 0 || strcmp(a, "--minutes") == 0) {
            ok = numarg_fraction(v, 0, 1e7, &d);
            if (ok)
                seconds = a[2] == 's' ? d : d * 60;
        } else if (strcmp(a, "--seed") == 0) {
            char *end;
            errno = 0;
            g_seed = strtoull(v, &end, 10);
            ok = *v >= '0' && *v <= '9' && !*end && !errno;
        } else if (strcmp(a, "--workers") == 0) {
            ok = numarg_long(v, 0, 4096, &l, NULL);
            if (ok)
                workers = (int)l;
        } else if (strcmp(a, "--only") == 0) {
            g_only = v;
        } else if (strcmp(a, "--warmup-rounds") == 0) {
            ok = numarg_long(v, 1, INT_MAX, &l, NULL);
            if (ok)
                run.warmup_rounds = (int)l;
        } else {
            ok = false;
        }
        if (!ok)
            return usage();
    }
    if (g_only) {
        size_t i = 0, n = sizeof workloads / sizeof *workloads;
        while (i < n && strcmp(g_only, workloads[i].name) != 0)
            i++;
        if (i == n)
            return usage();
    }

    const char *tmp = getenv("TMPDIR");
    snprintf(g_dir, sizeof g_dir, "%s/weft-soak-XXXXXX",
             tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(g_dir)) {
        perror("weft-soak: mkdtemp");
        return 1;
    }
    long fds0 = count_fds(), rss0 = rss_bytes(), heap0 = heap_bytes();
    run.rss = (struct level){.name = "RSS", .slack = RSS_SLACK};
    run.heap = (struct level){.name = "heap in use", .slack = HEAP_SLACK};
    run.end_ns = wf_now() + (int64_t)(seconds * 1e9);
    run.warmup_ns = (int64_t)(seconds * 1e8); /* 10% of the run */
    printf("weft-soak: seed %" PRIu64 ", %.0f s, workers %d (0: one per core), "
           "%d warm-up round(s) and 10%% of the time\n",
           g_seed, seconds, workers, run.warmup_rounds);
    fflush(stdout);

    struct wf_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.workers = workers;
    int64_t t0 = wf_now();
    int rc = wf_run(&cfg, soak_main, &run, NULL);
    double took = (double)(wf_now() - t0) / 1e9;
    if (rc != 0)
        violation(__FILE__, __LINE__, "wf_run: %s", wf_strerror(rc));
    size_t discarded = wf_shutdown_discarded();
    CHECK_EQ(discarded, 0);
    long fds1 = count_fds();
    CHECK_EQ(fds1, fds0);
    if (rmdir(g_dir) != 0)
        violation(__FILE__, __LINE__, "rmdir %s: %s (a file left behind?)",
                  g_dir, strerror(errno));

    printf("weft-soak: %d rounds in %.1f s\n", run.rounds, took);
    printf(
        "  work: %ld fibers, %ld cancelled waits, %ld messages, %ld selects, "
        "%ld lock ops, %ld parallel calls, %ld timers fired, %ld stopped, "
        "%ld futures, %ld connections (%ld disconnects, %ld echoes), "
        "%ld file bytes\n",
        atomic_load(&tally.fibers), atomic_load(&tally.cancelled),
        atomic_load(&tally.msgs), atomic_load(&tally.selects),
        atomic_load(&tally.lock_ops), atomic_load(&tally.par_calls),
        atomic_load(&tally.timers_fired), atomic_load(&tally.timers_stopped),
        atomic_load(&tally.futures), atomic_load(&tally.conns),
        atomic_load(&tally.disconnects), atomic_load(&tally.exchanges),
        atomic_load(&tally.file_bytes));
    printf("  descriptors: %ld before the runtime, %ld after it; %ld at every "
           "round's end\n",
           fds0, fds1, run.fds_round);
    printf("  fibers at the last round's end: %" PRIu64
           " live (main), peak %" PRIu64 "; stacks %" PRIu64
           " mapped; discarded at stop: %zu\n",
           run.st.fibers_live, run.st.fibers_peak, run.st.stacks_mapped,
           discarded);
    level_print(&run.heap, heap0);
    level_print(&run.rss, rss0);
    if (!memory_checked())
        printf("  (memory bounds not checked under a sanitizer or valgrind)\n");
    long v = atomic_load(&g_violations);
    printf("weft-soak: %s (%ld violation%s)\n", v ? "FAILED" : "passed", v,
           v == 1 ? "" : "s");
    return v ? 1 : 0;
}
