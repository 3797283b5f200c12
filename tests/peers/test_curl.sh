#!/usr/bin/env bash
# test_curl.sh HTTPD — httpd against curl, a client written by others: the
# plaintext route's fields, keep-alive reuse across URLs, a chunked upload,
# Expect: 100-continue, ranges, a conditional GET, a large file by sha256,
# streaming, and the debug routes. Each check prints one "ok" line; the
# first failure stops the test with httpd's log.
HTTPD="${1:?usage: test_curl.sh build/examples/httpd}"
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CURL=(curl -sS --max-time 20)
ok() { echo "ok - $*"; }

# echo_field FILE FIELD: a field of /echo's JSON answer, base64-decoded, to
# stdout ("headers": one "name: value" per line).
echo_field() {
    python3 - "$1" "$2" <<'EOF'
import base64, json, sys
j = json.load(open(sys.argv[1]))
d = lambda s: base64.b64decode(s)
if sys.argv[2] == "headers":
    for n, v in j["headers"]:
        sys.stdout.buffer.write(d(n) + b": " + d(v) + b"\n")
else:
    sys.stdout.buffer.write(d(j[sys.argv[2]]))
EOF
}

# slice FILE OFFSET LENGTH: those bytes of FILE, to stdout.
slice() {
    dd if="$1" iflag=skip_bytes,count_bytes skip="$2" count="$3" status=none
}

# header FILE NAME: the value of a response field in curl's -D dump.
header() {
    grep -i "^$2:" "$1" | head -n 1 | cut -d: -f2- | sed 's/^ *//; s/\r$//'
}

# ---- the command line --------------------------------------------------------
rc=0
"$HTTPD" -tls-cert "$T/cert.pem" -tls-key "$T/key.pem" >/dev/null 2>"$T/tls.err" || rc=$?
[ $rc -eq 1 ] && grep -q "$T/cert.pem" "$T/tls.err" ||
    fail "-tls-cert/-tls-key of missing files: status $rc, $(cat "$T/tls.err")"
rc=0
"$HTTPD" -tls-cert "$T/cert.pem" >/dev/null 2>&1 || rc=$?
[ $rc -eq 2 ] || fail "-tls-cert without -tls-key: status $rc, want 2"
rc=0
"$HTTPD" -no-such-flag >/dev/null 2>&1 || rc=$?
[ $rc -eq 2 ] || fail "an unknown flag: status $rc, want 2"
ok "command line: missing TLS files status 1, a cert without its key and unknown flags status 2"

start_httpd

# ---- /plaintext -------------------------------------------------------------
body="$("${CURL[@]}" -D "$T/h" "$URL/plaintext")"
[ "$body" = "Hello, World!" ] || fail "/plaintext body: '$body'"
head -n 1 "$T/h" | grep -q '^HTTP/1.1 200' || fail "/plaintext status: $(head -n 1 "$T/h")"
[ "$(header "$T/h" Content-Type)" = "text/plain" ] || fail "/plaintext Content-Type"
[ "$(header "$T/h" Content-Length)" = "13" ] || fail "/plaintext Content-Length"
[ "$(header "$T/h" Server)" = "goc" ] || fail "/plaintext Server: '$(header "$T/h" Server)'"
date="$(header "$T/h" Date)"
[[ "$date" =~ ^[A-Z][a-z]{2},\ [0-9]{2}\ [A-Z][a-z]{2}\ [0-9]{4}\ [0-9:]{8}\ GMT$ ]] ||
    fail "/plaintext Date: '$date'"
ok "GET /plaintext: 200, text/plain, Content-Length 13, Server goc, Date '$date'"

# ---- keep-alive across two URLs in one invocation ----------------------------
"${CURL[@]}" -v -o /dev/null -o /dev/null "$URL/plaintext" "$URL/static/hello.txt" 2>"$T/v"
grep -q -i 'Re-using existing connection' "$T/v" || fail "curl did not reuse the connection"
[ "$(grep -c '^< HTTP/1.1 200' "$T/v")" -eq 2 ] || fail "two 200s expected"
ok "keep-alive: the second URL reused the first connection"

