// SPDX-License-Identifier: MIT
// goskynet.go - Go peer for weft-bench's `skynet` group: the same tree of
// 1,111,111 goroutines. Dependency-free; build with `go build goskynet.go`.
//
//	go_skynet_ms_pN          ms from the root's `go` to its sum: 111,111
//	                         inner goroutines spawn 10 children each and
//	                         receive their sums on one unbuffered channel;
//	                         1,000,000 leaves send their number. The sum
//	                         must be 499,999,500,000, otherwise the
//	                         program fails.
//	go_skynet_peak_rss_kb_pN peak resident set (KiB) of the process that
//	                         built the tree.
//
// As in weft-bench, each repetition runs in a process of its own (this
// program runs itself with the argument `child`), so that the peak
// resident set is that one tree's, and read with the child's rusage;
// medians of 5, at GOMAXPROCS=1 (suffix _p1) and 2 (_p2). Output: one
// `name value unit` line per figure on stdout.
package main

import (
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const (
	leaves = 1000000
	div    = 10
	reps   = 5
	want   = 499999500000
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

func die(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "goskynet: "+format+"\n", args...)
	os.Exit(1)
}

func skynet(c chan int64, num int64, size int64) {
	if size == 1 {
		c <- num
		return
	}
	rc := make(chan int64)
	each := size / div
	for i := int64(0); i < div; i++ {
		go skynet(rc, num+i*each, each)
	}
	var sum int64
	for i := 0; i < div; i++ {
		sum += <-rc
	}
	c <- sum
}

// child: one tree; prints its time in ms on stdout.
func child() {
	c := make(chan int64)
	t0 := time.Now()
	go skynet(c, 0, leaves)
	sum := <-c
	ms := float64(time.Since(t0).Nanoseconds()) / 1e6
	if sum != want {
		die("WRONG RESULT: sum %d, expected %d", sum, want)
	}
	fmt.Printf("%f\n", ms)
}

// once runs one tree in a child process at GOMAXPROCS=procs.
func once(procs int) (ms, kb float64) {
	cmd := exec.Command(os.Args[0], "child")
	cmd.Env = append(os.Environ(), "GOMAXPROCS="+strconv.Itoa(procs))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		die("child at GOMAXPROCS=%d: %v", procs, err)
	}
	ms, err = strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	if err != nil {
		die("child output %q: %v", out, err)
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		die("no rusage for the child")
	}
	return ms, float64(ru.Maxrss) // KiB on Linux
}

func main() {
	if len(os.Args) == 2 && os.Args[1] == "child" {
		child()
		return
	}
	if len(os.Args) != 1 {
		die("usage: goskynet")
	}
	for _, procs := range []int{1, 2} {
		ms := make([]float64, reps)
		kb := make([]float64, reps)
		for r := 0; r < reps; r++ {
			ms[r], kb[r] = once(procs)
		}
		fmt.Printf("go_skynet_ms_p%d %.2f ms\n", procs, median(ms))
		fmt.Printf("go_skynet_peak_rss_kb_p%d %.2f KiB\n", procs, median(kb))
	}
}
