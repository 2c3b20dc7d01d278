// SPDX-License-Identifier: MIT
// gochan.go - Go peer for weft-bench's `chan`, `threadring`,
// `chameneos` and `mutex` groups, the same shapes with Go channels. Dependency-free;
// build with `go build gochan.go`.
//
//	chan        go_chan_pingpong_ns_pN: round trip of an int through two
//	            unbuffered channels between main and an echo goroutine.
//	            go_chan_buffered_mops_pN: a channel of capacity 1,024 from
//	            one producer goroutine to main, 4,000,000 ints, millions of
//	            items per second.
//	threadring  go_threadring_ms_pN: 503 goroutines linked in a ring by
//	            unbuffered channels pass a token 10,000,000 hops (the
//	            benchmarks game's thread-ring); ms from the first send to
//	            the final holder's report. The holder must be
//	            (hops % 503) + 1, otherwise the program fails.
//	chameneos   go_chameneos_ms_pN: the benchmarks game's chameneos-redux
//	            with 6,000,000 meetings, the meeting place built the same
//	            way as weft-bench's (a capacity-1 channel holding the count
//	            of meetings left, which its holder owns together with the
//	            waiting creature; an unbuffered channel per creature). The
//	            reference text for 600 meetings goes to stderr.
//	mutex       go_mutex_mops_pN: N goroutines increment one counter under
//	            one sync.Mutex, 4,000,000 increments in all (the counter is
//	            checked); millions of lock/unlock pairs per second (the
//	            shape of weft-bench's mutex_contended_mops at N workers).
//
// Every group runs at GOMAXPROCS=1 (suffix _p1) and 2 (_p2). No argument
// runs all groups. Timed figures are the median of several repetitions.
// Output: one `name value unit` line per figure on stdout.
package main

import (
	"fmt"
	"io"
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

func die(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "gochan: "+format+"\n", args...)
	os.Exit(1)
}

// ---- chan ----

func pingpongOnce(ping, pong chan int, rounds int) float64 {
	t0 := time.Now()
	for i := 0; i < rounds; i++ {
		ping <- i
		if back := <-pong; back != i {
			die("chan: sent %d, got back %d", i, back)
		}
	}
	return float64(time.Since(t0).Nanoseconds()) / float64(rounds)
}

func bufferedOnce() float64 {
	const items, capacity = 4000000, 1024
	c := make(chan int, capacity)
	t0 := time.Now()
	go func() {
		for v := 1; v <= items; v++ {
			c <- v
		}
		close(c)
	}()
	want := 1
	for v := range c {
		if v != want {
			die("chan: buffered: got %d, expected %d", v, want)
		}
		want++
	}
	el := time.Since(t0).Nanoseconds()
	if want != items+1 {
		die("chan: buffered: received %d items of %d", want-1, items)
	}
	return float64(items) / float64(el) * 1e3
}

func benchChan(procs int) {
	const reps, bufReps = 7, 5
	rounds := 1000000
	if procs > 1 {
		rounds = 100000
	}
	var buf []float64
	bufferedOnce() // warm-up
	for r := 0; r < bufReps; r++ {
		buf = append(buf, bufferedOnce())
	}
	ping, pong := make(chan int), make(chan int)
	go func() {
		for v := range ping {
			pong <- v
		}
	}()
	pingpongOnce(ping, pong, rounds/10) // warm-up
	var per []float64
	for r := 0; r < reps; r++ {
		per = append(per, pingpongOnce(ping, pong, rounds))
	}
	close(ping)
	fmt.Printf("go_chan_pingpong_ns_p%d %.2f ns\n", procs, median(per))
	fmt.Printf("go_chan_buffered_mops_p%d %.2f Mitems/s\n", procs, median(buf))
}

// ---- threadring ----

const ringSize = 503

func threadringOnce(hops int) float64 {
	var links [ringSize]chan int
	for i := range links {
		links[i] = make(chan int)
	}
	done := make(chan int, 1)
	var wg sync.WaitGroup
	wg.Add(ringSize)
	for i := 0; i < ringSize; i++ {
		go func(id int, in, out chan int) {
			defer wg.Done()
			for n := range in {
				if n == 0 {
					done <- id
					continue
				}
				out <- n - 1
			}
		}(i+1, links[i], links[(i+1)%ringSize])
	}
	t0 := time.Now()
	links[0] <- hops
	winner := <-done
	el := time.Since(t0)
	for _, l := range links {
		close(l)
	}
	wg.Wait()
	if want := hops%ringSize + 1; winner != want {
		die("threadring: WRONG RESULT: goroutine %d holds the token after %d hops, the reference says %d",
			winner, hops, want)
	}
	return float64(el.Nanoseconds()) / 1e6
}

func benchThreadring(procs int) {
	const hops, reps = 10000000, 3
	threadringOnce(1000) // warm-up; the reference answer is 498
	var ms []float64
	for r := 0; r < reps; r++ {
		ms = append(ms, threadringOnce(hops))
	}
	fmt.Printf("go_threadring_ms_p%d %.2f ms\n", procs, median(ms))
}

// ---- chameneos ----

type colour int

const (
	blue colour = iota
	red
	yellow
)

