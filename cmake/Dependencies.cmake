# Every dependency is found on the system, never downloaded (see README "Dependencies").

find_package(Threads REQUIRED)
find_package(fmt REQUIRED)

# Standalone Asio ships no CMake package: find its header and describe it as a target.
find_path(ASIO_INCLUDE_DIR asio.hpp PATH_SUFFIXES include)
if(NOT ASIO_INCLUDE_DIR)
  message(FATAL_ERROR "Standalone Asio not found (asio.hpp). Install it: apt-get install libasio-dev")
endif()
file(STRINGS "${ASIO_INCLUDE_DIR}/asio/version.hpp" _asio_version_line REGEX "#define ASIO_VERSION ")
string(REGEX MATCH "[0-9]+" ASIO_VERSION_NUMBER "${_asio_version_line}")
message(STATUS "Standalone Asio ${ASIO_VERSION_NUMBER} in ${ASIO_INCLUDE_DIR}")
add_library(asio INTERFACE)
add_library(asio::asio ALIAS asio)
target_include_directories(asio SYSTEM INTERFACE "${ASIO_INCLUDE_DIR}")
target_compile_definitions(asio INTERFACE ASIO_STANDALONE ASIO_NO_DEPRECATED)
target_link_libraries(asio INTERFACE Threads::Threads)
if(TUTORIAL_HANDLER_TRACKING)
  target_compile_definitions(asio INTERFACE ASIO_ENABLE_HANDLER_TRACKING)
endif()

# Catch2 v2 (Debian 12) or v3 (newer distributions); common/test_support.hpp hides the difference.
find_package(Catch2 3 QUIET)
if(Catch2_FOUND)
  set(TUTORIAL_CATCH2_MAJOR 3)
else()
  find_package(Catch2 2 REQUIRED)
  set(TUTORIAL_CATCH2_MAJOR 2)
endif()
message(STATUS "Catch2 v${TUTORIAL_CATCH2_MAJOR}")
include(Catch)
