#!/usr/bin/env bash
# tests/browser/run.sh STATSD — the live stats page in a real browser.
#
# Starts STATSD (tests/browser/statsd.c) on a free loopback port with a
# few client goroutines making traffic, loads /debug/stats in headless
# Chromium with a virtual-time budget (the page's once-a-second polls run
# in a few real seconds; virtual time stops while a fetch is in flight),
# and checks the DOM Chromium dumps afterwards: the page took several
# snapshots without an error, the request counter is a number > 0, and
# both charts drew points. Then SIGTERM must stop the server cleanly.
# Bounded: 60 s in all. Exit status 0 on success; otherwise the reason is
# printed with the DOM and the server's output.
set -euo pipefail

statsd=${1:?usage: run.sh path/to/statsd}
chromium=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}
[ -n "$chromium" ] || { echo "browser test: chromium not found (tools/deps.sh browser)" >&2; exit 1; }

# Every step below is bounded; this bounds their sum.
if [ -z "${GOC_BROWSER_DEADLINE:-}" ]; then
    GOC_BROWSER_DEADLINE=1 exec timeout -k 5 60 "$0" "$@"
fi

work=$(mktemp -d)
pid=
cleanup() {
    [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

fail() {
    echo "browser test: FAIL: $*" >&2
    [ -f "$work/dom.html" ] && { echo "--- DOM" >&2; cat "$work/dom.html" >&2; }
    echo "--- server stdout" >&2; cat "$work/out" >&2 || true
    echo "--- server stderr" >&2; cat "$work/err" >&2 || true
    exit 1
}

"$statsd" -addr 127.0.0.1:0 -load 4 >"$work/out" 2>"$work/err" &
pid=$!
url=
for _ in $(seq 100); do
    url=$(sed -n 's/.*listening on \(http:\/\/[0-9.:]*\).*/\1/p' "$work/out")
    [ -n "$url" ] && break
    kill -0 "$pid" 2>/dev/null || fail "the server exited"
    sleep 0.1
done
[ -n "$url" ] || fail "no 'listening on' line within 10 s"
sleep 1 # a second of traffic before the first snapshot

# --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
timeout 40 "$chromium" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage \
    --no-first-run --user-data-dir="$work/profile" --virtual-time-budget=6000 \
    --dump-dom "$url/debug/stats" >"$work/dom.html" 2>"$work/chromium.err" ||
    { cat "$work/chromium.err" >&2; fail "chromium failed"; }

# The value of attribute $2 on the element whose id is $1 (the dump
# serializes attributes with double quotes, id first as in the page).
attr() {
    grep -o "id=\"$1\"[^>]*" "$work/dom.html" | head -1 |
        sed -n "s/.* $2=\"\\([^\"]*\\)\".*/\\1/p"
}
body=$(grep -o '<body[^>]*>' "$work/dom.html" | head -1)
updates=$(sed -n 's/.*data-updates="\([0-9]*\)".*/\1/p' <<<"$body")
case "$body" in *data-error=*) fail "the page reported an error: $body" ;; esac
[ "${updates:-0}" -ge 3 ] || fail "the page took ${updates:-no} snapshots, want >= 3"

requests=$(attr requests data-value)
[[ "$requests" =~ ^[0-9]+$ ]] && [ "$requests" -gt 0 ] || fail "requests counter: '$requests'"
for chart in chart-rps chart-latency; do
    n=$(attr "$chart" data-points)
    [ "${n:-0}" -ge 2 ] || fail "$chart drew ${n:-no} points, want >= 2"
done
for line in line-rps line-p50 line-p99; do
    pts=$(attr "$line" points)
    [ "$(wc -w <<<"$pts")" -ge 2 ] || fail "$line has points '$pts'"
done
rps=$(attr rps data-value)
[ -n "$rps" ] && awk -v r="$rps" 'BEGIN { exit !(r > 0) }' || fail "requests/s: '$rps'"

kill -TERM "$pid"
rc=0
for _ in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
done
kill -0 "$pid" 2>/dev/null && fail "the server did not stop within 10 s of SIGTERM"
wait "$pid" || rc=$?
pid=
[ "$rc" -eq 0 ] || fail "the server exited with status $rc after SIGTERM"
echo "browser test: ok ($requests requests, $updates snapshots, $rps requests/s)"
