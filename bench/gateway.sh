#!/usr/bin/env bash
# bench/gateway.sh <builddir> — the gateway benchmarks: goc's gateway
# (gateway/) as a reverse proxy beside nginx and Go's
# httputil.ReverseProxy (bench/go/revproxy), in front of the same three
# backends, with the proxy's CPU time per request as the figure that
# counts; and the gateway's cache beside goc's plain server.
#
# <builddir> holds gateway/gateway, gateway/gateway-backend and the Go
# twin go/revproxy (bench/run.sh builds all of them and calls this
# script). Three gateway-backend processes (GOC_MAXPROCS=1 each) listen on
# 127.0.0.1 for the whole run, pinned with wrk to the second CPU; each
# proxy is started afresh for each run, pinned to the first CPU
# (GOC_MAXPROCS=1, GOMAXPROCS=1, one nginx worker); the proxies take turns,
# BENCH_GATEWAY_REPS times, and the tables show the median of each figure.
#
# Rows:
#   gateway         GET /plaintext through each proxy, round robin over the
#                   three backends over kept-alive upstream connections:
#                   goc's gateway (a configuration written here: no health
#                   checks, retries 0, no access log), nginx (upstream
#                   keepalive 64, HTTP/1.1 to the backends) and Go's
#                   ReverseProxy (MaxIdleConnsPerHost 256). A fourth line
#                   is wrk against one backend directly: the latency the
#                   proxies add is their p99 minus its p99.
#   gateway-cached  GET /cache?max_age=60 through the gateway with the
#                   route's cache on (every request after the first is a
#                   hit), beside a gateway-backend answering /plaintext
#                   itself, both pinned to the first CPU: what a cached
#                   answer costs against the cheapest answer goc's server
#                   gives.
# Measured, as bench/http.sh does: CPU/request (utime + stime of the proxy
# process, nginx's worker included, from /proc/PID/stat over the measured
# run, over wrk's count of responses), wrk's requests/s and p99, and the
# proxy's peak RSS (VmHWM).
#
# Environment:
#   BENCH_GATEWAY_SECONDS   length of each measured run (default:
#                           BENCH_HTTP_SECONDS, else 5)
#   BENCH_GATEWAY_REPS      runs of each (default: BENCH_REPS, else 3)
#   BENCH_GATEWAY_WARMUP=1  seconds of warm-up before each run (0: none)
#   BENCH_GATEWAY_CONNS=64  wrk's connections (kept alive)
#   BENCH_GATEWAY_ROWS="gateway gateway-cached"
#   BENCH_GATEWAY_PROXIES="goc nginx go"   the proxies of the gateway row
#   BENCH_GATEWAY_MD=FILE   also write the tables as Markdown to FILE
#                           (default <builddir>/bench-gateway.md)
#
# Logs of every proxy, backend and wrk run are kept in
# <builddir>/bench-logs/gateway/. A proxy that does not start or answer
# ("gateway not runnable" for goc's) or a wrk run that fails is a FAIL
# line; the other lines are still measured and printed, and the script
# exits 1.
set -euo pipefail
export LC_ALL=C

die() {
    echo "bench/gateway.sh: $*" >&2
    exit 1
}

