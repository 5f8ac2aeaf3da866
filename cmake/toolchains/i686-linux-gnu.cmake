# i386 (32-bit x86) with Debian's gcc-i686-linux-gnu and libc6-dev-i386-cross.
# No emulator: the binaries run on the x86_64 kernel with libc6-i386 installed
# (qemu-i386 7.2 hangs in pthread_create, so it is not used).
#   cmake -S . -B build-i386 --toolchain cmake/toolchains/i686-linux-gnu.cmake
#   ctest --test-dir build-i386
set(DL_CROSS_TRIPLE i686-linux-gnu)
set(DL_CROSS_PROCESSOR i686)
set(DL_CROSS_QEMU "")
include(${CMAKE_CURRENT_LIST_DIR}/debian-cross.cmake)
# gcc notes that _Atomic 64-bit fields are aligned differently since GCC 11
# (-Wpsabi): only internal structs have them, all built by this one compiler.
set(CMAKE_C_FLAGS_INIT "-Wno-psabi")
