# x86_64 with musl libc through Debian's musl-gcc (musl-tools); runs natively.
#   cmake -S . -B build-musl --toolchain cmake/toolchains/x86_64-linux-musl.cmake
#   ctest --test-dir build-musl
set(CMAKE_C_COMPILER musl-gcc)
# musl's headers and libraries only: the host's glibc-built extras (nbdkit's
# plugin header: the plugin would be loaded into a glibc nbdkit) are not found.
set(CMAKE_FIND_ROOT_PATH /usr/lib/x86_64-linux-musl)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
