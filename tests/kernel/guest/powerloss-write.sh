# Scenario 2, boot 1 (guest): a mirror of two dm-delay legs over vda and vdb
# with a `disk` log on vdc served by dirtylogd --kernel. Once in sync, leg b
# holds every write; one 4 KiB write goes to each region of dl.arg=regions=;
# when leg a has them all and the log on vdc shows exactly those regions
# (the marks are durable), the power fails. The host then compares.
DLVM_REGION=128
regions=$(dlvm_arg regions)
DLVM_LEG_A=/dev/mapper/leg_a DLVM_LEG_B=/dev/mapper/leg_b
dlvm_start_daemon_for_log
dlvm_delay leg_a /dev/vda 0 0
dlvm_delay leg_b /dev/vdb 0 0
dlvm_mirror_create m "dlvm-s2 disk /dev/vdc $DLVM_REGION"
dlvm_wait_synced m 300
dlvm_value before "$(dlvm_dump /dev/vdc)"

dlvm_delay leg_b /dev/vdb 0 600000
sectors_per_4k=8
for r in $regions; do
    dd if=/dev/urandom of="/tmp/data.$r" bs=4k count=1 2>/dev/null
    dd if="/tmp/data.$r" of=/dev/mapper/m bs=4k seek=$((r * DLVM_REGION / sectors_per_4k)) \
        oflag=direct 2>/dev/null &
done
leg_a_has_all() {
    for r in $regions; do
        dd if=/dev/vda of=/tmp/check bs=4k count=1 skip=$((r * DLVM_REGION / sectors_per_4k)) \
            iflag=direct 2>/dev/null
        cmp -s /tmp/check "/tmp/data.$r" || return 1
    done
}
log_shows_all() { [ "$(dlvm_dump /dev/vdc)" = "$regions" ]; }
dlvm_wait 120 leg_a_has_all || dlvm_fail "the writes did not reach leg a"
dlvm_wait 120 log_shows_all || dlvm_fail "log shows '$(dlvm_dump /dev/vdc)', not '$regions'"
dlvm_value in_flight "$(dlvm_dump /dev/vdc)"
dlvm_power_loss