[ $# -eq 1 ] || { echo "usage: bench/gateway.sh <builddir>" >&2; exit 2; }
[ -d "$1" ] || die "no build directory '$1'"
build="$(cd "$1" && pwd)"
secs="${BENCH_GATEWAY_SECONDS:-${BENCH_HTTP_SECONDS:-5}}"
reps="${BENCH_GATEWAY_REPS:-${BENCH_REPS:-3}}"
warmup="${BENCH_GATEWAY_WARMUP:-1}"
conns="${BENCH_GATEWAY_CONNS:-64}"
read -r -a rows_run <<<"${BENCH_GATEWAY_ROWS:-gateway gateway-cached}"
read -r -a proxies <<<"${BENCH_GATEWAY_PROXIES:-goc nginx go}"
md="${BENCH_GATEWAY_MD:-$build/bench-gateway.md}"
for v in secs reps conns; do
    [[ "${!v}" =~ ^[1-9][0-9]*$ ]] || die "the BENCH_GATEWAY_ variable of $v must be a positive integer"
done
[[ "$warmup" =~ ^[0-9]+$ ]] || die "BENCH_GATEWAY_WARMUP must be a whole number of seconds"
for r in "${rows_run[@]}"; do
    [[ "$r" == gateway || "$r" == gateway-cached ]] ||
        die "BENCH_GATEWAY_ROWS: unknown row '$r' (gateway gateway-cached)"
done
for p in "${proxies[@]}"; do
    [[ "$p" == goc || "$p" == nginx || "$p" == go ]] ||
        die "BENCH_GATEWAY_PROXIES: unknown proxy '$p' (goc nginx go)"
done

gw_bin="$build/gateway/gateway"
be_bin="$build/gateway/gateway-backend"
go_bin="$build/go/revproxy"
command -v wrk >/dev/null || die "wrk not found (apt-get install wrk)"
command -v taskset >/dev/null || die "taskset not found (util-linux)"
command -v curl >/dev/null || die "curl not found (apt-get install curl)"
[ -x "$be_bin" ] || die "missing $be_bin (gateway/backend.c)"
nginx_bin="$(command -v nginx || echo /usr/sbin/nginx)"
[[ " ${proxies[*]} " != *" nginx "* ]] || [ -x "$nginx_bin" ] ||
    die "nginx not found (apt-get install nginx-light)"
[[ " ${proxies[*]} " != *" go "* ]] || [ -x "$go_bin" ] ||
    die "missing $go_bin (bench/run.sh builds it)"

# The proxy gets CPU 0 and everything else (wrk, the backends) CPU 1, of
# those this process may use; on one CPU all share it, and the numbers say
# less.
read -r -a cpus <<<"$(taskset -c -p $$ | sed 's/.*: //' | tr ',' '\n' |
    awk -F- '{ if (NF == 2) for (i = $1; i <= $2; i++) printf "%d ", i; else printf "%d ", $1 }')"
