# lib.sh — shared by the shell peer tests (sourced): a scratch directory, a
# demo root with generated files, and httpd started on a free loopback
# port. Every test sources it with HTTPD set to the executable.
#
#   start_httpd [FLAGS...]   start "$HTTPD -addr 127.0.0.1:0 -root $ROOT FLAGS";
#                            sets HTTPD_PID and URL (http://127.0.0.1:PORT, or
#                            https:// with -tls-cert and -tls-key)
#   stop_httpd               SIGTERM, then fail unless it exits 0 within 15 s
#   fail MESSAGE             print the message and httpd's log, exit 1
#
# The scratch directory and a still-running httpd go away on exit, however
# the test ends.
set -euo pipefail
export LC_ALL=C

: "${HTTPD:?HTTPD must name build/examples/httpd}"
T="$(mktemp -d "${TMPDIR:-/tmp}/goc-peer.XXXXXX")"
ROOT="$T/root"
HTTPD_PID=""
URL=""

cleanup() {
    [ -z "$HTTPD_PID" ] || { kill -KILL "$HTTPD_PID" && wait "$HTTPD_PID"; } 2>/dev/null || true
    rm -rf "$T"
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*" >&2
    if [ -f "$T/httpd.log" ]; then
        echo "--- httpd's output:" >&2
        tail -n 40 "$T/httpd.log" >&2
    fi
    exit 1
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
