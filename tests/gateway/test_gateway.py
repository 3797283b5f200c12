#!/usr/bin/env python3
"""test_gateway.py SCENARIO — the gateway program end to end, with
gateway-backend processes behind it, Python's http.client and raw sockets
in front of it. ctest runs each scenario as its own test, with
GOC_MAXPROCS 1, 2 and 4 (tests/gateway/CMakeLists.txt).

Scenarios:
  minimal     the issue's minimal file exactly as written (fixed ports 8080,
              9090, 9001-9003), round robin, /metrics and the dashboard
  check       -check: ok, and a YAML or schema error named by line
  proxy       fields at the backend (X-Forwarded-*), bodies, SSE, WebSocket,
              prefix stripping, header conditions, 404
  kill        a backend killed under load: no idempotent request fails,
              it is out within two health intervals and back within three
              once it answers again
  slow        a slow backend: 504 at the route's timeout, the target
              ejected, load moves to the others; garbage: 502
  limits      rate limit 429 with Retry-After; the in-flight bound sheds
              with 503 at once while a normal route keeps answering
  reload      a broken file keeps the old configuration and says why; a
              good one applies; a reload under load fails no request;
              SIGTERM drains a request in flight
  smuggle     requests the gateway did not parse exactly never reach a
              backend; pipelined ones arrive as separate requests
  cache       a cached route: one backend request for many, X-Cache
  accesslog   JSON lines with the request's fields
  etcd        two gateways follow their targets in a real etcd
  tls         TLS termination (X-Forwarded-Proto: https)
"""
import json
import os
import signal
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gwlib import (Env, Load, free_port, get, raw, request, slack, stats,  # noqa: E402
                   target_states, wait_for)

UPSTREAM = """
upstreams:
  - name: app
    balance: {balance}
    targets: [{targets}]
    health_check: {{ path: "/healthz", interval: "{interval}" }}
{extra}"""


def config(backends, routes, balance="round_robin", interval="200ms", extra="", head=""):
    targets = ", ".join('"%s"' % b.addr for b in backends)
    return ('listen: "127.0.0.1:0"\nadmin: "127.0.0.1:0"\n' + head +
            UPSTREAM.format(balance=balance, targets=targets, interval=interval, extra=extra) +
            "routes:\n" + routes)


ROUTE_ALL = """  - match: "/"
    upstream: app
    timeout: "5s"
    retries: 2
"""


def who(r):
    return r.body.decode().strip().rsplit(" ", 1)[-1]


# ---- scenarios ------------------------------------------------------------


def t_minimal(env):
    minimal = """listen: "127.0.0.1:8080"
admin: "127.0.0.1:9090"          # dashboard and /metrics
upstreams:
  - name: app
    balance: round_robin         # also least_conn, p2c, hash
    targets: ["127.0.0.1:9001", "127.0.0.1:9002", "127.0.0.1:9003"]
    health_check: { path: "/healthz", interval: "1s" }
routes:
  - match: "/"                   # a goc mux pattern: [METHOD ][HOST]/path
    upstream: app
    timeout: "5s"
    retries: 2
"""
    for i, port in enumerate((9001, 9002, 9003)):
        env.backend("b%d" % (i + 1), port)
    gw = env.gateway(minimal)
    assert gw.url == "http://127.0.0.1:8080", gw.url
    seen = [who(get(gw.url)) for _ in range(9)]
    assert sorted(set(seen)) == ["b1", "b2", "b3"], seen
    assert all(seen.count(b) == 3 for b in ("b1", "b2", "b3")), "round robin: %s" % seen
    m = get("http://127.0.0.1:9090", "/metrics")
    assert m.status == 200 and b"gateway_requests_total" in m.body, m.body[:500]
    d = get("http://127.0.0.1:9090", "/")
    assert d.status == 200 and b"<html" in d.body.lower(), d.body[:200]
    gw.stop()


