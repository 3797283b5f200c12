// switch — two goroutines yield to each other 10,000,000 times in total on a
// single P; report nanoseconds per switch.
//
// Go twin of bench/switch.c: the main goroutine and one partner each call
// runtime.Gosched N/2 times with GOMAXPROCS=1 (forced here as well as by
// run.sh); the main goroutine then yields until the partner is done.
// Row: switch, ns/op (lower is better).
package main

import (
	"fmt"
	"gocbench/internal/bench"
	"os"
	"runtime"
	"sync/atomic"
	"time"
)

const defaultCount = 10000000

func main() {
	n := bench.Count(defaultCount)
	if n < 2 {
		fmt.Fprintln(os.Stderr, "bench: switch needs a count of at least 2")
		os.Exit(1)
	}
	runtime.GOMAXPROCS(1)
	half := n / 2

	var partnerDone int32
	start := time.Now()
	go func() {
		for i := 0; i < half; i++ {
			runtime.Gosched()
		}
		atomic.StoreInt32(&partnerDone, 1)
	}()
	for i := 0; i < half; i++ {
		runtime.Gosched()
	}
	for atomic.LoadInt32(&partnerDone) == 0 {
		runtime.Gosched()
	}
	elapsed := time.Since(start)

	fmt.Printf("# switch: %d yields in %.1f ms\n", 2*half, float64(elapsed.Nanoseconds())/1e6)
	bench.Result("switch", "ns/op", float64(elapsed.Nanoseconds())/float64(2*half))
}
