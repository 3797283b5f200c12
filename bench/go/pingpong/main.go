// pingpong — two goroutines bounce a value over two unbuffered channels,
// 10,000,000 round trips in total; report nanoseconds per round trip.
//
// Go twin of bench/pingpong.c: main sends i on ping and waits for it back
// on pong; the partner echoes until ping is closed; a sync.WaitGroup waits
// for it. run.sh runs it with GOMAXPROCS=1 and 2; the row is named
// pingpong-p<GOMAXPROCS>. Row unit: ns/op per round trip (lower is better).
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"time"
)

const defaultCount = 10000000

func main() {
	n := count(defaultCount)
	ping := make(chan int)
	pong := make(chan int)
	var wg sync.WaitGroup

	start := time.Now()
	wg.Add(1)
	go func() {
		for v := range ping {
			pong <- v
		}
		wg.Done()
	}()
	for i := 0; i < n; i++ {
		ping <- i
		if back := <-pong; back != i {
			fmt.Fprintf(os.Stderr, "bench: pingpong: sent %d, got %d back\n", i, back)
			os.Exit(1)
		}
	}
	close(ping)
	wg.Wait()
	elapsed := time.Since(start)

	row := fmt.Sprintf("pingpong-p%d", runtime.GOMAXPROCS(0))
	fmt.Printf("# %s: %d round trips in %.1f ms\n", row, n, float64(elapsed.Nanoseconds())/1e6)
	result(row, "ns/op", float64(elapsed.Nanoseconds())/float64(n))
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
