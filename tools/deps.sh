#!/usr/bin/env bash
# tools/deps.sh [build|test|bench|slow|sanitize|fuzz|browser] — make sure the Debian packages a
# make target needs are installed. As root it installs what is missing with
# apt-get; otherwise it prints the exact apt-get line and fails.
set -euo pipefail

need=(cmake make gcc pkg-config libunwind-dev libc-ares-dev libssl-dev zlib1g-dev ca-certificates valgrind
      libyaml-dev libjansson-dev) # libyaml, jansson: the gateway's configuration and etcd's JSON
case "${1:-build}" in
test) need+=(libcriterion-dev gdb media-types) ;; # gdb: tests/runtime/test_gdb.c; media-types: /etc/mime.types
bench) need+=(golang-go) ;;
sanitize) need+=(libcriterion-dev) ;; # gcc brings libasan8/libtsan2; setarch is util-linux
fuzz) need+=(clang libclang-rt-14-dev) ;; # libclang-rt: libFuzzer and clang's ASan/UBSan runtimes
browser) need+=(libcriterion-dev chromium) ;; # make test-browser: headless Chromium on /debug/stats
esac
# Real clients and servers beside goc's httpd: tests/peers (make test),
# bench/http.sh (make bench), slowloris (make check-slow).
case "${1:-build}" in
test) need+=(curl python3 golang-go openssl nginx-light etcd-server) ;; # openssl: tests make their own CA and certificates; etcd: the gateway follows it
bench) need+=(wrk nginx-light curl openssl) ;; # curl, openssl: the HTTPS rows (downloads, certificates)
slow) need+=(slowhttptest curl) ;;
esac

missing=()
for p in "${need[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    echo "goc: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q "${missing[@]}" >/dev/null 2>&1 ||
        { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q "${missing[@]}" >/dev/null; }
else
    echo "goc: missing packages; run: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
fi
