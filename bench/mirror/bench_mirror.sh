#!/bin/bash
# Steady-state 4 KiB random-write IOPS (fio, nbd engine) of the dlmirror
# nbdkit plugin, against the cost of the mirror itself, then a SIGKILL under
# load and a check of the resync after it. Run by hand (not in ctest):
#
#   bench/mirror/bench_mirror.sh [BUILD_DIR] [SIZE] [SECONDS]
#
# defaults: ./build, 1G, 5 (measured seconds per job and round): about 6 min
# of fio, 7 to 9 min in all on the loaded 2-CPU VM of docs/performance.md.
#
# Three configurations on the same two legs (regular files filled with zeros
# first, so no job pays for block allocation):
#   disk  the mirror with a `disk` log           (log=disk 3 LOG 128 nosync)
#   core  the mirror with a `core` log (no log I/O: what the log costs)
#   file  nbdkit's own `file` plugin on leg a    (no mirror: what the mirror costs)
# Four jobs: iodepth 1, 8, 32, and 4 jobs (4 NBD connections) at iodepth 8.
#
# Steady state: every server first runs a warm-up of random 4 KiB writes at
# iodepth 32 until it has written WARM_PER_REGION writes per 64 KiB region on
# average (default 8: each region touched at least once with probability
# 1 - e^-8 = 99.97 %, so the first-touch marks are past; at 4, the 2 % left
# untouched were most of the disk log's cold begins at qd1 once the hot set
# keeps every region dirty), for at most WARM_MAX_SECS (default 30); then
# each job runs RAMP_SECS (default 2, fio's ramp_time: not counted) before
# its measured SECONDS.
#
# The machine is noisy, so the configurations alternate in ROUNDS rounds
# (default 3): disk core file, disk core file, ... Each round starts a fresh
# server (and a fresh log) per configuration. The summary prints, per job, the
# median IOPS of every configuration and the median (min-max) over the rounds
# of the per-round ratios disk/core and core/file, with the goals of issue 12
# (disk/core >= 0.95 at qd32, >= 0.9 at qd1) marked met or MISSED.
#
# The crash check runs first, while the legs are identical: random writes at
# iodepth 32 with a fresh disk log, SIGKILL once the plugin has acknowledged
# CRASH_WRITES (default 10000) of them, restart, resync. It fails the script
# unless the resync copied exactly (dirty regions in the log, counted by
# `dirtylog inspect` before the restart) x region size and left the legs
# identical (`dlmirror verify`).
#
# Between two servers the legs are synced (untimed), so that no configuration
# pays for the page-cache writeback of the one before.
#
# Other settings: BENCH_DIR (default /var/tmp; legs and log live there, not on
# tmpfs), FLUSH_MS (the plugin's flush_interval_ms, default 1000),
# HOT_PERIODS (hot_periods, default 1), HOT_SET (hot_set: adaptive, the
# default, or fixed), HOT_CAP (hot_cap, default 0: the plugin's default),
# JOBS and CONFIGS (subsets of the lists below, to rerun one figure). Needs nbdkit (with its file plugin), fio (with the nbd
# engine) and python3.
set -euo pipefail
BUILD=$(cd "${1:-build}" && pwd)
SIZE=${2:-1G}
SECS=${3:-5}
ROUNDS=${ROUNDS:-3}
RAMP_SECS=${RAMP_SECS:-2}
WARM_PER_REGION=${WARM_PER_REGION:-8}
WARM_MAX_SECS=${WARM_MAX_SECS:-30}
CRASH_WRITES=${CRASH_WRITES:-10000}
FLUSH_MS=${FLUSH_MS:-1000}
HOT_PERIODS=${HOT_PERIODS:-1}
HOT_SET=${HOT_SET:-adaptive} # or fixed: the hot set before it adapted (A/B runs)
HOT_CAP=${HOT_CAP:-0}         # 0: the plugin's default
PLUGIN=$BUILD/examples/mirror/nbdkit-dlmirror-plugin.so
DLMIRROR=$BUILD/examples/mirror/dlmirror
DIRTYLOG=$BUILD/tools/dirtylog/dirtylog
REGION=128 # sectors: 64 KiB
REGION_BYTES=65536
CONFIGS=${CONFIGS:-disk core file}
JOBS=${JOBS:-qd1 qd8 qd32 4x8}
for t in nbdkit fio python3; do command -v $t >/dev/null || { echo "needs $t"; exit 2; }; done
for f in "$PLUGIN" "$DLMIRROR" "$DIRTYLOG"; do
    [ -x "$f" ] || [ -f "$f" ] || { echo "no $f (is the tree built, with nbdkit-plugin-dev?)"; exit 2; }
