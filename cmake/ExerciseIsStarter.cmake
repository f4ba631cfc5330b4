# Each exercise's exercise.cpp is the learner's copy, not in git: exercises/CMakeLists.txt makes
# it from starter/exercise.cpp (the file CI proves fails its tests, and the one `./tutorial
# exercise reset` restores) when it is missing. On a fresh clone it must be that starter. A
# learner's edited file is their work, not a defect: the test is then reported skipped, except
# under TUTORIAL_NO_SKIP (CI), where it fails. Inputs: -DEXERCISE=<exercise.cpp> -DSTARTER=<starter>.
execute_process(COMMAND ${CMAKE_COMMAND} -E compare_files "${EXERCISE}" "${STARTER}"
                RESULT_VARIABLE differ)
if(differ)
  if(NOT "$ENV{TUTORIAL_NO_SKIP}" STREQUAL "" AND NOT "$ENV{TUTORIAL_NO_SKIP}" STREQUAL "0")
    message(FATAL_ERROR "${EXERCISE} differs from ${STARTER}: in the repository the learner's "
                        "file must be the starter (TUTORIAL_NO_SKIP is set)")
  endif()
  message("TUTORIAL_SKIPPED: ${EXERCISE} has been edited (your work); CI checks it is the starter")
endif()
