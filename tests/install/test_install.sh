#!/usr/bin/env bash
# Installs goc into a temporary prefix and builds a consumer against it the
# three ways a user would: CMake find_package(goc) with goc::goc (libgoc.so)
# and with goc::goc_static (libgoc.a), and pkg-config (shared, and static via
# Libs.private / Requires.private). Every program is run and must print what
# a goroutine sent it on a channel.
#
#   tests/install/test_install.sh              configure and build goc first
#   tests/install/test_install.sh BUILD_DIR    install an already-built tree
#
# Environment: CMAKE (default cmake), CC (default cc), PKG_CONFIG (default
# pkg-config), KEEP_TMP=1 to leave the temporary directory behind.
set -euo pipefail

src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cmake=${CMAKE:-cmake}
cc=${CC:-cc}
pkg_config=${PKG_CONFIG:-pkg-config}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/goc-install.XXXXXX")
cleanup() {
  if [[ ${KEEP_TMP:-0} == 1 ]]; then echo "kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

# Runs a command quietly; on failure shows its output and fails.
step() {
  local log=$tmp/step.log
  if ! "$@" >"$log" 2>&1; then
    echo "FAILED: $*" >&2
    cat "$log" >&2
    exit 1
  fi
}

fail() { echo "FAILED: $*" >&2; exit 1; }

if [[ $# -ge 1 ]]; then
  build=$1
else
  build=$tmp/build
  echo "-- building goc in $build"
  step "$cmake" -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER="$cc"
  step "$cmake" --build "$build" -j "$(nproc 2>/dev/null || echo 2)"
fi

prefix=$tmp/prefix
echo "-- installing into $prefix"
step "$cmake" --install "$build" --prefix "$prefix"

# The layout users rely on (lib or a multiarch lib/<triplet>, as configured).
cfgdir=$(find "$prefix" -path '*/cmake/goc/gocConfig.cmake' -printf '%h\n' | head -n 1)
[[ -n $cfgdir ]] || fail "no gocConfig.cmake under $prefix"
libdir=$(dirname "$(dirname "$cfgdir")")
for f in "$prefix/include/goc.h" "$libdir/libgoc.a" "$libdir/libgoc.so" \
         "$libdir/pkgconfig/goc.pc" "$cfgdir/gocConfigVersion.cmake" \
         "$cfgdir/gocTargets.cmake" "$cfgdir/gocStaticTargets.cmake"; do
  [[ -e $f ]] || fail "not installed: ${f#"$prefix"/}"
done

# The consumer: a goroutine sends 42 on an unbuffered channel to main.
app=$tmp/app
mkdir -p "$app"
cat >"$app/main.c" <<'EOF'
#include <goc.h>
#include <stdio.h>

static void sender(void *arg)
{
    int v = 42;
    goc_chan_send(arg, &v);
}

static int main_fn(void *arg)
{
    (void)arg;
    goc_chan *c = goc_chan_make(sizeof(int), 0);
    int v = 0;
    if (c == NULL || goc_go(sender, c) < 0 || goc_chan_recv(c, &v) < 0)
        return 2;
    goc_chan_release(c);
    printf("received %d\n", v);
    return v == 42 ? 0 : 1;
}

int main(void) { return goc_run(main_fn, NULL); }
EOF
cat >"$app/CMakeLists.txt" <<'EOF'
cmake_minimum_required(VERSION 3.18)
project(goc_consumer LANGUAGES C)
find_package(goc REQUIRED)
add_executable(app main.c)
target_link_libraries(app PRIVATE ${GOC_TARGET})
EOF

# Runs a built consumer (libgoc.so from the prefix) and checks its output.
check_run() {
  local exe=$1 out
  out=$(LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$exe") ||
    fail "$exe exited with $? (output: $out)"
  [[ $out == "received 42" ]] || fail "$exe printed '$out'"
}

# Whether exe needs libgoc.so, and that the one it loads is the installed one.
check_shared() {
  local exe=$1 want=$2 ldd_out
  ldd_out=$(LD_LIBRARY_PATH="$libdir" ldd "$exe")
  if [[ $want == yes ]]; then
    grep -q "libgoc\.so.* => $libdir/libgoc\.so" <<<"$ldd_out" ||
      fail "$exe does not load $libdir/libgoc.so: $ldd_out"
  elif grep -q 'libgoc\.so' <<<"$ldd_out"; then
    fail "$exe needs libgoc.so but should hold libgoc.a: $ldd_out"
  fi
}

for target in goc::goc goc::goc_static; do
  echo "-- find_package(goc) + $target"
  bdir=$tmp/consumer-${target#goc::}
  step "$cmake" -S "$app" -B "$bdir" -DCMAKE_C_COMPILER="$cc" \
       -DCMAKE_PREFIX_PATH="$prefix" -DGOC_TARGET="$target" \
       -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF
  found=$(sed -n 's/^goc_DIR:PATH=//p' "$bdir/CMakeCache.txt")
  [[ $found == "$cfgdir" ]] || fail "find_package(goc) used $found, not $cfgdir"
  step "$cmake" --build "$bdir"
  check_run "$bdir/app"
  if [[ $target == goc::goc ]]; then check_shared "$bdir/app" yes; else check_shared "$bdir/app" no; fi
done

echo "-- pkg-config"
export PKG_CONFIG_PATH=$libdir/pkgconfig
[[ $("$pkg_config" --variable=includedir goc) -ef $prefix/include ]] ||
  fail "goc.pc includedir is $("$pkg_config" --variable=includedir goc)"
# shellcheck disable=SC2046 # word splitting of the flags is intended
step "$cc" -o "$tmp/app-pc" "$app/main.c" $("$pkg_config" --cflags --libs goc)
check_run "$tmp/app-pc"
check_shared "$tmp/app-pc" yes
# Static: the archive itself, then everything `--static` adds for it.
static_libs=$("$pkg_config" --static --libs goc)
[[ $static_libs == *-lgoc* ]] || fail "pkg-config --static --libs goc: $static_libs"
# shellcheck disable=SC2046,SC2086
step "$cc" -o "$tmp/app-pc-static" "$app/main.c" $("$pkg_config" --cflags goc) \
     ${static_libs/-lgoc/-l:libgoc.a}
check_run "$tmp/app-pc-static"
check_shared "$tmp/app-pc-static" no

echo "-- ok: find_package(goc) with goc::goc and goc::goc_static, pkg-config shared and static"