def t_check(env):
    import subprocess
    from gwlib import GATEWAY
    good = env.write("good.yaml", 'listen: "127.0.0.1:0"\nupstreams:\n  - name: a\n'
                     '    targets: ["127.0.0.1:1"]\nroutes:\n  - match: "/"\n    upstream: a\n')
    r = subprocess.run([GATEWAY, "-check", "-config", good], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    bad = env.write("bad.yaml", 'listen: "127.0.0.1:0"\nupstreams:\n  - name: app\n'
                    '    targets: ["127.0.0.1:1"]\n    balance: round_robbin\nroutes:\n'
                    '  - match: "/"\n    upstream: app\n')
    r = subprocess.run([GATEWAY, "-check", "-config", bad], capture_output=True, text=True)
    assert r.returncode != 0 and "line 5" in r.stderr and "round_robbin" in r.stderr, r.stderr
    syn = env.write("syntax.yaml", 'listen: "127.0.0.1:0"\nupstreams:\n  - name: [a\n')
    r = subprocess.run([GATEWAY, "-check", "-config", syn], capture_output=True, text=True)
    assert r.returncode != 0 and "line " in r.stderr, r.stderr
    r = subprocess.run([GATEWAY, "-config", bad], capture_output=True, text=True, timeout=10)
    assert r.returncode != 0 and "line 5" in r.stderr, "serving a bad file: %s" % r.stderr


def t_proxy(env):
    b = env.backend("b1")
    routes = ROUTE_ALL + """  - match: "/api/"
    upstream: app
    strip_prefix: "/api"
    headers: { X-Canary: "yes" }
  - match: "/api/"
    upstream: app
    rewrite_prefix: "/headers"
    strip_prefix: "/api"
  - match: "GET /only-get/"
    upstream: app
"""
    gw = env.gateway(config([b], routes))
    r = get(gw.url, "/headers?x=1", headers={"Host": "front.example", "X-Keep": "k",
                                             "Connection": "X-Secret", "X-Secret": "s"})
    text = r.body.decode()
    assert r.status == 200, r.status
    assert "X-Forwarded-For: 127.0.0.1" in text and "X-Forwarded-Host: front.example" in text, text
    assert "X-Forwarded-Proto: http" in text and "X-Keep: k" in text, text
    assert "X-Secret" not in text, "hop-by-hop field forwarded: " + text
    # bodies, both framings
    r = request(gw.url, "/echo", method="POST", body=b"x" * 100000)
    assert r.status == 200 and r.body == b"x" * 100000, (r.status, len(r.body))
    r = request(gw.url, "/echo", method="POST", body=iter([b"abc", b"defg"]),
                headers={"Transfer-Encoding": "chunked"}, chunked=True)
    assert r.status == 200 and r.body == b"abcdefg", (r.status, r.body)
    # routes: header condition, strip and rewrite, method
    r = get(gw.url, "/api/headers", headers={"X-Canary": "yes"})
    assert r.status == 200 and r.body.startswith(b"GET /headers"), r.body[:100]
    r = get(gw.url, "/api/x/y?q=1")
    assert r.status == 200 and r.body.startswith(b"GET /headers/x/y?q=1\n"), r.body[:100]
    r = request(gw.url, "/only-get/x", method="POST", body=b"")
    assert r.status in (200, 405), r.status  # "/" catches it or the mux says 405
    # SSE: events arrive as they are sent
    s = socket.create_connection((gw.host, gw.port), timeout=10 * slack())
    s.sendall(b"GET /sse?n=3&ms=300 HTTP/1.1\r\nHost: x\r\n\r\n")
    t0 = time.time()
    data = b""
    while b"data:" not in data:
        chunk = s.recv(4096)
        assert chunk, "connection closed before the first event"
        data += chunk
    first = time.time() - t0
    assert first < 0.6 * slack() + 0.5, "first event after %.2f s: buffered?" % first
    s.close()
    # WebSocket: 101, then bytes both ways
    s = socket.create_connection((gw.host, gw.port), timeout=10 * slack())
    s.sendall(b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
              b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        assert chunk, "closed before 101: %r" % head
        head += chunk
    assert head.startswith(b"HTTP/1.1 101"), head
    rest = head.split(b"\r\n\r\n", 1)[1]
    s.sendall(b"ping")
    while len(rest) < 4:
        chunk = s.recv(4096)
        assert chunk, "tunnel closed"
        rest += chunk
    assert rest[:4] == b"ping", rest
    s.close()
    gw.stop()


def t_kill(env):
    ports = [free_port() for _ in range(3)]
    bs = [env.backend("b%d" % i, p) for i, p in enumerate(ports)]
    interval = 0.3
    gw = env.gateway(config(bs, ROUTE_ALL, interval="300ms"))
    load = Load(gw.url, "/", threads=4)
    time.sleep(0.5)
    victim = bs[1]
    victim.kill()
    t_kill = time.time()
    took = wait_for("the killed target out", lambda: target_states(gw.admin, "app")[victim.addr]
                    != "healthy", 10)
    assert took <= 2 * interval * slack() + 0.5, "out after %.2f s (interval %.1f)" % (took,
                                                                                   interval)
    time.sleep(1)
    counts, errors = load.stop()
    bad = {k: v for k, v in counts.items() if k != 200}
    assert not errors and not bad, "requests failed after a kill: %s %s" % (bad, errors[:3])
    assert sum(counts.values()) > 50, counts
    # back: same port, within three health intervals of answering again
    env.backend("b1-again", ports[1])
    t_back = time.time()
    took = wait_for("the target back", lambda: target_states(gw.admin, "app")[victim.addr]
                    == "healthy", 10)
    assert took <= 3 * interval * slack() + 0.5, "back after %.2f s" % took
    seen = {who(get(gw.url)) for _ in range(12)}
    assert "b1-again" in seen, seen
    del t_kill, t_back
    gw.stop()


def t_slow(env):
    bs = [env.backend("b%d" % i) for i in range(3)]
    routes = """  - match: "/"
    upstream: app
    timeout: "400ms"
    retries: 0
"""
    extra = "    outlier: { consecutive_5xx: 3, consecutive_errors: 3, base_ejection_time: \"5s\" }\n"
    gw = env.gateway(config(bs, routes, extra=extra))
    t0 = time.time()
    r = get(gw.url, "/delay?ms=3000")
    assert r.status == 504, r.status
    assert time.time() - t0 < 2.5 * slack(), "504 after %.2f s" % (time.time() - t0)
    # a target that keeps timing out is ejected; load moves to the others
    for _ in range(12):
        get(gw.url, "/delay?ms=3000")
    states = target_states(gw.admin, "app")
    assert list(states.values()).count("healthy") >= 1, states
    m = get(gw.admin, "/metrics").body.decode()
    assert "gateway_timeouts_total" in m, m[:800]
    gw.stop()
    # a backend that answers garbage: 502
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(16)
    addr = "127.0.0.1:%d" % ls.getsockname()[1]

    def garbage():
        while True:
            try:
                c, _ = ls.accept()
            except OSError:
                return
            try:
                c.recv(4096)
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok")
            except OSError:
                pass
            c.close()
    threading.Thread(target=garbage, daemon=True).start()
    cfg = ('listen: "127.0.0.1:0"\nupstreams:\n  - name: g\n    targets: ["%s"]\n'
           'routes:\n  - match: "/"\n    upstream: g\n    retries: 0\n' % addr)
    gw2 = env.gateway(cfg, "gateway2")
    r = get(gw2.url, "/")
    assert r.status == 502, r.status
    gw2.stop()
    ls.close()


def t_limits(env):
    b = env.backend("b1")
    routes = """  - match: "/limited/"
    upstream: app
    rate_limit: { rate: 2, burst: 3 }
  - match: "/slow/"
    upstream: small
    strip_prefix: "/slow"
  - match: "/"
    upstream: app
"""
    extra = """  - name: small
    targets: ["%s"]
    limits: { max_inflight: 2, max_queue: 0 }
""" % b.addr
    gw = env.gateway(config([b], routes, extra=extra))
    codes = [get(gw.url, "/limited/x").status for _ in range(6)]
    assert codes[:3] == [200, 200, 200] and 429 in codes[3:], codes
    r = get(gw.url, "/limited/x")
    assert r.status == 429 and int(r.header("Retry-After")) >= 1, (r.status, r.headers)
    # 8 slow requests at once on a bound of 2 in flight: 6 shed at once
    results = []
    lock = threading.Lock()

    def slow():
        t0 = time.time()
        st = get(gw.url, "/slow/delay?ms=1500").status
        with lock:
            results.append((st, time.time() - t0))
    ts = [threading.Thread(target=slow) for _ in range(8)]
    for t in ts:
        t.start()
    time.sleep(0.3)
    t0 = time.time()
    normal = get(gw.url, "/").status
    normal_t = time.time() - t0
    for t in ts:
        t.join(20)
    shed = [d for s, d in results if s == 503]
    ok = [s for s, d in results if s == 200]
    assert len(ok) == 2 and len(shed) == 6, results
    assert max(shed) < 1.0 * slack(), "shedding waited: %s" % shed
    assert normal == 200 and normal_t < 1.0 * slack(), (normal, normal_t)
    m = get(gw.admin, "/metrics").body.decode()
    assert "gateway_rate_limited_total" in m and "gateway_shed_total" in m, m[:500]
    gw.stop()


def t_reload(env):
    b1, b2 = env.backend("b1"), env.backend("b2")
    gw = env.gateway(config([b1], ROUTE_ALL))
    assert who(get(gw.url)) == "b1"
    good = config([b1], ROUTE_ALL)
    with open(gw.config, "w") as f:
        f.write(good.replace("balance: round_robin", "balance: round_robbin"))
    gw.signal(signal.SIGHUP)
    wait_for("the reload error", lambda: "round_robbin" in gw.log_text(), 10)
    assert "line" in gw.log_text(), gw.log_text()
    assert who(get(gw.url)) == "b1", "the old configuration stays"
    # a good reload, under load: no request fails
    load = Load(gw.url, "/", threads=4)
    time.sleep(0.3)
    with open(gw.config, "w") as f:
        f.write(config([b2], ROUTE_ALL))
    gw.signal(signal.SIGHUP)
    wait_for("b2 answering", lambda: who(get(gw.url)) == "b2", 10)
    time.sleep(0.3)
    counts, errors = load.stop()
    assert not errors and set(counts) == {200}, "reload under load: %s %s" % (counts, errors[:3])
    # SIGTERM drains: a request in flight completes
    out = []
    t = threading.Thread(target=lambda: out.append(get(gw.url, "/delay?ms=800").status))
    t.start()
    time.sleep(0.3)
    gw.signal(signal.SIGTERM)
    t.join(10)
    assert out == [200], "in-flight request during drain: %s" % out
    gw.stop()


def t_smuggle(env):
    b = env.backend("b1")
    gw = env.gateway(config([b], ROUTE_ALL))
    before = stats(gw.admin)
    cases = [
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n"
        b"\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde",
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nFoo: bar\nBar: baz\r\n\r\n",
        b"GET / HTTP/1.1\r\n Host: x\r\n\r\n",
    ]
    for c in cases:
        out = raw(gw.url, c, timeout=3)
        assert out.startswith(b"HTTP/1.1 400") or out.startswith(b"HTTP/1.1 501"), (c, out[:100])
        assert b"smuggled" not in out
    after = stats(gw.admin)

    def total(s):
        return sum(r.get("total", 0) for r in s.get("routes", []))
    assert total(after) == total(before), "a refused request reached a route"
    out = raw(gw.url, b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
              b"GET /headers HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", timeout=5)
    assert out.count(b"HTTP/1.1 200") == 2 and b"abc" in out and b"GET /headers" in out, out
    gw.stop()


def t_cache(env):
    b = env.backend("b1")
    routes = """  - match: "/cached/"
    upstream: app
    strip_prefix: "/cached"
    cache: true
""" + ROUTE_ALL
    gw = env.gateway(config([b], routes))
    first = get(gw.url, "/cached/cache?max_age=60")
    assert first.status == 200, first.status
    n0 = first.header("X-Backend-Count")
    for _ in range(5):
        r = get(gw.url, "/cached/cache?max_age=60")
        assert r.status == 200 and r.header("X-Cache") == "HIT", r.headers
        assert r.header("X-Backend-Count") == n0, "the backend was asked again"
        assert r.header("Age") is not None
    m = get(gw.admin, "/metrics").body.decode()
    assert "gateway_cache_hits_total" in m, m[:500]
    gw.stop()


def t_accesslog(env):
    b = env.backend("b1")
    log = os.path.join(env.dir, "access.log")
    gw = env.gateway(config([b], ROUTE_ALL, head='access_log: "%s"\n' % log))
    for i in range(5):
        get(gw.url, "/x?i=%d" % i, headers={"User-Agent": "t"})
    gw.stop()
    lines = open(log).read().splitlines()
    assert len(lines) == 5, lines
    for line in lines:
        e = json.loads(line)
        assert e["status"] == 200 and e["method"] == "GET" and e["uri"].startswith("/x?i="), e
        assert e["upstream"] == "app" and e["target"] == b.addr, e


def etcd_start(env):
    """A real etcd on loopback (Debian's etcd-server): its client URL."""
    import base64  # noqa: F401
    import subprocess
    cport, pport = free_port(), free_port()
    data = os.path.join(env.dir, "etcd")
    curl = "http://127.0.0.1:%d" % cport
    purl = "http://127.0.0.1:%d" % pport
    log = open(os.path.join(env.dir, "etcd.log"), "w")
    proc = subprocess.Popen(["etcd", "--name", "t", "--data-dir", data,
                             "--listen-client-urls", curl, "--advertise-client-urls", curl,
                             "--listen-peer-urls", purl, "--initial-advertise-peer-urls", purl,
                             "--initial-cluster", "t=" + purl], stdout=log, stderr=log)
    env.extra.append(proc)
    wait_for("etcd", lambda: get(curl, "/health").status == 200, 20)
    return curl


def etcd_put(curl, key, value=""):
    import base64
    body = json.dumps({"key": base64.b64encode(key.encode()).decode(),
                       "value": base64.b64encode(value.encode()).decode()})
    r = request(curl, "/v3/kv/put", method="POST", body=body)
    assert r.status == 200, (r.status, r.body)


def etcd_delete(curl, key):
    import base64
    body = json.dumps({"key": base64.b64encode(key.encode()).decode()})
    r = request(curl, "/v3/kv/deleterange", method="POST", body=body)
    assert r.status == 200, (r.status, r.body)


def t_etcd(env):
    b1, b2 = env.backend("b1"), env.backend("b2")
    curl = etcd_start(env)
    prefix = "/gw-test/"
    etcd_put(curl, prefix + "upstreams/app/" + b1.addr)
    cfg = ('listen: "127.0.0.1:0"\nadmin: "127.0.0.1:0"\n'
           'etcd: { endpoints: ["%s"], prefix: "%s" }\n'
           'upstreams:\n  - name: app\n    targets_from: etcd\n'
           'routes:\n  - match: "/"\n    upstream: app\n' % (curl, prefix))
    gw1 = env.gateway(cfg, "gateway1")
    gw2 = env.gateway(cfg, "gateway2")  # a fleet of two follows the same keys
    for gw in (gw1, gw2):
        assert {who(get(gw.url)) for _ in range(4)} == {"b1"}
    etcd_put(curl, prefix + "upstreams/app/" + b2.addr, '{"weight": 1}')
    for gw in (gw1, gw2):
        wait_for("b2 through " + gw.name,
                 lambda: "b2" in {who(get(gw.url)) for _ in range(4)}, 10)
    etcd_delete(curl, prefix + "upstreams/app/" + b1.addr)
    for gw in (gw1, gw2):
        wait_for("b1 gone from " + gw.name,
                 lambda: {who(get(gw.url)) for _ in range(6)} == {"b2"}, 10)
    gw1.stop()
    gw2.stop()


def t_tls(env):
    import ssl
    import subprocess
    b = env.backend("b1")
    key, crt = os.path.join(env.dir, "key.pem"), os.path.join(env.dir, "cert.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", crt, "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True)
    gw = env.gateway(config([b], ROUTE_ALL, head='tls: { cert: "%s", key: "%s" }\n' % (crt, key)))
    assert gw.url.startswith("https://"), gw.url
    ctx = ssl.create_default_context(cafile=crt)
    import http.client
    c = http.client.HTTPSConnection(gw.host, gw.port, context=ctx, timeout=10 * slack())
    c.request("GET", "/headers")
    r = c.getresponse()
    body = r.read().decode()
    assert r.status == 200 and "X-Forwarded-Proto: https" in body, (r.status, body)
    c.close()
    gw.stop()


SCENARIOS = {k[2:]: v for k, v in globals().items() if k.startswith("t_")}

if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in SCENARIOS:
        print("usage: test_gateway.py {%s}" % "|".join(SCENARIOS), file=sys.stderr)
        sys.exit(2)
    env = Env()
    try:
        SCENARIOS[sys.argv[1]](env)
    except Exception as e:
        import traceback
        traceback.print_exc()
        print("FAIL %s: %r" % (sys.argv[1], e), file=sys.stderr)
        for p in env.procs:
            print("---- %s log (tail) ----\n%s" % (p.name, p.log_text()[-2000:]), file=sys.stderr)
        sys.exit(1)
    finally:
        env.close()
    print("ok %s" % sys.argv[1])
