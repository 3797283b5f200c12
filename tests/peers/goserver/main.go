// goserver — Go's net/http server, a real peer for goc's client
// (examples/fetch), with routes that make the cases a client must get
// right: chunked bodies with trailers, gzip the handler compresses itself,
// redirects (across hosts too), 100-continue, 1xx, bodies cut short, a
// close-delimited body, and handlers that stall.
//
//	goserver -root DIR
//
// Listens on a free loopback port and prints "listening on
// http://127.0.0.1:PORT" on stdout. Routes:
//
//	/file/NAME          DIR/NAME (http.ServeFile: Content-Length, HEAD)
//	/echo               what arrived, one "name: value" a line: method,
//	                    host, length and sha256 of the body, whether an
//	                    Authorization field came, then "h Name: value" per
//	                    field
//	/chunked?n=N        N chunks "chunk I\n", each flushed, then the
//	                    trailers X-Sum (announced) and X-Late (not)
//	/gzip/NAME          DIR/NAME gzipped by the handler (Content-Encoding:
//	                    gzip); ?chunked=1 streams it without a length
//	/redirect?to=URL&code=C   a redirect (302 by default)
//	/chain?n=N          N redirects, then /echo
//	/to-localhost?path=P      a redirect to http://localhost:PORT/P
//	/continue           reads the body (so Go sends "100 Continue") and
//	                    answers "length N"; /continue-reject answers 403
//	                    without reading it
//	/continue-check     hijacked: waits 300 ms and answers "early N" if
//	                    N > 0 body bytes came before a 100 was sent, else
//	                    sends "100 Continue", reads the body (its
//	                    Content-Length) and answers "waited, length N"
//	/early-hints        a 103 with a Link field, then 200 "after 103\n"
//	/status?code=C      an empty answer with that status
//	/cut?mode=M         hijacked: a head promising 100000 bytes (M=length)
//	                    or chunks (M=chunked), 1000 bytes, then close;
//	                    M=head closes before any answer; M=eof answers
//	                    "Connection: close" with no length and ends the body
//	                    by closing (a complete body); M=redirect answers a
//	                    kept-alive 302 to /echo and closes, M=redirect-late
//	                    closes only once the next request has arrived
//	/bighead?n=N&size=S N fields X-Filler of S bytes (default 1000)
//	/trailers?n=N       a chunked "body\n" and N trailer fields X-T-I
//	/sleep?d=DUR        waits DUR (or the client's going) before answering
//	/stall?d=DUR        sends its head and 5 bytes, then waits DUR
//	/conns              connections accepted so far
package main

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

var (
	root  = flag.String("root", ".", "the directory /file/ and /gzip/ serve")
	port  int
	conns int64
)

func file(name string) string {
	return filepath.Join(*root, filepath.Clean("/"+name))
}

func echo(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	_, auth := r.Header["Authorization"]
	var b bytes.Buffer
	fmt.Fprintf(&b, "method: %s\nhost: %s\nlength: %d\nsha256: %x\nauthorization: %v\n",
		r.Method, r.Host, len(body), sha256.Sum256(body), auth)
	names := make([]string, 0, len(r.Header))
	for n := range r.Header {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		for _, v := range r.Header[n] {
			fmt.Fprintf(&b, "h %s: %s\n", n, v)
		}
	}
	w.Header().Set("Content-Type", "text/plain")
	w.Write(b.Bytes())
}

func chunked(w http.ResponseWriter, r *http.Request) {
	n, _ := strconv.Atoi(r.URL.Query().Get("n"))
	w.Header().Set("Trailer", "X-Sum")
	w.Header().Set("Content-Type", "text/plain")
	sum := 0
	for i := 0; i < n; i++ {
		fmt.Fprintf(w, "chunk %d\n", i)
		w.(http.Flusher).Flush()
		sum += i
	}
	w.Header().Set("X-Sum", strconv.Itoa(sum))
	w.Header().Set(http.TrailerPrefix+"X-Late", "unannounced")
}

func gzipped(w http.ResponseWriter, r *http.Request) {
	data, err := os.ReadFile(file(r.URL.Path[len("/gzip/"):]))
	if err != nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Encoding", "gzip")
	w.Header().Set("Content-Type", "application/octet-stream")
	if r.URL.Query().Get("chunked") != "" {
		zw := gzip.NewWriter(w)
		for len(data) > 0 {
			k := 8192
			if k > len(data) {
				k = len(data)
			}
			zw.Write(data[:k])
			zw.Flush()
			w.(http.Flusher).Flush()
			data = data[k:]
		}
		zw.Close()
		return
	}
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write(data)
	zw.Close()
	w.Header().Set("Content-Length", strconv.Itoa(b.Len()))
	w.Write(b.Bytes())
}

func redirect(w http.ResponseWriter, r *http.Request) {
	code, _ := strconv.Atoi(r.URL.Query().Get("code"))
	if code == 0 {
		code = 302
	}
	http.Redirect(w, r, r.URL.Query().Get("to"), code)
}

func chain(w http.ResponseWriter, r *http.Request) {
	n, _ := strconv.Atoi(r.URL.Query().Get("n"))
	if n <= 0 {
		echo(w, r)
		return
	}
	http.Redirect(w, r, fmt.Sprintf("/chain?n=%d", n-1), 302)
}

