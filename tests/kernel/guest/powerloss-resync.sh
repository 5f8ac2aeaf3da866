# Scenario 2, boot 2 (guest): after the power loss, the same mirror table on
# the same disks. The resync source (leg a) holds its reads until the sync
# count is read, so the count shows what the log said before any copy; then
# the resync runs to the end and the legs must be identical.
DLVM_REGION=128
DLVM_LEG_A=/dev/mapper/leg_a DLVM_LEG_B=/dev/mapper/leg_b
dlvm_start_daemon_for_log
dlvm_delay leg_a /dev/vda 600000 0
dlvm_delay leg_b /dev/vdb 0 0
dlvm_mirror_create m "dlvm-s2 disk /dev/vdc $DLVM_REGION"
dlvm_value first_sync "$(dlvm_sync_count m)"
dlvm_delay leg_a /dev/vda 0 0
dlvm_wait_synced m 300
dlvm_value after_sync "$(dlvm_sync_count m)"
dmsetup remove m || dlvm_fail "dmsetup remove"
dlvm_stop_daemon_for_log
dmsetup remove leg_a && dmsetup remove leg_b || dlvm_fail "remove the legs"
dlvm_legs_identical || dlvm_fail "the legs differ after the resync"
