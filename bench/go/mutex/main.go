// mutex — sync.Mutex throughput, two rows:
//
//	mutex-contended    8 goroutines increment one shared counter under one
//	                   mutex, 10,000,000 increments in total;
//	mutex-uncontended  one goroutine locks and unlocks a mutex 40,000,000
//	                   times (4x the count).
//
// Both in lock+unlock pairs per second.
//
// Go twin of bench/mutex.c. Rows: mutex-contended, mutex-uncontended, ops/s
// (higher is better).
package main

import (
	"fmt"
	"gocbench/internal/bench"
	"os"
	"runtime"
	"sync"
	"time"
)

const (
	defaultCount = 10000000
	workers      = 8
)

var (
	mu      sync.Mutex
	counter int

	solo      sync.Mutex
	soloCount int
)

func main() {
	n := bench.Count(defaultCount)
	if n < workers {
		fmt.Fprintf(os.Stderr, "bench: mutex needs a count of at least %d\n", workers)
		os.Exit(1)
	}
	per := n / workers
	n = per * workers

	var wg sync.WaitGroup
	start := time.Now()
	wg.Add(workers)
	for i := 0; i < workers; i++ {
		go func() {
			for j := 0; j < per; j++ {
				mu.Lock()
				counter++
				mu.Unlock()
			}
			wg.Done()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	mu.Lock()
	got := counter
	mu.Unlock()
	if got != n {
		fmt.Fprintf(os.Stderr, "bench: mutex: counter %d, want %d\n", got, n)
		os.Exit(1)
	}
	fmt.Printf("# mutex-contended: %d goroutines, %d increments in %.1f ms, GOMAXPROCS=%d\n",
		workers, n, float64(elapsed.Nanoseconds())/1e6, runtime.GOMAXPROCS(0))
	bench.Result("mutex-contended", "ops/s", float64(n)*1e9/float64(elapsed.Nanoseconds()))

	m := 4 * n
	start = time.Now()
	for i := 0; i < m; i++ {
		solo.Lock()
		soloCount++
		solo.Unlock()
	}
	elapsed = time.Since(start)
	fmt.Printf("# mutex-uncontended: %d lock/unlock pairs in %.1f ms\n", m,
		float64(elapsed.Nanoseconds())/1e6)
	bench.Result("mutex-uncontended", "ops/s", float64(m)*1e9/float64(elapsed.Nanoseconds()))
}
