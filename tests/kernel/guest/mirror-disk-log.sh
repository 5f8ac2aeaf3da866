# Scenario 1 (guest): a dm-mirror of vda and vdb with a `userspace` log served by
# dirtylogd --kernel, hosting a `disk` log on vdc. Writes succeed and read back,
# dmsetup status and table show the log, a clean remove leaves the legs
# identical (the host then inspects vdc: every region clean and in sync).
DLVM_REGION=128
dlvm_start_daemon_for_log
dlvm_mirror_create m "dlvm-s1 disk /dev/vdc $DLVM_REGION"
dlvm_wait_synced m 300
dlvm_value status "$(dmsetup status m)"
dlvm_value table "$(dmsetup table m)"

# 40 regions of data from region 10 on, through the mirror, read back.
dd if=/dev/urandom of=/tmp/data bs=64k count=40 2>/dev/null
dd if=/tmp/data of=/dev/mapper/m bs=64k seek=10 conv=fsync 2>/dev/null ||
    dlvm_fail "write to the mirror"
dd if=/dev/mapper/m of=/tmp/back bs=64k skip=10 count=40 2>/dev/null
cmp /tmp/data /tmp/back || dlvm_fail "the mirror reads back other data"
dlvm_value synced_after_writes "$(dlvm_sync_count m)"

dmsetup remove m || dlvm_fail "dmsetup remove"
dlvm_stop_daemon_for_log
dlvm_legs_identical || dlvm_fail "the legs differ after a clean remove"
dlvm_value regions "$(($(blockdev --getsz /dev/vda) / DLVM_REGION))"
