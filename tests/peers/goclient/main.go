// goclient — httpd against Go's net/http client, a real peer with its own
// connection pool, 100-continue handling and range parsing.
//
//	goclient -url http://127.0.0.1:PORT -root DIR [-cacert CA.pem]
//
// With -cacert the URL is https://: Go's TLS client verifies httpd's
// certificate against that CA, and every response must have come over
// TLS 1.2 or 1.3 with ALPN "http/1.1" (or none).
//
// DIR is httpd's -root, holding data.bin (read here to check the bytes
// served). Checks, in order, each printing "ok - ...":
//   - concurrency: 200 goroutines x 20 GET /plaintext over one pooled
//     Transport, every answer 200 "Hello, World!"
//   - keep-alive: 20 sequential requests, all after the first on a reused
//     connection (httptrace GotConnInfo.Reused)
//   - 100-continue: a POST with Expect: 100-continue whose body the client
//     sends only after the server's 100 (Got100Continue), echoed intact
//   - ranges: a single range (206, Content-Range) and two ranges
//     (multipart/byteranges), against the file's bytes
//   - streaming: /stream?n=3&ms=400 delivers its first chunk long before
//     the last (the server flushes)
//
// Exit status 1 on the first failure.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

var (
	base   = flag.String("url", "", "httpd's base URL, http://127.0.0.1:PORT")
	root   = flag.String("root", "", "httpd's -root directory")
	cacert = flag.String("cacert", "", "the CA of httpd's certificate (https)")
	client *http.Client
	// with -cacert: every Transport verifies against the test CA
	tlsConfig *tls.Config
)

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "FAIL: "+format+"\n", args...)
	os.Exit(1)
}

func get(path string, hdr map[string]string) (*http.Response, []byte) {
	req, err := http.NewRequest("GET", *base+path, nil)
	if err != nil {
		fail("%v", err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		fail("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		fail("GET %s: reading the body: %v", path, err)
	}
	return resp, body
}

func concurrency() {
	const goroutines, each = 200, 20
	var wg sync.WaitGroup
	var bad int64
	var firstErr atomic.Value
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if err := plaintextOnce(); err != nil {
					atomic.AddInt64(&bad, 1)
					firstErr.CompareAndSwap(nil, err.Error())
				}
			}
		}()
	}
	wg.Wait()
	if bad > 0 {
		fail("concurrency: %d of %d requests failed; first: %v", bad, goroutines*each, firstErr.Load())
	}
	fmt.Printf("ok - concurrency: %d goroutines x %d requests\n", goroutines, each)
}

func plaintextOnce() error {
	resp, err := client.Get(*base + "/plaintext")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != 200 || string(body) != "Hello, World!" {
		return fmt.Errorf("status %d body %q", resp.StatusCode, body)
	}
	return nil
}

func keepAlive() {
	// A Transport of its own, so the first request must dial.
	tr := &http.Transport{MaxIdleConnsPerHost: 1, TLSClientConfig: tlsConfig}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	for i := 0; i < 20; i++ {
		reused := false
		trace := &httptrace.ClientTrace{GotConn: func(ci httptrace.GotConnInfo) { reused = ci.Reused }}
		req, _ := http.NewRequestWithContext(
			httptrace.WithClientTrace(context.Background(), trace), "GET", *base+"/plaintext", nil)
		resp, err := c.Do(req)
		if err != nil {
			fail("keep-alive request %d: %v", i, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if i > 0 && !reused {
			fail("keep-alive: request %d opened a new connection", i)
		}
	}
	fmt.Println("ok - keep-alive: 19 of 20 requests on a reused connection")
}

func expectContinue() {
	body := make([]byte, 200000)
	rand.Read(body)
	got100 := false
	trace := &httptrace.ClientTrace{Got100Continue: func() { got100 = true }}
	req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace),
		"POST", *base+"/echo", bytes.NewReader(body))
	req.Header.Set("Expect", "100-continue")
	// The body waits for the 100 up to ExpectContinueTimeout: long, so
	// that a server that never sends it fails the check below.
	tr := &http.Transport{ExpectContinueTimeout: 10 * time.Second, TLSClientConfig: tlsConfig}
	defer tr.CloseIdleConnections()
	start := time.Now()
	resp, err := (&http.Client{Transport: tr, Timeout: 20 * time.Second}).Do(req)
	if err != nil {
		fail("100-continue: %v", err)
	}
	defer resp.Body.Close()
	var echo struct{ Body string }
	if err := json.NewDecoder(resp.Body).Decode(&echo); err != nil {
		fail("100-continue: decoding /echo's answer: %v", err)
	}
	got, _ := base64.StdEncoding.DecodeString(echo.Body)
	if !got100 || !bytes.Equal(got, body) || time.Since(start) > 8*time.Second {
		fail("100-continue: got 100 %v, body intact %v, after %v", got100, bytes.Equal(got, body),
			time.Since(start))
	}
	fmt.Println("ok - 100-continue: the body went after the server's 100, echoed intact")
}

