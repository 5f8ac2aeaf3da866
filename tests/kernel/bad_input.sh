#!/bin/bash
# Scenario 6: bad input answered with an error, daemon alive (guest/bad-input.sh).
. "$(dirname "$0")/vmlib.sh"
[ "${DL_VM_KERNEL_LOG:-0}" = 1 ] && vm_skip "tests dirtylogd itself: no kernel-log variant"
vm_need_kernel_daemon
vm_init
vm_disk a 8M
vm_disk b 8M
vm_disk c 1M
vm_boot bad-input.sh 600 a b c
vm_expect_pass
for i in 1 2 3 4; do echo "refused: $(vm_value refused$i)"; done
said=$(vm_value daemon_said)
[ "$said" = 4 ] || vm_die "the daemon logged $said refused CTRs, not 4"
injected=$(vm_value injected)
echo "forged datagrams: $injected"
expect="unknown-type: none short-payload: none wrong-version: none cut-header: none forged-ctr: none "
[ "$injected" = "$expect" ] || vm_die "a forged datagram was answered: $injected"
echo "status after: $(vm_value status)"
echo PASS
