#!/bin/bash
# Scenario 1: dm-mirror with a `userspace` log served by dirtylogd --kernel,
# hosting a `disk` log on a third disk. Writes succeed, dmsetup status/table
# show the log, and after a clean remove `dirtylog inspect` of the log device
# shows every region clean and in sync.
. "$(dirname "$0")/vmlib.sh"
vm_need_kernel_daemon
vm_init
vm_disk a 8M
vm_disk b 8M
vm_disk c 1M
vm_boot mirror-disk-log.sh 600 a b c
vm_expect_pass
status=$(vm_value status) table=$(vm_value table) regions=$(vm_value regions)
echo "status: $status"
echo "table:  $table"
if [ "${DL_VM_KERNEL_LOG:-0}" != 1 ]; then
    [[ $table == *" mirror userspace 4 dlvm-s1 disk /dev/vdc 128 2 "* ]] ||
        vm_die "dmsetup table does not show the userspace log"
    [[ $status == *" $regions/$regions 1 AA "* ]] || vm_die "dmsetup status: not in sync"
fi
cmp "$VM_TMP/a.img" "$VM_TMP/b.img" || vm_die "the legs differ"
state=$("$DL_DIRTYLOG" inspect "$VM_TMP/c.img" | sed -n 's/^ *State : //p')
echo "log state: $state"
[ "$state" = "0 dirty, 0 out of sync, $regions clean and in sync" ] ||
    vm_die "the log is not all clean and in sync"
[ -z "$(vm_dump c)" ] || vm_die "dirtylog dump lists regions: $(vm_dump c)"
echo PASS