func ranges(data []byte) {
	resp, body := get("/static/data.bin", map[string]string{"Range": "bytes=10-19"})
	want := fmt.Sprintf("bytes 10-19/%d", len(data))
	if resp.StatusCode != 206 || resp.Header.Get("Content-Range") != want ||
		!bytes.Equal(body, data[10:20]) {
		fail("range 10-19: status %d, Content-Range %q", resp.StatusCode,
			resp.Header.Get("Content-Range"))
	}

	resp, body = get("/static/data.bin", map[string]string{"Range": "bytes=0-4,1000-1009"})
	mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if resp.StatusCode != 206 || err != nil || mt != "multipart/byteranges" {
		fail("two ranges: status %d, Content-Type %q", resp.StatusCode,
			resp.Header.Get("Content-Type"))
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	wantParts := [][]byte{data[0:5], data[1000:1010]}
	for i, w := range wantParts {
		p, err := mr.NextPart()
		if err != nil {
			fail("two ranges: part %d: %v", i, err)
		}
		got, _ := io.ReadAll(p)
		if !bytes.Equal(got, w) {
			fail("two ranges: part %d (%s) differs", i, p.Header.Get("Content-Range"))
		}
	}
	if _, err := mr.NextPart(); err != io.EOF {
		fail("two ranges: more than two parts (%v)", err)
	}
	fmt.Println("ok - ranges: one range and two (multipart/byteranges) match the file")
}

func streaming() {
	start := time.Now()
	resp, err := client.Get(*base + "/stream?n=3&ms=400")
	if err != nil {
		fail("stream: %v", err)
	}
	defer resp.Body.Close()
	buf := make([]byte, 256)
	n, err := resp.Body.Read(buf)
	first := time.Since(start)
	if n == 0 {
		fail("stream: first read: %v", err)
	}
	rest, err := io.ReadAll(resp.Body)
	total := time.Since(start)
	if err != nil || !bytes.Contains(append(buf[:n], rest...), []byte("3")) {
		fail("stream: %v after %q", err, append(buf[:n], rest...))
	}
	// Three chunks 400 ms apart: the last one needs >= 800 ms; the first
	// must not wait for it.
	if total < 790*time.Millisecond || first > total-300*time.Millisecond {
		fail("stream: first chunk after %v, the whole after %v", first, total)
	}
	fmt.Printf("ok - streaming: first chunk after %v, the last after %v\n",
		first.Round(time.Millisecond), total.Round(time.Millisecond))
}

func main() {
	flag.Parse()
	if *base == "" || *root == "" {
		fmt.Fprintln(os.Stderr, "usage: goclient -url http://127.0.0.1:PORT -root DIR")
		os.Exit(2)
	}
	data, err := os.ReadFile(filepath.Join(*root, "data.bin"))
	if err != nil {
		fail("%v", err)
	}
	tr := &http.Transport{MaxIdleConns: 400, MaxIdleConnsPerHost: 200}
	if *cacert != "" {
		pem, err := os.ReadFile(*cacert)
		if err != nil {
			fail("%v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			fail("no certificate in %s", *cacert)
		}
		tlsConfig = &tls.Config{RootCAs: pool}
		tr.TLSClientConfig = tlsConfig
		tr.ForceAttemptHTTP2 = false
	}
	client = &http.Client{Transport: tr, Timeout: 30 * time.Second}
	if *cacert != "" {
		resp, _ := get("/plaintext", nil)
		st := resp.TLS
		if st == nil || st.Version < tls.VersionTLS12 ||
			(st.NegotiatedProtocol != "" && st.NegotiatedProtocol != "http/1.1") {
			fail("https: connection state %+v", st)
		}
		fmt.Printf("ok - https: TLS version %#x, ALPN %q, verified against the test CA\n",
			st.Version, st.NegotiatedProtocol)
	}
	concurrency()
	keepAlive()
	expectContinue()
	ranges(data)
	streaming()
	fmt.Println("go peer test: all checks passed")
}
