#!/bin/bash
# Run the examples and check their exit status and the lines they must print.
# usage: check_examples.sh <dl_basic> <dl_custom_type>
set -euo pipefail
status=0
# shellcheck disable=SC1091
. "$(dirname "$0")/../common/emulator.sh" # DL_TEST_EMULATOR: cross-architecture runs

# expect <output> <fixed line>...: each line must appear exactly.
expect() {
    local out=$1 name=$2
    shift 2
    for line in "$@"; do
        if ! grep -qxF -- "$line" <<<"$out"; then
            echo "FAIL: $name did not print: $line"
            status=1
        fi
    done
}

run() {
    local name=$1
    shift
    local out rc=0
    out=$("$@" 2>&1) || rc=$?
    printf '%s\n' "--- $name (exit $rc)" "$out"
    if [ $rc -ne 0 ]; then
        echo "FAIL: $name exited with $rc"
        status=1
    fi
    REPLY=$out
}

run dl_basic "$(emulated "$1")"
expect "$REPLY" dl_basic \
    "regions: 2048 of 1024 sectors" \
    "region 7 clean after mark: 0" \
    "region 7 clean after clear: 1" \
    "recovered 2048 regions" \
    "status INFO: 1 core" \
    "status TABLE: core 1 1024" \
    "sync count: 2048 / 2048"

run dl_custom_type "$(emulated "$2")"
expect "$REPLY" dl_custom_type \
    "registered: counting" \
    "bad table line: Invalid argument: region_size 1000 is not a power of 2" \
    "clean: 1 1 0" \
    "data flushes: 1" \
    "mark beyond the end: Region out of range" \
    "status INFO: 3 counting 3 2" \
    "status TABLE: counting 2 1024 nosync" \
    "unregister while in use: Busy (still in use)" \
    "after unregister: gone"

[ $status -eq 0 ] && echo "ok: both examples ran and printed what they should"
exit $status
