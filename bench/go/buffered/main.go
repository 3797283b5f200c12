// buffered — 4 producers and 4 consumers move 20,000,000 values through one
// channel of capacity 1024; report values/s.
//
// Go twin of bench/buffered.c: producers send their quarter, consumers
// range over the channel summing; main waits for the producers, closes the
// channel, waits for the consumers and checks the sum.
// Row: buffered, ops/s (higher is better).
package main

import (
	"fmt"
	"gocbench/internal/bench"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

const (
	defaultCount = 20000000
	capacity     = 1024
	producers    = 4
	consumers    = 4
)

func main() {
	n := bench.Count(defaultCount)
	if n < producers {
		fmt.Fprintf(os.Stderr, "bench: buffered needs a count of at least %d\n", producers)
		os.Exit(1)
	}
	per := n / producers
	n = per * producers
	ch := make(chan int, capacity)
	var pwg, cwg sync.WaitGroup
	var total uint64

	start := time.Now()
	pwg.Add(producers)
	cwg.Add(consumers)
	for i := 0; i < consumers; i++ {
		go func() {
			var sum uint64
			for v := range ch {
				sum += uint64(v)
			}
			atomic.AddUint64(&total, sum)
			cwg.Done()
		}()
	}
	for i := 0; i < producers; i++ {
		go func(base int) {
			for j := 0; j < per; j++ {
				ch <- base + j
			}
			pwg.Done()
		}(i * per)
	}
	pwg.Wait()
	close(ch)
	cwg.Wait()
	elapsed := time.Since(start)

	if want := uint64(n) * uint64(n-1) / 2; total != want {
		fmt.Fprintf(os.Stderr, "bench: buffered: sum %d, want %d\n", total, want)
		os.Exit(1)
	}
	fmt.Printf("# buffered: %d values in %.1f ms, GOMAXPROCS=%d\n", n,
		float64(elapsed.Nanoseconds())/1e6, runtime.GOMAXPROCS(0))
	bench.Result("buffered", "ops/s", float64(n)*1e9/float64(elapsed.Nanoseconds()))
}
