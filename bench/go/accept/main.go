// accept — connection churn over 127.0.0.1: 4 dialer goroutines open 20,000
// TCP connections in total, one after another each, against a server
// goroutine that accepts each one and closes it at once; report
// connections per second.
//
// Go twin of bench/accept.c: a dialer waits for the server's close (end of
// file) before it closes its end and dials again. The clock runs from
// before the first dial until the dialers are done (sync.WaitGroup) and the
// server has accepted every connection (it signals on a channel after the
// last). Row: accept (ops/s, connections per second).
package main

import (
	"fmt"
	"gocbench/internal/bench"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

const (
	defaultCount = 20000
	dialers      = 4
)

func main() {
	perDialer := bench.Count(defaultCount) / dialers
	if perDialer == 0 {
		perDialer = 1
	}
	n := perDialer * dialers

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		die("listen: %v", err)
	}
	addr := ln.Addr().String()
	acceptedAll := make(chan struct{}, 1)
	go func() {
		for i := 0; i < n; i++ {
			c, err := ln.Accept()
			if err != nil {
				die("accept: %v", err)
			}
			c.Close()
		}
		acceptedAll <- struct{}{}
	}()

	var wg sync.WaitGroup
	start := time.Now()
	wg.Add(dialers)
	for d := 0; d < dialers; d++ {
		go func() {
			for i := 0; i < perDialer; i++ {
				c, err := net.DialTimeout("tcp", addr, 10*time.Second)
				if err != nil {
					die("dial %s after %d connections: %v", addr, i, err)
				}
				var b [1]byte
				if n, err := c.Read(b[:]); n != 0 || err != io.EOF {
					die("read: %d bytes, %v", n, err) // the server's close: io.EOF
				}
				c.Close()
			}
			wg.Done()
		}()
	}
	wg.Wait()
	dialed := time.Since(start)
	<-acceptedAll
	elapsed := time.Since(start)

	ms := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }
	fmt.Printf("# accept: %d connections by %d dialers in %.1f ms (dials done after %.1f ms)\n",
		n, dialers, ms(elapsed), ms(dialed))
	bench.Result("accept", "ops/s", float64(n)/elapsed.Seconds())
	ln.Close()
	os.Exit(0)
}

func die(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
	os.Exit(1)
}
