# Host side of the VM tests (bash), sourced by each scenario script.
# Environment: DL_DIRTYLOGD and DL_DIRTYLOG (the built programs), DL_VM_TOOLS
# (the test helpers for the guest, colon-separated; tools/), DL_VM_DIR
# (where fetch-kernel.sh unpacked the kernel; default /var/cache/dirtylog-vm),
# DL_VM_KEEP=1 keeps the temporary directory (disk images, console logs);
# DL_VM_KERNEL_LOG=1 runs a scenario with the kernel's own log type instead of
# dirtylogd's (guest/lib.sh, dlvm_mirror_create), to check what it expects.
# A missing kernel, qemu or static busybox is a visible skip (exit 77).

VM_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
VM_TMP= VM_PID= VM_BOOTS=0 VM_CONSOLE= VM_INITRD= VM_KERNEL=

vm_skip() { echo "SKIP: $*"; exit 77; }
vm_die() { echo "FAIL: $*"; vm_show_console; exit 1; }

vm_init() {
    local dir=${DL_VM_DIR:-/var/cache/dirtylog-vm} bb
    VM_KERNEL=$(ls "$dir"/current/boot/vmlinuz-* 2>/dev/null | head -n 1)
    [ -n "$VM_KERNEL" ] ||
        vm_skip "no kernel in $dir (run tests/kernel/fetch-kernel.sh $dir)"
    command -v qemu-system-x86_64 >/dev/null || vm_skip "qemu-system-x86_64 not installed"
    bb=$(command -v busybox) || vm_skip "busybox (busybox-static) not installed"
    ldd "$bb" >/dev/null 2>&1 && vm_skip "busybox is not static (install busybox-static)"
    command -v dmsetup >/dev/null || vm_skip "dmsetup not installed"
    [ -x "${DL_DIRTYLOGD:-}" ] && [ -x "${DL_DIRTYLOG:-}" ] ||
        vm_die "DL_DIRTYLOGD and DL_DIRTYLOG must name the built programs"
    [ "${DL_SANITIZER:-0}" != 1 ] || vm_skip "VM tests run in the plain build, not under sanitizers"
    # ELF e_machine (bytes 18-19, little-endian) 0x3e: an x86-64 program, as the guest runs.
    [ "$(od -An -tx1 -j18 -N2 "$DL_DIRTYLOGD" | tr -d ' ')" = 3e00 ] ||
        vm_skip "the built dirtylogd is not an x86-64 program (cross build)"
    VM_TMP=$(mktemp -d "${TMPDIR:-/tmp}/dlvm.XXXXXX")
    trap vm_cleanup EXIT
    VM_INITRD=$VM_TMP/initrd.cpio
    local tools=()
    IFS=: read -r -a tools <<< "${DL_VM_TOOLS:-}"
    "$VM_HERE/mkinitramfs.sh" "$VM_INITRD" "$dir/current" "$VM_HERE/guest" \
        "$(command -v dmsetup)" "$DL_DIRTYLOGD" "$DL_DIRTYLOG" "${tools[@]}" ||
        vm_die "could not build the initramfs"
}

# vm_need_kernel_daemon: skip unless the built dirtylogd serves the kernel
# (or the scenario runs on the kernel's own log, DL_VM_KERNEL_LOG=1).
vm_need_kernel_daemon() {
    [ "${DL_VM_KERNEL_LOG:-0}" = 1 ] || "$DL_DIRTYLOGD" --help 2>&1 | grep -q -- '--kernel' ||
        vm_skip "this dirtylogd has no --kernel"
}

vm_cleanup() {
    if [ -n "$VM_PID" ]; then
        kill -KILL "$VM_PID" 2>/dev/null
        wait "$VM_PID" 2>/dev/null
        VM_PID=
    fi
    if [ "${DL_VM_KEEP:-0}" = 1 ]; then
        echo "kept $VM_TMP"
    elif [ -n "$VM_TMP" ]; then
        rm -rf "$VM_TMP"
    fi
}

# vm_disk NAME SIZE: a sparse disk image $VM_TMP/NAME.img.
vm_disk() { truncate -s "$2" "$VM_TMP/$1.img"; }

