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
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"time"
)

const defaultCount = 10000000

func main() {
	n := count(defaultCount)
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
	result("switch", "ns/op", float64(elapsed.Nanoseconds())/float64(2*half))
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
