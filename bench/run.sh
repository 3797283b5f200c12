#!/usr/bin/env bash
# bench/run.sh <builddir> — run every goc benchmark beside its Go twin and
# print the comparison (also written as Markdown to <builddir>/bench.md).
#
# <builddir> is a CMake build with -DGOC_BENCH=ON (`make bench` makes
# build-bench and calls this script). The Go twins in bench/go/ are built here
# into <builddir>/go/, offline, with the standard library only.
#
# Each workload runs goc first, then Go, and the pair is repeated BENCH_REPS
# times; the table shows the median of each side. The ratio is written so that
# above 1 means goc is better: goc/Go for rates, Go/goc for times and memory.
#
# Environment:
#   BENCH_REPS=3         repetitions of each goc/Go pair (median taken)
#   BENCH_ONLY="..."     a subset of: spawn switch sleep memory memory-chan pingpong-p1
#                        pingpong-p2 buffered select mutex context pool echo accept c10k
#                        http-c10k http-c10k-park, and bench/http.sh's tables: http
#                        (keep-alive, close, pipeline), http-client, https-keepalive,
#                        https-handshake, https-download, https (the three https-*),
#                        and bench/gateway.sh's: gateway (its two rows), gateway-cached
#   BENCH=http           the HTTP rows alone (BENCH_ONLY="http-c10k http-c10k-park http
#                        http-client https")
#   BENCH=gateway        the gateway rows alone (BENCH_ONLY=gateway)
#   BENCH_TIMEOUT=300    seconds allowed to one run of one program
#
# The HTTP rows (bench/http.sh: goc's httpd, Go's net/http and nginx, over
# HTTP and HTTPS, and goc's HTTP client beside Go's; its BENCH_HTTP_*
# variables) run after the others, with their own tables, appended to
# bench.md. The http* names of BENCH_ONLY choose its BENCH_HTTP_WORKLOADS;
# without BENCH_ONLY, BENCH_HTTP_WORKLOADS (default: all) holds. The gateway
# rows (bench/gateway.sh: goc's gateway, nginx and Go's ReverseProxy in
# front of the same backends; its BENCH_GATEWAY_* variables) run last, with
# their own tables, also appended to bench.md; the gateway names of
# BENCH_ONLY choose its BENCH_GATEWAY_ROWS.
#
# Every run's stdout and stderr are kept in <builddir>/bench-logs/. A program
# that fails, times out or prints no RESULT line for one of its rows is
# reported with its stderr; its rows read FAIL and the script exits 1 after
# the remaining workloads have run.
set -euo pipefail
export LC_ALL=C # numbers with a decimal point, whatever the user's locale

# ---- workloads ---------------------------------------------------------------

programs=(spawn switch sleep memory memory-chan pingpong-p1 pingpong-p2 buffered select mutex context pool
    echo accept c10k http-c10k http-c10k-park)

# The RESULT rows each program must print.
declare -A rows_of=([spawn]="spawn" [switch]="switch" [sleep]="sleep-wall sleep-late"
    [memory]="memory" [memory-chan]="memory-chan" [pingpong-p1]="pingpong-p1" [pingpong-p2]="pingpong-p2"
    [buffered]="buffered" [select]="select" [mutex]="mutex-contended mutex-uncontended"
    [context]="context" [pool]="pool" [echo]="echo echo-p99" [accept]="accept"
    [c10k]="c10k-mem c10k-idle-cpu" [http-c10k]="http-c10k-mem http-c10k-idle-cpu"
    [http-c10k-park]="http-c10k-park-mem")

# bench/http.sh's workloads (BENCH_HTTP_WORKLOADS) of each BENCH_ONLY name,
# and all of them in the order they run.
declare -A http_workloads_of=([http]="keepalive close pipeline" [http-client]="client"
    [https-keepalive]="tls-keepalive" [https-handshake]="tls-handshake"
    [https-download]="tls-download" [https]="tls-keepalive tls-handshake tls-download")
http_workloads_all="keepalive close pipeline client tls-keepalive tls-handshake tls-download"

# bench/gateway.sh's rows (BENCH_GATEWAY_ROWS) of each BENCH_ONLY name.
declare -A gateway_rows_of=([gateway]="gateway gateway-cached" [gateway-cached]="gateway-cached")

# A workload that runs an executable of another name (bench_<bin>, go/<bin>);
# default: its own name.
declare -A bin_of=([pingpong-p1]=pingpong [pingpong-p2]=pingpong [memory-chan]=memory
    [http-c10k]=http_c10k [http-c10k-park]=http_c10k)

