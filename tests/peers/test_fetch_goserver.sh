#!/usr/bin/env bash
# test_fetch_goserver.sh FETCH GOSERVER — goc's client (examples/fetch)
# against Go's net/http server (goserver/main.go, built by the
# peers/goserver/build test) on a free loopback port: what the request
# carried (echoed back), chunked bodies with trailers (fetch -v), gzip the
# handler made (with and without a length), redirects (307 keeps the body,
# 302 drops it, a chain on one connection, and to another host without
# the Authorization field), 100-continue (the body waits for the 100; a
# refusal before it), 1xx, HEAD/204/304, bodies cut short ("unexpected
# EOF", exit 1), a close-delimited body, a kept-alive connection the
# server closes (the next request retried), heads of many fields and one
# past the client's 1 MiB limit, and a handler that stalls
# (--timeout 1s gives up within seconds). Each check prints one "ok"
# line; the first failure stops the test with the logs.
FETCH="${1:?usage: test_fetch_goserver.sh build/examples/fetch goserver}"
GOSERVER="${2:?usage: test_fetch_goserver.sh build/examples/fetch goserver}"
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[ -x "$GOSERVER" ] || fail "no $GOSERVER (the peers/goserver/build test builds it)"
LOGS=("$T/goserver.log" "$T/fetch.err")
ok() { echo "ok - $*"; }

# fetch ARGS...: run fetch (bounded), stdout to $T/out, stderr to
# $T/fetch.err; its status in $rc.
fetch() {
    rc=0
    timeout 60 "$FETCH" "$@" >"$T/out" 2>"$T/fetch.err" || rc=$?
    cat "$T/fetch.err" >>"$T/fetch.all"
}
want() {
    [ "$rc" -eq "$1" ] || fail "$2: fetch exited $rc, want $1"
}
# has LINE WHAT: fail unless $T/out holds the line LINE.
has() {
    grep -qxF "$1" "$T/out" || fail "$2: no line '$1' in: $(head -c 600 "$T/out")"
}
hasnt() {
    grep -qF "$1" "$T/out" && fail "$2: '$1' in: $(head -c 600 "$T/out")"
    true
}
sha() { sha256sum "$1" | cut -d' ' -f1; }

make_root
head -c $((8 * 1024 * 1024 + 5)) /dev/urandom >"$T/upload.bin"
"$GOSERVER" -root "$ROOT" >"$T/goserver.log" 2>&1 &
PEER_PIDS+=($!)
for ((i = 0; i < 100; i++)); do
    URL="$(grep -o -m 1 'listening on http://[^ ]*' "$T/goserver.log" 2>/dev/null |
        sed 's/listening on //' || true)"
    [ -z "$URL" ] || break
    kill -0 "${PEER_PIDS[0]}" 2>/dev/null || fail "goserver exited before listening"
    sleep 0.1
done
[ -n "$URL" ] || fail "goserver printed no 'listening on' line within 10 s"
PORT="${URL##*:}"

# ---- what the request carried --------------------------------------------------
fetch -H 'X-One: 1' -H 'X-Two: two words' "$URL/echo"
want 0 "GET /echo"
has "method: GET" "GET /echo"
has "host: 127.0.0.1:$PORT" "GET /echo"
has "length: 0" "GET /echo"
has "h X-One: 1" "GET /echo"
has "h X-Two: two words" "GET /echo"
has "h Accept-Encoding: gzip" "GET /echo"
grep -q '^h User-Agent: .' "$T/out" || fail "GET /echo: no User-Agent"
fetch -d @"$T/upload.bin" "$URL/echo"
want 0 "POST /echo"
has "method: POST" "POST /echo"
has "length: $(wc -c <"$T/upload.bin")" "POST /echo"
has "sha256: $(sha "$T/upload.bin")" "POST /echo"
has "h Content-Type: application/x-www-form-urlencoded" "POST /echo"
fetch -X PUT -H 'Content-Type: text/plain' -d 'some data' "$URL/echo"
has "method: PUT" "PUT /echo"
has "length: 9" "PUT /echo"
has "h Content-Type: text/plain" "PUT /echo"
ok "the request as Go's server saw it: fields, an 8 MiB POST body by sha256, PUT"

