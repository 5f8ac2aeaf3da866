#!/bin/bash
# Wrapper of the NBD integration test: skip visibly (exit 77) when a tool is
# missing. usage: test_nbd_mirror.sh <plugin.so> <dlmirror>
here=$(cd "$(dirname "$0")" && pwd)
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
exec /usr/bin/python3 "$here/test_nbd_mirror.py" "$@"
