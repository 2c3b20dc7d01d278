/* SPDX-License-Identifier: MIT */
/*
 * src/common/fault_test.h - the test hooks of fault injection (fault.h),
 * for internal tests of a -DWEFT_FAULT=ON build. Without the option they
 * do nothing and wf__fault_calls returns -1.
 */
#ifndef WEFT_COMMON_FAULT_TEST_H
#define WEFT_COMMON_FAULT_TEST_H

#include <stdbool.h>

/* Re-arm: reset the count to zero; the `at`-th counted call fails (0:
 * none), and every later one too when `onward`; count the kinds in
 * `mask` (bit 1 << enum wf__fault_kind). Overrides the environment. Call
 * it while no runtime thread makes counted calls. */
void wf__fault_arm(long at, bool onward, unsigned mask);
/* Counted calls since the last arm (or the first call), -1 in a build
 * without fault injection. */
long wf__fault_calls(void);
/* Failures injected since the last arm. */
long wf__fault_failed(void);

#endif
