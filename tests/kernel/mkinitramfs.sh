#!/bin/sh
# mkinitramfs.sh OUT KROOT GUESTDIR PROGRAM...
# Build the test VM's initramfs (an uncompressed newc cpio) into OUT:
#  - GUESTDIR/init as /init and every GUESTDIR/*.sh under /dlvm/,
#  - busybox (its applets installed by /init) and each PROGRAM in /bin, each
#    with the shared libraries ldd names, at their own paths,
#  - the kernel modules the tests need from KROOT (an unpacked kernel package,
#    see fetch-kernel.sh) with everything they depend on, in /lib/dlvm-modules,
#    and their load order (dependencies first) in /dlvm/modules.
set -eu
[ $# -ge 3 ] || { echo "usage: $0 OUT KROOT GUESTDIR PROGRAM..." >&2; exit 2; }
out=$1 kroot=$2 guest=$3
shift 3

modroot=$(ls -d "$kroot"/lib/modules/*/kernel | head -n 1)
[ -d "$modroot" ] || { echo "mkinitramfs: no modules under $kroot" >&2; exit 1; }
root=$(mktemp -d "${TMPDIR:-/tmp}/dlvm-root.XXXXXX")
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/bin" "$root/dev" "$root/proc" "$root/sys" "$root/tmp" "$root/run" \
         "$root/dlvm" "$root/lib/dlvm-modules"

# A program and the shared libraries it loads (none for a static one).
copy_program() {
    cp -L "$1" "$root/bin/"
    ldd "$1" 2>/dev/null | sed -n 's/^.*[[:space:]]\(\/[^ ]*\) (0x.*$/\1/p' |
    while read -r lib; do
        mkdir -p "$root${lib%/*}"
        cp -L "$lib" "$root$lib"
    done
}
bb=$(command -v busybox)
copy_program "$bb"
for p in "$@"; do copy_program "$p"; done

# Kernel modules. The package carries no modules.dep (depmod makes it at install
# time); each module's own modinfo "depends=" line is the same information.
find_module() {  # basename (dashes as in the file name) -> path
    find "$modroot" -name "$1.ko" -o -name "$1.ko.xz" -o -name "$1.ko.zst" | head -n 1
}
depends_of() {
    tr '\0' '\n' < "$1" | sed -n 's/^depends=//p' | tail -n 1 | tr ',' ' '
}
order=$root/dlvm/modules
: > "$order"
add_module() {
    grep -qx "$1" "$order" && return 0
    path=$(find_module "$1")
    [ -n "$path" ] || { echo "mkinitramfs: module $1 not found" >&2; exit 1; }
    dst=$root/lib/dlvm-modules/$1.ko
    case $path in  # busybox insmod takes plain .ko files
        *.xz) xz -dc "$path" > "$dst" ;;
        *.zst) zstd -qdc "$path" > "$dst" ;;
        *) cp "$path" "$dst" ;;
    esac
    for dep in $(depends_of "$dst"); do add_module "$dep"; done
    echo "$1" >> "$order"
}
for m in virtio_pci virtio_blk dm-mod dm-log dm-region-hash dm-mirror \
         dm-log-userspace dm-delay dm-flakey; do
    add_module "$m"
done

cp "$guest/init" "$root/init"
chmod 755 "$root/init"
cp "$guest"/*.sh "$root/dlvm/"
(cd "$root" && find . | busybox cpio -o -H newc 2>/dev/null) > "$out.tmp"
mv "$out.tmp" "$out"
