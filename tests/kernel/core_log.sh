#!/bin/bash
# Scenario 5: a `core` log hosted for the kernel; the status lines are what
# dmsetup status and table show (guest/core-log.sh).
. "$(dirname "$0")/vmlib.sh"
vm_need_kernel_daemon
vm_init
vm_disk a 8M
vm_disk b 8M
vm_boot core-log.sh 600 a b
vm_expect_pass
status=$(vm_value status) table=$(vm_value table)
info=$(vm_value lib_info) libtable=$(vm_value lib_table)
echo "dmsetup status: $status"
echo "dmsetup table:  $table"
echo "library core log: info '$info', table '$libtable'"
[ -n "$info" ] && [ -n "$libtable" ] || vm_die "no status from the library's core log"
if [ "${DL_VM_KERNEL_LOG:-0}" = 1 ]; then
    # The kernel's own core log: its status is the kernel's, the table the one loaded.
    [[ $status == *" 1 AA $info" ]] || echo "NOTE: the kernel's core log says something else"
    exit 0
fi
# "0 <len> mirror 2 <dev> <dev> <in>/<total> 1 AA " then the log's INFO.
[[ $status =~ ^0\ [0-9]+\ mirror\ 2\ [0-9:]+\ [0-9:]+\ ([0-9]+)/([0-9]+)\ 1\ AA\ (.*)$ ]] ||
    vm_die "dmsetup status has an unexpected form"
[ "${BASH_REMATCH[1]}" = "${BASH_REMATCH[2]}" ] || vm_die "not in sync"
[ "${BASH_REMATCH[3]}" = "$info" ] ||
    vm_die "the log's status is '${BASH_REMATCH[3]}', the core log's STATUS_INFO is '$info'"
# The kernel renders the table from what it was given: "userspace <argc>
# <uuid> <type> <args>", the args being those of the library's core table
# less its argument count.
lib_args=${libtable#core * }
[[ $table == *" mirror userspace 3 dlvm-s5 core $lib_args 2 "* ]] ||
    vm_die "dmsetup table '$table' does not carry the core log 'core $lib_args'"
echo PASS
