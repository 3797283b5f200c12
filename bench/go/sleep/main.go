// sleep — timer churn: 100,000 goroutines each sleep a random 1–100 ms
// (uniform, fixed seed); report the wall time and the mean lateness.
//
// Go twin of bench/sleep.c, with the same SplitMix64 sequence, so both sides
// sleep for the very same durations. Wall time runs from before the first go
// statement until the last goroutine finishes (it stamps the time itself);
// the main goroutine polls with a 1 ms sleep, as the C side does.
// Rows: sleep-wall (ms) and sleep-late (us), both lower is better.
package main

import (
	"fmt"
	"gocbench/internal/bench"
	"sort"
	"sync/atomic"
	"time"
)

const (
	defaultCount = 100000
	seed         = 42
	minSleep     = 1 * time.Millisecond
	maxSleep     = 100 * time.Millisecond
)

// sleeper is one goroutine's work: want is set before the spawn, late by the
// goroutine alone.
type sleeper struct {
	want time.Duration
	late time.Duration
}

// splitmix64 is the PRNG of bench/bench.h, bit for bit.
func splitmix64(state *uint64) uint64 {
	*state += 0x9e3779b97f4a7c15
	z := *state
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

func main() {
	n := bench.Count(defaultCount)
	s := make([]sleeper, n)
	rng := uint64(seed)
	for i := range s {
		s[i].want = minSleep + time.Duration(splitmix64(&rng)%uint64(maxSleep-minSleep+1))
	}

	remaining := int64(n)
	var endNs int64 // time since start when the last goroutine finished; 0 until then
	start := time.Now()
	for i := range s {
		go func(s *sleeper) {
			t0 := time.Now()
			time.Sleep(s.want)
			s.late = time.Since(t0) - s.want
			if atomic.AddInt64(&remaining, -1) == 0 {
				atomic.StoreInt64(&endNs, int64(time.Since(start)))
			}
		}(&s[i])
	}
	spawned := time.Since(start)
	var end int64
	for end = atomic.LoadInt64(&endNs); end == 0; end = atomic.LoadInt64(&endNs) {
		time.Sleep(time.Millisecond)
	}

	fmt.Printf("# sleep: %d goroutines, spawned in %.1f ms\n", n, float64(spawned.Nanoseconds())/1e6)
	bench.Result("sleep-wall", "ms", float64(end)/1e6)
	bench.Result("sleep-late", "us", meanLateness(s))
}

// meanLateness returns the mean lateness in microseconds and prints the
// distribution.
func meanLateness(s []sleeper) float64 {
	n := len(s)
	late := make([]time.Duration, n)
	var sum float64
	for i := range s {
		late[i] = s[i].late
		sum += float64(late[i])
	}
	sort.Slice(late, func(i, j int) bool { return late[i] < late[j] })
	us := func(d time.Duration) float64 { return float64(d) / 1e3 }
	fmt.Printf("# sleep-late: p50=%.1f us p99=%.1f us max=%.1f us min=%.1f us\n",
		us(late[n/2]), us(late[n-1-n/100]), us(late[n-1]), us(late[0]))
	return sum / float64(n) / 1e3
}