# Extra environment for a workload (both implementations).
declare -A env_of=([memory-chan]="BENCH_PARK=chan" [http-c10k-park]="BENCH_CLIENTS=park")

# The Ps a workload runs on (GOC_MAXPROCS and GOMAXPROCS); default: all CPUs.
declare -A procs_of=([switch]=1 [pingpong-p1]=1 [pingpong-p2]=2)

# Per row: what the table calls it, and its goal: "ratio G" (goc at least G
# times better than Go) or "max V UNIT" (goc's own value at most V, absolute).
declare -A label=(
    [spawn]="spawn 1M goroutines"
    [switch]="switch (yield, 1 P)"
    [sleep-wall]="sleep churn 100k: wall time"
    [sleep-late]="sleep churn 100k: mean lateness"
    [memory]="memory per parked goroutine (1M)"
    [memory-chan]="memory per goroutine parked on a chan"
    [pingpong-p1]="pingpong unbuffered round trip, 1 P"
    [pingpong-p2]="pingpong unbuffered round trip, 2 Ps"
    [buffered]="buffered chan cap 1024, 4x4, 20M"
    [select]="select over 4 chans, 4 producers"
    [mutex-contended]="mutex, 8 goroutines contended"
    [mutex-uncontended]="mutex, uncontended"
    [context]="context tree 100k: create+cancel"
    [pool]="pool get+put, 8 goroutines, 20M"
    [echo]="TCP echo 1 KiB, 100 conns: messages"
    [echo-p99]="TCP echo 1 KiB, 100 conns: p99 round trip"
    [accept]="TCP dial+accept+close, 4 dialers"
    [c10k-mem]="c10k: memory per idle connection"
    [c10k-idle-cpu]="c10k: CPU time over 2 s idle"
    [http-c10k-mem]="HTTP c10k: memory per idle keep-alive conn"
    [http-c10k-idle-cpu]="HTTP c10k: CPU time over 2 s idle"
    [http-c10k-park-mem]="HTTP c10k, client goroutines parked too"
)
declare -A goal=([spawn]="ratio 3" [switch]="ratio 3" [sleep-wall]="ratio 1"
    [sleep-late]="ratio 1" [memory]="max 5 KiB" [memory-chan]="max 5 KiB" [pingpong-p1]="ratio 2" [pingpong-p2]="ratio 2"
    [buffered]="ratio 1.5" [select]="ratio 1.5" [mutex-contended]="ratio 1"
    [mutex-uncontended]="ratio 1" [context]="ratio 1" [pool]="ratio 1"
    [echo]="ratio 1.3" [echo-p99]="ratio 1" [accept]="ratio 1" [c10k-mem]="ratio 0.67"
    [c10k-idle-cpu]="max 50 ms" [http-c10k-idle-cpu]="max 50 ms" [http-c10k-park-mem]="ratio 1")
# http-c10k-mem: within 1.5x of goc's own c10k-mem (4.8 KiB when the row was
# added); it counts what c10k-mem counts plus the HTTP connection state.
goal[http-c10k-mem]="max 7.2 KiB"

# ---- arguments ---------------------------------------------------------------

die() {
    echo "bench/run.sh: $*" >&2
    exit 1
}