# ---- chunked upload to /echo --------------------------------------------------
head -c 300000 /dev/urandom >"$T/upload.bin"
"${CURL[@]}" -H 'Transfer-Encoding: chunked' -H 'X-Peer-Test: chunked' \
    --data-binary @"$T/upload.bin" -o "$T/echo.json" "$URL/echo?q=1"
echo_field "$T/echo.json" body >"$T/echoed.bin"
cmp -s "$T/upload.bin" "$T/echoed.bin" || fail "chunked upload: the echoed body differs"
[ "$(echo_field "$T/echo.json" method)" = POST ] || fail "echo method"
[ "$(echo_field "$T/echo.json" uri)" = "/echo?q=1" ] || fail "echo uri"
[ "$(echo_field "$T/echo.json" version)" = "HTTP/1.1" ] || fail "echo version"
echo_field "$T/echo.json" headers >"$T/echo.headers"
grep -q -x 'Transfer-Encoding: chunked' "$T/echo.headers" || fail "echo lost Transfer-Encoding"
grep -q -x 'X-Peer-Test: chunked' "$T/echo.headers" || fail "echo lost X-Peer-Test"
ok "chunked upload of 300000 bytes echoed intact"

# ---- Expect: 100-continue ------------------------------------------------------
# curl waits --expect100-timeout for the 100 before it sends the body, so an
# answer well within that proves the server sent it.
start=$(date +%s%N)
"${CURL[@]}" -v --expect100-timeout 10 -H 'Expect: 100-continue' \
    --data-binary @"$T/upload.bin" -o "$T/echo100.json" "$URL/echo" 2>"$T/v100"
ms=$((($(date +%s%N) - start) / 1000000))
grep -q '^< HTTP/1.1 100' "$T/v100" || fail "no 100 Continue before the body"
echo_field "$T/echo100.json" body | cmp -s - "$T/upload.bin" || fail "100-continue: body differs"
[ $ms -lt 8000 ] || fail "100-continue took $ms ms: curl waited out its timeout"
ok "Expect: 100-continue answered with 100, body echoed ($ms ms)"

# ---- ranges ----------------------------------------------------------------------
"${CURL[@]}" -D "$T/h" --range 1000-1999 -o "$T/range.bin" "$URL/static/data.bin"
head -n 1 "$T/h" | grep -q '^HTTP/1.1 206' || fail "range status: $(head -n 1 "$T/h")"
[ "$(header "$T/h" Content-Range)" = "bytes 1000-1999/100000" ] ||
    fail "Content-Range: '$(header "$T/h" Content-Range)'"
slice "$ROOT/data.bin" 1000 1000 | cmp -s - "$T/range.bin" || fail "range bytes differ"
"${CURL[@]}" -D "$T/h" --range -500 -o "$T/range.bin" "$URL/static/data.bin"
slice "$ROOT/data.bin" 99500 500 | cmp -s - "$T/range.bin" || fail "suffix range bytes differ"
code="$("${CURL[@]}" -o /dev/null -w '%{http_code}' --range 200000-300000 "$URL/static/data.bin")"
[ "$code" = 416 ] || fail "unsatisfiable range: $code"
ok "ranges: 1000-1999 and -500 are 206 with the right bytes, past the end is 416"

# ---- conditional GET ---------------------------------------------------------------
"${CURL[@]}" -D "$T/h" -o /dev/null "$URL/static/hello.txt"
etag="$(header "$T/h" ETag)"
lm="$(header "$T/h" Last-Modified)"
[ -n "$etag" ] || fail "no ETag on a static file"
code="$("${CURL[@]}" -o "$T/body304" -w '%{http_code}' -H "If-None-Match: $etag" \
    "$URL/static/hello.txt")"
[ "$code" = 304 ] || fail "If-None-Match with the ETag: $code"
[ ! -s "$T/body304" ] || fail "304 with a body"
code="$("${CURL[@]}" -o /dev/null -w '%{http_code}' -H 'If-None-Match: "other"' \
    "$URL/static/hello.txt")"
