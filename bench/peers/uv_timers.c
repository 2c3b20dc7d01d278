/* SPDX-License-Identifier: MIT */
/*
 * bench/peers/uv_timers.c - the `timers` load (bench/timers_load.h) on
 * libuv: 1,000,000 uv_timer_t armed from the loop thread before the loop
 * runs, each callback recording when it ran. Prints uv_timers_arm_ms,
 * uv_timers_total_ms, uv_timers_late_max_ms and uv_timers_cpu_ms.
 *
 * Build: cc -O2 -I bench -o uv_timers bench/peers/uv_timers.c -luv
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <uv.h>

#include "timing.h"
#include "timers_load.h"

struct ut {
    uv_timer_t t;
    int64_t due;
};

static long fired;
static int64_t last, late_max = INT64_MIN;

static void on_timer(uv_timer_t *t)
{
    struct ut *x = (struct ut *)t;
    int64_t now = now_ns();
    if (now - x->due > late_max)
        late_max = now - x->due;
    last = now;
    fired++;
}

int main(void)
{
    struct ut *ts = calloc(TIMERS_N, sizeof *ts);
    if (!ts)
        return 1;
    uv_loop_t *loop = uv_default_loop();
    uint64_t rng = TIMERS_SEED;
    double cpu0 = cpu_ms();
    int64_t t0 = now_ns();
    for (long i = 0; i < TIMERS_N; i++) {
        uint64_t ms = timers_delay_ms(&rng);
        ts[i].due = now_ns() + (int64_t)ms * 1000000;
        uv_timer_init(loop, &ts[i].t);
        uv_timer_start(&ts[i].t, on_timer, ms, 0);
    }
    int64_t armed = now_ns();
    uv_run(loop, UV_RUN_DEFAULT);
    double cpu = cpu_ms() - cpu0;
    if (fired != TIMERS_N) {
        fprintf(stderr, "uv_timers: %ld of %d fired\n", fired, TIMERS_N);
        return 1;
    }
    printf("uv_timers_arm_ms %.2f ms\n", (double)(armed - t0) / 1e6);
    printf("uv_timers_total_ms %.2f ms\n", (double)(last - t0) / 1e6);
    printf("uv_timers_late_max_ms %.3f ms\n", (double)late_max / 1e6);
    printf("uv_timers_cpu_ms %.1f ms\n", cpu);
    free(ts);
    return 0;
}
