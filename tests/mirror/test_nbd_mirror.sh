#!/bin/bash
# Wrapper of the NBD integration test: skip visibly (exit 77) when a tool is
# missing. usage: test_nbd_mirror.sh <plugin.so> <dlmirror> [<C compiler>]
#
# A plugin built with a sanitizer is loaded through nbdkit_preload.sh.
here=$(cd "${0%/*}" && pwd)
plugin=$1 cc=${3:-cc}
for tool in nbdkit qemu-io nbdcopy nbdsh; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "SKIP: $tool is not installed (apt-get install nbdkit qemu-utils libnbd-bin python3-libnbd)"
        exit 77
    fi
done
if ! /usr/bin/python3 -c 'import nbd' 2>/dev/null; then
    echo "SKIP: /usr/bin/python3 cannot import nbd (apt-get install python3-libnbd)"
    exit 77
fi

. "$here/nbdkit_preload.sh"
exec /usr/bin/python3 "$here/test_nbd_mirror.py" "$@"
