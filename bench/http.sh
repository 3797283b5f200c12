#!/usr/bin/env bash
# bench/http.sh <builddir> — the HTTP benchmarks: goc's httpd beside Go's
# net/http (bench/go/http) and nginx, over HTTP/1.1 and HTTPS, with the
# server's CPU time per unit of work as the figure that counts; and goc's
# HTTP client beside Go's, against the same nginx.
#
# <builddir> holds examples/httpd, bench/bench_http_client,
# bench/bench_tls_handshakes and the Go twins go/http and go/http_client
# (bench/run.sh builds all of them; run.sh calls this script). For each
# workload, each server (or client) is started afresh (they take turns,
# BENCH_HTTP_REPS times; the tables show the median of each figure), the
# measured process pinned to one CPU (taskset; GOC_MAXPROCS=1,
# GOMAXPROCS=1, one nginx worker) and the other side pinned to another,
# after a short warm-up. CPU time is utime + stime of the measured
# process (and its children: nginx's worker) from /proc/PID/stat over the
# measured run, or the client's own getrusage.
#
# Workloads, against 127.0.0.1/plaintext ("Hello, World!") unless said:
#   keepalive      wrk, BENCH_HTTP_CONNS connections, one request at a
#                  time each, kept alive
#   close          the same with Connection: close, a connection per request
#   pipeline       BENCH_HTTP_DEPTH requests per write (bench/pipeline.lua)
#   client         the client measured: bench_http_client (goc) and
#                  go/http_client (Go), BENCH_HTTP_CONNS goroutines of
#                  keep-alive GETs through one client, against nginx (the
#                  same server for both): the client's CPU per request
#   tls-keepalive  keepalive over HTTPS (wrk; a handshake per connection)
#   tls-handshake  new TLS connections: bench_tls_handshakes, from
#                  BENCH_HTTP_HS_THREADS threads, a full handshake (no
#                  resumption: wrk resumes sessions, so it cannot measure
#                  this) and one Connection: close request each: server
#                  CPU per handshake, handshakes/s, and the client's own
#                  CPU use (near 100% of its CPU: the client, not the
#                  server, limits the rate; the CPU per handshake holds)
#   tls-download   a BENCH_HTTP_DOWNLOAD_MIB MiB file from /static/ over
#                  HTTPS (goc's FileServer, Go's http.FileServer, nginx's
#                  static files), fetched BENCH_HTTP_DOWNLOADS times one
#                  after the other by curl --http1.1 -k: server CPU per GiB,
#                  MiB/s, and whether kernel TLS was in use
#                  (/proc/net/tls_stat's TlsTxSw/TlsTxDevice moved)
# The HTTPS servers use an ECDSA P-256 certificate made at run time by the
# openssl command, TLS 1.2 or 1.3 (nginx is told TLSv1.2 TLSv1.3; each
# table says what was negotiated) and HTTP/1.1 only (Go's h2 is off).
# Measured:
#   CPU/request  (utime + stime over the measured run) / responses
#   requests/s   wrk's rate (the client's own count for "client"); p99
#                wrk's 99th percentile latency
#   RSS          the server's peak resident set (VmHWM, summed over its
#                processes: nginx's master and worker)
#
# Environment:
#   BENCH_HTTP_SECONDS=5     length of each measured run
#   BENCH_HTTP_REPS          runs of each server on each workload (default:
#                            BENCH_REPS, else 3)
#   BENCH_HTTP_WARMUP=1      seconds of warm-up before it (0: none; for
#                            tls-download: one download, or none)
#   BENCH_HTTP_CONNS=64      connections (wrk), goroutines ("client")
#   BENCH_HTTP_DEPTH=16      pipelined requests per write
#   BENCH_HTTP_HS_THREADS=8  threads of bench_tls_handshakes
#   BENCH_HTTP_DOWNLOAD_MIB=100  size of the tls-download file
#   BENCH_HTTP_DOWNLOADS=5   downloads per measured tls-download run
#   BENCH_HTTP_WORKLOADS="keepalive close pipeline client tls-keepalive
#                         tls-handshake tls-download"
#   BENCH_HTTP_SERVERS="goc go nginx"   the servers of the server workloads
#   BENCH_HTTP_CLIENTS="goc go"         the clients of the client workload
#   BENCH_HTTP_MD=FILE       also write the tables as Markdown to FILE
#                            (default <builddir>/bench-http.md)
#
# Logs of every server, wrk, client and curl run are kept in
# <builddir>/bench-logs/http/. A server that does not start or answer, a
# certificate that cannot be made, or a load run that fails, is a FAIL row;
# the script then exits 1 after the remaining runs.
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
hs_threads="${BENCH_HTTP_HS_THREADS:-8}"
dl_mib="${BENCH_HTTP_DOWNLOAD_MIB:-100}"
downloads="${BENCH_HTTP_DOWNLOADS:-5}"
all_workloads="keepalive close pipeline client tls-keepalive tls-handshake tls-download"
read -r -a workloads <<<"${BENCH_HTTP_WORKLOADS:-$all_workloads}"
read -r -a servers <<<"${BENCH_HTTP_SERVERS:-goc go nginx}"
read -r -a clients <<<"${BENCH_HTTP_CLIENTS:-goc go}"
md="${BENCH_HTTP_MD:-$build/bench-http.md}"
for v in secs conns depth reps hs_threads dl_mib downloads; do
    [[ "${!v}" =~ ^[1-9][0-9]*$ ]] || die "the BENCH_HTTP_ variable of $v must be a positive integer"