[ "$code" = 200 ] || fail "If-None-Match with another ETag: $code"
if [ -n "$lm" ]; then
    code="$("${CURL[@]}" -o /dev/null -w '%{http_code}' -H "If-Modified-Since: $lm" \
        "$URL/static/hello.txt")"
    [ "$code" = 304 ] || fail "If-Modified-Since Last-Modified: $code"
fi
ok "conditional GET: ETag $etag gives 304, another ETag 200"

# ---- a large file ---------------------------------------------------------------------
"${CURL[@]}" -D "$T/h" -o "$T/big.bin" "$URL/static/big.bin"
[ "$(header "$T/h" Content-Length)" = "$(stat -c %s "$ROOT/big.bin")" ] ||
    fail "big: Content-Length"
want="$(sha256sum <"$ROOT/big.bin" | cut -d' ' -f1)"
got="$(sha256sum <"$T/big.bin" | cut -d' ' -f1)"
[ "$want" = "$got" ] || fail "big.bin sha256 $got, want $want"
ok "5 MiB static file: sha256 matches"

# ---- the other routes ---------------------------------------------------------------------
"${CURL[@]}" -D "$T/h" -o "$T/index" "$URL/"
cmp -s "$T/index" "$ROOT/index.html" || fail "GET / is not root/index.html"
header "$T/h" Content-Type | grep -q '^text/html' || fail "GET / Content-Type"
code="$("${CURL[@]}" -o /dev/null -w '%{http_code}' "$URL/no/such/route")"
[ "$code" = 404 ] || fail "unknown route: $code"
"${CURL[@]}" -N -D "$T/h" -o "$T/stream" "$URL/stream?n=4&ms=50"
[ "$(header "$T/h" Transfer-Encoding)" = chunked ] || fail "/stream is not chunked"
[ "$(wc -l <"$T/stream")" -eq 4 ] || fail "/stream: $(wc -l <"$T/stream") lines, want 4"
start=$(date +%s%N)
"${CURL[@]}" -o /dev/null "$URL/sleep?ms=300"
ms=$((($(date +%s%N) - start) / 1000000))
[ $ms -ge 290 ] || fail "/sleep?ms=300 answered after $ms ms"
"${CURL[@]}" -o "$T/metrics" "$URL/metrics"
grep -q '^goc_http_' "$T/metrics" || fail "/metrics has no goc_http_ family"
code="$("${CURL[@]}" -o /dev/null -w '%{http_code}' "$URL/debug/stats")"
[ "$code" = 200 ] || fail "/debug/stats: $code"
ok "GET /, 404, /stream, /sleep, /metrics, /debug/stats"

stop_httpd
ok "SIGTERM: httpd exited 0"

# ---- -log: one combined-format line per request ------------------------------------
start_httpd -log
"${CURL[@]}" -o /dev/null -A peer-agent "$URL/plaintext?log=1"
stop_httpd
grep -q '"GET /plaintext?log=1 HTTP/1.1" 200 13 .*"peer-agent"' "$T/httpd.log" ||
    fail "-log: no access log line for the request"
ok "-log: the request's line in combined format"
# ---- HTTPS: -tls-cert and -tls-key ------------------------------------------------
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
    -keyout "$T/key.pem" -out "$T/cert.pem" 2>/dev/null || fail "openssl req"
start_httpd -tls-cert "$T/cert.pem" -tls-key "$T/key.pem"
[[ "$URL" == https://* ]] || fail "-tls-cert: URL '$URL'"
body="$("${CURL[@]}" --cacert "$T/cert.pem" "$URL/plaintext")"
[ "$body" = "Hello, World!" ] || fail "https /plaintext: '$body'"
"${CURL[@]}" --cacert "$T/cert.pem" -o "$T/big.https" "$URL/static/big.bin"
cmp -s "$ROOT/big.bin" "$T/big.https" || fail "https /static/big.bin differs"
plain="$("${CURL[@]}" "${URL/https:/http:}/plaintext" || true)"
[ "$plain" = "Client sent an HTTP request to an HTTPS server." ] ||
    fail "plain HTTP to the HTTPS port: '$plain'"
stop_httpd
ok "HTTPS: /plaintext and a 5 MiB static file over TLS, plain HTTP answered 400"
echo "curl peer test: all checks passed"