[ $# -eq 1 ] || { echo "usage: bench/run.sh <builddir>" >&2; exit 2; }
[ -d "$1" ] || die "no build directory '$1' (run 'make bench')"
build="$(cd "$1" && pwd)"
src="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
reps="${BENCH_REPS:-3}"
timeout_s="${BENCH_TIMEOUT:-300}"
[[ "$reps" =~ ^[1-9][0-9]*$ ]] || die "BENCH_REPS must be a positive integer, not '$reps'"
[[ "$timeout_s" =~ ^[1-9][0-9]*$ ]] || die "BENCH_TIMEOUT must be a positive integer"
run_http=1 run_gateway=1
[ "${BENCH:-}" != http ] || BENCH_ONLY="http-c10k http-c10k-park http http-client https"
[ "${BENCH:-}" != gateway ] || BENCH_ONLY="gateway"
if [ -n "${BENCH_ONLY:-}" ]; then
    only=()
    http_wl=" "
    gw_rows=" "
    for p in $BENCH_ONLY; do
        if [ -n "${http_workloads_of[$p]:-}" ]; then
            http_wl+="${http_workloads_of[$p]} "
            continue
        fi
        if [ -n "${gateway_rows_of[$p]:-}" ]; then
            gw_rows+="${gateway_rows_of[$p]} "
            continue
        fi
        [ -n "${rows_of[$p]:-}" ] || die "BENCH_ONLY: unknown workload '$p' (${programs[*]}" \
            "${!http_workloads_of[*]} ${!gateway_rows_of[*]})"
        only+=("$p")
    done
    if [ "$gw_rows" = " " ]; then
        run_gateway=0
    else # in the order they run, each once
        BENCH_GATEWAY_ROWS=""
        for w in gateway gateway-cached; do
            [[ "$gw_rows" != *" $w "* ]] || BENCH_GATEWAY_ROWS+="${BENCH_GATEWAY_ROWS:+ }$w"
        done
        export BENCH_GATEWAY_ROWS
    fi
    if [ "$http_wl" = " " ]; then
        run_http=0
    else # in the order they run, each once
        BENCH_HTTP_WORKLOADS=""
        for w in $http_workloads_all; do
            [[ "$http_wl" != *" $w "* ]] || BENCH_HTTP_WORKLOADS+="${BENCH_HTTP_WORKLOADS:+ }$w"
        done
        export BENCH_HTTP_WORKLOADS
    fi
    programs=("${only[@]}")
fi

for p in "${programs[@]}"; do
    [ -x "$build/bench/bench_${bin_of[$p]:-$p}" ] ||
        die "missing $build/bench/bench_${bin_of[$p]:-$p} (configure with -DGOC_BENCH=ON and build)"
done

# One run at a time per build directory: two would share the logs (each run
# starts by clearing them) and the CPUs, and measure nothing useful.
exec 9>"$build/.bench.lock"
if ! flock -n 9; then
    echo "bench/run.sh: another run on $build is in progress; waiting for it ..." >&2
    flock 9
fi

# ---- the machine -------------------------------------------------------------

cpu="$(grep -m 1 -E '^(model name|Model|Hardware)[[:space:]]*:' /proc/cpuinfo | cut -d: -f2- |
    sed 's/^ *//' || true)"
machine="${cpu:-$(uname -m)}, $(nproc) CPUs (nproc), Linux $(uname -r)"
when="$(date '+%Y-%m-%d %H:%M:%S %Z')"
commit="$(git -C "$src" rev-parse --short HEAD 2>/dev/null || echo 'none')"
echo "goc benchmarks — $when"
load="$(cut -d' ' -f1-3 /proc/loadavg)"
echo "machine: $machine; load average $load at start"

# ---- the Go twins ------------------------------------------------------------

command -v go >/dev/null || die "go not found (apt-get install golang-go)"
echo "building the Go twins into $build/go/ ..." >&2
(
    cd "$src/go"
    export GOFLAGS=-mod=mod GOPROXY=off GO111MODULE=on
    export GOCACHE="$build/gocache" GOPATH="$build/gopath"
    go build -o "$build/go/" ./...
) || die "building the Go programs in bench/go failed"

# run_tables: bench/http.sh's and bench/gateway.sh's rows, as chosen; their
# Markdown appended to bench.md. 1 if either failed.
run_tables() {
    local rc=0
    if [ $run_http -eq 1 ]; then
        rm -f "$build/bench-http.md"
        BENCH_HTTP_MD="$build/bench-http.md" "$src/http.sh" "$build" || rc=1
        [ ! -f "$build/bench-http.md" ] ||
            { [ ! -s "$build/bench.md" ] || echo; cat "$build/bench-http.md"; } >>"$build/bench.md"
    fi
    if [ $run_gateway -eq 1 ]; then
        rm -f "$build/bench-gateway.md"
        BENCH_GATEWAY_MD="$build/bench-gateway.md" "$src/gateway.sh" "$build" || rc=1
        [ ! -f "$build/bench-gateway.md" ] ||
            { [ ! -s "$build/bench.md" ] || echo; cat "$build/bench-gateway.md"; } >>"$build/bench.md"
    fi
    return $rc
}