done
[[ "$warmup" =~ ^[0-9]+$ ]] || die "BENCH_HTTP_WARMUP must be a whole number of seconds"

# kind WORKLOAD: how it is run and measured: wrk, client, handshake, download.
kind() {
    case $1 in
    keepalive | close | pipeline | tls-keepalive) echo wrk ;;
    client) echo client ;;
    tls-handshake) echo handshake ;;
    tls-download) echo download ;;
    *) die "BENCH_HTTP_WORKLOADS: unknown workload '$1' ($all_workloads)" ;;
    esac
}

for wl in "${workloads[@]}"; do
    kind "$wl" >/dev/null # an unknown workload stops here, before any run
done

# impls WORKLOAD: the programs measured on it (servers, or clients).
impls() {
    if [ "$(kind "$1")" = client ]; then echo "${clients[*]}"; else echo "${servers[*]}"; fi
}

need_wrk=0 need_tls=0 need_nginx=0
for wl in "${workloads[@]}"; do
    case $(kind "$wl") in
    wrk) need_wrk=1 ;;
    client) need_nginx=1 ;;
    esac
    [[ "$wl" != tls-* ]] || need_tls=1
done
[ $need_wrk -eq 0 ] || command -v wrk >/dev/null || die "wrk not found (apt-get install wrk)"
command -v taskset >/dev/null || die "taskset not found (util-linux)"
command -v curl >/dev/null || die "curl not found (apt-get install curl)"
[ $need_tls -eq 0 ] || command -v openssl >/dev/null ||
    die "openssl not found (apt-get install openssl)"
for s in "${servers[@]}"; do
    case $s in
    goc) [ -x "$build/examples/httpd" ] || die "missing $build/examples/httpd" ;;
    go) [ -x "$build/go/http" ] || die "missing $build/go/http (bench/run.sh builds it)" ;;
    nginx) need_nginx=1 ;;
    *) die "BENCH_HTTP_SERVERS: unknown server '$s' (goc go nginx)" ;;
    esac
done
for c in "${clients[@]}"; do
    case $c in
    goc) [ -x "$build/bench/bench_http_client" ] || die "missing $build/bench/bench_http_client" ;;
    go) [ -x "$build/go/http_client" ] || die "missing $build/go/http_client (bench/run.sh builds it)" ;;
    *) die "BENCH_HTTP_CLIENTS: unknown client '$c' (goc go)" ;;
    esac
done
[[ " ${workloads[*]} " != *" tls-handshake "* ]] || [ -x "$build/bench/bench_tls_handshakes" ] ||
    die "missing $build/bench/bench_tls_handshakes"
[ $need_nginx -eq 0 ] || command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] ||
    die "nginx not found (apt-get install nginx-light)"
nginx_bin="$(command -v nginx || echo /usr/sbin/nginx)"

# The measured process (the server; the client for "client") gets CPU 0
# and the other side (wrk, curl, bench_tls_handshakes; nginx for "client")
# CPU 1, of those this process may use; on one CPU both share it, and the
# numbers say less.
read -r -a cpus <<<"$(taskset -c -p $$ | sed 's/.*: //' | tr ',' '\n' |
    awk -F- '{ if (NF == 2) for (i = $1; i <= $2; i++) printf "%d ", i; else printf "%d ", $1 }')"
