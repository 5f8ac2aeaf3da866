#!/bin/bash
# The nbdkit plugin was built (nbdkit's headers were found): it is a shared
# object that defines nbdkit's entry point, plugin_init.
# usage: check_plugin_built.sh <nbdkit-dlmirror-plugin.so> <nm>
set -euo pipefail
plugin=$1 nm=$2
[ -f "$plugin" ] || { echo "FAIL: $plugin was not built"; exit 1; }
"$nm" -D --defined-only "$plugin" | grep -qE ' T plugin_init$' ||
    { echo "FAIL: $plugin does not export plugin_init"; exit 1; }
echo "ok: nbdkit plugin built: $plugin"
