#!/bin/bash
# The nbdkit plugin's parameters: every bad value is refused before the
# server starts (nbdkit exits non-zero, the error names the parameter and no
# client command runs); the edge values of each range are accepted (nbdkit
# serves on its socket and `--run` exits 0). Every run uses `--run`, so
# nbdkit exits by itself. Exits 77 (skipped, with a message) without nbdkit.
# usage: test_plugin_config.sh <plugin.so> [<C compiler>]
here=$(cd "${0%/*}" && pwd)
plugin=$1 cc=${2:-cc}
if ! command -v nbdkit >/dev/null 2>&1; then
    echo "SKIP: nbdkit is not installed (apt-get install nbdkit)"
    exit 77
fi
. "$here/nbdkit_preload.sh"

dir=$(mktemp -d) || exit 1
trap 'rm -rf "$dir"' EXIT
# A valid mirror: two 1 MiB legs created on the first start, a core log.
base=("log=core 1 128" "legs=$dir/a,$dir/b" size=1M create=1)
served=$dir/served # made by the --run command: nbdkit got as far as serving
failures=0

fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}

# Runs nbdkit with the base parameters and "$@"; sets rc and err (stderr).
run_nbdkit() {
    rm -f "$served"
    local env=()
    if [ -n "$DL_NBDKIT_PRELOAD" ]; then
        env=(env "LD_PRELOAD=$DL_NBDKIT_PRELOAD" "ASAN_OPTIONS=$ASAN_OPTIONS:detect_leaks=0")
    fi
    # timeout: a bound on a hang, far above the few milliseconds a run takes.
    err=$("${env[@]}" timeout 30 nbdkit -U - "$plugin" "${base[@]}" "$@" \
        --run "test -S \"\$unixsocket\" && touch '$served'" 2>&1 >/dev/null)
    rc=$?
}

# refused WORD PARAM...: nbdkit refuses PARAMs and its error contains WORD.
refused() {
    local word=$1
    shift
    run_nbdkit "$@"
    if [ "$rc" -eq 0 ] || [ -e "$served" ]; then
        fail "nbdkit accepted $* (exit $rc)"
    elif [ "$rc" -eq 124 ]; then
        fail "nbdkit hung with $*"
    elif ! grep -qF -- "$word" <<<"$err"; then
        fail "the error for $* does not name $word: $err"
    else
        echo "ok: refused $* ($err)"
    fi
}

# accepted PARAM...: nbdkit serves with PARAMs and exits 0.
accepted() {
    run_nbdkit "$@"
    if [ "$rc" -ne 0 ] || [ ! -e "$served" ]; then
        fail "nbdkit did not serve with $* (exit $rc): $err"
    else
        echo "ok: accepted $*"
    fi
}

# The base parameters alone serve (else every refusal below proves nothing).
accepted

# hot_set: adaptive or fixed, exactly.
for v in hot "" FIXED "fixed " adaptive,fixed; do
    refused "hot_set=$v:" "hot_set=$v"
done
refused "hot_set=bad:" hot_set=fixed hot_set=bad # a repeated key is checked again
accepted hot_set=fixed
accepted hot_set=adaptive

# The numbers: digits only (no sign, space, suffix or fraction), in range.
for v in -1 4294967296 18446744073709551616 12x "" " 1" +1 0x10 1.0; do
    refused "hot_cap=" "hot_cap=$v"
done
accepted hot_cap=0
accepted hot_cap=4294967295
for v in abc "" 0 8388608; do
    refused "hot_periods=" "hot_periods=$v"
done
accepted hot_periods=1
accepted hot_periods=8388607
for key in flush_interval_ms status_interval_ms; do
    for v in 0 3600001 1.5 x; do
        refused "$key=" "$key=$v"
    done
    accepted "$key=1"
    accepted "$key=3600000"
done
for v in 0 1000 1Q -512; do
    refused "size=" "size=$v"
done

# Booleans: nbdkit's parser refuses them, and the plugin names the key.
refused "create=maybe" create=maybe
refused "resync=maybe" resync=maybe

# An unknown key, and one a letter off a known one.
refused '"bogus"' bogus=1
refused '"hot_sets"' hot_sets=fixed

if [ "$failures" -ne 0 ]; then
    echo "$failures check(s) failed"
    exit 1
fi
echo "all plugin parameter checks passed"
