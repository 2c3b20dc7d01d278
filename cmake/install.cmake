# SPDX-License-Identifier: MIT
# cmake/install.cmake - what `cmake --install` puts where.
#
# Installed: the shared library (libweft.so.<version>, its SONAME link and
# the libweft.so development link), the static library (libweft.a), the
# public headers, the gdb script (share/weft/weft-gdb.py), the license (share/doc/weft/LICENSE; MIT, which weft.pc
# and the CMake package's weft_LICENSE name too), a pkg-config file
# (weft.pc) and a CMake package, so that
# `find_package(weft)` gives the imported targets weft::weft and
# weft::weft_static. Nothing under src/ and no test or benchmark target
# (weft_testlib included) is installed or exported.
#
# Both the pkg-config file and the CMake package locate the install prefix
# relative to their own place on disk, so a tree installed with
# `cmake --install build --prefix DIR` (or moved afterwards) still works.
#
# Included by the top-level CMakeLists.txt after the library targets exist.

option(WEFT_INSTALL "Generate install rules for weft" ${PROJECT_IS_TOP_LEVEL})
if(NOT WEFT_INSTALL)
  return()
endif()

set(WEFT_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/weft"
  CACHE STRING "Where the CMake package files go, relative to the prefix")
set(WEFT_INSTALL_PKGCONFIGDIR "${CMAKE_INSTALL_LIBDIR}/pkgconfig"
  CACHE STRING "Where weft.pc goes, relative to the prefix")

# ---- libraries and headers ---------------------------------------------------
install(TARGETS weft weft_static
  EXPORT weftTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
    COMPONENT runtime NAMELINK_COMPONENT development
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT development
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT runtime)

install(FILES ${PROJECT_SOURCE_DIR}/include/weft.h
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT development)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/weft
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT development
  FILES_MATCHING PATTERN "*.h")

install(FILES ${PROJECT_SOURCE_DIR}/LICENSE
  DESTINATION ${CMAKE_INSTALL_DOCDIR} COMPONENT runtime)

# The gdb commands weft-fibers and weft-bt: (gdb) source <prefix>/share/weft/weft-gdb.py
install(FILES ${PROJECT_SOURCE_DIR}/tools/weft-gdb.py
  DESTINATION ${CMAKE_INSTALL_DATADIR}/weft COMPONENT development)

# ---- CMake package -------------------------------------------------------------
install(EXPORT weftTargets
  NAMESPACE weft::
  FILE weftTargets.cmake
  DESTINATION ${WEFT_INSTALL_CMAKEDIR}
  COMPONENT development)

configure_package_config_file(
  ${PROJECT_SOURCE_DIR}/cmake/weftConfig.cmake.in
  ${PROJECT_BINARY_DIR}/weftConfig.cmake
  INSTALL_DESTINATION ${WEFT_INSTALL_CMAKEDIR})

# While the major version is 0 a minor release may change the API, so only
# the same major.minor is declared compatible.
write_basic_package_version_file(
  ${PROJECT_BINARY_DIR}/weftConfigVersion.cmake
  VERSION ${PROJECT_VERSION}
  COMPATIBILITY SameMinorVersion)

install(FILES
  ${PROJECT_BINARY_DIR}/weftConfig.cmake
  ${PROJECT_BINARY_DIR}/weftConfigVersion.cmake
  DESTINATION ${WEFT_INSTALL_CMAKEDIR}
  COMPONENT development)

# ---- pkg-config ----------------------------------------------------------------
# With relative install directories the prefix is written relative to the
# .pc file's own folder (${pcfiledir}); absolute ones are written as given.
if(IS_ABSOLUTE "${WEFT_INSTALL_PKGCONFIGDIR}")
  set(WEFT_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
else()
  set(pc_abs "/weft-prefix/${WEFT_INSTALL_PKGCONFIGDIR}")
  file(RELATIVE_PATH pc_up "${pc_abs}" "/weft-prefix")
  string(REGEX REPLACE "/$" "" pc_up "${pc_up}")
  set(WEFT_PC_PREFIX "\${pcfiledir}/${pc_up}")
endif()
foreach(d LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${d}}")
    set(WEFT_PC_${d} "${CMAKE_INSTALL_${d}}")
  else()
    set(WEFT_PC_${d} "\${prefix}/${CMAKE_INSTALL_${d}}")
  endif()
endforeach()

configure_file(${PROJECT_SOURCE_DIR}/cmake/weft.pc.in
  ${PROJECT_BINARY_DIR}/weft.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/weft.pc
  DESTINATION ${WEFT_INSTALL_PKGCONFIGDIR}
  COMPONENT development)
