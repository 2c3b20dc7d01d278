// SPDX-License-Identifier: MIT
/*
 * bench/peers/par_tbb.cpp - the oneTBB peer of weft-bench's fib,
 * mandelbrot, reduce and sort groups (bench/bench_par.c), same shapes:
 *
 *   tbb_fib_ms     fib(32), tbb::task_group at every call
 *   tbb_mandel_ms  2000x2000, 1000 iterations, tbb::parallel_for over rows
 *                  (auto partitioner)
 *   tbb_reduce_ms  sum of 100,000,000 doubles, tbb::parallel_reduce
 *                  (tbb_reduce_gbs: as GB/s)
 *   tbb_sort_ms    tbb::parallel_sort of 10,000,000 random uint64
 *   std_sort_ms    std::sort of the same (one thread)
 *
 * Threads: the first argument, else PEER_THREADS, else all CPUs
 * (tbb::global_control). An optional second argument picks one group.
 * Build: g++ -O2 -std=c++17 par_tbb.cpp -ltbb.
 */
#include <tbb/blocked_range.h>
#include <tbb/global_control.h>
#include <tbb/parallel_for.h>
#include <tbb/parallel_reduce.h>
#include <tbb/parallel_sort.h>
#include <tbb/task_group.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "timing.hpp"
#include "../mandel_kernel.h"

static void put(const char *name, double v, const char *unit)
{
    std::printf("%s %.2f %s\n", name, v, unit);
    std::fflush(stdout);
}

static long fib(int n)
{
    if (n < 2)
        return n;
    long x, y;
    tbb::task_group g;
    g.run([&] { x = fib(n - 1); });
    y = fib(n - 2);
    g.wait();
    return x + y;
}



static void sort_input(std::vector<uint64_t> &v)
{
    uint64_t s = 0x9E3779B97F4A7C15ull;
    for (auto &x : v) {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        x = s * 0x2545F4914F6CDD1Dull;
    }
}

int main(int argc, char **argv)
{
    int threads = (int)std::thread::hardware_concurrency();
    if (argc > 1 && std::atoi(argv[1]) > 0)
        threads = std::atoi(argv[1]);
    else if (std::getenv("PEER_THREADS") && std::atoi(std::getenv("PEER_THREADS")) > 0)
        threads = std::atoi(std::getenv("PEER_THREADS"));
    const char *only = argc > 2 ? argv[2] : "";
    tbb::global_control gc(tbb::global_control::max_allowed_parallelism, (size_t)threads);
    double t[7];

    if (!*only || !std::strcmp(only, "fib")) {
        for (int r = 0; r < 5; r++) {
            double t0 = now_ns();
            long v = fib(32);
            t[r] = (double)(now_ns() - t0) / 1e6;
            if (v != 2178309)
                return 1;
        }
        put("tbb_fib_ms", median(std::vector<double>(t, t + 5)), "ms");
    }
    if (!*only || !std::strcmp(only, "mandelbrot")) {
        std::vector<unsigned short> out((size_t)MANDEL_N * MANDEL_N);
        for (int r = 0; r < 3; r++) {
            double t0 = now_ns();
            tbb::parallel_for(tbb::blocked_range<long>(0, MANDEL_N),
                              [&](const tbb::blocked_range<long> &b) {
                                  mandel_kernel(out.data(), b.begin(), b.end());
                              });
            t[r] = (double)(now_ns() - t0) / 1e6;
        }
        put("tbb_mandel_ms", median(std::vector<double>(t, t + 3)), "ms");
    }
    if (!*only || !std::strcmp(only, "reduce")) {
        long n = 100000000;
        double *v = (double *)std::malloc(sizeof(double) * (size_t)n);
        tbb::parallel_for(tbb::blocked_range<long>(0, n), [&](const tbb::blocked_range<long> &b) {
            for (long i = b.begin(); i < b.end(); i++)
                v[i] = (double)((uint64_t)i * 2654435761u % 1000) * 0.001;
        });
        double s = 0;
        for (int r = 0; r < 5; r++) {
            double t0 = now_ns();
            s = tbb::parallel_reduce(
                tbb::blocked_range<long>(0, n), 0.0,
                [&](const tbb::blocked_range<long> &b, double acc) {
                    for (long i = b.begin(); i < b.end(); i++)
                        acc += v[i];
                    return acc;
                },
                [](double a, double b) { return a + b; });
            t[r] = (double)(now_ns() - t0) / 1e6;
        }
        double ms = median(std::vector<double>(t, t + 5));
        put("tbb_reduce_ms", ms, "ms");
        put("tbb_reduce_gbs", (double)n * 8 / (ms * 1e6), "GB/s");
        std::free(v);
        if (s < 0)
            return 1;
    }
    if (!*only || !std::strcmp(only, "sort")) {
        std::vector<uint64_t> v(10000000);
        for (int r = 0; r < 3; r++) {
            sort_input(v);
            double t0 = now_ns();
            tbb::parallel_sort(v.begin(), v.end());
            t[r] = (double)(now_ns() - t0) / 1e6;
        }
        put("tbb_sort_ms", median(std::vector<double>(t, t + 3)), "ms");
        {
            for (int r = 0; r < 3; r++) {
                sort_input(v);
                double t0 = now_ns();
                std::sort(v.begin(), v.end());
                t[r] = (double)(now_ns() - t0) / 1e6;
            }
            put("std_sort_ms", median(std::vector<double>(t, t + 3)), "ms");
        }
    }
    return 0;
}
