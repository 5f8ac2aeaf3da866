# Helpers for the guest scripts of the VM tests (busybox sh), sourced by /init.
# Lines for the host start with "DLVM"; the host reads them from the console.

dlvm_say() { echo "DLVM: $*"; }
# A value the host checks: "DLVM-VALUE key=value".
dlvm_value() { echo "DLVM-VALUE $1=$2"; }
dlvm_fail() {
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
        dlvm_wait 10 test -b "/dev/vd$d" || { echo "DLVM-FAIL: no /dev/vd$d"; return 1; }
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
