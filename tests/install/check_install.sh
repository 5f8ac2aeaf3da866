#!/bin/bash
# Install dirtylog into a temporary prefix and build a consumer program
# against the INSTALLED copy, then run it.
#   cmake mode:      find_package(dirtylog), dirtylog::dirtylog and
#                    dirtylog::dirtylog_static
#   pkg-config mode: cc $(pkg-config --cflags --libs dirtylog), and a static
#                    link of libdirtylog.a from pkg-config's libdir
# usage: check_install.sh <cmake|pkg-config> <build dir> <consumer source dir>
#                         <cmake> <generator> <cc> <cflags>
# Exit 77 (a ctest skip) when pkg-config is not installed.
set -euo pipefail
mode=$1 build=$2 src=$3 cmake=$4 generator=$5 cc=$6 cflags=$7
# shellcheck disable=SC1091
. "$(dirname "$0")/../common/emulator.sh" # DL_TEST_EMULATOR: cross-architecture runs

if [ "$mode" = pkg-config ] && ! command -v pkg-config >/dev/null; then
    echo "SKIP: pkg-config is not installed"
    exit 77
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/dl-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
fail() { echo "FAIL: $*"; exit 1; }

"$cmake" --install "$build" --prefix "$prefix" >"$tmp/install.log" ||
    { cat "$tmp/install.log"; fail "cmake --install"; }

# What must be installed, wherever GNUInstallDirs put the libraries.
sofile=$(find "$prefix" -name 'libdirtylog.so.0' | head -n1)
[ -n "$sofile" ] || fail "no libdirtylog.so.0 under $prefix"
libdir=$(dirname "$sofile")
for f in "$prefix/include/dirtylog.h" "$libdir/libdirtylog.so" "$libdir/libdirtylog.a" \
         "$libdir/cmake/dirtylog/dirtylogConfig.cmake" \
         "$libdir/cmake/dirtylog/dirtylogConfigVersion.cmake" \
         "$libdir/pkgconfig/dirtylog.pc"; do
    [ -e "$f" ] || fail "not installed: ${f#"$prefix"/}"
done
# The command-line tool (tools/dirtylog), if it is part of this tree.
if [ -d "$(dirname "$0")/../../tools/dirtylog" ]; then
    tool=$(find "$prefix" -type f -name dirtylog -perm -u+x | head -n1)
    [ -n "$tool" ] || fail "the dirtylog tool is not installed"
    "$(emulated "$tool")" --version | grep -q "^dirtylog " || fail "installed dirtylog --version"
fi

expected="consumer: core 2 16 nosync regions=63 clean62=0 clean61=1 sync=63 range=1"

# check_run <name> <binary> <needs libdirtylog.so.0: yes|no>
check_run() {
    local name=$1 bin=$2 shared=$3 out
    if LC_ALL=C readelf -d "$bin" | grep -q 'NEEDED.*libdirtylog\.so'; then
        [ "$shared" = yes ] || fail "$name links libdirtylog.so dynamically"
    else
        [ "$shared" = no ] || fail "$name does not link libdirtylog.so"
    fi
    out=$(LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$(emulated "$bin")") ||
        fail "$name exited with $?: $out"
    [ "$out" = "$expected" ] || fail "$name printed '$out', expected '$expected'"
    echo "ok: $name: $out"
}

case "$mode" in
cmake)
    # Only the temporary prefix may provide the package.
    "$cmake" -S "$src" -B "$tmp/consumer" -G "$generator" -DCMAKE_C_COMPILER="$cc" \
        -DCMAKE_C_FLAGS="$cflags" -DCMAKE_PREFIX_PATH="$prefix" \
        -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF \
        >"$tmp/configure.log" 2>&1 || { cat "$tmp/configure.log"; fail "consumer configure"; }
    found=$(cat "$tmp/consumer/dirtylog_dir.txt")
    case "$found" in
        "$prefix"/*) ;;
        *) fail "find_package(dirtylog) used $found, not the install prefix $prefix" ;;
    esac
    "$cmake" --build "$tmp/consumer" >"$tmp/build.log" 2>&1 ||
        { cat "$tmp/build.log"; fail "consumer build"; }
    check_run "find_package shared consumer" "$tmp/consumer/consumer_shared" yes
    check_run "find_package static consumer" "$tmp/consumer/consumer_static" no
    ;;
pkg-config)
    # PKG_CONFIG_LIBDIR too, so no other dirtylog.pc on the machine can answer.
    export PKG_CONFIG_PATH="$libdir/pkgconfig" PKG_CONFIG_LIBDIR="$libdir/pkgconfig"
    pcinc=$(pkg-config --variable=includedir dirtylog)
    pclib=$(pkg-config --variable=libdir dirtylog)
    [ "$(cd "$pcinc" && pwd -P)" = "$(cd "$prefix/include" && pwd -P)" ] ||
        fail "pkg-config includedir $pcinc is not $prefix/include"
    [ "$(cd "$pclib" && pwd -P)" = "$(cd "$libdir" && pwd -P)" ] ||
        fail "pkg-config libdir $pclib is not $libdir"
    # shellcheck disable=SC2086,SC2046 # cflags and pkg-config output are word lists
    "$cc" $cflags -Wall -Wextra -Werror -o "$tmp/consumer_shared" "$src/consumer.c" \
        $(pkg-config --cflags --libs dirtylog) || fail "pkg-config shared build"
    # shellcheck disable=SC2086,SC2046
    "$cc" $cflags -Wall -Wextra -Werror -o "$tmp/consumer_static" "$src/consumer.c" \
        $(pkg-config --cflags dirtylog) "$pclib/libdirtylog.a" \
        $(pkg-config --static --libs-only-other dirtylog) || fail "pkg-config static build"
    check_run "pkg-config shared consumer" "$tmp/consumer_shared" yes
    check_run "pkg-config static consumer" "$tmp/consumer_static" no
    ;;
*)
    fail "unknown mode $mode"
    ;;
esac
