#!/usr/bin/env bash
# tests/browser/gateway.sh GWADMIND — the gateway's dashboard in a real browser.
#
# Starts GWADMIND (tests/browser/gwadmind.c: gw_admin_handler over
# synthetic traffic) on a free loopback port, loads "/" in headless
# Chromium with a virtual-time budget (its once-a-second polls of
# /api/stats run in a few real seconds), and checks the DOM Chromium dumps:
# the page polled several times without an error and the request total
# grew between its first and last poll; every route and the upstream got
# a section, the route named with quotes and markup shown as text, not
# markup; every chart (requests/s, latency, errors) drew a path of at
# least two points; requests/s is a number > 0; the upstream's three
# targets are listed with their states (healthy, ejected, down). Then
# SIGTERM must stop the server cleanly. Bounded: 60 s in all. Exit status
# 0 on success; otherwise the reason, the DOM and the server's output.
set -euo pipefail

server=${1:?usage: gateway.sh path/to/gwadmind}
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
    echo "gateway browser test: FAIL: $*" >&2
    [ -f "$work/dom.html" ] && { echo "--- DOM" >&2; cat "$work/dom.html" >&2; }
    echo "--- server stdout" >&2; cat "$work/out" >&2 || true
    echo "--- server stderr" >&2; cat "$work/err" >&2 || true
    exit 1
}

"$server" -addr 127.0.0.1:0 >"$work/out" 2>"$work/err" &
pid=$!
url=
for _ in $(seq 100); do
    url=$(sed -n 's/.*listening on \(http:\/\/[0-9.:]*\).*/\1/p' "$work/out")
    [ -n "$url" ] && break
    kill -0 "$pid" 2>/dev/null || fail "the server exited"
    sleep 0.1
done
[ -n "$url" ] || fail "no 'listening on' line within 10 s"
sleep 2.5 # two whole seconds of history before the first poll

# --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
timeout 40 "$chromium" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage \
    --no-first-run --user-data-dir="$work/profile" --virtual-time-budget=6000 \
    --dump-dom "$url/" >"$work/dom.html" 2>"$work/chromium.err" ||
    { cat "$work/chromium.err" >&2; fail "chromium failed"; }
dom="$work/dom.html"

# The value of attribute $2 in the tag $1 (the tag's text, from grep -o).
attr() { sed -n "s/.* $2=\"\\([^\"]*\\)\".*/\\1/p" <<<"$1"; }

body=$(grep -o '<body[^>]*>' "$dom" | head -1)
case "$body" in *data-error=*) fail "the page reported an error: $body" ;; esac
updates=$(attr "$body" data-updates)
[ "${updates:-0}" -ge 3 ] || fail "the page polled ${updates:-no} times, want >= 3"
first=$(attr "$body" data-total-first)
last=$(attr "$body" data-total)
[[ "$first" =~ ^[0-9]+$ && "$last" =~ ^[0-9]+$ ]] && [ "$last" -gt "$first" ] ||
    fail "the request total did not grow between polls: '$first' -> '$last'"

routes=$(grep -o '<section class="series" data-kind="route"' "$dom" | wc -l)
upstreams=$(grep -o '<section class="series" data-kind="upstream"' "$dom" | wc -l)
[ "$routes" -eq 2 ] && [ "$upstreams" -eq 1 ] || fail "$routes route and $upstreams upstream sections"
grep -q 'data-name="web &quot;&lt;b&gt;main&lt;/b&gt;&quot;"' "$dom" ||
    fail "the route named with quotes and markup is missing"
grep -q '<b>main</b>' "$dom" && fail "a route's name was taken as markup"

charts=0
while read -r svg; do
    n=$(attr "$svg" data-points)
    [ "${n:-0}" -ge 2 ] || fail "a chart drew ${n:-no} points, want >= 2: $svg"
    charts=$((charts + 1))
done < <(grep -o '<svg class="chart"[^>]*>' "$dom")
[ "$charts" -eq 9 ] || fail "$charts charts, want 9 (3 per series)"
# paths with at least two points ("M x y L x y")
paths=$(grep -o '<path class="c-[a-z0-9]*" d="M[^"]*L[^"]*"' "$dom" | wc -l)
[ "$paths" -ge 9 ] || fail "$paths chart paths with two points or more, want >= 9"

qps=$(grep -o '<b class="v-qps"[^>]*>' "$dom" | head -1)
qps=$(attr "$qps" data-value)
[ -n "$qps" ] && awk -v r="$qps" 'BEGIN { exit !(r > 0) }' || fail "requests/s: '$qps'"

for st in healthy ejected down; do
    grep -q "<tr class=\"target st-$st\"" "$dom" || fail "no $st target listed"
done
rows=$(grep -o '<tr class="target ' "$dom" | wc -l)
[ "$rows" -eq 3 ] || fail "$rows targets listed, want 3"

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
echo "gateway browser test: ok ($updates polls, total $first -> $last, $charts charts, $qps requests/s)"
