#!/usr/bin/env python3
"""soak.py BINDIR — a bounded soak of the gateway program (make soak, part
of make check-all; not part of make test).

The gateway from BINDIR runs in front of three gateway-backend processes
(upstream "app") and a fourth (upstream "side", behind a cached route and a
rate-limited route) for SOAK_SECONDS (default 180) of mixed traffic from
several threads (keep-alive GETs, POST /echo bodies up to 1 MiB, SSE,
WebSocket, cached and rate-limited GETs, and rude clients that go away
mid-body, mid-head, mid-response, mid-stream or mid-tunnel, half of them
with a reset) while a fault thread cycles through: a backend killed and
restarted on its port, a backend's health check failing and passing again,
a slow phase (requests beyond a route's timeout), and SIGHUP reloads that
alternate between two valid files and a broken one.

At most one backend of "app" is faulty at a time: before each fault the
thread waits until all three are healthy again. So what must hold:
  - every GET on "app" and on the cached route answers 200 with the right
    body (a body cut short only when its backend was killed during it);
    the rate-limited route answers 200 or 429 with Retry-After;
  - every POST /echo answers 200 with exactly the bytes sent, or a clean
    502/503, never a wrong body;
  - SSE streams deliver every event in order and WebSocket tunnels echo
    every byte (cut short only by a kill of their backend);
  - the slow phase gives 504 at the route's timeout, never a hang;
  - no request waits beyond the client timeouts;
  - a broken reload is refused and said why; a good one applies;
  - the gateway's RSS after the run stays below 3 x (its RSS after a
    warm-up) + 20 MiB (plus 512 MiB under a sanitizer, whose quarantine
    grows by design) and its descriptors below warm-up + 200; /metrics
    and /api/stats still answer;
  - SIGTERM, with every client gone, exits 0 within seconds (a drain that
    waits means a connection stayed active after its client left), and
    no sanitizer reports in any log.

Environment: SOAK_SECONDS (duration), GOC_TEST_SLACK (time bounds stretch,
for sanitizer builds), SOAK_SEED (the random seed, printed), SOAK_KEEP=1
(keep the scratch directory with the logs); to narrow down a failure,
SOAK_KINDS (a comma list of get,post,sse,ws,cached,limited,rude: the
client kinds that run) and SOAK_FAULTS=0 (no faults). Exits 0 when all
held, 1 with the failures, a summary and the gateway's log tail otherwise."""
import http.client
import json
import os
import random
import signal
import socket
import sys
import threading
import time

if len(sys.argv) != 2:
    print("usage: soak.py BINDIR (the folder holding gateway and gateway-backend)",
          file=sys.stderr)
    sys.exit(2)
os.environ["GW_BINDIR"] = sys.argv[1]
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gwlib  # noqa: E402
from gwlib import BACKEND, Env, Proc, free_port, request, slack, target_states  # noqa: E402

SECONDS = float(os.environ.get("SOAK_SECONDS", "180"))
KINDS = os.environ.get("SOAK_KINDS", "get,post,sse,ws,cached,limited,rude").split(",")
FAULTS = os.environ.get("SOAK_FAULTS", "1") == "1"
SEED = int(os.environ.get("SOAK_SEED", str(int(time.time()))))
WARMUP = 4.0           # traffic before the first fault and the RSS baseline
HEALTH_INTERVAL = 0.2  # app's active checks (seconds)
SLOW_TIMEOUT = 1.0     # the /slow/ route's timeout (seconds)
MIB = 1 << 20


def client_timeout():
    """A request that takes longer than this counts as a hang."""
    return 20 * slack()


# ---- the record: counts, failures, faults ---------------------------------


