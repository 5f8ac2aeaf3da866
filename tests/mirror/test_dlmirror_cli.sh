#!/bin/bash
# dlmirror's commands on small files: demo, status, verify (both verdicts),
# resync (progress lines when not on a terminal), usage errors.
# usage: test_dlmirror_cli.sh <dlmirror>
set -uo pipefail
DLM=$1
fails=0
d=$(mktemp -d "${TMPDIR:-/tmp}/dlmirror-cli-XXXXXX")
trap 'rm -rf "$d"' EXIT

fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
# run <expected exit> <command...>: output in $OUT
run() {
    local want=$1 rc=0
    shift
    OUT=$("$@" 2>&1) || rc=$?
    printf '%s\n' "--- $* (exit $rc)" "$OUT"
    [ "$rc" -eq "$want" ] || fail "exit $rc, expected $want: $*"
}
has() { grep -qF -- "$1" <<<"$OUT" || fail "output lacks: $1"; }

run 0 "$DLM" demo --dir "$d"
has "check:   the "
has "demo: OK"
[ -z "$(ls -A "$d")" ] || fail "demo left files in $d"

run 0 "$DLM" --help
has "dlmirror verify"
run 2 "$DLM" verify "$d/a" "$d/b"
has "--log"
run 2 "$DLM" frobnicate
run 2 "$DLM" status --log "core 2 100 nosync" --size 1M --create "$d/a" "$d/b"
has "not a power of 2"

# Two identical new legs of 1 MiB = 16 regions of 64 KiB.
run 0 "$DLM" resync --log "core 2 128 nosync" --size 1M --create "$d/a" "$d/b"
has "resynced 0 regions, 0 bytes"
[ "$(stat -c %s "$d/a")" -eq 1048576 ] || fail "leg a was not created with 1 MiB"

# Leg b differs in region 3 (bytes 196608..262143).
printf 'hello' | dd of="$d/b" bs=1 seek=200000 conv=notrunc status=none
run 1 "$DLM" verify --log "core 2 128 nosync" "$d/a" "$d/b"
has "region 3 (bytes 196608..262143) differs: CLEAN in the log"
has "FAILED"
run 0 "$DLM" verify --log "core 1 128" "$d/a" "$d/b" # a new core log: all out of sync
has "region 3 (bytes 196608..262143) differs: dirty in the log"
has "verify: 16 regions, 1 differ, 0 of them clean in the log; 16 dirty in the log"

# A disk log created with `sync`: everything out of sync, persisted.
log="$d/m.log"
run 0 "$DLM" status --log "disk 3 $log 128 sync" "$d/a" "$d/b"
has "0 2048 mirror 2 $d/a $d/b 0/16 1 AA 3 disk $log A"
has "dirty:    16 regions"
run 0 "$DLM" verify --log "disk 2 $log 128" "$d/a" "$d/b"
has "1 differ, 0 of them clean in the log; 16 dirty"
run 0 "$DLM" resync --log "disk 2 $log 128" "$d/a" "$d/b"
has "resync: 16/16 regions (100%), 1.0 MiB copied"
has "resynced 16 regions, 1048576 bytes (1.0 MiB)"
cmp -s "$d/a" "$d/b" || fail "legs differ after resync"
run 0 "$DLM" status --log "disk 2 $log 128" "$d/a" "$d/b"
has " 16/16 1 AA 3 disk $log A"
has "dirty:    0 regions"
run 0 "$DLM" verify --log "disk 2 $log 128" "$d/a" "$d/b"
has "OK: the legs are identical"
run 0 "$DLM" resync --log "disk 2 $log 128" "$d/a" "$d/b"
has "resynced 0 regions, 0 bytes"

# A write the log never heard of: verify must catch it.
printf 'x' | dd of="$d/b" bs=1 seek=1048575 conv=notrunc status=none
run 1 "$DLM" verify --log "disk 2 $log 128" "$d/a" "$d/b"
has "region 15 (bytes 983040..1048575) differs: CLEAN in the log"

# Three legs, one shorter than --size is refused; --size smaller than legs is fine.
run 0 "$DLM" resync --log "core 2 128 sync" --size 1M --create "$d/a" "$d/b" "$d/c"
has "resynced 16 regions, 1048576 bytes"
cmp -s "$d/a" "$d/c" && cmp -s "$d/a" "$d/b" || fail "3 legs differ after resync"
truncate -s 512K "$d/c"
run 2 "$DLM" status --log "core 2 128" --size 1M "$d/a" "$d/b" "$d/c"
has "less than the size"
run 0 "$DLM" status --log "core 2 128 nosync" "$d/a" "$d/b" "$d/c"
has "0 1024 mirror 3 $d/a $d/b $d/c 8/8 1 AAA 1 core"

if [ $fails -ne 0 ]; then
    echo "test_dlmirror_cli: $fails check(s) FAILED"
    exit 1
fi
echo "test_dlmirror_cli: all checks passed"
