/* SPDX-License-Identifier: MIT */
/*
 * bench/timers_load.h - the load of the `timers` benchmark, shared by
 * weft-bench and the libuv peer so that both arm the same timers:
 * TIMERS_N timers, delay i is a pseudo-random number of nanoseconds in
 * [0, 1 s) from a fixed xorshift sequence (rounded down to whole
 * milliseconds for libuv, whose timers count in ms; weft's rounded the
 * same way, so both fire at the same instants).
 *
 * Figures, for each runtime:
 *   *_arm_ms      time to arm all timers;
 *   *_total_ms    from the start of arming to the end of the last
 *                 callback (at least 1,000 ms by construction);
 *   *_late_max_ms the largest lateness of any callback: when it ran minus
 *                 when it was due (arming time + its delay);
 *   *_cpu_ms      CPU time of the process (all threads, user + system)
 *                 from before arming to the end of the last callback:
 *                 what the work cost, where *_total_ms cannot go below
 *                 the one second the load spans. A runtime that spins
 *                 its idle threads pays for that here too.
 */
#ifndef WEFT_BENCH_TIMERS_LOAD_H
#define WEFT_BENCH_TIMERS_LOAD_H

#include <stdint.h>

#define TIMERS_N 1000000

/* Delay of timer i in ms, in [0, 1000). */
static inline uint64_t timers_delay_ms(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return (x * 0x2545F4914F6CDD1Dull) % 1000;
}

#define TIMERS_SEED 0x9E3779B97F4A7C15ull

#endif