done
nbdkit file --version >/dev/null 2>&1 || { echo "needs nbdkit's file plugin"; exit 2; }

fail() { echo "FAIL: $*"; exit 1; }
py() { python3 -c "$@"; }

BYTES=$(py 'import sys
s=sys.argv[1]; m={"K":10,"M":20,"G":30,"T":40}
print(int(s[:-1]) << m[s[-1]] if s[-1] in m else int(s))' "$SIZE")
if [ $((BYTES % REGION_BYTES)) != 0 ] || [ "$BYTES" -le 0 ]; then
    echo "SIZE must be a positive multiple of 64 KiB (so every region is whole)"
    exit 2
fi
REGIONS=$((BYTES / REGION_BYTES))
WARM_BYTES=$((REGIONS * WARM_PER_REGION * 4096))

D=$(mktemp -d "${BENCH_DIR:-/var/tmp}/dlmirror-bench-XXXXXX")
NBDKIT_PID=
cleanup() {
    if [ -n "$NBDKIT_PID" ]; then
        kill -9 "$NBDKIT_PID" 2>/dev/null || true
        wait "$NBDKIT_PID" 2>/dev/null || true
    fi
    rm -rf "$D"
}
trap cleanup EXIT
SOCK=$D/sock
URI="nbd+unix:///?socket=$SOCK"

# A counter from the plugin's stats file (empty until the plugin first writes it).
stat_of() { if [ -f "$D/stats" ]; then awk -v k="$1" '$1 == k { print $2 }' "$D/stats"; fi; }

start_server() { # start_server disk|core|file|crash|resync
    local what
    rm -f "$SOCK" "$D/stats"
    case $1 in
    disk) rm -f "$D/log"; what=(log="disk 3 $D/log $REGION nosync") ;;
    core) what=(log="core 2 $REGION nosync") ;;
    crash) rm -f "$D/log"; what=(log="disk 3 $D/log $REGION nosync") ;;
    resync) what=(log="disk 2 $D/log $REGION") ;;
    esac
    if [ "$1" = file ]; then
        nbdkit -f -U "$SOCK" file file="$D/a" &
    else
        # status_interval_ms=1: the stats file is rewritten at every clear pass.
        nbdkit -f -U "$SOCK" "$PLUGIN" "${what[@]}" legs="$D/a,$D/b" stats="$D/stats" \
            status_interval_ms=1 flush_interval_ms="$FLUSH_MS" hot_periods="$HOT_PERIODS" \
            hot_set="$HOT_SET" hot_cap="$HOT_CAP" &
    fi
    NBDKIT_PID=$!
    for _ in $(seq 200); do # at most 10 s
        [ -S "$SOCK" ] && return 0
        kill -0 "$NBDKIT_PID" 2>/dev/null || break
        sleep 0.05
    done
    fail "nbdkit ($1) did not start"
}

stop_server() { # clean shutdown: the plugin writes its final stats
    kill -TERM "$NBDKIT_PID"
    wait "$NBDKIT_PID" || true
    NBDKIT_PID=
}

# fio_run <name> <iodepth> <numjobs> <fio options...>: 4 KiB random writes;
# prints "IOPS writes seconds" of the write phase (after any ramp).
fio_run() {
    local name=$1 qd=$2 nj=$3
    shift 3
    fio --name="$name" --ioengine=nbd --uri="$URI" --rw=randwrite --bs=4k --iodepth="$qd" \
        --numjobs="$nj" --group_reporting --size="$BYTES" --randrepeat=0 "$@" \
        --output-format=json --output="$D/fio.json" >/dev/null ||
        fail "fio $name: $(head -c 2000 "$D/fio.json")"
    py 'import json,sys; w=json.load(open(sys.argv[1]))["jobs"][0]["write"]
print("%.0f %d %.1f" % (w["iops"], w["total_ios"], w["runtime"] / 1000.0))' "$D/fio.json"
}

