#!/usr/bin/env bash
# build_goserver.sh OUTDIR — build goserver/ with Debian's go, offline and
# with the standard library only, its caches under OUTDIR (the build tree).
set -euo pipefail
out="${1:?usage: build_goserver.sh OUTDIR}"
if ! command -v go >/dev/null; then
    echo "go not found: tools/deps.sh test installs golang-go" >&2
    exit 1
fi
mkdir -p "$out"
cd "$(dirname "${BASH_SOURCE[0]}")/goserver"
export GOFLAGS=-mod=mod GOPROXY=off GO111MODULE=on GOTOOLCHAIN=local
export GOCACHE="$out/gocache" GOPATH="$out/gopath"
go build -o "$out/goserver" .
