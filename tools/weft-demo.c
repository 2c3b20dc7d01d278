/* SPDX-License-Identifier: MIT */
/*
 * weft-demo - a showcase of weft's fibers.
 *
 * 100,000 fibers play ping-pong in pairs. Each pair shares a token; the
 * fiber that holds it passes it to its partner (a store, then wf_unpark of
 * the partner) and parks with wf_park until the token comes back. Every
 * handoff therefore parks one fiber and resumes another: one fiber switch.
 *
 * The game runs twice: on every worker the runtime starts by default (one
 * per CPU, or WEFT_WORKERS), with the pairs spread over the workers by work
 * stealing, and then on a single worker, which is pure concurrency: one
 * thread interleaving 100,000 fibers.
 *
 * Usage: weft-demo [FIBERS [ROUNDS]]   (defaults 100000 and 50; FIBERS
 * even). Prints a few lines and exits 0; 1 if any weft call fails.
 */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

#include <weft.h>

#define DEFAULT_FIBERS 100000L
#define DEFAULT_ROUNDS 50L

/* Whose turn it is in a pair. */
enum { TURN_NONE, TURN_A, TURN_B };

/* One pair, alone on its cache line so that pairs running on different
 * workers do not slow each other down by false sharing. */
struct pair {
    _Alignas(64) atomic_int turn;
    /* Written by the main fiber before it hands the first turn out (a
     * release store of `turn`); read by the players after an acquire load
     * of `turn`. */
    struct wf_fiber fiber[2];
};

/* What one player fiber gets: its pair and its side (0: A, 1: B). */
struct player {
    struct pair *pair;
    int side;
};

struct game {
    long npairs;
    long rounds;
    struct pair *pairs;
    struct player *players;
    int workers;        /* reported by the main fiber */
    int64_t spawn_ns;   /* starting every fiber, until all wait for a turn */
    int64_t play_ns;    /* from the first turn to the last */
    int64_t end_ns;     /* letting every fiber return, joining them all */
};

static long g_rounds;
static atomic_int g_error;      /* first error a player met, 0 if none */
static long g_total;            /* player fibers in this game */
static atomic_long g_waiting;   /* players that reached their first wait */
static atomic_long g_playing;   /* players that have turns left */
static atomic_bool g_release;   /* players may return */
static struct wf_fiber g_main;  /* the main fiber, woken by the last player */

/* The main fiber yields this often in its long loops, so that the fibers
 * it starts or wakes get to run (and the stall monitor stays quiet). */
#define YIELD_EVERY 256

static void note_error(int err)
{
    int none = 0;
    atomic_compare_exchange_strong(&g_error, &none, err);
}

/* Park until *flag is set; false (error noted) if parking fails. */
static bool wait_flag(atomic_bool *flag)
{
    /* acquire: pairs with the release store of the flag. */
    while (!atomic_load_explicit(flag, memory_order_acquire)) {
        int err = wf_park(WF_FOREVER);
        if (err < 0) {
            note_error(err);
            return false;
        }
    }
    return true;
}

/* A player takes `rounds` turns. A turn: wait (parked) until the token is
 * ours, then give it to the partner and wake the partner. B's last turn
 * wakes no one: A has taken all its turns by then. A player out of turns
 * waits until the main fiber lets everyone return, so that fibers ending
 * (and their stacks being recycled) are not part of the timed game. */
static void *play(void *arg)
{
    struct player *me = arg;
    struct pair *p = me->pair;
    int mine = me->side == 0 ? TURN_A : TURN_B;
    int theirs = me->side == 0 ? TURN_B : TURN_A;

    if (atomic_fetch_add(&g_waiting, 1) == g_total - 1) {
        int err = wf_unpark(g_main);
        if (err < 0)
            note_error(err);
    }
    for (long r = 0; r < g_rounds; r++) {
        /* wf_park may return without a wake-up; the loop re-checks. The
         * acquire pairs with the partner's release store below (or the
         * main fiber's for A's first turn). */
        while (atomic_load_explicit(&p->turn, memory_order_acquire) != mine) {
            int err = wf_park(WF_FOREVER);
            if (err < 0) {
                note_error(err);
                return NULL;
            }
        }
        /* Release: the partner sees everything we did before the pass. */
        atomic_store_explicit(&p->turn, theirs, memory_order_release);
        if (mine == TURN_B && r == g_rounds - 1)
            break;
        int err = wf_unpark(p->fiber[1 - me->side]);
        if (err < 0) {
            note_error(err);
            return NULL;
        }
    }
    if (atomic_fetch_sub(&g_playing, 1) == 1) {
        int err = wf_unpark(g_main);
        if (err < 0)
            note_error(err);
    }
    wait_flag(&g_release);
    return NULL;
}

static void check(int err, const char *what)
{
    if (err < 0) {
        fprintf(stderr, "weft-demo: %s: %s\n", what, wf_strerror(err));
        exit(1);
    }
}