job_qd() { case $1 in qd1) echo 1 ;; qd8 | 4x8) echo 8 ;; qd32) echo 32 ;; esac; }
job_nj() { [ "$1" = 4x8 ] && echo 4 || echo 1; }

# The plugin's counters (stats file) at the last clear pass: "writes cold log_flushes".
mirror_counters() { echo "$(stat_of writes) $(stat_of cold_begins) $(stat_of log_flushes)"; }
per1000() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", 1000 * a / (b > 0 ? b : 1) }'; }

elapsed() { printf '[%4d s]' "$SECONDS"; }

# Crash: random writes with a disk log, SIGKILL under load, restart, resync.
# First, while the legs are still identical (the `file` runs write leg a alone).
crash_check() {
    start_server crash
    fio --name=crash --ioengine=nbd --uri="$URI" --rw=randwrite --bs=4k --iodepth=32 \
        --size="$BYTES" --runtime=120 --time_based --output-format=json >/dev/null 2>&1 &
    local fio_pid=$! writes=0
    # Kill once the plugin has acknowledged CRASH_WRITES writes (its stats file
    # is rewritten at every clear pass); at most 120 s.
    for _ in $(seq 2400); do
        writes=$(stat_of writes)
        writes=${writes:-0}
        [ "$writes" -ge "$CRASH_WRITES" ] && break
        sleep 0.05
    done
    kill -9 "$NBDKIT_PID"
    wait "$NBDKIT_PID" 2>/dev/null || true
    NBDKIT_PID=
    wait "$fio_pid" 2>/dev/null || true
    [ "$writes" -ge "$CRASH_WRITES" ] || fail "only $writes writes in 120 s before the SIGKILL"
    local dirty
    dirty=$("$DIRTYLOG" inspect --json "$D/log" | py 'import json,sys; print(json.load(sys.stdin)["dirty"])')
    [ "$dirty" -gt 0 ] || fail "no dirty region in the log after SIGKILL under load: the check would prove nothing"
    start_server resync
    for _ in $(seq 2400); do # at most 120 s
        [ "$(stat_of resync_done)" = 1 ] && break
        sleep 0.05
    done
    [ "$(stat_of resync_done)" = 1 ] || fail "the resync did not finish in 120 s"
    local at_start rregions rbytes region_bytes out
    at_start=$(stat_of dirty_at_start)
    rregions=$(stat_of resync_regions)
    rbytes=$(stat_of resync_bytes)
    region_bytes=$(stat_of region_bytes)
    stop_server
    echo "$(elapsed) SIGKILL after >= $writes writes: $dirty dirty regions in the log (dirtylog inspect); the plugin saw $at_start"
    echo "  resync copied $rregions regions, $rbytes bytes = $(py "print('%.6f' % ($rbytes / $BYTES))") of the device"
    [ "$at_start" = "$dirty" ] || fail "the plugin counted $at_start out-of-sync regions, the log holds $dirty"
    [ "$rregions" = "$dirty" ] || fail "resynced $rregions regions, expected the $dirty dirty ones"
    [ "$rbytes" = $((dirty * region_bytes)) ] ||
        fail "resynced $rbytes bytes, expected $dirty x $region_bytes = $((dirty * region_bytes))"
    echo "  bytes resynced = dirty regions x region size ($dirty x $region_bytes): exact"
    out=$("$DLMIRROR" verify --log "disk 2 $D/log $REGION" "$D/a" "$D/b") || fail "dlmirror verify: $out"
    echo "  $(tail -1 <<<"$out")"
    grep -qx 'OK: the legs are identical' <<<"$out" || fail "the legs differ after the resync"
}

