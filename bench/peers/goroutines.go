// SPDX-License-Identifier: MIT
// goroutines.go - Go peer for weft-bench's `yield`, `spawn` and `idle`
// groups. Dependency-free; build with `go build goroutines.go`.
//
//	yield  two goroutines call runtime.Gosched() in turn at GOMAXPROCS=1
//	       while main waits: go_yield_ns, ns per yield.
//	spawn  1,000,000 trivial goroutines in batches of 1,000 (start 1,000,
//	       wait for them with a sync.WaitGroup), ns per goroutine, at
//	       GOMAXPROCS=1 (go_spawn_join_ns_p1) and 2 (go_spawn_join_ns_p2).
//	idle   1,000,000 goroutines blocked receiving from one channel: the
//	       growth of the process's resident set (VmRSS in /proc/self/status)
//	       per goroutine, go_idle_bytes, measured the same way as weft's
//	       idle_fiber_bytes; and the growth of VmPTE (page tables) per
//	       goroutine, go_idle_pte_bytes. Measured once: a second round
//	       would reuse the memory the first one left in the heap.
//
// No argument runs all groups. Timed figures are the median of several
// repetitions. Output: one `name value unit` line per figure on stdout.
package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func benchYield() {
	const iters = 2000000 // yields per goroutine per repetition
	const reps = 7
	old := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(old)
	var per []float64
	for r := 0; r < reps; r++ {
		var wg sync.WaitGroup
		wg.Add(2)
		body := func() {
			for i := 0; i < iters; i++ {
				runtime.Gosched()
			}
			wg.Done()
		}
		t0 := time.Now()
		go body()
		go body()
		wg.Wait()
		per = append(per, float64(time.Since(t0).Nanoseconds())/(2*iters))
	}
	fmt.Printf("go_yield_ns %.2f ns\n", median(per))
}

func spawnJoinOnce() float64 {
	const batch, batches = 1000, 1000
	var wg sync.WaitGroup
	t0 := time.Now()
	for b := 0; b < batches; b++ {
		wg.Add(batch)
		for i := 0; i < batch; i++ {
			go func() { wg.Done() }()
		}
		wg.Wait()
	}
	return float64(time.Since(t0).Nanoseconds()) / (batch * batches)
}

func benchSpawn() {
	const reps = 5
	old := runtime.GOMAXPROCS(0)
	defer runtime.GOMAXPROCS(old)
	for _, procs := range []int{1, 2} {
		runtime.GOMAXPROCS(procs)
		var per []float64
		for r := 0; r < reps; r++ {
			per = append(per, spawnJoinOnce())
		}
		fmt.Printf("go_spawn_join_ns_p%d %.2f ns\n", procs, median(per))
	}
}

// statusBytes returns a "Name:  123 kB" field of /proc/self/status in bytes.
func statusBytes(field string) (int64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, field+":") {
			continue
		}
		parts := strings.Fields(line[len(field)+1:])
		if len(parts) < 1 {
			break
		}
		kb, err := strconv.ParseInt(parts[0], 10, 64)
		if err != nil {
			return 0, err
		}
		return kb * 1024, nil
	}
	return 0, fmt.Errorf("no %s in /proc/self/status", field)
}

func benchIdle() {
	const n = 1000000
	ch := make(chan struct{})
	var started, done sync.WaitGroup
	runtime.GC()
	rss0, err1 := statusBytes("VmRSS")
	pte0, err2 := statusBytes("VmPTE")
	if err1 != nil || err2 != nil {
		fmt.Fprintln(os.Stderr, "idle: cannot read /proc/self/status:", err1, err2)
		return
	}
	started.Add(n)
	done.Add(n)
	for i := 0; i < n; i++ {
		go func() {
			started.Done()
			<-ch
			done.Done()
		}()
	}
	started.Wait()
	// Every goroutine has passed started.Done(); give the last ones time to
	// block in the receive before reading the counters.
	time.Sleep(100 * time.Millisecond)
	runtime.GC()
	rss1, _ := statusBytes("VmRSS")
	pte1, _ := statusBytes("VmPTE")
	fmt.Printf("go_idle_bytes %.0f bytes\n", float64(rss1-rss0)/n)
	fmt.Printf("go_idle_pte_bytes %.1f bytes\n", float64(pte1-pte0)/n)
	close(ch)
	done.Wait()
}

func main() {
	group := ""
	if len(os.Args) > 1 {
		group = os.Args[1]
	}
	known := false
	if group == "" || group == "yield" {
		benchYield()
		known = true
	}
	if group == "" || group == "spawn" {
		benchSpawn()
		known = true
	}
	if group == "" || group == "idle" {
		benchIdle()
		known = true
	}
	if !known {
		fmt.Fprintf(os.Stderr, "usage: %s [yield|spawn|idle]\n", os.Args[0])
		os.Exit(2)
	}
}
