// http_c10k — 10,000 idle keep-alive HTTP/1.1 connections over 127.0.0.1,
// each answered once and then held open; report the resident memory they
// cost per connection, and the CPU time the process uses while they sit
// idle.
//
// Go twin of bench/http_c10k.c, measured the same way. The server is
// net/http's: an http.Server whose handler answers "Hello, World!" as
// text/plain, with goc's default timeouts (ReadHeaderTimeout 20 s,
// IdleTimeout 60 s: so every idle connection holds an armed read
// deadline, as goc's does), serving a loopback listener on a goroutine.
// The clients are goroutines of raw net.Conns, started in batches of 500:
// each dials, sends one "GET /plaintext HTTP/1.1" (keep-alive), reads the
// whole response (head and Content-Length body) into a 1 KiB buffer and
// counts itself; then by default it leaves its conn to main and ends (the
// client side holds bare conns, as c10k's main does), or with
// BENCH_CLIENTS=park it keeps the conn and parks in Read on it. The next
// batch starts once every client of this one has its answer. The soft
// RLIMIT_NOFILE is raised towards the hard limit (Go 1.19 does that itself
// at start), and the count is scaled down, with a note, if the hard limit
// is too low for 2 fds per connection.
//
// VmRSS is read once the server is serving and before the first dial, and
// again once every client has its answer, the server's ConnState hook has
// seen every connection go StateIdle, and a settle passed: the difference
// per connection counts the server's conn goroutine, its conn, bufio
// buffers and read deadline, both fds' poller bookkeeping and, with
// BENCH_CLIENTS=park, the client goroutine and its buffer. Then the
// process sleeps 2 s and reports the user + system CPU time of that sleep.
// Rows: http-c10k-mem (KiB per connection) and http-c10k-idle-cpu (ms), or
// http-c10k-park-mem and http-c10k-park-idle-cpu; lower is better.
package main

import (
	"bytes"
	"fmt"
	"gocbench/internal/bench"
	"net"
	"net/http"
	"os"
	"strconv"
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

var (
	request = []byte("GET /plaintext HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
	hello   = []byte("Hello, World!")

	answered, idleConns int64
	park                bool       // BENCH_CLIENTS=park: clients keep their conns
	conns               []net.Conn // otherwise: the clients' ends, held by main
)

func plaintext(w http.ResponseWriter, r *http.Request) {
	w.Header()["Content-Type"] = []string{"text/plain"}
	w.Write(hello)
}

// responseSize returns how many bytes the response in buf takes in all,
// once its head is complete; 0 while it is not. Dies on anything but a 200
// with a Content-Length.
func responseSize(buf []byte) int {
	end := bytes.Index(buf, []byte("\r\n\r\n"))
	if end < 0 {
		return 0
	}
	head := buf[:end]
	if !bytes.HasPrefix(head, []byte("HTTP/1.1 200 ")) {
		bench.Die("unexpected response: %s", head)
	}
	for _, line := range bytes.Split(head, []byte("\r\n")) {
		if len(line) > 15 && bytes.EqualFold(line[:15], []byte("Content-Length:")) {
			n, err := strconv.Atoi(string(bytes.TrimSpace(line[15:])))
			if err != nil {
				bench.Die("bad Content-Length: %s", line)
			}
			return end + 4 + n
		}
	}
	bench.Die("response without Content-Length: %s", head)
	return 0
}

func client(addr string, i int) {
	buf := make([]byte, 1024)
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		bench.Die("dial after %d answers: %v", atomic.LoadInt64(&answered), err)
	}
	if _, err := c.Write(request); err != nil {
		bench.Die("write: %v", err)
	}
	n, want := 0, 0
	for want == 0 || n < want {
		if n == len(buf) {
			bench.Die("response larger than %d bytes", len(buf))
		}
		m, err := c.Read(buf[n:])
		if err != nil {
			bench.Die("read of the response: %v", err)
		}
		n += m
		if want == 0 {
			want = responseSize(buf[:n])
		}
	}
	if !park {
		conns[i] = c // main reads it after answered counts it
		atomic.AddInt64(&answered, 1)
		return
	}
	atomic.AddInt64(&answered, 1)
	for { // keep-alive: parks here for good
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
		fmt.Printf("# http-c10k: the hard RLIMIT_NOFILE (%d) allows %d connections, not %d: "+
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

// waitFor sleeps until *counter reaches n; dies past the deadline from start.
func waitFor(counter *int64, n int, start time.Time, what string) {
	for atomic.LoadInt64(counter) < int64(n) {
		if time.Since(start) > deadline {
			bench.Die("only %d of %d %s", atomic.LoadInt64(counter), n, what)
		}
		time.Sleep(time.Millisecond)
	}
}

func main() {
	n := fitFDLimit(bench.Count(defaultCount))
	park = os.Getenv("BENCH_CLIENTS") == "park"
	row := "http-c10k"
	if park {
		row = "http-c10k-park"
	} else {
		conns = make([]net.Conn, n)
	}

	srv := &http.Server{
		Handler:           http.HandlerFunc(plaintext),
		ReadHeaderTimeout: 20 * time.Second,
		IdleTimeout:       60 * time.Second,
		ConnState: func(c net.Conn, st http.ConnState) {
			if st == http.StateIdle {
				atomic.AddInt64(&idleConns, 1)
			}
		},
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		bench.Die("listen: %v", err)
	}
	addr := ln.Addr().String()
	go func() {
		bench.Die("serve: %v", srv.Serve(ln))
	}()
	time.Sleep(10 * time.Millisecond) // let Serve park in Accept
	before := bench.RSSKiB()

	start := time.Now()
	for i := 0; i < n; i += batch {
		end := i + batch
		if end > n {
			end = n
		}
		for j := i; j < end; j++ {
			go client(addr, j)
		}
		waitFor(&answered, end, start, "clients have their answer") // the server catches up
	}
	dialed := time.Since(start)
	waitFor(&idleConns, n, start, "server connections went idle")
	time.Sleep(settle)
	after := bench.RSSKiB()

	cpu0 := cpuMs()
	t0 := time.Now()
	time.Sleep(idle)
	idleCPU := cpuMs() - cpu0
	idleWall := time.Since(t0)

	clients := "ended, conns held by main"
	if park {
		clients = "parked in Read"
	}
	fmt.Printf("# %s: %d connections dialed and answered in %.1f ms; clients %s\n", row, n,
		float64(dialed.Nanoseconds())/1e6, clients)
	fmt.Printf("# %s: VmRSS %d KiB before, %d KiB after\n", row, before, after)
	fmt.Printf("# %s: %.1f ms of CPU in %.1f ms idle\n", row, idleCPU,
		float64(idleWall.Nanoseconds())/1e6)
	bench.Result(row+"-mem", "KiB", float64(after-before)/float64(n))
	bench.Result(row+"-idle-cpu", "ms", idleCPU)
	os.Exit(0)
}