mcpu="${cpus[0]}"
ocpu="${cpus[1]:-${cpus[0]}}"
[ ${#cpus[@]} -ge 2 ] || echo "bench/http.sh: one CPU only: both sides share it" >&2

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

# ---- what HTTPS needs ------------------------------------------------------------

# The certificate (ECDSA P-256, self-signed, for 127.0.0.1) and the file
# of tls-download, made once, before the first run that needs them; a
# failure is remembered (setup_why) and fails those runs.
cert="$tmp/cert.pem" key="$tmp/key.pem" www="$tmp/www"
setup_why=""
tls_ready=0
setup_tls() {
    [ $tls_ready -eq 0 ] || return 0
    tls_ready=1
    if ! openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout "$key" -out "$cert" -days 2 -subj /CN=localhost \
        -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" >"$logs/openssl.log" 2>&1; then
        setup_why="openssl could not make the certificate (see $logs/openssl.log)"
        return 1
    fi
}
www_ready=0
setup_www() {
    [ $www_ready -eq 0 ] || return 0
    www_ready=1
    # nginx's worker may run as another user (nobody, when started as
    # root): mktemp's directory is 0700, so open it up to the file.
    chmod 755 "$tmp"
    mkdir -p "$www"
    if ! head -c $((dl_mib << 20)) /dev/urandom >"$www/big.bin" || ! chmod -R a+rX "$www"; then
        setup_why="could not write the $dl_mib MiB file in $www"
        return 1
    fi
}

# ---- the servers -----------------------------------------------------------------

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

# nginx_conf PORT DIR SCHEME: the configuration nginx runs with: one
# worker, no access log, /plaintext answered from the configuration
# itself, /static/ the files of the download; with SCHEME https, TLS 1.2
# and 1.3 with the benchmark's certificate (OpenSSL's defaults otherwise,
# no session cache beyond them, HTTP/1.1).
nginx_conf() {
    local ssl="" tls=""
    if [ "$3" = https ]; then
        ssl=" ssl"
        tls="ssl_certificate $cert; ssl_certificate_key $key; ssl_protocols TLSv1.2 TLSv1.3;"
    fi
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
        listen 127.0.0.1:$1$ssl backlog=4096;
        $tls
        location = /plaintext {
            default_type text/plain;
            return 200 "Hello, World!";
        }
        location /static/ {
            alias $www/;
        }
    }
}
EOF
}

# start_server IMPL LOG SCHEME CPU: start IMPL (http or https) on CPU;
# sets srv_pid, srv_url and srv_tls (what curl negotiated: "TLSv1.3 /
# TLS_AES_256_GCM_SHA384"). 1 if it did not come up within 10 s. nginx gets
# three tries, a port each: another program may take the port we found
# free.
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
    local impl=$1 log=$2 scheme=$3 cpu=$4 port
    local -a tls=()
    [ "$scheme" = http ] || tls=(-tls-cert "$cert" -tls-key "$key")
    srv_url="" srv_tls=""
    case $impl in
    goc)
        GOC_MAXPROCS=1 taskset -c "$cpu" "$build/examples/httpd" -addr 127.0.0.1:0 -root "$www" \
            "${tls[@]}" >"$log" 2>&1 &
        ;;
    go)
        GOMAXPROCS=1 taskset -c "$cpu" "$build/go/http" -addr 127.0.0.1:0 -root "$www" \
            "${tls[@]}" >"$log" 2>&1 &
        ;;
    nginx)
        port="$(free_port)"
        rm -rf "$tmp/nginx" && mkdir -p "$tmp/nginx"
        nginx_conf "$port" "$tmp/nginx" "$scheme" >"$tmp/nginx/nginx.conf"
        taskset -c "$cpu" "$nginx_bin" -e "$tmp/nginx/error.log" -p "$tmp/nginx" \
            -c "$tmp/nginx/nginx.conf" >"$log" 2>&1 &
        srv_url="$scheme://127.0.0.1:$port"
        ;;
    esac
    srv_pid=$!
    local i
    for ((i = 0; i < 100; i++)); do
        kill -0 "$srv_pid" 2>/dev/null || return 1
        [ -n "$srv_url" ] ||
            srv_url="$(grep -o -m 1 "listening on $scheme://[^ ]*" "$log" 2>/dev/null |
                sed 's/listening on //' || true)"
        if [ -n "$srv_url" ] && answers "$srv_url" "$log"; then
            return 0
        fi
        sleep 0.1
    done
    return 1
}

