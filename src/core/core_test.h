/* SPDX-License-Identifier: MIT */
/*
 * src/core/core_test.h - hooks that let tests see inside the core.
 *
 * Only test programs built against weft_testlib include this. Each hook
 * reads runtime state under the locks that guard it; none changes it.
 */
#ifndef WEFT_CORE_TEST_H
#define WEFT_CORE_TEST_H

#include <stdint.h>

/* Timers armed in every worker's heap (pending deadlines of parks and
 * sleeps). WF_ESHUTDOWN when the runtime is not running. */
long wf__test_pending_timers(void);

/* Stacks created with a guard page since the runtime started. */
long wf__test_guarded_stacks(void);

/* Forces wf__oversubscribed (common/futex.h) on (1) or off (0), which the
 * monitor then leaves alone; -1 hands it back to the monitor's samples.
 * Unlike the hooks above, it changes state. */
void wf__test_force_oversubscribed(int on);

/* Idle searches that stopped spinning early because the machine was
 * oversubscribed (sched.c), since the process started. */
unsigned long wf__test_idle_spins_cut(void);

#endif