class Record:
    def __init__(self):
        self.lock = threading.Lock()
        self.counts = {}    # (kind, outcome) -> n
        self.failures = []  # (t, kind, text)
        self.faults = {}    # name -> n
        self.kills = []     # (backend name, t)
        self.fault_now = "warm-up"
        self.t0 = time.time()
        self.notes = {}     # name -> worst seconds seen

    def count(self, kind, outcome):
        with self.lock:
            self.counts[(kind, outcome)] = self.counts.get((kind, outcome), 0) + 1

    def fail(self, kind, text):
        with self.lock:
            t = time.time() - self.t0
            self.failures.append((t, kind, "%s (during %s)" % (text, self.fault_now)))
            self.counts[(kind, "FAIL")] = self.counts.get((kind, "FAIL"), 0) + 1

    def fault(self, name, detail, new=True):
        """A fault starts (new) or moves to its next step."""
        with self.lock:
            if new:
                self.faults[name] = self.faults.get(name, 0) + 1
            self.fault_now = "%s %s @%.1fs" % (name, detail, time.time() - self.t0)

    def worst(self, name, secs):
        with self.lock:
            self.notes[name] = max(self.notes.get(name, 0.0), secs)

    def killed(self, name):
        with self.lock:
            self.kills.append((name, time.time()))

    def kill_during(self, t0, t1, name=None):
        """Whether a backend (name, or any when None) was killed in [t0, t1]."""
        with self.lock:
            return any(t0 - 0.5 <= t <= t1 + 0.5 and (name is None or n == name)
                       for n, t in self.kills)


REC = Record()


def vmrss(pid):
    """The process's resident set in bytes (/proc/PID/status VmRSS)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS for %d" % pid)


def fds(pid):
    """How many descriptors the process holds."""
    return len(os.listdir("/proc/%d/fd" % pid))


def sanitized(pid):
    """Whether the process runs with a sanitizer runtime (RSS grows by design)."""
    try:
        with open("/proc/%d/maps" % pid) as f:
            text = f.read()
    except OSError:
        return False
    return "libasan" in text or "libtsan" in text


# ---- configurations ------------------------------------------------------


def config(ports, bs, side, variant):
    """The gateway's YAML: variant "a" or "b" (both valid; they differ in
    balancing, weights and the rate), or "broken" (a schema error)."""
    balance = {"a": "round_robin", "b": "least_conn", "broken": "round_robbin"}[variant]
    weight = 1 if variant == "a" else 2
    rate = 20 if variant == "a" else 30
    targets = ", ".join('{ addr: "%s", weight: %d }' % (b, weight if i == 0 else 1)
                        for i, b in enumerate(bs))
    return """listen: "127.0.0.1:%d"
admin: "127.0.0.1:%d"
shutdown_timeout: "10s"
cache: { max_bytes: "8MiB" }
retry_budget: { ratio: 0.5, min_per_second: 100 }
upstreams:
  - name: app
    balance: %s
    targets: [%s]
    health_check: { path: "/healthz", interval: "%dms", rise: 2, fall: 2 }
    outlier:
      consecutive_errors: 3
      consecutive_5xx: 5
      base_ejection_time: "1s"
      max_ejection_time: "4s"
  - name: side
    targets: ["%s"]
    health_check: { path: "/healthz", interval: "500ms" }
routes:
  - match: "/cached/"
    upstream: side
    strip_prefix: "/cached"
    cache: true
  - match: "/limited/"
    upstream: side
    strip_prefix: "/limited"
    rate_limit: { rate: %d, burst: 10 }
  - match: "/slow/"
    upstream: app
    strip_prefix: "/slow"
    timeout: "%dms"
    retries: 0
  - match: "/"
    upstream: app
    timeout: "15s"
    retries: 2
