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

# The Linux UAPI headers (<linux/openat2.h> in dirtylogd) are libc-independent
# but Debian's musl-gcc does not see them: expose just linux/, asm/ and
# asm-generic/ from the system's linux-libc-dev, after musl's own headers.
set(_dl_kernel_headers ${CMAKE_BINARY_DIR}/musl-kernel-headers)
file(MAKE_DIRECTORY ${_dl_kernel_headers})
foreach(_dl_pair linux=/usr/include/linux asm-generic=/usr/include/asm-generic
                 asm=/usr/include/x86_64-linux-gnu/asm)
  string(REPLACE "=" ";" _dl_pair ${_dl_pair})
  list(GET _dl_pair 0 _dl_name)
  list(GET _dl_pair 1 _dl_target)
  if(NOT EXISTS ${_dl_kernel_headers}/${_dl_name})
    file(CREATE_LINK ${_dl_target} ${_dl_kernel_headers}/${_dl_name} SYMBOLIC)
  endif()
endforeach()
set(CMAKE_C_STANDARD_INCLUDE_DIRECTORIES ${_dl_kernel_headers})

# pkg-config too: only musl's .pc files, never the host's glibc-built ones
# (libcpg for the cluster mode).
set(ENV{PKG_CONFIG_LIBDIR} /usr/lib/x86_64-linux-musl/pkgconfig)
set(ENV{PKG_CONFIG_PATH} "")