var colourName = []string{"blue", "red", "yellow"}

func complement(a, b colour) colour {
	if a == b {
		return a
	}
	return 3 - a - b
}

type chamInfo struct {
	id     int
	colour colour
}

type creature struct {
	id        int
	colour    colour
	met, same int
	mine      chan chamInfo // unbuffered: the partner's info
}

// The meeting place: place holds the count of meetings left; whoever has
// taken it out owns waiting until it puts the count back.
type meetingPlace struct {
	place   chan int
	waiting *creature
}

func (c *creature) run(mp *meetingPlace, wg *sync.WaitGroup) {
	defer wg.Done()
	for {
		n := <-mp.place
		if n == 0 {
			mp.place <- 0
			return
		}
		var other chamInfo
		if mp.waiting == nil {
			mp.waiting = c
			mp.place <- n
			other = <-c.mine
		} else {
			first := mp.waiting
			mp.waiting = nil
			other = chamInfo{first.id, first.colour}
			mp.place <- n - 1
			first.mine <- chamInfo{c.id, c.colour}
		}
		c.met++
		if other.id == c.id {
			c.same++
		}
		c.colour = complement(c.colour, other.colour)
	}
}

func spell(n int) string {
	digits := []string{"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"}
	var b strings.Builder
	for _, d := range strconv.Itoa(n) {
		b.WriteString(" " + digits[d-'0'])
	}
	return b.String()
}

func chameneosSet(colours []colour, n int, w io.Writer) {
	mp := &meetingPlace{place: make(chan int, 1)}
	mp.place <- n
	cs := make([]*creature, len(colours))
	var wg sync.WaitGroup
	wg.Add(len(colours))
	for i, col := range colours {
		cs[i] = &creature{id: i, colour: col, mine: make(chan chamInfo)}
		go cs[i].run(mp, &wg)
	}
	wg.Wait()
	for _, col := range colours {
		fmt.Fprintf(w, " %s", colourName[col])
	}
	fmt.Fprintln(w)
	total := 0
	for _, c := range cs {
		total += c.met
		fmt.Fprintf(w, "%d%s\n", c.met, spell(c.same))
	}
	fmt.Fprintf(w, "%s\n\n", spell(total))
	if total != 2*n {
		die("chameneos: WRONG RESULT: %d meetings counted, expected 2 * %d", total, n)
	}
}

func chameneosOnce(n int, w io.Writer) float64 {
	t0 := time.Now()
	for a := blue; a <= yellow; a++ {
		for b := blue; b <= yellow; b++ {
			fmt.Fprintf(w, "%s + %s -> %s\n", colourName[a], colourName[b], colourName[complement(a, b)])
		}
	}
	fmt.Fprintln(w)
	chameneosSet([]colour{blue, red, yellow}, n, w)
	chameneosSet([]colour{blue, red, yellow, red, yellow, blue, red, yellow, red, blue}, n, w)
	return float64(time.Since(t0).Nanoseconds()) / 1e6
}

func benchChameneos(procs int) {
	const n, reps = 6000000, 3
	var out io.Writer = io.Discard
	if procs == 1 {
		out = os.Stderr
	}
	chameneosOnce(600, out) // the reference run
	var ms []float64
	for r := 0; r < reps; r++ {
		ms = append(ms, chameneosOnce(n, io.Discard))
	}
	fmt.Printf("go_chameneos_ms_p%d %.2f ms\n", procs, median(ms))
}

func mutexOnce(procs, n int) float64 {
	var mu sync.Mutex
	var wg sync.WaitGroup
	counter := 0
	per := n / procs
	t0 := time.Now()
	for g := 0; g < procs; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < per; i++ {
				mu.Lock()
				counter++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	el := time.Since(t0).Seconds()
	if counter != per*procs {
		fmt.Fprintf(os.Stderr, "gochan: mutex: counter is %d, expected %d\n", counter, per*procs)
		os.Exit(1)
	}
	return float64(counter) / el / 1e6
}

func benchMutex(procs int) {
	const n, reps = 4000000, 5
	mutexOnce(procs, n) // warm-up
	var mops []float64
	for r := 0; r < reps; r++ {
		mops = append(mops, mutexOnce(procs, n))
	}
	fmt.Printf("go_mutex_mops_p%d %.2f Mops\n", procs, median(mops))
}

func main() {
	group := ""
	if len(os.Args) > 1 {
		group = os.Args[1]
	}
	benches := []struct {
		name string
		fn   func(int)
	}{
		{"chan", benchChan},
		{"threadring", benchThreadring},
		{"chameneos", benchChameneos},
		{"mutex", benchMutex},
	}
	known := false
	old := runtime.GOMAXPROCS(0)
	for _, b := range benches {
		if group != "" && group != b.name {
			continue
		}
		known = true
		for _, procs := range []int{1, 2} {
			runtime.GOMAXPROCS(procs)
			b.fn(procs)
		}
	}
	runtime.GOMAXPROCS(old)
	if !known {
		fmt.Fprintf(os.Stderr, "usage: %s [chan|threadring|chameneos|mutex]\n", os.Args[0])
		os.Exit(2)
	}
}
