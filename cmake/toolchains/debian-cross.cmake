# Shared part of the cross toolchain files (included by them, not used alone):
# Debian's gcc-<triple> with libc6-dev-<arch>-cross in /usr/<triple>.
# Set before including: DL_CROSS_TRIPLE (e.g. s390x-linux-gnu),
# DL_CROSS_PROCESSOR, and DL_CROSS_QEMU (the qemu-user binary, or empty when
# the binaries run natively, as i386 ones do on an x86_64 kernel).
#
# Tests that run the project's programs from scripts or fixtures (the daemon,
# the tools) must run them through the emulator too: run ctest with
# DL_TEST_EMULATOR set to the same command line (.ci/cross does).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR ${DL_CROSS_PROCESSOR})
set(CMAKE_C_COMPILER ${DL_CROSS_TRIPLE}-gcc)
set(CMAKE_NM ${DL_CROSS_TRIPLE}-nm CACHE FILEPATH "nm for the target")

# Headers and libraries of the target only: the host's optional extras
# (nbdkit's plugin header) are not found, so those parts are not built.
set(CMAKE_FIND_ROOT_PATH /usr/${DL_CROSS_TRIPLE})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

if(DL_CROSS_QEMU)
  # -L: the target's dynamic loader and libc.
  set(CMAKE_CROSSCOMPILING_EMULATOR ${DL_CROSS_QEMU} -L /usr/${DL_CROSS_TRIPLE})
endif()

# pkg-config too: only the target's .pc files (none are installed for these
# triples), never the host's (libcpg for the cluster mode would be found, and
# x86_64 libraries linked into a target binary).
set(ENV{PKG_CONFIG_LIBDIR} /usr/${DL_CROSS_TRIPLE}/lib/pkgconfig)
set(ENV{PKG_CONFIG_PATH} "")
