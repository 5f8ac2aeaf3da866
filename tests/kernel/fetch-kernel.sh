#!/bin/sh
# fetch-kernel.sh [DIR]: fetch Debian's cloud kernel for the VM tests and unpack
# it into DIR (default $DL_VM_DIR or /var/cache/dirtylog-vm). The package is only
# downloaded and unpacked (apt-get download, dpkg-deb -x), never installed.
# Layout: DIR/<package>/{boot,lib/modules}, DIR/current -> <package>.
set -eu
dir=${1:-${DL_VM_DIR:-/var/cache/dirtylog-vm}}

# The metapackage names the versioned image package it depends on.
pkg=$(apt-cache depends linux-image-cloud-amd64 |
      sed -n 's/^ *Depends: *\(linux-image-[0-9][^ ]*\).*$/\1/p' | head -n 1)
if [ -z "$pkg" ]; then
    echo "fetch-kernel: apt-cache knows no linux-image-cloud-amd64 (run apt-get update)" >&2
    exit 1
fi
mkdir -p "$dir"
if [ -e "$dir/$pkg/.complete" ]; then
    ln -sfn "$pkg" "$dir/current"
    echo "fetch-kernel: $pkg already in $dir"
    exit 0
fi

work=$(mktemp -d "$dir/.fetch.XXXXXX")
trap 'rm -rf "$work"' EXIT
# apt-get download writes into the current directory.
(cd "$work" && apt-get download "$pkg")
mkdir "$work/root"
dpkg-deb -x "$work"/*.deb "$work/root"
ls "$work"/root/boot/vmlinuz-* >/dev/null
touch "$work/root/.complete"
rm -rf "${dir:?}/$pkg"
mv "$work/root" "$dir/$pkg"
ln -sfn "$pkg" "$dir/current"
echo "fetch-kernel: $pkg unpacked in $dir/$pkg"
