# Lesson 020, section 5: the baseline server on Asio's io_uring backend, a program of its own
# because the backend is chosen at compile time (ASIO_HAS_IO_URING + ASIO_DISABLE_EPOLL would
# clash with the epoll build of the same Asio classes in one program). Built only when
# liburing is installed (Debian: liburing-dev); nothing else in the project depends on it.
find_library(LIBURING_LIBRARY uring)
find_path(LIBURING_INCLUDE_DIR liburing.h)
if(LIBURING_LIBRARY AND LIBURING_INCLUDE_DIR)
  set(uring_target 020_performance_tuning_io_uring)
  add_executable(${uring_target} "${CMAKE_CURRENT_LIST_DIR}/io_uring/echo_uring.cpp")
  target_compile_definitions(${uring_target} PRIVATE ASIO_HAS_IO_URING ASIO_DISABLE_EPOLL)
  target_include_directories(${uring_target} PRIVATE "${CMAKE_CURRENT_LIST_DIR}"
                                                     "${LIBURING_INCLUDE_DIR}")
  target_link_libraries(${uring_target} PRIVATE tutorial_options "${LIBURING_LIBRARY}")
  # Building the lesson builds its io_uring companion, which main.cpp runs if it exists.
  add_dependencies(020_performance_tuning ${uring_target})
else()
  message(STATUS "liburing not found: 020_performance_tuning runs without its io_uring row")
endif()