# vm_boot SCRIPT TIMEOUT DISK...: boot the VM on the disk images (vda, vdb, ...
# in this order), run guest/SCRIPT and wait for the VM to end. Its console
# is $VM_CONSOLE. Fails (after killing it) if it outlives TIMEOUT seconds.
# The words of VM_ARGS and DL_VM_ARGS reach the guest script as dl.arg=
# (guest/lib.sh; DL_VM_ARGS=verbose starts the daemon with -v).
vm_boot() {
    local script=$1 timeout=$2 deadline d w args=
    shift 2
    local drives=()
    for d in "$@"; do
        drives+=(-drive "file=$VM_TMP/$d.img,format=raw,if=virtio")
    done
    for w in ${VM_ARGS:-} ${DL_VM_ARGS:-}; do args+=" dl.arg=$w"; done
    [ "${DL_VM_KERNEL_LOG:-0}" = 1 ] && args+=" dl.arg=kernel-log"
    VM_BOOTS=$((VM_BOOTS + 1))
    VM_CONSOLE=$VM_TMP/console.$VM_BOOTS.log
    # no_timer_check: on a loaded host the kernel's check of the IO-APIC timer
    # under TCG can fail ("MP-BIOS bug: 8254 timer not connected") and the
    # guest then sat idle with no timer; cloud images boot with it too.
    qemu-system-x86_64 -accel tcg -m 512M -smp 1 -nodefaults -display none \
        -no-reboot -monitor none -serial "file:$VM_CONSOLE" \
        -kernel "$VM_KERNEL" -initrd "$VM_INITRD" \
        -append "console=ttyS0 quiet panic=-1 no_timer_check dl.run=$script dl.disks=$#$args" \
        "${drives[@]}" </dev/null >"$VM_TMP/qemu.$VM_BOOTS.log" 2>&1 &
    VM_PID=$!
    deadline=$((SECONDS + timeout))
    while kill -0 "$VM_PID" 2>/dev/null; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            kill -KILL "$VM_PID"
            wait "$VM_PID" 2>/dev/null
            VM_PID=
            vm_die "VM boot $VM_BOOTS ($script) still running after ${timeout}s"
        fi
        sleep 0.2
    done
    wait "$VM_PID"
    VM_PID=
    echo "boot $VM_BOOTS ($script): VM ended after $((SECONDS - deadline + timeout))s"
}

vm_show_console() {
    [ -n "$VM_CONSOLE" ] && [ -f "$VM_CONSOLE" ] || return 0
    echo "---- console of boot $VM_BOOTS (last 60 lines) ----"
    tail -n 60 "$VM_CONSOLE" | tr -d '\r'
    echo "----"
}

# vm_expect_pass: the guest script of the last boot printed DLVM-RESULT: PASS.
vm_expect_pass() {
    grep -a -q 'DLVM-RESULT: PASS' "$VM_CONSOLE" ||
        vm_die "boot $VM_BOOTS: no PASS from the guest"
}

# vm_value KEY: the value the guest reported with dlvm_value KEY (last one).
vm_value() {
    tr -d '\r' < "$VM_CONSOLE" | sed -n "s/^.*DLVM-VALUE $1=//p" | tail -n 1
}

# vm_expect_powerloss: the last boot ended in the guest's power loss.
vm_expect_powerloss() {
    grep -a -q 'DLVM-POWERLOSS' "$VM_CONSOLE" && ! grep -a -q 'DLVM-RESULT' "$VM_CONSOLE" ||
        vm_die "boot $VM_BOOTS: no power loss"
}

# vm_dump IMAGE: the regions `dirtylog dump` lists in disk image IMAGE, one
# line, space separated.
vm_dump() {
    "$DL_DIRTYLOG" dump "$VM_TMP/$1.img" | tr '\n' ' ' | sed 's/ $//'
}

# vm_differing_regions A B REGION_BYTES: the regions in which images A and B
# differ, one line, space separated.
vm_differing_regions() {
    cmp -l "$VM_TMP/$1.img" "$VM_TMP/$2.img" |
        awk -v rb="$3" '{ r = int(($1 - 1) / rb); if (r != last) printf "%s%d", sep, r; last = r; sep = " " }
                        BEGIN { last = -1 }'
}
