# Lesson 012's tests also run the lesson's own program (`012_streams --serve`, `--connect`)
# as child processes, the way a learner does: signals, stdout, stdin's file status flags and
# two processes on one connection only show there. They find it through this path.
target_compile_definitions(test_${name} PRIVATE LESSON_PROGRAM="$<TARGET_FILE:${name}>")
add_dependencies(test_${name} ${name})
