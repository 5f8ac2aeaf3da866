# Guest part of kernel_vm_boot: the harness itself works.
grep -q 'dmlogusr' /proc/net/connector || dlvm_fail "no dmlogusr in /proc/net/connector"
dmsetup targets | grep -q '^mirror' || dlvm_fail "no mirror target"
dmsetup targets | grep -q '^delay' || dlvm_fail "no delay target"
dlvm_value connector "$(grep dmlogusr /proc/net/connector | tr -s ' ' | tr ' ' ,)"
dlvm_value disks "$(ls /dev/vd* | tr '\n' ' ')"
