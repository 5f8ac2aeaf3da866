# Scenario 5 (guest): a `core` log hosted by dirtylogd for the kernel. The
# log part of `dmsetup status` is the daemon's STATUS_INFO answer: the same
# string as the library's own core log gives for that table (vm_log_status);
# `dmsetup table` shows the kernel's own rendering of the table it was given
# (the kernel never asks STATUS_TABLE).
DLVM_REGION=128
dlvm_start_daemon_for_log
dlvm_mirror_create m "dlvm-s5 core $DLVM_REGION"
dlvm_wait_synced m 300
sectors=$(blockdev --getsz /dev/vda)
expect=$(vm_log_status "$sectors" core $DLVM_REGION) || dlvm_fail "vm_log_status"
dlvm_value status "$(dmsetup status m)"
dlvm_value table "$(dmsetup table m)"
dlvm_value lib_info "$(echo "$expect" | sed -n 's/^info: //p')"
dlvm_value lib_table "$(echo "$expect" | sed -n 's/^table: //p')"
dlvm_mirror_io m || dlvm_fail "mirror I/O"
dmsetup remove m || dlvm_fail "dmsetup remove"
dlvm_stop_daemon_for_log
dlvm_legs_identical || dlvm_fail "the legs differ after a clean remove"
