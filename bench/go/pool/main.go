// pool — sync.Pool get/put throughput: 8 goroutines each take a 4 KiB
// buffer from one shared pool, write a byte into it and put it back,
// 20,000,000 get+put pairs in total, in pairs per second.
//
// Go twin of bench/pool.c. Row: pool, ops/s (higher is better).
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
	workers      = 8
	bufSize      = 4096
)

var made atomic.Int64

var pool = sync.Pool{New: func() any {
	made.Add(1)
	b := make([]byte, bufSize)
	return &b
}}

func main() {
	n := bench.Count(defaultCount)
	if n < workers {
		fmt.Fprintf(os.Stderr, "bench: pool needs a count of at least %d\n", workers)
		os.Exit(1)
	}
	per := n / workers
	n = per * workers

	var wg sync.WaitGroup
	start := time.Now()
	wg.Add(workers)
	for w := 0; w < workers; w++ {
		go func(id byte) {
			for i := 0; i < per; i++ {
				b := pool.Get().(*[]byte)
				(*b)[i&(bufSize-1)] = id
				pool.Put(b)
			}
			wg.Done()
		}(byte(w))
	}
	wg.Wait()
	elapsed := time.Since(start)
	fmt.Printf("# pool: %d goroutines, %d get+put in %.1f ms, %d buffers made, GOMAXPROCS=%d\n",
		workers, n, float64(elapsed.Nanoseconds())/1e6, made.Load(), runtime.GOMAXPROCS(0))
	bench.Result("pool", "ops/s", float64(n)*1e9/float64(elapsed.Nanoseconds()))
}
