#!/bin/bash
# A resync keeps holes: a sparse 1 GiB leg 0 with a few data extents, copied
# to a new leg 1 (and to a leg 2 full of old data where leg 0 has holes),
# leaves legs 1 and 2 about as allocated as leg 0 (st_blocks), with equal
# contents. Skips (77) where the file system has no holes to keep.
# usage: test_sparse_resync.sh <dlmirror>
set -uo pipefail
DLM=$1
# shellcheck disable=SC1091
. "$(dirname "$0")/../common/emulator.sh"
DLM=$(emulated "$DLM") || exit 1
fails=0
d=$(mktemp -d "${TMPDIR:-/tmp}/dlmirror-sparse-XXXXXX")
trap 'rm -rf "$d"' EXIT
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
blocks() { stat -c %b "$1"; } # 512-byte units

truncate -s 1G "$d/a"
if [ "$(blocks "$d/a")" -ne 0 ]; then
    echo "SKIP: $d does not keep a truncated file sparse"
    exit 77
fi
# Data extents in leg 0: 3 MiB of it, at the start, mid-region, past 512 MiB,
# at the very end; plus a 1 MiB extent of allocated zeros (copied as a hole).
for spec in 0:1024 3000:512 600000:1024 1048064:512; do
    head -c $((${spec#*:} * 1024)) /dev/urandom |
        dd of="$d/a" bs=1k seek="${spec%:*}" conv=notrunc status=none
done
dd if=/dev/zero of="$d/a" bs=1M seek=700 count=1 conv=notrunc status=none
# Leg 2: 8 MiB of old data where leg 0 has holes (and over a data extent).
truncate -s 1G "$d/c"
head -c 8M /dev/urandom | dd of="$d/c" bs=1M seek=100 conv=notrunc status=none
head -c 1M /dev/urandom | dd of="$d/c" bs=1k seek=600000 conv=notrunc status=none

src=$(blocks "$d/a")
echo "leg 0: $src blocks of 512 bytes allocated"
out=$("$DLM" resync --log "core 2 2048 sync" --size 1G --create "$d/a" "$d/b" "$d/c" 2>&1)
rc=$?
echo "$out"
[ "$rc" -eq 0 ] || fail "resync exited $rc"
grep -qF "resynced 1024 regions, 1073741824 bytes" <<<"$out" || fail "not a full resync"
cmp "$d/a" "$d/b" || fail "leg 1 differs from leg 0"
cmp "$d/a" "$d/c" || fail "leg 2 differs from leg 0"
# "About as allocated": the 2 MiB of zeros and data extents (3.5 MiB of it)
# allow a little file-system rounding; a resync that copied zeros would
# allocate 1 GiB (2097152 blocks).
for leg in b c; do
    n=$(blocks "$d/$leg")
    echo "leg $leg: $n blocks"
    [ "$n" -le $((src + 256)) ] || fail "leg $leg has $n blocks allocated, leg 0 $src"
    [ "$n" -ge $((src - 2048 - 256)) ] || fail "leg $leg has $n blocks, fewer than leg 0's data"
done
[ "$fails" -eq 0 ] && echo "test_sparse_resync: all checks passed" && exit 0
echo "test_sparse_resync: $fails check(s) FAILED"
exit 1
