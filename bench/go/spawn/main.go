// spawn — create, run and finish 1,000,000 goroutines; report goroutines/s.
//
// Go twin of bench/spawn.c: each goroutine only calls wg.Done; the clock runs
// from before the first go statement until wg.Wait returns.
// Row: spawn, ops/s (higher is better).
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"time"
)

const defaultCount = 1000000

func main() {
	n := count(defaultCount)

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
	result("spawn", "ops/s", float64(n)*1e9/float64(elapsed.Nanoseconds()))
}

// result prints the line bench/run.sh parses (same format as bench/bench.h).
func result(name, unit string, value float64) {
	fmt.Printf("RESULT name=%s unit=%s value=%.3f\n", name, unit, value)
}

// count returns os.Args[1] if given (a positive integer), else dflt.
func count(dflt int) int {
	if len(os.Args) < 2 {
		return dflt
	}
	n, err := strconv.Atoi(os.Args[1])
	if err != nil || n <= 0 {
		fmt.Fprintf(os.Stderr, "usage: %s [count]  (count: a positive integer)\n", os.Args[0])
		os.Exit(1)
	}
	return n
}
