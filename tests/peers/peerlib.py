"""peerlib — shared by the Python peer tests: a scratch root, httpd started
on a free loopback port, and a small HTTP/1.1 response reader over a raw
socket (http.client reads one response per connection object, and the
tests need several pipelined on one socket, and to see exactly which
bytes arrived).

Every function fails the test by raising AssertionError with a message."""
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time


class Httpd:
    """build/examples/httpd on 127.0.0.1:0, serving a scratch root."""

    def __init__(self, exe, *flags):
        self.dir = tempfile.mkdtemp(prefix="goc-peer.")
        self.root = os.path.join(self.dir, "root")
        os.mkdir(self.root)
        with open(os.path.join(self.root, "index.html"), "w") as f:
            f.write("<!DOCTYPE html><title>peer test</title>\n")
        with open(os.path.join(self.root, "data.bin"), "wb") as f:
            f.write(os.urandom(100000))
        self.log = open(os.path.join(self.dir, "httpd.log"), "w+")
        self.proc = subprocess.Popen(
            [exe, "-addr", "127.0.0.1:0", "-root", self.root, *flags],
            stdout=subprocess.PIPE, stderr=self.log, text=True)
        line = self._listening_line()
        m = re.search(r"listening on http://([0-9.]+):([0-9]+)", line)
        assert m, "httpd printed %r, not a listening line" % line
        self.host, self.port = m.group(1), int(m.group(2))
        self.url = "http://%s:%d" % (self.host, self.port)

    def _listening_line(self):
        ready, _, _ = select.select([self.proc.stdout], [], [], 10)
        assert ready, "httpd printed nothing within 10 s"
        return self.proc.stdout.readline()

    def connect(self, timeout=10):
        return socket.create_connection((self.host, self.port), timeout=timeout)

    def stop(self, timeout=15):
        """SIGTERM; assert exit status 0 within timeout and a clean log."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError("httpd still running %d s after SIGTERM" % timeout)
        assert rc == 0, "httpd exited with status %d after SIGTERM" % rc
        self.log.seek(0)
        text = self.log.read()
        assert not re.search(r"ERROR: (Address|Leak)Sanitizer|WARNING: ThreadSanitizer|"
                             r"runtime error:", text), "a sanitizer reported:\n" + text

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.log.seek(0)
        tail = self.log.read()[-4000:]
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)
        return tail


class Response:
    def __init__(self, version, status, reason, headers, body):
        self.version, self.status, self.reason = version, status, reason
        self.headers = headers  # [(name, value)] in order received
        self.body = body

    def header(self, name):
        for n, v in self.headers:
            if n.lower() == name.lower():
                return v
        return None


class Truncated(Exception):
    """The connection ended inside a response: `got` bytes of it arrived."""

    def __init__(self, got):
        super().__init__("connection ended after %d bytes of a response" % got)
        self.got = got


class Reader:
    """Reads whole responses, one after another, from a socket; counts
    every byte taken so that a caller can tell "nothing arrived" from "a
    reply was cut short"."""

    def __init__(self, sock):
        self.sock, self.buf, self.taken = sock, b"", 0

    def _fill(self, start):
        data = self.sock.recv(65536)
        if not data:
            raise Truncated(self.taken - start + len(self.buf))
        self.buf += data

    def _take(self, n, start):
        while len(self.buf) < n:
            self._fill(start)
        out, self.buf = self.buf[:n], self.buf[n:]
        self.taken += n
        return out

    def _line(self, start):
        while b"\r\n" not in self.buf:
            self._fill(start)
        i = self.buf.index(b"\r\n")
        return self._take(i + 2, start)[:-2]

    def response(self, head_only=False):
        """The next response; head_only for a HEAD request's."""
        start = self.taken
        while True:
            version, status, reason = self._status_line(start)
            headers = self._headers(start)
            if not 100 <= status < 200:
                break  # informational responses (100 Continue) come first
        if head_only or status in (204, 304):
            body = b""
        elif any(n.lower() == "transfer-encoding" for n, _ in headers):
            body = self._chunked(start)
        else:
            cl = next((v for n, v in headers if n.lower() == "content-length"), None)
            body = self._take(int(cl), start) if cl is not None else self._until_close(start)
        return Response(version, status, reason, headers, body)

    def _status_line(self, start):
        line = self._line(start).decode("latin-1")
        m = re.match(r"(HTTP/1\.[01]) ([0-9]{3}) ?(.*)$", line)
        assert m, "bad status line %r" % line
        return m.group(1), int(m.group(2)), m.group(3)

    def _headers(self, start):
        headers = []
        while True:
            line = self._line(start).decode("latin-1")
            if not line:
                return headers
            name, _, value = line.partition(":")
            headers.append((name, value.strip(" \t")))

    def _chunked(self, start):
        body = b""
        while True:
            size = int(self._line(start).split(b";")[0], 16)
            if size == 0:
                while self._line(start):  # trailer fields
                    pass
                return body
            body += self._take(size, start)
            assert self._take(2, start) == b"\r\n", "chunk not followed by CRLF"

    def _until_close(self, start):
        body = self.buf
        while True:
            data = self.sock.recv(65536)
            if not data:
                break
            body += data
        self.taken += len(body)
        self.buf = b""
        return body

    def closed(self, timeout=5):
        """True if the peer closes the connection (EOF or reset) within
        timeout, with no further byte."""
        if self.buf:
            return False
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False


def run(exe_argv_index, tests, *flags):
    """Run each test(httpd) in order against one httpd, then stop it;
    print one line per test; exit 1 on the first failure, with httpd's log."""
    exe = sys.argv[exe_argv_index]
    httpd = Httpd(exe, *flags)
    try:
        for t in tests:
            t0 = time.monotonic()
            t(httpd)
            print("ok - %s (%.2f s)" % (t.__name__, time.monotonic() - t0), flush=True)
        httpd.stop()
        print("ok - SIGTERM: httpd exited 0", flush=True)
    except Exception:
        import traceback
        traceback.print_exc()
        print("--- httpd's stderr:\n" + httpd.close(), file=sys.stderr)
        sys.exit(1)
    httpd.close()