# answers URL LOG: true if GET URL/plaintext comes back 200 with Hello,
# World!; over https, what was negotiated goes to srv_tls (and LOG).
answers() {
    local reply
    reply="$(curl -sk --noproxy "*" --http1.1 -v --max-time 2 "$1/plaintext" \
        2>"$tmp/curl.err" || true)"
    if [[ "$1" == https:* ]]; then
        srv_tls="$(grep -o -m 1 'SSL connection using .*' "$tmp/curl.err" |
            sed 's/SSL connection using //; s/ \/ / /' || true)"
        [ -z "$srv_tls" ] || echo "bench/http.sh: curl negotiated $srv_tls" >>"$2"
    fi
    [ "$reply" = "Hello, World!" ] && grep -q '^< HTTP/1.1 200' "$tmp/curl.err"
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

# ktls_tx: records the kernel has encrypted so far (TlsTxSw + TlsTxDevice
# of /proc/net/tls_stat), or "none" when the kernel has no TLS module.
ktls_tx() {
    if [ -r /proc/net/tls_stat ]; then
        awk '$1 == "TlsTxSw" || $1 == "TlsTxDevice" { n += $2 } END { print n + 0 }' \
            /proc/net/tls_stat
    else
        echo none
    fi
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
    keepalive | tls-keepalive) ;;
    close) a+=(-H 'Connection: close') ;;
    pipeline) a+=(-s "$src/pipeline.lua") ;;
    esac
    printf '%s\n' "${a[@]}"
}

declare -A vals=() # [workload,impl,field] -> "V V ...", one per rep; field: rate cpu p99 rss load
declare -A res=()  # the same fields, their medians; why (a failure); tls; ktls
status=0

