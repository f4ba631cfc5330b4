# Runs an exercise's *starter* test program (exercises/CMakeLists.txt) and passes only if it
# fails cleanly: it ran, and Catch2 reported at least one failed test case. A starter that
# passes its tests is a defect (the test does not test the exercise); a starter that crashes
# or hangs is one too (the learner would see a crash or a hang, not what was expected and what
# happened). Inputs: -DPROGRAM=<test program>.
#   cmake -DPROGRAM=build/dev/bin/exercise_006_1_starter -P cmake/ExpectTestFailure.cmake
if(NOT PROGRAM)
  message(FATAL_ERROR "usage: cmake -DPROGRAM=<starter test program> -P ExpectTestFailure.cmake")
endif()
execute_process(COMMAND "${PROGRAM}" --warn NoTests
                RESULT_VARIABLE result OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 50)
set(report "---- what the starter's tests printed (exit: ${result}) ----\n${out}${err}")
if(NOT result MATCHES "^[0-9]+$")
  message(FATAL_ERROR "${report}\nThe starter did not fail cleanly: '${result}' (a crash, a "
                      "signal or the 50 s limit). Its tests must fail with an answer, bounded.")
endif()
if(result EQUAL 0)
  message(FATAL_ERROR "${report}\nThe starter PASSES its tests: the tests do not check the "
                      "exercise (a test that passes on the starter is a defect).")
endif()
if("${out}${err}" MATCHES "Sanitizer")
  message(FATAL_ERROR "${report}\nA sanitizer reported an error in the starter: its failure "
                      "must be a wrong answer or a timeout, not undefined behaviour.")
endif()
if(NOT out MATCHES "test cases?: [^\n]*failed")
  message(FATAL_ERROR "${report}\nExit ${result}, but Catch2 reported no failed test case.")
endif()
string(REGEX MATCH "test cases?: [^\n]*" summary "${out}")
message(STATUS "the starter fails as it should: ${summary}")
