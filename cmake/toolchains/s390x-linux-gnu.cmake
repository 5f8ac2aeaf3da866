# s390x (64-bit, big-endian) with Debian's gcc-s390x-linux-gnu and
# libc6-dev-s390x-cross; tests run under qemu-s390x (qemu-user).
#   cmake -S . -B build-s390x --toolchain cmake/toolchains/s390x-linux-gnu.cmake
#   DL_TEST_EMULATOR="qemu-s390x -L /usr/s390x-linux-gnu" ctest --test-dir build-s390x
set(DL_CROSS_TRIPLE s390x-linux-gnu)
set(DL_CROSS_PROCESSOR s390x)
set(DL_CROSS_QEMU qemu-s390x)
include(${CMAKE_CURRENT_LIST_DIR}/debian-cross.cmake)
