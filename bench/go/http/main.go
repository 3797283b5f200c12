// http — Go's net/http twin of build/examples/httpd for the HTTP benchmark
// (bench/http.sh): GET /plaintext answers "Hello, World!" as text/plain
// with Server, Date and Content-Length, as goc's httpd and the nginx
// configuration of the benchmark do; /static/ is an http.FileServer over
// -root (httpd's /static/), for the download workload.
//
// It listens on -addr (default 127.0.0.1:0, a free port) and prints
// "listening on http://HOST:PORT" once it accepts, as httpd does, so the
// harness starts both the same way. The harness pins it to one CPU with
// taskset and sets GOMAXPROCS=1 to match.
//
// With -tls-cert and -tls-key (PEM files) it serves HTTPS instead
// (http.Server.ServeTLS, crypto/tls's defaults) and says
// "listening on https://HOST:PORT". HTTP/2 is turned off (an empty
// TLSNextProto), as goc's httpd and the benchmark's nginx speak HTTP/1.1
// only: a client that offers h2 gets HTTP/1.1 from all three.
package main

import (
	"crypto/tls"
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
	root := flag.String("root", ".", "directory served under /static/")
	cert := flag.String("tls-cert", "", "serve HTTPS with this certificate chain (PEM)")
	key := flag.String("tls-key", "", "and this private key (PEM)")
	flag.Parse()
	if (*cert == "") != (*key == "") {
		fmt.Fprintln(os.Stderr, "http: -tls-cert and -tls-key go together")
		os.Exit(2)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("/plaintext", plaintext)
	mux.Handle("/static/", http.StripPrefix("/static/", http.FileServer(http.Dir(*root))))
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "http: %v\n", err)
		os.Exit(1)
	}
	srv := &http.Server{Handler: mux}
	if *cert != "" {
		srv.TLSNextProto = map[string]func(*http.Server, *tls.Conn, http.Handler){}
		fmt.Printf("listening on https://%s\n", ln.Addr())
		os.Stdout.Sync()
		err = srv.ServeTLS(ln, *cert, *key)
	} else {
		fmt.Printf("listening on http://%s\n", ln.Addr())
		os.Stdout.Sync()
		err = srv.Serve(ln)
	}
	fmt.Fprintf(os.Stderr, "http: %v\n", err)
	os.Exit(1)
}
