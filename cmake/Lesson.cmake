# add_lesson(<NNN_topic> PART <basics|sync|io|advanced|patterns|projects> TITLE "<title>" ASYNCIO "<counterpart>"
#            [USES <NNN_other> ...])
#
# One line per lesson in lessons/CMakeLists.txt. For lessons/<NNN_topic>/ it creates:
#   <NNN_topic>_core  the lesson's teaching code (every .cpp but main.cpp), compiled once
#   <NNN_topic>       the lesson program (main.cpp + core), named exactly like its folder
#   test_<NNN_topic>  the Catch2 tests (tests/test_<NNN_topic>*.cpp + core)
# plus whatever a .cmake file in the lesson folder declares (020: an io_uring companion)
# and registers every TEST_CASE as its own CTest test plus one output check, all labelled
# with the lesson number and its part, so `ctest -L 003` and `ctest -L sync` work.
# TITLE and ASYNCIO are read by `./tutorial list` and the README table. USES links the core of
# an earlier lesson whose primitive this one builds on (008_conditions USES 006_locks).

# Compiler options for the tutorial's own code (Asio and fmt are included as system headers).
add_library(tutorial_options INTERFACE)
target_compile_options(tutorial_options INTERFACE -Wall -Wextra -Wpedantic -Wshadow
                       $<$<BOOL:${TUTORIAL_WERROR}>:-Werror>)
target_link_libraries(tutorial_options INTERFACE asio::asio fmt::fmt)

# One precompiled header with Asio and fmt, built once and reused by every lesson target:
# it turns a 5-10 s coroutine translation unit into a few seconds on a 2-core machine.
add_library(tutorial_pch STATIC "${PROJECT_SOURCE_DIR}/common/pch.cpp")
target_link_libraries(tutorial_pch PUBLIC tutorial_options)
target_precompile_headers(tutorial_pch PUBLIC "${PROJECT_SOURCE_DIR}/common/pch.hpp")

function(add_lesson name)
  cmake_parse_arguments(PARSE_ARGV 1 LESSON "" "PART;TITLE;ASYNCIO" "USES")
  if(NOT LESSON_PART OR NOT LESSON_TITLE OR NOT LESSON_ASYNCIO)
    message(FATAL_ERROR "add_lesson(${name}): PART, TITLE and ASYNCIO are required")
  endif()
  set(LESSON_NAME "${name}")
  # A build directory of its own per lesson, so its directory LABELS label every test in it.
  add_subdirectory("${PROJECT_SOURCE_DIR}/cmake/lesson" "${CMAKE_BINARY_DIR}/lessons/${name}")
endfunction()
