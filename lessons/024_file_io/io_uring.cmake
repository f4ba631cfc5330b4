# Lesson 024's io_uring backend: 024_file_io_uring, a program of its own because
# ASIO_HAS_IO_URING changes Asio for the whole program (asio::stream_file exists only with it).
# Built when liburing is installed (Debian: liburing-dev, which ./tutorial installs); without
# it the lesson and its thread-pool backend work, and the io_uring tests skip (CI, which sets
# TUTORIAL_NO_SKIP, fails instead).
find_library(LIBURING_LIBRARY uring)
find_path(LIBURING_INCLUDE_DIR liburing.h)
if(LIBURING_LIBRARY AND LIBURING_INCLUDE_DIR)
  set(uring_target 024_file_io_uring)
  add_executable(${uring_target} "${CMAKE_CURRENT_LIST_DIR}/io_uring/copy_uring.cpp"
                                 "${CMAKE_CURRENT_LIST_DIR}/file_io_how_it_is_built.cpp")
  target_compile_definitions(${uring_target} PRIVATE ASIO_HAS_IO_URING LESSON024_NO_POOL)
  target_include_directories(${uring_target} PRIVATE "${CMAKE_CURRENT_LIST_DIR}"
                                                     "${PROJECT_SOURCE_DIR}/common"
                                                     "${LIBURING_INCLUDE_DIR}")
  target_link_libraries(${uring_target} PRIVATE tutorial_options "${LIBURING_LIBRARY}")
  # Building the lesson (or its tests, which run it as a child process) builds it too.
  add_dependencies(024_file_io ${uring_target})
  add_dependencies(test_024_file_io ${uring_target})
else()
  message(STATUS "liburing not found: 024_file_io_uring (lesson 024's io_uring backend) is not built")
endif()
# The tests run the lesson program too (as a child process without file permissions).
add_dependencies(test_024_file_io 024_file_io)
