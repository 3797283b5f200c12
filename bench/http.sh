#!/usr/bin/env bash
# bench/http.sh <builddir> — the HTTP/1.1 plaintext benchmark: goc's httpd
# beside Go's net/http (bench/go/http) and nginx, on three workloads, with
# the server's CPU time per request as the figure that counts.
#
# <builddir> holds examples/httpd and the Go twin go/http (bench/run.sh
# builds both; run.sh calls this script). For each workload, each server is
# started afresh (the servers take turns, BENCH_HTTP_REPS times; the tables
# show the median of each figure), pinned to one CPU (taskset; GOC_MAXPROCS=1, GOMAXPROCS=1,
# one nginx worker), and wrk -t1 runs pinned to another against
# 127.0.0.1/plaintext, after a short warm-up. Measured:
#   CPU/request  (utime + stime of the server's processes, from
#                /proc/PID/stat, over the measured run) / responses
#   requests/s   wrk's rate; p99 its 99th percentile latency
#   RSS          the server's peak resident set (VmHWM, summed over its
#                processes: nginx's master and worker)
# Workloads (all with BENCH_HTTP_CONNS connections):
#   keepalive    one request at a time per connection, kept alive
#   close        Connection: close, a new connection for every request
#   pipeline     BENCH_HTTP_DEPTH requests per write (bench/pipeline.lua)
#
# Environment:
#   BENCH_HTTP_SECONDS=5     length of each measured run
#   BENCH_HTTP_REPS          runs of each server on each workload (default:
#                            BENCH_REPS, else 3)
#   BENCH_HTTP_WARMUP=1      seconds of warm-up before it (0: none)
#   BENCH_HTTP_CONNS=64      connections
#   BENCH_HTTP_DEPTH=16      pipelined requests per write
#   BENCH_HTTP_WORKLOADS="keepalive close pipeline"
#   BENCH_HTTP_SERVERS="goc go nginx"
#   BENCH_HTTP_MD=FILE       also write the tables as Markdown to FILE
#                            (default <builddir>/bench-http.md)
#
# Logs of every server and wrk run are kept in <builddir>/bench-logs/http/.
# A server that does not start or answer, or a wrk run that fails, is a
# FAIL row; the script then exits 1 after the remaining runs.
set -euo pipefail
export LC_ALL=C

die() {
    echo "bench/http.sh: $*" >&2
    exit 1
}

[ $# -eq 1 ] || { echo "usage: bench/http.sh <builddir>" >&2; exit 2; }
[ -d "$1" ] || die "no build directory '$1'"
build="$(cd "$1" && pwd)"
src="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
secs="${BENCH_HTTP_SECONDS:-5}"
warmup="${BENCH_HTTP_WARMUP:-1}"
conns="${BENCH_HTTP_CONNS:-64}"
depth="${BENCH_HTTP_DEPTH:-16}"
reps="${BENCH_HTTP_REPS:-${BENCH_REPS:-3}}"
read -r -a workloads <<<"${BENCH_HTTP_WORKLOADS:-keepalive close pipeline}"
read -r -a servers <<<"${BENCH_HTTP_SERVERS:-goc go nginx}"
md="${BENCH_HTTP_MD:-$build/bench-http.md}"
for v in secs conns depth reps; do
    [[ "${!v}" =~ ^[1-9][0-9]*$ ]] || die "BENCH_HTTP_${v^^} must be a positive integer"
done
[[ "$warmup" =~ ^[0-9]+$ ]] || die "BENCH_HTTP_WARMUP must be a whole number of seconds"

command -v wrk >/dev/null || die "wrk not found (apt-get install wrk)"
command -v taskset >/dev/null || die "taskset not found (util-linux)"
for s in "${servers[@]}"; do
    case $s in
    goc) [ -x "$build/examples/httpd" ] || die "missing $build/examples/httpd" ;;
    go) [ -x "$build/go/http" ] || die "missing $build/go/http (bench/run.sh builds it)" ;;
    nginx) command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] ||
        die "nginx not found (apt-get install nginx-light)" ;;
    *) die "BENCH_HTTP_SERVERS: unknown server '$s' (goc go nginx)" ;;
    esac
