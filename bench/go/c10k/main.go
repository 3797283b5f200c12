// c10k — 10,000 idle TCP connections over 127.0.0.1, each with a server
// goroutine parked in Read; report the resident memory they cost per
// connection, and the CPU time the process uses while they sit idle.
//
// Go twin of bench/c10k.c: a server goroutine accepts and starts one
// goroutine per connection that reads up to 1 KiB (nothing is ever sent);
// main dials in batches of 500, waiting for the server to accept each
// batch, and keeps its ends open. The soft RLIMIT_NOFILE is raised towards
// the hard limit (Go 1.19 does that itself at start), and the count is
// scaled down, with a note, if the hard limit is too low for 2 fds per
// connection. VmRSS is read after Listen and before the first dial, and
// again once every reader has counted itself and a settle passed; then the
// process sleeps 2 s and reports the user + system CPU time of that sleep.
// Rows: c10k-mem (KiB per connection) and c10k-idle-cpu (ms), lower is better.
package main

import (
	"fmt"
	"gocbench/internal/bench"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"time"
)

const (
	defaultCount = 10000
	spareFDs     = 100 // stdio, the listener, the poller, ...
	batch        = 500
	settle       = 500 * time.Millisecond
	idle         = 2 * time.Second
	deadline     = 60 * time.Second
)

var accepted, parked int64

func connReader(c net.Conn) {
	buf := make([]byte, 1024)
	atomic.AddInt64(&parked, 1)
	for {
		if _, err := c.Read(buf); err != nil {
			break
		}
	}
	c.Close()
}

// fitFDLimit raises the soft fd limit for n connections (2 fds each) and
// returns how many connections fit.
func fitFDLimit(n int) int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		bench.Die("getrlimit(RLIMIT_NOFILE): %v", err)
	}
	want := uint64(2*n + spareFDs)
	if rl.Cur < want {
		rl.Cur = want
		if rl.Max != ^uint64(0) && rl.Max < want { // ^0: RLIM_INFINITY
			rl.Cur = rl.Max
		}
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
			bench.Die("setrlimit(RLIMIT_NOFILE, %d): %v", rl.Cur, err)
		}
	}
	if rl.Cur < want {
		fit := (int(rl.Cur) - spareFDs) / 2
		if fit < 1 {
			bench.Die("RLIMIT_NOFILE %d leaves no room for connections", rl.Cur)
		}
		fmt.Printf("# c10k: the hard RLIMIT_NOFILE (%d) allows %d connections, not %d: "+
			"scaled down (raise it with ulimit -Hn as root for the full count)\n", rl.Max, fit, n)
		n = fit
	}
	return n
}

func cpuMs() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Sec+ru.Stime.Sec)*1e3 + float64(ru.Utime.Usec+ru.Stime.Usec)/1e3
}

func main() {
	n := fitFDLimit(bench.Count(defaultCount))
	conns := make([]net.Conn, n)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		bench.Die("listen: %v", err)
	}
	addr := ln.Addr().String()
	before := bench.RSSKiB()

	go func() {
		for i := 0; i < n; i++ {
			c, err := ln.Accept()
			if err != nil {
				bench.Die("accept after %d connections: %v", i, err)
			}
			go connReader(c)
			atomic.AddInt64(&accepted, 1)
		}
	}()
	start := time.Now()
	for i := range conns {
		if conns[i], err = net.DialTimeout("tcp", addr, 10*time.Second); err != nil {
			bench.Die("dial after %d connections: %v", i, err)
		}
		if (i+1)%batch == 0 || i+1 == n { // let the server catch up
			for atomic.LoadInt64(&accepted) < int64(i+1) {
				if time.Since(start) > deadline {
					bench.Die("the server accepted only %d of %d connections", atomic.LoadInt64(&accepted), i+1)
				}
				time.Sleep(time.Millisecond)
			}
		}
	}
	dialed := time.Since(start)
	for atomic.LoadInt64(&parked) < int64(n) {
		if time.Since(start) > deadline {
			bench.Die("only %d of %d server goroutines reached Read", atomic.LoadInt64(&parked), n)
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(settle)
	after := bench.RSSKiB()

	cpu0 := cpuMs()
	t0 := time.Now()
	time.Sleep(idle)
	idleCPU := cpuMs() - cpu0
	idleWall := time.Since(t0)

	fmt.Printf("# c10k: %d connections dialed and accepted in %.1f ms\n", n,
		float64(dialed.Nanoseconds())/1e6)
	fmt.Printf("# c10k: VmRSS %d KiB before, %d KiB after\n", before, after)
	fmt.Printf("# c10k: %.1f ms of CPU in %.1f ms idle\n", idleCPU, float64(idleWall.Nanoseconds())/1e6)
	bench.Result("c10k-mem", "KiB", float64(after-before)/float64(n))
	bench.Result("c10k-idle-cpu", "ms", idleCPU)
	os.Exit(0)
}
