# shellcheck shell=bash
# Sourced by the test scripts. Under cross-architecture emulation
# (DL_TEST_EMULATOR, e.g. "qemu-s390x -L /usr/s390x-linux-gnu", set by
# .ci/cross) the project's own programs must run through the emulator.
#
# emulated <program>: prints what to run in place of <program>: the program
# itself, or (under emulation) a wrapper of the same name, in an `emulated`
# directory next to it in the build tree, that runs it through
# $DL_TEST_EMULATOR. A path either way, so it works as "$X" args, with
# timeout, exec, in the background.
emulated() {
    if [ -z "${DL_TEST_EMULATOR:-}" ]; then
        printf '%s\n' "$1"
        return
    fi
    local program dir wrapper
    program="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")" || return 1
    dir="$(dirname "$program")/emulated"
    wrapper="$dir/$(basename "$program")"
    mkdir -p "$dir" || return 1
    # written under a private name, then renamed: tests run in parallel
    printf '#!/bin/sh\nexec %s "%s" "$@"\n' "$DL_TEST_EMULATOR" "$program" >"$wrapper.$$" &&
        chmod +x "$wrapper.$$" && mv -f "$wrapper.$$" "$wrapper" || return 1
    printf '%s\n' "$wrapper"
}