mcpu="${cpus[0]}"
ocpu="${cpus[1]:-${cpus[0]}}"
[ ${#cpus[@]} -ge 2 ] || echo "bench/gateway.sh: one CPU only: all share it" >&2

logs="$build/bench-logs/gateway"
rm -rf "$logs"
mkdir -p "$logs"
tmp="$(mktemp -d)"
chmod 755 "$tmp" # nginx's worker may run as another user (nobody, as root)
srv_pid=""
be_pids=()
cleanup() {
    local p
    [ -z "$srv_pid" ] || kill -KILL "$srv_pid" 2>/dev/null || true
    for p in "${be_pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT
tck="$(getconf CLK_TCK)"
load="$(cut -d' ' -f1-3 /proc/loadavg)" # other work on the CPUs inflates CPU/request

# ---- processes and /proc -----------------------------------------------------------

# free_port: a TCP port on 127.0.0.1 that nothing listens on now, below the
# ephemeral range (wrk's and the proxies' own sockets live there).
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

# procs PID: PID and its children (nginx's worker).
procs() {
    echo "$1"
    cat /proc/"$1"/task/*/children 2>/dev/null | tr ' ' '\n' | grep . || true
}

# cpu_ticks PID: utime + stime of PID and its children, in clock ticks.
cpu_ticks() {
    local p total=0 rest
    for p in $(procs "$1"); do
        rest="$(cat /proc/"$p"/stat 2>/dev/null)" || continue
        rest="${rest##*) }" # after the command name, which may hold spaces
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

# listen_url LOG: the first "listening on http://HOST:PORT" of LOG, or "".
listen_url() {
    grep -o -m 1 'listening on http://[^ ]*' "$1" 2>/dev/null | sed 's/listening on //' || true
}

# ---- the backends ------------------------------------------------------------------

# start_backend NAME CPU LOG: a gateway-backend on a free port of
# 127.0.0.1, pinned to CPU; its pid in be_pid, its host:port in be_addr.
start_backend() {
    local i
    be_addr=""
    GOC_MAXPROCS=1 taskset -c "$2" "$be_bin" -addr 127.0.0.1:0 -name "$1" >"$3" 2>&1 &
    be_pid=$!
    for ((i = 0; i < 100; i++)); do
        be_addr="$(listen_url "$3")"
        be_addr="${be_addr#http://}"
        [ -z "$be_addr" ] || return 0
        kill -0 "$be_pid" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}

backends=()
for i in 1 2 3; do
    start_backend "b$i" "$ocpu" "$logs/backend-b$i.log" ||
        die "gateway-backend b$i did not start (see $logs/backend-b$i.log)"
    be_pids+=("$be_pid")
    backends+=("$be_addr")
done

# ---- the proxies -------------------------------------------------------------------

# gateway_conf PORT ROW: goc's gateway configuration: the three backends
# round robin, no health checks, no retries, no access log; for
# gateway-cached, the route goes through the cache.
gateway_conf() {
    local cache=""
    [ "$2" != gateway-cached ] || cache="
    cache: true"
    cat <<EOF
listen: "127.0.0.1:$1"
access_log: "off"
upstreams:
  - name: app
    balance: round_robin
    targets: ["${backends[0]}", "${backends[1]}", "${backends[2]}"]
routes:
  - match: "/"
    upstream: app
    retries: 0$cache
EOF
}

# nginx_conf PORT DIR: nginx as the reverse proxy: one worker, no access
# log, HTTP/1.1 with kept-alive connections to the backends (never closed
# for a count of requests: as the gateway and Go keep theirs), and the
# forwarding fields a gateway adds.
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
    upstream app {
        server ${backends[0]};
        server ${backends[1]};
        server ${backends[2]};
        keepalive 64;
        keepalive_requests 100000000;
    }
    server {
        listen 127.0.0.1:$1 backlog=4096;
        location / {
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto \$scheme;
            proxy_set_header X-Forwarded-Host \$host;
        }
    }
}
EOF
}

# start_proxy IMPL ROW LOG: start IMPL on CPU mcpu; sets srv_pid and
# srv_url. 1 if it did not come up and answer within 10 s (three tries,
# a port each, for those that need a port chosen here).
start_proxy() {
    local _
    for _ in 1 2 3; do
        start_once "$@" && return 0
        stop_proxy
        [ "$1" != go ] && [ "$1" != plain ] || return 1 # they pick their own port
    done
    return 1
}

start_once() {
    local impl=$1 row=$2 log=$3 port
    srv_url=""
    case $impl in
    goc)
        port="$(free_port)"
        gateway_conf "$port" "$row" >"$tmp/gateway.yaml"
        cp "$tmp/gateway.yaml" "$logs/gateway.$row.yaml"
        [ -x "$gw_bin" ] || { echo "missing $gw_bin" >"$log"; return 1; }
        GOC_MAXPROCS=1 taskset -c "$mcpu" "$gw_bin" -config "$tmp/gateway.yaml" >"$log" 2>&1 &
        srv_url="http://127.0.0.1:$port"
        ;;
    nginx)
        port="$(free_port)"
        rm -rf "$tmp/nginx" && mkdir -p "$tmp/nginx"
        nginx_conf "$port" "$tmp/nginx" >"$tmp/nginx/nginx.conf"
        taskset -c "$mcpu" "$nginx_bin" -e "$tmp/nginx/error.log" -p "$tmp/nginx" \
            -c "$tmp/nginx/nginx.conf" >"$log" 2>&1 &
        srv_url="http://127.0.0.1:$port"
        ;;
    go)
        GOMAXPROCS=1 taskset -c "$mcpu" "$go_bin" -addr 127.0.0.1:0 \
            -targets "$(IFS=,; echo "${backends[*]}")" >"$log" 2>&1 &
        ;;
    plain) # goc's server itself: a backend on the proxy's CPU
        GOC_MAXPROCS=1 taskset -c "$mcpu" "$be_bin" -addr 127.0.0.1:0 -name plain >"$log" 2>&1 &
        ;;
    esac
    srv_pid=$!
    local i
    for ((i = 0; i < 100; i++)); do
        kill -0 "$srv_pid" 2>/dev/null || return 1
        [ -n "$srv_url" ] || srv_url="$(listen_url "$log")"
        if [ -n "$srv_url" ] && answers "$srv_url" "$row"; then
            return 0
        fi
        sleep 0.1
    done
    return 1
}

# answers URL ROW: true if the row's request through URL comes back 200
# with what the backends answer.
answers() {
    local reply
    reply="$(curl -s --noproxy "*" --max-time 2 "$1$(path_of "$2")" || true)"
    case $2 in
    gateway) [ "$reply" = "Hello, World!" ] ;;
    *) [[ "$reply" == "cacheable response "* || "$reply" == "Hello, World!" ]] ;;
    esac
}

stop_proxy() {
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

# ---- one measured run --------------------------------------------------------------

# impls ROW: what is measured on it (direct: wrk against one backend).
impls() {
    case $1 in
    gateway) echo "direct ${proxies[*]}" ;;
    gateway-cached) echo "goc plain" ;;
    esac
}

# path_of ROW [IMPL]: the request of the row (plain: /plaintext).
path_of() {
    if [ "$1" = gateway-cached ] && [ "${2:-}" != plain ]; then
        echo "/cache?max_age=60"
    else
        echo "/plaintext"
    fi
}

# to_us "1.23ms": wrk's latency in microseconds.
to_us() {
    awk -v v="$1" 'BEGIN { n = v + 0; u = v; sub(/^[0-9.]+/, "", u);
        m = (u == "us") ? 1 : (u == "ms") ? 1e3 : (u == "s") ? 1e6 : (u == "m") ? 6e7 : -1;
        if (m < 0) print "?"; else printf "%.1f", n * m }'
}

declare -A vals=() # [row,impl,field] -> "V V ...", one per rep; field: rate cpu p99 rss
declare -A res=()  # the same fields, their medians; why (a failure), note
status=0

# median "V V ...": the median of the numbers given.
median() {
    tr -s ' ' '\n' <<<"$1" | grep . | sort -g | awk '{ v[NR] = $1 }
        END { if (NR % 2) print v[(NR + 1) / 2];
              else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# cache_hits URL: "yes" if two requests of /cache through URL reached the
# backends once (X-Backend-Count did not move), else "no".
cache_hits() {
    local a b
    a="$(curl -s -D - -o /dev/null --max-time 2 "$1/cache?max_age=60" | tr -d '\r' |
        awk -F': ' 'tolower($1) == "x-backend-count" { print $2 }')"
    b="$(curl -s -D - -o /dev/null --max-time 2 "$1/cache?max_age=60" | tr -d '\r' |
        awk -F': ' 'tolower($1) == "x-backend-count" { print $2 }')"
    if [ -n "$a" ] && [ "$a" = "$b" ]; then echo yes; else echo no; fi
}

# measure ROW IMPL REP: start IMPL (direct: none, wrk goes to the first
# backend), warm up, run wrk, stop it; appends to vals[], says what it saw
# in last_cpu and last_rate; 1 on a failure (res[...,why] says why).
measure() {
    local row=$1 impl=$2 rep=$3 log="$logs/$1.$2.$3.proxy.log"
    local url pid
    if [ "$impl" = direct ]; then
        url="http://${backends[0]}" pid="${be_pids[0]}"
    else
        if ! start_proxy "$impl" "$row" "$log"; then
            if [ "$impl" = goc ]; then
                res[$row,$impl,why]="gateway not runnable: $(grep -m 1 . "$log" || echo "no output") (see $log)"
            else
                res[$row,$impl,why]="$impl did not start or answer (see $log)"
            fi
            stop_proxy
            return 1
        fi
        url="$srv_url" pid="$srv_pid"
    fi
    if [ "$row" = gateway-cached ] && [ "$impl" = goc ] && [ "$(cache_hits "$url")" = no ]; then
        res[$row,$impl,note]="the cache did not answer a repeated request"
    fi
    local rc=0
    measure_wrk "$row" "$impl" "$rep" "$url$(path_of "$row" "$impl")" "$pid" || rc=$?
    [ "$impl" = direct ] || stop_proxy
    return $rc
}

# measure_wrk ROW IMPL REP URL PID: warm up, run wrk, record its report
# and PID's CPU time over it.
measure_wrk() {
    local row=$1 impl=$2 url=$4 pid=$5 out="$logs/$1.$2.$3.wrk.txt"
    local -a args=(-t1 -c"$conns" --latency)
    if [ "$warmup" -gt 0 ]; then
        taskset -c "$ocpu" wrk "${args[@]}" -d"${warmup}s" "$url" \
            >"$logs/$row.$impl.$3.warmup.txt" 2>&1 || true
    fi
    local t0 t1 rc=0 n rps p99 bad
    t0="$(cpu_ticks "$pid")"
    taskset -c "$ocpu" wrk "${args[@]}" -d"${secs}s" "$url" >"$out" 2>&1 || rc=$?
    t1="$(cpu_ticks "$pid")"
    vals[$row,$impl,rss]+="$(hwm_kib "$pid") "
    n="$(awk '/ requests in / { print $1 }' "$out")"
    rps="$(awk '/^Requests\/sec:/ { print $2 }' "$out")"
    p99="$(awk '$1 == "99%" { print $2 }' "$out")"
    bad="$(awk '/Non-2xx or 3xx responses:/ { print $NF }' "$out")"
    if [ "$rc" -ne 0 ] || [ -z "$n" ] || [ "$n" -eq 0 ] || [ -z "$rps" ]; then
        res[$row,$impl,why]="wrk failed (status $rc; see $out)"
        return 1
    fi
    [ -z "$bad" ] || res[$row,$impl,why]="$bad responses were not 2xx (see $out)"
    last_cpu="$(awk -v t=$((t1 - t0)) -v hz="$tck" -v n="$n" \
        'BEGIN { printf "%.2f", t * 1e6 / hz / n }')"
    last_rate="$rps"
    vals[$row,$impl,rate]+="$rps "
    vals[$row,$impl,p99]+="$(to_us "$p99") "
    vals[$row,$impl,cpu]+="$last_cpu "
    [ -z "$bad" ]
}

# ---- the tables --------------------------------------------------------------------

declare -A name=([direct]="one backend, direct" [goc]="goc gateway" [nginx]="nginx"
    [go]="Go httputil.ReverseProxy" [plain]="goc server, /plaintext")
declare -A cname=([goc]="goc gateway, cached /cache" [plain]="goc server, /plaintext")

# ratio ROW FIELD A B: A's FIELD over B's ("-" if either is missing).
ratio() {
    local a="${res[$1,$3,$2]:-}" b="${res[$1,$4,$2]:-}"
    if [ -z "$a" ] || [ -z "$b" ]; then echo "-"; else
        awk -v a="$a" -v b="$b" 'BEGIN { if (b == 0) print "-"; else printf "%.2fx", a / b }'
    fi
}

# added ROW IMPL: IMPL's p99 minus the direct one's, in microseconds.
added() {
    local a="${res[$1,$2,p99]:-}" d="${res[$1,direct,p99]:-}"
    if [ -z "$a" ] || [ -z "$d" ]; then echo "-"; else
        awk -v a="$a" -v d="$d" 'BEGIN { printf "%.1f", a - d }'
    fi
}

# goal_met VALUE OP LIMIT: "met" or "MISSED" ("-" without a value).
goal_met() {
    [ "$1" != "-" ] || { echo "-"; return; }
    awk -v r="${1%x}" -v op="$2" -v l="$3" \
        'BEGIN { ok = (op == ">=") ? r >= l : r <= l; print ok ? "met" : "MISSED" }'
}

human_us() {
    awk -v v="$1" 'BEGIN { if (v == "-" || v == "?") print "-"; else if (v + 0 == 0) print "n/a";
        else if (v >= 1000 || v <= -1000) printf "%.2f ms", v / 1000; else printf "%.0f us", v }'
}

header() {
    if [ "$1" = gateway ]; then
        printf 'proxy\tCPU/request\trequests/s\tp99\tp99 added\tpeak RSS\tstatus\n'
    else
        printf 'server\tCPU/request\trequests/s\tp99\tpeak RSS\tstatus\n'
    fi
}

# rows ROW: tab-separated cells, one proxy (server) a line.
rows() {
    local row=$1 impl label
    for impl in $(impls "$row"); do
        label="${name[$impl]}"
        [ "$row" != gateway-cached ] || label="${cname[$impl]}"
        if [ -z "${res[$row,$impl,cpu]:-}" ]; then
            printf '%s\tFAIL\t-\t-' "$label"
            [ "$row" != gateway ] || printf '\t-'
            printf '\t-\t%s\n' "${res[$row,$impl,why]:-not run}"
            continue
        fi
        if [ "$impl" = direct ]; then # wrk shares the backend's CPU: no proxy CPU
            printf '%s\t-' "$label"
        else
            printf '%s\t%s us' "$label" "${res[$row,$impl,cpu]}"
        fi
        printf '\t%.0f\t%s' "${res[$row,$impl,rate]}" "$(human_us "${res[$row,$impl,p99]}")"
        if [ "$row" = gateway ]; then
            if [ "$impl" = direct ]; then printf '\t-'; else
                printf '\t%s' "$(human_us "$(added "$row" "$impl")")"
            fi
        fi
        if [ "$impl" = direct ]; then printf '\t-'; else
            printf '\t%s MiB' "$(awk -v v="${res[$row,$impl,rss]}" 'BEGIN { printf "%.1f", v / 1024 }')"
        fi
        local st="${res[$row,$impl,why]:-ok}"
        [ -z "${res[$row,$impl,note]:-}" ] || st+="; ${res[$row,$impl,note]}"
        printf '\t%s\n' "$st"
    done
}

# ratios ROW: the lines under a table, with the goals of issue 12.
ratios() {
    local row=$1 r1 r2 a g n
    if [ "$row" = gateway ]; then
        r1="$(ratio "$row" cpu goc nginx)" r2="$(ratio "$row" cpu goc go)"
        echo "CPU/request goc/nginx $r1 (goal <= 1x: $(goal_met "$r1" "<=" 1)), goc/Go $r2" \
            "(goal <= 0.5x: $(goal_met "$r2" "<=" 0.5)); below 1: goc spends less"
        echo "requests/s goc/nginx $(ratio "$row" rate goc nginx), goc/Go" \
            "$(ratio "$row" rate goc go); above 1: goc is faster"
        g="$(added "$row" goc)" n="$(added "$row" nginx)"
        a="-"
        [ "$g" = "-" ] || [ "$n" = "-" ] || a="$(awk -v g="$g" -v n="$n" 'BEGIN { print g - n }')"
        echo "p99 added: goc $(human_us "$g"), nginx $(human_us "$n"), Go" \
            "$(human_us "$(added "$row" go)") (goal: goc's at most nginx's: $(goal_met "$a" "<=" 0))"
    else
        r1="$(ratio "$row" cpu goc plain)"
        echo "CPU/request cached/plain $r1 (goal <= 1.5x: $(goal_met "$r1" "<=" 1.5));" \
            "requests/s cached/plain $(ratio "$row" rate goc plain)"
    fi
}

setup_line() {
    if [ "$1" = gateway ]; then
        echo "GET /plaintext, 3 backends, $conns connections, ${secs} s, median of $reps;" \
            "proxy on CPU $mcpu, wrk -t1 and the backends on CPU $ocpu"
    else
        echo "$conns connections, ${secs} s, median of $reps; measured server on CPU $mcpu," \
            "wrk -t1 and the backends on CPU $ocpu"
    fi
}

declare -A title=([gateway]="the gateway as a reverse proxy"
    [gateway-cached]="a cached response through the gateway")

aligned() {
    awk -F'\t' '
        { for (i = 1; i <= NF; i++) { c[NR, i] = $i; if (length($i) > w[i]) w[i] = length($i) }
          if (NF > n) n = NF }
        END { for (r = 1; r <= NR; r++) {
                l = "";
                for (i = 1; i <= n; i++)
                    l = l sprintf(i == 1 || i == n ? "%-*s" : "  %*s", w[i], c[r, i]) \
                        (i == 1 || i == n - 1 ? "  " : "");
                print l } }'
}

print_tables() {
    local row
    for row in "${rows_run[@]}"; do
        echo
        echo "${title[$row]}: $(setup_line "$row")"
        { header "$row"; rows "$row"; } | aligned
        ratios "$row"
    done
}

print_markdown() {
    local row
    echo "The gateway: HTTP/1.1 through a proxy pinned to one CPU (GOC_MAXPROCS=1,"
    echo "GOMAXPROCS=1, one nginx worker), wrk and three gateway-backend processes on another;"
    echo "load average $load at start."
    for row in "${rows_run[@]}"; do
        echo
        echo "**${title[$row]}** ($(setup_line "$row"))"
        echo
        header "$row" | sed 's/\t/ | /g; s/^/| /; s/$/ |/'
        header "$row" | awk -F'\t' '{ s = "|---|"; for (i = 2; i < NF; i++) s = s "--:|"; print s "---|" }'
        rows "$row" | sed 's/ us\t/ µs\t/g; s/\t/ | /g; s/^/| /; s/$/ |/'
        echo
        ratios "$row" | sed 's/>=/≥/g; s/<=/≤/g; s/ us/ µs/g; s/$/  /'
    done
}

# ---- main --------------------------------------------------------------------------

echo "gateway benchmark: ${rows_run[*]}; proxies ${proxies[*]}; ${secs} s each" \
    "(+${warmup} s warm-up), $reps time(s); backends ${backends[*]}; load average $load" >&2
for row in "${rows_run[@]}"; do
    for ((rep = 1; rep <= reps; rep++)); do
        for impl in $(impls "$row"); do
            [ -z "${res[$row,$impl,why]:-}" ] || continue # one failure is enough
            printf 'gateway %-14s rep %d/%d %-6s ...' "$row" "$rep" "$reps" "$impl" >&2
            if measure "$row" "$impl" "$rep"; then
                echo " $last_cpu us/request, $last_rate requests/s" >&2
            else
                echo " FAIL: ${res[$row,$impl,why]}" >&2
                status=1
            fi
        done
    done
    for impl in $(impls "$row"); do
        [ -z "${res[$row,$impl,why]:-}" ] || continue
        for f in rate cpu p99 rss; do
            [ -z "${vals[$row,$impl,$f]:-}" ] || res[$row,$impl,$f]="$(median "${vals[$row,$impl,$f]}")"
        done
    done
done
echo
echo "load average at start $load, at the end $(cut -d' ' -f1-3 /proc/loadavg)"
print_tables
print_markdown >"$md"
echo
echo "Markdown: $md; logs: $logs/"
exit $status
