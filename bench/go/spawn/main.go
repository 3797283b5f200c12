// spawn — create, run and finish 1,000,000 goroutines; report goroutines/s.
//
// Go twin of bench/spawn.c: each goroutine only calls wg.Done; the clock runs
// from before the first go statement until wg.Wait returns.
// Row: spawn, ops/s (higher is better).
package main

import (
	"fmt"
	"gocbench/internal/bench"
	"runtime"
	"sync"
	"time"
)

const defaultCount = 1000000

func main() {
	n := bench.Count(defaultCount)

	var wg sync.WaitGroup
	wg.Add(n)
	start := time.Now()
	for i := 0; i < n; i++ {
		go func() { wg.Done() }()
	}
	wg.Wait()
	elapsed := time.Since(start)

	fmt.Printf("# spawn: %d goroutines in %.1f ms, GOMAXPROCS=%d\n",
		n, float64(elapsed.Nanoseconds())/1e6, runtime.GOMAXPROCS(0))
	bench.Result("spawn", "ops/s", float64(n)*1e9/float64(elapsed.Nanoseconds()))
}
