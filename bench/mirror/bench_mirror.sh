#!/bin/bash
# fio (nbd engine) against the dlmirror nbdkit plugin: the same two legs with a
# `disk` log and with a `core` log (no log I/O: the baseline), then a SIGKILL
# under load and the resync after it. Run by hand (not in ctest):
#
#   bench/mirror/bench_mirror.sh [BUILD_DIR] [SIZE] [SECONDS]
#
# defaults: ./build, 1G, 10. Legs and log live under /var/tmp (not tmpfs);
# override with BENCH_DIR=/some/dir. The plugin's clear period and hot set
# come from FLUSH_MS (default 1000) and HOT_PERIODS (default 1). Prints one
# line per job and the ratios.
set -euo pipefail
BUILD=${1:-build}
SIZE=${2:-1G}
SECS=${3:-10}
PLUGIN=$(cd "$BUILD" && pwd)/examples/mirror/nbdkit-dlmirror-plugin.so
DLMIRROR=$(cd "$BUILD" && pwd)/examples/mirror/dlmirror
REGION=128 # sectors: 64 KiB
FLUSH_MS=${FLUSH_MS:-1000}
HOT_PERIODS=${HOT_PERIODS:-1}
for t in nbdkit fio python3; do command -v $t >/dev/null || { echo "needs $t"; exit 2; }; done
[ -f "$PLUGIN" ] || { echo "no plugin at $PLUGIN (is nbdkit-plugin-dev installed?)"; exit 2; }

D=$(mktemp -d "${BENCH_DIR:-/var/tmp}/dlmirror-bench-XXXXXX")
NBDKIT_PID=
cleanup() {
    [ -n "$NBDKIT_PID" ] && kill -9 "$NBDKIT_PID" 2>/dev/null && wait "$NBDKIT_PID" 2>/dev/null
    rm -rf "$D"
}
trap cleanup EXIT
SOCK=$D/sock
URI="nbd+unix:///?socket=$SOCK"

stat_of() { awk -v k="$1" '$1 == k { print $2 }' "$D/stats"; }

start() { # start <log table> [extra plugin args...]
    local log=$1
    shift
    rm -f "$SOCK" "$D/stats"
    nbdkit -f -U "$SOCK" "$PLUGIN" log="$log" legs="$D/a,$D/b" stats="$D/stats" \
        flush_interval_ms="$FLUSH_MS" hot_periods="$HOT_PERIODS" "$@" &
    NBDKIT_PID=$!
    for _ in $(seq 200); do [ -S "$SOCK" ] && break; sleep 0.05; done
    [ -S "$SOCK" ] || { echo "nbdkit did not start"; exit 1; }
}

stop() { # clean shutdown: the plugin writes its final stats
    kill -TERM "$NBDKIT_PID"
    wait "$NBDKIT_PID" || true
    NBDKIT_PID=
}

fio_job() { # fio_job <rw> <bs> <iodepth>: prints "iops MiB/s"
    fio --name=mirror --ioengine=nbd --uri="$URI" --rw="$1" --bs="$2" --iodepth="$3" \
        --size="$SIZE" --runtime="$SECS" --time_based --randrepeat=0 \
        --output-format=json --output="$D/fio.json" >/dev/null
    python3 -c 'import json,sys; w=json.load(open(sys.argv[1]))["jobs"][0]["write"]
print("%.0f %.1f" % (w["iops"], w["bw_bytes"] / 1048576))' "$D/fio.json"
}

echo "legs: 2 x $SIZE in $D; regions 64 KiB; $SECS s per job; flush_interval_ms=$FLUSH_MS hot_periods=$HOT_PERIODS; $(nproc) CPUs"
echo "filling the legs (so no job pays for block allocation)…"
BYTES=$(python3 -c 'import sys
s=sys.argv[1]; m={"K":10,"M":20,"G":30,"T":40}
print(int(s[:-1]) << m[s[-1]] if s[-1] in m else int(s))' "$SIZE")
for leg in a b; do
    dd if=/dev/zero of="$D/$leg" bs=1M count=$((BYTES >> 20)) conv=fsync status=none
done

declare -A IOPS MIBS FLUSHES
for job in "randwrite 4k 32" "write 64k 32"; do
    set -- $job
    for log in core disk; do
        rm -f "$D/log"
        if [ $log = core ]; then table="core 2 $REGION nosync"; else table="disk 3 $D/log $REGION nosync"; fi
        start "$table"
        read -r iops mibs < <(fio_job "$1" "$2" "$3")
        stop
        w=$(stat_of writes)
        f=$(stat_of log_flushes)
        per=$(python3 -c "print('%.2f' % (1000.0 * $f / max($w, 1)))")
        IOPS[$1.$log]=$iops
        MIBS[$1.$log]=$mibs
        FLUSHES[$1.$log]=$per
        printf '%-9s bs=%-3s iodepth=%s log=%-4s  %8s IOPS %8s MiB/s  writes=%s log_flushes=%s (%s per 1000 writes) cold_begins=%s clears=%s\n' \
            "$1" "$2" "$3" "$log" "$iops" "$mibs" "$w" "$f" "$per" "$(stat_of cold_begins)" "$(stat_of clears)"
    done
done
ratio() { python3 -c "print('%.3f' % ($1 / $2))"; }
echo "ratio disk/core, 4 KiB random writes (IOPS):   $(ratio "${IOPS[randwrite.disk]}" "${IOPS[randwrite.core]}")  (goal >= 0.9)"
echo "ratio disk/core, 64 KiB sequential (MiB/s):    $(ratio "${MIBS[write.disk]}" "${MIBS[write.core]}")"

# Crash: random writes with a disk log, SIGKILL mid-run, restart, resync.
rm -f "$D/log"
start "disk 3 $D/log $REGION nosync"
fio --name=crash --ioengine=nbd --uri="$URI" --rw=randwrite --bs=4k --iodepth=32 \
    --size="$SIZE" --runtime=60 --time_based --output-format=json >/dev/null 2>&1 &
FIO_PID=$!
sleep "$(( SECS > 3 ? 3 : SECS ))" # a benchmark: let the writes run a while
kill -9 "$NBDKIT_PID"
wait "$NBDKIT_PID" 2>/dev/null || true
NBDKIT_PID=
wait "$FIO_PID" 2>/dev/null || true
start "disk 2 $D/log $REGION"
for _ in $(seq 600); do [ "$(stat_of resync_done)" = 1 ] && break; sleep 0.05; done
dirty=$(stat_of dirty_at_start)
rbytes=$(stat_of resync_bytes)
rbytes_region=$(stat_of region_bytes)
size=$(stat_of size)
stop
echo "after SIGKILL: dirty regions $dirty, bytes resynced $rbytes"
echo "  bytes resynced / (dirty regions x region size): $(ratio "$rbytes" "$((dirty * rbytes_region))")  (goal exactly 1)"
echo "  bytes resynced / device size:                   $(python3 -c "print('%.6f' % ($rbytes / $size))")"
"$DLMIRROR" verify --log "disk 2 $D/log $REGION" "$D/a" "$D/b" | tail -1
