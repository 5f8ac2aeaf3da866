#!/bin/bash
# kernel_vm_boot: the VM harness boots Debian's kernel, loads the
# device-mapper modules and sees its disks (so a failure of a scenario is
# not the harness's).
. "$(dirname "$0")/vmlib.sh"
vm_init
vm_disk a 16M
vm_disk b 16M
vm_boot boot.sh 600 a b
vm_expect_pass
[ "$(vm_value disks)" = "/dev/vda /dev/vdb " ] || vm_die "disks: '$(vm_value disks)'"
echo "connector: $(vm_value connector)"
echo PASS
