# Project 029's extra build rule: a smoke test of its benchmark (bench/chat_bench.sh), a second
# per server with 10 clients, which checks that the load generator, this program and the
# asyncio peer (bench/asyncio_chat.py) still work together. It measures nothing worth keeping.
add_dependencies(test_${name} ${name} chat_load)
add_test(NAME "${name}/bench/chat_bench.sh runs against both servers (10 clients, 1 s)"
         COMMAND ${CMAKE_COMMAND} -E env BIN=$<TARGET_FILE_DIR:${name}>
                 LOAD=$<TARGET_FILE:chat_load> OUT=${CMAKE_CURRENT_BINARY_DIR}/chat-bench CLIENTS=10 DURATION=1 WARMUP=0.2 REPEATS=1
                 bash "${PROJECT_SOURCE_DIR}/bench/chat_bench.sh")
set_tests_properties("${name}/bench/chat_bench.sh runs against both servers (10 clients, 1 s)"
                     PROPERTIES TIMEOUT 120)
