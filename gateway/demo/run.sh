#!/usr/bin/env bash
# gateway/demo/run.sh [BUILDDIR] — the gateway demo that `make run` starts:
# three gateway-backend processes on 127.0.0.1:9001-9003 (b1, b2, b3), the
# gateway in front of them with gateway/demo/gateway.yaml (127.0.0.1:8080,
# the dashboard on 127.0.0.1:9090), the URLs, and a hint for traffic.
# Ctrl-C (or any exit, or the gateway ending) stops every process it
# started. BUILDDIR (default: build) holds gateway/gateway and
# gateway/gateway-backend.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
build="${1:-build}"
gateway="$build/gateway/gateway"
backend="$build/gateway/gateway-backend"
config="$here/gateway.yaml"
for f in "$gateway" "$backend"; do
    [ -x "$f" ] || { echo "demo: missing $f (run 'make build' first)" >&2; exit 1; }
done

logs="$(mktemp -d "${TMPDIR:-/tmp}/goc-demo.XXXXXX")"
pids=()
stopping=0
stop() {
    local p
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    pids=()
    rm -rf "$logs"
}
trap stop EXIT
# Ctrl-C: the children get the SIGINT too (same process group); TERM them
# anyway, for a SIGTERM sent to this script alone.
trap 'stopping=1; echo; echo "demo: stopping"; stop' INT TERM

# wait_line LOG PID PATTERN: wait (5 s at most) until LOG has a line with
# PATTERN; 1 if PID exited first or the time ran out.
wait_line() {
    local i
    for ((i = 0; i < 50; i++)); do
        grep -q "$3" "$1" 2>/dev/null && return 0
        kill -0 "$2" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

for i in 1 2 3; do
    addr="127.0.0.1:900$i"
    "$backend" -addr "$addr" -name "b$i" >"$logs/b$i.log" 2>&1 &
    pids+=("$!")
    if ! wait_line "$logs/b$i.log" $! "listening on"; then
        echo "demo: backend b$i did not start on $addr:" >&2
        sed 's/^/  /' "$logs/b$i.log" >&2
        exit 1
    fi
done
echo "demo: backends b1 b2 b3 on 127.0.0.1:9001-9003"

# The gateway's own lines go to the terminal as they come.
"$gateway" -config "$config" > >(tee "$logs/gateway.log") 2>&1 &
gw=$!
pids+=("$gw")
if ! wait_line "$logs/gateway.log" $gw "listening on"; then
    sleep 0.2 # its last lines through tee
    echo "demo: the gateway did not start (-config $config)" >&2
    exit 1
fi
cat <<EOM

  app        http://127.0.0.1:8080/
  cached     http://127.0.0.1:8080/cached/?max_age=30   (X-Backend-Count stays put on a hit)
  limited    http://127.0.0.1:8080/api/                 (50 requests/s per client, bursts of 100)
  dashboard  http://127.0.0.1:9090/
  metrics    http://127.0.0.1:9090/metrics

  traffic:   wrk -c 16 -d 60s http://127.0.0.1:8080/   (or: while :; do curl -s 127.0.0.1:8080/; done)
  a backend failing its health check: curl -X POST '127.0.0.1:9002/admin/health?ok=0'
  Ctrl-C stops the gateway and the backends.

EOM
status=0
wait $gw || status=$?
[ $stopping -eq 0 ] || exit 0
echo "demo: the gateway exited (status $status)" >&2
exit $status
