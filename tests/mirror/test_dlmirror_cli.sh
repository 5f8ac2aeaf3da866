#!/bin/bash
# dlmirror's commands on small files: demo, status, verify (both verdicts),
# resync (progress lines when not on a terminal), usage errors, numbers that
# do not fit; read-only status/verify on a mirror a live process holds (they
# succeed, say "live", change no byte) while writers are refused.
# usage: test_dlmirror_cli.sh <dlmirror> <mirror_holder>
set -uo pipefail
DLM=$1 HOLDER=$2
# shellcheck disable=SC1091
. "$(dirname "$0")/../common/emulator.sh" # DL_TEST_EMULATOR: cross-architecture runs
DLM=$(emulated "$DLM") && HOLDER=$(emulated "$HOLDER") || exit 1
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
run 2 "$DLM" status --log "core 2 100 nosync" --size 1M --write --create "$d/a" "$d/b"
has "not a power of 2"
rm -f "$d/a" "$d/b" # created before the log line was refused
run 2 "$DLM" status --log "core 2 128" --size 1M --create "$d/a" "$d/b"
has "--create writes: it needs --write"
[ ! -e "$d/a" ] || fail "a refused status created a leg"

# Numbers: digits only, and they must fit (exit 2, nothing run or created).
# (A demo that took 2^64 as a count would run for ever: bounded by timeout.)
mkdir "$d/demo"
for bad in 18446744073709551616 99999999999999999999999 12x -1 +5 " 7" "" 0x10 1000001; do
    run 2 timeout 30 "$DLM" demo --dir "$d/demo" --writes "$bad"
    has "dlmirror demo: --writes"
done
has "is too large (at most 1000000)"
run 2 timeout 30 "$DLM" demo --dir "$d/demo" --seed 18446744073709551616
has "--seed 18446744073709551616 is too large"
run 2 "$DLM" demo --dir "$d/demo" --writes
has "--writes needs a value"
[ -z "$(ls -A "$d/demo")" ] || fail "a refused demo left files in $d/demo"
for bad in 18446744073709551616 16777216T 9223372036854775808 1Q 1MM -1M " 1M" ""; do
    run 2 "$DLM" resync --log "core 2 128 nosync" --size "$bad" --create "$d/a" "$d/b"
    has "dlmirror: --size"
done
[ ! -e "$d/a" ] || fail "a refused resync created a leg"
run 0 "$DLM" demo --dir "$d/demo" --writes 10 --seed 18446744073709551615
has "10 writes acknowledged"
has "demo: OK"

# Two identical new legs of 1 MiB = 16 regions of 64 KiB.
run 0 "$DLM" resync --log "core 2 128 nosync" --size 1M --create "$d/a" "$d/b"
has "resynced 0 regions, 0 bytes"
[ "$(stat -c %s "$d/a")" -eq 1048576 ] || fail "leg a was not created with 1 MiB"

# Leg b differs in region 3 (bytes 196608..262143).
printf 'hello' | dd of="$d/b" bs=1 seek=200000 conv=notrunc status=none
run 1 "$DLM" verify --write --log "core 2 128 nosync" "$d/a" "$d/b"
has "region 3 (bytes 196608..262143) differs: CLEAN in the log"
has "FAILED"
run 0 "$DLM" verify --write --log "core 1 128" "$d/a" "$d/b" # a new core log: all out of sync
has "region 3 (bytes 196608..262143) differs: dirty in the log"
has "verify: 16 regions, 1 differ, 0 of them clean in the log; 16 dirty in the log"
# Read-only (the default) needs a disk log: it says so.
run 2 "$DLM" verify --log "core 2 128 nosync" "$d/a" "$d/b"
has "a read-only status or verify needs a disk log"
log="$d/m.log"
run 2 "$DLM" status --log "disk 2 $log 128" "$d/a" "$d/b"
has "cannot open log device $log"
[ ! -e "$log" ] || fail "a read-only status created the log"

# A disk log created with `sync` (--write): everything out of sync, persisted.
run 0 "$DLM" status --write --log "disk 3 $log 128 sync" "$d/a" "$d/b"
has "0 2048 mirror 2 $d/a $d/b 0/16 1 AA 3 disk $log A"
has "dirty:    16 regions"
# Read-only: the same figures from the device, and not a byte written.
hashes() { sha256sum "$log" "$d/a" "$d/b"; }
before=$(hashes)
run 0 "$DLM" status --log "disk 3 $log 128 sync" "$d/a" "$d/b"
has "0 2048 mirror 2 $d/a $d/b 0/16 1 AA 3 disk $log A"
has "dirty:    16 regions"
has "live:     no"
has "'sync' is not applied here"
run 0 "$DLM" verify --log "disk 2 $log 128" "$d/a" "$d/b"
has "1 differ, 0 of them clean in the log; 16 dirty"
run 2 "$DLM" status --log "disk 2 $log 256" "$d/a" "$d/b"
has "has region_size 128 but the table says 256"
run 2 "$DLM" status --log "disk 3 $log 128 format=dm" "$d/a" "$d/b"
has "log device $log: "
run 2 "$DLM" status --log "disk 2 $log 128" --size 512K "$d/a" "$d/b"
has "holds 16 regions"
run 2 "$DLM" verify --log "disk 2 $log 128" "$d/a" "$d"
has "leg $d is neither a regular file nor a block device"
[ "$(hashes)" = "$before" ] || fail "a read-only status/verify changed the log or a leg"
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
run 2 "$DLM" status --write --log "core 2 128" --size 1M "$d/a" "$d/b" "$d/c"
has "less than the size"
run 0 "$DLM" status --write --log "core 2 128 nosync" "$d/a" "$d/b" "$d/c"
has "0 1024 mirror 3 $d/a $d/b $d/c 8/8 1 AAA 1 core"