""" % (ports[0], ports[1], balance, targets, int(HEALTH_INTERVAL * 1000), side, rate,
       int(SLOW_TIMEOUT * 1000))


# ---- clients --------------------------------------------------------------


class Conn:
    """A keep-alive connection to the gateway, remade after an error or a
    response that closes it."""

    def __init__(self, url):
        hp = url.split("://")[1]
        self.host, port = hp.rsplit(":", 1)
        self.port = int(port)
        self.c = None

    def do(self, method, path, body=None, headers=None, chunked=False):
        """(status, headers, body) or raises; on IncompleteRead the partial
        body comes in the exception."""
        if self.c is None:
            self.c = http.client.HTTPConnection(self.host, self.port, timeout=client_timeout())
        try:
            self.c.request(method, path, body=body, headers=headers or {},
                           encode_chunked=chunked)
            r = self.c.getresponse()
            data = r.read()
        except BaseException:
            self.close()
            raise
        if r.will_close:
            self.close()
        return r.status, r, data

    def close(self):
        if self.c:
            self.c.close()
        self.c = None


def hello_ok(body):
    return body in (b"hello from b0\n", b"hello from b1\n", b"hello from b2\n")


BIG_LINE = bytes(((ord("a") + (i // 64) % 26) if i % 64 != 63 else 10) for i in range(1024))


def describe(e):
    if isinstance(e, socket.timeout) or "timed out" in str(e):
        return "HANG (no answer within %.0f s): %r" % (client_timeout(), e)
    return "no answer: %r" % e


class Traffic:
    """The client threads; each loops until stop."""

    def __init__(self, gw):
        self.gw = gw
        self.running = True
        self.threads = []
        self.rng_lock = threading.Lock()

    def start(self, name, fn, n=1):
        for i in range(n):
            t = threading.Thread(target=self._loop, args=(fn, random.Random(SEED * 100 + len(
                self.threads))), name="%s-%d" % (name, i), daemon=True)
            self.threads.append(t)
            t.start()

    def _loop(self, fn, rng):
        conn = Conn(self.gw.url)
        while self.running:
            try:
                fn(conn, rng)
            except Exception as e:  # a bug here, not in the gateway: say so
                REC.fail("soak", "client thread raised %r" % e)
                conn.close()
                time.sleep(0.1)
        conn.close()

    def stop(self):
        self.running = False
        hung = []
        deadline = time.time() + 2 * client_timeout() + 10
        for t in self.threads:
            t.join(max(0.1, deadline - time.time()))
            if t.is_alive():
                hung.append(t.name)
        return hung

    # -- kinds --

    def get(self, conn, rng):
        which = rng.random()
        if which < 0.6:
            path, check = "/", hello_ok
        elif which < 0.8:
            path = "/headers?i=%d" % rng.randrange(1 << 30)
            check = (lambda b, p=path: b.startswith(("GET " + p + "\n").encode()))
        else:
            kb = rng.randint(1, 256)
            path, check = "/big?kb=%d" % kb, (lambda b, kb=kb: b == BIG_LINE * kb)
        t0 = time.time()
        try:
            st, r, body = conn.do("GET", path)
        except http.client.IncompleteRead as e:
            if REC.kill_during(t0, time.time()):
                REC.count("get", "cut-by-kill")
            else:
                REC.fail("get", "GET %s: body cut short (%d bytes) with no kill" %
                         (path, len(e.partial)))
            return
        except Exception as e:
            REC.fail("get", "GET %s: %s" % (path, describe(e)))
            return
        if st != 200:
            REC.fail("get", "GET %s: status %d: %r" % (path, st, body[:200]))
        elif not check(body):
            REC.fail("get", "GET %s: WRONG BODY (%d bytes): %r" % (path, len(body), body[:200]))
        else:
            REC.count("get", 200)

    def post(self, conn, rng):
        x = rng.random()
        n = rng.randint(0, 16384) if x < 0.7 else (
            rng.randint(0, 256 * 1024) if x < 0.95 else rng.randint(0, MIB))
        data = rng.randbytes(n)
        chunked = rng.random() < 0.3
        body = (data[i:i + 65536] for i in range(0, n, 65536)) if chunked else data
        headers = {"Content-Type": "application/x-soak"}
        if chunked:
            headers["Transfer-Encoding"] = "chunked"
        t0 = time.time()
        try:
            st, r, got = conn.do("POST", "/echo", body=body, headers=headers, chunked=chunked)
        except Exception as e:
            # /echo answers as it reads: a backend killed mid-echo has
            # started its 200, which the gateway can only cut (never
            # complete wrongly); the client may see that while still
            # sending.
            if REC.kill_during(t0, time.time()):
                REC.count("post", "cut-by-kill")
                return
            REC.fail("post", "POST /echo (%d bytes%s): %s" % (n, ", chunked" if chunked else "",
                                                              describe(e)))
            return
        if st == 200:
            if got != data:
                first = next((i for i in range(min(len(got), n)) if got[i] != data[i]),
                             min(len(got), n))
                REC.fail("post", "POST /echo (%d bytes%s): WRONG BODY: %d bytes back, first "
                         "difference at %d" % (n, ", chunked" if chunked else "", len(got), first))
            else:
                REC.count("post", 200)
        elif st in (502, 503):
            REC.count("post", st)
        else:
            REC.fail("post", "POST /echo (%d bytes): status %d: %r" % (n, st, got[:200]))

    def sse(self, conn, rng):
        n, ms = rng.randint(2, 12), rng.randint(10, 120)
        path = "/sse?n=%d&ms=%d" % (n, ms)
        t0 = time.time()
        partial = None
        try:
            st, r, body = conn.do("GET", path)
        except http.client.IncompleteRead as e:
            st, body, partial = 200, e.partial, True
        except Exception as e:
            REC.fail("sse", "GET %s: %s" % (path, describe(e)))
            return
        t1 = time.time()
        if st != 200:
            REC.fail("sse", "GET %s: status %d: %r" % (path, st, body[:200]))
            return
        events = [e for e in body.decode("utf-8", "replace").split("\n\n") if e.strip()]
        names = set()
        ok = True
        for i, e in enumerate(events, 1):
            want_head = "id: %d\ndata: event %d of %d from " % (i, i, n)
            if not e.startswith(want_head):
                ok = False
                break
            names.add(e[len(want_head):])
        if ok and len(names) > 1:
            ok = False
        if not ok:
            REC.fail("sse", "GET %s: WRONG EVENTS: %r" % (path, body[:300]))
        elif len(events) == n and not partial:
            REC.count("sse", 200)
        elif REC.kill_during(t0, t1, next(iter(names)) if names else None):
            REC.count("sse", "cut-by-kill")
        else:
            REC.fail("sse", "GET %s: %d of %d events, stream cut with no kill" %
                     (path, len(events), n))

    def ws(self, conn, rng):
        gw = self.gw
        t0 = time.time()
        stage = "connect"
        s = None
        try:
            s = socket.create_connection((gw.host, gw.port), timeout=client_timeout())
            stage = "handshake"
            s.sendall(b"GET /ws HTTP/1.1\r\nHost: soak\r\nConnection: Upgrade\r\n"
                      b"Upgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                      b"Sec-WebSocket-Version: 13\r\n\r\n")
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = s.recv(65536)
                if not chunk:
                    raise ConnectionError("closed before the response head: %r" % head)
                head += chunk
            head, rest = head.split(b"\r\n\r\n", 1)
            if not head.startswith(b"HTTP/1.1 101"):
                REC.fail("ws", "handshake: %r" % head[:200])
                return
            stage = "echo"
            for _ in range(rng.randint(1, 8)):
                msg = rng.randbytes(rng.randint(1, 65536))
                s.sendall(msg)
                got = rest
                while len(got) < len(msg):
                    chunk = s.recv(65536)
                    if not chunk:
                        raise ConnectionError("tunnel closed after %d of %d bytes" %
                                              (len(got), len(msg)))
                    got += chunk
                rest = got[len(msg):]
                if got[:len(msg)] != msg or rest:
                    REC.fail("ws", "WRONG BYTES through the tunnel (%d sent, %d back)" %
                             (len(msg), len(got)))
                    return
            REC.count("ws", 101)
        except Exception as e:
            if not isinstance(e, socket.timeout) and REC.kill_during(t0, time.time()):
                REC.count("ws", "cut-by-kill")
            else:
                REC.fail("ws", "%s: %s" % (stage, describe(e)))
        finally:
            if s:
                s.close()

    def rude(self, conn, rng):
        """A client that goes away mid-exchange: the gateway must let go of
        what it held for it (checked by the RSS and descriptor bounds)."""
        gw = self.gw
        how = rng.randrange(5)
        try:
            s = socket.create_connection((gw.host, gw.port), timeout=client_timeout())
        except OSError as e:
            REC.fail("rude", "connect: %r" % e)
            return
        try:
            if how == 0:  # half a body, then gone
                s.sendall(b"POST /echo HTTP/1.1\r\nHost: soak\r\nContent-Length: 100000\r\n\r\n" +
                          b"x" * rng.randint(0, 50000))
            elif how == 1:  # half a request head
                s.sendall(b"GET /headers HTTP/1.1\r\nHost: so")
            elif how == 2:  # a big answer read in part
                s.sendall(b"GET /big?kb=2048 HTTP/1.1\r\nHost: soak\r\n\r\n")
                s.recv(rng.randint(1, 65536))
            elif how == 3:  # an event stream left after the first event
                s.sendall(b"GET /sse?n=50&ms=100 HTTP/1.1\r\nHost: soak\r\n\r\n")
                s.recv(4096)
            else:  # a tunnel left open with bytes in flight
                s.sendall(b"GET /ws HTTP/1.1\r\nHost: soak\r\nConnection: Upgrade\r\n"
                          b"Upgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                          b"Sec-WebSocket-Version: 13\r\n\r\n" + b"y" * 1000)
                s.recv(4096)
            time.sleep(rng.uniform(0, 0.05))
            REC.count("rude", ["half-body", "half-head", "big-left", "sse-left", "ws-left"][how])
        except OSError as e:
            if isinstance(e, socket.timeout):
                REC.fail("rude", describe(e))
            else:
                REC.count("rude", "reset")
        finally:
            if rng.random() < 0.5:  # a reset rather than a FIN
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
            s.close()

    def cached(self, conn, rng):
        path = "/cached/cache/k%d?max_age=1" % rng.randrange(20)
        try:
            st, r, body = conn.do("GET", path)
        except Exception as e:
            REC.fail("cached", "GET %s: %s" % (path, describe(e)))
            return
        if st != 200:
            REC.fail("cached", "GET %s: status %d: %r" % (path, st, body[:200]))
        else:
            REC.count("cached", "200 " + (r.getheader("X-Cache") or "no X-Cache"))

    def limited(self, conn, rng):
        path = "/limited/"
        try:
            st, r, body = conn.do("GET", path)
        except Exception as e:
            REC.fail("limited", "GET %s: %s" % (path, describe(e)))
            return
        if st == 200 and body == b"hello from side\n":
            REC.count("limited", 200)
        elif st == 429 and (r.getheader("Retry-After") or "").isdigit():
            REC.count("limited", 429)
        else:
            REC.fail("limited", "GET %s: status %d %r %r" % (path, st, r.getheaders(), body[:200]))
        time.sleep(0.005)


class Admin(threading.Thread):
    """Polls /api/stats and /metrics and samples the gateway's RSS."""

    def __init__(self, gw):
        super().__init__(daemon=True, name="admin")
        self.gw = gw
        self.running = True
        self.rss_max = 0

    def run(self):
        i = 0
        while self.running:
            path = "/metrics" if i % 4 == 0 else "/api/stats"
            i += 1
            try:
                r = request(self.gw.admin, path, timeout=client_timeout())
                if r.status != 200 or (path == "/api/stats" and not json.loads(r.body)):
                    REC.fail("admin", "%s: status %d" % (path, r.status))
                else:
                    REC.count("admin", 200)
            except Exception as e:
                REC.fail("admin", "%s: %s" % (path, describe(e)))
            try:
                self.rss_max = max(self.rss_max, vmrss(self.gw.proc.pid))
            except (OSError, AssertionError):
                pass
            time.sleep(0.5)


