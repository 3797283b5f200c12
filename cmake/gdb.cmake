# cmake/gdb.cmake — tools/gdb/goc-gdb.py, goroutines in gdb (`info
# goroutines`, `goroutine 7 bt`), included at the end of CMakeLists.txt.
#
# gdb auto-loads <objfile>-gdb.py for an object file, where <objfile> is
# the file's real path (symlinks followed: libgoc.so.<version>), first
# beside it and then under each auto-load scripts directory
# (<gdb datadir>/auto-load by default) followed by that absolute path.
#   - build tree: copied beside libgoc.so.<version>, so a program linked
#     with the build's libgoc.so gets it (gdb must trust the directory:
#     `set auto-load safe-path /` or add-auto-load-safe-path);
#   - install: <datadir>/gdb/auto-load/<libdir>/libgoc.so.<version>-gdb.py,
#     as libstdc++ installs its printers: with PREFIX=/usr that is in
#     Debian's gdb's default (and trusted) search path; other prefixes
#     need add-auto-load-scripts-directory <prefix>/share/gdb/auto-load;
#   - also <datadir>/goc/goc-gdb.py, for programs linked with libgoc.a,
#     which have to `source` it.
include(GNUInstallDirs)

set(GOC_GDB_SCRIPT ${CMAKE_CURRENT_SOURCE_DIR}/tools/gdb/goc-gdb.py)
set(GOC_GDB_SCRIPT_NAME libgoc.so.${PROJECT_VERSION}-gdb.py)

# A copy is cheap: refresh it on every build, so an edited script is
# picked up even when libgoc.so does not relink.
add_custom_target(goc_gdb_script ALL
  COMMAND ${CMAKE_COMMAND} -E copy_if_different ${GOC_GDB_SCRIPT}
          $<TARGET_FILE:goc_shared>-gdb.py
  DEPENDS ${GOC_GDB_SCRIPT}
  COMMENT "gdb script beside libgoc.so.${PROJECT_VERSION}"
  VERBATIM)
add_dependencies(goc_gdb_script goc_shared)

# The auto-load path embeds the absolute libdir, computed at install time
# so that `cmake --install --prefix P` (make install PREFIX=P) names P's
# libdir, not the one configured. file(INSTALL) honours DESTDIR.
install(CODE "
  set(_goc_libdir \"${CMAKE_INSTALL_LIBDIR}\")
  if(NOT IS_ABSOLUTE \"\${_goc_libdir}\")
    set(_goc_libdir \"\${CMAKE_INSTALL_PREFIX}/\${_goc_libdir}\")
  endif()
  set(_goc_datadir \"${CMAKE_INSTALL_DATADIR}\")
  if(NOT IS_ABSOLUTE \"\${_goc_datadir}\")
    set(_goc_datadir \"\${CMAKE_INSTALL_PREFIX}/\${_goc_datadir}\")
  endif()
  file(INSTALL DESTINATION \"\${_goc_datadir}/gdb/auto-load\${_goc_libdir}\"
       TYPE FILE RENAME \"${GOC_GDB_SCRIPT_NAME}\" FILES \"${GOC_GDB_SCRIPT}\")
")
install(FILES ${GOC_GDB_SCRIPT} DESTINATION ${CMAKE_INSTALL_DATADIR}/goc)

# tests/runtime/test_gdb.c also checks the auto-load from the build tree,
# with helper_gdb linked against libgoc.so (tests/CMakeLists.txt links the
# helpers with libgoc.a).
if(GOC_TESTS AND TARGET helper_gdb)
  add_executable(helper_gdb_shared tests/runtime/helper_gdb.c)
  target_link_libraries(helper_gdb_shared PRIVATE goc_shared)
  get_target_property(_goc_helper_dir helper_gdb BINARY_DIR)
  set_target_properties(helper_gdb_shared PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${_goc_helper_dir})
  add_dependencies(helper_gdb_shared goc_gdb_script)
  if(TARGET test_gdb)
    add_dependencies(test_gdb helper_gdb_shared helper_gdb)
  endif()
endif()
