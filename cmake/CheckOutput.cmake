# The output check: runs PROGRAM with no arguments and compares what it prints on stdout
# with EXPECTED (the lesson's expected_output.txt), line by line. It must exit 0.
#
# The normalisation rule, all of it: in expected_output.txt, `{anything}` (braces and the
# words between them) matches any text on that line, e.g. `listening on 127.0.0.1:{port}` or
# `{n} round trips/s`; and the logger's time stamp at the start of a line (`[ 0.3s]`, see
# common/log.hpp) may be one tick (0.1 s) later than shown, never earlier, because a timer
# never fires early but a loaded machine (a sanitizer build, a busy CI) can make it fire late.
# Everything else must match exactly.
#
# A demonstration's output is shaped by timers, so a machine stalled for 100 ms or more can
# still reorder two lines. The check therefore runs the program up to three times and passes
# on the first run that matches; when none does, it reports every run's differences. A real
# change in what a lesson prints fails all three runs.
cmake_minimum_required(VERSION 3.22)  # CMP0007: keep empty lines as list elements

file(READ "${EXPECTED}" expected)

# Split into a list of lines; protect ';', which CMake uses as the list separator, and '[' and
# ']', since CMake does not split a list inside an unbalanced '[' (one printed '[' would glue
# every later line into one). list_line() gets a line back as printed.
function(split_lines text out)
  string(REPLACE ";" "<semicolon>" text "${text}")
  string(REPLACE "[" "<open-bracket>" text "${text}")
  string(REPLACE "]" "<close-bracket>" text "${text}")
  string(REGEX REPLACE "\n$" "" text "${text}")
  string(REPLACE "\n" ";" text "${text}")
  set(${out} "${text}" PARENT_SCOPE)
endfunction()
split_lines("${expected}" expected)

# Line `index` of a list made by split_lines(), with its brackets back (';' stays protected).
macro(list_line list index out)
  list(GET ${list} ${index} ${out})
  string(REPLACE "<open-bracket>" "[" ${out} "${${out}}")
  string(REPLACE "<close-bracket>" "]" ${out} "${${out}}")
endmacro()

# An expected line as a regular expression: specials escaped, each {placeholder} as ".*".
function(line_pattern text out)
  string(REGEX REPLACE "([][.*+?^$()|\\\\])" "\\\\\\1" pattern "${text}")
  string(REGEX REPLACE "{[^}]*}" ".*" pattern "${pattern}")
  set(${out} "^${pattern}$" PARENT_SCOPE)
endfunction()

# The same expected line with its time stamp one tick later, or "" if it has none.
function(one_tick_later text out)
  set(${out} "" PARENT_SCOPE)
  if(text MATCHES "^\\[ *([0-9]+)\\.([0-9])s\\]")
    math(EXPR tenths "${CMAKE_MATCH_1} * 10 + ${CMAKE_MATCH_2} + 1")
    math(EXPR whole "${tenths} / 10")
    math(EXPR tenth "${tenths} % 10")
    set(stamp "${whole}.${tenth}")
    string(LENGTH "${stamp}" width)
    if(width LESS 4)
      string(PREPEND stamp " ")  # the logger pads the number to 4 characters
    endif()
    string(REGEX REPLACE "^\\[ *[0-9]+\\.[0-9]s\\]" "[${stamp}s]" later "${text}")
    set(${out} "${later}" PARENT_SCOPE)
  endif()
endfunction()

# Compares one run's stdout with the expected lines; sets `report` to the differences, or "".
function(compare actual_text out)
  split_lines("${actual_text}" actual)
  list(LENGTH actual n_actual)
  list(LENGTH expected n_expected)
  set(report "")
  set(line 0)
  while(line LESS n_actual OR line LESS n_expected)
    set(want "<missing line>")
    set(got "<missing line>")
    if(line LESS n_expected)
      list_line(expected ${line} want)
    endif()
    if(line LESS n_actual)
      list_line(actual ${line} got)
    endif()
    line_pattern("${want}" pattern)
    set(matched FALSE)
    if(got MATCHES "${pattern}")
      set(matched TRUE)
    else()
      one_tick_later("${want}" later)
      if(later)
        line_pattern("${later}" pattern)
        if(got MATCHES "${pattern}")
          set(matched TRUE)
        endif()
      endif()
    endif()
    if(NOT matched)
      math(EXPR shown "${line} + 1")
      string(APPEND report "line ${shown}:\n  expected: ${want}\n  actual:   ${got}\n")
    endif()
    math(EXPR line "${line} + 1")
  endwhile()
  set(${out} "${report}" PARENT_SCOPE)
endfunction()

set(all_reports "")
foreach(attempt 1 2 3)
  execute_process(COMMAND "${PROGRAM}" RESULT_VARIABLE status
                  OUTPUT_VARIABLE actual ERROR_VARIABLE errors TIMEOUT 50)
  if(NOT status EQUAL 0)
    set(report "${PROGRAM} exited with ${status}\nstdout:\n${actual}\nstderr:\n${errors}\n")
  else()
    compare("${actual}" report)
  endif()
  if(NOT report)
    if(all_reports)
      message(STATUS "run ${attempt} matched; the runs before it differed (a loaded machine):\n${all_reports}")
    endif()
    return()
  endif()
  string(REPLACE "<semicolon>" ";" report "${report}")
  string(APPEND all_reports "run ${attempt}:\n${report}")
endforeach()
message(FATAL_ERROR "Output of ${PROGRAM} differs from ${EXPECTED} in three runs:\n${all_reports}")