# ---- faults ---------------------------------------------------------------


class Faults(threading.Thread):
    """Cycles kill / reload / health / reload / slow / reload (good, broken,
    good alternating) until the deadline; one app backend faulty at a time."""

    def __init__(self, env, gw, backends, gw_ports, side, deadline):
        super().__init__(daemon=True, name="faults")
        self.env, self.gw, self.bs = env, gw, backends
        self.ports = [b.port for b in backends]
        self.addrs = [b.addr for b in backends]
        self.gw_ports, self.side, self.deadline = gw_ports, side, deadline
        self.next_b = 0
        self.reloads = 0
        self.restarts = 0
        self.error = None

    def states(self):
        return target_states(self.gw.admin, "app")

    def wait_all_healthy(self, why, timeout=20):
        t0 = time.time()
        last = None
        while time.time() < t0 + timeout * slack():
            try:
                last = self.states()
                if all(v == "healthy" for v in last.values()) and len(last) == 3:
                    return time.time() - t0
            except (OSError, AssertionError, http.client.HTTPException) as e:
                last = e
            time.sleep(0.05)
        REC.fail("fault", "%s: not all targets healthy after %.0f s: %r" %
                 (why, timeout * slack(), last))
        return None

    def pick(self):
        i = self.next_b
        self.next_b = (self.next_b + 1) % 3
        return i

    def run(self):
        cycle = [self.kill, self.reload, self.health, self.reload, self.slow, self.reload]
        k = 0
        try:
            while time.time() < self.deadline:
                if self.wait_all_healthy("before a fault") is None:
                    time.sleep(1)
                if time.time() >= self.deadline:
                    break
                cycle[k % len(cycle)]()
                k += 1
                time.sleep(random.uniform(1.0, 2.5))
            REC.fault("end", "", new=False)
        except Exception as e:  # a bug in the soak: fail loudly
            import traceback
            self.error = traceback.format_exc()
            REC.fail("fault", "fault thread raised %r" % e)

    def kill(self):
        i = self.pick()
        b = self.bs[i]
        REC.fault("kill", "b%d" % i)
        REC.killed("b%d" % i)  # before: a stream may see the kill before kill() returns
        b.kill()
        try:
            took = gwlib.wait_for("b%d out" % i, lambda: self.states()[b.addr] != "healthy", 10)
            REC.worst("kill: out after (s)", took)
        except AssertionError as e:
            REC.fail("fault", str(e))
        time.sleep(random.uniform(0.3, 1.5))
        self.restarts += 1
        for attempt in range(20):
            try:
                nb = Proc(self.env.dir, "b%d.%d" % (i, self.restarts),
                          [BACKEND, "-addr", "127.0.0.1:%d" % self.ports[i], "-name", "b%d" % i])
                break
            except AssertionError:
                if attempt == 19:
                    raise
                time.sleep(0.25)
        self.env.procs.append(nb)
        self.bs[i] = nb
        took = self.wait_all_healthy("b%d restarted" % i)
        if took is not None:
            REC.worst("kill: back after restart (s)", took)

    def health(self):
        i = self.pick()
        b = self.bs[i]
        REC.fault("health", "b%d ok=0" % i)
        r = request(b.url, "/admin/health?ok=0", method="POST", body=b"")
        assert r.status in (200, 204), "POST /admin/health?ok=0: %d" % r.status
        try:
            took = gwlib.wait_for("b%d down" % i, lambda: self.states()[b.addr] != "healthy", 10)
            REC.worst("health: out after (s)", took)
            if took > 3 * HEALTH_INTERVAL * slack() + 1:
                REC.fail("fault", "b%d out %.2f s after its health check failed" % (i, took))
        except AssertionError as e:
            REC.fail("fault", str(e))
        time.sleep(random.uniform(0.5, 1.5))
        REC.fault("health", "b%d ok=1" % i, new=False)
        r = request(b.url, "/admin/health?ok=1", method="POST", body=b"")
        assert r.status in (200, 204), "POST /admin/health?ok=1: %d" % r.status
        took = self.wait_all_healthy("b%d healthy again" % i)
        if took is not None:
            REC.worst("health: back after (s)", took)
            if took > 4 * HEALTH_INTERVAL * slack() + 1:
                REC.fail("fault", "b%d back only %.2f s after its health check passed" % (i, took))

    def slow(self):
        REC.fault("slow", "")
        results = []
        lock = threading.Lock()

        def one(path, want):
            t0 = time.time()
            try:
                r = request(self.gw.url, path, timeout=client_timeout())
                st = r.status
            except Exception as e:
                REC.fail("slow", "GET %s: %s" % (path, describe(e)))
                return
            took = time.time() - t0
            with lock:
                results.append(took)
            if st != want:
                REC.fail("slow", "GET %s: status %d, want %d" % (path, st, want))
            elif want == 504 and took > SLOW_TIMEOUT + 2 * slack():
                REC.fail("slow", "GET %s: 504 only after %.2f s (timeout %.1f s)" %
                         (path, took, SLOW_TIMEOUT))
            else:
                REC.count("slow", st)
                if want == 504:
                    REC.worst("slow: 504 after (s)", took)
        ts = [threading.Thread(target=one, args=("/slow/delay?ms=%d" % random.randint(2000, 4000),
                                                 504)) for _ in range(3)]
        ts += [threading.Thread(target=one, args=("/delay?ms=%d" % random.randint(100, 600), 200))
               for _ in range(3)]
        ts += [threading.Thread(target=one, args=("/slow/delay?ms=50", 200)) for _ in range(2)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(2 * client_timeout())
            if t.is_alive():
                REC.fail("slow", "a slow-phase request still running after %.0f s" %
                         (2 * client_timeout()))

    def reload(self):
        variant = ["a", "broken", "b", "broken"][self.reloads % 4] if self.reloads else "b"
        self.reloads += 1
        REC.fault("reload-" + variant, "")
        log = self.gw.log_text()
        done_before = log.count("configuration reloaded")
        failed_before = log.count("reload failed")
        with open(self.gw.config, "w") as f:
            f.write(config(self.gw_ports, self.addrs, self.side, variant))
        self.gw.signal(signal.SIGHUP)
        if variant == "broken":
            gwlib.wait_for("the broken reload refused", lambda: self.gw.log_text().count(
                "reload failed") > failed_before, 10)
            tail = self.gw.log_text().split("reload failed")[-1][:300]
            if "round_robbin" not in tail or "line" not in tail:
                REC.fail("fault", "a broken reload's message names no line or value: %r" % tail)
        else:
            gwlib.wait_for("the reload applied", lambda: self.gw.log_text().count(
                "configuration reloaded") > done_before, 10)


# ---- the run --------------------------------------------------------------


def main():
    random.seed(SEED)
    env = Env()
    gw = None
    ok = False
    try:
        ok, gw = soak(env)
    except Exception:
        import traceback
        traceback.print_exc()
        REC.fail("soak", "the soak stopped on an exception")
    finally:
        if not ok:
            for p in env.procs:
                if p.name == "gateway" or REC.failures:
                    text = p.log_text()
                    if p.name == "gateway" or gwlib.SANITIZER.search(text):
                        print("---- %s log (tail) ----\n%s" % (p.name, text[-4000:]),
                              file=sys.stderr)
        if os.environ.get("SOAK_KEEP") == "1":
            print("soak: scratch directory kept: %s" % env.dir)
            env.dir = "/nonexistent-kept"
        env.close()
    print("soak: %s" % ("ok" if ok else "FAILED"))
    sys.exit(0 if ok else 1)


def soak(env):
    ports = [free_port() for _ in range(3)]
    bs = [env.backend("b%d" % i, ports[i]) for i in range(3)]
    side = env.backend("side")
    gw_ports = [free_port(), free_port()]
    addrs = [b.addr for b in bs]
    gw = env.gateway(config(gw_ports, addrs, side.addr, "a"))
    gwlib.wait_for("all targets healthy", lambda: set(target_states(gw.admin, "app").values())
                   == {"healthy"}, 10)
    print("soak: %.0f s, seed %d, slack %.1f, gateway pid %d at %s, admin %s" %
          (SECONDS, SEED, slack(), gw.proc.pid, gw.url, gw.admin))
    start = time.time()
    REC.t0 = start
    deadline = start + SECONDS
    traffic = Traffic(gw)
    for kind, n in (("get", 3), ("post", 2), ("sse", 1), ("ws", 1), ("cached", 1),
                    ("limited", 1), ("rude", 1)):
        if kind in KINDS:
            traffic.start(kind, getattr(traffic, kind), n)
    admin = Admin(gw)
    admin.start()
    time.sleep(min(WARMUP, SECONDS / 4))
    rss_warm = vmrss(gw.proc.pid)
    fds_warm = fds(gw.proc.pid)
    faults = Faults(env, gw, bs, gw_ports, side.addr, deadline - 3)
    if FAULTS:
        faults.start()
    last_print = time.time()
    while time.time() < deadline:
        time.sleep(min(1, max(0, deadline - time.time())))
        if time.time() - last_print >= 15:
            last_print = time.time()
            with REC.lock:
                n = sum(REC.counts.values())
                nf = len(REC.failures)
            print("soak: %3.0f s: %d requests, %d failures, RSS %.1f MiB, last fault: %s" %
                  (time.time() - start, n, nf, vmrss(gw.proc.pid) / MIB, REC.fault_now),
                  flush=True)
    if FAULTS:
        faults.join(60 * slack())
    if faults.is_alive():
        REC.fail("fault", "the fault thread is stuck (a fault step hangs)")
    hung = traffic.stop()
    admin.running = False
    admin.join(2 * client_timeout())
    for name in hung:
        REC.fail("hang", "client thread %s did not finish within its timeouts" % name)
    # After the run: still serving, still observable, memory bounded.
    for _ in range(6):
        r = request(gw.url, "/", timeout=client_timeout())
        if r.status != 200 or not hello_ok(r.body):
            REC.fail("after", "GET / after the run: %d %r" % (r.status, r.body[:100]))
    m = request(gw.admin, "/metrics", timeout=client_timeout())
    if m.status != 200 or b"gateway_requests_total" not in m.body:
        REC.fail("after", "/metrics after the run: %d %r" % (m.status, m.body[:200]))
    s = request(gw.admin, "/api/stats", timeout=client_timeout())
    try:
        routes = json.loads(s.body).get("routes", [])
    except ValueError:
        routes = None
    if s.status != 200 or not routes:
        REC.fail("after", "/api/stats after the run: %d %r" % (s.status, s.body[:200]))
    time.sleep(1)  # let finished connections go
    rss_end = vmrss(gw.proc.pid)
    fds_end = fds(gw.proc.pid)
    if fds_end > fds_warm + 200:
        REC.fail("fds", "gateway holds %d descriptors after the run, %d after warm-up" %
                 (fds_end, fds_warm))
    bound = 3 * rss_warm + 20 * MIB
    asan = sanitized(gw.proc.pid)
    if asan:
        bound += 512 * MIB  # the sanitizer's quarantine and shadow grow by design
    if rss_end > bound:
        REC.fail("rss", "gateway RSS %.1f MiB after the run, bound %.1f MiB (warm-up %.1f MiB)"
                 % (rss_end / MIB, bound / MIB, rss_warm / MIB))
    # SIGTERM: drains and exits 0; no sanitizer report anywhere.
    # Every client is gone by now: the drain has nothing to wait for.
    t_term = time.time()
    try:
        gw.stop(timeout=30)
    except AssertionError as e:
        REC.fail("exit", "gateway: %s" % str(e)[:3000])
    t_term = time.time() - t_term
    if "shutdown: timed out" in gw.log_text() or t_term > 2 * slack() + 1:
        REC.fail("exit", "SIGTERM with no client left took %.1f s to exit (shutdown_timeout "
                 "10 s%s): a connection stayed active" %
                 (t_term, ", waited out" if "shutdown: timed out" in gw.log_text() else ""))
    for p in env.procs:
        if p is gw or p.proc.poll() is not None and p.proc.returncode == -signal.SIGKILL:
            continue
        try:
            p.stop(timeout=15)
        except AssertionError as e:
            REC.fail("exit", "%s: %s" % (p.name, str(e)[:2000]))
    summary(rss_warm, rss_end, admin.rss_max, asan, faults)
    print("soak: gateway descriptors: after warm-up %d, after the run %d; SIGTERM to exit "
          "%.2f s" % (fds_warm, fds_end, t_term))
    return not REC.failures, gw


def summary(rss_warm, rss_end, rss_max, asan, faults):
    kinds = sorted({k for k, _ in REC.counts})
    print("soak: requests by kind and outcome:")
    for k in kinds:
        row = sorted(((str(o), n) for (kk, o), n in REC.counts.items() if kk == k))
        print("  %-8s %7d  %s" % (k, sum(n for _, n in row),
                                  "  ".join("%s=%d" % (o, n) for o, n in row)))
    print("soak: faults: %s (backend restarts %d)" %
          (", ".join("%s=%d" % kv for kv in sorted(REC.faults.items())),
           faults.restarts))
    for name, secs in sorted(REC.notes.items()):
        print("  worst %-30s %.2f" % (name, secs))
    print("soak: gateway RSS: after warm-up %.1f MiB, max %.1f MiB, after the run %.1f MiB%s" %
          (rss_warm / MIB, rss_max / MIB, rss_end / MIB, " (sanitizer build)" if asan else ""))
    if faults.error:
        print(faults.error, file=sys.stderr)
    if REC.failures:
        print("soak: %d FAILURES (first 30):" % len(REC.failures))
        for t, kind, text in REC.failures[:30]:
            print("  %7.2fs %-8s %s" % (t, kind, text))


if __name__ == "__main__":
    main()
