// memory — resident memory per parked goroutine: 1,000,000 goroutines each
// parked in time.Sleep(time.Minute); report KiB of VmRSS per goroutine.
// With BENCH_PARK=chan they park receiving from a channel nobody sends on
// (row memory-chan).
//
// Go twin of bench/memory.c: VmRSS before the first spawn and again once
// every goroutine has counted itself, runtime.NumGoroutine reached N+1 and a
// short settle passed; then os.Exit, abandoning the sleepers.
// Row: memory, KiB (lower is better; the goal is absolute: at most 5 KiB).
package main

import (
	"bufio"
	"fmt"
	"gocbench/internal/bench"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

const (
	defaultCount = 1000000
	parkTime     = time.Minute
	settle       = 500 * time.Millisecond
	deadline     = 45 * time.Second // the sleepers wake after parkTime
)

func main() {
	n := bench.Count(defaultCount)
	var never chan struct{}
	row := "memory"
	if os.Getenv("BENCH_PARK") == "chan" {
		never = make(chan struct{})
		row = "memory-chan"
	}
	before := rssKiB()

	var parked int64
	start := time.Now()
	for i := 0; i < n; i++ {
		go func() {
			atomic.AddInt64(&parked, 1)
			if never != nil {
				<-never
			} else {
				time.Sleep(parkTime)
			}
		}()
	}
	spawned := time.Since(start)
	for atomic.LoadInt64(&parked) < int64(n) || runtime.NumGoroutine() < n+1 {
		if time.Since(start) > deadline {
			die("only %d of %d goroutines parked after %v", atomic.LoadInt64(&parked), n, deadline)
		}
		time.Sleep(10 * time.Millisecond)
	}
	allParked := time.Since(start)
	time.Sleep(settle)
	after := rssKiB()

	ms := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }
	fmt.Printf("# memory: %d goroutines spawned in %.1f ms, all parked after %.1f ms\n",
		n, ms(spawned), ms(allParked))
	fmt.Printf("# memory: VmRSS %d KiB before, %d KiB after\n", before, after)
	bench.Result(row, "KiB", float64(after-before)/float64(n))
	os.Exit(0)
}

// rssKiB returns VmRSS from /proc/self/status, in KiB.
func rssKiB() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		die("cannot read VmRSS: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := sc.Text(); strings.HasPrefix(line, "VmRSS:") {
			fields := strings.Fields(strings.TrimPrefix(line, "VmRSS:"))
			if len(fields) > 0 {
				if kib, err := strconv.ParseInt(fields[0], 10, 64); err == nil {
					return kib
				}
			}
		}
	}
	die("no VmRSS line in /proc/self/status")
	return 0
}

func die(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
	os.Exit(1)
}
