# Lesson 012's tests also run the lesson's own program (`012_streams --serve`) as a child
# process, the way a learner does, because that mode runs its io_context with a different
# concurrency hint than the tests' servers. They find it through this path.
target_compile_definitions(test_${name} PRIVATE LESSON_PROGRAM="$<TARGET_FILE:${name}>")
add_dependencies(test_${name} ${name})
