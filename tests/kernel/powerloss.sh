#!/bin/bash
# Scenario 2: power loss with writes held in flight (leg b holds them, leg a
# has them). The log on the disk shows exactly the written regions, the legs
# differ in exactly those; after reboot the same mirror table starts with
# exactly those regions out of sync, resyncs them, and the legs are identical.
. "$(dirname "$0")/vmlib.sh"
vm_need_kernel_daemon
vm_init
vm_disk a 8M
vm_disk b 8M
vm_disk c 1M
written="3 17 40 100" region_bytes=$((128 * 512)) regions=$((8 * 1024 * 1024 / region_bytes))
VM_ARGS="regions=${written// /,}"
vm_boot powerloss-write.sh 600 a b c
vm_expect_powerloss
echo "log before the writes: '$(vm_value before)', in flight: '$(vm_value in_flight)'"
[ "$(vm_dump c)" = "$written" ] || vm_die "after the power loss the log shows '$(vm_dump c)'"
diff=$(vm_differing_regions a b $region_bytes)
[ "$diff" = "$written" ] || vm_die "the legs differ in regions '$diff', not '$written'"

vm_boot powerloss-resync.sh 600 a b c
vm_expect_pass
first=$(vm_value first_sync)
echo "sync count at activation: $first, after the resync: $(vm_value after_sync)"
[ "$first" = "$((regions - 4))/$regions" ] ||
    vm_die "the mirror started with $first in sync, not $((regions - 4))/$regions"
cmp "$VM_TMP/a.img" "$VM_TMP/b.img" || vm_die "the legs differ after the resync"
[ -z "$(vm_dump c)" ] || vm_die "the log still lists '$(vm_dump c)'"
echo PASS
