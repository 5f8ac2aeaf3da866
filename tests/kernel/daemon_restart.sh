#!/bin/bash
# Scenarios 3 and 4: kill -9 of dirtylogd while the mirror writes, restart:
# the kernel's replay (CTR + RESUME) re-attaches, the writer sees no error,
# no acknowledged mark is lost (guest/daemon-restart.sh tells the steps).
# With the argument integrated_flush: the same with `integrated_flush`.
. "$(dirname "$0")/vmlib.sh"
[ "${DL_VM_KERNEL_LOG:-0}" = 1 ] && vm_skip "kills dirtylogd: no kernel-log variant"
vm_need_kernel_daemon
vm_init
vm_disk a 8M
vm_disk b 8M
vm_disk c 1M
VM_ARGS=${1:-}
vm_boot daemon-restart.sh 600 a b c
vm_expect_pass
echo "writer at the restarts: regions $(vm_value writer_at_restart1), $(vm_value writer_at_restart2); log after: $(vm_value log_after_restart)"
echo "after the restarts: sync count $(vm_value sync_after_restart), legs differ in regions '$(vm_value differ_after_restart)' (all listed by the log)"
grep -a -q 'Reconnected to userspace log server' "$VM_CONSOLE" &&
    echo "the kernel logged its reconnection"
cmp "$VM_TMP/a.img" "$VM_TMP/b.img" || vm_die "the legs differ"
[ -z "$(vm_dump c)" ] || vm_die "the log still lists '$(vm_dump c)' after a clean remove"
echo PASS