# The HTTP and gateway rows alone: their own scripts, tables and Markdown
# (bench.md).
if [ ${#programs[@]} -eq 0 ]; then
    : >"$build/bench.md"
    run_tables || exit 1
    exit 0
fi

# ---- running -----------------------------------------------------------------

logs="$build/bench-logs"
rm -rf "$logs"
mkdir -p "$logs"

declare -A values=() # [impl,row] -> space-separated values, one per rep
declare -A units=()  # [row] -> unit, as printed by the programs
declare -A failed=() # [impl,program] -> reason
status=0

# run_one IMPL PROGRAM REP: run one program once and record its RESULT rows.
# Returns 1 (after saying why) if it failed.
run_one() {
    local impl=$1 prog=$2 rep=$3 bin
    case $impl in
    goc) bin="$build/bench/bench_${bin_of[$prog]:-$prog}" ;;
    go) bin="$build/go/${bin_of[$prog]:-$prog}" ;;
    esac
    local out="$logs/$prog.$impl.$rep.out" err="$logs/$prog.$impl.$rep.err"

    # switch and pingpong-p1 run on one P, pingpong-p2 on two (procs_of);
    # everything else on the defaults (all CPUs).
    local -a envs=(env -u GOC_MAXPROCS -u GOMAXPROCS)
    [ -z "${procs_of[$prog]:-}" ] ||
        envs+=(GOC_MAXPROCS="${procs_of[$prog]}" GOMAXPROCS="${procs_of[$prog]}")
    [ -z "${env_of[$prog]:-}" ] || envs+=(${env_of[$prog]})

    local rc=0
    "${envs[@]}" timeout --kill-after=10 "$timeout_s" "$bin" >"$out" 2>"$err" || rc=$?
    local why=""
    if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
        why="timed out after ${timeout_s}s"
    elif [ $rc -gt 128 ]; then
        why="killed by signal $((rc - 128)) ($(kill -l $((rc - 128)) 2>/dev/null || echo '?'))"
    elif [ $rc -ne 0 ]; then
        why="exit status $rc"
    fi

    local row line value unit
    for row in ${rows_of[$prog]}; do
        [ -z "$why" ] || break
        line="$(grep -E "^RESULT name=$row unit=[^ ]+ value=[^ ]+\$" "$out" | tail -n 1 || true)"
        if [ -z "$line" ]; then
            why="printed no 'RESULT name=$row' line"
            break
        fi
        value="${line##*value=}"
        unit="${line#* unit=}"
        unit="${unit%% *}"
        if ! [[ "$value" =~ ^[0-9]+(\.[0-9]+)?$ ]]; then
            why="printed a RESULT value that is not a number: '$line'"
            break
        fi
        values[$impl,$row]+="$value "
        units[$row]="$unit"
    done

    if [ -n "$why" ]; then
        failed[$impl,$prog]="$why"
        {
            echo
            echo "bench/run.sh: FAIL: $impl $prog (rep $rep): $why"
            echo "  command: ${envs[*]} $bin"
            echo "  stdout ($out), last lines:"
            tail -n 5 "$out" | sed 's/^/    /'
            echo "  stderr ($err), last lines:"
            tail -n 20 "$err" | sed 's/^/    /'
        } >&2
        return 1
    fi
    return 0
}

# show IMPL PROGRAM: the values just recorded for PROGRAM's rows, for the log.
show() {
    local impl=$1 prog=$2 row last s=""
    for row in ${rows_of[$prog]}; do
        last="${values[$impl,$row]% }"
        s+=" $row=${last##* } ${units[$row]}"
    done
    echo "$s"
}

for prog in "${programs[@]}"; do
    for ((rep = 1; rep <= reps; rep++)); do
        for impl in goc go; do
            [ -z "${failed[$impl,$prog]:-}" ] || continue # one failure is enough
            printf '%-11s rep %d/%d %-3s ...' "$prog" "$rep" "$reps" "$impl" >&2
            if run_one "$impl" "$prog" "$rep"; then
                show "$impl" "$prog" >&2
            else
                status=1
            fi
        done
    done
done

# ---- the table ---------------------------------------------------------------

# median "V V ...": the median of the space-separated numbers given.
median() {
    tr -s ' ' '\n' <<<"$1" | grep . | sort -g | awk '{ v[NR] = $1 }
        END { if (NR % 2) printf "%.6f", v[(NR + 1) / 2];
              else printf "%.6f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# human UNIT V: V for a reader.
human() {
    case $1 in
    ops/s) awk -v v="$2" 'BEGIN { if (v >= 1e6) printf "%.2f M/s", v / 1e6;
                                  else printf "%.1f k/s", v / 1e3 }' ;;
    ns/op) awk -v v="$2" 'BEGIN { printf "%.1f ns", v }' ;;
    ms) awk -v v="$2" 'BEGIN { printf "%.1f ms", v }' ;;
    us) awk -v v="$2" 'BEGIN { printf "%.1f us", v }' ;;
    KiB) awk -v v="$2" 'BEGIN { printf "%.2f KiB", v }' ;;
    *) echo "$2 $1" ;;
    esac
}

