// SPDX-License-Identifier: MIT
// boost_fiber.cpp - Boost.Fiber peer for weft-bench's `yield`, `spawn` and
// `chan` groups. Everything runs on the main thread with Boost.Fiber's default
// round-robin scheduler and default stack allocator.
//
//   yield  two fibers call boost::this_fiber::yield() in turn while the main
//          fiber waits in join(); prints `boost_fiber_yield_ns`, ns per yield.
//   spawn  1,000,000 trivial fibers in batches of 1,000 (create 1,000, join
//          1,000), ns per fiber: `boost_fiber_spawn_join_ns` with the default
//          stack allocator (a fresh malloc'd 128 KiB stack per fiber, which
//          glibc maps and unmaps every time) and
//          `boost_fiber_pooled_spawn_join_ns` with pooled_fixedsize_stack,
//          which recycles stacks as weft does.
//   chan   a long sent to an echo fiber and back through two
//          boost::fibers::unbuffered_channel, 1,000,000 round trips:
//          `boost_fiber_chan_pingpong_ns`, ns per round trip.
//
// No argument runs all three. Each figure is the median of several repetitions.
// Build: g++ -O2 -std=c++17 boost_fiber.cpp -lboost_fiber -lboost_context -pthread
#include <boost/fiber/all.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <vector>

#include "timing.hpp"

static void bench_yield()
{
    const long iters = 2000000; // yields per fiber per repetition
    const int reps = 7;
    std::vector<double> per_yield;
    for (int r = 0; r < reps; r++) {
        auto body = [iters] {
            for (long i = 0; i < iters; i++)
                boost::this_fiber::yield();
        };
        double t0 = now_ns();
        boost::fibers::fiber a(body), b(body);
        a.join();
        b.join();
        double t1 = now_ns();
        per_yield.push_back((t1 - t0) / (2.0 * iters));
    }
    std::printf("boost_fiber_yield_ns %.2f ns\n", median(per_yield));
}

// Round trip of a long through two unbuffered channels between the main
// fiber and an echo fiber, as weft-bench's chan_pingpong_w1_ns.
static void bench_chan()
{
    const long rounds = 1000000;
    const int reps = 7;
    boost::fibers::unbuffered_channel<long> ping, pong;
    boost::fibers::fiber echo([&ping, &pong] {
        long v;
        while (ping.pop(v) == boost::fibers::channel_op_status::success)
            pong.push(v);
    });
    auto round = [&ping, &pong](long n) {
        double t0 = now_ns();
        for (long i = 0; i < n; i++) {
            long back = -1;
            ping.push(i);
            pong.pop(back);
            if (back != i) {
                std::fprintf(stderr, "boost_fiber: sent %ld, got back %ld\n", i, back);
                std::exit(1);
            }
        }
        return (now_ns() - t0) / n;
    };
    round(rounds / 10); // warm-up
    std::vector<double> per;
    for (int r = 0; r < reps; r++)
        per.push_back(round(rounds));
    ping.close();
    echo.join();
    std::printf("boost_fiber_chan_pingpong_ns %.2f ns\n", median(per));
}

static void trivial() {}

template <typename Alloc>
static double spawn_join_once(Alloc alloc)
{
    const int batch = 1000, batches = 1000;
    std::vector<boost::fibers::fiber> fs(batch);
    double t0 = now_ns();
    for (int b = 0; b < batches; b++) {
        for (int i = 0; i < batch; i++)
            fs[i] = boost::fibers::fiber(std::allocator_arg, alloc, trivial);
        for (int i = 0; i < batch; i++)
            fs[i].join();
    }
    double t1 = now_ns();
    return (t1 - t0) / ((double)batch * batches);
}

static void bench_spawn()
{
    // A fresh stack costs a mmap, page faults and a munmap (~9 us a fiber
    // here), so that variant gets fewer repetitions to keep the run short.
    const int reps = 5, fresh_reps = 3;
    std::vector<double> fresh, pooled;
    for (int r = 0; r < fresh_reps; r++)
        fresh.push_back(spawn_join_once(boost::fibers::fixedsize_stack()));
    std::printf("boost_fiber_spawn_join_ns %.2f ns\n", median(fresh));
    // One pool for all repetitions, so that it stays warm like weft's.
    boost::fibers::pooled_fixedsize_stack pool;
    for (int r = 0; r < reps; r++)
        pooled.push_back(spawn_join_once(pool));
    std::printf("boost_fiber_pooled_spawn_join_ns %.2f ns\n", median(pooled));
}

int main(int argc, char **argv)
{
    const char *group = argc > 1 ? argv[1] : nullptr;
    bool known = false;
    if (!group || !std::strcmp(group, "yield")) {
        bench_yield();
        known = true;
    }
    if (!group || !std::strcmp(group, "spawn")) {
        bench_spawn();
        known = true;
    }
    if (!group || !std::strcmp(group, "chan")) {
        bench_chan();
        known = true;
    }
    if (!known) {
        std::fprintf(stderr, "usage: %s [yield|spawn|chan]\n", argv[0]);
        return 2;
    }
    return 0;
}