# median "V V ...": the median of the numbers given.
median() {
    tr -s ' ' '\n' <<<"$1" | grep . | sort -g | awk '{ v[NR] = $1 }
        END { if (NR % 2) print v[(NR + 1) / 2];
              else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# measure WORKLOAD IMPL REP: one measured run of IMPL on WORKLOAD; appends
# to vals[] and says what it saw in last_cpu, last_rate; 1 on a failure
# (res[...,why] says why).
measure() {
    local wl=$1 impl=$2 rep=$3 k scheme=http
    k="$(kind "$wl")"
    [[ "$wl" != tls-* ]] || scheme=https
    if [ "$scheme" = https ]; then
        setup_tls || { res[$wl,$impl,why]="$setup_why"; return 1; }
    fi
    if [ "$k" = download ]; then
        setup_www || { res[$wl,$impl,why]="$setup_why"; return 1; }
    fi
    # client: nginx serves on the other CPU and the client is measured
    local srv=$impl cpu=$mcpu log="$logs/$wl.$impl.$rep.server.log"
    [ "$k" != client ] || { srv=nginx cpu=$ocpu; }
    if ! start_server "$srv" "$log" "$scheme" "$cpu"; then
        res[$wl,$impl,why]="$srv did not start or answer (see $log)"
        stop_server
        return 1
    fi
    [ -z "$srv_tls" ] || res[$wl,$impl,tls]="$srv_tls"
    local rc=0
    "measure_$k" "$wl" "$impl" "$rep" || rc=$?
    stop_server
    return $rc
}

# measure_wrk WORKLOAD IMPL REP: warm up, run wrk, record its report.
measure_wrk() {
    local wl=$1 impl=$2 out="$logs/$1.$2.$3.wrk.txt"
    local -a args
    mapfile -t args < <(wrk_args "$wl")
    export PIPELINE_DEPTH="$depth"
    if [ "$warmup" -gt 0 ]; then
        taskset -c "$ocpu" wrk "${args[@]}" -d"${warmup}s" "$srv_url/plaintext" \
            >"$logs/$wl.$impl.$3.warmup.txt" 2>&1 || true
    fi
    local t0 t1 rc=0 n rps p99 bad
    t0="$(cpu_ticks "$srv_pid")"
    taskset -c "$ocpu" wrk "${args[@]}" -d"${secs}s" "$srv_url/plaintext" >"$out" 2>&1 || rc=$?
    t1="$(cpu_ticks "$srv_pid")"
    vals[$wl,$impl,rss]+="$(hwm_kib "$srv_pid") "
    n="$(awk '/ requests in / { print $1 }' "$out")"
    rps="$(awk '/^Requests\/sec:/ { print $2 }' "$out")"
    p99="$(awk '$1 == "99%" { print $2 }' "$out")"
    bad="$(awk '/Non-2xx or 3xx responses:/ { print $NF }' "$out")"
    if [ "$rc" -ne 0 ] || [ -z "$n" ] || [ "$n" -eq 0 ] || [ -z "$rps" ]; then
        res[$wl,$impl,why]="wrk failed (status $rc; see $out)"
        return 1
    fi
    [ -z "$bad" ] || res[$wl,$impl,why]="$bad responses were not 2xx (see $out)"
    last_cpu="$(awk -v t=$((t1 - t0)) -v hz="$tck" -v n="$n" \
        'BEGIN { printf "%.2f", t * 1e6 / hz / n }')"
    last_rate="$rps"
    vals[$wl,$impl,rate]+="$rps "
    vals[$wl,$impl,p99]+="$(to_us "$p99") "
    vals[$wl,$impl,cpu]+="$last_cpu "
    [ -z "$bad" ]
}

# result FILE ROW: the value of FILE's "RESULT name=ROW" line, or nothing.
result() {
    grep -E "^RESULT name=$2 unit=[^ ]+ value=[0-9.]+\$" "$1" | tail -n 1 | sed 's/.*value=//' ||
        true
}

# measure_client WORKLOAD IMPL REP: the client program (it warms up and
# measures its own CPU) against nginx.
measure_client() {
    local wl=$1 impl=$2 out="$logs/$1.$2.$3.client.txt" rc=0 bin
    local -a envs
    case $impl in
    goc) bin="$build/bench/bench_http_client" envs=(env -u GOMAXPROCS GOC_MAXPROCS=1) ;;
    go) bin="$build/go/http_client" envs=(env -u GOC_MAXPROCS GOMAXPROCS=1) ;;
    esac
    "${envs[@]}" timeout --kill-after=5 $((secs + warmup + 30)) taskset -c "$mcpu" "$bin" \
        "$srv_url/plaintext" "$secs" "$warmup" "$conns" >"$out" 2>&1 || rc=$?
    last_rate="$(result "$out" http-client)"
    last_cpu="$(result "$out" http-client-cpu)"
    if [ "$rc" -ne 0 ] || [ -z "$last_rate" ] || [ -z "$last_cpu" ]; then
        res[$wl,$impl,why]="the client failed (status $rc; see $out)"
        return 1
    fi
    last_cpu="$(awk -v v="$last_cpu" 'BEGIN { printf "%.2f", v }')"
    vals[$wl,$impl,rate]+="$last_rate "
    vals[$wl,$impl,cpu]+="$last_cpu "
}

# measure_handshake WORKLOAD IMPL REP: bench_tls_handshakes, warm-up then
# measured; CPU per handshake from the count it prints.
measure_handshake() {
    local wl=$1 impl=$2 out="$logs/$1.$2.$3.handshakes.txt" hp="${srv_url#https://}"
    local hs="$build/bench/bench_tls_handshakes" t0 t1 rc=0 n
    if [ "$warmup" -gt 0 ]; then
        timeout --kill-after=5 $((warmup + 30)) taskset -c "$ocpu" "$hs" "$hp" "$warmup" \
            "$hs_threads" >"$logs/$wl.$impl.$3.warmup.txt" 2>&1 || true
    fi
    t0="$(cpu_ticks "$srv_pid")"
    timeout --kill-after=5 $((secs + 30)) taskset -c "$ocpu" "$hs" "$hp" "$secs" "$hs_threads" \
        >"$out" 2>&1 || rc=$?
    t1="$(cpu_ticks "$srv_pid")"
    vals[$wl,$impl,rss]+="$(hwm_kib "$srv_pid") "
    n="$(result "$out" tls-handshakes-count)"
    last_rate="$(result "$out" tls-handshakes)"
    if [ "$rc" -ne 0 ] || [ -z "$n" ] || [ -z "$last_rate" ]; then
        res[$wl,$impl,why]="bench_tls_handshakes failed (status $rc; see $out)"
        return 1
    fi
    last_cpu="$(awk -v t=$((t1 - t0)) -v hz="$tck" -v n="$n" \
        'BEGIN { printf "%.2f", t * 1e6 / hz / n }')"
    vals[$wl,$impl,rate]+="$last_rate "
    vals[$wl,$impl,cpu]+="$last_cpu "
    vals[$wl,$impl,load]+="$(result "$out" tls-handshakes-cpu) "
}