COMMIT=$(git -C "$(dirname "$0")" describe --always --dirty 2>/dev/null || echo unknown)
echo "dirtylog $COMMIT; $(nproc) CPUs; load average $(cut -d' ' -f1-3 /proc/loadavg) at start"
echo "legs: 2 x $SIZE in $D; $REGIONS regions of 64 KiB; flush_interval_ms=$FLUSH_MS hot_periods=$HOT_PERIODS hot_set=$HOT_SET"
echo "per server: warm-up $WARM_PER_REGION writes per region ($((WARM_BYTES >> 20)) MiB) at iodepth 32, at most ${WARM_MAX_SECS} s;"
echo "per job: ${RAMP_SECS} s ramp, ${SECS} s measured; $ROUNDS rounds of: $CONFIGS"
echo "filling the legs (so no job pays for block allocation)…"
for leg in a b; do
    dd if=/dev/zero of="$D/$leg" bs=1M count=$((BYTES >> 20)) conv=fsync status=none
done
crash_check

declare -A IOPS # IOPS[config.job.round]
for round in $(seq "$ROUNDS"); do
    for config in $CONFIGS; do
        start_server "$config"
        out=$(fio_run warmup 32 1 --io_size="$WARM_BYTES" --runtime="$WARM_MAX_SECS")
        read -r iops n secs <<<"$out"
        printf '%s round %d %-4s warm-up: %d writes (%.1f per region) in %s s, %s IOPS\n' "$(elapsed)" \
            "$round" "$config" "$n" "$(awk -v n="$n" -v r="$REGIONS" 'BEGIN { print n / r }')" "$secs" "$iops"
        for job in $JOBS; do
            [ "$config" = file ] || read -r w0 c0 f0 < <(mirror_counters)
            out=$(fio_run "$job" "$(job_qd "$job")" "$(job_nj "$job")" \
                --time_based --ramp_time="$RAMP_SECS" --runtime="$SECS")
            read -r iops n secs <<<"$out"
            IOPS[$config.$job.$round]=$iops
            line=$(printf '%s round %d %-4s %-4s %8s IOPS' "$(elapsed)" "$round" "$config" "$job" "$iops")
            if [ "$config" != file ]; then
                # Deltas between two clear passes (so within a second of the job's span).
                read -r w1 c1 f1 < <(mirror_counters)
                line+=$(printf '   cold begins %6s, log flushes %5s per 1000 writes' \
                    "$(per1000 $((c1 - c0)) $((w1 - w0)))" "$(per1000 $((f1 - f0)) $((w1 - w0)))")
            fi
            echo "$line"
        done
        stop_server
        # Write back what this server left in the page cache, so that the next
        # configuration does not pay for it (untimed).
        sync -d "$D/a" "$D/b"
    done
done
echo "$(elapsed) load average $(cut -d' ' -f1-3 /proc/loadavg) at the end of the rounds"

# Per job: median IOPS per configuration, median (min-max) of per-round ratios.
echo
printf '%-5s %9s %9s %9s   %-22s %-22s %s\n' job "file" core disk "core/file" "disk/core" "goal (disk/core)"
for job in $JOBS; do
    args=()
    for round in $(seq "$ROUNDS"); do
        args+=("${IOPS[file.$job.$round]:-nan}" "${IOPS[core.$job.$round]:-nan}" "${IOPS[disk.$job.$round]:-nan}")
    done
    py 'import statistics as st, sys
job, v = sys.argv[1], [float(x) for x in sys.argv[2:]]
f, c, d = v[0::3], v[1::3], v[2::3]
def rng(r): # (a configuration left out by CONFIGS: nan)
    return "%.3f (%.3f-%.3f)" % (st.median(r), min(r), max(r)) if r[0] == r[0] else "-"
dc = [b / a for a, b in zip(c, d)]
goal = {"qd32": 0.95, "qd1": 0.9}.get(job)
verdict = "-" if goal is None or dc[0] != dc[0] else (">= %.2f %s" % (goal, "met" if st.median(dc) >= goal else "MISSED"))
print("%-5s %9.0f %9.0f %9.0f   %-22s %-22s %s" % (job, st.median(f), st.median(c), st.median(d),
      rng([b / a for a, b in zip(f, c)]), rng(dc), verdict))' "$job" "${args[@]}"
done
