// http — Go's net/http twin of build/examples/httpd for the HTTP benchmark
// (bench/http.sh): GET /plaintext answers "Hello, World!" as text/plain
// with Server, Date and Content-Length, as goc's httpd and the nginx
// configuration of the benchmark do.
//
// It listens on -addr (default 127.0.0.1:0, a free port) and prints
// "listening on http://HOST:PORT" once it accepts, as httpd does, so the
// harness starts both the same way. The harness pins it to one CPU with
// taskset and sets GOMAXPROCS=1 to match.
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
)

var hello = []byte("Hello, World!")

func plaintext(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h["Server"] = []string{"Go"}
	h["Content-Type"] = []string{"text/plain"}
	w.Write(hello)
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "address to listen on")
	flag.Parse()

	mux := http.NewServeMux()
	mux.HandleFunc("/plaintext", plaintext)
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "http: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("listening on http://%s\n", ln.Addr())
	os.Stdout.Sync()
	if err := http.Serve(ln, mux); err != nil {
		fmt.Fprintf(os.Stderr, "http: %v\n", err)
		os.Exit(1)
	}
}
