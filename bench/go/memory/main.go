// memory — resident memory per parked goroutine: 1,000,000 goroutines each
// parked in time.Sleep(time.Minute); report KiB of VmRSS per goroutine.
// With BENCH_PARK=chan they park receiving from a channel nobody sends on
// (row memory-chan).
//
// Go twin of bench/memory.c: VmRSS before the first spawn and again once
// every goroutine has counted itself, runtime.NumGoroutine reached N+1 and a
// short settle passed; then os.Exit, abandoning the sleepers.
// Row: memory, KiB (lower is better; the goal is absolute: at most 5 KiB).
package main

import (
	"fmt"
	"gocbench/internal/bench"
	"os"
	"runtime"
	"sync/atomic"
	"time"
)

const (
	defaultCount = 1000000
	parkTime     = time.Minute
	settle       = 500 * time.Millisecond
	deadline     = 45 * time.Second // the sleepers wake after parkTime
)

func main() {
	n := bench.Count(defaultCount)
	var never chan struct{}
	row := "memory"
	if os.Getenv("BENCH_PARK") == "chan" {
		never = make(chan struct{})
		row = "memory-chan"
	}
	before := bench.RSSKiB()

	var parked int64
	start := time.Now()
	for i := 0; i < n; i++ {
		go func() {
			atomic.AddInt64(&parked, 1)
			if never != nil {
				<-never
			} else {
				time.Sleep(parkTime)
			}
		}()
	}
	spawned := time.Since(start)
	for atomic.LoadInt64(&parked) < int64(n) || runtime.NumGoroutine() < n+1 {
		if time.Since(start) > deadline {
			bench.Die("only %d of %d goroutines parked after %v", atomic.LoadInt64(&parked), n, deadline)
		}
		time.Sleep(10 * time.Millisecond)
	}
	allParked := time.Since(start)
	time.Sleep(settle)
	after := bench.RSSKiB()

	ms := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }
	fmt.Printf("# memory: %d goroutines spawned in %.1f ms, all parked after %.1f ms\n",
		n, ms(spawned), ms(allParked))
	fmt.Printf("# memory: VmRSS %d KiB before, %d KiB after\n", before, after)
	bench.Result(row, "KiB", float64(after-before)/float64(n))
	os.Exit(0)
}