done
nginx_bin="$(command -v nginx || echo /usr/sbin/nginx)"

# The server gets CPU 0 and wrk CPU 1 (of those this process may use); on
# one CPU both share it, and the numbers say less.
read -r -a cpus <<<"$(taskset -c -p $$ | sed 's/.*: //' | tr ',' '\n' |
    awk -F- '{ if (NF == 2) for (i = $1; i <= $2; i++) printf "%d ", i; else printf "%d ", $1 }')"
server_cpu="${cpus[0]}"
client_cpu="${cpus[1]:-${cpus[0]}}"
[ ${#cpus[@]} -ge 2 ] || echo "bench/http.sh: one CPU only: server and wrk share it" >&2

logs="$build/bench-logs/http"
rm -rf "$logs"
mkdir -p "$logs"
tmp="$(mktemp -d)"
srv_pid=""
cleanup() {
    [ -z "$srv_pid" ] || kill -KILL "$srv_pid" 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
tck="$(getconf CLK_TCK)"

# ---- the servers ---------------------------------------------------------------

# free_port: a TCP port on 127.0.0.1 that nothing listens on now (for
# nginx, which cannot pick its own and say which), outside the ephemeral
# range: after the Connection: close workload, thousands of wrk's own
# sockets (TIME_WAIT) hold ports inside it, and nginx's bind() fails there.
free_port() {
    local lo hi p
    read -r lo hi </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || { lo=32768 hi=60999; }
    for _ in $(seq 1 50); do
        if [ "$lo" -gt 11000 ]; then
            p=$((10000 + RANDOM % (lo - 10000)))
        else
            p=$((hi + 1 + RANDOM % (65535 - hi)))
        fi
        (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
    done
    die "no free port found"
}

# nginx_conf PORT DIR: the configuration nginx runs with: one worker, no
# access log, /plaintext answered from the configuration itself.
nginx_conf() {
    cat <<EOF
worker_processes 1;
daemon off;
pid $2/nginx.pid;
error_log $2/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 100000000;
    keepalive_timeout 120s;
    client_body_temp_path $2/body;
    proxy_temp_path $2/proxy;
    fastcgi_temp_path $2/fastcgi;
    server {
        listen 127.0.0.1:$1 backlog=4096;
        location = /plaintext {
            default_type text/plain;
            return 200 "Hello, World!";
        }
    }
}
EOF
}

# start_server IMPL LOG: start IMPL on the server CPU; sets srv_pid and
# srv_url. 1 if it did not come up within 10 s. nginx gets three tries, a
# port each: another program may take the port we found free.
start_server() {
    local try
    for try in 1 2 3; do
        start_once "$@" && return 0
        [ "$1" = nginx ] || return 1
        stop_server
    done
    return 1
}

start_once() {
    local impl=$1 log=$2 port
    srv_url=""
    case $impl in
    goc)
        GOC_MAXPROCS=1 taskset -c "$server_cpu" "$build/examples/httpd" -addr 127.0.0.1:0 \
            >"$log" 2>&1 &
        ;;
    go)
        GOMAXPROCS=1 taskset -c "$server_cpu" "$build/go/http" -addr 127.0.0.1:0 >"$log" 2>&1 &
        ;;
    nginx)
        port="$(free_port)"
        rm -rf "$tmp/nginx" && mkdir -p "$tmp/nginx"
        nginx_conf "$port" "$tmp/nginx" >"$tmp/nginx/nginx.conf"
        taskset -c "$server_cpu" "$nginx_bin" -e "$tmp/nginx/error.log" -p "$tmp/nginx" \
            -c "$tmp/nginx/nginx.conf" >"$log" 2>&1 &
        srv_url="http://127.0.0.1:$port"
        ;;
    esac
    srv_pid=$!
    local i
    for ((i = 0; i < 100; i++)); do
        kill -0 "$srv_pid" 2>/dev/null || return 1
        [ -n "$srv_url" ] ||
            srv_url="$(grep -o -m 1 'listening on http://[^ ]*' "$log" 2>/dev/null |
                sed 's/listening on //' || true)"
        if [ -n "$srv_url" ] && answers "$srv_url"; then
            return 0
        fi
        sleep 0.1
    done
    return 1
}

