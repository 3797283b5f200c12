#!/usr/bin/env python3
"""test_python.py HTTPD — httpd against Python's http.client and raw
sockets: keep-alive on one connection, pipelining, /echo's round trip of
the request exactly as sent (header order and spelling, binary body), and
malformed requests answered 400 with the connection closed."""
import base64
import http.client
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import peerlib  # noqa: E402


def keep_alive(httpd):
    """50 requests on one http.client connection: one socket throughout."""
    conn = http.client.HTTPConnection(httpd.host, httpd.port, timeout=10)
    first_port = None
    for i in range(50):
        conn.request("GET", "/plaintext" if i % 2 else "/static/data.bin")
        r = conn.getresponse()
        body = r.read()
        assert r.status == 200, "status %d" % r.status
        assert r.will_close is False, "server asked to close a keep-alive connection"
        if i % 2:
            assert body == b"Hello, World!", body
        port = conn.sock.getsockname()[1]
        first_port = first_port or port
        assert port == first_port, "http.client had to reconnect (request %d)" % i
    conn.close()


def pipelined(httpd):
    """20 requests in one write; 20 answers in order, on one connection."""
    s = httpd.connect()
    reqs = b""
    for i in range(20):
        target = "/echo?i=%d" % i if i % 2 else "/plaintext"
        reqs += b"GET %s HTTP/1.1\r\nHost: peer\r\n\r\n" % target.encode()
    s.sendall(reqs)
    rd = peerlib.Reader(s)
    for i in range(20):
        r = rd.response()
        assert r.status == 200, "response %d: status %d" % (i, r.status)
        if i % 2:
            uri = base64.b64decode(json.loads(r.body)["uri"])
            assert uri == b"/echo?i=%d" % i, "response %d answers %r" % (i, uri)
        else:
            assert r.body == b"Hello, World!", r.body
    s.close()


def echo_round_trip(httpd):
    """/echo returns method, target, version, headers (order, spelling,
    duplicates) and a binary body exactly as http.client sent them."""
    body = bytes(range(256)) * 40
    sent = [("Host", "peer.example"), ("x-lower", "v1"), ("X-Mixed-CASE", "v 2"),
            ("X-Dup", "1"), ("Accept", "*/*"), ("X-Dup", "2"), ("X-Empty", ""),
            ("Content-Length", str(len(body))), ("X-Latin1", "caf\xe9")]
    conn = http.client.HTTPConnection(httpd.host, httpd.port, timeout=10)
    conn.putrequest("PUT", "/echo?a=1&b=%20x", skip_host=True, skip_accept_encoding=True)
    for n, v in sent:
        conn.putheader(n, v)
    conn.endheaders(body)
    r = conn.getresponse()
    raw = r.read()
    assert r.status == 200, "status %d: %r" % (r.status, raw[:200])
    j = json.loads(raw)
    d = base64.b64decode
    assert d(j["method"]) == b"PUT", j["method"]
    assert d(j["uri"]) == b"/echo?a=1&b=%20x", d(j["uri"])
    assert d(j["version"]) == b"HTTP/1.1", d(j["version"])
    got = [(d(n).decode("latin-1"), d(v).decode("latin-1")) for n, v in j["headers"]]
    assert got == sent, "headers:\n got  %r\n want %r" % (got, sent)
    assert d(j["body"]) == body, "body differs"
    conn.close()


def http10(httpd):
    """An HTTP/1.0 request without keep-alive: the answer, then close."""
    s = httpd.connect()
    s.sendall(b"GET /plaintext HTTP/1.0\r\n\r\n")
    rd = peerlib.Reader(s)
    r = rd.response()
    assert r.status == 200 and r.body == b"Hello, World!", (r.status, r.body)
    assert rd.closed(), "HTTP/1.0 connection left open"
    s.close()


MALFORMED = [
    (b"GET /plaintext HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n",
     "a field line without a colon"),
    (b"GET /plaintext HTTP/1.1\r\nHost : x\r\n\r\n", "whitespace before the colon"),
    (b"GET /plaintext HTTP/1.1\nHost: x\n\n", "bare LF line ends"),
    (b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n\r\n1", "a bad Content-Length"),
    (b"GET /plaintext HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", "obs-fold"),
    (b"GET /plain\x00text HTTP/1.1\r\nHost: x\r\n\r\n", "NUL in the target"),
]


def malformed(httpd):
    """Each malformed head: 400, then the connection closes."""
    for raw, what in MALFORMED:
        s = httpd.connect()
        s.sendall(raw)
        rd = peerlib.Reader(s)
        r = rd.response()
        assert r.status == 400, "%s: status %d, want 400" % (what, r.status)
        assert rd.closed(), "%s: connection left open after the 400" % what
        s.close()


def malformed_after_good(httpd):
    """A good request then a bad one pipelined: 200, 400, close."""
    s = httpd.connect()
    s.sendall(b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nBad Field\r\n\r\n")
    rd = peerlib.Reader(s)
    assert rd.response().status == 200
    assert rd.response().status == 400
    assert rd.closed(), "connection left open after the 400"
    s.close()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: test_python.py build/examples/httpd")
    peerlib.run(1, [keep_alive, pipelined, echo_round_trip, http10, malformed,
                    malformed_after_good])
    print("python peer test: all checks passed")
