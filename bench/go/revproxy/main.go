// revproxy — Go's httputil.ReverseProxy, the Go side of the gateway
// benchmark (bench/gateway.sh): every request goes to the next of
// -targets in turn (a round-robin Director), over a Transport that keeps
// up to 256 idle connections per backend, so that 64 wrk connections
// never make it dial again. That is how a Go service would proxy to a few
// backends with the standard library alone.
//
// It listens on -addr (default 127.0.0.1:0, a free port) and prints
// "listening on http://HOST:PORT" once it accepts, as goc's gateway and
// httpd do. The harness pins it to one CPU with taskset and sets
// GOMAXPROCS=1.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"strings"
	"sync/atomic"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "address to listen on")
	list := flag.String("targets", "127.0.0.1:9001,127.0.0.1:9002,127.0.0.1:9003",
		"backends (host:port), comma-separated")
	flag.Parse()
	targets := strings.Split(*list, ",")

	var next uint64
	director := func(r *http.Request) {
		n := atomic.AddUint64(&next, 1)
		r.URL.Scheme = "http"
		r.URL.Host = targets[n%uint64(len(targets))]
		if _, ok := r.Header["User-Agent"]; !ok {
			r.Header.Set("User-Agent", "") // as NewSingleHostReverseProxy: send none
		}
	}
	transport := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        1024,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     90 * time.Second,
	}
	proxy := &httputil.ReverseProxy{Director: director, Transport: transport,
		ErrorLog: log.New(os.Stderr, "revproxy: ", 0)}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "revproxy: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("listening on http://%s\n", ln.Addr())
	os.Stdout.Sync()
	err = (&http.Server{Handler: proxy}).Serve(ln)
	fmt.Fprintf(os.Stderr, "revproxy: %v\n", err)
	os.Exit(1)
}
