# Scenario 6 (guest): bad input, daemon alive.
#  - CTRs the kernel passes on but the daemon must refuse (unknown log type,
#    bad region size, a disk log on a device not allowed, a nested userspace
#    log): dmsetup create fails with the daemon's error, nothing is left;
#  - datagrams in the kernel's framing from a root process instead of the
#    kernel (unknown request type, short payload, wrong version, cut header,
#    a forged CTR; vm_nl_inject): no answer, and the daemon still serves;
#  - then a mirror works, and its I/O too.
DLVM_REGION=128
dlvm_start_daemon
n=0
for log in "dlvm-s6 bogus $DLVM_REGION" "dlvm-s6 core 3" "dlvm-s6 disk /dev/vdb $DLVM_REGION" \
           "dlvm-s6 userspace x core $DLVM_REGION"; do
    n=$((n + 1))
    sectors=$(blockdev --getsz /dev/vda)
    if dmsetup create "bad$n" --table "0 $sectors mirror userspace $(echo "$log" | wc -w) \
$log 2 /dev/vda 0 /dev/vdb 0" 2>/tmp/err; then
        dlvm_fail "the daemon accepted '$log'"
    fi
    [ ! -e "/dev/mapper/bad$n" ] || dmsetup remove "bad$n" 2>/dev/null || true
    dlvm_daemon_gone "$DLVM_DAEMON" && dlvm_fail "the daemon died on '$log'"
    dlvm_value refused$n "$log"
done
dlvm_value daemon_said "$(grep -c 'CTR of log dlvm-s6 failed' "$DLVM_DAEMON_LOG")"

dlvm_mirror_create m "dlvm-s6 core $DLVM_REGION"
dlvm_wait_synced m 300
portid=$(dlvm_connector_portid "$DLVM_DAEMON") || dlvm_fail "no connector socket of the daemon"
vm_nl_inject "$portid" > /tmp/inject || dlvm_fail "vm_nl_inject"
dlvm_value injected "$(tr '\n' ' ' < /tmp/inject)"
dlvm_daemon_gone "$DLVM_DAEMON" && dlvm_fail "the daemon died on forged datagrams"
dlvm_mirror_io m || dlvm_fail "mirror I/O after the forged datagrams"
dlvm_value status "$(dmsetup status m)"
dmsetup remove m || dlvm_fail "dmsetup remove"
dlvm_stop_daemon
