// echo — a TCP echo server and 100 concurrent clients over 127.0.0.1,
// 200,000 messages of 1 KiB in total; report messages per second and the
// 99th percentile round-trip latency.
//
// Go twin of bench/echo.c: the server is one goroutine accepting and one
// per connection that reads up to 1 KiB and writes back what it read; each
// client dials, then sends a 1 KiB message and reads the whole echo before
// sending the next, count/100 times, recording every round trip in a
// preallocated slice (sorted at the end for the p99). The clock runs from
// before the first dial until every client is done (sync.WaitGroup).
// Rows: echo (ops/s, messages per second) and echo-p99 (us, lower is better).
package main

import (
	"bytes"
	"fmt"
	"gocbench/internal/bench"
	"io"
	"net"
	"os"
	"sort"
	"sync"
	"time"
)

const (
	defaultCount = 200000
	clients      = 100
	msgSize      = 1024
)

func serveConn(c net.Conn) {
	buf := make([]byte, msgSize)
	for {
		n, err := c.Read(buf)
		if err != nil || n == 0 {
			break // io.EOF: the client closed
		}
		if _, err := c.Write(buf[:n]); err != nil {
			break
		}
	}
	c.Close()
}

func main() {
	perClient := bench.Count(defaultCount) / clients
	if perClient == 0 {
		perClient = 1
	}
	n := perClient * clients
	lat := make([]int64, n)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		die("listen: %v", err)
	}
	addr := ln.Addr().String()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				die("accept: %v", err)
			}
			go serveConn(c)
		}
	}()

	var wg sync.WaitGroup
	start := time.Now()
	wg.Add(clients)
	for c := 0; c < clients; c++ {
		go func(c int) {
			conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
			if err != nil {
				die("dial %s: %v", addr, err)
			}
			msg := bytes.Repeat([]byte{byte('a' + c%26)}, msgSize)
			back := make([]byte, msgSize)
			mine := lat[c*perClient : (c+1)*perClient]
			for i := range mine {
				t0 := time.Now()
				if _, err := conn.Write(msg); err != nil {
					die("write: %v", err)
				}
				if _, err := io.ReadFull(conn, back); err != nil {
					die("read: %v", err)
				}
				mine[i] = int64(time.Since(t0))
				if !bytes.Equal(msg, back) {
					die("echo: the echo differs from the message")
				}
			}
			conn.Close()
			wg.Done()
		}(c)
	}
	wg.Wait()
	elapsed := time.Since(start)

	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	p50, p99 := lat[(n+1)/2-1], lat[(99*n+99)/100-1]
	fmt.Printf("# echo: %d messages over %d connections in %.1f ms; p50 %.1f us, p99 %.1f us, max %.1f us\n",
		n, clients, float64(elapsed.Nanoseconds())/1e6, float64(p50)/1e3, float64(p99)/1e3,
		float64(lat[n-1])/1e3)
	bench.Result("echo", "ops/s", float64(n)/elapsed.Seconds())
	bench.Result("echo-p99", "us", float64(p99)/1e3)
	os.Exit(0)
}

func die(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
	os.Exit(1)
}