# measure_download WORKLOAD IMPL REP: BENCH_HTTP_DOWNLOADS downloads of the
# file by curl, one after the other (after one unmeasured, if warming up):
# CPU in ms per GiB sent, MiB/s over the time curl took.
measure_download() {
    local wl=$1 impl=$2 out="$logs/$1.$2.$3.curl.txt" url="$srv_url/static/big.bin"
    local size=$((dl_mib << 20)) t0 t1 k0 k1 rc=0 i line
    local -a curl=(taskset -c "$ocpu" curl -sk --noproxy "*" --http1.1 --max-time 300 -o /dev/null
        -w '%{http_code} %{size_download} %{time_total}\n' "$url")
    : >"$out"
    [ "$warmup" -eq 0 ] || "${curl[@]}" >>"$out" 2>&1 || true
    : >"$out"
    k0="$(ktls_tx)"
    t0="$(cpu_ticks "$srv_pid")"
    for ((i = 0; i < downloads; i++)); do
        "${curl[@]}" >>"$out" 2>&1 || { rc=$?; break; }
    done
    t1="$(cpu_ticks "$srv_pid")"
    k1="$(ktls_tx)"
    vals[$wl,$impl,rss]+="$(hwm_kib "$srv_pid") "
    line="$(awk -v size="$size" -v n="$downloads" '
        NF == 3 && $1 == 200 && $2 == size { ok++; bytes += $2; t += $3 }
        END { if (ok == n && t > 0) printf "%d %.6f", bytes, t }' "$out")"
    if [ "$rc" -ne 0 ] || [ -z "$line" ]; then
        res[$wl,$impl,why]="curl failed or fetched something else (status $rc; see $out)"
        return 1
    fi
    local bytes t
    read -r bytes t <<<"$line"
    last_cpu="$(awk -v t=$((t1 - t0)) -v hz="$tck" -v b="$bytes" \
        'BEGIN { printf "%.1f", t * 1e3 / hz / (b / 1073741824) }')"
    last_rate="$(awk -v b="$bytes" -v t="$t" 'BEGIN { printf "%.1f", b / 1048576 / t }')"
    vals[$wl,$impl,rate]+="$last_rate "
    vals[$wl,$impl,cpu]+="$last_cpu "
    if [ "$k0" = none ]; then
        res[$wl,$impl,ktls]="no"
    elif [ "$k1" -gt "$k0" ]; then
        res[$wl,$impl,ktls]="yes ($((k1 - k0)) records)"
    else
        res[$wl,$impl,ktls]="no"
    fi
}

# ---- the tables ------------------------------------------------------------------

declare -A title=([keepalive]="keep-alive" [close]="Connection: close (a connection per request)"
    [pipeline]="pipelined, $depth requests per write"
    [client]="the client: $conns goroutines of keep-alive GETs against nginx"
    [tls-keepalive]="HTTPS keep-alive"
    [tls-handshake]="HTTPS, new connections: a full TLS handshake and one request each"
    [tls-download]="HTTPS download of a $dl_mib MiB file ($downloads downloads a run)")
declare -A name=([goc]="goc" [go]="Go" [nginx]="nginx")
declare -A sname=([goc]="goc httpd" [go]="Go net/http" [nginx]="nginx")
declare -A cname=([goc]="goc http client" [go]="Go net/http Client")

# cpu_unit / rate_unit WORKLOAD: the units of its two figures.
cpu_unit() {
    case $(kind "$1") in download) echo "ms/GiB" ;; *) echo "us" ;; esac
}
cpu_head() {
    case $(kind "$1") in
    handshake) echo "CPU/handshake" ;; download) echo "CPU/GiB" ;; *) echo "CPU/request" ;;
    esac
}
rate_head() {
    case $(kind "$1") in
    handshake) echo "handshakes/s" ;; download) echo "MiB/s" ;; *) echo "requests/s" ;;
    esac
}

# ratio WORKLOAD FIELD A B: A's FIELD over B's ("-" if either is missing).
ratio() {
    local a="${res[$1,$3,$2]:-}" b="${res[$1,$4,$2]:-}"
    if [ -z "$a" ] || [ -z "$b" ]; then echo "-"; else
        awk -v a="$a" -v b="$b" 'BEGIN { if (b == 0) print "-"; else printf "%.2fx", a / b }'
    fi
}

