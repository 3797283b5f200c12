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
	"gocbench/internal/bench"
	"os"
	"runtime"
	"sync"
	"time"
)

const defaultCount = 10000000

func main() {
	n := bench.Count(defaultCount)
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
	bench.Result(row, "ns/op", float64(elapsed.Nanoseconds())/float64(n))
}
