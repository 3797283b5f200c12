# lib.sh — shared by the shell peer tests (sourced): a scratch directory, a
# demo root with generated files, and httpd started on a free loopback
# port. The tests of httpd source it with HTTPD set to the executable; the
# tests of the client (fetch against other servers) leave HTTPD unset.
#
#   start_httpd [FLAGS...]   start "$HTTPD -addr 127.0.0.1:0 -root $ROOT FLAGS";
#                            sets HTTPD_PID and URL (http://127.0.0.1:PORT, or
#                            https:// with -tls-cert and -tls-key)
#   stop_httpd               SIGTERM, then fail unless it exits 0 within 15 s
#   fail MESSAGE             print the message and the logs, exit 1
#   free_port                a loopback TCP port free now, to stdout
#   make_certs               $T/ca.pem, and $T/server.pem + server.key for
#                            127.0.0.1 and localhost signed by it (ECDSA
#                            P-256, made now: no key is committed)
#
# LOGS lists the files fail prints (httpd's log by default). The scratch
# directory, a still-running httpd and the processes in PEER_PIDS go away
# on exit, however the test ends.
set -euo pipefail
export LC_ALL=C

: "${HTTPD:=}"
T="$(mktemp -d "${TMPDIR:-/tmp}/goc-peer.XXXXXX")"
ROOT="$T/root"
HTTPD_PID=""
URL=""
LOGS=("$T/httpd.log")
PEER_PIDS=()

cleanup() {
    [ -z "$HTTPD_PID" ] || { kill -KILL "$HTTPD_PID" && wait "$HTTPD_PID"; } 2>/dev/null || true
    local p
    for p in "${PEER_PIDS[@]}"; do
        { kill -KILL "$p" && wait "$p"; } 2>/dev/null || true
    done
    rm -rf "$T"
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*" >&2
    local f
    for f in "${LOGS[@]}"; do
        if [ -f "$f" ]; then
            echo "--- ${f##*/}:" >&2
            tail -n 40 "$f" >&2
        fi
    done
    exit 1
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

make_certs() {
    local ec=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
    openssl req -x509 "${ec[@]}" -keyout "$T/ca.key" -out "$T/ca.pem" -days 2 \
        -subj "/CN=goc peer test CA" -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    openssl req -new "${ec[@]}" -keyout "$T/server.key" -out "$T/server.csr" \
        -subj "/CN=localhost" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >"$T/ext.cnf"
    openssl x509 -req -in "$T/server.csr" -CA "$T/ca.pem" -CAkey "$T/ca.key" -CAcreateserial \
        -days 2 -extfile "$T/ext.cnf" -out "$T/server.pem" 2>/dev/null
}

# make_root: the files the tests fetch, under $ROOT.
make_root() {
    mkdir -p "$ROOT/sub"
    printf '<!DOCTYPE html><title>peer test</title><p>index</p>\n' >"$ROOT/index.html"
    printf 'hello from a static file\n' >"$ROOT/hello.txt"
    head -c 100000 /dev/urandom >"$ROOT/data.bin"
    head -c $((5 * 1024 * 1024 + 123)) /dev/urandom >"$ROOT/big.bin"
    printf 'nested\n' >"$ROOT/sub/nested.txt"
}

start_httpd() {
    [ -n "$HTTPD" ] || fail "start_httpd: HTTPD is not set"
    [ -d "$ROOT" ] || make_root
    # A fresh log: the background shell may truncate the old one only after
    # the first grep below has read a previous run's listening line.
    rm -f "$T/httpd.log"
    "$HTTPD" -addr 127.0.0.1:0 -root "$ROOT" "$@" >"$T/httpd.log" 2>&1 &
    HTTPD_PID=$!
    local i
    for ((i = 0; i < 100; i++)); do
        URL="$(grep -o -m 1 'listening on https\?://[^ ]*' "$T/httpd.log" 2>/dev/null |
            sed 's/listening on //' || true)"
        [ -z "$URL" ] || return 0
        kill -0 "$HTTPD_PID" 2>/dev/null || fail "httpd exited before listening"
        sleep 0.1
    done
    fail "httpd printed no 'listening on' line within 10 s"
}

stop_httpd() {
    kill -TERM "$HTTPD_PID"
    local i rc=0
    for ((i = 0; i < 150; i++)); do
        kill -0 "$HTTPD_PID" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$HTTPD_PID" 2>/dev/null && fail "httpd still running 15 s after SIGTERM"
    wait "$HTTPD_PID" || rc=$?
    HTTPD_PID=""
    [ $rc -eq 0 ] || fail "httpd exited with status $rc after SIGTERM"
    # Sanitizer builds: a report in the log is a failure even at status 0.
    local reports='ERROR: (Address|Leak)Sanitizer|WARNING: ThreadSanitizer|runtime error:'
    if grep -q -E "$reports" "$T/httpd.log"; then
        fail "a sanitizer reported an error"
    fi
}
