# Helpers for the guest scripts of the VM tests (busybox sh), sourced by /init.
# Lines for the host start with "DLVM"; the host reads them from the console.

dlvm_say() { echo "DLVM: [$(cut -d" " -f1 /proc/uptime)] $*"; }
# A value the host checks: "DLVM-VALUE key=value".
dlvm_value() { echo "DLVM-VALUE $1=$2"; }
dlvm_fail() {
    [ ! -e "$DLVM_DAEMON_LOG" ] || dlvm_show_daemon_log
    echo "DLVM-FAIL: $*"
    exit 1
}
dlvm_result() {
    # Quiet the kernel so no message splits the verdict line.
    echo 1 > /proc/sys/kernel/printk
    echo "DLVM-RESULT: $*"
}

dlvm_load_modules() {
    for m in $(cat /dlvm/modules); do
        insmod "/lib/dlvm-modules/$m.ko" || { echo "DLVM-FAIL: insmod $m"; return 1; }
    done
    # The virtio disks appear asynchronously after virtio_blk loads.
    n=$(cat /proc/cmdline | tr ' ' '\n' | sed -n 's/^dl.disks=//p')
    i=0
    for d in a b c d e f g h; do
        [ "$i" -lt "${n:-0}" ] || break
        dlvm_wait 60 test -b "/dev/vd$d" || { echo "DLVM-FAIL: no /dev/vd$d"; return 1; }
        i=$((i + 1))
    done
}

# dlvm_wait SECONDS COMMAND...: poll COMMAND until it succeeds or the deadline.
dlvm_wait() {
    deadline=$(( $(date +%s) + $1 ))
    shift
    until "$@"; do
        [ "$(date +%s)" -lt "$deadline" ] || return 1
        usleep 50000
    done
}

# dlvm_has_arg WORD: the host passed dl.arg=WORD.
dlvm_has_arg() {
    case " $DLVM_ARGS " in *" $1 "*) return 0 ;; esac
    return 1
}
# dlvm_arg KEY: the value of the host's dl.arg=KEY=VALUE (commas become spaces).
dlvm_arg() {
    for w in $DLVM_ARGS; do
        case $w in "$1="*) echo "${w#*=}" | tr ',' ' '; return 0 ;; esac
    done
    return 1
}

# dlvm_power_loss: the host sees the marker, then the machine dies at once
# (no sync, no unmount; qemu -no-reboot ends).
dlvm_power_loss() {
    echo 1 > /proc/sys/kernel/printk
    echo "DLVM-POWERLOSS"
    echo b > /proc/sysrq-trigger
    sleep 60  # not reached
}

# ---- the daemon ----
DLVM_DAEMON=
DLVM_DAEMON_LOG=/run/dirtylogd.log
# dl.arg=verbose: the daemon logs every connection and failed request (-v).
DLVM_DAEMON_OPTS=
dlvm_has_arg verbose && DLVM_DAEMON_OPTS=-v

# dlvm_connector_portid PID: the netlink port of PID's NETLINK_CONNECTOR
# (protocol 11) socket in group 7 (CN_IDX_DM: bit 0x40 of the first group
# word) in /proc/net/netlink, matched on the socket's inode. Fails if none:
# the daemon listens to the kernel once it has one.
dlvm_connector_portid() {
    inodes=" $(ls -l "/proc/$1/fd" 2>/dev/null | sed -n 's/.*socket:\[\([0-9]*\)\].*/\1/p' | tr '\n' ' ') "
    while read -r sk eth portid groups rmem wmem dump locks drops inode; do
        [ "$eth" = 11 ] || continue
        case $inodes in *" $inode "*) ;; *) continue ;; esac
        [ $((0x$groups & 0x40)) -eq 0 ] || { echo "$portid"; return 0; }
    done < /proc/net/netlink
    return 1
}
dlvm_daemon_listening() { dlvm_connector_portid "$1" > /dev/null; }

# dlvm_start_daemon [OPTION...]: dirtylogd --kernel in the background, its
# state (who uses each log) in /run/dlstate (tmpfs: it lasts for this boot),
# /dev/vdc (if there is one) allowed as a disk log. Returns once it listens to the kernel.
dlvm_start_daemon() {
    allow=
    [ ! -b /dev/vdc ] || allow="--allow-device /dev/vdc"
    dirtylogd --foreground --kernel --socket /run/dirtylogd.sock \
        --state-dir /run/dlstate $allow $DLVM_DAEMON_OPTS "$@" \
        >> "$DLVM_DAEMON_LOG" 2>&1 &
    DLVM_DAEMON=$!
    dlvm_wait 10 dlvm_daemon_listening "$DLVM_DAEMON" ||
        dlvm_fail "dirtylogd does not listen to the kernel"
    dlvm_say "dirtylogd $DLVM_DAEMON listening"
}

dlvm_daemon_gone() { ! kill -0 "$1" 2>/dev/null; }

# dlvm_stop_daemon [SIGNAL]: signal it (TERM by default) and reap it.
dlvm_stop_daemon() {
    kill "-${1:-TERM}" "$DLVM_DAEMON"
    wait "$DLVM_DAEMON" 2>/dev/null || true
    DLVM_DAEMON=
}

dlvm_show_daemon_log() {
    echo "---- dirtylogd log ----"
    tail -n 60 "$DLVM_DAEMON_LOG" 2>/dev/null
    echo "---- kernel log ----"
    dmesg | tail -n 30
    echo "----"
}