# answers URL: true if GET URL/plaintext comes back 200 with Hello, World!.
answers() {
    local hp="${1#http://}" reply
    # Braces: a bare "exec ... 2>/dev/null" would silence the script's stderr for good.
    { exec 3<>"/dev/tcp/${hp%:*}/${hp##*:}"; } 2>/dev/null || return 1
    printf 'GET /plaintext HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n' "$hp" >&3
    reply="$(timeout 2 cat <&3 || true)"
    exec 3<&-
    [[ "$reply" == "HTTP/1.1 200"* ]] && [[ "$reply" == *"Hello, World!" ]]
}

stop_server() {
    [ -n "$srv_pid" ] || return 0
    kill -TERM "$srv_pid" 2>/dev/null || true
    local i
    for ((i = 0; i < 50; i++)); do
        kill -0 "$srv_pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$srv_pid" 2>/dev/null || true
    wait "$srv_pid" 2>/dev/null || true
    srv_pid=""
}

# procs PID: PID and its children (nginx's worker).
procs() {
    echo "$1"
    cat /proc/"$1"/task/*/children 2>/dev/null | tr ' ' '\n' | grep . || true
}

# cpu_ticks PID: utime + stime of PID and its children, in clock ticks
# (fields 14 and 15 of /proc/PID/stat, counted after the command name,
# which may hold spaces).
cpu_ticks() {
    local p total=0 rest
    for p in $(procs "$1"); do
        rest="$(cat /proc/"$p"/stat 2>/dev/null)" || continue
        rest="${rest##*) }"
        total=$((total + $(awk '{ print $12 + $13 }' <<<"$rest")))
    done
    echo "$total"
}

# hwm_kib PID: peak RSS (VmHWM) of PID and its children, in KiB.
hwm_kib() {
    local p total=0 v
    for p in $(procs "$1"); do
        v="$(awk '/^VmHWM:/ { print $2 }' /proc/"$p"/status 2>/dev/null || true)"
        total=$((total + ${v:-0}))
    done
    echo "$total"
}

# ---- one measured run ------------------------------------------------------------

# to_us "1.23ms": wrk's latency in microseconds.
to_us() {
    awk -v v="$1" 'BEGIN { n = v + 0; u = v; sub(/^[0-9.]+/, "", u);
        m = (u == "us") ? 1 : (u == "ms") ? 1e3 : (u == "s") ? 1e6 : (u == "m") ? 6e7 : -1;
        if (m < 0) print "?"; else printf "%.1f", n * m }'
}

# wrk_args WORKLOAD: wrk's flags for it (without the URL and duration).
wrk_args() {
    local a=(-t1 -c"$conns" --latency)
    case $1 in
    keepalive) ;;
    close) a+=(-H 'Connection: close') ;;
    pipeline) a+=(-s "$src/pipeline.lua") ;;
    *) die "BENCH_HTTP_WORKLOADS: unknown workload '$1' (keepalive close pipeline)" ;;
    esac
    printf '%s\n' "${a[@]}"
}

declare -A vals=() # [workload,impl,field] -> "V V ...", one per rep; field: rps cpu p99 rss
declare -A res=()  # the same fields, their medians; and why (a failure)
status=0

# median "V V ...": the median of the numbers given.
median() {
    tr -s ' ' '\n' <<<"$1" | grep . | sort -g | awk '{ v[NR] = $1 }
        END { if (NR % 2) print v[(NR + 1) / 2];
              else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# measure WORKLOAD IMPL REP: start IMPL, warm it up, run wrk, append to vals[].
measure() {
    local wl=$1 impl=$2 log="$logs/$1.$2.$3.server.log" out="$logs/$1.$2.$3.wrk.txt"
    local -a args
    mapfile -t args < <(wrk_args "$wl")
    if ! start_server "$impl" "$log"; then
        res[$wl,$impl,why]="did not start or answer (see $log)"
        stop_server
        return 1
    fi
    export PIPELINE_DEPTH="$depth"
    if [ "$warmup" -gt 0 ]; then
        taskset -c "$client_cpu" wrk "${args[@]}" -d"${warmup}s" "$srv_url/plaintext" \
            >"$logs/$wl.$impl.$3.warmup.txt" 2>&1 || true
    fi
    local t0 t1 rc=0
    t0="$(cpu_ticks "$srv_pid")"
    taskset -c "$client_cpu" wrk "${args[@]}" -d"${secs}s" "$srv_url/plaintext" >"$out" 2>&1 ||
        rc=$?
    t1="$(cpu_ticks "$srv_pid")"
    vals[$wl,$impl,rss]+="$(hwm_kib "$srv_pid") "
    stop_server
    record "$wl" "$impl" "$out" "$rc" $((t1 - t0))
}

# record WORKLOAD IMPL WRK_OUTPUT WRK_STATUS CPU_TICKS: parse wrk's report.
record() {
    local wl=$1 impl=$2 out=$3 rc=$4 ticks=$5 n rps p99 bad
    n="$(awk '/ requests in / { print $1 }' "$out")"
    rps="$(awk '/^Requests\/sec:/ { print $2 }' "$out")"
    p99="$(awk '$1 == "99%" { print $2 }' "$out")"
    bad="$(awk '/Non-2xx or 3xx responses:/ { print $NF }' "$out")"
    if [ "$rc" -ne 0 ] || [ -z "$n" ] || [ "$n" -eq 0 ] || [ -z "$rps" ]; then
        res[$wl,$impl,why]="wrk failed (status $rc; see $out)"
        return 1
    fi
    [ -z "$bad" ] || res[$wl,$impl,why]="$bad responses were not 2xx (see $out)"
    last_cpu="$(awk -v t="$ticks" -v hz="$tck" -v n="$n" \
        'BEGIN { printf "%.2f", t * 1e6 / hz / n }')"
    last_rps="$rps"
    vals[$wl,$impl,rps]+="$rps "
    vals[$wl,$impl,p99]+="$(to_us "$p99") "
    vals[$wl,$impl,cpu]+="$last_cpu "
    [ -z "$bad" ]
}

# ---- the tables ------------------------------------------------------------------

declare -A title=([keepalive]="keep-alive" [close]="Connection: close (a connection per request)"
    [pipeline]="pipelined, $depth requests per write")
declare -A name=([goc]="goc httpd" [go]="Go net/http" [nginx]="nginx")

# ratio WORKLOAD A B: A's CPU per request over B's ("-" if either is missing).
ratio() {
    local a="${res[$1,$2,cpu]:-}" b="${res[$1,$3,cpu]:-}"
    if [ -z "$a" ] || [ -z "$b" ]; then echo "-"; else
        awk -v a="$a" -v b="$b" 'BEGIN { if (b == 0) print "-"; else printf "%.2fx", a / b }'
    fi
}

# human_us V: a latency in microseconds for a reader; wrk prints a 0 p99
# when its histogram overflows (seen with deep pipelines): "n/a".
human_us() {
    awk -v v="$1" 'BEGIN { if (v == "?" || v + 0 == 0) print "n/a";
        else if (v >= 1000) printf "%.2f ms", v / 1000; else printf "%.0f us", v }'
}

# rows WORKLOAD: tab-separated cells, one server a line.
rows() {
    local impl
    for impl in "${servers[@]}"; do
        if [ -n "${res[$1,$impl,cpu]:-}" ]; then
            printf '%s\t%s us\t%s\t%s\t%s MiB\t%s\n' "${name[$impl]}" "${res[$1,$impl,cpu]}" \
                "$(awk -v v="${res[$1,$impl,rps]}" 'BEGIN { printf "%.0f", v }')" \
                "$(human_us "${res[$1,$impl,p99]}")" \
                "$(awk -v v="${res[$1,$impl,rss]}" 'BEGIN { printf "%.1f", v / 1024 }')" \
                "${res[$1,$impl,why]:-ok}"
        else
            printf '%s\tFAIL\t-\t-\t-\t%s\n' "${name[$impl]}" "${res[$1,$impl,why]:-not run}"
        fi
    done
}

# ratios WORKLOAD: the line under a table.
ratios() {
    local s="CPU/request goc/Go $(ratio "$1" goc go), goc/nginx $(ratio "$1" goc nginx)"
    echo "$s (below 1: goc spends less CPU per request)"
}

print_tables() {
    local wl
    for wl in "${workloads[@]}"; do
        echo
        echo "HTTP /plaintext, ${title[$wl]}: $conns connections, ${secs} s, median of $reps;" \
            "server on CPU $server_cpu, wrk -t1 on CPU $client_cpu"
        {
            printf 'server\tCPU/request\trequests/s\tp99\tpeak RSS\tstatus\n'
            rows "$wl"
        } | awk -F'\t' '
            { for (i = 1; i <= NF; i++) { c[NR, i] = $i; if (length($i) > w[i]) w[i] = length($i) }
              n = NF }
            END { for (r = 1; r <= NR; r++) {
                    l = "";
                    for (i = 1; i <= n; i++)
                        l = l sprintf(i == 1 || i == n ? "%-*s" : "  %*s", w[i], c[r, i]) \
                            (i == 1 || i == n - 1 ? "  " : "");
                    print l } }'
        ratios "$wl"
    done
}

print_markdown() {
    local wl
    echo "HTTP/1.1 \`/plaintext\`: $conns connections, ${secs} s per run, median of $reps;"
    echo "the server pinned to one CPU (GOC_MAXPROCS=1, GOMAXPROCS=1, one nginx worker),"
    echo "wrk -t1 on another."
    for wl in "${workloads[@]}"; do
        echo
        echo "**${title[$wl]}** — $(ratios "$wl")"
        echo
        echo "| server | CPU/request | requests/s | p99 | peak RSS | status |"
        echo "|---|--:|--:|--:|--:|---|"
        rows "$wl" | sed 's/ us\t/ µs\t/g; s/\t/ | /g; s/^/| /; s/$/ |/'
    done
}

# ---- main ------------------------------------------------------------------------

echo "HTTP benchmark: ${workloads[*]} x ${servers[*]}, ${secs} s each (+${warmup} s warm-up)," \
    "$reps time(s)" >&2
for wl in "${workloads[@]}"; do
    wrk_args "$wl" >/dev/null # an unknown workload stops here, before any run
done
for wl in "${workloads[@]}"; do
    for ((rep = 1; rep <= reps; rep++)); do
        for impl in "${servers[@]}"; do
            [ -z "${res[$wl,$impl,why]:-}" ] || continue # one failure is enough
            printf 'http %-9s rep %d/%d %-5s ...' "$wl" "$rep" "$reps" "$impl" >&2
            if measure "$wl" "$impl" "$rep"; then
                echo " $last_cpu us/req, $last_rps req/s" >&2
            else
                echo " FAIL: ${res[$wl,$impl,why]}" >&2
                status=1
            fi
        done
    done
    for impl in "${servers[@]}"; do
        [ -z "${res[$wl,$impl,why]:-}" ] || continue
        for f in rps cpu p99 rss; do
            res[$wl,$impl,$f]="$(median "${vals[$wl,$impl,$f]}")"
        done
    done
done
print_tables
print_markdown >"$md"
echo
echo "Markdown: $md; logs: $logs/"
exit $status