# goal_met RATIO OP LIMIT: "met" or "MISSED" ("-" without a ratio).
goal_met() {
    [ "$1" != "-" ] || { echo "-"; return; }
    awk -v r="${1%x}" -v op="$2" -v l="$3" \
        'BEGIN { ok = (op == ">=") ? r >= l : r <= l; print ok ? "met" : "MISSED" }'
}

# header WORKLOAD: the table's header cells, tab-separated.
header() {
    local first=server
    [ "$(kind "$1")" != client ] || first=client
    printf '%s\t%s\t%s' "$first" "$(cpu_head "$1")" "$(rate_head "$1")"
    [ "$(kind "$1")" != wrk ] || printf '\tp99'
    [ "$(kind "$1")" = client ] || printf '\tpeak RSS'
    [ "$(kind "$1")" != handshake ] || printf '\tclient CPU'
    [[ "$1" != tls-* ]] || printf '\tTLS'
    printf '\tstatus\n'
}

# rows WORKLOAD: tab-separated cells, one server (client) a line.
rows() {
    local wl=$1 impl k cu label
    k="$(kind "$wl")" cu="$(cpu_unit "$wl")"
    for impl in $(impls "$wl"); do
        label="${sname[$impl]}"
        [ "$k" != client ] || label="${cname[$impl]}"
        if [ -z "${res[$wl,$impl,cpu]:-}" ]; then
            printf '%s\tFAIL\t-' "$label"
            [ "$k" != wrk ] || printf '\t-'
            [ "$k" = client ] || printf '\t-'
            [ "$k" != handshake ] || printf '\t-'
            [[ "$wl" != tls-* ]] || printf '\t-'
            printf '\t%s\n' "${res[$wl,$impl,why]:-not run}"
            continue
        fi
        printf '%s\t%s %s\t%s' "$label" "${res[$wl,$impl,cpu]}" "$cu" \
            "$(awk -v v="${res[$wl,$impl,rate]}" 'BEGIN { printf (v >= 1000 ? "%.0f" : "%.1f"), v }')"
        [ "$k" != wrk ] || printf '\t%s' "$(human_us "${res[$wl,$impl,p99]}")"
        [ "$k" = client ] ||
            printf '\t%s MiB' "$(awk -v v="${res[$wl,$impl,rss]}" 'BEGIN { printf "%.1f", v / 1024 }')"
        [ "$k" != handshake ] || printf '\t%.0f%%' "${res[$wl,$impl,load]:-0}"
        [[ "$wl" != tls-* ]] || printf '\t%s' "${res[$wl,$impl,tls]:-?}"
        printf '\t%s\n' "${res[$wl,$impl,why]:-ok}"
    done
}

# human_us V: a latency in microseconds for a reader; wrk prints a 0 p99
# when its histogram overflows (seen with deep pipelines): "n/a".
human_us() {
    awk -v v="$1" 'BEGIN { if (v == "?" || v + 0 == 0) print "n/a";
        else if (v >= 1000) printf "%.2f ms", v / 1000; else printf "%.0f us", v }'
}

# ratios WORKLOAD: the lines under a table: the ratios, with the goal of
# the workload where it has one.
ratios() {
    local wl=$1 r
    case $(kind "$wl") in
    client)
        r="$(ratio "$wl" cpu go goc)"
        echo "client CPU/request Go/goc $r (goal >= 2x: $(goal_met "$r" ">=" 2));" \
            "requests/s goc/Go $(ratio "$wl" rate goc go) (above 1: goc is better)"
        ;;
    handshake)
        r="$(ratio "$wl" rate goc go)"
        echo "handshakes/s goc/Go $r (goal >= 1x: $(goal_met "$r" ">=" 1)), goc/nginx" \
            "$(ratio "$wl" rate goc nginx); CPU/handshake goc/Go $(ratio "$wl" cpu goc go)," \
            "goc/nginx $(ratio "$wl" cpu goc nginx) (below 1: goc spends less)"
        ;;
    download)
        echo "CPU/GiB goc/Go $(ratio "$wl" cpu goc go), goc/nginx $(ratio "$wl" cpu goc nginx)" \
            "(below 1: goc spends less); MiB/s goc/Go $(ratio "$wl" rate goc go)," \
            "goc/nginx $(ratio "$wl" rate goc nginx)"
        ;;
    *)
        r="$(ratio "$wl" cpu goc nginx)"
        local g=""
        [ "$wl" != tls-keepalive ] || g=" (goal <= 1x: $(goal_met "$r" "<=" 1))"
        echo "CPU/request goc/Go $(ratio "$wl" cpu goc go), goc/nginx $r$g" \
            "(below 1: goc spends less CPU per request)"
        ;;
    esac
}

