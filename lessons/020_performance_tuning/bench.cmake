# Lesson 020's extra build rules (besides io_uring.cmake).
# The benchmark kit (bench/ at the top of the project: a load generator, a C epoll echo server,
# an asyncio echo server and bench/run.sh) is built with lesson 020, whose docs and `--help`
# point at it. Its smoke test carries the label 020, so `ctest -L 020` runs it too.
add_subdirectory("${PROJECT_SOURCE_DIR}/bench" "${CMAKE_BINARY_DIR}/bench")
# The tests run the lesson program as the load generator's child process: build it with them.
add_dependencies(test_${name} ${name})
