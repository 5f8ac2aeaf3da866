#!/bin/bash
# dlmirror creates legs larger than 4 GiB (sparse) on every architecture:
# on a 32-bit build without a 64-bit off_t, ftruncate would size them modulo
# 4 GiB (a 5 GiB request gave 1 GiB legs).
# usage: test_large_mirror.sh <dlmirror>
set -uo pipefail
# shellcheck disable=SC1091
. "$(dirname "$0")/../common/emulator.sh" # DL_TEST_EMULATOR: cross-architecture runs
d=$(mktemp -d "${TMPDIR:-/tmp}/dl-large-mirror-XXXXXX")
trap 'rm -rf "$d"' EXIT
DLM=$(emulated "$1")
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

five_gib=$((5 * 1024 * 1024 * 1024))
"$DLM" resync --log "core 2 2048 nosync" --size 5G --create "$d/a.img" "$d/b.img" ||
    fail "dlmirror resync --size 5G --create exited with $?"
for leg in a b; do
    size=$(stat -c %s "$d/$leg.img" 2>/dev/null || echo missing)
    [ "$size" = "$five_gib" ] || fail "leg $leg.img has size $size, expected $five_gib"
    # sparse: a nosync resync copies nothing, so (almost) nothing is allocated
    kib=$(du -k "$d/$leg.img" | cut -f1)
    [ "$kib" -lt 1024 ] || fail "leg $leg.img allocates $kib KiB: not sparse"
done
[ $fails -eq 0 ] && echo "ok: two sparse 5 GiB legs"
exit $((fails != 0))