func toLocalhost(w http.ResponseWriter, r *http.Request) {
	http.Redirect(w, r, fmt.Sprintf("http://localhost:%d/%s", port, r.URL.Query().Get("path")), 302)
}

func continueRead(w http.ResponseWriter, r *http.Request) {
	n, err := io.Copy(io.Discard, r.Body)
	if err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	fmt.Fprintf(w, "length %d\nexpect %q\n", n, r.Header.Get("Expect"))
}

func continueReject(w http.ResponseWriter, r *http.Request) {
	http.Error(w, "rejected without reading", 403)
}

func continueCheck(w http.ResponseWriter, r *http.Request) {
	length := r.ContentLength
	c, bw, err := w.(http.Hijacker).Hijack()
	if err != nil {
		return
	}
	defer c.Close()
	answer := func(s string) {
		fmt.Fprintf(bw, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(s), s)
		bw.Flush()
	}
	time.Sleep(300 * time.Millisecond)
	c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if n, _ := bw.Reader.Peek(1); bw.Reader.Buffered() > 0 || len(n) > 0 {
		answer(fmt.Sprintf("early %d\n", bw.Reader.Buffered()))
		return
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
	bw.Flush()
	n, err := io.CopyN(io.Discard, bw, length)
	if err != nil {
		answer(fmt.Sprintf("error %v after %d\n", err, n))
		return
	}
	answer(fmt.Sprintf("waited, length %d\n", n))
}

func earlyHints(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Link", "</style.css>; rel=preload")
	w.WriteHeader(103)
	w.Header().Del("Link")
	io.WriteString(w, "after 103\n")
}

func status(w http.ResponseWriter, r *http.Request) {
	code, _ := strconv.Atoi(r.URL.Query().Get("code"))
	w.WriteHeader(code)
}

func cut(w http.ResponseWriter, r *http.Request) {
	mode := r.URL.Query().Get("mode")
	c, bw, err := w.(http.Hijacker).Hijack()
	if err != nil {
		return
	}
	defer c.Close()
	part := bytes.Repeat([]byte("x"), 1000)
	switch mode {
	case "length":
		bw.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
		bw.Write(part)
	case "chunked":
		bw.WriteString("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
		fmt.Fprintf(bw, "%x\r\n%s\r\n", len(part), part)
	case "redirect": // keep-alive promised, then closed
		bw.WriteString("HTTP/1.1 302 Found\r\nLocation: /echo\r\nContent-Length: 0\r\n\r\n")
	case "redirect-late": // closed once the next request arrived
		bw.WriteString("HTTP/1.1 302 Found\r\nLocation: /echo\r\nContent-Length: 0\r\n\r\n")
		bw.Flush()
		bw.ReadString('\n')
	case "eof":
		bw.WriteString("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
		bw.Write(part)
	}
	bw.Flush()
}

func wait(r *http.Request) {
	d, _ := time.ParseDuration(r.URL.Query().Get("d"))
	select {
	case <-time.After(d):
	case <-r.Context().Done():
	}
}

func sleep(w http.ResponseWriter, r *http.Request) {
	wait(r)
	io.WriteString(w, "slept\n")
}

func stall(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Length", "100")
	io.WriteString(w, "stall")
	w.(http.Flusher).Flush()
	wait(r)
}

func main() {
	flag.Parse()
	mux := http.NewServeMux()
	mux.HandleFunc("/file/", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, file(r.URL.Path[len("/file/"):]))
	})
	mux.HandleFunc("/echo", echo)
	mux.HandleFunc("/chunked", chunked)
	mux.HandleFunc("/gzip/", gzipped)
	mux.HandleFunc("/redirect", redirect)
	mux.HandleFunc("/chain", chain)
	mux.HandleFunc("/to-localhost", toLocalhost)
	mux.HandleFunc("/continue", continueRead)
	mux.HandleFunc("/continue-reject", continueReject)
	mux.HandleFunc("/continue-check", continueCheck)
	mux.HandleFunc("/early-hints", earlyHints)
	mux.HandleFunc("/status", status)
	mux.HandleFunc("/cut", cut)
	mux.HandleFunc("/sleep", sleep)
	mux.HandleFunc("/stall", stall)
	mux.HandleFunc("/trailers", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		io.WriteString(w, "body\n")
		w.(http.Flusher).Flush()
		for i := 0; i < n; i++ {
			w.Header().Set(fmt.Sprintf("%sX-T-%d", http.TrailerPrefix, i), strconv.Itoa(i))
		}
	})
	mux.HandleFunc("/bighead", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		size, _ := strconv.Atoi(r.URL.Query().Get("size"))
		if size == 0 {
			size = 1000
		}
		for i := 0; i < n; i++ {
			w.Header().Add("X-Filler", strings.Repeat("f", size))
		}
		io.WriteString(w, "big head\n")
	})
	mux.HandleFunc("/conns", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%d\n", atomic.LoadInt64(&conns))
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	port = ln.Addr().(*net.TCPAddr).Port
	fmt.Printf("listening on http://127.0.0.1:%d\n", port)
	srv := &http.Server{
		Handler: mux,
		ConnState: func(c net.Conn, s http.ConnState) {
			if s == http.StateNew {
				atomic.AddInt64(&conns, 1)
			}
		},
	}
	fmt.Fprintln(os.Stderr, srv.Serve(ln))
	os.Exit(1)
}
