# The output check: runs PROGRAM with no arguments and compares what it prints on stdout
# with EXPECTED (the lesson's expected_output.txt), line by line. It must exit 0.
#
# The one normalisation rule: in expected_output.txt, `{anything}` (braces and the words
# between them) matches any text on that line, e.g. `listening on 127.0.0.1:{port}` or
# `{n} round trips/s`. Everything else must match exactly. Durations need no rule: the
# demo logger rounds them down to 0.1 s (see common/log.hpp).
cmake_minimum_required(VERSION 3.22)  # CMP0007: keep empty lines as list elements

execute_process(COMMAND "${PROGRAM}" RESULT_VARIABLE status
                OUTPUT_VARIABLE actual ERROR_VARIABLE errors TIMEOUT 50)
if(NOT status EQUAL 0)
  message(FATAL_ERROR "${PROGRAM} exited with ${status}\nstdout:\n${actual}\nstderr:\n${errors}")
endif()
file(READ "${EXPECTED}" expected)

# Split into lists of lines; protect ';' which CMake uses as the list separator.
foreach(var actual expected)
  string(REPLACE ";" "<semicolon>" ${var} "${${var}}")
  string(REGEX REPLACE "\n$" "" ${var} "${${var}}")
  string(REPLACE "\n" ";" ${var} "${${var}}")
endforeach()

list(LENGTH actual n_actual)
list(LENGTH expected n_expected)
set(report "")
set(line 0)
while(line LESS n_actual OR line LESS n_expected)
  set(want "<missing line>")
  set(got "<missing line>")
  if(line LESS n_expected)
    list(GET expected ${line} want)
  endif()
  if(line LESS n_actual)
    list(GET actual ${line} got)
  endif()
  # Escape regex specials, then turn each {placeholder} into ".*".
  string(REGEX REPLACE "([][.*+?^$()|\\\\])" "\\\\\\1" pattern "${want}")
  string(REGEX REPLACE "{[^}]*}" ".*" pattern "${pattern}")
  if(NOT got MATCHES "^${pattern}$")
    math(EXPR shown "${line} + 1")
    string(APPEND report "line ${shown}:\n  expected: ${want}\n  actual:   ${got}\n")
  endif()
  math(EXPR line "${line} + 1")
endwhile()

if(report)
  string(REPLACE "<semicolon>" ";" report "${report}")
  message(FATAL_ERROR "Output of ${PROGRAM} differs from ${EXPECTED}:\n${report}")
endif()
