# armhf (32-bit ARMv7, little-endian) with Debian's gcc-arm-linux-gnueabihf and
# libc6-dev-armhf-cross; tests run under qemu-arm (qemu-user).
#   cmake -S . -B build-armhf --toolchain cmake/toolchains/arm-linux-gnueabihf.cmake
#   DL_TEST_EMULATOR="qemu-arm -L /usr/arm-linux-gnueabihf" ctest --test-dir build-armhf
set(DL_CROSS_TRIPLE arm-linux-gnueabihf)
set(DL_CROSS_PROCESSOR arm)
set(DL_CROSS_QEMU qemu-arm)
include(${CMAKE_CURRENT_LIST_DIR}/debian-cross.cmake)
