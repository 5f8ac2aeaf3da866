# Sourced by the nbdkit tests, with $plugin (the .so) and $cc (the C compiler)
# set. A plugin built with a sanitizer is loaded by an uninstrumented nbdkit:
# the sanitizer runtime is preloaded into nbdkit (this exports it as
# DL_NBDKIT_PRELOAD; the test sets LD_PRELOAD for nbdkit only), and nbdkit's
# own leaks at exit are not checked (detect_leaks=0 for that process only).
# Memory errors and races in the plugin are still reported. Exits 77
# (skipped, with the reason) when nbdkit cannot load the plugin.
preload=
# gcc links the runtime into the plugin: preload the same files.
for lib in $(ldd "$plugin" 2>/dev/null | awk '/lib(asan|ubsan|tsan)\.so/ { print $3 }'); do
    preload=${preload:+$preload:}$lib
done
# clang leaves the runtime out of shared objects: find its shared runtime.
if [ -z "$preload" ]; then
    undef=$(nm -D --undefined-only "$plugin" 2>/dev/null)
    if grep -q __tsan_init <<<"$undef"; then
        # The shared TSan runtime cannot be preloaded into an uninstrumented
        # program (nbdkit crashes at start). The layer's threading is covered
        # by tests/rh under TSan; the nbdkit tests run in the plain and ASan builds.
        echo "SKIP: a ThreadSanitizer plugin cannot be loaded by an uninstrumented nbdkit"
        exit 77
    fi
    for san in asan ubsan_standalone; do
        sym=__${san%_standalone}_
        [ "$san" = ubsan_standalone ] && sym=__ubsan_handle
        if grep -q "$sym" <<<"$undef"; then
            rt=$("$cc" -print-file-name="libclang_rt.$san-$(uname -m).so" 2>/dev/null)
            if [ ! -f "$rt" ]; then
                echo "SKIP: the plugin needs the $san runtime and $cc has no shared one ($rt)"
                exit 77
            fi
            preload=${preload:+$preload:}$rt
            break # one runtime (asan includes ubsan's handlers)
        fi
    done
fi
if [ -n "$preload" ]; then
    echo "sanitizer build: nbdkit runs with LD_PRELOAD=$preload"
    export DL_NBDKIT_PRELOAD=$preload
fi
