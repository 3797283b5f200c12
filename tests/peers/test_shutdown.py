#!/usr/bin/env python3
"""test_shutdown.py HTTPD — graceful shutdown under load: clients keep
sending requests (slow ones to /sleep on fresh connections, fast ones on
kept-alive connections) while SIGTERM arrives. Every request must end in a
complete answer, or in a refused or closed connection before any byte of
an answer: never a truncated reply. Requests in flight when the signal
came must be answered. httpd must exit 0."""
import os
import re
import signal
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import peerlib  # noqa: E402

CLIENTS = 8
SLEEP_MS = 300


class Tally:
    def __init__(self):
        self.lock = threading.Lock()
        self.counts = {}
        self.errors = []
        self.in_flight_answered = 0  # /sleep requests sent before the signal, answered after

    def add(self, kind, err=None):
        with self.lock:
            self.counts[kind] = self.counts.get(kind, 0) + 1
            if err:
                self.errors.append(err)


def one_request(sock, rd, target, keep_alive):
    """Send one request and read its answer: "ok", "refused" (closed or
    reset before any byte of the answer), or raise AssertionError for a
    truncated or wrong answer."""
    conn = "" if keep_alive else "Connection: close\r\n"
    try:
        sock.sendall(("GET %s HTTP/1.1\r\nHost: t\r\n%s\r\n" % (target, conn)).encode())
    except (BrokenPipeError, ConnectionResetError):
        return "refused"
    start = rd.taken + len(rd.buf)
    try:
        r = rd.response()
    except peerlib.Truncated as e:
        if e.got == 0:
            return "refused"
        raise AssertionError("%s: truncated after %d bytes" % (target, e.got))
    except ConnectionResetError:
        if rd.taken + len(rd.buf) == start:
            return "refused"
        raise AssertionError("%s: reset after part of the answer" % target)
    want = b"Hello, World!" if target == "/plaintext" else b"slept %d ms\n" % SLEEP_MS
    assert r.status == 200 and r.body == want, "%s: %d %r" % (target, r.status, r.body)
    return "ok"


def client(httpd, n, tally, signalled, done):
    """Loop until done: client n alternates slow requests on fresh
    connections and bursts of fast ones on a kept-alive connection."""
    i = 0
    while not done.is_set():
        i += 1
        slow = (n + i) % 2 == 0
        try:
            sock = httpd.connect(timeout=10)
        except ConnectionRefusedError:
            tally.add("refused")
            time.sleep(0.05)
            continue
        rd = peerlib.Reader(sock)
        try:
            if slow:
                before = not signalled.is_set()
                kind = one_request(sock, rd, "/sleep?ms=%d" % SLEEP_MS, False)
                tally.add(kind)
                if kind == "ok" and before and signalled.is_set():
                    with tally.lock:
                        tally.in_flight_answered += 1
            else:
                for _ in range(20):
                    kind = one_request(sock, rd, "/plaintext", True)
                    tally.add(kind)
                    if kind != "ok":
                        break
        except (AssertionError, socket.timeout, OSError) as e:
            tally.add("bad", "client %d: %r" % (n, e))
        finally:
            sock.close()


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: test_shutdown.py build/examples/httpd")
    httpd = peerlib.Httpd(sys.argv[1])
    tally, signalled, done = Tally(), threading.Event(), threading.Event()
    threads = [threading.Thread(target=client, args=(httpd, n, tally, signalled, done))
               for n in range(CLIENTS)]
    ok = False
    try:
        for t in threads:
            t.start()
        time.sleep(1.0 + SLEEP_MS / 2000)  # mid-way through a round of /sleep requests
        signalled.set()
        httpd.proc.send_signal(signal.SIGTERM)
        rc = httpd.proc.wait(15)
        time.sleep(0.3)  # clients now see refused connections
        done.set()
        for t in threads:
            t.join(30)
        print("requests: %s; /sleep answered across the signal: %d; httpd exit status %d"
              % (tally.counts, tally.in_flight_answered, rc))
        assert rc == 0, "httpd exited with status %d" % rc
        assert not tally.errors, "bad answers:\n  " + "\n  ".join(tally.errors[:10])
        assert tally.counts.get("ok", 0) > 100, "too few requests answered before the signal"
        assert tally.in_flight_answered > 0, \
            "no /sleep request in flight at the signal was answered"
        assert not any(t.is_alive() for t in threads), "a client hung"
        ok = True
    except Exception:
        import traceback
        traceback.print_exc()
    finally:
        done.set()
        tail = httpd.close()
    if ok and re.search(r"ERROR: (Address|Leak)Sanitizer|WARNING: ThreadSanitizer|runtime error:",
                        tail):
        print("a sanitizer reported an error", file=sys.stderr)
        ok = False
    if not ok:
        print("--- httpd's stderr:\n" + tail, file=sys.stderr)
        sys.exit(1)
    print("shutdown under load: all checks passed")


if __name__ == "__main__":
    main()
