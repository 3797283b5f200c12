// select — one goroutine selects over 4 unbuffered channels, each fed by its
// own producer, until it has received 4,000,000 values; report values/s.
//
// Go twin of bench/select.c: a select statement with four receive cases in
// a loop; the producers count themselves out on a sync.WaitGroup.
// Row: select, ops/s (higher is better).
package main

import (
	"fmt"
	"gocbench/internal/bench"
	"os"
	"runtime"
	"sync"
	"time"
)

const defaultCount = 4000000

func main() {
	n := bench.Count(defaultCount)
	if n < 4 {
		fmt.Fprintln(os.Stderr, "bench: select needs a count of at least 4")
		os.Exit(1)
	}
	per := n / 4
	n = per * 4
	var chans [4]chan int
	for i := range chans {
		chans[i] = make(chan int)
	}
	var wg sync.WaitGroup
	var got [4]int
	var sum uint64

	start := time.Now()
	wg.Add(4)
	for k := 0; k < 4; k++ {
		go func(k int) {
			c := chans[k]
			for i := 0; i < per; i++ {
				c <- k*per + i
			}
			wg.Done()
		}(k)
	}
	c0, c1, c2, c3 := chans[0], chans[1], chans[2], chans[3]
	for i := 0; i < n; i++ {
		var v int
		select {
		case v = <-c0:
			got[0]++
		case v = <-c1:
			got[1]++
		case v = <-c2:
			got[2]++
		case v = <-c3:
			got[3]++
		}
		sum += uint64(v)
	}
	wg.Wait()
	elapsed := time.Since(start)

	if want := uint64(n) * uint64(n-1) / 2; sum != want {
		fmt.Fprintf(os.Stderr, "bench: select: sum %d, want %d\n", sum, want)
		os.Exit(1)
	}
	fmt.Printf("# select: %d values in %.1f ms (per channel %v), GOMAXPROCS=%d\n", n,
		float64(elapsed.Nanoseconds())/1e6, got, runtime.GOMAXPROCS(0))
	bench.Result("select", "ops/s", float64(n)*1e9/float64(elapsed.Nanoseconds()))
}
