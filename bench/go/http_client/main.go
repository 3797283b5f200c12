// http_client — Go's twin of bench/http_client.c: GOROUTINES goroutines
// share one http.Client and each issues keep-alive GETs of URL one after
// the other for WARMUP + SECONDS seconds; it reports the requests per
// second and the CPU time of the process per request over the last
// SECONDS.
//
//	http_client URL [SECONDS [WARMUP [GOROUTINES]]]   (5, 1, 64)
//
// bench/http.sh runs it (workload "client") pinned to one CPU with
// GOMAXPROCS=1 against nginx pinned to the other. Each request is
// client.Get, a status check, io.Copy(io.Discard, resp.Body) and
// resp.Body.Close, which returns the connection to the Transport's pool;
// the Transport keeps GOROUTINES idle connections per host
// (MaxIdleConnsPerHost; Go's default of 2 would redial nearly every time)
// and uses no proxy (a zero Transport's Proxy is nil). Any error or a
// status other than 200 stops the program (exit status 1).
//
// Rows: http-client (ops/s) and http-client-cpu (us of CPU per request,
// from getrusage: user + system, every thread).
package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"gocbench/internal/bench"
)

const usage = "usage: http_client URL [SECONDS [WARMUP [GOROUTINES]]]"

func arg(i int, dflt int, min int) int {
	if i >= len(os.Args) {
		return dflt
	}
	v, err := strconv.Atoi(os.Args[i])
	if err != nil || v < min {
		bench.Die(usage)
	}
	return v
}

// cpuMs is the user + system CPU time of the process so far, in ms.
func cpuMs() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e6
}

func main() {
	if len(os.Args) < 2 || len(os.Args) > 5 {
		bench.Die(usage)
	}
	url := os.Args[1]
	seconds, warmup, goroutines := arg(2, 5, 1), arg(3, 1, 0), arg(4, 64, 1)

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: goroutines}}
	var requests int64
	var stop atomic.Bool
	var wg sync.WaitGroup
	for i := 0; i < goroutines; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				resp, err := client.Get(url)
				if err != nil {
					bench.Die("%v", err)
				}
				if resp.StatusCode != 200 {
					bench.Die("GET %s: %s", url, resp.Status)
				}
				if _, err := io.Copy(io.Discard, resp.Body); err != nil {
					bench.Die("reading the body of %s: %v", url, err)
				}
				resp.Body.Close()
				atomic.AddInt64(&requests, 1)
			}
		}()
	}
	time.Sleep(time.Duration(warmup) * time.Second)
	n0, cpu0, t0 := atomic.LoadInt64(&requests), cpuMs(), time.Now()
	time.Sleep(time.Duration(seconds) * time.Second)
	n1, cpu1, t1 := atomic.LoadInt64(&requests), cpuMs(), time.Now()
	stop.Store(true)
	wg.Wait()

	n := n1 - n0
	if n <= 0 {
		bench.Die("no request completed in %d s", seconds)
	}
	wall := t1.Sub(t0).Seconds()
	fmt.Printf("# http-client: %d requests in %.3f s, %.1f ms of CPU, %d goroutines, GET %s\n",
		n, wall, cpu1-cpu0, goroutines, url)
	bench.Result("http-client", "ops/s", float64(n)/wall)
	bench.Result("http-client-cpu", "us", (cpu1-cpu0)*1e3/float64(n))
}
