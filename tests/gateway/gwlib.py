"""gwlib — what the gateway's end-to-end tests share: the gateway,
gateway-backend and etcd processes on loopback, a YAML file written per
test, and small HTTP helpers (http.client, one request per call).

Every failure raises AssertionError with a message."""
import http.client
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

BINDIR = os.environ.get("GW_BINDIR", "build/gateway")
GATEWAY = os.path.join(BINDIR, "gateway")
BACKEND = os.path.join(BINDIR, "gateway-backend")
SANITIZER = re.compile(r"ERROR: (Address|Leak)Sanitizer|WARNING: ThreadSanitizer|runtime error:")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def slack():
    """Time bounds stretch on a loaded machine and under sanitizers."""
    return float(os.environ.get("GOC_TEST_SLACK", "1"))


class Proc:
    """A program that prints "listening on http(s)://HOST:PORT" when ready;
    its stderr goes to a log file in the test's scratch directory."""

    def __init__(self, scratch, name, argv, env=None):
        self.name = name
        self.log_path = os.path.join(scratch, name + ".log")
        self.log = open(self.log_path, "w+")
        e = dict(os.environ)
        e.update(env or {})
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self.log, text=True,
                                     env=e)
        self.lines = []
        self.cond = threading.Condition()
        # A thread reads stdout: select() on a text pipe misses lines that
        # Python's buffer already holds.
        threading.Thread(target=self._reader, daemon=True).start()
        m = self.read_line(r"listening on (https?://[^ /\n]+)", 15)
        self.url = m.group(1)
        hp = self.url.split("://")[1]
        self.host, self.port = hp.rsplit(":", 1)
        self.port = int(self.port)
        self.addr = "%s:%d" % (self.host, self.port)

    def _reader(self):
        for line in self.proc.stdout:
            with self.cond:
                self.lines.append(line)
                self.cond.notify_all()
        with self.cond:
            self.lines.append(None)  # EOF
            self.cond.notify_all()

    def read_line(self, pattern, timeout=10):
        deadline = time.time() + timeout * slack()
        with self.cond:
            while True:
                for line in self.lines:
                    m = line and re.search(pattern, line)
                    if m:
                        return m
                left = deadline - time.time()
                if left <= 0 or (self.lines and self.lines[-1] is None):
                    break
                self.cond.wait(left)
        raise AssertionError("%s printed no line matching %r: %r\n%s" %
                             (self.name, pattern, self.lines, self.log_text()[-2000:]))

    def log_text(self):
        self.log.flush()
        with open(self.log_path) as f:
            return f.read()

    def signal(self, sig):
        if sig == signal.SIGTERM:
            self.terminated = True
        self.proc.send_signal(sig)

    def stop(self, timeout=20, want_rc=0):
        # One SIGTERM only: a second one during the exit (slow under a
        # sanitizer) would find the default action back and kill it.
        if self.proc.poll() is None and not getattr(self, "terminated", False):
            self.terminated = True
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout * slack())
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("%s still running %d s after SIGTERM\n%s" %
                                 (self.name, timeout, self.log_text()[-3000:]))
        text = self.log_text()
        assert not SANITIZER.search(text), "%s: a sanitizer reported:\n%s" % (self.name, text)
        if want_rc is not None:
            assert rc == want_rc, "%s exited %d\n%s" % (self.name, rc, text[-3000:])

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class Env:
    """A test's processes and scratch directory; close() stops them all."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="goc-gw.")
        self.procs = []
        self.extra = []  # other processes (etcd): killed at close

    def backend(self, name, port=0):
        p = Proc(self.dir, name, [BACKEND, "-addr", "127.0.0.1:%d" % port, "-name", name])
        self.procs.append(p)
        return p

    def write(self, name, text):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def gateway(self, yaml_text, name="gateway"):
        path = self.write(name + ".yaml", yaml_text)
        p = Proc(self.dir, name, [GATEWAY, "-config", path])
        p.config = path
        if "admin:" in yaml_text:
            m = p.read_line(r"admin .*on (http://[^ /\n]+)")
            p.admin = m.group(1)
        self.procs.append(p)
        return p

    def close(self):
        for p in self.procs:
            p.kill()
        for p in self.extra:
            if p.poll() is None:
                p.kill()
                p.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


class Resp:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None


def request(url, path="/", method="GET", body=None, headers=None, timeout=10, chunked=False):
    """One request on a new connection: Resp, or raises."""
    hp = url.split("://")[1]
    host, port = hp.rsplit(":", 1)
    c = http.client.HTTPConnection(host, int(port), timeout=timeout * slack())
    try:
        c.request(method, path, body=body, headers=headers or {}, encode_chunked=chunked)
        r = c.getresponse()
        return Resp(r.status, r.getheaders(), r.read())
    finally:
        c.close()


def get(url, path="/", **kw):
    return request(url, path, **kw)


def raw(url, data, timeout=10):
    """Send raw bytes, read until the server closes or timeout: bytes."""
    hp = url.split("://")[1]
    host, port = hp.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=timeout * slack())
    s.sendall(data)
    out = b""
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            out += b
    except socket.timeout:
        pass
    s.close()
    return out


def stats(admin):
    r = get(admin, "/api/stats")
    assert r.status == 200, "/api/stats: %d" % r.status
    return json.loads(r.body)


def target_states(admin, upstream):
    """{addr: state} of the upstream's targets, from /api/stats."""
    for u in stats(admin).get("upstreams", []):
        if u.get("name") == upstream:
            return {t["addr"]: t["state"] for t in u.get("targets", [])}
    raise AssertionError("upstream %s not in /api/stats" % upstream)


def wait_for(what, fn, timeout):
    """Poll fn() until it returns a true value; returns the seconds it took."""
    t0 = time.time()
    deadline = t0 + timeout * slack()
    last = None
    while time.time() < deadline:
        try:
            last = fn()
            if last:
                return time.time() - t0
        except (OSError, AssertionError, http.client.HTTPException) as e:
            last = e
        time.sleep(0.05)
    raise AssertionError("timed out waiting for %s (last: %r)" % (what, last))


class Load:
    """Threads sending GET path in a loop until stop(); counts statuses and
    errors (a request that got no response)."""

    def __init__(self, url, path="/", threads=4):
        self.url, self.path = url, path
        self.counts = {}
        self.errors = []
        self.lock = threading.Lock()
        self.running = True
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]
        for t in self.threads:
            t.start()

    def _run(self):
        hp = self.url.split("://")[1]
        host, port = hp.rsplit(":", 1)
        c = None
        while self.running:
            try:
                if c is None:
                    c = http.client.HTTPConnection(host, int(port), timeout=10 * slack())
                c.request("GET", self.path)
                r = c.getresponse()
                r.read()
                with self.lock:
                    self.counts[r.status] = self.counts.get(r.status, 0) + 1
                if r.getheader("Connection", "").lower() == "close":
                    c.close()
                    c = None
            except Exception as e:  # a request that got no answer at all
                with self.lock:
                    self.errors.append(repr(e))
                if c:
                    c.close()
                c = None
                time.sleep(0.01)
        if c:
            c.close()

    def total(self):
        with self.lock:
            return sum(self.counts.values())

    def stop(self):
        self.running = False
        for t in self.threads:
            t.join(30)
        return self.counts, self.errors
