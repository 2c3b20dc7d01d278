// SPDX-License-Identifier: MIT
// bench/peers/timing.hpp - the clock and the median the C++ peers share,
// the same definitions weft-bench uses, so every figure is taken alike.
#ifndef WEFT_BENCH_PEERS_TIMING_HPP
#define WEFT_BENCH_PEERS_TIMING_HPP

#include <algorithm>
#include <ctime>
#include <vector>

static inline double now_ns()
{
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static inline double median(std::vector<double> v)
{
    std::sort(v.begin(), v.end());
    size_t n = v.size();
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

#endif