# notes WORKLOAD: what follows its table: for tls-download, whether the
# kernel encrypted (kTLS).
notes() {
    [ "$(kind "$1")" = download ] || return 0
    local impl s=""
    for impl in "${servers[@]}"; do
        s+="${s:+; }${sname[$impl]} ${res[$1,$impl,ktls]:-not measured}"
    done
    if [ -r /proc/net/tls_stat ]; then
        echo "kTLS (TlsTxSw/TlsTxDevice of /proc/net/tls_stat moved): $s"
    else
        echo "kTLS: $s (the kernel has no TLS module: /proc/net/tls_stat is absent)"
    fi
}

# setup_line WORKLOAD: how it ran, for the line above its table.
setup_line() {
    case $(kind "$1") in
    wrk) echo "$conns connections, ${secs} s, median of $reps;" \
        "server on CPU $mcpu, wrk -t1 on CPU $ocpu" ;;
    client) echo "${secs} s, median of $reps;" \
        "the client on CPU $mcpu (1 P), nginx (1 worker) on CPU $ocpu" ;;
    handshake) echo "${secs} s, median of $reps;" \
        "server on CPU $mcpu, bench_tls_handshakes ($hs_threads threads) on CPU $ocpu" ;;
    download) echo "median of $reps; server on CPU $mcpu, curl --http1.1 on CPU $ocpu" ;;
    esac
}

# aligned: tab-separated lines on stdin as aligned columns (the first and
# the last left-aligned, the others right-aligned).
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
    local wl
    for wl in "${workloads[@]}"; do
        echo
        echo "HTTP /plaintext, ${title[$wl]}: $(setup_line "$wl")"
        { header "$wl"; rows "$wl"; } | aligned
        ratios "$wl"
        notes "$wl"
    done
}

print_markdown() {
    local wl
    echo "HTTP/1.1, \`/plaintext\` unless said; the measured process pinned to one CPU"
    echo "(GOC_MAXPROCS=1, GOMAXPROCS=1, one nginx worker), the other side on another."
    for wl in "${workloads[@]}"; do
        echo
        echo "**${title[$wl]}** ($(setup_line "$wl")) — $(ratios "$wl" | sed 's/>=/≥/g; s/<=/≤/g')"
        echo
        header "$wl" | sed 's/\t/ | /g; s/^/| /; s/$/ |/'
        header "$wl" | awk -F'\t' '{ s = "|---|";
            for (i = 2; i < NF; i++) s = s ($i == "TLS" ? "---|" : "--:|"); print s "---|" }'
        rows "$wl" | sed 's/ us\t/ µs\t/g; s/\t/ | /g; s/^/| /; s/$/ |/'
        [ -z "$(notes "$wl")" ] || { echo; notes "$wl"; }
    done
}

# ---- main ------------------------------------------------------------------------

echo "HTTP benchmark: ${workloads[*]}; servers ${servers[*]}, clients ${clients[*]};" \
    "${secs} s each (+${warmup} s warm-up), $reps time(s)" >&2
for wl in "${workloads[@]}"; do
    for ((rep = 1; rep <= reps; rep++)); do
        for impl in $(impls "$wl"); do
            [ -z "${res[$wl,$impl,why]:-}" ] || continue # one failure is enough
            printf 'http %-13s rep %d/%d %-5s ...' "$wl" "$rep" "$reps" "$impl" >&2
            if measure "$wl" "$impl" "$rep"; then
                echo " $last_cpu $(cpu_unit "$wl"), $last_rate $(rate_head "$wl")" >&2
            else
                echo " FAIL: ${res[$wl,$impl,why]}" >&2
                status=1
            fi
        done
    done
    for impl in $(impls "$wl"); do
        [ -z "${res[$wl,$impl,why]:-}" ] || continue
        for f in rate cpu p99 rss load; do
            [ -z "${vals[$wl,$impl,$f]:-}" ] || res[$wl,$impl,$f]="$(median "${vals[$wl,$impl,$f]}")"
        done
    done
done
print_tables
print_markdown >"$md"
echo
echo "Markdown: $md; logs: $logs/"
exit $status
