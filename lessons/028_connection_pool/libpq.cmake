# Lesson 028's extra build rule: libpq, PostgreSQL's C client library, linked into this lesson
# only (Debian: libpq-dev, which ./tutorial installs). Found through pg_config's folders or
# the usual ones; without it, configuring stops here with what to install.
find_program(PG_CONFIG_EXECUTABLE pg_config)
if(PG_CONFIG_EXECUTABLE)
  execute_process(COMMAND "${PG_CONFIG_EXECUTABLE}" --includedir OUTPUT_VARIABLE pg_includedir
                  OUTPUT_STRIP_TRAILING_WHITESPACE)
  execute_process(COMMAND "${PG_CONFIG_EXECUTABLE}" --libdir OUTPUT_VARIABLE pg_libdir
                  OUTPUT_STRIP_TRAILING_WHITESPACE)
endif()
find_path(LIBPQ_INCLUDE_DIR libpq-fe.h HINTS "${pg_includedir}" PATH_SUFFIXES postgresql)
find_library(LIBPQ_LIBRARY pq HINTS "${pg_libdir}")
if(NOT LIBPQ_INCLUDE_DIR OR NOT LIBPQ_LIBRARY)
  message(FATAL_ERROR "lesson 028 needs libpq, PostgreSQL's client library, and did not find "
                      "libpq-fe.h or libpq.so: apt-get install libpq-dev (./tutorial installs it)")
endif()
target_include_directories(${name}_core SYSTEM PUBLIC "${LIBPQ_INCLUDE_DIR}")
target_link_libraries(${name}_core PUBLIC "${LIBPQ_LIBRARY}")
