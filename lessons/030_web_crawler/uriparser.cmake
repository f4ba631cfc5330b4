# Project 030's extra build rule: Debian's liburiparser (liburiparser-dev, which ./tutorial
# installs) resolves the links a page holds, the RFC 3986 way. Without it, configuring stops
# here with what to install.
find_package(uriparser CONFIG QUIET)
if(TARGET uriparser::uriparser)
  target_link_libraries(${name}_core PUBLIC uriparser::uriparser)
else()
  find_path(URIPARSER_INCLUDE_DIR uriparser/Uri.h)
  find_library(URIPARSER_LIBRARY uriparser)
  if(NOT URIPARSER_INCLUDE_DIR OR NOT URIPARSER_LIBRARY)
    message(FATAL_ERROR "project 030 needs liburiparser to resolve links and did not find it: "
                        "apt-get install liburiparser-dev (./tutorial installs it)")
  endif()
  target_include_directories(${name}_core SYSTEM PUBLIC "${URIPARSER_INCLUDE_DIR}")
  target_link_libraries(${name}_core PUBLIC "${URIPARSER_LIBRARY}")
endif()