# ---- bodies ------------------------------------------------------------------
fetch "$URL/file/big.bin" "$URL/file/hello.txt" "$URL/file/data.bin"
want 0 "3 files"
cat "$ROOT/big.bin" "$ROOT/hello.txt" "$ROOT/data.bin" | cmp -s "$T/out" - ||
    fail "3 files: output differs from the files in order"
fetch -v "$URL/chunked?n=50"
want 0 "GET /chunked"
for ((i = 0; i < 50; i++)); do echo "chunk $i"; done | cmp -s "$T/out" - ||
    fail "GET /chunked: body differs"
grep -qx '< Transfer-Encoding: chunked' "$T/fetch.err" || fail "GET /chunked: not chunked"
grep -qx '<< trailer X-Sum: 1225' "$T/fetch.err" || fail "GET /chunked: no trailer X-Sum: 1225"
grep -qx '<< trailer X-Late: unannounced' "$T/fetch.err" ||
    fail "GET /chunked: no trailer X-Late: unannounced"
ok "a chunked body of 50 flushed chunks, its trailers (announced and not)"

for q in "" "?chunked=1"; do
    fetch -v "$URL/gzip/big.bin$q"
    want 0 "GET /gzip/big.bin$q"
    cmp -s "$T/out" "$ROOT/big.bin" || fail "GET /gzip/big.bin$q: the decoded body differs"
    grep -qi '^< Content-Encoding' "$T/fetch.err" && fail "GET /gzip/big.bin$q: Content-Encoding left"
done
fetch -H 'Accept-Encoding: gzip' "$URL/gzip/hello.txt"
gzip -dc <"$T/out" | cmp -s - "$ROOT/hello.txt" || fail "gzip asked for: not left encoded"
ok "gzip made by the handler, with a length and streamed, decoded; left encoded when asked for"

fetch "$URL/early-hints"
want 0 "GET /early-hints"
[ "$(cat "$T/out")" = "after 103" ] || fail "GET /early-hints: body '$(head -c 200 "$T/out")'"
fetch -X HEAD "$URL/file/big.bin"
want 0 "HEAD /file/big.bin"
[ ! -s "$T/out" ] || fail "HEAD: a body was written"
for code in 204 304; do
    fetch "$URL/status?code=$code"
    want 0 "status $code"
    [ ! -s "$T/out" ] || fail "status $code: a body was written"
done
fetch "$URL/status?code=500"
want 22 "status 500"
ok "a 103 before the answer skipped; HEAD, 204 and 304 without a body; 500 exit 22"

# ---- redirects ---------------------------------------------------------------
fetch -d @"$T/upload.bin" "$URL/redirect?to=/echo&code=307"
want 0 "POST, 307"
has "method: POST" "POST, 307"
has "sha256: $(sha "$T/upload.bin")" "POST, 307"
fetch -d 'form=1' "$URL/redirect?to=/echo&code=302"
want 0 "POST, 302"
has "method: GET" "POST, 302"
has "length: 0" "POST, 302"
fetch -d 'form=1' "$URL/redirect?to=/echo&code=308"
has "method: POST" "POST, 308"
has "length: 6" "POST, 308"
ok "redirects: 307 and 308 send the body again, 302 turns a POST into a GET"

fetch "$URL/conns"
before="$(cat "$T/out")"
fetch -H 'Authorization: Bearer secret' "$URL/chain?n=5"
want 0 "a chain of 5 redirects"
has "authorization: true" "5 redirects on the same host keep Authorization"
has "h Referer: $URL/chain?n=1" "5 redirects"
fetch "$URL/conns"
after="$(cat "$T/out")"
[ $((after - before)) -eq 2 ] ||
    fail "a chain of 5 redirects: $((after - before - 1)) connections, want 1"
fetch "$URL/redirect?to=/chain?n=20"
want 1 "a chain of 21 redirects"
grep -q 'stopped after 10 redirects' "$T/fetch.err" ||
    fail "21 redirects: message '$(cat "$T/fetch.err")'"
ok "a chain of 5 redirects on one connection, Authorization kept; more than 10: exit 1"

