#!/usr/bin/env bash
# slowloris.sh HTTPD — slowloris against httpd (make check-slow, ~40 s):
# slowhttptest opens SLOW_CONNS connections that each send one more header
# line every second and never finish the head, while curl asks for
# /plaintext in a loop. httpd runs with -header-timeout 2s: it must cut
# every slow connection off about 2 s after its first byte (a head that
# trickles in does not restart the clock), and keep answering the normal
# client quickly throughout.
#
# Environment: SLOW_CONNS=400, SLOW_SECONDS=30, SLOW_MAX_LATENCY_MS=1000
# (the bound on any one normal request: generous, for a shared machine).
HTTPD="${1:?usage: slowloris.sh build/examples/httpd}"
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

conns="${SLOW_CONNS:-400}"
secs="${SLOW_SECONDS:-30}"
bound="${SLOW_MAX_LATENCY_MS:-1000}"
command -v slowhttptest >/dev/null || fail "slowhttptest not found (tools/deps.sh slow)"

start_httpd -header-timeout 2s
# -H slowloris; -i 1: a header line each second; -r: connections per
# second; -p 3: slowhttptest's own probe gives up after 3 s.
slowhttptest -H -c "$conns" -r 200 -i 1 -x 20 -p 3 -l "$secs" -u "$URL/plaintext" \
    -g -o "$T/slow" >"$T/slow.out" 2>&1 &
slow_pid=$!
sleep 3 # the slow connections are open

n=0 errors=0 max=0
end=$((SECONDS + secs - 6))
while [ $SECONDS -lt $end ]; do
    t="$(curl -sS --max-time 10 -o /dev/null -w '%{http_code} %{time_total}' "$URL/plaintext" ||
        echo "000 10")"
    read -r code s <<<"$t"
    ms="$(awk -v s="$s" 'BEGIN { printf "%d", s * 1000 }')"
    n=$((n + 1))
    [ "$code" = 200 ] || errors=$((errors + 1))
    [ "$ms" -le "$max" ] || max=$ms
    sleep 0.1
done
wait "$slow_pid" || true

echo "normal client: $n requests, $errors failed, slowest $max ms (bound $bound ms)"
csv="$T/slow.csv"
[ -f "$csv" ] || fail "slowhttptest wrote no statistics:$(echo; tail -n 20 "$T/slow.out")"
# Columns: Seconds,Closed,Pending,Connected,Service Available (0 when its
# probe request failed, else nonzero).
read -r closed connected <<<"$(tail -n 1 "$csv" | awk -F, '{ print $2, $4 }')"
# slowhttptest stops as soon as the server has closed every connection,
# before it writes that last sample.
if grep -q 'No open connections left' "$T/slow.out"; then
    closed=$conns connected=0
fi
unavailable="$(awk -F, 'NR > 1 && $5 + 0 == 0' "$csv" | wc -l)"
echo "slowhttptest: $closed of $conns slow connections closed by the server," \
    "$connected still open; service unavailable in $unavailable of its samples"
[ "$errors" -eq 0 ] || fail "$errors normal requests failed during the attack"
[ "$max" -le "$bound" ] || fail "a normal request took $max ms (bound $bound ms)"
[ "$closed" -ge $((conns * 9 / 10)) ] || fail "only $closed of $conns slow connections were closed"
[ "$unavailable" -eq 0 ] || fail "slowhttptest found the service unavailable"
# The server held them open for a while (it did not just refuse them) ...
held="$(awk -F, 'NR > 1 && $4 + 0 > m { m = $4 + 0 } END { print m + 0 }' "$csv")"
[ "$held" -ge $((conns / 3)) ] || fail "at most $held slow connections were open at once"
echo "at most $held slow connections were open at once"
# ... and, opened over ~2 s, each was cut 2 s after its first byte: all gone well before
# the attack's own end, however slowly their heads kept trickling in.
ended="$(grep -o 'Test ended on [0-9]*' "$T/slow.out" | grep -o '[0-9]*$' || echo "$secs")"
[ "$ended" -le 15 ] || fail "the slow connections lasted until second $ended"
echo "the last slow connection was closed by second $ended"
stop_httpd
echo "slowloris: all checks passed"
