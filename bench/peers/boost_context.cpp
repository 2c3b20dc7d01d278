// SPDX-License-Identifier: MIT
// boost_context.cpp - peer for weft-bench's `switch` group.
//
// Two boost::context::fiber contexts resume each other; every resume() is
// one one-way switch, so a round trip (main -> fiber -> main) counts two.
// Prints `boost_switch_ns <median> ns`, the median of REPS repetitions.
//
// Build: g++ -O2 -std=c++17 boost_context.cpp -lboost_context
#include <boost/context/fiber.hpp>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <vector>

#include "timing.hpp"

namespace ctx = boost::context;

static const long ITERS = 10000000; // round trips per repetition
static const int REPS = 7;

int main()
{
    bool stop = false;
    ctx::fiber peer{[&stop](ctx::fiber &&back) {
        while (!stop)
            back = std::move(back).resume();
        return std::move(back);
    }};
    peer = std::move(peer).resume(); // warm up: enter the fiber once

    std::vector<double> per_switch;
    for (int r = 0; r < REPS; r++) {
        double t0 = now_ns();
        for (long i = 0; i < ITERS; i++)
            peer = std::move(peer).resume();
        double t1 = now_ns();
        per_switch.push_back((t1 - t0) / (2.0 * ITERS));
    }
    stop = true;
    peer = std::move(peer).resume(); // lets the fiber return

    std::printf("boost_switch_ns %.2f ns\n", median(per_switch));
    return 0;
}
