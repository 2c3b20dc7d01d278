// SPDX-License-Identifier: MIT
// bench/peers/gotimers.go - the `timers` load (bench/timers_load.h) on Go:
// 1,000,000 time.AfterFunc timers with the same delays (the same xorshift
// sequence, whole milliseconds in [0, 1000)), each callback recording when
// it ran. Prints go_timers_arm_ms, go_timers_total_ms and
// go_timers_late_max_ms at the GOMAXPROCS it is run with.
//
// Build: go build gotimers.go
package main

import (
	"fmt"
	"sync"
	"time"
)

const n = 1000000

func delayMs(s *uint64) uint64 {
	x := *s
	x ^= x >> 12
	x ^= x << 25
	x ^= x >> 27
	*s = x
	return (x * 0x2545F4914F6CDD1D) % 1000
}

func main() {
	var wg sync.WaitGroup
	var lateMax, last int64
	lateMax = -1 << 62
	var mu sync.Mutex
	rng := uint64(0x9E3779B97F4A7C15)
	base := time.Now()
	wg.Add(n)
	t0 := time.Since(base).Nanoseconds()
	for i := 0; i < n; i++ {
		ms := delayMs(&rng)
		due := time.Since(base).Nanoseconds() + int64(ms)*1000000
		time.AfterFunc(time.Duration(ms)*time.Millisecond, func() {
			now := time.Since(base).Nanoseconds()
			mu.Lock()
			if now-due > lateMax {
				lateMax = now - due
			}
			if now > last {
				last = now
			}
			mu.Unlock()
			wg.Done()
		})
	}
	armed := time.Since(base).Nanoseconds()
	wg.Wait()
	fmt.Printf("go_timers_arm_ms %.2f ms\n", float64(armed-t0)/1e6)
	fmt.Printf("go_timers_total_ms %.2f ms\n", float64(last-t0)/1e6)
	fmt.Printf("go_timers_late_max_ms %.3f ms\n", float64(lateMax)/1e6)
}