fetch -H 'Authorization: Bearer secret' -H 'X-Custom: kept' "$URL/to-localhost?path=echo"
want 0 "a redirect to localhost"
has "host: localhost:$PORT" "a redirect to localhost"
has "authorization: false" "a redirect to another host drops Authorization"
has "h X-Custom: kept" "a redirect to another host keeps other fields"
fetch -H 'Authorization: Bearer secret' "http://localhost:$PORT/redirect?to=http://127.0.0.1:$PORT/echo"
has "host: 127.0.0.1:$PORT" "localhost to 127.0.0.1"
has "authorization: false" "localhost to 127.0.0.1 drops Authorization"
ok "a redirect across hosts (127.0.0.1 <-> localhost) drops Authorization, keeps the rest"

# ---- 100-continue ------------------------------------------------------------
fetch -H 'Expect: 100-continue' -d @"$T/upload.bin" "$URL/continue"
want 0 "100-continue"
has "length $(wc -c <"$T/upload.bin")" "100-continue"
has 'expect "100-continue"' "100-continue"
fetch -H 'Expect: 100-continue' -d @"$T/upload.bin" "$URL/continue-check"
want 0 "100-continue, checked"
has "waited, length $(wc -c <"$T/upload.bin")" "100-continue: the body before the 100"
fetch -H 'Expect: 100-continue' -d @"$T/upload.bin" "$URL/continue-reject"
want 22 "100-continue, refused"
has "rejected without reading" "100-continue, refused"
ok "100-continue: the 8 MiB body sent only after the 100; a 403 before it: exit 22"

# ---- broken and slow servers --------------------------------------------------
for mode in length chunked; do
    fetch "$URL/cut?mode=$mode"
    want 1 "a body cut short ($mode)"
    grep -q 'unexpected EOF' "$T/fetch.err" ||
        fail "a body cut short ($mode): message '$(cat "$T/fetch.err")'"
    [ "$(wc -c <"$T/out")" -eq 1000 ] || fail "cut ($mode): $(wc -c <"$T/out") bytes written, want 1000"
done
fetch "$URL/cut?mode=head"
want 1 "closed before any answer"
fetch "$URL/cut?mode=eof"
want 0 "a close-delimited body"
[ "$(wc -c <"$T/out")" -eq 1000 ] || fail "close-delimited: $(wc -c <"$T/out") bytes, want 1000"
ok "a body cut short (length, chunked): exit 1, 'unexpected EOF'; a close-delimited body whole"

for mode in redirect redirect-late; do
    fetch "$URL/cut?mode=$mode"
    want 0 "a 302 on a connection then closed ($mode)"
    has "method: GET" "a 302 on a connection then closed ($mode)"
done
ok "a kept-alive connection closed by the server: the next request on a new one (retried)"

fetch "$URL/bighead?n=200"
want 0 "a 200 kB head"
has "big head" "a 200 kB head"
fetch -v "$URL/bighead?n=20000&size=1"
want 0 "a head of 20000 fields"
n="$(grep -c '^< X-Filler: f$' "$T/fetch.err")"
[ "$n" -eq 20000 ] || fail "a head of 20000 fields: $n shown"
fetch "$URL/bighead?n=1100"
want 1 "a 1.1 MB head"
grep -q 'headers exceeded' "$T/fetch.err" || fail "a 1.1 MB head: message '$(cat "$T/fetch.err")'"
fetch -v "$URL/trailers?n=16"
want 0 "16 trailer fields"
n="$(grep -c '^<< trailer X-T-' "$T/fetch.err")"
[ "$n" -eq 16 ] || fail "16 trailer fields: $n shown"
ok "heads of 200 kB and of 20000 fields read, 16 trailer fields; a 1.1 MB head refused (exit 1)"

for path in "sleep?d=30s" "stall?d=30s"; do
    t0=$(date +%s%N)
    fetch --timeout 1s "$URL/$path"
    ms=$((($(date +%s%N) - t0) / 1000000))
    want 1 "--timeout 1s, /$path"
    [ "$ms" -lt 5000 ] || fail "--timeout 1s, /$path: fetch took $ms ms"
    [ "$ms" -ge 900 ] || fail "--timeout 1s, /$path: fetch gave up after $ms ms"
done
fetch --timeout 5s "$URL/sleep?d=1500ms"
want 0 "--timeout 5s, a 1.5 s wait"
ok "a handler that sleeps 30 s (before its head, or mid-body): --timeout 1s exits 1 in $ms ms"

grep -q -E 'ERROR: (Address|Leak)Sanitizer|WARNING: ThreadSanitizer|runtime error:' \
    "$T/fetch.all" && fail "a sanitizer reported an error"
ok "done"