# A live mirror: a process holds the log and the legs, with writes in flight
# in regions 2 and 9 (on leg 0, not on leg 1).
run 0 "$DLM" resync --log "disk 2 $log 128" "$d/a" "$d/b"
coproc HOLD { exec "$HOLDER" "disk 2 $log 128" "$d/a" "$d/b" 2 9 2>&1; }
hold_pid=$HOLD_PID hold_in=${HOLD[1]}
line=
read -r -t 30 line <&"${HOLD[0]}" || true # a bounded wait for "ready"
[ "$line" = ready ] || fail "the holder did not start: $line"
before=$(hashes)
run 0 "$DLM" status --log "disk 2 $log 128" "$d/a" "$d/b"
has " 14/16 1 AA 3 disk $log A"
has "dirty:    2 regions"
has "live:     yes, held by another process: $log $d/a $d/b"
run 0 "$DLM" verify --log "disk 2 $log 128" "$d/a" "$d/b"
has "live:     yes"
has "region 2 (bytes 131072..196607) differs: dirty in the log (expected: a write in flight"
has "region 9 (bytes 589824..655359) differs: dirty in the log (expected: a write in flight"
has "verify: 16 regions, 2 differ, 0 of them clean in the log; 2 dirty in the log"
[ "$(hashes)" = "$before" ] || fail "a read-only status/verify changed a live mirror's log or legs"
# Writers are refused: the legs and the log have an owner.
run 2 "$DLM" resync --log "core 2 128" "$d/a" "$d/b"
has "leg $d/a is in use by another process"
run 2 "$DLM" resync --log "disk 2 $log 128" "$d/a" "$d/b"
has "is in use by another process"
run 2 "$DLM" verify --write --log "disk 2 $log 128" "$d/a" "$d/b"
has "is in use by another process"
[ "$(hashes)" = "$before" ] || fail "a refused writer changed a live mirror's log or legs"
# A write behind the live mirror's back, in a region the log has clean.
printf 'y' | dd of="$d/b" bs=1 seek=800000 conv=notrunc status=none
run 1 "$DLM" verify --log "disk 2 $log 128" "$d/a" "$d/b"
has "region 12 (bytes 786432..851967) differs: CLEAN in the log"
exec {hold_in}>&- # end of file: the holder exits as if it crashed
wait "$hold_pid" || fail "the holder exited with $?"
run 1 "$DLM" verify --log "disk 2 $log 128" "$d/a" "$d/b"
has "live:     no"
has "region 2 (bytes 131072..196607) differs: dirty in the log (a resync repairs it)"

# The live status file of a resync: complete, "stopped", the right counts,
# and dlmirror status --status reads it (a garbage file is refused).
run 0 "$DLM" resync --log "core 2 128 sync" --size 1M --status "$d/st" "$d/a" "$d/b"
has "resync: 16/16 regions (100%), 1.0 MiB copied, "
has " MiB/s, ETA 0:00"
for line in "dlmirror-status 1" "writer dlmirror-resync" "state stopped" "size 1048576" \
    "region_count 16" "in_sync 16" "resync_total 16" "resync_regions 16" \
    "resync_bytes 1048576" "resync_eta 0"; do
    grep -qxF "$line" "$d/st" || fail "the status file lacks the line \"$line\""
done
[ ! -e "$d/st.tmp" ] || fail "the status file's temporary was left behind"
run 0 "$DLM" status --status "$d/st"
has "stopped "
has "resync:   done, 16 / 16 regions (100%), 1.0 MiB copied"
run 0 "$DLM" status --log "core 1 128" --write --status "$d/st" "$d/a" "$d/b"
has "the writer has exited"
printf 'dlmirror-status 1\nwriter x\nstate serving\npid 12x\n' >"$d/st"
run 2 "$DLM" status --status "$d/st"
has "line 4 is not \"key value\""
printf 'dlmirror-status 2\n' >"$d/st"
run 2 "$DLM" status --status "$d/st"
has "is not a version 1 dlmirror status file"
run 2 "$DLM" status --status "$d/nonexistent"
has "cannot open status file"

# rm-stale-socket: absent is fine, a stale socket goes, anything else stays.
run 0 "$DLM" rm-stale-socket "$d/sock"
has "no socket there"
/usr/bin/python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$d/sock"
[ -S "$d/sock" ] || fail "the test could not make a stale socket"
run 0 "$DLM" rm-stale-socket "$d/sock"
has "removed a stale socket"
[ ! -e "$d/sock" ] || fail "the stale socket is still there"
run 2 "$DLM" rm-stale-socket "$d/a"
has "is not a socket: not removed"
[ -f "$d/a" ] || fail "rm-stale-socket removed a regular file"
run 2 "$DLM" rm-stale-socket
has "usage: dlmirror rm-stale-socket SOCKET"
if [ $fails -ne 0 ]; then
    echo "test_dlmirror_cli: $fails check(s) FAILED"
    exit 1
fi
echo "test_dlmirror_cli: all checks passed"
