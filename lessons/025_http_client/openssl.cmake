# Lesson 025's extra build rule: OpenSSL (Debian: libssl-dev, which ./tutorial installs), for
# asio::ssl's https, linked into this lesson only. Without it, configuring stops here with what
# to install.
find_package(OpenSSL)
if(NOT OPENSSL_FOUND)
  message(FATAL_ERROR "lesson 025 needs OpenSSL for https and did not find it: "
                      "apt-get install libssl-dev (./tutorial installs it)")
endif()
target_link_libraries(${name}_core PUBLIC OpenSSL::SSL OpenSSL::Crypto)
