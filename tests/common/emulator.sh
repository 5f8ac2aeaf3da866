# Sourced by the test scripts. Under cross-architecture emulation
# (DL_TEST_EMULATOR, e.g. "qemu-s390x -L /usr/s390x-linux-gnu", set by
# .ci/cross) the project's own programs must run through the emulator.
#
# emulated <dir> <program>: prints what to run in place of <program>: the
# program itself, or (under emulation) a wrapper script written into <dir>
# that runs it through $DL_TEST_EMULATOR. A path either way, so it works as
# "$X" args, with timeout, in the background...
emulated() {
    if [ -z "${DL_TEST_EMULATOR:-}" ]; then
        printf '%s\n' "$2"
        return
    fi
    mkdir -p "$1/.emulated"
    local wrapper
    wrapper="$1/.emulated/$(basename "$2")"
    printf '#!/bin/sh\nexec %s "%s" "$@"\n' "$DL_TEST_EMULATOR" "$2" >"$wrapper"
    chmod +x "$wrapper"
    printf '%s\n' "$wrapper"
}