# ratio UNIT GOC GO: how many times better goc is (rates: goc/Go; times and
# sizes: Go/goc), or "inf" when the denominator is 0.
ratio() {
    awk -v u="$1" -v c="$2" -v g="$3" 'BEGIN {
        hi = (u == "ops/s"); num = hi ? c : g; den = hi ? g : c;
        if (den == 0) print "inf"; else printf "%.2f", num / den }'
}

# goal_text ROW: the goal, for a reader.
goal_text() {
    local kind limit unit
    read -r kind limit unit <<<"${goal[$1]}"
    if [ "$kind" = ratio ]; then
        echo ">= ${limit}x Go"
    else
        echo "<= $limit $unit"
    fi
}

# goal_met ROW GOC RATIO: "met" or "MISSED".
goal_met() {
    local kind limit
    read -r kind limit _ <<<"${goal[$1]}"
    if [ "$kind" = ratio ]; then
        awk -v r="$3" -v l="$limit" 'BEGIN { print (r == "inf" || r + 0 >= l) ? "met" : "MISSED" }'
    else
        awk -v v="$2" -v l="$limit" 'BEGIN { print (v + 0 <= l) ? "met" : "MISSED" }'
    fi
}

gover="$(go version | awk '{print $3}')"

header=(workload goc Go ratio goal)
table=() # rows of tab-separated cells
for prog in "${programs[@]}"; do
    for row in ${rows_of[$prog]}; do
        if [ -n "${failed[goc,$prog]:-}" ] || [ -n "${failed[go,$prog]:-}" ]; then
            c="FAIL" g="FAIL" r="-" gl="$(goal_text "$row"): -"
            [ -n "${failed[goc,$prog]:-}" ] ||
                c="$(human "${units[$row]}" "$(median "${values[goc,$row]}")")"
            [ -n "${failed[go,$prog]:-}" ] ||
                g="$(human "${units[$row]}" "$(median "${values[go,$row]}")")"
        else
            cm="$(median "${values[goc,$row]}")" gm="$(median "${values[go,$row]}")"
            c="$(human "${units[$row]}" "$cm")" g="$(human "${units[$row]}" "$gm")"
            r="$(ratio "${units[$row]}" "$cm" "$gm")"
            gl="$(goal_text "$row"): $(goal_met "$row" "$cm" "$r")"
            r="${r}x"
        fi
        table+=("${label[$row]}"$'\t'"$c"$'\t'"$g"$'\t'"$r"$'\t'"$gl")
    done
done

# The terminal table.
echo
echo "goc benchmarks — $when"
echo "machine: $machine; $gover; goc commit $commit"
echo "median of $reps run(s) each; ratio > 1 means goc is better"
echo
{
    (IFS=$'\t'; echo "${header[*]}")
    printf '%s\n' "${table[@]}"
} | awk -F'\t' '
    { for (i = 1; i <= NF; i++) { cell[NR, i] = $i; if (length($i) > w[i]) w[i] = length($i) } n = NF }
    END {
        for (r = 1; r <= NR; r++) {
            line = ""
            for (i = 1; i <= n; i++) line = line sprintf(i == 1 ? "%-*s" : "  %*s", w[i], cell[r, i])
            print line
            if (r == 1) { sep = ""; for (i = 1; i <= n; i++) sep = sep (i == 1 ? "" : "  ") sprintf("%*s", w[i], ""); gsub(/ /, "-", sep); print sep }
        }
    }'

# The same as Markdown, for the README.
{
    echo "Measured $when on $machine (load average $load at start); $gover;"
    echo "goc commit $commit."
    echo "Median of $reps run(s) of each program; ratio > 1 means goc is better"
    echo "(goc/Go for rates, Go/goc for times and memory)."
    echo
    echo "| workload | goc | Go | ratio | goal |"
    echo "|---|--:|--:|--:|---|"
    for line in "${table[@]}"; do
        IFS=$'\t' read -r w c g r gl <<<"$line"
        r="${r/%x/×}"
        gl="${gl/>=/≥}"
        gl="${gl/<=/≤}"
        gl="${gl/x Go/× Go}"
        echo "| $w | ${c/ us/ µs} | ${g/ us/ µs} | $r | $gl |"
    done
} >"$build/bench.md"
run_tables || status=1

echo
echo "Markdown table: $build/bench.md; logs: $logs/"
[ $status -eq 0 ] || echo "bench/run.sh: some runs FAILED (see above)" >&2
exit $status
