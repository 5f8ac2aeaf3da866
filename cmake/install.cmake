# Installing what an operator runs: dlmirror and its nbdkit plugin, the
# systemd units of dirtylogd, and the man pages (man/). Included by the
# top-level CMakeLists.txt after the components, so their targets exist.
# Every destination may be relative (to the install prefix, so that
# `cmake --install --prefix DIR` moves it too) or absolute.

if(TARGET dlmirror)
  install(TARGETS dlmirror RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()

# The nbdkit plugin goes to nbdkit's plugin directory, which pkg-config
# reports as an absolute path (e.g. /usr/lib/x86_64-linux-gnu/nbdkit/plugins).
# A path under /usr is taken relative to the prefix instead: with the prefix
# /usr the plugin lands exactly where nbdkit looks for it (`nbdkit dlmirror`
# finds it by name); with another prefix it lands beneath that prefix (run it
# by its path) and an install never writes outside its prefix.
if(TARGET nbdkit-dlmirror-plugin)
  set(_dl_plugindir "${CMAKE_INSTALL_LIBDIR}/nbdkit/plugins")
  find_package(PkgConfig QUIET)
  if(PKG_CONFIG_FOUND)
    pkg_get_variable(_dl_pc_plugindir nbdkit plugindir)
    if(_dl_pc_plugindir MATCHES "^/usr/(.+)$")
      set(_dl_plugindir "${CMAKE_MATCH_1}")
    elseif(_dl_pc_plugindir)
      set(_dl_plugindir "${_dl_pc_plugindir}")
    endif()
  endif()
  set(DL_NBDKIT_PLUGINDIR "${_dl_plugindir}" CACHE STRING
    "Where the nbdkit plugin is installed (relative: beneath the install prefix)")
  install(TARGETS nbdkit-dlmirror-plugin LIBRARY DESTINATION ${DL_NBDKIT_PLUGINDIR})
endif()

# The systemd units, configured when they are installed (not when the build
# is configured), so that ExecStart names the daemon under the prefix the
# install really uses, --prefix included; DESTDIR is not part of it. Each
# install configures them in a directory of its own: installs into several
# prefixes may run at once (the tests do).
set(DL_SYSTEMD_UNITDIR "lib/systemd/system" CACHE STRING
  "Where the systemd units are installed (relative: beneath the install prefix)")
set(_dl_unitdir "${DL_SYSTEMD_UNITDIR}")
if(NOT IS_ABSOLUTE "${_dl_unitdir}")
  set(_dl_unitdir "\${CMAKE_INSTALL_PREFIX}/${_dl_unitdir}")
endif()
install(CODE "
  set(DL_UNIT_SBINDIR \"${CMAKE_INSTALL_SBINDIR}\")
  if(NOT IS_ABSOLUTE \"\${DL_UNIT_SBINDIR}\")
    set(DL_UNIT_SBINDIR \"\${CMAKE_INSTALL_PREFIX}/\${DL_UNIT_SBINDIR}\")
  endif()
  string(MD5 _dl_where \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}\")
  string(RANDOM LENGTH 8 _dl_tag)
  set(_dl_stage \"${PROJECT_BINARY_DIR}/units-\${_dl_where}-\${_dl_tag}\")
  foreach(unit dirtylogd.service dirtylogd.socket)
    configure_file(\"${PROJECT_SOURCE_DIR}/tools/dirtylogd/\${unit}.in\"
      \"\${_dl_stage}/\${unit}\" @ONLY)
  endforeach()
  file(INSTALL DESTINATION \"${_dl_unitdir}\" TYPE FILE
    FILES \"\${_dl_stage}/dirtylogd.service\" \"\${_dl_stage}/dirtylogd.socket\")
  file(REMOVE_RECURSE \"\${_dl_stage}\")")

# The man pages: built from their scdoc sources when scdoc is found.
add_subdirectory(man)