static void *run_game(void *arg)
{
    struct game *g = arg;

    g->workers = wf_workers();
    g_main = wf_self();
    g_total = 2 * g->npairs;
    atomic_store(&g_waiting, 0);
    atomic_store(&g_playing, g_total);
    atomic_store(&g_release, false);

    int64_t t0 = wf_now();
    for (long i = 0; i < g->npairs; i++) {
        struct pair *p = &g->pairs[i];
        atomic_store_explicit(&p->turn, TURN_NONE, memory_order_relaxed);
        for (int side = 0; side < 2; side++) {
            struct player *pl = &g->players[2 * i + side];
            pl->pair = p;
            pl->side = side;
            check(wf_go(&p->fiber[side], play, pl), "wf_go");
        }
        if (i % YIELD_EVERY == YIELD_EVERY - 1)
            wf_yield();
    }
    /* The last player to reach its first wait wakes us. */
    while (atomic_load(&g_waiting) < g_total)
        check(wf_park(WF_FOREVER), "wf_park");
    int64_t t1 = wf_now();

    /* Hand every A its first turn; the release store publishes the handles
     * written above. */
    for (long i = 0; i < g->npairs; i++) {
        struct pair *p = &g->pairs[i];
        atomic_store_explicit(&p->turn, TURN_A, memory_order_release);
        check(wf_unpark(p->fiber[0]), "wf_unpark");
        if (i % YIELD_EVERY == YIELD_EVERY - 1)
            wf_yield();
    }
    /* The last player to finish its turns wakes us. */
    while (atomic_load(&g_playing) > 0)
        check(wf_park(WF_FOREVER), "wf_park");
    int64_t t2 = wf_now();

    atomic_store_explicit(&g_release, true, memory_order_release);
    for (long i = 0; i < 2 * g->npairs; i++) {
        check(wf_unpark(g->pairs[i / 2].fiber[i % 2]), "wf_unpark");
        if (i % YIELD_EVERY == YIELD_EVERY - 1)
            wf_yield();
    }
    for (long i = 0; i < 2 * g->npairs; i++)
        check(wf_join(g->pairs[i / 2].fiber[i % 2], NULL, WF_FOREVER), "wf_join");
    int64_t t3 = wf_now();

    g->spawn_ns = t1 - t0;
    g->play_ns = t2 - t1;
    g->end_ns = t3 - t2;
    return NULL;
}

/* Play one game with `workers` workers (0: the runtime's default) and
 * print its line. */
static void play_once(struct game *g, int workers)
{
    struct wf_config cfg = { 0 };
    cfg.workers = workers;

    check(wf_run(&cfg, run_game, g, NULL), "wf_run");
    check(atomic_load(&g_error), "a player failed");

    /* Every turn but A's first (given by the main fiber) and one per B's
     * last (which wakes no one) is a handoff from the partner. */
    double handoffs = (double)g->npairs * (double)(2 * g->rounds - 1);
    double secs = (double)g->play_ns / 1e9;
    printf("  %7d  %7ld  %6.2f s  %9.0f  %6.2f s  %6.2f M/s  %7.0f ns  %6.2f s\n",
           g->workers, 2 * g->npairs, (double)g->spawn_ns / 1e9, handoffs,
           secs, handoffs / secs / 1e6,
           (double)g->play_ns * g->workers / handoffs,
           (double)g->end_ns / 1e9);
}

static long parse_arg(const char *s, const char *what)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*end != '\0' || v <= 0) {
        fprintf(stderr, "weft-demo: bad %s '%s'\n", what, s);
        fprintf(stderr, "usage: weft-demo [FIBERS [ROUNDS]]\n");
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    long nfibers = argc > 1 ? parse_arg(argv[1], "fiber count") : DEFAULT_FIBERS;
    long rounds = argc > 2 ? parse_arg(argv[2], "round count") : DEFAULT_ROUNDS;
    if (nfibers < 2 || nfibers % 2 != 0) {
        fprintf(stderr, "weft-demo: the fiber count must be even and >= 2\n");
        return 2;
    }

    struct game g = { 0 };
    g.npairs = nfibers / 2;
    g.rounds = rounds;
    g_rounds = rounds;
    g.pairs = aligned_alloc(64, (size_t)g.npairs * sizeof *g.pairs);
    g.players = calloc((size_t)nfibers, sizeof *g.players);
    if (!g.pairs || !g.players) {
        fprintf(stderr, "weft-demo: out of memory\n");
        return 1;
    }

    printf("weft %d.%d.%d fiber demo: %ld fibers play ping-pong in %ld pairs, "
           "%ld turns each.\n", WEFT_VERSION_MAJOR, WEFT_VERSION_MINOR,
           WEFT_VERSION_PATCH, nfibers, g.npairs, rounds);
    printf("A handoff passes the token: wf_unpark(partner), then wf_park() "
           "until it comes back,\nso each handoff is one fiber switch. "
           "start: spawn every fiber until all wait;\nend: let them return "
           "and join them; per switch: play time x workers / handoffs.\n\n");
    printf("  workers   fibers     start   handoffs      play  switches/s  "
           "per switch       end\n");

    play_once(&g, 0);
    play_once(&g, 1);

    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0)
        printf("\npeak resident memory: %.0f MiB (%ld fibers alive at once)\n",
               (double)ru.ru_maxrss / 1024.0, nfibers);

    free(g.players);
    free(g.pairs);
    return 0;
}