# ---- the mirror ----
# dlvm_sync_count NAME: "in_sync/total" of mirror NAME from dmsetup status
# ("0 <len> mirror <n> <dev>... <in>/<total> ...").
dlvm_sync_count() {
    dmsetup status "$1" | awk '{ print $(5 + $4) }'
}
dlvm_synced() {
    c=$(dlvm_sync_count "$1")
    [ -n "$c" ] && [ "${c%/*}" = "${c#*/}" ]
}
# dlvm_wait_synced NAME SECONDS
dlvm_wait_synced() {
    dlvm_wait "$2" dlvm_synced "$1" ||
        dlvm_fail "mirror $1 not in sync after $2 s: $(dmsetup status "$1")"
}

# dlvm_mirror_create NAME LOG_ARGS [FEATURES]: a dm-mirror of $DLVM_LEG_A and
# $DLVM_LEG_B (default /dev/vda and /dev/vdb, whole disks) whose log is
# `userspace` with LOG_ARGS ("<uuid> [integrated_flush] <type> <args...>").
# With dl.arg=kernel-log (DL_VM_KERNEL_LOG=1 on the host) the kernel's own log
# of that type is used instead, without the uuid: a check of what the
# scenario expects against the kernel's behaviour, no daemon involved.
dlvm_mirror_create() {
    sectors=$(blockdev --getsz "${DLVM_LEG_A:-/dev/vda}")
    log="userspace $(echo "$2" | wc -w) $2"
    if dlvm_has_arg kernel-log; then
        set -- "$1" "$(echo "$2" | sed 's/^[^ ]* //; s/integrated_flush //')" "$3"
        type=${2%% *} args=${2#* }
        log="$type $(echo "$args" | wc -w) $args"
    fi
    dmsetup create "$1" --table "0 $sectors mirror $log 2 ${DLVM_LEG_A:-/dev/vda} 0 \
${DLVM_LEG_B:-/dev/vdb} 0 ${3:-1 handle_errors}" ||
        dlvm_fail "dmsetup create $1 ($log)"
}

# dlvm_delay NAME DEV READ_MS WRITE_MS: create (or reload) dm-delay NAME over
# all of DEV, holding reads and writes that long. A reload releases what the
# old table held (dm-delay hands its queue on at suspend).
dlvm_delay() {
    t="0 $(blockdev --getsz "$2") delay $2 0 $3 $2 0 $4"
    if [ -e "/dev/mapper/$1" ]; then
        dmsetup load "$1" --table "$t" && dmsetup suspend "$1" && dmsetup resume "$1"
    else
        dmsetup create "$1" --table "$t"
    fi || dlvm_fail "dm-delay $1: $t"
}

# dlvm_start_daemon unless the kernel's own log is used.
dlvm_start_daemon_for_log() {
    dlvm_has_arg kernel-log || dlvm_start_daemon "$@"
}
dlvm_stop_daemon_for_log() {
    [ -z "$DLVM_DAEMON" ] || dlvm_stop_daemon "$@"
}

# dlvm_dump DEV: the regions `dirtylog dump` lists as may-differ, one line,
# space separated (ranges as first-last). The device's page cache is dropped
# first: the log's writer may bypass it (the kernel's own log does).
dlvm_dump() {
    blockdev --flushbufs "$1"
    dirtylog dump "$1" | tr '\n' ' ' | sed 's/ $//'
}

# dlvm_regions DEV: the regions `dirtylog dump` lists, one per line, ranges
# expanded.
dlvm_regions() {
    for range in $(dlvm_dump "$1"); do
        seq "${range%-*}" "${range#*-}"
    done
}
# dlvm_log_has DEV REGION...: the log on DEV lists every REGION.
dlvm_log_has() {
    dev=$1
    shift
    have=" $(dlvm_regions "$dev" | tr '\n' ' ') "
    for r in "$@"; do
        case $have in *" $r "*) ;; *) return 1 ;; esac
    done
}

# dlvm_mirror_io NAME: a few writes through mirror NAME read back the same.
dlvm_mirror_io() {
    dd if=/dev/urandom of=/tmp/io bs=64k count=4 2>/dev/null
    dd if=/tmp/io of="/dev/mapper/$1" bs=64k seek=7 conv=fsync 2>/dev/null &&
        dd if="/dev/mapper/$1" of=/tmp/io.back bs=64k skip=7 count=4 iflag=direct 2>/dev/null &&
        cmp -s /tmp/io /tmp/io.back
}

# dlvm_differing_regions DEV1 DEV2: the regions (DLVM_REGION sectors) in
# which the two devices differ, space separated (read past the page cache).
# Fails if they cannot be compared.
dlvm_differing_regions() {
    blockdev --flushbufs "$1" && blockdev --flushbufs "$2" || return 2
    rc=0
    cmp -l "$1" "$2" > /tmp/cmp.out 2>/dev/null || rc=$?
    [ "$rc" -le 1 ] || return 2
    awk -v rb=$((DLVM_REGION * 512)) \
        '{ r = int(($1 - 1) / rb); if (r != last) { printf "%s%d", sep, r; sep = " " } last = r }
         BEGIN { last = -1 }' /tmp/cmp.out
}
# dlvm_legs_identical: /dev/vda and /dev/vdb hold the same bytes.
dlvm_legs_identical() {
    blockdev --flushbufs /dev/vda && blockdev --flushbufs /dev/vdb && cmp /dev/vda /dev/vdb
}
